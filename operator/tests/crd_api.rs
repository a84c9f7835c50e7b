//! The Thumbnail API against a real Kubernetes API server (upstream
//! apiextensions-apiserver + etcd, started by `make test`): the generated CRD, the
//! example manifests, schema/CEL validation, the status subresource, and what a
//! kubectl user sees.

use std::path::{Path, PathBuf};

use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use thumbnail_api::crd::{Phase, Thumbnail};
use thumbnail_testkit::{self as testkit, kubectl, kubectl_ok};

fn repo_root() -> PathBuf {
    testkit::workspace_root()
}

async fn setup(prefix: &str) -> (kube::Client, String) {
    (
        testkit::kube::client_with_crd().await,
        testkit::kube::unique_namespace(prefix),
    )
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no manifests in {}", dir.display());
    files
}

#[tokio::test]
async fn generated_crd_is_accepted_and_established() {
    let (client, _) = setup("crd").await;
    // The API server now serves the resource: discovery lists it with its short names.
    let discovery = kube::discovery::Discovery::new(client)
        .filter(&["thumbnails.dev"])
        .run()
        .await
        .unwrap();
    let group = discovery
        .get("thumbnails.dev")
        .expect("thumbnails.dev is discovered");
    let (resource, caps) = group
        .recommended_kind("Thumbnail")
        .expect("Thumbnail is served");
    assert_eq!(resource.version, "v1alpha1");
    assert_eq!(resource.plural, "thumbnails");
    let subresources: Vec<_> = caps
        .subresources
        .iter()
        .map(|(r, _)| r.plural.clone())
        .collect();
    assert!(
        subresources.iter().any(|p| p.ends_with("status")),
        "{subresources:?}"
    );
}

