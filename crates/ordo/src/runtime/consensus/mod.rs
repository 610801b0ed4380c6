//! The consensus task: owns the core, feeds it inputs, carries out its actions.
//!
//! One loop, one Tokio task per node:
//!
//! 0. Pass the pause gate (`pause.rs`): open unless a test paused the node.
//! 1. Wait for anything: a message from the transport, a request from a
//!    handle, the first proposal of a batch (`proposals.rs`), a wake-up
//!    from the persistence or apply stage, the next tick.
//! 2. Drain, without waiting, everything else already queued (bounded per
//!    round): storage and apply progress, messages, requests. **This is
//!    where batching happens**: every proposal drained in one round becomes
//!    one [`Raft::propose`] call, so one log append, one persist, one
//!    message per follower; every read drained becomes one
//!    [`Raft::read_index`] call, so one heartbeat round. When proposals
//!    come concurrently (the last batch had several), a round started by a
//!    proposal first yields once, so that callers ready to run queue theirs
//!    and join the batch (`gather`).
//! 3. Feed ticks for the wall time that passed.
//! 4. Take the core's actions once and carry them out, all at once: messages
//!    to the transport, the persist to the persistence thread, committed
//!    entries and confirmed reads to the apply stage. The leader's own disk
//!    write and the appends to followers therefore run in parallel.
//!
//! # Back-pressure
//! Payload handed to storage or the state machine and not yet finished is
//! the backlog. Above [`RaftConfig::max_backlog_bytes`], proposals are
//! answered [`RaftError::Busy`] and arriving appends are dropped (the leader
//! resends them), so neither queue grows without bound; everything else
//! (heartbeats, votes, reads) keeps flowing, so a slow disk or state machine
//! never causes an election by itself.
//!
//! # Time
//! Ticks follow the wall clock: each round feeds as many ticks as whole tick
//! intervals passed since the start, so a stalled task catches up instead of
//! losing time. Losing ticks would make a leader believe its lease lasts
//! longer than it does.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use ordo_core::{
    Actions, ChangeError, Index, MembershipChange, Message, MessageBody, NodeId, Persist,
    PersistId, ProposeError, Raft, ReadError, ReadMode, Role, SnapshotMeta, SoftState,
    TransferError,
};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant as TokioInstant;

use crate::runtime::apply::ApplyInput;
use crate::runtime::config::RaftConfig;
use crate::runtime::envelope::{self, Addresses, RuntimeEntry};
use crate::runtime::error::RaftError;
use crate::runtime::event::{Event, EventSender};
use crate::runtime::persist::PersistJob;
use crate::runtime::proposals::QueueTaker;
use crate::runtime::shared::{Reply, Request, Shared};
use crate::runtime::snapshot_io::SnapshotJob;
use crate::runtime::snapshot_retry::Backoff;
use crate::runtime::state_machine::StateMachine;
use crate::runtime::status::NodeStatus;
use crate::storage::LogStore;
use crate::transport::{Inbound, InboxReceiver, Transport};

mod handoff;
mod observe;
mod snapshots;

pub(crate) use snapshots::SnapshotEvent;

/// Most messages stepped in one round, so requests and ticks are not starved.
const MESSAGES_PER_ROUND_MAX: usize = 4096;
/// Most requests other than proposals (reads, status, ...) handled in one
/// round, so a flood of them cannot starve messages and ticks.
const REQUESTS_PER_ROUND_MAX: usize = 4096;
/// Most ticks fed at once after a stall; more would change nothing.
const TICKS_PER_ROUND_MAX: u64 = 1024;
/// How often (in ticks) forgotten reads are swept.
const READ_SWEEP_TICKS: u64 = 100;

/// How `RaftNode` asked the node to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StopMode {
    /// Hand leadership over first (`RaftNode::stop`).
    Graceful,
    /// At once, as a crash would (`RaftNode::abort`).
    Abort,
}

/// A read the core is confirming: the caller's query and where to answer
/// it (the core's own `PendingRead` is the heartbeat round confirming it).
pub(crate) struct UnconfirmedRead<S: StateMachine> {
    query: S::Query,
    reply: Reply<S::Answer>,
    asked: Instant,
}

/// Proposals gathered in one round, to become one core append.
struct ProposalBatch<S: StateMachine> {
    commands: Vec<S::Command>,
    replies: Vec<Reply<S::Response>>,
    /// Encoded bytes per command of the last batch, to size the next buffer.
    bytes_per_command: usize,
    /// Proposals in the last batch: more than one means callers are
    /// proposing concurrently (see [`gather`]).
    last_count: usize,
}

