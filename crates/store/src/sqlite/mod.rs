//! The SQLite backend, threadhold's embedded default: one database file in WAL
//! mode, one writer connection (SQLite allows one writer at a time anyway, and
//! this serializes read-modify-write sequences such as external-id upserts)
//! plus a small pool of readers.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};

use crate::migrate;
use crate::sql_store::{Dialect, sql_store};

#[derive(Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    readers: SqlitePool,
}

/// Every write transaction holds the database (`BEGIN IMMEDIATE`), so no row locks are needed.
const DIALECT: Dialect = Dialect {
    json_strings: |param| format!("SELECT value FROM json_each({param})"),
    greatest: "MAX",
    one: "1",
    lock_rows: "",
    lock_session: "",
    key_lock: None,
};

impl SqliteStore {
    /// Opens (creating if needed) the database file and runs pending migrations.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        let options = SqliteConnectOptions::new().filename(path).create_if_missing(true);
        Self::open_with(options).await
    }

    /// Opens a `sqlite:` URL (e.g. `sqlite:///var/lib/threadhold/db.sqlite3`).
    pub async fn open_url(url: &str) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?.create_if_missing(true);
        Self::open_with(options).await
    }

    async fn open_with(options: SqliteConnectOptions) -> StoreResult<Self> {
        let options = options
            .journal_mode(SqliteJournalMode::Wal)
            // With WAL, NORMAL keeps every committed write across a process
            // crash (kill -9); only an OS crash or power loss can drop the last ones.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let writer = SqlitePoolOptions::new().max_connections(1).connect_with(options.clone()).await?;
        migrate::migrator(migrate::SQLITE).run(&writer).await?;
        let readers = SqlitePoolOptions::new().max_connections(4).connect_with(options.read_only(true)).await?;
        Ok(SqliteStore { writer, readers })
    }

    /// A write transaction that takes the write lock up front, so a read
    /// followed by a write never fails on a lock upgrade when another process
    /// (an admin command) writes concurrently.
    async fn write(&self) -> StoreResult<sqlx::Transaction<'static, Sqlite>> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }
}

sql_store!(SqliteStore, Sqlite, sqlx::sqlite::SqliteRow, DIALECT);
