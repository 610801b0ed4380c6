//! [`RaftNode`]: the handle users hold, the entry of the pipeline.
//!
//! A handle owns no consensus state: every call becomes a request to the
//! consensus task (`consensus/`), a proposal on its queue, or, for a stale
//! read, an input to the apply stage (`apply/`). Here: the node and its
//! builder; `start.rs` (restoring and spawning the stages), `agreement.rs`
//! (the snapshot and the log agree at start), `membership.rs` (changes and
//! member addresses), `read_snapshot.rs` (the whole state from a durable
//! snapshot file), `faults.rs` (pause, resume, abort for tests).

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use ordo_core::{Index, Message, NodeId, ReadMode, Role, SoftState};
use tokio::sync::{mpsc, oneshot};

use crate::runtime::addresses::Directory;
use crate::runtime::apply::{ApplyInput, ReadWork};
use crate::runtime::config::RaftConfig;
use crate::runtime::consensus::ProposalQueue;
use crate::runtime::consensus::Request;
use crate::runtime::consensus::StopMode;
use crate::runtime::error::RaftError;
use crate::runtime::event::{EventSender, EventStream};
use crate::runtime::shared::{Shared, Slot};
use crate::runtime::state_machine::{ReadConsistency, StateMachine};
use crate::runtime::status::NodeStatus;
use crate::storage::{LogStore, SnapshotStore};
use crate::transport::{Delivered, Inbox, InboxReceiver, Transport};

/// One member of a Raft group, running: the handle users hold.
///
/// Cheap to clone; every clone drives the same node, from any task. The node
/// runs on the Tokio runtime that [`start`](Self::start) is called from (one
/// consensus task) plus two threads of its own (storage, state machine).
///
/// ```
/// use std::io::{Read, Write};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// use ordo::storage::MemLogStore;
/// use ordo::transport::InProcessNetwork;
/// use ordo::{Entry, RaftConfig, RaftNode, StateMachine};
///
/// /// A counter: commands add to it, queries read it.
/// #[derive(Default)]
/// struct Counter(u64);
///
/// impl StateMachine for Counter {
///     type Command = u64;
///     type Response = u64;
///     type Query = ();
///     type Answer = u64;
///
///     fn apply(&mut self, entries: Vec<Entry<u64>>) -> Vec<u64> {
///         entries.into_iter().map(|e| { self.0 += e.command; self.0 }).collect()
///     }
///     fn query(&self, _: ()) -> u64 { self.0 }
///     fn snapshot(&self, out: &mut dyn Write) -> std::io::Result<()> {
///         out.write_all(&self.0.to_le_bytes())
///     }
///     fn restore(&mut self, input: &mut dyn Read) -> std::io::Result<()> {
///         let mut bytes = [0; 8];
///         input.read_exact(&mut bytes)?;
///         self.0 = u64::from_le_bytes(bytes);
///         Ok(())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let network = InProcessNetwork::new();
/// let config = RaftConfig { node_id: 1, ..RaftConfig::default() }; // a group of one
/// let node = RaftNode::new(config, Counter::default(), Arc::new(MemLogStore::new()), network.transport(1))?;
/// node.start().await?;
/// node.wait_for_leader(Duration::from_secs(5)).await?;
/// assert_eq!(node.propose(5).await?, 5);
/// assert_eq!(node.propose(2).await?, 7);
/// assert_eq!(node.read_index(()).await?, 7);
/// node.stop().await;
/// # Ok(())
/// # }
/// ```
pub struct RaftNode<S: StateMachine> {
    inner: Arc<Inner<S>>,
}

