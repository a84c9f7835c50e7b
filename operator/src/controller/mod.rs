//! The Thumbnail controller: watches Thumbnails (and the Jobs they own), runs the
//! resizer once per generation, and writes what happened back into the status.
//!
//! Reconcile, for the current generation G:
//! 1. Finished for G (Succeeded/Failed) -> nothing; wait for a spec change.
//! 2. A run for G is recorded in status -> observe it: running -> Processing; finished ->
//!    Succeeded with the output, or Failed with the resizer's reason; gone before its
//!    result was read -> Failed (JobLost), never a second run.
//! 3. No run for G -> if a slot is free and this Thumbnail is at the head of the queue
//!    (oldest first), start the run and record it in status at once; else Pending/Queued.
//!    The queue's decisions live in [`queue`]; where runs happen, in [`crate::executor`].
//!
//! Deletion runs a finalizer that removes the produced thumbnails and, when the source
//! is exactly the REST shim's original of this Thumbnail or of its group
//! (thumbnail_api::ownership), the original — a group's once no other member uses it
//! ([`originals`]).

use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{finalizer, Event as Finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::executor::{Executor, RunState};
use crate::invocation::{self, MemberOutcome, RunOutcome};
use crate::metrics::Metrics;
use crate::naming::{self, output_key, run_name};
use crate::objects::ObjectStore;
use crate::status::{self, Transition};
use queue::{Admission, Queue};
use thumbnail_api::crd::{OutputLocation, Phase, Thumbnail};
use thumbnail_api::metadata::{FINALIZER, MANAGER};
use thumbnail_api::ownership::{self, shim_original_key};

pub mod originals;
pub mod queue;
/// A safety net for runs whose completion event was missed.
const RUNNING_RECHECK: Duration = Duration::from_secs(60);
/// While a run's Pod is not running yet: a stuck Pod (image, capacity) changes no Job
/// status, so only a look reports it.
const STARTING_RECHECK: Duration = Duration::from_secs(5);
/// While a run is stuck on something the user must fix.
const BLOCKED_RECHECK: Duration = Duration::from_secs(15);
/// While a deleted Thumbnail's run stops: a backstop, the Job's removal reconciles at once.
const RUN_STOPPING_RECHECK: Duration = Duration::from_secs(5);

/// Shared by all reconciles.
pub struct Context {
    pub client: Client,
    pub config: Config,
    pub executor: Box<dyn Executor>,
    pub objects: ObjectStore,
    pub metrics: Metrics,
    pub recorder: Recorder,
    pub queue: Queue,
    /// Which deleted Thumbnails no longer use the shim original they shared.
    pub originals: originals::Originals,
    /// Consecutive failed reconciles per Thumbnail, for exponential backoff.
    failures: std::sync::Mutex<std::collections::HashMap<ObjectRef<Thumbnail>, u32>>,
}

impl Context {
    pub fn new(
        client: Client,
        config: Config,
        executor: Box<dyn Executor>,
        objects: ObjectStore,
        metrics: Metrics,
        queue: Queue,
    ) -> Self {
        let reporter = Reporter {
            controller: MANAGER.into(),
            instance: config.pod_name.clone(),
        };
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            config,
            executor,
            objects,
            metrics,
            queue,
            originals: Default::default(),
            failures: Default::default(),
        }
    }

    /// Publishes a Kubernetes Event for `kubectl describe`. An API server without the
    /// events API (such as the CRD-only test server) is tolerated: events are a
    /// courtesy, never a reason to fail a reconcile.
    async fn event(&self, thumb: &Thumbnail, type_: EventType, reason: &str, note: String) {
        let ev = KubeEvent {
            type_,
            reason: reason.into(),
            note: Some(note),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&ev, &thumb.object_ref(&())).await {
            debug!(error = %e, "event not recorded");
        }
    }
}

/// Runs the controller until a shutdown signal.
pub async fn run(
    client: Client,
    config: Config,
    executor: Box<dyn Executor>,
    objects: ObjectStore,
    metrics: Metrics,
) {
    let thumbs: Api<Thumbnail> = scoped(&client, &config.namespace);
    // The watch built by hand (Controller::new builds the same one) so that the queue's
    // index sees every event: positions and the head come from it, not from a scan.
    let (cache, writer) = reflector::store();
    let (queue, wakes) = Queue::new(config.max_running, cache.clone());
    let feed = queue.clone();
    let watch = watcher::watcher(thumbs, watcher::Config::default().any_semantic())
        .default_backoff()
        // Kept out of the cache: the operator never reads them, and at 10,000
        // Thumbnails they were most of its memory (managedFields lists every field
        // each writer set; kubectl's last-applied annotation repeats the manifest).
        .modify(slim)
        .reflect(writer)
        .inspect_ok(move |event| feed.observe(event))
        .applied_objects();
    let controller = Controller::for_stream(watch, cache);
    // Besides the Thumbnails' own changes, two sources trigger reconciles: the queue
    // (its head when a slot frees, instead of at its next poll) and the executor
    // (a run whose state changed).
    let controller = executor.triggers(controller.reconcile_on(wakes));
    let ctx = Arc::new(Context::new(
        client, config, executor, objects, metrics, queue,
    ));
    controller
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            match res {
                Ok((obj, _)) => debug!(thumbnail = %obj, "reconciled"),
                Err(e) => debug!(error = %e, "reconcile failed"),
            }
        })
        .await;
}

