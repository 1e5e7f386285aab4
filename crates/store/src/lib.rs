//! Storage for threadhold: the [`Store`] trait every database backend
//! implements, and the backends themselves: SQLite (the embedded default, on
//! `rusqlite` with a group-committing writer thread) and PostgreSQL (on sqlx).
//! Both pass one conformance suite (`tests/conformance`).
#![forbid(unsafe_code)]

mod error;
mod migrate;
pub mod postgres;
mod shared;
pub mod sqlite;

use async_trait::async_trait;
use threadhold_domain::Millis;
use threadhold_domain::dashboard::{
    AdminAccount, AdminSession, AdminThreadQuery, AuditEntry, AuditQuery, Day, DayActivity, FeedbackRow, ProjectPage,
    UserQuery, UserRecord, UserSighting,
};
use threadhold_domain::model::{
    AnonymousSession, ApiKey, Attachment, ClaimOutcome, Feedback, FeedbackKind, Message, MessageBody, MessageUsage,
    MessageWrite, NewMessage, NewThread, Project, RefreshOutcome, Run, RunQuery, RunUsage, Score, ScoreQuery,
    ScoreRecord, SearchHit, SigningKey, SpanRecord, TelemetryRecord, Thread, ThreadCreationQuery, ThreadListQuery,
    ThreadPatch, TraceBatch, TraceOutcome, UsageTotals, WorkspaceScope,
};
use threadhold_domain::model::{AuthRule, LeaseTarget};
use threadhold_domain::refresh::RefreshPolicy;
use threadhold_domain::runs::{LeasePolicy, RunLease};
use threadhold_domain::title::settings::TitleSettings;
use threadhold_domain::title::state::{TitleCandidate, TitleClaim, TitleState};
use threadhold_domain::transfer::{ExportRow, ExportTable};

pub use error::StoreError;
pub use postgres::{PgOptions, PgStore};
pub use sqlite::{Durability, SqliteOptions, SqliteStore};

pub type StoreResult<T> = Result<T, StoreError>;

/// What a bulk delete removed: the thread count, and attachment keys whose files must go too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Erasure {
    pub threads: u64,
    pub attachment_keys: Vec<String>,
}

/// Which threads a read may see: one workspace, or a whole project (API keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadScope {
    pub project_id: String,
    pub workspace_id: Option<String>,
}

impl From<&WorkspaceScope> for ReadScope {
    fn from(scope: &WorkspaceScope) -> Self {
        ReadScope { project_id: scope.project_id.clone(), workspace_id: Some(scope.workspace_id.clone()) }
    }
}

