//! The rules every role applies to an incoming message, in one place.
//!
//! Order matters and follows Raft §5.1 plus pre-vote and stickiness:
//! 1. Drop malformed or misaddressed messages (they come from outside), and
//!    refuse (count, report) those whose term is too far ahead or at the
//!    cap: adopting it could end elections for good.
//!    A removal notice is checked against the log whatever its term; a
//!    vote request, or a higher term, from a node this node's committed
//!    configuration leaves out is answered with one instead (`removal`).
//! 2. Ignore vote requests of our term or a higher one while in a leader's
//!    lease (leader stickiness). A higher term: adopt it and become a
//!    follower — except for pre-vote traffic, which speaks of a term nobody
//!    has entered yet.
//! 3. A lower term: tell a stale leader our term so it steps down; reject a
//!    stale pre-vote or vote (the candidate learns our term); ignore the rest.
//! 4. Vote requests are answered the same way by every role.
//! 5. Everything else goes to the role's own step function.

use crate::error::Error;
use crate::log::LogRead;
use crate::message::{HeartbeatResponse, Message, MessageBody, VoteRequest, VoteResponse};
use crate::planted;
use crate::raft::{Raft, RoleState};
use crate::types::{NodeId, Term};

impl<L: LogRead> Raft<L> {
    /// Handles a message from a peer. Malformed, misaddressed and stale
    /// messages are dropped without effect; one whose term is too far ahead
    /// or at the cap is refused and counted (see [`Config::max_term_jump`](crate::Config::max_term_jump)).
    ///
    /// # Errors
    /// A fatal storage failure; [`Error::TermsExhausted`] when an election
    /// would need a term at the cap (stop the node).
    pub fn step(&mut self, message: Message) -> Result<(), Error> {
        self.step_message(message)?;
        self.maintain_membership()
    }

    fn step_message(&mut self, message: Message) -> Result<(), Error> {
        if message.to != self.node.id() {
            return Ok(());
        }
        if !is_well_formed(&message) {
            self.node.protocol_violations += 1;
            return Ok(());
        }
        if message.term > self.node.term && !self.node.may_adopt_term(message.term) {
            self.node.refuse_for_term(message.from, message.term);
            return Ok(());
        }
        // Removal is answered and checked whatever the terms (see `removal`).
        if let MessageBody::Removed(notice) = message.body {
            return self.receive_removal_notice(notice);
        }
        if self.is_from_removed_node(&message)? {
            return self.answer_removed_node(message);
        }
        // Stickiness covers a vote request in our own term too: we may have
        // entered it without hearing from its leader (and so be free to vote)
        // just after hearing from the previous one.
        let disruptive = message.body.is_vote_request() && !message.body.is_transfer_vote();
        if disruptive && message.term >= self.node.term && self.node.in_leader_lease() {
            return Ok(());
        }
        if message.term > self.node.term {
            if !speaks_of_a_future_term(&message.body) {
                let leader = message.body.is_from_leader().then_some(message.from);
                self.become_follower(message.term, leader);
            }
        } else if message.term < self.node.term {
            self.step_stale(message);
            return Ok(());
        }
        match message.body {
            MessageBody::PreVote(request) => {
                self.handle_vote_request(message.from, message.term, request, true)
            }
            MessageBody::Vote(request) => {
                self.handle_vote_request(message.from, message.term, request, false)
            }
            _ => match self.role {
                RoleState::Follower => self.step_follower(message),
                RoleState::PreCandidate(_) | RoleState::Candidate(_) => {
                    self.step_candidate(message)
                }
                RoleState::Leader(_) => self.step_leader(message),
            },
        }
    }

    fn step_stale(&mut self, message: Message) {
        match message.body {
            // A leader cut off by a partition may not know it was replaced:
            // tell it our term so it steps down (Raft §5.1). Otherwise it
            // could lead its term forever, taking proposals that never commit
            // (nothing may ever send it a higher term again, for instance
            // once the membership moved on without it).
            MessageBody::Append(_) | MessageBody::Heartbeat(_) => {
                let response = HeartbeatResponse { round: 0 };
                self.node
                    .send(message.from, MessageBody::HeartbeatResponse(response));
            }
            MessageBody::PreVote(_) => {
                self.node.respond(
                    message.from,
                    MessageBody::PreVoteResponse(VoteResponse { granted: false }),
                );
            }
            // A candidate behind in terms is told ours (Raft §5.1), so its
            // next election can be current. Without it, a candidate that
            // cannot adopt a disruptor's terms (a removed node's vote
            // requests move no member's term, `raft/removal.rs`) stayed
            // behind voters that did adopt them, for ever (found by the
            // simulator: seed 98096, all faults, no pre-vote).
            MessageBody::Vote(_) => {
                self.node.respond(
                    message.from,
                    MessageBody::VoteResponse(VoteResponse { granted: false }),
                );
            }
            _ => {}
        }
    }

    /// Answers a (pre-)vote request: grant if this node may still vote in that
    /// term and the candidate's log is at least as up to date (§5.4.1).
    fn handle_vote_request(
        &mut self,
        from: NodeId,
        term: Term,
        request: VoteRequest,
        pre_vote: bool,
    ) -> Result<(), Error> {
        let node = &self.node;
        let free_to_vote = (planted::DOUBLE_VOTE && !pre_vote)
            || node.voted_for == Some(from)
            || (node.voted_for.is_none() && node.leader_id.is_none())
            || (pre_vote && term > node.term);
        // A node whose storage may have lost acknowledged entries could
        // elect a leader that lacks them (Protocol-Aware Recovery).
        let granted = free_to_vote
            && !node.repairing()
            && node
                .log
                .is_up_to_date(request.last_log_index, request.last_log_term)?;
        let response = VoteResponse { granted };
        if pre_vote {
            // A granted pre-vote echoes the future term it was asked about.
            let term = if granted { term } else { self.node.term };
            self.node
                .respond_with_term(from, term, MessageBody::PreVoteResponse(response));
        } else {
            if granted {
                self.node.voted_for = Some(from);
                self.node.reset_election_timer();
            }
            // Held until the vote is durable (respond waits for all writes).
            self.node.respond(from, MessageBody::VoteResponse(response));
        }
        Ok(())
    }
}

/// Pre-vote requests and granted pre-vote responses carry a term the sender
/// has not entered; adopting it would defeat the point of pre-vote.
fn speaks_of_a_future_term(body: &MessageBody) -> bool {
    matches!(
        body,
        MessageBody::PreVote(_) | MessageBody::PreVoteResponse(VoteResponse { granted: true })
    )
}

/// The term cap. No real group gets near it (2^62 elections at one per
/// millisecond take over a hundred million years). A message above it is
/// malformed; one at it is refused (no correct node enters it: campaigning
/// for it is [`Error::TermsExhausted`]), so a node only ever adopts a term
/// from which it could still campaign.
pub const MAX_TERM: Term = 1 << 62;

/// Structural checks on a message from outside. A message failing them was
/// corrupted or sent by a broken peer; acting on it could corrupt the log.
fn is_well_formed(message: &Message) -> bool {
    if message.from == 0 || message.from == message.to || message.term > MAX_TERM {
        return false;
    }
    match &message.body {
        MessageBody::Append(append) => {
            let mut previous = (append.prev_log_index, append.prev_log_term);
            append.prev_log_term <= message.term
                && append.entries.iter().all(|entry| {
                    let follows = Some(entry.index) == previous.0.checked_add(1)
                        && entry.term >= previous.1
                        && entry.term <= message.term;
                    previous = (entry.index, entry.term);
                    follows
                })
        }
        _ => true,
    }
}
