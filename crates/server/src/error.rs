//! The one error type of the HTTP layer. Every failure, including malformed
//! input caught by an extractor, renders as `{"error": code, "message": text}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use threadhold_auth::VerifyError;
use threadhold_store::StoreError;

use crate::service::{Failure, FailureClass, Fault};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed or breaks a documented limit.
    #[error("{message}")]
    InvalidRequest { code: &'static str, message: String },
    /// 400: a form field holds a bad value (`field` names it).
    #[error("{message}")]
    InvalidField { code: &'static str, field: &'static str, message: String },
    /// 401: no usable credential, or an expired token.
    #[error("{message}")]
    Unauthenticated { code: &'static str, message: String },
    /// 403: a credential was presented and refused, or may not do this.
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// 404: unknown resource or route (another workspace's data is indistinguishable).
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    #[error("Method not allowed")]
    MethodNotAllowed,
    /// 409: the request conflicts with stored state.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// 415: a request body in an encoding this server does not read.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 429: too many requests from this client; retry after the given seconds.
    #[error("Too many requests; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// 408: the client stopped sending the request body.
    #[error("The request body did not arrive in time")]
    RequestTimeout,
    /// 413: the body is larger than this route accepts.
    #[error("The request body is too large (the limit is {limit} bytes)")]
    PayloadTooLarge { limit: usize },
    /// A bearer token was refused (401 expired, 403 invalid, 503 keys unreachable).
    #[error(transparent)]
    Token(#[from] VerifyError),
    /// 500: the server's fault; the detail is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
    /// 503: the database is unreachable or the server is shutting down.
    #[error("{0}")]
    Unavailable(String),
    /// 507: the database's disk is full; reads go on, writes are refused.
    #[error("The server's storage is full; nothing was written")]
    StorageFull,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::InvalidRequest { code: "invalid_request", message: message.into() }
    }

    /// 429 with the wait, rounded up to whole seconds, for `Retry-After`.
    pub fn rate_limited(wait: std::time::Duration) -> Self {
        ApiError::RateLimited { retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0) }
    }

    pub fn thread_not_found() -> Self {
        ApiError::NotFound { code: "thread_not_found", message: "Thread not found".into() }
    }

    pub fn message_not_found() -> Self {
        ApiError::NotFound { code: "message_not_found", message: "Message not found".into() }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidRequest { .. } | ApiError::InvalidField { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Token(error) => StatusCode::from_u16(error.status()).unwrap_or(StatusCode::FORBIDDEN),
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::StorageFull => StatusCode::INSUFFICIENT_STORAGE,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidRequest { code, .. }
            | ApiError::InvalidField { code, .. }
            | ApiError::Unauthenticated { code, .. }
            | ApiError::Forbidden { code, .. }
            | ApiError::NotFound { code, .. }
            | ApiError::Conflict { code, .. } => code,
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::RequestTimeout => "request_timeout",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Token(error) => error.code(),
            ApiError::Internal(_) => "internal_error",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::StorageFull => "storage_full",
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        let message = error.to_string();
        match error {
            StoreError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "the database is unavailable");
                ApiError::Unavailable("The database is unavailable".into())
            }
            StoreError::StorageFull(detail) => {
                tracing::error!(error = %detail, "the database's storage is full");
                ApiError::StorageFull
            }
            StoreError::ThreadNotFound => ApiError::thread_not_found(),
            StoreError::MessageNotFound => ApiError::message_not_found(),
            StoreError::ParentNotFound => ApiError::InvalidRequest { code: "parent_not_found", message },
            StoreError::ParentExternalNotFound => ApiError::InvalidRequest { code: "parent_not_found", message },
            StoreError::RoleChanged => ApiError::Conflict { code: "message_role_changed", message },
            StoreError::AlreadyExists(_) => ApiError::Conflict { code: "already_exists", message },
            StoreError::RunNotFound => ApiError::NotFound { code: "not_found", message },
            StoreError::LeaseMismatch => ApiError::Conflict { code: "lease_mismatch", message },
            StoreError::RunEnded => ApiError::Conflict { code: "run_ended", message },
            StoreError::RunInProgress => ApiError::Conflict { code: "run_in_progress", message },
            StoreError::Database(_) | StoreError::Migrate(_) => ApiError::Internal(message),
        }
    }
}

/// A service error reaches a client as its failure class; the database's own
/// trouble as [`StoreError`] does (503, 507, 500).
impl<E: Fault> From<E> for ApiError {
    fn from(error: E) -> Self {
        let failure = match error.failure() {
            Ok(failure) => failure,
            Err(store) => return store.into(),
        };
        let Failure { class, code, message, field } = failure;
        match (class, field) {
            (FailureClass::Invalid, Some(field)) => ApiError::InvalidField { code, field, message },
            (FailureClass::Invalid, None) => ApiError::InvalidRequest { code, message },
            (FailureClass::Unauthenticated, _) => ApiError::Unauthenticated { code, message },
            (FailureClass::Forbidden, _) => ApiError::Forbidden { code, message },
            (FailureClass::NotFound, _) => ApiError::NotFound { code, message },
            (FailureClass::Conflict, _) => ApiError::Conflict { code, message },
            (FailureClass::RateLimited { retry_after_secs }, _) => ApiError::RateLimited { retry_after_secs },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "request failed");
                "Internal server error".to_owned()
            }
            other => other.to_string(),
        };
        let body = match &self {
            ApiError::InvalidField { field, .. } => json!({ "error": self.code(), "message": message, "field": field }),
            _ => json!({ "error": self.code(), "message": message }),
        };
        let mut response = (self.status(), Json(body)).into_response();
        if let ApiError::RateLimited { retry_after_secs } = self {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_states_are_answered_without_details() {
        let full = ApiError::from(StoreError::StorageFull("disk /var is full".into()));
        assert_eq!((full.status(), full.code()), (StatusCode::INSUFFICIENT_STORAGE, "storage_full"));
        assert!(!full.to_string().contains("/var"));
        let away = ApiError::from(StoreError::Unavailable("connection refused to 10.0.0.5".into()));
        assert_eq!((away.status(), away.code()), (StatusCode::SERVICE_UNAVAILABLE, "unavailable"));
        assert!(!away.to_string().contains("10.0.0.5"));
    }
}
