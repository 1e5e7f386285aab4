//! Embedded schema migrations: each backend has its own SQL files, run on open
//! through sqlx's migrator (which records applied versions and, on PostgreSQL,
//! holds an advisory lock so several nodes starting together are safe).

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// (version, description, SQL), in order. Never edit a released entry: add a new one.
pub(crate) type Migrations = &'static [(i64, &'static str, &'static str)];

pub(crate) const SQLITE: Migrations = &[
    (1, "initial", include_str!("../migrations/sqlite/0001_initial.sql")),
    (2, "anonymous", include_str!("../migrations/sqlite/0002_anonymous.sql")),
    (3, "run leases", include_str!("../migrations/sqlite/0003_run_leases.sql")),
    (4, "attachments", include_str!("../migrations/sqlite/0004_attachments.sql")),
    (5, "auth rules", include_str!("../migrations/sqlite/0005_auth_rules.sql")),
];

pub(crate) const POSTGRES: Migrations = &[(1, "initial", include_str!("../migrations/postgres/0001_initial.sql"))];

pub(crate) fn migrator(migrations: Migrations) -> Migrator {
    let migrations = migrations
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(version, Cow::Borrowed(description), MigrationType::Simple, sql.into_sql_str(), false)
        })
        .collect::<Vec<_>>();
    Migrator { migrations: Cow::Owned(migrations), ..Migrator::DEFAULT }
}
