//! Injected I/O failures: each gives a typed error, never a false durability
//! point, and leaves the log readable as of its last durable point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::sync::Arc;

use ordo::storage::fs::{Fault, FaultInjectingFs};
use ordo::storage::{
    Durable, Exhausted, LogStore, SnapshotMeta, SnapshotStore, StorageError, WalLogStore,
    conformance::entries,
};
use ordo_core::{Entry, LogRead};

fn open_faulty(dir: &Path) -> (WalLogStore, FaultInjectingFs) {
    let fs = FaultInjectingFs::new();
    let store =
        WalLogStore::open_with_fs(dir, common::small_config(), Arc::new(fs.handle())).unwrap();
    (store, fs)
}

fn all(store: &WalLogStore) -> Vec<Entry> {
    store
        .entries(store.first_index(), store.last_index() + 1, u64::MAX)
        .unwrap()
}

/// A store with entries 1..=10 durable.
fn durable_ten(dir: &Path) -> (WalLogStore, FaultInjectingFs, Durable) {
    let (store, fs) = open_faulty(dir);
    store.append(&entries(1, 10, 1)).unwrap();
    let durable = store.sync().unwrap();
    assert_eq!(durable.last_index, 10);
    (store, fs, durable)
}

/// After a failure: the store refuses writes and syncs, keeps its durable
/// point, serves reads up to it, and a reopen recovers at least that point.
fn assert_poisoned_then_recoverable(store: WalLogStore, durable: Durable, dir: &Path) {
    assert!(matches!(
        store.append(&entries(11, 1, 1)),
        Err(StorageError::Poisoned { .. })
    ));
    assert!(
        matches!(store.sync(), Err(StorageError::Poisoned { .. })),
        "a sync after a failure must not succeed"
    );
    assert_eq!(store.durable(), durable);
    assert_eq!(store.last_index(), durable.last_index);
    assert_eq!(all(&store), entries(1, 10, 1));
    drop(store);
    let reopened = common::open(dir);
    let recovered = all(&reopened);
    assert!(recovered.len() >= 10);
    assert_eq!(recovered[..10], entries(1, 10, 1)[..]);
}

#[test]
fn a_failed_write_is_typed_and_poisons() {
    let dir = tempfile::tempdir().unwrap();
    let (store, fs, durable) = durable_ten(dir.path());
    fs.inject(Fault::WriteError);
    let error = store.append(&entries(11, 5, 1)).unwrap_err();
    assert!(
        matches!(
            error,
            StorageError::Io {
                action: "write to",
                ..
            }
        ),
        "{error}"
    );
    fs.clear();
    assert_poisoned_then_recoverable(store, durable, dir.path());
}

#[test]
fn a_full_disk_is_typed_and_its_partial_record_is_cut_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (store, fs, durable) = durable_ten(dir.path());
    fs.inject(Fault::NoSpace);
    let error = store.append(&entries(11, 5, 1)).unwrap_err();
    match &error {
        StorageError::Io { source, .. } => assert_eq!(source.raw_os_error(), Some(28), "{error}"),
        other => panic!("expected an I/O error, got {other}"),
    }
    fs.clear();
    assert_poisoned_then_recoverable(store, durable, dir.path());
    let reopened = common::open(dir.path());
    let recovered = all(&reopened);
    assert!(
        recovered.len() < 15,
        "the half-written batch cannot be whole"
    );
    assert_eq!(
        recovered,
        entries(1, recovered.len() as u64, 1),
        "whole records kept, the torn one cut"
    );
}

#[test]
fn a_failed_fsync_never_reports_durability() {
    let dir = tempfile::tempdir().unwrap();
    let (store, fs, durable) = durable_ten(dir.path());
    store.append(&entries(11, 10, 1)).unwrap();
    fs.inject(Fault::SyncError);
    let error = store.sync().unwrap_err();
    assert!(
        matches!(
            error,
            StorageError::Io {
                action: "fdatasync",
                ..
            }
        ),
        "{error}"
    );
    fs.clear();
    assert_poisoned_then_recoverable(store, durable, dir.path());
}

#[test]
fn a_failed_directory_sync_after_rotation_never_reports_durability() {
    let dir = tempfile::tempdir().unwrap();
    let (store, fs, durable) = durable_ten(dir.path());
    let segments = store.segment_count();
    let mut next = 11;
    while store.segment_count() == segments {
        store.append(&entries(next, 10, 1)).unwrap();
        next += 10;
    }
    fs.inject(Fault::SyncDirError);
    assert!(matches!(
        store.sync(),
        Err(StorageError::Io {
            action: "fsync the directory",
            ..
        })
    ));
    fs.clear();
    assert_poisoned_then_recoverable(store, durable, dir.path());
}

