//! [`LeaseRules`]: which ttls a grant may ask for.

use std::time::Duration;

use crate::store::MAX_LEASE_TTL_SECONDS;

/// Why a requested ttl was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TtlError {
    /// Zero or negative.
    #[error("ttl must be a positive number of seconds, not {ttl}")]
    NotPositive {
        /// The ttl asked for.
        ttl: i64,
    },
    /// Above the store's maximum.
    #[error("ttl {ttl} s is over the maximum of {MAX_LEASE_TTL_SECONDS} s")]
    TooLong {
        /// The ttl asked for.
        ttl: i64,
    },
}

/// The ttl bounds of this cluster's grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseRules {
    /// Shorter ttls are raised to this: 1.5 longest election timeouts,
    /// rounded up to whole seconds (etcd's rule), so a lease outlives the
    /// election that may follow a leader's crash.
    pub min_ttl_seconds: i64,
}

impl LeaseRules {
    /// The rules for a cluster whose election timeouts are drawn below
    /// `election_timeout_max`.
    pub fn for_election_timeout(election_timeout_max: Duration) -> Self {
        let millis = election_timeout_max.as_millis().saturating_mul(3) / 2;
        let seconds = millis.div_ceil(1000).max(1);
        LeaseRules {
            min_ttl_seconds: i64::try_from(seconds).unwrap_or(MAX_LEASE_TTL_SECONDS),
        }
    }

    /// The ttl a grant asking for `requested` seconds gets.
    ///
    /// # Errors
    /// [`TtlError`] for a ttl that is not positive or over the maximum.
    pub fn granted_ttl(&self, requested: i64) -> Result<i64, TtlError> {
        if requested <= 0 {
            return Err(TtlError::NotPositive { ttl: requested });
        }
        if requested > MAX_LEASE_TTL_SECONDS {
            return Err(TtlError::TooLong { ttl: requested });
        }
        Ok(requested.max(self.min_ttl_seconds))
    }
}

impl Default for LeaseRules {
    /// The rules under the default election timing.
    fn default() -> Self {
        let timing = crate::server::settings::Timing::default();
        LeaseRules::for_election_timeout(timing.election_timeout_max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_minimum_is_one_and_a_half_election_timeouts_rounded_up() {
        let cases = [(300, 1), (1000, 2), (2000, 3), (2100, 4), (0, 1)];
        for (millis, seconds) in cases {
            let rules = LeaseRules::for_election_timeout(Duration::from_millis(millis));
            assert_eq!(rules.min_ttl_seconds, seconds, "{millis} ms");
        }
    }

    #[test]
    fn short_ttls_are_raised_and_bad_ones_refused() {
        let rules = LeaseRules { min_ttl_seconds: 3 };
        let cases = [
            (1, Ok(3)),
            (3, Ok(3)),
            (60, Ok(60)),
            (MAX_LEASE_TTL_SECONDS, Ok(MAX_LEASE_TTL_SECONDS)),
            (0, Err(TtlError::NotPositive { ttl: 0 })),
            (-5, Err(TtlError::NotPositive { ttl: -5 })),
            (
                MAX_LEASE_TTL_SECONDS + 1,
                Err(TtlError::TooLong {
                    ttl: MAX_LEASE_TTL_SECONDS + 1,
                }),
            ),
        ];
        for (requested, expected) in cases {
            assert_eq!(rules.granted_ttl(requested), expected, "{requested}");
        }
    }
}
