//! `ordo bench watch`: commit-to-delivery latency of watch streams.
//!
//! Opens `--watchers` SSE streams on one node, each on its own key
//! `w/{i}` (one HTTP/1.1 connection per watcher, hyper without a pool),
//! then writes random `w/{i}` keys at `--rate` per second for `--duration`,
//! each value holding its send time. Each change a watcher receives is
//! matched to its write: the delivery lag is the arrival time minus the
//! write's acknowledgement (its 200 answer) and minus its send time. A
//! write acknowledged and never delivered within a grace period counts as
//! missed (it must be 0).

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::client::{Client, ClientConfig, PutOutcome, parse_duration, parse_endpoints};

/// How long after the last write the bench waits for deliveries.
const DELIVERY_GRACE: Duration = Duration::from_secs(5);
/// How many streams are opened at once.
const OPEN_CONCURRENCY: usize = 64;

/// `ordo bench watch`.
#[derive(Debug, clap::Args)]
pub struct WatchBenchArgs {
    /// Concurrent watchers (SSE connections), one key each.
    #[arg(long, default_value_t = 1000)]
    pub watchers: usize,
    /// Writes per second.
    #[arg(long, default_value_t = 1000)]
    pub rate: u64,
    /// How long to write.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// The node to watch and write through (writes follow redirects).
    #[arg(long, default_value = "http://127.0.0.1:8001")]
    pub url: String,
}

/// One delivered change: (watcher, revision, arrival in unix nanoseconds).
type Arrival = (usize, u64, u64);

/// One acknowledged write: its revision, key index, send and ack times.
struct Acknowledged {
    revision: u64,
    watcher: usize,
    sent_nanos: u64,
    acked_nanos: u64,
}

/// Runs the bench and prints its report.
///
/// # Errors
/// A node that cannot be reached, a watch refused, a write that fails.
pub(super) async fn run(args: WatchBenchArgs) -> anyhow::Result<()> {
    if args.watchers == 0 || args.rate == 0 {
        bail!("--watchers and --rate must be at least 1");
    }
    raise_open_files_limit(args.watchers as u64 + 256)?;
    let address = args
        .url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("--url must be http://HOST:PORT"))?
        .trim_end_matches('/')
        .to_owned();
    let (arrivals_tx, mut arrivals) = mpsc::unbounded_channel::<Arrival>();
    eprintln!("opening {} watch streams on {}", args.watchers, args.url);
    open_watchers(&address, args.watchers, &arrivals_tx).await?;
    drop(arrivals_tx);
    eprintln!("writing {} keys/s for {:?}", args.rate, args.duration);
    let writes = write_at_rate(&args).await?;
    tokio::time::sleep(DELIVERY_GRACE).await;
    let mut delivered: HashMap<(usize, u64), u64> = HashMap::new();
    while let Ok((watcher, revision, arrived)) = arrivals.try_recv() {
        delivered.insert((watcher, revision), arrived);
    }
    print!("{}", report(&args, &writes, &delivered)?);
    Ok(())
}

fn raise_open_files_limit(wanted: u64) -> anyhow::Result<()> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let maximum = limit.maximum.unwrap_or(u64::MAX);
    if maximum < wanted {
        bail!("{wanted} open files are needed and the hard limit is {maximum} (raise ulimit -Hn)");
    }
    let raised = Rlimit {
        current: Some(wanted.max(limit.current.unwrap_or(0))),
        maximum: limit.maximum,
    };
    setrlimit(Resource::Nofile, raised).context("cannot raise the open files limit")
}

async fn open_watchers(
    address: &str,
    watchers: usize,
    arrivals: &mpsc::UnboundedSender<Arrival>,
) -> anyhow::Result<()> {
    let mut opened = 0;
    while opened < watchers {
        let batch = (opened..watchers.min(opened + OPEN_CONCURRENCY)).map(|watcher| {
            let address = address.to_owned();
            let arrivals = arrivals.clone();
            tokio::spawn(async move { watch_one(&address, watcher, arrivals).await })
        });
        let batch: Vec<_> = batch.collect();
        opened += batch.len();
        for started in batch {
            // Each task answers once its stream is open, then reads on.
            started.await.context("a watcher task failed")??;
        }
    }
    Ok(())
}

