//! Every setting, described once: `config print`, `config check`, `config example`
//! (`docs/threadhold.example.toml`) and the settings table of `docs/reference/configuration.md` are all made from
//! [`SETTINGS`]. Defaults are not repeated here: they come from `Settings::default()`.

/// What a setting holds, as TOML sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Integer,
    Bool,
    /// One of these strings.
    Choice(&'static [&'static str]),
    /// A TOML array of strings or one comma-separated string (an environment variable's only form).
    List,
    /// `[[rules]]` tables (file only).
    Tables,
}

impl Kind {
    /// The type as the reference table and the example file name it.
    pub fn describe(self) -> String {
        match self {
            Kind::Text => "string".to_owned(),
            Kind::Integer => "integer".to_owned(),
            Kind::Bool => "boolean".to_owned(),
            Kind::Choice(choices) => {
                choices.iter().map(|choice| format!("\"{choice}\"")).collect::<Vec<_>>().join(" or ")
            }
            Kind::List => "list of strings, or one comma-separated string".to_owned(),
            Kind::Tables => "array of tables".to_owned(),
        }
    }
}

pub struct Setting {
    /// The TOML key; the environment variable is `THREADHOLD_` + its upper case.
    pub key: &'static str,
    pub kind: Kind,
    pub doc: &'static str,
    /// Masked by `config print`; may also come from a file (`THREADHOLD_<KEY>_FILE`).
    pub secret: bool,
    /// For settings unset by default: a value the example file shows (commented out).
    pub example: Option<&'static str>,
}

impl Setting {
    pub fn env(&self) -> String {
        format!("{}{}", super::ENV_PREFIX, self.key.to_ascii_uppercase())
    }

    /// `[[rules]]` tables have no environment variable.
    pub fn has_env(&self) -> bool {
        self.kind != Kind::Tables
    }
}

const fn setting(key: &'static str, kind: Kind, doc: &'static str) -> Setting {
    Setting { key, kind, doc, secret: false, example: None }
}

const fn optional(key: &'static str, kind: Kind, doc: &'static str, example: &'static str) -> Setting {
    Setting { key, kind, doc, secret: false, example: Some(example) }
}

const fn secret(key: &'static str, doc: &'static str, example: &'static str) -> Setting {
    Setting { key, kind: Kind::Text, doc, secret: true, example: Some(example) }
}

use Kind::{Bool, Choice, Integer, List, Tables, Text};

