//! Helpers shared by the runtime tests: a key-value state machine that
//! fingerprints what it applied, a cluster over an `InProcessNetwork`, and
//! the one bounded wait ([`wait`]) every wait and retry loop goes through.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::future::Future;
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ordo::storage::{LogStore, MemLogStore};
use ordo::transport::InProcessNetwork;
use ordo::{Entry, NodeId, Peer, RaftConfig, RaftError, RaftNode, StateMachine};
use serde::{Deserialize, Serialize};

pub mod recording;
pub mod wait;
pub mod writers;

// Each test binary uses some of these, none uses all.
#[allow(unused_imports)]
pub use wait::{eventually, eventually_within, wait_until, wait_until_async};

/// Generous: the machine is shared with other builds.
pub const PATIENCE: Duration = Duration::from_secs(20);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Sets `key` to `value`; answers the previous value.
    Set(String, u64),
    /// Adds to `key`; answers the new value.
    Add(String, u64),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Query {
    Get(String),
    /// (commands applied, fingerprint of everything applied, in order).
    Fingerprint,
    /// Every key whose name starts with this, and its value.
    Dump(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    Value(Option<u64>),
    Fingerprint { applied: u64, digest: u64 },
    Map(BTreeMap<String, u64>),
}

/// A map plus a running digest of every (index, command) applied, so two
/// replicas can be compared exactly. `apply_calls` counts commands applied
/// in this process (not restored from a snapshot).
#[derive(Debug, Default)]
pub struct Kv {
    pub map: BTreeMap<String, u64>,
    pub applied: u64,
    pub digest: u64,
    pub apply_calls: Arc<AtomicU64>,
    /// Sleep this long per apply batch (a slow state machine).
    pub apply_delay: Duration,
    /// Sleep this long per snapshot (a large store written out slowly).
    pub snapshot_delay: Duration,
}

fn mix(digest: u64, value: u64) -> u64 {
    (digest ^ value)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .rotate_left(29)
}

impl StateMachine for Kv {
    type Command = Command;
    type Response = Option<u64>;
    type Query = Query;
    type Answer = Answer;

    fn apply(&mut self, entries: Vec<Entry<Command>>) -> Vec<Option<u64>> {
        if !self.apply_delay.is_zero() {
            std::thread::sleep(self.apply_delay);
        }
        self.apply_calls
            .fetch_add(entries.len() as u64, Ordering::Relaxed);
        entries
            .into_iter()
            .map(|entry| {
                self.applied += 1;
                self.digest = mix(self.digest, entry.index);
                match entry.command {
                    Command::Set(key, value) => {
                        self.digest = mix(self.digest, value);
                        self.map.insert(key, value)
                    }
                    Command::Add(key, value) => {
                        self.digest = mix(self.digest, value.wrapping_add(1 << 40));
                        let slot = self.map.entry(key).or_insert(0);
                        *slot += value;
                        Some(*slot)
                    }
                }
            })
            .collect()
    }

    fn query(&self, query: Query) -> Answer {
        match query {
            Query::Get(key) => Answer::Value(self.map.get(&key).copied()),
            Query::Fingerprint => Answer::Fingerprint {
                applied: self.applied,
                digest: self.digest,
            },
            Query::Dump(prefix) => Answer::Map(
                self.map
                    .range(prefix.clone()..)
                    .take_while(|(key, _)| key.starts_with(&prefix))
                    .map(|(key, value)| (key.clone(), *value))
                    .collect(),
            ),
        }
    }

    fn snapshot(&self, out: &mut dyn Write) -> std::io::Result<()> {
        if !self.snapshot_delay.is_zero() {
            std::thread::sleep(self.snapshot_delay);
        }
        let state = (&self.map, self.applied, self.digest);
        let bytes = serde_json::to_vec(&state).map_err(std::io::Error::other)?;
        out.write_all(&bytes)
    }

    fn restore(&mut self, input: &mut dyn Read) -> std::io::Result<()> {
        let mut bytes = Vec::new();
        input.read_to_end(&mut bytes)?;
        let (map, applied, digest): (BTreeMap<String, u64>, u64, u64) =
            serde_json::from_slice(&bytes).map_err(std::io::Error::other)?;
        (self.map, self.applied, self.digest) = (map, applied, digest);
        Ok(())
    }
}

/// The configuration of node `id` in a group of `ids`.
pub fn config(id: NodeId, ids: &[NodeId]) -> RaftConfig {
    RaftConfig {
        node_id: id,
        address: format!("node-{id}:7000"),
        peers: ids
            .iter()
            .filter(|&&peer| peer != id)
            .map(|&peer| Peer::new(peer, format!("node-{peer}:7000")))
            .collect(),
        rng_seed: Some(id),
        ..RaftConfig::default()
    }
}

/// Nodes over one in-process network.
pub struct Cluster {
    pub network: InProcessNetwork,
    pub ids: Vec<NodeId>,
    pub nodes: BTreeMap<NodeId, RaftNode<Kv>>,
}

impl Cluster {
    /// `size` nodes with in-memory logs, started.
    pub async fn start(size: u64) -> Cluster {
        Self::start_with(size, |_| {}).await
    }

    /// As [`Cluster::start`], with each config adjusted by `adjust`.
    pub async fn start_with(size: u64, adjust: impl Fn(&mut RaftConfig)) -> Cluster {
        let ids: Vec<NodeId> = (1..=size).collect();
        let mut cluster = Cluster {
            network: InProcessNetwork::new(),
            ids: ids.clone(),
            nodes: BTreeMap::new(),
        };
        for &id in &ids {
            let mut config = config(id, &ids);
            adjust(&mut config);
            cluster
                .start_node(config, Kv::default(), Arc::new(MemLogStore::new()))
                .await;
        }
        cluster
    }

    /// Starts one node (new or restarted) on `store`.
    pub async fn start_node<L: LogStore + 'static>(
        &mut self,
        config: RaftConfig,
        state_machine: Kv,
        store: Arc<L>,
    ) -> RaftNode<Kv> {
        let id = config.node_id;
        let node = RaftNode::new(config, state_machine, store, self.network.transport(id))
            .expect("valid config");
        node.start().await.expect("start");
        self.nodes.insert(id, node.clone());
        node
    }

    pub fn node(&self, id: NodeId) -> &RaftNode<Kv> {
        &self.nodes[&id]
    }

    /// Stops node `id` and forgets it.
    pub async fn stop_node(&mut self, id: NodeId) {
        if let Some(node) = self.nodes.remove(&id) {
            node.stop().await;
        }
    }

    /// Aborts node `id` as a crash would (no leadership handoff) and
    /// forgets it.
    pub async fn crash_node(&mut self, id: NodeId) {
        if let Some(node) = self.nodes.remove(&id) {
            node.abort().await;
        }
    }

    pub async fn stop_all(&mut self) {
        for (_, node) in std::mem::take(&mut self.nodes) {
            node.stop().await;
        }
    }

    /// Waits until one running node leads and a majority of the group's
    /// running nodes name it.
    pub async fn leader(&self) -> NodeId {
        let majority = self.ids.len() / 2 + 1;
        wait_until("a leader known to a majority", || {
            let leaders: Vec<NodeId> = self
                .nodes
                .values()
                .filter(|node| node.is_leader())
                .map(RaftNode::id)
                .collect();
            let [leader] = leaders[..] else {
                return None;
            };
            let agreeing = self
                .nodes
                .values()
                .filter(|node| node.leader_id() == Some(leader))
                .count();
            (agreeing >= majority).then_some(leader)
        })
        .await
    }

    /// A running node other than `leader`.
    pub fn follower_of(&self, leader: NodeId) -> NodeId {
        *self
            .nodes
            .keys()
            .find(|&&id| id != leader)
            .expect("a follower")
    }

    /// Proposes through whichever node leads, retrying redirects and drops.
    pub async fn propose(&self, command: Command) -> Option<u64> {
        let command = &command;
        eventually(&format!("a leader to take {command:?}"), || async move {
            let leader = self.leader().await;
            match self.node(leader).propose(command.clone()).await {
                Ok(response) => Ok(response),
                Err(
                    error @ (RaftError::NotLeader { .. }
                    | RaftError::ProposalDropped
                    | RaftError::TransferInProgress { .. }
                    | RaftError::Busy { .. }),
                ) => Err(format!("node {leader}: {error}")),
                Err(error) => panic!("proposal failed: {error}"),
            }
        })
        .await
    }

    /// Waits until every running node applied the same `applied` commands
    /// with the same fingerprint, and returns it.
    pub async fn converged(&self, applied: u64) -> u64 {
        let what = format!("every replica to apply the same {applied} commands");
        eventually(&what, || async move {
            let mut prints = Vec::new();
            for node in self.nodes.values() {
                prints.push(node.read_stale(Query::Fingerprint).await.expect("read"));
            }
            let same = prints.windows(2).all(|pair| pair[0] == pair[1]);
            match (same, prints.first()) {
                (true, Some(Answer::Fingerprint { applied: a, digest })) if *a == applied => {
                    Ok(*digest)
                }
                _ => Err(format!("{prints:?}")),
            }
        })
        .await
    }
}

