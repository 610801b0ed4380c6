//! The accept loop in-process, with a router of its own: what reaches a
//! handler (the client certificate's name) and what never does (a request
//! past the in-flight cap).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};

use super::{ConnectionLimits, Listening, accept_loop};
use crate::server::http::connections::ConnectionTable;
use crate::server::http::request_gate::AuthenticatedUser;
use crate::server::http::tls::{ClientTls, TlsAcceptors};

async fn start(
    app: Router,
    limits: ConnectionLimits,
    tls: Option<Arc<TlsAcceptors>>,
) -> (String, watch::Sender<bool>) {
    start_with_grpc(app, Router::new(), limits, tls).await
}

async fn start_with_grpc(
    app: Router,
    grpc: Router,
    limits: ConnectionLimits,
    tls: Option<Arc<TlsAcceptors>>,
) -> (String, watch::Sender<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = watch::channel(false);
    let listening = Listening {
        app,
        grpc,
        limits,
        tls,
        connections: ConnectionTable::new(limits.max_connections),
    };
    tokio::spawn(accept_loop(listener, listening, stopped));
    (address, stop)
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

fn who(user: Option<axum::Extension<AuthenticatedUser>>) -> String {
    user.map_or_else(|| "nobody".to_owned(), |axum::Extension(user)| user.0)
}

#[tokio::test]
async fn a_client_certificates_name_reaches_handlers_as_the_user() {
    let dir = tempfile::tempdir().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let ca = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&server_key, &ca)
        .unwrap();
    let mut alice_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    alice_params
        .distinguished_name
        .push(DnType::CommonName, "alice");
    let alice_key = KeyPair::generate().unwrap();
    let alice = alice_params.signed_by(&alice_key, &ca).unwrap();
    let write = |name: &str, pem: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, pem).unwrap();
        path
    };
    let files = ClientTls {
        cert: write("server.pem", server.pem()),
        key: write("server-key.pem", server_key.serialize_pem()),
        trusted_ca: Some(write("ca.pem", ca_cert.pem())),
        client_cert_auth: false,
    };
    let acceptors = TlsAcceptors::load(files).unwrap();
    let app = Router::new().route("/who", get(|user| async move { who(user) }));
    let (address, _stop) = start(app, ConnectionLimits::default(), Some(acceptors)).await;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca_cert.der().clone()).unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
        .with_protocol_versions(crate::tls::PROTOCOL_VERSIONS)
        .unwrap()
        .with_root_certificates(roots);
    let with_alice = builder
        .clone()
        .with_client_auth_cert(
            vec![alice.der().clone()],
            PrivateKeyDer::from_pem_slice(alice_key.serialize_pem().as_bytes()).unwrap(),
        )
        .unwrap();
    let anonymous = builder.with_no_client_auth();
    for (config, expected) in [(with_alice, "alice"), (anonymous, "nobody")] {
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = TcpStream::connect(&address).await.unwrap();
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let mut tls = connector.connect(name, tcp).await.unwrap();
        let answer = exchange(&mut tls, "/who").await;
        assert!(
            answer.starts_with("HTTP/1.1 200") && answer.ends_with(expected),
            "{answer}"
        );
    }
}

#[tokio::test]
async fn a_request_past_the_in_flight_cap_is_answered_busy_and_never_handled() {
    let release = Arc::new(Notify::new());
    let held = Arc::clone(&release);
    let app = Router::new()
        .route(
            "/hold",
            get(move || async move {
                held.notified().await;
                "done"
            }),
        )
        .route("/other", get(|| async { "handled" }));
    let limits = ConnectionLimits {
        max_in_flight_requests: 1,
        ..ConnectionLimits::default()
    };
    let (address, _stop) = start(app, limits, None).await;
    let mut holding = TcpStream::connect(&address).await.unwrap();
    holding
        .write_all(b"GET /hold HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut other = TcpStream::connect(&address).await.unwrap();
    let answer = exchange(&mut other, "/other").await;
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1"),
        "{answer}"
    );
    assert!(
        answer.contains("\"busy\"") && !answer.contains("handled"),
        "{answer}"
    );
    release.notify_one();
    let mut done = Vec::new();
    holding.read_to_end(&mut done).await.unwrap();
    assert!(String::from_utf8_lossy(&done).ends_with("done"));
    let mut after = TcpStream::connect(&address).await.unwrap();
    assert!(exchange(&mut after, "/other").await.ends_with("handled"));
}

