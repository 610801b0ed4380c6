//! [`WalLogStore`]: the log as a directory of checksummed, segmented
//! write-ahead-log files. The design (layout, write path and group commit,
//! the fsync gate) is documented on [`WalLogStore`], this module being
//! private (its types are re-exported from `storage`, their one path).

mod cache;
mod cluster_id;
mod durable_marker;
mod index;
mod marker_file;
pub(crate) mod record;
mod recovery;
pub(crate) mod repair_file;
mod segment;
pub(crate) mod survey;
mod tail;
pub(crate) mod vote_file;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use ordo_core::{Entry, HardState, Index, LogRead, LogReadError, Persist, PersistId, Term};

use crate::storage::error::{Exhausted, StorageError};
use crate::storage::fs::{FileSystem, FsFile, StdFs, create_dir_durably};
use crate::storage::lock::DirLock;
use crate::storage::log_store::{Durable, LogStore, checks};
use cache::EntryCache;
use durable_marker::DurablePosition;
use index::EntryIndex;
use record::{Parsed, RECORD_BODY_BYTES_MAX, RECORD_HEADER_BYTES, RecordWriter};
use repair_file::RepairRecord;
use segment::{NewSegment, create_segment, defer_segment, flush_recovered, start_segment};

/// When [`LogStore::sync`] really flushes to disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// fdatasync on every sync that has something to flush. The default, and the
    /// only setting under which "durable" means durable.
    #[default]
    Always,
    /// Never flush: sync reports writes durable at once. For tests and benchmarks
    /// that say so in their output; a crash loses recent writes.
    Never,
}

/// Settings of a [`WalLogStore`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalConfig {
    /// A segment is closed and a new one started once it reaches this size.
    /// Between 4 KiB and 1 GiB; default 64 MiB.
    pub segment_size_bytes: u64,
    /// Whether syncs flush; default [`Durability::Always`].
    pub durability: Durability,
    /// Most entries kept in the read cache; default 16 384.
    pub cache_entries_max: usize,
    /// Most payload bytes kept in the read cache; default 64 MiB.
    pub cache_payload_bytes_max: u64,
    /// The cluster this log belongs to (1 to
    /// [`CLUSTER_ID_BYTES_MAX`](Self::CLUSTER_ID_BYTES_MAX) bytes), named in
    /// every segment header it writes. Open refuses a log whose segments
    /// name another ([`StorageError::ClusterMismatch`]); segments that name
    /// none (written before ids, or without one) are accepted, and the next
    /// segment names it. `None` (the default): no check; new segments name
    /// the id the log already names, if any. See `wal/cluster_id.rs`.
    pub cluster_id: Option<String>,
}

impl Default for WalConfig {
    fn default() -> Self {
        WalConfig {
            segment_size_bytes: 64 << 20,
            durability: Durability::Always,
            cache_entries_max: 16_384,
            cache_payload_bytes_max: 64 << 20,
            cluster_id: None,
        }
    }
}

const SEGMENT_SIZE_BYTES_MIN: u64 = 4 << 10;
const SEGMENT_SIZE_BYTES_MAX: u64 = 1 << 30;

impl WalConfig {
    /// Longest [`cluster_id`](Self::cluster_id) a segment header holds.
    pub const CLUSTER_ID_BYTES_MAX: usize = record::CLUSTER_ID_BYTES_MAX;

    fn validate(&self) -> Result<(), StorageError> {
        if !(SEGMENT_SIZE_BYTES_MIN..=SEGMENT_SIZE_BYTES_MAX).contains(&self.segment_size_bytes) {
            return Err(StorageError::InvalidConfig(format!(
                "segment_size_bytes is {}; it must lie in {SEGMENT_SIZE_BYTES_MIN}..={SEGMENT_SIZE_BYTES_MAX}",
                self.segment_size_bytes
            )));
        }
        if let Some(id) = &self.cluster_id
            && !(1..=Self::CLUSTER_ID_BYTES_MAX).contains(&id.len())
        {
            return Err(StorageError::InvalidConfig(format!(
                "cluster_id is {} bytes long; it must be 1 to {} bytes (or None for no check)",
                id.len(),
                Self::CLUSTER_ID_BYTES_MAX
            )));
        }
        Ok(())
    }
}

