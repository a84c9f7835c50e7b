//! Reconcile scenarios against a mocked Kubernetes API (tower-test), in the manner of
//! kube-rs's controller-rs: each scenario answers the requests one reconcile makes, in
//! order, and asserts each request's method, path and body. A request the scenario
//! does not expect, or one missing, fails the test.
//!
//! Jobs, Pods and Events are only served by a full kube-apiserver, so they are mocked
//! here; everything the controller does with Thumbnails alone is also tested against
//! the real CRD API server (tests/controller_api.rs).

use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use k8s_openapi::api::batch::v1::Job;
use kube::client::Body;
use kube::runtime::watcher;
use kube::Client;
use serde_json::{json, Value};

use super::queue::Queue;
use super::{reconcile, Context};
use crate::config::Config;
use crate::executor::jobs::JobExecutor;
use crate::metrics::Metrics;
use crate::objects::ObjectStore;
use clap::Parser;
use thumbnail_api::crd::{Phase, Thumbnail};
use thumbnail_api::metadata::FINALIZER;

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

const NS: &str = "media";
const THUMBS: &str = "/apis/thumbnails.dev/v1alpha1/namespaces/media/thumbnails";
const JOBS: &str = "/apis/batch/v1/namespaces/media/jobs";

/// The API server side of a scenario; `events` collects the Events the controller
/// tried to publish (answered 404, as by the CRD-only test server).
struct ApiServer(Handle, Arc<std::sync::Mutex<Vec<Value>>>);

/// One request the controller made, with its parsed body.
struct Seen {
    method: Method,
    path: String,
    query: String,
    body: Value,
}

impl ApiServer {
    /// Waits for the next request, answers it with `status` and `response`, returns it.
    /// Event writes are answered and skipped: events are a courtesy the controller
    /// must not depend on (404 here, as on the CRD-only test server).
    async fn answer(&mut self, status: StatusCode, response: Value) -> Seen {
        loop {
            let (request, send) =
                tokio::time::timeout(Duration::from_secs(5), self.0.next_request())
                    .await
                    .expect("the controller made no further request within 5 s")
                    .expect("the client was dropped");
            let method = request.method().clone();
            let path = request.uri().path().to_string();
            let query = request.uri().query().unwrap_or_default().to_string();
            // Every call the controller makes must be granted by the chart's RBAC,
            // whose one source of truth is thumbnail_api::rbac.
            let (group, resource, verb) =
                thumbnail_api::rbac::request_permission(method.as_str(), &path, &query)
                    .unwrap_or_else(|| panic!("unrecognised API request {method} {path}"));
            assert!(
                thumbnail_api::rbac::allows(thumbnail_api::rbac::OPERATOR, &group, &resource, &verb),
                "{method} {path} needs {verb} on {group}/{resource}, which rbac::OPERATOR does not grant"
            );
            let bytes = request.into_body().collect_bytes().await.unwrap();
            let body = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).unwrap()
            };
            if path.contains("/events") {
                self.1.lock().unwrap().push(body);
                send.send_response(
                    Response::builder()
                        .status(404)
                        .body(Body::from(
                            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404, "reason": "NotFound", "message": "the server could not find the requested resource"})
                                .to_string()
                                .into_bytes(),
                        ))
                        .unwrap(),
                );
                continue;
            }
            send.send_response(
                Response::builder()
                    .status(status)
                    .body(Body::from(response.to_string().into_bytes()))
                    .unwrap(),
            );
            return Seen {
                method,
                path,
                query,
                body,
            };
        }
    }

    /// Asserts that no further (non-event) request comes; Events that do come are
    /// collected like those [`ApiServer::answer`] skips.
    async fn expect_silence(&mut self) {
        while let Ok(Some((request, send))) =
            tokio::time::timeout(Duration::from_millis(300), self.0.next_request()).await
        {
            if !request.uri().path().contains("/events") {
                panic!("unexpected request {} {}", request.method(), request.uri());
            }
            let bytes = request.into_body().collect_bytes().await.unwrap();
            self.1
                .lock()
                .unwrap()
                .push(serde_json::from_slice(&bytes).unwrap_or(Value::Null));
            send.send_response(Response::builder().status(404).body(Body::empty()).unwrap());
        }
    }
}

fn config(max_running: usize) -> Config {
    Config::parse_from([
        "thumbnail-operator",
        "--bucket",
        "thumbs",
        "--max-running",
        &max_running.to_string(),
        "--public-base-url",
        "https://thumbs.example",
        "--resizer-image",
        "registry.example/resizer:1.2.3",
        "--s3-endpoint",
        "http://127.0.0.1:9",
        // What the test Thumbnails read (uploads/originals/<name>.jpg), as an
        // administrator's rule; the shim's originals (thumbs/originals/media/) always.
        "--source-allow",
        "media=uploads/originals/",
        // The scenarios below are those of a run per Thumbnail unless they say otherwise
        // (batches: `batch_config`).
        "--batch-size",
        "1",
    ])
}

/// [`config`] with batches of up to `batch_size`.
fn batch_config(max_running: usize, batch_size: u32) -> Config {
    let mut c = config(max_running);
    c.batch_size = batch_size;
    c
}

/// A context on a mocked API server; `others` fill the controller's Thumbnail cache
/// (the queue order).
async fn context(max_running: usize, others: &[Thumbnail]) -> (Arc<Context>, ApiServer) {
    let (ctx, server, _wakes) = context_and_wakes(max_running, others).await;
    (ctx, server)
}

type Wakes = std::pin::Pin<
    Box<dyn futures::Stream<Item = kube::runtime::reflector::ObjectRef<Thumbnail>> + Send>,
>;

/// A queue whose index has seen `items` in the watch's initial list.
fn queue_of(
    items: &[Thumbnail],
    cap: usize,
) -> (
    Queue,
    impl futures::Stream<Item = kube::runtime::reflector::ObjectRef<Thumbnail>> + Send + 'static,
) {
    let (cache, mut writer) = kube::runtime::reflector::store::<Thumbnail>();
    let (queue, wakes) = Queue::new(cap, cache);
    for event in [watcher::Event::Init]
        .into_iter()
        .chain(items.iter().map(|t| watcher::Event::InitApply(t.clone())))
        .chain([watcher::Event::InitDone])
    {
        writer.apply_watcher_event(&event);
        queue.observe(&event);
    }
    (queue, wakes)
}

/// [`context`], with the stream of Thumbnails the queue wakes.
async fn context_and_wakes(
    max_running: usize,
    others: &[Thumbnail],
) -> (Arc<Context>, ApiServer, Wakes) {
    context_with(config(max_running), others).await
}

async fn context_with(config: Config, others: &[Thumbnail]) -> (Arc<Context>, ApiServer, Wakes) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, NS);
    let credentials = aws_sdk_s3::config::Credentials::new("k", "s", None, None, "test");
    let objects = ObjectStore::from_client(thumbnail_store::with_credentials(
        &config.store,
        credentials,
    ));
    let executor = Box::new(JobExecutor::new(client.clone(), config.clone()));
    // Wake-ups are not followed here: a reconcile is run by hand.
    let (queue, wakes) = queue_of(others, config.max_running);
    let ctx = Context::new(client, config, executor, objects, Metrics::default(), queue);
    (
        Arc::new(ctx),
        ApiServer(handle, Default::default()),
        Box::pin(wakes),
    )
}

fn thumbnail(name: &str, generation: i64, created: &str, status: Option<Value>) -> Thumbnail {
    let mut obj = json!({
        "apiVersion": "thumbnails.dev/v1alpha1", "kind": "Thumbnail",
        "metadata": {"name": name, "namespace": NS, "uid": format!("uid-{name}"), "generation": generation,
                     "creationTimestamp": created, "finalizers": [FINALIZER]},
        "spec": {"source": {"s3": {"bucket": "uploads", "key": format!("originals/{name}.jpg")}},
                 "width": 256, "fit": "inside", "format": "webp", "quality": 70}
    });
    if let Some(s) = status {
        obj["status"] = s;
    }
    serde_json::from_value(obj).unwrap()
}

/// A valid Thumbnail body, for answers whose content the controller does not use.
fn any_thumbnail() -> Value {
    serde_json::to_value(thumbnail("cat", 1, "2026-11-28T10:00:00Z", None)).unwrap()
}

/// A resizer Job as the operator makes it: labelled, controlled by a Thumbnail.
fn job(name: &str, status: Value) -> Value {
    let mut j = foreign_job(name, status);
    j["metadata"]["ownerReferences"] = json!([{"apiVersion": "thumbnails.dev/v1alpha1",
        "kind": "Thumbnail", "name": "t", "uid": "uid-t", "controller": true, "blockOwnerDeletion": true}]);
    j
}

/// A Job carrying the operator's label that no Thumbnail controls (anyone who may
/// create Jobs can make one).
fn foreign_job(name: &str, status: Value) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job",
           "metadata": {"name": name, "namespace": NS, "uid": "job-uid", "labels": {"app.kubernetes.io/managed-by": "thumbnail-operator"}},
           "spec": {"template": {"spec": {"containers": [{"name": "resizer", "image": "x"}]}}},
           "status": status})
}

fn job_list(items: Vec<Value>) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "JobList", "metadata": {"resourceVersion": "1"}, "items": items})
}

fn pod_list(exit_code: i32, message: &str, reason: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "1"}, "items": [{
        "metadata": {"name": "p1", "namespace": NS, "creationTimestamp": "2026-11-28T10:00:00Z",
                     "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": "job-uid", "controller": true}]},
        "status": {"containerStatuses": [{"name": "resizer", "image": "x", "imageID": "", "ready": false,
            "restartCount": 0, "state": {"terminated": {"exitCode": exit_code, "message": message, "reason": reason}}}]}
    }]})
}

/// Runs one reconcile against the scenario `server`, returning the Action's debug text.
async fn run_reconcile<F, Fut>(
    thumb: Thumbnail,
    ctx: Arc<Context>,
    server: ApiServer,
    scenario: F,
) -> crate::Result<kube::runtime::controller::Action>
where
    F: FnOnce(ApiServer) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let verifier = tokio::spawn(scenario(server));
    let result = tokio::time::timeout(Duration::from_secs(10), reconcile(Arc::new(thumb), ctx))
        .await
        .expect("reconcile finished");
    verifier.await.expect("scenario assertions hold");
    result
}

fn status_of(seen: &Seen) -> &Value {
    &seen.body["status"]
}

