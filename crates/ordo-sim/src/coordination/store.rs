//! The simulated nodes' state machine: a multi-version key-value store with
//! revisions, transactions and leases, after etcd's v3 model.
//!
//! Invariants, kept by [`Store::apply`]:
//! - `revision` advances by exactly one per applied command that changes
//!   something (a put, a delete of a present key, a transaction or a lease
//!   expiry with at least one such change); a transaction with several writes,
//!   and an expiry deleting several keys, take one revision;
//! - `events` holds one event per change, in revision order, and the events of
//!   one revision are exactly that command's changes;
//! - a key carrying a lease exists only while that lease does.
//!
//! It is written independently of the linearizability model (which it is
//! checked against) so that a bug here is not mirrored there.

use std::collections::{BTreeMap, BTreeSet};

use super::command::{Command, LeaseId};
use crate::linearizability::{
    JointState, KvInput, KvKey, KvOutput, KvValue, Txn, TxnOp, TxnOpResult, TxnOutcome,
};

/// A cluster revision.
pub type Revision = u64;

/// One change the store made, as a watcher sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    /// The revision of the command that made it.
    pub revision: Revision,
    /// The key changed.
    pub key: KvKey,
    /// The new value; `None`: the key was deleted.
    pub value: Option<KvValue>,
}

/// What the store answered to one command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// A single-key operation's answer.
    Kv(KvOutput),
    /// A transaction's answer.
    Txn(TxnOutcome),
    /// A lease command's answer: whether the lease existed (or, for a grant,
    /// was created).
    Lease {
        /// Whether it took effect.
        applied: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Record {
    value: KvValue,
    mod_revision: Revision,
    lease: Option<LeaseId>,
}

/// A live lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// Its time to live, in steps.
    pub ttl_steps: u64,
    /// The keys attached to it.
    pub keys: BTreeSet<KvKey>,
}

/// The store. See the [module docs](self) for its invariants.
#[derive(Clone, Debug, Default)]
pub struct Store {
    revision: Revision,
    keys: BTreeMap<KvKey, Record>,
    leases: BTreeMap<LeaseId, Lease>,
    events: Vec<WatchEvent>,
}

impl Store {
    /// The current revision (0 before the first change).
    pub fn revision(&self) -> Revision {
        self.revision
    }

    /// Every change so far, in revision order (the history watchers read).
    pub fn events(&self) -> &[WatchEvent] {
        &self.events
    }

    /// The live leases.
    pub fn leases(&self) -> &BTreeMap<LeaseId, Lease> {
        &self.leases
    }

    /// The value of `key`, if present.
    pub fn value(&self, key: KvKey) -> Option<KvValue> {
        self.keys.get(&key).map(|record| record.value)
    }

    /// The values of the keys `keys`, as the linearizability model sees them.
    pub fn values(&self, keys: impl Iterator<Item = KvKey>) -> JointState {
        keys.filter_map(|key| Some((key, self.value(key)?)))
            .collect()
    }

    /// Applies one command and returns its answer.
    pub fn apply(&mut self, command: &Command) -> Answer {
        let changes_before = self.events.len();
        let answer = match command {
            Command::Kv(input) => Answer::Kv(self.apply_single(input)),
            Command::Txn(txn) => Answer::Txn(self.apply_txn(txn)),
            Command::LeaseGrant { lease, ttl_steps } => {
                let fresh = !self.leases.contains_key(lease);
                if fresh {
                    let keys = BTreeSet::new();
                    let ttl_steps = *ttl_steps;
                    self.leases.insert(*lease, Lease { ttl_steps, keys });
                }
                Answer::Lease { applied: fresh }
            }
            Command::PutWithLease { key, value, lease } => {
                let exists = self.leases.contains_key(lease);
                if exists {
                    self.put(*key, *value, Some(*lease));
                }
                Answer::Lease { applied: exists }
            }
            Command::LeaseExpire { lease } => Answer::Lease {
                applied: self.expire(*lease),
            },
        };
        if self.events.len() > changes_before {
            self.revision += 1;
        }
        answer
    }

    fn apply_single(&mut self, input: &KvInput) -> KvOutput {
        let key = input.key();
        let (after, output) = input.apply(self.value(key));
        let changed = match output {
            KvOutput::Put => true,
            KvOutput::Delete { existed } => existed,
            KvOutput::CompareAndSet { swapped } => swapped,
            KvOutput::Get { .. } => false,
        };
        if changed {
            match after {
                Some(value) => self.put(key, value, None),
                None => self.delete(key),
            }
        }
        output
    }

    /// Evaluates the compares once, then runs the chosen branch in order: the
    /// whole transaction is one command, so one revision.
    fn apply_txn(&mut self, txn: &Txn) -> TxnOutcome {
        let compares_hold = |store: &Store| {
            txn.compares
                .iter()
                .all(|c| store.value(c.key) == c.expected)
        };
        let succeeded = compares_hold(self);
        let branch = if succeeded {
            &txn.success
        } else {
            &txn.failure
        };
        let mut results = Vec::with_capacity(branch.len());
        for (position, op) in branch.iter().enumerate() {
            // Planted bug: a store that applies a transaction one write at a
            // time, re-checking its guard against its own partial writes; the
            // torn transaction still claims its whole branch ran.
            if cfg!(feature = "planted-bug-txn-non-atomic")
                && succeeded
                && position > 0
                && !compares_hold(self)
            {
                results.extend(branch[position..].iter().map(claimed_result));
                break;
            }
            results.push(self.apply_op(op));
        }
        TxnOutcome { succeeded, results }
    }