/// What the cache keeps of a Thumbnail: all but the bookkeeping no decision reads.
/// Writes never send cached metadata back (status is applied whole, the finalizer is
/// patched alone), so nothing stripped here is lost on the server.
fn slim(thumb: &mut Thumbnail) {
    thumb.metadata.managed_fields = None;
    if let Some(annotations) = thumb.metadata.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
    }
}

/// kubectl apply's copy of the manifest it applied.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

fn scoped<K>(client: &Client, namespace: &str) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    if namespace.is_empty() {
        Api::all(client.clone())
    } else {
        Api::namespaced(client.clone(), namespace)
    }
}

pub async fn reconcile(thumb: Arc<Thumbnail>, ctx: Arc<Context>) -> Result<Action> {
    ctx.metrics.reconciles.inc();
    let started = std::time::Instant::now();
    let ns = thumb.namespace().unwrap_or_default();
    let key = ObjectRef::from_obj(thumb.as_ref());
    let api: Api<Thumbnail> = Api::namespaced(ctx.client.clone(), &ns);
    let result = finalizer(&api, FINALIZER, thumb, |event| async {
        match event {
            Finalizer::Apply(t) => apply(&t, &ctx).await,
            Finalizer::Cleanup(t) => cleanup(&t, &ctx).await,
        }
    })
    .await;
    let result = match result {
        Err(e) if crate::error::object_gone(&e) => Ok(Action::await_change()),
        // Waiting, not failing: the finalizer stays until the run is gone, and the Job's
        // removal reconciles again (the requeue is a backstop).
        Err(kube::runtime::finalizer::Error::CleanupFailed(Error::RunStopping { run })) => {
            debug!(thumbnail = %key.name, run, "waiting for the resizer run to stop before deleting its objects");
            Ok(Action::requeue(RUN_STOPPING_RECHECK))
        }
        other => other.map_err(Error::from),
    };
    ctx.metrics
        .reconcile_duration
        .observe(started.elapsed().as_secs_f64());
    if result.is_ok() {
        ctx.failures.lock().expect("lock").remove(&key);
    }
    result
}

pub fn error_policy(thumb: Arc<Thumbnail>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.error(error.metric_label());
    warn!(thumbnail = %thumb.name_any(), namespace = ?thumb.namespace(), %error, "reconcile failed");
    let attempt = {
        let mut failures = ctx.failures.lock().expect("lock");
        let n = failures
            .entry(ObjectRef::from_obj(thumb.as_ref()))
            .or_insert(0);
        *n += 1;
        *n - 1
    };
    match error.retry_after(attempt) {
        Some(after) => Action::requeue(after),
        None => Action::await_change(),
    }
}

async fn apply(thumb: &Thumbnail, ctx: &Context) -> Result<Action> {
    let generation = thumb.metadata.generation.unwrap_or(0);
    let status = thumb.status.clone().unwrap_or_default();
    let current = status.observed_generation == Some(generation);

    if current && status.phase.is_some_and(Phase::is_terminal) {
        return Ok(Action::await_change());
    }
    if let (true, Some(recorded)) = (current, &status.job_name) {
        return observe(thumb, recorded, ctx).await;
    }
    let run = run_name(thumb);
    // The spec changed: the previous generation's run is stopped if it still runs, and
    // its thumbnail is removed — the new one replaces it, and status no longer points
    // at it. (Keys are per generation, so the new run never overwrites the old object.)
    if let (Some(old_run), Some(old_generation)) = (&status.job_name, status.observed_generation) {
        if old_generation != generation {
            // A batch run makes other Thumbnails too: not stopped, but waited for
            // (seconds), or it could store the superseded thumbnail after its removal.
            if status.run_item.is_some() && still_running(thumb, old_run, ctx).await? {
                return Ok(Action::requeue(RUN_STOPPING_RECHECK));
            }
            // Superseded: its output key is this generation's own, so no need to wait.
            ctx.executor.stop(thumb, old_run).await?;
            for (bucket, key) in recorded_outputs(thumb, ctx) {
                ctx.objects.delete(&bucket, &key).await?;
            }
        }
    }
    admit(thumb, &run, ctx).await
}