#[tokio::test]
async fn new_thumbnail_gets_a_finalizer_first() {
    let (ctx, server) = context(4, &[]).await;
    let mut thumb = thumbnail("cat", 1, "2026-11-28T10:00:00Z", None);
    thumb.metadata.finalizers = None;
    let with_finalizer =
        serde_json::to_value(thumbnail("cat", 1, "2026-11-28T10:00:00Z", None)).unwrap();
    run_reconcile(thumb, ctx, server, |mut s| async move {
        let seen = s.answer(StatusCode::OK, with_finalizer).await;
        assert_eq!(seen.method, Method::PATCH);
        assert_eq!(seen.path, format!("{THUMBS}/cat"));
        assert_eq!(seen.body[1]["path"], "/metadata/finalizers");
        assert_eq!(seen.body[1]["value"], json!([FINALIZER]));
        s.expect_silence().await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn new_thumbnail_gets_a_job_and_processing_status() {
    let (ctx, server) = context(4, &[]).await;
    let thumb = thumbnail("cat", 1, "2026-11-28T10:00:00Z", None);
    let run = crate::naming::run_name(&thumb);
    let run2 = run.clone();
    run_reconcile(thumb, ctx, server, |mut s| async move {
        // 1. count running Jobs (the cap)
        let list = s.answer(StatusCode::OK, job_list(vec![])).await;
        assert_eq!(
            (list.method, list.path.as_str()),
            (Method::GET, "/apis/batch/v1/jobs")
        );
        assert!(
            list.query
                .contains("labelSelector=app.kubernetes.io%2Fmanaged-by%3Dthumbnail-operator"),
            "{}",
            list.query
        );
        // 2. server-side apply of the Job
        let applied = s.answer(StatusCode::CREATED, job(&run2, json!({}))).await;
        assert_eq!(applied.method, Method::PATCH);
        assert_eq!(applied.path, format!("{JOBS}/{run2}"));
        assert!(
            applied.query.contains("fieldManager=thumbnail-operator")
                && applied.query.contains("force=true")
        );
        let job: Job = serde_json::from_value(applied.body.clone()).unwrap();
        assert_job_is_hardened(&job, &run2);
        // 3. status: Processing with the Job recorded at once
        let st = s.answer(StatusCode::OK, any_thumbnail()).await;
        assert_eq!(st.method, Method::PATCH);
        assert_eq!(st.path, format!("{THUMBS}/cat/status"));
        let status = status_of(&st);
        assert_eq!(status["phase"], "Processing");
        assert_eq!(status["jobName"], run2.as_str());
        assert_eq!(status["observedGeneration"], 1);
        assert_eq!(status["conditions"][0]["type"], "Ready");
        assert_eq!(status["conditions"][0]["reason"], "JobRunning");
        assert!(status["startTime"].is_string());
        s.expect_silence().await;
    })
    .await
    .unwrap();
    assert!(run.starts_with("cat-g1-"));
}

fn assert_job_is_hardened(job: &Job, run: &str) {
    assert_eq!(job.metadata.name.as_deref(), Some(run));
    let owner = &job.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()),
        ("Thumbnail", "cat", "uid-cat")
    );
    assert_eq!(owner.controller, Some(true));
    let spec = job.spec.as_ref().unwrap();
    assert_eq!(spec.backoff_limit, Some(3));
    assert_eq!(spec.active_deadline_seconds, Some(300));
    assert_eq!(spec.ttl_seconds_after_finished, Some(3600));
    let rules = &spec.pod_failure_policy.as_ref().unwrap().rules;
    assert_eq!(rules[0].action, "FailJob");
    assert_eq!(
        rules[0].on_exit_codes.as_ref().unwrap().values,
        vec![crate::invocation::EXIT_PERMANENT]
    );
    assert_eq!(rules[1].action, "Ignore");
    let pod = spec.template.spec.as_ref().unwrap();
    assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
    assert_eq!(pod.automount_service_account_token, Some(false));
    let psc = pod.security_context.as_ref().unwrap();
    assert_eq!(psc.run_as_non_root, Some(true));
    assert_eq!(
        psc.seccomp_profile.as_ref().unwrap().type_,
        "RuntimeDefault"
    );
    let c = &pod.containers[0];
    assert_eq!(c.image.as_deref(), Some("registry.example/resizer:1.2.3"));
    let sc = c.security_context.as_ref().unwrap();
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(
        sc.capabilities.as_ref().unwrap().drop.as_deref(),
        Some(&["ALL".to_string()][..])
    );
    assert!(c
        .resources
        .as_ref()
        .unwrap()
        .limits
        .as_ref()
        .unwrap()
        .contains_key("memory"));
    let env = c.env.as_ref().unwrap();
    let secret = env
        .iter()
        .find(|e| e.name == "AWS_SECRET_ACCESS_KEY")
        .expect("credentials from the Secret");
    assert!(secret.value.is_none());
    // glibc's malloc maps the decoders' large buffers with huge pages (issue 13).
    let tunables = env
        .iter()
        .find(|e| e.name == "GLIBC_TUNABLES")
        .expect("the resizer's malloc tunable");
    assert_eq!(tunables.value.as_deref(), Some("glibc.malloc.hugetlb=1"));
    assert_eq!(
        secret
            .value_from
            .as_ref()
            .unwrap()
            .secret_key_ref
            .as_ref()
            .unwrap()
            .name,
        "thumbnail-s3-resizer"
    );
    // The resizer is told where to read and write, in its own words.
    let args = c.args.as_ref().unwrap().join(" ");
    assert!(
        args.contains("originals/cat.jpg") && args.contains("uploads"),
        "{args}"
    );
    assert!(args.contains("thumbnails/media/cat/"), "{args}");
}

fn processing(run: &str) -> Value {
    json!({"phase": "Processing", "observedGeneration": 1, "jobName": run, "startTime": "2026-11-28T10:00:05Z",
           "conditions": [{"type": "Ready", "status": "False", "reason": "JobRunning", "message": "m",
                           "lastTransitionTime": "2026-11-28T10:00:05Z", "observedGeneration": 1}]})
}

/// "cat" at generation 1 whose Job is recorded and running, and that Job's name.
fn processing_cat() -> (Thumbnail, String) {
    let run = crate::naming::run_name(&thumbnail("cat", 1, "2026-11-28T10:00:00Z", None));
    let thumb = thumbnail("cat", 1, "2026-11-28T10:00:00Z", Some(processing(&run)));
    (thumb, run)
}

#[tokio::test]
async fn running_job_changes_nothing() {
    let (ctx, server) = context(4, &[]).await;
    let (thumb, run) = processing_cat();
    let r = run.clone();
    let action = run_reconcile(thumb, ctx, server, |mut s| async move {
        // One failed pod retried by the Job controller is still "running" to us.
        let mut running = job(&r, json!({"active": 1, "failed": 1}));
        running["metadata"]["uid"] = json!("job-uid");
        let get = s.answer(StatusCode::OK, running).await;
        assert_eq!((get.method, get.path), (Method::GET, format!("{JOBS}/{r}")));
        // Its Pods, to tell running from starting or stuck: only those the Job owns count.
        let pods = json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "1"}, "items": [
            {"metadata": {"name": "p2", "namespace": NS,
                          "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": r, "uid": "job-uid"}]},
             "status": {"phase": "Running"}},
            {"metadata": {"name": "impostor", "namespace": NS,
                          "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": r, "uid": "other"}]},
             "spec": {"containers": [{"name": "resizer", "image": "x"}]},
             "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}}]});
        let list = s.answer(StatusCode::OK, pods).await;
        assert_eq!(list.method, Method::GET);
        assert!(list.path.starts_with(&format!("/api/v1/namespaces/{NS}/pods")), "{}", list.path);
        s.expect_silence().await;
    })
    .await
    .unwrap();
    assert_eq!(
        format!("{action:?}"),
        format!(
            "{:?}",
            kube::runtime::controller::Action::requeue(Duration::from_secs(60))
        )
    );
}

#[tokio::test]
async fn succeeded_job_writes_output_and_links() {
    let (ctx, server) = context(4, &[]).await;
    let (thumb, run) = processing_cat();
    let key = crate::naming::output_key(&thumb, 1);
    let result = crate::invocation::tests_support::success_json("thumbs", &key, 256, 171, 12345);
    let r = run.clone();
    let events = server.1.clone();
    run_reconcile(thumb, ctx, server, |mut s| async move {
        let done = job(
            &r,
            json!({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}),
        );
        s.answer(StatusCode::OK, done).await;
        let pods = s
            .answer(StatusCode::OK, pod_list(0, &result, "Completed"))
            .await;
        assert_eq!(pods.path, "/api/v1/namespaces/media/pods");
        assert!(
            pods.query
                .contains(&format!("batch.kubernetes.io%2Fjob-name%3D{r}")),
            "{}",
            pods.query
        );
        let st = s.answer(StatusCode::OK, any_thumbnail()).await;
        let status = status_of(&st);
        assert_eq!(status["phase"], "Succeeded");
        assert_eq!(status["output"]["width"], 256);
        assert_eq!(status["output"]["height"], 171);
        assert_eq!(status["output"]["bytes"], 12345);
        assert_eq!(status["output"]["key"], key.as_str());
        assert_eq!(status["conditions"][0]["status"], "True");
        assert_eq!(status["links"][1]["rel"], "download");
        assert_eq!(
            status["links"][1]["href"],
            "https://thumbs.example/api/v1/thumbnails/cat/download"
        );
        assert_eq!(status["startTime"], "2026-11-28T10:00:05Z");
        assert!(status["completionTime"].is_string());
        s.expect_silence().await;
    })
    .await
    .unwrap();
    // A run of its own says its success in an Event too (batch members do not).
    let events = events.lock().unwrap().clone();
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "Normal" && e["reason"] == "Succeeded"),
        "{events:?}"
    );
}

