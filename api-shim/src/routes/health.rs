//! Probes: /healthz (the process answers) and /readyz (it can serve: the Kubernetes API
//! answers; the object store's state is reported, not required).

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use kube::api::ListParams;

use crate::model::{Check, Readiness};
use crate::state::AppState;

/// How long a readiness check waits for a dependency.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// Liveness: the process serves requests.
#[utoipa::path(get, path = "/healthz", tag = "probes",
    responses((status = 200, description = "Alive", body = String, content_type = "text/plain")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// Runs one check. The answer says only that it failed: /readyz is open to anyone,
/// and the error names addresses and identities. The error itself is logged.
/// A failing store does not make the shim unready, so its failures are logged at
/// DEBUG (`quiet`): at WARN every probe would log one during a store outage.
async fn check<F, E>(what: &str, quiet: bool, f: F) -> Check
where
    F: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    match tokio::time::timeout(CHECK_TIMEOUT, f).await {
        Ok(Ok(())) => Check {
            ok: true,
            error: None,
        },
        Ok(Err(e)) => {
            if quiet {
                tracing::debug!(error = %e, "readiness: {what} failed");
            } else {
                tracing::warn!(error = %e, "readiness: {what} failed");
            }
            Check {
                ok: false,
                error: Some(format!("{what} failed; the shim's log says why")),
            }
        }
        Err(_) => Check {
            ok: false,
            error: Some(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
        },
    }
}

/// Readiness: the shim can serve, i.e. the Kubernetes API serves Thumbnails in its
/// namespace. The object store's bucket is checked and reported too, but does not make
/// the shim unready: listing, status and deletion work without it, and uploads and
/// downloads then answer 503 `store_unavailable` themselves. (Were the store part of
/// readiness, a store outage would take the whole API out of its Service.)
#[utoipa::path(get, path = "/readyz", tag = "probes", responses(
    (status = 200, description = "Ready (the store may still be down: see `store`)", body = Readiness),
    (status = 503, description = "The Kubernetes API is unavailable", body = Readiness),
))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let api = check("the Kubernetes API server", false, async {
        state
            .thumbnails
            .list_metadata(&ListParams::default().limit(1))
            .await
            .map(drop)
    });
    let store = check("the object store", true, state.store.check());
    let (api_server, store) = tokio::join!(api, store);
    let ready = api_server.ok;
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Json(Readiness {
            ready,
            api_server,
            store,
        }),
    )
}
