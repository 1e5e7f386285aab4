//! Export and import of the tables besides threads and messages, row by row
//! in key order, so a whole deployment moves between databases.

use rusqlite::types::ValueRef;
use rusqlite::{Connection, Row, params};
use serde_json::{Map, Value};
use threadhold_domain::transfer::{
    AnonymousSessionRow, ApiKeyRow, AttachmentRow, AuthRuleRow, ExportRow, ExportTable, FeedbackRow, ProjectRow,
    RefreshTokenRow, ScoreRow, ServerSecretRow, SigningKeyRow, TableRow, TelemetryRow,
};

use super::rows::JsonList;
use crate::StoreResult;
use crate::shared::list_json;

/// A page of `table` after the key `after` (keys compare as text), of one project or all.
pub(super) fn export(
    c: &Connection,
    table: ExportTable,
    project_id: Option<&str>,
    after: &str,
    limit: u32,
) -> StoreResult<Vec<ExportRow>> {
    let limit = i64::from(limit);
    let (sql, decode): (&str, fn(&Row) -> rusqlite::Result<ExportRow>) = match table {
        ExportTable::Runs => return export_runs(c, project_id, after, limit),
        ExportTable::Spans => return export_spans(c, project_id, after, limit),
        ExportTable::Projects => (
            "SELECT id, name, allowed_origins, anonymous_enabled, created_at FROM projects \
             WHERE id > ?1 AND (?2 IS NULL OR id = ?2) ORDER BY id LIMIT ?3 + 0",
            |row| {
                Ok(ExportRow::Project(ProjectRow {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    allowed_origins: row.get::<_, JsonList>(2)?.0,
                    anonymous_enabled: row.get(3)?,
                    created_at: row.get(4)?,
                }))
            },
        ),
        ExportTable::SigningKeys => (
            "SELECT kid, project_id, algorithm, private_der, public_raw, created_at FROM signing_keys \
             WHERE kid > ?1 AND (?2 IS NULL OR project_id = ?2) ORDER BY kid LIMIT ?3 + 0",
            |row| {
                Ok(ExportRow::SigningKey(SigningKeyRow {
                    kid: row.get(0)?,
                    project_id: row.get(1)?,
                    algorithm: row.get(2)?,
                    private_der: row.get(3)?,
                    public_raw: row.get(4)?,
                    created_at: row.get(5)?,
                }))
            },
        ),
        ExportTable::ApiKeys => (
            "SELECT id, project_id, name, secret_hash, display_prefix, created_at, expires_at, last_used_at, revoked_at \
             FROM api_keys WHERE id > ?1 AND (?2 IS NULL OR project_id = ?2) ORDER BY id LIMIT ?3 + 0",
            |row| {
                Ok(ExportRow::ApiKey(ApiKeyRow {
                    id: row.get(0)?,
                    project_id: row.get(1)?,
                    name: row.get(2)?,
                    secret_hash: row.get(3)?,
                    display_prefix: row.get(4)?,
                    created_at: row.get(5)?,
                    expires_at: row.get(6)?,
                    last_used_at: row.get(7)?,
                    revoked_at: row.get(8)?,
                }))
            },
        ),
        ExportTable::AuthRules => (
            "SELECT id, project_id, name, provider, issuer, audiences, jwks_url, discovery, shared_secret, algorithms, \
             clock_skew_secs, max_lifetime_secs, authorized_parties, workspace_template, workspace_fallback, name_claim, \
             token_type, created_at FROM auth_rules WHERE id > ?1 AND (?2 IS NULL OR project_id = ?2) ORDER BY id LIMIT ?3 + 0",
            |row| {
                Ok(ExportRow::AuthRule(AuthRuleRow {
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
                }))
            },
        ),
        ExportTable::TitleSettings => (
            concat!(
                "SELECT ",
                super::titles::settings_columns!(),
                " FROM title_settings WHERE project_id > ?1 AND (?2 IS NULL OR project_id = ?2) \
                 ORDER BY project_id LIMIT ?3 + 0"
            ),
            |row| super::titles::settings_row(row).map(ExportRow::TitleSettings),
        ),
        // Server secrets belong to the deployment, not to a project.
        ExportTable::ServerSecrets => (
            "SELECT name, value, created_at FROM server_secrets WHERE name > ?1 AND ?2 IS NULL ORDER BY name LIMIT ?3 + 0",
            |row| {
                Ok(ExportRow::ServerSecret(ServerSecretRow {
                    name: row.get(0)?,
                    value: row.get(1)?,
                    created_at: row.get(2)?,
                }))
            },
        ),
        ExportTable::AnonymousSessions => (
            "SELECT id, project_id, user_id, created_at, last_used_at, expires_at, revoked_at, claimed_at \
             FROM anonymous_sessions WHERE id > ?1 AND (?2 IS NULL OR project_id = ?2) ORDER BY id LIMIT ?3 + 0",
            |row| {
                Ok(ExportRow::AnonymousSession(AnonymousSessionRow {
                    id: row.get(0)?,
                    project_id: row.get(1)?,
                    user_id: row.get(2)?,
                    created_at: row.get(3)?,
                    last_used_at: row.get(4)?,
                    expires_at: row.get(5)?,
                    revoked_at: row.get(6)?,
                    claimed_at: row.get(7)?,
                }))
            },
        ),
        ExportTable::RefreshTokens => (
            "SELECT token_hash, session_id, parent_hash, created_at, rotated_at FROM refresh_tokens \
             WHERE token_hash > ?1 AND (?2 IS NULL OR session_id IN (SELECT id FROM anonymous_sessions WHERE project_id = ?2)) \
             ORDER BY token_hash LIMIT ?3 + 0",
            |row| {
                Ok(ExportRow::RefreshToken(RefreshTokenRow {
                    token_hash: row.get(0)?,
                    session_id: row.get(1)?,
                    parent_hash: row.get(2)?,
                    created_at: row.get(3)?,
                    rotated_at: row.get(4)?,
                }))
            },
        ),
        ExportTable::Attachments => (
            "SELECT key, project_id, workspace_id, filename, content_type, size, complete, thread_id, created_at, \
             upload_expires_at FROM attachments WHERE key > ?1 AND (?2 IS NULL OR project_id = ?2) ORDER BY key LIMIT ?3 + 0",
            |row| {
                Ok(ExportRow::Attachment(AttachmentRow {
                    key: row.get(0)?,
                    project_id: row.get(1)?,
                    workspace_id: row.get(2)?,
                    filename: row.get(3)?,
                    content_type: row.get(4)?,
                    size: row.get(5)?,
                    complete: row.get(6)?,
                    thread_id: row.get(7)?,
                    created_at: row.get(8)?,
                    upload_expires_at: row.get(9)?,
                }))
            },
        ),
        ExportTable::Feedback => (
            "SELECT f.id, f.message_id, f.user_id, f.kind, f.comment, f.created_at, f.updated_at FROM feedback f \
             WHERE f.id > ?1 AND (?2 IS NULL OR f.message_id IN \
               (SELECT m.id FROM messages m JOIN threads t ON t.id = m.thread_id WHERE t.project_id = ?2)) \
             ORDER BY f.id LIMIT ?3 + 0",
            |row| {
                Ok(ExportRow::Feedback(FeedbackRow {
                    id: row.get(0)?,
                    message_id: row.get(1)?,
                    user_id: row.get(2)?,
                    rating: row.get(3)?,
                    comment: row.get(4)?,
                    created_at: row.get(5)?,
                    updated_at: row.get(6)?,
                }))
            },
        ),
        ExportTable::Telemetry => (
            "SELECT id, record_type, project_id, workspace_id, user_id, thread_id, kind, body, created_at FROM telemetry \
             WHERE id > ?1 AND (?2 IS NULL OR project_id = ?2) ORDER BY id LIMIT ?3 + 0",
            |row| {
                Ok(ExportRow::Telemetry(TelemetryRow {
                    id: row.get(0)?,
                    record_type: row.get(1)?,
                    project_id: row.get(2)?,
                    workspace_id: row.get(3)?,
                    user_id: row.get(4)?,
                    thread_id: row.get(5)?,
                    label: row.get(6)?,
                    body: row.get(7)?,
                    created_at: row.get(8)?,
                }))
            },
        ),
        ExportTable::Scores => (
            "SELECT id, project_id, workspace_id, author, target_type, target_id, thread_id, name, data_type, value, \
             string_value, comment, created_at, updated_at FROM scores \
             WHERE id > ?1 AND (?2 IS NULL OR project_id = ?2) ORDER BY id LIMIT ?3 + 0",
            |row| {
                Ok(ExportRow::Score(ScoreRow {
                    id: row.get(0)?,
                    project_id: row.get(1)?,
                    workspace_id: row.get(2)?,
                    author: row.get(3)?,
                    target_type: row.get(4)?,
                    target_id: row.get(5)?,
                    thread_id: row.get(6)?,
                    name: row.get(7)?,
                    data_type: row.get(8)?,
                    value: row.get(9)?,
                    string_value: row.get(10)?,
                    comment: row.get(11)?,
                    created_at: row.get(12)?,
                    updated_at: row.get(13)?,
                }))
            },
        ),
    };
    Ok(c.prepare_cached(sql)?.query_map(params![after, project_id, limit], decode)?.collect::<Result<_, _>>()?)
}

