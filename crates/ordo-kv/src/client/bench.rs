//! `ordo bench`: a closed-loop load generator for measuring a cluster.
//!
//! `clients` tasks each send one request at a time, as fast as answers come
//! back: a get with probability `read_ratio`, else a put, on a key drawn
//! uniformly from `keys` keys. One put before the start finds the leader
//! through redirects; every later write goes to it directly, while each
//! task reads from its own endpoint, so reads spread over the cluster.
//! Operations that start during the warm-up are not measured; operations
//! still running at the end are cut off and not counted. Each task keeps its
//! own histograms (no shared locks on the hot path); they are merged at the
//! end.
//!
//! Left out on purpose: open-loop (fixed-rate) load, key skew, and
//! coordinated-omission correction; a closed loop measures the latency a
//! client sees at the throughput the cluster sustains.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::IsTerminal as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use hdrhistogram::Histogram;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, timeout_at};

use super::bench_report::{BenchSummary, LatencySummary, latency_histogram, per_second};
use super::{Client, ClientError, Consistency};

/// The most concurrent clients a bench runs.
pub const MAX_BENCH_CLIENTS: usize = 4096;
/// The largest value a bench writes: 16 MiB.
pub const MAX_BENCH_VALUE_BYTES: usize = 16 << 20;

/// What `ordo bench` does.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    /// Concurrent closed-loop clients (1 ..= [`MAX_BENCH_CLIENTS`]).
    pub clients: usize,
    /// The measured window, after the warm-up.
    pub duration: Duration,
    /// Load before measuring starts.
    pub warmup: Duration,
    /// Size of the key space (at least 1).
    pub keys: u64,
    /// Bytes per written value (at most [`MAX_BENCH_VALUE_BYTES`]).
    pub value_size: usize,
    /// Fraction of operations that are gets, in `0.0 ..= 1.0`.
    pub read_ratio: f64,
    /// How fresh gets must be.
    pub consistency: Consistency,
    /// Keys are this prefix and a zero-padded number.
    pub key_prefix: String,
    /// Print a progress line on stderr every second.
    pub show_progress: bool,
}

impl BenchConfig {
    /// Checks every field against its limit.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_BENCH_CLIENTS).contains(&self.clients) {
            return Err(format!("--clients must be 1 to {MAX_BENCH_CLIENTS}"));
        }
        if self.duration.is_zero() {
            return Err("--duration must be more than zero".to_owned());
        }
        if self.keys == 0 {
            return Err("--keys must be at least 1".to_owned());
        }
        if self.value_size > MAX_BENCH_VALUE_BYTES {
            return Err(format!(
                "--value-size must be at most {MAX_BENCH_VALUE_BYTES}"
            ));
        }
        if !(0.0..=1.0).contains(&self.read_ratio) {
            return Err("--read-ratio must be between 0 and 1".to_owned());
        }
        Ok(())
    }
}

/// What every task shares, read-only.
#[derive(Debug)]
pub(super) struct Plan {
    key_prefix: String,
    key_digits: usize,
    pub(super) keys: u64,
    pub(super) value: Bytes,
    pub(super) read_ratio: f64,
    pub(super) consistency: Consistency,
    pub(super) measure_from: Instant,
    pub(super) end: Instant,
}

impl Plan {
    /// A plan for `config` whose clock is not started yet: both instants
    /// are now until [`start`](Self::start).
    pub(super) fn new(config: &BenchConfig) -> Self {
        Self {
            key_prefix: config.key_prefix.clone(),
            key_digits: config.keys.saturating_sub(1).to_string().len(),
            keys: config.keys,
            value: bench_value(config.value_size),
            read_ratio: config.read_ratio,
            consistency: config.consistency,
            measure_from: Instant::now(),
            end: Instant::now(),
        }
    }

    /// Starts the clock at `start`: warm-up, then the measured window.
    pub(super) fn start(&mut self, start: Instant, config: &BenchConfig) {
        self.measure_from = start + config.warmup;
        self.end = self.measure_from + config.duration;
    }

    /// Writes key `index` into `buffer`, reusing its allocation.
    pub(super) fn key_into(&self, index: u64, buffer: &mut String) {
        buffer.clear();
        buffer.push_str(&self.key_prefix);
        let _ = write!(buffer, "{index:0width$}", width = self.key_digits);
    }
}

/// Counters the progress line reads while tasks run.
#[derive(Debug, Default)]
pub(super) struct Progress {
    pub(super) done: AtomicU64,
    pub(super) failed: AtomicU64,
}

/// One task's measurements.
#[derive(Debug)]
pub(super) struct Tally {
    writes: Histogram<u64>,
    reads: Histogram<u64>,
    read_misses: u64,
    errors: BTreeMap<String, u64>,
}

