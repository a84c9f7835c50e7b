//! The operator's own object-store calls: removing thumbnails (and shim-uploaded
//! originals) when a Thumbnail is deleted or its spec changes. The client is built by
//! the `store` crate, so the operator, the resizer and the shim share one way of
//! talking to S3-compatible stores.

use aws_sdk_s3::error::DisplayErrorContext;
use thumbnail_api::contract::ObjectLocation;
use thumbnail_api::crd::{Format, ThumbnailOutput};
use thumbnail_store::ErrorClass;

use crate::config::Config;
use crate::error::{Error, Result};

pub struct ObjectStore {
    client: aws_sdk_s3::Client,
}

impl ObjectStore {
    /// A client from the operator's store settings and its environment's credentials.
    pub fn from_env(config: &Config) -> Result<Self> {
        let client = thumbnail_store::client_from_env(&config.store)
            .map_err(|e| Error::Store(e.to_string()))?;
        Ok(ObjectStore { client })
    }

    pub fn from_client(client: aws_sdk_s3::Client) -> Self {
        ObjectStore { client }
    }

    /// Deletes `bucket`/`key`; what is already gone (missing key or bucket) counts as
    /// deleted, so a repeated cleanup is harmless.
    pub async fn delete(&self, bucket: &str, key: &str) -> Result<()> {
        thumbnail_store::delete_object(&self.client, bucket, key)
            .await
            .map_err(|e| Error::Store(e.to_string()))
    }

    /// [`ObjectStore::delete`] with the store's own error, which says whether retrying
    /// can help ([`thumbnail_store::StoreError::is_transient`]).
    pub async fn try_delete(
        &self,
        bucket: &str,
        key: &str,
    ) -> std::result::Result<(), thumbnail_store::StoreError> {
        thumbnail_store::delete_object(&self.client, bucket, key).await
    }

    /// The thumbnail a run stored at `at`, read back from the object itself (its size,
    /// type and the width/height metadata the resizer writes), or `None` when nothing is
    /// there. For a run whose Job is gone before its result was read (removed by its TTL
    /// during an operator outage): the work is done and stored, and must not be lost.
    pub async fn stored_thumbnail(
        &self,
        at: &ObjectLocation,
        format: Format,
    ) -> Result<Option<ThumbnailOutput>> {
        let head = match self
            .client
            .head_object()
            .bucket(&at.bucket)
            .key(&at.key)
            .send()
            .await
        {
            Ok(head) => head,
            Err(e) if thumbnail_store::classify(&e) == ErrorClass::NotFound => return Ok(None),
            Err(e) => {
                return Err(Error::Store(format!(
                    "reading s3://{}/{}: {}",
                    at.bucket,
                    at.key,
                    DisplayErrorContext(&e)
                )))
            }
        };
        let meta = head.metadata();
        let dimension = |name: &str| {
            meta.and_then(|m| m.get(name))
                .and_then(|v| v.parse::<u32>().ok())
        };
        // An object without the resizer's metadata is not a finished thumbnail.
        let (Some(width), Some(height)) = (dimension("width"), dimension("height")) else {
            return Ok(None);
        };
        Ok(Some(ThumbnailOutput {
            bucket: at.bucket.clone(),
            key: at.key.clone(),
            width,
            height,
            format,
            content_type: format.content_type().to_string(),
            bytes: head.content_length().unwrap_or(0).max(0) as u64,
        }))
    }
}
