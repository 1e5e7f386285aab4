//! Titles written by a model: a project's title settings, and the attempt
//! bookkeeping on threads that keeps the three triggers from titling a thread
//! twice or replacing a title a user set. A claim locks the thread row, so
//! claims on several nodes start one attempt.

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use threadhold_domain::Millis;
use threadhold_domain::model::WorkspaceScope;
use threadhold_domain::title::settings::TitleSettings;
use threadhold_domain::title::state::{TitleCandidate, TitleClaim, TitleOrigin, TitleState};
use threadhold_domain::transfer::TitleSettingsRow;

use super::projects::bump_settings;
use crate::{StoreError, StoreResult};

/// The columns [`settings_row`] reads, as a literal for `concat!`.
macro_rules! settings_columns {
    () => {
        "project_id, enabled, base_url, model, api_key_file, api_key_env, api_style, api_version, language, words, \
         instructions, timeout_ms, updated_at"
    };
}
pub(super) use settings_columns;

/// A `title_settings` row as stored (also the export's row).
pub(super) fn settings_row(row: &PgRow) -> sqlx::Result<TitleSettingsRow> {
    Ok(TitleSettingsRow {
        project_id: row.try_get(0)?,
        enabled: row.try_get(1)?,
        base_url: row.try_get(2)?,
        model: row.try_get(3)?,
        api_key_file: row.try_get(4)?,
        api_key_env: row.try_get(5)?,
        api_style: row.try_get(6)?,
        api_version: row.try_get(7)?,
        language: row.try_get(8)?,
        words: i64::from(row.try_get::<i32, _>(9)?),
        instructions: row.try_get(10)?,
        timeout_ms: row.try_get(11)?,
        updated_at: row.try_get(12)?,
    })
}

pub(super) async fn settings(c: &mut PgConnection, project_id: &str) -> StoreResult<Option<TitleSettings>> {
    let row = sqlx::query(concat!("SELECT ", settings_columns!(), " FROM title_settings WHERE project_id = $1"))
        .bind(project_id)
        .fetch_optional(c)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let settings = TitleSettings::try_from(settings_row(&row)?)
        .map_err(|error| StoreError::Database(format!("title_settings: {error}")))?;
    Ok(Some(settings))
}

