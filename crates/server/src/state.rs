//! What every handler shares.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use threadhold_store::Store;

use crate::ServerConfig;
use crate::auth::tokens::ProjectKeys;
use crate::cors::OriginCache;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub keys: Arc<ProjectKeys>,
    pub config: Arc<ServerConfig>,
    pub origins: Arc<OriginCache>,
    /// Set when shutdown begins, so `/readyz` turns away new traffic first.
    pub draining: Arc<AtomicBool>,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, config: ServerConfig) -> Self {
        AppState {
            keys: Arc::new(ProjectKeys::new(Arc::clone(&store))),
            store,
            config: Arc::new(config),
            origins: Arc::default(),
            draining: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }
}
