//! Export and import of the tables besides threads and messages, row by row
//! in key order, so a whole deployment moves between databases.

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use threadhold_domain::transfer::{
    AnonymousSessionRow, ApiKeyRow, AttachmentRow, AuthRuleRow, ExportRow, ExportTable, FeedbackRow, ProjectRow,
    RefreshTokenRow, ScoreRow, ServerSecretRow, SigningKeyRow, TableRow, TelemetryRow,
};

use serde_json::{Map, Value};

use crate::shared::list_json;
use crate::{StoreError, StoreResult};

/// A JSON array of strings stored as text; a damaged one is an error, never an empty list.
fn json_list(row: &PgRow, index: usize) -> sqlx::Result<Vec<String>> {
    let text: String = row.try_get(index)?;
    serde_json::from_str(&text)
        .map_err(|error| sqlx::Error::ColumnDecode { index: index.to_string(), source: Box::new(error) })
}

/// A page of `table` after the key `after` (keys compare as text), of one project or all.
pub(super) async fn export(
    c: &mut PgConnection,
    table: ExportTable,
    project_id: Option<&str>,
    after: &str,
    limit: u32,
) -> StoreResult<Vec<ExportRow>> {
    let limit = i64::from(limit);
    let (sql, decode): (&'static str, fn(&PgRow) -> sqlx::Result<ExportRow>) = match table {
        ExportTable::Runs => return export_runs(c, project_id, after, limit).await,
        ExportTable::Spans => return export_spans(c, project_id, after, limit).await,
        ExportTable::Projects => (
            "SELECT id, name, allowed_origins, anonymous_enabled, created_at FROM projects \
             WHERE id > $1 AND ($2::TEXT IS NULL OR id = $2) ORDER BY id LIMIT $3",
            |row| {
                Ok(ExportRow::Project(ProjectRow {
                    id: row.try_get(0)?,
                    name: row.try_get(1)?,
                    allowed_origins: json_list(row, 2)?,
                    anonymous_enabled: row.try_get(3)?,
                    created_at: row.try_get(4)?,
                }))
            },
        ),
        ExportTable::SigningKeys => (
            "SELECT kid, project_id, algorithm, private_der, public_raw, created_at FROM signing_keys \
             WHERE kid > $1 AND ($2::TEXT IS NULL OR project_id = $2) ORDER BY kid LIMIT $3",
            |row| {
                Ok(ExportRow::SigningKey(SigningKeyRow {
                    kid: row.try_get(0)?,
                    project_id: row.try_get(1)?,
                    algorithm: row.try_get(2)?,
                    private_der: row.try_get(3)?,
                    public_raw: row.try_get(4)?,
                    created_at: row.try_get(5)?,
                }))
            },
        ),
        ExportTable::ApiKeys => (
            "SELECT id, project_id, name, secret_hash, display_prefix, created_at, expires_at, last_used_at, revoked_at \
             FROM api_keys WHERE id > $1 AND ($2::TEXT IS NULL OR project_id = $2) ORDER BY id LIMIT $3",
            |row| {
                Ok(ExportRow::ApiKey(ApiKeyRow {
                    id: row.try_get(0)?,
                    project_id: row.try_get(1)?,
                    name: row.try_get(2)?,
                    secret_hash: row.try_get(3)?,
                    display_prefix: row.try_get(4)?,
                    created_at: row.try_get(5)?,
                    expires_at: row.try_get(6)?,
                    last_used_at: row.try_get(7)?,
                    revoked_at: row.try_get(8)?,
                }))
            },
        ),
        ExportTable::AuthRules => (
            "SELECT id, project_id, name, provider, issuer, audiences, jwks_url, discovery, shared_secret, algorithms, \
             clock_skew_secs, max_lifetime_secs, authorized_parties, workspace_template, workspace_fallback, name_claim, \
             token_type, created_at FROM auth_rules WHERE id > $1 AND ($2::TEXT IS NULL OR project_id = $2) ORDER BY id LIMIT $3",
            |row| {
                Ok(ExportRow::AuthRule(AuthRuleRow {
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
                }))
            },
        ),
        ExportTable::TitleSettings => (
            concat!(
                "SELECT ",
                super::titles::settings_columns!(),
                " FROM title_settings WHERE project_id > $1 AND ($2::TEXT IS NULL OR project_id = $2) \
                 ORDER BY project_id LIMIT $3"
            ),
            |row| super::titles::settings_row(row).map(ExportRow::TitleSettings),
        ),
        // Server secrets belong to the deployment, not to a project.
        ExportTable::ServerSecrets => (
            "SELECT name, value, created_at FROM server_secrets WHERE name > $1 AND $2 IS NULL ORDER BY name LIMIT $3",
            |row| {
                Ok(ExportRow::ServerSecret(ServerSecretRow {
                    name: row.try_get(0)?,
                    value: row.try_get(1)?,
                    created_at: row.try_get(2)?,
                }))
            },
        ),
        ExportTable::AnonymousSessions => (
            "SELECT id, project_id, user_id, created_at, last_used_at, expires_at, revoked_at, claimed_at \
             FROM anonymous_sessions WHERE id > $1 AND ($2::TEXT IS NULL OR project_id = $2) ORDER BY id LIMIT $3",
            |row| {
                Ok(ExportRow::AnonymousSession(AnonymousSessionRow {
                    id: row.try_get(0)?,
                    project_id: row.try_get(1)?,
                    user_id: row.try_get(2)?,
                    created_at: row.try_get(3)?,
                    last_used_at: row.try_get(4)?,
                    expires_at: row.try_get(5)?,
                    revoked_at: row.try_get(6)?,
                    claimed_at: row.try_get(7)?,
                }))
            },
        ),
        ExportTable::RefreshTokens => (
            "SELECT token_hash, session_id, parent_hash, created_at, rotated_at FROM refresh_tokens \
             WHERE token_hash > $1 AND ($2::TEXT IS NULL OR session_id IN (SELECT id FROM anonymous_sessions WHERE project_id = $2)) \
             ORDER BY token_hash LIMIT $3",
            |row| {
                Ok(ExportRow::RefreshToken(RefreshTokenRow {
                    token_hash: row.try_get(0)?,
                    session_id: row.try_get(1)?,
                    parent_hash: row.try_get(2)?,
                    created_at: row.try_get(3)?,
                    rotated_at: row.try_get(4)?,
                }))
            },
        ),
        ExportTable::Attachments => (
            "SELECT key, project_id, workspace_id, filename, content_type, size, complete, thread_id, created_at, \
             upload_expires_at FROM attachments WHERE key > $1 AND ($2::TEXT IS NULL OR project_id = $2) ORDER BY key LIMIT $3",
            |row| {
                Ok(ExportRow::Attachment(AttachmentRow {
                    key: row.try_get(0)?,
                    project_id: row.try_get(1)?,
                    workspace_id: row.try_get(2)?,
                    filename: row.try_get(3)?,
                    content_type: row.try_get(4)?,
                    size: row.try_get(5)?,
                    complete: row.try_get(6)?,
                    thread_id: row.try_get(7)?,
                    created_at: row.try_get(8)?,
                    upload_expires_at: row.try_get(9)?,
                }))
            },
        ),
        ExportTable::Feedback => (
            "SELECT f.id, f.message_id, f.user_id, f.kind, f.comment, f.created_at, f.updated_at FROM feedback f \
             WHERE f.id > $1 AND ($2::TEXT IS NULL OR f.message_id IN \
               (SELECT m.id FROM messages m JOIN threads t ON t.id = m.thread_id WHERE t.project_id = $2)) \
             ORDER BY f.id LIMIT $3",
            |row| {
                Ok(ExportRow::Feedback(FeedbackRow {
                    id: row.try_get(0)?,
                    message_id: row.try_get(1)?,
                    user_id: row.try_get(2)?,
                    rating: row.try_get(3)?,
                    comment: row.try_get(4)?,
                    created_at: row.try_get(5)?,
                    updated_at: row.try_get(6)?,
                }))
            },
        ),
        ExportTable::Telemetry => (
            "SELECT id, record_type, project_id, workspace_id, user_id, thread_id, kind, body, created_at FROM telemetry \
             WHERE id > $1 AND ($2::TEXT IS NULL OR project_id = $2) ORDER BY id LIMIT $3",
            |row| {
                Ok(ExportRow::Telemetry(TelemetryRow {
                    id: row.try_get(0)?,
                    record_type: row.try_get(1)?,
                    project_id: row.try_get(2)?,
                    workspace_id: row.try_get(3)?,
                    user_id: row.try_get(4)?,
                    thread_id: row.try_get(5)?,
                    label: row.try_get(6)?,
                    body: row.try_get(7)?,
                    created_at: row.try_get(8)?,
                }))
            },
        ),
        ExportTable::Scores => (
            "SELECT id, project_id, workspace_id, author, target_type, target_id, thread_id, name, data_type, value, \
             string_value, comment, created_at, updated_at FROM scores \
             WHERE id > $1 AND ($2::TEXT IS NULL OR project_id = $2) ORDER BY id LIMIT $3",
            |row| {
                Ok(ExportRow::Score(ScoreRow {
                    id: row.try_get(0)?,
                    project_id: row.try_get(1)?,
                    workspace_id: row.try_get(2)?,
                    author: row.try_get(3)?,
                    target_type: row.try_get(4)?,
                    target_id: row.try_get(5)?,
                    thread_id: row.try_get(6)?,
                    name: row.try_get(7)?,
                    data_type: row.try_get(8)?,
                    value: row.try_get(9)?,
                    string_value: row.try_get(10)?,
                    comment: row.try_get(11)?,
                    created_at: row.try_get(12)?,
                    updated_at: row.try_get(13)?,
                }))
            },
        ),
    };
    let rows = sqlx::query(sql).bind(after).bind(project_id).bind(limit).fetch_all(c).await?;
    Ok(rows.iter().map(decode).collect::<Result<_, _>>()?)
}

