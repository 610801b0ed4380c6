//! A removed node learns that it was removed, even when the messages that
//! would have told it were lost.
//!
//! A node stops campaigning once it knows a committed configuration leaves
//! it out ([`Node::may_campaign`]). It knows from its commit index, which
//! only a leader's appends and heartbeats move. If the entry removing it, or
//! the commit index covering it, never reached it (one lost message, or a
//! partition during the removal), it used to campaign forever: noise for
//! every member with pre-vote, a term bump that deposed the leader each time
//! without. Three rules close the gap:
//!
//! 1. A leader keeps replicating to a departed member until it acknowledged
//!    the entry that removed it (or fell silent for an election timeout),
//!    not merely until that entry was sent (`ProgressTracker::forget_departed`).
//! 2. A member whose own configuration is committed and leaves the sender
//!    out answers that sender's vote requests, and its messages carrying a
//!    higher term, with a [`RemovalNotice`] instead: it grants no vote and
//!    adopts no term from it (a node outside a committed configuration is
//!    never needed to elect a leader: every later leader holds that
//!    configuration and is elected by its voters). A leader also starts
//!    replicating to it again (rule 1), which brings it the entry it lacks.
//! 3. The removed node believes a notice only if it holds the named entry
//!    with the same term, its configuration in force is at or before it, and
//!    that configuration leaves it out. A notice is never used to commit or
//!    apply anything. So a notice, forged or not, changes nothing on a node
//!    its own configuration counts as a member; at worst a forged one could
//!    silence a node whose own log already removes it while that removal is
//!    uncommitted (liveness only, and only for that node).
//!
//! What it leaves out: a node that missed the removing entry and, without
//! pre-vote, raised its term above the group's while cut off cannot take a
//! leader's appends (they are stale to it) nor check a notice, so it keeps
//! asking for votes, each answered with a notice, without moving anyone's
//! term. Pre-vote (on by default) keeps its term at the group's.

use crate::error::Error;
use crate::log::{LogRead, LogReadError, RaftLog};
use crate::message::{Message, MessageBody, RemovalNotice, VoteRequest};
use crate::planted;
use crate::raft::{Raft, RoleState};
use crate::types::{Index, NodeId, Term};

impl<L: LogRead> Raft<L> {
    /// True if `message` comes from a node this node's committed
    /// configuration leaves out and asks for something only a member may
    /// get: a vote, or a higher term.
    pub(super) fn is_from_removed_node(&self, message: &Message) -> bool {
        let asks = message.body.is_vote_request()
            || (message.term > self.node.term && !message.body.is_from_leader());
        asks && self.excluded_by_committed_config(message.from)
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
        if let Some(notice) = self.removal_notice(request)? {
            self.node.send(message.from, MessageBody::Removed(notice));
        }
        if request.is_some()
            && let RoleState::Leader(leader) = &mut self.role
        {
            leader.track_departed(&mut self.node, message.from)?;
        }
        Ok(())
    }

    /// The entry to name in a notice: the asker's last entry if it is
    /// committed here with the same term (its whole log is then committed,
    /// whichever configuration it ends with), else this node's
    /// configuration entry. None if that entry was compacted away.
    fn removal_notice(&self, request: Option<VoteRequest>) -> Result<Option<RemovalNotice>, Error> {
        let log = &self.node.log;
        if let Some(request) = request {
            let index = request.last_log_index;
            if index <= log.committed() && term_held(log, index)? == Some(request.last_log_term) {
                return Ok(Some(RemovalNotice {
                    committed_index: index,
                    committed_term: request.last_log_term,
                }));
            }
        }
        let config_index = self.node.history.current_index();
        Ok(term_held(log, config_index)?.map(|term| RemovalNotice {
            committed_index: config_index,
            committed_term: term,
        }))
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
