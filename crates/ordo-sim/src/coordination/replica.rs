//! Each node's copy of the store, kept up to date with what it applied.
//!
//! A simulated node's state machine is a function of its applied entries
//! (which survive restarts through snapshots), so a replica replays them once
//! and then only the new ones. Invariant: a replica's store is exactly the
//! replay of `applied[..applied_len]` of its node's current incarnation; when
//! the node restarts or its applied list is replaced by one that does not
//! extend the replayed prefix (a snapshot install), the replica is rebuilt.

use std::collections::BTreeMap;

use ordo_core::{Entry, EntryPayload, Index, NodeId, Term};

use super::command::{Command, decode};
use super::store::{Answer, Store};
use crate::cluster::Cluster;

/// One node's store and the answers it gave.
#[derive(Clone, Debug, Default)]
pub struct Replica {
    incarnation: u64,
    applied_len: usize,
    last_replayed: Option<(Index, Term)>,
    store: Store,
    answers: BTreeMap<Index, (Term, Answer)>,
}

impl Replica {
    /// The store after every entry the node applied.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The index of the last entry replayed (0 if none).
    pub fn applied_index(&self) -> Index {
        self.last_replayed.map_or(0, |(index, _)| index)
    }

    /// The term and answer of the store command at `index`, if one was applied
    /// there.
    pub fn answer(&self, index: Index) -> Option<&(Term, Answer)> {
        self.answers.get(&index)
    }

    /// Replays `applied` from the start.
    pub fn replay(incarnation: u64, applied: &[Entry]) -> Self {
        let mut replica = Replica {
            incarnation,
            ..Replica::default()
        };
        replica.extend(applied);
        replica
    }

    fn extend(&mut self, applied: &[Entry]) {
        for entry in &applied[self.applied_len..] {
            self.last_replayed = Some((entry.index, entry.term));
            let EntryPayload::Command(data) = &entry.payload else {
                continue;
            };
            let Some(command) = decode(data) else {
                continue;
            };
            let answer = self.store.apply(&command);
            self.answers.insert(entry.index, (entry.term, answer));
        }
        self.applied_len = applied.len();
    }

    /// Whether `applied` (of incarnation `incarnation`) extends what was
    /// replayed.
    fn extended_by(&self, incarnation: u64, applied: &[Entry]) -> bool {
        if incarnation != self.incarnation || applied.len() < self.applied_len {
            return false;
        }
        match (self.applied_len.checked_sub(1), self.last_replayed) {
            (None, _) => true,
            (Some(last), Some(replayed)) => {
                let entry = &applied[last];
                (entry.index, entry.term) == replayed
            }
            (Some(_), None) => false,
        }
    }
}

/// Every node's replica.
#[derive(Clone, Debug, Default)]
pub struct Replicas {
    by_node: BTreeMap<NodeId, Replica>,
}

impl Replicas {
    /// Brings every node's replica up to date with what it applied.
    pub fn refresh(&mut self, cluster: &Cluster) {
        for (&id, node) in &cluster.nodes {
            let replica = self.by_node.entry(id).or_default();
            if replica.extended_by(node.incarnation, &node.applied) {
                replica.extend(&node.applied);
            } else {
                *replica = Replica::replay(node.incarnation, &node.applied);
            }
        }
    }

    /// The replica of node `id`, if it was ever seen.
    pub fn get(&self, id: NodeId) -> Option<&Replica> {
        self.by_node.get(&id)
    }

    /// All replicas, by node.
    pub fn iter(&self) -> impl Iterator<Item = (&NodeId, &Replica)> {
        self.by_node.iter()
    }
}

/// Replays the committed entries `1..` (up to the first index not known
/// committed) into a store: the committed history every node's store must be
/// a prefix of.
pub fn committed_store(committed: &BTreeMap<Index, Entry>) -> Store {
    let mut store = Store::default();
    let contiguous = committed
        .iter()
        .zip(1..)
        .take_while(|((index, _), expected)| **index == *expected);
    for ((_, entry), _) in contiguous {
        if let EntryPayload::Command(data) = &entry.payload
            && let Some(command) = decode(data)
        {
            store.apply(&command);
        }
    }
    store
}

/// Decodes the store command in `entry`, if it holds one.
pub fn command_of(entry: &Entry) -> Option<Command> {
    match &entry.payload {
        EntryPayload::Command(data) => decode(data),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use ordo_core::Entry;

    use super::*;
    use crate::coordination::command::encode;
    use crate::linearizability::KvInput;

    fn put(index: Index, term: Term, value: u64) -> Entry {
        Entry::command(
            index,
            term,
            encode(&Command::Kv(KvInput::Put { key: 0, value })),
        )
    }

    #[test]
    fn a_replica_extends_or_rebuilds_as_its_node_applied() {
        let applied = [put(1, 1, 5), put(2, 1, 6)];
        let mut replica = Replica::replay(1, &applied[..1]);
        assert!(replica.extended_by(1, &applied));
        replica.extend(&applied);
        assert_eq!(replica.store().value(0), Some(6));
        assert_eq!(replica.answer(2).map(|(term, _)| *term), Some(1));
        // Another history at the same length, or another incarnation: rebuild.
        assert!(!replica.extended_by(1, &[put(1, 1, 5), put(2, 2, 7)]));
        assert!(!replica.extended_by(2, &applied));
    }
}
