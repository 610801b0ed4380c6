//! State every role shares: identity, term and vote, the log, timers, outbox.

use std::collections::BTreeSet;

use crate::actions::ReadReady;
use crate::config::Config;
use crate::entry::Entry;
use crate::error::Error;
use crate::event::Event;
use crate::hard_state::HardState;
use crate::log::{LogRead, LogReadError, RaftLog};
use crate::membership::Membership;
use crate::message::{Message, MessageBody};
use crate::planted;
use crate::quorum::JointConfig;
use crate::raft::config_history::ConfigHistory;
use crate::raft::outbox::Outbox;
use crate::raft::step::MAX_TERM;
use crate::rng::SplitMix64;
use crate::snapshot::{
    PartialSnapshot, SnapshotContent, SnapshotMeta, SnapshotRead, SnapshotWrite,
};
use crate::types::{Index, NodeId, Term};

/// The role-independent part of a node. Kept apart from the role's own state
/// so a role's logic can borrow both at once.
#[derive(Debug)]
pub(crate) struct Node<L> {
    pub(crate) config: Config,
    /// Current term. Never decreases.
    pub(crate) term: Term,
    /// Vote cast in `term`. Set at most once per term.
    pub(crate) voted_for: Option<NodeId>,
    /// The leader of `term`, once known.
    pub(crate) leader_id: Option<NodeId>,
    /// The configuration in force (the newest in the log).
    pub(crate) membership: Membership,
    /// Every configuration entry in the log, to undo truncated ones.
    pub(crate) history: ConfigHistory,
    /// The configuration changed since the last actions were taken.
    pub(crate) membership_changed: bool,
    /// The voting configuration of `membership`, precomputed.
    pub(crate) voters: JointConfig,
    pub(crate) log: RaftLog<L>,
    pub(crate) outbox: Outbox,
    /// Ticks since the last election-relevant event: for followers and
    /// candidates, contact from a leader or a granted vote; for a leader, the
    /// start of the current check-quorum round.
    pub(crate) election_elapsed_ticks: u64,
    /// This round's election timeout, drawn from the configured range.
    pub(crate) election_timeout_ticks: u64,
    pub(crate) rng: SplitMix64,
    /// Lowest index truncated from the log since the last actions were taken.
    pub(crate) truncated_from: Option<Index>,
    /// Messages dropped because no correct peer could have sent them.
    pub(crate) protocol_violations: u64,
    /// Ticks since this node started (saturating): the lease restart guard.
    pub(crate) ticks_since_start: u64,
    /// Ticks since a leader last contacted this node (saturating; `u64::MAX`
    /// before any contact). Unlike `leader_id`, not reset by a new term: the
    /// refusal to vote a leader's lease rests on outlives learning of a
    /// higher term from a message that names no leader.
    pub(crate) leader_contact_elapsed_ticks: u64,
    /// Reads forwarded to the leader and not yet answered.
    pub(crate) forwarded_reads: BTreeSet<u64>,
    /// Reads confirmed, to hand out with the next actions.
    pub(crate) ready_reads: Vec<ReadReady>,
    /// Reads that failed, to hand out with the next actions.
    pub(crate) failed_reads: Vec<u64>,
    /// The newest durable snapshot of this node's state machine.
    pub(crate) latest_snapshot: Option<SnapshotMeta>,
    /// A snapshot build was asked for and not reported yet.
    pub(crate) snapshot_building: bool,
    /// Snapshot work to hand out with the next actions.
    pub(crate) snapshot_out: SnapshotOutbox,
    /// A snapshot being received from the leader.
    pub(crate) incoming_snapshot: Option<IncomingSnapshot>,
    /// Events to hand out with the next actions.
    pub(crate) events: Vec<Event>,
    /// Messages refused for their term, ever (see [`Node::may_adopt_term`]).
    pub(crate) refused_term_messages: u64,
    /// Refusals since the last actions: count, and the last sender and term.
    pub(crate) refused_since_actions: Option<(u64, NodeId, Term)>,
    /// Snapshot chunks refused for their snapshot's size, ever.
    pub(crate) refused_snapshot_chunks: u64,
    /// The last snapshot refused for its size (index and data bytes), so a
    /// leader resending it yields one event, not one per chunk.
    pub(crate) last_refused_snapshot: Option<(Index, u64)>,
    /// The repair point: while set, this node's storage may lack entries it
    /// acknowledged, up to this index, and it neither votes nor campaigns
    /// (Protocol-Aware Recovery). Cleared once the durable log reaches it.
    pub(crate) repair_through: Option<Index>,
    /// An index a member's [`RemovalNotice`](crate::RemovalNotice) proved
    /// committed (this node holds the entry it named). Used only to decide
    /// that a removal is committed, never to commit or apply anything.
    pub(crate) removal_notice_through: Index,
    /// This node was a member of some configuration it knew: only then can
    /// a configuration leaving it out mean it was removed.
    pub(crate) was_member: bool,
    /// The configuration whose removal of this node was last reported.
    pub(crate) removal_reported: Option<Index>,
    /// The leader named by a removal notice this node could not check: it
    /// is asked for votes too, so that it replicates to this node. Cleared
    /// when a leader contacts this node.
    pub(crate) removal_leader_hint: Option<NodeId>,
    /// Removed nodes that asked this node for votes (at most
    /// `MAX_DEPARTED_PEERS`): if it becomes leader, it replicates to them.
    pub(crate) removed_askers: BTreeSet<NodeId>,
}

