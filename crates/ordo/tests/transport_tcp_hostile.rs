//! Hostile input against a live TcpTransport listener. Node 1 is under
//! attack; node 2 is a peer whose identity the attacker borrows (a raw
//! socket); node 3 is a well-behaved peer. Every case checks that the bad
//! connection is closed, that the right counter moved, and that node 1 still
//! exchanges messages with node 3.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod transport_support;

use std::time::Duration;

use ordo::transport::ClusterId;
use ordo::transport::Inbound;
use ordo::transport::NetworkConfig;
use ordo::transport::codec;
use ordo::transport::codec::handshake::{Hello, Refusal, RefusalReason, Reply};
use ordo::transport::tcp::TcpTransport;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep};
use transport_support::*;

struct Fixture {
    one: Node<TcpTransport>,
    three: Node<TcpTransport>,
}

impl Fixture {
    async fn new(tweak: impl FnOnce(NetworkConfig) -> NetworkConfig) -> Fixture {
        // Peer 2's address is a closed port: node 1 knows node 2, but only
        // the attacker will ever speak as node 2.
        let one = bind(tweak(config(1)).with_peer(2, "127.0.0.1:1"));
        let three = bind(config(3));
        one.add_peer(3, three.local_addr().to_string()).unwrap();
        three.add_peer(1, one.local_addr().to_string()).unwrap();
        let mut fixture = Fixture {
            one: start(one),
            three: start(three),
        };
        fixture.assert_still_serving().await;
        fixture
    }

    /// Node 1 and node 3 still reach each other, both ways.
    async fn assert_still_serving(&mut self) {
        assert_link(&self.three.transport, &mut self.one).await;
        assert_link(&self.one.transport, &mut self.three).await;
    }

    /// A raw connection authenticated as node 2.
    async fn as_node_two(&self) -> TcpStream {
        let (stream, reply) = raw_handshake(self.one.addr(), &hello(2, 1)).await;
        assert!(matches!(reply, Reply::Welcome(_)), "{reply:?}");
        stream
    }

    async fn shutdown(self) {
        self.one.transport.shutdown().await;
        self.three.transport.shutdown().await;
    }

    /// Asserts that node 1 received no message from node 2.
    fn assert_nothing_from_two(&mut self) {
        while let Ok(inbound) = self.one.inbox.try_recv() {
            assert!(
                !matches!(&inbound, Inbound::Message(m) if m.from == 2),
                "delivered: {inbound:?}"
            );
        }
    }
}

const CLOSE_PATIENCE: Duration = Duration::from_secs(5);

