//! [`TcpTransport`]: Raft messages over TCP, one listener per node and one
//! outbound connection per peer.
//!
//! # Wire format
//! Every connection carries frames: a 4-byte big-endian length, then that
//! many bytes (a length of 0 is a keepalive). The dialer opens with a
//! [`Hello`](crate::transport::codec::handshake::Hello) frame naming its
//! cluster, its node id, the node it means to reach and the protocol versions
//! it speaks; the acceptor answers with a `Welcome` (its own identity and the
//! version chosen) or a `Refusal` and closes. Both sides check the other's
//! cluster id and node id (see [`codec::handshake`](crate::transport::codec::handshake)).
//! After that, frames flow one way only, dialer to acceptor, each holding one
//! message in the [`codec`](crate::transport::codec) encoding. So a pair of
//! nodes uses two connections, each direction dialed by its sender — which
//! keeps reconnection simple: each node is in charge of its own sends.
//!
//! # What is checked, and what happens
//! | On an inbound connection | Then |
//! |---|---|
//! | no complete handshake within `handshake_timeout` (slow loris) | closed |
//! | more than `max_pending_handshakes` unfinished handshakes | new ones closed at once |
//! | garbage, or a handshake frame over 512 bytes | refused (`Malformed`), closed |
//! | another cluster id / no common version / unknown node / not addressed to us | refused with that reason, closed |
//! | a frame over `max_frame_bytes` | closed before reading it |
//! | a frame that does not decode | closed |
//! | a message whose `from` is not the handshake's node, or `to` not this node | closed |
//! | the stream ends inside a frame | closed |
//! | nothing, not even a keepalive, for `idle_timeout` | closed |
//!
//! Each closing is logged (tracing, at `error` for a bad frame, `warn` for a
//! refused handshake) and counted in [`TcpTransport::stats`]; no other
//! connection is affected, and nothing panics.
//!
//! # Sending
//! [`Transport::send`] puts the message on its peer's bounded queue and
//! returns; a full queue drops the message. Each peer's dialer task drains
//! its queue into batches — everything queued, up to `write_batch_bytes` —
//! written with one vectored write, large payloads by reference. When a peer
//! cannot be reached the dialer reports it to the node's
//! [`Inbox::unreachable`], drops what is queued, and retries after an
//! exponential, jittered back-off (`reconnect_backoff_min` doubling up to
//! `reconnect_backoff_max`).
//!
//! # Receiving
//! Each authenticated inbound connection has a task that reads frames,
//! decodes and checks them, and hands them to
//! [`Inbox::deliver_waiting`]: when the node falls behind, reading pauses and
//! TCP flow control slows the sender, instead of memory growing. A peer that
//! reconnects supersedes its older connection.
//!
//! # Example
//! ```
//! use ordo::transport::codec::ClusterId;
//! use ordo::transport::NetworkConfig;
//! use ordo::transport::tcp::TcpTransport;
//! use ordo::transport::{Inbound, Inbox, Transport};
//! use ordo_core::{Message, MessageBody, VoteResponse};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cluster = ClusterId::new("example")?;
//! let any_port = "127.0.0.1:0".parse()?;
//! let one = TcpTransport::bind(NetworkConfig::new(cluster.clone(), 1, any_port))?;
//! let two = TcpTransport::bind(NetworkConfig::new(cluster, 2, any_port))?;
//! one.add_peer(2, two.local_addr().to_string())?;
//! two.add_peer(1, one.local_addr().to_string())?;
//!
//! let (inbox, _unused) = Inbox::bounded(16);
//! one.start(inbox)?;
//! let (inbox, mut arrivals) = Inbox::bounded(16);
//! two.start(inbox)?;
//!
//! let vote = MessageBody::VoteResponse(VoteResponse { granted: true });
//! one.send(Message { from: 1, to: 2, term: 1, body: vote.clone() });
//! let Some(Inbound::Message(message)) = arrivals.recv().await else { panic!() };
//! assert_eq!((message.from, message.body), (1, vote));
//! one.shutdown().await;
//! two.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod accept;
mod dial;
mod io;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use ordo_core::{Message, NodeId};
use tokio::runtime::Handle;
use tokio::sync::Semaphore;

use self::accept::Acceptor;
use self::dial::TcpConnector;
use super::codec::handshake::LocalIdentity;
pub use super::link::TransportStats;
use super::link::{Counters, LinkSettings, Links, NetworkConfig, NetworkConfigError, check_peer};
use super::{Inbox, Transport, TransportError};

/// Raft messages over TCP. Cheap to clone: clones share one transport (keep
/// one to add and remove peers while a node owns another).
#[derive(Clone)]
pub struct TcpTransport {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<NetworkConfig>,
    identity: LocalIdentity,
    local_addr: SocketAddr,
    /// The bound listener, until `start` hands it to the accept task.
    listener: Mutex<Option<std::net::TcpListener>>,
    links: Arc<Links<TcpConnector>>,
}