/// Everything the consensus task owns.
pub(crate) struct Consensus<S: StateMachine> {
    pub(crate) raft: Raft<Arc<dyn LogStore>>,
    pub(crate) config: Arc<RaftConfig>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) requests: mpsc::Receiver<Request<S>>,
    pub(crate) proposals: QueueTaker<S>,
    pub(crate) inbox: InboxReceiver,
    pub(crate) transport: Arc<dyn Transport>,
    pub(crate) persists: Option<std::sync::mpsc::Sender<PersistJob>>,
    /// Chunk reads and writes for snapshot transfers (with a snapshot store).
    pub(crate) snapshot_jobs: Option<std::sync::mpsc::Sender<SnapshotJob>>,
    /// The newest durable snapshot: what chunk reads are read from.
    pub(crate) latest_snapshot: Option<SnapshotMeta>,
    /// Set for a store whose writes never block: written inline, no thread.
    pub(crate) inline_store: Option<Arc<dyn LogStore>>,
    pub(crate) applies: mpsc::UnboundedSender<ApplyInput<S>>,
    pub(crate) events: EventSender,
    pub(crate) state: LoopState,
    /// Reads the core is confirming, by request id.
    pub(crate) reads: HashMap<u64, UnconfirmedRead<S>>,
    /// Callers of `RaftNode::snapshot`, with the applied index the snapshot
    /// must reach for each.
    pub(crate) snapshot_waiters: Vec<(Index, Reply<Index>)>,
    /// When the core may hear that a snapshot build failed, and so ask
    /// for another (see `snapshot_retry.rs`).
    pub(crate) snapshot_backoff: Backoff,
    /// Resolve when the persistence and apply stages have exited.
    pub(crate) threads_done: Vec<oneshot::Receiver<()>>,
}

/// The consensus task's own bookkeeping.
pub(crate) struct LoopState {
    /// Persists handed out and not yet durable: (id, payload bytes, last index).
    persisting: VecDeque<(PersistId, u64, Option<Index>)>,
    durable_id: PersistId,
    /// Apply batches handed out and not yet applied: (last index, bytes).
    applying: VecDeque<(Index, u64)>,
    applied_index: Index,
    backlog_bytes: u64,
    next_read_id: u64,
    soft_state: SoftState,
    started: Instant,
    ticks_fed: u64,
    tick_nanos: u128,
    rejected_messages: u64,
    shed_appends: u64,
    /// This node's address as the log (or the snapshot) last carried it;
    /// what every node that caught up knows of it.
    logged_own_address: Option<String>,
    /// Became leader in this round: log this node's address if the group
    /// does not know it yet.
    announce_address: bool,
    /// What the core reported, counted (`observe.rs`).
    observed: observe::Observed,
}

impl LoopState {
    pub(crate) fn new(
        config: &RaftConfig,
        soft_state: SoftState,
        applied_index: Index,
        logged_own_address: Option<String>,
    ) -> Self {
        LoopState {
            persisting: VecDeque::new(),
            durable_id: 0,
            applying: VecDeque::new(),
            applied_index,
            backlog_bytes: 0,
            next_read_id: 0,
            soft_state,
            started: Instant::now(),
            ticks_fed: 0,
            tick_nanos: config.tick_interval.as_nanos().max(1),
            rejected_messages: 0,
            shed_appends: 0,
            logged_own_address,
            announce_address: false,
            observed: observe::Observed::default(),
        }
    }
}

impl<S: StateMachine> Consensus<S> {
    /// Runs until stopped (or failed), then shuts everything down.
    pub(crate) async fn run(mut self, stop: oneshot::Receiver<StopMode>) {
        let outcome = self.run_loop(stop).await;
        let shared = Arc::clone(&self.shared);
        // Consumes the task's state: the log store and transport are released
        // before the node reports itself stopped, so a restart can reopen them.
        self.shutdown(outcome).await;
        shared.stopped.send_replace(true);
    }

    async fn run_loop(&mut self, mut stop: oneshot::Receiver<StopMode>) -> Result<(), RaftError> {
        let mut batch = ProposalBatch {
            commands: Vec::new(),
            replies: Vec::new(),
            bytes_per_command: 16,
            last_count: 0,
        };
        let sleep = tokio::time::sleep_until(self.next_tick_deadline());
        tokio::pin!(sleep);
        // Set once asked to stop while leading: the loop runs on until
        // another node leads (see `handoff.rs`).
        let mut handoff = None;
        loop {
            // `RaftNode::pause` (see `pause.rs`); stopping resumes first.
            self.shared.pause.pass().await;
            tokio::select! {
                biased;
                mode = &mut stop, if handoff.is_none() => match mode {
                    Ok(StopMode::Abort) => return Ok(()),
                    Ok(StopMode::Graceful) | Err(_) => match self.begin_handoff()? {
                        Some(started) => handoff = Some(started),
                        None => return Ok(()),
                    },
                },
                () = self.shared.wake.notified() => {}
                inbound = self.inbox.recv() => match inbound {
                    Some(inbound) => self.on_inbound(inbound)?,
                    None => return Ok(()),
                },
                request = self.requests.recv() => match request {
                    Some(request) => self.on_request(request)?,
                    // Every handle was dropped: nobody can use the node.
                    None => return Ok(()),
                },
                () = self.proposals.pushed() => {
                    if batch.last_count > 1 {
                        gather().await;
                    }
                }
                () = &mut sleep => {}
            }
            self.round(&mut batch)?;
            if handoff.is_some_and(|handoff| self.handoff_over(&handoff)) {
                return Ok(());
            }
            sleep.as_mut().reset(self.next_tick_deadline());
        }
    }

