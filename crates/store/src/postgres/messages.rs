//! Messages: keyset pages, creates with external-id idempotency, content
//! writes under the run-lease rules, deletes of subtrees, feedback, and the
//! search entry each message keeps. Writes lock the thread's row first, so
//! writers on several nodes take turns per thread.

use sqlx::PgConnection;
use threadhold_domain::Millis;
use threadhold_domain::dashboard::day_of;
use threadhold_domain::ids::{IdKind, new_id};
use threadhold_domain::model::{
    Feedback, FeedbackKind, LeaseTarget, Message, MessageBody, MessageWrite, NewMessage, ParentRef, WorkspaceScope,
};
use threadhold_domain::runs::{ABANDONED, LeasePolicy, PlainWrite, RunLease, RunState, plain_write};

use super::limited;
use super::rows::{self, message_columns};
use super::threads;
use crate::shared::role_of;
use crate::{ReadScope, StoreError, StoreResult};

/// A page in the contract's order (height, then created_at, then id, all descending).
/// A thread outside the scope, or an unknown cursor, gives an empty page.
pub(super) async fn list(
    c: &mut PgConnection,
    scope: &ReadScope,
    thread_id: &str,
    after: Option<&str>,
    limit: u32,
) -> StoreResult<Vec<Message>> {
    if threads::get(c, scope, thread_id).await?.is_none() {
        return Ok(Vec::new());
    }
    let found = match after {
        None => {
            sqlx::query(limited(
                concat!(
                    "SELECT ",
                    message_columns!(),
                    " FROM messages WHERE thread_id = $1 ORDER BY height DESC, created_at DESC, id DESC"
                ),
                limit,
            ))
            .bind(thread_id)
            .fetch_all(c)
            .await?
        }
        Some(after) => {
            sqlx::query(limited(
                concat!(
                    "SELECT ",
                    message_columns!(),
                    " FROM messages WHERE thread_id = $1 AND (height, created_at, id) < \
                   (SELECT height, created_at, id FROM messages WHERE id = $2 AND thread_id = $1) \
                 ORDER BY height DESC, created_at DESC, id DESC"
                ),
                limit,
            ))
            .bind(thread_id)
            .bind(after)
            .fetch_all(c)
            .await?
        }
    };
    Ok(found.iter().map(rows::message).collect::<Result<_, _>>()?)
}

/// Whether a create reads the thread's messages by external id before it
/// writes: its own external id (a repeat replaces its message) or its parent's.
fn looks_up_external_ids(message: &NewMessage) -> bool {
    message.external_id.is_some() || matches!(message.parent, ParentRef::External(_))
}

/// Whether a create must run in a transaction of several statements: it looks
/// up external ids, or it opens a run lease. Every other create is written by
/// one statement, together with the creates queued beside it
/// ([`super::create_groups`]).
pub(super) fn needs_transaction(message: &NewMessage) -> bool {
    looks_up_external_ids(message) || message.open_lease.is_some()
}

/// Creates a message in the caller's transaction (see [`needs_transaction`]).
pub(super) async fn create(
    c: &mut PgConnection,
    scope: &WorkspaceScope,
    message: &NewMessage,
) -> StoreResult<MessageWrite> {
    if looks_up_external_ids(message) {
        // Lookups and the write under the thread's lock, so a repeat waits for its first.
        threads::require_in_scope(c, scope, &message.thread_id).await?;
    }
    if let Some(external_id) = &message.external_id
        && let Some(id) = message_by_external_id(c, &message.thread_id, external_id).await?
    {
        let (format, content, running): (String, String, Option<bool>) =
            sqlx::query_as("SELECT format, content, run_running FROM messages WHERE id = $1")
                .bind(&id)
                .fetch_one(&mut *c)
                .await?;
        return replace_by_external_id(c, message, id, &format, &content, running).await;
    }
    let parent_id = match &message.parent {
        ParentRef::Root => None,
        ParentRef::Id(id) => Some(id.clone()),
        ParentRef::External(external_id) => Some(
            message_by_external_id(c, &message.thread_id, external_id)
                .await?
                .ok_or(StoreError::ParentExternalNotFound)?,
        ),
    };
    insert(c, scope, message, parent_id.as_deref()).await?;
    if let Some(lease_id) = &message.open_lease {
        open_lease(c, lease_id, &message.id, &message.thread_id, message.now).await?;
    }
    Ok(MessageWrite::Created(message.id.clone()))
}

