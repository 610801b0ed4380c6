//! What `ordo bench` reports: throughput, latency percentiles from
//! HdrHistograms, errors by kind; as text for people or JSON for scripts.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::output::render_table;

/// The largest latency a histogram tells apart: 60 s, in microseconds;
/// longer ones are recorded as this.
pub(crate) const LATENCY_MAX_MICROS: u64 = 60_000_000;
/// Significant decimal digits kept per latency.
const LATENCY_SIGNIFICANT_DIGITS: u8 = 3;

/// An empty latency histogram, in microseconds.
#[allow(
    clippy::expect_used,
    reason = "the bounds are constants, checked by a test"
)]
pub(crate) fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_MAX_MICROS, LATENCY_SIGNIFICANT_DIGITS)
        .expect("constant histogram bounds are valid: low 1, high above 2, 3 digits")
}

/// Latency percentiles of one kind of operation, in microseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Operations that succeeded in the measured window.
    pub count: u64,
    /// `count` per second of the window.
    pub ops_per_sec: f64,
    /// Mean latency.
    pub mean_us: f64,
    /// Median latency.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Slowest.
    pub max_us: u64,
}

impl LatencySummary {
    /// Summarises `histogram` over a window of `window_secs` seconds.
    pub fn from_histogram(histogram: &Histogram<u64>, window_secs: f64) -> Self {
        let count = histogram.len();
        if count == 0 {
            return Self::default();
        }
        Self {
            count,
            ops_per_sec: per_second(count, window_secs),
            mean_us: histogram.mean(),
            p50_us: histogram.value_at_quantile(0.50),
            p90_us: histogram.value_at_quantile(0.90),
            p99_us: histogram.value_at_quantile(0.99),
            p999_us: histogram.value_at_quantile(0.999),
            max_us: histogram.max(),
        }
    }
}

/// The result of one `ordo bench` run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BenchSummary {
    /// Concurrent closed-loop clients.
    pub clients: usize,
    /// The measured window, in seconds (warm-up excluded).
    pub duration_secs: f64,
    /// The warm-up before it, in seconds.
    pub warmup_secs: f64,
    /// Size of the key space.
    pub keys: u64,
    /// Bytes per written value.
    pub value_size: usize,
    /// Fraction of operations that were reads.
    pub read_ratio: f64,
    /// Read consistency.
    pub consistency: String,
    /// Where writes went.
    pub leader: Option<String>,
    /// Successful operations in the window.
    pub total_ops: u64,
    /// `total_ops` per second.
    pub ops_per_sec: f64,
    /// Puts.
    pub writes: LatencySummary,
    /// Gets.
    pub reads: LatencySummary,
    /// Gets of keys that did not exist (counted in `reads` too).
    pub read_misses: u64,
    /// Failed operations by [`ClientError::kind`](super::ClientError::kind).
    pub errors: BTreeMap<String, u64>,
}

/// `count` per second over `window_secs` (0 for an empty window).
pub(crate) fn per_second(count: u64, window_secs: f64) -> f64 {
    if window_secs > 0.0 {
        count as f64 / window_secs
    } else {
        0.0
    }
}

/// A latency for people: `850us`, `2.10ms`, `1.234s`.
pub fn format_micros(micros: u64) -> String {
    match micros {
        0..1_000 => format!("{micros}us"),
        1_000..1_000_000 => format!("{:.2}ms", micros as f64 / 1e3),
        _ => format!("{:.3}s", micros as f64 / 1e6),
    }
}

/// The summary for people.
pub fn render_summary(summary: &BenchSummary) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "ordo bench: {} clients, {:.1}s measured after {:.1}s warm-up, {} keys, {}-byte values, read ratio {:.2} ({} reads)",
        summary.clients,
        summary.duration_secs,
        summary.warmup_secs,
        summary.keys,
        summary.value_size,
        summary.read_ratio,
        summary.consistency,
    );
    if let Some(leader) = &summary.leader {
        let _ = writeln!(text, "writes to leader {leader}");
    }
    let error_count: u64 = summary.errors.values().sum();
    let _ = writeln!(
        text,
        "total: {} ops, {:.1} ops/s, {} errors",
        summary.total_ops, summary.ops_per_sec, error_count
    );
    let header = [
        "op", "count", "ops/s", "mean", "p50", "p90", "p99", "p99.9", "max",
    ];
    let rows = [("write", &summary.writes), ("read", &summary.reads)]
        .into_iter()
        .filter(|(_, latency)| latency.count > 0)
        .map(|(name, latency)| latency_row(name, latency))
        .collect::<Vec<_>>();
    if !rows.is_empty() {
        text.push_str(&render_table(&header, &rows));
    }
    if summary.read_misses > 0 {
        let _ = writeln!(text, "reads of missing keys: {}", summary.read_misses);
    }
    for (kind, count) in &summary.errors {
        let _ = writeln!(text, "errors {kind}: {count}");
    }
    text
}