impl Tally {
    pub(super) fn new() -> Self {
        Self {
            writes: latency_histogram(),
            reads: latency_histogram(),
            read_misses: 0,
            errors: BTreeMap::new(),
        }
    }

    pub(super) fn record(&mut self, outcome: Result<OpKind, ClientError>, latency: Duration) {
        self.record_kind(outcome.map_err(|error| error.kind()), latency);
    }

    /// Records a success, or a failure by the name of its kind.
    pub(super) fn record_kind(&mut self, outcome: Result<OpKind, String>, latency: Duration) {
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        match outcome {
            Ok(OpKind::Write) => self.writes.saturating_record(micros),
            Ok(OpKind::Read { found }) => {
                self.reads.saturating_record(micros);
                self.read_misses += u64::from(!found);
            }
            Err(kind) => *self.errors.entry(kind).or_default() += 1,
        }
    }

    pub(super) fn merge(&mut self, other: Tally) {
        // Same bounds on both sides, so adding cannot fail; saturate anyway.
        let _ = self.writes.add(&other.writes);
        let _ = self.reads.add(&other.reads);
        self.read_misses += other.read_misses;
        for (kind, count) in other.errors {
            *self.errors.entry(kind).or_default() += count;
        }
    }
}

/// What a successful operation was.
#[derive(Clone, Copy, Debug)]
pub(super) enum OpKind {
    Write,
    Read { found: bool },
}

/// Runs the benchmark and summarises it. Fails only if the first write,
/// which finds the leader, fails; later failures are counted by kind.
pub async fn run(client: &Client, config: &BenchConfig) -> Result<BenchSummary, ClientError> {
    config.validate().map_err(ClientError::invalid)?;
    let plan = Plan::new(config);
    let mut first_key = String::new();
    plan.key_into(0, &mut first_key);
    client.put(&first_key, plan.value.clone(), None).await?;
    let leader = client.leader_hint().map(|endpoint| endpoint.to_string());

    let (plan, progress, reporter) = start_measuring(plan, config);

    let mut tasks = JoinSet::new();
    let endpoints = client.endpoints();
    for index in 0..config.clients {
        let worker_client = client.prefer(endpoints[index % endpoints.len()].clone());
        tasks.spawn(work(
            worker_client,
            Arc::clone(&plan),
            Arc::clone(&progress),
        ));
    }
    let total = gather(tasks, reporter).await;
    Ok(summarise(config, leader, &total))
}

/// Starts the clock: the plan's warm-up and measuring windows count from
/// now, and the progress line (when asked for) is drawn from here on.
pub(super) fn start_measuring(
    mut plan: Plan,
    config: &BenchConfig,
) -> (Arc<Plan>, Arc<Progress>, Option<JoinHandle<()>>) {
    let start = Instant::now();
    plan.start(start, config);
    let plan = Arc::new(plan);
    let progress = Arc::new(Progress::default());
    let reporter = config.show_progress.then(|| {
        tokio::spawn(report_progress(
            Arc::clone(&progress),
            start,
            plan.measure_from,
        ))
    });
    (plan, progress, reporter)
}

/// Waits for every client, adds up their tallies (a client that panicked
/// counts nothing), and ends the progress line.
pub(super) async fn gather(mut tasks: JoinSet<Tally>, reporter: Option<JoinHandle<()>>) -> Tally {
    let mut total = Tally::new();
    while let Some(joined) = tasks.join_next().await {
        if let Ok(tally) = joined {
            total.merge(tally);
        }
    }
    if let Some(reporter) = reporter {
        reporter.abort();
        if std::io::stderr().is_terminal() {
            eprintln!();
        }
    }
    total
}

