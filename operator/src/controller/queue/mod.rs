//! The queue of Thumbnails waiting for a resizer run: who may start now (admission
//! under the cap, oldest first), where each waiting one stands, and the wake-up of the
//! head of the queue when a run finishes and frees its slot.
//!
//! The order and the decisions are pure functions (unit-tested below) over an index
//! that the controller's watch keeps up to date ([`Queue::observe`] sees every watch
//! event): the waiting Thumbnails in queue order in a [`ranked::Ranked`] set, so a
//! Thumbnail's position is O(log n) and the head is O(1) per Thumbnail taken, at
//! 10,000 waiting as at 10 (issue 14: the scan per reconcile was O(n²) in all). The
//! rest of [`Queue`] is the lock that serialises admission and the channel through
//! which it asks the controller to reconcile the head.

pub mod ranked;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::ResourceExt;
use tokio::sync::{mpsc, Mutex, MutexGuard};
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::error::Result;
use crate::executor::Executor;
use crate::metrics::Metrics;
use ranked::Ranked;
use thumbnail_api::crd::{Phase, Thumbnail};

/// How often one of the next Thumbnails to start looks for a free slot (a safety net:
/// a freed slot wakes the head at once).
pub const POLL: Duration = Duration::from_secs(2);
/// The same safety net for those further back: they cannot start before the ones
/// ahead, and each freed slot wakes the new head, so looking often only costs.
pub const POLL_FAR: Duration = Duration::from_secs(30);

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

impl Waiting {
    /// When to look again: soon when it is among the next to start.
    pub fn poll(&self) -> Duration {
        if self.position <= self.cap {
            POLL
        } else {
            POLL_FAR
        }
    }
}

/// The outcome of [`Queue::admit`].
pub enum Admission<'a> {
    /// A slot is this Thumbnail's. Start its run before dropping the permit: until
    /// then every other decision waits, and the next one counts the new run.
    Start(Permit<'a>),
    /// No slot for it yet.
    Wait(Waiting),
    /// Its run is starting or has started (its own, or a batch run that another
    /// Thumbnail started and took it into); the status that says so is on its way, or
    /// newer than the object the decision was asked for.
    Taken,
}

/// Holds the admission lock (see [`Admission::Start`]).
pub struct Permit<'a> {
    _lock: MutexGuard<'a, ()>,
}

/// The queue: the index of waiting and running Thumbnails, the cap, the admission lock
/// and the wake-up channel. Cloning shares it (the watch feeds the same index the
/// reconciles read).
#[derive(Clone)]
pub struct Queue {
    shared: Arc<Shared>,
}

struct Shared {
    index: std::sync::Mutex<Indexes>,
    /// The controller's cache: the objects behind the index's keys (batch members).
    cache: Store<Thumbnail>,
    cap: usize,
    /// Serialises the "is a slot free? then start" decision, so concurrent reconciles
    /// cannot both take the last slot.
    admission: Mutex<()>,
    wake: mpsc::UnboundedSender<ObjectRef<Thumbnail>>,
}

/// The live index, and the one being rebuilt while the watch (re)lists.
#[derive(Default)]
struct Indexes {
    live: Index,
    relisting: Option<Index>,
    /// Starting a run, its own or a batch's (taken into another's, or its head), whose
    /// start the watch has not shown yet: not to be admitted (or batched) again
    /// meanwhile, when the cache still shows it waiting. Released when the watch shows
    /// it no longer waiting, or when the run could not start.
    taken: HashSet<(String, String)>,
}

/// Queue order: oldest first, then by namespace and name.
type Key = (Option<Timestamp>, String, String);

/// A run, as the index counts it: namespace and run (Job) name. The members of a batch
/// share one; a Processing status without a run name (none is written so) counts alone.
type Run = (String, String);

