//! The encoding of one [`Message`], version 2. The layout is documented on
//! [`super`]; the tag tables below are its single source of truth.
//!
//! Encoding matches on every variant without a wildcard arm, so a new
//! `MessageBody` or `EntryPayload` variant fails to compile here until it is
//! given a tag — it can never be sent as something else by accident.

use std::collections::BTreeSet;

use bytes::Bytes;
use ordo_core::{
    AppendRequest, AppendResponse, Entry, EntryPayload, Heartbeat, HeartbeatResponse,
    InstallSnapshotRequest, InstallSnapshotResponse, Membership, Message, MessageBody, NodeId,
    ReadIndexRequest, ReadIndexResponse, RemovalNotice, SnapshotContent, SnapshotMeta, VoteRequest,
    VoteResponse,
};

use super::wire::{Reader, Sink, put_length_prefixed, put_varint};
use super::{DecodeError, DecodeLimits, VERSION};

/// Tags of [`MessageBody`] variants. Never reuse or renumber one.
mod kind {
    pub(super) const PRE_VOTE: u8 = 1;
    pub(super) const PRE_VOTE_RESPONSE: u8 = 2;
    pub(super) const VOTE: u8 = 3;
    pub(super) const VOTE_RESPONSE: u8 = 4;
    pub(super) const APPEND: u8 = 5;
    pub(super) const APPEND_RESPONSE: u8 = 6;
    pub(super) const HEARTBEAT: u8 = 7;
    pub(super) const HEARTBEAT_RESPONSE: u8 = 8;
    pub(super) const READ_INDEX: u8 = 9;
    pub(super) const READ_INDEX_RESPONSE: u8 = 10;
    pub(super) const TIMEOUT_NOW: u8 = 11;
    pub(super) const INSTALL_SNAPSHOT: u8 = 12;
    pub(super) const INSTALL_SNAPSHOT_RESPONSE: u8 = 13;
    pub(super) const REMOVED: u8 = 14;
}

/// Tags of [`EntryPayload`] variants.
mod payload {
    pub(super) const NOOP: u8 = 0;
    pub(super) const COMMAND: u8 = 1;
    pub(super) const MEMBERSHIP: u8 = 2;
}

/// Tags of [`AppendResponse`] variants.
mod append_response {
    pub(super) const ACCEPTED: u8 = 0;
    pub(super) const REJECTED: u8 = 1;
}

/// Bits of a vote request's flags byte; every other bit must be zero.
const VOTE_FLAG_LEADERSHIP_TRANSFER: u8 = 0b0000_0001;

/// Smallest possible encodings, used to bound counts by the bytes left.
const MIN_ENTRY_BYTES: usize = 3;
const MIN_ID_BYTES: usize = 1;

/// Writes `message` to `sink`.
pub(crate) fn encode(sink: &mut impl Sink, message: &Message) {
    sink.put_byte(VERSION);
    sink.put_byte(kind_tag(&message.body));
    put_varint(sink, message.from);
    put_varint(sink, message.to);
    put_varint(sink, message.term);
    match &message.body {
        MessageBody::PreVote(request) | MessageBody::Vote(request) => {
            encode_vote_request(sink, request)
        }
        MessageBody::PreVoteResponse(response) | MessageBody::VoteResponse(response) => {
            sink.put_byte(u8::from(response.granted))
        }
        MessageBody::Append(request) => encode_append(sink, request),
        MessageBody::AppendResponse(response) => encode_append_response(sink, response),
        MessageBody::Heartbeat(heartbeat) => {
            put_varint(sink, heartbeat.commit);
            put_varint(sink, heartbeat.round);
        }
        MessageBody::HeartbeatResponse(response) => put_varint(sink, response.round),
        MessageBody::ReadIndex(request) => put_ids(sink, &request.request_ids),
        MessageBody::ReadIndexResponse(response) => {
            put_ids(sink, &response.request_ids);
            match response.read_index {
                None => sink.put_byte(0),
                Some(index) => {
                    sink.put_byte(1);
                    put_varint(sink, index);
                }
            }
        }
        MessageBody::TimeoutNow => {}
        MessageBody::InstallSnapshot(request) => {
            put_varint(sink, request.meta.index);
            put_varint(sink, request.meta.term);
            put_membership(sink, &request.meta.membership);
            put_varint(sink, request.content.data_bytes);
            put_varint(sink, u64::from(request.content.crc32c));
            put_varint(sink, request.offset);
            put_length_prefixed(sink, &request.data);
            sink.put_byte(u8::from(request.done));
        }
        MessageBody::InstallSnapshotResponse(response) => {
            put_varint(sink, response.snapshot_index);
            put_varint(sink, response.next_offset);
            sink.put_byte(u8::from(response.installed));
        }
        MessageBody::Removed(notice) => {
            put_varint(sink, notice.committed_index);
            put_varint(sink, notice.committed_term);
            // Node ids start at 1: 0 says no leader is known.
            put_varint(sink, notice.leader.unwrap_or(0));
        }
    }
}

