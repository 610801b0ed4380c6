//! Wing & Gong's search over one partition, with Lowe's memoization.
//!
//! The search walks the list of call and return events from the front. At a
//! call it tries to linearize that operation next: the model must accept it in
//! the current state, and the resulting configuration `(linearized set, state)`
//! must be one the [`Cache`] lets through. If so the operation is taken out and
//! the walk restarts at the front. Reaching a return is a dead end: that
//! operation had to be linearized by now. The search then undoes the last choice
//! and resumes just after it. Linearizing every operation that returns proves
//! linearizability; undoing with nothing left to undo refutes it.
//!
//! Indeterminate operations never return, so once called they stay candidates
//! for the rest of the search and multiply its configurations. Three rules keep
//! them in check, all sound because such an operation can always be placed after
//! everything else instead (its output is unconstrained and [`Model::step`]
//! accepts it in every state):
//! - when only indeterminate operations are left, the history is linearizable;
//! - one that would leave the state unchanged is not tried;
//! - of several with equal inputs, only the earliest-called still pending is
//!   tried, since swapping them changes nothing.

use std::collections::HashMap;
use std::hash::Hash;
use std::mem;
use std::time::Instant;

use super::bitset::Bitset;
use super::cache::{Cache, EntryId};
use super::entries::{EntryList, Event};
use super::model::{Model, Prepared};

/// The deadline is read once every this many steps.
const STEPS_PER_CLOCK_READ: u64 = 4096;

/// How far one partition's search may go.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) max_steps: u64,
    pub(crate) deadline: Option<Instant>,
}

/// The result for one partition. Operation indices are positions in the slice
/// the search was given.
#[derive(Debug)]
pub(crate) enum Outcome {
    Linearizable,
    Illegal(Counterexample),
    OutOfBudget { time_limit_passed: bool },
}

/// The longest linearizable prefix found, and the operations that could come
/// next in real time, none of which the model accepts after that prefix.
#[derive(Debug)]
pub(crate) struct Counterexample {
    pub(crate) prefix: Vec<usize>,
    pub(crate) stuck: Vec<usize>,
}

/// Searches for a linearization of `operations`, all from one partition.
pub(crate) fn search<M: Model>(
    model: &M,
    operations: &[Prepared<M::Input, M::Output>],
    limits: Limits,
) -> Outcome {
    let mut search = Search::new(model, operations);
    match search.run(limits, None) {
        Stop::AllLinearized => Outcome::Linearizable,
        Stop::OutOfSteps => Outcome::OutOfBudget {
            time_limit_passed: false,
        },
        Stop::PastDeadline => Outcome::OutOfBudget {
            time_limit_passed: true,
        },
        Stop::Exhausted => Outcome::Illegal(counterexample(
            model,
            operations,
            search.deepest,
            search.steps,
        )),
        Stop::ReachedDepth => unreachable!("no depth was asked for"),
    }
}

/// Replays a refuted search up to the first moment it reached its greatest depth:
/// the search is deterministic, so this costs at most as many steps as the
/// search did, and only refutations pay it.
fn counterexample<M: Model>(
    model: &M,
    operations: &[Prepared<M::Input, M::Output>],
    depth: usize,
    steps: u64,
) -> Counterexample {
    let mut replay = Search::new(model, operations);
    if depth > 0 {
        let stop = replay.run(
            Limits {
                max_steps: steps,
                deadline: None,
            },
            Some(depth),
        );
        assert_eq!(
            stop,
            Stop::ReachedDepth,
            "the replay diverged from the search"
        );
    }
    let prefix = replay.stack.iter().map(|frame| frame.op).collect();
    let mut stuck = replay.entries.candidates();
    stuck.retain(|&op| operations[op].return_ns.is_some());
    Counterexample { prefix, stuck }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    AllLinearized,
    /// Every order was tried or skipped as already explored.
    Exhausted,
    /// Reached the depth asked for.
    ReachedDepth,
    OutOfSteps,
    PastDeadline,
}

/// A linearized operation, and what undoing it needs.
struct Frame<S> {
    op: usize,
    /// Its call event, where the walk resumes on undo.
    call: usize,
    state_before: S,
    /// The configuration it led to.
    entry: EntryId,
}

struct Search<'a, M: Model> {
    model: &'a M,
    operations: &'a [Prepared<M::Input, M::Output>],
    entries: EntryList,
    /// For an indeterminate operation, the one with an equal input called just
    /// before it, which must be linearized first.
    twin_before: Vec<Option<usize>>,
    /// Each operation's bit in `linearized`: operations that return first, then
    /// the indeterminate ones from a fresh word.
    bit: Vec<usize>,
    /// Invariant: holds exactly the bits of the operations of `stack`.
    linearized: Bitset,
    cache: Cache<M::State>,
    /// The state after the operations of `stack`, in order.
    state: M::State,
    stack: Vec<Frame<M::State>>,
    /// Operations that return and are not in `stack`.
    returning_left: usize,
    /// The largest `stack` has been.
    deepest: usize,
    steps: u64,
}

