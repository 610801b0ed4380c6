//! A node's write-ahead log on disk, read and damaged the way a failing disk
//! or a crash would.
//!
//! The layout (`crates/ordo/src/storage/wal/record.rs`): `DATA/wal/<seq:020>.wal`
//! segments; each a header (magic `ORDOWAL\0`; 32 bytes in format 1, 33 plus
//! the cluster id's length in format 2, which `ordo serve` writes), then records
//! of `body length u32 | CRC32C(length ++ type ++ body) u32 | type u8 | body`.
//! The first record is found as the first checksummed record after the
//! magic, so either header reads; and a walk that does not end exactly at
//! the end of the file fails loudly rather than damaging the wrong bytes.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};

/// Bytes before the first record of a segment, at least.
const SEGMENT_HEADER_BYTES_MIN: usize = 32;
/// How far into a segment its first record may start.
const SEGMENT_HEADER_BYTES_MAX: usize = 4096;
/// The magic a segment starts with.
const SEGMENT_MAGIC: &[u8; 8] = b"ORDOWAL\0";
/// A record's length, checksum and type.
const RECORD_HEADER_BYTES: usize = 9;
/// The record type of a log entry.
pub const ENTRY_RECORD: u8 = 1;
/// The record type of a compaction point (the log starts after a snapshot).
pub const COMPACT_RECORD: u8 = 4;

/// Where one record lies in its segment file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordSpan {
    /// Offset of the record's first byte (its length field).
    pub offset: usize,
    /// Header and body together.
    pub total_bytes: usize,
    /// The record type.
    pub record_type: u8,
}

impl RecordSpan {
    /// Offset of the first byte after the record.
    pub fn end(&self) -> usize {
        self.offset + self.total_bytes
    }

    /// Offset of the body's first byte.
    pub fn body(&self) -> usize {
        self.offset + RECORD_HEADER_BYTES
    }

    /// For an entry record, the entry's index.
    pub fn entry_index(&self, segment: &[u8]) -> u64 {
        assert_eq!(self.record_type, ENTRY_RECORD, "not an entry record");
        u64::from_le_bytes(segment[self.body()..self.body() + 8].try_into().unwrap())
    }
}

/// The WAL directory of the data directory `data`.
pub fn wal_dir(data: &Path) -> PathBuf {
    data.join("wal")
}

/// Every segment file of `data`, oldest first.
pub fn segments(data: &Path) -> Vec<PathBuf> {
    let mut segments: Vec<PathBuf> = fs::read_dir(wal_dir(data))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "wal"))
        .collect();
    segments.sort();
    segments
}

/// The whole, checksummed record at `offset` of `bytes`, if there is one.
fn record_at(bytes: &[u8], offset: usize) -> Option<RecordSpan> {
    let header = bytes.get(offset..offset + RECORD_HEADER_BYTES)?;
    let body_bytes = u32::from_le_bytes(header[..4].try_into().unwrap()) as usize;
    let end = offset
        .checked_add(RECORD_HEADER_BYTES)?
        .checked_add(body_bytes)?;
    let covered = bytes.get(offset + 8..end)?;
    let crc = crc32c::crc32c_append(crc32c::crc32c(&header[..4]), covered);
    (crc == u32::from_le_bytes(header[4..8].try_into().unwrap())).then_some(RecordSpan {
        offset,
        total_bytes: end - offset,
        record_type: header[8],
    })
}

/// The records from the first one after the segment header on, as far as
/// they are whole and checksummed; and the offset where they stop.
fn walk(path: &Path, bytes: &[u8]) -> (Vec<RecordSpan>, usize) {
    assert!(
        bytes.len() >= SEGMENT_HEADER_BYTES_MIN && &bytes[..8] == SEGMENT_MAGIC,
        "{} does not start with a segment header: the WAL format changed?",
        path.display()
    );
    let last_start = bytes.len().min(SEGMENT_HEADER_BYTES_MAX);
    let Some(mut offset) =
        (SEGMENT_HEADER_BYTES_MIN..last_start).find(|&offset| record_at(bytes, offset).is_some())
    else {
        return (Vec::new(), bytes.len());
    };
    let mut spans = Vec::new();
    while let Some(span) = record_at(bytes, offset) {
        spans.push(span);
        offset = span.end();
    }
    (spans, offset)
}

/// The records of the intact segment `bytes` (`path` for messages).
pub fn records(path: &Path, bytes: &[u8]) -> Vec<RecordSpan> {
    let (spans, end) = walk(path, bytes);
    assert_eq!(
        end,
        bytes.len(),
        "{}: no whole record at {end}: damaged, or the WAL format changed?",
        path.display()
    );
    spans
}

/// The newest segment of `data`, its bytes and its last entry record.
pub fn last_entry(data: &Path) -> (PathBuf, Vec<u8>, RecordSpan) {
    let segments = segments(data);
    for path in segments.iter().rev() {
        let bytes = fs::read(path).unwrap();
        if let Some(span) = records(path, &bytes)
            .into_iter()
            .rfind(|span| span.record_type == ENTRY_RECORD)
        {
            return (path.clone(), bytes, span);
        }
    }
    panic!("no entry record in {segments:?}");
}

/// Whether the log of `data` records a compaction (its start moved past 1).
/// Safe to ask while the node runs.
pub fn has_compacted(data: &Path) -> bool {
    segments(data).iter().any(|path| {
        let bytes = fs::read(path).unwrap_or_default();
        if bytes.len() < SEGMENT_HEADER_BYTES_MIN {
            return false;
        }
        // A record the node is appending right now is left out.
        walk(path, &bytes).0.iter().any(|span| {
            span.record_type == COMPACT_RECORD
                && u64::from_le_bytes(bytes[span.body()..span.body() + 8].try_into().unwrap()) > 0
        })
    })
}

/// Flips one bit in the payload of the newest entry record of `data` (its
/// last byte, so the checksum no longer matches). Returns the entry's index.
pub fn flip_bit_in_last_entry(data: &Path) -> u64 {
    let (path, mut bytes, span) = last_entry(data);
    let index = span.entry_index(&bytes);
    bytes[span.end() - 1] ^= 0x10;
    fs::write(&path, &bytes).unwrap();
    index
}

/// Cuts the newest segment of `data` at `offset_in_record` bytes into its
/// last entry record (0: the record is removed whole, and with it anything
/// after it). Returns the entry's index.
pub fn cut_last_entry(data: &Path, offset_in_record: usize) -> u64 {
    let (path, bytes, span) = last_entry(data);
    assert!(
        offset_in_record < span.total_bytes,
        "cut at {offset_in_record} is past a record of {} bytes",
        span.total_bytes
    );
    let index = span.entry_index(&bytes);
    truncate(&path, (span.offset + offset_in_record) as u64);
    index
}

/// Cuts `path` to `len` bytes.
pub fn truncate(path: &Path, len: u64) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

/// Tears the header of the only segment of `data` (it keeps its first
/// `keep` bytes, fewer than the header's, and nothing after).
pub fn tear_only_segment_header(data: &Path, keep: u64) {
    let segments = segments(data);
    assert_eq!(segments.len(), 1, "expected one segment: {segments:?}");
    assert!(keep < SEGMENT_HEADER_BYTES_MIN as u64);
    truncate(&segments[0], keep);
}

/// Deletes every segment of `data`, keeping the `wal/` directory.
pub fn delete_segments(data: &Path) -> usize {
    let segments = segments(data);
    for path in &segments {
        fs::remove_file(path).unwrap();
    }
    segments.len()
}
