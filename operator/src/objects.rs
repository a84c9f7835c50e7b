//! The operator's own object-store calls: removing thumbnails (and shim-uploaded
//! originals) when a Thumbnail is deleted or its spec changes. The client is built by
//! the resizer library's store module, so the operator, the resizer and the shim
//! share one way of talking to S3-compatible stores.

use crate::config::Config;
use crate::error::{Error, Result};

pub struct ObjectStore {
    client: aws_sdk_s3::Client,
}

impl ObjectStore {
    /// A client from the operator's store settings and its environment's credentials.
    pub fn from_env(config: &Config) -> Result<Self> {
        let client = config
            .store
            .client_from_env()
            .map_err(|e| Error::Store(e.to_string()))?;
        Ok(ObjectStore { client })
    }

    pub fn from_client(client: aws_sdk_s3::Client) -> Self {
        ObjectStore { client }
    }

    /// Deletes `bucket`/`key`. Deleting what is not there succeeds (S3 semantics), so a
    /// repeated cleanup is harmless; a missing bucket counts as nothing to delete.
    pub async fn delete(&self, bucket: &str, key: &str) -> Result<()> {
        match self
            .client
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error().and_then(|s| s.meta().code()) == Some("NoSuchBucket") =>
            {
                Ok(())
            }
            Err(e) => Err(Error::Store(format!(
                "deleting s3://{bucket}/{key}: {}",
                aws_sdk_s3::error::DisplayErrorContext(&e)
            ))),
        }
    }
}
