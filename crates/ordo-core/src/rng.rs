//! The node's own deterministic random generator (election jitter only).
//!
//! SplitMix64: tiny, fast, and statistically good enough for spreading election
//! timeouts. It is owned by the node and seeded from the config, so the same
//! inputs always give the same outputs — the simulator depends on that.

/// A seeded SplitMix64 generator.
#[derive(Clone, Debug)]
pub(crate) struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator for node `id`, seeded with `seed`. Mixing in the id keeps
    /// nodes configured with the same seed from drawing the same timeouts.
    pub(crate) fn for_node(seed: u64, id: u64) -> Self {
        SplitMix64 {
            state: seed ^ id.wrapping_mul(0xA076_1D64_78BD_642F),
        }
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `low..high`. The modulo bias is irrelevant for timeouts.
    ///
    /// # Panics
    /// If the range is empty (the config validation rules that out).
    pub(crate) fn in_range(&mut self, low: u64, high: u64) -> u64 {
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
}
