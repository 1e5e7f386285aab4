//! The route table: every endpoint of the contract and the operational ones.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{MethodRouter, delete, get, post, put};
use threadhold_domain::limits::{REQUEST_BODY_MAX_BYTES, TRACES_BODY_MAX_BYTES};

use crate::error::ApiError;
use crate::extract::with_body_limit;
use crate::handlers::{anonymous, files, health, messages, projects, runs, telemetry, threads, tokens, traces};
use crate::state::AppState;
use crate::{auth, cors, mcp, observe, openapi};

pub fn router(state: AppState) -> Router {
    // The dashboard is same-origin and has its own headers: it stays outside the API's CORS and token layers.
    let dashboard = Router::new()
        .route("/", get(crate::dashboard::landing))
        .nest("/admin", crate::dashboard::router(state.clone()))
        .layer(from_fn(observe::access_log));
    let api = api_routes()
        .into_iter()
        .fold(Router::new(), |router, (path, methods)| router.route(path, methods))
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(REQUEST_BODY_MAX_BYTES))
        .layer(from_fn_with_state(state.clone(), auth::exchange_tokens))
        .layer(from_fn_with_state(state.clone(), cors::cors))
        .layer(from_fn(observe::access_log));
    dashboard.merge(api).with_state(state)
}

/// Every route of the API (the dashboard's JSON API has its own table,
/// [`crate::dashboard::api_routes`]). The OpenAPI test probes each path of
/// the tables for the methods it answers and compares them with the document.
fn api_routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        ("/v1/threads", get(threads::list).post(threads::create)),
        ("/v1/threads/search", get(threads::search)),
        ("/v1/threads/{thread_id}", get(threads::get).put(threads::update).delete(threads::delete)),
        ("/v1/threads/{thread_id}/messages", get(messages::list).post(messages::create).delete(messages::delete)),
        ("/v1/threads/{thread_id}/messages/{message_id}", put(messages::update)),
        ("/v1/threads/{thread_id}/messages/{message_id}/feedback", post(messages::feedback)),
        ("/v1/threads/{thread_id}/runs/{lease_id}/heartbeat", post(messages::heartbeat)),
        ("/v1/threads/{thread_id}/runs/{lease_id}/end", post(messages::end_run)),
        ("/v1/runs", post(runs::report)),
        ("/v1/runs/stream", post(runs::stream)),
        ("/v1/events", post(telemetry::track)),
        ("/v1/traces", with_body_limit(post(traces::receive), TRACES_BODY_MAX_BYTES)),
        ("/v1/scores", post(telemetry::create_score)),
        ("/v1/mcp", post(mcp::serve)),
        ("/v1/auth/tokens", post(tokens::create)),
        ("/v1/auth/tokens/anonymous", post(anonymous::mint)),
        ("/v1/auth/tokens/refresh", post(anonymous::refresh)),
        ("/v1/threads/claim", post(anonymous::claim)),
        ("/v1/files/pdf-to-images", post(files::pdf_to_images)),
        ("/v1/files/attachments/generate-presigned-upload-url", post(files::presign_upload)),
        ("/v1/files/attachments/generate-presigned-download-url", post(files::presign_download)),
        ("/files/upload/{*key}", put(files::receive_upload)),
        ("/files/{*key}", get(files::serve)),
        ("/v1/projects/threads", get(projects::list_threads)),
        ("/v1/projects/users/{user_id}", delete(projects::erase_user)),
        ("/v1/projects/threads/{thread_id}/messages", get(projects::list_messages)),
        ("/v1/projects/runs", get(projects::list_runs)),
        ("/v1/projects/runs/{run_id}", get(projects::get_run)),
        ("/v1/projects/scores", get(projects::list_scores)),
        ("/v1/projects/usage/daily", get(projects::usage_daily)),
        ("/v1/projects/usage/period", get(projects::usage_period)),
        ("/.well-known/jwks.json", get(tokens::jwks)),
        ("/healthz", get(health::healthz)),
        ("/readyz", get(health::readyz)),
        ("/openapi.json", get(openapi::serve_document)),
    ]
}

/// The path templates of every API and admin API route, as axum spells them.
pub fn route_paths() -> Vec<String> {
    let api = api_routes().into_iter().map(|(path, _)| path.to_owned());
    let admin = crate::dashboard::api_routes().into_iter().map(|(path, _)| format!("/admin/api{path}"));
    api.chain(admin).collect()
}

async fn route_not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound { code: "not_found", message: format!("No route for {method} {}", uri.path()) }
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