/// Inserts an exported row unless its key exists (a project's settings are
/// taken over, so the default project the target made itself becomes the
/// exported one); true when a row was written.
pub(super) fn import(c: &Connection, row: &ExportRow) -> StoreResult<bool> {
    let inserted = match row {
        ExportRow::Run(r) => import_wide(c, "runs", r)?,
        ExportRow::Span(r) => import_wide(c, "spans", r)?,
        ExportRow::Project(r) => c
            .prepare_cached(
                "INSERT INTO projects (id, name, allowed_origins, anonymous_enabled, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
                 allowed_origins = excluded.allowed_origins, anonymous_enabled = excluded.anonymous_enabled \
                 WHERE projects.name <> excluded.name OR projects.allowed_origins <> excluded.allowed_origins \
                 OR projects.anonymous_enabled <> excluded.anonymous_enabled",
            )?
            .execute(params![r.id, r.name, list_json(&r.allowed_origins), r.anonymous_enabled, r.created_at])?,
        ExportRow::SigningKey(r) => c
            .prepare_cached(
                "INSERT INTO signing_keys (kid, project_id, algorithm, private_der, public_raw, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
            )?
            .execute(params![r.kid, r.project_id, r.algorithm, r.private_der, r.public_raw, r.created_at])?,
        ExportRow::ApiKey(r) => c
            .prepare_cached(
                "INSERT INTO api_keys (id, project_id, name, secret_hash, display_prefix, created_at, expires_at, \
                 last_used_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT DO NOTHING",
            )?
            .execute(params![
                r.id,
                r.project_id,
                r.name,
                r.secret_hash,
                r.display_prefix,
                r.created_at,
                r.expires_at,
                r.last_used_at,
                r.revoked_at
            ])?,
        ExportRow::AuthRule(r) => c
            .prepare_cached(
                "INSERT INTO auth_rules (id, project_id, name, provider, issuer, audiences, jwks_url, discovery, \
                 shared_secret, algorithms, clock_skew_secs, max_lifetime_secs, authorized_parties, workspace_template, \
                 workspace_fallback, name_claim, token_type, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18) \
                 ON CONFLICT DO NOTHING",
            )?
            .execute(params![
                r.id,
                r.project_id,
                r.name,
                r.provider,
                r.issuer,
                list_json(&r.audiences),
                r.jwks_url,
                r.discovery,
                r.shared_secret,
                list_json(&r.algorithms),
                r.clock_skew_secs,
                r.max_lifetime_secs,
                list_json(&r.authorized_parties),
                r.workspace_template,
                r.workspace_fallback,
                r.name_claim,
                r.token_type,
                r.created_at
            ])?,
        // A secret the target generated itself (it signed nothing yet that matters) gives way to the exported one.
        ExportRow::TitleSettings(r) => c
            .prepare_cached(
                "INSERT INTO title_settings (project_id, enabled, base_url, model, api_key_file, api_key_env, \
                 api_style, api_version, language, words, instructions, timeout_ms, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) ON CONFLICT DO NOTHING",
            )?
            .execute(params![
                r.project_id,
                r.enabled,
                r.base_url,
                r.model,
                r.api_key_file,
                r.api_key_env,
                r.api_style,
                r.api_version,
                r.language,
                r.words,
                r.instructions,
                r.timeout_ms,
                r.updated_at
            ])?,
        ExportRow::ServerSecret(r) => c
            .prepare_cached(
                "INSERT INTO server_secrets (name, value, created_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value, created_at = excluded.created_at \
                 WHERE server_secrets.value <> excluded.value",
            )?
            .execute(params![r.name, r.value, r.created_at])?,
        ExportRow::AnonymousSession(r) => c
            .prepare_cached(
                "INSERT INTO anonymous_sessions (id, project_id, user_id, created_at, last_used_at, expires_at, \
                 revoked_at, claimed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING",
            )?
            .execute(params![
                r.id,
                r.project_id,
                r.user_id,
                r.created_at,
                r.last_used_at,
                r.expires_at,
                r.revoked_at,
                r.claimed_at
            ])?,
        ExportRow::RefreshToken(r) => c
            .prepare_cached(
                "INSERT INTO refresh_tokens (token_hash, session_id, parent_hash, created_at, rotated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
            )?
            .execute(params![r.token_hash, r.session_id, r.parent_hash, r.created_at, r.rotated_at])?,
        ExportRow::Attachment(r) => c
            .prepare_cached(
                "INSERT INTO attachments (key, project_id, workspace_id, filename, content_type, size, complete, \
                 thread_id, created_at, upload_expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
                 ON CONFLICT DO NOTHING",
            )?
            .execute(params![
                r.key,
                r.project_id,
                r.workspace_id,
                r.filename,
                r.content_type,
                r.size,
                r.complete,
                r.thread_id,
                r.created_at,
                r.upload_expires_at
            ])?,
        ExportRow::Feedback(r) => c
            .prepare_cached(
                "INSERT INTO feedback (id, message_id, user_id, kind, comment, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
            )?
            .execute(params![r.id, r.message_id, r.user_id, r.rating, r.comment, r.created_at, r.updated_at])?,
        ExportRow::Telemetry(r) => c
            .prepare_cached(
                "INSERT INTO telemetry (id, record_type, project_id, workspace_id, user_id, thread_id, kind, body, \
                 created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT DO NOTHING",
            )?
            .execute(params![
                r.id,
                r.record_type,
                r.project_id,
                r.workspace_id,
                r.user_id,
                r.thread_id,
                r.label,
                r.body,
                r.created_at
            ])?,
        ExportRow::Score(r) => c
            .prepare_cached(
                "INSERT INTO scores (id, project_id, workspace_id, author, target_type, target_id, thread_id, name, \
                 data_type, value, string_value, comment, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) ON CONFLICT DO NOTHING",
            )?
            .execute(params![
                r.id,
                r.project_id,
                r.workspace_id,
                r.author,
                r.target_type,
                r.target_id,
                r.thread_id,
                r.name,
                r.data_type,
                r.value,
                r.string_value,
                r.comment,
                r.created_at,
                r.updated_at
            ])?,
    };
    let setting = matches!(
        row,
        ExportRow::Project(_)
            | ExportRow::SigningKey(_)
            | ExportRow::ApiKey(_)
            | ExportRow::AuthRule(_)
            | ExportRow::TitleSettings(_)
    );
    if setting && inserted == 1 {
        super::projects::bump_settings(c)?;
    }
    Ok(inserted == 1)
}

