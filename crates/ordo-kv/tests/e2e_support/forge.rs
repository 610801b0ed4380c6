//! Speaking the peer protocol as a hostile node: open a connection to a
//! node's peer port (plain TCP, or TLS with a certificate of the forger's
//! choosing), pass the handshake claiming to be a member, and send one
//! forged message.
//!
//! On plain TCP the handshake checks only the cluster's id and a member's
//! id, so [`forge_heartbeat`] panics if it is refused rather than letting a
//! test pass without its message ever reaching the node. Over TLS the
//! refusal is the point: [`forge_heartbeat_over_tls`] says whether the
//! message went out.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ordo::transport::ClusterId;
use ordo::transport::codec::handshake::{Hello, MIN_PROTOCOL_VERSION, Reply};
use ordo::transport::codec::{self, PROTOCOL_VERSION};
use ordo::transport::{Heartbeat, Message, MessageBody};
use ordo::{NodeId, Term};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
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

/// Sends the hello of node `from` of the cluster whose id is `cluster`, to
/// node `to`, over `stream`: `Ok` if welcomed, else what happened.
async fn hello<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    cluster: &str,
    from: NodeId,
    to: NodeId,
) -> Result<(), String> {
    let hello = Hello {
        cluster_id: ClusterId::new(cluster).unwrap(),
        from,
        to,
        min_version: MIN_PROTOCOL_VERSION,
        max_version: PROTOCOL_VERSION,
    };
    let answer = tokio::time::timeout(HANDSHAKE_PATIENCE, async {
        stream.write_all(&frame(&hello.encode())).await?;
        stream.flush().await?;
        let mut header = [0u8; 4];
        stream.read_exact(&mut header).await?;
        let mut payload = vec![0u8; u32::from_be_bytes(header) as usize];
        stream.read_exact(&mut payload).await?;
        Ok::<_, std::io::Error>(payload)
    })
    .await
    .map_err(|_| "no handshake answer".to_owned())?
    .map_err(|error| format!("handshake: {error}"))?;
    match Reply::decode(&answer.into()) {
        Ok(Reply::Welcome(_)) => Ok(()),
        other => Err(format!("refused: {other:?}")),
    }
}

/// Sends a heartbeat at `term` from node `from` to node `to` over `stream`.
async fn send_heartbeat<S: AsyncWrite + Unpin>(
    stream: &mut S,
    from: NodeId,
    to: NodeId,
    term: Term,
) {
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

/// Sends node `to` (at `peer_addr`, plain TCP) a heartbeat at `term` that
/// claims to come from node `from`, the leader of that term; panics unless
/// the handshake welcomes it.
pub async fn forge_heartbeat(peer_addr: &str, cluster: &str, from: NodeId, to: NodeId, term: Term) {
    let mut stream = TcpStream::connect(peer_addr)
        .await
        .unwrap_or_else(|error| panic!("cannot reach {peer_addr}: {error}"));
    if let Err(refusal) = hello(&mut stream, cluster, from, to).await {
        panic!(
            "{peer_addr} refused the forged handshake ({refusal}): \
             teach e2e_support/forge.rs what the handshake checks now"
        );
    }
    send_heartbeat(&mut stream, from, to, term).await;
}

/// What a forger presents over TLS: a certificate and key (from any CA),
/// and the CA it trusts the node's certificate to (the cluster's is no
/// secret).
pub struct ForgerTls {
    /// Its certificate (PEM).
    pub cert: PathBuf,
    /// Its key (PEM).
    pub key: PathBuf,
    /// The CA it checks the node's certificate against (PEM).
    pub trusted_ca: PathBuf,
}

/// As [`forge_heartbeat`], over TLS as `forger`: `Ok` if the heartbeat was
/// sent (the TLS handshake and the hello were accepted), else why not.
// ring, as the crate's own provider (`src/tls.rs`).
#[allow(deprecated)]
pub async fn forge_heartbeat_over_tls(
    peer_addr: &str,
    cluster: &str,
    from: NodeId,
    to: NodeId,
    term: Term,
    forger: &ForgerTls,
) -> Result<(), String> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_file_iter(&forger.trusted_ca).unwrap() {
        roots.add(certificate.unwrap()).unwrap();
    }
    let chain: Vec<_> = CertificateDer::pem_file_iter(&forger.cert)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(&forger.key).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(peer_addr)
        .await
        .unwrap_or_else(|error| panic!("cannot reach {peer_addr}: {error}"));
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = connector
        .connect(name, tcp)
        .await
        .map_err(|error| format!("TLS: {error}"))?;
    hello(&mut tls, cluster, from, to).await?;
    send_heartbeat(&mut tls, from, to, term).await;
    Ok(())
}
