//! Key-value clients for randomized runs, and the history they record for the
//! linearizability checker.
//!
//! Each client has one operation in flight at a time, on a small key space so
//! that operations conflict often. Writes (put, delete, compare-and-set) are
//! proposed on the node the client believes leads; reads go through ReadIndex
//! on whichever node the client talks to, followers included. A client follows
//! `NotLeader` hints.
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
//! so answers are recomputed from a node's applied entries (which survive
//! restarts through snapshots).

use std::collections::BTreeMap;

use bytes::Bytes;
use ordo_core::{Entry, EntryPayload, Index, NodeId, ProposeError, ReadError, ReadMode, Term};

use crate::cluster::Cluster;
use crate::linearizability::{KvInput, KvKey, KvOperation, KvOutput, KvValue, Outcome};

/// Keys the clients use: few, so that they conflict.
pub const KEYS: u64 = 3;

/// Steps after which an unanswered operation is given up as indeterminate.
pub const TIMEOUT_STEPS: u64 = 400;

const TAG_PUT: u8 = 1;
const TAG_GET: u8 = 2;
const TAG_DELETE: u8 = 3;
const TAG_CAS_ABSENT: u8 = 4;
const TAG_CAS_PRESENT: u8 = 5;

/// Encodes a key-value command as a log entry payload.
pub fn encode(input: &KvInput) -> Bytes {
    let (tag, key, a, b) = match *input {
        KvInput::Put { key, value } => (TAG_PUT, key, value, 0),
        KvInput::Get { key } => (TAG_GET, key, 0, 0),
        KvInput::Delete { key } => (TAG_DELETE, key, 0, 0),
        KvInput::CompareAndSet {
            key,
            expected: None,
            new,
        } => (TAG_CAS_ABSENT, key, 0, new),
        KvInput::CompareAndSet {
            key,
            expected: Some(expected),
            new,
        } => (TAG_CAS_PRESENT, key, expected, new),
    };
    let mut bytes = Vec::with_capacity(25);
    bytes.push(tag);
    for word in [key, a, b] {
        bytes.extend_from_slice(&word.to_le_bytes());
    }
    Bytes::from(bytes)
}

/// Decodes a payload written by [`encode`]; anything else is not a
/// key-value command (the runs also propose opaque commands).
pub fn decode(bytes: &[u8]) -> Option<KvInput> {
    let (&tag, rest) = bytes.split_first()?;
    if rest.len() != 24 {
        return None;
    }
    let word = |i: usize| u64::from_le_bytes(rest[i * 8..i * 8 + 8].try_into().unwrap_or_default());
    let (key, a, b) = (word(0), word(1), word(2));
    Some(match tag {
        TAG_PUT => KvInput::Put { key, value: a },
        TAG_GET => KvInput::Get { key },
        TAG_DELETE => KvInput::Delete { key },
        TAG_CAS_ABSENT => KvInput::CompareAndSet {
            key,
            expected: None,
            new: b,
        },
        TAG_CAS_PRESENT => KvInput::CompareAndSet {
            key,
            expected: Some(a),
            new: b,
        },
        _ => return None,
    })
}

