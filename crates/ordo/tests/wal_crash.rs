//! Crash and corruption tests for WalLogStore: what a crash or a damaged disk
//! leaves behind, and what reopening makes of it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use std::sync::Arc;

use ordo::storage::fs::{Fault, FaultInjectingFs};
use ordo::storage::{
    Durability, LogStore, StorageError, WalConfig, WalLogStore, conformance::entries,
};
use ordo_core::{Entry, HardState, LogRead};

fn fast_config() -> WalConfig {
    WalConfig {
        durability: Durability::Never,
        ..common::small_config()
    }
}

fn all(store: &WalLogStore) -> Vec<Entry> {
    store
        .entries(store.first_index(), store.last_index() + 1, u64::MAX)
        .unwrap()
}

/// Size of the record of `entries(index, 1, term)[0]` (header 9, fixed 17, payload).
fn record_bytes(index: u64, term: u64) -> u64 {
    9 + 17 + format!("entry {index} term {term}").len() as u64
}

/// A one-segment log holding entries 1..=5, one record each; returns the
/// segment path and the byte offsets of the five entry records.
fn five_record_log(dir: &Path) -> (PathBuf, Vec<u64>) {
    let store = common::open(dir);
    for index in 1..=5 {
        store.append(&entries(index, 1, 1)).unwrap();
    }
    store.sync().unwrap();
    drop(store);
    let segment = common::segments(dir).pop().unwrap();
    let len = std::fs::metadata(&segment).unwrap().len();
    let mut offsets = vec![len];
    for index in (1..=5).rev() {
        let previous = offsets[0] - record_bytes(index, 1);
        offsets.insert(0, previous);
    }
    offsets.pop();
    (segment, offsets)
}

fn scratch_copy(from: &Path, to: &Path) {
    let _ignored = std::fs::remove_dir_all(to);
    common::copy_dir(from, to);
}

fn flip_bit(path: &Path, bit: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[(bit / 8) as usize] ^= 1 << (bit % 8);
    std::fs::write(path, bytes).unwrap();
}

fn set_len(path: &Path, len: u64) {
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.set_len(len).unwrap();
}

/// A crash during a write leaves a prefix of the last records: they were never
/// completely written, so no completed fdatasync covered them, and the node
/// may vote at once (a whole-cluster power loss leaves this on every node).
#[test]
fn a_cut_anywhere_in_the_last_records_reopens_without_a_repair_point() {
    let original = tempfile::tempdir().unwrap();
    let (segment, offsets) = five_record_log(original.path());
    let end = std::fs::metadata(&segment).unwrap().len();
    let scratch = tempfile::tempdir().unwrap();
    let copy = scratch.path().join("log");
    for cut in offsets[3] + 1..end {
        scratch_copy(original.path(), &copy);
        set_len(&copy.join(segment.file_name().unwrap()), cut);
        let store = WalLogStore::open(&copy, fast_config()).unwrap();
        let kept = if cut < offsets[4] { 3 } else { 4 };
        assert_eq!(all(&store), entries(1, kept, 1), "cut at byte {cut}");
        assert_eq!(store.repair_point(), None, "cut at byte {cut}");
        store.append(&entries(kept + 1, 1, 2)).unwrap();
        drop(store);
        let store = WalLogStore::open(&copy, fast_config()).unwrap();
        assert_eq!(
            store.last_index(),
            kept + 1,
            "append after the cut at byte {cut} survives"
        );
        assert_eq!(store.term(kept + 1), Ok(2));
    }
}

/// A file's size can reach the disk without its data: the tail reads as
/// zeros, which no completed fdatasync covered.
#[test]
fn a_zero_filled_tail_is_cut_without_a_repair_point() {
    let original = tempfile::tempdir().unwrap();
    let (segment, offsets) = five_record_log(original.path());
    let end = std::fs::metadata(&segment).unwrap().len();
    let scratch = tempfile::tempdir().unwrap();
    let copy = scratch.path().join("log");
    // Zeros after the last record, and zeros from where the last record starts.
    for (data_end, kept) in [(end, 5), (offsets[4], 4)] {
        for zeros in [1, 9, 26, 100, 4096] {
            scratch_copy(original.path(), &copy);
            let damaged = copy.join(segment.file_name().unwrap());
            set_len(&damaged, data_end);
            set_len(&damaged, data_end + zeros);
            let store = WalLogStore::open(&copy, fast_config()).unwrap();
            let case = format!("data to byte {data_end}, then {zeros} zero bytes");
            assert_eq!(all(&store), entries(1, kept, 1), "{case}");
            assert_eq!(store.repair_point(), None, "{case}");
        }
    }
}

