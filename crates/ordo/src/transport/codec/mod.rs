//! The wire encoding of Raft messages, shared by the TCP and gRPC transports.
//!
//! **Not API.** This module is public only so that the transports' own
//! tests and the end-to-end tests can forge and inspect bytes; it is hidden
//! from the docs, left out of the public-API snapshot, and may change in any
//! release (peers agree on its version number, not on Rust's semver).
//! Applications use [`ClusterId`](crate::transport::ClusterId) and the
//! transports.
//!
//! # Why hand-written
//! A serde format (bincode, postcard) would encode `ordo_core::Message`
//! through its derives in a few lines, but it would tie the wire format to
//! the Rust declarations: a variant's number would be its position in the
//! enum, so reordering or inserting a variant would silently change what old
//! bytes mean; `Bytes` payloads would be copied out of the receive buffer; and
//! a length field could make the decoder reserve memory before checking that
//! the bytes exist. Writing the format by hand costs ~300 lines and buys:
//! - **Explicit, stable tags.** Every variant's tag is a named constant in
//!   `message.rs`. Encoding matches every variant with no wildcard, so a new
//!   `MessageBody` or `EntryPayload` variant does not compile until it has a
//!   tag; an old node that receives the new tag refuses the message with
//!   [`DecodeError::UnknownTag`] instead of misreading it.
//! - **Zero-copy payloads.** Decoding slices command payloads out of the
//!   received frame ([`Bytes::slice`]), snapshot chunks too; encoding into a
//!   [`FrameBatch`] hands large payloads to the socket by reference.
//! - **Bounded decoding.** Every count is checked against the bytes left and
//!   against [`DecodeLimits`] before anything is reserved; every length before
//!   it is sliced. Arbitrary input yields an error, never a panic (property
//!   tested in `tests/transport_codec.rs`).
//!
//! # Message layout, version 2
//! Integers are unsigned LEB128 varints unless marked `u8`.
//!
//! ```text
//! message  = version:u8(=2) kind:u8 from to term body
//! body     = PreVote/Vote (kind 1/3):  last_log_index last_log_term flags:u8
//!                                      (bit 0: leadership transfer; others 0)
//!          | PreVoteResponse/VoteResponse (2/4): granted:u8 (0 or 1)
//!          | Append (5):          prev_log_index prev_log_term leader_commit
//!                                 count entry*count
//!          | AppendResponse (6):  0:u8 match_index
//!                               | 1:u8 rejected_index hint_index hint_term
//!          | Heartbeat (7):       commit round
//!          | HeartbeatResponse (8): round
//!          | ReadIndex (9):       count request_id*count
//!          | ReadIndexResponse (10): count request_id*count
//!                                 (0:u8 | 1:u8 read_index)
//!          | TimeoutNow (11):     (nothing)
//!          | InstallSnapshot (12): index term membership
//!                                 data_bytes crc32c (the whole snapshot's
//!                                 content; crc32c at most 2^32-1)
//!                                 offset length bytes (chunk) done:u8 (0 or 1)
//!          | InstallSnapshotResponse (13): snapshot_index next_offset
//!                                 installed:u8 (0 or 1)
//!          | Removed (14):        committed_index committed_term leader
//!                                 (0: no leader known)
//!                                 (added later in version 1: an older
//!                                 node refuses the unknown tag, and a
//!                                 removed node then only keeps asking)
//! entry    = index term payload
//! payload  = 0:u8 (noop) | 1:u8 length bytes (command)
//!          | 2:u8 membership
//! membership = ids(voters) ids(outgoing_voters) ids(learners)
//! ids      = count id*count, strictly ascending
//! ```
//!
//! Version 2 added the snapshot content to InstallSnapshot: a transfer must
//! not resume onto another snapshot's bytes, and a version-1 chunk cannot
//! say which bytes it belongs to. So version 1 is no longer spoken: a node
//! of an older build is refused at the handshake ("no common protocol
//! version") rather than sent chunks it would splice.
//!
//! A decoded message must use every byte it was given. The version byte
//! leads every message so that a later encoding can change anything after it;
//! a node refuses versions it does not know with
//! [`DecodeError::UnsupportedVersion`]. Which version two nodes use is agreed
//! in the connection [`handshake`].
//!
//! # Frames (TCP)
//! On a TCP connection each handshake message and each Raft message is one
//! frame: a 4-byte big-endian payload length, then the payload (see
//! [`frame`]). A frame of length 0 is a keepalive.

