//! GET /api/v1/thumbnails/{id}/download: the thumbnail's bytes, streamed from the
//! store (or a redirect to a presigned URL when that setting is on).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE, ETAG, IF_NONE_MATCH, LOCATION,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use thumbnail_api::crd::Phase;
use tokio_util::io::ReaderStream;

use super::thumbnails::IdPath;
use crate::error::{redact, ApiError, ApiResult, ErrorBody};
use crate::model::phase_of;
use crate::state::AppState;
use crate::store::{GetError, Got};

/// The download URL stays the same across re-renders (an edit of the Thumbnail makes a
/// new image under the same URL), so a cache may keep the image but must revalidate it
/// on every use: it then gets 304 with no body while the image is the same, and the new
/// image as soon as there is one. (The alternative, a new URL per render, would change
/// the links every client and the controller's status.links hold.) `private` when
/// tokens guard the API, so shared caches do not hand the image to others.
pub fn cache_control(authenticated: bool) -> &'static str {
    if authenticated {
        "private, no-cache"
    } else {
        "no-cache"
    }
}

/// Whether an If-None-Match header value matches `etag` (RFC 9110 weak comparison).
fn matches_etag(if_none_match: &str, etag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_string();
    if_none_match
        .split(',')
        .any(|t| t.trim() == "*" || bare(t) == bare(etag))
}

/// Download the thumbnail.
///
/// Streams the image with its Content-Type, Content-Length and ETag. The URL stays
/// the same when the thumbnail is re-rendered, so the answer is `Cache-Control:
/// no-cache`: keep the image, but send its ETag back in If-None-Match on every use to
/// get 304 (with the current ETag) while it is unchanged, and the new image once it
/// changed. Before the status is
/// `success` the answer is 409 with the current status (`not_ready`), and after an
/// `error` too (`thumbnail_failed`, with the resizer's reason): the request is fine,
/// the thumbnail's state is what prevents the download.
#[utoipa::path(
    get,
    path = "/api/v1/thumbnails/{id}/download",
    tag = super::TAG,
    params(IdPath),
    responses(
        (status = 200, description = "The thumbnail image",
            content(("image/jpeg"), ("image/png"), ("image/webp")),
            headers(("ETag" = String), ("Cache-Control" = String), ("Content-Length" = u64))),
        (status = 304, description = "Not modified: If-None-Match matched the image's current ETag, which the answer carries",
            headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 307, description = "Redirect to a presigned URL of the image (when enabled)",
            headers(("Location" = String))),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 404, description = "No thumbnail with this id, or its image is gone", body = ErrorBody),
        (status = 409, description = "Not ready yet (code not_ready), or the thumbnail could not be made (code thumbnail_failed, with the reason); the body has the current status", body = ErrorBody),
        (status = 503, description = "The object store or the Kubernetes API server is unavailable (code store_unavailable or api_server_unavailable), or the shim is serving its limit of requests at once (code overloaded, with Retry-After)", body = ErrorBody),
    ),
    security((), ("bearer" = [])),
)]
pub async fn download(
    State(state): State<AppState>,
    Path(IdPath { id }): Path<IdPath>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let t = super::get_served(&state, &id).await?;
    let phase = phase_of(&t);
    let status = t.status.as_ref();
    let output = status.and_then(|s| s.output.as_ref());
    let output = match (phase, output) {
        (Phase::Succeeded, Some(o)) => o,
        (Phase::Failed, _) => {
            let reason = status.and_then(|s| s.reason.clone());
            let message = status
                .and_then(|s| s.message.as_deref())
                .map(redact)
                .unwrap_or_default();
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "thumbnail_failed",
                format!(
                    "the thumbnail could not be made: {message} (reason {}); upload a different image or change the parameters",
                    reason.as_deref().unwrap_or("unknown")
                ),
            )
            .with_status(phase.status_word().as_str())
            .with_reason(reason));
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "not_ready",
                format!(
                    "the thumbnail is not ready yet (status {}); poll GET /api/v1/thumbnails/{id} until it is success",
                    phase.status_word().as_str()
                ),
            )
            .with_status(phase.status_word().as_str()))
        }
    };

    if state.settings.presigned_downloads {
        let url = state
            .store
            .presign_get(&output.bucket, &output.key, state.settings.presign_ttl)
            .await
            .map_err(ApiError::store_unavailable)?;
        return Ok((
            StatusCode::TEMPORARY_REDIRECT,
            [(LOCATION, url), (CACHE_CONTROL, "no-store".into())],
        )
            .into_response());
    }

    let if_none_match = headers.get(IF_NONE_MATCH).and_then(|v| v.to_str().ok());
    let cache = cache_control(state.settings.tokens.is_some());
    let mut got = state
        .store
        .get(&output.bucket, &output.key, if_none_match)
        .await;
    if let Ok(Got::NotModified { e_tag: None }) = got {
        // A 304 must name the object's validator, not repeat the client's (which may
        // be a list or `*`): without it from the store, ask for the object and compare.
        got = state.store.get(&output.bucket, &output.key, None).await;
    }
    let object = match got {
        Ok(Got::Object(o)) => o,
        Ok(Got::NotModified { e_tag }) => {
            let mut r = StatusCode::NOT_MODIFIED.into_response();
            if let Some(tag) = e_tag.and_then(|v| HeaderValue::from_str(&v).ok()) {
                r.headers_mut().insert(ETAG, tag);
            }
            r.headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static(cache));
            return Ok(r);
        }
        Err(GetError::Missing) => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "output_missing",
                "the thumbnail's image is no longer in the store; delete this thumbnail and upload the image again",
            ))
        }
        Err(GetError::Store(e)) => return Err(ApiError::store_unavailable(e)),
    };

    let etag = object.e_tag.clone();
    let mut builder = Response::builder().header(CACHE_CONTROL, cache).header(
        CONTENT_DISPOSITION,
        format!("inline; filename=\"{id}.{}\"", output.format.extension()),
    );
    if let Some(tag) = &etag {
        // Some stores ignore If-None-Match on GET: compare here too.
        if if_none_match.is_some_and(|inm| matches_etag(inm, tag)) {
            return builder
                .status(StatusCode::NOT_MODIFIED)
                .header(ETAG, tag)
                .body(Body::empty())
                .map_err(|e| ApiError::internal(e.to_string()));
        }
        builder = builder.header(ETAG, tag);
    }
    let content_type = object
        .content_type
        .clone()
        .filter(|c| c.starts_with("image/"))
        .unwrap_or_else(|| output.content_type.clone());
    builder = builder.header(CONTENT_TYPE, content_type);
    if let Some(len) = object.content_length.filter(|l| *l >= 0) {
        builder = builder.header(CONTENT_LENGTH, len);
    }
    let body = Body::from_stream(ReaderStream::new(object.body.into_async_read()));
    builder
        .status(StatusCode::OK)
        .body(body)
        .map_err(|e| ApiError::internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_match_weakly_and_in_lists() {
        assert!(matches_etag("\"abc\"", "\"abc\""));
        assert!(matches_etag("W/\"abc\"", "\"abc\""));
        assert!(matches_etag("\"x\", \"abc\"", "\"abc\""));
        assert!(matches_etag("*", "\"abc\""));
        assert!(!matches_etag("\"abd\"", "\"abc\""));
    }
}
