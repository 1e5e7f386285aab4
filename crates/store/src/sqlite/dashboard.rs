//! The dashboard's tables: admin accounts and sessions, the audit log, the
//! users registry, activity rollups, per-project retention, and the project-wide
//! listings the pages read (threads, telemetry, feedback, scores). Every
//! listing is a keyset page over an index.

use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, params};
use threadhold_domain::Millis;
use threadhold_domain::dashboard::{
    Activity, AdminAccount, AdminRole, AdminSession, AdminThreadQuery, AuditEntry, AuditQuery, Day, DayActivity,
    FeedbackRow, ProjectPage, USER_WORKSPACES_MAX, UserQuery, UserRecord, UserSighting, day_of,
};
use threadhold_domain::model::Thread;

use super::rows::{self, JsonList, thread_columns};
use crate::shared::{like_pattern, list_json, merge_workspaces};
use crate::{StoreError, StoreResult};

/// Adds `n` to the day's count of `what` (in shard 0: SQLite's one writer never waits on a row).
pub(super) fn count_activity(c: &Connection, project_id: &str, at: Millis, what: Activity, n: i64) -> StoreResult<()> {
    let statement = match what {
        Activity::Thread => {
            "INSERT INTO activity_days (project_id, day, shard, threads) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (project_id, day, shard) DO UPDATE SET threads = threads + excluded.threads"
        }
        Activity::Message => {
            "INSERT INTO activity_days (project_id, day, shard, messages) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (project_id, day, shard) DO UPDATE SET messages = messages + excluded.messages"
        }
        Activity::Run => {
            "INSERT INTO activity_days (project_id, day, shard, runs) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (project_id, day, shard) DO UPDATE SET runs = runs + excluded.runs"
        }
    };
    c.prepare_cached(statement)?.execute(params![project_id, day_of(at), 0, n])?;
    Ok(())
}

pub(super) fn rename_project(c: &Connection, id: &str, name: &str) -> StoreResult<bool> {
    let changed = c.prepare_cached("UPDATE projects SET name = ?2 WHERE id = ?1")?.execute(params![id, name])?;
    if changed == 1 {
        super::projects::bump_settings(c)?;
    }
    Ok(changed == 1)
}

/// A stored role; an unknown one is an error, never a guess (it would grant or withhold rights).
fn role(row: &Row, index: usize) -> rusqlite::Result<AdminRole> {
    let text: String = row.get(index)?;
    AdminRole::parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(index, Type::Text, format!("unknown admin role {text:?}").into())
    })
}

macro_rules! admin_columns {
    () => {
        "a.id, a.email, a.role, a.password_hash, a.created_at, a.last_login_at"
    };
}

fn admin(row: &Row, at: usize) -> rusqlite::Result<AdminAccount> {
    Ok(AdminAccount {
        id: row.get(at)?,
        email: row.get(at + 1)?,
        role: role(row, at + 2)?,
        password_hash: row.get(at + 3)?,
        created_at: row.get(at + 4)?,
        last_login_at: row.get(at + 5)?,
    })
}

pub(super) fn insert_admin(c: &Connection, a: &AdminAccount) -> StoreResult<()> {
    let inserted = c
        .prepare_cached(
            "INSERT INTO admin_accounts (id, email, role, password_hash, created_at, last_login_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (email) DO NOTHING",
        )?
        .execute(params![a.id, a.email, a.role.as_str(), a.password_hash, a.created_at, a.last_login_at])?;
    if inserted == 0 {
        return Err(StoreError::AlreadyExists(format!("an admin account for {}", a.email)));
    }
    Ok(())
}

pub(super) fn admin_by_email(c: &Connection, email: &str) -> StoreResult<Option<AdminAccount>> {
    Ok(c.prepare_cached(concat!("SELECT ", admin_columns!(), " FROM admin_accounts a WHERE a.email = ?1"))?
        .query_row([email], |row| admin(row, 0))
        .optional()?)
}

pub(super) fn list_admins(c: &Connection) -> StoreResult<Vec<AdminAccount>> {
    Ok(c.prepare_cached(concat!("SELECT ", admin_columns!(), " FROM admin_accounts a ORDER BY a.created_at, a.id"))?
        .query_map([], |row| admin(row, 0))?
        .collect::<Result<_, _>>()?)
}

pub(super) fn delete_admin(c: &Connection, id: &str) -> StoreResult<bool> {
    c.prepare_cached("DELETE FROM admin_sessions WHERE admin_id = ?1")?.execute([id])?;
    Ok(c.prepare_cached("DELETE FROM admin_accounts WHERE id = ?1")?.execute([id])? == 1)
}

