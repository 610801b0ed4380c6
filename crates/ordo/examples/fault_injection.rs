//! Testing *your* state machine under the faults Ordo survives, with Ordo's
//! test kit: a lossy, duplicating, reordering [`InProcessNetwork`], a
//! partition healed link by link, a paused node, and a leader crashed on a
//! [`CrashableLogStore`] so that what it had not synced is lost.
//!
//! The application is a small bank: transfers between accounts, each with a
//! client-chosen id so a retried transfer applies at most once. While a
//! client keeps transferring (retrying through every failure), a fault
//! script runs; at the end the example checks the bank's own invariants:
//! every replica holds the same state, money is conserved and never
//! negative, every acknowledged transfer was applied, and nothing was
//! applied that was not proposed. It exits non-zero if one fails.
//!
//! ```sh
//! cargo run -p ordo --example fault_injection
//! ```
//!
//! `tests/example_fault_injection.rs` runs it on every `cargo test -p ordo`.

use std::collections::{BTreeMap, BTreeSet};
use std::error::Error;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ordo::storage::CrashableLogStore;
use ordo::transport::{InProcessNetwork, LinkFaults};
use ordo::{Entry, NodeId, Peer, RaftConfig, RaftNode, StateMachine};
use serde::{Deserialize, Serialize};

const IDS: [NodeId; 3] = [1, 2, 3];
const ACCOUNTS: u32 = 4;
const OPENING_BALANCE: i64 = 100;

/// The application under test.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Bank {
    balances: BTreeMap<u32, i64>,
    /// Every transfer id decided (applied or refused): the dedup set.
    decided: BTreeSet<u64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Transfer {
    id: u64,
    from: u32,
    to: u32,
    amount: i64,
}

impl Bank {
    fn balance(&self, account: u32) -> i64 {
        self.balances
            .get(&account)
            .copied()
            .unwrap_or(OPENING_BALANCE)
    }

    fn apply_one(&mut self, transfer: Transfer) -> bool {
        if !self.decided.insert(transfer.id) || self.balance(transfer.from) < transfer.amount {
            return false;
        }
        let (from, to) = (self.balance(transfer.from), self.balance(transfer.to));
        self.balances.insert(transfer.from, from - transfer.amount);
        self.balances.insert(transfer.to, to + transfer.amount);
        true
    }
}

impl StateMachine for Bank {
    type Command = Transfer;
    type Response = bool;
    type Query = ();
    type Answer = Bank;

    fn apply(&mut self, entries: Vec<Entry<Transfer>>) -> Vec<bool> {
        entries
            .into_iter()
            .map(|e| self.apply_one(e.command))
            .collect()
    }
    fn query(&self, (): ()) -> Bank {
        self.clone()
    }
    fn snapshot(&self, out: &mut dyn Write) -> std::io::Result<()> {
        serde_json::to_writer(out, self).map_err(std::io::Error::other)
    }
    fn restore(&mut self, input: &mut dyn Read) -> std::io::Result<()> {
        *self = serde_json::from_reader(input).map_err(std::io::Error::other)?;
        Ok(())
    }
}

/// The running nodes, which the fault script replaces when it crashes one.
type Nodes = Arc<Mutex<BTreeMap<NodeId, RaftNode<Bank>>>>;

fn nodes_now(nodes: &Nodes) -> Vec<RaftNode<Bank>> {
    nodes
        .lock()
        .map(|n| n.values().cloned().collect())
        .unwrap_or_default()
}

async fn start(
    id: NodeId,
    network: &InProcessNetwork,
    store: &Arc<CrashableLogStore>,
) -> Result<RaftNode<Bank>, Box<dyn Error>> {
    let config = RaftConfig {
        node_id: id,
        address: format!("bank-{id}"),
        peers: IDS
            .iter()
            .filter(|&&p| p != id)
            .map(|&p| Peer::new(p, format!("bank-{p}")))
            .collect(),
        rng_seed: Some(id),
        ..RaftConfig::default()
    };
    let node = RaftNode::new(
        config,
        Bank::default(),
        Arc::clone(store),
        network.transport(id),
    )?;
    node.start().await?;
    Ok(node)
}

