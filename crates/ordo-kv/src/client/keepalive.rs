//! [`LeaseKeeper`]: a task that keeps leases alive and says when one is
//! lost.
//!
//! Every third of the shortest TTL it renews all its leases in one
//! `POST /v1/leases/keepalive` (through the leader: the routing loop
//! follows redirects, so leader changes are invisible here). A lease is
//! lost when the leader answers TTL 0 (expired or revoked), or when no
//! keepalive has been confirmed for a whole TTL, counted from when the
//! last confirmed request was *sent* (the leader restarted its deadline no
//! earlier than that): past it, the lease may have expired, and whatever it
//! guarded (a lock) must be assumed gone. Losses are reported on a
//! [`tokio::sync::watch`] channel; the task ends when every lease is lost
//! or the keeper is dropped.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use super::Client;

/// The shortest renewal period, whatever the TTL: a bound on the request
/// rate of a keeper given a TTL of 0.
pub const MIN_KEEPALIVE_PERIOD: Duration = Duration::from_millis(100);

/// Why a lease was given up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LossReason {
    /// The leader said it does not exist (expired or revoked).
    Gone,
    /// No keepalive was confirmed for a whole TTL; the last failure.
    Unconfirmed {
        /// The last failure, for people.
        last_error: String,
    },
}

/// One lease given up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseLoss {
    /// The lease.
    pub id: i64,
    /// Why.
    pub reason: LossReason,
}

/// Keeps leases alive in the background until dropped.
#[derive(Debug)]
pub struct LeaseKeeper {
    losses: watch::Receiver<Vec<LeaseLoss>>,
    reported: usize,
    task: JoinHandle<()>,
}

/// A lease the task keeps, and when it was last confirmed.
struct Kept {
    id: i64,
    ttl: Duration,
    confirmed_at: Instant,
}

impl LeaseKeeper {
    /// Starts keeping `leases` (id and TTL in seconds, as granted) alive.
    pub fn start(client: Client, leases: &[(i64, i64)]) -> Self {
        let now = Instant::now();
        let kept = leases
            .iter()
            .map(|&(id, ttl_seconds)| Kept {
                id,
                ttl: Duration::from_secs(ttl_seconds.max(0).unsigned_abs()),
                confirmed_at: now,
            })
            .collect();
        let (sender, losses) = watch::channel(Vec::new());
        let task = tokio::spawn(keep_alive(client, kept, sender));
        Self {
            losses,
            reported: 0,
            task,
        }
    }

    /// Waits for the next lease lost (since the last call). Never returns
    /// while every lease is kept.
    pub async fn lost(&mut self) -> LeaseLoss {
        loop {
            if let Some(loss) = self.losses.borrow().get(self.reported).cloned() {
                self.reported += 1;
                return loss;
            }
            if self.losses.changed().await.is_err() {
                // The task ended with every loss already reported.
                std::future::pending::<()>().await;
            }
        }
    }

    /// Every lease lost so far.
    pub fn losses(&self) -> Vec<LeaseLoss> {
        self.losses.borrow().clone()
    }

    /// A receiver of the losses so far, to wait on from elsewhere.
    pub fn subscribe(&self) -> watch::Receiver<Vec<LeaseLoss>> {
        self.losses.clone()
    }
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn keep_alive(client: Client, mut kept: Vec<Kept>, losses: watch::Sender<Vec<LeaseLoss>>) {
    let Some(shortest_ttl) = kept.iter().map(|lease| lease.ttl).min() else {
        return;
    };
    let period = (shortest_ttl / 3).max(MIN_KEEPALIVE_PERIOD);
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_error = String::new();
    while !kept.is_empty() {
        ticks.tick().await;
        let ids: Vec<i64> = kept.iter().map(|lease| lease.id).collect();
        let sent_at = Instant::now();
        let mut gone = Vec::new();
        match tokio::time::timeout(period, client.keepalive_many(&ids)).await {
            Ok(Ok(answer)) => {
                for renewed in answer.leases {
                    let Some(lease) = kept.iter_mut().find(|lease| lease.id == renewed.id) else {
                        continue;
                    };
                    if renewed.ttl <= 0 {
                        gone.push(renewed.id);
                    } else {
                        lease.confirmed_at = sent_at;
                        lease.ttl = Duration::from_secs(renewed.ttl.unsigned_abs());
                    }
                }
            }
            Ok(Err(error)) => last_error = error.to_string(),
            Err(_elapsed) => last_error = format!("no keepalive answer within {period:?}"),
        }
        let now = Instant::now();
        let mut lost = Vec::new();
        kept.retain(|lease| {
            let reason = if gone.contains(&lease.id) {
                LossReason::Gone
            } else if now.duration_since(lease.confirmed_at) >= lease.ttl {
                LossReason::Unconfirmed {
                    last_error: last_error.clone(),
                }
            } else {
                return true;
            };
            lost.push(LeaseLoss {
                id: lease.id,
                reason,
            });
            false
        });
        if !lost.is_empty() {
            tracing::warn!(?lost, "leases lost");
            losses.send_modify(|all| all.extend(lost));
        }
    }
}