/// Starts the run when a slot is free and `thumb` is at the head of the queue.
async fn admit(thumb: &Thumbnail, run: &str, ctx: &Context) -> Result<Action> {
    // The source policy first: nothing runs, nothing is read, for a source the
    // Thumbnail's namespace may not read (issue 12).
    let src = &thumb.spec.source.s3;
    let src_bucket = src.bucket.as_deref().unwrap_or(&ctx.config.bucket);
    if let Err(refused) = ctx.config.source_allow.check(
        &thumb.namespace().unwrap_or_default(),
        src_bucket,
        &src.key,
        ctx.config.uploads_bucket(),
    ) {
        let failed = Transition::Failed {
            run_name: None,
            reason: status::reason::SOURCE_NOT_ALLOWED.into(),
            message: refused.0,
        };
        let written = write_status(thumb, &failed, ctx).await?;
        warn!(thumbnail = %thumb.name_any(), namespace = ?thumb.namespace(), "source not allowed");
        ctx.event(
            thumb,
            EventType::Warning,
            status::reason::SOURCE_NOT_ALLOWED,
            written.message.unwrap_or_default(),
        )
        .await;
        return Ok(Action::await_change());
    }
    let invocation = match invocation::build(thumb, &ctx.config) {
        Ok(i) => i,
        Err(Error::Invalid(message)) => {
            let failed = Transition::Failed {
                run_name: None,
                reason: "InvalidSpec".into(),
                message,
            };
            write_status(thumb, &failed, ctx).await?;
            return Ok(Action::await_change());
        }
        Err(e) => return Err(e),
    };
    let permit = match ctx
        .queue
        .admit(thumb, ctx.executor.as_ref(), &ctx.metrics)
        .await?
    {
        Admission::Start(permit) => permit,
        // Its run (its own, or another Thumbnail's batch that took it) is starting; the
        // status saying so is being written, and its change reconciles this one again
        // (the requeue is a backstop).
        Admission::Taken => return Ok(Action::requeue(queue::POLL)),
        Admission::Wait(waiting) => {
            let queued = Transition::Queued {
                position: waiting.position,
                running: waiting.running,
                cap: waiting.cap,
            };
            // Written once per generation, when it starts to wait: rewriting every
            // waiting Thumbnail's position whenever the head moves is O(n²) status
            // writes for a backlog of n (issue 14). `kubectl get` shows where it stood
            // when it was queued; the queue_length gauge shows the backlog now.
            // Requeued from a batch, it waits as Requeued: that reason is what makes it
            // run alone once admitted, and a Queued status written over it made it join
            // the next batch instead — with the image that made its batch fail, which
            // then failed that batch too (found on the real cluster, issue 14).
            let status = thumb.status.as_ref();
            let queued_already = status.is_some_and(|s| {
                s.observed_generation == thumb.metadata.generation
                    && matches!(
                        s.reason.as_deref(),
                        Some(status::reason::QUEUED | status::reason::REQUEUED)
                    )
            });
            // Conditional on the object this decision saw: a batch run may have taken it
            // and recorded that since, which a forced write would overwrite.
            if !queued_already && !write_status_unless_changed(thumb, &queued, ctx).await? {
                return Ok(Action::requeue(queue::POLL));
            }
            return Ok(Action::requeue(waiting.poll()));
        }
    };
    // Not admitted again until the watch shows the run started (see Queue::starting).
    ctx.queue.starting(&permit, thumb);
    let started = start(thumb, run, &invocation, &permit, ctx).await;
    if started.is_err() {
        ctx.queue.release([thumb]);
    }
    started
}

/// Starts `thumb`'s run, admitted (`permit`): a batch with the next waiting Thumbnails
/// when the batch size allows, else a run of its own; records it in the status.
async fn start(
    thumb: &Thumbnail,
    run: &str,
    invocation: &invocation::Invocation,
    permit: &queue::Permit<'_>,
    ctx: &Context,
) -> Result<Action> {
    // Requeued from a batch: it runs on its own, so a failure that follows is its own.
    let alone = thumb.status.as_ref().is_some_and(|s| {
        s.observed_generation == thumb.metadata.generation
            && s.reason.as_deref() == Some(status::reason::REQUEUED)
    });
    if ctx.config.batch_size > 1 && !alone {
        let more = ctx
            .queue
            .take_batch(permit, thumb, ctx.config.batch_size as usize - 1, |t| {
                fits_batch(t, ctx)
            });
        if !more.is_empty() {
            let result = launch_batch(thumb, &more, ctx).await;
            if result.is_err() {
                ctx.queue.release(more.iter().map(|t| t.as_ref()));
            }
            match result {
                Ok(Some(action)) => return Ok(action),
                // The API server refused the batch's Job: the head runs alone below
                // (whose refusal, if any, is then its own), the others wait again.
                Ok(None) => {}
                Err(e) => return Err(e),
            }
        }
    }
    if let Err(e) = ctx.executor.launch(&[thumb], run, invocation).await {
        return match e.rejected_by_api() {
            Some(refusal) => launch_rejected(thumb, run, &refusal, ctx).await,
            None => Err(e),
        };
    }
    // Recorded at once: a run that later disappears (a Job's TTL) is never started again.
    // With where it stores its thumbnail: deleted exactly, whatever the spec says later.
    let at = invocation::output_location(thumb, &ctx.config);
    write_status(
        thumb,
        &Transition::Started {
            run_name: run.into(),
            output: OutputLocation {
                bucket: at.bucket,
                key: at.key,
            },
            item: None,
        },
        ctx,
    )
    .await?;
    ctx.queue.refresh_gauges(thumb, Some(run), &ctx.metrics);
    info!(thumbnail = %thumb.name_any(), run, "resizer started");
    ctx.event(
        thumb,
        EventType::Normal,
        "Started",
        format!("resizer {run} started"),
    )
    .await;
    Ok(Action::requeue(RUNNING_RECHECK))
}

