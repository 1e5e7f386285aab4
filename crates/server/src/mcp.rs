//! `POST /v1/mcp`: a Model Context Protocol server over the project read API
//! (API keys only), on the official Rust SDK's Streamable HTTP transport in
//! its stateless mode with JSON responses, as the hosted service runs it: no
//! session, one JSON answer per request.
//!
//! Tools (all read-only, scoped to the key's project): `list_runs`,
//! `get_run`, `list_scores`, `list_threads`, `usage_daily` and `usage_period`
//! in the hosted service's shapes, plus `get_thread_messages` and
//! `search_threads`. A tool answers `{content: [{type: "text", text: <JSON>}]}`;
//! a refused argument answers `isError: true` with `{"error": message}`.

use std::sync::{Arc, LazyLock};

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, JsonObject, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use threadhold_domain::limits::{MESSAGE_PAGE_DEFAULT, MESSAGE_PAGE_MAX, REQUEST_BODY_MAX_BYTES, THREAD_PAGE_MAX};
use threadhold_domain::model::WorkspaceScope;
use threadhold_domain::now_ms;
use threadhold_domain::telemetry::query::{RunListInput, ScoreListInput, ScorePaging, ThreadListInput, limit};
use threadhold_store::ReadScope;
use tower::ServiceExt;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::service::usage::Daily;
use crate::service::{self, ServiceError};
use crate::state::AppState;
use crate::{project_views, views};

/// The transport, made once: stateless, JSON answers, bodies as large as any other route's.
static TRANSPORT: LazyLock<StreamableHttpService<ProjectTools, NeverSessionManager>> = LazyLock::new(|| {
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_max_request_body_bytes(REQUEST_BODY_MAX_BYTES)
        // Authentication is the API key, checked before the transport; the
        // server's public name is the deployment's business, so any Host is served.
        .disable_allowed_hosts();
    StreamableHttpService::new(|| Ok(ProjectTools), Arc::new(NeverSessionManager::default()), config)
});

/// `POST /v1/mcp`: the body is read (within the usual limit) and checked to
/// be JSON here, so those refusals are threadhold's; the caller (an API key)
/// travels with the request to the tools.
#[utoipa::path(post, path = "/v1/mcp", tag = "project", request_body(content = Object, description = "A JSON-RPC 2.0 message of the Model Context Protocol (Streamable HTTP)"), responses((status = 200, description = "The JSON-RPC answer", content((Object = "application/json"), (String = "text/event-stream"))), (status = 202, description = "A notification was accepted")))]
pub async fn serve(State(state): State<AppState>, caller: Caller, request: Request) -> ApiResult<Response> {
    caller.require_api_key("The MCP endpoint")?;
    let (mut parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, REQUEST_BODY_MAX_BYTES)
        .await
        .map_err(|_| ApiError::PayloadTooLarge { limit: REQUEST_BODY_MAX_BYTES })?;
    serde_json::from_slice::<&serde_json::value::RawValue>(&body).map_err(|error| ApiError::InvalidRequest {
        code: "invalid_json",
        message: format!("Invalid request body: {error}"),
    })?;
    parts.extensions.insert(caller);
    parts.extensions.insert(state);
    let Ok(response) = TRANSPORT.clone().oneshot(Request::from_parts(parts, Body::from(body))).await;
    Ok(with_error_envelope(response.map(Body::new)).await)
}

/// The transport answers malformed requests in plain text; threadhold's errors are JSON.
async fn with_error_envelope(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if !status.is_client_error() || is_json {
        return response;
    }
    let text = axum::body::to_bytes(response.into_body(), 64 * 1024).await.unwrap_or_default();
    let message = String::from_utf8_lossy(&text).trim().to_owned();
    let code = match status {
        StatusCode::NOT_ACCEPTABLE => "not_acceptable",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::NOT_FOUND => "not_found",
        _ => "invalid_mcp_request",
    };
    let message = if message.is_empty() { format!("The MCP request was refused ({status})") } else { message };
    (status, Json(json!({ "error": code, "message": message }))).into_response()
}

/// The tool handler; the project and state come with each request.
#[derive(Clone, Copy)]
pub struct ProjectTools;

impl ServerHandler for ProjectTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("threadhold", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Read-only tools over one threadhold project (the API key's): runs with their spans, scores, \
                 usage, threads and their messages, and thread search.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let parts = context.extensions.get::<Parts>();
        let (Some(caller), Some(state)) =
            (parts.and_then(|p| p.extensions.get::<Caller>()), parts.and_then(|p| p.extensions.get::<AppState>()))
        else {
            return Err(ErrorData::internal_error("the request carries no caller", None));
        };
        let args = request.arguments.unwrap_or_default();
        let outcome = match request.name.as_ref() {
            "list_runs" => list_runs(state, caller, args).await,
            "get_run" => get_run(state, caller, args).await,
            "list_scores" => list_scores(state, caller, args).await,
            "list_threads" => list_threads(state, caller, args).await,
            "get_thread_messages" => get_thread_messages(state, caller, args).await,
            "search_threads" => search_threads(state, caller, args).await,
            "usage_daily" => usage_daily(state, caller, args).await,
            "usage_period" => usage_period(state, caller).await,
            other => return Err(ErrorData::invalid_params(format!("Unknown tool: {other}"), None)),
        };
        Ok(match outcome {
            Ok(text) => CallToolResult::success(vec![ContentBlock::text(text)]).into(),
            Err(error) => {
                let message = match error {
                    ServiceError::Invalid { message, .. } | ServiceError::NotFound { message, .. } => message,
                    ServiceError::Store(error) => {
                        tracing::error!(%error, tool = %request.name, "an MCP tool failed");
                        "Request failed".to_owned()
                    }
                };
                CallToolResult::error(vec![ContentBlock::text(json!({ "error": message }).to_string())]).into()
            }
        })
    }
}

