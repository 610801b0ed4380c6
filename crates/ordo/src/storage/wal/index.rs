//! Where each live entry is on disk, in four bytes per entry.
//!
//! Payloads never live here: an entry is found by (segment, offset) and read
//! back from the file. Terms are kept as runs (a term changes rarely), so ten
//! million entries cost about 40 MB of offsets and a few bytes of terms.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;

use ordo_core::{Index, Term};

use crate::storage::fs::FsFile;

/// The live entries of one segment file.
///
/// Invariant: the segment holds the live entries
/// `first_index .. first_index + offsets.len()`; `offsets[i]` is the byte offset
/// of entry `first_index + i`'s record.
#[derive(Debug)]
pub(crate) struct SegmentEntries {
    pub(crate) seq: u64,
    pub(crate) path: PathBuf,
    pub(crate) file: Arc<dyn FsFile>,
    pub(crate) first_index: Index,
    pub(crate) offsets: Vec<u32>,
}

impl SegmentEntries {
    /// One past the last live index.
    pub(crate) fn end_index(&self) -> Index {
        self.first_index + self.offsets.len() as Index
    }
}

/// The log's shape: compaction point, last index, terms and entry locations.
///
/// Invariants: live ranges of consecutive segments touch
/// (`segments[i].end_index() == segments[i + 1].first_index`) and the last
/// segment ends at `last_index + 1`; `terms` holds `(first index, term)` runs in
/// increasing order of both, covering every located entry.
#[derive(Debug, Default)]
pub(crate) struct EntryIndex {
    segments: VecDeque<SegmentEntries>,
    terms: Vec<(Index, Term)>,
    compacted_index: Index,
    compacted_term: Term,
    last_index: Index,
}

impl EntryIndex {
    /// An index whose first segment starts at `start_index`; entries below are
    /// not located (compacted, or in segments already deleted).
    pub(crate) fn starting_at(start_index: Index) -> Self {
        EntryIndex {
            last_index: start_index.saturating_sub(1),
            ..Self::default()
        }
    }

    pub(crate) fn compacted(&self) -> (Index, Term) {
        (self.compacted_index, self.compacted_term)
    }

    pub(crate) fn last_index(&self) -> Index {
        self.last_index
    }

    /// The lowest index with a known location (`last_index + 1` if none).
    pub(crate) fn first_located(&self) -> Index {
        self.segments
            .front()
            .map_or(self.last_index + 1, |segment| segment.first_index)
    }

    pub(crate) fn segments(&self) -> &VecDeque<SegmentEntries> {
        &self.segments
    }

    /// Opens a new (last) segment; its entries will follow `last_index`.
    pub(crate) fn push_segment(&mut self, seq: u64, path: PathBuf, file: Arc<dyn FsFile>) {
        self.segments.push_back(SegmentEntries {
            seq,
            path,
            file,
            first_index: self.last_index + 1,
            offsets: Vec::new(),
        });
    }

    /// Records entry `last_index + 1` at `offset` of the last segment. The caller
    /// checked the index and that a segment exists.
    pub(crate) fn push_entry(&mut self, index: Index, term: Term, offset: u32) {
        assert_eq!(
            index,
            self.last_index + 1,
            "entry index must continue the log"
        );
        if let Some(segment) = self.segments.back_mut() {
            segment.offsets.push(offset);
        }
        if self
            .terms
            .last()
            .is_none_or(|&(_, run_term)| run_term != term)
        {
            self.terms.push((index, term));
        }
        self.last_index = index;
    }

    /// Forgets every entry with index `>= from`.
    pub(crate) fn truncate(&mut self, from: Index) {
        for segment in self.segments.iter_mut().rev() {
            if segment.first_index >= from {
                segment.offsets.clear();
                segment.first_index = from;
            } else {
                let keep = (from - segment.first_index) as usize;
                segment.offsets.truncate(keep);
                break;
            }
        }
        while self.terms.last().is_some_and(|&(start, _)| start >= from) {
            self.terms.pop();
        }
        self.last_index = from - 1;
    }

    /// Moves the compaction point to (`through`, `term`), `through <= last_index`.
    /// Entries at or below it stay located but are no longer read.
    pub(crate) fn compact(&mut self, through: Index, term: Term) {
        assert!(
            through <= self.last_index,
            "compaction past the end of the log"
        );
        self.compacted_index = through;
        self.compacted_term = term;
    }

