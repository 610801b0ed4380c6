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
use crate::runtime::consensus::{Consensus, OwedInfo};
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
        if configured.is_empty() || self.log_says_already(own, &configured) {
            return Ok(());
        }
        self.log_member_info(own, configured).map(|_| ())
    }

    /// True if this leader's log, as appended, already says `update` of `id`:
    /// what it holds is what every node will apply (a leader never loses
    /// its own entries), so an entry saying it again would change nothing.
    /// Not the applied view: an unapplied entry may still change it.
    fn log_says_already(&self, id: NodeId, update: &MemberInfo) -> bool {
        let appended = self.shared.directory().appended_info(id);
        let appended = appended.unwrap_or_default();
        appended.updated_by(update) == appended
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

    /// Logs `info` for a member whose configuration entry is at
    /// `change_index`, unless the log says so already. If the core refuses
    /// the entry (its backlog is full: the configuration entry is exempt
    /// from that limit, the information is not), the transport dials the
    /// member anyway, by the configuration entry's index, and the entry is
    /// owed: proposed again each round while this node leads. Otherwise a
    /// voter added to a group of one could never be reached, so never
    /// commit, so never free the backlog.
    pub(super) fn log_added_member(
        &mut self,
        change_index: Index,
        id: NodeId,
        info: MemberInfo,
    ) -> Result<(), RaftError> {
        if info.is_empty() || self.log_says_already(id, &info) {
            return Ok(());
        }
        if self.log_member_info(id, info.clone())?.is_none() {
            let node_id = self.config.node_id;
            tracing::warn!(
                node_id,
                id,
                "a new member's information waits for room in the log"
            );
            self.state.owed_member_info.push(OwedInfo {
                change_index,
                id,
                info,
                expected: false,
            });
        }
        Ok(())
    }

    /// Proposes the member information owed (see `log_added_member`), while
    /// this node leads; a new leader does not owe it (the member's own
    /// report, or the application, logs it again).
    pub(super) fn pay_owed_member_info(&mut self) -> Result<(), RaftError> {
        if self.state.owed_member_info.is_empty() {
            return Ok(());
        }
        if self.state.soft_state.role != Role::Leader {
            self.state.owed_member_info.clear();
            return Ok(());
        }
        let members = self.raft.membership().members();
        let mut owed = std::mem::take(&mut self.state.owed_member_info).into_iter();
        while let Some(debt) = owed.next() {
            // A change truncated or undone since: nothing is owed.
            if !members.contains(&debt.id) {
                continue;
            }
            if self.log_member_info(debt.id, debt.info.clone())?.is_none() {
                // Still refused: keep it and the rest, in order.
                self.state.owed_member_info.push(debt);
                self.state.owed_member_info.extend(owed);
                break;
            }
        }
        Ok(())
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
                let node_id = self.config.node_id;
                tracing::debug!(node_id, id, %refused, "a member's information was not logged");
                Ok(None)
            }
        }
    }

    /// `entries` are being written (replacing any from their first index
    /// on): the appended view follows. One byte compared per entry, and no
    /// write lock, in the common case of entries that carry no member
    /// information over a log with none pending.
    pub(super) fn note_appended_members(&mut self, entries: &[Entry]) {
        let Some(first) = entries.first().map(|entry| entry.index) else {
            return;
        };
        let changes = envelope::members_in(entries);
        let owed = self
            .state
            .owed_member_info
            .iter()
            .any(|debt| !debt.expected);
        let quiet = || {
            !self.shared.directory_has_pending()
                || self.shared.directory().unaffected_by_append(first)
        };
        if changes.is_empty() && !owed && quiet() {
            return;
        }
        let mut directory = self.shared.directory_mut();
        directory.appended(first, changes);
        // A configuration entry written without its member's information
        // (refused): dial by what the change asked for until it applies.
        for debt in &mut self.state.owed_member_info {
            if !debt.expected {
                debt.expected = true;
                let owed = BTreeMap::from([(debt.id, debt.info.clone())]);
                directory.expect(debt.change_index, owed);
            }
        }
    }

    /// Entries through `applied` are applied: the applied view has them.
    pub(super) fn note_applied_members(&self, applied: Index) {
        if self.shared.directory_has_pending() {
            self.shared.directory_mut().applied_through(applied);
        }
    }

    /// Tells the transport what changed in the member directory (and drops
    /// departed members whose grace passed), and subscribers when what this
    /// node reports changed. Cheap when nothing changed: two atomic loads and
    /// three comparisons, no lock. The transport is called with the lock
    /// released, so a transport may read the directory itself.
    pub(super) fn sync_members(&mut self) {
        let now = self.state.ticks();
        let (version, applied_version) = self.shared.directory_versions();
        if self.peers.is_quiet(version, applied_version) {
            return;
        }
        let (update, reported) = {
            let directory = self.shared.directory();
            let update = self.peers.wants(directory.version()).then(|| {
                (
                    directory.version(),
                    directory.peer_table(self.config.node_id),
                )
            });
            let reported = self
                .peers
                .reports(directory.applied_version())
                .then(|| directory.all());
            (update, reported)
        };
        if let Some((version, table)) = update {
            self.peers
                .update(version, &table, self.transport.as_ref(), now);
        }
        self.peers.expire(self.transport.as_ref(), now);
        if let Some(members) = reported {
            self.events.send(Event::MemberInfoChanged { members });
        }
    }
}