#[tokio::test]
async fn permanent_failure_fails_without_a_new_job() {
    let (ctx, server) = context(4, &[]).await;
    let (thumb, run) = processing_cat();
    let result = crate::invocation::tests_support::failure_json(
        "NotAnImage",
        "originals/cat.jpg is not an image",
    );
    let r = run.clone();
    let written = Arc::new(std::sync::Mutex::new(Value::Null));
    let w = written.clone();
    run_reconcile(thumb.clone(), ctx.clone(), server, |mut s| async move {
        let failed = job(&r, json!({"failed": 1, "conditions": [{"type": "Failed", "status": "True", "reason": "PodFailurePolicy"}]}));
        s.answer(StatusCode::OK, failed).await;
        s.answer(StatusCode::OK, pod_list(crate::invocation::EXIT_PERMANENT, &result, "Error")).await;
        let st = s.answer(StatusCode::OK, any_thumbnail()).await;
        let status = status_of(&st).clone();
        assert_eq!(status["phase"], "Failed");
        assert_eq!(status["reason"], "NotAnImage");
        assert_eq!(status["message"], "originals/cat.jpg is not an image");
        *w.lock().unwrap() = status;
        s.expect_silence().await;
    })
    .await
    .unwrap();

    // Reconciled again (a resync, a restart): nothing happens until the spec changes.
    let mut failed = thumb;
    failed.status = Some(serde_json::from_value(written.lock().unwrap().clone()).unwrap());
    let (ctx, server) = context(4, &[]).await;
    let action = run_reconcile(failed, ctx, server, |mut s| async move {
        s.expect_silence().await
    })
    .await
    .unwrap();
    assert_eq!(
        format!("{action:?}"),
        format!("{:?}", kube::runtime::controller::Action::await_change())
    );
}

#[tokio::test]
async fn api_errors_are_retried_with_growing_backoff() {
    let (ctx, server) = context(4, &[]).await;
    let thumb = thumbnail("cat", 1, "2026-11-28T10:00:00Z", None);
    let err = run_reconcile(thumb.clone(), ctx.clone(), server, |mut s| async move {
        s.answer(StatusCode::OK, job_list(vec![])).await;
        let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 503, "reason": "ServiceUnavailable", "message": "etcd is down"});
        s.answer(StatusCode::SERVICE_UNAVAILABLE, status).await;
        s.expect_silence().await;
    })
    .await
    .unwrap_err();
    assert_eq!(err.metric_label(), "kube");
    let thumb = Arc::new(thumb);
    let first = super::error_policy(thumb.clone(), &err, ctx.clone());
    let second = super::error_policy(thumb.clone(), &err, ctx.clone());
    let third = super::error_policy(thumb, &err, ctx);
    use kube::runtime::controller::Action;
    assert_eq!(
        format!("{first:?}"),
        format!("{:?}", Action::requeue(Duration::from_secs(1)))
    );
    assert_eq!(
        format!("{second:?}"),
        format!("{:?}", Action::requeue(Duration::from_secs(2)))
    );
    assert_eq!(
        format!("{third:?}"),
        format!("{:?}", Action::requeue(Duration::from_secs(4)))
    );
}

#[tokio::test]
async fn cap_reached_queues_the_thumbnail() {
    let older = thumbnail("older", 1, "2026-11-28T09:00:00Z", None);
    let thumb = thumbnail("cat", 1, "2026-11-28T10:00:00Z", None);
    let (ctx, server) = context(2, &[older, thumb.clone()]).await;
    let action = run_reconcile(thumb, ctx, server, |mut s| async move {
        // One Job runs, one slot is free, but an older Thumbnail waits ahead of this one.
        let running = job("other-g1-1", json!({"active": 1}));
        let finished = job(
            "done-g1-2",
            json!({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}),
        );
        s.answer(StatusCode::OK, job_list(vec![running, finished]))
            .await;
        let st = s.answer(StatusCode::OK, any_thumbnail()).await;
        assert_eq!(st.path, format!("{THUMBS}/cat/status"));
        let status = status_of(&st);
        assert_eq!(status["phase"], "Pending");
        assert_eq!(status["reason"], "Queued");
        assert_eq!(
            status["message"],
            "waiting for a resizer slot: 1 of 2 running, this one was number 1 in the queue when it started to wait"
        );
        assert!(status.get("jobName").is_none());
        s.expect_silence().await;
    })
    .await
    .unwrap();
    assert_eq!(
        format!("{action:?}"),
        format!(
            "{:?}",
            kube::runtime::controller::Action::requeue(Duration::from_secs(2))
        )
    );
}

#[tokio::test]
async fn oldest_waiting_thumbnail_takes_the_free_slot() {
    let thumb = thumbnail("older", 1, "2026-11-28T09:00:00Z", None);
    let newer = thumbnail("cat", 1, "2026-11-28T10:00:00Z", None);
    let (ctx, server) = context(2, &[thumb.clone(), newer]).await;
    run_reconcile(thumb, ctx, server, |mut s| async move {
        s.answer(
            StatusCode::OK,
            job_list(vec![job("other-g1-1", json!({"active": 1}))]),
        )
        .await;
        let applied = s
            .answer(StatusCode::CREATED, job("older-g1-x", json!({})))
            .await;
        assert!(applied.path.starts_with(&format!("{JOBS}/older-g1-")));
        let st = s.answer(StatusCode::OK, any_thumbnail()).await;
        assert_eq!(status_of(&st)["phase"], "Processing");
        s.expect_silence().await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn job_removed_before_it_stored_a_thumbnail_is_lost_and_not_recreated() {
    let (ctx, server, _s3) = context_with_store(None).await;
    let (thumb, run) = processing_cat();
    let r = run.clone();
    run_reconcile(thumb, ctx, server, |mut s| async move {
        let get = s.answer(StatusCode::NOT_FOUND, not_found()).await;
        assert_eq!(get.path, format!("{JOBS}/{r}"));
        let st = s.answer(StatusCode::OK, any_thumbnail()).await;
        assert_eq!(status_of(&st)["phase"], "Failed");
        assert_eq!(status_of(&st)["reason"], "JobLost");
        s.expect_silence().await;
    })
    .await
    .unwrap();
}

/// An operator outage longer than the Job's TTL: the Job is gone, but its thumbnail is
/// stored where this generation's run writes it — that is the result, not a loss.
#[tokio::test]
async fn job_removed_by_its_ttl_after_storing_the_thumbnail_succeeds_from_the_store() {
    let (ctx, server, s3) = context_with_store(None).await;
    let (thumb, run) = processing_cat();
    let key = crate::naming::output_key(&thumb, 1);
    let bucket = ctx.config.bucket.clone();
    // As the resizer stores it: its size and type, width and height as metadata.
    s3.client
        .put_object()
        .bucket(&bucket)
        .key(&key)
        .content_type("image/webp")
        .metadata("width", "256")
        .metadata("height", "171")
        .body(b"webp!".to_vec().into())
        .send()
        .await
        .expect("put the stored thumbnail");
    let (r, k) = (run.clone(), key.clone());
    run_reconcile(thumb, ctx, server, |mut s| async move {
        let get = s.answer(StatusCode::NOT_FOUND, not_found()).await;
        assert_eq!(get.path, format!("{JOBS}/{r}"));
        let st = s.answer(StatusCode::OK, any_thumbnail()).await;
        let status = status_of(&st);
        assert_eq!(status["phase"], "Succeeded", "{status}");
        assert_eq!(status["jobName"], r.as_str());
        assert_eq!(
            status["output"],
            json!({"bucket": bucket, "key": k, "width": 256, "height": 171, "format": "webp",
                   "contentType": "image/webp", "bytes": 5})
        );
        s.expect_silence().await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn phases_map_to_seed_words_in_status_links() {
    // Guard for the shim: Processing status never offers a download.
    let thumb = thumbnail("cat", 1, "2026-11-28T10:00:00Z", None);
    let st = crate::status::next(
        &thumb,
        &crate::status::Transition::Processing {
            run_name: "r".into(),
        },
        "https://thumbs.example",
        k8s_openapi::jiff::Timestamp::now(),
    );
    assert_eq!(st.phase, Some(Phase::Processing));
    assert!(st.links.iter().all(|l| l.rel != "download"));
}

/// A context whose object store is the real test S3 server (or `endpoint`).
async fn context_with_store(
    endpoint: Option<&str>,
) -> (Arc<Context>, ApiServer, thumbnail_testkit::S3Env) {
    context_with_store_keyed(endpoint, None).await
}

/// [`context_with_store`] whose operator signs with `secret_key` instead of the
/// store's (a wrong one: the store refuses every request with 403).
async fn context_with_store_keyed(
    endpoint: Option<&str>,
    secret_key: Option<&str>,
) -> (Arc<Context>, ApiServer, thumbnail_testkit::S3Env) {
    context_with_store_caching(endpoint, secret_key, None, &[]).await
}

/// [`context_with_store_keyed`] whose controller cache holds `cached`, with `bucket` as
/// the operator's (and so the uploads) bucket if given.
async fn context_with_store_caching(
    endpoint: Option<&str>,
    secret_key: Option<&str>,
    bucket: Option<&str>,
    cached: &[Thumbnail],
) -> (Arc<Context>, ApiServer, thumbnail_testkit::S3Env) {
    let s3 = thumbnail_testkit::S3Env::from_env();
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, NS);
    let mut config = config(4);
    config.store.endpoint = endpoint.unwrap_or(&s3.endpoint).to_string();
    // The operator's own output bucket, on the real server (unused with `endpoint`).
    if let Some(bucket) = bucket {
        config.bucket = bucket.to_string();
    } else if endpoint.is_none() {
        config.bucket = s3.new_bucket("output").await;
    }
    let credentials = aws_sdk_s3::config::Credentials::new(
        &s3.access_key,
        secret_key.unwrap_or(&s3.secret_key),
        None,
        None,
        "test",
    );
    let objects = ObjectStore::from_client(thumbnail_store::with_credentials(
        &config.store,
        credentials,
    ));
    let executor = Box::new(JobExecutor::new(client.clone(), config.clone()));
    // Wake-ups are not followed here: a reconcile is run by hand.
    let (queue, _wakes) = queue_of(cached, config.max_running);
    let ctx = Context::new(client, config, executor, objects, Metrics::default(), queue);
    (Arc::new(ctx), ApiServer(handle, Default::default()), s3)
}

fn succeeded(run: &str, bucket: &str, key: &str) -> Value {
    json!({"phase": "Succeeded", "observedGeneration": 1, "jobName": run,
           "output": {"bucket": bucket, "key": key, "width": 256, "height": 171, "format": "webp",
                      "contentType": "image/webp", "bytes": 4}})
}

fn not_found() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404, "reason": "NotFound", "message": "not found"})
}

#[tokio::test]
async fn spec_change_renders_again_and_removes_the_old_thumbnail() {
    let (ctx, server, s3) = context_with_store(None).await;
    let bucket = s3.new_bucket("genbump").await;
    let gen1 = thumbnail("cat", 1, "2026-11-28T10:00:00Z", None);
    let old_run = crate::naming::run_name(&gen1);
    let old_key = crate::naming::output_key(&gen1, 1);
    s3.put(&bucket, &old_key, b"old!".to_vec()).await;
    let mut thumb = thumbnail(
        "cat",
        2,
        "2026-11-28T10:00:00Z",
        Some(succeeded(&old_run, &bucket, &old_key)),
    );
    thumb.spec.width = Some(64);
    let new_run = crate::naming::run_name(&thumb);
    assert_ne!(new_run, old_run);
    let (o, n) = (old_run.clone(), new_run.clone());
    run_reconcile(thumb, ctx, server, |mut s| async move {
        // The old Job (if TTL has not removed it yet) is deleted with its Pods.
        let del = s.answer(StatusCode::NOT_FOUND, not_found()).await;
        assert_eq!(
            (del.method, del.path),
            (Method::DELETE, format!("{JOBS}/{o}"))
        );
        assert_eq!(del.body["propagationPolicy"], "Foreground");
        s.answer(StatusCode::OK, job_list(vec![])).await;
        let applied = s.answer(StatusCode::CREATED, job(&n, json!({}))).await;
        assert_eq!(applied.path, format!("{JOBS}/{n}"));
        let args = applied.body["spec"]["template"]["spec"]["containers"][0]["args"].to_string();
        assert!(
            args.contains("--width=64") && args.contains("-g2."),
            "{args}"
        );
        let st = s.answer(StatusCode::OK, any_thumbnail()).await;
        let status = status_of(&st);
        assert_eq!(
            (
                status["phase"].as_str(),
                status["observedGeneration"].as_i64()
            ),
            (Some("Processing"), Some(2))
        );
        assert!(
            status.get("output").is_none(),
            "the old output is no longer advertised"
        );
        s.expect_silence().await;
    })
    .await
    .unwrap();
    assert!(
        !s3.exists(&bucket, &old_key).await,
        "the old generation's thumbnail is removed"
    );
}

fn being_deleted(mut thumb: Thumbnail) -> Thumbnail {
    thumb.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        k8s_openapi::jiff::Timestamp::now(),
    ));
    thumb
}

