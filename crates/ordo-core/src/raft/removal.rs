//! A removed node learns that it was removed, even when the messages that
//! would have told it were lost.
//!
//! A node stops campaigning once it knows a committed configuration leaves
//! it out (`Node::may_campaign`). It knows from its commit index, which
//! only a leader's appends and heartbeats move. If the entry removing it, or
//! the commit index covering it, never reached it (one lost message, or a
//! partition during the removal), it used to campaign forever: noise for
//! every member with pre-vote, a term bump that deposed the leader each time
//! without. Four rules close the gap:
//!
//! 1. A leader keeps replicating to a departed member until it acknowledged
//!    the entry that removed it (or fell silent for an election timeout),
//!    not merely until that entry was sent (`ProgressTracker::forget_departed`).
//! 2. A member whose own configuration is committed and leaves the sender
//!    out answers that sender's vote requests with a [`RemovalNotice`]
//!    instead: it grants no vote and adopts no term from it (a node outside a
//!    committed configuration is never needed to elect a leader: every later
//!    leader holds that configuration and is elected by its voters). Not if
//!    the sender's log is ahead of its own: the sender may hold a newer
//!    configuration that adds it, which this member lacks. A leader also
//!    replicates to the sender again (rule 1), which brings it the entry it
//!    lacks; a follower remembers it, for the day it leads. A departed peer's
//!    answers to those appends carrying a higher term are answered the same
//!    way. The notice names the member's leader: a removed node that cannot
//!    check it also asks that leader for votes in its next elections (its
//!    own configuration may name no current voter but followers).
//! 3. The removed node believes a notice only if it holds the named entry
//!    with the same term, its configuration in force is at or before it, and
//!    that configuration leaves it out. A notice is never used to commit or
//!    apply anything. So a notice, forged or not, changes nothing on a node
//!    its own configuration counts as a member; at worst a forged one could
//!    silence a node whose own log already removes it while that removal is
//!    uncommitted (liveness only, and only for that node).
//! 4. Without pre-vote, a removed node cut off during its removal may have
//!    raised its term above the group's; appends in a lower term are stale
//!    to it. A leader asked for votes in a higher term by a node it already
//!    replicates to (so not by one forged message) campaigns in that term
//!    at once, as in a leadership transfer (one short election instead of
//!    the endless ones before), then replicates to it.
//!
//! What it leaves out: a node whose configuration names no current member
//! (the whole group replaced while it was cut off) reaches nobody who could
//! tell it, and keeps asking the departed; and a removed node that can send
//! to the leader but not hear from it raises the group's term with each of
//! its elections without pre-vote (as any such node does).

use crate::error::Error;
use crate::event::{ElectionReason, Event, StepDownReason};
use crate::log::{LogRead, LogReadError, RaftLog};
use crate::message::{Message, MessageBody, RemovalNotice, VoteRequest};
use crate::planted;
use crate::raft::leader::MAX_DEPARTED_PEERS;
use crate::raft::{Raft, RoleState};
use crate::types::{Index, NodeId, Term};

impl<L: LogRead> Raft<L> {
    /// True if `message` comes from a node this node's committed
    /// configuration leaves out and asks for something only a member may
    /// get: a vote (unless its log is ahead of ours: it may hold a newer
    /// configuration that adds it), or, from a departed peer this leader
    /// replicates to, a higher term.
    pub(super) fn is_from_removed_node(&self, message: &Message) -> Result<bool, Error> {
        if !self.excluded_by_committed_config(message.from) {
            return Ok(false);
        }
        Ok(match &message.body {
            MessageBody::PreVote(request) | MessageBody::Vote(request) => {
                let ours = (self.node.log.last_term()?, self.node.log.last_index());
                (request.last_log_term, request.last_log_index) <= ours
            }
            _ => {
                let departed = matches!(&self.role, RoleState::Leader(leader)
                    if leader.tracks(message.from));
                departed && message.term > self.node.term && !message.body.is_from_leader()
            }
        })
    }

    /// True if this node is a member of its configuration in force, that
    /// configuration is committed, and it leaves `peer` out. (A node that is
    /// no member, such as one waiting to be added, judges nobody.)
    fn excluded_by_committed_config(&self, peer: NodeId) -> bool {
        let node = &self.node;
        !planted::REMOVED_NOT_TOLD
            && node.membership.contains(node.id())
            && !node.membership.contains(peer)
            && node.history.current_index() <= node.log.committed()
    }

