//! Threads: keyset pages, creates and upserts, patches, deletes, erasure and retention.
//!
//! Every page has two statements, the first page and a page after a cursor,
//! so SQLite seeks the listing index to the cursor instead of scanning to it.

use rusqlite::{Connection, OptionalExtension, params};
use threadhold_domain::Millis;
use threadhold_domain::model::{NewThread, Thread, ThreadListQuery, ThreadPatch, WorkspaceScope};

use threadhold_domain::dashboard::Activity;

use super::rows::{self, thread_columns};
use crate::{Erasure, ReadScope, StoreError, StoreResult};

pub(super) fn list(c: &Connection, query: &ThreadListQuery) -> StoreResult<Vec<Thread>> {
    let limit = i64::from(query.limit);
    let (project, archived) = (&query.project_id, query.archived);
    let mut statement;
    let rows = match (&query.workspace_id, &query.after) {
        (Some(workspace), None) => {
            statement = c.prepare_cached(concat!(
                "SELECT ",
                thread_columns!(),
                " FROM threads WHERE project_id = ?1 AND workspace_id = ?2 AND is_archived = ?3 \
                 ORDER BY last_message_at DESC, id DESC LIMIT ?4 + 0"
            ))?;
            statement.query_map(params![project, workspace, archived, limit], rows::thread)?
        }
        // An unknown cursor (or one of another workspace) matches nothing: an empty page, the clean stop.
        (Some(workspace), Some(after)) => {
            statement = c.prepare_cached(concat!(
                "SELECT ",
                thread_columns!(),
                " FROM threads WHERE project_id = ?1 AND workspace_id = ?2 AND is_archived = ?3 \
                 AND (last_message_at, id) < (SELECT last_message_at, id FROM threads \
                      WHERE id = ?4 AND project_id = ?1 AND workspace_id = ?2) \
                 ORDER BY last_message_at DESC, id DESC LIMIT ?5 + 0"
            ))?;
            statement.query_map(params![project, workspace, archived, after, limit], rows::thread)?
        }
        (None, None) => {
            statement = c.prepare_cached(concat!(
                "SELECT ",
                thread_columns!(),
                " FROM threads WHERE project_id = ?1 AND is_archived = ?2 \
                 ORDER BY last_message_at DESC, id DESC LIMIT ?3 + 0"
            ))?;
            statement.query_map(params![project, archived, limit], rows::thread)?
        }
        (None, Some(after)) => {
            statement = c.prepare_cached(concat!(
                "SELECT ",
                thread_columns!(),
                " FROM threads WHERE project_id = ?1 AND is_archived = ?2 \
                 AND (last_message_at, id) < (SELECT last_message_at, id FROM threads WHERE id = ?3 AND project_id = ?1) \
                 ORDER BY last_message_at DESC, id DESC LIMIT ?4 + 0"
            ))?;
            statement.query_map(params![project, archived, after, limit], rows::thread)?
        }
    };
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn get(c: &Connection, scope: &ReadScope, id: &str) -> StoreResult<Option<Thread>> {
    let thread = match &scope.workspace_id {
        Some(workspace) => c
            .prepare_cached(concat!(
                "SELECT ",
                thread_columns!(),
                " FROM threads WHERE id = ?1 AND project_id = ?2 AND workspace_id = ?3"
            ))?
            .query_row(params![id, scope.project_id, workspace], rows::thread),
        None => c
            .prepare_cached(concat!("SELECT ", thread_columns!(), " FROM threads WHERE id = ?1 AND project_id = ?2"))?
            .query_row(params![id, scope.project_id], rows::thread),
    };
    Ok(thread.optional()?)
}

/// [`StoreError::ThreadNotFound`] unless the thread is in the workspace.
pub(super) fn require_in_scope(c: &Connection, scope: &WorkspaceScope, id: &str) -> StoreResult<()> {
    let found = c
        .prepare_cached("SELECT 1 FROM threads WHERE id = ?1 AND project_id = ?2 AND workspace_id = ?3")?
        .exists(params![id, scope.project_id, scope.workspace_id])?;
    if found { Ok(()) } else { Err(StoreError::ThreadNotFound) }
}

pub(super) fn create(c: &Connection, thread: &NewThread) -> StoreResult<(String, bool)> {
    if thread.upsert
        && let Some(external_id) = &thread.external_id
    {
        // The single writer serializes upserts, so the lookup and the insert cannot race.
        let existing: Option<String> = c
            .prepare_cached(
                "SELECT id FROM threads WHERE project_id = ?1 AND workspace_id = ?2 AND external_id = ?3 \
                 ORDER BY created_at, id LIMIT 1",
            )?
            .query_row(params![thread.scope.project_id, thread.scope.workspace_id, external_id], |row| row.get(0))
            .optional()?;
        if let Some(id) = existing {
            return Ok((id, false));
        }
    }
    c.prepare_cached(
        "INSERT INTO threads (id, project_id, workspace_id, title, title_from_user, metadata, external_id, \
         is_archived, last_message_at, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, FALSE, ?8, ?9, ?9)",
    )?
    .execute(params![
        thread.id,
        thread.scope.project_id,
        thread.scope.workspace_id,
        thread.title,
        thread.title.is_some(),
        thread.metadata,
        thread.external_id,
        thread.last_message_at,
        thread.now
    ])?;
    super::dashboard::count_activity(c, &thread.scope.project_id, thread.now, Activity::Thread, 1)?;
    Ok((thread.id.clone(), true))
}

pub(super) fn update(
    c: &Connection,
    scope: &WorkspaceScope,
    id: &str,
    patch: &ThreadPatch,
    now: Millis,
) -> StoreResult<()> {
    // Each present field gets its own flag, so one constant statement covers every patch.
    let changed = c
        .prepare_cached(
            "UPDATE threads SET \
               title = CASE WHEN ?4 THEN ?5 ELSE title END, \
               title_from_user = CASE WHEN ?4 THEN ?5 IS NOT NULL ELSE title_from_user END, \
               title_by_model = CASE WHEN ?4 THEN FALSE ELSE title_by_model END, \
               metadata = CASE WHEN ?6 THEN ?7 ELSE metadata END, \
               is_archived = COALESCE(?8, is_archived), \
               last_message_at = COALESCE(?9, last_message_at), \
               updated_at = ?10 \
             WHERE id = ?1 AND project_id = ?2 AND workspace_id = ?3",
        )?
        .execute(params![
            id,
            scope.project_id,
            scope.workspace_id,
            patch.title.is_some(),
            patch.title.clone().flatten(),
            patch.metadata.is_some(),
            patch.metadata.clone().flatten(),
            patch.is_archived,
            patch.last_message_at,
            now
        ])?;
    if changed == 0 { Err(StoreError::ThreadNotFound) } else { Ok(()) }
}

/// Moves the thread to the top of its list: a message was stored.
pub(super) fn bump(c: &Connection, thread_id: &str, now: Millis) -> StoreResult<()> {
    c.prepare_cached("UPDATE threads SET last_message_at = MAX(last_message_at, ?2), updated_at = ?2 WHERE id = ?1")?
        .execute(params![thread_id, now])?;
    Ok(())
}

pub(super) fn delete(c: &Connection, scope: &WorkspaceScope, id: &str) -> StoreResult<Vec<String>> {
    require_in_scope(c, scope, id)?;
    remove(c, &[id.to_owned()])
}

/// Deletes threads with their messages, feedback, leases (by cascade), search
/// entries (by trigger) and attachment records; returns the attachment keys
/// whose files must go too.
pub(super) fn remove(c: &Connection, ids: &[String]) -> StoreResult<Vec<String>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids = serde_json::to_string(ids).map_err(|error| StoreError::Database(error.to_string()))?;
    // A parent and its children go in one statement, so the parent link is never dangling at its end.
    c.prepare_cached(
        "DELETE FROM feedback WHERE message_id IN \
           (SELECT id FROM messages WHERE thread_id IN (SELECT value FROM json_each(?1)))",
    )?
    .execute([&ids])?;
    c.prepare_cached("DELETE FROM messages WHERE thread_id IN (SELECT value FROM json_each(?1))")?.execute([&ids])?;
    c.prepare_cached("DELETE FROM threads WHERE id IN (SELECT value FROM json_each(?1))")?.execute([&ids])?;
    let keys = c
        .prepare_cached("DELETE FROM attachments WHERE thread_id IN (SELECT value FROM json_each(?1)) RETURNING key")?
        .query_map([&ids], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(keys)
}

pub(super) fn erase_user(c: &Connection, project_id: &str, user_id: &str) -> StoreResult<Erasure> {
    let threads: Vec<String> = c
        .prepare_cached("SELECT id FROM threads WHERE project_id = ?1 AND workspace_id = ?2")?
        .query_map(params![project_id, user_id], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let mut attachment_keys = remove(c, &threads)?;
    let unlinked: Vec<String> = c
        .prepare_cached("DELETE FROM attachments WHERE project_id = ?1 AND workspace_id = ?2 RETURNING key")?
        .query_map(params![project_id, user_id], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    attachment_keys.extend(unlinked);
    for statement in [
        "DELETE FROM feedback WHERE user_id = ?2 AND message_id IN \
           (SELECT m.id FROM messages m JOIN threads t ON t.id = m.thread_id WHERE t.project_id = ?1)",
        "DELETE FROM telemetry WHERE project_id = ?1 AND (user_id = ?2 OR workspace_id = ?2)",
        "DELETE FROM runs WHERE project_id = ?1 AND (created_by = ?2 OR workspace_id = ?2)",
        "DELETE FROM scores WHERE project_id = ?1 AND (author = ?2 OR workspace_id = ?2)",
        "DELETE FROM anonymous_sessions WHERE project_id = ?1 AND user_id = ?2",
        "DELETE FROM users WHERE project_id = ?1 AND user_id = ?2",
        "DELETE FROM user_activity_days WHERE project_id = ?1 AND user_id = ?2",
    ] {
        c.prepare_cached(statement)?.execute(params![project_id, user_id])?;
    }
    Ok(Erasure { threads: threads.len() as u64, attachment_keys })
}

pub(super) fn purge_before(c: &Connection, project_id: &str, before: Millis, limit: u32) -> StoreResult<Erasure> {
    let threads: Vec<String> = c
        .prepare_cached(
            "SELECT id FROM threads INDEXED BY threads_admin_listing WHERE project_id = ?1 AND last_message_at < ?2 \
             LIMIT ?3 + 0",
        )?
        .query_map(params![project_id, before, i64::from(limit)], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let attachment_keys = remove(c, &threads)?;
    Ok(Erasure { threads: threads.len() as u64, attachment_keys })
}

pub(super) fn set_auto_title(
    c: &Connection,
    scope: &WorkspaceScope,
    id: &str,
    title: Option<&str>,
    now: Millis,
) -> StoreResult<Option<String>> {
    let current: Option<Option<String>> = c
        .prepare_cached("SELECT title FROM threads WHERE id = ?1 AND project_id = ?2 AND workspace_id = ?3")?
        .query_row(params![id, scope.project_id, scope.workspace_id], |row| row.get(0))
        .optional()?;
    let current = current.ok_or(StoreError::ThreadNotFound)?;
    if current.is_some() || title.is_none() {
        return Ok(current);
    }
    c.prepare_cached("UPDATE threads SET title = ?2, updated_at = ?3 WHERE id = ?1")?
        .execute(params![id, title, now])?;
    Ok(title.map(str::to_owned))
}

/// Inserts a thread as exported elsewhere (ids and timestamps kept); false when its id exists.
pub(super) fn import(c: &Connection, thread: &Thread) -> StoreResult<bool> {
    let inserted = c
        .prepare_cached(
            "INSERT INTO threads (id, project_id, workspace_id, title, title_from_user, metadata, external_id, \
             is_archived, last_message_at, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
             ON CONFLICT (id) DO NOTHING",
        )?
        .execute(params![
            thread.id,
            thread.project_id,
            thread.workspace_id,
            thread.title,
            thread.title_from_user,
            thread.metadata,
            thread.external_id,
            thread.is_archived,
            thread.last_message_at,
            thread.created_at,
            thread.updated_at
        ])?;
    Ok(inserted == 1)
}
