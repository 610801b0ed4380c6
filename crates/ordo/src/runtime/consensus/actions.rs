//! Carrying out the core's actions: one fan-out per round to the transport,
//! the persistence thread (or an inline write), the apply stage, the
//! snapshot thread and the event stream, in the order the core's contract
//! requires (entries before the snapshot installed after them).

use ordo_core::{Actions, Persist, Role, SoftState};

use crate::runtime::apply::ApplyInput;
use crate::runtime::consensus::Consensus;
use crate::runtime::error::RaftError;
use crate::runtime::event::Event;
use crate::runtime::persist::PersistJob;
use crate::runtime::snapshot_io::SnapshotJob;
use crate::runtime::state_machine::StateMachine;

impl<S: StateMachine> Consensus<S> {
    /// Takes the core's actions and carries them out. A write made inline
    /// (a store that never blocks) is reported durable at once, which can
    /// release more actions (held acknowledgements, commits): take again.
    pub(super) fn carry_out_actions(&mut self) -> Result<(), RaftError> {
        loop {
            let actions = self.raft.take_actions()?;
            if actions.is_empty() {
                return Ok(());
            }
            let persisted_inline = self.carry_out(actions)?;
            if !persisted_inline {
                return Ok(());
            }
        }
    }

    /// Carries out one batch of actions; true if its write was made inline.
    pub(super) fn carry_out(&mut self, actions: Actions) -> Result<bool, RaftError> {
        let Actions {
            persist,
            messages,
            apply,
            soft_state,
            membership,
            build_snapshot,
            compact_log_through,
            snapshot_reads,
            snapshot_writes,
            install_snapshot,
            reads,
            failed_reads,
            // Proposals whose entries left this log are not answered from
            // here: another node may still commit them (see `apply/waiters.rs`).
            truncated_from: _,
            events,
        } = actions;
        if !events.is_empty() {
            self.on_core_events(events);
        }
        if let Some(soft_state) = soft_state {
            self.on_soft_state(soft_state);
        }
        if let Some(membership) = membership {
            // The transport's peers follow the configuration the core uses;
            // a member whose addition was truncated is dropped at once.
            let left = self
                .shared
                .directory_mut()
                .set_members(membership.members());
            let raft = &self.raft;
            self.peers.forget_at_once(
                left.into_iter()
                    .filter(|&id| !raft.in_any_configuration(id)),
            );
            self.events.send(Event::MembershipChanged { membership });
        }
        if build_snapshot.is_some() {
            self.to_apply(ApplyInput::BuildSnapshot)?;
        }
        // Before the messages: the first append to a member being added, or
        // one that just moved, goes to where the entries being written say.
        if let Some(persist) = &persist {
            self.note_appended_members(&persist.entries);
        }
        self.sync_members();
        for message in messages {
            self.transport.send(message);
        }
        let persisted_inline = match persist {
            Some(persist) => self.persist(persist)?,
            None => false,
        };
        if let Some(through) = compact_log_through {
            self.compact(through)?;
        }
        for read in snapshot_reads {
            match &self.latest_snapshot {
                Some(meta) if meta.index == read.snapshot_index => {
                    let term = meta.term;
                    self.to_snapshot_thread(SnapshotJob::Read(read, term));
                }
                // A snapshot replaced meanwhile: the core moves on by itself.
                _ => {}
            }
        }
        for write in snapshot_writes {
            self.to_snapshot_thread(SnapshotJob::Write(write));
        }
        if let Some(last) = apply.last() {
            let commit_index = last.index;
            let bytes = ordo_core::total_payload_bytes(&apply);
            self.state.applying.push_back((commit_index, bytes));
            self.state.backlog_bytes += bytes;
            // Reported before the apply stage can report them applied.
            self.events
                .send_with(|| Event::EntriesCommitted { commit_index });
            self.to_apply(ApplyInput::Entries(apply))?;
        }
        // After this batch's entries, which are older than the snapshot.
        if let Some(meta) = install_snapshot {
            self.to_apply(ApplyInput::Install(meta))?;
        }
        for ready in reads {
            if let Some(read) = self.take_read(ready.request_id) {
                self.to_apply(ApplyInput::Read {
                    read_index: ready.read_index,
                    work: read.work,
                })?;
            }
        }
        for id in failed_reads {
            if let Some(read) = self.take_read(id) {
                read.work.fail(RaftError::LeadershipChanged);
            }
        }
        Ok(persisted_inline)
    }

    pub(super) fn to_persistence(&self, job: PersistJob) -> Result<(), RaftError> {
        let sent = self
            .persists
            .as_ref()
            .is_some_and(|persists| persists.send(job).is_ok());
        if sent {
            Ok(())
        } else {
            Err(self
                .shared
                .fatal()
                .unwrap_or_else(|| RaftError::Fatal("the persistence thread is gone".into())))
        }
    }

    /// Hands `persist` to the persistence thread, or, for a store that never
    /// blocks, writes and syncs it here and reports it durable (true).
    pub(super) fn persist(&mut self, persist: Persist) -> Result<bool, RaftError> {
        let last_index = persist.entries.last().map(|entry| entry.index);
        if let Some(store) = &self.inline_store {
            let id = persist.id;
            store.write(persist)?;
            store.sync()?;
            self.state.durable_id = id;
            self.raft.persisted(id)?;
            if let Some(last_index) = last_index {
                self.events.send(Event::EntriesAppended { last_index });
            }
            return Ok(true);
        }
        let bytes = ordo_core::total_payload_bytes(&persist.entries);
        self.state
            .persisting
            .push_back((persist.id, bytes, last_index));
        self.state.backlog_bytes += bytes;
        self.to_persistence(PersistJob::Write(persist))?;
        Ok(false)
    }

    pub(super) fn to_apply(&self, input: ApplyInput<S>) -> Result<(), RaftError> {
        self.applies.send(input).map_err(|_| {
            self.shared
                .fatal()
                .unwrap_or_else(|| RaftError::Fatal("the apply stage is gone".into()))
        })
    }

    /// Publishes role, term and leader, and reports what changed. The leader
    /// reported is always the one of the term reported with it.
    pub(super) fn on_soft_state(&mut self, current: SoftState) {
        let previous = std::mem::replace(&mut self.state.soft_state, current);
        self.shared.soft_state.send_replace(current);
        if previous.role == Role::Leader && current.role != Role::Leader {
            // Proposals not committed yet may or may not commit under the
            // next leader: their callers learn it is unknown now. (Sent after
            // their registrations, on the same queue; if the stage is gone,
            // the node is stopping and answers everyone anyway.)
            let committed = self.raft.status().commit_index;
            let _ = self.to_apply(ApplyInput::LeadershipLost { committed });
        }
        if previous.role != current.role {
            self.state.announce_own_info |= current.role == Role::Leader;
            self.events.send(Event::RoleChanged {
                previous: previous.role,
                current: current.role,
                term: current.term,
            });
        }
        let leader_changed = (previous.leader, previous.term) != (current.leader, current.term);
        if previous.leader != current.leader {
            self.state.observed.metrics.leader_changes += 1;
        }
        match current.leader {
            Some(leader) if leader_changed => self.events.send(Event::LeaderElected {
                leader,
                term: current.term,
            }),
            None if previous.leader.is_some() => {
                self.events.send(Event::LeaderLost { term: current.term });
            }
            _ => {}
        }
    }
}
