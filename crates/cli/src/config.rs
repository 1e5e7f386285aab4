//! Layered settings: built-in defaults, then an optional TOML file, then
//! `THREADHOLD_*` environment variables, then command-line flags. Secrets can
//! come from files (`THREADHOLD_DATABASE_URL_FILE`).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

pub const ENV_PREFIX: &str = "THREADHOLD_";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address the API listens on.
    pub listen: String,
    /// Data folder; holds the SQLite database unless `database_url` is set.
    pub data: PathBuf,
    /// A `sqlite:` URL; overrides `data` for the database.
    pub database_url: Option<String>,
    /// `human` or `json`.
    pub log_format: LogFormat,
    /// Log filter in `RUST_LOG` syntax (`RUST_LOG` itself wins when set).
    pub log_level: String,
    /// Lifetime of workspace tokens minted by `POST /v1/auth/tokens`.
    pub workspace_token_ttl_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: "127.0.0.1:8787".into(),
            data: PathBuf::from("./threadhold-data"),
            database_url: None,
            log_format: LogFormat::Human,
            log_level: "info".into(),
            workspace_token_ttl_secs: 300,
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

/// `THREADHOLD_<KEY>` variables that set a field of [`Settings`].
const SETTING_KEYS: &[&str] = &[
    "LISTEN",
    "DATA",
    "DATABASE_URL",
    "LOG_FORMAT",
    "LOG_LEVEL",
    "WORKSPACE_TOKEN_TTL_SECS",
];
/// `THREADHOLD_CONFIG` names the TOML file; it is read by the flag parser.
const CONFIG_KEY: &str = "CONFIG";
const SECRET_KEYS: &[&str] = &["DATABASE_URL"];

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
            figment = figment.merge(Serialized::default(
                &secret_key.to_lowercase(),
                secret.trim().to_owned(),
            ));
        } else if !SETTING_KEYS.contains(&key) && key != CONFIG_KEY {
            unknown.push(name);
        }
    }
    figment = figment
        .merge(
            Env::prefixed(ENV_PREFIX).filter(|key| SETTING_KEYS.iter().any(|k| key.as_str().eq_ignore_ascii_case(k))),
        )
        .merge(Serialized::defaults(flags));
    let settings: Settings = figment.extract().context("invalid settings")?;
    Ok((settings, unknown))
}

impl Settings {
    /// The SQLite file inside the data folder.
    pub fn database_file(&self) -> PathBuf {
        self.data.join("threadhold.sqlite3")
    }
}
