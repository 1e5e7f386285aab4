//! `/v1/projects/…`: project-wide reads across every workspace (API keys only).

use axum::extract::State;
use axum::response::Response;
use threadhold_store::ReadScope;

use super::ListQuery;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{ApiPath, ApiQuery};
use crate::service::{Actor, users};
use crate::state::AppState;

pub async fn list_threads(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Response> {
    caller.require_api_key("Project-wide thread listing")?;
    super::threads::list_in(&state, &caller.scope.project_id, None, &query).await
}

pub async fn list_messages(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(thread_id): ApiPath<String>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Response> {
    caller.require_api_key("Project-wide message listing")?;
    let scope = ReadScope { project_id: caller.scope.project_id, workspace_id: None };
    super::messages::list_in(&state, scope, &thread_id, &query).await
}

/// `DELETE /v1/projects/users/{user_id}`: erases a user's data (API keys only).
pub async fn erase_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(user_id): ApiPath<String>,
) -> ApiResult<axum::Json<serde_json::Value>> {
    caller.require_api_key("Erasing a user")?;
    let erasure =
        users::erase(state.store.as_ref(), state.blobs.as_ref(), &Actor::ApiKey, &caller.scope.project_id, &user_id)
            .await?;
    Ok(axum::Json(
        serde_json::json!({ "deleted_threads": erasure.threads, "deleted_files": erasure.attachment_keys.len() }),
    ))
}
