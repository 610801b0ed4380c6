//! `Raft::begin_repair` in the roles the transcript `repair_point.txt` does
//! not reach: a leader that learns its storage lost entries steps down, and
//! a follower under repair ignores its leader's TimeoutNow.

use ordo_core::{Config, Event, Role, StepDownReason};
use ordo_sim::cluster::Cluster;

/// Three nodes, node 1 elected, everything delivered.
fn elected_group() -> Cluster {
    let config = |id| Config {
        node_id: id,
        election_timeout_min_ticks: 10,
        election_timeout_max_ticks: 20,
        heartbeat_interval_ticks: 2,
        ..Config::default()
    };
    let mut cluster = Cluster::new(3, config).unwrap_or_else(|e| panic!("{e}"));
    cluster.campaign(1).unwrap_or_else(|e| panic!("{e}"));
    cluster.stabilize(100).unwrap_or_else(|e| panic!("{e}"));
    cluster
}

fn raft(cluster: &mut Cluster, id: u64) -> &mut ordo_core::Raft<ordo_core::MemoryLog> {
    cluster
        .nodes
        .get_mut(&id)
        .and_then(|node| node.raft.as_mut())
        .unwrap_or_else(|| panic!("node {id} is down"))
}

#[test]
fn a_leader_under_repair_steps_down_and_never_campaigns() {
    let mut cluster = elected_group();
    let leader = raft(&mut cluster, 1);
    assert_eq!(leader.role(), Role::Leader);
    leader.begin_repair(100);
    assert_eq!(leader.role(), Role::Follower);
    assert_eq!(leader.status().repair_point, Some(100));
    let events = leader
        .take_actions()
        .unwrap_or_else(|e| panic!("{e}"))
        .events;
    assert!(events.contains(&Event::SteppedDown {
        term: 1,
        reason: StepDownReason::Repair
    }));
    for _ in 0..100 {
        cluster.tick(1).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(raft(&mut cluster, 1).role(), Role::Follower);
    }
    raft(&mut cluster, 1)
        .campaign()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(raft(&mut cluster, 1).role(), Role::Follower);
}

#[test]
fn a_follower_under_repair_ignores_timeout_now() {
    let mut cluster = elected_group();
    // Its log is up to date, but short of the repair point: the leader's
    // TimeoutNow goes out, and node 2 must not campaign.
    raft(&mut cluster, 2).begin_repair(100);
    cluster
        .transfer_leadership(1, 2)
        .unwrap_or_else(|e| panic!("{e}"));
    let rounds = cluster.stabilize(100).unwrap_or_else(|e| panic!("{e}"));
    let timeout_now_sent = rounds.iter().any(|round| {
        round.deliveries.iter().any(|delivery| {
            matches!(delivery, ordo_sim::cluster::Delivery::Delivered(m)
                if m.to == 2 && matches!(m.body, ordo_core::MessageBody::TimeoutNow))
        })
    });
    assert!(timeout_now_sent, "the leader handed over");
    assert_eq!(raft(&mut cluster, 2).role(), Role::Follower);
    assert_eq!(raft(&mut cluster, 1).role(), Role::Leader);
    assert_eq!(raft(&mut cluster, 2).status().term, 1);
}

#[test]
fn a_repair_point_the_log_already_reaches_clears_at_once() {
    let mut cluster = elected_group();
    let follower = raft(&mut cluster, 2);
    let durable = follower.status().durable_index;
    follower.begin_repair(durable);
    assert_eq!(follower.status().repair_point, None);
    let events = follower
        .take_actions()
        .unwrap_or_else(|e| panic!("{e}"))
        .events;
    assert_eq!(events, vec![Event::RepairFinished { through: durable }]);
}