/// The statements that write a new message, with `$lock` how the thread's
/// row is locked: one for a root and one for a child. With one statement and
/// a NULL parent, PostgreSQL's custom plan folds the parent's lookup away,
/// always looks cheaper than the generic plan, and so the statement was
/// planned again at every create.
macro_rules! insert_message {
    ($lock:literal) => {
        (
            insert_message!($lock, "SELECT 0::bigint AS height"),
            insert_message!($lock, "SELECT height + 1 AS height FROM messages WHERE id = $3 AND thread_id = $2"),
        )
    };
    ($lock:literal, $parent:literal) => {
        concat!(
            // The thread's lock: writers of one thread take turns, on every node.
            "WITH thread AS (SELECT id FROM threads WHERE id = $2 AND project_id = $9 AND workspace_id = $12 ",
            $lock,
            "), \
             parent AS (",
            $parent,
            "), \
             inserted AS ( \
               INSERT INTO messages (id, thread_id, parent_id, height, format, content, external_id, created_at, \
                 updated_at, search_indexed) \
               SELECT $1, $2, $3, parent.height, $4, $5, $6, $7, $7, TRUE FROM thread, parent RETURNING id), \
             searchable AS (INSERT INTO message_search (message_id, text, thread_id, created_at) \
               SELECT id, $8, $2, $7 FROM inserted WHERE $8 <> ''), \
             counted AS (INSERT INTO activity_log (project_id, day, messages) SELECT $9, $10, 1 FROM inserted), \
             bumped AS (UPDATE threads SET last_message_at = GREATEST(last_message_at, $7), updated_at = $7, \
               title = COALESCE(title, $11) WHERE id = $2 AND EXISTS (SELECT 1 FROM inserted)) \
             SELECT EXISTS (SELECT 1 FROM thread), \
               EXISTS (SELECT 1 FROM thread) \
                 OR EXISTS (SELECT 1 FROM threads WHERE id = $2 AND project_id = $9 AND workspace_id = $12), \
               EXISTS (SELECT 1 FROM inserted)"
        )
    };
}

/// How a create's statement takes its thread's lock when another transaction holds it.
#[derive(Clone, Copy)]
enum ThreadLock {
    Wait,
    /// Writes nothing and answers that the thread is busy.
    Skip,
}

/// What a create's statement answered: whether it locked the thread, whether
/// the thread is in the scope at all (seen as the statement began), and
/// whether the message was written.
pub(super) type InsertAnswer = (bool, bool, bool);

/// Writes a new message, its search entry, the day's activity count and the
/// thread's bump (and first title) in one statement, under the thread's lock.
/// The foreign key of the search entry is checked at the statement's end,
/// when the message row is there.
pub(super) async fn insert(
    c: &mut PgConnection,
    scope: &WorkspaceScope,
    message: &NewMessage,
    parent_id: Option<&str>,
) -> StoreResult<()> {
    // A thread deleted while this create waited for its lock is still in the
    // statement's snapshot, but not locked: only the lock counts.
    let (locked, _, written) = run_insert(c, scope, message, parent_id, ThreadLock::Wait).await?;
    outcome(locked, written)
}

/// [`insert`], unless another transaction holds the thread's lock: then
/// nothing is written and the answer is `None`.
pub(super) async fn insert_unless_busy(
    c: &mut PgConnection,
    scope: &WorkspaceScope,
    message: &NewMessage,
    parent_id: Option<&str>,
) -> StoreResult<Option<StoreResult<()>>> {
    Ok(insert_outcome(run_insert(c, scope, message, parent_id, ThreadLock::Skip).await?))
}

