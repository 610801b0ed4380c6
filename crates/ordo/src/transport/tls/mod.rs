//! Mutual TLS between peers: [`PeerTls`], which both network transports take
//! through [`NetworkConfig::peer_tls`](crate::transport::NetworkConfig::peer_tls).
//!
//! # Identity
//! Every node has a certificate from the cluster's CA that names it with one
//! URI subject alternative name, `ordo://CLUSTER/node/N` ([`NodeIdentity`]);
//! the certificate is valid for both server and client authentication,
//! because a node both accepts and dials. On every connection:
//! - both sides verify the other's chain to the trusted CA (TLS 1.3 only);
//! - the dialer checks that the server's certificate names the cluster and
//!   the node it meant to dial, before it sends its hello;
//! - the acceptor checks that the client's certificate names its own cluster
//!   and the node the hello claims to be; then the handshake's usual rules
//!   (a current peer, addressed to this node) apply.
//!
//! CLUSTER is the transport's cluster id, or the name given to
//! [`PeerTls::with_cluster_name`].
//!
//! So a certificate for node 2 can never speak as node 3, and a removed
//! member — whose certificate stays valid — is still refused by the peer
//! table. Host names are not checked: peers are named by node id.
//!
//! # Rotation
//! [`PeerTls::reload`] re-reads the files; connections opened after it use the
//! new certificate, key and CA, and established ones keep running. Clones
//! share the reloadable state, so a node and its operator's signal handler
//! can hold one each.
//!
//! Without a `PeerTls` the transports speak plaintext, exactly as before: no
//! TLS code runs on that path.

mod identity;
mod verify;

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use ordo_core::NodeId;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::{TlsAcceptor, TlsConnector, TlsStream};

pub use self::identity::{IdentityError, NodeIdentity};
use self::verify::ClusterCaVerifier;
use crate::transport::ClusterId;

/// The three PEM files of a node's peer TLS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerTlsFiles {
    /// The node's certificate, then any intermediates.
    pub cert_chain: PathBuf,
    /// The node's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// The cluster CA certificate(s) that peers' certificates must chain to.
    pub trusted_ca: PathBuf,
}

/// Why peer TLS could not be set up.
#[derive(Debug, Error)]
pub enum PeerTlsError {
    /// A file could not be read or holds no valid PEM.
    #[error("reading {path}: {source}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// The certificate file holds no certificate.
    #[error("{0} holds no certificate")]
    NoCertificate(PathBuf),
    /// The trusted CA is unusable.
    #[error("the trusted CA is unusable: {0}")]
    TrustedCa(String),
    /// rustls refused the certificate and key (say, a key that does not
    /// match the certificate).
    #[error("the certificate and key are unusable: {0}")]
    Config(#[from] rustls::Error),
    /// [`PeerTls::reload`] on a `PeerTls` built from configurations, not files.
    #[error("this peer TLS was not built from files, so it cannot reload them")]
    NotFromFiles,
}

/// Why a dialed peer's TLS was not accepted.
#[derive(Debug, Error)]
pub enum TlsDialError {
    /// The TLS handshake failed (no common version, an untrusted
    /// certificate, the peer closed).
    #[error("TLS handshake failed: {0}")]
    Handshake(io::Error),
    /// The peer's verified certificate names another node or cluster.
    #[error("the peer's certificate does not name node {expected}: {found}")]
    WrongCertificate {
        /// The node dialed.
        expected: NodeId,
        /// What its certificate names instead.
        found: String,
    },
}

/// The TLS configurations a node's connections use, and where they came
/// from. Cheap to clone; clones share one reloadable state.
#[derive(Clone)]
pub struct PeerTls {
    inner: Arc<Inner>,
    /// The CLUSTER certificates name, when it is not the transport's
    /// cluster id.
    cluster_name: Option<ClusterId>,
}

struct Inner {
    files: Option<PeerTlsFiles>,
    /// Replaced whole by `reload`; each connection takes the current one.
    current: RwLock<Arc<Configs>>,
}

struct Configs {
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
    own_certificate: CertificateDer<'static>,
}

/// A TLS connection over `IO`, either side.
pub(crate) type PeerTlsStream<IO> = TlsStream<IO>;

impl PeerTls {
    /// Peer TLS from PEM files, read now and again on each
    /// [`reload`](Self::reload).
    ///
    /// # Errors
    /// [`PeerTlsError`] if a file is unreadable or the set is unusable.
    pub fn from_pem_files(files: PeerTlsFiles) -> Result<Self, PeerTlsError> {
        let configs = Configs::from_files(&files)?;
        Ok(Self::with(Some(files), configs))
    }

