//! The dashboard's tables: admin accounts and sessions, the audit log, the
//! users registry, activity rollups, per-project retention, and the project-wide
//! listings the pages read (threads, telemetry, feedback, scores). Every
//! listing is a keyset page over an index.

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use threadhold_domain::Millis;
use threadhold_domain::dashboard::{
    Activity, AdminAccount, AdminRole, AdminSession, AdminThreadQuery, AuditEntry, AuditQuery, Day, DayActivity,
    FeedbackRow, ProjectPage, USER_WORKSPACES_MAX, UserQuery, UserRecord, UserSighting, day_of,
};
use threadhold_domain::model::Thread;

use super::rows::{self, thread_columns};
use crate::shared::{like_pattern, list_json, merge_active_users, merge_workspaces};
use crate::{StoreError, StoreResult};

/// Counts `n` of `what` on the day of `at`: a row appended to the activity
/// log (concurrent writers never wait on each other), which [`fold_activity`]
/// later adds into the daily rollups.
pub(super) async fn count_activity(
    c: &mut PgConnection,
    project_id: &str,
    at: Millis,
    what: Activity,
    n: i64,
) -> StoreResult<()> {
    let statement = match what {
        Activity::Thread => "INSERT INTO activity_log (project_id, day, threads) VALUES ($1, $2, $3)",
        Activity::Message => "INSERT INTO activity_log (project_id, day, messages) VALUES ($1, $2, $3)",
        Activity::Run => "INSERT INTO activity_log (project_id, day, runs) VALUES ($1, $2, $3)",
    };
    sqlx::query(statement).bind(project_id).bind(day_of(at)).bind(n).execute(c).await?;
    Ok(())
}

/// Moves the activity log into the daily rollups; returns the rows moved. One
/// node folds at a time (the others skip the round), so two folds never wait
/// on each other's rollup rows.
pub(super) async fn fold_activity(c: &mut PgConnection) -> StoreResult<u64> {
    let ours: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtextextended('activity_log', 0))")
        .fetch_one(&mut *c)
        .await?;
    if !ours {
        return Ok(0);
    }
    let moved: i64 = sqlx::query_scalar(
        "WITH moved AS (DELETE FROM activity_log RETURNING *), \
         folded AS (INSERT INTO activity_days (project_id, day, shard, threads, messages, runs) \
           SELECT project_id, day, 0, sum(threads), sum(messages), sum(runs) FROM moved \
           WHERE EXISTS (SELECT 1 FROM projects p WHERE p.id = moved.project_id) \
           GROUP BY project_id, day ORDER BY project_id, day \
           ON CONFLICT (project_id, day, shard) DO UPDATE SET threads = activity_days.threads + excluded.threads, \
             messages = activity_days.messages + excluded.messages, runs = activity_days.runs + excluded.runs) \
         SELECT count(*) FROM moved",
    )
    .fetch_one(c)
    .await?;
    Ok(moved as u64)
}

pub(super) async fn rename_project(c: &mut PgConnection, id: &str, name: &str) -> StoreResult<bool> {
    let changed =
        sqlx::query("UPDATE projects SET name = $2 WHERE id = $1").bind(id).bind(name).execute(&mut *c).await?;
    if changed.rows_affected() == 1 {
        super::projects::bump_settings(c).await?;
    }
    Ok(changed.rows_affected() == 1)
}

macro_rules! admin_columns {
    () => {
        "a.id, a.email, a.role, a.password_hash, a.created_at, a.last_login_at"
    };
}

fn admin(row: &PgRow, at: usize) -> sqlx::Result<AdminAccount> {
    let role: String = row.try_get(at + 2)?;
    // An unknown role is an error, never a guess: it would grant or withhold rights.
    let role =
        AdminRole::parse(&role).ok_or_else(|| sqlx::Error::Decode(format!("unknown admin role {role:?}").into()))?;
    Ok(AdminAccount {
        id: row.try_get(at)?,
        email: row.try_get(at + 1)?,
        role,
        password_hash: row.try_get(at + 3)?,
        created_at: row.try_get(at + 4)?,
        last_login_at: row.try_get(at + 5)?,
    })
}

