//! What only the gRPC wire (feature `grpc`) does, on live endpoints on
//! 127.0.0.1: the hostile cases (wrong identity or version, forged senders,
//! garbage and oversized messages, slow loris, raw garbage on the port) and
//! the dialer's check of an impostor's welcome. What every wire does is in
//! `transport_network.rs` and the conformance suite.
#![cfg(feature = "grpc")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod transport_support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use ordo::transport::ClusterId;
use ordo::transport::codec;
use ordo::transport::codec::handshake::RefusalReason;
use ordo::transport::grpc::GrpcTransport;
use ordo::transport::grpc::proto::raft_transport_client::RaftTransportClient;
use ordo::transport::grpc::proto::raft_transport_server::{RaftTransport, RaftTransportServer};
use ordo::transport::grpc::proto::{MessageBatch, StreamClosed};
use ordo::transport::{Inbound, NetworkConfig, Transport};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{sleep, timeout};
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::MetadataMap;
use tonic::transport::Endpoint;
use tonic::{Code, Request, Response, Status, Streaming};
use transport_support::*;

fn grpc(config: NetworkConfig) -> GrpcTransport {
    GrpcTransport::bind(config).unwrap()
}

// ----------------------------------------------------------------- hostile

/// Node 1 under test, peer 2 impersonated by raw clients, node 3 a good peer.
struct Fixture {
    one: Node<GrpcTransport>,
    three: Node<GrpcTransport>,
}

impl Fixture {
    async fn new(tweak: impl FnOnce(NetworkConfig) -> NetworkConfig) -> Fixture {
        let one = grpc(tweak(config(1)).with_peer(2, "127.0.0.1:1"));
        let three = grpc(config(3));
        one.add_peer(3, three.local_addr().to_string()).unwrap();
        three.add_peer(1, one.local_addr().to_string()).unwrap();
        let mut fixture = Fixture {
            one: start(one),
            three: start(three),
        };
        fixture.assert_still_serving().await;
        fixture
    }

    async fn assert_still_serving(&mut self) {
        assert_link(&self.three.transport, &mut self.one).await;
        assert_link(&self.one.transport, &mut self.three).await;
    }

    fn assert_nothing_from_two(&mut self) {
        while let Ok(inbound) = self.one.inbox.try_recv() {
            assert!(
                !matches!(&inbound, Inbound::Message(m) if m.from == 2),
                "delivered: {inbound:?}"
            );
        }
    }

    fn stats(&self) -> ordo::transport::TransportStats {
        self.one.transport.stats()
    }

    async fn shutdown(self) {
        self.one.transport.shutdown().await;
        self.three.transport.shutdown().await;
    }
}

struct Identity<'a> {
    cluster: &'a str,
    from: u64,
    to: u64,
    min: u8,
    max: u8,
}

const AS_TWO: Identity<'static> = Identity {
    cluster: "transport-test",
    from: 2,
    to: 1,
    min: codec::handshake::MIN_PROTOCOL_VERSION,
    max: codec::PROTOCOL_VERSION,
};

fn put_identity(metadata: &mut MetadataMap, id: &Identity<'_>) {
    metadata.insert("ordo-cluster-id", id.cluster.parse().unwrap());
    metadata.insert("ordo-node-id", id.from.to_string().parse().unwrap());
    metadata.insert("ordo-target-node-id", id.to.to_string().parse().unwrap());
    metadata.insert("ordo-protocol-min", id.min.to_string().parse().unwrap());
    metadata.insert("ordo-protocol-max", id.max.to_string().parse().unwrap());
}

/// A raw client stream: the batch sender and the response stream.
struct RawStream {
    batches: mpsc::Sender<MessageBatch>,
    closed: Streaming<StreamClosed>,
}

impl RawStream {
    async fn open(
        addr: SocketAddr,
        metadata: impl FnOnce(&mut MetadataMap),
    ) -> Result<RawStream, Status> {
        let channel = Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut client = RaftTransportClient::new(channel).max_encoding_message_size(usize::MAX);
        let (batches, queue) = mpsc::channel(16);
        let mut request = Request::new(ReceiverStream::new(queue));
        metadata(request.metadata_mut());
        let response = client.stream(request).await?;
        assert_eq!(response.metadata().get("ordo-node-id").unwrap(), "1");
        Ok(RawStream {
            batches,
            closed: response.into_inner(),
        })
    }

    async fn send(&self, messages: Vec<Bytes>) {
        // The server may already have hung up; that is what is tested.
        let _ = self.batches.send(MessageBatch { messages }).await;
    }

    /// The status the server ends the stream with.
    async fn ending(&mut self) -> Status {
        match timeout(PATIENCE, self.closed.message())
            .await
            .expect("the stream to end")
        {
            Err(status) => status,
            Ok(other) => panic!("the stream ended without an error: {other:?}"),
        }
    }
}

