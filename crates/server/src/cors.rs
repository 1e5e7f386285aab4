//! CORS for browser clients, and the `Cache-Control` of workspace data.
//!
//! The allowed-origins list of the project a request acts on decides: for an
//! attachment URL the project in its key, else the project in the path
//! (`/projects/<id>/…`; a credential of another project is refused there), else
//! the project of the credential (an API key's, or one of threadhold's own
//! tokens'), else the default project. An empty list allows every origin (`*`, the client never
//! sends credentials), otherwise the request's origin is reflected when it
//! matches an entry. `https://*.example.com` matches strictly deeper subdomains
//! on the same scheme and port.
//!
//! A request whose `Origin` the list refuses is answered `403 origin_not_allowed`
//! before it runs (a browser would hide the answer, but must not cause the
//! effect). A preflight carries no credential, so it follows its path alone: at
//! the root the default project's list (the attachment's project for a file
//! URL), under `/projects/<id>/` that project's; refused, it gets no
//! `Access-Control-Allow-Origin`. A root preflight passed that way lets nothing
//! through: the request after it is checked against its credential's project.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use threadhold_domain::attachments::{FILES_PATH, KEY_PREFIX};
use threadhold_domain::ids::validate_project_id;
use threadhold_domain::model::DEFAULT_PROJECT_ID;

use crate::auth;
use crate::error::ApiError;
use crate::projects::PathProject;
use crate::state::AppState;

const ALLOW_METHODS: &str = "GET, POST, PUT, DELETE, OPTIONS";
const ALLOW_HEADERS: &str = "authorization, content-type, aui-sdk, aui-user-id, aui-workspace-id, accept";
const MAX_AGE_SECS: &str = "600";

/// True when `origin` is allowed by `pattern` (an exact origin or a `*.` wildcard host).
pub fn origin_matches(pattern: &str, origin: &str) -> bool {
    if pattern == origin {
        return true;
    }
    let Some((scheme, rest)) = pattern.split_once("://*.") else {
        return false;
    };
    let Some(origin_rest) = origin.strip_prefix(scheme).and_then(|o| o.strip_prefix("://")) else {
        return false;
    };
    // Same port on both sides (or none on both), then a strictly deeper host.
    let (suffix, port) = split_port(rest);
    let (host, origin_port) = split_port(origin_rest);
    port == origin_port
        && host.len() > suffix.len() + 1
        && host.ends_with(suffix)
        && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
}

fn split_port(host_port: &str) -> (&str, Option<&str>) {
    match host_port.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => (host, Some(port)),
        _ => (host_port, None),
    }
}

/// The project whose allowed origins govern a browser request (see the module doc).
fn governing_project(request: &Request) -> String {
    // An attachment belongs to the project in its key, whichever path reaches it.
    let path = request.uri().path();
    let file_key = path.strip_prefix("/files/upload/").or_else(|| path.strip_prefix(FILES_PATH));
    if let Some(project) = file_key.and_then(project_of_key) {
        return project.to_owned();
    }
    if let Some(PathProject(project)) = request.extensions().get::<PathProject>() {
        return project.clone();
    }
    auth::credential_project(request.headers()).unwrap_or_else(|| DEFAULT_PROJECT_ID.to_owned())
}

/// `attachments/<project>/…` → `<project>`.
fn project_of_key(key: &str) -> Option<&str> {
    let project = key.strip_prefix(KEY_PREFIX)?.split('/').next()?;
    validate_project_id(project).ok().map(|()| project)
}

/// What the allowed origins say about a request's `Origin`.
enum Verdict {
    /// No `Origin`: not a cross-origin browser request.
    NoOrigin,
    Allowed {
        allow_origin: HeaderValue,
        varies: bool,
    },
    Refused,
    /// The list could not be read: the request fails closed.
    Unknown(ApiError),
}

async fn verdict(state: &AppState, project_id: &str, origin: &HeaderValue) -> Verdict {
    let origins = match state.projects.get(state, project_id).await {
        Ok(project) => project.map(|p| p.allowed_origins.clone()).unwrap_or_default(),
        Err(error) => {
            tracing::warn!(%error, "could not load allowed origins");
            return Verdict::Unknown(error);
        }
    };
    if origins.is_empty() {
        return Verdict::Allowed { allow_origin: HeaderValue::from_static("*"), varies: false };
    }
    let text = origin.to_str().unwrap_or_default();
    if origins.iter().any(|pattern| origin_matches(pattern, text)) {
        Verdict::Allowed { allow_origin: origin.clone(), varies: true }
    } else {
        Verdict::Refused
    }
}

pub async fn cors(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let origin = request.headers().get(header::ORIGIN).cloned();
    let preflight =
        request.method() == Method::OPTIONS && request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    // A preflight never carries a credential, so it is governed by its path alone.
    // Only a request with an `Origin` needs its project (finding it reads the credential).
    let verdict = match &origin {
        Some(origin) => {
            let project_id = governing_project(&request);
            verdict(&state, &project_id, origin).await
        }
        None => Verdict::NoOrigin,
    };
    let (allow_origin, varies) = match &verdict {
        Verdict::Allowed { allow_origin, varies } => (Some(allow_origin.clone()), *varies),
        Verdict::Refused => (None, true),
        Verdict::NoOrigin | Verdict::Unknown(_) => (None, false),
    };
    let mut response = match verdict {
        Verdict::Unknown(error) => error.into_response(),
        _ if preflight => StatusCode::NO_CONTENT.into_response(),
        Verdict::Refused => {
            let origin = origin.as_ref().and_then(|o| o.to_str().ok()).unwrap_or("(not text)");
            ApiError::Forbidden {
                code: "origin_not_allowed",
                message: format!("Requests from {origin} are not allowed for this project"),
            }
            .into_response()
        }
        Verdict::NoOrigin | Verdict::Allowed { .. } => next.run(request).await,
    };
    let headers = response.headers_mut();
    if let Some(allow_origin) = allow_origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        if preflight {
            headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(ALLOW_METHODS));
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(ALLOW_HEADERS));
            headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE_SECS));
        } else {
            headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("Authorization"));
        }
    }
    if varies {
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    // Workspace data must never sit in a shared cache.
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::origin_matches;

    #[test]
    fn wildcards() {
        assert!(origin_matches("https://app.example.com", "https://app.example.com"));
        assert!(origin_matches("https://*.example.com", "https://a.example.com"));
        assert!(origin_matches("https://*.example.com", "https://a.b.example.com"));
        assert!(!origin_matches("https://*.example.com", "https://example.com"));
        assert!(!origin_matches("https://*.example.com", "http://a.example.com"));
        assert!(!origin_matches("https://*.example.com", "https://a.example.com:8443"));
        assert!(!origin_matches("https://*.example.com", "https://evilexample.com"));
        assert!(!origin_matches("https://*.example.com", "https://a.example.com.evil.io"));
        assert!(origin_matches("http://*.localhost:3000", "http://a.localhost:3000"));
        assert!(!origin_matches("http://*.localhost:3000", "http://a.localhost:3001"));
    }
}
