//! Column lists and row decoders of the PostgreSQL backend. Columns are read
//! by position, so each list sits beside the decoder that reads it; the lists
//! are literals (`concat!`), so every statement is a constant string.

use sqlx::Row;
use sqlx::postgres::PgRow;
use threadhold_domain::model::{
    ApiKey, Attachment, AuthRule, Message, Project, Run, ScoreRecord, SigningKey, SpanRecord, Thread, WorkspaceScope,
};
use threadhold_domain::runs::RunState;

/// The columns [`thread`] reads, as a literal for `concat!`.
macro_rules! thread_columns {
    () => {
        "id, project_id, workspace_id, title, title_from_user, metadata, external_id, is_archived, last_message_at, \
         created_at, updated_at"
    };
}
pub(super) use thread_columns;

pub(super) fn thread(row: &PgRow) -> sqlx::Result<Thread> {
    Ok(Thread {
        id: row.try_get(0)?,
        project_id: row.try_get(1)?,
        workspace_id: row.try_get(2)?,
        title: row.try_get(3)?,
        title_from_user: row.try_get(4)?,
        metadata: row.try_get(5)?,
        external_id: row.try_get(6)?,
        is_archived: row.try_get(7)?,
        last_message_at: row.try_get(8)?,
        created_at: row.try_get(9)?,
        updated_at: row.try_get(10)?,
    })
}

/// The columns [`message`] reads, as a literal for `concat!`.
macro_rules! message_columns {
    () => {
        "id, thread_id, parent_id, height, format, content, external_id, created_at, updated_at, run_running, \
         run_heartbeat_at"
    };
}
pub(super) use message_columns;

