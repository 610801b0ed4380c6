//! `ordo serve`'s peer TLS: the three flags (`--peer-cert`, `--peer-key`,
//! `--peer-trusted-ca`, all or none), the files read at start, and read
//! again on SIGHUP. Certificates name the cluster by its name (`--cluster`),
//! which is known before the first start, unlike its id: make them with
//! `ordo cert node --cluster NAME`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use ordo::transport::ClusterId;
use ordo::transport::tls::{PeerTls, PeerTlsFiles};
use tokio::sync::watch;
use tracing::{error, info, warn};

/// The peer TLS files, from the three settings: all three or none.
///
/// # Errors
/// When only some are given.
pub fn files_from_settings(
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    trusted_ca: Option<PathBuf>,
) -> anyhow::Result<Option<PeerTlsFiles>> {
    match (cert, key, trusted_ca) {
        (None, None, None) => Ok(None),
        (Some(cert_chain), Some(key), Some(trusted_ca)) => Ok(Some(PeerTlsFiles {
            cert_chain,
            key,
            trusted_ca,
        })),
        (cert, key, ca) => {
            let missing: Vec<&str> = [
                (cert.is_none(), "--peer-cert"),
                (key.is_none(), "--peer-key"),
                (ca.is_none(), "--peer-trusted-ca"),
            ]
            .into_iter()
            .filter_map(|(missing, flag)| missing.then_some(flag))
            .collect();
            bail!(
                "peer TLS needs --peer-cert, --peer-key and --peer-trusted-ca together; missing {}",
                missing.join(", ")
            )
        }
    }
}

/// Reads the files, for a node of the cluster named `cluster`. Warns when the
/// certificate names another node: the peers will refuse this one.
///
/// # Errors
/// An unreadable or unusable file.
pub fn load(
    files: PeerTlsFiles,
    cluster: ClusterId,
    node_id: ordo::NodeId,
) -> anyhow::Result<PeerTls> {
    let described = format!(
        "peer TLS ({}, {}, {})",
        files.cert_chain.display(),
        files.key.display(),
        files.trusted_ca.display()
    );
    let tls = PeerTls::from_pem_files(files)
        .with_context(|| format!("cannot use {described}"))?
        .with_cluster_name(cluster.clone());
    match tls.own_identity() {
        Ok(named) if named.cluster_id == cluster && named.node_id == node_id => {}
        Ok(named) => warn!(
            certificate_names = %ordo::transport::tls::NodeIdentity::uri(&named.cluster_id, named.node_id),
            expected = %ordo::transport::tls::NodeIdentity::uri(&cluster, node_id),
            "the peer certificate names another node or cluster: peers will refuse this node"
        ),
        Err(error) => {
            warn!(%error, "the peer certificate names no node: peers will refuse this node")
        }
    }
    Ok(tls)
}

/// Re-reads `tls`'s files on every SIGHUP until `shutdown`: new peer
/// connections use the new files, established ones keep theirs. A bad new
/// file is logged and the old ones stay in force.
pub async fn reload_on_sighup(tls: PeerTls, mut shutdown: watch::Receiver<bool>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(hangups) => hangups,
        Err(error) => {
            error!(%error, "cannot watch for SIGHUP: peer TLS files will not be reloaded");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            received = hangups.recv() => {
                if received.is_none() {
                    return;
                }
                match tls.reload() {
                    Ok(()) => info!("SIGHUP: reloaded the peer TLS files"),
                    Err(error) => error!(%error, "SIGHUP: cannot reload the peer TLS files; keeping the old ones"),
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::server::ServeArgs;

    #[test]
    fn all_three_files_or_none() {
        assert!(files_from_settings(None, None, None).unwrap().is_none());
        let all = files_from_settings(
            Some("n.crt".into()),
            Some("n.key".into()),
            Some("ca.crt".into()),
        )
        .unwrap()
        .unwrap();
        assert_eq!(all.trusted_ca, PathBuf::from("ca.crt"));
        let error = files_from_settings(Some("n.crt".into()), None, None).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("missing --peer-key, --peer-trusted-ca"),
            "{message}"
        );
    }

    #[test]
    fn the_config_file_takes_the_same_names() {
        let args: ServeArgs = toml::from_str(
            "peer_cert = \"n.crt\"\npeer_key = \"n.key\"\npeer_trusted_ca = \"ca.crt\"\n",
        )
        .unwrap();
        assert_eq!(args.peer_cert, Some(PathBuf::from("n.crt")));
        assert_eq!(args.peer_key, Some(PathBuf::from("n.key")));
        assert_eq!(args.peer_trusted_ca, Some(PathBuf::from("ca.crt")));
    }
}
