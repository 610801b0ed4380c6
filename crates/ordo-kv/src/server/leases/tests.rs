//! The keeper's rules against a scripted node, in tokio's paused time
//! (time moves only when the test sleeps, so deadlines are exact).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ordo::{RaftError, Term};

use super::*;
use crate::store::{CheckpointStamp, LeaseCheckpoint, LeaseInfo, LeaseTime};

/// A node whose role, leases and answers the test sets.
#[derive(Debug, Default)]
struct Script {
    /// The term it leads; `None`: a follower.
    leading: Option<Term>,
    /// Whether a read can prove leadership (false: a deposed leader that
    /// has not noticed, whose reads time out).
    can_confirm: bool,
    /// Step down (to a follower) while a read is being served.
    deposed_during_read: bool,
    /// The applied leases, `id → ttl`.
    leases: BTreeMap<i64, i64>,
    /// Revokes proposed, in order.
    revokes: Vec<i64>,
    /// Whether revokes fail (not applied).
    revokes_fail: bool,
    /// The recorded remaining times `id → (ms, stamp)`, by the store's rule.
    recorded: BTreeMap<i64, (u64, CheckpointStamp)>,
    /// Checkpoints proposed, in order.
    checkpoints: Vec<LeaseCheckpoint>,
    /// Whether checkpoints fail (not applied).
    checkpoints_fail: bool,
}

#[derive(Debug, Default)]
struct ScriptedNode(Mutex<Script>);

impl ScriptedNode {
    fn script(&self) -> std::sync::MutexGuard<'_, Script> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl LeaseHost for Arc<ScriptedNode> {
    fn leadership(&self) -> Leadership {
        match self.script().leading {
            Some(term) => Leadership::Leading(term),
            None => Leadership::NotLeading(RaftError::NotLeader { leader: None }),
        }
    }

    async fn applied_leases(&self) -> Result<Vec<LeaseTime>, RaftError> {
        let script = self.script();
        Ok(script
            .leases
            .iter()
            .map(|(&id, &ttl_seconds)| LeaseTime {
                id,
                ttl_seconds,
                remaining_ms: script.recorded.get(&id).map(|&(ms, _)| ms),
                stamp: script.recorded.get(&id).map(|&(_, stamp)| stamp),
            })
            .collect())
    }

    async fn checkpoint(&self, checkpoint: LeaseCheckpoint) -> Result<(), RaftError> {
        let mut script = self.script();
        script.checkpoints.push(checkpoint.clone());
        if script.checkpoints_fail {
            return Err(RaftError::Timeout);
        }
        for lease in &checkpoint.leases {
            let held = script.recorded.get(&lease.id).map(|&(_, stamp)| stamp);
            if held.is_none_or(|held| held < checkpoint.stamp) {
                let record = (lease.remaining_ms, checkpoint.stamp);
                script.recorded.insert(lease.id, record);
            }
        }
        Ok(())
    }

    async fn confirmed_lease(&self, id: i64) -> Result<Option<LeaseInfo>, RaftError> {
        let mut script = self.script();
        if !script.can_confirm {
            return Err(RaftError::Timeout);
        }
        if script.deposed_during_read {
            script.leading = None;
        }
        Ok(script.leases.get(&id).map(|&ttl| LeaseInfo {
            id,
            ttl,
            keys: Vec::new(),
        }))
    }

    async fn revoke(&self, id: i64) -> Result<Revoked, RaftError> {
        let mut script = self.script();
        script.revokes.push(id);
        if script.revokes_fail {
            return Err(RaftError::NotLeader { leader: None });
        }
        Ok(match script.leases.remove(&id) {
            Some(_) => Revoked::Now { revision: 7 },
            None => Revoked::AlreadyGone,
        })
    }
}

const TERM: Term = 4;

