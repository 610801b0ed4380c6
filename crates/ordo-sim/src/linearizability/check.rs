//! The entry point: split the history into partitions and search each.

use std::collections::BTreeMap;
use std::time::Instant;

use super::budget::Budget;
use super::history::{HistoryError, Operation, validate};
use super::model::{Model, Prepared};
use super::search::{self, Counterexample, Limits, Outcome};
use super::verdict::{IndexedOperation, Linearized, Undecided, Verdict, Violation};

/// Decides whether `history` is linearizable with respect to `model`.
///
/// Each partition (key) is searched on its own, in key order; the first
/// partition without a linearization ends the check with
/// [`Verdict::Illegal`]. With a step limit only, the verdict is a function of the
/// history and the budget: the same inputs always give the same answer.
///
/// Fails only on a history no execution could produce (a response before its
/// request).
///
/// ```
/// use ordo_sim::linearizability::{
///     Budget, KvInput, KvModel, KvOperation, KvOutput, Verdict, check,
/// };
///
/// let put = KvInput::Put { key: 1, value: 10 };
/// let get = KvInput::Get { key: 1 };
/// let history = [
///     // Client 1 writes 10 between t=0 and t=5.
///     KvOperation::returned(1, put, 0, 5, KvOutput::Put),
///     // Client 2 then reads the key and sees nothing: a stale read.
///     KvOperation::returned(2, get, 6, 8, KvOutput::Get { value: None }),
/// ];
/// let verdict = check(&KvModel, &history, &Budget::default())?;
/// let Verdict::Illegal(violation) = verdict else { panic!("a stale read went unseen") };
/// assert_eq!(violation.key, 1);
/// assert_eq!(violation.stuck[0].index, 1); // the read fits no state
/// println!("{violation}");
///
/// // Had the read overlapped the write, it could have come first.
/// let overlapping = KvOperation::returned(2, get, 4, 8, KvOutput::Get { value: None });
/// let history = [history[0].clone(), overlapping];
/// assert!(check(&KvModel, &history, &Budget::default())?.is_linearizable());
/// # Ok::<(), ordo_sim::linearizability::HistoryError>(())
/// ```
pub fn check<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    budget: &Budget,
) -> Result<Verdict<M>, HistoryError> {
    validate(history)?;
    let deadline = budget
        .time_limit
        .and_then(|limit| Instant::now().checked_add(limit));
    let limits = Limits {
        max_steps: budget.max_steps_per_partition,
        deadline,
    };
    let mut undecided = Undecided {
        keys: Vec::new(),
        time_limit_passed: false,
    };
    for (key, indices) in partitions(model, history) {
        if undecided.time_limit_passed {
            undecided.keys.push(key);
            continue;
        }
        let partition = prepare(model, history, &indices);
        match search::search(model, &partition, limits) {
            Outcome::Linearizable => {}
            Outcome::OutOfBudget { time_limit_passed } => {
                undecided.keys.push(key);
                undecided.time_limit_passed = time_limit_passed;
            }
            Outcome::Illegal(counterexample) => {
                let violation = violation(model, key, history, &indices, counterexample);
                return Ok(Verdict::Illegal(Box::new(violation)));
            }
        }
    }
    if undecided.keys.is_empty() {
        Ok(Verdict::Linearizable)
    } else {
        Ok(Verdict::Unknown(undecided))
    }
}

/// The history's positions, grouped by partition. Indeterminate read-only
/// operations constrain nothing and are left out.
fn partitions<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
) -> BTreeMap<M::Key, Vec<usize>> {
    let mut partitions: BTreeMap<M::Key, Vec<usize>> = BTreeMap::new();
    for (index, operation) in history.iter().enumerate() {
        if operation.output().is_none() && model.is_read_only(&operation.input) {
            continue;
        }
        partitions
            .entry(model.partition(&operation.input))
            .or_default()
            .push(index);
    }
    partitions
}

/// One partition's operations as the search sees them, after the model's
/// [`Model::prepare`].
fn prepare<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    indices: &[usize],
) -> Vec<Prepared<M::Input, M::Output>> {
    let mut partition: Vec<_> = indices
        .iter()
        .map(|&index| {
            let operation = &history[index];
            Prepared {
                input: operation.input.clone(),
                output: operation.output().cloned(),
                call_ns: operation.call_ns,
                return_ns: operation.return_ns(),
            }
        })
        .collect();
    model.prepare(&mut partition);
    for (prepared, &index) in partition.iter().zip(indices) {
        let well_formed = prepared
            .return_ns
            .is_none_or(|return_ns| return_ns >= prepared.call_ns);
        let unmoved = prepared.call_ns == history[index].call_ns;
        assert!(
            well_formed && unmoved,
            "Model::prepare broke the interval of operation #{index}"
        );
    }
    partition
}

/// Translates a partition's counterexample back to the history, replaying the
/// original operations for the states.
fn violation<M: Model>(
    model: &M,
    key: M::Key,
    history: &[Operation<M::Input, M::Output>],
    indices: &[usize],
    counterexample: Counterexample,
) -> Violation<M> {
    let indexed = |op: usize| {
        let index = indices[op];
        IndexedOperation {
            index,
            operation: history[index].clone(),
        }
    };
    let mut state = model.init();
    let mut longest_prefix = Vec::with_capacity(counterexample.prefix.len());
    for op in counterexample.prefix {
        let operation = indexed(op);
        let original = &operation.operation;
        let Some(state_after) = model.step(&state, &original.input, original.output()) else {
            panic!(
                "Model::prepare changed what operation #{} can do",
                operation.index
            );
        };
        state = state_after.clone();
        longest_prefix.push(Linearized {
            operation,
            state_after,
        });
    }
    let stuck = counterexample.stuck.into_iter().map(indexed).collect();
    Violation {
        key,
        partition_len: indices.len(),
        longest_prefix,
        state,
        stuck,
    }
}
