//! SnapshotStore: streamed writes and reads, atomic replacement, checks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::sync::Arc;

use common::sim_fs::{Kept, Release, SimFs};

use ordo::storage::{SnapshotMeta, SnapshotStore, StorageError};
use ordo_core::Membership;

fn meta(index: u64) -> SnapshotMeta {
    SnapshotMeta {
        index,
        term: 2,
        membership: Membership::with_voters([1, 2, 3]),
    }
}

/// Deterministic bytes, generated in chunks, never all in memory.
fn pattern(offset: u64) -> u8 {
    (offset.wrapping_mul(2_654_435_761) >> 13) as u8
}

fn write_streamed(store: &SnapshotStore, index: u64, bytes: u64) {
    let mut writer = store.create(meta(index)).unwrap();
    let mut chunk = vec![0u8; 4096];
    let mut offset = 0;
    while offset < bytes {
        let len = chunk.len().min((bytes - offset) as usize);
        for (i, byte) in chunk[..len].iter_mut().enumerate() {
            *byte = pattern(offset + i as u64);
        }
        writer.write_all(&chunk[..len]).unwrap();
        offset += len as u64;
    }
    assert_eq!(writer.finish().unwrap(), meta(index));
}

fn read_streamed(reader: &mut impl Read) -> std::io::Result<u64> {
    let mut chunk = vec![0u8; 3000];
    let mut offset = 0u64;
    loop {
        let read = reader.read(&mut chunk)?;
        if read == 0 {
            return Ok(offset);
        }
        for (i, byte) in chunk[..read].iter().enumerate() {
            assert_eq!(
                *byte,
                pattern(offset + i as u64),
                "byte {}",
                offset + i as u64
            );
        }
        offset += read as u64;
    }
}

#[test]
fn snapshots_stream_in_and_out() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path()).unwrap();
    assert_eq!(store.latest().unwrap(), None);
    write_streamed(&store, 100, 3 << 20);
    assert_eq!(store.latest().unwrap(), Some(meta(100)));
    let mut reader = store.open_latest().unwrap().unwrap();
    assert_eq!(reader.meta(), &meta(100));
    assert_eq!(reader.remaining_bytes(), 3 << 20);
    assert_eq!(read_streamed(&mut reader).unwrap(), 3 << 20);
}

#[test]
fn an_older_snapshot_goes_only_once_a_newer_one_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path()).unwrap();
    write_streamed(&store, 100, 1000);
    let mut writer = store.create(meta(200)).unwrap();
    writer.write_all(b"partial").unwrap();
    assert_eq!(
        store.latest().unwrap(),
        Some(meta(100)),
        "an unfinished snapshot is invisible"
    );
    drop(writer);
    assert_eq!(store.latest().unwrap(), Some(meta(100)));
    write_streamed(&store, 200, 1000);
    assert_eq!(store.latest().unwrap(), Some(meta(200)));
    assert!(
        store.open_snapshot(100, 2).is_ok(),
        "the previous snapshot stays, the fallback should 200 be damaged"
    );
    write_streamed(&store, 300, 1000);
    assert!(
        store.open_snapshot(200, 2).is_ok(),
        "the one before the newest stays"
    );
    assert!(matches!(
        store.open_snapshot(100, 2),
        Err(StorageError::NoSnapshot { index: 100, .. })
    ));
    let snapshots = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|entry| {
            entry
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("snap-")
        })
        .count();
    assert_eq!(snapshots, 2);
}

/// Flips one bit in the data of the snapshot file at `index` in `dir`.
fn damage_snapshot(dir: &std::path::Path, index: u64) {
    let path = dir.join(format!("snap-{index:020}-{:020}.snap", 2));
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    std::fs::write(&path, bytes).unwrap();
}

#[test]
fn a_damaged_newest_snapshot_falls_back_to_the_previous_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path()).unwrap();
    write_streamed(&store, 100, 10_000);
    write_streamed(&store, 200, 10_000);
    assert_eq!(
        store.open_newest_verified().unwrap().unwrap().meta(),
        &meta(200)
    );
    damage_snapshot(dir.path(), 200);
    let mut reader = store.open_newest_verified().unwrap().unwrap();
    assert_eq!(reader.meta(), &meta(100), "the damaged 200 is skipped");
    assert_eq!(read_streamed(&mut reader).unwrap(), 10_000);
    damage_snapshot(dir.path(), 100);
    assert!(
        store.open_newest_verified().unwrap().is_none(),
        "no snapshot reads back whole"
    );
}