async fn run_insert(
    c: &mut PgConnection,
    scope: &WorkspaceScope,
    message: &NewMessage,
    parent_id: Option<&str>,
    lock: ThreadLock,
) -> StoreResult<InsertAnswer> {
    let (root, child) = match lock {
        ThreadLock::Wait => insert_message!("FOR UPDATE"),
        ThreadLock::Skip => insert_message!("FOR UPDATE SKIP LOCKED"),
    };
    Ok(sqlx::query_as(if parent_id.is_some() { child } else { root })
        .bind(&message.id)
        .bind(&message.thread_id)
        .bind(parent_id)
        .bind(&message.format)
        .bind(&message.content)
        .bind(&message.external_id)
        .bind(message.now)
        .bind(&message.search_text)
        .bind(&scope.project_id)
        .bind(day_of(message.now))
        .bind(&message.auto_title)
        .bind(&scope.workspace_id)
        .fetch_one(c)
        .await?)
}

/// A create's result from a statement that skips busy threads; `None` when its thread was busy.
pub(super) fn insert_outcome((locked, found, written): InsertAnswer) -> Option<StoreResult<()>> {
    (locked || !found).then(|| outcome(locked, written))
}

fn outcome(locked: bool, written: bool) -> StoreResult<()> {
    match (locked, written) {
        (_, true) => Ok(()),
        (false, false) => Err(StoreError::ThreadNotFound),
        (true, false) => Err(StoreError::ParentNotFound),
    }
}

/// The message of a thread that an external id names: the one stored under
/// that external id or, when there is none, the one whose server id it is.
/// After a reload a runtime knows every loaded message by its server id (spec
/// 5.4, 5.5), and the AI SDK runtime's transcript copy sends those ids as
/// `external_id` and `parent_external_id`; without the fallback each session
/// after a reload would store the loaded branch again as new rows.
async fn message_by_external_id(
    c: &mut PgConnection,
    thread_id: &str,
    external_id: &str,
) -> StoreResult<Option<String>> {
    let by_external: Option<String> =
        sqlx::query_scalar("SELECT id FROM messages WHERE thread_id = $1 AND external_id = $2")
            .bind(thread_id)
            .bind(external_id)
            .fetch_optional(&mut *c)
            .await?;
    if by_external.is_some() || !external_id.starts_with(IdKind::Message.prefix()) {
        return Ok(by_external);
    }
    Ok(sqlx::query_scalar("SELECT id FROM messages WHERE thread_id = $1 AND id = $2")
        .bind(thread_id)
        .bind(external_id)
        .fetch_optional(c)
        .await?)
}

/// A repeated external id: the same body changes nothing, a new one replaces content and format.
async fn replace_by_external_id(
    c: &mut PgConnection,
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
        sqlx::query("UPDATE messages SET format = $2, content = $3, updated_at = $4 WHERE id = $1")
            .bind(&id)
            .bind(&message.format)
            .bind(&message.content)
            .bind(message.now)
            .execute(&mut *c)
            .await?;
        set_search_entry(c, &id, &message.search_text).await?;
        threads::bump(c, &message.thread_id, message.now).await?;
    }
    if let Some(lease_id) = &message.open_lease {
        open_lease(c, lease_id, &id, &message.thread_id, message.now).await?;
    }
    Ok(if unchanged { MessageWrite::Unchanged(id) } else { MessageWrite::Replaced(id) })
}

/// Sets a message's searchable text, with its thread and creation time (a
/// message without text has no entry).
async fn set_search_entry(c: &mut PgConnection, message_id: &str, text: &str) -> StoreResult<()> {
    if text.is_empty() {
        sqlx::query("DELETE FROM message_search WHERE message_id = $1").bind(message_id).execute(c).await?;
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO message_search (message_id, text, thread_id, created_at) \
         SELECT id, $2, thread_id, created_at FROM messages WHERE id = $1 \
         ON CONFLICT (message_id) DO UPDATE SET text = excluded.text, thread_id = excluded.thread_id, \
           created_at = excluded.created_at",
    )
    .bind(message_id)
    .bind(text)
    .execute(c)
    .await?;
    Ok(())
}