fn kind_tag(body: &MessageBody) -> u8 {
    match body {
        MessageBody::PreVote(_) => kind::PRE_VOTE,
        MessageBody::PreVoteResponse(_) => kind::PRE_VOTE_RESPONSE,
        MessageBody::Vote(_) => kind::VOTE,
        MessageBody::VoteResponse(_) => kind::VOTE_RESPONSE,
        MessageBody::Append(_) => kind::APPEND,
        MessageBody::AppendResponse(_) => kind::APPEND_RESPONSE,
        MessageBody::Heartbeat(_) => kind::HEARTBEAT,
        MessageBody::HeartbeatResponse(_) => kind::HEARTBEAT_RESPONSE,
        MessageBody::ReadIndex(_) => kind::READ_INDEX,
        MessageBody::ReadIndexResponse(_) => kind::READ_INDEX_RESPONSE,
        MessageBody::TimeoutNow => kind::TIMEOUT_NOW,
        MessageBody::InstallSnapshot(_) => kind::INSTALL_SNAPSHOT,
        MessageBody::InstallSnapshotResponse(_) => kind::INSTALL_SNAPSHOT_RESPONSE,
        MessageBody::Removed(_) => kind::REMOVED,
    }
}

fn encode_vote_request(sink: &mut impl Sink, request: &VoteRequest) {
    put_varint(sink, request.last_log_index);
    put_varint(sink, request.last_log_term);
    let mut flags = 0;
    if request.leadership_transfer {
        flags |= VOTE_FLAG_LEADERSHIP_TRANSFER;
    }
    sink.put_byte(flags);
}

fn encode_append(sink: &mut impl Sink, request: &AppendRequest) {
    put_varint(sink, request.prev_log_index);
    put_varint(sink, request.prev_log_term);
    put_varint(sink, request.leader_commit);
    put_varint(sink, request.entries.len() as u64);
    for entry in &request.entries {
        put_varint(sink, entry.index);
        put_varint(sink, entry.term);
        match &entry.payload {
            EntryPayload::Noop => sink.put_byte(payload::NOOP),
            EntryPayload::Command(data) => {
                sink.put_byte(payload::COMMAND);
                put_length_prefixed(sink, data);
            }
            EntryPayload::Membership(membership) => {
                sink.put_byte(payload::MEMBERSHIP);
                put_membership(sink, membership);
            }
        }
    }
}

fn encode_append_response(sink: &mut impl Sink, response: &AppendResponse) {
    match *response {
        AppendResponse::Accepted { match_index } => {
            sink.put_byte(append_response::ACCEPTED);
            put_varint(sink, match_index);
        }
        AppendResponse::Rejected {
            rejected_index,
            hint_index,
            hint_term,
        } => {
            sink.put_byte(append_response::REJECTED);
            put_varint(sink, rejected_index);
            put_varint(sink, hint_index);
            put_varint(sink, hint_term);
        }
    }
}

fn put_ids(sink: &mut impl Sink, ids: &[u64]) {
    put_varint(sink, ids.len() as u64);
    for &id in ids {
        put_varint(sink, id);
    }
}

fn put_membership(sink: &mut impl Sink, membership: &Membership) {
    put_id_set(sink, &membership.voters);
    put_id_set(sink, &membership.outgoing_voters);
    put_id_set(sink, &membership.learners);
}

fn put_id_set(sink: &mut impl Sink, ids: &BTreeSet<NodeId>) {
    put_varint(sink, ids.len() as u64);
    for &id in ids {
        put_varint(sink, id);
    }
}

