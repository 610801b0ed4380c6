//! Elections: timeouts, pre-vote, candidacy and counting votes.
//!
//! A node whose election timer fires first asks for pre-votes at `term + 1`
//! without changing its own term (Raft dissertation §9.6); only if a quorum
//! would vote for it does it become a candidate, bump the term, vote for
//! itself and request real votes. Its own vote counts only once durable: it is
//! sent to itself through the outbox like any other vote.

use std::collections::BTreeMap;

use crate::error::Error;
use crate::event::{ElectionReason, Event, StepDownReason};
use crate::log::LogRead;
use crate::message::{Message, MessageBody, VoteRequest, VoteResponse};
use crate::quorum::VoteResult;
use crate::raft::{Raft, RoleState};
use crate::types::{NodeId, Term};

/// Votes received in the current (pre-)election.
#[derive(Debug, Default)]
pub(crate) struct CandidateState {
    votes: BTreeMap<NodeId, bool>,
}

impl<L: LogRead> Raft<L> {
    /// Follower, pre-candidate and candidate tick: time out into an election.
    pub(super) fn tick_election(&mut self) -> Result<(), Error> {
        self.node.election_elapsed_ticks += 1;
        if self.node.election_elapsed_ticks < self.node.election_timeout_ticks {
            return Ok(());
        }
        self.start_election(ElectionReason::Timeout)
    }

    /// Starts a pre-vote round, or an election if pre-vote is off. Learners
    /// and removed nodes never campaign (see [`Node::may_campaign`] for the
    /// one exception, while a removal is not yet committed); nor does a node
    /// under repair (see [`Raft::begin_repair`]).
    ///
    /// # Errors
    /// [`Error::TermsExhausted`] when the next term would reach the cap.
    pub(super) fn start_election(&mut self, reason: ElectionReason) -> Result<(), Error> {
        if !self.node.may_campaign() || self.node.repairing() {
            self.node.reset_election_timer();
            return Ok(());
        }
        let term = self.node.next_election_term()?;
        let pre_vote = self.node.config.pre_vote;
        self.node.events.push(Event::ElectionStarted {
            term,
            reason,
            pre_vote,
        });
        if pre_vote {
            self.become_pre_candidate()
        } else {
            self.become_candidate(false)
        }
    }

    /// Becomes a follower in `term` (at least the current one), of `leader`.
    pub(super) fn become_follower(&mut self, term: Term, leader: Option<NodeId>) {
        assert!(
            term >= self.node.term,
            "term went backwards: {} -> {term}",
            self.node.term
        );
        if let RoleState::Leader(state) = &mut self.role {
            state.abandon_reads(&mut self.node);
            if term > self.node.term {
                self.node.events.push(Event::SteppedDown {
                    term: self.node.term,
                    reason: StepDownReason::HigherTerm,
                });
            }
        }
        if term > self.node.term || leader != self.node.leader_id {
            self.node.fail_forwarded_reads();
        }
        if term > self.node.term {
            self.node.events.push(Event::TermChanged {
                from: self.node.term,
                to: term,
            });
            self.node.term = term;
            self.node.voted_for = None;
        }
        self.node.leader_id = leader;
        self.role = RoleState::Follower;
        self.node.reset_election_timer();
    }

    fn become_pre_candidate(&mut self) -> Result<(), Error> {
        self.node.fail_forwarded_reads();
        self.role = RoleState::PreCandidate(CandidateState::default());
        self.node.leader_id = None;
        self.node.reset_election_timer();
        let request = self.vote_request()?;
        let term = self.node.next_election_term()?;
        for peer in self.other_voters() {
            let message = Message {
                from: self.node.id(),
                to: peer,
                term,
                body: MessageBody::PreVote(request),
            };
            self.node.outbox.send(message);
        }
        // A pre-vote changes nothing durable, so our own counts at once.
        self.record_vote(self.node.id(), true)
    }

    /// `leadership_transfer`: the leader asked us to take over (TimeoutNow);
    /// our vote requests say so, so voters set stickiness aside.
    ///
    /// # Errors
    /// [`Error::TermsExhausted`] when the next term would reach the cap.
    pub(super) fn become_candidate(&mut self, leadership_transfer: bool) -> Result<(), Error> {
        let term = self.node.next_election_term()?;
        self.become_candidate_in(term, leadership_transfer)
    }

