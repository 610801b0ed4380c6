//! Exponential back-off with jitter between reconnection attempts.

use std::hash::BuildHasher;
use std::time::Duration;

use ordo_core::SplitMix64;

/// Delays between reconnection attempts: each failure doubles the ceiling up
/// to a cap, and each delay is drawn uniformly from the upper half of the
/// current ceiling ("equal jitter"), so that nodes that lost a peer together
/// do not all retry at the same instant, yet never retry sooner than half the
/// ceiling.
#[derive(Clone, Debug)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    ceiling: Duration,
    rng: SplitMix64,
}

impl Backoff {
    /// Delays from `min` doubling up to `max`, jittered by a generator seeded
    /// with `seed`.
    pub(crate) fn new(min: Duration, max: Duration, seed: u64) -> Self {
        Backoff {
            min,
            max: max.max(min),
            ceiling: min,
            rng: SplitMix64::new(seed),
        }
    }

    /// A back-off seeded from the process's random hasher keys, distinct for
    /// each `(node, peer)` link.
    pub(crate) fn seeded_for(min: Duration, max: Duration, node: u64, peer: u64) -> Self {
        let seed = std::collections::hash_map::RandomState::new().hash_one((node, peer));
        Backoff::new(min, max, seed)
    }

    /// Back to the shortest delay (after a successful connection).
    pub(crate) fn reset(&mut self) {
        self.ceiling = self.min;
    }

    /// The delay before the next attempt.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling;
        self.ceiling = ceiling.saturating_mul(2).min(self.max);
        let half = ceiling / 2;
        let span_nanos = (ceiling - half).as_nanos() as u64;
        half + Duration::from_nanos(self.next_random() % span_nanos.saturating_add(1))
    }

    /// SplitMix64: small, fast, and good enough for jitter.
    fn next_random(&mut self) -> u64 {
        self.rng.next_u64()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_with_jitter_in_the_upper_half() {
        let min = Duration::from_millis(10);
        let max = Duration::from_millis(100);
        let mut backoff = Backoff::new(min, max, 7);
        let ceilings = [10, 20, 40, 80, 100, 100, 100];
        for ceiling in ceilings {
            let ceiling = Duration::from_millis(ceiling);
            let delay = backoff.next_delay();
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "{delay:?} vs {ceiling:?}"
            );
        }
        backoff.reset();
        assert!(backoff.next_delay() <= min);
    }

    #[test]
    fn jitter_spreads_delays() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(1), 1);
        let delays: std::collections::BTreeSet<_> = (0..50).map(|_| backoff.next_delay()).collect();
        assert!(delays.len() > 40);
    }
}
