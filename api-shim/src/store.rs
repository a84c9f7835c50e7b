//! The object-store operations of the shim: stream an original in with a size cap,
//! delete it again, stream a thumbnail out, presign, and a readiness probe. The S3
//! client itself is built, and its errors classified, by the `store` crate.

use std::time::Duration;

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use bytes::{Bytes, BytesMut};
use thumbnail_store::{classify, ErrorClass};

/// Size of the parts of a multipart upload, and so the most an upload buffers in
/// memory: S3's minimum part size. Smaller files go up in a single PUT.
pub const PART_SIZE: usize = 5 * 1024 * 1024;

/// The answer to a conditional GET.
#[derive(Debug)]
pub enum Got {
    Object(Box<GetObjectOutput>),
    /// The client's If-None-Match matched; the object's current ETag when the store
    /// sent it.
    NotModified {
        e_tag: Option<String>,
    },
}

/// S3 access for one default bucket.
#[derive(Clone, Debug)]
pub struct Store {
    pub client: Client,
    pub bucket: String,
}

/// Why putting an object failed.
#[derive(Debug)]
pub enum PutError {
    /// More than the cap arrived; the caller answers 413 (the upload is aborted).
    TooLarge,
    /// The store failed; the caller answers 503.
    Store(String),
}

fn describe<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match err {
        SdkError::ServiceError(s) => {
            let e = s.err();
            format!(
                "{}: {}",
                e.code().unwrap_or("error"),
                e.message().unwrap_or("no message")
            )
        }
        other => DisplayErrorContext(other).to_string(),
    }
}

/// HTTP status of a service error, if the store answered at all.
fn http_status<E, R>(err: &SdkError<E, R>) -> Option<u16>
where
    R: HasStatus,
{
    err.raw_response().map(HasStatus::status_code)
}

trait HasStatus {
    fn status_code(&self) -> u16;
}

impl HasStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

impl Store {
    /// Streams one object in: buffers up to [`PART_SIZE`], then switches to a multipart
    /// upload, so memory stays bounded whatever the file's size. Call `push` for each
    /// chunk, then `finish`, or `abort` on any error (which removes every trace).
    pub fn writer(&self, key: String, content_type: &'static str, max_bytes: u64) -> ObjectWriter {
        ObjectWriter {
            store: self.clone(),
            key,
            content_type,
            max_bytes,
            written: 0,
            buffer: BytesMut::new(),
            multipart: None,
            settled: false,
        }
    }

    /// Deletes an object; what is already gone (missing key or bucket) counts as deleted.
    pub async fn delete(&self, bucket: &str, key: &str) -> Result<(), String> {
        thumbnail_store::delete_object(&self.client, bucket, key)
            .await
            .map_err(|e| e.to_string())
    }

    /// Aborts every unfinished multipart upload of `key`. A request cancelled while its
    /// CreateMultipartUpload was in flight leaves an upload whose id nobody received:
    /// only listing finds it.
    pub async fn abort_pending_uploads(&self, bucket: &str, key: &str) -> Result<(), String> {
        let pending = self
            .client
            .list_multipart_uploads()
            .bucket(bucket)
            .prefix(key)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        for upload in pending.uploads() {
            if upload.key() != Some(key) {
                continue;
            }
            if let Some(id) = upload.upload_id() {
                self.client
                    .abort_multipart_upload()
                    .bucket(bucket)
                    .key(key)
                    .upload_id(id)
                    .send()
                    .await
                    .map_err(|e| describe(&e))?;
            }
        }
        Ok(())
    }

    /// Fetches an object for download. `Ok(None)` means the store answered 304 to
    /// `if_none_match`.
    pub async fn get(
        &self,
        bucket: &str,
        key: &str,
        if_none_match: Option<&str>,
    ) -> Result<Got, GetError> {
        let mut req = self.client.get_object().bucket(bucket).key(key);
        if let Some(tag) = if_none_match {
            req = req.if_none_match(tag);
        }
        match req.send().await {
            Ok(out) => Ok(Got::Object(Box::new(out))),
            Err(e) if http_status(&e) == Some(304) => Ok(Got::NotModified {
                // The object's own validator, as the store's 304 carries it.
                e_tag: e
                    .raw_response()
                    .and_then(|r| r.headers().get("etag"))
                    .map(str::to_string),
            }),
            Err(e) if classify(&e) == ErrorClass::NotFound => Err(GetError::Missing),
            Err(e) => Err(GetError::Store(describe(&e))),
        }
    }

    /// A time-limited GET URL for an object, for redirecting downloads.
    pub async fn presign_get(
        &self,
        bucket: &str,
        key: &str,
        ttl: Duration,
    ) -> Result<String, String> {
        let config = PresigningConfig::expires_in(ttl).map_err(|e| e.to_string())?;
        self.client
            .get_object()
            .bucket(bucket)
            .key(key)
            .presigned(config)
            .await
            .map(|r| r.uri().to_string())
            .map_err(|e| describe(&e))
    }

