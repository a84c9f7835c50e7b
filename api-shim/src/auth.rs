//! Optional bearer-token authentication of the thumbnail routes. Probes, metrics and
//! the API description stay open: kubelets, Prometheus and people reading the docs
//! have no token.

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;

/// Compares in time independent of where the strings differ, so response timing does
/// not reveal a token prefix.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn authorized(tokens: &[String], header: Option<&str>) -> bool {
    let Some(given) = header.and_then(|h| h.strip_prefix("Bearer ")) else {
        return false;
    };
    let given = given.trim().as_bytes();
    tokens
        .iter()
        .fold(false, |ok, t| ok | same(t.as_bytes(), given))
}

pub async fn require_token(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(tokens) = &state.settings.tokens else {
        return next.run(req).await;
    };
    if !req.uri().path().starts_with("/api/v1/thumbnails") {
        return next.run(req).await;
    }
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if authorized(tokens, header) {
        return next.run(req).await;
    }
    let mut response = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "send a valid token as \"Authorization: Bearer <token>\"; ask the operator of this service for one",
    )
    .into_response();
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, "Bearer".parse().expect("static header"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_bearer_tokens_pass() {
        let tokens = vec!["alpha".to_string(), "beta".to_string()];
        assert!(authorized(&tokens, Some("Bearer beta")));
        assert!(!authorized(&tokens, Some("Bearer bet")));
        assert!(!authorized(&tokens, Some("Basic beta")));
        assert!(!authorized(&tokens, Some("beta")));
        assert!(!authorized(&tokens, None));
    }
}
