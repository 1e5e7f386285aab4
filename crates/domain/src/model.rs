//! The records threadhold stores. JSON documents (`content`, `metadata`) are
//! kept as the exact text the client sent, so they come back byte for byte.

use crate::Millis;
use crate::runs::RunState;

/// A tenant: its own keys, auth settings and workspaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: String,
    pub name: String,
    /// Browser origins allowed by CORS; empty allows every origin.
    pub allowed_origins: Vec<String>,
    /// Whether `POST /v1/auth/tokens/anonymous` and `…/refresh` are open.
    pub anonymous_enabled: bool,
    pub created_at: Millis,
}

/// The id of the project that exists from the first start and answers at the server root.
pub const DEFAULT_PROJECT_ID: &str = "default";

/// Who a request acts as: a user inside one workspace of one project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceScope {
    pub project_id: String,
    pub workspace_id: String,
}

/// A backend API key. Only the SHA-256 of the secret is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub secret_hash: String,
    /// The first characters of the key, shown in listings to recognise it.
    pub display_prefix: String,
    pub created_at: Millis,
    pub expires_at: Option<Millis>,
    pub last_used_at: Option<Millis>,
    pub revoked_at: Option<Millis>,
}

impl ApiKey {
    pub fn is_usable_at(&self, now: Millis) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|exp| now < exp)
    }
}

/// A project's token-signing key pair (private key as PKCS#8 DER).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKey {
    pub kid: String,
    pub project_id: String,
    pub algorithm: String,
    pub private_der: Vec<u8>,
    pub public_raw: Vec<u8>,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thread {
    pub id: String,
    pub project_id: String,
    pub workspace_id: String,
    pub title: Option<String>,
    /// True once a caller set the title; the automatic title never overwrites it.
    pub title_from_user: bool,
    /// Raw JSON text, any JSON value.
    pub metadata: Option<String>,
    pub external_id: Option<String>,
    pub is_archived: bool,
    pub last_message_at: Millis,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    pub thread_id: String,
    pub parent_id: Option<String>,
    /// Depth in the thread's tree: 0 for a root, parent height + 1 otherwise.
    pub height: i64,
    pub format: String,
    /// Raw JSON text of an object.
    pub content: String,
    pub external_id: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// The message's latest run lease, if it ever had one.
    pub run: Option<RunState>,
}

/// A page request over threads, newest `last_message_at` first.
#[derive(Debug, Clone)]
pub struct ThreadListQuery {
    pub project_id: String,
    /// `None` lists across the whole project (API keys only).
    pub workspace_id: Option<String>,
    pub archived: bool,
    pub after: Option<String>,
    pub limit: u32,
}

#[derive(Debug, Clone)]
pub struct NewThread {
    pub id: String,
    pub scope: WorkspaceScope,
    pub title: Option<String>,
    pub metadata: Option<String>,
    pub external_id: Option<String>,
    pub last_message_at: Millis,
    pub now: Millis,
    /// Return the oldest thread with the same external id instead of creating one.
    pub upsert: bool,
}

/// Fields to change on a thread; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ThreadPatch {
    pub title: Option<Option<String>>,
    pub metadata: Option<Option<String>>,
    pub is_archived: Option<bool>,
    pub last_message_at: Option<Millis>,
}

/// Where a new message hangs in the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParentRef {
    Root,
    /// A server message id in the same thread.
    Id(String),
    /// The external id of a message in the same thread (transcript copies).
    External(String),
}

#[derive(Debug, Clone)]
pub struct NewMessage {
    pub id: String,
    pub thread_id: String,
    pub parent: ParentRef,
    pub format: String,
    pub content: String,
    /// The message's searchable text ([`crate::search::search_text`]).
    pub search_text: String,
    /// `content.role` when present; a repeat under the same external id may not change it.
    pub role: Option<String>,
    pub external_id: Option<String>,
    /// A title for the thread if this message is the first user message of an untitled thread.
    pub auto_title: Option<String>,
    /// Open a run lease with this id on the message (`open_run: true`).
    pub open_lease: Option<String>,
    pub now: Millis,
}

