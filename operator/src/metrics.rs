//! Prometheus metrics of the controller, served on /metrics.

use std::task::{Context, Poll};
use std::time::Duration;

use http::{Method, Request};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub error: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub phase: String,
    pub reason: String,
}

/// A request to the Kubernetes API: the verb (as RBAC names it) and the resource, with
/// its subresource (`thumbnails/status`). Both come from the operator's own code paths,
/// never from object names, so the label set stays small.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiRequestLabels {
    pub verb: &'static str,
    pub resource: String,
}

#[derive(Clone)]
pub struct Metrics {
    pub reconciles: Counter,
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    pub reconcile_duration: Histogram,
    pub runs_finished: Family<OutcomeLabels, Counter>,
    pub run_duration: Histogram,
    pub queue_length: Gauge,
    pub runs_active: Gauge,
    /// 1 while this replica reconciles (holds the Lease, or runs without election).
    pub leader: Gauge,
    /// Every request the operator's Kubernetes client sends (counted by [`CountApiRequests`]).
    pub api_requests: Family<ApiRequestLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            reconciles: Counter::default(),
            reconcile_errors: Family::default(),
            reconcile_duration: Histogram::new([
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
            ]),
            runs_finished: Family::default(),
            run_duration: Histogram::new([0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0]),
            queue_length: Gauge::default(),
            runs_active: Gauge::default(),
            leader: Gauge::default(),
            api_requests: Family::default(),
        }
    }
}

impl Metrics {
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("thumbnail");
        r.register("reconciles", "Reconciles started", self.reconciles.clone());
        r.register(
            "reconcile_errors",
            "Reconciles that failed, by error",
            self.reconcile_errors.clone(),
        );
        r.register(
            "reconcile_duration_seconds",
            "Time spent in one reconcile",
            self.reconcile_duration.clone(),
        );
        r.register(
            "runs_finished",
            "Resizer runs that finished, by phase and reason",
            self.runs_finished.clone(),
        );
        r.register(
            "run_duration_seconds",
            "From run start to its recorded result",
            self.run_duration.clone(),
        );
        r.register(
            "queue_length",
            "Thumbnails waiting for a resizer slot",
            self.queue_length.clone(),
        );
        r.register(
            "runs_active",
            "Resizer runs in progress",
            self.runs_active.clone(),
        );
        r.register(
            "leader",
            "1 on the replica that reconciles (holds the leader Lease), 0 on the others",
            self.leader.clone(),
        );
        r.register(
            "kube_api_requests",
            "Requests sent to the Kubernetes API server, by verb and resource (a watch counts once, when it is opened)",
            self.api_requests.clone(),
        );
    }

    pub fn error(&self, label: &str) {
        self.reconcile_errors
            .get_or_create(&ErrorLabels {
                error: label.into(),
            })
            .inc();
    }

    pub fn finished(&self, phase: &str, reason: &str, took: Option<Duration>) {
        let labels = OutcomeLabels {
            phase: phase.into(),
            reason: reason.into(),
        };
        self.runs_finished.get_or_create(&labels).inc();
        if let Some(took) = took {
            self.run_duration.observe(took.as_secs_f64());
        }
    }
}

/// A tower layer for the kube `Client`'s service stack that counts each request in
/// [`Metrics::api_requests`]. Added on top of kube's default stack (`ClientBuilder::with_layer`),
/// so it sees the request as the operator made it: a request kube itself retries (429,
/// 503, 504) counts once.
#[derive(Clone)]
pub struct CountApiRequests {
    counter: Family<ApiRequestLabels, Counter>,
}

impl CountApiRequests {
    pub fn new(metrics: &Metrics) -> Self {
        CountApiRequests {
            counter: metrics.api_requests.clone(),
        }
    }
}

impl<S> tower::Layer<S> for CountApiRequests {
    type Service = CountedApiService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CountedApiService {
            inner,
            counter: self.counter.clone(),
        }
    }
}

#[derive(Clone)]
pub struct CountedApiService<S> {
    inner: S,
    counter: Family<ApiRequestLabels, Counter>,
}

impl<S, B> tower::Service<Request<B>> for CountedApiService<S>
where
    S: tower::Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        self.counter
            .get_or_create(&api_request_labels(request.method(), request.uri()))
            .inc();
        self.inner.call(request)
    }
}

