//! Records of the dashboard: admin accounts and their sessions, the audit
//! log, the users registry and the daily activity rollups.

use crate::Millis;

/// A day number: whole days since the Unix epoch (UTC).
pub type Day = i64;
pub const DAY_MS: Millis = 86_400_000;

/// The day `at` falls on.
pub fn day_of(at: Millis) -> Day {
    at.div_euclid(DAY_MS)
}

/// What an admin account may do. Members manage keys, rules and anonymous
/// access; admins also allowed origins, retention and the audit log; owners
/// also admin accounts (the hosted service's roles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AdminRole {
    Member,
    Admin,
    Owner,
}

impl AdminRole {
    pub const ALL: [AdminRole; 3] = [AdminRole::Owner, AdminRole::Admin, AdminRole::Member];

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "owner" => Some(AdminRole::Owner),
            "admin" => Some(AdminRole::Admin),
            "member" => Some(AdminRole::Member),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AdminRole::Owner => "owner",
            AdminRole::Admin => "admin",
            AdminRole::Member => "member",
        }
    }
}

/// A person who may sign in to the dashboard. The password is kept as an
/// Argon2id PHC string only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminAccount {
    pub id: String,
    /// Lowercase; unique.
    pub email: String,
    pub role: AdminRole,
    pub password_hash: String,
    pub created_at: Millis,
    pub last_login_at: Option<Millis>,
}

/// A signed-in browser. Only the SHA-256 of its cookie value is stored, so
/// sessions work on every node and a database leak yields no usable cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSession {
    pub token_hash: String,
    pub admin_id: String,
    /// The synchronizer token every state change must carry.
    pub csrf_token: String,
    pub created_at: Millis,
    pub last_seen_at: Millis,
    /// The absolute end, whatever the activity.
    pub expires_at: Millis,
}

/// One change made through the dashboard, the admin API or the CLI. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Time-ordered, so the log pages by id.
    pub id: String,
    pub at: Millis,
    /// `admin:<email>` or `cli`.
    pub actor: String,
    /// `api_key.create`, `rule.delete`, `user.erase`, …
    pub action: String,
    pub project_id: Option<String>,
    pub object_type: String,
    pub object_id: String,
    /// A JSON object with what changed (never a secret).
    pub details: String,
}

/// A page of the audit log, newest first, narrowed by any of the filters.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub project_id: Option<String>,
    pub actor: Option<String>,
    /// An exact action, or a prefix ending in `.` (`api_key.`).
    pub action: Option<String>,
    /// Entries older than this id (the last id of the previous page).
    pub before: Option<String>,
    pub limit: u32,
}

/// A request by a user, as the registry records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSighting {
    pub project_id: String,
    pub user_id: String,
    pub workspace_id: String,
    /// From a rule's name claim.
    pub display_name: Option<String>,
    pub anonymous: bool,
    pub at: Millis,
}

/// Workspaces remembered per user at most (the most recent ones).
pub const USER_WORKSPACES_MAX: usize = 20;

/// A user the server has seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub project_id: String,
    pub user_id: String,
    pub display_name: Option<String>,
    pub anonymous: bool,
    /// Most recent first, at most [`USER_WORKSPACES_MAX`].
    pub workspaces: Vec<String>,
    pub first_seen_at: Millis,
    pub last_seen_at: Millis,
}

/// A page of users, most recently active first.
#[derive(Debug, Clone)]
pub struct UserQuery {
    pub project_id: String,
    /// A substring of the user id or display name (case-insensitive).
    pub search: Option<String>,
    /// The last user id of the previous page.
    pub after: Option<String>,
    pub limit: u32,
}

/// A page of a project's threads for the dashboard, newest `last_message_at` first.
#[derive(Debug, Clone)]
pub struct AdminThreadQuery {
    pub project_id: String,
    /// Any of these workspaces (empty: every workspace).
    pub workspaces: Vec<String>,
    /// `None`: archived or not.
    pub archived: Option<bool>,
    /// `last_message_at` at or after.
    pub from: Option<Millis>,
    /// `last_message_at` before.
    pub until: Option<Millis>,
    /// The last thread id of the previous page.
    pub after: Option<String>,
    pub limit: u32,
}

/// What happened in a project on one day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayActivity {
    pub day: Day,
    pub threads: i64,
    pub messages: i64,
    pub runs: i64,
    pub active_users: i64,
}

/// What the activity rollups count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    Thread,
    Message,
    Run,
}

/// A page of telemetry records of one type (`run`, `event`), newest first.
#[derive(Debug, Clone)]
pub struct TelemetryQuery {
    pub project_id: String,
    pub record_type: String,
    /// The run status or event kind.
    pub kind: Option<String>,
    pub thread_id: Option<String>,
    /// The last id of the previous page.
    pub before: Option<String>,
    pub limit: u32,
}

/// A stored run report or event, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryRow {
    pub id: String,
    pub workspace_id: String,
    pub user_id: String,
    pub thread_id: Option<String>,
    pub kind: String,
    /// The JSON body as received.
    pub body: String,
    pub created_at: Millis,
}

/// A thumbs-up or -down on a message, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedbackRow {
    pub id: String,
    pub thread_id: String,
    pub message_id: String,
    pub user_id: String,
    pub kind: String,
    pub comment: Option<String>,
    pub updated_at: Millis,
}

/// A score, as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreRow {
    pub id: String,
    pub workspace_id: String,
    pub author: String,
    pub target_type: String,
    pub target_id: String,
    pub thread_id: Option<String>,
    pub name: String,
    pub data_type: String,
    pub value: Option<f64>,
    pub string_value: Option<String>,
    pub comment: Option<String>,
    pub updated_at: Millis,
}

/// A page over feedback or scores of a project, newest first.
#[derive(Debug, Clone)]
pub struct ProjectPage {
    pub project_id: String,
    pub thread_id: Option<String>,
    pub before: Option<String>,
    pub limit: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_roles() {
        assert_eq!(day_of(0), 0);
        assert_eq!(day_of(DAY_MS - 1), 0);
        assert_eq!(day_of(DAY_MS), 1);
        assert_eq!(day_of(-1), -1);
        for role in AdminRole::ALL {
            assert_eq!(AdminRole::parse(role.as_str()), Some(role));
        }
        assert_eq!(AdminRole::parse("root"), None);
        assert!(AdminRole::Owner > AdminRole::Admin && AdminRole::Admin > AdminRole::Member);
    }
}
