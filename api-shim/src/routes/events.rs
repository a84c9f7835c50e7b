//! GET /api/v1/thumbnails/events: the shim's Thumbnails as a stream of Server-Sent
//! Events, from a watch of the Kubernetes API. Any HTTP client can follow it (curl -N,
//! EventSource, fetch); the web page does.
//!
//! Each event's `id` is the Kubernetes resourceVersion it was seen at. A client that
//! reconnects sends the last one as `Last-Event-ID` and the watch resumes right after it,
//! so the changes made while it was away (a shim restart, a dropped connection) arrive
//! in order. Without one, or when the API server no longer has that version, the stream
//! starts with a snapshot: `reset`, one `thumbnail` per Thumbnail, `synced`.
//!
//! Bounds: at most `--max-event-streams` streams at once (more get 503 `overloaded`,
//! with Retry-After), outside the request concurrency limit, whose permits are for
//! requests that end; a comment line every `--event-heartbeat-seconds` keeps proxies
//! from closing an idle stream and tells the client the shim is alive; the token is
//! checked again at each heartbeat, so a revoked token's streams end; on shutdown every
//! stream ends cleanly, so the shim's graceful stop is not held up by them.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::header::{AUTHORIZATION, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use kube::api::{ListParams, WatchEvent, WatchParams};
use serde::Serialize;
use thumbnail_api::crd::Thumbnail;
use utoipa::ToSchema;

use crate::base_url::BaseUrl;
use crate::error::{ApiError, ErrorBody};
use crate::model::ThumbnailView;
use crate::state::AppState;

/// The route (under the thumbnails' prefix, so it takes the same token; a Thumbnail
/// made by the shim is named by a ULID and can never be called `events`).
pub const PATH: &str = "/api/v1/thumbnails/events";

/// Event names, as the `event:` field of the stream.
pub const THUMBNAIL: &str = "thumbnail";
pub const DELETED: &str = "deleted";
pub const RESET: &str = "reset";
pub const SYNCED: &str = "synced";
pub const ERROR: &str = "error";

/// How long a client waits before reconnecting (the `retry:` field sent first).
const RETRY: Duration = Duration::from_secs(2);
/// Pause before watching again after the API server failed.
const WATCH_RETRY: Duration = Duration::from_secs(2);
/// Page size of the snapshot's list.
const PAGE: u32 = 500;
/// A watch call's length; the stream then watches again from where it was.
const WATCH_SECONDS: u32 = 290;

/// The data of a `deleted` event.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Deleted {
    /// Id of the thumbnail that is gone.
    pub id: String,
}

/// The data of a `synced` event.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Synced {
    /// How many `thumbnail` events the snapshot held.
    pub count: usize,
}

/// The data of an `error` event, sent just before the shim ends a stream.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StreamError {
    /// `unauthorized`: the token was revoked.
    pub code: String,
    pub message: String,
}

