//! What the core reports it did ([`ordo_core::Event`]): one log line each,
//! with node, term and indexes, and a counter each in [`ConsensusMetrics`].
//!
//! Refused messages come in floods when someone forges them, so their lines
//! are limited to one per [`REFUSED_LOG_INTERVAL`], carrying the count since
//! the last. A finished repair also lets the log store forget its durable
//! repair point; that write happens off the consensus task.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ordo_core::{ElectionReason, Event as CoreEvent, Index, NodeId, StepDownReason, Term};

use crate::runtime::consensus::Consensus;
use crate::runtime::state_machine::StateMachine;
use crate::runtime::status::ConsensusMetrics;
use crate::storage::LogStore;

/// Least time between two log lines about messages refused for their term.
pub(crate) const REFUSED_LOG_INTERVAL: Duration = Duration::from_secs(1);

/// The consensus task's counters and the refused-message line's limiter.
#[derive(Debug, Default)]
pub(crate) struct Observed {
    pub(crate) metrics: ConsensusMetrics,
    /// When the last refused-message line was written.
    refused_logged_at: Option<Instant>,
    /// Refusals not logged yet, and the last one's sender and term.
    refused_unlogged: Option<(u64, NodeId, Term)>,
}

impl<S: StateMachine> Consensus<S> {
    /// Logs and counts what the core reported.
    pub(super) fn on_core_events(&mut self, events: Vec<CoreEvent>) {
        for event in events {
            self.on_core_event(event);
        }
    }

    fn on_core_event(&mut self, event: CoreEvent) {
        let node_id = self.config.node_id;
        let metrics = &mut self.state.observed.metrics;
        match event {
            CoreEvent::ElectionStarted {
                term,
                reason,
                pre_vote,
            } => {
                metrics.elections_started += 1;
                let why = match reason {
                    ElectionReason::Timeout => "election timeout",
                    ElectionReason::Transfer => "leadership transfer",
                    ElectionReason::Requested => "requested",
                    ElectionReason::RemovedNodeTerm => {
                        "a removed node answered in a higher term; taking the group there to reach it"
                    }
                };
                tracing::info!(node_id, term, pre_vote, reason = why, "election started");
            }
            CoreEvent::PreVoteFinished { term, granted } => {
                if !granted {
                    metrics.pre_vote_rejections += 1;
                }
                tracing::info!(node_id, term, granted, "pre-vote finished");
            }
            CoreEvent::BecameLeader { term, last_index } => {
                metrics.times_became_leader += 1;
                tracing::info!(node_id, term, last_index, "became leader");
            }
            CoreEvent::TermChanged { from, to } => {
                metrics.term_changes += 1;
                tracing::info!(node_id, from, to, "term changed");
            }
            CoreEvent::SteppedDown { term, reason } => {
                metrics.step_downs += 1;
                let why = match reason {
                    StepDownReason::QuorumLost => "no quorum heard within an election timeout",
                    StepDownReason::Removed => "removed from the configuration",
                    StepDownReason::HigherTerm => "a higher term",
                    StepDownReason::Repair => "storage under repair",
                    StepDownReason::RemovedNodeTerm => {
                        "campaigning in a removed node's higher term, to reach it"
                    }
                };
                tracing::warn!(node_id, term, reason = why, "stepped down as leader");
            }
            CoreEvent::FollowerLogWentBack {
                follower,
                acknowledged,
                log_ends,
            } => {
                metrics.follower_logs_went_back += 1;
                tracing::warn!(
                    node_id,
                    follower,
                    acknowledged,
                    log_ends,
                    "a follower's log ends before entries it acknowledged: its storage lost \
                     them (or an old answer arrived late); repairing it from where it ends"
                );
            }
            CoreEvent::MessagesRefusedForTerm {
                count,
                last_from,
                last_term,
            } => {
                metrics.refused_term_messages += count;
                self.refused_for_term(count, last_from, last_term);
            }
            CoreEvent::SnapshotRefusedForSize {
                from,
                snapshot_index,
                data_bytes,
                max_bytes,
            } => {
                metrics.refused_snapshots += 1;
                tracing::error!(
                    node_id,
                    from,
                    snapshot_index,
                    data_bytes,
                    max_snapshot_bytes = max_bytes,
                    "refused a snapshot larger than max_snapshot_bytes: nothing of it was kept; \
                     this node stays behind until the limit is raised above the snapshot's size"
                );
            }
            CoreEvent::RepairFinished { through } => self.repair_finished(through),
            CoreEvent::Removed { config_index } => {
                tracing::warn!(
                    node_id,
                    term = self.state.soft_state.term,
                    config_index,
                    "removed from the cluster: a committed configuration leaves this node out; \
                     it will not campaign again and serves nothing; stop it"
                );
            }
        }
    }

    /// Logs refused messages, at most one line per [`REFUSED_LOG_INTERVAL`].
    fn refused_for_term(&mut self, count: u64, last_from: NodeId, last_term: Term) {
        let observed = &mut self.state.observed;
        let pending = observed
            .refused_unlogged
            .map_or(0, |(pending, _, _)| pending);
        observed.refused_unlogged = Some((pending + count, last_from, last_term));
        self.log_refused_if_due();
    }

    /// Writes the pending refused-message line if the interval has passed
    /// (called on every batch of events and every tick).
    pub(super) fn log_refused_if_due(&mut self) {
        let observed = &mut self.state.observed;
        let now = Instant::now();
        let due = observed
            .refused_logged_at
            .is_none_or(|at| now.duration_since(at) >= REFUSED_LOG_INTERVAL);
        if !due {
            return;
        }
        let Some((count, last_from, last_term)) = observed.refused_unlogged.take() else {
            return;
        };
        observed.refused_logged_at = Some(now);
        tracing::warn!(
            node_id = self.config.node_id,
            count,
            last_from,
            last_term,
            own_term = self.state.soft_state.term,
            max_term_jump = self.config.max_term_jump,
            "refused peer messages whose term is too far ahead or at the cap; only forged or \
             corrupted messages carry such terms"
        );
    }

    /// The core's durable log reached the repair point: the node votes
    /// again, and the store may forget the point (a rare write, made off
    /// this task; if it fails, the node only repairs again after a restart).
    fn repair_finished(&mut self, through: Index) {
        let node_id = self.config.node_id;
        tracing::warn!(
            node_id,
            through,
            "repair finished: the log is durable through the repair point again; the node votes \
             and campaigns again"
        );
        let store: Arc<dyn LogStore> = Arc::clone(self.raft.log_store());
        tokio::task::spawn_blocking(move || {
            if let Err(error) = store.clear_repair_point() {
                tracing::error!(
                    node_id,
                    through,
                    %error,
                    "the store could not forget its repair point; the node will repair again \
                     after a restart"
                );
            }
        });
    }
}
