//! One frame of the dashboard's stream: this node's status, the cluster as
//! seen from here and from each member, and this node's traffic counters.
//!
//! Counters are totals since the node started, never rates: the page
//! computes rates and quantiles from the differences between frames, so a
//! lost frame costs resolution, not correctness, and a restarted node
//! shows as counters that went down (the page starts over).

use std::collections::BTreeMap;

use ordo::{NodeId, NodeStatus};
use serde::Serialize;

use crate::api::ClusterResponse;
use crate::server::http::SharedState;
use crate::server::http::health::{HealthInputs, Unhealthy, verdict};
use crate::server::metrics::{HistogramCounts, ProposalOutcome};
use crate::server::ui::members::{Answers, MemberAnswer};

/// What `GET /v1/ui/stream` sends once per [`super::stream::FRAME_INTERVAL`].
#[derive(Clone, Debug, Serialize)]
pub struct UiFrame {
    /// The node serving the stream.
    pub node: NodeId,
    /// The cluster's name.
    pub cluster: String,
    /// The leader this node knows of.
    pub leader: Option<NodeId>,
    /// This node's term.
    pub term: u64,
    /// The cluster revision this node applied.
    pub revision: u64,
    /// Alarms raised on this node (`quota_exceeded`).
    pub alarms: Vec<String>,
    /// Every member, in id order.
    pub members: Vec<MemberView>,
    /// This node's counters.
    pub traffic: Traffic,
}

/// One member as the dashboard shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MemberView {
    /// Its id.
    pub id: NodeId,
    /// `leader`, `follower`, `learner`, `candidate`, `pre_candidate`, or
    /// absent when it did not answer.
    pub role: Option<String>,
    /// Whether it votes.
    pub voter: bool,
    /// Where other nodes reach it.
    pub peer_addr: Option<String>,
    /// Where clients reach it (the dashboard's other copies).
    pub client_addr: Option<String>,
    /// Its term, commit and applied index, as it answered.
    pub term: Option<u64>,
    /// Highest index it knows committed.
    pub commit_index: Option<u64>,
    /// Highest index it applied.
    pub applied_index: Option<u64>,
    /// Entries behind the leader's log, from the leader's view.
    pub lag: Option<u64>,
    /// `healthy`, `unhealthy` (with `reasons`), `unreachable` (it did not
    /// answer) or `unknown` (not asked: see `members.rs`).
    pub health: &'static str,
    /// Why it is unhealthy.
    pub reasons: Vec<Unhealthy>,
}

/// This node's counters, totals since it started.
#[derive(Clone, Debug, Serialize)]
pub struct Traffic {
    /// Writes answered by this node's HTTP API (applied, or applied with a
    /// failed compare).
    pub writes_answered: u64,
    /// Reads served by this node's HTTP API.
    pub reads: u64,
    /// Time from a write's arrival to its answer, on this node.
    pub proposal_latency: HistogramCounts,
    /// Time each log sync took on this node.
    pub fsync_latency: HistogramCounts,
}

/// The frame for this node's `status` and `view`, with the other members'
/// `answers`.
pub fn build(
    state: &SharedState,
    status: &NodeStatus,
    view: &ClusterResponse,
    answers: &Answers,
) -> UiFrame {
    // The leader's view of replication: ours if we lead, else the answer
    // of the member we know as leader (a deposed leader that has not
    // heard yet may still report its own, stale one).
    let leader_view = if status.peers.is_empty() {
        match status.leader.and_then(|leader| answers.get(&leader)) {
            Some(MemberAnswer::Answered(answer)) => Some(&**answer),
            _ => None,
        }
    } else {
        Some(view)
    };
    let lags: BTreeMap<NodeId, u64> = leader_view
        .map(|leader| {
            leader
                .replication
                .iter()
                .map(|info| (info.id, info.lag))
                .collect()
        })
        .unwrap_or_default();
    let members = view
        .members
        .iter()
        .map(|member| {
            let mut shown = if member.id == status.id {
                own_view(state, status, &view.node.role)
            } else {
                answered_view(answers.get(&member.id).unwrap_or(&MemberAnswer::NotAsked))
            };
            shown.id = member.id;
            shown.voter = member.voter;
            shown.peer_addr.clone_from(&member.peer_addr);
            shown.client_addr.clone_from(&member.client_addr);
            shown.lag = lags.get(&member.id).copied();
            if !member.voter && shown.role.as_deref() == Some("follower") {
                shown.role = Some("learner".into());
            }
            shown
        })
        .collect();
    let counters = state.store.counters();
    let metrics = &state.metrics;
    UiFrame {
        node: status.id,
        cluster: state.cluster.clone(),
        leader: status.leader,
        term: status.term,
        revision: counters.cluster_revision,
        alarms: state.store.alarms(),
        members,
        traffic: Traffic {
            writes_answered: metrics.proposals(ProposalOutcome::Applied)
                + metrics.proposals(ProposalOutcome::CompareFailed),
            reads: metrics.reads_total(),
            proposal_latency: metrics.proposal_seconds.bucket_counts(),
            fsync_latency: metrics.fsync_seconds.bucket_counts(),
        },
    }
}

/// This node, judged as `/health` judges it.
fn own_view(state: &SharedState, status: &NodeStatus, role: &str) -> MemberView {
    let reasons = verdict(&HealthInputs {
        stopped: state.node.is_stopped(),
        leader: status.leader,
        commit_index: status.commit_index,
        applied_index: status.applied_index,
        repair_point: status.repair_point,
        disk_full: state.metrics.storage_full(),
        removed: status.removed,
    });
    MemberView {
        role: Some(role.into()),
        term: Some(status.term),
        commit_index: Some(status.commit_index),
        applied_index: Some(status.applied_index),
        health: if reasons.is_empty() {
            "healthy"
        } else {
            "unhealthy"
        },
        reasons,
        ..MemberView::default()
    }
}

/// Another member, judged from what it answered: only what its answer
/// shows (a leader, applied close to commit); its disk and repair state
/// are its own `/health`'s to tell.
fn answered_view(answer: &MemberAnswer) -> MemberView {
    let answer = match answer {
        MemberAnswer::Answered(answer) => answer,
        MemberAnswer::Silent => {
            return MemberView {
                health: "unreachable",
                ..MemberView::default()
            };
        }
        MemberAnswer::NotAsked => {
            return MemberView {
                health: "unknown",
                ..MemberView::default()
            };
        }
    };
    let node = &answer.node;
    let reasons = verdict(&HealthInputs {
        leader: node.leader,
        commit_index: node.commit_index,
        applied_index: node.applied_index,
        ..HealthInputs::default()
    });
    MemberView {
        role: Some(node.role.clone()),
        term: Some(node.term),
        commit_index: Some(node.commit_index),
        applied_index: Some(node.applied_index),
        health: if reasons.is_empty() {
            "healthy"
        } else {
            "unhealthy"
        },
        reasons,
        ..MemberView::default()
    }
}
