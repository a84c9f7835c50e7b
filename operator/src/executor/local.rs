//! Resizer runs as child processes of the operator (`--executor local`), for machines
//! without a cluster: `make dev` and the end-to-end tests.
//!
//! A run gets exactly the command line and environment its Job's container would get
//! (credentials: the resizer's own identity from the operator's `RESIZER_AWS_*`
//! variables instead of a Secret, or the operator's own when those are unset), the
//! same result contract (a file instead of /dev/termination-log), the same exit-code
//! meaning (permanent -> fail at once; anything else -> retry up to the backoff limit)
//! and the same deadline. Runs are recorded on disk (`<state>/<namespace>/<run>.*`), so
//! an operator restart neither loses a finished result nor starts a finished run again;
//! an interrupted run is resumed once the queue admits it again (under the cap). Children die with the operator (PR_SET_PDEATHSIG).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::Controller;
use kube::ResourceExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tracing::{info, warn};

use super::{Executor, RunState};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::invocation::{self, Invocation, RunOutcome};
use thumbnail_api::crd::Thumbnail;

/// Credential variables a run gets, standing in for the resizer's Secret a Job's pod would
/// mount.
const PASSED_ENV: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];

/// Prefix of the operator's variables that hold the resizer's own identity
/// (`RESIZER_AWS_ACCESS_KEY_ID`, ...), as `make dev` sets them: a run gets those, never
/// the operator's own keys. Without them (a single identity) a run gets the operator's.
pub const RESIZER_ENV_PREFIX: &str = "RESIZER_";

/// The credentials a run gets, looked up with `var` (the operator's environment).
fn run_credentials(var: impl Fn(&str) -> Option<String>) -> Vec<(&'static str, String)> {
    let own = var(&format!("{RESIZER_ENV_PREFIX}{}", PASSED_ENV[0])).is_some();
    PASSED_ENV
        .iter()
        .filter_map(|k| {
            let from = if own {
                format!("{RESIZER_ENV_PREFIX}{k}")
            } else {
                k.to_string()
            };
            var(&from).map(|v| (*k, v))
        })
        .collect()
}

pub struct LocalExecutor {
    bin: PathBuf,
    state_dir: PathBuf,
    deadline: Duration,
    backoff_limit: u32,
    backoff_base: Duration,
    /// Runs started by this process that have not finished yet.
    running: Arc<Mutex<HashMap<String, Instant>>>,
    /// Owners of runs that finished, for the controller to reconcile them at once
    /// (a Job's status change does the same for the Jobs executor); taken by
    /// [`Executor::triggers`].
    done_tx: mpsc::UnboundedSender<ObjectRef<Thumbnail>>,
    done_rx: Mutex<Option<mpsc::UnboundedReceiver<ObjectRef<Thumbnail>>>>,
}

impl LocalExecutor {
    pub fn new(config: &Config) -> Result<Self> {
        std::fs::create_dir_all(&config.local_state_dir).map_err(|e| {
            Error::Invalid(format!(
                "cannot create the local state directory {}: {e}",
                config.local_state_dir.display()
            ))
        })?;
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        Ok(LocalExecutor {
            bin: config.resizer_bin.clone(),
            state_dir: config.local_state_dir.clone(),
            deadline: config.job_deadline(),
            backoff_limit: config.job_backoff_limit.max(0) as u32,
            backoff_base: Duration::from_millis(config.local_backoff_base_ms),
            running: Arc::default(),
            done_tx,
            done_rx: Mutex::new(Some(done_rx)),
        })
    }

    fn paths(&self, thumb: &Thumbnail, run_name: &str) -> RunPaths {
        let dir = self.state_dir.join(thumb.namespace().unwrap_or_default());
        RunPaths {
            invocation: dir.join(format!("{run_name}.invocation.json")),
            result: dir.join(format!("{run_name}.result.json")),
            outcome: dir.join(format!("{run_name}.outcome.json")),
            log: dir.join(format!("{run_name}.log")),
            dir,
        }
    }