/// Zeros inside the extent of a record that has begun are not told apart from
/// a synced record whose later bytes were damaged: a repair point.
#[test]
fn a_record_start_followed_by_zeros_gives_a_repair_point() {
    let dir = tempfile::tempdir().unwrap();
    let (segment, offsets) = five_record_log(dir.path());
    let end = std::fs::metadata(&segment).unwrap().len();
    set_len(&segment, offsets[4] + 12);
    set_len(&segment, end + 4096);
    let store = common::open(dir.path());
    assert_eq!(all(&store), entries(1, 4, 1));
    assert!(
        store.repair_point() >= Some(5),
        "{:?}",
        store.repair_point()
    );
}

#[test]
fn a_bit_flip_in_the_last_record_is_detected_and_cut() {
    let original = tempfile::tempdir().unwrap();
    let (segment, offsets) = five_record_log(original.path());
    let end = std::fs::metadata(&segment).unwrap().len();
    let scratch = tempfile::tempdir().unwrap();
    let copy = scratch.path().join("log");
    for bit in offsets[4] * 8..end * 8 {
        scratch_copy(original.path(), &copy);
        flip_bit(&copy.join(segment.file_name().unwrap()), bit);
        let store = WalLogStore::open(&copy, fast_config()).unwrap();
        assert_eq!(all(&store), entries(1, 4, 1), "flip of bit {bit}");
        // Entry 5 may have been synced and acknowledged: the node must not
        // vote until a leader has brought it back to index 5.
        assert_eq!(store.repair_point(), Some(5), "flip of bit {bit}");
    }
}

/// A flipped length bit can make a whole, acknowledged record claim more bytes
/// than the file holds, like a torn write; restoring one bit tells them apart,
/// also when a torn record follows the damaged one.
#[test]
fn a_flipped_length_bit_of_the_last_whole_record_gives_a_repair_point() {
    let original = tempfile::tempdir().unwrap();
    let (segment, offsets) = five_record_log(original.path());
    let scratch = tempfile::tempdir().unwrap();
    let copy = scratch.path().join("log");
    for torn_bytes_after in [0, 1, 20] {
        for bit in 0..32 {
            scratch_copy(original.path(), &copy);
            let damaged = copy.join(segment.file_name().unwrap());
            // The first bytes of a record (a copy of entry 4's) after entry 5.
            let mut bytes = std::fs::read(&damaged).unwrap();
            let torn_start = offsets[3] as usize;
            bytes.extend_from_within(torn_start..torn_start + torn_bytes_after);
            bytes[offsets[4] as usize + bit / 8] ^= 1 << (bit % 8);
            std::fs::write(&damaged, bytes).unwrap();
            let store = WalLogStore::open(&copy, fast_config()).unwrap();
            let case = format!("length bit {bit}, {torn_bytes_after} torn bytes after");
            assert_eq!(all(&store), entries(1, 4, 1), "{case}");
            assert!(store.repair_point() >= Some(5), "{case}");
        }
    }
}

#[test]
fn a_repair_point_survives_reopening_until_it_is_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let (segment, offsets) = five_record_log(dir.path());
    flip_bit(&segment, offsets[4] * 8 + 100);
    let store = common::open(dir.path());
    assert_eq!(store.repair_point(), Some(5));
    drop(store);
    let store = common::open(dir.path());
    assert_eq!(store.repair_point(), Some(5), "the second open keeps it");
    store.append(&entries(5, 1, 2)).unwrap();
    store.sync().unwrap();
    store.clear_repair_point().unwrap();
    assert_eq!(store.repair_point(), None);
    drop(store);
    let store = common::open(dir.path());
    assert_eq!(store.repair_point(), None, "the clear was durable");
    assert_eq!(store.last_index(), 5);
}