impl<S: StateMachine> Clone for RaftNode<S> {
    fn clone(&self) -> Self {
        RaftNode {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S: StateMachine> std::fmt::Debug for RaftNode<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftNode")
            .field("node_id", &self.inner.config.node_id)
            .field("soft_state", &*self.inner.shared.soft_state.borrow())
            .finish_non_exhaustive()
    }
}

mod agreement;
mod faults;
mod membership;
mod read_snapshot;
mod start;

struct Inner<S: StateMachine> {
    config: Arc<RaftConfig>,
    shared: Arc<Shared>,
    /// Taken at stop, so the stream closes once the node's tasks are gone.
    events: Mutex<Option<EventSender>>,
    inbox: Inbox,
    /// What `start` consumes.
    parts: Mutex<Option<Parts<S>>>,
    /// Set by `start`.
    running: OnceLock<Running<S>>,
}

struct Parts<S> {
    state_machine: S,
    log_store: Arc<dyn LogStore>,
    transport: Arc<dyn Transport>,
    snapshot_store: Option<SnapshotStore>,
    inbox_receiver: InboxReceiver,
}

struct Running<S: StateMachine> {
    requests: mpsc::Sender<Request<S>>,
    /// Proposals go here rather than through `requests`: see `consensus/proposals.rs`.
    proposals: Arc<ProposalQueue<S>>,
    applies: mpsc::UnboundedSender<ApplyInput<S>>,
    stop: Mutex<Option<oneshot::Sender<StopMode>>>,
    /// The stages' snapshot store, for `read_snapshot` to open files from.
    /// Weak: a stopped node's stages drop the store, and with it the
    /// directory's lock, whoever still holds a handle.
    snapshot_store: Option<std::sync::Weak<SnapshotStore>>,
}

/// Builds a [`RaftNode`] with optional parts. [`RaftNode::new`] covers the
/// common case.
pub struct RaftNodeBuilder<S: StateMachine> {
    config: RaftConfig,
    state_machine: S,
    log_store: Arc<dyn LogStore>,
    transport: Arc<dyn Transport>,
    snapshot_store: Option<SnapshotStore>,
}

impl<S: StateMachine> RaftNodeBuilder<S> {
    /// Keeps state machine snapshots in `store`: one is taken every
    /// [`RaftConfig::snapshot_threshold_entries`] applied entries, and a restarting
    /// node restores its state machine from the newest one instead of
    /// re-applying the log from the start.
    pub fn snapshot_store(mut self, store: SnapshotStore) -> Self {
        self.snapshot_store = Some(store);
        self
    }

    /// Validates the configuration and builds the node (not started).
    ///
    /// # Errors
    /// [`RaftError::Config`] for an invalid configuration.
    pub fn build(self) -> Result<RaftNode<S>, RaftError> {
        self.config.validate()?;
        let (inbox, inbox_receiver) = Inbox::bounded(self.config.inbox_capacity);
        let events = EventSender::new(self.config.event_capacity);
        let soft_state = SoftState {
            role: Role::Follower,
            term: self.log_store.hard_state().term,
            leader: None,
        };
        let directory = Directory::configured(self.config.configured_peers());
        let inner = Inner {
            config: Arc::new(self.config),
            shared: Arc::new(Shared::new(soft_state, directory)),
            events: Mutex::new(Some(events)),
            inbox,
            parts: Mutex::new(Some(Parts {
                state_machine: self.state_machine,
                log_store: self.log_store,
                transport: self.transport,
                snapshot_store: self.snapshot_store,
                inbox_receiver,
            })),
            running: OnceLock::new(),
        };
        Ok(RaftNode {
            inner: Arc::new(inner),
        })
    }
}

impl<S: StateMachine> RaftNode<S> {
    /// A node (not started) of the group in `config`, applying to
    /// `state_machine`, logging to `log_store`, talking through `transport`.
    ///
    /// A restarting node passes the store it used before: its term, vote and
    /// log come from there. Its state machine starts from the newest snapshot
    /// if it has a snapshot store ([`RaftNode::builder`]), else from scratch,
    /// and committed entries are applied again.
    ///
    /// # Errors
    /// [`RaftError::Config`] for an invalid configuration.
    pub fn new<L, T>(
        config: RaftConfig,
        state_machine: S,
        log_store: Arc<L>,
        transport: T,
    ) -> Result<Self, RaftError>
    where
        L: LogStore + 'static,
        T: Transport,
    {
        Self::builder(config, state_machine, log_store, transport).build()
    }

