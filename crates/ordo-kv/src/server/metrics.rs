//! The node's metrics, rendered as Prometheus text on `GET /metrics`.
//!
//! Counters and histograms the HTTP layer and the store wrapper update live
//! here, lock-free (atomics); gauges that the node already knows (term,
//! role, indexes, replication lag) are read from [`ordo::NodeStatus`] when
//! the page is rendered, so they cannot drift from the node's own view.

use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use ordo::{NodeStatus, Role};

use crate::server::http::ConnectionTable;
use crate::server::node_events::NodeEventCounters;

/// Upper bounds of the latency buckets, in seconds (the last bucket, +Inf,
/// is implicit).
const LATENCY_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// A latency histogram with fixed buckets.
#[derive(Debug, Default)]
pub struct Histogram {
    /// Count per bucket (not cumulative); the last is +Inf.
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Observations so far per bucket (not cumulative; the last is +Inf),
    /// for the dashboard, which computes quantiles from their deltas.
    pub fn bucket_counts(&self) -> HistogramCounts {
        HistogramCounts {
            bounds_seconds: &LATENCY_BUCKETS,
            counts: self
                .buckets
                .iter()
                .map(|bucket| bucket.load(Ordering::Relaxed))
                .collect(),
        }
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        cumulative += self.buckets[LATENCY_BUCKETS.len()].load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {cumulative}");
    }
}

/// A histogram's buckets as counted at one moment.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct HistogramCounts {
    /// Upper bound of each finite bucket, in seconds.
    pub bounds_seconds: &'static [f64],
    /// Observations per bucket, one more than `bounds_seconds` (+Inf last).
    pub counts: Vec<u64>,
}

/// How a proposal (a put or delete through the HTTP API) ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProposalOutcome {
    /// Applied.
    Applied,
    /// Applied, but its compare-and-set condition failed.
    CompareFailed,
    /// Sent to the leader (307) or refused for want of one (503).
    Redirected,
    /// Refused before it was proposed (busy, a full disk, a bad request...).
    Failed,
    /// Answered "outcome unknown" (503 `unavailable`): it may or may not
    /// have been applied (a timeout, a leader change, a storage failure).
    OutcomeUnknown,
}

const OUTCOMES: [(ProposalOutcome, &str); 5] = [
    (ProposalOutcome::Applied, "applied"),
    (ProposalOutcome::CompareFailed, "compare_failed"),
    (ProposalOutcome::Redirected, "redirected"),
    (ProposalOutcome::Failed, "failed"),
    (ProposalOutcome::OutcomeUnknown, "outcome_unknown"),
];

/// Everything counted on one node.
#[derive(Debug, Default)]
pub struct Metrics {
    proposals: [AtomicU64; OUTCOMES.len()],
    /// Time from a write's arrival to its answer, for applied writes.
    pub proposal_seconds: Histogram,
    /// Time each log sync (fdatasync) took.
    pub fsync_seconds: Histogram,
    reads: [AtomicU64; 3],
    /// The log's disk was full at its last write (see `timed_store.rs`).
    storage_full: AtomicBool,
    /// Elections, leader changes, snapshots (see `node_events.rs`).
    pub node_events: NodeEventCounters,
    /// Where the log's segments are, for their size on the page.
    wal_dir: std::sync::OnceLock<std::path::PathBuf>,
    /// The client port's open connections (set when it starts serving).
    client_connections: std::sync::OnceLock<std::sync::Arc<ConnectionTable>>,
}

/// What the page shows besides the node's status and the counters here,
/// gathered by the handler.
#[derive(Clone, Copy, Debug, Default)]
pub struct PageExtras {
    /// The log's size on disk: (bytes, segment files), if it could be read.
    pub wal: Option<(u64, u64)>,
    /// Peer handshakes refused (another cluster's nodes among them).
    pub handshakes_refused: u64,
}

