//! Layered settings: built-in defaults, then an optional TOML file, then
//! `THREADHOLD_*` environment variables, then command-line flags. Secrets can
//! come from files (`THREADHOLD_DATABASE_URL_FILE`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Map};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Deserializer, Serialize};
use threadhold_domain::refresh::RefreshPolicy;
use threadhold_domain::runs::LeasePolicy;
use threadhold_server::client_ip::IpNet;
use threadhold_server::{
    AnonymousConfig, AttachmentBackend, ClientIpPolicy, ConnectionLimits, FilesConfig, S3Settings, ServerConfig,
};
use threadhold_store::{Durability, PgOptions, SqliteOptions};

pub mod catalog;
pub mod inspect;

pub const ENV_PREFIX: &str = "THREADHOLD_";

/// Each field is described in [`catalog::SETTINGS`] (a test keeps the two in step).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub listen: String,
    pub data: PathBuf,
    pub database_url: Option<String>,
    pub durability: DurabilityLevel,
    pub database_timeout_secs: u64,
    pub sqlite_max_database_mb: Option<u64>,
    pub log_format: LogFormat,
    pub log_level: String,
    pub workspace_token_ttl_secs: u64,
    pub token_max_lifetime_secs: u64,
    pub anonymous_enabled: bool,
    pub anonymous_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    pub refresh_reuse_grace_secs: u64,
    pub anonymous_mints_per_minute: u32,
    pub anonymous_refreshes_per_minute: u32,
    pub searches_per_minute: u32,
    pub anonymous_gc_after_secs: u64,
    pub run_heartbeat_interval_ms: u64,
    pub run_stale_after_ms: u64,
    pub attachment_max_bytes: u64,
    pub attachment_url_ttl_secs: u64,
    pub attachment_content_types: List,
    pub attachment_storage: String,
    pub public_url: Option<String>,
    pub s3_bucket: Option<String>,
    pub s3_region: String,
    pub s3_endpoint: Option<String>,
    pub s3_access_key_id: Option<String>,
    pub s3_secret_access_key: Option<String>,
    pub s3_allow_http: bool,
    pub retention_days: Option<u64>,
    pub metrics_listen: Option<String>,
    pub token_exchange: bool,
    pub jwks_allow_hosts: List,
    pub rules: Vec<ConfiguredRule>,
    pub client_ip_header: Option<String>,
    pub trusted_proxies: List,
    pub http_header_timeout_secs: u64,
    pub http_keep_alive_secs: u64,
    pub http_body_timeout_secs: u64,
    pub http_max_connections: usize,
    pub admin_session_idle_secs: u64,
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
            attachment_content_types: List::default(),
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
            jwks_allow_hosts: List::default(),
            rules: Vec::new(),
            client_ip_header: None,
            trusted_proxies: List(vec!["127.0.0.0/8".into(), "::1".into()]),
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

/// A list setting: a TOML array of strings, or one comma-separated string (the
/// only form an environment variable has).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct List(pub Vec<String>);

impl From<&str> for List {
    fn from(text: &str) -> List {
        List(split_list(text))
    }
}

impl<'de> Deserialize<'de> for List {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = List;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of strings or one comma-separated string")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<List, E> {
                Ok(List::from(text))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<List, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = seq.next_element::<String>()? {
                    entries.extend(split_list(&entry));
                }
                Ok(List(entries))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// `THREADHOLD_CONFIG` names the TOML file; it is read by the flag parser.
pub const CONFIG_ENV: &str = "THREADHOLD_CONFIG";
/// `THREADHOLD_<KEY>_FILE` holds the path of a file holding a secret setting.
pub const FILE_SUFFIX: &str = "_FILE";

/// A layer whose values report `label` as their source (a file, a variable, a flag).
struct Labeled<P> {
    label: String,
    inner: P,
}

impl<P: Provider> Provider for Labeled<P> {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.label.clone())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        self.inner.data()
    }
}

pub const DEFAULT_SOURCE: &str = "default";

/// The layers of the settings, before they are checked; every value knows its source.
pub struct Layered {
    figment: Figment,
    /// `THREADHOLD_*` variables that name no setting.
    pub unknown_env: Vec<String>,
}

