//! The SQLite engine: read connections used on the caller's own thread, and one
//! writer thread that commits the queued writes of many requests together.
//!
//! Reads are short indexed lookups, so they run where they are asked for: a
//! hand-off to another thread costs more than the read itself. Work that can
//! be long (search, export) goes to the blocking pool through
//! [`Engine::read_blocking`], a few at a time.
//!
//! Writes go to one thread (SQLite has one writer anyway). It takes every write
//! queued at that moment, runs each inside its own savepoint of one transaction
//! and commits them together (group commit): one commit, and with
//! `durability = power` one fsync, for the whole group. Each write still gets
//! its own result: a failing write rolls back to its savepoint and never takes
//! its neighbours down; only a failed commit fails them all.
//!
//! Checkpoints (copying the WAL into the database file, with an fsync) run on
//! a thread of their own, so a commit never waits for one; the writer only
//! checkpoints itself when the WAL grows far beyond what that thread keeps up with.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{Semaphore, oneshot};

use crate::{StoreError, StoreResult};

/// How much a crash may take (the `durability` setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous = NORMAL` in WAL mode: every acknowledged write survives a
    /// crash of the process; a power loss can take the last few.
    #[default]
    Process,
    /// `synchronous = FULL`: the WAL is synced before a write is acknowledged,
    /// so acknowledged writes also survive a power loss.
    Power,
}

/// Tuning of the SQLite backend.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub durability: Durability,
    /// Idle read connections kept open.
    pub idle_readers: usize,
    /// Reads on the blocking pool (search, export) at once.
    pub blocking_reads: usize,
    /// How long a write waits for another process (an admin command) holding the write lock.
    pub busy_timeout: Duration,
    /// The largest the database file may grow; writes beyond it fail with
    /// [`StoreError::StorageFull`] while reads go on. `None`: the disk's size.
    pub max_database_bytes: Option<u64>,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            durability: Durability::Process,
            idle_readers: 8,
            blocking_reads: 4,
            busy_timeout: Duration::from_secs(5),
            max_database_bytes: None,
        }
    }
}

/// Writes taken into one transaction at most.
const MAX_GROUP: usize = 256;
/// Memory-mapped reads (pages come from the OS cache without a copy).
const MMAP_BYTES: i64 = 64 * 1024 * 1024;
const STATEMENT_CACHE: usize = 64;
/// How often the checkpoint thread copies new WAL frames into the database
/// file. Each copy starts with a sync of the WAL, and a writer appending to the
/// WAL page being synced waits for it: small, frequent copies keep that wait
/// short (64 writers, wrk p99: 51–56 ms every 500 ms, 23–25 ms every 100 ms,
/// 19–22 ms every 20 ms; no better at 5 or 10 ms).
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(20);
/// WAL pages after which the writer checkpoints itself (the checkpoint thread fell behind).
const WRITER_CHECKPOINT_PAGES: i64 = 16_384;

pub(crate) struct Engine {
    path: PathBuf,
    options: SqliteOptions,
    readers: Mutex<Vec<Connection>>,
    queue: Mutex<Option<mpsc::Sender<Box<dyn WriteJob>>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// Dropping the sender stops the checkpoint thread.
    checkpointer: Mutex<Option<(mpsc::Sender<()>, JoinHandle<()>)>>,
    blocking_reads: Semaphore,
}

