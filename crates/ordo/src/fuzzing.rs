//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`).
//!
//! **For fuzz targets only; not API.** Hidden from the docs, absent from
//! the public-API snapshot (which is taken without this feature), and free
//! to change in any release. It reaches decoders that are private to the
//! crate (the TCP frame reader, the runtime's envelope and snapshot header,
//! WAL records) and checks, by assertion, what must hold of them beyond "no
//! panic": a decoded value re-encodes to bytes that decode to the same
//! value. A failed assertion here is a bug in the decoder, found by the
//! fuzzer.
//!
//! Decoders that are public already (the message codec and the handshake
//! in [`crate::transport::codec`], [`crate::storage::WalLogStore`] and
//! [`crate::storage::SnapshotStore`] opening files) are fuzzed through
//! their public API, not from here.

use std::collections::BTreeMap;
use std::io::{self, Cursor};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use ordo_core::{Entry, NodeId};

use crate::runtime::MemberInfo;
use crate::runtime::envelope::{self, Payload, SnapshotHeader};
use crate::storage::wal::record::{self, Parsed, Record, RecordWriter};
use crate::transport::tcp::io::{FrameReader, ReadError};

/// How a stream of frames ended, as the TCP transport's frame reader saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameStreamEnd {
    /// The stream ended cleanly between frames.
    Closed,
    /// The stream ended inside a frame.
    Truncated {
        /// Bytes of the frame (header included) received.
        received: usize,
        /// Bytes the frame needed.
        expected: usize,
    },
    /// A frame header announced more than the limit.
    Oversized {
        /// The length announced.
        bytes: usize,
    },
}

/// Reads `stream` with the TCP transport's frame reader, the bytes arriving
/// in reads of the sizes `read_sizes` gives in turn (cycled; a size of 0
/// counts as 1). Returns the frames read and how the stream ended.
///
/// # Panics
/// If the reader waits although every byte is ready (it would hang on a
/// real socket), or fails with an I/O error it was never given.
pub fn read_frames_split(
    stream: &[u8],
    read_sizes: &[usize],
    max_frame_bytes: usize,
) -> (Vec<Bytes>, FrameStreamEnd) {
    let source = SplitReader {
        bytes: stream,
        read_sizes,
        next_size: 0,
    };
    let mut reader = FrameReader::new(source, None);
    let mut frames = Vec::new();
    loop {
        let read = reader.next_frame(max_frame_bytes);
        let mut read = std::pin::pin!(read);
        let mut context = Context::from_waker(Waker::noop());
        let Poll::Ready(result) = read.as_mut().poll(&mut context) else {
            panic!("the frame reader waits although the whole stream is ready");
        };
        match result {
            Ok(frame) => frames.push(frame),
            Err(ReadError::Closed) => return (frames, FrameStreamEnd::Closed),
            Err(ReadError::Truncated { received, expected }) => {
                return (frames, FrameStreamEnd::Truncated { received, expected });
            }
            Err(ReadError::Oversized { bytes, .. }) => {
                return (frames, FrameStreamEnd::Oversized { bytes });
            }
            Err(error @ (ReadError::Idle(_) | ReadError::Io(_))) => {
                panic!("the frame reader failed with an error it was not given: {error}")
            }
        }
    }
}

/// An in-memory byte source that hands out its bytes in reads of chosen
/// sizes, the way a socket splits a stream.
struct SplitReader<'a> {
    bytes: &'a [u8],
    read_sizes: &'a [usize],
    next_size: usize,
}

impl tokio::io::AsyncRead for SplitReader<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _context: &mut Context<'_>,
        buffer: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let size = match self.read_sizes {
            [] => usize::MAX,
            sizes => sizes[self.next_size % sizes.len()].max(1),
        };
        self.next_size = self.next_size.wrapping_add(1);
        let count = size.min(buffer.remaining()).min(self.bytes.len());
        let (now, later) = self.bytes.split_at(count);
        buffer.put_slice(now);
        self.bytes = later;
        Poll::Ready(Ok(()))
    }
}

/// What a command entry's bytes hold, by the runtime's envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Envelope {
    /// The application's command, still encoded.
    Command(Vec<u8>),
    /// Member information to learn.
    Members(BTreeMap<NodeId, MemberInfo>),
    /// Neither: every node skips it alike.
    Unknown,
}

/// Opens a command entry's envelope, as the apply stage does; a members
/// entry is checked to re-seal into bytes that open to the same members.
///
/// # Panics
/// If the round trip fails.
pub fn open_envelope(bytes: &[u8]) -> Envelope {
    match envelope::open(bytes) {
        Payload::Command(command) => Envelope::Command(command.to_vec()),
        Payload::Unknown(_) => Envelope::Unknown,
        Payload::Members(members) => {
            let sealed = envelope::seal_members(&members)
                .unwrap_or_else(|error| panic!("decoded members do not re-encode: {error}"));
            let Payload::Members(reopened) = envelope::open(&sealed) else {
                panic!("re-sealed members do not open as members: {members:?}");
            };
            assert_eq!(reopened, members, "members change in a round trip");
            Envelope::Members(members)
        }
    }
}

