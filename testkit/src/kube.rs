//! The real CRD API server of the test run (hack/test.sh starts it): a client, the
//! CRD, a namespace per test, and kubectl as a user runs it.
//!
//! Tests never read `KUBECONFIG`: a developer's real cluster must not be touched by a
//! test run. They read `THUMBNAIL_TEST_KUBECONFIG`, and fail loudly when it is unset.

use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{bail, Context as _};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// Environment variable naming the kubeconfig of the test API server.
pub const KUBECONFIG_ENV: &str = "THUMBNAIL_TEST_KUBECONFIG";

/// Path of the test API server's kubeconfig; panics with instructions when unset.
pub fn kubeconfig_path() -> String {
    std::env::var(KUBECONFIG_ENV).unwrap_or_else(|_| {
        panic!(
            "{KUBECONFIG_ENV} is not set: this test needs the real CRD API server. \
             Run `make test`, or start it with `eval \"$(hack/crd-apiserver.sh start)\"` and \
             export {KUBECONFIG_ENV}=$KUBECONFIG"
        )
    })
}

/// The client configuration of the test API server (as its administrator).
pub async fn config() -> Config {
    let path = kubeconfig_path();
    let kubeconfig = Kubeconfig::read_from(&path)
        .with_context(|| format!("reading {path}"))
        .unwrap();
    Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap_or_else(|e| panic!("kubeconfig {path}: {e}"))
}

/// A kube client for the test API server.
pub async fn client() -> anyhow::Result<Client> {
    Ok(Client::try_from(config().await)?)
}

/// Installs (server-side apply, idempotent) the generated CRD and waits until the API
/// server serves it. Safe to call from tests running in parallel processes.
pub async fn ensure_crd(client: &Client) -> anyhow::Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = thumbnail_api::crd::crd();
    let name = crd.metadata.name.clone().expect("the CRD has a name");
    crds.patch(
        &name,
        &PatchParams::apply("thumbnail-tests").force(),
        &Patch::Apply(&crd),
    )
    .await
    .context("applying the Thumbnail CRD")?;
    for _ in 0..100 {
        let current = crds.get(&name).await?;
        let established = current
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        if established {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("CRD {name} did not become Established within 10 s")
}

/// A client of the test API server that serves the Thumbnail CRD: where every test
/// against the API server starts. Fails the test with the cause otherwise.
pub async fn client_with_crd() -> Client {
    let client = client()
        .await
        .unwrap_or_else(|e| panic!("a client for the test API server ({KUBECONFIG_ENV}): {e:#}"));
    ensure_crd(&client)
        .await
        .unwrap_or_else(|e| panic!("installing the Thumbnail CRD on the test API server: {e:#}"));
    client
}

/// A namespace name no other test uses. The CRD API server has no Namespace objects
/// (and no namespace lifecycle admission), so any DNS label works as a namespace and
/// gives each test its own space.
pub fn unique_namespace(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut ns = format!("{prefix}-{}-{nanos:x}-{n}", std::process::id());
    ns.truncate(63);
    ns.trim_end_matches('-').to_string()
}

/// Runs kubectl (`$KUBECTL` or `kubectl`) against the test API server.
pub fn kubectl(args: &[&str]) -> Output {
    let bin = std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into());
    Command::new(&bin)
        .arg("--kubeconfig")
        .arg(kubeconfig_path())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {bin}: {e}; install kubectl or set KUBECTL"))
}

/// Runs kubectl and returns stdout, failing with its stderr when kubectl fails.
pub fn kubectl_ok(args: &[&str]) -> String {
    let out = kubectl(args);
    assert!(
        out.status.success(),
        "kubectl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("kubectl prints UTF-8")
}
