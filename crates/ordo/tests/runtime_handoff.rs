//! A leader stopped gracefully hands leadership over first (issue 11).
//!
//! The groups here have election timeouts of 10–12 s and elect their first
//! leader by an explicit `campaign`, so no election can happen by itself
//! within the first 10 s after the last heartbeat. A new leader that appears
//! well within that window was therefore handed leadership (TimeoutNow), not
//! elected after a timeout: the tests assert on that mechanism, not on how
//! fast this loaded machine is.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod runtime_support;

use std::time::{Duration, Instant};

use ordo::{NodeId, RaftConfig, Role};
use runtime_support::{Cluster, eventually_within, set};

/// No election starts by itself sooner than this after a leader falls silent.
const ELECTION_TIMEOUT_MIN: Duration = Duration::from_secs(10);
/// How long a stopping leader waits for another to take over. Short enough
/// that the last leader of a test's group (which nobody can take over from)
/// stops in bounded time, long enough that a stop that waited for it shows.
const STOP_HANDOFF_TIMEOUT: Duration = Duration::from_secs(4);
/// Well within `ELECTION_TIMEOUT_MIN`: what a handoff may take here, however
/// loaded the machine.
const HANDOFF_PATIENCE: Duration = Duration::from_secs(5);
/// Well below `STOP_HANDOFF_TIMEOUT`: a stop with nothing to hand over.
const QUICK_STOP: Duration = Duration::from_secs(2);

fn slow_elections(config: &mut RaftConfig) {
    config.election_timeout_min = ELECTION_TIMEOUT_MIN;
    config.election_timeout_max = ELECTION_TIMEOUT_MIN + Duration::from_secs(2);
    config.stop_handoff_timeout = STOP_HANDOFF_TIMEOUT;
}

/// A group of `size` with slow elections, node 1 elected by campaigning.
async fn group_led_by_node_1(size: u64) -> Cluster {
    let cluster = Cluster::start_with(size, slow_elections).await;
    cluster.node(1).campaign().await.unwrap();
    assert_eq!(cluster.leader().await, 1);
    cluster
}

/// Waits (at most `within`) until every node in `ids` names the same leader
/// other than `old`, and returns it.
async fn new_leader_known_by(
    cluster: &Cluster,
    ids: &[NodeId],
    old: NodeId,
    within: Duration,
) -> NodeId {
    let what = format!(
        "a new leader known to nodes {ids:?} (elections need {ELECTION_TIMEOUT_MIN:?}: \
         none means the leader did not hand over)"
    );
    eventually_within(&what, within, || {
        let named: Vec<Option<NodeId>> =
            ids.iter().map(|&id| cluster.node(id).leader_id()).collect();
        let agreed = match named.first() {
            Some(&Some(leader)) if leader != old && named.iter().all(|n| *n == Some(leader)) => {
                Ok(leader)
            }
            _ => Err(format!("leaders named: {named:?}")),
        };
        std::future::ready(agreed)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_leader_hands_over_long_before_any_election_could_start() {
    let mut cluster = group_led_by_node_1(3).await;
    for value in 0..10 {
        cluster.propose(set("before", value)).await;
    }
    let old_term = cluster.node(1).soft_state().term;

    let asked = Instant::now();
    cluster.stop_node(1).await;
    let stopped_after = asked.elapsed();
    let remaining = HANDOFF_PATIENCE.saturating_sub(stopped_after);
    let new_leader = new_leader_known_by(&cluster, &[2, 3], 1, remaining).await;
    assert!(
        stopped_after < HANDOFF_PATIENCE,
        "stop took {stopped_after:?}"
    );
    let taken_over = cluster.node(new_leader).soft_state();
    assert_eq!(taken_over.role, Role::Leader);
    // TimeoutNow skips pre-vote: exactly one new term, no failed rounds.
    assert_eq!(taken_over.term, old_term + 1);
    // The new leader has every write and takes new ones.
    cluster.propose(set("after", 1)).await;
    cluster.converged(11).await;
    cluster.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_a_follower_or_a_lone_node_does_not_wait_for_a_handoff() {
    let mut cluster = group_led_by_node_1(3).await;
    cluster.propose(set("k", 1)).await;
    let asked = Instant::now();
    cluster.stop_node(3).await;
    let took = asked.elapsed();
    // A follower has nothing to hand over: were it to wait for one, it would
    // wait the whole handoff timeout.
    assert!(took < QUICK_STOP, "a follower took {took:?} to stop");
    assert!(
        cluster.node(1).is_leader(),
        "stopping a follower moved leadership"
    );
    cluster.stop_all().await;

    let mut alone = group_led_by_node_1(1).await;
    alone.propose(set("k", 1)).await;
    let asked = Instant::now();
    alone.stop_node(1).await;
    let took = asked.elapsed();
    assert!(took < QUICK_STOP, "a group of one took {took:?} to stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_nobody_can_take_over_from_stops_after_its_handoff_timeout() {
    let mut cluster = Cluster::start_with(3, |config| {
        slow_elections(config);
        config.stop_handoff_timeout = Duration::from_millis(500);
    })
    .await;
    cluster.node(1).campaign().await.unwrap();
    assert_eq!(cluster.leader().await, 1);
    cluster.propose(set("k", 1)).await;
    cluster.stop_node(2).await;
    cluster.stop_node(3).await;
    let asked = Instant::now();
    cluster.stop_node(1).await;
    let took = asked.elapsed();
    assert!(took < HANDOFF_PATIENCE, "the stop took {took:?}");
}