/// Reads one message, checking every length, tag and count; see
/// [`super::decode`].
pub(crate) fn decode(input: &Bytes, limits: &DecodeLimits) -> Result<Message, DecodeError> {
    let mut decoder = Decoder {
        reader: Reader::new(input),
        items_left: limits.max_items_per_message,
    };
    let version = decoder.reader.byte("version")?;
    if version != VERSION {
        return Err(DecodeError::UnsupportedVersion {
            version,
            supported: VERSION,
        });
    }
    let tag = decoder.reader.byte("message kind")?;
    let from = decoder.reader.varint("from")?;
    let to = decoder.reader.varint("to")?;
    let term = decoder.reader.varint("term")?;
    let body = decoder.body(tag)?;
    decoder.reader.finish()?;
    Ok(Message {
        from,
        to,
        term,
        body,
    })
}

/// A reader plus the item budget shared by every repeated field.
struct Decoder<'a> {
    reader: Reader<'a>,
    items_left: usize,
}

impl Decoder<'_> {
    fn body(&mut self, tag: u8) -> Result<MessageBody, DecodeError> {
        Ok(match tag {
            kind::PRE_VOTE => MessageBody::PreVote(self.vote_request()?),
            kind::PRE_VOTE_RESPONSE => MessageBody::PreVoteResponse(self.vote_response()?),
            kind::VOTE => MessageBody::Vote(self.vote_request()?),
            kind::VOTE_RESPONSE => MessageBody::VoteResponse(self.vote_response()?),
            kind::APPEND => MessageBody::Append(self.append()?),
            kind::APPEND_RESPONSE => MessageBody::AppendResponse(self.append_response()?),
            kind::HEARTBEAT => MessageBody::Heartbeat(Heartbeat {
                commit: self.reader.varint("heartbeat commit")?,
                round: self.reader.varint("heartbeat round")?,
            }),
            kind::HEARTBEAT_RESPONSE => MessageBody::HeartbeatResponse(HeartbeatResponse {
                round: self.reader.varint("heartbeat response round")?,
            }),
            kind::READ_INDEX => MessageBody::ReadIndex(ReadIndexRequest {
                request_ids: self.ids("read request ids")?,
            }),
            kind::READ_INDEX_RESPONSE => {
                MessageBody::ReadIndexResponse(self.read_index_response()?)
            }
            kind::TIMEOUT_NOW => MessageBody::TimeoutNow,
            kind::INSTALL_SNAPSHOT => MessageBody::InstallSnapshot(self.install_snapshot()?),
            kind::INSTALL_SNAPSHOT_RESPONSE => {
                MessageBody::InstallSnapshotResponse(InstallSnapshotResponse {
                    snapshot_index: self.reader.varint("snapshot index")?,
                    next_offset: self.reader.varint("next offset")?,
                    installed: self.reader.bool("installed")?,
                })
            }
            kind::REMOVED => MessageBody::Removed(RemovalNotice {
                committed_index: self.reader.varint("removal notice index")?,
                committed_term: self.reader.varint("removal notice term")?,
                leader: Some(self.reader.varint("removal notice leader")?)
                    .filter(|&leader| leader != 0),
            }),
            tag => {
                return Err(DecodeError::UnknownTag {
                    what: "message kind",
                    tag,
                });
            }
        })
    }

    fn vote_request(&mut self) -> Result<VoteRequest, DecodeError> {
        let last_log_index = self.reader.varint("last log index")?;
        let last_log_term = self.reader.varint("last log term")?;
        let flags = self.reader.byte("vote flags")?;
        if flags & !VOTE_FLAG_LEADERSHIP_TRANSFER != 0 {
            return Err(DecodeError::InvalidValue {
                field: "vote flags",
                value: u64::from(flags),
            });
        }
        Ok(VoteRequest {
            last_log_index,
            last_log_term,
            leadership_transfer: flags & VOTE_FLAG_LEADERSHIP_TRANSFER != 0,
        })
    }

    fn vote_response(&mut self) -> Result<VoteResponse, DecodeError> {
        Ok(VoteResponse {
            granted: self.reader.bool("vote granted")?,
        })
    }

    fn append(&mut self) -> Result<AppendRequest, DecodeError> {
        let prev_log_index = self.reader.varint("prev log index")?;
        let prev_log_term = self.reader.varint("prev log term")?;
        let leader_commit = self.reader.varint("leader commit")?;
        let count = self.count("entries", MIN_ENTRY_BYTES)?;
        let mut entries = Vec::with_capacity(count);
        for _ in 0..count {
            entries.push(self.entry()?);
        }
        Ok(AppendRequest {
            prev_log_index,
            prev_log_term,
            entries,
            leader_commit,
        })
    }

    fn entry(&mut self) -> Result<Entry, DecodeError> {
        let index = self.reader.varint("entry index")?;
        let term = self.reader.varint("entry term")?;
        let payload = match self.reader.byte("entry payload kind")? {
            payload::NOOP => EntryPayload::Noop,
            payload::COMMAND => EntryPayload::Command(self.reader.length_prefixed("command")?),
            payload::MEMBERSHIP => EntryPayload::Membership(self.membership()?),
            tag => {
                return Err(DecodeError::UnknownTag {
                    what: "entry payload kind",
                    tag,
                });
            }
        };
        Ok(Entry {
            index,
            term,
            payload,
        })
    }

    fn install_snapshot(&mut self) -> Result<InstallSnapshotRequest, DecodeError> {
        let meta = SnapshotMeta {
            index: self.reader.varint("snapshot index")?,
            term: self.reader.varint("snapshot term")?,
            membership: self.membership()?,
        };
        let data_bytes = self.reader.varint("snapshot data bytes")?;
        let crc32c = self.reader.varint("snapshot CRC32C")?;
        let crc32c = u32::try_from(crc32c).map_err(|_| DecodeError::InvalidValue {
            field: "snapshot CRC32C",
            value: crc32c,
        })?;
        Ok(InstallSnapshotRequest {
            meta,
            content: SnapshotContent { data_bytes, crc32c },
            offset: self.reader.varint("snapshot offset")?,
            data: self.reader.length_prefixed("snapshot chunk")?,
            done: self.reader.bool("snapshot done")?,
        })
    }

    fn membership(&mut self) -> Result<Membership, DecodeError> {
        Ok(Membership {
            voters: self.id_set("voters")?,
            outgoing_voters: self.id_set("outgoing voters")?,
            learners: self.id_set("learners")?,
        })
    }

    fn append_response(&mut self) -> Result<AppendResponse, DecodeError> {
        match self.reader.byte("append response kind")? {
            append_response::ACCEPTED => Ok(AppendResponse::Accepted {
                match_index: self.reader.varint("match index")?,
            }),
            append_response::REJECTED => Ok(AppendResponse::Rejected {
                rejected_index: self.reader.varint("rejected index")?,
                hint_index: self.reader.varint("hint index")?,
                hint_term: self.reader.varint("hint term")?,
            }),
            tag => Err(DecodeError::UnknownTag {
                what: "append response kind",
                tag,
            }),
        }
    }

    fn read_index_response(&mut self) -> Result<ReadIndexResponse, DecodeError> {
        let request_ids = self.ids("read request ids")?;
        let read_index = match self.reader.byte("read index presence")? {
            0 => None,
            1 => Some(self.reader.varint("read index")?),
            value => {
                return Err(DecodeError::InvalidValue {
                    field: "read index presence",
                    value: u64::from(value),
                });
            }
        };
        Ok(ReadIndexResponse {
            request_ids,
            read_index,
        })
    }

    /// A count, charged to the message's item budget.
    fn count(&mut self, field: &'static str, min_item_bytes: usize) -> Result<usize, DecodeError> {
        let count = self.reader.count(field, min_item_bytes, self.items_left)?;
        self.items_left -= count;
        Ok(count)
    }

    fn ids(&mut self, field: &'static str) -> Result<Vec<u64>, DecodeError> {
        let count = self.count(field, MIN_ID_BYTES)?;
        let mut ids = Vec::with_capacity(count);
        for _ in 0..count {
            ids.push(self.reader.varint(field)?);
        }
        Ok(ids)
    }

    /// A set, written in ascending order without repeats; anything else is
    /// refused so that every set has exactly one encoding.
    fn id_set(&mut self, field: &'static str) -> Result<BTreeSet<NodeId>, DecodeError> {
        let count = self.count(field, MIN_ID_BYTES)?;
        let mut ids = BTreeSet::new();
        let mut previous = None;
        for _ in 0..count {
            let id = self.reader.varint(field)?;
            if previous.is_some_and(|previous| id <= previous) {
                return Err(DecodeError::NotAscending { field });
            }
            previous = Some(id);
            ids.insert(id);
        }
        Ok(ids)
    }
}