fn export_runs(c: &Connection, project_id: Option<&str>, after: &str, limit: i64) -> StoreResult<Vec<ExportRow>> {
    let mut statement = c.prepare_cached(
        "SELECT * FROM runs WHERE id > ?1 AND (?2 IS NULL OR project_id = ?2) ORDER BY id LIMIT ?3 + 0",
    )?;
    let rows = statement.query_map(params![after, project_id, limit], wide_row)?;
    rows.map(|row| {
        let columns = row?;
        let key = columns.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
        Ok(ExportRow::Run(TableRow { columns, key }))
    })
    .collect()
}

fn export_spans(c: &Connection, project_id: Option<&str>, after: &str, limit: i64) -> StoreResult<Vec<ExportRow>> {
    let (after_run, after_span) = after.split_once(' ').unwrap_or((after, ""));
    let mut statement = c.prepare_cached(
        "SELECT * FROM spans WHERE (run_id, span_id) > (?1, ?4) \
         AND (?2 IS NULL OR run_id IN (SELECT id FROM runs WHERE project_id = ?2)) ORDER BY run_id, span_id LIMIT ?3 + 0",
    )?;
    let rows = statement.query_map(params![after_run, project_id, limit, after_span], wide_row)?;
    rows.map(|row| {
        let columns = row?;
        let text = |name: &str| columns.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
        let key = format!("{} {}", text("run_id"), text("span_id"));
        Ok(ExportRow::Span(TableRow { columns, key }))
    })
    .collect()
}

