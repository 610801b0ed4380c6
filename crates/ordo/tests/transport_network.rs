//! What NetworkTransport does the same over every wire (TCP, and gRPC with
//! the `grpc` feature), beyond the conformance suite: connection counts,
//! write coalescing, large payloads, the counters of dropped messages,
//! runtime membership, and configuration checks. Each test runs once per
//! wire.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod transport_support;

use std::time::Duration;

use bytes::Bytes;
use ordo::transport::{Inbox, NetworkConfig, NetworkTransport, Transport, Wire};
use ordo_core::{EntryPayload, MessageBody};
use tokio::net::TcpListener;
use tokio::time::sleep;
use transport_support::*;

/// One test per wire for each generic test below.
macro_rules! for_each_wire {
    ($($test:ident),* $(,)?) => {
        mod tcp {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test::<ordo::transport::tcp::TcpWire>().await;
                }
            )*
        }
        #[cfg(feature = "grpc")]
        mod grpc {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test::<ordo::transport::grpc::GrpcWire>().await;
                }
            )*
        }
    };
}

for_each_wire!(
    three_nodes_open_one_connection_per_peer,
    many_queued_messages_are_coalesced_into_few_writes,
    large_payloads_arrive_intact,
    a_message_above_the_frame_limit_is_counted,
    peers_can_be_added_and_removed_at_runtime,
    the_runtime_hook_adds_moves_and_removes_peers,
    a_full_send_queue_drops_instead_of_growing,
    bind_refuses_bad_configuration_and_start_twice,
);

fn net<W: Wire>(config: NetworkConfig) -> NetworkTransport<W> {
    NetworkTransport::bind(config).unwrap()
}

async fn shutdown_all<W: Wire>(nodes: &[Node<NetworkTransport<W>>]) {
    for node in nodes {
        node.transport.shutdown().await;
    }
}

async fn three_nodes_open_one_connection_per_peer<W: Wire>() {
    let mut nodes = mesh(vec![
        net::<W>(config(1)),
        net::<W>(config(2)),
        net::<W>(config(3)),
    ]);
    let senders: Vec<_> = nodes.iter().map(|n| n.transport.clone()).collect();
    for sender in &senders {
        for receiver in nodes.iter_mut() {
            if sender.node_id() != receiver.id() {
                assert_link(sender, receiver).await;
            }
        }
    }
    for sender in &senders {
        let stats = sender.stats();
        assert_eq!(stats.connections_opened, 2, "{stats:?}");
        assert_eq!(stats.connections_accepted, 2, "{stats:?}");
    }
    shutdown_all(&nodes).await;
}

async fn many_queued_messages_are_coalesced_into_few_writes<W: Wire>() {
    let mut nodes = mesh(vec![net::<W>(config(1)), net::<W>(config(2))]);
    let sender = nodes[0].transport.clone();
    assert_link(&sender, &mut nodes[1]).await;
    let before = sender.stats();
    for round in 0..1000 {
        sender.send(heartbeat(1, 2, round));
    }
    for round in 0..1000 {
        assert_eq!(nodes[1].next_message().await, heartbeat(1, 2, round));
    }
    // The sender counts a batch once its write returned, which may be just
    // after the receiver read it.
    eventually("the sender to count every message", || {
        sender.stats().messages_sent - before.messages_sent >= 1000
    })
    .await;
    let after = sender.stats();
    let messages = after.messages_sent - before.messages_sent;
    let batches = after.batches_sent - before.batches_sent;
    // At least: a probe `assert_link` sent again while the link was slow to
    // open can be counted after `before` was taken.
    assert!(messages >= 1000, "{messages} messages counted");
    assert!(batches < 500, "{batches} writes for 1000 messages");
    shutdown_all(&nodes).await;
}

async fn large_payloads_arrive_intact<W: Wire>() {
    let mut nodes = mesh(vec![net::<W>(config(1)), net::<W>(config(2))]);
    let big: Bytes = (0..3 * 1024 * 1024)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into();
    let payloads = vec![
        big.clone(),
        Bytes::from_static(b"small"),
        big.slice(100..20_000),
    ];
    let sent = append(1, 2, 0, payloads);
    nodes[0].transport.send(sent.clone());
    let received = nodes[1].next_message().await;
    assert_eq!(received, sent);
    let MessageBody::Append(request) = received.body else {
        unreachable!()
    };
    let EntryPayload::Command(first) = &request.entries[0].payload else {
        unreachable!()
    };
    assert_eq!(first.len(), big.len());
    shutdown_all(&nodes).await;
}

async fn a_message_above_the_frame_limit_is_counted<W: Wire>() {
    let small_frames = |id| NetworkConfig {
        max_frame_bytes: 64 * 1024,
        ..config(id)
    };
    let mut nodes = mesh(vec![net::<W>(small_frames(1)), net::<W>(small_frames(2))]);
    let sender = nodes[0].transport.clone();
    sender.send(append(1, 2, 0, vec![Bytes::from(vec![0u8; 100 * 1024])]));
    sender.send(heartbeat(1, 2, 7));
    assert_eq!(nodes[1].next_message().await, heartbeat(1, 2, 7));
    assert_eq!(sender.stats().dropped_oversized, 1);
    shutdown_all(&nodes).await;
}