impl TcpTransport {
    /// Validates `config` and binds its listening address (so that
    /// [`local_addr`](Self::local_addr) is known before start). Nothing is
    /// accepted or sent before [`Transport::start`].
    ///
    /// # Errors
    /// [`TransportError::Config`] for an invalid configuration (the message is
    /// a [`NetworkConfigError`]), [`TransportError::Io`] if the address cannot be
    /// bound.
    pub fn bind(config: NetworkConfig) -> Result<Self, TransportError> {
        config
            .validate()
            .map_err(|error| TransportError::Config(error.to_string()))?;
        let io_error = |context: &str, source| TransportError::Io {
            context: format!("{context} {}", config.listen_addr),
            source,
        };
        // std's bind sets SO_REUSEADDR on Unix, so a restarted node can take
        // its port back while old connections linger in TIME_WAIT.
        let listener = std::net::TcpListener::bind(config.listen_addr)
            .map_err(|source| io_error("binding", source))?;
        listener
            .set_nonblocking(true)
            .map_err(|source| io_error("configuring", source))?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| io_error("reading the address of", source))?;
        let identity = LocalIdentity {
            cluster_id: config.cluster_id.clone(),
            node_id: config.node_id,
        };
        let config = Arc::new(config);
        let counters = Arc::new(Counters::default());
        let connector = TcpConnector {
            identity: identity.clone(),
            config: Arc::clone(&config),
            counters: Arc::clone(&counters),
        };
        let settings = LinkSettings {
            node_id: config.node_id,
            send_queue_messages: config.send_queue_messages,
            reconnect_backoff_min: config.reconnect_backoff_min,
            reconnect_backoff_max: config.reconnect_backoff_max,
        };
        let links = Arc::new(Links::new(connector, settings, counters));
        for (&peer, address) in &config.peers {
            links.add_peer(peer, address.clone());
        }
        Ok(TcpTransport {
            inner: Arc::new(Inner {
                config,
                identity,
                local_addr,
                listener: Mutex::new(Some(listener)),
                links,
            }),
        })
    }

    /// The address the listener is bound to (with the real port when the
    /// configuration asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.inner.identity.node_id
    }

    /// The configuration the transport runs with.
    pub fn config(&self) -> &NetworkConfig {
        &self.inner.config
    }

    /// Adds a peer, or moves a known one to a new address (its connection is
    /// then re-established). Works before and after start: membership changes
    /// call it as nodes join. Returns false if the peer was already there.
    ///
    /// # Errors
    /// [`NetworkConfigError::InvalidPeerId`] or
    /// [`NetworkConfigError::InvalidPeerAddress`].
    pub fn add_peer(
        &self,
        id: NodeId,
        address: impl Into<String>,
    ) -> Result<bool, NetworkConfigError> {
        let address = address.into();
        check_peer(self.inner.identity.node_id, id, &address)?;
        Ok(self.inner.links.add_peer(id, address))
    }

    /// Removes a peer: messages to it are dropped, its outbound connection
    /// closed, and its inbound connection closed and refused from now on.
    /// Returns false if it was not a peer.
    pub fn remove_peer(&self, id: NodeId) -> bool {
        self.inner.links.remove_peer(id)
    }

    /// The current peers and their addresses, by id.
    pub fn peers(&self) -> Vec<(NodeId, String)> {
        self.inner.links.peers()
    }

    /// What the transport has done so far.
    pub fn stats(&self) -> TransportStats {
        self.inner.links.counters().snapshot()
    }

    /// Stops the transport and waits until every task has ended and every
    /// socket, the listener included, is closed. [`Transport::stop`] (which a
    /// node calls when it stops) does the same without waiting; await this
    /// before binding the same address again in the same process.
    pub async fn shutdown(&self) {
        self.inner
            .listener
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        self.inner.links.shutdown().await;
    }
}

impl Transport for TcpTransport {
    fn start(&self, inbox: Inbox) -> Result<(), TransportError> {
        let handle = Handle::try_current().map_err(|_| {
            TransportError::Config(
                "TcpTransport::start must be called within a Tokio runtime".into(),
            )
        })?;
        let listener = self
            .inner
            .listener
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .ok_or_else(|| {
                TransportError::Config("the transport was already started or stopped".into())
            })?;
        let listener =
            tokio::net::TcpListener::from_std(listener).map_err(|source| TransportError::Io {
                context: format!("listening on {}", self.inner.local_addr),
                source,
            })?;
        let links = &self.inner.links;
        links
            .start(inbox.clone(), handle)
            .map_err(|_| TransportError::Config("the transport was already started".into()))?;
        let acceptor = Arc::new(Acceptor {
            identity: self.inner.identity.clone(),
            config: Arc::clone(&self.inner.config),
            links: Arc::clone(links),
            inbox,
            handshake_slots: Arc::new(Semaphore::new(self.inner.config.max_pending_handshakes)),
            limits: self.inner.config.decode_limits(),
        });
        links.spawn(acceptor.run(listener));
        Ok(())
    }

    fn send(&self, message: Message) {
        self.inner.links.send(message);
    }

    fn stop(&self) {
        self.inner
            .listener
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        self.inner.links.stop();
    }
}

impl std::fmt::Debug for TcpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpTransport")
            .field("node_id", &self.inner.identity.node_id)
            .field("cluster_id", &self.inner.identity.cluster_id)
            .field("local_addr", &self.inner.local_addr)
            .finish_non_exhaustive()
    }
}
