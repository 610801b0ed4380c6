//! Addresses of members added at run time reach every node (through the
//! log, and through snapshots once the log is compacted), so any node can
//! redirect to a leader that joined after it started; they are learned when
//! applied, never when appended; and the transport hears of every member
//! that joins, moves or leaves (`runtime/addresses.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod runtime_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use ordo::storage::{MemLogStore, SnapshotStore};
use ordo::transport::{
    InProcessNetwork, InProcessTransport, Inbox, Message, Transport, TransportError,
};
use ordo::{Event, MemberInfo, NodeId, RaftConfig, RaftError, RaftNode};
use runtime_support::{Answer, Cluster, Kv, add, address, config, get, set, wait_until};

type Stores = BTreeMap<NodeId, Arc<MemLogStore>>;

/// A 3-node group on in-memory logs it keeps (to restart nodes on), with a
/// snapshot store per node in `snapshots` if given.
async fn group(snapshots: Option<&Path>) -> (Cluster, Stores) {
    let mut cluster = no_nodes_yet(&[1, 2, 3]);
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

/// The client address `node` knows for `id`.
fn client_address(node: &RaftNode<Kv>, id: NodeId) -> Option<String> {
    node.member_infos().remove(&id).map(|info| info.address)
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
            (client_address(node, 4) == Some(address(4))).then_some(())
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

    // A restarted node learns the address again as it applies its log, once
    // a leader tells it what is committed: not before (its log after the
    // last snapshot could hold entries a leader will replace).
    let restarted = 1;
    cluster.stop_node(restarted).await;
    cluster.network.isolate(restarted);
    let store = Arc::clone(&stores[&restarted]);
    let node = start(&mut cluster, config(restarted, &[1, 2, 3]), store, None).await;
    assert_eq!(client_address(&node, 4), None);
    cluster.network.heal();
    cluster.propose(set("a", 2)).await;
    cluster.converged(2).await;
    assert_eq!(client_address(&node, 4), Some(address(4)));
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
    assert_eq!(client_address(cluster.node(lagging), 4), Some(address(4)));

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
    assert_eq!(client_address(&restarted, 4), Some(address(4)));
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
            (client_address(node, leader) == Some(address(leader))).then_some(())
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
            (client_address(node, next) == Some(address(next))).then_some(())
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_member_info_reaches_every_node_and_is_refused_off_the_leader() {
    let (cluster, _stores) = group(None).await;
    let leader = cluster.leader().await;
    let follower = cluster.follower_of(leader);
    cluster
        .change("set an address", |leader| async move {
            leader
                .update_member_info(follower, "moved:9000".into())
                .await
        })
        .await;
    for node in cluster.nodes.values() {
        wait_until("the moved address to spread", || {
            (client_address(node, follower).as_deref() == Some("moved:9000")).then_some(())
        })
        .await;
    }
    match cluster
        .node(follower)
        .update_member_info(follower, "x:1".into())
        .await
    {
        Err(RaftError::NotLeader { .. }) => {}
        other => panic!("a follower must refuse set_address: {other:?}"),
    }
    match cluster
        .node(leader)
        .update_member_info(99, "x:1".into())
        .await
    {
        Err(RaftError::InvalidMembershipChange(_)) => {}
        other => panic!("a stranger's address must be refused: {other:?}"),
    }
}

/// A leader cut off from the group appends an entry moving a follower that
/// never commits. Its transport dials the new address at once (a member
/// that moved may be needed to commit the entry that says so), but no node
/// reports it (it would have, had information been learned when appended);
/// once the new leader's log replaced the entry, the old leader dials the
/// old address again, and nobody ever reported the new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_truncated_before_it_applies_is_dialed_but_never_reported() {
    // Slow elections: the cut-off leader keeps leading long enough to
    // append, however loaded the machine.
    let (mut cluster, views) = watched_group(|config| RaftConfig {
        election_timeout_min: std::time::Duration::from_millis(1000),
        election_timeout_max: std::time::Duration::from_millis(2000),
        ..config
    })
    .await;
    let old = cluster.leader().await;
    let follower = cluster.follower_of(old);
    let original = format!("peer-{follower}");
    cluster.network.isolate(old);
    let moved = MemberInfo::new("stale:1").with_peer_address("peer-moved");
    let stale = {
        let node = cluster.node(old).clone();
        tokio::spawn(async move { node.update_member_info(follower, moved).await })
    };
    let told = |id: NodeId| views[&id].lock().unwrap().get(&follower).cloned();
    wait_until("the cut-off leader to dial the appended address", || {
        (told(old).as_deref() == Some("peer-moved")).then_some(())
    })
    .await;
    assert_eq!(
        client_address(cluster.node(old), follower),
        Some(address(follower))
    );
    assert_eq!(told(follower), None, "a node never dials itself");

    let new_leader = wait_until("a leader on the majority side", || {
        let mut others = cluster.ids.iter().filter(|&&id| id != old);
        others.find(|&&id| cluster.node(id).is_leader()).copied()
    })
    .await;
    cluster.network.heal();
    let _ = stale.await;
    cluster
        .node(new_leader)
        .propose(set("after", 1))
        .await
        .unwrap();
    cluster.converged(1).await;
    wait_until("the old leader to dial the old address again", || {
        (told(old) == Some(original.clone())).then_some(())
    })
    .await;
    for &id in &cluster.ids {
        assert_eq!(
            client_address(cluster.node(id), follower),
            Some(address(follower)),
            "node {id} reported an address from a truncated entry"
        );
    }
    cluster.stop_all().await;
}

/// A leader cut off from the group adds a learner: the configuration entry
/// is appended but never commits, and its transport dials the learner at
/// once (a leader replicates to a learner before its addition commits).
/// Once the new leader's log replaced the entry, no configuration in the
/// old leader's log holds the learner, so its transport forgets the address
/// at once, not after a departed member's grace (ten election timeouts:
/// 20 s here): an address learned from a truncated entry is never left
/// dialed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_addition_truncated_before_it_commits_leaves_no_dialed_address() {
    let (mut cluster, views) = watched_group(|config| RaftConfig {
        election_timeout_min: std::time::Duration::from_millis(1000),
        election_timeout_max: std::time::Duration::from_millis(2000),
        ..config
    })
    .await;
    let old = cluster.leader().await;
    cluster.network.isolate(old);
    let stale = {
        let node = cluster.node(old).clone();
        let info = MemberInfo::new(address(4)).with_peer_address("peer-4");
        tokio::spawn(async move { node.add_learner(4, info).await })
    };
    let told = |id: NodeId| views[&id].lock().unwrap().get(&4).cloned();
    wait_until("the cut-off leader to dial the learner it appended", || {
        (told(old).as_deref() == Some("peer-4")).then_some(())
    })
    .await;

    let new_leader = wait_until("a leader on the majority side", || {
        let mut others = cluster.ids.iter().filter(|&&id| id != old);
        others.find(|&&id| cluster.node(id).is_leader()).copied()
    })
    .await;
    cluster.network.heal();
    let _ = stale.await;
    cluster
        .node(new_leader)
        .propose(set("after", 1))
        .await
        .unwrap();
    cluster.converged(1).await;
    // Well within the grace a removed member would keep.
    let forgotten = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while told(old).is_some() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        forgotten.is_ok(),
        "node {old} still dials a learner whose addition was truncated: {:?}",
        told(old)
    );
    for &id in &cluster.ids {
        assert_eq!(told(id), None, "node {id} dials the truncated learner");
    }
    cluster.stop_all().await;
}

