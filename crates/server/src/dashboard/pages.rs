//! The dashboard's pages: parse the request, call the service, render HTML.
//! Forms post back to the page; a refused value is shown next to its field.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::Form;
use axum::Router;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;
use threadhold_auth::rules::RuleInput;
use threadhold_domain::dashboard::{AuditQuery, ProjectPage, UserQuery};
use threadhold_domain::model::{AuthRule, DEFAULT_PROJECT_ID};
use threadhold_domain::{now_ms, parse_timestamp};

use super::views::{self, Frame, csrf, empty, field, form_error, maybe_time, next_link, page, project_path, time};
use super::{
    FormError, LOGIN_COOKIE, SESSION_COOKIE, Signed, charts, clear_cookie, client_ip, cookie, over_https,
    session_cookie,
};
use crate::error::{ApiError, ApiResult};
use crate::service::rules::{Decision, PRESETS, TokenReport, Verifiers};
use crate::service::threads::{Part, ThreadFilters};
use crate::service::{
    Permission, access, admins, allows, audit, keys, overview, projects, retention, rules, telemetry, threads, users,
};
use crate::state::AppState;

type Page = ApiResult<Response>;
type Fields = HashMap<String, String>;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/switch", get(switch))
        .route("/projects", get(projects_page).post(create_project))
        .route("/accounts", get(accounts_page).post(add_account))
        .route("/accounts/remove", post(remove_account))
        .route("/audit", get(audit_page))
        .route("/p/{project}", get(overview_page))
        .route("/p/{project}/rename", post(rename_project))
        .route("/p/{project}/threads", get(threads_page))
        .route("/p/{project}/threads/{thread}", get(thread_page))
        .route("/p/{project}/threads/{thread}/delete", post(delete_thread))
        .route("/p/{project}/threads/{thread}/export.md", get(export_markdown))
        .route("/p/{project}/threads/{thread}/export.jsonl", get(export_jsonl))
        .route("/p/{project}/users", get(users_page))
        .route("/p/{project}/users/{user}/erase", get(erase_form).post(erase_user))
        .route("/p/{project}/runs", get(runs_page))
        .route("/p/{project}/keys", get(keys_page).post(create_key))
        .route("/p/{project}/keys/{key}/revoke", post(revoke_key))
        .route("/p/{project}/rules", get(rules_page).post(add_rule))
        .route("/p/{project}/rules/test", get(tester_page).post(test_token))
        .route("/p/{project}/rules/{rule}", get(edit_rule_page).post(edit_rule))
        .route("/p/{project}/rules/{rule}/delete", post(delete_rule))
        .route("/p/{project}/access", get(access_page))
        .route("/p/{project}/access/anonymous", post(set_anonymous))
        .route("/p/{project}/access/origins", post(set_origins))
        .route("/p/{project}/settings", get(settings_page))
        .route("/p/{project}/settings/retention", post(set_retention))
}

fn html_page(markup: Markup) -> Response {
    axum::response::Html(markup.into_string()).into_response()
}

fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// The form's value of `name` (empty when absent).
fn value<'a>(fields: &'a Fields, name: &str) -> &'a str {
    fields.get(name).map_or("", String::as_str)
}

fn checked(signed: &Signed, fields: &Fields) -> ApiResult<()> {
    signed.check_csrf(value(fields, super::CSRF_FIELD))
}

async fn frame_projects(state: &AppState) -> ApiResult<Vec<threadhold_domain::model::Project>> {
    Ok(projects::list(state.store.as_ref()).await?)
}

/// Renders a project page inside the layout.
async fn project_page(
    state: &AppState,
    signed: &Signed,
    project: &str,
    section: &'static str,
    title: &str,
    content: Markup,
) -> Page {
    let projects = frame_projects(state).await?;
    if !projects.iter().any(|p| p.id == project) {
        return Err(projects::ProjectError::NotFound(project.to_owned()).into());
    }
    let frame = Frame { signed, projects: &projects, project: Some(project), section };
    Ok(html_page(page(&frame, title, content)))
}

async fn account_page(state: &AppState, signed: &Signed, section: &'static str, title: &str, content: Markup) -> Page {
    let projects = frame_projects(state).await?;
    let frame = Frame { signed, projects: &projects, project: None, section };
    Ok(html_page(page(&frame, title, content)))
}

async fn home(_signed: Signed) -> Response {
    see_other(&project_path(DEFAULT_PROJECT_ID, "overview"))
}

#[derive(Deserialize)]
struct SwitchQuery {
    project: String,
}

async fn switch(_signed: Signed, Query(query): Query<SwitchQuery>) -> Response {
    see_other(&project_path(&views::encode(&query.project), "overview"))
}

// ---------------------------------------------------------------------------
// Login

#[derive(Deserialize)]
struct LoginQuery {
    expired: Option<String>,
}

fn login_markup(token: &str, email: &str, error: &FormError, notice: Option<&str>) -> Markup {
    views::bare(
        "Sign in",
        html! {
            @if let Some(notice) = notice { p.notice role="status" { (notice) } }
            (form_error(error))
            form.stack method="post" action="/admin/login" {
                input type="hidden" name="_csrf" value=(token);
                (field("email", "Email", email, None, error))
                div.field {
                    label for="password" { "Password" }
                    input #password type="password" name="password" autocomplete="current-password" aria-invalid=[error.on("password").map(|_| "true")];
                    @if let Some(message) = error.on("password") { p.error role="alert" { (message) } }
                }
                button.primary type="submit" { "Sign in" }
            }
        },
    )
}

async fn login_form(Query(query): Query<LoginQuery>) -> Response {
    let token = threadhold_domain::ids::random_secret(32);
    let notice = query.expired.map(|_| "Your session has ended; sign in again.");
    let mut response = html_page(login_markup(&token, "", &FormError::default(), notice));
    response.headers_mut().append(header::SET_COOKIE, session_cookie(LOGIN_COOKIE, &token, false));
    response
}

async fn login(
    State(state): State<AppState>,
    connect: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(fields): Form<Fields>,
) -> Page {
    let sent = value(&fields, "_csrf");
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if sent.is_empty() || sent != expected {
        return Err(ApiError::Forbidden {
            code: "csrf_failed",
            message: "Reload the sign-in page and try again".into(),
        });
    }
    let email = value(&fields, "email");
    let client = client_ip(&state, &connect, &headers);
    let outcome = admins::login(
        state.store.as_ref(),
        &state.logins,
        state.config.admin_sessions,
        email,
        value(&fields, "password"),
        client,
    )
    .await;
    match outcome {
        Ok(session) => {
            let mut response = see_other("/admin");
            let secure = over_https(&state, connect.0.ip(), &headers);
            let cookies = response.headers_mut();
            cookies.append(header::SET_COOKIE, session_cookie(SESSION_COOKIE, &session.token, secure));
            cookies.append(header::SET_COOKIE, clear_cookie(LOGIN_COOKIE));
            Ok(response)
        }
        Err(error @ (admins::AdminError::Store(_) | admins::AdminError::Hashing(_))) => Err(error.into()),
        Err(error) => {
            let status = match error {
                admins::AdminError::TooManyAttempts(_) => axum::http::StatusCode::TOO_MANY_REQUESTS,
                _ => axum::http::StatusCode::UNAUTHORIZED,
            };
            let error = FormError { field: None, message: error.to_string() };
            Ok((status, html_page(login_markup(sent, email, &error, None))).into_response())
        }
    }
}

async fn logout(State(state): State<AppState>, signed: Signed, Form(fields): Form<Fields>) -> Page {
    checked(&signed, &fields)?;
    admins::logout(state.store.as_ref(), &signed.actor, &signed.token).await?;
    let mut response = see_other("/admin/login");
    response.headers_mut().append(header::SET_COOKIE, clear_cookie(SESSION_COOKIE));
    Ok(response)
}

// ---------------------------------------------------------------------------
// Overview

#[derive(Deserialize)]
struct OverviewQuery {
    days: Option<u32>,
}

