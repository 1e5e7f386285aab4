//! Plain message creates, written in groups.
//!
//! Most creates are plain: no external id to look up, no run lease to open,
//! one statement. On PostgreSQL each such statement pays for its own commit,
//! its thread's lock and its thread's bump (an update of a row that three
//! listing indexes hold). One writer task per node takes the plain creates
//! queued at that moment and writes them in one statement: one commit, and
//! one lock and one bump per thread, for the whole group. When it finds a
//! single create queued it writes it with the one-message statement, so a
//! quiet node answers as fast as without groups.
//!
//! One writer, not several: with 64 writers, two to four group writers gave
//! the same creates per second on threads of their own and 20-50% fewer on
//! one shared thread, where their groups waited for each other's lock.
//!
//! Each create still gets its own result (thread not found, parent not
//! found). If the group's statement fails as a whole (a deadlock with an
//! erasure, a parent deleted meanwhile), every create of the group is written
//! again on its own, so one bad write never takes its neighbours down.

use sqlx::PgConnection;
use threadhold_domain::dashboard::day_of;
use threadhold_domain::model::{NewMessage, ParentRef, WorkspaceScope};
use tokio::sync::{mpsc, oneshot};

use super::messages;
use super::pool::Connections;
use crate::{StoreError, StoreResult};

/// The most creates one statement writes.
const MAX_GROUP: usize = 64;
/// Creates waiting for the writer before callers wait to queue.
const QUEUE_CAPACITY: usize = 1024;

/// One queued create and where its result goes.
struct Create {
    scope: WorkspaceScope,
    message: NewMessage,
    reply: oneshot::Sender<StoreResult<()>>,
}

/// The queue of plain creates; clones share it. The writer stops once every clone is dropped.
#[derive(Clone)]
pub(super) struct CreateQueue {
    sender: mpsc::Sender<Create>,
}

impl CreateQueue {
    /// Starts the writer on `pool`.
    pub(super) fn start(pool: Connections) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(write_groups(pool, receiver));
        CreateQueue { sender }
    }

    /// Queues a create that [`messages::needs_transaction`] leaves out and waits for its result.
    pub(super) async fn create(&self, scope: &WorkspaceScope, message: &NewMessage) -> StoreResult<()> {
        let (reply, result) = oneshot::channel();
        let create = Create { scope: scope.clone(), message: message.clone(), reply };
        self.sender.send(create).await.map_err(|_| closed())?;
        result.await.map_err(|_| closed())?
    }
}

fn closed() -> StoreError {
    StoreError::Unavailable("the store is closed".into())
}

/// The writer: takes what is queued (at most [`MAX_GROUP`]), writes it, answers each create.
async fn write_groups(pool: Connections, mut queue: mpsc::Receiver<Create>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while queue.recv_many(&mut group, MAX_GROUP).await > 0 {
        let results = match pool.connection().await {
            Ok(mut connection) => {
                let results = write(&mut connection, &group).await;
                // After any failure the pool checks the connection before it hands it out again.
                let failure = results.iter().find(|result| result.is_err()).cloned().unwrap_or(Ok(()));
                connection.release(&failure).await;
                results
            }
            Err(error) => vec![Err(error); group.len()],
        };
        for (create, result) in group.drain(..).zip(results) {
            // A caller that went away meanwhile gets no answer; its create stands.
            let _ = create.reply.send(result);
        }
    }
}

/// The results of a group, in its order: one statement for all, or one per create.
async fn write(c: &mut PgConnection, group: &[Create]) -> Vec<StoreResult<()>> {
    if group.len() > 1 {
        match insert_group(c, group).await {
            Ok(results) => return results,
            Err(error) => {
                tracing::debug!(%error, creates = group.len(), "a group of creates failed; writing each alone")
            }
        }
    }
    let mut results = Vec::with_capacity(group.len());
    for create in group {
        results.push(messages::insert(c, &create.scope, &create.message, parent_id(&create.message)).await);
    }
    results
}

fn parent_id(message: &NewMessage) -> Option<&str> {
    match &message.parent {
        ParentRef::Id(id) => Some(id),
        ParentRef::Root | ParentRef::External(_) => None,
    }
}