pub(super) async fn insert_admin(c: &mut PgConnection, a: &AdminAccount) -> StoreResult<()> {
    let inserted = sqlx::query(
        "INSERT INTO admin_accounts (id, email, role, password_hash, created_at, last_login_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (email) DO NOTHING",
    )
    .bind(&a.id)
    .bind(&a.email)
    .bind(a.role.as_str())
    .bind(&a.password_hash)
    .bind(a.created_at)
    .bind(a.last_login_at)
    .execute(c)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(StoreError::AlreadyExists(format!("an admin account for {}", a.email)));
    }
    Ok(())
}

pub(super) async fn admin_by_email(c: &mut PgConnection, email: &str) -> StoreResult<Option<AdminAccount>> {
    let row = sqlx::query(concat!("SELECT ", admin_columns!(), " FROM admin_accounts a WHERE a.email = $1"))
        .bind(email)
        .fetch_optional(c)
        .await?;
    Ok(row.as_ref().map(|row| admin(row, 0)).transpose()?)
}

pub(super) async fn list_admins(c: &mut PgConnection) -> StoreResult<Vec<AdminAccount>> {
    let rows = sqlx::query(concat!("SELECT ", admin_columns!(), " FROM admin_accounts a ORDER BY a.created_at, a.id"))
        .fetch_all(c)
        .await?;
    Ok(rows.iter().map(|row| admin(row, 0)).collect::<Result<_, _>>()?)
}

pub(super) async fn delete_admin(c: &mut PgConnection, id: &str) -> StoreResult<bool> {
    sqlx::query("DELETE FROM admin_sessions WHERE admin_id = $1").bind(id).execute(&mut *c).await?;
    let deleted = sqlx::query("DELETE FROM admin_accounts WHERE id = $1").bind(id).execute(c).await?;
    Ok(deleted.rows_affected() == 1)
}

pub(super) async fn set_admin_password(c: &mut PgConnection, id: &str, password_hash: &str) -> StoreResult<bool> {
    let changed = sqlx::query("UPDATE admin_accounts SET password_hash = $2 WHERE id = $1")
        .bind(id)
        .bind(password_hash)
        .execute(&mut *c)
        .await?;
    sqlx::query("DELETE FROM admin_sessions WHERE admin_id = $1").bind(id).execute(c).await?;
    Ok(changed.rows_affected() == 1)
}

pub(super) async fn insert_admin_session(c: &mut PgConnection, s: &AdminSession) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO admin_sessions (token_hash, admin_id, csrf_token, created_at, last_seen_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&s.token_hash)
    .bind(&s.admin_id)
    .bind(&s.csrf_token)
    .bind(s.created_at)
    .bind(s.last_seen_at)
    .bind(s.expires_at)
    .execute(&mut *c)
    .await?;
    sqlx::query("UPDATE admin_accounts SET last_login_at = $2 WHERE id = $1")
        .bind(&s.admin_id)
        .bind(s.created_at)
        .execute(c)
        .await?;
    Ok(())
}

pub(super) async fn admin_session(
    c: &mut PgConnection,
    token_hash: &str,
) -> StoreResult<Option<(AdminSession, AdminAccount)>> {
    let row = sqlx::query(concat!(
        "SELECT s.token_hash, s.admin_id, s.csrf_token, s.created_at, s.last_seen_at, s.expires_at, ",
        admin_columns!(),
        " FROM admin_sessions s JOIN admin_accounts a ON a.id = s.admin_id WHERE s.token_hash = $1"
    ))
    .bind(token_hash)
    .fetch_optional(c)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let session = AdminSession {
        token_hash: row.try_get(0)?,
        admin_id: row.try_get(1)?,
        csrf_token: row.try_get(2)?,
        created_at: row.try_get(3)?,
        last_seen_at: row.try_get(4)?,
        expires_at: row.try_get(5)?,
    };
    Ok(Some((session, admin(&row, 6)?)))
}

pub(super) async fn touch_admin_session(c: &mut PgConnection, token_hash: &str, now: Millis) -> StoreResult<()> {
    sqlx::query("UPDATE admin_sessions SET last_seen_at = $2 WHERE token_hash = $1 AND last_seen_at < $2")
        .bind(token_hash)
        .bind(now)
        .execute(c)
        .await?;
    Ok(())
}

pub(super) async fn delete_admin_session(c: &mut PgConnection, token_hash: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM admin_sessions WHERE token_hash = $1").bind(token_hash).execute(c).await?;
    Ok(())
}

