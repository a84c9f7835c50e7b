//! Where the S3-compatible store is and how to address it: the settings every component
//! reads (flags or environment) and that the operator hands to each resizer run as
//! environment variables. Part of the resizer's contract, so it lives here; the client
//! built from it is the `store` crate's.

use serde::{Deserialize, Serialize};

/// Credential variables read from the environment. A Job takes them from a Secret;
/// they are never passed on command lines.
pub const ENV_ACCESS_KEY: &str = "AWS_ACCESS_KEY_ID";
pub const ENV_SECRET_KEY: &str = "AWS_SECRET_ACCESS_KEY";
pub const ENV_SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
/// The variables that carry secrets (for a Job: `secretKeyRef`s).
pub const SECRET_ENV: &[&str] = &[ENV_ACCESS_KEY, ENV_SECRET_KEY];

/// When the SDK computes and checks payload checksums.
///
/// Checksums default to "only when required": the SDK's newer default (CRC32 on every
/// upload, validated on every download) breaks Garage, older MinIO, Ceph and other
/// S3-compatible stores, while AWS S3 accepts either.
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
}