    /// Everything after the first input of a round.
    fn round(&mut self, batch: &mut ProposalBatch<S>) -> Result<(), RaftError> {
        self.on_progress()?;
        for _ in 0..MESSAGES_PER_ROUND_MAX {
            match self.inbox.try_recv() {
                Ok(inbound) => self.on_inbound(inbound)?,
                Err(_) => break,
            }
        }
        for _ in 0..REQUESTS_PER_ROUND_MAX {
            match self.requests.try_recv() {
                Ok(request) => self.on_request(request)?,
                Err(_) => break,
            }
        }
        self.take_proposals(batch)?;
        self.tick()?;
        self.carry_out_actions()?;
        if std::mem::take(&mut self.state.announce_address) {
            self.announce_address()?;
            self.carry_out_actions()?;
        }
        Ok(())
    }

    /// A new leader logs its own address when the log does not carry it (a
    /// member of the initial configuration, or one that restarted elsewhere),
    /// so that every node can redirect clients to it, not only those
    /// configured with it.
    fn announce_address(&mut self) -> Result<(), RaftError> {
        let address = &self.config.address;
        let is_leader = self.state.soft_state.role == Role::Leader;
        if !is_leader
            || address.is_empty()
            || self.state.logged_own_address.as_ref() == Some(address)
        {
            return Ok(());
        }
        let (id, address) = (self.config.node_id, address.clone());
        self.log_addresses(id, address).map(|_| ())
    }

    /// Notes what the log says about where members are.
    fn learn_addresses(&mut self, addresses: Addresses) {
        if let Some(own) = addresses.get(&self.config.node_id) {
            self.state.logged_own_address = Some(own.clone());
        }
        self.shared.learn_addresses(addresses);
    }

    /// Storage and the state machine progressed (or failed).
    fn on_progress(&mut self) -> Result<(), RaftError> {
        if let Some(error) = self.shared.fatal() {
            return Err(error);
        }
        for event in self.shared.take_snapshot_events() {
            self.on_snapshot_event(event)?;
        }
        let durable_id = self.shared.durable_id.load(Ordering::Acquire);
        if durable_id > self.state.durable_id {
            self.state.durable_id = durable_id;
            self.raft.persisted(durable_id)?;
            let mut appended = None;
            while let Some(&(id, bytes, last_index)) = self.state.persisting.front() {
                if id > durable_id {
                    break;
                }
                self.state.persisting.pop_front();
                self.state.backlog_bytes -= bytes;
                appended = last_index.or(appended);
            }
            if let Some(last_index) = appended {
                self.events.send(Event::EntriesAppended { last_index });
            }
        }
        let applied_index = self.shared.applied_index.load(Ordering::Acquire);
        if applied_index > self.state.applied_index {
            self.state.applied_index = applied_index;
            self.raft.applied(applied_index);
            while let Some(&(last_index, bytes)) = self.state.applying.front() {
                if last_index > applied_index {
                    break;
                }
                self.state.applying.pop_front();
                self.state.backlog_bytes -= bytes;
            }
        }
        Ok(())
    }

    fn overloaded(&self) -> bool {
        self.state.backlog_bytes > self.config.max_backlog_bytes
    }

    fn on_inbound(&mut self, inbound: Inbound) -> Result<(), RaftError> {
        match inbound {
            Inbound::Message(message) => self.on_message(message),
            Inbound::Unreachable(peer) => {
                if self.raft.membership().contains(peer) {
                    self.raft.report_unreachable(peer);
                }
                Ok(())
            }
        }
    }

    /// Steps a message from a peer. A sender this node does not know as a
    /// member is stepped too: a leader added while this node was behind is
    /// real, and this node learns of it only from that leader's log (the
    /// core decides what any message may change).
    fn on_message(&mut self, message: Message) -> Result<(), RaftError> {
        let own_id = self.config.node_id;
        if message.to != own_id || message.from == own_id || message.from == 0 {
            self.state.rejected_messages += 1;
            tracing::warn!(
                node_id = own_id,
                from = message.from,
                to = message.to,
                kind = message.body.kind(),
                "dropping a message that cannot be for this node"
            );
            return Ok(());
        }
        if matches!(message.body, MessageBody::Append(_)) && self.overloaded() {
            self.state.shed_appends += 1;
            return Ok(());
        }
        Ok(self.raft.step(message)?)
    }

