//! Peer mutual TLS end to end, with real `ordo serve` processes and a PKI
//! made by `ordo cert` as the README shows it: a cluster over mTLS elects
//! and replicates; a node holding another node's certificate is refused by
//! every peer and never joins.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use std::path::Path;
use std::time::Duration;

use e2e_support::{Cluster, run_ordo};
use ordo_kv::client::Consistency;

const CLUSTER: &str = "secure";
const CLI_PATIENCE: Duration = Duration::from_secs(20);

/// `ordo cert ca`, then `ordo cert node` for each of `ids`, into `dir`.
async fn make_pki(dir: &Path, ids: &[u64]) {
    let dir = dir.to_str().unwrap();
    let made = run_ordo(&["cert", "ca", "--out", dir], CLI_PATIENCE).await;
    assert_eq!(made.code, Some(0), "{made}");
    for id in ids {
        let id = id.to_string();
        let args = [
            "cert",
            "node",
            "--id",
            &id,
            "--cluster",
            CLUSTER,
            "--host",
            "127.0.0.1",
            "--host",
            "localhost",
            "--out",
            dir,
        ];
        let made = run_ordo(&args, CLI_PATIENCE).await;
        assert_eq!(made.code, Some(0), "{made}");
        assert!(made.stdout.contains("--peer-cert"), "{made}");
    }
    let again = run_ordo(&["cert", "ca", "--out", dir], CLI_PATIENCE).await;
    assert_ne!(
        again.code,
        Some(0),
        "the CA was overwritten without --force"
    );
}

/// The peer TLS flags for a node holding node `holder`'s certificate.
fn tls_flags(pki: &Path, holder: u64) -> Vec<String> {
    let file = |name: String| pki.join(name).to_str().unwrap().to_owned();
    vec![
        "--peer-cert".to_owned(),
        file(format!("node-{holder}.crt")),
        "--peer-key".to_owned(),
        file(format!("node-{holder}.key")),
        "--peer-trusted-ca".to_owned(),
        file("ca.crt".to_owned()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_with_peer_mtls_elects_and_replicates() {
    let root = tempfile::tempdir().unwrap();
    let pki = root.path().join("pki");
    make_pki(&pki, &[1, 2, 3]).await;
    let mut cluster = Cluster::new(CLUSTER, root.path(), 3);
    for id in cluster.ids() {
        cluster.start_with_flags(id, &tls_flags(&pki, id));
    }
    let leader = cluster.wait_for_leader().await;
    cluster.client().put("secret", "kept", None).await.unwrap();
    for follower in cluster.ids().into_iter().filter(|&id| id != leader) {
        cluster.wait_caught_up(leader, follower).await;
    }
    let read = cluster
        .client()
        .get("secret", Consistency::Linearizable)
        .await
        .unwrap();
    assert_eq!(
        read.map(|entry| entry.value),
        Some(bytes::Bytes::from("kept"))
    );
    cluster.terminate_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_another_nodes_certificate_is_refused_and_never_joins() {
    let root = tempfile::tempdir().unwrap();
    let pki = root.path().join("pki");
    make_pki(&pki, &[1, 2, 3]).await;
    let mut cluster = Cluster::new(CLUSTER, root.path(), 3);
    cluster.start_with_flags(1, &tls_flags(&pki, 1));
    cluster.start_with_flags(2, &tls_flags(&pki, 2));
    // Node 3 holds node 2's (valid) certificate.
    cluster.start_with_flags(3, &tls_flags(&pki, 2));

    let leader = cluster
        .eventually(
            "nodes 1 and 2 to elect a leader",
            Duration::from_secs(30),
            || async {
                let one = cluster.view(1).await.and_then(|view| view.leader);
                let two = cluster.view(2).await.and_then(|view| view.leader);
                match (one, two) {
                    (Some(one), Some(two)) if one == two => Ok(one),
                    seen => Err(format!("leaders seen: {seen:?}")),
                }
            },
        )
        .await;
    assert_ne!(leader, 3);
    cluster.client_of(leader).put("k", "v", None).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;

    let three = cluster.view(3).await;
    let three_status = three
        .as_ref()
        .map(|view| (view.leader, view.node.commit_index));
    assert!(
        matches!(three_status, None | Some((None, 0))),
        "node 3 joined: {three_status:?}\n{}",
        cluster.logs()
    );
    let peers_logs = format!(
        "{}{}",
        cluster.process(1).stderr(),
        cluster.process(2).stderr()
    );
    assert!(
        peers_logs.contains("the certificate names node 2"),
        "node 3's claim was not refused for its certificate:\n{peers_logs}"
    );
    cluster.terminate_all().await;
}
