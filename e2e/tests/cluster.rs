//! Kubernetes mode on a real Kubernetes node (hack/cluster.sh, started by `make test`):
//! the chart installed by helm with its default values into a namespace that enforces the
//! `restricted` Pod Security standard, the images of this build, the real Job controller,
//! kubelet, garbage collector and kube-proxy. Driven as users drive it: HTTP to the shim's
//! NodePort, kubectl, helm.

use std::time::{Duration, Instant};

use serde_json::Value;
use thumbnail_testkit::cluster::{
    chart_dir, helm, kubectl, kubectl_ok, wait_until, Release, RELEASE,
};
use thumbnail_testkit::http::{curl, get_json};
use thumbnail_testkit::required_env;

/// Generous: the images hold debug builds, and two tests share two cores.
const DONE_WITHIN: Duration = Duration::from_secs(180);

fn corpus_file(name: &str) -> String {
    format!("{}/{name}", required_env("THUMBNAIL_CORPUS"))
}

/// Uploads a file through the shim; returns the new id.
fn upload(shim: &str, file: &str, fields: &[&str]) -> String {
    let mut args = vec!["-F".to_string(), format!("file=@{file}")];
    for f in fields {
        args.extend(["-F".to_string(), f.to_string()]);
    }
    args.push(format!("{shim}/api/v1/thumbnails"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, body) = curl(&args);
    assert_eq!(code, "202", "upload of {file}: {body}");
    let created: Value = serde_json::from_str(&body).unwrap();
    created["id"].as_str().expect("an id").to_string()
}

/// Polls the shim until the thumbnail is `success` or `error`.
fn wait_finished(shim: &str, id: &str, release: &Release) -> Value {
    wait_finished_at(&format!("{shim}/api/v1/thumbnails/{id}"), release)
}

/// Polls a shim resource with a status (a thumbnail, a group) until it is `success` or
/// `error`.
fn wait_finished_at(url: &str, release: &Release) -> Value {
    let start = std::time::Instant::now();
    loop {
        let last = get_json(url);
        if last["status"] == "success" || last["status"] == "error" {
            return last;
        }
        assert!(
            start.elapsed() < DONE_WITHIN,
            "{url} not finished: {last}\n{}\noperator log:\n{}",
            release.describe(),
            release.operator_log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The href of a hypermedia link, as given.
fn link_href(status: &Value, rel: &str) -> String {
    status["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == rel)
        .unwrap_or_else(|| panic!("no {rel} link in {status}"))["href"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The path of a hypermedia link.
fn link_path(status: &Value, rel: &str) -> String {
    let href = link_href(status, rel);
    let after_scheme = href.split_once("://").map_or(href.as_str(), |(_, r)| r);
    after_scheme[after_scheme.find('/').unwrap()..].to_string()
}

/// The leading operator replica's metrics.
fn metrics(release: &Release) -> String {
    metrics_at(&release.operator_metrics_url())
}

fn metrics_at(base: &str) -> String {
    let (code, body) = curl(&[&format!("{base}/metrics")]);
    assert_eq!(code, "200", "{body}");
    body
}

/// The value of an unlabelled sample, e.g. `thumbnail_queue_length`.
fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no sample {name} in:\n{metrics}"))
}

fn jobs_of(release: &Release, id: &str) -> Vec<String> {
    // Any owner, not the first: a batch's Job is owned by each of its members.
    let list: Value = serde_json::from_str(&kubectl_ok(&[
        "get",
        "jobs",
        "-n",
        &release.namespace,
        "-o",
        "json",
    ]))
    .unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|job| {
            job["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|owners| owners.iter().any(|o| o["name"] == id))
        })
        .map(|job| job["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

fn pods_of_job(release: &Release, job: &str) -> Vec<String> {
    kubectl_ok(&[
        "get",
        "pods",
        "-n",
        &release.namespace,
        "-l",
        &format!("batch.kubernetes.io/job-name={job}"),
        "-o",
        "name",
    ])
    .lines()
    .map(str::to_string)
    .collect()
}

/// What a platform team sees first: the chart with its defaults in a `restricted`
/// namespace; photos uploaded through the NodePort become thumbnails made by Jobs, listed
/// by kubectl and downloadable; the operator's ServiceAccount may do exactly what
/// api::rbac says; the gauges return to zero; deleting through the shim removes the
/// Thumbnail, its Job and both stored objects, without an error counted.
#[test]
fn the_chart_with_its_defaults_serves_uploads_end_to_end() {
    let release = Release::install("chart", &[]);
    let ns = release.namespace.clone();
    let shim = release.shim_url();

    let uploads = [
        ("j09_storm_1920x1280.jpg", "width=256", (256, 171)),
        ("p03_goldfish_3640x2400_rgba.png", "width=200", (200, 132)),
        ("d02_path_2560x1600_orient6.jpg", "height=160", (100, 160)),
    ];
    let ids: Vec<String> = uploads
        .iter()
        .map(|(file, size, _)| upload(&shim, &corpus_file(file), &[size]))
        .collect();
    let store = release.bundled_store();
    let rt = tokio::runtime::Runtime::new().unwrap();
    for (id, (file, _, size)) in ids.iter().zip(uploads) {
        let status = wait_finished(&shim, id, &release);
        assert_eq!(status["status"], "success", "{file}: {status}");
        let output = &status["output"];
        assert_eq!(
            (output["width"].as_u64(), output["height"].as_u64()),
            (Some(size.0), Some(size.1)),
            "{file}: {status}"
        );
        let download = link_path(&status, "download");
        let file = std::env::temp_dir().join(format!("{ns}-{id}"));
        let (code, body) = curl(&["-o", file.to_str().unwrap(), &format!("{shim}{download}")]);
        assert_eq!(code, "200", "download of {id}: {body}");
        let bytes = std::fs::read(&file).unwrap();
        std::fs::remove_file(&file).ok();
        assert_eq!(
            Some(bytes.len() as u64),
            output["bytes"].as_u64(),
            "{status}"
        );
        // One Job, one Pod: it passed `restricted` admission and ran to completion.
        let jobs = jobs_of(&release, id);
        assert_eq!(jobs.len(), 1, "{jobs:?}\n{}", release.describe());
        assert_eq!(pods_of_job(&release, &jobs[0]).len(), 1);
    }
    let table = kubectl_ok(&["get", "thumbnails", "-n", &ns]);
    assert_eq!(table.matches("Succeeded").count(), 3, "{table}");
    assert!(table.contains("256") && table.contains("171"), "{table}");

    // Least privilege, checked by the API server's own authoriser.
    let sa = format!("system:serviceaccount:{ns}:{RELEASE}");
    for perm in thumbnail_api::rbac::OPERATOR {
        let (resource, sub) = perm.resource.split_once('/').unwrap_or((perm.resource, ""));
        let mut resource = match perm.group {
            "" => resource.to_string(),
            group => format!("{resource}.{group}"),
        };
        // Permissions limited by name hold for the operator's own objects: the Thumbnail
        // CRD (the one cluster-scoped permission) and its Lease (named like the release).
        if perm.by_name {
            match perm.resource {
                "customresourcedefinitions" => resource.push_str("/thumbnails.thumbnails.dev"),
                "leases" => resource.push_str(&format!("/{RELEASE}")),
                other => panic!("which {other} is the operator's own? add it here"),
            }
        }
        for verb in perm.verbs {
            let mut args = vec!["auth", "can-i", verb, &resource, "-n", &ns, "--as", &sa];
            let subresource = format!("--subresource={sub}");
            if !sub.is_empty() {
                args.push(&subresource);
            }
            let out = kubectl(&args);
            assert_eq!(
                String::from_utf8_lossy(&out.stdout).trim(),
                "yes",
                "the operator may {verb} {resource} {sub} (api::rbac::OPERATOR)"
            );
        }
    }
    for (verb, resource, namespace) in [
        ("get", "secrets", ns.as_str()),
        ("delete", "pods", ns.as_str()),
        ("create", "pods", ns.as_str()),
        ("update", "thumbnails.thumbnails.dev", ns.as_str()),
        ("create", "jobs.batch", "default"),
        ("list", "thumbnails.thumbnails.dev", "default"),
        // Only its own Lease, and never by PUT.
        (
            "patch",
            "leases.coordination.k8s.io/someone-else",
            ns.as_str(),
        ),
        (
            "get",
            "leases.coordination.k8s.io/someone-else",
            ns.as_str(),
        ),
        (
            "update",
            "leases.coordination.k8s.io/thumbnail-operator",
            ns.as_str(),
        ),
        ("create", "leases.coordination.k8s.io", "default"),
        (
            "get",
            "customresourcedefinitions.apiextensions.k8s.io/other.example.com",
            "",
        ),
    ] {
        let out = kubectl(&[
            "auth", "can-i", verb, resource, "-n", namespace, "--as", &sa,
        ]);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "no",
            "the operator must not {verb} {resource} in {namespace}"
        );
    }

    // Nothing queued, nothing running (issue 11 defect 3).
    release.wait_until(Duration::from_secs(30), "gauges back to 0", || {
        let m = metrics(&release);
        sample(&m, "thumbnail_queue_length") == 0.0 && sample(&m, "thumbnail_runs_active") == 0.0
    });

    // Delete through the shim: the Thumbnail, its Job and both objects go.
    let before = rt.block_on(store.list("thumbnails", ""));
    assert_eq!(before.len(), 6, "3 originals + 3 thumbnails: {before:?}");
    for id in &ids {
        let (code, body) = curl(&["-X", "DELETE", &format!("{shim}/api/v1/thumbnails/{id}")]);
        assert!(code == "202" || code == "204", "delete {id}: {code} {body}");
    }
    release.wait_until(
        Duration::from_secs(60),
        "Thumbnails and Jobs deleted",
        || {
            kubectl_ok(&["get", "thumbnails,jobs", "-n", &ns, "-o", "name"])
                .trim()
                .is_empty()
        },
    );
    let after = rt.block_on(store.list("thumbnails", ""));
    assert!(after.is_empty(), "objects left behind: {after:?}");
    let m = metrics(&release);
    assert!(
        !m.lines()
            .any(|l| l.starts_with("thumbnail_reconcile_errors_total") && !l.ends_with(" 0")),
        "no reconcile error counted (issue 11 defect 4):\n{m}"
    );
    let log = release.operator_log();
    assert!(!log.contains("forbidden"), "RBAC refused something:\n{log}");
    // Issue 11 defect 10: container logs have no terminal: no colour codes.
    for deployment in [RELEASE.to_string(), format!("{RELEASE}-api-shim")] {
        let log = release.logs(&deployment);
        assert!(
            !log.contains('\u{1b}'),
            "ANSI escapes in {deployment}'s log:\n{log}"
        );
    }
}

/// A file that looks like a JPEG but is cut off: the resizer's permanent exit code fails
/// the Job at once through its podFailurePolicy (one Pod, no retries), and the reason
/// reaches the Thumbnail and the shim.
#[test]
fn a_corrupt_upload_fails_at_once_with_one_pod() {
    let release = Release::install("corrupt", &[]);
    let shim = release.shim_url();
    let mut jpeg = std::fs::read(corpus_file("j09_storm_1920x1280.jpg")).unwrap();
    jpeg.truncate(jpeg.len() * 3 / 10);
    let file = std::env::temp_dir().join(format!("{}-truncated.jpg", release.namespace));
    std::fs::write(&file, jpeg).unwrap();
    let id = upload(&shim, file.to_str().unwrap(), &["width=128"]);
    let status = wait_finished(&shim, &id, &release);
    assert_eq!(status["status"], "error", "{status}");
    assert_eq!(status["reason"], "CorruptImage", "{status}");
    let jobs = jobs_of(&release, &id);
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let job = kubectl_ok(&[
        "get",
        "job",
        &jobs[0],
        "-n",
        &release.namespace,
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Failed\")].reason}",
    ]);
    assert_eq!(job, "PodFailurePolicy", "{}", release.describe());
    assert_eq!(pods_of_job(&release, &jobs[0]).len(), 1, "not retried");
    let events = kubectl_ok(&[
        "get",
        "events",
        "-n",
        &release.namespace,
        "--field-selector",
        &format!("involvedObject.name={id}"),
        "-o",
        "jsonpath={range .items[*]}{.type} {.reason}{\"\\n\"}{end}",
    ]);
    assert!(
        events.contains("Warning"),
        "a Warning event on the Thumbnail: {events}"
    );
    std::fs::remove_file(file).ok();
}

/// Issue 11 defect 1: with the operator down for longer than the Jobs' TTL, the finished
/// Jobs are gone when it comes back; the thumbnails they stored are still found.
#[test]
fn results_survive_an_operator_outage_longer_than_the_job_ttl() {
    let release = Release::install("outage", &["operator.jobTtlSeconds=5"]);
    let ns = release.namespace.clone();
    let shim = release.shim_url();
    let ids: Vec<String> = ["j09_storm_1920x1280.jpg", "p03_goldfish_3640x2400_rgba.png"]
        .iter()
        .map(|f| upload(&shim, &corpus_file(f), &["width=96"]))
        .collect();
    release.wait_until(Duration::from_secs(60), "a Job per upload", || {
        ids.iter().all(|id| jobs_of(&release, id).len() == 1)
    });
    release.scale(RELEASE, 0);
    // The Jobs finish and are deleted by their TTL while nobody reads their result.
    release.wait_until(DONE_WITHIN, "the Jobs removed by their TTL", || {
        ids.iter().all(|id| jobs_of(&release, id).is_empty())
    });
    release.scale(RELEASE, 1);
    for id in &ids {
        let status = wait_finished(&shim, id, &release);
        assert_eq!(
            status["status"],
            "success",
            "{status}\n{}",
            release.operator_log()
        );
        assert_eq!(status["output"]["width"], 96, "{status}");
    }
    let table = kubectl_ok(&["get", "thumbnails", "-n", &ns]);
    assert_eq!(table.matches("Succeeded").count(), 2, "{table}");
}

/// The Thumbnails' status, as JSON (for "unchanged" comparisons).
fn statuses(release: &Release) -> Value {
    let out = kubectl_ok(&["get", "thumbnails", "-n", &release.namespace, "-o", "json"]);
    let list: Value = serde_json::from_str(&out).unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["metadata"]["name"].as_str().unwrap().to_string(),
                t["status"].clone(),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn wait_phases(release: &Release, names: &[&str], phase: &str) {
    release.wait_until(DONE_WITHIN, &format!("{names:?} {phase}"), || {
        let s = statuses(release);
        names.iter().all(|n| s[n]["phase"] == phase)
    });
}

/// The README's manifests as a kubectl user applies them (their originals put into the
/// bundled store first), a non-image among them: each ends as it should, `kubectl
/// describe` shows the Events; once the Jobs' TTL removes them the Thumbnails stay as
/// they are (the job record outlives the Job).
#[test]
fn examples_applied_with_kubectl_and_their_jobs_expiring() {
    // Where `make up` allows the examples' originals (the source policy: issue 12); the
    // bundled store's resizer identity follows the same rules.
    let release = Release::install(
        "examples",
        &[
            "operator.jobTtlSeconds=5",
            "operator.sourcePolicy.allow[0]=*=thumbnails/examples/",
            "operator.sourcePolicy.allow[1]=*=uploads/examples/",
        ],
    );
    let ns = release.namespace.clone();
    let store = release.bundled_store();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        store
            .client
            .create_bucket()
            .bucket("uploads")
            .send()
            .await
            .unwrap();
        for (bucket, key, file) in [
            (
                "thumbnails",
                "examples/kleiber.jpg",
                "j01_kleiber_6028x3391.jpg",
            ),
            (
                "thumbnails",
                "examples/goldfish.png",
                "p03_goldfish_3640x2400_rgba.png",
            ),
            (
                "uploads",
                "examples/colorful-cups.jpg",
                "j07_colorfulcups_2560x1600_prog.jpg",
            ),
        ] {
            store
                .put(bucket, key, std::fs::read(corpus_file(file)).unwrap())
                .await;
        }
        store
            .put(
                "thumbnails",
                "examples/notes.jpg",
                b"my notes, not a photo".to_vec(),
            )
            .await;
    });
    let examples = format!("{}/examples", thumbnail_testkit::workspace_root().display());
    kubectl_ok(&["apply", "-n", &ns, "-f", &examples]);
    // A non-image, and a key that does not exist.
    let failing = r#"{"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "thumbnails.dev/v1alpha1", "kind": "Thumbnail", "metadata": {"name": "notes"},
         "spec": {"source": {"s3": {"key": "examples/notes.jpg"}}, "width": 64}},
        {"apiVersion": "thumbnails.dev/v1alpha1", "kind": "Thumbnail", "metadata": {"name": "missing"},
         "spec": {"source": {"s3": {"key": "examples/no-such-photo.jpg"}}, "width": 64}}]}"#;
    let manifest = std::env::temp_dir().join(format!("{ns}-failing.json"));
    std::fs::write(&manifest, failing).unwrap();
    kubectl_ok(&["apply", "-n", &ns, "-f", manifest.to_str().unwrap()]);
    std::fs::remove_file(&manifest).ok();

    let done = ["kleiber", "goldfish-preview", "cups-avatar"];
    wait_phases(&release, &done, "Succeeded");
    wait_phases(&release, &["notes", "missing"], "Failed");
    let s = statuses(&release);
    assert_eq!(s["notes"]["reason"], "NotAnImage", "{s}");
    // Issue 11 defect 6: a short message a user can act on, not the SDK's debug dump.
    assert_eq!(s["missing"]["reason"], "SourceNotFound", "{s}");
    let message = s["missing"]["message"].as_str().unwrap();
    assert!(
        message.len() < 300 && message.contains("examples/no-such-photo.jpg"),
        "{message}"
    );
    assert_eq!(
        (
            s["goldfish-preview"]["output"]["width"].as_u64(),
            s["goldfish-preview"]["output"]["height"].as_u64()
        ),
        (Some(320), Some(200)),
        "fit contain pads to the box: {s}"
    );
    assert_eq!(
        s["cups-avatar"]["output"]["contentType"], "image/webp",
        "{s}"
    );
    // Counted from the Job controller's Events, which outlive the Job: with a 5 s TTL, a
    // batch's Job may be gone already (it finished with its other members).
    let notes_job = s["notes"]["jobName"].as_str().unwrap().to_string();
    let pods_created = kubectl_ok(&[
        "get",
        "events",
        "-n",
        &ns,
        "--field-selector",
        &format!("involvedObject.kind=Job,involvedObject.name={notes_job},reason=SuccessfulCreate"),
        "-o",
        "name",
    ]);
    assert_eq!(
        pods_created.lines().count(),
        1,
        "a non-image is not retried: {pods_created}"
    );
    // Events (`kubectl describe`): the Thumbnail that started a run (alone, or as its
    // batch's item 0) has a Started Event, and one that ran alone and succeeded also a
    // Succeeded Event; a batch's other members record success in status only
    // (docs/DESIGN.md, "Cost per Thumbnail at 10,000").
    let (starter, started) = s
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, st)| st["jobName"].is_string() && st["runItem"].as_u64().unwrap_or(0) == 0)
        .expect("some Thumbnail started a run");
    let described = kubectl_ok(&["describe", "thumbnail", starter, "-n", &ns]);
    let events = described.split("Events:").nth(1).unwrap_or_default();
    assert!(events.contains("Started"), "{described}");
    if started["phase"] == "Succeeded" && started.get("runItem").is_none() {
        assert!(events.contains("Succeeded"), "{described}");
    }

    // The TTL removes the finished Jobs; the Thumbnails' records do not change.
    let before = statuses(&release);
    release.wait_until(
        Duration::from_secs(60),
        "the finished Jobs removed by their TTL",
        || {
            kubectl_ok(&["get", "jobs", "-n", &ns, "-o", "name"])
                .trim()
                .is_empty()
        },
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(statuses(&release), before, "the records stay as they were");
}

/// The store unreachable when the resizer runs (its Service has no endpoints for a
/// while): the resizer exits 4, the Job retries it, and it succeeds once the store is back.
#[test]
fn a_store_outage_is_retried_by_the_job_until_it_succeeds() {
    let release = Release::install("storeout", &[]);
    let ns = release.namespace.clone();
    let store = release.bundled_store();
    let rt = tokio::runtime::Runtime::new().unwrap();
    // Under the namespace's own uploads, which every Thumbnail there may read.
    let key = format!(
        "{}storm.jpg",
        thumbnail_api::ownership::shim_originals_prefix(&ns)
    );
    rt.block_on(store.put(
        "thumbnails",
        &key,
        std::fs::read(corpus_file("j09_storm_1920x1280.jpg")).unwrap(),
    ));
    let service = format!("{RELEASE}-seaweedfs");
    let selector = kubectl_ok(&[
        "get",
        "service",
        &service,
        "-n",
        &ns,
        "-o",
        "jsonpath={.spec.selector}",
    ]);
    kubectl_ok(&[
        "patch",
        "service",
        &service,
        "-n",
        &ns,
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"selector":{"app.kubernetes.io/component":"nowhere"}}}"#,
    ]);
    // Only once the node refuses connections to the Service (its endpoints removed and
    // kube-proxy's rules synced: under load that lags) would the resizer see the outage;
    // before that it reaches the store and succeeds, and there is nothing to retry.
    let address = kubectl_ok(&[
        "get",
        "service",
        &service,
        "-n",
        &ns,
        "-o",
        "jsonpath={.spec.clusterIP}:{.spec.ports[0].port}",
    ]);
    release.wait_until(
        Duration::from_secs(60),
        "the store's Service refusing connections",
        || curl(&["-m", "2", &format!("http://{}/", address.trim())]).0 == "000",
    );
    let manifest = format!(
        r#"{{"apiVersion": "thumbnails.dev/v1alpha1", "kind": "Thumbnail",
        "metadata": {{"name": "storm"}},
        "spec": {{"source": {{"s3": {{"key": "{key}"}}}}, "width": 128}}}}"#
    );
    let file = std::env::temp_dir().join(format!("{ns}-storm.json"));
    std::fs::write(&file, manifest).unwrap();
    kubectl_ok(&["apply", "-n", &ns, "-f", file.to_str().unwrap()]);
    std::fs::remove_file(&file).ok();
    release.wait_until(DONE_WITHIN, "a failed attempt", || {
        let failed = kubectl_ok(&[
            "get",
            "jobs",
            "-n",
            &ns,
            "-o",
            "jsonpath={.items[*].status.failed}",
        ]);
        failed.trim().parse::<u32>().unwrap_or(0) >= 1
    });
    // The Thumbnail says it is retrying, and why (issue 11 defect 6).
    release.wait_until(Duration::from_secs(30), "a Retrying status", || {
        let s = statuses(&release);
        s["storm"]["reason"] == "Retrying"
            && s["storm"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("attempt 2 of") && m.contains("StoreUnavailable"))
    });
    let replace =
        format!(r#"[{{"op": "replace", "path": "/spec/selector", "value": {selector}}}]"#);
    kubectl_ok(&[
        "patch", "service", &service, "-n", &ns, "--type", "json", "-p", &replace,
    ]);
    wait_phases(&release, &["storm"], "Succeeded");
    let s = statuses(&release);
    assert_eq!(s["storm"]["output"]["width"], 128, "{s}");
    let job = s["storm"]["jobName"].as_str().unwrap().to_string();
    assert!(
        pods_of_job(&release, &job).len() >= 2,
        "retried in a new Pod: {}",
        release.describe()
    );
}