    /// Proposes what is queued now, in core appends of at most
    /// [`RaftConfig::max_proposals_per_batch`]. Proposals that arrive
    /// meanwhile wait for the next round (they wake it): taking them here
    /// would make a core append, and a message per follower, of the few
    /// that trickled in while the last was proposed. At most
    /// [`RaftConfig::max_pending_proposals`] per round: refused proposals
    /// are answered at once and may come straight back.
    fn take_proposals(&mut self, batch: &mut ProposalBatch<S>) -> Result<(), RaftError> {
        let mut budget = self.config.max_pending_proposals;
        while budget > 0 {
            let max = self.config.max_proposals_per_batch.min(budget);
            let taken = self
                .proposals
                .take(&mut batch.commands, &mut batch.replies, max);
            budget -= taken;
            self.propose(batch)?;
            if taken < max {
                break; // the queue was emptied
            }
        }
        Ok(())
    }

    fn on_request(&mut self, request: Request<S>) -> Result<(), RaftError> {
        match request {
            Request::Read { query, mode, reply } => self.read(query, mode, reply)?,
            Request::Status { reply } => {
                let _ = reply.send(self.status());
            }
            Request::TransferLeadership { target, reply } => {
                let result = match self.raft.transfer_leadership(target) {
                    Ok(()) => Ok(()),
                    Err(TransferError::NotLeader { leader }) => Err(self.not_leader(leader)),
                    Err(TransferError::NotAVoter { target }) => Err(RaftError::NotAVoter(target)),
                    Err(TransferError::Fatal(error)) => return Err(error.into()),
                };
                let _ = reply.send(result);
            }
            Request::Snapshot { reply } => self.request_snapshot(reply),
            Request::Campaign { reply } => {
                self.raft.campaign()?;
                let _ = reply.send(Ok(()));
            }
            Request::ChangeMembership {
                change,
                address,
                reply,
            } => self.change_membership(change, address, reply)?,
            Request::SetAddress { id, address, reply } => self.set_address(id, address, reply)?,
        }
        Ok(())
    }

    /// `RaftNode::set_address`: logs where member `id` is reached; answered
    /// once that entry is applied here.
    fn set_address(
        &mut self,
        id: NodeId,
        address: String,
        reply: Reply<()>,
    ) -> Result<(), RaftError> {
        let refusal = if self.state.soft_state.role != Role::Leader {
            self.not_leader(self.state.soft_state.leader)
        } else if !self.raft.membership().members().contains(&id) {
            RaftError::InvalidMembershipChange(format!("node {id} is not a member"))
        } else {
            match self.log_addresses(id, address)? {
                Some((index, term)) => {
                    return self.to_apply(ApplyInput::RegisterChange { index, term, reply });
                }
                None => RaftError::Busy {
                    reason: "the leader refused the entry",
                },
            }
        };
        let _ = reply.send(Err(refusal));
        Ok(())
    }

    /// Turns the gathered proposals into one core append.
    fn propose(&mut self, batch: &mut ProposalBatch<S>) -> Result<(), RaftError> {
        if batch.commands.is_empty() {
            return Ok(());
        }
        batch.last_count = batch.commands.len();
        // The replies leave with the batch; the next one is likely as large.
        let replies = std::mem::replace(&mut batch.replies, Vec::with_capacity(batch.last_count));
        if self.overloaded() {
            batch.commands.clear();
            return answer_all(replies, &RaftError::Busy { reason: "backlog" });
        }
        let (encoded, replies) = encode(batch, replies);
        if encoded.is_empty() {
            return Ok(());
        }
        let refusal = match self.raft.propose(encoded) {
            Ok(proposal) => {
                let input = ApplyInput::Register {
                    first_index: proposal.first_index,
                    term: proposal.term,
                    deadline: deadline_after(self.config.propose_timeout),
                    replies,
                };
                return self.to_apply(input);
            }
            Err(ProposeError::NotLeader { leader }) => self.not_leader(leader),
            Err(ProposeError::Busy { .. }) => RaftError::Busy {
                reason: "uncommitted",
            },
            Err(ProposeError::TransferInProgress { target }) => {
                RaftError::TransferInProgress { target }
            }
            Err(ProposeError::Fatal(error)) => return Err(error.into()),
        };
        answer_all(replies, &refusal)
    }

    fn read(
        &mut self,
        query: S::Query,
        mode: ReadMode,
        reply: Reply<S::Answer>,
    ) -> Result<(), RaftError> {
        let id = self.state.next_read_id;
        self.state.next_read_id += 1;
        match self.raft.read_index([id], mode) {
            Ok(()) => {
                let pending = UnconfirmedRead {
                    query,
                    reply,
                    asked: Instant::now(),
                };
                self.reads.insert(id, pending);
                Ok(())
            }
            Err(ReadError::NoLeader) => {
                let _ = reply.send(Err(RaftError::NotLeader { leader: None }));
                Ok(())
            }
            Err(ReadError::Fatal(error)) => Err(error.into()),
        }
    }

