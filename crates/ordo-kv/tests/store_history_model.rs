//! [`KvStore`]'s multi-version model against a naive twin that keeps the
//! whole state at every revision: random legacy writes, txns, lease grants
//! and revocations and compactions must give the same revisions and
//! refusals, every range read at every retained revision must match the
//! state kept for it, the changes from every revision (paged at several
//! sizes) must be the differences between consecutive states (a txn's in
//! the order its operations wrote them), and a snapshot must restore to an
//! equal store.

#![allow(clippy::unwrap_used)]

mod store_support;

use std::collections::BTreeMap;

use bytes::Bytes;
use ordo::StateMachine;
use ordo_kv::store::{
    CheckpointStamp, Compare, CompareResult, CompareTarget, DeleteRangeRequest, Event, EventKind,
    KeyRange, KeyValue, KvAnswer, KvCommand, KvQuery, KvResponse, KvStore, LeaseCheckpoint,
    LeaseRemaining, PutRequest, RangeRequest, RequestOp, ResponseOp, TxnRequest,
};
use proptest::prelude::*;
use store_support::{apply, snapshot};

type State = BTreeMap<Bytes, KeyValue>;

/// The rules the obvious way: a full copy of the state per revision.
struct Model {
    /// `states[r]`: the keys at revision `r`.
    states: Vec<State>,
    leases: BTreeMap<i64, i64>,
    next_lease_id: i64,
    compact_revision: u64,
    /// The keys each txn's revision wrote, in the order its operations
    /// wrote them (every other command writes its keys in key order).
    txn_write_order: BTreeMap<u64, Vec<Bytes>>,
}

/// What the model predicts for a command: a refusal, or the revision after
/// it and (for a txn) whether it succeeded.
#[derive(Debug, PartialEq)]
enum Outcome {
    Refused,
    Applied { revision: u64, succeeded: bool },
}

impl Model {
    fn new() -> Self {
        Self {
            states: vec![State::new()],
            leases: BTreeMap::new(),
            next_lease_id: 1,
            compact_revision: 0,
            txn_write_order: BTreeMap::new(),
        }
    }

    fn revision(&self) -> u64 {
        self.states.len() as u64 - 1
    }

    fn current(&self) -> &State {
        &self.states[self.states.len() - 1]
    }

    /// Records `next` as a new revision if it differs from the current state.
    fn commit(&mut self, next: State) -> u64 {
        if &next != self.current() {
            self.states.push(next);
        }
        self.revision()
    }

    fn put_into(state: &mut State, key: &Bytes, value: &Bytes, lease: i64, revision: u64) {
        let previous = state.get(key);
        let kv = KeyValue {
            key: key.clone(),
            value: value.clone(),
            create_revision: previous.map_or(revision, |kv| kv.create_revision),
            mod_revision: revision,
            version: previous.map_or(1, |kv| kv.version + 1),
            lease,
        };
        state.insert(key.clone(), kv);
    }

    fn apply(&mut self, command: &KvCommand) -> Outcome {
        let next_revision = self.revision() + 1;
        let mut next = self.current().clone();
        match command {
            KvCommand::Put {
                key,
                value,
                if_revision,
            } => {
                let current = next.get(key).map_or(0, |kv| kv.mod_revision);
                if if_revision.is_some_and(|expected| expected != current) {
                    return Outcome::Applied {
                        revision: self.revision(),
                        succeeded: false,
                    };
                }
                Self::put_into(&mut next, key, value, 0, next_revision);
            }
            KvCommand::Delete { key } => {
                next.remove(key);
            }
            KvCommand::Txn(txn) => return self.txn(txn),
            KvCommand::LeaseGrant { ttl, .. } => {
                let id = self.next_lease_id;
                self.next_lease_id += 1;
                self.leases.insert(id, *ttl);
            }
            KvCommand::LeaseRevoke { id } => {
                if self.leases.remove(id).is_none() {
                    return Outcome::Refused;
                }
                next.retain(|_, kv| kv.lease != *id);
            }
            KvCommand::Compact { revision } => {
                if *revision > self.revision() || *revision <= self.compact_revision {
                    return Outcome::Refused;
                }
                self.compact_revision = *revision;
            }
            // Auth changes no key (the model generates none; if it did, the
            // keys would stay as they are).
            KvCommand::Auth(_) => {}
            // Lease times are not key state: no key, no revision moves.
            KvCommand::LeaseCheckpoint(_) => {}
        }
        Outcome::Applied {
            revision: self.commit(next),
            succeeded: true,
        }
    }

