//! The on-disk encoding of the write-ahead log, by hand: little-endian fixed
//! fields and length-prefixed bodies.
//!
//! ```text
//! segment  := header record*
//! header   := magic "ORDOWAL\0" (8) | format version u32 | segment seq u64
//!           | start index u64 (last index + 1 when the segment was created)
//!           | [version 2 only: cluster id length u8 (1..=64) | cluster id bytes]
//!           | CRC32C of every header byte before it u32
//!             (version 1: 32 bytes; version 2: 33 + id length, at most 97)
//! record   := body length u32 | CRC32C(length ++ type ++ body) u32 | type u8 | body
//! body     := Entry:     index u64 | term u64 | payload tag u8 | payload bytes
//!           | HardState: term u64 | has vote u8 | voted for u64
//!           | Truncate:  from index u64
//!           | Compact:   through index u64 | term u64
//!           | Reset:     index u64 | term u64
//! ```
//!
//! The checksum covers the length, so a flipped length bit is caught too. Unknown
//! record types and payload tags (a newer writer) are refused, never skipped.
//!
//! A segment of a log with a cluster id gets a version 2 header, which names
//! the cluster; one without (a library user who set none) the version 1
//! header, byte for byte what builds before cluster ids wrote, which they
//! can still read. Both versions are read: a version 1 segment carries no id.

use bytes::Bytes;
use std::collections::BTreeSet;

use ordo_core::{Entry, EntryPayload, HardState, Index, Membership, NodeId, Term};

/// Bytes at the start of every segment file.
pub(crate) const SEGMENT_MAGIC: [u8; 8] = *b"ORDOWAL\0";
/// The header format without a cluster id (and of builds before ids).
pub(crate) const FORMAT_VERSION_WITHOUT_CLUSTER_ID: u32 = 1;
/// The newest header format this build reads and writes: with a cluster id.
pub(crate) const FORMAT_VERSION: u32 = 2;
/// Length of the shortest segment header (version 1).
pub(crate) const SEGMENT_HEADER_BYTES_MIN: usize = 32;
/// Longest cluster id a segment header holds.
pub(crate) const CLUSTER_ID_BYTES_MAX: usize = 64;
/// Length of the longest segment header (version 2, longest id).
pub(crate) const SEGMENT_HEADER_BYTES_MAX: usize = HEADER_ID_AT + CLUSTER_ID_BYTES_MAX + 4;
/// Where a version 2 header's id length byte is (after the fixed fields).
const HEADER_ID_LENGTH_AT: usize = 28;
/// Where a version 2 header's id bytes start.
const HEADER_ID_AT: usize = HEADER_ID_LENGTH_AT + 1;
/// Length of a record's header (length, checksum, type).
pub(crate) const RECORD_HEADER_BYTES: usize = 9;
/// Largest record body accepted, a sanity bound for garbage lengths.
pub(crate) const RECORD_BODY_BYTES_MAX: u64 = 1 << 30;

const TYPE_ENTRY: u8 = 1;
const TYPE_HARD_STATE: u8 = 2;
const TYPE_TRUNCATE: u8 = 3;
const TYPE_COMPACT: u8 = 4;
const TYPE_RESET: u8 = 5;

const PAYLOAD_NOOP: u8 = 0;
const PAYLOAD_COMMAND: u8 = 1;
/// A configuration entry: voters, outgoing voters and learners, each as a
/// u32 count followed by that many u64 node ids (little-endian).
const PAYLOAD_MEMBERSHIP: u8 = 2;

/// Fixed part of an entry body, before the payload bytes.
const ENTRY_FIXED_BYTES: usize = 17;

/// The smallest entry record (a no-op): recovery bounds how many entries cut
/// bytes could have held by dividing by it.
pub(crate) const ENTRY_RECORD_BYTES_MIN: u64 = (RECORD_HEADER_BYTES + ENTRY_FIXED_BYTES) as u64;

/// A decoded segment header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SegmentHeader {
    pub(crate) seq: u64,
    pub(crate) start_index: Index,
    /// The cluster the segment belongs to; empty: none recorded (a version 1
    /// header). At most [`CLUSTER_ID_BYTES_MAX`] bytes.
    pub(crate) cluster_id: Vec<u8>,
}

