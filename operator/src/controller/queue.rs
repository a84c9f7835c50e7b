//! The queue of Thumbnails waiting for a resizer run: who may start now (admission
//! under the cap, oldest first), where each waiting one stands, and the wake-up of the
//! head of the queue when a run finishes and frees its slot.
//!
//! The order and the decisions are pure functions of a snapshot of the Thumbnails
//! (unit-tested below). [`Queue`] is the thin stateful part around them: the
//! controller's reflector cache the snapshot comes from, the lock that serialises
//! admission, and the channel through which it asks the controller to reconcile the
//! head. Every decision scans the snapshot today; an index kept up to date by the
//! watch would replace [`Queue::snapshot`] and the scans, and nothing outside this
//! module.

use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::ResourceExt;
use tokio::sync::{mpsc, Mutex, MutexGuard};
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::error::Result;
use crate::executor::Executor;
use crate::metrics::Metrics;
use thumbnail_api::crd::{Phase, Thumbnail};

/// How often a Thumbnail waiting in the queue looks for a free slot (a safety net: a
/// freed slot wakes the head at once).
pub const POLL: Duration = Duration::from_secs(2);

/// Where a Thumbnail that may not start yet stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Waiting {
    /// 1-based: how many must start before this one, itself included.
    pub position: usize,
    /// Runs in progress.
    pub running: usize,
    /// Most runs at once.
    pub cap: usize,
}

/// The outcome of [`Queue::admit`].
pub enum Admission<'a> {
    /// A slot is this Thumbnail's. Start its run before dropping the permit: until
    /// then every other decision waits, and the next one counts the new run.
    Start(Permit<'a>),
    /// No slot for it yet.
    Wait(Waiting),
}

/// Holds the admission lock (see [`Admission::Start`]).
pub struct Permit<'a> {
    _lock: MutexGuard<'a, ()>,
}

/// The waiting Thumbnails of the controller's cache, in queue order, with the cap.
pub struct Queue {
    thumbnails: Store<Thumbnail>,
    cap: usize,
    /// Serialises the "is a slot free? then start" decision, so concurrent reconciles
    /// cannot both take the last slot.
    admission: Mutex<()>,
    wake: mpsc::UnboundedSender<ObjectRef<Thumbnail>>,
}

impl Queue {
    /// A queue over `thumbnails` (the controller's cache) allowing `cap` runs at once
    /// (at least one), and the stream of Thumbnails it wants reconciled now: give that
    /// to the controller (`reconcile_on`).
    pub fn new(
        thumbnails: Store<Thumbnail>,
        cap: usize,
    ) -> (
        Self,
        impl Stream<Item = ObjectRef<Thumbnail>> + Send + 'static,
    ) {
        let (wake, wakes) = mpsc::unbounded_channel();
        let queue = Queue {
            thumbnails,
            cap: cap.max(1),
            admission: Mutex::new(()),
            wake,
        };
        (queue, UnboundedReceiverStream::new(wakes))
    }

    /// Whether `thumb` may start its run now: a slot is free for it when the runs in
    /// progress (counted by `executor`) plus the waiting Thumbnails ahead of it leave
    /// room under the cap. Also updates the queue's gauges.
    pub async fn admit(
        &self,
        thumb: &Thumbnail,
        executor: &dyn Executor,
        metrics: &Metrics,
    ) -> Result<Admission<'_>> {
        let lock = self.admission.lock().await;
        let running = executor.active().await?;
        let all = self.snapshot();
        metrics.runs_active.set(running as i64);
        metrics.queue_length.set(length(&all) as i64);
        Ok(match decide(running, position(thumb, &all), self.cap) {
            None => Admission::Start(Permit { _lock: lock }),
            Some(waiting) => Admission::Wait(waiting),
        })
    }

    /// `finished`'s run is over and its slot free: reconcile the oldest waiting
    /// Thumbnails now rather than at their next poll.
    pub fn slot_freed(&self, finished: &Thumbnail) {
        for head in heads(&self.snapshot(), finished, self.cap) {
            // Closed only when the controller stopped; then nothing is left to start.
            let _ = self.wake.send(head);
        }
    }

    /// Sets the gauges to what is true now that `changed` started (`running`), finished
    /// or went away. Admission alone is not enough: after the last run finishes nothing
    /// is admitted any more, and the gauges kept their last values. Counted from the
    /// cache, at no API request; the cache may not have seen `changed`'s new status yet,
    /// so `changed` counts as given.
    pub fn refresh_gauges(&self, changed: &Thumbnail, running: bool, metrics: &Metrics) {
        let others: Vec<_> = self
            .snapshot()
            .into_iter()
            .filter(|t| t.metadata.uid != changed.metadata.uid)
            .collect();
        metrics.queue_length.set(length(&others) as i64);
        let runs = others.iter().filter(|t| is_running(t)).count() + usize::from(running);
        metrics.runs_active.set(runs as i64);
    }

    fn snapshot(&self) -> Vec<Arc<Thumbnail>> {
        self.thumbnails.state()
    }
}

