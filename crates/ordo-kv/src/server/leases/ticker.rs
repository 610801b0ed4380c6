//! The task that drives a node's [`LeaseKeeper`]: a tick every
//! [`LEASE_TICK`], and one at once when the node's role changes (so a new
//! leader starts its clock, and a deposed one forgets it, without waiting).

use std::sync::Arc;
use std::time::Duration;

use ordo::{Event, EventStream, EventStreamError};
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use super::host::LeaseHost;
use super::keeper::LeaseKeeper;

/// How often the leader reconciles its deadlines with the applied leases
/// and looks for expired ones: a lease is revoked at most this long (plus
/// one commit) after its deadline.
pub const LEASE_TICK: Duration = Duration::from_millis(250);

/// Ticks `keeper` until the node stops or `shutdown` turns true. `events`
/// is subscribed before the node starts, so the first election is seen.
pub async fn keep_lease_time<H: LeaseHost>(
    keeper: Arc<LeaseKeeper<H>>,
    mut events: EventStream,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(LEASE_TICK);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            event = events.recv() => match event {
                Ok(Event::RoleChanged { .. }) | Err(EventStreamError::Lagged(_)) => {}
                Ok(_) => continue,
                Err(EventStreamError::Closed) => return,
            },
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        keeper.tick().await;
    }
}
