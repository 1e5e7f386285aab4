//! Column lists and row decoders of the SQLite backend. Columns are read by
//! position, so each list sits beside the decoder that reads it; the lists are
//! literals (`concat!`), so every statement is a constant string.

use rusqlite::Row;
use rusqlite::types::{FromSql, FromSqlError, ValueRef};
use threadhold_domain::model::{
    ApiKey, Attachment, AuthRule, Message, Project, Run, ScoreRecord, SigningKey, SpanRecord, Thread, WorkspaceScope,
};
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

/// The columns [`run`] reads, as a literal for `concat!` (also the insert order).
macro_rules! run_columns {
    () => {
        "id, project_id, workspace_id, thread_id, message_id, created_by, status, outcome_type, error_code, error, \
         provider, model_id, environment, release, tags, attributes, trace_id, root_span_id, service_name, agent_name, \
         input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, duration_ms, first_token_ms, cost_usd, \
         cost_details, total_steps, output_text, steps, tool_calls, reported, traced, created_at, updated_at"
    };
}
pub(super) use run_columns;

pub(super) fn run(row: &Row) -> rusqlite::Result<Run> {
    Ok(Run {
        id: row.get(0)?,
        scope: WorkspaceScope { project_id: row.get(1)?, workspace_id: row.get(2)? },
        thread_id: row.get(3)?,
        message_id: row.get(4)?,
        created_by: row.get(5)?,
        status: row.get(6)?,
        outcome_type: row.get(7)?,
        error_code: row.get(8)?,
        error: row.get(9)?,
        provider: row.get(10)?,
        model_id: row.get(11)?,
        environment: row.get(12)?,
        release: row.get(13)?,
        tags: row.get::<_, JsonList>(14)?.0,
        attributes: row.get(15)?,
        trace_id: row.get(16)?,
        root_span_id: row.get(17)?,
        service_name: row.get(18)?,
        agent_name: row.get(19)?,
        input_tokens: row.get(20)?,
        cached_input_tokens: row.get(21)?,
        output_tokens: row.get(22)?,
        reasoning_tokens: row.get(23)?,
        duration_ms: row.get(24)?,
        first_token_ms: row.get(25)?,
        cost_usd: row.get(26)?,
        cost_details: row.get(27)?,
        total_steps: row.get(28)?,
        output_text: row.get(29)?,
        steps: row.get(30)?,
        tool_calls: row.get(31)?,
        reported: row.get(32)?,
        traced: row.get(33)?,
        created_at: row.get(34)?,
        updated_at: row.get(35)?,
    })
}

/// The columns [`span`] reads, as a literal for `concat!` (after `run_id`, the insert order).
macro_rules! span_columns {
    () => {
        "trace_id, span_id, parent_span_id, name, operation, span_type, provider, model_id, tool_name, tool_call_id, \
         tool_source, input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, started_at, ended_at, \
         first_chunk_ms, status_code, error, error_type, finish_reason, input, output, attributes"
    };
}
pub(super) use span_columns;

pub(super) fn span(row: &Row) -> rusqlite::Result<SpanRecord> {
    Ok(SpanRecord {
        trace_id: row.get(0)?,
        span_id: row.get(1)?,
        parent_span_id: row.get(2)?,
        name: row.get(3)?,
        operation: row.get(4)?,
        span_type: row.get(5)?,
        provider: row.get(6)?,
        model_id: row.get(7)?,
        tool_name: row.get(8)?,
        tool_call_id: row.get(9)?,
        tool_source: row.get(10)?,
        input_tokens: row.get(11)?,
        cached_input_tokens: row.get(12)?,
        output_tokens: row.get(13)?,
        reasoning_tokens: row.get(14)?,
        started_at: row.get(15)?,
        ended_at: row.get(16)?,
        first_chunk_ms: row.get(17)?,
        status_code: row.get(18)?,
        error: row.get(19)?,
        error_type: row.get(20)?,
        finish_reason: row.get(21)?,
        input: row.get(22)?,
        output: row.get(23)?,
        attributes: row.get(24)?,
    })
}

/// The columns [`score`] reads, as a literal for `concat!`.
macro_rules! score_columns {
    () => {
        "id, workspace_id, target_type, target_id, thread_id, name, data_type, value, string_value, source, author, \
         comment, created_at, updated_at"
    };
}
pub(super) use score_columns;

pub(super) fn score(row: &Row) -> rusqlite::Result<ScoreRecord> {
    let target_type: String = row.get(2)?;
    let target_id: String = row.get(3)?;
    Ok(ScoreRecord {
        id: row.get(0)?,
        workspace_id: row.get(1)?,
        message_id: (target_type == "message").then(|| target_id.clone()),
        run_id: (target_type == "run").then_some(target_id),
        thread_id: row.get(4)?,
        name: row.get(5)?,
        data_type: row.get(6)?,
        value: row.get(7)?,
        string_value: row.get(8)?,
        source: row.get(9)?,
        author_id: row.get(10)?,
        comment: row.get(11)?,
        created_at: row.get(12)?,
        updated_at: row.get(13)?,
    })
}