    fn spawn(
        &self,
        members: &[&Thumbnail],
        run_name: &str,
        invocation: Invocation,
        paths: RunPaths,
    ) {
        self.running
            .lock()
            .expect("lock")
            .insert(run_name.to_string(), Instant::now());
        let supervisor = Supervisor {
            bin: self.bin.clone(),
            run_name: run_name.to_string(),
            invocation,
            paths,
            deadline: self.deadline,
            backoff_limit: self.backoff_limit,
            backoff_base: self.backoff_base,
        };
        let running = self.running.clone();
        let done = self.done_tx.clone();
        let owners: Vec<_> = members.iter().map(|t| ObjectRef::from_obj(*t)).collect();
        tokio::spawn(async move {
            let run_name = supervisor.run_name.clone();
            if let Some(outcome) = supervisor.run().await {
                let json = serde_json::to_vec(&outcome).expect("an outcome serializes");
                if let Err(e) = write_atomically(&supervisor.paths.outcome, &json) {
                    warn!(run = %run_name, error = %e, "cannot record the outcome");
                }
            }
            running.lock().expect("lock").remove(&run_name);
            for owner in owners {
                let _ = done.send(owner);
            }
        });
    }
}

impl Executor for LocalExecutor {
    fn launch<'a>(
        &'a self,
        members: &'a [&'a Thumbnail],
        run_name: &'a str,
        invocation: &'a Invocation,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let thumb = members[0];
            let paths = self.paths(thumb, run_name);
            if paths.invocation.exists() {
                // Started before (idempotent, as a Job's apply is) — and interrupted by
                // an operator restart: resumed now that the queue admitted it. The
                // output key is per generation, so a repeated run overwrites the same
                // object and never adds a second one.
                if self.interrupted(run_name, &paths) {
                    let invocation = read_invocation(run_name, &paths)?;
                    info!(
                        run = run_name,
                        "resuming a run interrupted by an operator restart"
                    );
                    self.spawn(members, run_name, invocation, paths);
                }
                return Ok(());
            }
            std::fs::create_dir_all(&paths.dir).map_err(|e| io_error(run_name, e))?;
            let json = serde_json::to_vec(invocation).expect("an invocation serializes");
            write_atomically(&paths.invocation, &json).map_err(|e| io_error(run_name, e))?;
            self.spawn(members, run_name, invocation.clone(), paths);
            Ok(())
        })
    }

    fn observe<'a>(
        &'a self,
        thumb: &'a Thumbnail,
        run_name: &'a str,
    ) -> BoxFuture<'a, Result<RunState>> {
        Box::pin(async move {
            let paths = self.paths(thumb, run_name);
            if let Ok(bytes) = std::fs::read(&paths.outcome) {
                let outcome: RunOutcome =
                    serde_json::from_slice(&bytes).map_err(|e| Error::Executor {
                        run: run_name.into(),
                        message: format!("unreadable outcome {}: {e}", paths.outcome.display()),
                    })?;
                return Ok(RunState::Finished(outcome));
            }
            if self.running.lock().expect("lock").contains_key(run_name) {
                return Ok(RunState::Running);
            }
            // Started by an earlier operator process that stopped before the run
            // finished: the controller resumes it through the queue (see `launch`).
            Ok(if paths.invocation.exists() {
                RunState::Interrupted
            } else {
                RunState::Absent
            })
        })
    }

    fn active(&self) -> BoxFuture<'_, Result<usize>> {
        Box::pin(async move { Ok(self.running.lock().expect("lock").len()) })
    }

    fn stop<'a>(&'a self, thumb: &'a Thumbnail, run_name: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            // The supervising task notices the missing invocation file and kills the child.
            let paths = self.paths(thumb, run_name);
            for p in [&paths.invocation, &paths.result, &paths.outcome, &paths.log] {
                let _ = std::fs::remove_file(p);
            }
            // Local mode is for trying things out: the child is killed within the
            // supervisor's next poll, not awaited here.
            Ok(true)
        })
    }

    fn triggers(&self, controller: Controller<Thumbnail>) -> Controller<Thumbnail> {
        // Children are no API objects: each run reports its own exit.
        match self.done_rx.lock().expect("lock").take() {
            Some(done) => controller.reconcile_on(UnboundedReceiverStream::new(done)),
            None => controller,
        }
    }
}

impl LocalExecutor {
    /// Recorded, but neither finished nor running in this process.
    fn interrupted(&self, run_name: &str, paths: &RunPaths) -> bool {
        paths.invocation.exists()
            && !paths.outcome.exists()
            && !self.running.lock().expect("lock").contains_key(run_name)
    }
}

fn read_invocation(run_name: &str, paths: &RunPaths) -> Result<Invocation> {
    let bytes = std::fs::read(&paths.invocation).map_err(|e| io_error(run_name, e))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Executor {
        run: run_name.into(),
        message: format!("unreadable invocation {}: {e}", paths.invocation.display()),
    })
}

struct RunPaths {
    dir: PathBuf,
    invocation: PathBuf,
    result: PathBuf,
    outcome: PathBuf,
    log: PathBuf,
}

