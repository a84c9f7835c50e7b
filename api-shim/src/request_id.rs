//! A request id for every request: answered in the X-Request-Id header and in every
//! error body, and carried by every log line of the request, so that what a client
//! reports leads an administrator to the details the answer leaves out.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument as _;

/// Header the id is answered in.
pub const HEADER: &str = "x-request-id";

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being handled on this task, if any.
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Middleware: a fresh id per request (one a client sends is not trusted: it could
/// collide with another's or forge log lines).
pub async fn assign(req: Request, next: Next) -> Response {
    let id = ulid::Ulid::new().to_string().to_lowercase();
    let span = tracing::info_span!("request", request_id = %id);
    let mut response = REQUEST_ID
        .scope(id.clone(), next.run(req).instrument(span))
        .await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}
