//! Runs, feedback and scores as the dashboard reads them: newest first,
//! filtered, checked against the actor's role. Runs and scores are the lists
//! of the project read API ([`super::runs`], [`super::project`]), so the
//! dashboard and `/v1/projects/…` show the same rows.

use threadhold_domain::dashboard::{FeedbackRow, ProjectPage};
use threadhold_domain::model::{Run, ScoreRecord};
use threadhold_domain::telemetry::query::{RunListInput, ScoreListInput, ScorePaging};
use threadhold_store::{Store, StoreError};

use super::projects::{self, ProjectError};
use super::{Actor, Denied, Failure, Fault, Page, Permission, ServiceError, authorize};

/// Rows per page at most.
pub const TELEMETRY_PAGE_MAX: u32 = 100;

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error(transparent)]
    Project(#[from] ProjectError),
    #[error(transparent)]
    Denied(#[from] Denied),
    /// A bad filter or cursor.
    #[error(transparent)]
    Query(#[from] ServiceError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Fault for TelemetryError {
    fn failure(self) -> Result<Failure, StoreError> {
        match self {
            TelemetryError::Project(error) => error.failure(),
            TelemetryError::Denied(denied) => denied.failure(),
            TelemetryError::Query(error) => error.failure(),
            TelemetryError::Store(error) => Err(error),
        }
    }
}

/// Tool calls a run reported (its `tool_calls` list, JSON array text).
pub fn tool_call_count(tool_calls: Option<&str>) -> usize {
    tool_calls.and_then(|text| serde_json::from_str::<Vec<serde_json::Value>>(text).ok()).map_or(0, |calls| calls.len())
}

/// What a score rates: (`message`, `run` or `thread`, its id).
pub fn score_target(score: &ScoreRecord) -> (&'static str, &str) {
    match (&score.message_id, &score.run_id, &score.thread_id) {
        (Some(message), _, _) => ("message", message),
        (None, Some(run), _) => ("run", run),
        (None, None, thread) => ("thread", thread.as_deref().unwrap_or_default()),
    }
}

/// A page of runs (`status`: completed, incomplete or error; `cursor`: the previous page's `next`).
pub async fn runs(
    store: &dyn Store,
    actor: &Actor,
    project_id: &str,
    status: Option<String>,
    thread_id: Option<String>,
    cursor: Option<String>,
    limit: u32,
) -> Result<Page<Run>, TelemetryError> {
    authorize(actor, Permission::Read)?;
    projects::require(store, project_id).await?;
    let limit = limit.clamp(1, TELEMETRY_PAGE_MAX);
    let input = RunListInput { status, thread_id, cursor, limit: Some(limit.to_string()), ..RunListInput::default() };
    let page = super::runs::list(store, project_id, &input).await?;
    Ok(Page { items: page.runs, next: page.next_cursor })
}

pub async fn feedback(
    store: &dyn Store,
    actor: &Actor,
    page: ProjectPage,
) -> Result<Page<FeedbackRow>, TelemetryError> {
    authorize(actor, Permission::Read)?;
    let limit = page.limit.clamp(1, TELEMETRY_PAGE_MAX);
    let rows = store.list_feedback(&ProjectPage { limit: limit + 1, ..page }).await?;
    Ok(Page::from_probe(rows, limit, |row| row.id.clone()))
}

/// A page of scores (`cursor`: the previous page's `next`).
pub async fn scores(
    store: &dyn Store,
    actor: &Actor,
    project_id: &str,
    thread_id: Option<String>,
    cursor: Option<String>,
    limit: u32,
) -> Result<Page<ScoreRecord>, TelemetryError> {
    authorize(actor, Permission::Read)?;
    projects::require(store, project_id).await?;
    let limit = limit.clamp(1, TELEMETRY_PAGE_MAX);
    let input = ScoreListInput { thread_id, cursor, limit: Some(limit.to_string()), ..ScoreListInput::default() };
    let page = super::project::scores(store, project_id, &input, ScorePaging::Cursor).await?;
    Ok(Page { items: page.scores, next: page.next_cursor })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_calls_and_score_targets() {
        assert_eq!(tool_call_count(Some(r#"[{"tool_name":"a"},{"tool_name":"b"}]"#)), 2);
        assert_eq!((tool_call_count(Some("not json")), tool_call_count(None)), (0, 0));
        let score = ScoreRecord {
            thread_id: Some("thread_1".into()),
            message_id: Some("msg_1".into()),
            ..ScoreRecord::default()
        };
        assert_eq!(score_target(&score), ("message", "msg_1"));
        assert_eq!(score_target(&ScoreRecord { message_id: None, ..score }), ("thread", "thread_1"));
    }
}
