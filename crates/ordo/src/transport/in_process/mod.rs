//! [`InProcessNetwork`]: nodes of one process talking through channels, with
//! fault injection for tests and benchmarks — the network half of Ordo's
//! test kit (the storage half is
//! [`CrashableLogStore`](crate::storage::CrashableLogStore)).
//!
//! A network hands out one [`InProcessTransport`] per node id. Sending moves
//! the message into the receiver's bounded [`Inbox`] directly: no
//! serialization, no copies of payloads (entries hold `Bytes`). With no fault
//! configured, a send is one map lookup, one counter update and one channel
//! push.
//!
//! # Faults
//! - Whole nodes and groups: [`isolate`](InProcessNetwork::isolate),
//!   [`partition`](InProcessNetwork::partition).
//! - One direction of one link: [`cut`](InProcessNetwork::cut).
//! - Per message, drawn from one seeded generator ([`LinkFaults`]): loss,
//!   delay, duplication, and reordering (a random extra delay lets later
//!   messages overtake earlier ones), for every link
//!   ([`set_faults`](InProcessNetwork::set_faults)) or one directed link
//!   ([`set_link_faults`](InProcessNetwork::set_link_faults)).
//! - Healing: [`heal_link`](InProcessNetwork::heal_link) (one direction),
//!   [`rejoin`](InProcessNetwork::rejoin) (one node),
//!   [`heal`](InProcessNetwork::heal) (everything).
//!
//! Delivery order on a link is send order unless a delay with jitter or a
//! duplicate is configured on it. The same sequence of sends under the same
//! faults and seed meets the same fates; which node sends first is up to
//! the Tokio scheduler, so a multi-threaded test is repeatable only as far
//! as its sends are.
//!
//! # Counters
//! [`traffic`](InProcessNetwork::traffic) returns [`TrafficStats`]: messages
//! and wire bytes sent, copies delivered, dropped and duplicated, in total,
//! per directed link and per [`MessageKind`]. Counting measures each
//! message's encoded size and takes one lock per send; a benchmark uses
//! [`without_counters`](InProcessNetwork::without_counters) instead.
//!
//! ```
//! use std::time::Duration;
//! use ordo::transport::{InProcessNetwork, LinkFaults};
//!
//! let network = InProcessNetwork::new();
//! let (one, two) = (network.transport(1), network.transport(2));
//! network.partition(&[&[1], &[2, 3]]); // 1 hears nobody, nobody hears 1
//! network.cut(2, 3);                   // 2 → 3 lost, 3 → 2 still arrives
//! network.heal_link(2, 3);             // 2 → 3 flows again
//! network.set_link_faults(3, 2, LinkFaults {
//!     duplicate_probability: 0.1,
//!     delay: Duration::from_millis(2),
//!     delay_jitter: Duration::from_millis(5), // reorders
//!     ..LinkFaults::default()
//! });
//! network.heal();                      // everything flows again
//! assert_eq!(network.traffic().link(1, 2).sent, 0);
//! # drop((one, two));
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use ordo_core::{Message, NodeId, SplitMix64};

use crate::transport::{Delivered, Inbox, Transport, TransportError, codec};

mod faults;
mod traffic;

pub use faults::LinkFaults;
pub use traffic::{MessageKind, Traffic, TrafficStats};

use faults::{Fate, Faults};
use traffic::{Counters, Outcome};

/// Most messages held back by delays at once; beyond it they are dropped.
pub const DELAYED_MESSAGES_MAX: usize = 100_000;

/// A set of in-process nodes and the faults between them. Cheap to clone;
/// clones control the same network. `Default` is
/// [`new`](Self::new).
#[derive(Clone, Debug)]
pub struct InProcessNetwork {
    inner: Arc<Network>,
}

#[derive(Debug, Default)]
struct Network {
    nodes: RwLock<HashMap<NodeId, Inbox>>,
    /// True while any fault is configured; the send path skips the fault
    /// lock otherwise.
    faulty: AtomicBool,
    faults: Mutex<Faults>,
    /// False for a network made `without_counters`: the send path then
    /// neither measures nor counts.
    counting: bool,
    traffic: Mutex<Counters>,
    delayed_now: AtomicUsize,
}

/// Message counts of a network since it was created: the totals of
/// [`TrafficStats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetworkStats {
    /// Messages handed to their receiver's inbox.
    pub delivered: u64,
    /// Messages lost: to faults, to a full inbox, or to a stopped receiver.
    pub dropped: u64,
}

impl InProcessNetwork {
    /// A network with no nodes and no faults, counting its traffic.
    pub fn new() -> Self {
        InProcessNetwork {
            inner: Arc::new(Network {
                counting: true,
                ..Network::default()
            }),
        }
    }

    /// A network that keeps no counters ([`traffic`](Self::traffic) stays
    /// zero): for benchmarks, where measuring each message's wire size and
    /// taking the counters' lock would be counted against the runtime.
    pub fn without_counters() -> Self {
        InProcessNetwork {
            inner: Arc::new(Network::default()),
        }
    }

