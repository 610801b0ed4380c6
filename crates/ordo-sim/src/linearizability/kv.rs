//! A key-value store on a small key space: the model the simulator's clients are
//! checked against.
//!
//! Keys and values are `u64`. Each key is its own partition, with state
//! `Option<value>` (`None`: absent), and every key starts absent. The operations,
//! and the answer a correct store gives:
//!
//! | input | effect | output |
//! | --- | --- | --- |
//! | `Put { key, value }` | key := `Some(value)` | `Put` |
//! | `Get { key }` | none | `Get { value }`: the current value, `None` if absent |
//! | `Delete { key }` | key := `None` | `Delete { existed }`: whether the key was present |
//! | `CompareAndSet { key, expected, new }` | if key == `expected`: key := `Some(new)` | `CompareAndSet { swapped }`: whether it matched |
//!
//! `CompareAndSet` compares the whole `Option`: `expected: None` means "only if
//! absent" (create), `Some(v)` means "only if present with value `v`". It always
//! sets a value; deleting is `Delete`'s job. A `CompareAndSet` that answered
//! `swapped: false` is a definite outcome (the store looked and saw another
//! value) and stays in the history.
//!
//! A workload agrees with this model when its state machine implements the table
//! above, and its clients record:
//! - a response as [`Outcome::Returned`](super::Outcome::Returned) with the output;
//! - a timeout, or any error after which the command may still be (or have been)
//!   committed, as [`Outcome::Indeterminate`](super::Outcome::Indeterminate). Such
//!   an operation takes effect at some moment after its call, or never;
//! - nothing at all for an error that proves the command was never proposed (a
//!   `NotLeader` refusal before appending it, say).
//!
//! Writing a distinct value in every `Put` and `CompareAndSet` makes violations
//! easy to find and to read; the model does not require it.
//!
//! An output of the wrong kind (`Put` answered with `Get { .. }`) matches no
//! state, so the history is reported as not linearizable at that operation.
//!
//! Before searching, [`KvModel`]'s [`Model::prepare`] folds every written value
//! that no read returns and no compare-and-set expects into one placeholder, and
//! bounds an indeterminate write by the first observation of its value when it
//! is that value's only writer. Neither changes the verdict; explanations show
//! the original operations and states.

use std::collections::{HashMap, HashSet};

use super::history::Operation;
use super::model::{Model, Prepared};

/// A key of the store.
pub type KvKey = u64;

/// A value of the store.
pub type KvValue = u64;

/// One operation of a key-value history.
pub type KvOperation = Operation<KvInput, KvOutput>;

/// What a client asks the store. See the [module docs](self) for the semantics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KvInput {
    /// Sets `key` to `value`.
    Put {
        /// The key written.
        key: KvKey,
        /// The value written.
        value: KvValue,
    },
    /// Reads `key`.
    Get {
        /// The key read.
        key: KvKey,
    },
    /// Removes `key`.
    Delete {
        /// The key removed.
        key: KvKey,
    },
    /// Sets `key` to `new` if its current value (or absence) is `expected`.
    CompareAndSet {
        /// The key compared and written.
        key: KvKey,
        /// The value the key must hold; `None`: the key must be absent.
        expected: Option<KvValue>,
        /// The value written if the comparison holds.
        new: KvValue,
    },
}

/// What the store answers. Each variant answers the input of the same name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KvOutput {
    /// The put was applied.
    Put,
    /// The value read; `None`: the key was absent.
    Get {
        /// The value read.
        value: Option<KvValue>,
    },
    /// The delete was applied.
    Delete {
        /// Whether the key was present just before.
        existed: bool,
    },
    /// The compare-and-set was applied.
    CompareAndSet {
        /// Whether the comparison held, so that the new value was written.
        swapped: bool,
    },
}

impl KvInput {
    /// The key the operation touches.
    pub fn key(&self) -> KvKey {
        match *self {
            Self::Put { key, .. }
            | Self::Get { key }
            | Self::Delete { key }
            | Self::CompareAndSet { key, .. } => key,
        }
    }

    /// Applies the operation to the value of its key, as a correct store does.
    /// Returns the new value and the answer.
    pub fn apply(&self, value: Option<KvValue>) -> (Option<KvValue>, KvOutput) {
        match *self {
            Self::Put { value: written, .. } => (Some(written), KvOutput::Put),
            Self::Get { .. } => (value, KvOutput::Get { value }),
            Self::Delete { .. } => (
                None,
                KvOutput::Delete {
                    existed: value.is_some(),
                },
            ),
            Self::CompareAndSet { expected, new, .. } => {
                let swapped = value == expected;
                let after = if swapped { Some(new) } else { value };
                (after, KvOutput::CompareAndSet { swapped })
            }
        }
    }
}