fn base_url(state: &AppState, headers: &HeaderMap, project: &str) -> String {
    let origin = state.config.files.public_url.clone().unwrap_or_else(|| {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1:8787");
        format!("http://{host}")
    });
    let origin = origin.trim_end_matches('/');
    if project == DEFAULT_PROJECT_ID { origin.to_owned() } else { format!("{origin}/projects/{project}") }
}

async fn overview_page(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Path(project): Path<String>,
    Query(query): Query<OverviewQuery>,
) -> Page {
    let days = query.days.unwrap_or(overview::RANGE_DEFAULT);
    let activity = overview::activity(state.store.as_ref(), &signed.actor, &project, days).await?;
    let base = base_url(&state, &headers, &project);
    let series = |pick: fn(&threadhold_domain::dashboard::DayActivity) -> i64| -> Vec<(i64, i64)> {
        activity.days.iter().map(|d| (d.day, pick(d))).collect()
    };
    let content = html! {
        section.connect {
            h2 { "Connect a client" }
            dl.facts {
                dt { "baseUrl" } dd { code #base-url { (base) } " " button.copy type="button" data-copy="#base-url" { "Copy" } }
                dt { "JWKS URL" } dd { code { (base) "/.well-known/jwks.json" } }
            }
            pre { code { "new AssistantCloud({ baseUrl: \"" (base) "\", anonymous: true })" } }
        }
        form.inline method="get" {
            label for="days" { "Range" }
            select #days name="days" data-autosubmit {
                @for choice in overview::RANGE_CHOICES {
                    option value=(choice) selected[choice == days] { "Last " (choice) " days" }
                }
            }
            noscript { button type="submit" { "Show" } }
        }
        ul.counts {
            li { strong { (activity.threads) } " threads started" }
            li { strong { (activity.messages) } " messages" }
            li { strong { (activity.active_users) } " active users" }
            li { strong { (activity.runs) } " runs" }
        }
        p.muted { "Counted per day as they are written (deleted data stays counted); the last " (days) " days." }
        div.charts {
            (charts::bars("Messages per day", &series(|d| d.messages)))
            (charts::bars("Active users per day", &series(|d| d.active_users)))
            (charts::bars("Runs per day", &series(|d| d.runs)))
        }
    };
    project_page(&state, &signed, &project, "overview", "Overview", content).await
}

// ---------------------------------------------------------------------------
// Threads

#[derive(Deserialize, Default)]
struct ThreadsQuery {
    q: Option<String>,
    workspace: Option<String>,
    user: Option<String>,
    archived: Option<String>,
    from: Option<String>,
    until: Option<String>,
    after: Option<String>,
}

fn non_empty(value: &Option<String>) -> Option<String> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
}

/// A date (`YYYY-MM-DD`) or a timestamp of a filter.
fn date_filter(value: &Option<String>, field: &'static str) -> Result<Option<i64>, FormError> {
    let Some(text) = non_empty(value) else { return Ok(None) };
    let full = if text.len() == 10 { format!("{text}T00:00:00Z") } else { text.clone() };
    parse_timestamp(&full)
        .map(Some)
        .ok_or(FormError { field: Some(field), message: format!("{text} is not a date (YYYY-MM-DD)") })
}

async fn threads_page(
    State(state): State<AppState>,
    signed: Signed,
    Path(project): Path<String>,
    Query(query): Query<ThreadsQuery>,
) -> Page {
    let archived = match query.archived.as_deref() {
        Some("yes") => Some(true),
        Some("no") => Some(false),
        _ => None,
    };
    let mut error = FormError::default();
    let from = date_filter(&query.from, "from").unwrap_or_else(|e| {
        error = e;
        None
    });
    let until = date_filter(&query.until, "until").unwrap_or_else(|e| {
        error = e;
        None
    });
    let filters = ThreadFilters {
        workspace: non_empty(&query.workspace),
        user: non_empty(&query.user),
        archived,
        from,
        until,
        search: non_empty(&query.q),
        after: non_empty(&query.after),
        limit: 25,
    };
    let listed = threads::list(state.store.as_ref(), &signed.actor, &project, filters).await;
    let listed = match listed {
        Ok(listed) => Some(listed),
        Err(fault) => {
            error = FormError::from_fault(fault)?;
            None
        }
    };
    let here = format!(
        "{}?q={}&workspace={}&user={}&archived={}&from={}&until={}",
        project_path(&project, "threads"),
        views::encode(query.q.as_deref().unwrap_or_default()),
        views::encode(query.workspace.as_deref().unwrap_or_default()),
        views::encode(query.user.as_deref().unwrap_or_default()),
        views::encode(query.archived.as_deref().unwrap_or_default()),
        views::encode(query.from.as_deref().unwrap_or_default()),
        views::encode(query.until.as_deref().unwrap_or_default()),
    );
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let content = html! {
        form.filters method="get" role="search" {
            (field("q", "Search titles and messages", &text(&query.q), None, &error))
            (field("workspace", "Workspace", &text(&query.workspace), None, &error))
            (field("user", "User", &text(&query.user), None, &error))
            div.field {
                label for="archived" { "Archived" }
                select #archived name="archived" {
                    option value="" selected[archived.is_none()] { "Any" }
                    option value="no" selected[archived == Some(false)] { "Active only" }
                    option value="yes" selected[archived == Some(true)] { "Archived only" }
                }
            }
            (field("from", "From (last message)", &text(&query.from), Some("YYYY-MM-DD"), &error))
            (field("until", "Until", &text(&query.until), Some("YYYY-MM-DD, exclusive"), &error))
            button.primary type="submit" { "Filter" }
        }
        (form_error(&error))
        @if let Some(listed) = &listed {
            @if listed.items.is_empty() {
                (empty("No threads match.", html! { p { "Threads appear here as soon as a client stores one; clear the filters to see every thread." } }))
            } @else {
                table {
                    thead { tr { th scope="col" { "Title" } th scope="col" { "Workspace" } th scope="col" { "Last message" } th scope="col" { "State" } } }
                    tbody {
                        @for row in &listed.items {
                            tr {
                                td {
                                    a href=(format!("{}/{}", project_path(&project, "threads"), row.thread.id)) { (row.thread.title.as_deref().unwrap_or("Untitled")) }
                                    @if let Some(snippet) = &row.snippet { p.snippet { (snippet) } }
                                }
                                td { code { (row.thread.workspace_id) } }
                                td { (time(row.thread.last_message_at)) }
                                td { @if row.thread.is_archived { "archived" } @else { "active" } }
                            }
                        }
                    }
                }
                (next_link(&here, "after", listed.next.as_deref()))
            }
        }
    };
    project_page(&state, &signed, &project, "threads", "Threads", content).await
}

#[derive(Deserialize)]
struct ThreadQuery {
    branch: Option<String>,
}

fn render_part(part: &Part) -> Markup {
    html! {
        @match part {
            Part::Text(text) => p.text { (text) },
            Part::Reasoning(text) => details.reasoning { summary { "Reasoning" } p { (text) } },
            Part::ToolCall { name, args, result } => div.tool {
                p { "Tool call " code { (name) } }
                pre { code { (args) } }
                @if let Some(result) = result { p { "Result" } pre { code { (result) } } }
            },
            Part::File { name, url: Some(url), media_type } => p.file {
                "Attachment: " a href=(url) rel="noopener noreferrer" { (name) }
                @if let Some(media_type) = media_type { " " span.muted { "(" (media_type) ")" } }
            },
            Part::File { name, url: None, .. } => p.file { "Attachment: " (name) },
            Part::Other(json) => pre.other { code { (json) } },
        }
    }
}