/// A [`LogStore`] on disk: segmented write-ahead log with group commit, torn
/// tail repair, bounded memory and an exclusive directory lock. The design
/// follows.
///
/// Share it as `Arc<WalLogStore>`: that is the core's cheap, `Send + Sync`
/// [`LogRead`] handle, while the persistence task writes and syncs through
/// another clone.
///
/// # Layout
/// `<dir>/LOCK` (held with `flock` while open) and `<dir>/<seq:020>.wal`
/// segments, numbered consecutively. The byte format is in `record.rs`. Every
/// segment starts with its header and two *head records*, the hard state and the
/// compaction point at its creation, so deleting older segments never loses
/// them. Hard state changes are WAL records too: one fdatasync covers entries
/// and hard state together.
///
/// Beside the segments: `<dir>/VOTE`, a second copy of the term and vote
/// (`vote_file.rs`), rewritten atomically only when they changed, within the
/// sync round that reports them durable and before its fdatasync. Recovery may
/// cut a damaged, synced last record; were it the newest hard state, the node
/// would forget its term and vote without this file. `<dir>/REPAIR` (only
/// while the log may lack entries it reported durable, `repair_file.rs`) and
/// `<dir>/POISONED` (`durable_marker.rs`) are described with their modules.
///
/// A log configured with a cluster id names it in every segment header it
/// writes, and open refuses segments that name another (`cluster_id.rs`).
///
/// Every open starts a fresh segment (the previous last segment is never
/// appended to again, which keeps a cut torn tail final); segments, however
/// small, go away with compaction. On a full disk, open defers the new
/// segment to the first write, which then fails with an error whose
/// [`StorageError::exhausted`] says so: the node can restart and serve what
/// it has. Before that, open fdatasyncs every recovered
/// segment: after a process crash, recovery reads writes that may exist only in
/// the page cache, and the reopened store reports all it holds as durable.
///
/// The log is append-only. A suffix truncation is a `Truncate` record, a
/// compaction a `Compact` record, a snapshot install a `Reset` record; recovery
/// replays them. Space comes back when compaction deletes whole segments.
///
/// # Write path and group commit
/// ```text
///  write()/append() ──► [writer mutex] encode batch ─► pwrite to active segment
///                                          └─► [view write lock] index + cache updated
///  sync() ──► [sync round mutex] take "active file dirty" ─► fdatasync (no lock held)
///                                          └─► durable point advanced, returned
///  reads ───► [view read lock] cache, or index ─► pread + CRC check
/// ```
/// `sync` holds no lock while the disk flushes, so writes keep arriving and
/// reads keep being served; everything written meanwhile is covered by the next
/// single fdatasync, and callers queued behind a flush that already covered them
/// return without one. A batch is never split over segments: a segment is
/// closed once it reaches the configured size (so it may overshoot by one batch)
/// and, if it holds writes no *completed* fdatasync covers (a flush still in
/// flight does not count), flushed before the next one is created. That costs
/// at most one extra fdatasync per segment (none when every batch is synced
/// and each sync returns before the next write, as the runtime does) and a directory fsync with
/// the next sync, but gives recovery a simple rule: damage in any segment but
/// the last is corruption, never a crash.
///
/// # Failures (the fsync gate)
/// A failed write or fdatasync poisons the store. After a failed fsync, Linux may
/// have dropped the dirty pages and marked them clean, so a later "successful"
/// fsync would not cover them; the only honest continuation is to reopen, which
/// recovers what really is on disk. Until then writes and syncs return
/// [`StorageError::Poisoned`], the durable point never moves, and reads serve the
/// log capped at the last durable index. A sync whose flush was in flight when
/// the store was poisoned does not report its durability point either: Linux
/// reports a writeback error once per open file, so the failure seen by another
/// fdatasync of the same file (a rotation's) may have been this one's too.
/// The poisoned store also records, best effort, the last position a completed
/// fdatasync covered (`POISONED`); the next open cuts every byte after it, as
/// a restart without a reboot could otherwise read back pages the kernel
/// dropped from the disk but still serves (`durable_marker.rs`).
#[derive(Debug)]
pub struct WalLogStore {
    dir: PathBuf,
    config: WalConfig,
    /// What new segment headers name (empty: none; see `cluster_id.rs`).
    cluster_id: Vec<u8>,
    fs: Arc<dyn FileSystem>,
    /// What readers see. Lock order: `writer`, then `view`.
    view: RwLock<View>,
    writer: Mutex<Writer>,
    /// Held for a whole flush round, so concurrent syncs share flushes.
    sync_round: Mutex<()>,
    /// What the `VOTE` file holds (see `vote_file.rs`); lock order: after
    /// `sync_round`, and it is rewritten only within a sync round.
    vote_file: Mutex<HardState>,
    /// Mirrors the `REPAIR` file (see [`LogStore::repair_point`]).
    repair_point: Mutex<Option<RepairRecord>>,
    /// How far a completed fdatasync covers the log; recorded in the
    /// `POISONED` marker when the store is poisoned (see `durable_marker.rs`).
    durable_position: Mutex<DurablePosition>,
    _lock: DirLock,
}

