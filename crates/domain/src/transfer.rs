//! The rows a deployment export carries besides threads and messages: one
//! struct per stored table, written as one JSON line each (`"kind"` names the
//! table). Together with the threads and messages they are a whole deployment:
//! an import into an empty database of either kind gives back working keys,
//! tokens, rules and sessions. Ids, hashes and timestamps are kept exactly;
//! binary values travel as standard base64.

use serde::{Deserialize, Serialize};

use crate::Millis;

/// The tables an export walks, in the order an import needs them (projects first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportTable {
    Projects,
    SigningKeys,
    ApiKeys,
    AuthRules,
    TitleSettings,
    ServerSecrets,
    AnonymousSessions,
    RefreshTokens,
    Attachments,
    Feedback,
    Telemetry,
    Scores,
    Runs,
    Spans,
}

impl ExportTable {
    /// Every table, in import order. Threads and messages come between the
    /// sessions and the attachments; they are exported thread by thread.
    pub const BEFORE_THREADS: [ExportTable; 8] = [
        ExportTable::Projects,
        ExportTable::SigningKeys,
        ExportTable::ApiKeys,
        ExportTable::AuthRules,
        ExportTable::TitleSettings,
        ExportTable::ServerSecrets,
        ExportTable::AnonymousSessions,
        ExportTable::RefreshTokens,
    ];
    pub const AFTER_THREADS: [ExportTable; 6] = [
        ExportTable::Attachments,
        ExportTable::Feedback,
        ExportTable::Telemetry,
        ExportTable::Scores,
        ExportTable::Runs,
        ExportTable::Spans,
    ];
}

/// One exported row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExportRow {
    Project(ProjectRow),
    SigningKey(SigningKeyRow),
    ApiKey(ApiKeyRow),
    AuthRule(AuthRuleRow),
    TitleSettings(TitleSettingsRow),
    ServerSecret(ServerSecretRow),
    AnonymousSession(AnonymousSessionRow),
    RefreshToken(RefreshTokenRow),
    Attachment(AttachmentRow),
    Feedback(FeedbackRow),
    Telemetry(TelemetryRow),
    Score(ScoreRow),
    /// Run reports and traces merged (`POST /v1/runs`, `POST /v1/traces`), column by column.
    Run(TableRow),
    Span(TableRow),
}

impl ExportRow {
    /// The row's key within its table (the export's page cursor).
    pub fn key(&self) -> &str {
        match self {
            ExportRow::Project(row) => &row.id,
            ExportRow::SigningKey(row) => &row.kid,
            ExportRow::ApiKey(row) => &row.id,
            ExportRow::AuthRule(row) => &row.id,
            ExportRow::TitleSettings(row) => &row.project_id,
            ExportRow::ServerSecret(row) => &row.name,
            ExportRow::AnonymousSession(row) => &row.id,
            ExportRow::RefreshToken(row) => &row.token_hash,
            ExportRow::Attachment(row) => &row.key,
            ExportRow::Feedback(row) => &row.id,
            ExportRow::Telemetry(row) => &row.id,
            ExportRow::Score(row) => &row.id,
            ExportRow::Run(row) | ExportRow::Span(row) => &row.key,
        }
    }
}

