//! The client's TLS: which CA verifies the servers (`--cacert`), and the
//! certificate it proves itself with when a server asks (`--cert`,
//! `--key`). TLS 1.3 only, ring provider ([`crate::tls`]).
//!
//! An `https://` endpoint needs a CA: the client never connects to a
//! server it cannot verify, and never trusts the system's roots for a
//! cluster whose CA is its own.

use std::path::PathBuf;
use std::sync::Arc;

use crate::tls::{PROTOCOL_VERSIONS, certificates, private_key, provider, roots};

use super::ClientError;

/// The client's TLS files (all optional; `cert` and `key` go together).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientTlsFiles {
    /// The CA (PEM) that signed the servers' certificates.
    pub ca_cert: Option<PathBuf>,
    /// This client's certificate chain (PEM), for servers that ask.
    pub cert: Option<PathBuf>,
    /// Its private key (PEM).
    pub key: Option<PathBuf>,
}

impl ClientTlsFiles {
    /// The rustls configuration, or `None` without a CA (plain HTTP only).
    ///
    /// # Errors
    /// A file that cannot be read, half a certificate pair, a key that does
    /// not match its certificate.
    pub(crate) fn rustls_config(&self) -> Result<Option<Arc<rustls::ClientConfig>>, ClientError> {
        let invalid = |error: &dyn std::fmt::Display| ClientError::invalid(error.to_string());
        let Some(ca_cert) = &self.ca_cert else {
            if self.cert.is_some() || self.key.is_some() {
                return Err(ClientError::invalid(
                    "--cert and --key need --cacert FILE (the CA that signed the servers' certificates)",
                ));
            }
            return Ok(None);
        };
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(PROTOCOL_VERSIONS)
            .map_err(|error| invalid(&error))?
            .with_root_certificates(roots(ca_cert).map_err(|error| invalid(&error))?);
        // hyper-rustls sets ALPN itself (http/1.1).
        let config = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => builder
                .with_client_auth_cert(
                    certificates(cert).map_err(|error| invalid(&error))?,
                    private_key(key).map_err(|error| invalid(&error))?,
                )
                .map_err(|error| {
                    ClientError::invalid(format!(
                        "the client certificate {} with the key {}: {error}",
                        cert.display(),
                        key.display()
                    ))
                })?,
            (None, None) => builder.with_no_client_auth(),
            _ => {
                return Err(ClientError::invalid(
                    "give both --cert FILE and --key FILE (a client certificate needs its key)",
                ));
            }
        };
        Ok(Some(Arc::new(config)))
    }
}