type ToolResult = Result<String, ServiceError>;

fn text(body: impl Serialize) -> ToolResult {
    serde_json::to_string(&body)
        .map_err(|error| ServiceError::Store(threadhold_store::StoreError::Database(error.to_string())))
}

fn refused(message: impl Into<String>) -> ServiceError {
    ServiceError::Invalid { code: "invalid_arguments", message: message.into() }
}

/// Tool arguments as the string-valued inputs the REST queries use (numbers
/// and booleans become their text; `null` is absent).
fn inputs<T: DeserializeOwned>(args: JsonObject) -> Result<T, ServiceError> {
    let mut strings = Map::new();
    for (key, value) in args {
        let text = match value {
            Value::Null => continue,
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return Err(refused(format!("{key} must be a string or a number"))),
        };
        strings.insert(key, Value::String(text));
    }
    serde_json::from_value(Value::Object(strings)).map_err(|error| refused(error.to_string()))
}

fn required(args: &JsonObject, key: &str) -> Result<String, ServiceError> {
    match args.get(key) {
        Some(Value::String(value)) if !value.is_empty() => Ok(value.clone()),
        _ => Err(refused(format!("{key} is required"))),
    }
}

fn optional(args: &JsonObject, key: &str) -> Result<Option<String>, ServiceError> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) => Ok(Some(value.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(refused(format!("{key} must be a string"))),
    }
}

async fn list_runs(state: &AppState, caller: &Caller, args: JsonObject) -> ToolResult {
    let input: RunListInput = inputs(args)?;
    let page = service::runs::list(state.store.as_ref(), &caller.scope.project_id, &input).await?;
    text(project_views::run_page(&page.runs, page.next_cursor.as_deref()))
}

async fn get_run(state: &AppState, caller: &Caller, args: JsonObject) -> ToolResult {
    let run_id = required(&args, "run_id")?;
    let detail = service::runs::get(state.store.as_ref(), &caller.scope.project_id, &run_id).await?;
    text(project_views::run_detail(&detail.run, &detail.spans))
}

async fn list_scores(state: &AppState, caller: &Caller, args: JsonObject) -> ToolResult {
    let input: ScoreListInput = inputs(args)?;
    let page =
        service::project::scores(state.store.as_ref(), &caller.scope.project_id, &input, ScorePaging::Cursor).await?;
    text(project_views::scores(&page.scores, Some(page.next_cursor.as_deref())))
}

async fn list_threads(state: &AppState, caller: &Caller, args: JsonObject) -> ToolResult {
    let input: ThreadListInput = inputs(args)?;
    let page = service::project::threads(state.store.as_ref(), &caller.scope.project_id, &input).await?;
    text(views::thread_page_body(&page.threads, page.next_cursor.as_deref()))
}

/// A thread of the project and a page of its messages (converted to `format` when given).
async fn get_thread_messages(state: &AppState, caller: &Caller, args: JsonObject) -> ToolResult {
    let thread_id = required(&args, "thread_id")?;
    let limit = limit(optional(&args, "limit")?.as_deref(), MESSAGE_PAGE_DEFAULT, MESSAGE_PAGE_MAX)?;
    let (after, format) = (optional(&args, "after")?, optional(&args, "format")?);
    let scope = ReadScope { project_id: caller.scope.project_id.clone(), workspace_id: None };
    let store = state.store.as_ref();
    let thread = store.get_thread(&scope, &thread_id).await?.ok_or_else(ServiceError::thread_not_found)?;
    let messages =
        service::messages::page(store, &scope, &thread_id, after.as_deref(), limit, format.as_deref()).await?;
    text(views::thread_messages_body(&thread, &messages))
}

/// Threads of one workspace (`workspace_id`, else the caller's) whose title or messages contain `query`.
async fn search_threads(state: &AppState, caller: &Caller, args: JsonObject) -> ToolResult {
    let query = required(&args, "query")?;
    let workspace_id = optional(&args, "workspace_id")?.unwrap_or_else(|| caller.scope.workspace_id.clone());
    threadhold_domain::ids::validate_principal_id(&workspace_id)
        .map_err(|error| refused(format!("workspace_id {error}")))?;
    let scope = WorkspaceScope { project_id: caller.scope.project_id.clone(), workspace_id };
    let (page_limit, after) = (optional(&args, "limit")?, optional(&args, "after")?);
    let hits =
        service::search::threads(state.store.as_ref(), &scope, Some(&query), page_limit.as_deref(), after.as_deref())
            .await?;
    text(views::search_results_body(&hits))
}