/// The operator's Pod deleted while its Jobs run: the new Pod adopts the running Jobs
/// (no second Job for any Thumbnail) and records their results.
#[test]
fn the_operator_pod_deleted_mid_run_starts_no_second_job() {
    let release = Release::install("oprestart", &[]);
    let ns = release.namespace.clone();
    let shim = release.shim_url();
    let ids: Vec<String> = [
        "j09_storm_1920x1280.jpg",
        "j01_kleiber_6028x3391.jpg",
        "p03_goldfish_3640x2400_rgba.png",
    ]
    .iter()
    .map(|f| upload(&shim, &corpus_file(f), &["width=80"]))
    .collect();
    release.wait_until(Duration::from_secs(60), "a Job per upload", || {
        ids.iter().all(|id| jobs_of(&release, id).len() == 1)
    });
    kubectl_ok(&[
        "delete",
        "pod",
        "-n",
        &ns,
        "-l",
        "app.kubernetes.io/component=operator",
        "--wait=false",
    ]);
    for id in &ids {
        let status = wait_finished(&shim, id, &release);
        assert_eq!(status["status"], "success", "{status}");
        assert_eq!(
            jobs_of(&release, id).len(),
            1,
            "one Job for {id}: {}",
            release.describe()
        );
    }
}

/// `operator.maxRunning` holds with real Jobs: never more resizer Pods at once than the
/// cap, and the others wait as Pending. Neither component's log shows an RBAC refusal.
#[test]
fn the_cap_holds_with_real_jobs() {
    let release = Release::install("cap", &["operator.maxRunning=2"]);
    let ns = release.namespace.clone();
    let shim = release.shim_url();
    let ids: Vec<String> = (0..6)
        .map(|_| {
            upload(
                &shim,
                &corpus_file("j09_storm_1920x1280.jpg"),
                &["width=64"],
            )
        })
        .collect();
    let mut most = 0;
    let mut queued_seen = false;
    let start = std::time::Instant::now();
    loop {
        let running = kubectl_ok(&[
            "get",
            "pods",
            "-n",
            &ns,
            "-l",
            "batch.kubernetes.io/job-name",
            "--field-selector=status.phase!=Succeeded,status.phase!=Failed",
            "-o",
            "name",
        ])
        .lines()
        .count();
        most = most.max(running);
        let s = statuses(&release);
        let phases: Vec<&str> = ids
            .iter()
            .map(|id| s[id]["phase"].as_str().unwrap_or(""))
            .collect();
        queued_seen |= phases.contains(&"Pending");
        if phases.iter().all(|p| *p == "Succeeded") {
            break;
        }
        assert!(
            start.elapsed() < DONE_WITHIN,
            "not all done: {phases:?}\n{}",
            release.describe()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(most <= 2, "{most} resizer Pods at once with maxRunning 2");
    assert!(
        queued_seen,
        "with 6 uploads and a cap of 2, some waited as Pending"
    );
    for deployment in [RELEASE.to_string(), format!("{RELEASE}-api-shim")] {
        let log = release.logs(&deployment);
        assert!(!log.contains("forbidden"), "{deployment}: {log}");
    }
}

/// Issue 11 defect 5: the object store down does not take the REST API out of its
/// Service: readiness stays, listing and status answer, an upload says the store is
/// unreachable (503).
#[test]
fn the_api_stays_up_while_the_store_is_down() {
    let release = Release::install("s3down", &[]);
    let ns = release.namespace.clone();
    let shim = release.shim_url();
    let id = upload(
        &shim,
        &corpus_file("j09_storm_1920x1280.jpg"),
        &["width=64"],
    );
    assert_eq!(wait_finished(&shim, &id, &release)["status"], "success");
    // The store's Pod gone (a Service without endpoints is not enough: pooled
    // connections to the old Pod would live on).
    release.scale(&format!("{RELEASE}-seaweedfs"), 0);
    // Longer than the shim's readiness probe needs to fail three times.
    std::thread::sleep(Duration::from_secs(30));
    let ready = kubectl_ok(&[
        "get",
        "pods",
        "-n",
        &ns,
        "-l",
        "app.kubernetes.io/component=api-shim",
        "-o",
        "jsonpath={.items[*].status.conditions[?(@.type==\"Ready\")].status}",
    ]);
    assert_eq!(
        ready.trim(),
        "True",
        "the shim stays Ready\n{}",
        release.describe()
    );
    let (code, body) = curl(&[&format!("{shim}/api/v1/thumbnails")]);
    assert_eq!(code, "200", "listing works: {body}");
    assert!(body.contains(&id), "{body}");
    let (code, body) = curl(&[
        "-F",
        &format!("file=@{}", corpus_file("j09_storm_1920x1280.jpg")),
        "-F",
        "width=64",
        &format!("{shim}/api/v1/thumbnails"),
    ]);
    assert_eq!(code, "503", "{body}");
    assert!(
        body.to_lowercase().contains("store"),
        "the answer names the store: {body}"
    );
    // The store back before the release goes, so that the Thumbnail's cleanup can
    // delete its objects and the teardown does not wait out its timeouts.
    release.scale(&format!("{RELEASE}-seaweedfs"), 1);
}

/// Issue 11 item 5: the chart's two operator replicas elect a leader through a Lease;
/// only the leader reconciles, the follower reports `thumbnail_leader 0` and launches
/// nothing. The leader frozen mid-run (its process can neither renew nor release the
/// Lease, as when it hangs or is cut off): another replica takes the Lease once it
/// expires, within its duration plus one renewal period; every Thumbnail still succeeds
/// with exactly one Job (no run started twice). Thawed, the old leader sees that it lost
/// the Lease and exits at once (status 3; Kubernetes restarts it as a follower). Then a
/// graceful stop of the new leader (as in a rollout) hands over within the same bound.
#[test]
fn a_frozen_leader_hands_over_to_another_replica_without_duplicate_jobs() {
    let release = Release::install("leader", &[]);
    let ns = release.namespace.clone();
    let shim = release.shim_url();
    let pods = release.operator_pods();
    assert_eq!(pods.len(), 2, "the chart's default: 2 replicas: {pods:?}");
    let leader = release.wait_for_leader();
    assert!(pods.contains(&leader), "{leader} leads, pods {pods:?}");
    let follower = pods.iter().find(|p| **p != leader).unwrap().clone();
    let leader_metrics = metrics_at(&release.pod_metrics_url(&leader));
    let follower_metrics = metrics_at(&release.pod_metrics_url(&follower));
    assert_eq!(sample(&leader_metrics, "thumbnail_leader"), 1.0);
    assert_eq!(sample(&follower_metrics, "thumbnail_leader"), 0.0);

    let files = [
        "j09_storm_1920x1280.jpg",
        "p03_goldfish_3640x2400_rgba.png",
        "d02_path_2560x1600_orient6.jpg",
        "j05_path_2560x1600.jpg",
        "j06_fallenleaf_2560x1600.jpg",
        "d05_fallenleaf_2560x1600.webp",
        "p01_astronaut_512x512.png",
        "j04_wood_2560x1920.jpg",
    ];
    let ids: Vec<String> = files
        .iter()
        .map(|f| upload(&shim, &corpus_file(f), &["width=120"]))
        .collect();
    // Mid-run: the leader has started Jobs, and (cap 4) others still wait.
    release.wait_until(Duration::from_secs(60), "the leader started a Job", || {
        ids.iter().any(|id| !jobs_of(&release, id).is_empty())
    });
    let follower_log = release.pod_log(&follower);
    assert!(
        !follower_log.contains("resizer started") && !follower_log.contains("thumbnail stored"),
        "the follower reconciled:\n{follower_log}"
    );
    assert!(
        follower_log.contains("waiting for the leader Lease"),
        "{follower_log}"
    );
    let leader_log = release.pod_log(&leader);
    assert!(
        leader_log.contains("resizer started"),
        "the leader reconciles:\n{leader_log}"
    );

    let frozen_at = std::time::Instant::now();
    let frozen = release.freeze(&leader);
    // Nobody releases the Lease: it expires 15 s after the leader's last renewal, which
    // was at most 5 s before the freeze; a follower then takes it within about a second.
    let mut new_leader = None;
    release.wait_until(
        Duration::from_secs(25),
        "another replica took the frozen leader's Lease",
        || {
            new_leader = release.leader_pod().filter(|p| *p != leader);
            new_leader.is_some()
        },
    );
    let new_leader = new_leader.unwrap();
    println!(
        "leader {leader} frozen; {new_leader} took the Lease after {:?}",
        frozen_at.elapsed()
    );
    assert_eq!(new_leader, follower);

    // Thawed, the old leader finds the Lease gone and exits before doing anything else.
    release.thaw(&frozen);
    let exit_code = || {
        kubectl_ok(&[
            "get",
            "pod",
            &leader,
            "-n",
            &ns,
            "-o",
            "jsonpath={.status.containerStatuses[0].lastState.terminated.exitCode}",
        ])
    };
    release.wait_until(
        Duration::from_secs(30),
        "the old leader exited on losing the Lease",
        || exit_code() == "3",
    );
    let previous = kubectl_ok(&["logs", "-n", &ns, &leader, "--previous"]);
    assert!(
        previous.contains("lost the leader Lease"),
        "the old leader's last log:\n{previous}"
    );
    assert_eq!(release.leader_pod().as_deref(), Some(new_leader.as_str()));

    for (id, file) in ids.iter().zip(files) {
        let status = wait_finished(&shim, id, &release);
        assert_eq!(status["status"], "success", "{file}: {status}");
        // One generation, one Job: nothing was launched twice across the handover.
        let jobs = jobs_of(&release, id);
        assert_eq!(jobs.len(), 1, "{file}: {jobs:?}\n{}", release.describe());
    }
    let table = kubectl_ok(&["get", "thumbnails", "-n", &ns]);
    assert_eq!(table.matches("Succeeded").count(), files.len(), "{table}");

    // The new leader reconciled; the old one, back as a follower, did not since.
    assert!(
        release.pod_log(&new_leader).contains("resizer started")
            || release.pod_log(&new_leader).contains("thumbnail stored"),
        "the new leader reconciles:\n{}",
        release.pod_log(&new_leader)
    );
    assert_eq!(
        sample(
            &metrics_at(&release.pod_metrics_url(&new_leader)),
            "thumbnail_leader"
        ),
        1.0
    );
    release.wait_until(Duration::from_secs(60), "the old leader runs again", || {
        release.operator_pods().len() == 2
            && curl(&[&format!("{}/healthz", release.pod_metrics_url(&leader))]).0 == "200"
    });
    let log = release.pod_log(&leader);
    assert!(
        !log.contains("resizer started") && !log.contains("thumbnail stored"),
        "the old leader reconciled as a follower:\n{log}"
    );
    assert_eq!(
        sample(
            &metrics_at(&release.pod_metrics_url(&leader)),
            "thumbnail_leader"
        ),
        0.0,
        "the old leader, now following"
    );
    let log = release.operator_log();
    assert!(!log.contains("forbidden"), "RBAC refused something:\n{log}");

    // A graceful stop (as in a rollout) releases the Lease: the other replica leads
    // within the same bound.
    let stopped = std::time::Instant::now();
    kubectl_ok(&["delete", "pod", &new_leader, "-n", &ns, "--wait=false"]);
    let mut third = None;
    release.wait_until(
        Duration::from_secs(25),
        "a replica took the released Lease",
        || {
            third = release.leader_pod().filter(|p| *p != new_leader);
            third.is_some()
        },
    );
    println!(
        "leader {new_leader} stopped gracefully; {} took the Lease after {:?}",
        third.unwrap(),
        stopped.elapsed()
    );
}

/// Issue 11 defect 2: a Thumbnail deleted while its resizer runs leaves nothing behind:
/// the finalizer waits until the Job's Pod is gone before deleting the objects, so a
/// late upload cannot leak a thumbnail.
#[test]
fn deleting_a_thumbnail_while_its_resizer_runs_leaves_no_object() {
    let release = Release::install("delrun", &[]);
    let ns = release.namespace.clone();
    let shim = release.shim_url();
    let store = release.bundled_store();
    let rt = tokio::runtime::Runtime::new().unwrap();
    // The largest photo: its run lasts long enough to be deleted in the middle.
    let id = upload(
        &shim,
        &corpus_file("j01_kleiber_6028x3391.jpg"),
        &["width=2048", "format=png"],
    );
    release.wait_until(Duration::from_secs(60), "the resizer Pod running", || {
        let jobs = jobs_of(&release, &id);
        !jobs.is_empty()
            && kubectl_ok(&[
                "get",
                "pods",
                "-n",
                &ns,
                "-l",
                &format!("batch.kubernetes.io/job-name={}", jobs[0]),
                "-o",
                "jsonpath={.items[*].status.phase}",
            ])
            .contains("Running")
    });
    let (code, body) = curl(&["-X", "DELETE", &format!("{shim}/api/v1/thumbnails/{id}")]);
    assert!(code == "202" || code == "204", "{code} {body}");
    release.wait_until(
        Duration::from_secs(120),
        "the Thumbnail, its Job and Pod gone",
        || {
            kubectl_ok(&[
                "get",
                "thumbnails,jobs,pods",
                "-n",
                &ns,
                "-l",
                "batch.kubernetes.io/job-name",
                "-o",
                "name",
            ])
            .trim()
            .is_empty()
                && kubectl(&["get", "thumbnail", &id, "-n", &ns]).status.code() == Some(1)
        },
    );
    // Anything the resizer might still have written would be there by now.
    std::thread::sleep(Duration::from_secs(3));
    let left = rt.block_on(store.list("thumbnails", ""));
    assert!(
        left.is_empty(),
        "objects leaked: {left:?}\n{}",
        release.operator_log()
    );
}

/// Issue 11 defect 7: an unpullable resizer image is reported on the Thumbnail (status
/// and a Warning event) instead of "processing" until the deadline.
#[test]
fn an_unpullable_resizer_image_is_reported() {
    let release = Release::install("badimage", &["resizer.image.tag=no-such-tag"]);
    let ns = release.namespace.clone();
    let shim = release.shim_url();
    let id = upload(
        &shim,
        &corpus_file("j09_storm_1920x1280.jpg"),
        &["width=64"],
    );
    release.wait_until(
        Duration::from_secs(90),
        "the pull failure in the Thumbnail's status",
        || {
            let t = get_json(&format!("{shim}/api/v1/thumbnails/{id}"));
            let text = t.to_string();
            text.contains("ImagePullBackOff")
                || text.contains("ErrImagePull")
                || text.contains("cannot be pulled")
        },
    );
    let events = kubectl_ok(&[
        "get",
        "events",
        "-n",
        &ns,
        "--field-selector",
        &format!("involvedObject.name={id},type=Warning"),
        "-o",
        "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}",
    ]);
    assert!(
        events.contains("no-such-tag"),
        "a Warning event naming the image: {events}"
    );
}

/// Every href in an answer of the shim (its links, and its items' links).
fn hrefs(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v["links"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["href"].as_str().map(String::from))
        .collect();
    for item in v["items"].as_array().into_iter().flatten() {
        out.extend(hrefs(item));
    }
    out
}

fn assert_links_start_with(answer: &Value, base: &str) {
    let hrefs = hrefs(answer);
    assert!(!hrefs.is_empty(), "no links in {answer}");
    for h in &hrefs {
        assert!(
            h.starts_with(&format!("{base}/api/v1/thumbnails")),
            "{h} does not start with the URL the client used ({base}): {answer}"
        );
    }
}

/// The chart installed twice with its default values (no NodePort, no public URL): both
/// install (Kubernetes picks two NodePorts), both turn uploads into thumbnails, and every
/// link a client gets starts with the URL that client used; the resources' own
/// status.links are relative to the API root rather than a wrong absolute URL.
#[test]
fn two_releases_with_default_values() {
    let first = Release::install("two-a", &[]);
    let second = Release::install("two-b", &[]);
    let shims = [first.shim_url(), second.shim_url()];
    assert_ne!(shims[0], shims[1], "two releases, two NodePorts");
    for (release, shim) in [(&first, &shims[0]), (&second, &shims[1])] {
        let (code, body) = curl(&[
            "-F",
            &format!("file=@{}", corpus_file("j09_storm_1920x1280.jpg")),
            "-F",
            "width=96",
            &format!("{shim}/api/v1/thumbnails"),
        ]);
        assert_eq!(code, "202", "{body}");
        let accepted: Value = serde_json::from_str(&body).unwrap();
        assert_links_start_with(&accepted, shim);
        let id = accepted["id"].as_str().unwrap().to_string();
        let status = wait_finished(shim, &id, release);
        assert_eq!(status["status"], "success", "{status}");
        assert_links_start_with(&status, shim);
        assert_links_start_with(&get_json(&format!("{shim}/api/v1/thumbnails")), shim);
        // The download link works as given.
        let download = link_href(&status, "download");
        let (code, _) = curl(&["-o", "/dev/null", &download]);
        assert_eq!(code, "200", "{download}");
        // A client that reached the shim under another name gets links for that name.
        let (code, body) = curl(&[
            "-H",
            "Host: thumbs.example.test:8443",
            &format!("{shim}/api/v1/thumbnails/{id}"),
        ]);
        assert_eq!(code, "200", "{body}");
        assert_links_start_with(
            &serde_json::from_str(&body).unwrap(),
            "http://thumbs.example.test:8443",
        );
        let stored = kubectl_ok(&[
            "get",
            "thumbnail",
            &id,
            "-n",
            &release.namespace,
            "-o",
            "jsonpath={range .status.links[*]}{.href}{\"\\n\"}{end}",
        ]);
        assert!(!stored.trim().is_empty(), "no status.links on {id}");
        for href in stored.lines() {
            assert!(
                href.starts_with(&format!("/api/v1/thumbnails/{id}")),
                "status.links must be relative without a public base URL: {href}"
            );
        }
    }
}

/// What is left in `ns` of a release: every object of the kinds the chart (or its
/// operator) creates, but the namespace's own `default` ServiceAccount.
fn leftovers(ns: &str) -> Vec<String> {
    kubectl_ok(&[
        "get",
        "pods,jobs,thumbnails,secrets,services,deployments,configmaps,roles,rolebindings,serviceaccounts,networkpolicies,persistentvolumeclaims",
        "-n",
        ns,
        "-o",
        "name",
    ])
    .lines()
    .filter(|l| *l != "serviceaccount/default" && *l != "configmap/kube-root-ca.crt")
    .map(str::to_string)
    .collect()
}

/// A release's life after install: the shim wants the generated token; `helm upgrade
/// --reuse-values` with a changed value reaches the operator, keeps the token, and
/// uploads still work; `helm uninstall` with a Thumbnail still
/// present runs the drain hook (the operator, still running, cleans the Thumbnail up),
/// finishes within its 2 minute timeout and leaves nothing of the release, in the
/// namespace or cluster-wide, so the namespace can then be deleted.
#[test]
fn helm_upgrade_and_uninstall_leave_nothing_behind() {
    let release = Release::install("lifecycle", &[]);
    let ns = release.namespace.clone();
    let shim = release.shim_url();
    // Issue 12: the NodePort is not open by default. Without the generated token, or
    // with another, the API answers 401; probes and docs stay open.
    let list = format!("{shim}/api/v1/thumbnails");
    for auth in ["Authorization:", "Authorization: Bearer not-the-token"] {
        let (code, body) = curl(&["-H", auth, &list]);
        assert_eq!(code, "401", "{auth}: {body}");
    }
    for open in ["/healthz", "/readyz", "/api/v1/openapi.json"] {
        let (code, body) = curl(&["-H", "Authorization:", &format!("{shim}{open}")]);
        assert_eq!(code, "200", "{open}: {body}");
    }
    let token = release.shim_token();
    let first = upload(
        &shim,
        &corpus_file("j09_storm_1920x1280.jpg"),
        &["width=128"],
    );
    assert_eq!(wait_finished(&shim, &first, &release)["status"], "success");

    let chart = chart_dir();
    let out = helm(&[
        "upgrade",
        RELEASE,
        chart.to_str().unwrap(),
        "-n",
        &ns,
        "--reuse-values",
        "--set",
        "operator.maxRunning=2",
        "--wait",
        "--timeout",
        "4m",
    ]);
    assert!(
        out.status.success(),
        "helm upgrade: {}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        release.describe()
    );
    // The new value reached the replica that reconciles (the old ones are replaced by
    // the rollout; the Lease passes to a new pod).
    let max_running_of = |pod: &str| {
        kubectl_ok(&[
            "get",
            "pod",
            pod,
            "-n",
            &ns,
            "-o",
            "jsonpath={.spec.containers[0].env[?(@.name==\"MAX_RUNNING\")].value}",
        ])
    };
    release.wait_until(
        Duration::from_secs(120),
        "a replica with MAX_RUNNING=2 leads",
        || {
            release.leader_pod().is_some_and(|pod| {
                release.operator_pods().contains(&pod) && max_running_of(&pod) == "2"
            })
        },
    );
    // The generated token survives the upgrade (the chart reuses the Secret's).
    assert_eq!(
        release.shim_token(),
        token,
        "helm upgrade replaced the shim's token"
    );
    let second = upload(
        &shim,
        &corpus_file("p03_goldfish_3640x2400_rgba.png"),
        &["width=100"],
    );
    assert_eq!(wait_finished(&shim, &second, &release)["status"], "success");
    // And one more, left in place for the uninstall to deal with.
    let third = upload(
        &shim,
        &corpus_file("j09_storm_1920x1280.jpg"),
        &["width=64"],
    );
    assert_eq!(wait_finished(&shim, &third, &release)["status"], "success");
    let thumbnails = kubectl_ok(&["get", "thumbnails", "-n", &ns, "-o", "name"]);
    assert_eq!(thumbnails.lines().count(), 3, "{thumbnails}");

    let started = Instant::now();
    let out = helm(&["uninstall", RELEASE, "-n", &ns, "--wait", "--timeout", "2m"]);
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "helm uninstall with Thumbnails present failed after {took:?}: {}{}\n{}\noperator log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        release.describe(),
        release.operator_log()
    );
    println!("helm uninstall took {took:?}");
    // Pods of deleted Deployments and Jobs go by garbage collection, after helm's wait.
    let mut left = Vec::new();
    wait_until(
        Duration::from_secs(90),
        "the release's objects gone",
        || {
            left = leftovers(&ns);
            left.is_empty()
        },
    );
    assert!(left.is_empty(), "left in {ns}: {left:?}");
    let cluster_wide = kubectl_ok(&["get", "clusterroles,clusterrolebindings", "-o", "name"]);
    let ours: Vec<_> = cluster_wide.lines().filter(|l| l.contains(&ns)).collect();
    assert!(
        ours.is_empty(),
        "cluster-wide objects of the release left: {ours:?}"
    );
    kubectl_ok(&["delete", "namespace", &ns, "--timeout=90s"]);
}

/// Issue 12: a Thumbnail named with the longest name Kubernetes allows (253 characters,
/// dots included) runs: the Job's labels derived from it are valid label values (a 422
/// on the Job once kept it at the head of the queue forever), and it succeeds.
#[test]
fn a_thumbnail_with_a_253_character_name_runs() {
    let release = Release::install("longname", &[]);
    let ns = release.namespace.clone();
    let shim = release.shim_url();
    // An original where the shim keeps its uploads (and a Thumbnail of it, made by the
    // shim): the long-named one reads the same object.
    let id = upload(
        &shim,
        &corpus_file("j09_storm_1920x1280.jpg"),
        &["width=64"],
    );
    let done = wait_finished(&shim, &id, &release);
    assert_eq!(done["status"], "success", "{done}");
    let made: Value = serde_json::from_str(&kubectl_ok(&[
        "get",
        "thumbnail",
        &id,
        "-n",
        &ns,
        "-o",
        "json",
    ]))
    .unwrap();
    let source = made["spec"]["source"].clone();

    let name = format!("{}.photos.{}", "a".repeat(40), "b".repeat(205));
    assert_eq!(name.len(), 253);
    let manifest = serde_json::json!({
        "apiVersion": "thumbnails.dev/v1alpha1", "kind": "Thumbnail",
        "metadata": {"name": name},
        "spec": {"source": source, "width": 48},
    });
    let file = std::env::temp_dir().join(format!("{ns}-long.json"));
    std::fs::write(&file, manifest.to_string()).unwrap();
    kubectl_ok(&["apply", "-n", &ns, "-f", file.to_str().unwrap()]);
    std::fs::remove_file(&file).ok();

    wait_phases(&release, &[name.as_str()], "Succeeded");
    let s = statuses(&release);
    assert_eq!(s[&name]["output"]["width"], 48, "{s}");
    let jobs = jobs_of(&release, &name);
    assert_eq!(jobs.len(), 1, "{jobs:?}\n{}", release.describe());
    assert!(jobs[0].len() <= 63, "{}", jobs[0]);
    let labels: Value = serde_json::from_str(&kubectl_ok(&[
        "get",
        "job",
        &jobs[0],
        "-n",
        &ns,
        "-o",
        "jsonpath={.metadata.labels}",
    ]))
    .unwrap();
    for (key, value) in labels.as_object().unwrap() {
        assert!(
            value.as_str().unwrap().len() <= 63,
            "{key}={value} is no label value"
        );
    }
    let short = labels["thumbnails.dev/thumbnail"].as_str().unwrap();
    assert!(short.starts_with(&"a".repeat(40)), "{short}");
}

/// Issue 12: a resizer killed at its memory limit (here a tiny one, from the chart's
/// resizer.resources) fails the Thumbnail once, with OutOfMemory and what to do,
/// and no second Pod: every attempt would need the same memory.
#[test]
fn an_oom_killed_resizer_fails_once_with_one_pod() {
    let release = Release::install(
        "oom",
        &[
            "resizer.resources.limits.memory=32Mi",
            "resizer.resources.requests.memory=32Mi",
        ],
    );
    let shim = release.shim_url();
    // 5120x2880 RGBA: about 59 MB decoded, more than the limit.
    let id = upload(
        &shim,
        &corpus_file("p02_kay_5120x2880_rgba.png"),
        &["width=64"],
    );
    let status = wait_finished(&shim, &id, &release);
    assert_eq!(status["status"], "error", "{status}");
    assert_eq!(
        status["reason"],
        "OutOfMemory",
        "{status}\n{}",
        release.describe()
    );
    let message = status["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("resizer.resources.limits.memory"),
        "{message}"
    );
    let jobs = jobs_of(&release, &id);
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let failed = kubectl_ok(&[
        "get",
        "job",
        &jobs[0],
        "-n",
        &release.namespace,
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Failed\")].reason}",
    ]);
    assert_eq!(failed, "PodFailurePolicy", "{}", release.describe());
    assert_eq!(pods_of_job(&release, &jobs[0]).len(), 1, "not retried");
}

/// Issue 12's critical and high findings, tried as a tenant would with kubectl: a
/// Thumbnail that names another bucket (with the annotation that used to mean "the
/// shim's, delete it with me") or another namespace's upload, and a shim-made Thumbnail
/// edited to point elsewhere. None of them runs or reads anything (SourceNotAllowed,
/// no Job, nothing about the object in the message), the shim does not serve them, and
/// deleting them leaves the other objects where they were.
#[test]
fn a_tenant_cannot_make_the_operator_read_or_delete_what_is_not_theirs() {
    let release = Release::install("tenant", &[]);
    let ns = release.namespace.clone();
    let shim = release.shim_url();
    let store = release.bundled_store();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let photo = std::fs::read(corpus_file("j07_colorfulcups_2560x1600_prog.jpg")).unwrap();
    let finance = thumbnail_api::ownership::shim_original_key("finance", "report");
    rt.block_on(async {
        store
            .client
            .create_bucket()
            .bucket("payroll")
            .send()
            .await
            .unwrap();
        store.put("payroll", "2025.jpg", photo.clone()).await;
        store.put("thumbnails", &finance, photo.clone()).await;
    });
    let id = upload(
        &shim,
        &corpus_file("j07_colorfulcups_2560x1600_prog.jpg"),
        &["width=64"],
    );
    assert_eq!(wait_finished(&shim, &id, &release)["status"], "success");

    let forged = r#"{"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "thumbnails.dev/v1alpha1", "kind": "Thumbnail",
         "metadata": {"name": "steal-payroll", "annotations": {"thumbnails.dev/source-owned-by-shim": "true"}},
         "spec": {"source": {"s3": {"bucket": "payroll", "key": "2025.jpg"}}, "width": 8192}},
        {"apiVersion": "thumbnails.dev/v1alpha1", "kind": "Thumbnail",
         "metadata": {"name": "steal-finance", "annotations": {"thumbnails.dev/source-owned-by-shim": "true"}},
         "spec": {"source": {"s3": {"key": "originals/finance/report"}}, "width": 8192}}]}"#;
    let manifest = std::env::temp_dir().join(format!("{ns}-forged.json"));
    std::fs::write(&manifest, forged).unwrap();
    kubectl_ok(&["apply", "-n", &ns, "-f", manifest.to_str().unwrap()]);
    // The shim's own Thumbnail, edited to point at the payroll object.
    kubectl_ok(&[
        "patch",
        "thumbnail",
        &id,
        "-n",
        &ns,
        "--type=merge",
        "-p",
        r#"{"spec": {"source": {"s3": {"bucket": "payroll", "key": "2025.jpg"}}}}"#,
    ]);
    release.wait_until(DONE_WITHIN, "all three refused", || {
        let s = statuses(&release);
        ["steal-payroll", "steal-finance", id.as_str()]
            .iter()
            .all(|n| s[n]["reason"] == "SourceNotAllowed" && s[n]["phase"] == "Failed")
    });
    let s = statuses(&release);
    for name in ["steal-payroll", "steal-finance"] {
        let message = s[name]["message"].as_str().unwrap();
        assert!(
            message.contains("operator.sourcePolicy.allow") && !message.contains("bytes"),
            "{name}: {message}"
        );
        assert!(jobs_of(&release, name).is_empty(), "{name} got a Job");
        // Not the shim's: not served (else a width-8192 copy would be downloadable).
        let (code, _) = curl(&[&format!("{shim}/api/v1/thumbnails/{name}")]);
        assert_eq!(code, "404", "{name} is served by the shim");
    }
    // The edit (generation 2) ran nothing (the first generation's Job, superseded, may be
    // gone already).
    let jobs = jobs_of(&release, &id);
    assert!(
        jobs.iter().all(|j| !j.contains("-g2-")),
        "the edited source got a run: {jobs:?}"
    );

    kubectl_ok(&[
        "delete",
        "thumbnails",
        "steal-payroll",
        "steal-finance",
        &id,
        "-n",
        &ns,
        "--timeout=120s",
    ]);
    rt.block_on(async {
        assert!(
            store.exists("payroll", "2025.jpg").await,
            "the operator deleted the payroll object"
        );
        assert!(
            store.exists("thumbnails", &finance).await,
            "the operator deleted another namespace's upload"
        );
        // The shim-made Thumbnail's own output and original went with it.
        let left = store.list("thumbnails", "thumbnails/").await;
        assert!(left.is_empty(), "outputs left behind: {left:?}");
        let own = thumbnail_api::ownership::shim_original_key(&ns, &id);
        assert!(!store.exists("thumbnails", &own).await, "{own} left behind");
    });
}