    /// A builder for a node with optional parts (a snapshot store).
    pub fn builder<L, T>(
        config: RaftConfig,
        state_machine: S,
        log_store: Arc<L>,
        transport: T,
    ) -> RaftNodeBuilder<S>
    where
        L: LogStore + 'static,
        T: Transport,
    {
        RaftNodeBuilder {
            config,
            state_machine,
            log_store,
            transport: Arc::new(transport),
            snapshot_store: None,
        }
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.inner.config.node_id
    }

    /// The configuration the node runs with.
    pub fn config(&self) -> &RaftConfig {
        &self.inner.config
    }

    fn inbox_for_transport(&self) -> Inbox {
        self.inner.inbox.clone()
    }

    /// Stops the node gracefully and waits until it has. A leader first
    /// hands leadership to its most up-to-date voter and waits until another
    /// node leads, at most [`RaftConfig::stop_handoff_timeout`] (capped at
    /// the minimum election timeout), so the group does not wait out an
    /// election; meanwhile it takes no proposals
    /// ([`RaftError::TransferInProgress`], then [`RaftError::NotLeader`]).
    /// Then proposals still
    /// waiting are answered [`RaftError::ShuttingDown`] (those already
    /// accepted may still be applied by the rest of the group), entries
    /// already committed are applied first, queued writes reach storage and
    /// are synced, the transport is stopped, and the event stream closes.
    /// Calling it again, or on a node never started, returns at once.
    /// A paused node is resumed first.
    pub async fn stop(&self) {
        self.stop_with(StopMode::Graceful).await;
    }