/// Snapshot actions waiting to be handed out.
#[derive(Debug, Default)]
pub(crate) struct SnapshotOutbox {
    pub(crate) build: Option<Index>,
    pub(crate) compact_through: Option<Index>,
    pub(crate) reads: Vec<SnapshotRead>,
    pub(crate) writes: Vec<SnapshotWrite>,
    pub(crate) install: Option<SnapshotMeta>,
}

/// A snapshot arriving in chunks.
///
/// Invariant: at most one chunk is being written (`writing`), and it starts
/// at `next_offset`.
#[derive(Debug)]
pub(crate) struct IncomingSnapshot {
    pub(crate) meta: SnapshotMeta,
    /// The bytes it holds, as announced: only chunks announcing the same
    /// continue it.
    pub(crate) content: SnapshotContent,
    /// The leader sending it.
    pub(crate) from: NodeId,
    /// Bytes durably received.
    pub(crate) next_offset: u64,
    /// A chunk handed out for writing: its end offset and whether it is last.
    pub(crate) writing: Option<(u64, bool)>,
    /// Every chunk is durable; the snapshot waits to be installed.
    pub(crate) complete: bool,
    /// The install was handed out and not reported yet.
    pub(crate) installing: bool,
}

impl<L: LogRead> Node<L> {
    /// A node over `store`, whose configuration at the store's compaction
    /// point was `base_membership`; later configuration entries are read back
    /// from the log.
    pub(crate) fn new(
        config: Config,
        store: L,
        hard_state: HardState,
        base_membership: Membership,
        applied: Index,
        snapshots: (Option<SnapshotMeta>, Option<PartialSnapshot>),
    ) -> Result<Self, LogReadError> {
        let (latest_snapshot, partial) = snapshots;
        let rng = SplitMix64::for_node(config.rng_seed, config.node_id);
        let log = RaftLog::new(store, applied);
        let history = ConfigHistory::recover(log.store().first_index() - 1, base_membership, &log)?;
        let membership = history.current().clone();
        let mut node = Node {
            term: hard_state.term,
            voted_for: hard_state.voted_for,
            leader_id: None,
            voters: JointConfig::from_membership(&membership),
            membership,
            history,
            membership_changed: false,
            log,
            outbox: Outbox::new(hard_state),
            election_elapsed_ticks: 0,
            election_timeout_ticks: config.election_timeout_min_ticks,
            rng,
            truncated_from: None,
            protocol_violations: 0,
            ticks_since_start: 0,
            leader_contact_elapsed_ticks: u64::MAX,
            forwarded_reads: BTreeSet::new(),
            ready_reads: Vec::new(),
            failed_reads: Vec::new(),
            latest_snapshot,
            snapshot_building: false,
            snapshot_out: SnapshotOutbox::default(),
            incoming_snapshot: partial.map(|partial| IncomingSnapshot {
                meta: partial.meta,
                content: partial.content,
                from: 0,
                next_offset: partial.received_bytes,
                writing: None,
                complete: false,
                installing: false,
            }),
            events: Vec::new(),
            refused_term_messages: 0,
            refused_since_actions: None,
            refused_snapshot_chunks: 0,
            last_refused_snapshot: None,
            repair_through: None,
            removal_notice_through: 0,
            was_member: false,
            removal_reported: None,
            removal_leader_hint: None,
            removed_askers: BTreeSet::new(),
            config,
        };
        node.was_member = node.history.ever_contains(node.id());
        node.reset_election_timer();
        Ok(node)
    }

