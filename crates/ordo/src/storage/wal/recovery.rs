//! Opening a log: scan every segment in order, verify every checksum, rebuild
//! the entry index, cut a torn tail, refuse anything else that looks wrong.
//!
//! The rules, each with its reason:
//! - Segments are numbered consecutively. A missing number is a missing file:
//!   refuse (entries that may have been acknowledged would vanish).
//! - Every segment but the last was fdatasync'ed before the next one was
//!   created (see the writer), so damage in it cannot be a crash: refuse.
//! - In the last segment, a bad record with *no valid record after it* is what a
//!   crash during a write leaves, but can also be a record already synced and
//!   acknowledged, then damaged. The tail from it is cut, and `tail.rs` decides
//!   whether a completed fdatasync may have covered the cut bytes: not if the
//!   bad record runs past the end of the file (unless restoring one length bit
//!   makes it a whole valid record) or if the tail is all zeros (the file's
//!   size is durable with its data after a sync, so neither was ever synced).
//!   If it may have, and the cut bytes could have held an entry, a *repair
//!   point* is recorded first (the `REPAIR` file, durable before the cut): the
//!   last kept index plus the most entries the cut bytes could have held (one
//!   per record if their lengths chain exactly to the end of the file, as for
//!   one whole damaged record; else one per smallest entry record that fits,
//!   `tail::entries_cut_bound`). The
//!   node then withholds its vote until a leader has brought its log back past
//!   that point. Either way a warning names the file, offset, bytes cut, which
//!   case it was and any repair point. A last segment whose header is unusable
//!   is removed whole by the same rule (shorter than a header: never synced).
//!   A bad record *followed by a valid one* cannot come from a torn append:
//!   refuse.
//! - Entries must continue the log exactly (`index == last + 1`); a truncation
//!   is an explicit record. Anything else is a gap: refuse.
//! - The hard state is the newer of the last one the log holds and the
//!   `VOTE` file's (`vote_file.rs`): the cut may have removed a synced hard
//!   state record, never the file's copy of it. A damaged file is refused
//!   before anything is cut.
//! - No index in a header or record may exceed [`INDEX_MAX`]: a checksummed but
//!   absurd index is corruption, and the bound keeps `index + 1` from
//!   overflowing anywhere in the store.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ordo_core::{HardState, Index};

use crate::storage::error::StorageError;
use crate::storage::fs::{FileSystem, FsFile};
use crate::storage::log_store::checks::INDEX_MAX;
use crate::storage::wal::index::EntryIndex;
use crate::storage::wal::record::{
    self, DecodeError, ENTRY_RECORD_BYTES_MIN, FORMAT_VERSION, HeaderError, Parsed, Record,
};
use crate::storage::wal::repair_file::{self, RepairRecord};
use crate::storage::wal::tail::{self, TailDamage};
use crate::storage::wal::vote_file;
use crate::storage::wal::{SEGMENT_SIZE_BYTES_MAX, WRITE_BYTES_MAX};

/// What a log directory holds.
#[derive(Debug, Default)]
pub(crate) struct Recovered {
    pub(crate) index: EntryIndex,
    /// The newer of the log's hard state and the `VOTE` file's.
    pub(crate) hard_state: HardState,
    /// What the `VOTE` file holds, `None` if there is none.
    pub(crate) vote_file: Option<HardState>,
    /// Sequence number of the last segment kept, `0` if none.
    pub(crate) last_seq: u64,
    /// The repair point found in the `REPAIR` file or recorded by this
    /// recovery's cut, whichever is higher.
    pub(crate) repair_point: Option<RepairRecord>,
}

/// File name of segment `seq`.
pub(crate) fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.wal"))
}

