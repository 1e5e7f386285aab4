//! Operations beneath the HTTP layer: plain Rust over the store, shared by the
//! handlers, the MCP tools, the CLI and the tests. Nothing here knows about HTTP.

pub mod messages;
pub mod project;
pub mod runs;
pub mod search;
pub mod titles;
pub mod traces;
pub mod transfer;
pub mod usage;

use threadhold_domain::model::Position;
use threadhold_domain::telemetry::cursor;
use threadhold_domain::telemetry::query::Invalid;
use threadhold_store::StoreError;

/// Why a service refused a request: the caller's input (a code and a message
/// for it), something it named that does not exist, or the store.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<Invalid> for ServiceError {
    fn from(invalid: Invalid) -> Self {
        ServiceError::Invalid { code: invalid.code, message: invalid.message }
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// A keyset page: the first `limit` of `rows` (fetched one longer), and the
/// cursor after the last of them when more followed.
fn keyset_page<T>(mut rows: Vec<T>, limit: usize, position: impl Fn(&T) -> Position) -> (Vec<T>, Option<String>) {
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = rows.last().filter(|_| more).map(|last| cursor::encode(&position(last)));
    (rows, next)
}

impl ServiceError {
    pub fn thread_not_found() -> Self {
        ServiceError::NotFound { code: "thread_not_found", message: "Thread not found".into() }
    }

    pub fn run_not_found() -> Self {
        ServiceError::NotFound { code: "run_not_found", message: "Run not found".into() }
    }
}
