//! What the TCP and gRPC transports share: the peer table with one bounded
//! send queue per peer, the dialer loop that keeps one outbound connection
//! per peer alive (reconnecting with jittered exponential back-off and
//! reporting unreachable peers), the admission of inbound connections
//! (pending-handshake slots, answering the hello), the table of
//! authenticated inbound connections, the counters, and a connection that
//! is plaintext or TLS (`plain_or_tls.rs`).
//!
//! ```text
//! send(msg) --try_send--> [queue of peer 2] --> dialer task 2 --connect/handshake--> peer 2
//!                         [queue of peer 3] --> dialer task 3 -- ...               --> peer 3
//!            (full: drop)                       (down: drop queued, back off,
//!                                                 report Unreachable, retry)
//! ```
//!
//! A protocol plugs in as a [`Wire`]: how to open an authenticated
//! connection to a peer, how to stream a queue over it, and how to accept.
//! Everything else (when to retry, what to drop, what to tell the node) is
//! decided here once.

mod admission;
pub(crate) mod backoff;
mod config;
mod inbound;
mod plain_or_tls;
mod stats;
mod wire;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::Duration;

use ordo_core::{Message, NodeId};
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, info, warn};

pub(crate) use self::admission::{Admitted, HandshakeSlots};
use self::backoff::Backoff;
pub(crate) use self::config::check_peer;
pub use self::config::{DEFAULT_MAX_FRAME_BYTES, NetworkConfig, NetworkConfigError};
pub(crate) use self::inbound::{AfterDelivery, InboundLink, Refused};
pub(crate) use self::plain_or_tls::PlainOrTls;
pub(crate) use self::stats::Counters;
pub use self::stats::TransportStats;
pub(crate) use self::wire::StreamEnd;
pub use self::wire::Wire;
use super::Inbox;

/// The limits the shared layer needs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LinkSettings {
    /// This node's id.
    pub(crate) node_id: NodeId,
    /// Capacity of each peer's send queue, in messages.
    pub(crate) send_queue_messages: usize,
    /// First reconnection delay.
    pub(crate) reconnect_backoff_min: Duration,
    /// Largest reconnection delay.
    pub(crate) reconnect_backoff_max: Duration,
}

/// The peers of one transport and the tasks serving them.
pub struct Links<W: Wire> {
    wire: Arc<W>,
    settings: LinkSettings,
    /// Lock order: `peers` before `inbound`.
    peers: RwLock<HashMap<NodeId, PeerSlot>>,
    inbound: Mutex<HashMap<NodeId, InboundSlot>>,
    running: OnceLock<Running>,
    cancel: CancellationToken,
    tracker: TaskTracker,
    counters: Arc<Counters>,
    next_inbound_id: AtomicU64,
}

struct PeerSlot {
    address: String,
    queue: mpsc::Sender<Message>,
    cancel: CancellationToken,
    /// The queue's receiving end until the transport starts and a dialer
    /// task takes it.
    pending: Option<mpsc::Receiver<Message>>,
}

struct InboundSlot {
    id: u64,
    cancel: CancellationToken,
}

struct Running {
    inbox: Inbox,
    handle: Handle,
}

/// The transport was started twice.
#[derive(Debug)]
pub(crate) struct AlreadyStarted;

impl<W: Wire> Links<W> {
    /// Links with no peers yet, reporting to `counters`.
    pub(crate) fn new(wire: W, settings: LinkSettings, counters: Arc<Counters>) -> Self {
        Links {
            wire: Arc::new(wire),
            settings,
            peers: RwLock::new(HashMap::new()),
            inbound: Mutex::new(HashMap::new()),
            running: OnceLock::new(),
            cancel: CancellationToken::new(),
            tracker: TaskTracker::new(),
            counters,
            next_inbound_id: AtomicU64::new(1),
        }
    }

    /// The counters.
    pub(crate) fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// The wire the links dial and stream with.
    pub(crate) fn wire(&self) -> &W {
        &self.wire
    }

    /// Starts a dialer for every peer known so far; later peers get theirs
    /// when added.
    pub(crate) fn start(&self, inbox: Inbox, handle: Handle) -> Result<(), AlreadyStarted> {
        self.running
            .set(Running { inbox, handle })
            .map_err(|_| AlreadyStarted)?;
        let mut peers = self.peers.write().unwrap_or_else(PoisonError::into_inner);
        for (&peer, slot) in peers.iter_mut() {
            if let Some(queue) = slot.pending.take() {
                self.spawn_dialer(peer, slot, queue);
            }
        }
        Ok(())
    }