    fn take_read(&mut self, id: u64) -> Option<UnconfirmedRead<S>> {
        self.reads.remove(&id)
    }

    /// The redirect to `leader`, naming it only with an address to go to: a
    /// node that has not yet received the entry carrying a new leader's
    /// address (it is behind) answers as if it knew no leader.
    fn not_leader(&self, leader: Option<NodeId>) -> RaftError {
        let leader = leader.and_then(|id| {
            let address = self.shared.address_of(id)?;
            (!address.is_empty()).then_some((id, address))
        });
        RaftError::NotLeader { leader }
    }

    /// Appends the configuration entry and, right behind it in the same
    /// append, the new member's address with every member address known here
    /// (see the module docs of `runtime`). The address goes only with a change
    /// the core accepted, so a refused change leaves nothing in the log.
    fn change_membership(
        &mut self,
        change: MembershipChange,
        address: Option<(NodeId, String)>,
        reply: Reply<()>,
    ) -> Result<(), RaftError> {
        let refusal = match self.raft.change_membership(change) {
            Ok(proposal) => {
                if let Some((id, address)) = address {
                    let _ = self.log_addresses(id, address)?;
                }
                return self.to_apply(ApplyInput::RegisterChange {
                    index: proposal.last_index,
                    term: proposal.term,
                    reply,
                });
            }
            Err(ChangeError::NotLeader { leader }) => self.not_leader(leader),
            Err(ChangeError::ChangeInProgress) => RaftError::Busy {
                reason: "a membership change is in progress",
            },
            Err(ChangeError::LeaderNotReady) => RaftError::Busy {
                reason: "the new leader has not committed an entry of its term",
            },
            Err(ChangeError::TransferInProgress { target }) => {
                RaftError::TransferInProgress { target }
            }
            Err(ChangeError::Invalid(reason)) => RaftError::InvalidMembershipChange(reason),
            Err(ChangeError::Fatal(error)) => return Err(error.into()),
        };
        let _ = reply.send(Err(refusal));
        Ok(())
    }

    /// Proposes the addresses of every member of the configuration now in
    /// force, `id`'s being `address`. The entry's index and term, if the
    /// core took it.
    fn log_addresses(
        &mut self,
        id: NodeId,
        address: String,
    ) -> Result<Option<(Index, ordo_core::Term)>, RaftError> {
        let mut addresses = Addresses::new();
        for member in self.raft.membership().members() {
            if let Some(known) = self.shared.address_of(member).filter(|a| !a.is_empty()) {
                addresses.insert(member, known);
            }
        }
        addresses.insert(id, address);
        let entry = envelope::seal_runtime(&RuntimeEntry::Addresses(addresses.clone()))
            .map_err(|error| RaftError::Fatal(format!("cannot encode addresses: {error}")))?;
        match self.raft.propose([entry]) {
            Ok(proposal) => {
                // Known here from now on, so that a second change in the same
                // round builds on this one instead of logging the old value.
                self.learn_addresses(addresses);
                Ok(Some((proposal.last_index, proposal.term)))
            }
            Err(ProposeError::Fatal(error)) => Err(error.into()),
            Err(refused) => {
                // Only this node knows the address until the next change,
                // election or `set_address` that carries it.
                let node_id = self.config.node_id;
                tracing::warn!(node_id, id, %refused, "a member's address was not logged");
                Ok(None)
            }
        }
    }

    fn next_tick_deadline(&self) -> TokioInstant {
        let next = (self.state.ticks_fed + 1) as u128 * self.state.tick_nanos;
        let offset = std::time::Duration::from_nanos(u64::try_from(next).unwrap_or(u64::MAX));
        TokioInstant::from_std(self.state.started + offset)
    }

    /// Feeds one tick per whole tick interval passed since the last.
    fn tick(&mut self) -> Result<(), RaftError> {
        let elapsed = self.state.started.elapsed().as_nanos();
        let due = u64::try_from(elapsed / self.state.tick_nanos).unwrap_or(u64::MAX);
        let behind = due.saturating_sub(self.state.ticks_fed);
        for _ in 0..behind.min(TICKS_PER_ROUND_MAX) {
            self.raft.tick()?;
        }
        self.state.ticks_fed = self.state.ticks_fed.max(due);
        if behind > 0 && self.snapshot_backoff.take_due(Instant::now()) {
            self.raft.snapshot_build_failed();
        }
        if behind > 0 && self.state.ticks_fed % READ_SWEEP_TICKS < behind {
            self.sweep_reads();
            // A refusal held back by the one-line-per-second limit.
            self.log_refused_if_due();
        }
        // Proposals time out in the apply stage, which holds them.
        if behind > 0 && self.shared.pending_proposals.load(Ordering::Relaxed) > 0 {
            self.to_apply(ApplyInput::Tick)?;
        }
        Ok(())
    }

