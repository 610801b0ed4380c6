//! `GET /health`: 200 only when the node can actually serve, 503 with the
//! reasons otherwise, for load balancers and supervisors.
//!
//! Serving needs all of: the node runs (it did not stop after a failure),
//! knows a leader, has applied what it knows committed (within
//! [`APPLY_LAG_MAX_ENTRIES`], so a node under steady writes is not flapping),
//! is not being repaired (its log may have lost entries it once reported
//! durable: until a leader has brought it back past them it must not vote,
//! and its state is behind what it acknowledged), its log's disk is not
//! full, and it was not removed from the cluster (a removed node keeps
//! running until its operator stops it, but never serves again). Each failed
//! condition is one reason in the body.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ordo::Index;
use serde::Serialize;

use crate::server::http::SharedState;

/// How far the applied index may trail the commit index on a healthy node.
pub const APPLY_LAG_MAX_ENTRIES: u64 = 128;

/// Why a node cannot serve (the `reasons` of an unhealthy answer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unhealthy {
    /// The node stopped (a storage or state machine failure, or a stop).
    Stopped,
    /// No leader is known.
    NoLeader,
    /// Applied more than `APPLY_LAG_MAX_ENTRIES` behind what it knows committed.
    Applying,
    /// Its log may have lost acknowledged entries; a leader is repairing it.
    Repairing,
    /// Its log's disk is full.
    DiskFull,
    /// A committed configuration leaves it out: it was removed from the
    /// cluster and will not serve again; stop it.
    Removed,
}

/// The body of `GET /health`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HealthBody {
    /// True when the answer is 200.
    pub healthy: bool,
    /// Why not, when not.
    pub reasons: Vec<Unhealthy>,
    /// The leader known.
    pub leader: Option<u64>,
    /// Highest index known committed.
    pub commit_index: Index,
    /// Highest index applied.
    pub applied_index: Index,
    /// The index the log must reach again before the node votes, while it
    /// is being repaired.
    pub repair_point: Option<Index>,
}

/// What the verdict is made from.
#[derive(Clone, Copy, Debug, Default)]
pub struct HealthInputs {
    /// The node stopped.
    pub stopped: bool,
    /// The leader known.
    pub leader: Option<u64>,
    /// Highest index known committed.
    pub commit_index: Index,
    /// Highest index applied.
    pub applied_index: Index,
    /// Set while the node is being repaired.
    pub repair_point: Option<Index>,
    /// The log's disk was full at its last write.
    pub disk_full: bool,
    /// The node knows it was removed from the cluster.
    pub removed: bool,
}

/// Every reason the node described by `inputs` cannot serve.
pub fn verdict(inputs: &HealthInputs) -> Vec<Unhealthy> {
    let lagging = inputs.applied_index.saturating_add(APPLY_LAG_MAX_ENTRIES) < inputs.commit_index;
    [
        (inputs.stopped, Unhealthy::Stopped),
        (inputs.leader.is_none(), Unhealthy::NoLeader),
        (lagging, Unhealthy::Applying),
        (inputs.repair_point.is_some(), Unhealthy::Repairing),
        (inputs.disk_full, Unhealthy::DiskFull),
        (inputs.removed, Unhealthy::Removed),
    ]
    .into_iter()
    .filter_map(|(failed, reason)| failed.then_some(reason))
    .collect()
}

pub(super) async fn health(State(state): State<SharedState>) -> Response {
    // A stopped node answers no status: it is unhealthy for that reason.
    let status = state.node.status().await.ok();
    let inputs = HealthInputs {
        stopped: status.is_none() || state.node.is_stopped(),
        leader: status.as_ref().and_then(|status| status.leader),
        commit_index: status.as_ref().map_or(0, |status| status.commit_index),
        applied_index: status.as_ref().map_or(0, |status| status.applied_index),
        repair_point: status.as_ref().and_then(|status| status.repair_point),
        disk_full: state.metrics.storage_full(),
        removed: status.as_ref().is_some_and(|status| status.removed),
    };
    let reasons = verdict(&inputs);
    let healthy = reasons.is_empty();
    let body = HealthBody {
        healthy,
        reasons,
        leader: inputs.leader,
        commit_index: inputs.commit_index,
        applied_index: inputs.applied_index,
        repair_point: inputs.repair_point,
    };
    let code = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_condition_is_a_reason_of_its_own() {
        let serving = HealthInputs {
            leader: Some(1),
            commit_index: 1000,
            applied_index: 1000 - APPLY_LAG_MAX_ENTRIES,
            ..HealthInputs::default()
        };
        assert_eq!(verdict(&serving), []);
        let cases = [
            (
                HealthInputs {
                    stopped: true,
                    ..serving
                },
                Unhealthy::Stopped,
            ),
            (
                HealthInputs {
                    leader: None,
                    ..serving
                },
                Unhealthy::NoLeader,
            ),
            (
                HealthInputs {
                    applied_index: 1000 - APPLY_LAG_MAX_ENTRIES - 1,
                    ..serving
                },
                Unhealthy::Applying,
            ),
            (
                HealthInputs {
                    repair_point: Some(7),
                    ..serving
                },
                Unhealthy::Repairing,
            ),
            (
                HealthInputs {
                    disk_full: true,
                    ..serving
                },
                Unhealthy::DiskFull,
            ),
            (
                HealthInputs {
                    removed: true,
                    ..serving
                },
                Unhealthy::Removed,
            ),
        ];
        for (inputs, reason) in cases {
            assert_eq!(verdict(&inputs), [reason], "{inputs:?}");
        }
    }
}
