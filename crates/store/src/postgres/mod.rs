//! The PostgreSQL backend, for deployments that share one database between
//! several threadhold nodes. Read-modify-write sequences are serialized with
//! row locks (`SELECT … FOR UPDATE` on the thread or the session) and, for
//! thread upserts, a transaction-scoped advisory lock on the external id. The
//! statements live in one module per aggregate; this file maps the [`Store`]
//! trait onto them, one transaction per write.

mod anonymous;
mod create_groups;
mod dashboard;
mod files;
mod messages;
mod pool;
mod projects;
mod rows;
mod runs;
mod search;
mod telemetry;
mod threads;
mod titles;
mod transfer;

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Connection;
use sqlx::postgres::PgConnectOptions;
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

use self::create_groups::CreateQueue;
use self::pool::{Connections, Pooled};
use crate::migrate;
use crate::shared::indexing_progress_due;
use crate::{Erasure, ReadScope, Store, StoreError, StoreResult};

/// How often each node folds the activity log into the daily rollups.
const ACTIVITY_FOLD_INTERVAL: Duration = Duration::from_secs(1);

/// Connection settings of the PostgreSQL backend.
#[derive(Debug, Clone)]
pub struct PgOptions {
    pub max_connections: u32,
    /// How long a request waits for a connection before it answers 503: while
    /// the database is away, requests fail fast instead of hanging.
    pub acquire_timeout: Duration,
    /// The longest a statement may run.
    pub statement_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(3),
            statement_timeout: Duration::from_secs(30),
        }
    }
}

/// Runs `$body` (an expression over the connection `$c`) in a transaction and commits it.
macro_rules! in_transaction {
    ($store:expr, |$c:ident| $body:expr) => {{
        let mut connection = $store.connection().await?;
        let result = async {
            let mut tx = connection.begin().await?;
            let $c = &mut *tx;
            let result = $body.await?;
            tx.commit().await?;
            Ok::<_, StoreError>(result)
        }
        .await;
        connection.release(&result).await;
        result
    }};
}

/// A page's statement with its row limit written into the SQL rather than
/// bound. PostgreSQL plans `LIMIT $n` as if a tenth of the matching rows were
/// read, so the custom plan of each call, which sees the number, always looked
/// cheaper than the generic one and every page was planned again (a quarter
/// of the statement's time). With the number written in, PostgreSQL can keep
/// one generic plan per limit in use on each connection (it still plans per
/// call when its statistics make the call's own plan look cheaper); sqlx's
/// statement cache bounds how many statements a connection keeps.
fn limited(statement: &'static str, limit: u32) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(format!("{statement} LIMIT {limit}"))
}

/// Runs `$body` (an expression over the connection `$c`) on a pooled connection.
macro_rules! on_connection {
    ($store:expr, |$c:ident| $body:expr) => {{
        let mut connection = $store.connection().await?;
        let result = {
            let $c = &mut *connection;
            $body.await
        };
        connection.release(&result).await;
        result
    }};
}

#[derive(Clone)]
pub struct PgStore {
    pool: Connections,
    creates: CreateQueue,
    settings_epoch: Arc<AtomicU64>,
}

