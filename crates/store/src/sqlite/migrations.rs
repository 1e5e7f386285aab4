//! The SQLite schema migrations, embedded in the binary and run on open.

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::SqlitePool;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// (version, description, SQL), in order. Never edit a released entry: add a new one.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../../migrations/sqlite/0001_initial.sql")),
    (2, "anonymous", include_str!("../../migrations/sqlite/0002_anonymous.sql")),
    (3, "run leases", include_str!("../../migrations/sqlite/0003_run_leases.sql")),
    (4, "attachments", include_str!("../../migrations/sqlite/0004_attachments.sql")),
    (5, "auth rules", include_str!("../../migrations/sqlite/0005_auth_rules.sql")),
];

pub(super) async fn run(pool: &SqlitePool) -> Result<(), sqlx::migrate::MigrateError> {
    let migrations = MIGRATIONS
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(version, Cow::Borrowed(description), MigrationType::Simple, sql.into_sql_str(), false)
        })
        .collect::<Vec<_>>();
    let migrator = Migrator { migrations: Cow::Owned(migrations), ..Migrator::DEFAULT };
    migrator.run(pool).await
}