/// Every column of a row as JSON (these tables hold no blobs).
fn wide_row(row: &Row) -> rusqlite::Result<Map<String, Value>> {
    let statement = row.as_ref();
    let mut columns = Map::new();
    for index in 0..statement.column_count() {
        let value = match row.get_ref(index)? {
            ValueRef::Null | ValueRef::Blob(_) => Value::Null,
            ValueRef::Integer(number) => Value::from(number),
            ValueRef::Real(number) => serde_json::Number::from_f64(number).map_or(Value::Null, Value::Number),
            ValueRef::Text(text) => Value::String(String::from_utf8_lossy(text).into_owned()),
        };
        columns.insert(statement.column_name(index)?.to_owned(), value);
    }
    Ok(columns)
}

/// Inserts a wide row, naming only columns the table has (names come from the
/// export file, so they are checked against the schema, never trusted).
fn import_wide(c: &Connection, table: &str, row: &TableRow) -> StoreResult<usize> {
    let known: Vec<String> = c
        .prepare_cached(&format!("SELECT name FROM pragma_table_info('{table}')"))?
        .query_map([], |column| column.get(0))?
        .collect::<Result<_, _>>()?;
    let columns: Vec<(&String, &Value)> = row.columns.iter().filter(|(name, _)| known.contains(name)).collect();
    if columns.is_empty() {
        return Ok(0);
    }
    let names: Vec<&str> = columns.iter().map(|(name, _)| name.as_str()).collect();
    let holes: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
    let sql =
        format!("INSERT INTO {table} ({}) VALUES ({}) ON CONFLICT DO NOTHING", names.join(", "), holes.join(", "));
    let values: Vec<rusqlite::types::Value> = columns
        .iter()
        .map(|(_, value)| match value {
            Value::Null => rusqlite::types::Value::Null,
            Value::Bool(flag) => rusqlite::types::Value::Integer(i64::from(*flag)),
            Value::Number(number) => match number.as_i64() {
                Some(integer) => rusqlite::types::Value::Integer(integer),
                None => rusqlite::types::Value::Real(number.as_f64().unwrap_or_default()),
            },
            Value::String(text) => rusqlite::types::Value::Text(text.clone()),
            other => rusqlite::types::Value::Text(other.to_string()),
        })
        .collect();
    Ok(c.prepare_cached(&sql)?.execute(rusqlite::params_from_iter(values))?)
}