/// Why a segment header is unusable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum HeaderError {
    /// Valid header of another format version.
    Version(u32),
    /// Too short, wrong magic or bad checksum.
    Invalid(&'static str),
}

/// The header bytes for `header`: version 2 if it names a cluster, else
/// version 1.
///
/// # Panics
/// If the cluster id is longer than [`CLUSTER_ID_BYTES_MAX`] (the store's
/// configuration is checked at open).
pub(crate) fn encode_header(header: &SegmentHeader) -> Vec<u8> {
    let id = &header.cluster_id;
    assert!(
        id.len() <= CLUSTER_ID_BYTES_MAX,
        "a cluster id of {} bytes passed the configuration check",
        id.len()
    );
    let version = match id.is_empty() {
        true => FORMAT_VERSION_WITHOUT_CLUSTER_ID,
        false => FORMAT_VERSION,
    };
    let mut bytes = Vec::with_capacity(SEGMENT_HEADER_BYTES_MAX);
    bytes.extend_from_slice(&SEGMENT_MAGIC);
    bytes.extend_from_slice(&version.to_le_bytes());
    bytes.extend_from_slice(&header.seq.to_le_bytes());
    bytes.extend_from_slice(&header.start_index.to_le_bytes());
    if !id.is_empty() {
        // At most 64, checked above.
        bytes.push(id.len() as u8);
        bytes.extend_from_slice(id);
    }
    let crc = crc32c::crc32c(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    bytes
}

/// Decodes the segment header at the start of `bytes`; returns it and its
/// length (where the first record starts).
pub(crate) fn decode_header(bytes: &[u8]) -> Result<(SegmentHeader, usize), HeaderError> {
    if bytes.len() < SEGMENT_HEADER_BYTES_MIN {
        return Err(HeaderError::Invalid("the segment header is incomplete"));
    }
    if bytes[0..8] != SEGMENT_MAGIC {
        return Err(HeaderError::Invalid(
            "the segment header has the wrong magic number",
        ));
    }
    let version = read_u32(bytes, 8);
    let header_bytes = match version {
        FORMAT_VERSION_WITHOUT_CLUSTER_ID => SEGMENT_HEADER_BYTES_MIN,
        FORMAT_VERSION => {
            let id_bytes = usize::from(bytes[HEADER_ID_LENGTH_AT]);
            // A version 2 header always names an id (a log without one is
            // written as version 1), so an empty one is damage or forgery:
            // read as "no id", it would fit any cluster.
            if id_bytes == 0 || id_bytes > CLUSTER_ID_BYTES_MAX {
                return Err(HeaderError::Invalid(
                    "the segment header's cluster id length is implausible",
                ));
            }
            HEADER_ID_AT + id_bytes + 4
        }
        // Another version's layout is unknown; it is reported as such only
        // if a known layout's checksum vouches for the version field, so a
        // flipped version bit reads as damage.
        other
            if has_valid_checksum(bytes, SEGMENT_HEADER_BYTES_MIN)
                || has_valid_checksum(bytes, version_2_bytes(bytes)) =>
        {
            return Err(HeaderError::Version(other));
        }
        _ => {
            return Err(HeaderError::Invalid(
                "the segment header checksum does not match",
            ));
        }
    };
    if bytes.len() < header_bytes {
        return Err(HeaderError::Invalid("the segment header is incomplete"));
    }
    if !has_valid_checksum(bytes, header_bytes) {
        return Err(HeaderError::Invalid(
            "the segment header checksum does not match",
        ));
    }
    let cluster_id = match version {
        FORMAT_VERSION => bytes[HEADER_ID_AT..header_bytes - 4].to_vec(),
        _ => Vec::new(),
    };
    let header = SegmentHeader {
        seq: read_u64(bytes, 12),
        start_index: read_u64(bytes, 20),
        cluster_id,
    };
    Ok((header, header_bytes))
}

/// Whether the `header_bytes` long header at the start of `bytes` ends with
/// the checksum of the bytes before it.
fn has_valid_checksum(bytes: &[u8], header_bytes: usize) -> bool {
    bytes.len() >= header_bytes
        && crc32c::crc32c(&bytes[..header_bytes - 4]) == read_u32(bytes, header_bytes - 4)
}

/// How long the segment header at the start of `bytes` says it is, as far
/// as its fields are there (the shortest header if they are not, or if its
/// id length is implausible): a file shorter than this holds a header never
/// completely written. (One flipped bit in a whole header cannot make it
/// claim more than its file holds: a written id is never empty, so a
/// plausible length grows by at most 32, less than the 51 bytes of head
/// records after the header.)
pub(crate) fn header_bytes_claimed(bytes: &[u8]) -> usize {
    let is_version_2 = bytes.len() > HEADER_ID_LENGTH_AT && read_u32(bytes, 8) == FORMAT_VERSION;
    match is_version_2 {
        true => version_2_bytes(bytes),
        false => SEGMENT_HEADER_BYTES_MIN,
    }
}

/// The length of a version 2 header with the id length byte of `bytes`
/// (which must be there), or the shortest header's if that is implausible.
fn version_2_bytes(bytes: &[u8]) -> usize {
    match usize::from(bytes[HEADER_ID_LENGTH_AT]) {
        id_bytes if (1..=CLUSTER_ID_BYTES_MAX).contains(&id_bytes) => HEADER_ID_AT + id_bytes + 4,
        _ => SEGMENT_HEADER_BYTES_MIN,
    }
}

/// One decoded record. Entry payloads are not copied until asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Record {
    Entry { index: Index, term: Term },
    HardState(HardState),
    Truncate { from: Index },
    Compact { through: Index, term: Term },
    Reset { index: Index, term: Term },
}