#[test]
fn damaged_data_is_reported_at_the_end_of_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path()).unwrap();
    write_streamed(&store, 100, 10_000);
    let path = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| {
            path.extension()
                .is_some_and(|extension| extension == "snap")
        })
        .unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[5000] ^= 0x10;
    std::fs::write(&path, bytes).unwrap();
    let mut data = Vec::new();
    let error = store
        .open_latest()
        .unwrap()
        .unwrap()
        .read_to_end(&mut data)
        .unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
}

#[test]
fn leftovers_are_cleaned_and_the_directory_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path()
            .join("snap-00000000000000000009-00000000000000000001.snap.tmp"),
        b"junk",
    )
    .unwrap();
    let store = SnapshotStore::open(dir.path()).unwrap();
    assert_eq!(store.latest().unwrap(), None);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "only LOCK remains"
    );
    assert!(matches!(
        SnapshotStore::open(dir.path()),
        Err(StorageError::Locked { .. })
    ));
}

#[test]
fn a_hostile_trailer_length_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path()).unwrap();
    write_streamed(&store, 100, 1000);
    let path = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| {
            path.extension()
                .is_some_and(|extension| extension == "snap")
        })
        .unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let trailer = bytes.len() - 20;
    for data_bytes in [u64::MAX, u64::MAX - 10, 1 << 63] {
        bytes[trailer..trailer + 8].copy_from_slice(&data_bytes.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        assert!(
            matches!(
                store.open_latest(),
                Err(StorageError::SnapshotMetadata { .. })
            ),
            "data length {data_bytes}"
        );
    }
}

/// Writes a finished snapshot at `index` holding `data` on the simulated disk.
fn write_small(store: &SnapshotStore, index: u64, data: &[u8]) {
    let mut writer = store.create(meta(index)).unwrap();
    writer.write_all(data).unwrap();
    writer.finish().unwrap();
}

/// The newest snapshot after a power loss that keeps `kept` of unsynced data,
/// read whole (checksum verified).
fn latest_after_power_loss(fs: &SimFs, dir: &std::path::Path, kept: Kept) -> (u64, Vec<u8>) {
    let after = fs.power_loss(kept == Kept::Everything, |_| kept);
    let elsewhere = tempfile::tempdir().unwrap();
    after.rename_dir(dir, elsewhere.path());
    let store = SnapshotStore::open_with_fs(elsewhere.path(), Arc::new(after)).unwrap();
    let mut reader = store.open_latest().unwrap().expect("a snapshot survives");
    let mut data = Vec::new();
    reader.read_to_end(&mut data).unwrap();
    (reader.meta().index, data)
}

#[test]
fn a_power_loss_at_any_step_of_finish_leaves_one_whole_snapshot() {
    for kept in [Kept::Nothing, Kept::Permille(500), Kept::Everything] {
        let dir = tempfile::tempdir().unwrap();
        let fs = SimFs::new();
        let store = SnapshotStore::open_with_fs(dir.path(), Arc::new(fs.clone())).unwrap();
        write_small(&store, 100, b"state at 100");

        // Power off while the new snapshot's data is being flushed.
        let held = fs.hold_next_sync();
        std::thread::scope(|scope| {
            let writing = scope.spawn(|| write_small(&store, 200, b"state at 200"));
            held.wait_entered();
            let (index, data) = latest_after_power_loss(&fs, dir.path(), kept);
            match index {
                100 => assert_eq!(data, b"state at 100"),
                other => panic!("{kept:?}: snapshot {other} before its data was durable"),
            }
            held.release(Release::Flush);
            writing.join().unwrap();
        });

        // Once finish returned, the new one is durable and the old one gone.
        let (index, data) = latest_after_power_loss(&fs, dir.path(), kept);
        assert_eq!(
            (index, data.as_slice()),
            (200, &b"state at 200"[..]),
            "{kept:?}"
        );
        drop(store);
        let after = fs.power_loss(false, |_| Kept::Nothing);
        let names = ordo::storage::fs::FileSystem::list_dir(&after, dir.path()).unwrap();
        assert_eq!(
            names.len(),
            2,
            "{kept:?}: the new snapshot and the previous one, durably: {names:?}"
        );
    }
}