/// Everything threadhold persists. Implementations must make every method
/// atomic, and must serialize message creates per (thread, external id) and
/// thread upserts per (workspace, external id).
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Cheap liveness check of the database connection.
    async fn ping(&self) -> StoreResult<()>;
    /// Closes the connections (on SQLite this also checkpoints the WAL).
    async fn close(&self);

    /// Creates the project if it does not exist yet; returns it either way.
    async fn ensure_project(&self, id: &str, name: &str, now: Millis) -> StoreResult<Project>;
    /// Creates a new project; [`StoreError::AlreadyExists`] if the id is taken.
    async fn create_project(&self, project: &Project) -> StoreResult<()>;
    async fn get_project(&self, id: &str) -> StoreResult<Option<Project>>;
    async fn list_projects(&self) -> StoreResult<Vec<Project>>;
    /// Replaces a project's CORS origins; false when the project does not exist.
    async fn set_allowed_origins(&self, project_id: &str, origins: &[String]) -> StoreResult<bool>;
    /// Opens or closes anonymous mode for a project; false when the project does not exist.
    async fn set_anonymous_enabled(&self, project_id: &str, enabled: bool) -> StoreResult<bool>;
    /// A counter every administrative change (projects, keys, rules, access
    /// settings) moves; nodes compare it to know when to reload their caches.
    async fn settings_version(&self) -> StoreResult<i64>;
    /// Moves whenever a change of settings was written through this store
    /// object, so this process sees its own changes at once (other processes
    /// see them through [`Store::settings_version`]).
    fn local_settings_epoch(&self) -> u64;

    async fn insert_signing_key(&self, key: &SigningKey) -> StoreResult<()>;
    /// The project's signing keys, newest first (the first one signs).
    async fn signing_keys(&self, project_id: &str) -> StoreResult<Vec<SigningKey>>;
    async fn signing_key(&self, kid: &str) -> StoreResult<Option<SigningKey>>;

    async fn insert_api_key(&self, key: &ApiKey) -> StoreResult<()>;
    async fn api_key_by_hash(&self, secret_hash: &str) -> StoreResult<Option<ApiKey>>;
    /// Keys of one project, or of all projects, oldest first.
    async fn list_api_keys(&self, project_id: Option<&str>) -> StoreResult<Vec<ApiKey>>;
    /// Marks a key revoked; false when no unrevoked key has that id.
    async fn revoke_api_key(&self, id: &str, now: Millis) -> StoreResult<bool>;
    /// Records use of a key, at most once a minute per key to spare the database.
    async fn touch_api_key(&self, id: &str, now: Millis) -> StoreResult<()>;

    async fn list_threads(&self, query: &ThreadListQuery) -> StoreResult<Vec<Thread>>;
    async fn get_thread(&self, scope: &ReadScope, id: &str) -> StoreResult<Option<Thread>>;
    /// Creates a thread, or with `upsert` returns the workspace's oldest thread
    /// with the same external id. The flag tells whether a thread was created.
    async fn create_thread(&self, thread: &NewThread) -> StoreResult<(String, bool)>;
    /// [`StoreError::ThreadNotFound`] when the thread is not in the scope.
    async fn update_thread(
        &self,
        scope: &WorkspaceScope,
        id: &str,
        patch: &ThreadPatch,
        now: Millis,
    ) -> StoreResult<()>;
    /// Deletes the thread, all its messages and its attachment records;
    /// returns the attachment keys whose files must go too.
    async fn delete_thread(&self, scope: &WorkspaceScope, id: &str) -> StoreResult<Vec<String>>;
    /// Deletes everything stored for a user: the workspace of the same id
    /// (threads, messages, files), their feedback, scores, telemetry and anonymous session.
    async fn erase_user(&self, project_id: &str, user_id: &str) -> StoreResult<Erasure>;
    /// Deletes up to `limit` threads of the project whose last message is older than `before`.
    async fn purge_threads_before(&self, project_id: &str, before: Millis, limit: u32) -> StoreResult<Erasure>;
    /// Sets an automatic title unless the thread has one; returns the title the thread ends with.
    async fn set_auto_title(
        &self,
        scope: &WorkspaceScope,
        id: &str,
        title: Option<&str>,
        now: Millis,
    ) -> StoreResult<Option<String>>;

    /// A page of the thread's messages in the contract's order. A thread
    /// outside the scope, or an unknown `after`, gives an empty page.
    async fn list_messages(
        &self,
        scope: &ReadScope,
        thread_id: &str,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<Message>>;
    async fn create_message(&self, scope: &WorkspaceScope, message: &NewMessage) -> StoreResult<MessageWrite>;
    /// A plain write (no lease): refused with [`StoreError::RunInProgress`]
    /// while a fresh lease runs on the message, closing a stale one.
    async fn update_message_content(
        &self,
        scope: &WorkspaceScope,
        thread_id: &str,
        message_id: &str,
        body: &MessageBody,
        now: Millis,
        policy: LeasePolicy,
    ) -> StoreResult<()>;
    /// A write by the holder of `lease_id`: replaces the content and renews
    /// the lease. Returns the message id.
    async fn write_as_lease_holder(
        &self,
        scope: &WorkspaceScope,
        thread_id: &str,
        target: &LeaseTarget,
        lease_id: &str,
        body: &MessageBody,
        now: Millis,
    ) -> StoreResult<String>;
    async fn get_run_lease(&self, lease_id: &str) -> StoreResult<Option<RunLease>>;
    /// Renews a running lease.
    async fn heartbeat_run(
        &self,
        scope: &WorkspaceScope,
        thread_id: &str,
        lease_id: &str,
        now: Millis,
    ) -> StoreResult<()>;
    /// Ends a lease; ending an ended lease succeeds and keeps the first reason.
    async fn end_run(
        &self,
        scope: &WorkspaceScope,
        thread_id: &str,
        lease_id: &str,
        reason: &str,
        now: Millis,
    ) -> StoreResult<()>;
    /// Deletes the named messages and all their descendants; returns how many
    /// of the named ids existed in the thread.
    async fn delete_messages(&self, scope: &WorkspaceScope, thread_id: &str, ids: &[String]) -> StoreResult<u64>;
    #[allow(clippy::too_many_arguments)]
    async fn upsert_feedback(
        &self,
        scope: &WorkspaceScope,
        thread_id: &str,
        message_id: &str,
        user_id: &str,
        kind: FeedbackKind,
        comment: Option<&str>,
        now: Millis,
    ) -> StoreResult<Feedback>;

    /// Stores a new anonymous session and its first refresh token (by hash).
    async fn create_anonymous_session(&self, session: &AnonymousSession, token_hash: &str) -> StoreResult<()>;
    /// Exchanges a refresh token (by hash) for `new_token_hash` following
    /// [`threadhold_domain::refresh::judge`]; a reuse outside the grace window
    /// revokes the session, and that revocation is committed.
    async fn refresh_anonymous_session(
        &self,
        project_id: &str,
        token_hash: &str,
        new_token_hash: &str,
        now: Millis,
        policy: RefreshPolicy,
    ) -> StoreResult<RefreshOutcome>;
    /// Moves every thread of the anonymous identity behind `token_hash` into
    /// `target` and closes its session. A session already claimed moves nothing.
    async fn claim_anonymous_threads(
        &self,
        token_hash: &str,
        target: &WorkspaceScope,
        now: Millis,
        policy: RefreshPolicy,
    ) -> StoreResult<ClaimOutcome>;
    /// Deletes anonymous sessions idle since before `idle_before` whose
    /// workspace holds no thread, and rotated refresh tokens older than
    /// `rotated_before`. Returns (sessions, tokens) deleted.
    async fn collect_anonymous_garbage(&self, idle_before: Millis, rotated_before: Millis) -> StoreResult<(u64, u64)>;

    async fn insert_attachment(&self, attachment: &Attachment) -> StoreResult<()>;
    async fn get_attachment(&self, key: &str) -> StoreResult<Option<Attachment>>;
    /// Marks an upload complete with its final size and type.
    async fn complete_attachment(&self, key: &str, size: i64, content_type: &str) -> StoreResult<()>;
    /// Links the scope's attachments among `keys` to a thread (they go when it goes).
    async fn link_attachments(&self, scope: &WorkspaceScope, thread_id: &str, keys: &[String]) -> StoreResult<()>;
    /// Uploads still pending whose URL expired before `before`.
    async fn expired_uploads(&self, before: Millis) -> StoreResult<Vec<Attachment>>;
    async fn delete_attachment(&self, key: &str) -> StoreResult<()>;
    /// Returns the server secret called `name`, storing `candidate` first if it has none yet.
    async fn server_secret(&self, name: &str, candidate: &[u8], now: Millis) -> StoreResult<Vec<u8>>;

    async fn insert_auth_rule(&self, rule: &AuthRule) -> StoreResult<()>;
    /// Rules of one project, or of all projects, oldest first.
    async fn list_auth_rules(&self, project_id: Option<&str>) -> StoreResult<Vec<AuthRule>>;
    /// False when no rule has that id.
    async fn delete_auth_rule(&self, id: &str) -> StoreResult<bool>;

    /// A page of the scope's threads whose title or message text contains
    /// `needle` (case-insensitive), newest thread first, after the thread
    /// `after`; each with its newest matching message and a snippet. Reads
    /// only index matches (at most [`threadhold_domain::search::MESSAGES_EXAMINED_MAX`]
    /// messages) and bounded text; an unknown `after` gives an empty page.
    async fn search(
        &self,
        scope: &ReadScope,
        needle: &str,
        limit: u32,
        after: Option<&str>,
    ) -> StoreResult<Vec<SearchHit>>;
    /// Inserts a thread as exported elsewhere (ids and timestamps kept); false when its id exists.
    async fn import_thread(&self, thread: &Thread) -> StoreResult<bool>;
    /// Inserts a message as exported elsewhere, with its searchable text; its
    /// thread (and parent) must exist. False when its id exists.
    async fn import_message(&self, message: &Message, search_text: &str) -> StoreResult<bool>;
    /// A page of one table's rows for an export, in key order after `after`
    /// (`""` for the first page); `project_id` narrows it to one project
    /// (server secrets belong to the deployment and come only without it).
    async fn export_rows(
        &self,
        table: ExportTable,
        project_id: Option<&str>,
        after: &str,
        limit: u32,
    ) -> StoreResult<Vec<ExportRow>>;
    /// Writes a row as exported elsewhere unless its key exists (a project's
    /// settings are taken over); true when a row was written.
    async fn import_row(&self, row: &ExportRow) -> StoreResult<bool>;

    /// Stores engagement events (`record_type` tells kinds of records apart).
    async fn insert_telemetry(&self, record_type: &str, records: &[TelemetryRecord]) -> StoreResult<()>;
    /// Upserts a score per target, author and name; returns the stored score id.
    async fn upsert_score(&self, score: &Score) -> StoreResult<String>;

    /// A project's title model settings, switched on or off.
    async fn title_settings(&self, project_id: &str) -> StoreResult<Option<TitleSettings>>;
    /// Stores a project's title settings, replacing any; false when the project does not exist.
    async fn put_title_settings(&self, settings: &TitleSettings) -> StoreResult<bool>;
    /// Switches a project's model titles on or off; false when it has no title settings.
    async fn set_titles_enabled(&self, project_id: &str, enabled: bool, now: Millis) -> StoreResult<bool>;
    /// A thread's title, who wrote it, and its model attempts; `None` outside the scope.
    async fn title_state(&self, scope: &WorkspaceScope, thread_id: &str) -> StoreResult<Option<TitleState>>;
    /// Starts a model attempt on the thread when [`TitleState::may_start`]
    /// allows it, atomically with the check (so concurrent triggers start one).
    /// [`StoreError::ThreadNotFound`] outside the scope.
    async fn claim_title_attempt(
        &self,
        scope: &WorkspaceScope,
        thread_id: &str,
        max_attempts: u32,
        stale_before: Millis,
        now: Millis,
    ) -> StoreResult<TitleClaim>;
    /// Ends the attempt started at `started_at`. A `title` becomes the model's
    /// title unless a user or a model titled the thread meanwhile (checked in
    /// the same statement). Returns the title the thread ends with.
    async fn finish_title_attempt(
        &self,
        scope: &WorkspaceScope,
        thread_id: &str,
        started_at: Millis,
        title: Option<&str>,
        now: Millis,
    ) -> StoreResult<Option<String>>;
    /// Threads the sweep may title, newest first: created at or after `since`
    /// in a project whose model titles are on, without a user's or a model's
    /// title, with fewer than `max_attempts` attempts and none running since
    /// `stale_before`, and with some message text.
    async fn title_candidates(
        &self,
        since: Millis,
        max_attempts: u32,
        stale_before: Millis,
        limit: u32,
    ) -> StoreResult<Vec<TitleCandidate>>;
    /// Stores a client's run report (a run made by
    /// [`threadhold_domain::telemetry::report::RunReport::into_run`]): inserts
    /// it, or with a trace id merges it into the run of that trace
    /// ([`threadhold_domain::telemetry::report::merge`]). Returns the run id.
    /// [`StoreError::ThreadNotFound`] unless its thread is in its workspace,
    /// [`StoreError::MessageNotFound`] unless its message is in the thread.
    async fn record_run(&self, run: &Run) -> StoreResult<String>;
    /// Stores the spans of one trace for its run, creating the run on the
    /// trace's first export; re-exported spans replace the stored ones, and a
    /// trace keeps at most [`threadhold_domain::limits::SPANS_PER_TRACE_MAX`].
    /// The run is then brought up to date from all its spans
    /// ([`threadhold_domain::telemetry::trace::finish`]).
    async fn record_trace(&self, batch: &TraceBatch) -> StoreResult<TraceOutcome>;
    async fn get_run(&self, project_id: &str, id: &str) -> StoreResult<Option<Run>>;
    /// The stored spans of a run, by start time (spans without one last), then span id.
    async fn run_spans(&self, project_id: &str, run_id: &str) -> StoreResult<Vec<SpanRecord>>;
    /// A page of the project's runs, newest first (`created_at DESC, id DESC`).
    async fn list_runs(&self, query: &RunQuery) -> StoreResult<Vec<Run>>;
    /// A page of the project's scores, newest first; an unknown `after` score gives an empty page.
    async fn list_scores(&self, query: &ScoreQuery) -> StoreResult<Vec<ScoreRecord>>;
    /// A page of the project's threads by creation, newest first, archived ones included.
    async fn list_threads_by_creation(&self, query: &ThreadCreationQuery) -> StoreResult<Vec<Thread>>;
    /// Run totals per day (per day, provider and model with `by_model`) and,
    /// without it, messages per day, over `[from, to)`; days count from `from`.
    async fn usage_by_day(
        &self,
        project_id: &str,
        from: Millis,
        to: Millis,
        by_model: bool,
    ) -> StoreResult<(Vec<RunUsage>, Vec<MessageUsage>)>;
    /// The project's totals over `[from, to)`.
    async fn usage_totals(&self, project_id: &str, from: Millis, to: Millis) -> StoreResult<UsageTotals>;

    // The dashboard: every listing below is one indexed, keyset-paged read.

    /// False when the project does not exist.
    async fn rename_project(&self, id: &str, name: &str) -> StoreResult<bool>;
    /// Replaces a rule (same id and project); false when no rule has that id.
    async fn update_auth_rule(&self, rule: &AuthRule) -> StoreResult<bool>;

    /// [`StoreError::AlreadyExists`] when the email is taken.
    async fn insert_admin(&self, account: &AdminAccount) -> StoreResult<()>;
    async fn admin_by_email(&self, email: &str) -> StoreResult<Option<AdminAccount>>;
    /// Every admin account, oldest first (a handful).
    async fn list_admins(&self) -> StoreResult<Vec<AdminAccount>>;
    /// Deletes the account and its sessions; false when there is none.
    async fn delete_admin(&self, id: &str) -> StoreResult<bool>;
    /// Replaces the password and ends the account's sessions; false when there is none.
    async fn set_admin_password(&self, id: &str, password_hash: &str) -> StoreResult<bool>;
    /// Stores a new session and records the login on its account.
    async fn insert_admin_session(&self, session: &AdminSession) -> StoreResult<()>;
    /// The session with this hash and its account.
    async fn admin_session(&self, token_hash: &str) -> StoreResult<Option<(AdminSession, AdminAccount)>>;
    async fn touch_admin_session(&self, token_hash: &str, now: Millis) -> StoreResult<()>;
    async fn delete_admin_session(&self, token_hash: &str) -> StoreResult<()>;
    /// Deletes sessions idle since before `idle_before` or past their absolute end; returns how many.
    async fn delete_expired_admin_sessions(&self, idle_before: Millis, now: Millis) -> StoreResult<u64>;

    async fn insert_audit(&self, entry: &AuditEntry) -> StoreResult<()>;
    async fn list_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>>;

    /// Records that a user made a request: the registry entry and the day's activity.
    async fn record_user_activity(&self, sighting: &UserSighting) -> StoreResult<()>;
    async fn list_users(&self, query: &UserQuery) -> StoreResult<Vec<UserRecord>>;
    async fn get_user(&self, project_id: &str, user_id: &str) -> StoreResult<Option<UserRecord>>;
    /// Threads of a workspace, counted up to `cap` (a bounded read).
    async fn count_workspace_threads(&self, project_id: &str, workspace_id: &str, cap: u32) -> StoreResult<u64>;

    async fn admin_list_threads(&self, query: &AdminThreadQuery) -> StoreResult<Vec<Thread>>;
    /// Days of `from..=until` with any activity, oldest first (days without any are left out).
    async fn daily_activity(&self, project_id: &str, from: Day, until: Day) -> StoreResult<Vec<DayActivity>>;
    /// Distinct users active on the days `from..=until`.
    async fn count_active_users(&self, project_id: &str, from: Day, until: Day) -> StoreResult<u64>;

    async fn list_feedback(&self, page: &ProjectPage) -> StoreResult<Vec<FeedbackRow>>;

    /// A project's own retention period (`None`: the server-wide one); false when the project does not exist.
    async fn set_retention_days(&self, project_id: &str, days: Option<u32>) -> StoreResult<bool>;
    /// Every project's own retention period.
    async fn retention_days(&self) -> StoreResult<Vec<(String, u32)>>;
    /// Threads of the project whose last message is older than `before`, counted up to `cap`.
    async fn count_threads_before(&self, project_id: &str, before: Millis, cap: u32) -> StoreResult<u64>;
}