    /// The token cancelled when the transport stops.
    pub(crate) fn cancellation(&self) -> &CancellationToken {
        &self.cancel
    }

    /// Runs `task` on the transport's runtime, tracked for
    /// [`Links::shutdown`]. Does nothing before start.
    pub(crate) fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if let Some(running) = self.running.get() {
            self.tracker.spawn_on(task, &running.handle);
        }
    }

    /// Queues `message` for its peer without waiting; drops it (and counts
    /// why) when the queue is full or the peer unknown.
    pub(crate) fn send(&self, message: Message) {
        if self.cancel.is_cancelled() {
            Counters::bump(&self.counters.dropped_disconnected);
            return;
        }
        let peers = self.peers.read().unwrap_or_else(PoisonError::into_inner);
        let Some(slot) = peers.get(&message.to) else {
            debug!(
                to = message.to,
                kind = message.body.kind(),
                "no such peer, message dropped"
            );
            Counters::bump(&self.counters.dropped_unknown_peer);
            return;
        };
        match slot.queue.try_send(message) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(message)) => {
                debug!(
                    to = message.to,
                    kind = message.body.kind(),
                    "send queue full, message dropped"
                );
                Counters::bump(&self.counters.dropped_queue_full);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                Counters::bump(&self.counters.dropped_disconnected);
            }
        }
    }

    /// Adds `peer` at `address`, or moves it there. Returns false if it was
    /// already there.
    pub(crate) fn add_peer(&self, peer: NodeId, address: String) -> bool {
        let mut peers = self.peers.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(old) = peers.get(&peer) {
            if old.address == address {
                return false;
            }
            old.cancel.cancel();
        }
        let (queue, receiver) = mpsc::channel(self.settings.send_queue_messages);
        let mut slot = PeerSlot {
            address,
            queue,
            cancel: self.cancel.child_token(),
            pending: None,
        };
        if self.running.get().is_some() {
            self.spawn_dialer(peer, &slot, receiver);
        } else {
            slot.pending = Some(receiver);
        }
        info!(node = self.settings.node_id, peer, address = %slot.address, "peer added");
        peers.insert(peer, slot);
        true
    }

    /// Removes `peer`: its dialer stops, its queue is dropped and its inbound
    /// connection closed. Returns false if it was not a peer.
    pub(crate) fn remove_peer(&self, peer: NodeId) -> bool {
        let mut peers = self.peers.write().unwrap_or_else(PoisonError::into_inner);
        let Some(slot) = peers.remove(&peer) else {
            return false;
        };
        slot.cancel.cancel();
        let mut inbound = self.inbound.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(connection) = inbound.remove(&peer) {
            connection.cancel.cancel();
        }
        info!(node = self.settings.node_id, peer, "peer removed");
        true
    }

    /// True if `peer` is currently a peer.
    pub(crate) fn is_peer(&self, peer: NodeId) -> bool {
        let peers = self.peers.read().unwrap_or_else(PoisonError::into_inner);
        peers.contains_key(&peer)
    }

    /// The current peers and their addresses, by id.
    pub(crate) fn peers(&self) -> Vec<(NodeId, String)> {
        let peers = self.peers.read().unwrap_or_else(PoisonError::into_inner);
        let mut list: Vec<_> = peers
            .iter()
            .map(|(&id, slot)| (id, slot.address.clone()))
            .collect();
        list.sort();
        list
    }

    /// Records an authenticated inbound connection from `peer`, closing any
    /// older one from the same peer (a peer that reconnects supersedes its
    /// previous connection). `None` if `peer` is no longer a peer.
    pub(crate) fn register_inbound(
        self: &Arc<Self>,
        peer: NodeId,
    ) -> Option<InboundRegistration<W>> {
        let peers = self.peers.read().unwrap_or_else(PoisonError::into_inner);
        if !peers.contains_key(&peer) || self.cancel.is_cancelled() {
            return None;
        }
        let id = self.next_inbound_id.fetch_add(1, Ordering::Relaxed);
        let cancel = self.cancel.child_token();
        let mut inbound = self.inbound.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = InboundSlot {
            id,
            cancel: cancel.clone(),
        };
        if let Some(older) = inbound.insert(peer, slot) {
            debug!(
                peer,
                "a new connection from the peer supersedes its older one"
            );
            older.cancel.cancel();
        }
        Some(InboundRegistration {
            links: Arc::clone(self),
            peer,
            id,
            cancel,
        })
    }

    /// Stops every task; sends are dropped from now on.
    pub(crate) fn stop(&self) {
        self.cancel.cancel();
        self.tracker.close();
    }

    /// Stops every task and waits until all have ended (and so released
    /// their sockets).
    pub(crate) async fn shutdown(&self) {
        self.stop();
        self.tracker.wait().await;
    }

    fn spawn_dialer(&self, peer: NodeId, slot: &PeerSlot, queue: mpsc::Receiver<Message>) {
        let Some(running) = self.running.get() else {
            return;
        };
        let dialer = Dialer {
            wire: Arc::clone(&self.wire),
            peer,
            address: slot.address.clone(),
            queue,
            cancel: slot.cancel.clone(),
            inbox: running.inbox.clone(),
            counters: Arc::clone(&self.counters),
            backoff: Backoff::seeded_for(
                self.settings.reconnect_backoff_min,
                self.settings.reconnect_backoff_max,
                self.settings.node_id,
                peer,
            ),
        };
        let span = tracing::info_span!("ordo_dialer", node = self.settings.node_id, peer);
        self.tracker
            .spawn_on(dialer.run().instrument(span), &running.handle);
    }
}