/// The requests of a deletion whose run `run` is already gone: the Job is deleted (in
/// the foreground), found gone, then the finalizer is removed.
async fn deletion_scenario(s: ApiServer, run: String) {
    deletion_scenario_of(s, &run, "cat").await;
}

/// The requests of the deletion of the Thumbnail `name` whose run `run` is already gone
/// (see [`deletion_scenario`]), leaving `s` for more.
async fn deletion_requests(s: &mut ApiServer, run: &str, name: &str) {
    let del = s.answer(StatusCode::OK, job(run, json!({}))).await;
    assert_eq!(
        (del.method, del.path),
        (Method::DELETE, format!("{JOBS}/{run}"))
    );
    assert_eq!(del.body["propagationPolicy"], "Foreground");
    // The Job (and so its Pod) is gone: now the objects can go.
    let get = s.answer(StatusCode::NOT_FOUND, not_found()).await;
    assert_eq!(
        (get.method, get.path),
        (Method::GET, format!("{JOBS}/{run}"))
    );
    let fin = s.answer(StatusCode::OK, any_thumbnail()).await;
    assert_eq!(
        (fin.method, fin.path),
        (Method::PATCH, format!("{THUMBS}/{name}"))
    );
    assert_eq!(fin.body[0]["op"], "test");
    assert_eq!(fin.body[1]["op"], "remove");
}

async fn deletion_scenario_of(mut s: ApiServer, run: &str, name: &str) {
    deletion_requests(&mut s, run, name).await;
    s.expect_silence().await;
}

/// The shim's original of "cat" in the uploads bucket (the operator's default bucket
/// here, as in the chart): deleted with it. No annotation is needed or consulted.
#[tokio::test]
async fn deletion_removes_thumbnail_and_shim_original_then_the_finalizer() {
    let (ctx, server, s3) = context_with_store(None).await;
    let uploads = ctx.config.uploads_bucket().to_string();
    let original = thumbnail_api::ownership::shim_original_key(NS, "cat");
    let probe = thumbnail("cat", 1, "2026-11-28T10:00:00Z", None);
    let run = crate::naming::run_name(&probe);
    let key = crate::naming::output_key(&probe, 1);
    s3.put(&uploads, &key, b"thumb".to_vec()).await;
    s3.put(&uploads, &original, b"original".to_vec()).await;
    s3.put(&uploads, "originals/media/keep", b"someone else's".to_vec())
        .await;
    let mut thumb = thumbnail(
        "cat",
        1,
        "2026-11-28T10:00:00Z",
        Some(succeeded(&run, &uploads, &key)),
    );
    thumb.spec.source.s3.bucket = Some(uploads.clone());
    thumb.spec.source.s3.key = original.clone();
    run_reconcile(being_deleted(thumb), ctx, server, |s| {
        deletion_scenario(s, run)
    })
    .await
    .unwrap();
    assert!(!s3.exists(&uploads, &key).await);
    assert!(
        !s3.exists(&uploads, &original).await,
        "the shim's original is removed"
    );
    assert!(s3.exists(&uploads, "originals/media/keep").await);
}

/// A member of an upload's group (issue 14): `name` reading the group's shared original,
/// its thumbnail stored, as the shim and a finished run leave it.
async fn group_member(
    s3: &thumbnail_testkit::S3Env,
    uploads: &str,
    name: &str,
    original: &str,
) -> (Thumbnail, String, String) {
    let probe = thumbnail(name, 1, "2026-11-28T10:00:00Z", None);
    let run = crate::naming::run_name(&probe);
    let key = crate::naming::output_key(&probe, 1);
    s3.put(uploads, &key, b"thumb".to_vec()).await;
    let mut t = thumbnail(
        name,
        1,
        "2026-11-28T10:00:00Z",
        Some(succeeded(&run, uploads, &key)),
    );
    t.spec.source.s3.bucket = Some(uploads.to_string());
    t.spec.source.s3.key = original.to_string();
    (t, run, key)
}

/// Issue 14: the Thumbnails of one upload with several sizes share one original. Two
/// members deleted at once: the first one's cleanup finds the other still using it and
/// leaves it; the second finds the first finished — although the watch has not shown
/// its finalizer gone yet, the cache still holds it — and deletes it: exactly once,
/// with the last. Thumbnails that do not hold it by name and source (another name
/// reading it, a member-like name reading something else) neither keep nor delete it.
#[tokio::test]
async fn a_group_original_is_kept_while_another_member_uses_it_and_deleted_with_the_last() {
    let s3 = thumbnail_testkit::S3Env::from_env();
    let uploads = s3.new_bucket("group").await;
    let group = "01kcgroup0000000000000000aa";
    let original = thumbnail_api::ownership::shim_original_key(NS, group);
    s3.put(&uploads, &original, b"original".to_vec()).await;
    let m1_name = thumbnail_api::ownership::group_member_name(group, 1);
    let m2_name = thumbnail_api::ownership::group_member_name(group, 2);
    let (m1, run1, key1) = group_member(&s3, &uploads, &m1_name, &original).await;
    let (m2, run2, key2) = group_member(&s3, &uploads, &m2_name, &original).await;
    let (m1, m2) = (being_deleted(m1), being_deleted(m2));
    // Reading the original without holding it: another name; a member's name whose
    // spec reads something else.
    let (reader, _, _) = group_member(&s3, &uploads, "reader", &original).await;
    let (other_source, _, _) = group_member(
        &s3,
        &uploads,
        &thumbnail_api::ownership::group_member_name(group, 3),
        "originals/media/else",
    )
    .await;
    let cached = [m1.clone(), m2.clone(), reader, other_source];
    let (ctx, mut server, _) =
        context_with_store_caching(None, None, Some(&uploads), &cached).await;
    // The operator's uploads bucket is its default bucket (as in the chart).
    assert_eq!(ctx.config.uploads_bucket(), uploads);
    let (n1, n2) = (m1_name.clone(), m2_name.clone());
    let verifier = tokio::spawn(async move {
        deletion_requests(&mut server, &run1, &n1).await;
        deletion_requests(&mut server, &run2, &n2).await;
        server.expect_silence().await;
    });
    reconcile(Arc::new(m1), ctx.clone()).await.unwrap();
    assert!(
        !s3.exists(&uploads, &key1).await,
        "the first member's thumbnail is removed"
    );
    assert!(
        s3.exists(&uploads, &original).await,
        "the original went while {m2_name} still uses it"
    );
    assert!(s3.exists(&uploads, &key2).await);
    reconcile(Arc::new(m2), ctx.clone()).await.unwrap();
    verifier.await.expect("scenario assertions hold");
    assert!(!s3.exists(&uploads, &key2).await);
    assert!(
        !s3.exists(&uploads, &original).await,
        "the last member's deletion leaves the original behind"
    );
}

/// Issue 14: a group original in use by a member that is not being deleted (here the
/// 16th, the most an upload may ask for) stays when another member goes.
#[tokio::test]
async fn a_group_original_stays_for_a_live_member() {
    let s3 = thumbnail_testkit::S3Env::from_env();
    let uploads = s3.new_bucket("grouplive").await;
    let group = "01kcgroup0000000000000000bb";
    let original = thumbnail_api::ownership::shim_original_key(NS, group);
    s3.put(&uploads, &original, b"original".to_vec()).await;
    let m1_name = thumbnail_api::ownership::group_member_name(group, 1);
    let (m1, run1, _) = group_member(&s3, &uploads, &m1_name, &original).await;
    let (live, _, _) = group_member(
        &s3,
        &uploads,
        &thumbnail_api::ownership::group_member_name(group, 16),
        &original,
    )
    .await;
    let m1 = being_deleted(m1);
    let (ctx, server, _) =
        context_with_store_caching(None, None, Some(&uploads), &[m1.clone(), live]).await;
    let n1 = m1_name.clone();
    run_reconcile(m1, ctx, server, |s| async move {
        deletion_scenario_of(s, &run1, &n1).await
    })
    .await
    .unwrap();
    assert!(s3.exists(&uploads, &original).await);
}

