//! Three members over real gRPC on loopback, their data on disk: 1,000
//! registrations from concurrent clients while the leader is killed twice,
//! then every acknowledged registration must be on every member, and a
//! backup must restore into a fresh group identically. The checker is
//! shown to catch a planted bug (a state machine that drops writes).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use ordo_registry::check::{Violation, check_registrations};
use ordo_registry::state_machine::read_view;
use ordo_registry::{Pipeline, RouterStateMachine, Sidecar};
use support::*;

const CLIENTS: usize = 8;
const PER_CLIENT: usize = 125;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_registrations_survive_leader_kills_and_backups_restore() {
    let mut group = Group::start(3, RouterStateMachine::new).await;
    let client = group.client();
    register_topology(&client).await;

    let progress = Arc::new(AtomicUsize::new(0));
    let workload = tokio::spawn({
        let client = client.clone();
        let progress = Arc::clone(&progress);
        async move { register_concurrently(&client, CLIENTS, PER_CLIENT, progress).await }
    });
    // Kill a leader, bring it back, kill the next leader, bring it back:
    // all while the clients register.
    let total = CLIENTS * PER_CLIENT;
    let mut killed = Vec::new();
    for (kill_at, restart_at) in [(total / 5, 2 * total / 5), (3 * total / 5, 4 * total / 5)] {
        wait_for_progress(&progress, kill_at).await;
        let leader = group.leader().await;
        group.kill(leader).await;
        killed.push(leader);
        wait_for_progress(&progress, restart_at).await;
        group.restart(leader).await;
    }
    let mut outcomes = workload.await.unwrap();
    assert!(
        outcomes.failed.is_empty(),
        "every registration is acknowledged in the end: {:?}",
        outcomes.failed
    );
    assert_eq!(outcomes.acknowledged.len(), total);

    let gateway = test_service("gateway");
    outcomes.attempted.insert(gateway.id.clone());
    outcomes.acknowledged.push(gateway);
    let holdings = group.holdings().await;
    let violations = check_registrations(&outcomes.acknowledged, &outcomes.attempted, &holdings);
    assert_eq!(violations, vec![], "after killing leaders {killed:?}");
    // Snapshots were taken (and the restarted members restored from theirs).
    for id in 1..=3 {
        assert!(group.snapshot_files(id) > 0, "member {id} took no snapshot");
    }

    // A backup from one member restores into a fresh group identically.
    let backup = client.clone().backup().await.unwrap();
    let fresh = Group::start(1, RouterStateMachine::new).await;
    let mut fresh_client = fresh.client();
    fresh_client.restore(&backup).await.unwrap();
    let restored = fresh_client.backup().await.unwrap();
    let original = read_view(&mut backup.as_slice()).unwrap();
    let restored = read_view(&mut restored.as_slice()).unwrap();
    assert_eq!(restored.state, original.state);
    assert_eq!(original.state.services.len(), total + 1);
    assert_eq!(fresh.holdings().await[&1].len(), total + 1);

    fresh.stop().await;
    group.stop().await;
}

/// One service, a sidecar fronting it and a pipeline, so backups hold all
/// three kinds of thing.
async fn register_topology(client: &ordo_registry::Client) {
    let mut client = client.clone();
    client
        .register_service(test_service("gateway"))
        .await
        .unwrap();
    client
        .register_sidecar(Sidecar {
            id: "edge".into(),
            endpoint: "edge.internal:15000".into(),
            services: ["gateway".to_owned()].into(),
        })
        .await
        .unwrap();
    client
        .assign_pipeline(Pipeline {
            id: "ingest".into(),
            sidecar_id: "edge".into(),
            stages: vec!["decode".into(), "route".into()],
        })
        .await
        .unwrap();
}

/// The checker is not vacuous: with a state machine that acknowledges
/// every 7th registration without storing it, it reports those.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_checker_catches_a_state_machine_that_drops_writes() {
    fn forgetful() -> RouterStateMachine {
        RouterStateMachine::forgetting_every_nth_registration(7)
    }
    let group = Group::start(3, forgetful).await;
    let progress = Arc::new(AtomicUsize::new(0));
    let outcomes = register_concurrently(&group.client(), 3, 20, progress).await;
    assert_eq!(outcomes.acknowledged.len(), 60);

    let holdings = group.holdings().await;
    let violations = check_registrations(&outcomes.acknowledged, &outcomes.attempted, &holdings);
    assert!(!violations.is_empty(), "the planted bug went unnoticed");
    assert!(
        violations
            .iter()
            .all(|violation| matches!(violation, Violation::Missing { .. })),
        "{violations:?}"
    );
    // Every member applies the same log, so each lost the same ones.
    for node in 1..=3 {
        let lost = violations
            .iter()
            .filter(
                |violation| matches!(violation, Violation::Missing { node: n, .. } if *n == node),
            )
            .count();
        assert_eq!(lost, 60 / 7, "member {node}: {violations:?}");
    }
    group.stop().await;
}
