//! The one error type of the HTTP API: a status code, a stable snake_case `code` that
//! clients can switch on, and a human message that says what to do next.
//!
//! Answers go to anonymous clients (or to any holder of a shared token): they never
//! carry what only the administrator should see — the shim's Kubernetes identity, the
//! API server's or the store's address, bucket names or `s3://` paths. Those go into
//! the error's `detail`, which is logged with the request id that the answer carries,
//! so an administrator finds the cause from what a client reports.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// Error body of every non-2xx JSON response.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct ErrorBody {
    /// Stable machine-readable cause, e.g. `not_found`, `payload_too_large`, `not_ready`.
    #[schema(example = "not_found")]
    pub code: String,
    /// What went wrong and what to do about it.
    #[schema(example = "no thumbnail with id 01jd...; list them with GET /api/v1/thumbnails")]
    pub message: String,
    /// The request field the error is about, for parameter errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For an error about one item of the upload's `sizes`: its 1-based position.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 2)]
    pub item: Option<usize>,
    /// The thumbnail's status word (uploaded, processing, success, error) for errors
    /// about a thumbnail's state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The resizer's CamelCase reason when a thumbnail failed, e.g. NotAnImage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Id of the request (also the X-Request-Id header): the shim's log has the
    /// details of the failure under it.
    #[serde(rename = "requestId", skip_serializing_if = "Option::is_none")]
    #[schema(example = "01jdz8q6x5m3c9v2k7h4t0r1ab")]
    pub request_id: Option<String>,
}

/// An error answered to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    /// Boxed: errors travel through every `Result` of the handlers, keep them small.
    pub body: Box<ErrorBody>,
    /// What the administrator needs to find the cause (API server or store message,
    /// addresses, identities): logged, never sent.
    pub detail: Option<String>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: Box::new(ErrorBody {
                code: code.into(),
                message: message.into(),
                field: None,
                item: None,
                status: None,
                reason: None,
                request_id: None,
            }),
            detail: None,
        }
    }

    /// Adds what is logged but not answered.
    pub fn with_detail(mut self, detail: impl std::fmt::Display) -> ApiError {
        self.detail = Some(detail.to_string());
        self
    }

    pub fn with_field(mut self, field: &str) -> ApiError {
        self.body.field = Some(field.into());
        self
    }

    pub fn with_item(mut self, position: usize) -> ApiError {
        self.body.item = Some(position);
        self
    }

    pub fn with_status(mut self, status: &str) -> ApiError {
        self.body.status = Some(status.into());
        self
    }

    pub fn with_reason(mut self, reason: Option<String>) -> ApiError {
        self.body.reason = reason;
        self
    }

    /// A request parameter is missing, malformed or out of range (422).
    pub fn invalid(field: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_parameter",
            message,
        )
        .with_field(field)
    }

    /// The request is not the multipart form the upload expects (400).
    pub fn bad_request(code: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(id: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!(
                "no thumbnail with id {id:?}; list the existing ones with GET /api/v1/thumbnails"
            ),
        )
    }

    pub fn payload_too_large(max: u64) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the file is larger than the limit of {max} bytes; upload a smaller image"),
        )
    }

    /// The object store cannot be reached or refused the operation (503). `what` (the
    /// store's error: endpoint, bucket, key) is only logged.
    pub fn store_unavailable(what: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the object store is unavailable; nothing was kept, retry later",
        )
        .with_detail(what)
    }

    /// The Kubernetes API server cannot be reached or failed (503). `what` is only
    /// logged.
    pub fn api_unavailable(what: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "api_server_unavailable",
            "the Kubernetes API server is unavailable; retry later",
        )
        .with_detail(what)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.body.code,
            self.body.message
        )
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = *self.body;
        body.request_id = crate::request_id::current();
        let detail = self.detail.as_deref().unwrap_or("");
        if self.status.is_server_error() {
            tracing::warn!(status = self.status.as_u16(), code = %body.code, message = %body.message, detail, request_id = body.request_id.as_deref().unwrap_or(""), "request failed");
        } else if !detail.is_empty() {
            tracing::info!(status = self.status.as_u16(), code = %body.code, detail, request_id = body.request_id.as_deref().unwrap_or(""), "request refused");
        }
        (self.status, Json(body)).into_response()
    }
}

/// A message written by another component (the controller's status.message) with
/// every URL-like word (`s3://bucket/key`, `http://store:8333/...`) replaced: such
/// messages are for `kubectl describe`, the REST answer gets their gist.
pub fn redact(message: &str) -> String {
    message
        .split(' ')
        .map(|w| if w.contains("://") { "[redacted]" } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Maps a Kubernetes API error for the thumbnail `id` to an answer: 404 for a missing
/// resource, 422 with the API server's message when it rejected the spec, 503 when it
/// is unreachable or failing.
pub fn from_kube(err: kube::Error, id: &str) -> ApiError {
    match err {
        kube::Error::Api(status) if status.code == 404 => ApiError::not_found(id),
        // The API server's validation message names the field and the rule: it is
        // about the client's own parameters.
        kube::Error::Api(status) if status.code == 422 => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "rejected_by_api_server",
            format!(
                "the Thumbnail was rejected by the Kubernetes API server: {}",
                redact(&status.message)
            ),
        ),
        kube::Error::Api(status) if status.code == 410 => ApiError::new(
            StatusCode::GONE,
            "continue_expired",
            "the continue token has expired; start the listing again without continue",
        ),
        kube::Error::Api(status) if status.code == 400 => ApiError::bad_request(
            "bad_request",
            "the Kubernetes API server refused the request; if you sent a continue token, start the listing again without it",
        )
        .with_detail(status.message),
        // The message names the shim's ServiceAccount and what it may not do: for the
        // administrator's eyes (the log), not for clients.
        kube::Error::Api(status) if status.code == 401 || status.code == 403 => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "api_server_unavailable",
            "the shim may not do this in Kubernetes; its administrator can find why in its log under this request id",
        )
        .with_detail(format!(
            "the Kubernetes API server refused the shim ({}): {}; check the shim's RBAC",
            status.code, status.message
        )),
        other => ApiError::api_unavailable(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_removes_urls_and_keeps_the_rest() {
        assert_eq!(
            redact("source s3://payroll/2025.xlsx not found at http://store:8333 (NoSuchKey)"),
            "source [redacted] not found at [redacted] (NoSuchKey)"
        );
    }

    #[test]
    fn forbidden_keeps_the_identity_out_of_the_answer() {
        let status = kube::core::Status::failure(
            "thumbnails.thumbnails.dev is forbidden: User \"system:serviceaccount:ns:shim\" cannot list",
            "Forbidden",
        )
        .with_code(403);
        let e = from_kube(kube::Error::Api(status.boxed()), "x");
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            !e.body.message.contains("serviceaccount"),
            "{}",
            e.body.message
        );
        assert!(e.detail.unwrap().contains("system:serviceaccount:ns:shim"));
    }
}
