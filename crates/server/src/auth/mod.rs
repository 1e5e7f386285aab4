//! Who is calling: the `Authorization` header resolved to a user in a
//! workspace of a project, as an axum extractor.

pub mod api_keys;
pub mod credentials;
pub mod providers;
pub mod tokens;

use std::sync::{Arc, Mutex};

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use threadhold_auth::compact;
use threadhold_domain::dashboard::UserSighting;
use threadhold_domain::ids::validate_principal_id;
use threadhold_domain::model::{ApiKey, WorkspaceScope};
use threadhold_domain::now_ms;

use crate::error::{ApiError, ApiResult};
use crate::projects::{self, PathProject};
use crate::state::AppState;
use credentials::KnownKey;

/// The user an API-key request acts as when it sends no `Aui-User-Id`.
pub const SYSTEM_USER_ID: &str = "__SYSTEM__";

/// How the caller proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// A backend API key plus `Aui-User-Id` / `Aui-Workspace-Id` headers.
    ApiKey,
    /// A workspace token this server signed.
    WorkspaceToken,
    /// An anonymous identity's access token.
    Anonymous,
    /// An identity provider's token, accepted by an auth rule.
    Provider,
}

/// An authenticated request: a user acting in one workspace of one project.
#[derive(Debug, Clone)]
pub struct Caller {
    pub scope: WorkspaceScope,
    pub user_id: String,
    pub credential: Credential,
}

impl Caller {
    /// Refuses callers that are not a backend holding an API key.
    pub fn require_api_key(&self, what: &str) -> ApiResult<()> {
        if self.credential == Credential::ApiKey {
            Ok(())
        } else {
            Err(ApiError::Forbidden {
                code: "api_key_required",
                message: format!("{what} requires an API key (it may only be called from a backend)"),
            })
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        state.follow_local_settings();
        let bearer = bearer_token(&parts.headers)?;
        let (caller, display_name) = if api_keys::looks_like_api_key(bearer) {
            (caller_from_api_key(state, bearer, &parts.headers, parts.uri.path()).await?, None)
        } else if bearer.contains('.') {
            caller_from_jwt(state, bearer, parts).await?
        } else {
            return Err(ApiError::Forbidden {
                code: "invalid_credential",
                message: "The bearer value is neither an API key nor a JWT".into(),
            });
        };
        // Under `/projects/<id>/…` a credential of another project is refused.
        if let Some(PathProject(project)) = parts.extensions.get::<PathProject>()
            && *project != caller.scope.project_id
        {
            return Err(ApiError::Forbidden {
                code: "project_mismatch",
                message: "The credential belongs to another project than the one addressed".into(),
            });
        }
        if caller.user_id != SYSTEM_USER_ID {
            state.users.note(
                &state.store,
                UserSighting {
                    project_id: caller.scope.project_id.clone(),
                    user_id: caller.user_id.clone(),
                    workspace_id: caller.scope.workspace_id.clone(),
                    display_name,
                    anonymous: caller.credential == Credential::Anonymous,
                    at: now_ms(),
                },
            );
        }
        Ok(caller)
    }
}

/// A JWT: threadhold's own tokens by their `urn:threadhold:` issuer, anything
/// else through the addressed project's auth rules (then, by default, the
/// response hands back a cheaper threadhold token for the same caller).
///
/// A token verified before for the same project is answered from the
/// credential cache until it expires. Also returns the display name a provider
/// token carried (a rule's name claim), for the users registry.
async fn caller_from_jwt(state: &AppState, bearer: &str, parts: &Parts) -> ApiResult<(Caller, Option<String>)> {
    let project_id = projects::addressed(&parts.extensions);
    let (caller, display_name) = match state.credentials.token(project_id, bearer) {
        Some(verified) => verified,
        None => verify_jwt(state, bearer, project_id).await?,
    };
    if caller.credential == Credential::Provider
        && state.config.token_exchange
        && let Some(slot) = parts.extensions.get::<ExchangeSlot>()
    {
        slot.offer(&caller);
    }
    Ok((caller, display_name))
}

async fn verify_jwt(state: &AppState, bearer: &str, project_id: &str) -> ApiResult<(Caller, Option<String>)> {
    let token = compact::parse(bearer)?;
    let issuer = token.issuer().unwrap_or_default();
    let now_secs = now_ms() / 1000;
    let (verified, exp) = if issuer.starts_with(tokens::ISSUER_PREFIX) {
        let claims = state.keys.verify(&token).await?;
        let caller = Caller {
            scope: WorkspaceScope { project_id: claims.project_id, workspace_id: claims.workspace_id },
            user_id: claims.sub,
            credential: if claims.sid.is_some() { Credential::Anonymous } else { Credential::WorkspaceToken },
        };
        ((caller, None), claims.exp)
    } else {
        let identity = state.verifier.verify(project_id, &token, now_secs).await?;
        let caller = Caller {
            scope: WorkspaceScope { project_id: project_id.to_owned(), workspace_id: identity.workspace_id },
            user_id: identity.user_id,
            credential: Credential::Provider,
        };
        // Verified tokens carry a numeric `exp` (the pipeline requires one).
        let exp = token.claims.get("exp").and_then(serde_json::Value::as_f64).map_or(0, |exp| exp as i64);
        ((caller, identity.display_name), exp)
    };
    state.credentials.remember_token(project_id, bearer, &verified, exp, now_secs);
    Ok(verified)
}

/// Where the extractor leaves the caller a provider token proved, so that the
/// response can carry a threadhold token for it in `Authorization` (the client
/// then uses it instead of the provider token).
#[derive(Clone, Default)]
pub struct ExchangeSlot(Arc<Mutex<Option<(WorkspaceScope, String)>>>);

impl ExchangeSlot {
    fn offer(&self, caller: &Caller) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some((caller.scope.clone(), caller.user_id.clone()));
        }
    }

    fn take(&self) -> Option<(WorkspaceScope, String)> {
        self.0.lock().ok().and_then(|mut slot| slot.take())
    }
}