/// A row of a wide table, as its columns' JSON values (the two backends share
/// the column names; booleans may come as `0`/`1` from SQLite).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableRow {
    #[serde(flatten)]
    pub columns: serde_json::Map<String, serde_json::Value>,
    /// The export's page cursor (runs: the id; spans: `<run id> <span id>`); not written.
    #[serde(skip)]
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRow {
    pub id: String,
    pub name: String,
    pub allowed_origins: Vec<String>,
    pub anonymous_enabled: bool,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKeyRow {
    pub kid: String,
    pub project_id: String,
    pub algorithm: String,
    #[serde(with = "base64_bytes")]
    pub private_der: Vec<u8>,
    #[serde(with = "base64_bytes")]
    pub public_raw: Vec<u8>,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRow {
    pub id: String,
    pub project_id: String,
    pub name: String,
    /// SHA-256 of the key: the key itself is never stored, so it keeps working after an import.
    pub secret_hash: String,
    pub display_prefix: String,
    pub created_at: Millis,
    pub expires_at: Option<Millis>,
    pub last_used_at: Option<Millis>,
    pub revoked_at: Option<Millis>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthRuleRow {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub provider: String,
    pub issuer: String,
    pub audiences: Vec<String>,
    pub jwks_url: Option<String>,
    pub discovery: bool,
    #[serde(with = "base64_bytes_option")]
    pub shared_secret: Option<Vec<u8>>,
    pub algorithms: Vec<String>,
    pub clock_skew_secs: i64,
    pub max_lifetime_secs: Option<i64>,
    pub authorized_parties: Vec<String>,
    pub workspace_template: String,
    pub workspace_fallback: Option<String>,
    pub name_claim: Option<String>,
    pub token_type: Option<String>,
    pub created_at: Millis,
}

/// A project's title model: where its key is read, never the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TitleSettingsRow {
    pub project_id: String,
    pub enabled: bool,
    pub base_url: String,
    pub model: String,
    pub api_key_file: Option<String>,
    pub api_key_env: Option<String>,
    pub api_style: String,
    pub api_version: Option<String>,
    pub language: String,
    pub words: i64,
    pub instructions: String,
    pub timeout_ms: i64,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerSecretRow {
    pub name: String,
    #[serde(with = "base64_bytes")]
    pub value: Vec<u8>,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnonymousSessionRow {
    pub id: String,
    pub project_id: String,
    pub user_id: String,
    pub created_at: Millis,
    pub last_used_at: Millis,
    pub expires_at: Millis,
    pub revoked_at: Option<Millis>,
    pub claimed_at: Option<Millis>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshTokenRow {
    /// SHA-256 of the token, as stored: the browser's token keeps working after an import.
    pub token_hash: String,
    pub session_id: String,
    pub parent_hash: Option<String>,
    pub created_at: Millis,
    pub rotated_at: Option<Millis>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentRow {
    pub key: String,
    pub project_id: String,
    pub workspace_id: String,
    pub filename: String,
    pub content_type: String,
    pub size: Option<i64>,
    pub complete: bool,
    pub thread_id: Option<String>,
    pub created_at: Millis,
    pub upload_expires_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedbackRow {
    pub id: String,
    pub message_id: String,
    pub user_id: String,
    /// `positive` or `negative`.
    pub rating: String,
    pub comment: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TelemetryRow {
    pub id: String,
    /// `run` or `event`.
    pub record_type: String,
    pub project_id: String,
    pub workspace_id: String,
    pub user_id: String,
    pub thread_id: Option<String>,
    /// The run status or the event kind.
    pub label: String,
    /// The JSON text as received.
    pub body: String,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreRow {
    pub id: String,
    pub project_id: String,
    pub workspace_id: String,
    pub author: String,
    pub target_type: String,
    pub target_id: String,
    pub thread_id: Option<String>,
    pub name: String,
    pub data_type: String,
    pub value: Option<f64>,
    pub string_value: Option<String>,
    pub comment: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

mod base64_bytes {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

mod base64_bytes_option {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, serializer: S) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(bytes) => serializer.serialize_some(&STANDARD.encode(bytes)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| STANDARD.decode(text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_through_json_lines_with_base64_bytes() {
        let row = ExportRow::SigningKey(SigningKeyRow {
            kid: "k".into(),
            project_id: "p".into(),
            algorithm: "EdDSA".into(),
            private_der: vec![0, 255, 7],
            public_raw: vec![1],
            created_at: 5,
        });
        let line = serde_json::to_string(&row).expect("json");
        assert!(line.starts_with(r#"{"kind":"signing_key","kid":"k""#), "{line}");
        assert!(line.contains(r#""private_der":"AP8H""#), "{line}");
        assert_eq!(serde_json::from_str::<ExportRow>(&line).expect("back"), row);
        assert_eq!(row.key(), "k");
    }
}
