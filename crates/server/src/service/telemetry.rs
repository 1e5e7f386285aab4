//! Run reports, feedback and scores as the dashboard reads them: newest
//! first, filtered, with the fields of a run report pulled out of its body.

use serde_json::Value;
use threadhold_domain::dashboard::{FeedbackRow, ProjectPage, ScoreRow, TelemetryQuery, TelemetryRow};
use threadhold_store::{Store, StoreError};

use super::projects::{self, ProjectError};
use super::{Actor, Denied, Failure, Fault, Page, Permission, authorize};

/// Rows per page at most.
pub const TELEMETRY_PAGE_MAX: u32 = 100;

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error(transparent)]
    Project(#[from] ProjectError),
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Fault for TelemetryError {
    fn failure(self) -> Result<Failure, StoreError> {
        match self {
            TelemetryError::Project(error) => error.failure(),
            TelemetryError::Denied(denied) => denied.failure(),
            TelemetryError::Store(error) => Err(error),
        }
    }
}

/// A run report with what the Runs page shows of it.
#[derive(Debug, Clone)]
pub struct RunView {
    pub row: TelemetryRow,
    pub model: Option<String>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub duration_ms: Option<i64>,
    pub tool_calls: usize,
    pub steps: usize,
}

fn number(value: &Value, keys: &[&str]) -> Option<i64> {
    keys.iter().find_map(|key| value.get(*key).and_then(Value::as_i64))
}

/// Reads what a run report's body says (the client sends it; any field may be missing).
pub fn run_view(row: TelemetryRow) -> RunView {
    let body: Value = serde_json::from_str(&row.body).unwrap_or(Value::Null);
    let steps = body.get("steps").and_then(Value::as_array).cloned().unwrap_or_default();
    let usages: Vec<&Value> =
        body.get("usage").into_iter().chain(steps.iter().filter_map(|step| step.get("usage"))).collect();
    let sum = |keys: &[&str]| -> Option<i64> {
        let values: Vec<i64> = usages.iter().filter_map(|usage| number(usage, keys)).collect();
        (!values.is_empty()).then(|| values.iter().sum())
    };
    let tool_calls = body.get("tool_calls").and_then(Value::as_array).map_or(0, Vec::len)
        + steps.iter().filter_map(|step| step.get("tool_calls").and_then(Value::as_array)).map(Vec::len).sum::<usize>();
    RunView {
        model: ["model", "model_id", "modelId"]
            .iter()
            .find_map(|key| body.get(*key).and_then(Value::as_str))
            .map(str::to_owned),
        input_tokens: sum(&["input_tokens", "inputTokens", "prompt_tokens", "promptTokens"]),
        output_tokens: sum(&["output_tokens", "outputTokens", "completion_tokens", "completionTokens"]),
        duration_ms: number(&body, &["duration_ms", "durationMs"]),
        steps: steps.len(),
        tool_calls,
        row,
    }
}

/// A page of run reports (`status`: completed, incomplete or error).
pub async fn runs(
    store: &dyn Store,
    actor: &Actor,
    project_id: &str,
    status: Option<String>,
    thread_id: Option<String>,
    before: Option<String>,
    limit: u32,
) -> Result<Page<RunView>, TelemetryError> {
    authorize(actor, Permission::Read)?;
    projects::require(store, project_id).await?;
    let limit = limit.clamp(1, TELEMETRY_PAGE_MAX);
    let query = TelemetryQuery {
        project_id: project_id.to_owned(),
        record_type: "run".to_owned(),
        kind: status,
        thread_id,
        before,
        limit: limit + 1,
    };
    let page = Page::from_probe(store.list_telemetry(&query).await?, limit, |row| row.id.clone());
    Ok(Page { items: page.items.into_iter().map(run_view).collect(), next: page.next })
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

pub async fn scores(store: &dyn Store, actor: &Actor, page: ProjectPage) -> Result<Page<ScoreRow>, TelemetryError> {
    authorize(actor, Permission::Read)?;
    let limit = page.limit.clamp(1, TELEMETRY_PAGE_MAX);
    let rows = store.list_scores(&ProjectPage { limit: limit + 1, ..page }).await?;
    Ok(Page::from_probe(rows, limit, |row| row.id.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_reports_are_read_best_effort() {
        let row = TelemetryRow {
            id: "run_1".into(),
            workspace_id: "w".into(),
            user_id: "u".into(),
            thread_id: None,
            kind: "completed".into(),
            body: r#"{"model":"gpt","duration_ms":1200,"steps":[{"usage":{"promptTokens":40,"completionTokens":2},"tool_calls":[{}]},{"usage":{"inputTokens":2}}]}"#.into(),
            created_at: 0,
        };
        let view = run_view(row.clone());
        assert_eq!(view.model.as_deref(), Some("gpt"));
        assert_eq!((view.input_tokens, view.output_tokens, view.duration_ms), (Some(42), Some(2), Some(1200)));
        assert_eq!((view.steps, view.tool_calls), (2, 1));
        let empty = run_view(TelemetryRow { body: "not json".into(), ..row });
        assert_eq!((empty.model, empty.input_tokens, empty.steps), (None, None, 0));
    }
}