    /// Campaigns in `term`, above the current one (see
    /// [`Raft::become_candidate`]).
    pub(super) fn become_candidate_in(
        &mut self,
        term: Term,
        leadership_transfer: bool,
    ) -> Result<(), Error> {
        assert!(term > self.node.term, "a candidate's term must rise");
        assert!(
            !self.node.repairing(),
            "a node under repair must not campaign"
        );
        self.node.fail_forwarded_reads();
        self.node.events.push(Event::TermChanged {
            from: self.node.term,
            to: term,
        });
        self.node.term = term;
        self.node.voted_for = Some(self.node.id());
        self.node.leader_id = None;
        self.role = RoleState::Candidate(CandidateState::default());
        self.node.reset_election_timer();
        let request = VoteRequest {
            leadership_transfer,
            ..self.vote_request()?
        };
        for peer in self.other_voters() {
            self.node.send(peer, MessageBody::Vote(request));
        }
        // Our own vote counts once the new term and vote are durable.
        let own_id = self.node.id();
        self.node.respond(
            own_id,
            MessageBody::VoteResponse(VoteResponse { granted: true }),
        );
        Ok(())
    }

    fn vote_request(&self) -> Result<VoteRequest, Error> {
        Ok(VoteRequest {
            last_log_index: self.node.log.last_index(),
            last_log_term: self.node.log.last_term()?,
            leadership_transfer: false,
        })
    }

    /// Whom to ask for votes: the other voters, plus the leader a removal
    /// notice named (see `removal`), whose answer does not count.
    fn other_voters(&self) -> Vec<NodeId> {
        let own_id = self.node.id();
        let mut asked: Vec<NodeId> = self
            .node
            .voters
            .voters()
            .into_iter()
            .filter(|&id| id != own_id)
            .collect();
        if let Some(hint) = self.node.removal_leader_hint
            && !asked.contains(&hint)
        {
            asked.push(hint);
        }
        asked
    }

    /// Pre-candidate and candidate step function (after the shared rules).
    pub(super) fn step_candidate(&mut self, message: Message) -> Result<(), Error> {
        let pre = matches!(self.role, RoleState::PreCandidate(_));
        match message.body {
            MessageBody::Append(_)
            | MessageBody::Heartbeat(_)
            | MessageBody::InstallSnapshot(_) => {
                // A leader exists in our term: it won.
                self.become_follower(message.term, Some(message.from));
                self.step_follower(message)
            }
            MessageBody::PreVoteResponse(VoteResponse { granted }) if pre => {
                // Grants echo the term we asked about; anything else is stale.
                let current = !granted || message.term == self.node.term + 1;
                if current {
                    self.record_vote(message.from, granted)
                } else {
                    Ok(())
                }
            }
            MessageBody::VoteResponse(VoteResponse { granted }) if !pre => {
                self.record_vote(message.from, granted)
            }
            _ => Ok(()),
        }
    }

    /// A candidate's own vote, released once its term and vote are durable.
    pub(super) fn receive_own_vote(&mut self, message: Message) -> Result<(), Error> {
        let current =
            matches!(self.role, RoleState::Candidate(_)) && message.term == self.node.term;
        if current
            && matches!(
                message.body,
                MessageBody::VoteResponse(VoteResponse { granted: true })
            )
        {
            return self.record_vote(message.from, true);
        }
        Ok(())
    }

    fn record_vote(&mut self, from: NodeId, granted: bool) -> Result<(), Error> {
        let (RoleState::PreCandidate(state) | RoleState::Candidate(state)) = &mut self.role else {
            return Ok(());
        };
        state.votes.entry(from).or_insert(granted);
        let votes = &state.votes;
        match self.node.voters.vote_result(|id| votes.get(&id).copied()) {
            VoteResult::Pending => Ok(()),
            VoteResult::Lost => {
                if matches!(self.role, RoleState::PreCandidate(_)) {
                    self.node.events.push(Event::PreVoteFinished {
                        term: self.node.term + 1,
                        granted: false,
                    });
                }
                self.become_follower(self.node.term, None);
                Ok(())
            }
            VoteResult::Won if matches!(self.role, RoleState::PreCandidate(_)) => {
                self.node.events.push(Event::PreVoteFinished {
                    term: self.node.term + 1,
                    granted: true,
                });
                self.become_candidate(false)
            }
            VoteResult::Won => self.become_leader(),
        }
    }
}