/// What the state machine reports, for the page.
#[derive(Clone, Copy, Debug, Default)]
pub struct StoreStats {
    /// The store's counters.
    pub counters: crate::store::KvStats,
    /// `--quota-bytes` (0: none).
    pub quota_bytes: u64,
    /// Whether the quota alarm is raised.
    pub quota_alarm: bool,
}

impl Metrics {
    /// Counts a proposal.
    pub fn proposal(&self, outcome: ProposalOutcome) {
        let slot = OUTCOMES
            .iter()
            .position(|(known, _)| *known == outcome)
            .unwrap_or(0);
        self.proposals[slot].fetch_add(1, Ordering::Relaxed);
    }

    /// Proposals counted with `outcome`.
    pub fn proposals(&self, outcome: ProposalOutcome) -> u64 {
        OUTCOMES
            .iter()
            .position(|(known, _)| *known == outcome)
            .map_or(0, |slot| self.proposals[slot].load(Ordering::Relaxed))
    }

    /// Where the log's segments are (set once, when the node starts).
    pub fn set_wal_dir(&self, dir: std::path::PathBuf) {
        let _ = self.wal_dir.set(dir);
    }

    /// Where the log's segments are, if known.
    pub fn wal_dir(&self) -> Option<std::path::PathBuf> {
        self.wal_dir.get().cloned()
    }

    /// The client port's connection table, for its counts on the page.
    pub(crate) fn set_client_connections(&self, table: std::sync::Arc<ConnectionTable>) {
        let _ = self.client_connections.set(table);
    }

    /// Records whether the log's disk was found full at its last write.
    pub fn set_storage_full(&self, full: bool) {
        self.storage_full.store(full, Ordering::Relaxed);
    }

    /// True if the log's last write failed for want of space: a write
    /// cannot be made durable here, so it is refused before it is proposed.
    pub fn storage_full(&self) -> bool {
        self.storage_full.load(Ordering::Relaxed)
    }

    /// Counts a read at `consistency` (`linearizable`, `lease`, `stale`).
    pub fn read(&self, consistency: ordo::ReadConsistency) {
        let slot = match consistency {
            ordo::ReadConsistency::Linearizable => 0,
            ordo::ReadConsistency::Lease => 1,
            ordo::ReadConsistency::Stale => 2,
        };
        self.reads[slot].fetch_add(1, Ordering::Relaxed);
    }

    /// Reads counted so far, every consistency together.
    pub fn reads_total(&self) -> u64 {
        self.reads
            .iter()
            .map(|count| count.load(Ordering::Relaxed))
            .sum()
    }

