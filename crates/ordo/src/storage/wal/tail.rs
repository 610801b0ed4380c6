//! What a damaged end of the last segment may have held. Before recovery cuts
//! the bytes from the first bad record (or a bad segment header) to the end of
//! the file, it asks whether a *completed* fdatasync could have covered any of
//! them. Only such a cut can remove entries the store reported durable, so only
//! such a cut records a repair point: a whole-cluster power loss during writes
//! leaves a torn tail on every node, and must not leave every node unable to
//! vote.
//!
//! Soundness rests on the file system's contract for fdatasync: once it returns
//! success, the bytes written before it *and the file's size* are durable.
//! Damage afterwards (a flipped bit) changes bytes, not a file's length. The
//! cases, in the order they are tried:
//!
//! 1. [`TailDamage::ZeroFilled`]: every byte from the cut to the end is zero: the
//!    size reached the disk, the data never did (what ext4 or XFS can leave
//!    after a power loss). No record is all zero (its length and type fields
//!    never are), so a synced one does not read so after one flipped bit.
//! 2. [`TailDamage::Unfinished`]: the bad record needs more bytes than the file
//!    has (or the segment header is incomplete). Had a fdatasync completed
//!    after it was written, a size covering it would be durable; so none did,
//!    and nothing written after it was synced either. But one flipped bit in
//!    the length field of a whole, synced last record also makes it claim more
//!    than the file holds, so first: if restoring any one of the 32 length bits
//!    gives a whole record with a valid checksum, it is that damaged record,
//!    [`TailDamage::LengthBitFlipped`]. (A valid record *after* the bad one
//!    never gets here: recovery refuses that as damage mid-log.)
//! 3. [`TailDamage::Damaged`]: anything else, such as a whole record with a bad
//!    checksum or non-zero garbage. A torn write and damage to synced bytes
//!    look alike.
//!
//! Left out on purpose: the damage model is one flipped bit in a record. More
//! damage to a synced last record (a zeroed block, its length field and another
//! bit both flipped) can read as case 1 or 2 and be cut without a repair point.
//! Checks that would catch it (a length that would end exactly at the end of
//! the file, zeros after some record bytes) also match ordinary torn writes, so
//! they would bring back the cluster-wide loss of voters this module prevents.

use crate::storage::wal::record::{self, ENTRY_RECORD_BYTES_MIN, RECORD_HEADER_BYTES};

/// What the bytes a cut removes can have been.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TailDamage {
    /// All zero: a size extension whose data never reached the disk.
    ZeroFilled,
    /// A record (or segment header) never completely written.
    Unfinished,
    /// A whole record whose length field has one flipped bit.
    LengthBitFlipped,
    /// A torn write or damaged synced bytes; cannot be told apart.
    Damaged,
}

impl TailDamage {
    /// Whether a completed fdatasync may have covered the bytes, so cutting
    /// them may lose entries once reported durable.
    pub(crate) fn may_have_been_synced(self) -> bool {
        matches!(self, TailDamage::LengthBitFlipped | TailDamage::Damaged)
    }

    /// Which case this is, for the warning every cut logs.
    pub(crate) fn explanation(self) -> &'static str {
        match self {
            TailDamage::ZeroFilled => {
                "every byte from the cut to the end is zero, a size extension whose data never \
                 reached the disk, so no completed fdatasync covered them"
            }
            TailDamage::Unfinished => {
                "it needs more bytes than the file has and no single flipped length bit \
                 explains that, so it was never completely written and no completed fdatasync \
                 covered it (a torn write)"
            }
            TailDamage::LengthBitFlipped => {
                "restoring one bit of its length field gives a whole record with a valid \
                 checksum: a complete record, maybe synced and acknowledged, was damaged"
            }
            TailDamage::Damaged => {
                "a torn write or damage to synced records, which cannot be told apart"
            }
        }
    }
}

/// Classifies `tail`: the bytes from the first bad record of the last segment
/// to the end of the file (not empty).
pub(crate) fn classify_records(tail: &[u8]) -> TailDamage {
    if is_zero(tail) {
        return TailDamage::ZeroFilled;
    }
    let Some(body_bytes) = record::declared_body_bytes(tail) else {
        return TailDamage::Unfinished;
    };
    let declared_bytes = RECORD_HEADER_BYTES as u64 + u64::from(body_bytes);
    if declared_bytes <= tail.len() as u64 {
        return TailDamage::Damaged;
    }
    let restorable =
        (0..u32::BITS).any(|bit| record::is_valid_with_body_bytes(tail, body_bytes ^ (1 << bit)));
    if restorable {
        TailDamage::LengthBitFlipped
    } else {
        TailDamage::Unfinished
    }
}

