//! A registry group of members in this process, each on real gRPC ports on
//! 127.0.0.1 with its data in a temporary directory; members can be killed
//! (as a crash) and restarted on their data.
#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ordo::NodeId;
use ordo_registry::proto::ListRequest;
use ordo_registry::proto::registry_client::RegistryClient;
use ordo_registry::{
    Client, Listeners, MemberAddresses, NodeConfig, RegistryNode, RouterStateMachine, Service,
};
use tempfile::TempDir;
use tokio::time::{Instant, sleep};

/// Patience for elections, restarts and convergence.
pub const PATIENCE: Duration = Duration::from_secs(15);

const CLUSTER: &str = "registry-test";

/// A group of members in this process.
pub struct Group {
    dir: TempDir,
    members: BTreeMap<NodeId, MemberAddresses>,
    nodes: BTreeMap<NodeId, RegistryNode>,
    make_state_machine: fn() -> RouterStateMachine,
    /// A snapshot every this many applied entries.
    pub snapshot_threshold_entries: u64,
}

impl Group {
    /// `size` members on ports the system picks, started.
    pub async fn start(size: u64, make_state_machine: fn() -> RouterStateMachine) -> Group {
        let any_port = MemberAddresses {
            raft: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            api: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        };
        let mut listeners = BTreeMap::new();
        for id in 1..=size {
            listeners.insert(id, Listeners::bind(CLUSTER, id, any_port).unwrap());
        }
        let mut group = Group {
            dir: tempfile::tempdir().unwrap(),
            members: listeners
                .iter()
                .map(|(id, bound)| (*id, bound.addresses().unwrap()))
                .collect(),
            nodes: BTreeMap::new(),
            make_state_machine,
            snapshot_threshold_entries: 200,
        };
        for (id, bound) in listeners {
            let node = RegistryNode::start_with(&group.config(id), bound, make_state_machine())
                .await
                .unwrap();
            group.nodes.insert(id, node);
        }
        group
    }

    fn config(&self, id: NodeId) -> NodeConfig {
        NodeConfig {
            snapshot_threshold_entries: self.snapshot_threshold_entries,
            ..NodeConfig::new(
                id,
                CLUSTER,
                self.dir.path().join(format!("member-{id}")),
                self.members.clone(),
            )
        }
    }

    /// The members' API addresses.
    pub fn api_addresses(&self) -> Vec<SocketAddr> {
        self.members.values().map(|at| at.api).collect()
    }

    /// A client of every member.
    pub fn client(&self) -> Client {
        Client::new(self.api_addresses())
    }

