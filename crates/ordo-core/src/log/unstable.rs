//! The tail of the log that is not yet known to be durable.

use std::collections::VecDeque;

use crate::entry::Entry;
use crate::types::{Index, Term};

/// Entries appended in memory whose durability has not been reported yet.
///
/// Invariants:
/// - `entries[i].index == offset + i`.
/// - `offset <= persist_from <= offset + entries.len()`: entries before
///   `persist_from` were handed to a persist action; the rest were not yet.
/// - Every index below `offset` is durable in storage (as far as this node's
///   current log is concerned).
#[derive(Clone, Debug)]
pub(crate) struct Unstable {
    offset: Index,
    entries: VecDeque<Entry>,
    persist_from: Index,
}

impl Unstable {
    /// An empty tail after the durable log, whose last index is `durable_last`.
    pub(crate) fn new(durable_last: Index) -> Self {
        Unstable {
            offset: durable_last + 1,
            entries: VecDeque::new(),
            persist_from: durable_last + 1,
        }
    }

    /// The first index not known durable.
    pub(crate) fn offset(&self) -> Index {
        self.offset
    }

    /// The last index held here, if any.
    pub(crate) fn last_index(&self) -> Option<Index> {
        self.entries.back().map(|e| e.index)
    }

    /// The term at `index`, if it is held here.
    pub(crate) fn term(&self, index: Index) -> Option<Term> {
        self.get(index).map(|e| e.term)
    }

    fn get(&self, index: Index) -> Option<&Entry> {
        let position = index.checked_sub(self.offset)?;
        self.entries.get(position as usize)
    }

    /// Appends `entries`, first discarding everything from their first index on.
    /// Returns the first discarded index, if anything held (here or durably)
    /// was discarded.
    ///
    /// # Panics
    /// If `entries` would leave a gap after the current tail.
    pub(crate) fn truncate_and_append(&mut self, entries: Vec<Entry>) -> Option<Index> {
        let first = entries.first()?.index;
        let end = self.offset + self.entries.len() as Index;
        assert!(
            first <= end,
            "append at {first} leaves a gap after {}",
            end - 1
        );
        let truncated = (first < end).then_some(first);
        if first <= self.offset {
            self.entries.clear();
            self.offset = first;
        } else {
            self.entries.truncate((first - self.offset) as usize);
        }
        self.persist_from = self.persist_from.min(first);
        self.entries.extend(entries);
        truncated
    }

    /// Clones of the entries in `low..high`, which must lie inside the tail.
    pub(crate) fn slice(&self, low: Index, high: Index) -> impl Iterator<Item = &Entry> {
        assert!(low >= self.offset && high <= self.offset + self.entries.len() as Index);
        self.entries
            .range((low - self.offset) as usize..(high - self.offset) as usize)
    }

    /// True if some entries have not been handed to a persist action yet.
    pub(crate) fn has_unpersisted(&self) -> bool {
        self.persist_from < self.offset + self.entries.len() as Index
    }

    /// Hands out the entries not yet handed to a persist action.
    pub(crate) fn take_unpersisted(&mut self) -> Vec<Entry> {
        let start = (self.persist_from - self.offset) as usize;
        let taken: Vec<Entry> = self.entries.range(start..).cloned().collect();
        self.persist_from = self.offset + self.entries.len() as Index;
        taken
    }

    /// Storage reports `(index, term)` durable: drop everything up to it, but
    /// not above `limit`, past which a write still in flight will overwrite
    /// the disk. Ignored when that entry has since been replaced, or was never
    /// handed out.
    ///
    /// The term check alone is not enough: an entry overwritten and then
    /// written back (a later leader holding it again) matches, while the
    /// write that overwrote it is still to reach the disk.
    pub(crate) fn stable_to(&mut self, index: Index, term: Term, limit: Index) {
        if index >= self.persist_from || self.term(index) != Some(term) {
            return;
        }
        let upto = index.min(limit);
        if upto < self.offset {
            return;
        }
        let count = (upto + 1 - self.offset) as usize;
        self.entries.drain(..count);
        self.offset = upto + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(first: Index, terms: &[Term]) -> Vec<Entry> {
        terms
            .iter()
            .enumerate()
            .map(|(i, &t)| Entry::noop(first + i as Index, t))
            .collect()
    }

    #[test]
    fn stable_to_drops_the_persisted_prefix() {
        let mut tail = Unstable::new(4);
        tail.truncate_and_append(entries(5, &[1, 1, 1]));
        assert_eq!(tail.take_unpersisted().len(), 3);
        tail.stable_to(6, 1, Index::MAX);
        assert_eq!(tail.offset(), 7);
        assert_eq!(tail.last_index(), Some(7));
    }

    #[test]
    fn stable_to_ignores_a_replaced_entry() {
        let mut tail = Unstable::new(0);
        tail.truncate_and_append(entries(1, &[1, 1, 1]));
        tail.take_unpersisted();
        assert_eq!(tail.truncate_and_append(entries(2, &[2])), Some(2));
        tail.stable_to(3, 1, Index::MAX);
        assert_eq!(tail.offset(), 1, "entry 3 of term 1 no longer exists");
        tail.stable_to(1, 1, Index::MAX);
        assert_eq!(tail.offset(), 2);
        assert_eq!(tail.take_unpersisted(), entries(2, &[2]));
    }

    #[test]
    fn truncating_below_the_tail_reaches_into_storage() {
        let mut tail = Unstable::new(10);
        assert_eq!(tail.truncate_and_append(entries(8, &[3])), Some(8));
        assert_eq!(tail.offset(), 8);
        assert!(tail.has_unpersisted());
    }

    #[test]
    fn stable_to_stops_below_a_pending_overwrite() {
        let mut tail = Unstable::new(0);
        tail.truncate_and_append(entries(1, &[1, 1, 1]));
        tail.take_unpersisted();
        tail.truncate_and_append(entries(2, &[2]));
        tail.take_unpersisted();
        tail.truncate_and_append(entries(2, &[1, 1]));
        tail.take_unpersisted();
        // The first write is durable; the second, which removes entries 2 and
        // 3 from the disk, is not. Entries 2 and 3 match the first write's,
        // but only entry 1 is safely on disk.
        tail.stable_to(3, 1, 1);
        assert_eq!(tail.offset(), 2);
    }

    #[test]
    fn entries_not_handed_out_are_never_marked_stable() {
        let mut tail = Unstable::new(0);
        tail.truncate_and_append(entries(1, &[1]));
        tail.stable_to(1, 1, Index::MAX);
        assert_eq!(tail.offset(), 1);
    }
}
