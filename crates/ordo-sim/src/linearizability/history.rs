//! A recorded history: what each client asked, when, and what it was told.

use thiserror::Error;

/// One operation as its client saw it: the request, when it was sent, and how it
/// ended. Times are virtual nanoseconds on one clock shared by all clients.
///
/// Only operations that may have taken effect belong in a history. An operation
/// that failed *definitely*, so that it certainly never took effect (refused with
/// `NotLeader` before it was proposed, say), must be left out by the caller: the
/// checker has no "failed" outcome, and recording it as
/// [`Outcome::Indeterminate`] would only make the check weaker and slower.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation<I, O> {
    /// The client that issued the operation. Used only to explain a verdict.
    pub client_id: u64,
    /// What was asked.
    pub input: I,
    /// When the request was sent.
    pub call_ns: u64,
    /// How the operation ended.
    pub outcome: Outcome<O>,
}

/// How an operation ended, as far as its client knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome<O> {
    /// A response arrived at `return_ns` with `output`. The operation took effect
    /// exactly once, at some moment between its call and `return_ns` (both ends
    /// included).
    Returned {
        /// When the response arrived. Not before the call.
        return_ns: u64,
        /// What the response said.
        output: O,
    },
    /// No definite answer arrived (a timeout, a connection lost after sending).
    /// The operation may have taken effect at any moment after its call, however
    /// late, or never: the checker treats its response time as +infinity and its
    /// output as unconstrained.
    Indeterminate,
}

impl<I, O> Operation<I, O> {
    /// An operation that got a response.
    pub fn returned(client_id: u64, input: I, call_ns: u64, return_ns: u64, output: O) -> Self {
        let outcome = Outcome::Returned { return_ns, output };
        Self {
            client_id,
            input,
            call_ns,
            outcome,
        }
    }

    /// An operation whose outcome is unknown.
    pub fn indeterminate(client_id: u64, input: I, call_ns: u64) -> Self {
        Self {
            client_id,
            input,
            call_ns,
            outcome: Outcome::Indeterminate,
        }
    }

    /// The output, if a response arrived.
    pub fn output(&self) -> Option<&O> {
        match &self.outcome {
            Outcome::Returned { output, .. } => Some(output),
            Outcome::Indeterminate => None,
        }
    }

    /// When the response arrived; `None` for an indeterminate operation, whose
    /// response time is +infinity.
    pub fn return_ns(&self) -> Option<u64> {
        match self.outcome {
            Outcome::Returned { return_ns, .. } => Some(return_ns),
            Outcome::Indeterminate => None,
        }
    }

    /// Whether this operation certainly finished before `other` was called, so
    /// that every linearization must order it first. Operations that touch (one
    /// returns at the very nanosecond the other is called) are concurrent.
    pub fn precedes(&self, other: &Self) -> bool {
        self.return_ns()
            .is_some_and(|return_ns| return_ns < other.call_ns)
    }
}

/// A history the checker refuses to judge, because no execution could have
/// produced it. Fix the recorder; the history is not evidence of anything.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum HistoryError {
    /// An operation's response arrived before its request was sent.
    #[error("operation #{index} returns at {return_ns} ns, before its call at {call_ns} ns")]
    ReturnBeforeCall {
        /// The operation's position in the history.
        index: usize,
        /// When it was called.
        call_ns: u64,
        /// When it returned.
        return_ns: u64,
    },
}

/// Checks what the search relies on: every interval is well formed.
pub(crate) fn validate<I, O>(history: &[Operation<I, O>]) -> Result<(), HistoryError> {
    for (index, operation) in history.iter().enumerate() {
        if let Some(return_ns) = operation.return_ns()
            && return_ns < operation.call_ns
        {
            let call_ns = operation.call_ns;
            return Err(HistoryError::ReturnBeforeCall {
                index,
                call_ns,
                return_ns,
            });
        }
    }
    Ok(())
}
