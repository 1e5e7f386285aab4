//! Titles written by a model: a project's title settings, and the attempt
//! bookkeeping on threads that keeps the three triggers from titling a thread
//! twice or replacing a title a user set.

use rusqlite::{Connection, OptionalExtension, Row, params};
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
pub(super) fn settings_row(row: &Row) -> rusqlite::Result<TitleSettingsRow> {
    Ok(TitleSettingsRow {
        project_id: row.get(0)?,
        enabled: row.get(1)?,
        base_url: row.get(2)?,
        model: row.get(3)?,
        api_key_file: row.get(4)?,
        api_key_env: row.get(5)?,
        api_style: row.get(6)?,
        api_version: row.get(7)?,
        language: row.get(8)?,
        words: row.get(9)?,
        instructions: row.get(10)?,
        timeout_ms: row.get(11)?,
        updated_at: row.get(12)?,
    })
}

pub(super) fn settings(c: &Connection, project_id: &str) -> StoreResult<Option<TitleSettings>> {
    let row = c
        .prepare_cached(concat!("SELECT ", settings_columns!(), " FROM title_settings WHERE project_id = ?1"))?
        .query_row([project_id], settings_row)
        .optional()?;
    row.map(|row| {
        TitleSettings::try_from(row).map_err(|error| StoreError::Database(format!("title_settings: {error}")))
    })
    .transpose()
}

pub(super) fn put_settings(c: &Connection, settings: &TitleSettings) -> StoreResult<bool> {
    let exists = c.prepare_cached("SELECT 1 FROM projects WHERE id = ?1")?.exists([&settings.project_id])?;
    if !exists {
        return Ok(false);
    }
    let r = TitleSettingsRow::from(settings);
    c.prepare_cached(
        "INSERT INTO title_settings (project_id, enabled, base_url, model, api_key_file, api_key_env, api_style, \
         api_version, language, words, instructions, timeout_ms, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
         ON CONFLICT (project_id) DO UPDATE SET enabled = excluded.enabled, base_url = excluded.base_url, \
         model = excluded.model, api_key_file = excluded.api_key_file, api_key_env = excluded.api_key_env, \
         api_style = excluded.api_style, api_version = excluded.api_version, language = excluded.language, \
         words = excluded.words, instructions = excluded.instructions, timeout_ms = excluded.timeout_ms, \
         updated_at = excluded.updated_at",
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
    ])?;
    bump_settings(c)?;
    Ok(true)
}

pub(super) fn set_enabled(c: &Connection, project_id: &str, enabled: bool, now: Millis) -> StoreResult<bool> {
    let changed = c
        .prepare_cached("UPDATE title_settings SET enabled = ?2, updated_at = ?3 WHERE project_id = ?1")?
        .execute(params![project_id, enabled, now])?;
    if changed == 1 {
        bump_settings(c)?;
    }
    Ok(changed == 1)
}

pub(super) fn state(c: &Connection, scope: &WorkspaceScope, thread_id: &str) -> StoreResult<Option<TitleState>> {
    Ok(c.prepare_cached(
        "SELECT title, title_from_user, title_by_model, title_attempts, title_attempt_at FROM threads \
         WHERE id = ?1 AND project_id = ?2 AND workspace_id = ?3",
    )?
    .query_row(params![thread_id, scope.project_id, scope.workspace_id], |row| {
        let title: Option<String> = row.get(0)?;
        let attempts: i64 = row.get(3)?;
        Ok(TitleState {
            origin: TitleOrigin::of(title.as_deref(), row.get(1)?, row.get(2)?),
            title,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            running_since: row.get(4)?,
        })
    })
    .optional()?)
}

/// Runs on the writer, so the check and the mark cannot race another claim.
pub(super) fn claim(
    c: &Connection,
    scope: &WorkspaceScope,
    thread_id: &str,
    max_attempts: u32,
    stale_before: Millis,
    now: Millis,
) -> StoreResult<TitleClaim> {
    let mut state = state(c, scope, thread_id)?.ok_or(StoreError::ThreadNotFound)?;
    if !state.may_start(max_attempts, stale_before) {
        return Ok(TitleClaim { started_at: None, state });
    }
    c.prepare_cached("UPDATE threads SET title_attempts = title_attempts + 1, title_attempt_at = ?2 WHERE id = ?1")?
        .execute(params![thread_id, now])?;
    state.attempts += 1;
    state.running_since = Some(now);
    Ok(TitleClaim { started_at: Some(now), state })
}

/// One statement: the title is written only while neither a user nor a model
/// has titled the thread, whatever happened since the claim.
pub(super) fn finish(
    c: &Connection,
    scope: &WorkspaceScope,
    thread_id: &str,
    started_at: Millis,
    title: Option<&str>,
    now: Millis,
) -> StoreResult<Option<String>> {
    let title: Option<Option<String>> = c
        .prepare_cached(
            "UPDATE threads SET \
               title = CASE WHEN ?4 IS NOT NULL AND NOT title_from_user AND NOT title_by_model THEN ?4 ELSE title END, \
               updated_at = CASE WHEN ?4 IS NOT NULL AND NOT title_from_user AND NOT title_by_model THEN ?5 \
                            ELSE updated_at END, \
               title_by_model = CASE WHEN ?4 IS NOT NULL AND NOT title_from_user THEN TRUE ELSE title_by_model END, \
               title_attempt_at = CASE WHEN title_attempt_at = ?6 THEN NULL ELSE title_attempt_at END \
             WHERE id = ?1 AND project_id = ?2 AND workspace_id = ?3 RETURNING title",
        )?
        .query_row(params![thread_id, scope.project_id, scope.workspace_id, title, now, started_at], |row| row.get(0))
        .optional()?;
    title.ok_or(StoreError::ThreadNotFound)
}

pub(super) fn candidates(
    c: &Connection,
    since: Millis,
    max_attempts: u32,
    stale_before: Millis,
    limit: u32,
) -> StoreResult<Vec<TitleCandidate>> {
    Ok(c.prepare_cached(
        "SELECT t.project_id, t.workspace_id, t.id FROM threads t \
         JOIN title_settings s ON s.project_id = t.project_id AND s.enabled \
         WHERE t.created_at >= ?1 AND NOT t.title_from_user AND NOT t.title_by_model \
           AND t.title_attempts < ?2 AND (t.title_attempt_at IS NULL OR t.title_attempt_at < ?3) \
           AND EXISTS (SELECT 1 FROM messages m WHERE m.thread_id = t.id AND m.search_rowid > 0) \
         ORDER BY t.created_at DESC, t.id DESC LIMIT ?4 + 0",
    )?
    .query_map(params![since, i64::from(max_attempts), stale_before, i64::from(limit)], |row| {
        Ok(TitleCandidate { project_id: row.get(0)?, workspace_id: row.get(1)?, thread_id: row.get(2)? })
    })?
    .collect::<Result<_, _>>()?)
}