/// A cluster of `ids` with no node started yet.
fn no_nodes_yet(ids: &[NodeId]) -> Cluster {
    Cluster {
        network: InProcessNetwork::new(),
        ids: ids.to_vec(),
        nodes: BTreeMap::new(),
    }
}

/// A 3-node group whose configurations give peer addresses (then
/// `adjust`ed), each over a transport that records what it is told.
async fn watched_group(
    adjust: impl Fn(RaftConfig) -> RaftConfig,
) -> (Cluster, BTreeMap<NodeId, Told>) {
    let mut cluster = no_nodes_yet(&[1, 2, 3]);
    let mut views = BTreeMap::new();
    for id in 1..=3 {
        let config = adjust(with_peer_addresses(config(id, &[1, 2, 3])));
        views.insert(id, start_watched(&mut cluster, config).await);
    }
    (cluster, views)
}

/// What a transport was told: peer to address.
type Told = Arc<Mutex<BTreeMap<NodeId, String>>>;

/// An in-process transport that records what the runtime tells it.
/// With `strict`, a message reaches a peer only if this transport was told
/// the peer's real address (`peer-ID`): as over a real network, a node
/// nobody told where it is cannot be reached.
struct Watching {
    inner: InProcessTransport,
    told: Told,
    strict: bool,
}

