//! Helpers for integration tests against the real CRD API server that `make test`
//! (hack/test.sh) starts. Compiled only with the `test-support` feature.
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

/// A kube client for the test API server.
pub async fn client() -> anyhow::Result<Client> {
    let path = kubeconfig_path();
    let kubeconfig = Kubeconfig::read_from(&path).with_context(|| format!("reading {path}"))?;
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    Ok(Client::try_from(config)?)
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

/// Runs kubectl and returns stdout, failing with stderr when kubectl fails.
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

/// A TCP proxy on loopback in front of `upstream` that can be switched off, to make
/// an object store "unavailable" for a while without stopping the real server other
/// tests use. While off, connections are accepted and closed at once (as a crashed
/// server's port would reset them).
pub struct SwitchableProxy {
    pub addr: std::net::SocketAddr,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl SwitchableProxy {
    pub async fn start(upstream: std::net::SocketAddr) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let flag = up.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !flag.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Ok(SwitchableProxy { addr, up, task })
    }

    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
    }
}

impl Drop for SwitchableProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The real S3 server of the test run (SeaweedFS started by hack/test.sh).
pub struct S3Env {
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    pub client: aws_sdk_s3::Client,
}

impl S3Env {
    /// Reads THUMBNAIL_TEST_S3_*; panics with instructions when the server is not there.
    pub fn from_env() -> S3Env {
        let var = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| {
                panic!(
                    "{name} is not set: this test needs the real S3 server. Run `make test`, or start \
                     hack/s3-server.sh and export THUMBNAIL_TEST_S3_ENDPOINT, THUMBNAIL_TEST_S3_ACCESS_KEY \
                     and THUMBNAIL_TEST_S3_SECRET_KEY"
                )
            })
        };
        let endpoint = var("THUMBNAIL_TEST_S3_ENDPOINT");
        let access_key = var("THUMBNAIL_TEST_S3_ACCESS_KEY");
        let secret_key = var("THUMBNAIL_TEST_S3_SECRET_KEY");
        let store = thumbnail_api::store_config::StoreConfig {
            endpoint: endpoint.clone(),
            ..Default::default()
        };
        let credentials =
            aws_sdk_s3::config::Credentials::new(&access_key, &secret_key, None, None, "tests");
        S3Env {
            client: thumbnail_store::with_credentials(&store, credentials),
            endpoint,
            access_key,
            secret_key,
        }
    }

    /// host:port of the endpoint.
    pub fn socket_addr(&self) -> std::net::SocketAddr {
        let host = self
            .endpoint
            .trim_start_matches("http://")
            .trim_end_matches('/');
        host.parse()
            .expect("the test S3 endpoint is http://IP:PORT")
    }

    /// Creates a bucket no other test uses.
    pub async fn new_bucket(&self, prefix: &str) -> String {
        let name = unique_namespace(prefix).to_lowercase();
        self.client
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "creating bucket {name}: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                )
            });
        name
    }

    pub async fn put(&self, bucket: &str, key: &str, bytes: Vec<u8>) {
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(bytes.into())
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "put {bucket}/{key}: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                )
            });
    }

    pub async fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        let out = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "get {bucket}/{key}: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                )
            });
        out.body
            .collect()
            .await
            .expect("object body")
            .into_bytes()
            .to_vec()
    }

    pub async fn exists(&self, bucket: &str, key: &str) -> bool {
        match self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => true,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => false,
            Err(e) => panic!(
                "head {bucket}/{key}: {}",
                aws_sdk_s3::error::DisplayErrorContext(&e)
            ),
        }
    }

    /// Keys under `prefix`, sorted.
    pub async fn list(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let out = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "list {bucket}/{prefix}: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                )
            });
        let mut keys: Vec<String> = out
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect();
        keys.sort();
        keys
    }
}
