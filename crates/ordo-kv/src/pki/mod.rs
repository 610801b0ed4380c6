//! A small PKI for an Ordo cluster (`ordo cert`): a cluster CA, node
//! certificates and client certificates, as PEM files.
//!
//! - A node certificate names its node as Ordo's peer TLS expects, with one
//!   URI name `ordo://CLUSTER/node/N` (see `ordo::transport::tls`), plus a
//!   DNS or IP name for each host it is reached at, so that the same pair
//!   also serves the client port. It is valid for server and client
//!   authentication, because a node both accepts and dials.
//! - A client certificate's common name is the user name (as etcd's is).
//!
//! Invariants: private keys are written with mode 0600, and no file is ever
//! overwritten unless the caller says so ([`Overwrite::Replace`]).

mod cli;
mod files;

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ordo::NodeId;
use ordo::transport::ClusterId;
use ordo::transport::tls::NodeIdentity;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use thiserror::Error;
use time::{Duration, OffsetDateTime};

pub use self::cli::{CertCommand, run};
pub use self::files::Overwrite;

/// File names in a CA directory.
pub const CA_CERT_FILE: &str = "ca.crt";
/// The CA's private key, in a CA directory.
pub const CA_KEY_FILE: &str = "ca.key";

/// How long a CA is valid.
const CA_VALIDITY_DAYS: i64 = 10 * 365;
/// How long a node or client certificate is valid.
const LEAF_VALIDITY_DAYS: i64 = 2 * 365;
/// Backdating, so a peer whose clock is a little behind accepts a new
/// certificate at once.
const BACKDATE_MINUTES: i64 = 60;

/// Why a certificate could not be made or written.
#[derive(Debug, Error)]
pub enum PkiError {
    /// rcgen refused the parameters (a malformed name, say).
    #[error("generating the certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file exists and overwriting was not asked for.
    #[error("{0} already exists (pass --force to replace it)")]
    Exists(PathBuf),
    /// A name that cannot go into a certificate.
    #[error("invalid {what}: {detail}")]
    InvalidName {
        /// Which name.
        what: &'static str,
        /// Why.
        detail: String,
    },
}

/// A certificate and its private key, in PEM.
pub struct KeyedCertificate {
    /// The certificate.
    pub certificate_pem: String,
    /// Its private key (PKCS#8).
    pub key_pem: String,
}

