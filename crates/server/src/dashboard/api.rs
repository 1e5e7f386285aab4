//! The admin JSON API under `/admin/api/`: what the pages do, for scripts.
//! Sign in with `POST /admin/api/login` (it sets the session cookie and
//! answers the CSRF token), then send `X-CSRF-Token` with every change.

use std::net::SocketAddr;

use axum::Json;
use axum::Router;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post, put};
use serde::Deserialize;
use serde_json::{Value, json};
use threadhold_auth::rules::RuleInput;
use threadhold_domain::dashboard::{AdminAccount, AuditQuery, ProjectPage, UserQuery};
use threadhold_domain::format_ms;
use threadhold_domain::model::{ApiKey, AuthRule, Thread};
use threadhold_domain::now_ms;
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::{SESSION_COOKIE, Signed, clear_cookie, client_ip, over_https, session_cookie};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiQuery, JsonBody};
use crate::service::rules::Verifiers;
use crate::service::threads::{Part, ThreadFilters};
use crate::service::{access, admins, audit, keys, overview, projects, retention, rules, telemetry, threads, users};
use crate::state::AppState;

type Answer = ApiResult<Json<Value>>;

/// The admin API's part of the OpenAPI document (nested under `/admin/api`).
#[derive(OpenApi)]
#[openapi(paths(
    login,
    logout,
    me,
    list_projects,
    create_project,
    rename_project,
    overview_of,
    list_threads,
    get_thread,
    delete_thread,
    export_thread,
    list_users,
    erasure_preview,
    erase_user,
    list_runs,
    list_feedback,
    list_scores,
    list_keys,
    create_key,
    revoke_key,
    list_rules,
    add_rule,
    update_rule,
    remove_rule,
    test_token,
    access_settings,
    set_anonymous,
    set_origins,
    retention_settings,
    set_retention,
    retention_preview,
    list_accounts,
    add_account,
    remove_account,
    list_audit
))]
pub struct AdminApi;

pub fn routes() -> Router<AppState> {
    api_routes().into_iter().fold(Router::new(), |router, (path, methods)| router.route(path, methods))
}

/// Every route of the admin API, relative to `/admin/api`.
pub fn api_routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        ("/login", post(login)),
        ("/logout", post(logout)),
        ("/me", get(me)),
        ("/projects", get(list_projects).post(create_project)),
        ("/projects/{project}", put(rename_project)),
        ("/projects/{project}/overview", get(overview_of)),
        ("/projects/{project}/threads", get(list_threads)),
        ("/projects/{project}/threads/{thread}", get(get_thread).delete(delete_thread)),
        ("/projects/{project}/threads/{thread}/export", get(export_thread)),
        ("/projects/{project}/users", get(list_users)),
        ("/projects/{project}/users/{user}", delete(erase_user)),
        ("/projects/{project}/users/{user}/erasure", get(erasure_preview)),
        ("/projects/{project}/runs", get(list_runs)),
        ("/projects/{project}/feedback", get(list_feedback)),
        ("/projects/{project}/scores", get(list_scores)),
        ("/projects/{project}/keys", get(list_keys).post(create_key)),
        ("/projects/{project}/keys/{key}", delete(revoke_key)),
        ("/projects/{project}/rules", get(list_rules).post(add_rule)),
        ("/projects/{project}/rules/test", post(test_token)),
        ("/projects/{project}/rules/{rule}", put(update_rule).delete(remove_rule)),
        ("/projects/{project}/access", get(access_settings)),
        ("/projects/{project}/access/anonymous", put(set_anonymous)),
        ("/projects/{project}/access/origins", put(set_origins)),
        ("/projects/{project}/retention", get(retention_settings).put(set_retention)),
        ("/projects/{project}/retention/preview", get(retention_preview)),
        ("/accounts", get(list_accounts).post(add_account)),
        ("/accounts/{email}", delete(remove_account)),
        ("/audit", get(list_audit)),
    ]
}

fn page_json(items: Vec<Value>, next: Option<String>) -> Json<Value> {
    Json(json!({ "items": items, "next": next }))
}

fn account_json(account: &AdminAccount) -> Value {
    json!({
        "email": account.email,
        "role": account.role.as_str(),
        "created_at": format_ms(account.created_at),
        "last_login_at": account.last_login_at.map(format_ms),
    })
}

