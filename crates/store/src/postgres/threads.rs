//! Threads: keyset pages, creates and upserts, patches, deletes, erasure and retention.
//!
//! Every page has two statements, the first page and a page after a cursor,
//! so PostgreSQL seeks the listing index to the cursor instead of scanning to it.

use sqlx::PgConnection;
use threadhold_domain::Millis;
use threadhold_domain::dashboard::Activity;
use threadhold_domain::model::{NewThread, Thread, ThreadListQuery, ThreadPatch, WorkspaceScope};

use super::limited;
use super::rows::{self, thread_columns};
use crate::{Erasure, ReadScope, StoreError, StoreResult};

pub(super) async fn list(c: &mut PgConnection, query: &ThreadListQuery) -> StoreResult<Vec<Thread>> {
    let (project, archived) = (&query.project_id, query.archived);
    let found = match (&query.workspace_id, &query.after) {
        (Some(workspace), None) => {
            sqlx::query(limited(concat!(
                "SELECT ",
                thread_columns!(),
                " FROM threads WHERE project_id = $1 AND workspace_id = $2 AND is_archived = $3 \
                 ORDER BY last_message_at DESC, id DESC"
            ), query.limit))
            .bind(project)
            .bind(workspace)
            .bind(archived)
            .fetch_all(c)
            .await?
        }
        // An unknown cursor (or one of another workspace) matches nothing: an empty page, the clean stop.
        (Some(workspace), Some(after)) => {
            sqlx::query(limited(concat!(
                "SELECT ",
                thread_columns!(),
                " FROM threads WHERE project_id = $1 AND workspace_id = $2 AND is_archived = $3 \
                 AND (last_message_at, id) < (SELECT last_message_at, id FROM threads \
                      WHERE id = $4 AND project_id = $1 AND workspace_id = $2) \
                 ORDER BY last_message_at DESC, id DESC"
            ), query.limit))
            .bind(project)
            .bind(workspace)
            .bind(archived)
            .bind(after)
            .fetch_all(c)
            .await?
        }
        (None, None) => {
            sqlx::query(limited(concat!(
                "SELECT ",
                thread_columns!(),
                " FROM threads WHERE project_id = $1 AND is_archived = $2 \
                 ORDER BY last_message_at DESC, id DESC"
            ), query.limit))
            .bind(project)
            .bind(archived)
            .fetch_all(c)
            .await?
        }
        (None, Some(after)) => {
            sqlx::query(limited(concat!(
                "SELECT ",
                thread_columns!(),
                " FROM threads WHERE project_id = $1 AND is_archived = $2 \
                 AND (last_message_at, id) < (SELECT last_message_at, id FROM threads WHERE id = $3 AND project_id = $1) \
                 ORDER BY last_message_at DESC, id DESC"
            ), query.limit))
            .bind(project)
            .bind(archived)
            .bind(after)
            .fetch_all(c)
            .await?
        }
    };
    Ok(found.iter().map(rows::thread).collect::<Result<_, _>>()?)
}

pub(super) async fn get(c: &mut PgConnection, scope: &ReadScope, id: &str) -> StoreResult<Option<Thread>> {
    let row = match &scope.workspace_id {
        Some(workspace) => {
            sqlx::query(concat!(
                "SELECT ",
                thread_columns!(),
                " FROM threads WHERE id = $1 AND project_id = $2 AND workspace_id = $3"
            ))
            .bind(id)
            .bind(&scope.project_id)
            .bind(workspace)
            .fetch_optional(c)
            .await?
        }
        None => {
            sqlx::query(concat!("SELECT ", thread_columns!(), " FROM threads WHERE id = $1 AND project_id = $2"))
                .bind(id)
                .bind(&scope.project_id)
                .fetch_optional(c)
                .await?
        }
    };
    Ok(row.as_ref().map(rows::thread).transpose()?)
}

/// [`StoreError::ThreadNotFound`] unless the thread is in the workspace; locks
/// the thread's row, so writes to one thread from several nodes take turns.
pub(super) async fn require_in_scope(c: &mut PgConnection, scope: &WorkspaceScope, id: &str) -> StoreResult<()> {
    let found: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM threads WHERE id = $1 AND project_id = $2 AND workspace_id = $3 FOR UPDATE")
            .bind(id)
            .bind(&scope.project_id)
            .bind(&scope.workspace_id)
            .fetch_optional(c)
            .await?;
    found.map(|_| ()).ok_or(StoreError::ThreadNotFound)
}