/// What a message create did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageWrite {
    Created(String),
    /// Same external id, same body: nothing written.
    Unchanged(String),
    /// Same external id, new body: content replaced.
    Replaced(String),
}

impl MessageWrite {
    pub fn message_id(&self) -> &str {
        match self {
            MessageWrite::Created(id) | MessageWrite::Unchanged(id) | MessageWrite::Replaced(id) => id,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedbackKind {
    Positive,
    Negative,
}

impl FeedbackKind {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "positive" => Some(FeedbackKind::Positive),
            "negative" => Some(FeedbackKind::Negative),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FeedbackKind::Positive => "positive",
            FeedbackKind::Negative => "negative",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feedback {
    pub id: String,
    pub kind: FeedbackKind,
    pub comment: Option<String>,
}

/// A stored telemetry record (run report, engagement event) kept for later analysis.
#[derive(Debug, Clone)]
pub struct TelemetryRecord {
    pub id: String,
    pub scope: WorkspaceScope,
    pub user_id: String,
    pub thread_id: Option<String>,
    /// Short classification: the run status or the event kind.
    pub kind: String,
    /// Raw JSON body.
    pub body: String,
    pub created_at: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreType {
    Numeric,
    Categorical,
    Boolean,
}

impl ScoreType {
    pub fn as_str(self) -> &'static str {
        match self {
            ScoreType::Numeric => "numeric",
            ScoreType::Categorical => "categorical",
            ScoreType::Boolean => "boolean",
        }
    }
}

/// What a score is about: exactly one of a message, a run or a thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScoreTarget {
    Message { thread_id: String, message_id: String },
    Run(String),
    Thread(String),
}

#[derive(Debug, Clone)]
pub struct Score {
    pub id: String,
    pub scope: WorkspaceScope,
    pub author: String,
    pub target: ScoreTarget,
    pub name: String,
    pub data_type: ScoreType,
    pub value: Option<f64>,
    pub string_value: Option<String>,
    pub comment: Option<String>,
    /// Who wrote it: `api` (an API key) or `end_user` (a user's token).
    pub source: ScoreSource,
    pub now: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreSource {
    Api,
    EndUser,
}

impl ScoreSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ScoreSource::Api => "api",
            ScoreSource::EndUser => "end_user",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "api" => Some(ScoreSource::Api),
            "end_user" => Some(ScoreSource::EndUser),
            _ => None,
        }
    }
}

/// A stored score as the project read API lists it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScoreRecord {
    pub id: String,
    pub workspace_id: String,
    pub thread_id: Option<String>,
    pub message_id: Option<String>,
    pub run_id: Option<String>,
    pub name: String,
    pub data_type: String,
    pub value: Option<f64>,
    pub string_value: Option<String>,
    /// `api` or `end_user`; `None` for scores stored before threadhold recorded it.
    pub source: Option<String>,
    pub author_id: String,
    pub comment: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// Where a page of a `created_at DESC, id DESC` list continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub created_at: Millis,
    pub id: String,
}

/// Where a score page continues: after a score named by id, or after a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScoreAfter {
    /// `GET /v1/projects/scores?after=<score id>`; an unknown id gives an empty page.
    Id(String),
    Position(Position),
}

/// A page of a project's scores, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreQuery {
    pub project_id: String,
    pub name: Option<String>,
    pub thread_id: Option<String>,
    pub run_id: Option<String>,
    pub source: Option<String>,
    /// Scores created at or after this instant.
    pub since: Option<Millis>,
    pub after: Option<ScoreAfter>,
    pub limit: u32,
}

/// A page of a project's threads by creation, newest first (archived ones included).
#[derive(Debug, Clone, PartialEq)]
pub struct ThreadCreationQuery {
    pub project_id: String,
    pub workspace_id: Option<String>,
    pub from: Option<Millis>,
    pub to: Option<Millis>,
    pub after: Option<Position>,
    pub limit: u32,
}

