//! `/v1/runs`: run reports (telemetry) and `/v1/runs/stream` (thread titles).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use threadhold_domain::limits::MESSAGE_PAGE_MAX;
use threadhold_domain::now_ms;
use threadhold_domain::title::{message_role, title_from_messages};
use threadhold_store::ReadScope;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::service;
use crate::state::AppState;

/// Shown when no message has any text to title from; never stored.
const FALLBACK_TITLE: &str = "New Chat";

/// `POST /v1/runs`: a run report, stored as a run (merged into the run of its
/// trace id when one exists).
pub async fn report(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<serde_json::Map<String, Value>>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let run_id = service::runs::report(state.store.as_ref(), &caller.scope, &caller.user_id, body).await?;
    Ok((StatusCode::CREATED, Json(json!({ "run_id": run_id }))))
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
/// has none. A title a user set is streamed back, never replaced.
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
    let title = match thread.title {
        Some(title) => Some(title),
        None => {
            // The request may arrive before the first message is stored: title from its messages first.
            let generated = match title_from_messages(&body.messages) {
                Some(title) => Some(title),
                None => stored_title_source(&state, &scope, &body.thread_id).await?,
            };
            state.store.set_auto_title(&caller.scope, &body.thread_id, generated.as_deref(), now_ms()).await?
        }
    };
    let text = title.unwrap_or_else(|| FALLBACK_TITLE.to_owned());
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// A title from the thread's stored messages (oldest user message with text).
async fn stored_title_source(state: &AppState, scope: &ReadScope, thread_id: &str) -> ApiResult<Option<String>> {
    let mut messages = state.store.list_messages(scope, thread_id, None, MESSAGE_PAGE_MAX).await?;
    messages.reverse();
    let contents: Vec<Value> = messages
        .iter()
        .filter_map(|m| serde_json::from_str::<Value>(&m.content).ok())
        .filter(|content| message_role(content) == Some("user"))
        .collect();
    Ok(title_from_messages(&contents))
}
