//! The contract between the Job the controller renders and the resizer binary: run the
//! real resizer with exactly the rendered container's arguments and environment
//! (credentials resolved from what the Secret would hold, the endpoint pointing at the
//! real S3 test server), feed its result back through the controller's result
//! handling, and check the status against the object really stored.

use std::collections::BTreeMap;
use std::process::Command;

use clap::Parser;
use k8s_openapi::jiff::Timestamp;
use thumbnail_api::crd::{Phase, Thumbnail};
use thumbnail_operator::config::Config;
use thumbnail_operator::executor::jobs;
use thumbnail_operator::invocation::{self, RunOutcome};
use thumbnail_operator::status::{self, Transition};
use thumbnail_testkit::{corpus, S3Env};

fn resizer_bin() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("resizer");
    assert!(
        bin.exists(),
        "{} is missing: build the workspace first (`make test` does)",
        bin.display()
    );
    bin
}

fn thumbnail(bucket: &str, key: &str, spec: serde_json::Value) -> Thumbnail {
    let mut s = serde_json::json!({"source": {"s3": {"bucket": bucket, "key": key}}});
    for (k, v) in spec.as_object().unwrap() {
        s[k] = v.clone();
    }
    let mut t: Thumbnail = serde_json::from_value(serde_json::json!({
        "apiVersion": "thumbnails.dev/v1alpha1", "kind": "Thumbnail",
        "metadata": {"name": "contract", "namespace": "media", "uid": "7f3e9a10-aaaa", "generation": 3},
        "spec": s
    }))
    .unwrap();
    t.metadata.creation_timestamp = None;
    t
}

/// Runs the container of `job` as the kubelet would: its args, its env with Secret
/// references resolved, its termination message read from the result file.
fn run_container(
    job: &k8s_openapi::api::batch::v1::Job,
    secret: &BTreeMap<&str, String>,
) -> (i32, String) {
    let pod = job.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    let c = &pod.containers[0];
    let result = std::env::temp_dir().join(format!("termination-{}", std::process::id()));
    let _ = std::fs::remove_file(&result);
    let mut cmd = Command::new(resizer_bin());
    cmd.env_clear().args(c.args.clone().unwrap_or_default());
    for e in c.env.clone().unwrap_or_default() {
        let value = match (e.value, e.value_from) {
            (Some(v), _) => v,
            (None, Some(from)) => {
                let r = from.secret_key_ref.expect("only Secret references");
                secret
                    .get(r.key.as_str())
                    .unwrap_or_else(|| panic!("Secret lacks {}", r.key))
                    .clone()
            }
            _ => String::new(),
        };
        cmd.env(e.name, value);
    }
    // Kubernetes reads /dev/termination-log; here the same contract names a file.
    cmd.env(thumbnail_api::contract::ENV_RESULT_PATH, &result);
    let status = cmd.status().expect("run the resizer");
    let message = std::fs::read_to_string(&result).unwrap_or_default();
    assert!(
        message.len() <= 4096,
        "termination messages are capped at 4096 bytes"
    );
    (status.code().unwrap_or(-1), message)
}

fn config(endpoint: &str, bucket: &str) -> Config {
    Config::parse_from([
        "thumbnail-operator",
        "--bucket",
        bucket,
        "--s3-endpoint",
        endpoint,
        "--public-base-url",
        "http://shim",
    ])
}

