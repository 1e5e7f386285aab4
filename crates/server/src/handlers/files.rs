//! `/v1/files/…`.

use crate::error::ApiError;

/// `POST /v1/files/pdf-to-images`: deprecated; the hosted service has no such
/// endpoint and answers 404, so the client expects exactly that.
pub async fn pdf_to_images() -> ApiError {
    ApiError::NotFound { code: "not_found", message: "PDF conversion is not available".into() }
}