    /// Peer TLS from PEM text: the node's certificate chain, its key, and the
    /// trusted CA. It cannot be reloaded.
    ///
    /// # Errors
    /// [`PeerTlsError`] if the PEM is invalid or the set is unusable.
    pub fn from_pem(
        cert_chain: &[u8],
        key: &[u8],
        trusted_ca: &[u8],
    ) -> Result<Self, PeerTlsError> {
        let pem = |source| PeerTlsError::Pem {
            path: PathBuf::from("<memory>"),
            source,
        };
        let chain = CertificateDer::pem_slice_iter(cert_chain)
            .collect::<Result<Vec<_>, _>>()
            .map_err(pem)?;
        let key = PrivateKeyDer::from_pem_slice(key).map_err(pem)?;
        let roots = CertificateDer::pem_slice_iter(trusted_ca)
            .collect::<Result<Vec<_>, _>>()
            .map_err(pem)?;
        let configs = Configs::new(chain, key, roots, Path::new("<memory>"))?;
        Ok(Self::with(None, configs))
    }

    /// Peer TLS from rustls configurations built by the caller. They must
    /// speak TLS 1.3, present the node's certificate (named as the
    /// [module docs](self) say) on both sides, and the server side must
    /// require and verify client certificates; the transport still checks
    /// the node names after each handshake. It cannot be reloaded.
    pub fn from_configs(client: Arc<ClientConfig>, server: Arc<ServerConfig>) -> Self {
        let configs = Configs {
            client,
            server,
            own_certificate: CertificateDer::from(Vec::new()),
        };
        Self::with(None, configs)
    }

    fn with(files: Option<PeerTlsFiles>, configs: Configs) -> Self {
        PeerTls {
            inner: Arc::new(Inner {
                files,
                current: RwLock::new(Arc::new(configs)),
            }),
            cluster_name: None,
        }
    }

    /// Certificates name the cluster `name` rather than the transport's
    /// cluster id: for an application whose cluster id is generated at the
    /// first start, so cannot be in a certificate made beforehand (`ordo
    /// serve` names the cluster by its `--cluster` name).
    pub fn with_cluster_name(mut self, name: ClusterId) -> Self {
        self.cluster_name = Some(name);
        self
    }

    /// Whether `certified` names the cluster of a transport whose cluster id
    /// is `cluster_id`.
    pub(crate) fn names_cluster(&self, certified: &NodeIdentity, cluster_id: &ClusterId) -> bool {
        certified.cluster_id == *self.cluster_name.as_ref().unwrap_or(cluster_id)
    }

    /// Re-reads the files: connections opened from now on use the new
    /// certificate, key and CA; established ones keep theirs. On error the
    /// old configuration stays in force.
    ///
    /// # Errors
    /// [`PeerTlsError`] if the new files are unusable, or
    /// [`PeerTlsError::NotFromFiles`].
    pub fn reload(&self) -> Result<(), PeerTlsError> {
        let files = self
            .inner
            .files
            .as_ref()
            .ok_or(PeerTlsError::NotFromFiles)?;
        let configs = Configs::from_files(files)?;
        *self
            .inner
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(configs);
        Ok(())
    }

    /// The node this node's own certificate names.
    ///
    /// # Errors
    /// [`IdentityError`] if it names none (or it came from
    /// [`from_configs`](Self::from_configs), which does not say).
    pub fn own_identity(&self) -> Result<NodeIdentity, IdentityError> {
        NodeIdentity::of_certificate(&self.current().own_certificate)
    }

    /// The files it reads, if it was built from files.
    pub fn files(&self) -> Option<&PeerTlsFiles> {
        self.inner.files.as_ref()
    }

