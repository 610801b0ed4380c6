//! IncomingSnapshotFile: a snapshot received chunk by chunk survives restarts
//! and power loss with exactly the chunks made durable, and finishes into an
//! ordinary snapshot.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use common::sim_fs::{Kept, Release, SimFs};

use ordo::storage::{SnapshotMeta, SnapshotStore, StorageError};
use ordo_core::{Membership, SnapshotContent};

const CHUNK_BYTES: u64 = 1000;

fn meta(index: u64) -> SnapshotMeta {
    SnapshotMeta {
        index,
        term: 3,
        membership: Membership::with_voters([1, 2, 3]),
    }
}

fn pattern(offset: u64) -> u8 {
    (offset.wrapping_mul(2_654_435_761) >> 13) as u8
}

/// Chunk `n` of the snapshot's data.
fn chunk(n: u64) -> Vec<u8> {
    (n * CHUNK_BYTES..(n + 1) * CHUNK_BYTES)
        .map(pattern)
        .collect()
}

fn read_latest(store: &SnapshotStore) -> (SnapshotMeta, Vec<u8>) {
    let mut reader = store.open_latest().unwrap().expect("a snapshot");
    let mut data = Vec::new();
    reader.read_to_end(&mut data).unwrap();
    (reader.meta().clone(), data)
}

fn expected_data(chunks: u64) -> Vec<u8> {
    (0..chunks * CHUNK_BYTES).map(pattern).collect()
}

/// The content a leader announces for a snapshot of `chunks` chunks.
fn content(chunks: u64) -> SnapshotContent {
    let data = expected_data(chunks);
    SnapshotContent {
        data_bytes: data.len() as u64,
        crc32c: crc32c::crc32c(&data),
    }
}

#[test]
fn a_transfer_resumes_after_a_restart_and_finishes_into_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SnapshotStore::open(dir.path()).unwrap();
        assert!(store.open_incoming().unwrap().is_none());
        let mut incoming = store.create_incoming(meta(50), content(5)).unwrap();
        for n in 0..3 {
            incoming.append(n * CHUNK_BYTES, &chunk(n)).unwrap();
        }
        assert_eq!(store.latest().unwrap(), None, "a partial one is invisible");
        // The process ends here (the handle and the store are dropped).
    }
    let store = SnapshotStore::open(dir.path()).unwrap();
    let mut incoming = store.open_incoming().unwrap().expect("kept across restart");
    assert_eq!(incoming.meta(), &meta(50));
    assert_eq!(incoming.content(), content(5), "the announced content too");
    assert_eq!(incoming.received_bytes(), 3 * CHUNK_BYTES);
    for n in 3..5 {
        incoming.append(n * CHUNK_BYTES, &chunk(n)).unwrap();
    }
    assert_eq!(incoming.finish().unwrap(), meta(50));
    let (found, data) = read_latest(&store);
    assert_eq!(found, meta(50));
    assert_eq!(
        data,
        expected_data(5),
        "the checksum carried across restarts"
    );
    assert!(
        store.open_incoming().unwrap().is_none(),
        "its files are gone"
    );
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "LOCK and the snapshot: {names:?}");
}

#[test]
fn chunks_must_follow_each_other_and_a_new_transfer_replaces_the_old() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path()).unwrap();
    let mut incoming = store.create_incoming(meta(50), content(4)).unwrap();
    incoming.append(0, &chunk(0)).unwrap();
    match incoming.append(3 * CHUNK_BYTES, &chunk(3)) {
        Err(StorageError::SnapshotGap { offset, received }) => {
            assert_eq!((offset, received), (3 * CHUNK_BYTES, CHUNK_BYTES));
        }
        other => panic!("a gap must be refused: {other:?}"),
    }
    assert_eq!(incoming.received_bytes(), CHUNK_BYTES);
    drop(incoming);
    let mut newer = store.create_incoming(meta(80), content(1)).unwrap();
    assert_eq!(newer.received_bytes(), 0);
    newer.append(0, &chunk(0)).unwrap();
    drop(newer);
    let reopened = store.open_incoming().unwrap().unwrap();
    assert_eq!(
        (reopened.meta(), reopened.received_bytes()),
        (&meta(80), CHUNK_BYTES)
    );
    reopened.discard().unwrap();
    assert!(store.open_incoming().unwrap().is_none());
}

