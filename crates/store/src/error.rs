use thiserror::Error;

/// Failures of a [`crate::Store`] call. The domain variants are the client's
/// fault and map to 4xx; `Database` and `Migrate` are the server's.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("Thread not found")]
    ThreadNotFound,
    #[error("Message not found")]
    MessageNotFound,
    #[error("Parent message not found in thread")]
    ParentNotFound,
    #[error("Parent message with external_id not found in thread")]
    ParentExternalNotFound,
    #[error("Message role cannot change")]
    RoleChanged,
    #[error("Run not found")]
    RunNotFound,
    #[error("The lease is not this message's current lease")]
    LeaseMismatch,
    #[error("Run ended")]
    RunEnded,
    #[error("A run is in progress on this message")]
    RunInProgress,
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// True when the database could not be reached at all (as opposed to a failed query).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Database(sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)))
    }
}