/// The key-value model: every key is a partition holding `Option<value>`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvModel;

impl Model for KvModel {
    type Key = KvKey;
    type State = Option<KvValue>;
    type Input = KvInput;
    type Output = KvOutput;

    fn partition(&self, input: &KvInput) -> KvKey {
        input.key()
    }

    fn init(&self) -> Option<KvValue> {
        None
    }

    fn step(
        &self,
        state: &Option<KvValue>,
        input: &KvInput,
        output: Option<&KvOutput>,
    ) -> Option<Option<KvValue>> {
        let (after, expected_output) = input.apply(*state);
        match output {
            None => Some(after),
            Some(output) if *output == expected_output => Some(after),
            Some(_) => None,
        }
    }

    fn is_read_only(&self, input: &KvInput) -> bool {
        matches!(input, KvInput::Get { .. })
    }

    /// Two rewrites that keep the verdict and shrink the search:
    ///
    /// - A value that no read returns and no compare-and-set expects cannot be
    ///   told apart from any other such value, so every write of one writes a
    ///   single placeholder instead. States then coincide, and indeterminate
    ///   writes of it become interchangeable.
    /// - An indeterminate write that is the only writer of a value some
    ///   operation observed (a read returned it, or a compare-and-set expecting
    ///   it succeeded) took effect before that operation returned, so it gets
    ///   the earliest such return as its own.
    fn prepare(&self, partition: &mut [Prepared<KvInput, KvOutput>]) {
        let observed_by = earliest_observations(partition);
        let mut mentioned: HashSet<KvValue> = observed_by.keys().copied().collect();
        mentioned.extend(
            partition
                .iter()
                .filter_map(|operation| match operation.input {
                    KvInput::CompareAndSet { expected, .. } => expected,
                    _ => None,
                }),
        );
        let mut writers: HashMap<KvValue, usize> = HashMap::new();
        for operation in partition.iter() {
            if let Some(value) = written(&operation.input) {
                *writers.entry(value).or_default() += 1;
            }
        }
        let placeholder = (0..=u64::MAX)
            .rev()
            .find(|value| !mentioned.contains(value));
        for operation in partition.iter_mut() {
            let Some(value) = written(&operation.input) else {
                continue;
            };
            if !mentioned.contains(&value) {
                if let Some(placeholder) = placeholder {
                    set_written(&mut operation.input, placeholder);
                }
            } else if operation.return_ns.is_none()
                && writers.get(&value) == Some(&1)
                && let Some(&observed_ns) = observed_by.get(&value)
            {
                operation.return_ns = Some(observed_ns.max(operation.call_ns));
            }
        }
    }
}

/// For every value some operation observed, the earliest return of such an
/// operation: a read that returned it, or a compare-and-set expecting it that
/// succeeded.
fn earliest_observations(partition: &[Prepared<KvInput, KvOutput>]) -> HashMap<KvValue, u64> {
    let mut earliest: HashMap<KvValue, u64> = HashMap::new();
    for operation in partition {
        let observed = match (operation.input, operation.output) {
            (_, Some(KvOutput::Get { value })) => value,
            (
                KvInput::CompareAndSet { expected, .. },
                Some(KvOutput::CompareAndSet { swapped: true }),
            ) => expected,
            _ => None,
        };
        if let (Some(value), Some(return_ns)) = (observed, operation.return_ns) {
            let entry = earliest.entry(value).or_insert(return_ns);
            *entry = (*entry).min(return_ns);
        }
    }
    earliest
}

/// The value an operation writes if it writes one.
fn written(input: &KvInput) -> Option<KvValue> {
    match *input {
        KvInput::Put { value, .. } => Some(value),
        KvInput::CompareAndSet { new, .. } => Some(new),
        KvInput::Get { .. } | KvInput::Delete { .. } => None,
    }
}

