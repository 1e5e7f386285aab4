//! Operations beneath the HTTP layer: plain Rust over the store, shared by the
//! API handlers, the MCP tools, the dashboard, the CLI and the tests. Nothing
//! here knows about HTTP: each area has its own error type, which the edge
//! turns into `ApiError` (through [`Fault`] or `From<ServiceError>`) and the
//! CLI into a message.
//!
//! Every administrative change takes an [`Actor`], is checked against the
//! actor's role here (so the CLI, the admin API and the pages enforce the
//! same rules) and leaves an entry in the audit log.

pub mod access;
pub mod admins;
pub mod audit;
pub mod housekeeping;
pub mod keys;
pub mod messages;
pub mod overview;
pub mod project;
pub mod projects;
pub mod retention;
pub mod rules;
pub mod runs;
pub mod search;
pub mod telemetry;
pub mod threads;
pub mod titles;
pub mod traces;
pub mod transfer;
pub mod usage;
pub mod users;

use threadhold_domain::dashboard::AdminRole;
use threadhold_domain::model::Position;
use threadhold_domain::telemetry::cursor;
use threadhold_domain::telemetry::query::Invalid;
use threadhold_store::StoreError;

/// Why a service refused a request: the caller's input (a code and a message
/// for it), something it named that does not exist, or the store.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<Invalid> for ServiceError {
    fn from(invalid: Invalid) -> Self {
        ServiceError::Invalid { code: invalid.code, message: invalid.message }
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// A keyset page: the first `limit` of `rows` (fetched one longer), and the
/// cursor after the last of them when more followed.
fn keyset_page<T>(rows: Vec<T>, limit: usize, position: impl Fn(&T) -> Position) -> (Vec<T>, Option<String>) {
    let page = Page::from_probe(rows, limit, |last| cursor::encode(&position(last)));
    (page.items, page.next)
}

impl Fault for ServiceError {
    fn failure(self) -> Result<Failure, StoreError> {
        match self {
            ServiceError::Invalid { code, message } => Ok(Failure::new(FailureClass::Invalid, code, message)),
            ServiceError::NotFound { code, message } => Ok(Failure::new(FailureClass::NotFound, code, message)),
            ServiceError::Store(error) => Err(error),
        }
    }
}

impl ServiceError {
    pub fn thread_not_found() -> Self {
        ServiceError::NotFound { code: "thread_not_found", message: "Thread not found".into() }
    }

    pub fn run_not_found() -> Self {
        ServiceError::NotFound { code: "run_not_found", message: "Run not found".into() }
    }
}

/// Who asks for an administrative operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// The `threadhold` command on the server's machine: may do everything.
    Cli,
    /// A signed-in dashboard account.
    Admin { id: String, email: String, role: AdminRole },
    /// A backend with an API key, on the routes the contract gives it (erasing a user).
    ApiKey,
}

impl Actor {
    /// How the audit log names the actor.
    pub fn label(&self) -> String {
        match self {
            Actor::Cli => "cli".to_owned(),
            Actor::Admin { email, .. } => format!("admin:{email}"),
            Actor::ApiKey => "api_key".to_owned(),
        }
    }

    fn role(&self) -> AdminRole {
        match self {
            Actor::Cli => AdminRole::Owner,
            Actor::Admin { role, .. } => *role,
            Actor::ApiKey => AdminRole::Admin,
        }
    }
}

/// What an operation needs its actor to be allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Read a project's threads, users, runs and settings.
    Read,
    ManageKeys,
    ManageRules,
    ManageAnonymousAccess,
    /// Delete single threads.
    DeleteThreads,
    ManageOrigins,
    ManageRetention,
    ReadAudit,
    EraseUsers,
    ManageProjects,
    ManageAdmins,
}

impl Permission {
    /// The least role that has the permission (the hosted service's split).
    pub fn least_role(self) -> AdminRole {
        match self {
            Permission::Read
            | Permission::ManageKeys
            | Permission::ManageRules
            | Permission::ManageAnonymousAccess
            | Permission::DeleteThreads => AdminRole::Member,
            Permission::ManageOrigins
            | Permission::ManageRetention
            | Permission::ReadAudit
            | Permission::EraseUsers
            | Permission::ManageProjects => AdminRole::Admin,
            Permission::ManageAdmins => AdminRole::Owner,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Permission::Read => "read this project",
            Permission::ManageKeys => "manage API keys",
            Permission::ManageRules => "manage auth rules",
            Permission::ManageAnonymousAccess => "switch anonymous access",
            Permission::DeleteThreads => "delete threads",
            Permission::ManageOrigins => "change allowed origins",
            Permission::ManageRetention => "change retention",
            Permission::ReadAudit => "read the audit log",
            Permission::EraseUsers => "erase users",
            Permission::ManageProjects => "create or rename projects",
            Permission::ManageAdmins => "manage admin accounts",
        }
    }
}

