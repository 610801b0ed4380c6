//! `/v1/cluster`: membership, leadership, and where members are.

use std::time::Duration;

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{OriginalUri, Path, State};
use axum::{Extension, Json};
use ordo::{NodeId, NodeStatus, Role};
use serde_json::{Value, json};

use crate::api::{
    AddMemberRequest, ClusterResponse, MemberAddressRequest, MemberInfo, NodeStatusInfo,
    ReplicationInfo, TransferLeaderRequest,
};
use crate::auth::member_token::{MemberGrant, ReportedAddresses};
use crate::server::http::kv::path_and_query;
use crate::server::http::{ApiError, SharedState};
use crate::server::member_address::MemberAddress;
use crate::server::settings::{MAX_ADDRESS_BYTES, client_url, is_host_port};

/// How long `POST /v1/cluster/leader` waits to see the new leader.
const TRANSFER_PATIENCE: Duration = Duration::from_secs(5);

pub(super) async fn describe(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
) -> Result<Json<ClusterResponse>, ApiError> {
    let status = node_status(&state, path_and_query(&uri)).await?;
    Ok(Json(cluster_view(&state, &status)))
}

/// The cluster as `status` (this node's) and the log's addresses show it.
pub(crate) fn cluster_view(state: &SharedState, status: &NodeStatus) -> ClusterResponse {
    let mut infos = state.node.member_infos();
    // This node knows where it is before the log says so (the runtime
    // reports only what the group knows): a node joining through it needs
    // its addresses at once.
    let own = infos.entry(state.node.id()).or_default();
    *own = own.updated_by(&state.own);
    let membership = &status.membership;
    let members = membership
        .members()
        .into_iter()
        .map(|id| {
            let address = infos
                .get(&id)
                .map(MemberAddress::from_info)
                .unwrap_or_default();
            MemberInfo {
                id,
                voter: membership.is_voter(id),
                peer_addr: address.peer,
                client_addr: address.client,
            }
        })
        .collect();
    let replication = status
        .peers
        .iter()
        .map(|(&id, progress)| ReplicationInfo {
            id,
            matched: progress.match_index,
            lag: status.last_log_index.saturating_sub(progress.match_index),
        })
        .collect();
    ClusterResponse {
        cluster: state.cluster.clone(),
        cluster_id: Some(state.cluster_id.clone()),
        node: status_info(status),
        leader: status.leader,
        term: status.term,
        members,
        replication,
    }
}

pub(super) async fn add_member(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
    body: Result<Json<AddMemberRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let path = path_and_query(&uri);
    let Json(request) = body.map_err(|error| ApiError::bad_request(error.body_text()))?;
    let address = checked_address(request.id, &request.peer_addr, &request.client_addr)?;
    let status = node_status(&state, path).await?;
    if status.role != Role::Leader {
        return Err(ApiError::from_raft(
            ordo::RaftError::NotLeader {
                leader: status.leader.and_then(|id| {
                    state
                        .node
                        .member_infos()
                        .remove(&id)
                        .map(|a| (id, a.address))
                }),
            },
            path,
        ));
    }
    let membership = &status.membership;
    let already = if request.voter {
        membership.voters.contains(&request.id)
    } else {
        membership.contains(request.id)
    };
    // The runtime tells the transport where the new member is as soon as
    // the change is appended.
    let result = if already {
        update_unless_logged(&state, request.id, address).await
    } else if request.voter {
        state.node.add_node(request.id, address).await
    } else {
        state.node.add_learner(request.id, address).await
    };
    result.map_err(|error| ApiError::from_proposal(error, path))?;
    Ok(Json(json!({"id": request.id, "voter": request.voter})))
}

pub(super) async fn remove_member(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
    id: Result<Path<NodeId>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let path = path_and_query(&uri);
    let id = existing_member(&state, id, path).await?;
    state
        .node
        .remove_node(id)
        .await
        .map_err(|error| ApiError::from_proposal(error, path))?;
    Ok(Json(json!({"removed": id})))
}

pub(super) async fn promote(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
    id: Result<Path<NodeId>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let path = path_and_query(&uri);
    let id = existing_member(&state, id, path).await?;
    let info = state.node.member_infos().remove(&id).unwrap_or_default();
    state
        .node
        .add_node(id, info)
        .await
        .map_err(|error| ApiError::from_proposal(error, path))?;
    Ok(Json(json!({"id": id, "voter": true})))
}

pub(super) async fn set_address(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
    id: Result<Path<NodeId>, PathRejection>,
    member: Option<Extension<MemberGrant>>,
    body: Result<Json<MemberAddressRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let path = path_and_query(&uri);
    let id = member_id(id)?;
    let Json(request) = body.map_err(|error| ApiError::bad_request(error.body_text()))?;
    if let Some(Extension(grant)) = member {
        member_may_report(&grant, &request)?;
    }
    let address = checked_address(id, &request.peer_addr, &request.client_addr)?;
    update_unless_logged(&state, id, address)
        .await
        .map_err(|error| ApiError::from_proposal(error, path))?;
    Ok(Json(json!({"id": id})))
}

