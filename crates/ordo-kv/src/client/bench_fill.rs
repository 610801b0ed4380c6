//! `ordo bench fill`: writes every key of a key space exactly once, as fast
//! as `clients` concurrent writers go, to load a cluster to a known size
//! (the memory and restart benchmarks start from it). Unlike the load
//! generator, which draws keys at random and so leaves some unwritten, a
//! fill hands out key numbers from one counter: each is written once, and a
//! failed write is retried until it succeeds or the deadline passes.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::bench::bench_value;
use super::{Client, ClientError};

/// What `ordo bench fill` does.
#[derive(Clone, Debug)]
pub struct FillConfig {
    /// Keys written: `key_prefix` and `0 .. keys`, zero-padded.
    pub keys: u64,
    /// Bytes per value.
    pub value_size: usize,
    /// Concurrent writers.
    pub clients: usize,
    /// Keys are this prefix and a zero-padded number.
    pub key_prefix: String,
    /// Give up after this long.
    pub deadline: Duration,
}

/// What a fill did.
#[derive(Clone, Debug, Serialize)]
pub struct FillSummary {
    /// Keys written.
    pub written: u64,
    /// Writes that failed and were retried.
    pub retried: u64,
    /// Wall time.
    pub seconds: f64,
    /// Writes per second.
    pub writes_per_second: f64,
}

/// Writes every key once. Fails if the deadline passes first.
pub async fn fill(client: &Client, config: &FillConfig) -> Result<FillSummary, ClientError> {
    if config.keys == 0 || config.clients == 0 {
        return Err(ClientError::invalid(
            "--keys and --clients must be at least 1",
        ));
    }
    let next = Arc::new(AtomicU64::new(0));
    let retried = Arc::new(AtomicU64::new(0));
    let digits = config.keys.saturating_sub(1).to_string().len();
    let value = bench_value(config.value_size);
    let started = Instant::now();
    let end = started + config.deadline;
    let mut writers = JoinSet::new();
    for _ in 0..config.clients {
        let (client, next, retried, value) = (
            client.clone(),
            Arc::clone(&next),
            Arc::clone(&retried),
            value.clone(),
        );
        let (prefix, keys) = (config.key_prefix.clone(), config.keys);
        writers.spawn(async move {
            let mut key = String::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= keys {
                    return Ok(());
                }
                key.clear();
                let _ = write!(key, "{prefix}{index:0digits$}");
                while let Err(error) = client.put(&key, value.clone(), None).await {
                    if Instant::now() >= end {
                        return Err(error);
                    }
                    retried.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while let Some(joined) = writers.join_next().await {
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(error),
            Err(panicked) => {
                return Err(ClientError::invalid(format!("a writer failed: {panicked}")));
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(FillSummary {
        written: config.keys,
        retried: retried.load(Ordering::Relaxed),
        seconds,
        writes_per_second: config.keys as f64 / seconds.max(f64::EPSILON),
    })
}