    /// Txns as generated: one compare on one key, flat branches.
    fn txn(&mut self, txn: &TxnRequest) -> Outcome {
        for branch in [&txn.success, &txn.failure] {
            let puts: Vec<&Bytes> = branch
                .iter()
                .filter_map(|op| match op {
                    RequestOp::Put(put) => Some(&put.key),
                    _ => None,
                })
                .collect();
            let mut unique = puts.clone();
            unique.sort();
            unique.dedup();
            let in_delete = puts.iter().any(|key| {
                branch.iter().any(|op| {
                    matches!(op, RequestOp::DeleteRange(delete) if delete.range().contains(key))
                })
            });
            if unique.len() != puts.len() || in_delete {
                return Outcome::Refused;
            }
        }
        let succeeded = txn.compare.iter().all(|compare| {
            let kv = self.current().get(&compare.key);
            let ordering = match (&compare.target, kv) {
                (CompareTarget::Value(_), None) => return false,
                (CompareTarget::Value(value), Some(kv)) => kv.value.cmp(value),
                (CompareTarget::Version(version), kv) => kv.map_or(0, |kv| kv.version).cmp(version),
                (CompareTarget::ModRevision(revision), kv) => {
                    kv.map_or(0, |kv| kv.mod_revision).cmp(revision)
                }
                _ => unreachable!("not generated"),
            };
            match compare.result {
                CompareResult::Equal => ordering.is_eq(),
                CompareResult::NotEqual => ordering.is_ne(),
                CompareResult::Less => ordering.is_lt(),
                CompareResult::Greater => ordering.is_gt(),
            }
        });
        let branch = if succeeded {
            &txn.success
        } else {
            &txn.failure
        };
        let lease_missing = branch.iter().any(|op| {
            matches!(op, RequestOp::Put(put) if put.lease != 0 && !self.leases.contains_key(&put.lease))
        });
        if lease_missing {
            return Outcome::Refused;
        }
        let next_revision = self.revision() + 1;
        let mut next = self.current().clone();
        let mut write_order = Vec::new();
        for op in branch {
            match op {
                RequestOp::Put(put) => {
                    write_order.push(put.key.clone());
                    Self::put_into(&mut next, &put.key, &put.value, put.lease, next_revision)
                }
                RequestOp::DeleteRange(delete) => {
                    let range = delete.range();
                    let deleted = next.keys().filter(|key| range.contains(key));
                    write_order.extend(deleted.cloned());
                    next.retain(|key, _| !range.contains(key))
                }
                _ => {}
            }
        }
        let revision = self.commit(next);
        if revision == next_revision {
            self.txn_write_order.insert(revision, write_order);
        }
        Outcome::Applied {
            revision,
            succeeded,
        }
    }

    /// The events at revisions `from..`, in `range`, derived from the states.
    fn events_from(&self, range: &KeyRange, from: u64) -> Vec<(u64, Event)> {
        let mut events = Vec::new();
        for revision in from.max(1)..=self.revision() {
            let (before, after) = (
                &self.states[revision as usize - 1],
                &self.states[revision as usize],
            );
            let mut keys: Vec<&Bytes> = before.keys().chain(after.keys()).collect();
            keys.sort();
            keys.dedup();
            if let Some(order) = self.txn_write_order.get(&revision) {
                keys.sort_by_key(|key| order.iter().position(|written| written == *key));
            }
            for key in keys.into_iter().filter(|key| range.contains(key)) {
                let (old, new) = (before.get(key), after.get(key));
                if old == new {
                    continue;
                }
                let event = match new {
                    Some(kv) => Event {
                        kind: EventKind::Put,
                        kv: kv.clone(),
                        prev_kv: old.cloned(),
                    },
                    None => Event {
                        kind: EventKind::Delete,
                        kv: KeyValue {
                            key: key.clone(),
                            mod_revision: revision,
                            ..KeyValue::default()
                        },
                        prev_kv: old.cloned(),
                    },
                };
                events.push((revision, event));
            }
        }
        events
    }
}

