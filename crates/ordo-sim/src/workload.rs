//! Key-value clients for randomized runs, and the history they record for the
//! linearizability checker.
//!
//! Each client has one operation in flight at a time, on a small key space so
//! that operations conflict often. Writes (put, delete, compare-and-set) and
//! multi-key transactions (always through the log, even read-only ones) are
//! proposed on the node the client believes leads; reads go through ReadIndex
//! on whichever node the client talks to, followers included. A client follows
//! `NotLeader` hints. The history is checked with
//! [`JointKvModel`](crate::linearizability::JointKvModel).
//!
//! Outcomes, as the checker needs them:
//! - a write whose entry is applied with the term it was proposed in returns
//!   the state machine's answer at that index;
//! - a write whose index is applied with another term was overwritten before
//!   it could commit: it never took effect, and leaves the history;
//! - a read returns the state machine's value once the node applied its read
//!   index;
//! - a refusal before anything was proposed leaves the history;
//! - anything still unanswered at the timeout, or when its node crashes, is
//!   indeterminate.
//!
//! The state machine of the simulated nodes is a function of the applied log,
//! so answers are read from each node's replica of it
//! ([`Replicas`]), replayed from the
//! node's applied entries (which survive restarts through snapshots).

use ordo_core::{Index, NodeId, ProposeError, ReadError, ReadMode, Term};

use crate::cluster::Cluster;
use crate::coordination::command::{Command, encode};
use crate::coordination::replica::Replicas;
use crate::coordination::store::Answer;
use crate::linearizability::{
    Compare, JointInput, JointOutput, KvInput, KvKey, KvOutput, KvValue, Operation, Outcome, Txn,
    TxnOp,
};

/// Keys the clients use: few, so that they conflict.
pub const KEYS: u64 = 3;

/// Steps after which an unanswered operation is given up as indeterminate.
pub const TIMEOUT_STEPS: u64 = 400;

/// One operation of the clients' history.
pub type ClientOperation = Operation<JointInput, JointOutput>;

/// What a client is waiting for.
#[derive(Clone, Debug)]
enum Pending {
    Write {
        index: Index,
        term: Term,
    },
    Read {
        request_id: u64,
        read_index: Option<Index>,
    },
}

#[derive(Clone, Debug)]
struct InFlight {
    input: JointInput,
    node: NodeId,
    call_step: u64,
    pending: Pending,
}

/// The clients of one run and the history they record.
#[derive(Debug)]
pub struct Clients {
    read_mode: ReadMode,
    targets: Vec<NodeId>,
    in_flight: Vec<Option<InFlight>>,
    history: Vec<ClientOperation>,
    next_value: KvValue,
    next_request_id: u64,
}

impl Clients {
    /// `count` clients, each first talking to node 1, reading in `read_mode`.
    pub fn new(count: usize, read_mode: ReadMode) -> Self {
        Clients {
            read_mode,
            targets: vec![1; count],
            in_flight: vec![None; count],
            history: Vec::new(),
            next_value: 0,
            next_request_id: 0,
        }
    }

    /// The history so far.
    pub fn history(&self) -> &[ClientOperation] {
        &self.history
    }

    /// Client `client` starts an operation (if idle): `choice` picks the kind,
    /// `key` the key, `fallback` the node to try when it knows no leader.
    pub fn start(
        &mut self,
        cluster: &mut Cluster,
        client: usize,
        choice: u64,
        key: KvKey,
        fallback: NodeId,
        now: u64,
    ) {
        if self.in_flight.get(client).is_none_or(Option::is_some) {
            return;
        }
        self.next_value += 2;
        let value = self.next_value;
        // Half the compare-and-sets of the original mix became transactions,
        // so the share of writes (and the runs' cost) stayed the same.
        let input = match choice % 5 {
            0 => JointInput::Single(KvInput::Put { key, value }),
            1 | 2 => JointInput::Single(KvInput::Get { key }),
            3 => JointInput::Single(KvInput::Delete { key }),
            _ if (choice / 5).is_multiple_of(2) => {
                JointInput::Txn(random_txn(choice / 10, key, value))
            }
            _ => JointInput::Single(KvInput::CompareAndSet {
                key,
                expected: if (choice / 10).is_multiple_of(2) {
                    None
                } else {
                    Some(recent_value(value, choice / 20))
                },
                new: value,
            }),
        };
        let node = self.targets[client];
        let pending = match &input {
            JointInput::Single(KvInput::Get { .. }) => self.read(cluster, client, fallback),
            JointInput::Single(single) => {
                self.propose(cluster, client, &Command::Kv(*single), fallback)
            }
            JointInput::Txn(txn) => {
                self.propose(cluster, client, &Command::Txn(txn.clone()), fallback)
            }
        };
        let Some(pending) = pending else { return };
        self.in_flight[client] = Some(InFlight {
            input,
            node,
            call_step: now,
            pending,
        });
    }