pub(super) async fn create(c: &mut PgConnection, thread: &NewThread) -> StoreResult<(String, bool)> {
    if thread.upsert
        && let Some(external_id) = &thread.external_id
    {
        // Upserts of one external id in one workspace wait for each other, on every node.
        let key = format!("{}/{}/{}", thread.scope.project_id, thread.scope.workspace_id, external_id);
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))").bind(key).execute(&mut *c).await?;
        let existing: Option<String> = sqlx::query_scalar(
            "SELECT id FROM threads WHERE project_id = $1 AND workspace_id = $2 AND external_id = $3 \
             ORDER BY created_at, id LIMIT 1",
        )
        .bind(&thread.scope.project_id)
        .bind(&thread.scope.workspace_id)
        .bind(external_id)
        .fetch_optional(&mut *c)
        .await?;
        if let Some(id) = existing {
            return Ok((id, false));
        }
    }
    sqlx::query(
        "INSERT INTO threads (id, project_id, workspace_id, title, title_from_user, metadata, external_id, \
         is_archived, last_message_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, FALSE, $8, $9, $9)",
    )
    .bind(&thread.id)
    .bind(&thread.scope.project_id)
    .bind(&thread.scope.workspace_id)
    .bind(&thread.title)
    .bind(thread.title.is_some())
    .bind(&thread.metadata)
    .bind(&thread.external_id)
    .bind(thread.last_message_at)
    .bind(thread.now)
    .execute(&mut *c)
    .await?;
    super::dashboard::count_activity(c, &thread.scope.project_id, thread.now, Activity::Thread, 1).await?;
    Ok((thread.id.clone(), true))
}

pub(super) async fn update(
    c: &mut PgConnection,
    scope: &WorkspaceScope,
    id: &str,
    patch: &ThreadPatch,
    now: Millis,
) -> StoreResult<()> {
    // Each present field gets its own flag, so one constant statement covers every patch.
    let changed = sqlx::query(
        "UPDATE threads SET \
           title = CASE WHEN $4 THEN $5 ELSE title END, \
           title_from_user = CASE WHEN $4 THEN $5 IS NOT NULL ELSE title_from_user END, \
           title_by_model = CASE WHEN $4 THEN FALSE ELSE title_by_model END, \
           metadata = CASE WHEN $6 THEN $7 ELSE metadata END, \
           is_archived = COALESCE($8, is_archived), \
           last_message_at = COALESCE($9, last_message_at), \
           updated_at = $10 \
         WHERE id = $1 AND project_id = $2 AND workspace_id = $3",
    )
    .bind(id)
    .bind(&scope.project_id)
    .bind(&scope.workspace_id)
    .bind(patch.title.is_some())
    .bind(patch.title.clone().flatten())
    .bind(patch.metadata.is_some())
    .bind(patch.metadata.clone().flatten())
    .bind(patch.is_archived)
    .bind(patch.last_message_at)
    .bind(now)
    .execute(c)
    .await?
    .rows_affected();
    if changed == 0 { Err(StoreError::ThreadNotFound) } else { Ok(()) }
}

/// Moves the thread to the top of its list: a message was stored.
pub(super) async fn bump(c: &mut PgConnection, thread_id: &str, now: Millis) -> StoreResult<()> {
    sqlx::query("UPDATE threads SET last_message_at = GREATEST(last_message_at, $2), updated_at = $2 WHERE id = $1")
        .bind(thread_id)
        .bind(now)
        .execute(c)
        .await?;
    Ok(())
}

pub(super) async fn delete(c: &mut PgConnection, scope: &WorkspaceScope, id: &str) -> StoreResult<Vec<String>> {
    require_in_scope(c, scope, id).await?;
    remove(c, &[id.to_owned()]).await
}

/// Deletes threads with their messages, feedback, leases and search entries
/// (by cascade) and attachment records; returns the attachment keys whose
/// files must go too.
pub(super) async fn remove(c: &mut PgConnection, ids: &[String]) -> StoreResult<Vec<String>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // A parent and its children go in one statement, so the parent link is never dangling at its end.
    sqlx::query("DELETE FROM feedback WHERE message_id IN (SELECT id FROM messages WHERE thread_id = ANY($1))")
        .bind(ids)
        .execute(&mut *c)
        .await?;
    sqlx::query("DELETE FROM messages WHERE thread_id = ANY($1)").bind(ids).execute(&mut *c).await?;
    sqlx::query("DELETE FROM threads WHERE id = ANY($1)").bind(ids).execute(&mut *c).await?;
    Ok(sqlx::query_scalar("DELETE FROM attachments WHERE thread_id = ANY($1) RETURNING key")
        .bind(ids)
        .fetch_all(c)
        .await?)
}