pub(super) async fn delete_expired_admin_sessions(
    c: &mut PgConnection,
    idle_before: Millis,
    now: Millis,
) -> StoreResult<u64> {
    Ok(sqlx::query("DELETE FROM admin_sessions WHERE last_seen_at < $1 OR expires_at <= $2")
        .bind(idle_before)
        .bind(now)
        .execute(c)
        .await?
        .rows_affected())
}

pub(super) async fn insert_audit(c: &mut PgConnection, e: &AuditEntry) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit_log (id, at, actor, action, project_id, object_type, object_id, details) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&e.id)
    .bind(e.at)
    .bind(&e.actor)
    .bind(&e.action)
    .bind(&e.project_id)
    .bind(&e.object_type)
    .bind(&e.object_id)
    .bind(&e.details)
    .execute(c)
    .await?;
    Ok(())
}

pub(super) async fn list_audit(c: &mut PgConnection, q: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
    let (action_from, action_to) = q.action.as_deref().map(crate::shared::action_range).unzip();
    let rows = sqlx::query(
        "SELECT id, at, actor, action, project_id, object_type, object_id, details FROM audit_log \
         WHERE ($1::text IS NULL OR project_id = $1) AND ($2::text IS NULL OR actor = $2) \
         AND ($3::text IS NULL OR (action >= $3 AND action < $4)) AND ($5::text IS NULL OR id < $5) \
         ORDER BY id DESC LIMIT $6",
    )
    .bind(&q.project_id)
    .bind(&q.actor)
    .bind(action_from)
    .bind(action_to)
    .bind(&q.before)
    .bind(i64::from(q.limit))
    .fetch_all(c)
    .await?;
    let entries = rows.iter().map(|row| {
        Ok(AuditEntry {
            id: row.try_get(0)?,
            at: row.try_get(1)?,
            actor: row.try_get(2)?,
            action: row.try_get(3)?,
            project_id: row.try_get(4)?,
            object_type: row.try_get(5)?,
            object_id: row.try_get(6)?,
            details: row.try_get(7)?,
        })
    });
    Ok(entries.collect::<sqlx::Result<_>>()?)
}

macro_rules! user_columns {
    () => {
        "project_id, user_id, display_name, anonymous, workspaces, first_seen_at, last_seen_at"
    };
}

fn user(row: &PgRow) -> StoreResult<UserRecord> {
    Ok(UserRecord {
        project_id: row.try_get(0)?,
        user_id: row.try_get(1)?,
        display_name: row.try_get(2)?,
        anonymous: row.try_get(3)?,
        workspaces: rows::json_list(row, 4)?,
        first_seen_at: row.try_get(5)?,
        last_seen_at: row.try_get(6)?,
    })
}

pub(super) async fn record_user_activity(c: &mut PgConnection, s: &UserSighting) -> StoreResult<()> {
    let existing: Option<(String, Option<String>)> =
        sqlx::query_as("SELECT workspaces, display_name FROM users WHERE project_id = $1 AND user_id = $2 FOR UPDATE")
            .bind(&s.project_id)
            .bind(&s.user_id)
            .fetch_optional(&mut *c)
            .await?;
    match existing {
        None => {
            sqlx::query(concat!(
                "INSERT INTO users (",
                user_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (project_id, user_id) DO UPDATE SET \
                 last_seen_at = greatest(users.last_seen_at, excluded.last_seen_at)"
            ))
            .bind(&s.project_id)
            .bind(&s.user_id)
            .bind(&s.display_name)
            .bind(s.anonymous)
            .bind(list_json(std::slice::from_ref(&s.workspace_id)))
            .bind(s.at)
            .execute(&mut *c)
            .await?;
        }
        Some((workspaces, name)) => {
            let stored: Vec<String> = serde_json::from_str(&workspaces)
                .map_err(|error| StoreError::Database(format!("the workspaces of user {}: {error}", s.user_id)))?;
            let workspaces = merge_workspaces(stored, &s.workspace_id, USER_WORKSPACES_MAX);
            sqlx::query(
                "UPDATE users SET display_name = $3, workspaces = $4, last_seen_at = greatest(last_seen_at, $5) \
                 WHERE project_id = $1 AND user_id = $2",
            )
            .bind(&s.project_id)
            .bind(&s.user_id)
            .bind(s.display_name.clone().or(name))
            .bind(list_json(&workspaces))
            .bind(s.at)
            .execute(&mut *c)
            .await?;
        }
    }
    sqlx::query("INSERT INTO user_activity_days (project_id, day, user_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
        .bind(&s.project_id)
        .bind(day_of(s.at))
        .bind(&s.user_id)
        .execute(c)
        .await?;
    Ok(())
}

pub(super) async fn list_users(c: &mut PgConnection, q: &UserQuery) -> StoreResult<Vec<UserRecord>> {
    let cursor: Option<(i64, String)> = match &q.after {
        Some(after) => {
            let found: Option<(i64, String)> =
                sqlx::query_as("SELECT last_seen_at, user_id FROM users WHERE project_id = $1 AND user_id = $2")
                    .bind(&q.project_id)
                    .bind(after)
                    .fetch_optional(&mut *c)
                    .await?;
            match found {
                Some(cursor) => Some(cursor),
                None => return Ok(Vec::new()),
            }
        }
        None => None,
    };
    let (at, id) = cursor.unzip();
    let rows = sqlx::query(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE project_id = $1 \
         AND ($2::bigint IS NULL OR (last_seen_at, user_id) < ($2, $3::text)) \
         AND ($4::text IS NULL OR user_id ILIKE $4 OR display_name ILIKE $4) \
         ORDER BY last_seen_at DESC, user_id DESC LIMIT $5"
    ))
    .bind(&q.project_id)
    .bind(at)
    .bind(id)
    .bind(q.search.as_deref().map(like_pattern))
    .bind(i64::from(q.limit))
    .fetch_all(c)
    .await?;
    rows.iter().map(user).collect()
}