/// An inbound connection's place in the table; dropping it frees the place
/// (unless a newer connection from the same peer took it already).
pub(crate) struct InboundRegistration<W: Wire> {
    links: Arc<Links<W>>,
    peer: NodeId,
    id: u64,
    cancel: CancellationToken,
}

impl<W: Wire> InboundRegistration<W> {
    /// Cancelled when the connection must close: the transport stops, the
    /// peer is removed, or the peer opened a newer connection.
    pub(crate) fn cancellation(&self) -> &CancellationToken {
        &self.cancel
    }
}

impl<W: Wire> Drop for InboundRegistration<W> {
    fn drop(&mut self) {
        let mut inbound = self
            .links
            .inbound
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if inbound
            .get(&self.peer)
            .is_some_and(|slot| slot.id == self.id)
        {
            inbound.remove(&self.peer);
        }
    }
}

/// The task that keeps one peer's outbound connection alive.
struct Dialer<W: Wire> {
    wire: Arc<W>,
    peer: NodeId,
    address: String,
    queue: mpsc::Receiver<Message>,
    cancel: CancellationToken,
    inbox: Inbox,
    counters: Arc<Counters>,
    backoff: Backoff,
}

impl<W: Wire> Dialer<W> {
    async fn run(mut self) {
        let mut failures_in_a_row: u32 = 0;
        loop {
            let attempt = tokio::select! {
                biased;
                () = self.cancel.cancelled() => return,
                attempt = self.wire.connect(self.peer, &self.address) => attempt,
            };
            match attempt {
                Ok(connection) => {
                    failures_in_a_row = 0;
                    self.backoff.reset();
                    Counters::bump(&self.counters.connections_opened);
                    info!(address = %self.address, "connected");
                    let end = tokio::select! {
                        biased;
                        () = self.cancel.cancelled() => return,
                        end = self.wire.stream(connection, &mut self.queue) => end,
                    };
                    match end {
                        StreamEnd::QueueClosed => return,
                        StreamEnd::Lost(error) => {
                            Counters::bump(&self.counters.connections_lost);
                            warn!(address = %self.address, %error, "connection lost");
                        }
                    }
                }
                Err(error) => {
                    Counters::bump(&self.counters.connect_failures);
                    if failures_in_a_row == 0 {
                        warn!(address = %self.address, %error, "cannot connect");
                    } else {
                        debug!(address = %self.address, %error, failures_in_a_row, "cannot connect");
                    }
                    failures_in_a_row = failures_in_a_row.saturating_add(1);
                }
            }
            self.inbox.unreachable(self.peer);
            let delay = self.backoff.next_delay();
            if !self.discard_for(delay).await {
                return;
            }
        }
    }

    /// Waits `delay`, dropping what is queued meanwhile (the peer is down;
    /// Raft will resend). False if the dialer must stop.
    async fn discard_for(&mut self, delay: Duration) -> bool {
        let deadline = tokio::time::sleep(delay);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                biased;
                () = self.cancel.cancelled() => return false,
                () = &mut deadline => return true,
                message = self.queue.recv() => match message {
                    Some(_) => Counters::bump(&self.counters.dropped_disconnected),
                    None => return false,
                },
            }
        }
    }
}
