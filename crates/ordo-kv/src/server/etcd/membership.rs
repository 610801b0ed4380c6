//! Membership changes through `etcdserverpb.Cluster` (MemberAdd,
//! MemberRemove, MemberUpdate, MemberPromote), on the node's own
//! membership operations (those `/v1/cluster/members` uses too).
//!
//! Each runs on the leader; a follower forwards the call (`cluster.rs`).
//! What differs from etcd, on purpose:
//! - etcd picks a random member id; here a new member gets the lowest id
//!   above every current member's, so `ordo serve --id` stays short.
//! - A member has one peer address: more than one peer URL is refused.
//! - A voter is added as a learner and promoted by the leader once it has
//!   caught up (in the background, for at most [`PROMOTION_PATIENCE`]), so
//!   a member that is not started yet never counts toward the quorum. Until
//!   then it is listed as a learner; if the leader changes first, it stays
//!   one (promote it with MemberPromote).

use std::time::{Duration, Instant};

use ordo::{NodeId, NodeStatus, RaftError, Role};
use tonic::Status;

use crate::server::etcd::EtcdService;
use crate::server::etcd::failure::Failure;
use crate::server::etcd::pb::etcdserverpb as pb;
use crate::server::settings::is_host_port;

/// etcd's message for a member id that names no member.
pub(crate) const MEMBER_NOT_FOUND: &str = "etcdserver: member not found";
/// etcd's message for a peer URL another member has.
pub(crate) const PEER_URL_EXISTS: &str = "etcdserver: Peer URLs already exists";
/// etcd's message for peer URLs it cannot use.
pub(crate) const BAD_PEER_URLS: &str = "etcdserver: given member URLs are invalid";
/// etcd's message for promoting a voter.
pub(crate) const NOT_A_LEARNER: &str = "etcdserver: can only promote a learner member";
/// etcd's message for promoting a learner that lags behind.
pub(crate) const LEARNER_NOT_READY: &str =
    "etcdserver: can only promote a learner member which is in sync with leader";

/// How long the leader keeps trying to promote a member added as a voter.
pub(crate) const PROMOTION_PATIENCE: Duration = Duration::from_secs(300);

/// A learner is in sync once it holds this share (in percent) of what the
/// leader has committed (etcd's rule: 90%).
const IN_SYNC_PERCENT: u64 = 90;

impl EtcdService {
    /// The node's status, as long as it leads; else where to forward.
    async fn leading_status(&self) -> Result<NodeStatus, Failure> {
        let status = self.state.node.status().await?;
        if status.role == Role::Leader {
            return Ok(status);
        }
        let leader = status.leader.and_then(|id| {
            let address = self.state.node.member_infos().remove(&id)?.address;
            Some((id, address))
        });
        Err(RaftError::NotLeader { leader }.into())
    }

    /// Adds a member at `request`'s one peer URL; answers it.
    pub(crate) async fn add_member_here(
        &self,
        request: &pb::MemberAddRequest,
    ) -> Result<pb::Member, Failure> {
        let peer = one_peer_address(&request.peer_ur_ls)?;
        let status = self.leading_status().await?;
        let infos = self.state.node.member_infos();
        let taken = status.membership.members().into_iter().any(|id| {
            infos
                .get(&id)
                .is_some_and(|info| info.peer_address.as_deref() == Some(peer.as_str()))
        });
        if taken {
            return Err(Status::failed_precondition(PEER_URL_EXISTS).into());
        }
        let id = next_member_id(&status);
        let info = ordo::MemberInfo::default().with_peer_address(peer.clone());
        self.state.node.add_learner(id, info).await?;
        if !request.is_learner {
            self.promote_when_caught_up(id);
        }
        Ok(pb::Member {
            id,
            name: format!("node-{id}"),
            peer_ur_ls: vec![format!("http://{peer}")],
            client_ur_ls: Vec::new(),
            is_learner: request.is_learner,
        })
    }

    /// Promotes learner `id` once it has caught up, in the background.
    fn promote_when_caught_up(&self, id: NodeId) {
        let node = self.state.node.clone();
        tokio::spawn(async move {
            let deadline = Instant::now() + PROMOTION_PATIENCE;
            while Instant::now() < deadline {
                // `add_node` waits for the catch-up (up to the proposal
                // timeout), then promotes.
                match node.add_node(id, ordo::MemberInfo::default()).await {
                    Ok(()) => return,
                    Err(RaftError::Timeout | RaftError::Busy { .. }) => {}
                    Err(error) => {
                        tracing::warn!(id, %error, "a member added as a voter stays a learner");
                        return;
                    }
                }
            }
            tracing::warn!(
                id,
                "a member added as a voter did not catch up; it stays a learner"
            );
        });
    }

