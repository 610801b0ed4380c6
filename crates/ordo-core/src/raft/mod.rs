//! [`Raft`]: one node of one Raft group, as a deterministic state machine.
//!
//! # A tour
//! Inputs are method calls: [`Raft::tick`] (logical time), [`Raft::step`] (a
//! message from a peer), [`Raft::propose`], [`Raft::campaign`], and the
//! completions [`Raft::persisted`] and [`Raft::applied`]. Each may queue work;
//! [`Raft::take_actions`] hands it out as one batch of [`Actions`].
//!
//! [`Raft::step`] applies the rules every role shares first — message
//! validation, term comparison, leader stickiness, vote requests — in one
//! place ([`step`](self::step)); only then does the role's own logic run:
//! [`follower`](self::follower) (appends and heartbeats),
//! [`election`](self::election) (pre-candidates and candidates),
//! [`leader`](self::leader) (replication, commit, snapshot sending, reads,
//! membership and transfer, one file each). Each role's
//! state lives in its own type: only a leader has a progress tracker.
//!
//! # Durability
//! The core never assumes a write is durable before [`Raft::persisted`] says
//! so: votes and append acknowledgements are held in the outbox until then,
//! the leader counts itself toward a commit quorum only up to its durable
//! index, and only durable committed entries are handed out to apply.
//!
//! # Reads
//! [`Raft::read_index`] confirms reads without log entries (ReadIndex, and
//! leases when enabled); see [`read_only`](self::read_only).
//!
//! # Membership and leadership transfer
//! [`Raft::change_membership`] (learners, single-server changes, joint
//! consensus) and [`Raft::transfer_leadership`]; see
//! [`config_history`](self::config_history) and the leader module. A
//! removed node learns it was removed even when the messages that would
//! have told it are lost: see [`removal`](self::removal).
//!
//! # Snapshots
//! The core asks for snapshots, permits compaction, and runs chunked,
//! resumable transfers; the driver moves the bytes. See
//! [`snapshots`](self::snapshots) and [`crate::SnapshotMeta`].

mod config_history;
mod election;
mod follower;
mod leader;
mod node;
mod outbox;
mod read_only;
mod removal;
mod repair;
mod snapshots;
mod step;

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::actions::{Actions, Persist, PersistId};
use crate::config::Config;
use crate::error::{ChangeError, Error, ProposeError, ReadError, StartError, TransferError};
use crate::event::ElectionReason;
use crate::hard_state::HardState;
use crate::log::LogRead;
use crate::membership::{Membership, MembershipChange};
use crate::message::{MessageBody, ReadIndexRequest};
use crate::snapshot::{PartialSnapshot, SnapshotMeta};
use crate::status::{Role, SoftState, Status};
use crate::types::{Index, NodeId, Term};

use self::election::CandidateState;
use self::leader::LeaderState;
use self::node::Node;
pub use self::step::MAX_TERM;

/// What a node restarts from: its durable hard state, the membership it last
/// knew, and where its state machine is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InitialState {
    /// The durable term and vote.
    pub hard_state: HardState,
    /// The group's members.
    pub membership: Membership,
    /// The state machine has applied every entry up to here; they are not
    /// handed out again.
    pub applied: Index,
    /// The newest durable snapshot, if any (`membership` is then its
    /// membership, and `applied` at least its index).
    pub snapshot: Option<SnapshotMeta>,
    /// A snapshot partly received from a leader before a restart.
    pub partial_snapshot: Option<PartialSnapshot>,
}

/// The accepted part of a proposal: its entries occupy `first_index ..=
/// last_index` in `term`. It is applied only if those indexes are applied with
/// that term; if they are truncated or applied with another term, it was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// Index of the first entry.
    pub first_index: Index,
    /// Index of the last entry.
    pub last_index: Index,
    /// The term the entries were appended in.
    pub term: Term,
}

/// How a read is confirmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReadMode {
    /// Confirm leadership with a heartbeat round (one round trip to a quorum).
    ReadIndex,
    /// Answer at once while the leader's lease holds; relies on clocks
    /// drifting less than `lease_clock_drift_ticks` per election timeout.
    Lease,
}

/// The state a node holds only in its current role.
#[derive(Debug)]
enum RoleState {
    Follower,
    PreCandidate(CandidateState),
    Candidate(CandidateState),
    Leader(Box<LeaderState>),
}