impl Engine {
    /// Opens the writer on `path` (creating the file), lets `prepare` migrate
    /// the schema on it, then starts the writer thread, which runs
    /// `before_commit` after a group's writes, inside its transaction.
    pub(crate) fn open(
        path: &Path,
        options: SqliteOptions,
        prepare: impl FnOnce(&mut Connection) -> StoreResult<()>,
        before_commit: BeforeCommit,
    ) -> StoreResult<Arc<Engine>> {
        let mut writer = Connection::open(path)?;
        configure(&writer, &options)?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        let synchronous = match options.durability {
            Durability::Process => "NORMAL",
            Durability::Power => "FULL",
        };
        writer.pragma_update(None, "synchronous", synchronous)?;
        prepare(&mut writer)?;
        writer.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)?;
        let checkpoints = Connection::open(path)?;
        checkpoints.busy_timeout(options.busy_timeout)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let writer_changes = Arc::new(AtomicU64::new(0));
        let changes = Arc::clone(&writer_changes);
        let checkpointer = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpoint_loop(&checkpoints, &stopped, &changes))
            .map_err(|error| StoreError::Database(format!("starting the checkpoint thread: {error}")))?;
        if let Some(bytes) = options.max_database_bytes {
            let page_size: i64 = writer.pragma_query_value(None, "page_size", |row| row.get(0))?;
            let pages = i64::try_from(bytes).unwrap_or(i64::MAX) / page_size.max(1);
            writer.pragma_update(None, "max_page_count", pages.max(1))?;
        }
        let (queue, jobs) = mpsc::channel::<Box<dyn WriteJob>>();
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || write_loop(writer, jobs, before_commit, &writer_changes))
            .map_err(|error| StoreError::Database(format!("starting the writer thread: {error}")))?;
        Ok(Arc::new(Engine {
            path: path.to_owned(),
            blocking_reads: Semaphore::new(options.blocking_reads.max(1)),
            options,
            readers: Mutex::new(Vec::new()),
            queue: Mutex::new(Some(queue)),
            writer: Mutex::new(Some(thread)),
            checkpointer: Mutex::new(Some((stop, checkpointer))),
        }))
    }

    /// Runs `read` on an idle read connection, on this thread. For short, indexed reads only.
    pub(crate) fn read<T>(&self, read: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let connection = self.checkout()?;
        let result = read(&connection);
        self.checkin(connection);
        result
    }

    /// Runs a read that may take long on the blocking pool, a few at a time.
    pub(crate) async fn read_blocking<T: Send + 'static>(
        self: &Arc<Self>,
        read: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let _permit = self.blocking_reads.acquire().await.map_err(|_| closed())?;
        let engine = Arc::clone(self);
        tokio::task::spawn_blocking(move || engine.read(read))
            .await
            .map_err(|error| StoreError::Database(format!("a read failed: {error}")))?
    }

    /// Queues `write` for the writer thread and waits for its result, which
    /// arrives once the group it ran in is committed.
    pub(crate) async fn write<T: Send + 'static>(
        &self,
        write: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let (reply, result) = oneshot::channel();
        let job = Box::new(Job { work: Some(write), outcome: None, reply });
        {
            let queue = self.queue.lock().map_err(|_| closed())?;
            queue.as_ref().ok_or_else(closed)?.send(job).map_err(|_| closed())?;
        }
        result.await.map_err(|_| closed())?
    }

    /// Whether [`Engine::close`] has begun: writes are refused from then on.
    pub(crate) fn is_closed(&self) -> bool {
        self.queue.lock().map_or(true, |queue| queue.is_none())
    }

    /// Stops the writer after the queued writes and checkpoints the WAL into the database file.
    pub(crate) fn close(&self) {
        if let Some((stop, thread)) = self.checkpointer.lock().ok().and_then(|mut checkpointer| checkpointer.take()) {
            drop(stop);
            let _ = thread.join();
        }
        if let Ok(mut queue) = self.queue.lock() {
            queue.take();
        }
        if let Some(thread) = self.writer.lock().ok().and_then(|mut writer| writer.take()) {
            let _ = thread.join();
        }
        if let Ok(mut readers) = self.readers.lock() {
            readers.clear();
        }
    }

    fn checkout(&self) -> StoreResult<Connection> {
        if let Some(connection) = self.readers.lock().map_err(|_| closed())?.pop() {
            return Ok(connection);
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let connection = Connection::open_with_flags(&self.path, flags)?;
        configure(&connection, &self.options)?;
        Ok(connection)
    }

    fn checkin(&self, connection: Connection) {
        if let Ok(mut readers) = self.readers.lock()
            && readers.len() < self.options.idle_readers
        {
            readers.push(connection);
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.close();
    }
}

fn closed() -> StoreError {
    StoreError::Unavailable("the database is closed".into())
}

/// Settings every connection needs.
fn configure(connection: &Connection, options: &SqliteOptions) -> StoreResult<()> {
    connection.busy_timeout(options.busy_timeout)?;
    connection.pragma_update(None, "foreign_keys", true)?;
    connection.pragma_update(None, "mmap_size", MMAP_BYTES)?;
    connection.pragma_update(None, "temp_store", "MEMORY")?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

/// A queued write, type-erased for the writer thread.
trait WriteJob: Send {
    /// Runs the write inside the group's transaction; false when it failed.
    fn run(&mut self, connection: &Connection) -> bool;
    /// Answers the caller once the group's fate is known.
    fn finish(self: Box<Self>, group: Result<(), StoreError>);
}

struct Job<T, F> {
    work: Option<F>,
    outcome: Option<StoreResult<T>>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T: Send, F: FnOnce(&Connection) -> StoreResult<T> + Send> WriteJob for Job<T, F> {
    fn run(&mut self, connection: &Connection) -> bool {
        let Some(work) = self.work.take() else { return false };
        // A bug in one write must not take the writer thread (and every later write) down.
        let outcome = catch_unwind(AssertUnwindSafe(|| work(connection)))
            .unwrap_or_else(|_| Err(StoreError::Database("a write panicked".into())));
        let succeeded = outcome.is_ok();
        self.outcome = Some(outcome);
        succeeded
    }

    fn finish(self: Box<Self>, group: Result<(), StoreError>) {
        let outcome = match (group, self.outcome) {
            (_, Some(Err(error))) => Err(error),
            (Ok(()), Some(Ok(value))) => Ok(value),
            (Err(error), _) => Err(error),
            (Ok(()), None) => Err(StoreError::Database("a write was not run".into())),
        };
        let _ = self.reply.send(outcome);
    }
}

/// Work a group's transaction ends with, after its writes and before its commit;
/// when it fails, the whole group fails.
pub(crate) type BeforeCommit = fn(&Connection) -> StoreResult<()>;

/// The writer loop; after each group and each merge step it publishes its
/// connection's count of changed rows, which tells the checkpoint thread
/// whether there is anything to copy.
fn write_loop(
    connection: Connection,
    jobs: mpsc::Receiver<Box<dyn WriteJob>>,
    before_commit: BeforeCommit,
    changes: &AtomicU64,
) {
    loop {
        let first = match jobs.recv_timeout(IDLE_BEFORE_MERGING) {
            Ok(job) => job,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                // Idle: merge the search indexes a bounded step at a time while nothing waits.
                let mut arrived = None;
                while arrived.is_none() {
                    let more = merge_search_step(&connection);
                    changes.store(connection.total_changes(), Ordering::Release);
                    if !more {
                        break;
                    }
                    arrived = jobs.try_recv().ok();
                }
                match arrived.map_or_else(|| jobs.recv(), Ok) {
                    Ok(job) => job,
                    Err(_) => break,
                }
            }
        };
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        commit_group(&connection, group, before_commit);
        changes.store(connection.total_changes(), Ordering::Release);
    }
    if let Err(error) = connection.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)") {
        tracing::warn!(%error, "checkpointing the WAL on close failed");
    }
}

