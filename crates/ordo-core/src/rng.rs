//! [`SplitMix64`]: the workspace's one deterministic pseudo-random generator.
//!
//! The core uses it for election jitter only: each node owns one, seeded from
//! its config, so the same inputs always give the same outputs — the
//! simulator's seeds and the scenario transcripts depend on that. Other code
//! that needs reproducible numbers (the simulator's fault schedule, the
//! linearizability test-data generators) draws from this same generator
//! rather than keeping a copy of it.
//!
//! Invariant: the sequence a seed gives never changes. A change would
//! silently re-roll every recorded simulator seed and transcript; the tests
//! below pin the first outputs against Vigna's reference implementation.

/// Sebastiano Vigna's SplitMix64: tiny, fast and statistically good enough
/// for timeouts, jitter, fault schedules and test data, and fully determined
/// by its seed.
///
/// **Not a cryptographic generator**: its outputs are predictable from a few
/// of them. Use it where reproducibility matters (simulation, tests, jitter),
/// never for keys, tokens or anything an adversary must not guess.
#[derive(Clone, Debug, Default)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose first output is the reference SplitMix64's first
    /// output for `seed`.
    #[inline]
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// A generator for node `id`, seeded with `seed`. Mixing in the id keeps
    /// nodes configured with the same seed from drawing the same timeouts.
    pub(crate) fn for_node(seed: u64, id: u64) -> Self {
        SplitMix64::new(seed ^ id.wrapping_mul(0xA076_1D64_78BD_642F))
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `low..high`, as `low + next_u64() % (high - low)`. The
    /// modulo bias is irrelevant for timeouts and test data.
    ///
    /// # Panics
    /// If the range is empty (the core's config validation rules that out).
    pub fn in_range(&mut self, low: u64, high: u64) -> u64 {
        assert!(low < high, "empty random range {low}..{high}");
        low + self.next_u64() % (high - low)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_ids_differ() {
        let draw = |seed, id| {
            let mut rng = SplitMix64::for_node(seed, id);
            (0..8).map(|_| rng.in_range(10, 20)).collect::<Vec<_>>()
        };
        assert_eq!(draw(7, 1), draw(7, 1));
        assert_ne!(draw(7, 1), draw(7, 2));
        assert!(draw(7, 3).iter().all(|t| (10..20).contains(t)));
    }

    #[test]
    fn the_sequences_never_change() {
        // Vigna's reference splitmix64.c, seeded with 0.
        let mut reference = SplitMix64::new(0);
        let outputs: Vec<u64> = (0..3).map(|_| reference.next_u64()).collect();
        assert_eq!(
            outputs,
            [
                0xe220_a839_7b1d_cdaf,
                0x6e78_9e6a_a1b9_65f4,
                0x06c4_5d18_8009_454f
            ]
        );
        // A node's stream: what every simulator seed and transcript rests on.
        let mut node = SplitMix64::for_node(7, 1);
        let outputs: Vec<u64> = (0..3).map(|_| node.next_u64()).collect();
        assert_eq!(
            outputs,
            [
                0x5aea_0893_d43c_1309,
                0xa919_89d5_a2da_6b31,
                0xc8d1_b3ef_933e_1263
            ]
        );
    }
}
