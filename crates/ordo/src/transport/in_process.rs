//! [`InProcessNetwork`]: nodes of one process talking through channels, with
//! fault injection (drop, delay, partitions, one-way cuts) for tests and
//! benchmarks.
//!
//! A network hands out one [`InProcessTransport`] per node id. Sending moves
//! the message into the receiver's bounded [`Inbox`] directly: no
//! serialization, no copies of payloads (entries hold `Bytes`). With no fault
//! configured, a send is one map lookup and one channel push.
//!
//! ```
//! use ordo::transport::InProcessNetwork;
//!
//! let network = InProcessNetwork::new();
//! let (one, two) = (network.transport(1), network.transport(2));
//! network.partition(&[&[1], &[2, 3]]); // 1 hears nobody, nobody hears 1
//! network.cut(2, 3);                   // 2 → 3 lost, 3 → 2 still arrives
//! network.heal();                      // everything flows again
//! # drop((one, two));
//! ```

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use ordo_core::{Message, NodeId, SplitMix64};

use crate::transport::{Delivered, Inbox, Transport, TransportError};

/// Most messages held back by delays at once; beyond it they are dropped.
pub const DELAYED_MESSAGES_MAX: usize = 100_000;

/// A set of in-process nodes and the faults between them. Cheap to clone;
/// clones control the same network.
#[derive(Clone, Debug, Default)]
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
    delivered: AtomicU64,
    dropped: AtomicU64,
    delayed_now: AtomicUsize,
}

#[derive(Debug, Default)]
struct Faults {
    /// Links cut one way: (from, to).
    cut: HashSet<(NodeId, NodeId)>,
    /// Nodes that neither send nor receive.
    isolated: HashSet<NodeId>,
    /// Chance of losing any message, in [0, 1].
    drop_rate: f64,
    /// Delay of every message, unless its link has its own.
    delay: Option<Duration>,
    link_delays: HashMap<(NodeId, NodeId), Duration>,
    rng: SplitMix64,
}

impl Faults {
    fn is_clear(&self) -> bool {
        self.cut.is_empty()
            && self.isolated.is_empty()
            && self.drop_rate <= 0.0
            && self.delay.is_none()
            && self.link_delays.is_empty()
    }

    /// What happens to a message from `from` to `to`.
    fn fate(&mut self, from: NodeId, to: NodeId) -> Fate {
        if self.isolated.contains(&from)
            || self.isolated.contains(&to)
            || self.cut.contains(&(from, to))
        {
            return Fate::Drop;
        }
        if self.drop_rate > 0.0 && self.next_unit() < self.drop_rate {
            return Fate::Drop;
        }
        match self.link_delays.get(&(from, to)).copied().or(self.delay) {
            Some(delay) if !delay.is_zero() => Fate::Delay(delay),
            _ => Fate::Deliver,
        }
    }

    /// A uniform number in [0, 1).
    fn next_unit(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

enum Fate {
    Deliver,
    Delay(Duration),
    Drop,
}

/// Message counts of a network since it was created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetworkStats {
    /// Messages handed to their receiver's inbox.
    pub delivered: u64,
    /// Messages lost: to faults, to a full inbox, or to a stopped receiver.
    pub dropped: u64,
}

impl InProcessNetwork {
    /// A network with no nodes and no faults.
    pub fn new() -> Self {
        Self::default()
    }

    /// The transport for node `id`. Start at most one per id at a time.
    pub fn transport(&self, id: NodeId) -> InProcessTransport {
        InProcessTransport {
            id,
            network: Arc::clone(&self.inner),
        }
    }

    /// Splits the network: nodes in different groups cannot reach each other,
    /// either way. Nodes in no group are unaffected. Adds to existing faults.
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

    /// Cuts node `id` off from everyone, both ways.
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

    /// Loses each message with probability `rate` (clamped to [0, 1]),
    /// drawn from a generator seeded with `seed`.
    pub fn set_drop_rate(&self, rate: f64, seed: u64) {
        self.update(|faults| {
            faults.drop_rate = if rate.is_nan() {
                0.0
            } else {
                rate.clamp(0.0, 1.0)
            };
            faults.rng = SplitMix64::new(seed);
        });
    }

    /// Delays every message by `delay` (links with their own delay keep it).
    pub fn set_delay(&self, delay: Duration) {
        self.update(|faults| faults.delay = Some(delay));
    }

    /// Delays messages from `from` to `to` by `delay`.
    pub fn set_link_delay(&self, from: NodeId, to: NodeId, delay: Duration) {
        self.update(|faults| {
            faults.link_delays.insert((from, to), delay);
        });
    }

    /// Removes every fault.
    pub fn heal(&self) {
        self.update(|faults| {
            let rng = faults.rng.clone();
            *faults = Faults {
                rng,
                ..Faults::default()
            };
        });
    }

    /// Messages delivered and dropped so far.
    pub fn stats(&self) -> NetworkStats {
        NetworkStats {
            delivered: self.inner.delivered.load(Ordering::Relaxed),
            dropped: self.inner.dropped.load(Ordering::Relaxed),
        }
    }

    fn update(&self, change: impl FnOnce(&mut Faults)) {
        let mut faults = self.inner.lock_faults();
        change(&mut faults);
        self.inner
            .faulty
            .store(!faults.is_clear(), Ordering::Release);
    }
}

impl Network {
    fn lock_faults(&self) -> std::sync::MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn inbox_of(&self, id: NodeId) -> Option<Inbox> {
        self.nodes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .cloned()
    }