    /// Removes member `id`.
    pub(crate) async fn remove_member_here(&self, id: NodeId) -> Result<(), Failure> {
        let status = self.leading_status().await?;
        if !status.membership.contains(id) {
            return Err(Status::not_found(MEMBER_NOT_FOUND).into());
        }
        self.state.node.remove_node(id).await?;
        Ok(())
    }

    /// Sets member `id`'s peer address to `request`'s one peer URL.
    pub(crate) async fn update_member_here(
        &self,
        request: &pb::MemberUpdateRequest,
    ) -> Result<(), Failure> {
        let peer = one_peer_address(&request.peer_ur_ls)?;
        let status = self.leading_status().await?;
        if !status.membership.contains(request.id) {
            return Err(Status::not_found(MEMBER_NOT_FOUND).into());
        }
        let info = ordo::MemberInfo::default().with_peer_address(peer);
        self.state.node.update_member_info(request.id, info).await?;
        Ok(())
    }

    /// Makes learner `id` a voter, if it is in sync with the leader.
    pub(crate) async fn promote_member_here(&self, id: NodeId) -> Result<(), Failure> {
        let status = self.leading_status().await?;
        if !status.membership.contains(id) {
            return Err(Status::not_found(MEMBER_NOT_FOUND).into());
        }
        if status.membership.is_voter(id) {
            return Err(Status::failed_precondition(NOT_A_LEARNER).into());
        }
        let matched = status.peers.get(&id).map_or(0, |peer| peer.match_index);
        if !in_sync(matched, status.commit_index) {
            return Err(Status::failed_precondition(LEARNER_NOT_READY).into());
        }
        match self
            .state
            .node
            .add_node(id, ordo::MemberInfo::default())
            .await
        {
            Err(RaftError::Timeout) => Err(Status::failed_precondition(LEARNER_NOT_READY).into()),
            other => Ok(other?),
        }
    }
}

/// The lowest id above every current member's.
fn next_member_id(status: &NodeStatus) -> NodeId {
    let highest = status.membership.members().into_iter().max().unwrap_or(0);
    highest
        .checked_add(1)
        .unwrap_or_else(|| panic!("member ids reached u64::MAX; none is left to give"))
}

/// Whether a learner holding the log up to `matched` is close enough to
/// `committed` to vote.
fn in_sync(matched: u64, committed: u64) -> bool {
    u128::from(matched) * 100 >= u128::from(committed) * u128::from(IN_SYNC_PERCENT) && matched > 0
}

/// The `HOST:PORT` of the one peer URL in `urls`.
fn one_peer_address(urls: &[String]) -> Result<String, Status> {
    let [url] = urls else {
        return Err(Status::invalid_argument(format!(
            "{BAD_PEER_URLS} (an ordo member has exactly one peer URL, got {})",
            urls.len()
        )));
    };
    let address = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or(url)
        .trim_end_matches('/');
    if !is_host_port(address) {
        return Err(Status::invalid_argument(BAD_PEER_URLS));
    }
    Ok(address.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_url_is_its_host_and_port_and_only_one_is_taken() {
        let one = |url: &str| one_peer_address(&[url.to_owned()]);
        assert_eq!(
            one("http://10.0.0.4:2380").ok().as_deref(),
            Some("10.0.0.4:2380")
        );
        assert_eq!(one("https://n4:2380/").ok().as_deref(), Some("n4:2380"));
        assert_eq!(
            one("http://n4").map_err(|s| s.code()),
            Err(tonic::Code::InvalidArgument)
        );
        let two = one_peer_address(&["http://a:1".to_owned(), "http://b:1".to_owned()]);
        assert!(two.is_err());
        assert!(one_peer_address(&[]).is_err());
    }

    #[test]
    fn a_learner_is_in_sync_at_ninety_percent_of_the_commit_index() {
        assert!(in_sync(90, 100));
        assert!(!in_sync(89, 100));
        assert!(
            !in_sync(0, 0),
            "a learner that never answered is not in sync"
        );
        assert!(in_sync(u64::MAX, u64::MAX));
    }
}