async fn usage_daily(state: &AppState, caller: &Caller, args: JsonObject) -> ToolResult {
    let (from, to, group_by) = (optional(&args, "from")?, optional(&args, "to")?, optional(&args, "group_by")?);
    let daily = service::usage::daily(
        state.store.as_ref(),
        &caller.scope.project_id,
        from.as_deref(),
        to.as_deref(),
        group_by.as_deref(),
        now_ms(),
    )
    .await?;
    match &daily {
        Daily::Days(days) => text(project_views::days(days)),
        Daily::ByModel(rows) => text(project_views::days_by_model(rows)),
    }
}

async fn usage_period(state: &AppState, caller: &Caller) -> ToolResult {
    let (period, totals) = service::usage::period(state.store.as_ref(), &caller.scope.project_id, now_ms()).await?;
    text(project_views::period(&period, &totals))
}

/// The tools and their argument schemas.
fn tools() -> Vec<Tool> {
    let string = |description: &str| json!({"type": "string", "description": description});
    let page_limit = |max: u32| json!({"type": "integer", "minimum": 1, "maximum": max});
    let tool = |name: &'static str, description: &'static str, properties: Value, required: &[&str]| {
        let schema = json!({"type": "object", "properties": properties, "required": required});
        let schema = match schema {
            Value::Object(object) => object,
            _ => JsonObject::new(),
        };
        Tool::new(name, description, Arc::new(schema)).with_annotations(ToolAnnotations::new().read_only(true))
    };
    let run_status = json!({"type": "string", "enum": threadhold_domain::telemetry::report::RUN_STATUSES});
    let outcome = json!({"type": "string", "enum": threadhold_domain::telemetry::report::RUN_OUTCOMES});
    vec![
        tool(
            "list_runs",
            "List the project's runs, newest first (created_at DESC, id DESC). Pass next_cursor back as cursor.",
            json!({
                "status": run_status, "outcome_type": outcome, "model_id": string("Model id"),
                "provider": string("Provider"), "created_by": string("The user who created the run"),
                "thread_id": string("Thread id"), "workspace_id": string("Workspace id"),
                "environment": string("Environment"), "release": string("Release"), "tag": string("A tag of the run"),
                "from": string("ISO 8601 date-time: runs from this time"), "to": string("ISO 8601 date-time: runs through this time"),
                "limit": page_limit(100), "cursor": string("next_cursor of the previous page"),
            }),
            &[],
        ),
        tool(
            "get_run",
            "Get one run of the project with its spans (ordered by start_ms, then span_index).",
            json!({"run_id": string("Run id")}),
            &["run_id"],
        ),
        tool(
            "list_scores",
            "List the project's scores, newest first. Pass next_cursor back as cursor.",
            json!({
                "thread_id": string("Thread id"), "run_id": string("Run id"), "name": string("Score name"),
                "source": {"type": "string", "enum": ["end_user", "human", "evaluator", "api"]},
                "since": string("ISO 8601 date-time"), "limit": page_limit(100), "cursor": string("next_cursor of the previous page"),
            }),
            &[],
        ),
        tool(
            "list_threads",
            "List the project's threads (every workspace, archived ones included) by creation, newest first.",
            json!({
                "created_by": string("The workspace id the thread belongs to"), "from": string("ISO 8601 date-time"),
                "to": string("ISO 8601 date-time"), "limit": page_limit(100), "cursor": string("next_cursor of the previous page"),
            }),
            &[],
        ),
        tool(
            "get_thread_messages",
            "Get a thread of the project and a page of its messages (height, created_at, id, all descending; pass the last id as after). With format, messages are converted (e.g. ai-sdk/v6).",
            json!({"thread_id": string("Thread id"), "format": string("aui/v0, ai-sdk/v5 or ai-sdk/v6"), "limit": page_limit(MESSAGE_PAGE_MAX), "after": string("The last message id of the previous page")}),
            &["thread_id"],
        ),
        tool(
            "search_threads",
            "Search a workspace's threads (titles and message text, case-insensitive), newest first, with snippets.",
            json!({"query": string("Text to find"), "workspace_id": string("The workspace to search (default: the Aui-Workspace-Id header's)"), "limit": page_limit(THREAD_PAGE_MAX), "after": string("The last thread id of the previous page")}),
            &["query"],
        ),
        tool(
            "usage_daily",
            "Runs, errors, tokens and cost per UTC day (with messages and active users), or per day, provider and model with group_by=model.",
            json!({"from": string("YYYY-MM-DD (default: 29 days before to)"), "to": string("YYYY-MM-DD (default: today, UTC)"), "group_by": {"type": "string", "enum": ["model"]}}),
            &[],
        ),
        tool("usage_period", "The current UTC month's usage of the project.", json!({}), &[]),
    ]
}
