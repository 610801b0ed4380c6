//! Network partitions between real `ordo serve` processes, without root: a
//! TCP relay owned by the test in front of each node's peer listener.
//!
//! [`Cluster::with_peer_relays`](super::Cluster::with_peer_relays) tells
//! every node (`--initial-cluster`, `--advertise-peer`) that its peers live
//! at their relays, so every peer connection passes through one. The peer
//! transport dials one connection per direction, from the sender (see
//! `ordo::transport::tcp`), and opens it with a `Hello` frame naming the
//! sender and the receiver; the relay reads that frame to learn which
//! directed link the connection carries, then forwards it both ways. Client
//! ports are not relayed: clients reach every node throughout, and so does
//! what nodes send each other there (a follower forwarding an etcd write to
//! its leader's client URL); only Raft's own traffic is cut.
//!
//! Cutting a link closes its connections, and closes each new one right
//! after its hello, until [`PeerRelays::heal`]: the dialer sees its peer
//! unreachable and retries with back-off, as across a real partition.
//!
//! Invariant: no connection is forwarded on a cut link. Checking a link and
//! registering a connection's forwarding happen under the one lock that
//! cutting takes, so a connection accepted while a cut lands is either
//! closed by the cut or refused by the check. Dropping [`PeerRelays`] stops
//! the listeners, closes every forwarded connection, and leaves a
//! connection still in its hello unforwarded.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use ordo::transport::codec::handshake::{Hello, MAX_HANDSHAKE_BYTES};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinHandle};

use super::{Cluster, free_port};

/// How long a new connection may take to send its hello.
const HELLO_PATIENCE: Duration = Duration::from_secs(5);
/// The pause after a failed accept, so a failing listener does not spin.
const ACCEPT_RETRY: Duration = Duration::from_millis(10);

/// A directed link: `(sender, receiver)`.
pub type Link = (u64, u64);

/// One relay per node of a cluster, and which links are cut.
pub struct PeerRelays {
    ports: BTreeMap<u64, u16>,
    links: Arc<Mutex<Links>>,
    listeners: Vec<JoinHandle<()>>,
}

/// The links' state, shared by the relays and the test.
#[derive(Default)]
struct Links {
    cut: BTreeSet<Link>,
    /// The relays were dropped: nothing is forwarded any more.
    torn_down: bool,
    /// The forwarding tasks of each link's connections (some finished).
    forwarding: BTreeMap<Link, Vec<AbortHandle>>,
    /// Connections closed because their link was cut, per link.
    closed_by_cut: BTreeMap<Link, u64>,
}

impl PeerRelays {
    /// A relay in front of every node of `cluster`, each on a new port;
    /// nothing is cut.
    pub async fn start(cluster: &Cluster) -> PeerRelays {
        let links = Arc::new(Mutex::new(Links::default()));
        let mut ports = BTreeMap::new();
        let mut listeners = Vec::new();
        for id in cluster.ids() {
            let port = free_port();
            let listener = TcpListener::bind(("127.0.0.1", port))
                .await
                .unwrap_or_else(|error| panic!("cannot bind relay port {port}: {error}"));
            let target = cluster.peer_addr(id);
            listeners.push(tokio::spawn(relay(listener, target, Arc::clone(&links))));
            ports.insert(id, port);
        }
        PeerRelays {
            ports,
            links,
            listeners,
        }
    }

    /// The port of node `id`'s relay.
    pub fn port(&self, id: u64) -> u16 {
        self.ports[&id]
    }

    /// Cuts node `id` off from every node of `peers`, both ways.
    pub fn isolate(&self, id: u64, peers: &[u64]) {
        let mut links = self.links.lock().unwrap();
        for &peer in peers {
            links.cut((id, peer));
            links.cut((peer, id));
        }
    }

    /// Restores every link.
    pub fn heal(&self) {
        self.links.lock().unwrap().cut.clear();
    }

    /// How many connections on `link` were closed because it was cut: more
    /// than none shows the cut met traffic.
    pub fn closed_by_cut(&self, link: Link) -> u64 {
        let links = self.links.lock().unwrap();
        links.closed_by_cut.get(&link).copied().unwrap_or(0)
    }
}

impl Drop for PeerRelays {
    fn drop(&mut self) {
        for listener in &self.listeners {
            listener.abort();
        }
        let mut links = self
            .links
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        links.torn_down = true;
        for handle in links.forwarding.values().flatten() {
            handle.abort();
        }
    }
}

impl Links {
    fn cut(&mut self, link: Link) {
        self.cut.insert(link);
        for handle in self.forwarding.remove(&link).into_iter().flatten() {
            if !handle.is_finished() {
                handle.abort();
                *self.closed_by_cut.entry(link).or_default() += 1;
            }
        }
    }

    /// Forwards between `inbound` and `outbound` for `link`, unless it is
    /// cut (or the relays are gone).
    fn forward(&mut self, link: Link, mut inbound: TcpStream, mut outbound: TcpStream) {
        if self.torn_down {
            return;
        }
        if self.cut.contains(&link) {
            *self.closed_by_cut.entry(link).or_default() += 1;
            return;
        }
        let task = tokio::spawn(async move {
            // Either side closing, or an error, ends the connection: the
            // transport reconnects.
            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
        });
        let handles = self.forwarding.entry(link).or_default();
        handles.retain(|handle| !handle.is_finished());
        handles.push(task.abort_handle());
    }
}

/// Accepts connections for the node whose peer listener is at `target`.
async fn relay(listener: TcpListener, target: String, links: Arc<Mutex<Links>>) {
    loop {
        match listener.accept().await {
            Ok((inbound, _)) => {
                tokio::spawn(connect(inbound, target.clone(), Arc::clone(&links)));
            }
            Err(_) => tokio::time::sleep(ACCEPT_RETRY).await,
        }
    }
}

/// Reads `inbound`'s hello, opens a connection to `target` and hands both to
/// the links. A connection that sends no hello, or a node that is down,
/// closes `inbound` as a lost connection would.
async fn connect(mut inbound: TcpStream, target: String, links: Arc<Mutex<Links>>) {
    let Ok(Some((link, hello))) =
        tokio::time::timeout(HELLO_PATIENCE, read_hello(&mut inbound)).await
    else {
        return;
    };
    let Ok(mut outbound) = TcpStream::connect(&target).await else {
        return;
    };
    if outbound.write_all(&hello).await.is_err() {
        return;
    }
    links.lock().unwrap().forward(link, inbound, outbound);
}

/// The link a connection's opening hello names, and the frame as read
/// (length and payload), to pass on; `None` if it is not a hello.
async fn read_hello(inbound: &mut TcpStream) -> Option<(Link, Vec<u8>)> {
    let mut header = [0u8; 4];
    inbound.read_exact(&mut header).await.ok()?;
    let length = usize::try_from(u32::from_be_bytes(header)).ok()?;
    if length > MAX_HANDSHAKE_BYTES {
        return None;
    }
    let mut payload = vec![0u8; length];
    inbound.read_exact(&mut payload).await.ok()?;
    let hello = Hello::decode(&Bytes::copy_from_slice(&payload)).ok()?;
    let mut frame = header.to_vec();
    frame.extend_from_slice(&payload);
    Some(((hello.from, hello.to), frame))
}
