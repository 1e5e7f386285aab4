//! Credentials checked recently, so a reused token or API key costs a hash
//! lookup instead of a signature check or a database read. Every cache is
//! bounded, a token is kept no longer than its own expiry, and all of them are
//! emptied whenever the settings change: a revoked key or a removed rule stops
//! working on every node within the settings watch's interval
//! ([`crate::settings_watch`]).

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use threadhold_domain::limits::{
    API_KEY_CACHE_ENTRIES, API_KEY_CACHE_SECS, UNKNOWN_API_KEY_CACHE_ENTRIES, UNKNOWN_API_KEY_CACHE_SECS,
    VERIFIED_TOKEN_CACHE_ENTRIES, VERIFIED_TOKEN_CACHE_SECS,
};
use threadhold_domain::model::ApiKey;

use super::Caller;
use crate::cache::BoundedCache;

/// A SHA-256 digest of the addressed project and the whole token: it stands
/// for the token (finding another token with the same digest is infeasible),
/// and keeps each entry small whatever the token's size.
type TokenKey = [u8; 32];

pub struct CredentialCache {
    /// Callers of verified tokens (and the display name they carried), by
    /// [`TokenKey`].
    tokens: BoundedCache<TokenKey, (Caller, Option<String>)>,
    /// API key records by the key's hash.
    api_keys: BoundedCache<String, ApiKey>,
    unknown_api_keys: BoundedCache<String, ()>,
}

impl Default for CredentialCache {
    fn default() -> Self {
        CredentialCache {
            tokens: BoundedCache::new(VERIFIED_TOKEN_CACHE_ENTRIES, Duration::from_secs(VERIFIED_TOKEN_CACHE_SECS)),
            api_keys: BoundedCache::new(API_KEY_CACHE_ENTRIES, Duration::from_secs(API_KEY_CACHE_SECS)),
            unknown_api_keys: BoundedCache::new(
                UNKNOWN_API_KEY_CACHE_ENTRIES,
                Duration::from_secs(UNKNOWN_API_KEY_CACHE_SECS),
            ),
        }
    }
}

/// What the cache knows of an API key hash.
pub enum KnownKey {
    Found(ApiKey),
    Unknown,
    NotCached,
}

impl CredentialCache {
    fn token_key(project_id: &str, token: &str) -> TokenKey {
        // The project id's length first, so no two (project, token) pairs hash the same bytes.
        Sha256::new()
            .chain_update((project_id.len() as u64).to_le_bytes())
            .chain_update(project_id)
            .chain_update(token)
            .finalize()
            .into()
    }

    /// The caller a token proved when it was last verified for this project.
    pub fn token(&self, project_id: &str, token: &str) -> Option<(Caller, Option<String>)> {
        self.tokens.get(&Self::token_key(project_id, token))
    }

    /// Keeps a verified token's caller until the token expires (`exp`, seconds since the epoch).
    pub fn remember_token(
        &self,
        project_id: &str,
        token: &str,
        verified: &(Caller, Option<String>),
        exp: i64,
        now_secs: i64,
    ) {
        let left = u64::try_from(exp.saturating_sub(now_secs)).unwrap_or(0);
        if left > 0 {
            let until = Instant::now() + Duration::from_secs(left);
            self.tokens.insert_until(Self::token_key(project_id, token), verified.clone(), until);
        }
    }

    pub fn api_key(&self, secret_hash: &str) -> KnownKey {
        if let Some(key) = self.api_keys.get(secret_hash) {
            KnownKey::Found(key)
        } else if self.unknown_api_keys.get(secret_hash).is_some() {
            KnownKey::Unknown
        } else {
            KnownKey::NotCached
        }
    }

    pub fn remember_api_key(&self, secret_hash: &str, key: Option<&ApiKey>) {
        match key {
            Some(key) => self.api_keys.insert(secret_hash.to_owned(), key.clone()),
            None => self.unknown_api_keys.insert(secret_hash.to_owned(), ()),
        }
    }

    /// Forgets everything: the settings changed.
    pub fn clear(&self) {
        self.tokens.clear();
        self.api_keys.clear();
        self.unknown_api_keys.clear();
    }
}
