//! Mutual TLS between peers (`ordo::transport::tls`), over the TCP wire and,
//! with the `grpc` feature (`cargo test -p ordo --features grpc --test
//! transport_tls`), the gRPC wire: the same scenarios for both.
//! Each refusal is asserted through the acceptor's counters, and that the
//! refused side received nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod transport_support;

use std::time::Duration;

#[cfg(feature = "grpc")]
use ordo::transport::grpc::GrpcWire;
use ordo::transport::tcp::TcpWire;
use ordo::transport::tls::PeerTls;
use ordo::transport::{NetworkConfig, NetworkTransport, Transport, Wire};
use ordo_core::NodeId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout};
use transport_support::pki::TestCa;
use transport_support::*;

/// A node of the test cluster speaking TLS with `tls`. The handshake
/// timeout is roomier than the plaintext tests' because a TLS handshake on a
/// loaded machine in a debug build takes a few milliseconds more.
fn tls_config(node: NodeId, tls: Option<PeerTls>) -> NetworkConfig {
    NetworkConfig {
        handshake_timeout: Duration::from_secs(3),
        peer_tls: tls,
        ..config(node)
    }
}

fn bind_tls<W: Wire>(node: NodeId, tls: Option<PeerTls>) -> NetworkTransport<W> {
    NetworkTransport::<W>::bind(tls_config(node, tls)).unwrap()
}

/// Sends heartbeats from `sender` for a while and asserts that none reached
/// `receiver`.
async fn assert_no_link<W: Wire>(
    sender: &NetworkTransport<W>,
    receiver: &mut transport_support::Node<NetworkTransport<W>>,
) {
    for round in 0..20 {
        sender.send(heartbeat(sender.node_id(), receiver.id(), round));
        sleep(Duration::from_millis(10)).await;
    }
    receiver.assert_nothing_from(sender.node_id());
}

async fn mutual_tls_carries_messages<W: Wire>() {
    let ca = TestCa::new("cluster CA");
    let transports = (1..=3)
        .map(|id| bind_tls::<W>(id, Some(ca.peer_tls(&cluster(), id))))
        .collect();
    let mut nodes = mesh(transports);
    for from in 0..3 {
        for to in 0..3 {
            if from != to {
                let sender = nodes[from].transport.clone();
                assert_link(&sender, &mut nodes[to]).await;
            }
        }
    }
    for node in &nodes {
        let stats = node.transport.stats();
        assert_eq!((stats.handshakes_refused, stats.refused_tls), (0, 0));
    }
    for node in nodes {
        node.transport.shutdown().await;
    }
}

/// Node "3" holds a valid certificate for node 2: node 1 refuses it as a
/// caller (the hello claims 3, the certificate names 2) and, as a dialer,
/// will not talk to it (it dialed 3, the certificate names 2).
async fn a_certificate_for_node_2_cannot_speak_as_node_3<W: Wire>() {
    let ca = TestCa::new("cluster CA");
    let one = bind_tls::<W>(1, Some(ca.peer_tls(&cluster(), 1)));
    let impostor = bind_tls::<W>(3, Some(ca.peer_tls(&cluster(), 2)));
    let mut nodes = mesh(vec![one, impostor]);
    let (one, impostor) = (nodes[0].transport.clone(), nodes[1].transport.clone());
    assert_no_link(&impostor, &mut nodes[0]).await;
    assert_no_link(&one, &mut nodes[1]).await;
    eventually("node 1 refused the impostor's claim", || {
        one.stats().refused_certificate_mismatch > 0
    })
    .await;
    eventually("node 1 would not dial into the wrong certificate", || {
        one.stats().connect_failures > 0
    })
    .await;
    assert_eq!(one.stats().connections_accepted, 0);
    assert_eq!(one.stats().connections_opened, 0);
    for node in nodes {
        node.transport.shutdown().await;
    }
}