#[tokio::test]
async fn rendered_job_runs_the_real_resizer_and_status_matches_the_stored_object() {
    let s3 = S3Env::from_env();
    let bucket = s3.new_bucket("contract").await;
    let photo = corpus("j05_path_2560x1600.jpg");
    s3.put(&bucket, "originals/path.jpg", photo).await;
    let thumb = thumbnail(
        &bucket,
        "originals/path.jpg",
        serde_json::json!({"width": 320, "height": 320, "fit": "cover", "format": "webp", "quality": 75}),
    );
    let config = config(&s3.endpoint, &bucket);
    let invocation = invocation::build(&thumb, &config).unwrap();
    let run_name = thumbnail_operator::naming::run_name(&thumb);
    let job = jobs::render(&thumb, &run_name, &invocation, &config);
    let secret = BTreeMap::from([
        ("AWS_ACCESS_KEY_ID", s3.access_key.clone()),
        ("AWS_SECRET_ACCESS_KEY", s3.secret_key.clone()),
    ]);

    let (code, message) = run_container(&job, &secret);
    assert_eq!(code, 0, "resizer failed: {message}");
    let outcome = invocation::outcome_from_exit(code, &message, Some("Completed"));
    let RunOutcome::Succeeded(output) = outcome.clone() else {
        panic!("{outcome:?}")
    };
    let st = status::next(
        &thumb,
        &Transition::Succeeded { run_name, output },
        &config.public_base_url,
        Timestamp::now(),
    );
    assert_eq!(st.phase, Some(Phase::Succeeded));
    let out = st.output.unwrap();
    assert_eq!(
        (out.width, out.height, out.content_type.as_str()),
        (320, 320, "image/webp")
    );
    assert_eq!(out.key, thumbnail_operator::naming::output_key(&thumb, 3));
    let stored = s3.get(&out.bucket, &out.key).await;
    assert_eq!(
        stored.len() as u64,
        out.bytes,
        "status.output.bytes is the stored object's size"
    );
    assert_eq!(&stored[8..12], b"WEBP");
    let head = s3
        .client
        .head_object()
        .bucket(&out.bucket)
        .key(&out.key)
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("image/webp"));
    assert_eq!(
        st.links.iter().find(|l| l.rel == "download").unwrap().href,
        "http://shim/api/v1/thumbnails/contract/download"
    );
}

#[tokio::test]
async fn permanent_input_error_uses_the_exit_code_the_job_fails_on() {
    let s3 = S3Env::from_env();
    let bucket = s3.new_bucket("contract-bad").await;
    s3.put(
        &bucket,
        "originals/readme.jpg",
        b"# not an image\n".to_vec(),
    )
    .await;
    let thumb = thumbnail(
        &bucket,
        "originals/readme.jpg",
        serde_json::json!({"width": 64}),
    );
    let config = config(&s3.endpoint, &bucket);
    let invocation = invocation::build(&thumb, &config).unwrap();
    let job = jobs::render(&thumb, "bad", &invocation, &config);
    let secret = BTreeMap::from([
        ("AWS_ACCESS_KEY_ID", s3.access_key.clone()),
        ("AWS_SECRET_ACCESS_KEY", s3.secret_key.clone()),
    ]);
    let (code, message) = run_container(&job, &secret);
    // The podFailurePolicy's FailJob rule names exactly this exit code.
    let policy = job
        .spec
        .as_ref()
        .unwrap()
        .pod_failure_policy
        .as_ref()
        .unwrap();
    assert_eq!(
        policy.rules[0].on_exit_codes.as_ref().unwrap().values,
        vec![code]
    );
    match invocation::outcome_from_exit(code, &message, Some("Error")) {
        RunOutcome::Failed { reason, message } => {
            assert_eq!(reason, "NotAnImage");
            assert!(!message.is_empty());
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn unreachable_store_exits_with_the_retryable_code() {
    let s3 = S3Env::from_env();
    let thumb = thumbnail(
        "nowhere",
        "originals/x.jpg",
        serde_json::json!({"width": 64}),
    );
    let config = config("http://127.0.0.1:9", "nowhere");
    let invocation = invocation::build(&thumb, &config).unwrap();
    let job = jobs::render(&thumb, "down", &invocation, &config);
    let secret = BTreeMap::from([
        ("AWS_ACCESS_KEY_ID", s3.access_key.clone()),
        ("AWS_SECRET_ACCESS_KEY", s3.secret_key.clone()),
    ]);
    let (code, message) = run_container(&job, &secret);
    assert_eq!(code, invocation::EXIT_TRANSIENT, "{message}");
    match invocation::outcome_from_exit(code, &message, Some("Error")) {
        RunOutcome::Failed { reason, .. } => assert_eq!(reason, "StoreUnavailable"),
        other => panic!("{other:?}"),
    }
}
