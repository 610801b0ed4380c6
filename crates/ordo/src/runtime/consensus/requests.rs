//! Requests from the handles: the message type and its dispatch. Proposals
//! do not come this way (see `proposals.rs`), nor do stale reads (they go
//! to the apply stage directly).

use std::sync::atomic::Ordering;

use ordo_core::{ChangeError, Index, MembershipChange, NodeId, ReadMode, TransferError};
use tokio::sync::oneshot;

use crate::runtime::addresses::MemberInfo;
use crate::runtime::apply::{ApplyInput, ReadWork};
use crate::runtime::consensus::Consensus;
use crate::runtime::error::RaftError;
use crate::runtime::shared::Reply;
use crate::runtime::state_machine::StateMachine;
use crate::runtime::status::NodeStatus;

/// A request from a [`RaftNode`](crate::RaftNode) handle to the consensus task.
pub(crate) enum Request<S: StateMachine> {
    /// Confirm a read, then do its work once applied far enough.
    Read { work: ReadWork<S>, mode: ReadMode },
    /// Report the node's status.
    Status { reply: oneshot::Sender<NodeStatus> },
    /// Hand leadership to `target`.
    TransferLeadership {
        target: ordo_core::NodeId,
        reply: Reply<()>,
    },
    /// Start an election now.
    Campaign { reply: Reply<()> },
    /// Make sure a durable snapshot covers `covering` (`None`: what is
    /// applied now, always by a new one); answer with its index.
    Snapshot {
        covering: Option<Index>,
        reply: Reply<Index>,
    },
    /// Change the membership; answer once the change's entry is applied
    /// here. `info`: a new member's, to log with the change.
    ChangeMembership {
        change: ordo_core::MembershipChange,
        info: Option<(ordo_core::NodeId, MemberInfo)>,
        reply: Reply<()>,
    },
    /// Log an update of what member `id` is; answer once applied here.
    UpdateMemberInfo {
        id: ordo_core::NodeId,
        info: MemberInfo,
        reply: Reply<()>,
    },
}

impl<S: StateMachine> Consensus<S> {
    pub(super) fn on_request(&mut self, request: Request<S>) -> Result<(), RaftError> {
        match request {
            Request::Read { work, mode } => self.read(work, mode)?,
            Request::Status { reply } => {
                let _ = reply.send(self.status());
            }
            Request::TransferLeadership { target, reply } => {
                let result = match self.raft.transfer_leadership(target) {
                    Ok(()) => Ok(()),
                    Err(TransferError::NotLeader { leader }) => Err(self.not_leader(leader)),
                    Err(TransferError::NotAVoter { target }) => Err(RaftError::NotAVoter(target)),
                    Err(TransferError::Fatal(error)) => return Err(error.into()),
                };
                let _ = reply.send(result);
            }
            Request::Snapshot { covering, reply } => self.request_snapshot(covering, reply),
            Request::Campaign { reply } => {
                self.raft.campaign()?;
                let _ = reply.send(Ok(()));
            }
            Request::ChangeMembership {
                change,
                info,
                reply,
            } => {
                self.change_membership(change, info, reply)?;
            }
            Request::UpdateMemberInfo { id, info, reply } => {
                self.update_member_info(id, info, reply)?;
            }
        }
        Ok(())
    }

    /// Appends the configuration entry and, right behind it in the same
    /// append, the new member's information (see `runtime/addresses.rs`).
    /// It goes only with a change the core accepted, so a refused change
    /// leaves nothing in the log.
    pub(super) fn change_membership(
        &mut self,
        change: MembershipChange,
        info: Option<(NodeId, MemberInfo)>,
        reply: Reply<()>,
    ) -> Result<(), RaftError> {
        let refusal = match self.raft.change_membership(change) {
            Ok(proposal) => {
                if let Some((id, info)) = info {
                    self.log_added_member(proposal.last_index, id, info)?;
                }
                return self.to_apply(ApplyInput::RegisterChange {
                    index: proposal.last_index,
                    term: proposal.term,
                    reply,
                });
            }
            Err(ChangeError::NotLeader { leader }) => self.not_leader(leader),
            Err(ChangeError::ChangeInProgress) => RaftError::Busy {
                reason: "a membership change is in progress",
            },
            Err(ChangeError::LeaderNotReady) => RaftError::Busy {
                reason: "the new leader has not committed an entry of its term",
            },
            Err(ChangeError::TransferInProgress { target }) => {
                RaftError::TransferInProgress { target }
            }
            Err(ChangeError::Invalid(reason)) => RaftError::InvalidMembershipChange(reason),
            Err(ChangeError::Fatal(error)) => return Err(error.into()),
        };
        let _ = reply.send(Err(refusal));
        Ok(())
    }

    pub(super) fn status(&self) -> NodeStatus {
        let status = self.raft.status();
        NodeStatus {
            id: status.id,
            role: status.role,
            term: status.term,
            leader: status.leader,
            last_log_index: status.last_index,
            durable_index: status.durable_index,
            commit_index: status.commit_index,
            applied_index: self.state.applied_index,
            // The core also tracks departed members while it tells them
            // of their removal (`raft/removal.rs`); they are not members.
            peers: status
                .progress
                .into_iter()
                .filter(|(id, _)| self.raft.membership().contains(*id))
                .collect(),
            membership: self.raft.membership().clone(),
            pending_proposals: self.shared.pending_proposals.load(Ordering::Relaxed),
            pending_reads: self.shared.pending_reads.load(Ordering::Relaxed),
            backlog_bytes: self.state.backlog_bytes,
            rejected_messages: self.state.rejected_messages + status.protocol_violations,
            shed_appends: self.state.shed_appends,
            snapshot_failures: self.shared.snapshot_failures.load(Ordering::Relaxed),
            repair_point: status.repair_point,
            removed: status.removed,
            metrics: self.state.observed.metrics,
        }
    }
}

pub(super) fn refuse<S: StateMachine>(request: Request<S>, error: &RaftError) {
    match request {
        Request::Read { work, .. } => work.fail(error.clone()),
        Request::TransferLeadership { reply, .. }
        | Request::Campaign { reply }
        | Request::ChangeMembership { reply, .. }
        | Request::UpdateMemberInfo { reply, .. } => {
            let _ = reply.send(Err(error.clone()));
        }
        Request::Snapshot { reply, .. } => {
            let _ = reply.send(Err(error.clone()));
        }
        Request::Status { .. } => {}
    }
}