async fn a_certificate_from_another_ca_is_refused<W: Wire>() {
    let ca = TestCa::new("cluster CA");
    let stranger_ca = TestCa::new("another CA");
    let one = bind_tls::<W>(1, Some(ca.peer_tls(&cluster(), 1)));
    let stranger = stranger_ca.node(&cluster(), 2);
    // A stranger that trusts our CA, so only our side can refuse it.
    let two = bind_tls::<W>(
        2,
        Some(
            PeerTls::from_pem(
                stranger.certificate_pem.as_bytes(),
                stranger.key_pem.as_bytes(),
                ca.certificate_pem().as_bytes(),
            )
            .unwrap(),
        ),
    );
    let mut nodes = mesh(vec![one, two]);
    let (one, two) = (nodes[0].transport.clone(), nodes[1].transport.clone());
    assert_no_link(&two, &mut nodes[0]).await;
    assert_no_link(&one, &mut nodes[1]).await;
    eventually("node 1 refused the stranger's TLS", || {
        one.stats().refused_tls > 0
    })
    .await;
    assert_eq!(one.stats().connections_accepted, 0);
    assert_eq!(one.stats().connections_opened, 0);
    for node in nodes {
        node.transport.shutdown().await;
    }
}

async fn a_plaintext_peer_is_refused<W: Wire>() {
    let ca = TestCa::new("cluster CA");
    let one = bind_tls::<W>(1, Some(ca.peer_tls(&cluster(), 1)));
    let plain = bind_tls::<W>(2, None);
    let mut nodes = mesh(vec![one, plain]);
    let (one, plain) = (nodes[0].transport.clone(), nodes[1].transport.clone());
    assert_no_link(&plain, &mut nodes[0]).await;
    eventually("node 1 refused the plaintext caller", || {
        one.stats().refused_tls > 0
    })
    .await;
    assert_eq!(one.stats().connections_accepted, 0);
    assert_eq!(plain.stats().connections_opened, 0);
    for node in nodes {
        node.transport.shutdown().await;
    }
}

/// A member removed from the peer table stays refused although its
/// certificate is still valid.
async fn a_removed_member_is_refused<W: Wire>() {
    let ca = TestCa::new("cluster CA");
    let transports = (1..=2)
        .map(|id| bind_tls::<W>(id, Some(ca.peer_tls(&cluster(), id))))
        .collect();
    let mut nodes = mesh(transports);
    let (one, two) = (nodes[0].transport.clone(), nodes[1].transport.clone());
    assert_link(&two, &mut nodes[0]).await;
    assert!(one.remove_peer(2));
    nodes[0].drain();
    assert_no_link(&two, &mut nodes[0]).await;
    eventually("node 1 refused its removed member", || {
        one.stats().refused_unknown_node > 0
    })
    .await;
    for node in nodes {
        node.transport.shutdown().await;
    }
}

/// Certificates of the same CA for another cluster are refused; with
/// `with_cluster_name`, certificates name the cluster by that name instead
/// of the transport's cluster id.
async fn certificates_name_the_cluster<W: Wire>() {
    let ca = TestCa::new("shared CA");
    let other = ordo::transport::ClusterId::new("other-cluster").unwrap();
    let one = bind_tls::<W>(1, Some(ca.peer_tls(&cluster(), 1)));
    let stranger = bind_tls::<W>(2, Some(ca.peer_tls(&other, 2)));
    let mut nodes = mesh(vec![one, stranger]);
    let stranger = nodes[1].transport.clone();
    assert_no_link(&stranger, &mut nodes[0]).await;
    let one = nodes[0].transport.clone();
    eventually("node 1 refused a certificate of another cluster", || {
        one.stats().refused_certificate_mismatch > 0
    })
    .await;
    assert_eq!(one.stats().connections_accepted, 0);

    let named = |node| Some(ca.peer_tls(&other, node).with_cluster_name(other.clone()));
    let mut named_nodes = mesh(vec![bind_tls::<W>(1, named(1)), bind_tls::<W>(2, named(2))]);
    let sender = named_nodes[1].transport.clone();
    assert_link(&sender, &mut named_nodes[0]).await;
    for node in nodes.into_iter().chain(named_nodes) {
        node.transport.shutdown().await;
    }
}

