//! S3-compatible object storage (AWS S3, MinIO, R2, …) through the
//! `object_store` crate: real presigned URLs, so bytes never pass through
//! threadhold. The public URL stays on threadhold and redirects to a fresh
//! presigned read, so links in stored messages never expire.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use object_store::ObjectStoreExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::signer::{Method, Signer};
use threadhold_domain::model::Attachment;
use threadhold_domain::{Millis, now_ms};

use super::{BlobStore, safe_headers};
use crate::error::{ApiError, ApiResult};

/// Where and how to reach the bucket.
#[derive(Clone)]
pub struct S3Settings {
    pub bucket: String,
    pub region: String,
    /// For S3-compatible services (MinIO, R2, a local test server); AWS otherwise.
    pub endpoint: Option<String>,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Permit `http://` endpoints (local servers only).
    pub allow_http: bool,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"***")
            .finish()
    }
}

pub struct S3Files {
    store: Arc<AmazonS3>,
    /// Lifetime of the read URLs the public URL redirects to.
    read_ttl: Duration,
}

impl S3Files {
    pub fn new(settings: &S3Settings, read_ttl: Duration) -> ApiResult<Self> {
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&settings.bucket)
            .with_region(&settings.region)
            .with_access_key_id(&settings.access_key_id)
            .with_secret_access_key(&settings.secret_access_key)
            .with_allow_http(settings.allow_http);
        if let Some(endpoint) = &settings.endpoint {
            builder = builder.with_endpoint(endpoint).with_virtual_hosted_style_request(false);
        }
        let store = builder.build().map_err(|error| ApiError::Internal(format!("configuring S3: {error}")))?;
        Ok(S3Files { store: Arc::new(store), read_ttl })
    }

    async fn sign(&self, method: Method, key: &str, ttl: Duration) -> ApiResult<String> {
        let url = self
            .store
            .signed_url(method, &Path::from(key), ttl)
            .await
            .map_err(|error| ApiError::Internal(format!("presigning an S3 URL: {error}")))?;
        Ok(url.to_string())
    }
}

fn ttl_until(expires_at: Millis) -> Duration {
    Duration::from_millis(u64::try_from(expires_at - now_ms()).unwrap_or(0).max(1_000))
}

#[async_trait]
impl BlobStore for S3Files {
    async fn upload_url(&self, key: &str, expires_at: Millis, _base_url: &str) -> ApiResult<String> {
        self.sign(Method::PUT, key, ttl_until(expires_at)).await
    }

    async fn download_url(&self, key: &str, expires_at: Millis, _base_url: &str) -> ApiResult<String> {
        self.sign(Method::GET, key, ttl_until(expires_at)).await
    }

    async fn serve(&self, attachment: &Attachment) -> ApiResult<Response> {
        let target = self.sign(Method::GET, &attachment.key, self.read_ttl).await?;
        let location = HeaderValue::from_str(&target).map_err(|_| ApiError::Internal("bad presigned URL".into()))?;
        let mut response = (StatusCode::FOUND, safe_headers(attachment)).into_response();
        response.headers_mut().insert(header::LOCATION, location);
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
        Ok(response)
    }

    async fn delete(&self, key: &str) -> ApiResult<()> {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(ApiError::Internal(format!("deleting from S3: {error}"))),
        }
    }

    async fn stored_size(&self, key: &str) -> ApiResult<Option<u64>> {
        match self.store.head(&Path::from(key)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(ApiError::Internal(format!("reading from S3: {error}"))),
        }
    }
}