/// Quiet time before the writer counts as idle (a client writing one message
/// after another must not wait behind merges).
const IDLE_BEFORE_MERGING: Duration = Duration::from_millis(50);
/// Pages of merge work per idle step: a write arriving meanwhile waits for one step at most.
const MERGE_STEP_PAGES: i64 = 8;

/// One bounded step of segment merging on each search index; true when there
/// may be more to do. Idle steps log and swallow a failure (the next one retries).
fn merge_search_step(connection: &Connection) -> bool {
    merge_search_indexes(connection, MERGE_STEP_PAGES).unwrap_or_else(|error| {
        tracing::debug!(%error, "merging a search index failed; the next idle step retries");
        false
    })
}

/// About `pages.abs()` pages of segment merging on each search index (FTS5's
/// `merge` command); true when there may be more to do (the FTS5 way to tell:
/// more than one change was made). A positive `pages` merges only levels that
/// hold several segments, a negative one merges toward a single segment.
pub(crate) fn merge_search_indexes(connection: &Connection, pages: i64) -> StoreResult<bool> {
    let mut more = false;
    for table in ["message_search", "thread_search"] {
        let before = connection.total_changes();
        connection.execute_batch(&format!("INSERT INTO {table} ({table}, rank) VALUES ('merge', {pages})"))?;
        more |= connection.total_changes() - before > 1;
    }
    Ok(more)
}

