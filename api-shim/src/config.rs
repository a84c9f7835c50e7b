//! Command-line flags, each also settable through an environment variable (the Helm
//! chart sets environment variables; a developer types flags).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// Default upload limit: large camera JPEGs and PNG screenshots fit, decompression-bomb
/// sized uploads do not.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 32 * 1024 * 1024;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "api-shim",
    version,
    about = "REST API for thumbnails: uploads become Thumbnail resources; status, list, download, OpenAPI"
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "SHIM_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,

    /// Namespace the shim creates and reads Thumbnails in (defaults to the pod's own).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub namespace: String,

    /// Base URL clients reach the shim at; hypermedia links and Location headers are
    /// built from it (e.g. https://thumbs.example.com). Empty: from each request (its
    /// Host, or X-Forwarded-Host and X-Forwarded-Proto when valid).
    #[arg(long, env = "SHIM_PUBLIC_BASE_URL", default_value = "")]
    pub public_base_url: String,

    /// Bucket uploads are stored in (originals/<namespace>/<id>); also checked by
    /// /readyz. The operator must know it too (its --uploads-bucket): it deletes an
    /// original only at that exact location.
    #[arg(long, env = "SHIM_BUCKET", default_value = "thumbnails")]
    pub bucket: String,

    /// Largest accepted upload in bytes; larger ones get 413 and nothing is kept.
    #[arg(long, env = "SHIM_MAX_UPLOAD_BYTES", default_value_t = DEFAULT_MAX_UPLOAD_BYTES)]
    pub max_upload_bytes: u64,

    /// Answer downloads with a redirect (307) to a presigned URL of the object
    /// instead of streaming the bytes through the shim.
    #[arg(long, env = "SHIM_PRESIGNED_DOWNLOADS", default_value_t = false)]
    pub presigned_downloads: bool,

    /// How long a presigned download URL stays valid, in seconds.
    #[arg(long, env = "SHIM_PRESIGN_TTL_SECONDS", default_value_t = 300)]
    pub presign_ttl_seconds: u64,

    /// File with accepted bearer tokens, one per line (blank lines and #comments are
    /// ignored), re-read whenever it changes. Probes, metrics and docs need no token.
    #[arg(long, env = "SHIM_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,

    /// Serve the thumbnail routes without a token. Needed to start without
    /// --token-file unless --listen is a loopback address: an API reachable from
    /// other machines is never open by accident.
    #[arg(long, env = "SHIM_ALLOW_ANONYMOUS", default_value_t = false)]
    pub allow_anonymous: bool,

    /// Requests served at once; more get 503 `overloaded` at once instead of queueing
    /// (probes and metrics are not counted).
    #[arg(long, env = "SHIM_MAX_CONCURRENT_REQUESTS", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_requests: u32,

    /// Event streams (GET /api/v1/thumbnails/events) open at once; more get 503
    /// `overloaded`. Streams are not counted in --max-concurrent-requests: they stay open.
    #[arg(long, env = "SHIM_MAX_EVENT_STREAMS", default_value_t = 32,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_event_streams: u32,

    /// Seconds between heartbeats on an idle event stream (also how often a stream's
    /// token is checked again).
    #[arg(long, env = "SHIM_EVENT_HEARTBEAT_SECONDS", default_value_t = 15,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub event_heartbeat_seconds: u64,

    /// Time a client has to send a request's complete header, in seconds; a slower
    /// one is disconnected (a connection that trickles its header in would otherwise be
    /// held forever).
    #[arg(long, env = "SHIM_HEADER_READ_TIMEOUT_SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout_seconds: u64,

    /// Time limit for a request other than an upload, in seconds.
    #[arg(long, env = "SHIM_REQUEST_TIMEOUT_SECONDS", default_value_t = 30)]
    pub request_timeout_seconds: u64,

    /// Time limit for an upload, in seconds (slow clients with big files need more).
    #[arg(long, env = "SHIM_UPLOAD_TIMEOUT_SECONDS", default_value_t = 300)]
    pub upload_timeout_seconds: u64,

    /// Log format: text for people, json for log collectors.
    #[arg(long, env = "SHIM_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Object store (endpoint, region, path-style, checksums), shared with the
    /// resizer and the operator; credentials come from AWS_ACCESS_KEY_ID and
    /// AWS_SECRET_ACCESS_KEY.
    #[command(flatten)]
    pub store: thumbnail_api::store_config::StoreConfig,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl Config {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_seconds)
    }

    pub fn upload_timeout(&self) -> Duration {
        Duration::from_secs(self.upload_timeout_seconds)
    }

    pub fn presign_ttl(&self) -> Duration {
        Duration::from_secs(self.presign_ttl_seconds)
    }

    pub fn event_heartbeat(&self) -> Duration {
        Duration::from_secs(self.event_heartbeat_seconds)
    }

    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_seconds)
    }
}
