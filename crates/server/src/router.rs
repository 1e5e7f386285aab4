//! The route table: every endpoint of the contract and the operational ones.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{delete, get, post, put};
use threadhold_domain::limits::{REQUEST_BODY_MAX_BYTES, TRACES_BODY_MAX_BYTES};

use crate::error::ApiError;
use crate::extract::with_body_limit;
use crate::handlers::{anonymous, files, health, messages, projects, runs, telemetry, threads, tokens, traces};
use crate::state::AppState;
use crate::{auth, cors, mcp, observe};

pub fn router(state: AppState) -> Router {
    // The dashboard is same-origin and has its own headers: it stays outside the API's CORS and token layers.
    let dashboard = Router::new()
        .route("/", get(crate::dashboard::landing))
        .nest("/admin", crate::dashboard::router(state.clone()))
        .layer(from_fn(observe::access_log));
    let api = Router::new()
        .route("/v1/threads", get(threads::list).post(threads::create))
        .route("/v1/threads/search", get(threads::search))
        .route("/v1/threads/{thread_id}", get(threads::get).put(threads::update).delete(threads::delete))
        .route("/v1/threads/{thread_id}/messages", get(messages::list).post(messages::create).delete(messages::delete))
        .route("/v1/threads/{thread_id}/messages/{message_id}", put(messages::update))
        .route("/v1/threads/{thread_id}/messages/{message_id}/feedback", post(messages::feedback))
        .route("/v1/threads/{thread_id}/runs/{lease_id}/heartbeat", post(messages::heartbeat))
        .route("/v1/threads/{thread_id}/runs/{lease_id}/end", post(messages::end_run))
        .route("/v1/runs", post(runs::report))
        .route("/v1/runs/stream", post(runs::stream))
        .route("/v1/events", post(telemetry::track))
        .route("/v1/traces", with_body_limit(post(traces::receive), TRACES_BODY_MAX_BYTES))
        .route("/v1/scores", post(telemetry::create_score))
        .route("/v1/mcp", post(mcp::serve))
        .route("/v1/auth/tokens", post(tokens::create))
        .route("/v1/auth/tokens/anonymous", post(anonymous::mint))
        .route("/v1/auth/tokens/refresh", post(anonymous::refresh))
        .route("/v1/threads/claim", post(anonymous::claim))
        .route("/v1/files/pdf-to-images", post(files::pdf_to_images))
        .route("/v1/files/attachments/generate-presigned-upload-url", post(files::presign_upload))
        .route("/v1/files/attachments/generate-presigned-download-url", post(files::presign_download))
        .route("/files/upload/{*key}", put(files::receive_upload))
        .route("/files/{*key}", get(files::serve))
        .route("/v1/projects/threads", get(projects::list_threads))
        .route("/v1/projects/users/{user_id}", delete(projects::erase_user))
        .route("/v1/projects/threads/{thread_id}/messages", get(projects::list_messages))
        .route("/v1/projects/runs", get(projects::list_runs))
        .route("/v1/projects/runs/{run_id}", get(projects::get_run))
        .route("/v1/projects/scores", get(projects::list_scores))
        .route("/v1/projects/usage/daily", get(projects::usage_daily))
        .route("/v1/projects/usage/period", get(projects::usage_period))
        .route("/.well-known/jwks.json", get(tokens::jwks))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(REQUEST_BODY_MAX_BYTES))
        .layer(from_fn_with_state(state.clone(), auth::exchange_tokens))
        .layer(from_fn_with_state(state.clone(), cors::cors))
        .layer(from_fn(observe::access_log));
    dashboard.merge(api).with_state(state)
}

async fn route_not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound { code: "not_found", message: format!("No route for {method} {}", uri.path()) }
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