/// Issue 12, the bundled store: only its S3 API leaves the Pod. SeaweedFS's master,
/// volume and filer (HTTP and gRPC) and the S3 gateway's own gRPC (which can rewrite
/// identities) check no credentials, so a Pod of the cluster that reached them (a
/// resizer decoding a hostile file, say) would bypass every identity: from a Pod of the
/// release's namespace each of them is refused on the store Pod's IP, while S3 answers
/// there. And the store is Ready only once its bucket exists: the moment `helm install
/// --wait` returns, the bucket answers on the store Pod's S3 port (not NoSuchBucket).
#[test]
fn only_s3_leaves_the_bundled_store_pod_and_ready_means_the_bucket_exists() {
    // Only helm's wait: what it guarantees is under test.
    let release = Release::helm_install("storeports", &[]);
    let ns = release.namespace.clone();
    let ip = kubectl_ok(&[
        "get",
        "pods",
        "-n",
        &ns,
        "-l",
        "app.kubernetes.io/component=seaweedfs",
        "-o",
        "jsonpath={.items[0].status.podIP}",
    ]);
    let ip = ip.trim();
    assert!(
        !ip.is_empty(),
        "the store Pod has an IP\n{}",
        release.describe()
    );
    // At once, before anything else: the race the readiness probe closes. On the Pod's
    // own address: through the Service, kube-proxy's rules may still lag behind the
    // Pod's readiness (Release::wait_for_store), which is not the probe's to close.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let admin = release.bundled_store();
    let head = rt.block_on(
        admin
            .client_at(&format!("http://{ip}:8333"))
            .head_bucket()
            .bucket("thumbnails")
            .send(),
    );
    if let Err(e) = head {
        panic!(
            "the store is Ready but its bucket does not answer: {}\n{}",
            aws_sdk_s3::error::DisplayErrorContext(e),
            release.describe()
        );
    }
    release.wait_for_store();
    let shim = release.shim_url();
    let id = upload(
        &shim,
        &corpus_file("j09_storm_1920x1280.jpg"),
        &["width=64"],
    );

    let store = format!("{RELEASE}-seaweedfs");
    // The store's own image: busybox `wget`, already on the node.
    let image = kubectl_ok(&[
        "get",
        "deployment",
        &store,
        "-n",
        &ns,
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ]);
    // Every port SeaweedFS serves (its defaults, the chart's loopback S3 port 8334 and
    // their gRPC ports at +10000), then S3. busybox wget says "Connection refused" only
    // when nothing listens; an HTTP error or a gRPC server's garbage means it answered.
    // (No `wget -T`: Debian's static busybox crashes with it; the Pod's deadline bounds
    // a port that accepted and then said nothing.)
    let closed = [
        9333, 19333, 8080, 18080, 8888, 18888, 8334, 18334, 18333, 9340, 19340, 7333,
    ];
    let ports: Vec<String> = closed.iter().map(u16::to_string).collect();
    let script = format!(
        "for p in {} 8333; do \
           if out=$(wget -O /dev/null http://{ip}:$p/healthz 2>&1); then echo \"$p: answers 200\"; \
           else case $out in *'Connection refused'*) echo \"$p: refused\";; \
             *) echo \"$p: answers:\" $out;; esac; fi; \
         done",
        ports.join(" ")
    );
    let pod = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "port-probe", "namespace": ns},
        "spec": {
            "restartPolicy": "Never",
            "activeDeadlineSeconds": 100,
            "automountServiceAccountToken": false,
            "securityContext": {
                "runAsNonRoot": true,
                "runAsUser": 65532,
                "runAsGroup": 65532,
                "seccompProfile": {"type": "RuntimeDefault"}
            },
            "containers": [{
                "name": "probe",
                "image": image.trim(),
                "imagePullPolicy": "IfNotPresent",
                "command": ["/bin/sh", "-c", script],
                "securityContext": {
                    "allowPrivilegeEscalation": false,
                    "readOnlyRootFilesystem": true,
                    "capabilities": {"drop": ["ALL"]}
                }
            }]
        }
    });
    let manifest = std::env::temp_dir().join(format!("{ns}-port-probe.json"));
    std::fs::write(&manifest, pod.to_string()).unwrap();
    kubectl_ok(&["apply", "-f", manifest.to_str().unwrap()]);
    std::fs::remove_file(&manifest).ok();
    release.wait_until(
        Duration::from_secs(120),
        "the port probe Pod finished",
        || {
            let phase = kubectl_ok(&[
                "get",
                "pod",
                "port-probe",
                "-n",
                &ns,
                "-o",
                "jsonpath={.status.phase}",
            ]);
            matches!(phase.trim(), "Succeeded" | "Failed")
        },
    );
    let log = release.pod_log("port-probe");
    println!("from a Pod of {ns} to the store Pod {ip}:\n{log}");
    let answer = |port: u16| {
        log.lines()
            .find_map(|l| l.strip_prefix(&format!("{port}: ")))
            .unwrap_or_else(|| panic!("no line for port {port}: {log}"))
            .to_string()
    };
    for port in closed {
        assert_eq!(
            answer(port),
            "refused",
            "the store's port {port} is reachable from other Pods, bypassing the S3 \
             identities:\n{log}"
        );
    }
    assert_eq!(answer(8333), "answers 200", "S3 is reachable:\n{log}");

    // And the upload went through: stored, resized.
    let status = wait_finished(&shim, &id, &release);
    assert_eq!(status["status"], "success", "{status}");
}

