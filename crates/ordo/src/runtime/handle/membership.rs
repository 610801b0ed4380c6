//! Membership changes through a [`RaftNode`]: adding learners and voters
//! (a new voter catches up as a learner first), removing members, and what
//! the group knows of its members ([`MemberInfo`]; see `addresses.rs`).

use std::time::{Duration, Instant};

use ordo_core::{MembershipChange, NodeId, Role};
use tokio::sync::oneshot;

use crate::runtime::addresses::MemberInfo;
use crate::runtime::consensus::Request;
use crate::runtime::error::RaftError;
use crate::runtime::handle::{RaftNode, send, wait};
use crate::runtime::state_machine::StateMachine;
use crate::runtime::status::NodeStatus;

/// How often a catch-up is checked.
const CATCH_UP_POLL: Duration = Duration::from_millis(10);

impl<S: StateMachine> RaftNode<S> {
    /// Adds `id` as a learner: it receives the log but does not vote.
    /// `info` says where clients reach it (a plain `&str` or `String` is its
    /// client address) and, with [`MemberInfo::peer_address`], where peers
    /// dial it: it goes through the log with the change, so every node can
    /// redirect to `id` once it leads, and every node's transport learns where
    /// it is once the change is applied there. What `info` leaves empty keeps
    /// what the group knew. Start the new node first, with
    /// [`RaftConfig::joining`](crate::RaftConfig::joining) set. Returns once
    /// the change is committed and applied here.
    ///
    /// # Errors
    /// As [`change_membership`](Self::change_membership).
    pub async fn add_learner(
        &self,
        id: NodeId,
        info: impl Into<MemberInfo>,
    ) -> Result<(), RaftError> {
        let change = MembershipChange::AddLearner(id);
        self.change(change, Some((id, info.into()))).await
    }

    /// Makes `id` a voter. With
    /// [`RaftConfig::promote_after_catch_up`](crate::RaftConfig::promote_after_catch_up)
    /// (the default), a node that is not yet a learner is added as one first, and
    /// promoted only once it has caught up with the log (see
    /// [`wait_caught_up`](Self::wait_caught_up)), so a new voter never leaves
    /// the group short of a quorum while it copies the log. `info` as in
    /// [`add_learner`](Self::add_learner). Call it on the leader.
    ///
    /// # Errors
    /// As [`change_membership`](Self::change_membership);
    /// [`RaftError::Timeout`] if `id` did not catch up within
    /// [`RaftConfig::propose_timeout`](crate::RaftConfig::propose_timeout)
    /// (it stays a learner: call again).
    pub async fn add_node(&self, id: NodeId, info: impl Into<MemberInfo>) -> Result<(), RaftError> {
        let info = info.into();
        if self.inner.config.promote_after_catch_up {
            let membership = self.status().await?.membership;
            if !membership.is_voter(id) {
                if !membership.learners.contains(&id) {
                    self.add_learner(id, info.clone()).await?;
                }
                self.wait_caught_up(id).await?;
            }
        }
        let change = MembershipChange::AddVoter(id);
        self.change(change, Some((id, info))).await
    }

    /// Waits until the learner `id` has caught up, in rounds (Raft
    /// dissertation §4.2.1): each round waits until `id` holds everything
    /// committed when the round began; once a round takes less than the
    /// minimum election timeout, what is left to copy is small enough to
    /// promote it. Call it on the leader.
    ///
    /// # Errors
    /// [`RaftError::Timeout`] after
    /// [`RaftConfig::propose_timeout`](crate::RaftConfig::propose_timeout);
    /// [`RaftError::NotLeader`] if this node stops leading;
    /// [`RaftError::ShuttingDown`], [`RaftError::NotStarted`].
    pub async fn wait_caught_up(&self, id: NodeId) -> Result<(), RaftError> {
        let config = &self.inner.config;
        let deadline = Instant::now() + config.propose_timeout;
        loop {
            let round_started = Instant::now();
            let target = self.leader_status().await?.commit_index;
            loop {
                let status = self.leader_status().await?;
                if status
                    .peers
                    .get(&id)
                    .is_some_and(|p| p.match_index >= target)
                {
                    break;
                }
                if Instant::now() >= deadline {
                    return Err(RaftError::Timeout);
                }
                tokio::time::sleep(CATCH_UP_POLL).await;
            }
            if round_started.elapsed() < config.election_timeout_min {
                return Ok(());
            }
        }
    }

    /// The status, as long as this node leads.
    async fn leader_status(&self) -> Result<NodeStatus, RaftError> {
        let status = self.status().await?;
        if status.role == Role::Leader {
            return Ok(status);
        }
        let leader = status
            .leader
            .and_then(|id| Some((id, self.inner.shared.client_address(id)?)));
        Err(RaftError::NotLeader { leader })
    }

