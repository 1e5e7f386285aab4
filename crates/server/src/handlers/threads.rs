//! `/v1/threads`: list, get, create, update, delete.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;
use threadhold_domain::ids::{IdKind, new_id};
use threadhold_domain::limits::{THREAD_METADATA_MAX_BYTES, THREAD_PAGE_DEFAULT, THREAD_PAGE_MAX};
use threadhold_domain::model::{NewThread, ThreadListQuery, ThreadPatch};
use threadhold_domain::{Millis, now_ms, parse_timestamp};
use threadhold_store::ReadScope;

use super::{ListQuery, json_depth, page_limit, text_field};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiPath, ApiQuery, JsonBody, present};
use crate::service;
use crate::state::AppState;
use crate::views::{search_results, thread_envelope, thread_list};

#[utoipa::path(get, path = "/v1/threads", tag = "threads", params(("is_archived" = Option<bool>, Query, description = "Archived threads only (true) or unarchived only (false, the default)"), ("limit" = Option<u32>, Query, description = "Page size"), ("after" = Option<String>, Query, description = "The last id of the previous page")), responses((status = 200, description = "The workspace's threads, newest first", body = crate::views::ThreadList)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Response> {
    list_in(&state, &caller.scope.project_id, Some(caller.scope.workspace_id.clone()), &query).await
}

/// Lists threads of one workspace, or of the whole project when `workspace_id` is `None`.
pub async fn list_in(
    state: &AppState,
    project_id: &str,
    workspace_id: Option<String>,
    query: &ListQuery,
) -> ApiResult<Response> {
    let threads = state
        .store
        .list_threads(&ThreadListQuery {
            project_id: project_id.to_owned(),
            workspace_id,
            archived: query.archived()?,
            after: query.after().map(str::to_owned),
            limit: page_limit(query.limit.as_deref(), THREAD_PAGE_DEFAULT, THREAD_PAGE_MAX)?,
        })
        .await?;
    Ok(thread_list(&threads))
}

#[utoipa::path(get, path = "/v1/threads/{thread_id}", tag = "threads", responses((status = 200, body = crate::views::ThreadEnvelope), (status = 404, description = "`thread_not_found`")))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(thread_id): ApiPath<String>,
) -> ApiResult<Response> {
    let thread = state
        .store
        .get_thread(&ReadScope::from(&caller.scope), &thread_id)
        .await?
        .ok_or_else(ApiError::thread_not_found)?;
    Ok(thread_envelope(&thread))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateThread {
    last_message_at: Option<String>,
    title: Option<String>,
    #[schema(value_type = Option<serde_json::Value>)]
    metadata: Option<Box<RawValue>>,
    external_id: Option<String>,
    #[serde(default)]
    upsert: bool,
}

#[utoipa::path(post, path = "/v1/threads", tag = "threads", request_body = CreateThread, responses((status = 201, description = "Created", body = crate::openapi::ThreadCreated), (status = 200, description = "An upsert found the thread by `external_id`", body = crate::openapi::ThreadCreated)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateThread>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let now = now_ms();
    let last_message_at = match &body.last_message_at {
        Some(text) => timestamp("last_message_at", text)?,
        None => now,
    };
    if let Some(title) = &body.title {
        text_field("title", title)?;
    }
    if let Some(external_id) = &body.external_id {
        text_field("external_id", external_id)?;
    }
    if body.upsert && body.external_id.is_none() {
        return Err(ApiError::InvalidRequest {
            code: "upsert_requires_external_id",
            message: "upsert requires external_id".into(),
        });
    }
    let new_thread = NewThread {
        id: new_id(IdKind::Thread),
        scope: caller.scope,
        title: body.title,
        metadata: body.metadata.as_deref().map(metadata_text).transpose()?,
        external_id: body.external_id,
        last_message_at,
        now,
        upsert: body.upsert,
    };
    let (thread_id, created) = state.store.create_thread(&new_thread).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(json!({ "thread_id": thread_id }))))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct UpdateThread {
    #[serde(default, deserialize_with = "present")]
    /// `null` removes it.
    #[schema(value_type = Option<String>)]
    title: Option<Option<String>>,
    last_message_at: Option<String>,
    #[serde(default, deserialize_with = "present")]
    /// Any JSON value; `null` removes it.
    #[schema(value_type = Option<serde_json::Value>)]
    metadata: Option<Option<Box<RawValue>>>,
    is_archived: Option<bool>,
}

