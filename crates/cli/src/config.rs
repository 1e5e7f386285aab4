//! Layered settings: built-in defaults, then an optional TOML file, then
//! `THREADHOLD_*` environment variables, then command-line flags. Secrets can
//! come from files (`THREADHOLD_DATABASE_URL_FILE`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use threadhold_domain::refresh::RefreshPolicy;
use threadhold_domain::runs::LeasePolicy;
use threadhold_server::client_ip::IpNet;
use threadhold_server::{
    AnonymousConfig, AttachmentBackend, ClientIpPolicy, ConnectionLimits, FilesConfig, S3Settings, ServerConfig,
};
use threadhold_store::{Durability, PgOptions, SqliteOptions};

pub const ENV_PREFIX: &str = "THREADHOLD_";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address the API listens on.
    pub listen: String,
    /// Data folder; holds the SQLite database unless `database_url` is set.
    pub data: PathBuf,
    /// A `postgres://` or `sqlite:` URL; overrides `data` for the database.
    pub database_url: Option<String>,
    /// `process`: acknowledged writes survive a crash of the process; `power`:
    /// they also survive a power loss (an fsync per group commit, SQLite).
    pub durability: DurabilityLevel,
    /// How long a request waits for a database connection before answering 503 (PostgreSQL).
    pub database_timeout_secs: u64,
    /// The largest the SQLite database may grow, in MiB; writes beyond answer 507 (unset: the disk's size).
    pub sqlite_max_database_mb: Option<u64>,
    /// `human` or `json`.
    pub log_format: LogFormat,
    /// Log filter in `RUST_LOG` syntax (`RUST_LOG` itself wins when set).
    pub log_level: String,
    /// Lifetime of workspace tokens minted by `POST /v1/auth/tokens`.
    pub workspace_token_ttl_secs: u64,
    /// Longest lifetime of threadhold's own tokens accepted (at least the configured TTLs).
    pub token_max_lifetime_secs: u64,
    /// Server-wide switch for anonymous mode (projects can also switch it off).
    pub anonymous_enabled: bool,
    /// Lifetime of anonymous access tokens.
    pub anonymous_token_ttl_secs: u64,
    /// Anonymous sessions expire after this long without a refresh.
    pub refresh_token_ttl_secs: u64,
    /// A rotated refresh token stays usable this long (two tabs, a lost response).
    pub refresh_reuse_grace_secs: u64,
    /// Anonymous mints per client IP and minute (0: no limit).
    pub anonymous_mints_per_minute: u32,
    /// Anonymous refreshes per client IP and minute (0: no limit).
    pub anonymous_refreshes_per_minute: u32,
    /// Searches per workspace and minute (0: no limit).
    pub searches_per_minute: u32,
    /// Anonymous identities that stored nothing are deleted after this long idle.
    pub anonymous_gc_after_secs: u64,
    /// `heartbeat_interval_ms` handed to run-lease holders.
    pub run_heartbeat_interval_ms: u64,
    /// A running lease without a beat for this long may be closed by a plain write.
    pub run_stale_after_ms: u64,
    /// Largest attachment, in bytes.
    pub attachment_max_bytes: u64,
    /// Lifetime of presigned attachment URLs.
    pub attachment_url_ttl_secs: u64,
    /// Comma-separated allowed attachment types (`image/*, application/pdf`); empty allows all.
    pub attachment_content_types: String,
    /// `local` (files in the data folder) or `s3`.
    pub attachment_storage: String,
    /// The server's public base URL for file links (default: from the request's Host).
    pub public_url: Option<String>,
    pub s3_bucket: Option<String>,
    pub s3_region: String,
    /// For S3-compatible services (MinIO, R2, …).
    pub s3_endpoint: Option<String>,
    pub s3_access_key_id: Option<String>,
    pub s3_secret_access_key: Option<String>,
    /// Permit an `http://` S3 endpoint.
    pub s3_allow_http: bool,
    /// Delete threads (and their files) whose last message is older than this many days.
    pub retention_days: Option<u64>,
    /// Serve Prometheus metrics on this separate address (off when unset; keep it private).
    pub metrics_listen: Option<String>,
    /// Answer accepted provider tokens with a cheaper threadhold token (`Authorization` response header).
    pub token_exchange: bool,
    /// Comma-separated hosts whose key URLs may be private or plain http (on-premises IdPs).
    pub jwks_allow_hosts: String,
    /// Auth rules kept in the configuration file (TOML `[[rules]]` tables).
    pub rules: Vec<ConfiguredRule>,
    /// Header carrying the client address from a reverse proxy (e.g. `x-forwarded-for`).
    pub client_ip_header: Option<String>,
    /// Comma-separated addresses or CIDR networks whose `client_ip_header` is believed.
    pub trusted_proxies: String,
    /// Longest time to send a request's headers (from the connection's start or the request's first byte).
    pub http_header_timeout_secs: u64,
    /// A connection with no request in progress is closed after this many seconds.
    pub http_keep_alive_secs: u64,
    /// Longest pause while a request body arrives, or while a response waits to be read.
    pub http_body_timeout_secs: u64,
    /// Connections served at once (lowered to fit the open-file limit); more wait in the backlog.
    pub http_max_connections: usize,
    /// A dashboard session ends after this long without a request.
    pub admin_session_idle_secs: u64,
    /// A dashboard session ends this long after its login, whatever the activity.
    pub admin_session_max_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DurabilityLevel {
    Process,
    Power,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

impl Default for Settings {
    fn default() -> Self {
        let server = ServerConfig::default();
        Settings {
            listen: "127.0.0.1:8787".into(),
            data: PathBuf::from("./threadhold-data"),
            database_url: None,
            durability: DurabilityLevel::Process,
            database_timeout_secs: 3,
            sqlite_max_database_mb: None,
            log_format: LogFormat::Human,
            log_level: "info".into(),
            workspace_token_ttl_secs: 300,
            token_max_lifetime_secs: server.token_max_lifetime_secs,
            anonymous_enabled: true,
            anonymous_token_ttl_secs: 300,
            refresh_token_ttl_secs: 30 * 86_400,
            refresh_reuse_grace_secs: 10,
            anonymous_mints_per_minute: 30,
            anonymous_refreshes_per_minute: 120,
            searches_per_minute: threadhold_domain::search::SEARCHES_PER_MINUTE,
            anonymous_gc_after_secs: 86_400,
            run_heartbeat_interval_ms: 10_000,
            run_stale_after_ms: 30_000,
            attachment_max_bytes: 25 * 1024 * 1024,
            attachment_url_ttl_secs: 900,
            attachment_content_types: String::new(),
            attachment_storage: "local".into(),
            public_url: None,
            s3_bucket: None,
            s3_region: "us-east-1".into(),
            s3_endpoint: None,
            s3_access_key_id: None,
            s3_secret_access_key: None,
            s3_allow_http: false,
            retention_days: None,
            metrics_listen: None,
            token_exchange: true,
            jwks_allow_hosts: String::new(),
            rules: Vec::new(),
            client_ip_header: None,
            trusted_proxies: "127.0.0.0/8, ::1".into(),
            http_header_timeout_secs: server.connections.header_timeout.as_secs(),
            http_keep_alive_secs: server.connections.keep_alive.as_secs(),
            http_body_timeout_secs: server.connections.body_timeout.as_secs(),
            http_max_connections: server.connections.max_connections,
            admin_session_idle_secs: server.admin_sessions.idle.as_secs(),
            admin_session_max_secs: server.admin_sessions.max.as_secs(),
        }
    }
}

/// Settings given on the command line; `None` leaves the lower layers' value.
#[derive(Debug, Default, Serialize)]
pub struct FlagOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
}

