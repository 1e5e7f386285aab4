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
