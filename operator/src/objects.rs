//! The operator's own object-store calls: removing thumbnails (and shim-uploaded
//! originals) when a Thumbnail is deleted or its spec changes. The client is built by
//! the `store` crate, so the operator, the resizer and the shim share one way of
//! talking to S3-compatible stores.

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
}
