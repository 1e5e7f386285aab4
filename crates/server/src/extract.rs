//! Extractors that report malformed input with the API's JSON error instead
//! of axum's plain-text rejections.

use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON request body. The client sends `Content-Type: application/json` even
/// on body-less calls, so an empty (or all-whitespace) body counts as `{}`.
/// The content type itself is not checked: the client always sends JSON.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &bytes };
        serde_json::from_slice(text).map(JsonBody).map_err(|error| {
            let code = if error.is_data() { "invalid_request" } else { "invalid_json" };
            ApiError::InvalidRequest { code, message: format!("Invalid request body: {error}") }
        })
    }
}

fn body_error(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge { limit: threadhold_domain::limits::REQUEST_BODY_MAX_BYTES }
    } else {
        ApiError::invalid(format!("Could not read the request body: {rejection}"))
    }
}

/// A form-encoded query string (`+` is a space, as `URLSearchParams` writes it).
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state).await.map(|Query(value)| ApiQuery(value)).map_err(
            |rejection: QueryRejection| ApiError::InvalidRequest {
                code: "invalid_query",
                message: rejection.body_text(),
            },
        )
    }
}

/// Path parameters, percent-decoded per segment (an encoded `/` stays inside its segment).
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state).await.map(|Path(value)| ApiPath(value)).map_err(
            |rejection: PathRejection| ApiError::InvalidRequest {
                code: "invalid_path",
                message: rejection.body_text(),
            },
        )
    }
}

/// Deserializes a field that may be absent (`None`), `null` (`Some(None)`) or set.
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(deserializer).map(Some)
}