/// What the watch last said of each Thumbnail that waits or runs.
#[derive(Default)]
struct Index {
    waiting: Ranked<Key>,
    /// By namespace and name: its key, and its run when it runs (else it waits).
    known: HashMap<(String, String), (Key, Option<Run>)>,
    /// Runs in progress, with how many of the known Thumbnails each makes. A batch is
    /// one run, as it is one Job and one slot under the cap: counting its members
    /// instead (16 by default) showed a batch as 16 runs in `thumbnail_runs_active` and
    /// in the Queued message ("16 of 4 running").
    runs: HashMap<Run, usize>,
}

impl Index {
    fn apply(&mut self, t: &Thumbnail) {
        self.forget(t);
        let running = is_running(t);
        if running || wants_run(t) {
            let k = key(t);
            let run = running.then(|| run_of(t));
            match &run {
                Some(run) => *self.runs.entry(run.clone()).or_default() += 1,
                None => {
                    self.waiting.insert(k.clone());
                }
            }
            self.known.insert(id(t), (k, run));
        }
    }

    fn forget(&mut self, t: &Thumbnail) {
        match self.known.remove(&id(t)) {
            Some((_, Some(run))) => {
                if let Some(n) = self.runs.get_mut(&run) {
                    *n -= 1;
                    if *n == 0 {
                        self.runs.remove(&run);
                    }
                }
            }
            Some((k, None)) => {
                self.waiting.remove(&k);
            }
            None => {}
        }
    }

    /// Runs in progress (a batch counts once).
    fn running(&self) -> usize {
        self.runs.len()
    }

    fn is_waiting(&self, t: &Thumbnail) -> bool {
        self.known.get(&id(t)).is_some_and(|(_, run)| run.is_none())
    }

    /// The run `t` makes, as the index knows it.
    fn run(&self, t: &Thumbnail) -> Option<&Run> {
        self.known.get(&id(t)).and_then(|(_, run)| run.as_ref())
    }

    /// Runs in progress if `t`'s run were `run` (None: it runs no more): what the watch
    /// will show once `t`'s new status reaches it.
    fn running_with(&self, t: &Thumbnail, run: Option<&str>) -> usize {
        let old = self.run(t);
        // How many others make the run `r`.
        let others = |r: &Run| self.runs.get(r).copied().unwrap_or(0) - usize::from(old == Some(r));
        let mut n = self.running();
        if old.is_some_and(|r| others(r) == 0) {
            n -= 1;
        }
        if let Some(run) = run {
            let new = (t.namespace().unwrap_or_default(), run.to_string());
            if others(&new) == 0 {
                n += 1;
            }
        }
        n
    }

    /// 1-based position of `t` among the waiting (also when the index has not seen it
    /// yet: a fresh create counts after those ahead of it).
    fn position(&self, t: &Thumbnail) -> usize {
        1 + self.waiting.rank(&key(t))
    }
}

fn id(t: &Thumbnail) -> (String, String) {
    (t.namespace().unwrap_or_default(), t.name_any())
}

impl Queue {
    /// An empty queue allowing `cap` runs at once (at least one), and the stream of
    /// Thumbnails it wants reconciled now: give that to the controller (`reconcile_on`).
    /// Feed it the controller's watch events with [`Queue::observe`].
    pub fn new(
        cap: usize,
        cache: Store<Thumbnail>,
    ) -> (
        Self,
        impl Stream<Item = ObjectRef<Thumbnail>> + Send + 'static,
    ) {
        let (wake, wakes) = mpsc::unbounded_channel();
        let queue = Queue {
            shared: Arc::new(Shared {
                index: Default::default(),
                cache,
                cap: cap.max(1),
                admission: Mutex::new(()),
                wake,
            }),
        };
        (queue, UnboundedReceiverStream::new(wakes))
    }

