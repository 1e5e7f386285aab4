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
//! one shared thread, where their groups contended for the same row lock
//! (measured before busy threads were skipped; now they would hand each
//! other's creates off instead).
//!
//! The writer never waits for a lock held elsewhere (another node's group, a
//! thread's update, a workspace's erasure): it skips a locked thread and hands
//! the creates on it to [`HandOff`], which writes them with the one-message
//! statement on other connections while the writer goes on with the next
//! group. So a thread that is busy for seconds holds up the creates on that
//! thread only, not every create of the node.
//!
//! Each create still gets its own result (thread not found, parent not
//! found). If the group's statement fails as a whole (a parent deleted
//! meanwhile, a message id used twice), its creates are handed off too and
//! written each on its own, so one bad write never takes its neighbours down.

use std::sync::Arc;

use sqlx::PgConnection;
use threadhold_domain::dashboard::day_of;
use threadhold_domain::model::{NewMessage, ParentRef, WorkspaceScope};
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::messages;
use super::pool::Connections;
use crate::{StoreError, StoreResult};

/// The most creates one statement writes.
const MAX_GROUP: usize = 64;
/// Creates waiting for the writer before callers wait to queue.
const QUEUE_CAPACITY: usize = 1024;
/// At most this share of the pool writes handed-off creates (each may wait
/// for its thread's lock), so the rest stays free for the writer and reads.
const HAND_OFF_POOL_SHARE: u32 = 4;

/// One queued create and where its result goes.
struct Create {
    scope: WorkspaceScope,
    message: NewMessage,
    reply: oneshot::Sender<StoreResult<()>>,
}

impl Create {
    fn answer(self, result: StoreResult<()>) {
        // A caller that went away meanwhile gets no answer; its create stands.
        let _ = self.reply.send(result);
    }
}

/// The queue of plain creates; clones share it. The writer stops once every clone is dropped.
#[derive(Clone)]
pub(super) struct CreateQueue {
    sender: mpsc::Sender<Create>,
}

