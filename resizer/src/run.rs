//! One run of the resizer: get the source (S3, or a file in local mode), make the
//! thumbnail, put it back, and describe the outcome as the contract's [`RunResult`].
//! Every failure, including a panic inside a decoder, becomes a result with a reason.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;

use crate::contract::{Cli, ObjectLocation, Reason, Request, RunResult, Success, Timings};
use crate::error::{Failed, Result};
use crate::pipeline::{self, Thumbnail};
use thumbnail_api::links::percent_encode;
use thumbnail_store::{self as store, ErrorClass};

/// Cache-Control of thumbnails: a thumbnail's key changes with its spec (the operator
/// puts the generation in it), so its bytes never change.
pub const CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

pub fn run(cli: &Cli) -> RunResult {
    let request = cli.request();
    let outcome = match (&cli.input_file, &cli.output_file) {
        (Some(input), Some(output)) => run_local(input, output, &request),
        _ => runtime().and_then(|rt| rt.block_on(run_s3(cli, &request))),
    };
    match outcome {
        Ok(success) => RunResult::Success(success),
        Err(failed) => RunResult::Failure(failed.into_failure()),
    }
}

/// The async runtime of a run against S3 (one thread: a run has one core).
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            Failed::new(
                Reason::InternalError,
                format!("cannot start the async runtime: {e}"),
            )
        })
}

pub(crate) fn ms(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
}

/// The pipeline, with a panic (a bug, e.g. in a decoder) turned into a result.
fn thumbnail(source: &[u8], request: &Request) -> Result<Thumbnail> {
    catch_panic(|| pipeline::make_thumbnail(source, request))
}

/// `f`'s result, or for a panic (a bug, e.g. in a decoder) an `InternalError`.
pub(crate) fn catch_panic<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(Failed::new(
            Reason::InternalError,
            format!("the resizer crashed on this image ({what}); please report it with the image"),
        ))
    })
}

/// The contract's success for thumbnail `t` written to `output`, with the timings of the
/// two ends of the run (the pipeline measured its own stages).
fn success(output: ObjectLocation, t: &Thumbnail, download_ms: u64, upload_ms: u64) -> Success {
    Success {
        output,
        width: t.width,
        height: t.height,
        bytes: t.bytes.len() as u64,
        format: t.format,
        content_type: t.format.content_type().to_string(),
        source_width: t.source_width,
        source_height: t.source_height,
        timings: Timings {
            download_ms,
            decode_ms: t.decode_ms,
            resize_ms: t.resize_ms,
            encode_ms: t.encode_ms,
            upload_ms,
        },
    }
}

fn run_local(
    input: &std::path::Path,
    output: &std::path::Path,
    request: &Request,
) -> Result<Success> {
    let t = Instant::now();
    let io = |what: &str, path: &std::path::Path, e: std::io::Error| {
        let reason = if e.kind() == std::io::ErrorKind::NotFound {
            Reason::SourceNotFound
        } else {
            Reason::OutputFailed
        };
        Failed::new(reason, format!("{what} {}: {e}", path.display()))
    };
    let size = std::fs::metadata(input)
        .map_err(|e| io("cannot read", input, e))?
        .len();
    too_large(size, request.limits.max_input_bytes)?;
    let source = std::fs::read(input).map_err(|e| io("cannot read", input, e))?;
    let download_ms = ms(t);
    let thumb = thumbnail(&source, request)?;
    drop(source);
    let t = Instant::now();
    std::fs::write(output, &thumb.bytes).map_err(|e| io("cannot write", output, e))?;
    Ok(success(
        ObjectLocation {
            bucket: String::new(),
            key: output.display().to_string(),
        },
        &thumb,
        download_ms,
        ms(t),
    ))
}

fn too_large(size: u64, max: u64) -> Result<()> {
    if size > max {
        return Err(Failed::new(
            Reason::SourceTooLarge,
            format!("the source is {size} bytes, over the limit of {max} bytes; upload a smaller file or raise the limit (RESIZER_MAX_INPUT_BYTES)"),
        ));
    }
    Ok(())
}

async fn run_s3(cli: &Cli, request: &Request) -> Result<Success> {
    let client = client(cli).await?;
    let t = Instant::now();
    let source = download(&client, &request.source, request.limits.max_input_bytes).await?;
    let download_ms = ms(t);
    let thumb = thumbnail(&source, request)?;
    drop(source);
    let t = Instant::now();
    upload(&client, request, &thumb).await?;
    Ok(success(request.output.clone(), &thumb, download_ms, ms(t)))
}