pub(super) async fn get_user(c: &mut PgConnection, project_id: &str, user_id: &str) -> StoreResult<Option<UserRecord>> {
    let row = sqlx::query(concat!("SELECT ", user_columns!(), " FROM users WHERE project_id = $1 AND user_id = $2"))
        .bind(project_id)
        .bind(user_id)
        .fetch_optional(c)
        .await?;
    row.as_ref().map(user).transpose()
}

pub(super) async fn count_workspace_threads(
    c: &mut PgConnection,
    project_id: &str,
    workspace_id: &str,
    cap: u32,
) -> StoreResult<u64> {
    let count: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT 1 FROM threads WHERE project_id = $1 AND workspace_id = $2 LIMIT $3) AS capped",
    )
    .bind(project_id)
    .bind(workspace_id)
    .bind(i64::from(cap))
    .fetch_one(c)
    .await?;
    Ok(count as u64)
}

pub(super) async fn admin_list_threads(c: &mut PgConnection, q: &AdminThreadQuery) -> StoreResult<Vec<Thread>> {
    let cursor: Option<(i64, String)> = match &q.after {
        Some(after) => {
            let found: Option<(i64, String)> =
                sqlx::query_as("SELECT last_message_at, id FROM threads WHERE id = $1 AND project_id = $2")
                    .bind(after)
                    .bind(&q.project_id)
                    .fetch_optional(&mut *c)
                    .await?;
            match found {
                Some(cursor) => Some(cursor),
                None => return Ok(Vec::new()),
            }
        }
        None => None,
    };
    let (at, id) = cursor.unzip();
    let workspaces = (!q.workspaces.is_empty()).then_some(&q.workspaces);
    let rows = sqlx::query(concat!(
        "SELECT ",
        thread_columns!(),
        " FROM threads WHERE project_id = $1 AND ($2::text[] IS NULL OR workspace_id = ANY($2)) \
         AND ($3::boolean IS NULL OR is_archived = $3) AND ($4::bigint IS NULL OR last_message_at >= $4) \
         AND ($5::bigint IS NULL OR last_message_at < $5) \
         AND ($6::bigint IS NULL OR (last_message_at, id) < ($6, $7::text)) \
         ORDER BY last_message_at DESC, id DESC LIMIT $8"
    ))
    .bind(&q.project_id)
    .bind(workspaces)
    .bind(q.archived)
    .bind(q.from)
    .bind(q.until)
    .bind(at)
    .bind(id)
    .bind(i64::from(q.limit))
    .fetch_all(c)
    .await?;
    Ok(rows.iter().map(rows::thread).collect::<Result<_, _>>()?)
}

