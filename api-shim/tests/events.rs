//! The event stream GET /api/v1/thumbnails/events against the real CRD API server and
//! S3 server (see common/): every transition in order, only the shim's Thumbnails,
//! resuming after a shim restart with Last-Event-ID, the open-stream limit, streams
//! outside the request limit, a revoked token's stream ended.

mod common;

use std::time::Duration;

use common::{corpus, Options, Shim};
use reqwest::StatusCode;
use serde_json::Value;
use thumbnail_api::crd::Phase;

/// One dispatched event of the stream.
#[derive(Debug, Clone)]
struct Ev {
    event: String,
    id: Option<String>,
    data: Value,
}

/// A client of the stream: parses the SSE text as a browser would.
struct Events {
    response: reqwest::Response,
    buffer: String,
    /// The last `id:` seen (also on events without data: bookmarks), as EventSource
    /// keeps it for Last-Event-ID.
    last_id: Option<String>,
    heartbeats: usize,
}

/// Bound on waiting for one event: far above what any step takes, so it only stops a
/// test that would otherwise hang.
const WAIT: Duration = Duration::from_secs(30);

impl Events {
    async fn open(shim: &Shim, last_id: Option<&str>, token: Option<&str>) -> Events {
        let response = request(shim, last_id, token).await;
        assert_eq!(response.status(), StatusCode::OK, "opening the stream");
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Events {
            response,
            buffer: String::new(),
            last_id: last_id.map(String::from),
            heartbeats: 0,
        }
    }

    /// The next event with data; `None` when the shim ended the stream.
    async fn next(&mut self) -> Option<Ev> {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut event, mut id, mut data) = ("message".to_string(), None, Vec::new());
                for line in block.lines() {
                    if let Some(comment) = line.strip_prefix(':') {
                        if comment.trim() == "heartbeat" {
                            self.heartbeats += 1;
                        }
                        continue;
                    }
                    let (field, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    match field {
                        "event" => event = value.to_string(),
                        "id" => id = Some(value.to_string()),
                        "data" => data.push(value.to_string()),
                        _ => {}
                    }
                }
                if id.is_some() {
                    self.last_id = id.clone();
                }
                if !data.is_empty() {
                    let data = serde_json::from_str(&data.join("\n")).expect("JSON data");
                    return Some(Ev { event, id, data });
                }
            }
            let chunk = tokio::time::timeout(WAIT, self.response.chunk())
                .await
                .expect("no event within 30 s")
                .expect("reading the stream");
            match chunk {
                Some(bytes) => self.buffer.push_str(std::str::from_utf8(&bytes).unwrap()),
                None => return None,
            }
        }
    }

    async fn expect(&mut self, event: &str) -> Ev {
        let e = self.next().await.expect("the stream ended");
        assert_eq!(e.event, event, "{e:?}");
        e
    }

    /// Reads the snapshot that starts a stream: reset, thumbnails, synced. Returns the
    /// ids it held.
    async fn snapshot(&mut self) -> Vec<String> {
        self.expect("reset").await;
        let mut ids = Vec::new();
        loop {
            let e = self.next().await.expect("the stream ended in its snapshot");
            match e.event.as_str() {
                "thumbnail" => ids.push(e.data["id"].as_str().unwrap().to_string()),
                "synced" => {
                    assert_eq!(e.data["count"], ids.len());
                    assert!(e.id.is_some(), "synced carries the version to resume from");
                    return ids;
                }
                other => panic!("unexpected {other} in a snapshot"),
            }
        }
    }

    /// Statuses of `id` from its `thumbnail` events until it reaches `last`, repeats
    /// (a change that kept the status) folded.
    async fn statuses_until(&mut self, id: &str, last: &str) -> Vec<String> {
        let mut seen: Vec<String> = Vec::new();
        loop {
            let e = self.next().await.expect("the stream ended");
            assert_eq!(e.event, "thumbnail", "{e:?}");
            assert_eq!(e.data["id"], id, "only the shim's own Thumbnail: {e:?}");
            assert!(e.id.is_some(), "each change carries its version");
            let status = e.data["status"].as_str().unwrap().to_string();
            if seen.last() != Some(&status) {
                seen.push(status.clone());
            }
            if status == last {
                return seen;
            }
        }
    }
}