/// One closed-loop client.
async fn work(client: Client, plan: Arc<Plan>, progress: Arc<Progress>) -> Tally {
    let mut rng = fastrand::Rng::new();
    let mut tally = Tally::new();
    let mut key = String::new();
    while Instant::now() < plan.end {
        plan.key_into(rng.u64(..plan.keys), &mut key);
        let is_read = rng.f64() < plan.read_ratio;
        let started = Instant::now();
        let outcome = if is_read {
            let read = client.get(&key, plan.consistency);
            match timeout_at(plan.end, read).await {
                Ok(result) => result.map(|found| OpKind::Read {
                    found: found.is_some(),
                }),
                Err(_cut_off) => break,
            }
        } else {
            let write = client.put(&key, plan.value.clone(), None);
            match timeout_at(plan.end, write).await {
                Ok(result) => result.map(|_| OpKind::Write),
                Err(_cut_off) => break,
            }
        };
        let counter = if outcome.is_ok() {
            &progress.done
        } else {
            &progress.failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if started >= plan.measure_from {
            tally.record(outcome, started.elapsed());
        }
    }
    tally
}

/// Prints ops/s over the last second, totals and errors, once a second.
pub(super) async fn report_progress(
    progress: Arc<Progress>,
    start: Instant,
    measure_from: Instant,
) {
    let terminal = std::io::stderr().is_terminal();
    let second = Duration::from_secs(1);
    let mut ticker = tokio::time::interval_at(start + second, second);
    let mut done_before = 0;
    loop {
        let tick = ticker.tick().await;
        let done = progress.done.load(Ordering::Relaxed);
        let failed = progress.failed.load(Ordering::Relaxed);
        let phase = if tick <= measure_from {
            "  (warm-up)"
        } else {
            ""
        };
        let line = format!(
            "[{:>4}s] {:>8} ops/s  {done} ops  {failed} errors{phase}",
            (tick - start).as_secs(),
            done - done_before,
        );
        if terminal {
            eprint!("\r\x1b[2K{line}");
        } else {
            eprintln!("{line}");
        }
        done_before = done;
    }
}

pub(super) fn summarise(
    config: &BenchConfig,
    leader: Option<String>,
    total: &Tally,
) -> BenchSummary {
    let window_secs = config.duration.as_secs_f64();
    let writes = LatencySummary::from_histogram(&total.writes, window_secs);
    let reads = LatencySummary::from_histogram(&total.reads, window_secs);
    let total_ops = writes.count + reads.count;
    BenchSummary {
        clients: config.clients,
        duration_secs: window_secs,
        warmup_secs: config.warmup.as_secs_f64(),
        keys: config.keys,
        value_size: config.value_size,
        read_ratio: config.read_ratio,
        consistency: config.consistency.to_string(),
        leader,
        total_ops,
        ops_per_sec: per_second(total_ops, window_secs),
        writes,
        reads,
        read_misses: total.read_misses,
        errors: total.errors.clone(),
    }
}

/// `size` random alphanumeric bytes, shared by every write.
pub(super) fn bench_value(size: usize) -> Bytes {
    let mut rng = fastrand::Rng::new();
    (0..size)
        .map(|_| rng.alphanumeric() as u8)
        .collect::<Vec<u8>>()
        .into()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn config() -> BenchConfig {
        BenchConfig {
            clients: 16,
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(1),
            keys: 10_000,
            value_size: 100,
            read_ratio: 0.0,
            consistency: Consistency::Linearizable,
            key_prefix: "bench-".to_owned(),
            show_progress: false,
        }
    }

    #[test]
    fn limits_are_checked() {
        assert!(config().validate().is_ok());
        let cases: [fn(&mut BenchConfig); 5] = [
            |c| c.clients = 0,
            |c| c.duration = Duration::ZERO,
            |c| c.keys = 0,
            |c| c.value_size = MAX_BENCH_VALUE_BYTES + 1,
            |c| c.read_ratio = 1.5,
        ];
        for change in cases {
            let mut bad = config();
            change(&mut bad);
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn keys_are_padded_to_the_key_space() {
        let plan = Plan {
            key_prefix: "bench-".to_owned(),
            key_digits: 9_999_u64.to_string().len(),
            keys: 10_000,
            value: Bytes::new(),
            read_ratio: 0.0,
            consistency: Consistency::Stale,
            measure_from: Instant::now(),
            end: Instant::now(),
        };
        let mut key = String::from("leftover");
        plan.key_into(42, &mut key);
        assert_eq!(key, "bench-0042");
    }

    #[test]
    fn tallies_merge_counts_and_errors() {
        let mut first = Tally::new();
        first.record(Ok(OpKind::Write), Duration::from_millis(2));
        first.record(
            Ok(OpKind::Read { found: false }),
            Duration::from_micros(300),
        );
        first.record(Err(ClientError::invalid("x")), Duration::ZERO);
        let mut second = Tally::new();
        second.record(Ok(OpKind::Write), Duration::from_millis(4));
        second.record(Err(ClientError::invalid("y")), Duration::ZERO);
        first.merge(second);
        assert_eq!(first.writes.len(), 2);
        assert_eq!(first.reads.len(), 1);
        assert_eq!(first.read_misses, 1);
        assert_eq!(first.errors.get("invalid_input"), Some(&2));
        let summary = summarise(&config(), None, &first);
        assert_eq!(summary.total_ops, 3);
        assert_eq!(summary.writes.count, 2);
    }

    #[test]
    fn bench_values_have_the_asked_size() {
        assert_eq!(bench_value(100).len(), 100);
        assert!(bench_value(0).is_empty());
    }
}
