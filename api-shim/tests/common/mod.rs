//! Test harness: the shim's router served in-process on a loopback port, against the
//! real CRD API server (THUMBNAIL_TEST_KUBECONFIG) and the real S3 server
//! (THUMBNAIL_TEST_S3_*) that `make test` starts. Each test gets its own namespace and
//! its own bucket. A missing server is a failure with instructions, never a skip.

#![allow(dead_code)] // each test binary uses a different part of the harness

use api_shim::state::{AppState, Settings};
use api_shim::store::Store;
use aws_sdk_s3::Client as S3;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use thumbnail_api::crd::{Phase, Thumbnail};
use thumbnail_testkit as testkit;

pub use thumbnail_testkit::{closed_port_url, corpus};

pub struct Shim {
    pub url: String,
    pub http: reqwest::Client,
    pub namespace: String,
    pub bucket: String,
    pub s3: S3,
    pub thumbnails: Api<Thumbnail>,
    env: testkit::S3Env,
    server: tokio::task::JoinHandle<()>,
    /// Stops the running server gracefully (as SIGTERM does the binary).
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// What a restart serves again: the same settings and clients.
    settings: Settings,
    shim_kube: kube::Client,
    shim_store: Store,
    addr: std::net::SocketAddr,
}

impl Drop for Shim {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Serves a new shim on `listener`, stopped gracefully when the returned sender fires
/// (the event streams end first, as the binary's shutdown does).
fn serve(
    listener: tokio::net::TcpListener,
    settings: Settings,
    kube: kube::Client,
    store: Store,
) -> (
    tokio::task::JoinHandle<()>,
    tokio::sync::oneshot::Sender<()>,
) {
    let state = AppState::new(settings, kube, store);
    let header_read_timeout = state.settings.header_read_timeout;
    let streams = state.shutdown.clone();
    let router = api_shim::app::router(state);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        api_shim::app::serve(listener, router, header_read_timeout, async move {
            let _ = stopped.await;
            streams.cancel();
        })
        .await
        .unwrap();
    });
    (server, stop)
}

pub struct Options {
    pub settings: Box<dyn FnOnce(&mut Settings)>,
    /// Point the shim's store at a closed port.
    pub store_down: bool,
    /// Point the shim's Kubernetes client at a closed port.
    pub api_down: bool,
    /// Run the shim's Kubernetes client as this user (impersonation), e.g. a
    /// ServiceAccount without rights: the API server then answers Forbidden.
    pub kube_user: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            settings: Box::new(|_| {}),
            store_down: false,
            api_down: false,
            kube_user: None,
        }
    }
}

impl Shim {
    pub async fn start() -> Shim {
        Shim::start_with(Options::default()).await
    }

    pub async fn start_with(opts: Options) -> Shim {
        api_shim::install_crypto_provider();
        let kube = testkit::kube::client_with_crd().await;
        let namespace = testkit::unique_namespace("shim");
        let env = testkit::S3Env::from_env();
        let bucket = env.new_bucket("shim").await;
        let s3 = env.client.clone();

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mut settings = Settings::new(&namespace, &url);
        (opts.settings)(&mut settings);
        let shim_s3 = if opts.store_down {
            env.client_at(&closed_port_url())
        } else {
            s3.clone()
        };
        let shim_kube = if opts.api_down {
            let config = kube::Config::new(closed_port_url().parse().unwrap());
            kube::Client::try_from(config).unwrap()
        } else if let Some(user) = &opts.kube_user {
            let mut config = testkit::kube::config().await;
            config.auth_info.impersonate = Some(user.clone());
            kube::Client::try_from(config).unwrap()
        } else {
            kube.clone()
        };
        let shim_store = Store {
            client: shim_s3,
            bucket: bucket.clone(),
        };
        let addr = listener.local_addr().unwrap();
        let (server, stop) = serve(
            listener,
            settings.clone(),
            shim_kube.clone(),
            shim_store.clone(),
        );
        Shim {
            stop: Some(stop),
            settings,
            shim_kube,
            shim_store,
            addr,
            url,
            http: reqwest::Client::new(),
            thumbnails: Api::namespaced(kube, &namespace),
            namespace,
            bucket,
            s3,
            env,
            server,
        }
    }

