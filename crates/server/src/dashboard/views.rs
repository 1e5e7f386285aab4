//! The layout and the small pieces every page uses (maud: compile-time
//! checked, escaped by default).

use maud::{DOCTYPE, Markup, html};
use threadhold_domain::model::Project;
use threadhold_domain::{Millis, format_ms};

use super::{CSRF_FIELD, FormError, Signed};
use crate::service::{Permission, allows};

/// What the layout needs to know about the request.
pub struct Frame<'a> {
    pub signed: &'a Signed,
    pub projects: &'a [Project],
    /// The project the page is about (none on account-wide pages).
    pub project: Option<&'a str>,
    /// The active entry of the navigation.
    pub section: &'static str,
}

const SECTIONS: [(&str, &str, Permission); 9] = [
    ("overview", "Overview", Permission::Read),
    ("threads", "Threads", Permission::Read),
    ("users", "Users", Permission::Read),
    ("runs", "Runs & feedback", Permission::Read),
    ("keys", "API keys", Permission::Read),
    ("rules", "Auth rules", Permission::Read),
    ("access", "Access", Permission::Read),
    ("settings", "Settings", Permission::Read),
    ("audit", "Audit log", Permission::ReadAudit),
];

pub fn project_path(project: &str, section: &str) -> String {
    if section == "overview" { format!("/admin/p/{project}") } else { format!("/admin/p/{project}/{section}") }
}

/// A whole page: header with the project switcher, navigation, the content.
pub fn page(frame: &Frame, title: &str, content: Markup) -> Markup {
    let signed = frame.signed;
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · threadhold" }
                link rel="stylesheet" href="/admin/assets/dashboard.css";
                script src="/admin/assets/dashboard.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/admin" { "threadhold" }
                    @if let Some(current) = frame.project {
                        form.switch method="get" action="/admin/switch" {
                            label for="project-switch" { "Project" }
                            select #project-switch name="project" data-autosubmit {
                                @for project in frame.projects {
                                    option value=(project.id) selected[project.id == current] { (project.name) " (" (project.id) ")" }
                                }
                            }
                            noscript { button type="submit" { "Switch" } }
                        }
                    }
                    nav.account aria-label="Account" {
                        a href="/admin/projects" { "Projects" }
                        @if allows(&signed.actor, Permission::ManageAdmins) {
                            a href="/admin/accounts" { "Accounts" }
                        }
                        span.who { (signed.email()) }
                        form method="post" action="/admin/logout" {
                            (csrf(signed))
                            button.link type="submit" { "Log out" }
                        }
                    }
                }
                div.frame {
                    @if let Some(project) = frame.project {
                        nav.side aria-label="Sections" {
                            ul {
                                @for (section, label, permission) in SECTIONS {
                                    @if allows(&signed.actor, permission) {
                                        li {
                                            @let href = if section == "audit" { format!("/admin/audit?project={project}") } else { project_path(project, section) };
                                            a href=(href) aria-current=[(section == frame.section).then_some("page")] { (label) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    main #main tabindex="-1" {
                        h1 { (title) }
                        (content)
                    }
                }
            }
        }
    }
}

/// A page outside the signed-in frame (login, the dashboard being off).
pub fn bare(title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · threadhold" }
                link rel="stylesheet" href="/admin/assets/dashboard.css";
            }
            body.bare {
                main #main {
                    p.brand { "threadhold" }
                    h1 { (title) }
                    (content)
                }
            }
        }
    }
}

pub fn dashboard_off() -> Markup {
    bare(
        "The dashboard is off",
        html! {
            p { "The dashboard opens once an account exists. On the server's machine, create the first owner:" }
            pre { code { "threadhold admin add you@example.com --role owner" } }
            p { "Use the same " code { "--data" } " or " code { "--database-url" } " as the server, then reload this page." }
        },
    )
}

pub fn csrf(signed: &Signed) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(signed.session.csrf_token); }
}

/// A labelled text input with its hint and its error.
pub fn field(name: &str, label: &str, value: &str, hint: Option<&str>, error: &FormError) -> Markup {
    let message = error.on(name);
    let described = format!("{name}-hint {name}-error");
    html! {
        div.field {
            label for=(name) { (label) }
            input #(name) name=(name) value=(value) aria-invalid=[message.map(|_| "true")] aria-describedby=(described);
            @if let Some(hint) = hint { p.hint #(format!("{name}-hint")) { (hint) } }
            @if let Some(message) = message { p.error #(format!("{name}-error")) role="alert" { (message) } }
        }
    }
}

/// The error of a form that belongs to no one field.
pub fn form_error(error: &FormError) -> Markup {
    html! {
        @if let Some(message) = error.general() { p.error.banner role="alert" { (message) } }
    }
}

pub fn time(at: Millis) -> Markup {
    let text = format_ms(at);
    html! { time datetime=(text) { (text[..16].replace('T', " ")) } }
}

pub fn maybe_time(at: Option<Millis>, none: &str) -> Markup {
    match at {
        Some(at) => time(at),
        None => html! { span.muted { (none) } },
    }
}

/// "Next page" link keeping the other query parameters.
pub fn next_link(base: &str, cursor_name: &str, next: Option<&str>) -> Markup {
    html! {
        @if let Some(next) = next {
            @let separator = if base.contains('?') { "&" } else { "?" };
            p.pager { a href=(format!("{base}{separator}{cursor_name}={}", encode(next))) { "Next page →" } }
        }
    }
}

/// Percent-encodes a query value.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

pub fn empty(message: &str, next_step: Markup) -> Markup {
    html! { div.empty { p { (message) } (next_step) } }
}
