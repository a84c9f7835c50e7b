//! `thumbnail-operator drain`: deletes every Thumbnail the operator watches and waits
//! until the running operator has finished them (removed its finalizer, and with it
//! their stored objects).
//!
//! The Helm chart runs it as a pre-delete hook: `helm uninstall` removes the operator's
//! Deployment, and a Thumbnail left behind then keeps its finalizer forever, holding its
//! namespace in Terminating and its objects in the store. Draining first, while the
//! operator still runs, leaves nothing behind. Thumbnails created while it drains (the
//! shim still answers uploads) are deleted too.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt as _;
use kube::api::{Api, DeleteParams};
use kube::runtime::watcher::{self, Event};
use kube::{Client, ResourceExt as _};
use thumbnail_api::crd::Thumbnail;

/// Flags of the `drain` subcommand.
#[derive(Clone, Debug, clap::Args)]
pub struct DrainArgs {
    /// How long to wait for the operator to finish the deleted Thumbnails, in seconds;
    /// then give up with a non-zero exit.
    #[arg(long, env = "DRAIN_TIMEOUT_SECONDS", default_value_t = 120)]
    pub timeout_seconds: u64,
}

/// How often the wait logs what it still waits for.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// Deletes every Thumbnail in `namespace` (all namespaces when empty) and waits until
/// none is left, for at most `timeout`. Returns how many were deleted.
pub async fn drain(client: Client, namespace: &str, timeout: Duration) -> anyhow::Result<usize> {
    let all: Api<Thumbnail> = if namespace.is_empty() {
        Api::all(client.clone())
    } else {
        Api::namespaced(client.clone(), namespace)
    };
    let where_ = if namespace.is_empty() {
        "every namespace".to_string()
    } else {
        format!("namespace {namespace}")
    };
    let mut remaining: BTreeSet<(String, String)> = BTreeSet::new();
    let mut deleted = 0usize;
    let mut initialised = false;
    let mut stream = watcher::watcher(all, watcher::Config::default()).boxed();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut progress = tokio::time::interval(PROGRESS_EVERY);
    progress.tick().await;
    tracing::info!(scope = %where_, timeout_s = timeout.as_secs(), "draining: deleting every Thumbnail, waiting for the operator to finish them");
    loop {
        let event = tokio::select! {
            e = stream.next() => e,
            () = tokio::time::sleep_until(deadline) => {
                let names: Vec<String> = remaining.iter().map(|(ns, n)| format!("{ns}/{n}")).collect();
                anyhow::bail!(
                    "{} Thumbnail(s) in {where_} still exist after {} s: {}. Their finalizer is \
                     removed by the operator once it has deleted their stored objects: is the \
                     operator running (kubectl get pods -l app.kubernetes.io/component=operator)? \
                     Fix it and retry, or uninstall with --no-hooks and remove the finalizers by \
                     hand (their objects then stay in the store)",
                    names.len(),
                    timeout.as_secs(),
                    names.join(", ")
                );
            }
            _ = progress.tick() => {
                if initialised {
                    let names: Vec<String> = remaining.iter().take(10).map(|(ns, n)| format!("{ns}/{n}")).collect();
                    tracing::info!(left = remaining.len(), waiting_for = ?names, "waiting for the operator to finish deleted Thumbnails");
                }
                continue;
            }
        };
        let event = event
            .context("the Thumbnail watch ended")?
            .with_context(|| format!("watching Thumbnails in {where_}"));
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                // The watcher retries by itself on the next poll; a permission error will
                // not go away, so say it (the deadline ends the wait).
                tracing::warn!(error = %format!("{e:#}"), "watching Thumbnails failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        match event {
            // A (re)list starts: what it lists is what remains.
            Event::Init => {
                remaining.clear();
                initialised = false;
            }
            Event::InitApply(t) | Event::Apply(t) => {
                let key = (t.namespace().unwrap_or_default(), t.name_any());
                if t.metadata.deletion_timestamp.is_none() {
                    delete(&client, &key).await?;
                    deleted += 1;
                    tracing::info!(thumbnail = %format!("{}/{}", key.0, key.1), "deleted");
                }
                remaining.insert(key);
            }
            Event::Delete(t) => {
                let key = (t.namespace().unwrap_or_default(), t.name_any());
                if remaining.remove(&key) {
                    tracing::info!(thumbnail = %format!("{}/{}", key.0, key.1), left = remaining.len(), "gone");
                }
            }
            Event::InitDone => initialised = true,
        }
        if initialised && remaining.is_empty() {
            tracing::info!(deleted, scope = %where_, "drained: no Thumbnail left");
            return Ok(deleted);
        }
    }
}

async fn delete(client: &Client, (ns, name): &(String, String)) -> anyhow::Result<()> {
    let api: Api<Thumbnail> = Api::namespaced(client.clone(), ns);
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        // Deleted meanwhile (by a user, or it was just finished).
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e).with_context(|| format!("deleting Thumbnail {ns}/{name}")),
    }
}
