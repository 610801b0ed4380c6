//! Helpers shared by the network transport tests. Nodes, links and waits
//! come from the conformance suite (`ordo::transport::conformance`); here is
//! the glue for a `NetworkTransport` of either wire, and a raw TCP client
//! that speaks (or abuses) the wire protocol by hand.
// Each test file uses a different part of this prelude.
#![allow(
    dead_code,
    unused_imports,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
pub mod pki;

use ordo::transport::codec;
use ordo::transport::codec::handshake::RefusalReason;
use ordo::transport::codec::handshake::{Hello, Reply};
pub use ordo::transport::conformance::{
    Node, PATIENCE, append, eventually, heartbeat, test_cluster as cluster, test_config as config,
};
use ordo::transport::tcp::TcpTransport;
use ordo::transport::{NetworkConfig, NetworkTransport, TransportStats, Wire};
use ordo_core::{Message, NodeId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

/// The address of a started network node.
pub trait Addressed {
    fn addr(&self) -> SocketAddr;
}

impl<W: Wire> Addressed for Node<NetworkTransport<W>> {
    fn addr(&self) -> SocketAddr {
        self.transport.local_addr()
    }
}

/// Binds a TCP node (peers are wired afterwards, say by [`mesh`]).
pub fn bind(config: NetworkConfig) -> TcpTransport {
    TcpTransport::bind(config).unwrap()
}

/// Starts a network node with a roomy inbox.
pub fn start<W: Wire>(transport: NetworkTransport<W>) -> Node<NetworkTransport<W>> {
    Node::start(transport.node_id(), transport, 4096)
}

/// Makes every transport a peer of every other, then starts them all.
pub fn mesh<W: Wire>(transports: Vec<NetworkTransport<W>>) -> Vec<Node<NetworkTransport<W>>> {
    for a in &transports {
        for b in &transports {
            if a.node_id() != b.node_id() {
                a.add_peer(b.node_id(), b.local_addr().to_string()).unwrap();
            }
        }
    }
    transports.into_iter().map(start).collect()
}

/// Sends probes from `sender` to `receiver` until one arrives.
pub async fn assert_link<W: Wire>(
    sender: &NetworkTransport<W>,
    receiver: &mut Node<NetworkTransport<W>>,
) {
    ordo::transport::conformance::assert_link(sender.node_id(), sender, receiver).await;
}

/// One frame: 4-byte big-endian length, then `payload`.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}

/// A hello from `from` to `to` in the test cluster.
pub fn hello(from: NodeId, to: NodeId) -> Hello {
    Hello {
        cluster_id: cluster(),
        from,
        to,
        min_version: codec::handshake::MIN_PROTOCOL_VERSION,
        max_version: codec::PROTOCOL_VERSION,
    }
}

/// Opens a raw connection and sends `hello`; returns the stream and the
/// reply.
pub async fn raw_handshake(addr: SocketAddr, hello: &Hello) -> (TcpStream, Reply) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&frame(&hello.encode())).await.unwrap();
    let reply = read_frame(&mut stream).await.expect("a handshake reply");
    (stream, Reply::decode(&reply).unwrap())
}

/// Reads one frame, or `None` at end of stream.
pub async fn read_frame(stream: &mut TcpStream) -> Option<Bytes> {
    let mut header = [0u8; 4];
    timeout(PATIENCE, stream.read_exact(&mut header))
        .await
        .expect("a frame in time")
        .ok()?;
    let mut payload = vec![0u8; u32::from_be_bytes(header) as usize];
    stream.read_exact(&mut payload).await.ok()?;
    Some(payload.into())
}

/// Waits until the other side closes `stream` (reading and discarding
/// whatever it sends first). Returns how long that took.
pub async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut sink = [0u8; 1024];
    let result = timeout(limit, async {
        loop {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(
        result.is_ok(),
        "the connection was not closed within {limit:?}"
    );
    started.elapsed()
}

/// A message encoded and framed by hand.
pub fn framed_message(message: &Message) -> Vec<u8> {
    frame(&codec::encode(message))
}

/// Deterministic pseudo-random bytes.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// The one refusal reason counted between `before` and `after`.
pub fn counted_reason(before: &TransportStats, after: &TransportStats) -> RefusalReason {
    let counted = [
        (
            before.refused_wrong_cluster,
            after.refused_wrong_cluster,
            RefusalReason::WrongCluster,
        ),
        (
            before.refused_unsupported_version,
            after.refused_unsupported_version,
            RefusalReason::UnsupportedVersion,
        ),
        (
            before.refused_unknown_node,
            after.refused_unknown_node,
            RefusalReason::UnknownNode,
        ),
        (
            before.refused_wrong_node,
            after.refused_wrong_node,
            RefusalReason::WrongNode,
        ),
        (
            before.refused_malformed,
            after.refused_malformed,
            RefusalReason::Malformed,
        ),
    ];
    let reasons: Vec<RefusalReason> = counted
        .into_iter()
        .filter(|(before, after, _)| after > before)
        .map(|(_, _, reason)| reason)
        .collect();
    assert_eq!(reasons.len(), 1, "counted: {reasons:?}");
    reasons[0]
}