/// Queue order: oldest first, then by namespace and name.
fn key(t: &Thumbnail) -> (Option<Timestamp>, Option<String>, String) {
    (
        t.metadata.creation_timestamp.clone().map(|t| t.0),
        t.namespace(),
        t.name_any(),
    )
}

/// Waiting for a run of its current generation (not started, not finished, not deleted).
fn wants_run(t: &Thumbnail) -> bool {
    if t.metadata.deletion_timestamp.is_some() {
        return false;
    }
    let s = t.status.clone().unwrap_or_default();
    s.observed_generation != t.metadata.generation
        || s.phase.is_none()
        || s.phase == Some(Phase::Pending)
}

/// Its current generation's run is in progress.
fn is_running(t: &Thumbnail) -> bool {
    let s = t.status.clone().unwrap_or_default();
    t.metadata.deletion_timestamp.is_none()
        && s.observed_generation == t.metadata.generation
        && s.phase == Some(Phase::Processing)
}

/// Position of `thumb` among the Thumbnails waiting for a run, oldest first (1-based).
fn position(thumb: &Thumbnail, all: &[Arc<Thumbnail>]) -> usize {
    let me = key(thumb);
    1 + all
        .iter()
        .filter(|t| wants_run(t) && key(t) < me && t.metadata.uid != thumb.metadata.uid)
        .count()
}

fn length(all: &[Arc<Thumbnail>]) -> usize {
    all.iter().filter(|t| wants_run(t)).count()
}

/// None: start now; otherwise where it waits. `cap` is at least one.
fn decide(running: usize, position: usize, cap: usize) -> Option<Waiting> {
    (running + position > cap).then(|| Waiting {
        position: running + position - cap,
        running,
        cap,
    })
}

