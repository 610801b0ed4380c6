//! [`StoreGauge`]: the store's counters as the HTTP handlers read them, and
//! the storage quota decided from them.
//!
//! The store reports its counters to the gauge after every applied batch
//! and every restore (it is a [`ChangeObserver`]), so a write checks the
//! quota with two atomic loads instead of a query through the node.
//!
//! # The quota
//! `--quota-bytes` bounds the store's retained bytes: the key and value
//! bytes of every version kept, history included ([`KvStats::bytes`]).
//! Past it the alarm is raised and writes that add data (puts, txns with
//! a put, lease grants) are refused before they are proposed; deletes,
//! revokes and compaction still run, and the alarm clears by itself as soon
//! as the retained bytes are back under the quota. The check is advisory
//! and local: a node that has not applied the latest writes may let one
//! more through, so the store can pass the quota by a few writes' worth,
//! never by more than the writes in flight. 0 turns the quota off.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::store::{ChangeObserver, Event, KvStats};

/// The alarm's name, in `/v1/status` and the error code of refused writes.
pub const QUOTA_ALARM: &str = crate::api::code::QUOTA_EXCEEDED;

/// The store's last reported counters and the quota over them.
#[derive(Debug, Default)]
pub struct StoreGauge {
    keys: AtomicU64,
    versions: AtomicU64,
    bytes: AtomicU64,
    live_bytes: AtomicU64,
    cluster_revision: AtomicU64,
    compact_revision: AtomicU64,
    leases: AtomicU64,
    /// The quota on `bytes`; 0: none.
    quota_bytes: u64,
}

impl StoreGauge {
    /// A gauge with `quota_bytes` over the retained bytes (0: no quota).
    pub fn new(quota_bytes: u64) -> Self {
        Self {
            quota_bytes,
            ..Self::default()
        }
    }

    /// The quota in bytes; 0: none.
    pub fn quota_bytes(&self) -> u64 {
        self.quota_bytes
    }

    /// Whether the store is past its quota (the alarm is raised).
    pub fn over_quota(&self) -> bool {
        self.quota_bytes > 0 && self.bytes.load(Ordering::Relaxed) > self.quota_bytes
    }

    /// The alarms raised now, by name.
    pub fn alarms(&self) -> Vec<String> {
        if self.over_quota() {
            vec![QUOTA_ALARM.to_owned()]
        } else {
            Vec::new()
        }
    }

    /// The last counters the store reported.
    pub fn counters(&self) -> KvStats {
        KvStats {
            keys: self.keys.load(Ordering::Relaxed),
            versions: self.versions.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            live_bytes: self.live_bytes.load(Ordering::Relaxed),
            cluster_revision: self.cluster_revision.load(Ordering::Relaxed),
            compact_revision: self.compact_revision.load(Ordering::Relaxed),
            leases: self.leases.load(Ordering::Relaxed),
        }
    }

    fn record(&self, stats: &KvStats) {
        self.keys.store(stats.keys, Ordering::Relaxed);
        self.versions.store(stats.versions, Ordering::Relaxed);
        self.bytes.store(stats.bytes, Ordering::Relaxed);
        self.live_bytes.store(stats.live_bytes, Ordering::Relaxed);
        self.cluster_revision
            .store(stats.cluster_revision, Ordering::Relaxed);
        self.compact_revision
            .store(stats.compact_revision, Ordering::Relaxed);
        self.leases.store(stats.leases, Ordering::Relaxed);
    }
}

impl ChangeObserver for StoreGauge {
    fn applied(&self, _revision: u64, _events: &[Event]) {}

    /// The gauge reads counters only: it never costs the store an event.
    fn wants_events(&self) -> bool {
        false
    }

    fn restored(&self, _revision: u64, _compact_revision: u64) {}

    fn stats(&self, stats: &KvStats) {
        self.record(stats);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_bytes(bytes: u64) -> KvStats {
        KvStats {
            bytes,
            ..KvStats::default()
        }
    }

    /// The alarm is raised strictly past the quota and clears by itself.
    #[test]
    fn the_alarm_follows_the_retained_bytes() {
        let gauge = StoreGauge::new(100);
        ChangeObserver::stats(&gauge, &with_bytes(100));
        assert!(!gauge.over_quota());
        ChangeObserver::stats(&gauge, &with_bytes(101));
        assert_eq!(gauge.alarms(), [QUOTA_ALARM]);
        ChangeObserver::stats(&gauge, &with_bytes(40));
        assert!(gauge.alarms().is_empty());
    }

    /// Quota 0 is no quota.
    #[test]
    fn quota_zero_is_off() {
        let gauge = StoreGauge::new(0);
        ChangeObserver::stats(&gauge, &with_bytes(u64::MAX));
        assert!(!gauge.over_quota());
    }
}