    /// Keeps the index up to date with one event of the Thumbnails' watch. A (re)list
    /// builds a new index, used once the list is complete.
    pub fn observe(&self, event: &watcher::Event<Thumbnail>) {
        let mut index = self.shared.index.lock().expect("lock");
        match event {
            watcher::Event::Apply(t) => {
                index.live.apply(t);
                if !wants_run(t) {
                    index.taken.remove(&id(t));
                }
            }
            watcher::Event::Delete(t) => {
                index.live.forget(t);
                index.taken.remove(&id(t));
            }
            watcher::Event::Init => index.relisting = Some(Index::default()),
            watcher::Event::InitApply(t) => {
                index.relisting.get_or_insert_with(Index::default).apply(t)
            }
            watcher::Event::InitDone => {
                if let Some(fresh) = index.relisting.take() {
                    index.live = fresh;
                }
            }
        }
    }

    /// Whether `thumb` may start its run now: a slot is free for it when the runs in
    /// progress (counted by `executor`) plus the waiting Thumbnails ahead of it leave
    /// room under the cap. Also updates the queue's gauges. A Thumbnail too far back to
    /// start even with every slot free is answered from the index alone, without
    /// counting the runs at the source (for Jobs, a list request).
    pub async fn admit(
        &self,
        thumb: &Thumbnail,
        executor: &dyn Executor,
        metrics: &Metrics,
    ) -> Result<Admission<'_>> {
        let cap = self.shared.cap;
        let (position, length, indexed_running) = {
            let index = self.shared.index.lock().expect("lock");
            if index.taken.contains(&id(thumb)) {
                return Ok(Admission::Taken);
            }
            let live = &index.live;
            (live.position(thumb), live.waiting.len(), live.running())
        };
        metrics.queue_length.set(length as i64);
        if position > cap {
            if let Some(waiting) = decide(indexed_running, position, cap) {
                return Ok(Admission::Wait(waiting));
            }
        }
        let lock = self.shared.admission.lock().await;
        let running = executor.active().await?;
        metrics.runs_active.set(running as i64);
        // Read again under the lock: a run started meanwhile moved the queue, or took
        // this one into its batch. `thumb` was read before the wait for the lock: when
        // the batch that took it has started, and the watch has already shown that
        // (which ends its mark as taken), only the cache tells — starting `thumb` now
        // would run it a second time, alone (found on the cluster: a group's member
        // made by its batch and by a Job of its own, 130 ms apart).
        let position = {
            let index = self.shared.index.lock().expect("lock");
            // Started since: the cache shows it in a run other than the one in hand (an
            // interrupted local run resumes in the run it has, which the cache shows too).
            let run = |t: &Thumbnail| t.status.as_ref().and_then(|s| s.job_name.clone());
            let started_since = || {
                self.cached(&id(thumb).0, &id(thumb).1)
                    .is_some_and(|cached| !wants_run(&cached) && run(&cached) != run(thumb))
            };
            if index.taken.contains(&id(thumb)) || started_since() {
                return Ok(Admission::Taken);
            }
            index.live.position(thumb)
        };
        Ok(match decide(running, position, cap) {
            None => Admission::Start(Permit { _lock: lock }),
            Some(waiting) => Admission::Wait(waiting),
        })
    }

    /// Up to `n` more Thumbnails for the batch run `head` is about to start (call it
    /// holding `head`'s [`Permit`]): the next waiting ones of `head`'s namespace in queue
    /// order that `fits` accepts, marked taken until the watch shows them started (or
    /// [`Queue::release`]). The walk looks at the waiting keys from the head on, so its
    /// cost is that of the keys it passes, not of the whole queue.
    pub fn take_batch(
        &self,
        _permit: &Permit<'_>,
        head: &Thumbnail,
        n: usize,
        fits: impl Fn(&Thumbnail) -> bool,
    ) -> Vec<Arc<Thumbnail>> {
        let mut index = self.shared.index.lock().expect("lock");
        let (ns, me) = (head.namespace().unwrap_or_default(), key(head));
        let cache = &self.shared.cache;
        let ids: Vec<(String, String)> = {
            let taken = &index.taken;
            index
                .live
                .waiting
                .first(n, |k| {
                    if k.1 != ns || *k == me || taken.contains(&(k.1.clone(), k.2.clone())) {
                        return false;
                    }
                    cache
                        .get(&ObjectRef::new(&k.2).within(&k.1))
                        .is_some_and(|t| wants_run(&t) && fits(&t))
                })
                .into_iter()
                .map(|k| (k.1.clone(), k.2.clone()))
                .collect()
        };
        let mut chosen = Vec::new();
        for (ns, name) in ids {
            if let Some(t) = cache.get(&ObjectRef::new(&name).within(&ns)) {
                index.taken.insert((ns, name));
                chosen.push(t);
            }
        }
        chosen
    }

    /// The controller's cached Thumbnail `namespace`/`name`, if the watch has shown it.
    pub fn cached(&self, namespace: &str, name: &str) -> Option<Arc<Thumbnail>> {
        self.shared
            .cache
            .get(&ObjectRef::new(name).within(namespace))
    }

    /// `head` was admitted and starts its run now (call holding its [`Permit`], before
    /// launching): marked taken like the members of a batch, until the watch shows it
    /// started (or [`Queue::release`]). A reconcile of it meanwhile reads the cached
    /// object, which still shows it waiting — the new Job's watch event, which triggers
    /// one, often comes before its own status's — and would start it a second time (a
    /// batch's run name is new each time, so the second Job is another one), or another
    /// Thumbnail's batch would take it. Found by the cluster test of several sizes from
    /// one upload: a group's head ran both in its batch and alone.
    pub fn starting(&self, _permit: &Permit<'_>, head: &Thumbnail) {
        let mut index = self.shared.index.lock().expect("lock");
        index.taken.insert(id(head));
    }

    /// The run these were taken into (or started for, [`Queue::starting`]) did not
    /// start (or their status could not say so): they wait again.
    pub fn release<'t>(&self, members: impl IntoIterator<Item = &'t Thumbnail>) {
        let mut index = self.shared.index.lock().expect("lock");
        for t in members {
            index.taken.remove(&id(t));
        }
    }

    /// `finished`'s run is over and its slot free: reconcile the oldest waiting
    /// Thumbnails now rather than at their next poll (at most `cap` of them: the rest
    /// keep waiting, so the order holds).
    pub fn slot_freed(&self, finished: &Thumbnail) {
        let heads = heads(
            &self.shared.index.lock().expect("lock").live,
            finished,
            self.shared.cap,
        );
        for head in heads {
            // Closed only when the controller stopped; then nothing is left to start.
            let _ = self.shared.wake.send(head);
        }
    }

    /// Sets the gauges to what is true now that `changed` started (`run`: the run it is
    /// part of), finished or went away (None). Admission alone is not enough: after the
    /// last run finishes nothing is admitted any more, and the gauges kept their last
    /// values. Counted from the index, at no API request; the watch may not have shown
    /// `changed`'s new status yet, so `changed` counts as given. A batch counts once.
    pub fn refresh_gauges(&self, changed: &Thumbnail, run: Option<&str>, metrics: &Metrics) {
        let index = self.shared.index.lock().expect("lock");
        let live = &index.live;
        let waiting = live.waiting.len() - usize::from(live.is_waiting(changed));
        metrics.queue_length.set(waiting as i64);
        metrics
            .runs_active
            .set(live.running_with(changed, run) as i64);
    }
}