    async fn stop_with(&self, mode: StopMode) {
        let Some(running) = self.inner.running.get() else {
            // Never started: make sure it never will.
            self.inner
                .parts
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            self.inner.shared.stopped.send_replace(true);
            return;
        };
        let stop = running
            .stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        self.inner.shared.pause.resume();
        if let Some(stop) = stop {
            let _ = stop.send(mode);
        }
        let mut stopped = self.inner.shared.stopped.subscribe();
        let _ = stopped.wait_for(|stopped| *stopped).await;
        self.inner
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    fn event_sender(&self) -> Option<EventSender> {
        self.inner
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// True once the node has stopped (by [`stop`](Self::stop) or a fatal error).
    pub fn is_stopped(&self) -> bool {
        *self.inner.shared.stopped.borrow()
    }

    /// True if this node is the leader, as far as it knows. A leader cut off
    /// from its group keeps believing it for up to one election timeout
    /// (then check-quorum makes it step down); only
    /// [`read_index`](Self::read_index) proves leadership.
    pub fn is_leader(&self) -> bool {
        self.inner.shared.soft_state.borrow().role == Role::Leader
    }

    /// The leader of the node's current term, if known.
    pub fn leader_id(&self) -> Option<NodeId> {
        self.inner.shared.soft_state.borrow().leader
    }

    /// The node's role, term and known leader, all of one moment.
    pub fn soft_state(&self) -> SoftState {
        *self.inner.shared.soft_state.borrow()
    }

    /// Waits until the node knows a leader, and returns it.
    ///
    /// # Errors
    /// [`RaftError::Timeout`] if none is known within `timeout`;
    /// [`RaftError::ShuttingDown`] if the node stops meanwhile.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Result<NodeId, RaftError> {
        let mut soft_state = self.inner.shared.soft_state.subscribe();
        let mut stopped = self.inner.shared.stopped.subscribe();
        let wait = async {
            tokio::select! {
                known = soft_state.wait_for(|s| s.leader.is_some()) => {
                    known.ok().and_then(|s| s.leader).ok_or(RaftError::ShuttingDown)
                }
                _ = stopped.wait_for(|stopped| *stopped) => Err(RaftError::ShuttingDown),
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .unwrap_or(Err(RaftError::Timeout))
    }

    /// Subscribes to the node's [`Event`](crate::Event)s from now on.
    /// Subscribe before [`start`](Self::start) to see the first election.
    /// The stream ends once [`stop`](Self::stop) has returned.
    pub fn events(&self) -> EventStream {
        match self.event_sender() {
            Some(sender) => sender.subscribe(),
            None => EventStream::closed(),
        }
    }

    /// Proposes `command` and waits until this node has applied it; returns
    /// the state machine's response. Proposals arriving together are appended
    /// as one batch.
    ///
    /// # Errors
    /// [`RaftError::NotLeader`] on a follower (naming the leader when known);
    /// [`RaftError::Busy`] when the node's queues are full;
    /// [`RaftError::ProposalDropped`] if a leader change dropped it (not applied:
    /// retry); [`RaftError::Timeout`] after
    /// [`RaftConfig::propose_timeout`] (outcome unknown);
    /// [`RaftError::ShuttingDown`], [`RaftError::NotStarted`];
    /// [`RaftError::InvalidCommand`] if it cannot be encoded.
    pub async fn propose(&self, command: S::Command) -> Result<S::Response, RaftError> {
        let running = self.running()?;
        let shared = &self.inner.shared;
        let _slot = Slot::acquire(
            &shared.pending_proposals,
            self.inner.config.max_pending_proposals,
        )
        .ok_or(RaftError::Busy {
            reason: "pending proposals",
        })?;
        let (reply, answer) = oneshot::channel();
        running.proposals.push(command, reply)?;
        // No timer here: the apply stage answers Timeout once
        // `propose_timeout` passed (a timer per proposal costs more than the
        // rest of the call with thousands of callers).
        answered(answer).await
    }

    /// A linearizable read: confirms with a quorum that the leader still
    /// leads (ReadIndex, one heartbeat round shared by every read waiting),
    /// waits until this node has applied everything committed before the read
    /// arrived, then answers `query` from the state machine. Works on
    /// followers too (they ask the leader for the read index), so it sees
    /// every write acknowledged anywhere before it was called.
    ///
    /// # Errors
    /// [`RaftError::NotLeader`] `{ leader: None }` when no leader is known;
    /// [`RaftError::LeadershipChanged`] (retry); [`RaftError::Busy`];
    /// [`RaftError::Timeout`] after [`RaftConfig::read_timeout`];
    /// [`RaftError::ShuttingDown`], [`RaftError::NotStarted`].
    pub async fn read_index(&self, query: S::Query) -> Result<S::Answer, RaftError> {
        self.read(query, ReadMode::ReadIndex).await
    }

    /// A read served on the leader without a round trip while its lease
    /// holds ([`RaftConfig::lease_reads`]); otherwise (lease expired, lease
    /// reads off, or on a follower) exactly as [`read_index`](Self::read_index).
    /// Linearizable as long as clocks drift less than
    /// [`RaftConfig::lease_clock_drift`] per election timeout.
    ///
    /// # Errors
    /// As [`read_index`](Self::read_index).
    pub async fn read_lease(&self, query: S::Query) -> Result<S::Answer, RaftError> {
        self.read(query, ReadMode::Lease).await
    }

    /// Answers `query` from whatever this node has applied, without asking
    /// anyone: fast, but **stale** — it may miss writes acknowledged
    /// elsewhere, and a node cut off from its group answers from old state.
    /// Reads of one node are monotonic.
    ///
    /// # Errors
    /// [`RaftError::Busy`], [`RaftError::Timeout`],
    /// [`RaftError::ShuttingDown`], [`RaftError::NotStarted`].
    pub async fn read_stale(&self, query: S::Query) -> Result<S::Answer, RaftError> {
        let running = self.running()?;
        let _slot = self.read_slot()?;
        let (reply, answer) = oneshot::channel();
        running
            .applies
            .send(ApplyInput::StaleRead { query, reply })
            .map_err(|_| RaftError::ShuttingDown)?;
        wait(answer, self.inner.config.read_timeout).await
    }

    /// Answers `query` with the chosen consistency: one entry point for the
    /// three read paths ([`read_index`](Self::read_index),
    /// [`read_lease`](Self::read_lease), [`read_stale`](Self::read_stale)),
    /// for callers that take the consistency as a parameter (say, from a
    /// request).
    ///
    /// # Errors
    /// As the read path chosen.
    pub async fn read_with(
        &self,
        query: S::Query,
        consistency: ReadConsistency,
    ) -> Result<S::Answer, RaftError> {
        match consistency {
            ReadConsistency::Linearizable => self.read(query, ReadMode::ReadIndex).await,
            ReadConsistency::Lease => self.read(query, ReadMode::Lease).await,
            ReadConsistency::Stale => self.read_stale(query).await,
        }
    }

    async fn read(&self, query: S::Query, mode: ReadMode) -> Result<S::Answer, RaftError> {
        let running = self.running()?;
        let _slot = self.read_slot()?;
        let (reply, answer) = oneshot::channel();
        let work = ReadWork::Query { query, reply };
        send(&running.requests, Request::Read { work, mode })?;
        wait(answer, self.inner.config.read_timeout).await
    }

    fn read_slot(&self) -> Result<Slot<'_>, RaftError> {
        Slot::acquire(
            &self.inner.shared.pending_reads,
            self.inner.config.max_pending_reads,
        )
        .ok_or(RaftError::Busy {
            reason: "pending reads",
        })
    }

    /// Hands leadership to `target` (a voter): this node stops taking
    /// proposals, brings `target` up to date and tells it to campaign. Returns
    /// once the transfer has started; watch [`events`](Self::events) or
    /// [`leader_id`](Self::leader_id) for the outcome (it is abandoned after
    /// one election timeout if `target` does not take over).
    ///
    /// Transferring to the leader itself is a no-op that succeeds: leadership
    /// is already where it was asked to be, so nothing starts, proposals are
    /// taken as before and the term stays. (A scripted "move leadership to
    /// node X" is then idempotent.) Asked of a node that does not lead,
    /// naming itself or not, it fails with [`RaftError::NotLeader`].
    ///
    /// # Errors
    /// [`RaftError::NotLeader`], [`RaftError::NotAVoter`],
    /// [`RaftError::ShuttingDown`], [`RaftError::NotStarted`].
    pub async fn transfer_leadership(&self, target: NodeId) -> Result<(), RaftError> {
        let running = self.running()?;
        let (reply, answer) = oneshot::channel();
        send(
            &running.requests,
            Request::TransferLeadership { target, reply },
        )?;
        wait(answer, self.inner.config.propose_timeout).await
    }

    /// Takes a snapshot of the state machine now, whatever
    /// [`RaftConfig::snapshot_threshold_entries`] says, and compacts the log behind
    /// it as after any snapshot. Returns the index it covers once it is
    /// durable: at least everything this node had applied when called (if a
    /// snapshot was being taken already and is older, another follows it).
    /// Needs a snapshot store ([`RaftNodeBuilder::snapshot_store`]).
    ///
    /// # Errors
    /// [`RaftError::Snapshot`] without a snapshot store, or if taking it
    /// failed (see the node's [`Event::Error`](crate::Event::Error));
    /// [`RaftError::Timeout`] after [`RaftConfig::propose_timeout`] (it may
    /// still finish); [`RaftError::Busy`], [`RaftError::ShuttingDown`],
    /// [`RaftError::NotStarted`].
    pub async fn snapshot(&self) -> Result<Index, RaftError> {
        let running = self.running()?;
        let (reply, answer) = oneshot::channel();
        let covering = None;
        send(&running.requests, Request::Snapshot { covering, reply })?;
        wait(answer, self.inner.config.propose_timeout).await
    }

    /// Starts an election now instead of waiting for the timeout (through
    /// pre-vote when on). Does nothing on a leader.
    ///
    /// # Errors
    /// [`RaftError::ShuttingDown`], [`RaftError::NotStarted`].
    pub async fn campaign(&self) -> Result<(), RaftError> {
        let running = self.running()?;
        let (reply, answer) = oneshot::channel();
        send(&running.requests, Request::Campaign { reply })?;
        wait(answer, self.inner.config.propose_timeout).await
    }

    /// The node's full status: role, term, leader, log, commit and applied
    /// indexes, and on a leader every peer's replication progress.
    ///
    /// # Errors
    /// [`RaftError::ShuttingDown`], [`RaftError::NotStarted`].
    pub async fn status(&self) -> Result<NodeStatus, RaftError> {
        let running = self.running()?;
        let (reply, answer) = oneshot::channel();
        running
            .requests
            .send(Request::Status { reply })
            .await
            .map_err(|_| RaftError::ShuttingDown)?;
        answer.await.map_err(|_| RaftError::ShuttingDown)
    }

    /// The node's public entrance for messages from peers, for transports
    /// written outside this crate that do not keep the [`Inbox`] given to
    /// [`Transport::start`]. Never waits: when the node's inbox is full the
    /// message is dropped (Raft retransmits).
    ///
    /// # Errors
    /// [`RaftError::InvalidMessage`] for a message addressed to another node,
    /// claiming to come from this node, or from node 0 (a sender that is not
    /// a member *yet* as far as this node knows is accepted: a leader added
    /// while this node was behind is real);
    /// [`RaftError::Busy`] when the inbox is full (the message was dropped);
    /// [`RaftError::NotStarted`], [`RaftError::ShuttingDown`].
    pub fn receive(&self, message: Message) -> Result<(), RaftError> {
        let config = &self.inner.config;
        if message.to != config.node_id {
            return Err(RaftError::InvalidMessage(format!(
                "addressed to node {}, this is node {}",
                message.to, config.node_id
            )));
        }
        if message.from == config.node_id || message.from == 0 {
            return Err(RaftError::InvalidMessage(format!(
                "node {} cannot send to node {}",
                message.from, config.node_id
            )));
        }
        self.running()?;
        match self.inner.inbox.deliver(message) {
            Delivered::Queued => Ok(()),
            Delivered::DroppedFull => Err(RaftError::Busy { reason: "inbox" }),
            Delivered::DroppedClosed => Err(RaftError::ShuttingDown),
        }
    }

    fn running(&self) -> Result<&Running<S>, RaftError> {
        match self.inner.running.get() {
            Some(running) => Ok(running),
            None if self.is_stopped() => Err(RaftError::ShuttingDown),
            None => Err(RaftError::NotStarted),
        }
    }
}

fn send<S: StateMachine>(
    requests: &mpsc::Sender<Request<S>>,
    request: Request<S>,
) -> Result<(), RaftError> {
    requests.try_send(request).map_err(|error| match error {
        mpsc::error::TrySendError::Full(_) => RaftError::Busy {
            reason: "request queue",
        },
        mpsc::error::TrySendError::Closed(_) => RaftError::ShuttingDown,
    })
}

/// The answer of a stage that always sends one (or is gone: shutting down).
async fn answered<T>(answer: oneshot::Receiver<Result<T, RaftError>>) -> Result<T, RaftError> {
    answer.await.unwrap_or(Err(RaftError::ShuttingDown))
}

async fn wait<T>(
    answer: oneshot::Receiver<Result<T, RaftError>>,
    timeout: Duration,
) -> Result<T, RaftError> {
    match tokio::time::timeout(timeout, answer).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(RaftError::ShuttingDown),
        Err(_) => Err(RaftError::Timeout),
    }
}