#[utoipa::path(put, path = "/v1/threads/{thread_id}", tag = "threads", request_body = UpdateThread, responses((status = 200, body = crate::openapi::Empty), (status = 404, description = "`thread_not_found`")))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(thread_id): ApiPath<String>,
    JsonBody(body): JsonBody<UpdateThread>,
) -> ApiResult<Json<serde_json::Value>> {
    if let Some(Some(title)) = &body.title {
        text_field("title", title)?;
    }
    let metadata = match &body.metadata {
        None => None,
        Some(None) => Some(None),
        Some(Some(raw)) => Some(Some(metadata_text(raw)?)),
    };
    let patch = ThreadPatch {
        title: body.title,
        metadata,
        is_archived: body.is_archived,
        last_message_at: body.last_message_at.as_deref().map(|t| timestamp("last_message_at", t)).transpose()?,
    };
    state.store.update_thread(&caller.scope, &thread_id, &patch, now_ms()).await?;
    Ok(Json(json!({})))
}

#[utoipa::path(delete, path = "/v1/threads/{thread_id}", tag = "threads", responses((status = 200, body = crate::openapi::Empty), (status = 404, description = "`thread_not_found`")))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(thread_id): ApiPath<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let files = state.store.delete_thread(&caller.scope, &thread_id).await?;
    crate::service::users::delete_files(state.blobs.as_ref(), &files).await;
    Ok(Json(json!({})))
}

fn timestamp(field: &str, text: &str) -> ApiResult<Millis> {
    parse_timestamp(text).ok_or_else(|| ApiError::invalid(format!("{field} must be an ISO 8601 timestamp")))
}

/// Thread metadata: any JSON value (`null` is "none"), up to a size limit.
fn metadata_text(raw: &RawValue) -> ApiResult<String> {
    let text = raw.get();
    if text.len() > THREAD_METADATA_MAX_BYTES {
        return Err(ApiError::invalid(format!("metadata must be at most {THREAD_METADATA_MAX_BYTES} bytes of JSON")));
    }
    json_depth("metadata", text)?;
    Ok(text.to_owned())
}

#[derive(Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
    limit: Option<String>,
    after: Option<String>,
}

/// `GET /v1/threads/search?q=…[&limit=…][&after=…]`: the caller's threads
/// whose title or message text contains `q` (case-insensitive), newest first,
/// each with the newest matching message and a snippet around the match;
/// `after` (a thread id from the previous page) continues the list.
#[utoipa::path(get, path = "/v1/threads/search", tag = "threads", params(("q" = Option<String>, Query, description = "Text to find (case-insensitive)"), ("limit" = Option<u32>, Query, description = "Page size"), ("after" = Option<String>, Query, description = "The last thread id of the previous page")), responses((status = 200, body = crate::views::SearchResults), (status = 429, description = "`rate_limited`: too many searches")))]
pub async fn search(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<SearchQuery>,
) -> ApiResult<Response> {
    let workspace = format!("{}/{}", caller.scope.project_id, caller.scope.workspace_id);
    state.search_limiter.check(workspace).map_err(ApiError::rate_limited)?;
    let hits = service::search::threads(
        state.store.as_ref(),
        &caller.scope,
        query.q.as_deref(),
        query.limit.as_deref(),
        query.after.as_deref(),
    )
    .await?;
    Ok(search_results(&hits))
}