/// The `THREADHOLD_<KEY>` names that set a field of [`Settings`]: every field, by construction.
fn setting_keys() -> Vec<String> {
    match serde_json::to_value(Settings::default()) {
        Ok(serde_json::Value::Object(fields)) => fields.keys().map(|key| key.to_ascii_uppercase()).collect(),
        _ => Vec::new(),
    }
}

/// `THREADHOLD_CONFIG` names the TOML file; it is read by the flag parser.
const CONFIG_KEY: &str = "CONFIG";
const SECRET_KEYS: &[&str] = &["DATABASE_URL", "S3_SECRET_ACCESS_KEY"];

/// Loads the layered settings. Returns the names of unknown `THREADHOLD_*`
/// variables so the caller can warn once logging is up.
pub fn load(config_file: Option<&Path>, flags: FlagOverrides) -> anyhow::Result<(Settings, Vec<String>)> {
    let mut figment = Figment::from(Serialized::defaults(Settings::default()));
    if let Some(path) = config_file {
        if !path.exists() {
            bail!("config file {} does not exist", path.display());
        }
        figment = figment.merge(Toml::file(path));
    }
    let keys = setting_keys();
    let is_setting = move |key: &str| keys.iter().any(|k| k.eq_ignore_ascii_case(key));
    let mut unknown = Vec::new();
    for (name, value) in std::env::vars() {
        let Some(key) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if let Some(secret_key) = key.strip_suffix("_FILE").filter(|k| SECRET_KEYS.contains(k)) {
            if std::env::var_os(format!("{ENV_PREFIX}{secret_key}")).is_some() {
                bail!("both {ENV_PREFIX}{secret_key} and {name} are set; set only one");
            }
            let secret = std::fs::read_to_string(&value).with_context(|| format!("reading {name} ({value})"))?;
            figment = figment.merge(Serialized::default(&secret_key.to_lowercase(), secret.trim().to_owned()));
        } else if !is_setting(key) && key != CONFIG_KEY {
            unknown.push(name);
        }
    }
    figment = figment
        .merge(Env::prefixed(ENV_PREFIX).filter(move |key| is_setting(key.as_str())))
        .merge(Serialized::defaults(flags));
    let settings: Settings = figment.extract().context("invalid settings")?;
    Ok((settings, unknown))
}

