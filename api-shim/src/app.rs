//! Assembles the router: documented routes, docs, metrics, and the middleware every
//! request goes through (metrics, auth, timeouts, body limit, request logs).

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::state::AppState;
use crate::{auth, metrics, openapi, swagger};

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
        metrics::record,
    ))
    // A failed request is logged once, by `ApiError` (at WARN, with its code and
    // message); the trace layer's own ERROR line for every 5xx, a failing readiness probe
    // included, was a duplicate that raised false alarms.
    .layer(
        TraceLayer::new_for_http()
            .on_failure(tower_http::trace::DefaultOnFailure::new().level(tracing::Level::DEBUG)),
    )
    .with_state(state)
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
/// flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
