//! Extractors that report malformed input with the API's JSON error instead
//! of axum's plain-text rejections.

use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use threadhold_domain::limits::REQUEST_BODY_MAX_BYTES;

use crate::error::ApiError;

/// A JSON request body. The client sends `Content-Type: application/json` even
/// on body-less calls, so an empty (or all-whitespace) body counts as `{}`.
/// The content type itself is not checked: the client always sends JSON.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let RawBody(bytes) = RawBody::from_request(req, state).await?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &bytes };
        serde_json::from_slice(text).map(JsonBody).map_err(|error| {
            let code = if error.is_data() { "invalid_request" } else { "invalid_json" };
            ApiError::InvalidRequest { code, message: format!("Invalid request body: {error}") }
        })
    }
}

/// A request body as bytes, within the route's size limit (`DefaultBodyLimit`).
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // The limit of this route, as the body-limit layer set it (the default otherwise).
        let limit = req.extensions().get::<BodyLimitNote>().map_or(REQUEST_BODY_MAX_BYTES, |note| note.0);
        Bytes::from_request(req, state).await.map(RawBody).map_err(|rejection| body_error(rejection, limit))
    }
}

/// Records a route's body limit so a 413 can name it.
#[derive(Clone, Copy)]
pub struct BodyLimitNote(pub usize);

/// A route accepting bodies up to `limit` bytes instead of the default.
pub fn with_body_limit<S: Clone + Send + Sync + 'static>(
    route: axum::routing::MethodRouter<S>,
    limit: usize,
) -> axum::routing::MethodRouter<S> {
    route
        .layer::<_, std::convert::Infallible>(axum::extract::DefaultBodyLimit::max(limit))
        .layer::<_, std::convert::Infallible>(axum::Extension(BodyLimitNote(limit)))
}

fn body_error(rejection: BytesRejection, limit: usize) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge { limit }
    } else if crate::serve::is_body_timeout(&rejection) {
        ApiError::RequestTimeout
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
