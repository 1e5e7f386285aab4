//! Backend API keys: `sk_aui_proj_<project>_<secret>`, the hosted service's
//! shape, so the project is readable from the key itself. The secret has 32
//! base62 characters (about 190 bits); only its SHA-256 is stored.

use sha2::{Digest, Sha256};
use threadhold_domain::Millis;
use threadhold_domain::ids::{IdKind, new_id, random_secret, validate_project_id};
use threadhold_domain::model::ApiKey;

pub const API_KEY_PREFIX: &str = "sk_aui_proj_";
const SECRET_CHARS: usize = 32;
/// The characters of the secret shown in listings (its end), as the hosted service shows them.
const DISPLAYED_SUFFIX_CHARS: usize = 4;

/// A newly created key: the record to store and the secret, shown once.
pub struct IssuedKey {
    pub record: ApiKey,
    pub secret: String,
}

pub fn generate(project_id: &str, name: &str, now: Millis, expires_at: Option<Millis>) -> IssuedKey {
    let secret = format!("{API_KEY_PREFIX}{project_id}_{}", random_secret(SECRET_CHARS));
    // Recognisable in listings: the start of the key and its last four characters.
    let display_prefix = format!(
        "{}…{}",
        &secret[..API_KEY_PREFIX.len() + project_id.len() + 1],
        &secret[secret.len() - DISPLAYED_SUFFIX_CHARS..]
    );
    let record = ApiKey {
        id: new_id(IdKind::ApiKey),
        project_id: project_id.to_owned(),
        name: name.to_owned(),
        secret_hash: hash(&secret),
        display_prefix,
        created_at: now,
        expires_at,
        last_used_at: None,
        revoked_at: None,
    };
    IssuedKey { record, secret }
}

/// Hex SHA-256 of the whole key: high-entropy secrets need no slow KDF.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// True when a bearer value is meant as an API key (as opposed to a JWT).
pub fn looks_like_api_key(bearer: &str) -> bool {
    bearer.starts_with(API_KEY_PREFIX)
}

/// The project an API key names, if the key is well-formed.
pub fn project_of(key: &str) -> Option<&str> {
    let (project, secret) = key.strip_prefix(API_KEY_PREFIX)?.rsplit_once('_')?;
    let well_formed = secret.len() == SECRET_CHARS && secret.bytes().all(|b| b.is_ascii_alphanumeric());
    (well_formed && validate_project_id(project).is_ok()).then_some(project)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_back() {
        let issued = generate("acme-2", "ci", 0, None);
        assert!(looks_like_api_key(&issued.secret));
        assert_eq!(project_of(&issued.secret), Some("acme-2"));
        assert_eq!(issued.record.secret_hash, hash(&issued.secret));
        assert_eq!(issued.record.secret_hash.len(), 64);
        assert!(!issued.record.display_prefix.contains(&issued.secret[20..issued.secret.len() - 4]));
        assert!(issued.record.display_prefix.ends_with(&issued.secret[issued.secret.len() - 4..]));
    }

    #[test]
    fn malformed_keys() {
        assert_eq!(project_of("sk_aui_proj_"), None);
        assert_eq!(project_of("sk_aui_proj_default_short"), None);
        assert_eq!(project_of(&format!("sk_aui_proj_Bad_{}", "a".repeat(32))), None);
        assert_eq!(project_of(&format!("sk_aui_proj__{}", "a".repeat(32))), None);
        assert_eq!(project_of(&format!("sk_aui_proj_default_{}", "a".repeat(32))), Some("default"));
    }

    #[test]
    fn keys_differ() {
        assert_ne!(generate("p", "", 0, None).secret, generate("p", "", 0, None).secret);
    }
}