/// Opens watcher `watcher`'s stream and leaves a task reading it.
async fn watch_one(
    address: &str,
    watcher: usize,
    arrivals: mpsc::UnboundedSender<Arrival>,
) -> anyhow::Result<()> {
    let stream = TcpStream::connect(address)
        .await
        .with_context(|| format!("cannot connect to {address}"))?;
    stream.set_nodelay(true)?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = http::Request::get(format!("/v1/watch?key=w/{watcher}&progress_interval=0"))
        .header(http::header::HOST, address)
        .body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    if !response.status().is_success() {
        bail!("watch {watcher}: {}", response.status());
    }
    let mut body = response.into_body();
    tokio::spawn(async move {
        let _sender = sender;
        let mut buffer = String::new();
        while let Some(Ok(frame)) = body.frame().await {
            let Ok(data) = frame.into_data() else {
                continue;
            };
            buffer.push_str(&String::from_utf8_lossy(&data));
            while let Some(end) = buffer.find("\n\n") {
                let message: String = buffer.drain(..end + 2).collect();
                if let Some(revision) = change_revision(&message) {
                    let _ = arrivals.send((watcher, revision, now_nanos()));
                }
            }
        }
    });
    Ok(())
}

/// The `id` of a `change` message.
fn change_revision(message: &str) -> Option<u64> {
    if !message.lines().any(|line| line == "event: change") {
        return None;
    }
    message
        .lines()
        .find_map(|line| line.strip_prefix("id: "))
        .and_then(|id| id.trim().parse().ok())
}

async fn write_at_rate(args: &WatchBenchArgs) -> anyhow::Result<Vec<Acknowledged>> {
    let endpoints = parse_endpoints(&args.url).map_err(|error| anyhow!("--url: {error}"))?;
    let client = Client::new(ClientConfig::new(endpoints))?;
    let total = args.rate.saturating_mul(args.duration.as_secs().max(1));
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / args.rate as u32);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::with_capacity(total as usize);
    for _ in 0..total {
        ticker.tick().await;
        let client = client.clone();
        let watcher = fastrand::usize(..args.watchers);
        tasks.push(tokio::spawn(async move {
            let sent_nanos = now_nanos();
            let outcome = client
                .put(&format!("w/{watcher}"), sent_nanos.to_string(), None)
                .await;
            let acked_nanos = now_nanos();
            match outcome {
                Ok(PutOutcome::Written { revision }) => Ok(Acknowledged {
                    revision,
                    watcher,
                    sent_nanos,
                    acked_nanos,
                }),
                Ok(other) => Err(anyhow!("a put answered {other:?}")),
                Err(error) => Err(anyhow!(error)),
            }
        }));
    }
    let mut writes = Vec::with_capacity(tasks.len());
    for task in tasks {
        writes.push(task.await??);
    }
    Ok(writes)
}

fn report(
    args: &WatchBenchArgs,
    writes: &[Acknowledged],
    delivered: &HashMap<(usize, u64), u64>,
) -> anyhow::Result<String> {
    let mut after_ack = Histogram::<u64>::new(3)?;
    let mut after_send = Histogram::<u64>::new(3)?;
    let mut early = 0;
    let mut missed = 0;
    for write in writes {
        let Some(arrived) = delivered.get(&(write.watcher, write.revision)) else {
            missed += 1;
            continue;
        };
        if *arrived < write.acked_nanos {
            early += 1;
        }
        after_ack.record(arrived.saturating_sub(write.acked_nanos) / 1000)?;
        after_send.record(arrived.saturating_sub(write.sent_nanos) / 1000)?;
    }
    let row = |name: &str, histogram: &Histogram<u64>| {
        format!(
            "{name:<22} p50 {:>8.2} ms   p99 {:>8.2} ms   max {:>8.2} ms\n",
            histogram.value_at_quantile(0.5) as f64 / 1000.0,
            histogram.value_at_quantile(0.99) as f64 / 1000.0,
            histogram.max() as f64 / 1000.0
        )
    };
    Ok(format!(
        "watchers {}   rate {}/s   duration {:?}\n\
         writes acknowledged {}   delivered {}   missed {missed}   \
         delivered before the ack {early}\n{}{}",
        args.watchers,
        args.rate,
        args.duration,
        writes.len(),
        writes.len() - missed,
        row("lag after the ack", &after_ack),
        row("lag after the send", &after_send),
    ))
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only `change` messages count, by their `id`.
    #[test]
    fn change_ids_are_read_from_change_messages_only() {
        let change = "event: change\nid: 42\ndata: {\"revision\":42}\n\n";
        assert_eq!(change_revision(change), Some(42));
        let progress = "event: progress\ndata: {\"revision\":42}\n\n";
        assert_eq!(change_revision(progress), None);
        assert_eq!(change_revision(":\n\n"), None);
    }
}
