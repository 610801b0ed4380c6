//! How much work the checker may spend before it answers "unknown".

use std::time::Duration;

/// Limits on the search. Deciding linearizability is NP-complete, so a
/// pathological history (very many concurrent operations on one key) can take
/// exponential time; past the budget the checker answers
/// [`Verdict::Unknown`](super::Verdict::Unknown) instead of hanging.
///
/// The step limit keeps the verdict a function of the history alone. A time limit
/// makes it depend on the machine too, so leave it off where runs must replay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Most search steps (an operation tried, linearized or undone) spent on one
    /// partition. Memory grows with steps too: at most one memo entry, a few
    /// dozen bytes, per step.
    pub max_steps_per_partition: u64,
    /// Wall-clock limit for the whole check; `None`: no limit.
    pub time_limit: Option<Duration>,
}

impl Budget {
    /// The default step limit: 5 to 20 seconds of search and under 1 GiB of
    /// memo on the 2-core machine of `BENCHMARKS.md`, some 15 times what a
    /// linearizable history of 10,000 operations on one key with ten always-busy
    /// clients needs.
    pub const DEFAULT_MAX_STEPS_PER_PARTITION: u64 = 50_000_000;
}

impl Default for Budget {
    fn default() -> Self {
        Self {
            max_steps_per_partition: Self::DEFAULT_MAX_STEPS_PER_PARTITION,
            time_limit: None,
        }
    }
}