#[test]
fn a_receiver_finishes_its_own_older_snapshot_off() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path()).unwrap();
    let mut own = store.create(meta(10)).unwrap();
    std::io::Write::write_all(&mut own, b"old state").unwrap();
    own.finish().unwrap();
    let mut incoming = store.create_incoming(meta(50), content(1)).unwrap();
    incoming.append(0, &chunk(0)).unwrap();
    assert_eq!(store.latest().unwrap(), Some(meta(10)));
    incoming.finish().unwrap();
    assert_eq!(read_latest(&store), (meta(50), expected_data(1)));
    assert!(
        store.open_snapshot(10, 3).is_ok(),
        "the previous one stays as the fallback"
    );
    let mut later = store.create(meta(60)).unwrap();
    std::io::Write::write_all(&mut later, b"later state").unwrap();
    later.finish().unwrap();
    assert!(
        store.open_snapshot(10, 3).is_err(),
        "older ones go once a newer one is durable"
    );
}

/// The store a reboot finds after a power loss that keeps `kept` of
/// unsynced data (the directory as of its last fsync).
fn after_power_loss(fs: &SimFs, dir: &Path, kept: Kept) -> (tempfile::TempDir, SnapshotStore) {
    let after = fs.power_loss(false, |_| kept);
    let elsewhere = tempfile::tempdir().unwrap();
    after.rename_dir(dir, elsewhere.path());
    let store = SnapshotStore::open_with_fs(elsewhere.path(), Arc::new(after)).unwrap();
    (elsewhere, store)
}

#[test]
fn a_power_loss_keeps_exactly_the_chunks_made_durable() {
    // Chunk 2's append makes two fdatasyncs (data, then progress); power is
    // lost while either is in flight. Only chunks whose progress record is
    // durable may count; the data of every counted chunk must be intact.
    for held_sync in [0, 1] {
        for kept in [Kept::Nothing, Kept::Permille(500), Kept::Everything] {
            let dir = tempfile::tempdir().unwrap();
            let fs = SimFs::new();
            let store = SnapshotStore::open_with_fs(dir.path(), Arc::new(fs.clone())).unwrap();
            let mut incoming = store.create_incoming(meta(50), content(4)).unwrap();
            incoming.append(0, &chunk(0)).unwrap();
            incoming.append(CHUNK_BYTES, &chunk(1)).unwrap();
            if held_sync == 1 {
                fs.hold_next_sync().release(Release::Flush);
            }
            let held = fs.hold_next_sync();
            std::thread::scope(|scope| {
                let appending = scope.spawn(|| incoming.append(2 * CHUNK_BYTES, &chunk(2)));
                held.wait_entered();
                let (_dir, rebooted) = after_power_loss(&fs, dir.path(), kept);
                let mut resumed = rebooted.open_incoming().unwrap().expect("kept");
                // Chunk 2 counts only if its record survived, which needs
                // its data durable first.
                let record_kept = held_sync == 1 && kept == Kept::Everything;
                let durable_chunks = if record_kept { 3 } else { 2 };
                assert_eq!(
                    resumed.received_bytes(),
                    durable_chunks * CHUNK_BYTES,
                    "sync {held_sync}, {kept:?}"
                );
                for n in durable_chunks..4 {
                    resumed.append(n * CHUNK_BYTES, &chunk(n)).unwrap();
                }
                resumed.finish().unwrap();
                assert_eq!(
                    read_latest(&rebooted),
                    (meta(50), expected_data(4)),
                    "sync {held_sync}, {kept:?}"
                );
                held.release(Release::Flush);
                appending.join().unwrap().unwrap();
            });
        }
    }
}

#[test]
fn a_finished_transfer_survives_a_power_loss_as_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let fs = SimFs::new();
    let store = SnapshotStore::open_with_fs(dir.path(), Arc::new(fs.clone())).unwrap();
    let mut incoming = store.create_incoming(meta(50), content(1)).unwrap();
    incoming.append(0, &chunk(0)).unwrap();
    incoming.finish().unwrap();
    // Finished and published: after a power loss the snapshot is there, and
    // no transfer to resume.
    let (_dir, rebooted) = after_power_loss(&fs, dir.path(), Kept::Nothing);
    assert_eq!(read_latest(&rebooted), (meta(50), expected_data(1)));
    assert!(rebooted.open_incoming().unwrap().is_none());
}

#[test]
fn data_that_is_not_the_announced_content_is_discarded_never_published() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path()).unwrap();
    let other_second_half: Vec<u8> = chunk(1).iter().map(|byte| !byte).collect();
    let cases = [
        ("spliced", vec![chunk(0), other_second_half]),
        ("short", vec![chunk(0)]),
        ("long", vec![chunk(0), chunk(1), chunk(2)]),
    ];
    for (case, chunks) in cases {
        let mut incoming = store.create_incoming(meta(50), content(2)).unwrap();
        for (n, data) in chunks.iter().enumerate() {
            incoming.append(n as u64 * CHUNK_BYTES, data).unwrap();
        }
        match incoming.finish() {
            Err(StorageError::SnapshotContentMismatch {
                announced_bytes,
                received_bytes,
                ..
            }) => assert_eq!(
                (announced_bytes, received_bytes),
                (2 * CHUNK_BYTES, chunks.len() as u64 * CHUNK_BYTES),
                "{case}"
            ),
            other => panic!("{case}: a mismatch must be refused: {other:?}"),
        }
        assert_eq!(store.latest().unwrap(), None, "{case}: nothing published");
        assert!(
            store.open_incoming().unwrap().is_none(),
            "{case}: the transfer is discarded, to start over"
        );
    }
}