pub(super) async fn daily_activity(
    c: &mut PgConnection,
    project_id: &str,
    from: Day,
    until: Day,
) -> StoreResult<Vec<DayActivity>> {
    let sums: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT day, sum(threads)::bigint, sum(messages)::bigint, sum(runs)::bigint FROM ( \
           SELECT day, threads, messages, runs FROM activity_days WHERE project_id = $1 AND day >= $2 AND day <= $3 \
           UNION ALL \
           SELECT day, threads, messages, runs FROM activity_log WHERE project_id = $1 AND day >= $2 AND day <= $3 \
         ) AS counted GROUP BY day ORDER BY day",
    )
    .bind(project_id)
    .bind(from)
    .bind(until)
    .fetch_all(&mut *c)
    .await?;
    let mut days: Vec<DayActivity> = sums
        .into_iter()
        .map(|(day, threads, messages, runs)| DayActivity { day, threads, messages, runs, active_users: 0 })
        .collect();
    let users: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT day, count(*) FROM user_activity_days WHERE project_id = $1 AND day >= $2 AND day <= $3 \
         GROUP BY day ORDER BY day",
    )
    .bind(project_id)
    .bind(from)
    .bind(until)
    .fetch_all(c)
    .await?;
    merge_active_users(&mut days, &users);
    Ok(days)
}

pub(super) async fn count_active_users(
    c: &mut PgConnection,
    project_id: &str,
    from: Day,
    until: Day,
) -> StoreResult<u64> {
    let count: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT user_id) FROM user_activity_days WHERE project_id = $1 AND day >= $2 AND day <= $3",
    )
    .bind(project_id)
    .bind(from)
    .bind(until)
    .fetch_one(c)
    .await?;
    Ok(count as u64)
}

pub(super) async fn list_feedback(c: &mut PgConnection, p: &ProjectPage) -> StoreResult<Vec<FeedbackRow>> {
    let rows = sqlx::query(
        "SELECT f.id, m.thread_id, f.message_id, f.user_id, f.kind, f.comment, f.updated_at \
         FROM feedback f JOIN messages m ON m.id = f.message_id JOIN threads t ON t.id = m.thread_id \
         WHERE t.project_id = $1 AND ($2::text IS NULL OR m.thread_id = $2) AND ($3::text IS NULL OR f.id < $3) \
         ORDER BY f.id DESC LIMIT $4",
    )
    .bind(&p.project_id)
    .bind(&p.thread_id)
    .bind(&p.before)
    .bind(i64::from(p.limit))
    .fetch_all(c)
    .await?;
    let records = rows.iter().map(|row| {
        Ok(FeedbackRow {
            id: row.try_get(0)?,
            thread_id: row.try_get(1)?,
            message_id: row.try_get(2)?,
            user_id: row.try_get(3)?,
            kind: row.try_get(4)?,
            comment: row.try_get(5)?,
            updated_at: row.try_get(6)?,
        })
    });
    Ok(records.collect::<sqlx::Result<_>>()?)
}

pub(super) async fn set_retention_days(c: &mut PgConnection, project_id: &str, days: Option<u32>) -> StoreResult<bool> {
    let exists: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM projects WHERE id = $1").bind(project_id).fetch_optional(&mut *c).await?;
    if exists.is_none() {
        return Ok(false);
    }
    match days {
        Some(days) => {
            sqlx::query(
                "INSERT INTO project_retention (project_id, days) VALUES ($1, $2) \
                 ON CONFLICT (project_id) DO UPDATE SET days = excluded.days",
            )
            .bind(project_id)
            .bind(i64::from(days))
            .execute(&mut *c)
            .await?
        }
        None => {
            sqlx::query("DELETE FROM project_retention WHERE project_id = $1").bind(project_id).execute(&mut *c).await?
        }
    };
    super::projects::bump_settings(c).await?;
    Ok(true)
}

pub(super) async fn retention_days(c: &mut PgConnection) -> StoreResult<Vec<(String, u32)>> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT project_id, days FROM project_retention ORDER BY project_id").fetch_all(c).await?;
    Ok(rows.into_iter().map(|(project, days)| (project, u32::try_from(days).unwrap_or(u32::MAX))).collect())
}

pub(super) async fn count_threads_before(
    c: &mut PgConnection,
    project_id: &str,
    before: Millis,
    cap: u32,
) -> StoreResult<u64> {
    let count: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT 1 FROM threads WHERE project_id = $1 AND last_message_at < $2 LIMIT $3) AS capped",
    )
    .bind(project_id)
    .bind(before)
    .bind(i64::from(cap))
    .fetch_one(c)
    .await?;
    Ok(count as u64)
}