impl<'a, M: Model> Search<'a, M> {
    fn new(model: &'a M, operations: &'a [Prepared<M::Input, M::Output>]) -> Self {
        let intervals: Vec<(u64, Option<u64>)> = operations
            .iter()
            .map(|operation| (operation.call_ns, operation.return_ns))
            .collect();
        let returning = operations
            .iter()
            .filter(|operation| operation.return_ns.is_some());
        let returning_len = returning.count();
        let split_word = returning_len.div_ceil(64);
        let (mut returning_bits, mut indeterminate_bits) = (0, 64 * split_word);
        let bit = operations
            .iter()
            .map(|operation| {
                let next = match operation.return_ns {
                    Some(_) => &mut returning_bits,
                    None => &mut indeterminate_bits,
                };
                *next += 1;
                *next - 1
            })
            .collect();
        Self {
            model,
            operations,
            entries: EntryList::new(&intervals),
            twin_before: twins(operations),
            bit,
            linearized: Bitset::new(split_word, indeterminate_bits),
            cache: Cache::new(),
            state: model.init(),
            stack: Vec::new(),
            returning_left: returning_len,
            deepest: 0,
            steps: 0,
        }
    }

    /// Searches until a verdict, the limits, or (if asked) a stack of
    /// `stop_at_depth` operations.
    fn run(&mut self, limits: Limits, stop_at_depth: Option<usize>) -> Stop {
        let mut cursor = self.entries.first();
        while let Some(event) = cursor {
            if self.returning_left == 0 {
                break;
            }
            if let Some(stop) = self.spend_step(limits) {
                return stop;
            }
            cursor = match self.entries.event(event) {
                Event::Call { op, .. } => {
                    if !self.try_linearize(op, event) {
                        self.entries.next(event)
                    } else if stop_at_depth == Some(self.stack.len()) {
                        return Stop::ReachedDepth;
                    } else {
                        self.entries.first()
                    }
                }
                Event::Return { .. } => match self.undo_last() {
                    Some(call) => self.entries.next(call),
                    None => return Stop::Exhausted,
                },
            };
        }
        Stop::AllLinearized
    }

    fn spend_step(&mut self, limits: Limits) -> Option<Stop> {
        if self.steps >= limits.max_steps {
            return Some(Stop::OutOfSteps);
        }
        self.steps += 1;
        let read_clock = self.steps.is_multiple_of(STEPS_PER_CLOCK_READ);
        match limits.deadline {
            Some(deadline) if read_clock && Instant::now() >= deadline => Some(Stop::PastDeadline),
            _ => None,
        }
    }

    /// Linearizes `op`, called at event `call`, next if the model accepts it, the
    /// rules for indeterminate operations allow it, and the cache lets the
    /// configuration through.
    fn try_linearize(&mut self, op: usize, call: usize) -> bool {
        let operation = &self.operations[op];
        let Some(next_state) =
            self.model
                .step(&self.state, &operation.input, operation.output.as_ref())
        else {
            return false;
        };
        let returns = operation.return_ns.is_some();
        if !returns && (next_state == self.state || self.twin_pending(op)) {
            return false;
        }
        self.linearized.insert(self.bit[op]);
        let Some(entry) = self.cache.enter(&self.linearized, &next_state) else {
            self.linearized.remove(self.bit[op]);
            return false;
        };
        let state_before = mem::replace(&mut self.state, next_state);
        self.stack.push(Frame {
            op,
            call,
            state_before,
            entry,
        });
        self.deepest = self.deepest.max(self.stack.len());
        self.entries.lift(call);
        self.returning_left -= usize::from(returns);
        true
    }

    fn twin_pending(&self, op: usize) -> bool {
        self.twin_before[op].is_some_and(|twin| !self.linearized.contains(self.bit[twin]))
    }

    /// Undoes the last linearized operation and returns its call event, or
    /// `None` if nothing is linearized.
    fn undo_last(&mut self) -> Option<usize> {
        let frame = self.stack.pop()?;
        self.cache.fail(frame.entry);
        self.linearized.remove(self.bit[frame.op]);
        self.state = frame.state_before;
        self.entries.unlift(frame.call);
        self.returning_left += usize::from(self.operations[frame.op].return_ns.is_some());
        Some(frame.call)
    }
}

/// For each indeterminate operation, the previous one (in call order) with an
/// equal input.
fn twins<I: Eq + Hash, O>(operations: &[Prepared<I, O>]) -> Vec<Option<usize>> {
    let mut indeterminate: Vec<(u64, usize)> = (0..operations.len())
        .filter(|&op| operations[op].return_ns.is_none())
        .map(|op| (operations[op].call_ns, op))
        .collect();
    indeterminate.sort_unstable();
    let mut twin_before = vec![None; operations.len()];
    let mut latest: HashMap<&I, usize> = HashMap::new();
    for (_, op) in indeterminate {
        twin_before[op] = latest.insert(&operations[op].input, op);
    }
    twin_before
}
