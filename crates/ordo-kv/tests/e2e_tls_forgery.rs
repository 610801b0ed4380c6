//! The term-forgery attempt against a 3-node cluster over peer mutual TLS,
//! with real `ordo serve` processes and a PKI made by `ordo cert`: a
//! stranger (a certificate from its own CA naming a member) and an insider
//! (a valid certificate of the cluster's CA, but for another node id than
//! the one it claims) each send every node a heartbeat with an enormous
//! term. The handshake refuses both, no node's term moves, and elections
//! and writes go on. (Over plain TCP the same heartbeat gets through: see
//! `e2e_faults.rs`, where only the core's term cap stands in its way.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use std::path::Path;
use std::time::Duration;

use e2e_support::Cluster;
use e2e_support::forge::{ForgerTls, forge_heartbeat_over_tls};
use e2e_support::pki::{make_pki, tls_flags};

const CLUSTER: &str = "forged";
/// How far ahead of the cluster the forged term is: enormous for a cluster,
/// yet below the core's own cap on a term jump (2^32), which would refuse
/// it by itself; here only the handshake stands in its way.
const FORGED_TERM_AHEAD: u64 = 1_000_000;
const ELECTION_PATIENCE: Duration = Duration::from_secs(20);

/// A forger presenting `dir/node-ID.crt` and trusting the cluster's CA.
fn forger(dir: &Path, id: u64, cluster_pki: &Path) -> ForgerTls {
    ForgerTls {
        cert: dir.join(format!("node-{id}.crt")),
        key: dir.join(format!("node-{id}.key")),
        trusted_ca: cluster_pki.join("ca.crt"),
    }
}

/// Every running node's term.
async fn terms(cluster: &Cluster) -> Vec<(u64, Option<u64>)> {
    let mut terms = Vec::new();
    for id in cluster.running_ids() {
        terms.push((id, cluster.view(id).await.map(|view| view.term)));
    }
    terms
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgers_without_the_claimed_nodes_certificate_cannot_move_a_term() {
    let root = tempfile::tempdir().unwrap();
    let pki = root.path().join("pki");
    make_pki(&pki, CLUSTER, &[1, 2, 3]).await;
    // Anyone can run `ordo cert`: a stranger's CA and certificates naming
    // the cluster's nodes.
    let stranger = root.path().join("stranger");
    make_pki(&stranger, CLUSTER, &[1, 2, 3]).await;
    let mut cluster = Cluster::new(CLUSTER, root.path(), 3);
    for id in cluster.ids() {
        cluster.start_with_flags(id, &tls_flags(&pki, id));
    }
    let leader = cluster.wait_for_leader().await;
    cluster.client().put("before", "1", None).await.unwrap();
    let view = cluster.view(leader).await.unwrap();
    let cluster_id = view.cluster_id.expect("a cluster id in /v1/cluster");
    let forged_term = view.term + FORGED_TERM_AHEAD;

    for target in cluster.ids() {
        let others: Vec<u64> = cluster
            .ids()
            .into_iter()
            .filter(|&id| id != target)
            .collect();
        let (claimed, holder) = (others[0], others[1]);
        let peer_addr = cluster.peer_addr(target);
        // The control: the claimed node's own certificate is welcomed (at
        // a stale term, which changes nothing), so a refusal below is the
        // handshake's doing, not this test's TLS.
        let genuine = forger(&pki, claimed, &pki);
        let welcomed =
            forge_heartbeat_over_tls(&peer_addr, &cluster_id, claimed, target, 0, &genuine).await;
        assert_eq!(
            welcomed,
            Ok(()),
            "node {target} refused node {claimed}'s own certificate"
        );
        for (who, forger) in [
            (
                "a stranger's certificate".to_owned(),
                forger(&stranger, claimed, &pki),
            ),
            (
                format!("node {holder}'s certificate"),
                forger(&pki, holder, &pki),
            ),
        ] {
            let sent = forge_heartbeat_over_tls(
                &peer_addr,
                &cluster_id,
                claimed,
                target,
                forged_term,
                &forger,
            )
            .await;
            assert!(
                sent.is_err(),
                "node {target} took a heartbeat at term {forged_term} claiming node {claimed} \
                 with {who}\n{}",
                cluster.logs()
            );
        }
    }
    let moved = |terms: &[(u64, Option<u64>)]| {
        terms
            .iter()
            .any(|(_, term)| term.is_none_or(|term| term >= forged_term))
    };
    let seen = terms(&cluster).await;
    assert!(!moved(&seen), "terms after the forgeries: {seen:?}");

    // Elections and writes go on.
    cluster.kill(leader);
    let (cluster_ref, old) = (&cluster, leader);
    cluster
        .eventually("a new leader", ELECTION_PATIENCE, || async move {
            let survivor = cluster_ref.running_ids()[0];
            match cluster_ref
                .view(survivor)
                .await
                .and_then(|view| view.leader)
            {
                Some(new) if new != old => Ok(()),
                seen => Err(format!("node {survivor} follows {seen:?}")),
            }
        })
        .await;
    cluster.client().put("after", "2", None).await.unwrap();
    let seen = terms(&cluster).await;
    assert!(!moved(&seen), "terms after the new election: {seen:?}");
    let logs = cluster.logs();
    assert!(
        logs.contains("the certificate names node"),
        "no refusal for a certificate naming another node:\n{logs}"
    );
    cluster.terminate_all().await;
}
