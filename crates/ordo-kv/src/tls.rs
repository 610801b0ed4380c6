//! TLS 1.3 configurations (rustls with the ring provider) from PEM files,
//! for the server's client port and for the client.
//!
//! Only TLS 1.3 is offered: both ends are ours. A file that is missing,
//! empty or not PEM of the right kind is a [`TlsError`] naming the file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    #[error("cannot read {what} from {path}: {reason}")]
    File {
        /// What the file should hold.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why not.
        reason: String,
    },
    /// rustls refused the certificates or key (a key that does not match
    /// the certificate, an unsupported algorithm, a CA that is not one).
    #[error("{context}: {source}")]
    Rustls {
        /// What was being built.
        context: String,
        /// rustls' reason.
        #[source]
        source: rustls::Error,
    },
    /// The client-certificate verifier could not be built.
    #[error("cannot trust the CA in {path}: {reason}")]
    Verifier {
        /// The CA file.
        path: PathBuf,
        /// Why not.
        reason: String,
    },
}

/// The one crypto provider: ring. rustls 0.23.48 deprecates it because it
/// offers no post-quantum key exchange (aws-lc-rs does); ring is kept for
/// now because it builds without cmake or a C++ toolchain. Moving to
/// aws-lc-rs is a one-line change here (and the features in Cargo.toml).
#[allow(deprecated)]
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Only TLS 1.3.
pub(crate) const PROTOCOL_VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13];

/// Every certificate in a PEM file (at least one).
pub(crate) fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let what = "certificates";
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|error| file_error(what, path, &error))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| file_error(what, path, &error))?;
    if certificates.is_empty() {
        return Err(TlsError::File {
            what,
            path: path.to_owned(),
            reason: "no CERTIFICATE in it".into(),
        });
    }
    Ok(certificates)
}

/// The private key in a PEM file.
pub(crate) fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|error| file_error("a private key", path, &error))
}

/// The CA certificates in a PEM file, as trust roots.
pub(crate) fn roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for certificate in certificates(path)? {
        roots.add(certificate).map_err(|source| TlsError::Rustls {
            context: format!("the CA certificate in {}", path.display()),
            source,
        })?;
    }
    Ok(roots)
}

fn file_error(what: &'static str, path: &Path, error: &dyn std::fmt::Display) -> TlsError {
    TlsError::File {
        what,
        path: path.to_owned(),
        reason: error.to_string(),
    }
}