/// One Raft node: feed it inputs, carry out its actions.
///
/// ```
/// use ordo_core::{Config, InitialState, MemoryLog, Membership, Raft, Role};
///
/// // A one-node group elects itself once its vote is durable.
/// let config = Config { node_id: 1, ..Config::default() };
/// let initial = InitialState { membership: Membership::with_voters([1]), ..Default::default() };
/// let mut raft = Raft::new(config, MemoryLog::new(), initial).unwrap();
/// raft.campaign().unwrap();
/// let actions = raft.take_actions().unwrap();
/// let persist = actions.persist.expect("term and vote must be written first");
/// raft.log_store_mut().apply(&persist);
/// raft.persisted(persist.id).unwrap();
/// assert_eq!(raft.status().role, Role::Leader);
/// ```
#[derive(Debug)]
pub struct Raft<L> {
    node: Node<L>,
    role: RoleState,
    /// The soft state last reported in [`Actions::soft_state`].
    reported: SoftState,
}

impl<L: LogRead> Raft<L> {
    /// A node over the log in `store`, restarting from `initial`.
    ///
    /// `initial.membership` is the configuration at the store's compaction
    /// point (for a new group, its initial members); configuration entries
    /// after it are read back from the log. A node that knows no voters (a
    /// new node waiting to be added) never campaigns; it follows whichever
    /// leader contacts it.
    ///
    /// # Errors
    /// [`StartError::Config`] if `config` breaks a rule;
    /// [`StartError::Storage`] if the log cannot be read.
    pub fn new(config: Config, store: L, initial: InitialState) -> Result<Self, StartError> {
        config.validate()?;
        let node = Node::new(
            config,
            store,
            initial.hard_state,
            initial.membership,
            initial.applied,
            (initial.snapshot, initial.partial_snapshot),
        )?;
        let reported = SoftState {
            role: Role::Follower,
            term: node.term,
            leader: None,
        };
        Ok(Raft {
            node,
            role: RoleState::Follower,
            reported,
        })
    }

    /// Advances logical time by one tick: elections time out, leaders send
    /// heartbeats and check their quorum.
    ///
    /// # Errors
    /// A fatal storage failure; [`Error::TermsExhausted`] when an election
    /// would need a term at the cap (stop the node).
    pub fn tick(&mut self) -> Result<(), Error> {
        let node = &mut self.node;
        node.ticks_since_start = node.ticks_since_start.saturating_add(1);
        node.leader_contact_elapsed_ticks = node.leader_contact_elapsed_ticks.saturating_add(1);
        match self.role {
            RoleState::Leader(_) => self.tick_leader(),
            _ => self.tick_election(),
        }
    }

    /// Changes the membership: adds a learner, promotes or removes a member,
    /// or replaces the configuration. A change of one voter takes effect
    /// directly; a change of several goes through joint consensus, and the
    /// leader finishes it (appends C_new) once C_old,new commits. One change
    /// at a time. A leader that removes itself steps down once the change
    /// commits.
    ///
    /// # Errors
    /// [`ChangeError`]: not the leader, another change in progress, a new
    /// leader not ready yet, a transfer in progress, or an invalid change.
    pub fn change_membership(&mut self, change: MembershipChange) -> Result<Proposal, ChangeError> {
        let RoleState::Leader(leader) = &mut self.role else {
            return Err(ChangeError::NotLeader {
                leader: self.node.leader_id,
            });
        };
        leader.change_membership(&mut self.node, &change)
    }

    /// Starts an election now instead of waiting for the timeout (through
    /// pre-vote when enabled). Does nothing on a leader, a non-voter, or a
    /// node under repair ([`Raft::begin_repair`]).
    ///
    /// # Errors
    /// A fatal storage failure; [`Error::TermsExhausted`] when the term has
    /// reached the cap (the node must stop).
    pub fn campaign(&mut self) -> Result<(), Error> {
        if matches!(self.role, RoleState::Leader(_)) {
            return Ok(());
        }
        self.start_election(ElectionReason::Requested)
    }

    /// Proposes application commands, appended as consecutive entries.
    ///
    /// # Errors
    /// [`ProposeError::NotLeader`] on a non-leader, [`ProposeError::Busy`] when
    /// the uncommitted backlog is full; nothing is appended in either case.
    pub fn propose(
        &mut self,
        commands: impl IntoIterator<Item = Bytes>,
    ) -> Result<Proposal, ProposeError> {
        self.propose_commands(commands)
    }

