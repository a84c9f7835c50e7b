//! The controller's one error type. Each variant has a metric label, and says whether
//! retrying can help: transient errors are requeued with backoff, permanent ones wait
//! for the user to change something.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Kubernetes API server refused or did not answer.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),

    /// The finalizer helper failed around our apply/cleanup.
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),

    /// The object store failed during cleanup; deletion waits and retries.
    #[error("object store: {0}")]
    Store(String),

    /// Starting or observing a resizer run failed.
    #[error("resizer run {run}: {message}")]
    Executor { run: String, message: String },

    /// The resource cannot be processed as it is (e.g. no bucket given and no default
    /// configured). Retrying does not help; the user must change the resource.
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Label for the `thumbnail_reconcile_errors_total` metric.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube",
            Error::Finalizer(_) => "finalizer",
            Error::Store(_) => "store",
            Error::Executor { .. } => "executor",
            Error::Invalid(_) => "invalid",
        }
    }

    /// How long to wait before the next attempt; `None` waits for a change.
    pub fn retry_after(&self, attempt: u32) -> Option<Duration> {
        match self {
            Error::Invalid(_) => None,
            // Exponential from 1 s, capped at 5 minutes.
            _ => Some(Duration::from_secs(1u64 << attempt.min(8)).min(Duration::from_secs(300))),
        }
    }
}

impl From<kube::runtime::finalizer::Error<Error>> for Error {
    fn from(e: kube::runtime::finalizer::Error<Error>) -> Self {
        use kube::runtime::finalizer::Error as F;
        match e {
            // Unwrap our own errors so their labels and retry policy apply.
            F::ApplyFailed(inner) | F::CleanupFailed(inner) => inner,
            other => Error::Finalizer(Box::new(other)),
        }
    }
}
