//! Speaking the peer protocol as a hostile node: open a TCP connection to a
//! node's peer port, pass the handshake with what it checks today (the
//! cluster's id, a member's id), and send one forged message.
//!
//! If the handshake learns to check more (a peer certificate),
//! [`forge_heartbeat`] panics at the handshake rather than letting a test
//! pass without its message ever reaching the node.

use std::time::Duration;

use ordo::transport::ClusterId;
use ordo::transport::codec::handshake::{Hello, MIN_PROTOCOL_VERSION, Reply};
use ordo::transport::codec::{self, PROTOCOL_VERSION};
use ordo::transport::{Heartbeat, Message, MessageBody};
use ordo::{NodeId, Term};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long to wait for the handshake's answer.
const HANDSHAKE_PATIENCE: Duration = Duration::from_secs(5);

/// A frame: 4-byte big-endian length, then the payload.
fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = u32::try_from(payload.len())
        .expect("a small frame")
        .to_be_bytes()
        .to_vec();
    out.extend_from_slice(payload);
    out
}

/// Connects to `peer_addr` as node `from` of the cluster whose id is `cluster`, to node
/// `to`; panics unless welcomed.
async fn connect_as(peer_addr: &str, cluster: &str, from: NodeId, to: NodeId) -> TcpStream {
    let mut stream = TcpStream::connect(peer_addr)
        .await
        .unwrap_or_else(|error| panic!("cannot reach {peer_addr}: {error}"));
    let hello = Hello {
        cluster_id: ClusterId::new(cluster).unwrap(),
        from,
        to,
        min_version: MIN_PROTOCOL_VERSION,
        max_version: PROTOCOL_VERSION,
    };
    stream.write_all(&frame(&hello.encode())).await.unwrap();
    let reply = tokio::time::timeout(HANDSHAKE_PATIENCE, async {
        let mut header = [0u8; 4];
        stream.read_exact(&mut header).await?;
        let mut payload = vec![0u8; u32::from_be_bytes(header) as usize];
        stream.read_exact(&mut payload).await?;
        Ok::<_, std::io::Error>(payload)
    })
    .await
    .unwrap_or_else(|_| panic!("{peer_addr}: no handshake answer"))
    .unwrap_or_else(|error| panic!("{peer_addr}: handshake: {error}"));
    match Reply::decode(&reply.into()) {
        Ok(Reply::Welcome(_)) => stream,
        other => panic!(
            "{peer_addr} refused the forged handshake ({other:?}): \
             teach e2e_support/forge.rs what the handshake checks now"
        ),
    }
}

/// Sends node `to` (at `peer_addr`) a heartbeat at `term` that claims to
/// come from node `from`, the leader of that term.
pub async fn forge_heartbeat(peer_addr: &str, cluster: &str, from: NodeId, to: NodeId, term: Term) {
    let mut stream = connect_as(peer_addr, cluster, from, to).await;
    let message = Message {
        from,
        to,
        term,
        body: MessageBody::Heartbeat(Heartbeat {
            commit: 0,
            round: 1,
        }),
    };
    stream
        .write_all(&frame(&codec::encode(&message)))
        .await
        .unwrap();
    stream.flush().await.unwrap();
    // Let the node read it before the connection closes.
    tokio::time::sleep(Duration::from_millis(200)).await;
}
