//! What every handler shares.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use threadhold_store::Store;

use threadhold_domain::now_ms;

use threadhold_auth::jwks::JwksCache;
use threadhold_auth::ssrf::{SystemResolver, UrlGuard};

use crate::auth::credentials::CredentialCache;
use crate::auth::providers::ProviderVerifier;
use crate::error::{ApiError, ApiResult};
use crate::files::{BlobStore, LocalFiles, S3Files};
use crate::{AttachmentBackend, ServerConfig};

/// The server secret that signs local upload and download URLs.
const UPLOAD_SECRET: &str = "attachment-url-key";
use crate::auth::tokens::ProjectKeys;
use crate::projects::ProjectCache;
use crate::rate_limit::RateLimiter;
use crate::service::admins::LoginGuard;
use crate::service::titles::Titles;
use crate::service::users::UserRegistry;

/// What every handler shares, behind one `Arc`: axum clones the state for
/// every extractor of every request.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The parts of [`AppState`].
pub struct Shared {
    pub store: Arc<dyn Store>,
    pub keys: Arc<ProjectKeys>,
    /// Identity-provider tokens: auth rules and their keys.
    pub verifier: Arc<ProviderVerifier>,
    pub config: Arc<ServerConfig>,
    pub projects: Arc<ProjectCache>,
    /// Tokens and API keys checked recently.
    pub credentials: Arc<CredentialCache>,
    pub mint_limiter: Arc<RateLimiter>,
    pub refresh_limiter: Arc<RateLimiter>,
    /// Searches per workspace (`<project>/<workspace>`).
    pub search_limiter: Arc<RateLimiter<String>>,
    /// Where attachment bytes live.
    pub blobs: Arc<dyn BlobStore>,
    /// Set when shutdown begins, so `/readyz` turns away new traffic first.
    pub draining: Arc<AtomicBool>,
    /// The store's local settings epoch the caches were filled under.
    settings_epoch: Arc<AtomicU64>,
    /// Titles written by a model: its client, the projects' settings, the sweep's clock.
    pub titles: Arc<Titles>,
    /// Who the API has seen (written off the request path, throttled).
    pub users: Arc<UserRegistry>,
    /// Failed dashboard logins per account and address.
    pub logins: Arc<LoginGuard>,
}

/// What verifies tokens: the JWKS cache for providers' keys and the projects' own signing keys.
pub struct TokenVerifiers {
    pub jwks: JwksCache,
    pub keys: ProjectKeys,
}

impl TokenVerifiers {
    pub fn new(config: &ServerConfig, store: Arc<dyn Store>) -> ApiResult<Self> {
        threadhold_auth::install_crypto_provider();
        let guard = UrlGuard::new(config.jwks_allow_hosts.clone(), Arc::new(SystemResolver));
        let jwks = JwksCache::new(guard, config.jwks.clone()).map_err(ApiError::Internal)?;
        Ok(TokenVerifiers { jwks, keys: ProjectKeys::new(store, config.token_max_lifetime_secs) })
    }
}

/// Opens the configured attachment storage (the local one signs its URLs with a stored secret).
pub async fn open_blob_store(store: &dyn Store, config: &ServerConfig) -> ApiResult<Arc<dyn BlobStore>> {
    Ok(match &config.attachments {
        AttachmentBackend::Local(root) => {
            let candidate: [u8; 32] = rand::random();
            let secret = store.server_secret(UPLOAD_SECRET, &candidate, now_ms()).await?;
            Arc::new(LocalFiles::new(root.clone(), secret))
        }
        AttachmentBackend::S3(settings) => Arc::new(S3Files::new(settings, config.files.url_ttl)?),
    })
}

impl AppState {
    /// Builds the shared state: loads (or creates) the secrets and opens the attachment storage.
    pub async fn new(store: Arc<dyn Store>, config: ServerConfig) -> ApiResult<Self> {
        threadhold_auth::install_crypto_provider();
        config.check().map_err(ApiError::Internal)?;
        let TokenVerifiers { jwks, keys } = TokenVerifiers::new(&config, Arc::clone(&store))?;
        let blobs = open_blob_store(store.as_ref(), &config).await?;
        let projects = Arc::new(ProjectCache::new(Duration::from_secs(config.project_cache_secs)));
        let store_epoch = store.local_settings_epoch();
        Ok(AppState(Arc::new(Shared {
            projects,
            credentials: Arc::default(),
            blobs,
            mint_limiter: Arc::new(RateLimiter::per_minute(config.anonymous.mints_per_minute)),
            refresh_limiter: Arc::new(RateLimiter::per_minute(config.anonymous.refreshes_per_minute)),
            search_limiter: Arc::new(RateLimiter::per_minute(config.searches_per_minute)),
            keys: Arc::new(keys),
            verifier: Arc::new(ProviderVerifier::new(Arc::clone(&store), jwks, config.auth_rules.clone())),
            store,
            config: Arc::new(config),
            draining: Arc::new(AtomicBool::new(false)),
            settings_epoch: Arc::new(AtomicU64::new(store_epoch)),
            titles: Arc::new(Titles::new().map_err(ApiError::Internal)?),
            users: Arc::new(UserRegistry::default()),
            logins: Arc::new(LoginGuard::default()),
        })))
    }

    /// Empties the caches if this process changed settings through the store
    /// since they were filled (other processes' changes arrive through the
    /// settings watch). One atomic load on the hot path.
    pub fn follow_local_settings(&self) {
        let epoch = self.store.local_settings_epoch();
        if self.settings_epoch.swap(epoch, Ordering::AcqRel) != epoch {
            self.forget_settings();
        }
    }

    /// Empties every cache of settings and credentials: an administrative change was made.
    pub fn forget_settings(&self) {
        self.projects.clear();
        self.verifier.forget_rules();
        self.credentials.clear();
        self.titles.forget_settings();
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }
}
