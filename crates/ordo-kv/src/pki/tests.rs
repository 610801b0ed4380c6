#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;

use ordo::transport::tls::{NodeIdentity, PeerTls, PeerTlsFiles};

use super::*;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_node_certificate_names_its_node_and_is_accepted_by_peer_tls() {
    let dir = tempfile::tempdir().unwrap();
    let ca = CertificateAuthority::generate("test CA").unwrap();
    ca.write(dir.path(), Overwrite::Keep).unwrap();
    let loaded = CertificateAuthority::load(dir.path()).unwrap();
    let cluster = ClusterId::new("prod").unwrap();
    let hosts = ["node3.internal".to_owned(), "10.0.0.3".to_owned()];
    let (certificate, key) = loaded
        .node_certificate(&cluster, 3, &hosts)
        .unwrap()
        .write(dir.path(), "node-3", Overwrite::Keep)
        .unwrap();
    let tls = PeerTls::from_pem_files(PeerTlsFiles {
        cert_chain: certificate,
        key: key.clone(),
        trusted_ca: dir.path().join(CA_CERT_FILE),
    })
    .unwrap();
    assert_eq!(
        tls.own_identity().unwrap(),
        NodeIdentity {
            cluster_id: cluster,
            node_id: 3
        }
    );
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(&dir.path().join(CA_KEY_FILE)), 0o600);
}

#[test]
fn files_are_never_overwritten_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let first = CertificateAuthority::generate("first").unwrap();
    first.write(dir.path(), Overwrite::Keep).unwrap();
    let second = CertificateAuthority::generate("second").unwrap();
    assert!(matches!(
        second.write(dir.path(), Overwrite::Keep),
        Err(PkiError::Exists(_))
    ));
    let kept = std::fs::read_to_string(dir.path().join(CA_CERT_FILE)).unwrap();
    assert_eq!(kept, first.certificate_pem());
    // A key replaced with --force is private even if the old one was not.
    let key = dir.path().join(CA_KEY_FILE);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    second.write(dir.path(), Overwrite::Replace).unwrap();
    assert_eq!(mode(&key), 0o600);
    let replaced = std::fs::read_to_string(dir.path().join(CA_CERT_FILE)).unwrap();
    assert_eq!(replaced, second.certificate_pem());
}

#[test]
fn bad_names_are_refused() {
    let ca = CertificateAuthority::generate("test CA").unwrap();
    let cluster = ClusterId::new("prod").unwrap();
    for host in ["", "a b", "x/y"] {
        assert!(
            ca.node_certificate(&cluster, 1, &[host.to_owned()])
                .is_err(),
            "{host:?}"
        );
    }
    assert!(ca.node_certificate(&cluster, 0, &[]).is_err());
    assert!(ca.client_certificate("").is_err());
    assert!(ca.client_certificate("alice").is_ok());
}

#[test]
fn a_dev_pki_has_a_ca_every_node_and_root() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = ClusterId::new("dev").unwrap();
    let pki = write_dev_pki(dir.path(), &cluster, &[1, 2, 3], Overwrite::Keep).unwrap();
    assert_eq!(pki.nodes.len(), 3);
    for (node_id, certificate, key) in &pki.nodes {
        let tls = PeerTls::from_pem_files(PeerTlsFiles {
            cert_chain: certificate.clone(),
            key: key.clone(),
            trusted_ca: pki.ca_certificate.clone(),
        })
        .unwrap();
        assert_eq!(tls.own_identity().unwrap().node_id, *node_id);
    }
    assert!(pki.root_client.0.exists() && mode(&pki.root_client.1) == 0o600);
    assert!(matches!(
        write_dev_pki(dir.path(), &cluster, &[1], Overwrite::Keep),
        Err(PkiError::Exists(_))
    ));
}