async fn refusal(fixture: &Fixture, identity: Identity<'_>) -> (Code, Option<RefusalReason>) {
    let status = match RawStream::open(fixture.one.addr(), |m| put_identity(m, &identity)).await {
        Ok(_) => panic!("accepted"),
        Err(status) => status,
    };
    let reason = status
        .metadata()
        .get("ordo-refusal")
        .map(|code| RefusalReason::from_code(code.to_str().unwrap().parse().unwrap()));
    (status.code(), reason)
}

/// Every refusal tells the caller only that it was refused (no reason, so
/// neither the cluster id nor node ids); node 1 counts the real reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_with_the_wrong_identity_or_version_are_refused() {
    let mut fixture = Fixture::new(|c| c).await;
    let cases = [
        (
            Identity {
                cluster: "another-cluster",
                ..AS_TWO
            },
            RefusalReason::WrongCluster,
        ),
        (
            Identity {
                min: 7,
                max: 9,
                ..AS_TWO
            },
            RefusalReason::UnsupportedVersion,
        ),
        (Identity { from: 42, ..AS_TWO }, RefusalReason::UnknownNode),
        (Identity { to: 5, ..AS_TWO }, RefusalReason::WrongNode),
    ];
    for (identity, reason) in cases {
        let before = fixture.stats();
        assert_eq!(
            refusal(&fixture, identity).await,
            (Code::PermissionDenied, Some(RefusalReason::Withheld))
        );
        assert_eq!(counted_reason(&before, &fixture.stats()), reason);
    }
    let before = fixture.stats();
    let missing = match RawStream::open(fixture.one.addr(), |_| {}).await {
        Ok(_) => panic!("accepted without identity"),
        Err(status) => status,
    };
    assert_eq!(missing.code(), Code::PermissionDenied);
    assert_eq!(
        counted_reason(&before, &fixture.stats()),
        RefusalReason::Malformed
    );
    assert_eq!(fixture.stats().handshakes_refused, 5);
    fixture.assert_still_serving().await;
    fixture.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_of_another_cluster_is_refused_both_ways() {
    let mut fixture = Fixture::new(|c| c).await;
    let stranger = grpc(NetworkConfig {
        cluster_id: ClusterId::new("another-cluster").unwrap(),
        ..config(2)
    });
    stranger
        .add_peer(1, fixture.one.addr().to_string())
        .unwrap();
    let stranger = start(stranger);
    for round in 0..20 {
        stranger.transport.send(heartbeat(2, 1, round));
        sleep(Duration::from_millis(10)).await;
    }
    eventually("the stranger gave up at least twice", || {
        stranger.transport.stats().connect_failures >= 2
    })
    .await;
    assert_eq!(stranger.transport.stats().messages_sent, 0);
    assert!(fixture.stats().handshakes_refused >= 2);
    fixture.assert_nothing_from_two();
    fixture.assert_still_serving().await;
    stranger.transport.shutdown().await;
    fixture.shutdown().await;
}

/// A fake server that welcomes every stream as node 2 of another cluster,
/// and counts the batches it receives anyway.
struct Impostor {
    batches: Arc<AtomicUsize>,
}

#[tonic::async_trait]
impl RaftTransport for Impostor {
    type StreamStream = ReceiverStream<Result<StreamClosed, Status>>;