/// Issue 12 (critical): the annotation the shim writes is no licence to delete. A
/// Thumbnail that carries it and names someone else's object (another bucket, any
/// key) is deleted; the object stays.
#[tokio::test]
async fn deletion_never_removes_a_foreign_source_whatever_the_annotations_say() {
    let (ctx, server, s3) = context_with_store(None).await;
    let payroll = s3.new_bucket("payroll").await;
    s3.put(&payroll, "2025.xlsx", b"salaries".to_vec()).await;
    let probe = thumbnail("cat", 1, "2026-11-28T10:00:00Z", None);
    let run = crate::naming::run_name(&probe);
    let mut thumb = thumbnail(
        "cat",
        1,
        "2026-11-28T10:00:00Z",
        Some(json!({"phase": "Failed", "observedGeneration": 1, "jobName": run})),
    );
    thumb.spec.source.s3.bucket = Some(payroll.clone());
    thumb.spec.source.s3.key = "2025.xlsx".into();
    thumb.metadata.annotations = Some(
        [(
            thumbnail_api::metadata::ANNOTATION_SHIM_OWNS_SOURCE.to_string(),
            "true".to_string(),
        )]
        .into(),
    );
    run_reconcile(being_deleted(thumb), ctx, server, |s| {
        deletion_scenario(s, run)
    })
    .await
    .unwrap();
    assert!(
        s3.exists(&payroll, "2025.xlsx").await,
        "a foreign object was deleted"
    );
}

/// Issue 12 (critical): a Thumbnail the shim created, whose spec.source was then edited
/// to point at another namespace's original in the same uploads bucket: deleting it
/// leaves that object alone, and removes its own original (the spec no longer names
/// it, but the key is this Thumbnail's: nothing else would ever delete it).
#[tokio::test]
async fn deletion_of_an_edited_shim_thumbnail_leaves_the_new_source_alone() {
    let (ctx, server, s3) = context_with_store(None).await;
    let uploads = ctx.config.uploads_bucket().to_string();
    let foreign = thumbnail_api::ownership::shim_original_key("finance", "cat");
    s3.put(&uploads, &foreign, b"finance's photo".to_vec())
        .await;
    let probe = thumbnail("cat", 2, "2026-11-28T10:00:00Z", None);
    let run = crate::naming::run_name(&probe);
    let mut thumb = thumbnail(
        "cat",
        2,
        "2026-11-28T10:00:00Z",
        Some(json!({"phase": "Failed", "observedGeneration": 2, "jobName": run})),
    );
    thumb.metadata.labels = Some(
        [(
            thumbnail_api::metadata::LABEL_CREATED_BY.to_string(),
            "api-shim".to_string(),
        )]
        .into(),
    );
    thumb.metadata.annotations = Some(
        [(
            thumbnail_api::metadata::ANNOTATION_SHIM_OWNS_SOURCE.to_string(),
            "true".to_string(),
        )]
        .into(),
    );
    thumb.spec.source.s3.bucket = Some(uploads.clone());
    thumb.spec.source.s3.key = foreign.clone();
    let own = thumbnail_api::ownership::shim_original_key(NS, "cat");
    s3.put(&uploads, &own, b"cat's original".to_vec()).await;
    run_reconcile(being_deleted(thumb), ctx, server, |s| {
        deletion_scenario(s, run)
    })
    .await
    .unwrap();
    assert!(
        s3.exists(&uploads, &foreign).await,
        "another namespace's original was deleted"
    );
    assert!(
        !s3.exists(&uploads, &own).await,
        "the Thumbnail's own original was left behind"
    );
}

/// Issue 11 defect 2: while the deleted Thumbnail's Job is still there (deleted in the
/// foreground, its Pod terminating), nothing is deleted and the finalizer stays: a
/// resizer still uploading would otherwise leave its thumbnail behind.
#[tokio::test]
async fn deletion_waits_until_the_run_is_gone_before_deleting_objects() {
    let (ctx, server, s3) = context_with_store(None).await;
    let bucket = s3.new_bucket("delwait").await;
    let probe = thumbnail("cat", 1, "2026-11-28T10:00:00Z", None);
    let run = crate::naming::run_name(&probe);
    let key = crate::naming::output_key(&probe, 1);
    s3.put(&bucket, &key, b"thumb".to_vec()).await;
    let mut thumb = thumbnail(
        "cat",
        1,
        "2026-11-28T10:00:00Z",
        Some(json!({"phase": "Processing", "observedGeneration": 1, "jobName": run})),
    );
    thumb.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        k8s_openapi::jiff::Timestamp::now(),
    ));
    let r = run.clone();
    let action = run_reconcile(thumb, ctx, server, |mut s| async move {
        let del = s.answer(StatusCode::ACCEPTED, job(&r, json!({}))).await;
        assert_eq!(del.body["propagationPolicy"], "Foreground");
        // Still there: its Pod is terminating.
        let get = s.answer(StatusCode::OK, job(&r, json!({}))).await;
        assert_eq!(get.method, Method::GET);
        // No object deleted, no finalizer removed.
        s.expect_silence().await;
    })
    .await
    .expect("waiting is no error");
    assert_eq!(
        action,
        kube::runtime::controller::Action::requeue(super::RUN_STOPPING_RECHECK)
    );
    assert!(s3.exists(&bucket, &key).await, "nothing deleted yet");
}

#[tokio::test]
async fn store_outage_blocks_deletion_with_a_condition_and_keeps_the_finalizer() {
    // Nothing listens on this port: the store is down.
    let (ctx, server, _s3) = context_with_store(Some("http://127.0.0.1:9")).await;
    let probe = thumbnail("cat", 1, "2026-11-28T10:00:00Z", None);
    let run = crate::naming::run_name(&probe);
    let mut thumb = thumbnail(
        "cat",
        1,
        "2026-11-28T10:00:00Z",
        Some(succeeded(&run, "thumbs", "k.webp")),
    );
    thumb.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        k8s_openapi::jiff::Timestamp::now(),
    ));
    let r = run.clone();
    let err = run_reconcile(thumb, ctx, server, |mut s| async move {
        s.answer(StatusCode::OK, job(&r, json!({}))).await;
        s.answer(StatusCode::NOT_FOUND, not_found()).await;
        let st = s.answer(StatusCode::OK, any_thumbnail()).await;
        assert_eq!(st.path, format!("{THUMBS}/cat/status"));
        let blocked = st.body["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "CleanupBlocked")
            .cloned()
            .unwrap();
        assert_eq!(blocked["status"], "True");
        assert_eq!(blocked["reason"], "StoreUnavailable");
        let message = blocked["message"].as_str().unwrap();
        assert!(
            message.contains("the Thumbnail is kept until the object store answers")
                && message.contains("may pass"),
            "{message}"
        );
        // The phase and output are untouched; no finalizer removal follows.
        assert_eq!(st.body["status"]["phase"], "Succeeded");
        s.expect_silence().await;
    })
    .await
    .unwrap_err();
    assert_eq!(err.metric_label(), "store");
}

/// Issue 12: a source outside what the namespace may read fails at once with
/// SourceNotAllowed: the status says so and how to allow it, and nothing else happens
/// (no Job counted or created, so nothing read either).
async fn refused(bucket: &str, key: &str) -> Value {
    let (ctx, server) = context(4, &[]).await;
    let mut thumb = thumbnail("cat", 1, "2026-11-28T10:00:00Z", None);
    thumb.spec.source.s3.bucket = Some(bucket.into());
    thumb.spec.source.s3.key = key.into();
    let written = Arc::new(std::sync::Mutex::new(Value::Null));
    let w = written.clone();
    let action = run_reconcile(thumb, ctx, server, |mut s| async move {
        let st = s.answer(StatusCode::OK, any_thumbnail()).await;
        assert_eq!(
            (&st.method, st.path.as_str()),
            (&Method::PATCH, format!("{THUMBS}/cat/status").as_str())
        );
        *w.lock().unwrap() = status_of(&st).clone();
        // No Job list (admission), no Job created.
        s.expect_silence().await;
    })
    .await
    .unwrap();
    assert_eq!(action, kube::runtime::controller::Action::await_change());
    let status = written.lock().unwrap().clone();
    assert_eq!(status["phase"], "Failed", "{status}");
    assert_eq!(status["reason"], "SourceNotAllowed", "{status}");
    assert_eq!(status["conditions"][0]["reason"], "SourceNotAllowed");
    assert!(status.get("jobName").is_none(), "{status}");
    status
}

#[tokio::test]
async fn another_namespaces_originals_are_not_allowed() {
    let status = refused("thumbs", "originals/finance/01abc").await;
    let message = status["message"].as_str().unwrap();
    // What the namespace may read, and how to allow more.
    assert!(
        message.contains("thumbs/originals/media/, uploads/originals/"),
        "{message}"
    );
    assert!(
        message.contains("SOURCE_ALLOW") && message.contains("operator.sourcePolicy.allow"),
        "{message}"
    );
}

#[tokio::test]
async fn another_bucket_is_not_allowed() {
    let status = refused("payroll", "2025.xlsx").await;
    let message = status["message"].as_str().unwrap();
    assert!(message.contains("media=payroll/"), "{message}");
    // Nothing about the object itself (it was never looked at).
    assert!(
        !message.contains("bytes") && !message.contains("not found"),
        "{message}"
    );
}

#[tokio::test]
async fn prefix_tricks_are_not_allowed() {
    refused("thumbs", "originals/media-other/01abc").await;
    refused("thumbs", "originals/media/../finance/01abc").await;
    refused("uploads", "originals/../private/cat.jpg").await;
    refused("uploads", "originals-old/cat.jpg").await;
    // Another namespace's thumbnails share the output bucket.
    refused("thumbs", "thumbnails/finance/cat/0b8f11aa-g1.jpg").await;
}

/// The shim's originals of the Thumbnail's own namespace are allowed without any rule.
#[tokio::test]
async fn own_shim_originals_are_allowed_without_a_rule() {
    let (ctx, server) = context(4, &[]).await;
    let mut thumb = thumbnail("cat", 1, "2026-11-28T10:00:00Z", None);
    thumb.spec.source.s3.bucket = None; // the default bucket, which is the uploads bucket
    thumb.spec.source.s3.key = thumbnail_api::ownership::shim_original_key(NS, "cat");
    run_reconcile(thumb, ctx, server, |mut s| async move {
        s.answer(StatusCode::OK, job_list(vec![])).await;
        let applied = s
            .answer(StatusCode::CREATED, job("cat-g1-x", json!({})))
            .await;
        assert!(applied.path.starts_with(&format!("{JOBS}/cat-g1-")));
        let st = s.answer(StatusCode::OK, any_thumbnail()).await;
        assert_eq!(status_of(&st)["phase"], "Processing");
        s.expect_silence().await;
    })
    .await
    .unwrap();
}

