//! `/v1/runs`: run reports (telemetry) and `/v1/runs/stream` (thread titles).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use threadhold_domain::ids::{IdKind, new_id};
use threadhold_domain::model::TelemetryRecord;
use threadhold_domain::now_ms;
use threadhold_store::ReadScope;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::service::titles;
use crate::state::AppState;

/// Shown when no message has any text to title from; never stored.
const FALLBACK_TITLE: &str = "New Chat";
const RUN_STATUSES: [&str; 3] = ["completed", "incomplete", "error"];

/// `POST /v1/runs`: a run report, stored whole for later analysis.
pub async fn report(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<serde_json::Map<String, Value>>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let thread_id =
        body.get("thread_id").and_then(Value::as_str).ok_or_else(|| ApiError::invalid("thread_id is required"))?;
    let status = body.get("status").and_then(Value::as_str).unwrap_or_default();
    if !RUN_STATUSES.contains(&status) {
        return Err(ApiError::invalid("status must be one of completed, incomplete, error"));
    }
    if state.store.get_thread(&ReadScope::from(&caller.scope), thread_id).await?.is_none() {
        return Err(ApiError::thread_not_found());
    }
    let record = TelemetryRecord {
        id: new_id(IdKind::Run),
        thread_id: Some(thread_id.to_owned()),
        kind: status.to_owned(),
        body: Value::Object(body.clone()).to_string(),
        scope: caller.scope,
        user_id: caller.user_id,
        created_at: now_ms(),
    };
    state.store.insert_telemetry("run", std::slice::from_ref(&record)).await?;
    Ok((StatusCode::CREATED, Json(json!({ "run_id": record.id }))))
}

#[derive(Deserialize)]
pub struct StreamRequest {
    thread_id: String,
    assistant_id: String,
    #[serde(default)]
    messages: Vec<Value>,
}

/// `POST /v1/runs/stream` with `assistant_id: "system/thread_title"`: answers the
/// thread's title as `text/plain`, generating and storing one if the thread
/// has none (by the project's title model, if it has one: [`titles`]). A title
/// a user set is streamed back, never replaced.
pub async fn stream(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<StreamRequest>,
) -> ApiResult<Response> {
    if body.assistant_id != "system/thread_title" {
        return Err(ApiError::InvalidRequest {
            code: "unsupported_assistant",
            message: "Only the system/thread_title assistant is available on this server".into(),
        });
    }
    let scope = ReadScope::from(&caller.scope);
    let thread = state.store.get_thread(&scope, &body.thread_id).await?.ok_or_else(ApiError::thread_not_found)?;
    let title = titles::requested_title(&state, &caller.scope, &thread, &body.messages).await?;
    let text = title.unwrap_or_else(|| FALLBACK_TITLE.to_owned());
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}