pub(crate) fn segment_seq(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    let digits = name.strip_suffix(".wal")?;
    if digits.len() != 20 || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The sequence numbers of the segment files in `dir`, in order.
pub(crate) fn segment_seqs(fs: &dyn FileSystem, dir: &Path) -> Result<Vec<u64>, StorageError> {
    let mut seqs: Vec<u64> = fs
        .list_dir(dir)
        .map_err(|source| StorageError::io("list", dir, source))?
        .iter()
        .filter_map(|path| segment_seq(path))
        .collect();
    seqs.sort_unstable();
    Ok(seqs)
}

/// Scans the segments of `dir`; `flush`: whether what recovery writes (the
/// repair point) must be made durable (off only for `Durability::Never`).
pub(crate) fn recover(
    fs: &dyn FileSystem,
    dir: &Path,
    flush: bool,
) -> Result<Recovered, StorageError> {
    let seqs = segment_seqs(fs, dir)?;
    check_consecutive(dir, &seqs)?;
    // Read before anything is cut: a damaged file refuses the open unchanged.
    let vote_file = vote_file::read(fs, dir)?;
    let mut scan = Scan {
        fs,
        dir,
        flush,
        recovered: Recovered {
            repair_point: repair_file::read(fs, dir)?,
            ..Recovered::default()
        },
        buffer: Vec::new(),
    };
    for (position, &seq) in seqs.iter().enumerate() {
        scan.segment(seq, position + 1 == seqs.len())?;
    }
    scan.check_complete()?;
    let mut recovered = scan.recovered;
    recovered.hard_state = vote_file::newer(dir, recovered.hard_state, vote_file)?;
    recovered.vote_file = vote_file;
    Ok(recovered)
}

fn check_consecutive(dir: &Path, seqs: &[u64]) -> Result<(), StorageError> {
    for pair in seqs.windows(2) {
        if pair[1] != pair[0] + 1 {
            return Err(StorageError::corrupt(
                segment_path(dir, pair[0] + 1),
                0,
                format!(
                    "segment {} is missing between segments {} and {}",
                    pair[0] + 1,
                    pair[0],
                    pair[1]
                ),
            ));
        }
    }
    Ok(())
}

/// Longest segment file a writer produces: a write starts below the segment
/// size (at most [`SEGMENT_SIZE_BYTES_MAX`]) and is at most [`WRITE_BYTES_MAX`]
/// long. Recovery reads a segment whole, so a longer one (a damaged file system,
/// a stray file) is refused before anything is allocated for it.
pub(crate) const SEGMENT_FILE_BYTES_MAX: u64 = SEGMENT_SIZE_BYTES_MAX + WRITE_BYTES_MAX;

struct Scan<'a> {
    fs: &'a dyn FileSystem,
    dir: &'a Path,
    flush: bool,
    recovered: Recovered,
    /// One segment's bytes at a time (reused): segments are read whole.
    buffer: Vec<u8>,
}

