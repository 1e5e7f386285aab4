//! Embedded schema migrations: each backend has its own SQL files, run on open.
//! Applied versions are recorded in `_sqlx_migrations` on both backends (the
//! table sqlx's migrator keeps, which PostgreSQL still uses and which SQLite
//! databases made by earlier releases already have), with each file's SHA-384,
//! so an edited released migration is refused instead of silently skipped.

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Instant;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use sha2::{Digest, Sha384};
use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

use crate::{StoreError, StoreResult};

/// (version, description, SQL), in order. Never edit a released entry: add a new one.
pub(crate) type Migrations = &'static [(i64, &'static str, &'static str)];

pub(crate) const SQLITE: Migrations = &[
    (1, "initial", include_str!("../migrations/sqlite/0001_initial.sql")),
    (2, "anonymous", include_str!("../migrations/sqlite/0002_anonymous.sql")),
    (3, "run leases", include_str!("../migrations/sqlite/0003_run_leases.sql")),
    (4, "attachments", include_str!("../migrations/sqlite/0004_attachments.sql")),
    (5, "auth rules", include_str!("../migrations/sqlite/0005_auth_rules.sql")),
    (6, "search scores settings", include_str!("../migrations/sqlite/0006_search_scores_settings.sql")),
    (7, "runs", include_str!("../migrations/sqlite/0007_runs.sql")),
    (8, "model titles", include_str!("../migrations/sqlite/0008_model_titles.sql")),
    (9, "dashboard", include_str!("../migrations/sqlite/0009_dashboard.sql")),
    (10, "search merges when idle", include_str!("../migrations/sqlite/0010_search_merges_when_idle.sql")),
    (13, "search finds threads by index", include_str!("../migrations/sqlite/0013_search_finds_threads_by_index.sql")),
    (
        14,
        "search entries queue per group",
        include_str!("../migrations/sqlite/0014_search_entries_queue_per_group.sql"),
    ),
];

pub(crate) const POSTGRES: Migrations = &[
    (1, "initial", include_str!("../migrations/postgres/0001_initial.sql")),
    (2, "search scores settings", include_str!("../migrations/postgres/0002_search_scores_settings.sql")),
    (7, "runs", include_str!("../migrations/postgres/0007_runs.sql")),
    (8, "model titles", include_str!("../migrations/postgres/0008_model_titles.sql")),
    (9, "dashboard", include_str!("../migrations/postgres/0009_dashboard.sql")),
    (11, "activity log", include_str!("../migrations/postgres/0011_activity_log.sql")),
    (12, "thread title search", include_str!("../migrations/postgres/0012_thread_title_search.sql")),
    (13, "search entries carry thread", include_str!("../migrations/postgres/0013_search_entries_carry_thread.sql")),
    (14, "search pending list", include_str!("../migrations/postgres/0014_search_pending_list.sql")),
];

/// sqlx's migrator for PostgreSQL (it holds an advisory lock, so nodes starting together are safe).
pub(crate) fn postgres_migrator() -> Migrator {
    let migrations = POSTGRES
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(version, Cow::Borrowed(description), MigrationType::Simple, sql.into_sql_str(), false)
        })
        .collect::<Vec<_>>();
    Migrator { migrations: Cow::Owned(migrations), ..Migrator::DEFAULT }
}

/// Runs the pending SQLite migrations, each in its own transaction. A pending
/// one takes the write lock before it checks again whether it is applied (a
/// deferred transaction fails with "database is locked" when another process
/// commits between its read and its first write), so a CLI opening a running
/// server's database waits for the server's commits, and two processes never
/// both apply one. An up-to-date database is checked with one read, no lock.
pub(crate) fn run_sqlite(conn: &mut Connection) -> StoreResult<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
            version BIGINT PRIMARY KEY,
            description TEXT NOT NULL,
            installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
            success BOOLEAN NOT NULL,
            checksum BLOB NOT NULL,
            execution_time BIGINT NOT NULL
        )",
    )?;
    const APPLIED: &str = "SELECT checksum, success FROM _sqlx_migrations WHERE version = ?1";
    let applied: HashMap<i64, (Vec<u8>, bool)> = conn
        .prepare("SELECT version, checksum, success FROM _sqlx_migrations")?
        .query_map([], |row| Ok((row.get(0)?, (row.get(1)?, row.get(2)?))))?
        .collect::<Result<_, _>>()?;
    for &(version, description, sql) in SQLITE {
        let checksum = Sha384::digest(sql.as_bytes()).to_vec();
        if is_applied(version, description, &checksum, applied.get(&version))? {
            continue;
        }
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let now_applied = tx.query_row(APPLIED, [version], |row| Ok((row.get(0)?, row.get(1)?))).optional()?;
        if is_applied(version, description, &checksum, now_applied.as_ref())? {
            continue;
        }
        let started = Instant::now();
        tx.execute_batch(sql).map_err(|error| StoreError::Migrate(format!("migration {version}: {error}")))?;
        tx.execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (?1, ?2, TRUE, ?3, ?4)",
            params![version, description, checksum, started.elapsed().as_nanos() as i64],
        )?;
        tx.commit()?;
        tracing::info!(version, description, "database migrated");
    }
    Ok(())
}

/// Whether a migration's recorded row says it is applied; an error when the row
/// records other SQL or a failure.
fn is_applied(version: i64, description: &str, checksum: &[u8], row: Option<&(Vec<u8>, bool)>) -> StoreResult<bool> {
    match row {
        None => Ok(false),
        Some((stored, true)) if stored.as_slice() == checksum => Ok(true),
        Some((_, true)) => Err(StoreError::Migrate(format!(
            "migration {version} ({description}) was applied with different SQL; released migrations must not change"
        ))),
        Some((_, false)) => Err(StoreError::Migrate(format!("migration {version} ({description}) failed earlier"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each backend's list holds every SQL file of its folder, in order, with
    /// that file's text: a file left out of the list is never applied, and
    /// nothing else would say so.
    #[test]
    fn every_migration_file_is_listed() {
        for (folder, list) in [("sqlite", SQLITE), ("postgres", POSTGRES)] {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(folder);
            let mut files: Vec<String> = std::fs::read_dir(&dir)
                .expect("the migrations folder")
                .map(|entry| entry.expect("a folder entry").file_name().to_string_lossy().into_owned())
                .collect();
            files.sort();
            let numbers: Vec<i64> = files
                .iter()
                .map(|file| file.split('_').next().and_then(|n| n.parse().ok()).expect("a numbered file"))
                .collect();
            let listed: Vec<i64> = list.iter().map(|&(version, _, _)| version).collect();
            assert_eq!(listed, numbers, "{folder}: the listed versions and the files differ");
            for (file, &(_, _, sql)) in files.iter().zip(list) {
                assert_eq!(std::fs::read_to_string(dir.join(file)).expect("read"), sql, "{folder}/{file}");
            }
        }
    }
}
