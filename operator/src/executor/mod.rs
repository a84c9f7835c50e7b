//! Where resizer runs happen. The controller only sees [`Executor`]: start a run,
//! observe it, count the active ones, stop one, and the reconcile triggers its runs
//! produce. Two implementations: Kubernetes Jobs (the default) and local child
//! processes (for machines without a cluster); both run the same resizer command line
//! and read the same JSON result. [`from_config`] is the one place that chooses.

pub mod jobs;
pub mod local;

use futures::future::BoxFuture;
use kube::runtime::Controller;
use kube::Client;

use crate::config::{Config, ExecutorKind};
use crate::error::Result;
use crate::invocation::{Invocation, RunOutcome};
use thumbnail_api::crd::Thumbnail;

/// What an executor knows about one run.
#[derive(Clone, Debug, PartialEq)]
pub enum RunState {
    /// No such run (never started, or already removed, e.g. by a Job's TTL).
    Absent,
    /// Started, its Pod not running yet (scheduling, pulling, starting): worth a look
    /// again soon, in case it gets stuck.
    Starting,
    /// Started, but stuck on something the user must fix (an image that cannot be
    /// pulled, a node without room): `reason` is a stable CamelCase code, `message`
    /// says what to do. The run's deadline still applies.
    Blocked { reason: String, message: String },
    /// Started; an attempt failed for a reason that may pass and the Job retries it:
    /// `message` says which attempt this is and why the last one failed.
    Retrying { message: String },
    /// Started and not finished.
    Running,
    /// Finished, with the resizer's result (success or failure).
    Finished(RunOutcome),
    /// Started by an earlier operator process that stopped before the run finished
    /// (local runs die with the operator): it needs a slot again, and is resumed by
    /// launching it once the queue admits it. (Resumed at once, a restart could run
    /// twice the cap: the interrupted runs plus those admitted meanwhile.)
    Interrupted,
}

/// A place where resizer runs happen. Object-safe, so the controller holds one
/// `Box<dyn Executor>` and never asks which kind it is.
pub trait Executor: Send + Sync {
    /// Starts `run_name` for `members` unless it exists already (idempotent); resumes it
    /// when it was [`RunState::Interrupted`]. `members` are the Thumbnails the run makes
    /// (one, or a batch of one namespace: the run belongs to each of them, and its state
    /// changes reconcile each of them); the first is the one that took the slot.
    fn launch<'a>(
        &'a self,
        members: &'a [&'a Thumbnail],
        run_name: &'a str,
        invocation: &'a Invocation,
    ) -> BoxFuture<'a, Result<()>>;

    /// The state of `run_name`, with the resizer's result once it finished.
    fn observe<'a>(
        &'a self,
        thumb: &'a Thumbnail,
        run_name: &'a str,
    ) -> BoxFuture<'a, Result<RunState>>;

    /// Runs in progress, counted at the source (not from a cache), so the cap holds.
    fn active(&self) -> BoxFuture<'_, Result<usize>>;

    /// Stops a run that is no longer wanted (superseded or deleted); a run that does
    /// not exist is not an error. Answers whether the run is gone, i.e. can no longer
    /// write anything: a deleted Thumbnail's objects are removed only then, or a run
    /// still uploading would leave its thumbnail behind. Called again until it is.
    fn stop<'a>(&'a self, thumb: &'a Thumbnail, run_name: &'a str) -> BoxFuture<'a, Result<bool>>;

    /// Adds this executor's reconcile triggers to the controller, so that a run whose
    /// state changes (above all: finishes) has its Thumbnail reconciled at once: the
    /// Jobs executor watches the Jobs it owns; the local executor reports its
    /// children's exits. Called once, before the controller runs.
    fn triggers(&self, controller: Controller<Thumbnail>) -> Controller<Thumbnail>;
}

/// The executor `config.executor` names.
pub fn from_config(client: Client, config: &Config) -> Result<Box<dyn Executor>> {
    Ok(match config.executor {
        ExecutorKind::Jobs => Box::new(jobs::JobExecutor::new(client, config.clone())),
        ExecutorKind::Local => Box::new(local::LocalExecutor::new(config)?),
    })
}
