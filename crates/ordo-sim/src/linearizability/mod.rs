//! A linearizability checker for recorded client histories.
//!
//! A history is linearizable if every operation can be given a single instant
//! between its call and its response at which it took effect, such that applying
//! the operations at those instants to one sequential copy of the data (the
//! [`Model`]) yields every response the clients saw. That is what a Raft-backed
//! store promises, so a history that is not linearizable is a bug.
//!
//! # How it works
//!
//! 1. **Partition.** Operations on different keys never interact, and a history
//!    is linearizable exactly when each key's sub-history is (Herlihy & Wing's
//!    locality). Each key is checked on its own, which keeps the search small.
//! 2. **Events.** A key's operations become a time-ordered, doubly-linked list
//!    of call and return events.
//! 3. **Search** (Wing & Gong). Walk the list; at a call, try to linearize that
//!    operation next; at a return, the operation should have been linearized
//!    already, so undo the last choice and try the next candidate.
//! 4. **Memoization** (Lowe). Two paths that linearized the same set of
//!    operations and reached the same state have the same future, so each
//!    `(set, state)` pair is explored once. This turns the search from factorial
//!    to roughly linear in the length of the history for realistic concurrency.
//!
//! This is the algorithm of Porcupine (Athalye), which etcd's robustness tests
//! use. Two additions deal with indeterminate operations, which never return and
//! so stay candidates for the whole search:
//!
//! - **Placing them last.** An indeterminate operation can always go after
//!   everything else, so the search stops once only those are left, never tries
//!   one that would change nothing, tries only the earliest of several equal
//!   ones, and treats a failed configuration as ruling out every configuration
//!   that differs only by more indeterminate operations linearized.
//! - **[`Model::prepare`].** A model may rewrite a partition into an equivalent,
//!   cheaper one. [`KvModel`] replaces values nobody observes by one placeholder
//!   and gives an indeterminate write a return time when its value was read.
//!
//! Histories with multi-key transactions break step 1's premise; [`txn`]'s
//! [`JointKvModel`] checks them as one partition over the whole (small) key
//! space instead.
//!
//! # Indeterminate and failed operations
//!
//! An operation whose outcome is unknown ([`Outcome::Indeterminate`]) may have
//! taken effect at any instant after its call, or never: its response time is
//! +infinity and its output unconstrained, and "never" is the same as "after
//! everything else". An operation that certainly failed (refused before it was
//! proposed) must be left out of the history by the caller. See [`kv`] for how
//! a key-value workload should record each case.
//!
//! # What it leaves out
//!
//! - Only the first violating key is explained, and with one longest prefix,
//!   not every linearization that gets equally far.
//! - No visualization; [`Violation`]'s `Display` is the explanation.
//! - No parallel search: partitions are checked one after another, so the verdict
//!   and its explanation are deterministic.
//! - Budget: deciding linearizability is NP-complete. A [`Budget`] bounds the
//!   work; past it the answer is [`Verdict::Unknown`]. Linearizable histories of
//!   10,000 operations per key with ten busy clients take well under a second,
//!   and so do refutations without indeterminate operations. *Refuting* a long
//!   history that holds many indeterminate operations whose values nobody read
//!   is the known weak spot: every subset of them may have taken effect, and the
//!   search can exhaust the default budget and answer `Unknown` (see
//!   `BENCHMARKS.md`). Shorter histories, or fewer keys per check, help.

mod bitset;
mod budget;
mod cache;
mod check;
mod entries;
pub mod generate;
mod history;
pub mod kv;
mod links;
mod model;
mod search;
pub mod txn;
mod verdict;

pub use budget::Budget;
pub use check::check;
pub use history::{HistoryError, Operation, Outcome};
pub use kv::{KvInput, KvKey, KvModel, KvOperation, KvOutput, KvValue};
pub use model::{Model, Prepared};
pub use txn::{
    Compare, JointInput, JointKvModel, JointOutput, JointState, Txn, TxnOp, TxnOpResult, TxnOutcome,
};
pub use verdict::{IndexedOperation, Linearized, Undecided, Verdict, Violation};
