//! Run reports, engagement events and scores, kept for later analysis.

use rusqlite::{Connection, params};
use threadhold_domain::dashboard::Activity;
use threadhold_domain::model::{Score, ScoreTarget, TelemetryRecord};

use super::threads;
use crate::{StoreError, StoreResult};

pub(super) fn insert(c: &Connection, record_type: &str, records: &[TelemetryRecord]) -> StoreResult<()> {
    let mut statement = c.prepare_cached(
        "INSERT INTO telemetry (id, record_type, project_id, workspace_id, user_id, thread_id, kind, body, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for record in records {
        statement.execute(params![
            record.id,
            record_type,
            record.scope.project_id,
            record.scope.workspace_id,
            record.user_id,
            record.thread_id,
            record.kind,
            record.body,
            record.created_at
        ])?;
        if record_type == "run" {
            super::dashboard::count_activity(c, &record.scope.project_id, record.created_at, Activity::Run, 1)?;
        }
    }
    Ok(())
}

/// Upserts a score per workspace, target, author and name; returns the stored score id.
pub(super) fn upsert_score(c: &Connection, score: &Score) -> StoreResult<String> {
    let (target_type, target_id, thread_id) = match &score.target {
        ScoreTarget::Message { thread_id, message_id } => ("message", message_id.as_str(), Some(thread_id)),
        ScoreTarget::Run(run_id) => ("run", run_id.as_str(), None),
        ScoreTarget::Thread(thread_id) => ("thread", thread_id.as_str(), Some(thread_id)),
    };
    if let Some(thread_id) = thread_id {
        threads::require_in_scope(c, &score.scope, thread_id)?;
    }
    if let ScoreTarget::Message { thread_id, message_id } = &score.target {
        let exists = c
            .prepare_cached("SELECT 1 FROM messages WHERE id = ?1 AND thread_id = ?2")?
            .exists(params![message_id, thread_id])?;
        if !exists {
            return Err(StoreError::MessageNotFound);
        }
    }
    Ok(c.prepare_cached(
        "INSERT INTO scores (id, project_id, workspace_id, author, target_type, target_id, thread_id, name, data_type, \
         value, string_value, comment, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13) \
         ON CONFLICT (project_id, workspace_id, target_type, target_id, author, name) DO UPDATE SET \
           data_type = excluded.data_type, value = excluded.value, string_value = excluded.string_value, \
           comment = excluded.comment, updated_at = excluded.updated_at \
         RETURNING id",
    )?
    .query_row(
        params![
            score.id,
            score.scope.project_id,
            score.scope.workspace_id,
            score.author,
            target_type,
            target_id,
            thread_id,
            score.name,
            score.data_type.as_str(),
            score.value,
            score.string_value,
            score.comment,
            score.now
        ],
        |row| row.get(0),
    )?)
}
