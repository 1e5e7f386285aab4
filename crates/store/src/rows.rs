//! Row shapes, column lists and small helpers shared by every SQL backend:
//! both run the same SELECTs and decode rows into the same tuples.

use threadhold_domain::model::{ApiKey, Attachment, Message, Project, SigningKey, Thread, WorkspaceScope};
use threadhold_domain::refresh::TokenState;
use threadhold_domain::runs::RunState;

pub(crate) type ThreadRow =
    (String, String, String, Option<String>, bool, Option<String>, Option<String>, bool, i64, i64, i64);
pub(crate) const THREAD_COLUMNS: &str = "id, project_id, workspace_id, title, title_from_user, metadata, external_id, is_archived, last_message_at, created_at, updated_at";

pub(crate) fn thread_from_row(r: ThreadRow) -> Thread {
    Thread {
        id: r.0,
        project_id: r.1,
        workspace_id: r.2,
        title: r.3,
        title_from_user: r.4,
        metadata: r.5,
        external_id: r.6,
        is_archived: r.7,
        last_message_at: r.8,
        created_at: r.9,
        updated_at: r.10,
    }
}

pub(crate) type MessageRow =
    (String, String, Option<String>, i64, String, String, Option<String>, i64, i64, Option<bool>, Option<i64>);
pub(crate) const MESSAGE_COLUMNS: &str = "id, thread_id, parent_id, height, format, content, external_id, created_at, updated_at, run_running, run_heartbeat_at";

pub(crate) fn message_from_row(r: MessageRow) -> Message {
    Message {
        id: r.0,
        thread_id: r.1,
        parent_id: r.2,
        height: r.3,
        format: r.4,
        content: r.5,
        external_id: r.6,
        created_at: r.7,
        updated_at: r.8,
        run: r.9.zip(r.10).map(|(running, last_heartbeat_at)| RunState { running, last_heartbeat_at }),
    }
}

pub(crate) type ProjectRow = (String, String, String, bool, i64);
pub(crate) const PROJECT_COLUMNS: &str = "id, name, allowed_origins, anonymous_enabled, created_at";

pub(crate) fn project_from_row(r: ProjectRow) -> Project {
    Project {
        id: r.0,
        name: r.1,
        allowed_origins: serde_json::from_str(&r.2).unwrap_or_default(),
        anonymous_enabled: r.3,
        created_at: r.4,
    }
}

pub(crate) type AttachmentRow = (String, String, String, String, String, Option<i64>, bool, Option<String>, i64, i64);
pub(crate) const ATTACHMENT_COLUMNS: &str =
    "key, project_id, workspace_id, filename, content_type, size, complete, thread_id, created_at, upload_expires_at";

pub(crate) fn attachment_from_row(r: AttachmentRow) -> Attachment {
    Attachment {
        key: r.0,
        scope: WorkspaceScope { project_id: r.1, workspace_id: r.2 },
        filename: r.3,
        content_type: r.4,
        size: r.5,
        complete: r.6,
        thread_id: r.7,
        created_at: r.8,
        upload_expires_at: r.9,
    }
}

pub(crate) const AUTH_RULE_COLUMNS: &str = "id, project_id, name, provider, issuer, audiences, jwks_url, discovery, shared_secret, algorithms, \
     clock_skew_secs, max_lifetime_secs, authorized_parties, workspace_template, workspace_fallback, name_claim, token_type, created_at";

pub(crate) fn json_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

pub(crate) fn list_json(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}

/// A presented refresh token joined with its session.
pub(crate) type TokenRow = (String, String, String, i64, i64, Option<i64>, Option<i64>, Option<i64>);
pub(crate) const TOKEN_JOIN: &str = "SELECT s.id, s.project_id, s.user_id, s.created_at, s.expires_at, s.revoked_at, s.claimed_at, t.rotated_at \
     FROM refresh_tokens t JOIN anonymous_sessions s ON s.id = t.session_id WHERE t.token_hash = $1";

pub(crate) fn token_state(row: &TokenRow) -> TokenState {
    TokenState {
        rotated_at: row.7,
        session_expires_at: row.4,
        session_revoked: row.5.is_some(),
        session_claimed: row.6.is_some(),
    }
}

pub(crate) type ApiKeyRow = (String, String, String, String, String, i64, Option<i64>, Option<i64>, Option<i64>);
pub(crate) const API_KEY_COLUMNS: &str =
    "id, project_id, name, secret_hash, display_prefix, created_at, expires_at, last_used_at, revoked_at";

pub(crate) fn api_key_from_row(r: ApiKeyRow) -> ApiKey {
    ApiKey {
        id: r.0,
        project_id: r.1,
        name: r.2,
        secret_hash: r.3,
        display_prefix: r.4,
        created_at: r.5,
        expires_at: r.6,
        last_used_at: r.7,
        revoked_at: r.8,
    }
}

pub(crate) type SigningKeyRow = (String, String, String, Vec<u8>, Vec<u8>, i64);

pub(crate) fn signing_key_from_row(r: SigningKeyRow) -> SigningKey {
    SigningKey { kid: r.0, project_id: r.1, algorithm: r.2, private_der: r.3, public_raw: r.4, created_at: r.5 }
}

/// `SELECT <columns> FROM <table> <rest>` for runtime queries whose parts are all constants.
pub(crate) fn select(columns: &str, table: &str, rest: &str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(format!("SELECT {columns} FROM {table} {rest}"))
}

pub(crate) fn role_of(content: &str) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(content).ok()?.get("role")?.as_str().map(str::to_owned)
}

/// A LIKE pattern matching `needle` anywhere, lowercased, with `%`, `_` and `\\` escaped (`ESCAPE '\\'`).
pub(crate) fn like_pattern(needle: &str) -> String {
    let mut pattern = String::from("%");
    for c in needle.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}
