//! The configurations in the log, so a truncated configuration entry can be
//! undone.
//!
//! A configuration entry takes effect as soon as it is appended, committed or
//! not (Raft dissertation §4.1). So when a follower's conflicting suffix is
//! overwritten, any configuration entry in it must be forgotten and the one
//! before it restored. This keeps every configuration entry since the base
//! (the configuration at the compaction point, or the initial one), newest
//! last.

use crate::entry::{Entry, EntryPayload};
use crate::log::{LogRead, LogReadError, RaftLog};
use crate::membership::Membership;
use crate::types::{Index, NodeId};

/// Invariant: entry indexes strictly increase and all exceed `base_index`.
#[derive(Clone, Debug)]
pub(crate) struct ConfigHistory {
    base_index: Index,
    base: Membership,
    entries: Vec<(Index, Membership)>,
}

/// Bytes of log read per step while recovering the history at start.
const RECOVERY_READ_BYTES: u64 = 4 * 1024 * 1024;

impl ConfigHistory {
    /// The history of a log whose configuration at `base_index` was `base`,
    /// recovered by reading every entry after it.
    pub(crate) fn recover<L: LogRead>(
        base_index: Index,
        base: Membership,
        log: &RaftLog<L>,
    ) -> Result<Self, LogReadError> {
        let mut history = ConfigHistory {
            base_index,
            base,
            entries: Vec::new(),
        };
        let mut next = base_index + 1;
        let end = log.last_index() + 1;
        while next < end {
            let batch = log.entries(next, end, RECOVERY_READ_BYTES)?;
            let Some(last) = batch.last() else { break };
            next = last.index + 1;
            history.append(&batch);
        }
        Ok(history)
    }

    /// A history whose only configuration is `base`, at `base_index` (a log
    /// just replaced by a snapshot).
    pub(crate) fn from_base(base_index: Index, base: Membership) -> Self {
        ConfigHistory {
            base_index,
            base,
            entries: Vec::new(),
        }
    }

    /// The configuration in force: the newest in the log.
    pub(crate) fn current(&self) -> &Membership {
        self.entries.last().map_or(&self.base, |(_, m)| m)
    }

    /// The configuration before the one in force, if the one in force is an
    /// entry of the log.
    pub(crate) fn previous(&self) -> Option<&Membership> {
        match self.entries.len() {
            0 => None,
            1 => Some(&self.base),
            n => Some(&self.entries[n - 2].1),
        }
    }

    /// True if `id` is a member of any configuration this history holds.
    pub(crate) fn ever_contains(&self, id: NodeId) -> bool {
        self.base.contains(id) || self.entries.iter().any(|(_, m)| m.contains(id))
    }

    /// The index of the newest configuration entry (the base index if none).
    pub(crate) fn current_index(&self) -> Index {
        self.entries.last().map_or(self.base_index, |(i, _)| *i)
    }

    /// Forgets configuration entries at `from` and above. Returns true if the
    /// configuration in force changed.
    pub(crate) fn truncate(&mut self, from: Index) -> bool {
        let before = self.entries.len();
        self.entries.retain(|(index, _)| *index < from);
        self.entries.len() != before
    }

    /// Records the configuration entries among `entries` (appended after
    /// everything held). Returns true if the configuration in force changed.
    pub(crate) fn append(&mut self, entries: &[Entry]) -> bool {
        let mut changed = false;
        for entry in entries {
            if let EntryPayload::Membership(membership) = &entry.payload {
                assert!(
                    entry.index > self.current_index(),
                    "configuration entry {} recorded after {}",
                    entry.index,
                    self.current_index()
                );
                self.entries.push((entry.index, membership.clone()));
                changed = true;
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_entry(index: Index, voters: &[u64]) -> Entry {
        Entry {
            index,
            term: 1,
            payload: EntryPayload::Membership(Membership::with_voters(voters.iter().copied())),
        }
    }

    #[test]
    fn truncation_restores_the_previous_configuration() {
        let base = Membership::with_voters([1, 2, 3]);
        let mut history = ConfigHistory {
            base_index: 0,
            base: base.clone(),
            entries: Vec::new(),
        };
        assert!(!history.append(&[Entry::noop(1, 1)]));
        assert!(history.append(&[config_entry(2, &[1, 2, 3, 4])]));
        assert_eq!(history.current_index(), 2);
        assert!(!history.truncate(3));
        assert!(history.truncate(2));
        assert_eq!(history.current(), &base);
        assert_eq!(history.current_index(), 0);
    }
}