pub(super) async fn put_settings(c: &mut PgConnection, settings: &TitleSettings) -> StoreResult<bool> {
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM projects WHERE id = $1")
        .bind(&settings.project_id)
        .fetch_optional(&mut *c)
        .await?;
    if exists.is_none() {
        return Ok(false);
    }
    let r = TitleSettingsRow::from(settings);
    sqlx::query(
        "INSERT INTO title_settings (project_id, enabled, base_url, model, api_key_file, api_key_env, api_style, \
         api_version, language, words, instructions, timeout_ms, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT (project_id) DO UPDATE SET enabled = excluded.enabled, base_url = excluded.base_url, \
         model = excluded.model, api_key_file = excluded.api_key_file, api_key_env = excluded.api_key_env, \
         api_style = excluded.api_style, api_version = excluded.api_version, language = excluded.language, \
         words = excluded.words, instructions = excluded.instructions, timeout_ms = excluded.timeout_ms, \
         updated_at = excluded.updated_at",
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
    .bind(r.updated_at)
    .execute(&mut *c)
    .await?;
    bump_settings(c).await?;
    Ok(true)
}

pub(super) async fn set_enabled(
    c: &mut PgConnection,
    project_id: &str,
    enabled: bool,
    now: Millis,
) -> StoreResult<bool> {
    let changed = sqlx::query("UPDATE title_settings SET enabled = $2, updated_at = $3 WHERE project_id = $1")
        .bind(project_id)
        .bind(enabled)
        .bind(now)
        .execute(&mut *c)
        .await?
        .rows_affected();
    if changed == 1 {
        bump_settings(c).await?;
    }
    Ok(changed == 1)
}

fn state_row(row: &PgRow) -> StoreResult<TitleState> {
    let title: Option<String> = row.try_get(0)?;
    let attempts: i32 = row.try_get(3)?;
    Ok(TitleState {
        origin: TitleOrigin::of(title.as_deref(), row.try_get(1)?, row.try_get(2)?),
        title,
        attempts: u32::try_from(attempts).unwrap_or(0),
        running_since: row.try_get(4)?,
    })
}

/// With `lock`, the row stays locked until the transaction ends.
async fn read_state(
    c: &mut PgConnection,
    scope: &WorkspaceScope,
    thread_id: &str,
    lock: bool,
) -> StoreResult<Option<TitleState>> {
    let sql = if lock {
        "SELECT title, title_from_user, title_by_model, title_attempts, title_attempt_at FROM threads \
         WHERE id = $1 AND project_id = $2 AND workspace_id = $3 FOR UPDATE"
    } else {
        "SELECT title, title_from_user, title_by_model, title_attempts, title_attempt_at FROM threads \
         WHERE id = $1 AND project_id = $2 AND workspace_id = $3"
    };
    let row =
        sqlx::query(sql).bind(thread_id).bind(&scope.project_id).bind(&scope.workspace_id).fetch_optional(c).await?;
    row.as_ref().map(state_row).transpose()
}

pub(super) async fn state(
    c: &mut PgConnection,
    scope: &WorkspaceScope,
    thread_id: &str,
) -> StoreResult<Option<TitleState>> {
    read_state(c, scope, thread_id, false).await
}

pub(super) async fn claim(
    c: &mut PgConnection,
    scope: &WorkspaceScope,
    thread_id: &str,
    max_attempts: u32,
    stale_before: Millis,
    now: Millis,
) -> StoreResult<TitleClaim> {
    let mut state = read_state(c, scope, thread_id, true).await?.ok_or(StoreError::ThreadNotFound)?;
    if !state.may_start(max_attempts, stale_before) {
        return Ok(TitleClaim { started_at: None, state });
    }
    sqlx::query("UPDATE threads SET title_attempts = title_attempts + 1, title_attempt_at = $2 WHERE id = $1")
        .bind(thread_id)
        .bind(now)
        .execute(c)
        .await?;
    state.attempts += 1;
    state.running_since = Some(now);
    Ok(TitleClaim { started_at: Some(now), state })
}

/// One statement: the title is written only while neither a user nor a model
/// has titled the thread, whatever happened since the claim (the row lock
/// orders it after a concurrent rename).
pub(super) async fn finish(
    c: &mut PgConnection,
    scope: &WorkspaceScope,
    thread_id: &str,
    started_at: Millis,
    title: Option<&str>,
    now: Millis,
) -> StoreResult<Option<String>> {
    let title: Option<Option<String>> = sqlx::query_scalar(
        "UPDATE threads SET \
           title = CASE WHEN $4::text IS NOT NULL AND NOT title_from_user AND NOT title_by_model THEN $4 ELSE title END, \
           updated_at = CASE WHEN $4::text IS NOT NULL AND NOT title_from_user AND NOT title_by_model THEN $5 \
                        ELSE updated_at END, \
           title_by_model = CASE WHEN $4::text IS NOT NULL AND NOT title_from_user THEN TRUE ELSE title_by_model END, \
           title_attempt_at = CASE WHEN title_attempt_at = $6 THEN NULL ELSE title_attempt_at END \
         WHERE id = $1 AND project_id = $2 AND workspace_id = $3 RETURNING title",
    )
    .bind(thread_id)
    .bind(&scope.project_id)
    .bind(&scope.workspace_id)
    .bind(title)
    .bind(now)
    .bind(started_at)
    .fetch_optional(c)
    .await?;
    title.ok_or(StoreError::ThreadNotFound)
}

pub(super) async fn candidates(
    c: &mut PgConnection,
    since: Millis,
    max_attempts: u32,
    stale_before: Millis,
    limit: u32,
) -> StoreResult<Vec<TitleCandidate>> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT t.project_id, t.workspace_id, t.id FROM threads t \
         JOIN title_settings s ON s.project_id = t.project_id AND s.enabled \
         WHERE t.created_at >= $1 AND NOT t.title_from_user AND NOT t.title_by_model \
           AND t.title_attempts < $2 AND (t.title_attempt_at IS NULL OR t.title_attempt_at < $3) \
           AND EXISTS (SELECT 1 FROM messages m JOIN message_search ms ON ms.message_id = m.id \
                       WHERE m.thread_id = t.id) \
         ORDER BY t.created_at DESC, t.id DESC LIMIT $4",
    )
    .bind(since)
    .bind(i32::try_from(max_attempts).unwrap_or(i32::MAX))
    .bind(stale_before)
    .bind(i64::from(limit))
    .fetch_all(c)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(project_id, workspace_id, thread_id)| TitleCandidate { project_id, workspace_id, thread_id })
        .collect())
}
