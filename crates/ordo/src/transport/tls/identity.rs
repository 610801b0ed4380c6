//! The node identity a peer certificate carries: one URI subject alternative
//! name `ordo://CLUSTER/node/N`, and how to read it back from a certificate
//! whose chain has already been verified.
//!
//! Invariant: a certificate names at most one node. One with two `ordo://`
//! names (or one that does not parse) names none and is refused, so that no
//! certificate can speak for two nodes.

use ordo_core::NodeId;
use rustls_pki_types::CertificateDer;
use thiserror::Error;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

use crate::transport::ClusterId;

/// The scheme of a node identity URI.
const URI_SCHEME: &str = "ordo://";

/// A node of a cluster, as a verified certificate names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeIdentity {
    /// The cluster the certificate was issued for.
    pub cluster_id: ClusterId,
    /// The node it was issued to.
    pub node_id: NodeId,
}

/// Why a certificate names no node.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum IdentityError {
    /// The certificate is not valid DER X.509.
    #[error("the certificate cannot be parsed")]
    Unparsable,
    /// It has no `ordo://CLUSTER/node/N` URI name.
    #[error("the certificate names no node (no ordo://CLUSTER/node/N URI name)")]
    NoNodeName,
    /// It has more than one.
    #[error("the certificate names more than one node")]
    SeveralNodeNames,
    /// An `ordo://` name that is not `ordo://CLUSTER/node/N`.
    #[error("the certificate's node name {0:?} is not ordo://CLUSTER/node/N")]
    Malformed(String),
}

impl NodeIdentity {
    /// The URI naming `node_id` of `cluster_id`, as its certificate carries it.
    pub fn uri(cluster_id: &ClusterId, node_id: NodeId) -> String {
        format!("{URI_SCHEME}{}/node/{node_id}", cluster_id.as_str())
    }

    /// Reads the one node name of `certificate`. The caller has verified its
    /// chain: this only reads names.
    ///
    /// # Errors
    /// [`IdentityError`] if it names no node, or more than one.
    pub fn of_certificate(certificate: &CertificateDer<'_>) -> Result<Self, IdentityError> {
        let (_, parsed) =
            X509Certificate::from_der(certificate).map_err(|_| IdentityError::Unparsable)?;
        let names = parsed
            .subject_alternative_name()
            .map_err(|_| IdentityError::Unparsable)?;
        let mut found = None;
        for name in names.iter().flat_map(|names| &names.value.general_names) {
            let GeneralName::URI(uri) = name else {
                continue;
            };
            if !uri.starts_with(URI_SCHEME) {
                continue;
            }
            if found.is_some() {
                return Err(IdentityError::SeveralNodeNames);
            }
            found = Some(Self::parse_uri(uri)?);
        }
        found.ok_or(IdentityError::NoNodeName)
    }

    fn parse_uri(uri: &str) -> Result<Self, IdentityError> {
        let malformed = || IdentityError::Malformed(uri.chars().take(100).collect());
        let rest = uri.strip_prefix(URI_SCHEME).ok_or_else(malformed)?;
        let (cluster, node) = rest.split_once("/node/").ok_or_else(malformed)?;
        let cluster_id = ClusterId::new(cluster).map_err(|_| malformed())?;
        // Digits only: `parse` would also take a leading `+`.
        if node.is_empty() || !node.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(malformed());
        }
        let node_id: NodeId = node.parse().map_err(|_| malformed())?;
        if node_id == 0 {
            return Err(malformed());
        }
        Ok(NodeIdentity {
            cluster_id,
            node_id,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn certificate_with_uris(uris: &[&str]) -> CertificateDer<'static> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        for uri in uris {
            params
                .subject_alt_names
                .push(rcgen::SanType::URI((*uri).try_into().unwrap()));
        }
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().clone()
    }

    #[test]
    fn the_uri_round_trips() {
        let cluster = ClusterId::new("prod-1").unwrap();
        let uri = NodeIdentity::uri(&cluster, 3);
        assert_eq!(uri, "ordo://prod-1/node/3");
        let certificate = certificate_with_uris(&["https://example.com/", &uri]);
        assert_eq!(
            NodeIdentity::of_certificate(&certificate),
            Ok(NodeIdentity {
                cluster_id: cluster,
                node_id: 3
            })
        );
    }

    #[test]
    fn no_name_two_names_or_a_bad_name_is_no_identity() {
        let none = certificate_with_uris(&["https://example.com/"]);
        assert_eq!(
            NodeIdentity::of_certificate(&none),
            Err(IdentityError::NoNodeName)
        );
        let two = certificate_with_uris(&["ordo://c/node/2", "ordo://c/node/3"]);
        assert_eq!(
            NodeIdentity::of_certificate(&two),
            Err(IdentityError::SeveralNodeNames)
        );
        for bad in [
            "ordo://c/node/",
            "ordo://c/node/+3",
            "ordo://c/node/0",
            "ordo://c/3",
            "ordo://c/node/3x",
        ] {
            let certificate = certificate_with_uris(&[bad]);
            assert!(
                matches!(
                    NodeIdentity::of_certificate(&certificate),
                    Err(IdentityError::Malformed(_))
                ),
                "{bad}"
            );
        }
        assert_eq!(
            NodeIdentity::of_certificate(&CertificateDer::from(vec![1, 2, 3])),
            Err(IdentityError::Unparsable)
        );
    }
}