/// Issue 15: the event stream through the NodePort, as the chart installs the shim (its
/// token, its Role, which must allow `watch`): a client sees an upload's every status in
/// order, and a request without the token is refused.
#[test]
fn the_event_stream_follows_an_upload_through_the_nodeport() {
    use std::io::BufRead as _;
    let release = Release::install("events", &[]);
    let shim = release.shim_url();
    let url = format!("{shim}/api/v1/thumbnails/events");
    let (code, body) = curl(&["-H", "Authorization: Bearer not-the-token", &url]);
    assert_eq!(code, "401", "{body}");

    let mut client = std::process::Command::new("curl")
        .args(["-sS", "-N", "--max-time", "300", "-H"])
        .arg(format!("Authorization: Bearer {}", release.shim_token()))
        .arg(&url)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("curl");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let out = client.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // One event (event name, data) at a time: fields until a blank line.
    let next_event = || -> (String, String) {
        let (mut event, mut data) = (String::new(), String::new());
        loop {
            let line = rx
                .recv_timeout(DONE_WITHIN)
                .unwrap_or_else(|e| panic!("no event ({e}):\n{}", release.logs("api-shim")));
            if line.is_empty() {
                if !data.is_empty() {
                    return (event, data);
                }
                continue;
            }
            if let Some(v) = line.strip_prefix("event: ") {
                event = v.to_string();
            } else if let Some(v) = line.strip_prefix("data: ") {
                data = v.to_string();
            }
        }
    };
    // The snapshot of an empty namespace, then live changes.
    assert_eq!(next_event().0, "reset");
    assert_eq!(
        next_event(),
        ("synced".to_string(), r#"{"count":0}"#.to_string())
    );
    let id = upload(
        &shim,
        &corpus_file("j09_storm_1920x1280.jpg"),
        &["width=128"],
    );
    let mut statuses: Vec<String> = Vec::new();
    while statuses.last().map(String::as_str) != Some("success") {
        let (event, data) = next_event();
        assert_eq!(event, "thumbnail", "{data}");
        let v: Value = serde_json::from_str(&data).unwrap();
        assert_eq!(v["id"], id.as_str());
        let status = v["status"].as_str().unwrap().to_string();
        assert_ne!(status, "error", "{v}");
        if statuses.last() != Some(&status) {
            statuses.push(status);
        }
    }
    assert_eq!(statuses, ["uploaded", "processing", "success"]);
    let _ = client.kill();
    let _ = client.wait();
}

/// Issue 13: `format: avif` through the shim on the real cluster: the resizer image (its
/// statically linked libavif, libaom and dav1d) makes an AVIF that an independent decoder
/// (Debian's avifdec) reads at the asked size.
#[test]
fn an_avif_thumbnail_is_made_by_a_job_and_decodes_at_its_size() {
    let release = Release::install("avif", &[]);
    let shim = release.shim_url();
    let id = upload(
        &shim,
        &corpus_file("j09_storm_1920x1280.jpg"),
        &["width=240", "format=avif"],
    );
    let status = wait_finished(&shim, &id, &release);
    assert_eq!(status["status"], "success", "{status}");
    let output = &status["output"];
    assert_eq!(output["contentType"], "image/avif", "{status}");
    assert_eq!(
        (output["width"].as_u64(), output["height"].as_u64()),
        (Some(240), Some(160)),
        "{status}"
    );
    let dir = std::env::temp_dir().join(format!("{}-{id}", release.namespace));
    std::fs::create_dir_all(&dir).unwrap();
    let (avif, png) = (dir.join("thumb.avif"), dir.join("thumb.png"));
    let download = link_path(&status, "download");
    let (code, body) = curl(&["-o", avif.to_str().unwrap(), &format!("{shim}{download}")]);
    assert_eq!(code, "200", "download of {id}: {body}");
    let bytes = std::fs::read(&avif).unwrap();
    assert_eq!(&bytes[4..12], b"ftypavif", "an AVIF file");
    let decoded = std::process::Command::new("avifdec")
        .arg(&avif)
        .arg(&png)
        .output()
        .unwrap_or_else(|e| panic!("avifdec cannot run ({e}): run hack/install-deps.sh"));
    assert!(decoded.status.success(), "avifdec: {decoded:?}");
    // The PNG's IHDR: width and height, big-endian, at bytes 16..24.
    let png = std::fs::read(&png).unwrap();
    let side = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    assert_eq!((side(16), side(20)), (240, 160), "the decoded AVIF's size");
    std::fs::remove_dir_all(&dir).ok();
}

/// No new Pod may be created in the release's namespace while this lives (a
/// ResourceQuota of zero Pods; the existing ones stay): a resizer Job made meanwhile
/// exists, holds its slot under the cap, and cannot run — nor finish — until
/// [`PodHold::lift`]. The batch tests use it to make Thumbnails wait behind a busy cap,
/// or a batch run last as long as they need, without depending on how fast a run is.
struct PodHold<'a> {
    release: &'a Release,
    lifted: bool,
}

