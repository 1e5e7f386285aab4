//! Runs: storing a client's report, and the project's run list and run detail.

use serde_json::{Map, Value};
use threadhold_domain::ids::{IdKind, new_id};
use threadhold_domain::model::{Position, Run, WorkspaceScope};
use threadhold_domain::now_ms;
use threadhold_domain::telemetry::query::{RunListInput, run_query, server_id};
use threadhold_domain::telemetry::report::{self, ReportError};
use threadhold_domain::telemetry::trace::{self, ArrangedSpan};
use threadhold_store::{Store, StoreError};

use super::{ServiceError, ServiceResult, keyset_page};

/// Stores a run report for `user_id` in `scope`; returns the run id (that of
/// the trace's run when the report merged into it).
pub async fn report(
    store: &dyn Store,
    scope: &WorkspaceScope,
    user_id: &str,
    body: Map<String, Value>,
) -> ServiceResult<String> {
    let parsed = report::parse(body).map_err(|error| match error {
        ReportError::Invalid(message) => ServiceError::Invalid { code: "invalid_request", message },
        ReportError::AttributesTooLarge => {
            ServiceError::Invalid { code: "attributes_too_large", message: error.to_string() }
        }
    })?;
    let run = parsed.into_run(new_id(IdKind::Run), scope.clone(), user_id, now_ms());
    store.record_run(&run).await.map_err(|error| match error {
        StoreError::ThreadNotFound => ServiceError::thread_not_found(),
        StoreError::MessageNotFound => ServiceError::Invalid {
            code: "message_not_in_thread",
            message: "message_id must belong to thread_id".into(),
        },
        other => other.into(),
    })
}

/// A page of runs and the cursor of the next one (`None` on the last page).
pub struct RunPage {
    pub runs: Vec<Run>,
    pub next_cursor: Option<String>,
}

pub async fn list(store: &dyn Store, project_id: &str, input: &RunListInput) -> ServiceResult<RunPage> {
    let mut query = run_query(project_id, input)?;
    let limit = query.limit as usize;
    // One more than asked tells whether another page follows.
    query.limit += 1;
    let rows = store.list_runs(&query).await?;
    let (runs, next_cursor) =
        keyset_page(rows, limit, |run| Position { created_at: run.created_at, id: run.id.clone() });
    Ok(RunPage { runs, next_cursor })
}

/// A run with its spans in the contract's order (`start_ms`, then `span_index`).
pub struct RunDetail {
    pub run: Run,
    pub spans: Vec<ArrangedSpan>,
}

/// A run of the project: its stored spans, or for a run only a client
/// reported, spans built from its steps and tool calls.
pub async fn get(store: &dyn Store, project_id: &str, run_id: &str) -> ServiceResult<RunDetail> {
    server_id("run_id", run_id)?;
    let run = store.get_run(project_id, run_id).await?.ok_or_else(ServiceError::run_not_found)?;
    let stored = store.run_spans(project_id, run_id).await?;
    let spans = if stored.is_empty() {
        trace::report_spans(&run)
    } else {
        stored.into_iter().map(|span| (format!("{}{}", span.trace_id, span.span_id), span)).collect()
    };
    Ok(RunDetail { spans: trace::arrange(spans), run })
}