/// A run: what a client reported (`POST /v1/runs`), what a server's spans
/// said (`POST /v1/traces`), or both, merged by their trace id.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub id: String,
    pub scope: WorkspaceScope,
    pub thread_id: Option<String>,
    pub message_id: Option<String>,
    /// The user who reported it (or `user.id` of the spans).
    pub created_by: Option<String>,
    /// `completed`, `incomplete` or `error`.
    pub status: Option<String>,
    pub outcome_type: Option<String>,
    pub error_code: Option<String>,
    pub error: Option<String>,
    pub provider: Option<String>,
    pub model_id: Option<String>,
    pub environment: Option<String>,
    pub release: Option<String>,
    pub tags: Vec<String>,
    /// JSON object text.
    pub attributes: String,
    /// 32 lowercase hex digits: the key reports and spans of one run share.
    pub trace_id: Option<String>,
    pub root_span_id: Option<String>,
    pub service_name: Option<String>,
    pub agent_name: Option<String>,
    pub input_tokens: Option<i64>,
    pub cached_input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub reasoning_tokens: Option<i64>,
    pub duration_ms: Option<i64>,
    pub first_token_ms: Option<i64>,
    pub cost_usd: Option<f64>,
    /// JSON object text.
    pub cost_details: Option<String>,
    pub total_steps: Option<i64>,
    pub output_text: Option<String>,
    /// The reported steps and tool calls, as JSON array text.
    pub steps: Option<String>,
    pub tool_calls: Option<String>,
    /// A client report is merged in.
    pub reported: bool,
    /// Spans of its trace are stored.
    pub traced: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A page of a project's runs, newest first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunQuery {
    pub project_id: String,
    pub status: Option<String>,
    pub outcome_type: Option<String>,
    pub model_id: Option<String>,
    pub provider: Option<String>,
    pub created_by: Option<String>,
    pub thread_id: Option<String>,
    pub workspace_id: Option<String>,
    pub environment: Option<String>,
    pub release: Option<String>,
    pub tag: Option<String>,
    pub from: Option<Millis>,
    pub to: Option<Millis>,
    pub after: Option<Position>,
    pub limit: u32,
}

/// A span of a server's trace, as stored for its run.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanRecord {
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub name: String,
    /// `gen_ai.operation.name` (or the AI SDK's `operation.name`).
    pub operation: Option<String>,
    /// `generation`, `tool_call` or `span`.
    pub span_type: String,
    pub provider: Option<String>,
    pub model_id: Option<String>,
    pub tool_name: Option<String>,
    pub tool_call_id: Option<String>,
    pub tool_source: Option<String>,
    pub input_tokens: Option<i64>,
    pub cached_input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub reasoning_tokens: Option<i64>,
    pub started_at: Option<Millis>,
    pub ended_at: Option<Millis>,
    /// Time to the first chunk, in milliseconds.
    pub first_chunk_ms: Option<i64>,
    /// `unset`, `ok` or `error`.
    pub status_code: Option<String>,
    pub error: Option<String>,
    pub error_type: Option<String>,
    pub finish_reason: Option<String>,
    pub input: Option<String>,
    pub output: Option<String>,
    /// JSON object text (at most [`crate::limits::SPAN_ATTRIBUTES_MAX_BYTES`]).
    pub attributes: String,
}

/// What an export says about its trace's run beyond the spans: the thread,
/// the user and the service (first values found).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TraceHints {
    /// `gen_ai.conversation.id`: a thread id of the project.
    pub conversation_id: Option<String>,
    /// `user.id` or `enduser.id`.
    pub user_id: Option<String>,
    pub service_name: Option<String>,
    /// `service.version`.
    pub release: Option<String>,
    pub environment: Option<String>,
    pub agent_name: Option<String>,
}

/// The spans of one trace in one export.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceBatch {
    pub scope: WorkspaceScope,
    pub trace_id: String,
    pub spans: Vec<SpanRecord>,
    pub hints: TraceHints,
    /// A new run's id, should the trace have none yet.
    pub new_run_id: String,
    pub now: Millis,
}

/// What storing a [`TraceBatch`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceOutcome {
    pub run_id: String,
    pub accepted: usize,
    /// Spans beyond the per-trace limit.
    pub rejected: usize,
}