/// Copies committed WAL frames into the database file every
/// [`CHECKPOINT_INTERVAL`] without blocking the writer (`PASSIVE`), until the
/// engine closes; skipped while the writer has changed nothing since the last
/// copy that took every frame.
fn checkpoint_loop(connection: &Connection, stopped: &mpsc::Receiver<()>, writer_changes: &AtomicU64) {
    let mut copied = 0;
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_INTERVAL) {
        // An idle server costs a wake-up, not a checkpoint (which takes file locks).
        let changes = writer_changes.load(Ordering::Acquire);
        if changes == copied {
            continue;
        }
        // (blocked, frames in the WAL, frames copied); a partial copy is retried next time.
        let outcome = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
        });
        match outcome {
            Ok((0, frames, copied_frames)) if frames == copied_frames => copied = changes,
            Ok(_) => {}
            Err(error) => tracing::debug!(%error, "a background checkpoint failed; the next one retries"),
        }
    }
}

/// Runs a group of writes in one transaction, each in its own savepoint, and commits it.
fn commit_group(connection: &Connection, group: Vec<Box<dyn WriteJob>>, before_commit: BeforeCommit) {
    let mut done: Vec<Box<dyn WriteJob>> = Vec::with_capacity(group.len());
    let mut pending = group.into_iter().peekable();
    while pending.peek().is_some() {
        if let Err(error) = connection.execute_batch("BEGIN IMMEDIATE") {
            let error = StoreError::from(error);
            for job in done.drain(..).chain(pending.by_ref()) {
                job.finish(Err(error.clone()));
            }
            return;
        }
        let mut in_transaction: Vec<Box<dyn WriteJob>> = Vec::new();
        for mut job in pending.by_ref() {
            let savepoint = connection.execute_batch("SAVEPOINT write");
            let succeeded = savepoint.is_ok() && job.run(connection);
            if succeeded {
                let _ = connection.execute_batch("RELEASE write");
                in_transaction.push(job);
                continue;
            }
            if connection.is_autocommit() {
                // The error (a full disk, an I/O error) rolled the whole
                // transaction back: the writes before it are lost too.
                let error = StoreError::Unavailable("the write transaction was rolled back".into());
                for earlier in in_transaction.drain(..) {
                    earlier.finish(Err(error.clone()));
                }
                job.finish(Ok(()));
                break;
            }
            let _ = connection.execute_batch("ROLLBACK TO write; RELEASE write");
            job.finish(Ok(()));
        }
        if in_transaction.is_empty() && connection.is_autocommit() {
            continue;
        }
        match before_commit(connection).and_then(|()| Ok(connection.execute_batch("COMMIT")?)) {
            Ok(()) => done.extend(in_transaction),
            Err(error) => {
                if !connection.is_autocommit() {
                    let _ = connection.execute_batch("ROLLBACK");
                }
                for job in in_transaction {
                    job.finish(Err(error.clone()));
                }
            }
        }
    }
    for job in done {
        job.finish(Ok(()));
    }
}
