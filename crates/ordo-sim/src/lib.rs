//! Deterministic simulation of Ordo clusters, and the checkers that judge a run.
//!
//! - [`linearizability`]: decides whether a recorded client history could have come
//!   from one copy of the data, operation by operation (Wing & Gong's search with
//!   Lowe's memoization, one key at a time).

pub mod linearizability;
