//! The one way the runtime tests wait: poll a check until it passes, or fail
//! after a bound, naming what was awaited and the last thing the check saw.
//! Every wait and every retry-until-accepted loop in these tests goes
//! through [`eventually_within`], so none can hang and every timeout says
//! what it was waiting for.

use std::future::Future;
use std::time::{Duration, Instant};

use super::PATIENCE;

/// How often a check is polled: short next to any timeout the runtime has.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Polls `check` every 10 ms until it returns `Ok`, and returns its value.
///
/// # Panics
/// After `within`, naming `what` and `check`'s last complaint.
pub async fn eventually_within<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + within;
    loop {
        let complaint = match check().await {
            Ok(value) => return value,
            Err(complaint) => complaint,
        };
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what} (last seen: {complaint})"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// [`eventually_within`] [`PATIENCE`].
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    eventually_within(what, PATIENCE, check).await
}

/// Waits until `condition` returns `Some`, at most [`PATIENCE`].
pub async fn wait_until<T>(what: &str, mut condition: impl FnMut() -> Option<T>) -> T {
    eventually(what, || std::future::ready(condition().ok_or_else(not_yet))).await
}

/// As [`wait_until`], for an async condition.
pub async fn wait_until_async<T, F: Future<Output = Option<T>>>(
    what: &str,
    mut condition: impl FnMut() -> F,
) -> T {
    eventually(what, || {
        let holds = condition();
        async move { holds.await.ok_or_else(not_yet) }
    })
    .await
}

fn not_yet() -> String {
    "the condition does not hold yet".to_owned()
}