/// Replays `applied` through a key-value store. Returns the store and, if
/// `answer_at` was applied, the answer given to the command at that index.
pub fn replay(
    applied: &[Entry],
    answer_at: Option<Index>,
) -> (BTreeMap<KvKey, KvValue>, Option<(Term, KvOutput)>) {
    let mut store = BTreeMap::new();
    let mut answer = None;
    for entry in applied {
        let EntryPayload::Command(data) = &entry.payload else {
            continue;
        };
        let Some(input) = decode(data) else { continue };
        let key = input.key();
        let (after, output) = input.apply(store.get(&key).copied());
        match after {
            Some(value) => store.insert(key, value),
            None => store.remove(&key),
        };
        if Some(entry.index) == answer_at {
            answer = Some((entry.term, output));
        }
    }
    (store, answer)
}

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
    input: KvInput,
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
    history: Vec<KvOperation>,
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
    pub fn history(&self) -> &[KvOperation] {
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
        self.next_value += 1;
        let value = self.next_value;
        let input = match choice % 5 {
            0 => KvInput::Put { key, value },
            1 | 2 => KvInput::Get { key },
            3 => KvInput::Delete { key },
            _ => KvInput::CompareAndSet {
                key,
                expected: if choice.is_multiple_of(2) {
                    None
                } else {
                    Some(value.saturating_sub(1 + choice % 3))
                },
                new: value,
            },
        };
        let node = self.targets[client];
        let pending = match input {
            KvInput::Get { .. } => {
                self.next_request_id += 1;
                let request_id = self.next_request_id;
                match cluster.read_index(node, vec![request_id], self.read_mode) {
                    Ok(()) => Pending::Read {
                        request_id,
                        read_index: None,
                    },
                    Err(ReadError::NoLeader | ReadError::Fatal(_)) => {
                        self.targets[client] = fallback;
                        return;
                    }
                }
            }
            _ => match cluster.propose(node, vec![encode(&input)]) {
                Ok(proposal) => Pending::Write {
                    index: proposal.first_index,
                    term: proposal.term,
                },
                Err(ProposeError::NotLeader { leader }) => {
                    self.targets[client] = leader.unwrap_or(fallback);
                    return;
                }
                // Refused before anything was appended: never happened.
                Err(_) => return,
            },
        };
        self.in_flight[client] = Some(InFlight {
            input,
            node,
            call_step: now,
            pending,
        });
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
    pub fn poll(&mut self, cluster: &Cluster, now: u64) {
        for client in 0..self.in_flight.len() {
            let Some(op) = self.in_flight[client].clone() else {
                continue;
            };
            let resolution = if cluster.raft(op.node).is_none()
                || now.saturating_sub(op.call_step) > TIMEOUT_STEPS
            {
                Resolution::Indeterminate
            } else {
                match op.pending {
                    Pending::Write { index, term } => {
                        write_resolution(cluster, op.node, index, term)
                    }
                    Pending::Read { read_index, .. } => {
                        read_resolution(cluster, op.node, read_index, op.input.key())
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

    fn record(&mut self, client: usize, op: InFlight, outcome: Outcome<KvOutput>) {
        self.history.push(KvOperation {
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
    Returned(KvOutput),
    /// Proven never to take effect: it leaves the history.
    NoEffect,
    /// Given up: it may or may not take effect.
    Indeterminate,
}

fn write_resolution(cluster: &Cluster, node: NodeId, index: Index, term: Term) -> Resolution {
    let Some(applied) = cluster.nodes.get(&node).map(|n| &n.applied) else {
        return Resolution::Indeterminate;
    };
    if applied.last().is_none_or(|last| last.index < index) {
        return Resolution::Unknown;
    }
    match replay(applied, Some(index)).1 {
        Some((applied_term, output)) if applied_term == term => Resolution::Returned(output),
        // Another entry took the index: ours was overwritten, so it was never
        // committed and never will be.
        _ => Resolution::NoEffect,
    }
}

fn read_resolution(
    cluster: &Cluster,
    node: NodeId,
    read_index: Option<Index>,
    key: KvKey,
) -> Resolution {
    let Some(read_index) = read_index else {
        return Resolution::Unknown;
    };
    let Some(applied) = cluster.nodes.get(&node).map(|n| &n.applied) else {
        return Resolution::Indeterminate;
    };
    if applied.last().map_or(0, |last| last.index) < read_index {
        return Resolution::Unknown;
    }
    let (store, _) = replay(applied, None);
    Resolution::Returned(KvOutput::Get {
        value: store.get(&key).copied(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_round_trip() {
        let inputs = [
            KvInput::Put { key: 1, value: 7 },
            KvInput::Get { key: 2 },
            KvInput::Delete { key: 0 },
            KvInput::CompareAndSet {
                key: 1,
                expected: None,
                new: 3,
            },
            KvInput::CompareAndSet {
                key: 1,
                expected: Some(3),
                new: 4,
            },
        ];
        for input in inputs {
            assert_eq!(decode(&encode(&input)), Some(input));
        }
        assert_eq!(decode(b"c12"), None);
    }

    #[test]
    fn replay_answers_at_the_index_asked() {
        let applied = [
            Entry::command(1, 1, encode(&KvInput::Put { key: 1, value: 5 })),
            Entry::command(2, 1, encode(&KvInput::Delete { key: 1 })),
            Entry::command(3, 2, encode(&KvInput::Delete { key: 1 })),
        ];
        let (store, answer) = replay(&applied, Some(2));
        assert!(store.is_empty());
        assert_eq!(answer, Some((1, KvOutput::Delete { existed: true })));
        assert_eq!(
            replay(&applied, Some(3)).1,
            Some((2, KvOutput::Delete { existed: false }))
        );
    }
}
