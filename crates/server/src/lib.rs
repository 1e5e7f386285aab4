//! threadhold's HTTP server: the Assistant Cloud API over a [`threadhold_store::Store`].
//!
//! [`launch`] takes an already-bound listener and a shutdown future, so tests
//! run the real server on port 0 with no waiting.
#![forbid(unsafe_code)]

pub mod admin;
pub mod auth;
mod cors;
pub mod error;
mod extract;
mod handlers;
mod observe;
mod router;
pub mod state;
mod views;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use tokio::net::TcpListener;

pub use router::router;
pub use state::AppState;

/// Settings of the HTTP server itself (the CLI layers them from flags, env and file).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Lifetime of tokens minted by `POST /v1/auth/tokens`, in seconds.
    pub workspace_token_ttl_secs: u64,
    /// Seconds a project's allowed-origins list is cached by the CORS layer.
    pub origins_cache_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            workspace_token_ttl_secs: 300,
            origins_cache_secs: 30,
        }
    }
}

/// Serves the API on `listener` until `shutdown` completes, then drains
/// in-flight requests and returns.
pub async fn launch(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let draining = state.draining.clone();
    let app = router(state);
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move {
            shutdown.await;
            draining.store(true, Ordering::Relaxed);
            tracing::info!("shutting down: draining in-flight requests");
        })
        .await
}