fn latency_row(name: &str, latency: &LatencySummary) -> Vec<String> {
    vec![
        name.to_owned(),
        latency.count.to_string(),
        format!("{:.1}", latency.ops_per_sec),
        format_micros(latency.mean_us.round() as u64),
        format_micros(latency.p50_us),
        format_micros(latency.p90_us),
        format_micros(latency.p99_us),
        format_micros(latency.p999_us),
        format_micros(latency.max_us),
    ]
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn latencies_read_naturally() {
        assert_eq!(format_micros(0), "0us");
        assert_eq!(format_micros(850), "850us");
        assert_eq!(format_micros(2_104), "2.10ms");
        assert_eq!(format_micros(999_999), "1000.00ms");
        assert_eq!(format_micros(1_234_000), "1.234s");
    }

    #[test]
    fn percentiles_come_from_the_histogram() {
        let mut histogram = latency_histogram();
        for micros in 1..=1000 {
            histogram.record(micros).expect("in range");
        }
        let summary = LatencySummary::from_histogram(&histogram, 2.0);
        assert_eq!(summary.count, 1000);
        assert_eq!(summary.ops_per_sec, 500.0);
        assert_eq!(summary.p50_us, 500);
        assert_eq!(summary.p90_us, 900);
        assert_eq!(summary.p99_us, 990);
        assert_eq!(summary.p999_us, 999);
        assert_eq!(summary.max_us, 1000);
        assert!((summary.mean_us - 500.5).abs() < 1.0);
        assert_eq!(
            LatencySummary::from_histogram(&latency_histogram(), 1.0),
            LatencySummary::default()
        );
    }

    #[test]
    fn latencies_past_the_limit_saturate() {
        let mut histogram = latency_histogram();
        histogram.saturating_record(LATENCY_MAX_MICROS * 10);
        assert!(histogram.max() >= LATENCY_MAX_MICROS);
    }

    fn sample_summary() -> BenchSummary {
        BenchSummary {
            clients: 16,
            duration_secs: 10.0,
            warmup_secs: 1.0,
            keys: 10_000,
            value_size: 100,
            read_ratio: 0.0,
            consistency: "linearizable".into(),
            leader: Some("http://127.0.0.1:8001".into()),
            total_ops: 52_340,
            ops_per_sec: 5234.0,
            writes: LatencySummary {
                count: 52_340,
                ops_per_sec: 5234.0,
                mean_us: 3050.4,
                p50_us: 2_900,
                p90_us: 4_100,
                p99_us: 7_800,
                p999_us: 15_000,
                max_us: 1_200_000,
            },
            reads: LatencySummary::default(),
            read_misses: 0,
            errors: BTreeMap::from([("server:busy".to_owned(), 3), ("timeout".to_owned(), 1)]),
        }
    }

    #[test]
    fn the_text_summary_shows_only_operations_that_ran() {
        let expected = "\
ordo bench: 16 clients, 10.0s measured after 1.0s warm-up, 10000 keys, 100-byte values, read ratio 0.00 (linearizable reads)
writes to leader http://127.0.0.1:8001
total: 52340 ops, 5234.0 ops/s, 4 errors
op     count  ops/s   mean    p50     p90     p99     p99.9    max
write  52340  5234.0  3.05ms  2.90ms  4.10ms  7.80ms  15.00ms  1.200s
errors server:busy: 3
errors timeout: 1
";
        assert_eq!(render_summary(&sample_summary()), expected);
    }

    #[test]
    fn the_json_summary_names_every_field() {
        let json = serde_json::to_value(sample_summary()).expect("serialisable");
        assert_eq!(json["total_ops"], 52_340);
        assert_eq!(json["writes"]["p999_us"], 15_000);
        assert_eq!(json["reads"]["count"], 0);
        assert_eq!(json["errors"]["server:busy"], 3);
    }
}