    /// Asks for linearizable reads, identified by the caller's `request_ids`.
    /// Each is answered in [`Actions::reads`] with the index the state machine
    /// must reach before serving it, or in [`Actions::failed_reads`] if
    /// leadership changes first. A follower forwards them to its leader.
    ///
    /// [`ReadMode::Lease`] answers at once on a leader holding a valid lease
    /// (only with `lease_reads` on; otherwise, and on followers, it is served
    /// as [`ReadMode::ReadIndex`]).
    ///
    /// # Errors
    /// [`ReadError::NoLeader`] when no leader is known: retry after an
    /// election. A fatal storage failure.
    pub fn read_index(
        &mut self,
        request_ids: impl IntoIterator<Item = u64>,
        mode: ReadMode,
    ) -> Result<(), ReadError> {
        if let RoleState::Leader(leader) = &mut self.role {
            let own_id = self.node.id();
            return Ok(leader.read(&mut self.node, own_id, request_ids, mode)?);
        }
        match self.node.leader_id {
            Some(leader) => {
                let request_ids: Vec<u64> = request_ids.into_iter().collect();
                self.node.forwarded_reads.extend(&request_ids);
                self.node.send(
                    leader,
                    MessageBody::ReadIndex(ReadIndexRequest { request_ids }),
                );
                Ok(())
            }
            None => Err(ReadError::NoLeader),
        }
    }

    /// Hands leadership to `target`: the leader stops taking proposals, brings
    /// the target up to date, and tells it to campaign at once (TimeoutNow).
    /// If that has not happened within the minimum election timeout, the
    /// transfer is abandoned and this node leads on. Transferring to itself
    /// does nothing.
    ///
    /// # Errors
    /// [`TransferError::NotLeader`] on a non-leader, [`TransferError::NotAVoter`]
    /// for a target that cannot be elected.
    pub fn transfer_leadership(&mut self, target: NodeId) -> Result<(), TransferError> {
        let RoleState::Leader(leader) = &mut self.role else {
            return Err(TransferError::NotLeader {
                leader: self.node.leader_id,
            });
        };
        if target == self.node.id() {
            return Ok(());
        }
        if !self.node.voters.contains(target) {
            return Err(TransferError::NotAVoter { target });
        }
        Ok(leader.start_transfer(&mut self.node, target)?)
    }

    /// Storage made the persist action `id`, and every earlier one, durable.
    ///
    /// # Panics
    /// If `id` was never handed out.
    ///
    /// # Errors
    /// A fatal storage failure.
    pub fn persisted(&mut self, id: PersistId) -> Result<(), Error> {
        let completed = self.node.outbox.complete(id);
        for (index, term) in completed.last_entries {
            self.node
                .log
                .stable_to(index, term, completed.overwrite_pending_above);
        }
        for message in completed.released {
            if message.to == self.node.id() {
                // Only a candidate's vote for itself is addressed to itself.
                self.receive_own_vote(message)?;
            } else {
                self.node.outbox.send(message);
            }
        }
        self.on_durable_index_changed()?;
        self.maintain_membership()
    }

    /// The state machine applied every entry up to `index`.
    ///
    /// # Panics
    /// If `index` was never handed out to apply.
    pub fn applied(&mut self, index: Index) {
        self.node.log.applied_to(index);
    }

    /// The transport could not reach `peer`: stop streaming to it and probe.
    pub fn report_unreachable(&mut self, peer: NodeId) {
        if let RoleState::Leader(leader) = &mut self.role {
            leader.peer_unreachable(peer);
        }
    }

    /// Collects everything to do since the last call.
    ///
    /// # Errors
    /// A fatal storage failure while reading entries to apply.
    pub fn take_actions(&mut self) -> Result<Actions, Error> {
        let persist = self.take_persist();
        self.maybe_request_snapshot();
        self.maybe_install_snapshot();
        let snapshot_out = std::mem::take(&mut self.node.snapshot_out);
        // Nothing is applied while a received snapshot waits to replace the
        // state machine: it covers every entry that could be, and applying
        // one after the restore would take the state machine back in time.
        let apply = if self.installing_snapshot() {
            Vec::new()
        } else {
            self.node
                .log
                .take_entries_to_apply(self.node.config.max_apply_bytes)?
        };
        let soft_state = self.soft_state();
        let soft_state_changed = soft_state != self.reported;
        self.reported = soft_state;
        Ok(Actions {
            persist,
            messages: self.node.outbox.take_ready(),
            apply,
            soft_state: soft_state_changed.then_some(soft_state),
            truncated_from: self.node.truncated_from.take(),
            membership: std::mem::take(&mut self.node.membership_changed)
                .then(|| self.node.membership.clone()),
            build_snapshot: snapshot_out.build,
            compact_log_through: snapshot_out.compact_through,
            snapshot_reads: snapshot_out.reads,
            snapshot_writes: snapshot_out.writes,
            install_snapshot: snapshot_out.install,
            reads: std::mem::take(&mut self.node.ready_reads),
            failed_reads: std::mem::take(&mut self.node.failed_reads),
            events: self.node.take_events(),
        })
    }