#[derive(Deserialize, ToSchema)]
#[schema(as = LoginBody)]
struct Login {
    email: String,
    password: String,
}

#[utoipa::path(post, path = "/login", tag = "admin", request_body = Login, responses((status = 200, description = "Signed in; sets the session cookie", body = crate::openapi::AdminSession), (status = 401, description = "Wrong email or password"), (status = 429, description = "Too many attempts")))]
async fn login(
    State(state): State<AppState>,
    connect: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Login>,
) -> ApiResult<Response> {
    let client = client_ip(&state, &connect, &headers);
    let session = admins::login(
        state.store.as_ref(),
        &state.logins,
        state.config.admin_sessions,
        &body.email,
        &body.password,
        client,
    )
    .await?;
    let secure = over_https(&state, connect.0.ip(), &headers);
    let mut response =
        Json(json!({ "csrf_token": session.csrf_token, "account": account_json(&session.account) })).into_response();
    response.headers_mut().append(header::SET_COOKIE, session_cookie(SESSION_COOKIE, &session.token, secure));
    Ok(response)
}

#[utoipa::path(post, path = "/logout", tag = "admin", responses((status = 200, description = "Signed out; clears the cookie", body = crate::openapi::Empty)))]
async fn logout(State(state): State<AppState>, signed: Signed) -> ApiResult<Response> {
    admins::logout(state.store.as_ref(), &signed.actor, &signed.token).await?;
    let mut response = Json(json!({})).into_response();
    response.headers_mut().append(header::SET_COOKIE, clear_cookie(SESSION_COOKIE));
    Ok(response)
}

#[utoipa::path(get, path = "/me", tag = "admin", responses((status = 200, body = crate::openapi::AdminMe)))]
async fn me(signed: Signed) -> Answer {
    let role = match &signed.actor {
        crate::service::Actor::Admin { role, .. } => role.as_str(),
        _ => "owner",
    };
    Ok(Json(json!({ "email": signed.email(), "role": role, "csrf_token": signed.session.csrf_token })))
}

#[utoipa::path(get, path = "/projects", tag = "admin", responses((status = 200, body = crate::openapi::Page)))]
async fn list_projects(State(state): State<AppState>, _signed: Signed) -> Answer {
    let listed = projects::list(state.store.as_ref()).await?;
    let items = listed
        .iter()
        .map(|p| json!({ "id": p.id, "name": p.name, "anonymous_enabled": p.anonymous_enabled, "allowed_origins": p.allowed_origins, "created_at": format_ms(p.created_at) }))
        .collect();
    Ok(page_json(items, None))
}

#[derive(Deserialize, ToSchema)]
struct NewProject {
    id: String,
    #[serde(default)]
    name: String,
}

#[utoipa::path(post, path = "/projects", tag = "admin", request_body = NewProject, responses((status = 201, description = "`{id, name}`", body = Object), (status = 409, description = "The id is taken")))]
async fn create_project(
    State(state): State<AppState>,
    signed: Signed,
    JsonBody(body): JsonBody<NewProject>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let project = projects::create(state.store.as_ref(), &signed.actor, &body.id, &body.name).await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": project.id, "name": project.name }))))
}

#[derive(Deserialize, ToSchema)]
struct Rename {
    name: String,
}

