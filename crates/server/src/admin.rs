//! Administrative operations shared by the CLI and the tests: projects and
//! API keys, working directly on the store (so they work while a server runs).

use threadhold_auth::rules::{RuleInput, build_rule};
use threadhold_domain::ids::{IdKind, new_id, validate_principal_id, validate_project_id};
use threadhold_domain::model::{ApiKey, AuthRule, DEFAULT_PROJECT_ID, Project};
use threadhold_domain::now_ms;
use threadhold_store::{Erasure, Store};

use crate::AnonymousConfig;
use crate::auth::api_keys::{self, IssuedKey};
use crate::auth::tokens::create_signing_key;
use crate::error::ApiError;
use crate::state::AppState;

const DAY_MS: i64 = 86_400_000;

/// Makes sure the default project and its signing key exist (run on every start).
pub async fn bootstrap(store: &dyn Store) -> Result<Project, ApiError> {
    let project = store.ensure_project(DEFAULT_PROJECT_ID, "Default project", now_ms()).await?;
    if store.signing_keys(DEFAULT_PROJECT_ID).await?.is_empty() {
        create_signing_key(store, DEFAULT_PROJECT_ID).await?;
    }
    Ok(project)
}

pub async fn create_project(
    store: &dyn Store,
    id: &str,
    name: &str,
    allowed_origins: Vec<String>,
) -> Result<Project, ApiError> {
    validate_project_id(id)
        .map_err(|error| ApiError::invalid(format!("project id {error}; use 1-64 of a-z, 0-9 and -")))?;
    let project = Project {
        id: id.to_owned(),
        name: name.to_owned(),
        allowed_origins,
        anonymous_enabled: true,
        created_at: now_ms(),
    };
    store.create_project(&project).await?;
    create_signing_key(store, id).await?;
    Ok(project)
}

/// Replaces a project's allowed CORS origins (empty allows every origin).
pub async fn set_allowed_origins(store: &dyn Store, project_id: &str, origins: &[String]) -> Result<(), ApiError> {
    if store.set_allowed_origins(project_id, origins).await? {
        Ok(())
    } else {
        Err(ApiError::NotFound { code: "project_not_found", message: format!("No project {project_id}") })
    }
}

/// Creates an API key for an existing project; the secret is returned once.
pub async fn create_api_key(
    store: &dyn Store,
    project_id: &str,
    name: &str,
    expires_in_days: Option<u32>,
) -> Result<IssuedKey, ApiError> {
    if store.get_project(project_id).await?.is_none() {
        return Err(ApiError::NotFound { code: "project_not_found", message: format!("No project {project_id}") });
    }
    let now = now_ms();
    let expires_at = expires_in_days.map(|days| now + i64::from(days) * DAY_MS);
    let issued = api_keys::generate(project_id, name, now, expires_at);
    store.insert_api_key(&issued.record).await?;
    Ok(issued)
}

pub async fn list_api_keys(store: &dyn Store, project_id: Option<&str>) -> Result<Vec<ApiKey>, ApiError> {
    Ok(store.list_api_keys(project_id).await?)
}

/// Revokes a key by id; a key already revoked or unknown is an error.
pub async fn revoke_api_key(store: &dyn Store, id: &str) -> Result<(), ApiError> {
    if store.revoke_api_key(id, now_ms()).await? {
        Ok(())
    } else {
        Err(ApiError::NotFound { code: "api_key_not_found", message: format!("No active API key {id}") })
    }
}

/// Rotated refresh tokens are remembered this long to detect their reuse.
const ROTATED_TOKEN_MEMORY_MS: i64 = 7 * DAY_MS;

/// Opens or closes anonymous mode for a project.
pub async fn set_anonymous_enabled(store: &dyn Store, project_id: &str, enabled: bool) -> Result<(), ApiError> {
    if store.set_anonymous_enabled(project_id, enabled).await? {
        Ok(())
    } else {
        Err(ApiError::NotFound { code: "project_not_found", message: format!("No project {project_id}") })
    }
}

