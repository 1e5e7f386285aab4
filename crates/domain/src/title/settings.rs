//! A project's title model: an OpenAI-compatible chat completions endpoint
//! (OpenAI, Azure OpenAI, Ollama, vLLM, LiteLLM, …) and the hosted service's
//! controls (language, length, instructions), with every limit and default of
//! the feature in one place.
//!
//! The API key itself is never part of the settings: they name where the
//! server reads it (a file, or one of its environment variables), so the key
//! stays out of the database, its backups and exports, and the logs.

use std::time::Duration;

use crate::Millis;
use crate::transfer::TitleSettingsRow;

/// Title length in words: the range the hosted service accepts, and its default.
pub const WORDS_MIN: u8 = 2;
pub const WORDS_MAX: u8 = 12;
pub const WORDS_DEFAULT: u8 = 6;
/// Extra instructions appended to the prompt (trimmed).
pub const INSTRUCTIONS_MAX_CHARS: usize = 1_000;
pub const MODEL_MAX_CHARS: usize = 200;
pub const BASE_URL_MAX_CHARS: usize = 2_000;
pub const KEY_FILE_MAX_CHARS: usize = 4_096;
pub const KEY_ENV_MAX_CHARS: usize = 128;
/// One model call: default and bounds, in milliseconds.
pub const TIMEOUT_MS_DEFAULT: u64 = 10_000;
pub const TIMEOUT_MS_MIN: u64 = 100;
pub const TIMEOUT_MS_MAX: u64 = 300_000;
/// The pause before the one retry of a failed call.
pub const RETRY_DELAY_MS: u64 = 250;
/// The largest model answer read (the title is cut to 255 characters anyway).
pub const ANSWER_MAX_BYTES: usize = 256 * 1024;

/// How often the sweep looks for threads a request missed or failed on.
pub const SWEEP_INTERVAL_SECS: u64 = 3_600;
/// The sweep looks at threads created this recently.
pub const SWEEP_WINDOW_MS: Millis = 7 * 86_400_000;
/// Threads examined per sweep (newest first, every project together).
pub const SWEEP_THREADS_MAX: u32 = 200;
/// Model calls a sweep runs at once.
pub const SWEEP_CONCURRENCY: usize = 4;
/// Attempts per thread in all: a request (the runtime's title request, or the
/// first user message) makes only the first, the sweep retries up to this many.
pub const ATTEMPTS_MAX: u32 = 3;
pub const REQUEST_ATTEMPTS_MAX: u32 = 1;
/// An attempt still marked running after this long was abandoned (a node
/// stopped mid-call) and may be retried.
pub const ATTEMPT_STALE_MS: Millis = 10 * 60_000;

/// How the endpoint wants the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiStyle {
    /// `Authorization: Bearer <key>`: OpenAI, Ollama, vLLM, LiteLLM, Azure's v1 API with a key.
    OpenAi,
    /// `api-key: <key>`: Azure OpenAI.
    Azure,
}

impl ApiStyle {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiStyle::OpenAi => "openai",
            ApiStyle::Azure => "azure",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "openai" => Some(ApiStyle::OpenAi),
            "azure" => Some(ApiStyle::Azure),
            _ => None,
        }
    }
}

/// Where the server reads the API key, at every call (a rotated key is used at once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiKeySource {
    /// No key (a local Ollama or vLLM).
    None,
    /// A file holding the key (surrounding whitespace ignored).
    File(String),
    /// One of the server's environment variables.
    Env(String),
}

/// A project's title model settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TitleSettings {
    pub project_id: String,
    /// Off keeps the built-in titles and takes the project out of the sweep.
    pub enabled: bool,
    /// The API root that `/chat/completions` is appended to, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    pub model: String,
    pub api_key: ApiKeySource,
    pub api_style: ApiStyle,
    /// Sent as the `api-version` query parameter (Azure OpenAI's deployment URLs).
    pub api_version: Option<String>,
    /// A language tag such as `de` or `pt-BR`; `None` follows the conversation (`auto`).
    pub language: Option<String>,
    /// At most this many words.
    pub words: u8,
    /// Appended to the prompt as its second line; may be empty.
    pub instructions: String,
    /// One model call; a failed call is retried once.
    pub timeout_ms: u64,
    pub updated_at: Millis,
}

