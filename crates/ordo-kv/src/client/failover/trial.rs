//! One trial: a stable cluster under a steady write load, a fault on its
//! leader, the two times measured, and the cluster healed.
//!
//! The load: for every member, a write is started every 5 ms (a new one,
//! whether or not the last was answered; at most `WRITES_IN_FLIGHT_MAX`
//! unanswered), so a write stuck on a dead or paused leader never delays
//! the next attempt. A write counts once acknowledged by the new leader: in
//! ordo, a 200 from a member other than the old leader (followers
//! redirect); in etcd, an answer naming a later term; in both, only a write
//! sent after the fault. Times are
//! taken from the moment the fault was delivered (the signal sent, the
//! transfer asked) to the moment an answer arrived.

use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use rustix::process::Signal;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};

use super::FaultMode;
use super::api::{Ack, Api};
use super::launch::Launched;
use super::stats::TrialTimes;

/// How often each member is sent a write, and each survivor asked who leads.
const RETRY_INTERVAL: Duration = Duration::from_millis(5);
/// Unanswered writes per member, at most.
const WRITES_IN_FLIGHT_MAX: usize = 256;
/// How long one write may take before it is given up. Shorter than
/// `WRITES_IN_FLIGHT_MAX` intervals, so a slot is always free by the time
/// the last one is taken: writes stuck on a dead leader (etcd's followers
/// forward to it and wait) never stall the 5 ms cadence.
const WRITE_TIMEOUT: Duration = Duration::from_secs(1);
const _: () =
    assert!(WRITE_TIMEOUT.as_millis() < WRITES_IN_FLIGHT_MAX as u128 * RETRY_INTERVAL.as_millis());
/// How long one member may take to say who leads.
const VIEW_TIMEOUT: Duration = Duration::from_millis(300);
/// How long the write that shows a cluster stable may take.
const PROBE_WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// Load on the leader before the fault.
const STEADY_LOAD: Duration = Duration::from_millis(200);
/// Quiet time once the cluster is stable, so a restarted member catches up.
const SETTLE: Duration = Duration::from_millis(300);
/// How long a cluster may take to become stable again after healing.
const STABLE_PATIENCE: Duration = Duration::from_secs(60);
/// How long a member asked to stop (SIGTERM) may take to exit.
const EXIT_PATIENCE: Duration = Duration::from_secs(10);

/// A leader every member names, in one term.
#[derive(Clone, Copy, Debug)]
struct Stable {
    leader: usize,
    term: u64,
}

/// Runs one trial of `mode` on `cluster`; `trial` numbers the keys.
pub(crate) async fn run(
    cluster: &mut Launched,
    mode: FaultMode,
    trial: usize,
    deadline_after: Duration,
) -> anyhow::Result<TrialTimes> {
    let stable = wait_stable(cluster).await?;
    let (acks, load) = start_load(&cluster.api, trial);
    tokio::time::sleep(STEADY_LOAD).await;
    let size = cluster.api.size();
    let target = (stable.leader + 1) % size;
    let survivors: Vec<usize> = (0..size)
        .filter(|&member| mode == FaultMode::Transfer || member != stable.leader)
        .collect();
    let fault_at = Instant::now();
    inject(cluster, mode, stable.leader, target)?;
    let times = measure(
        &cluster.api,
        acks,
        stable,
        &survivors,
        fault_at,
        deadline_after,
    )
    .await;
    drop(load);
    heal(cluster, mode, stable.leader).await?;
    Ok(times)
}

/// An acknowledged write: who answered, when it was sent, when answered.
type Acked = (Ack, Instant, Instant);

/// Starts the write load; acknowledgements arrive on the channel. Dropping
/// the set stops it.
fn start_load(api: &Api, trial: usize) -> (mpsc::UnboundedReceiver<Acked>, JoinSet<()>) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let mut load = JoinSet::new();
    for member in 0..api.size() {
        let (api, sender) = (api.clone(), sender.clone());
        load.spawn(write_continually(api, member, trial, sender));
    }
    (receiver, load)
}

/// Starts a write to `member` every `RETRY_INTERVAL` while fewer than
/// `WRITES_IN_FLIGHT_MAX` are unanswered.
async fn write_continually(
    api: Api,
    member: usize,
    trial: usize,
    acks: mpsc::UnboundedSender<Acked>,
) {
    let slots = Arc::new(Semaphore::new(WRITES_IN_FLIGHT_MAX));
    let mut writes = JoinSet::new();
    let mut ticker = tokio::time::interval(RETRY_INTERVAL);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let key = format!("bench-failover-{member}");
    for sequence in 0_u64.. {
        ticker.tick().await;
        while writes.try_join_next().is_some() {}
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            continue;
        };
        let (api, acks, key) = (api.clone(), acks.clone(), key.clone());
        writes.spawn(async move {
            let value = format!("trial-{trial}-{sequence}");
            let sent = Instant::now();
            if let Some(ack) = api.write(member, &key, &value, WRITE_TIMEOUT).await {
                let _ = acks.send((ack, sent, Instant::now()));
            }
            drop(slot);
        });
    }
}