impl PgStore {
    /// Connects to a `postgres://` URL with default options and runs pending migrations.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::connect_with(url, PgOptions::default()).await
    }

    /// Connects, runs pending migrations and moves legacy run reports; messages
    /// written before search existed are indexed in the background (a large
    /// database is served at once, its older messages become searchable as
    /// the indexer reaches them).
    pub async fn connect_with(url: &str, options: PgOptions) -> StoreResult<Self> {
        let connect = PgConnectOptions::from_str(url)?
            .options([("statement_timeout", format!("{}ms", options.statement_timeout.as_millis()))]);
        let pool = Connections::new(connect, options.max_connections, options.acquire_timeout)?;
        on_connection!(pool, |c| async { migrate::postgres_migrator().run(c).await.map_err(StoreError::from) })?;
        let creates = CreateQueue::start(pool.clone(), options.max_connections);
        let store = PgStore { pool, creates, settings_epoch: Arc::default() };
        store.move_legacy_reports().await?;
        tokio::spawn(index_unindexed_messages(store.pool.clone()));
        tokio::spawn(fold_activity_until_closed(store.pool.clone()));
        Ok(store)
    }

    /// Counts a settings write (also a failed one: a spare cache refill costs little).
    fn settings_changed(&self) {
        self.settings_epoch.fetch_add(1, Ordering::Release);
    }

    async fn connection(&self) -> StoreResult<Pooled> {
        self.pool.connection().await
    }

    /// Moves run reports earlier releases kept as raw telemetry into `runs`.
    async fn move_legacy_reports(&self) -> StoreResult<()> {
        let mut total = 0;
        loop {
            let moved = in_transaction!(self, |c| runs::move_legacy_reports(c, runs::LEGACY_BATCH))?;
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
}

/// Messages indexed for search per transaction while an older database catches up.
const INDEXING_BATCH: u32 = 1_000;

/// Indexes every message without a search entry, a batch per transaction
/// (several nodes share the work: a batch skips rows another node holds).
async fn index_unindexed_messages(pool: Connections) {
    let (mut total, mut after) = (0, String::new());
    loop {
        let batch = async { in_transaction!(pool, |c| messages::index_unindexed(c, &after, INDEXING_BATCH)) };
        match batch.await {
            Ok((indexed, last)) => {
                after = last;
                let before = total;
                total += indexed;
                if indexed < INDEXING_BATCH as usize {
                    break;
                }
                if indexing_progress_due(before, total) {
                    tracing::info!(messages = total, "indexing older messages for search");
                }
            }
            Err(error) => {
                tracing::warn!(%error, "indexing older messages for search stopped; the next start resumes it");
                return;
            }
        }
    }
    if total > 0 {
        tracing::info!(messages = total, "indexed older messages for search");
    }
}

/// Folds the activity log into the daily rollups in one transaction.
async fn fold_activity(pool: &Connections) -> StoreResult<u64> {
    in_transaction!(pool, |c| dashboard::fold_activity(c))
}

/// Folds the activity log every [`ACTIVITY_FOLD_INTERVAL`] until the pool closes
/// (a failure is logged once, until a fold succeeds again), and closes the
/// connections that sat idle too long.
async fn fold_activity_until_closed(pool: Connections) {
    let mut failing = false;
    loop {
        tokio::time::sleep(ACTIVITY_FOLD_INTERVAL).await;
        if pool.is_closed() {
            return;
        }
        pool.close_idle();
        match fold_activity(&pool).await {
            Ok(_) => failing = false,
            Err(error) if !failing => {
                failing = true;
                tracing::warn!(%error, "folding the activity log into the daily rollups failed; retrying");
            }
            Err(_) => {}
        }
    }
}

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        on_connection!(self, |c| async { sqlx::query("SELECT 1").execute(c).await.map(drop).map_err(StoreError::from) })
    }

    async fn close(&self) {
        if let Err(error) = fold_activity(&self.pool).await {
            tracing::warn!(%error, "folding the activity log at close failed; the next node or start folds it");
        }
        self.pool.close();
    }

    async fn ensure_project(&self, id: &str, name: &str, now: Millis) -> StoreResult<Project> {
        let result = in_transaction!(self, |c| projects::ensure_project(c, id, name, now));
        self.settings_changed();
        result
    }

    async fn create_project(&self, project: &Project) -> StoreResult<()> {
        let result = in_transaction!(self, |c| projects::create_project(c, project));
        self.settings_changed();
        result
    }

    async fn get_project(&self, id: &str) -> StoreResult<Option<Project>> {
        on_connection!(self, |c| projects::get_project(c, id))
    }

    async fn list_projects(&self) -> StoreResult<Vec<Project>> {
        on_connection!(self, |c| projects::list_projects(c))
    }

    async fn set_allowed_origins(&self, project_id: &str, origins: &[String]) -> StoreResult<bool> {
        let result = in_transaction!(self, |c| projects::set_allowed_origins(c, project_id, origins));
        self.settings_changed();
        result
    }

    async fn set_anonymous_enabled(&self, project_id: &str, enabled: bool) -> StoreResult<bool> {
        let result = in_transaction!(self, |c| projects::set_anonymous_enabled(c, project_id, enabled));
        self.settings_changed();
        result
    }

    fn local_settings_epoch(&self) -> u64 {
        self.settings_epoch.load(Ordering::Acquire)
    }

    async fn settings_version(&self) -> StoreResult<i64> {
        on_connection!(self, |c| projects::settings_version(c))
    }

    async fn insert_signing_key(&self, key: &SigningKey) -> StoreResult<()> {
        let result = in_transaction!(self, |c| projects::insert_signing_key(c, key));
        self.settings_changed();
        result
    }

    async fn signing_keys(&self, project_id: &str) -> StoreResult<Vec<SigningKey>> {
        on_connection!(self, |c| projects::signing_keys(c, project_id))
    }

    async fn signing_key(&self, kid: &str) -> StoreResult<Option<SigningKey>> {
        on_connection!(self, |c| projects::signing_key(c, kid))
    }

    async fn insert_api_key(&self, key: &ApiKey) -> StoreResult<()> {
        let result = in_transaction!(self, |c| projects::insert_api_key(c, key));
        self.settings_changed();
        result
    }

    async fn api_key_by_hash(&self, secret_hash: &str) -> StoreResult<Option<ApiKey>> {
        on_connection!(self, |c| projects::api_key_by_hash(c, secret_hash))
    }

    async fn list_api_keys(&self, project_id: Option<&str>) -> StoreResult<Vec<ApiKey>> {
        on_connection!(self, |c| projects::list_api_keys(c, project_id))
    }

    async fn revoke_api_key(&self, id: &str, now: Millis) -> StoreResult<bool> {
        let result = in_transaction!(self, |c| projects::revoke_api_key(c, id, now));
        self.settings_changed();
        result
    }

    async fn touch_api_key(&self, id: &str, now: Millis) -> StoreResult<()> {
        on_connection!(self, |c| projects::touch_api_key(c, id, now))
    }

    async fn list_threads(&self, query: &ThreadListQuery) -> StoreResult<Vec<Thread>> {
        on_connection!(self, |c| threads::list(c, query))
    }

    async fn get_thread(&self, scope: &ReadScope, id: &str) -> StoreResult<Option<Thread>> {
        on_connection!(self, |c| threads::get(c, scope, id))
    }

    async fn create_thread(&self, thread: &NewThread) -> StoreResult<(String, bool)> {
        in_transaction!(self, |c| threads::create(c, thread))
    }

    async fn update_thread(
        &self,
        scope: &WorkspaceScope,
        id: &str,
        patch: &ThreadPatch,
        now: Millis,
    ) -> StoreResult<()> {
        on_connection!(self, |c| threads::update(c, scope, id, patch, now))
    }

    async fn delete_thread(&self, scope: &WorkspaceScope, id: &str) -> StoreResult<Vec<String>> {
        in_transaction!(self, |c| threads::delete(c, scope, id))
    }

    async fn erase_user(&self, project_id: &str, user_id: &str) -> StoreResult<Erasure> {
        in_transaction!(self, |c| threads::erase_user(c, project_id, user_id))
    }

    async fn purge_threads_before(&self, project_id: &str, before: Millis, limit: u32) -> StoreResult<Erasure> {
        in_transaction!(self, |c| threads::purge_before(c, project_id, before, limit))
    }

    async fn set_auto_title(
        &self,
        scope: &WorkspaceScope,
        id: &str,
        title: Option<&str>,
        now: Millis,
    ) -> StoreResult<Option<String>> {
        in_transaction!(self, |c| threads::set_auto_title(c, scope, id, title, now))
    }

    async fn list_messages(
        &self,
        scope: &ReadScope,
        thread_id: &str,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        on_connection!(self, |c| messages::list(c, scope, thread_id, after, limit))
    }

    async fn create_message(&self, scope: &WorkspaceScope, message: &NewMessage) -> StoreResult<MessageWrite> {
        if messages::needs_transaction(message) {
            in_transaction!(self, |c| messages::create(c, scope, message))
        } else {
            self.creates.create(scope, message).await?;
            Ok(MessageWrite::Created(message.id.clone()))
        }
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
        in_transaction!(self, |c| messages::update_content(c, scope, thread_id, message_id, body, now, policy))
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
        in_transaction!(self, |c| messages::write_as_lease_holder(c, scope, thread_id, target, lease_id, body, now))
    }

    async fn get_run_lease(&self, lease_id: &str) -> StoreResult<Option<RunLease>> {
        on_connection!(self, |c| messages::get_run_lease(c, lease_id))
    }

    async fn heartbeat_run(
        &self,
        scope: &WorkspaceScope,
        thread_id: &str,
        lease_id: &str,
        now: Millis,
    ) -> StoreResult<()> {
        in_transaction!(self, |c| messages::heartbeat(c, scope, thread_id, lease_id, now))
    }

    async fn end_run(
        &self,
        scope: &WorkspaceScope,
        thread_id: &str,
        lease_id: &str,
        reason: &str,
        now: Millis,
    ) -> StoreResult<()> {
        in_transaction!(self, |c| messages::end_run(c, scope, thread_id, lease_id, reason, now))
    }

    async fn delete_messages(&self, scope: &WorkspaceScope, thread_id: &str, ids: &[String]) -> StoreResult<u64> {
        in_transaction!(self, |c| messages::delete(c, scope, thread_id, ids))
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
        in_transaction!(self, |c| messages::upsert_feedback(
            c, scope, thread_id, message_id, user_id, kind, comment, now
        ))
    }

    async fn create_anonymous_session(&self, session: &AnonymousSession, token_hash: &str) -> StoreResult<()> {
        in_transaction!(self, |c| anonymous::create(c, session, token_hash))
    }

    async fn refresh_anonymous_session(
        &self,
        project_id: &str,
        token_hash: &str,
        new_token_hash: &str,
        now: Millis,
        policy: RefreshPolicy,
    ) -> StoreResult<RefreshOutcome> {
        in_transaction!(self, |c| anonymous::refresh(c, project_id, token_hash, new_token_hash, now, policy))
    }

    async fn claim_anonymous_threads(
        &self,
        token_hash: &str,
        target: &WorkspaceScope,
        now: Millis,
        policy: RefreshPolicy,
    ) -> StoreResult<ClaimOutcome> {
        in_transaction!(self, |c| anonymous::claim(c, token_hash, target, now, policy))
    }

    async fn collect_anonymous_garbage(&self, idle_before: Millis, rotated_before: Millis) -> StoreResult<(u64, u64)> {
        in_transaction!(self, |c| anonymous::collect_garbage(c, idle_before, rotated_before))
    }

    async fn insert_attachment(&self, attachment: &Attachment) -> StoreResult<()> {
        on_connection!(self, |c| files::insert(c, attachment))
    }

    async fn get_attachment(&self, key: &str) -> StoreResult<Option<Attachment>> {
        on_connection!(self, |c| files::get(c, key))
    }

    async fn complete_attachment(&self, key: &str, size: i64, content_type: &str) -> StoreResult<()> {
        on_connection!(self, |c| files::complete(c, key, size, content_type))
    }

    async fn link_attachments(&self, scope: &WorkspaceScope, thread_id: &str, keys: &[String]) -> StoreResult<()> {
        on_connection!(self, |c| files::link(c, scope, thread_id, keys))
    }

    async fn expired_uploads(&self, before: Millis) -> StoreResult<Vec<Attachment>> {
        on_connection!(self, |c| files::expired_uploads(c, before))
    }

    async fn delete_attachment(&self, key: &str) -> StoreResult<()> {
        on_connection!(self, |c| files::delete(c, key))
    }

    async fn server_secret(&self, name: &str, candidate: &[u8], now: Millis) -> StoreResult<Vec<u8>> {
        in_transaction!(self, |c| projects::server_secret(c, name, candidate, now))
    }

    async fn insert_auth_rule(&self, rule: &AuthRule) -> StoreResult<()> {
        let result = in_transaction!(self, |c| projects::insert_auth_rule(c, rule));
        self.settings_changed();
        result
    }

    async fn list_auth_rules(&self, project_id: Option<&str>) -> StoreResult<Vec<AuthRule>> {
        on_connection!(self, |c| projects::list_auth_rules(c, project_id))
    }

    async fn delete_auth_rule(&self, id: &str) -> StoreResult<bool> {
        let result = in_transaction!(self, |c| projects::delete_auth_rule(c, id));
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
        in_transaction!(self, |c| search::search(c, scope, needle, limit, after))
    }

    async fn import_thread(&self, thread: &Thread) -> StoreResult<bool> {
        on_connection!(self, |c| threads::import(c, thread))
    }

    async fn import_message(&self, message: &Message, search_text: &str) -> StoreResult<bool> {
        in_transaction!(self, |c| messages::import(c, message, search_text))
    }

    async fn export_rows(
        &self,
        table: ExportTable,
        project_id: Option<&str>,
        after: &str,
        limit: u32,
    ) -> StoreResult<Vec<ExportRow>> {
        on_connection!(self, |c| transfer::export(c, table, project_id, after, limit))
    }

    async fn import_row(&self, row: &ExportRow) -> StoreResult<bool> {
        let result = in_transaction!(self, |c| transfer::import(c, row));
        self.settings_changed();
        result
    }

    async fn insert_telemetry(&self, record_type: &str, records: &[TelemetryRecord]) -> StoreResult<()> {
        in_transaction!(self, |c| telemetry::insert(c, record_type, records))
    }

    async fn upsert_score(&self, score: &Score) -> StoreResult<String> {
        in_transaction!(self, |c| telemetry::upsert_score(c, score))
    }

    async fn title_settings(&self, project_id: &str) -> StoreResult<Option<TitleSettings>> {
        on_connection!(self, |c| titles::settings(c, project_id))
    }

    async fn put_title_settings(&self, settings: &TitleSettings) -> StoreResult<bool> {
        in_transaction!(self, |c| titles::put_settings(c, settings))
    }

    async fn set_titles_enabled(&self, project_id: &str, enabled: bool, now: Millis) -> StoreResult<bool> {
        in_transaction!(self, |c| titles::set_enabled(c, project_id, enabled, now))
    }

    async fn title_state(&self, scope: &WorkspaceScope, thread_id: &str) -> StoreResult<Option<TitleState>> {
        on_connection!(self, |c| titles::state(c, scope, thread_id))
    }

    async fn claim_title_attempt(
        &self,
        scope: &WorkspaceScope,
        thread_id: &str,
        max_attempts: u32,
        stale_before: Millis,
        now: Millis,
    ) -> StoreResult<TitleClaim> {
        in_transaction!(self, |c| titles::claim(c, scope, thread_id, max_attempts, stale_before, now))
    }

    async fn finish_title_attempt(
        &self,
        scope: &WorkspaceScope,
        thread_id: &str,
        started_at: Millis,
        title: Option<&str>,
        now: Millis,
    ) -> StoreResult<Option<String>> {
        in_transaction!(self, |c| titles::finish(c, scope, thread_id, started_at, title, now))
    }

    async fn title_candidates(
        &self,
        since: Millis,
        max_attempts: u32,
        stale_before: Millis,
        limit: u32,
    ) -> StoreResult<Vec<TitleCandidate>> {
        on_connection!(self, |c| titles::candidates(c, since, max_attempts, stale_before, limit))
    }

    async fn record_run(&self, run: &Run) -> StoreResult<String> {
        in_transaction!(self, |c| runs::record(c, run))
    }

    async fn record_trace(&self, batch: &TraceBatch) -> StoreResult<TraceOutcome> {
        in_transaction!(self, |c| runs::record_trace(c, batch))
    }

    async fn get_run(&self, project_id: &str, id: &str) -> StoreResult<Option<Run>> {
        on_connection!(self, |c| runs::get(c, project_id, id))
    }

    async fn run_spans(&self, project_id: &str, run_id: &str) -> StoreResult<Vec<SpanRecord>> {
        on_connection!(self, |c| runs::spans(c, project_id, run_id))
    }

    async fn list_runs(&self, query: &RunQuery) -> StoreResult<Vec<Run>> {
        on_connection!(self, |c| runs::list(c, query))
    }

    async fn list_scores(&self, query: &ScoreQuery) -> StoreResult<Vec<ScoreRecord>> {
        on_connection!(self, |c| runs::list_scores(c, query))
    }

    async fn list_threads_by_creation(&self, query: &ThreadCreationQuery) -> StoreResult<Vec<Thread>> {
        on_connection!(self, |c| runs::threads_by_creation(c, query))
    }

    async fn usage_by_day(
        &self,
        project_id: &str,
        from: Millis,
        to: Millis,
        by_model: bool,
    ) -> StoreResult<(Vec<RunUsage>, Vec<MessageUsage>)> {
        on_connection!(self, |c| runs::usage_by_day(c, project_id, from, to, by_model))
    }

    async fn usage_totals(&self, project_id: &str, from: Millis, to: Millis) -> StoreResult<UsageTotals> {
        on_connection!(self, |c| runs::usage_totals(c, project_id, from, to))
    }

    async fn rename_project(&self, id: &str, name: &str) -> StoreResult<bool> {
        self.settings_changed();
        in_transaction!(self, |c| dashboard::rename_project(c, id, name))
    }

    async fn update_auth_rule(&self, rule: &AuthRule) -> StoreResult<bool> {
        self.settings_changed();
        in_transaction!(self, |c| projects::update_auth_rule(c, rule))
    }

    async fn insert_admin(&self, account: &AdminAccount) -> StoreResult<()> {
        on_connection!(self, |c| dashboard::insert_admin(c, account))
    }

    async fn admin_by_email(&self, email: &str) -> StoreResult<Option<AdminAccount>> {
        on_connection!(self, |c| dashboard::admin_by_email(c, email))
    }

    async fn list_admins(&self) -> StoreResult<Vec<AdminAccount>> {
        on_connection!(self, |c| dashboard::list_admins(c))
    }

    async fn delete_admin(&self, id: &str) -> StoreResult<bool> {
        in_transaction!(self, |c| dashboard::delete_admin(c, id))
    }

    async fn set_admin_password(&self, id: &str, password_hash: &str) -> StoreResult<bool> {
        in_transaction!(self, |c| dashboard::set_admin_password(c, id, password_hash))
    }

    async fn insert_admin_session(&self, session: &AdminSession) -> StoreResult<()> {
        in_transaction!(self, |c| dashboard::insert_admin_session(c, session))
    }

    async fn admin_session(&self, token_hash: &str) -> StoreResult<Option<(AdminSession, AdminAccount)>> {
        on_connection!(self, |c| dashboard::admin_session(c, token_hash))
    }

    async fn touch_admin_session(&self, token_hash: &str, now: Millis) -> StoreResult<()> {
        on_connection!(self, |c| dashboard::touch_admin_session(c, token_hash, now))
    }

    async fn delete_admin_session(&self, token_hash: &str) -> StoreResult<()> {
        on_connection!(self, |c| dashboard::delete_admin_session(c, token_hash))
    }

    async fn delete_expired_admin_sessions(&self, idle_before: Millis, now: Millis) -> StoreResult<u64> {
        on_connection!(self, |c| dashboard::delete_expired_admin_sessions(c, idle_before, now))
    }

    async fn insert_audit(&self, entry: &AuditEntry) -> StoreResult<()> {
        on_connection!(self, |c| dashboard::insert_audit(c, entry))
    }

    async fn list_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        on_connection!(self, |c| dashboard::list_audit(c, query))
    }

    async fn record_user_activity(&self, sighting: &UserSighting) -> StoreResult<()> {
        in_transaction!(self, |c| dashboard::record_user_activity(c, sighting))
    }

    async fn list_users(&self, query: &UserQuery) -> StoreResult<Vec<UserRecord>> {
        on_connection!(self, |c| dashboard::list_users(c, query))
    }

    async fn get_user(&self, project_id: &str, user_id: &str) -> StoreResult<Option<UserRecord>> {
        on_connection!(self, |c| dashboard::get_user(c, project_id, user_id))
    }

    async fn count_workspace_threads(&self, project_id: &str, workspace_id: &str, cap: u32) -> StoreResult<u64> {
        on_connection!(self, |c| dashboard::count_workspace_threads(c, project_id, workspace_id, cap))
    }

    async fn admin_list_threads(&self, query: &AdminThreadQuery) -> StoreResult<Vec<Thread>> {
        on_connection!(self, |c| dashboard::admin_list_threads(c, query))
    }

    async fn daily_activity(&self, project_id: &str, from: Day, until: Day) -> StoreResult<Vec<DayActivity>> {
        on_connection!(self, |c| dashboard::daily_activity(c, project_id, from, until))
    }

    async fn count_active_users(&self, project_id: &str, from: Day, until: Day) -> StoreResult<u64> {
        on_connection!(self, |c| dashboard::count_active_users(c, project_id, from, until))
    }

    async fn list_feedback(&self, page: &ProjectPage) -> StoreResult<Vec<FeedbackRow>> {
        on_connection!(self, |c| dashboard::list_feedback(c, page))
    }

    async fn set_retention_days(&self, project_id: &str, days: Option<u32>) -> StoreResult<bool> {
        self.settings_changed();
        in_transaction!(self, |c| dashboard::set_retention_days(c, project_id, days))
    }

    async fn retention_days(&self) -> StoreResult<Vec<(String, u32)>> {
        on_connection!(self, |c| dashboard::retention_days(c))
    }

    async fn count_threads_before(&self, project_id: &str, before: Millis, cap: u32) -> StoreResult<u64> {
        on_connection!(self, |c| dashboard::count_threads_before(c, project_id, before, cap))
    }
}
