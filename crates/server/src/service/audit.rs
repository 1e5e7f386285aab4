//! The audit log: every change made through the dashboard, the admin API or
//! the CLI, with who made it, on what and when. Details never hold a secret.

use serde_json::Value;
use threadhold_domain::dashboard::{AuditEntry, AuditQuery};
use threadhold_domain::ids::{IdKind, new_id};
use threadhold_domain::now_ms;
use threadhold_store::{Store, StoreError};

use super::{Actor, Denied, Failure, Fault, Page, Permission, authorize};

/// Entries per page at most.
pub const AUDIT_PAGE_MAX: u32 = 200;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Fault for AuditError {
    fn failure(self) -> Result<Failure, StoreError> {
        match self {
            AuditError::Denied(denied) => denied.failure(),
            AuditError::Store(error) => Err(error),
        }
    }
}

/// What was changed, for one entry.
pub struct Change<'a> {
    pub action: &'static str,
    pub project_id: Option<&'a str>,
    pub object_type: &'static str,
    pub object_id: &'a str,
    /// A JSON object; never a secret.
    pub details: Value,
}

/// Writes an entry for a change that was just made.
pub async fn record(store: &dyn Store, actor: &Actor, change: Change<'_>) -> Result<(), StoreError> {
    let entry = AuditEntry {
        id: new_id(IdKind::Audit),
        at: now_ms(),
        actor: actor.label(),
        action: change.action.to_owned(),
        project_id: change.project_id.map(str::to_owned),
        object_type: change.object_type.to_owned(),
        object_id: change.object_id.to_owned(),
        details: change.details.to_string(),
    };
    store.insert_audit(&entry).await
}

/// A page of the log, newest first (admins and owners).
pub async fn list(store: &dyn Store, actor: &Actor, query: AuditQuery) -> Result<Page<AuditEntry>, AuditError> {
    authorize(actor, Permission::ReadAudit)?;
    let limit = query.limit.clamp(1, AUDIT_PAGE_MAX);
    let rows = store.list_audit(&AuditQuery { limit: limit + 1, ..query }).await?;
    Ok(Page::from_probe(rows, limit, |entry| entry.id.clone()))
}
