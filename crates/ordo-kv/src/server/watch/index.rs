//! [`WatchIndex`]: which watchers a changed key reaches, without looking at
//! the others.
//!
//! Exact keys are a hash lookup. Prefixes are grouped by length, so a key
//! is looked up once per distinct prefix length in use (a handful in
//! practice: `jobs/`, `locks/`, `config/`), not once per watcher. General
//! `[key, range_end)` ranges are rare and kept in a list that is scanned.
//!
//! # Invariant
//! Every registered watcher is in exactly one of the three maps, under the
//! [`WatchRange`] it registered with, until it is removed with that range.

use std::collections::{BTreeMap, HashMap, HashSet};

use bytes::Bytes;

use crate::store::KeyRange;

/// A watcher's number, unique for the life of its hub.
pub(crate) type WatcherId = u64;

/// The keys one watcher watches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum WatchRange {
    /// One key.
    Key(Bytes),
    /// Every key starting with these bytes (every key, if empty).
    Prefix(Bytes),
    /// `[key, range_end)` in etcd's convention (see [`KeyRange`]).
    Range(KeyRange),
}

impl WatchRange {
    /// The same keys as the store's [`KeyRange`], for history queries.
    pub(crate) fn key_range(&self) -> KeyRange {
        match self {
            WatchRange::Key(key) => KeyRange::single(key.clone()),
            WatchRange::Prefix(prefix) => KeyRange::prefix(prefix.clone()),
            WatchRange::Range(range) => range.clone(),
        }
    }
}

/// Watchers by the keys they watch.
#[derive(Debug, Default)]
pub(crate) struct WatchIndex {
    exact: HashMap<Bytes, HashSet<WatcherId>>,
    /// Prefix length → prefix → watchers.
    prefixes: BTreeMap<usize, HashMap<Bytes, HashSet<WatcherId>>>,
    ranges: Vec<(WatcherId, KeyRange)>,
}

impl WatchIndex {
    /// Adds `id`, watching `range`.
    pub(crate) fn insert(&mut self, id: WatcherId, range: &WatchRange) {
        match range {
            WatchRange::Key(key) => {
                self.exact.entry(key.clone()).or_default().insert(id);
            }
            WatchRange::Prefix(prefix) => {
                self.prefixes
                    .entry(prefix.len())
                    .or_default()
                    .entry(prefix.clone())
                    .or_default()
                    .insert(id);
            }
            WatchRange::Range(range) => self.ranges.push((id, range.clone())),
        }
    }

    /// Removes `id`, which was inserted watching `range`.
    pub(crate) fn remove(&mut self, id: WatcherId, range: &WatchRange) {
        match range {
            WatchRange::Key(key) => remove_from(&mut self.exact, key, id),
            WatchRange::Prefix(prefix) => {
                if let Some(of_length) = self.prefixes.get_mut(&prefix.len()) {
                    remove_from(of_length, prefix, id);
                    if of_length.is_empty() {
                        self.prefixes.remove(&prefix.len());
                    }
                }
            }
            WatchRange::Range(_) => self.ranges.retain(|(watcher, _)| *watcher != id),
        }
    }

    /// Calls `found` once for each watcher whose range holds `key`.
    pub(crate) fn for_each_watching(&self, key: &[u8], mut found: impl FnMut(WatcherId)) {
        if let Some(watchers) = self.exact.get(key) {
            watchers.iter().copied().for_each(&mut found);
        }
        for (length, prefixes) in self.prefixes.range(..=key.len()) {
            let Some(prefix) = key.get(..*length) else {
                continue;
            };
            if let Some(watchers) = prefixes.get(prefix) {
                watchers.iter().copied().for_each(&mut found);
            }
        }
        for (id, range) in &self.ranges {
            if range.contains(key) {
                found(*id);
            }
        }
    }
}

fn remove_from(map: &mut HashMap<Bytes, HashSet<WatcherId>>, key: &Bytes, id: WatcherId) {
    if let Some(watchers) = map.get_mut(key) {
        watchers.remove(&id);
        if watchers.is_empty() {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watching(index: &WatchIndex, key: &str) -> Vec<WatcherId> {
        let mut found = Vec::new();
        index.for_each_watching(key.as_bytes(), |id| found.push(id));
        found.sort_unstable();
        found
    }

    /// Each kind of range reaches exactly the keys it names, and removal
    /// leaves nothing behind.
    #[test]
    fn keys_reach_exactly_the_watchers_whose_range_holds_them() {
        let ranges = [
            (1, WatchRange::Key(Bytes::from("a/b"))),
            (2, WatchRange::Prefix(Bytes::from("a/"))),
            (3, WatchRange::Prefix(Bytes::from("a/b"))),
            (4, WatchRange::Prefix(Bytes::new())),
            (
                5,
                WatchRange::Range(KeyRange {
                    key: Bytes::from("b"),
                    range_end: Bytes::from("c"),
                }),
            ),
            (6, WatchRange::Key(Bytes::from("a/b"))),
        ];
        let mut index = WatchIndex::default();
        for (id, range) in &ranges {
            index.insert(*id, range);
        }
        let cases: [(&str, &[WatcherId]); 6] = [
            ("a/b", &[1, 2, 3, 4, 6]),
            ("a/bc", &[2, 3, 4]),
            ("a/", &[2, 4]),
            ("a", &[4]),
            ("b/x", &[4, 5]),
            ("c", &[4]),
        ];
        for (key, expected) in cases {
            assert_eq!(watching(&index, key), expected, "{key}");
        }
        for (id, range) in &ranges {
            index.remove(*id, range);
        }
        assert!(index.exact.is_empty() && index.prefixes.is_empty() && index.ranges.is_empty());
    }
}
