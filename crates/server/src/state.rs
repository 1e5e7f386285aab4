//! What every handler shares.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use threadhold_store::Store;

use crate::ServerConfig;
use crate::auth::tokens::ProjectKeys;
use crate::projects::ProjectCache;
use crate::rate_limit::RateLimiter;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub keys: Arc<ProjectKeys>,
    pub config: Arc<ServerConfig>,
    pub projects: Arc<ProjectCache>,
    pub mint_limiter: Arc<RateLimiter>,
    pub refresh_limiter: Arc<RateLimiter>,
    /// Set when shutdown begins, so `/readyz` turns away new traffic first.
    pub draining: Arc<AtomicBool>,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, config: ServerConfig) -> Self {
        AppState {
            mint_limiter: Arc::new(RateLimiter::per_minute(config.anonymous.mints_per_minute)),
            refresh_limiter: Arc::new(RateLimiter::per_minute(config.anonymous.refreshes_per_minute)),
            keys: Arc::new(ProjectKeys::new(Arc::clone(&store))),
            store,
            config: Arc::new(config),
            projects: Arc::default(),
            draining: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }
}
