//! Member addresses on the consensus task: logging them (a new leader's own,
//! a new member's with its change, `RaftNode::set_address`), learning them
//! from the log, and naming the leader's in a redirect. Kept together,
//! unchanged, for the rework of member addresses (issue 12).

use ordo_core::{Index, NodeId, ProposeError, Role};

use crate::runtime::apply::ApplyInput;
use crate::runtime::consensus::Consensus;
use crate::runtime::envelope::{self, Addresses, RuntimeEntry};
use crate::runtime::error::RaftError;
use crate::runtime::shared::Reply;
use crate::runtime::state_machine::StateMachine;

impl<S: StateMachine> Consensus<S> {
    /// A new leader logs its own address when the log does not carry it (a
    /// member of the initial configuration, or one that restarted elsewhere),
    /// so that every node can redirect clients to it, not only those
    /// configured with it.
    pub(super) fn announce_address(&mut self) -> Result<(), RaftError> {
        let address = &self.config.address;
        let is_leader = self.state.soft_state.role == Role::Leader;
        if !is_leader
            || address.is_empty()
            || self.state.logged_own_address.as_ref() == Some(address)
        {
            return Ok(());
        }
        let (id, address) = (self.config.node_id, address.clone());
        self.log_addresses(id, address).map(|_| ())
    }

    /// Notes what the log says about where members are.
    pub(super) fn learn_addresses(&mut self, addresses: Addresses) {
        if let Some(own) = addresses.get(&self.config.node_id) {
            self.state.logged_own_address = Some(own.clone());
        }
        self.shared.learn_addresses(addresses);
    }

    /// `RaftNode::set_address`: logs where member `id` is reached; answered
    /// once that entry is applied here.
    pub(super) fn set_address(
        &mut self,
        id: NodeId,
        address: String,
        reply: Reply<()>,
    ) -> Result<(), RaftError> {
        let refusal = if self.state.soft_state.role != Role::Leader {
            self.not_leader(self.state.soft_state.leader)
        } else if !self.raft.membership().members().contains(&id) {
            RaftError::InvalidMembershipChange(format!("node {id} is not a member"))
        } else {
            match self.log_addresses(id, address)? {
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

    /// The redirect to `leader`, naming it only with an address to go to: a
    /// node that has not yet received the entry carrying a new leader's
    /// address (it is behind) answers as if it knew no leader.
    pub(super) fn not_leader(&self, leader: Option<NodeId>) -> RaftError {
        let leader = leader.and_then(|id| {
            let address = self.shared.address_of(id)?;
            (!address.is_empty()).then_some((id, address))
        });
        RaftError::NotLeader { leader }
    }

    /// Proposes the addresses of every member of the configuration now in
    /// force, `id`'s being `address`. The entry's index and term, if the
    /// core took it.
    pub(super) fn log_addresses(
        &mut self,
        id: NodeId,
        address: String,
    ) -> Result<Option<(Index, ordo_core::Term)>, RaftError> {
        let mut addresses = Addresses::new();
        for member in self.raft.membership().members() {
            if let Some(known) = self.shared.address_of(member).filter(|a| !a.is_empty()) {
                addresses.insert(member, known);
            }
        }
        addresses.insert(id, address);
        let entry = envelope::seal_runtime(&RuntimeEntry::Addresses(addresses.clone()))
            .map_err(|error| RaftError::Fatal(format!("cannot encode addresses: {error}")))?;
        match self.raft.propose([entry]) {
            Ok(proposal) => {
                // Known here from now on, so that a second change in the same
                // round builds on this one instead of logging the old value.
                self.learn_addresses(addresses);
                Ok(Some((proposal.last_index, proposal.term)))
            }
            Err(ProposeError::Fatal(error)) => Err(error.into()),
            Err(refused) => {
                // Only this node knows the address until the next change,
                // election or `set_address` that carries it.
                let node_id = self.config.node_id;
                tracing::warn!(node_id, id, %refused, "a member's address was not logged");
                Ok(None)
            }
        }
    }
}