/// Middleware: answers a request a provider token made with
/// `Authorization: Bearer <threadhold token>`, minted only once the request
/// succeeded (a refused or failed request never hands out a token).
pub async fn exchange_tokens(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let slot = ExchangeSlot::default();
    request.extensions_mut().insert(slot.clone());
    let mut response = next.run(request).await;
    let Some((scope, user_id)) = slot.take() else { return response };
    if !response.status().is_success() {
        return response;
    }
    match state.keys.mint(&scope, &user_id, None, state.config.workspace_token_ttl_secs).await {
        Ok(token) => {
            if let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}")) {
                response.headers_mut().insert(axum::http::header::AUTHORIZATION, value);
            }
        }
        Err(error) => tracing::warn!(%error, "could not mint an exchange token"),
    }
    response
}

/// The project a request's credential belongs to, read without verifying it
/// (for CORS, which must follow the project the request would act on; a
/// forged credential is refused later anyway): an API key's project, or the
/// project of one of threadhold's own tokens. `None` without a credential, or
/// for an identity provider's token (which acts in the addressed project).
pub fn credential_project(headers: &HeaderMap) -> Option<String> {
    let bearer = bearer_token(headers).ok()?;
    if api_keys::looks_like_api_key(bearer) {
        return api_keys::project_of(bearer).map(str::to_owned);
    }
    let token = compact::parse(bearer).ok()?;
    token.issuer()?.strip_prefix(tokens::ISSUER_PREFIX).map(str::to_owned)
}

