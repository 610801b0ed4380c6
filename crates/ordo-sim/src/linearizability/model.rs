//! The sequential specification a history is checked against.

use std::fmt::Debug;
use std::hash::Hash;

/// A sequential specification: what one copy of the data does with one operation
/// at a time. The checker asks whether the concurrent history could have come from
/// applying its operations to this model in some order that respects real time.
///
/// Operations are split into independent partitions by [`Model::partition`] and
/// each partition is checked alone from [`Model::init`]. That is sound only if
/// operations in different partitions never affect each other, as with distinct
/// keys of a key-value store; a model without such structure uses `Key = ()`.
///
/// The model must be deterministic: the same state, input and output always give
/// the same answer.
pub trait Model {
    /// Names a partition. Partitions are checked in ascending order.
    type Key: Ord + Clone + Debug;
    /// The state of one partition. The search remembers `(linearized set, state)`
    /// pairs it has explored, so equal states must hash equally, and small states
    /// make the search cheap.
    type State: Clone + Eq + Hash + Debug;
    /// What a client asks. Equal inputs must mean equal operations: the search
    /// treats two indeterminate operations with equal inputs as interchangeable.
    type Input: Clone + Debug + Eq + Hash;
    /// What a client is told.
    type Output: Clone + Debug;

    /// The partition an operation belongs to.
    fn partition(&self, input: &Self::Input) -> Self::Key;

    /// The state of every partition before the first operation.
    fn init(&self) -> Self::State;

    /// Applies `input` to `state`. Returns the new state if the operation could
    /// have answered `output` there, or `None` if it could not.
    ///
    /// `output` is `None` when the outcome is indeterminate: the answer is then
    /// unconstrained and only the effect matters, and `step` must accept every
    /// state (return `Some`). The search relies on that: an indeterminate
    /// operation that never took effect is placed after everything else, and one
    /// that would leave the state unchanged is not tried at all.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<Self::State>;

    /// Whether `step` leaves every state unchanged for this input, whatever the
    /// output (a read). An indeterminate read constrains nothing, so the checker
    /// drops it before searching, which keeps concurrency low. Defaults to `false`,
    /// which is always correct.
    fn is_read_only(&self, input: &Self::Input) -> bool {
        let _ = input;
        false
    }

    /// Rewrites one partition's operations, in history order, into a form that
    /// is cheaper to search and has exactly the same linearizations. A model may:
    ///
    /// - replace inputs and outputs by others that every sequence of `step`s
    ///   accepts or rejects alike (say, a value nobody reads by a placeholder, so
    ///   that more states are equal);
    /// - give an indeterminate operation a return time, if every linearization
    ///   must place it before some operation that returns by then.
    ///
    /// It must not add, remove or reorder operations. Explanations show the
    /// original operations, replayed from [`Model::init`]. Defaults to no change.
    fn prepare(&self, partition: &mut [Prepared<Self::Input, Self::Output>]) {
        let _ = partition;
    }
}

/// An operation as the search sees it; see [`Model::prepare`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prepared<I, O> {
    /// What was asked.
    pub input: I,
    /// What was answered; `None`: indeterminate, any answer fits.
    pub output: Option<O>,
    /// When the operation was called.
    pub call_ns: u64,
    /// The latest moment it can have taken effect; `None`: never bounded.
    pub return_ns: Option<u64>,
}