/// Whether `t` may join a batch run: one that would start now were a slot free —
/// waiting for its current generation, not back from a batch (those run alone), its
/// source allowed and its spec valid (otherwise its own reconcile fails it, with its
/// own reason).
fn fits_batch(t: &Thumbnail, ctx: &Context) -> bool {
    let status = t.status.as_ref();
    let requeued = status.is_some_and(|s| {
        s.observed_generation == t.metadata.generation
            && s.reason.as_deref() == Some(status::reason::REQUEUED)
    });
    let src = &t.spec.source.s3;
    let allowed = ctx
        .config
        .source_allow
        .check(
            &t.namespace().unwrap_or_default(),
            src.bucket.as_deref().unwrap_or(&ctx.config.bucket),
            &src.key,
            ctx.config.uploads_bucket(),
        )
        .is_ok();
    t.metadata.deletion_timestamp.is_none()
        && t.finalizers().iter().any(|f| f == FINALIZER)
        && !requeued
        && allowed
        && invocation::build(t, &ctx.config).is_ok()
}

/// Starts one run for `head` and `more` (a batch; item i of the run is the i-th of
/// head, more...) and records it in each one's status: the run's name, the member's
/// item and where its thumbnail goes. `Ok(None)`: the API server refused the run.
async fn launch_batch(
    head: &Thumbnail,
    more: &[Arc<Thumbnail>],
    ctx: &Context,
) -> Result<Option<Action>> {
    let members: Vec<&Thumbnail> = std::iter::once(head)
        .chain(more.iter().map(|t| t.as_ref()))
        .collect();
    let uids: Vec<&str> = members
        .iter()
        .map(|t| t.metadata.uid.as_deref().unwrap_or(""))
        .collect();
    let run = naming::batch_run_name(head, &uids, &Timestamp::now().to_string());
    let invocation = invocation::build_batch(&members, &ctx.config)?;
    if let Err(e) = ctx.executor.launch(&members, &run, &invocation).await {
        return match e.rejected_by_api() {
            Some(refusal) => {
                warn!(thumbnail = %head.name_any(), run, %refusal, "batch run refused by the API server; running the first Thumbnail alone");
                Ok(None)
            }
            None => Err(e),
        };
    }
    // Recorded at once, as for a run of its own; a member whose status cannot be
    // written is released by the caller and runs again later (its output key is its
    // generation's, so a second run overwrites the same object).
    for (item, member) in members.iter().enumerate() {
        let at = invocation::output_location(member, &ctx.config);
        write_status(
            member,
            &Transition::Started {
                run_name: run.clone(),
                output: OutputLocation {
                    bucket: at.bucket,
                    key: at.key,
                },
                item: Some(item as u32),
            },
            ctx,
        )
        .await?;
        ctx.queue.refresh_gauges(member, Some(&run), &ctx.metrics);
    }
    info!(thumbnail = %head.name_any(), run, thumbnails = members.len(), "resizer batch started");
    ctx.event(
        head,
        EventType::Normal,
        "Started",
        format!(
            "resizer {run} started for this and {} more Thumbnails",
            more.len()
        ),
    )
    .await;
    Ok(Some(Action::requeue(RUNNING_RECHECK)))
}

