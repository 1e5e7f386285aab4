//! Files in the data folder. Upload URLs point at threadhold itself and carry
//! an expiry and an HMAC signature; public URLs are unguessable and durable.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::StreamExt;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use threadhold_domain::Millis;
use threadhold_domain::attachments::KEY_PREFIX;
use threadhold_domain::ids::random_secret;
use threadhold_domain::model::Attachment;
use tokio::io::AsyncWriteExt;

use super::{BlobStore, safe_headers};
use crate::error::{ApiError, ApiResult};

/// Most bytes read past the limit of a refused upload before answering.
const DRAIN_LIMIT: u64 = 8 * 1024 * 1024;

pub struct LocalFiles {
    root: PathBuf,
    secret: Vec<u8>,
}

/// What a signed URL allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    Upload,
    Download,
}

impl Grant {
    fn label(self) -> &'static str {
        match self {
            Grant::Upload => "PUT",
            Grant::Download => "GET",
        }
    }
}

/// Why a streamed upload was refused.
pub enum UploadError {
    TooLarge,
    Failed(ApiError),
}

impl LocalFiles {
    /// Files under `root`; `secret` signs the URLs (kept in the database, so every
    /// process on the same data agrees).
    pub fn new(root: PathBuf, secret: Vec<u8>) -> Self {
        LocalFiles { root, secret }
    }

    fn path_of(&self, key: &str) -> PathBuf {
        self.root.join(key.strip_prefix(KEY_PREFIX).unwrap_or(key))
    }

    fn mac(&self, grant: Grant, key: &str, expires_at: Millis) -> Hmac<Sha256> {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).unwrap_or_else(|_| unreachable!());
        mac.update(format!("{}\n{key}\n{expires_at}", grant.label()).as_bytes());
        mac
    }

    pub fn signature(&self, grant: Grant, key: &str, expires_at: Millis) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(grant, key, expires_at).finalize().into_bytes())
    }

    /// Checks a URL's expiry and signature (in constant time).
    pub fn verify(&self, grant: Grant, key: &str, expires_at: Millis, signature: &str, now: Millis) -> bool {
        let Ok(given) = URL_SAFE_NO_PAD.decode(signature) else { return false };
        now <= expires_at && self.mac(grant, key, expires_at).verify_slice(&given).is_ok()
    }

    fn signed(&self, base_url: &str, path: &str, grant: Grant, key: &str, expires_at: Millis) -> String {
        let signature = self.signature(grant, key, expires_at);
        format!("{base_url}{path}{key}?expires={expires_at}&signature={signature}")
    }

    /// Streams an upload to a temporary file, then moves it into place. Nothing
    /// is left behind when the body is too large or breaks off.
    pub async fn receive(&self, key: &str, body: Body, max_bytes: u64) -> Result<u64, UploadError> {
        let target = self.path_of(key);
        let failed =
            |error: std::io::Error| UploadError::Failed(ApiError::Internal(format!("storing an upload: {error}")));
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(failed)?;
        }
        let partial = target.with_extension(format!("part-{}", random_secret(8)));
        let result = write_capped(&partial, body, max_bytes).await;
        match result {
            Ok(size) => {
                tokio::fs::rename(&partial, &target).await.map_err(failed)?;
                Ok(size)
            }
            Err(error) => {
                let _ = tokio::fs::remove_file(&partial).await;
                Err(error)
            }
        }
    }
}

async fn write_capped(path: &Path, body: Body, max_bytes: u64) -> Result<u64, UploadError> {
    let failed = |error: std::io::Error| UploadError::Failed(ApiError::Internal(format!("storing an upload: {error}")));
    let mut file = tokio::fs::File::create(path).await.map_err(failed)?;
    let mut stream = body.into_data_stream();
    let mut size: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|error| {
            UploadError::Failed(if crate::serve::is_body_timeout(&error) {
                ApiError::RequestTimeout
            } else {
                ApiError::invalid(format!("upload broke off: {error}"))
            })
        })?;
        size += chunk.len() as u64;
        if size > max_bytes {
            // Keep reading (and discarding) a bounded amount, so a client still
            // sending gets the 413 instead of a broken connection.
            let mut drained = 0u64;
            while drained < max_bytes.min(DRAIN_LIMIT) {
                match stream.next().await {
                    Some(Ok(chunk)) => drained += chunk.len() as u64,
                    _ => break,
                }
            }
            return Err(UploadError::TooLarge);
        }
        file.write_all(&chunk).await.map_err(failed)?;
    }
    file.sync_all().await.map_err(failed)?;
    Ok(size)
}

#[async_trait]
impl BlobStore for LocalFiles {
    async fn upload_url(&self, key: &str, expires_at: Millis, base_url: &str) -> ApiResult<String> {
        Ok(self.signed(base_url, "/files/upload/", Grant::Upload, key, expires_at))
    }

    async fn download_url(&self, key: &str, expires_at: Millis, base_url: &str) -> ApiResult<String> {
        Ok(self.signed(base_url, "/files/", Grant::Download, key, expires_at))
    }

    async fn serve(&self, attachment: &Attachment) -> ApiResult<Response> {
        let file = match tokio::fs::File::open(self.path_of(&attachment.key)).await {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Err(not_found()),
            Err(error) => return Err(ApiError::Internal(format!("reading an attachment: {error}"))),
        };
        let body = Body::from_stream(tokio_util_stream(file));
        let mut response = (safe_headers(attachment), body).into_response();
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=86400"));
        Ok(response)
    }

    async fn delete(&self, key: &str) -> ApiResult<()> {
        match tokio::fs::remove_file(self.path_of(key)).await {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(ApiError::Internal(format!("deleting an attachment: {error}"))),
        }
    }

    async fn stored_size(&self, key: &str) -> ApiResult<Option<u64>> {
        match tokio::fs::metadata(self.path_of(key)).await {
            Ok(metadata) => Ok(Some(metadata.len())),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(ApiError::Internal(format!("reading an attachment: {error}"))),
        }
    }

    fn as_local(&self) -> Option<&LocalFiles> {
        Some(self)
    }
}

pub(crate) fn not_found() -> ApiError {
    ApiError::NotFound { code: "attachment_not_found", message: "Attachment not found".into() }
}

/// A file read in chunks, as a body stream.
fn tokio_util_stream(
    file: tokio::fs::File,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static {
    use tokio::io::AsyncReadExt;
    futures_util::stream::unfold(file, |mut file| async move {
        let mut buffer = vec![0u8; 64 * 1024];
        match file.read(&mut buffer).await {
            Ok(0) => None,
            Ok(n) => {
                buffer.truncate(n);
                Some((Ok(bytes::Bytes::from(buffer)), file))
            }
            Err(error) => Some((Err(error), file)),
        }
    })
}
