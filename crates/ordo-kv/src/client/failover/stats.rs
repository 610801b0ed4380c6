//! What `ordo bench failover` reports: per system and fault mode, the
//! percentiles of the two times it measures, as a table or JSON.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use super::FaultMode;
use crate::client::output::render_table;

/// Percentiles of a set of durations, in microseconds, by the nearest-rank
/// method (the smallest sample with at least p% of samples at or below it):
/// every value reported is one that was measured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Percentiles {
    /// Samples.
    pub count: usize,
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// Slowest.
    pub max_us: u64,
}

impl Percentiles {
    /// The percentiles of `samples` (all zero when there are none).
    pub fn of(samples: &[Duration]) -> Self {
        let mut micros: Vec<u64> = samples
            .iter()
            .map(|sample| u64::try_from(sample.as_micros()).unwrap_or(u64::MAX))
            .collect();
        micros.sort_unstable();
        Self {
            count: micros.len(),
            p50_us: nearest_rank(&micros, 50),
            p90_us: nearest_rank(&micros, 90),
            p99_us: nearest_rank(&micros, 99),
            max_us: micros.last().copied().unwrap_or(0),
        }
    }
}

/// The `percent`th percentile of `sorted` by nearest rank; 0 if empty.
fn nearest_rank(sorted: &[u64], percent: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (percent * sorted.len()).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

/// One system's trials of one fault mode.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModeReport {
    /// `ordo` or `etcd`.
    pub system: String,
    /// The fault.
    pub mode: FaultMode,
    /// Trials run.
    pub trials: usize,
    /// Trials in which a time was not observed before the trial's deadline
    /// (left out of the percentiles).
    pub timed_out: usize,
    /// From the fault to the first write acknowledged by the new leader.
    pub first_write: Percentiles,
    /// From the fault to a new leader named by every surviving member.
    pub leader_known: Percentiles,
}

/// The measurements of one trial; `None` when not observed in time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrialTimes {
    /// Fault to first write acknowledged by the new leader.
    pub first_write: Option<Duration>,
    /// Fault to a new leader known by every survivor.
    pub leader_known: Option<Duration>,
}

impl ModeReport {
    /// Summarises `trials` of `mode` on `system`.
    pub fn new(system: &str, mode: FaultMode, trials: &[TrialTimes]) -> Self {
        let first_writes: Vec<Duration> = trials.iter().filter_map(|t| t.first_write).collect();
        let leaders: Vec<Duration> = trials.iter().filter_map(|t| t.leader_known).collect();
        Self {
            system: system.to_owned(),
            mode,
            trials: trials.len(),
            timed_out: trials
                .iter()
                .filter(|t| t.first_write.is_none() || t.leader_known.is_none())
                .count(),
            first_write: Percentiles::of(&first_writes),
            leader_known: Percentiles::of(&leaders),
        }
    }
}

/// Milliseconds with two decimals: `2.10`.
fn millis(micros: u64) -> String {
    format!("{:.2}", micros as f64 / 1e3)
}

/// The reports as one table for people, times in milliseconds.
pub fn render(reports: &[ModeReport]) -> String {
    let header = [
        "system",
        "fault",
        "trials",
        "timed out",
        "write p50",
        "p90",
        "p99",
        "max",
        "leader p50",
        "p90",
        "p99",
        "max",
    ];
    let rows: Vec<Vec<String>> = reports
        .iter()
        .map(|report| {
            let (w, l) = (&report.first_write, &report.leader_known);
            vec![
                report.system.clone(),
                report.mode.to_string(),
                report.trials.to_string(),
                report.timed_out.to_string(),
                millis(w.p50_us),
                millis(w.p90_us),
                millis(w.p99_us),
                millis(w.max_us),
                millis(l.p50_us),
                millis(l.p90_us),
                millis(l.p99_us),
                millis(l.max_us),
            ]
        })
        .collect();
    let mut text = String::new();
    let _ = writeln!(
        text,
        "times in ms from the fault: \"write\" to the first write acknowledged by the new leader, \
         \"leader\" to a new leader known by every surviving member"
    );
    text.push_str(&render_table(&header, &rows));
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn ms(value: u64) -> Duration {
        Duration::from_millis(value)
    }

    #[test]
    fn percentiles_are_nearest_rank_samples() {
        let samples: Vec<Duration> = (1..=100).rev().map(ms).collect();
        let p = Percentiles::of(&samples);
        assert_eq!(p.count, 100);
        assert_eq!(
            (p.p50_us, p.p90_us, p.p99_us, p.max_us),
            (50_000, 90_000, 99_000, 100_000)
        );
        // Few samples: p99 is the largest, p50 the lower middle one.
        let few = Percentiles::of(&[ms(30), ms(10), ms(20), ms(40)]);
        assert_eq!(
            (few.p50_us, few.p90_us, few.p99_us, few.max_us),
            (20_000, 40_000, 40_000, 40_000)
        );
        let one = Percentiles::of(&[ms(7)]);
        assert_eq!((one.p50_us, one.p99_us, one.max_us), (7_000, 7_000, 7_000));
        assert_eq!(Percentiles::of(&[]), Percentiles::default());
    }

    #[test]
    fn trials_without_a_time_count_as_timed_out_and_stay_out_of_the_percentiles() {
        let trials = [
            TrialTimes {
                first_write: Some(ms(3)),
                leader_known: Some(ms(4)),
            },
            TrialTimes {
                first_write: Some(ms(5)),
                leader_known: None,
            },
            TrialTimes::default(),
        ];
        let report = ModeReport::new("ordo", FaultMode::Kill, &trials);
        assert_eq!((report.trials, report.timed_out), (3, 2));
        assert_eq!(report.first_write.count, 2);
        assert_eq!(report.first_write.max_us, 5_000);
        assert_eq!(report.leader_known.count, 1);
        let text = render(std::slice::from_ref(&report));
        assert!(text.contains("ordo    kill   3"), "{text}");
        assert!(text.contains("3.00"), "{text}");
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["mode"], "kill");
        assert_eq!(json["first_write"]["p99_us"], 5_000);
    }
}
