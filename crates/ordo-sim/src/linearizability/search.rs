//! Wing & Gong's search over one partition, with Lowe's memoization.
//!
//! The search walks the event list from the front. At a call it tries to
//! linearize that operation next: the model must accept it in the current state,
//! and the resulting `(linearized set, state)` must be new. If so the operation
//! is lifted out of the list and the walk restarts at the front. Reaching a
//! return means that operation had to be linearized by now and was not, so the
//! last choice is undone and the walk resumes just after it. The list emptying
//! proves linearizability; undoing with nothing left to undo refutes it.

use std::mem;
use std::time::Instant;

use super::bitset::Bitset;
use super::cache::Cache;
use super::entries::{EntryList, Event, Interval};
use super::history::Operation;
use super::model::Model;

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
pub(crate) enum Outcome<S> {
    Linearizable,
    Illegal(Counterexample<S>),
    OutOfBudget { time_limit_passed: bool },
}

/// The longest linearizable prefix, with the state after each operation, and the
/// operations that may come next, all of which the model rejects.
#[derive(Debug)]
pub(crate) struct Counterexample<S> {
    pub(crate) prefix: Vec<(usize, S)>,
    pub(crate) state: S,
    pub(crate) stuck: Vec<usize>,
}

/// Searches for a linearization of `operations`, all from one partition.
pub(crate) fn search<M: Model>(
    model: &M,
    operations: &[&Operation<M::Input, M::Output>],
    limits: Limits,
) -> Outcome<M::State> {
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
    operations: &[&Operation<M::Input, M::Output>],
    depth: usize,
    steps: u64,
) -> Counterexample<M::State> {
    let mut replay = Search::new(model, operations);
    if depth > 0 {
        let stop = replay.run(
            Limits {
                max_steps: steps,
                deadline: None,
            },
            Some(depth),
        );
        assert!(
            matches!(stop, Stop::ReachedDepth),
            "replay diverged from the search: {stop:?}"
        );
    }
    replay.into_counterexample()
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
    call_node: usize,
    op: usize,
    state_before: S,
}

struct Search<'a, M: Model> {
    model: &'a M,
    operations: &'a [&'a Operation<M::Input, M::Output>],
    list: EntryList,
    /// Invariant: holds exactly the operations of `stack`.
    linearized: Bitset,
    cache: Cache<M::State>,
    /// The state after the operations of `stack`, in order.
    state: M::State,
    stack: Vec<Frame<M::State>>,
    /// The largest `stack` has been.
    deepest: usize,
    steps: u64,
}

impl<'a, M: Model> Search<'a, M> {
    fn new(model: &'a M, operations: &'a [&'a Operation<M::Input, M::Output>]) -> Self {
        let intervals: Vec<Interval> = operations
            .iter()
            .map(|operation| Interval {
                call_ns: operation.call_ns,
                return_ns: operation.return_ns(),
            })
            .collect();
        Self {
            model,
            operations,
            list: EntryList::new(&intervals),
            linearized: Bitset::new(operations.len()),
            cache: Cache::new(),
            state: model.init(),
            stack: Vec::new(),
            deepest: 0,
            steps: 0,
        }
    }

    /// Searches until a verdict, the limits, or (if asked) a stack of
    /// `stop_at_depth` operations.
    fn run(&mut self, limits: Limits, stop_at_depth: Option<usize>) -> Stop {
        let mut cursor = self.list.first();
        while let Some(node) = cursor {
            if let Some(stop) = self.spend_step(limits) {
                return stop;
            }
            cursor = match self.list.event(node) {
                Event::Call { op, .. } => {
                    if !self.try_linearize(node, op) {
                        self.list.next(node)
                    } else if stop_at_depth == Some(self.stack.len()) {
                        return Stop::ReachedDepth;
                    } else {
                        self.list.first()
                    }
                }
                Event::Return { .. } => match self.undo_last() {
                    Some(call_node) => self.list.next(call_node),
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
        let read_clock = self.steps % STEPS_PER_CLOCK_READ == 0;
        match limits.deadline {
            Some(deadline) if read_clock && Instant::now() >= deadline => Some(Stop::PastDeadline),
            _ => None,
        }
    }

    /// Linearizes the operation called at `call_node` next, if the model accepts
    /// it and the configuration it leads to is unexplored.
    fn try_linearize(&mut self, call_node: usize, op: usize) -> bool {
        let operation = self.operations[op];
        let Some(next_state) = self
            .model
            .step(&self.state, &operation.input, operation.output())
        else {
            return false;
        };
        self.linearized.insert(op);
        if !self.cache.insert(&self.linearized, &next_state) {
            self.linearized.remove(op);
            return false;
        }
        let state_before = mem::replace(&mut self.state, next_state);
        self.stack.push(Frame {
            call_node,
            op,
            state_before,
        });
        self.deepest = self.deepest.max(self.stack.len());
        self.list.lift(call_node);
        true
    }

    /// Undoes the last linearized operation. Returns its call node, or `None` if
    /// nothing is linearized.
    fn undo_last(&mut self) -> Option<usize> {
        let frame = self.stack.pop()?;
        self.linearized.remove(frame.op);
        self.state = frame.state_before;
        self.list.unlift(frame.call_node);
        Some(frame.call_node)
    }

    fn into_counterexample(self) -> Counterexample<M::State> {
        let stuck = self.list.candidates();
        let states_after = self
            .stack
            .iter()
            .skip(1)
            .map(|frame| frame.state_before.clone());
        let states_after = states_after.chain([self.state.clone()]);
        let prefix = self
            .stack
            .iter()
            .map(|frame| frame.op)
            .zip(states_after)
            .collect();
        Counterexample {
            prefix,
            state: self.state,
            stuck,
        }
    }
}
