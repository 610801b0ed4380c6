//! Helpers shared by the transport tests: nodes on 127.0.0.1 with ephemeral
//! ports, short timeouts, and a raw TCP client that speaks (or abuses) the
//! wire protocol by hand.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use ordo::transport::codec::handshake::{Hello, Reply};
use ordo::transport::codec::{self, ClusterId};
#[cfg(feature = "grpc")]
use ordo::transport::grpc::GrpcTransport;
use ordo::transport::tcp::TcpTransport;
use ordo::transport::{Inbound, Inbox, InboxReceiver, NetworkConfig, Transport, TransportStats};
use ordo_core::{AppendRequest, Entry, Heartbeat, Message, MessageBody, NodeId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep, timeout};

/// Longest any single wait in a test may take.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub fn cluster() -> ClusterId {
    ClusterId::new("transport-test").unwrap()
}

/// A configuration with short timeouts, so failures surface in well under a
/// second.
pub fn config(node_id: NodeId) -> NetworkConfig {
    NetworkConfig {
        handshake_timeout: Duration::from_millis(300),
        keepalive_interval: Duration::from_millis(100),
        idle_timeout: Duration::from_secs(2),
        reconnect_backoff_min: Duration::from_millis(10),
        reconnect_backoff_max: Duration::from_millis(200),
        ..NetworkConfig::new(cluster(), node_id, "127.0.0.1:0".parse().unwrap())
    }
}

/// What the tests need of a network transport, TCP or gRPC.
pub trait NetTransport: Transport + Clone {
    fn bind(config: NetworkConfig) -> Self;
    fn id(&self) -> NodeId;
    fn addr(&self) -> SocketAddr;
    fn add(&self, peer: NodeId, address: String) -> bool;
    fn remove(&self, peer: NodeId) -> bool;
    fn counters(&self) -> TransportStats;
    async fn close(&self);
}

impl NetTransport for TcpTransport {
    fn bind(config: NetworkConfig) -> Self {
        TcpTransport::bind(config).unwrap()
    }
    fn id(&self) -> NodeId {
        self.node_id()
    }
    fn addr(&self) -> SocketAddr {
        self.local_addr()
    }
    fn add(&self, peer: NodeId, address: String) -> bool {
        self.add_peer(peer, address).unwrap()
    }
    fn remove(&self, peer: NodeId) -> bool {
        self.remove_peer(peer)
    }
    fn counters(&self) -> TransportStats {
        self.stats()
    }
    async fn close(&self) {
        self.shutdown().await
    }
}

#[cfg(feature = "grpc")]
impl NetTransport for GrpcTransport {
    fn bind(config: NetworkConfig) -> Self {
        GrpcTransport::bind(config).unwrap()
    }
    fn id(&self) -> NodeId {
        self.node_id()
    }
    fn addr(&self) -> SocketAddr {
        self.local_addr()
    }
    fn add(&self, peer: NodeId, address: String) -> bool {
        self.add_peer(peer, address).unwrap()
    }
    fn remove(&self, peer: NodeId) -> bool {
        self.remove_peer(peer)
    }
    fn counters(&self) -> TransportStats {
        self.stats()
    }
    async fn close(&self) {
        self.shutdown().await
    }
}

/// A started node and what it received.
pub struct Node<T = TcpTransport> {
    pub transport: T,
    pub inbox: InboxReceiver,
}

impl<T: NetTransport> Node<T> {
    pub fn id(&self) -> NodeId {
        self.transport.id()
    }

    pub fn addr(&self) -> SocketAddr {
        self.transport.addr()
    }

    /// The next message, skipping unreachability reports.
    pub async fn next_message(&mut self) -> Message {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match timeout(deadline - Instant::now(), self.inbox.recv()).await {
                Ok(Some(Inbound::Message(message))) => return message,
                Ok(Some(Inbound::Unreachable(_))) => continue,
                Ok(None) => panic!("node {} inbox closed", self.id()),
                Err(_) => panic!("node {} received nothing within {PATIENCE:?}", self.id()),
            }
        }
    }

    /// Drops everything received so far.
    pub fn drain(&mut self) {
        while self.inbox.try_recv().is_ok() {}
    }
}

/// Binds a TCP node (peers are wired afterwards, say by [`mesh`]).
pub fn bind(config: NetworkConfig) -> TcpTransport {
    TcpTransport::bind(config).unwrap()
}

pub fn start<T: NetTransport>(transport: T) -> Node<T> {
    let (inbox, receiver) = Inbox::bounded(4096);
    transport.start(inbox).unwrap();
    Node {
        transport,
        inbox: receiver,
    }
}

/// Makes every transport a peer of every other, then starts them all.
pub fn mesh<T: NetTransport>(transports: Vec<T>) -> Vec<Node<T>> {
    for a in &transports {
        for b in &transports {
            if a.id() != b.id() {
                a.add(b.id(), b.addr().to_string());
            }
        }
    }
    transports.into_iter().map(start).collect()
}

pub fn heartbeat(from: NodeId, to: NodeId, round: u64) -> Message {
    Message {
        from,
        to,
        term: 1,
        body: MessageBody::Heartbeat(Heartbeat { commit: 0, round }),
    }
}

pub fn append(from: NodeId, to: NodeId, payloads: Vec<Bytes>) -> Message {
    let entries = payloads
        .into_iter()
        .enumerate()
        .map(|(i, payload)| Entry::command(i as u64 + 1, 1, payload))
        .collect();
    Message {
        from,
        to,
        term: 1,
        body: MessageBody::Append(AppendRequest {
            prev_log_index: 0,
            prev_log_term: 0,
            entries,
            leader_commit: 0,
        }),
    }
}

/// Sends heartbeats from `sender` to `receiver` until one arrives: proves the
/// link works (the first few may be lost while a connection is made).
pub async fn assert_link<T: NetTransport>(sender: &T, receiver: &mut Node<T>) {
    let (from, to) = (sender.id(), receiver.id());
    let deadline = Instant::now() + PATIENCE;
    let marker = 0xfeed_0000 + from * 100 + to;
    loop {
        sender.send(heartbeat(from, to, marker));
        let wait = timeout(Duration::from_millis(50), async {
            loop {
                match receiver.inbox.recv().await {
                    Some(Inbound::Message(message)) if message.from == from => {
                        if let MessageBody::Heartbeat(beat) = message.body
                            && beat.round == marker
                        {
                            return;
                        }
                    }
                    Some(_) => continue,
                    None => panic!("inbox closed"),
                }
            }
        });
        if wait.await.is_ok() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no message from {from} reached {to}"
        );
    }
}

/// Waits until `condition` holds.
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        sleep(Duration::from_millis(10)).await;
    }
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