impl TitleSettings {
    /// Settings with the defaults for everything but the endpoint.
    pub fn new(project_id: &str, base_url: &str, model: &str, api_key: ApiKeySource) -> Self {
        TitleSettings {
            project_id: project_id.to_owned(),
            enabled: true,
            base_url: base_url.to_owned(),
            model: model.to_owned(),
            api_key,
            api_style: ApiStyle::OpenAi,
            api_version: None,
            language: None,
            words: WORDS_DEFAULT,
            instructions: String::new(),
            timeout_ms: TIMEOUT_MS_DEFAULT,
            updated_at: 0,
        }
    }

    /// The settings, normalized (trimmed, no trailing slash, `auto` as `None`),
    /// or what is wrong with them.
    pub fn checked(mut self) -> Result<Self, String> {
        self.base_url = check_base_url(&self.base_url)?;
        self.model = self.model.trim().to_owned();
        if self.model.is_empty() || self.model.chars().count() > MODEL_MAX_CHARS || has_control(&self.model) {
            return Err(format!("the model must be 1 to {MODEL_MAX_CHARS} characters without control characters"));
        }
        self.api_key = match self.api_key {
            ApiKeySource::None => ApiKeySource::None,
            ApiKeySource::File(path) => ApiKeySource::File(check_key_file(&path)?),
            ApiKeySource::Env(name) => ApiKeySource::Env(check_key_env(&name)?),
        };
        self.api_version = match self.api_version.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(version) if is_api_version(version) => Some(version.to_owned()),
            Some(_) => return Err("the api-version must be 1 to 64 of A-Z, a-z, 0-9, '.' and '-'".into()),
        };
        self.language = match self.language.as_deref().map(str::trim) {
            None => None,
            Some(language) if language.eq_ignore_ascii_case("auto") || language.is_empty() => None,
            Some(language) if is_language_tag(language) => Some(language.to_owned()),
            Some(language) => {
                return Err(format!("the language must be auto or a tag such as de or pt-BR, not {language:?}"));
            }
        };
        if !(WORDS_MIN..=WORDS_MAX).contains(&self.words) {
            return Err(format!("the length must be {WORDS_MIN} to {WORDS_MAX} words"));
        }
        self.instructions = self.instructions.trim().to_owned();
        if self.instructions.chars().count() > INSTRUCTIONS_MAX_CHARS {
            return Err(format!("the instructions must be at most {INSTRUCTIONS_MAX_CHARS} characters"));
        }
        if !(TIMEOUT_MS_MIN..=TIMEOUT_MS_MAX).contains(&self.timeout_ms) {
            return Err(format!(
                "the timeout must be {} to {} seconds",
                TIMEOUT_MS_MIN as f64 / 1000.0,
                TIMEOUT_MS_MAX / 1000
            ));
        }
        Ok(self)
    }

    /// Where the request goes: `<base_url>/chat/completions[?api-version=…]`.
    pub fn completions_url(&self) -> String {
        let url = format!("{}/chat/completions", self.base_url.trim_end_matches('/'));
        match &self.api_version {
            Some(version) => format!("{url}?api-version={version}"),
            None => url,
        }
    }

    /// One model call.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// The longest a title can take: a call, the pause and the retry. A
    /// request that waits for a title never waits longer.
    pub fn budget(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.saturating_mul(2) + RETRY_DELAY_MS)
    }

    /// The language setting as shown and stored: a tag, or `auto`.
    pub fn language_label(&self) -> &str {
        self.language.as_deref().unwrap_or("auto")
    }
}

/// The settings as stored (and exported): the key's source as two columns,
/// the language as `auto` or a tag.
impl From<&TitleSettings> for TitleSettingsRow {
    fn from(settings: &TitleSettings) -> Self {
        let (api_key_file, api_key_env) = match &settings.api_key {
            ApiKeySource::None => (None, None),
            ApiKeySource::File(path) => (Some(path.clone()), None),
            ApiKeySource::Env(name) => (None, Some(name.clone())),
        };
        TitleSettingsRow {
            project_id: settings.project_id.clone(),
            enabled: settings.enabled,
            base_url: settings.base_url.clone(),
            model: settings.model.clone(),
            api_key_file,
            api_key_env,
            api_style: settings.api_style.as_str().to_owned(),
            api_version: settings.api_version.clone(),
            language: settings.language_label().to_owned(),
            words: i64::from(settings.words),
            instructions: settings.instructions.clone(),
            timeout_ms: i64::try_from(settings.timeout_ms).unwrap_or(i64::MAX),
            updated_at: settings.updated_at,
        }
    }
}

/// A stored row as settings; a row no valid settings could have written is an
/// error (never a default: a damaged row must not send a key somewhere else).
impl TryFrom<TitleSettingsRow> for TitleSettings {
    type Error = String;

