//! The PostgreSQL connection pool (deadpool over sqlx connections).
//!
//! sqlx's own pool pings every connection it takes back: a round trip per
//! store call that the database answers on the same cores as the request. This
//! pool takes a connection back as it is when its store call finished; after an
//! error only once a ping has flushed what the call left behind (the rollback of
//! a dropped transaction) and shown the connection alive; and never when the
//! call was cancelled half way, since what the connection would answer next is
//! then unknown.

use std::ops::{Deref, DerefMut};
use std::time::Duration;

use deadpool::Runtime;
use deadpool::managed::{self, Metrics, Object, PoolError, QueueMode, RecycleError, RecycleResult};
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

use crate::{StoreError, StoreResult};

/// A pooled connection idle this long is pinged before it is used again, so
/// one the server or a proxy closed meanwhile is replaced unseen.
const CHECK_CONNECTIONS_IDLE_FOR: Duration = Duration::from_secs(5);
/// Connections idle this long are closed (a quiet node holds no backends).
const IDLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// Connections are replaced at this age (server-side memory a backend gathers is returned).
const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// How long a connection being closed may take to say goodbye.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the ping after a failed call may take before the connection is given up
/// (a failed call's response waits for it, so a silent network cannot hold it long).
const RELEASE_PING_TIMEOUT: Duration = Duration::from_secs(2);

/// Opens connections and checks the ones that sat idle.
pub(super) struct Manager {
    options: PgConnectOptions,
}

impl managed::Manager for Manager {
    type Type = PgConnection;
    type Error = sqlx::Error;

    async fn create(&self) -> Result<PgConnection, sqlx::Error> {
        PgConnection::connect_with(&self.options).await
    }

    async fn recycle(&self, connection: &mut PgConnection, metrics: &Metrics) -> RecycleResult<sqlx::Error> {
        if metrics.age() >= MAX_LIFETIME {
            return Err(RecycleError::message("the connection reached its lifetime"));
        }
        if metrics.last_used() >= CHECK_CONNECTIONS_IDLE_FOR {
            connection.ping().await?;
        }
        Ok(())
    }
}

/// The pool; clones share it.
#[derive(Clone)]
pub(super) struct Connections {
    pool: managed::Pool<Manager>,
}

impl Connections {
    /// A pool of at most `max` connections; taking one waits at most `acquire_timeout`
    /// (while the database is away, requests fail fast instead of hanging).
    pub(super) fn new(options: PgConnectOptions, max: u32, acquire_timeout: Duration) -> StoreResult<Self> {
        let pool = managed::Pool::builder(Manager { options })
            .max_size(max as usize)
            // The most recently used connection first, so the ones a quiet node does not need go idle and close.
            .queue_mode(QueueMode::Lifo)
            .wait_timeout(Some(acquire_timeout))
            .create_timeout(Some(acquire_timeout))
            .recycle_timeout(Some(acquire_timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|error| StoreError::Database(format!("building the connection pool: {error}")))?;
        Ok(Connections { pool })
    }

    /// A connection; give it back with [`Pooled::release`].
    pub(super) async fn connection(&self) -> StoreResult<Pooled> {
        Ok(Pooled { object: Some(self.pool.get().await?) })
    }

    /// Closes the connections idle for [`IDLE_TIMEOUT`].
    pub(super) fn close_idle(&self) {
        for connection in self.pool.retain(|_, metrics| metrics.last_used() < IDLE_TIMEOUT).removed {
            close(connection);
        }
    }

    /// Refuses further connections and closes the idle ones (the busy ones close as they come back).
    pub(super) fn close(&self) {
        for connection in self.pool.retain(|_, _| false).removed {
            close(connection);
        }
        self.pool.close();
    }

    pub(super) fn is_closed(&self) -> bool {
        self.pool.is_closed()
    }
}

/// A connection taken from the pool. Dropped without [`Pooled::release`] (its
/// call was cancelled) it is closed, not returned.
pub(super) struct Pooled {
    object: Option<Object<Manager>>,
}

impl Pooled {
    /// Hands the connection back once its call gave `result`.
    pub(super) async fn release<T>(mut self, result: &StoreResult<T>) {
        if result.is_err()
            && let Some(connection) = self.object.as_deref_mut()
            && !matches!(tokio::time::timeout(RELEASE_PING_TIMEOUT, connection.ping()).await, Ok(Ok(())))
        {
            return;
        }
        // Dropping the object returns it to the pool.
        self.object.take();
    }
}

impl Deref for Pooled {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        self.object.as_deref().expect("a pooled connection is held until it is released")
    }
}