/// Deletes anonymous identities idle for `config.gc_after_secs` that never
/// stored a thread, and old rotated refresh tokens. Returns (sessions, tokens).
pub async fn collect_anonymous_garbage(
    store: &dyn Store,
    now: i64,
    config: &AnonymousConfig,
) -> Result<(u64, u64), ApiError> {
    let idle_ms = i64::try_from(config.gc_after_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let memory_ms = ROTATED_TOKEN_MEMORY_MS.max(config.refresh.grace_ms);
    Ok(store.collect_anonymous_garbage(now.saturating_sub(idle_ms), now - memory_ms).await?)
}

/// Settles uploads whose URL expired: a file that never arrived, or that
/// exceeds the size limit (S3 cannot enforce it up front), leaves nothing
/// behind; one that arrived within the limit is completed. Returns how many
/// records were removed.
pub async fn settle_expired_uploads(state: &AppState, now: i64) -> Result<usize, ApiError> {
    let max_bytes = state.config.files.max_bytes;
    let mut removed = 0;
    for upload in state.store.expired_uploads(now).await? {
        match state.blobs.stored_size(&upload.key).await? {
            Some(size) if size <= max_bytes => {
                let size = i64::try_from(size).unwrap_or(i64::MAX);
                state.store.complete_attachment(&upload.key, size, &upload.content_type).await?;
            }
            _ => {
                state.blobs.delete(&upload.key).await?;
                state.store.delete_attachment(&upload.key).await?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// Housekeeping at start and then every `maintenance_interval_secs`: unused
/// anonymous identities, expired uploads, threads past the retention period,
/// and (every `title_sweep_interval_secs`) the model title sweep.
pub async fn maintain_periodically(state: AppState) {
    let config = &state.config.anonymous;
    let interval = std::time::Duration::from_secs(state.config.maintenance_interval_secs.max(1));
    let mut ticks = tokio::time::interval(interval);
    loop {
        ticks.tick().await;
        match collect_anonymous_garbage(state.store.as_ref(), now_ms(), config).await {
            Ok((0, 0)) => {}
            Ok((sessions, tokens)) => tracing::info!(sessions, tokens, "collected unused anonymous identities"),
            Err(error) => tracing::warn!(%error, "anonymous garbage collection failed"),
        }
        match settle_expired_uploads(&state, now_ms()).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "removed uploads that never completed"),
            Err(error) => tracing::warn!(%error, "settling expired uploads failed"),
        }
        match apply_retention(&state, now_ms()).await {
            Ok(0) => {}
            Ok(threads) => tracing::info!(threads, "deleted threads past the retention period"),
            Err(error) => tracing::warn!(%error, "applying the retention period failed"),
        }
        // Model calls take time: the sweep runs beside housekeeping, not in its way.
        let sweeping = state.clone();
        tokio::spawn(async move { crate::service::titles::sweep_when_due(&sweeping).await });
    }
}

/// Adds an auth rule to an existing project (provider defaults filled in). Its
/// key URL must be `https` and public unless its host is in `jwks_allow_hosts`.
pub async fn add_auth_rule(
    store: &dyn Store,
    project_id: &str,
    input: RuleInput,
    jwks_allow_hosts: &[String],
) -> Result<AuthRule, ApiError> {
    if store.get_project(project_id).await?.is_none() {
        return Err(ApiError::NotFound { code: "project_not_found", message: format!("No project {project_id}") });
    }
    let rule = build_rule(input, new_id(IdKind::AuthRule), project_id, now_ms(), jwks_allow_hosts)
        .map_err(|message| ApiError::InvalidRequest { code: "invalid_rule", message })?;
    store.insert_auth_rule(&rule).await?;
    Ok(rule)
}

pub async fn remove_auth_rule(store: &dyn Store, id: &str) -> Result<(), ApiError> {
    if store.delete_auth_rule(id).await? {
        Ok(())
    } else {
        Err(ApiError::NotFound { code: "rule_not_found", message: format!("No auth rule {id}") })
    }
}

/// Deletes the files of deleted threads; the records are gone already, so a
/// failure only leaves unreachable bytes behind (and is logged).
pub(crate) async fn delete_files(state: &AppState, keys: &[String]) {
    for key in keys {
        if let Err(error) = state.blobs.delete(key).await {
            tracing::warn!(%error, "could not delete an attachment");
        }
    }
}

/// Erases a user: the workspace of the same id (threads, messages, files),
/// their feedback, scores, telemetry and anonymous session.
pub async fn erase_user(state: &AppState, project_id: &str, user_id: &str) -> Result<Erasure, ApiError> {
    validate_principal_id(user_id).map_err(|error| ApiError::invalid(format!("user id {error}")))?;
    let erasure = state.store.erase_user(project_id, user_id).await?;
    delete_files(state, &erasure.attachment_keys).await;
    Ok(erasure)
}

/// Deletes threads (with their files) whose last message is older than the retention period.
pub async fn apply_retention(state: &AppState, now: i64) -> Result<u64, ApiError> {
    let Some(days) = state.config.retention_days else { return Ok(0) };
    let before = now - i64::try_from(days).unwrap_or(i64::MAX / DAY_MS).saturating_mul(DAY_MS);
    let mut purged = 0;
    loop {
        let erasure = state.store.purge_threads_before(before, 500).await?;
        delete_files(state, &erasure.attachment_keys).await;
        purged += erasure.threads;
        if erasure.threads < 500 {
            return Ok(purged);
        }
    }
}
