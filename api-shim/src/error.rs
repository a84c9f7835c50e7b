//! The one error type of the HTTP API: a status code, a stable snake_case `code` that
//! clients can switch on, and a human message that says what to do next.

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
    /// The thumbnail's status word (uploaded, processing, success, error) for errors
    /// about a thumbnail's state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The resizer's CamelCase reason when a thumbnail failed, e.g. NotAnImage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// An error answered to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    /// Boxed: errors travel through every `Result` of the handlers, keep them small.
    pub body: Box<ErrorBody>,
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
                status: None,
                reason: None,
            }),
        }
    }

    pub fn with_field(mut self, field: &str) -> ApiError {
        self.body.field = Some(field.into());
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

    /// The object store cannot be reached or refused the operation (503).
    pub fn store_unavailable(what: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            format!("the object store is unavailable ({what}); nothing was kept, retry later"),
        )
    }

    /// The Kubernetes API server cannot be reached or failed (503).
    pub fn api_unavailable(what: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "api_server_unavailable",
            format!("the Kubernetes API server is unavailable ({what}); retry later"),
        )
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
        if self.status.is_server_error() {
            tracing::warn!(status = self.status.as_u16(), code = %self.body.code, message = %self.body.message, "request failed");
        }
        (self.status, Json(*self.body)).into_response()
    }
}

/// Maps a Kubernetes API error for the thumbnail `id` to an answer: 404 for a missing
/// resource, 422 with the API server's message when it rejected the spec, 503 when it
/// is unreachable or failing.
pub fn from_kube(err: kube::Error, id: &str) -> ApiError {
    match err {
        kube::Error::Api(status) if status.code == 404 => ApiError::not_found(id),
        kube::Error::Api(status) if status.code == 422 => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "rejected_by_api_server",
            format!(
                "the Thumbnail was rejected by the Kubernetes API server: {}",
                status.message
            ),
        ),
        kube::Error::Api(status) if status.code == 410 => ApiError::new(
            StatusCode::GONE,
            "continue_expired",
            "the continue token has expired; start the listing again without continue",
        ),
        kube::Error::Api(status) if status.code == 400 => ApiError::bad_request(
            "bad_request",
            format!(
                "the Kubernetes API server refused the request: {}",
                status.message
            ),
        ),
        kube::Error::Api(status) if status.code == 401 || status.code == 403 => {
            ApiError::api_unavailable(format!(
                "the shim is not allowed to do this: {}; check its RBAC",
                status.message
            ))
        }
        other => ApiError::api_unavailable(other),
    }
}