/// In the order of the reference table and the example file.
pub const SETTINGS: &[Setting] = &[
    setting("listen", Text, "Address the API listens on (`host:port`)."),
    setting("data", Text, "Data folder: holds the SQLite database `threadhold.sqlite3` and local attachments."),
    secret(
        "database_url",
        "A `postgres://user:pw@host/db` URL uses PostgreSQL (migrations run on start; share it between nodes), \
         a `sqlite:` URL another SQLite file; overrides `data` for the database.",
        "\"postgres://threadhold:secret@db.internal:5432/threadhold\"",
    ),
    setting(
        "durability",
        Choice(&["process", "power"]),
        "`process`: acknowledged writes survive a crash of the process; `power`: they also survive a power loss \
         (SQLite syncs the WAL before answering).",
    ),
    setting(
        "database_timeout_secs",
        Integer,
        "How long a request waits for a PostgreSQL connection before answering `503 unavailable`.",
    ),
    optional(
        "sqlite_max_database_mb",
        Integer,
        "The largest the SQLite database may grow, in MiB; writes beyond answer `507 storage_full` \
         (unset: the disk's size).",
        "10240",
    ),
    setting("log_format", Choice(&["human", "json"]), "Log lines on stderr: `human` or `json` (one object a line)."),
    setting(
        "log_level",
        Text,
        "Log filter in `RUST_LOG` syntax, e.g. `info,threadhold_server=debug` (`RUST_LOG` wins).",
    ),
    setting("workspace_token_ttl_secs", Integer, "Lifetime of workspace tokens minted by `POST /v1/auth/tokens`."),
    setting(
        "token_max_lifetime_secs",
        Integer,
        "threadhold's own tokens valid for longer (`exp` − `iat`) are refused however well signed; \
         at least the token TTLs.",
    ),
    setting("anonymous_enabled", Bool, "Server-wide switch for anonymous mode (projects can also switch it off)."),
    setting("anonymous_token_ttl_secs", Integer, "Lifetime of anonymous access tokens."),
    setting(
        "refresh_token_ttl_secs",
        Integer,
        "Anonymous sessions expire after this long without a refresh (30 days, sliding on every refresh).",
    ),
    setting(
        "refresh_reuse_grace_secs",
        Integer,
        "A rotated refresh token stays usable this long (two tabs, a lost response).",
    ),
    setting(
        "anonymous_mints_per_minute",
        Integer,
        "Anonymous identities minted per client IP and minute (0: no limit).",
    ),
    setting("anonymous_refreshes_per_minute", Integer, "Anonymous refreshes per client IP and minute (0: no limit)."),
    setting(
        "searches_per_minute",
        Integer,
        "Searches per workspace and minute (0: no limit); more answer `429 rate_limited` with `Retry-After`.",
    ),
    setting(
        "anonymous_gc_after_secs",
        Integer,
        "Anonymous identities idle this long that never stored a thread are deleted.",
    ),
    setting("run_heartbeat_interval_ms", Integer, "`heartbeat_interval_ms` handed to run-lease holders."),
    setting(
        "run_stale_after_ms",
        Integer,
        "A running lease without a beat for this long may be closed by a plain write.",
    ),
    setting(
        "attachment_storage",
        Choice(&["local", "s3"]),
        "`local` (files in `<data>/attachments`) or `s3` (the `s3_*` settings).",
    ),
    setting("attachment_max_bytes", Integer, "Largest attachment, in bytes (25 MiB)."),
    setting("attachment_url_ttl_secs", Integer, "Lifetime of presigned upload and download URLs."),
    setting(
        "attachment_content_types",
        List,
        "Allowed attachment types, each `type/subtype`, `type/*` or `*`, e.g. `[\"image/*\", \"application/pdf\"]`; \
         empty allows every type.",
    ),
    optional(
        "public_url",
        Text,
        "The server's public base URL for file links (unset: `http://<Host of the request>`).",
        "\"https://threadhold.example.com\"",
    ),
    optional("s3_bucket", Text, "Bucket for `attachment_storage = \"s3\"`.", "\"threadhold-files\""),
    setting("s3_region", Text, "Region of the bucket."),
    optional("s3_endpoint", Text, "Endpoint of an S3-compatible service (MinIO, R2, …).", "\"https://s3.example.com\""),
    secret("s3_access_key_id", "Access key id for the bucket.", "\"AKIAEXAMPLE\""),
    secret("s3_secret_access_key", "Secret access key for the bucket.", "\"example-secret\""),
    setting("s3_allow_http", Bool, "Permit a plain `http://` S3 endpoint."),
    setting(
        "token_exchange",
        Bool,
        "Answer accepted provider tokens with a cheaper threadhold token (`Authorization`).",
    ),
    setting(
        "jwks_allow_hosts",
        List,
        "Hosts whose key URLs may be private or plain `http` (on-premises identity providers).",
    ),
    optional(
        "retention_days",
        Integer,
        "Threads whose last message is older than this many days are deleted with their files (unset: kept).",
        "365",
    ),
    optional(
        "metrics_listen",
        Text,
        "Serve Prometheus metrics at `/metrics` on this separate address (unset: off; keep it private).",
        "\"127.0.0.1:9090\"",
    ),
    optional(
        "client_ip_header",
        Text,
        "Header carrying the client address from a reverse proxy, believed from `trusted_proxies` only.",
        "\"x-forwarded-for\"",
    ),
    setting("trusted_proxies", List, "Addresses or CIDR networks whose `client_ip_header` is believed."),
    setting(
        "http_header_timeout_secs",
        Integer,
        "A request's headers must arrive within this time of the connection's start or of the request's first byte.",
    ),
    setting("http_keep_alive_secs", Integer, "A connection with no request in progress is closed after this long."),
    setting(
        "http_body_timeout_secs",
        Integer,
        "Longest pause while a request body arrives (`408 request_timeout`) or a response waits to be read (closed).",
    ),
    setting(
        "http_max_connections",
        Integer,
        "Connections served at once, lowered to fit the open-file limit (`ulimit -n` − 256); more wait in the backlog, \
         and while the cap is reached idle keep-alive connections are closed to make room.",
    ),
    setting("admin_session_idle_secs", Integer, "A dashboard session ends after this long without a request."),
    setting(
        "admin_session_max_secs",
        Integer,
        "A dashboard session ends this long after its login, whatever the activity.",
    ),
    // Last: in TOML, keys after a `[[rules]]` table would belong to it.
    Setting {
        key: "rules",
        kind: Tables,
        doc: "Auth rules kept in this file: `[[rules]]` tables with the fields of `threadhold rules add` \
              (`project`, `provider`, `issuer`, `name`, `audiences`, `jwks_url`, `shared_secret_file`, `algorithms`, \
              `clock_skew_secs`, `max_lifetime_secs`, `authorized_parties`, `workspace`, `workspace_fallback`, \
              `name_claim`, `token_type`).",
        secret: false,
        example: Some(
            "[[rules]]\nprovider = \"clerk\"\nissuer = \"https://clerk.example.com\"\n\
             authorized_parties = [\"https://app.example.com\"]\nworkspace = \"{o.id}_{sub}\"\n\
             workspace_fallback = \"{sub}\"",
        ),
    },
];

/// The setting of a TOML key.
pub fn find(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|setting| setting.key == key)
}
