//! HTTPS on the client port: [`ClientTls`] (the files, from the settings)
//! and [`TlsAcceptors`] (the acceptor new connections use, rebuilt from
//! the files on SIGHUP).
//!
//! A reload that fails (a half-written file, a key that does not match)
//! keeps the configuration in use and says why; connections already open
//! keep the one they were accepted with. With a trusted CA, a client
//! certificate from that CA is required (`--client-cert-auth`) or merely
//! accepted, and its subject's common name is the authenticated user.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use tokio_rustls::TlsAcceptor;

use crate::tls::{TlsError, certificates, private_key, provider, roots};

/// The client port's TLS files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientTls {
    /// The server's certificate chain (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// The CA whose client certificates are accepted (PEM).
    pub trusted_ca: Option<PathBuf>,
    /// Require a client certificate from `trusted_ca`.
    pub client_cert_auth: bool,
}

impl ClientTls {
    /// A TLS 1.3 server configuration from the files, read now.
    ///
    /// # Errors
    /// A file that cannot be read or parsed, a key that does not match.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let provider = provider();
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(crate::tls::PROTOCOL_VERSIONS)
            .map_err(|source| TlsError::Rustls {
                context: "TLS 1.3".into(),
                source,
            })?;
        let builder = match &self.trusted_ca {
            Some(path) => {
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots(path)?), provider);
                let verifier = if self.client_cert_auth {
                    verifier
                } else {
                    verifier.allow_unauthenticated()
                };
                let verifier = verifier.build().map_err(|error| TlsError::Verifier {
                    path: path.clone(),
                    reason: error.to_string(),
                })?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder
            .with_single_cert(certificates(&self.cert)?, private_key(&self.key)?)
            .map_err(|source| TlsError::Rustls {
                context: format!(
                    "the certificate {} with the key {}",
                    self.cert.display(),
                    self.key.display()
                ),
                source,
            })?;
        // h2 first: gRPC clients (etcd's API, `server/etcd/`) require it;
        // HTTP/1.1 clients still get what they ask for.
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// The acceptor for new connections, replaced on reload.
pub struct TlsAcceptors {
    files: ClientTls,
    current: RwLock<TlsAcceptor>,
}

impl TlsAcceptors {
    /// Reads the files once.
    ///
    /// # Errors
    /// As [`ClientTls::server_config`].
    pub fn load(files: ClientTls) -> Result<Arc<Self>, TlsError> {
        let acceptor = TlsAcceptor::from(files.server_config()?);
        Ok(Arc::new(TlsAcceptors {
            files,
            current: RwLock::new(acceptor),
        }))
    }

    /// The acceptor to use for a connection accepted now.
    pub fn current(&self) -> TlsAcceptor {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Reads the files again; on success, new connections use them.
    ///
    /// # Errors
    /// As [`ClientTls::server_config`]; the acceptor in use is kept.
    pub fn reload(&self) -> Result<(), TlsError> {
        let acceptor = TlsAcceptor::from(self.files.server_config()?);
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = acceptor;
        Ok(())
    }

    /// Reloads on every SIGHUP until `shutdown` turns true.
    pub async fn reload_on_sighup(
        self: Arc<Self>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let mut hangups = match signal(SignalKind::hangup()) {
                Ok(hangups) => hangups,
                Err(error) => {
                    tracing::warn!(%error, "cannot watch for SIGHUP: TLS files will not be reloaded");
                    return;
                }
            };
            loop {
                tokio::select! {
                    _ = shutdown.changed() => return,
                    received = hangups.recv() => if received.is_none() { return },
                }
                match self.reload() {
                    Ok(()) => tracing::info!("SIGHUP: reloaded the client TLS certificate and key"),
                    Err(error) => tracing::error!(
                        %error,
                        "SIGHUP: cannot reload the client TLS files; keeping the ones in use"
                    ),
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = shutdown.changed().await;
        }
    }
}