fn key(t: &Thumbnail) -> Key {
    (
        t.metadata.creation_timestamp.clone().map(|t| t.0),
        t.namespace().unwrap_or_default(),
        t.name_any(),
    )
}

/// Waiting for a run of its current generation (not started, not finished, not deleted).
pub fn wants_run(t: &Thumbnail) -> bool {
    if t.metadata.deletion_timestamp.is_some() {
        return false;
    }
    let s = t.status.clone().unwrap_or_default();
    s.observed_generation != t.metadata.generation
        || s.phase.is_none()
        || s.phase == Some(Phase::Pending)
}

/// The run a running Thumbnail is part of: its status's jobName.
fn run_of(t: &Thumbnail) -> Run {
    let s = t.status.as_ref();
    let run = match s.and_then(|s| s.job_name.as_deref()) {
        Some(run) => run.to_string(),
        // No run name can contain '/': this one is no run's but its own.
        None => format!("/{}", t.name_any()),
    };
    (t.namespace().unwrap_or_default(), run)
}

/// Its current generation's run is in progress.
fn is_running(t: &Thumbnail) -> bool {
    let s = t.status.clone().unwrap_or_default();
    t.metadata.deletion_timestamp.is_none()
        && s.observed_generation == t.metadata.generation
        && s.phase == Some(Phase::Processing)
}

