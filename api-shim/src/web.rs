//! The web page at `/`: upload, watch and browse thumbnails. Plain HTML, CSS and a
//! JavaScript module (assets/web/), compiled into the binary like Swagger UI: no build
//! step, no CDN, works offline. The page uses only the public API (the limits, the
//! list, the event stream, uploads, downloads, deletes), with the same token.

use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS,
};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::state::AppState;

const INDEX: &[u8] = include_bytes!("../assets/web/index.html");
const APP: &[u8] = include_bytes!("../assets/web/app.js");
const CSS: &[u8] = include_bytes!("../assets/web/style.css");
const ICON: &[u8] = include_bytes!("../assets/web/icon.svg");

/// Only the page's own files and the API; images are blob: URLs the page makes from
/// downloads it fetched with the token; no inline script, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Whether `path` is one of the page's files (outside the request limit: static, instant).
pub fn is_asset(path: &str) -> bool {
    path == "/" || path.starts_with("/ui/")
}

fn asset(content_type: &'static str, bytes: &'static [u8]) -> Response {
    (
        [
            (CONTENT_TYPE, content_type),
            // Revalidated every time: a new shim version must not run an old app.js.
            (CACHE_CONTROL, "no-cache"),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (CONTENT_SECURITY_POLICY, CSP),
        ],
        bytes,
    )
        .into_response()
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/ui/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP) }),
        )
        .route(
            "/ui/style.css",
            get(|| async { asset("text/css; charset=utf-8", CSS) }),
        )
        .route(
            "/ui/icon.svg",
            get(|| async { asset("image/svg+xml", ICON) }),
        )
}
