//! How every component talks to the S3-compatible store: one configuration (flags or
//! environment) and one client constructor, used by the resizer, the operator and the
//! REST shim alike.
//!
//! Checksums default to "only when required": the SDK's newer default (CRC32 on every
//! upload, validated on every download) breaks Garage, older MinIO, Ceph and other
//! S3-compatible stores, while AWS S3 accepts either.

use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use serde::{Deserialize, Serialize};

/// Credential variables read from the environment. A Job takes them from a Secret;
/// they are never passed on command lines.
pub const ENV_ACCESS_KEY: &str = "AWS_ACCESS_KEY_ID";
pub const ENV_SECRET_KEY: &str = "AWS_SECRET_ACCESS_KEY";
pub const ENV_SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
/// The variables that carry secrets (for a Job: `secretKeyRef`s).
pub const SECRET_ENV: &[&str] = &[ENV_ACCESS_KEY, ENV_SECRET_KEY];

/// When the SDK computes and checks payload checksums.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ChecksumMode {
    /// Only for operations that require one: works with every S3-compatible store.
    #[default]
    WhenRequired,
    /// Whenever the operation supports one (the SDK's default; AWS S3 and recent stores).
    WhenSupported,
}

/// Where the store is and how to address it. Credentials come from the environment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, clap::Args)]
pub struct StoreConfig {
    /// Endpoint URL of an S3-compatible store, e.g. http://seaweedfs:8333. Empty: AWS S3.
    #[arg(long = "s3-endpoint", env = "S3_ENDPOINT", default_value = "")]
    pub endpoint: String,

    /// Region to sign requests for.
    #[arg(long = "s3-region", env = "S3_REGION", default_value = "us-east-1")]
    pub region: String,

    /// Address buckets as a path (http://host/bucket/key), as most S3-compatible stores
    /// need; false uses virtual-hosted style (http://bucket.host/key).
    #[arg(long = "s3-path-style", env = "S3_PATH_STYLE", default_value_t = true, action = clap::ArgAction::Set)]
    pub path_style: bool,

    /// Payload checksums: when-required (default, works everywhere) or when-supported.
    #[arg(
        long = "s3-checksums",
        env = "S3_CHECKSUMS",
        value_enum,
        default_value = "when-required"
    )]
    pub checksums: ChecksumMode,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            endpoint: String::new(),
            region: "us-east-1".into(),
            path_style: true,
            checksums: ChecksumMode::WhenRequired,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no S3 credentials: set {ENV_ACCESS_KEY} and {ENV_SECRET_KEY}")]
    MissingCredentials,
}

/// A client for `config` with credentials from the environment (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, optional `AWS_SESSION_TOKEN`). Async so that other credential
/// sources (web identity, instance metadata) can be added without changing callers.
pub async fn client(config: &StoreConfig) -> Result<aws_sdk_s3::Client, StoreError> {
    config.client_from_env()
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

impl StoreConfig {
    /// The same configuration as environment variables (how a Job's container and a
    /// local run receive it), matching the `env` names of the flags above.
    pub fn to_env(&self) -> Vec<(String, String)> {
        let checksums = match self.checksums {
            ChecksumMode::WhenRequired => "when-required",
            ChecksumMode::WhenSupported => "when-supported",
        };
        vec![
            ("S3_ENDPOINT".into(), self.endpoint.clone()),
            ("S3_REGION".into(), self.region.clone()),
            ("S3_PATH_STYLE".into(), self.path_style.to_string()),
            ("S3_CHECKSUMS".into(), checksums.into()),
        ]
    }

    /// A client with credentials from the environment (`AWS_ACCESS_KEY_ID`, ...).
    pub fn client_from_env(&self) -> Result<aws_sdk_s3::Client, StoreError> {
        let key = std::env::var(ENV_ACCESS_KEY).map_err(|_| StoreError::MissingCredentials)?;
        let secret = std::env::var(ENV_SECRET_KEY).map_err(|_| StoreError::MissingCredentials)?;
        let token = std::env::var(ENV_SESSION_TOKEN).ok();
        Ok(self.client(Credentials::new(key, secret, token, None, "environment")))
    }

    /// A client with the given credentials.
    pub fn client(&self, credentials: Credentials) -> aws_sdk_s3::Client {
        let (request, response) = match self.checksums {
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
            .region(Region::new(self.region.clone()))
            .force_path_style(self.path_style)
            .credentials_provider(credentials)
            .request_checksum_calculation(request)
            .response_checksum_validation(response);
        if !self.endpoint.is_empty() {
            builder = builder.endpoint_url(&self.endpoint);
        }
        aws_sdk_s3::Client::from_conf(builder.build())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        store: StoreConfig,
    }

    #[test]
    fn env_rendering_parses_back_to_the_same_config() {
        let config = StoreConfig {
            endpoint: "http://127.0.0.1:9000".into(),
            region: "eu-west-3".into(),
            path_style: false,
            checksums: ChecksumMode::WhenSupported,
        };
        // clap reads the env names; render them as flags to check the same names round trip.
        let env = config.to_env();
        let mut args = vec!["x".to_string()];
        for (k, v) in env {
            let flag = match k.as_str() {
                "S3_ENDPOINT" => "--s3-endpoint",
                "S3_REGION" => "--s3-region",
                "S3_PATH_STYLE" => "--s3-path-style",
                "S3_CHECKSUMS" => "--s3-checksums",
                other => panic!("unexpected variable {other}"),
            };
            args.push(format!("{flag}={v}"));
        }
        assert_eq!(Cli::parse_from(args).store, config);
        assert_eq!(Cli::parse_from(["x"]).store, StoreConfig::default());
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
