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

    /// A deleted Thumbnail's run is still stopping (its Pod terminating): its objects
    /// are deleted once it is gone. Handled as a wait by the reconcile, never counted.
    #[error("resizer run {run} is still stopping")]
    RunStopping { run: String },

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
            Error::RunStopping { .. } => "run_stopping",
            Error::Invalid(_) => "invalid",
        }
    }

    /// The API server's refusal of a request for reasons retrying cannot change (a 4xx
    /// answer: invalid object, forbidden, quota exceeded, ...): its code, reason and
    /// message. `None` for anything else — including 408 (timeout), 409 (conflict) and
    /// 429 (too many requests), which pass by themselves and are retried.
    pub fn rejected_by_api(&self) -> Option<String> {
        match self {
            Error::Kube(kube::Error::Api(s))
                if (400..500).contains(&s.code) && !matches!(s.code, 408 | 409 | 429) =>
            {
                Some(format!("{} {}: {}", s.code, s.reason, s.message))
            }
            _ => None,
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

/// Whether the finalizer helper failed only because the Thumbnail is already gone: a
/// reconcile that ran from a cache which had not yet seen the deletion (the object
/// disappears the moment its finalizer is removed) finds nothing left to patch. That is
/// the normal end of a delete, not a failure: counting it as one raised false alerts.
pub fn object_gone(e: &kube::runtime::finalizer::Error<Error>) -> bool {
    use kube::runtime::finalizer::Error as F;
    matches!(e, F::RemoveFinalizer(kube::Error::Api(s)) | F::AddFinalizer(kube::Error::Api(s)) if s.is_not_found())
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

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;
    use kube::runtime::finalizer::Error as F;

    fn api(code: u16, reason: &str) -> kube::Error {
        kube::Error::Api(Status::failure("x", reason).with_code(code).boxed())
    }

    #[test]
    fn a_thumbnail_already_gone_is_the_end_of_a_delete_not_an_error() {
        assert!(object_gone(&F::RemoveFinalizer(api(404, "NotFound"))));
        assert!(object_gone(&F::AddFinalizer(api(404, "NotFound"))));
        // Anything else still fails (and is retried): a conflict, a refusal, our own errors.
        assert!(!object_gone(&F::RemoveFinalizer(api(409, "Conflict"))));
        assert!(!object_gone(&F::RemoveFinalizer(api(403, "Forbidden"))));
        assert!(!object_gone(&F::CleanupFailed(Error::Store("down".into()))));
    }

    #[test]
    fn only_lasting_refusals_of_the_api_server_count_as_rejections() {
        let invalid = Error::Kube(api(422, "Invalid"));
        assert_eq!(invalid.rejected_by_api().as_deref(), Some("422 Invalid: x"));
        for code in [400, 403, 404] {
            assert!(
                Error::Kube(api(code, "R")).rejected_by_api().is_some(),
                "{code}"
            );
        }
        for code in [408, 409, 429, 500, 503] {
            assert!(
                Error::Kube(api(code, "R")).rejected_by_api().is_none(),
                "{code}"
            );
        }
        assert!(Error::Store("down".into()).rejected_by_api().is_none());
    }
}
