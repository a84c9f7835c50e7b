//! Prometheus metrics: requests by route and status, request durations, upload bytes.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::state::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: HistogramFamily,
    upload_bytes: Counter,
    /// Requests holding a permit of the concurrency limit.
    pub in_flight: Gauge,
    /// Requests refused with 503 because the limit was reached.
    pub shed: Counter,
    /// Event streams open.
    pub event_streams: Gauge,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("thumbnail_shim");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route and status",
            requests.clone(),
        );
        // 5 ms .. ~40 s: probes are fast, big uploads slow.
        let durations: HistogramFamily =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.005, 2.0, 14)));
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route",
            durations.clone(),
        );
        let upload_bytes = Counter::default();
        registry.register(
            "upload_bytes",
            "Bytes of originals stored through uploads",
            upload_bytes.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "http_requests_in_flight",
            "Requests being served under the concurrency limit (probes and metrics not counted)",
            in_flight.clone(),
        );
        let shed = Counter::default();
        registry.register(
            "http_requests_shed",
            "Requests answered 503 overloaded because the concurrency limit was reached",
            shed.clone(),
        );
        let event_streams = Gauge::default();
        registry.register(
            "event_streams",
            "Event streams (GET /api/v1/thumbnails/events) open",
            event_streams.clone(),
        );
        Metrics {
            event_streams,
            registry,
            requests,
            durations,
            upload_bytes,
            in_flight,
            shed,
        }
    }

    pub fn add_upload_bytes(&self, n: u64) {
        self.upload_bytes.inc_by(n);
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// The `method` label: the methods HTTP defines, anything else `other`, so that a
/// client inventing methods cannot grow the label space (and the scrape) without bound.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// Middleware recording every request. The route label is the matched route
/// template (/api/v1/thumbnails/{id}), never the raw path, so ids do not explode the
/// label space.
pub async fn record(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = method_label(req.method()).to_string();
    let start = Instant::now();
    let response = next.run(req).await;
    let m = &state.metrics;
    m.durations
        .get_or_create(&RouteLabels {
            method: method.clone(),
            route: route.clone(),
        })
        .observe(start.elapsed().as_secs_f64());
    m.requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

/// GET /metrics
pub async fn serve(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_labels_are_bounded() {
        assert_eq!(method_label(&Method::DELETE), "DELETE");
        for invented in ["FOO", "get", "X-1234567890"] {
            assert_eq!(
                method_label(&Method::from_bytes(invented.as_bytes()).unwrap()),
                "other"
            );
        }
    }
}
