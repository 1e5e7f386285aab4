//! The client of title models: one OpenAI-compatible `POST …/chat/completions`
//! (OpenAI, Azure OpenAI, Ollama, vLLM, LiteLLM), bounded in time and size,
//! retried once when a retry can help.
//!
//! Key material never leaves this module except in the request header (marked
//! sensitive): errors carry a status and at most the provider's error *code*,
//! never a response body (OpenAI's 401 body quotes part of the key), a header
//! or the key's value.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};
use serde_json::{Value, json};
use threadhold_domain::title::prompt::{TitleSource, clean_title, system_prompt};
use threadhold_domain::title::settings::{ANSWER_MAX_BYTES, ApiKeySource, ApiStyle, RETRY_DELAY_MS, TitleSettings};

/// Why a model gave no title.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// The key's file or variable cannot be read (named, never shown).
    #[error("no API key: {0}")]
    Key(String),
    #[error("no answer within {0} ms")]
    Timeout(u64),
    #[error("the endpoint cannot be reached: {0}")]
    Unreachable(String),
    /// An HTTP error status, with the provider's error code when it sent one.
    #[error("the endpoint answered HTTP {status}{}", code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Status { status: u16, code: Option<String> },
    #[error("the answer is not a chat completion: {0}")]
    Malformed(&'static str),
    #[error("the answer holds no title")]
    Empty,
}

impl ModelError {
    /// Failures another call may not repeat: no answer, a server error, a
    /// rate limit, an unusable answer. A refused key or an unknown model will
    /// be refused again.
    fn is_transient(&self) -> bool {
        match self {
            ModelError::Key(_) => false,
            ModelError::Status { status, .. } => matches!(status, 408 | 409 | 425 | 429) || *status >= 500,
            ModelError::Timeout(_) | ModelError::Unreachable(_) | ModelError::Malformed(_) | ModelError::Empty => true,
        }
    }
}

/// The shared HTTP client (connection pools per endpoint).
pub struct ModelClient {
    http: reqwest::Client,
}

