//! threadhold's HTTP server: the Assistant Cloud API over a [`threadhold_store::Store`].
//!
//! [`launch`] takes an already-bound listener and a shutdown future, so tests
//! run the real server on port 0 with no waiting.
#![forbid(unsafe_code)]

pub mod auth;
pub mod cache;
pub mod client_ip;
mod cors;
mod dashboard;
pub mod error;
mod extract;
pub mod files;
mod handlers;
mod mcp;
mod observe;
pub mod openapi;
mod otlp;
mod project_views;
pub mod projects;
mod rate_limit;
mod router;
pub mod serve;
pub mod service;
mod settings_watch;
pub mod state;
mod views;

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

pub use threadhold_auth::jwks::CachePolicy;
use threadhold_domain::model::AuthRule;
use threadhold_domain::refresh::RefreshPolicy;
use threadhold_domain::runs::LeasePolicy;
use tokio::net::TcpListener;
use tower::Layer;

pub use client_ip::ClientIpPolicy;
pub use files::{FilesConfig, S3Settings};
pub use router::{route_paths, router};
pub use serve::ConnectionLimits;
pub use service::admins::SessionPolicy;
pub use state::AppState;

/// Settings of the HTTP server itself (the CLI layers them from flags, env and file).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Lifetime of tokens minted by `POST /v1/auth/tokens`, in seconds.
    pub workspace_token_ttl_secs: u64,
    /// threadhold's own tokens (workspace, anonymous, exchanged) valid for longer than this are
    /// refused however well signed; at least every configured token lifetime.
    pub token_max_lifetime_secs: u64,
    /// Seconds a project's settings (CORS origins, anonymous switch) are cached.
    pub project_cache_secs: u64,
    pub anonymous: AnonymousConfig,
    pub client_ip: ClientIpPolicy,
    pub leases: LeasePolicy,
    pub files: FilesConfig,
    pub attachments: AttachmentBackend,
    /// How often housekeeping runs (unused anonymous identities, expired uploads).
    pub maintenance_interval_secs: u64,
    /// Answer accepted provider tokens with a threadhold token in `Authorization`.
    pub token_exchange: bool,
    /// Hosts whose key URLs may be private or plain `http` (on-premises IdPs, tests).
    pub jwks_allow_hosts: Vec<String>,
    pub jwks: CachePolicy,
    /// Auth rules from the configuration file (kept in memory, beside the database's).
    pub auth_rules: Vec<AuthRule>,
    /// Threads whose last message is older than this many days are deleted, with their files.
    pub retention_days: Option<u64>,
    /// Timeouts and the cap for client connections.
    pub connections: ConnectionLimits,
    /// How often housekeeping sweeps recent threads for model titles (projects with a title model).
    pub title_sweep_interval_secs: u64,
    /// Searches per workspace and minute (0: no limit).
    pub searches_per_minute: u32,
    /// How long dashboard sessions last.
    pub admin_sessions: SessionPolicy,
}

/// Where attachment bytes are kept.
#[derive(Debug, Clone)]
pub enum AttachmentBackend {
    /// A folder (normally `<data>/attachments`).
    Local(PathBuf),
    S3(S3Settings),
}

impl ServerConfig {
    /// Refuses settings that contradict each other.
    pub fn check(&self) -> Result<(), String> {
        for (name, ttl) in [
            ("workspace_token_ttl_secs", self.workspace_token_ttl_secs),
            ("anonymous_token_ttl_secs", self.anonymous.access_token_ttl_secs),
        ] {
            if ttl > self.token_max_lifetime_secs {
                return Err(format!(
                    "{name} ({ttl}) is longer than token_max_lifetime_secs ({}): such tokens would be refused",
                    self.token_max_lifetime_secs
                ));
            }
        }
        Ok(())
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            workspace_token_ttl_secs: 300,
            token_max_lifetime_secs: 3600,
            project_cache_secs: 30,
            anonymous: AnonymousConfig::default(),
            client_ip: ClientIpPolicy::default(),
            leases: LeasePolicy::default(),
            files: FilesConfig::default(),
            attachments: AttachmentBackend::Local(PathBuf::from("./threadhold-data/attachments")),
            maintenance_interval_secs: 600,
            token_exchange: true,
            jwks_allow_hosts: Vec::new(),
            jwks: CachePolicy::default(),
            auth_rules: Vec::new(),
            retention_days: None,
            connections: ConnectionLimits::default(),
            title_sweep_interval_secs: threadhold_domain::title::settings::SWEEP_INTERVAL_SECS,
            searches_per_minute: threadhold_domain::search::SEARCHES_PER_MINUTE,
            admin_sessions: SessionPolicy::default(),
        }
    }
}

/// Anonymous mode: per-browser identities with rotating refresh tokens.
#[derive(Debug, Clone)]
pub struct AnonymousConfig {
    /// Server-wide switch; each project can also switch it off.
    pub enabled: bool,
    /// Lifetime of anonymous access tokens, in seconds.
    pub access_token_ttl_secs: u64,
    pub refresh: RefreshPolicy,
    /// Per client IP and minute; 0 disables the limit.
    pub mints_per_minute: u32,
    pub refreshes_per_minute: u32,
    /// Identities idle this long that never stored a thread are deleted.
    pub gc_after_secs: u64,
}

impl Default for AnonymousConfig {
    fn default() -> Self {
        AnonymousConfig {
            enabled: true,
            access_token_ttl_secs: 300,
            refresh: RefreshPolicy::default(),
            mints_per_minute: 30,
            refreshes_per_minute: 120,
            gc_after_secs: 86_400,
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
    let limits = state.config.connections.clone();
    let collector = tokio::spawn(service::housekeeping::maintain_periodically(state.clone()));
    let settings = tokio::spawn(settings_watch::follow_settings(state.clone()));
    // The project prefix is stripped before routing, so every route also answers under it.
    let app = axum::middleware::from_fn(projects::strip_project_prefix).layer(router(state));
    let served = serve::serve(listener, app, limits, async move {
        shutdown.await;
        draining.store(true, Ordering::Relaxed);
        tracing::info!("shutting down: draining in-flight requests");
    })
    .await;
    collector.abort();
    settings.abort();
    served
}
