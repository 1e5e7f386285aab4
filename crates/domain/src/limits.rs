//! Size and count limits of the API, in one place so handlers, docs and tests agree.

/// `limit` on thread lists: default and maximum (the React adapter sends 20).
pub const THREAD_PAGE_DEFAULT: u32 = 20;
pub const THREAD_PAGE_MAX: u32 = 100;
/// `limit` on message lists: the client pages with 200 and stops on a short page.
pub const MESSAGE_PAGE_DEFAULT: u32 = 200;
pub const MESSAGE_PAGE_MAX: u32 = 200;
/// Titles, external ids and formats: 1–255 characters.
pub const TEXT_ID_MAX: usize = 255;
/// Serialized message `content` (the larger of the two documented hosted limits).
pub const MESSAGE_CONTENT_MAX_BYTES: usize = 1_048_576;
/// Nesting of arrays and objects in message `content` and thread `metadata`. Below serde_json's
/// recursion limit (127 levels) with room for the response envelopes, so every stored document
/// can be read back as a tree by the format converters and by serde-based clients.
pub const JSON_DEPTH_MAX: usize = 100;
/// Serialized thread `metadata`.
pub const THREAD_METADATA_MAX_BYTES: usize = 65_536;
/// Ids in one `DELETE …/messages`.
pub const DELETE_MESSAGES_MAX: usize = 200;
/// Events in one `POST /v1/events`.
pub const EVENTS_PER_REQUEST_MAX: usize = 50;
/// Whole request bodies; larger ones get 413.
pub const REQUEST_BODY_MAX_BYTES: usize = 2 * 1_048_576;
/// Score names.
pub const SCORE_NAME_MAX: usize = 64;

/// In-memory caches keyed by what clients send (project ids in paths, client
/// addresses) hold at most this many entries each, dropping the least recently used.
/// Projects found in the database:
pub const PROJECT_CACHE_ENTRIES: usize = 4096;
/// Project ids that do not exist (a flood of random ids evicts only these):
pub const MISSING_PROJECT_CACHE_ENTRIES: usize = 1024;
/// Projects' auth rules (projects with rules, and separately projects without any):
pub const RULES_CACHE_ENTRIES: usize = 1024;
/// Clients tracked by each per-IP rate limit:
pub const RATE_LIMIT_CLIENTS: usize = 65_536;
/// Tokens verified recently, kept until they expire (at most [`VERIFIED_TOKEN_CACHE_SECS`]):
pub const VERIFIED_TOKEN_CACHE_ENTRIES: usize = 8192;
pub const VERIFIED_TOKEN_CACHE_SECS: u64 = 300;
/// API keys looked up recently; a revocation reaches every node through the
/// settings watch, this only bounds how long a key is served without it:
pub const API_KEY_CACHE_ENTRIES: usize = 1024;
pub const API_KEY_CACHE_SECS: u64 = 60;
/// Key hashes that matched no key (a flood of made-up keys evicts only these):
pub const UNKNOWN_API_KEY_CACHE_ENTRIES: usize = 1024;
pub const UNKNOWN_API_KEY_CACHE_SECS: u64 = 10;
/// How often every node reads the settings counter (administrative changes reach it within about this long).
pub const SETTINGS_POLL_MILLIS: u64 = 1000;
// Run reports (`POST /v1/runs`), as the hosted service documents them.
/// The merged run `attributes` (metadata, unknown top-level keys, attributes), serialized.
pub const RUN_ATTRIBUTES_MAX_BYTES: usize = 16_384;
/// Tags per run, and characters per tag (after trimming).
pub const RUN_TAGS_MAX: usize = 20;
pub const RUN_TAG_MAX_CHARS: usize = 64;
/// `tool_calls`, `steps` and `sampling_calls` items per list.
pub const RUN_ITEMS_MAX: usize = 1_000;
/// `output_text`, step `input`, `tool_args` and `tool_result`, in characters.
pub const RUN_TEXT_MAX_CHARS: usize = 50_000;
pub const RUN_ERROR_MAX_CHARS: usize = 2_048;
pub const RUN_ERROR_CODE_MAX_CHARS: usize = 64;
pub const RUN_ENVIRONMENT_MAX_CHARS: usize = 64;
/// `model_id`, `provider`, `release`, tool names and ids.
pub const RUN_NAME_MAX_CHARS: usize = 255;
pub const RUN_FINISH_REASON_MAX_CHARS: usize = 32;
/// Each token count.
pub const RUN_TOKENS_MAX: i64 = 100_000_000;

// Traces (`POST /v1/traces`).
/// An OTLP export, as sent and again after decompression.
pub const TRACES_BODY_MAX_BYTES: usize = 4 * 1_048_576;
/// Spans kept per trace; more are rejected in `partialSuccess`.
pub const SPANS_PER_TRACE_MAX: usize = 500;
/// A stored span's attributes, serialized (the largest entries go first).
pub const SPAN_ATTRIBUTES_MAX_BYTES: usize = 16_384;

// The project read API (`/v1/projects/…`) and its MCP tools.
/// `limit` on project run lists (and the MCP list tools).
pub const PROJECT_PAGE_DEFAULT: u32 = 50;
pub const PROJECT_PAGE_MAX: u32 = 100;
/// `limit` on `GET /v1/projects/scores`.
pub const SCORE_PAGE_MAX: u32 = 200;
/// An opaque page cursor, in characters.
pub const CURSOR_MAX_CHARS: usize = 512;
/// Server ids a client may name (run, thread, score ids).
pub const SERVER_ID_MAX_CHARS: usize = 48;
/// Daily usage: the longest span (`to` − `from`) and the default window.
pub const USAGE_SPAN_MAX_DAYS: i64 = 366;
pub const USAGE_DEFAULT_DAYS: i64 = 30;

/// The users registry is written at most once per user and workspace in this interval, per node.
pub const USER_REGISTRY_WRITE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(300);
/// Users remembered per node for that throttle.
pub const USER_REGISTRY_NODE_ENTRIES: usize = 65_536;

/// Failed dashboard logins allowed per account, and per client address, within the window below.
pub const LOGIN_FAILURES_PER_ACCOUNT: u32 = 5;
pub const LOGIN_FAILURES_PER_ADDRESS: u32 = 20;
pub const LOGIN_FAILURE_WINDOW: std::time::Duration = std::time::Duration::from_secs(300);
/// Accounts and addresses the login guard remembers per node.
pub const LOGIN_GUARD_ENTRIES: usize = 65_536;
/// Dashboard passwords: at least this many characters (and at most the second).
pub const ADMIN_PASSWORD_MIN_CHARS: usize = 12;
pub const ADMIN_PASSWORD_MAX_CHARS: usize = 1024;
