//! Housekeeping at start and then every `maintenance_interval_secs`: unused
//! anonymous identities, uploads that never completed, threads past their
//! retention period, ended dashboard sessions, and (every
//! `title_sweep_interval_secs`) the model title sweep.

use threadhold_domain::dashboard::DAY_MS;
use threadhold_domain::now_ms;
use threadhold_store::{Store, StoreError};

use super::retention;
use crate::state::AppState;
use crate::{AnonymousConfig, files::BlobStore};

/// Rotated refresh tokens are remembered this long to detect their reuse.
const ROTATED_TOKEN_MEMORY_MS: i64 = 7 * DAY_MS;

/// Deletes anonymous identities idle for `config.gc_after_secs` that never
/// stored a thread, and old rotated refresh tokens. Returns (sessions, tokens).
pub async fn collect_anonymous_garbage(
    store: &dyn Store,
    now: i64,
    config: &AnonymousConfig,
) -> Result<(u64, u64), StoreError> {
    let idle_ms = i64::try_from(config.gc_after_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let memory_ms = ROTATED_TOKEN_MEMORY_MS.max(config.refresh.grace_ms);
    store.collect_anonymous_garbage(now.saturating_sub(idle_ms), now - memory_ms).await
}

/// Settles uploads whose URL expired: a file that never arrived, or that
/// exceeds the size limit (S3 cannot enforce it up front), leaves nothing
/// behind; one that arrived within the limit is completed. Returns how many
/// records were removed.
pub async fn settle_expired_uploads(
    store: &dyn Store,
    blobs: &dyn BlobStore,
    max_bytes: u64,
    now: i64,
) -> Result<usize, String> {
    let mut removed = 0;
    for upload in store.expired_uploads(now).await.map_err(|e| e.to_string())? {
        match blobs.stored_size(&upload.key).await.map_err(|e| e.to_string())? {
            Some(size) if size <= max_bytes => {
                let size = i64::try_from(size).unwrap_or(i64::MAX);
                store.complete_attachment(&upload.key, size, &upload.content_type).await.map_err(|e| e.to_string())?;
            }
            _ => {
                blobs.delete(&upload.key).await.map_err(|e| e.to_string())?;
                store.delete_attachment(&upload.key).await.map_err(|e| e.to_string())?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// One round of housekeeping.
pub async fn run_once(state: &AppState) {
    let store = state.store.as_ref();
    let config = &state.config;
    match collect_anonymous_garbage(store, now_ms(), &config.anonymous).await {
        Ok((0, 0)) => {}
        Ok((sessions, tokens)) => tracing::info!(sessions, tokens, "collected unused anonymous identities"),
        Err(error) => tracing::warn!(%error, "anonymous garbage collection failed"),
    }
    match settle_expired_uploads(store, state.blobs.as_ref(), config.files.max_bytes, now_ms()).await {
        Ok(0) => {}
        Ok(removed) => tracing::info!(removed, "removed uploads that never completed"),
        Err(error) => tracing::warn!(%error, "settling expired uploads failed"),
    }
    match retention::apply(store, state.blobs.as_ref(), config.retention_days, now_ms()).await {
        Ok(0) => {}
        Ok(threads) => tracing::info!(threads, "deleted threads past the retention period"),
        Err(error) => tracing::warn!(%error, "applying the retention period failed"),
    }
    let now = now_ms();
    let idle_ms = i64::try_from(config.admin_sessions.idle.as_millis()).unwrap_or(i64::MAX);
    match store.delete_expired_admin_sessions(now.saturating_sub(idle_ms), now).await {
        Ok(0) => {}
        Ok(sessions) => tracing::debug!(sessions, "deleted ended dashboard sessions"),
        Err(error) => tracing::warn!(%error, "deleting ended dashboard sessions failed"),
    }
}

/// Runs [`run_once`] at start and then every `maintenance_interval_secs`.
pub async fn maintain_periodically(state: AppState) {
    let interval = std::time::Duration::from_secs(state.config.maintenance_interval_secs.max(1));
    let mut ticks = tokio::time::interval(interval);
    loop {
        ticks.tick().await;
        run_once(&state).await;
        // Model calls take time: the sweep runs beside housekeeping, not in its way.
        let sweeping = state.clone();
        tokio::spawn(async move { super::titles::sweep_when_due(&sweeping).await });
    }
}