/// Follow the thumbnails as they change (Server-Sent Events).
///
/// A `text/event-stream` of these events, each with an `id` (send the last one you saw
/// as `Last-Event-ID` when you reconnect, and you get what you missed, in order):
///
/// - `thumbnail`: a thumbnail was created or changed; data: the same JSON as
///   `GET /api/v1/thumbnails/{id}` (schema ThumbnailView). Transitions (uploaded, processing, success, error)
///   arrive in the order they happened.
/// - `deleted`: data `{"id": ...}` (schema Deleted).
/// - `reset`, then one `thumbnail` per existing thumbnail, then `synced`
///   (`{"count": N}`, schema Synced): a snapshot of all of them. Sent first when the request has no
///   `Last-Event-ID`, or when the one given is too old to resume from; after `synced`,
///   a thumbnail the client knows of that was not in the snapshot is gone.
/// - `error`: the shim ends the stream (`{"code": "unauthorized", ...}`, schema
///   StreamError: the token was revoked).
///
/// Lines starting with `:` are heartbeats. The number of streams open at once is
/// limited: over it, 503 `overloaded` with Retry-After. The shim ends streams when it
/// stops; reconnect with `Last-Event-ID`.
#[utoipa::path(
    get,
    path = "/api/v1/thumbnails/events",
    tag = super::TAG,
    params(
        ("Last-Event-ID" = Option<String>, Header, description = "The id of the last event received: resume after it"),
    ),
    responses(
        (status = 200, description = "The event stream (events thumbnail, deleted, reset, synced, error; see above)",
            content_type = "text/event-stream", body = String),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 503, description = "The shim is serving its limit of event streams (code overloaded, with Retry-After)", body = ErrorBody),
    ),
    security((), ("bearer" = [])),
)]
pub async fn events(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    headers: HeaderMap,
) -> Response {
    let Ok(permit) = state.event_streams.clone().try_acquire_owned() else {
        state.metrics.shed.inc();
        let mut response = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            format!(
                "the shim is serving its limit of {} event streams; retry in a moment",
                state.settings.max_event_streams
            ),
        )
        .into_response();
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("5"));
        return response;
    };
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| valid_version(v))
        .map(String::from);
    let token = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    // A channel between the watch and the response body: when the client goes, hyper
    // drops the body (the receiver; at the latest when a heartbeat cannot be written),
    // and the task ends at once, releasing the stream's permit, even while the watch
    // is quiet.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Event>(16);
    state.metrics.event_streams.inc();
    let task_state = state.clone();
    tokio::spawn(async move {
        let _permit = permit;
        let gauge = task_state.metrics.event_streams.clone();
        let shutdown = task_state.shutdown.clone();
        let gone = tx.clone();
        tokio::select! {
            () = follow(&task_state, &base, resume, token, tx) => {}
            () = gone.closed() => {}
            () = shutdown.cancelled() => {}
        }
        gauge.dec();
    });
    let keep_alive = KeepAlive::new()
        .interval(state.settings.event_heartbeat)
        .text("heartbeat");
    let events = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
    Sse::new(events.map(Ok::<_, Infallible>))
        .keep_alive(keep_alive)
        .into_response()
}

/// resourceVersions are opaque, but short and plain; anything else is not one of ours
/// and gets a snapshot rather than reaching the API server's URL.
fn valid_version(v: &str) -> bool {
    (1..=64).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

type Sender = tokio::sync::mpsc::Sender<Event>;

/// Client gone: the stream ends.
struct Gone;

async fn send(tx: &mut Sender, event: Event) -> Result<(), Gone> {
    tx.send(event).await.map_err(|_| Gone)
}

fn view_event(t: &Thumbnail, base: &str) -> Event {
    let mut e = Event::default()
        .event(THUMBNAIL)
        .json_data(ThumbnailView::from_resource(t, base))
        .expect("a view serializes");
    if let Some(rv) = &t.metadata.resource_version {
        e = e.id(rv);
    }
    e
}

/// Runs one stream until the client goes or the token is revoked.
async fn follow(
    state: &AppState,
    base: &str,
    resume: Option<String>,
    token: Option<String>,
    mut tx: Sender,
) {
    let _ = run(state, base, resume, token, &mut tx).await;
}

async fn run(
    state: &AppState,
    base: &str,
    resume: Option<String>,
    token: Option<String>,
    tx: &mut Sender,
) -> Result<(), Gone> {
    send(tx, Event::default().retry(RETRY)).await?;
    let mut version = resume;
    let mut recheck = tokio::time::interval(state.settings.event_heartbeat);
    recheck.tick().await;
    loop {
        let from = match version.take() {
            Some(v) => v,
            None => match snapshot(state, base, tx).await? {
                Some(v) => v,
                None => {
                    tokio::time::sleep(WATCH_RETRY).await;
                    continue;
                }
            },
        };
        let params = WatchParams::default()
            .labels(&super::served_selector())
            // Bookmarks are on by default (kube's WatchParams).
            .timeout(WATCH_SECONDS);
        let watch = match state.thumbnails.watch(&params, &from).await {
            Ok(w) => w,
            Err(kube::Error::Api(s)) if s.code == 410 || s.code == 504 || s.code == 400 => {
                // Too old (compacted), too new (from another API server's history), or
                // not a version at all: start over from a snapshot.
                tracing::debug!(version = %from, code = s.code, "cannot resume the watch: snapshot");
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "watching Thumbnails failed; retrying");
                version = Some(from);
                tokio::time::sleep(WATCH_RETRY).await;
                continue;
            }
        };
        let mut watch = std::pin::pin!(watch);
        let mut last = from;
        let mut restart_from_snapshot = false;
        loop {
            let item = tokio::select! {
                item = watch.next() => item,
                _ = recheck.tick() => {
                    if !still_authorized(state, token.as_deref()) {
                        let _ = send(tx, Event::default().event(ERROR).json_data(StreamError {
                            code: "unauthorized".into(),
                            message: "the token of this stream is no longer accepted; reconnect with a valid one".into(),
                        }).expect("serializes")).await;
                        return Ok(());
                    }
                    continue;
                }
            };
            let Some(item) = item else { break };
            match item {
                Ok(WatchEvent::Added(t)) | Ok(WatchEvent::Modified(t)) => {
                    if let Some(rv) = &t.metadata.resource_version {
                        last = rv.clone();
                    }
                    send(tx, view_event(&t, base)).await?;
                }
                Ok(WatchEvent::Deleted(t)) => {
                    if let Some(rv) = &t.metadata.resource_version {
                        last = rv.clone();
                    }
                    let id = t.metadata.name.clone().unwrap_or_default();
                    send(
                        tx,
                        Event::default()
                            .event(DELETED)
                            .id(&last)
                            .json_data(Deleted { id })
                            .expect("serializes"),
                    )
                    .await?;
                }
                Ok(WatchEvent::Bookmark(b)) => {
                    // An id without data moves the client's Last-Event-ID forward
                    // without an event, so a reconnect after a quiet hour resumes from
                    // a version the API server still has.
                    last = b.metadata.resource_version;
                    send(tx, Event::default().id(&last).comment("bookmark")).await?;
                }
                Ok(WatchEvent::Error(s)) if s.code == 410 => {
                    restart_from_snapshot = true;
                    break;
                }
                Ok(WatchEvent::Error(s)) => {
                    tracing::warn!(code = s.code, message = %s.message, "the Thumbnail watch reported an error; watching again");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the Thumbnail watch failed; watching again");
                    tokio::time::sleep(WATCH_RETRY).await;
                    break;
                }
            }
        }
        if !restart_from_snapshot {
            version = Some(last);
        }
    }
}

