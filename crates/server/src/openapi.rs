//! The OpenAPI 3.1 document of the public API and the admin JSON API,
//! generated from the `#[utoipa::path]` annotations on the handlers and the
//! `ToSchema` derives on the views. `GET /openapi.json` serves it and
//! `docs/openapi.json` keeps a copy that a test compares with the code.
//!
//! What every operation shares is added here rather than repeated on each
//! handler: the path parameters named by the template, the error envelope for
//! every 4xx and 5xx answer, and the credentials each route takes.

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::server::{ServerBuilder, ServerVariableBuilder};
use utoipa::openapi::{ContentBuilder, Object, Ref, RefOr, ResponseBuilder, Type};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::handlers;

/// The error envelope every failure renders as (see [`crate::error::ApiError`]).
#[derive(Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// A stable, machine-readable code: `invalid_request`, `unauthenticated`, `forbidden`, `not_found`,
    /// `thread_not_found`, `method_not_allowed`, `conflict`, `rate_limited`, `payload_too_large`,
    /// `unsupported_media_type`, `internal_error`, `unavailable`, `storage_full`, and more specific ones.
    #[schema(example = "thread_not_found")]
    pub error: String,
    /// A human-readable explanation.
    pub message: String,
    /// The form field at fault (only on some 400 answers of the admin API).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// An empty object: the answer of operations with nothing to report.
#[derive(Serialize, ToSchema)]
pub struct Empty {}

const DESCRIPTION: &str = "threadhold speaks the Assistant Cloud API of assistant-ui.\n\n\
The default project answers at the server root; every route below also answers under `/projects/{project}/` \
(the second server entry), which addresses that project instead. Errors are always the `Error` envelope \
`{\"error\": code, \"message\": text}`.\n\n\
The admin JSON API (`/admin/api/…`) takes the dashboard's session cookie from `POST /admin/api/login` and, \
on every change, the session's CSRF token in `X-CSRF-Token`.";

#[derive(OpenApi)]
#[openapi(
    info(title = "threadhold", description = DESCRIPTION, license(name = "MIT OR Apache-2.0")),
    paths(
        handlers::threads::list,
        handlers::threads::create,
        handlers::threads::search,
        handlers::threads::get,
        handlers::threads::update,
        handlers::threads::delete,
        handlers::messages::list,
        handlers::messages::create,
        handlers::messages::delete,
        handlers::messages::update,
        handlers::messages::feedback,
        handlers::messages::heartbeat,
        handlers::messages::end_run,
        handlers::runs::report,
        handlers::runs::stream,
        handlers::telemetry::track,
        handlers::traces::receive,
        handlers::telemetry::create_score,
        crate::mcp::serve,
        handlers::tokens::create,
        handlers::anonymous::mint,
        handlers::anonymous::refresh,
        handlers::anonymous::claim,
        handlers::files::pdf_to_images,
        handlers::files::presign_upload,
        handlers::files::presign_download,
        handlers::files::receive_upload,
        handlers::files::serve,
        handlers::projects::list_threads,
        handlers::projects::erase_user,
        handlers::projects::list_messages,
        handlers::projects::list_runs,
        handlers::projects::get_run,
        handlers::projects::list_scores,
        handlers::projects::usage_daily,
        handlers::projects::usage_period,
        handlers::tokens::jwks,
        handlers::health::healthz,
        handlers::health::readyz,
        serve_document,
    ),
    nest((path = "/admin/api", api = crate::dashboard::AdminApi)),
    components(schemas(ErrorBody)),
    modifiers(&Shared),
    tags(
        (name = "threads", description = "Threads and their messages"),
        (name = "runs", description = "Run leases, run reports, titles, events, scores and traces"),
        (name = "auth", description = "Tokens, anonymous sessions and the signing keys"),
        (name = "files", description = "Attachments"),
        (name = "project", description = "The project read API (API keys)"),
        (name = "operations", description = "Health and this document"),
        (name = "admin", description = "The dashboard's JSON API"),
    )
)]
struct ApiDoc;

/// Paths that take no credential at all.
const OPEN_PATHS: &[&str] =
    &["/healthz", "/readyz", "/openapi.json", "/.well-known/jwks.json", "/admin/api/login", "/v1/files/pdf-to-images"];