#[utoipa::path(put, path = "/projects/{project}", tag = "admin", request_body = Rename, responses((status = 200, body = Object)))]
async fn rename_project(
    State(state): State<AppState>,
    signed: Signed,
    Path(project): Path<String>,
    JsonBody(body): JsonBody<Rename>,
) -> Answer {
    projects::rename(state.store.as_ref(), &signed.actor, &project, &body.name).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct OverviewQuery {
    days: Option<u32>,
}

#[utoipa::path(get, path = "/projects/{project}/overview", tag = "admin", params(OverviewQuery), responses((status = 200, description = "Counts and daily activity", body = Object)))]
async fn overview_of(
    State(state): State<AppState>,
    signed: Signed,
    Path(project): Path<String>,
    ApiQuery(query): ApiQuery<OverviewQuery>,
) -> Answer {
    let days = query.days.unwrap_or(overview::RANGE_DEFAULT);
    let activity = overview::activity(state.store.as_ref(), &signed.actor, &project, days).await?;
    let series: Vec<Value> = activity
        .days
        .iter()
        .map(|d| json!({ "day": format_ms(d.day * threadhold_domain::dashboard::DAY_MS)[..10], "threads": d.threads, "messages": d.messages, "runs": d.runs, "active_users": d.active_users }))
        .collect();
    Ok(Json(json!({
        "days": days,
        "threads": activity.threads,
        "messages": activity.messages,
        "runs": activity.runs,
        "active_users": activity.active_users,
        "per_day": series,
    })))
}

fn thread_json(thread: &Thread) -> Value {
    json!({
        "id": thread.id,
        "workspace_id": thread.workspace_id,
        "title": thread.title,
        "external_id": thread.external_id,
        "is_archived": thread.is_archived,
        "last_message_at": format_ms(thread.last_message_at),
        "created_at": format_ms(thread.created_at),
    })
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ThreadsQuery {
    q: Option<String>,
    workspace: Option<String>,
    user: Option<String>,
    archived: Option<bool>,
    from: Option<String>,
    until: Option<String>,
    after: Option<String>,
    limit: Option<u32>,
}

fn timestamp(field: &'static str, value: Option<&str>) -> ApiResult<Option<i64>> {
    value
        .map(|text| {
            threadhold_domain::parse_timestamp(text).ok_or_else(|| ApiError::InvalidField {
                code: "invalid_timestamp",
                field,
                message: format!("{field} must be an ISO 8601 timestamp"),
            })
        })
        .transpose()
}

#[utoipa::path(get, path = "/projects/{project}/threads", tag = "admin", params(ThreadsQuery), responses((status = 200, body = crate::openapi::Page)))]
async fn list_threads(
    State(state): State<AppState>,
    signed: Signed,
    Path(project): Path<String>,
    ApiQuery(q): ApiQuery<ThreadsQuery>,
) -> Answer {
    let filters = ThreadFilters {
        workspace: q.workspace,
        user: q.user,
        archived: q.archived,
        from: timestamp("from", q.from.as_deref())?,
        until: timestamp("until", q.until.as_deref())?,
        search: q.q,
        after: q.after,
        limit: q.limit.unwrap_or(25),
    };
    let listed = threads::list(state.store.as_ref(), &signed.actor, &project, filters).await?;
    let items =
        listed.items.iter().map(|row| json!({ "thread": thread_json(&row.thread), "snippet": row.snippet })).collect();
    Ok(page_json(items, listed.next))
}

fn part_json(part: &Part) -> Value {
    match part {
        Part::Text(text) => json!({ "type": "text", "text": text }),
        Part::Reasoning(text) => json!({ "type": "reasoning", "text": text }),
        Part::ToolCall { name, args, result } => {
            json!({ "type": "tool-call", "name": name, "args": args, "result": result })
        }
        Part::File { name, url, media_type } => {
            json!({ "type": "file", "name": name, "url": url, "media_type": media_type })
        }
        Part::Other(raw) => json!({ "type": "other", "json": raw }),
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct BranchQuery {
    branch: Option<String>,
    format: Option<String>,
}

#[utoipa::path(get, path = "/projects/{project}/threads/{thread}", tag = "admin", params(BranchQuery), responses((status = 200, description = "The thread and one branch of its messages", body = Object), (status = 404, description = "`thread_not_found`")))]
async fn get_thread(
    State(state): State<AppState>,
    signed: Signed,
    Path((project, thread)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<BranchQuery>,
) -> Answer {
    let transcript =
        threads::transcript(state.store.as_ref(), &signed.actor, &project, &thread, q.branch.as_deref()).await?;
    let entries: Vec<Value> = transcript
        .entries
        .iter()
        .map(|e| {
            json!({
                "id": e.message.id,
                "parent_id": e.message.parent_id,
                "role": e.role,
                "created_at": format_ms(e.message.created_at),
                "parts": e.parts.iter().map(part_json).collect::<Vec<_>>(),
                "siblings": e.siblings,
                "position": e.position,
            })
        })
        .collect();
    Ok(Json(json!({
        "thread": thread_json(&transcript.thread),
        "metadata": transcript.thread.metadata.as_deref().and_then(|m| serde_json::from_str::<Value>(m).ok()),
        "messages": entries,
        "message_count": transcript.message_count,
        "truncated": transcript.truncated,
    })))
}

#[utoipa::path(delete, path = "/projects/{project}/threads/{thread}", tag = "admin", responses((status = 200, body = Object)))]
async fn delete_thread(
    State(state): State<AppState>,
    signed: Signed,
    Path((project, thread)): Path<(String, String)>,
) -> Answer {
    threads::delete(state.store.as_ref(), state.blobs.as_ref(), &signed.actor, &project, &thread).await?;
    Ok(Json(json!({})))
}

#[utoipa::path(get, path = "/projects/{project}/threads/{thread}/export", tag = "admin", params(BranchQuery), responses((status = 200, description = "The branch as Markdown (`format=markdown`) or JSON", content((Object = "application/json"), (String = "text/markdown")))))]
async fn export_thread(
    State(state): State<AppState>,
    signed: Signed,
    Path((project, thread)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<BranchQuery>,
) -> ApiResult<Response> {
    let store = state.store.as_ref();
    match q.format.as_deref().unwrap_or("jsonl") {
        "jsonl" => {
            let bytes = threads::export_jsonl(store, &signed.actor, &project, &thread).await?;
            Ok(([(header::CONTENT_TYPE, "application/jsonl")], bytes).into_response())
        }
        "markdown" => {
            let text = threads::export_markdown(store, &signed.actor, &project, &thread, q.branch.as_deref()).await?;
            Ok(([(header::CONTENT_TYPE, "text/markdown; charset=utf-8")], text).into_response())
        }
        _ => Err(ApiError::InvalidField {
            code: "invalid_format",
            field: "format",
            message: "format must be jsonl or markdown".into(),
        }),
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct UsersQuery {
    q: Option<String>,
    after: Option<String>,
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/projects/{project}/users", tag = "admin", params(UsersQuery), responses((status = 200, body = crate::openapi::Page)))]
async fn list_users(
    State(state): State<AppState>,
    signed: Signed,
    Path(project): Path<String>,
    ApiQuery(q): ApiQuery<UsersQuery>,
) -> Answer {
    let query = UserQuery { project_id: project, search: q.q, after: q.after, limit: q.limit.unwrap_or(50) };
    let listed = users::list(state.store.as_ref(), &signed.actor, query).await?;
    let items = listed
        .items
        .iter()
        .map(|u| {
            let r = &u.record;
            json!({
                "user_id": r.user_id, "display_name": r.display_name, "anonymous": r.anonymous, "workspaces": r.workspaces,
                "threads": u.threads, "threads_capped": u.threads_capped,
                "first_seen_at": format_ms(r.first_seen_at), "last_seen_at": format_ms(r.last_seen_at),
            })
        })
        .collect();
    Ok(page_json(items, listed.next))
}

#[utoipa::path(get, path = "/projects/{project}/users/{user}/erasure", tag = "admin", responses((status = 200, description = "What erasing the user would delete", body = Object)))]
async fn erasure_preview(
    State(state): State<AppState>,
    signed: Signed,
    Path((project, user)): Path<(String, String)>,
) -> Answer {
    let preview = users::erasure_preview(state.store.as_ref(), &signed.actor, &project, &user).await?;
    Ok(Json(
        json!({ "user_id": preview.user_id, "threads": preview.threads, "other_workspaces": preview.other_workspaces, "description": preview.describe() }),
    ))
}

#[utoipa::path(delete, path = "/projects/{project}/users/{user}", tag = "admin", responses((status = 200, description = "What was deleted", body = Object)))]
async fn erase_user(
    State(state): State<AppState>,
    signed: Signed,
    Path((project, user)): Path<(String, String)>,
) -> Answer {
    let erasure = users::erase(state.store.as_ref(), state.blobs.as_ref(), &signed.actor, &project, &user).await?;
    Ok(Json(json!({ "deleted_threads": erasure.threads, "deleted_files": erasure.attachment_keys.len() })))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct RunsQuery {
    status: Option<String>,
    thread_id: Option<String>,
    before: Option<String>,
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/projects/{project}/runs", tag = "admin", params(RunsQuery), responses((status = 200, body = crate::openapi::Page)))]
async fn list_runs(
    State(state): State<AppState>,
    signed: Signed,
    Path(project): Path<String>,
    ApiQuery(q): ApiQuery<RunsQuery>,
) -> Answer {
    let listed = telemetry::runs(
        state.store.as_ref(),
        &signed.actor,
        &project,
        q.status,
        q.thread_id,
        q.before,
        q.limit.unwrap_or(50),
    )
    .await?;
    let items = listed
        .items
        .iter()
        .map(|run| {
            json!({
                "id": run.id, "status": run.status, "thread_id": run.thread_id, "workspace_id": run.scope.workspace_id,
                "user_id": run.created_by, "model": run.model_id, "provider": run.provider,
                "input_tokens": run.input_tokens, "output_tokens": run.output_tokens, "duration_ms": run.duration_ms,
                "steps": run.total_steps, "tool_calls": telemetry::tool_call_count(run.tool_calls.as_deref()),
                "created_at": format_ms(run.created_at),
            })
        })
        .collect();
    Ok(page_json(items, listed.next))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PageQuery {
    thread_id: Option<String>,
    before: Option<String>,
    limit: Option<u32>,
}

impl PageQuery {
    fn page(self, project: String) -> ProjectPage {
        ProjectPage {
            project_id: project,
            thread_id: self.thread_id,
            before: self.before,
            limit: self.limit.unwrap_or(50),
        }
    }
}

#[utoipa::path(get, path = "/projects/{project}/feedback", tag = "admin", params(PageQuery), responses((status = 200, body = crate::openapi::Page)))]
async fn list_feedback(
    State(state): State<AppState>,
    signed: Signed,
    Path(project): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Answer {
    let listed = telemetry::feedback(state.store.as_ref(), &signed.actor, q.page(project)).await?;
    let items = listed
        .items
        .iter()
        .map(|f| json!({ "id": f.id, "thread_id": f.thread_id, "message_id": f.message_id, "user_id": f.user_id, "type": f.kind, "comment": f.comment, "updated_at": format_ms(f.updated_at) }))
        .collect();
    Ok(page_json(items, listed.next))
}

#[utoipa::path(get, path = "/projects/{project}/scores", tag = "admin", params(PageQuery), responses((status = 200, body = crate::openapi::Page)))]
async fn list_scores(
    State(state): State<AppState>,
    signed: Signed,
    Path(project): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Answer {
    let listed =
        telemetry::scores(state.store.as_ref(), &signed.actor, &project, q.thread_id, q.before, q.limit.unwrap_or(50))
            .await?;
    let items = listed
        .items
        .iter()
        .map(|s| {
            let (target_type, target_id) = telemetry::score_target(s);
            json!({ "id": s.id, "name": s.name, "data_type": s.data_type, "value": s.value, "string_value": s.string_value, "target_type": target_type, "target_id": target_id, "author": s.author_id, "source": s.source, "comment": s.comment, "updated_at": format_ms(s.updated_at) })
        })
        .collect();
    Ok(page_json(items, listed.next))
}

fn key_json(key: &ApiKey) -> Value {
    json!({
        "id": key.id, "name": key.name, "key": key.display_prefix, "status": keys::status(key, now_ms()),
        "created_at": format_ms(key.created_at), "last_used_at": key.last_used_at.map(format_ms),
        "expires_at": key.expires_at.map(format_ms), "revoked_at": key.revoked_at.map(format_ms),
    })
}

#[utoipa::path(get, path = "/projects/{project}/keys", tag = "admin", responses((status = 200, description = "`{keys: [...]}`", body = Object)))]
async fn list_keys(State(state): State<AppState>, _signed: Signed, Path(project): Path<String>) -> Answer {
    projects::require(state.store.as_ref(), &project).await?;
    let listed = keys::list(state.store.as_ref(), Some(&project)).await?;
    Ok(page_json(listed.iter().map(key_json).collect(), None))
}

#[derive(Deserialize, ToSchema)]
struct NewKey {
    #[serde(default)]
    name: String,
    expires_in_days: Option<u32>,
}

#[utoipa::path(post, path = "/projects/{project}/keys", tag = "admin", request_body = NewKey, responses((status = 201, description = "The key record and, once, its secret", body = Object)))]
async fn create_key(
    State(state): State<AppState>,
    signed: Signed,
    Path(project): Path<String>,
    JsonBody(body): JsonBody<NewKey>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let issued = keys::create(state.store.as_ref(), &signed.actor, &project, &body.name, body.expires_in_days).await?;
    let mut answer = key_json(&issued.record);
    answer["secret"] = Value::String(issued.secret);
    Ok((StatusCode::CREATED, Json(answer)))
}

#[utoipa::path(delete, path = "/projects/{project}/keys/{key}", tag = "admin", responses((status = 200, body = Object)))]
async fn revoke_key(
    State(state): State<AppState>,
    signed: Signed,
    Path((project, key)): Path<(String, String)>,
) -> Answer {
    keys::revoke(state.store.as_ref(), &signed.actor, Some(&project), &key).await?;
    Ok(Json(json!({})))
}

fn rule_json(rule: &AuthRule) -> Value {
    json!({
        "id": rule.id, "name": rule.name, "provider": rule.provider, "issuer": rule.issuer, "audiences": rule.audiences,
        "jwks_url": rule.jwks_url, "discovery": rule.discovery, "shared_secret": rule.shared_secret.is_some(),
        "algorithms": rule.algorithms, "clock_skew_secs": rule.clock_skew_secs, "max_lifetime_secs": rule.max_lifetime_secs,
        "authorized_parties": rule.authorized_parties, "workspace": rule.workspace_template,
        "workspace_fallback": rule.workspace_fallback, "name_claim": rule.name_claim, "token_type": rule.token_type,
    })
}

#[utoipa::path(get, path = "/projects/{project}/rules", tag = "admin", responses((status = 200, description = "`{rules: [...]}`", body = Object)))]
async fn list_rules(State(state): State<AppState>, _signed: Signed, Path(project): Path<String>) -> Answer {
    let listed = rules::list(state.store.as_ref(), &state.verifier.jwks, &state.config.auth_rules, &project).await?;
    let items = listed
        .iter()
        .map(|view| {
            let mut rule = rule_json(&view.rule);
            rule["configured"] = Value::Bool(view.configured);
            rule["keys"] = json!({
                "source": view.key_source,
                "fetched_secs_ago": view.keys.fetched_ago.map(|d| d.as_secs()),
                "kids": view.keys.kids,
                "last_error": view.keys.last_error.as_ref().map(|(ago, error)| json!({ "secs_ago": ago.as_secs(), "error": error })),
            });
            rule
        })
        .collect();
    Ok(page_json(items, None))
}

/// A rule as the API takes it: the fields of `threadhold rules add`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RuleBody {
    provider: String,
    issuer: String,
    name: Option<String>,
    #[serde(default)]
    audiences: Vec<String>,
    jwks_url: Option<String>,
    shared_secret: Option<String>,
    #[serde(default)]
    algorithms: Vec<String>,
    clock_skew_secs: Option<i64>,
    max_lifetime_secs: Option<i64>,
    #[serde(default)]
    authorized_parties: Vec<String>,
    workspace: Option<String>,
    workspace_fallback: Option<String>,
    name_claim: Option<String>,
    token_type: Option<String>,
}

impl From<RuleBody> for RuleInput {
    fn from(body: RuleBody) -> Self {
        RuleInput {
            provider: body.provider,
            name: body.name,
            issuer: body.issuer,
            audiences: body.audiences,
            jwks_url: body.jwks_url,
            shared_secret: body.shared_secret.map(String::into_bytes),
            algorithms: body.algorithms,
            clock_skew_secs: body.clock_skew_secs,
            max_lifetime_secs: body.max_lifetime_secs,
            authorized_parties: body.authorized_parties,
            workspace: body.workspace,
            workspace_fallback: body.workspace_fallback,
            name_claim: body.name_claim,
            token_type: body.token_type,
        }
    }
}

#[utoipa::path(post, path = "/projects/{project}/rules", tag = "admin", request_body = RuleBody, responses((status = 201, description = "The rule", body = Object)))]
async fn add_rule(
    State(state): State<AppState>,
    signed: Signed,
    Path(project): Path<String>,
    JsonBody(body): JsonBody<RuleBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let rule =
        rules::add(state.store.as_ref(), &signed.actor, &project, body.into(), &state.config.jwks_allow_hosts).await?;
    Ok((StatusCode::CREATED, Json(rule_json(&rule))))
}

#[utoipa::path(put, path = "/projects/{project}/rules/{rule}", tag = "admin", request_body = RuleBody, responses((status = 200, description = "The rule", body = Object)))]
async fn update_rule(
    State(state): State<AppState>,
    signed: Signed,
    Path((project, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<RuleBody>,
) -> Answer {
    let rule =
        rules::update(state.store.as_ref(), &signed.actor, &project, &id, body.into(), &state.config.jwks_allow_hosts)
            .await?;
    Ok(Json(rule_json(&rule)))
}

#[utoipa::path(delete, path = "/projects/{project}/rules/{rule}", tag = "admin", responses((status = 200, body = Object)))]
async fn remove_rule(
    State(state): State<AppState>,
    signed: Signed,
    Path((project, id)): Path<(String, String)>,
) -> Answer {
    rules::remove(state.store.as_ref(), &signed.actor, Some(&project), &id).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize, ToSchema)]
struct TokenBody {
    token: String,
}

#[utoipa::path(post, path = "/projects/{project}/rules/test", tag = "admin", request_body = TokenBody, responses((status = 200, description = "Which rule accepts the token, and the caller it yields, or why none does", body = Object)))]
async fn test_token(
    State(state): State<AppState>,
    signed: Signed,
    Path(project): Path<String>,
    JsonBody(body): JsonBody<TokenBody>,
) -> Answer {
    let verifiers = Verifiers { jwks: &state.verifier.jwks, keys: &state.keys, configured: &state.config.auth_rules };
    let report = rules::test_token(state.store.as_ref(), &verifiers, &signed.actor, &project, &body.token).await?;
    Ok(Json(serde_json::to_value(report).map_err(|error| ApiError::Internal(error.to_string()))?))
}

#[utoipa::path(get, path = "/projects/{project}/access", tag = "admin", responses((status = 200, description = "The anonymous switch and the allowed origins", body = Object)))]
async fn access_settings(State(state): State<AppState>, _signed: Signed, Path(project): Path<String>) -> Answer {
    let s = access::settings(state.store.as_ref(), &state.config, &project).await?;
    Ok(Json(json!({
        "anonymous_enabled": s.anonymous_enabled,
        "anonymous_enabled_server_wide": s.anonymous_enabled_server_wide,
        "anonymous_mints_per_minute": s.mints_per_minute,
        "anonymous_refreshes_per_minute": s.refreshes_per_minute,
        "allowed_origins": s.allowed_origins,
        "workspace_token_ttl_secs": s.workspace_token_ttl_secs,
        "anonymous_token_ttl_secs": s.anonymous_token_ttl_secs,
        "refresh_token_ttl_secs": s.refresh_token_ttl_secs,
        "token_max_lifetime_secs": s.token_max_lifetime_secs,
    })))
}

#[derive(Deserialize, ToSchema)]
struct Switch {
    enabled: bool,
}

#[utoipa::path(put, path = "/projects/{project}/access/anonymous", tag = "admin", request_body = Switch, responses((status = 200, body = Object)))]
async fn set_anonymous(
    State(state): State<AppState>,
    signed: Signed,
    Path(project): Path<String>,
    JsonBody(body): JsonBody<Switch>,
) -> Answer {
    access::set_anonymous(state.store.as_ref(), &signed.actor, &project, body.enabled).await?;
    Ok(Json(json!({ "anonymous_enabled": body.enabled })))
}

#[derive(Deserialize, ToSchema)]
struct Origins {
    allowed_origins: Vec<String>,
}

#[utoipa::path(put, path = "/projects/{project}/access/origins", tag = "admin", request_body = Origins, responses((status = 200, body = Object)))]
async fn set_origins(
    State(state): State<AppState>,
    signed: Signed,
    Path(project): Path<String>,
    JsonBody(body): JsonBody<Origins>,
) -> Answer {
    access::set_origins(state.store.as_ref(), &signed.actor, &project, &body.allowed_origins).await?;
    Ok(Json(json!({})))
}

#[utoipa::path(get, path = "/projects/{project}/retention", tag = "admin", responses((status = 200, body = Object)))]
async fn retention_settings(State(state): State<AppState>, _signed: Signed, Path(project): Path<String>) -> Answer {
    let s = retention::settings(state.store.as_ref(), state.config.retention_days, &project).await?;
    Ok(Json(
        json!({ "project_days": s.project_days, "server_days": s.server_days, "effective_days": s.effective_days() }),
    ))
}

#[derive(Deserialize, ToSchema)]
struct Retention {
    days: Option<u32>,
}

#[utoipa::path(put, path = "/projects/{project}/retention", tag = "admin", request_body = Retention, responses((status = 200, body = Object)))]
async fn set_retention(
    State(state): State<AppState>,
    signed: Signed,
    Path(project): Path<String>,
    JsonBody(body): JsonBody<Retention>,
) -> Answer {
    retention::set(state.store.as_ref(), &signed.actor, &project, body.days).await?;
    Ok(Json(json!({ "project_days": body.days })))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Preview {
    days: u32,
}

#[utoipa::path(get, path = "/projects/{project}/retention/preview", tag = "admin", params(Preview), responses((status = 200, description = "What a retention of `days` would delete now", body = Object)))]
async fn retention_preview(
    State(state): State<AppState>,
    signed: Signed,
    Path(project): Path<String>,
    ApiQuery(q): ApiQuery<Preview>,
) -> Answer {
    let threads = retention::preview(state.store.as_ref(), &signed.actor, &project, q.days).await?;
    Ok(Json(json!({ "days": q.days, "threads": threads, "capped": threads >= u64::from(retention::PREVIEW_CAP) })))
}

#[utoipa::path(get, path = "/accounts", tag = "admin", responses((status = 200, description = "`{accounts: [...]}` (owners only)", body = Object)))]
async fn list_accounts(State(state): State<AppState>, signed: Signed) -> Answer {
    let listed = admins::list(state.store.as_ref(), &signed.actor).await?;
    Ok(page_json(listed.iter().map(account_json).collect(), None))
}

#[derive(Deserialize, ToSchema)]
struct NewAccount {
    email: String,
    role: String,
    password: String,
}

#[utoipa::path(post, path = "/accounts", tag = "admin", request_body = NewAccount, responses((status = 201, description = "The account", body = Object)))]
async fn add_account(
    State(state): State<AppState>,
    signed: Signed,
    JsonBody(body): JsonBody<NewAccount>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let account = admins::add(state.store.as_ref(), &signed.actor, &body.email, &body.role, &body.password).await?;
    Ok((StatusCode::CREATED, Json(account_json(&account))))
}

#[utoipa::path(delete, path = "/accounts/{email}", tag = "admin", responses((status = 200, body = Object)))]
async fn remove_account(State(state): State<AppState>, signed: Signed, Path(email): Path<String>) -> Answer {
    admins::remove(state.store.as_ref(), &signed.actor, &email).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditParams {
    project: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    before: Option<String>,
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/audit", tag = "admin", params(AuditParams), responses((status = 200, body = crate::openapi::Page)))]
async fn list_audit(State(state): State<AppState>, signed: Signed, ApiQuery(q): ApiQuery<AuditParams>) -> Answer {
    let query = AuditQuery {
        project_id: q.project,
        actor: q.actor,
        action: q.action,
        before: q.before,
        limit: q.limit.unwrap_or(50),
    };
    let listed = audit::list(state.store.as_ref(), &signed.actor, query).await?;
    let items = listed
        .items
        .iter()
        .map(|e| {
            json!({
                "id": e.id, "at": format_ms(e.at), "actor": e.actor, "action": e.action, "project_id": e.project_id,
                "object_type": e.object_type, "object_id": e.object_id,
                "details": serde_json::from_str::<Value>(&e.details).unwrap_or(Value::Null),
            })
        })
        .collect();
    Ok(page_json(items, listed.next))
}
