//! Token verification for threadhold: the JWT pipeline every bearer token
//! goes through (provider tokens and threadhold's own), auth rules that say
//! which issuers a project trusts and how their claims map to a workspace, and
//! a JWKS cache that fetches keys safely.
#![forbid(unsafe_code)]

pub mod compact;
pub mod error;
pub mod jwks;
pub mod keys;
pub mod rules;
pub mod ssrf;
pub mod verify;

pub use error::VerifyError;

/// Installs the aws-lc crypto provider for `jsonwebtoken` (idempotent).
pub fn install_crypto_provider() {
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
}
