//! The PostgreSQL backend, for deployments that share one database between
//! several threadhold nodes. Read-modify-write sequences are serialized with
//! row locks (`SELECT … FOR UPDATE` on the thread or the session) and, for
//! thread upserts, a transaction-scoped advisory lock on the external id.

use sqlx::Postgres;
use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::migrate;
use crate::sql_store::{Dialect, sql_store};

/// One pool serves reads and writes; `writer` and `readers` name the same pool
/// so that the shared statements read the same on every backend.
#[derive(Clone)]
pub struct PgStore {
    writer: PgPool,
    readers: PgPool,
}

const DIALECT: Dialect = Dialect {
    json_strings: |param| format!("SELECT jsonb_array_elements_text({param}::jsonb)"),
    greatest: "GREATEST",
    one: "1::BIGINT",
    lock_rows: " FOR UPDATE",
    lock_session: " FOR UPDATE OF s",
    key_lock: Some("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"),
};

impl PgStore {
    /// Connects to a `postgres://` URL and runs pending migrations.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let pool = PgPoolOptions::new().max_connections(16).connect(url).await?;
        migrate::migrator(migrate::POSTGRES).run(&pool).await?;
        Ok(PgStore { writer: pool.clone(), readers: pool })
    }

    async fn write(&self) -> StoreResult<sqlx::Transaction<'static, Postgres>> {
        Ok(self.writer.begin().await?)
    }
}

sql_store!(PgStore, Postgres, sqlx::postgres::PgRow, DIALECT);