/// Inserts an exported row unless its key exists (a project's settings are
/// taken over, so the default project the target made itself becomes the
/// exported one); true when a row was written.
pub(super) async fn import(c: &mut PgConnection, row: &ExportRow) -> StoreResult<bool> {
    let query = match row {
        ExportRow::Run(r) => sqlx::query(
            "INSERT INTO runs SELECT * FROM json_populate_record(NULL::runs, $1::json) ON CONFLICT DO NOTHING",
        )
        .bind(Value::Object(r.columns.clone()).to_string()),
        ExportRow::Span(r) => sqlx::query(
            "INSERT INTO spans SELECT * FROM json_populate_record(NULL::spans, $1::json) ON CONFLICT DO NOTHING",
        )
        .bind(Value::Object(r.columns.clone()).to_string()),
        ExportRow::Project(r) => sqlx::query(
            "INSERT INTO projects (id, name, allowed_origins, anonymous_enabled, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
             allowed_origins = excluded.allowed_origins, anonymous_enabled = excluded.anonymous_enabled \
                 WHERE projects.name <> excluded.name OR projects.allowed_origins <> excluded.allowed_origins \
                 OR projects.anonymous_enabled <> excluded.anonymous_enabled",
        )
        .bind(&r.id)
        .bind(&r.name)
        .bind(list_json(&r.allowed_origins))
        .bind(r.anonymous_enabled)
        .bind(r.created_at),
        ExportRow::SigningKey(r) => sqlx::query(
            "INSERT INTO signing_keys (kid, project_id, algorithm, private_der, public_raw, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(&r.kid)
        .bind(&r.project_id)
        .bind(&r.algorithm)
        .bind(&r.private_der)
        .bind(&r.public_raw)
        .bind(r.created_at),
        ExportRow::ApiKey(r) => sqlx::query(
            "INSERT INTO api_keys (id, project_id, name, secret_hash, display_prefix, created_at, expires_at, \
             last_used_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
        )
        .bind(&r.id)
        .bind(&r.project_id)
        .bind(&r.name)
        .bind(&r.secret_hash)
        .bind(&r.display_prefix)
        .bind(r.created_at)
        .bind(r.expires_at)
        .bind(r.last_used_at)
        .bind(r.revoked_at),
        ExportRow::AuthRule(r) => sqlx::query(
            "INSERT INTO auth_rules (id, project_id, name, provider, issuer, audiences, jwks_url, discovery, \
             shared_secret, algorithms, clock_skew_secs, max_lifetime_secs, authorized_parties, workspace_template, \
             workspace_fallback, name_claim, token_type, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&r.id)
        .bind(&r.project_id)
        .bind(&r.name)
        .bind(&r.provider)
        .bind(&r.issuer)
        .bind(list_json(&r.audiences))
        .bind(&r.jwks_url)
        .bind(r.discovery)
        .bind(&r.shared_secret)
        .bind(list_json(&r.algorithms))
        .bind(r.clock_skew_secs)
        .bind(r.max_lifetime_secs)
        .bind(list_json(&r.authorized_parties))
        .bind(&r.workspace_template)
        .bind(&r.workspace_fallback)
        .bind(&r.name_claim)
        .bind(&r.token_type)
        .bind(r.created_at),
        // A secret the target generated itself gives way to the exported one.
        ExportRow::TitleSettings(r) => sqlx::query(
            "INSERT INTO title_settings (project_id, enabled, base_url, model, api_key_file, api_key_env, api_style, \
             api_version, language, words, instructions, timeout_ms, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING",
        )
        .bind(&r.project_id)
        .bind(r.enabled)
        .bind(&r.base_url)
        .bind(&r.model)
        .bind(&r.api_key_file)
        .bind(&r.api_key_env)
        .bind(&r.api_style)
        .bind(&r.api_version)
        .bind(&r.language)
        .bind(i32::try_from(r.words).unwrap_or(i32::MAX))
        .bind(&r.instructions)
        .bind(r.timeout_ms)
        .bind(r.updated_at),
        ExportRow::ServerSecret(r) => sqlx::query(
            "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, created_at = excluded.created_at \
             WHERE server_secrets.value <> excluded.value",
        )
        .bind(&r.name)
        .bind(&r.value)
        .bind(r.created_at),
        ExportRow::AnonymousSession(r) => sqlx::query(
            "INSERT INTO anonymous_sessions (id, project_id, user_id, created_at, last_used_at, expires_at, \
             revoked_at, claimed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        )
        .bind(&r.id)
        .bind(&r.project_id)
        .bind(&r.user_id)
        .bind(r.created_at)
        .bind(r.last_used_at)
        .bind(r.expires_at)
        .bind(r.revoked_at)
        .bind(r.claimed_at),
        ExportRow::RefreshToken(r) => sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, session_id, parent_hash, created_at, rotated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(&r.token_hash)
        .bind(&r.session_id)
        .bind(&r.parent_hash)
        .bind(r.created_at)
        .bind(r.rotated_at),
        ExportRow::Attachment(r) => sqlx::query(
            "INSERT INTO attachments (key, project_id, workspace_id, filename, content_type, size, complete, \
             thread_id, created_at, upload_expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&r.key)
        .bind(&r.project_id)
        .bind(&r.workspace_id)
        .bind(&r.filename)
        .bind(&r.content_type)
        .bind(r.size)
        .bind(r.complete)
        .bind(&r.thread_id)
        .bind(r.created_at)
        .bind(r.upload_expires_at),
        ExportRow::Feedback(r) => sqlx::query(
            "INSERT INTO feedback (id, message_id, user_id, kind, comment, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .bind(&r.id)
        .bind(&r.message_id)
        .bind(&r.user_id)
        .bind(&r.rating)
        .bind(&r.comment)
        .bind(r.created_at)
        .bind(r.updated_at),
        ExportRow::Telemetry(r) => sqlx::query(
            "INSERT INTO telemetry (id, record_type, project_id, workspace_id, user_id, thread_id, kind, body, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
        )
        .bind(&r.id)
        .bind(&r.record_type)
        .bind(&r.project_id)
        .bind(&r.workspace_id)
        .bind(&r.user_id)
        .bind(&r.thread_id)
        .bind(&r.label)
        .bind(&r.body)
        .bind(r.created_at),
        ExportRow::Score(r) => sqlx::query(
            "INSERT INTO scores (id, project_id, workspace_id, author, target_type, target_id, thread_id, name, \
             data_type, value, string_value, comment, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT DO NOTHING",
        )
        .bind(&r.id)
        .bind(&r.project_id)
        .bind(&r.workspace_id)
        .bind(&r.author)
        .bind(&r.target_type)
        .bind(&r.target_id)
        .bind(&r.thread_id)
        .bind(&r.name)
        .bind(&r.data_type)
        .bind(r.value)
        .bind(&r.string_value)
        .bind(&r.comment)
        .bind(r.created_at)
        .bind(r.updated_at),
    };
    let inserted = query.execute(&mut *c).await?.rows_affected();
    let setting = matches!(
        row,
        ExportRow::Project(_)
            | ExportRow::SigningKey(_)
            | ExportRow::ApiKey(_)
            | ExportRow::AuthRule(_)
            | ExportRow::TitleSettings(_)
    );
    if setting && inserted == 1 {
        super::projects::bump_settings(c).await?;
    }
    Ok(inserted == 1)
}

async fn export_runs(
    c: &mut PgConnection,
    project_id: Option<&str>,
    after: &str,
    limit: i64,
) -> StoreResult<Vec<ExportRow>> {
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT row_to_json(r)::text FROM runs r WHERE id > $1 AND ($2::TEXT IS NULL OR project_id = $2) \
         ORDER BY id LIMIT $3",
    )
    .bind(after)
    .bind(project_id)
    .bind(limit)
    .fetch_all(c)
    .await?;
    rows.iter()
        .map(|text| {
            let columns = wide_row(text)?;
            let key = columns.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
            Ok(ExportRow::Run(TableRow { columns, key }))
        })
        .collect()
}

async fn export_spans(
    c: &mut PgConnection,
    project_id: Option<&str>,
    after: &str,
    limit: i64,
) -> StoreResult<Vec<ExportRow>> {
    let (after_run, after_span) = after.split_once(' ').unwrap_or((after, ""));
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT row_to_json(s)::text FROM spans s WHERE (run_id, span_id) > ($1, $4) \
         AND ($2::TEXT IS NULL OR run_id IN (SELECT id FROM runs WHERE project_id = $2)) \
         ORDER BY run_id, span_id LIMIT $3",
    )
    .bind(after_run)
    .bind(project_id)
    .bind(limit)
    .bind(after_span)
    .fetch_all(c)
    .await?;
    rows.iter()
        .map(|text| {
            let columns = wide_row(text)?;
            let field = |name: &str| columns.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
            let key = format!("{} {}", field("run_id"), field("span_id"));
            Ok(ExportRow::Span(TableRow { columns, key }))
        })
        .collect()
}

fn wide_row(text: &str) -> StoreResult<Map<String, Value>> {
    serde_json::from_str(text).map_err(|error| StoreError::Database(format!("row_to_json: {error}")))
}