impl ModelClient {
    pub fn new() -> Result<Self, String> {
        let http = reqwest::Client::builder()
            // A redirect would carry the key to wherever it points (`api-key` is not stripped).
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("threadhold/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| format!("building the title model client: {error}"))?;
        Ok(ModelClient { http })
    }

    /// A title for the conversation: one call and, after a transient failure,
    /// one more; at most [`TitleSettings::budget`] in all.
    pub async fn title(&self, settings: &TitleSettings, source: &TitleSource) -> Result<String, ModelError> {
        let key = read_key(&settings.api_key)?;
        let body = json!({
            "model": settings.model,
            "messages": [
                {"role": "system", "content": system_prompt(settings)},
                {"role": "user", "content": source.model_input()},
            ],
            "stream": false,
        });
        match self.call(settings, key.as_deref(), &body).await {
            Err(error) if error.is_transient() => {
                tracing::debug!(%error, "title model call failed; retrying once");
                tokio::time::sleep(Duration::from_millis(RETRY_DELAY_MS)).await;
                self.call(settings, key.as_deref(), &body).await
            }
            outcome => outcome,
        }
    }

    async fn call(&self, settings: &TitleSettings, key: Option<&str>, body: &Value) -> Result<String, ModelError> {
        let mut request = self.http.post(settings.completions_url()).timeout(settings.timeout()).json(body);
        if let Some(key) = key {
            let (name, value) = match settings.api_style {
                ApiStyle::OpenAi => (AUTHORIZATION, format!("Bearer {key}")),
                ApiStyle::Azure => (HeaderName::from_static("api-key"), key.to_owned()),
            };
            let mut value = HeaderValue::from_str(&value)
                .map_err(|_| ModelError::Key("the key holds characters a header cannot carry".into()))?;
            value.set_sensitive(true);
            request = request.header(name, value);
        }
        let mut response = request.send().await.map_err(|error| transport_error(&error, settings))?;
        let status = response.status();
        let mut answer = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|error| transport_error(&error, settings))? {
            if answer.len() + chunk.len() > ANSWER_MAX_BYTES {
                return Err(ModelError::Malformed("the answer is larger than 256 KiB"));
            }
            answer.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            return Err(ModelError::Status { status: status.as_u16(), code: error_code(&answer, key) });
        }
        let answer: Value = serde_json::from_slice(&answer).map_err(|_| ModelError::Malformed("not JSON"))?;
        let message = answer.pointer("/choices/0/message").ok_or(ModelError::Malformed("no choices[0].message"))?;
        let text = match message.get("content") {
            Some(Value::String(text)) => text.clone(),
            // Some servers answer content parts.
            Some(Value::Array(parts)) => {
                parts.iter().filter_map(|part| part.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("")
            }
            _ => String::new(),
        };
        let text = if text.trim().is_empty() { tool_call_title(message).unwrap_or_default() } else { text };
        clean_title(&text).ok_or(ModelError::Empty)
    }
}

/// A model that answers with a `setTitle`-style tool call anyway: its `title` argument.
fn tool_call_title(message: &Value) -> Option<String> {
    let arguments = message.pointer("/tool_calls/0/function/arguments")?.as_str()?;
    let arguments: Value = serde_json::from_str(arguments).ok()?;
    arguments.get("title")?.as_str().map(str::to_owned)
}

/// The provider's error code (`{"error": {"code" | "type": …}}`), when it is a
/// short identifier that is no part of the key: never the message, which may
/// quote the key (OpenAI's does), and never an echo of the key.
fn error_code(body: &[u8], key: Option<&str>) -> Option<String> {
    let body: Value = serde_json::from_slice(body).ok()?;
    let error = body.get("error")?;
    let code = error.get("code").and_then(Value::as_str).or_else(|| error.get("type").and_then(Value::as_str))?;
    let plain = !code.is_empty()
        && code.len() <= 64
        && code.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.'));
    let echoes_key = key.is_some_and(|key| code.contains(key) || (code.len() >= 4 && key.contains(code)));
    (plain && !echoes_key).then(|| code.to_owned())
}

fn transport_error(error: &reqwest::Error, settings: &TitleSettings) -> ModelError {
    if error.is_timeout() {
        return ModelError::Timeout(settings.timeout_ms);
    }
    // The cause chain (connection refused, DNS, TLS), without the URL.
    let mut detail = String::new();
    let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(error);
    while let Some(error) = cause {
        detail = error.to_string();
        cause = error.source();
    }
    if detail.is_empty() {
        detail = if error.is_connect() { "connection failed".into() } else { "request failed".into() };
    }
    ModelError::Unreachable(detail)
}

/// The key, read at every call so a rotated key is used at once.
pub fn read_key(source: &ApiKeySource) -> Result<Option<String>, ModelError> {
    let key = match source {
        ApiKeySource::None => return Ok(None),
        ApiKeySource::File(path) => std::fs::read_to_string(path)
            .map_err(|error| ModelError::Key(format!("cannot read the key file {path}: {}", error.kind())))?,
        ApiKeySource::Env(name) => {
            std::env::var(name).map_err(|_| ModelError::Key(format!("the environment variable {name} is not set")))?
        }
    };
    let key = key.trim();
    if key.is_empty() {
        return Err(ModelError::Key("the key is empty".into()));
    }
    Ok(Some(key.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_never_carry_messages() {
        let key = Some("0123456789abcdef0123456789abcdef");
        let openai = br#"{"error":{"message":"Incorrect API key provided: sk-abc***xyz","type":"invalid_request_error","code":"invalid_api_key"}}"#;
        assert_eq!(error_code(openai, key).as_deref(), Some("invalid_api_key"));
        let typed = br#"{"error":{"message":"m","type":"server_error","code":null}}"#;
        assert_eq!(error_code(typed, key).as_deref(), Some("server_error"));
        assert_eq!(
            error_code(br#"{"error":{"code":"DeploymentNotFound"}}"#, key).as_deref(),
            Some("DeploymentNotFound")
        );
        assert_eq!(error_code(br#"{"error":{"code":"sk-abc and more words"}}"#, key), None);
        assert_eq!(
            error_code(br#"{"error":{"code":"0123456789abcdef0123456789abcdef"}}"#, key),
            None,
            "the key echoed"
        );
        assert_eq!(error_code(br#"{"error":{"code":"89abcdef0123"}}"#, key), None, "a piece of the key");
        assert_eq!(error_code(br#"{"error":"plain text sk-abc"}"#, key), None);
        assert_eq!(error_code(b"<html>", key), None);
    }

    #[test]
    fn transient_failures_are_retried_and_refusals_are_not() {
        assert!(ModelError::Status { status: 500, code: None }.is_transient());
        assert!(ModelError::Status { status: 429, code: None }.is_transient());
        assert!(ModelError::Timeout(5).is_transient());
        assert!(ModelError::Empty.is_transient());
        assert!(!ModelError::Status { status: 401, code: None }.is_transient());
        assert!(!ModelError::Status { status: 404, code: None }.is_transient());
        assert!(!ModelError::Key("x".into()).is_transient());
    }

    #[test]
    fn keys_come_from_files_and_variables() {
        let dir = std::env::temp_dir().join(format!("threadhold-key-{}", std::process::id()));
        std::fs::write(&dir, "  sk-file-key\n").expect("write");
        let file = ApiKeySource::File(dir.display().to_string());
        assert_eq!(read_key(&file), Ok(Some("sk-file-key".into())));
        std::fs::write(&dir, "\n").expect("write");
        assert!(matches!(read_key(&file), Err(ModelError::Key(_))));
        let _ = std::fs::remove_file(&dir);
        let missing = read_key(&file).expect_err("gone");
        assert!(missing.to_string().contains("not found"), "{missing}");
        let unset = read_key(&ApiKeySource::Env("THREADHOLD_TEST_SURELY_UNSET_KEY_9".into())).expect_err("unset");
        assert!(unset.to_string().contains("not set"), "{unset}");
        assert_eq!(read_key(&ApiKeySource::None), Ok(None));
    }

    #[test]
    fn tool_calls_are_read_when_there_is_no_content() {
        let message = json!({"content": null, "tool_calls": [{"function": {"name": "setTitle", "arguments": "{\"title\":\"Bread\"}"}}]});
        assert_eq!(tool_call_title(&message).as_deref(), Some("Bread"));
        assert_eq!(tool_call_title(&json!({"content": null})), None);
    }
}