fn still_authorized(state: &AppState, header: Option<&str>) -> bool {
    match &state.settings.tokens {
        None => true,
        Some(tokens) => crate::auth::authorized(&tokens.current(), header),
    }
}

/// Sends `reset`, every served Thumbnail, `synced`; returns the list's version to watch
/// from, or `None` when the API server did not answer (the caller waits and retries).
async fn snapshot(state: &AppState, base: &str, tx: &mut Sender) -> Result<Option<String>, Gone> {
    let mut items = Vec::new();
    let mut version = None;
    let mut token: Option<String> = None;
    loop {
        let mut params = ListParams::default()
            .labels(&super::served_selector())
            .limit(PAGE);
        if let Some(t) = &token {
            params = params.continue_token(t);
        }
        let page = match state.thumbnails.list(&params).await {
            Ok(page) => page,
            Err(e) => {
                tracing::warn!(error = %e, "listing Thumbnails for an event stream failed; retrying");
                return Ok(None);
            }
        };
        // The continued pages are of the first page's snapshot: its version is where
        // the watch starts.
        version = version.or(page.metadata.resource_version.clone());
        items.extend(page.items);
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() {
            break;
        }
    }
    let Some(version) = version else {
        return Ok(None);
    };
    send(tx, Event::default().event(RESET).data("{}")).await?;
    // Each snapshot event carries no id: only `synced` marks a point to resume from
    // (an object's own version may be older than changes to others already sent).
    for t in &items {
        let e = Event::default()
            .event(THUMBNAIL)
            .json_data(ThumbnailView::from_resource(t, base))
            .expect("a view serializes");
        send(tx, e).await?;
    }
    send(
        tx,
        Event::default()
            .event(SYNCED)
            .id(&version)
            .json_data(Synced { count: items.len() })
            .expect("serializes"),
    )
    .await?;
    Ok(Some(version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_versions_are_resumed_from() {
        for good in ["1", "123456", "abc-DEF_1.2"] {
            assert!(valid_version(good), "{good}");
        }
        for bad in ["", "1 2", "1\n", "a/b", "?x=1", &"9".repeat(65)] {
            assert!(!valid_version(bad), "{bad:?}");
        }
    }
}