/// The run's S3 client.
pub(crate) async fn client(cli: &Cli) -> Result<aws_sdk_s3::Client> {
    store::one_run_client(&cli.store)
        .await
        .map_err(|e| Failed::new(Reason::AccessDenied, e.to_string()))
}

/// What to tell the user about a failed S3 call on `what` (e.g. "reading s3://b/k"):
/// `detail` is one short line ([`store::short_detail`]); the full error goes to the
/// run's log.
fn store_failure(class: ErrorClass, what: &str, detail: impl std::fmt::Display) -> Failed {
    match class {
        ErrorClass::NotFound => Failed::new(
            Reason::SourceNotFound,
            format!("{what}: no such bucket or key ({detail}); upload the image first or fix spec.source"),
        ),
        ErrorClass::AccessDenied => Failed::new(
            Reason::AccessDenied,
            format!("{what}: the store refused the credentials or permission ({detail}); check the S3 credentials secret and bucket policy"),
        ),
        ErrorClass::Unavailable => Failed::new(
            Reason::StoreUnavailable,
            // True on every attempt, the last included: the Job retries transient
            // failures up to its backoff limit, then the run fails with this message.
            format!("{what}: the object store is unreachable or failing ({detail}); check S3_ENDPOINT and the store's health (runs are retried with backoff up to the Job's limit)"),
        ),
        ErrorClass::Rejected => Failed::new(Reason::StoreRejected, format!("{what}: the store rejected the request ({detail})")),
    }
}

/// [`store_failure`] for an S3 call's error: the short line for the result, the whole
/// error chain for the log.
fn s3_failure<E>(
    class: ErrorClass,
    what: &str,
    e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> Failed
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    eprintln!("resizer: {what}: {}", DisplayErrorContext(e));
    store_failure(class, what, store::short_detail(e))
}

/// Streams the source with a size cap: an object over the cap fails before (by its
/// Content-Length) or while (if the length lies) reading, never buffering more.
pub(crate) async fn download(
    client: &aws_sdk_s3::Client,
    loc: &ObjectLocation,
    max: u64,
) -> Result<Vec<u8>> {
    let what = format!("reading s3://{}/{}", loc.bucket, loc.key);
    let out = client
        .get_object()
        .bucket(&loc.bucket)
        .key(&loc.key)
        .send()
        .await
        .map_err(|e| s3_failure(store::classify(&e), &what, &e))?;
    let declared = out.content_length().unwrap_or(0).max(0) as u64;
    too_large(declared, max)?;
    let mut body = out.body;
    let mut bytes = Vec::with_capacity(declared as usize);
    while let Some(chunk) = body
        .try_next()
        .await
        .map_err(|e| store_failure(ErrorClass::Unavailable, &what, DisplayErrorContext(&e)))?
    {
        too_large((bytes.len() + chunk.len()) as u64, max)?;
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

pub(crate) async fn upload(
    client: &aws_sdk_s3::Client,
    request: &Request,
    thumb: &Thumbnail,
) -> Result<()> {
    let loc = &request.output;
    let what = format!("writing s3://{}/{}", loc.bucket, loc.key);
    client
        .put_object()
        .bucket(&loc.bucket)
        .key(&loc.key)
        .content_type(thumb.format.content_type())
        .cache_control(CACHE_CONTROL)
        // Metadata travels in HTTP headers: ASCII only, so the key is percent-encoded.
        .metadata("source-bucket", percent_encode(&request.source.bucket))
        .metadata("source-key", percent_encode(&request.source.key))
        .metadata("width", thumb.width.to_string())
        .metadata("height", thumb.height.to_string())
        .body(ByteStream::from(thumb.bytes.clone()))
        .send()
        .await
        .map_err(|e| {
            let class = store::classify(&e);
            // A missing *output* bucket is the operator's configuration, not the source.
            let class = if class == ErrorClass::NotFound {
                ErrorClass::Rejected
            } else {
                class
            };
            s3_failure(class, &what, &e)
        })?;
    Ok(())
}

/// Writes the result where the platform reads it (and never fails the run for it: the
/// exit code still carries the outcome).
pub fn write_result(path: &std::path::Path, result: &RunResult) {
    write_json(path, &result.to_json())
}

/// [`write_result`] for any result's JSON (a batch's too).
pub fn write_json(path: &std::path::Path, json: &str) {
    if let Err(e) = std::fs::write(path, json) {
        eprintln!("resizer: cannot write the result to {}: {e} (set --result-path or RESIZER_RESULT_PATH)", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_cap() {
        assert!(too_large(10, 10).is_ok());
        assert_eq!(
            too_large(11, 10).unwrap_err().reason,
            Reason::SourceTooLarge
        );
    }
}
