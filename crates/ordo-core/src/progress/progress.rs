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
    /// Heartbeat answers since the chunk in flight was sent: the peer is
    /// alive but has not answered it (it may be writing it, or it was lost).
    pub(crate) heartbeats_since_chunk: u64,
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
            heartbeats_since_chunk: 0,
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

    /// The peer rejected an append whose previous index was `rejected`; by its
    /// hint its log ends at or before `hint_index`, and the leader's own log
    /// suggests probing at `probe_index` next.
    ///
    /// A rejection of an append sent before `match_index` grew is stale and
    /// changes nothing. One at or above `match_index` while streaming means
    /// appends were lost, or the follower lost entries: probe from the match
    /// point, whose answer tells which. A rejected probe whose hint is below
    /// `match_index` means the follower's log went back before entries it
    /// acknowledged (its storage lost them): forget the match (lowering a
    /// match never lowers the commit index) and probe from where its log
    /// ends. A duplicated old rejection can look the same; resetting is safe
    /// either way and costs one re-sent stretch of log.
    pub(crate) fn reject(
        &mut self,
        rejected: Index,
        hint_index: Index,
        probe_index: Index,
    ) -> Rejection {
        match self.state {
            ProgressState::Snapshot => Rejection::Stale,
            ProgressState::Replicate => {
                if rejected < self.match_index {
                    return Rejection::Stale;
                }
                self.become_probe();
                Rejection::Probe
            }
            ProgressState::Probe => {
                // Only the answer to the probe just sent is meaningful.
                if rejected.checked_add(1) != Some(self.next_index) {
                    return Rejection::Stale;
                }
                let next = probe_index.saturating_add(1).min(rejected);
                self.probe_sent = false;
                if hint_index < self.match_index {
                    let acknowledged = self.match_index;
                    self.match_index = 0;
                    self.next_index = next.max(1);
                    return Rejection::LogWentBack { acknowledged };
                }
                self.next_index = next.max(self.match_index + 1);
                Rejection::Probe
            }
        }
    }
}

/// What a rejection told the leader about a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// An answer to an older append: nothing changes.
    Stale,
    /// Probe again from the (new) next index.
    Probe,
    /// The peer's log ends before `acknowledged`, the highest index it had
    /// acknowledged; its progress was reset and probing starts over.
    LogWentBack {
        /// The match index before the reset.
        acknowledged: Index,
    },
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
        assert_eq!(p.reject(99, 40, 40), Rejection::Probe);
        assert_eq!(p.next_index, 41);
        p.sent_append(45, 5, 0);
        // The leader's own log suggests 5, but the follower's log reaches 20.
        assert_eq!(p.reject(40, 30, 5), Rejection::Probe);
        assert_eq!(p.next_index, 21);
    }

    #[test]
    fn stale_rejections_are_ignored() {
        let mut p = progress(50);
        assert_eq!(
            p.reject(30, 10, 10),
            Rejection::Stale,
            "not the probe just sent"
        );
        p.acknowledge(49);
        p.become_replicate();
        assert_eq!(
            p.reject(45, 10, 10),
            Rejection::Stale,
            "below the match index"
        );
        assert_eq!(p.match_index, 49);
    }

    /// A follower acknowledged 1..=20, then lost 16..=20 from its storage:
    /// the leader must not probe at 20 forever (issue 11, bug 2).
    #[test]
    fn a_follower_whose_log_went_back_is_reset_and_probed_where_it_ends() {
        let mut p = progress(21);
        p.acknowledge(20);
        p.become_replicate();
        // Streaming: the rejection of prev=20 only says "probe".
        assert_eq!(p.reject(20, 15, 15), Rejection::Probe);
        assert_eq!((p.match_index, p.next_index), (20, 21));
        p.sent_append(20, 0, 0);
        // The probe at the match point is rejected: its log ends at 15.
        assert_eq!(
            p.reject(20, 15, 15),
            Rejection::LogWentBack { acknowledged: 20 }
        );
        assert_eq!((p.match_index, p.next_index), (0, 16));
        assert!(!p.is_paused(), "the next probe goes out at once");
        p.sent_append(15, 0, 0);
        assert!(p.acknowledge(15), "its answer sets the match again");
        assert_eq!(p.match_index, 15);
    }

    #[test]
    fn a_follower_that_lost_its_whole_log_is_probed_from_the_start() {
        let mut p = progress(11);
        p.acknowledge(10);
        assert_eq!(
            p.reject(10, 0, 0),
            Rejection::LogWentBack { acknowledged: 10 }
        );
        assert_eq!((p.match_index, p.next_index), (0, 1));
    }
}
