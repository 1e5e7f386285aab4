//! Tokens threadhold signs itself: short-lived workspace tokens minted for a
//! backend (`POST /v1/auth/tokens`) and anonymous identities' access tokens. Each project has its own Ed25519 key
//! pair, generated on first use and stored; public keys are served as a JWKS.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use threadhold_auth::VerifyError;
use threadhold_auth::compact::Compact;
use threadhold_auth::keys::VerifyKey;
use threadhold_auth::verify::{Policy, numeric_date, verify};
use threadhold_domain::ids::{IdKind, new_id, validate_principal_id};
use threadhold_domain::model::{SigningKey, WorkspaceScope};
use threadhold_domain::now_ms;
use threadhold_store::{Store, StoreError};

use crate::error::ApiError;

const ALGORITHM: &str = "EdDSA";
/// Tokens carry `nbf = iat − 10 s`, so a verifier a little behind still accepts them.
const NOT_BEFORE_SLACK_SECS: i64 = 10;
/// Clock difference tolerated when checking `exp` and `nbf`.
const LEEWAY_SECS: i64 = 5;

/// The `iss` of every token a project signs. Never an `https` URL, so it can
/// never collide with an identity provider's issuer.
pub fn issuer_for(project_id: &str) -> String {
    format!("{ISSUER_PREFIX}{project_id}")
}

/// Issuers starting with this are threadhold's own; provider rules never see them.
pub const ISSUER_PREFIX: &str = "urn:threadhold:";

/// The claims of a workspace token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WorkspaceClaims {
    pub iss: String,
    pub sub: String,
    pub workspace_id: String,
    pub project_id: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    /// The anonymous session behind the token; absent for workspace tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

struct LoadedKey {
    kid: String,
    project_id: String,
    encoding: EncodingKey,
    verifying: Arc<VerifyKey>,
}

impl LoadedKey {
    fn from_record(record: &SigningKey) -> Self {
        LoadedKey {
            kid: record.kid.clone(),
            project_id: record.project_id.clone(),
            encoding: EncodingKey::from_ed_der(&record.private_der),
            verifying: Arc::new(VerifyKey::ed25519(&record.kid, &record.public_raw)),
        }
    }
}

/// The claims of a verified token of ours, each named when it is missing or of the wrong type.
fn workspace_claims(claims: &BTreeMap<String, Value>) -> Result<WorkspaceClaims, VerifyError> {
    let text = |name: &'static str| claims.get(name).and_then(Value::as_str).ok_or(VerifyError::MissingClaim(name));
    let time = |name: &'static str| numeric_date(claims, name)?.ok_or(VerifyError::MissingClaim(name));
    let sid = match claims.get("sid") {
        None | Some(Value::Null) => None,
        Some(Value::String(sid)) => Some(sid.clone()),
        Some(_) => return Err(VerifyError::MissingClaim("sid")),
    };
    Ok(WorkspaceClaims {
        iss: text("iss")?.to_owned(),
        sub: text("sub")?.to_owned(),
        workspace_id: text("workspace_id")?.to_owned(),
        project_id: text("project_id")?.to_owned(),
        iat: time("iat")?,
        nbf: time("nbf")?,
        exp: time("exp")?,
        sid,
    })
}

/// Creates a new signing key for the project and stores it.
pub async fn create_signing_key(store: &dyn Store, project_id: &str) -> Result<SigningKey, StoreError> {
    let key_error = || StoreError::Database("could not generate an Ed25519 key".into());
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| key_error())?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| key_error())?;
    let key = SigningKey {
        kid: new_id(IdKind::SigningKey),
        project_id: project_id.to_owned(),
        algorithm: ALGORITHM.to_owned(),
        private_der: pkcs8.as_ref().to_vec(),
        public_raw: pair.public_key().as_ref().to_vec(),
        created_at: now_ms(),
    };
    store.insert_signing_key(&key).await?;
    Ok(key)
}

/// Signing keys of all projects, loaded from the store on first use and kept.
pub struct ProjectKeys {
    store: Arc<dyn Store>,
    /// Tokens valid for longer than this (from `iat`) are refused, however well signed.
    max_lifetime_secs: i64,
    by_kid: RwLock<HashMap<String, Arc<LoadedKey>>>,
    active: RwLock<HashMap<String, Arc<LoadedKey>>>,
}

impl ProjectKeys {
    pub fn new(store: Arc<dyn Store>, max_lifetime_secs: u64) -> Self {
        let max_lifetime_secs = i64::try_from(max_lifetime_secs).unwrap_or(i64::MAX);
        ProjectKeys { store, max_lifetime_secs, by_kid: RwLock::default(), active: RwLock::default() }
    }