impl DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.object.as_deref_mut().expect("a pooled connection is held until it is released")
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(object) = self.object.take() {
            close(Object::take(object));
        }
    }
}

/// Closes a connection in the background (or drops it when no runtime is left to do so).
fn close(connection: PgConnection) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, connection.close()).await;
        });
    }
}

impl From<PoolError<sqlx::Error>> for StoreError {
    fn from(error: PoolError<sqlx::Error>) -> Self {
        match error {
            PoolError::Backend(error) => error.into(),
            PoolError::Timeout(_) | PoolError::Closed => StoreError::Unavailable(error.to_string()),
            PoolError::NoRuntimeSpecified | PoolError::PostCreateHook(_) => StoreError::Database(error.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    /// The server at `THREADHOLD_TEST_POSTGRES_URL` (`scripts/test` starts a throwaway one).
    fn options() -> PgConnectOptions {
        let url = std::env::var("THREADHOLD_TEST_POSTGRES_URL").unwrap_or_else(|_| {
            panic!("set THREADHOLD_TEST_POSTGRES_URL to a PostgreSQL server (scripts/test starts a throwaway one)")
        });
        PgConnectOptions::from_str(&url).expect("a PostgreSQL URL")
    }

    async fn backend_pid(connection: &mut PgConnection) -> i32 {
        sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(connection).await.expect("backend pid")
    }

    #[tokio::test]
    async fn a_finished_call_gives_its_connection_back_and_a_cancelled_one_does_not() {
        let pool = Connections::new(options(), 1, Duration::from_secs(3)).expect("pool");
        let mut connection = pool.connection().await.expect("connect");
        let first = backend_pid(&mut connection).await;
        connection.release(&Ok::<_, StoreError>(())).await;

        let mut connection = pool.connection().await.expect("the same connection");
        assert_eq!(backend_pid(&mut connection).await, first);
        let slow = sqlx::query("SELECT pg_sleep(5)").execute(&mut *connection);
        assert!(tokio::time::timeout(Duration::from_millis(100), slow).await.is_err(), "cancelled half way");
        drop(connection);

        let mut connection = pool.connection().await.expect("a new connection");
        assert_ne!(backend_pid(&mut connection).await, first, "the cancelled call's connection was closed");
        connection.release(&Ok::<_, StoreError>(())).await;
    }

    #[tokio::test]
    async fn a_refused_transaction_gives_back_its_locks_when_released() {
        let pool = Connections::new(options(), 1, Duration::from_secs(3)).expect("pool");
        let mut connection = pool.connection().await.expect("connect");
        let result = async {
            let mut tx = connection.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock(73011)").execute(&mut *tx).await?;
            // A rule of the store refuses the write after the lock was taken (the server saw no
            // error): the transaction is dropped uncommitted, which only queues its rollback.
            drop(tx);
            Err::<(), _>(StoreError::ThreadNotFound)
        }
        .await;
        assert!(result.is_err());
        connection.release(&result).await;

        // Another session takes the lock at once: the rollback reached the server when the
        // connection was released, not at its next use.
        let mut other = PgConnection::connect_with(&options()).await.expect("connect");
        let free: bool =
            sqlx::query_scalar("SELECT pg_try_advisory_lock(73011)").fetch_one(&mut other).await.expect("try lock");
        assert!(free, "the failed transaction still held its lock");
        other.close().await.expect("close");
    }
}