    /// Readiness: the default bucket answers.
    pub async fn check(&self) -> Result<(), String> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map(drop)
            .map_err(|e| match classify(&e) {
                ErrorClass::NotFound => format!(
                    "bucket {:?} does not exist; create it or point --bucket at an existing one",
                    self.bucket
                ),
                _ => describe(&e),
            })
    }
}

#[derive(Debug)]
pub enum GetError {
    Missing,
    Store(String),
}

/// An object being written; see [`Store::writer`].
pub struct ObjectWriter {
    store: Store,
    key: String,
    content_type: &'static str,
    max_bytes: u64,
    written: u64,
    buffer: BytesMut,
    multipart: Option<Multipart>,
    /// Finished or aborted: nothing for `Drop` to clean up.
    settled: bool,
}

struct Multipart {
    upload_id: String,
    parts: Vec<CompletedPart>,
}

impl ObjectWriter {
    pub async fn push(&mut self, chunk: Bytes) -> Result<(), PutError> {
        self.written += chunk.len() as u64;
        if self.written > self.max_bytes {
            return Err(PutError::TooLarge);
        }
        self.buffer.extend_from_slice(&chunk);
        while self.buffer.len() >= PART_SIZE {
            let part = self.buffer.split_to(PART_SIZE).freeze();
            self.upload_part(part).await?;
        }
        Ok(())
    }

    async fn upload_part(&mut self, part: Bytes) -> Result<(), PutError> {
        let s = &self.store;
        if self.multipart.is_none() {
            let created = s
                .client
                .create_multipart_upload()
                .bucket(&s.bucket)
                .key(&self.key)
                .content_type(self.content_type)
                .send()
                .await
                .map_err(|e| PutError::Store(describe(&e)))?;
            let upload_id = created
                .upload_id
                .ok_or_else(|| PutError::Store("the store returned no upload id".into()))?;
            self.multipart = Some(Multipart {
                upload_id,
                parts: Vec::new(),
            });
        }
        let mp = self
            .multipart
            .as_mut()
            .expect("multipart upload started above");
        let number = mp.parts.len() as i32 + 1;
        let done = s
            .client
            .upload_part()
            .bucket(&s.bucket)
            .key(&self.key)
            .upload_id(&mp.upload_id)
            .part_number(number)
            .body(ByteStream::from(part))
            .send()
            .await
            .map_err(|e| PutError::Store(describe(&e)))?;
        mp.parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(done.e_tag)
                .build(),
        );
        Ok(())
    }

    /// Stores what was pushed; returns the byte count.
    pub async fn finish(mut self) -> Result<u64, (PutError, ObjectWriter)> {
        let result = self.finish_inner().await;
        match result {
            Ok(()) => {
                self.settled = true;
                Ok(self.written)
            }
            Err(e) => Err((e, self)),
        }
    }

    async fn finish_inner(&mut self) -> Result<(), PutError> {
        let rest = self.buffer.split().freeze();
        if self.multipart.is_none() {
            let s = &self.store;
            return s
                .client
                .put_object()
                .bucket(&s.bucket)
                .key(&self.key)
                .content_type(self.content_type)
                .body(ByteStream::from(rest))
                .send()
                .await
                .map(drop)
                .map_err(|e| PutError::Store(describe(&e)));
        }
        if !rest.is_empty() {
            self.upload_part(rest).await?;
        }
        let s = &self.store;
        let mp = self.multipart.as_ref().expect("multipart upload exists");
        s.client
            .complete_multipart_upload()
            .bucket(&s.bucket)
            .key(&self.key)
            .upload_id(&mp.upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(mp.parts.clone()))
                    .build(),
            )
            .send()
            .await
            .map(drop)
            .map_err(|e| PutError::Store(describe(&e)))
    }

    /// Removes whatever this writer stored: the unfinished multipart upload, and the
    /// object in case a finishing request reached the store before failing. Errors are
    /// logged: there is nobody left to answer.
    pub async fn abort(mut self) {
        self.settled = true;
        let s = &self.store;
        if let Some(mp) = &self.multipart {
            if let Err(e) = s
                .client
                .abort_multipart_upload()
                .bucket(&s.bucket)
                .key(&self.key)
                .upload_id(&mp.upload_id)
                .send()
                .await
            {
                tracing::warn!(key = %self.key, error = %describe(&e), "could not abort a multipart upload; the store's lifecycle rules must clean it");
            }
        }
        if let Err(e) = s.delete(&s.bucket, &self.key).await {
            tracing::warn!(key = %self.key, error = %e, "could not delete an aborted upload");
        }
    }
}

impl Drop for ObjectWriter {
    /// A writer dropped mid-way (the request timed out or was cancelled) aborts its
    /// multipart upload in the background, so no invisible parts pile up in the store.
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let Some(mp) = self.multipart.take() else {
            return;
        };
        let (client, bucket, key) = (
            self.store.client.clone(),
            self.store.bucket.clone(),
            self.key.clone(),
        );
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = client
                    .abort_multipart_upload()
                    .bucket(bucket)
                    .key(key)
                    .upload_id(mp.upload_id)
                    .send()
                    .await;
            });
        }
    }
}