/// Why a record body with a valid checksum cannot be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// A record type this build does not know.
    UnknownRecordType(u8),
    /// An entry payload tag this build does not know.
    UnknownPayloadTag(u8),
    /// The body has the wrong length for its type.
    Malformed(&'static str),
}

/// The outcome of reading one record from a byte slice.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parsed<'a> {
    /// A whole record with a valid checksum.
    Record {
        record_type: u8,
        body: &'a [u8],
        total_bytes: usize,
    },
    /// The slice is empty: a clean end.
    End,
    /// Not a valid record here (torn or damaged), for the reason given.
    Bad(&'static str),
}

/// Reads the record at the start of `bytes`.
pub(crate) fn parse(bytes: &[u8]) -> Parsed<'_> {
    if bytes.is_empty() {
        return Parsed::End;
    }
    if bytes.len() < RECORD_HEADER_BYTES {
        return Parsed::Bad("the record header is incomplete");
    }
    let body_bytes = read_u32(bytes, 0) as u64;
    if body_bytes > RECORD_BODY_BYTES_MAX {
        return Parsed::Bad("the record length is implausible");
    }
    let total_bytes = RECORD_HEADER_BYTES + body_bytes as usize;
    if bytes.len() < total_bytes {
        return Parsed::Bad("the record extends past the end of the file");
    }
    if record_checksum(read_u32(bytes, 0), &bytes[8..total_bytes]) != read_u32(bytes, 4) {
        return Parsed::Bad("the record checksum does not match");
    }
    Parsed::Record {
        record_type: bytes[8],
        body: &bytes[RECORD_HEADER_BYTES..total_bytes],
        total_bytes,
    }
}

/// The checksum a record with this length field and these type and body
/// bytes carries (it covers the length, so a flipped length bit is caught).
fn record_checksum(body_bytes: u32, type_and_body: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&body_bytes.to_le_bytes()), type_and_body)
}

/// The body length the record at the start of `bytes` declares, if its
/// length field is there at all.
pub(crate) fn declared_body_bytes(bytes: &[u8]) -> Option<u32> {
    (bytes.len() >= 4).then(|| read_u32(bytes, 0))
}

/// Whether `bytes` would start with a whole record with a valid checksum if
/// its length field read `body_bytes` instead of what it holds.
pub(crate) fn is_valid_with_body_bytes(bytes: &[u8], body_bytes: u32) -> bool {
    let total_bytes = RECORD_HEADER_BYTES as u64 + u64::from(body_bytes);
    bytes.len() as u64 >= total_bytes
        && record_checksum(body_bytes, &bytes[8..total_bytes as usize]) == read_u32(bytes, 4)
}

/// Record types are below this bound, now and in future versions; the scan
/// for valid records after damage uses it to skip most offsets cheaply.
const RECORD_TYPE_BOUND: u8 = 32;