const HOLD: &str = "hold-new-pods";

impl<'a> PodHold<'a> {
    fn new(release: &'a Release) -> Self {
        kubectl_ok(&[
            "create",
            "quota",
            HOLD,
            "-n",
            &release.namespace,
            "--hard=pods=0",
        ]);
        PodHold {
            release,
            lifted: false,
        }
    }

    /// Pods may be created again: the Job controller creates the held Jobs' Pods at its
    /// next retry (it backs off, a few seconds at most here).
    fn lift(mut self) {
        self.lifted = true;
        kubectl_ok(&["delete", "quota", HOLD, "-n", &self.release.namespace]);
    }
}

impl Drop for PodHold<'_> {
    fn drop(&mut self) {
        if !self.lifted {
            let _ = kubectl(&["delete", "quota", HOLD, "-n", &self.release.namespace]);
        }
    }
}

/// A Thumbnail as the API server has it (JSON), or `None` once it is gone.
fn thumbnail(release: &Release, name: &str) -> Option<Value> {
    let out = kubectl(&[
        "get",
        "thumbnail",
        name,
        "-n",
        &release.namespace,
        "-o",
        "json",
    ]);
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).unwrap())
}

/// Every Job of the namespace (JSON), by name.
fn jobs(release: &Release) -> serde_json::Map<String, Value> {
    let out = kubectl_ok(&["get", "jobs", "-n", &release.namespace, "-o", "json"]);
    let list: Value = serde_json::from_str(&out).unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["metadata"]["name"].as_str().unwrap().to_string(),
                j.clone(),
            )
        })
        .collect()
}

