//! A bounded cache of the most recent entries, so the common reads (replicating
//! to followers that keep up, applying what just committed) need no disk I/O.

use std::collections::VecDeque;

use ordo_core::{Entry, Index};

/// The newest entries of the log, bounded in count and payload bytes.
///
/// Invariant: `entries` are consecutive and, when not empty, end at the log's
/// last index (the store keeps it so on every append, truncation and reset).
#[derive(Debug)]
pub(crate) struct EntryCache {
    entries: VecDeque<Entry>,
    payload_bytes: u64,
    entries_max: usize,
    payload_bytes_max: u64,
}

impl EntryCache {
    pub(crate) fn new(entries_max: usize, payload_bytes_max: u64) -> Self {
        EntryCache {
            entries: VecDeque::new(),
            payload_bytes: 0,
            entries_max,
            payload_bytes_max,
        }
    }

    /// The first cached index, if any.
    pub(crate) fn first_index(&self) -> Option<Index> {
        self.entries.front().map(|entry| entry.index)
    }

    /// Adds the next entry of the log, evicting the oldest beyond the bounds.
    pub(crate) fn push(&mut self, entry: &Entry) {
        if self.entries_max == 0 {
            return;
        }
        if let Some(last) = self.entries.back()
            && last.index + 1 != entry.index
        {
            self.clear();
        }
        self.payload_bytes += entry.payload_bytes();
        self.entries.push_back(entry.clone());
        while self.entries.len() > self.entries_max
            || (self.payload_bytes > self.payload_bytes_max && self.entries.len() > 1)
        {
            self.pop_front();
        }
    }

    /// Drops cached entries with index `>= from`.
    pub(crate) fn truncate(&mut self, from: Index) {
        while self.entries.back().is_some_and(|entry| entry.index >= from) {
            if let Some(entry) = self.entries.pop_back() {
                self.payload_bytes -= entry.payload_bytes();
            }
        }
    }

    /// Drops cached entries with index `<= through`.
    pub(crate) fn compact(&mut self, through: Index) {
        while self
            .entries
            .front()
            .is_some_and(|entry| entry.index <= through)
        {
            self.pop_front();
        }
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.payload_bytes = 0;
    }

    /// The cached entry `index`, if cached.
    pub(crate) fn get(&self, index: Index) -> Option<&Entry> {
        let first = self.first_index()?;
        self.entries.get(index.checked_sub(first)? as usize)
    }

    fn pop_front(&mut self) {
        if let Some(entry) = self.entries.pop_front() {
            self.payload_bytes -= entry.payload_bytes();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_within_bounds() {
        let mut cache = EntryCache::new(3, 1000);
        for index in 1..=5 {
            cache.push(&Entry::command(index, 1, vec![0u8; 10]));
        }
        assert_eq!(cache.first_index(), Some(3));
        assert!(cache.get(2).is_none());
        assert_eq!(cache.get(5).map(|entry| entry.index), Some(5));
        cache.truncate(4);
        assert!(cache.get(4).is_none());
        cache.compact(3);
        assert_eq!(cache.first_index(), None);
    }

    #[test]
    fn byte_bound_keeps_at_least_one() {
        let mut cache = EntryCache::new(10, 15);
        cache.push(&Entry::command(1, 1, vec![0u8; 10]));
        cache.push(&Entry::command(2, 1, vec![0u8; 10]));
        assert_eq!(cache.first_index(), Some(2));
        cache.push(&Entry::command(3, 1, vec![0u8; 100]));
        assert_eq!(cache.first_index(), Some(3));
    }
}
