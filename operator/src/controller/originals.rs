//! Who still uses a shim original, and so who deletes it: the last of its holders.
//!
//! The REST shim stores one original per upload, `originals/<ns>/<owner>`; a single
//! size's Thumbnail is named `<owner>`, the Thumbnails of an upload with several sizes
//! `<owner>-01`, `<owner>-02`, ... ([`thumbnail_api::ownership`]). The holders of an
//! original are the Thumbnails of those names, in the operator's own cache, whose
//! spec names that very object. Nothing a user writes (labels, annotations) counts;
//! a Thumbnail of another name reading the original (which the source policy allows in
//! its namespace) neither keeps it nor deletes it, as before groups.
//!
//! The race, and why the decision is made here and serialised per original. Each
//! holder's finalizer asks "does another holder still use it?" from the cache. Two
//! holders deleted at once:
//! - Counting every holder in the cache as a user, each sees the other (both still
//!   carry their finalizer) and neither deletes: the original is left behind.
//! - Not counting those being deleted, both may see none and both delete (harmless
//!   for S3, but not "once", and a holder whose own cleanup is still blocked on the
//!   store would not count either).
//! - So a holder counts until its cleanup has *finished* — which only this process
//!   knows before the watch shows the finalizer gone: finished holders are recorded
//!   here ([`Holders::finished`]), and the decision "no other unfinished holder ->
//!   delete; else leave it" is made under a lock per original, held across the delete.
//!   Of two concurrent cleanups one decides first and finds the other unfinished
//!   (leaves it, records itself finished); the second then finds the first finished
//!   and deletes. Exactly one deletes, and it is the last.
//! - The cache may lag. A holder it does not show yet: the shim creates all of a
//!   group's Thumbnails before answering the upload, and one watch delivers events in
//!   the API server's order, so by the time a holder's deletion is in the cache, every
//!   holder created before that deletion is too. A holder shown alive whose deletion
//!   the cache has not seen yet: it counts, the original is left, and that holder
//!   deletes it when its own deletion comes (the one before is recorded finished).
//! - An operator restart forgets what was finished: its fresh list no longer holds
//!   the Thumbnails whose finalizer went, and those whose finalizer removal did not
//!   happen run their cleanup again, so the last one still deletes.
//!
//! Memory: an original's entry lives while some of its holders are being deleted;
//! finished holders the cache no longer shows are dropped at each decision, and the
//! entry with them once it is empty and no cleanup waits for it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;

/// An original by namespace and owner name.
type Original = (String, String);

/// The finished holders per original, each behind its own lock.
#[derive(Default)]
pub struct Originals {
    entries: Mutex<HashMap<Original, Arc<tokio::sync::Mutex<HashSet<String>>>>>,
}

impl Originals {
    /// Waits for the right to decide about the original of `owner` in `namespace`; the
    /// decisions about one original are made one at a time.
    pub async fn lock(&self, namespace: &str, owner: &str) -> Holders<'_> {
        let key = (namespace.to_string(), owner.to_string());
        let entry = self
            .entries
            .lock()
            .expect("lock")
            .entry(key.clone())
            .or_default()
            .clone();
        let guard = entry.clone().lock_owned().await;
        Holders {
            originals: self,
            key,
            entry,
            guard: Some(guard),
        }
    }
}

/// The lock on one original's decision, with its finished holders (uids).
pub struct Holders<'a> {
    originals: &'a Originals,
    key: Original,
    entry: Arc<tokio::sync::Mutex<HashSet<String>>>,
    guard: Option<OwnedMutexGuard<HashSet<String>>>,
}

impl Holders<'_> {
    fn set(&mut self) -> &mut HashSet<String> {
        self.guard.as_mut().expect("held until dropped")
    }

    /// Whether the holder `uid` has finished its cleanup (so uses the original no more).
    pub fn finished(&mut self, uid: &str) -> bool {
        self.set().contains(uid)
    }

    /// Records that `uid` finished its cleanup, keeping only those of `cached` (the uids
    /// of the holders the cache still shows: the others are gone for good).
    pub fn record_finished(&mut self, uid: &str, cached: &HashSet<String>) {
        let set = self.set();
        set.retain(|u| cached.contains(u));
        set.insert(uid.to_string());
    }

    /// The original is deleted: no decision about it needs the record any more.
    pub fn deleted(&mut self) {
        self.set().clear();
    }
}

impl Drop for Holders<'_> {
    fn drop(&mut self) {
        let empty = self.guard.as_ref().is_some_and(|g| g.is_empty());
        drop(self.guard.take());
        if !empty {
            return;
        }
        // Another cleanup waiting for this original holds a clone of the entry, taken
        // under the map's lock: with only the map's and ours left, nobody waits.
        let mut entries = self.originals.entries.lock().expect("lock");
        if entries
            .get(&self.key)
            .is_some_and(|e| Arc::ptr_eq(e, &self.entry) && Arc::strong_count(e) == 2)
        {
            entries.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uids(u: &[&str]) -> HashSet<String> {
        u.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn finished_holders_are_remembered_until_gone_from_the_cache() {
        let o = Originals::default();
        {
            let mut h = o.lock("ns", "g").await;
            assert!(!h.finished("a"));
            h.record_finished("a", &uids(&["a", "b"]));
        }
        {
            let mut h = o.lock("ns", "g").await;
            assert!(h.finished("a"));
            assert!(!h.finished("b"));
            // "a" is no longer in the cache: forgotten.
            h.record_finished("b", &uids(&["b"]));
            assert!(!h.finished("a") && h.finished("b"));
        }
        assert_eq!(o.entries.lock().unwrap().len(), 1);
        o.lock("ns", "g").await.deleted();
        assert!(
            o.entries.lock().unwrap().is_empty(),
            "an empty entry is dropped"
        );
        // Another namespace's original of the same name is another entry.
        let mut h = o.lock("other", "g").await;
        assert!(!h.finished("b"));
    }

    #[tokio::test]
    async fn decisions_about_one_original_wait_for_each_other() {
        let o = Arc::new(Originals::default());
        let first = o.lock("ns", "g").await;
        let o2 = o.clone();
        let second = tokio::spawn(async move {
            let mut h = o2.lock("ns", "g").await;
            h.finished("a")
        });
        // Another original is not held up.
        drop(o.lock("ns", "h").await);
        let mut first = first;
        first.record_finished("a", &uids(&["a"]));
        drop(first);
        assert!(
            second.await.unwrap(),
            "the second decision sees what the first recorded"
        );
    }
}