/// The uids of a Job's owners, and which of them is its controller.
fn owners(job: &Value) -> (Vec<String>, Vec<String>) {
    let refs = job["metadata"]["ownerReferences"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let uid = |r: &Value| r["uid"].as_str().unwrap().to_string();
    (
        refs.iter().map(uid).collect(),
        refs.iter()
            .filter(|r| r["controller"] == true)
            .map(uid)
            .collect(),
    )
}

/// The reasons of the Events about a Thumbnail, in order.
fn event_reasons(release: &Release, name: &str) -> Vec<String> {
    kubectl_ok(&[
        "get",
        "events",
        "-n",
        &release.namespace,
        "--field-selector",
        &format!("involvedObject.name={name}"),
        "--sort-by=.metadata.creationTimestamp",
        "-o",
        "jsonpath={range .items[*]}{.reason}{\"\\n\"}{end}",
    ])
    .lines()
    .map(str::to_string)
    .collect()
}

/// Waits until every one of `ids` waits behind the cap (Pending, reason Queued).
fn wait_queued(release: &Release, ids: &[String]) {
    release.wait_until(Duration::from_secs(60), &format!("{ids:?} queued"), || {
        let s = statuses(release);
        ids.iter()
            .all(|id| s[id]["phase"] == "Pending" && s[id]["reason"] == "Queued")
    });
}

/// What the batch tests start from, on a release with `operator.maxRunning=1`: new Pods
/// held ([`PodHold`]); a first upload, whose Job takes the one slot and cannot run
/// (nothing waits yet, so it runs alone); then the `queued` uploads (a file and its form
/// fields each), every one waiting behind it (Queued), so that the slot, once free,
/// makes them one batch. Lift `hold` (or let the first go) to let the runs start.
struct HeldQueue<'a> {
    hold: PodHold<'a>,
    /// The first upload's id: the one in the slot.
    first: String,
    /// The queued uploads' ids, in order.
    queued: Vec<String>,
}

impl<'a> HeldQueue<'a> {
    fn new(
        release: &'a Release,
        shim: &str,
        first: (&str, &str),
        queued: &[(&str, Vec<&str>)],
    ) -> Self {
        let hold = PodHold::new(release);
        let first = upload(shim, &corpus_file(first.0), &[first.1]);
        release.wait_until(Duration::from_secs(60), "the first Job", || {
            jobs(release).len() == 1
        });
        let queued: Vec<String> = queued
            .iter()
            .map(|(file, fields)| upload(shim, &corpus_file(file), fields))
            .collect();
        wait_queued(release, &queued);
        HeldQueue {
            hold,
            first,
            queued,
        }
    }
}

