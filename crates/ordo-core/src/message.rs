//! Messages between the members of one Raft group.
//!
//! A message names its sender, its receiver and the sender's term; the body is
//! one of the RPCs of the Raft paper, plus pre-vote (Raft dissertation §9.6) and
//! a dedicated heartbeat. Group identity is deliberately absent: a transport that
//! multiplexes many groups wraps messages in its own envelope.

use serde::{Deserialize, Serialize};

use bytes::Bytes;

use crate::entry::Entry;
use crate::snapshot::{SnapshotContent, SnapshotMeta};
use crate::types::{Index, NodeId, Term};

/// A message from one node to another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The sender.
    pub from: NodeId,
    /// The receiver.
    pub to: NodeId,
    /// The sender's term. For a pre-vote request this is the term the sender
    /// *would* campaign in; for a granted pre-vote it echoes the request's term.
    pub term: Term,
    /// What the message says.
    pub body: MessageBody,
}

/// The kinds of message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageBody {
    /// "Would you vote for me if I campaigned?" Changes no state on either side.
    PreVote(VoteRequest),
    /// Answer to [`MessageBody::PreVote`].
    PreVoteResponse(VoteResponse),
    /// RequestVote (Raft §5.2).
    Vote(VoteRequest),
    /// Answer to [`MessageBody::Vote`]. A grant is sent only once durable.
    VoteResponse(VoteResponse),
    /// AppendEntries (Raft §5.3), possibly with no entries (to carry the commit
    /// index or to probe).
    Append(AppendRequest),
    /// Answer to [`MessageBody::Append`]. Sent only once the accepted entries
    /// are durable.
    AppendResponse(AppendResponse),
    /// Leader liveness and commit index, without log consistency checking.
    Heartbeat(Heartbeat),
    /// Answer to [`MessageBody::Heartbeat`].
    HeartbeatResponse(HeartbeatResponse),
    /// A follower asks the leader for a read index on behalf of its clients.
    ReadIndex(ReadIndexRequest),
    /// The leader's answer to [`MessageBody::ReadIndex`].
    ReadIndexResponse(ReadIndexResponse),
    /// The leader hands leadership over: campaign now, skipping pre-vote.
    TimeoutNow,
    /// One chunk of a snapshot, for a follower whose missing entries were
    /// compacted away.
    InstallSnapshot(InstallSnapshotRequest),
    /// The follower's answer to [`MessageBody::InstallSnapshot`].
    InstallSnapshotResponse(InstallSnapshotResponse),
    /// "A committed configuration leaves you out": a member's answer to a
    /// node its committed configuration excludes. The receiver believes it
    /// only if it holds the named entry (see [`RemovalNotice`]).
    Removed(RemovalNotice),
}

/// Tells a node that was removed from the group how to check it.
///
/// The sender knows `committed_index` committed. The receiver believes it
/// was removed only if its own log holds that entry with `committed_term`
/// (so, by log matching, every entry up to it is the sender's, committed)
/// and the configuration in force in its own log is at or before it and
/// leaves it out. A notice to a node whose own configuration counts it as a
/// member changes nothing, forged or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovalNotice {
    /// An index the sender knows committed (0 when it has none the
    /// receiver could hold: its configuration entry was compacted).
    pub committed_index: Index,
    /// The term of the sender's entry at `committed_index`.
    pub committed_term: Term,
    /// The sender's leader, if known. A receiver that cannot check the
    /// notice also asks it for votes in its next elections: a leader answers
    /// a removed node by replicating to it, which brings it what it lacks.
    pub leader: Option<NodeId>,
}

/// One chunk of a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallSnapshotRequest {
    /// The snapshot the chunk belongs to.
    pub meta: SnapshotMeta,
    /// The bytes that whole snapshot holds: a transfer resumes only onto
    /// bytes received with the same content.
    pub content: SnapshotContent,
    /// Where the chunk starts, in bytes.
    pub offset: u64,
    /// The chunk.
    pub data: Bytes,
    /// This is the last chunk.
    pub done: bool,
}

/// A follower's answer to a snapshot chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallSnapshotResponse {
    /// The snapshot answered about.
    pub snapshot_index: Index,
    /// The next byte the follower expects (after the chunks it holds durably).
    pub next_offset: u64,
    /// The follower has installed the snapshot (or already had its entries).
    pub installed: bool,
}

