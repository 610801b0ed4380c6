//! etcdctl's bytes for `endpoint status` with an `http://` endpoint sent to
//! the accept loop, cleartext and over TLS: the call reaches its handler
//! with the bare authority, where h2 alone resets the stream.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use loona_hpack::Decoder;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::tests::ETCDCTL_STATUS_BLOCK;
use crate::server::http::accept::{ConnectionLimits, Listening, accept_loop};
use crate::server::http::connections::ConnectionTable;
use crate::server::http::tls::{ClientTls, TlsAcceptors};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const GOAWAY: u8 = 0x7;

async fn serve(tls: Option<Arc<TlsAcceptors>>) -> (String, watch::Sender<bool>) {
    let grpc = Router::new().route(
        "/etcdserverpb.Maintenance/Status",
        post(|uri: http::Uri| async move {
            let authority = uri.authority().map(ToString::to_string).unwrap_or_default();
            ([("x-authority", authority)], "")
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = watch::channel(false);
    let limits = ConnectionLimits::default();
    let listening = Listening {
        app: Router::new(),
        grpc,
        limits,
        tls,
        connections: ConnectionTable::new(limits.max_connections),
    };
    tokio::spawn(accept_loop(listener, listening, stopped));
    (address, stop)
}

fn frame(frame_type: u8, flags: u8, stream_id: u32, payload: &[u8]) -> Vec<u8> {
    let length = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut bytes = length[1..].to_vec();
    bytes.extend([frame_type, flags]);
    bytes.extend(stream_id.to_be_bytes());
    bytes.extend(payload);
    bytes
}

/// Sends etcdctl's Status call on stream 1; answers the response's header
/// fields, or what the server did instead.
async fn status_call<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
) -> Result<Vec<(String, String)>, String> {
    let mut request = PREFACE.to_vec();
    request.extend(frame(SETTINGS, 0, 0, &[]));
    request.extend(frame(HEADERS, 0x4, 1, ETCDCTL_STATUS_BLOCK));
    request.extend(frame(0x0, 0x1, 1, &[0, 0, 0, 0, 0]));
    stream.write_all(&request).await.unwrap();
    let mut server_table = Decoder::new();
    loop {
        let mut head = [0u8; 9];
        stream
            .read_exact(&mut head)
            .await
            .map_err(|error| error.to_string())?;
        let length = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        let mut payload = vec![0u8; length];
        stream.read_exact(&mut payload).await.unwrap();
        let stream_id = u32::from_be_bytes(head[5..9].try_into().unwrap());
        match (head[3], stream_id) {
            (HEADERS, 1) => {
                assert_ne!(head[4] & 0x4, 0, "one frame holds the answer's headers");
                let fields = server_table.decode(&payload).unwrap();
                return Ok(fields
                    .into_iter()
                    .map(|(name, value)| {
                        (
                            String::from_utf8(name).unwrap(),
                            String::from_utf8(value).unwrap(),
                        )
                    })
                    .collect());
            }
            (RST_STREAM, 1) => return Err(format!("stream reset: {payload:?}")),
            (GOAWAY, _) => return Err(format!("connection ended: {payload:?}")),
            (SETTINGS, _) if head[4] & 0x1 == 0 => {
                stream
                    .write_all(&frame(SETTINGS, 0x1, 0, &[]))
                    .await
                    .unwrap();
            }
            _ => {}
        }
    }
}

fn assert_served_with_the_bare_authority(answer: Result<Vec<(String, String)>, String>) {
    let fields = answer.unwrap();
    assert!(
        fields.contains(&(":status".into(), "200".into())),
        "{fields:?}"
    );
    assert!(
        fields.contains(&("x-authority".into(), "127.0.0.1:18799".into())),
        "{fields:?}"
    );
}

#[tokio::test]
async fn etcdctls_http_endpoint_is_served_over_cleartext_http2() {
    let (address, _stop) = serve(None).await;
    let mut stream = TcpStream::connect(&address).await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), status_call(&mut stream)).await;
    assert_served_with_the_bare_authority(answer.unwrap());
}

#[tokio::test]
async fn etcdctls_http_endpoint_is_served_over_tls() {
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
    let write = |name: &str, pem: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, pem).unwrap();
        path
    };
    let files = ClientTls {
        cert: write("server.pem", server.pem()),
        key: write("server-key.pem", server_key.serialize_pem()),
        trusted_ca: None,
        client_cert_auth: false,
    };
    let (address, _stop) = serve(Some(TlsAcceptors::load(files).unwrap())).await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca_cert.der().clone()).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
        .with_protocol_versions(crate::tls::PROTOCOL_VERSIONS)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(&address).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut stream = connector.connect(name, tcp).await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), status_call(&mut stream)).await;
    assert_served_with_the_bare_authority(answer.unwrap());
}
