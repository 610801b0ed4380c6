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
//! # Files
//! This file holds the task's state, the loop, the round, progress from the
//! other stages, messages, time and shutdown. Beside it: `requests.rs`
//! (the [`Request`] type and its dispatch), `proposals.rs` (the proposal
//! queue) and `batch.rs` (a round's proposals as one encoded core append),
//! `reads.rs` (reads being confirmed), `actions.rs` (carrying out the core's
//! actions), `snapshots.rs`, `handoff.rs` (a graceful stop), `observe.rs`
//! (logging and counting what the core reports), `pause.rs` (the test kit's
//! gate) and `addresses.rs` (member addresses).
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

use ordo_core::{Index, Message, MessageBody, PersistId, Raft, Role, SnapshotMeta, SoftState};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant as TokioInstant;

use crate::runtime::addresses::PeerSync;
use crate::runtime::apply::ApplyInput;
use crate::runtime::config::RaftConfig;
use crate::runtime::error::RaftError;
use crate::runtime::event::{Event, EventSender};
use crate::runtime::persist::PersistJob;
use crate::runtime::shared::{Reply, Shared};
use crate::runtime::snapshot_io::SnapshotJob;
use crate::runtime::snapshot_retry::Backoff;
use crate::runtime::state_machine::StateMachine;
use crate::storage::LogStore;
use crate::transport::{Inbound, InboxReceiver, Transport};
use batch::{ProposalBatch, gather};
use reads::{READ_SWEEP_TICKS, UnconfirmedRead};
use requests::refuse;

mod actions;
mod addresses;
mod batch;
mod handoff;
mod observe;
mod pause;
mod proposals;
mod reads;
mod requests;
mod snapshots;

pub(crate) use pause::PauseGate;
pub(crate) use proposals::{ProposalQueue, QueueTaker};
pub(crate) use requests::Request;
pub(crate) use snapshots::SnapshotEvent;

/// Most messages stepped in one round, so requests and ticks are not starved.
const MESSAGES_PER_ROUND_MAX: usize = 4096;
/// Most requests other than proposals (reads, status, ...) handled in one
/// round, so a flood of them cannot starve messages and ticks.
const REQUESTS_PER_ROUND_MAX: usize = 4096;
/// Most ticks fed at once after a stall; more would change nothing.
const TICKS_PER_ROUND_MAX: u64 = 1024;

/// How `RaftNode` asked the node to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StopMode {
    /// Hand leadership over first (`RaftNode::stop`).
    Graceful,
    /// At once, as a crash would (`RaftNode::abort`).
    Abort,
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
    /// The transport's peers, kept in step with the member directory.
    pub(crate) peers: PeerSync,
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

/// A new member's information the core refused to append behind its
/// configuration entry (at `change_index`): dialed by anyway once that entry
/// is written (`expected`), and proposed again each round (`addresses.rs`).
pub(crate) struct OwedInfo {
    pub(crate) change_index: Index,
    pub(crate) id: ordo_core::NodeId,
    pub(crate) info: crate::runtime::addresses::MemberInfo,
    pub(crate) expected: bool,
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
    /// Became leader in this round: log what this node's configuration says
    /// of it if the group does not know it yet (`addresses.rs`).
    announce_own_info: bool,
    /// New members' information the core refused to append behind their
    /// configuration entry, proposed again each round (`addresses.rs`).
    owed_member_info: Vec<OwedInfo>,
    /// What the core reported, counted (`observe.rs`).
    observed: observe::Observed,
}

impl LoopState {
    /// Ticks fed to the core so far: the task's clock.
    pub(crate) fn ticks(&self) -> u64 {
        self.ticks_fed
    }

    pub(crate) fn new(config: &RaftConfig, soft_state: SoftState, applied_index: Index) -> Self {
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
            announce_own_info: false,
            owed_member_info: Vec::new(),
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
        let mut batch = ProposalBatch::new();
        let sleep = tokio::time::sleep_until(self.next_tick_deadline());
        tokio::pin!(sleep);
        // Set once asked to stop while leading: the loop runs on until
        // another node leads (see `handoff.rs`).
        let mut handoff = None;
        self.sync_members();
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
        if std::mem::take(&mut self.state.announce_own_info) {
            self.announce_own_info()?;
            self.carry_out_actions()?;
        }
        if !self.state.owed_member_info.is_empty() {
            self.pay_owed_member_info()?;
            self.carry_out_actions()?;
        }
        Ok(())
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
            self.note_applied_members(applied_index);
            while let Some(&(last_index, bytes)) = self.state.applying.front() {
                if last_index > applied_index {
                    break;
                }
                self.state.applying.pop_front();
                self.state.backlog_bytes -= bytes;
            }
        }
        // After the snapshot events too: an installed snapshot changes it.
        self.sync_members();
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
        if behind > 0 {
            // Departed members leave the transport after their grace.
            self.sync_members();
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
            read.work.fail(error.clone());
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