impl Layered {
    /// Stacks defaults, the file, the variables of `env` and the flags.
    pub fn new(
        config_file: Option<&Path>,
        flags: &FlagOverrides,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Layered> {
        let mut figment =
            Figment::from(Labeled { label: DEFAULT_SOURCE.into(), inner: Serialized::defaults(Settings::default()) });
        if let Some(path) = config_file {
            if !path.is_file() {
                bail!("config file {} does not exist", path.display());
            }
            figment = figment.merge(Labeled { label: path.display().to_string(), inner: Toml::file_exact(path) });
        }
        let env: Vec<(String, String)> = env.into_iter().collect();
        let mut unknown_env = Vec::new();
        for (name, value) in &env {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let secret = rest
                .strip_suffix(FILE_SUFFIX)
                .and_then(|key| catalog::find(&key.to_ascii_lowercase()))
                .filter(|setting| setting.secret);
            let setting = catalog::find(&rest.to_ascii_lowercase()).filter(|setting| setting.has_env());
            if let Some(setting) = secret {
                let direct = setting.env();
                if env.iter().any(|(other, _)| *other == direct) {
                    bail!("both {direct} and {name} are set; set only one");
                }
                let text = std::fs::read_to_string(value).with_context(|| format!("reading {name} ({value})"))?;
                let inner = Serialized::default(setting.key, text.trim().to_owned());
                figment = figment.merge(Labeled { label: format!("{name} ({value})"), inner });
            } else if let Some(setting) = setting {
                // Typed by the setting, so that `THREADHOLD_METRICS_LISTEN=9090` stays a string
                // (figment's own Env provider would guess a number).
                let raw = value.trim();
                let parsed = match setting.kind {
                    catalog::Kind::Text | catalog::Kind::Choice(_) => figment::value::Value::from(raw.to_owned()),
                    catalog::Kind::List if !raw.starts_with('[') => figment::value::Value::from(raw.to_owned()),
                    _ => match raw.parse::<figment::value::Value>() {
                        Ok(parsed) => parsed,
                        Err(never) => match never {},
                    },
                };
                figment =
                    figment.merge(Labeled { label: name.clone(), inner: Serialized::default(setting.key, parsed) });
            } else if name != CONFIG_ENV {
                unknown_env.push(name.clone());
            }
        }
        if let Ok(serde_json::Value::Object(given)) = serde_json::to_value(flags) {
            for (key, value) in given {
                let label = format!("--{}", key.replace('_', "-"));
                figment = figment.merge(Labeled { label, inner: Serialized::default(&key, value) });
            }
        }
        Ok(Layered { figment, unknown_env })
    }

    pub fn settings(&self) -> anyhow::Result<Settings> {
        self.figment.extract().context("invalid settings")
    }

    /// Where the value of `key` comes from: `default`, a file path, a variable or a flag.
    pub fn source(&self, key: &str) -> String {
        self.figment.find_metadata(key).map_or_else(|| DEFAULT_SOURCE.to_owned(), |metadata| metadata.name.to_string())
    }
}

/// Loads the layered settings from the process's environment. Returns the names
/// of unknown `THREADHOLD_*` variables so the caller can warn once logging is up.
pub fn load(config_file: Option<&Path>, flags: FlagOverrides) -> anyhow::Result<(Settings, Vec<String>)> {
    let layered = Layered::new(config_file, &flags, std::env::vars())?;
    Ok((layered.settings()?, layered.unknown_env))
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
        let trusted_proxies = self
            .trusted_proxies
            .0
            .iter()
            .map(|entry| {
                IpNet::parse(entry)
                    .with_context(|| format!("trusted_proxies: {entry:?} is not an address or CIDR network"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let secs_to_ms = |secs: u64| i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        let allowed_types = self.attachment_content_types.0.clone();
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
        self.jwks_allow_hosts.0.clone()
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

    /// Serializing every field (`None` too) lists them; the catalog must describe each, in order.
    #[test]
    fn the_catalog_describes_every_field() {
        let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(Settings::default()) else {
            panic!("settings serialize to an object");
        };
        let fields: Vec<&str> = fields.keys().map(String::as_str).collect();
        let mut described: Vec<&str> = catalog::SETTINGS.iter().map(|setting| setting.key).collect();
        described.sort_unstable();
        let mut sorted = fields.clone();
        sorted.sort_unstable();
        assert_eq!(described, sorted);
    }

    #[test]
    fn lists_are_arrays_or_comma_separated_strings() {
        let load = |text: &str, env: &[(&str, &str)]| {
            let dir = tempfile::tempdir().expect("dir");
            let file = dir.path().join("threadhold.toml");
            std::fs::write(&file, text).expect("write");
            let env = env.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned()));
            Layered::new(Some(&file), &FlagOverrides::default(), env).and_then(|layered| layered.settings())
        };
        let hosts = |settings: anyhow::Result<Settings>| settings.expect("settings").jwks_allow_hosts();
        assert_eq!(hosts(load("jwks_allow_hosts = [\"a.internal\", \"b\"]", &[])), ["a.internal", "b"]);
        assert_eq!(hosts(load("jwks_allow_hosts = \"a.internal, b\"", &[])), ["a.internal", "b"]);
        assert_eq!(hosts(load("", &[("THREADHOLD_JWKS_ALLOW_HOSTS", "a.internal,b")])), ["a.internal", "b"]);
        assert_eq!(hosts(load("", &[("THREADHOLD_JWKS_ALLOW_HOSTS", "[a.internal, b]")])), ["a.internal", "b"]);
        let error = format!("{:#}", load("jwks_allow_hosts = 5", &[]).expect_err("not a list"));
        assert!(error.contains("comma-separated string"), "{error}");
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