/// Deletes a Thumbnail through the shim.
fn delete(shim: &str, id: &str) {
    let (code, body) = curl(&["-X", "DELETE", &format!("{shim}/api/v1/thumbnails/{id}")]);
    assert!(code == "202" || code == "204", "delete {id}: {code} {body}");
}

/// Issue 14 on real Jobs: Thumbnails waiting behind a busy cap (`operator.maxRunning=1`,
/// the chart's batch size) run in ONE Job once the slot frees. Every member owns that
/// Job (one of them controls it), records it with an item of its own, and gets its
/// thumbnail at the right size — one object each. The batch took one slot: the cap
/// counts Jobs. Deleted, the members leave nothing in the store, and the Job is
/// removed by Kubernetes' garbage collector once its last owner is gone (not before).
#[test]
fn queued_thumbnails_run_in_one_batch_job_that_each_owns() {
    let release = Release::install("batch", &["operator.maxRunning=1"]);
    let ns = release.namespace.clone();
    let shim = release.shim_url();
    let store = release.bundled_store();
    let rt = tokio::runtime::Runtime::new().unwrap();

    let uploads = [
        ("j09_storm_1920x1280.jpg", "width=256", "jpeg", (256, 171)),
        (
            "p03_goldfish_3640x2400_rgba.png",
            "width=200",
            "webp",
            (200, 132),
        ),
        (
            "d02_path_2560x1600_orient6.jpg",
            "height=160",
            "png",
            (100, 160),
        ),
        ("p01_astronaut_512x512.png", "width=50", "jpeg", (50, 50)),
    ];
    let formats: Vec<String> = uploads.iter().map(|u| format!("format={}", u.2)).collect();
    let queued: Vec<(&str, Vec<&str>)> = uploads
        .iter()
        .zip(&formats)
        .map(|(u, format)| (u.0, vec![u.1, format.as_str()]))
        .collect();
    let HeldQueue {
        hold,
        first,
        queued: ids,
    } = HeldQueue::new(
        &release,
        &shim,
        ("j09_storm_1920x1280.jpg", "width=64"),
        &queued,
    );
    assert_eq!(jobs(&release).len(), 1, "{}", release.describe());
    hold.lift();

    assert_eq!(wait_finished(&shim, &first, &release)["status"], "success");
    for (id, (file, _, format, size)) in ids.iter().zip(uploads) {
        let status = wait_finished(&shim, id, &release);
        assert_eq!(status["status"], "success", "{file}: {status}");
        let output = &status["output"];
        assert_eq!(
            (output["width"].as_u64(), output["height"].as_u64()),
            (Some(size.0), Some(size.1)),
            "{file}: {status}"
        );
        assert_eq!(
            output["contentType"],
            format!("image/{format}"),
            "{file}: {status}"
        );
    }

    // One Job for the four, recorded by each with its own item.
    let t: Vec<Value> = ids
        .iter()
        .map(|id| thumbnail(&release, id).unwrap())
        .collect();
    let first_job = thumbnail(&release, &first).unwrap()["status"]["jobName"].clone();
    let batch = t[0]["status"]["jobName"].as_str().unwrap().to_string();
    let mut items: Vec<u64> = Vec::new();
    for m in &t {
        assert_eq!(m["status"]["jobName"], batch.as_str(), "{m}");
        items.push(
            m["status"]["runItem"]
                .as_u64()
                .unwrap_or_else(|| panic!("no runItem: {m}")),
        );
    }
    items.sort();
    assert_eq!(items, [0, 1, 2, 3], "one item each");
    let all = jobs(&release);
    assert_eq!(
        all.keys().collect::<Vec<_>>().len(),
        2,
        "the first run and one batch: {:?}\n{}",
        all.keys(),
        release.describe()
    );
    assert!(all.contains_key(&batch) && first_job != batch.as_str());
    assert_eq!(pods_of_job(&release, &batch).len(), 1);
    // Every member owns it; the one whose item is 0 (the head of the queue) controls it.
    let uid = |m: &Value| m["metadata"]["uid"].as_str().unwrap().to_string();
    let (mut owner_uids, controller) = owners(&all[&batch]);
    owner_uids.sort();
    let mut member_uids: Vec<String> = t.iter().map(uid).collect();
    member_uids.sort();
    assert_eq!(owner_uids, member_uids, "{}", all[&batch]);
    let head = t.iter().find(|m| m["status"]["runItem"] == 0).unwrap();
    assert_eq!(controller, [uid(head)], "one controller: the head");

    // Exactly one object each, where each member's status says.
    let outputs: Vec<String> = std::iter::once(first.as_str())
        .chain(ids.iter().map(String::as_str))
        .map(|id| {
            let s = &thumbnail(&release, id).unwrap()["status"];
            assert_eq!(s["output"]["key"], s["runOutput"]["key"], "{s}");
            s["output"]["key"].as_str().unwrap().to_string()
        })
        .collect();
    let mut stored = rt.block_on(store.list("thumbnails", "thumbnails/"));
    stored.sort();
    let mut expected = outputs.clone();
    expected.sort();
    assert_eq!(stored, expected, "one thumbnail per Thumbnail");
    for (id, key) in ids.iter().zip(&outputs[1..]) {
        let bytes = rt.block_on(store.get("thumbnails", key));
        let status = thumbnail(&release, id).unwrap();
        assert_eq!(
            Some(bytes.len() as u64),
            status["status"]["output"]["bytes"].as_u64(),
            "{status}"
        );
    }

    // All deleted but one member that does not control the Job: the Job stays, owned by
    // that one; once it is deleted too, the garbage collector removes the Job.
    let last = ids
        .iter()
        .find(|id| **id != head["metadata"]["name"])
        .unwrap();
    for id in std::iter::once(&first).chain(&ids).filter(|id| *id != last) {
        delete(&shim, id);
    }
    release.wait_until(Duration::from_secs(60), "all but one member gone", || {
        kubectl_ok(&["get", "thumbnails", "-n", &ns, "-o", "name"]).trim()
            == format!("thumbnail.thumbnails.dev/{last}")
    });
    assert!(
        jobs(&release).contains_key(&batch),
        "the batch Job went while a member still owns it\n{}",
        release.describe()
    );
    delete(&shim, last);
    release.wait_until(
        Duration::from_secs(90),
        "the Thumbnails gone and their Jobs garbage-collected",
        || {
            kubectl_ok(&["get", "thumbnails,jobs", "-n", &ns, "-o", "name"])
                .trim()
                .is_empty()
        },
    );
    let left = rt.block_on(store.list("thumbnails", ""));
    assert!(left.is_empty(), "objects left behind: {left:?}");
}