fn outcome(response: &KvResponse) -> Outcome {
    match response {
        KvResponse::Refused(_) => Outcome::Refused,
        KvResponse::Written { revision } | KvResponse::Deleted { revision, .. } => {
            Outcome::Applied {
                revision: *revision,
                succeeded: true,
            }
        }
        KvResponse::CompareFailed { .. } => Outcome::Applied {
            revision: 0,
            succeeded: false,
        },
        KvResponse::Txn(txn) => Outcome::Applied {
            revision: txn.revision,
            succeeded: txn.succeeded,
        },
        KvResponse::LeaseRevoked { revision, .. } => Outcome::Applied {
            revision: *revision,
            succeeded: true,
        },
        KvResponse::LeaseGranted { .. }
        | KvResponse::Compacted { .. }
        | KvResponse::AuthChanged { .. }
        | KvResponse::LeaseCheckpointed { .. } => Outcome::Applied {
            revision: 0,
            succeeded: true,
        },
    }
}

/// Normalises outcomes whose revision the store does not report.
fn comparable(command: &KvCommand, model: Outcome) -> Outcome {
    match (command, model) {
        (
            KvCommand::Put { .. },
            Outcome::Applied {
                succeeded: false, ..
            },
        )
        | (
            KvCommand::LeaseGrant { .. }
            | KvCommand::Compact { .. }
            | KvCommand::LeaseCheckpoint(_),
            Outcome::Applied { .. },
        ) => Outcome::Applied {
            revision: 0,
            succeeded: !matches!(command, KvCommand::Put { .. }),
        },
        (_, other) => other,
    }
}

const ALPHABET: &[u8] = b"ab\xff";

fn key() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(prop::sample::select(ALPHABET), 1..3).prop_map(Bytes::from)
}

fn value() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..3).prop_map(Bytes::from)
}

fn op() -> impl Strategy<Value = RequestOp> {
    prop_oneof![
        3 => (key(), value(), 0..3i64).prop_map(|(key, value, lease)| {
            RequestOp::Put(PutRequest { key, value, lease, prev_kv: true, ..PutRequest::default() })
        }),
        1 => (key(), any::<bool>()).prop_map(|(key, prefix)| {
            let range = if prefix { KeyRange::prefix(key) } else { KeyRange::single(key) };
            RequestOp::DeleteRange(DeleteRangeRequest { key: range.key, range_end: range.range_end, prev_kv: true })
        }),
        1 => key().prop_map(|key| RequestOp::Range(RangeRequest::new(KeyRange::prefix(key)))),
    ]
}

fn compare() -> impl Strategy<Value = Compare> {
    let target = prop_oneof![
        value().prop_map(CompareTarget::Value),
        (0..4u64).prop_map(CompareTarget::Version),
        (0..12u64).prop_map(CompareTarget::ModRevision),
    ];
    let result = prop::sample::select(vec![
        CompareResult::Equal,
        CompareResult::NotEqual,
        CompareResult::Less,
        CompareResult::Greater,
    ]);
    (target, result, key()).prop_map(|(target, result, key)| Compare {
        target,
        result,
        key,
        range_end: Bytes::new(),
    })
}

fn command() -> impl Strategy<Value = KvCommand> {
    let branch = || prop::collection::vec(op(), 0..4);
    prop_oneof![
        3 => (key(), value(), prop::option::of(0..10u64))
            .prop_map(|(key, value, if_revision)| KvCommand::Put { key, value, if_revision }),
        1 => key().prop_map(|key| KvCommand::Delete { key }),
        4 => (prop::collection::vec(compare(), 0..2), branch(), branch())
            .prop_map(|(compare, success, failure)| KvCommand::Txn(TxnRequest { compare, success, failure })),
        1 => (1..100i64).prop_map(|ttl| KvCommand::LeaseGrant { id: 0, ttl }),
        1 => (1..4i64).prop_map(|id| KvCommand::LeaseRevoke { id }),
        1 => (0..12u64).prop_map(|revision| KvCommand::Compact { revision }),
        1 => (1..4u64, 0..4u64, 1..4i64, 0..200_000u64).prop_map(|(term, sequence, id, remaining_ms)| {
            KvCommand::LeaseCheckpoint(LeaseCheckpoint {
                stamp: CheckpointStamp { term, sequence },
                leases: vec![LeaseRemaining { id, remaining_ms }],
            })
        }),
    ]
}

fn prefixes() -> Vec<Bytes> {
    let mut all = vec![Bytes::new()];
    for first in ALPHABET {
        all.push(Bytes::from(vec![*first]));
    }
    all
}