/// Whom to wake when `finished` frees a slot: the oldest waiting, at most `cap`.
fn heads(index: &Index, finished: &Thumbnail, cap: usize) -> Vec<ObjectRef<Thumbnail>> {
    let me = key(finished);
    index
        .waiting
        .first(cap, |k| *k != me)
        .into_iter()
        .map(|(_, ns, name)| ObjectRef::new(name).within(ns))
        .collect()
}

/// None: start now; otherwise where it waits. `cap` is at least one.
fn decide(running: usize, position: usize, cap: usize) -> Option<Waiting> {
    (running + position > cap).then(|| Waiting {
        position: running + position - cap,
        running,
        cap,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures::future::BoxFuture;
    use futures::StreamExt;
    use kube::runtime::Controller;
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

    fn index(all: &[Arc<Thumbnail>]) -> Index {
        let mut index = Index::default();
        for t in all {
            index.apply(t);
        }
        index
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
        assert_eq!(names(&heads(&index(&all), &none, 3)), ["b", "a", "c"]);
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
        let index = index(&all);
        assert_eq!(index.position(&me), 4, "older, edited and queued are ahead");
        assert_eq!(index.waiting.len(), 5);
        assert_eq!(index.running(), 1);
        // Created at the same time as "older": the name decides.
        assert_eq!(index.position(&all[3]), 1, "edited");
        assert_eq!(index.position(&all[0]), 2, "older");
        // Not in the index yet (a fresh create): still counted after those ahead.
        assert_eq!(index.position(&waiting("fresh", "2026-11-28T09:45:00Z")), 4);
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
        assert_eq!(
            names(&heads(&index(&all), &finished, 2)),
            ["first", "second"]
        );
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
            _: &'a [&'a Thumbnail],
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

    /// A queue whose index has seen `items` in a watch's initial list.
    fn queue_of(
        items: &[Arc<Thumbnail>],
        cap: usize,
    ) -> (Queue, impl Stream<Item = ObjectRef<Thumbnail>>) {
        let (queue, wakes, _) = queue_with_cache(items, cap);
        (queue, wakes)
    }

    /// [`queue_of`], and the writer of its cache, for the watch events that follow.
    fn queue_with_cache(
        items: &[Arc<Thumbnail>],
        cap: usize,
    ) -> (
        Queue,
        impl Stream<Item = ObjectRef<Thumbnail>>,
        kube::runtime::reflector::store::Writer<Thumbnail>,
    ) {
        let (cache, mut writer) = kube::runtime::reflector::store::<Thumbnail>();
        let (queue, wakes) = Queue::new(cap, cache);
        for event in [watcher::Event::Init]
            .into_iter()
            .chain(
                items
                    .iter()
                    .map(|t| watcher::Event::InitApply((**t).clone())),
            )
            .chain([watcher::Event::InitDone])
        {
            writer.apply_watcher_event(&event);
            queue.observe(&event);
        }
        (queue, wakes, writer)
    }

    /// A reconcile of `a` that read it waiting, then waited for the admission lock while
    /// `b`'s batch took `a`, started and had its start shown by the watch (which ends
    /// `a`'s mark as taken): it must not start `a` again, alone. Seen on the cluster.
    #[tokio::test]
    async fn a_thumbnail_whose_batch_started_while_it_waited_for_the_lock_is_not_started_again() {
        let a = waiting("a", "2026-11-28T10:00:00Z");
        let b = waiting("b", "2026-11-28T09:00:00Z");
        let (queue, _wakes, mut writer) = queue_with_cache(&[a.clone(), b.clone()], 4);
        let (executor, metrics) = (CountingExecutor::default(), Metrics::default());
        let Admission::Start(permit) = queue.admit(&b, &executor, &metrics).await.unwrap() else {
            panic!("b is first in line");
        };
        // `a`'s reconcile, with the object it read before, waits for the lock.
        let stale = a.clone();
        let decision = {
            let (queue, executor, metrics) = (&queue, &executor, &metrics);
            async move { queue.admit(&stale, executor, metrics).await.unwrap() }
        };
        let mut decision = Box::pin(decision);
        assert!(
            futures::poll!(decision.as_mut()).is_pending(),
            "it waits for b's permit"
        );
        let batch = queue.take_batch(&permit, &b, 15, |_| true);
        assert_eq!(batch.len(), 1);
        // The batch started; the watch shows `a`'s new status before the lock frees.
        let started = thumb(
            "a",
            "2026-11-28T10:00:00Z",
            1,
            Some(
                json!({"phase": "Processing", "observedGeneration": 1, "jobName": "batch", "runItem": 1}),
            ),
        );
        let event = watcher::Event::Apply((*started).clone());
        writer.apply_watcher_event(&event);
        queue.observe(&event);
        drop(permit);
        assert!(matches!(decision.await, Admission::Taken));

        // A run resumed in the run it has (a local run interrupted by a restart): the
        // cache shows that same run, which is no reason to hold it back.
        queue.release(batch.iter().map(|t| t.as_ref()));
        assert!(matches!(
            queue.admit(&started, &executor, &metrics).await.unwrap(),
            Admission::Start(_)
        ));
    }

    /// Concurrent reconciles of Thumbnails the cache does not show yet (each sees
    /// itself first in line) cannot both take the last slot.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn admission_is_serialised_so_the_cap_holds() {
        let (queue, _wakes) = queue_of(&[], 1);
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
                            executor.launch(&[&t], name, &invocation()).await.unwrap();
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
                        Admission::Taken => panic!("nothing was taken into a batch"),
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

    /// A Thumbnail starting its run is neither admitted again nor taken into another's
    /// batch while the cache still shows it waiting, until the watch shows it started:
    /// on the cluster, a reconcile of it in between (triggered by its new Job's event)
    /// started it a second time. Released (its run could not start), it is admitted.
    #[tokio::test]
    async fn a_starting_thumbnail_is_not_admitted_or_batched_again_until_the_watch_shows_it() {
        let a = waiting("a", "2026-11-28T09:00:00Z");
        let b = waiting("b", "2026-11-28T10:00:00Z");
        let (queue, _wakes) = queue_of(&[a.clone(), b.clone()], 4);
        let (executor, metrics) = (CountingExecutor::default(), Metrics::default());
        let Admission::Start(permit) = queue.admit(&a, &executor, &metrics).await.unwrap() else {
            panic!("a is first in line");
        };
        queue.starting(&permit, &a);
        drop(permit);

        // The cache and the index still show `a` waiting.
        assert!(matches!(
            queue.admit(&a, &executor, &metrics).await.unwrap(),
            Admission::Taken
        ));
        let Admission::Start(permit) = queue.admit(&b, &executor, &metrics).await.unwrap() else {
            panic!("a slot is free for b");
        };
        let batch = queue.take_batch(&permit, &b, 15, |_| true);
        assert!(batch.is_empty(), "b's batch took {:?}", batch[0].name_any());
        drop(permit);

        // Its run could not start: it may start again.
        queue.release([a.as_ref()]);
        assert!(matches!(
            queue.admit(&a, &executor, &metrics).await.unwrap(),
            Admission::Start(_)
        ));

        // Started, as the watch shows: no longer held, so its next generation may run.
        let Admission::Start(permit) = queue.admit(&a, &executor, &metrics).await.unwrap() else {
            panic!("a is first in line");
        };
        queue.starting(&permit, &a);
        drop(permit);
        let started = json!({"phase": "Processing", "observedGeneration": 1, "jobName": "run-a"});
        queue.observe(&watcher::Event::Apply(
            (*thumb("a", "2026-11-28T09:00:00Z", 1, Some(started.clone()))).clone(),
        ));
        let edited = thumb("a", "2026-11-28T09:00:00Z", 2, Some(started));
        queue.observe(&watcher::Event::Apply((*edited).clone()));
        assert!(matches!(
            queue.admit(&edited, &executor, &metrics).await.unwrap(),
            Admission::Start(_)
        ));
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
        let (queue, wakes) = queue_of(&all, 4);
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
        let (queue, _wakes) = queue_of(&all, 4);
        let metrics = Metrics::default();
        metrics.queue_length.set(7);
        metrics.runs_active.set(9);
        // `started` was just launched (the cache still shows it Pending): running, not waiting.
        queue.refresh_gauges(&started, Some("started-run"), &metrics);
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
        let (queue, _wakes) = queue_of(std::slice::from_ref(&done), 4);
        queue.refresh_gauges(&done, None, &metrics);
        assert_eq!(
            (metrics.queue_length.get(), metrics.runs_active.get()),
            (0, 0)
        );
    }

    /// A batch is one run: its members share a Job and one slot, and the index, the
    /// gauge and the Queued decision count it once (issue 14; they counted members).
    #[test]
    fn a_batch_counts_as_one_run() {
        let member = |name: &str, run: &str| {
            thumb(
                name,
                "2026-11-28T08:00:00Z",
                1,
                Some(json!({"phase": "Processing", "observedGeneration": 1, "jobName": run})),
            )
        };
        let all = [
            member("a", "batch-1"),
            member("b", "batch-1"),
            member("c", "batch-1"),
            member("alone", "alone-g1"),
            waiting("next", "2026-11-28T09:00:00Z"),
        ];
        let (queue, _wakes) = queue_of(&all, 3);
        let index = queue.shared.index.lock().unwrap();
        assert_eq!(index.live.running(), 2, "a batch of three and a run alone");
        let w = decide(index.live.running(), 2, 3).unwrap();
        assert_eq!((w.position, w.running), (1, 2));
        drop(index);
        let metrics = Metrics::default();
        // Two more members of a new batch, launched (the cache still shows them waiting):
        // one run more, whichever member reports it.
        let (d, e) = (
            waiting("d", "2026-11-28T10:00:00Z"),
            waiting("e", "2026-11-28T10:00:01Z"),
        );
        let (queue, _wakes) = queue_of(&[all.to_vec(), vec![d.clone(), e.clone()]].concat(), 3);
        for t in [&d, &e] {
            queue.refresh_gauges(t, Some("batch-2"), &metrics);
            assert_eq!(metrics.runs_active.get(), 3);
        }
        // One member of the first batch finished: the batch still runs.
        queue.refresh_gauges(&all[0], None, &metrics);
        assert_eq!(metrics.runs_active.get(), 2);
        // The run alone finished: one run less.
        queue.refresh_gauges(&all[3], None, &metrics);
        assert_eq!(metrics.runs_active.get(), 1);
    }

    /// The index follows the watch: a Thumbnail that starts leaves the waiting, one
    /// deleted or finished leaves the index, and a re-list replaces the whole index
    /// once complete (what the re-list no longer shows is forgotten).
    #[test]
    fn the_index_follows_the_watch() {
        let (queue, _wakes) = queue_of(
            &[
                waiting("a", "2026-11-28T09:00:00Z"),
                waiting("b", "2026-11-28T10:00:00Z"),
                waiting("c", "2026-11-28T11:00:00Z"),
            ],
            1,
        );
        let position = |t: &Thumbnail| queue.shared.index.lock().unwrap().live.position(t);
        let c = waiting("c", "2026-11-28T11:00:00Z");
        assert_eq!(position(&c), 3);
        let a_runs = thumb(
            "a",
            "2026-11-28T09:00:00Z",
            1,
            Some(json!({"phase": "Processing", "observedGeneration": 1})),
        );
        queue.observe(&watcher::Event::Apply((*a_runs).clone()));
        assert_eq!(position(&c), 2);
        assert_eq!(queue.shared.index.lock().unwrap().live.running(), 1);
        queue.observe(&watcher::Event::Delete(
            (*waiting("b", "2026-11-28T10:00:00Z")).clone(),
        ));
        assert_eq!(position(&c), 1);
        let a_done = thumb(
            "a",
            "2026-11-28T09:00:00Z",
            1,
            Some(json!({"phase": "Succeeded", "observedGeneration": 1})),
        );
        queue.observe(&watcher::Event::Apply((*a_done).clone()));
        assert_eq!(queue.shared.index.lock().unwrap().live.running(), 0);
        // A re-list: the old index answers until it is complete.
        queue.observe(&watcher::Event::Init);
        queue.observe(&watcher::Event::InitApply(
            (*waiting("z", "2026-11-28T08:00:00Z")).clone(),
        ));
        assert_eq!(position(&c), 1, "still the old index");
        queue.observe(&watcher::Event::InitDone);
        assert_eq!(position(&c), 2, "z is ahead, and c itself was not listed");
        let index = queue.shared.index.lock().unwrap();
        assert_eq!(index.live.waiting.len(), 1);
    }

    /// A Thumbnail that could not start even with every slot free is told where it
    /// waits without counting the runs at the source (for Jobs, a list request per
    /// reconcile of each of thousands of waiting Thumbnails).
    #[tokio::test]
    async fn far_back_thumbnails_wait_without_counting_runs() {
        struct Uncountable;
        impl Executor for Uncountable {
            fn launch<'a>(
                &'a self,
                _: &'a [&'a Thumbnail],
                _: &'a str,
                _: &'a Invocation,
            ) -> BoxFuture<'a, Result<()>> {
                unreachable!()
            }
            fn observe<'a>(
                &'a self,
                _: &'a Thumbnail,
                _: &'a str,
            ) -> BoxFuture<'a, Result<RunState>> {
                unreachable!()
            }
            fn active(&self) -> BoxFuture<'_, Result<usize>> {
                panic!("counted the runs for a Thumbnail far back in the queue")
            }
            fn stop<'a>(&'a self, _: &'a Thumbnail, _: &'a str) -> BoxFuture<'a, Result<bool>> {
                unreachable!()
            }
            fn triggers(&self, controller: Controller<Thumbnail>) -> Controller<Thumbnail> {
                controller
            }
        }
        let all: Vec<_> = (0..5)
            .map(|i| waiting(&format!("t{i}"), &format!("2026-11-28T0{i}:00:00Z")))
            .collect();
        let (queue, _wakes) = queue_of(&all, 2);
        let Admission::Wait(w) = queue
            .admit(&all[4], &Uncountable, &Metrics::default())
            .await
            .unwrap()
        else {
            panic!("admitted the fifth of five with a cap of two");
        };
        assert_eq!((w.position, w.running, w.cap), (3, 0, 2));
        assert_eq!(w.poll(), POLL_FAR);
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
