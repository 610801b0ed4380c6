//! The one way ordo-kv's tests wait: poll a check until it passes, or fail
//! after a bound, naming what was awaited and the last thing the check saw.
//!
//! Both support modules include this file (`e2e_support` for real processes,
//! `support` for in-process nodes), and the synchronous `bench_failover`
//! tests use [`wait_for_blocking`], so every wait in this crate's tests has a
//! bound and the same kind of failure message.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::time::{Duration, Instant};

/// How long to wait, and how often to look.
#[derive(Clone, Copy, Debug)]
pub struct Patience {
    /// Give up after this long.
    pub within: Duration,
    /// Poll this often.
    pub every: Duration,
}

/// Polls `check` every `patience.every` until it returns `Ok`, and returns
/// its value.
///
/// # Panics
/// After `patience.within`, naming `what`, `check`'s last complaint and what
/// `context` adds (the nodes' logs, typically).
pub async fn wait_for<T, F, Fut>(
    what: &str,
    patience: Patience,
    mut check: F,
    context: impl Fn() -> String,
) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + patience.within;
    loop {
        let complaint = match check().await {
            Ok(value) => return value,
            Err(complaint) => complaint,
        };
        assert!(
            Instant::now() < deadline,
            "timed out after {:?} waiting for {what} (last seen: {complaint})\n{}",
            patience.within,
            context()
        );
        tokio::time::sleep(patience.every).await;
    }
}

/// [`wait_for`] for tests without an async runtime: sleeps the thread
/// between polls.
///
/// # Panics
/// As [`wait_for`].
pub fn wait_for_blocking<T>(
    what: &str,
    patience: Patience,
    mut check: impl FnMut() -> Result<T, String>,
    context: impl Fn() -> String,
) -> T {
    let deadline = Instant::now() + patience.within;
    loop {
        let complaint = match check() {
            Ok(value) => return value,
            Err(complaint) => complaint,
        };
        assert!(
            Instant::now() < deadline,
            "timed out after {:?} waiting for {what} (last seen: {complaint})\n{}",
            patience.within,
            context()
        );
        std::thread::sleep(patience.every);
    }
}