#[derive(Debug)]
struct View {
    index: EntryIndex,
    cache: EntryCache,
    hard_state: HardState,
    durable: Durable,
    /// Set by the first failed write or sync; see the module docs.
    poisoned: Option<Poison>,
}

impl View {
    /// The last index readers may see: capped at the durable point once poisoned.
    fn visible_last_index(&self) -> Index {
        let last = self.index.last_index();
        match self.poisoned {
            Some(_) => last.min(self.durable.last_index),
            None => last,
        }
    }

    fn last_term(&self) -> Term {
        let last = self.index.last_index();
        self.index.term(last).unwrap_or(self.index.compacted().1)
    }

    fn check_writable(&self) -> Result<(), StorageError> {
        match &self.poisoned {
            Some(poison) => Err(StorageError::Poisoned {
                cause: poison.cause.clone(),
                exhausted: poison.exhausted,
            }),
            None => Ok(()),
        }
    }
}

/// The first failure of a poisoned store.
#[derive(Debug)]
struct Poison {
    cause: String,
    exhausted: Option<Exhausted>,
}

/// The active segment and the bookkeeping of writes and syncs.
#[derive(Debug)]
struct Writer {
    seq: u64,
    path: PathBuf,
    file: Arc<dyn FsFile>,
    len: u64,
    /// The active segment was written since the last flush round took it.
    dirty: bool,
    /// Bytes of the active segment that a *completed* fdatasync covers. Not the
    /// same as `!dirty`: a round clears `dirty` when it takes the file, before
    /// its flush finishes.
    flushed_len: u64,
    /// A segment was created since the last flush round.
    dir_dirty: bool,
    /// The active segment is a recovered one, which is never appended to
    /// (open could not start a new one: the disk is full). The next write
    /// starts one first, and fails clearly if the disk still is.
    needs_segment: bool,
    records: RecordWriter,
    entry_offsets: Vec<usize>,
    /// Writes completed so far, and how many of them a finished flush covers.
    write_count: u64,
    durable_count: u64,
    persist_id: PersistId,
}

/// Largest encoded write accepted at once.
const WRITE_BYTES_MAX: u64 = RECORD_BODY_BYTES_MAX;

impl WalLogStore {
    /// Opens (or creates) the log in `dir` on the real file system.
    ///
    /// # Errors
    /// [`StorageError::Locked`] if another store holds `dir`; the recovery errors
    /// of the module docs ([`StorageError::Corrupt`] and friends); I/O errors.
    pub fn open(dir: impl AsRef<Path>, config: WalConfig) -> Result<Self, StorageError> {
        Self::open_with_fs(dir, config, Arc::new(StdFs))
    }