    /// The Prometheus text page.
    pub fn render(
        &self,
        status: &NodeStatus,
        store: Option<StoreStats>,
        extras: PageExtras,
    ) -> String {
        let mut out = String::with_capacity(4096);
        let gauge = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        };
        gauge(&mut out, "ordo_node_id", "This node's id.", status.id);
        gauge(
            &mut out,
            "ordo_term",
            "The node's current term.",
            status.term,
        );
        let _ = writeln!(
            out,
            "# HELP ordo_role 1 for the node's current role.\n# TYPE ordo_role gauge"
        );
        for (role, name) in [
            (Role::Leader, "leader"),
            (Role::Follower, "follower"),
            (Role::Candidate, "candidate"),
            (Role::PreCandidate, "pre_candidate"),
        ] {
            let value = u64::from(status.role == role);
            let _ = writeln!(out, "ordo_role{{role=\"{name}\"}} {value}");
        }
        gauge(
            &mut out,
            "ordo_leader_id",
            "The leader this node knows of (0: none).",
            status.leader.unwrap_or(0),
        );
        gauge(
            &mut out,
            "ordo_commit_index",
            "Highest log index known committed.",
            status.commit_index,
        );
        gauge(
            &mut out,
            "ordo_applied_index",
            "Highest log index applied to the store.",
            status.applied_index,
        );
        gauge(
            &mut out,
            "ordo_durable_index",
            "Highest log index durable on this node's disk.",
            status.durable_index,
        );
        gauge(
            &mut out,
            "ordo_pending_proposals",
            "Proposals accepted and not yet answered.",
            status.pending_proposals as u64,
        );
        gauge(
            &mut out,
            "ordo_rejected_messages",
            "Messages refused as malformed or impossible (alert above 0).",
            status.rejected_messages,
        );
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        counter(
            &mut out,
            "ordo_shed_appends_total",
            "Appends dropped because the node was over its backlog limit.",
            status.shed_appends,
        );
        counter(
            &mut out,
            "ordo_snapshot_failures_total",
            "Snapshot builds that failed (retried with back-off; alert above 0).",
            status.snapshot_failures,
        );
        counter(
            &mut out,
            "ordo_peer_handshakes_refused_total",
            "Node connections refused at the handshake (another cluster, an unknown node).",
            extras.handshakes_refused,
        );
        if let Some(table) = self.client_connections.get() {
            gauge(
                &mut out,
                "ordo_client_connections",
                "Client connections open.",
                table.open_connections() as u64,
            );
            counter(
                &mut out,
                "ordo_client_connections_evicted_total",
                "Idle client connections closed to make room at the connection cap.",
                table.evicted_total(),
            );
            counter(
                &mut out,
                "ordo_client_connections_refused_total",
                "Client connections closed at once: at the cap with every connection busy.",
                table.refused_total(),
            );
        }
        gauge(
            &mut out,
            "ordo_storage_full",
            "1 while the log's last write found the disk full (writes are refused with 507).",
            u64::from(self.storage_full()),
        );
        if let Some((bytes, segments)) = extras.wal {
            gauge(
                &mut out,
                "ordo_wal_bytes",
                "Bytes of log segments on disk.",
                bytes,
            );
            gauge(
                &mut out,
                "ordo_wal_segments",
                "Log segment files on disk.",
                segments,
            );
        }
        self.node_events.render(&mut out);
        render_consensus(&mut out, &status.metrics, status.repair_point);
        let _ = writeln!(
            out,
            "# HELP ordo_proposals_total Writes received over HTTP, by outcome.\n\
             # TYPE ordo_proposals_total counter"
        );
        for ((_, name), count) in OUTCOMES.iter().zip(&self.proposals) {
            let count = count.load(Ordering::Relaxed);
            let _ = writeln!(out, "ordo_proposals_total{{outcome=\"{name}\"}} {count}");
        }
        self.proposal_seconds.render(
            &mut out,
            "ordo_proposal_duration_seconds",
            "Time from a write's arrival to its answer, for applied writes.",
        );
        self.fsync_seconds.render(
            &mut out,
            "ordo_fsync_duration_seconds",
            "Time each log sync (fdatasync) took.",
        );
        let _ = writeln!(
            out,
            "# HELP ordo_reads_total Reads received over HTTP, by consistency.\n\
             # TYPE ordo_reads_total counter"
        );
        for (name, count) in ["linearizable", "lease", "stale"].iter().zip(&self.reads) {
            let count = count.load(Ordering::Relaxed);
            let _ = writeln!(out, "ordo_reads_total{{consistency=\"{name}\"}} {count}");
        }
        if !status.peers.is_empty() {
            let _ = writeln!(
                out,
                "# HELP ordo_replication_lag_entries Entries a member is behind the leader's log (on the leader).\n\
                 # TYPE ordo_replication_lag_entries gauge"
            );
            for (peer, progress) in &status.peers {
                let lag = status.last_log_index.saturating_sub(progress.match_index);
                let _ = writeln!(out, "ordo_replication_lag_entries{{peer=\"{peer}\"}} {lag}");
            }
        }
        if let Some(store) = store {
            let counters = store.counters;
            let gauges = [
                ("ordo_keys", "Keys stored (live).", counters.keys),
                ("ordo_store_keys", "Keys stored (live).", counters.keys),
                (
                    "ordo_store_history_versions",
                    "Versions retained, live or not (history and tombstones included).",
                    counters.versions,
                ),
                (
                    "ordo_store_bytes",
                    "Key and value bytes retained, history included (what the quota counts).",
                    counters.bytes,
                ),
                (
                    "ordo_store_live_bytes",
                    "Key and value bytes of the live keys.",
                    counters.live_bytes,
                ),
                (
                    "ordo_store_quota_bytes",
                    "The storage quota (--quota-bytes; 0: none).",
                    store.quota_bytes,
                ),
                (
                    "ordo_quota_alarm",
                    "1 while the store is over its quota (writes are refused).",
                    u64::from(store.quota_alarm),
                ),
                (
                    "ordo_leases",
                    "Leases granted and not yet revoked.",
                    counters.leases,
                ),
                (
                    "ordo_cluster_revision",
                    "The cluster revision this node has applied.",
                    counters.cluster_revision,
                ),
                (
                    "ordo_compact_revision",
                    "The compact revision this node has applied (0: never compacted).",
                    counters.compact_revision,
                ),
            ];
            for (name, help, value) in gauges {
                gauge(&mut out, name, help, value);
            }
        }
        out
    }
}