    fn remember(&self, key: LoadedKey) -> Arc<LoadedKey> {
        let key = Arc::new(key);
        if let Ok(mut by_kid) = self.by_kid.write() {
            by_kid.insert(key.kid.clone(), Arc::clone(&key));
        }
        key
    }

    /// The key that signs new tokens for the project, created if it has none.
    async fn active_key(&self, project_id: &str) -> Result<Arc<LoadedKey>, ApiError> {
        if let Some(key) = self.active.read().ok().and_then(|active| active.get(project_id).cloned()) {
            return Ok(key);
        }
        let record = match self.store.signing_keys(project_id).await?.into_iter().next() {
            Some(record) => record,
            None => create_signing_key(self.store.as_ref(), project_id).await?,
        };
        let key = self.remember(LoadedKey::from_record(&record));
        if let Ok(mut active) = self.active.write() {
            active.insert(project_id.to_owned(), Arc::clone(&key));
        }
        Ok(key)
    }

    async fn key_by_kid(&self, kid: &str) -> Result<Option<Arc<LoadedKey>>, ApiError> {
        if let Some(key) = self.by_kid.read().ok().and_then(|by_kid| by_kid.get(kid).cloned()) {
            return Ok(Some(key));
        }
        Ok(self.store.signing_key(kid).await?.map(|record| self.remember(LoadedKey::from_record(&record))))
    }

    /// Signs a token for `user_id` in the scope's workspace, valid for
    /// `ttl_secs`; `session` marks an anonymous identity's access token.
    pub async fn mint(
        &self,
        scope: &WorkspaceScope,
        user_id: &str,
        session: Option<&str>,
        ttl_secs: u64,
    ) -> Result<String, ApiError> {
        let key = self.active_key(&scope.project_id).await?;
        let iat = now_ms() / 1000;
        let claims = WorkspaceClaims {
            iss: issuer_for(&scope.project_id),
            sub: user_id.to_owned(),
            workspace_id: scope.workspace_id.clone(),
            project_id: scope.project_id.clone(),
            iat,
            nbf: iat - NOT_BEFORE_SLACK_SECS,
            exp: iat + i64::try_from(ttl_secs).unwrap_or(i64::MAX / 2),
            sid: session.map(str::to_owned),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, &claims, &key.encoding)
            .map_err(|error| ApiError::Internal(format!("signing a token failed: {error}")))
    }

    /// Verifies a token this server signed (routed here by its `urn:threadhold:`
    /// issuer) through the same pipeline as provider tokens: the key must
    /// belong to the project the issuer names.
    pub async fn verify(&self, token: &Compact<'_>) -> Result<WorkspaceClaims, ApiError> {
        let issuer = token.issuer().unwrap_or_default();
        let project_id = issuer.strip_prefix(ISSUER_PREFIX).ok_or(VerifyError::UnknownIssuer)?;
        let kid = token.kid.as_deref().ok_or(VerifyError::UnknownKey)?;
        let key =
            self.key_by_kid(kid).await?.filter(|key| key.project_id == project_id).ok_or(VerifyError::UnknownKey)?;
        let policy = Policy {
            issuer: issuer.to_owned(),
            algorithms: vec![Algorithm::EdDSA],
            audiences: Vec::new(),
            authorized_parties: Vec::new(),
            skew_secs: LEEWAY_SECS,
            max_lifetime_secs: Some(self.max_lifetime_secs),
            token_type: None,
        };
        let verified = verify(token, std::slice::from_ref(&key.verifying), &policy, now_ms() / 1000)?;
        let claims = workspace_claims(verified.claims)?;
        if claims.project_id != project_id {
            return Err(VerifyError::MissingClaim("project_id").into());
        }
        for id in [&claims.sub, &claims.workspace_id] {
            validate_principal_id(id).map_err(|error| VerifyError::BadPrincipal(error.to_string()))?;
        }
        Ok(claims)
    }

    /// The project's public keys as a JSON Web Key Set.
    pub async fn jwks(&self, project_id: &str) -> Result<Value, ApiError> {
        self.active_key(project_id).await?;
        let keys: Vec<Value> = self
            .store
            .signing_keys(project_id)
            .await?
            .iter()
            .map(|key| {
                json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "alg": key.algorithm,
                    "use": "sig",
                    "kid": key.kid,
                    "x": URL_SAFE_NO_PAD.encode(&key.public_raw),
                })
            })
            .collect();
        Ok(json!({ "keys": keys }))
    }
}
