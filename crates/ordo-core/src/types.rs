//! The three numbers every part of Raft speaks in.
//!
//! They are plain `u64` aliases rather than newtypes: the core does arithmetic on
//! them constantly (`index + 1`, `term - 1`), every Raft paper and implementation
//! uses the same vocabulary, and the names at each use site carry the meaning.

/// Identifies one member of a Raft group. `0` is never a valid id: configuration
/// validation rejects it, so an unset id cannot masquerade as a real node.
pub type NodeId = u64;

/// A Raft term: a logical epoch with at most one leader. Term `0` precedes every
/// election; the first elected leader has term `1` or later.
pub type Term = u64;

/// A position in the replicated log. The first entry has index `1`; index `0`
/// stands for "before the first entry" (its term is `0`).
pub type Index = u64;