fn progress_file(dir: &Path) -> std::path::PathBuf {
    dir.join("incoming.snap.progress")
}

/// Two chunks received of a snapshot of four; the store dropped.
fn two_chunks_received(dir: &Path) {
    let store = SnapshotStore::open(dir).unwrap();
    let mut incoming = store.create_incoming(meta(50), content(4)).unwrap();
    incoming.append(0, &chunk(0)).unwrap();
    incoming.append(CHUNK_BYTES, &chunk(1)).unwrap();
}

#[test]
fn a_progress_record_of_the_first_format_is_discarded_not_misread() {
    let dir = tempfile::tempdir().unwrap();
    two_chunks_received(dir.path());
    // The first format: two slots and no header, the newer claiming both
    // chunks with their true checksum.
    let mut slot = Vec::new();
    slot.extend_from_slice(&(2 * CHUNK_BYTES).to_le_bytes());
    slot.extend_from_slice(&crc32c::crc32c(&expected_data(2)).to_le_bytes());
    let check = crc32c::crc32c(&slot);
    slot.extend_from_slice(&check.to_le_bytes());
    let mut old = slot.clone();
    old.extend_from_slice(&slot);
    std::fs::write(progress_file(dir.path()), &old).unwrap();
    let store = SnapshotStore::open(dir.path()).unwrap();
    assert!(
        store.open_incoming().unwrap().is_none(),
        "no announced content to compare: the transfer starts over"
    );
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["LOCK".to_string()], "its files are removed");
}

#[test]
fn a_torn_or_damaged_progress_header_discards_the_transfer() {
    for damage in ["torn", "flipped"] {
        let dir = tempfile::tempdir().unwrap();
        two_chunks_received(dir.path());
        let path = progress_file(dir.path());
        let mut bytes = std::fs::read(&path).unwrap();
        match damage {
            "torn" => bytes.truncate(20),
            _ => bytes[14] ^= 1, // a bit of the announced length
        }
        std::fs::write(&path, &bytes).unwrap();
        let store = SnapshotStore::open(dir.path()).unwrap();
        assert!(store.open_incoming().unwrap().is_none(), "{damage}");
    }
}

#[test]
fn a_torn_slot_falls_back_to_the_other_with_the_content_kept() {
    let dir = tempfile::tempdir().unwrap();
    two_chunks_received(dir.path());
    // The second append wrote the second slot (after the 28-byte header).
    let path = progress_file(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[28 + 16 + 3] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let store = SnapshotStore::open(dir.path()).unwrap();
    let mut incoming = store.open_incoming().unwrap().expect("the other slot");
    assert_eq!(incoming.received_bytes(), CHUNK_BYTES);
    assert_eq!(incoming.content(), content(4));
    for n in 1..4 {
        incoming.append(n * CHUNK_BYTES, &chunk(n)).unwrap();
    }
    incoming.finish().unwrap();
    assert_eq!(read_latest(&store), (meta(50), expected_data(4)));
}

/// The received bytes themselves damaged after their progress was recorded
/// (a bad sector, a stray write): the slot's checksum no longer describes
/// them, so the transfer starts over from byte 0 rather than resume on them
/// and publish a snapshot whose data is not what the leader sent (found by
/// fuzzing the progress record).
#[test]
fn damaged_received_bytes_restart_the_transfer_and_are_never_installed() {
    let dir = tempfile::tempdir().unwrap();
    two_chunks_received(dir.path());
    let partial = dir.path().join("incoming.snap.partial");
    let mut bytes = std::fs::read(&partial).unwrap();
    // The last byte received: the data is at the end of the partial file.
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(&partial, &bytes).unwrap();

    let store = SnapshotStore::open(dir.path()).unwrap();
    assert!(
        store.open_incoming().unwrap().is_none(),
        "damaged bytes were resumed on"
    );
    assert!(!partial.exists() && !progress_file(dir.path()).exists());
    assert!(store.open_latest().unwrap().is_none(), "nothing installed");

    // Started over, the transfer finishes into the leader's bytes.
    let mut incoming = store.create_incoming(meta(50), content(4)).unwrap();
    for n in 0..4 {
        incoming.append(n * CHUNK_BYTES, &chunk(n)).unwrap();
    }
    incoming.finish().unwrap();
    assert_eq!(read_latest(&store), (meta(50), expected_data(4)));
}
