//! Deterministic simulation of Ordo clusters, and the checkers that judge runs.
//!
//! - [`cluster`]: whole groups of `ordo-core` nodes on a simulated network and
//!   simulated disks, driven step by step.
//! - [`transcript`] and [`scenario`]: scenario tests written as transcripts a
//!   reviewer reads line by line, regenerated with `REWRITE=1`.
//! - [`invariants`]: the safety properties checked after every step.
//! - [`random`]: randomized runs from one seed, with faults.
//! - [`linearizability`]: decides whether a recorded client history could have
//!   come from one copy of the data (Wing & Gong's search with Lowe's
//!   memoization, one key at a time).
//!
//! - [`workload`]: key-value clients (single-key operations and multi-key
//!   transactions) whose history the checker judges.
//! - [`coordination`]: revisions, watches and leases on the simulated store,
//!   with their checks.
//!
//! This crate is a test tool: nothing in the library or server depends on it.

pub mod cluster;
pub mod coordination;
pub mod format;
pub mod invariants;
pub mod linearizability;
pub mod random;
pub mod scenario;
pub mod snapshots;
pub mod transcript;
pub mod workload;