    /// The leader, once the running members agree on one.
    pub async fn leader(&self) -> NodeId {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let leaders: BTreeSet<Option<NodeId>> = self
                .nodes
                .values()
                .map(|node| node.raft().leader_id())
                .collect();
            if let [Some(leader)] = leaders.into_iter().collect::<Vec<_>>()[..]
                && self.nodes.contains_key(&leader)
            {
                return leader;
            }
            assert!(Instant::now() < deadline, "no leader the members agree on");
            sleep(Duration::from_millis(20)).await;
        }
    }

    /// Kills member `id` as a crash would.
    pub async fn kill(&mut self, id: NodeId) {
        let node = self.nodes.remove(&id).expect("a running member");
        node.kill().await;
    }

    /// Starts member `id` again on its data directory and its ports.
    pub async fn restart(&mut self, id: NodeId) {
        let deadline = Instant::now() + PATIENCE;
        let listeners = loop {
            // The port was ours a moment ago; another socket may briefly hold it.
            match Listeners::bind(CLUSTER, id, self.members[&id]) {
                Ok(listeners) => break listeners,
                Err(error) if Instant::now() < deadline => {
                    eprintln!("rebinding member {id}: {error}");
                    sleep(Duration::from_millis(100)).await;
                }
                Err(error) => panic!("cannot rebind member {id}: {error}"),
            }
        };
        let node =
            RegistryNode::start_with(&self.config(id), listeners, (self.make_state_machine)())
                .await
                .unwrap();
        self.nodes.insert(id, node);
    }

    /// Every member's services (through the API, each from its own applied
    /// state), once all have applied everything the leader acknowledged.
    pub async fn holdings(&self) -> BTreeMap<NodeId, BTreeMap<String, Service>> {
        let target = self.linearizable_index().await;
        let deadline = Instant::now() + PATIENCE;
        loop {
            let mut holdings = BTreeMap::new();
            let mut behind = Vec::new();
            for (&id, at) in &self.members {
                let mut client = RegistryClient::connect(format!("http://{}", at.api))
                    .await
                    .unwrap();
                let reply = client
                    .list_services(ListRequest { local: true })
                    .await
                    .unwrap()
                    .into_inner();
                if reply.applied_index < target {
                    behind.push(id);
                }
                let services = reply
                    .services
                    .into_iter()
                    .map(|service| (service.id.clone(), service.into()))
                    .collect();
                holdings.insert(id, services);
            }
            if behind.is_empty() {
                return holdings;
            }
            assert!(
                Instant::now() < deadline,
                "members {behind:?} never applied index {target}"
            );
            sleep(Duration::from_millis(50)).await;
        }
    }

    /// The applied index a linearizable read sees.
    async fn linearizable_index(&self) -> u64 {
        let leader = self.members[&self.leader().await].api;
        let mut client = RegistryClient::connect(format!("http://{leader}"))
            .await
            .unwrap();
        client
            .list_services(ListRequest { local: false })
            .await
            .unwrap()
            .into_inner()
            .applied_index
    }

    /// How many finished snapshot files member `id` holds.
    pub fn snapshot_files(&self, id: NodeId) -> usize {
        let dir = self.dir.path().join(format!("member-{id}/snapshots"));
        std::fs::read_dir(dir)
            .unwrap()
            .filter(|entry| {
                let name = entry.as_ref().unwrap().file_name();
                name.to_string_lossy().ends_with(".snap")
            })
            .count()
    }

    /// Stops every running member.
    pub async fn stop(self) {
        for node in self.nodes.into_values() {
            node.stop().await;
        }
    }
}

/// What concurrent clients saw: every id they tried, and every
/// registration acknowledged.
#[derive(Default)]
pub struct Outcomes {
    pub attempted: BTreeSet<String>,
    pub acknowledged: Vec<Service>,
    pub failed: Vec<String>,
}

/// Registers `per_client` services from each of `clients` concurrent
/// clients; `progress` counts acknowledgements as they come.
pub async fn register_concurrently(
    client: &Client,
    clients: usize,
    per_client: usize,
    progress: Arc<std::sync::atomic::AtomicUsize>,
) -> Outcomes {
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let mut tasks = Vec::new();
    for worker in 0..clients {
        let mut client = client.clone();
        let outcomes = Arc::clone(&outcomes);
        let progress = Arc::clone(&progress);
        tasks.push(tokio::spawn(async move {
            for n in 0..per_client {
                let service = test_service(&format!("svc-{worker}-{n}"));
                outcomes
                    .lock()
                    .unwrap()
                    .attempted
                    .insert(service.id.clone());
                match client.register_service(service.clone()).await {
                    Ok(_) => {
                        outcomes.lock().unwrap().acknowledged.push(service);
                        progress.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    Err(status) => outcomes
                        .lock()
                        .unwrap()
                        .failed
                        .push(format!("{}: {status}", service.id)),
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    Arc::into_inner(outcomes).unwrap().into_inner().unwrap()
}

/// A service whose content depends on its id only.
pub fn test_service(id: &str) -> Service {
    Service {
        id: id.to_owned(),
        service_type: "grpc".into(),
        endpoint: format!("{id}.internal:443"),
        metadata: BTreeMap::from([("owner".into(), "test".into())]),
    }
}

/// Waits until `progress` reaches `count`.
pub async fn wait_for_progress(progress: &std::sync::atomic::AtomicUsize, count: usize) {
    let deadline = Instant::now() + PATIENCE;
    while progress.load(std::sync::atomic::Ordering::SeqCst) < count {
        assert!(
            Instant::now() < deadline,
            "the workload stalled before {count} acknowledgements"
        );
        sleep(Duration::from_millis(5)).await;
    }
}