/// The API server refused the run (issue 12: a 422 kept the Thumbnail at the head of
/// the queue forever): the Thumbnail fails with the refusal, and its place goes to the
/// next one. Nothing was created, so there is no run to record.
async fn launch_rejected(
    thumb: &Thumbnail,
    run: &str,
    refusal: &str,
    ctx: &Context,
) -> Result<Action> {
    let message = format!(
        "the Kubernetes API server refused to create the resizer Job {run} ({refusal}); edit the Thumbnail's spec to try again, or report it to the operator's administrator"
    );
    let failed = Transition::Failed {
        run_name: None,
        reason: status::reason::LAUNCH_REJECTED.into(),
        message: message.clone(),
    };
    write_status(thumb, &failed, ctx).await?;
    ctx.queue.slot_freed(thumb);
    ctx.queue.refresh_gauges(thumb, None, &ctx.metrics);
    ctx.metrics.finished(
        Phase::Failed.as_str(),
        status::reason::LAUNCH_REJECTED,
        None,
    );
    warn!(thumbnail = %thumb.name_any(), run, %refusal, "resizer Job refused by the API server");
    ctx.event(
        thumb,
        EventType::Warning,
        status::reason::LAUNCH_REJECTED,
        message,
    )
    .await;
    Ok(Action::await_change())
}

/// Whether the batch run `run` (of `thumb` among others) has not finished yet.
async fn still_running(thumb: &Thumbnail, run: &str, ctx: &Context) -> Result<bool> {
    Ok(matches!(
        ctx.executor.observe(thumb, run).await?,
        RunState::Starting
            | RunState::Running
            | RunState::Blocked { .. }
            | RunState::Retrying { .. }
    ))
}

async fn observe(thumb: &Thumbnail, run: &str, ctx: &Context) -> Result<Action> {
    // Its item when the run is a batch (recorded with the run's name).
    let item = thumb.status.as_ref().and_then(|s| s.run_item);
    let state = ctx.executor.observe(thumb, run).await?;
    let transition = match state {
        RunState::Running | RunState::Starting => {
            let status = thumb.status.as_ref();
            // Written when it starts, and when it got going again after being stuck.
            let was_blocked = status
                .and_then(|s| s.reason.as_deref())
                .is_some_and(|r| r != status::reason::JOB_RUNNING);
            if status.and_then(|s| s.phase) != Some(Phase::Processing) || was_blocked {
                write_status(thumb, &Transition::Processing { run_name: run.into() }, ctx).await?;
            }
            // A Pod that does not start changes no Job status: look again soon.
            return Ok(Action::requeue(if state == RunState::Starting {
                STARTING_RECHECK
            } else {
                RUNNING_RECHECK
            }));
        }
        RunState::Retrying { message } => {
            // Written, with an event, once per attempt (the message names it).
            if thumb.status.as_ref().and_then(|s| s.message.as_deref()) != Some(message.as_str()) {
                write_status(
                    thumb,
                    &Transition::Blocked {
                        run_name: run.into(),
                        reason: status::reason::RETRYING.into(),
                        message: message.clone(),
                    },
                    ctx,
                )
                .await?;
                info!(thumbnail = %thumb.name_any(), run, %message, "resizer attempt failed; the Job retries it");
                ctx.event(thumb, EventType::Warning, status::reason::RETRYING, message).await;
            }
            return Ok(Action::requeue(STARTING_RECHECK));
        }
        RunState::Blocked { reason, message } => {
            let unchanged = thumb.status.as_ref().is_some_and(|s| {
                s.reason.as_deref() == Some(reason.as_str()) && s.message.as_deref() == Some(message.as_str())
            });
            if !unchanged {
                let reported = thumb.status.as_ref().and_then(|s| s.reason.as_deref()) == Some(reason.as_str());
                write_status(
                    thumb,
                    &Transition::Blocked { run_name: run.into(), reason: reason.clone(), message: message.clone() },
                    ctx,
                )
                .await?;
                // One Warning per reason, not one per look.
                if !reported {
                    warn!(thumbnail = %thumb.name_any(), run, %reason, "resizer run is stuck");
                    ctx.event(thumb, EventType::Warning, &reason, message).await;
                }
            }
            return Ok(Action::requeue(BLOCKED_RECHECK));
        }
        // Interrupted by an operator restart (local runs): it resumes when the queue
        // admits it, so the cap holds after a restart too.
        RunState::Interrupted if item.is_none() => return admit(thumb, run, ctx).await,
        // A batch interrupted by an operator restart: each member runs again alone.
        RunState::Interrupted => {
            return requeue(
                thumb,
                format!("resizer {run}, a batch that included this Thumbnail, was interrupted by an operator restart; it runs again on its own"),
                ctx,
            )
            .await
        }
        // Gone before its result was read (a Job's TTL ran out during an operator
        // outage): the thumbnail it stored, at the one place this generation's run
        // writes to, is the result.
        RunState::Absent => match ctx
            .objects
            .stored_thumbnail(&run_location(thumb, run, ctx), thumb.spec.format)
            .await?
        {
            Some(output) => Transition::Succeeded { run_name: run.into(), output },
            None => Transition::Failed {
                run_name: Some(run.into()),
                reason: status::reason::JOB_LOST.into(),
                message: format!(
                    "resizer {run} was removed before it stored a thumbnail; edit the spec (or delete and re-create the Thumbnail) to try again"
                ),
            },
        },
        // Trusted only at the location this run was told to write to.
        RunState::Finished(outcome) => match item {
            None => match invocation::expect_output(outcome, &run_location(thumb, run, ctx)) {
                RunOutcome::Succeeded(output) => Transition::Succeeded { run_name: run.into(), output },
                RunOutcome::Failed { reason, message } => {
                    Transition::Failed { run_name: Some(run.into()), reason, message }
                }
                RunOutcome::Batch(_) => Transition::Failed {
                    run_name: Some(run.into()),
                    reason: status::reason::UNEXPECTED_OUTPUT.into(),
                    message: format!("resizer {run} reported a batch result for a single Thumbnail; the result was not recorded (is the resizer image the one this operator version expects?)"),
                },
            },
            Some(item) => match invocation::member_outcome(outcome, run, item, &run_location(thumb, run, ctx), thumb.spec.format) {
                MemberOutcome::Succeeded(output) => Transition::Succeeded { run_name: run.into(), output },
                MemberOutcome::Failed { reason, message } => {
                    Transition::Failed { run_name: Some(run.into()), reason, message }
                }
                MemberOutcome::Requeue { message } => return requeue(thumb, message, ctx).await,
            },
        },
    };
    let took = thumb
        .status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .and_then(|t| Timestamp::now().duration_since(t.0).try_into().ok());
    let written = write_status(thumb, &transition, ctx).await?;
    ctx.queue.slot_freed(thumb);
    ctx.queue.refresh_gauges(thumb, None, &ctx.metrics);
    let phase = written.phase.unwrap_or_default();
    let reason = written.reason.clone().unwrap_or_default();
    ctx.metrics.finished(phase.as_str(), &reason, took);
    let note = written.message.clone().unwrap_or_default();
    match phase {
        Phase::Succeeded => {
            info!(thumbnail = %thumb.name_any(), run, "thumbnail stored");
            // A batch member's success is in its status only: an Event each would be
            // the one API write per Thumbnail left to save at 10,000 (issue 14), and
            // its batch's start is an Event on the batch's first Thumbnail. A run of
            // its own keeps its Started/Succeeded pair; failures always get one.
            if item.is_none() {
                ctx.event(thumb, EventType::Normal, "Succeeded", note).await;
            }
        }
        _ => {
            warn!(thumbnail = %thumb.name_any(), run, %reason, "thumbnail failed");
            ctx.event(thumb, EventType::Warning, &reason, note).await;
        }
    }
    Ok(Action::await_change())
}