impl Transport for Watching {
    fn start(&self, inbox: Inbox) -> Result<(), TransportError> {
        self.inner.start(inbox)
    }

    fn send(&self, message: Message) {
        let known = self.told.lock().unwrap().get(&message.to).cloned();
        if !self.strict || known == Some(format!("peer-{}", message.to)) {
            self.inner.send(message);
        }
    }

    fn stop(&self) {
        self.inner.stop();
    }

    fn update_peer(&self, peer: NodeId, address: Option<&str>) -> Result<(), TransportError> {
        let mut told = self.told.lock().unwrap();
        match address {
            Some(address) => told.insert(peer, address.to_owned()),
            None => told.remove(&peer),
        };
        Ok(())
    }
}

fn with_peer_addresses(mut config: RaftConfig) -> RaftConfig {
    config.peer_address = Some(format!("peer-{}", config.node_id));
    for peer in &mut config.peers {
        peer.peer_address = Some(format!("peer-{}", peer.id));
    }
    config
}

async fn start_watched(cluster: &mut Cluster, config: RaftConfig) -> Told {
    start_transport(cluster, config, false).await
}

async fn start_transport(cluster: &mut Cluster, config: RaftConfig, strict: bool) -> Told {
    start_on(cluster, config, strict, Arc::new(MemLogStore::new())).await
}

async fn start_on<L: ordo::storage::LogStore + 'static>(
    cluster: &mut Cluster,
    config: RaftConfig,
    strict: bool,
    store: Arc<L>,
) -> Told {
    let id = config.node_id;
    let told = Told::default();
    let transport = Watching {
        inner: cluster.network.transport(id),
        told: Arc::clone(&told),
        strict,
    };
    let node = RaftNode::new(config, Kv::default(), store, transport).unwrap();
    node.start().await.unwrap();
    cluster.nodes.insert(id, node);
    told
}

async fn told_everywhere(
    views: &BTreeMap<NodeId, Told>,
    what: &str,
    holds: impl Fn(NodeId, &BTreeMap<NodeId, String>) -> bool,
) {
    wait_until(what, || {
        views
            .iter()
            .all(|(&id, told)| holds(id, &told.lock().unwrap()))
            .then_some(())
    })
    .await;
}

/// The runtime keeps every transport's peers in step with the log:
/// the configured peers at start, a member added at run time (on every node,
/// not only the one it was added through), a member that moved, and a
/// member removed (after its grace). Nothing copies addresses by hand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_transport_hears_of_members_joining_moving_and_leaving() {
    let (mut cluster, views) = watched_group(|config| config).await;
    let peer = |id: NodeId| format!("peer-{id}");
    told_everywhere(&views, "the configured peers", |own, told| {
        told.len() == 2
            && told
                .iter()
                .all(|(&id, address)| id != own && *address == peer(id))
    })
    .await;

    let joining = RaftConfig {
        peer_address: Some(peer(4)),
        ..with_peer_addresses(runtime_support::joining(4, &[1, 2, 3]))
    };
    let fourth = start_watched(&mut cluster, joining).await;
    let info = MemberInfo::new(address(4)).with_peer_address(peer(4));
    cluster
        .change("add a learner", |leader| {
            let info = info.clone();
            async move { leader.add_learner(4, info).await }
        })
        .await;
    told_everywhere(&views, "the new member on every node", |_, told| {
        told.get(&4) == Some(&peer(4))
    })
    .await;
    assert_eq!(fourth.lock().unwrap().len(), 3);

    let moved = MemberInfo::new(address(4)).with_peer_address("peer-4-moved");
    cluster
        .change("move it", |leader| {
            let moved = moved.clone();
            async move { leader.update_member_info(4, moved).await }
        })
        .await;
    told_everywhere(&views, "the move on every node", |_, told| {
        told.get(&4).map(String::as_str) == Some("peer-4-moved")
    })
    .await;

    cluster
        .change(
            "remove it",
            |leader| async move { leader.remove_node(4).await },
        )
        .await;
    // Not at once: a departed member keeps its link long enough to hear of
    // its removal (ten election timeouts, 3 s here).
    for (id, told) in &views {
        assert!(
            told.lock().unwrap().contains_key(&4),
            "node {id} cut 4 off at once"
        );
    }
    told_everywhere(&views, "the removal on every node", |_, told| {
        !told.contains_key(&4) && told.len() == 2
    })
    .await;
    cluster.stop_all().await;
}