    /// The transport for node `id`. Start at most one per id at a time.
    pub fn transport(&self, id: NodeId) -> InProcessTransport {
        InProcessTransport {
            id,
            network: Arc::clone(&self.inner),
        }
    }

    /// Splits the network: nodes in different groups cannot reach each other,
    /// either way. Nodes in no group are unaffected. Adds to existing faults;
    /// each cut it makes heals with [`heal_link`](Self::heal_link).
    pub fn partition(&self, groups: &[&[NodeId]]) {
        self.update(|faults| {
            for (i, left) in groups.iter().enumerate() {
                for right in &groups[i + 1..] {
                    for &a in left.iter() {
                        for &b in right.iter() {
                            faults.cut.insert((a, b));
                            faults.cut.insert((b, a));
                        }
                    }
                }
            }
        });
    }

    /// Cuts node `id` off from everyone, both ways, until
    /// [`rejoin`](Self::rejoin) or [`heal`](Self::heal).
    pub fn isolate(&self, id: NodeId) {
        self.update(|faults| {
            faults.isolated.insert(id);
        });
    }

    /// Cuts the link from `from` to `to` only: `to` still reaches `from`.
    pub fn cut(&self, from: NodeId, to: NodeId) {
        self.update(|faults| {
            faults.cut.insert((from, to));
        });
    }

    /// Gives every link without faults of its own the faults `link`.
    pub fn set_faults(&self, link: LinkFaults) {
        self.update(|faults| faults.default = link.clamped());
    }

    /// Gives the link from `from` to `to` the faults `link`, instead of the
    /// network's default.
    pub fn set_link_faults(&self, from: NodeId, to: NodeId, link: LinkFaults) {
        self.update(|faults| {
            faults.links.insert((from, to), link.clamped());
        });
    }

    /// Reseeds the generator every random fault draws from.
    pub fn set_seed(&self, seed: u64) {
        self.update(|faults| faults.rng = SplitMix64::new(seed));
    }

    /// Loses each message with probability `rate` (clamped to [0, 1]) on
    /// every link without faults of its own, drawn from a generator seeded
    /// with `seed`.
    pub fn set_drop_rate(&self, rate: f64, seed: u64) {
        self.update(|faults| {
            faults.default = LinkFaults {
                drop_probability: rate,
                ..faults.default
            }
            .clamped();
            faults.rng = SplitMix64::new(seed);
        });
    }

    /// Delays every message by `delay` (links with their own faults keep
    /// theirs).
    pub fn set_delay(&self, delay: Duration) {
        self.update(|faults| faults.default.delay = delay);
    }

    /// Delays messages from `from` to `to` by `delay`, keeping the link's
    /// other faults.
    pub fn set_link_delay(&self, from: NodeId, to: NodeId, delay: Duration) {
        self.update(|faults| {
            let link = faults.of_link(from, to);
            faults
                .links
                .insert((from, to), LinkFaults { delay, ..link });
        });
    }

    /// Heals one direction: the link from `from` to `to` is no longer cut
    /// and loses the faults of its own (it follows the network's default
    /// again). Isolation is a fault of a node: see [`rejoin`](Self::rejoin).
    pub fn heal_link(&self, from: NodeId, to: NodeId) {
        self.update(|faults| {
            faults.cut.remove(&(from, to));
            faults.links.remove(&(from, to));
        });
    }

    /// Heals node `id`: no longer isolated, and every link from or to it
    /// healed as by [`heal_link`](Self::heal_link).
    pub fn rejoin(&self, id: NodeId) {
        self.update(|faults| {
            faults.isolated.remove(&id);
            faults.cut.retain(|&(from, to)| from != id && to != id);
            faults.links.retain(|&(from, to), _| from != id && to != id);
        });
    }

    /// Removes every fault. The generator goes on from where it was.
    pub fn heal(&self) {
        self.update(|faults| {
            let rng = faults.rng.clone();
            *faults = Faults {
                rng,
                ..Faults::default()
            };
        });
    }

    /// Messages delivered and dropped so far (zero for a network
    /// [`without_counters`](Self::without_counters)).
    pub fn stats(&self) -> NetworkStats {
        let total = self.inner.lock_traffic().snapshot().total;
        NetworkStats {
            delivered: total.delivered,
            dropped: total.dropped,
        }
    }

    /// Every counter, in total, per link and per message kind.
    pub fn traffic(&self) -> TrafficStats {
        self.inner.lock_traffic().snapshot()
    }

    /// Sets every counter back to zero (say, between phases of a test).
    pub fn reset_traffic(&self) {
        *self.inner.lock_traffic() = Counters::default();
    }

    fn update(&self, change: impl FnOnce(&mut Faults)) {
        let mut faults = self.inner.lock_faults();
        change(&mut faults);
        self.inner
            .faulty
            .store(!faults.is_clear(), Ordering::Release);
    }
}

impl Default for InProcessNetwork {
    fn default() -> Self {
        Self::new()
    }
}

