//! `/v1/projects/…`: project-wide reads across every workspace (API keys only):
//! threads and messages, runs with their spans, scores, and usage.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use threadhold_domain::now_ms;
use threadhold_domain::telemetry::query::{RunListInput, ScoreListInput, ScorePaging};
use threadhold_store::ReadScope;

use super::ListQuery;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{ApiPath, ApiQuery};
use crate::project_views;
use crate::service;
use crate::service::usage::Daily;
use crate::service::{Actor, users};
use crate::state::AppState;

/// `GET /v1/projects/runs`: runs newest first, filtered, in cursor pages.
#[utoipa::path(get, path = "/v1/projects/runs", tag = "project", params(("status" = Option<String>, Query), ("outcome_type" = Option<String>, Query), ("model_id" = Option<String>, Query), ("provider" = Option<String>, Query), ("created_by" = Option<String>, Query), ("thread_id" = Option<String>, Query), ("workspace_id" = Option<String>, Query), ("environment" = Option<String>, Query), ("release" = Option<String>, Query), ("tag" = Option<String>, Query), ("from" = Option<String>, Query, description = "ISO 8601 lower bound of `created_at`"), ("to" = Option<String>, Query, description = "ISO 8601 upper bound of `created_at`"), ("limit" = Option<u32>, Query, description = "Page size"), ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")), responses((status = 200, body = crate::project_views::RunPageView)))]
pub async fn list_runs(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(input): ApiQuery<RunListInput>,
) -> ApiResult<Response> {
    caller.require_api_key("Project-wide run listing")?;
    let page = service::runs::list(state.store.as_ref(), &caller.scope.project_id, &input).await?;
    Ok(Json(project_views::run_page(&page.runs, page.next_cursor.as_deref())).into_response())
}

/// `GET /v1/projects/runs/{run_id}`: a run with its spans.
#[utoipa::path(get, path = "/v1/projects/runs/{run_id}", tag = "project", responses((status = 200, body = crate::project_views::RunDetailView), (status = 404, description = "`run_not_found`")))]
pub async fn get_run(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(run_id): ApiPath<String>,
) -> ApiResult<Response> {
    caller.require_api_key("Reading a project run")?;
    let detail = service::runs::get(state.store.as_ref(), &caller.scope.project_id, &run_id).await?;
    Ok(Json(project_views::run_detail(&detail.run, &detail.spans)).into_response())
}

/// `GET /v1/projects/scores`: scores newest first; `after` names the last score of the previous page.
#[utoipa::path(get, path = "/v1/projects/scores", tag = "project", params(("name" = Option<String>, Query), ("thread_id" = Option<String>, Query), ("run_id" = Option<String>, Query), ("source" = Option<String>, Query), ("since" = Option<String>, Query), ("limit" = Option<u32>, Query, description = "Page size"), ("after" = Option<String>, Query), ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")), responses((status = 200, body = crate::project_views::ScoresView)))]
pub async fn list_scores(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(input): ApiQuery<ScoreListInput>,
) -> ApiResult<Response> {
    caller.require_api_key("Project-wide score listing")?;
    let page =
        service::project::scores(state.store.as_ref(), &caller.scope.project_id, &input, ScorePaging::AfterId).await?;
    Ok(Json(project_views::scores(&page.scores, None)).into_response())
}

#[derive(Debug, Deserialize)]
pub struct UsageQuery {
    from: Option<String>,
    to: Option<String>,
    group_by: Option<String>,
}

/// `GET /v1/projects/usage/daily`: every UTC day of the range, or stored (day, provider, model) rows.
#[utoipa::path(get, path = "/v1/projects/usage/daily", tag = "project", params(("from" = Option<String>, Query, description = "YYYY-MM-DD (default: 29 days before `to`)"), ("to" = Option<String>, Query, description = "YYYY-MM-DD (default: today, UTC)"), ("group_by" = Option<String>, Query, description = "`model`")), responses((status = 200, body = crate::project_views::DaysView)))]
pub async fn usage_daily(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<UsageQuery>,
) -> ApiResult<Response> {
    caller.require_api_key("Reading project usage")?;
    let daily = service::usage::daily(
        state.store.as_ref(),
        &caller.scope.project_id,
        query.from.as_deref(),
        query.to.as_deref(),
        query.group_by.as_deref(),
        now_ms(),
    )
    .await?;
    Ok(match &daily {
        Daily::Days(days) => Json(project_views::days(days)).into_response(),
        Daily::ByModel(rows) => Json(project_views::days_by_model(rows)).into_response(),
    })
}

/// `GET /v1/projects/usage/period`: the current UTC month.
#[utoipa::path(get, path = "/v1/projects/usage/period", tag = "project", responses((status = 200, description = "The current UTC month's usage", body = crate::project_views::PeriodView)))]
pub async fn usage_period(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    caller.require_api_key("Reading project usage")?;
    let (period, totals) = service::usage::period(state.store.as_ref(), &caller.scope.project_id, now_ms()).await?;
    Ok(Json(project_views::period(&period, &totals)).into_response())
}

#[utoipa::path(get, path = "/v1/projects/threads", tag = "project", params(("is_archived" = Option<bool>, Query, description = "Archived threads only (true) or unarchived only (false, the default)"), ("limit" = Option<u32>, Query, description = "Page size"), ("after" = Option<String>, Query, description = "The last id of the previous page")), responses((status = 200, description = "The project's threads, every workspace", body = crate::views::ThreadList)))]
pub async fn list_threads(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Response> {
    caller.require_api_key("Project-wide thread listing")?;
    super::threads::list_in(&state, &caller.scope.project_id, None, &query).await
}

#[utoipa::path(get, path = "/v1/projects/threads/{thread_id}/messages", tag = "project", params(("limit" = Option<u32>, Query, description = "Page size"), ("after" = Option<String>, Query, description = "The last message id of the previous page"), ("format" = Option<String>, Query, description = "Convert compatible messages to this format (aui/v0, ai-sdk/v5, ai-sdk/v6)")), responses((status = 200, body = crate::views::MessageList), (status = 404, description = "`thread_not_found`")))]
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
#[utoipa::path(delete, path = "/v1/projects/users/{user_id}", tag = "project", responses((status = 200, body = crate::openapi::Erased)))]
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
