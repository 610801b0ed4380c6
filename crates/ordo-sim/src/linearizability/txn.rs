//! Multi-key transactions, and the model that checks histories holding them:
//! the joint state of the whole (small) key space is one partition.
//!
//! # Why one partition
//!
//! [`KvModel`](super::KvModel) checks each key alone, which locality (Herlihy &
//! Wing) makes sound only when no operation touches two keys. A transaction
//! reads and writes several keys at one instant, so splitting it across
//! partitions would let the search give it a different instant in each, and a
//! torn transaction (half its writes visible) would pass. [`JointKvModel`]
//! therefore checks the whole history as one partition whose state is the
//! value of every key. The simulator's key space is tiny (three keys, three
//! clients), so the state stays small and the memo cache (which keys on the
//! state) keeps the search near linear, as with one key; the run's budget
//! still bounds it.
//!
//! # Semantics (etcd's `Txn`, reduced to values)
//!
//! A [`Txn`] holds compares, a success branch and a failure branch. If every
//! compare holds, the success operations run in order, else the failure
//! operations; all of it at one instant. A compare is "the key's value equals
//! `v`" or "the key is absent". Operations are put, delete and get; a get sees
//! the writes earlier in its own branch (the workload never touches a key
//! twice in one branch, as etcd refuses that). The answer names the branch and
//! each operation's result. Revisions are left out: they are a function of the
//! order of writes, which this model already fixes, and the simulator checks
//! them against the committed log instead (see `crate::coordination`).

use std::collections::{BTreeMap, HashSet};

use super::kv::{KvInput, KvKey, KvOutput, KvValue};
use super::model::{Model, Prepared};

/// A condition a transaction tests before choosing its branch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Compare {
    /// The key compared.
    pub key: KvKey,
    /// The value it must hold; `None`: it must be absent.
    pub expected: Option<KvValue>,
}

/// One operation of a transaction branch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TxnOp {
    /// Sets `key` to `value`.
    Put {
        /// The key written.
        key: KvKey,
        /// The value written.
        value: KvValue,
    },
    /// Removes `key`.
    Delete {
        /// The key removed.
        key: KvKey,
    },
    /// Reads `key`.
    Get {
        /// The key read.
        key: KvKey,
    },
}

/// What one [`TxnOp`] answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TxnOpResult {
    /// The put was applied.
    Put,
    /// The delete was applied; whether the key was present just before.
    Delete {
        /// Whether the key was present.
        existed: bool,
    },
    /// The value read; `None`: absent.
    Get {
        /// The value read.
        value: Option<KvValue>,
    },
}

/// A multi-key transaction: compares, then one branch, atomically.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Txn {
    /// All must hold for the success branch to run.
    pub compares: Vec<Compare>,
    /// Runs if every compare holds.
    pub success: Vec<TxnOp>,
    /// Runs otherwise.
    pub failure: Vec<TxnOp>,
}

/// What a transaction answered.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TxnOutcome {
    /// Whether the compares held (the success branch ran).
    pub succeeded: bool,
    /// The results of the branch that ran, in order.
    pub results: Vec<TxnOpResult>,
}

impl TxnOp {
    /// The key the operation touches.
    pub fn key(&self) -> KvKey {
        match *self {
            Self::Put { key, .. } | Self::Delete { key } | Self::Get { key } => key,
        }
    }

    /// Whether the operation writes.
    pub fn writes(&self) -> bool {
        !matches!(self, Self::Get { .. })
    }

    /// Applies the operation to `values`, as a correct store does.
    pub fn apply(&self, values: &mut BTreeMap<KvKey, KvValue>) -> TxnOpResult {
        match *self {
            Self::Put { key, value } => {
                values.insert(key, value);
                TxnOpResult::Put
            }
            Self::Delete { key } => TxnOpResult::Delete {
                existed: values.remove(&key).is_some(),
            },
            Self::Get { key } => TxnOpResult::Get {
                value: values.get(&key).copied(),
            },
        }
    }
}

impl Compare {
    /// Whether the compare holds in `values`.
    pub fn holds(&self, values: &BTreeMap<KvKey, KvValue>) -> bool {
        values.get(&self.key).copied() == self.expected
    }
}

impl Txn {
    /// Applies the transaction to `values` at one instant, as a correct store
    /// does.
    pub fn apply(&self, values: &mut BTreeMap<KvKey, KvValue>) -> TxnOutcome {
        let succeeded = self.compares.iter().all(|compare| compare.holds(values));
        let branch = if succeeded {
            &self.success
        } else {
            &self.failure
        };
        let results = branch.iter().map(|op| op.apply(values)).collect();
        TxnOutcome { succeeded, results }
    }

    /// Whether neither branch writes.
    pub fn is_read_only(&self) -> bool {
        !self.success.iter().chain(&self.failure).any(TxnOp::writes)
    }
}

/// An operation of a history checked by [`JointKvModel`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum JointInput {
    /// A single-key operation, with [`KvModel`](super::KvModel)'s semantics.
    Single(KvInput),
    /// A transaction.
    Txn(Txn),
}

/// The answer to a [`JointInput`] of the same variant.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum JointOutput {
    /// The answer to a single-key operation.
    Single(KvOutput),
    /// The answer to a transaction.
    Txn(TxnOutcome),
}

/// The value of every present key.
pub type JointState = BTreeMap<KvKey, KvValue>;

/// Checks a history of single-key operations and transactions as one partition
/// over every key. See the [module docs](self).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JointKvModel;

impl JointInput {
    /// Applies the operation to `values`, as a correct store does.
    pub fn apply(&self, values: &mut JointState) -> JointOutput {
        match self {
            Self::Single(input) => {
                let key = input.key();
                let (after, output) = input.apply(values.get(&key).copied());
                match after {
                    Some(value) => values.insert(key, value),
                    None => values.remove(&key),
                };
                JointOutput::Single(output)
            }
            Self::Txn(txn) => JointOutput::Txn(txn.apply(values)),
        }
    }
}