impl Network {
    fn lock_faults(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_traffic(&self) -> MutexGuard<'_, Counters> {
        self.traffic.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, message: &Message, outcomes: &[Outcome]) {
        let kind = MessageKind::of(&message.body);
        self.count(message.from, message.to, kind, outcomes);
    }

    fn count(&self, from: NodeId, to: NodeId, kind: MessageKind, outcomes: &[Outcome]) {
        if self.counting {
            self.lock_traffic().record(from, to, kind, outcomes);
        }
    }

    /// The message's size on the wire, measured only when counting.
    fn sent(&self, message: &Message) -> Outcome {
        let bytes = if self.counting {
            codec::encoded_len(message) as u64
        } else {
            0
        };
        Outcome::Sent { bytes }
    }

    fn inbox_of(&self, id: NodeId) -> Option<Inbox> {
        self.nodes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .cloned()
    }

    /// Counts the message sent and each copy delivered at once; a delayed
    /// copy counts when it arrives. The common case (no fault, or a drop)
    /// takes the counters' lock once.
    fn route(self: &Arc<Self>, message: Message) {
        let sent = self.sent(&message);
        let fate = if self.faulty.load(Ordering::Acquire) {
            self.lock_faults().fate(message.from, message.to)
        } else {
            Fate::Deliver {
                delay: Duration::ZERO,
                duplicate: None,
            }
        };
        match fate {
            Fate::Drop => self.record(&message, &[sent, Outcome::Dropped]),
            Fate::Deliver {
                delay,
                duplicate: None,
            } if delay.is_zero() => {
                let (from, to, kind) = (message.from, message.to, MessageKind::of(&message.body));
                let outcome = self.deliver(message);
                self.count(from, to, kind, &[sent, outcome]);
            }
            Fate::Deliver { delay, duplicate } => {
                self.record(&message, &[sent]);
                if let Some(copy_delay) = duplicate {
                    self.record(&message, &[Outcome::Duplicated]);
                    self.deliver_after(message.clone(), copy_delay);
                }
                self.deliver_after(message, delay);
            }
        }
    }

    fn deliver_after(self: &Arc<Self>, message: Message, delay: Duration) {
        if delay.is_zero() {
            let (from, to, kind) = (message.from, message.to, MessageKind::of(&message.body));
            let outcome = self.deliver(message);
            self.count(from, to, kind, &[outcome]);
        } else {
            self.deliver_later(message, delay);
        }
    }

    /// Hands `message` to its receiver; says whether it was queued. Counts
    /// nothing: the caller does, with whatever else it counts.
    fn deliver(&self, message: Message) -> Outcome {
        let (from, to) = (message.from, message.to);
        let Some(inbox) = self.inbox_of(to) else {
            // Like a refused connection: tell the sender.
            if let Some(sender) = self.inbox_of(from) {
                let _ = sender.unreachable(to);
            }
            return Outcome::Dropped;
        };
        match inbox.deliver(message) {
            Delivered::Queued => Outcome::Delivered,
            Delivered::DroppedFull | Delivered::DroppedClosed => Outcome::Dropped,
        }
    }

    fn deliver_later(self: &Arc<Self>, message: Message, delay: Duration) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.record(&message, &[Outcome::Dropped]);
            return;
        };
        if self.delayed_now.fetch_add(1, Ordering::AcqRel) >= DELAYED_MESSAGES_MAX {
            self.delayed_now.fetch_sub(1, Ordering::AcqRel);
            self.record(&message, &[Outcome::Dropped]);
            return;
        }
        let network = Arc::clone(self);
        runtime.spawn(async move {
            tokio::time::sleep(delay).await;
            network.delayed_now.fetch_sub(1, Ordering::AcqRel);
            network.deliver_after(message, Duration::ZERO);
        });
    }
}

/// One node's end of an [`InProcessNetwork`].
#[derive(Clone, Debug)]
pub struct InProcessTransport {
    id: NodeId,
    network: Arc<Network>,
}

impl InProcessTransport {
    /// The node this transport belongs to.
    pub fn id(&self) -> NodeId {
        self.id
    }
}

impl Transport for InProcessTransport {
    fn start(&self, inbox: Inbox) -> Result<(), TransportError> {
        if self.id == 0 {
            return Err(TransportError::Config("node id 0 is not valid".into()));
        }
        let mut nodes = self
            .network
            .nodes
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if nodes.contains_key(&self.id) {
            return Err(TransportError::Config(format!(
                "node {} is already attached to this network",
                self.id
            )));
        }
        nodes.insert(self.id, inbox);
        Ok(())
    }

    fn send(&self, message: Message) {
        if message.from != self.id {
            // Identity is the transport's job: a node speaks only for itself.
            let sent = self.network.sent(&message);
            self.network.record(&message, &[sent, Outcome::Dropped]);
            return;
        }
        self.network.route(message);
    }

    fn stop(&self) {
        self.network
            .nodes
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
    }
}

#[cfg(test)]
mod tests;
