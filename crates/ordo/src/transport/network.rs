//! [`NetworkTransport`]: a [`Transport`] between processes, generic over the
//! [`Wire`] it speaks ([`TcpTransport`](crate::transport::tcp::TcpTransport)
//! and, with the `grpc` feature, `GrpcTransport`).
//!
//! What every wire shares lives here and in `link`: the bound listener, the
//! peer table with one bounded send queue and one dialer task per peer, the
//! table of authenticated inbound connections, the counters, and stopping.
//! What differs — dialing, framing, sending, accepting and checking — is the
//! wire's.
//!
//! Invariants: the listener is bound by [`NetworkTransport::bind`] and handed
//! to the wire once, by [`Transport::start`]; after `stop` no task runs, no
//! socket stays open and every send is dropped (and counted).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use ordo_core::{Message, NodeId};
use tokio::runtime::Handle;

use super::codec::handshake::LocalIdentity;
use super::link::{
    Counters, LinkSettings, Links, NetworkConfig, NetworkConfigError, TransportStats, Wire,
    check_peer,
};
use super::{Inbox, Transport, TransportError};

/// Raft messages between processes over the wire `W`. Cheap to clone: clones
/// share one transport (keep one to add and remove peers while a node owns
/// another). Use it through its aliases,
/// [`TcpTransport`](crate::transport::tcp::TcpTransport) and `GrpcTransport`.
pub struct NetworkTransport<W: Wire> {
    inner: Arc<Inner<W>>,
}

struct Inner<W: Wire> {
    config: Arc<NetworkConfig>,
    identity: LocalIdentity,
    local_addr: SocketAddr,
    /// The bound listener, until `start` hands it to the wire.
    listener: Mutex<Option<std::net::TcpListener>>,
    links: Arc<Links<W>>,
}

impl<W: Wire> Clone for NetworkTransport<W> {
    fn clone(&self) -> Self {
        NetworkTransport {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<W: Wire> NetworkTransport<W> {
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
        let listener = bind_listener(config.listen_addr)?;
        let local_addr = listener.local_addr().map_err(|source| TransportError::Io {
            context: format!("reading the address of {}", config.listen_addr),
            source,
        })?;
        let identity = LocalIdentity {
            cluster_id: config.cluster_id.clone(),
            node_id: config.node_id,
        };
        let config = Arc::new(config);
        let counters = Arc::new(Counters::default());
        let wire = W::new(identity.clone(), Arc::clone(&config), Arc::clone(&counters));
        let settings = LinkSettings {
            node_id: config.node_id,
            send_queue_messages: config.send_queue_messages,
            reconnect_backoff_min: config.reconnect_backoff_min,
            reconnect_backoff_max: config.reconnect_backoff_max,
        };
        let links = Arc::new(Links::new(wire, settings, counters));
        for (&peer, address) in &config.peers {
            links.add_peer(peer, address.clone());
        }
        Ok(NetworkTransport {
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

    /// Adds a peer (`host:port` of its listener), or moves a known one to a
    /// new address (its connection is then re-established). Works before and
    /// after start: membership changes call it as nodes join. Returns false
    /// if the peer was already there.
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
    /// closed, and its inbound connection closed and refused from now on (no
    /// message from it reaches the node after this returns). Returns false if
    /// it was not a peer.
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
    /// socket, the listener included, is closed (a gRPC server gives its
    /// connections half a second to wind down). [`Transport::stop`] (which a
    /// node calls when it stops) does the same without waiting; await this
    /// before binding the same address again in the same process.
    pub async fn shutdown(&self) {
        self.take_listener();
        self.inner.links.shutdown().await;
    }

    fn take_listener(&self) -> Option<std::net::TcpListener> {
        self.inner
            .listener
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

/// Binds `address`, non-blocking, ready to be handed to Tokio.
fn bind_listener(address: SocketAddr) -> Result<std::net::TcpListener, TransportError> {
    let io_error = |context: &str, source| TransportError::Io {
        context: format!("{context} {address}"),
        source,
    };
    // std's bind sets SO_REUSEADDR on Unix, so a restarted node can take
    // its port back while old connections linger in TIME_WAIT.
    let listener =
        std::net::TcpListener::bind(address).map_err(|source| io_error("binding", source))?;
    listener
        .set_nonblocking(true)
        .map_err(|source| io_error("configuring", source))?;
    Ok(listener)
}

impl<W: Wire> Transport for NetworkTransport<W> {
    fn start(&self, inbox: Inbox) -> Result<(), TransportError> {
        let handle = Handle::try_current().map_err(|_| {
            TransportError::Config(format!(
                "{}::start must be called within a Tokio runtime",
                W::TRANSPORT_NAME
            ))
        })?;
        let listener = self.take_listener().ok_or_else(|| {
            TransportError::Config("the transport was already started or stopped".into())
        })?;
        let listener = {
            let _runtime = handle.enter();
            tokio::net::TcpListener::from_std(listener)
        }
        .map_err(|source| TransportError::Io {
            context: format!("listening on {}", self.inner.local_addr),
            source,
        })?;
        let links = &self.inner.links;
        links
            .start(inbox.clone(), handle)
            .map_err(|_| TransportError::Config("the transport was already started".into()))?;
        links.spawn(links.wire().serve(listener, Arc::clone(links), inbox));
        Ok(())
    }

    fn send(&self, message: Message) {
        self.inner.links.send(message);
    }

    fn update_peer(&self, peer: NodeId, address: Option<&str>) -> Result<(), TransportError> {
        match address {
            Some(address) => self
                .add_peer(peer, address)
                .map(|_| ())
                .map_err(|error| TransportError::Config(error.to_string())),
            None => {
                self.remove_peer(peer);
                Ok(())
            }
        }
    }

    fn stop(&self) {
        self.take_listener();
        self.inner.links.stop();
    }
}

impl<W: Wire> std::fmt::Debug for NetworkTransport<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(W::TRANSPORT_NAME)
            .field("node_id", &self.inner.identity.node_id)
            .field("cluster_id", &self.inner.identity.cluster_id)
            .field("local_addr", &self.inner.local_addr)
            .finish_non_exhaustive()
    }
}
