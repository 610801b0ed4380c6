//! What only the TCP wire does: the dialer checks the welcome of whoever
//! answers. What every wire does is in `transport_network.rs` and the
//! conformance suite (`transport_conformance.rs`); hostile input against the
//! TCP listener is in `transport_tcp_hostile.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod transport_support;

use std::time::Duration;

use ordo::transport::ClusterId;
use ordo::transport::Transport;
use ordo::transport::codec::PROTOCOL_VERSION;
use ordo::transport::codec::handshake::{Reply, Welcome};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::time::{sleep, timeout};
use transport_support::*;

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