fn set_written(input: &mut KvInput, placeholder: KvValue) {
    match input {
        KvInput::Put { value, .. } => *value = placeholder,
        KvInput::CompareAndSet { new, .. } => *new = placeholder,
        KvInput::Get { .. } | KvInput::Delete { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_and_set_compares_presence_too() {
        let create = KvInput::CompareAndSet {
            key: 1,
            expected: None,
            new: 5,
        };
        assert_eq!(
            create.apply(None),
            (Some(5), KvOutput::CompareAndSet { swapped: true })
        );
        assert_eq!(
            create.apply(Some(5)),
            (Some(5), KvOutput::CompareAndSet { swapped: false })
        );

        let swap = KvInput::CompareAndSet {
            key: 1,
            expected: Some(5),
            new: 6,
        };
        assert_eq!(
            swap.apply(Some(5)),
            (Some(6), KvOutput::CompareAndSet { swapped: true })
        );
        assert_eq!(
            swap.apply(None),
            (None, KvOutput::CompareAndSet { swapped: false })
        );
    }

    #[test]
    fn step_checks_the_output_only_when_there_is_one() {
        let get = KvInput::Get { key: 1 };
        let read_seven = KvOutput::Get { value: Some(7) };
        assert_eq!(
            KvModel.step(&Some(7), &get, Some(&read_seven)),
            Some(Some(7))
        );
        assert_eq!(KvModel.step(&Some(8), &get, Some(&read_seven)), None);
        assert_eq!(KvModel.step(&Some(8), &get, None), Some(Some(8)));

        let delete = KvInput::Delete { key: 1 };
        let existed = KvOutput::Delete { existed: true };
        assert_eq!(KvModel.step(&Some(8), &delete, Some(&existed)), Some(None));
        assert_eq!(KvModel.step(&None, &delete, Some(&existed)), None);
        assert_eq!(KvModel.step(&None, &delete, None), Some(None));
    }

    fn prepared(
        input: KvInput,
        output: Option<KvOutput>,
        span: (u64, Option<u64>),
    ) -> Prepared<KvInput, KvOutput> {
        Prepared {
            input,
            output,
            call_ns: span.0,
            return_ns: span.1,
        }
    }

    #[test]
    fn values_nobody_observes_become_one_placeholder() {
        let mut partition = [
            prepared(
                KvInput::Put { key: 1, value: 10 },
                Some(KvOutput::Put),
                (0, Some(5)),
            ),
            prepared(KvInput::Put { key: 1, value: 20 }, None, (0, None)),
            prepared(
                KvInput::CompareAndSet {
                    key: 1,
                    expected: Some(30),
                    new: 40,
                },
                None,
                (0, None),
            ),
            prepared(
                KvInput::Put {
                    key: 1,
                    value: u64::MAX,
                },
                None,
                (0, None),
            ),
            prepared(
                KvInput::Get { key: 1 },
                Some(KvOutput::Get {
                    value: Some(u64::MAX),
                }),
                (6, Some(9)),
            ),
        ];
        KvModel.prepare(&mut partition);
        let placeholder = u64::MAX - 1;
        assert_eq!(
            partition[0].input,
            KvInput::Put {
                key: 1,
                value: placeholder
            }
        );
        assert_eq!(
            partition[1].input,
            KvInput::Put {
                key: 1,
                value: placeholder
            }
        );
        let cas = KvInput::CompareAndSet {
            key: 1,
            expected: Some(30),
            new: placeholder,
        };
        assert_eq!(partition[2].input, cas);
        assert_eq!(
            partition[3].input,
            KvInput::Put {
                key: 1,
                value: u64::MAX
            },
            "observed"
        );
        assert_eq!(partition[1].return_ns, None);
    }

    #[test]
    fn an_indeterminate_write_takes_effect_before_its_value_is_observed() {
        let swap = KvInput::CompareAndSet {
            key: 1,
            expected: Some(7),
            new: 8,
        };
        let mut partition = [
            prepared(KvInput::Put { key: 1, value: 7 }, None, (10, None)),
            prepared(
                KvInput::Get { key: 1 },
                Some(KvOutput::Get { value: Some(7) }),
                (20, Some(50)),
            ),
            prepared(
                swap,
                Some(KvOutput::CompareAndSet { swapped: true }),
                (12, Some(40)),
            ),
            prepared(KvInput::Put { key: 1, value: 9 }, None, (10, None)),
            prepared(KvInput::Put { key: 1, value: 9 }, None, (11, None)),
            prepared(
                KvInput::Get { key: 1 },
                Some(KvOutput::Get { value: Some(9) }),
                (20, Some(30)),
            ),
        ];
        KvModel.prepare(&mut partition);
        assert_eq!(
            partition[0].return_ns,
            Some(40),
            "the swap observed 7 first"
        );
        assert_eq!(
            partition[3].return_ns, None,
            "two writers of 9: either may be the one seen"
        );
        assert_eq!(partition[4].return_ns, None);
    }

    #[test]
    fn an_output_of_the_wrong_kind_matches_no_state() {
        let put = KvInput::Put { key: 1, value: 2 };
        let wrong = KvOutput::Get { value: Some(2) };
        assert_eq!(KvModel.step(&None, &put, Some(&wrong)), None);
        assert_eq!(KvModel.step(&Some(2), &put, Some(&wrong)), None);
    }
}