/// Whom to wake when `finished` frees a slot: the oldest waiting, at most `cap` of them
/// (the rest keep waiting, so the order holds).
fn heads(all: &[Arc<Thumbnail>], finished: &Thumbnail, cap: usize) -> Vec<ObjectRef<Thumbnail>> {
    let mut waiting: Vec<&Arc<Thumbnail>> = all
        .iter()
        .filter(|t| wants_run(t) && t.metadata.uid != finished.metadata.uid)
        .collect();
    waiting.sort_by_key(|t| key(t));
    waiting
        .into_iter()
        .take(cap)
        .map(|t| ObjectRef::from_obj(t.as_ref()))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures::future::BoxFuture;
    use futures::StreamExt;
    use kube::runtime::{reflector, watcher, Controller};
    use serde_json::{json, Value};

    use super::*;
    use crate::executor::RunState;
    use crate::invocation::Invocation;

    fn thumb(name: &str, created: &str, generation: i64, status: Option<Value>) -> Arc<Thumbnail> {
        let mut obj = json!({
            "apiVersion": "thumbnails.dev/v1alpha1", "kind": "Thumbnail",
            "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}"),
                         "generation": generation, "creationTimestamp": created},
            "spec": {"source": {"s3": {"key": "k"}}, "width": 8}
        });
        if let Some(s) = status {
            obj["status"] = s;
        }
        Arc::new(serde_json::from_value(obj).unwrap())
    }

    fn waiting(name: &str, created: &str) -> Arc<Thumbnail> {
        thumb(name, created, 1, None)
    }

    fn names(refs: &[ObjectRef<Thumbnail>]) -> Vec<String> {
        refs.iter().map(|r| r.name.clone()).collect()
    }

    #[test]
    fn order_is_oldest_first_then_namespace_and_name() {
        let all = vec![
            waiting("c", "2026-11-28T10:00:00Z"),
            waiting("b", "2026-11-28T09:00:00Z"),
            waiting("a", "2026-11-28T10:00:00Z"),
        ];
        let none = thumb("none", "2026-11-28T08:00:00Z", 1, None);
        assert_eq!(names(&heads(&all, &none, 3)), ["b", "a", "c"]);
    }

    #[test]
    fn only_thumbnails_waiting_for_their_current_generation_are_queued() {
        let me = waiting("me", "2026-11-28T10:00:00Z");
        let all = vec![
            waiting("older", "2026-11-28T09:00:00Z"),
            // Started (or finished) for its current generation: holds a slot, not a place.
            thumb(
                "running",
                "2026-11-28T09:00:00Z",
                1,
                Some(json!({"phase": "Processing", "observedGeneration": 1})),
            ),
            thumb(
                "done",
                "2026-11-28T09:00:00Z",
                1,
                Some(json!({"phase": "Succeeded", "observedGeneration": 1})),
            ),
            // Its spec changed after it finished: waits for the new generation's run.
            thumb(
                "edited",
                "2026-11-28T09:00:00Z",
                2,
                Some(json!({"phase": "Succeeded", "observedGeneration": 1})),
            ),
            // Queued earlier: still waiting.
            thumb(
                "queued",
                "2026-11-28T09:30:00Z",
                1,
                Some(json!({"phase": "Pending", "observedGeneration": 1})),
            ),
            me.clone(),
            waiting("newer", "2026-11-28T11:00:00Z"),
        ];
        let mut deleted = (*waiting("deleted", "2026-11-28T09:00:00Z")).clone();
        deleted.metadata.deletion_timestamp = deleted.metadata.creation_timestamp.clone();
        let mut all = all;
        all.push(Arc::new(deleted));
        assert_eq!(position(&me, &all), 4, "older, edited and queued are ahead");
        assert_eq!(length(&all), 5);
        // Created at the same time as "older": the name decides.
        assert_eq!(position(&all[3], &all), 1, "edited");
        assert_eq!(position(&all[0], &all), 2, "older");
        // Not in the cache yet (a fresh create): still counted after those ahead.
        assert_eq!(position(&waiting("fresh", "2026-11-28T09:45:00Z"), &all), 4);
    }

    #[test]
    fn a_slot_is_free_when_running_and_those_ahead_leave_room() {
        assert_eq!(decide(0, 1, 1), None);
        assert_eq!(decide(1, 1, 2), None);
        assert_eq!(
            decide(1, 1, 1),
            Some(Waiting {
                position: 1,
                running: 1,
                cap: 1
            })
        );
        // One slot free, but one older Thumbnail waits ahead of this one.
        assert_eq!(
            decide(1, 2, 2),
            Some(Waiting {
                position: 1,
                running: 1,
                cap: 2
            })
        );
        // More running than the cap (it was lowered): all of them are ahead.
        assert_eq!(
            decide(3, 1, 2),
            Some(Waiting {
                position: 2,
                running: 3,
                cap: 2
            })
        );
    }

    #[test]
    fn a_freed_slot_wakes_at_most_cap_oldest_waiting_but_not_the_finished_one() {
        let finished = waiting("finished", "2026-11-28T08:00:00Z");
        let all = vec![
            finished.clone(),
            waiting("third", "2026-11-28T11:00:00Z"),
            waiting("first", "2026-11-28T09:00:00Z"),
            thumb(
                "running",
                "2026-11-28T08:30:00Z",
                1,
                Some(json!({"phase": "Processing", "observedGeneration": 1})),
            ),
            waiting("second", "2026-11-28T10:00:00Z"),
        ];
        assert_eq!(names(&heads(&all, &finished, 2)), ["first", "second"]);
    }

    /// Counts its runs; `active` yields first, so that unserialised admissions would
    /// interleave between counting and starting.
    #[derive(Default)]
    struct CountingExecutor {
        started: AtomicUsize,
    }

    impl Executor for CountingExecutor {
        fn launch<'a>(
            &'a self,
            _: &'a Thumbnail,
            _: &'a str,
            _: &'a Invocation,
        ) -> BoxFuture<'a, Result<()>> {
            Box::pin(async move {
                tokio::task::yield_now().await;
                self.started.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
        }
        fn observe<'a>(&'a self, _: &'a Thumbnail, _: &'a str) -> BoxFuture<'a, Result<RunState>> {
            Box::pin(async { Ok(RunState::Running) })
        }
        fn active(&self) -> BoxFuture<'_, Result<usize>> {
            Box::pin(async move {
                tokio::task::yield_now().await;
                Ok(self.started.load(Ordering::SeqCst))
            })
        }
        fn stop<'a>(&'a self, _: &'a Thumbnail, _: &'a str) -> BoxFuture<'a, Result<bool>> {
            Box::pin(async { Ok(true) })
        }
        fn triggers(&self, controller: Controller<Thumbnail>) -> Controller<Thumbnail> {
            controller
        }
    }

    fn store(items: &[Arc<Thumbnail>]) -> Store<Thumbnail> {
        let (reader, mut writer) = reflector::store::<Thumbnail>();
        writer.apply_watcher_event(&watcher::Event::Init);
        for t in items {
            writer.apply_watcher_event(&watcher::Event::InitApply((**t).clone()));
        }
        writer.apply_watcher_event(&watcher::Event::InitDone);
        reader
    }

    /// Concurrent reconciles of Thumbnails the cache does not show yet (each sees
    /// itself first in line) cannot both take the last slot.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn admission_is_serialised_so_the_cap_holds() {
        let (queue, _wakes) = Queue::new(store(&[]), 1);
        let (queue, executor, metrics) = (
            Arc::new(queue),
            Arc::new(CountingExecutor::default()),
            Arc::new(Metrics::default()),
        );
        let tasks: Vec<_> = ["a", "b", "c", "d"]
            .into_iter()
            .map(|name| {
                let (queue, executor, metrics) = (queue.clone(), executor.clone(), metrics.clone());
                tokio::spawn(async move {
                    let t = waiting(name, "2026-11-28T10:00:00Z");
                    match queue.admit(&t, executor.as_ref(), &metrics).await.unwrap() {
                        Admission::Start(_permit) => {
                            executor.launch(&t, name, &invocation()).await.unwrap();
                            true
                        }
                        Admission::Wait(w) => {
                            assert_eq!(
                                w,
                                Waiting {
                                    position: 1,
                                    running: 1,
                                    cap: 1
                                }
                            );
                            false
                        }
                    }
                })
            })
            .collect();
        let mut started = 0;
        for t in tasks {
            started += usize::from(t.await.unwrap());
        }
        assert_eq!(started, 1);
        assert_eq!(executor.started.load(Ordering::SeqCst), 1);
        assert_eq!(
            metrics.runs_active.get(),
            1,
            "the last decision counted the run"
        );
    }

    #[tokio::test]
    async fn a_freed_slot_sends_the_heads_to_the_controller() {
        // The cache still shows the finished run as Processing when its slot frees.
        let finished = thumb(
            "finished",
            "2026-11-28T08:00:00Z",
            1,
            Some(json!({"phase": "Processing", "observedGeneration": 1})),
        );
        let all = [
            finished.clone(),
            waiting("second", "2026-11-28T10:00:00Z"),
            waiting("first", "2026-11-28T09:00:00Z"),
        ];
        let (queue, wakes) = Queue::new(store(&all), 4);
        queue.slot_freed(&finished);
        drop(queue);
        let woken: Vec<_> = wakes.collect().await;
        assert_eq!(names(&woken), ["first", "second"]);
    }

    /// Once the last run is over, the gauges say so (they were set only on admission).
    #[test]
    fn gauges_follow_runs_that_start_and_finish_without_further_admissions() {
        let started = waiting("started", "2026-11-28T08:00:00Z");
        let other = thumb(
            "other",
            "2026-11-28T07:00:00Z",
            1,
            Some(json!({"phase": "Processing", "observedGeneration": 1})),
        );
        let all = [
            started.clone(),
            other,
            waiting("next", "2026-11-28T09:00:00Z"),
        ];
        let (queue, _wakes) = Queue::new(store(&all), 4);
        let metrics = Metrics::default();
        metrics.queue_length.set(7);
        metrics.runs_active.set(9);
        // `started` was just launched (the cache still shows it Pending): running, not waiting.
        queue.refresh_gauges(&started, true, &metrics);
        assert_eq!(
            (metrics.queue_length.get(), metrics.runs_active.get()),
            (1, 2)
        );
        // Its run finished (the cache still shows it Processing) and nothing else is left.
        let done = thumb(
            "started",
            "2026-11-28T08:00:00Z",
            1,
            Some(json!({"phase": "Processing", "observedGeneration": 1})),
        );
        let (queue, _wakes) = Queue::new(store(std::slice::from_ref(&done)), 4);
        queue.refresh_gauges(&done, false, &metrics);
        assert_eq!(
            (metrics.queue_length.get(), metrics.runs_active.get()),
            (0, 0)
        );
    }

    fn invocation() -> Invocation {
        Invocation {
            args: vec![],
            env: vec![],
            secret_env: vec![],
            memory_limit: "1Mi".into(),
        }
    }
}