    /// The log was rewritten from `written_from` with `written` (entries that
    /// were there from that index on are gone): track configuration entries.
    pub(crate) fn log_rewritten(&mut self, written_from: Index, written: &[Entry]) {
        let truncated = self.history.truncate(written_from);
        let appended = self.history.append(written);
        if truncated || appended {
            self.membership = self.history.current().clone();
            self.voters = JointConfig::from_membership(&self.membership);
            self.membership_changed = true;
            self.was_member |= self.membership.contains(self.id());
        }
    }

    pub(crate) fn id(&self) -> NodeId {
        self.config.node_id
    }

    pub(crate) fn hard_state(&self) -> HardState {
        HardState {
            term: self.term,
            voted_for: self.voted_for,
        }
    }

    /// True if some state must still be handed to a persist action.
    pub(crate) fn has_unissued_writes(&self) -> bool {
        self.hard_state() != self.outbox.issued_hard_state() || self.log.has_unpersisted()
    }

    /// Restarts the election timer with a fresh random timeout.
    pub(crate) fn reset_election_timer(&mut self) {
        self.election_elapsed_ticks = 0;
        self.election_timeout_ticks = self.rng.in_range(
            self.config.election_timeout_min_ticks,
            self.config.election_timeout_max_ticks,
        );
    }

    /// Leader stickiness: a node that heard from a live leader less than the
    /// minimum election timeout ago refuses to help depose it — even if it
    /// has since learned of a higher term with no leader yet. Only with
    /// check-quorum, which guarantees a leader that lost its quorum steps down,
    /// so stickiness can never keep a dead leader in place. (A leader itself
    /// counts as having heard from one.)
    ///
    /// With lease reads on, a node that just started honours whatever lease
    /// it may have granted before a crash, for one minimum election timeout.
    pub(crate) fn in_leader_lease(&self) -> bool {
        let min = self.config.election_timeout_min_ticks;
        let leading = self.leader_id == Some(self.id()) && self.election_elapsed_ticks < min;
        let heard_recently = self.leader_contact_elapsed_ticks < min;
        let just_started = self.config.lease_reads && self.ticks_since_start < min;
        self.config.check_quorum && (leading || heard_recently || just_started)
    }

    /// True if this node may start an election: it votes in the configuration
    /// in force — or it voted in the previous one and the configuration that
    /// removes it is not committed yet. Until then the group may still need it
    /// (its log may be the only up-to-date one); its own vote then does not
    /// count (Raft dissertation §4.1). Once it knows the removal committed
    /// (from its commit index or a member's [`RemovalNotice`](crate::RemovalNotice)),
    /// it never campaigns again.
    pub(crate) fn may_campaign(&self) -> bool {
        let id = self.id();
        if self.voters.contains(id) {
            return true;
        }
        let removal_pending = self.history.current_index() > self.known_committed();
        removal_pending
            && self
                .history
                .previous()
                .is_some_and(|previous| previous.is_voter(id))
    }

    /// The highest index this node knows committed, for judging whether its
    /// configuration is: its commit index, or what a removal notice proved.
    pub(crate) fn known_committed(&self) -> Index {
        self.log.committed().max(self.removal_notice_through)
    }

