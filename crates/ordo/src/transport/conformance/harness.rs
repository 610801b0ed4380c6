//! [`Harness`]: how the suite makes, wires and stops the nodes of one kind of
//! transport, and the harnesses of the transports Ordo ships.

use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::time::Duration;

use ordo_core::NodeId;

use crate::transport::ClusterId;
use crate::transport::{
    InProcessNetwork, InProcessTransport, NetworkConfig, NetworkTransport, Transport, Wire,
};

/// What the suite needs to run a transport: nodes on demand, peers added and
/// removed, stops that wait, and the size limit to expect.
pub trait Harness: Send + 'static {
    /// The transport under test.
    type Transport: Transport + Clone;

    /// A transport for node `id`, not started. Creating an id again after
    /// [`Harness::shutdown`] restarts that node (a network transport at the
    /// same address).
    fn create(&mut self, id: NodeId) -> Self::Transport;

    /// Makes node `peer` (transport `peer_transport`) a peer of `at`.
    fn add_peer(&mut self, at: &Self::Transport, peer: NodeId, peer_transport: &Self::Transport);

    /// Removes node `peer` from `at`'s peers. From when this returns, no
    /// message from `peer` may reach `at`'s node.
    fn remove_peer(&mut self, at: &Self::Transport, peer: NodeId);

    /// Stops `transport` and waits until what it held (sockets, tasks) is
    /// released.
    fn shutdown(&mut self, transport: &Self::Transport) -> impl Future<Output = ()> + Send;

    /// The largest message payload the transport carries, if it has a limit:
    /// a message above it must be refused without harming the link.
    fn message_limit_bytes(&self) -> Option<usize>;
}

/// The cluster id of the test configurations.
///
/// # Panics
/// Never: the name is valid.
pub fn test_cluster() -> ClusterId {
    ClusterId::new("transport-test").expect("a valid cluster name")
}

/// A network configuration for tests: 127.0.0.1 with an ephemeral port and
/// short timeouts, so failures surface in well under a second.
///
/// # Panics
/// Never: the address is valid.
pub fn test_config(node_id: NodeId) -> NetworkConfig {
    let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
    NetworkConfig {
        handshake_timeout: Duration::from_millis(300),
        keepalive_interval: Duration::from_millis(100),
        idle_timeout: Duration::from_secs(2),
        reconnect_backoff_min: Duration::from_millis(10),
        reconnect_backoff_max: Duration::from_millis(200),
        ..NetworkConfig::new(test_cluster(), node_id, any_port)
    }
}

/// The harness of [`NetworkTransport`]s over wire `W`: nodes on 127.0.0.1
/// with [`test_config`] and frames of at most
/// [`NetworkHarness::MAX_FRAME_BYTES`].
#[derive(Debug)]
pub struct NetworkHarness<W> {
    /// Where each node listened, so a restarted node takes its port back.
    addresses: HashMap<NodeId, SocketAddr>,
    wire: PhantomData<fn() -> W>,
}

impl<W: Wire> NetworkHarness<W> {
    /// The frame limit the harness configures: small, so that the oversize
    /// check is cheap.
    pub const MAX_FRAME_BYTES: usize = 256 * 1024;

    /// A harness with no nodes yet.
    pub fn new() -> Self {
        NetworkHarness {
            addresses: HashMap::new(),
            wire: PhantomData,
        }
    }
}

impl<W: Wire> Default for NetworkHarness<W> {
    fn default() -> Self {
        Self::new()
    }
}

impl<W: Wire> Harness for NetworkHarness<W> {
    type Transport = NetworkTransport<W>;

    fn create(&mut self, id: NodeId) -> NetworkTransport<W> {
        let mut config = NetworkConfig {
            max_frame_bytes: Self::MAX_FRAME_BYTES,
            ..test_config(id)
        };
        if let Some(&address) = self.addresses.get(&id) {
            config.listen_addr = address;
        }
        let transport = match NetworkTransport::bind(config) {
            Ok(transport) => transport,
            Err(error) => panic!("node {id} cannot bind: {error}"),
        };
        self.addresses.insert(id, transport.local_addr());
        transport
    }

    fn add_peer(
        &mut self,
        at: &NetworkTransport<W>,
        peer: NodeId,
        peer_transport: &Self::Transport,
    ) {
        if let Err(error) = at.add_peer(peer, peer_transport.local_addr().to_string()) {
            panic!("node {} cannot add peer {peer}: {error}", at.node_id());
        }
    }

    fn remove_peer(&mut self, at: &NetworkTransport<W>, peer: NodeId) {
        at.remove_peer(peer);
    }

    async fn shutdown(&mut self, transport: &NetworkTransport<W>) {
        transport.shutdown().await;
    }

    fn message_limit_bytes(&self) -> Option<usize> {
        Some(Self::MAX_FRAME_BYTES)
    }
}

/// The harness of [`InProcessTransport`]s, all on one [`InProcessNetwork`].
/// The in-process transport has no peer table: every node reaches every
/// other; removing a peer cuts the link both ways.
#[derive(Debug, Default)]
pub struct InProcessHarness {
    network: InProcessNetwork,
}

impl InProcessHarness {
    /// A harness on a fresh network.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Harness for InProcessHarness {
    type Transport = InProcessTransport;

    fn create(&mut self, id: NodeId) -> InProcessTransport {
        self.network.transport(id)
    }

    fn add_peer(&mut self, _at: &InProcessTransport, _peer: NodeId, _: &InProcessTransport) {}

    fn remove_peer(&mut self, at: &InProcessTransport, peer: NodeId) {
        self.network.cut(peer, at.id());
        self.network.cut(at.id(), peer);
    }

    async fn shutdown(&mut self, transport: &InProcessTransport) {
        transport.stop();
    }

    fn message_limit_bytes(&self) -> Option<usize> {
        None
    }
}