/// The cut bytes may have held a snapshot install's reset and entries after
/// it; the start check then finishes the install (a reset as the first
/// write), and the point must cover what could follow the snapshot.
#[test]
fn a_reset_finishing_an_install_after_a_cut_raises_the_repair_point() {
    let dir = tempfile::tempdir().unwrap();
    let (segment, offsets) = five_record_log(dir.path());
    flip_bit(&segment, offsets[4] * 8 + 100);
    let store = common::open(dir.path());
    assert_eq!(store.repair_point(), Some(5));
    store.reset(50, 2).unwrap();
    assert_eq!(
        store.repair_point(),
        Some(51),
        "one entry could have followed the reset"
    );
    drop(store);
    let store = common::open(dir.path());
    assert_eq!(store.repair_point(), Some(51), "durably");
    store.append(&entries(51, 1, 2)).unwrap();
    store.reset(60, 2).unwrap();
    assert_eq!(
        store.repair_point(),
        Some(51),
        "a reset after other writes is a leader's snapshot, not an unfinished install"
    );
}

#[test]
fn the_repair_point_is_durable_before_anything_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let (segment, offsets) = five_record_log(dir.path());
    flip_bit(&segment, offsets[4] * 8 + 100);
    let len = std::fs::metadata(&segment).unwrap().len();
    let fs = FaultInjectingFs::new();
    fs.inject(Fault::RenameError);
    let error =
        WalLogStore::open_with_fs(dir.path(), common::small_config(), Arc::new(fs.handle()))
            .unwrap_err();
    assert!(matches!(error, StorageError::Io { .. }), "{error}");
    assert_eq!(
        std::fs::metadata(&segment).unwrap().len(),
        len,
        "nothing was cut without a durable repair point"
    );
    let store = common::open(dir.path());
    assert_eq!(store.repair_point(), Some(5));
}

#[test]
fn a_damaged_repair_point_file_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let (segment, offsets) = five_record_log(dir.path());
    flip_bit(&segment, offsets[4] * 8 + 100);
    drop(common::open(dir.path()));
    flip_bit(&dir.path().join("REPAIR"), 70);
    let error = WalLogStore::open(dir.path(), common::small_config()).unwrap_err();
    assert!(
        matches!(&error, StorageError::Corrupt { path, .. } if path.ends_with("REPAIR")),
        "{error}"
    );
}

#[test]
fn a_bit_flip_anywhere_before_the_last_record_refuses_to_open() {
    let original = tempfile::tempdir().unwrap();
    let (segment, offsets) = five_record_log(original.path());
    let scratch = tempfile::tempdir().unwrap();
    let copy = scratch.path().join("log");
    for bit in 0..offsets[4] * 8 {
        scratch_copy(original.path(), &copy);
        let damaged = copy.join(segment.file_name().unwrap());
        flip_bit(&damaged, bit);
        match WalLogStore::open(&copy, fast_config()) {
            Err(StorageError::Corrupt {
                path,
                offset,
                reason,
            }) => {
                assert_eq!(path, damaged, "flip of bit {bit}");
                // Header (0), head hard state (32), head compaction point (58), entries.
                let starts = [vec![0, 32, 58], offsets.clone()].concat();
                let expected = starts
                    .iter()
                    .rev()
                    .find(|&&start| start <= bit / 8)
                    .copied();
                assert_eq!(Some(offset), expected, "flip of bit {bit}: {reason}");
            }
            other => panic!("flip of bit {bit}: expected a corruption error, got {other:?}"),
        }
    }
}

#[test]
fn damage_in_a_segment_that_is_not_the_last_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    for batch in 0..40 {
        store.append(&entries(batch * 10 + 1, 10, 1)).unwrap();
    }
    store.sync().unwrap();
    drop(store);
    let segments = common::segments(dir.path());
    assert!(segments.len() >= 3, "the test needs several segments");
    let first = &segments[0];
    let len = std::fs::metadata(first).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(first)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    let error = WalLogStore::open(dir.path(), fast_config()).unwrap_err();
    assert!(
        matches!(&error, StorageError::Corrupt { path, reason, .. } if path == first && reason.contains("not the last")),
        "{error}"
    );
}

#[test]
fn a_missing_segment_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    for batch in 0..40 {
        store.append(&entries(batch * 10 + 1, 10, 1)).unwrap();
    }
    drop(store);
    let segments = common::segments(dir.path());
    std::fs::remove_file(&segments[1]).unwrap();
    let error = WalLogStore::open(dir.path(), fast_config()).unwrap_err();
    assert!(
        matches!(&error, StorageError::Corrupt { path, reason, .. } if *path == segments[1] && reason.contains("missing")),
        "{error}"
    );
    std::fs::remove_file(&segments[0]).unwrap();
    let error = WalLogStore::open(dir.path(), fast_config()).unwrap_err();
    assert!(
        matches!(&error, StorageError::Corrupt { reason, .. } if reason.contains("are missing")),
        "a deleted first segment is a gap, not a compaction: {error}"
    );
}

