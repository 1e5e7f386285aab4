//! CORS for browser clients, and the `Cache-Control` of workspace data.
//!
//! The addressed project's allowed-origins list decides: empty allows every origin (`*`,
//! the client never sends credentials), otherwise the request's origin is
//! reflected when it matches an entry. `https://*.example.com` matches strictly
//! deeper subdomains on the same scheme and port. A refused origin simply gets
//! no `Access-Control-Allow-Origin`.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::projects;
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

pub async fn cors(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let origin = request.headers().get(header::ORIGIN).cloned();
    let preflight =
        request.method() == Method::OPTIONS && request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    // `Vary: Origin` whenever the answer depends on the origin (a restricted list).
    let (allow_origin, varies) = match &origin {
        None => (None, false),
        Some(origin) => {
            let project_id = projects::addressed(request.extensions());
            let origins = match state.projects.get(&state, project_id).await {
                Ok(project) => project.map(|p| p.allowed_origins.clone()).unwrap_or_default(),
                Err(error) => {
                    // Fail closed: without the list, no origin is allowed.
                    tracing::warn!(%error, "could not load allowed origins");
                    vec![String::new()]
                }
            };
            if origins.is_empty() {
                (Some(HeaderValue::from_static("*")), false)
            } else {
                let text = origin.to_str().unwrap_or_default();
                (origins.iter().any(|pattern| origin_matches(pattern, text)).then(|| origin.clone()), true)
            }
        }
    };
    let mut response = if preflight { StatusCode::NO_CONTENT.into_response() } else { next.run(request).await };
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
