//! Addresses of members added at run time reach every node (through the
//! log, and through snapshots once the log is compacted), so any node can
//! redirect to a leader that joined after it started.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod runtime_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use ordo::storage::{MemLogStore, SnapshotStore};
use ordo::transport::InProcessNetwork;
use ordo::{Event, NodeId, RaftConfig, RaftError, RaftNode};
use runtime_support::{Answer, Cluster, Kv, add, address, config, get, set, wait_until};

type Stores = BTreeMap<NodeId, Arc<MemLogStore>>;

/// A 3-node group on in-memory logs it keeps (to restart nodes on), with a
/// snapshot store per node in `snapshots` if given.
async fn group(snapshots: Option<&Path>) -> (Cluster, Stores) {
    let mut cluster = Cluster {
        network: InProcessNetwork::new(),
        ids: vec![1, 2, 3],
        nodes: BTreeMap::new(),
    };
    let mut stores = Stores::new();
    for id in 1..=3 {
        let store = Arc::new(MemLogStore::new());
        stores.insert(id, Arc::clone(&store));
        start(&mut cluster, config(id, &[1, 2, 3]), store, snapshots).await;
    }
    (cluster, stores)
}

fn snapshotting(config: RaftConfig) -> RaftConfig {
    RaftConfig {
        snapshot_threshold_entries: 20,
        log_retention_entries: 5,
        ..config
    }
}

async fn start(
    cluster: &mut Cluster,
    config: RaftConfig,
    store: Arc<MemLogStore>,
    snapshots: Option<&Path>,
) -> RaftNode<Kv> {
    let id = config.node_id;
    let transport = cluster.network.transport(id);
    let node = match snapshots {
        None => RaftNode::new(config, Kv::default(), store, transport).unwrap(),
        Some(dir) => {
            let store_dir = dir.join(format!("snapshots-{id}"));
            RaftNode::builder(snapshotting(config), Kv::default(), store, transport)
                .snapshot_store(SnapshotStore::open(store_dir).unwrap())
                .build()
                .unwrap()
        }
    };
    node.start().await.unwrap();
    cluster.nodes.insert(id, node.clone());
    node
}

/// The redirect `node` answers a proposal with.
async fn redirect(node: &RaftNode<Kv>) -> Option<(NodeId, String)> {
    match node.propose(set("x", 1)).await {
        Err(RaftError::NotLeader { leader }) => leader,
        other => panic!("node {} must redirect: {other:?}", node.id()),
    }
}