    /// Opens (or creates) the log in `dir` through `fs` (tests inject faults here).
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_with_fs(
        dir: impl AsRef<Path>,
        config: WalConfig,
        fs: Arc<dyn FileSystem>,
    ) -> Result<Self, StorageError> {
        config.validate()?;
        let dir = dir.as_ref().to_path_buf();
        if config.durability == Durability::Always {
            create_dir_durably(fs.as_ref(), &dir)?;
        } else {
            fs.create_dir_all(&dir)
                .map_err(|source| StorageError::io("create", &dir, source))?;
        }
        let lock = DirLock::acquire(&dir)?;
        // Before anything on disk changes: another cluster's log is refused as found.
        let configured_id = config.cluster_id.as_deref().map(str::as_bytes);
        let cluster_id = cluster_id::check(fs.as_ref(), &dir, configured_id)?;
        durable_marker::cut_after_marker(fs.as_ref(), &dir)?;
        let flush = config.durability == Durability::Always;
        let recovered = recovery::recover(fs.as_ref(), &dir, flush)?;
        let recovered_repair_point = recovered.repair_point;
        // The file may lag the log: a directory from before the file existed,
        // or a hard state written but never synced (which open now reports
        // durable). Catch it up before anyone can read the hard state; on a
        // full disk the log still opens (module docs), and the first sync
        // tries again.
        let mut vote_file_state = recovered.vote_file.unwrap_or_default();
        if recovered.hard_state != vote_file_state {
            match vote_file::write(fs.as_ref(), &dir, recovered.hard_state, flush) {
                Ok(()) => vote_file_state = recovered.hard_state,
                Err(error) if error.exhausted().is_some() => {
                    tracing::warn!(%error, "cannot copy the term and vote to the VOTE file yet");
                }
                Err(error) => return Err(error),
            }
        }
        if config.durability == Durability::Always {
            flush_recovered(&recovered.index)?;
        }
        let mut view = View {
            index: recovered.index,
            cache: EntryCache::new(config.cache_entries_max, config.cache_payload_bytes_max),
            hard_state: recovered.hard_state,
            durable: Durable::default(),
            poisoned: None,
        };
        view.durable = Durable {
            persist_id: 0,
            last_index: view.index.last_index(),
            last_term: view.last_term(),
            hard_state: view.hard_state,
        };
        let first_new = NewSegment {
            dir: &dir,
            seq: recovered.last_seq + 1,
            cluster_id: &cluster_id,
        };
        let active = match start_segment(fs.as_ref(), &first_new, &view, &config) {
            Ok(active) => {
                view.index
                    .push_segment(active.seq, active.path.clone(), Arc::clone(&active.file));
                active
            }
            Err(error) if error.exhausted() == Some(Exhausted::DiskSpace) => {
                defer_segment(&view.index, error)?
            }
            Err(error) => return Err(error),
        };
        let (seq, flushed_len) = (active.seq, active.flushed_len);
        let writer = Writer {
            seq: active.seq,
            path: active.path,
            file: active.file,
            len: active.len,
            dirty: false,
            flushed_len: active.flushed_len,
            dir_dirty: false,
            needs_segment: active.needs_segment,
            records: RecordWriter::default(),
            entry_offsets: Vec::new(),
            write_count: 0,
            durable_count: 0,
            persist_id: 0,
        };
        Ok(WalLogStore {
            dir,
            config,
            cluster_id,
            fs,
            view: RwLock::new(view),
            writer: Mutex::new(writer),
            sync_round: Mutex::new(()),
            vote_file: Mutex::new(vote_file_state),
            repair_point: Mutex::new(recovered_repair_point),
            durable_position: Mutex::new(DurablePosition {
                seq,
                offset: flushed_len,
            }),
            _lock: lock,
        })
    }

    /// The directory this store owns.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The settings the store was opened with.
    pub fn config(&self) -> &WalConfig {
        &self.config
    }

    /// Number of segment files the log currently spans.
    pub fn segment_count(&self) -> usize {
        self.read_view().index.segments().len()
    }

