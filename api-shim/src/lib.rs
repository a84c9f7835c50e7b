//! The REST shim of thumbnail-operator: uploads become `Thumbnail` resources; status,
//! list, download and an OpenAPI description over them. The binary (main.rs) only
//! parses configuration and calls [`run`]; tests build the router in-process with
//! [`app::router`].

pub mod app;
pub mod auth;
pub mod base_url;
pub mod config;
pub mod error;
pub mod metrics;
pub mod model;
pub mod openapi;
pub mod params;
pub mod request_id;
pub mod routes;
pub mod sniff;
pub mod state;
pub mod store;
pub mod swagger;
pub mod web;

use anyhow::Context as _;

use crate::config::{Config, LogFormat};
use crate::state::{AppState, Settings};

impl Config {
    /// The settings of a running shim, reading the token file if one is given. Without
    /// one, only a loopback listener or an explicit --allow-anonymous may serve.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let mut s = Settings::new(&self.namespace, &self.public_base_url);
        s.max_upload_bytes = self.max_upload_bytes;
        s.presigned_downloads = self.presigned_downloads;
        s.presign_ttl = self.presign_ttl();
        s.request_timeout = self.request_timeout();
        s.upload_timeout = self.upload_timeout();
        s.max_concurrent_requests = self.max_concurrent_requests as usize;
        s.header_read_timeout = self.header_read_timeout();
        s.max_event_streams = self.max_event_streams as usize;
        s.event_heartbeat = self.event_heartbeat();
        s.tokens = match &self.token_file {
            Some(path) => Some(std::sync::Arc::new(auth::Tokens::from_file(path)?)),
            None if self.allow_anonymous || self.listen.ip().is_loopback() => None,
            None => anyhow::bail!(
                "no --token-file (SHIM_TOKEN_FILE) while listening on {}: the API would be open \
                 to anyone who reaches it. Give a token file, listen on a loopback address, or \
                 pass --allow-anonymous (SHIM_ALLOW_ANONYMOUS=true) to serve it without tokens",
                self.listen
            ),
        };
        if s.tokens.is_none() {
            tracing::warn!(listen = %self.listen, "the thumbnail API accepts requests without a token");
        }
        Ok(s)
    }
}

/// Picks rustls' process-wide crypto provider. The kube client is built with ring and
/// the AWS SDK pulls in aws-lc-rs; with both present rustls refuses to guess, so the
/// binary and the tests choose ring explicitly (idempotent).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,tower_http=info".into());
    // Colour only on a terminal: container logs are files, where escape codes are noise.
    let builder = tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_env_filter(filter);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}

/// Runs the shim until SIGTERM or Ctrl-C, then finishes the requests in flight.
pub async fn run(config: Config) -> anyhow::Result<()> {
    install_crypto_provider();
    let settings = config.settings()?;
    // The in-cluster service account, or KUBECONFIG for a developer.
    let client = kube::Client::try_default()
        .await
        .context("connecting to the Kubernetes API (in-cluster config or KUBECONFIG)")?;
    let store = store::Store {
        client: thumbnail_store::client(&config.store).await?,
        bucket: config.bucket.clone(),
    };
    let state = AppState::new(settings, client, store);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    tracing::info!(listen = %config.listen, namespace = %config.namespace, bucket = %config.bucket, "api-shim serving");
    let header_read_timeout = state.settings.header_read_timeout;
    let streams = state.shutdown.clone();
    app::serve(
        listener,
        app::router(state),
        header_read_timeout,
        async move {
            shutdown_signal().await;
            // Event streams never end by themselves: end them, or the graceful stop
            // would wait for them forever.
            streams.cancel();
        },
    )
    .await?;
    tracing::info!("api-shim stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
