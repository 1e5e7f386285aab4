//! Anonymous mode: `POST /v1/auth/tokens/anonymous` mints a per-browser
//! identity, `POST /v1/auth/tokens/refresh` rotates its refresh token, and
//! `POST /v1/threads/claim` moves its threads to a signed-in user.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};
use threadhold_domain::ids::{IdKind, new_id, random_secret};
use threadhold_domain::model::{AnonymousSession, ClaimOutcome, RefreshOutcome, RefreshRefusal, WorkspaceScope};
use threadhold_domain::{format_ms, now_ms};

use crate::auth::{Caller, Credential, api_keys};
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::projects::AddressedProject;
use crate::rate_limit::RateLimiter;
use crate::state::AppState;

const REFRESH_TOKEN_PREFIX: &str = "refresh_";
/// 43 base62 characters: about 256 bits.
const REFRESH_SECRET_CHARS: usize = 43;

#[utoipa::path(post, path = "/v1/auth/tokens/anonymous", tag = "auth", responses((status = 200, body = crate::openapi::AnonymousSession), (status = 403, description = "Anonymous access is off for this project"), (status = 429, description = "`rate_limited`")))]
pub async fn mint(
    State(state): State<AppState>,
    AddressedProject(project_id): AddressedProject,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    ensure_open(&state, &project_id).await?;
    limit(&state, &state.mint_limiter, peer, &headers)?;
    let now = now_ms();
    let session = AnonymousSession {
        id: new_id(IdKind::AnonymousSession),
        project_id,
        user_id: new_id(IdKind::AnonymousUser),
        created_at: now,
        expires_at: now + state.config.anonymous.refresh.ttl_ms,
    };
    let refresh_token = new_refresh_token();
    state.store.create_anonymous_session(&session, &api_keys::hash(&refresh_token)).await?;
    tracing::debug!(session = %session.id, "anonymous identity created");
    session_response(&state, &session, &refresh_token).await
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RefreshBody {
    refresh_token: Option<String>,
}

#[utoipa::path(post, path = "/v1/auth/tokens/refresh", tag = "auth", request_body = RefreshBody, responses((status = 200, body = crate::openapi::AnonymousSession), (status = 401, description = "The refresh token is unknown, expired or reused"), (status = 429, description = "`rate_limited`")))]
pub async fn refresh(
    State(state): State<AppState>,
    AddressedProject(project_id): AddressedProject,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<RefreshBody>,
) -> ApiResult<Json<Value>> {
    let presented = required_token(body.refresh_token)?;
    ensure_open(&state, &project_id).await?;
    limit(&state, &state.refresh_limiter, peer, &headers)?;
    let next = new_refresh_token();
    let outcome = state
        .store
        .refresh_anonymous_session(
            &project_id,
            &api_keys::hash(&presented),
            &api_keys::hash(&next),
            now_ms(),
            state.config.anonymous.refresh,
        )
        .await?;
    match outcome {
        RefreshOutcome::Refreshed(session) => session_response(&state, &session, &next).await,
        RefreshOutcome::Refused(refusal) => {
            if refusal == RefreshRefusal::Reused {
                tracing::warn!("refresh token reused outside the grace window: session revoked");
            }
            Err(refused(refusal))
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ClaimBody {
    refresh_token: Option<String>,
}

#[utoipa::path(post, path = "/v1/threads/claim", tag = "auth", request_body = ClaimBody, responses((status = 200, body = crate::openapi::Claimed), (status = 403, description = "`anonymous_cannot_claim`")))]
pub async fn claim(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<ClaimBody>,
) -> ApiResult<Json<Value>> {
    if caller.credential == Credential::Anonymous {
        return Err(ApiError::Forbidden {
            code: "anonymous_cannot_claim",
            message: "Anonymous sessions cannot claim threads; sign in first".into(),
        });
    }
    let presented = required_token(body.refresh_token)?;
    let outcome = state
        .store
        .claim_anonymous_threads(&api_keys::hash(&presented), &caller.scope, now_ms(), state.config.anonymous.refresh)
        .await?;
    match outcome {
        ClaimOutcome::Moved(moved) => Ok(Json(json!({ "moved": moved }))),
        ClaimOutcome::Refused(refusal) => Err(refused(refusal)),
    }
}

fn new_refresh_token() -> String {
    format!("{REFRESH_TOKEN_PREFIX}{}", random_secret(REFRESH_SECRET_CHARS))
}

fn required_token(token: Option<String>) -> ApiResult<String> {
    let token = token.filter(|t| !t.is_empty()).ok_or_else(|| ApiError::invalid("refresh_token is required"))?;
    if !token.starts_with(REFRESH_TOKEN_PREFIX) {
        return Err(refused(RefreshRefusal::Unknown));
    }
    Ok(token)
}

/// 403 for every refusal: the client then starts a new identity (429 and 5xx would keep it).
fn refused(refusal: RefreshRefusal) -> ApiError {
    let message = match refusal {
        RefreshRefusal::Unknown => "Invalid refresh token",
        RefreshRefusal::Expired => "The refresh token has expired",
        RefreshRefusal::Revoked => "The refresh token has been revoked",
        RefreshRefusal::Reused => "The refresh token was already used; its session is revoked",
    };
    ApiError::Forbidden { code: "invalid_refresh_token", message: message.into() }
}

async fn ensure_open(state: &AppState, project_id: &str) -> ApiResult<()> {
    let project = state.projects.require(state, project_id).await?;
    if state.config.anonymous.enabled && project.anonymous_enabled {
        Ok(())
    } else {
        Err(ApiError::Forbidden { code: "anonymous_disabled", message: "Anonymous access is not allowed".into() })
    }
}

fn limit(state: &AppState, limiter: &RateLimiter, peer: SocketAddr, headers: &HeaderMap) -> ApiResult<()> {
    let client = state.config.client_ip.client_ip(peer.ip(), headers);
    limiter.check(client).map_err(ApiError::rate_limited)
}

async fn session_response(state: &AppState, session: &AnonymousSession, refresh_token: &str) -> ApiResult<Json<Value>> {
    let scope = WorkspaceScope { project_id: session.project_id.clone(), workspace_id: session.user_id.clone() };
    let access_token = state
        .keys
        .mint(&scope, &session.user_id, Some(&session.id), state.config.anonymous.access_token_ttl_secs)
        .await?;
    Ok(Json(json!({
        "access_token": access_token,
        "refresh_token": { "token": refresh_token, "expires_at": format_ms(session.expires_at) },
    })))
}
