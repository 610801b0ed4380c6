//! Lowe's memoization, with dominance for indeterminate operations.
//!
//! Every configuration `(linearized set, state)` the search enters is recorded.
//! Entering one again means the same future, so the search skips it. Once the
//! search leaves a configuration for good (undoes the operation that led to it),
//! that configuration has failed, and so has every configuration with the same
//! determinate operations and state but more indeterminate operations
//! linearized: those could only have been placed last anyway. The search skips
//! those too.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, DefaultHasher, Hash, Hasher};

use super::bitset::{Bitset, mix64};

/// Names a recorded configuration, so the search can mark it failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EntryId {
    bucket: u64,
    position: usize,
}

/// The recorded configurations.
///
/// The first region of a linearized set (determinate operations) is mostly a run
/// of all-ones words, a short window of partly done operations, and zeros after
/// it; only the window is stored, so an entry costs a few words even when the
/// partition holds thousands of operations. The second region (indeterminate
/// operations, usually few) is stored whole.
pub(crate) struct Cache<S> {
    /// Keyed by a hash of the first region and the state, so that every entry
    /// that could equal or dominate a configuration is in its bucket.
    buckets: HashMap<u64, Vec<Entry<S>>, BuildHasherDefault<PassThrough>>,
    len: usize,
}

struct Entry<S> {
    /// Where the first region's window starts; every word before it is all ones,
    /// every word after the window is zero.
    window_start: usize,
    window: Box<[u64]>,
    /// The second region, whole.
    indeterminate: Box<[u64]>,
    state: S,
    /// Whether the search is still inside this configuration (it is on the
    /// search's stack); if not, it failed.
    open: bool,
}

impl<S: Clone + Eq + Hash> Cache<S> {
    pub(crate) fn new() -> Self {
        Self {
            buckets: HashMap::default(),
            len: 0,
        }
    }

    /// Records `(linearized, state)` as entered, unless it was entered before or
    /// a failed configuration dominates it. Returns its id if recorded.
    pub(crate) fn enter(&mut self, linearized: &Bitset, state: &S) -> Option<EntryId> {
        let bucket_key = linearized.first_region_hash() ^ mix64(hash_of(state));
        let (first, second) = linearized.regions();
        let (window_start, window) = trim(first);
        let bucket = self.buckets.entry(bucket_key).or_default();
        let known = bucket.iter().any(|entry| {
            entry.window_start == window_start
                && *entry.window == *window
                && entry.state == *state
                && (*entry.indeterminate == *second
                    || !entry.open && is_subset(&entry.indeterminate, second))
        });
        if known {
            return None;
        }
        let position = bucket.len();
        bucket.push(Entry {
            window_start,
            window: window.into(),
            indeterminate: second.into(),
            state: state.clone(),
            open: true,
        });
        self.len += 1;
        Some(EntryId {
            bucket: bucket_key,
            position,
        })
    }

    /// Marks a configuration failed: the search has left it for good.
    pub(crate) fn fail(&mut self, id: EntryId) {
        if let Some(entry) = self
            .buckets
            .get_mut(&id.bucket)
            .and_then(|b| b.get_mut(id.position))
        {
            entry.open = false;
        }
    }

    /// How many configurations are recorded.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

fn is_subset(small: &[u64], large: &[u64]) -> bool {
    small
        .iter()
        .zip(large)
        .all(|(small, large)| small & !large == 0)
}

/// Drops the leading all-ones words and the trailing zero words. Two regions of
/// the same length are equal exactly when their trimmed forms are.
fn trim(words: &[u64]) -> (usize, &[u64]) {
    let start = words
        .iter()
        .position(|&word| word != u64::MAX)
        .unwrap_or(words.len());
    let end = words
        .iter()
        .rposition(|&word| word != 0)
        .map_or(start, |last| last + 1);
    (start, &words[start..end.max(start)])
}

/// A fixed hash (SipHash with zero keys), so runs are reproducible.
fn hash_of<S: Hash>(state: &S) -> u64 {
    let mut hasher = DefaultHasher::new();
    state.hash(&mut hasher);
    hasher.finish()
}

/// The bucket keys are already well mixed; hashing them again is wasted work.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimming_keeps_only_the_window() {
        assert_eq!(
            trim(&[u64::MAX, u64::MAX, 0b101, 0, 1, 0, 0]),
            (2, &[0b101, 0, 1][..])
        );
        assert_eq!(trim(&[u64::MAX, u64::MAX]), (2, &[][..]));
        assert_eq!(trim(&[0, 0]), (0, &[][..]));
        assert_eq!(trim(&[]), (0, &[][..]));
    }

    #[test]
    fn a_configuration_is_entered_only_once() {
        let mut cache = Cache::new();
        let mut set = Bitset::new(2, 200);
        assert!(cache.enter(&set, &1).is_some());
        assert!(cache.enter(&set, &1).is_none());
        assert!(cache.enter(&set, &2).is_some());
        set.insert(3);
        assert!(cache.enter(&set, &1).is_some());
        set.insert(150);
        assert!(cache.enter(&set, &1).is_some());
        assert!(cache.enter(&set, &1).is_none());
        assert_eq!(cache.len(), 4);
    }

    #[test]
    fn a_failed_configuration_dominates_those_with_more_indeterminate_operations() {
        let mut cache = Cache::new();
        let mut set = Bitset::new(1, 200);
        set.insert(5);
        set.insert(130);
        let Some(failed) = cache.enter(&set, &1) else {
            panic!("a new configuration is entered");
        };
        set.insert(131);
        assert!(
            cache.enter(&set, &1).is_some(),
            "not dominated while still open"
        );
        set.remove(131);
        cache.fail(failed);
        set.insert(131);
        set.insert(190);
        assert!(
            cache.enter(&set, &1).is_none(),
            "more indeterminate operations, same rest"
        );
        assert!(cache.enter(&set, &2).is_some(), "another state");
        set.remove(130);
        assert!(cache.enter(&set, &1).is_some(), "not a superset");
        set.insert(130);
        set.insert(6);
        assert!(
            cache.enter(&set, &1).is_some(),
            "other determinate operations"
        );
    }
}