/// Issue 12: each generation's output key is recorded when its run starts, and that
/// exact key is deleted. Here the format changed (jpeg -> png) and the Thumbnail was
/// deleted before the new generation was reconciled: the first run's .jpg goes, not a
/// .png recomputed from the current spec.
#[tokio::test]
async fn deletion_after_a_format_change_removes_the_recorded_output() {
    let (ctx, server, s3) = context_with_store(None).await;
    let bucket = ctx.config.bucket.clone();
    let mut gen1 = thumbnail("cat", 1, "2026-11-28T10:00:00Z", None);
    gen1.spec.format = thumbnail_api::crd::Format::Jpeg;
    gen1.spec.quality = None;
    let run = crate::naming::run_name(&gen1);
    let jpg = crate::naming::output_key(&gen1, 1);
    assert!(jpg.ends_with("-g1.jpg"), "{jpg}");
    // What the launch wrote (status::Transition::Started), and what the run stored.
    let started = crate::status::next(
        &gen1,
        &crate::status::Transition::Started {
            run_name: run.clone(),
            output: thumbnail_api::crd::OutputLocation {
                bucket: bucket.clone(),
                key: jpg.clone(),
            },
            item: None,
        },
        "",
        k8s_openapi::jiff::Timestamp::now(),
    );
    assert_eq!(
        serde_json::to_value(&started).unwrap()["runOutput"],
        json!({"bucket": bucket, "key": jpg})
    );
    s3.put(&bucket, &jpg, b"jpeg!".to_vec()).await;
    let mut thumb = gen1.clone();
    thumb.status = Some(started);
    thumb.metadata.generation = Some(2);
    thumb.spec.format = thumbnail_api::crd::Format::Png;
    run_reconcile(being_deleted(thumb), ctx, server, |s| {
        deletion_scenario(s, run)
    })
    .await
    .unwrap();
    assert!(
        !s3.exists(&bucket, &jpg).await,
        "the first generation's .jpg was left behind"
    );
}

/// The same for a spec change: the superseded run's recorded output is removed.
#[tokio::test]
async fn a_format_change_removes_the_superseded_runs_recorded_output() {
    let (ctx, server, s3) = context_with_store(None).await;
    let bucket = ctx.config.bucket.clone();
    let mut gen1 = thumbnail("cat", 1, "2026-11-28T10:00:00Z", None);
    gen1.spec.format = thumbnail_api::crd::Format::Jpeg;
    gen1.spec.quality = None;
    let old_run = crate::naming::run_name(&gen1);
    let jpg = crate::naming::output_key(&gen1, 1);
    s3.put(&bucket, &jpg, b"jpeg!".to_vec()).await;
    let mut thumb = gen1.clone();
    thumb.status = Some(
        serde_json::from_value(json!({
        "phase": "Processing", "observedGeneration": 1, "jobName": old_run,
        "runOutput": {"bucket": bucket, "key": jpg}}))
        .unwrap(),
    );
    thumb.metadata.generation = Some(2);
    thumb.spec.format = thumbnail_api::crd::Format::Png;
    let new_run = crate::naming::run_name(&thumb);
    let png = crate::naming::output_key(&thumb, 2);
    let (o, n, b, p) = (
        old_run.clone(),
        new_run.clone(),
        bucket.clone(),
        png.clone(),
    );
    run_reconcile(thumb, ctx, server, |mut s| async move {
        let del = s.answer(StatusCode::NOT_FOUND, not_found()).await;
        assert_eq!(
            (del.method, del.path),
            (Method::DELETE, format!("{JOBS}/{o}"))
        );
        s.answer(StatusCode::OK, job_list(vec![])).await;
        s.answer(StatusCode::CREATED, job(&n, json!({}))).await;
        let st = s.answer(StatusCode::OK, any_thumbnail()).await;
        // The new run's location is recorded with it.
        assert_eq!(status_of(&st)["jobName"], n.as_str());
        assert_eq!(status_of(&st)["runOutput"], json!({"bucket": b, "key": p}));
        s.expect_silence().await;
    })
    .await
    .unwrap();
    assert!(png.ends_with("-g2.png"), "{png}");
    assert!(
        !s3.exists(&bucket, &jpg).await,
        "the superseded run's .jpg was left behind"
    );
}

/// Issue 12: a permanent refusal (here 403: the operator's key is wrong) does not
/// block deletion forever: a Warning Event names the object left behind, and the
/// finalizer is removed. (A store that does not answer still blocks:
/// store_outage_blocks_deletion_with_a_condition_and_keeps_the_finalizer.)
#[tokio::test]
async fn a_permanent_store_refusal_leaves_the_object_with_a_warning_and_removes_the_finalizer() {
    let (ctx, server, s3) = context_with_store_keyed(None, Some("not-the-secret")).await;
    let bucket = ctx.config.bucket.clone();
    let probe = thumbnail("cat", 1, "2026-11-28T10:00:00Z", None);
    let run = crate::naming::run_name(&probe);
    let key = crate::naming::output_key(&probe, 1);
    s3.put(&bucket, &key, b"thumb".to_vec()).await;
    let thumb = thumbnail(
        "cat",
        1,
        "2026-11-28T10:00:00Z",
        Some(succeeded(&run, &bucket, &key)),
    );
    let events = server.1.clone();
    run_reconcile(being_deleted(thumb), ctx, server, |s| {
        deletion_scenario(s, run)
    })
    .await
    .expect("deletion goes on");
    assert!(
        s3.exists(&bucket, &key).await,
        "the store refused: still there"
    );
    let events = events.lock().unwrap().clone();
    let left: Vec<&Value> = events
        .iter()
        .filter(|e| e["reason"] == "ObjectLeftBehind")
        .collect();
    assert!(!left.is_empty(), "no ObjectLeftBehind event: {events:?}");
    assert!(left.iter().all(|e| e["type"] == "Warning"), "{left:?}");
    let notes: Vec<&str> = left.iter().filter_map(|e| e["note"].as_str()).collect();
    assert!(
        notes
            .iter()
            .any(|n| n.contains(&format!("s3://{bucket}/{key}")) && n.contains("left behind")),
        "{notes:?}"
    );
}

fn status_failure(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code,
           "reason": reason, "message": message})
}

/// Issue 12: a Job the API server refuses (here a 422, as a label value over 63
/// characters got) fails the Thumbnail with the server's words, instead of keeping it
/// at the head of the queue forever, and the next waiting Thumbnail is woken.
#[tokio::test]
async fn a_job_the_api_server_refuses_fails_the_thumbnail_and_frees_its_place() {
    let thumb = thumbnail("cat", 1, "2026-11-28T10:00:00Z", None);
    let newer = thumbnail("newer", 1, "2026-11-28T11:00:00Z", None);
    let (ctx, server, mut wakes) = context_and_wakes(1, &[thumb.clone(), newer]).await;
    let run = crate::naming::run_name(&thumb);
    let action = run_reconcile(thumb, ctx, server, |mut s| async move {
        s.answer(StatusCode::OK, job_list(vec![])).await;
        let refused = status_failure(
            422,
            "Invalid",
            "Job.batch \"x\" is invalid: metadata.labels: Invalid value: must be no more than 63 characters",
        );
        let applied = s.answer(StatusCode::UNPROCESSABLE_ENTITY, refused).await;
        assert_eq!((applied.method, applied.path), (Method::PATCH, format!("{JOBS}/{run}")));
        let st = s.answer(StatusCode::OK, any_thumbnail()).await;
        assert_eq!(st.path, format!("{THUMBS}/cat/status"));
        let status = status_of(&st);
        assert_eq!(status["phase"], "Failed", "{status}");
        assert_eq!(status["reason"], "LaunchRejected");
        let message = status["message"].as_str().unwrap();
        assert!(
            message.contains("422 Invalid") && message.contains("must be no more than 63 characters"),
            "{message}"
        );
        // Nothing was created, so no run is recorded.
        assert!(status.get("jobName").is_none(), "{status}");
        s.expect_silence().await;
    })
    .await
    .expect("a refusal is the Thumbnail's failure, not the reconcile's");
    assert_eq!(action, kube::runtime::controller::Action::await_change());
    use futures::{FutureExt, StreamExt};
    let woken = wakes
        .next()
        .now_or_never()
        .flatten()
        .expect("the next one is woken");
    assert_eq!(woken.name, "newer");
}

/// Issue 12: the cap counts resizer runs (Jobs a Thumbnail controls), not every Job
/// carrying the operator's label.
#[tokio::test]
async fn a_foreign_job_with_the_operators_label_takes_no_slot() {
    let thumb = thumbnail("cat", 1, "2026-11-28T10:00:00Z", None);
    let (ctx, server) = context(1, std::slice::from_ref(&thumb)).await;
    run_reconcile(thumb, ctx, server, |mut s| async move {
        let mut not_controller = job("not-controller", json!({"active": 1}));
        not_controller["metadata"]["ownerReferences"][0]["controller"] = json!(false);
        let mut other_group = job("other-group", json!({"active": 1}));
        other_group["metadata"]["ownerReferences"][0]["apiVersion"] = json!("example.com/v1");
        let foreign = vec![
            foreign_job("squatter", json!({"active": 1})),
            not_controller,
            other_group,
        ];
        s.answer(StatusCode::OK, job_list(foreign)).await;
        let applied = s
            .answer(StatusCode::CREATED, job("cat-g1-x", json!({})))
            .await;
        assert_eq!(applied.method, Method::PATCH);
        assert!(
            applied.path.starts_with(&format!("{JOBS}/cat-g1-")),
            "{}",
            applied.path
        );
        let st = s.answer(StatusCode::OK, any_thumbnail()).await;
        assert_eq!(status_of(&st)["phase"], "Processing");
        s.expect_silence().await;
    })
    .await
    .unwrap();
}