impl Settings {
    /// The SQLite file inside the data folder.
    pub fn database_file(&self) -> PathBuf {
        self.data.join("threadhold.sqlite3")
    }

    pub fn sqlite_options(&self) -> SqliteOptions {
        let durability = match self.durability {
            DurabilityLevel::Process => Durability::Process,
            DurabilityLevel::Power => Durability::Power,
        };
        let max_database_bytes = self.sqlite_max_database_mb.map(|mb| mb.saturating_mul(1024 * 1024));
        SqliteOptions { durability, max_database_bytes, ..SqliteOptions::default() }
    }

    pub fn postgres_options(&self) -> PgOptions {
        PgOptions { acquire_timeout: Duration::from_secs(self.database_timeout_secs.max(1)), ..PgOptions::default() }
    }
}

impl Settings {
    /// The HTTP server's settings, checked.
    pub fn server_config(&self) -> anyhow::Result<ServerConfig> {
        let trusted_proxies = split_list(&self.trusted_proxies)
            .iter()
            .map(|entry| {
                IpNet::parse(entry)
                    .with_context(|| format!("trusted_proxies: {entry:?} is not an address or CIDR network"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let secs_to_ms = |secs: u64| i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        let allowed_types = split_list(&self.attachment_content_types);
        for pattern in &allowed_types {
            threadhold_domain::attachments::check_type_pattern(pattern)
                .map_err(|reason| anyhow::anyhow!("attachment_content_types: {reason}"))?;
        }
        let config = ServerConfig {
            workspace_token_ttl_secs: self.workspace_token_ttl_secs,
            token_max_lifetime_secs: self.token_max_lifetime_secs,
            anonymous: AnonymousConfig {
                enabled: self.anonymous_enabled,
                access_token_ttl_secs: self.anonymous_token_ttl_secs,
                refresh: RefreshPolicy {
                    grace_ms: secs_to_ms(self.refresh_reuse_grace_secs),
                    ttl_ms: secs_to_ms(self.refresh_token_ttl_secs),
                },
                mints_per_minute: self.anonymous_mints_per_minute,
                refreshes_per_minute: self.anonymous_refreshes_per_minute,
                gc_after_secs: self.anonymous_gc_after_secs,
            },
            client_ip: ClientIpPolicy {
                header: self.client_ip_header.as_ref().map(|h| h.trim().to_ascii_lowercase()),
                trusted_proxies,
            },
            leases: LeasePolicy {
                heartbeat_interval_ms: i64::try_from(self.run_heartbeat_interval_ms.max(1)).unwrap_or(i64::MAX),
                stale_after_ms: i64::try_from(self.run_stale_after_ms).unwrap_or(i64::MAX),
            },
            files: FilesConfig {
                max_bytes: self.attachment_max_bytes,
                url_ttl: Duration::from_secs(self.attachment_url_ttl_secs.max(1)),
                allowed_types,
                public_url: self.public_url.clone(),
            },
            attachments: self.attachment_backend()?,
            token_exchange: self.token_exchange,
            searches_per_minute: self.searches_per_minute,
            retention_days: self.retention_days,
            auth_rules: self
                .rules
                .iter()
                .enumerate()
                .map(|(i, rule)| rule.build(i, &self.jwks_allow_hosts()))
                .collect::<anyhow::Result<_>>()?,
            jwks_allow_hosts: self.jwks_allow_hosts(),
            connections: ConnectionLimits {
                header_timeout: Duration::from_secs(self.http_header_timeout_secs.max(1)),
                keep_alive: Duration::from_secs(self.http_keep_alive_secs.max(1)),
                body_timeout: Duration::from_secs(self.http_body_timeout_secs.max(1)),
                max_connections: self.http_max_connections.max(1),
            },
            admin_sessions: threadhold_server::SessionPolicy {
                idle: Duration::from_secs(self.admin_session_idle_secs.max(1)),
                max: Duration::from_secs(self.admin_session_max_secs.max(1)),
            },
            ..ServerConfig::default()
        };
        config.check().map_err(anyhow::Error::msg)?;
        Ok(config)
    }

    /// Hosts whose key URLs may be private or plain `http`.
    pub fn jwks_allow_hosts(&self) -> Vec<String> {
        split_list(&self.jwks_allow_hosts)
    }

    fn attachment_backend(&self) -> anyhow::Result<AttachmentBackend> {
        match self.attachment_storage.as_str() {
            "local" => Ok(AttachmentBackend::Local(self.data.join("attachments"))),
            "s3" => {
                let required = |value: &Option<String>, name: &str| {
                    value.clone().with_context(|| format!("attachment_storage = \"s3\" needs {name}"))
                };
                Ok(AttachmentBackend::S3(S3Settings {
                    bucket: required(&self.s3_bucket, "s3_bucket")?,
                    region: self.s3_region.clone(),
                    endpoint: self.s3_endpoint.clone(),
                    access_key_id: required(&self.s3_access_key_id, "s3_access_key_id")?,
                    secret_access_key: required(&self.s3_secret_access_key, "s3_secret_access_key")?,
                    allow_http: self.s3_allow_http,
                }))
            }
            other => bail!("attachment_storage must be \"local\" or \"s3\", not {other:?}"),
        }
    }
}

/// An auth rule in the configuration file; the fields of `threadhold rules add`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfiguredRule {
    #[serde(default = "default_project")]
    pub project: String,
    pub provider: String,
    pub issuer: String,
    pub name: Option<String>,
    #[serde(default)]
    pub audiences: Vec<String>,
    pub jwks_url: Option<String>,
    /// A file holding a Supabase legacy HS256 secret.
    pub shared_secret_file: Option<PathBuf>,
    #[serde(default)]
    pub algorithms: Vec<String>,
    pub clock_skew_secs: Option<i64>,
    pub max_lifetime_secs: Option<i64>,
    #[serde(default)]
    pub authorized_parties: Vec<String>,
    pub workspace: Option<String>,
    pub workspace_fallback: Option<String>,
    pub name_claim: Option<String>,
    pub token_type: Option<String>,
}

fn default_project() -> String {
    threadhold_domain::model::DEFAULT_PROJECT_ID.to_owned()
}

impl ConfiguredRule {
    /// The rule's input for [`threadhold_auth::rules::build_rule`], reading the secret file.
    pub fn input(&self) -> anyhow::Result<threadhold_auth::rules::RuleInput> {
        let shared_secret = match &self.shared_secret_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?
                    .trim()
                    .as_bytes()
                    .to_vec(),
            ),
            None => None,
        };
        Ok(threadhold_auth::rules::RuleInput {
            provider: self.provider.clone(),
            name: self.name.clone(),
            issuer: self.issuer.clone(),
            audiences: self.audiences.clone(),
            jwks_url: self.jwks_url.clone(),
            shared_secret,
            algorithms: self.algorithms.clone(),
            clock_skew_secs: self.clock_skew_secs,
            max_lifetime_secs: self.max_lifetime_secs,
            authorized_parties: self.authorized_parties.clone(),
            workspace: self.workspace.clone(),
            workspace_fallback: self.workspace_fallback.clone(),
            name_claim: self.name_claim.clone(),
            token_type: self.token_type.clone(),
        })
    }

    fn build(&self, index: usize, jwks_allow_hosts: &[String]) -> anyhow::Result<threadhold_domain::model::AuthRule> {
        threadhold_auth::rules::build_rule(self.input()?, format!("config-{index}"), &self.project, 0, jwks_allow_hosts)
            .map_err(|message| anyhow::anyhow!("rules[{index}]: {message}"))
    }
}

/// The entries of a comma-separated setting.
fn split_list(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|entry| !entry.is_empty()).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_a_known_variable() {
        let keys = setting_keys();
        for key in ["LISTEN", "DATABASE_URL", "ANONYMOUS_TOKEN_TTL_SECS", "TRUSTED_PROXIES", "CLIENT_IP_HEADER"] {
            assert!(keys.iter().any(|k| k == key), "{key} missing from {keys:?}");
        }
    }