/// `Transport::update_peer`, what a node calls as members join, move and
/// leave: the same table as `add_peer`/`remove_peer`, and an unusable
/// address is refused without changing it.
async fn the_runtime_hook_adds_moves_and_removes_peers<W: Wire>() {
    let transport = net::<W>(config(1));
    let hook: &dyn Transport = &transport;
    hook.update_peer(2, Some("127.0.0.1:7002")).unwrap();
    assert_eq!(transport.peers(), [(2, "127.0.0.1:7002".to_owned())]);
    hook.update_peer(2, Some("127.0.0.1:7012")).unwrap();
    assert_eq!(transport.peers(), [(2, "127.0.0.1:7012".to_owned())]);
    assert!(hook.update_peer(2, Some("not an address")).is_err());
    assert!(
        hook.update_peer(1, Some("127.0.0.1:7001")).is_err(),
        "itself"
    );
    assert_eq!(transport.peers(), [(2, "127.0.0.1:7012".to_owned())]);
    hook.update_peer(2, None).unwrap();
    hook.update_peer(3, None).unwrap();
    assert!(transport.peers().is_empty());
    transport.shutdown().await;
}

async fn peers_can_be_added_and_removed_at_runtime<W: Wire>() {
    let mut nodes = mesh(vec![net::<W>(config(1)), net::<W>(config(2))]);
    // Node 3 joins: the others learn about it while running.
    let three = net::<W>(config(3));
    three.add_peer(1, nodes[0].addr().to_string()).unwrap();
    three.add_peer(2, nodes[1].addr().to_string()).unwrap();
    let mut three = start(three);
    for node in &nodes {
        let address = three.addr().to_string();
        assert!(node.transport.add_peer(3, address.clone()).unwrap());
        assert!(!node.transport.add_peer(3, address).unwrap());
    }
    for node in nodes.iter_mut() {
        assert_link(&node.transport, &mut three).await;
        assert_link(&three.transport, node).await;
    }

    // Node 3 leaves the membership of node 1: node 1 drops messages to it
    // and refuses its connections.
    let one = nodes[0].transport.clone();
    assert!(one.remove_peer(3));
    assert!(!one.remove_peer(3));
    assert_eq!(one.peers().len(), 1);
    let dropped_before = one.stats().dropped_unknown_peer;
    one.send(heartbeat(1, 3, 1));
    assert_eq!(one.stats().dropped_unknown_peer, dropped_before + 1);
    let refused_before = one.stats().handshakes_refused;
    nodes[0].drain();
    for round in 0..20 {
        three.transport.send(heartbeat(3, 1, round));
        sleep(Duration::from_millis(20)).await;
    }
    eventually("node 1 refuses node 3", || {
        one.stats().handshakes_refused > refused_before
    })
    .await;
    nodes[0].assert_nothing_from(3);
    // Node 2 still talks to both.
    assert_link(&nodes[1].transport, &mut three).await;
    let two = nodes[1].transport.clone();
    assert_link(&two, &mut nodes[0]).await;
    shutdown_all(&nodes).await;
    three.transport.shutdown().await;
}

async fn a_full_send_queue_drops_instead_of_growing<W: Wire>() {
    // The "peer" accepts connections but never answers the handshake, so the
    // dialer is stuck connecting while the node keeps sending.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let transport = net::<W>(NetworkConfig {
        send_queue_messages: 64,
        connect_timeout: Duration::from_secs(5),
        handshake_timeout: Duration::from_secs(5),
        ..config(1)
    });
    transport.add_peer(2, silent_addr.to_string()).unwrap();
    let node = start(transport);
    sleep(Duration::from_millis(50)).await;
    let started = std::time::Instant::now();
    for round in 0..10_000 {
        node.transport.send(heartbeat(1, 2, round));
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "send must not block"
    );
    let stats = node.transport.stats();
    assert_eq!(stats.messages_sent, 0);
    assert_eq!(stats.dropped_queue_full, 10_000 - 64, "{stats:?}");
    node.transport.shutdown().await;
    hold.abort();
}

async fn bind_refuses_bad_configuration_and_start_twice<W: Wire>() {
    let bad = NetworkConfig {
        max_frame_bytes: 0,
        ..config(1)
    };
    let error = NetworkTransport::<W>::bind(bad).unwrap_err();
    assert!(error.to_string().contains("max_frame_bytes"), "{error}");
    let node = start(net::<W>(config(1)));
    let (inbox, _receiver) = Inbox::bounded(1);
    assert!(node.transport.start(inbox).is_err());
    assert!(node.transport.add_peer(1, "127.0.0.1:1").is_err());
    assert!(node.transport.add_peer(2, "no-port").is_err());
    node.transport.shutdown().await;
}