pub(super) fn set_admin_password(c: &Connection, id: &str, password_hash: &str) -> StoreResult<bool> {
    let changed = c
        .prepare_cached("UPDATE admin_accounts SET password_hash = ?2 WHERE id = ?1")?
        .execute(params![id, password_hash])?;
    c.prepare_cached("DELETE FROM admin_sessions WHERE admin_id = ?1")?.execute([id])?;
    Ok(changed == 1)
}

pub(super) fn insert_admin_session(c: &Connection, s: &AdminSession) -> StoreResult<()> {
    c.prepare_cached(
        "INSERT INTO admin_sessions (token_hash, admin_id, csrf_token, created_at, last_seen_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![s.token_hash, s.admin_id, s.csrf_token, s.created_at, s.last_seen_at, s.expires_at])?;
    c.prepare_cached("UPDATE admin_accounts SET last_login_at = ?2 WHERE id = ?1")?
        .execute(params![s.admin_id, s.created_at])?;
    Ok(())
}

pub(super) fn admin_session(c: &Connection, token_hash: &str) -> StoreResult<Option<(AdminSession, AdminAccount)>> {
    Ok(c.prepare_cached(concat!(
        "SELECT s.token_hash, s.admin_id, s.csrf_token, s.created_at, s.last_seen_at, s.expires_at, ",
        admin_columns!(),
        " FROM admin_sessions s JOIN admin_accounts a ON a.id = s.admin_id WHERE s.token_hash = ?1"
    ))?
    .query_row([token_hash], |row| {
        let session = AdminSession {
            token_hash: row.get(0)?,
            admin_id: row.get(1)?,
            csrf_token: row.get(2)?,
            created_at: row.get(3)?,
            last_seen_at: row.get(4)?,
            expires_at: row.get(5)?,
        };
        Ok((session, admin(row, 6)?))
    })
    .optional()?)
}

pub(super) fn touch_admin_session(c: &Connection, token_hash: &str, now: Millis) -> StoreResult<()> {
    c.prepare_cached("UPDATE admin_sessions SET last_seen_at = ?2 WHERE token_hash = ?1 AND last_seen_at < ?2")?
        .execute(params![token_hash, now])?;
    Ok(())
}

pub(super) fn delete_admin_session(c: &Connection, token_hash: &str) -> StoreResult<()> {
    c.prepare_cached("DELETE FROM admin_sessions WHERE token_hash = ?1")?.execute([token_hash])?;
    Ok(())
}

pub(super) fn delete_expired_admin_sessions(c: &Connection, idle_before: Millis, now: Millis) -> StoreResult<u64> {
    Ok(c.prepare_cached("DELETE FROM admin_sessions WHERE last_seen_at < ?1 OR expires_at <= ?2")?
        .execute(params![idle_before, now])? as u64)
}

pub(super) fn insert_audit(c: &Connection, e: &AuditEntry) -> StoreResult<()> {
    c.prepare_cached(
        "INSERT INTO audit_log (id, at, actor, action, project_id, object_type, object_id, details) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![e.id, e.at, e.actor, e.action, e.project_id, e.object_type, e.object_id, e.details])?;
    Ok(())
}

pub(super) fn list_audit(c: &Connection, q: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
    let (action_from, action_to) = q.action.as_deref().map(crate::shared::action_range).unzip();
    // Each filter is optional; the planner picks the index of the one given (ids order every index).
    let mut statement = c.prepare_cached(
        "SELECT id, at, actor, action, project_id, object_type, object_id, details FROM audit_log \
         WHERE (?1 IS NULL OR project_id = ?1) AND (?2 IS NULL OR actor = ?2) \
         AND (?3 IS NULL OR (action >= ?3 AND action < ?4)) AND (?5 IS NULL OR id < ?5) \
         ORDER BY id DESC LIMIT ?6 + 0",
    )?;
    let rows = statement.query_map(
        params![q.project_id, q.actor, action_from, action_to, q.before, i64::from(q.limit)],
        |row| {
            Ok(AuditEntry {
                id: row.get(0)?,
                at: row.get(1)?,
                actor: row.get(2)?,
                action: row.get(3)?,
                project_id: row.get(4)?,
                object_type: row.get(5)?,
                object_id: row.get(6)?,
                details: row.get(7)?,
            })
        },
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

macro_rules! user_columns {
    () => {
        "project_id, user_id, display_name, anonymous, workspaces, first_seen_at, last_seen_at"
    };
}

fn user(row: &Row) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        project_id: row.get(0)?,
        user_id: row.get(1)?,
        display_name: row.get(2)?,
        anonymous: row.get(3)?,
        workspaces: row.get::<_, JsonList>(4)?.0,
        first_seen_at: row.get(5)?,
        last_seen_at: row.get(6)?,
    })
}

pub(super) fn record_user_activity(c: &Connection, s: &UserSighting) -> StoreResult<()> {
    let existing: Option<(Vec<String>, Option<String>)> = c
        .prepare_cached("SELECT workspaces, display_name FROM users WHERE project_id = ?1 AND user_id = ?2")?
        .query_row(params![s.project_id, s.user_id], |row| Ok((row.get::<_, JsonList>(0)?.0, row.get(1)?)))
        .optional()?;
    match existing {
        None => {
            c.prepare_cached(concat!("INSERT INTO users (", user_columns!(), ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)"))?
                .execute(params![
                    s.project_id,
                    s.user_id,
                    s.display_name,
                    s.anonymous,
                    list_json(std::slice::from_ref(&s.workspace_id)),
                    s.at
                ])?;
        }
        Some((workspaces, name)) => {
            let workspaces = merge_workspaces(workspaces, &s.workspace_id, USER_WORKSPACES_MAX);
            c.prepare_cached(
                "UPDATE users SET display_name = ?3, workspaces = ?4, last_seen_at = max(last_seen_at, ?5) \
                 WHERE project_id = ?1 AND user_id = ?2",
            )?
            .execute(params![
                s.project_id,
                s.user_id,
                s.display_name.clone().or(name),
                list_json(&workspaces),
                s.at
            ])?;
        }
    }
    c.prepare_cached(
        "INSERT INTO user_activity_days (project_id, day, user_id) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
    )?
    .execute(params![s.project_id, day_of(s.at), s.user_id])?;
    Ok(())
}

pub(super) fn list_users(c: &Connection, q: &UserQuery) -> StoreResult<Vec<UserRecord>> {
    let cursor: Option<(i64, String)> = match &q.after {
        Some(after) => {
            let found = c
                .prepare_cached("SELECT last_seen_at, user_id FROM users WHERE project_id = ?1 AND user_id = ?2")?
                .query_row(params![q.project_id, after], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?;
            match found {
                Some(cursor) => Some(cursor),
                None => return Ok(Vec::new()),
            }
        }
        None => None,
    };
    let pattern = q.search.as_deref().map(like_pattern);
    let (at, id) = cursor.unzip();
    let mut statement = c.prepare_cached(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE project_id = ?1 \
         AND (?2 IS NULL OR (last_seen_at, user_id) < (?2, ?3)) \
         AND (?4 IS NULL OR user_id LIKE ?4 ESCAPE '\\' OR display_name LIKE ?4 ESCAPE '\\') \
         ORDER BY last_seen_at DESC, user_id DESC LIMIT ?5 + 0"
    ))?;
    let rows = statement.query_map(params![q.project_id, at, id, pattern, i64::from(q.limit)], user)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn get_user(c: &Connection, project_id: &str, user_id: &str) -> StoreResult<Option<UserRecord>> {
    Ok(c.prepare_cached(concat!("SELECT ", user_columns!(), " FROM users WHERE project_id = ?1 AND user_id = ?2"))?
        .query_row(params![project_id, user_id], user)
        .optional()?)
}

pub(super) fn count_workspace_threads(
    c: &Connection,
    project_id: &str,
    workspace_id: &str,
    cap: u32,
) -> StoreResult<u64> {
    let count: i64 = c
        .prepare_cached(
            "SELECT count(*) FROM (SELECT 1 FROM threads WHERE project_id = ?1 AND workspace_id = ?2 LIMIT ?3 + 0)",
        )?
        .query_row(params![project_id, workspace_id, i64::from(cap)], |row| row.get(0))?;
    Ok(count as u64)
}

pub(super) fn admin_list_threads(c: &Connection, q: &AdminThreadQuery) -> StoreResult<Vec<Thread>> {
    let cursor: Option<(i64, String)> = match &q.after {
        Some(after) => {
            let found = c
                .prepare_cached("SELECT last_message_at, id FROM threads WHERE id = ?1 AND project_id = ?2")?
                .query_row(params![after, q.project_id], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?;
            match found {
                Some(cursor) => Some(cursor),
                None => return Ok(Vec::new()),
            }
        }
        None => None,
    };
    let (at, id) = cursor.unzip();
    let workspaces = (!q.workspaces.is_empty()).then(|| list_json(&q.workspaces));
    // With workspaces, the per-workspace listing index serves each; without, the project's.
    let statement = if workspaces.is_some() {
        concat!(
            "SELECT ",
            thread_columns!(),
            " FROM threads WHERE project_id = ?1 AND workspace_id IN (SELECT value FROM json_each(?2)) \
             AND (?3 IS NULL OR is_archived = ?3) AND (?4 IS NULL OR last_message_at >= ?4) \
             AND (?5 IS NULL OR last_message_at < ?5) AND (?6 IS NULL OR (last_message_at, id) < (?6, ?7)) \
             ORDER BY last_message_at DESC, id DESC LIMIT ?8 + 0"
        )
    } else {
        concat!(
            "SELECT ",
            thread_columns!(),
            " FROM threads INDEXED BY threads_admin_listing WHERE project_id = ?1 AND ?2 IS NULL \
             AND (?3 IS NULL OR is_archived = ?3) AND (?4 IS NULL OR last_message_at >= ?4) \
             AND (?5 IS NULL OR last_message_at < ?5) AND (?6 IS NULL OR (last_message_at, id) < (?6, ?7)) \
             ORDER BY last_message_at DESC, id DESC LIMIT ?8 + 0"
        )
    };
    let mut statement = c.prepare_cached(statement)?;
    let rows = statement.query_map(
        params![q.project_id, workspaces, q.archived, q.from, q.until, at, id, i64::from(q.limit)],
        rows::thread,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn daily_activity(c: &Connection, project_id: &str, from: Day, until: Day) -> StoreResult<Vec<DayActivity>> {
    let mut days: Vec<DayActivity> = c
        .prepare_cached(
            "SELECT day, sum(threads), sum(messages), sum(runs) FROM activity_days \
             WHERE project_id = ?1 AND day >= ?2 AND day <= ?3 GROUP BY day ORDER BY day",
        )?
        .query_map(params![project_id, from, until], |row| {
            Ok(DayActivity {
                day: row.get(0)?,
                threads: row.get(1)?,
                messages: row.get(2)?,
                runs: row.get(3)?,
                active_users: 0,
            })
        })?
        .collect::<Result<_, _>>()?;
    let users: Vec<(Day, i64)> = c
        .prepare_cached(
            "SELECT day, count(*) FROM user_activity_days WHERE project_id = ?1 AND day >= ?2 AND day <= ?3 \
             GROUP BY day ORDER BY day",
        )?
        .query_map(params![project_id, from, until], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    crate::shared::merge_active_users(&mut days, &users);
    Ok(days)
}

pub(super) fn count_active_users(c: &Connection, project_id: &str, from: Day, until: Day) -> StoreResult<u64> {
    let count: i64 = c
        .prepare_cached(
            "SELECT count(DISTINCT user_id) FROM user_activity_days WHERE project_id = ?1 AND day >= ?2 AND day <= ?3",
        )?
        .query_row(params![project_id, from, until], |row| row.get(0))?;
    Ok(count as u64)
}

pub(super) fn list_feedback(c: &Connection, p: &ProjectPage) -> StoreResult<Vec<FeedbackRow>> {
    let mut statement = c.prepare_cached(
        "SELECT f.id, m.thread_id, f.message_id, f.user_id, f.kind, f.comment, f.updated_at \
         FROM feedback f JOIN messages m ON m.id = f.message_id JOIN threads t ON t.id = m.thread_id \
         WHERE t.project_id = ?1 AND (?2 IS NULL OR m.thread_id = ?2) AND (?3 IS NULL OR f.id < ?3) \
         ORDER BY f.id DESC LIMIT ?4 + 0",
    )?;
    let rows = statement.query_map(params![p.project_id, p.thread_id, p.before, i64::from(p.limit)], |row| {
        Ok(FeedbackRow {
            id: row.get(0)?,
            thread_id: row.get(1)?,
            message_id: row.get(2)?,
            user_id: row.get(3)?,
            kind: row.get(4)?,
            comment: row.get(5)?,
            updated_at: row.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn set_retention_days(c: &Connection, project_id: &str, days: Option<u32>) -> StoreResult<bool> {
    if !c.prepare_cached("SELECT 1 FROM projects WHERE id = ?1")?.exists([project_id])? {
        return Ok(false);
    }
    match days {
        Some(days) => c
            .prepare_cached(
                "INSERT INTO project_retention (project_id, days) VALUES (?1, ?2) \
                 ON CONFLICT (project_id) DO UPDATE SET days = excluded.days",
            )?
            .execute(params![project_id, days])?,
        None => c.prepare_cached("DELETE FROM project_retention WHERE project_id = ?1")?.execute([project_id])?,
    };
    super::projects::bump_settings(c)?;
    Ok(true)
}

pub(super) fn retention_days(c: &Connection) -> StoreResult<Vec<(String, u32)>> {
    Ok(c.prepare_cached("SELECT project_id, days FROM project_retention ORDER BY project_id")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?)
}

pub(super) fn count_threads_before(c: &Connection, project_id: &str, before: Millis, cap: u32) -> StoreResult<u64> {
    let count: i64 = c
        .prepare_cached(
            "SELECT count(*) FROM (SELECT 1 FROM threads INDEXED BY threads_admin_listing \
             WHERE project_id = ?1 AND last_message_at < ?2 LIMIT ?3 + 0)",
        )?
        .query_row(params![project_id, before, i64::from(cap)], |row| row.get(0))?;
    Ok(count as u64)
}
