//! Follower: accept the leader's entries after the consistency check.

use crate::actions::ReadReady;
use crate::entry::{Entry, EntryPayload};
use crate::error::Error;
use crate::event::{ElectionReason, Event};
use crate::log::{AppendOutcome, LogRead};
use crate::message::{
    AppendRequest, AppendResponse, Heartbeat, HeartbeatResponse, Message, MessageBody,
    ReadIndexResponse,
};
use crate::raft::Raft;
use crate::types::NodeId;

impl<L: LogRead> Raft<L> {
    /// Follower step function (after the shared rules).
    pub(super) fn step_follower(&mut self, message: Message) -> Result<(), Error> {
        match message.body {
            MessageBody::Append(append) => {
                self.heard_from_leader(message.from);
                self.handle_append(message.from, append)
            }
            MessageBody::Heartbeat(heartbeat) => {
                self.heard_from_leader(message.from);
                self.handle_heartbeat(message.from, heartbeat);
                Ok(())
            }
            MessageBody::ReadIndexResponse(response)
                if Some(message.from) == self.node.leader_id =>
            {
                self.receive_read_index(response);
                Ok(())
            }
            MessageBody::ReadIndex(request) => {
                // Not the leader (any more): let the asker fail fast.
                let refusal = ReadIndexResponse {
                    request_ids: request.request_ids,
                    read_index: None,
                };
                self.node
                    .send(message.from, MessageBody::ReadIndexResponse(refusal));
                Ok(())
            }
            MessageBody::InstallSnapshot(request) => {
                self.heard_from_leader(message.from);
                self.receive_snapshot_chunk(message.from, request);
                Ok(())
            }
            MessageBody::TimeoutNow if Some(message.from) == self.node.leader_id => {
                // Our leader hands over: campaign at once, skipping pre-vote
                // (the leader vouches that we are up to date). A learner or a
                // removed node does nothing, nor does a node under repair
                // (its log may lack what it acknowledged).
                if self.node.voters.contains(self.node.id()) && !self.node.repairing() {
                    let term = self.node.next_election_term()?;
                    self.node.events.push(Event::ElectionStarted {
                        term,
                        reason: ElectionReason::Transfer,
                        pre_vote: false,
                    });
                    self.become_candidate(true)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn heard_from_leader(&mut self, leader: NodeId) {
        self.node.removal_leader_hint = None;
        self.node.election_elapsed_ticks = 0;
        self.node.leader_contact_elapsed_ticks = 0;
        self.node.leader_id = Some(leader);
    }

    /// AppendEntries (§5.3). The answer is held until the entries are durable.
    fn handle_append(&mut self, leader: NodeId, append: AppendRequest) -> Result<(), Error> {
        if self.installing_snapshot() {
            return Ok(()); // the log is about to be replaced; the leader resends
        }
        let log = &mut self.node.log;
        // Everything up to our commit index is known to match the leader; an
        // append before it is a duplicate or reordered message. This check also
        // guarantees that no append, however forged, reaches committed entries.
        if append.prev_log_index < log.committed() {
            let match_index = log.committed();
            self.node.respond(
                leader,
                MessageBody::AppendResponse(AppendResponse::Accepted { match_index }),
            );
            return Ok(());
        }
        // The entries move into the log; configuration entries among them
        // (rare) are kept aside for the membership history.
        let configs: Vec<Entry> = append
            .entries
            .iter()
            .filter(|e| matches!(e.payload, EntryPayload::Membership(_)))
            .cloned()
            .collect();
        match log.try_append(append.prev_log_index, append.prev_log_term, append.entries)? {
            AppendOutcome::Appended {
                match_index,
                truncated_from,
                written_from,
            } => {
                log.commit_to(append.leader_commit.min(match_index));
                self.node.note_truncation(truncated_from);
                if let Some(from) = written_from {
                    let written: Vec<Entry> =
                        configs.into_iter().filter(|e| e.index >= from).collect();
                    self.node.log_rewritten(from, &written);
                }
                self.node.respond(
                    leader,
                    MessageBody::AppendResponse(AppendResponse::Accepted { match_index }),
                );
            }
            AppendOutcome::Mismatch => {
                let (hint_index, hint_term) =
                    log.find_conflict_by_term(append.prev_log_index, append.prev_log_term)?;
                let rejection = AppendResponse::Rejected {
                    rejected_index: append.prev_log_index,
                    hint_index,
                    hint_term,
                };
                self.node
                    .respond(leader, MessageBody::AppendResponse(rejection));
            }
        }
        Ok(())
    }

    /// Heartbeats carry a commit index the leader capped at our match index,
    /// so it is safe to adopt (capped again at our log, in case of a bug).
    fn handle_heartbeat(&mut self, leader: NodeId, heartbeat: Heartbeat) {
        let log = &mut self.node.log;
        log.commit_to(heartbeat.commit.min(log.last_index()));
        let response = HeartbeatResponse {
            round: heartbeat.round,
        };
        self.node
            .respond(leader, MessageBody::HeartbeatResponse(response));
    }

    /// The leader answered forwarded reads; ids we no longer wait for (failed
    /// meanwhile) are ignored.
    fn receive_read_index(&mut self, response: ReadIndexResponse) {
        for request_id in response.request_ids {
            if !self.node.forwarded_reads.remove(&request_id) {
                continue;
            }
            match response.read_index {
                Some(read_index) => self.node.ready_reads.push(ReadReady {
                    request_id,
                    read_index,
                }),
                None => self.node.failed_reads.push(request_id),
            }
        }
    }
}
