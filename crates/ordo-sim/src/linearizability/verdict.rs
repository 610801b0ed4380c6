//! What the checker concludes, and how it explains a violation.

use std::fmt;

use super::history::{Operation, Outcome};
use super::model::Model;

/// The checker's conclusion about a history.
#[derive(Debug)]
pub enum Verdict<M: Model> {
    /// Every partition has a linearization.
    Linearizable,
    /// A partition has no linearization. Partitions are searched in key order and
    /// the first violation ends the check.
    Illegal(Box<Violation<M>>),
    /// No violation was found, but some partitions could not be decided within
    /// the [`Budget`](super::Budget).
    Unknown(Undecided<M::Key>),
}

impl<M: Model> Verdict<M> {
    /// Whether the history is linearizable.
    pub fn is_linearizable(&self) -> bool {
        matches!(self, Self::Linearizable)
    }

    /// The violation, if the history is not linearizable.
    pub fn violation(&self) -> Option<&Violation<M>> {
        match self {
            Self::Illegal(violation) => Some(violation),
            Self::Linearizable | Self::Unknown(_) => None,
        }
    }
}

/// An operation of the history, with its position in it.
#[derive(Clone, Debug)]
pub struct IndexedOperation<I, O> {
    /// Position in the history given to [`check`](super::check).
    pub index: usize,
    /// The operation.
    pub operation: Operation<I, O>,
}

/// Why a partition is not linearizable: the longest prefix of it the search could
/// linearize, and the operations none of which can follow that prefix although
/// one of them must.
#[derive(Debug)]
pub struct Violation<M: Model> {
    /// The partition.
    pub key: M::Key,
    /// How many operations the partition holds (indeterminate reads excluded).
    pub partition_len: usize,
    /// The longest linearizable prefix found (the first found, if several are
    /// equally long), in linearization order, with the state after each.
    pub longest_prefix: Vec<Linearized<M>>,
    /// The state after `longest_prefix`.
    pub state: M::State,
    /// The operations that could come next in real time after `longest_prefix`;
    /// the model rejects every one of them in `state`.
    pub stuck: Vec<IndexedOperation<M::Input, M::Output>>,
}

/// An operation of a linearizable prefix, and the state it left.
#[derive(Debug)]
pub struct Linearized<M: Model> {
    /// The operation.
    pub operation: IndexedOperation<M::Input, M::Output>,
    /// The model's state just after it.
    pub state_after: M::State,
}

/// Partitions the checker gave up on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Undecided<K> {
    /// The undecided partitions, in order.
    pub keys: Vec<K>,
    /// Whether the time limit passed; every partition not searched by then is in
    /// `keys`.
    pub time_limit_passed: bool,
}

/// How many prefix operations [`Violation`]'s `Display` shows.
const PREFIX_SHOWN: usize = 10;

impl<M: Model> fmt::Display for Violation<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "key {:?}: no linearization of its {} operations",
            self.key, self.partition_len
        )?;
        let shown = self.longest_prefix.len().min(PREFIX_SHOWN);
        let skipped = self.longest_prefix.len() - shown;
        write!(
            f,
            "longest linearizable prefix: {} operations",
            self.longest_prefix.len()
        )?;
        if skipped > 0 {
            write!(f, "; the last {shown}")?;
        }
        writeln!(f)?;
        for linearized in &self.longest_prefix[skipped..] {
            writeln!(
                f,
                "  {}  => {:?}",
                linearized.operation, linearized.state_after
            )?;
        }
        writeln!(f, "state after it: {:?}", self.state)?;
        writeln!(f, "no operation that may come next fits that state:")?;
        for operation in &self.stuck {
            writeln!(f, "  {operation}")?;
        }
        Ok(())
    }
}

impl<I: fmt::Debug, O: fmt::Debug> fmt::Display for IndexedOperation<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} {}", self.index, self.operation)
    }
}

impl<I: fmt::Debug, O: fmt::Debug> fmt::Display for Operation<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (client, call_ns, input) = (self.client_id, self.call_ns, &self.input);
        match &self.outcome {
            Outcome::Returned { return_ns, output } => {
                write!(
                    f,
                    "client {client} [{call_ns}, {return_ns}] ns: {input:?} -> {output:?}"
                )
            }
            Outcome::Indeterminate => {
                write!(
                    f,
                    "client {client} [{call_ns}, never] ns: {input:?} -> indeterminate"
                )
            }
        }
    }
}