/// Run totals of a day (or a day, provider and model).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunUsage {
    /// Days since the start of the range.
    pub day: i64,
    pub provider: Option<String>,
    pub model_id: Option<String>,
    pub runs: i64,
    pub errors: i64,
    pub input_tokens: i64,
    pub cached_input_tokens: i64,
    pub output_tokens: i64,
    pub reasoning_tokens: i64,
    pub cost_usd: f64,
}

/// Messages written on a day, and the workspaces they were written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MessageUsage {
    /// Days since the start of the range.
    pub day: i64,
    pub messages: i64,
    pub active_users: i64,
}

/// A project's activity over a period.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UsageTotals {
    pub messages: i64,
    /// Distinct workspaces a message was written in.
    pub active_users: i64,
    pub runs: RunUsage,
    /// Threads created in the period that carry an automatic title.
    pub titled_threads: i64,
}

/// An anonymous identity's session: one refresh-token family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnonymousSession {
    pub id: String,
    pub project_id: String,
    /// `usr_anon_…`: the user id and the workspace id at once.
    pub user_id: String,
    pub created_at: Millis,
    pub expires_at: Millis,
}

/// Why a refresh token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshRefusal {
    Unknown,
    Expired,
    Revoked,
    /// A token reused outside the grace window: the family is now revoked.
    Reused,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The session, with its expiry slid forward; the new token is current.
    Refreshed(AnonymousSession),
    Refused(RefreshRefusal),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// Threads moved into the caller's workspace; the session is closed.
    Moved(u64),
    Refused(RefreshRefusal),
}

/// The message a lease-holder write addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseTarget {
    Id(String),
    /// A create carrying `lease_id`: the message with this external id.
    External(String),
}

/// An uploaded (or announced) file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// `attachments/<project>/<random>[.<ext>]`: unguessable, and the file's address.
    pub key: String,
    pub scope: WorkspaceScope,
    pub filename: String,
    pub content_type: String,
    pub size: Option<i64>,
    /// True once the bytes arrived and passed the limits.
    pub complete: bool,
    pub thread_id: Option<String>,
    pub created_at: Millis,
    pub upload_expires_at: Millis,
}

/// An identity provider a project trusts: whose tokens are accepted, with
/// which keys, and how their claims name the user's workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRule {
    pub id: String,
    pub project_id: String,
    pub name: String,
    /// `clerk`, `auth0`, `supabase`, `firebase` or `oidc`.
    pub provider: String,
    /// Compared with the token's `iss` exactly.
    pub issuer: String,
    /// Any-of; empty leaves `aud` unchecked.
    pub audiences: Vec<String>,
    /// Where the keys are; `None` with `discovery` means OIDC discovery from the issuer.
    pub jwks_url: Option<String>,
    pub discovery: bool,
    /// Supabase legacy projects: the HS256 secret (at least 32 bytes).
    pub shared_secret: Option<Vec<u8>>,
    pub algorithms: Vec<String>,
    pub clock_skew_secs: i64,
    pub max_lifetime_secs: Option<i64>,
    /// Clerk's `azp` allowlist.
    pub authorized_parties: Vec<String>,
    /// A template over claims naming the workspace, e.g. `{sub}` or `{o.id}_{sub}`.
    pub workspace_template: String,
    /// Used when a placeholder of the template is missing from the token.
    pub workspace_fallback: Option<String>,
    pub name_claim: Option<String>,
    /// A required `typ` header (`at+jwt` for RFC 9068 access tokens).
    pub token_type: Option<String>,
    pub created_at: Millis,
}

/// A thread a search found: the newest matching message in it (none when only
/// the title matched) and a snippet around the match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchHit {
    pub thread: Thread,
    pub message_id: Option<String>,
    pub snippet: String,
}

/// A message's content as written: the JSON text and its searchable text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageBody {
    pub content: String,
    pub search_text: String,
}

impl MessageBody {
    /// The body of `content` (JSON text of an object), with its searchable text extracted.
    pub fn new(content: String) -> Self {
        let search_text = crate::search::search_text_of(&content);
        MessageBody { content, search_text }
    }
}
