//! Column lists and row decoders of the SQLite backend. Columns are read by
//! position, so each list sits beside the decoder that reads it; the lists are
//! literals (`concat!`), so every statement is a constant string.

use rusqlite::Row;
use rusqlite::types::{FromSql, FromSqlError, ValueRef};
use threadhold_domain::model::{ApiKey, Attachment, AuthRule, Message, Project, SigningKey, Thread, WorkspaceScope};
use threadhold_domain::runs::RunState;

/// The columns [`thread`] reads, as a literal for `concat!`.
macro_rules! thread_columns {
    () => {
        "id, project_id, workspace_id, title, title_from_user, metadata, external_id, \
     is_archived, last_message_at, created_at, updated_at"
    };
}
pub(super) use thread_columns;

pub(super) fn thread(row: &Row) -> rusqlite::Result<Thread> {
    Ok(Thread {
        id: row.get(0)?,
        project_id: row.get(1)?,
        workspace_id: row.get(2)?,
        title: row.get(3)?,
        title_from_user: row.get(4)?,
        metadata: row.get(5)?,
        external_id: row.get(6)?,
        is_archived: row.get(7)?,
        last_message_at: row.get(8)?,
        created_at: row.get(9)?,
        updated_at: row.get(10)?,
    })
}

/// The columns [`message`] reads, as a literal for `concat!`.
macro_rules! message_columns {
    () => {
        "id, thread_id, parent_id, height, format, content, external_id, created_at, \
     updated_at, run_running, run_heartbeat_at"
    };
}
pub(super) use message_columns;

pub(super) fn message(row: &Row) -> rusqlite::Result<Message> {
    let running: Option<bool> = row.get(9)?;
    let heartbeat: Option<i64> = row.get(10)?;
    Ok(Message {
        id: row.get(0)?,
        thread_id: row.get(1)?,
        parent_id: row.get(2)?,
        height: row.get(3)?,
        format: row.get(4)?,
        content: row.get(5)?,
        external_id: row.get(6)?,
        created_at: row.get(7)?,
        updated_at: row.get(8)?,
        run: running.zip(heartbeat).map(|(running, last_heartbeat_at)| RunState { running, last_heartbeat_at }),
    })
}

/// The columns [`project`] reads, as a literal for `concat!`.
macro_rules! project_columns {
    () => {
        "id, name, allowed_origins, anonymous_enabled, created_at"
    };
}
pub(super) use project_columns;

pub(super) fn project(row: &Row) -> rusqlite::Result<Project> {
    Ok(Project {
        id: row.get(0)?,
        name: row.get(1)?,
        allowed_origins: row.get::<_, JsonList>(2)?.0,
        anonymous_enabled: row.get(3)?,
        created_at: row.get(4)?,
    })
}

/// The columns [`signing_key`] reads, as a literal for `concat!`.
macro_rules! signing_key_columns {
    () => {
        "kid, project_id, algorithm, private_der, public_raw, created_at"
    };
}
pub(super) use signing_key_columns;

pub(super) fn signing_key(row: &Row) -> rusqlite::Result<SigningKey> {
    Ok(SigningKey {
        kid: row.get(0)?,
        project_id: row.get(1)?,
        algorithm: row.get(2)?,
        private_der: row.get(3)?,
        public_raw: row.get(4)?,
        created_at: row.get(5)?,
    })
}

/// The columns [`api_key`] reads, as a literal for `concat!`.
macro_rules! api_key_columns {
    () => {
        "id, project_id, name, secret_hash, display_prefix, created_at, expires_at, last_used_at, revoked_at"
    };
}
pub(super) use api_key_columns;

pub(super) fn api_key(row: &Row) -> rusqlite::Result<ApiKey> {
    Ok(ApiKey {
        id: row.get(0)?,
        project_id: row.get(1)?,
        name: row.get(2)?,
        secret_hash: row.get(3)?,
        display_prefix: row.get(4)?,
        created_at: row.get(5)?,
        expires_at: row.get(6)?,
        last_used_at: row.get(7)?,
        revoked_at: row.get(8)?,
    })
}

/// The columns [`attachment`] reads, as a literal for `concat!`.
macro_rules! attachment_columns {
    () => {
        "key, project_id, workspace_id, filename, content_type, size, complete, thread_id, created_at, upload_expires_at"
    };
}
pub(super) use attachment_columns;

pub(super) fn attachment(row: &Row) -> rusqlite::Result<Attachment> {
    Ok(Attachment {
        key: row.get(0)?,
        scope: WorkspaceScope { project_id: row.get(1)?, workspace_id: row.get(2)? },
        filename: row.get(3)?,
        content_type: row.get(4)?,
        size: row.get(5)?,
        complete: row.get(6)?,
        thread_id: row.get(7)?,
        created_at: row.get(8)?,
        upload_expires_at: row.get(9)?,
    })
}

/// The columns [`auth_rule`] reads, as a literal for `concat!`.
macro_rules! auth_rule_columns {
    () => {
        "id, project_id, name, provider, issuer, audiences, jwks_url, discovery, \
     shared_secret, algorithms, clock_skew_secs, max_lifetime_secs, authorized_parties, workspace_template, \
     workspace_fallback, name_claim, token_type, created_at"
    };
}
pub(super) use auth_rule_columns;

pub(super) fn auth_rule(row: &Row) -> rusqlite::Result<AuthRule> {
    Ok(AuthRule {
        id: row.get(0)?,
        project_id: row.get(1)?,
        name: row.get(2)?,
        provider: row.get(3)?,
        issuer: row.get(4)?,
        audiences: row.get::<_, JsonList>(5)?.0,
        jwks_url: row.get(6)?,
        discovery: row.get(7)?,
        shared_secret: row.get(8)?,
        algorithms: row.get::<_, JsonList>(9)?.0,
        clock_skew_secs: row.get(10)?,
        max_lifetime_secs: row.get(11)?,
        authorized_parties: row.get::<_, JsonList>(12)?.0,
        workspace_template: row.get(13)?,
        workspace_fallback: row.get(14)?,
        name_claim: row.get(15)?,
        token_type: row.get(16)?,
        created_at: row.get(17)?,
    })
}

/// A JSON array of strings stored as text. A damaged one is an error, never an
/// empty list: an empty origin or audience list would allow everything.
pub(super) struct JsonList(pub Vec<String>);

impl FromSql for JsonList {
    fn column_result(value: ValueRef<'_>) -> Result<Self, FromSqlError> {
        let text = value.as_str()?;
        serde_json::from_str(text).map(JsonList).map_err(|error| FromSqlError::Other(Box::new(error)))
    }
}