    /// Answers a removed node: no vote, no term change; a notice it can
    /// check, and on a leader, appends that bring it what it lacks.
    pub(super) fn answer_removed_node(&mut self, message: Message) -> Result<(), Error> {
        let request = match message.body {
            MessageBody::PreVote(request) | MessageBody::Vote(request) => Some(request),
            _ => None,
        };
        let notice = self.removal_notice(request)?;
        self.node.send(message.from, MessageBody::Removed(notice));
        let asker = message.from;
        if let RoleState::Leader(leader) = &mut self.role {
            leader.heard_from(asker); // a departed peer still talking
        }
        if request.is_none() {
            return Ok(());
        }
        let RoleState::Leader(leader) = &mut self.role else {
            // If this node becomes leader, it replicates to the asker.
            if self.node.removed_askers.len() < MAX_DEPARTED_PEERS {
                self.node.removed_askers.insert(asker);
            }
            return Ok(());
        };
        // Only a node we already replicate to, and heard from, triggers the
        // election below: one forged request cannot move our term.
        let already_tracked = leader.tracks(asker);
        leader.track_departed(&mut self.node, asker)?;
        // It can check a notice naming its own last entry, if that is at or
        // past our configuration: it then needs no appends.
        let checkable = request.is_some_and(|r| {
            r.last_log_index == notice.committed_index
                && notice.committed_index >= self.node.history.current_index()
        });
        let real_vote = matches!(message.body, MessageBody::Vote(_));
        if real_vote && message.term > self.node.term && !checkable && already_tracked {
            self.step_up_to(message.term, asker)?;
        }
        Ok(())
    }

    /// This leader's appends are stale to `asker`, whose term is above
    /// ours: campaign in its term at once, as in a leadership transfer (no
    /// pre-vote; voters set their stickiness aside, since the leader they
    /// would protect is the one asking). Our log holds everything committed,
    /// so we win quickly, and then replicate to `asker`.
    fn step_up_to(&mut self, term: Term, asker: NodeId) -> Result<(), Error> {
        let own_term = self.node.term;
        self.node.events.push(Event::SteppedDown {
            term: own_term,
            reason: StepDownReason::RemovedNodeTerm,
        });
        self.become_follower(own_term, None);
        self.node.removed_askers.insert(asker);
        self.node.events.push(Event::ElectionStarted {
            term,
            reason: ElectionReason::RemovedNodeTerm,
            pre_vote: false,
        });
        self.become_candidate_in(term, true)
    }

    /// The notice for a removed node: it names the asker's last entry if it
    /// is committed here with the same term (its whole log is then
    /// committed, whichever configuration it ends with), else this node's
    /// configuration entry (or nothing, 0, if that was compacted away), and
    /// this node's leader.
    fn removal_notice(&self, request: Option<VoteRequest>) -> Result<RemovalNotice, Error> {
        let log = &self.node.log;
        let leader = self.node.leader_id;
        if let Some(request) = request {
            let index = request.last_log_index;
            if index <= log.committed() && term_held(log, index)? == Some(request.last_log_term) {
                return Ok(RemovalNotice {
                    committed_index: index,
                    committed_term: request.last_log_term,
                    leader,
                });
            }
        }
        let config_index = self.node.history.current_index();
        let (committed_index, committed_term) = match term_held(log, config_index)? {
            Some(term) => (config_index, term),
            None => (0, 0),
        };
        Ok(RemovalNotice {
            committed_index,
            committed_term,
            leader,
        })
    }

    /// A member says a committed configuration leaves this node out: believe
    /// it only as far as this node's own log can check it (module docs).
    pub(super) fn receive_removal_notice(&mut self, notice: RemovalNotice) -> Result<(), Error> {
        if planted::REMOVED_NOT_TOLD {
            return Ok(());
        }
        let node = &self.node;
        let holds = term_held(&node.log, notice.committed_index)? == Some(notice.committed_term);
        let covers_config = node.history.current_index() <= notice.committed_index;
        if !(holds && covers_config && !node.membership.contains(node.id())) {
            // Unchecked: ask the sender's leader too in the next elections
            // (an extra vote request, never counted unless it is a voter).
            let hint = notice.leader.filter(|&leader| leader != node.id());
            if hint.is_some() {
                self.node.removal_leader_hint = hint;
            }
            return Ok(());
        }
        let through: Index = node.removal_notice_through.max(notice.committed_index);
        self.node.removal_notice_through = through;
        if !self.node.may_campaign() && !matches!(self.role, RoleState::Follower) {
            // A (pre-)candidate's election is pointless now.
            self.become_follower(self.node.term, None);
        }
        Ok(())
    }
}

/// The term of the entry at `index`, if this log holds it (not compacted,
/// not past its end).
fn term_held<L: LogRead>(log: &RaftLog<L>, index: Index) -> Result<Option<Term>, Error> {
    match log.term(index) {
        Ok(term) => Ok(Some(term)),
        Err(LogReadError::Compacted { .. } | LogReadError::Unavailable { .. }) => Ok(None),
        Err(error) => Err(error.into()),
    }
}