/// Reads the runtime's header at the start of a snapshot's data, as a
/// restarting or receiving node does; returns the members and where the
/// state machine's bytes start. What is read is checked to re-encode into a
/// header that reads the same.
///
/// # Errors
/// The reader's error: the bytes do not start with a valid header.
///
/// # Panics
/// If the round trip fails.
pub fn read_snapshot_header(bytes: &[u8]) -> io::Result<(BTreeMap<NodeId, MemberInfo>, usize)> {
    let mut input = Cursor::new(bytes);
    let header = envelope::read_snapshot_header(&mut input)?;
    let data_start = usize::try_from(input.position()).unwrap_or(usize::MAX);
    let members = header.into_members();
    let mut rewritten = Vec::new();
    envelope::write_snapshot_header(&mut rewritten, &SnapshotHeader::new(members.clone()))
        .unwrap_or_else(|error| panic!("a header read does not re-encode: {error}"));
    let reread = envelope::read_snapshot_header(&mut Cursor::new(&rewritten[..]))
        .unwrap_or_else(|error| panic!("a re-encoded header does not read: {error}"));
    assert_eq!(
        reread.into_members(),
        members,
        "a header changes in a round trip"
    );
    Ok((members, data_start))
}

/// Reads the WAL records at the start of `bytes` (a segment's records,
/// after its header) until the first invalid one, as recovery does, and
/// checks that each decoded record re-encodes to a record that decodes the
/// same. Returns how many records decoded.
///
/// Checksums are recomputed first when `fix_checksums` is set, so that the
/// fuzzer reaches the body decoders instead of stopping at the checksum.
///
/// # Panics
/// If a round trip fails.
pub fn check_wal_records(bytes: &[u8], fix_checksums: bool) -> usize {
    let mut bytes = bytes.to_vec();
    let mut offset = 0;
    let mut decoded = 0;
    while offset < bytes.len() {
        if fix_checksums {
            fix_record_checksum(&mut bytes[offset..]);
        }
        let Parsed::Record {
            record_type,
            body,
            total_bytes,
        } = record::parse(&bytes[offset..])
        else {
            break;
        };
        let Ok(decoded_record) = record::decode(record_type, body) else {
            break;
        };
        check_record_round_trip(record_type, body, &decoded_record);
        decoded += 1;
        offset += total_bytes;
    }
    decoded
}

/// Checks that a WAL segment header decodes, re-encodes and decodes the same.
///
/// # Panics
/// If the round trip fails.
pub fn check_wal_segment_header(bytes: &[u8]) {
    let Ok((header, length)) = record::decode_header(bytes) else {
        return;
    };
    let encoded = record::encode_header(&header);
    assert_eq!(
        encoded.len(),
        length,
        "a header re-encodes to another length"
    );
    assert_eq!(
        encoded,
        bytes[..length],
        "a header re-encodes to other bytes"
    );
}

fn fix_record_checksum(record: &mut [u8]) {
    let Some(body_bytes) = record::declared_body_bytes(record) else {
        return;
    };
    let total_bytes = record::RECORD_HEADER_BYTES as u64 + u64::from(body_bytes);
    let Ok(total_bytes) = usize::try_from(total_bytes) else {
        return;
    };
    if total_bytes > record.len() {
        return;
    }
    let crc = crc32c::crc32c_append(
        crc32c::crc32c(&body_bytes.to_le_bytes()),
        &record[8..total_bytes],
    );
    record[4..8].copy_from_slice(&crc.to_le_bytes());
}

fn check_record_round_trip(record_type: u8, body: &[u8], decoded: &Record) {
    let mut writer = RecordWriter::default();
    match decoded {
        Record::Entry { .. } => {
            let entry: Entry = record::decode_entry(body)
                .unwrap_or_else(|error| panic!("an entry record decodes only in part: {error:?}"));
            writer.entry(&entry);
            let Parsed::Record { body, .. } = record::parse(&writer.bytes) else {
                panic!("a re-encoded entry does not parse");
            };
            assert_eq!(
                record::decode_entry(body).ok(),
                Some(entry),
                "an entry changes in a round trip"
            );
            return;
        }
        Record::HardState(hard_state) => writer.hard_state(*hard_state),
        Record::Truncate { from } => writer.truncate(*from),
        Record::Compact { through, term } => writer.compact(*through, *term),
        Record::Reset { index, term } => writer.reset(*index, *term),
    }
    let Parsed::Record {
        record_type: rewritten_type,
        body: rewritten_body,
        ..
    } = record::parse(&writer.bytes)
    else {
        panic!("a re-encoded record does not parse");
    };
    assert_eq!(rewritten_type, record_type, "a record changes type");
    assert_eq!(
        record::decode(rewritten_type, rewritten_body).ok().as_ref(),
        Some(decoded),
        "a record changes in a round trip"
    );
}