/// Verb and resource of a Kubernetes API request, from its method and path:
/// `/api/v1/...` or `/apis/GROUP/VERSION/...`, then `namespaces/NS/` for a namespaced
/// resource, then `RESOURCE[/NAME[/SUBRESOURCE]]`. Anything else (discovery, /version)
/// is resource `discovery`.
fn api_request_labels(method: &Method, uri: &http::Uri) -> ApiRequestLabels {
    let segments: Vec<&str> = uri.path().split('/').filter(|s| !s.is_empty()).collect();
    let rest: &[&str] = match segments.as_slice() {
        ["api", _version, rest @ ..] => rest,
        ["apis", _group, _version, rest @ ..] => rest,
        _ => &[],
    };
    // `namespaces/NS` alone is the Namespace object itself, not a scope.
    let rest = match rest {
        ["namespaces", _ns, inner @ ..] if !inner.is_empty() => inner,
        _ => rest,
    };
    let (resource, named) = match rest {
        [] => ("discovery".to_string(), true),
        [resource] => (resource.to_string(), false),
        [resource, _name] => (resource.to_string(), true),
        [resource, _name, sub, ..] => (format!("{resource}/{sub}"), true),
    };
    let watch = uri
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv == "watch=true" || kv == "watch=1"));
    let verb = match *method {
        Method::GET if watch => "watch",
        Method::GET if named => "get",
        Method::GET => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if named => "delete",
        Method::DELETE => "deletecollection",
        _ => "other",
    };
    ApiRequestLabels { verb, resource }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Response;
    use kube::api::{ListParams, Patch, PatchParams, WatchParams};
    use kube::client::Body;
    use kube::{Api, Client};
    use thumbnail_api::Thumbnail;

    fn count(metrics: &Metrics, verb: &'static str, resource: &str) -> u64 {
        metrics
            .api_requests
            .get_or_create(&ApiRequestLabels {
                verb,
                resource: resource.into(),
            })
            .get()
    }

    /// Requests made through a `Client` built with the layer are counted by verb and
    /// resource, whatever the server answers.
    #[tokio::test]
    async fn the_client_layer_counts_each_request() {
        let metrics = Metrics::default();
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let client = Client::new(
            tower::Layer::layer(&CountApiRequests::new(&metrics), service),
            "media",
        );
        // Answers every request with a 404 Status: the client's calls fail, which is
        // fine here: what is counted is what was sent.
        let server = tokio::spawn(async move {
            let mut paths = Vec::new();
            while let Some((request, send)) = handle.next_request().await {
                paths.push(format!("{} {}", request.method(), request.uri()));
                let status = serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "no"});
                send.send_response(
                    Response::builder()
                        .status(404)
                        .body(Body::from(serde_json::to_vec(&status).unwrap()))
                        .unwrap(),
                );
            }
            paths
        });
        let thumbnails: Api<Thumbnail> = Api::namespaced(client.clone(), "media");
        let _ = thumbnails.list(&ListParams::default()).await;
        let _ = thumbnails.list(&ListParams::default().limit(10)).await;
        let _ = thumbnails.get("a").await;
        let patch = Patch::Merge(serde_json::json!({"status": {"phase": "Running"}}));
        let _ = thumbnails
            .patch_status("a", &PatchParams::default(), &patch)
            .await;
        let _ = thumbnails.delete("a", &Default::default()).await;
        let _ = thumbnails.watch(&WatchParams::default(), "0").await;
        drop(thumbnails);
        drop(client);
        let paths = server.await.unwrap();

        assert_eq!(paths.len(), 6, "{paths:?}");
        assert_eq!(count(&metrics, "list", "thumbnails"), 2);
        assert_eq!(count(&metrics, "get", "thumbnails"), 1);
        assert_eq!(count(&metrics, "patch", "thumbnails/status"), 1);
        assert_eq!(count(&metrics, "delete", "thumbnails"), 1);
        assert_eq!(count(&metrics, "watch", "thumbnails"), 1);

        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains(
                r#"thumbnail_kube_api_requests_total{verb="list",resource="thumbnails"} 2"#
            ),
            "{text}"
        );
    }

    #[test]
    fn verbs_and_resources_from_paths() {
        let labels = |method: Method, uri: &str| {
            let l = api_request_labels(&method, &uri.parse().unwrap());
            (l.verb, l.resource)
        };
        let s = |verb: &'static str, resource: &str| (verb, resource.to_string());
        assert_eq!(
            labels(Method::POST, "/apis/batch/v1/namespaces/media/jobs?"),
            s("create", "jobs")
        );
        assert_eq!(
            labels(
                Method::PUT,
                "/apis/coordination.k8s.io/v1/namespaces/media/leases/op"
            ),
            s("update", "leases")
        );
        assert_eq!(
            labels(
                Method::GET,
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/thumbnails.thumbnails.dev"
            ),
            s("get", "customresourcedefinitions")
        );
        assert_eq!(
            labels(Method::GET, "/api/v1/namespaces/media"),
            s("get", "namespaces")
        );
        assert_eq!(
            labels(
                Method::GET,
                "/api/v1/namespaces/media/pods/p/log?container=c"
            ),
            s("get", "pods/log")
        );
        assert_eq!(
            labels(
                Method::DELETE,
                "/apis/batch/v1/namespaces/media/jobs?labelSelector=a"
            ),
            s("deletecollection", "jobs")
        );
        assert_eq!(
            labels(
                Method::GET,
                "/apis/thumbnails.dev/v1alpha1/thumbnails?watch=1"
            ),
            s("watch", "thumbnails")
        );
        assert_eq!(labels(Method::GET, "/version"), s("get", "discovery"));
        assert_eq!(labels(Method::GET, "/apis/batch/v1"), s("get", "discovery"));
    }
}
