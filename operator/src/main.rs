//! thumbnail-operator: reconciles Thumbnail resources into resizer runs.

use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{Api, Client, CustomResourceExt as _};
use prometheus_client::registry::Registry;
use std::io::IsTerminal;
use thumbnail_operator::config::Config;
use thumbnail_operator::executor;
use thumbnail_operator::metrics::Metrics;
use thumbnail_operator::objects::ObjectStore;
use thumbnail_operator::{controller, server};

use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,kube=warn"));
    if config.log_json {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init();
    } else {
        // Colour only on a terminal: container logs are files, where escape codes are noise.
        tracing_subscriber::fmt()
            .with_ansi(std::io::stdout().is_terminal())
            .with_env_filter(filter)
            .init();
    }

    let client = Client::try_default()
        .await
        .context("no Kubernetes API to talk to: set KUBECONFIG or run in a cluster")?;
    ensure_crd_installed(&client).await?;

    let objects = ObjectStore::from_env(&config).context("configuring the object store")?;
    let executor = executor::from_config(client.clone(), &config)?;

    let metrics = Metrics::default();
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let http = tokio::spawn(server::serve(
        config.metrics_addr,
        Arc::new(registry),
        async {
            let _ = stop_rx.await;
        },
    ));
    tracing::info!(executor = ?config.executor, namespace = %config.namespace, metrics = %config.metrics_addr, "thumbnail-operator starting");

    controller::run(client, config, executor, objects, metrics).await;
    tracing::info!("shut down: no new runs are started; running ones finish on their own");
    let _ = stop_tx.send(());
    http.await??;
    Ok(())
}

/// Fails with instructions instead of watching a resource the API server does not know.
async fn ensure_crd_installed(client: &Client) -> anyhow::Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    match crds.get_opt(thumbnail_api::Thumbnail::crd_name()).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => anyhow::bail!(
            "the Thumbnail CRD is not installed: kubectl apply --server-side -f crds/ (or install the Helm chart)"
        ),
        // Without permission to read CRDs (a least-privilege install) the watch itself tells.
        Err(kube::Error::Api(s)) if s.code == 403 => Ok(()),
        Err(e) => Err(e).context("checking that the Thumbnail CRD is installed"),
    }
}