    /// Forgets reads whose caller gave up (a lost forwarded read is never
    /// answered by the core).
    fn sweep_reads(&mut self) {
        let timeout = self.config.read_timeout;
        let mut forgotten = Vec::new();
        for (&id, read) in &self.reads {
            if read.reply.is_closed() || read.asked.elapsed() > timeout {
                forgotten.push(id);
            }
        }
        for id in forgotten {
            if let Some(read) = self.take_read(id) {
                let _ = read.reply.send(Err(RaftError::Timeout));
            }
        }
    }

    /// Takes the core's actions and carries them out. A write made inline
    /// (a store that never blocks) is reported durable at once, which can
    /// release more actions (held acknowledgements, commits): take again.
    fn carry_out_actions(&mut self) -> Result<(), RaftError> {
        loop {
            let actions = self.raft.take_actions()?;
            if actions.is_empty() {
                return Ok(());
            }
            let persisted_inline = self.carry_out(actions)?;
            if !persisted_inline {
                return Ok(());
            }
        }
    }

    /// Carries out one batch of actions; true if its write was made inline.
    fn carry_out(&mut self, actions: Actions) -> Result<bool, RaftError> {
        let Actions {
            persist,
            messages,
            apply,
            soft_state,
            membership,
            build_snapshot,
            compact_log_through,
            snapshot_reads,
            snapshot_writes,
            install_snapshot,
            reads,
            failed_reads,
            // Proposals whose entries left this log are not answered from
            // here: another node may still commit them (see `waiters.rs`).
            truncated_from: _,
            events,
        } = actions;
        if !events.is_empty() {
            self.on_core_events(events);
        }
        if let Some(soft_state) = soft_state {
            self.on_soft_state(soft_state);
        }
        if let Some(membership) = membership {
            self.events.send(Event::MembershipChanged { membership });
        }
        if build_snapshot.is_some() {
            self.to_apply(ApplyInput::BuildSnapshot)?;
        }
        for message in messages {
            self.transport.send(message);
        }
        let persisted_inline = match persist {
            Some(persist) => self.persist(persist)?,
            None => false,
        };
        if let Some(through) = compact_log_through {
            self.compact(through)?;
        }
        for read in snapshot_reads {
            match &self.latest_snapshot {
                Some(meta) if meta.index == read.snapshot_index => {
                    let term = meta.term;
                    self.to_snapshot_thread(SnapshotJob::Read(read, term));
                }
                // A snapshot replaced meanwhile: the core moves on by itself.
                _ => {}
            }
        }
        for write in snapshot_writes {
            self.to_snapshot_thread(SnapshotJob::Write(write));
        }
        if let Some(last) = apply.last() {
            let commit_index = last.index;
            let bytes = ordo_core::total_payload_bytes(&apply);
            self.state.applying.push_back((commit_index, bytes));
            self.state.backlog_bytes += bytes;
            // Reported before the apply stage can report them applied.
            self.events
                .send_with(|| Event::EntriesCommitted { commit_index });
            self.to_apply(ApplyInput::Entries(apply))?;
        }
        // After this batch's entries, which are older than the snapshot.
        if let Some(meta) = install_snapshot {
            self.to_apply(ApplyInput::Install(meta))?;
        }
        for ready in reads {
            if let Some(read) = self.take_read(ready.request_id) {
                self.to_apply(ApplyInput::Read {
                    read_index: ready.read_index,
                    query: read.query,
                    reply: read.reply,
                })?;
            }
        }
        for id in failed_reads {
            if let Some(read) = self.take_read(id) {
                let _ = read.reply.send(Err(RaftError::LeadershipChanged));
            }
        }
        Ok(persisted_inline)
    }

    fn to_persistence(&self, job: PersistJob) -> Result<(), RaftError> {
        let sent = self
            .persists
            .as_ref()
            .is_some_and(|persists| persists.send(job).is_ok());
        if sent {
            Ok(())
        } else {
            Err(self
                .shared
                .fatal()
                .unwrap_or_else(|| RaftError::Fatal("the persistence thread is gone".into())))
        }
    }

    /// Hands `persist` to the persistence thread, or, for a store that never
    /// blocks, writes and syncs it here and reports it durable (true).
    fn persist(&mut self, persist: Persist) -> Result<bool, RaftError> {
        let last_index = persist.entries.last().map(|entry| entry.index);
        // Addresses are known from the moment they are in the log, like the
        // configuration they go with.
        if let Some(addresses) = envelope::addresses_in(&persist.entries) {
            self.learn_addresses(addresses);
        }
        if let Some(store) = &self.inline_store {
            let id = persist.id;
            store.write(persist)?;
            store.sync()?;
            self.state.durable_id = id;
            self.raft.persisted(id)?;
            if let Some(last_index) = last_index {
                self.events.send(Event::EntriesAppended { last_index });
            }
            return Ok(true);
        }
        let bytes = ordo_core::total_payload_bytes(&persist.entries);
        self.state
            .persisting
            .push_back((persist.id, bytes, last_index));
        self.state.backlog_bytes += bytes;
        self.to_persistence(PersistJob::Write(persist))?;
        Ok(false)
    }

