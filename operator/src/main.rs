//! thumbnail-operator: reconciles Thumbnail resources into resizer runs.

use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::client::ClientBuilder;
use kube::{Api, Client, CustomResourceExt as _};
use prometheus_client::registry::Registry;
use std::io::IsTerminal;
use thumbnail_operator::config::{Command, Config};
use thumbnail_operator::executor;
use thumbnail_operator::leader::{Candidate, LeaseSettings};
use thumbnail_operator::metrics::{CountApiRequests, Metrics};
use thumbnail_operator::objects::ObjectStore;
use thumbnail_operator::{controller, drain, server};

use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    if let Err(message) = config.check() {
        anyhow::bail!(message);
    }
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

    let metrics = Metrics::default();
    let kube_config = kube::Config::infer()
        .await
        .context("no Kubernetes API to talk to: set KUBECONFIG or run in a cluster")?;
    // kube's default stack, with every request counted (thumbnail_kube_api_requests_total).
    let client = ClientBuilder::try_from(kube_config)
        .context("building the Kubernetes client")?
        .with_layer(&CountApiRequests::new(&metrics))
        .build();
    if let Some(Command::Drain(args)) = &config.command {
        let timeout = std::time::Duration::from_secs(args.timeout_seconds);
        drain::drain(client, &config.namespace, timeout).await?;
        return Ok(());
    }
    ensure_crd_installed(&client).await?;

    let objects = ObjectStore::from_env(&config).context("configuring the object store")?;

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
    tracing::info!(executor = ?config.executor, namespace = %config.namespace, metrics = %config.metrics_addr, leader_election = config.leader_election(), "thumbnail-operator starting");

    // Followers serve /healthz and /metrics (thumbnail_leader 0) and wait here; only
    // the holder of the Lease goes on to reconcile.
    let candidate = if config.leader_election() {
        let settings = LeaseSettings::from_config(&config, client.default_namespace())?;
        let mut candidate = Candidate::start(client.clone(), settings.clone()).await?;
        tracing::info!(lease = %settings.name, namespace = %settings.namespace, identity = %settings.identity, "waiting for the leader Lease");
        tokio::select! {
            elected = candidate.elected() => elected?,
            () = shutdown_signal() => {
                tracing::info!("shut down while following");
                candidate.resign().await;
                let _ = stop_tx.send(());
                return http.await?.map_err(Into::into);
            }
        }
        tracing::info!(lease = %settings.name, identity = %settings.identity, "leading: this replica reconciles");
        Some(candidate)
    } else {
        None
    };
    metrics.leader.set(1);

    let executor = executor::from_config(client.clone(), &config)?;
    let controller = controller::run(client, config, executor, objects, metrics.clone());
    match candidate {
        None => controller.await,
        Some(mut candidate) => {
            tokio::select! {
                () = controller => {
                    metrics.leader.set(0);
                    candidate.resign().await;
                }
                why = candidate.lost() => {
                    // Another replica may lead from now on: stop everything at once (no
                    // reconcile finishes, no Job is launched); Kubernetes restarts this
                    // container, which then waits as a follower.
                    metrics.leader.set(0);
                    tracing::error!(reason = %why, "lost the leader Lease: exiting so that only the new leader reconciles");
                    std::process::exit(LOST_LEADERSHIP_EXIT);
                }
            }
        }
    }
    tracing::info!("shut down: no new runs are started; running ones finish on their own");
    let _ = stop_tx.send(());
    http.await??;
    Ok(())
}

/// Exit status after losing the Lease (distinct from a start-up failure's 1).
const LOST_LEADERSHIP_EXIT: i32 = 3;

/// SIGTERM (the kubelet stopping the pod) or Ctrl-C: what kube's controller stops on.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
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
