//! The SQLite backend, threadhold's embedded default: one database file in WAL
//! mode, reads on the caller's thread, writes group-committed by one writer
//! thread ([`engine`]). The statements live in one module per aggregate; this
//! file maps the [`Store`] trait onto them.
//!
//! Page sizes are bound as `LIMIT ?n + 0`, never a bare `LIMIT ?n`: SQLite's
//! planner reads a bare bound limit, so every new binding expires the cached
//! statement and the next step compiles it again (a third of a thread list's
//! CPU went to re-preparing its statement).

mod anonymous;
mod dashboard;
mod engine;
mod files;
mod messages;
mod projects;
mod rows;
mod runs;
mod search;
mod telemetry;
mod threads;
mod titles;
mod transfer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use async_trait::async_trait;
use rusqlite::TransactionBehavior;
use threadhold_domain::Millis;
use threadhold_domain::dashboard::{
    AdminAccount, AdminSession, AdminThreadQuery, AuditEntry, AuditQuery, Day, DayActivity, FeedbackRow, ProjectPage,
    UserQuery, UserRecord, UserSighting,
};
use threadhold_domain::model::{
    AnonymousSession, ApiKey, Attachment, AuthRule, ClaimOutcome, Feedback, FeedbackKind, LeaseTarget, Message,
    MessageBody, MessageUsage, MessageWrite, NewMessage, NewThread, Project, RefreshOutcome, Run, RunQuery, RunUsage,
    Score, ScoreQuery, ScoreRecord, SearchHit, SigningKey, SpanRecord, TelemetryRecord, Thread, ThreadCreationQuery,
    ThreadListQuery, ThreadPatch, TraceBatch, TraceOutcome, UsageTotals, WorkspaceScope,
};
use threadhold_domain::refresh::RefreshPolicy;
use threadhold_domain::runs::{LeasePolicy, RunLease};
use threadhold_domain::title::settings::TitleSettings;
use threadhold_domain::title::state::{TitleCandidate, TitleClaim, TitleState};
use threadhold_domain::transfer::{ExportRow, ExportTable};

pub use engine::{Durability, SqliteOptions};

use crate::migrate;
use crate::shared::indexing_progress_due;
use crate::{Erasure, ReadScope, Store, StoreError, StoreResult};
use engine::{Engine, merge_search_indexes};

/// Messages indexed in the background after which the search index is merged into one segment.
const MERGE_INTO_ONE_AFTER_INDEXING: usize = 10_000;
/// Messages per write of the background indexer, and pages per write of its
/// merging: a write queued meanwhile waits for one such step (one writer's
/// creates while a million messages were indexed: p50 0.9 ms, p99 14 ms).
const INDEXING_BATCH: u32 = 500;
const INDEXING_MERGE_PAGES: i64 = 128;

#[derive(Clone)]
pub struct SqliteStore {
    engine: Arc<Engine>,
    settings_epoch: Arc<AtomicU64>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file with default options and runs pending migrations.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        Self::open_with(path, SqliteOptions::default()).await
    }

    /// Opens the database file and runs pending migrations; messages written
    /// before search existed are indexed in the background (a large database
    /// is served at once, its older messages become searchable as the indexer
    /// reaches them).
    pub async fn open_with(path: &Path, options: SqliteOptions) -> StoreResult<Self> {
        let path = path.to_owned();
        let engine = tokio::task::spawn_blocking(move || {
            // Every start-up write runs in a transaction that takes the write lock
            // when it begins, so it waits for a running server's commits instead of
            // failing half way (see `migrate::run_sqlite`).
            let prepare = |connection: &mut rusqlite::Connection| {
                migrate::run_sqlite(connection)?;
                move_legacy_reports(connection)
            };
            Engine::open(&path, options, prepare, messages::flush_search_queue)
        })
        .await
        .map_err(|error| StoreError::Database(format!("opening the database: {error}")))??;
        tokio::spawn(index_unindexed_messages(Arc::downgrade(&engine)));
        Ok(SqliteStore { engine, settings_epoch: Arc::default() })
    }

    /// Opens a `sqlite:` URL (`sqlite:///var/lib/threadhold/db.sqlite3`, `sqlite:data/db.sqlite3`).
    pub async fn open_url(url: &str, options: SqliteOptions) -> StoreResult<Self> {
        Self::open_with(&path_of_url(url)?, options).await
    }
}