/// Back to the queue after its batch did not make its thumbnail for a reason that may
/// pass: it runs again, on its own (reason Requeued).
async fn requeue(thumb: &Thumbnail, message: String, ctx: &Context) -> Result<Action> {
    write_status(
        thumb,
        &Transition::Requeued {
            message: message.clone(),
        },
        ctx,
    )
    .await?;
    info!(thumbnail = %thumb.name_any(), %message, "requeued from its batch");
    ctx.queue.slot_freed(thumb);
    // The status says Requeued only until it runs again: the Event is what tells
    // `kubectl describe` why its run changed (and a Warning: its batch failed).
    ctx.event(thumb, EventType::Warning, status::reason::REQUEUED, message)
        .await;
    Ok(Action::requeue(queue::POLL))
}

/// Where the run `run` was told to write: status.runOutput, recorded when it started;
/// for a run started by an operator that did not record it yet, the key its generation's
/// spec gives (the run's name changes with the spec, so that is the same spec).
fn run_location(
    thumb: &Thumbnail,
    run: &str,
    ctx: &Context,
) -> thumbnail_api::contract::ObjectLocation {
    match thumb.status.as_ref() {
        Some(s) if s.job_name.as_deref() == Some(run) => match &s.run_output {
            Some(at) => thumbnail_api::contract::ObjectLocation {
                bucket: at.bucket.clone(),
                key: at.key.clone(),
            },
            None => invocation::output_location(thumb, &ctx.config),
        },
        _ => invocation::output_location(thumb, &ctx.config),
    }
}

/// The objects the status records for the run it names: its result (status.output)
/// and where it was started to write (status.runOutput) — exact keys, never recomputed
/// from a spec that may have changed since (its format, say). A status written by an
/// operator that did not record runOutput yet falls back to the key computed for its
/// generation.
fn recorded_outputs(thumb: &Thumbnail, ctx: &Context) -> Vec<(String, String)> {
    let Some(status) = thumb.status.as_ref() else {
        return Vec::new();
    };
    let mut keys = Vec::new();
    if let Some(output) = &status.output {
        keys.push((output.bucket.clone(), output.key.clone()));
    }
    match (
        &status.run_output,
        &status.job_name,
        status.observed_generation,
    ) {
        (Some(at), _, _) => keys.push((at.bucket.clone(), at.key.clone())),
        (None, Some(_), Some(g)) => keys.push((output_bucket(ctx), output_key(thumb, g))),
        _ => {}
    }
    keys
}