/// Writes a group of new messages, their search entries, the activity counts
/// and one bump (and first title) per thread in one statement. Threads are
/// locked in id order, so groups on several writers and nodes cannot deadlock
/// on each other. Each row of the answer says, in the group's order, whether
/// the create's thread was found in its scope and whether its message was
/// written (a parent is looked up in the create's own thread).
const INSERT_GROUP: &str = "\
WITH input AS MATERIALIZED ( \
   SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], \
     $8::text[], $9::text[], $10::bigint[], $11::text[]) WITH ORDINALITY \
     AS i (id, thread_id, parent_id, format, content, created_at, search_text, project_id, workspace_id, day, \
       auto_title, n)), \
 thread AS MATERIALIZED ( \
   SELECT id, project_id, workspace_id FROM threads \
   WHERE (id, project_id, workspace_id) IN (SELECT thread_id, project_id, workspace_id FROM input) \
   ORDER BY id FOR UPDATE), \
 inserted AS ( \
   INSERT INTO messages (id, thread_id, parent_id, height, format, content, external_id, created_at, updated_at, \
     search_indexed) \
   SELECT i.id, i.thread_id, i.parent_id, COALESCE(p.height + 1, 0), i.format, i.content, NULL, i.created_at, \
     i.created_at, TRUE \
   FROM input i \
   JOIN thread t ON (t.id, t.project_id, t.workspace_id) = (i.thread_id, i.project_id, i.workspace_id) \
   LEFT JOIN messages p ON p.id = i.parent_id AND p.thread_id = i.thread_id \
   WHERE i.parent_id IS NULL OR p.id IS NOT NULL \
   RETURNING id), \
 written AS (SELECT i.* FROM input i JOIN inserted USING (id)), \
 searchable AS (INSERT INTO message_search (message_id, text, thread_id, created_at) \
   SELECT id, search_text, thread_id, created_at FROM written WHERE search_text <> ''), \
 counted AS (INSERT INTO activity_log (project_id, day, messages) \
   SELECT project_id, day, count(*) FROM written GROUP BY project_id, day), \
 bumped AS (UPDATE threads t SET last_message_at = GREATEST(t.last_message_at, w.at), updated_at = w.at, \
     title = COALESCE(t.title, w.title) \
   FROM (SELECT thread_id, max(created_at) AS at, \
       (array_agg(auto_title ORDER BY n) FILTER (WHERE auto_title IS NOT NULL))[1] AS title \
     FROM written GROUP BY thread_id) w \
   WHERE t.id = w.thread_id) \
SELECT t.id IS NOT NULL, w.id IS NOT NULL FROM input i \
LEFT JOIN thread t ON (t.id, t.project_id, t.workspace_id) = (i.thread_id, i.project_id, i.workspace_id) \
LEFT JOIN inserted w ON w.id = i.id \
ORDER BY i.n";

/// Runs [`INSERT_GROUP`] on a group; each create's own result.
async fn insert_group(c: &mut PgConnection, group: &[Create]) -> StoreResult<Vec<StoreResult<()>>> {
    let column = |field: fn(&Create) -> Option<&str>| group.iter().map(field).collect::<Vec<_>>();
    let answers: Vec<(bool, bool)> = sqlx::query_as(INSERT_GROUP)
        .bind(column(|create| Some(&create.message.id)))
        .bind(column(|create| Some(&create.message.thread_id)))
        .bind(column(|create| parent_id(&create.message)))
        .bind(column(|create| Some(&create.message.format)))
        .bind(column(|create| Some(&create.message.content)))
        .bind(group.iter().map(|create| create.message.now).collect::<Vec<_>>())
        .bind(column(|create| Some(&create.message.search_text)))
        .bind(column(|create| Some(&create.scope.project_id)))
        .bind(column(|create| Some(&create.scope.workspace_id)))
        .bind(group.iter().map(|create| day_of(create.message.now)).collect::<Vec<_>>())
        .bind(column(|create| create.message.auto_title.as_deref()))
        .fetch_all(c)
        .await?;
    if answers.len() != group.len() {
        return Err(StoreError::Database(format!("{} answers for a group of {}", answers.len(), group.len())));
    }
    Ok(answers.into_iter().map(messages::insert_outcome).collect())
}