    fn to_apply(&self, input: ApplyInput<S>) -> Result<(), RaftError> {
        self.applies.send(input).map_err(|_| {
            self.shared
                .fatal()
                .unwrap_or_else(|| RaftError::Fatal("the apply stage is gone".into()))
        })
    }

    /// Publishes role, term and leader, and reports what changed. The leader
    /// reported is always the one of the term reported with it.
    fn on_soft_state(&mut self, current: SoftState) {
        let previous = std::mem::replace(&mut self.state.soft_state, current);
        self.shared.soft_state.send_replace(current);
        if previous.role == Role::Leader && current.role != Role::Leader {
            // Proposals not committed yet may or may not commit under the
            // next leader: their callers learn it is unknown now. (Sent after
            // their registrations, on the same queue; if the stage is gone,
            // the node is stopping and answers everyone anyway.)
            let committed = self.raft.status().commit_index;
            let _ = self.to_apply(ApplyInput::LeadershipLost { committed });
        }
        if previous.role != current.role {
            self.state.announce_address |= current.role == Role::Leader;
            self.events.send(Event::RoleChanged {
                previous: previous.role,
                current: current.role,
                term: current.term,
            });
        }
        let leader_changed = (previous.leader, previous.term) != (current.leader, current.term);
        if previous.leader != current.leader {
            self.state.observed.metrics.leader_changes += 1;
        }
        match current.leader {
            Some(leader) if leader_changed => self.events.send(Event::LeaderElected {
                leader,
                term: current.term,
            }),
            None if previous.leader.is_some() => {
                self.events.send(Event::LeaderLost { term: current.term });
            }
            _ => {}
        }
    }

    fn status(&self) -> NodeStatus {
        let status = self.raft.status();
        NodeStatus {
            id: status.id,
            role: status.role,
            term: status.term,
            leader: status.leader,
            last_log_index: status.last_index,
            durable_index: status.durable_index,
            commit_index: status.commit_index,
            applied_index: self.state.applied_index,
            // The core also tracks departed members while it tells them
            // of their removal (`raft/removal.rs`); they are not members.
            peers: status
                .progress
                .into_iter()
                .filter(|(id, _)| self.raft.membership().contains(*id))
                .collect(),
            membership: self.raft.membership().clone(),
            pending_proposals: self.shared.pending_proposals.load(Ordering::Relaxed),
            pending_reads: self.shared.pending_reads.load(Ordering::Relaxed),
            backlog_bytes: self.state.backlog_bytes,
            rejected_messages: self.state.rejected_messages + status.protocol_violations,
            shed_appends: self.state.shed_appends,
            snapshot_failures: self.shared.snapshot_failures.load(Ordering::Relaxed),
            repair_point: status.repair_point,
            removed: status.removed,
            metrics: self.state.observed.metrics,
        }
    }

    /// Stops everything: answers every waiting caller, lets the apply stage
    /// finish what was committed, flushes storage, stops the transport.
    async fn shutdown(mut self, outcome: Result<(), RaftError>) {
        let error = match outcome {
            Ok(()) => RaftError::ShuttingDown,
            Err(error) => {
                tracing::error!(node_id = self.config.node_id, %error, "the node stops");
                self.events.send(Event::Error {
                    error: error.clone(),
                });
                error
            }
        };
        self.requests.close();
        while let Ok(request) = self.requests.try_recv() {
            refuse(request, &error);
        }
        for reply in self.proposals.close() {
            let _ = reply.send(Err(error.clone()));
        }
        for (_, read) in self.reads.drain() {
            let _ = read.reply.send(Err(error.clone()));
        }
        for (_, reply) in self.snapshot_waiters.drain(..) {
            let _ = reply.send(Err(error.clone()));
        }
        let _ = self.applies.send(ApplyInput::Stop {
            error: error.clone(),
        });
        // Dropping the sender lets the persistence thread write and sync what
        // is queued, then exit.
        self.persists = None;
        self.snapshot_jobs = None;
        self.transport.stop();
        for done in std::mem::take(&mut self.threads_done) {
            let _ = done.await;
        }
        let mut soft_state = self.state.soft_state;
        soft_state.role = Role::Follower;
        soft_state.leader = None;
        self.on_soft_state(soft_state);
    }
}