async fn cleanup(thumb: &Thumbnail, ctx: &Context) -> Result<Action> {
    let bucket = output_bucket(ctx);
    let mut keys = recorded_outputs(thumb, ctx);
    // A run of the current generation started but not recorded yet (its status write
    // failed) stores here: the current spec is that generation's, so the key is exact.
    keys.push((
        bucket.clone(),
        output_key(thumb, thumb.metadata.generation.unwrap_or(0)),
    ));
    keys.sort();
    keys.dedup();
    // Issue 11 defect 2: a run still going could upload after its key was deleted.
    // Stop it and wait until it is gone; only then delete.
    if let Some(run) = thumb.status.as_ref().and_then(|s| s.job_name.clone()) {
        // A batch run makes other Thumbnails' thumbnails too: it is not stopped but
        // waited for (a few seconds of work; its deadline bounds the wait).
        let batch = thumb.status.as_ref().is_some_and(|s| s.run_item.is_some());
        let gone = if batch {
            !still_running(thumb, &run, ctx).await?
        } else {
            ctx.executor.stop(thumb, &run).await?
        };
        if !gone {
            return Err(Error::RunStopping { run });
        }
    }
    let mut left_behind = Vec::new();
    for (bucket, key) in &keys {
        delete_or_note(thumb, bucket, key, ctx, &mut left_behind).await?;
    }
    // Then the shim's original, after the outputs: until this Thumbnail's cleanup has
    // got this far, it counts as a user of a group's shared original.
    let owners = originals_held(thumb, ctx);
    for owner in &owners {
        release_original(thumb, owner, ctx, &mut left_behind).await?;
    }
    for (bucket, key, e) in left_behind {
        let short = match &e {
            thumbnail_store::StoreError::Delete { short, .. } => short.clone(),
            other => other.to_string(),
        };
        warn!(thumbnail = %thumb.name_any(), %bucket, %key, error = %e, "object left behind: the store refuses to delete it");
        ctx.event(
            thumb,
            EventType::Warning,
            status::reason::OBJECT_LEFT_BEHIND,
            format!(
                "s3://{bucket}/{key} was not deleted and is left behind: the store refused ({short}), which retrying does not change; delete it by hand, or allow the operator's store identity to delete it"
            ),
        )
        .await;
    }
    ctx.queue.refresh_gauges(thumb, None, &ctx.metrics);
    info!(thumbnail = %thumb.name_any(), objects = keys.len() + owners.len(), "cleaned up");
    Ok(Action::await_change())
}

/// A stored object the store refused for good to delete, and why.
type LeftBehind = (String, String, thumbnail_store::StoreError);

/// Deletes `bucket`/`key`. A store that does not answer blocks the deletion (a condition
/// and an event say why; the error retries it); a permanent refusal is noted in
/// `left_behind` and does not.
async fn delete_or_note(
    thumb: &Thumbnail,
    bucket: &str,
    key: &str,
    ctx: &Context,
    left_behind: &mut Vec<LeftBehind>,
) -> Result<()> {
    match ctx.objects.try_delete(bucket, key).await {
        Ok(()) => Ok(()),
        // The store did not answer: deletion waits for it, nothing is lost, and
        // the user sees why (a condition and an event).
        Err(e) if e.is_transient() => {
            let message = format!(
                "deleting s3://{bucket}/{key} failed ({e}); the object store did not answer, which may pass: the Thumbnail is kept until the object store answers and cleanup succeeds (a permanent refusal such as AccessDenied would not block deletion)"
            );
            let blocked = status::with_cleanup(thumb, Some(&message), Timestamp::now());
            patch_status(thumb, &blocked, ctx).await?;
            ctx.event(
                thumb,
                EventType::Warning,
                status::reason::STORE_UNAVAILABLE,
                message,
            )
            .await;
            Err(Error::Store(e.to_string()))
        }
        // Refused for good (access denied, a bad request): waiting would block the
        // deletion (and its namespace's) forever. The object is left behind, and
        // said so where an administrator looks.
        Err(e) => {
            left_behind.push((bucket.to_string(), key.to_string(), e));
            Ok(())
        }
    }
}