/// Indexes up to `batch` messages after the id `after` that have no search
/// entry yet (databases from before search, or rows written by other tools)
/// in three statements; returns how many and the last id, where the next
/// batch starts.
pub(super) async fn index_unindexed(c: &mut PgConnection, after: &str, batch: u32) -> StoreResult<(usize, String)> {
    let pending: Vec<(String, String, String, Millis)> = sqlx::query_as(
        "SELECT id, content, thread_id, created_at FROM messages WHERE id > $1 AND NOT search_indexed \
         ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(after)
    .bind(i64::from(batch))
    .fetch_all(&mut *c)
    .await?;
    let mut ids = Vec::with_capacity(pending.len());
    let mut texts = Vec::with_capacity(pending.len());
    let mut thread_ids = Vec::with_capacity(pending.len());
    let mut created = Vec::with_capacity(pending.len());
    for (id, content, thread_id, created_at) in pending {
        texts.push(threadhold_domain::search::search_text_of(&content));
        ids.push(id);
        thread_ids.push(thread_id);
        created.push(created_at);
    }
    sqlx::query(
        "INSERT INTO message_search (message_id, text, thread_id, created_at) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[]) \
         ON CONFLICT (message_id) DO UPDATE SET text = excluded.text, thread_id = excluded.thread_id, \
           created_at = excluded.created_at",
    )
    .bind(&ids)
    .bind(&texts)
    .bind(&thread_ids)
    .bind(&created)
    .execute(&mut *c)
    .await?;
    sqlx::query("UPDATE messages SET search_indexed = TRUE WHERE id = ANY($1)").bind(&ids).execute(&mut *c).await?;
    let last = ids.last().cloned().unwrap_or_else(|| after.to_owned());
    Ok((ids.len(), last))
}

/// Opens a running lease on a message and makes it the message's current run.
async fn open_lease(
    c: &mut PgConnection,
    lease_id: &str,
    message_id: &str,
    thread_id: &str,
    now: Millis,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO run_leases (id, message_id, thread_id, running, created_at, last_heartbeat_at) \
         VALUES ($1, $2, $3, TRUE, $4, $4)",
    )
    .bind(lease_id)
    .bind(message_id)
    .bind(thread_id)
    .bind(now)
    .execute(&mut *c)
    .await?;
    sqlx::query("UPDATE messages SET run_running = TRUE, run_heartbeat_at = $2 WHERE id = $1")
        .bind(message_id)
        .bind(now)
        .execute(c)
        .await?;
    Ok(())
}

/// Replaces a message's content and searchable text; the thread counts as updated.
async fn write_content(
    c: &mut PgConnection,
    thread_id: &str,
    message_id: &str,
    body: &MessageBody,
    now: Millis,
) -> StoreResult<()> {
    sqlx::query("UPDATE messages SET content = $2, updated_at = $3 WHERE id = $1")
        .bind(message_id)
        .bind(&body.content)
        .bind(now)
        .execute(&mut *c)
        .await?;
    set_search_entry(c, message_id, &body.search_text).await?;
    sqlx::query("UPDATE threads SET updated_at = $2 WHERE id = $1").bind(thread_id).bind(now).execute(c).await?;
    Ok(())
}

/// Records a beat of a running lease (on the lease and on its message's copy).
async fn renew_lease(c: &mut PgConnection, lease_id: &str, message_id: &str, now: Millis) -> StoreResult<()> {
    sqlx::query("UPDATE run_leases SET last_heartbeat_at = $2 WHERE id = $1")
        .bind(lease_id)
        .bind(now)
        .execute(&mut *c)
        .await?;
    sqlx::query("UPDATE messages SET run_heartbeat_at = $2 WHERE id = $1")
        .bind(message_id)
        .bind(now)
        .execute(c)
        .await?;
    Ok(())
}

/// Ends the running lease of a message with `reason`.
async fn close_lease(c: &mut PgConnection, message_id: &str, reason: &str, now: Millis) -> StoreResult<()> {
    sqlx::query(
        "UPDATE run_leases SET running = FALSE, end_reason = $2, ended_at = $3 WHERE message_id = $1 AND running",
    )
    .bind(message_id)
    .bind(reason)
    .bind(now)
    .execute(&mut *c)
    .await?;
    sqlx::query("UPDATE messages SET run_running = FALSE WHERE id = $1").bind(message_id).execute(c).await?;
    Ok(())
}

/// The message and running flag of a lease in this thread, or [`StoreError::RunNotFound`].
async fn lease_in_thread(c: &mut PgConnection, thread_id: &str, lease_id: &str) -> StoreResult<(String, bool)> {
    sqlx::query_as("SELECT message_id, running FROM run_leases WHERE id = $1 AND thread_id = $2")
        .bind(lease_id)
        .bind(thread_id)
        .fetch_optional(c)
        .await?
        .ok_or(StoreError::RunNotFound)
}