/// The Job's result comes from a pod it owns (by uid); a pod that merely carries its
/// label — anyone may create one — is ignored, however new.
#[tokio::test]
async fn a_pod_with_the_jobs_label_but_another_owner_is_ignored() {
    let (ctx, server) = context(4, &[]).await;
    let (thumb, run) = processing_cat();
    let key = crate::naming::output_key(&thumb, 1);
    let real = crate::invocation::tests_support::success_json("thumbs", &key, 256, 171, 12345);
    let forged = crate::invocation::tests_support::success_json("thumbs", &key, 999, 999, 1);
    let r = run.clone();
    run_reconcile(thumb, ctx, server, |mut s| async move {
        let done = job(
            &r,
            json!({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}),
        );
        s.answer(StatusCode::OK, done).await;
        let mut pods = pod_list(0, &real, "Completed");
        let mut impostor = pods["items"][0].clone();
        impostor["metadata"]["name"] = json!("impostor");
        impostor["metadata"]["creationTimestamp"] = json!("2026-11-28T10:05:00Z");
        impostor["metadata"]["ownerReferences"][0]["uid"] = json!("another-job-uid");
        impostor["status"]["containerStatuses"][0]["state"]["terminated"]["message"] =
            json!(forged);
        pods["items"].as_array_mut().unwrap().push(impostor);
        s.answer(StatusCode::OK, pods).await;
        let st = s.answer(StatusCode::OK, any_thumbnail()).await;
        let status = status_of(&st);
        assert_eq!(status["phase"], "Succeeded", "{status}");
        assert_eq!(status["output"]["width"], 256);
        assert_eq!(status["output"]["bytes"], 12345);
        s.expect_silence().await;
    })
    .await
    .unwrap();
}

/// A result naming any other object than the one the run was told to write is refused:
/// the Thumbnail fails and points at nothing.
#[tokio::test]
async fn a_result_at_another_location_is_refused() {
    for (bucket, key) in [
        ("thumbs", "thumbnails/other-team/secret/aaaa-g1.webp"),
        ("payroll", "thumbnails/media/cat/x.webp"),
    ] {
        let (ctx, server) = context(4, &[]).await;
        let (thumb, run) = processing_cat();
        let expected = crate::naming::output_key(&thumb, 1);
        let result = crate::invocation::tests_support::success_json(bucket, key, 256, 171, 10);
        let (r, b, k) = (run.clone(), bucket.to_string(), key.to_string());
        run_reconcile(thumb, ctx, server, |mut s| async move {
            let done = job(
                &r,
                json!({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}),
            );
            s.answer(StatusCode::OK, done).await;
            s.answer(StatusCode::OK, pod_list(0, &result, "Completed"))
                .await;
            let st = s.answer(StatusCode::OK, any_thumbnail()).await;
            let status = status_of(&st);
            assert_eq!(status["phase"], "Failed", "{status}");
            assert_eq!(status["reason"], "UnexpectedOutput");
            assert!(status.get("output").is_none(), "{status}");
            let message = status["message"].as_str().unwrap();
            assert!(
                message.contains(&format!("s3://{b}/{k}")) && message.contains(&expected),
                "{message}"
            );
            assert!(status["links"]
                .as_array()
                .unwrap()
                .iter()
                .all(|l| l["rel"] != "download"));
            s.expect_silence().await;
        })
        .await
        .unwrap();
    }
}

