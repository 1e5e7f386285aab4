//! Attachment storage behind one trait: files in the data folder (the
//! embedded default, uploaded through threadhold itself with signed,
//! expiring PUT URLs) or an S3-compatible object store (real presigned URLs,
//! for multi-node deployments).

pub(crate) mod local;
mod s3;

use std::time::Duration;

use async_trait::async_trait;
use axum::response::Response;
use threadhold_domain::Millis;
use threadhold_domain::attachments::ContentType;
use threadhold_domain::model::Attachment;

pub use local::LocalFiles;
pub use s3::{S3Files, S3Settings};

use crate::error::ApiResult;

/// Limits and addresses of attachments.
#[derive(Debug, Clone)]
pub struct FilesConfig {
    /// Largest accepted file, in bytes.
    pub max_bytes: u64,
    /// Lifetime of presigned upload and download URLs.
    pub url_ttl: Duration,
    /// Allowed content types (`image/*`, `application/pdf`, `*`); empty allows all.
    pub allowed_types: Vec<String>,
    /// The server's public base URL for file links; when unset, derived from the request's Host.
    pub public_url: Option<String>,
}

impl Default for FilesConfig {
    fn default() -> Self {
        FilesConfig {
            max_bytes: 25 * 1024 * 1024,
            url_ttl: Duration::from_secs(15 * 60),
            allowed_types: Vec::new(),
            public_url: None,
        }
    }
}

/// Where attachment bytes live.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// A URL the browser PUTs the bytes to, valid until `expires_at`.
    async fn upload_url(&self, key: &str, expires_at: Millis, base_url: &str) -> ApiResult<String>;
    /// A time-limited read URL.
    async fn download_url(&self, key: &str, expires_at: Millis, base_url: &str) -> ApiResult<String>;
    /// Answers `GET /files/<key>` for a known attachment.
    async fn serve(&self, attachment: &Attachment) -> ApiResult<Response>;
    /// Removes the bytes (a missing file is not an error).
    async fn delete(&self, key: &str) -> ApiResult<()>;
    /// The stored size, `None` when nothing was uploaded.
    async fn stored_size(&self, key: &str) -> ApiResult<Option<u64>>;
    /// The local store, which also accepts uploads through threadhold itself.
    fn as_local(&self) -> Option<&LocalFiles> {
        None
    }
}

/// Headers that keep a served file from acting as a page of this origin: the
/// stored type (one that does not parse counts as generic bytes), displayed
/// inline only for [`INLINE_TYPES`](threadhold_domain::attachments::INLINE_TYPES)
/// and downloaded otherwise, never sniffed, and sandboxed.
pub(crate) fn safe_headers(attachment: &Attachment) -> [(axum::http::HeaderName, String); 4] {
    use axum::http::header;
    let content_type = ContentType::stored(&attachment.content_type);
    let disposition = if content_type.is_inline_safe() { "inline" } else { "attachment" };
    let filename: String =
        attachment.filename.chars().filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\' || *c == ' ').collect();
    [
        (header::CONTENT_TYPE, content_type.header_value()),
        (header::CONTENT_DISPOSITION, format!("{disposition}; filename=\"{filename}\"")),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        (header::CONTENT_SECURITY_POLICY, "default-src 'none'; sandbox".to_owned()),
    ]
}