async fn request(shim: &Shim, last_id: Option<&str>, token: Option<&str>) -> reqwest::Response {
    let mut r = shim
        .http
        .get(shim.at("/api/v1/thumbnails/events"))
        .header("accept", "text/event-stream");
    if let Some(id) = last_id {
        r = r.header("last-event-id", id);
    }
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.expect("GET /api/v1/thumbnails/events")
}

async fn upload(shim: &Shim) -> String {
    let r = shim
        .upload(
            Some(("cups.jpg", corpus("j07_colorfulcups_2560x1600_prog.jpg"))),
            &[("width", "64")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn phase(p: Phase) -> Value {
    serde_json::json!({ "phase": p })
}

#[tokio::test]
async fn a_client_sees_every_transition_of_a_thumbnail_in_order_and_only_the_shims() {
    let shim = Shim::start().await;
    let mut events = Events::open(&shim, None, None).await;
    assert_eq!(events.snapshot().await, Vec::<String>::new());

    // A Thumbnail someone applied with kubectl is not the shim's: never on its stream.
    shim.create_directly("from-kubectl", &[], "originals/x")
        .await;
    let id = upload(&shim).await;
    shim.patch_status(&id, phase(Phase::Processing)).await;
    shim.patch_status("from-kubectl", phase(Phase::Processing))
        .await;
    shim.patch_status(&id, phase(Phase::Failed)).await;
    shim.patch_status(&id, phase(Phase::Processing)).await;
    shim.complete(
        &id,
        corpus("j07_colorfulcups_2560x1600_prog.jpg"),
        "image/jpeg",
        "jpeg",
    )
    .await;
    assert_eq!(
        events.statuses_until(&id, "success").await,
        ["uploaded", "processing", "error", "processing", "success"]
    );

    // Deleted: first marked (the finalizer holds it), then gone.
    let r = shim
        .http
        .delete(shim.at(&format!("/api/v1/thumbnails/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    shim.finish_deletion(&id).await;
    let gone = loop {
        let e = events.next().await.expect("the stream ended");
        if e.event == "deleted" {
            break e;
        }
        assert_eq!(e.event, "thumbnail");
        assert_eq!(e.data["id"], id.as_str());
    };
    assert_eq!(gone.data["id"], id.as_str());
    assert!(gone.id.is_some());

    // A new client gets the current state first: only the shim's (none left).
    let mut late = Events::open(&shim, None, None).await;
    assert_eq!(late.snapshot().await, Vec::<String>::new());
    let kept = upload(&shim).await;
    let mut third = Events::open(&shim, None, None).await;
    assert_eq!(third.snapshot().await, vec![kept]);
}

#[tokio::test]
async fn a_client_resumes_after_the_shim_restarts_with_last_event_id() {
    let mut shim = Shim::start_with(Options {
        settings: Box::new(|s| s.event_heartbeat = Duration::from_secs(1)),
        ..Default::default()
    })
    .await;
    let mut events = Events::open(&shim, None, None).await;
    events.snapshot().await;
    let id = upload(&shim).await;
    assert_eq!(events.statuses_until(&id, "uploaded").await, ["uploaded"]);

    // The shim stops (as on SIGTERM): the stream ends cleanly, and the shim does not
    // wait for its client to go (stop() fails after 10 s).
    shim.stop().await;
    assert!(
        events.next().await.is_none(),
        "the stream ends when the shim stops"
    );
    let resume_from = events.last_id.clone().expect("an id to resume from");

    // Meanwhile the Thumbnail moves on.
    shim.patch_status(&id, phase(Phase::Processing)).await;
    shim.complete(
        &id,
        corpus("j07_colorfulcups_2560x1600_prog.jpg"),
        "image/jpeg",
        "jpeg",
    )
    .await;

    // The client reconnects with Last-Event-ID: what it missed, in order, no snapshot.
    shim.start_again().await;
    let mut resumed = Events::open(&shim, Some(&resume_from), None).await;
    let first = resumed.next().await.expect("the resumed stream ended");
    assert_eq!(
        first.event, "thumbnail",
        "no snapshot when resuming: {first:?}"
    );
    let mut statuses = vec![first.data["status"].as_str().unwrap().to_string()];
    if statuses[0] != "success" {
        for s in resumed.statuses_until(&id, "success").await {
            if statuses.last() != Some(&s) {
                statuses.push(s);
            }
        }
    }
    assert_eq!(statuses, ["processing", "success"]);

    // An id that is no version at all: a snapshot instead.
    let mut garbage = Events::open(&shim, Some("not a version!"), None).await;
    assert_eq!(garbage.snapshot().await, vec![id.clone()]);

    // Idle streams get heartbeats.
    let mut idle = Events::open(&shim, None, None).await;
    idle.snapshot().await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while idle.heartbeats < 2 {
        assert!(tokio::time::Instant::now() < deadline, "no heartbeats");
        let chunk = tokio::time::timeout(WAIT, idle.response.chunk())
            .await
            .expect("no heartbeat within 30 s")
            .unwrap()
            .expect("the idle stream ended");
        idle.heartbeats += std::str::from_utf8(&chunk)
            .unwrap()
            .matches(": heartbeat")
            .count();
    }
}

#[tokio::test]
async fn the_open_stream_limit_holds_and_streams_take_no_request_permit() {
    let shim = Shim::start_with(Options {
        settings: Box::new(|s| {
            s.max_event_streams = 2;
            s.max_concurrent_requests = 1;
            s.event_heartbeat = Duration::from_secs(1);
        }),
        ..Default::default()
    })
    .await;
    let mut a = Events::open(&shim, None, None).await;
    a.snapshot().await;
    let mut b = Events::open(&shim, None, None).await;
    b.snapshot().await;
    assert_eq!(shim.metric("thumbnail_shim_event_streams").await, Some(2.0));

    let third = request(&shim, None, None).await;
    assert_eq!(third.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(third.headers().contains_key("retry-after"));
    let body: Value = third.json().await.unwrap();
    assert_eq!(body["code"], "overloaded");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("2 event streams"),
        "{body}"
    );

    // Two open streams and a limit of one request at once: requests are still served.
    for _ in 0..3 {
        let r = shim
            .http
            .get(shim.at("/api/v1/thumbnails"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }

    // A client that goes frees its place (the shim notices at the latest when a
    // heartbeat cannot be written).
    drop(a);
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut c = loop {
        let r = request(&shim, None, None).await;
        if r.status() == StatusCode::OK {
            break Events {
                response: r,
                buffer: String::new(),
                last_id: None,
                heartbeats: 0,
            };
        }
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            tokio::time::Instant::now() < deadline,
            "the closed stream's place was never freed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    c.snapshot().await;
    assert_eq!(shim.metric("thumbnail_shim_event_streams").await, Some(2.0));
    drop(b);
}

#[tokio::test]
async fn a_stream_needs_a_token_and_ends_when_its_token_is_revoked() {
    let dir = std::env::temp_dir().join(format!("shim-events-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("tokens");
    std::fs::write(&file, "first\n").unwrap();
    let tokens = std::sync::Arc::new(api_shim::auth::Tokens::from_file(&file).unwrap());
    let shim = Shim::start_with(Options {
        settings: Box::new(move |s| {
            s.tokens = Some(tokens);
            s.event_heartbeat = Duration::from_secs(1);
        }),
        ..Default::default()
    })
    .await;
    assert_eq!(
        request(&shim, None, None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        request(&shim, None, Some("wrong")).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let mut events = Events::open(&shim, None, Some("first")).await;
    events.snapshot().await;

    std::fs::write(&file, "second\n").unwrap();
    let e = events.expect("error").await;
    assert_eq!(e.data["code"], "unauthorized");
    assert!(
        events.next().await.is_none(),
        "the stream ends after the error"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn the_limits_are_the_validations_own() {
    let shim = Shim::start_with(Options {
        settings: Box::new(|s| s.max_upload_bytes = 12345),
        ..Default::default()
    })
    .await;
    // No token needed: it describes the API, like the OpenAPI document.
    let limits: Value = shim
        .http
        .get(shim.at("/api/v1/limits"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let b = *api_shim::params::SPEC_BOUNDS;
    assert_eq!(limits["width"]["max"], b.width.max);
    assert_eq!(limits["height"]["min"], b.height.min);
    assert_eq!(limits["quality"]["max"], b.quality.max);
    assert_eq!(limits["maxUploadBytes"], 12345);
    assert_eq!(limits["maxSizes"], 16);
    assert_eq!(
        limits["qualityFormats"],
        serde_json::json!(["jpeg", "webp", "avif"])
    );
    assert_eq!(
        limits["fits"],
        serde_json::json!(thumbnail_api::contract::words::<thumbnail_api::crd::Fit>())
    );
    // One past each bound is what the upload refuses.
    let over = (limits["width"]["max"].as_u64().unwrap() + 1).to_string();
    let r = shim
        .upload(
            Some(("cups.jpg", corpus("j07_colorfulcups_2560x1600_prog.jpg"))),
            &[("width", &over)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn the_page_and_its_assets_are_served_without_a_token_and_only_from_the_shim() {
    let tokens = {
        let dir = std::env::temp_dir().join(format!("shim-page-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("tokens");
        std::fs::write(&file, "t\n").unwrap();
        std::sync::Arc::new(api_shim::auth::Tokens::from_file(&file).unwrap())
    };
    let shim = Shim::start_with(Options {
        settings: Box::new(move |s| s.tokens = Some(tokens)),
        ..Default::default()
    })
    .await;
    for (path, kind) in [
        ("/", "text/html"),
        ("/ui/app.js", "text/javascript"),
        ("/ui/style.css", "text/css"),
        ("/ui/icon.svg", "image/svg+xml"),
    ] {
        let r = shim.http.get(shim.at(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let h = r.headers();
        assert!(
            h["content-type"].to_str().unwrap().starts_with(kind),
            "{path}"
        );
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"));
        let body = r.text().await.unwrap();
        // No CDN: nothing the page loads comes from elsewhere (an SVG names its XML
        // namespace with a URL, which loads nothing).
        if kind != "image/svg+xml" {
            assert!(
                !body.contains("http://") && !body.contains("https://"),
                "{path} names another origin"
            );
        }
    }
}

#[tokio::test]
async fn the_stream_and_the_limits_are_in_the_openapi_document() {
    let shim = Shim::start().await;
    let doc: Value = shim
        .http
        .get(shim.at("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let op = &doc["paths"]["/api/v1/thumbnails/events"]["get"];
    assert!(
        op["responses"]["200"]["content"]["text/event-stream"].is_object(),
        "{op}"
    );
    assert_eq!(op["parameters"][0]["name"], "Last-Event-ID");
    assert_eq!(op["parameters"][0]["in"], "header");
    for code in ["401", "503"] {
        assert!(op["responses"][code].is_object(), "{code}");
    }
    for schema in [
        "ThumbnailView",
        "Deleted",
        "Synced",
        "StreamError",
        "Limits",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "{schema} is not described"
        );
    }
    assert!(doc["paths"]["/api/v1/limits"]["get"]["responses"]["200"].is_object());
}
