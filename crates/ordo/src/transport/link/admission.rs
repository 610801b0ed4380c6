//! What every wire does with a caller before its first message: take one of
//! the few pending-handshake slots (or shed the connection), open TLS and
//! read the node the caller's certificate names (with peer TLS), then answer
//! its hello — the handshake's rules, then the peer table — and register the
//! authenticated connection. Done here once, so that TCP and gRPC refuse the
//! same callers for the same reasons, logged and counted alike. How a
//! refusal reaches the caller (a frame, a gRPC status) is the wire's; what
//! reaches it is always [`Refusal::withheld`]: a caller that is refused
//! learns nothing of this cluster's name or nodes (the reason is in the local
//! log and in the per-reason counters).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use ordo_core::NodeId;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::warn;

use super::{Counters, InboundRegistration, Links, Wire};
use crate::transport::ClusterId;
use crate::transport::codec::handshake::{Hello, LocalIdentity, Refusal, RefusalReason, Welcome};
use crate::transport::tls::{NodeIdentity, PeerTls, PeerTlsStream, peer_identity};

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
    /// for the node `local`: it must come from the node its TLS certificate
    /// names (`certified`, when the connection is TLS; the certificate's
    /// cluster is the wire's to check), pass the handshake's
    /// rules and still be a peer.
    ///
    /// # Errors
    /// The refusal to tell the caller ([`Refusal::withheld`]), the real
    /// reason already logged and counted.
    pub(crate) fn answer_hello(
        self: &Arc<Self>,
        local: &LocalIdentity,
        hello: Result<Hello, String>,
        certified: Option<NodeId>,
    ) -> Result<Admitted<W>, Refusal> {
        self.admit(local, hello, certified).map_err(|refusal| {
            warn!(reason = %refusal.reason, detail = %refusal.detail, "handshake refused");
            let counters = self.counters();
            Counters::bump(&counters.handshakes_refused);
            Counters::bump(refusal_counter(counters, refusal.reason));
            Refusal::withheld()
        })
    }

    fn admit(
        self: &Arc<Self>,
        local: &LocalIdentity,
        hello: Result<Hello, String>,
        certified: Option<NodeId>,
    ) -> Result<Admitted<W>, Refusal> {
        let hello = hello.map_err(|detail| Refusal {
            reason: RefusalReason::Malformed,
            detail,
        })?;
        if let Some(certified) = certified {
            check_certified(&hello, certified)?;
        }
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

impl<W: Wire> Links<W> {
    /// Accepts TLS from `remote` over `stream` for a transport of
    /// `cluster_id`, and reads the node the caller's certificate names;
    /// `None` (logged and counted as a refused handshake) when the TLS
    /// handshake fails or the certificate names no node of this cluster.
    /// The caller's hello must then claim that node ([`Links::answer_hello`]).
    pub(crate) async fn accept_tls<IO>(
        &self,
        tls: &PeerTls,
        stream: IO,
        remote: SocketAddr,
        cluster_id: &ClusterId,
    ) -> Option<(PeerTlsStream<IO>, NodeId)>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let counters = self.counters();
        let refused = |detail: String, counter| {
            warn!(%remote, %detail, "TLS handshake refused");
            Counters::bump(&counters.handshakes_refused);
            Counters::bump(counter);
        };
        let stream = match tls.accept(stream).await {
            Ok(stream) => stream,
            Err(error) => {
                refused(error.to_string(), &counters.refused_tls);
                return None;
            }
        };
        match peer_identity(&stream) {
            Ok(certified) if tls.names_cluster(&certified, cluster_id) => {
                Some((stream, certified.node_id))
            }
            Ok(certified) => {
                let uri = NodeIdentity::uri(&certified.cluster_id, certified.node_id);
                let detail = format!("the certificate names {uri}, of another cluster");
                refused(detail, &counters.refused_certificate_mismatch);
                None
            }
            Err(error) => {
                refused(error.to_string(), &counters.refused_tls);
                None
            }
        }
    }
}

/// A TLS caller's hello must claim the node its certificate names: a
/// certificate for node 2 never speaks as node 3.
fn check_certified(hello: &Hello, certified: NodeId) -> Result<(), Refusal> {
    if certified == hello.from {
        return Ok(());
    }
    Err(Refusal {
        reason: RefusalReason::CertificateMismatch,
        detail: format!(
            "the hello claims node {} but the certificate names node {certified}",
            hello.from
        ),
    })
}

/// The counter of refusals for `reason`.
fn refusal_counter(counters: &Counters, reason: RefusalReason) -> &AtomicU64 {
    match reason {
        RefusalReason::WrongCluster => &counters.refused_wrong_cluster,
        RefusalReason::UnsupportedVersion => &counters.refused_unsupported_version,
        RefusalReason::UnknownNode => &counters.refused_unknown_node,
        RefusalReason::WrongNode => &counters.refused_wrong_node,
        RefusalReason::CertificateMismatch => &counters.refused_certificate_mismatch,
        RefusalReason::Malformed | RefusalReason::Withheld | RefusalReason::Other(_) => {
            &counters.refused_malformed
        }
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

        let unreadable = links.answer_hello(&local, Err("not a hello".to_owned()), None);
        assert_eq!(refusal_reason(unreadable), RefusalReason::Withheld);
        let stranger = links.answer_hello(&local, Ok(hello_from(3)), None);
        assert_eq!(refusal_reason(stranger), RefusalReason::Withheld);

        let admitted = links.answer_hello(&local, Ok(hello_from(2)), None).unwrap();
        assert_eq!((admitted.peer, admitted.welcome.node_id), (2, 1));
        drop(admitted);

        // Past the rules but no longer registrable: the transport stopped.
        links.stop();
        let late = links.answer_hello(&local, Ok(hello_from(2)), None);
        assert_eq!(refusal_reason(late), RefusalReason::Withheld);
        let stats = links.counters().snapshot();
        assert_eq!(stats.handshakes_refused, 3);
        assert_eq!(
            (stats.refused_malformed, stats.refused_unknown_node),
            (1, 2)
        );
    }

    #[test]
    fn a_tls_caller_must_claim_the_node_its_certificate_names() {
        let (links, local) = links_of_node_1();
        let answer = links.answer_hello(&local, Ok(hello_from(2)), Some(3));
        assert_eq!(refusal_reason(answer), RefusalReason::Withheld);
        assert_eq!(links.counters().snapshot().refused_certificate_mismatch, 1);
        assert!(
            links
                .answer_hello(&local, Ok(hello_from(2)), Some(2))
                .is_ok()
        );
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