fn assert_reads_match(store: &KvStore, model: &Model) {
    for revision in 0..=model.revision() + 1 {
        for prefix in prefixes() {
            let request = RangeRequest {
                revision,
                ..RangeRequest::new(KeyRange::prefix(prefix.clone()))
            };
            let answer = store.query(KvQuery::Range(request));
            let readable = revision == 0
                || (revision >= model.compact_revision && revision <= model.revision());
            if !readable {
                assert!(
                    matches!(answer, KvAnswer::Refused(_)),
                    "rev {revision}: {answer:?}"
                );
                continue;
            }
            let at = if revision == 0 {
                model.revision()
            } else {
                revision
            };
            let expected: Vec<KeyValue> = model.states[at as usize]
                .values()
                .filter(|kv| KeyRange::prefix(prefix.clone()).contains(&kv.key))
                .cloned()
                .collect();
            let KvAnswer::Range(range) = answer else {
                panic!("rev {revision}: {answer:?}")
            };
            assert_eq!(
                range.kvs, expected,
                "revision {revision}, prefix {prefix:?}"
            );
            assert_eq!(range.count, expected.len() as u64);
        }
    }
}

fn assert_changes_match(store: &KvStore, model: &Model) {
    for from in 0..=model.revision() + 1 {
        for prefix in prefixes() {
            let range = KeyRange::prefix(prefix);
            let query = |from_revision, max_events| {
                store.query(KvQuery::Changes {
                    range: range.clone(),
                    from_revision,
                    max_events,
                })
            };
            if model.compact_revision > 0 && from <= model.compact_revision {
                assert!(matches!(query(from, 0), KvAnswer::Refused(_)));
                continue;
            }
            let expected = model.events_from(&range, from);
            for max_events in [0, 1, 2] {
                let mut seen: Vec<(u64, Event)> = Vec::new();
                let mut next = from;
                for _ in 0..=model.revision() + 1 {
                    let KvAnswer::Changes(page) = query(next, max_events) else {
                        panic!()
                    };
                    let first = page.events.first().map(|event| event.kv.mod_revision);
                    if let (Some(first), Some((last, _))) = (first, seen.last()) {
                        assert!(first > *last, "a revision was split across pages");
                    }
                    seen.extend(
                        page.events
                            .iter()
                            .map(|event| (event.kv.mod_revision, event.clone())),
                    );
                    assert!(page.next_revision > next || page.next_revision > model.revision());
                    next = page.next_revision;
                    if next > model.revision() {
                        break;
                    }
                }
                assert_eq!(
                    seen, expected,
                    "changes from {from} by {max_events} in {range:?}"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn the_store_follows_the_history_model(commands in prop::collection::vec(command(), 0..24)) {
        let mut store = KvStore::new();
        let mut model = Model::new();
        for command in commands {
            let expected = comparable(&command, model.apply(&command));
            let response = apply(&mut store, vec![command.clone()]).remove(0);
            prop_assert_eq!(outcome(&response), expected, "{:?} -> {:?}", command, response);
            prop_assert_eq!(store.cluster_revision(), model.revision());
        }
        assert_reads_match(&store, &model);
        assert_changes_match(&store, &model);
        let stats = store.stats();
        prop_assert_eq!(stats.keys, model.current().len() as u64);
        prop_assert_eq!(stats.compact_revision, model.compact_revision);
        let bytes = snapshot(&store);
        let mut restored = KvStore::new();
        restored.restore(&mut &bytes[..]).unwrap();
        prop_assert_eq!(&restored, &store);
        prop_assert_eq!(snapshot(&restored), bytes);
    }
}

#[test]
fn txn_put_answers_carry_the_previous_kv() {
    let mut store = KvStore::new();
    let put = |value: &'static str| {
        KvCommand::Txn(TxnRequest {
            success: vec![RequestOp::Put(PutRequest {
                key: "k".into(),
                value: value.into(),
                prev_kv: true,
                ..PutRequest::default()
            })],
            ..TxnRequest::default()
        })
    };
    let responses = apply(&mut store, vec![put("1"), put("2")]);
    let KvResponse::Txn(second) = &responses[1] else {
        panic!("{responses:?}")
    };
    let ResponseOp::Put {
        prev_kv: Some(prev),
    } = &second.responses[0]
    else {
        panic!("{second:?}")
    };
    assert_eq!(
        (prev.value.as_ref(), prev.mod_revision, prev.version),
        (&b"1"[..], 1, 1)
    );
}
