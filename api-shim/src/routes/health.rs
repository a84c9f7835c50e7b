//! Probes: /healthz (the process answers) and /readyz (it can serve: the Kubernetes API
//! answers; the object store's state is reported, not required).

use std::sync::Mutex;
use std::time::{Duration, Instant};

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

/// How often at most a failing store check is logged at WARN (between: DEBUG).
pub const STORE_WARN_EVERY: Duration = Duration::from_secs(10);

/// Lets a repeating failure through to WARN at most once per `every`. The store check
/// runs on every probe (the kubelet's, every 5 s per replica, and anyone's): logged each
/// time at WARN, a store outage would flood the log; logged only at DEBUG, a store the
/// shim could not reach for minutes while the node could (seen in cluster installs)
/// left no trace in the log a failed test prints.
#[derive(Debug)]
pub struct WarnThrottle {
    every: Duration,
    last: Mutex<Option<Instant>>,
}

impl WarnThrottle {
    pub fn new(every: Duration) -> WarnThrottle {
        WarnThrottle {
            every,
            last: Mutex::new(None),
        }
    }

    /// Whether a failure seen at `now` goes to WARN: the first one, then the first one
    /// at least `every` after the last one that did.
    pub fn allow(&self, now: Instant) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        match *last {
            Some(at) if now.saturating_duration_since(at) < self.every => false,
            _ => {
                *last = Some(now);
                true
            }
        }
    }
}

/// Runs one check. The answer says only that it failed: /readyz is open to anyone,
/// and the error names addresses and identities. The error itself is logged, at WARN
/// — through `throttle` when given (a check that does not decide readiness, run by
/// every probe), else every time — and otherwise at DEBUG.
async fn check<F, E>(what: &str, throttle: Option<&WarnThrottle>, f: F) -> Check
where
    F: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    // What the log says, and what the answer says.
    let (logged, answered) = match tokio::time::timeout(CHECK_TIMEOUT, f).await {
        Ok(Ok(())) => {
            return Check {
                ok: true,
                error: None,
            }
        }
        Ok(Err(e)) => (
            e.to_string(),
            format!("{what} failed; the shim's log says why"),
        ),
        Err(_) => {
            let e = format!("no answer within {} s", CHECK_TIMEOUT.as_secs());
            (e.clone(), e)
        }
    };
    let warn = match throttle {
        Some(throttle) => throttle.allow(Instant::now()),
        None => true,
    };
    if warn {
        tracing::warn!(error = %logged, "readiness: {what} failed");
    } else {
        tracing::debug!(error = %logged, "readiness: {what} failed");
    }
    Check {
        ok: false,
        error: Some(answered),
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
    let api = check("the Kubernetes API server", None, async {
        state
            .thumbnails
            .list_metadata(&ListParams::default().limit(1))
            .await
            .map(drop)
    });
    // The store's error is the whole chain (store::describe), so the WARN says why.
    let store = check(
        "the object store",
        Some(&state.store_warnings),
        state.store.check(),
    );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_throttle_lets_one_warning_through_per_period() {
        let throttle = WarnThrottle::new(Duration::from_secs(10));
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let allowed: Vec<bool> = [0, 1, 9, 10, 15, 19, 20, 45]
            .into_iter()
            .map(|s| throttle.allow(at(s)))
            .collect();
        assert_eq!(
            allowed,
            [true, false, false, true, false, false, true, true]
        );
    }

    /// The log lines written while `f` runs.
    fn logged(f: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Buffer(std::sync::Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buffer {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let bytes = buffer.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    /// A store that keeps failing: the first failure is a WARN with the error (what a
    /// failed cluster test's log dump shows), the next ones within the period only DEBUG;
    /// a check that got no answer counts the same. The answer never carries the error.
    #[test]
    fn a_failing_store_check_warns_once_per_period_with_its_error() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let throttle = WarnThrottle::new(Duration::from_secs(3600));
        let error = "dispatch failure: io error: client error (Connect): tcp connect error: \
                     Connection refused (os error 111)";
        let mut answers = Vec::new();
        let log = logged(|| {
            rt.block_on(async {
                for _ in 0..3 {
                    answers.push(
                        check("the object store", Some(&throttle), async {
                            Err::<(), _>(error)
                        })
                        .await,
                    );
                }
                answers.push(
                    check(
                        "the object store",
                        Some(&throttle),
                        std::future::pending::<Result<(), String>>(),
                    )
                    .await,
                );
            })
        });
        let levels: Vec<&str> = log
            .lines()
            .map(|l| l.split_whitespace().nth(1).unwrap_or_default())
            .collect();
        assert_eq!(levels, ["WARN", "DEBUG", "DEBUG", "DEBUG"], "{log}");
        let first = log.lines().next().unwrap();
        assert!(
            first.contains("readiness: the object store failed") && first.contains(error),
            "{log}"
        );
        assert!(
            log.lines().last().unwrap().contains("no answer within 3 s"),
            "{log}"
        );
        for answer in &answers {
            assert!(!answer.ok);
            assert!(
                !answer
                    .error
                    .as_deref()
                    .unwrap_or_default()
                    .contains("refused"),
                "/readyz is public: {answer:?}"
            );
        }

        // Without a throttle (the Kubernetes API's check, which decides readiness):
        // every failure is a WARN.
        let log = logged(|| {
            rt.block_on(async {
                for _ in 0..2 {
                    check("the Kubernetes API server", None, async {
                        Err::<(), _>(error)
                    })
                    .await;
                }
            })
        });
        assert_eq!(log.matches(" WARN ").count(), 2, "{log}");
    }
}