/// `reload` swaps the files: established connections keep running, new ones
/// use the new certificate, key and CA.
async fn reload_rotates_for_new_connections_only<W: Wire>() {
    let old_ca = TestCa::new("old CA");
    let new_ca = TestCa::new("new CA");
    let dir = tempfile::tempdir().unwrap();
    let files = old_ca.node(&cluster(), 1).write(&old_ca, dir.path());
    let rotating = PeerTls::from_pem_files(files).unwrap();
    let one = bind_tls::<W>(1, Some(rotating.clone()));
    let two = bind_tls::<W>(2, Some(old_ca.peer_tls(&cluster(), 2)));
    let three = bind_tls::<W>(3, Some(old_ca.peer_tls(&cluster(), 3)));
    let four = bind_tls::<W>(4, Some(new_ca.peer_tls(&cluster(), 4)));
    for (peer, transport) in [(2, &two), (3, &three), (4, &four)] {
        one.add_peer(peer, transport.local_addr().to_string())
            .unwrap();
        transport.add_peer(1, one.local_addr().to_string()).unwrap();
    }
    let mut one = start(one);
    let two = start(two);
    assert_link(&two.transport, &mut one).await;
    let accepted_before = one.transport.stats().connections_accepted;

    new_ca.node(&cluster(), 1).write(&new_ca, dir.path());
    rotating.reload().unwrap();

    let three = start(three);
    let four = start(four);
    assert_link(&four.transport, &mut one).await;
    assert_link(&two.transport, &mut one).await;
    assert_no_link(&three.transport, &mut one).await;
    let stats = one.transport.stats();
    assert_eq!(
        stats.connections_accepted,
        accepted_before + 1,
        "node 2 kept its connection; only node 4 opened a new one"
    );
    assert!(
        stats.refused_tls > 0,
        "node 3 (old CA) is refused: {stats:?}"
    );
    for node in [one, two, three, four] {
        node.transport.shutdown().await;
    }
}

#[test]
fn reload_needs_files() {
    let ca = TestCa::new("cluster CA");
    assert!(matches!(
        ca.peer_tls(&cluster(), 1).reload(),
        Err(ordo::transport::tls::PeerTlsError::NotFromFiles)
    ));
    assert_eq!(
        ca.peer_tls(&cluster(), 7).own_identity().unwrap().node_id,
        7
    );
}

/// A plaintext hello to a TLS listener gets no handshake reply: at most a
/// TLS alert, never the cluster name, and the connection closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plaintext_hello_learns_nothing_from_a_tls_listener() {
    let ca = TestCa::new("cluster CA");
    let one = start(bind_tls::<TcpWire>(1, Some(ca.peer_tls(&cluster(), 1))));
    let mut stream = TcpStream::connect(one.addr()).await.unwrap();
    stream
        .write_all(&frame(&hello(2, 1).encode()))
        .await
        .unwrap();
    let mut answer = Vec::new();
    timeout(PATIENCE, stream.read_to_end(&mut answer))
        .await
        .expect("the listener closes the connection")
        .ok();
    let cluster_name = cluster().as_str().as_bytes().to_vec();
    assert!(
        !answer
            .windows(cluster_name.len())
            .any(|window| window == cluster_name),
        "the answer names the cluster: {answer:?}"
    );
    eventually("the caller was refused", || {
        one.transport.stats().refused_tls > 0
    })
    .await;
    one.transport.shutdown().await;
}

macro_rules! scenarios_over {
    ($module:ident, $wire:ty) => {
        mod $module {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mutual_tls_carries_messages() {
                super::mutual_tls_carries_messages::<$wire>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_certificate_for_node_2_cannot_speak_as_node_3() {
                super::a_certificate_for_node_2_cannot_speak_as_node_3::<$wire>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_certificate_from_another_ca_is_refused() {
                super::a_certificate_from_another_ca_is_refused::<$wire>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_plaintext_peer_is_refused() {
                super::a_plaintext_peer_is_refused::<$wire>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn certificates_name_the_cluster() {
                super::certificates_name_the_cluster::<$wire>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_removed_member_is_refused() {
                super::a_removed_member_is_refused::<$wire>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn reload_rotates_for_new_connections_only() {
                super::reload_rotates_for_new_connections_only::<$wire>().await;
            }
        }
    };
}

scenarios_over!(tcp, TcpWire);

#[cfg(feature = "grpc")]
scenarios_over!(grpc, GrpcWire);