/// Issue 12: after an operator restart, local runs interrupted by it are resumed through
/// the queue — under the cap — not all at once next to the runs admitted meanwhile.
#[tokio::test]
async fn interrupted_local_runs_resume_only_under_the_cap() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("thumb-resume-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join(NS)).unwrap();
    // A resizer that keeps running: the first resumed run holds the only slot.
    let bin = dir.join("resizer");
    std::fs::write(&bin, "#!/bin/sh\nexec sleep 60\n").unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut config = config(1);
    config.executor = crate::config::ExecutorKind::Local;
    config.resizer_bin = bin;
    config.local_state_dir = dir.clone();

    // Two runs the previous operator process started, as it recorded them.
    let started = |name: &str| {
        let probe = thumbnail(name, 1, "2026-11-28T10:00:00Z", None);
        let run = crate::naming::run_name(&probe);
        let invocation = crate::invocation::build(&probe, &config).unwrap();
        std::fs::write(
            dir.join(NS).join(format!("{run}.invocation.json")),
            serde_json::to_vec(&invocation).unwrap(),
        )
        .unwrap();
        thumbnail(name, 1, "2026-11-28T10:00:00Z", Some(processing(&run)))
    };
    let (a, b) = (started("a"), started("b"));
    let run_a = a.status.as_ref().unwrap().job_name.clone().unwrap();

    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, NS);
    let credentials = aws_sdk_s3::config::Credentials::new("k", "s", None, None, "test");
    let objects = ObjectStore::from_client(thumbnail_store::with_credentials(
        &config.store,
        credentials,
    ));
    let executor = Box::new(crate::executor::local::LocalExecutor::new(&config).unwrap());
    let (queue, _wakes) = queue_of(&[a.clone(), b.clone()], 1);
    let ctx = Arc::new(Context::new(
        client,
        config,
        executor,
        objects,
        Metrics::default(),
        queue,
    ));
    let server = ApiServer(handle, Default::default());

    // The first takes the free slot and is resumed...
    let (tx, rx) = tokio::sync::oneshot::channel();
    let r = run_a.clone();
    run_reconcile(a, ctx.clone(), server, |mut s| async move {
        let st = s.answer(StatusCode::OK, any_thumbnail()).await;
        assert_eq!(st.path, format!("{THUMBS}/a/status"));
        assert_eq!(status_of(&st)["phase"], "Processing");
        assert_eq!(status_of(&st)["jobName"], r.as_str());
        s.expect_silence().await;
        let _ = tx.send(s);
    })
    .await
    .unwrap();
    let server = rx.await.unwrap();
    assert_eq!(ctx.executor.active().await.unwrap(), 1);
    // ...the second waits for it: resumed at once, it would have been a second run
    // with a cap of one.
    run_reconcile(b, ctx.clone(), server, |mut s| async move {
        let st = s.answer(StatusCode::OK, any_thumbnail()).await;
        assert_eq!(st.path, format!("{THUMBS}/b/status"));
        let status = status_of(&st);
        assert_eq!(status["phase"], "Pending", "{status}");
        assert_eq!(status["reason"], "Queued");
        s.expect_silence().await;
    })
    .await
    .unwrap();
    assert_eq!(ctx.executor.active().await.unwrap(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A run is held to the location recorded in status.runOutput when it started, not to
/// one recomputed now: an operator upgraded while a run went on (with another key
/// scheme) still accepts the run's result where that run was told to write, and refuses
/// the key it would compute today.
#[tokio::test]
async fn a_run_is_held_to_the_location_recorded_when_it_started() {
    let recorded = "thumbnails/media/cat/recorded-by-an-older-operator.webp";
    for (reported, phase) in [
        (recorded.to_string(), "Succeeded"),
        (String::new(), "Failed"),
    ] {
        let (ctx, server) = context(4, &[]).await;
        let (mut thumb, run) = processing_cat();
        let computed = crate::naming::output_key(&thumb, 1);
        let reported = if reported.is_empty() {
            computed
        } else {
            reported
        };
        let status = thumb.status.as_mut().unwrap();
        status.run_output = Some(thumbnail_api::crd::OutputLocation {
            bucket: "thumbs".into(),
            key: recorded.into(),
        });
        let result =
            crate::invocation::tests_support::success_json("thumbs", &reported, 256, 171, 10);
        let r = run.clone();
        run_reconcile(thumb, ctx, server, move |mut s| async move {
            let done = job(
                &r,
                json!({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}),
            );
            s.answer(StatusCode::OK, done).await;
            s.answer(StatusCode::OK, pod_list(0, &result, "Completed"))
                .await;
            let st = s.answer(StatusCode::OK, any_thumbnail()).await;
            let status = status_of(&st);
            assert_eq!(status["phase"], phase, "{status}");
            if phase == "Succeeded" {
                assert_eq!(status["output"]["key"], recorded, "{status}");
            } else {
                assert_eq!(status["reason"], "UnexpectedOutput", "{status}");
            }
            s.expect_silence().await;
        })
        .await
        .unwrap();
    }
}

/// Issue 14: the Thumbnail that takes a free slot takes the next waiting ones of its
/// namespace (up to the batch size, oldest first) into one run: one Job that each of
/// them owns, with one item per Thumbnail, recorded in each one's status at once.
#[tokio::test]
async fn a_free_slot_starts_one_run_for_the_next_waiting_thumbnails_of_the_namespace() {
    let a = thumbnail("a", 1, "2026-11-28T09:00:00Z", None);
    let b = thumbnail("b", 1, "2026-11-28T09:01:00Z", None);
    let c = thumbnail("c", 1, "2026-11-28T09:02:00Z", None);
    // Beyond the batch size of three.
    let d = thumbnail("d", 1, "2026-11-28T09:03:00Z", None);
    // Older than b, but of another namespace: a batch is one namespace's.
    let mut elsewhere = thumbnail("e", 1, "2026-11-28T09:00:30Z", None);
    elsewhere.metadata.namespace = Some("elsewhere".into());
    // Older than b, but its source is not one this namespace may read: not taken.
    let mut refused = thumbnail("r", 1, "2026-11-28T09:00:40Z", None);
    refused.spec.source.s3.bucket = Some("payroll".into());
    let all = [a.clone(), b, c, d, elsewhere, refused];
    let (ctx, server, _wakes) = context_with(batch_config(1, 3), &all).await;
    let keys: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|n| crate::naming::output_key(&thumbnail(n, 1, "2026-11-28T09:00:00Z", None), 1))
        .collect();
    run_reconcile(a, ctx, server, move |mut s| async move {
        s.answer(StatusCode::OK, job_list(vec![])).await;
        let applied = s.answer(StatusCode::CREATED, job("a-b1", json!({}))).await;
        assert!(
            applied.path.starts_with(&format!("{JOBS}/a-b")),
            "{}",
            applied.path
        );
        let run = applied
            .path
            .rsplit('/')
            .next()
            .unwrap()
            .split('?')
            .next()
            .unwrap()
            .to_string();
        let owners = applied.body["metadata"]["ownerReferences"]
            .as_array()
            .unwrap()
            .clone();
        let names: Vec<&str> = owners.iter().map(|o| o["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        let controllers: Vec<bool> = owners.iter().map(|o| o["controller"] == true).collect();
        assert_eq!(
            controllers,
            [true, false, false],
            "one controller: the head"
        );
        let args = applied.body["spec"]["template"]["spec"]["containers"][0]["args"].clone();
        let batch = args
            .as_array()
            .unwrap()
            .iter()
            .find_map(|a| a.as_str().unwrap().strip_prefix("--batch="))
            .expect("a --batch argument");
        let items: Value = serde_json::from_str(batch).unwrap();
        let outputs: Vec<&str> = items
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["output"]["key"].as_str().unwrap())
            .collect();
        assert_eq!(outputs, keys.iter().map(String::as_str).collect::<Vec<_>>());
        for (item, name) in ["a", "b", "c"].iter().enumerate() {
            let st = s.answer(StatusCode::OK, any_thumbnail()).await;
            assert_eq!(st.path, format!("{THUMBS}/{name}/status"));
            let status = status_of(&st);
            assert_eq!(status["phase"], "Processing");
            assert_eq!(status["jobName"], run.as_str());
            assert_eq!(status["runItem"], item);
            assert_eq!(status["runOutput"]["key"], keys[item].as_str());
        }
        s.expect_silence().await;
    })
    .await
    .unwrap();
}

/// A member of a batch takes its own entry of the run's result: a success at the
/// location recorded for it, a permanent failure as its own, a transient one back to
/// the queue to run alone — whatever the other entries say.
#[tokio::test]
async fn each_member_of_a_batch_takes_its_own_entry_of_the_result() {
    use thumbnail_api::contract::{BatchItemResult, BatchResult, Failure, ItemSuccess, Timings};
    let run = "a-b00000001";
    let result = BatchResult {
        items: vec![
            BatchItemResult::Success(ItemSuccess {
                width: 256,
                height: 171,
                bytes: 999,
                source_width: 1024,
                source_height: 684,
            }),
            BatchItemResult::Failure(Failure {
                reason: "CorruptImage".into(),
                message: "damaged".into(),
                transient: false,
            }),
            BatchItemResult::Failure(Failure {
                reason: "StoreUnavailable".into(),
                message: "timed out".into(),
                transient: true,
            }),
        ],
        downloads: 3,
        timings: Timings::default(),
    }
    .to_json();
    let expect = [
        ("Succeeded", "Succeeded"),
        ("Failed", "CorruptImage"),
        ("Pending", "Requeued"),
    ];
    // Events: a member's success is in its status alone (an Event per member would be
    // a write per Thumbnail at scale); what went wrong gets a Warning each.
    let events_expected: [&[(&str, &str)]; 3] = [
        &[],
        &[("Warning", "CorruptImage")],
        &[("Warning", "Requeued")],
    ];
    for (item, (phase, reason)) in expect.into_iter().enumerate() {
        let (ctx, server) = context(4, &[]).await;
        let events = server.1.clone();
        let mut status = processing(run);
        status["runItem"] = json!(item);
        status["runOutput"] = json!({"bucket": "thumbs", "key": format!("recorded/{item}.webp")});
        let thumb = thumbnail("cat", 1, "2026-11-28T10:00:00Z", Some(status));
        let result = result.clone();
        run_reconcile(thumb, ctx, server, move |mut s| async move {
            let mut done = job(
                run,
                json!({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}),
            );
            done["metadata"]["uid"] = json!("job-uid");
            s.answer(StatusCode::OK, done).await;
            s.answer(StatusCode::OK, pod_list(0, &result, "Completed"))
                .await;
            let st = s.answer(StatusCode::OK, any_thumbnail()).await;
            let status = status_of(&st);
            assert_eq!(
                (status["phase"].as_str(), status["reason"].as_str()),
                (Some(phase), Some(reason)),
                "item {item}: {status}"
            );
            match item {
                0 => {
                    assert_eq!(
                        status["output"]["key"], "recorded/0.webp",
                        "the recorded location"
                    );
                    assert_eq!(status["output"]["bytes"], 999);
                }
                2 => {
                    assert!(status.get("jobName").is_none(), "{status}");
                    assert!(status["message"]
                        .as_str()
                        .unwrap()
                        .contains("runs again on its own"));
                }
                _ => {}
            }
            s.expect_silence().await;
        })
        .await
        .unwrap();
        let events: Vec<(String, String)> = events
            .lock()
            .unwrap()
            .iter()
            .map(|e| {
                let field = |k: &str| e[k].as_str().unwrap_or_default().to_string();
                (field("type"), field("reason"))
            })
            .collect();
        let want: Vec<(String, String)> = events_expected[item]
            .iter()
            .map(|(t, r)| (t.to_string(), r.to_string()))
            .collect();
        assert_eq!(events, want, "item {item}");
    }
}

/// Requeued from a batch and waiting behind a full cap, a Thumbnail keeps its Requeued
/// status (no Queued written over it): that reason is what makes it run alone once
/// admitted. (Overwritten, the members of an OOM-killed batch ran in a new batch.)
#[tokio::test]
async fn a_requeued_thumbnail_waiting_for_a_slot_stays_requeued() {
    let requeued =
        json!({"phase": "Pending", "observedGeneration": 1, "reason": "Requeued", "message": "m"});
    let a = thumbnail("a", 1, "2026-11-28T09:00:00Z", Some(requeued));
    let b = thumbnail("b", 1, "2026-11-28T09:01:00Z", None);
    let (ctx, server, _wakes) = context_with(batch_config(1, 8), &[a.clone(), b]).await;
    let action = run_reconcile(a, ctx, server, |mut s| async move {
        s.answer(
            StatusCode::OK,
            job_list(vec![job("other-g1-1", json!({"active": 1}))]),
        )
        .await;
        s.expect_silence().await;
    })
    .await
    .unwrap();
    assert_eq!(
        format!("{action:?}"),
        format!(
            "{:?}",
            kube::runtime::controller::Action::requeue(Duration::from_secs(2))
        )
    );
}

/// Requeued from a batch, a Thumbnail runs alone (a Job of its own, not a batch),
/// even with others waiting behind it.
#[tokio::test]
async fn a_thumbnail_requeued_from_a_batch_runs_alone() {
    let requeued =
        json!({"phase": "Pending", "observedGeneration": 1, "reason": "Requeued", "message": "m"});
    let a = thumbnail("a", 1, "2026-11-28T09:00:00Z", Some(requeued));
    let b = thumbnail("b", 1, "2026-11-28T09:01:00Z", None);
    let (ctx, server, _wakes) = context_with(batch_config(1, 8), &[a.clone(), b]).await;
    run_reconcile(a, ctx, server, |mut s| async move {
        s.answer(StatusCode::OK, job_list(vec![])).await;
        let applied = s
            .answer(StatusCode::CREATED, job("a-g1-x", json!({})))
            .await;
        assert!(
            applied.path.starts_with(&format!("{JOBS}/a-g1-")),
            "{}",
            applied.path
        );
        let owners = applied.body["metadata"]["ownerReferences"]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(owners, 1);
        let st = s.answer(StatusCode::OK, any_thumbnail()).await;
        assert_eq!(st.path, format!("{THUMBS}/a/status"));
        assert!(status_of(&st).get("runItem").is_none());
        s.expect_silence().await;
    })
    .await
    .unwrap();
}

/// A batch killed at its memory limit left no result: each member goes back to the
/// queue (Requeued, naming what happened) to run alone, with a Warning Event saying so —
/// the status says Requeued only until the member runs again.
#[tokio::test]
async fn members_of_an_oom_killed_batch_are_requeued_with_an_event() {
    let run = "a-b00000001";
    let (ctx, server) = context(4, &[]).await;
    let mut status = processing(run);
    status["runItem"] = json!(1);
    status["runOutput"] = json!({"bucket": "thumbs", "key": "recorded/1.webp"});
    let thumb = thumbnail("cat", 1, "2026-11-28T10:00:00Z", Some(status));
    run_reconcile(thumb, ctx, server, move |mut s| async move {
        let mut failed = job(
            run,
            json!({"failed": 1, "conditions": [{"type": "Failed", "status": "True", "reason": "PodFailurePolicy"}]}),
        );
        failed["metadata"]["uid"] = json!("job-uid");
        s.answer(StatusCode::OK, failed).await;
        s.answer(StatusCode::OK, pod_list(137, "", "OOMKilled"))
            .await;
        let st = s.answer(StatusCode::OK, any_thumbnail()).await;
        let status = status_of(&st);
        assert_eq!(
            (status["phase"].as_str(), status["reason"].as_str()),
            (Some("Pending"), Some("Requeued")),
            "{status}"
        );
        let message = status["message"].as_str().unwrap();
        assert!(
            message.contains("OutOfMemory") && message.contains("runs again on its own"),
            "{message}"
        );
        // The Event follows the status write.
        let (request, send) = tokio::time::timeout(Duration::from_secs(5), s.0.next_request())
            .await
            .expect("an Event within 5 s")
            .expect("the client was dropped");
        assert!(request.uri().path().contains("/events"), "{}", request.uri());
        let bytes = request.into_body().collect_bytes().await.unwrap();
        let event: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            (event["type"].as_str(), event["reason"].as_str()),
            (Some("Warning"), Some("Requeued")),
            "{event}"
        );
        assert!(
            event["note"].as_str().unwrap().contains("runs again on its own"),
            "{event}"
        );
        send.send_response(Response::builder().status(201).body(Body::from(bytes.to_vec())).unwrap());
    })
    .await
    .unwrap();
}

/// The cache keeps what decisions read and drops the bookkeeping that made most of the
/// operator's memory at 10,000 Thumbnails (issue 14): managedFields and kubectl's
/// last-applied copy. Other annotations, labels, finalizers, spec and status stay.
#[test]
fn the_cache_keeps_a_thumbnail_without_its_bookkeeping() {
    let status = json!({"phase": "Pending", "observedGeneration": 1, "reason": "Queued"});
    let mut thumb = thumbnail("cat", 1, "2026-11-28T10:00:00Z", Some(status));
    let mut value = serde_json::to_value(&thumb).unwrap();
    value["metadata"]["managedFields"] = json!([{"manager": "kubectl", "operation": "Apply",
        "apiVersion": "thumbnails.dev/v1alpha1", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}]);
    value["metadata"]["annotations"] = json!({
        "kubectl.kubernetes.io/last-applied-configuration": "{\"kind\":\"Thumbnail\"}",
        "team.example/owner": "media",
    });
    value["metadata"]["labels"] = json!({"thumbnails.dev/group": "g"});
    thumb = serde_json::from_value(value).unwrap();
    let before = thumb.clone();
    super::slim(&mut thumb);
    assert!(thumb.metadata.managed_fields.is_none());
    let annotations = thumb.metadata.annotations.clone().unwrap();
    assert_eq!(
        annotations.keys().collect::<Vec<_>>(),
        ["team.example/owner"]
    );
    assert_eq!(thumb.metadata.labels, before.metadata.labels);
    assert_eq!(thumb.metadata.finalizers, before.metadata.finalizers);
    assert_eq!(
        serde_json::to_value(&thumb.spec).unwrap(),
        serde_json::to_value(&before.spec).unwrap()
    );
    assert_eq!(thumb.status, before.status);
}
