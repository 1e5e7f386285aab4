//! `/v1/runs`: run reports (telemetry) and `/v1/runs/stream` (thread titles).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use threadhold_store::ReadScope;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::service;
use crate::service::titles;
use crate::state::AppState;

/// Shown when no message has any text to title from; never stored.
const FALLBACK_TITLE: &str = "New Chat";

/// `POST /v1/runs`: a run report, stored as a run (merged into the run of its
/// trace id when one exists).
#[utoipa::path(post, path = "/v1/runs", tag = "runs", request_body(content = Object, description = "A run report (status, model, usage, steps, metadata…)"), responses((status = 201, body = crate::openapi::RunCreated)))]
pub async fn report(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<serde_json::Map<String, Value>>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let run_id = service::runs::report(state.store.as_ref(), &caller.scope, &caller.user_id, body).await?;
    Ok((StatusCode::CREATED, Json(json!({ "run_id": run_id }))))
}

#[derive(Deserialize, utoipa::ToSchema)]
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
#[utoipa::path(post, path = "/v1/runs/stream", tag = "runs", request_body = StreamRequest, responses((status = 200, description = "The thread's title", content_type = "text/plain", body = String), (status = 404, description = "`thread_not_found`")))]
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