pub(super) async fn erase_user(c: &mut PgConnection, project_id: &str, user_id: &str) -> StoreResult<Erasure> {
    // In id order, as every statement that waits for several threads does, so two cannot deadlock.
    let threads: Vec<String> =
        sqlx::query_scalar("SELECT id FROM threads WHERE project_id = $1 AND workspace_id = $2 ORDER BY id FOR UPDATE")
            .bind(project_id)
            .bind(user_id)
            .fetch_all(&mut *c)
            .await?;
    let mut attachment_keys = remove(c, &threads).await?;
    let unlinked: Vec<String> =
        sqlx::query_scalar("DELETE FROM attachments WHERE project_id = $1 AND workspace_id = $2 RETURNING key")
            .bind(project_id)
            .bind(user_id)
            .fetch_all(&mut *c)
            .await?;
    attachment_keys.extend(unlinked);
    for statement in [
        "DELETE FROM feedback WHERE user_id = $2 AND message_id IN \
           (SELECT m.id FROM messages m JOIN threads t ON t.id = m.thread_id WHERE t.project_id = $1)",
        "DELETE FROM telemetry WHERE project_id = $1 AND (user_id = $2 OR workspace_id = $2)",
        "DELETE FROM runs WHERE project_id = $1 AND (created_by = $2 OR workspace_id = $2)",
        "DELETE FROM scores WHERE project_id = $1 AND (author = $2 OR workspace_id = $2)",
        "DELETE FROM anonymous_sessions WHERE project_id = $1 AND user_id = $2",
        "DELETE FROM users WHERE project_id = $1 AND user_id = $2",
        "DELETE FROM user_activity_days WHERE project_id = $1 AND user_id = $2",
    ] {
        sqlx::query(statement).bind(project_id).bind(user_id).execute(&mut *c).await?;
    }
    Ok(Erasure { threads: threads.len() as u64, attachment_keys })
}

pub(super) async fn purge_before(
    c: &mut PgConnection,
    project_id: &str,
    before: Millis,
    limit: u32,
) -> StoreResult<Erasure> {
    let threads: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM threads WHERE project_id = $1 AND last_message_at < $2 LIMIT $3 FOR UPDATE SKIP LOCKED",
    )
    .bind(project_id)
    .bind(before)
    .bind(i64::from(limit))
    .fetch_all(&mut *c)
    .await?;
    let attachment_keys = remove(c, &threads).await?;
    Ok(Erasure { threads: threads.len() as u64, attachment_keys })
}

pub(super) async fn set_auto_title(
    c: &mut PgConnection,
    scope: &WorkspaceScope,
    id: &str,
    title: Option<&str>,
    now: Millis,
) -> StoreResult<Option<String>> {
    let current: Option<Option<String>> = sqlx::query_scalar(
        "SELECT title FROM threads WHERE id = $1 AND project_id = $2 AND workspace_id = $3 FOR UPDATE",
    )
    .bind(id)
    .bind(&scope.project_id)
    .bind(&scope.workspace_id)
    .fetch_optional(&mut *c)
    .await?;
    let current = current.ok_or(StoreError::ThreadNotFound)?;
    if current.is_some() || title.is_none() {
        return Ok(current);
    }
    sqlx::query("UPDATE threads SET title = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(title)
        .bind(now)
        .execute(c)
        .await?;
    Ok(title.map(str::to_owned))
}

/// Inserts a thread as exported elsewhere (ids and timestamps kept); false when its id exists.
pub(super) async fn import(c: &mut PgConnection, thread: &Thread) -> StoreResult<bool> {
    let inserted = sqlx::query(
        "INSERT INTO threads (id, project_id, workspace_id, title, title_from_user, metadata, external_id, \
         is_archived, last_message_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(&thread.id)
    .bind(&thread.project_id)
    .bind(&thread.workspace_id)
    .bind(&thread.title)
    .bind(thread.title_from_user)
    .bind(&thread.metadata)
    .bind(&thread.external_id)
    .bind(thread.is_archived)
    .bind(thread.last_message_at)
    .bind(thread.created_at)
    .bind(thread.updated_at)
    .execute(c)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}
