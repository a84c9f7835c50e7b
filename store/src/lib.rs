//! How every component talks to the S3-compatible store: one client constructor (from
//! the [`StoreConfig`] every component reads), one classification of S3 errors, and
//! the one delete that cleanup paths share. Used by the resizer, the operator and the
//! REST shim alike.
//!
//! A crate of its own rather than a module of `api`: `api` holds types and pure
//! functions every component shares, and pulling the AWS SDK and its HTTP stack into
//! it would make the resource types cost a full S3 client to anyone who only reads
//! them. The settings themselves ([`StoreConfig`], the `S3_*` variables) are part of
//! the resizer's contract and stay in `api`.

use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::DisplayErrorContext;
pub use thumbnail_api::store_config::{ChecksumMode, StoreConfig};
use thumbnail_api::store_config::{ENV_ACCESS_KEY, ENV_SECRET_KEY, ENV_SESSION_TOKEN};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no S3 credentials: set {ENV_ACCESS_KEY} and {ENV_SECRET_KEY}")]
    MissingCredentials,
    #[error("deleting s3://{bucket}/{key}: {detail}")]
    Delete {
        bucket: String,
        key: String,
        detail: String,
        /// What kind of failure: whether retrying can help.
        class: ErrorClass,
        /// One short line for users ([`short_detail`]).
        short: String,
    },
}

impl StoreError {
    /// Whether retrying can help: the store did not answer (or is overloaded), as
    /// opposed to a refusal that will be repeated (access denied, a bad request).
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::MissingCredentials => false,
            StoreError::Delete { class, .. } => *class == ErrorClass::Unavailable,
        }
    }
}

/// A client for `config` with credentials from the environment (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, optional `AWS_SESSION_TOKEN`). Async so that other credential
/// sources (web identity, instance metadata) can be added without changing callers.
pub async fn client(config: &StoreConfig) -> Result<aws_sdk_s3::Client, StoreError> {
    client_from_env(config)
}

/// [`client`] for a process that makes one run and exits (the resizer): over plain HTTP
/// it skips loading the system's root certificates, most of a run's fixed cost
/// ([`client_without_root_certificates`]). Long-running components (shim, operator) keep
/// the SDK's default client: the saving is once per process for them, not worth a second
/// HTTP client to keep right.
pub async fn one_run_client(config: &StoreConfig) -> Result<aws_sdk_s3::Client, StoreError> {
    let mut builder = config_builder(config, env_credentials()?);
    if !config.endpoint.is_empty() && is_plain_http(&config.endpoint) {
        builder = builder.http_client(client_without_root_certificates());
    }
    Ok(aws_sdk_s3::Client::from_conf(builder.build()))
}

fn env_credentials() -> Result<Credentials, StoreError> {
    let key = std::env::var(ENV_ACCESS_KEY).map_err(|_| StoreError::MissingCredentials)?;
    let secret = std::env::var(ENV_SECRET_KEY).map_err(|_| StoreError::MissingCredentials)?;
    let token = std::env::var(ENV_SESSION_TOKEN).ok();
    Ok(Credentials::new(key, secret, token, None, "environment"))
}

/// A client with credentials from the environment (`AWS_ACCESS_KEY_ID`, ...).
pub fn client_from_env(config: &StoreConfig) -> Result<aws_sdk_s3::Client, StoreError> {
    Ok(with_credentials(config, env_credentials()?))
}

/// A client with the given credentials.
pub fn with_credentials(config: &StoreConfig, credentials: Credentials) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(config_builder(config, credentials).build())
}

/// The SDK's configuration for `config`: region, endpoint, path style, checksums and
/// timeouts.
fn config_builder(config: &StoreConfig, credentials: Credentials) -> aws_sdk_s3::config::Builder {
    let (request, response) = match config.checksums {
        ChecksumMode::WhenRequired => (
            RequestChecksumCalculation::WhenRequired,
            ResponseChecksumValidation::WhenRequired,
        ),
        ChecksumMode::WhenSupported => (
            RequestChecksumCalculation::WhenSupported,
            ResponseChecksumValidation::WhenSupported,
        ),
    };
    // Fail fast on an unreachable store (a Job retries with backoff anyway) instead of
    // hanging until the Job's deadline.
    let timeouts = aws_sdk_s3::config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .operation_attempt_timeout(std::time::Duration::from_secs(60))
        .build();
    let mut builder = aws_sdk_s3::Config::builder()
        .timeout_config(timeouts)
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(config.region.clone()))
        .force_path_style(config.path_style)
        .credentials_provider(credentials)
        .request_checksum_calculation(request)
        .response_checksum_validation(response);
    if !config.endpoint.is_empty() {
        builder = builder.endpoint_url(&config.endpoint);
    }
    builder
}

fn is_plain_http(endpoint: &str) -> bool {
    endpoint
        .get(..7)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"))
}

/// The SDK's default HTTP client with an empty trust store, for an endpoint over plain
/// HTTP (the bundled store, a store in the cluster): the default client loads every root
/// certificate of the system (on Debian, ~150 files of /etc/ssl/certs) before the first
/// request whatever the scheme, which was most of the fixed cost of a resizer run
/// (bench/startup.sh). HTTPS endpoints keep the default client and its roots.
fn client_without_root_certificates() -> aws_sdk_s3::config::SharedHttpClient {
    use aws_smithy_http_client::tls;
    let context = tls::TlsContext::builder()
        .with_trust_store(tls::TrustStore::empty())
        .build()
        .expect("a TLS context of an empty trust store");
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(context)
        .build_https()
}