impl SqliteStore {
    /// Counts a settings write (also a failed one: a spare cache refill costs little).
    fn settings_changed(&self) {
        self.settings_epoch.fetch_add(1, Ordering::Release);
    }
}

/// The file a `sqlite:` URL names (query parameters are ignored).
pub fn path_of_url(url: &str) -> StoreResult<PathBuf> {
    let rest = url.strip_prefix("sqlite:").ok_or_else(|| StoreError::Database(format!("not a sqlite: URL: {url}")))?;
    let rest = rest.split('?').next().unwrap_or_default();
    let path = rest.strip_prefix("//").unwrap_or(rest);
    if path.is_empty() {
        return Err(StoreError::Database("the sqlite: URL names no file".into()));
    }
    Ok(PathBuf::from(path))
}

/// Moves run reports earlier releases kept as raw telemetry into `runs`.
fn move_legacy_reports(connection: &mut rusqlite::Connection) -> StoreResult<()> {
    let mut total = 0;
    loop {
        let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let moved = runs::move_legacy_reports(&tx, runs::LEGACY_BATCH)?;
        tx.commit()?;
        total += moved;
        if moved < runs::LEGACY_BATCH as usize {
            break;
        }
    }
    if total > 0 {
        tracing::info!(reports = total, "moved stored run reports into runs");
    }
    Ok(())
}

/// Indexes every message without a search entry, a batch per write through
/// the writer thread, so the server's own writes go on between batches. After
/// each batch it merges the index's fuller levels a bounded step per write:
/// left alone, a level reaching FTS5's `crisismerge` would be merged inside
/// one write, a stall of seconds at a million messages. A bulk indexing ends
/// with the index merged into one segment, again a step per write.
async fn index_unindexed_messages(engine: Weak<Engine>) {
    match index_and_merge(&engine).await {
        Ok(0) => {}
        Ok(total) => tracing::info!(messages = total, "indexed older messages for search"),
        // Closed meanwhile: the next start resumes.
        Err(_) if engine.upgrade().is_none_or(|engine| engine.is_closed()) => {}
        Err(error) => tracing::warn!(%error, "indexing older messages for search stopped; the next start resumes it"),
    }
}

async fn index_and_merge(engine: &Weak<Engine>) -> StoreResult<usize> {
    let mut total = 0;
    loop {
        let indexed = paced_write(engine, |c| messages::index_unindexed(c, INDEXING_BATCH)).await?;
        let before = total;
        total += indexed;
        if indexed > 0 {
            while paced_write(engine, |c| merge_search_indexes(c, INDEXING_MERGE_PAGES)).await? {}
        }
        if indexed < INDEXING_BATCH as usize {
            break;
        }
        if indexing_progress_due(before, total) {
            tracing::info!(messages = total, "indexing older messages for search");
        }
    }
    if total >= MERGE_INTO_ONE_AFTER_INDEXING {
        let started = std::time::Instant::now();
        // A negative step gathers every segment into one merge; positive steps
        // carry that merge on. Only the first step may be negative: one after a
        // write gathers again, leaving the unfinished output as one more input
        // segment each time (FTS5's 2,000 segments were full within 30 s).
        let mut more = paced_write(engine, |c| merge_search_indexes(c, -INDEXING_MERGE_PAGES)).await?;
        while more {
            more = paced_write(engine, |c| merge_search_indexes(c, INDEXING_MERGE_PAGES)).await?;
        }
        tracing::info!(millis = started.elapsed().as_millis() as u64, "merged the search index after indexing");
    }
    Ok(total)
}