/// Proposes `transfer` until some node acknowledges it (retrying is safe:
/// the bank applies each id at most once). `None` if it never was.
async fn transfer_until_acknowledged(nodes: &Nodes, transfer: Transfer) -> Option<bool> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        for node in nodes_now(nodes).into_iter().filter(RaftNode::is_leader) {
            let proposal = node.propose(transfer.clone());
            if let Ok(Ok(applied)) =
                tokio::time::timeout(Duration::from_millis(500), proposal).await
            {
                return Some(applied);
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// The client: transfers until told to stop; returns the acknowledged ids.
async fn client(nodes: Nodes, stop: Arc<AtomicBool>) -> (BTreeSet<u64>, u64) {
    let (mut acknowledged, mut proposed) = (BTreeSet::new(), 0);
    while !stop.load(Ordering::Relaxed) {
        proposed += 1;
        let id = proposed;
        let (from, to) = ((id % 4) as u32, ((id * 7 + 1) % 4) as u32);
        let transfer = Transfer {
            id,
            from,
            to,
            amount: (id % 37) as i64,
        };
        if transfer_until_acknowledged(&nodes, transfer)
            .await
            .is_some()
        {
            acknowledged.insert(id);
        }
    }
    (acknowledged, proposed)
}

async fn leader(nodes: &Nodes) -> Result<NodeId, Box<dyn Error>> {
    let any = nodes_now(nodes).into_iter().next().ok_or("no nodes")?;
    Ok(any.wait_for_leader(Duration::from_secs(10)).await?)
}

/// The fault script: partition, pause, crash. Returns the writes the crash lost.
async fn faults(
    network: &InProcessNetwork,
    nodes: &Nodes,
    stores: &BTreeMap<NodeId, Arc<CrashableLogStore>>,
) -> Result<usize, Box<dyn Error>> {
    let pause = || tokio::time::sleep(Duration::from_millis(400));
    let first = leader(nodes).await?;
    let others: Vec<NodeId> = IDS.into_iter().filter(|&id| id != first).collect();
    println!("partition: leader {first} cut off from {others:?}");
    network.partition(&[&[first], &others]);
    pause().await;
    network.rejoin(first); // heals exactly the links to and from it
    pause().await;

    let follower = others[0];
    println!("pause: node {follower} frozen");
    let frozen = nodes.lock().map_err(|_| "poisoned")?[&follower].clone();
    frozen.pause();
    pause().await;
    frozen.resume();

    let victim = leader(nodes).await?;
    let store = &stores[&victim];
    println!("crash: leader {victim} with its disk stalled");
    store.stall_syncs();
    pause().await; // the leader writes but cannot sync: unacknowledged by it
    store.crash();
    let crashed = nodes
        .lock()
        .map_err(|_| "poisoned")?
        .remove(&victim)
        .ok_or("no victim")?;
    crashed.abort().await;
    let lost = store.recover();
    let restarted = start(victim, network, store).await?;
    nodes
        .lock()
        .map_err(|_| "poisoned")?
        .insert(victim, restarted);
    pause().await;
    Ok(lost)
}

/// Waits until every replica holds the same bank, and returns it.
async fn converged(nodes: &Nodes) -> Result<Bank, Box<dyn Error>> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut banks = Vec::new();
        for node in nodes_now(nodes) {
            banks.push(node.read_stale(()).await?);
        }
        if let [first, rest @ ..] = &banks[..]
            && rest.iter().all(|bank| bank == first)
        {
            return Ok(first.clone());
        }
        if Instant::now() > deadline {
            return Err(format!("replicas never converged: {banks:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn Error>> {
    let network = InProcessNetwork::new();
    network.set_seed(2024);
    network.set_faults(LinkFaults {
        drop_probability: 0.05,
        duplicate_probability: 0.05,
        delay: Duration::from_millis(1),
        delay_jitter: Duration::from_millis(3), // reorders
    });
    let stores: BTreeMap<NodeId, Arc<CrashableLogStore>> = IDS
        .iter()
        .map(|&id| (id, Arc::new(CrashableLogStore::new())))
        .collect();
    let nodes: Nodes = Arc::default();
    for (&id, store) in &stores {
        let node = start(id, &network, store).await?;
        nodes.lock().map_err(|_| "poisoned")?.insert(id, node);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let client = tokio::spawn(client(Arc::clone(&nodes), Arc::clone(&stop)));
    let lost = faults(&network, &nodes, &stores).await?;
    stop.store(true, Ordering::Relaxed);
    let (acknowledged, proposed) = client.await?;
    network.heal();
    let bank = converged(&nodes).await?;

    // The application's own invariants.
    let total: i64 = (0..ACCOUNTS).map(|account| bank.balance(account)).sum();
    let checks = [
        (
            "money is conserved",
            total == i64::from(ACCOUNTS) * OPENING_BALANCE,
        ),
        (
            "no balance is negative",
            (0..ACCOUNTS).all(|a| bank.balance(a) >= 0),
        ),
        (
            "every acknowledged transfer was applied",
            acknowledged.is_subset(&bank.decided),
        ),
        (
            "only proposed transfers were applied",
            bank.decided.iter().all(|&id| id <= proposed),
        ),
    ];
    let traffic = network.traffic().total;
    println!(
        "{proposed} transfers proposed, {} acknowledged, {} decided; the crash lost {lost} unsynced writes; \
         the network dropped {} and duplicated {} messages",
        acknowledged.len(),
        bank.decided.len(),
        traffic.dropped,
        traffic.duplicated
    );
    for node in nodes_now(&nodes) {
        node.stop().await;
    }
    let failed: Vec<&str> = checks
        .iter()
        .filter(|(_, held)| !held)
        .map(|(name, _)| *name)
        .collect();
    if !failed.is_empty() {
        return Err(format!("invariants violated: {failed:?}").into());
    }
    if acknowledged.is_empty() {
        return Err("the client made no progress".into());
    }
    println!("all invariants held");
    Ok(())
}