/// A CA that can sign: its certificate and its key.
pub struct CertificateAuthority {
    certificate_pem: String,
    key_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl CertificateAuthority {
    /// A new CA, named `common_name`.
    ///
    /// # Errors
    /// [`PkiError::Generate`].
    pub fn generate(common_name: &str) -> Result<Self, PkiError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        set_validity(&mut params, CA_VALIDITY_DAYS);
        let key = KeyPair::generate()?;
        let certificate_pem = params.self_signed(&key)?.pem();
        Ok(CertificateAuthority {
            certificate_pem,
            key_pem: key.serialize_pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA in `dir` (`ca.crt` and `ca.key`).
    ///
    /// # Errors
    /// [`PkiError`] if a file is unreadable or not a CA certificate and key.
    pub fn load(dir: &Path) -> Result<Self, PkiError> {
        let certificate_pem = files::read(&dir.join(CA_CERT_FILE))?;
        let key_pem = files::read(&dir.join(CA_KEY_FILE))?;
        let key = KeyPair::from_pem(&key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(&certificate_pem, key)?;
        Ok(CertificateAuthority {
            certificate_pem,
            key_pem,
            issuer,
        })
    }

    /// Writes `ca.crt` and `ca.key` into `dir`.
    ///
    /// # Errors
    /// [`PkiError`] if a file exists (and `overwrite` says keep) or cannot be
    /// written.
    pub fn write(&self, dir: &Path, overwrite: Overwrite) -> Result<(), PkiError> {
        files::write_certificate(&dir.join(CA_CERT_FILE), &self.certificate_pem, overwrite)?;
        files::write_key(&dir.join(CA_KEY_FILE), &self.key_pem, overwrite)
    }

    /// The CA certificate, in PEM.
    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    /// A certificate for node `node_id` of `cluster`, reached at `hosts`
    /// (DNS names or IP addresses).
    ///
    /// # Errors
    /// [`PkiError`] for a host that is neither.
    pub fn node_certificate(
        &self,
        cluster: &ClusterId,
        node_id: NodeId,
        hosts: &[String],
    ) -> Result<KeyedCertificate, PkiError> {
        if node_id == 0 {
            return Err(PkiError::InvalidName {
                what: "node id",
                detail: "node ids start at 1".to_owned(),
            });
        }
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, format!("ordo node {node_id}"));
        params.subject_alt_names.push(SanType::URI(
            NodeIdentity::uri(cluster, node_id).try_into()?,
        ));
        for host in hosts {
            params.subject_alt_names.push(host_name(host)?);
        }
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        self.sign(params)
    }

    /// A client certificate for `user` (its common name).
    ///
    /// # Errors
    /// [`PkiError`] for an empty user name.
    pub fn client_certificate(&self, user: &str) -> Result<KeyedCertificate, PkiError> {
        if user.is_empty() || user.len() > 128 || user.chars().any(char::is_control) {
            return Err(PkiError::InvalidName {
                what: "user name",
                detail: "1 to 128 printable characters".to_owned(),
            });
        }
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, user);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params)
    }

    fn sign(&self, mut params: CertificateParams) -> Result<KeyedCertificate, PkiError> {
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params, LEAF_VALIDITY_DAYS);
        let key = KeyPair::generate()?;
        let certificate = params.signed_by(&key, &self.issuer)?;
        Ok(KeyedCertificate {
            certificate_pem: certificate.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

impl KeyedCertificate {
    /// Writes `NAME.crt` and `NAME.key` into `dir`; returns their paths.
    ///
    /// # Errors
    /// [`PkiError`] if a file exists (and `overwrite` says keep) or cannot be
    /// written.
    pub fn write(
        &self,
        dir: &Path,
        name: &str,
        overwrite: Overwrite,
    ) -> Result<(PathBuf, PathBuf), PkiError> {
        let certificate = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        files::write_certificate(&certificate, &self.certificate_pem, overwrite)?;
        files::write_key(&key, &self.key_pem, overwrite)?;
        Ok((certificate, key))
    }
}

/// Where [`write_dev_pki`] put each file.
#[derive(Clone, Debug)]
pub struct DevPki {
    /// The CA certificate every node and client trusts.
    pub ca_certificate: PathBuf,
    /// Each node's certificate and key, in the order of the ids given.
    pub nodes: Vec<(NodeId, PathBuf, PathBuf)>,
    /// The `root` user's client certificate and key.
    pub root_client: (PathBuf, PathBuf),
}

/// A whole PKI for a local cluster in `dir`: a CA, a certificate for each of
/// `node_ids` (for `localhost` and 127.0.0.1; files `node-N.crt`,
/// `node-N.key`) and a client certificate for `root`.
///
/// # Errors
/// [`PkiError`] if a file cannot be written (or exists, unless `overwrite`).
pub fn write_dev_pki(
    dir: &Path,
    cluster: &ClusterId,
    node_ids: &[NodeId],
    overwrite: Overwrite,
) -> Result<DevPki, PkiError> {
    files::create_dir(dir)?;
    let ca = CertificateAuthority::generate(&format!("ordo dev CA for {}", cluster.as_str()))?;
    ca.write(dir, overwrite)?;
    let hosts = ["localhost".to_owned(), "127.0.0.1".to_owned()];
    let mut nodes = Vec::with_capacity(node_ids.len());
    for &node_id in node_ids {
        let (certificate, key) = ca.node_certificate(cluster, node_id, &hosts)?.write(
            dir,
            &format!("node-{node_id}"),
            overwrite,
        )?;
        nodes.push((node_id, certificate, key));
    }
    let root_client = ca
        .client_certificate("root")?
        .write(dir, "root", overwrite)?;
    Ok(DevPki {
        ca_certificate: dir.join(CA_CERT_FILE),
        nodes,
        root_client,
    })
}

/// A host as a subject alternative name: an IP address, or a DNS name.
fn host_name(host: &str) -> Result<SanType, PkiError> {
    if let Ok(address) = host.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(address));
    }
    let valid = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'*'));
    if !valid {
        return Err(PkiError::InvalidName {
            what: "host",
            detail: format!("{host:?} is neither an IP address nor a DNS name"),
        });
    }
    Ok(SanType::DnsName(host.to_owned().try_into()?))
}

fn set_validity(params: &mut CertificateParams, days: i64) {
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::minutes(BACKDATE_MINUTES);
    params.not_after = now + Duration::days(days);
}

#[cfg(test)]
mod tests;
