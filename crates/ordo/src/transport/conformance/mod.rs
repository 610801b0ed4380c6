//! The conformance suite every [`Transport`] must pass: the promises of the
//! trait's contract that a node relies on, checked on live nodes.
//!
//! | Check | The promise |
//! |---|---|
//! | [`delivery_in_order_per_link`] | on a healthy link, every message arrives, unchanged and in the order sent; links do not mix |
//! | [`reconnects_after_the_peer_restarts`] | a peer that stops is reported unreachable; when it comes back, both directions work again |
//! | [`a_removed_peer_is_cut_off_mid_stream`] | after removing a peer that is streaming large messages, nothing more from it arrives, and the other links carry on |
//! | [`oversize_messages_are_refused_without_harm`] | a message above the transport's limit is dropped and the link keeps working (without a limit: it arrives intact) |
//! | [`a_blocked_receiver_neither_grows_nor_blocks`] | a node that stops reading makes its senders drop, not buffer without bound, and does not slow `send` or other links |
//!
//! Each check takes a fresh [`Harness`] (how to make, wire and stop nodes of
//! the transport) and panics with a message on the first broken promise.
//! Ordo's own transports are checked through [`NetworkHarness`] and
//! [`InProcessHarness`]; run the suite on your own transport by writing a
//! harness for it:
//!
//! ```
//! use ordo::transport::conformance::{self, InProcessHarness};
//!
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() {
//! conformance::run_all(InProcessHarness::new).await;
//! # }
//! ```
//!
//! Every check can fail: `tests/transport_conformance.rs` plants a transport
//! that reorders messages and one that ignores a peer's removal, and asserts
//! that the matching checks catch them.

// A test suite's job is to panic with a message on the first broken promise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;
mod support;

use std::time::Duration;

use bytes::Bytes;
use ordo_core::{Message, NodeId};
use tokio::time::{Instant, sleep, timeout};
use tokio_util::sync::CancellationToken;

pub use self::harness::{Harness, InProcessHarness, NetworkHarness, test_cluster, test_config};
pub use self::support::{
    Node, PATIENCE, PROBE_ROUND_MIN, append, assert_link, eventually, heartbeat, is_probe,
};
use crate::transport::{Inbound, Transport};

/// Inbox capacity of a node that reads what it receives.
const INBOX_MESSAGES: usize = 4096;

/// Runs every check, each on a fresh harness from `factory`.
///
/// # Panics
/// On the first broken promise, naming it.
pub async fn run_all<H: Harness>(mut factory: impl FnMut() -> H) {
    tracing::info!(check = "delivery_in_order_per_link", "running");
    delivery_in_order_per_link(&mut factory()).await;
    tracing::info!(check = "reconnects_after_the_peer_restarts", "running");
    reconnects_after_the_peer_restarts(&mut factory()).await;
    tracing::info!(check = "a_removed_peer_is_cut_off_mid_stream", "running");
    a_removed_peer_is_cut_off_mid_stream(&mut factory()).await;
    tracing::info!(
        check = "oversize_messages_are_refused_without_harm",
        "running"
    );
    oversize_messages_are_refused_without_harm(&mut factory()).await;
    tracing::info!(
        check = "a_blocked_receiver_neither_grows_nor_blocks",
        "running"
    );
    a_blocked_receiver_neither_grows_nor_blocks(&mut factory()).await;
}

/// Creates nodes `ids`, makes each a peer of every other, and starts them,
/// each with an inbox of `capacity` messages.
pub fn mesh<H: Harness>(
    harness: &mut H,
    ids: &[NodeId],
    capacity: usize,
) -> Vec<Node<H::Transport>> {
    let transports: Vec<_> = ids.iter().map(|&id| harness.create(id)).collect();
    for (&id, transport) in ids.iter().zip(&transports) {
        for (&peer, peer_transport) in ids.iter().zip(&transports) {
            if peer != id {
                harness.add_peer(transport, peer, peer_transport);
            }
        }
    }
    ids.iter()
        .zip(transports)
        .map(|(&id, transport)| Node::start(id, transport, capacity))
        .collect()
}

async fn shutdown_all<H: Harness>(harness: &mut H, nodes: &[Node<H::Transport>]) {
    for node in nodes {
        harness.shutdown(&node.transport).await;
    }
}

/// Node 1 sends to nodes 2 and 3 and node 2 to node 3, interleaved: each
/// receiver gets exactly what each sender sent it, in order.
pub async fn delivery_in_order_per_link<H: Harness>(harness: &mut H) {
    const ROUNDS: u64 = 300;
    let mut nodes = mesh(harness, &[1, 2, 3], INBOX_MESSAGES);
    let (one, two) = (nodes[0].transport.clone(), nodes[1].transport.clone());
    assert_link(1, &one, &mut nodes[1]).await;
    assert_link(1, &one, &mut nodes[2]).await;
    assert_link(2, &two, &mut nodes[2]).await;
    let payload = Bytes::from_static(b"the payload arrives unchanged");
    let sent = |from, to, round| match round % 10 {
        0 => append(from, to, round, vec![payload.clone(), payload.slice(4..)]),
        _ => heartbeat(from, to, round),
    };
    for round in 0..ROUNDS {
        one.send(sent(1, 3, round));
        two.send(sent(2, 3, round));
        one.send(sent(1, 2, round));
    }
    let mut expected_at_three = [0, 0]; // next round from node 1, from node 2
    for _ in 0..2 * ROUNDS {
        let message = nodes[2].next_non_probe().await;
        let from = message.from;
        assert!(from == 1 || from == 2, "node 3 received from node {from}");
        let round = &mut expected_at_three[(from - 1) as usize];
        assert_eq!(
            message,
            sent(from, 3, *round),
            "link {from} → 3, message {round}"
        );
        *round += 1;
    }
    for round in 0..ROUNDS {
        let message = nodes[1].next_non_probe().await;
        assert_eq!(message, sent(1, 2, round), "link 1 → 2, message {round}");
    }
    shutdown_all(harness, &nodes).await;
}

/// Node 2 stops: node 1 reports it unreachable. Node 2 comes back as the
/// same node: both directions work again.
pub async fn reconnects_after_the_peer_restarts<H: Harness>(harness: &mut H) {
    let mut nodes = mesh(harness, &[1, 2], INBOX_MESSAGES);
    let mut two = nodes.pop().expect("two nodes");
    let mut one = nodes.pop().expect("two nodes");
    assert_link(1, &one.transport, &mut two).await;
    assert_link(2, &two.transport, &mut one).await;

    harness.shutdown(&two.transport).await;
    drop(two);
    let deadline = Instant::now() + PATIENCE;
    loop {
        one.transport.send(heartbeat(1, 2, 1));
        let report = timeout(Duration::from_millis(50), one.inbox.recv()).await;
        if let Ok(Some(Inbound::Unreachable(2))) = report {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node 1 never reported node 2 unreachable"
        );
    }

    let transport = harness.create(2);
    harness.add_peer(&transport, 1, &one.transport);
    harness.add_peer(&one.transport, 2, &transport);
    let mut two = Node::start(2, transport, INBOX_MESSAGES);
    assert_link(1, &one.transport, &mut two).await;
    assert_link(2, &two.transport, &mut one).await;
    harness.shutdown(&one.transport).await;
    harness.shutdown(&two.transport).await;
}

/// Node 1 streams large messages to node 2; node 2 removes node 1 in the
/// middle. Nothing from node 1 reaches node 2 afterwards, while node 3 still
/// reaches node 2 and node 1 still reaches node 3.
pub async fn a_removed_peer_is_cut_off_mid_stream<H: Harness>(harness: &mut H) {
    let mut nodes = mesh(harness, &[1, 2, 3], INBOX_MESSAGES);
    let one = nodes[0].transport.clone();
    assert_link(1, &one, &mut nodes[1]).await;
    let payload_bytes = harness
        .message_limit_bytes()
        .map_or(128 * 1024, |limit| limit / 2);
    let payload = Bytes::from(vec![0x5a; payload_bytes]);
    let streaming = CancellationToken::new();
    let sender = tokio::spawn(stream_until(one.clone(), payload, streaming.clone()));
    let arrived = nodes[1].next_non_probe().await;
    assert_eq!(arrived.from, 1, "the stream has started");

    harness.remove_peer(&nodes[1].transport, 1);
    nodes[1].drain();
    sleep(Duration::from_millis(300)).await;
    nodes[1].assert_nothing_from(1);

    let three = nodes[2].transport.clone();
    assert_link(3, &three, &mut nodes[1]).await;
    assert_link(1, &one, &mut nodes[2]).await;
    nodes[1].assert_nothing_from(1);
    streaming.cancel();
    sender.await.expect("the sending task ends cleanly");
    shutdown_all(harness, &nodes).await;
}

/// Sends appends of `payload` from node 1 to node 2 until `stop`.
async fn stream_until<T: Transport>(transport: T, payload: Bytes, stop: CancellationToken) {
    let mut round = 0;
    while !stop.is_cancelled() {
        transport.send(append(1, 2, round, vec![payload.clone()]));
        round += 1;
        sleep(Duration::from_millis(1)).await;
    }
}

/// Node 1 sends a message above the limit, then a small one: the small one
/// arrives, the large one never does, and the link stays up both ways.
/// Without a limit, a 4 MiB message arrives intact.
pub async fn oversize_messages_are_refused_without_harm<H: Harness>(harness: &mut H) {
    let limit = harness.message_limit_bytes();
    let mut nodes = mesh(harness, &[1, 2], INBOX_MESSAGES);
    let (one, two) = (nodes[0].transport.clone(), nodes[1].transport.clone());
    assert_link(1, &one, &mut nodes[1]).await;
    let large_bytes = limit.map_or(4 * 1024 * 1024, |limit| limit + 1024);
    let large = append(1, 2, 0, vec![Bytes::from(vec![7u8; large_bytes])]);
    one.send(large.clone());
    one.send(heartbeat(1, 2, 7));
    let first = nodes[1].next_non_probe().await;
    match limit {
        Some(limit) => assert_eq!(
            first,
            heartbeat(1, 2, 7),
            "a message of {large_bytes} bytes passed a limit of {limit}"
        ),
        None => {
            assert_eq!(first, large, "the large message arrives intact");
            assert_eq!(nodes[1].next_non_probe().await, heartbeat(1, 2, 7));
        }
    }
    assert_link(1, &one, &mut nodes[1]).await;
    assert_link(2, &two, &mut nodes[0]).await;
    shutdown_all(harness, &nodes).await;
}

/// Node 2 reads nothing (its inbox holds 8 messages) while node 1 sends it
/// far more than any buffer should hold. `send` stays fast, node 1 and
/// node 3 keep talking, and when node 2 finally reads, most of the flood was
/// dropped rather than held.
pub async fn a_blocked_receiver_neither_grows_nor_blocks<H: Harness>(harness: &mut H) {
    const FLOOD_MESSAGES: u64 = 20_000;
    const FLOOD_PAYLOAD_BYTES: usize = 4 * 1024;
    let transports: Vec<_> = [1, 2, 3].map(|id| harness.create(id)).into();
    for (at, transport) in (1..).zip(&transports) {
        for (peer, peer_transport) in (1..).zip(&transports) {
            if peer != at {
                harness.add_peer(transport, peer, peer_transport);
            }
        }
    }
    let mut transports = transports.into_iter();
    let mut one = Node::start(1, transports.next().unwrap(), INBOX_MESSAGES);
    let mut two = Node::start(2, transports.next().unwrap(), 8);
    let mut three = Node::start(3, transports.next().unwrap(), INBOX_MESSAGES);
    assert_link(1, &one.transport, &mut two).await;

    let payload = Bytes::from(vec![1u8; FLOOD_PAYLOAD_BYTES]);
    let started = Instant::now();
    for round in 0..FLOOD_MESSAGES {
        one.transport
            .send(append(1, 2, round, vec![payload.clone()]));
        if round % 1000 == 0 {
            tokio::task::yield_now().await;
        }
    }
    let sending = started.elapsed();
    assert!(
        sending < Duration::from_secs(3),
        "sending to a blocked node took {sending:?}"
    );
    assert_link(1, &one.transport, &mut three).await;
    assert_link(3, &three.transport, &mut one).await;

    let flood = count_arrivals(&mut two, 1).await;
    assert!(
        flood < FLOOD_MESSAGES / 2,
        "{flood} of {FLOOD_MESSAGES} messages of {FLOOD_PAYLOAD_BYTES} bytes were held for a blocked node"
    );
    assert_link(1, &one.transport, &mut two).await;
    for node in [&one, &two, &three] {
        harness.shutdown(&node.transport).await;
    }
}

/// Reads `node`'s inbox until it has been quiet for half a second; counts
/// the messages from `from` that are not probes.
async fn count_arrivals<T: Transport>(node: &mut Node<T>, from: NodeId) -> u64 {
    let mut count = 0;
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        match timeout(Duration::from_millis(500), node.inbox.recv()).await {
            Ok(Some(Inbound::Message(message))) => count += u64::from(counts(&message, from)),
            Ok(Some(Inbound::Unreachable(_))) => {}
            Ok(None) | Err(_) => break,
        }
    }
    count
}

fn counts(message: &Message, from: NodeId) -> bool {
    message.from == from && !is_probe(message)
}
