//! The REST shim against the real servers: real CRD API server, real S3 server, real
//! photos. The shim alone (tests write the status the operator would); the whole system
//! with the operator and the resizer is tested in the e2e crate.

mod common;

use std::collections::BTreeSet;

use common::{corpus, Options, Shim};
use reqwest::StatusCode;
use serde_json::{json, Value};
use thumbnail_api::crd::Phase;
use thumbnail_api::metadata::{
    ANNOTATION_ORIGINAL_FILENAME, ANNOTATION_SHIM_OWNS_SOURCE, FINALIZER, LABEL_CREATED_BY,
};
use thumbnail_api::ownership::{is_shim_original, shim_original_key};

async fn body(r: reqwest::Response) -> Value {
    let status = r.status();
    let text = r.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {text}"))
}

async fn expect_error(r: reqwest::Response, status: StatusCode, code: &str) -> Value {
    let got = r.status();
    if got != status {
        panic!(
            "expected {status} {code}, got {got}: {}",
            r.text().await.unwrap()
        );
    }
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let b = body(r).await;
    assert_eq!(b["code"], code, "{b}");
    assert!(b["message"].as_str().is_some_and(|m| m.len() > 10), "{b}");
    b
}

#[tokio::test]
async fn upload_becomes_a_thumbnail_that_can_be_downloaded_and_deleted() {
    let shim = Shim::start().await;
    let photo = corpus("p01_astronaut_512x512.png");
    let r = shim
        .upload(
            Some(("astronaut.png", photo.clone())),
            &[
                ("width", "128"),
                ("height", "96"),
                ("fit", "cover"),
                ("format", "png"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let accepted = body(r).await;
    let id = accepted["id"].as_str().unwrap().to_string();
    assert_eq!(location, shim.at(&format!("/api/v1/thumbnails/{id}")));
    assert_eq!(accepted["status"], "uploaded");
    let rels: Vec<_> = accepted["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["rel"].clone())
        .collect();
    assert_eq!(rels, [json!("self"), json!("delete")]);

    // The resource: spec as asked, source in the bucket, the shim's marks.
    let t = shim.thumbnails.get(&id).await.unwrap();
    assert_eq!((t.spec.width, t.spec.height), (Some(128), Some(96)));
    assert_eq!(serde_json::to_value(t.spec.fit).unwrap(), "cover");
    assert_eq!(
        t.spec.source.s3.bucket.as_deref(),
        Some(shim.bucket.as_str())
    );
    // The original is where the operator recognises it as this Thumbnail's own (issue
    // 12): the shim's bucket, a key with the namespace and the name.
    assert_eq!(
        t.spec.source.s3.key,
        shim_original_key(&shim.namespace, &id)
    );
    assert!(is_shim_original(
        &shim.bucket,
        &t.spec.source.s3.key,
        &shim.namespace,
        &id,
        &shim.bucket
    ));
    // Created with the finalizer: see a_thumbnail_deleted_before_the_operator_saw_it_waits_for_cleanup.
    assert_eq!(
        t.metadata.finalizers.as_deref(),
        Some(&[FINALIZER.to_string()][..])
    );
    let ann = t.metadata.annotations.clone().unwrap();
    assert_eq!(ann[ANNOTATION_SHIM_OWNS_SOURCE], "true");
    assert_eq!(ann[ANNOTATION_ORIGINAL_FILENAME], "astronaut.png");
    assert_eq!(
        t.metadata.labels.clone().unwrap()[LABEL_CREATED_BY],
        "api-shim"
    );
    // The original is stored byte for byte.
    let stored = shim
        .s3
        .get_object()
        .bucket(&shim.bucket)
        .key(&t.spec.source.s3.key)
        .send()
        .await
        .unwrap();
    assert_eq!(stored.content_type(), Some("image/png"));
    assert_eq!(stored.body.collect().await.unwrap().into_bytes(), photo);

    let view = body(shim.http.get(&location).send().await.unwrap()).await;
    assert_eq!(view["status"], "uploaded");
    assert_eq!(view["phase"], "Pending");
    assert_eq!(
        view["requested"],
        json!({"width": 128, "height": 96, "fit": "cover", "format": "png"})
    );
    assert_eq!(view["filename"], "astronaut.png");
    assert!(view["created"].as_str().unwrap().ends_with('Z'));
    assert!(view.get("output").is_none());

    // What the controller would do after a successful resizer run.
    let thumb = corpus("p01_astronaut_512x512.png");
    shim.complete(&id, thumb.clone(), "image/png", "png").await;
    let view = body(shim.http.get(&location).send().await.unwrap()).await;
    assert_eq!(view["status"], "success");
    assert_eq!(view["phase"], "Succeeded");
    assert_eq!(view["completed"], "2026-01-02T03:04:05Z");
    assert_eq!(
        view["output"],
        json!({"width": 512, "height": 512, "bytes": thumb.len(), "contentType": "image/png"})
    );
    let download = view["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == "download")
        .expect("a download link once succeeded")["href"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(download, format!("{location}/download"));

    let r = shim.http.get(&download).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "image/png");
    assert_eq!(h["content-length"], thumb.len().to_string().as_str());
    assert_eq!(h["cache-control"], "no-cache");
    let etag = h["etag"].to_str().unwrap().to_string();
    assert_eq!(r.bytes().await.unwrap(), thumb);

    let r = shim
        .http
        .get(&download)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(r.headers()["etag"], etag.as_str());
    assert!(r.bytes().await.unwrap().is_empty());
    // A different validator gets the bytes again.
    let r = shim
        .http
        .get(&download)
        .header("if-none-match", "\"something-else\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let r = shim.http.delete(&location).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // What the operator does once it has cleaned up.
    shim.finish_deletion(&id).await;
    assert!(shim.resources().await.is_empty());
    expect_error(
        shim.http.get(&location).send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

/// Issue 12: a Thumbnail the shim created and that was deleted before the operator
/// first saw it (operator down, or slow) must still get its original deleted: it is
/// created with the operator's finalizer, so the API server keeps it, marked for
/// deletion, until the operator has cleaned up. (No operator runs here.)
#[tokio::test]
async fn a_thumbnail_deleted_before_the_operator_saw_it_waits_for_cleanup() {
    let shim = Shim::start().await;
    let r = shim
        .upload(
            Some(("astronaut.png", corpus("p01_astronaut_512x512.png"))),
            &[("width", "64")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let id = body(r).await["id"].as_str().unwrap().to_string();
    let created = shim.thumbnails.get(&id).await.unwrap();
    assert_eq!(
        created.metadata.finalizers.as_deref(),
        Some(&[FINALIZER.to_string()][..]),
        "created with the finalizer, not waiting for the operator to add it"
    );
    // Deleted straight away, through the Kubernetes API as any client would.
    shim.thumbnails
        .delete(&id, &Default::default())
        .await
        .unwrap();
    let pending = shim
        .thumbnails
        .get(&id)
        .await
        .expect("kept for the operator's cleanup");
    assert!(pending.metadata.deletion_timestamp.is_some());
    assert_eq!(
        pending.metadata.finalizers.as_deref(),
        Some(&[FINALIZER.to_string()][..])
    );
    let original = shim_original_key(&shim.namespace, &id);
    assert!(
        shim.objects().await.contains(&original),
        "the original waits for the operator"
    );
    assert_eq!(pending.spec.source.s3.key, original);
}

#[tokio::test]
async fn a_large_upload_goes_up_in_parts_intact() {
    // 16 MB: more than three multipart parts.
    let shim = Shim::start().await;
    let photo = corpus("j02_elephants_5640x3172_prog.jpg");
    assert!(photo.len() > 3 * api_shim::store::PART_SIZE);
    let r = shim
        .upload(Some(("elephants.jpg", photo.clone())), &[("width", "300")])
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let id = body(r).await["id"].as_str().unwrap().to_string();
    let stored = shim
        .s3
        .get_object()
        .bucket(&shim.bucket)
        .key(shim_original_key(&shim.namespace, &id))
        .send()
        .await
        .unwrap();
    assert_eq!(stored.content_type(), Some("image/jpeg"));
    assert_eq!(stored.body.collect().await.unwrap().into_bytes(), photo);
}

#[tokio::test]
async fn list_pages_through_everything_and_filters_by_status() {
    let shim = Shim::start().await;
    let photo = corpus("j04_wood_2560x1920.jpg");
    let mut ids = Vec::new();
    for _ in 0..7 {
        let r = shim
            .upload(Some(("wood.jpg", photo.clone())), &[("width", "64")])
            .await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        ids.push(body(r).await["id"].as_str().unwrap().to_string());
    }
    // Three succeed, one fails, the rest stay uploaded.
    let succeeded: BTreeSet<String> = ids[1..4].iter().cloned().collect();
    for id in &succeeded {
        shim.complete(id, photo.clone(), "image/jpeg", "jpeg").await;
    }
    shim.patch_status(
        &ids[5],
        json!({"phase": Phase::Failed, "reason": "NotAnImage", "message": "not an image"}),
    )
    .await;

    let pages = |status: Option<&'static str>, limit: usize| {
        let shim = &shim;
        async move {
            let mut seen = Vec::new();
            let mut cont: Option<String> = None;
            let mut pages = 0;
            loop {
                let mut q = vec![("limit", limit.to_string())];
                if let Some(s) = status {
                    q.push(("status", s.to_string()));
                }
                if let Some(c) = &cont {
                    q.push(("continue", c.clone()));
                }
                let r = shim
                    .http
                    .get(shim.at("/api/v1/thumbnails"))
                    .query(&q)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::OK);
                let page = body(r).await;
                let items = page["items"].as_array().unwrap();
                assert!(items.len() <= limit, "page larger than limit: {page}");
                for it in items {
                    if let Some(s) = status {
                        assert_eq!(it["status"], s);
                    }
                    seen.push(it["id"].as_str().unwrap().to_string());
                }
                pages += 1;
                cont = page["continue"].as_str().map(String::from);
                let has_next = page["links"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|l| l["rel"] == "next");
                assert_eq!(has_next, cont.is_some());
                if cont.is_none() {
                    break;
                }
                assert!(pages < 20, "pagination does not end");
            }
            (seen, pages)
        }
    };

    let (all, n) = pages(None, 3).await;
    assert_eq!(n, 3, "7 items in pages of 3");
    assert_eq!(all.len(), 7, "no duplicates, nothing missing: {all:?}");
    assert_eq!(
        all.iter().cloned().collect::<BTreeSet<_>>(),
        ids.iter().cloned().collect()
    );

    let (ok, _) = pages(Some("success"), 2).await;
    assert_eq!(ok.len(), 3, "{ok:?}");
    assert_eq!(ok.into_iter().collect::<BTreeSet<_>>(), succeeded);
    let (failed, _) = pages(Some("error"), 1).await;
    assert_eq!(failed, [ids[5].clone()]);
    let (uploaded, _) = pages(Some("uploaded"), 50).await;
    assert_eq!(uploaded.len(), 3);

    let r = shim
        .http
        .get(shim.at("/api/v1/thumbnails?status=done"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_parameter").await["field"],
        "status"
    );
    for bad in ["0", "501", "x"] {
        let r = shim
            .http
            .get(shim.at(&format!("/api/v1/thumbnails?limit={bad}")))
            .send()
            .await
            .unwrap();
        assert_eq!(
            expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_parameter").await["field"],
            "limit"
        );
    }
}

#[tokio::test]
async fn oversize_upload_is_413_and_leaves_nothing() {
    // The cap falls after the first multipart part went up, so the abort path runs.
    let shim = Shim::start_with(Options {
        settings: Box::new(|s| s.max_upload_bytes = 6 * 1024 * 1024),
        ..Default::default()
    })
    .await;
    let r = shim
        .upload(
            Some(("elephants.jpg", corpus("j02_elephants_5640x3172_prog.jpg"))),
            &[("width", "64")],
        )
        .await;
    let b = expect_error(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert!(b["message"].as_str().unwrap().contains("6291456"), "{b}");
    assert!(shim.objects().await.is_empty());
    let pending = shim
        .s3
        .list_multipart_uploads()
        .bucket(&shim.bucket)
        .send()
        .await
        .unwrap();
    assert!(
        pending.uploads().is_empty(),
        "aborted multipart upload left: {pending:?}"
    );
    assert!(shim.resources().await.is_empty());

    // Just under the cap passes.
    let r = shim
        .upload(
            Some(("kleiber.jpg", corpus("j01_kleiber_6028x3391.jpg"))),
            &[("width", "64")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn non_images_are_415() {
    let shim = Shim::start().await;
    for (name, bytes) in [
        ("notes.txt", b"hello, this is not an image at all".to_vec()),
        ("empty.jpg", Vec::new()),
        ("MANIFEST.tsv", corpus("MANIFEST.tsv")),
    ] {
        let r = shim.upload(Some((name, bytes)), &[("width", "64")]).await;
        expect_error(
            r,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        )
        .await;
    }
    assert!(shim.objects().await.is_empty());
    assert!(shim.resources().await.is_empty());
}

/// A phone's HEIC photo is an image, just not one the resizer decodes: the 415 says
/// which format it is and what to convert it to (the head is an iPhone's ftyp box).
#[tokio::test]
async fn heic_is_415_naming_the_format() {
    let shim = Shim::start().await;
    let mut heic = b"\0\0\0\x1cftypheic\0\0\0\0mif1MiHEmiafheic".to_vec();
    heic.resize(4096, 0);
    let r = shim
        .upload(Some(("IMG_0001.HEIC", heic)), &[("width", "64")])
        .await;
    let b = expect_error(
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let message = b["message"].as_str().unwrap();
    assert!(
        message.contains("the file is HEIC")
            && message.contains("JPEG")
            && message.contains("AVIF"),
        "{message}"
    );
    assert!(shim.objects().await.is_empty());
}

#[tokio::test]
async fn bad_parameters_are_rejected_with_the_field_and_nothing_is_kept() {
    let shim = Shim::start().await;
    let photo = corpus("j06_fallenleaf_2560x1600.jpg");
    for (field, value) in [
        ("width", "0"),
        ("width", "8193"),
        ("height", "tall"),
        ("quality", "101"),
        ("fit", "stretch"),
        ("format", "tiff"),
        ("colour", "red"),
    ] {
        // The parameter after the file: the original is stored first and must go again.
        let mut form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(photo.clone()).file_name("leaf.jpg"),
        );
        form = form.text(field, value);
        let r = shim
            .http
            .post(shim.at("/api/v1/thumbnails"))
            .multipart(form)
            .send()
            .await
            .unwrap();
        let b = expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_parameter").await;
        assert_eq!(b["field"], field, "{b}");
        assert!(
            shim.objects().await.is_empty(),
            "{field}={value} left the original"
        );
    }
    // No file at all.
    let r = shim.upload(None, &[("width", "64")]).await;
    assert_eq!(
        expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_parameter").await["field"],
        "file"
    );
    // Not a multipart body.
    let r = shim
        .http
        .post(shim.at("/api/v1/thumbnails"))
        .json(&json!({"width": 64}))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, "bad_multipart").await;
    assert!(shim.resources().await.is_empty());
}

#[tokio::test]
async fn a_spec_the_crd_refuses_is_422_and_the_original_is_deleted() {
    // width/height bounds are the shim's; the cross-field CEL rules are the CRD's.
    let shim = Shim::start().await;
    let photo = corpus("j05_path_2560x1600.jpg");
    for fields in [
        vec![("format", "png"), ("quality", "80"), ("width", "64")],
        vec![("fit", "cover"), ("width", "64")],
        vec![("format", "webp")],
    ] {
        let r = shim
            .upload(Some(("path.jpg", photo.clone())), &fields)
            .await;
        let b = expect_error(
            r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "rejected_by_api_server",
        )
        .await;
        assert!(b["message"].as_str().unwrap().contains("spec"), "{b}");
    }
    assert!(
        shim.objects().await.is_empty(),
        "originals left: {:?}",
        shim.objects().await
    );
    assert!(shim.resources().await.is_empty());
}

#[tokio::test]
async fn unknown_ids_are_404() {
    let shim = Shim::start().await;
    for path in [
        "/api/v1/thumbnails/01aaaaaaaaaaaaaaaaaaaaaaaa",
        "/api/v1/thumbnails/Not_A_Name",
    ] {
        expect_error(
            shim.http.get(shim.at(path)).send().await.unwrap(),
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
        let dl = shim.at(&format!("{path}/download"));
        expect_error(
            shim.http.get(dl).send().await.unwrap(),
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
        expect_error(
            shim.http.delete(shim.at(path)).send().await.unwrap(),
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    let r = shim
        .http
        .get(shim.at("/api/v2/whatever"))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "no_such_route").await;
}

#[tokio::test]
async fn download_before_ready_and_after_failure_is_409_with_the_reason() {
    let shim = Shim::start().await;
    let r = shim
        .upload(
            Some(("gif.gif", corpus("d04_storm_1920x1280.gif"))),
            &[("height", "64")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let id = body(r).await["id"].as_str().unwrap().to_string();
    let dl = shim.at(&format!("/api/v1/thumbnails/{id}/download"));

    let b = expect_error(
        shim.http.get(&dl).send().await.unwrap(),
        StatusCode::CONFLICT,
        "not_ready",
    )
    .await;
    assert_eq!(b["status"], "uploaded");
    shim.patch_status(&id, json!({"phase": Phase::Processing}))
        .await;
    let b = expect_error(
        shim.http.get(&dl).send().await.unwrap(),
        StatusCode::CONFLICT,
        "not_ready",
    )
    .await;
    assert_eq!(b["status"], "processing");

    shim.patch_status(
        &id,
        json!({"phase": Phase::Failed, "reason": "TooManyPixels", "message": "the image has more pixels than allowed"}),
    )
    .await;
    let b = expect_error(
        shim.http.get(&dl).send().await.unwrap(),
        StatusCode::CONFLICT,
        "thumbnail_failed",
    )
    .await;
    assert_eq!(b["status"], "error");
    assert_eq!(b["reason"], "TooManyPixels");
    assert!(b["message"]
        .as_str()
        .unwrap()
        .contains("more pixels than allowed"));
    let view = body(
        shim.http
            .get(shim.at(&format!("/api/v1/thumbnails/{id}")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (view["status"].as_str(), view["reason"].as_str()),
        (Some("error"), Some("TooManyPixels"))
    );
}

#[tokio::test]
async fn store_down_is_503_and_no_resource_is_created() {
    let shim = Shim::start_with(Options {
        store_down: true,
        ..Default::default()
    })
    .await;
    let r = shim
        .upload(
            Some(("wood.jpg", corpus("j04_wood_2560x1920.jpg"))),
            &[("width", "64")],
        )
        .await;
    expect_error(r, StatusCode::SERVICE_UNAVAILABLE, "store_unavailable").await;
    assert!(shim.resources().await.is_empty());
    // Still ready (issue 11 defect 5): the API serves what does not need the store, and
    // says the store is down.
    let r = shim.http.get(shim.at("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let b = body(r).await;
    assert_eq!(
        (
            b["ready"].as_bool(),
            b["apiServer"]["ok"].as_bool(),
            b["store"]["ok"].as_bool()
        ),
        (Some(true), Some(true), Some(false)),
        "{b}"
    );
    let r = shim
        .http
        .get(shim.at("/api/v1/thumbnails"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "listing works without the store"
    );
}

#[tokio::test]
async fn api_server_down_is_503_and_the_original_is_deleted() {
    let shim = Shim::start_with(Options {
        api_down: true,
        ..Default::default()
    })
    .await;
    let r = shim
        .upload(
            Some(("wood.jpg", corpus("j04_wood_2560x1920.jpg"))),
            &[("width", "64")],
        )
        .await;
    expect_error(r, StatusCode::SERVICE_UNAVAILABLE, "api_server_unavailable").await;
    assert!(shim.objects().await.is_empty(), "original left behind");
    let r = shim
        .http
        .get(shim.at("/api/v1/thumbnails"))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::SERVICE_UNAVAILABLE, "api_server_unavailable").await;
    let b = body(shim.http.get(shim.at("/readyz")).send().await.unwrap()).await;
    assert_eq!(
        (b["apiServer"]["ok"].as_bool(), b["store"]["ok"].as_bool()),
        (Some(false), Some(true))
    );
}

#[tokio::test]
async fn probes_metrics_and_docs() {
    let shim = Shim::start().await;
    let r = shim.http.get(shim.at("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = shim.http.get(shim.at("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(body(r).await["ready"], true);

    let photo = corpus("j09_storm_1920x1280.jpg");
    let r = shim
        .upload(Some(("storm.jpg", photo.clone())), &[("width", "64")])
        .await;
    let id = body(r).await["id"].as_str().unwrap().to_string();
    shim.http
        .get(shim.at(&format!("/api/v1/thumbnails/{id}")))
        .send()
        .await
        .unwrap();
    let metrics = shim
        .http
        .get(shim.at("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"thumbnail_shim_http_requests_total{method="POST",route="/api/v1/thumbnails",status="202"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"route="/api/v1/thumbnails/{id}",status="200"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "thumbnail_shim_upload_bytes_total {}",
            photo.len()
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains("thumbnail_shim_http_request_duration_seconds_bucket"),
        "{metrics}"
    );

    let doc = body(
        shim.http
            .get(shim.at("/api/v1/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    for path in [
        "/api/v1/thumbnails",
        "/api/v1/thumbnails/{id}",
        "/api/v1/thumbnails/{id}/download",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    assert!(
        doc["paths"]["/api/v1/thumbnails"]["post"]["requestBody"]["content"]["multipart/form-data"]
            .is_object()
    );
    // Issue 14: several sizes, and their groups, are in the document.
    let group = &doc["paths"]["/api/v1/groups/{id}"];
    assert!(
        group["get"].is_object() && group["delete"].is_object(),
        "{group}"
    );
    let schemas = &doc["components"]["schemas"];
    let form = &schemas["UploadForm"]["properties"];
    assert!(
        form["sizes"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("WxH") && d.contains("16")),
        "{form}"
    );
    let answer = doc["paths"]["/api/v1/thumbnails"]["post"]["responses"]["202"].to_string();
    assert!(answer.contains("UploadAnswer"), "{answer}");
    assert!(schemas["UploadAnswer"]
        .to_string()
        .contains("GroupAccepted"));
    assert!(schemas["GroupView"]["properties"]["counts"].is_object());
    assert!(schemas["ErrorBody"]["properties"]["item"].is_object());
    let list_params = doc["paths"]["/api/v1/thumbnails"]["get"]["parameters"].to_string();
    assert!(list_params.contains("\"group\""), "{list_params}");

    let r = shim.http.get(shim.at("/swagger-ui/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("../api/v1/openapi.json"));
    let r = shim
        .http
        .get(shim.at("/swagger-ui/swagger-ui-bundle.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.bytes().await.unwrap().len() > 500_000);
}

#[tokio::test]
async fn bearer_tokens_guard_the_api_but_not_probes_or_docs() {
    let shim = Shim::start_with(Options {
        settings: Box::new(|s| s.tokens = fixed_tokens(&["sesame"])),
        ..Default::default()
    })
    .await;
    let list = shim.at("/api/v1/thumbnails");
    let r = shim.http.get(&list).send().await.unwrap();
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    expect_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = shim
        .http
        .get(&list)
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = shim
        .http
        .get(&list)
        .bearer_auth("sesame")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    for open in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/v1/openapi.json",
        "/swagger-ui/",
    ] {
        let r = shim.http.get(shim.at(open)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{open}");
    }
}

#[tokio::test]
async fn presigned_downloads_redirect_to_the_store() {
    let shim = Shim::start_with(Options {
        settings: Box::new(|s| s.presigned_downloads = true),
        ..Default::default()
    })
    .await;
    let photo = corpus("p01_astronaut_512x512.png");
    let r = shim
        .upload(
            Some(("a.png", photo.clone())),
            &[("width", "64"), ("format", "webp")],
        )
        .await;
    let id = body(r).await["id"].as_str().unwrap().to_string();
    shim.complete(&id, photo.clone(), "image/webp", "webp")
        .await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirects
        .get(shim.at(&format!("/api/v1/thumbnails/{id}/download")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TEMPORARY_REDIRECT);
    let target = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        target.starts_with(&thumbnail_testkit::required_env(
            thumbnail_testkit::s3::ENDPOINT_ENV
        )),
        "{target}"
    );
    assert!(target.contains("X-Amz-Signature="), "{target}");
    let fetched = reqwest::get(&target).await.unwrap();
    assert_eq!(fetched.status(), StatusCode::OK);
    assert_eq!(fetched.bytes().await.unwrap(), photo);
}

#[tokio::test]
async fn an_upload_over_its_time_limit_is_504_and_leaves_nothing() {
    let shim = Shim::start_with(Options {
        settings: Box::new(|s| s.upload_timeout = std::time::Duration::from_millis(30)),
        ..Default::default()
    })
    .await;
    let r = shim
        .upload(
            Some(("elephants.jpg", corpus("j02_elephants_5640x3172_prog.jpg"))),
            &[("width", "64")],
        )
        .await;
    expect_error(r, StatusCode::GATEWAY_TIMEOUT, "timeout").await;
    // The cleanup of an interrupted multipart upload runs in the background.
    for _ in 0..50 {
        let pending = shim
            .s3
            .list_multipart_uploads()
            .bucket(&shim.bucket)
            .send()
            .await
            .unwrap();
        if pending.uploads().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let pending = shim
        .s3
        .list_multipart_uploads()
        .bucket(&shim.bucket)
        .send()
        .await
        .unwrap();
    assert!(
        pending.uploads().is_empty(),
        "multipart upload left: {pending:?}"
    );
    assert!(shim.objects().await.is_empty());
    assert!(shim.resources().await.is_empty());
}

/// Every href of an answer (its own links and those of list items).
fn hrefs(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for l in v["links"].as_array().into_iter().flatten() {
        out.push(l["href"].as_str().unwrap().to_string());
    }
    for item in v["items"].as_array().into_iter().flatten() {
        out.extend(hrefs(item));
    }
    out
}

fn all_start_with(hrefs: &[String], base: &str) {
    assert!(!hrefs.is_empty());
    for h in hrefs {
        assert!(
            h.starts_with(&format!("{base}/api/v1/thumbnails")),
            "{h} does not start with {base}"
        );
    }
}

/// Without a configured public base URL (the chart's default) the links are those of
/// the URL the client used: the same shim answers a client that came through
/// "localhost" and one that came through "127.0.0.1" each with its own.
#[tokio::test]
async fn without_a_base_url_links_use_the_host_the_client_used() {
    let shim = Shim::start_with(Options {
        settings: Box::new(|s| s.public_base_url = None),
        ..Default::default()
    })
    .await;
    let port = shim.url.rsplit(':').next().unwrap().to_string();
    let r = shim
        .upload(
            Some(("a.png", corpus("p01_astronaut_512x512.png"))),
            &[("width", "64")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let accepted = body(r).await;
    let id = accepted["id"].as_str().unwrap().to_string();
    let via_ip = format!("http://127.0.0.1:{port}");
    assert_eq!(location, format!("{via_ip}/api/v1/thumbnails/{id}"));
    all_start_with(&hrefs(&accepted), &via_ip);

    shim.complete(&id, b"\x89PNG fake".to_vec(), "image/png", "png")
        .await;
    let via_name = format!("http://localhost:{port}");
    for path in [
        format!("/api/v1/thumbnails/{id}"),
        "/api/v1/thumbnails".into(),
    ] {
        for base in [&via_ip, &via_name] {
            let got = body(shim.http.get(format!("{base}{path}")).send().await.unwrap()).await;
            all_start_with(&hrefs(&got), base);
        }
    }
    let one = body(
        shim.http
            .get(format!("{via_name}/api/v1/thumbnails/{id}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(hrefs(&one).contains(&format!("{via_name}/api/v1/thumbnails/{id}/download")));

    // The Host header itself decides (a client behind a NodePort or a port-forward).
    let got = body(
        shim.http
            .get(shim.at(&format!("/api/v1/thumbnails/{id}")))
            .header("host", "thumbs.example.com:30080")
            .send()
            .await
            .unwrap(),
    )
    .await;
    all_start_with(&hrefs(&got), "http://thumbs.example.com:30080");
}

/// A proxy's X-Forwarded-Host and X-Forwarded-Proto win when they are a host[:port]
/// and http|https; anything else in them is ignored, never copied into a link.
#[tokio::test]
async fn forwarded_headers_are_used_only_when_valid() {
    let shim = Shim::start_with(Options {
        settings: Box::new(|s| s.public_base_url = None),
        ..Default::default()
    })
    .await;
    let r = shim
        .upload(
            Some(("a.png", corpus("p01_astronaut_512x512.png"))),
            &[("width", "64")],
        )
        .await;
    let id = body(r).await["id"].as_str().unwrap().to_string();
    let get = |headers: &'static [(&'static str, &'static str)]| {
        let mut req = shim.http.get(shim.at(&format!("/api/v1/thumbnails/{id}")));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        async move { body(req.send().await.unwrap()).await }
    };
    let proxied = get(&[
        ("x-forwarded-host", "thumbs.example.com"),
        ("x-forwarded-proto", "https"),
    ])
    .await;
    all_start_with(&hrefs(&proxied), "https://thumbs.example.com");
    for bad in [
        "evil.example/phish?",
        "user@evil.example",
        "http://evil.example",
        "evil.example:notaport",
    ] {
        let headers: &'static [(&'static str, &'static str)] = Box::leak(Box::new([
            ("x-forwarded-host", bad),
            ("x-forwarded-proto", "javascript"),
        ]));
        let got = get(headers).await;
        all_start_with(&hrefs(&got), &shim.url);
    }

    // A configured base URL wins over every header.
    let fixed = Shim::start_with(Options {
        settings: Box::new(|s| s.public_base_url = Some("https://api.example.org".into())),
        ..Default::default()
    })
    .await;
    let r = fixed
        .http
        .get(fixed.at("/api/v1/thumbnails"))
        .header("x-forwarded-host", "other.example")
        .send()
        .await
        .unwrap();
    all_start_with(&hrefs(&body(r).await), "https://api.example.org");
}

// ---- issue 12: the shim facing anonymous or token-holding clients -------------------

fn fixed_tokens(tokens: &[&str]) -> Option<std::sync::Arc<api_shim::auth::Tokens>> {
    Some(std::sync::Arc::new(api_shim::auth::Tokens::fixed(
        tokens.iter().map(|t| t.to_string()).collect(),
    )))
}

/// Status of GET /api/v1/thumbnails with `token`.
async fn list_status(shim: &Shim, token: &str) -> StatusCode {
    shim.http
        .get(shim.at("/api/v1/thumbnails"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn tokens_are_reloaded_from_their_file_without_a_restart() {
    let dir = std::env::temp_dir().join(format!("shim-token-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("tokens");
    std::fs::write(&file, "old-token\n").unwrap();
    let tokens = std::sync::Arc::new(api_shim::auth::Tokens::from_file(&file).unwrap());
    let shim = Shim::start_with(Options {
        settings: Box::new(move |s| s.tokens = Some(tokens)),
        ..Default::default()
    })
    .await;
    assert_eq!(list_status(&shim, "old-token").await, StatusCode::OK);
    assert_eq!(
        list_status(&shim, "new-token").await,
        StatusCode::UNAUTHORIZED
    );

    // Rotated the way a Secret volume is updated: a new file swapped in atomically.
    let next = dir.join("tokens.next");
    std::fs::write(&next, "# rotated\nnew-token\n").unwrap();
    std::fs::rename(&next, &file).unwrap();
    assert_eq!(list_status(&shim, "new-token").await, StatusCode::OK);
    assert_eq!(
        list_status(&shim, "old-token").await,
        StatusCode::UNAUTHORIZED
    );

    // Edited in place.
    std::fs::write(&file, "third-token\n").unwrap();
    assert_eq!(list_status(&shim, "third-token").await, StatusCode::OK);
    assert_eq!(
        list_status(&shim, "new-token").await,
        StatusCode::UNAUTHORIZED
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn without_a_token_file_the_binary_serves_only_loopback_or_when_told() {
    use api_shim::config::Config;
    use clap::Parser as _;
    let settings = |args: &[&str]| {
        Config::try_parse_from([&["api-shim"], args].concat())
            .unwrap()
            .settings()
    };
    let err = settings(&["--listen", "0.0.0.0:8080"]).unwrap_err();
    assert!(format!("{err:#}").contains("--token-file"), "{err:#}");
    assert!(settings(&["--listen", "0.0.0.0:8080", "--allow-anonymous"])
        .unwrap()
        .tokens
        .is_none());
    assert!(settings(&["--listen", "127.0.0.1:8080"])
        .unwrap()
        .tokens
        .is_none());
    let file = std::env::temp_dir().join(format!("shim-binary-tokens-{}", std::process::id()));
    std::fs::write(&file, "t\n").unwrap();
    let s = settings(&[
        "--listen",
        "0.0.0.0:8080",
        "--token-file",
        file.to_str().unwrap(),
    ])
    .unwrap();
    assert_eq!(*s.tokens.unwrap().current(), ["t"]);
    std::fs::remove_file(&file).unwrap();
}

#[tokio::test]
async fn a_client_that_never_finishes_its_header_is_disconnected() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let shim = Shim::start_with(Options {
        settings: Box::new(|s| s.header_read_timeout = std::time::Duration::from_secs(1)),
        ..Default::default()
    })
    .await;
    let addr = shim.url.trim_start_matches("http://").to_string();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    // Half a header, and then nothing: the end of the header never comes.
    conn.write_all(b"GET /api/v1/thumbnails HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let mut answer = Vec::new();
    // The shim must close the connection (maybe after a 408); the bound only keeps a
    // broken shim from hanging the test run: it is far above the 1 s being tested.
    let closed = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        conn.read_to_end(&mut answer),
    )
    .await;
    assert!(
        matches!(closed, Ok(Ok(_)) | Ok(Err(_))),
        "the connection with an unfinished header is still open"
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    // A client that sends its header is served as before.
    assert_eq!(
        shim.http
            .get(shim.at("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

/// Opens a connection that sends an upload's header and a first part of its body, and
/// then stalls: a request the shim is serving until the client goes away.
async fn stalled_upload(shim: &Shim) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt as _;
    let addr = shim.url.trim_start_matches("http://").to_string();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    conn.write_all(
        b"POST /api/v1/thumbnails HTTP/1.1\r\nHost: x\r\n\
          Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 100000\r\n\r\n\
          --XyZ\r\nContent-Disposition: form-data; name=\"width\"\r\n\r\n6",
    )
    .await
    .unwrap();
    conn
}

async fn wait_for_metric(shim: &Shim, sample: &str, value: f64) {
    for _ in 0..300 {
        if shim.metric(sample).await == Some(value) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{sample} never became {value}");
}

#[tokio::test]
async fn requests_over_the_concurrency_limit_get_503_and_probes_still_answer() {
    let shim = Shim::start_with(Options {
        settings: Box::new(|s| s.max_concurrent_requests = 2),
        ..Default::default()
    })
    .await;
    let in_flight = "thumbnail_shim_http_requests_in_flight";
    let slow = [stalled_upload(&shim).await, stalled_upload(&shim).await];
    // Both are being served (the gauge counts requests holding the limit's permits).
    wait_for_metric(&shim, in_flight, 2.0).await;
    let r = shim
        .http
        .get(shim.at("/api/v1/thumbnails"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["retry-after"], "1");
    let b = expect_error(r, StatusCode::SERVICE_UNAVAILABLE, "overloaded").await;
    assert!(b["requestId"].as_str().is_some(), "{b}");
    let r = shim
        .upload(
            Some(("x.png", corpus("p01_astronaut_512x512.png"))),
            &[("width", "8")],
        )
        .await;
    expect_error(r, StatusCode::SERVICE_UNAVAILABLE, "overloaded").await;
    for probe in ["/healthz", "/readyz"] {
        let r = shim.http.get(shim.at(probe)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{probe} must not be limited");
    }
    assert_eq!(
        shim.metric("thumbnail_shim_http_requests_shed_total").await,
        Some(2.0)
    );
    // The slow clients go away: their permits come back and requests are served again.
    drop(slow);
    wait_for_metric(&shim, in_flight, 0.0).await;
    let r = shim
        .http
        .get(shim.at("/api/v1/thumbnails"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn invented_methods_are_counted_as_other() {
    let shim = Shim::start().await;
    let invented = reqwest::Method::from_bytes(b"BREWCOFFEE").unwrap();
    let r = shim
        .http
        .request(invented, shim.at("/api/v1/thumbnails"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    let text = shim
        .http
        .get(shim.at("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains("BREWCOFFEE"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("thumbnail_shim_http_requests_total{")
                && l.contains("method=\"other\"")),
        "{text}"
    );
}

#[tokio::test]
async fn a_re_render_is_downloaded_at_once_and_304_names_the_image_it_validates() {
    let shim = Shim::start().await;
    let r = shim
        .upload(
            Some(("a.png", corpus("p01_astronaut_512x512.png"))),
            &[("width", "64")],
        )
        .await;
    let id = body(r).await["id"].as_str().unwrap().to_string();
    let download = shim.at(&format!("/api/v1/thumbnails/{id}/download"));
    let first = b"\x89PNG\r\n\x1a\nfirst render".to_vec();
    shim.complete_at(
        &id,
        &format!("thumbnails/{id}/g1.png"),
        first.clone(),
        "image/png",
        "png",
    )
    .await;
    let r = shim.http.get(&download).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cache = r.headers()["cache-control"].to_str().unwrap().to_string();
    // Kept, but revalidated on every use: the same URL serves the next render.
    assert!(
        cache.contains("no-cache") && !cache.contains("max-age"),
        "{cache}"
    );
    let etag_one = r.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(r.bytes().await.unwrap(), first);

    // The Thumbnail is edited and rendered again: a new object under a new key.
    let second = b"\x89PNG\r\n\x1a\nsecond render, other bytes".to_vec();
    shim.complete_at(
        &id,
        &format!("thumbnails/{id}/g2.png"),
        second.clone(),
        "image/png",
        "png",
    )
    .await;
    let r = shim
        .http
        .get(&download)
        .header("if-none-match", &etag_one)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the cached first render is stale"
    );
    let etag_two = r.headers()["etag"].to_str().unwrap().to_string();
    assert_ne!(etag_two, etag_one);
    assert_eq!(r.bytes().await.unwrap(), second);

    // A 304 carries the image's own ETag, whatever list or wildcard the client sent.
    for sent in [
        etag_two.clone(),
        format!("W/{etag_two}"),
        format!("\"not-this-one\", {etag_two}"),
        "*".to_string(),
    ] {
        let r = shim
            .http
            .get(&download)
            .header("if-none-match", &sent)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::NOT_MODIFIED,
            "If-None-Match: {sent}"
        );
        assert_eq!(
            r.headers()["etag"],
            etag_two.as_str(),
            "If-None-Match: {sent}"
        );
        assert!(r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("no-cache"));
    }
    // The first render's ETag validates nothing any more.
    let r = shim
        .http
        .get(&download)
        .header("if-none-match", &etag_one)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

/// Asserts that an answer names none of what only the administrator may see.
fn assert_discreet(text: &str, secrets: &[&str]) {
    for s in secrets.iter().chain(&["s3://", "serviceaccount"]) {
        assert!(!text.contains(s), "the answer reveals {s:?}: {text}");
    }
}

#[tokio::test]
async fn forbidden_by_kubernetes_answers_without_the_shims_identity() {
    let account = "shim-without-rights";
    let shim = Shim::start_with(Options {
        kube_user: Some(format!("system:serviceaccount:rbac-test:{account}")),
        ..Default::default()
    })
    .await;
    for r in [
        shim.http
            .get(shim.at("/api/v1/thumbnails"))
            .send()
            .await
            .unwrap(),
        shim.http
            .get(shim.at("/api/v1/thumbnails/01aaaaaaaaaaaaaaaaaaaaaaaa"))
            .send()
            .await
            .unwrap(),
        shim.upload(
            Some(("a.png", corpus("p01_astronaut_512x512.png"))),
            &[("width", "8")],
        )
        .await,
    ] {
        let header_id = r.headers()["x-request-id"].to_str().unwrap().to_string();
        let b = expect_error(r, StatusCode::SERVICE_UNAVAILABLE, "api_server_unavailable").await;
        assert_eq!(b["requestId"], header_id.as_str(), "{b}");
        // The API server is at 127.0.0.1 (error bodies have no links to contain it).
        assert_discreet(
            &b.to_string(),
            &[
                account,
                "forbidden",
                "thumbnails.dev",
                &shim.bucket,
                "127.0.0.1",
            ],
        );
    }
    assert!(shim.objects().await.is_empty(), "original left behind");
}

#[tokio::test]
async fn store_errors_answer_without_the_endpoint_bucket_or_paths() {
    let shim = Shim::start_with(Options {
        store_down: true,
        ..Default::default()
    })
    .await;
    // The shim's store is at 127.0.0.1:<closed port> (error bodies have no links, so
    // the address appears in none of them unless leaked).
    let endpoint = "127.0.0.1";
    let r = shim
        .upload(
            Some(("a.png", corpus("p01_astronaut_512x512.png"))),
            &[("width", "8")],
        )
        .await;
    let b = expect_error(r, StatusCode::SERVICE_UNAVAILABLE, "store_unavailable").await;
    assert_discreet(&b.to_string(), &[endpoint, &shim.bucket, "originals/"]);

    // A finished thumbnail whose image the store cannot give.
    shim.create_directly(
        "finished",
        &[(LABEL_CREATED_BY, "api-shim")],
        "originals/finished",
    )
    .await;
    shim.patch_status(
        "finished",
        json!({"phase": "Succeeded", "output": {
            "bucket": shim.bucket, "key": "thumbnails/finished.png", "width": 8, "height": 8,
            "format": "png", "contentType": "image/png", "bytes": 10}}),
    )
    .await;
    let r = shim
        .http
        .get(shim.at("/api/v1/thumbnails/finished/download"))
        .send()
        .await
        .unwrap();
    let b = expect_error(r, StatusCode::SERVICE_UNAVAILABLE, "store_unavailable").await;
    assert_discreet(
        &b.to_string(),
        &[endpoint, &shim.bucket, "thumbnails/finished"],
    );

    let r = shim.http.get(shim.at("/readyz")).send().await.unwrap();
    assert_discreet(&r.text().await.unwrap(), &[endpoint, &shim.bucket]);
}

#[tokio::test]
async fn failure_messages_are_answered_without_stored_paths() {
    let shim = Shim::start().await;
    shim.create_directly(
        "failed",
        &[(LABEL_CREATED_BY, "api-shim")],
        "originals/failed",
    )
    .await;
    let message = format!(
        "cannot read s3://{}/originals/failed from http://store.internal:8333: NoSuchKey",
        shim.bucket
    );
    shim.patch_status(
        "failed",
        json!({"phase": "Failed", "reason": "SourceNotFound", "message": message}),
    )
    .await;
    let view = body(
        shim.http
            .get(shim.at("/api/v1/thumbnails/failed"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(view["reason"], "SourceNotFound");
    assert!(
        view["message"].as_str().unwrap().contains("NoSuchKey"),
        "{view}"
    );
    assert_discreet(&view.to_string(), &["store.internal", &shim.bucket]);
    let r = shim
        .http
        .get(shim.at("/api/v1/thumbnails/failed/download"))
        .send()
        .await
        .unwrap();
    let b = expect_error(r, StatusCode::CONFLICT, "thumbnail_failed").await;
    assert_discreet(&b.to_string(), &["store.internal", &shim.bucket]);
}

#[tokio::test]
async fn only_thumbnails_the_shim_created_are_listed_shown_downloaded_or_deleted() {
    let shim = Shim::start().await;
    let r = shim
        .upload(
            Some(("a.png", corpus("p01_astronaut_512x512.png"))),
            &[("width", "64")],
        )
        .await;
    let mine = body(r).await["id"].as_str().unwrap().to_string();
    // Made with kubectl by someone else in the namespace, finished.
    shim.create_directly("someone-elses", &[], "originals/someone-elses")
        .await;
    shim.complete(
        "someone-elses",
        b"\x89PNG\r\n\x1a\nnot yours".to_vec(),
        "image/png",
        "png",
    )
    .await;

    let list = body(
        shim.http
            .get(shim.at("/api/v1/thumbnails"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let ids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [mine.as_str()]);
    let foreign = shim.at("/api/v1/thumbnails/someone-elses");
    for r in [
        shim.http.get(&foreign).send().await.unwrap(),
        shim.http
            .get(format!("{foreign}/download"))
            .send()
            .await
            .unwrap(),
        shim.http.delete(&foreign).send().await.unwrap(),
    ] {
        expect_error(r, StatusCode::NOT_FOUND, "not_found").await;
    }
    assert!(
        shim.resources()
            .await
            .contains(&"someone-elses".to_string()),
        "the shim deleted a Thumbnail it did not create"
    );
    // Its own it still serves and deletes.
    let r = shim
        .http
        .delete(shim.at(&format!("/api/v1/thumbnails/{mine}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

/// Issue 14: several sizes from one upload. One original, stored once; one Thumbnail per
/// item, shared fields and the item's own merged, all labelled with the group and
/// reading the group's original; the answer has the group, each thumbnail's id and
/// links; the group is read, listed and deleted as one.
#[tokio::test]
async fn an_upload_with_sizes_makes_a_group_of_thumbnails_over_one_original() {
    let shim = Shim::start().await;
    let photo = corpus("p01_astronaut_512x512.png");
    let r = shim
        .upload(
            Some(("astronaut.png", photo.clone())),
            &[
                ("sizes", "128, 256x256:cover:png"),
                ("sizes", "x64:quality=40"),
                ("format", "webp"),
                ("quality", "70"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let accepted = body(r).await;
    let group = accepted["group"].as_str().unwrap().to_string();
    assert_eq!(location, shim.at(&format!("/api/v1/groups/{group}")));
    assert_eq!(accepted["status"], "uploaded");
    let rels = |links: &Value| -> Vec<(String, String)> {
        links
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["rel"].as_str().unwrap().to_string(),
                    l["href"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(
        rels(&accepted["links"]),
        [
            ("self".to_string(), location.clone()),
            ("delete".to_string(), location.clone())
        ]
    );
    let members = accepted["thumbnails"].as_array().unwrap();
    let ids: Vec<String> = members
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        ids,
        ["01", "02", "03"].map(|n| format!("{group}-{n}")),
        "{accepted}"
    );
    assert_eq!(
        members
            .iter()
            .map(|m| m["requested"].clone())
            .collect::<Vec<_>>(),
        [
            json!({"width": 128, "fit": "inside", "format": "webp", "quality": 70}),
            json!({"width": 256, "height": 256, "fit": "cover", "format": "png"}),
            json!({"height": 64, "fit": "inside", "format": "webp", "quality": 40}),
        ]
    );
    for (m, id) in members.iter().zip(&ids) {
        assert_eq!(m["status"], "uploaded");
        let thumb_url = shim.at(&format!("/api/v1/thumbnails/{id}"));
        assert_eq!(
            rels(&m["links"]),
            [
                ("self".to_string(), thumb_url.clone()),
                ("delete".to_string(), thumb_url),
                ("group".to_string(), location.clone()),
            ]
        );
    }

    // One original, stored once, byte for byte, where every member reads it.
    let original = shim_original_key(&shim.namespace, &group);
    assert_eq!(shim.objects().await, std::slice::from_ref(&original));
    let stored = shim
        .s3
        .get_object()
        .bucket(&shim.bucket)
        .key(&original)
        .send()
        .await
        .unwrap();
    assert_eq!(stored.body.collect().await.unwrap().into_bytes(), photo);
    for id in &ids {
        let t = shim.thumbnails.get(id).await.unwrap();
        assert_eq!(t.spec.source.s3.key, original);
        assert!(is_shim_original(
            &shim.bucket,
            &original,
            &shim.namespace,
            id,
            &shim.bucket
        ));
        let labels = t.metadata.labels.clone().unwrap();
        assert_eq!(labels[LABEL_CREATED_BY], "api-shim");
        assert_eq!(labels[thumbnail_api::metadata::LABEL_GROUP], group);
        assert_eq!(
            t.metadata.finalizers.as_deref(),
            Some(&[FINALIZER.to_string()][..])
        );
        assert_eq!(
            t.metadata.annotations.clone().unwrap()[ANNOTATION_ORIGINAL_FILENAME],
            "astronaut.png"
        );
    }

    // The group: its thumbnails in order, with their status and the group's.
    let view = body(shim.http.get(&location).send().await.unwrap()).await;
    assert_eq!(view["id"], group.as_str());
    assert_eq!(view["status"], "uploaded");
    assert_eq!(
        view["counts"],
        json!({"uploaded": 3, "processing": 0, "success": 0, "error": 0})
    );
    let listed: Vec<_> = view["thumbnails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, ids);
    shim.complete(
        &ids[0],
        corpus("p01_astronaut_512x512.png"),
        "image/webp",
        "webp",
    )
    .await;
    let view = body(shim.http.get(&location).send().await.unwrap()).await;
    assert_eq!(view["status"], "processing", "{view}");
    assert_eq!(view["thumbnails"][0]["status"], "success");
    assert_eq!(view["thumbnails"][0]["group"], group.as_str());

    // The list: ?group= gives the group alone; without it, the group is among the rest.
    let single = shim
        .upload(Some(("a.png", photo.clone())), &[("width", "32")])
        .await;
    assert_eq!(single.status(), StatusCode::ACCEPTED);
    let page = body(
        shim.http
            .get(shim.at(&format!("/api/v1/thumbnails?group={group}&limit=2")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let mut seen: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    let next = page["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == "next")
        .expect("a next page")["href"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(next.contains(&format!("group={group}")), "{next}");
    let page = body(shim.http.get(&next).send().await.unwrap()).await;
    seen.extend(
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_string()),
    );
    assert_eq!(seen, ids);
    let all = body(
        shim.http
            .get(shim.at("/api/v1/thumbnails"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(all["items"].as_array().unwrap().len(), 4);
    for bad in ["a,b=c", "UPPER"] {
        let r = shim
            .http
            .get(shim.at("/api/v1/thumbnails"))
            .query(&[("group", bad)])
            .send()
            .await
            .unwrap();
        let b = expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_parameter").await;
        assert_eq!(b["field"], "group");
    }

    // One member deleted alone: the group shows the others.
    let r = shim
        .http
        .delete(shim.at(&format!("/api/v1/thumbnails/{}", ids[1])))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    shim.finish_deletion(&ids[1]).await;
    let view = body(shim.http.get(&location).send().await.unwrap()).await;
    assert_eq!(view["thumbnails"].as_array().unwrap().len(), 2, "{view}");

    // The group deleted: every member marked for deletion (the operator's finalizer
    // then removes the objects, the original with the last one).
    let r = shim.http.delete(&location).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    for id in [&ids[0], &ids[2]] {
        let t = shim.thumbnails.get(id).await.unwrap();
        assert!(t.metadata.deletion_timestamp.is_some(), "{id} not deleted");
        shim.finish_deletion(id).await;
    }
    for path in [location.clone(), shim.at("/api/v1/groups/nonesuch")] {
        let r = shim.http.get(&path).send().await.unwrap();
        expect_error(r, StatusCode::NOT_FOUND, "not_found").await;
        let r = shim.http.delete(&path).send().await.unwrap();
        expect_error(r, StatusCode::NOT_FOUND, "not_found").await;
    }
    let r = shim
        .http
        .get(shim.at("/api/v1/groups/a,b=c"))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "not_found").await;
}

/// Issue 14: a `sizes` the shim or the API server refuses — too many items, a malformed
/// one, the same one twice, one the CRD's rules refuse, sizes with width — is a 422
/// that names the item (`item`, and the message), and nothing is created or kept: not
/// the original (stored before the fields that follow the file were read), not one
/// Thumbnail of the items before the bad one.
#[tokio::test]
async fn bad_sizes_are_refused_naming_the_item_and_nothing_is_kept() {
    let shim = Shim::start().await;
    let photo = corpus("j05_path_2560x1600.jpg");
    let seventeen = (1..=17)
        .map(|n| (n * 10).to_string())
        .collect::<Vec<_>>()
        .join(",");
    for (fields, code, item, words) in [
        (
            vec![("sizes", seventeen.as_str())],
            "invalid_parameter",
            Some(17),
            "at most 16",
        ),
        (
            vec![("sizes", "128,12a,256")],
            "invalid_parameter",
            Some(2),
            "sizes item 2 (\"12a\")",
        ),
        (
            vec![("sizes", "128,256x0")],
            "invalid_parameter",
            Some(2),
            "from 1 to 8192",
        ),
        (
            vec![("sizes", "128:fit=stretch")],
            "invalid_parameter",
            Some(1),
            "fit must be one of",
        ),
        (
            vec![("sizes", "128,256,128")],
            "invalid_parameter",
            Some(3),
            "the same thumbnail as item 1",
        ),
        (
            vec![("sizes", "128"), ("width", "64")],
            "invalid_parameter",
            None,
            "not both",
        ),
        // The CRD's own rule (fit cover needs both sides), checked by the API server
        // for every item before any is created.
        (
            vec![("sizes", "128,256:cover")],
            "rejected_by_api_server",
            Some(2),
            "sizes item 2 (256 cover jpeg)",
        ),
        (
            vec![("sizes", "128:png:q50")],
            "rejected_by_api_server",
            Some(1),
            "quality",
        ),
    ] {
        // The fields after the file: the original is stored first and must go again.
        let mut form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(photo.clone()).file_name("path.jpg"),
        );
        for (f, v) in &fields {
            form = form.text(f.to_string(), v.to_string());
        }
        let r = shim
            .http
            .post(shim.at("/api/v1/thumbnails"))
            .multipart(form)
            .send()
            .await
            .unwrap();
        let b = expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, code).await;
        assert_eq!(b["field"], "sizes", "{b}");
        assert_eq!(b["item"].as_u64(), item.map(|i| i as u64), "{b}");
        assert!(
            b["message"].as_str().unwrap().contains(words),
            "{fields:?}: {b}"
        );
        assert!(
            shim.objects().await.is_empty(),
            "{fields:?} left the original: {:?}",
            shim.objects().await
        );
        assert!(
            shim.resources().await.is_empty(),
            "{fields:?} left Thumbnails: {:?}",
            shim.resources().await
        );
    }
}

/// The web page's upload with several sizes: the page serves the `sizes` input, and
/// the request its script sends — a multipart form with `sizes`, the shared fit, format
/// and quality, then the file with its type, and no width or height (the browser test,
/// api-shim/tests/web/browser-test.mjs, checks the page sends exactly these fields) —
/// is accepted as a group, each size asked for as the page means it.
#[tokio::test]
async fn the_web_pages_sizes_upload_is_accepted_as_a_group() {
    let shim = Shim::start().await;
    let page = shim.http.get(shim.at("/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"<input id="sizes" name="sizes" type="text""#)
            && html.contains(r#"<label for="sizes">"#),
        "the page has no labelled sizes input"
    );
    // The hint's limit comes from the limits, which the script reads.
    let script = shim
        .http
        .get(shim.at("/ui/app.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(script.contains("limits.maxSizes"), "the page's script");
    let limits = body(
        shim.http
            .get(shim.at("/api/v1/limits"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(limits["maxSizes"], 16, "{limits}");

    // FormData in the page's order: the text fields, then the file (a browser sends the
    // File's type with it).
    let photo = corpus("j06_fallenleaf_2560x1600.jpg");
    let form = reqwest::multipart::Form::new()
        .text("sizes", "128,200x200:cover:png,x100:avif:q40")
        .text("fit", "inside")
        .text("format", "webp")
        .text("quality", "60")
        .part(
            "file",
            reqwest::multipart::Part::bytes(photo)
                .file_name("leaf.jpg")
                .mime_str("image/jpeg")
                .unwrap(),
        );
    let r = shim
        .http
        .post(shim.at("/api/v1/thumbnails"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let accepted = body(r).await;
    let group = accepted["group"].as_str().unwrap().to_string();
    assert_eq!(
        accepted["thumbnails"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (
                t["id"].as_str().unwrap().to_string(),
                t["requested"].clone()
            ))
            .collect::<Vec<_>>(),
        [
            (
                format!("{group}-01"),
                json!({"width": 128, "fit": "inside", "format": "webp", "quality": 60})
            ),
            (
                format!("{group}-02"),
                json!({"width": 200, "height": 200, "fit": "cover", "format": "png"})
            ),
            (
                format!("{group}-03"),
                json!({"height": 100, "fit": "inside", "format": "avif", "quality": 40})
            ),
        ],
        "{accepted}"
    );
    let view = body(
        shim.http
            .get(shim.at(&format!("/api/v1/groups/{group}")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        view["thumbnails"].as_array().map(Vec::len),
        Some(3),
        "{view}"
    );
    assert_eq!(
        shim.resources().await.len(),
        3,
        "one Thumbnail per size: {:?}",
        shim.resources().await
    );
}
