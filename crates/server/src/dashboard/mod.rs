//! The dashboard under `/admin`: server-rendered pages and the same
//! operations as JSON under `/admin/api/`, both thin layers over the service
//! modules. Every asset is embedded; nothing is fetched from elsewhere.
//!
//! Security: a session cookie (`HttpOnly`, `SameSite=Strict`, `Path=/admin`,
//! `Secure` over https) whose hash is stored; every state change carries the
//! session's CSRF token (a form field, or `X-CSRF-Token` for the JSON API);
//! a strict Content-Security-Policy, no framing, no caching. The dashboard
//! is off until the first account exists.

mod api;
mod charts;
mod pages;
mod views;

pub(crate) use api::{AdminApi, api_routes};

use std::net::{IpAddr, SocketAddr};

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Redirect, Response};
use threadhold_domain::dashboard::AdminSession;

use crate::error::ApiError;
use crate::service::admins::{self, AdminError};
use crate::service::{Actor, Fault};
use crate::state::AppState;

/// The session cookie's name.
const SESSION_COOKIE: &str = "threadhold_session";
/// The pre-login CSRF cookie (double submit) of the login form.
const LOGIN_COOKIE: &str = "threadhold_login";
/// The header the JSON API's state changes carry the CSRF token in.
const CSRF_HEADER: &str = "x-csrf-token";
/// The form field pages carry it in.
const CSRF_FIELD: &str = "_csrf";

const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
     object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// The routes under `/admin`, with their security headers.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .merge(pages::routes().layer(from_fn(html_errors)))
        .nest("/api", api::routes().layer(from_fn_with_state(state.clone(), api_csrf)))
        .route("/assets/{file}", axum::routing::get(asset))
        .layer(from_fn_with_state(state, require_accounts))
        .layer(from_fn(security_headers))
}

/// The path as the client sent it (nested routers see it without their prefix).
fn original_path<'a>(extensions: &'a axum::http::Extensions, uri: &'a axum::http::Uri) -> &'a str {
    extensions.get::<axum::extract::OriginalUri>().map_or(uri.path(), |original| original.0.path())
}

/// `GET /`: what this server is, and where the dashboard and the docs are.
pub async fn landing() -> Response {
    let page = views::bare(
        "threadhold",
        maud::html! {
            p { "A self-hosted server for the Assistant Cloud API of assistant-ui. Point the client's " code { "baseUrl" } " here." }
            ul {
                li { a href="/admin" { "The dashboard" } }
                li { a href="https://github.com/threadhold/threadhold#readme" { "The documentation" } }
            }
        },
    );
    let mut response = axum::response::Html(page.into_string()).into_response();
    response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    response
}

/// Strict headers on every dashboard response.
async fn security_headers(request: Request, next: Next) -> Response {
    let is_asset = original_path(request.extensions(), request.uri()).starts_with("/admin/assets/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    let caching = if is_asset { "private, max-age=300" } else { "no-store" };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(caching));
    response
}

/// Pages answer their failures as a page (the API's envelope is for scripts).
async fn html_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let is_json =
        response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !is_json || !(response.status().is_client_error() || response.status().is_server_error()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
    let message = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "Something went wrong".to_owned());
    let page = views::bare(
        "That did not work",
        maud::html! {
            p.error role="alert" { (message) }
            p { a href="/admin" { "Back to the dashboard" } }
        },
    );
    let mut response = axum::response::Html(page.into_string()).into_response();
    *response.status_mut() = parts.status;
    if let Some(retry) = parts.headers.get(header::RETRY_AFTER) {
        response.headers_mut().insert(header::RETRY_AFTER, retry.clone());
    }
    response
}

/// The dashboard is off until the first account exists: it says how to make one.
async fn require_accounts(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = original_path(request.extensions(), request.uri()).to_owned();
    match admins::dashboard_enabled(state.store.as_ref()).await {
        Ok(true) => next.run(request).await,
        Ok(false) if path.starts_with("/admin/assets/") => next.run(request).await,
        Ok(false) if path.starts_with("/admin/api/") => ApiError::Forbidden {
            code: "dashboard_off",
            message: "The dashboard is off until an account exists: threadhold admin add EMAIL --role owner".into(),
        }
        .into_response(),
        Ok(false) => {
            (StatusCode::FORBIDDEN, axum::response::Html(views::dashboard_off().into_string())).into_response()
        }
        Err(error) => ApiError::from(error).into_response(),
    }
}

