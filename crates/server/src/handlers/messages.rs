//! `/v1/threads/{thread_id}/messages`: list, create, update, delete, feedback.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;
use threadhold_domain::attachments;
use threadhold_domain::ids::{IdKind, new_id};
use threadhold_domain::limits::{
    DELETE_MESSAGES_MAX, MESSAGE_CONTENT_MAX_BYTES, MESSAGE_PAGE_DEFAULT, MESSAGE_PAGE_MAX,
};
use threadhold_domain::model::{FeedbackKind, LeaseTarget, MessageBody, MessageWrite, NewMessage, ParentRef};
use threadhold_domain::now_ms;
use threadhold_domain::runs::END_REASONS;
use threadhold_domain::search::search_text;
use threadhold_domain::title::{message_role, message_text, title_from_text};
use threadhold_store::ReadScope;

use super::{ListQuery, json_depth, page_limit, text_field};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiPath, ApiQuery, JsonBody};
use crate::service;
use crate::state::AppState;
use crate::views::message_list;

#[utoipa::path(get, path = "/v1/threads/{thread_id}/messages", tag = "threads", params(("limit" = Option<u32>, Query, description = "Page size"), ("after" = Option<String>, Query, description = "The last message id of the previous page"), ("format" = Option<String>, Query, description = "Convert compatible messages to this format (aui/v0, ai-sdk/v5, ai-sdk/v6)")), responses((status = 200, body = crate::views::MessageList), (status = 404, description = "`thread_not_found`")))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(thread_id): ApiPath<String>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Response> {
    list_in(&state, ReadScope::from(&caller.scope), &thread_id, &query).await
}

/// A page of messages, converted to the requested `format`; a thread outside
/// `scope` reads as empty (not 404), as the contract says.
pub async fn list_in(state: &AppState, scope: ReadScope, thread_id: &str, query: &ListQuery) -> ApiResult<Response> {
    let limit = page_limit(query.limit.as_deref(), MESSAGE_PAGE_DEFAULT, MESSAGE_PAGE_MAX)?;
    let messages =
        service::messages::page(state.store.as_ref(), &scope, thread_id, query.after(), limit, query.format()).await?;
    Ok(message_list(&messages))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateMessage {
    parent_id: Option<String>,
    parent_external_id: Option<String>,
    format: String,
    #[schema(value_type = serde_json::Value)]
    content: Box<RawValue>,
    external_id: Option<String>,
    /// Open a run lease on the new message (the client only ever sends `true`).
    #[serde(default)]
    open_run: bool,
    /// Write as the holder of this lease (an external-id upsert by the holder).
    lease_id: Option<String>,
}

#[utoipa::path(post, path = "/v1/threads/{thread_id}/messages", tag = "threads", request_body = CreateMessage, responses((status = 201, description = "Created", body = crate::openapi::MessageCreated), (status = 200, description = "An existing message (by `external_id`) was written", body = crate::openapi::MessageCreated), (status = 404, description = "`thread_not_found`"), (status = 409, description = "The run lease is held by another writer")))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(thread_id): ApiPath<String>,
    JsonBody(body): JsonBody<CreateMessage>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    text_field("format", &body.format)?;
    if let Some(external_id) = &body.external_id {
        text_field("external_id", external_id)?;
    }
    if let Some(parent_external_id) = &body.parent_external_id {
        text_field("parent_external_id", parent_external_id)?;
    }
    let content = checked_content(&body.content)?;
    let parsed: serde_json::Value = serde_json::from_str(&content).unwrap_or_default();
    let role = message_role(&parsed).map(str::to_owned);
    let search_text = search_text(&parsed);
    let parent = match (body.parent_external_id, body.parent_id) {
        (Some(external_id), _) => ParentRef::External(external_id),
        // Only server message ids name a parent; a client's local id is coerced to a root.
        (None, Some(parent_id)) if parent_id.starts_with(IdKind::Message.prefix()) => ParentRef::Id(parent_id),
        (None, _) => ParentRef::Root,
    };
    let now = now_ms();
    if let Some(lease_id) = body.lease_id {
        // A create by a lease holder: the message with this external id, written under the lease.
        let external_id =
            body.external_id.ok_or_else(|| ApiError::invalid("a create with lease_id needs external_id"))?;
        let target = LeaseTarget::External(external_id);
        let written = MessageBody { content, search_text };
        let message_id =
            state.store.write_as_lease_holder(&caller.scope, &thread_id, &target, &lease_id, &written, now).await?;
        link_attachments(&state, &caller, &thread_id, &written.content).await?;
        return Ok((StatusCode::OK, Json(json!({ "message_id": message_id }))));
    }
    // The first user message of an untitled thread titles it (the store checks "untitled").
    let auto_title = (role.as_deref() == Some("user")).then(|| title_from_text(&message_text(&parsed))).flatten();
    let open_lease = body.open_run.then(|| new_id(IdKind::RunLease));
    let message = NewMessage {
        id: new_id(IdKind::Message),
        thread_id,
        parent,
        format: body.format,
        content,
        search_text,
        role,
        external_id: body.external_id,
        auto_title,
        open_lease: open_lease.clone(),
        now,
    };
    let write = state.store.create_message(&caller.scope, &message).await?;
    link_attachments(&state, &caller, &message.thread_id, &message.content).await?;
    if message.role.as_deref() == Some("user") && matches!(write, MessageWrite::Created(_)) {
        // With a title model, it replaces the built-in title in the background.
        service::titles::user_message_stored(&state, &caller.scope, &message.thread_id).await;
    }
    let status = if matches!(write, MessageWrite::Created(_)) { StatusCode::CREATED } else { StatusCode::OK };
    // `lease_id` only when a lease was opened: the client treats even `null` as a lease.
    let body = match open_lease {
        Some(lease_id) => json!({
            "message_id": write.message_id(),
            "lease_id": lease_id,
            "heartbeat_interval_ms": state.config.leases.heartbeat_interval_ms,
        }),
        None => json!({ "message_id": write.message_id() }),
    };
    Ok((status, Json(body)))
}

