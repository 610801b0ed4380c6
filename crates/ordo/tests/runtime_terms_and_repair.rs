//! Forged terms and storage that lost acknowledged entries, on real nodes
//! (issue 11): a forged message at or near the term cap does not stop the
//! group from electing leaders, and a node whose store reports a repair
//! point withholds its vote until a leader has copied its log back past it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod runtime_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ordo::storage::{Durable, LogStore, MemLogStore, StorageError};
use ordo::transport::Transport;
use ordo::{HardState, Index, NodeId, RaftConfig, Term};
use ordo_core::{Entry, Heartbeat, LogRead, LogReadError, Message, MessageBody, Persist};
use runtime_support::{Cluster, Kv, config, set, wait_until, wait_until_async};

/// A node id no member has: the forger.
const FORGER: NodeId = 9;

fn forged_heartbeat(to: NodeId, term: Term) -> Message {
    Message {
        from: FORGER,
        to,
        term,
        body: MessageBody::Heartbeat(Heartbeat {
            commit: 0,
            round: 0,
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_terms_at_and_near_the_cap_do_not_stop_elections() {
    let mut cluster = Cluster::start(3).await;
    let mut leader = cluster.leader().await;
    let forger = cluster.network.transport(FORGER);
    for id in 1..=3 {
        // The cap (2^62), three below it (which wedged the group after
        // three leader changes), and 2^32+1 above the node's own term.
        for term in [1 << 62, (1 << 62) - 3, (1 << 32) + 100] {
            forger.send(forged_heartbeat(id, term));
        }
    }
    for id in 1..=3 {
        let node = cluster.node(id).clone();
        wait_until_async("the forged messages are refused", || {
            let node = node.clone();
            async move {
                let status = node.status().await.ok()?;
                (status.metrics.refused_term_messages == 3).then_some(())
            }
        })
        .await;
    }
    // Three leader changes, each followed by a committed write.
    for round in 0..3u64 {
        let target = cluster.follower_of(leader);
        cluster
            .node(leader)
            .transfer_leadership(target)
            .await
            .expect("the transfer starts");
        leader = wait_until("the target leads", || {
            cluster.node(target).is_leader().then_some(target)
        })
        .await;
        cluster.propose(set("k", round)).await;
    }
    for id in 1..=3 {
        let status = cluster.node(id).status().await.unwrap();
        assert!(
            status.term < 100,
            "node {id} adopted a forged term: {}",
            status.term
        );
        assert_eq!(status.metrics.refused_term_messages, 3);
    }
    cluster.stop_all().await;
}

/// A log store whose repair point is set from the start, as if recovery had
/// cut acknowledged records; it records that the node cleared it.
struct Repairing {
    inner: MemLogStore,
    point: std::sync::Mutex<Option<Index>>,
    cleared: AtomicBool,
}

impl LogRead for Repairing {
    fn first_index(&self) -> Index {
        self.inner.first_index()
    }
    fn last_index(&self) -> Index {
        self.inner.last_index()
    }
    fn term(&self, index: Index) -> Result<Term, LogReadError> {
        self.inner.term(index)
    }
    fn entries(&self, low: Index, high: Index, max_bytes: u64) -> Result<Vec<Entry>, LogReadError> {
        self.inner.entries(low, high, max_bytes)
    }
}

impl LogStore for Repairing {
    fn compact(&self, through: Index) -> Result<(), StorageError> {
        self.inner.compact(through)
    }
    fn reset(&self, index: Index, term: Term) -> Result<(), StorageError> {
        self.inner.reset(index, term)
    }
    fn save_hard_state(&self, hard_state: HardState) -> Result<(), StorageError> {
        self.inner.save_hard_state(hard_state)
    }
    fn hard_state(&self) -> HardState {
        self.inner.hard_state()
    }
    fn write(&self, persist: Persist) -> Result<(), StorageError> {
        self.inner.write(persist)
    }
    fn sync(&self) -> Result<Durable, StorageError> {
        self.inner.sync()
    }
    fn writes_never_block(&self) -> bool {
        self.inner.writes_never_block()
    }
    fn repair_point(&self) -> Option<Index> {
        *self.point.lock().unwrap()
    }
    fn clear_repair_point(&self) -> Result<(), StorageError> {
        *self.point.lock().unwrap() = None;
        self.cleared.store(true, Ordering::SeqCst);
        Ok(())
    }
}

/// True if no node leads during all of `period`.
async fn no_leader_for(cluster: &Cluster, period: Duration) -> bool {
    let until = Instant::now() + period;
    while Instant::now() < until {
        if cluster.nodes.values().any(|node| node.is_leader()) {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_under_repair_votes_only_once_its_log_is_back() {
    const REPAIR_POINT: Index = 20;
    let ids = [1, 2, 3];
    let mut cluster = Cluster {
        network: ordo::transport::InProcessNetwork::new(),
        ids: ids.to_vec(),
        nodes: Default::default(),
    };
    let stores: Vec<Arc<MemLogStore>> = (0..2).map(|_| Arc::new(MemLogStore::new())).collect();
    // No handoff when the leader stops: the stopping leader would still
    // vote for the node it hands over to (correctly: it holds every entry),
    // and this test pins that node 3's vote alone is withheld.
    let no_handoff = |id| RaftConfig {
        stop_handoff_timeout: Duration::ZERO,
        ..config(id, &ids)
    };
    for (id, store) in [1, 2].into_iter().zip(&stores) {
        cluster
            .start_node(no_handoff(id), Kv::default(), Arc::clone(store))
            .await;
    }
    let repairing = Arc::new(Repairing {
        inner: MemLogStore::new(),
        point: std::sync::Mutex::new(Some(REPAIR_POINT)),
        cleared: AtomicBool::new(false),
    });
    cluster
        .start_node(config(3, &ids), Kv::default(), Arc::clone(&repairing))
        .await;
    let status = cluster.node(3).status().await.unwrap();
    assert_eq!(status.repair_point, Some(REPAIR_POINT));

    // Nodes 1 and 2 elect one of them; node 3 follows but never campaigns.
    let leader = cluster.leader().await;
    assert_ne!(leader, 3);
    for value in 0..5 {
        cluster.propose(set("k", value)).await;
    }
    // With the other healthy node down, the survivor needs node 3's vote,
    // which it withholds: its log (about 7 entries) is short of 20.
    let other = if leader == 1 { 2 } else { 1 };
    cluster.stop_node(leader).await;
    assert!(
        no_leader_for(&cluster, Duration::from_millis(1500)).await,
        "node 3 voted (or campaigned) while under repair"
    );
    let status = cluster.node(3).status().await.unwrap();
    assert_eq!(status.repair_point, Some(REPAIR_POINT));
    assert_eq!(status.metrics.elections_started, 0);

    // The old leader returns: 1 and 2 elect a leader, and its writes take
    // node 3's log past the repair point, which the store then forgets.
    cluster
        .start_node(
            config(leader, &ids),
            Kv::default(),
            Arc::clone(&stores[(leader - 1) as usize]),
        )
        .await;
    for value in 0..20 {
        cluster.propose(set("k", value)).await;
    }
    let node3 = cluster.node(3).clone();
    wait_until_async("node 3's repair finishes", || {
        let node3 = node3.clone();
        async move {
            let status = node3.status().await.ok()?;
            status.repair_point.is_none().then_some(())
        }
    })
    .await;
    wait_until("the store forgets its repair point", || {
        repairing.cleared.load(Ordering::SeqCst).then_some(())
    })
    .await;

    // Now node 3 votes: with `other` down, the remaining two elect a leader.
    cluster.stop_node(other).await;
    let survivor = wait_until("a leader among the two left", || {
        cluster
            .nodes
            .values()
            .find(|node| node.is_leader())
            .map(|node| node.id())
    })
    .await;
    assert_ne!(survivor, other);
    cluster.propose(set("k", 99)).await;
    cluster.stop_all().await;
}