#[test]
fn a_failed_rename_keeps_the_previous_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultInjectingFs::new();
    let store = SnapshotStore::open_with_fs(dir.path(), Arc::new(fs.handle())).unwrap();
    let first = SnapshotMeta {
        index: 10,
        term: 1,
        ..SnapshotMeta::default()
    };
    let mut writer = store.create(first.clone()).unwrap();
    std::io::Write::write_all(&mut writer, b"state at 10").unwrap();
    writer.finish().unwrap();

    fs.inject(Fault::RenameError);
    let mut writer = store
        .create(SnapshotMeta {
            index: 20,
            ..first.clone()
        })
        .unwrap();
    std::io::Write::write_all(&mut writer, b"state at 20").unwrap();
    let error = writer.finish().unwrap_err();
    assert!(
        matches!(
            error,
            StorageError::Io {
                action: "rename into place",
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(store.latest().unwrap(), Some(first));
    let mut data = String::new();
    std::io::Read::read_to_string(&mut store.open_latest().unwrap().unwrap(), &mut data).unwrap();
    assert_eq!(data, "state at 10");
    let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(leftovers, 2, "only LOCK and the first snapshot remain");
}

#[test]
fn one_fdatasync_per_batch() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultInjectingFs::new();
    let store =
        WalLogStore::open_with_fs(dir.path(), Default::default(), Arc::new(fs.handle())).unwrap();
    for (round, batch) in [1u64, 16, 256].into_iter().enumerate() {
        let before = (fs.data_syncs(), fs.dir_syncs());
        let first = store.last_index() + 1;
        store.append(&entries(first, batch, 1)).unwrap();
        store.sync().unwrap();
        assert_eq!(
            fs.data_syncs() - before.0,
            1,
            "round {round}: batch of {batch}"
        );
        assert_eq!(fs.dir_syncs(), before.1);
    }
    let before = fs.data_syncs();
    store.sync().unwrap();
    assert_eq!(fs.data_syncs(), before, "nothing to flush, no fdatasync");
}

#[test]
fn writes_during_a_flush_share_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultInjectingFs::new();
    let store = Arc::new(
        WalLogStore::open_with_fs(dir.path(), Default::default(), Arc::new(fs.handle())).unwrap(),
    );
    let syncs_before = fs.data_syncs();
    let writes = 400u64;
    let writer = {
        let store = Arc::clone(&store);
        std::thread::spawn(move || {
            for index in 1..=writes {
                store.append(&entries(index, 1, 1)).unwrap();
            }
        })
    };
    let mut durable = 0;
    let mut sync_calls = 0u64;
    while durable < writes {
        let written = store.last_index();
        let point = store.sync().unwrap();
        assert!(
            point.last_index >= written,
            "a sync must cover every write that returned before it"
        );
        durable = point.last_index;
        sync_calls += 1;
    }
    writer.join().unwrap();
    let flushes = fs.data_syncs() - syncs_before;
    assert!(flushes <= sync_calls);
    assert!(
        flushes < writes,
        "{flushes} flushes for {writes} writes: no group commit"
    );
}

#[test]
fn a_store_makes_the_directory_it_creates_durable_before_using_it() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultInjectingFs::new();
    fs.inject(Fault::SyncDirError);
    let error = SnapshotStore::open_with_fs(dir.path().join("snapshots"), Arc::new(fs.handle()))
        .unwrap_err();
    assert!(
        matches!(
            &error,
            StorageError::Io {
                action: "fsync the directory",
                ..
            }
        ),
        "{error}"
    );
    fs.clear();
    let before = fs.dir_syncs();
    drop(SnapshotStore::open_with_fs(dir.path().join("snapshots"), Arc::new(fs.handle())).unwrap());
    assert!(
        fs.dir_syncs() >= before + 2,
        "the directory and its parent are synced"
    );
}

#[test]
fn a_log_reopens_on_a_full_disk_and_its_first_write_says_the_disk_is_full() {
    let dir = tempfile::tempdir().unwrap();
    let (store, fs, _) = durable_ten(dir.path());
    drop(store);
    fs.inject(Fault::NoSpace);
    let segments_before = common::segments(dir.path());
    let store =
        WalLogStore::open_with_fs(dir.path(), common::small_config(), Arc::new(fs.handle()))
            .expect("a full disk does not keep the node from starting");
    assert_eq!(all(&store), entries(1, 10, 1), "reads are served");
    let error = store.append(&entries(11, 1, 1)).unwrap_err();
    assert_eq!(error.exhausted(), Some(Exhausted::DiskSpace), "{error}");
    let error = store.sync().unwrap_err();
    assert_eq!(error.exhausted(), Some(Exhausted::DiskSpace), "{error}");
    drop(store);
    assert_eq!(
        common::segments(dir.path()),
        segments_before,
        "no half-written segment is left behind"
    );

    fs.clear();
    let store =
        WalLogStore::open_with_fs(dir.path(), common::small_config(), Arc::new(fs.handle()))
            .unwrap();
    assert_eq!(all(&store), entries(1, 10, 1));
    assert_eq!(store.repair_point(), None);
    store.append(&entries(11, 1, 1)).unwrap();
    assert_eq!(store.sync().unwrap().last_index, 11);
}

#[test]
fn running_out_of_file_descriptors_is_told_apart() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultInjectingFs::new();
    let store = SnapshotStore::open_with_fs(dir.path(), Arc::new(fs.handle())).unwrap();
    fs.inject(Fault::NoDescriptors);
    let meta = SnapshotMeta {
        index: 5,
        term: 1,
        membership: ordo_core::Membership::with_voters([1]),
    };
    let error = store.create(meta).unwrap_err();
    assert_eq!(
        error.exhausted(),
        Some(Exhausted::FileDescriptors),
        "{error}"
    );
    let (store, fs, _) = durable_ten(&dir.path().join("log"));
    fs.inject(Fault::WriteError);
    let error = store.append(&entries(11, 1, 1)).unwrap_err();
    assert_eq!(error.exhausted(), None, "an EIO is neither: {error}");
}