/// Message content must be a JSON object within the size limit.
fn checked_content(raw: &RawValue) -> ApiResult<String> {
    let text = raw.get();
    if !text.starts_with('{') {
        return Err(ApiError::invalid("content must be a JSON object"));
    }
    if text.len() > MESSAGE_CONTENT_MAX_BYTES {
        return Err(ApiError::InvalidRequest {
            code: "content_too_large",
            message: format!("content must be at most {MESSAGE_CONTENT_MAX_BYTES} bytes of JSON"),
        });
    }
    json_depth("content", text)?;
    Ok(text.to_owned())
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct UpdateMessage {
    #[schema(value_type = serde_json::Value)]
    content: Box<RawValue>,
    lease_id: Option<String>,
}

#[utoipa::path(put, path = "/v1/threads/{thread_id}/messages/{message_id}", tag = "threads", request_body = UpdateMessage, responses((status = 200, body = crate::openapi::Empty), (status = 404, description = "`message_not_found`"), (status = 409, description = "The run lease is held by another writer")))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((thread_id, message_id)): ApiPath<(String, String)>,
    JsonBody(body): JsonBody<UpdateMessage>,
) -> ApiResult<Json<serde_json::Value>> {
    let content = MessageBody::new(checked_content(&body.content)?);
    let now = now_ms();
    match body.lease_id {
        Some(lease_id) => {
            let target = LeaseTarget::Id(message_id);
            state.store.write_as_lease_holder(&caller.scope, &thread_id, &target, &lease_id, &content, now).await?;
        }
        None => {
            let leases = state.config.leases;
            state.store.update_message_content(&caller.scope, &thread_id, &message_id, &content, now, leases).await?;
        }
    }
    link_attachments(&state, &caller, &thread_id, &content.content).await?;
    Ok(Json(json!({})))
}