#[test]
fn unknown_record_types_and_versions_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(common::open(dir.path()));
    let segment = common::segments(dir.path()).pop().unwrap();
    let pristine = std::fs::read(&segment).unwrap();

    let mut bytes = pristine.clone();
    let body = [0u8; 4];
    let length = (body.len() as u32).to_le_bytes();
    let mut covered = length.to_vec();
    covered.push(77);
    covered.extend_from_slice(&body);
    bytes.extend_from_slice(&length);
    bytes.extend_from_slice(&crc32c::crc32c(&covered).to_le_bytes());
    bytes.push(77);
    bytes.extend_from_slice(&body);
    std::fs::write(&segment, &bytes).unwrap();
    let error = WalLogStore::open(dir.path(), fast_config()).unwrap_err();
    assert!(
        matches!(
            error,
            StorageError::UnknownRecordType {
                tag: 77,
                what: "record",
                ..
            }
        ),
        "{error}"
    );

    let mut bytes = pristine;
    bytes[8] = 3;
    let crc = crc32c::crc32c(&bytes[0..28]);
    bytes[28..32].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&segment, &bytes).unwrap();
    let error = WalLogStore::open(dir.path(), fast_config()).unwrap_err();
    assert!(
        matches!(
            error,
            StorageError::UnsupportedVersion {
                found: 3,
                supported: 2,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn a_torn_segment_header_at_the_end_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    store.append(&entries(1, 3, 1)).unwrap();
    drop(store);
    let before = common::segments(dir.path()).len();
    let next = dir.path().join(format!("{:020}.wal", before + 1));
    std::fs::write(&next, b"ORDOWAL\0\x01\x00").unwrap();
    let store = WalLogStore::open(dir.path(), fast_config()).unwrap();
    assert_eq!(all(&store), entries(1, 3, 1));
    // The torn file was removed and its number reused by the segment this
    // open started; had it been kept, the new segment would be one further.
    assert_eq!(common::segments(dir.path()).len(), before + 1);
    assert!(
        std::fs::read(&next)
            .unwrap()
            .starts_with(b"ORDOWAL\0\x01\x00\x00\x00")
    );
}

/// A last segment whose header is shorter than a header, or all zeros, was
/// never covered by a completed fdatasync; a whole header that is damaged may
/// have been.
#[test]
fn a_damaged_last_segment_header_gives_a_repair_point_only_if_it_could_have_been_synced() {
    let original = tempfile::tempdir().unwrap();
    let store = common::open(original.path());
    store.append(&entries(1, 3, 1)).unwrap();
    drop(store);
    let last = common::segments(original.path()).pop().unwrap();
    let header = std::fs::read(&last).unwrap()[..32].to_vec();
    let next_name = format!("{:020}.wal", common::segments(original.path()).len() + 1);
    let scratch = tempfile::tempdir().unwrap();
    let copy = scratch.path().join("log");
    let mut damaged_header = header.clone();
    damaged_header[3] ^= 0x10;
    let mut cases: Vec<(Vec<u8>, Option<u64>)> =
        (1..32).map(|len| (header[..len].to_vec(), None)).collect();
    cases.push((vec![0; 32], None));
    cases.push((vec![0; 4096], None));
    // 32 bytes could hold one entry after index 3.
    cases.push((damaged_header, Some(4)));
    for (bytes, expected) in cases {
        scratch_copy(original.path(), &copy);
        std::fs::write(copy.join(&next_name), &bytes).unwrap();
        let store = WalLogStore::open(&copy, fast_config()).unwrap();
        let case = format!(
            "a last segment of {} bytes: {:?}",
            bytes.len(),
            &bytes[..8.min(bytes.len())]
        );
        assert_eq!(all(&store), entries(1, 3, 1), "{case}");
        assert_eq!(store.repair_point(), expected, "{case}");
    }
}

#[test]
fn truncate_append_and_reopen_survive() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    for batch in 0..10 {
        store.append(&entries(batch * 10 + 1, 10, 1)).unwrap();
    }
    store.append(&entries(15, 3, 2)).unwrap();
    store.truncate(17).unwrap();
    store.sync().unwrap();
    drop(store);
    let store = common::open(dir.path());
    assert_eq!(all(&store), [entries(1, 14, 1), entries(15, 2, 2)].concat());
    store.append(&entries(17, 2, 3)).unwrap();
    drop(store);
    let store = common::open(dir.path());
    assert_eq!(
        all(&store),
        [entries(1, 14, 1), entries(15, 2, 2), entries(17, 2, 3)].concat()
    );
}

#[test]
fn compaction_deletes_segments_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    for batch in 0..30 {
        store
            .append(&entries(batch * 10 + 1, 10, 1 + batch / 10))
            .unwrap();
    }
    let before = common::segments(dir.path()).len();
    store.compact(250).unwrap();
    let after = common::segments(dir.path()).len();
    assert!(
        after < before,
        "compaction deleted no segment ({before} -> {after})"
    );
    assert_eq!(store.segment_count(), after);
    drop(store);
    let store = common::open(dir.path());
    assert_eq!((store.first_index(), store.last_index()), (251, 300));
    assert_eq!(store.term(250), Ok(3));
    assert!(matches!(
        store.entries(200, 260, u64::MAX),
        Err(ordo_core::LogReadError::Compacted { .. })
    ));
    assert_eq!(all(&store), entries(251, 50, 3));
    store.reset(1000, 7).unwrap();
    drop(store);
    let store = common::open(dir.path());
    assert_eq!(
        (store.first_index(), store.last_index(), store.term(1000)),
        (1001, 1000, Ok(7))
    );
    assert_eq!(
        common::segments(dir.path()).len(),
        2,
        "reset left only the active segment and the new one"
    );
}

