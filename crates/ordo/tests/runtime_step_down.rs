//! A leader that stops leading answers the proposals it had not committed
//! "outcome unknown" at once (issue 11, protocol gaps), instead of leaving
//! their callers to time out: the next leader may or may not commit them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod runtime_support;

use std::time::Duration;

use ordo::RaftError;
use runtime_support::{Cluster, set};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_leader_answers_its_pending_proposals_outcome_unknown() {
    let mut cluster = Cluster::start(3).await;
    let leader = cluster.leader().await;
    cluster.propose(set("k", 1)).await;
    cluster.network.isolate(leader);
    let node = cluster.node(leader).clone();
    // Check-quorum makes it step down within about two election timeouts
    // (300–600 ms by default); the proposal's own timeout is 10 s.
    let answer = tokio::time::timeout(Duration::from_secs(3), node.propose(set("k", 2)))
        .await
        .expect("answered long before the proposal's timeout");
    assert!(
        matches!(answer, Err(RaftError::OutcomeUnknown)),
        "expected outcome unknown, got {answer:?}"
    );
    cluster.network.heal();
    cluster.stop_all().await;
}
