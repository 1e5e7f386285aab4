//! `/v1/files/…` (presigned upload and download URLs) and `/files/…` (the
//! upload target of the local store, and every attachment's public URL).

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use threadhold_domain::attachments::{
    self, ContentType, FILES_PATH, OCTET_STREAM, content_type_for, is_valid_key, key_from_url,
};
use threadhold_domain::model::Attachment;
use threadhold_domain::{Millis, format_ms, now_ms};

use super::text_field;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiPath, ApiQuery, JsonBody};
use crate::files::local::{Grant, UploadError, not_found};
use crate::state::AppState;

/// `POST /v1/files/pdf-to-images`: deprecated; the hosted service has no such
/// endpoint and answers 404, so the client expects exactly that.
#[utoipa::path(post, path = "/v1/files/pdf-to-images", tag = "files", responses((status = 404, description = "Not available (as on the hosted service)")))]
pub async fn pdf_to_images() -> ApiError {
    ApiError::NotFound { code: "not_found", message: "PDF conversion is not available".into() }
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct UploadRequest {
    filename: String,
    content_type: Option<String>,
    content_length: Option<u64>,
}

/// `POST /v1/files/attachments/generate-presigned-upload-url`.
#[utoipa::path(post, path = "/v1/files/attachments/generate-presigned-upload-url", tag = "files", request_body = UploadRequest, responses((status = 201, body = crate::openapi::UploadGrant), (status = 413, description = "`payload_too_large`"), (status = 415, description = "The content type is not allowed")))]
pub async fn presign_upload(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(body): JsonBody<UploadRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    text_field("filename", &body.filename)?;
    let config = &state.config.files;
    // An empty type (the browser's `file.type` for unknown files) means "from the file name".
    let declared = body.content_type.as_deref().filter(|text| !text.is_empty());
    let content_type = content_type(declared.unwrap_or_else(|| content_type_for(&body.filename)))?;
    check_allowed(&content_type, &config.allowed_types)?;
    if body.content_length.is_some_and(|length| length > config.max_bytes) {
        return Err(too_large(config.max_bytes));
    }
    let now = now_ms();
    let expires_at = now + millis(config.url_ttl);
    let attachment = Attachment {
        key: attachments::new_key(&caller.scope.project_id, &body.filename),
        scope: caller.scope,
        filename: body.filename,
        content_type: content_type.header_value(),
        size: None,
        complete: false,
        thread_id: None,
        created_at: now,
        upload_expires_at: expires_at,
    };
    state.store.insert_attachment(&attachment).await?;
    let base = base_url(&state, &headers);
    let signed_url = state.blobs.upload_url(&attachment.key, expires_at, &base).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "success": true,
            "signedUrl": signed_url,
            "expiresAt": format_ms(expires_at),
            "publicUrl": format!("{base}{FILES_PATH}{}", attachment.key),
            "key": attachment.key,
        })),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct DownloadRequest {
    key: Option<String>,
    url: Option<String>,
}

/// `POST /v1/files/attachments/generate-presigned-download-url`: a read URL
/// for one of the caller's workspace's files, by key or by its public URL.
#[utoipa::path(post, path = "/v1/files/attachments/generate-presigned-download-url", tag = "files", request_body = DownloadRequest, responses((status = 200, body = crate::openapi::DownloadGrant), (status = 404, description = "No such attachment")))]
pub async fn presign_download(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(body): JsonBody<DownloadRequest>,
) -> ApiResult<Json<Value>> {
    let key = match (&body.key, &body.url) {
        (Some(key), None) => key.as_str(),
        (None, Some(url)) => key_from_url(url).ok_or_else(not_found)?,
        _ => return Err(ApiError::invalid("send exactly one of key or url")),
    };
    if !is_valid_key(key) {
        return Err(not_found());
    }
    let attachment =
        state.store.get_attachment(key).await?.filter(|a| a.scope == caller.scope).ok_or_else(not_found)?;
    let expires_at = now_ms() + millis(state.config.files.url_ttl);
    let signed_url = state.blobs.download_url(&attachment.key, expires_at, &base_url(&state, &headers)).await?;
    Ok(Json(json!({ "signedUrl": signed_url, "expiresAt": format_ms(expires_at), "key": attachment.key })))
}

#[derive(Deserialize)]
pub struct Signed {
    expires: Option<Millis>,
    signature: Option<String>,
}

