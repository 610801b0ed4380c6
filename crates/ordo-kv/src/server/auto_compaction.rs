//! `--auto-compaction-retention`: the leader compacts the history by
//! itself, in etcd's two modes.
//!
//! - **Revisions** (`1000`): keep the last N revisions. Every
//!   [`REVISION_MODE_CHECK`], the leader compacts to `current - N` when that
//!   is above the compact revision.
//! - **Periodic** (`1h`, `30m`, `90s`): keep what changed in the last
//!   period. Every node notes the cluster revision every period / 10; the
//!   leader compacts to the revision noted one period ago.
//!
//! Only the leader proposes (followers would propose the same compaction
//! over again); every node applies it from the log. A new leader starts
//! from its own notes, which every node keeps, so leadership moving does
//! not restart the period. A compaction that races another (410 from the
//! store) is simply skipped.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use ordo::RaftNode;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::server::store_gauge::StoreGauge;
use crate::store::{KvCommand, KvResponse, KvStore};

/// How often the revisions mode looks at the revision.
pub const REVISION_MODE_CHECK: Duration = Duration::from_secs(1);
/// The periodic mode notes the revision this many times per period.
const SAMPLES_PER_PERIOD: u32 = 10;
/// The periodic mode's notes are taken at least this far apart.
const SHORTEST_SAMPLE_INTERVAL: Duration = Duration::from_millis(100);

/// How much history the leader keeps, as `--auto-compaction-retention` says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AutoCompaction {
    /// Never compact by itself (the default; `0`).
    #[default]
    Off,
    /// Keep the last this many revisions.
    Revisions(u64),
    /// Keep what changed in the last this long.
    Periodic(Duration),
}

impl AutoCompaction {
    /// Parses the setting: a bare integer is revisions (`0`: off), a number
    /// with a unit (`1h`, `30m`, `90s`, `500ms`) a period.
    ///
    /// # Errors
    /// Anything else, with what is expected.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Ok(revisions) = text.parse::<u64>() {
            return Ok(match revisions {
                0 => AutoCompaction::Off,
                revisions => AutoCompaction::Revisions(revisions),
            });
        }
        let period = crate::client::parse_duration(text).map_err(|error| {
            format!(
                "--auto-compaction-retention {text:?}: give a number of revisions (1000) \
                 or a period (1h, 30m): {error}"
            )
        })?;
        if period.is_zero() {
            return Ok(AutoCompaction::Off);
        }
        Ok(AutoCompaction::Periodic(period))
    }
}

/// Compacts as `retention` says while this node leads, until `shutdown`.
pub async fn run(
    node: RaftNode<KvStore>,
    gauge: Arc<StoreGauge>,
    retention: AutoCompaction,
    mut shutdown: watch::Receiver<bool>,
) {
    let interval = match retention {
        AutoCompaction::Off => return,
        AutoCompaction::Revisions(_) => REVISION_MODE_CHECK,
        AutoCompaction::Periodic(period) => {
            (period / SAMPLES_PER_PERIOD).max(SHORTEST_SAMPLE_INTERVAL)
        }
    };
    let mut samples = RevisionSamples::default();
    let mut ticks = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        let counters = gauge.counters();
        let target = match retention {
            AutoCompaction::Off => return,
            AutoCompaction::Revisions(keep) => counters.cluster_revision.saturating_sub(keep),
            AutoCompaction::Periodic(period) => {
                samples.note(Instant::now(), counters.cluster_revision, period);
                samples.revision_before(Instant::now(), period)
            }
        };
        let leads = node.leader_id() == Some(node.id());
        if leads && target > counters.compact_revision {
            compact(&node, target).await;
        }
    }
}

async fn compact(node: &RaftNode<KvStore>, revision: u64) {
    match node.propose(KvCommand::Compact { revision }).await {
        Ok(KvResponse::Compacted { revision }) => {
            tracing::info!(revision, "auto-compaction: compacted the history");
        }
        Ok(other) => tracing::debug!(?other, "auto-compaction: skipped"),
        Err(error) => tracing::debug!(%error, "auto-compaction: not proposed"),
    }
}

/// The cluster revision as noted over the last period, oldest first.
///
/// # Invariants
/// Notes are in time order, and at most one is older than the period (the
/// one compaction uses): the queue holds about `SAMPLES_PER_PERIOD + 1`.
#[derive(Debug, Default)]
struct RevisionSamples {
    notes: VecDeque<(Instant, u64)>,
}

impl RevisionSamples {
    fn note(&mut self, now: Instant, revision: u64, period: Duration) {
        self.notes.push_back((now, revision));
        // Drop a note once the next one is old enough to take its place.
        while self
            .notes
            .get(1)
            .is_some_and(|(taken, _)| now.duration_since(*taken) >= period)
        {
            self.notes.pop_front();
        }
    }

    /// The revision noted at least `period` before `now`; 0 if none is that old.
    fn revision_before(&self, now: Instant, period: Duration) -> u64 {
        match self.notes.front() {
            Some((taken, revision)) if now.duration_since(*taken) >= period => *revision,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_parses_as_etcd_modes() {
        let parsed = |text| AutoCompaction::parse(text);
        assert_eq!(parsed("0"), Ok(AutoCompaction::Off));
        assert_eq!(parsed("1000"), Ok(AutoCompaction::Revisions(1000)));
        assert_eq!(
            parsed("1h"),
            Ok(AutoCompaction::Periodic(Duration::from_secs(3600)))
        );
        assert_eq!(
            parsed("30m"),
            Ok(AutoCompaction::Periodic(Duration::from_secs(1800)))
        );
        assert!(parsed("soon").is_err());
        assert!(parsed("-5").is_err());
    }

    /// Compaction uses the revision of one period ago, and never a newer one.
    #[test]
    fn the_periodic_mode_compacts_to_the_revision_one_period_ago() {
        let period = Duration::from_secs(10);
        let start = Instant::now();
        let mut samples = RevisionSamples::default();
        for second in 0..=25u64 {
            let now = start + Duration::from_secs(second);
            samples.note(now, second * 100, period);
            let expected = if second >= 10 { (second - 10) * 100 } else { 0 };
            assert_eq!(
                samples.revision_before(now, period),
                expected,
                "at {second} s"
            );
            assert!(samples.notes.len() <= 12, "{} notes", samples.notes.len());
        }
    }
}
