//! Who is calling: the `Authorization` header resolved to a user in a
//! workspace of a project, as an axum extractor.

pub mod api_keys;
pub mod tokens;

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use threadhold_domain::ids::validate_principal_id;
use threadhold_domain::model::WorkspaceScope;
use threadhold_domain::now_ms;

use crate::error::{ApiError, ApiResult};
use crate::projects::PathProject;
use crate::state::AppState;

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
        let bearer = bearer_token(&parts.headers)?;
        let caller = if api_keys::looks_like_api_key(bearer) {
            caller_from_api_key(state, bearer, &parts.headers).await?
        } else if bearer.split('.').count() == 3 {
            let claims = state.keys.verify(bearer).await?;
            Caller {
                scope: WorkspaceScope { project_id: claims.project_id, workspace_id: claims.workspace_id },
                user_id: claims.sub,
                credential: if claims.sid.is_some() { Credential::Anonymous } else { Credential::WorkspaceToken },
            }
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
        Ok(caller)
    }
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

async fn caller_from_api_key(state: &AppState, key: &str, headers: &HeaderMap) -> ApiResult<Caller> {
    let project_id = api_keys::project_of(key)
        .ok_or_else(|| ApiError::Forbidden { code: "invalid_api_key", message: "Invalid API key format".into() })?;
    let unknown = || ApiError::Forbidden { code: "invalid_api_key", message: "Unknown or expired API key".into() };
    let record = state.store.api_key_by_hash(&api_keys::hash(key)).await?.ok_or_else(unknown)?;
    let now = now_ms();
    if record.project_id != project_id || !record.is_usable_at(now) {
        return Err(unknown());
    }
    let user_id = principal_header(headers, "aui-user-id")?.unwrap_or(SYSTEM_USER_ID).to_owned();
    let workspace_id = principal_header(headers, "aui-workspace-id")?
        .ok_or_else(|| ApiError::Forbidden {
            code: "invalid_workspace_id",
            message: "Aui-Workspace-Id header is required with an API key".into(),
        })?
        .to_owned();
    if record.last_used_at.is_none_or(|used| now - used > 60_000) {
        state.store.touch_api_key(&record.id, now).await?;
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