/// The JSON API's state changes need the session's CSRF token in `X-CSRF-Token`
/// (logging in has no session yet; it is refused across sites by SameSite and Origin).
async fn api_csrf(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let safe = matches!(*request.method(), Method::GET | Method::HEAD);
    if safe || original_path(request.extensions(), request.uri()) == "/admin/api/login" {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let signed = match Signed::from_request_parts(&mut parts, &state).await {
        Ok(signed) => signed,
        Err(rejection) => return rejection.into_response(),
    };
    let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if let Err(error) = signed.check_csrf(sent) {
        return error.into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}

async fn asset(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let (body, content_type) = match file.as_str() {
        "dashboard.css" => (include_str!("assets/dashboard.css"), "text/css; charset=utf-8"),
        "dashboard.js" => (include_str!("assets/dashboard.js"), "text/javascript; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// A signed-in request: who, and the session's CSRF token.
pub struct Signed {
    pub actor: Actor,
    pub session: AdminSession,
    /// The cookie value (to end the session on logout).
    token: String,
}

impl Signed {
    /// Refuses a state change that does not carry the session's CSRF token.
    pub fn check_csrf(&self, sent: &str) -> Result<(), ApiError> {
        if !sent.is_empty() && constant_time_eq(sent.as_bytes(), self.session.csrf_token.as_bytes()) {
            Ok(())
        } else {
            Err(ApiError::Forbidden {
                code: "csrf_failed",
                message: "The request lacks this session's CSRF token; reload the page and try again".into(),
            })
        }
    }

    pub fn email(&self) -> &str {
        match &self.actor {
            Actor::Admin { email, .. } => email,
            _ => "",
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Why a request has no session: pages go to the login form, the API answers 401.
pub enum NotSigned {
    Page { expired: bool },
    Api(ApiError),
}

impl IntoResponse for NotSigned {
    fn into_response(self) -> Response {
        match self {
            NotSigned::Page { expired } => {
                let target = if expired { "/admin/login?expired=1" } else { "/admin/login" };
                let mut response = Redirect::to(target).into_response();
                if expired {
                    response.headers_mut().append(header::SET_COOKIE, clear_cookie(SESSION_COOKIE));
                }
                response
            }
            NotSigned::Api(error) => error.into_response(),
        }
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = NotSigned;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let api = original_path(&parts.extensions, &parts.uri).starts_with("/admin/api/");
        let reject = |error: AdminError| {
            let expired = matches!(error, AdminError::SessionExpired);
            if api { NotSigned::Api(error.into()) } else { NotSigned::Page { expired } }
        };
        let token = cookie(&parts.headers, SESSION_COOKIE).ok_or_else(|| reject(AdminError::NoSession))?;
        match admins::authenticate(state.store.as_ref(), state.config.admin_sessions, &token).await {
            Ok((actor, session)) => Ok(Signed { actor, session, token }),
            Err(error @ (AdminError::NoSession | AdminError::SessionExpired)) => Err(reject(error)),
            Err(error) => Err(NotSigned::Api(error.into())),
        }
    }
}

/// Whether the browser reached the dashboard over https (directly, per the
/// public URL, or through a trusted proxy saying so in `X-Forwarded-Proto`).
fn over_https(state: &AppState, peer: IpAddr, headers: &HeaderMap) -> bool {
    let public = state.config.files.public_url.as_deref().is_some_and(|url| url.starts_with("https://"));
    let proxied = state.config.client_ip.trusted_proxies.iter().any(|net| net.contains(peer))
        && headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()) == Some("https");
    public || proxied
}

fn session_cookie(name: &str, value: &str, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!("{name}={value}; Path=/admin; HttpOnly; SameSite=Strict{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn clear_cookie(name: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("{name}=; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=0"))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The client's address for the login guard.
fn client_ip(state: &AppState, ConnectInfo(peer): &ConnectInfo<SocketAddr>, headers: &HeaderMap) -> IpAddr {
    state.config.client_ip.client_ip(peer.ip(), headers)
}

/// A form's failure, shown next to its field (or above the form).
#[derive(Debug, Clone, Default)]
pub struct FormError {
    pub field: Option<&'static str>,
    pub message: String,
}

impl FormError {
    /// The failure of a service call, as the page shows it; the server's own trouble stays an error response.
    fn from_fault<E: Fault>(error: E) -> Result<FormError, ApiError> {
        match ApiError::from(error) {
            ApiError::InvalidField { field, message, .. } => Ok(FormError { field: Some(field), message }),
            error @ (ApiError::InvalidRequest { .. }
            | ApiError::Forbidden { .. }
            | ApiError::NotFound { .. }
            | ApiError::Conflict { .. }
            | ApiError::Unauthenticated { .. }
            | ApiError::RateLimited { .. }) => Ok(FormError { field: None, message: error.to_string() }),
            other => Err(other),
        }
    }

    pub fn on(&self, field: &str) -> Option<&str> {
        (self.field == Some(field)).then_some(self.message.as_str())
    }

    pub fn general(&self) -> Option<&str> {
        (self.field.is_none() && !self.message.is_empty()).then_some(self.message.as_str())
    }
}