fn leader_with(leases: &[(i64, i64)]) -> (Arc<ScriptedNode>, Arc<LeaseKeeper<Arc<ScriptedNode>>>) {
    let node = Arc::new(ScriptedNode::default());
    {
        let mut script = node.script();
        script.leading = Some(TERM);
        script.can_confirm = true;
        script.leases = leases.iter().copied().collect();
    }
    let rules = LeaseRules { min_ttl_seconds: 1 };
    let keeper = Arc::new(LeaseKeeper::new(Arc::clone(&node), rules));
    (node, keeper)
}

/// Lets time pass in steps of a tick, ticking the keeper as the ticker
/// task would, and lets the revokes it spawned run.
async fn run_for(keeper: &Arc<LeaseKeeper<Arc<ScriptedNode>>>, duration: Duration) {
    let mut elapsed = Duration::ZERO;
    while elapsed < duration {
        keeper.tick().await;
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(LEASE_TICK).await;
        elapsed += LEASE_TICK;
    }
}

#[tokio::test(start_paused = true)]
async fn keepalives_push_the_deadline() {
    let (node, keeper) = leader_with(&[(1, 2)]);
    run_for(&keeper, Duration::from_millis(1500)).await;
    assert_eq!(keeper.keep_alive(1).await.unwrap(), Some(2));
    run_for(&keeper, Duration::from_millis(1500)).await;
    assert_eq!(keeper.keep_alive(1).await.unwrap(), Some(2));
    run_for(&keeper, Duration::from_millis(1500)).await;
    assert!(
        node.script().revokes.is_empty(),
        "kept alive: never revoked"
    );
    assert_eq!(
        keeper
            .time_to_live(1)
            .await
            .unwrap()
            .unwrap()
            .remaining_seconds,
        1
    );
    assert_eq!(keeper.keepalives_total(), 2);
    run_for(&keeper, Duration::from_millis(1000)).await;
    assert_eq!(
        node.script().revokes,
        vec![1],
        "no keepalive for its ttl: revoked"
    );
}

#[tokio::test(start_paused = true)]
async fn expiry_proposes_exactly_one_revoke() {
    let (node, keeper) = leader_with(&[(1, 1), (2, 30)]);
    run_for(&keeper, Duration::from_secs(5)).await;
    assert_eq!(node.script().revokes, vec![1]);
    assert_eq!(keeper.expired_total(), 1);
    assert_eq!(keeper.keep_alive(1).await.unwrap(), None, "gone");
}