/// The first offset at or after `from` where a whole, valid record starts, if any.
/// Used to tell a torn tail (nothing valid after the damage) from corruption in
/// the middle (valid records after it).
///
/// Cost: every offset is tried, but one whose length overruns the slice or whose
/// type byte is out of range is rejected before any checksum is computed.
pub(crate) fn find_valid_record(bytes: &[u8], from: usize) -> Option<usize> {
    (from..bytes.len()).find(|&offset| {
        let rest = &bytes[offset..];
        rest.len() >= RECORD_HEADER_BYTES
            && (1..RECORD_TYPE_BOUND).contains(&rest[8])
            && read_u32(rest, 0) as usize <= rest.len() - RECORD_HEADER_BYTES
            && matches!(parse(rest), Parsed::Record { .. })
    })
}

/// Decodes a record body of a known type.
pub(crate) fn decode(record_type: u8, body: &[u8]) -> Result<Record, DecodeError> {
    match record_type {
        TYPE_ENTRY => {
            if body.len() < ENTRY_FIXED_BYTES {
                return Err(DecodeError::Malformed("entry record too short"));
            }
            let tag = body[16];
            if tag != PAYLOAD_NOOP && tag != PAYLOAD_COMMAND && tag != PAYLOAD_MEMBERSHIP {
                return Err(DecodeError::UnknownPayloadTag(tag));
            }
            if tag == PAYLOAD_NOOP && body.len() != ENTRY_FIXED_BYTES {
                return Err(DecodeError::Malformed("no-op entry with payload bytes"));
            }
            if tag == PAYLOAD_MEMBERSHIP {
                decode_membership(&body[ENTRY_FIXED_BYTES..])?;
            }
            Ok(Record::Entry {
                index: read_u64(body, 0),
                term: read_u64(body, 8),
            })
        }
        TYPE_HARD_STATE => {
            if body.len() != 17 {
                return Err(DecodeError::Malformed(
                    "hard state record of the wrong length",
                ));
            }
            let voted_for = match body[8] {
                0 => None,
                1 => Some(read_u64(body, 9)),
                _ => {
                    return Err(DecodeError::Malformed(
                        "hard state vote flag is neither 0 nor 1",
                    ));
                }
            };
            Ok(Record::HardState(HardState {
                term: read_u64(body, 0),
                voted_for,
            }))
        }
        TYPE_TRUNCATE => {
            if body.len() != 8 {
                return Err(DecodeError::Malformed(
                    "truncate record of the wrong length",
                ));
            }
            Ok(Record::Truncate {
                from: read_u64(body, 0),
            })
        }
        TYPE_COMPACT | TYPE_RESET => {
            if body.len() != 16 {
                return Err(DecodeError::Malformed(
                    "compaction record of the wrong length",
                ));
            }
            let (index, term) = (read_u64(body, 0), read_u64(body, 8));
            Ok(if record_type == TYPE_COMPACT {
                Record::Compact {
                    through: index,
                    term,
                }
            } else {
                Record::Reset { index, term }
            })
        }
        other => Err(DecodeError::UnknownRecordType(other)),
    }
}

/// Decodes a whole entry (payload copied once into a `Bytes`) from an entry
/// record's body.
pub(crate) fn decode_entry(body: &[u8]) -> Result<Entry, DecodeError> {
    let Record::Entry { index, term } = decode(TYPE_ENTRY, body)? else {
        return Err(DecodeError::Malformed("not an entry record"));
    };
    let payload = match body[16] {
        PAYLOAD_NOOP => EntryPayload::Noop,
        PAYLOAD_MEMBERSHIP => {
            EntryPayload::Membership(decode_membership(&body[ENTRY_FIXED_BYTES..])?)
        }
        _ => EntryPayload::Command(Bytes::copy_from_slice(&body[ENTRY_FIXED_BYTES..])),
    };
    Ok(Entry {
        index,
        term,
        payload,
    })
}