/// Runs attempts of one run as a Job controller would: retry non-permanent failures up
/// to the backoff limit, with exponential backoff, all within the deadline.
struct Supervisor {
    bin: PathBuf,
    run_name: String,
    invocation: Invocation,
    paths: RunPaths,
    deadline: Duration,
    backoff_limit: u32,
    backoff_base: Duration,
}

impl Supervisor {
    /// The run's outcome, or None when it was stopped (superseded or deleted).
    async fn run(&self) -> Option<RunOutcome> {
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            let remaining = self.deadline.saturating_sub(started.elapsed());
            let attempt_result = tokio::time::timeout(remaining, self.attempt()).await;
            let (code, outcome) = match attempt_result {
                Err(_) => {
                    return Some(invocation::outcome_without_result(
                        "DeadlineExceeded",
                        &format!(
                            "the run did not finish within {} s",
                            self.deadline.as_secs()
                        ),
                        false,
                    ))
                }
                Ok(None) => return None,
                Ok(Some(result)) => result,
            };
            if code == 0 || code == invocation::EXIT_PERMANENT || attempt >= self.backoff_limit {
                return Some(outcome);
            }
            attempt += 1;
            let wait = self.backoff_base * 2u32.saturating_pow(attempt - 1);
            warn!(run = %self.run_name, code, attempt, ?wait, "resizer failed; retrying");
            tokio::time::sleep(wait.min(self.deadline.saturating_sub(started.elapsed()))).await;
        }
    }

    /// One attempt: (exit code, outcome), or None when the run was stopped meanwhile.
    async fn attempt(&self) -> Option<(i32, RunOutcome)> {
        let _ = std::fs::remove_file(&self.paths.result);
        let invocation = self.invocation.clone().with_result_path(&self.paths.result);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.paths.log)
            .ok()?;
        let mut cmd = tokio::process::Command::new(&self.bin);
        cmd.args(&invocation.args)
            .env_clear()
            .envs(invocation.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(run_credentials(|k| std::env::var(k).ok()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().ok()?)
            .stderr(log)
            .kill_on_drop(true);
        die_with_parent(&mut cmd);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let message = format!(
                    "cannot start the resizer {}: {e}; set --resizer-bin",
                    self.bin.display()
                );
                return Some((
                    invocation::EXIT_PERMANENT,
                    invocation::outcome_without_result("ResizerNotFound", &message, false),
                ));
            }
        };
        let status = loop {
            tokio::select! {
                status = child.wait() => break status.ok()?,
                _ = tokio::time::sleep(Duration::from_millis(500)) => {
                    if !self.paths.invocation.exists() {
                        let _ = child.kill().await;
                        return None;
                    }
                }
            }
        };
        let code = status.code().unwrap_or(-1);
        let message = std::fs::read_to_string(&self.paths.result).unwrap_or_default();
        let reason = if status.code().is_none() {
            Some("Signaled")
        } else {
            None
        };
        Some((code, invocation::outcome_from_exit(code, &message, reason)))
    }
}

#[cfg(target_os = "linux")]
fn die_with_parent(cmd: &mut tokio::process::Command) {
    // SAFETY: prctl is async-signal-safe and touches only the calling (child) process.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_: &mut tokio::process::Command) {}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(tmp, path)
}

fn io_error(run: &str, e: std::io::Error) -> Error {
    Error::Executor {
        run: run.into(),
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::run_credentials;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn runs_get_the_resizer_identity_never_the_operators_when_it_is_set() {
        let both = env(&[
            ("AWS_ACCESS_KEY_ID", "operator"),
            ("AWS_SECRET_ACCESS_KEY", "operator-secret"),
            ("AWS_SESSION_TOKEN", "operator-token"),
            ("RESIZER_AWS_ACCESS_KEY_ID", "resizer"),
            ("RESIZER_AWS_SECRET_ACCESS_KEY", "resizer-secret"),
        ]);
        assert_eq!(
            run_credentials(both),
            [
                ("AWS_ACCESS_KEY_ID", "resizer".to_string()),
                ("AWS_SECRET_ACCESS_KEY", "resizer-secret".to_string())
            ]
        );
        // One identity for everything (no RESIZER_ keys): the operator's own.
        let one = env(&[("AWS_ACCESS_KEY_ID", "k"), ("AWS_SECRET_ACCESS_KEY", "s")]);
        assert_eq!(
            run_credentials(one),
            [
                ("AWS_ACCESS_KEY_ID", "k".to_string()),
                ("AWS_SECRET_ACCESS_KEY", "s".to_string())
            ]
        );
    }
}