/// The token of `Authorization: Bearer <token>` (scheme compared case-insensitively).
fn bearer_token(headers: &HeaderMap) -> ApiResult<&str> {
    let value = headers.get(axum::http::header::AUTHORIZATION).ok_or_else(|| ApiError::Unauthenticated {
        code: "missing_authorization",
        message: "Authorization header is missing".into(),
    })?;
    let scheme_error = || ApiError::Unauthenticated {
        code: "invalid_authorization",
        message: "Authorization header must be \"Bearer <token>\"".into(),
    };
    let value = value.to_str().map_err(|_| scheme_error())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(scheme_error)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(scheme_error());
    }
    Ok(token)
}

/// The OTLP trace route, and the workspace its API-key requests act in without `Aui-Workspace-Id`.
const TRACES_PATH: &str = "/v1/traces";
pub const TRACES_WORKSPACE_ID: &str = "__OTLP__";
/// The project-wide routes (they read or erase across workspaces), and the
/// workspace their API-key requests act in without `Aui-Workspace-Id`.
const PROJECT_PATHS: &str = "/v1/projects/";
pub const PROJECT_WORKSPACE_ID: &str = "__PROJECT__";

/// Where an API key needs no `Aui-Workspace-Id`, the workspace it then acts in.
fn default_workspace(path: &str) -> Option<&'static str> {
    if path == TRACES_PATH {
        Some(TRACES_WORKSPACE_ID)
    } else if path.starts_with(PROJECT_PATHS) {
        Some(PROJECT_WORKSPACE_ID)
    } else {
        None
    }
}

async fn caller_from_api_key(state: &AppState, key: &str, headers: &HeaderMap, path: &str) -> ApiResult<Caller> {
    let project_id = api_keys::project_of(key)
        .ok_or_else(|| ApiError::Forbidden { code: "invalid_api_key", message: "Invalid API key format".into() })?;
    let unknown = || ApiError::Forbidden { code: "invalid_api_key", message: "Unknown or expired API key".into() };
    let secret_hash = api_keys::hash(key);
    let record = match state.credentials.api_key(&secret_hash) {
        KnownKey::Found(record) => record,
        KnownKey::Unknown => return Err(unknown()),
        KnownKey::NotCached => {
            let record = state.store.api_key_by_hash(&secret_hash).await?;
            state.credentials.remember_api_key(&secret_hash, record.as_ref());
            record.ok_or_else(unknown)?
        }
    };
    let now = now_ms();
    if record.project_id != project_id || !record.is_usable_at(now) {
        return Err(unknown());
    }
    let user_id = principal_header(headers, "aui-user-id")?.unwrap_or(SYSTEM_USER_ID).to_owned();
    // The trace exporter sends no Aui headers (its spans land in a workspace of
    // their own), and project-wide routes read every workspace.
    let workspace_id = principal_header(headers, "aui-workspace-id")?
        .or(default_workspace(path))
        .ok_or_else(|| ApiError::Forbidden {
            code: "invalid_workspace_id",
            message: "Aui-Workspace-Id header is required with an API key".into(),
        })?
        .to_owned();
    if record.last_used_at.is_none_or(|used| now - used > 60_000) {
        state.store.touch_api_key(&record.id, now).await?;
        let touched = ApiKey { last_used_at: Some(now), ..record.clone() };
        state.credentials.remember_api_key(&secret_hash, Some(&touched));
    }
    Ok(Caller {
        scope: WorkspaceScope { project_id: record.project_id, workspace_id },
        user_id,
        credential: Credential::ApiKey,
    })
}

/// An `Aui-User-Id` / `Aui-Workspace-Id` value, checked verbatim (never trimmed).
fn principal_header<'a>(headers: &'a HeaderMap, name: &'static str) -> ApiResult<Option<&'a str>> {
    let Some(value) = headers.get(name) else {
        return Ok(None);
    };
    let invalid = || ApiError::Forbidden {
        code: if name == "aui-user-id" { "invalid_user_id" } else { "invalid_workspace_id" },
        message: format!("Invalid {name} header: 1-255 characters without whitespace or control characters"),
    };
    let value = value.to_str().map_err(|_| invalid())?;
    validate_principal_id(value).map_err(|_| invalid())?;
    Ok(Some(value))
}