/// Decodes a configuration payload, refusing any length that does not add up.
fn decode_membership(mut bytes: &[u8]) -> Result<Membership, DecodeError> {
    let mut sets: [BTreeSet<NodeId>; 3] = Default::default();
    for set in &mut sets {
        let Some((count, rest)) = bytes.split_first_chunk::<4>() else {
            return Err(DecodeError::Malformed("configuration entry cut short"));
        };
        let count = u32::from_le_bytes(*count) as usize;
        let Some(ids_len) = count.checked_mul(8).filter(|len| *len <= rest.len()) else {
            return Err(DecodeError::Malformed(
                "configuration entry with a wrong member count",
            ));
        };
        set.extend(rest[..ids_len].chunks_exact(8).map(|id| read_u64(id, 0)));
        bytes = &rest[ids_len..];
    }
    if !bytes.is_empty() {
        return Err(DecodeError::Malformed(
            "configuration entry with trailing bytes",
        ));
    }
    let [voters, outgoing_voters, learners] = sets;
    Ok(Membership {
        voters,
        outgoing_voters,
        learners,
    })
}

/// True if `record_type` is an entry record.
pub(crate) fn is_entry(record_type: u8) -> bool {
    record_type == TYPE_ENTRY
}

/// Appends encoded records to a reusable buffer.
#[derive(Debug, Default)]
pub(crate) struct RecordWriter {
    pub(crate) bytes: Vec<u8>,
}

