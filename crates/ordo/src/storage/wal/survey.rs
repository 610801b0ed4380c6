//! Reading a damaged log for what can still be learned from it, for
//! [`repair_log_dir`](crate::storage::repair_log_dir): unlike recovery, the
//! survey never refuses. It skips over damage to the next valid record and
//! reports the newest hard state it read, whether damage follows it, the
//! highest index any readable record names, how many bytes were damaged and
//! which cluster ids the readable segment headers name.

use std::collections::BTreeSet;
use std::path::Path;

use ordo_core::{HardState, Index};

use crate::storage::error::StorageError;
use crate::storage::fs::FileSystem;
use crate::storage::wal::record::{self, ENTRY_RECORD_BYTES_MIN, Parsed, Record};
use crate::storage::wal::recovery::{SEGMENT_FILE_BYTES_MAX, segment_path, segment_seqs};

/// What a survey learned.
#[derive(Debug, Default)]
pub(crate) struct Survey {
    /// The last hard state record read, in write order.
    pub(crate) newest_hard_state: Option<HardState>,
    /// Damage was found after `newest_hard_state` (or before any), so a newer
    /// hard state may have been lost.
    pub(crate) damage_after_hard_state: bool,
    /// The highest index a readable header or record names.
    pub(crate) index_max: Index,
    /// Bytes that could not be read as records (or whole unreadable files).
    pub(crate) damaged_bytes: u64,
    /// The cluster ids readable segment headers name (none for segments
    /// written without one).
    pub(crate) cluster_ids: BTreeSet<Vec<u8>>,
}

impl Survey {
    /// The highest index the log could ever have held: the highest readable
    /// one plus as many entries as the damaged bytes could hold.
    pub(crate) fn index_bound(&self) -> Index {
        self.index_max
            .saturating_add(self.damaged_bytes / ENTRY_RECORD_BYTES_MIN)
    }

    fn damaged(&mut self, bytes: u64) {
        self.damaged_bytes = self.damaged_bytes.saturating_add(bytes);
        self.damage_after_hard_state = true;
    }
}

/// Surveys every segment of `dir`, in order.
pub(crate) fn survey(fs: &dyn FileSystem, dir: &Path) -> Result<Survey, StorageError> {
    let seqs = segment_seqs(fs, dir)?;
    let mut survey = Survey::default();
    if seqs.windows(2).any(|pair| pair[1] != pair[0] + 1) {
        // A missing segment: what it held is unknown, as if damaged whole.
        survey.damage_after_hard_state = true;
    }
    for seq in seqs {
        let path = segment_path(dir, seq);
        match read_segment(fs, &path)? {
            Some(bytes) => survey_segment(&mut survey, &bytes),
            None => survey.damaged(SEGMENT_FILE_BYTES_MAX),
        }
    }
    Ok(survey)
}

/// The segment's bytes, or `None` if it is too long to be one.
fn read_segment(fs: &dyn FileSystem, path: &Path) -> Result<Option<Vec<u8>>, StorageError> {
    let file = fs
        .open(path)
        .map_err(|source| StorageError::io("open", path, source))?;
    let len = file
        .size_bytes()
        .map_err(|source| StorageError::io("stat", path, source))?;
    if len > SEGMENT_FILE_BYTES_MAX {
        return Ok(None);
    }
    let mut bytes = vec![0u8; len as usize];
    file.read_exact_at(&mut bytes, 0)
        .map_err(|source| StorageError::io("read", path, source))?;
    Ok(Some(bytes))
}

fn survey_segment(survey: &mut Survey, bytes: &[u8]) {
    let mut offset = match record::decode_header(bytes) {
        Ok((header, header_bytes)) => {
            survey.index_max = survey.index_max.max(header.start_index.saturating_sub(1));
            if !header.cluster_id.is_empty() {
                survey.cluster_ids.insert(header.cluster_id);
            }
            header_bytes
        }
        Err(_) => match record::find_valid_record(bytes, 1) {
            Some(next) => {
                survey.damaged(next as u64);
                next
            }
            None => {
                survey.damaged(bytes.len() as u64);
                return;
            }
        },
    };
    loop {
        match record::parse(&bytes[offset..]) {
            Parsed::End => return,
            Parsed::Record {
                record_type,
                body,
                total_bytes,
            } => {
                match record::decode(record_type, body) {
                    Ok(decoded) => learn(survey, decoded),
                    Err(_) => survey.damaged(total_bytes as u64),
                }
                offset += total_bytes;
            }
            Parsed::Bad(_) => {
                let next = record::find_valid_record(bytes, offset + 1).unwrap_or(bytes.len());
                survey.damaged((next - offset) as u64);
                offset = next;
            }
        }
    }
}

fn learn(survey: &mut Survey, decoded: Record) {
    let index = match decoded {
        Record::HardState(hard_state) => {
            survey.newest_hard_state = Some(hard_state);
            survey.damage_after_hard_state = false;
            0
        }
        Record::Entry { index, .. } | Record::Reset { index, .. } => index,
        Record::Compact { through, .. } => through,
        Record::Truncate { from } => from.saturating_sub(1),
    };
    survey.index_max = survey.index_max.max(index);
}