/// `PUT /files/upload/<key>?expires=…&signature=…`: the local store's upload target.
#[utoipa::path(put, path = "/files/upload/{key}", tag = "files", params(("key" = String, Path, description = "The attachment key (may contain `/`)"), ("expires" = Option<i64>, Query, description = "Expiry, milliseconds since the epoch"), ("signature" = Option<String>, Query, description = "The URL's signature")), request_body(description = "The file's bytes", content((Vec<u8> = "application/octet-stream"))), responses((status = 200, body = crate::openapi::Empty), (status = 403, description = "`invalid_signature`"), (status = 409, description = "`already_uploaded`"), (status = 413, description = "`payload_too_large`")))]
pub async fn receive_upload(
    State(state): State<AppState>,
    ApiPath(key): ApiPath<String>,
    ApiQuery(signed): ApiQuery<Signed>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let local = state.blobs.as_local().ok_or_else(not_found)?;
    let now = now_ms();
    let refused =
        || ApiError::Forbidden { code: "invalid_signature", message: "The upload URL is invalid or expired".into() };
    let (Some(expires), Some(signature)) = (signed.expires, signed.signature.as_deref()) else {
        return Err(refused());
    };
    if !is_valid_key(&key) || !local.verify(Grant::Upload, &key, expires, signature, now) {
        return Err(refused());
    }
    let attachment = state.store.get_attachment(&key).await?.ok_or_else(refused)?;
    if attachment.complete {
        return Err(ApiError::Conflict { code: "already_uploaded", message: "This file was already uploaded".into() });
    }
    let config = &state.config.files;
    let content_type = upload_type(&headers, &attachment.content_type)?;
    check_allowed(&content_type, &config.allowed_types)?;
    let content_type = content_type.header_value();
    // A declared length over the limit is refused before reading anything (browsers always declare it).
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > config.max_bytes) {
        state.store.delete_attachment(&key).await?;
        return Err(too_large(config.max_bytes));
    }
    match local.receive(&key, body, config.max_bytes).await {
        Ok(size) => {
            state.store.complete_attachment(&key, i64::try_from(size).unwrap_or(i64::MAX), &content_type).await?;
            Ok(Json(json!({})))
        }
        Err(UploadError::TooLarge) => {
            state.store.delete_attachment(&key).await?;
            Err(too_large(config.max_bytes))
        }
        Err(UploadError::Failed(error)) => Err(error),
    }
}

/// `GET /files/<key>`: an attachment's durable, unguessable public URL (and,
/// with `expires` and `signature`, a time-limited download URL).
#[utoipa::path(get, path = "/files/{key}", tag = "files", params(("key" = String, Path, description = "The attachment key (may contain `/`)"), ("expires" = Option<i64>, Query, description = "Expiry of a download URL, milliseconds since the epoch"), ("signature" = Option<String>, Query, description = "A download URL's signature")), responses((status = 200, description = "The file's bytes", content_type = "application/octet-stream", body = Vec<u8>), (status = 403, description = "`invalid_signature`"), (status = 404, description = "No such file")))]
pub async fn serve(
    State(state): State<AppState>,
    ApiPath(key): ApiPath<String>,
    ApiQuery(signed): ApiQuery<Signed>,
) -> ApiResult<Response> {
    if !is_valid_key(&key) {
        return Err(not_found());
    }
    if let (Some(expires), Some(signature), Some(local)) = (signed.expires, &signed.signature, state.blobs.as_local())
        && !local.verify(Grant::Download, &key, expires, signature, now_ms())
    {
        return Err(ApiError::Forbidden {
            code: "invalid_signature",
            message: "The download URL is invalid or expired".into(),
        });
    }
    let attachment = state.store.get_attachment(&key).await?.ok_or_else(not_found)?;
    // The local store knows when an upload completed; with S3 the bytes went straight to the bucket.
    if !attachment.complete && state.blobs.as_local().is_some() {
        return Err(not_found());
    }
    state.blobs.serve(&attachment).await
}

/// A content type sent by the client, parsed (400 `invalid_content_type` otherwise).
fn content_type(text: &str) -> ApiResult<ContentType> {
    ContentType::parse(text).map_err(|reason| ApiError::InvalidRequest {
        code: "invalid_content_type",
        message: format!("content_type: {reason}"),
    })
}

fn check_allowed(content_type: &ContentType, allowed: &[String]) -> ApiResult<()> {
    if content_type.allowed_by(allowed) {
        return Ok(());
    }
    Err(ApiError::InvalidRequest {
        code: "content_type_not_allowed",
        message: format!("Files of type {} are not accepted", content_type.essence()),
    })
}

/// The type an upload is stored as: the presigned one. The upload's own
/// `Content-Type` must name the same type (parameters aside), except that a
/// file presigned as generic bytes (no type given, an unknown extension) takes
/// the type the browser declares.
fn upload_type(headers: &HeaderMap, presigned: &str) -> ApiResult<ContentType> {
    let presigned = ContentType::stored(presigned);
    let declared = match headers.get(header::CONTENT_TYPE) {
        None => return Ok(presigned),
        Some(value) => value.to_str().map(str::trim).map_err(|_| ApiError::InvalidRequest {
            code: "invalid_content_type",
            message: "Content-Type is not ASCII".into(),
        })?,
    };
    if declared.is_empty() {
        return Ok(presigned);
    }
    let declared = content_type(declared)?;
    if declared.essence() == presigned.essence() {
        return Ok(presigned);
    }
    if presigned.essence() == OCTET_STREAM {
        return Ok(declared);
    }
    Err(ApiError::InvalidRequest {
        code: "content_type_mismatch",
        message: format!(
            "The upload is {} but the upload URL was made for {}",
            declared.essence(),
            presigned.essence()
        ),
    })
}

fn too_large(max_bytes: u64) -> ApiError {
    ApiError::PayloadTooLarge { limit: usize::try_from(max_bytes).unwrap_or(usize::MAX) }
}

fn millis(duration: std::time::Duration) -> Millis {
    Millis::try_from(duration.as_millis()).unwrap_or(Millis::MAX / 2)
}

/// The server's public base URL: configured, or `http://<Host>` of the request.
fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.config.files.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    format!("http://{host}")
}
