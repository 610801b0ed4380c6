//! A throwaway PKI for the TLS tests: a cluster CA and node certificates
//! named `ordo://CLUSTER/node/N`, valid for server and client authentication.

use ordo::transport::ClusterId;
use ordo::transport::tls::{NodeIdentity, PeerTls};
use ordo_core::NodeId;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

/// A certificate authority that issues node certificates.
pub struct TestCa {
    certificate_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A node's certificate and key, in PEM.
pub struct NodeCertificate {
    pub certificate_pem: String,
    pub key_pem: String,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let certificate_pem = params.self_signed(&key).unwrap().pem();
        TestCa {
            certificate_pem,
            issuer: Issuer::new(params, key),
        }
    }

    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    /// A certificate for `node` of `cluster`.
    pub fn node(&self, cluster: &ClusterId, node: NodeId) -> NodeCertificate {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("node {node}"));
        params.subject_alt_names.push(SanType::URI(
            NodeIdentity::uri(cluster, node).try_into().unwrap(),
        ));
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate().unwrap();
        let certificate_pem = params.signed_by(&key, &self.issuer).unwrap().pem();
        NodeCertificate {
            certificate_pem,
            key_pem: key.serialize_pem(),
        }
    }

    /// Peer TLS for `node` of `cluster`, trusting this CA.
    pub fn peer_tls(&self, cluster: &ClusterId, node: NodeId) -> PeerTls {
        self.node(cluster, node).peer_tls(self)
    }
}

impl NodeCertificate {
    /// Peer TLS with this certificate, trusting `ca`.
    pub fn peer_tls(&self, ca: &TestCa) -> PeerTls {
        PeerTls::from_pem(
            self.certificate_pem.as_bytes(),
            self.key_pem.as_bytes(),
            ca.certificate_pem().as_bytes(),
        )
        .unwrap()
    }

    /// Writes the certificate, key and `ca` into `dir`, and returns the paths.
    pub fn write(&self, ca: &TestCa, dir: &std::path::Path) -> ordo::transport::tls::PeerTlsFiles {
        let files = ordo::transport::tls::PeerTlsFiles {
            cert_chain: dir.join("node.crt"),
            key: dir.join("node.key"),
            trusted_ca: dir.join("ca.crt"),
        };
        std::fs::write(&files.cert_chain, &self.certificate_pem).unwrap();
        std::fs::write(&files.key, &self.key_pem).unwrap();
        std::fs::write(&files.trusted_ca, ca.certificate_pem()).unwrap();
        files
    }
}