/// The configuration of node `id` joining a group whose voters are `voters`.
pub fn joining(id: NodeId, voters: &[NodeId]) -> RaftConfig {
    let mut ids = voters.to_vec();
    ids.push(id);
    RaftConfig {
        joining: true,
        ..config(id, &ids)
    }
}

/// Where node `id` is reached, as [`config`] says.
pub fn address(id: NodeId) -> String {
    format!("node-{id}:7000")
}

impl Cluster {
    /// Runs `change` on whichever node leads until it succeeds, retrying
    /// while the group is busy (another change in progress, an election).
    pub async fn change<F, Fut>(&self, what: &str, change: F)
    where
        F: Fn(RaftNode<Kv>) -> Fut,
        Fut: Future<Output = Result<(), RaftError>>,
    {
        let change = &change;
        eventually(&format!("{what} to succeed"), || async move {
            let leader = self.leader().await;
            match change(self.node(leader).clone()).await {
                Ok(()) => Ok(()),
                Err(
                    error @ (RaftError::NotLeader { .. }
                    | RaftError::Busy { .. }
                    | RaftError::ProposalDropped
                    | RaftError::TransferInProgress { .. }
                    | RaftError::Timeout
                    | RaftError::ShuttingDown),
                ) => Err(format!("node {leader}: {error}")),
                Err(error) => panic!("{what} failed: {error}"),
            }
        })
        .await
    }

    /// Starts node `id` (joining, on `store`) and adds it through the
    /// leader (`add_node`: a learner first, a voter once caught up).
    pub async fn join<L: LogStore + 'static>(&mut self, id: NodeId, store: Arc<L>) -> RaftNode<Kv> {
        let voters = self.ids.clone();
        let node = self
            .start_node(joining(id, &voters), Kv::default(), store)
            .await;
        self.change("add node", |leader| async move {
            leader.add_node(id, address(id)).await
        })
        .await;
        self.ids.push(id);
        node
    }
}

pub fn get(key: &str) -> Query {
    Query::Get(key.to_string())
}

pub fn set(key: &str, value: u64) -> Command {
    Command::Set(key.to_string(), value)
}

pub fn add(key: &str, value: u64) -> Command {
    Command::Add(key.to_string(), value)
}