/// Sends `hello` and returns why node 1 refused it, as node 1 counted it.
/// The caller itself is told nothing: no reason, no detail, and so neither
/// the cluster's name nor its node ids.
async fn refusal_for(fixture: &Fixture, hello: &Hello) -> RefusalReason {
    let before = fixture.one.transport.stats();
    let (mut stream, reply) = raw_handshake(fixture.one.addr(), hello).await;
    closed_within(&mut stream, CLOSE_PATIENCE).await;
    match reply {
        Reply::Refusal(refusal) => assert_eq!(refusal, Refusal::withheld()),
        Reply::Welcome(welcome) => panic!("welcomed: {welcome:?}"),
    }
    counted_reason(&before, &fixture.one.transport.stats())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_bytes_instead_of_a_handshake() {
    let mut fixture = Fixture::new(|c| c).await;
    for seed in 1..=5 {
        let mut stream = TcpStream::connect(fixture.one.addr()).await.unwrap();
        stream.write_all(&noise(seed, 4096)).await.unwrap();
        closed_within(&mut stream, CLOSE_PATIENCE).await;
    }
    assert_eq!(fixture.one.transport.stats().handshakes_refused, 5);
    fixture.assert_still_serving().await;
    fixture.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_length_prefix_before_the_handshake() {
    let mut fixture = Fixture::new(|c| c).await;
    let mut stream = TcpStream::connect(fixture.one.addr()).await.unwrap();
    stream
        .write_all(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3])
        .await
        .unwrap();
    let reply = Reply::decode(&read_frame(&mut stream).await.unwrap()).unwrap();
    assert!(
        matches!(&reply, Reply::Refusal(r) if *r == Refusal::withheld()),
        "{reply:?}"
    );
    closed_within(&mut stream, CLOSE_PATIENCE).await;
    let stats = fixture.one.transport.stats();
    assert_eq!((stats.handshakes_refused, stats.refused_malformed), (1, 1));
    fixture.assert_still_serving().await;
    fixture.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_length_prefix_after_the_handshake() {
    let mut fixture = Fixture::new(|c| c).await;
    let mut stream = fixture.as_node_two().await;
    // 4 GiB - 1 announced, far above the 64 MiB limit: refused on the header
    // alone, before anything is allocated or read.
    stream.write_all(&[0xff, 0xff, 0xff, 0xff]).await.unwrap();
    closed_within(&mut stream, CLOSE_PATIENCE).await;
    assert_eq!(fixture.one.transport.stats().closed_oversized, 1);
    fixture.assert_still_serving().await;
    fixture.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_frames_after_the_handshake() {
    let mut fixture = Fixture::new(|c| c).await;
    for seed in 1..=5 {
        let mut stream = fixture.as_node_two().await;
        stream.write_all(&frame(&noise(seed, 300))).await.unwrap();
        closed_within(&mut stream, CLOSE_PATIENCE).await;
    }
    assert_eq!(fixture.one.transport.stats().closed_malformed, 5);
    fixture.assert_nothing_from_two();
    fixture.assert_still_serving().await;
    fixture.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_of_an_unknown_version_or_kind() {
    let mut fixture = Fixture::new(|c| c).await;
    for (at, value) in [(0, 9u8), (1, 200u8)] {
        let mut bytes = codec::encode(&heartbeat(2, 1, 1)).to_vec();
        bytes[at] = value;
        let mut stream = fixture.as_node_two().await;
        stream.write_all(&frame(&bytes)).await.unwrap();
        closed_within(&mut stream, CLOSE_PATIENCE).await;
    }
    assert_eq!(fixture.one.transport.stats().closed_malformed, 2);
    fixture.assert_nothing_from_two();
    fixture.assert_still_serving().await;
    fixture.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_frame() {
    let mut fixture = Fixture::new(|c| c).await;
    let mut stream = fixture.as_node_two().await;
    let whole = framed_message(&heartbeat(2, 1, 1));
    stream.write_all(&whole[..whole.len() - 3]).await.unwrap();
    stream.shutdown().await.unwrap();
    closed_within(&mut stream, CLOSE_PATIENCE).await;
    assert_eq!(fixture.one.transport.stats().closed_truncated, 1);
    fixture.assert_nothing_from_two();
    fixture.assert_still_serving().await;
    fixture.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_cluster_id() {
    let mut fixture = Fixture::new(|c| c).await;
    let stranger = Hello {
        cluster_id: ClusterId::new("another-cluster").unwrap(),
        ..hello(2, 1)
    };
    assert_eq!(
        refusal_for(&fixture, &stranger).await,
        RefusalReason::WrongCluster
    );
    assert_eq!(fixture.one.transport.stats().handshakes_refused, 1);
    fixture.assert_still_serving().await;
    fixture.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_protocol_version() {
    let mut fixture = Fixture::new(|c| c).await;
    let future = Hello {
        min_version: 7,
        max_version: 9,
        ..hello(2, 1)
    };
    assert_eq!(
        refusal_for(&fixture, &future).await,
        RefusalReason::UnsupportedVersion
    );
    let past = Hello {
        min_version: 0,
        max_version: 0,
        ..hello(2, 1)
    };
    assert_eq!(
        refusal_for(&fixture, &past).await,
        RefusalReason::UnsupportedVersion
    );
    assert_eq!(fixture.one.transport.stats().handshakes_refused, 2);
    fixture.assert_still_serving().await;
    fixture.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_node_or_the_wrong_target() {
    let mut fixture = Fixture::new(|c| c).await;
    assert_eq!(
        refusal_for(&fixture, &hello(42, 1)).await,
        RefusalReason::UnknownNode
    );
    assert_eq!(
        refusal_for(&fixture, &hello(1, 1)).await,
        RefusalReason::UnknownNode
    );
    assert_eq!(
        refusal_for(&fixture, &hello(2, 5)).await,
        RefusalReason::WrongNode
    );
    assert_eq!(fixture.one.transport.stats().handshakes_refused, 3);
    fixture.assert_still_serving().await;
    fixture.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_whose_sender_lies() {
    let mut fixture = Fixture::new(|c| c).await;
    let mut stream = fixture.as_node_two().await;
    // A genuine message first: it is delivered.
    stream
        .write_all(&framed_message(&heartbeat(2, 1, 77)))
        .await
        .unwrap();
    let first = fixture.one.next_message().await;
    assert_eq!(first, heartbeat(2, 1, 77));
    // Then one claiming to come from node 3: the connection is closed.
    stream
        .write_all(&framed_message(&heartbeat(3, 1, 78)))
        .await
        .unwrap();
    stream
        .write_all(&framed_message(&heartbeat(2, 1, 79)))
        .await
        .unwrap();
    closed_within(&mut stream, CLOSE_PATIENCE).await;
    assert_eq!(fixture.one.transport.stats().closed_forged, 1);
    sleep(Duration::from_millis(50)).await;
    while let Ok(inbound) = fixture.one.inbox.try_recv() {
        if let Inbound::Message(message) = inbound {
            assert_ne!(message, heartbeat(3, 1, 78), "the forgery was delivered");
            assert_ne!(message, heartbeat(2, 1, 79), "read past the forgery");
        }
    }
    fixture.assert_still_serving().await;
    fixture.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_for_another_node() {
    let mut fixture = Fixture::new(|c| c).await;
    let mut stream = fixture.as_node_two().await;
    stream
        .write_all(&framed_message(&heartbeat(2, 3, 1)))
        .await
        .unwrap();
    closed_within(&mut stream, CLOSE_PATIENCE).await;
    assert_eq!(fixture.one.transport.stats().closed_forged, 1);
    fixture.assert_nothing_from_two();
    fixture.assert_still_serving().await;
    fixture.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_loris_that_never_finishes_its_handshake() {
    let mut fixture = Fixture::new(|c| NetworkConfig {
        handshake_timeout: Duration::from_millis(400),
        ..c
    })
    .await;
    // One silent connection, one that trickles a valid hello a byte at a time.
    let mut silent = TcpStream::connect(fixture.one.addr()).await.unwrap();
    let mut trickle = TcpStream::connect(fixture.one.addr()).await.unwrap();
    let hello_bytes = frame(&hello(2, 1).encode());
    let trickler = tokio::spawn(async move {
        for byte in hello_bytes {
            if trickle.write_all(&[byte]).await.is_err() {
                break;
            }
            sleep(Duration::from_millis(50)).await;
        }
        closed_within(&mut trickle, CLOSE_PATIENCE).await
    });
    // The node keeps serving while they hang on.
    fixture.assert_still_serving().await;
    let waited = closed_within(&mut silent, CLOSE_PATIENCE).await;
    assert!(waited < Duration::from_secs(2), "closed after {waited:?}");
    trickler.await.unwrap();
    assert_eq!(fixture.one.transport.stats().handshake_timeouts, 2);
    fixture.assert_nothing_from_two();
    fixture.assert_still_serving().await;
    fixture.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_pending_handshakes_are_shed_at_once() {
    let mut fixture = Fixture::new(|c| NetworkConfig {
        max_pending_handshakes: 4,
        handshake_timeout: Duration::from_secs(3),
        ..c
    })
    .await;
    let mut holders = Vec::new();
    for _ in 0..4 {
        holders.push(TcpStream::connect(fixture.one.addr()).await.unwrap());
    }
    sleep(Duration::from_millis(100)).await;
    let mut extra = TcpStream::connect(fixture.one.addr()).await.unwrap();
    let waited = closed_within(&mut extra, CLOSE_PATIENCE).await;
    assert!(waited < Duration::from_secs(1), "shed after {waited:?}");
    assert_eq!(fixture.one.transport.stats().handshakes_shed, 1);
    // Established peers are unaffected.
    fixture.assert_still_serving().await;
    drop(holders);
    fixture.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authenticated_peer_that_falls_silent() {
    let mut fixture = Fixture::new(|c| NetworkConfig {
        keepalive_interval: Duration::from_millis(100),
        idle_timeout: Duration::from_millis(500),
        ..c
    })
    .await;
    let mut stream = fixture.as_node_two().await;
    let started = Instant::now();
    closed_within(&mut stream, CLOSE_PATIENCE).await;
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(fixture.one.transport.stats().closed_idle, 1);
    // Node 3's connection, kept alive by keepalives, is still there.
    assert_eq!(fixture.one.transport.stats().connections_accepted, 2);
    fixture.assert_still_serving().await;
    fixture.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_bad_connections_while_good_traffic_flows() {
    let mut fixture = Fixture::new(|c| c).await;
    let addr = fixture.one.addr();
    let storm = tokio::spawn(async move {
        let mut attacks = Vec::new();
        for seed in 0..120u64 {
            attacks.push(tokio::spawn(async move {
                let Ok(mut stream) = TcpStream::connect(addr).await else {
                    return;
                };
                let bytes = match seed % 4 {
                    0 => noise(seed, 1 + (seed as usize * 37) % 2000),
                    1 => frame(&noise(seed, 40)),
                    2 => {
                        let mut bytes = frame(&hello(2, 1).encode());
                        bytes.extend(frame(&noise(seed, 64)));
                        bytes
                    }
                    _ => frame(&hello(2, 1).encode())[..7].to_vec(),
                };
                let _ = stream.write_all(&bytes).await;
                let _ = stream.shutdown().await;
                closed_within(&mut stream, CLOSE_PATIENCE).await;
            }));
        }
        for attack in attacks {
            attack.await.unwrap();
        }
    });
    for _ in 0..10 {
        fixture.assert_still_serving().await;
    }
    storm.await.unwrap();
    fixture.assert_nothing_from_two();
    fixture.assert_still_serving().await;
    fixture.shutdown().await;
}