    fn route(self: &Arc<Self>, message: Message) {
        let fate = if self.faulty.load(Ordering::Acquire) {
            self.lock_faults().fate(message.from, message.to)
        } else {
            Fate::Deliver
        };
        match fate {
            Fate::Deliver => self.deliver(message),
            Fate::Drop => self.count_drop(),
            Fate::Delay(delay) => self.deliver_later(message, delay),
        }
    }

    fn deliver(&self, message: Message) {
        let (from, to) = (message.from, message.to);
        let Some(inbox) = self.inbox_of(to) else {
            // Like a refused connection: tell the sender.
            self.count_drop();
            if let Some(sender) = self.inbox_of(from) {
                let _ = sender.unreachable(to);
            }
            return;
        };
        match inbox.deliver(message) {
            Delivered::Queued => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Delivered::DroppedFull | Delivered::DroppedClosed => self.count_drop(),
        }
    }

    fn deliver_later(self: &Arc<Self>, message: Message, delay: Duration) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.count_drop();
            return;
        };
        if self.delayed_now.fetch_add(1, Ordering::AcqRel) >= DELAYED_MESSAGES_MAX {
            self.delayed_now.fetch_sub(1, Ordering::AcqRel);
            self.count_drop();
            return;
        }
        let network = Arc::clone(self);
        runtime.spawn(async move {
            tokio::time::sleep(delay).await;
            network.delayed_now.fetch_sub(1, Ordering::AcqRel);
            network.deliver(message);
        });
    }

    fn count_drop(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
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
            self.network.count_drop();
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
mod tests {
    use super::*;
    use crate::transport::{Inbound, InboxReceiver};
    use ordo_core::{MessageBody, VoteResponse};

    fn message(from: NodeId, to: NodeId) -> Message {
        Message {
            from,
            to,
            term: 1,
            body: MessageBody::VoteResponse(VoteResponse { granted: true }),
        }
    }

    fn attach(network: &InProcessNetwork, id: NodeId) -> (InProcessTransport, InboxReceiver) {
        let transport = network.transport(id);
        let (inbox, receiver) = Inbox::bounded(16);
        assert!(transport.start(inbox).is_ok());
        (transport, receiver)
    }

    #[test]
    fn messages_reach_their_receiver_only() {
        let network = InProcessNetwork::new();
        let (one, _r1) = attach(&network, 1);
        let (_two, mut r2) = attach(&network, 2);
        let (_three, mut r3) = attach(&network, 3);
        one.send(message(1, 2));
        assert_eq!(r2.try_recv().ok(), Some(Inbound::Message(message(1, 2))));
        assert!(r3.try_recv().is_err());
        assert_eq!(network.stats().delivered, 1);
    }

    #[test]
    fn a_node_cannot_speak_for_another() {
        let network = InProcessNetwork::new();
        let (one, _r1) = attach(&network, 1);
        let (_two, mut r2) = attach(&network, 2);
        one.send(message(3, 2));
        assert!(r2.try_recv().is_err());
        assert_eq!(network.stats().dropped, 1);
    }

    #[test]
    fn one_way_cuts_and_partitions_drop_until_healed() {
        let network = InProcessNetwork::new();
        let (one, mut r1) = attach(&network, 1);
        let (two, mut r2) = attach(&network, 2);
        network.cut(1, 2);
        one.send(message(1, 2));
        two.send(message(2, 1));
        assert!(r2.try_recv().is_err(), "1 → 2 is cut");
        assert!(r1.try_recv().is_ok(), "2 → 1 still flows");
        network.heal();
        network.partition(&[&[1], &[2]]);
        two.send(message(2, 1));
        assert!(r1.try_recv().is_err());
        network.heal();
        one.send(message(1, 2));
        assert!(r2.try_recv().is_ok());
    }

    #[test]
    fn isolation_and_drop_rate() {
        let network = InProcessNetwork::new();
        let (one, _r1) = attach(&network, 1);
        let (_two, mut r2) = attach(&network, 2);
        network.isolate(1);
        one.send(message(1, 2));
        assert!(r2.try_recv().is_err());
        network.heal();
        network.set_drop_rate(0.5, 7);
        let mut arrived = 0;
        for _ in 0..10 {
            one.send(message(1, 2));
        }
        while r2.try_recv().is_ok() {
            arrived += 1;
        }
        assert!((1..10).contains(&arrived), "{arrived} of 10 arrived");
    }

    #[test]
    fn a_message_to_a_stopped_node_reports_it_unreachable() {
        let network = InProcessNetwork::new();
        let (one, mut r1) = attach(&network, 1);
        let (two, _r2) = attach(&network, 2);
        two.stop();
        one.send(message(1, 2));
        assert_eq!(r1.try_recv().ok(), Some(Inbound::Unreachable(2)));
    }

    #[test]
    fn a_node_id_is_attached_once() {
        let network = InProcessNetwork::new();
        let (_one, _r1) = attach(&network, 1);
        let (inbox, _receiver) = Inbox::bounded(1);
        assert!(network.transport(1).start(inbox.clone()).is_err());
        assert!(network.transport(0).start(inbox).is_err());
    }

    #[tokio::test]
    async fn delayed_messages_arrive_later() {
        let network = InProcessNetwork::new();
        let (one, _r1) = attach(&network, 1);
        let (_two, mut r2) = attach(&network, 2);
        network.set_link_delay(1, 2, Duration::from_millis(20));
        one.send(message(1, 2));
        assert!(r2.try_recv().is_err());
        let arrived = tokio::time::timeout(Duration::from_secs(5), r2.recv()).await;
        assert_eq!(
            arrived.ok().flatten(),
            Some(Inbound::Message(message(1, 2)))
        );
    }
}
