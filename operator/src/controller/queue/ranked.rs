//! A sorted set that answers "how many are before this one" in O(log n): a treap (a
//! binary search tree kept balanced by random priorities) whose nodes count their
//! subtree. The queue needs exactly that — a Thumbnail's position among 10,000 waiting
//! ones on each of its reconciles — and the standard library's `BTreeSet` has no rank.

/// A set of `K` in order, with O(log n) expected insert, remove and rank.
pub struct Ranked<K> {
    root: Link<K>,
    /// State of the priority generator (splitmix64): deterministic, so a failing test
    /// replays the same tree.
    seed: u64,
}

type Link<K> = Option<Box<Node<K>>>;

struct Node<K> {
    key: K,
    priority: u64,
    /// Nodes in this subtree, itself included.
    size: usize,
    left: Link<K>,
    right: Link<K>,
}

fn size<K>(link: &Link<K>) -> usize {
    link.as_ref().map_or(0, |n| n.size)
}

impl<K> Node<K> {
    fn resize(&mut self) {
        self.size = 1 + size(&self.left) + size(&self.right);
    }
}

/// Splits `tree` into the keys before `key` and the rest (`or_equal`: the keys up to and
/// including `key`, and the rest).
fn split<K: Ord>(tree: Link<K>, key: &K, or_equal: bool) -> (Link<K>, Link<K>) {
    let Some(mut node) = tree else {
        return (None, None);
    };
    let goes_left = if or_equal {
        node.key <= *key
    } else {
        node.key < *key
    };
    if goes_left {
        let (l, r) = split(node.right.take(), key, or_equal);
        node.right = l;
        node.resize();
        (Some(node), r)
    } else {
        let (l, r) = split(node.left.take(), key, or_equal);
        node.left = r;
        node.resize();
        (l, Some(node))
    }
}

/// Joins two trees whose keys are all ordered `a` before `b`.
fn merge<K>(a: Link<K>, b: Link<K>) -> Link<K> {
    match (a, b) {
        (None, b) => b,
        (a, None) => a,
        (Some(mut a), Some(mut b)) => {
            if a.priority > b.priority {
                a.right = merge(a.right.take(), Some(b));
                a.resize();
                Some(a)
            } else {
                b.left = merge(Some(a), b.left.take());
                b.resize();
                Some(b)
            }
        }
    }
}

impl<K: Ord> Default for Ranked<K> {
    fn default() -> Self {
        Ranked {
            root: None,
            seed: 0x2545_f491_4f6c_dd1d,
        }
    }
}

impl<K: Ord> Ranked<K> {
    pub fn len(&self) -> usize {
        size(&self.root)
    }

    pub fn is_empty(&self) -> bool {
        self.root.is_none()
    }

    pub fn contains(&self, key: &K) -> bool {
        let mut at = &self.root;
        while let Some(node) = at {
            match key.cmp(&node.key) {
                std::cmp::Ordering::Less => at = &node.left,
                std::cmp::Ordering::Greater => at = &node.right,
                std::cmp::Ordering::Equal => return true,
            }
        }
        false
    }

    /// Adds `key`; false when it was there already.
    pub fn insert(&mut self, key: K) -> bool {
        if self.contains(&key) {
            return false;
        }
        let priority = self.next_priority();
        let (before, after) = split(self.root.take(), &key, false);
        let node = Some(Box::new(Node {
            key,
            priority,
            size: 1,
            left: None,
            right: None,
        }));
        self.root = merge(merge(before, node), after);
        true
    }

    /// Removes `key`; false when it was not there.
    pub fn remove(&mut self, key: &K) -> bool {
        let (before, rest) = split(self.root.take(), key, false);
        let (found, after) = split(rest, key, true);
        self.root = merge(before, after);
        found.is_some()
    }

    /// How many keys are before `key` (whether or not `key` is in the set).
    pub fn rank(&self, key: &K) -> usize {
        let (mut at, mut before) = (&self.root, 0);
        while let Some(node) = at {
            if node.key < *key {
                before += size(&node.left) + 1;
                at = &node.right;
            } else {
                at = &node.left;
            }
        }
        before
    }

    /// The first keys in order, at most `n` of those `keep` accepts; stops once it has
    /// them, so the cost is that of the keys it looks at, not of the set.
    pub fn first(&self, n: usize, keep: impl Fn(&K) -> bool) -> Vec<&K> {
        fn walk<'a, K>(at: &'a Link<K>, n: usize, keep: &dyn Fn(&K) -> bool, out: &mut Vec<&'a K>) {
            let Some(node) = at else { return };
            walk(&node.left, n, keep, out);
            if out.len() < n && keep(&node.key) {
                out.push(&node.key);
            }
            if out.len() < n {
                walk(&node.right, n, keep, out);
            }
        }
        let mut out = Vec::with_capacity(n.min(self.len()));
        if n > 0 {
            walk(&self.root, n, &keep, &mut out);
        }
        out
    }

    fn next_priority(&mut self) -> u64 {
        // splitmix64
        self.seed = self.seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Random inserts and removes agree with `BTreeSet` on every answer.
    #[test]
    fn agrees_with_a_sorted_set() {
        let (mut ranked, mut model) = (Ranked::default(), BTreeSet::new());
        let mut x: u64 = 7;
        for step in 0..20_000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let key = (x >> 33) % 2_000;
            if (x >> 20) % 3 == 0 {
                assert_eq!(
                    ranked.remove(&key),
                    model.remove(&key),
                    "remove {key} at {step}"
                );
            } else {
                assert_eq!(
                    ranked.insert(key),
                    model.insert(key),
                    "insert {key} at {step}"
                );
            }
            assert_eq!(ranked.len(), model.len());
            let probe = (x >> 7) % 2_100;
            assert_eq!(
                ranked.rank(&probe),
                model.range(..probe).count(),
                "rank {probe}"
            );
            assert_eq!(ranked.contains(&probe), model.contains(&probe));
        }
        let odd: Vec<u64> = ranked
            .first(10, |k| k % 2 == 1)
            .into_iter()
            .copied()
            .collect();
        let want: Vec<u64> = model
            .iter()
            .filter(|k| *k % 2 == 1)
            .take(10)
            .copied()
            .collect();
        assert_eq!(odd, want);
        assert_eq!(ranked.first(0, |_| true).len(), 0);
    }

    /// Keys inserted in order (the usual case: Thumbnails created one after another)
    /// still give a shallow tree, so nothing recurses deeply.
    #[test]
    fn sorted_inserts_stay_shallow() {
        fn depth<K>(at: &Link<K>) -> usize {
            at.as_ref()
                .map_or(0, |n| 1 + depth(&n.left).max(depth(&n.right)))
        }
        let mut ranked = Ranked::default();
        for k in 0..100_000u32 {
            ranked.insert(k);
        }
        assert_eq!(ranked.rank(&50_000), 50_000);
        assert!(depth(&ranked.root) < 60, "depth {}", depth(&ranked.root));
    }
}