    fn apply_op(&mut self, op: &TxnOp) -> TxnOpResult {
        match *op {
            TxnOp::Put { key, value } => {
                self.put(key, value, None);
                TxnOpResult::Put
            }
            TxnOp::Delete { key } => {
                let existed = self.keys.contains_key(&key);
                if existed {
                    self.delete(key);
                }
                TxnOpResult::Delete { existed }
            }
            TxnOp::Get { key } => TxnOpResult::Get {
                value: self.value(key),
            },
        }
    }

    /// Deletes the lease's keys and the lease; whether it existed.
    fn expire(&mut self, lease: LeaseId) -> bool {
        let Some(expired) = self.leases.remove(&lease) else {
            return false;
        };
        for key in expired.keys {
            self.delete(key);
        }
        true
    }

    /// Records a put at the revision being made (`revision + 1`).
    fn put(&mut self, key: KvKey, value: KvValue, lease: Option<LeaseId>) {
        let revision = self.revision + 1;
        self.detach(key);
        if let Some(lease) = lease {
            let attached = self.leases.get_mut(&lease);
            assert!(
                attached.is_some(),
                "a put attaches key {key} to lease {lease}, which is gone"
            );
            if let Some(attached) = attached {
                attached.keys.insert(key);
            }
        }
        let record = Record {
            value,
            mod_revision: revision,
            lease,
        };
        self.keys.insert(key, record);
        let value = Some(value);
        self.events.push(WatchEvent {
            revision,
            key,
            value,
        });
    }

    fn delete(&mut self, key: KvKey) {
        let revision = self.revision + 1;
        self.detach(key);
        let removed = self.keys.remove(&key);
        assert!(removed.is_some(), "deleting key {key}, which is absent");
        self.events.push(WatchEvent {
            revision,
            key,
            value: None,
        });
    }

    /// Removes `key` from the lease it carries, if any.
    fn detach(&mut self, key: KvKey) {
        let lease = self.keys.get(&key).and_then(|record| record.lease);
        if let Some(lease) = lease.and_then(|lease| self.leases.get_mut(&lease)) {
            lease.keys.remove(&key);
        }
    }

    /// The mod revision of `key`, if present.
    pub fn mod_revision(&self, key: KvKey) -> Option<Revision> {
        self.keys.get(&key).map(|record| record.mod_revision)
    }
}

/// What the planted torn transaction claims for an operation it skipped.
fn claimed_result(op: &TxnOp) -> TxnOpResult {
    match op {
        TxnOp::Put { .. } => TxnOpResult::Put,
        TxnOp::Delete { .. } => TxnOpResult::Delete { existed: true },
        TxnOp::Get { .. } => TxnOpResult::Get { value: None },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linearizability::Compare;

    #[test]
    fn a_txn_with_several_writes_takes_one_revision() {
        let mut store = Store::default();
        store.apply(&Command::Kv(KvInput::Put { key: 0, value: 1 }));
        let txn = Txn {
            compares: vec![Compare {
                key: 0,
                expected: Some(1),
            }],
            success: vec![TxnOp::Put { key: 1, value: 2 }, TxnOp::Delete { key: 0 }],
            failure: vec![],
        };
        store.apply(&Command::Txn(txn));
        assert_eq!(store.revision(), 2);
        assert_eq!(store.mod_revision(1), Some(2));
        let revisions: Vec<Revision> = store.events().iter().map(|e| e.revision).collect();
        assert_eq!(revisions, [1, 2, 2]);
        // Nothing changes: no new revision.
        store.apply(&Command::Kv(KvInput::Delete { key: 0 }));
        assert_eq!(store.revision(), 2);
    }

    #[test]
    fn an_expiry_deletes_every_key_of_its_lease_at_one_revision() {
        let mut store = Store::default();
        store.apply(&Command::LeaseGrant {
            lease: 7,
            ttl_steps: 10,
        });
        for key in [100, 101] {
            let put = Command::PutWithLease {
                key,
                value: key,
                lease: 7,
            };
            assert_eq!(store.apply(&put), Answer::Lease { applied: true });
        }
        assert_eq!(
            store.apply(&Command::LeaseExpire { lease: 7 }),
            Answer::Lease { applied: true }
        );
        assert_eq!(store.revision(), 3);
        assert_eq!(store.value(100), None);
        assert_eq!(store.value(101), None);
        let last: Vec<&WatchEvent> = store.events().iter().filter(|e| e.revision == 3).collect();
        assert_eq!(last.len(), 2);
        let late = Command::PutWithLease {
            key: 100,
            value: 1,
            lease: 7,
        };
        assert_eq!(store.apply(&late), Answer::Lease { applied: false });
        assert_eq!(store.revision(), 3);
    }
}