async fn transfer_to(cluster: &Cluster, target: NodeId) {
    cluster
        .change("transfer", |leader| async move {
            leader.transfer_leadership(target).await
        })
        .await;
    wait_until("the target to lead", || {
        cluster.node(target).is_leader().then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_redirects_to_a_leader_added_at_run_time() {
    let (mut cluster, mut stores) = group(None).await;
    cluster.propose(set("a", 1)).await;
    let store = Arc::new(MemLogStore::new());
    stores.insert(4, Arc::clone(&store));
    cluster.join(4, store).await;
    // Every node learned where 4 is, not only the one it was added through.
    for node in cluster.nodes.values() {
        wait_until("the address to spread", || {
            (node.addresses().get(&4) == Some(&address(4))).then_some(())
        })
        .await;
    }
    transfer_to(&cluster, 4).await;
    assert_eq!(cluster.leader().await, 4);
    for id in [1, 2, 3] {
        let node = cluster.node(id).clone();
        wait_until("the node to know the new leader", || {
            (node.leader_id() == Some(4)).then_some(())
        })
        .await;
        assert_eq!(redirect(&node).await, Some((4, address(4))), "node {id}");
    }

    // A restarted node knows the address from its log before it hears from
    // anyone.
    let restarted = 1;
    cluster.stop_node(restarted).await;
    cluster.network.isolate(restarted);
    let store = Arc::clone(&stores[&restarted]);
    let node = start(&mut cluster, config(restarted, &[1, 2, 3]), store, None).await;
    assert_eq!(node.addresses().get(&4), Some(&address(4)));
    cluster.network.heal();
    cluster.propose(set("a", 2)).await;
    cluster.converged(2).await;
    cluster.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_down_while_the_group_changed_follows_the_new_leader() {
    let (mut cluster, stores) = group(None).await;
    cluster.propose(set("a", 1)).await;
    let leader = cluster.leader().await;
    let away = cluster.follower_of(leader);
    cluster.stop_node(away).await;
    cluster.join(4, Arc::new(MemLogStore::new())).await;
    transfer_to(&cluster, 4).await;
    cluster.propose(set("a", 2)).await;

    // Its configuration and log know nothing of node 4, which now leads.
    let store = Arc::clone(&stores[&away]);
    let node = start(&mut cluster, config(away, &[1, 2, 3]), store, None).await;
    cluster.converged(2).await;
    wait_until("the returning node to follow 4", || {
        (node.leader_id() == Some(4)).then_some(())
    })
    .await;
    assert_eq!(redirect(&node).await, Some((4, address(4))));
    cluster.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addresses_outlive_log_compaction_in_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let (mut cluster, stores) = group(Some(dir.path())).await;
    let leader = cluster.leader().await;
    let lagging = cluster.follower_of(leader);
    let mut lagging_events = cluster.node(lagging).events();
    cluster.network.isolate(lagging);
    let store = Arc::new(MemLogStore::new());
    let joining = snapshotting(runtime_support::joining(4, &[1, 2, 3]));
    let new = start(&mut cluster, joining, store, Some(dir.path())).await;
    cluster
        .change("add learner", |leader| async move {
            leader.add_learner(4, address(4)).await
        })
        .await;
    // Far past the entry that carried the address: it is compacted away.
    for i in 0..60 {
        cluster.propose(add("n", i)).await;
    }
    let status = cluster.node(leader).status().await.unwrap();
    assert!(status.commit_index > 60);

    // The isolated node catches up from a snapshot, and learns from it.
    cluster.network.heal();
    cluster.converged(60).await;
    let mut installed = false;
    while let Some(event) = lagging_events.try_recv().unwrap() {
        installed |= matches!(event, Event::SnapshotInstalled { .. });
    }
    assert!(installed, "node {lagging} caught up from a snapshot");
    assert_eq!(cluster.node(lagging).addresses().get(&4), Some(&address(4)));

    // A node restarted after the compaction finds it in its own snapshot.
    let other = *cluster
        .nodes
        .keys()
        .find(|&&id| id != leader && id != lagging && id != 4)
        .unwrap();
    cluster.stop_node(other).await;
    cluster.network.isolate(other);
    let store = Arc::clone(&stores[&other]);
    let restarted = start(
        &mut cluster,
        config(other, &[1, 2, 3]),
        store,
        Some(dir.path()),
    )
    .await;
    assert_eq!(restarted.addresses().get(&4), Some(&address(4)));
    cluster.network.heal();
    let answer = new.read_index(get("n")).await.unwrap();
    assert_eq!(answer, Answer::Value(Some((0..60).sum())));
    cluster.stop_all().await;
}

/// Each node knows only its own address (as when a server is started with
/// its peers' node addresses, not their client ones): the leader logs its
/// own, so every follower can redirect to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_logs_its_own_address() {
    let cluster = Cluster::start_with(3, |config| {
        for peer in &mut config.peers {
            peer.address = String::new();
        }
    })
    .await;
    let leader = cluster.leader().await;
    for &id in &cluster.ids {
        let node = cluster.node(id);
        wait_until("the leader's address to spread", || {
            (node.addresses().get(&leader) == Some(&address(leader))).then_some(())
        })
        .await;
        if id != leader {
            assert_eq!(redirect(node).await, Some((leader, address(leader))));
        }
    }
    // After a transfer, the new leader announces itself too.
    let next = cluster.follower_of(leader);
    transfer_to(&cluster, next).await;
    for &id in &cluster.ids {
        let node = cluster.node(id);
        wait_until("the new leader's address to spread", || {
            (node.addresses().get(&next) == Some(&address(next))).then_some(())
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_address_reaches_every_node_and_is_refused_off_the_leader() {
    let (cluster, _stores) = group(None).await;
    let leader = cluster.leader().await;
    let follower = cluster.follower_of(leader);
    cluster
        .change("set an address", |leader| async move {
            leader.set_address(follower, "moved:9000").await
        })
        .await;
    for node in cluster.nodes.values() {
        wait_until("the moved address to spread", || {
            (node.addresses().get(&follower).map(String::as_str) == Some("moved:9000"))
                .then_some(())
        })
        .await;
    }
    match cluster.node(follower).set_address(follower, "x:1").await {
        Err(RaftError::NotLeader { .. }) => {}
        other => panic!("a follower must refuse set_address: {other:?}"),
    }
    match cluster.node(leader).set_address(99, "x:1").await {
        Err(RaftError::InvalidMembershipChange(_)) => {}
        other => panic!("a stranger's address must be refused: {other:?}"),
    }
}