/// A lease route's thread check: an unknown or foreign thread means an unknown lease (404).
async fn lease_thread_in_scope(c: &mut PgConnection, scope: &WorkspaceScope, thread_id: &str) -> StoreResult<()> {
    match threads::require_in_scope(c, scope, thread_id).await {
        Err(StoreError::ThreadNotFound) => Err(StoreError::RunNotFound),
        other => other,
    }
}

pub(super) async fn update_content(
    c: &mut PgConnection,
    scope: &WorkspaceScope,
    thread_id: &str,
    message_id: &str,
    body: &MessageBody,
    now: Millis,
    policy: LeasePolicy,
) -> StoreResult<()> {
    threads::require_in_scope(c, scope, thread_id).await?;
    let (running, heartbeat_at): (Option<bool>, Option<i64>) =
        sqlx::query_as("SELECT run_running, run_heartbeat_at FROM messages WHERE id = $1 AND thread_id = $2")
            .bind(message_id)
            .bind(thread_id)
            .fetch_optional(&mut *c)
            .await?
            .ok_or(StoreError::MessageNotFound)?;
    let run = running.zip(heartbeat_at).map(|(running, last_heartbeat_at)| RunState { running, last_heartbeat_at });
    match plain_write(run, now, policy) {
        PlainWrite::Allowed => {}
        PlainWrite::Refused => return Err(StoreError::RunInProgress),
        PlainWrite::EndsAbandonedLease => close_lease(c, message_id, ABANDONED, now).await?,
    }
    write_content(c, thread_id, message_id, body, now).await
}

pub(super) async fn write_as_lease_holder(
    c: &mut PgConnection,
    scope: &WorkspaceScope,
    thread_id: &str,
    target: &LeaseTarget,
    lease_id: &str,
    body: &MessageBody,
    now: Millis,
) -> StoreResult<String> {
    threads::require_in_scope(c, scope, thread_id).await?;
    let (lease_message, running) = lease_in_thread(c, thread_id, lease_id).await?;
    let message_id = match target {
        LeaseTarget::Id(id) => id.clone(),
        LeaseTarget::External(external_id) => {
            sqlx::query_scalar("SELECT id FROM messages WHERE thread_id = $1 AND external_id = $2")
                .bind(thread_id)
                .bind(external_id)
                .fetch_optional(&mut *c)
                .await?
                .ok_or(StoreError::LeaseMismatch)?
        }
    };
    if message_id != lease_message {
        return Err(StoreError::LeaseMismatch);
    }
    if !running {
        return Err(StoreError::RunEnded);
    }
    // A holder's write counts as a beat.
    write_content(c, thread_id, &message_id, body, now).await?;
    renew_lease(c, lease_id, &message_id, now).await?;
    Ok(message_id)
}

pub(super) async fn get_run_lease(c: &mut PgConnection, lease_id: &str) -> StoreResult<Option<RunLease>> {
    type LeaseRow = (String, String, bool, Option<String>, i64, i64, Option<i64>);
    let row: Option<LeaseRow> = sqlx::query_as(
        "SELECT id, message_id, running, end_reason, created_at, last_heartbeat_at, ended_at FROM run_leases WHERE id = $1",
    )
    .bind(lease_id)
    .fetch_optional(c)
    .await?;
    Ok(row.map(|(id, message_id, running, end_reason, created_at, last_heartbeat_at, ended_at)| RunLease {
        id,
        message_id,
        running,
        end_reason,
        created_at,
        last_heartbeat_at,
        ended_at,
    }))
}

pub(super) async fn heartbeat(
    c: &mut PgConnection,
    scope: &WorkspaceScope,
    thread_id: &str,
    lease_id: &str,
    now: Millis,
) -> StoreResult<()> {
    lease_thread_in_scope(c, scope, thread_id).await?;
    let (message_id, running) = lease_in_thread(c, thread_id, lease_id).await?;
    if !running {
        return Err(StoreError::RunEnded);
    }
    renew_lease(c, lease_id, &message_id, now).await
}