/// Checks that a member token (its `grant`, from the auth gate) was
/// minted for exactly the addresses `request` reports, so that a copied
/// token can only repeat its member's own report.
///
/// # Errors
/// 403 `permission_denied` for any other addresses.
pub(super) fn member_may_report(
    grant: &MemberGrant,
    request: &MemberAddressRequest,
) -> Result<(), ApiError> {
    let addresses = ReportedAddresses {
        peer_addr: &request.peer_addr,
        client_addr: &request.client_addr,
    };
    if grant.permits(addresses) {
        return Ok(());
    }
    Err(ApiError::permission_denied(format!(
        "member {}'s token was issued for other addresses than these",
        grant.node_id
    )))
}

/// Logs `update` for member `id` unless what this node applied says so
/// already: a node reporting itself again while it catches up costs a
/// request, not a log entry. (On a follower the update is refused with a
/// redirect either way.)
async fn update_unless_logged(
    state: &SharedState,
    id: NodeId,
    update: ordo::MemberInfo,
) -> Result<(), ordo::RaftError> {
    // The leader's log as appended is what every node will apply.
    let logged = state.node.member_hints().remove(&id).unwrap_or_default();
    if state.node.is_leader() && logged.updated_by(&update) == logged {
        return Ok(());
    }
    state.node.update_member_info(id, update).await
}

pub(super) async fn transfer_leader(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
    body: Result<Json<TransferLeaderRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let path = path_and_query(&uri);
    let Json(request) = body.map_err(|error| ApiError::bad_request(error.body_text()))?;
    transfer_and_wait(&state, request.to)
        .await
        .map_err(|error| ApiError::from_raft(error, path))?;
    Ok(Json(json!({"leader": request.to})))
}

/// Hands leadership to `to` and waits (up to [`TRANSFER_PATIENCE`]) until
/// this node sees it lead. Lease times are checkpointed first, so the next
/// leader starts each lease from what it has left now.
///
/// # Errors
/// As [`ordo::RaftNode::transfer_leadership`]; [`ordo::RaftError::Timeout`]
/// if `to` was not seen leading in time.
pub(crate) async fn transfer_and_wait(
    state: &SharedState,
    to: NodeId,
) -> Result<(), ordo::RaftError> {
    if state.node.leader_id() == Some(to) {
        return Ok(());
    }
    if let Err(error) = state.leases.checkpoint_now().await {
        tracing::debug!(%error, "lease times not checkpointed before a transfer");
    }
    state.node.transfer_leadership(to).await?;
    let deadline = tokio::time::Instant::now() + TRANSFER_PATIENCE;
    while tokio::time::Instant::now() < deadline {
        if state.node.leader_id() == Some(to) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(ordo::RaftError::Timeout)
}

pub(super) async fn node_status(state: &SharedState, path: &str) -> Result<NodeStatus, ApiError> {
    state
        .node
        .status()
        .await
        .map_err(|error| ApiError::from_raft(error, path))
}

/// The `NodeStatusInfo` of `status`.
pub(super) fn status_info(status: &NodeStatus) -> NodeStatusInfo {
    NodeStatusInfo {
        id: status.id,
        role: role_name(status.role).into(),
        term: status.term,
        leader: status.leader,
        commit_index: status.commit_index,
        applied_index: status.applied_index,
        durable_index: status.durable_index,
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Leader => "leader",
        Role::Follower => "follower",
        Role::Candidate => "candidate",
        Role::PreCandidate => "pre_candidate",
    }
}

/// The member id in the path, if it names a member (404 otherwise).
async fn existing_member(
    state: &SharedState,
    id: Result<Path<NodeId>, PathRejection>,
    path: &str,
) -> Result<NodeId, ApiError> {
    let id = member_id(id)?;
    let status = node_status(state, path).await?;
    if !status.membership.contains(id) {
        return Err(ApiError::not_found(format!("node {id} is not a member")));
    }
    Ok(id)
}

fn member_id(id: Result<Path<NodeId>, PathRejection>) -> Result<NodeId, ApiError> {
    let Path(id) = id.map_err(|error| ApiError::bad_request(error.body_text()))?;
    if id == 0 {
        return Err(ApiError::bad_request("node ids start at 1"));
    }
    Ok(id)
}

fn checked_address(id: NodeId, peer: &str, client: &str) -> Result<ordo::MemberInfo, ApiError> {
    if id == 0 {
        return Err(ApiError::bad_request("node ids start at 1"));
    }
    if peer.len() > MAX_ADDRESS_BYTES {
        // Not echoed: the answer stays small whatever was sent.
        return Err(ApiError::bad_request(format!(
            "peer_addr is longer than {MAX_ADDRESS_BYTES} bytes"
        )));
    }
    if !is_host_port(peer) {
        return Err(ApiError::bad_request(format!(
            "peer_addr {peer:?} is not HOST:PORT"
        )));
    }
    let client = client_url("client_addr", client)
        .map_err(|error| ApiError::bad_request(error.to_string()))?;
    Ok(ordo::MemberInfo::new(client).with_peer_address(peer))
}