#[tokio::test(start_paused = true)]
async fn a_failed_revoke_is_retried_while_leading_and_an_expired_lease_stays_dead() {
    let (node, keeper) = leader_with(&[(1, 1)]);
    node.script().revokes_fail = true;
    run_for(&keeper, Duration::from_millis(1600)).await;
    let attempts = node.script().revokes.len();
    assert!(attempts >= 2, "retried on later ticks: {attempts}");
    assert_eq!(
        keeper.keep_alive(1).await.unwrap(),
        None,
        "expired is final"
    );
    node.script().revokes_fail = false;
    run_for(&keeper, Duration::from_millis(500)).await;
    assert!(node.script().leases.is_empty());
    assert_eq!(keeper.expired_total(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_lease_someone_else_revoked_is_dropped() {
    let (node, keeper) = leader_with(&[(1, 1)]);
    run_for(&keeper, Duration::from_millis(500)).await;
    node.script().revokes_fail = false;
    // Revoked through the API after the clock saw it, before it expired.
    node.script().leases.clear();
    run_for(&keeper, Duration::from_secs(3)).await;
    assert!(node.script().revokes.is_empty(), "reconcile dropped it");
    assert_eq!(keeper.expired_total(), 0);
}

#[tokio::test(start_paused = true)]
async fn becoming_leader_restarts_full_ttls() {
    let (node, keeper) = leader_with(&[(1, 3)]);
    node.script().leading = None;
    // A follower for 2.5 s: the lease was kept alive elsewhere, or not; this
    // node cannot know, so as a new leader it gives it a full ttl.
    run_for(&keeper, Duration::from_millis(2500)).await;
    node.script().leading = Some(TERM + 1);
    run_for(&keeper, Duration::from_millis(2500)).await;
    assert!(node.script().revokes.is_empty(), "expired early");
    let left = keeper.time_to_live(1).await.unwrap().unwrap();
    assert_eq!(left.remaining_seconds, 1);
    run_for(&keeper, Duration::from_secs(1)).await;
    assert_eq!(node.script().revokes, vec![1]);
}

#[tokio::test(start_paused = true)]
async fn losing_leadership_forgets_every_deadline() {
    let (node, keeper) = leader_with(&[(1, 2)]);
    run_for(&keeper, Duration::from_millis(1500)).await;
    node.script().leading = None;
    run_for(&keeper, Duration::from_millis(250)).await;
    node.script().leading = Some(TERM + 2);
    run_for(&keeper, Duration::from_millis(1500)).await;
    assert!(node.script().revokes.is_empty(), "an old deadline survived");
}

#[tokio::test(start_paused = true)]
async fn reconcile_picks_up_leases_granted_by_the_previous_leader() {
    let (node, keeper) = leader_with(&[]);
    run_for(&keeper, Duration::from_millis(500)).await;
    // Granted by the previous leader, applied here only now.
    node.script().leases.insert(9, 2);
    run_for(&keeper, Duration::from_millis(1500)).await;
    let left = keeper.time_to_live(9).await.unwrap().unwrap();
    assert_eq!((left.info.ttl, left.remaining_seconds), (2, 1));
    run_for(&keeper, Duration::from_millis(1000)).await;
    assert_eq!(node.script().revokes, vec![9]);
}

#[tokio::test(start_paused = true)]
async fn a_keepalive_needs_proven_leadership() {
    let (node, keeper) = leader_with(&[(1, 5)]);
    keeper.tick().await;
    // A deposed leader that has not noticed: its read cannot be confirmed.
    node.script().can_confirm = false;
    assert!(matches!(
        keeper.keep_alive(1).await,
        Err(RaftError::Timeout)
    ));
    // Deposed while the read was served (a follower's read goes through
    // the new leader and succeeds): still no success.
    node.script().can_confirm = true;
    node.script().deposed_during_read = true;
    assert!(matches!(
        keeper.keep_alive(1).await,
        Err(RaftError::LeadershipChanged)
    ));
    // A follower answers with the redirect.
    assert!(matches!(
        keeper.keep_alive(1).await,
        Err(RaftError::NotLeader { .. })
    ));
    assert_eq!(keeper.keepalives_total(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_keepalive_for_an_unknown_lease_is_none() {
    let (_node, keeper) = leader_with(&[(1, 5)]);
    assert_eq!(keeper.keep_alive(2).await.unwrap(), None);
    assert!(keeper.time_to_live(2).await.unwrap().is_none());
}

/// A leader checkpointing every `interval`.
fn checkpointing_leader_with(
    leases: &[(i64, i64)],
    interval: Duration,
) -> (Arc<ScriptedNode>, Arc<LeaseKeeper<Arc<ScriptedNode>>>) {
    let (node, _) = leader_with(leases);
    let rules = LeaseRules { min_ttl_seconds: 1 };
    let keeper = LeaseKeeper::new(Arc::clone(&node), rules).with_checkpoint_interval(interval);
    (node, Arc::new(keeper))
}

#[tokio::test(start_paused = true)]
async fn a_new_leader_starts_a_lease_from_its_last_checkpoint() {
    let (node, keeper) = checkpointing_leader_with(&[(1, 20)], Duration::from_secs(2));
    run_for(&keeper, Duration::from_secs(15)).await;
    let recorded = node.script().recorded.get(&1).map(|&(ms, _)| ms);
    assert!(
        recorded.is_some_and(|ms| (5_000..=7_000).contains(&ms)),
        "checkpointed every 2 s: {recorded:?} ms left recorded"
    );
    // A leader change: this node leads again in a later term, its clock
    // gone, as a new leader's would be.
    node.script().leading = None;
    run_for(&keeper, Duration::from_millis(250)).await;
    node.script().leading = Some(TERM + 1);
    run_for(&keeper, Duration::from_millis(5000)).await;
    assert!(node.script().revokes.is_empty(), "expired before its time");
    run_for(&keeper, Duration::from_millis(2500)).await;
    assert_eq!(
        node.script().revokes,
        vec![1],
        "about 5 s after the leader change, not a full ttl (20 s)"
    );
}

#[tokio::test(start_paused = true)]
async fn a_lease_never_checkpointed_still_gets_its_full_ttl_and_short_gains_are_skipped() {
    let (node, keeper) = checkpointing_leader_with(&[(1, 20)], Duration::from_secs(60));
    run_for(&keeper, Duration::from_secs(15)).await;
    assert!(node.script().checkpoints.is_empty(), "not due before 60 s");
    node.script().leading = Some(TERM + 1);
    run_for(&keeper, Duration::from_secs(19)).await;
    assert!(node.script().revokes.is_empty(), "a full ttl again");
}

#[tokio::test(start_paused = true)]
async fn a_keepalive_after_a_checkpoint_is_recorded_before_it_is_answered() {
    let (node, keeper) = checkpointing_leader_with(&[(1, 20)], Duration::from_secs(2));
    run_for(&keeper, Duration::from_secs(5)).await;
    let checkpoints = node.script().checkpoints.len();
    assert!(checkpoints >= 1);
    // The record fails: the keepalive is not answered as a success.
    node.script().checkpoints_fail = true;
    assert!(matches!(
        keeper.keep_alive(1).await,
        Err(RaftError::Timeout)
    ));
    node.script().checkpoints_fail = false;
    assert_eq!(keeper.keep_alive(1).await.unwrap(), Some(20));
    let recorded = node.script().recorded.get(&1).map(|&(ms, _)| ms);
    assert_eq!(recorded, Some(20_000), "the renewal recorded in full");
    // Recorded in full: the next keepalive proposes nothing.
    let proposed = node.script().checkpoints.len();
    assert_eq!(keeper.keep_alive(1).await.unwrap(), Some(20));
    assert_eq!(node.script().checkpoints.len(), proposed);
    // A new leader now starts it from its full ttl.
    node.script().leading = Some(TERM + 1);
    run_for(&keeper, Duration::from_millis(19_000)).await;
    assert!(
        node.script().revokes.is_empty(),
        "the renewal was forgotten"
    );
}

#[tokio::test(start_paused = true)]
async fn checkpoint_now_records_what_every_lease_has_left() {
    let (node, keeper) = checkpointing_leader_with(&[(1, 20), (2, 100)], Duration::from_secs(300));
    run_for(&keeper, Duration::from_secs(3)).await;
    keeper.checkpoint_now().await.unwrap();
    let recorded: Vec<(i64, u64)> = node
        .script()
        .recorded
        .iter()
        .map(|(&id, &(ms, _))| (id, ms))
        .collect();
    assert_eq!(recorded, vec![(1, 17_000), (2, 97_000)]);
    assert_eq!(keeper.checkpointed_total(), 2);
}

#[test]
fn the_metrics_page_names_the_lease_series() {
    let (_node, keeper) = leader_with(&[]);
    let mut page = String::new();
    keeper.render_metrics(&mut page);
    for line in [
        "ordo_lease_expired_total 0\n",
        "ordo_lease_keepalives_total 0\n",
        "ordo_lease_checkpointed_total 0\n",
    ] {
        assert!(page.contains(line), "{line:?} in {page}");
    }
}