/// What kind of failure an S3 call ended in, for callers that must decide between
/// "tell the user" and "retry".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// NoSuchKey, NoSuchBucket, 404.
    NotFound,
    /// Wrong credentials or missing permission (403, InvalidAccessKeyId, SignatureDoesNotMatch).
    AccessDenied,
    /// Connection refused, DNS, timeouts, throttling, 5xx: retrying may help.
    Unavailable,
    /// Any other answer from the store (4xx): retrying the same request will not help.
    Rejected,
}

/// Classifies any S3 operation's error.
pub fn classify<E>(
    err: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> ErrorClass
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    use aws_sdk_s3::error::SdkError;
    match err {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            ErrorClass::Unavailable
        }
        SdkError::ServiceError(e) => classify_code(e.err().code(), Some(e.raw().status().as_u16())),
        // Construction failures are configuration errors (e.g. an invalid endpoint URL).
        _ => ErrorClass::Rejected,
    }
}

/// The part of an S3 error a user can act on, in one short line: the store's error
/// code and HTTP status, or for a failure to reach it the innermost cause (e.g.
/// "Connection refused"). The SDK's full error chain runs to kilobytes of debug text:
/// it belongs in logs, not in a Thumbnail's status.
pub fn short_detail<E>(
    err: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_s3::error::SdkError;
    const MAX: usize = 160;
    let text = match err {
        SdkError::ServiceError(e) => {
            let status = e.raw().status().as_u16();
            match (e.err().code(), e.err().message()) {
                (Some(code), Some(message)) => format!("{code}: {message} (HTTP {status})"),
                (Some(code), None) => format!("{code} (HTTP {status})"),
                _ => format!("HTTP {status}"),
            }
        }
        SdkError::TimeoutError(_) => "timed out".to_string(),
        other => {
            let mut cause: &dyn std::error::Error = other;
            while let Some(next) = cause.source() {
                cause = next;
            }
            cause.to_string()
        }
    };
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// Classification from an S3 error code and/or HTTP status.
pub fn classify_code(code: Option<&str>, status: Option<u16>) -> ErrorClass {
    match code {
        Some("NoSuchKey" | "NoSuchBucket" | "NotFound") => return ErrorClass::NotFound,
        Some("AccessDenied" | "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "Forbidden") => {
            return ErrorClass::AccessDenied
        }
        Some("SlowDown" | "InternalError" | "ServiceUnavailable" | "RequestTimeout") => {
            return ErrorClass::Unavailable
        }
        _ => {}
    }
    match status {
        Some(404) => ErrorClass::NotFound,
        Some(401 | 403) => ErrorClass::AccessDenied,
        Some(408 | 429) => ErrorClass::Unavailable,
        Some(s) if s >= 500 => ErrorClass::Unavailable,
        None => ErrorClass::Unavailable,
        _ => ErrorClass::Rejected,
    }
}

/// Deletes `bucket`/`key`. Deleting what is not there succeeds, so a repeated cleanup
/// is harmless: S3 answers a missing key with success, and a missing bucket (the store
/// was reset, or the bucket was removed with its objects) means the object is already
/// gone as well, so `NoSuchBucket` counts as success too.
pub async fn delete_object(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<(), StoreError> {
    match client.delete_object().bucket(bucket).key(key).send().await {
        Ok(_) => Ok(()),
        Err(e) if classify(&e) == ErrorClass::NotFound => Ok(()),
        Err(e) => Err(StoreError::Delete {
            bucket: bucket.into(),
            key: key.into(),
            detail: DisplayErrorContext(&e).to_string(),
            class: classify(&e),
            short: short_detail(&e),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_endpoints_skip_the_root_certificates() {
        assert!(is_plain_http("http://127.0.0.1:9000"));
        assert!(is_plain_http("HTTP://store.svc:8333"));
        assert!(!is_plain_http("https://s3.amazonaws.com"));
        assert!(!is_plain_http("http"));
        assert!(!is_plain_http(""));
    }

    #[test]
    fn errors_are_classified_by_code_then_status() {
        assert_eq!(
            classify_code(Some("NoSuchKey"), Some(404)),
            ErrorClass::NotFound
        );
        assert_eq!(
            classify_code(Some("NoSuchBucket"), Some(404)),
            ErrorClass::NotFound
        );
        assert_eq!(classify_code(None, Some(404)), ErrorClass::NotFound); // HEAD has no body
        assert_eq!(
            classify_code(Some("SignatureDoesNotMatch"), Some(403)),
            ErrorClass::AccessDenied
        );
        assert_eq!(
            classify_code(Some("InternalError"), Some(500)),
            ErrorClass::Unavailable
        );
        assert_eq!(
            classify_code(Some("SlowDown"), Some(503)),
            ErrorClass::Unavailable
        );
        assert_eq!(
            classify_code(Some("InvalidBucketName"), Some(400)),
            ErrorClass::Rejected
        );
    }
}
