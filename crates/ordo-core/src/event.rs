//! What happened inside the core that an operator wants to see: elections,
//! leader and term changes, step-downs, followers whose log went backwards,
//! messages refused for their term, snapshots refused for their size,
//! repairs finished, and removal from the group.
//!
//! Events ride in [`Actions::events`](crate::Actions::events), in the order
//! they happened. They are for logs and metrics only: the core needs nothing
//! done about them (a [`Event::RepairFinished`] lets the driver forget a
//! durable repair point, which is safe to do late or never). Nothing is
//! allocated when nothing happened, and a flood of refused messages yields
//! one event per batch of actions, not one per message.

use crate::types::{Index, NodeId, Term};

/// Why a node started an election.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElectionReason {
    /// Its election timer ran out without word from a leader.
    Timeout,
    /// Its leader handed leadership to it (TimeoutNow).
    Transfer,
    /// The driver asked ([`Raft::campaign`](crate::Raft::campaign)).
    Requested,
    /// This node led, and a departed peer it replicates to answered its
    /// appends in a higher term (they are stale to it): the leader campaigns
    /// in that term at once, so that its appends reach the removed node (see
    /// `raft/removal.rs`, rule 4).
    RemovedNodeTerm,
}

/// Why a leader stopped leading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepDownReason {
    /// It heard from no quorum within an election timeout (check-quorum).
    QuorumLost,
    /// A committed configuration no longer counts it among the voters.
    Removed,
    /// A message carried a higher term: another leader may exist.
    HigherTerm,
    /// Its storage may have lost acknowledged entries
    /// ([`Raft::begin_repair`](crate::Raft::begin_repair)).
    Repair,
    /// A departed peer it replicates to answered its appends in a higher
    /// term: the leader campaigns in that term at once
    /// ([`ElectionReason::RemovedNodeTerm`]).
    RemovedNodeTerm,
}

/// One thing worth a log line and a counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A (pre-)election started for `term` (with pre-vote, the term asked
    /// about, not yet entered).
    ElectionStarted {
        /// The term the election is for.
        term: Term,
        /// Why it started.
        reason: ElectionReason,
        /// True for a pre-vote round, which changes no term.
        pre_vote: bool,
    },
    /// A pre-vote round ended: `granted` if a quorum would vote for this node
    /// in `term` (a real election follows), false if it lost.
    PreVoteFinished {
        /// The term asked about.
        term: Term,
        /// Whether a quorum granted it.
        granted: bool,
    },
    /// This node won the election for `term`.
    BecameLeader {
        /// Its term.
        term: Term,
        /// Its last log index at that moment (the no-op follows it).
        last_index: Index,
    },
    /// The node entered a higher term.
    TermChanged {
        /// The term it left.
        from: Term,
        /// The term it entered.
        to: Term,
    },
    /// The node was leader of `term` and is not any more.
    SteppedDown {
        /// The term it led.
        term: Term,
        /// Why.
        reason: StepDownReason,
    },
    /// A follower rejected a probe at an index it had acknowledged: its log
    /// now ends before entries it once reported durable (its storage lost
    /// them, or a reordered old answer looked like it). The leader reset its
    /// progress and repairs it from `log_ends`.
    FollowerLogWentBack {
        /// The follower.
        follower: NodeId,
        /// The highest index it had acknowledged.
        acknowledged: Index,
        /// Where its log ends now, by its own answer.
        log_ends: Index,
    },
    /// Messages refused because their term was too far above this node's
    /// own ([`Config::max_term_jump`](crate::Config::max_term_jump)) or at the
    /// term cap: only forged or corrupted messages carry such terms. One event
    /// sums every refusal since the last batch of actions.
    MessagesRefusedForTerm {
        /// How many were refused.
        count: u64,
        /// The sender of the last one.
        last_from: NodeId,
        /// Its term.
        last_term: Term,
    },
    /// A leader's snapshot was refused: it announced more data than
    /// [`Config::max_snapshot_bytes`](crate::Config::max_snapshot_bytes).
    /// Nothing of it was kept; the node stays behind until the leader sends
    /// a smaller one or the limit is raised. Reported once per snapshot
    /// (the leader resends its first chunk; each is counted in
    /// [`Status::refused_snapshot_chunks`](crate::Status::refused_snapshot_chunks)).
    SnapshotRefusedForSize {
        /// The leader that sent it.
        from: NodeId,
        /// Its last index.
        snapshot_index: Index,
        /// The data bytes it announced.
        data_bytes: u64,
        /// The limit.
        max_bytes: u64,
    },
    /// The log is durable through the repair point again: the node votes and
    /// campaigns again. The driver may forget the durable repair point.
    RepairFinished {
        /// The repair point reached.
        through: Index,
    },
    /// This node learned that a committed configuration leaves it out: it
    /// was removed from the group and never campaigns again (unless a later
    /// configuration adds it back). Reported once per configuration.
    Removed {
        /// The index of the configuration entry that leaves it out.
        config_index: Index,
    },
}