#[test]
fn hard_state_survives_reopen_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let hard_state = HardState {
        term: 5,
        voted_for: Some(3),
    };
    let store = common::open(dir.path());
    store.save_hard_state(hard_state).unwrap();
    for batch in 0..30 {
        store.append(&entries(batch * 10 + 1, 10, 5)).unwrap();
    }
    store.compact(290).unwrap();
    drop(store);
    let store = common::open(dir.path());
    assert_eq!(store.hard_state(), hard_state);
    assert_eq!(store.durable().hard_state, hard_state);
}

#[test]
fn a_second_opener_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    let error = WalLogStore::open(dir.path(), common::small_config()).unwrap_err();
    assert!(matches!(error, StorageError::Locked { .. }), "{error}");
    drop(store);
    common::open(dir.path());
}

#[test]
fn damage_after_open_is_a_storage_error_on_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    store.append(&entries(1, 50, 1)).unwrap();
    store.sync().unwrap();
    let segment = common::segments(dir.path())[0].clone();
    // Entry 1's payload sits right after the header and head records (83) and
    // its fixed fields (9 + 17); the cache no longer holds entry 1.
    flip_bit(&segment, (83 + 9 + 17 + 2) * 8);
    let error = store.entries(1, 2, u64::MAX).unwrap_err();
    assert!(
        matches!(error, ordo_core::LogReadError::Storage { .. }),
        "{error}"
    );
    assert_eq!(
        store.entries(50, 51, u64::MAX).unwrap(),
        entries(50, 1, 1),
        "cached entries still read"
    );
}

/// The real file system, except that segment files claim to be `size_bytes` long.
#[derive(Debug)]
struct HugeSegments {
    size_bytes: u64,
}

#[derive(Debug)]
struct HugeFile {
    inner: std::sync::Arc<dyn ordo::storage::fs::FsFile>,
    size_bytes: u64,
}

impl ordo::storage::fs::FsFile for HugeFile {
    fn write_all_at(&self, buf: &[u8], offset: u64) -> std::io::Result<()> {
        self.inner.write_all_at(buf, offset)
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        self.inner.read_exact_at(buf, offset)
    }
    fn size_bytes(&self) -> std::io::Result<u64> {
        Ok(self.size_bytes)
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.inner.set_len(len)
    }
    fn sync_data(&self) -> std::io::Result<()> {
        self.inner.sync_data()
    }
}

impl ordo::storage::fs::FileSystem for HugeSegments {
    fn create_dir_all(&self, path: &Path) -> std::io::Result<()> {
        ordo::storage::fs::StdFs.create_dir_all(path)
    }
    fn list_dir(&self, path: &Path) -> std::io::Result<Vec<PathBuf>> {
        ordo::storage::fs::StdFs.list_dir(path)
    }
    fn create(
        &self,
        path: &Path,
    ) -> std::io::Result<std::sync::Arc<dyn ordo::storage::fs::FsFile>> {
        ordo::storage::fs::StdFs.create(path)
    }
    fn open(&self, path: &Path) -> std::io::Result<std::sync::Arc<dyn ordo::storage::fs::FsFile>> {
        let inner = ordo::storage::fs::StdFs.open(path)?;
        Ok(std::sync::Arc::new(HugeFile {
            inner,
            size_bytes: self.size_bytes,
        }))
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        ordo::storage::fs::StdFs.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        ordo::storage::fs::StdFs.remove_file(path)
    }
    fn sync_dir(&self, path: &Path) -> std::io::Result<()> {
        ordo::storage::fs::StdFs.sync_dir(path)
    }
}