/// The actor's role does not allow the operation.
#[derive(Debug, Clone, thiserror::Error)]
#[error("Your role ({role}) may not {what}: it takes the {needed} role")]
pub struct Denied {
    role: &'static str,
    what: &'static str,
    needed: &'static str,
}

/// Refuses the operation unless the actor's role has the permission.
pub fn authorize(actor: &Actor, permission: Permission) -> Result<(), Denied> {
    let needed = permission.least_role();
    if actor.role() >= needed {
        Ok(())
    } else {
        Err(Denied { role: actor.role().as_str(), what: permission.describe(), needed: needed.as_str() })
    }
}

/// Whether the actor has the permission (for showing or hiding controls).
pub fn allows(actor: &Actor, permission: Permission) -> bool {
    authorize(actor, permission).is_ok()
}

/// How a service failure reaches a client: its class, a stable code, the
/// message, and the form field it concerns.
#[derive(Debug, Clone)]
pub struct Failure {
    pub class: FailureClass,
    pub code: &'static str,
    pub message: String,
    pub field: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    Invalid,
    Unauthenticated,
    Forbidden,
    NotFound,
    Conflict,
    RateLimited { retry_after_secs: u64 },
}

impl Failure {
    pub fn new(class: FailureClass, code: &'static str, message: impl Into<String>) -> Self {
        Failure { class, code, message: message.into(), field: None }
    }

    /// A bad value in a form field.
    pub fn field(field: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        Failure { class: FailureClass::Invalid, code, message: message.into(), field: Some(field) }
    }
}

/// A service error: either a client-facing [`Failure`] or the database's own trouble.
pub trait Fault: std::error::Error {
    fn failure(self) -> Result<Failure, StoreError>;
}

impl Fault for Denied {
    fn failure(self) -> Result<Failure, StoreError> {
        Ok(Failure::new(FailureClass::Forbidden, "forbidden", self.to_string()))
    }
}

/// The project does not exist.
pub fn project_not_found(project_id: &str) -> Failure {
    Failure::new(FailureClass::NotFound, "project_not_found", format!("There is no project {project_id}"))
}

/// A page of a listing and the cursor of the next one (`None` on the last page).
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// Rows read with `limit + 1`: the extra row only tells that another page exists.
    pub fn from_probe(mut rows: Vec<T>, limit: impl TryInto<usize>, cursor: impl Fn(&T) -> String) -> Self {
        let limit = limit.try_into().unwrap_or(usize::MAX);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = if more { rows.last().map(cursor) } else { None };
        Page { items: rows, next }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin(role: AdminRole) -> Actor {
        Actor::Admin { id: "adm_1".into(), email: "a@example.com".into(), role }
    }

    #[test]
    fn roles_follow_the_hosted_split() {
        let member = admin(AdminRole::Member);
        assert!(allows(&member, Permission::ManageKeys) && allows(&member, Permission::ManageRules));
        assert!(allows(&member, Permission::ManageAnonymousAccess));
        assert!(!allows(&member, Permission::ManageOrigins) && !allows(&member, Permission::ManageRetention));
        assert!(!allows(&member, Permission::ReadAudit));
        let admin_role = admin(AdminRole::Admin);
        assert!(allows(&admin_role, Permission::ManageOrigins) && allows(&admin_role, Permission::ReadAudit));
        assert!(!allows(&admin_role, Permission::ManageAdmins));
        assert!(allows(&admin(AdminRole::Owner), Permission::ManageAdmins));
        assert!(allows(&Actor::Cli, Permission::ManageAdmins));
        let denied = authorize(&member, Permission::ManageAdmins).expect_err("denied").to_string();
        assert!(denied.contains("member") && denied.contains("owner"), "{denied}");
        assert_eq!(Actor::Cli.label(), "cli");
        assert_eq!(admin(AdminRole::Member).label(), "admin:a@example.com");
    }

    #[test]
    fn pages_know_whether_more_follow() {
        let page = Page::from_probe(vec![1, 2, 3], 2, |n| n.to_string());
        assert_eq!((page.items, page.next.as_deref()), (vec![1, 2], Some("2")));
        let last = Page::from_probe(vec![1, 2], 2, |n| n.to_string());
        assert_eq!(last.next, None);
    }
}