/// A group of one whose first node adds voters directly (no learner stage)
/// and logs on `store`, and node 2 started to join it; both reach only
/// peers they were told the right address of.
async fn one_and_a_joiner<L: ordo::storage::LogStore + 'static>(
    max_uncommitted_bytes: u64,
    store: Arc<L>,
) -> Cluster {
    let mut cluster = no_nodes_yet(&[1]);
    let first = RaftConfig {
        promote_after_catch_up: false,
        max_uncommitted_bytes,
        ..with_peer_addresses(config(1, &[1]))
    };
    start_on(&mut cluster, first, true, store).await;
    cluster.leader().await;
    cluster.propose(set("a", 1)).await;
    let joining = with_peer_addresses(runtime_support::joining(2, &[1]));
    start_transport(&mut cluster, joining, true).await;
    cluster
}

/// A group of one adds a voter directly (no learner stage): the new
/// configuration commits only once the new voter acknowledges it, so the
/// leader must dial it as soon as the change is appended, at the address
/// logged with it. (Dialing only what is applied, the group would wait
/// forever.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voter_added_directly_is_reached_before_its_configuration_commits() {
    let default_limit = RaftConfig::default().max_uncommitted_bytes;
    let mut cluster = one_and_a_joiner(default_limit, Arc::new(MemLogStore::new())).await;
    let info = MemberInfo::new(address(2)).with_peer_address("peer-2");
    cluster.node(1).add_node(2, info).await.unwrap();
    cluster.ids.push(2);
    assert!(
        cluster
            .node(1)
            .status()
            .await
            .unwrap()
            .membership
            .is_voter(2)
    );
    cluster.propose(set("a", 2)).await;
    cluster.converged(2).await;
    cluster.stop_all().await;
}

/// The same while the leader's backlog is full: the configuration entry is
/// exempt from the backlog limit, the member's information is not, so the
/// core takes the change and refuses the information. The leader dials the
/// new voter by what the change asked for anyway, the change commits, and
/// the information is logged once there is room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voter_added_while_the_backlog_is_full_is_still_reached() {
    let store = Arc::new(ordo::storage::CrashableLogStore::new());
    let mut cluster = one_and_a_joiner(1, Arc::clone(&store)).await;

    // An entry that cannot become durable fills the backlog.
    store.stall_syncs();
    let leader = cluster.node(1).clone();
    let stuck = tokio::spawn(async move { leader.propose(set("b", 2)).await });
    wait_until("the entry to be in the backlog", || {
        (store.unsynced_writes() > 0).then_some(())
    })
    .await;
    let leader = cluster.node(1).clone();
    let info = MemberInfo::new(address(2)).with_peer_address("peer-2");
    let added = tokio::spawn(async move { leader.add_node(2, info).await });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    store.release_syncs();
    added.await.unwrap().unwrap();
    stuck.await.unwrap().unwrap();
    cluster.ids.push(2);
    let node = cluster.node(1);
    wait_until("the new voter's information to be logged", || {
        let info = node.member_infos().remove(&2)?;
        (info.peer_address.as_deref() == Some("peer-2")).then_some(())
    })
    .await;
    cluster.stop_all().await;
}