    fn try_from(row: TitleSettingsRow) -> Result<Self, String> {
        let api_key = match (row.api_key_file, row.api_key_env) {
            (None, None) => ApiKeySource::None,
            (Some(path), None) => ApiKeySource::File(path),
            (None, Some(name)) => ApiKeySource::Env(name),
            (Some(_), Some(_)) => return Err("both a key file and a key variable".into()),
        };
        Ok(TitleSettings {
            api_key,
            api_style: ApiStyle::parse(&row.api_style)
                .ok_or_else(|| format!("unknown api_style {:?}", row.api_style))?,
            api_version: row.api_version,
            language: (row.language != "auto").then_some(row.language),
            words: u8::try_from(row.words).map_err(|_| "words out of range".to_owned())?,
            instructions: row.instructions,
            timeout_ms: u64::try_from(row.timeout_ms).map_err(|_| "negative timeout".to_owned())?,
            project_id: row.project_id,
            enabled: row.enabled,
            base_url: row.base_url,
            model: row.model,
            updated_at: row.updated_at,
        })
    }
}

/// An absolute `http` or `https` URL without credentials, query or fragment,
/// returned without its trailing slash.
fn check_base_url(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.chars().count() > BASE_URL_MAX_CHARS {
        return Err(format!("the base URL must be at most {BASE_URL_MAX_CHARS} characters"));
    }
    let url = url::Url::parse(text).map_err(|error| format!("the base URL is not a URL: {error}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err("the base URL must be an http:// or https:// URL with a host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the base URL must not carry credentials; use --api-key-file or --api-key-env".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("the base URL must not have a query or fragment (Azure: use --api-version)".into());
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

fn check_key_file(path: &str) -> Result<String, String> {
    if path.is_empty() || path.chars().count() > KEY_FILE_MAX_CHARS || has_control(path) {
        return Err(format!("the API key file must be a path of 1 to {KEY_FILE_MAX_CHARS} characters"));
    }
    Ok(path.to_owned())
}

/// A variable name (`[A-Za-z_][A-Za-z0-9_]*`) that is not one of threadhold's
/// own settings: those hold the server's secrets (the database URL, S3 keys),
/// which must never travel to a model endpoint.
fn check_key_env(name: &str) -> Result<String, String> {
    let name = name.trim();
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= KEY_ENV_MAX_CHARS;
    if !valid {
        return Err(format!("the API key variable must be a name like OPENAI_API_KEY, not {name:?}"));
    }
    if name.to_ascii_uppercase().starts_with("THREADHOLD_") {
        return Err("the API key variable must not be one of threadhold's own THREADHOLD_* settings".into());
    }
    Ok(name.to_owned())
}

fn is_api_version(text: &str) -> bool {
    (1..=64).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

/// `^[a-z]{2,3}(-[A-Za-z]{2,4})?$`, the tags the hosted service accepts.
pub fn is_language_tag(text: &str) -> bool {
    let (primary, region) = match text.split_once('-') {
        Some((primary, region)) => (primary, Some(region)),
        None => (text, None),
    };
    let primary_ok = (2..=3).contains(&primary.len()) && primary.bytes().all(|b| b.is_ascii_lowercase());
    let region_ok =
        region.is_none_or(|region| (2..=4).contains(&region.len()) && region.bytes().all(|b| b.is_ascii_alphabetic()));
    primary_ok && region_ok
}

fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> TitleSettings {
        TitleSettings::new(
            "p",
            "https://api.openai.com/v1/",
            " gpt-4o-mini ",
            ApiKeySource::Env("OPENAI_API_KEY".into()),
        )
    }

    #[test]
    fn defaults_are_the_hosted_ones_and_normalize() {
        let checked = settings().checked().expect("valid");
        assert_eq!(checked.base_url, "https://api.openai.com/v1");
        assert_eq!(checked.model, "gpt-4o-mini");
        assert_eq!((checked.words, checked.language_label(), checked.timeout_ms), (6, "auto", 10_000));
        assert_eq!(checked.completions_url(), "https://api.openai.com/v1/chat/completions");
        assert_eq!(checked.budget(), Duration::from_millis(20_250));
    }

    #[test]
    fn azure_deployments_take_an_api_version() {
        let mut azure = settings();
        azure.base_url = "https://acme.openai.azure.com/openai/deployments/titles".into();
        azure.api_style = ApiStyle::Azure;
        azure.api_version = Some("2024-10-21".into());
        assert_eq!(
            azure.checked().expect("valid").completions_url(),
            "https://acme.openai.azure.com/openai/deployments/titles/chat/completions?api-version=2024-10-21"
        );
        let mut bad = settings();
        bad.api_version = Some("2024&x=1".into());
        assert!(bad.checked().is_err());
    }

    #[test]
    fn base_urls_are_plain_http_endpoints() {
        for good in ["http://127.0.0.1:11434/v1", "https://llm.internal:8000/v1", "http://localhost:4000"] {
            let mut s = settings();
            s.base_url = good.into();
            assert!(s.checked().is_ok(), "{good}");
        }
        for bad in [
            "ftp://example.com/v1",
            "api.openai.com/v1",
            "https://user:pw@example.com/v1",
            "https://example.com/v1?key=1",
            "https://example.com/v1#x",
            "",
        ] {
            let mut s = settings();
            s.base_url = bad.into();
            assert!(s.checked().is_err(), "{bad}");
        }
    }

    #[test]
    fn controls_keep_the_hosted_limits() {
        let with = |f: fn(&mut TitleSettings)| {
            let mut s = settings();
            f(&mut s);
            s.checked()
        };
        assert!(with(|s| s.words = 1).is_err());
        assert!(with(|s| s.words = 13).is_err());
        assert!(with(|s| s.words = 2).is_ok());
        assert!(with(|s| s.words = 12).is_ok());
        assert!(with(|s| s.instructions = "x".repeat(1_000)).is_ok());
        assert!(with(|s| s.instructions = "x".repeat(1_001)).is_err());
        assert_eq!(
            with(|s| s.instructions = format!("  {}  ", "y".repeat(1_000))).expect("trimmed").instructions.len(),
            1_000
        );
        assert_eq!(with(|s| s.language = Some("AUTO".into())).expect("auto").language, None);
        assert_eq!(with(|s| s.language = Some("pt-BR".into())).expect("tag").language.as_deref(), Some("pt-BR"));
        assert!(with(|s| s.language = Some("German".into())).is_err());
        assert!(with(|s| s.model = " ".into()).is_err());
        assert!(with(|s| s.timeout_ms = 50).is_err());
        assert!(with(|s| s.timeout_ms = 300_001).is_err());
    }

    #[test]
    fn keys_never_come_from_threadholds_own_settings() {
        let key = |source: ApiKeySource| TitleSettings { api_key: source, ..settings() }.checked();
        assert!(key(ApiKeySource::Env("THREADHOLD_DATABASE_URL".into())).is_err());
        assert!(key(ApiKeySource::Env("threadhold_s3_secret_access_key".into())).is_err());
        assert!(key(ApiKeySource::Env("1BAD".into())).is_err());
        assert!(key(ApiKeySource::Env("OPENAI-KEY".into())).is_err());
        assert!(key(ApiKeySource::Env("AZURE_OPENAI_API_KEY".into())).is_ok());
        assert!(key(ApiKeySource::File(String::new())).is_err());
        assert!(key(ApiKeySource::File("/run/secrets/openai".into())).is_ok());
        assert!(key(ApiKeySource::None).is_ok());
    }

    #[test]
    fn rows_round_trip_and_damaged_ones_are_errors() {
        for api_key in [ApiKeySource::None, ApiKeySource::File("/k".into()), ApiKeySource::Env("K".into())] {
            let mut original = TitleSettings { api_key, ..settings() };
            original.language = Some("de".into());
            let row = TitleSettingsRow::from(&original);
            assert_eq!(TitleSettings::try_from(row), Ok(original));
        }
        let row = TitleSettingsRow::from(&settings());
        assert_eq!(row.language, "auto");
        let both = TitleSettingsRow { api_key_file: Some("/k".into()), api_key_env: Some("K".into()), ..row.clone() };
        assert!(TitleSettings::try_from(both).is_err());
        assert!(TitleSettings::try_from(TitleSettingsRow { api_style: "bearer".into(), ..row.clone() }).is_err());
        assert!(TitleSettings::try_from(TitleSettingsRow { words: 300, ..row.clone() }).is_err());
        assert!(TitleSettings::try_from(TitleSettingsRow { timeout_ms: -1, ..row }).is_err());
    }

    #[test]
    fn language_tags() {
        for good in ["de", "pt-BR", "zh-Hant", "fil", "en-us"] {
            assert!(is_language_tag(good), "{good}");
        }
        for bad in ["", "d", "DE", "deut", "pt-", "pt-B", "pt-BRAZI", "pt_BR", "de-CH-x"] {
            assert!(!is_language_tag(bad), "{bad}");
        }
    }
}