    #[test]
    fn rules_can_live_in_the_config_file() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("threadhold.toml");
        std::fs::write(
            &file,
            r#"
            [[rules]]
            provider = "clerk"
            issuer = "https://clerk.example.com"
            workspace = "{o.id}_{sub}"
            workspace_fallback = "{sub}"
            authorized_parties = ["https://app.example.com"]

            [[rules]]
            provider = "firebase"
            issuer = "https://securetoken.google.com/my-app"
            "#,
        )
        .expect("write");
        let (settings, _) = load(Some(&file), FlagOverrides::default()).expect("settings");
        let rules = settings.server_config().expect("config").auth_rules;
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].workspace_template, "{o.id}_{sub}");
        assert_eq!(rules[1].audiences, ["my-app"]);
        std::fs::write(&file, "[[rules]]\nprovider = \"auth0\"\nissuer = \"https://t.auth0.com/\"\n").expect("write");
        let (settings, _) = load(Some(&file), FlagOverrides::default()).expect("settings");
        let error = settings.server_config().expect_err("auth0 needs an audience").to_string();
        assert!(error.contains("rules[0]"), "{error}");
    }

    #[test]
    fn defaults_make_a_valid_server_config() {
        let config = Settings::default().server_config().expect("defaults are valid");
        assert_eq!(config.anonymous.mints_per_minute, 30);
        assert_eq!(config.client_ip.trusted_proxies.len(), 2);
        let bad = Settings { trusted_proxies: "10.0.0.0/8, nonsense".into(), ..Settings::default() };
        assert!(bad.server_config().is_err());
        let types = |list: &str| Settings { attachment_content_types: list.into(), ..Settings::default() };
        assert!(types("image/*, application/pdf, text/plain").server_config().is_ok());
        let error = types("image/*, images").server_config().expect_err("not a MIME type").to_string();
        assert!(error.contains("attachment_content_types"), "{error}");
    }
}