impl RecordWriter {
    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
    }

    /// Appends an entry record and returns its offset within the buffer.
    pub(crate) fn entry(&mut self, entry: &Entry) -> usize {
        let start = self.begin(TYPE_ENTRY);
        self.bytes.extend_from_slice(&entry.index.to_le_bytes());
        self.bytes.extend_from_slice(&entry.term.to_le_bytes());
        match &entry.payload {
            EntryPayload::Noop => self.bytes.push(PAYLOAD_NOOP),
            EntryPayload::Command(data) => {
                self.bytes.push(PAYLOAD_COMMAND);
                self.bytes.extend_from_slice(data);
            }
            EntryPayload::Membership(membership) => {
                self.bytes.push(PAYLOAD_MEMBERSHIP);
                for set in [
                    &membership.voters,
                    &membership.outgoing_voters,
                    &membership.learners,
                ] {
                    // A member set larger than u32::MAX ids cannot exist in memory.
                    let count = u32::try_from(set.len()).unwrap_or(u32::MAX);
                    self.bytes.extend_from_slice(&count.to_le_bytes());
                    for id in set {
                        self.bytes.extend_from_slice(&id.to_le_bytes());
                    }
                }
            }
        }
        self.finish(start);
        start
    }

    pub(crate) fn hard_state(&mut self, hard_state: HardState) {
        let start = self.begin(TYPE_HARD_STATE);
        self.bytes.extend_from_slice(&hard_state.term.to_le_bytes());
        self.bytes.push(u8::from(hard_state.voted_for.is_some()));
        self.bytes
            .extend_from_slice(&hard_state.voted_for.unwrap_or(0).to_le_bytes());
        self.finish(start);
    }

    pub(crate) fn truncate(&mut self, from: Index) {
        let start = self.begin(TYPE_TRUNCATE);
        self.bytes.extend_from_slice(&from.to_le_bytes());
        self.finish(start);
    }

    pub(crate) fn compact(&mut self, through: Index, term: Term) {
        self.point(TYPE_COMPACT, through, term);
    }

    pub(crate) fn reset(&mut self, index: Index, term: Term) {
        self.point(TYPE_RESET, index, term);
    }

    fn point(&mut self, record_type: u8, index: Index, term: Term) {
        let start = self.begin(record_type);
        self.bytes.extend_from_slice(&index.to_le_bytes());
        self.bytes.extend_from_slice(&term.to_le_bytes());
        self.finish(start);
    }

    fn begin(&mut self, record_type: u8) -> usize {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(&[0u8; 8]);
        self.bytes.push(record_type);
        start
    }

    /// Fills in the length and checksum of the record that starts at `start`.
    fn finish(&mut self, start: usize) {
        let body_bytes = (self.bytes.len() - start - RECORD_HEADER_BYTES) as u32;
        let length = body_bytes.to_le_bytes();
        self.bytes[start..start + 4].copy_from_slice(&length);
        let crc = crc32c::crc32c_append(crc32c::crc32c(&length), &self.bytes[start + 8..]);
        self.bytes[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    }
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut field = [0u8; 4];
    field.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(field)
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    let mut field = [0u8; 8];
    field.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(field)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only_record(writer: &RecordWriter) -> (u8, Vec<u8>) {
        match parse(&writer.bytes) {
            Parsed::Record {
                record_type,
                body,
                total_bytes,
            } => {
                assert_eq!(total_bytes, writer.bytes.len());
                (record_type, body.to_vec())
            }
            other => panic!("expected a record, got {other:?}"),
        }
    }

    #[test]
    fn entries_round_trip() {
        let joint = Membership {
            voters: [1, 4, 5].into(),
            outgoing_voters: [1, 2, 3].into(),
            learners: [2, 9].into(),
        };
        let config = Entry {
            index: 9,
            term: 3,
            payload: EntryPayload::Membership(joint),
        };
        for entry in [
            Entry::noop(7, 3),
            Entry::command(8, 3, &b"hello"[..]),
            config,
        ] {
            let mut writer = RecordWriter::default();
            writer.entry(&entry);
            let (record_type, body) = only_record(&writer);
            assert!(is_entry(record_type));
            assert_eq!(decode_entry(&body), Ok(entry));
        }
    }

    #[test]
    fn other_records_round_trip() {
        let mut writer = RecordWriter::default();
        let hard_state = HardState {
            term: 4,
            voted_for: Some(2),
        };
        writer.hard_state(hard_state);
        let (record_type, body) = only_record(&writer);
        assert_eq!(
            decode(record_type, &body),
            Ok(Record::HardState(hard_state))
        );
        writer.clear();
        writer.reset(10, 2);
        let (record_type, body) = only_record(&writer);
        assert_eq!(
            decode(record_type, &body),
            Ok(Record::Reset { index: 10, term: 2 })
        );
    }

    #[test]
    fn malformed_configuration_entries_are_refused() {
        let mut body = vec![0u8; ENTRY_FIXED_BYTES];
        body[16] = PAYLOAD_MEMBERSHIP;
        assert!(
            decode(TYPE_ENTRY, &body).is_err(),
            "no member counts at all"
        );
        // One voter claimed, four billion learners claimed: lengths must add up
        // before anything is allocated.
        body.extend_from_slice(&1u32.to_le_bytes());
        body.extend_from_slice(&7u64.to_le_bytes());
        body.extend_from_slice(&0u32.to_le_bytes());
        body.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(TYPE_ENTRY, &body).is_err());
        let mut exact = body[..body.len() - 4].to_vec();
        exact.extend_from_slice(&0u32.to_le_bytes());
        assert!(decode(TYPE_ENTRY, &exact).is_ok());
        exact.push(0);
        assert!(decode(TYPE_ENTRY, &exact).is_err(), "trailing bytes");
    }

    #[test]
    fn every_bit_flip_is_caught() {
        let mut writer = RecordWriter::default();
        writer.entry(&Entry::command(1, 1, &b"payload"[..]));
        for bit in 0..writer.bytes.len() * 8 {
            let mut bytes = writer.bytes.clone();
            bytes[bit / 8] ^= 1 << (bit % 8);
            assert!(
                matches!(parse(&bytes), Parsed::Bad(_)),
                "flip of bit {bit} went unnoticed"
            );
        }
    }

    #[test]
    fn unknown_tags_are_refused() {
        assert_eq!(decode(99, &[]), Err(DecodeError::UnknownRecordType(99)));
        let mut body = vec![0u8; ENTRY_FIXED_BYTES];
        body[16] = 42;
        assert_eq!(
            decode(TYPE_ENTRY, &body),
            Err(DecodeError::UnknownPayloadTag(42))
        );
    }

    fn header(cluster_id: &[u8]) -> SegmentHeader {
        SegmentHeader {
            seq: 3,
            start_index: 100,
            cluster_id: cluster_id.to_vec(),
        }
    }

    /// A header followed by a record, as in a segment: a damaged id length
    /// must not make the decoder read a record's bytes as the header's.
    fn segment_start(header: &SegmentHeader) -> Vec<u8> {
        let mut bytes = encode_header(header);
        let mut head = RecordWriter::default();
        head.hard_state(HardState {
            term: 2,
            voted_for: Some(1),
        });
        bytes.extend_from_slice(&head.bytes);
        bytes
    }

    #[test]
    fn a_header_without_a_cluster_id_is_the_32_byte_version_1_header() {
        let header = header(b"");
        let bytes = encode_header(&header);
        assert_eq!(bytes.len(), SEGMENT_HEADER_BYTES_MIN);
        assert_eq!(read_u32(&bytes, 8), FORMAT_VERSION_WITHOUT_CLUSTER_ID);
        // Byte for byte what builds before cluster ids wrote.
        let mut before = [0u8; 32];
        before[0..8].copy_from_slice(b"ORDOWAL\0");
        before[8..12].copy_from_slice(&1u32.to_le_bytes());
        before[12..20].copy_from_slice(&3u64.to_le_bytes());
        before[20..28].copy_from_slice(&100u64.to_le_bytes());
        let crc = crc32c::crc32c(&before[0..28]);
        before[28..32].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(bytes, before);
        let with_records = segment_start(&header);
        assert_eq!(decode_header(&with_records), Ok((header, 32)));
    }

    #[test]
    fn a_header_with_a_cluster_id_round_trips_as_version_2() {
        for id in [&b"c"[..], b"0123456789abcdef0123456789abcdef", &[0xff; 64]] {
            let header = header(id);
            let bytes = segment_start(&header);
            assert_eq!(read_u32(&bytes, 8), FORMAT_VERSION);
            assert_eq!(
                decode_header(&bytes),
                Ok((header.clone(), 33 + id.len())),
                "id of {} bytes",
                id.len()
            );
            assert_eq!(header_bytes_claimed(&bytes), 33 + id.len());
            let torn = &bytes[..32 + id.len()];
            assert!(matches!(decode_header(torn), Err(HeaderError::Invalid(_))));
            assert_eq!(header_bytes_claimed(torn), 33 + id.len());
        }
    }

    #[test]
    fn every_bit_flip_of_a_version_2_header_is_caught() {
        let bytes = segment_start(&header(b"0123456789abcdef0123456789abcdef"));
        let header_bytes = 33 + 32;
        for bit in 0..header_bytes * 8 {
            let mut damaged = bytes.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(
                matches!(decode_header(&damaged), Err(HeaderError::Invalid(_))),
                "flip of bit {bit} went unnoticed: {:?}",
                decode_header(&damaged)
            );
        }
    }

    #[test]
    fn every_bit_flip_of_a_version_1_header_is_caught() {
        let bytes = segment_start(&header(b""));
        for bit in 0..SEGMENT_HEADER_BYTES_MIN * 8 {
            let mut damaged = bytes.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(
                matches!(decode_header(&damaged), Err(HeaderError::Invalid(_))),
                "flip of bit {bit} went unnoticed: {:?}",
                decode_header(&damaged)
            );
        }
    }

    #[test]
    fn an_implausible_cluster_id_length_is_refused() {
        let mut bytes = segment_start(&header(&[7; 64]));
        bytes[HEADER_ID_LENGTH_AT] = 65;
        assert_eq!(
            decode_header(&bytes),
            Err(HeaderError::Invalid(
                "the segment header's cluster id length is implausible"
            ))
        );
        assert_eq!(header_bytes_claimed(&bytes), SEGMENT_HEADER_BYTES_MIN);
    }

    /// A version 2 header always names an id; one naming none, even with a
    /// valid checksum, would fit any cluster (found in review).
    #[test]
    fn a_version_2_header_with_an_empty_cluster_id_is_refused() {
        let mut bytes = encode_header(&header(b"cluster"));
        bytes[HEADER_ID_LENGTH_AT] = 0;
        let header_bytes = HEADER_ID_AT + 4;
        let crc = crc32c::crc32c(&bytes[..header_bytes - 4]);
        bytes[header_bytes - 4..header_bytes].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(
            decode_header(&bytes[..header_bytes]),
            Err(HeaderError::Invalid(
                "the segment header's cluster id length is implausible"
            ))
        );
    }

    #[test]
    fn another_version_is_reported_only_when_a_checksum_vouches_for_it() {
        for id in [&b""[..], b"cluster"] {
            let mut bytes = encode_header(&header(id));
            bytes[8] = 9;
            let header_bytes = bytes.len();
            let crc = crc32c::crc32c(&bytes[..header_bytes - 4]);
            bytes[header_bytes - 4..].copy_from_slice(&crc.to_le_bytes());
            assert_eq!(decode_header(&bytes), Err(HeaderError::Version(9)));
        }
    }
}
