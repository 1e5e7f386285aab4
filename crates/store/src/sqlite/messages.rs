//! Messages: keyset pages, creates with external-id idempotency, content
//! writes under the run-lease rules, deletes of subtrees, feedback, and the
//! search entry each message keeps.

use rusqlite::{Connection, OptionalExtension, params};
use threadhold_domain::Millis;
use threadhold_domain::ids::{IdKind, new_id};
use threadhold_domain::model::{
    Feedback, FeedbackKind, LeaseTarget, Message, MessageBody, MessageWrite, NewMessage, ParentRef,
};
use threadhold_domain::runs::{ABANDONED, LeasePolicy, PlainWrite, RunLease, RunState, plain_write};

use threadhold_domain::dashboard::Activity;

use super::rows::{self, message_columns};
use super::threads;
use crate::shared::role_of;
use crate::{ReadScope, StoreError, StoreResult};
use threadhold_domain::model::WorkspaceScope;

/// A page in the contract's order (height, then created_at, then id, all descending).
/// A thread outside the scope, or an unknown cursor, gives an empty page.
pub(super) fn list(
    c: &Connection,
    scope: &ReadScope,
    thread_id: &str,
    after: Option<&str>,
    limit: u32,
) -> StoreResult<Vec<Message>> {
    if threads::get(c, scope, thread_id)?.is_none() {
        return Ok(Vec::new());
    }
    let limit = i64::from(limit);
    let mut statement;
    let rows = match after {
        None => {
            statement = c.prepare_cached(concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages WHERE thread_id = ?1 ORDER BY height DESC, created_at DESC, id DESC LIMIT ?2 + 0"
            ))?;
            statement.query_map(params![thread_id, limit], rows::message)?
        }
        Some(after) => {
            statement = c.prepare_cached(concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages WHERE thread_id = ?1 AND (height, created_at, id) < \
                   (SELECT height, created_at, id FROM messages WHERE id = ?2 AND thread_id = ?1) \
                 ORDER BY height DESC, created_at DESC, id DESC LIMIT ?3 + 0"
            ))?;
            statement.query_map(params![thread_id, after, limit], rows::message)?
        }
    };
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn create(c: &Connection, scope: &WorkspaceScope, message: &NewMessage) -> StoreResult<MessageWrite> {
    threads::require_in_scope(c, scope, &message.thread_id)?;
    if let Some(external_id) = &message.external_id
        && let Some(id) = message_by_external_id(c, &message.thread_id, external_id)?
    {
        let (format, content, running): (String, String, Option<bool>) = c
            .prepare_cached("SELECT format, content, run_running FROM messages WHERE id = ?1")?
            .query_row([&id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
        return replace_by_external_id(c, message, id, &format, &content, running);
    }
    let parent: Option<(String, i64)> = match &message.parent {
        ParentRef::Root => None,
        ParentRef::Id(id) => Some(
            c.prepare_cached("SELECT id, height FROM messages WHERE id = ?1 AND thread_id = ?2")?
                .query_row(params![id, message.thread_id], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?
                .ok_or(StoreError::ParentNotFound)?,
        ),
        ParentRef::External(external_id) => {
            let id = message_by_external_id(c, &message.thread_id, external_id)?
                .ok_or(StoreError::ParentExternalNotFound)?;
            Some(
                c.prepare_cached("SELECT id, height FROM messages WHERE id = ?1")?
                    .query_row([&id], |row| Ok((row.get(0)?, row.get(1)?)))?,
            )
        }
    };
    let (parent_id, height) = match parent {
        Some((id, height)) => (Some(id), height + 1),
        None => (None, 0),
    };
    let search_rowid = insert_search_entry(c, &message.id, &message.search_text)?;
    c.prepare_cached(
        "INSERT INTO messages (id, thread_id, parent_id, height, format, content, external_id, created_at, \
         updated_at, search_rowid) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9)",
    )?
    .execute(params![
        message.id,
        message.thread_id,
        parent_id,
        height,
        message.format,
        message.content,
        message.external_id,
        message.now,
        search_rowid
    ])?;
    threads::bump(c, &message.thread_id, message.now)?;
    super::dashboard::count_activity(c, &scope.project_id, message.now, Activity::Message, 1)?;
    if let Some(title) = &message.auto_title {
        c.prepare_cached("UPDATE threads SET title = ?2 WHERE id = ?1 AND title IS NULL")?
            .execute(params![message.thread_id, title])?;
    }
    if let Some(lease_id) = &message.open_lease {
        open_lease(c, lease_id, &message.id, &message.thread_id, message.now)?;
    }
    Ok(MessageWrite::Created(message.id.clone()))
}

/// The message of a thread that an external id names: the one stored under
/// that external id or, when there is none, the one whose server id it is.
/// After a reload a runtime knows every loaded message by its server id (spec
/// 5.4, 5.5), and the AI SDK runtime's transcript copy sends those ids as
/// `external_id` and `parent_external_id`; without the fallback each session
/// after a reload would store the loaded branch again as new rows.
fn message_by_external_id(c: &Connection, thread_id: &str, external_id: &str) -> StoreResult<Option<String>> {
    let by_external: Option<String> = c
        .prepare_cached("SELECT id FROM messages WHERE thread_id = ?1 AND external_id = ?2")?
        .query_row(params![thread_id, external_id], |row| row.get(0))
        .optional()?;
    if by_external.is_some() || !external_id.starts_with(IdKind::Message.prefix()) {
        return Ok(by_external);
    }
    Ok(c.prepare_cached("SELECT id FROM messages WHERE thread_id = ?1 AND id = ?2")?
        .query_row(params![thread_id, external_id], |row| row.get(0))
        .optional()?)
}

/// A repeated external id: the same body changes nothing, a new one replaces content and format.
fn replace_by_external_id(
    c: &Connection,
    message: &NewMessage,
    id: String,
    format: &str,
    content: &str,
    running: Option<bool>,
) -> StoreResult<MessageWrite> {
    if message.open_lease.is_some() && running == Some(true) {
        return Err(StoreError::RunInProgress);
    }
    let unchanged = format == message.format && content == message.content;
    if !unchanged {
        if role_of(content) != message.role {
            return Err(StoreError::RoleChanged);
        }
        c.prepare_cached("UPDATE messages SET format = ?2, content = ?3, updated_at = ?4 WHERE id = ?1")?
            .execute(params![id, message.format, message.content, message.now])?;
        update_search_entry(c, &id, &message.search_text)?;
        threads::bump(c, &message.thread_id, message.now)?;
    }
    if let Some(lease_id) = &message.open_lease {
        open_lease(c, lease_id, &id, &message.thread_id, message.now)?;
    }
    Ok(if unchanged { MessageWrite::Unchanged(id) } else { MessageWrite::Replaced(id) })
}

/// Adds a message's text to the search index and returns the `search_rowid`
/// linking it: 0 for a message without text (indexed, nothing to find).
///
/// The entry waits in `pending_message_search`, under the next free row id of
/// the index, until [`flush_search_queue`] moves the transaction's queue into
/// the index: FTS5 writes a segment at every savepoint, and each write of a
/// commit group has its own.
fn insert_search_entry(c: &Connection, message_id: &str, text: &str) -> StoreResult<i64> {
    if text.is_empty() {
        return Ok(0);
    }
    c.prepare_cached(
        "INSERT INTO pending_message_search (search_rowid, text, message_id) VALUES (max( \
             (SELECT coalesce(max(search_rowid), 0) FROM pending_message_search), \
             (SELECT coalesce(max(id), 0) FROM message_search_content)) + 1, ?1, ?2)",
    )?
    .execute(params![text, message_id])?;
    Ok(c.last_insert_rowid())
}

/// Moves the search entries queued in this transaction into the index; runs
/// before every commit of a transaction that may have written messages.
pub(super) fn flush_search_queue(c: &Connection) -> StoreResult<()> {
    c.prepare_cached(
        "INSERT INTO message_search (rowid, text, message_id) \
         SELECT search_rowid, text, message_id FROM pending_message_search ORDER BY search_rowid",
    )?
    .execute([])?;
    c.prepare_cached("DELETE FROM pending_message_search")?.execute([])?;
    Ok(())
}

/// Replaces a message's searchable text: its entry (in the index, or still
/// queued by this transaction) goes, and the new text is queued under a new row id.
fn update_search_entry(c: &Connection, message_id: &str, text: &str) -> StoreResult<()> {
    let current: i64 = c
        .prepare_cached("SELECT search_rowid FROM messages WHERE id = ?1")?
        .query_row([message_id], |row| row.get::<_, Option<i64>>(0))
        .optional()?
        .flatten()
        .unwrap_or(0);
    if current != 0 {
        c.prepare_cached("DELETE FROM message_search WHERE rowid = ?1")?.execute([current])?;
        c.prepare_cached("DELETE FROM pending_message_search WHERE search_rowid = ?1")?.execute([current])?;
    }
    let rowid = insert_search_entry(c, message_id, text)?;
    c.prepare_cached("UPDATE messages SET search_rowid = ?2 WHERE id = ?1")?.execute(params![message_id, rowid])?;
    Ok(())
}

/// The next messages without a search entry. The partial index
/// `messages_unindexed` holds exactly those rows in `id` order, so a batch
/// reads only what it indexes, and a fully indexed database costs one probe.
/// INDEXED BY, because SQLite's planner (no statistics) chose
/// `messages_by_search_rowid` and sorted every unindexed message, content
/// and all, for each batch: 0.1 s per batch at a million messages, most of
/// the time a catch-up took.
const UNINDEXED_BATCH: &str = "SELECT id, content FROM messages INDEXED BY messages_unindexed \
    WHERE search_rowid IS NULL ORDER BY id LIMIT ?1 + 0";

/// Indexes up to `batch` messages that have no search entry yet (databases
/// from before search, or rows written by other tools); returns how many.
pub(super) fn index_unindexed(c: &Connection, batch: u32) -> StoreResult<usize> {
    let pending: Vec<(String, String)> = c
        .prepare_cached(UNINDEXED_BATCH)?
        .query_map([i64::from(batch)], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (id, content) in &pending {
        let rowid = insert_search_entry(c, id, &threadhold_domain::search::search_text_of(content))?;
        c.prepare_cached("UPDATE messages SET search_rowid = ?2 WHERE id = ?1")?.execute(params![id, rowid])?;
    }
    Ok(pending.len())
}

/// Opens a running lease on a message and makes it the message's current run.
fn open_lease(c: &Connection, lease_id: &str, message_id: &str, thread_id: &str, now: Millis) -> StoreResult<()> {
    c.prepare_cached(
        "INSERT INTO run_leases (id, message_id, thread_id, running, created_at, last_heartbeat_at) \
         VALUES (?1, ?2, ?3, TRUE, ?4, ?4)",
    )?
    .execute(params![lease_id, message_id, thread_id, now])?;
    c.prepare_cached("UPDATE messages SET run_running = TRUE, run_heartbeat_at = ?2 WHERE id = ?1")?
        .execute(params![message_id, now])?;
    Ok(())
}

/// Replaces a message's content and searchable text; the thread counts as updated.
fn write_content(
    c: &Connection,
    thread_id: &str,
    message_id: &str,
    body: &MessageBody,
    now: Millis,
) -> StoreResult<()> {
    c.prepare_cached("UPDATE messages SET content = ?2, updated_at = ?3 WHERE id = ?1")?.execute(params![
        message_id,
        body.content,
        now
    ])?;
    update_search_entry(c, message_id, &body.search_text)?;
    c.prepare_cached("UPDATE threads SET updated_at = ?2 WHERE id = ?1")?.execute(params![thread_id, now])?;
    Ok(())
}

/// Records a beat of a running lease (on the lease and on its message's copy).
fn renew_lease(c: &Connection, lease_id: &str, message_id: &str, now: Millis) -> StoreResult<()> {
    c.prepare_cached("UPDATE run_leases SET last_heartbeat_at = ?2 WHERE id = ?1")?.execute(params![lease_id, now])?;
    c.prepare_cached("UPDATE messages SET run_heartbeat_at = ?2 WHERE id = ?1")?.execute(params![message_id, now])?;
    Ok(())
}

/// Ends the running lease of a message with `reason`.
fn close_lease(c: &Connection, message_id: &str, reason: &str, now: Millis) -> StoreResult<()> {
    c.prepare_cached(
        "UPDATE run_leases SET running = FALSE, end_reason = ?2, ended_at = ?3 WHERE message_id = ?1 AND running",
    )?
    .execute(params![message_id, reason, now])?;
    c.prepare_cached("UPDATE messages SET run_running = FALSE WHERE id = ?1")?.execute([message_id])?;
    Ok(())
}

/// The message and running flag of a lease in this thread, or [`StoreError::RunNotFound`].
fn lease_in_thread(c: &Connection, thread_id: &str, lease_id: &str) -> StoreResult<(String, bool)> {
    c.prepare_cached("SELECT message_id, running FROM run_leases WHERE id = ?1 AND thread_id = ?2")?
        .query_row(params![lease_id, thread_id], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?
        .ok_or(StoreError::RunNotFound)
}

/// A lease route's thread check: an unknown or foreign thread means an unknown lease (404).
fn lease_thread_in_scope(c: &Connection, scope: &WorkspaceScope, thread_id: &str) -> StoreResult<()> {
    match threads::require_in_scope(c, scope, thread_id) {
        Err(StoreError::ThreadNotFound) => Err(StoreError::RunNotFound),
        other => other,
    }
}

pub(super) fn update_content(
    c: &Connection,
    scope: &WorkspaceScope,
    thread_id: &str,
    message_id: &str,
    body: &MessageBody,
    now: Millis,
    policy: LeasePolicy,
) -> StoreResult<()> {
    threads::require_in_scope(c, scope, thread_id)?;
    let (running, heartbeat_at): (Option<bool>, Option<i64>) = c
        .prepare_cached("SELECT run_running, run_heartbeat_at FROM messages WHERE id = ?1 AND thread_id = ?2")?
        .query_row(params![message_id, thread_id], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?
        .ok_or(StoreError::MessageNotFound)?;
    let run = running.zip(heartbeat_at).map(|(running, last_heartbeat_at)| RunState { running, last_heartbeat_at });
    match plain_write(run, now, policy) {
        PlainWrite::Allowed => {}
        PlainWrite::Refused => return Err(StoreError::RunInProgress),
        PlainWrite::EndsAbandonedLease => close_lease(c, message_id, ABANDONED, now)?,
    }
    write_content(c, thread_id, message_id, body, now)
}

pub(super) fn write_as_lease_holder(
    c: &Connection,
    scope: &WorkspaceScope,
    thread_id: &str,
    target: &LeaseTarget,
    lease_id: &str,
    body: &MessageBody,
    now: Millis,
) -> StoreResult<String> {
    threads::require_in_scope(c, scope, thread_id)?;
    let (lease_message, running) = lease_in_thread(c, thread_id, lease_id)?;
    let message_id = match target {
        LeaseTarget::Id(id) => id.clone(),
        LeaseTarget::External(external_id) => c
            .prepare_cached("SELECT id FROM messages WHERE thread_id = ?1 AND external_id = ?2")?
            .query_row(params![thread_id, external_id], |row| row.get(0))
            .optional()?
            .ok_or(StoreError::LeaseMismatch)?,
    };
    if message_id != lease_message {
        return Err(StoreError::LeaseMismatch);
    }
    if !running {
        return Err(StoreError::RunEnded);
    }
    // A holder's write counts as a beat.
    write_content(c, thread_id, &message_id, body, now)?;
    renew_lease(c, lease_id, &message_id, now)?;
    Ok(message_id)
}

pub(super) fn get_run_lease(c: &Connection, lease_id: &str) -> StoreResult<Option<RunLease>> {
    Ok(c.prepare_cached(
        "SELECT id, message_id, running, end_reason, created_at, last_heartbeat_at, ended_at FROM run_leases WHERE id = ?1",
    )?
    .query_row([lease_id], |row| {
        Ok(RunLease {
            id: row.get(0)?,
            message_id: row.get(1)?,
            running: row.get(2)?,
            end_reason: row.get(3)?,
            created_at: row.get(4)?,
            last_heartbeat_at: row.get(5)?,
            ended_at: row.get(6)?,
        })
    })
    .optional()?)
}

pub(super) fn heartbeat(
    c: &Connection,
    scope: &WorkspaceScope,
    thread_id: &str,
    lease_id: &str,
    now: Millis,
) -> StoreResult<()> {
    lease_thread_in_scope(c, scope, thread_id)?;
    let (message_id, running) = lease_in_thread(c, thread_id, lease_id)?;
    if !running {
        return Err(StoreError::RunEnded);
    }
    renew_lease(c, lease_id, &message_id, now)
}

pub(super) fn end_run(
    c: &Connection,
    scope: &WorkspaceScope,
    thread_id: &str,
    lease_id: &str,
    reason: &str,
    now: Millis,
) -> StoreResult<()> {
    lease_thread_in_scope(c, scope, thread_id)?;
    let (message_id, running) = lease_in_thread(c, thread_id, lease_id)?;
    // A message has at most one running lease, so this closes exactly this one.
    if running {
        close_lease(c, &message_id, reason, now)?;
    }
    Ok(())
}

/// Deletes the named messages and every descendant; returns how many of the named ids existed.
pub(super) fn delete(c: &Connection, scope: &WorkspaceScope, thread_id: &str, ids: &[String]) -> StoreResult<u64> {
    threads::require_in_scope(c, scope, thread_id)?;
    let ids = serde_json::to_string(ids).map_err(|error| StoreError::Database(error.to_string()))?;
    let named: i64 = c
        .prepare_cached(
            "SELECT COUNT(*) FROM messages WHERE thread_id = ?1 AND id IN (SELECT value FROM json_each(?2))",
        )?
        .query_row(params![thread_id, ids], |row| row.get(0))?;
    // The named messages and every descendant, found by walking parent links.
    const DOOMED: &str = "WITH RECURSIVE doomed(id) AS ( \
           SELECT id FROM messages WHERE thread_id = ?1 AND id IN (SELECT value FROM json_each(?2)) \
           UNION SELECT m.id FROM messages m JOIN doomed d ON m.parent_id = d.id) ";
    c.prepare_cached(&format!("{DOOMED} DELETE FROM feedback WHERE message_id IN (SELECT id FROM doomed)"))?
        .execute(params![thread_id, ids])?;
    c.prepare_cached(&format!("{DOOMED} DELETE FROM messages WHERE id IN (SELECT id FROM doomed)"))?
        .execute(params![thread_id, ids])?;
    Ok(u64::try_from(named).unwrap_or(0))
}

#[allow(clippy::too_many_arguments)]
pub(super) fn upsert_feedback(
    c: &Connection,
    scope: &WorkspaceScope,
    thread_id: &str,
    message_id: &str,
    user_id: &str,
    kind: FeedbackKind,
    comment: Option<&str>,
    now: Millis,
) -> StoreResult<Feedback> {
    threads::require_in_scope(c, scope, thread_id)?;
    let exists = c
        .prepare_cached("SELECT 1 FROM messages WHERE id = ?1 AND thread_id = ?2")?
        .exists(params![message_id, thread_id])?;
    if !exists {
        return Err(StoreError::MessageNotFound);
    }
    // Same rating without a comment keeps the stored comment; a new rating without one clears it.
    let (id, stored_kind, stored_comment): (String, String, Option<String>) = c
        .prepare_cached(
            "INSERT INTO feedback (id, message_id, user_id, kind, comment, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) \
             ON CONFLICT (message_id, user_id) DO UPDATE SET \
               comment = CASE WHEN excluded.comment IS NOT NULL THEN excluded.comment \
                              WHEN feedback.kind = excluded.kind THEN feedback.comment ELSE NULL END, \
               kind = excluded.kind, updated_at = excluded.updated_at \
             RETURNING id, kind, comment",
        )?
        .query_row(params![new_id(IdKind::Feedback), message_id, user_id, kind.as_str(), comment, now], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?;
    let kind = FeedbackKind::parse(&stored_kind)
        .ok_or_else(|| StoreError::Database(format!("stored feedback kind {stored_kind:?} is unknown")))?;
    Ok(Feedback { id, kind, comment: stored_comment })
}

/// Inserts a message as exported elsewhere; its thread (and parent) must exist. False when its id exists.
pub(super) fn import(c: &Connection, message: &Message, search_text: &str) -> StoreResult<bool> {
    let exists = c.prepare_cached("SELECT 1 FROM messages WHERE id = ?1")?.exists([&message.id])?;
    if exists {
        return Ok(false);
    }
    let search_rowid = insert_search_entry(c, &message.id, search_text)?;
    c.prepare_cached(
        "INSERT INTO messages (id, thread_id, parent_id, height, format, content, external_id, created_at, \
         updated_at, search_rowid) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        message.id,
        message.thread_id,
        message.parent_id,
        message.height,
        message.format,
        message.content,
        message.external_id,
        message.created_at,
        message.updated_at,
        search_rowid
    ])?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_of_unindexed_messages_reads_the_partial_index_in_order() -> StoreResult<()> {
        let mut c = Connection::open_in_memory()?;
        crate::migrate::run_sqlite(&mut c)?;
        let plan: Vec<String> = c
            .prepare(&format!("EXPLAIN QUERY PLAN {UNINDEXED_BATCH}"))?
            .query_map([500], |row| row.get(3))?
            .collect::<Result<_, _>>()?;
        assert_eq!(plan, ["SCAN messages USING INDEX messages_unindexed"], "no sort of every unindexed message");
        Ok(())
    }

    fn add_message(c: &Connection, id: &str, text: &str) -> StoreResult<()> {
        let rowid = insert_search_entry(c, id, text)?;
        c.execute(
            "INSERT INTO messages (id, thread_id, height, format, content, created_at, updated_at, search_rowid) \
             VALUES (?1, 'thread_1', 0, 'aui/v0', '{}', 0, 0, ?2)",
            params![id, rowid],
        )?;
        Ok(())
    }

    /// The entries a transaction queues reach the index at its end, whatever
    /// its savepoints did to them meanwhile: a rewrite replaces the queued
    /// text, a rolled-back write and a deleted message leave nothing behind.
    #[test]
    fn queued_search_entries_follow_their_savepoints_into_the_index() -> StoreResult<()> {
        let mut c = Connection::open_in_memory()?;
        crate::migrate::run_sqlite(&mut c)?;
        // Messages without their thread and project: only the search entries matter here.
        c.execute_batch("PRAGMA foreign_keys = OFF; BEGIN; SAVEPOINT w")?;
        add_message(&c, "message_kept", "a kumquat")?;
        c.execute_batch("RELEASE w; SAVEPOINT w")?;
        update_search_entry(&c, "message_kept", "a papaya")?;
        c.execute_batch("RELEASE w; SAVEPOINT w")?;
        add_message(&c, "message_rolled_back", "a durian")?;
        c.execute_batch("ROLLBACK TO w; RELEASE w; SAVEPOINT w")?;
        add_message(&c, "message_deleted", "a mango")?;
        c.execute("DELETE FROM messages WHERE id = 'message_deleted'", [])?;
        c.execute_batch("RELEASE w")?;
        flush_search_queue(&c)?;
        c.execute_batch("COMMIT")?;

        let entries: Vec<(String, String)> = c
            .prepare("SELECT s.message_id, s.text FROM message_search s JOIN messages m ON m.search_rowid = s.rowid")?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?;
        assert_eq!(entries, [("message_kept".to_owned(), "a papaya".to_owned())]);
        let count = |sql: &str| c.query_row(sql, [], |row| row.get::<_, i64>(0));
        assert_eq!(count("SELECT count(*) FROM message_search")?, 1, "no entry without its message");
        assert_eq!(count("SELECT count(*) FROM pending_message_search")?, 0);

        // A later transaction's entries take row ids after the index's.
        c.execute_batch("BEGIN")?;
        add_message(&c, "message_later", "a kumquat again")?;
        flush_search_queue(&c)?;
        c.execute_batch("COMMIT")?;
        assert_eq!(count("SELECT count(*) FROM message_search WHERE message_search MATCH 'kumquat'")?, 1);
        assert_eq!(count("SELECT count(DISTINCT search_rowid) FROM messages")?, 2);
        Ok(())
    }
}