/// A (pre-)vote request: the candidate's log position, for the up-to-date check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteRequest {
    /// Index of the candidate's last log entry.
    pub last_log_index: Index,
    /// Term of the candidate's last log entry.
    pub last_log_term: Term,
    /// The candidate campaigns because its leader handed leadership to it
    /// ([`MessageBody::TimeoutNow`]): voters set their leader stickiness aside.
    #[serde(default)]
    pub leadership_transfer: bool,
}

/// The answer to a (pre-)vote request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteResponse {
    /// Whether the vote is granted.
    pub granted: bool,
}

/// AppendEntries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendRequest {
    /// Index of the entry just before `entries`.
    pub prev_log_index: Index,
    /// Term of that entry.
    pub prev_log_term: Term,
    /// New entries, consecutive from `prev_log_index + 1`. A receiver drops a
    /// message that breaks this.
    pub entries: Vec<Entry>,
    /// The leader's commit index.
    pub leader_commit: Index,
}

/// The answer to an AppendEntries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AppendResponse {
    /// The follower's log matches the leader's up to `match_index`, durably.
    Accepted {
        /// The last index known to match.
        match_index: Index,
    },
    /// The consistency check failed at `rejected_index`.
    ///
    /// The hint lets the leader skip a whole term per round trip instead of one
    /// entry: `hint_index` is the largest index at or below `rejected_index`
    /// whose term (`hint_term`) is not greater than the leader's
    /// `prev_log_term`, or the follower's last index when its log is shorter.
    Rejected {
        /// The `prev_log_index` of the rejected request.
        rejected_index: Index,
        /// Where the leader should look next.
        hint_index: Index,
        /// The follower's term at `hint_index`.
        hint_term: Term,
    },
}

/// A heartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The leader's commit index, capped at what the receiver is known to hold
    /// (its match index), so it is always safe to adopt.
    pub commit: Index,
    /// The leader's heartbeat round, echoed in the answer. A quorum of answers
    /// to round `r` proves the sender was still leader when it sent `r`: that
    /// is what confirms reads (ReadIndex) and renews the leader's lease.
    pub round: u64,
}

/// The answer to a heartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatResponse {
    /// The round of the heartbeat answered (0 for an answer to a stale leader).
    pub round: u64,
}

/// Reads a follower forwards to its leader.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadIndexRequest {
    /// The follower's own ids for the reads, echoed back.
    pub request_ids: Vec<u64>,
}

/// The leader's answer to forwarded reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadIndexResponse {
    /// The ids from the request.
    pub request_ids: Vec<u64>,
    /// The index the follower must have applied before serving the reads, or
    /// `None` if the leader could not confirm them (it lost leadership).
    pub read_index: Option<Index>,
}

impl MessageBody {
    /// True for a vote request sent on the leader's behalf (leadership
    /// transfer), which leader stickiness must not block.
    pub fn is_transfer_vote(&self) -> bool {
        matches!(
            self,
            MessageBody::Vote(VoteRequest {
                leadership_transfer: true,
                ..
            })
        )
    }

    /// True for the two kinds of vote request.
    pub fn is_vote_request(&self) -> bool {
        matches!(self, MessageBody::PreVote(_) | MessageBody::Vote(_))
    }

    /// True for messages only a leader sends.
    pub fn is_from_leader(&self) -> bool {
        matches!(
            self,
            MessageBody::Append(_)
                | MessageBody::Heartbeat(_)
                | MessageBody::TimeoutNow
                | MessageBody::InstallSnapshot(_)
        )
    }

    /// A short name for logs and transcripts.
    pub fn kind(&self) -> &'static str {
        match self {
            MessageBody::PreVote(_) => "PreVote",
            MessageBody::PreVoteResponse(_) => "PreVoteResponse",
            MessageBody::Vote(_) => "Vote",
            MessageBody::VoteResponse(_) => "VoteResponse",
            MessageBody::Append(_) => "Append",
            MessageBody::AppendResponse(_) => "AppendResponse",
            MessageBody::Heartbeat(_) => "Heartbeat",
            MessageBody::HeartbeatResponse(_) => "HeartbeatResponse",
            MessageBody::ReadIndex(_) => "ReadIndex",
            MessageBody::ReadIndexResponse(_) => "ReadIndexResponse",
            MessageBody::TimeoutNow => "TimeoutNow",
            MessageBody::InstallSnapshot(_) => "InstallSnapshot",
            MessageBody::InstallSnapshotResponse(_) => "InstallSnapshotResponse",
            MessageBody::Removed(_) => "Removed",
        }
    }
}