    /// Forgets every entry: the log continues after (`index`, `term`).
    pub(crate) fn reset(&mut self, index: Index, term: Term) {
        self.truncate(self.first_located().min(self.last_index + 1));
        for segment in &mut self.segments {
            segment.first_index = index + 1;
        }
        self.terms.clear();
        self.last_index = index;
        self.compacted_index = index;
        self.compacted_term = term;
    }

    /// Term of `index`, for `index` in `compacted ..= last_index` with a location
    /// (or the compaction point itself).
    pub(crate) fn term(&self, index: Index) -> Option<Term> {
        if index == self.compacted_index {
            return Some(self.compacted_term);
        }
        if index < self.first_located() || index > self.last_index {
            return None;
        }
        let run = self.terms.partition_point(|&(start, _)| start <= index);
        run.checked_sub(1).map(|run| self.terms[run].1)
    }

    /// The segment and byte offset of entry `index`, if located.
    pub(crate) fn locate(&self, index: Index) -> Option<(&SegmentEntries, u64)> {
        let position = self
            .segments
            .partition_point(|segment| segment.end_index() <= index);
        let segment = self.segments.get(position)?;
        let offset = *segment
            .offsets
            .get(index.checked_sub(segment.first_index)? as usize)?;
        Some((segment, u64::from(offset)))
    }

    /// How many leading segments compaction through `through` may delete: those
    /// that hold no live entry above it, are not the last (active) segment, and
    /// come before segment `record_seq`, the one holding the durable compaction
    /// (or reset) record. That segment's head records and the records after
    /// them carry everything the deleted ones did (hard state, compaction
    /// point); a segment started after it may not be durable yet.
    pub(crate) fn deletable_prefix(&self, through: Index, record_seq: u64) -> usize {
        let candidates = self.segments.len().saturating_sub(1);
        self.segments
            .iter()
            .take(candidates)
            .take_while(|segment| segment.end_index() <= through + 1 && segment.seq < record_seq)
            .count()
    }

    /// Removes the first `count` segments from the index.
    pub(crate) fn remove_front(&mut self, count: usize) -> Vec<SegmentEntries> {
        self.segments.drain(..count).collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::storage::fs::{FileSystem, StdFs};

    fn file() -> Arc<dyn FsFile> {
        let dir = tempfile::tempdir().unwrap();
        StdFs.create(&dir.path().join("scratch")).unwrap()
    }

    fn index_with(terms: &[Term], per_segment: usize) -> EntryIndex {
        let mut index = EntryIndex::starting_at(1);
        let file = file();
        for (i, &term) in terms.iter().enumerate() {
            if i % per_segment == 0 {
                index.push_segment(i as u64 + 1, PathBuf::new(), Arc::clone(&file));
            }
            index.push_entry(i as Index + 1, term, i as u32 * 10);
        }
        index
    }

    #[test]
    fn locates_entries_across_segments() {
        let index = index_with(&[1, 1, 2, 2, 2, 3], 2);
        assert_eq!(index.locate(5).map(|(s, o)| (s.seq, o)), Some((5, 40)));
        assert_eq!(index.term(3), Some(2));
        assert_eq!(index.term(6), Some(3));
        assert!(index.locate(7).is_none());
    }

    #[test]
    fn truncation_spans_segments() {
        let mut index = index_with(&[1, 1, 2, 2, 2, 3], 2);
        index.truncate(2);
        assert_eq!(index.last_index(), 1);
        assert_eq!(index.term(1), Some(1));
        assert!(index.term(2).is_none());
        index.push_entry(2, 4, 99);
        assert_eq!(index.locate(2).map(|(s, o)| (s.seq, o)), Some((5, 99)));
        assert_eq!(index.term(2), Some(4));
    }

    #[test]
    fn compaction_and_reset() {
        let mut index = index_with(&[1, 1, 2, 2, 2, 3], 2);
        index.compact(4, 2);
        assert_eq!(index.deletable_prefix(4, 7), 2);
        // Segments are numbered 1, 3, 5 here.
        assert_eq!(
            index.deletable_prefix(4, 3),
            1,
            "never the record's segment or later"
        );
        assert_eq!(index.deletable_prefix(4, 1), 0);
        index.reset(10, 7);
        assert_eq!((index.last_index(), index.term(10)), (10, Some(7)));
        assert!(index.locate(5).is_none());
    }
}
