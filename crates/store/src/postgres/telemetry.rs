//! Run reports, engagement events and scores, kept for later analysis.

use sqlx::PgConnection;
use threadhold_domain::dashboard::Activity;
use threadhold_domain::model::{Score, ScoreTarget, TelemetryRecord};

use super::threads;
use crate::{StoreError, StoreResult};

pub(super) async fn insert(c: &mut PgConnection, record_type: &str, records: &[TelemetryRecord]) -> StoreResult<()> {
    for record in records {
        sqlx::query(
            "INSERT INTO telemetry (id, record_type, project_id, workspace_id, user_id, thread_id, kind, body, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&record.id)
        .bind(record_type)
        .bind(&record.scope.project_id)
        .bind(&record.scope.workspace_id)
        .bind(&record.user_id)
        .bind(&record.thread_id)
        .bind(&record.kind)
        .bind(&record.body)
        .bind(record.created_at)
        .execute(&mut *c)
        .await?;
        if record_type == "run" {
            super::dashboard::count_activity(c, &record.scope.project_id, record.created_at, Activity::Run, 1).await?;
        }
    }
    Ok(())
}

/// Upserts a score per workspace, target, author and name; returns the stored score id.
pub(super) async fn upsert_score(c: &mut PgConnection, score: &Score) -> StoreResult<String> {
    let (target_type, target_id, thread_id) = match &score.target {
        ScoreTarget::Message { thread_id, message_id } => ("message", message_id.as_str(), Some(thread_id)),
        ScoreTarget::Run(run_id) => ("run", run_id.as_str(), None),
        ScoreTarget::Thread(thread_id) => ("thread", thread_id.as_str(), Some(thread_id)),
    };
    if let Some(thread_id) = thread_id {
        threads::require_in_scope(c, &score.scope, thread_id).await?;
    }
    if let ScoreTarget::Message { thread_id, message_id } = &score.target {
        let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM messages WHERE id = $1 AND thread_id = $2")
            .bind(message_id)
            .bind(thread_id)
            .fetch_optional(&mut *c)
            .await?;
        if exists.is_none() {
            return Err(StoreError::MessageNotFound);
        }
    }
    Ok(sqlx::query_scalar(
        "INSERT INTO scores (id, project_id, workspace_id, author, target_type, target_id, thread_id, name, data_type, \
         value, string_value, comment, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) \
         ON CONFLICT (project_id, workspace_id, target_type, target_id, author, name) DO UPDATE SET \
           data_type = excluded.data_type, value = excluded.value, string_value = excluded.string_value, \
           comment = excluded.comment, updated_at = excluded.updated_at \
         RETURNING id",
    )
    .bind(&score.id)
    .bind(&score.scope.project_id)
    .bind(&score.scope.workspace_id)
    .bind(&score.author)
    .bind(target_type)
    .bind(target_id)
    .bind(thread_id)
    .bind(&score.name)
    .bind(score.data_type.as_str())
    .bind(score.value)
    .bind(&score.string_value)
    .bind(&score.comment)
    .bind(score.now)
    .fetch_one(c)
    .await?)
}