    /// Stops the shim gracefully, as SIGTERM does; returns once it has stopped, which
    /// it must within 10 s whatever streams are open.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(std::time::Duration::from_secs(10), &mut self.server)
            .await
            .expect("the shim did not stop within 10 s of its shutdown")
            .expect("the server task");
    }

    /// Starts the shim again at the same address (after [`Shim::stop`]).
    pub async fn start_again(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .expect("binding the shim's address again");
        let (server, stop) = serve(
            listener,
            self.settings.clone(),
            self.shim_kube.clone(),
            self.shim_store.clone(),
        );
        self.server = server;
        self.stop = Some(stop);
    }

    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// POSTs an upload with `file` (name, bytes) and text fields.
    pub async fn upload(
        &self,
        file: Option<(&str, Vec<u8>)>,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut form = reqwest::multipart::Form::new();
        for (k, v) in fields {
            form = form.text(k.to_string(), v.to_string());
        }
        if let Some((name, bytes)) = file {
            form = form.part(
                "file",
                reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
            );
        }
        self.http
            .post(self.at("/api/v1/thumbnails"))
            .multipart(form)
            .send()
            .await
            .expect("upload request")
    }

    /// Keys of every object in the test bucket.
    pub async fn objects(&self) -> Vec<String> {
        self.env.list(&self.bucket, "").await
    }

    /// Names of every Thumbnail in the test namespace.
    pub async fn resources(&self) -> Vec<String> {
        self.thumbnails
            .list(&Default::default())
            .await
            .expect("listing Thumbnails")
            .items
            .into_iter()
            .filter_map(|t| t.metadata.name)
            .collect()
    }

    /// Does what the controller does when a resizer run succeeded: stores the output
    /// object and writes status.output through the status subresource.
    pub async fn complete(&self, id: &str, bytes: Vec<u8>, content_type: &str, format: &str) {
        let key = format!("thumbnails/{id}.{format}");
        self.complete_at(id, &key, bytes, content_type, format)
            .await;
    }

    /// Creates a Thumbnail directly in the API server, as a kubectl user would: with
    /// `labels` (none: not made by the shim), its source the original `key` in the
    /// test bucket.
    pub async fn create_directly(&self, name: &str, labels: &[(&str, &str)], key: &str) {
        let labels: serde_json::Map<String, serde_json::Value> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        let t: Thumbnail = serde_json::from_value(json!({
            "apiVersion": "thumbnails.dev/v1alpha1",
            "kind": "Thumbnail",
            "metadata": {"name": name, "namespace": self.namespace, "labels": labels},
            "spec": {"source": {"s3": {"bucket": self.bucket, "key": key}}, "width": 64},
        }))
        .expect("a Thumbnail");
        self.thumbnails
            .create(&Default::default(), &t)
            .await
            .expect("creating a Thumbnail directly");
    }

    /// Stores `bytes` under `key` and marks `id` Succeeded with that output, as the
    /// controller does after a render (a re-render writes a new key).
    pub async fn complete_at(
        &self,
        id: &str,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
        format: &str,
    ) {
        let len = bytes.len();
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(bytes.into())
            .send()
            .await
            .expect("storing the output object");
        self.patch_status(
            id,
            json!({
                "phase": Phase::Succeeded,
                "completionTime": "2026-01-02T03:04:05Z",
                "output": {
                    "bucket": self.bucket, "key": key, "width": 512, "height": 512,
                    "format": format, "contentType": content_type, "bytes": len,
                },
            }),
        )
        .await;
    }

    /// Does what the operator does after a deleted Thumbnail's cleanup: removes the
    /// finalizer the shim created it with. Checks that the deletion was waiting for it.
    pub async fn finish_deletion(&self, id: &str) {
        let t = self
            .thumbnails
            .get(id)
            .await
            .expect("the deleted Thumbnail");
        assert!(
            t.metadata.deletion_timestamp.is_some(),
            "{id} is not being deleted"
        );
        assert_eq!(
            t.metadata.finalizers.as_deref(),
            Some(&[thumbnail_api::metadata::FINALIZER.to_string()][..])
        );
        self.thumbnails
            .patch(
                id,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"finalizers": null}})),
            )
            .await
            .expect("removing the finalizer");
    }

    /// The value of one sample line of /metrics (`name{labels}`), if present.
    pub async fn metric(&self, sample: &str) -> Option<f64> {
        let text = self
            .http
            .get(self.at("/metrics"))
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .unwrap();
        text.lines().find_map(|l| {
            l.strip_prefix(sample)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
    }

    pub async fn patch_status(&self, id: &str, status: serde_json::Value) {
        self.thumbnails
            .patch_status(
                id,
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": status })),
            )
            .await
            .expect("patching status");
    }
}
