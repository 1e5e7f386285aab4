//! Attachment records: announced at presign, completed when the bytes
//! arrived, linked to the thread whose messages reference them.

use rusqlite::{Connection, OptionalExtension, params};
use threadhold_domain::Millis;
use threadhold_domain::model::{Attachment, WorkspaceScope};

use super::rows::{self, attachment_columns};
use crate::{StoreError, StoreResult};

pub(super) fn insert(c: &Connection, a: &Attachment) -> StoreResult<()> {
    c.prepare_cached(
        "INSERT INTO attachments (key, project_id, workspace_id, filename, content_type, size, complete, thread_id, \
         created_at, upload_expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        a.key,
        a.scope.project_id,
        a.scope.workspace_id,
        a.filename,
        a.content_type,
        a.size,
        a.complete,
        a.thread_id,
        a.created_at,
        a.upload_expires_at
    ])?;
    Ok(())
}

pub(super) fn get(c: &Connection, key: &str) -> StoreResult<Option<Attachment>> {
    Ok(c.prepare_cached(concat!("SELECT ", attachment_columns!(), " FROM attachments WHERE key = ?1"))?
        .query_row([key], rows::attachment)
        .optional()?)
}

pub(super) fn complete(c: &Connection, key: &str, size: i64, content_type: &str) -> StoreResult<()> {
    c.prepare_cached("UPDATE attachments SET complete = TRUE, size = ?2, content_type = ?3 WHERE key = ?1")?
        .execute(params![key, size, content_type])?;
    Ok(())
}

pub(super) fn link(c: &Connection, scope: &WorkspaceScope, thread_id: &str, keys: &[String]) -> StoreResult<()> {
    let keys = serde_json::to_string(keys).map_err(|error| StoreError::Database(error.to_string()))?;
    c.prepare_cached(
        "UPDATE attachments SET thread_id = ?3 WHERE project_id = ?1 AND workspace_id = ?2 \
         AND key IN (SELECT value FROM json_each(?4))",
    )?
    .execute(params![scope.project_id, scope.workspace_id, thread_id, keys])?;
    Ok(())
}

/// Uploads still pending whose URL expired before `before`, at most 500 at a time.
pub(super) fn expired_uploads(c: &Connection, before: Millis) -> StoreResult<Vec<Attachment>> {
    Ok(c.prepare_cached(concat!(
        "SELECT ",
        attachment_columns!(),
        " FROM attachments WHERE NOT complete AND upload_expires_at < ?1 ORDER BY upload_expires_at LIMIT 500"
    ))?
    .query_map([before], rows::attachment)?
    .collect::<Result<_, _>>()?)
}

pub(super) fn delete(c: &Connection, key: &str) -> StoreResult<()> {
    c.prepare_cached("DELETE FROM attachments WHERE key = ?1")?.execute([key])?;
    Ok(())
}