/// Issue 14: a member of a batch deleted while the batch's Job runs (its Pod held back, so
/// it cannot have finished): the deletion waits for the batch instead of stopping it —
/// the Job is not stopped, and no second Job is started for the others, which succeed.
/// The deleted one goes once the batch ended, with the thumbnail the batch made for it
/// and its original: nothing is left in the store but the others' objects. The member
/// deleted is the batch's controlling owner, the one whose deletion could take the Job.
#[test]
fn deleting_a_batch_member_waits_for_the_batch_and_leaves_nothing() {
    let release = Release::install("batchdel", &["operator.maxRunning=1"]);
    let ns = release.namespace.clone();
    let shim = release.shim_url();
    let store = release.bundled_store();
    let rt = tokio::runtime::Runtime::new().unwrap();

    let HeldQueue {
        hold,
        first,
        queued: ids,
    } = HeldQueue::new(
        &release,
        &shim,
        ("j09_storm_1920x1280.jpg", "width=64"),
        &[
            ("j09_storm_1920x1280.jpg", vec!["width=128"]),
            ("p01_astronaut_512x512.png", vec!["width=64"]),
            ("j05_path_2560x1600.jpg", vec!["width=96"]),
        ],
    );
    // A run of its own is stopped at once when its Thumbnail goes; its slot goes to the
    // three waiting, as one batch — whose Pod the hold keeps from starting.
    delete(&shim, &first);
    let mut batch = String::new();
    release.wait_until(
        Duration::from_secs(60),
        "the first gone, the others in one batch",
        || {
            let s = statuses(&release);
            let names: Vec<&str> = ids
                .iter()
                .filter_map(|id| s[id]["jobName"].as_str())
                .collect();
            if s.get(&first).is_some() || names.len() != ids.len() {
                return false;
            }
            batch = names[0].to_string();
            names.iter().all(|n| *n == batch)
        },
    );
    let job = &jobs(&release)[&batch];
    let (owner_uids, controller) = owners(job);
    assert_eq!(owner_uids.len(), 3, "{job}");
    let members: Vec<Value> = ids
        .iter()
        .map(|id| thumbnail(&release, id).unwrap())
        .collect();
    let head = members
        .iter()
        .find(|m| m["metadata"]["uid"] == controller[0].as_str())
        .unwrap_or_else(|| panic!("no member controls {job}"));
    let head_id = head["metadata"]["name"].as_str().unwrap().to_string();
    let head_output = head["status"]["runOutput"]["key"]
        .as_str()
        .unwrap_or_else(|| panic!("no runOutput: {head}"))
        .to_string();
    assert_eq!(head["status"]["runItem"], 0, "{head}");

    delete(&shim, &head_id);
    // The deletion is seen, and waits: the Thumbnail stays (its finalizer) while its batch
    // has not run, and the Job is not stopped.
    release.wait_until(
        Duration::from_secs(30),
        "the head marked for deletion",
        || {
            thumbnail(&release, &head_id)
                .is_some_and(|t| t["metadata"]["deletionTimestamp"].is_string())
        },
    );
    let job = jobs(&release);
    assert!(
        job.contains_key(&batch) && job[&batch]["metadata"]["deletionTimestamp"].is_null(),
        "the batch Job was stopped: {job:?}"
    );
    hold.lift();

    let others: Vec<&String> = ids.iter().filter(|id| **id != head_id).collect();
    for id in &others {
        let status = wait_finished(&shim, id, &release);
        assert_eq!(status["status"], "success", "{status}");
    }
    release.wait_until(
        Duration::from_secs(60),
        "the deleted member gone after its batch",
        || thumbnail(&release, &head_id).is_none(),
    );
    // One Job ran for the three: no second one for the others.
    let all = jobs(&release);
    assert_eq!(
        all.keys().collect::<Vec<_>>(),
        [&batch],
        "{}",
        release.describe()
    );
    assert_eq!(pods_of_job(&release, &batch).len(), 1);
    // Left in the store: exactly the others' originals and thumbnails.
    let mut expected: Vec<String> = Vec::new();
    for id in &others {
        let t = thumbnail(&release, id).unwrap();
        assert_eq!(t["status"]["jobName"], batch.as_str(), "{t}");
        expected.push(t["status"]["output"]["key"].as_str().unwrap().to_string());
        expected.push(
            t["spec"]["source"]["s3"]["key"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    expected.sort();
    let mut stored = rt.block_on(store.list("thumbnails", ""));
    stored.sort();
    assert_eq!(
        stored,
        expected,
        "{head_output} (the deleted one's) or another object left behind\n{}",
        release.operator_log()
    );
    let _ = ns;
}

/// Issue 14: a batch killed at its memory limit (`resizer.resources.limits.memory=32Mi`,
/// as `an_oom_killed_resizer_fails_once_with_one_pod`) failed without results: its
/// members go back to the queue (reason Requeued, an Event each) and each runs alone —
/// the 5120x2880 PNG (59 MB decoded) fails with OutOfMemory in its own Job, the small
/// images succeed in theirs. A permanent failure of the batch is never one member's.
#[test]
fn an_oom_killed_batch_sends_its_members_to_run_alone() {
    let release = Release::install(
        "batchoom",
        &[
            "operator.maxRunning=1",
            "resizer.resources.limits.memory=32Mi",
            "resizer.resources.requests.memory=32Mi",
        ],
    );
    let shim = release.shim_url();

    let uploads = [
        ("j09_storm_1920x1280.jpg", "width=64", Some((64, 43))),
        ("p02_kay_5120x2880_rgba.png", "width=64", None),
        ("p01_astronaut_512x512.png", "width=48", Some((48, 48))),
    ];
    let queued: Vec<(&str, Vec<&str>)> = uploads.iter().map(|u| (u.0, vec![u.1])).collect();
    let HeldQueue {
        hold,
        first,
        queued: ids,
    } = HeldQueue::new(
        &release,
        &shim,
        ("p01_astronaut_512x512.png", "width=32"),
        &queued,
    );
    hold.lift();

    let first_status = wait_finished(&shim, &first, &release);
    assert_eq!(first_status["status"], "success", "{first_status}");
    for (id, (file, _, size)) in ids.iter().zip(uploads) {
        let status = wait_finished(&shim, id, &release);
        match size {
            Some((w, h)) => {
                assert_eq!(status["status"], "success", "{file}: {status}");
                assert_eq!(
                    (
                        status["output"]["width"].as_u64(),
                        status["output"]["height"].as_u64()
                    ),
                    (Some(w), Some(h)),
                    "{file}: {status}"
                );
            }
            None => {
                assert_eq!(status["status"], "error", "{file}: {status}");
                assert_eq!(
                    status["reason"],
                    "OutOfMemory",
                    "{file}: {status}\n{}",
                    release.describe()
                );
            }
        }
    }

    // The batch: one Job owned by the three, failed by its podFailurePolicy after one Pod.
    let all = jobs(&release);
    let uids: Vec<String> = ids
        .iter()
        .map(|id| {
            thumbnail(&release, id).unwrap()["metadata"]["uid"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let batches: Vec<&String> = all
        .iter()
        .filter(|(_, j)| owners(j).0.len() > 1)
        .map(|(name, _)| name)
        .collect();
    assert_eq!(
        batches.len(),
        1,
        "one batch Job: {:?}\n{}",
        all.keys(),
        release.describe()
    );
    let batch = batches[0];
    let mut owner_uids = owners(&all[batch]).0;
    owner_uids.sort();
    let mut sorted = uids.clone();
    sorted.sort();
    assert_eq!(owner_uids, sorted, "{}", all[batch]);
    let failed = all[batch]["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Failed" && c["status"] == "True")
        .map(|c| c["reason"].clone());
    assert_eq!(
        failed,
        Some(Value::from("PodFailurePolicy")),
        "{}",
        all[batch]
    );
    assert_eq!(pods_of_job(&release, batch).len(), 1, "not retried");
    // Then each ran alone: a Job of its own (the first's, the batch and three more).
    assert_eq!(all.len(), 5, "{:?}\n{}", all.keys(), release.describe());
    for (id, uid) in ids.iter().zip(&uids) {
        let t = thumbnail(&release, id).unwrap();
        let own = t["status"]["jobName"].as_str().unwrap();
        assert_ne!(own, batch.as_str(), "{t}");
        assert!(t["status"]["runItem"].is_null(), "ran alone: {t}");
        assert_eq!(
            owners(&all[own]),
            (vec![uid.clone()], vec![uid.clone()]),
            "{}",
            all[own]
        );
        let reasons = event_reasons(&release, id);
        assert!(
            reasons.iter().any(|r| r == "Requeued"),
            "a Requeued Event on {id}: {reasons:?}"
        );
    }
}

/// The name of the test cluster's one node (hack/cluster.sh starts a single node).
fn the_node() -> String {
    let nodes = kubectl_ok(&["get", "nodes", "-o", "name"]);
    let nodes: Vec<&str> = nodes.lines().collect();
    assert_eq!(nodes.len(), 1, "one node: {nodes:?}");
    nodes[0].trim_start_matches("node/").to_string()
}

/// Issue 14: several sizes from one upload on the real node, through the NodePort with
/// the chart's token: one original, one Thumbnail per size labelled with the group, each
/// made by a Job whose one Pod ran on the node (alone or batched with its siblings), each
/// download decoding at its size in its format. The original stays while any member
/// lives: a member deleted alone takes only its thumbnail; the group's DELETE removes the
/// rest, and with the last member the original goes.
#[test]
fn several_sizes_from_one_upload_share_one_original_on_the_cluster() {
    let release = Release::install("sizes", &[]);
    let ns = release.namespace.clone();
    let shim = release.shim_url();
    let store = release.bundled_store();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let node = the_node();
    // 2560x1600: 96 wide is 96x60; 160x160 cover is exact; 100 high is 160x100.
    let file = format!("file=@{}", corpus_file("j06_fallenleaf_2560x1600.jpg"));
    let (code, body) = curl(&[
        "-F",
        &file,
        "-F",
        "sizes=96,160x160:cover:png,x100:jpeg",
        "-F",
        "format=webp",
        &format!("{shim}/api/v1/thumbnails"),
    ]);
    assert_eq!(code, "202", "{body}");
    let accepted: Value = serde_json::from_str(&body).unwrap();
    let (group, ids) = thumbnail_testkit::http::accepted_group(&accepted);
    let expected = [
        (96, 60, image::ImageFormat::WebP),
        (160, 160, image::ImageFormat::Png),
        (160, 100, image::ImageFormat::Jpeg),
    ];
    assert_eq!(ids.len(), expected.len(), "{accepted}");
    let original = thumbnail_api::ownership::shim_original_key(&ns, &group);
    let originals = || rt.block_on(store.list("thumbnails", "originals/"));
    assert_eq!(originals(), std::slice::from_ref(&original));

    // kubectl users see the group by its label: exactly the members.
    let mut listed: Vec<String> = kubectl_ok(&[
        "get",
        "thumbnails",
        "-n",
        &ns,
        "-l",
        &format!("thumbnails.dev/group={group}"),
        "-o",
        "name",
    ])
    .lines()
    .map(|l| {
        l.trim_start_matches("thumbnail.thumbnails.dev/")
            .to_string()
    })
    .collect();
    listed.sort();
    let mut members = ids.clone();
    members.sort();
    assert_eq!(listed, members);

    let view = wait_finished_at(&format!("{shim}/api/v1/groups/{group}"), &release);
    assert_eq!(view["status"], "success", "{view}\n{}", release.describe());

    let dir = std::env::temp_dir().join(format!("{ns}-{group}"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut outputs = Vec::new();
    // Job name -> its members' uids and items.
    let mut by_job: std::collections::BTreeMap<String, Vec<(String, Value)>> = Default::default();
    for (id, (width, height, format)) in ids.iter().zip(expected) {
        let status = get_json(&format!("{shim}/api/v1/thumbnails/{id}"));
        assert_eq!(status["status"], "success", "{status}");
        // Its bytes, decoded by an independent decoder (the `image` crate), at its size.
        let path = dir.join(id);
        let download = link_path(&status, "download");
        let (code, body) = curl(&["-o", path.to_str().unwrap(), &format!("{shim}{download}")]);
        assert_eq!(code, "200", "download of {id}: {body}");
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(
            image::guess_format(&bytes).ok(),
            Some(format),
            "{id}: {status}"
        );
        let decoded = image::load_from_memory_with_format(&bytes, format)
            .unwrap_or_else(|e| panic!("{id} does not decode ({e}): {status}"));
        assert_eq!(
            (decoded.width(), decoded.height()),
            (width, height),
            "{id}: {status}"
        );

        // Made by the Job its status names, which it owns, whose one Pod ran on the node.
        let t = thumbnail(&release, id).unwrap();
        let job = t["status"]["jobName"]
            .as_str()
            .unwrap_or_else(|| panic!("no jobName: {t}"))
            .to_string();
        let uid = t["metadata"]["uid"].as_str().unwrap().to_string();
        by_job
            .entry(job)
            .or_default()
            .push((uid, t["status"]["runItem"].clone()));
        outputs.push(t["status"]["output"]["key"].as_str().unwrap().to_string());
    }
    std::fs::remove_dir_all(&dir).ok();
    // The members were created together, so a member starting its run may take the
    // others still waiting into it (a batch; Queue::take_batch), or each runs alone: how
    // they split depends on when the operator saw them. Either way every Job is owned by
    // exactly the members that record it, and ran once on the node.
    let all = jobs(&release);
    assert!(
        (1..=ids.len()).contains(&by_job.len()),
        "{by_job:?}\n{}",
        release.describe()
    );
    for (job, members) in &by_job {
        let (mut owner_uids, controller) = owners(&all[job]);
        owner_uids.sort();
        let mut uids: Vec<String> = members.iter().map(|(uid, _)| uid.clone()).collect();
        uids.sort();
        assert_eq!(
            owner_uids,
            uids,
            "{}\nthe members: {}\n{}",
            all[job],
            ids.iter()
                .map(|id| format!(
                    "{} {:?}\n",
                    thumbnail(&release, id).unwrap()["status"],
                    event_reasons(&release, id)
                ))
                .collect::<String>(),
            release.operator_log()
        );
        assert_eq!(controller.len(), 1, "{}", all[job]);
        let mut items: Vec<Option<u64>> = members.iter().map(|(_, i)| i.as_u64()).collect();
        items.sort();
        if members.len() == 1 {
            assert_eq!(items, [None], "a run of its own has no item: {}", all[job]);
        } else {
            let each: Vec<Option<u64>> = (0..members.len() as u64).map(Some).collect();
            assert_eq!(items, each, "an item each: {}", all[job]);
        }
        let pods = pods_of_job(&release, job);
        assert_eq!(pods.len(), 1, "{pods:?}\n{}", release.describe());
        let ran_on = kubectl_ok(&[
            "get",
            &pods[0],
            "-n",
            &ns,
            "-o",
            "jsonpath={.spec.nodeName} {.status.phase}",
        ]);
        assert_eq!(ran_on, format!("{node} Succeeded"), "{}", pods[0]);
    }
    assert_eq!(all.len(), by_job.len(), "no other Job: {:?}", all.keys());

    // One member alone: its thumbnail goes, the original stays for the others.
    delete(&shim, &ids[0]);
    release.wait_until(Duration::from_secs(60), "the first member gone", || {
        thumbnail(&release, &ids[0]).is_none()
    });
    let mut stored = rt.block_on(store.list("thumbnails", ""));
    stored.sort();
    let mut kept = vec![original.clone()];
    kept.extend(outputs[1..].iter().cloned());
    kept.sort();
    assert_eq!(stored, kept, "{}", release.operator_log());
    // The group's DELETE: the others, and with the last of them the original.
    let (code, body) = curl(&["-X", "DELETE", &format!("{shim}/api/v1/groups/{group}")]);
    assert!(
        code == "202" || code == "204",
        "delete {group}: {code} {body}"
    );
    release.wait_until(Duration::from_secs(60), "the members gone", || {
        kubectl_ok(&["get", "thumbnails", "-n", &ns, "-o", "name"])
            .trim()
            .is_empty()
    });
    let left = rt.block_on(store.list("thumbnails", ""));
    assert!(
        left.is_empty(),
        "left in the store: {left:?}\n{}",
        release.operator_log()
    );
    let (code, _) = curl(&[&format!("{shim}/api/v1/groups/{group}")]);
    assert_eq!(code, "404");
}