/// The most entries the cut `tail` (as for [`classify_records`]) can have
/// held: at most as many as fit in its bytes, and, if its record lengths
/// chain exactly to the end of the file (the first one as written or with one
/// length bit restored), at most as many as there are records, one entry
/// each. So one damaged record of any size costs one entry, not its size
/// divided by the smallest entry's: a repair point tens of thousands of
/// entries ahead would keep the node from voting until the cluster wrote them.
///
/// Sound under the damage model of the module docs: one flipped bit leaves
/// every length but maybe the first intact, so the chain finds the records
/// written. (Under it, the only synced record a cut can hold is the damaged
/// one: a synced record after it would be intact and valid, which recovery
/// refuses as damage mid-log. The count also stays right for heavier damage
/// that spares the length fields.)
pub(crate) fn entries_cut_bound(tail: &[u8]) -> u64 {
    let by_size = tail.len() as u64 / ENTRY_RECORD_BYTES_MIN;
    let Some(declared) = record::declared_body_bytes(tail) else {
        return by_size;
    };
    let restored = (0..u32::BITS)
        .map(|bit| declared ^ (1 << bit))
        .filter(|&body_bytes| record::is_valid_with_body_bytes(tail, body_bytes));
    std::iter::once(declared)
        .chain(restored)
        .filter_map(|first_body_bytes| records_to_end(tail, first_body_bytes))
        .max()
        .map_or(by_size, |records| records.min(by_size))
}

/// How many records `tail` holds if its first record's body is
/// `first_body_bytes` long and the lengths of the others chain exactly to its
/// end; `None` if they do not.
fn records_to_end(tail: &[u8], first_body_bytes: u32) -> Option<u64> {
    let len = tail.len() as u64;
    let mut end = RECORD_HEADER_BYTES as u64 + u64::from(first_body_bytes);
    let mut records = 1;
    while end < len {
        // `end < len` bounds it by the slice's length, so it fits in usize.
        let body_bytes = record::declared_body_bytes(&tail[end as usize..])?;
        end += RECORD_HEADER_BYTES as u64 + u64::from(body_bytes);
        records += 1;
    }
    (end == len).then_some(records)
}

/// Classifies a last segment whose header is unusable (`bytes`: the whole
/// file, all of which is cut). The header is written whole with the segment's
/// head records, so a file too short to hold it (as long as its fields say,
/// `record::header_bytes_claimed`) was never covered by a sync.
pub(crate) fn classify_segment(bytes: &[u8]) -> TailDamage {
    if is_zero(bytes) {
        TailDamage::ZeroFilled
    } else if bytes.len() < record::header_bytes_claimed(bytes) {
        TailDamage::Unfinished
    } else {
        TailDamage::Damaged
    }
}

fn is_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|&byte| byte == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::wal::record::RecordWriter;
    use ordo_core::Entry;

    fn one_record() -> Vec<u8> {
        let mut writer = RecordWriter::default();
        writer.entry(&Entry::command(5, 1, &b"acknowledged"[..]));
        writer.bytes
    }

    #[test]
    fn every_prefix_of_a_record_is_unfinished() {
        let bytes = one_record();
        for len in 1..bytes.len() {
            assert_eq!(
                classify_records(&bytes[..len]),
                TailDamage::Unfinished,
                "a prefix of {len} bytes"
            );
        }
    }

    #[test]
    fn every_flipped_length_bit_of_a_whole_record_is_caught() {
        let bytes = one_record();
        for bit in 0..32 {
            let mut damaged = bytes.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(
                classify_records(&damaged).may_have_been_synced(),
                "flip of length bit {bit}"
            );
        }
    }

    #[test]
    fn a_whole_damaged_record_of_any_size_bounds_the_cut_at_one_entry() {
        let mut writer = RecordWriter::default();
        writer.entry(&Entry::command(5, 1, vec![7u8; 1 << 20]));
        let mut damaged = writer.bytes.clone();
        damaged[100] ^= 1;
        assert_eq!(entries_cut_bound(&damaged), 1, "a flipped body bit");
        let mut damaged = writer.bytes.clone();
        damaged[2] ^= 1 << 3;
        assert_eq!(entries_cut_bound(&damaged), 1, "a flipped length bit");
    }

    #[test]
    fn whole_records_chained_to_the_end_count_one_entry_each() {
        let mut writer = RecordWriter::default();
        for index in 5..8 {
            writer.entry(&Entry::command(index, 1, vec![7u8; 1000]));
        }
        let mut damaged = writer.bytes.clone();
        damaged[100] ^= 1;
        assert_eq!(entries_cut_bound(&damaged), 3);
        // Torn: the lengths no longer reach the end exactly, so the size rules.
        let torn = &damaged[..damaged.len() - 1];
        assert_eq!(
            entries_cut_bound(torn),
            torn.len() as u64 / ENTRY_RECORD_BYTES_MIN
        );
        assert_eq!(
            entries_cut_bound(&damaged[..20]),
            0,
            "too small for an entry"
        );
    }

    #[test]
    fn zeros_garbage_and_short_headers_are_told_apart() {
        assert_eq!(classify_records(&[0; 4096]), TailDamage::ZeroFilled);
        assert_eq!(classify_segment(&[0; 100]), TailDamage::ZeroFilled);
        let mut garbage = vec![0; 100];
        garbage[99] = 1;
        assert_eq!(classify_records(&garbage), TailDamage::Damaged);
        assert_eq!(classify_segment(&garbage), TailDamage::Damaged);
        assert_eq!(classify_segment(&garbage[70..]), TailDamage::Unfinished);
    }
}