    fn take_persist(&mut self) -> Option<Persist> {
        if !self.node.has_unissued_writes() {
            return None;
        }
        let hard_state = self.node.hard_state();
        let hard_state_changed = hard_state != self.node.outbox.issued_hard_state();
        let entries = self.node.log.take_unpersisted();
        let span = entries
            .first()
            .zip(entries.last())
            .map(|(first, last)| (first.index, (last.index, last.term)));
        let id = self.node.outbox.issue(hard_state, span);
        Some(Persist {
            id,
            hard_state: hard_state_changed.then_some(hard_state),
            entries,
        })
    }

    /// Role, term and leader.
    pub fn soft_state(&self) -> SoftState {
        SoftState {
            role: self.role(),
            term: self.node.term,
            leader: self.node.leader_id,
        }
    }

    /// The current role.
    pub fn role(&self) -> Role {
        match self.role {
            RoleState::Follower => Role::Follower,
            RoleState::PreCandidate(_) => Role::PreCandidate,
            RoleState::Candidate(_) => Role::Candidate,
            RoleState::Leader(_) => Role::Leader,
        }
    }

    /// A full picture of the node, for metrics, tests and debugging.
    pub fn status(&self) -> Status {
        let (progress, leader_reads, transferring_to) = match &self.role {
            RoleState::Leader(leader) => (
                leader.peer_progress(),
                leader.pending_reads(),
                leader.transfer_target(),
            ),
            _ => (BTreeMap::new(), 0, None),
        };
        Status {
            id: self.node.id(),
            role: self.role(),
            term: self.node.term,
            voted_for: self.node.voted_for,
            leader: self.node.leader_id,
            last_index: self.node.log.last_index(),
            durable_index: self.node.log.durable_index(),
            commit_index: self.node.log.committed(),
            applied_index: self.node.log.applied(),
            progress,
            held_messages: self.node.outbox.held_count(),
            protocol_violations: self.node.protocol_violations,
            pending_reads: leader_reads + self.node.forwarded_reads.len(),
            transferring_to,
            refused_term_messages: self.node.refused_term_messages,
            refused_snapshot_chunks: self.node.refused_snapshot_chunks,
            repair_point: self.node.repair_through,
            removed: self.node.removed_by().is_some(),
        }
    }

    /// The log storage reader.
    pub fn log_store(&self) -> &L {
        self.node.log.store()
    }

    /// The log storage reader, mutably: a single-threaded driver (the
    /// simulator, tests) writes persist actions through it.
    pub fn log_store_mut(&mut self) -> &mut L {
        self.node.log.store_mut()
    }

    /// Entries in `low..high` as the node sees its log (durable or not).
    ///
    /// # Errors
    /// A storage read failure, or a compacted range.
    pub fn entries(&self, low: Index, high: Index) -> Result<Vec<crate::entry::Entry>, Error> {
        Ok(self.node.log.entries(low, high, u64::MAX)?)
    }

    /// The membership this node currently follows.
    pub fn membership(&self) -> &Membership {
        &self.node.membership
    }

    /// True if `id` is a member of any configuration this node's log holds:
    /// the one at its base (snapshot or initial) or any configuration entry
    /// after it, committed or not. False for a node whose only addition was
    /// truncated from this log (a driver need not keep a link to it).
    pub fn in_any_configuration(&self, id: NodeId) -> bool {
        self.node.history.ever_contains(id)
    }

    fn on_durable_index_changed(&mut self) -> Result<(), Error> {
        self.finish_repair_if_durable();
        if let RoleState::Leader(leader) = &mut self.role {
            leader.self_durable(&mut self.node)?;
        }
        Ok(())
    }
}