impl Model for JointKvModel {
    type Key = ();
    type State = JointState;
    type Input = JointInput;
    type Output = JointOutput;

    fn partition(&self, _input: &JointInput) {}

    fn init(&self) -> JointState {
        JointState::new()
    }

    fn step(
        &self,
        state: &JointState,
        input: &JointInput,
        output: Option<&JointOutput>,
    ) -> Option<JointState> {
        let mut after = state.clone();
        let expected = input.apply(&mut after);
        match output {
            Some(output) if *output != expected => None,
            _ => Some(after),
        }
    }

    fn is_read_only(&self, input: &JointInput) -> bool {
        match input {
            JointInput::Single(input) => matches!(input, KvInput::Get { .. }),
            JointInput::Txn(txn) => txn.is_read_only(),
        }
    }

    /// A value that no read returns and no compare names cannot be told apart
    /// from any other such value, so every write of one writes a single
    /// placeholder instead: states then coincide and the memo cache prunes
    /// more (as [`KvModel`](super::KvModel) does per key).
    fn prepare(&self, partition: &mut [Prepared<JointInput, JointOutput>]) {
        let mentioned = mentioned_values(partition);
        let Some(placeholder) = (0..=u64::MAX)
            .rev()
            .find(|value| !mentioned.contains(value))
        else {
            return;
        };
        let fold = |value: &mut KvValue| {
            if !mentioned.contains(value) {
                *value = placeholder;
            }
        };
        for operation in partition.iter_mut() {
            match &mut operation.input {
                JointInput::Single(KvInput::Put { value, .. }) => fold(value),
                JointInput::Single(KvInput::CompareAndSet { new, .. }) => fold(new),
                JointInput::Single(_) => {}
                JointInput::Txn(txn) => {
                    for op in txn.success.iter_mut().chain(txn.failure.iter_mut()) {
                        if let TxnOp::Put { value, .. } = op {
                            fold(value);
                        }
                    }
                }
            }
        }
    }
}

/// Every value a read returned or a compare names.
fn mentioned_values(partition: &[Prepared<JointInput, JointOutput>]) -> HashSet<KvValue> {
    let mut mentioned = HashSet::new();
    for operation in partition {
        match &operation.input {
            JointInput::Single(KvInput::CompareAndSet { expected, .. }) => {
                mentioned.extend(*expected);
            }
            JointInput::Txn(txn) => {
                mentioned.extend(txn.compares.iter().filter_map(|c| c.expected));
            }
            JointInput::Single(_) => {}
        }
        match &operation.output {
            Some(JointOutput::Single(KvOutput::Get { value })) => mentioned.extend(*value),
            Some(JointOutput::Txn(outcome)) => {
                for result in &outcome.results {
                    if let TxnOpResult::Get { value } = result {
                        mentioned.extend(*value);
                    }
                }
            }
            _ => {}
        }
    }
    mentioned
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linearizability::{Budget, Operation, check};

    fn claim_two_keys(first: KvValue, second: KvValue) -> Txn {
        Txn {
            compares: vec![Compare {
                key: 0,
                expected: None,
            }],
            success: vec![
                TxnOp::Put {
                    key: 0,
                    value: first,
                },
                TxnOp::Put {
                    key: 1,
                    value: second,
                },
            ],
            failure: vec![TxnOp::Get { key: 0 }, TxnOp::Get { key: 1 }],
        }
    }

    #[test]
    fn a_txn_runs_one_branch_at_one_instant() {
        let txn = claim_two_keys(5, 6);
        let mut values = JointState::new();
        let outcome = txn.apply(&mut values);
        assert!(outcome.succeeded);
        assert_eq!(values, BTreeMap::from([(0, 5), (1, 6)]));
        let outcome = txn.apply(&mut values);
        assert_eq!(
            outcome,
            TxnOutcome {
                succeeded: false,
                results: vec![
                    TxnOpResult::Get { value: Some(5) },
                    TxnOpResult::Get { value: Some(6) }
                ]
            }
        );
    }

    /// A transaction whose success was acknowledged but whose second write
    /// never showed (a torn transaction) has no linearization, although each
    /// key alone would have one.
    #[test]
    fn a_torn_transaction_is_refuted() {
        let claim = JointInput::Txn(claim_two_keys(5, 6));
        let claimed = JointOutput::Txn(TxnOutcome {
            succeeded: true,
            results: vec![TxnOpResult::Put, TxnOpResult::Put],
        });
        let read_both = JointInput::Txn(Txn {
            compares: vec![],
            success: vec![TxnOp::Get { key: 0 }, TxnOp::Get { key: 1 }],
            failure: vec![],
        });
        let saw = |second| {
            JointOutput::Txn(TxnOutcome {
                succeeded: true,
                results: vec![
                    TxnOpResult::Get { value: Some(5) },
                    TxnOpResult::Get { value: second },
                ],
            })
        };
        let good = [
            Operation::returned(1, claim.clone(), 0, 10, claimed.clone()),
            Operation::returned(2, read_both.clone(), 11, 20, saw(Some(6))),
        ];
        let verdict = check(&JointKvModel, &good, &Budget::default());
        assert!(verdict.is_ok_and(|v| v.is_linearizable()));
        let torn = [
            Operation::returned(1, claim, 0, 10, claimed),
            Operation::returned(2, read_both, 11, 20, saw(None)),
        ];
        let verdict = check(&JointKvModel, &torn, &Budget::default());
        assert!(verdict.is_ok_and(|v| v.violation().is_some()));
    }
}
