//! Member information on the consensus task: logging it (a new leader's
//! own, a new member's with its change, `RaftNode::update_member_info`),
//! recording what appended entries carry for the transport (the appended
//! view), naming the leader's client address in a redirect, and keeping the
//! transport's peers in step with the directory (see `runtime/addresses.rs`
//! for the invariants).

use std::collections::BTreeMap;

use ordo_core::{Entry, Index, NodeId, ProposeError, Role, Term};

use crate::runtime::addresses::MemberInfo;
use crate::runtime::apply::ApplyInput;
use crate::runtime::consensus::Consensus;
use crate::runtime::envelope;
use crate::runtime::error::RaftError;
use crate::runtime::event::Event;
use crate::runtime::shared::Reply;
use crate::runtime::state_machine::StateMachine;

impl<S: StateMachine> Consensus<S> {
    /// A new leader logs what its configuration says of itself (addresses,
    /// labels) when the applied log says otherwise (a member of the initial
    /// configuration, or one that restarted elsewhere), so that every node
    /// can redirect clients to it and dial it, not only those configured
    /// with it. Once per term won. The entry carries only the configured
    /// fields and is merged where applied: built from a view that may lag,
    /// it can at worst repeat what the log already says.
    pub(super) fn announce_own_info(&mut self) -> Result<(), RaftError> {
        if self.state.soft_state.role != Role::Leader {
            return Ok(());
        }
        let own = self.config.node_id;
        let configured = self.config.own_info();
        let logged = self.shared.directory().logged(own).cloned();
        let logged = logged.unwrap_or_default();
        if configured.is_empty() || logged.updated_by(&configured) == logged {
            return Ok(());
        }
        self.log_member_info(own, configured).map(|_| ())
    }

    /// `RaftNode::update_member_info`: logs an update of what member `id`
    /// is; answered once that entry is applied here.
    pub(super) fn update_member_info(
        &mut self,
        id: NodeId,
        info: MemberInfo,
        reply: Reply<()>,
    ) -> Result<(), RaftError> {
        let refusal = if self.state.soft_state.role != Role::Leader {
            self.not_leader(self.state.soft_state.leader)
        } else if !self.raft.membership().members().contains(&id) {
            RaftError::InvalidMembershipChange(format!("node {id} is not a member"))
        } else {
            match self.log_member_info(id, info)? {
                Some((index, term)) => {
                    return self.to_apply(ApplyInput::RegisterChange { index, term, reply });
                }
                None => RaftError::Busy {
                    reason: "the leader refused the entry",
                },
            }
        };
        let _ = reply.send(Err(refusal));
        Ok(())
    }

    /// Logs `info` for a member being added, unless it says nothing new.
    pub(super) fn log_added_member(
        &mut self,
        id: NodeId,
        info: MemberInfo,
    ) -> Result<(), RaftError> {
        let logged = self.shared.directory().logged(id).cloned();
        let logged = logged.unwrap_or_default();
        if info.is_empty() || logged.updated_by(&info) == logged {
            return Ok(());
        }
        self.log_member_info(id, info).map(|_| ())
    }

    /// The redirect to `leader`, naming it only with an address to go to: a
    /// node that has not yet applied the entry carrying a new leader's
    /// address (it is behind) answers as if it knew no leader.
    pub(super) fn not_leader(&self, leader: Option<NodeId>) -> RaftError {
        let leader = leader.and_then(|id| Some((id, self.shared.client_address(id)?)));
        RaftError::NotLeader { leader }
    }

    /// Proposes an entry updating what member `id` is. The entry's index and
    /// term, if the core took it. Every node, this one included, dials by it
    /// once appended and reports it once applied.
    fn log_member_info(
        &mut self,
        id: NodeId,
        info: MemberInfo,
    ) -> Result<Option<(Index, Term)>, RaftError> {
        let members = BTreeMap::from([(id, info)]);
        let entry = envelope::seal_members(&members).map_err(|error| {
            RaftError::Fatal(format!("cannot encode member information: {error}"))
        })?;
        match self.raft.propose([entry]) {
            Ok(proposal) => Ok(Some((proposal.last_index, proposal.term))),
            Err(ProposeError::Fatal(error)) => Err(error.into()),
            Err(refused) => {
                // Only this node knows it until the next change, election or
                // `update_member_info` that carries it.
                let node_id = self.config.node_id;
                tracing::warn!(node_id, id, %refused, "a member's information was not logged");
                Ok(None)
            }
        }
    }

    /// `entries` are being written (replacing any from their first index
    /// on): the appended view follows. One byte compared per entry, and no
    /// write lock, in the common case of entries that carry no member
    /// information over a log with none pending.
    pub(super) fn note_appended_members(&self, entries: &[Entry]) {
        let Some(first) = entries.first().map(|entry| entry.index) else {
            return;
        };
        let changes = envelope::members_in(entries);
        if changes.is_empty() && self.shared.directory().unaffected_by_append(first) {
            return;
        }
        self.shared.directory_mut().appended(first, changes);
    }

    /// Entries through `applied` are applied: the applied view has them.
    pub(super) fn note_applied_members(&self, applied: Index) {
        if self.shared.directory().has_pending() {
            self.shared.directory_mut().applied_through(applied);
        }
    }

    /// Tells the transport what changed in the member directory (and drops
    /// departed members whose grace passed), and subscribers what is known
    /// now. Cheap when nothing changed: one read lock, one comparison.
    pub(super) fn sync_members(&mut self) {
        let now = self.state.ticks();
        let changed = {
            let directory = self.shared.directory();
            self.peers
                .sync(&directory, self.transport.as_ref(), now)
                .then(|| directory.all())
        };
        if let Some(members) = changed {
            self.events.send(Event::MemberInfoChanged { members });
        }
    }
}