    /// Removes `id`, voter or learner, from the group. A leader removing
    /// itself steps down once the change commits.
    ///
    /// # Errors
    /// As [`change_membership`](Self::change_membership).
    pub async fn remove_node(&self, id: NodeId) -> Result<(), RaftError> {
        self.change_membership(MembershipChange::Remove(id)).await
    }

    /// Changes the membership (on the leader): one voter at a time directly,
    /// several through joint consensus (which the leader finishes by itself
    /// once the joint configuration commits). Returns once the change's entry
    /// is committed and applied on this node. It carries no [`MemberInfo`]:
    /// add new members with [`add_learner`](Self::add_learner) first (which
    /// logs theirs), or give their transport addresses some other way, or
    /// the group cannot reach them.
    ///
    /// # Errors
    /// [`RaftError::NotLeader`]; [`RaftError::Busy`] while another change is
    /// in progress or a new leader is not ready (retry shortly);
    /// [`RaftError::InvalidMembershipChange`]; [`RaftError::ProposalDropped`]
    /// if a leader change dropped it; [`RaftError::TransferInProgress`],
    /// [`RaftError::Timeout`], [`RaftError::ShuttingDown`],
    /// [`RaftError::NotStarted`].
    pub async fn change_membership(&self, change: MembershipChange) -> Result<(), RaftError> {
        self.change(change, None).await
    }

    async fn change(
        &self,
        change: MembershipChange,
        info: Option<(NodeId, MemberInfo)>,
    ) -> Result<(), RaftError> {
        let running = self.running()?;
        let (reply, answer) = oneshot::channel();
        let request = Request::ChangeMembership {
            change,
            info,
            reply,
        };
        send(&running.requests, request)?;
        wait(answer, self.inner.config.propose_timeout).await
    }

    /// Records an update of what the group knows of member `id` (it
    /// restarted somewhere else, joined the initial configuration without a
    /// client address, or the application changed its labels), merged into
    /// what was known as [`MemberInfo::updated_by`] says: what `info` leaves
    /// empty is kept, a label set to `""` is removed. It goes through the log
    /// like the information given to [`add_learner`](Self::add_learner):
    /// every transport dials `id` at a new peer address as soon as the entry
    /// is appended, and every node reports it and redirects to it once it
    /// has applied the entry. Call it on the leader; returns once the entry
    /// is applied here. A new leader logs its own
    /// ([`RaftConfig::address`](crate::RaftConfig::address),
    /// [`peer_address`](crate::RaftConfig::peer_address),
    /// [`labels`](crate::RaftConfig::labels)) by itself when the log does not
    /// say so already.
    ///
    /// # Errors
    /// [`RaftError::NotLeader`] on a follower;
    /// [`RaftError::InvalidMembershipChange`] if `id` is not a member;
    /// [`RaftError::Busy`] if the leader refused the entry (retry);
    /// [`RaftError::Timeout`] or [`RaftError::ShuttingDown`] as for a proposal.
    pub async fn update_member_info(&self, id: NodeId, info: MemberInfo) -> Result<(), RaftError> {
        let running = self.running()?;
        let (reply, answer) = oneshot::channel();
        let request = Request::UpdateMemberInfo { id, info, reply };
        send(&running.requests, request)?;
        wait(answer, self.inner.config.propose_timeout).await
    }

    /// What the group knows of every node, as far as this node can tell, by
    /// id: the configured peers ([`RaftConfig::peers`](crate::RaftConfig::peers)),
    /// overlaid with what the log says as far as this node has **applied** it
    /// (whichever node a member was added through; snapshots carry it past
    /// log compaction). An entry that is appended but later truncated never
    /// shows here. This node's own entry is only what the log says of it
    /// (absent until a leader logged it), so an application can tell whether
    /// the group knows where it is. The logged part is the same on every
    /// node that applied as far; configured peers are each node's own.
    /// [`RaftError::NotLeader`] redirects to the [`MemberInfo::address`]
    /// found here.
    pub fn member_infos(&self) -> std::collections::BTreeMap<NodeId, MemberInfo> {
        self.inner.shared.directory().all()
    }

    /// [`member_infos`](Self::member_infos), with what this node's log says
    /// after what it has applied merged in: entries a leader may yet replace.
    /// This is where the transport dials. Only for finding members (say, a
    /// node restarted at a new address, which no leader can reach, telling
    /// the others where it is); never to redirect clients.
    pub fn member_hints(&self) -> std::collections::BTreeMap<NodeId, MemberInfo> {
        self.inner.shared.directory().hinted()
    }
}