/// The shim originals `thumb` holds, by owner name (`originals/<ns>/<owner>` in the
/// uploads bucket, thumbnail_api::ownership): its own or its group's, when its spec
/// names exactly that object; and, on a Thumbnail the shim made whose spec was edited
/// away from it, the one the shim stored for it (nothing else would ever delete it; the
/// label only saves a useless delete on others: the key is this Thumbnail's or its
/// group's either way). A location that belongs to this Thumbnail or its group alone,
/// so nothing a user writes can point the delete at another object; annotations decide
/// nothing (issue 12).
fn originals_held(thumb: &Thumbnail, ctx: &Context) -> Vec<String> {
    let ns = thumb.namespace().unwrap_or_default();
    let uploads = ctx.config.uploads_bucket();
    if uploads.is_empty() || ns.is_empty() {
        return Vec::new();
    }
    let name = thumb.name_any();
    let owners = ownership::owners_of(&name);
    let mut held: Vec<String> = owners
        .iter()
        .filter(|owner| names_original(thumb, &shim_original_key(&ns, owner), ctx))
        .map(|owner| owner.to_string())
        .collect();
    let made_by_shim = thumb
        .labels()
        .get(thumbnail_api::metadata::LABEL_CREATED_BY)
        .map(String::as_str)
        == Some(thumbnail_api::metadata::CREATED_BY_SHIM);
    if made_by_shim {
        // The one the shim stored for it: its group's for a member, else its own.
        let stored = owners.last().expect("owners_of has the name itself");
        held.push(stored.to_string());
    }
    held.sort();
    held.dedup();
    held
}

/// Whether `thumb`'s spec reads exactly the object `key` of the uploads bucket.
fn names_original(thumb: &Thumbnail, key: &str, ctx: &Context) -> bool {
    let src = &thumb.spec.source.s3;
    src.bucket.as_deref().unwrap_or(&ctx.config.bucket) == ctx.config.uploads_bucket()
        && src.key == key
}

/// The last step of `thumb`'s cleanup for the shim original of `owner`: deleted when no
/// other holder still uses it, else left for the last one (see [`originals`] for why
/// this is decided here, one original at a time, and why it is exactly once).
async fn release_original(
    thumb: &Thumbnail,
    owner: &str,
    ctx: &Context,
    left_behind: &mut Vec<LeftBehind>,
) -> Result<()> {
    let ns = thumb.namespace().unwrap_or_default();
    let key = shim_original_key(&ns, owner);
    let me = thumb.uid().unwrap_or_default();
    let mut holders = ctx.originals.lock(&ns, owner).await;
    let mut cached = std::collections::HashSet::new();
    let mut users = Vec::new();
    for name in ownership::holders(owner) {
        let Some(other) = ctx.queue.cached(&ns, &name) else {
            continue;
        };
        let uid = other.uid().unwrap_or_default();
        if uid == me || !names_original(&other, &key, ctx) {
            continue;
        }
        if !holders.finished(&uid) {
            users.push(name);
        }
        cached.insert(uid);
    }
    if !users.is_empty() {
        holders.record_finished(&me, &cached);
        info!(thumbnail = %thumb.name_any(), original = %key, ?users, "original kept: other Thumbnails still use it");
        return Ok(());
    }
    delete_or_note(thumb, ctx.config.uploads_bucket(), &key, ctx, left_behind).await?;
    holders.deleted();
    Ok(())
}

fn output_bucket(ctx: &Context) -> String {
    ctx.config.bucket.clone()
}

async fn write_status(
    thumb: &Thumbnail,
    transition: &Transition,
    ctx: &Context,
) -> Result<thumbnail_api::crd::ThumbnailStatus> {
    let next = status::next(
        thumb,
        transition,
        &ctx.config.public_base_url,
        Timestamp::now(),
    );
    patch_status(thumb, &next, ctx).await?;
    Ok(next)
}

/// [`write_status`], unless the Thumbnail changed since `thumb` was read (the API
/// server checks its resourceVersion): false when it did, and nothing was written.
async fn write_status_unless_changed(
    thumb: &Thumbnail,
    transition: &Transition,
    ctx: &Context,
) -> Result<bool> {
    let next = status::next(
        thumb,
        transition,
        &ctx.config.public_base_url,
        Timestamp::now(),
    );
    let api: Api<Thumbnail> =
        Api::namespaced(ctx.client.clone(), &thumb.namespace().unwrap_or_default());
    let patch = json!({
        "apiVersion": <Thumbnail as kube::Resource>::api_version(&()),
        "kind": "Thumbnail",
        "metadata": {"resourceVersion": thumb.resource_version()},
        "status": next,
    });
    match api
        .patch_status(
            &thumb.name_any(),
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
        Err(e) => Err(e.into()),
    }
}

async fn patch_status(
    thumb: &Thumbnail,
    status: &thumbnail_api::crd::ThumbnailStatus,
    ctx: &Context,
) -> Result<()> {
    let api: Api<Thumbnail> =
        Api::namespaced(ctx.client.clone(), &thumb.namespace().unwrap_or_default());
    let patch = json!({
        "apiVersion": <Thumbnail as kube::Resource>::api_version(&()),
        "kind": "Thumbnail",
        "status": status,
    });
    api.patch_status(
        &thumb.name_any(),
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests;