pub(super) async fn end_run(
    c: &mut PgConnection,
    scope: &WorkspaceScope,
    thread_id: &str,
    lease_id: &str,
    reason: &str,
    now: Millis,
) -> StoreResult<()> {
    lease_thread_in_scope(c, scope, thread_id).await?;
    let (message_id, running) = lease_in_thread(c, thread_id, lease_id).await?;
    // A message has at most one running lease, so this closes exactly this one.
    if running {
        close_lease(c, &message_id, reason, now).await?;
    }
    Ok(())
}

/// Deletes the named messages and every descendant; returns how many of the named ids existed.
pub(super) async fn delete(
    c: &mut PgConnection,
    scope: &WorkspaceScope,
    thread_id: &str,
    ids: &[String],
) -> StoreResult<u64> {
    threads::require_in_scope(c, scope, thread_id).await?;
    let named: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE thread_id = $1 AND id = ANY($2)")
        .bind(thread_id)
        .bind(ids)
        .fetch_one(&mut *c)
        .await?;
    // The named messages and every descendant, found by walking parent links.
    const DOOMED: &str = "WITH RECURSIVE doomed(id) AS ( \
           SELECT id FROM messages WHERE thread_id = $1 AND id = ANY($2) \
           UNION SELECT m.id FROM messages m JOIN doomed d ON m.parent_id = d.id) ";
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "{DOOMED} DELETE FROM feedback WHERE message_id IN (SELECT id FROM doomed)"
    )))
    .bind(thread_id)
    .bind(ids)
    .execute(&mut *c)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("{DOOMED} DELETE FROM messages WHERE id IN (SELECT id FROM doomed)")))
        .bind(thread_id)
        .bind(ids)
        .execute(c)
        .await?;
    Ok(u64::try_from(named).unwrap_or(0))
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn upsert_feedback(
    c: &mut PgConnection,
    scope: &WorkspaceScope,
    thread_id: &str,
    message_id: &str,
    user_id: &str,
    kind: FeedbackKind,
    comment: Option<&str>,
    now: Millis,
) -> StoreResult<Feedback> {
    threads::require_in_scope(c, scope, thread_id).await?;
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM messages WHERE id = $1 AND thread_id = $2")
        .bind(message_id)
        .bind(thread_id)
        .fetch_optional(&mut *c)
        .await?;
    if exists.is_none() {
        return Err(StoreError::MessageNotFound);
    }
    // Same rating without a comment keeps the stored comment; a new rating without one clears it.
    let (id, stored_kind, stored_comment): (String, String, Option<String>) = sqlx::query_as(
        "INSERT INTO feedback (id, message_id, user_id, kind, comment, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6) \
         ON CONFLICT (message_id, user_id) DO UPDATE SET \
           comment = CASE WHEN excluded.comment IS NOT NULL THEN excluded.comment \
                          WHEN feedback.kind = excluded.kind THEN feedback.comment ELSE NULL END, \
           kind = excluded.kind, updated_at = excluded.updated_at \
         RETURNING id, kind, comment",
    )
    .bind(new_id(IdKind::Feedback))
    .bind(message_id)
    .bind(user_id)
    .bind(kind.as_str())
    .bind(comment)
    .bind(now)
    .fetch_one(c)
    .await?;
    let kind = FeedbackKind::parse(&stored_kind)
        .ok_or_else(|| StoreError::Database(format!("stored feedback kind {stored_kind:?} is unknown")))?;
    Ok(Feedback { id, kind, comment: stored_comment })
}

/// Inserts a message as exported elsewhere; its thread (and parent) must exist. False when its id exists.
pub(super) async fn import(c: &mut PgConnection, message: &Message, search_text: &str) -> StoreResult<bool> {
    let inserted = sqlx::query(
        "INSERT INTO messages (id, thread_id, parent_id, height, format, content, external_id, created_at, updated_at, \
         search_indexed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, TRUE) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&message.id)
    .bind(&message.thread_id)
    .bind(&message.parent_id)
    .bind(message.height)
    .bind(&message.format)
    .bind(&message.content)
    .bind(&message.external_id)
    .bind(message.created_at)
    .bind(message.updated_at)
    .execute(&mut *c)
    .await?
    .rows_affected();
    if inserted == 1 {
        set_search_entry(c, &message.id, search_text).await?;
    }
    Ok(inserted == 1)
}