impl CreateQueue {
    /// Starts the writer on `pool`, a pool of at most `max_connections`.
    pub(super) fn start(pool: Connections, max_connections: u32) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let hand_off = HandOff {
            pool: pool.clone(),
            permits: Arc::new(Semaphore::new((max_connections / HAND_OFF_POOL_SHARE).max(1) as usize)),
        };
        tokio::spawn(write_groups(pool, hand_off, receiver));
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

/// The writer: takes what is queued (at most [`MAX_GROUP`]), writes it in one
/// statement, answers each create it settled and hands off the others.
async fn write_groups(pool: Connections, hand_off: HandOff, mut queue: mpsc::Receiver<Create>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while queue.recv_many(&mut group, MAX_GROUP).await > 0 {
        let answers = match pool.connection().await {
            Ok(mut connection) => {
                let answers = match group.as_slice() {
                    [create] => insert_alone(&mut connection, create).await,
                    _ => insert_group(&mut connection, &group).await,
                };
                connection.release(&answers).await;
                answers
            }
            Err(error) => {
                group.drain(..).for_each(|create| create.answer(Err(error.clone())));
                continue;
            }
        };
        let mut unsettled = Vec::new();
        match answers {
            Ok(answers) => {
                for (create, answer) in group.drain(..).zip(answers) {
                    match answer {
                        Some(result) => create.answer(result),
                        None => unsettled.push(create),
                    }
                }
            }
            Err(error) => {
                tracing::debug!(%error, creates = group.len(), "a group of creates failed; writing each alone");
                unsettled.append(&mut group);
            }
        }
        hand_off.write_each_alone(unsettled);
    }
}

/// Writes creates the writer could not settle with the one-message statement,
/// which waits for its thread's lock, on connections of their own.
struct HandOff {
    pool: Connections,
    permits: Arc<Semaphore>,
}

impl HandOff {
    /// Starts one task per thread; each writes its thread's creates in their order.
    fn write_each_alone(&self, mut creates: Vec<Create>) {
        while let Some(first) = creates.first() {
            let thread_id = first.message.thread_id.clone();
            let (same_thread, others) = creates.into_iter().partition(|create| create.message.thread_id == thread_id);
            creates = others;
            tokio::spawn(write_alone(self.pool.clone(), Arc::clone(&self.permits), same_thread));
        }
    }
}

async fn write_alone(pool: Connections, permits: Arc<Semaphore>, creates: Vec<Create>) {
    let Ok(_permit) = permits.acquire_owned().await else {
        return creates.into_iter().for_each(|create| create.answer(Err(closed())));
    };
    let mut connection = match pool.connection().await {
        Ok(connection) => connection,
        Err(error) => return creates.into_iter().for_each(|create| create.answer(Err(error.clone()))),
    };
    let mut first_failure = Ok(());
    for create in creates {
        let result =
            messages::insert(&mut connection, &create.scope, &create.message, parent_id(&create.message)).await;
        if first_failure.is_ok() && result.is_err() {
            first_failure = result.clone();
        }
        create.answer(result);
    }
    // After any failure the pool checks the connection before it hands it out again.
    connection.release(&first_failure).await;
}

fn parent_id(message: &NewMessage) -> Option<&str> {
    match &message.parent {
        ParentRef::Id(id) => Some(id),
        ParentRef::Root | ParentRef::External(_) => None,
    }
}

/// Writes a group of new messages, their search entries, the activity counts
/// and one bump (and first title) per thread in one statement. It locks the
/// threads that are free, in id order, and skips the ones locked elsewhere.
/// Each row of the answer says, in the group's order, whether the create's
/// thread was locked, whether it was found in the create's scope at all (a
/// thread found but not locked is busy), and whether the message was written
/// (a parent is looked up in the create's own thread).
const INSERT_GROUP: &str = "\
WITH input AS MATERIALIZED ( \
   SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], \
     $8::text[], $9::text[], $10::bigint[], $11::text[]) WITH ORDINALITY \
     AS i (id, thread_id, parent_id, format, content, created_at, search_text, project_id, workspace_id, day, \
       auto_title, n)), \
 thread AS MATERIALIZED ( \
   SELECT id, project_id, workspace_id FROM threads \
   WHERE (id, project_id, workspace_id) IN (SELECT thread_id, project_id, workspace_id FROM input) \
   ORDER BY id FOR UPDATE SKIP LOCKED), \
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
SELECT t.id IS NOT NULL, \
  t.id IS NOT NULL OR EXISTS (SELECT 1 FROM threads k \
    WHERE (k.id, k.project_id, k.workspace_id) = (i.thread_id, i.project_id, i.workspace_id)), \
  w.id IS NOT NULL \
FROM input i \
LEFT JOIN thread t ON (t.id, t.project_id, t.workspace_id) = (i.thread_id, i.project_id, i.workspace_id) \
LEFT JOIN inserted w ON w.id = i.id \
ORDER BY i.n";

/// A group of one, with the one-message statement (cheaper than [`INSERT_GROUP`]
/// for one row: 0.46 ms against 1.07 ms per create of one writer).
async fn insert_alone(c: &mut PgConnection, create: &Create) -> StoreResult<Vec<Option<StoreResult<()>>>> {
    let answer = messages::insert_unless_busy(c, &create.scope, &create.message, parent_id(&create.message)).await?;
    Ok(vec![answer])
}

/// Runs [`INSERT_GROUP`] on a group: each create's own result, or `None`
/// for a create whose thread is locked elsewhere (nothing of it was written).
async fn insert_group(c: &mut PgConnection, group: &[Create]) -> StoreResult<Vec<Option<StoreResult<()>>>> {
    let column = |field: fn(&Create) -> Option<&str>| group.iter().map(field).collect::<Vec<_>>();
    let answers: Vec<messages::InsertAnswer> = sqlx::query_as(INSERT_GROUP)
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
