//! `ordo dev --tls`: the certificates of a local cluster, made once in
//! `DATA/pki` by [`write_dev_pki`] and reused when the cluster starts again,
//! so that the nodes' peer mutual TLS and the HTTPS client port work in one
//! command, and a client trusts `DATA/pki/ca.crt` across restarts.
//!
//! Each node presents its `node-N` certificate on both ports (it names
//! `localhost` and 127.0.0.1, and `ordo://ordo/node/N` for its peers); the
//! client port accepts, without requiring, a client certificate from the CA
//! (`root.crt`), whose name is then the user.

use std::path::{Path, PathBuf};

use anyhow::{Context, ensure};
use ordo::NodeId;
use ordo::transport::ClusterId;
use ordo::transport::tls::PeerTlsFiles;

use crate::pki::{CA_CERT_FILE, DevPki, Overwrite, write_dev_pki};
use crate::server::http::tls::ClientTls;

/// The directory inside the dev data directory that holds the PKI.
const PKI_DIR: &str = "pki";

/// The certificates of a dev cluster.
#[derive(Clone, Debug)]
pub(super) struct DevTls {
    pki: DevPki,
}

impl DevTls {
    /// The PKI in `data`'s `pki` directory for nodes `ids` of the cluster
    /// named `cluster`: made now if there is none, reused otherwise.
    ///
    /// # Errors
    /// A PKI directory missing one of the files, or one that cannot be written.
    pub(super) fn prepare(data: &Path, cluster: &str, ids: &[NodeId]) -> anyhow::Result<Self> {
        let dir = data.join(PKI_DIR);
        if !dir.join(CA_CERT_FILE).exists() {
            let cluster = ClusterId::new(cluster).context("the dev cluster's name")?;
            let pki = write_dev_pki(&dir, &cluster, ids, Overwrite::Keep)
                .with_context(|| format!("cannot make certificates in {}", dir.display()))?;
            return Ok(DevTls { pki });
        }
        let pair = |name: &str| {
            (
                dir.join(format!("{name}.crt")),
                dir.join(format!("{name}.key")),
            )
        };
        let pki = DevPki {
            ca_certificate: dir.join(CA_CERT_FILE),
            nodes: ids
                .iter()
                .map(|&id| {
                    let (certificate, key) = pair(&format!("node-{id}"));
                    (id, certificate, key)
                })
                .collect(),
            root_client: pair("root"),
        };
        for (_, certificate, key) in &pki.nodes {
            for file in [certificate, key] {
                ensure!(
                    file.exists(),
                    "{} is missing; remove {} to make new certificates",
                    file.display(),
                    dir.display()
                );
            }
        }
        Ok(DevTls { pki })
    }

    /// The CA certificate clients trust.
    pub(super) fn ca_certificate(&self) -> &Path {
        &self.pki.ca_certificate
    }

    /// The `root` user's client certificate and key.
    pub(super) fn root_client(&self) -> &(PathBuf, PathBuf) {
        &self.pki.root_client
    }

    /// Node `id`'s peer TLS files.
    pub(super) fn peer_tls(&self, id: NodeId) -> PeerTlsFiles {
        let (certificate, key) = self.node_files(id);
        PeerTlsFiles {
            cert_chain: certificate,
            key,
            trusted_ca: self.pki.ca_certificate.clone(),
        }
    }

    /// Node `id`'s HTTPS files for the client port.
    pub(super) fn client_port(&self, id: NodeId) -> ClientTls {
        let (certificate, key) = self.node_files(id);
        ClientTls {
            cert: certificate,
            key,
            trusted_ca: Some(self.pki.ca_certificate.clone()),
            client_cert_auth: false,
        }
    }

    fn node_files(&self, id: NodeId) -> (PathBuf, PathBuf) {
        let (_, certificate, key) = self
            .pki
            .nodes
            .iter()
            .find(|(node, _, _)| *node == id)
            .unwrap_or_else(|| panic!("node {id} is not in the dev PKI: prepare() got its ids"));
        (certificate.clone(), key.clone())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_pki_is_made_once_and_reused() {
        let data = tempfile::tempdir().unwrap();
        let made = DevTls::prepare(data.path(), "ordo", &[1, 2, 3]).unwrap();
        let ca = std::fs::read(made.ca_certificate()).unwrap();
        let again = DevTls::prepare(data.path(), "ordo", &[1, 2, 3]).unwrap();
        assert_eq!(std::fs::read(again.ca_certificate()).unwrap(), ca);
        assert_eq!(again.peer_tls(2), made.peer_tls(2));
        assert!(again.client_port(3).cert.ends_with("node-3.crt"));

        std::fs::remove_file(data.path().join("pki/node-2.key")).unwrap();
        let missing = DevTls::prepare(data.path(), "ordo", &[1, 2, 3]).unwrap_err();
        assert!(missing.to_string().contains("node-2.key"), "{missing}");
    }
}