/// Delivers the fault to `leader` (a transfer goes to `target`).
fn inject(
    cluster: &mut Launched,
    mode: FaultMode,
    leader: usize,
    target: usize,
) -> anyhow::Result<()> {
    let process = &cluster.members[leader];
    match mode {
        FaultMode::Kill => process.signal(Signal::KILL),
        FaultMode::Pause => process.signal(Signal::STOP),
        FaultMode::Term => process.signal(Signal::TERM),
        FaultMode::Transfer => {
            let api = cluster.api.clone();
            // Answered once the transfer is over: not waited for here.
            tokio::spawn(async move { api.transfer(leader, target, STABLE_PATIENCE).await });
            Ok(())
        }
        FaultMode::All => bail!("`all` is a set of modes, not one fault"),
    }
}

/// Watches acknowledgements and the survivors' views until both times are
/// known or `deadline_after` passed since the fault.
async fn measure(
    api: &Api,
    mut acks: mpsc::UnboundedReceiver<Acked>,
    old: Stable,
    survivors: &[usize],
    fault_at: Instant,
    deadline_after: Duration,
) -> TrialTimes {
    let deadline = fault_at + deadline_after;
    let mut times = TrialTimes::default();
    let mut ticker = tokio::time::interval(RETRY_INTERVAL);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    while times.first_write.is_none() || times.leader_known.is_none() {
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => break,
            acked = acks.recv(), if times.first_write.is_none() => {
                let Some((ack, sent, answered)) = acked else { break };
                // Sent after the fault: not a write the old leader committed.
                if sent >= fault_at && ack.by_new_leader(old.leader, old.term) {
                    times.first_write = Some(answered - fault_at);
                }
            }
            _ = ticker.tick(), if times.leader_known.is_none() => {
                if new_leader_known(api, survivors, old).await {
                    times.leader_known = Some(fault_at.elapsed());
                }
            }
        }
    }
    times
}

/// True if every survivor names the same leader, other than the old one,
/// in a later term.
async fn new_leader_known(api: &Api, survivors: &[usize], old: Stable) -> bool {
    let mut named = None;
    for &member in survivors {
        let Some(view) = api.view(member, VIEW_TIMEOUT).await else {
            return false;
        };
        let Some(leader) = view.leader else {
            return false;
        };
        if leader == old.leader || view.term <= old.term || named.is_some_and(|n| n != leader) {
            return false;
        }
        named = Some(leader);
    }
    named.is_some()
}

/// Undoes the fault: the stopped member starts again, the paused one resumes.
async fn heal(cluster: &mut Launched, mode: FaultMode, leader: usize) -> anyhow::Result<()> {
    let process = &mut cluster.members[leader];
    match mode {
        FaultMode::Kill => {
            process.reap();
            process.start()
        }
        FaultMode::Term => {
            if !process.exited_within(EXIT_PATIENCE).await {
                bail!(
                    "member {leader} did not exit within {EXIT_PATIENCE:?} of SIGTERM\n{}",
                    process.log_tail()
                );
            }
            process.start()
        }
        FaultMode::Pause => process.signal(Signal::CONT),
        FaultMode::Transfer | FaultMode::All => Ok(()),
    }
}

/// Waits until every member names the same leader in the same term and a
/// write through it is acknowledged, then lets the cluster settle.
async fn wait_stable(cluster: &mut Launched) -> anyhow::Result<Stable> {
    let deadline = Instant::now() + STABLE_PATIENCE;
    loop {
        if let Some(stable) = agreed(&cluster.api).await
            && cluster
                .api
                .write(
                    stable.leader,
                    "bench-failover-probe",
                    "stable",
                    PROBE_WRITE_TIMEOUT,
                )
                .await
                .is_some()
        {
            tokio::time::sleep(SETTLE).await;
            if agreed(&cluster.api)
                .await
                .is_some_and(|again| again.leader == stable.leader && again.term == stable.term)
            {
                return Ok(stable);
            }
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = cluster.members.iter().map(|m| m.log_tail()).collect();
            bail!(
                "the cluster did not become stable within {STABLE_PATIENCE:?}\n{}",
                logs.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The leader and term every member names, if they all agree.
async fn agreed(api: &Api) -> Option<Stable> {
    let mut agreed: Option<Stable> = None;
    for member in 0..api.size() {
        let view = api.view(member, VIEW_TIMEOUT).await?;
        let here = Stable {
            leader: view.leader?,
            term: view.term,
        };
        match agreed {
            Some(before) if (before.leader, before.term) != (here.leader, here.term) => {
                return None;
            }
            _ => agreed = Some(here),
        }
    }
    agreed
}