pub mod frame;
pub mod handshake;
mod message;
mod wire;

use bytes::{Bytes, BytesMut};
use ordo_core::Message;
use thiserror::Error;

pub use frame::{FRAME_HEADER_BYTES, FrameBatch, FrameTooLarge};
pub use handshake::PROTOCOL_VERSION;

/// The message encoding version this build writes (and the only one it reads).
pub const VERSION: u8 = 2;

/// Bounds on what [`decode`] will build from one message, beyond the bytes it
/// was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Most items in one message, over all its repeated fields together:
    /// entries, request ids and membership ids. A decoded entry takes about
    /// 16 times the memory of its smallest encoding, so this bounds the memory
    /// a small frame full of tiny entries can claim.
    pub max_items_per_message: usize,
}

impl Default for DecodeLimits {
    /// 65 536 items: sixteen times the core's default
    /// `max_entries_per_message`.
    fn default() -> Self {
        DecodeLimits {
            max_items_per_message: 1 << 16,
        }
    }
}

/// Why bytes could not be decoded. Every variant means the sender is broken
/// or hostile (or speaks a version this node does not): the receiving
/// transport drops the connection.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The input ended inside a field (or a count promised more than is left).
    #[error("input ends early, in {field}")]
    Truncated {
        /// The field being read.
        field: &'static str,
    },
    /// The message is in an encoding this node does not know.
    #[error(
        "message encoding version {version} is not supported (this node reads version {supported})"
    )]
    UnsupportedVersion {
        /// The version found.
        version: u8,
        /// The version this node reads.
        supported: u8,
    },
    /// A tag names no known variant (possibly one added by a newer version).
    #[error("unknown {what} tag {tag}")]
    UnknownTag {
        /// Which kind of tag.
        what: &'static str,
        /// Its value.
        tag: u8,
    },
    /// A varint is longer than 10 bytes, overflows 64 bits, or has needless
    /// trailing zero groups.
    #[error("invalid varint in {field}")]
    InvalidVarint {
        /// The field being read.
        field: &'static str,
    },
    /// A field holds a value outside its range.
    #[error("invalid value {value} in {field}")]
    InvalidValue {
        /// The field.
        field: &'static str,
        /// The value.
        value: u64,
    },
    /// A message claims more items than [`DecodeLimits`] allow.
    #[error("{count} {field} exceed the limit of {max} items per message")]
    TooManyItems {
        /// The field whose count broke the budget.
        field: &'static str,
        /// The count claimed.
        count: u64,
        /// Items the budget had left.
        max: usize,
    },
    /// A set's ids are not strictly ascending.
    #[error("{field} are not strictly ascending")]
    NotAscending {
        /// The field.
        field: &'static str,
    },
    /// Bytes are left over after a complete message.
    #[error("{bytes} bytes left over after the message")]
    TrailingBytes {
        /// How many.
        bytes: usize,
    },
    /// A handshake does not start with [`handshake::HANDSHAKE_MAGIC`].
    #[error("not an Ordo handshake (bad magic)")]
    BadMagic,
}

/// Encodes `message` into one contiguous buffer.
pub fn encode(message: &Message) -> Bytes {
    let mut out = BytesMut::with_capacity(encoded_len(message));
    encode_into(message, &mut out);
    out.freeze()
}

/// Appends the encoding of `message` to `out`.
pub fn encode_into(message: &Message, out: &mut BytesMut) {
    message::encode(out, message);
}

/// The size of `message`'s encoding, in bytes, without encoding it.
pub fn encoded_len(message: &Message) -> usize {
    let mut counter = Counter(0);
    message::encode(&mut counter, message);
    counter.0
}

/// Decodes one message from all of `input`. Command payloads in the result
/// are slices of `input`, not copies.
///
/// # Errors
/// [`DecodeError`] for anything but exactly one well-formed message within
/// `limits`.
pub fn decode(input: &Bytes, limits: &DecodeLimits) -> Result<Message, DecodeError> {
    message::decode(input, limits)
}

/// A sink that only counts.
struct Counter(usize);

impl wire::Sink for Counter {
    fn put_byte(&mut self, _byte: u8) {
        self.0 += 1;
    }

    fn put_slice(&mut self, bytes: &[u8]) {
        self.0 += bytes.len();
    }
}