    async fn stream(
        &self,
        mut request: Request<Streaming<MessageBatch>>,
    ) -> Result<Response<Self::StreamStream>, Status> {
        let (keep_open, closed) = mpsc::channel(1);
        let batches = Arc::clone(&self.batches);
        tokio::spawn(async move {
            while let Ok(Some(_)) = request.get_mut().message().await {
                batches.fetch_add(1, Ordering::SeqCst);
            }
            drop(keep_open);
        });
        let mut response = Response::new(ReceiverStream::new(closed));
        let metadata = response.metadata_mut();
        metadata.insert("ordo-cluster-id", "impostors".parse().unwrap());
        metadata.insert("ordo-node-id", "2".parse().unwrap());
        let version = codec::PROTOCOL_VERSION.to_string();
        metadata.insert("ordo-protocol-version", version.parse().unwrap());
        Ok(response)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dialer_checks_who_answers() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let batches = Arc::new(AtomicUsize::new(0));
    let impostor = Impostor {
        batches: Arc::clone(&batches),
    };
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(RaftTransportServer::new(impostor))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let transport = grpc(config(1));
    transport.add_peer(2, addr.to_string()).unwrap();
    let node = start(transport);
    for round in 0..30 {
        node.transport.send(heartbeat(1, 2, round));
        sleep(Duration::from_millis(10)).await;
    }
    eventually("the dialer refused twice", || {
        node.transport.stats().connect_failures >= 2
    })
    .await;
    let stats = node.transport.stats();
    assert_eq!(stats.messages_sent, 0, "{stats:?}");
    assert_eq!(stats.connections_opened, 0, "{stats:?}");
    assert_eq!(
        batches.load(Ordering::SeqCst),
        0,
        "the dialer sent to an impostor"
    );
    node.transport.shutdown().await;
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_whose_sender_lies() {
    let mut fixture = Fixture::new(|c| c).await;
    let mut stream = RawStream::open(fixture.one.addr(), |m| put_identity(m, &AS_TWO))
        .await
        .unwrap();
    stream.send(vec![codec::encode(&heartbeat(2, 1, 77))]).await;
    assert_eq!(fixture.one.next_message().await, heartbeat(2, 1, 77));
    stream
        .send(vec![
            codec::encode(&heartbeat(3, 1, 78)),
            codec::encode(&heartbeat(2, 1, 79)),
        ])
        .await;
    assert_eq!(stream.ending().await.code(), Code::PermissionDenied);
    assert_eq!(fixture.stats().closed_forged, 1);
    fixture.assert_nothing_from_two();
    fixture.assert_still_serving().await;
    fixture.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_for_another_node() {
    let mut fixture = Fixture::new(|c| c).await;
    let mut stream = RawStream::open(fixture.one.addr(), |m| put_identity(m, &AS_TWO))
        .await
        .unwrap();
    stream.send(vec![codec::encode(&heartbeat(2, 3, 1))]).await;
    assert_eq!(stream.ending().await.code(), Code::PermissionDenied);
    assert_eq!(fixture.stats().closed_forged, 1);
    fixture.assert_nothing_from_two();
    fixture.assert_still_serving().await;
    fixture.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_unknown_versions_in_a_message() {
    let mut fixture = Fixture::new(|c| c).await;
    let mut future = codec::encode(&heartbeat(2, 1, 1)).to_vec();
    future[0] = 9;
    for bytes in [noise(1, 300), future, Vec::new()] {
        let mut stream = RawStream::open(fixture.one.addr(), |m| put_identity(m, &AS_TWO))
            .await
            .unwrap();
        stream.send(vec![Bytes::from(bytes)]).await;
        assert_eq!(stream.ending().await.code(), Code::InvalidArgument);
    }
    assert_eq!(fixture.stats().closed_malformed, 3);
    fixture.assert_nothing_from_two();
    fixture.assert_still_serving().await;
    fixture.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_messages_and_batches() {
    let mut fixture = Fixture::new(|c| NetworkConfig {
        max_frame_bytes: 64 * 1024,
        ..c
    })
    .await;
    // One message above max_frame_bytes, in a batch the server can decode.
    let mut stream = RawStream::open(fixture.one.addr(), |m| put_identity(m, &AS_TWO))
        .await
        .unwrap();
    stream.send(vec![Bytes::from(vec![1u8; 100 * 1024])]).await;
    assert_eq!(stream.ending().await.code(), Code::OutOfRange);
    // A batch above the gRPC message limit: refused by the decoder.
    let mut stream = RawStream::open(fixture.one.addr(), |m| put_identity(m, &AS_TWO))
        .await
        .unwrap();
    stream.send(vec![Bytes::from(vec![1u8; 1024 * 1024])]).await;
    assert_eq!(stream.ending().await.code(), Code::OutOfRange);
    assert_eq!(fixture.stats().closed_oversized, 2);
    fixture.assert_nothing_from_two();
    fixture.assert_still_serving().await;
    fixture.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_loris_and_streamless_connections_are_closed() {
    let mut fixture = Fixture::new(|c| NetworkConfig {
        handshake_timeout: Duration::from_millis(400),
        ..c
    })
    .await;
    // A TCP connection that never speaks.
    let mut silent = TcpStream::connect(fixture.one.addr()).await.unwrap();
    // An HTTP/2 connection that never opens a stream.
    let idle_channel = Endpoint::from_shared(format!("http://{}", fixture.one.addr()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    fixture.assert_still_serving().await;
    let waited = closed_within(&mut silent, Duration::from_secs(5)).await;
    assert!(waited < Duration::from_secs(2), "closed after {waited:?}");
    eventually("both connections timed out", || {
        fixture.one.transport.stats().handshake_timeouts == 2
    })
    .await;
    drop(idle_channel);
    fixture.assert_nothing_from_two();
    fixture.assert_still_serving().await;
    fixture.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_bytes_on_the_port() {
    let mut fixture = Fixture::new(|c| c).await;
    for seed in 1..=5 {
        let mut stream = TcpStream::connect(fixture.one.addr()).await.unwrap();
        let _ = stream.write_all(&noise(seed, 4096)).await;
        closed_within(&mut stream, Duration::from_secs(5)).await;
    }
    fixture.assert_nothing_from_two();
    fixture.assert_still_serving().await;
    fixture.shutdown().await;
}
