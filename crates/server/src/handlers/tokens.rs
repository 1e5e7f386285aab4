//! `POST /v1/auth/tokens` (workspace tokens for a backend) and the JWKS that
//! lets anyone verify them.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use threadhold_domain::ids::validate_project_id;
use threadhold_domain::model::DEFAULT_PROJECT_ID;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiPath;
use crate::state::AppState;

/// Mints a short-lived token for the API key's user and workspace; the
/// backend hands it to its browser, which uses it as `authToken`.
pub async fn create(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.require_api_key("Creating workspace tokens")?;
    let token = state
        .keys
        .mint(&caller.scope, &caller.user_id, state.config.workspace_token_ttl_secs)
        .await?;
    Ok(Json(json!({ "token": token })))
}

/// `GET /.well-known/jwks.json`: the default project's public keys.
pub async fn default_jwks(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(state.keys.jwks(DEFAULT_PROJECT_ID).await?))
}

/// `GET /projects/{project_id}/.well-known/jwks.json`.
pub async fn project_jwks(
    State(state): State<AppState>,
    ApiPath(project_id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let not_found = || ApiError::NotFound {
        code: "project_not_found",
        message: "Project not found".into(),
    };
    validate_project_id(&project_id).map_err(|_| not_found())?;
    state.store.get_project(&project_id).await?.ok_or_else(not_found)?;
    Ok(Json(state.keys.jwks(&project_id).await?))
}