    /// Starts a ReadIndex read on the client's node; `None` if refused.
    fn read(&mut self, cluster: &mut Cluster, client: usize, fallback: NodeId) -> Option<Pending> {
        self.next_request_id += 1;
        let request_id = self.next_request_id;
        match cluster.read_index(self.targets[client], vec![request_id], self.read_mode) {
            Ok(()) => Some(Pending::Read {
                request_id,
                read_index: None,
            }),
            Err(ReadError::NoLeader | ReadError::Fatal(_)) => {
                self.targets[client] = fallback;
                None
            }
        }
    }

    /// Proposes a write on the client's node; `None` if refused before
    /// anything was appended (it never happened).
    fn propose(
        &mut self,
        cluster: &mut Cluster,
        client: usize,
        command: &Command,
        fallback: NodeId,
    ) -> Option<Pending> {
        match cluster.propose(self.targets[client], vec![encode(command)]) {
            Ok(proposal) => Some(Pending::Write {
                index: proposal.first_index,
                term: proposal.term,
            }),
            Err(ProposeError::NotLeader { leader }) => {
                self.targets[client] = leader.unwrap_or(fallback);
                None
            }
            Err(_) => None,
        }
    }

    /// A node confirmed a read at `read_index`.
    pub fn read_ready(&mut self, node: NodeId, request_id: u64, read_index: Index) {
        for op in self.in_flight.iter_mut().flatten() {
            if let Pending::Read {
                request_id: id,
                read_index: index,
            } = &mut op.pending
                && *id == request_id
                && op.node == node
            {
                *index = Some(read_index);
            }
        }
    }

    /// A node gave up on a read: it had no effect, so it leaves the history.
    pub fn read_failed(&mut self, node: NodeId, request_id: u64) {
        for slot in &mut self.in_flight {
            let failed = slot.as_ref().is_some_and(|op| {
                op.node == node && matches!(op.pending, Pending::Read { request_id: id, .. } if id == request_id)
            });
            if failed {
                *slot = None;
            }
        }
    }

    /// Completes every operation whose answer is now known, and gives up on
    /// those past the timeout or whose node crashed.
    pub fn poll(&mut self, cluster: &Cluster, replicas: &Replicas, now: u64) {
        for client in 0..self.in_flight.len() {
            let Some(op) = self.in_flight[client].clone() else {
                continue;
            };
            let resolution = if cluster.raft(op.node).is_none()
                || now.saturating_sub(op.call_step) > TIMEOUT_STEPS
            {
                Resolution::Indeterminate
            } else {
                match (&op.pending, &op.input) {
                    (&Pending::Write { index, term }, _) => {
                        write_resolution(replicas, op.node, index, term)
                    }
                    (&Pending::Read { read_index, .. }, JointInput::Single(input)) => {
                        read_resolution(replicas, op.node, read_index, input.key())
                    }
                    (Pending::Read { .. }, JointInput::Txn(_)) => {
                        unreachable!("transactions go through the log")
                    }
                }
            };
            let outcome = match resolution {
                Resolution::Unknown => continue,
                Resolution::NoEffect => None,
                Resolution::Returned(output) => Some(Outcome::Returned {
                    return_ns: step_ns(now),
                    output,
                }),
                Resolution::Indeterminate => Some(Outcome::Indeterminate),
            };
            self.in_flight[client] = None;
            if let Some(outcome) = outcome {
                self.record(client, op, outcome);
            }
        }
    }

    /// Gives up on everything still in flight (the run is over).
    pub fn finish(&mut self) {
        for client in 0..self.in_flight.len() {
            if let Some(op) = self.in_flight[client].take() {
                self.record(client, op, Outcome::Indeterminate);
            }
        }
    }

