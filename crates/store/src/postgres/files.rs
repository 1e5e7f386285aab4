//! Attachment records: announced at presign, completed when the bytes
//! arrived, linked to the thread whose messages reference them.

use sqlx::PgConnection;
use threadhold_domain::Millis;
use threadhold_domain::model::{Attachment, WorkspaceScope};

use super::rows::{self, attachment_columns};
use crate::StoreResult;

pub(super) async fn insert(c: &mut PgConnection, a: &Attachment) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO attachments (key, project_id, workspace_id, filename, content_type, size, complete, thread_id, \
         created_at, upload_expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&a.key)
    .bind(&a.scope.project_id)
    .bind(&a.scope.workspace_id)
    .bind(&a.filename)
    .bind(&a.content_type)
    .bind(a.size)
    .bind(a.complete)
    .bind(&a.thread_id)
    .bind(a.created_at)
    .bind(a.upload_expires_at)
    .execute(c)
    .await?;
    Ok(())
}

pub(super) async fn get(c: &mut PgConnection, key: &str) -> StoreResult<Option<Attachment>> {
    let row = sqlx::query(concat!("SELECT ", attachment_columns!(), " FROM attachments WHERE key = $1"))
        .bind(key)
        .fetch_optional(c)
        .await?;
    Ok(row.as_ref().map(rows::attachment).transpose()?)
}

pub(super) async fn complete(c: &mut PgConnection, key: &str, size: i64, content_type: &str) -> StoreResult<()> {
    sqlx::query("UPDATE attachments SET complete = TRUE, size = $2, content_type = $3 WHERE key = $1")
        .bind(key)
        .bind(size)
        .bind(content_type)
        .execute(c)
        .await?;
    Ok(())
}

pub(super) async fn link(
    c: &mut PgConnection,
    scope: &WorkspaceScope,
    thread_id: &str,
    keys: &[String],
) -> StoreResult<()> {
    sqlx::query("UPDATE attachments SET thread_id = $3 WHERE project_id = $1 AND workspace_id = $2 AND key = ANY($4)")
        .bind(&scope.project_id)
        .bind(&scope.workspace_id)
        .bind(thread_id)
        .bind(keys)
        .execute(c)
        .await?;
    Ok(())
}

/// Uploads still pending whose URL expired before `before`, at most 500 at a time.
pub(super) async fn expired_uploads(c: &mut PgConnection, before: Millis) -> StoreResult<Vec<Attachment>> {
    let found = sqlx::query(concat!(
        "SELECT ",
        attachment_columns!(),
        " FROM attachments WHERE NOT complete AND upload_expires_at < $1 ORDER BY upload_expires_at LIMIT 500"
    ))
    .bind(before)
    .fetch_all(c)
    .await?;
    Ok(found.iter().map(rows::attachment).collect::<Result<_, _>>()?)
}

pub(super) async fn delete(c: &mut PgConnection, key: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM attachments WHERE key = $1").bind(key).execute(c).await?;
    Ok(())
}
