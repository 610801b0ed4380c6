//! Lowe's memoization: the `(linearized set, state)` pairs the search has already
//! explored. Reaching one again means the same future, which already failed, so
//! the search skips it.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, DefaultHasher, Hash, Hasher};

use super::bitset::{Bitset, mix64};

/// The explored configurations.
///
/// A linearized set is mostly a run of whole words of done operations, a short
/// window of partly done ones, and zeros after it. Only the window is stored, so
/// an entry costs a few words even when the partition holds thousands of
/// operations.
pub(crate) struct Cache<S> {
    /// Keyed by a hash of the set and the state; colliding entries share a bucket.
    buckets: HashMap<u64, Vec<Explored<S>>, BuildHasherDefault<PassThrough>>,
    len: usize,
}

struct Explored<S> {
    /// Index of the first word of `window`; every word before it is all ones.
    window_start: usize,
    /// The words from the first that is not all ones to the last that is not
    /// zero; every word after it is zero.
    window: Box<[u64]>,
    state: S,
}

impl<S: Clone + Eq + Hash> Cache<S> {
    pub(crate) fn new() -> Self {
        Self {
            buckets: HashMap::default(),
            len: 0,
        }
    }

    /// Records `(linearized, state)`. Returns `false` if it was already recorded.
    pub(crate) fn insert(&mut self, linearized: &Bitset, state: &S) -> bool {
        let key = linearized.hash() ^ mix64(hash_of(state));
        let (window_start, window) = trim(linearized.words());
        let bucket = self.buckets.entry(key).or_default();
        let seen = bucket.iter().any(|explored| {
            explored.window_start == window_start
                && *explored.window == *window
                && explored.state == *state
        });
        if seen {
            return false;
        }
        bucket.push(Explored {
            window_start,
            window: window.into(),
            state: state.clone(),
        });
        self.len += 1;
        true
    }

    /// How many configurations are recorded.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// Drops the leading all-ones words and the trailing zero words. Two sets of the
/// same capacity are equal exactly when their trimmed forms are.
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
    fn a_configuration_is_new_only_once() {
        let mut cache = Cache::new();
        let mut set = Bitset::new(200);
        assert!(cache.insert(&set, &1));
        assert!(!cache.insert(&set, &1));
        assert!(cache.insert(&set, &2));
        set.insert(150);
        assert!(cache.insert(&set, &1));
        set.remove(150);
        set.insert(149);
        assert!(cache.insert(&set, &1));
        assert_eq!(cache.len(), 4);
    }
}