/// Encodes the batch's commands into one shared buffer: one allocation per
/// batch, and each entry's `Bytes` is a slice of it. A command that cannot be
/// encoded is answered at once. Returns the encoded commands and the replies
/// of exactly those.
fn encode<S: StateMachine>(
    batch: &mut ProposalBatch<S>,
    mut replies: Vec<Reply<S::Response>>,
) -> (Vec<Bytes>, Vec<Reply<S::Response>>) {
    let count = batch.commands.len();
    let mut buffer = BytesMut::with_capacity(count * batch.bytes_per_command);
    let mut encoded = Vec::with_capacity(count);
    let mut failed = Vec::new();
    let mut total = 0;
    for (position, command) in batch.commands.drain(..).enumerate() {
        buffer.put_u8(envelope::COMMAND_TAG);
        match postcard::to_io(&command, (&mut buffer).writer()) {
            Ok(_) => {
                let bytes = buffer.split().freeze();
                total += bytes.len();
                encoded.push(bytes);
            }
            Err(error) => {
                drop(buffer.split()); // whatever was half written
                failed.push((position, error));
            }
        }
    }
    // From the back, so that the positions still hold.
    for (position, error) in failed.into_iter().rev() {
        let reply = replies.remove(position);
        let _ = reply.send(Err(RaftError::InvalidCommand(error.to_string())));
    }
    batch.bytes_per_command = (total / count.max(1)).clamp(1, 4096);
    (encoded, replies)
}

/// Lets callers that are ready to run queue their proposals before a round
/// drains the queue; called when the last batch shows that they propose
/// concurrently. Callers answered by one applied batch propose again
/// together, and without this the first of them wakes the consensus task, which
/// runs at once (Tokio runs a task woken by the running one next) and
/// appends a handful, then the next handful, each round costing a
/// message per follower, their appends and answers, and an apply. One
/// yield lets the runtime run the ready callers first (Tokio reschedules
/// a yielding task once the others ready have run, or at its next
/// maintenance), so they share one append. A lone caller never waits
/// here.
async fn gather() {
    tokio::task::yield_now().await;
}

/// `timeout` from now; a timeout too long for the clock never expires in
/// practice (a century).
fn deadline_after(timeout: std::time::Duration) -> Instant {
    const CENTURY: std::time::Duration = std::time::Duration::from_secs(100 * 365 * 24 * 3600);
    let now = Instant::now();
    now.checked_add(timeout.min(CENTURY)).unwrap_or(now)
}

fn answer_all<R>(replies: Vec<Reply<R>>, error: &RaftError) -> Result<(), RaftError> {
    for reply in replies {
        let _ = reply.send(Err(error.clone()));
    }
    Ok(())
}

fn refuse<S: StateMachine>(request: Request<S>, error: &RaftError) {
    match request {
        Request::Read { reply, .. } => {
            let _ = reply.send(Err(error.clone()));
        }
        Request::TransferLeadership { reply, .. }
        | Request::Campaign { reply }
        | Request::ChangeMembership { reply, .. }
        | Request::SetAddress { reply, .. } => {
            let _ = reply.send(Err(error.clone()));
        }
        Request::Snapshot { reply } => {
            let _ = reply.send(Err(error.clone()));
        }
        Request::Status { .. } => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::*;
    use crate::runtime::test_stubs::Echo;

    /// A command that postcard cannot encode when it is odd.
    #[derive(Debug)]
    struct Picky(u64);

    impl Serialize for Picky {
        fn serialize<Z: Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
            if self.0 % 2 == 1 {
                return Err(serde::ser::Error::custom("odd"));
            }
            serializer.serialize_u64(self.0)
        }
    }

    impl<'de> Deserialize<'de> for Picky {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            u64::deserialize(deserializer).map(Picky)
        }
    }

    #[test]
    fn commands_that_cannot_be_encoded_are_answered_and_left_out() {
        let mut batch = ProposalBatch::<Echo<Picky>> {
            commands: (0..5).map(Picky).collect(),
            replies: Vec::new(),
            bytes_per_command: 1,
            last_count: 0,
        };
        let (replies, mut answers): (Vec<_>, Vec<_>) = (0..5).map(|_| oneshot::channel()).unzip();
        let (encoded, kept) = encode(&mut batch, replies);
        let values: Vec<u64> = encoded
            .iter()
            .map(|bytes| match envelope::open(bytes) {
                envelope::Payload::Command(command) => postcard::from_bytes(command).unwrap(),
                _ => panic!("not a command"),
            })
            .collect();
        assert_eq!(values, [0, 2, 4]);
        assert_eq!(kept.len(), 3);
        for (value, answer) in answers.iter_mut().enumerate() {
            let answered = answer.try_recv();
            if value % 2 == 1 {
                assert!(matches!(answered, Ok(Err(RaftError::InvalidCommand(_)))));
            } else {
                assert!(answered.is_err(), "{value} waits for its entry");
            }
        }
        // The kept replies are those of the encoded commands, in order.
        for (reply, value) in kept.into_iter().zip([0, 2, 4]) {
            let _ = reply.send(Err(RaftError::Fatal(value.to_string())));
        }
        for value in [0, 2, 4] {
            let answered = answers[value].try_recv();
            assert!(
                matches!(&answered, Ok(Err(RaftError::Fatal(v))) if *v == value.to_string()),
                "{answered:?}"
            );
        }
    }
}
