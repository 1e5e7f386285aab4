use thiserror::Error;

/// Failures of a [`crate::Store`] call. The domain variants are the client's
/// fault and map to 4xx; `Unavailable` and `StorageFull` are the database's
/// state (503, 507); `Database` and `Migrate` are the server's (500).
///
/// Errors are plain values (`Clone`): one failed group commit is reported to
/// every write of the group.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
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
    /// The database cannot be reached (connection refused, pool exhausted, shut down).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The disk or the database is full: writes fail, reads go on.
    #[error("database full: {0}")]
    StorageFull(String),
    #[error("database error: {0}")]
    Database(String),
    #[error("migration error: {0}")]
    Migrate(String),
}

impl StoreError {
    /// True when the database could not be reached at all (as opposed to a failed query).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        use rusqlite::ffi::ErrorCode;
        match error.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => StoreError::StorageFull(error.to_string()),
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked | ErrorCode::CannotOpen) => {
                StoreError::Unavailable(error.to_string())
            }
            _ => StoreError::Database(error.to_string()),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
                StoreError::Unavailable(error.to_string())
            }
            sqlx::Error::Database(db) => match db.code().as_deref() {
                // disk_full, insufficient_resources, out_of_memory
                Some("53100" | "53000" | "53200") => StoreError::StorageFull(error.to_string()),
                // too_many_connections, admin/crash shutdown, cannot_connect_now
                Some("53300" | "57P01" | "57P02" | "57P03") => StoreError::Unavailable(error.to_string()),
                _ => StoreError::Database(error.to_string()),
            },
            _ => StoreError::Database(error.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migrate(error.to_string())
    }
}