async fn thread_page(
    State(state): State<AppState>,
    signed: Signed,
    Path((project, thread_id)): Path<(String, String)>,
    Query(query): Query<ThreadQuery>,
) -> Page {
    let store = state.store.as_ref();
    let transcript = threads::transcript(store, &signed.actor, &project, &thread_id, query.branch.as_deref()).await?;
    let thread = &transcript.thread;
    let runs = telemetry::runs(store, &signed.actor, &project, None, Some(thread_id.clone()), None, 20).await?;
    let feedback_page =
        ProjectPage { project_id: project.clone(), thread_id: Some(thread_id.clone()), before: None, limit: 20 };
    let feedback = telemetry::feedback(store, &signed.actor, feedback_page).await?;
    let base = format!("{}/{}", project_path(&project, "threads"), thread.id);
    let branch_query = query.branch.as_deref().map(|b| format!("?branch={}", views::encode(b))).unwrap_or_default();
    let content = html! {
        div.actions {
            a.button href=(format!("{base}/export.md{branch_query}")) { "Export Markdown" }
            a.button href=(format!("{base}/export.jsonl")) { "Export JSON Lines" }
            @if allows(&signed.actor, Permission::DeleteThreads) {
                form method="post" action=(format!("{base}/delete")) data-confirm="Delete this thread with all its messages and files?" {
                    (csrf(&signed))
                    button.danger type="submit" { "Delete thread" }
                }
            }
        }
        dl.facts {
            dt { "Thread" } dd { code { (thread.id) } }
            dt { "Workspace" } dd { a href=(format!("{}?workspace={}", project_path(&project, "threads"), views::encode(&thread.workspace_id))) { code { (thread.workspace_id) } } }
            dt { "Created" } dd { (time(thread.created_at)) }
            dt { "Last message" } dd { (time(thread.last_message_at)) }
            dt { "External id" } dd { (thread.external_id.as_deref().unwrap_or("—")) }
            dt { "State" } dd { @if thread.is_archived { "archived" } @else { "active" } }
            dt { "Messages" } dd { (transcript.message_count) @if transcript.has_branches() { " (with branches)" } }
        }
        @if let Some(metadata) = &thread.metadata { details { summary { "Metadata" } pre { code { (metadata) } } } }
        @if transcript.truncated { p.notice { "This thread is long; the transcript shows its first " (threads::TRANSCRIPT_MESSAGES_MAX) " messages." } }
        h2 { "Transcript" }
        @if transcript.entries.is_empty() {
            (empty("This thread has no messages yet.", html! {}))
        }
        ol.transcript {
            @for entry in &transcript.entries {
                li class=(format!("message {}", entry.role)) {
                    div.meta {
                        strong { (entry.role) }
                        " · " (time(entry.message.created_at))
                        @if entry.siblings.len() > 1 {
                            nav.branches aria-label=(format!("Branches of this {} message", entry.role)) {
                                @if entry.position > 0 {
                                    a href=(format!("{base}?branch={}", views::encode(&entry.siblings[entry.position - 1]))) aria-label="Previous branch" { "‹" }
                                }
                                span { "Branch " (entry.position + 1) " of " (entry.siblings.len()) }
                                @if entry.position + 1 < entry.siblings.len() {
                                    a href=(format!("{base}?branch={}", views::encode(&entry.siblings[entry.position + 1]))) aria-label="Next branch" { "›" }
                                }
                            }
                        }
                    }
                    @for part in &entry.parts { (render_part(part)) }
                }
            }
        }
        h2 { "Runs" }
        @if runs.items.is_empty() { p.muted { "No run reports for this thread." } }
        @else {
            table { thead { tr { th scope="col" { "When" } th scope="col" { "Status" } th scope="col" { "Model" } th scope="col" { "Tokens in/out" } } }
                tbody { @for run in &runs.items { tr { td { (time(run.created_at)) } td { (run.status.as_deref().unwrap_or("—")) } td { (run.model_id.as_deref().unwrap_or("—")) } td { (run.input_tokens.unwrap_or(0)) " / " (run.output_tokens.unwrap_or(0)) } } } } }
        }
        h2 { "Feedback" }
        @if feedback.items.is_empty() { p.muted { "No feedback on this thread." } }
        @else {
            ul { @for item in &feedback.items { li { (item.kind) " by " code { (item.user_id) } @if let Some(comment) = &item.comment { ": " (comment) } } } }
        }
    };
    let title = thread.title.clone().unwrap_or_else(|| "Untitled thread".into());
    project_page(&state, &signed, &project, "threads", &title, content).await
}

async fn delete_thread(
    State(state): State<AppState>,
    signed: Signed,
    Path((project, thread_id)): Path<(String, String)>,
    Form(fields): Form<Fields>,
) -> Page {
    checked(&signed, &fields)?;
    threads::delete(state.store.as_ref(), state.blobs.as_ref(), &signed.actor, &project, &thread_id).await?;
    Ok(see_other(&project_path(&project, "threads")))
}

