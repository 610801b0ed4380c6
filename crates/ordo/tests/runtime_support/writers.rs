//! Clients writing continuously while a test changes the group, and the
//! check that every acknowledged write is applied exactly once everywhere.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ordo::{NodeId, RaftError, RaftNode};
use tokio::task::JoinHandle;

use crate::runtime_support::{Answer, Command, Kv, Query, wait_until_async};

/// The nodes clients may talk to; the test adds and removes them.
#[derive(Clone, Debug, Default)]
pub struct Directory {
    nodes: Arc<RwLock<BTreeMap<NodeId, RaftNode<Kv>>>>,
}

impl Directory {
    pub fn new(nodes: &BTreeMap<NodeId, RaftNode<Kv>>) -> Self {
        let directory = Directory::default();
        for node in nodes.values() {
            directory.insert(node.clone());
        }
        directory
    }

    pub fn insert(&self, node: RaftNode<Kv>) {
        self.nodes.write().unwrap().insert(node.id(), node);
    }

    pub fn remove(&self, id: NodeId) {
        self.nodes.write().unwrap().remove(&id);
    }

    fn leader(&self) -> Option<RaftNode<Kv>> {
        let nodes = self.nodes.read().unwrap();
        nodes.values().find(|node| node.is_leader()).cloned()
    }
}

/// What the clients were told.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Applied, said the leader.
    pub acknowledged: BTreeSet<String>,
    /// Accepted, outcome unknown (a timeout, a snapshot, a stop): applied
    /// at most once.
    pub uncertain: BTreeSet<String>,
}

/// `tasks` clients, each writing `Add(<prefix><task>-<n>, 1)` for n = 0, 1,
/// ... to whichever node leads, retrying a write that was certainly not
/// applied (a redirect, busy, dropped) under the same key.
pub struct Writers {
    stop: Arc<AtomicBool>,
    acknowledged: Arc<AtomicU64>,
    tasks: Vec<JoinHandle<Outcome>>,
}

impl Writers {
    pub fn start(directory: &Directory, prefix: &str, tasks: usize) -> Writers {
        let stop = Arc::new(AtomicBool::new(false));
        let acknowledged = Arc::new(AtomicU64::new(0));
        let tasks = (0..tasks)
            .map(|task| {
                let directory = directory.clone();
                let counters = (Arc::clone(&stop), Arc::clone(&acknowledged));
                let prefix = format!("{prefix}{task}-");
                tokio::spawn(async move { write(directory, prefix, counters).await })
            })
            .collect();
        Writers {
            stop,
            acknowledged,
            tasks,
        }
    }

    /// Waits until `writes` more writes were acknowledged (by then the
    /// clients have written through whatever the test did before).
    pub async fn progress(&self, writes: u64) {
        let target = self.acknowledged.load(Ordering::Acquire) + writes;
        crate::runtime_support::wait_until("writes to go on", || {
            (self.acknowledged.load(Ordering::Acquire) >= target).then_some(())
        })
        .await;
    }

    /// Stops the clients and gathers what they were told.
    pub async fn finish(self) -> Outcome {
        self.stop.store(true, Ordering::Release);
        let mut outcome = Outcome::default();
        for task in self.tasks {
            let one = task.await.unwrap();
            outcome.acknowledged.extend(one.acknowledged);
            outcome.uncertain.extend(one.uncertain);
        }
        outcome
    }
}

async fn write(
    directory: Directory,
    prefix: String,
    (stop, acknowledged): (Arc<AtomicBool>, Arc<AtomicU64>),
) -> Outcome {
    let mut outcome = Outcome::default();
    let mut n = 0u64;
    while !stop.load(Ordering::Acquire) {
        let key = format!("{prefix}{n:06}");
        let Some(leader) = directory.leader() else {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        match leader.propose(Command::Add(key.clone(), 1)).await {
            Ok(_) => {
                acknowledged.fetch_add(1, Ordering::AcqRel);
                outcome.acknowledged.insert(key);
                n += 1;
            }
            Err(
                RaftError::NotLeader { .. }
                | RaftError::Busy { .. }
                | RaftError::ProposalDropped
                | RaftError::TransferInProgress { .. },
            ) => tokio::time::sleep(Duration::from_millis(5)).await,
            Err(RaftError::Timeout | RaftError::OutcomeUnknown | RaftError::ShuttingDown) => {
                outcome.uncertain.insert(key);
                n += 1;
            }
            Err(error) => panic!("write {key} failed: {error}"),
        }
    }
    outcome
}

/// Waits until every node in `nodes` applied the same commands, then checks
/// that each holds every acknowledged write exactly once, nothing twice,
/// and nothing nobody wrote.
pub async fn check_every_write(nodes: &[RaftNode<Kv>], prefix: &str, outcome: &Outcome) {
    wait_until_async("the members to converge", || async {
        let mut prints = BTreeSet::new();
        for node in nodes {
            prints.insert(format!(
                "{:?}",
                node.read_stale(Query::Fingerprint).await.ok()?
            ));
        }
        (prints.len() == 1).then_some(())
    })
    .await;
    for node in nodes {
        let Answer::Map(map) = node.read_stale(Query::Dump(prefix.into())).await.unwrap() else {
            panic!("a dump answers a map");
        };
        for key in &outcome.acknowledged {
            assert_eq!(
                map.get(key),
                Some(&1),
                "node {}: acknowledged {key}",
                node.id()
            );
        }
        for (key, &times) in &map {
            assert!(
                outcome.acknowledged.contains(key) || outcome.uncertain.contains(key),
                "node {}: {key} was never written",
                node.id()
            );
            assert_eq!(times, 1, "node {}: {key} applied {times} times", node.id());
        }
    }
}
