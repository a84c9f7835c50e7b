//! The controller end to end in local mode, all real: the operator binary watching the
//! real CRD API server, running the real resizer binary as child processes against the
//! real S3 server (SeaweedFS), driven with kubectl as a user would; and once through the
//! REST shim binary in front of it all (upload, then download the thumbnail).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;
use thumbnail_api::crd::{Phase, Thumbnail};
use thumbnail_testkit::http::curl;
use thumbnail_testkit::{
    self as testkit, corpus, free_port, kubectl_ok, workspace_bin, S3Env, SwitchableProxy,
};

/// A running operator in local mode; killed when dropped.
struct Operator {
    child: Child,
    log: PathBuf,
    metrics_port: u16,
}

impl Operator {
    fn start(
        ns: &str,
        s3_endpoint: &str,
        bucket: &str,
        max_running: usize,
        state: &std::path::Path,
    ) -> Operator {
        Operator::start_with(ns, s3_endpoint, bucket, max_running, state, &[])
    }

    /// [`Operator::start`] with more flags.
    fn start_with(
        ns: &str,
        s3_endpoint: &str,
        bucket: &str,
        max_running: usize,
        state: &std::path::Path,
        extra: &[&str],
    ) -> Operator {
        let log = state.join(format!(
            "operator-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(state).unwrap();
        let out = std::fs::File::create(&log).unwrap();
        let s3 = S3Env::from_env();
        let metrics_port = free_port();
        let child = Command::new(workspace_bin("thumbnail-operator"))
            .args(["--executor", "local", "--namespace", ns, "--bucket", bucket])
            // The tests' originals are put at <bucket>/originals/<file> by hand: an
            // administrator's rule allows them (the shim's own are always allowed).
            .args(["--source-allow", &format!("{ns}={bucket}/originals/")])
            .args(["--max-running", &max_running.to_string()])
            .args(extra)
            .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
            .arg("--resizer-bin")
            .arg(workspace_bin("resizer"))
            .arg("--local-state-dir")
            .arg(state)
            .args([
                "--local-backoff-base-ms",
                "300",
                "--job-backoff-limit",
                "4",
                "--job-deadline-seconds",
                "120",
            ])
            .env("KUBECONFIG", testkit::kube::kubeconfig_path())
            .env("S3_ENDPOINT", s3_endpoint)
            .env("AWS_ACCESS_KEY_ID", &s3.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &s3.secret_key)
            .env("RUST_LOG", "info,thumbnail_operator=debug,kube=warn")
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .expect("start the operator");
        Operator {
            child,
            log,
            metrics_port,
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What every scenario starts with: the CRD installed, a namespace and a bucket of its own.
struct Setup {
    client: kube::Client,
    ns: String,
    s3: S3Env,
    bucket: String,
}

impl Setup {
    async fn new(prefix: &str) -> Setup {
        let client = testkit::kube::client_with_crd().await;
        let s3 = S3Env::from_env();
        let bucket = s3.new_bucket(prefix).await;
        Setup {
            client,
            ns: testkit::kube::unique_namespace(prefix),
            s3,
            bucket,
        }
    }
}

fn manifest(name: &str, bucket: &str, key: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut spec = json!({"source": {"s3": {"bucket": bucket, "key": key}}});
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    json!({"apiVersion": "thumbnails.dev/v1alpha1", "kind": "Thumbnail", "metadata": {"name": name}, "spec": spec})
}

async fn apply(api: &Api<Thumbnail>, obj: &serde_json::Value) {
    let name = obj["metadata"]["name"].as_str().unwrap();
    api.patch(
        name,
        &PatchParams::apply("e2e-user").force(),
        &Patch::Apply(obj),
    )
    .await
    .unwrap();
}

/// Polls until the Thumbnail reaches a terminal phase for its current generation.
async fn wait_done(
    api: &Api<Thumbnail>,
    name: &str,
    op: &Operator,
    timeout: Duration,
) -> Thumbnail {
    let start = Instant::now();
    loop {
        let t = api.get(name).await.unwrap();
        let st = t.status.clone().unwrap_or_default();
        if st.observed_generation == t.metadata.generation
            && st.phase.is_some_and(Phase::is_terminal)
        {
            return t;
        }
        assert!(
            start.elapsed() < timeout,
            "{name} not finished after {timeout:?}: {st:?}\noperator log:\n{}",
            op.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_edit_and_delete_a_thumbnail() {
    let Setup {
        client,
        ns,
        s3,
        bucket,
    } = Setup::new("local").await;
    s3.put(
        &bucket,
        "originals/kleiber.jpg",
        corpus("j09_storm_1920x1280.jpg"),
    )
    .await;
    let state = tempdir("apply");
    let op = Operator::start(&ns, &s3.endpoint, &bucket, 2, &state);
    let api: Api<Thumbnail> = Api::namespaced(client, &ns);

    apply(
        &api,
        &manifest(
            "storm",
            &bucket,
            "originals/kleiber.jpg",
            json!({"width": 256}),
        ),
    )
    .await;
    let t = wait_done(&api, "storm", &op, Duration::from_secs(60)).await;
    let st = t.status.clone().unwrap();
    assert_eq!(st.phase, Some(Phase::Succeeded), "{st:?}");
    let out = st.output.clone().unwrap();
    assert_eq!((out.width, out.height), (256, 171));
    let bytes = s3.get(&bucket, &out.key).await;
    assert_eq!(bytes.len() as u64, out.bytes);
    assert_eq!(&bytes[..3], &[0xFF, 0xD8, 0xFF], "a JPEG");
    let table = kubectl_ok(&["get", "thumbnails", "-n", &ns]);
    println!("{table}");
    assert!(
        table.contains("Succeeded") && table.contains("256") && table.contains("171"),
        "{table}"
    );

    // Edit the spec: a new generation renders again and replaces the old object.
    apply(
        &api,
        &manifest(
            "storm",
            &bucket,
            "originals/kleiber.jpg",
            json!({"width": 100, "height": 100, "fit": "cover", "format": "webp"}),
        ),
    )
    .await;
    let t2 = wait_done(&api, "storm", &op, Duration::from_secs(60)).await;
    let out2 = t2.status.unwrap().output.unwrap();
    assert_eq!(
        (out2.width, out2.height, out2.content_type.as_str()),
        (100, 100, "image/webp")
    );
    assert_ne!(out2.key, out.key);
    assert_eq!(&s3.get(&bucket, &out2.key).await[8..12], b"WEBP");
    assert!(
        !s3.exists(&bucket, &out.key).await,
        "the old generation's thumbnail is removed"
    );

    // Delete: the finalizer removes the thumbnail; the original stays (the user owns it).
    api.delete("storm", &DeleteParams::default()).await.unwrap();
    let start = Instant::now();
    while api.get_opt("storm").await.unwrap().is_some() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "not deleted:\n{}",
            op.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!s3.exists(&bucket, &out2.key).await);
    assert!(s3.exists(&bucket, "originals/kleiber.jpg").await);
}

#[tokio::test(flavor = "multi_thread")]
async fn corrupt_input_fails_once_with_the_resizers_reason() {
    let Setup {
        client,
        ns,
        s3,
        bucket,
    } = Setup::new("corrupt").await;
    s3.put(
        &bucket,
        "originals/notes.jpg",
        b"these are my notes, not a photo".to_vec(),
    )
    .await;
    let mut truncated = corpus("j09_storm_1920x1280.jpg");
    truncated.truncate(4000);
    s3.put(&bucket, "originals/truncated.jpg", truncated).await;
    let state = tempdir("corrupt");
    let op = Operator::start(&ns, &s3.endpoint, &bucket, 2, &state);
    let api: Api<Thumbnail> = Api::namespaced(client, &ns);
    apply(
        &api,
        &manifest(
            "notes",
            &bucket,
            "originals/notes.jpg",
            json!({"width": 64}),
        ),
    )
    .await;
    let t = wait_done(&api, "notes", &op, Duration::from_secs(30)).await;
    let st = t.status.unwrap();
    assert_eq!(st.phase, Some(Phase::Failed));
    assert_eq!(st.reason.as_deref(), Some("NotAnImage"), "{st:?}");
    // Permanent: tried once, not retried.
    assert!(!op.log().contains("retrying"), "{}", op.log());
    // Stays failed: nothing more happens until the spec changes.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        api.get("notes")
            .await
            .unwrap()
            .status
            .unwrap()
            .completion_time,
        st.completion_time
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn store_outage_during_processing_is_retried_then_succeeds() {
    let Setup {
        client,
        ns,
        s3,
        bucket,
    } = Setup::new("outage").await;
    s3.put(
        &bucket,
        "originals/storm.jpg",
        corpus("j09_storm_1920x1280.jpg"),
    )
    .await;
    let proxy = SwitchableProxy::start(s3.socket_addr()).await.unwrap();
    proxy.set_up(false);
    let state = tempdir("outage");
    let op = Operator::start(&ns, &format!("http://{}", proxy.addr), &bucket, 2, &state);
    let api: Api<Thumbnail> = Api::namespaced(client, &ns);
    apply(
        &api,
        &manifest(
            "storm",
            &bucket,
            "originals/storm.jpg",
            json!({"width": 128}),
        ),
    )
    .await;
    // Let at least one attempt fail on the unreachable store, then bring it back.
    let start = Instant::now();
    while !op.log().contains("retrying") {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no failed attempt seen:\n{}",
            op.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    proxy.set_up(true);
    let t = wait_done(&api, "storm", &op, Duration::from_secs(60)).await;
    let st = t.status.unwrap();
    assert_eq!(st.phase, Some(Phase::Succeeded), "{st:?}\n{}", op.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn operator_killed_mid_flight_finishes_after_restart_without_duplicates() {
    let Setup {
        client,
        ns,
        s3,
        bucket,
    } = Setup::new("restart").await;
    // The largest photo, so the run is still going when the operator is killed.
    s3.put(
        &bucket,
        "originals/elephants.jpg",
        corpus("j02_elephants_5640x3172_prog.jpg"),
    )
    .await;
    let state = tempdir("restart");
    let mut op = Operator::start(&ns, &s3.endpoint, &bucket, 2, &state);
    let api: Api<Thumbnail> = Api::namespaced(client, &ns);
    apply(
        &api,
        &manifest(
            "elephants",
            &bucket,
            "originals/elephants.jpg",
            json!({"width": 1024, "format": "png"}),
        ),
    )
    .await;
    let start = Instant::now();
    loop {
        let phase = api
            .get("elephants")
            .await
            .unwrap()
            .status
            .and_then(|s| s.phase);
        if phase == Some(Phase::Processing) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "never Processing:\n{}",
            op.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    op.kill();
    let finished_before_kill = std::fs::read_dir(state.join(&ns))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().ends_with(".outcome.json"))
        })
        .unwrap_or(false);
    assert!(
        !finished_before_kill,
        "the run finished before the operator was killed; the test proves nothing"
    );
    let op = Operator::start(&ns, &s3.endpoint, &bucket, 2, &state);
    let t = wait_done(&api, "elephants", &op, Duration::from_secs(90)).await;
    let st = t.status.unwrap();
    assert_eq!(st.phase, Some(Phase::Succeeded), "{st:?}\n{}", op.log());
    let keys = s3.list(&bucket, "thumbnails/").await;
    assert_eq!(
        keys,
        vec![st.output.unwrap().key],
        "exactly one thumbnail stored"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn many_thumbnails_respect_the_running_cap() {
    const N: usize = 50;
    const CAP: usize = 3;
    let Setup {
        client,
        ns,
        s3,
        bucket,
    } = Setup::new("many").await;
    s3.put(
        &bucket,
        "originals/astronaut.png",
        corpus("p01_astronaut_512x512.png"),
    )
    .await;
    let api: Api<Thumbnail> = Api::namespaced(client, &ns);
    for i in 0..N {
        apply(
            &api,
            &manifest(
                &format!("a{i:02}"),
                &bucket,
                "originals/astronaut.png",
                json!({"width": 32 + i}),
            ),
        )
        .await;
    }
    // The operator starts on a backlog of N, so that it has more work than the cap from
    // its first admission on.
    let state = tempdir("many");
    // One Thumbnail per run, so that the cap is on resizer processes: batches and the cap
    // together are the batch test's.
    let op = Operator::start_with(
        &ns,
        &s3.endpoint,
        &bucket,
        CAP,
        &state,
        &["--batch-size", "1"],
    );
    let resizers = PeakChildren::watch(&op, "resizer");
    let start = Instant::now();
    loop {
        let list = api.list(&Default::default()).await.unwrap();
        let done = list
            .items
            .iter()
            .filter(|t| t.status.as_ref().and_then(|s| s.phase) == Some(Phase::Succeeded))
            .count();
        if done == N {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "{done}/{N} done after 180 s:\n{}",
            op.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let peak = resizers.peak();
    assert!(peak <= CAP, "{peak} resizers ran at once, cap is {CAP}");
    assert!(
        peak >= 2,
        "the cap was never used ({peak}); the test proves nothing"
    );
    assert_eq!(s3.list(&bucket, "thumbnails/").await.len(), N);
}

/// The most children of one name the operator had at once, watched by a thread of its own
/// that looks every millisecond (a run takes a few tens of ms; a test's loop that also
/// lists Thumbnails looks too seldom to see runs overlap).
struct PeakChildren {
    watching: Arc<AtomicBool>,
    watcher: std::thread::JoinHandle<usize>,
}

impl PeakChildren {
    fn watch(op: &Operator, name: &'static str) -> PeakChildren {
        let pid = op.child.id();
        let watching = Arc::new(AtomicBool::new(true));
        let watcher = std::thread::spawn({
            let watching = watching.clone();
            move || {
                let mut peak = 0;
                while watching.load(Ordering::Relaxed) {
                    peak = peak.max(children_named(pid, name));
                    std::thread::sleep(Duration::from_millis(1));
                }
                peak
            }
        });
        PeakChildren { watching, watcher }
    }

    /// Stops watching; the peak seen.
    fn peak(self) -> usize {
        self.watching.store(false, Ordering::Relaxed);
        self.watcher.join().unwrap()
    }
}

fn children_named(parent: u32, name: &str) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            // pid (comm) state ppid ...
            let Some(close) = stat.rfind(')') else {
                return false;
            };
            let comm = &stat[stat.find('(').unwrap_or(0) + 1..close];
            let ppid = stat[close + 2..]
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u32>().ok());
            comm == name && ppid == Some(parent)
        })
        .count()
}

fn tempdir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(testkit::kube::unique_namespace(&format!(
        "thumbop-{prefix}"
    )));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The seed's whole path through real binaries: upload through the REST shim, the
/// operator runs the resizer, the status says success, the download is the thumbnail;
/// metrics count it; deleting through the shim removes the stored objects.
#[tokio::test(flavor = "multi_thread")]
async fn upload_through_the_shim_then_download_the_thumbnail() {
    let Setup { ns, s3, bucket, .. } = Setup::new("shim").await;
    let state = tempdir("shim");
    let op = Operator::start(&ns, &s3.endpoint, &bucket, 2, &state);
    let shim = ShimProcess::start(&ns, &s3, &bucket, &state).await;

    let created = shim.upload(
        "d02_path_2560x1600_orient6.jpg",
        &["width=200", "format=webp"],
    );
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["status"], "uploaded");

    let start = Instant::now();
    let status = loop {
        let (_, v) = shim.get(&format!("/api/v1/thumbnails/{id}"));
        if v["status"] == "success" || v["status"] == "error" {
            break v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "not done: {v}\n{}",
            op.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status["status"], "success", "{status}");
    // EXIF orientation 6: the landscape-stored photo comes out portrait.
    assert_eq!(
        (
            status["output"]["width"].as_u64(),
            status["output"]["height"].as_u64()
        ),
        (Some(200), Some(320)),
        "{status}"
    );
    let download = link(&status, "download");
    let file = state.join("thumb.webp");
    let (code, _) = curl(&["-o", file.to_str().unwrap(), &download]);
    assert_eq!(code, "200");
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(&bytes[8..12], b"WEBP");
    assert_eq!(
        bytes.len() as u64,
        status["output"]["bytes"].as_u64().unwrap()
    );

    // The operator's metrics count the run.
    let (code, metrics) = curl(&[&format!("http://127.0.0.1:{}/metrics", op.metrics_port)]);
    assert_eq!(code, "200");
    assert!(
        metrics
            .contains("thumbnail_runs_finished_total{phase=\"Succeeded\",reason=\"Succeeded\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("thumbnail_reconcile_duration_seconds_count"),
        "{metrics}"
    );
    let (code, _) = curl(&[&format!("http://127.0.0.1:{}/healthz", op.metrics_port)]);
    assert_eq!(code, "200");

    // The Thumbnail is visible to kubectl users too.
    let table = kubectl_ok(&["get", "thumbnails", "-n", &ns]);
    assert!(
        table.contains(&id) && table.contains("Succeeded"),
        "{table}"
    );

    // Delete through the shim: the finalizer removes the thumbnail and the original.
    let code = shim.delete(&format!("/api/v1/thumbnails/{id}"));
    assert!(code == "202" || code == "204", "{code}");
    let start = Instant::now();
    while !s3.list(&bucket, "").await.is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "left in the store: {:?}",
            s3.list(&bucket, "").await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Issue 14: a few hundred Thumbnails through batched runs, with failures mixed in — a
/// corrupt file, a missing source, and the store going away while batches run — each
/// ends right (the good ones succeed, after running again alone when the outage hit
/// their item; the bad ones fail with their own reason, the others of their batch
/// unharmed), with exactly one stored thumbnail each, and never more runs at once
/// than the cap: a batch takes one slot.
#[tokio::test(flavor = "multi_thread")]
async fn batched_runs_with_failures_mixed_in_end_every_thumbnail_right() {
    const N: usize = 240;
    const CAP: usize = 2;
    let Setup {
        client,
        ns,
        s3,
        bucket,
    } = Setup::new("batches").await;
    s3.put(
        &bucket,
        "originals/astronaut.png",
        corpus("p01_astronaut_512x512.png"),
    )
    .await;
    s3.put(
        &bucket,
        "originals/storm.jpg",
        corpus("j09_storm_1920x1280.jpg"),
    )
    .await;
    s3.put(
        &bucket,
        "originals/corrupt.jpg",
        b"\xff\xd8\xff\xe0 not really a jpeg".to_vec(),
    )
    .await;
    let proxy = SwitchableProxy::start(s3.socket_addr()).await.unwrap();
    let state = tempdir("batches");
    let op = Operator::start_with(
        &ns,
        &format!("http://{}", proxy.addr),
        &bucket,
        CAP,
        &state,
        &["--batch-size", "16"],
    );
    let api: Api<Thumbnail> = Api::namespaced(client, &ns);
    // Every 20th corrupt, every 20th (offset 10) missing, the rest real photos in
    // several sizes each (items of one batch share a source's download and decode).
    let source = |i: usize| match i % 20 {
        0 => "originals/corrupt.jpg",
        10 => "originals/missing.jpg",
        n if n % 2 == 0 => "originals/astronaut.png",
        _ => "originals/storm.jpg",
    };
    for i in 0..N {
        apply(
            &api,
            &manifest(
                &format!("t{i:03}"),
                &bucket,
                source(i),
                json!({"width": 16 + i % 64, "format": "webp"}),
            ),
        )
        .await;
    }
    let resizers = PeakChildren::watch(&op, "resizer");
    let mut outage_done = false;
    let start = Instant::now();
    loop {
        let list = api.list(&Default::default()).await.unwrap();
        let finished = list
            .items
            .iter()
            .filter(|t| {
                let s = t.status.clone().unwrap_or_default();
                s.observed_generation == t.metadata.generation
                    && s.phase.is_some_and(Phase::is_terminal)
            })
            .count();
        // The store goes away once the first batches are through, until an item of a
        // batch has failed for it and gone back to the queue: runs keep starting
        // meanwhile (most Thumbnails still wait), so the outage hits a batch however
        // fast runs are. (A fixed 1.5 s outage often fell between two batches.)
        if !outage_done && finished >= N / 8 {
            proxy.set_up(false);
            let down = Instant::now();
            while !op.log().contains("requeued from its batch") {
                assert!(
                    down.elapsed() < Duration::from_secs(60),
                    "no batch item went back to the queue during a 60 s store outage:\n{}",
                    op.log()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            proxy.set_up(true);
            outage_done = true;
        }
        if finished == N {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "{finished}/{N} finished after 300 s:\n{}",
            op.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let peak = resizers.peak();
    assert!(peak <= CAP, "{peak} resizers ran at once, cap is {CAP}");
    let list = api.list(&Default::default()).await.unwrap();
    let mut outputs = Vec::new();
    let mut batched = 0;
    for t in &list.items {
        let name = t.metadata.name.clone().unwrap();
        let i: usize = name[1..].parse().unwrap();
        let st = t.status.clone().unwrap();
        let want = match i % 20 {
            0 => (Phase::Failed, "CorruptImage"),
            10 => (Phase::Failed, "SourceNotFound"),
            _ => (Phase::Succeeded, "Succeeded"),
        };
        assert_eq!(
            (st.phase, st.reason.as_deref()),
            (Some(want.0), Some(want.1)),
            "{name}: {:?}",
            st.message
        );
        batched += usize::from(st.run_item.is_some());
        if let Some(o) = st.output {
            assert_eq!(o.bucket, bucket);
            outputs.push(o.key);
        }
    }
    assert!(
        batched >= N / 2,
        "only {batched} of {N} ran in batches: the test proves nothing"
    );
    assert!(
        op.log().contains("requeued from its batch"),
        "the outage hit no batch item: the test proves nothing\n{}",
        op.log()
    );
    // Exactly one thumbnail per success, and nothing else.
    outputs.sort();
    let mut stored = s3.list(&bucket, "thumbnails/").await;
    stored.sort();
    assert_eq!(stored, outputs);
    assert_eq!(outputs.len(), N - 2 * N / 20);
}

/// The shim binary serving `ns` and `bucket` on a free loopback port; killed when
/// dropped.
struct ShimProcess {
    child: Child,
    base: String,
    log: PathBuf,
}

impl ShimProcess {
    async fn start(ns: &str, s3: &S3Env, bucket: &str, state: &std::path::Path) -> ShimProcess {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let log = state.join("shim.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(workspace_bin("api-shim"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args([
                "--namespace",
                ns,
                "--bucket",
                bucket,
                "--public-base-url",
                &base,
            ])
            .env("KUBECONFIG", testkit::kube::kubeconfig_path())
            .env("S3_ENDPOINT", &s3.endpoint)
            .env("AWS_ACCESS_KEY_ID", &s3.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &s3.secret_key)
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .unwrap();
        let shim = ShimProcess { child, base, log };
        let start = Instant::now();
        while curl(&[&format!("{}/readyz", shim.base)]).0 != "200" {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "shim not ready: {}",
                std::fs::read_to_string(&shim.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        shim
    }

    fn get(&self, path: &str) -> (String, serde_json::Value) {
        let (code, body) = curl(&[&format!("{}{path}", self.base)]);
        (
            code,
            serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
        )
    }

    /// Uploads the corpus photo `photo` with the text fields `fields` (`name=value`, as
    /// curl's `-F` takes them), the file first as the tests always sent it; the shim
    /// must accept it (202). Its answer: a thumbnail's `{id, status, links}`, or with
    /// `sizes` a group's `{group, status, thumbnails, links}`.
    fn upload(&self, photo: &str, fields: &[&str]) -> serde_json::Value {
        let file = format!(
            "file=@{}/{photo}",
            thumbnail_testkit::required_env("THUMBNAIL_CORPUS")
        );
        let url = format!("{}/api/v1/thumbnails", self.base);
        let mut args = vec!["-F", file.as_str()];
        for field in fields {
            args.extend(["-F", field]);
        }
        args.push(&url);
        let (code, body) = curl(&args);
        assert_eq!(code, "202", "upload of {photo} with {fields:?}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// DELETE `path`; the status code.
    fn delete(&self, path: &str) -> String {
        curl(&["-X", "DELETE", &format!("{}{path}", self.base)]).0
    }
}

impl Drop for ShimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The href of `view`'s link `rel` (a thumbnail's or a group's answer).
fn link(view: &serde_json::Value, rel: &str) -> String {
    view["links"]
        .as_array()
        .and_then(|links| links.iter().find(|l| l["rel"] == rel))
        .and_then(|l| l["href"].as_str())
        .unwrap_or_else(|| panic!("no {rel} link in {view}"))
        .to_string()
}

/// Issue 14: several sizes from one upload, through the shim binary, the operator in
/// local mode and the real resizer: every size is made right from the one stored
/// original; deleting the thumbnails one by one keeps the original until the last one
/// is gone, and then nothing is left in the store.
#[tokio::test(flavor = "multi_thread")]
async fn several_sizes_from_one_upload_share_the_original_until_the_last_is_deleted() {
    let Setup { ns, s3, bucket, .. } = Setup::new("sizes").await;
    let state = tempdir("sizes");
    let op = Operator::start(&ns, &s3.endpoint, &bucket, 2, &state);
    let shim = ShimProcess::start(&ns, &s3, &bucket, &state).await;

    // 2560x1600: 128 wide is 128x80; 200x200 cover is exact; 100 high is 160x100.
    let accepted = shim.upload(
        "j06_fallenleaf_2560x1600.jpg",
        &["sizes=128,200x200:cover:png,x100:avif", "format=webp"],
    );
    let (group, ids) = thumbnail_testkit::http::accepted_group(&accepted);
    assert_eq!(ids.len(), 3, "{accepted}");
    let original = thumbnail_api::ownership::shim_original_key(&ns, &group);
    assert_eq!(
        s3.list(&bucket, "originals/").await,
        std::slice::from_ref(&original)
    );

    let start = Instant::now();
    let view = loop {
        let (code, v) = shim.get(&format!("/api/v1/groups/{group}"));
        assert_eq!(code, "200", "{v}");
        if v["status"] == "success" || v["status"] == "error" {
            break v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "group not done: {v}\n{}",
            op.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(view["status"], "success", "{view}\n{}", op.log());
    assert_eq!(
        view["counts"],
        json!({"uploaded": 0, "processing": 0, "success": 3, "error": 0})
    );
    let made: Vec<_> = view["thumbnails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_string(),
                t["output"]["width"].as_u64(),
                t["output"]["height"].as_u64(),
                t["output"]["contentType"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        made,
        [
            (
                ids[0].clone(),
                Some(128),
                Some(80),
                "image/webp".to_string()
            ),
            (
                ids[1].clone(),
                Some(200),
                Some(200),
                "image/png".to_string()
            ),
            (
                ids[2].clone(),
                Some(160),
                Some(100),
                "image/avif".to_string()
            ),
        ]
    );
    // The bytes are the thumbnails: a PNG of the cover size.
    let file = state.join("member.png");
    let (code, _) = curl(&[
        "-o",
        file.to_str().unwrap(),
        &format!("{}/api/v1/thumbnails/{}/download", shim.base, ids[1]),
    ]);
    assert_eq!(code, "200");
    let png = std::fs::read(&file).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    assert_eq!(
        (
            u32::from_be_bytes(png[16..20].try_into().unwrap()),
            u32::from_be_bytes(png[20..24].try_into().unwrap())
        ),
        (200, 200)
    );

    // Deleted one by one, each gone for good (its finalizer done) before the next.
    let api: Api<Thumbnail> = Api::namespaced(testkit::kube::client_with_crd().await, &ns);
    for (n, id) in ids.iter().enumerate() {
        let code = shim.delete(&format!("/api/v1/thumbnails/{id}"));
        assert_eq!(code, "204");
        let start = Instant::now();
        while api.get_opt(id).await.unwrap().is_some() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{id} not deleted\n{}",
                op.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let last = n == ids.len() - 1;
        assert_eq!(
            s3.exists(&bucket, &original).await,
            !last,
            "after deleting {} of {} thumbnails\n{}",
            n + 1,
            ids.len(),
            op.log()
        );
    }
    assert!(
        s3.list(&bucket, "").await.is_empty(),
        "left in the store: {:?}",
        s3.list(&bucket, "").await
    );
    let (code, _) = shim.get(&format!("/api/v1/groups/{group}"));
    assert_eq!(code, "404");
}