#[tokio::test]
async fn kubectl_applies_the_crd_file_without_warnings() {
    let (_client, _) = setup("crdfile").await;
    let file = repo_root().join("crds/thumbnails.dev_thumbnails.yaml");
    let out = kubectl(&[
        "apply",
        "--server-side",
        "--force-conflicts",
        "-f",
        file.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains("Warning"),
        "the API server warned about the CRD:\n{stderr}"
    );
}

#[tokio::test]
async fn every_example_manifest_is_accepted() {
    let (client, ns) = setup("examples").await;
    for file in yaml_files(&repo_root().join("examples")) {
        let out = kubectl_ok(&["apply", "-n", &ns, "-f", file.to_str().unwrap()]);
        assert!(out.contains("created"), "{}: {out}", file.display());
    }
    // What was stored has the defaults filled in by the schema.
    let api: Api<Thumbnail> = Api::namespaced(client, &ns);
    let kleiber = api.get("kleiber").await.unwrap();
    assert_eq!(kleiber.spec.width, Some(256));
    assert_eq!(serde_json::to_value(kleiber.spec.fit).unwrap(), "inside");
    assert_eq!(serde_json::to_value(kleiber.spec.format).unwrap(), "jpeg");
    assert_eq!(api.list(&Default::default()).await.unwrap().items.len(), 3);
}

/// Each file in tests/manifests/invalid starts with `# expect: <text>`: kubectl apply
/// must fail and say that text, so the user learns what to fix before any Job runs.
#[tokio::test]
async fn invalid_manifests_are_rejected_with_clear_messages() {
    let (_client, ns) = setup("invalid").await;
    let dir = repo_root().join("operator/tests/manifests/invalid");
    let mut failures = Vec::new();
    for file in yaml_files(&dir) {
        let text = std::fs::read_to_string(&file).unwrap();
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} lacks a '# expect: ' first line", file.display()));
        let out = kubectl(&["apply", "-n", &ns, "-f", file.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            failures.push(format!("{}: was accepted", file.display()));
        } else if !stderr.contains(expect) {
            failures.push(format!(
                "{}: expected {expect:?} in:\n{stderr}",
                file.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[tokio::test]
async fn status_is_written_only_through_the_status_subresource() {
    let (client, ns) = setup("status").await;
    let api: Api<Thumbnail> = Api::namespaced(client, &ns);
    let ssa = PatchParams::apply("thumbnail-operator").force();

    // A user's apply that smuggles a status in: the main endpoint drops it.
    let created = api
        .patch(
            "cat",
            &PatchParams::apply("kubectl-user"),
            &Patch::Apply(json!({
                "apiVersion": "thumbnails.dev/v1alpha1", "kind": "Thumbnail",
                "metadata": {"name": "cat"},
                "spec": {"source": {"s3": {"key": "originals/cat.jpg"}}, "width": 128},
                "status": {"phase": "Succeeded"}
            })),
        )
        .await
        .unwrap();
    assert_eq!(created.status, None);
    assert_eq!(created.metadata.generation, Some(1));

    // The controller's server-side apply on /status is stored, merged per condition type.
    let status = json!({
        "apiVersion": "thumbnails.dev/v1alpha1", "kind": "Thumbnail",
        "status": {
            "phase": "Processing", "observedGeneration": 1, "jobName": "cat-g1-abcde",
            "conditions": [{"type": "Ready", "status": "False", "reason": "JobRunning",
                            "message": "resizer Job cat-g1-abcde is running",
                            "lastTransitionTime": "2026-11-28T12:00:00Z", "observedGeneration": 1}]
        }
    });
    let patched = api
        .patch_status("cat", &ssa, &Patch::Apply(&status))
        .await
        .unwrap();
    let st = patched.status.clone().unwrap();
    assert_eq!(st.phase, Some(Phase::Processing));
    assert_eq!(st.job_name.as_deref(), Some("cat-g1-abcde"));
    // Writing status does not bump the generation (only spec changes do).
    assert_eq!(patched.metadata.generation, Some(1));
    let managers: Vec<_> = patched
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .map(|m| {
            (
                m.manager.unwrap_or_default(),
                m.subresource.unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        managers.contains(&("thumbnail-operator".into(), "status".into())),
        "{managers:?}"
    );

    // A second condition type is merged in, not replacing the first (listType=map).
    let more = json!({
        "apiVersion": "thumbnails.dev/v1alpha1", "kind": "Thumbnail",
        "status": {"conditions": [{"type": "JobCreated", "status": "True", "reason": "Created",
                   "message": "created", "lastTransitionTime": "2026-11-28T12:00:01Z"}]}
    });
    let merged = api
        .patch_status(
            "cat",
            &PatchParams::apply("another-writer"),
            &Patch::Apply(&more),
        )
        .await
        .unwrap();
    let types: Vec<_> = merged
        .status
        .unwrap()
        .conditions
        .into_iter()
        .map(|c| c.type_)
        .collect();
    assert_eq!(types, ["Ready", "JobCreated"]);

    // Spec sent to /status is ignored.
    let sneaky = json!({
        "apiVersion": "thumbnails.dev/v1alpha1", "kind": "Thumbnail",
        "spec": {"source": {"s3": {"key": "originals/cat.jpg"}}, "width": 4000}
    });
    let after = api
        .patch_status("cat", &PatchParams::default(), &Patch::Merge(&sneaky))
        .await
        .unwrap();
    assert_eq!(after.spec.width, Some(128));

    // Status is validated too: an unknown phase is refused with the allowed values.
    let bad = json!({"apiVersion": "thumbnails.dev/v1alpha1", "kind": "Thumbnail",
                     "status": {"phase": "Done"}});
    let err = api
        .patch_status("cat", &ssa, &Patch::Apply(&bad))
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(status) => {
            let message = &status.message;
            assert_eq!(status.code, 422, "{message}");
            assert!(
                message.contains(
                    "supported values: \"Pending\", \"Processing\", \"Succeeded\", \"Failed\""
                ),
                "{message}"
            );
        }
        other => panic!("expected a 422, got {other:?}"),
    }
}

#[tokio::test]
async fn server_rejects_what_the_typed_client_sends_wrong() {
    // The Rust types and the schema agree: a spec built in code that breaks a CEL rule
    // is refused by the server with the rule's message.
    let (client, ns) = setup("typed").await;
    let api: Api<Thumbnail> = Api::namespaced(client, &ns);
    let mut bad: Thumbnail = serde_json::from_value(json!({
        "apiVersion": "thumbnails.dev/v1alpha1", "kind": "Thumbnail",
        "metadata": {"name": "typed"},
        "spec": {"source": {"s3": {"key": "a.jpg"}}, "width": 10, "fit": "fill"}
    }))
    .unwrap();
    let err = api.create(&PostParams::default(), &bad).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("need both spec.width and spec.height"),
        "{err}"
    );
    bad.spec.height = Some(10);
    let ok = api.create(&PostParams::default(), &bad).await.unwrap();
    assert_eq!(ok.spec.height, Some(10));
}

#[tokio::test]
async fn kubectl_get_shows_phase_size_and_format() {
    let (client, ns) = setup("get").await;
    let api: Api<Thumbnail> = Api::namespaced(client, &ns);
    kubectl_ok(&[
        "apply",
        "-n",
        &ns,
        "-f",
        repo_root()
            .join("examples/thumbnail-webp-cover.yaml")
            .to_str()
            .unwrap(),
    ]);
    kubectl_ok(&[
        "apply",
        "-n",
        &ns,
        "-f",
        repo_root()
            .join("examples/thumbnail.yaml")
            .to_str()
            .unwrap(),
    ]);
    let done = json!({
        "apiVersion": "thumbnails.dev/v1alpha1", "kind": "Thumbnail",
        "status": {
            "phase": "Succeeded", "observedGeneration": 1, "jobName": "cups-avatar-g1-x7k2p",
            "message": "thumbnail stored",
            "output": {"bucket": "uploads", "key": "thumbnails/cups-avatar.webp", "width": 512,
                       "height": 512, "format": "webp", "contentType": "image/webp", "bytes": 31337}
        }
    });
    api.patch_status(
        "cups-avatar",
        &PatchParams::apply("thumbnail-operator"),
        &Patch::Apply(&done),
    )
    .await
    .unwrap();
    let queued = json!({"apiVersion": "thumbnails.dev/v1alpha1", "kind": "Thumbnail",
                        "status": {"phase": "Pending", "reason": "Queued"}});
    api.patch_status(
        "kleiber",
        &PatchParams::apply("thumbnail-operator"),
        &Patch::Apply(&queued),
    )
    .await
    .unwrap();

    let table = kubectl_ok(&["get", "thumbnails", "-n", &ns]);
    println!("$ kubectl get thumbnails\n{table}");
    let rows = table_cells(&table);
    assert_eq!(
        rows[0],
        ["NAME", "PHASE", "WIDTH", "HEIGHT", "FORMAT", "AGE"]
    );
    assert_eq!(
        rows[1][..5],
        ["cups-avatar", "Succeeded", "512", "512", "webp"]
    );
    // Not produced yet: the size columns stay empty.
    assert_eq!(rows[2][..5], ["kleiber", "Pending", "", "", "jpeg"]);

    // Short name and the wide view with the priority-1 columns.
    let wide = kubectl_ok(&["get", "thumb", "-n", &ns, "-o", "wide"]);
    println!("$ kubectl get thumb -o wide\n{wide}");
    let header: Vec<_> = wide.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "PHASE", "WIDTH", "HEIGHT", "FORMAT", "AGE", "FIT", "BYTES", "JOB", "MESSAGE"]
    );
    assert!(
        wide.contains("cover") && wide.contains("31337") && wide.contains("cups-avatar-g1-x7k2p"),
        "{wide}"
    );
    // The category groups it for `kubectl get thumbnails.dev`-style listing.
    let by_category = kubectl_ok(&["get", "thumbnails", "-n", &ns, "-o", "name"]);
    assert_eq!(by_category.lines().count(), 2, "{by_category}");
}

/// Splits kubectl's table output into cells at the header's column starts, so empty
/// cells are kept as "".
fn table_cells(table: &str) -> Vec<Vec<String>> {
    let header = table.lines().next().expect("a header line");
    let mut starts: Vec<usize> = header
        .char_indices()
        .filter(|&(i, c)| c != ' ' && (i == 0 || header.as_bytes()[i - 1] == b' '))
        .map(|(i, _)| i)
        .collect();
    starts.push(usize::MAX);
    table
        .lines()
        .map(|line| {
            starts
                .windows(2)
                .map(|w| {
                    line.get(w[0]..w[1].min(line.len()))
                        .unwrap_or("")
                        .trim()
                        .to_string()
                })
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn kubectl_explain_shows_the_docs() {
    let (_client, _ns) = setup("explain").await;
    // The OpenAPI controller publishes a new CRD's schema asynchronously; retry briefly.
    let mut last = String::new();
    for _ in 0..50 {
        let out = kubectl(&["explain", "thumbnail.spec"]);
        last = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        if out.status.success() && last.contains("fit") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    for text in [
        "Desired thumbnail: where the original is",
        "\"cover\" keeps the aspect ratio and crops the centre",
        "Encoder quality for jpeg, webp and avif",
        "source\t<Object> -required-",
    ] {
        assert!(
            last.contains(text),
            "kubectl explain thumbnail.spec lacks {text:?}:\n{last}"
        );
    }
    let status = kubectl_ok(&["explain", "thumbnail.status.phase"]);
    assert!(
        status.contains("Pending, Processing, Succeeded or Failed"),
        "{status}"
    );
}