impl Scan<'_> {
    fn segment(&mut self, seq: u64, is_last: bool) -> Result<(), StorageError> {
        let path = segment_path(self.dir, seq);
        let file = self
            .fs
            .open(&path)
            .map_err(|source| StorageError::io("open", &path, source))?;
        self.read_whole(&path, file.as_ref())?;
        let (header, header_bytes) = match record::decode_header(&self.buffer) {
            Ok(decoded) => decoded,
            Err(HeaderError::Version(found)) => {
                return Err(StorageError::UnsupportedVersion {
                    path,
                    found,
                    supported: FORMAT_VERSION,
                });
            }
            Err(HeaderError::Invalid(reason)) => return self.torn_header(&path, is_last, reason),
        };
        if header.seq != seq {
            let reason = format!(
                "the header says segment {} but the file name says {seq}",
                header.seq
            );
            return Err(StorageError::corrupt(&path, 0, reason));
        }
        self.start_segment(&path, header.start_index)?;
        self.recovered
            .index
            .push_segment(seq, path.clone(), Arc::clone(&file));
        self.recovered.last_seq = seq;
        self.records(&path, file.as_ref(), header_bytes, is_last)
    }

    fn read_whole(&mut self, path: &Path, file: &dyn FsFile) -> Result<(), StorageError> {
        let len = file
            .size_bytes()
            .map_err(|source| StorageError::io("stat", path, source))?;
        if len > SEGMENT_FILE_BYTES_MAX {
            let reason = format!(
                "the segment is {len} bytes long; no writer makes one longer than {SEGMENT_FILE_BYTES_MAX}"
            );
            return Err(StorageError::corrupt(path, 0, reason));
        }
        self.buffer.clear();
        self.buffer.resize(len as usize, 0);
        file.read_exact_at(&mut self.buffer, 0)
            .map_err(|source| StorageError::io("read", path, source))
    }

    /// A damaged header: a crash while creating the last segment (nothing valid
    /// after it) removes the file; anything else is corruption.
    fn torn_header(
        &mut self,
        path: &Path,
        is_last: bool,
        reason: &str,
    ) -> Result<(), StorageError> {
        if let Some(next) = record::find_valid_record(&self.buffer, 1) {
            let reason = format!("{reason}, yet a valid record follows at byte {next}");
            return Err(StorageError::corrupt(path, 0, reason));
        }
        if !is_last {
            return Err(StorageError::corrupt(
                path,
                0,
                format!("{reason} in a segment that is not the last"),
            ));
        }
        let cut_bytes = self.buffer.len() as u64;
        let damage = tail::classify_segment(&self.buffer);
        let entries_cut = cut_bytes / ENTRY_RECORD_BYTES_MIN;
        let implied = self.record_repair_point(damage, entries_cut)?;
        tracing::warn!(
            file = %path.display(),
            bytes = cut_bytes,
            repair_point = ?implied,
            "removing the last log segment: {reason} and it holds no valid record; {}",
            damage.explanation()
        );
        self.fs
            .remove_file(path)
            .map_err(|source| StorageError::io("remove", path, source))?;
        self.fs
            .sync_dir(self.dir)
            .map_err(|source| StorageError::io("fsync the directory", self.dir, source))
    }

    /// Before cutting bytes off the end of the log: if a completed fdatasync
    /// may have covered them (`damage`) and they could have held an entry
    /// (`entries_cut`: the most they could have held), durably records the
    /// repair point they imply (the last kept index plus `entries_cut`, or the
    /// older point if higher) and
    /// returns it; `None` if this cut implies none (an older point stays).
    fn record_repair_point(
        &mut self,
        damage: TailDamage,
        entries_cut: u64,
    ) -> Result<Option<Index>, StorageError> {
        if !damage.may_have_been_synced() || entries_cut == 0 {
            return Ok(None);
        }
        let older = self.recovered.repair_point;
        let implied = self
            .recovered
            .index
            .last_index()
            .saturating_add(entries_cut);
        let record = RepairRecord {
            point: older.map_or(implied, |old| old.point.max(implied)),
            entries_cut: older.map_or(entries_cut, |old| old.entries_cut.max(entries_cut)),
        };
        if older != Some(record) {
            repair_file::write(self.fs, self.dir, record, self.flush)?;
            self.recovered.repair_point = Some(record);
        }
        Ok(Some(record.point))
    }

    fn start_segment(&mut self, path: &Path, start_index: Index) -> Result<(), StorageError> {
        if start_index > INDEX_MAX {
            let reason = format!("the segment starts at index {start_index}, past {INDEX_MAX}");
            return Err(StorageError::corrupt(path, 0, reason));
        }
        if self.recovered.last_seq == 0 {
            self.recovered.index = EntryIndex::starting_at(start_index);
            return Ok(());
        }
        let expected = self.recovered.index.last_index() + 1;
        if start_index != expected {
            let reason = format!(
                "the segment starts at index {start_index} but the log before it ends at {}",
                expected - 1
            );
            return Err(StorageError::corrupt(path, 0, reason));
        }
        Ok(())
    }

    /// Reads the records after the `header_bytes` long segment header.
    fn records(
        &mut self,
        path: &Path,
        file: &dyn FsFile,
        header_bytes: usize,
        is_last: bool,
    ) -> Result<(), StorageError> {
        let mut offset = header_bytes;
        loop {
            match record::parse(&self.buffer[offset..]) {
                Parsed::End => return Ok(()),
                Parsed::Record {
                    record_type,
                    body,
                    total_bytes,
                } => {
                    let decoded = record::decode(record_type, body);
                    self.apply(path, offset as u64, decoded)?;
                    offset += total_bytes;
                }
                Parsed::Bad(reason) => return self.torn_tail(path, file, offset, is_last, reason),
            }
        }
    }

    fn torn_tail(
        &mut self,
        path: &Path,
        file: &dyn FsFile,
        offset: usize,
        is_last: bool,
        reason: &str,
    ) -> Result<(), StorageError> {
        if let Some(next) = record::find_valid_record(&self.buffer, offset + 1) {
            let reason = format!("{reason}, yet a valid record follows at byte {next}");
            return Err(StorageError::corrupt(path, offset as u64, reason));
        }
        if !is_last {
            let reason = format!("{reason} in a segment that is not the last");
            return Err(StorageError::corrupt(path, offset as u64, reason));
        }
        let cut_bytes = (self.buffer.len() - offset) as u64;
        let damage = tail::classify_records(&self.buffer[offset..]);
        let entries_cut = tail::entries_cut_bound(&self.buffer[offset..]);
        match self.record_repair_point(damage, entries_cut)? {
            Some(point) => tracing::warn!(
                file = %path.display(),
                offset,
                bytes = cut_bytes,
                repair_point = point,
                "cutting a damaged tail off the log: {reason}; {}; so this node will not vote \
                 until a leader has brought its log to the repair point",
                damage.explanation()
            ),
            None if damage.may_have_been_synced() => tracing::warn!(
                file = %path.display(),
                offset,
                bytes = cut_bytes,
                "cutting a damaged tail off the log: {reason}; {}; but too few bytes to have \
                 held an entry",
                damage.explanation()
            ),
            None => tracing::warn!(
                file = %path.display(),
                offset,
                bytes = cut_bytes,
                "cutting a torn tail off the log: {reason}; {}",
                damage.explanation()
            ),
        }
        file.set_len(offset as u64)
            .map_err(|source| StorageError::io("truncate", path, source))?;
        file.sync_data()
            .map_err(|source| StorageError::io("fdatasync", path, source))
    }

    fn apply(
        &mut self,
        path: &Path,
        offset: u64,
        decoded: Result<Record, DecodeError>,
    ) -> Result<(), StorageError> {
        let record = decoded.map_err(|error| decode_error(path, offset, error))?;
        let named = match record {
            Record::Entry { index, .. } | Record::Reset { index, .. } => index,
            Record::Truncate { from } => from,
            Record::Compact { through, .. } => through,
            Record::HardState(_) => 0,
        };
        if named > INDEX_MAX {
            let reason = format!("a record names index {named}, past {INDEX_MAX}");
            return Err(StorageError::corrupt(path, offset, reason));
        }
        let index = &mut self.recovered.index;
        let (compacted, _) = index.compacted();
        let last = index.last_index();
        let bad = |reason: String| Err(StorageError::corrupt(path, offset, reason));
        match record {
            Record::Entry {
                index: entry_index,
                term,
            } => {
                if entry_index != last + 1 {
                    return bad(format!(
                        "entry {entry_index} does not follow the last index {last}"
                    ));
                }
                let Ok(offset) = u32::try_from(offset) else {
                    return bad("entry offset past 4 GiB in one segment".to_string());
                };
                index.push_entry(entry_index, term, offset);
            }
            Record::HardState(hard_state) => self.recovered.hard_state = hard_state,
            Record::Truncate { from } => {
                if from <= compacted || from > last + 1 {
                    return bad(format!(
                        "truncation from {from} outside the log {}..={last}",
                        compacted + 1
                    ));
                }
                index.truncate(from);
            }
            Record::Compact { through, term } => {
                if through > last {
                    return bad(format!(
                        "compaction through {through} past the last index {last}"
                    ));
                }
                if through > compacted {
                    if let Some(known) = index.term(through)
                        && known != term
                    {
                        return bad(format!(
                            "compaction says term {term} at {through}, the log has {known}"
                        ));
                    }
                    index.compact(through, term);
                }
            }
            Record::Reset { index: at, term } => {
                if at < compacted {
                    return bad(format!(
                        "reset to {at} below the compaction point {compacted}"
                    ));
                }
                index.reset(at, term);
            }
        }
        Ok(())
    }

    /// Every entry above the compaction point must have been found.
    fn check_complete(&self) -> Result<(), StorageError> {
        let index = &self.recovered.index;
        let (compacted, _) = index.compacted();
        let first_located = index.first_located();
        if index.last_index() > compacted && first_located > compacted + 1 {
            let path = index
                .segments()
                .front()
                .map_or_else(|| self.dir.to_path_buf(), |s| s.path.clone());
            let reason = format!(
                "entries {}..{} are missing: the log was compacted only through {compacted} (was a segment deleted?)",
                compacted + 1,
                first_located
            );
            return Err(StorageError::corrupt(path, 0, reason));
        }
        Ok(())
    }
}

fn decode_error(path: &Path, offset: u64, error: DecodeError) -> StorageError {
    match error {
        DecodeError::UnknownRecordType(tag) => StorageError::UnknownRecordType {
            path: path.to_path_buf(),
            offset,
            what: "record",
            tag,
        },
        DecodeError::UnknownPayloadTag(tag) => StorageError::UnknownRecordType {
            path: path.to_path_buf(),
            offset,
            what: "entry payload",
            tag,
        },
        DecodeError::Malformed(reason) => StorageError::corrupt(path, offset, reason),
    }
}
