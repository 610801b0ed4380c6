//! What every wire does with a caller before its first message: take one of
//! the few pending-handshake slots (or shed the connection), then answer its
//! hello — the handshake's rules, then the peer table — and register the
//! authenticated connection. Done here once, so that TCP and gRPC refuse the
//! same callers for the same reasons, logged and counted alike. How a
//! refusal reaches the caller (a frame, a gRPC status) is the wire's.

use std::net::SocketAddr;
use std::sync::Arc;

use ordo_core::NodeId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::warn;

use super::{Counters, InboundRegistration, Links, Wire};
use crate::transport::codec::handshake::{Hello, LocalIdentity, Refusal, RefusalReason, Welcome};

/// The inbound connections that may be in their handshake at once (the
/// config's `max_pending_handshakes`), so that callers that never finish it
/// cannot hold every socket.
pub(crate) struct HandshakeSlots {
    slots: Arc<Semaphore>,
    limit: usize,
    counters: Arc<Counters>,
}

impl HandshakeSlots {
    /// `limit` slots, counting sheds in `counters`.
    pub(crate) fn new(limit: usize, counters: Arc<Counters>) -> Self {
        HandshakeSlots {
            slots: Arc::new(Semaphore::new(limit)),
            limit,
            counters,
        }
    }

    /// A slot for a new connection from `remote`, held until its handshake
    /// ends; `None` (logged and counted) when all are taken, and the caller
    /// closes the connection.
    pub(crate) fn take(&self, remote: SocketAddr) -> Option<OwnedSemaphorePermit> {
        let slot = Arc::clone(&self.slots).try_acquire_owned().ok();
        if slot.is_none() {
            warn!(%remote, limit = self.limit, "too many pending handshakes; closing the new connection");
            Counters::bump(&self.counters.handshakes_shed);
        }
        slot
    }
}

/// A caller the handshake authenticated.
pub(crate) struct Admitted<W: Wire> {
    /// The peer it proved to be.
    pub(crate) peer: NodeId,
    /// What to answer it.
    pub(crate) welcome: Welcome,
    /// Its connection's place in the inbound table.
    pub(crate) registration: InboundRegistration<W>,
}

impl<W: Wire> Links<W> {
    /// Answers a caller's `hello` (`Err` with why, if it could not be read)
    /// for the node `local`: it must pass the handshake's rules and still be
    /// a peer.
    ///
    /// # Errors
    /// The refusal to tell the caller, already logged and counted.
    pub(crate) fn answer_hello(
        self: &Arc<Self>,
        local: &LocalIdentity,
        hello: Result<Hello, String>,
    ) -> Result<Admitted<W>, Refusal> {
        self.admit(local, hello).inspect_err(|refusal| {
            warn!(reason = %refusal.reason, detail = %refusal.detail, "handshake refused");
            Counters::bump(&self.counters().handshakes_refused);
        })
    }

    fn admit(
        self: &Arc<Self>,
        local: &LocalIdentity,
        hello: Result<Hello, String>,
    ) -> Result<Admitted<W>, Refusal> {
        let hello = hello.map_err(|detail| Refusal {
            reason: RefusalReason::Malformed,
            detail,
        })?;
        let welcome = hello.answer(local, |id| self.is_peer(id))?;
        let registration = self.register_inbound(hello.from).ok_or_else(|| Refusal {
            reason: RefusalReason::UnknownNode,
            detail: format!("node {} was removed", hello.from),
        })?;
        Ok(Admitted {
            peer: hello.from,
            welcome,
            registration,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::transport::ClusterId;
    use crate::transport::link::{LinkSettings, NetworkConfig};
    use crate::transport::tcp::TcpWire;

    /// Node 1's links, with node 2 as its only peer; not started.
    fn links_of_node_1() -> (Arc<Links<TcpWire>>, LocalIdentity) {
        let local = LocalIdentity {
            cluster_id: ClusterId::new("c-1").unwrap(),
            node_id: 1,
        };
        let config =
            NetworkConfig::new(local.cluster_id.clone(), 1, "127.0.0.1:0".parse().unwrap());
        let counters = Arc::new(Counters::default());
        let wire = TcpWire::new(local.clone(), Arc::new(config), Arc::clone(&counters));
        let settings = LinkSettings {
            node_id: 1,
            send_queue_messages: 4,
            reconnect_backoff_min: Duration::from_millis(1),
            reconnect_backoff_max: Duration::from_millis(2),
        };
        let links = Arc::new(Links::new(wire, settings, counters));
        links.add_peer(2, "127.0.0.1:1".to_owned());
        (links, local)
    }

    fn hello_from(from: NodeId) -> Hello {
        let caller = LocalIdentity {
            cluster_id: ClusterId::new("c-1").unwrap(),
            node_id: from,
        };
        Hello::new(&caller, 1)
    }

    fn refusal_reason(answer: Result<Admitted<TcpWire>, Refusal>) -> RefusalReason {
        answer.err().expect("refused").reason
    }

    #[test]
    fn a_hello_passes_the_handshake_rules_then_the_peer_table() {
        let (links, local) = links_of_node_1();

        let unreadable = links.answer_hello(&local, Err("not a hello".to_owned()));
        assert_eq!(refusal_reason(unreadable), RefusalReason::Malformed);
        let stranger = links.answer_hello(&local, Ok(hello_from(3)));
        assert_eq!(refusal_reason(stranger), RefusalReason::UnknownNode);

        let admitted = links.answer_hello(&local, Ok(hello_from(2))).unwrap();
        assert_eq!((admitted.peer, admitted.welcome.node_id), (2, 1));
        drop(admitted);

        // Past the rules but no longer registrable: the transport stopped.
        links.stop();
        let late = links.answer_hello(&local, Ok(hello_from(2)));
        assert_eq!(refusal_reason(late), RefusalReason::UnknownNode);
        assert_eq!(links.counters().snapshot().handshakes_refused, 3);
    }

    #[test]
    fn connections_beyond_the_pending_handshakes_are_shed_and_counted() {
        let counters = Arc::new(Counters::default());
        let slots = HandshakeSlots::new(2, Arc::clone(&counters));
        let remote = "127.0.0.1:9".parse().unwrap();
        let first = slots.take(remote).unwrap();
        let _second = slots.take(remote).unwrap();
        assert!(slots.take(remote).is_none());
        drop(first);
        assert!(
            slots.take(remote).is_some(),
            "a finished handshake frees its slot"
        );
        assert_eq!(counters.snapshot().handshakes_shed, 1);
    }
}
