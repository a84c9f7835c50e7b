//! Where resizer runs happen. The controller only sees [`Executor`]: start a run,
//! observe it, count the active ones, stop one. Two implementations: Kubernetes Jobs
//! (the default) and local child processes (for machines without a cluster); both
//! run the same resizer command line and read the same JSON result.

pub mod jobs;
pub mod local;

use crate::crd::Thumbnail;
use crate::error::Result;
use crate::invocation::{Invocation, RunOutcome};

/// What an executor knows about one run.
#[derive(Clone, Debug, PartialEq)]
pub enum RunState {
    /// No such run (never started, or already removed, e.g. by a Job's TTL).
    Absent,
    /// Started and not finished.
    Running,
    /// Finished, with the resizer's result (success or failure).
    Finished(RunOutcome),
}

pub enum Executor {
    Jobs(jobs::JobExecutor),
    Local(local::LocalExecutor),
}

impl Executor {
    /// Owners of runs that finished, for executors whose completions the controller
    /// cannot watch through the API (Jobs are watched with `.owns()`).
    pub fn take_completions(
        &self,
    ) -> Option<tokio::sync::mpsc::UnboundedReceiver<kube::runtime::reflector::ObjectRef<Thumbnail>>>
    {
        match self {
            Executor::Jobs(_) => None,
            Executor::Local(e) => e.take_completions(),
        }
    }

    /// Starts `run_name` for `thumb` unless it exists already (idempotent).
    pub async fn launch(
        &self,
        thumb: &Thumbnail,
        run_name: &str,
        invocation: &Invocation,
    ) -> Result<()> {
        match self {
            Executor::Jobs(e) => e.launch(thumb, run_name, invocation).await,
            Executor::Local(e) => e.launch(thumb, run_name, invocation).await,
        }
    }

    pub async fn observe(&self, thumb: &Thumbnail, run_name: &str) -> Result<RunState> {
        match self {
            Executor::Jobs(e) => e.observe(thumb, run_name).await,
            Executor::Local(e) => e.observe(thumb, run_name).await,
        }
    }

    /// Runs in progress, counted at the source (not from a cache), so the cap holds.
    pub async fn active(&self) -> Result<usize> {
        match self {
            Executor::Jobs(e) => e.active().await,
            Executor::Local(e) => e.active().await,
        }
    }

    /// Stops a run that is no longer wanted (its generation was superseded).
    pub async fn stop(&self, thumb: &Thumbnail, run_name: &str) -> Result<()> {
        match self {
            Executor::Jobs(e) => e.stop(thumb, run_name).await,
            Executor::Local(e) => e.stop(thumb, run_name).await,
        }
    }
}
