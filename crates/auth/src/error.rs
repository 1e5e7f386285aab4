//! Why a token was refused. Expiry (and not-yet-valid) is 401, so a client can
//! tell "get a new token" from "this token will never work" (403); a key
//! source that cannot be reached is the server's trouble (503).

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VerifyError {
    #[error("The token has expired")]
    Expired,
    #[error("The token is not valid yet")]
    NotYetValid,
    #[error("The token is malformed: {0}")]
    Malformed(&'static str),
    #[error("The token's algorithm is not allowed")]
    AlgorithmNotAllowed,
    #[error("The token uses an unsupported critical header extension")]
    CriticalHeader,
    #[error("The token type is not accepted")]
    WrongType,
    #[error("No auth rule trusts the token's issuer")]
    UnknownIssuer,
    #[error("No key of the issuer matches the token")]
    UnknownKey,
    #[error("The token's signature is invalid")]
    BadSignature,
    #[error("The token lacks the {0} claim, or it has the wrong type")]
    MissingClaim(&'static str),
    #[error("The token's {0} claim is not a valid time (seconds since 1970, before the year 10000)")]
    InvalidTime(&'static str),
    #[error("The token's audience is not accepted")]
    WrongAudience,
    #[error("The token's authorized party is not accepted")]
    WrongAuthorizedParty,
    #[error("The token's lifetime is longer than allowed")]
    LifetimeTooLong,
    #[error("The token does not name a valid workspace or user: {0}")]
    BadPrincipal(String),
    /// The detail (which URL, what failed) is for the log, never for the caller.
    #[error("The issuer's keys could not be fetched; try again later")]
    KeysUnavailable(String),
}

impl VerifyError {
    pub fn status(&self) -> u16 {
        match self {
            VerifyError::Expired | VerifyError::NotYetValid => 401,
            VerifyError::KeysUnavailable(_) => 503,
            _ => 403,
        }
    }

    /// The machine code sent as `error`.
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::Expired => "token_expired",
            VerifyError::NotYetValid => "token_not_yet_valid",
            VerifyError::Malformed(_) => "token_malformed",
            VerifyError::AlgorithmNotAllowed => "token_algorithm_not_allowed",
            VerifyError::CriticalHeader => "token_critical_header",
            VerifyError::WrongType => "token_type_not_accepted",
            VerifyError::UnknownIssuer => "token_issuer_unknown",
            VerifyError::UnknownKey => "token_key_unknown",
            VerifyError::BadSignature => "token_signature_invalid",
            VerifyError::MissingClaim(_) => "token_claim_missing",
            VerifyError::InvalidTime(_) => "token_claim_invalid",
            VerifyError::WrongAudience => "token_audience_invalid",
            VerifyError::WrongAuthorizedParty => "token_azp_invalid",
            VerifyError::LifetimeTooLong => "token_lifetime_too_long",
            VerifyError::BadPrincipal(_) => "token_principal_invalid",
            VerifyError::KeysUnavailable(_) => "jwks_unavailable",
        }
    }
}
