//! Three Ordo nodes in one process, driven by hand: elect a leader, commit
//! proposals, cut the leader off, watch a new leader take over, heal.
//!
//! This is also the smallest complete driver of `ordo-core`: tick the nodes,
//! carry out each node's actions (write, send, apply), report writes durable.
//! The `ordo` runtime does the same with real disks, sockets and clocks.
//!
//! Run it with `cargo run -p ordo-core --example local_cluster`.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use ordo_core::{
    Config, EntryPayload, Error, InitialState, Membership, MemoryLog, Message, NodeId, Raft, Role,
};

struct LocalCluster {
    nodes: BTreeMap<NodeId, Raft<MemoryLog>>,
    in_flight: Vec<Message>,
    isolated: BTreeSet<NodeId>,
}

impl LocalCluster {
    fn new(ids: &[NodeId]) -> Result<Self, Box<dyn std::error::Error>> {
        let mut nodes = BTreeMap::new();
        for &id in ids {
            let config = Config {
                node_id: id,
                rng_seed: 42,
                ..Config::default()
            };
            let initial = InitialState {
                membership: Membership::with_voters(ids.iter().copied()),
                ..Default::default()
            };
            nodes.insert(id, Raft::new(config, MemoryLog::new(), initial)?);
        }
        Ok(LocalCluster {
            nodes,
            in_flight: Vec::new(),
            isolated: BTreeSet::new(),
        })
    }

    /// One round: every node ticks, carries out its actions, and every message
    /// sent is delivered (unless a side of it is isolated).
    fn round(&mut self) -> Result<(), Error> {
        for (&id, raft) in &mut self.nodes {
            raft.tick()?;
            // Actions can release more actions (a durable write frees the
            // responses that waited for it), so drain until none are left.
            loop {
                let actions = raft.take_actions()?;
                if actions.is_empty() {
                    break;
                }
                if let Some(soft) = actions.soft_state {
                    println!(
                        "  node {id}: {:?} in term {} (leader: {:?})",
                        soft.role, soft.term, soft.leader
                    );
                }
                for entry in &actions.apply {
                    if let EntryPayload::Command(data) = &entry.payload {
                        println!(
                            "  node {id}: applied #{} {:?}",
                            entry.index,
                            String::from_utf8_lossy(data)
                        );
                    }
                }
                if let Some(last) = actions.apply.last() {
                    raft.applied(last.index);
                }
                self.in_flight.extend(actions.messages);
                if let Some(persist) = actions.persist {
                    // A real driver writes and fsyncs here; memory is instant.
                    raft.log_store_mut().apply(&persist);
                    raft.persisted(persist.id)?;
                }
            }
        }
        for message in std::mem::take(&mut self.in_flight) {
            if self.isolated.contains(&message.from) || self.isolated.contains(&message.to) {
                continue; // lost on the cut link
            }
            if let Some(raft) = self.nodes.get_mut(&message.to) {
                raft.step(message)?;
            }
        }
        Ok(())
    }

    fn leader(&self) -> Option<NodeId> {
        let reachable = |id: &&NodeId| !self.isolated.contains(id);
        self.nodes
            .iter()
            .filter(|(id, _)| reachable(id))
            .find(|(_, r)| r.role() == Role::Leader)
            .map(|(&id, _)| id)
    }

    fn run_until_leader(&mut self, max_rounds: usize) -> Result<Option<NodeId>, Error> {
        for _ in 0..max_rounds {
            self.round()?;
            if let Some(leader) = self.leader() {
                return Ok(Some(leader));
            }
        }
        Ok(None)
    }

    fn propose(&mut self, leader: NodeId, command: &str) {
        let Some(raft) = self.nodes.get_mut(&leader) else {
            return;
        };
        match raft.propose([Bytes::from(command.to_string())]) {
            Ok(proposal) => println!("  proposed {command:?} at index {}", proposal.first_index),
            Err(error) => println!("  proposal {command:?} refused: {error}"),
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut cluster = LocalCluster::new(&[1, 2, 3])?;

    println!("== electing a leader among nodes 1, 2, 3");
    let leader = cluster.run_until_leader(200)?.ok_or("no leader elected")?;
    println!("== node {leader} leads; proposing three commands");
    for command in ["x=1", "y=2", "z=3"] {
        cluster.propose(leader, command);
    }
    for _ in 0..10 {
        cluster.round()?;
    }

    println!("== cutting node {leader} off from the others");
    cluster.isolated.insert(leader);
    let new_leader = cluster
        .run_until_leader(200)?
        .ok_or("no new leader elected")?;
    println!("== node {new_leader} took over; proposing on it");
    cluster.propose(new_leader, "w=4");
    for _ in 0..3 {
        cluster.round()?;
    }

    println!("== healing: node {leader} rejoins as a follower and catches up");
    cluster.isolated.clear();
    for _ in 0..40 {
        cluster.round()?;
    }
    for (id, raft) in &cluster.nodes {
        let status = raft.status();
        println!(
            "  node {id}: {:?} term={} commit={} applied={}",
            status.role, status.term, status.commit_index, status.applied_index
        );
    }
    let agreed = cluster
        .nodes
        .values()
        .map(|r| r.status().applied_index)
        .collect::<BTreeSet<_>>();
    if agreed.len() != 1 {
        return Err(format!("nodes disagree on what is applied: {agreed:?}").into());
    }
    println!(
        "== all nodes applied the same {} entries",
        agreed.first().copied().unwrap_or(0)
    );
    Ok(())
}
