//! What the network does to each message: the fault settings and the draw
//! that decides one message's fate.
//!
//! Invariant: every random choice comes from the one seeded [`SplitMix64`],
//! drawn in send order, so the same sequence of sends under the same settings
//! and seed meets the same fates.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use ordo_core::{NodeId, SplitMix64};

/// Faults of one directed link (or, as the network's default, of every link
/// without its own). The default is a perfect link.
///
/// Probabilities are clamped to [0, 1] (NaN counts as 0) when set.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LinkFaults {
    /// Chance of losing a message.
    pub drop_probability: f64,
    /// Chance of delivering a message twice (the copy with its own delay).
    pub duplicate_probability: f64,
    /// How long every message travels.
    pub delay: Duration,
    /// Each message travels `delay` plus a uniform extra in
    /// `[0, delay_jitter)`, so a later message may overtake an earlier one:
    /// this is how the network reorders.
    pub delay_jitter: Duration,
}

impl LinkFaults {
    /// A link that loses each message with probability `probability`.
    pub fn dropping(probability: f64) -> Self {
        LinkFaults {
            drop_probability: probability,
            ..LinkFaults::default()
        }
    }

    /// A link whose messages travel `delay`.
    pub fn delayed(delay: Duration) -> Self {
        LinkFaults {
            delay,
            ..LinkFaults::default()
        }
    }

    /// The same faults with probabilities clamped to [0, 1].
    pub(super) fn clamped(self) -> Self {
        LinkFaults {
            drop_probability: probability(self.drop_probability),
            duplicate_probability: probability(self.duplicate_probability),
            ..self
        }
    }

    fn is_perfect(&self) -> bool {
        *self == LinkFaults::default()
    }
}

fn probability(value: f64) -> f64 {
    if value.is_nan() {
        0.0
    } else {
        value.clamp(0.0, 1.0)
    }
}

/// What becomes of one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Fate {
    Drop,
    /// Deliver after `delay` (zero: at once), and a copy after `duplicate`.
    Deliver {
        delay: Duration,
        duplicate: Option<Duration>,
    },
}

/// Every fault configured on a network.
#[derive(Debug, Default)]
pub(super) struct Faults {
    /// Links cut one way: (from, to).
    pub(super) cut: HashSet<(NodeId, NodeId)>,
    /// Nodes that neither send nor receive.
    pub(super) isolated: HashSet<NodeId>,
    /// Faults of every link without its own entry in `links`.
    pub(super) default: LinkFaults,
    /// Faults of single directed links: (from, to).
    pub(super) links: HashMap<(NodeId, NodeId), LinkFaults>,
    pub(super) rng: SplitMix64,
}

impl Faults {
    pub(super) fn is_clear(&self) -> bool {
        self.cut.is_empty()
            && self.isolated.is_empty()
            && self.default.is_perfect()
            && self.links.values().all(LinkFaults::is_perfect)
    }

    /// The faults that apply to the link from `from` to `to`.
    pub(super) fn of_link(&self, from: NodeId, to: NodeId) -> LinkFaults {
        self.links.get(&(from, to)).copied().unwrap_or(self.default)
    }

    /// What happens to a message from `from` to `to`.
    pub(super) fn fate(&mut self, from: NodeId, to: NodeId) -> Fate {
        if self.isolated.contains(&from)
            || self.isolated.contains(&to)
            || self.cut.contains(&(from, to))
        {
            return Fate::Drop;
        }
        let link = self.of_link(from, to);
        if self.chance(link.drop_probability) {
            return Fate::Drop;
        }
        let delay = self.travel_time(&link);
        let duplicate = self
            .chance(link.duplicate_probability)
            .then(|| self.travel_time(&link));
        Fate::Deliver { delay, duplicate }
    }

    fn travel_time(&mut self, link: &LinkFaults) -> Duration {
        if link.delay_jitter.is_zero() {
            return link.delay;
        }
        link.delay + link.delay_jitter.mul_f64(self.next_unit())
    }

    /// True with probability `probability`; draws nothing when it is 0, so
    /// unused faults do not shift the sequence of the others.
    fn chance(&mut self, probability: f64) -> bool {
        probability > 0.0 && self.next_unit() < probability
    }

    /// A uniform number in [0, 1).
    fn next_unit(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faulty(link: LinkFaults, seed: u64) -> Faults {
        Faults {
            default: link.clamped(),
            rng: SplitMix64::new(seed),
            ..Faults::default()
        }
    }

    #[test]
    fn the_same_seed_draws_the_same_fates() {
        let link = LinkFaults {
            drop_probability: 0.3,
            duplicate_probability: 0.3,
            delay: Duration::from_millis(1),
            delay_jitter: Duration::from_millis(5),
        };
        let fates = |seed| {
            let mut faults = faulty(link, seed);
            (0..100).map(|_| faults.fate(1, 2)).collect::<Vec<_>>()
        };
        assert_eq!(fates(7), fates(7));
        assert_ne!(fates(7), fates(8));
    }

    #[test]
    fn probabilities_are_clamped() {
        let link = LinkFaults {
            drop_probability: f64::NAN,
            duplicate_probability: 7.0,
            ..LinkFaults::default()
        }
        .clamped();
        assert_eq!(link.drop_probability, 0.0);
        assert_eq!(link.duplicate_probability, 1.0);
    }

    #[test]
    fn a_link_of_its_own_overrides_the_default() {
        let mut faults = faulty(LinkFaults::dropping(1.0), 1);
        faults.links.insert((1, 2), LinkFaults::default());
        assert_eq!(
            faults.fate(1, 2),
            Fate::Deliver {
                delay: Duration::ZERO,
                duplicate: None
            }
        );
        assert_eq!(faults.fate(2, 1), Fate::Drop);
    }

    #[test]
    fn jitter_stays_within_its_bound() {
        let link = LinkFaults {
            delay: Duration::from_millis(10),
            delay_jitter: Duration::from_millis(4),
            ..LinkFaults::default()
        };
        let mut faults = faulty(link, 3);
        let mut delays = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let Fate::Deliver { delay, .. } = faults.fate(1, 2) else {
                panic!("nothing drops on this link");
            };
            assert!(delay >= link.delay && delay < link.delay + link.delay_jitter);
            delays.insert(delay);
        }
        assert!(delays.len() > 100, "jitter varies the delay");
    }
}