pub(super) fn message(row: &PgRow) -> sqlx::Result<Message> {
    let running: Option<bool> = row.try_get(9)?;
    let heartbeat: Option<i64> = row.try_get(10)?;
    Ok(Message {
        id: row.try_get(0)?,
        thread_id: row.try_get(1)?,
        parent_id: row.try_get(2)?,
        height: row.try_get(3)?,
        format: row.try_get(4)?,
        content: row.try_get(5)?,
        external_id: row.try_get(6)?,
        created_at: row.try_get(7)?,
        updated_at: row.try_get(8)?,
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

pub(super) fn project(row: &PgRow) -> sqlx::Result<Project> {
    Ok(Project {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        allowed_origins: json_list(row, 2)?,
        anonymous_enabled: row.try_get(3)?,
        created_at: row.try_get(4)?,
    })
}

/// The columns [`signing_key`] reads, as a literal for `concat!`.
macro_rules! signing_key_columns {
    () => {
        "kid, project_id, algorithm, private_der, public_raw, created_at"
    };
}
pub(super) use signing_key_columns;

pub(super) fn signing_key(row: &PgRow) -> sqlx::Result<SigningKey> {
    Ok(SigningKey {
        kid: row.try_get(0)?,
        project_id: row.try_get(1)?,
        algorithm: row.try_get(2)?,
        private_der: row.try_get(3)?,
        public_raw: row.try_get(4)?,
        created_at: row.try_get(5)?,
    })
}

/// The columns [`api_key`] reads, as a literal for `concat!`.
macro_rules! api_key_columns {
    () => {
        "id, project_id, name, secret_hash, display_prefix, created_at, expires_at, last_used_at, revoked_at"
    };
}
pub(super) use api_key_columns;

pub(super) fn api_key(row: &PgRow) -> sqlx::Result<ApiKey> {
    Ok(ApiKey {
        id: row.try_get(0)?,
        project_id: row.try_get(1)?,
        name: row.try_get(2)?,
        secret_hash: row.try_get(3)?,
        display_prefix: row.try_get(4)?,
        created_at: row.try_get(5)?,
        expires_at: row.try_get(6)?,
        last_used_at: row.try_get(7)?,
        revoked_at: row.try_get(8)?,
    })
}

/// The columns [`attachment`] reads, as a literal for `concat!`.
macro_rules! attachment_columns {
    () => {
        "key, project_id, workspace_id, filename, content_type, size, complete, thread_id, created_at, upload_expires_at"
    };
}
pub(super) use attachment_columns;

pub(super) fn attachment(row: &PgRow) -> sqlx::Result<Attachment> {
    Ok(Attachment {
        key: row.try_get(0)?,
        scope: WorkspaceScope { project_id: row.try_get(1)?, workspace_id: row.try_get(2)? },
        filename: row.try_get(3)?,
        content_type: row.try_get(4)?,
        size: row.try_get(5)?,
        complete: row.try_get(6)?,
        thread_id: row.try_get(7)?,
        created_at: row.try_get(8)?,
        upload_expires_at: row.try_get(9)?,
    })
}

/// The columns [`auth_rule`] reads, as a literal for `concat!`.
macro_rules! auth_rule_columns {
    () => {
        "id, project_id, name, provider, issuer, audiences, jwks_url, discovery, shared_secret, algorithms, \
         clock_skew_secs, max_lifetime_secs, authorized_parties, workspace_template, workspace_fallback, name_claim, \
         token_type, created_at"
    };
}
pub(super) use auth_rule_columns;

pub(super) fn auth_rule(row: &PgRow) -> sqlx::Result<AuthRule> {
    Ok(AuthRule {
        id: row.try_get(0)?,
        project_id: row.try_get(1)?,
        name: row.try_get(2)?,
        provider: row.try_get(3)?,
        issuer: row.try_get(4)?,
        audiences: json_list(row, 5)?,
        jwks_url: row.try_get(6)?,
        discovery: row.try_get(7)?,
        shared_secret: row.try_get(8)?,
        algorithms: json_list(row, 9)?,
        clock_skew_secs: row.try_get(10)?,
        max_lifetime_secs: row.try_get(11)?,
        authorized_parties: json_list(row, 12)?,
        workspace_template: row.try_get(13)?,
        workspace_fallback: row.try_get(14)?,
        name_claim: row.try_get(15)?,
        token_type: row.try_get(16)?,
        created_at: row.try_get(17)?,
    })
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

pub(super) fn run(row: &PgRow) -> sqlx::Result<Run> {
    Ok(Run {
        id: row.try_get(0)?,
        scope: WorkspaceScope { project_id: row.try_get(1)?, workspace_id: row.try_get(2)? },
        thread_id: row.try_get(3)?,
        message_id: row.try_get(4)?,
        created_by: row.try_get(5)?,
        status: row.try_get(6)?,
        outcome_type: row.try_get(7)?,
        error_code: row.try_get(8)?,
        error: row.try_get(9)?,
        provider: row.try_get(10)?,
        model_id: row.try_get(11)?,
        environment: row.try_get(12)?,
        release: row.try_get(13)?,
        tags: json_list(row, 14)?,
        attributes: row.try_get(15)?,
        trace_id: row.try_get(16)?,
        root_span_id: row.try_get(17)?,
        service_name: row.try_get(18)?,
        agent_name: row.try_get(19)?,
        input_tokens: row.try_get(20)?,
        cached_input_tokens: row.try_get(21)?,
        output_tokens: row.try_get(22)?,
        reasoning_tokens: row.try_get(23)?,
        duration_ms: row.try_get(24)?,
        first_token_ms: row.try_get(25)?,
        cost_usd: row.try_get(26)?,
        cost_details: row.try_get(27)?,
        total_steps: row.try_get(28)?,
        output_text: row.try_get(29)?,
        steps: row.try_get(30)?,
        tool_calls: row.try_get(31)?,
        reported: row.try_get(32)?,
        traced: row.try_get(33)?,
        created_at: row.try_get(34)?,
        updated_at: row.try_get(35)?,
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

pub(super) fn span(row: &PgRow) -> sqlx::Result<SpanRecord> {
    Ok(SpanRecord {
        trace_id: row.try_get(0)?,
        span_id: row.try_get(1)?,
        parent_span_id: row.try_get(2)?,
        name: row.try_get(3)?,
        operation: row.try_get(4)?,
        span_type: row.try_get(5)?,
        provider: row.try_get(6)?,
        model_id: row.try_get(7)?,
        tool_name: row.try_get(8)?,
        tool_call_id: row.try_get(9)?,
        tool_source: row.try_get(10)?,
        input_tokens: row.try_get(11)?,
        cached_input_tokens: row.try_get(12)?,
        output_tokens: row.try_get(13)?,
        reasoning_tokens: row.try_get(14)?,
        started_at: row.try_get(15)?,
        ended_at: row.try_get(16)?,
        first_chunk_ms: row.try_get(17)?,
        status_code: row.try_get(18)?,
        error: row.try_get(19)?,
        error_type: row.try_get(20)?,
        finish_reason: row.try_get(21)?,
        input: row.try_get(22)?,
        output: row.try_get(23)?,
        attributes: row.try_get(24)?,
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

pub(super) fn score(row: &PgRow) -> sqlx::Result<ScoreRecord> {
    let target_type: String = row.try_get(2)?;
    let target_id: String = row.try_get(3)?;
    Ok(ScoreRecord {
        id: row.try_get(0)?,
        workspace_id: row.try_get(1)?,
        message_id: (target_type == "message").then(|| target_id.clone()),
        run_id: (target_type == "run").then_some(target_id),
        thread_id: row.try_get(4)?,
        name: row.try_get(5)?,
        data_type: row.try_get(6)?,
        value: row.try_get(7)?,
        string_value: row.try_get(8)?,
        source: row.try_get(9)?,
        author_id: row.try_get(10)?,
        comment: row.try_get(11)?,
        created_at: row.try_get(12)?,
        updated_at: row.try_get(13)?,
    })
}

/// A JSON array of strings stored as text. A damaged one is an error, never an
/// empty list: an empty origin or audience list would allow everything.
pub(super) fn json_list(row: &PgRow, index: usize) -> sqlx::Result<Vec<String>> {
    let text: String = row.try_get(index)?;
    serde_json::from_str(&text)
        .map_err(|error| sqlx::Error::ColumnDecode { index: index.to_string(), source: Box::new(error) })
}
