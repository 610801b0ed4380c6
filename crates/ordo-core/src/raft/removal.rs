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
//!    An acknowledgement of an append sent before the removal committed does
//!    not tell the node it committed; it may then campaign once more, and
//!    rule 2's notice, naming its own last entry, stops it.
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
//! 4. A removed node may hold a term above the group's (without pre-vote it
//!    raised it while cut off; with it, it may have adopted a failed
//!    candidate's before it was removed); appends in a lower term are stale
//!    to it, and it answers them in its own term. A leader that gets such an
//!    answer from a departed peer it replicates to (so not from one forged
//!    vote request) campaigns in that term at once, as in a leadership
//!    transfer (one short election instead of endless ones), then replicates
//!    to it.
//!
//! What it leaves out: a node whose configuration names no current member
//! (the whole group replaced while it was cut off) reaches nobody who could
//! tell it, and keeps asking the departed; and a removed node that can send
//! to the leader but not hear from it raises the group's term with each of
//! its elections without pre-vote (as any such node does). What a node
//! learned from notices is not persisted: after a restart a removed node
//! campaigns again until the next notice. Departed peers being told appear in
//! the leader's `Status::progress`, as do (bounded, at most
//! `MAX_DEPARTED_PEERS`) ids a hostile peer makes up in vote requests.

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
        let asker = message.from;
        let request = match message.body {
            MessageBody::PreVote(request) | MessageBody::Vote(request) => Some(request),
            _ => None,
        };
        let notice = self.removal_notice(request)?;
        self.node.send(asker, MessageBody::Removed(notice));
        let Some(request) = request else {
            // A departed peer we replicate to answered in a higher term: our
            // appends are stale to it (rule 4).
            return self.step_up_to(message.term, asker);
        };
        // It can check a notice naming its own last entry (index and term:
        // a tail of another term ending at the same index is not that entry),
        // if that is at or past our configuration: it then needs no appends.
        let checkable = (request.last_log_index, request.last_log_term)
            == (notice.committed_index, notice.committed_term)
            && notice.committed_index >= self.node.history.current_index();
        if checkable {
            return Ok(());
        }
        match &mut self.role {
            RoleState::Leader(leader) => {
                leader.heard_from(asker);
                leader.track_departed(&mut self.node, asker)?;
            }
            // If this node becomes leader, it replicates to the asker.
            _ if self.node.removed_askers.len() < MAX_DEPARTED_PEERS => {
                self.node.removed_askers.insert(asker);
            }
            _ => {}
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
        if self.node.removed_askers.len() < MAX_DEPARTED_PEERS {
            self.node.removed_askers.insert(asker);
        }
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
            // The node may lack its removal entirely, so its own
            // configuration may still count it: that is who needs the hint.
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
