//! One follower's replication progress, as its leader sees it.

use crate::progress::Inflights;
use crate::types::Index;

/// How the leader is currently replicating to a peer (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProgressState {
    /// Looking for the point where the logs match, one message at a time.
    Probe,
    /// Streaming entries, bounded by the in-flight window.
    Replicate,
    /// Sending a snapshot: the entries the peer needs were compacted away.
    Snapshot,
}

/// The leader's view of one peer's log.
///
/// Invariant: `match_index < next_index`. Entries up to `match_index` are known
/// to be durably identical on the peer; `next_index` is the next entry to send.
#[derive(Clone, Debug)]
pub(crate) struct Progress {
    /// Highest index known to be replicated (durably) on the peer.
    pub(crate) match_index: Index,
    /// Index of the next entry to send.
    pub(crate) next_index: Index,
    /// Probe or replicate.
    pub(crate) state: ProgressState,
    /// In probe state: an append was sent and its answer is awaited.
    pub(crate) probe_sent: bool,
    /// Unacknowledged appends (replicate state).
    pub(crate) inflights: Inflights,
    /// The peer was heard from since the last check-quorum round.
    pub(crate) recently_active: bool,
    /// In snapshot state: which snapshot, the next byte to send, and whether
    /// a chunk is on its way.
    pub(crate) snapshot: SnapshotSend,
}

/// Progress of a snapshot transfer to one peer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SnapshotSend {
    pub(crate) index: Index,
    pub(crate) offset: u64,
    pub(crate) chunk_in_flight: bool,
}

impl Progress {
    /// A peer about which nothing is known yet: probe from `next_index`.
    pub(crate) fn new(next_index: Index, inflights: Inflights) -> Self {
        Progress {
            match_index: 0,
            next_index,
            state: ProgressState::Probe,
            probe_sent: false,
            inflights,
            recently_active: false,
            snapshot: SnapshotSend::default(),
        }
    }

    /// True when no append may be sent now.
    pub(crate) fn is_paused(&self) -> bool {
        match self.state {
            ProgressState::Probe => self.probe_sent,
            ProgressState::Replicate => self.inflights.is_full(),
            ProgressState::Snapshot => true,
        }
    }

    /// Switches to probing from just after the match point.
    pub(crate) fn become_probe(&mut self) {
        self.state = ProgressState::Probe;
        self.next_index = self.match_index + 1;
        self.probe_sent = false;
        self.inflights.reset();
    }

    /// Switches to streaming from just after the match point.
    pub(crate) fn become_replicate(&mut self) {
        self.state = ProgressState::Replicate;
        self.next_index = self.match_index + 1;
        self.probe_sent = false;
        self.inflights.reset();
    }

    /// Switches to sending the snapshot at `index`, from its first byte.
    pub(crate) fn become_snapshot(&mut self, index: Index) {
        self.state = ProgressState::Snapshot;
        self.probe_sent = false;
        self.inflights.reset();
        self.snapshot = SnapshotSend {
            index,
            offset: 0,
            chunk_in_flight: false,
        };
    }

    /// Records that an append ending at `last_index` (or carrying no entries if
    /// `entries` is 0) and holding `bytes` was sent.
    pub(crate) fn sent_append(&mut self, last_index: Index, entries: usize, bytes: u64) {
        match self.state {
            ProgressState::Replicate => {
                if entries > 0 {
                    self.next_index = last_index + 1;
                    self.inflights.add(last_index, bytes);
                }
            }
            ProgressState::Probe => self.probe_sent = true,
            ProgressState::Snapshot => {}
        }
    }

    /// The peer acknowledged its log matches up to `index`. Returns true if
    /// that is news (`match_index` grew). An old acknowledgement changes nothing.
    pub(crate) fn acknowledge(&mut self, index: Index) -> bool {
        let grew = index > self.match_index;
        if grew {
            self.match_index = index;
            self.probe_sent = false;
        }
        self.next_index = self.next_index.max(index + 1);
        self.inflights.free_up_to(index);
        grew
    }

    /// The peer rejected an append whose previous index was `rejected`; it
    /// suggests probing at `probe_index` next. Returns false when the
    /// rejection is stale (answers an append sent before something newer).
    pub(crate) fn reject(&mut self, rejected: Index, probe_index: Index) -> bool {
        match self.state {
            ProgressState::Snapshot => false,
            ProgressState::Replicate => {
                // Everything up to match_index is known good; a rejection at or
                // below it is a reordered answer to an old message.
                if rejected <= self.match_index {
                    return false;
                }
                self.become_probe();
                true
            }
            ProgressState::Probe => {
                // Only the answer to the probe just sent is meaningful.
                if rejected.checked_add(1) != Some(self.next_index) {
                    return false;
                }
                let next = probe_index.saturating_add(1).min(rejected);
                self.next_index = next.max(self.match_index + 1);
                self.probe_sent = false;
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(next: Index) -> Progress {
        Progress::new(next, Inflights::new(4, 1 << 20))
    }

    #[test]
    fn probe_sends_one_message_at_a_time() {
        let mut p = progress(10);
        assert!(!p.is_paused());
        p.sent_append(12, 3, 30);
        assert!(p.is_paused());
        assert_eq!(p.next_index, 10, "probe does not advance optimistically");
    }

    #[test]
    fn replicate_advances_optimistically() {
        let mut p = progress(10);
        p.acknowledge(9);
        p.become_replicate();
        p.sent_append(12, 3, 30);
        assert_eq!(p.next_index, 13);
        assert_eq!(p.inflights.count(), 1);
        assert!(p.acknowledge(12));
        assert_eq!(p.inflights.count(), 0);
    }

    #[test]
    fn a_hinted_rejection_jumps_back_but_never_below_the_match() {
        let mut p = progress(100);
        p.match_index = 20;
        assert!(p.reject(99, 40));
        assert_eq!(p.next_index, 41);
        p.sent_append(45, 5, 0);
        assert!(p.reject(40, 5));
        assert_eq!(p.next_index, 21);
    }

    #[test]
    fn stale_rejections_are_ignored() {
        let mut p = progress(50);
        assert!(!p.reject(30, 10), "not the probe just sent");
        p.acknowledge(49);
        p.become_replicate();
        assert!(!p.reject(45, 10), "below the match index");
    }
}