    /// The index of the committed configuration that removed this node,
    /// once it knows one: it was a member, the configuration in force leaves
    /// it out, and that configuration is known committed.
    pub(crate) fn removed_by(&self) -> Option<Index> {
        let config_index = self.history.current_index();
        let removed = self.was_member
            && !self.membership.contains(self.id())
            && config_index <= self.known_committed();
        removed.then_some(config_index)
    }

    /// Reports [`Event::Removed`] once per configuration that removed this
    /// node.
    fn report_removal(&mut self) {
        self.was_member |= self.membership.contains(self.id());
        let removed_by = self.removed_by();
        if removed_by.is_some() && removed_by != self.removal_reported {
            self.removal_reported = removed_by;
            if let Some(config_index) = removed_by {
                self.events.push(Event::Removed { config_index });
            }
        }
    }

    /// True while the repair point holds this node back from voting and
    /// campaigning (see [`Raft::begin_repair`](crate::Raft::begin_repair)).
    pub(crate) fn repairing(&self) -> bool {
        self.repair_through.is_some() && !planted::VOTE_AFTER_CUT
    }

    /// True if a message of `term`, above this node's own, may move it to
    /// that term: below the cap (a node in a term can campaign for the next
    /// one) and within `max_term_jump` of the current term. Each election
    /// adds one, so no correct peer runs that far ahead; adopting a forged
    /// term near the cap would end elections in the whole group.
    pub(crate) fn may_adopt_term(&self, term: Term) -> bool {
        term < MAX_TERM && term - self.term <= self.config.max_term_jump
    }

    /// Counts a message refused for its term (reported once per batch).
    pub(crate) fn refuse_for_term(&mut self, from: NodeId, term: Term) {
        self.refused_term_messages += 1;
        let count = self.refused_since_actions.map_or(0, |(count, _, _)| count);
        self.refused_since_actions = Some((count + 1, from, term));
    }

    /// The events since the last actions, refusals summed into one.
    pub(crate) fn take_events(&mut self) -> Vec<Event> {
        self.report_removal();
        if let Some((count, last_from, last_term)) = self.refused_since_actions.take() {
            self.events.push(Event::MessagesRefusedForTerm {
                count,
                last_from,
                last_term,
            });
        }
        std::mem::take(&mut self.events)
    }

    /// The term the next election asks for.
    ///
    /// # Errors
    /// [`Error::TermsExhausted`] when it would reach the cap: no correct
    /// peer would adopt it, so the group could never elect a leader again.
    pub(crate) fn next_election_term(&self) -> Result<Term, Error> {
        match self.term.checked_add(1) {
            Some(next) if next < MAX_TERM => Ok(next),
            _ => Err(Error::TermsExhausted {
                term: self.term,
                cap: MAX_TERM,
            }),
        }
    }

    /// Fails every read forwarded to a leader that is no longer ours.
    pub(crate) fn fail_forwarded_reads(&mut self) {
        let failed = std::mem::take(&mut self.forwarded_reads);
        self.failed_reads.extend(failed);
    }

    /// Sends a request that promises nothing, at the current term.
    pub(crate) fn send(&mut self, to: NodeId, body: MessageBody) {
        let message = Message {
            from: self.id(),
            to,
            term: self.term,
            body,
        };
        self.outbox.send(message);
    }

    /// Sends a response with `term` once everything this node has changed so
    /// far (term, vote, appended entries) is durable.
    pub(crate) fn respond_with_term(&mut self, to: NodeId, term: Term, body: MessageBody) {
        let needs = if planted::ACK_BEFORE_DURABLE && to != self.id() {
            0
        } else {
            self.outbox.covering_id(self.has_unissued_writes())
        };
        let message = Message {
            from: self.id(),
            to,
            term,
            body,
        };
        self.outbox.send_after(needs, message);
    }

    /// [`Node::respond_with_term`] at the current term.
    pub(crate) fn respond(&mut self, to: NodeId, body: MessageBody) {
        self.respond_with_term(to, self.term, body);
    }

    /// Records that the log was truncated from `index`.
    pub(crate) fn note_truncation(&mut self, index: Option<Index>) {
        if let Some(index) = index {
            self.truncated_from = Some(self.truncated_from.map_or(index, |t| t.min(index)));
        }
    }
}