    fn read_view(&self) -> RwLockReadGuard<'_, View> {
        self.view.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_view(&self) -> RwLockWriteGuard<'_, View> {
        self.view.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_repair_point(&self) -> MutexGuard<'_, Option<RepairRecord>> {
        self.repair_point
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_writer(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records the first failure, and where the log was last durable (see
    /// `durable_marker.rs`), and hands the error back.
    fn poison(&self, error: StorageError) -> StorageError {
        let first = {
            let mut view = self.write_view();
            let first = view.poisoned.is_none();
            if first {
                tracing::error!(%error, "log store poisoned; it must be reopened");
                view.poisoned = Some(Poison {
                    cause: error.to_string(),
                    exhausted: error.exhausted(),
                });
            }
            first
        };
        if first && self.config.durability == Durability::Always {
            let position = *self.lock_durable_position();
            if let Err(marker_error) = durable_marker::write(self.fs.as_ref(), &self.dir, position)
            {
                tracing::error!(
                    %marker_error,
                    "cannot record the last durable position; a restart without a reboot \
                     may trust bytes no fdatasync covered"
                );
            }
        }
        error
    }

    fn lock_durable_position(&self) -> MutexGuard<'_, DurablePosition> {
        self.durable_position
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A completed fdatasync covered segment `seq` up to `offset`; called only
    /// while the store is not poisoned (a flush that "succeeds" after another
    /// failed may not have written anything).
    fn advance_durable_position(&self, seq: u64, offset: u64) {
        let mut position = self.lock_durable_position();
        *position = (*position).max(DurablePosition { seq, offset });
    }

    /// Writes the encoded records of `writer` to the active segment (rotating
    /// first if it is full) and returns the byte offset they start at.
    fn write_records(&self, writer: &mut Writer) -> Result<u64, StorageError> {
        let bytes = writer.records.bytes.len() as u64;
        if bytes > WRITE_BYTES_MAX {
            return Err(StorageError::WriteTooLarge {
                bytes,
                limit: WRITE_BYTES_MAX,
            });
        }
        if writer.needs_segment || writer.len >= self.config.segment_size_bytes {
            self.rotate(writer)?;
        }
        let base = writer.len;
        writer
            .file
            .write_all_at(&writer.records.bytes, base)
            .map_err(|source| self.poison(StorageError::io("write to", &writer.path, source)))?;
        writer.len += bytes;
        writer.dirty = true;
        Ok(base)
    }

    /// Closes the full active segment (flushing it, see the module docs) and
    /// starts the next one. The flush is skipped only if a completed one already
    /// covers the whole segment: a sync round still in flight does not count,
    /// since a crash before it finishes would leave damage in a segment that is
    /// no longer the last.
    fn rotate(&self, writer: &mut Writer) -> Result<(), StorageError> {
        if self.config.durability == Durability::Always && writer.flushed_len < writer.len {
            writer.file.sync_data().map_err(|source| {
                self.poison(StorageError::io("fdatasync", &writer.path, source))
            })?;
            self.read_view().check_writable()?;
            self.advance_durable_position(writer.seq, writer.len);
        }
        let seq = writer.seq + 1;
        let new = NewSegment {
            dir: &self.dir,
            seq,
            cluster_id: &self.cluster_id,
        };
        let created = create_segment(self.fs.as_ref(), &new, &self.read_view());
        let (path, file, len) = created.map_err(|error| self.poison(error))?;
        self.write_view()
            .index
            .push_segment(seq, path.clone(), Arc::clone(&file));
        writer.seq = seq;
        writer.path = path;
        writer.file = file;
        writer.len = len;
        writer.needs_segment = false;
        writer.dirty = true;
        writer.flushed_len = 0;
        writer.dir_dirty = true;
        Ok(())
    }

    /// The one write path: hard state, then entries (with the implied suffix
    /// truncation), as one pwrite.
    fn write_batch(
        &self,
        hard_state: Option<HardState>,
        entries: &[Entry],
        persist_id: Option<PersistId>,
    ) -> Result<(), StorageError> {
        let mut writer = self.lock_writer();
        let truncate_from = {
            let view = self.read_view();
            view.check_writable()?;
            let (compacted, _) = view.index.compacted();
            checks::append(entries, compacted, view.index.last_index())?;
            entries
                .first()
                .map(|first| first.index)
                .filter(|&first| first <= view.index.last_index())
        };
        let writer = &mut *writer;
        writer.records.clear();
        writer.entry_offsets.clear();
        if let Some(hard_state) = hard_state {
            writer.records.hard_state(hard_state);
        }
        if let Some(from) = truncate_from {
            writer.records.truncate(from);
        }
        for entry in entries {
            let offset = writer.records.entry(entry);
            writer.entry_offsets.push(offset);
        }
        if !writer.records.bytes.is_empty() {
            let base = self.write_records(writer)?;
            let mut view = self.write_view();
            if let Some(hard_state) = hard_state {
                view.hard_state = hard_state;
            }
            if let Some(from) = truncate_from {
                view.index.truncate(from);
                view.cache.truncate(from);
            }
            for (entry, &offset) in entries.iter().zip(&writer.entry_offsets) {
                // A write starts below the segment size (at most 1 GiB) and is at
                // most 1 GiB long, so every offset fits in 32 bits.
                let offset = u32::try_from(base + offset as u64)
                    .unwrap_or_else(|_| unreachable!("record offset past 4 GiB in one segment"));
                view.index.push_entry(entry.index, entry.term, offset);
                view.cache.push(entry);
            }
        }
        if let Some(id) = persist_id {
            writer.persist_id = id;
        }
        writer.write_count += 1;
        Ok(())
    }

    /// Deletes the segments before `record_seq` that hold nothing above
    /// `through`; the compaction record in segment `record_seq` that makes them
    /// unnecessary is already durable. Later segments are not: another thread
    /// may have rotated since, so the record's segment itself stays.
    fn delete_compacted_segments(
        &self,
        through: Index,
        record_seq: u64,
    ) -> Result<(), StorageError> {
        let _writer = self.lock_writer();
        let removed = {
            let mut view = self.write_view();
            let count = view.index.deletable_prefix(through, record_seq);
            view.index.remove_front(count)
        };
        if removed.is_empty() {
            return Ok(());
        }
        for segment in &removed {
            self.fs
                .remove_file(&segment.path)
                .map_err(|source| self.poison(StorageError::io("remove", &segment.path, source)))?;
        }
        let seqs = removed.iter().map(|segment| segment.seq);
        let (first, last) = (seqs.clone().min(), seqs.max());
        tracing::debug!(?first, ?last, through, "deleted compacted log segments");
        self.fs.sync_dir(&self.dir).map_err(|source| {
            self.poison(StorageError::io("fsync the directory", &self.dir, source))
        })
    }

    /// A reset that is the first write since open may be the start check
    /// finishing a snapshot install whose own `Reset` record was among the
    /// bytes recovery cut: entries lost after it could reach `index` plus as
    /// many as the cut could hold. Raises a pending repair point to that,
    /// durably, before the reset is written. (A later reset, or one by a
    /// leader's snapshot that happens to come first, only makes the point
    /// more cautious.)
    fn raise_repair_point_for_reset(&self, index: Index) -> Result<(), StorageError> {
        let mut pending = self.lock_repair_point();
        let Some(record) = *pending else {
            return Ok(());
        };
        let implied = index.saturating_add(record.entries_cut);
        if record.entries_cut == 0 || implied <= record.point {
            return Ok(());
        }
        let raised = RepairRecord {
            point: implied,
            ..record
        };
        let flush = self.config.durability == Durability::Always;
        repair_file::write(self.fs.as_ref(), &self.dir, raised, flush)
            .map_err(|error| self.poison(error))?;
        tracing::warn!(
            reset_to = index,
            repair_point = implied,
            "the log is reset while it may lack entries it once had: repair point raised"
        );
        *pending = Some(raised);
        Ok(())
    }

    /// Within a sync round, before its flush: if the term or vote changed
    /// since the `VOTE` file was written, rewrites it (durably, under
    /// [`Durability::Always`]), so the sync never reports a hard state durable
    /// that a single damaged log record could take away (see `vote_file.rs`).
    fn write_vote_file(&self, hard_state: HardState) -> Result<(), StorageError> {
        let mut written = self
            .vote_file
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if *written == hard_state {
            return Ok(());
        }
        let flush = self.config.durability == Durability::Always;
        vote_file::write(self.fs.as_ref(), &self.dir, hard_state, flush)
            .map_err(|error| self.poison(error))?;
        *written = hard_state;
        Ok(())
    }

    /// Reads entry `index` from its segment file and checks it.
    fn read_from_disk(&self, view: &View, index: Index) -> Result<Entry, StorageError> {
        let Some((segment, offset)) = view.index.locate(index) else {
            return Err(StorageError::corrupt(
                &self.dir,
                0,
                format!("entry {index} has no location"),
            ));
        };
        let read_error = |source| StorageError::io("read", &segment.path, source);
        let mut header = [0u8; RECORD_HEADER_BYTES];
        segment
            .file
            .read_exact_at(&mut header, offset)
            .map_err(read_error)?;
        let body_bytes = u64::from(u32::from_le_bytes([
            header[0], header[1], header[2], header[3],
        ]));
        if body_bytes > RECORD_BODY_BYTES_MAX {
            return Err(StorageError::corrupt(
                &segment.path,
                offset,
                "implausible record length",
            ));
        }
        let mut bytes = vec![0u8; RECORD_HEADER_BYTES + body_bytes as usize];
        segment
            .file
            .read_exact_at(&mut bytes, offset)
            .map_err(read_error)?;
        let Parsed::Record {
            record_type, body, ..
        } = record::parse(&bytes)
        else {
            return Err(StorageError::corrupt(
                &segment.path,
                offset,
                "record damaged since the log was opened",
            ));
        };
        let entry = match record::is_entry(record_type) {
            true => record::decode_entry(body).ok(),
            false => None,
        };
        match entry {
            Some(entry) if entry.index == index => Ok(entry),
            _ => Err(StorageError::corrupt(
                &segment.path,
                offset,
                format!("expected entry {index} here"),
            )),
        }
    }
}

impl LogRead for WalLogStore {
    fn first_index(&self) -> Index {
        self.read_view().index.compacted().0 + 1
    }

    fn last_index(&self) -> Index {
        self.read_view().visible_last_index()
    }

    fn term(&self, index: Index) -> Result<Term, LogReadError> {
        let view = self.read_view();
        let (compacted, _) = view.index.compacted();
        if index < compacted {
            return Err(LogReadError::Compacted {
                index,
                first_index: compacted + 1,
            });
        }
        let last_index = view.visible_last_index();
        if index > last_index {
            return Err(LogReadError::Unavailable { index, last_index });
        }
        view.index.term(index).ok_or_else(|| LogReadError::Storage {
            message: format!("the log index has no term for entry {index}"),
        })
    }

    fn entries(&self, low: Index, high: Index, max_bytes: u64) -> Result<Vec<Entry>, LogReadError> {
        let view = self.read_view();
        let (compacted, _) = view.index.compacted();
        if low <= compacted {
            return Err(LogReadError::Compacted {
                index: low,
                first_index: compacted + 1,
            });
        }
        let last_index = view.visible_last_index();
        if high > last_index + 1 {
            return Err(LogReadError::Unavailable {
                index: high - 1,
                last_index,
            });
        }
        let mut entries = Vec::with_capacity(high.saturating_sub(low).min(1024) as usize);
        let mut bytes = 0u64;
        for index in low..high {
            let entry = match view.cache.get(index) {
                Some(entry) => entry.clone(),
                None => self.read_from_disk(&view, index)?,
            };
            bytes += entry.payload_bytes();
            if bytes > max_bytes && !entries.is_empty() {
                break;
            }
            entries.push(entry);
        }
        Ok(entries)
    }
}

/// Writes the runtime never makes, kept for tests that drive the WAL
/// directly (crash, fault and power-loss tests); they follow the
/// [`LogStore`] contract like the trait's own writes.
impl WalLogStore {
    /// Appends `entries` as [`LogStore::write`] does, without a hard state
    /// or persist id.
    ///
    /// # Errors
    /// As [`LogStore::write`].
    pub fn append(&self, entries: &[Entry]) -> Result<(), StorageError> {
        self.write_batch(None, entries, None)
    }

    /// Removes every entry with index `>= from`. `from == last_index() + 1` is a
    /// no-op.
    ///
    /// # Errors
    /// [`StorageError::Compacted`] if `from <= first_index() - 1`;
    /// [`StorageError::OutOfRange`] if `from > last_index() + 1`; I/O errors.
    pub fn truncate(&self, from: Index) -> Result<(), StorageError> {
        let mut writer = self.lock_writer();
        {
            let view = self.read_view();
            view.check_writable()?;
            checks::truncate(from, view.index.compacted().0, view.index.last_index())?;
            if from == view.index.last_index() + 1 {
                return Ok(());
            }
        }
        writer.records.clear();
        writer.records.truncate(from);
        self.write_records(&mut writer)?;
        let mut view = self.write_view();
        view.index.truncate(from);
        view.cache.truncate(from);
        writer.write_count += 1;
        Ok(())
    }

    /// The last durability point reached: what the last successful
    /// [`sync`](LogStore::sync) returned.
    pub fn durable(&self) -> Durable {
        self.read_view().durable
    }
}

impl LogStore for WalLogStore {
    fn compact(&self, through: Index) -> Result<(), StorageError> {
        let record_seq = {
            let mut writer = self.lock_writer();
            let term = {
                let view = self.read_view();
                view.check_writable()?;
                checks::compact(through, view.index.last_index())?;
                if through <= view.index.compacted().0 {
                    return Ok(());
                }
                view.index.term(through).ok_or_else(|| {
                    StorageError::corrupt(
                        &self.dir,
                        0,
                        format!("the log index has no term for entry {through}"),
                    )
                })?
            };
            writer.records.clear();
            writer.records.compact(through, term);
            self.write_records(&mut writer)?;
            let mut view = self.write_view();
            view.index.compact(through, term);
            view.cache.compact(through);
            writer.write_count += 1;
            writer.seq
        };
        self.sync()?;
        self.delete_compacted_segments(through, record_seq)
    }

    fn reset(&self, index: Index, term: Term) -> Result<(), StorageError> {
        let record_seq = {
            let mut writer = self.lock_writer();
            {
                let view = self.read_view();
                view.check_writable()?;
                checks::reset(index, view.index.compacted().0)?;
            }
            if writer.write_count == 0 {
                self.raise_repair_point_for_reset(index)?;
            }
            writer.records.clear();
            writer.records.reset(index, term);
            self.write_records(&mut writer)?;
            let mut view = self.write_view();
            view.index.reset(index, term);
            view.cache.clear();
            writer.write_count += 1;
            writer.seq
        };
        self.sync()?;
        self.delete_compacted_segments(index, record_seq)
    }

    fn save_hard_state(&self, hard_state: HardState) -> Result<(), StorageError> {
        self.write_batch(Some(hard_state), &[], None)
    }

    fn hard_state(&self) -> HardState {
        self.read_view().hard_state
    }

    fn write(&self, persist: Persist) -> Result<(), StorageError> {
        self.write_batch(persist.hard_state, &persist.entries, Some(persist.id))
    }

    fn sync(&self) -> Result<Durable, StorageError> {
        let wanted = self.lock_writer().write_count;
        let _round = self
            .sync_round
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (target, count, file, dir_dirty, taken) = {
            let mut writer = self.lock_writer();
            let view = self.read_view();
            view.check_writable()?;
            if writer.durable_count >= wanted {
                return Ok(view.durable);
            }
            let target = Durable {
                persist_id: writer.persist_id,
                last_index: view.index.last_index(),
                last_term: view.last_term(),
                hard_state: view.hard_state,
            };
            let file = writer
                .dirty
                .then(|| (Arc::clone(&writer.file), writer.path.clone()));
            writer.dirty = false;
            let dir_dirty = std::mem::take(&mut writer.dir_dirty);
            let taken = (writer.seq, writer.len);
            (target, writer.write_count, file, dir_dirty, taken)
        };
        self.write_vote_file(target.hard_state)?;
        if self.config.durability == Durability::Always {
            if let Some((file, path)) = file {
                file.sync_data()
                    .map_err(|source| self.poison(StorageError::io("fdatasync", path, source)))?;
            }
            if dir_dirty {
                self.fs.sync_dir(&self.dir).map_err(|source| {
                    self.poison(StorageError::io("fsync the directory", &self.dir, source))
                })?;
            }
        }
        let mut writer = self.lock_writer();
        let mut view = self.write_view();
        // The fsync gate, part two: if any write or flush failed while ours ran
        // (a rotation's fdatasync of the same file, say), ours may have returned
        // success only because the kernel reported the writeback error to the
        // other caller. Nothing can be claimed durable any more.
        view.check_writable()?;
        if self.config.durability == Durability::Always {
            if writer.seq == taken.0 {
                writer.flushed_len = writer.flushed_len.max(taken.1);
            }
            self.advance_durable_position(taken.0, taken.1);
        }
        writer.durable_count = count;
        view.durable = target;
        Ok(target)
    }

    fn location(&self) -> Option<&Path> {
        Some(&self.dir)
    }

    fn repair_point(&self) -> Option<Index> {
        self.lock_repair_point().map(|record| record.point)
    }

    fn clear_repair_point(&self) -> Result<(), StorageError> {
        let mut repair_point = self.lock_repair_point();
        if repair_point.is_some() {
            repair_file::remove(self.fs.as_ref(), &self.dir)?;
            tracing::info!(dir = %self.dir.display(), "repair point cleared");
            *repair_point = None;
        }
        Ok(())
    }
}