    fn current(&self) -> Arc<Configs> {
        Arc::clone(
            &self
                .inner
                .current
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// Opens TLS as the dialer over `stream`. The server name is a fixed
    /// address, so no name goes out in the clear: the caller checks the
    /// peer's node name with [`peer_identity`].
    async fn connect<IO>(&self, stream: IO) -> io::Result<PeerTlsStream<IO>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let connector = TlsConnector::from(Arc::clone(&self.current().client));
        let name = ServerName::from(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let stream = connector.connect(name, stream).await?;
        Ok(TlsStream::Client(stream))
    }

    /// Opens TLS as the dialer of `peer` over `stream`, and checks that the
    /// peer's certificate names `peer` of the cluster (`cluster_id`, or the
    /// [cluster name](Self::with_cluster_name)) before the caller sends a
    /// byte of its own: every wire dials through here.
    ///
    /// # Errors
    /// [`TlsDialError`] if the handshake fails or the certificate names
    /// another node or cluster.
    pub(crate) async fn connect_to<IO>(
        &self,
        stream: IO,
        peer: NodeId,
        cluster_id: &ClusterId,
    ) -> Result<PeerTlsStream<IO>, TlsDialError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let stream = self
            .connect(stream)
            .await
            .map_err(TlsDialError::Handshake)?;
        match peer_identity(&stream) {
            Ok(found) if found.node_id == peer && self.names_cluster(&found, cluster_id) => {
                Ok(stream)
            }
            found => Err(TlsDialError::WrongCertificate {
                expected: peer,
                found: match found {
                    Ok(found) => NodeIdentity::uri(&found.cluster_id, found.node_id),
                    Err(error) => error.to_string(),
                },
            }),
        }
    }

    /// Accepts TLS over `stream`, requiring a client certificate from the CA.
    pub(crate) async fn accept<IO>(&self, stream: IO) -> io::Result<PeerTlsStream<IO>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let acceptor = TlsAcceptor::from(Arc::clone(&self.current().server));
        let stream = acceptor.accept(stream).await?;
        Ok(TlsStream::Server(stream))
    }
}

/// The node the other side's verified certificate names.
///
/// # Errors
/// [`IdentityError`] if it presented none, or one naming no single node.
pub(crate) fn peer_identity<IO>(stream: &PeerTlsStream<IO>) -> Result<NodeIdentity, IdentityError> {
    let (_, connection) = stream.get_ref();
    let certificate = connection
        .peer_certificates()
        .and_then(<[_]>::first)
        .ok_or(IdentityError::NoNodeName)?;
    NodeIdentity::of_certificate(certificate)
}

impl Configs {
    fn from_files(files: &PeerTlsFiles) -> Result<Self, PeerTlsError> {
        let pem = |path: &Path| {
            let path = path.to_owned();
            move |source| PeerTlsError::Pem { path, source }
        };
        let chain = CertificateDer::pem_file_iter(&files.cert_chain)
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .map_err(pem(&files.cert_chain))?;
        let key = PrivateKeyDer::from_pem_file(&files.key).map_err(pem(&files.key))?;
        let roots = CertificateDer::pem_file_iter(&files.trusted_ca)
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .map_err(pem(&files.trusted_ca))?;
        Self::new(chain, key, roots, &files.cert_chain)
    }

    fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        trusted_ca: Vec<CertificateDer<'static>>,
        chain_path: &Path,
    ) -> Result<Self, PeerTlsError> {
        let own_certificate = chain
            .first()
            .cloned()
            .ok_or_else(|| PeerTlsError::NoCertificate(chain_path.to_owned()))?;
        let mut roots = RootCertStore::empty();
        for certificate in trusted_ca {
            roots
                .add(certificate)
                .map_err(|error| PeerTlsError::TrustedCa(error.to_string()))?;
        }
        if roots.is_empty() {
            return Err(PeerTlsError::TrustedCa("no CA certificate".to_owned()));
        }
        let roots = Arc::new(roots);
        // ring: no OpenSSL and a simple build. Deprecated in rustls only for
        // lacking post-quantum key exchange, which peers of one cluster on a
        // private network can do without for now.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client_verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::clone(&roots), Arc::clone(&provider))
                .build()
                .map_err(|error| PeerTlsError::TrustedCa(error.to_string()))?;
        let server = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_client_cert_verifier(client_verifier)
            .with_single_cert(chain.clone(), key.clone_key())?;
        let client = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ClusterCaVerifier {
                roots,
                algorithms: provider_algorithms(&provider),
            }))
            .with_client_auth_cert(chain, key)?;
        Ok(Configs {
            client: Arc::new(client),
            server: Arc::new(server),
            own_certificate,
        })
    }
}

fn provider_algorithms(provider: &CryptoProvider) -> rustls::crypto::WebPkiSupportedAlgorithms {
    provider.signature_verification_algorithms
}

impl PartialEq for PeerTls {
    /// The same shared state (clones are equal; two loads of the same files
    /// are not).
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner) && self.cluster_name == other.cluster_name
    }
}

impl Eq for PeerTls {}

impl fmt::Debug for PeerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerTls")
            .field("files", &self.inner.files)
            .field("cluster_name", &self.cluster_name)
            .finish_non_exhaustive()
    }
}