/// The consensus core's own counters (`NodeStatus::metrics`), exact where
/// the event-derived ones above may skip, and the repair point.
fn render_consensus(out: &mut String, metrics: &ordo::ConsensusMetrics, repair: Option<u64>) {
    let counters = [
        (
            "ordo_consensus_elections_started_total",
            "Elections (pre-vote rounds included) this node started.",
            metrics.elections_started,
        ),
        (
            "ordo_consensus_prevote_rejections_total",
            "Pre-vote rounds this node lost.",
            metrics.pre_vote_rejections,
        ),
        (
            "ordo_consensus_became_leader_total",
            "Times this node became leader.",
            metrics.times_became_leader,
        ),
        (
            "ordo_consensus_leader_changes_total",
            "Times the leader this node knows of changed.",
            metrics.leader_changes,
        ),
        (
            "ordo_consensus_term_changes_total",
            "Times this node's term rose.",
            metrics.term_changes,
        ),
        (
            "ordo_consensus_step_downs_total",
            "Times this node stopped leading.",
            metrics.step_downs,
        ),
        (
            "ordo_consensus_follower_logs_went_back_total",
            "Followers found with a log ending before entries they had acknowledged.",
            metrics.follower_logs_went_back,
        ),
        (
            "ordo_consensus_refused_term_messages_total",
            "Peer messages refused for a term too far ahead or at the cap (forged or corrupt).",
            metrics.refused_term_messages,
        ),
        (
            "ordo_consensus_refused_snapshots_total",
            "Snapshots refused for being larger than --max-snapshot-bytes (this node stays behind).",
            metrics.refused_snapshots,
        ),
    ];
    for (name, help, value) in counters {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP ordo_repair_point The index this node's log must reach before it votes again (0: not under repair).\n\
         # TYPE ordo_repair_point gauge\nordo_repair_point {}",
        repair.unwrap_or(0)
    );
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Duration;

    use super::Histogram;

    #[test]
    fn histogram_buckets_are_cumulative_and_count_everything() {
        let histogram = Histogram::default();
        histogram.observe(Duration::from_micros(50));
        histogram.observe(Duration::from_millis(3));
        histogram.observe(Duration::from_secs(60));
        let mut page = String::new();
        histogram.render(&mut page, "x", "help");
        assert!(page.contains("x_bucket{le=\"0.0001\"} 1\n"), "{page}");
        assert!(page.contains("x_bucket{le=\"0.005\"} 2\n"), "{page}");
        assert!(page.contains("x_bucket{le=\"5\"} 2\n"), "{page}");
        assert!(page.contains("x_bucket{le=\"+Inf\"} 3\n"), "{page}");
        assert!(page.contains("x_count 3\n"), "{page}");
    }
}