/// Runs one of the background indexer's writes through the writer, holding
/// the engine only meanwhile (a dropped store must not stay alive between
/// them), then leaves the write lock free for as long as the write took.
/// Another process waiting for the lock (an admin command) polls on SQLite's
/// busy handler: with the indexer's next write queued at once it nearly always
/// found the lock taken ("database is locked" after 5 s in two of six tries at
/// a million messages); with the lock free half the time, it gets it within a
/// few tries.
async fn paced_write<T: Send + 'static>(
    engine: &Weak<Engine>,
    write: impl FnOnce(&rusqlite::Connection) -> StoreResult<T> + Send + 'static,
) -> StoreResult<T> {
    let started = std::time::Instant::now();
    let result = {
        let engine = engine.upgrade().ok_or_else(|| StoreError::Unavailable("the database is closed".into()))?;
        engine.write(write).await
    };
    tokio::time::sleep(started.elapsed()).await;
    result
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        self.engine.read(|c| Ok(c.prepare_cached("SELECT 1")?.query_row([], |_| Ok(()))?))
    }

    async fn close(&self) {
        let engine = Arc::clone(&self.engine);
        let _ = tokio::task::spawn_blocking(move || engine.close()).await;
    }

    async fn ensure_project(&self, id: &str, name: &str, now: Millis) -> StoreResult<Project> {
        let (id, name) = (id.to_owned(), name.to_owned());
        let result = self.engine.write(move |c| projects::ensure_project(c, &id, &name, now)).await;
        self.settings_changed();
        result
    }

    async fn create_project(&self, project: &Project) -> StoreResult<()> {
        let project = project.clone();
        let result = self.engine.write(move |c| projects::create_project(c, &project)).await;
        self.settings_changed();
        result
    }

    async fn get_project(&self, id: &str) -> StoreResult<Option<Project>> {
        self.engine.read(|c| projects::get_project(c, id))
    }

    async fn list_projects(&self) -> StoreResult<Vec<Project>> {
        self.engine.read(projects::list_projects)
    }

    async fn set_allowed_origins(&self, project_id: &str, origins: &[String]) -> StoreResult<bool> {
        let (project_id, origins) = (project_id.to_owned(), origins.to_vec());
        let result = self.engine.write(move |c| projects::set_allowed_origins(c, &project_id, &origins)).await;
        self.settings_changed();
        result
    }

    async fn set_anonymous_enabled(&self, project_id: &str, enabled: bool) -> StoreResult<bool> {
        let project_id = project_id.to_owned();
        let result = self.engine.write(move |c| projects::set_anonymous_enabled(c, &project_id, enabled)).await;
        self.settings_changed();
        result
    }

    fn local_settings_epoch(&self) -> u64 {
        self.settings_epoch.load(Ordering::Acquire)
    }

    async fn settings_version(&self) -> StoreResult<i64> {
        self.engine.read(projects::settings_version)
    }

    async fn insert_signing_key(&self, key: &SigningKey) -> StoreResult<()> {
        let key = key.clone();
        let result = self.engine.write(move |c| projects::insert_signing_key(c, &key)).await;
        self.settings_changed();
        result
    }

    async fn signing_keys(&self, project_id: &str) -> StoreResult<Vec<SigningKey>> {
        self.engine.read(|c| projects::signing_keys(c, project_id))
    }

    async fn signing_key(&self, kid: &str) -> StoreResult<Option<SigningKey>> {
        self.engine.read(|c| projects::signing_key(c, kid))
    }

    async fn insert_api_key(&self, key: &ApiKey) -> StoreResult<()> {
        let key = key.clone();
        let result = self.engine.write(move |c| projects::insert_api_key(c, &key)).await;
        self.settings_changed();
        result
    }

    async fn api_key_by_hash(&self, secret_hash: &str) -> StoreResult<Option<ApiKey>> {
        self.engine.read(|c| projects::api_key_by_hash(c, secret_hash))
    }

    async fn list_api_keys(&self, project_id: Option<&str>) -> StoreResult<Vec<ApiKey>> {
        self.engine.read(|c| projects::list_api_keys(c, project_id))
    }

    async fn revoke_api_key(&self, id: &str, now: Millis) -> StoreResult<bool> {
        let id = id.to_owned();
        let result = self.engine.write(move |c| projects::revoke_api_key(c, &id, now)).await;
        self.settings_changed();
        result
    }

    async fn touch_api_key(&self, id: &str, now: Millis) -> StoreResult<()> {
        let id = id.to_owned();
        self.engine.write(move |c| projects::touch_api_key(c, &id, now)).await
    }

    async fn list_threads(&self, query: &ThreadListQuery) -> StoreResult<Vec<Thread>> {
        self.engine.read(|c| threads::list(c, query))
    }

    async fn get_thread(&self, scope: &ReadScope, id: &str) -> StoreResult<Option<Thread>> {
        self.engine.read(|c| threads::get(c, scope, id))
    }

    async fn create_thread(&self, thread: &NewThread) -> StoreResult<(String, bool)> {
        let thread = thread.clone();
        self.engine.write(move |c| threads::create(c, &thread)).await
    }

    async fn update_thread(
        &self,
        scope: &WorkspaceScope,
        id: &str,
        patch: &ThreadPatch,
        now: Millis,
    ) -> StoreResult<()> {
        let (scope, id, patch) = (scope.clone(), id.to_owned(), patch.clone());
        self.engine.write(move |c| threads::update(c, &scope, &id, &patch, now)).await
    }

    async fn delete_thread(&self, scope: &WorkspaceScope, id: &str) -> StoreResult<Vec<String>> {
        let (scope, id) = (scope.clone(), id.to_owned());
        self.engine.write(move |c| threads::delete(c, &scope, &id)).await
    }

    async fn erase_user(&self, project_id: &str, user_id: &str) -> StoreResult<Erasure> {
        let (project_id, user_id) = (project_id.to_owned(), user_id.to_owned());
        self.engine.write(move |c| threads::erase_user(c, &project_id, &user_id)).await
    }

    async fn purge_threads_before(&self, project_id: &str, before: Millis, limit: u32) -> StoreResult<Erasure> {
        let project_id = project_id.to_owned();
        self.engine.write(move |c| threads::purge_before(c, &project_id, before, limit)).await
    }

    async fn set_auto_title(
        &self,
        scope: &WorkspaceScope,
        id: &str,
        title: Option<&str>,
        now: Millis,
    ) -> StoreResult<Option<String>> {
        let (scope, id, title) = (scope.clone(), id.to_owned(), title.map(str::to_owned));
        self.engine.write(move |c| threads::set_auto_title(c, &scope, &id, title.as_deref(), now)).await
    }

    async fn list_messages(
        &self,
        scope: &ReadScope,
        thread_id: &str,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        self.engine.read(|c| messages::list(c, scope, thread_id, after, limit))
    }

    async fn create_message(&self, scope: &WorkspaceScope, message: &NewMessage) -> StoreResult<MessageWrite> {
        let (scope, message) = (scope.clone(), message.clone());
        self.engine.write(move |c| messages::create(c, &scope, &message)).await
    }

    async fn update_message_content(
        &self,
        scope: &WorkspaceScope,
        thread_id: &str,
        message_id: &str,
        body: &MessageBody,
        now: Millis,
        policy: LeasePolicy,
    ) -> StoreResult<()> {
        let (scope, thread_id, message_id, body) =
            (scope.clone(), thread_id.to_owned(), message_id.to_owned(), body.clone());
        self.engine
            .write(move |c| messages::update_content(c, &scope, &thread_id, &message_id, &body, now, policy))
            .await
    }

    async fn write_as_lease_holder(
        &self,
        scope: &WorkspaceScope,
        thread_id: &str,
        target: &LeaseTarget,
        lease_id: &str,
        body: &MessageBody,
        now: Millis,
    ) -> StoreResult<String> {
        let (scope, thread_id, target, lease_id, body) =
            (scope.clone(), thread_id.to_owned(), target.clone(), lease_id.to_owned(), body.clone());
        self.engine
            .write(move |c| messages::write_as_lease_holder(c, &scope, &thread_id, &target, &lease_id, &body, now))
            .await
    }

    async fn get_run_lease(&self, lease_id: &str) -> StoreResult<Option<RunLease>> {
        self.engine.read(|c| messages::get_run_lease(c, lease_id))
    }

    async fn heartbeat_run(
        &self,
        scope: &WorkspaceScope,
        thread_id: &str,
        lease_id: &str,
        now: Millis,
    ) -> StoreResult<()> {
        let (scope, thread_id, lease_id) = (scope.clone(), thread_id.to_owned(), lease_id.to_owned());
        self.engine.write(move |c| messages::heartbeat(c, &scope, &thread_id, &lease_id, now)).await
    }

    async fn end_run(
        &self,
        scope: &WorkspaceScope,
        thread_id: &str,
        lease_id: &str,
        reason: &str,
        now: Millis,
    ) -> StoreResult<()> {
        let (scope, thread_id, lease_id, reason) =
            (scope.clone(), thread_id.to_owned(), lease_id.to_owned(), reason.to_owned());
        self.engine.write(move |c| messages::end_run(c, &scope, &thread_id, &lease_id, &reason, now)).await
    }

    async fn delete_messages(&self, scope: &WorkspaceScope, thread_id: &str, ids: &[String]) -> StoreResult<u64> {
        let (scope, thread_id, ids) = (scope.clone(), thread_id.to_owned(), ids.to_vec());
        self.engine.write(move |c| messages::delete(c, &scope, &thread_id, &ids)).await
    }

    async fn upsert_feedback(
        &self,
        scope: &WorkspaceScope,
        thread_id: &str,
        message_id: &str,
        user_id: &str,
        kind: FeedbackKind,
        comment: Option<&str>,
        now: Millis,
    ) -> StoreResult<Feedback> {
        let (scope, thread_id, message_id, user_id, comment) = (
            scope.clone(),
            thread_id.to_owned(),
            message_id.to_owned(),
            user_id.to_owned(),
            comment.map(str::to_owned),
        );
        self.engine
            .write(move |c| {
                messages::upsert_feedback(c, &scope, &thread_id, &message_id, &user_id, kind, comment.as_deref(), now)
            })
            .await
    }

    async fn create_anonymous_session(&self, session: &AnonymousSession, token_hash: &str) -> StoreResult<()> {
        let (session, token_hash) = (session.clone(), token_hash.to_owned());
        self.engine.write(move |c| anonymous::create(c, &session, &token_hash)).await
    }

    async fn refresh_anonymous_session(
        &self,
        project_id: &str,
        token_hash: &str,
        new_token_hash: &str,
        now: Millis,
        policy: RefreshPolicy,
    ) -> StoreResult<RefreshOutcome> {
        let (project_id, token_hash, new_token_hash) =
            (project_id.to_owned(), token_hash.to_owned(), new_token_hash.to_owned());
        self.engine.write(move |c| anonymous::refresh(c, &project_id, &token_hash, &new_token_hash, now, policy)).await
    }

    async fn claim_anonymous_threads(
        &self,
        token_hash: &str,
        target: &WorkspaceScope,
        now: Millis,
        policy: RefreshPolicy,
    ) -> StoreResult<ClaimOutcome> {
        let (token_hash, target) = (token_hash.to_owned(), target.clone());
        self.engine.write(move |c| anonymous::claim(c, &token_hash, &target, now, policy)).await
    }

    async fn collect_anonymous_garbage(&self, idle_before: Millis, rotated_before: Millis) -> StoreResult<(u64, u64)> {
        self.engine.write(move |c| anonymous::collect_garbage(c, idle_before, rotated_before)).await
    }

    async fn insert_attachment(&self, attachment: &Attachment) -> StoreResult<()> {
        let attachment = attachment.clone();
        self.engine.write(move |c| files::insert(c, &attachment)).await
    }

    async fn get_attachment(&self, key: &str) -> StoreResult<Option<Attachment>> {
        self.engine.read(|c| files::get(c, key))
    }

    async fn complete_attachment(&self, key: &str, size: i64, content_type: &str) -> StoreResult<()> {
        let (key, content_type) = (key.to_owned(), content_type.to_owned());
        self.engine.write(move |c| files::complete(c, &key, size, &content_type)).await
    }

    async fn link_attachments(&self, scope: &WorkspaceScope, thread_id: &str, keys: &[String]) -> StoreResult<()> {
        let (scope, thread_id, keys) = (scope.clone(), thread_id.to_owned(), keys.to_vec());
        self.engine.write(move |c| files::link(c, &scope, &thread_id, &keys)).await
    }

    async fn expired_uploads(&self, before: Millis) -> StoreResult<Vec<Attachment>> {
        self.engine.read(|c| files::expired_uploads(c, before))
    }

    async fn delete_attachment(&self, key: &str) -> StoreResult<()> {
        let key = key.to_owned();
        self.engine.write(move |c| files::delete(c, &key)).await
    }

    async fn server_secret(&self, name: &str, candidate: &[u8], now: Millis) -> StoreResult<Vec<u8>> {
        let (name, candidate) = (name.to_owned(), candidate.to_vec());
        self.engine.write(move |c| projects::server_secret(c, &name, &candidate, now)).await
    }

    async fn insert_auth_rule(&self, rule: &AuthRule) -> StoreResult<()> {
        let rule = rule.clone();
        let result = self.engine.write(move |c| projects::insert_auth_rule(c, &rule)).await;
        self.settings_changed();
        result
    }

    async fn list_auth_rules(&self, project_id: Option<&str>) -> StoreResult<Vec<AuthRule>> {
        self.engine.read(|c| projects::list_auth_rules(c, project_id))
    }

    async fn delete_auth_rule(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_owned();
        let result = self.engine.write(move |c| projects::delete_auth_rule(c, &id)).await;
        self.settings_changed();
        result
    }

    async fn search(
        &self,
        scope: &ReadScope,
        needle: &str,
        limit: u32,
        after: Option<&str>,
    ) -> StoreResult<Vec<SearchHit>> {
        let (scope, needle, after) = (scope.clone(), needle.to_owned(), after.map(str::to_owned));
        self.engine.read_blocking(move |c| search::search(c, &scope, &needle, limit, after.as_deref())).await
    }

    async fn import_thread(&self, thread: &Thread) -> StoreResult<bool> {
        let thread = thread.clone();
        self.engine.write(move |c| threads::import(c, &thread)).await
    }

    async fn import_message(&self, message: &Message, search_text: &str) -> StoreResult<bool> {
        let (message, search_text) = (message.clone(), search_text.to_owned());
        self.engine.write(move |c| messages::import(c, &message, &search_text)).await
    }

    async fn export_rows(
        &self,
        table: ExportTable,
        project_id: Option<&str>,
        after: &str,
        limit: u32,
    ) -> StoreResult<Vec<ExportRow>> {
        let (project_id, after) = (project_id.map(str::to_owned), after.to_owned());
        self.engine.read_blocking(move |c| transfer::export(c, table, project_id.as_deref(), &after, limit)).await
    }

    async fn import_row(&self, row: &ExportRow) -> StoreResult<bool> {
        let row = row.clone();
        let result = self.engine.write(move |c| transfer::import(c, &row)).await;
        self.settings_changed();
        result
    }

    async fn insert_telemetry(&self, record_type: &str, records: &[TelemetryRecord]) -> StoreResult<()> {
        let (record_type, records) = (record_type.to_owned(), records.to_vec());
        self.engine.write(move |c| telemetry::insert(c, &record_type, &records)).await
    }

    async fn upsert_score(&self, score: &Score) -> StoreResult<String> {
        let score = score.clone();
        self.engine.write(move |c| telemetry::upsert_score(c, &score)).await
    }

    async fn title_settings(&self, project_id: &str) -> StoreResult<Option<TitleSettings>> {
        self.engine.read(|c| titles::settings(c, project_id))
    }

    async fn put_title_settings(&self, settings: &TitleSettings) -> StoreResult<bool> {
        let settings = settings.clone();
        self.engine.write(move |c| titles::put_settings(c, &settings)).await
    }

    async fn set_titles_enabled(&self, project_id: &str, enabled: bool, now: Millis) -> StoreResult<bool> {
        let project_id = project_id.to_owned();
        self.engine.write(move |c| titles::set_enabled(c, &project_id, enabled, now)).await
    }

    async fn title_state(&self, scope: &WorkspaceScope, thread_id: &str) -> StoreResult<Option<TitleState>> {
        self.engine.read(|c| titles::state(c, scope, thread_id))
    }

    async fn claim_title_attempt(
        &self,
        scope: &WorkspaceScope,
        thread_id: &str,
        max_attempts: u32,
        stale_before: Millis,
        now: Millis,
    ) -> StoreResult<TitleClaim> {
        // Most calls find nothing to do (titled, or the budget spent): answer those from a read.
        let state = self.engine.read(|c| titles::state(c, scope, thread_id))?.ok_or(StoreError::ThreadNotFound)?;
        if !state.may_start(max_attempts, stale_before) {
            return Ok(TitleClaim { started_at: None, state });
        }
        let (scope, thread_id) = (scope.clone(), thread_id.to_owned());
        self.engine.write(move |c| titles::claim(c, &scope, &thread_id, max_attempts, stale_before, now)).await
    }

    async fn finish_title_attempt(
        &self,
        scope: &WorkspaceScope,
        thread_id: &str,
        started_at: Millis,
        title: Option<&str>,
        now: Millis,
    ) -> StoreResult<Option<String>> {
        let (scope, thread_id, title) = (scope.clone(), thread_id.to_owned(), title.map(str::to_owned));
        self.engine.write(move |c| titles::finish(c, &scope, &thread_id, started_at, title.as_deref(), now)).await
    }

    async fn title_candidates(
        &self,
        since: Millis,
        max_attempts: u32,
        stale_before: Millis,
        limit: u32,
    ) -> StoreResult<Vec<TitleCandidate>> {
        self.engine.read_blocking(move |c| titles::candidates(c, since, max_attempts, stale_before, limit)).await
    }

    async fn record_run(&self, run: &Run) -> StoreResult<String> {
        let run = run.clone();
        self.engine.write(move |c| runs::record(c, &run)).await
    }

    async fn record_trace(&self, batch: &TraceBatch) -> StoreResult<TraceOutcome> {
        let batch = batch.clone();
        self.engine.write(move |c| runs::record_trace(c, &batch)).await
    }

    async fn get_run(&self, project_id: &str, id: &str) -> StoreResult<Option<Run>> {
        self.engine.read(|c| runs::get(c, project_id, id))
    }

    async fn run_spans(&self, project_id: &str, run_id: &str) -> StoreResult<Vec<SpanRecord>> {
        self.engine.read(|c| runs::spans(c, project_id, run_id))
    }

    async fn list_runs(&self, query: &RunQuery) -> StoreResult<Vec<Run>> {
        self.engine.read(|c| runs::list(c, query))
    }

    async fn list_scores(&self, query: &ScoreQuery) -> StoreResult<Vec<ScoreRecord>> {
        self.engine.read(|c| runs::list_scores(c, query))
    }

    async fn list_threads_by_creation(&self, query: &ThreadCreationQuery) -> StoreResult<Vec<Thread>> {
        self.engine.read(|c| runs::threads_by_creation(c, query))
    }

    async fn usage_by_day(
        &self,
        project_id: &str,
        from: Millis,
        to: Millis,
        by_model: bool,
    ) -> StoreResult<(Vec<RunUsage>, Vec<MessageUsage>)> {
        let project_id = project_id.to_owned();
        // Aggregates over up to a year of rows: off the request's thread.
        self.engine.read_blocking(move |c| runs::usage_by_day(c, &project_id, from, to, by_model)).await
    }

    async fn usage_totals(&self, project_id: &str, from: Millis, to: Millis) -> StoreResult<UsageTotals> {
        let project_id = project_id.to_owned();
        self.engine.read_blocking(move |c| runs::usage_totals(c, &project_id, from, to)).await
    }

    async fn rename_project(&self, id: &str, name: &str) -> StoreResult<bool> {
        self.settings_changed();
        let (id, name) = (id.to_owned(), name.to_owned());
        self.engine.write(move |c| dashboard::rename_project(c, &id, &name)).await
    }

    async fn update_auth_rule(&self, rule: &AuthRule) -> StoreResult<bool> {
        self.settings_changed();
        let rule = rule.clone();
        self.engine.write(move |c| projects::update_auth_rule(c, &rule)).await
    }

    async fn insert_admin(&self, account: &AdminAccount) -> StoreResult<()> {
        let account = account.clone();
        self.engine.write(move |c| dashboard::insert_admin(c, &account)).await
    }

    async fn admin_by_email(&self, email: &str) -> StoreResult<Option<AdminAccount>> {
        self.engine.read(|c| dashboard::admin_by_email(c, email))
    }

    async fn list_admins(&self) -> StoreResult<Vec<AdminAccount>> {
        self.engine.read(dashboard::list_admins)
    }

    async fn delete_admin(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_owned();
        self.engine.write(move |c| dashboard::delete_admin(c, &id)).await
    }

    async fn set_admin_password(&self, id: &str, password_hash: &str) -> StoreResult<bool> {
        let (id, hash) = (id.to_owned(), password_hash.to_owned());
        self.engine.write(move |c| dashboard::set_admin_password(c, &id, &hash)).await
    }

    async fn insert_admin_session(&self, session: &AdminSession) -> StoreResult<()> {
        let session = session.clone();
        self.engine.write(move |c| dashboard::insert_admin_session(c, &session)).await
    }

    async fn admin_session(&self, token_hash: &str) -> StoreResult<Option<(AdminSession, AdminAccount)>> {
        self.engine.read(|c| dashboard::admin_session(c, token_hash))
    }

    async fn touch_admin_session(&self, token_hash: &str, now: Millis) -> StoreResult<()> {
        let token_hash = token_hash.to_owned();
        self.engine.write(move |c| dashboard::touch_admin_session(c, &token_hash, now)).await
    }

    async fn delete_admin_session(&self, token_hash: &str) -> StoreResult<()> {
        let token_hash = token_hash.to_owned();
        self.engine.write(move |c| dashboard::delete_admin_session(c, &token_hash)).await
    }

    async fn delete_expired_admin_sessions(&self, idle_before: Millis, now: Millis) -> StoreResult<u64> {
        self.engine.write(move |c| dashboard::delete_expired_admin_sessions(c, idle_before, now)).await
    }

    async fn insert_audit(&self, entry: &AuditEntry) -> StoreResult<()> {
        let entry = entry.clone();
        self.engine.write(move |c| dashboard::insert_audit(c, &entry)).await
    }

    async fn list_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        self.engine.read(|c| dashboard::list_audit(c, query))
    }

    async fn record_user_activity(&self, sighting: &UserSighting) -> StoreResult<()> {
        let sighting = sighting.clone();
        self.engine.write(move |c| dashboard::record_user_activity(c, &sighting)).await
    }

    async fn list_users(&self, query: &UserQuery) -> StoreResult<Vec<UserRecord>> {
        self.engine.read(|c| dashboard::list_users(c, query))
    }

    async fn get_user(&self, project_id: &str, user_id: &str) -> StoreResult<Option<UserRecord>> {
        self.engine.read(|c| dashboard::get_user(c, project_id, user_id))
    }

    async fn count_workspace_threads(&self, project_id: &str, workspace_id: &str, cap: u32) -> StoreResult<u64> {
        self.engine.read(|c| dashboard::count_workspace_threads(c, project_id, workspace_id, cap))
    }

    async fn admin_list_threads(&self, query: &AdminThreadQuery) -> StoreResult<Vec<Thread>> {
        self.engine.read(|c| dashboard::admin_list_threads(c, query))
    }

    async fn daily_activity(&self, project_id: &str, from: Day, until: Day) -> StoreResult<Vec<DayActivity>> {
        self.engine.read(|c| dashboard::daily_activity(c, project_id, from, until))
    }

    async fn count_active_users(&self, project_id: &str, from: Day, until: Day) -> StoreResult<u64> {
        self.engine.read(|c| dashboard::count_active_users(c, project_id, from, until))
    }

    async fn list_feedback(&self, page: &ProjectPage) -> StoreResult<Vec<FeedbackRow>> {
        self.engine.read(|c| dashboard::list_feedback(c, page))
    }

    async fn set_retention_days(&self, project_id: &str, days: Option<u32>) -> StoreResult<bool> {
        self.settings_changed();
        let project_id = project_id.to_owned();
        self.engine.write(move |c| dashboard::set_retention_days(c, &project_id, days)).await
    }

    async fn retention_days(&self) -> StoreResult<Vec<(String, u32)>> {
        self.engine.read(dashboard::retention_days)
    }

    async fn count_threads_before(&self, project_id: &str, before: Millis, cap: u32) -> StoreResult<u64> {
        self.engine.read(|c| dashboard::count_threads_before(c, project_id, before, cap))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_files() {
        assert_eq!(path_of_url("sqlite:///var/db.sqlite3").ok(), Some(PathBuf::from("/var/db.sqlite3")));
        assert_eq!(path_of_url("sqlite:data/db.sqlite3?mode=rwc").ok(), Some(PathBuf::from("data/db.sqlite3")));
        assert!(path_of_url("sqlite:").is_err());
        assert!(path_of_url("postgres://x").is_err());
    }
}