/// Files referenced from a stored message belong to its thread from then on
/// (and are deleted with it).
async fn link_attachments(state: &AppState, caller: &Caller, thread_id: &str, content: &str) -> ApiResult<()> {
    let keys = attachments::keys_in(content);
    if !keys.is_empty() {
        state.store.link_attachments(&caller.scope, thread_id, &keys).await?;
    }
    Ok(())
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct DeleteMessages {
    message_ids: Vec<String>,
}

#[utoipa::path(delete, path = "/v1/threads/{thread_id}/messages", tag = "threads", request_body = DeleteMessages, responses((status = 200, body = crate::openapi::Empty), (status = 404, description = "`thread_not_found`")))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(thread_id): ApiPath<String>,
    JsonBody(body): JsonBody<DeleteMessages>,
) -> ApiResult<Json<serde_json::Value>> {
    if body.message_ids.is_empty() || body.message_ids.len() > DELETE_MESSAGES_MAX {
        return Err(ApiError::invalid(format!("message_ids must hold 1 to {DELETE_MESSAGES_MAX} ids")));
    }
    for id in &body.message_ids {
        text_field("message_ids[]", id)?;
    }
    let deleted = state.store.delete_messages(&caller.scope, &thread_id, &body.message_ids).await?;
    if deleted == 0 {
        return Err(ApiError::NotFound { code: "messages_not_found", message: "Messages not found".into() });
    }
    Ok(Json(json!({})))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct FeedbackBody {
    #[serde(rename = "type")]
    kind: String,
    comment: Option<String>,
}

#[utoipa::path(post, path = "/v1/threads/{thread_id}/messages/{message_id}/feedback", tag = "threads", request_body = FeedbackBody, responses((status = 200, body = crate::openapi::FeedbackStored), (status = 404, description = "`message_not_found`")))]
pub async fn feedback(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((thread_id, message_id)): ApiPath<(String, String)>,
    JsonBody(body): JsonBody<FeedbackBody>,
) -> ApiResult<Json<serde_json::Value>> {
    let kind = FeedbackKind::parse(&body.kind)
        .ok_or_else(|| ApiError::invalid("type must be \"positive\" or \"negative\""))?;
    let comment = body.comment.as_deref().map(str::trim).filter(|c| !c.is_empty());
    if comment.is_some_and(|c| c.chars().count() > 4096) {
        return Err(ApiError::invalid("comment must be at most 4096 characters"));
    }
    let stored = state
        .store
        .upsert_feedback(&caller.scope, &thread_id, &message_id, &caller.user_id, kind, comment, now_ms())
        .await?;
    Ok(Json(json!({ "feedback_id": stored.id, "type": stored.kind.as_str(), "comment": stored.comment })))
}

/// `POST /v1/threads/{thread_id}/runs/{lease_id}/heartbeat`.
#[utoipa::path(post, path = "/v1/threads/{thread_id}/runs/{lease_id}/heartbeat", tag = "runs", responses((status = 200, body = crate::openapi::Heartbeat), (status = 404, description = "No such lease"), (status = 409, description = "The lease ended or was taken over")))]
pub async fn heartbeat(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((thread_id, lease_id)): ApiPath<(String, String)>,
) -> ApiResult<Json<serde_json::Value>> {
    state.store.heartbeat_run(&caller.scope, &thread_id, &lease_id, now_ms()).await?;
    Ok(Json(json!({ "heartbeat_interval_ms": state.config.leases.heartbeat_interval_ms })))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct EndRun {
    reason: Option<String>,
}

/// `POST /v1/threads/{thread_id}/runs/{lease_id}/end`: idempotent, the first reason stays.
#[utoipa::path(post, path = "/v1/threads/{thread_id}/runs/{lease_id}/end", tag = "runs", request_body = EndRun, responses((status = 200, body = crate::openapi::Empty), (status = 404, description = "No such lease")))]
pub async fn end_run(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((thread_id, lease_id)): ApiPath<(String, String)>,
    JsonBody(body): JsonBody<EndRun>,
) -> ApiResult<Json<serde_json::Value>> {
    let reason = body.reason.as_deref().unwrap_or("done");
    if !END_REASONS.contains(&reason) {
        return Err(ApiError::invalid("reason must be done, cancelled or error"));
    }
    state.store.end_run(&caller.scope, &thread_id, &lease_id, reason, now_ms()).await?;
    Ok(Json(json!({})))
}
