//! `/healthz` (the process is up) and `/readyz` (the database answers and the
//! server is not draining).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "The process is up", body = crate::openapi::Status)))]
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, description = "The database answers", body = crate::openapi::Status), (status = 503, description = "The database is unreachable or the server is draining")))]
pub async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    if state.is_draining() {
        return Err(ApiError::Unavailable("The server is shutting down".into()));
    }
    match tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await {
        Ok(Ok(())) => Ok(Json(json!({ "status": "ready" }))),
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness check failed");
            Err(ApiError::Unavailable("The database is unavailable".into()))
        }
        Err(_) => Err(ApiError::Unavailable("The database did not answer in time".into())),
    }
}