/// Paths whose credential is a signature in the query string.
const SIGNED_PATHS: &[&str] = &["/files/upload/{key}", "/files/{key}"];
/// Paths whose credential is an anonymous refresh token in the body.
const REFRESH_PATHS: &[&str] = &["/v1/auth/tokens/anonymous", "/v1/auth/tokens/refresh"];

struct Shared;

impl Modify for Shared {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi.servers = Some(vec![
            ServerBuilder::new().url("/").description(Some("The default project")).build(),
            ServerBuilder::new()
                .url("/projects/{project}")
                .description(Some("Any project, by id"))
                .parameter(
                    "project",
                    ServerVariableBuilder::new().default_value("default").description(Some("The project id")).build(),
                )
                .build(),
        ]);
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A workspace token, an anonymous access token, an identity provider's token accepted by an auth \
                 rule, or an API key (then with `Aui-Workspace-Id` and optionally `Aui-User-Id`)",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "threadhold_session",
                "The dashboard session cookie set by POST /admin/api/login",
            ))),
        );
        components.add_security_scheme(
            "csrf",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-CSRF-Token",
                "The session's CSRF token (answered by login and GET /admin/api/me), on every change",
            ))),
        );
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                (false, item.get.as_mut()),
                (true, item.put.as_mut()),
                (true, item.post.as_mut()),
                (true, item.delete.as_mut()),
                (true, item.patch.as_mut()),
            ];
            for (changes, operation) in operations {
                if let Some(operation) = operation {
                    add_path_parameters(path, operation);
                    add_error_responses(operation);
                    operation.security = Some(security(path, changes));
                }
            }
        }
    }
}

/// The credentials a route takes (an empty requirement: none).
fn security(path: &str, changes: bool) -> Vec<SecurityRequirement> {
    let open = OPEN_PATHS.contains(&path) || SIGNED_PATHS.contains(&path);
    if open {
        vec![SecurityRequirement::default()]
    } else if path.starts_with("/admin/api/") {
        let session = SecurityRequirement::new("session", Vec::<String>::new());
        vec![if changes { session.add("csrf", Vec::<String>::new()) } else { session }]
    } else if REFRESH_PATHS.contains(&path) {
        vec![SecurityRequirement::default(), SecurityRequirement::new("bearer", Vec::<String>::new())]
    } else {
        vec![SecurityRequirement::new("bearer", Vec::<String>::new())]
    }
}

/// Declares every `{name}` of the template that the handler did not describe.
fn add_path_parameters(path: &str, operation: &mut Operation) {
    let parameters = operation.parameters.get_or_insert_with(Vec::new);
    for name in path.split('{').skip(1).filter_map(|rest| rest.split_once('}').map(|(name, _)| name)) {
        let described = parameters
            .iter()
            .any(|p| matches!(p, RefOr::T(p) if p.name == name && p.parameter_in == ParameterIn::Path));
        if !described {
            parameters.push(RefOr::T(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(utoipa::openapi::Required::True)
                    .schema(Some(Object::with_type(Type::String)))
                    .build(),
            ));
        }
    }
}

/// Every 4xx and 5xx answer is the envelope: the ranges cover the codes a handler does not list.
/// Responses a handler left without a description get a generic one.
fn add_error_responses(operation: &mut Operation) {
    for (status, description) in [("4XX", "A client error"), ("5XX", "A server error")] {
        operation.responses.responses.entry(status.to_owned()).or_insert_with(|| error_response(description));
    }
    for (status, response) in operation.responses.responses.iter_mut() {
        let RefOr::T(response) = response else { continue };
        if is_error(status) && response.content.is_empty() {
            response.content.insert("application/json".to_owned(), RefOr::T(envelope()));
        }
        // OpenAPI requires a description on every response.
        if response.description.is_empty() {
            response.description = if is_error(status) { "Refused" } else { "Success" }.to_owned();
        }
    }
}

fn is_error(status: &str) -> bool {
    status.starts_with('4') || status.starts_with('5')
}

fn envelope() -> utoipa::openapi::Content {
    ContentBuilder::new().schema(Some(Ref::from_schema_name("Error"))).build()
}

fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(ResponseBuilder::new().description(description).content("application/json", envelope()).build())
}

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document as pretty JSON with a final newline (the form `docs/openapi.json` keeps).
pub fn document_json() -> String {
    // Serializing a tree of maps and strings cannot fail.
    let mut text = document().to_pretty_json().unwrap_or_default();
    text.push('\n');
    text
}

/// `GET /openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of this server", content_type = "application/json", body = Object))
)]
pub async fn serve_document() -> Response {
    Json(document()).into_response()
}

// The shapes of the small answers the handlers build with `json!`.

/// `{"thread_id"}`.
#[derive(ToSchema)]
pub struct ThreadCreated {
    pub thread_id: String,
}

/// `{"message_id"}`, plus the lease when `open_run` opened one.
#[derive(ToSchema)]
pub struct MessageCreated {
    pub message_id: String,
    /// Only when a run lease was opened.
    pub lease_id: Option<String>,
    /// Only when a run lease was opened.
    pub heartbeat_interval_ms: Option<u64>,
}

/// The stored feedback.
#[derive(ToSchema)]
pub struct FeedbackStored {
    pub feedback_id: String,
    /// `positive` or `negative`.
    #[schema(rename = "type")]
    pub kind: String,
    pub comment: Option<String>,
}

/// How often to beat.
#[derive(ToSchema)]
pub struct Heartbeat {
    pub heartbeat_interval_ms: u64,
}

/// `{"run_id"}`.
#[derive(ToSchema)]
pub struct RunCreated {
    pub run_id: String,
}

/// How many events were stored.
#[derive(ToSchema)]
pub struct EventsAccepted {
    pub accepted: u64,
}

/// The stored score.
#[derive(ToSchema)]
pub struct ScoreStored {
    pub score_id: String,
    pub name: String,
    /// `numeric`, `boolean` or `categorical`.
    pub data_type: String,
    pub value: Option<f64>,
    pub string_value: Option<String>,
}

/// `{"token"}`: a workspace token.
#[derive(ToSchema)]
pub struct TokenCreated {
    pub token: String,
}

/// An anonymous identity's access token and its rotating refresh token.
#[derive(ToSchema)]
pub struct AnonymousSession {
    pub access_token: String,
    pub refresh_token: RefreshToken,
}

/// A refresh token and when it expires.
#[derive(ToSchema)]
pub struct RefreshToken {
    pub token: String,
    pub expires_at: String,
}

/// How many threads moved to the signed-in user.
#[derive(ToSchema)]
pub struct Claimed {
    pub moved: u64,
}

/// Where to `PUT` the file, and its durable URL.
#[derive(ToSchema)]
#[allow(non_snake_case)]
pub struct UploadGrant {
    pub success: bool,
    pub signedUrl: String,
    pub expiresAt: String,
    pub publicUrl: String,
    pub key: String,
}

/// A time-limited download URL.
#[derive(ToSchema)]
#[allow(non_snake_case)]
pub struct DownloadGrant {
    pub signedUrl: String,
    pub expiresAt: String,
    pub key: String,
}

/// What a user's erasure deleted.
#[derive(ToSchema)]
pub struct Erased {
    pub deleted_threads: u64,
    pub deleted_files: u64,
}

/// `{"status": "ok"}` or `{"status": "ready"}`.
#[derive(ToSchema)]
pub struct Status {
    pub status: String,
}

/// A page of the admin API: `{"items": [...], "next": cursor}` (`next` is `null` on the last page).
#[derive(ToSchema)]
pub struct Page {
    pub items: Vec<serde_json::Value>,
    pub next: Option<String>,
}

/// A dashboard account.
#[derive(ToSchema)]
pub struct AdminAccount {
    pub email: String,
    /// `owner`, `admin` or `member`.
    pub role: String,
    pub created_at: String,
    pub last_login_at: Option<String>,
}

/// The answer of `POST /admin/api/login`; the session itself is the cookie.
#[derive(ToSchema)]
pub struct AdminSession {
    /// Send it as `X-CSRF-Token` with every change.
    pub csrf_token: String,
    pub account: AdminAccount,
}

/// The signed-in account.
#[derive(ToSchema)]
pub struct AdminMe {
    pub email: String,
    pub role: String,
    pub csrf_token: String,
}
