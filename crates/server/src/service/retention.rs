//! Retention: threads whose last message is older than a project's period
//! are deleted with their files by housekeeping. A project may set its own
//! period; otherwise the server-wide `retention_days` applies.

use serde_json::json;
use threadhold_domain::dashboard::DAY_MS;
use threadhold_domain::now_ms;
use threadhold_store::{Store, StoreError};

use super::audit::{self, Change};
use super::projects::{self, ProjectError};
use super::users::delete_files;
use super::{Actor, Denied, Failure, Fault, Permission, authorize};
use crate::files::BlobStore;

/// The longest period a project may set, in days (ten years, as the hosted API).
pub const RETENTION_DAYS_MAX: u32 = 3650;
/// Threads the preview counts at most.
pub const PREVIEW_CAP: u32 = 100_000;
/// Threads deleted per transaction.
const PURGE_BATCH: u32 = 500;

#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error("The retention period must be 1 to {RETENTION_DAYS_MAX} days, or kept forever")]
    BadDays,
    #[error(transparent)]
    Project(#[from] ProjectError),
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Fault for RetentionError {
    fn failure(self) -> Result<Failure, StoreError> {
        match self {
            RetentionError::BadDays => Ok(Failure::field("days", "invalid_retention", self.to_string())),
            RetentionError::Project(error) => error.failure(),
            RetentionError::Denied(denied) => denied.failure(),
            RetentionError::Store(error) => Err(error),
        }
    }
}

/// A project's retention as the Settings page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionSettings {
    /// The project's own period.
    pub project_days: Option<u32>,
    /// The server-wide period (configuration).
    pub server_days: Option<u64>,
}

impl RetentionSettings {
    /// The period in force (`None`: threads are kept forever).
    pub fn effective_days(&self) -> Option<u64> {
        self.project_days.map(u64::from).or(self.server_days)
    }
}

pub async fn settings(
    store: &dyn Store,
    server_days: Option<u64>,
    project_id: &str,
) -> Result<RetentionSettings, RetentionError> {
    projects::require(store, project_id).await?;
    let project_days = store.retention_days().await?.into_iter().find(|(id, _)| id == project_id).map(|(_, d)| d);
    Ok(RetentionSettings { project_days, server_days })
}

fn cutoff(now: i64, days: u64) -> i64 {
    now.saturating_sub(i64::try_from(days).unwrap_or(i64::MAX / DAY_MS).saturating_mul(DAY_MS))
}

/// How many threads a period of `days` would delete now, counted up to [`PREVIEW_CAP`].
pub async fn preview(store: &dyn Store, actor: &Actor, project_id: &str, days: u32) -> Result<u64, RetentionError> {
    authorize(actor, Permission::Read)?;
    if !(1..=RETENTION_DAYS_MAX).contains(&days) {
        return Err(RetentionError::BadDays);
    }
    projects::require(store, project_id).await?;
    Ok(store.count_threads_before(project_id, cutoff(now_ms(), u64::from(days)), PREVIEW_CAP).await?)
}

/// Sets (or with `None` clears) the project's own period.
pub async fn set(store: &dyn Store, actor: &Actor, project_id: &str, days: Option<u32>) -> Result<(), RetentionError> {
    authorize(actor, Permission::ManageRetention)?;
    if days.is_some_and(|days| !(1..=RETENTION_DAYS_MAX).contains(&days)) {
        return Err(RetentionError::BadDays);
    }
    if !store.set_retention_days(project_id, days).await? {
        return Err(ProjectError::NotFound(project_id.to_owned()).into());
    }
    audit::record(
        store,
        actor,
        Change {
            action: "retention.update",
            project_id: Some(project_id),
            object_type: "project",
            object_id: project_id,
            details: json!({ "days": days }),
        },
    )
    .await?;
    Ok(())
}

/// Deletes, in every project, the threads older than its period; returns how many.
pub async fn apply(
    store: &dyn Store,
    blobs: &dyn BlobStore,
    server_days: Option<u64>,
    now: i64,
) -> Result<u64, StoreError> {
    let own = store.retention_days().await?;
    let mut purged = 0;
    for project in store.list_projects().await? {
        let own_days = own.iter().find(|(id, _)| *id == project.id).map(|(_, days)| u64::from(*days));
        let Some(days) = own_days.or(server_days) else { continue };
        let before = cutoff(now, days);
        loop {
            let erasure = store.purge_threads_before(&project.id, before, PURGE_BATCH).await?;
            delete_files(blobs, &erasure.attachment_keys).await;
            purged += erasure.threads;
            if erasure.threads < u64::from(PURGE_BATCH) {
                break;
            }
        }
    }
    Ok(purged)
}