fn download(body: impl Into<axum::body::Body>, content_type: &'static str, filename: &str) -> Response {
    let disposition = format!("attachment; filename=\"{filename}\"");
    let mut response = (axum::http::StatusCode::OK, body.into()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

async fn export_markdown(
    State(state): State<AppState>,
    signed: Signed,
    Path((project, thread_id)): Path<(String, String)>,
    Query(query): Query<ThreadQuery>,
) -> Page {
    let text =
        threads::export_markdown(state.store.as_ref(), &signed.actor, &project, &thread_id, query.branch.as_deref())
            .await?;
    Ok(download(text, "text/markdown; charset=utf-8", &format!("{thread_id}.md")))
}

async fn export_jsonl(
    State(state): State<AppState>,
    signed: Signed,
    Path((project, thread_id)): Path<(String, String)>,
) -> Page {
    let bytes = threads::export_jsonl(state.store.as_ref(), &signed.actor, &project, &thread_id).await?;
    Ok(download(bytes, "application/jsonl", &format!("{thread_id}.jsonl")))
}

// ---------------------------------------------------------------------------
// Users

#[derive(Deserialize)]
struct UsersQuery {
    q: Option<String>,
    after: Option<String>,
}

async fn users_page(
    State(state): State<AppState>,
    signed: Signed,
    Path(project): Path<String>,
    Query(query): Query<UsersQuery>,
) -> Page {
    let request = UserQuery {
        project_id: project.clone(),
        search: non_empty(&query.q),
        after: non_empty(&query.after),
        limit: 50,
    };
    let listed = users::list(state.store.as_ref(), &signed.actor, request).await?;
    let here =
        format!("{}?q={}", project_path(&project, "users"), views::encode(query.q.as_deref().unwrap_or_default()));
    let content = html! {
        form.filters method="get" role="search" {
            (field("q", "Search by id or name", query.q.as_deref().unwrap_or_default(), None, &FormError::default()))
            button.primary type="submit" { "Search" }
        }
        @if listed.items.is_empty() {
            (empty("No users yet.", html! { p { "Users appear once they make a request with an API key, an anonymous token or a provider token." } }))
        } @else {
            table {
                thead { tr { th scope="col" { "User" } th scope="col" { "Name" } th scope="col" { "Kind" } th scope="col" { "Workspaces" } th scope="col" { "Threads" } th scope="col" { "First seen" } th scope="col" { "Last seen" } th scope="col" { span.sr-only { "Actions" } } } }
                tbody {
                    @for user in &listed.items {
                        @let record = &user.record;
                        tr {
                            td { a href=(format!("{}?user={}", project_path(&project, "threads"), views::encode(&record.user_id))) { code { (record.user_id) } } }
                            td { (record.display_name.as_deref().unwrap_or("—")) }
                            td { @if record.anonymous { "anonymous" } @else { "signed in" } }
                            td { (record.workspaces.join(", ")) }
                            td { (user.threads) @if user.threads_capped { "+" } }
                            td { (time(record.first_seen_at)) }
                            td { (time(record.last_seen_at)) }
                            td {
                                @if allows(&signed.actor, Permission::EraseUsers) {
                                    a.danger href=(format!("{}/{}/erase", project_path(&project, "users"), views::encode(&record.user_id))) aria-label=(format!("Erase {}", record.user_id)) { "Erase…" }
                                }
                            }
                        }
                    }
                }
            }
            (next_link(&here, "after", listed.next.as_deref()))
        }
    };
    project_page(&state, &signed, &project, "users", "Users", content).await
}

async fn erase_form(
    State(state): State<AppState>,
    signed: Signed,
    Path((project, user)): Path<(String, String)>,
) -> Page {
    let preview = users::erasure_preview(state.store.as_ref(), &signed.actor, &project, &user).await?;
    let content = html! {
        p.warning role="note" { (preview.describe()) }
        form method="post" {
            (csrf(&signed))
            div.actions {
                button.danger type="submit" { "Erase " (user) }
                a.button href=(project_path(&project, "users")) { "Cancel" }
            }
        }
    };
    project_page(&state, &signed, &project, "users", &format!("Erase {user}?"), content).await
}

async fn erase_user(
    State(state): State<AppState>,
    signed: Signed,
    Path((project, user)): Path<(String, String)>,
    Form(fields): Form<Fields>,
) -> Page {
    checked(&signed, &fields)?;
    users::erase(state.store.as_ref(), state.blobs.as_ref(), &signed.actor, &project, &user).await?;
    Ok(see_other(&project_path(&project, "users")))
}

// ---------------------------------------------------------------------------
// Runs and feedback

#[derive(Deserialize)]
struct RunsQuery {
    status: Option<String>,
    thread: Option<String>,
    before: Option<String>,
}

async fn runs_page(
    State(state): State<AppState>,
    signed: Signed,
    Path(project): Path<String>,
    Query(query): Query<RunsQuery>,
) -> Page {
    let store = state.store.as_ref();
    let status = non_empty(&query.status);
    let thread = non_empty(&query.thread);
    let runs =
        telemetry::runs(store, &signed.actor, &project, status.clone(), thread.clone(), non_empty(&query.before), 50)
            .await?;
    let page_of = ProjectPage { project_id: project.clone(), thread_id: thread.clone(), before: None, limit: 20 };
    let feedback = telemetry::feedback(store, &signed.actor, page_of).await?;
    let scores = telemetry::scores(store, &signed.actor, &project, thread.clone(), None, 20).await?;
    let here = format!(
        "{}?status={}&thread={}",
        project_path(&project, "runs"),
        views::encode(status.as_deref().unwrap_or_default()),
        views::encode(thread.as_deref().unwrap_or_default())
    );
    let thread_link = |id: &str| format!("{}/{}", project_path(&project, "threads"), id);
    let content = html! {
        form.filters method="get" {
            div.field {
                label for="status" { "Status" }
                select #status name="status" {
                    option value="" { "Any" }
                    @for choice in ["completed", "incomplete", "error"] { option value=(choice) selected[status.as_deref() == Some(choice)] { (choice) } }
                }
            }
            (field("thread", "Thread id", thread.as_deref().unwrap_or_default(), None, &FormError::default()))
            button.primary type="submit" { "Filter" }
        }
        h2 { "Runs" }
        @if runs.items.is_empty() {
            (empty("No run reports yet.", html! { p { "The assistant-cloud client reports runs by default (telemetry on)." } }))
        } @else {
            table {
                thead { tr { th scope="col" { "When" } th scope="col" { "Status" } th scope="col" { "Model" } th scope="col" { "Tokens in / out" } th scope="col" { "Duration" } th scope="col" { "Steps" } th scope="col" { "Tool calls" } th scope="col" { "Thread" } } }
                tbody {
                    @for run in &runs.items {
                        tr {
                            td { (time(run.created_at)) }
                            td { (run.status.as_deref().unwrap_or("—")) }
                            td { (run.model_id.as_deref().unwrap_or("—")) }
                            td { (run.input_tokens.map_or("—".into(), |n| n.to_string())) " / " (run.output_tokens.map_or("—".into(), |n| n.to_string())) }
                            td { (run.duration_ms.map_or("—".into(), |ms| format!("{ms} ms"))) }
                            td { (run.total_steps.unwrap_or(0)) }
                            td { (telemetry::tool_call_count(run.tool_calls.as_deref())) }
                            td { @if let Some(id) = &run.thread_id { a href=(thread_link(id)) { code { (id) } } } }
                        }
                    }
                }
            }
            (next_link(&here, "before", runs.next.as_deref()))
        }
        h2 { "Feedback" }
        @if feedback.items.is_empty() { p.muted { "No feedback yet." } }
        @else {
            table { thead { tr { th scope="col" { "When" } th scope="col" { "Rating" } th scope="col" { "Comment" } th scope="col" { "User" } th scope="col" { "Thread" } } }
                tbody { @for item in &feedback.items { tr { td { (time(item.updated_at)) } td { (item.kind) } td { (item.comment.as_deref().unwrap_or("—")) } td { code { (item.user_id) } } td { a href=(thread_link(&item.thread_id)) { code { (item.thread_id) } } } } } } }
        }
        h2 { "Scores" }
        @if scores.items.is_empty() { p.muted { "No scores yet." } }
        @else {
            table { thead { tr { th scope="col" { "When" } th scope="col" { "Name" } th scope="col" { "Value" } th scope="col" { "Target" } th scope="col" { "Author" } } }
                tbody { @for score in &scores.items { tr { td { (time(score.updated_at)) } td { (score.name) } td { (score.value.map_or_else(|| score.string_value.clone().unwrap_or_default(), |v| v.to_string())) } td { (telemetry::score_target(score).0) " " code { (telemetry::score_target(score).1) } } td { code { (score.author_id) } } } } } }
        }
    };
    project_page(&state, &signed, &project, "runs", "Runs and feedback", content).await
}

// ---------------------------------------------------------------------------
// API keys

async fn keys_markup(
    state: &AppState,
    signed: &Signed,
    project: &str,
    created: Option<(&str, &str)>,
    error: &FormError,
    name: &str,
) -> Page {
    let listed = keys::list(state.store.as_ref(), Some(project)).await?;
    let now = now_ms();
    let content = html! {
        @if let Some((secret, key_name)) = created {
            section.secret role="status" {
                h2 { "Key " (key_name) " created" }
                p { "Copy it now: it is shown only once." }
                p { code #new-key { (secret) } " " button.copy type="button" data-copy="#new-key" { "Copy" } }
            }
        }
        @if allows(&signed.actor, Permission::ManageKeys) {
            h2 { "Create a key" }
            (form_error(error))
            form.stack method="post" {
                (csrf(signed))
                (field("name", "Name", name, Some("For example the backend that will use it"), error))
                div.field {
                    label for="expires_in_days" { "Expires" }
                    select #expires_in_days name="expires_in_days" {
                        @for choice in keys::EXPIRY_CHOICES {
                            @match choice {
                                None => option value="" { "Never" },
                                Some(days) => option value=(days) { "In " (days) " days" },
                            }
                        }
                    }
                }
                button.primary type="submit" { "Create key" }
            }
        }
        h2 { "Keys" }
        @if listed.is_empty() {
            (empty("No API keys yet.", html! { p { "Create one for your backend; it mints workspace tokens for your users' browsers." } }))
        } @else {
            table {
                thead { tr { th scope="col" { "Name" } th scope="col" { "Key" } th scope="col" { "Created" } th scope="col" { "Last used" } th scope="col" { "Expires" } th scope="col" { "Status" } th scope="col" { span.sr-only { "Actions" } } } }
                tbody {
                    @for key in &listed {
                        tr {
                            td { (if key.name.is_empty() { "(unnamed)" } else { key.name.as_str() }) }
                            td { code { (key.display_prefix) } }
                            td { (time(key.created_at)) }
                            td { (maybe_time(key.last_used_at, "never")) }
                            td { (maybe_time(key.expires_at, "never")) }
                            td { (keys::status(key, now)) }
                            td {
                                @if key.revoked_at.is_none() && allows(&signed.actor, Permission::ManageKeys) {
                                    form method="post" action=(format!("{}/{}/revoke", project_path(project, "keys"), key.id)) data-confirm="Revoke this key? Requests with it fail at once." {
                                        (csrf(signed))
                                        button.danger type="submit" aria-label=(format!("Revoke {}", key.name)) { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    project_page(state, signed, project, "keys", "API keys", content).await
}

async fn keys_page(State(state): State<AppState>, signed: Signed, Path(project): Path<String>) -> Page {
    keys_markup(&state, &signed, &project, None, &FormError::default(), "").await
}

async fn create_key(
    State(state): State<AppState>,
    signed: Signed,
    Path(project): Path<String>,
    Form(fields): Form<Fields>,
) -> Page {
    checked(&signed, &fields)?;
    let name = value(&fields, "name");
    let expiry = match value(&fields, "expires_in_days") {
        "" => Ok(None),
        days => days.parse::<u32>().map(Some).map_err(|_| keys::KeyError::BadExpiry),
    };
    let created = match expiry {
        Ok(expiry) => keys::create(state.store.as_ref(), &signed.actor, &project, name, expiry).await,
        Err(error) => Err(error),
    };
    match created {
        Ok(issued) => {
            keys_markup(&state, &signed, &project, Some((&issued.secret, name)), &FormError::default(), "").await
        }
        Err(error) => {
            let error = FormError::from_fault(error)?;
            let mut response = keys_markup(&state, &signed, &project, None, &error, name).await?;
            *response.status_mut() = axum::http::StatusCode::BAD_REQUEST;
            Ok(response)
        }
    }
}

async fn revoke_key(
    State(state): State<AppState>,
    signed: Signed,
    Path((project, key)): Path<(String, String)>,
    Form(fields): Form<Fields>,
) -> Page {
    checked(&signed, &fields)?;
    keys::revoke(state.store.as_ref(), &signed.actor, Some(&project), &key).await?;
    Ok(see_other(&project_path(&project, "keys")))
}

// ---------------------------------------------------------------------------
// Auth rules

fn lines(text: &str) -> Vec<String> {
    text.split(['\n', ',']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

fn optional(text: &str) -> Option<String> {
    Some(text.trim()).filter(|t| !t.is_empty()).map(str::to_owned)
}

/// A rule form's fields as the rule input (numbers that do not parse are refused next to their field).
fn rule_input(fields: &Fields) -> Result<RuleInput, FormError> {
    let number = |name: &'static str| -> Result<Option<i64>, FormError> {
        match optional(value(fields, name)) {
            None => Ok(None),
            Some(text) => text
                .parse()
                .map(Some)
                .map_err(|_| FormError { field: Some(name), message: format!("{text} is not a number of seconds") }),
        }
    };
    Ok(RuleInput {
        provider: value(fields, "provider").trim().to_owned(),
        name: optional(value(fields, "name")),
        issuer: value(fields, "issuer").trim().to_owned(),
        audiences: lines(value(fields, "audiences")),
        jwks_url: optional(value(fields, "jwks_url")),
        shared_secret: optional(value(fields, "shared_secret")).map(String::into_bytes),
        algorithms: lines(value(fields, "algorithms")),
        clock_skew_secs: number("clock_skew_secs")?,
        max_lifetime_secs: number("max_lifetime_secs")?,
        authorized_parties: lines(value(fields, "authorized_parties")),
        workspace: optional(value(fields, "workspace")),
        workspace_fallback: optional(value(fields, "workspace_fallback")),
        name_claim: optional(value(fields, "name_claim")),
        token_type: optional(value(fields, "token_type")),
    })
}

fn rule_fields(rule: &AuthRule) -> Fields {
    let mut fields = Fields::new();
    for (name, text) in [
        ("provider", rule.provider.clone()),
        ("name", rule.name.clone()),
        ("issuer", rule.issuer.clone()),
        ("audiences", rule.audiences.join("\n")),
        ("jwks_url", rule.jwks_url.clone().unwrap_or_default()),
        ("algorithms", rule.algorithms.join(", ")),
        ("clock_skew_secs", rule.clock_skew_secs.to_string()),
        ("max_lifetime_secs", rule.max_lifetime_secs.map(|s| s.to_string()).unwrap_or_default()),
        ("authorized_parties", rule.authorized_parties.join("\n")),
        ("workspace", rule.workspace_template.clone()),
        ("workspace_fallback", rule.workspace_fallback.clone().unwrap_or_default()),
        ("name_claim", rule.name_claim.clone().unwrap_or_default()),
        ("token_type", rule.token_type.clone().unwrap_or_default()),
    ] {
        fields.insert(name.to_owned(), text);
    }
    fields
}

fn rule_form(signed: &Signed, action: &str, fields: &Fields, error: &FormError, submit: &str) -> Markup {
    let provider = value(fields, "provider");
    let preset = PRESETS.iter().find(|p| p.provider == provider).unwrap_or(&PRESETS[0]);
    html! {
        (form_error(error))
        form.stack method="post" action=(action) {
            (csrf(signed))
            div.field {
                label for="provider" { "Provider" }
                select #provider name="provider" data-preset {
                    @for p in PRESETS { option value=(p.provider) selected[p.provider == preset.provider] { (p.label) } }
                }
                @if let Some(message) = error.on("provider") { p.error role="alert" { (message) } }
            }
            (field("name", "Name", value(fields, "name"), Some("Shown in this list (default: the provider)"), error))
            (field("issuer", "Issuer", value(fields, "issuer"), Some(&format!("Must equal the token's iss exactly. {}: {}", preset.label, preset.issuer)), error))
            (textarea("audiences", "Audiences", value(fields, "audiences"), &format!("One per line; a token must carry one of them. {}: {}", preset.label, preset.audience), error))
            (field("jwks_url", "Key URL (JWKS)", value(fields, "jwks_url"), Some(&format!("Leave empty for the provider's: {}", preset.keys)), error))
            (field("workspace", "Workspace template", value(fields, "workspace"), Some(&format!("Claims in braces name the workspace, e.g. {}", preset.workspace)), error))
            (field("workspace_fallback", "Workspace fallback", value(fields, "workspace_fallback"), Some("Used when a claim of the template is missing, e.g. {sub}"), error))
            (field("name_claim", "Name claim", value(fields, "name_claim"), Some("A claim with the user's display name, shown on the Users page"), error))
            details {
                summary { "Advanced" }
                (textarea("authorized_parties", "Authorized parties (azp)", value(fields, "authorized_parties"), "Clerk: your app's origins, one per line", error))
                (field("algorithms", "Algorithms", value(fields, "algorithms"), Some("Comma separated; empty: the provider's"), error))
                (field("clock_skew_secs", "Clock skew (s)", value(fields, "clock_skew_secs"), Some("Tolerance for exp, nbf, iat: 0 to 300 (default 60)"), error))
                (field("max_lifetime_secs", "Longest token lifetime (s)", value(fields, "max_lifetime_secs"), Some("Refuse tokens valid for longer; empty: no limit"), error))
                (field("token_type", "Required typ header", value(fields, "token_type"), Some("For example at+jwt"), error))
                (field("shared_secret", "Shared secret (Supabase legacy HS256)", "", Some("At least 32 bytes; leave empty to keep the current one"), error))
            }
            button.primary type="submit" { (submit) }
        }
    }
}

fn textarea(name: &str, label: &str, text: &str, hint: &str, error: &FormError) -> Markup {
    let message = error.on(name);
    html! {
        div.field {
            label for=(name) { (label) }
            textarea #(name) name=(name) rows="2" aria-invalid=[message.map(|_| "true")] aria-describedby=(format!("{name}-hint")) { (text) }
            p.hint #(format!("{name}-hint")) { (hint) }
            @if let Some(message) = message { p.error role="alert" { (message) } }
        }
    }
}

async fn rules_markup(state: &AppState, signed: &Signed, project: &str, fields: &Fields, error: &FormError) -> Page {
    let listed = rules::list(state.store.as_ref(), &state.verifier.jwks, &state.config.auth_rules, project).await?;
    let base = project_path(project, "rules");
    let content = html! {
        p { a.button href=(format!("{base}/test")) { "Test a token" } }
        h2 { "Rules" }
        @if listed.is_empty() {
            (empty("No auth rules yet.", html! { p { "Add one to accept your identity provider's tokens (Clerk, Auth0, Supabase, Firebase, any OIDC issuer)." } }))
        } @else {
            table {
                thead { tr { th scope="col" { "Name" } th scope="col" { "Provider" } th scope="col" { "Issuer" } th scope="col" { "Workspace" } th scope="col" { "Keys" } th scope="col" { span.sr-only { "Actions" } } } }
                tbody {
                    @for view in &listed {
                        @let rule = &view.rule;
                        tr {
                            td { (rule.name) @if view.configured { " " span.muted { "(configuration file)" } } }
                            td { (rule.provider) }
                            td { code { (rule.issuer) } }
                            td { code { (rule.workspace_template) } }
                            td {
                                p.small { (view.key_source) }
                                @match view.keys.fetched_ago {
                                    Some(ago) => p.small { "fetched " (crate::service::rules::human_secs(ago.as_secs() as i64)) " ago; kids: "
                                        (view.keys.kids.iter().map(|k| k.clone().unwrap_or_else(|| "(none)".into())).collect::<Vec<_>>().join(", ")) },
                                    None => p.small.muted { "not fetched on this node yet" },
                                }
                                @if let Some((ago, error)) = &view.keys.last_error {
                                    p.small.error { "last error " (crate::service::rules::human_secs(ago.as_secs() as i64)) " ago: " (error) }
                                }
                            }
                            td {
                                @if !view.configured && allows(&signed.actor, Permission::ManageRules) {
                                    a href=(format!("{base}/{}", rule.id)) aria-label=(format!("Edit {}", rule.name)) { "Edit" }
                                    form method="post" action=(format!("{base}/{}/delete", rule.id)) data-confirm="Remove this rule? Its tokens are refused within seconds." {
                                        (csrf(signed))
                                        button.danger type="submit" aria-label=(format!("Remove {}", rule.name)) { "Remove" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if allows(&signed.actor, Permission::ManageRules) {
            h2 { "Add a rule" }
            (rule_form(signed, &base, fields, error, "Add rule"))
        }
    };
    project_page(state, signed, project, "rules", "Auth rules", content).await
}

async fn rules_page(State(state): State<AppState>, signed: Signed, Path(project): Path<String>) -> Page {
    rules_markup(&state, &signed, &project, &Fields::new(), &FormError::default()).await
}

async fn add_rule(
    State(state): State<AppState>,
    signed: Signed,
    Path(project): Path<String>,
    Form(fields): Form<Fields>,
) -> Page {
    checked(&signed, &fields)?;
    let added = match rule_input(&fields) {
        Ok(input) => rules::add(state.store.as_ref(), &signed.actor, &project, input, &state.config.jwks_allow_hosts)
            .await
            .map(|_| ())
            .map_err(FormError::from_fault),
        Err(error) => Err(Ok(error)),
    };
    match added {
        Ok(()) => Ok(see_other(&project_path(&project, "rules"))),
        Err(error) => {
            let mut response = rules_markup(&state, &signed, &project, &fields, &error?).await?;
            *response.status_mut() = axum::http::StatusCode::BAD_REQUEST;
            Ok(response)
        }
    }
}

async fn edit_rule_page(
    State(state): State<AppState>,
    signed: Signed,
    Path((project, id)): Path<(String, String)>,
) -> Page {
    let rule = rules::find(state.store.as_ref(), &project, &id).await?;
    let action = format!("{}/{}", project_path(&project, "rules"), id);
    let content = rule_form(&signed, &action, &rule_fields(&rule), &FormError::default(), "Save rule");
    project_page(&state, &signed, &project, "rules", &format!("Edit rule {}", rule.name), content).await
}

async fn edit_rule(
    State(state): State<AppState>,
    signed: Signed,
    Path((project, id)): Path<(String, String)>,
    Form(fields): Form<Fields>,
) -> Page {
    checked(&signed, &fields)?;
    let updated = match rule_input(&fields) {
        Ok(input) => {
            rules::update(state.store.as_ref(), &signed.actor, &project, &id, input, &state.config.jwks_allow_hosts)
                .await
                .map(|_| ())
                .map_err(FormError::from_fault)
        }
        Err(error) => Err(Ok(error)),
    };
    match updated {
        Ok(()) => Ok(see_other(&project_path(&project, "rules"))),
        Err(error) => {
            let action = format!("{}/{}", project_path(&project, "rules"), id);
            let content = rule_form(&signed, &action, &fields, &error?, "Save rule");
            let mut response = project_page(&state, &signed, &project, "rules", "Edit rule", content).await?;
            *response.status_mut() = axum::http::StatusCode::BAD_REQUEST;
            Ok(response)
        }
    }
}

async fn delete_rule(
    State(state): State<AppState>,
    signed: Signed,
    Path((project, id)): Path<(String, String)>,
    Form(fields): Form<Fields>,
) -> Page {
    checked(&signed, &fields)?;
    rules::remove(state.store.as_ref(), &signed.actor, Some(&project), &id).await?;
    Ok(see_other(&project_path(&project, "rules")))
}

fn report_markup(report: &TokenReport) -> Markup {
    html! {
        section.report aria-live="polite" {
            @match &report.decision {
                Decision::Accepted { rule, key, user_id, workspace_id, display_name } => p.verdict.accepted {
                    strong { "Accepted" } " by " (rule) ": user " code { (user_id) } " in workspace " code { (workspace_id) }
                    @if let Some(name) = display_name { " (" (name) ")" }
                    @if let Some(key) = key { "; key " code { (key) } }
                },
                Decision::Refused { code, reason } => p.verdict.refused { strong { "Refused" } " (" code { (code) } "): " (reason) },
            }
            ol.steps {
                @for step in &report.steps {
                    li class=(if step.passed { "passed" } else { "failed" }) {
                        strong { (if step.passed { "✓ " } else { "✗ " }) (step.label) } ": " (step.detail)
                    }
                }
            }
            @if let Some(header) = &report.header { h3 { "Header" } pre { code { (serde_json::to_string_pretty(header).unwrap_or_default()) } } }
            @if let Some(claims) = &report.claims { h3 { "Claims" } pre { code { (serde_json::to_string_pretty(claims).unwrap_or_default()) } } }
        }
    }
}

async fn tester_markup(
    state: &AppState,
    signed: &Signed,
    project: &str,
    token: &str,
    report: Option<&TokenReport>,
) -> Page {
    let content = html! {
        p { "Paste a token your app sends (a provider's JWT or one of threadhold's): the decision is the API's, step by step. Nothing is stored." }
        form.stack method="post" {
            (csrf(signed))
            div.field {
                label for="token" { "Token" }
                textarea #token name="token" rows="5" spellcheck="false" { (token) }
            }
            button.primary type="submit" { "Test" }
        }
        @if let Some(report) = report { (report_markup(report)) }
    };
    project_page(state, signed, project, "rules", "Token tester", content).await
}

async fn tester_page(State(state): State<AppState>, signed: Signed, Path(project): Path<String>) -> Page {
    tester_markup(&state, &signed, &project, "", None).await
}

async fn test_token(
    State(state): State<AppState>,
    signed: Signed,
    Path(project): Path<String>,
    Form(fields): Form<Fields>,
) -> Page {
    checked(&signed, &fields)?;
    let token = value(&fields, "token");
    let verifiers = Verifiers { jwks: &state.verifier.jwks, keys: &state.keys, configured: &state.config.auth_rules };
    let report = rules::test_token(state.store.as_ref(), &verifiers, &signed.actor, &project, token).await?;
    tester_markup(&state, &signed, &project, token, Some(&report)).await
}

// ---------------------------------------------------------------------------
// Access

async fn access_markup(
    state: &AppState,
    signed: &Signed,
    project: &str,
    origins_text: Option<&str>,
    error: &FormError,
) -> Page {
    let settings = access::settings(state.store.as_ref(), &state.config, project).await?;
    let origins = origins_text.map_or_else(|| settings.allowed_origins.join("\n"), str::to_owned);
    let base = project_path(project, "access");
    let content = html! {
        section {
            h2 { "Anonymous access" }
            p {
                "Anonymous visitors (" code { "anonymous: true" } ") are "
                strong { @if settings.anonymous_enabled { "allowed" } @else { "refused" } } " in this project."
                @if !settings.anonymous_enabled_server_wide { " The server's configuration switches them off everywhere." }
            }
            p.muted { "Rate limits per client address: " (settings.mints_per_minute) " new identities and " (settings.refreshes_per_minute) " refreshes a minute (configuration)." }
            @if allows(&signed.actor, Permission::ManageAnonymousAccess) {
                form method="post" action=(format!("{base}/anonymous")) {
                    (csrf(signed))
                    input type="hidden" name="enabled" value=(if settings.anonymous_enabled { "false" } else { "true" });
                    button type="submit" class=(if settings.anonymous_enabled { "danger" } else { "primary" }) {
                        @if settings.anonymous_enabled { "Turn anonymous access off" } @else { "Turn anonymous access on" }
                    }
                }
            }
        }
        section {
            h2 { "Allowed origins" }
            p { "Browsers on these origins may call the API (CORS). None: every origin. Exact origins or " code { "https://*.example.com" } " for subdomains." }
            @if allows(&signed.actor, Permission::ManageOrigins) {
                form.stack method="post" action=(format!("{base}/origins")) {
                    (csrf(signed))
                    (textarea("allowed_origins", "Origins", &origins, "One per line, at most 32", error))
                    button.primary type="submit" { "Save origins" }
                }
            } @else {
                @if settings.allowed_origins.is_empty() { p { "Every origin." } }
                @else { ul { @for origin in &settings.allowed_origins { li { code { (origin) } } } } }
                p.muted { "Admins and owners change this list." }
            }
        }
        section {
            h2 { "Token lifetimes" }
            dl.facts {
                dt { "Workspace tokens (POST /v1/auth/tokens)" } dd { (settings.workspace_token_ttl_secs) " s" }
                dt { "Anonymous access tokens" } dd { (settings.anonymous_token_ttl_secs) " s" }
                dt { "Anonymous sessions (sliding)" } dd { (settings.refresh_token_ttl_secs) " s" }
                dt { "Longest accepted threadhold token" } dd { (settings.token_max_lifetime_secs) " s" }
            }
            p.muted { "Lifetimes are server-wide settings of the configuration file." }
        }
    };
    project_page(state, signed, project, "access", "Access", content).await
}

async fn access_page(State(state): State<AppState>, signed: Signed, Path(project): Path<String>) -> Page {
    access_markup(&state, &signed, &project, None, &FormError::default()).await
}

async fn set_anonymous(
    State(state): State<AppState>,
    signed: Signed,
    Path(project): Path<String>,
    Form(fields): Form<Fields>,
) -> Page {
    checked(&signed, &fields)?;
    let enabled = value(&fields, "enabled") == "true";
    access::set_anonymous(state.store.as_ref(), &signed.actor, &project, enabled).await?;
    Ok(see_other(&project_path(&project, "access")))
}

async fn set_origins(
    State(state): State<AppState>,
    signed: Signed,
    Path(project): Path<String>,
    Form(fields): Form<Fields>,
) -> Page {
    checked(&signed, &fields)?;
    let text = value(&fields, "allowed_origins");
    match access::set_origins(state.store.as_ref(), &signed.actor, &project, &lines(text)).await {
        Ok(()) => Ok(see_other(&project_path(&project, "access"))),
        Err(error) => {
            let error = FormError::from_fault(error)?;
            let mut response = access_markup(&state, &signed, &project, Some(text), &error).await?;
            *response.status_mut() = axum::http::StatusCode::BAD_REQUEST;
            Ok(response)
        }
    }
}

// ---------------------------------------------------------------------------
// Settings

#[derive(Deserialize)]
struct SettingsQuery {
    preview_days: Option<String>,
}

async fn settings_markup(
    state: &AppState,
    signed: &Signed,
    project: &str,
    preview_days: Option<&str>,
    error: &FormError,
) -> Page {
    let store = state.store.as_ref();
    let current = retention::settings(store, state.config.retention_days, project).await?;
    let mut error = error.clone();
    let preview = match preview_days.map(str::trim).filter(|d| !d.is_empty()) {
        None => None,
        Some(text) => match text.parse::<u32>() {
            Ok(days) => match retention::preview(store, &signed.actor, project, days).await {
                Ok(count) => Some((days, count)),
                Err(fault) => {
                    error = FormError::from_fault(fault)?;
                    None
                }
            },
            Err(_) => {
                error = FormError { field: Some("days"), message: format!("{text} is not a number of days") };
                None
            }
        },
    };
    let project_row = projects::require(store, project).await?;
    let base = project_path(project, "settings");
    let content = html! {
        section {
            h2 { "Retention" }
            p {
                @match current.effective_days() {
                    Some(days) => { "Threads whose last message is older than " strong { (days) " days" } " are deleted with their files." }
                    None => { "Threads are kept forever." }
                }
                @if current.project_days.is_none() { @if let Some(days) = current.server_days { " (server-wide setting: " (days) " days)" } }
            }
            form.inline method="get" action=(base) {
                label for="preview_days" { "Preview a period of" }
                input #preview_days name="preview_days" inputmode="numeric" size="5" value=(preview_days.unwrap_or_default());
                span { "days" }
                button type="submit" { "Preview" }
            }
            @if let Some((days, count)) = preview {
                p.notice role="status" {
                    "A period of " (days) " days would delete " strong { (count) @if count >= u64::from(retention::PREVIEW_CAP) { "+" } } " threads now."
                }
            }
            @if allows(&signed.actor, Permission::ManageRetention) {
                (form_error(&error))
                form.inline method="post" action=(format!("{base}/retention")) {
                    (csrf(signed))
                    label for="days" { "Keep threads for" }
                    input #days name="days" inputmode="numeric" size="5" value=(current.project_days.map(|d| d.to_string()).unwrap_or_default()) aria-invalid=[error.on("days").map(|_| "true")] aria-describedby="days-error";
                    span { "days (empty: the server-wide setting)" }
                    button.primary type="submit" { "Save" }
                    @if let Some(message) = error.on("days") { p.error #days-error role="alert" { (message) } }
                }
            }
        }
        section {
            h2 { "Title generation" }
            p { "Titles are made on the server from the first user message (at most 8 words); a title set by a user is never replaced. There is nothing to configure yet." }
        }
        @if allows(&signed.actor, Permission::ManageProjects) {
            section {
                h2 { "Project name" }
                form.inline method="post" action=(format!("/admin/p/{project}/rename")) {
                    (csrf(signed))
                    label for="name" { "Name" }
                    input #name name="name" value=(project_row.name);
                    button type="submit" { "Rename" }
                }
            }
        }
    };
    project_page(state, signed, project, "settings", "Settings", content).await
}

async fn settings_page(
    State(state): State<AppState>,
    signed: Signed,
    Path(project): Path<String>,
    Query(query): Query<SettingsQuery>,
) -> Page {
    settings_markup(&state, &signed, &project, query.preview_days.as_deref(), &FormError::default()).await
}

async fn set_retention(
    State(state): State<AppState>,
    signed: Signed,
    Path(project): Path<String>,
    Form(fields): Form<Fields>,
) -> Page {
    checked(&signed, &fields)?;
    let text = value(&fields, "days").trim();
    let outcome = match text {
        "" => retention::set(state.store.as_ref(), &signed.actor, &project, None).await,
        days => match days.parse::<u32>() {
            Ok(days) => retention::set(state.store.as_ref(), &signed.actor, &project, Some(days)).await,
            Err(_) => Err(retention::RetentionError::BadDays),
        },
    };
    match outcome {
        Ok(()) => Ok(see_other(&project_path(&project, "settings"))),
        Err(error) => {
            let error = FormError::from_fault(error)?;
            let mut response = settings_markup(&state, &signed, &project, None, &error).await?;
            *response.status_mut() = axum::http::StatusCode::BAD_REQUEST;
            Ok(response)
        }
    }
}

async fn rename_project(
    State(state): State<AppState>,
    signed: Signed,
    Path(project): Path<String>,
    Form(fields): Form<Fields>,
) -> Page {
    checked(&signed, &fields)?;
    projects::rename(state.store.as_ref(), &signed.actor, &project, value(&fields, "name")).await?;
    Ok(see_other(&project_path(&project, "settings")))
}

// ---------------------------------------------------------------------------
// Projects, accounts, audit

async fn projects_markup(state: &AppState, signed: &Signed, fields: &Fields, error: &FormError) -> Page {
    let listed = projects::list(state.store.as_ref()).await?;
    let content = html! {
        table {
            thead { tr { th scope="col" { "Project" } th scope="col" { "Id" } th scope="col" { "Created" } th scope="col" { "Anonymous" } } }
            tbody {
                @for project in &listed {
                    tr {
                        td { a href=(project_path(&project.id, "overview")) { (project.name) } }
                        td { code { (project.id) } }
                        td { (time(project.created_at)) }
                        td { @if project.anonymous_enabled { "on" } @else { "off" } }
                    }
                }
            }
        }
        @if allows(&signed.actor, Permission::ManageProjects) {
            h2 { "Create a project" }
            (form_error(error))
            form.stack method="post" {
                (csrf(signed))
                (field("id", "Id", value(fields, "id"), Some("1-64 of a-z, 0-9 and -; its clients use baseUrl …/projects/<id>"), error))
                (field("name", "Name", value(fields, "name"), None, error))
                button.primary type="submit" { "Create project" }
            }
        }
    };
    account_page(state, signed, "projects", "Projects", content).await
}

async fn projects_page(State(state): State<AppState>, signed: Signed) -> Page {
    projects_markup(&state, &signed, &Fields::new(), &FormError::default()).await
}

async fn create_project(State(state): State<AppState>, signed: Signed, Form(fields): Form<Fields>) -> Page {
    checked(&signed, &fields)?;
    let id = value(&fields, "id").trim();
    match projects::create(state.store.as_ref(), &signed.actor, id, value(&fields, "name")).await {
        Ok(project) => Ok(see_other(&project_path(&project.id, "overview"))),
        Err(error) => {
            let error = FormError::from_fault(error)?;
            let mut response = projects_markup(&state, &signed, &fields, &error).await?;
            *response.status_mut() = axum::http::StatusCode::BAD_REQUEST;
            Ok(response)
        }
    }
}

async fn accounts_markup(state: &AppState, signed: &Signed, fields: &Fields, error: &FormError) -> Page {
    let listed = admins::list(state.store.as_ref(), &signed.actor).await?;
    let content = html! {
        table {
            thead { tr { th scope="col" { "Email" } th scope="col" { "Role" } th scope="col" { "Created" } th scope="col" { "Last login" } th scope="col" { span.sr-only { "Actions" } } } }
            tbody {
                @for account in &listed {
                    tr {
                        td { (account.email) }
                        td { (account.role.as_str()) }
                        td { (time(account.created_at)) }
                        td { (maybe_time(account.last_login_at, "never")) }
                        td {
                            form method="post" action="/admin/accounts/remove" data-confirm="Remove this account? Its sessions end at once." {
                                (csrf(signed))
                                input type="hidden" name="email" value=(account.email);
                                button.danger type="submit" aria-label=(format!("Remove {}", account.email)) { "Remove" }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Add an account" }
        (form_error(error))
        form.stack method="post" {
            (csrf(signed))
            (field("email", "Email", value(fields, "email"), None, error))
            div.field {
                label for="role" { "Role" }
                select #role name="role" {
                    option value="member" { "member: keys, rules, anonymous access, reading data" }
                    option value="admin" { "admin: also allowed origins, retention, erasure, the audit log" }
                    option value="owner" { "owner: also accounts" }
                }
            }
            div.field {
                label for="password" { "Password" }
                input #password type="password" name="password" autocomplete="new-password" aria-describedby="password-hint";
                p.hint #password-hint { "At least 12 characters" }
                @if let Some(message) = error.on("password") { p.error role="alert" { (message) } }
            }
            button.primary type="submit" { "Add account" }
        }
    };
    account_page(state, signed, "accounts", "Admin accounts", content).await
}

async fn accounts_page(State(state): State<AppState>, signed: Signed) -> Page {
    accounts_markup(&state, &signed, &Fields::new(), &FormError::default()).await
}

async fn add_account(State(state): State<AppState>, signed: Signed, Form(fields): Form<Fields>) -> Page {
    checked(&signed, &fields)?;
    let added = admins::add(
        state.store.as_ref(),
        &signed.actor,
        value(&fields, "email"),
        value(&fields, "role"),
        value(&fields, "password"),
    )
    .await;
    match added {
        Ok(_) => Ok(see_other("/admin/accounts")),
        Err(error) => {
            let error = FormError::from_fault(error)?;
            let mut response = accounts_markup(&state, &signed, &fields, &error).await?;
            *response.status_mut() = axum::http::StatusCode::BAD_REQUEST;
            Ok(response)
        }
    }
}

async fn remove_account(State(state): State<AppState>, signed: Signed, Form(fields): Form<Fields>) -> Page {
    checked(&signed, &fields)?;
    admins::remove(state.store.as_ref(), &signed.actor, value(&fields, "email")).await?;
    Ok(see_other("/admin/accounts"))
}

#[derive(Deserialize)]
struct AuditPageQuery {
    project: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    before: Option<String>,
}

async fn audit_page(State(state): State<AppState>, signed: Signed, Query(query): Query<AuditPageQuery>) -> Page {
    let request = AuditQuery {
        project_id: non_empty(&query.project),
        actor: non_empty(&query.actor),
        action: non_empty(&query.action),
        before: non_empty(&query.before),
        limit: 50,
    };
    let listed = audit::list(state.store.as_ref(), &signed.actor, request).await?;
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let here = format!(
        "/admin/audit?project={}&actor={}&action={}",
        views::encode(&text(&query.project)),
        views::encode(&text(&query.actor)),
        views::encode(&text(&query.action))
    );
    let none = FormError::default();
    let content = html! {
        form.filters method="get" {
            (field("project", "Project", &text(&query.project), None, &none))
            (field("actor", "Actor", &text(&query.actor), Some("cli, or admin:<email>"), &none))
            (field("action", "Action", &text(&query.action), Some("e.g. api_key.create, or api_key. for all"), &none))
            button.primary type="submit" { "Filter" }
        }
        @if listed.items.is_empty() {
            (empty("No entries match.", html! { p { "Every change made here, through the admin API or with the threadhold command is listed." } }))
        } @else {
            table {
                thead { tr { th scope="col" { "When" } th scope="col" { "Actor" } th scope="col" { "Action" } th scope="col" { "Project" } th scope="col" { "Object" } th scope="col" { "Details" } } }
                tbody {
                    @for entry in &listed.items {
                        tr {
                            td { (time(entry.at)) }
                            td { (entry.actor) }
                            td { code { (entry.action) } }
                            td { (entry.project_id.as_deref().unwrap_or("—")) }
                            td { (entry.object_type) " " code { (entry.object_id) } }
                            td { code.small { (entry.details) } }
                        }
                    }
                }
            }
            (next_link(&here, "before", listed.next.as_deref()))
        }
    };
    let projects = frame_projects(&state).await?;
    let current = non_empty(&query.project).filter(|p| projects.iter().any(|known| known.id == *p));
    let frame = Frame { signed: &signed, projects: &projects, project: current.as_deref(), section: "audit" };
    Ok(html_page(page(&frame, "Audit log", content)))
}
