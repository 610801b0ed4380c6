//! Counters of what the Raft node reports as events (elections, leader
//! changes, lost pre-votes, snapshots), for `/metrics`.
//!
//! They are counted from the node's event stream, which is bounded: a
//! subscriber that falls behind skips events, and how many is counted too
//! (`ordo_events_skipped_total`), so a gap is visible, never silent.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use ordo::{Event, EventStream, EventStreamError, Role};
use tokio::sync::watch;

/// What the node's events added up to.
#[derive(Debug, Default)]
pub struct NodeEventCounters {
    elections: AtomicU64,
    pre_votes: AtomicU64,
    pre_votes_lost: AtomicU64,
    leader_changes: AtomicU64,
    snapshots_taken: AtomicU64,
    snapshots_installed: AtomicU64,
    events_skipped: AtomicU64,
}

impl NodeEventCounters {
    /// Counts one event.
    pub fn count(&self, event: &Event) {
        let counter = match event {
            Event::RoleChanged {
                current: Role::Candidate,
                ..
            } => &self.elections,
            Event::RoleChanged {
                current: Role::PreCandidate,
                ..
            } => &self.pre_votes,
            Event::RoleChanged {
                previous: Role::PreCandidate,
                current: Role::Follower,
                ..
            } => &self.pre_votes_lost,
            Event::LeaderElected { .. } => &self.leader_changes,
            Event::SnapshotTaken { .. } => &self.snapshots_taken,
            Event::SnapshotInstalled { .. } => &self.snapshots_installed,
            _ => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Leaders learned of (one per term with a known leader).
    pub fn leader_changes(&self) -> u64 {
        self.leader_changes.load(Ordering::Relaxed)
    }

    /// Appends the counters to a Prometheus page.
    pub fn render(&self, out: &mut String) {
        let counters = [
            (
                "ordo_elections_total",
                "Elections this node started (as a candidate).",
                &self.elections,
            ),
            (
                "ordo_prevotes_total",
                "Pre-vote rounds this node started.",
                &self.pre_votes,
            ),
            (
                "ordo_prevotes_lost_total",
                "Pre-vote rounds this node lost (back to follower without campaigning).",
                &self.pre_votes_lost,
            ),
            (
                "ordo_leader_changes_total",
                "Leaders this node learned of (one per term that had one).",
                &self.leader_changes,
            ),
            (
                "ordo_snapshots_taken_total",
                "Snapshots of the store this node took.",
                &self.snapshots_taken,
            ),
            (
                "ordo_snapshots_installed_total",
                "Snapshots received from a leader and installed.",
                &self.snapshots_installed,
            ),
            (
                "ordo_events_skipped_total",
                "Node events the counters above missed (the subscriber fell behind).",
                &self.events_skipped,
            ),
        ];
        for (name, help, counter) in counters {
            let value = counter.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
    }
}

/// Counts a node's `events` (subscribed before it started, so the first
/// election is counted) into `counters` until the node stops or `shutdown`
/// turns true.
pub async fn count_events(
    mut events: EventStream,
    counters: std::sync::Arc<crate::server::metrics::Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        match event {
            Ok(event) => counters.node_events.count(&event),
            Err(EventStreamError::Lagged(skipped)) => {
                counters
                    .node_events
                    .events_skipped
                    .fetch_add(skipped, Ordering::Relaxed);
            }
            Err(EventStreamError::Closed) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_changes_leaders_and_snapshots_are_counted_apart() {
        let counters = NodeEventCounters::default();
        let role = |previous, current| Event::RoleChanged {
            previous,
            current,
            term: 2,
        };
        for event in [
            role(Role::Follower, Role::PreCandidate),
            role(Role::PreCandidate, Role::Follower),
            role(Role::Follower, Role::PreCandidate),
            role(Role::PreCandidate, Role::Candidate),
            role(Role::Candidate, Role::Leader),
            Event::LeaderElected { leader: 1, term: 2 },
            Event::SnapshotTaken { last_index: 9 },
            Event::EntriesApplied { applied_index: 9 },
        ] {
            counters.count(&event);
        }
        let mut page = String::new();
        counters.render(&mut page);
        for line in [
            "ordo_elections_total 1\n",
            "ordo_prevotes_total 2\n",
            "ordo_prevotes_lost_total 1\n",
            "ordo_leader_changes_total 1\n",
            "ordo_snapshots_taken_total 1\n",
            "ordo_snapshots_installed_total 0\n",
        ] {
            assert!(page.contains(line), "{line:?} in {page}");
        }
    }
}
