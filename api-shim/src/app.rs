//! Assembles the router: documented routes, docs, metrics, and the middleware every
//! request goes through (request id, request logs, metrics, concurrency limit, body
//! limit, timeouts, auth); and serves it with a time limit on reading request headers.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::routes::events;
use crate::state::AppState;
use crate::{auth, metrics, openapi, request_id, swagger, web};

/// Room for the form's text fields and multipart framing on top of the file's limit.
const FORM_OVERHEAD: u64 = 1024 * 1024;

/// The whole HTTP API.
pub fn router(state: AppState) -> Router {
    let (api, doc) = openapi::router().split_for_parts();
    let doc = std::sync::Arc::new(doc);
    let body_limit = (state.settings.max_upload_bytes + FORM_OVERHEAD) as usize;
    api.route(
        "/api/v1/openapi.json",
        get(move || {
            let doc = doc.clone();
            async move { Json(doc.as_ref().clone()) }
        }),
    )
    .merge(swagger::router())
    .merge(web::router())
    .route("/metrics", get(metrics::serve))
    .fallback(not_found)
    .layer(middleware::from_fn_with_state(
        state.clone(),
        auth::require_token,
    ))
    .layer(middleware::from_fn_with_state(state.clone(), timeout))
    .layer(DefaultBodyLimit::max(body_limit))
    .layer(middleware::from_fn_with_state(
        state.clone(),
        limit_concurrency,
    ))
    .layer(middleware::from_fn_with_state(
        state.clone(),
        metrics::record,
    ))
    // A failed request is logged once, by `ApiError` (at WARN, with its code and
    // message); the trace layer's own ERROR line for every 5xx, a failing readiness probe
    // included, was a duplicate that raised false alarms.
    .layer(
        TraceLayer::new_for_http()
            .on_failure(tower_http::trace::DefaultOnFailure::new().level(tracing::Level::DEBUG)),
    )
    .layer(middleware::from_fn(request_id::assign))
    .with_state(state)
}

/// Paths outside the concurrency limit: a kubelet's probe or a scrape must be answered
/// while the API is saturated, or the kubelet would restart a shim that is merely busy.
///
/// Event streams stay open as long as their client wants: they have their own limit
/// (`--max-event-streams`, in the handler) instead of holding a request permit forever.
/// The page and its assets are static and answered at once.
fn unlimited(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics" | events::PATH) || web::is_asset(path)
}

/// A permit of the concurrency limit, counted in the in-flight gauge while held.
struct InFlight {
    _permit: tokio::sync::OwnedSemaphorePermit,
    gauge: prometheus_client::metrics::gauge::Gauge,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

/// A response body that holds its request's permit until it is sent (a download
/// streams long after its handler returned).
struct Guarded {
    inner: Body,
    _in_flight: InFlight,
}

impl http_body::Body for Guarded {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Serves at most `max_concurrent_requests` requests at once and answers the others
/// 503 `overloaded` at once: queueing them would only hold more connections open while
/// the shim is slowest, and a client can retry.
async fn limit_concurrency(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if unlimited(req.uri().path()) {
        return next.run(req).await;
    }
    let Ok(permit) = state.in_flight.clone().try_acquire_owned() else {
        state.metrics.shed.inc();
        let mut response = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            format!(
                "the shim is serving its limit of {} requests at once; retry in a moment",
                state.settings.max_concurrent_requests
            ),
        )
        .into_response();
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    };
    state.metrics.in_flight.inc();
    let in_flight = InFlight {
        _permit: permit,
        gauge: state.metrics.in_flight.clone(),
    };
    let response = next.run(req).await;
    response.map(|inner| {
        Body::new(Guarded {
            inner,
            _in_flight: in_flight,
        })
    })
}

async fn not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_such_route",
        format!(
            "there is no {method} {}; the API is described at /api/v1/openapi.json and /swagger-ui",
            uri.path()
        ),
    )
}

/// Ends a request that takes too long with a JSON 504.
async fn timeout(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() == Method::POST && req.uri().path() == "/api/v1/thumbnails" {
        // The upload handler applies its own, longer limit and cleans up after it.
        return next.run(req).await;
    }
    let limit = state.settings.request_timeout;
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            format!(
                "the request took longer than {} s and was stopped; retry later",
                limit.as_secs()
            ),
        )
        .into_response(),
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets requests in
/// flight finish. A client must send a request's whole header within
/// `header_read_timeout` or is disconnected: otherwise connections that trickle their
/// headers in (slowloris) are held open forever, before any limit of the router sees
/// them. (axum::serve has no such setting, hence the connection loop here.) HTTP/1.1
/// only: probes, proxies and clients speak it, and an h2c connection has no time limit
/// on its handshake.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    header_read_timeout: std::time::Duration,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;

    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