    fn record(&mut self, client: usize, op: InFlight, outcome: Outcome<JointOutput>) {
        self.history.push(ClientOperation {
            client_id: client as u64,
            input: op.input,
            call_ns: step_ns(op.call_step),
            outcome,
        });
    }
}

/// Virtual time of a step, in nanoseconds (one microsecond per step).
fn step_ns(step: u64) -> u64 {
    step * 1000
}

/// Where an operation in flight stands.
enum Resolution {
    /// No answer yet.
    Unknown,
    /// Answered.
    Returned(JointOutput),
    /// Proven never to take effect: it leaves the history.
    NoEffect,
    /// Given up: it may or may not take effect.
    Indeterminate,
}

fn write_resolution(replicas: &Replicas, node: NodeId, index: Index, term: Term) -> Resolution {
    let Some(replica) = replicas.get(node) else {
        return Resolution::Indeterminate;
    };
    if replica.applied_index() < index {
        return Resolution::Unknown;
    }
    match replica.answer(index) {
        Some((applied_term, Answer::Kv(output))) if *applied_term == term => {
            Resolution::Returned(JointOutput::Single(*output))
        }
        Some((applied_term, Answer::Txn(outcome))) if *applied_term == term => {
            Resolution::Returned(JointOutput::Txn(outcome.clone()))
        }
        // Another entry took the index: ours was overwritten, so it was never
        // committed and never will be.
        _ => Resolution::NoEffect,
    }
}

fn read_resolution(
    replicas: &Replicas,
    node: NodeId,
    read_index: Option<Index>,
    key: KvKey,
) -> Resolution {
    let Some(read_index) = read_index else {
        return Resolution::Unknown;
    };
    let Some(replica) = replicas.get(node) else {
        return Resolution::Indeterminate;
    };
    if replica.applied_index() < read_index {
        return Resolution::Unknown;
    }
    let value = replica.store().value(key);
    Resolution::Returned(JointOutput::Single(KvOutput::Get { value }))
}

/// A value written a little earlier (by this or another client), for compares
/// that sometimes hold.
fn recent_value(value: KvValue, choice: u64) -> KvValue {
    value.saturating_sub(1 + choice % 5)
}

/// A transaction over `key` and another key, writing `value` and `value - 1`
/// (both unused so far): a claim of two keys, a guarded swap, a guarded move,
/// or a two-key snapshot read. Every branch touches each key at most once.
fn random_txn(choice: u64, key: KvKey, value: KvValue) -> Txn {
    let other = (key + 1 + choice % 2) % KEYS;
    let variant = (choice / 2) % 4;
    let expected = if variant == 0 {
        None
    } else {
        Some(recent_value(value, choice / 8))
    };
    let compares = vec![Compare { key, expected }];
    let read_both = vec![TxnOp::Get { key }, TxnOp::Get { key: other }];
    let (first, second) = (value, value - 1);
    match variant {
        0 => Txn {
            compares,
            success: vec![
                TxnOp::Put { key, value: first },
                TxnOp::Put {
                    key: other,
                    value: second,
                },
            ],
            failure: read_both,
        },
        1 => Txn {
            compares,
            success: vec![
                TxnOp::Put { key, value: first },
                TxnOp::Delete { key: other },
            ],
            failure: vec![TxnOp::Get { key: other }],
        },
        2 => Txn {
            compares,
            success: vec![
                TxnOp::Delete { key },
                TxnOp::Put {
                    key: other,
                    value: second,
                },
            ],
            failure: read_both,
        },
        _ => Txn {
            compares: Vec::new(),
            success: read_both,
            failure: Vec::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// etcd refuses a transaction that touches a key twice in one branch, and
    /// the model and store would then have to agree on an order: never
    /// generate one.
    #[test]
    fn generated_transactions_touch_each_key_once_per_branch() {
        for choice in 0..64 {
            for key in 0..KEYS {
                let txn = random_txn(choice, key, 10);
                for branch in [&txn.success, &txn.failure] {
                    let keys: BTreeSet<KvKey> = branch.iter().map(TxnOp::key).collect();
                    assert_eq!(keys.len(), branch.len(), "{txn:?}");
                    assert!(keys.iter().all(|&k| k < KEYS));
                }
            }
        }
    }
}
