//! `POST /v1/auth/tokens` (workspace tokens for a backend) and the JWKS that
//! lets anyone verify them.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::projects::AddressedProject;
use crate::state::AppState;

/// Mints a short-lived token for the API key's user and workspace; the
/// backend hands it to its browser, which uses it as `authToken`.
#[utoipa::path(post, path = "/v1/auth/tokens", tag = "auth", responses((status = 200, description = "A workspace token for the API key's user and workspace", body = crate::openapi::TokenCreated), (status = 403, description = "Only API keys may mint workspace tokens")))]
pub async fn create(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.require_api_key("Creating workspace tokens")?;
    let token = state.keys.mint(&caller.scope, &caller.user_id, None, state.config.workspace_token_ttl_secs).await?;
    Ok(Json(json!({ "token": token })))
}

/// `GET /.well-known/jwks.json`: the addressed project's public keys (the
/// default project at the root, any project under `/projects/<id>/`).
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth", responses((status = 200, description = "The project's public signing keys (RFC 7517 JWK set)", body = Object), (status = 404, description = "`project_not_found`")))]
pub async fn jwks(
    State(state): State<AppState>,
    AddressedProject(project): AddressedProject,
) -> ApiResult<Json<Value>> {
    let project = state.projects.require(&state, &project).await?;
    Ok(Json(state.keys.jwks(&project.id).await?))
}
