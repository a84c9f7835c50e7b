//! What every handler shares: settings, the Kubernetes API, the store, the metrics.

use std::sync::Arc;
use std::time::Duration;

use kube::Api;
use thumbnail_api::crd::Thumbnail;

use crate::auth::Tokens;
use crate::metrics::Metrics;
use crate::store::Store;

/// Settings of a running shim (from [`crate::config::Config`], or built by tests).
#[derive(Debug, Clone)]
pub struct Settings {
    pub namespace: String,
    /// Base URL of every link; `None`: the URL each request came in at (see
    /// [`crate::base_url`]).
    pub public_base_url: Option<String>,
    pub max_upload_bytes: u64,
    pub presigned_downloads: bool,
    pub presign_ttl: Duration,
    /// Accepted bearer tokens; `None` leaves the API open (`--allow-anonymous`, or
    /// a loopback-only listener).
    pub tokens: Option<Arc<Tokens>>,
    pub request_timeout: Duration,
    pub upload_timeout: Duration,
    /// Requests served at once (probes and metrics not counted); more get 503.
    pub max_concurrent_requests: usize,
    /// Time a client has to send a request's header before it is disconnected.
    pub header_read_timeout: Duration,
    /// Event streams open at once; more get 503.
    pub max_event_streams: usize,
    /// Heartbeat interval of an idle event stream.
    pub event_heartbeat: Duration,
}

impl Settings {
    /// Defaults for a shim in `namespace` answering at `public_base_url` (empty: at the
    /// URL each request used).
    pub fn new(namespace: &str, public_base_url: &str) -> Settings {
        let base = public_base_url.trim().trim_end_matches('/');
        Settings {
            namespace: namespace.into(),
            public_base_url: (!base.is_empty()).then(|| base.to_string()),
            max_upload_bytes: crate::config::DEFAULT_MAX_UPLOAD_BYTES,
            presigned_downloads: false,
            presign_ttl: Duration::from_secs(300),
            tokens: None,
            request_timeout: Duration::from_secs(30),
            upload_timeout: Duration::from_secs(300),
            max_concurrent_requests: 64,
            header_read_timeout: Duration::from_secs(10),
            max_event_streams: 32,
            event_heartbeat: Duration::from_secs(15),
        }
    }
}

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub settings: Settings,
    pub thumbnails: Api<Thumbnail>,
    pub store: Store,
    pub metrics: Metrics,
    /// Permits of the requests being served (see [`crate::app`]'s concurrency limit).
    pub in_flight: Arc<tokio::sync::Semaphore>,
    /// Permits of the open event streams (see [`crate::routes::events`]).
    pub event_streams: Arc<tokio::sync::Semaphore>,
    /// Cancelled when the shim stops: ends the event streams.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// When /readyz last logged a failing store check at WARN (see
    /// [`crate::routes::health::WarnThrottle`]).
    pub store_warnings: crate::routes::health::WarnThrottle,
}

impl AppState {
    pub fn new(settings: Settings, client: kube::Client, store: Store) -> AppState {
        AppState(Arc::new(Inner {
            in_flight: Arc::new(tokio::sync::Semaphore::new(
                settings.max_concurrent_requests,
            )),
            event_streams: Arc::new(tokio::sync::Semaphore::new(settings.max_event_streams)),
            shutdown: tokio_util::sync::CancellationToken::new(),
            store_warnings: crate::routes::health::WarnThrottle::new(
                crate::routes::health::STORE_WARN_EVERY,
            ),
            thumbnails: Api::namespaced(client, &settings.namespace),
            settings,
            store,
            metrics: Metrics::new(),
        }))
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
