//! TcpTransport between live endpoints on 127.0.0.1: delivery both ways,
//! batching, large payloads, reconnection, runtime membership, unreachable
//! reports and back-pressure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod transport_support;

use std::time::Duration;

use bytes::Bytes;
use ordo::transport::NetworkConfig;
use ordo::transport::codec::handshake::{Reply, Welcome};
use ordo::transport::codec::{ClusterId, PROTOCOL_VERSION};
use ordo::transport::{Inbound, Transport};
use ordo_core::{EntryPayload, MessageBody};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::time::{sleep, timeout};
use transport_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_exchange_messages_in_both_directions() {
    let mut nodes = mesh(vec![bind(config(1)), bind(config(2))]);
    let (one, two) = nodes.split_at_mut(1);
    let (one, two) = (&mut one[0], &mut two[0]);
    for round in 0..10 {
        one.transport.send(heartbeat(1, 2, round));
        two.transport.send(heartbeat(2, 1, round));
    }
    for round in 0..10 {
        let at_two = two.next_message().await;
        assert_eq!(at_two, heartbeat(1, 2, round), "in order, unchanged");
        let at_one = one.next_message().await;
        assert_eq!(at_one, heartbeat(2, 1, round));
    }
    for node in &nodes {
        node.transport.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_all_reach_each_other() {
    let mut nodes = mesh(vec![bind(config(1)), bind(config(2)), bind(config(3))]);
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
        sender.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_queued_messages_are_coalesced_into_few_writes() {
    let mut nodes = mesh(vec![bind(config(1)), bind(config(2))]);
    let sender = nodes[0].transport.clone();
    assert_link(&sender, &mut nodes[1]).await;
    let before = sender.stats();
    for round in 0..1000 {
        sender.send(heartbeat(1, 2, round));
    }
    for round in 0..1000 {
        assert_eq!(nodes[1].next_message().await, heartbeat(1, 2, round));
    }
    let after = sender.stats();
    let messages = after.messages_sent - before.messages_sent;
    let batches = after.batches_sent - before.batches_sent;
    assert_eq!(messages, 1000);
    assert!(batches < 500, "{batches} writes for 1000 messages");
    for node in &nodes {
        node.transport.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_payloads_arrive_intact() {
    let mut nodes = mesh(vec![bind(config(1)), bind(config(2))]);
    let big: Bytes = (0..3 * 1024 * 1024)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into();
    let payloads = vec![
        big.clone(),
        Bytes::from_static(b"small"),
        big.slice(100..20_000),
    ];
    let sent = append(1, 2, payloads);
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
    for node in &nodes {
        node.transport.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_above_the_frame_limit_is_dropped_and_the_link_survives() {
    let small_frames = |id| NetworkConfig {
        max_frame_bytes: 64 * 1024,
        ..config(id)
    };
    let mut nodes = mesh(vec![bind(small_frames(1)), bind(small_frames(2))]);
    let sender = nodes[0].transport.clone();
    sender.send(append(1, 2, vec![Bytes::from(vec![0u8; 100 * 1024])]));
    sender.send(heartbeat(1, 2, 7));
    assert_eq!(nodes[1].next_message().await, heartbeat(1, 2, 7));
    assert_eq!(sender.stats().dropped_oversized, 1);
    for node in &nodes {
        node.transport.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_peer_is_reconnected_and_its_absence_reported() {
    let mut one = start(bind(config(1)));
    let two_config = config(2);
    let two = bind(two_config.clone());
    let two_addr = two.local_addr();
    one.transport.add_peer(2, two_addr.to_string()).unwrap();
    two.add_peer(1, one.addr().to_string()).unwrap();
    let mut two = start(two);
    assert_link(&one.transport, &mut two).await;
    assert_link(&two.transport, &mut one).await;

    // Peer 2 goes away: node 1 notices and tells its node.
    two.transport.shutdown().await;
    drop(two);
    one.transport.send(heartbeat(1, 2, 1));
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let report = timeout(deadline - tokio::time::Instant::now(), one.inbox.recv())
            .await
            .expect("an unreachable report");
        if report == Some(Inbound::Unreachable(2)) {
            break;
        }
        one.transport.send(heartbeat(1, 2, 1));
    }

    // It comes back on the same port: both directions work again.
    let two = bind(NetworkConfig {
        listen_addr: two_addr,
        ..two_config
    });
    two.add_peer(1, one.addr().to_string()).unwrap();
    let mut two = start(two);
    assert_link(&one.transport, &mut two).await;
    assert_link(&two.transport, &mut one).await;
    let stats = one.transport.stats();
    assert!(stats.connections_opened >= 2, "{stats:?}");
    assert!(stats.connections_accepted >= 2, "{stats:?}");
    one.transport.shutdown().await;
    two.transport.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_can_be_added_and_removed_at_runtime() {
    let mut nodes = mesh(vec![bind(config(1)), bind(config(2))]);
    // Node 3 joins: the others learn about it while running.
    let three = bind(config(3));
    three.add_peer(1, nodes[0].addr().to_string()).unwrap();
    three.add_peer(2, nodes[1].addr().to_string()).unwrap();
    let mut three = start(three);
    for node in &nodes {
        assert!(
            node.transport
                .add_peer(3, three.addr().to_string())
                .unwrap()
        );
        assert!(
            !node
                .transport
                .add_peer(3, three.addr().to_string())
                .unwrap()
        );
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
    while let Ok(inbound) = nodes[0].inbox.try_recv() {
        assert!(
            !matches!(inbound, Inbound::Message(m) if m.from == 3),
            "a message from a removed peer"
        );
    }
    // Node 2 still talks to both.
    assert_link(&nodes[1].transport, &mut three).await;
    let two = nodes[1].transport.clone();
    assert_link(&two, &mut nodes[0]).await;
    for node in &nodes {
        node.transport.shutdown().await;
    }
    three.transport.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_send_queue_drops_instead_of_growing() {
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
    let transport = bind(NetworkConfig {
        send_queue_messages: 64,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dialer_checks_who_answers() {
    // A fake acceptor that welcomes with the wrong cluster, then with the
    // wrong node id: node 1 must refuse both and send nothing.
    let fake = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fake_addr = fake.local_addr().unwrap();
    let answers = [
        Welcome {
            cluster_id: ClusterId::new("someone-else").unwrap(),
            node_id: 2,
            version: PROTOCOL_VERSION,
        },
        Welcome {
            cluster_id: cluster(),
            node_id: 9,
            version: PROTOCOL_VERSION,
        },
    ];
    let server = tokio::spawn(async move {
        let mut after_welcome = Vec::new();
        for welcome in answers.into_iter().cycle().take(4) {
            let (mut stream, _) = fake.accept().await.unwrap();
            let hello = read_frame(&mut stream).await.unwrap();
            assert!(ordo::transport::codec::handshake::Hello::decode(&hello).is_ok());
            stream
                .write_all(&frame(&Reply::Welcome(welcome).encode()))
                .await
                .unwrap();
            // Whatever the dialer sends next must be nothing: it hangs up.
            after_welcome.push(read_frame(&mut stream).await);
        }
        after_welcome
    });
    let transport = bind(config(1));
    transport.add_peer(2, fake_addr.to_string()).unwrap();
    let node = start(transport);
    for round in 0..50 {
        node.transport.send(heartbeat(1, 2, round));
        sleep(Duration::from_millis(5)).await;
    }
    let after_welcome = timeout(PATIENCE, server).await.unwrap().unwrap();
    assert!(
        after_welcome.iter().all(Option::is_none),
        "{after_welcome:?}"
    );
    let stats = node.transport.stats();
    assert_eq!(stats.messages_sent, 0);
    assert_eq!(stats.connections_opened, 0);
    assert!(stats.connect_failures >= 4, "{stats:?}");
    node.transport.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_refuses_bad_configuration_and_start_twice() {
    let bad = NetworkConfig {
        max_frame_bytes: 0,
        ..config(1)
    };
    let error = ordo::transport::tcp::TcpTransport::bind(bad).unwrap_err();
    assert!(error.to_string().contains("max_frame_bytes"), "{error}");
    let node = start(bind(config(1)));
    let (inbox, _receiver) = ordo::transport::Inbox::bounded(1);
    assert!(node.transport.start(inbox).is_err());
    assert!(node.transport.add_peer(1, "127.0.0.1:1").is_err());
    assert!(node.transport.add_peer(2, "no-port").is_err());
    node.transport.shutdown().await;
}