#[test]
fn an_implausibly_large_segment_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    store.append(&entries(1, 3, 1)).unwrap();
    drop(store);
    let segment = common::segments(dir.path()).pop().unwrap();
    // Larger than any segment a writer produces; recovery must not try to
    // allocate a buffer for it.
    for size_bytes in [u64::MAX, 1 << 63, (2 << 30) + 1] {
        let fs = std::sync::Arc::new(HugeSegments { size_bytes });
        match WalLogStore::open_with_fs(dir.path(), fast_config(), fs) {
            Err(StorageError::Corrupt { path, .. }) => assert_eq!(path, segment),
            other => panic!("a segment of {size_bytes} bytes: expected corruption, got {other:?}"),
        }
    }
}

/// Appends one record with a valid checksum to `segment`.
fn append_record(segment: &Path, record_type: u8, body: &[u8]) {
    let mut bytes = std::fs::read(segment).unwrap();
    let length = (body.len() as u32).to_le_bytes();
    let mut covered = length.to_vec();
    covered.push(record_type);
    covered.extend_from_slice(body);
    bytes.extend_from_slice(&length);
    bytes.extend_from_slice(&crc32c::crc32c(&covered).to_le_bytes());
    bytes.push(record_type);
    bytes.extend_from_slice(body);
    std::fs::write(segment, &bytes).unwrap();
}

#[test]
fn records_with_indexes_near_the_top_of_the_range_are_refused_not_a_panic() {
    const ENTRY: u8 = 1;
    const TRUNCATE: u8 = 3;
    const RESET: u8 = 5;
    let entry = |index: u64| {
        let mut body = index.to_le_bytes().to_vec();
        body.extend_from_slice(&1u64.to_le_bytes());
        body.push(0);
        body
    };
    let reset = |index: u64| [index.to_le_bytes(), 1u64.to_le_bytes()].concat();
    type Records = Vec<(u8, Vec<u8>)>;
    let cases: Vec<(&str, Records)> = vec![
        ("reset to u64::MAX", vec![(RESET, reset(u64::MAX))]),
        (
            "reset to u64::MAX - 1, then an entry",
            vec![(RESET, reset(u64::MAX - 1)), (ENTRY, entry(u64::MAX))],
        ),
        (
            "reset to u64::MAX - 1, then a truncation",
            vec![
                (RESET, reset(u64::MAX - 1)),
                (TRUNCATE, u64::MAX.to_le_bytes().to_vec()),
            ],
        ),
    ];
    for (name, records) in cases {
        let dir = tempfile::tempdir().unwrap();
        drop(common::open(dir.path()));
        let segment = common::segments(dir.path()).pop().unwrap();
        for (record_type, body) in &records {
            append_record(&segment, *record_type, body);
        }
        let opened = std::panic::catch_unwind(|| WalLogStore::open(dir.path(), fast_config()));
        match opened {
            Ok(Err(StorageError::Corrupt { path, .. })) => assert_eq!(path, segment, "{name}"),
            Ok(other) => panic!("{name}: expected corruption, got {other:?}"),
            Err(_) => panic!("{name}: opening the log panicked"),
        }
    }
}

/// A damaged last record that is whole (its length reaches the end of the
/// file) held one entry at most, however large: the repair point is one past
/// the last kept entry, not as many entries ahead as its bytes could hold
/// (the node could not vote until the cluster wrote them all).
#[test]
fn a_large_damaged_last_record_costs_one_entry_of_repair_point() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    store.append(&entries(1, 4, 1)).unwrap();
    store
        .append(&[Entry::command(5, 1, vec![7u8; 3000])])
        .unwrap();
    store.sync().unwrap();
    drop(store);
    let segment = common::segments(dir.path()).pop().unwrap();
    let end = std::fs::metadata(&segment).unwrap().len();
    flip_bit(&segment, (end - 100) * 8);
    let store = common::open(dir.path());
    assert_eq!(store.last_index(), 4);
    assert_eq!(store.repair_point(), Some(5));
}