/// True if the server closed `stream` within `within` (a read sees the end).
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buffer = [0u8; 1024];
    matches!(
        tokio::time::timeout(within, stream.read(&mut buffer)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test]
async fn a_begun_head_has_the_header_timeout_and_an_idle_connection_the_idle_timeout() {
    let app = Router::new().route("/other", get(|| async { "handled" }));
    let limits = ConnectionLimits {
        header_read_timeout: Duration::from_millis(200),
        idle_timeout: Duration::from_millis(1500),
        ..ConnectionLimits::default()
    };
    let (address, _stop) = start(app, limits, None).await;
    let mut partial = TcpStream::connect(&address).await.unwrap();
    partial
        .write_all(b"GET /other HTTP/1.1\r\nHo")
        .await
        .unwrap();
    let mut silent = TcpStream::connect(&address).await.unwrap();
    let mut keep_alive = TcpStream::connect(&address).await.unwrap();
    let request = b"GET /other HTTP/1.1\r\nHost: x\r\n\r\n";
    keep_alive.write_all(request).await.unwrap();
    let mut buffer = [0u8; 1024];
    let n = keep_alive.read(&mut buffer).await.unwrap();
    assert!(String::from_utf8_lossy(&buffer[..n]).ends_with("handled"));

    assert!(
        closed_within(&mut partial, Duration::from_secs(1)).await,
        "a begun head outlived its timeout"
    );
    // Idle past the header timeout, the kept-alive connection still serves.
    tokio::time::sleep(Duration::from_millis(300)).await;
    keep_alive.write_all(request).await.unwrap();
    let n = keep_alive.read(&mut buffer).await.unwrap();
    assert!(String::from_utf8_lossy(&buffer[..n]).ends_with("handled"));
    assert!(
        !closed_within(&mut silent, Duration::from_millis(100)).await,
        "idle, not yet due"
    );
    assert!(
        closed_within(&mut silent, Duration::from_secs(3)).await,
        "idle past its timeout"
    );
}

/// One listener serves HTTP/1.1 and cleartext HTTP/2; a request whose
/// content type is gRPC goes to the gRPC routes, any other to the API,
/// whichever protocol carries it.
#[tokio::test]
async fn grpc_requests_go_to_the_grpc_routes_and_the_rest_to_the_api() {
    use axum::routing::post;
    use http_body_util::BodyExt;
    use hyper_util::rt::TokioExecutor;

    let app = Router::new().route("/x", post(|| async { "api" }));
    let grpc = Router::new().route("/x", post(|| async { "grpc" }));
    let (address, _stop) = start_with_grpc(app, grpc, ConnectionLimits::default(), None).await;
    let h2c = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<String>();
    let h1 =
        hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http::<String>();
    for (client, content_type, expected) in [
        (&h2c, "application/grpc", "grpc"),
        (&h2c, "application/grpc+proto", "grpc"),
        (&h2c, "application/json", "api"),
        (&h1, "application/json", "api"),
    ] {
        let request = http::Request::post(format!("http://{address}/x"))
            .header(http::header::CONTENT_TYPE, content_type)
            .body(String::new())
            .unwrap();
        let response = client.request(request).await.unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], expected.as_bytes(), "{content_type}");
    }
}

/// True if the server closed `stream` within `within`, reading (and
/// dropping) whatever it sends meanwhile.
async fn closed_within_draining(stream: &mut TcpStream, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    let mut buffer = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
}

/// An HTTP/2 connection between requests receives frames (its preface and
/// settings, pings, window updates), which are not a request head: it is
/// closed by the idle timeout, not the header timeout. Failed before: the
/// preface began a "head", and every idle h2 connection (etcd clients')
/// was closed after the header timeout (10 s by default).
#[tokio::test]
async fn an_idle_http2_connection_lives_until_the_idle_timeout() {
    let app = Router::new().route("/other", get(|| async { "handled" }));
    let limits = ConnectionLimits {
        header_read_timeout: Duration::from_millis(200),
        idle_timeout: Duration::from_millis(1500),
        ..ConnectionLimits::default()
    };
    let (address, _stop) = start(app, limits, None).await;
    let mut h2 = TcpStream::connect(&address).await.unwrap();
    // The preface, split as a client may send it, then an empty SETTINGS.
    h2.write_all(b"PRI * HTT").await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    h2.write_all(b"P/2.0\r\n\r\nSM\r\n\r\n").await.unwrap();
    h2.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await.unwrap();
    assert!(
        !closed_within_draining(&mut h2, Duration::from_millis(600)).await,
        "an idle h2 connection was closed by the header timeout"
    );
    // A PING frame: more bytes between requests, still no head.
    let ping = [0, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];
    h2.write_all(&ping).await.unwrap();
    assert!(
        closed_within_draining(&mut h2, Duration::from_secs(4)).await,
        "idle past its timeout"
    );
}

#[test]
fn the_http2_preface_is_told_from_http1_however_it_is_split() {
    let mut h2 = super::PrefaceSniffer::default();
    assert_eq!(h2.feed(b"P"), None);
    assert_eq!(h2.feed(b"RI * HTTP/2.0\r\n"), Some(true));
    let mut h1 = super::PrefaceSniffer::default();
    assert_eq!(h1.feed(b"P"), None);
    assert_eq!(h1.feed(b"OST / HTTP/1.1"), Some(false));
    assert_eq!(h1.feed(b"PRI * HTTP/2.0"), Some(false), "decided once");
}
