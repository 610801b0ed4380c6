//! Power losses on a simulated disk (`common::sim_fs`): whatever WalLogStore
//! reported durable survives, and the log always reopens.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::sync::Arc;

use common::sim_fs::SimFs;
use ordo::storage::{LogStore, WalLogStore, conformance::entries};
use ordo_core::{Entry, LogRead};

fn open_on(fs: &SimFs, dir: &Path) -> WalLogStore {
    WalLogStore::open_with_fs(dir, common::small_config(), Arc::new(fs.clone()))
        .expect("open the log")
}

fn all(store: &WalLogStore) -> Vec<Entry> {
    store
        .entries(store.first_index(), store.last_index() + 1, u64::MAX)
        .unwrap()
}

#[test]
fn what_a_reopen_reports_durable_survives_a_power_loss() {
    let dir = tempfile::tempdir().unwrap();
    let fs = SimFs::new();
    let store = open_on(&fs, dir.path());
    store.append(&entries(1, 5, 1)).unwrap();
    store.sync().unwrap();
    store.append(&entries(6, 5, 1)).unwrap();
    drop(store); // The process dies; entries 6..=10 are only in the page cache.

    let store = open_on(&fs, dir.path());
    let claimed = store.durable();
    assert_eq!(claimed.last_index, 10, "the reopened log holds 1..=10");
    drop(store);

    let after = fs.power_loss_keeping_nothing();
    let store = WalLogStore::open_with_fs(dir.path(), common::small_config(), Arc::new(after))
        .expect("a power loss must not leave a log that refuses to open");
    assert!(
        store.last_index() >= claimed.last_index,
        "reported durable through {} after the reopen, recovered only through {}",
        claimed.last_index,
        store.last_index()
    );
    assert_eq!(all(&store), entries(1, 10, 1));
}

/// The first segment's file name.
fn first_segment(dir: &Path) -> std::path::PathBuf {
    dir.join(format!("{:020}.wal", 1))
}

#[test]
fn a_rotation_during_an_unfinished_flush_still_flushes_the_old_segment() {
    let dir = tempfile::tempdir().unwrap();
    let fs = SimFs::new();
    let store = Arc::new(open_on(&fs, dir.path()));
    // One write that fills the first segment past its 4 KiB size.
    store.append(&entries(1, 200, 1)).unwrap();
    assert_eq!(store.segment_count(), 1);

    let held = fs.hold_next_sync();
    let syncer = {
        let store = Arc::clone(&store);
        std::thread::spawn(move || store.sync())
    };
    held.wait_entered();
    // The flush of segment 1 is in flight; this write rotates to segment 2.
    store.append(&entries(201, 10, 1)).unwrap();
    assert_eq!(store.segment_count(), 2);

    // Power off before that flush completes; segment 2 reached the disk.
    let first = first_segment(dir.path());
    let after = fs.power_loss(true, |path| match path == first {
        true => common::sim_fs::Kept::Nothing,
        false => common::sim_fs::Kept::Everything,
    });
    held.release(common::sim_fs::Release::Flush);
    syncer.join().unwrap().unwrap();
    drop(store);

    let store = WalLogStore::open_with_fs(dir.path(), common::small_config(), Arc::new(after))
        .expect("a power loss must not leave a log that refuses to open");
    assert_eq!(all(&store), entries(1, store.last_index(), 1));
}

#[test]
fn a_flush_that_fails_during_another_flush_stops_both_from_reporting_durability() {
    let dir = tempfile::tempdir().unwrap();
    let fs = SimFs::new();
    let store = Arc::new(open_on(&fs, dir.path()));
    store.append(&entries(1, 200, 1)).unwrap();
    let before = store.durable();

    // A sync round flushes segment 1; meanwhile a rotation flushes it too, and
    // that fdatasync gets the writeback error. Linux reports such an error
    // once per open file, so the round's own fdatasync then "succeeds".
    let held = fs.hold_next_sync();
    fs.fail_next_sync();
    let syncer = {
        let store = Arc::clone(&store);
        std::thread::spawn(move || store.sync())
    };
    held.wait_entered();
    assert!(
        store.append(&entries(201, 10, 1)).is_err(),
        "the rotation's flush failed"
    );
    held.release(common::sim_fs::Release::SucceedWithoutFlush);
    let outcome = syncer.join().unwrap();
    assert!(
        outcome.is_err(),
        "a sync must not report durability once a flush of the store failed: {outcome:?}"
    );
    assert_eq!(store.durable(), before, "the durable point never moves");
    let claimed = store.durable();
    drop(store);

    let store = WalLogStore::open_with_fs(
        dir.path(),
        common::small_config(),
        Arc::new(fs.power_loss_keeping_nothing()),
    )
    .unwrap();
    assert!(store.last_index() >= claimed.last_index);
}

#[test]
fn compaction_keeps_the_segment_with_its_record_while_a_write_rotates() {
    let dir = tempfile::tempdir().unwrap();
    let fs = SimFs::new();
    let store = Arc::new(open_on(&fs, dir.path()));
    let hard_state = ordo_core::HardState {
        term: 5,
        voted_for: Some(1),
    };
    store.save_hard_state(hard_state).unwrap();
    // Header 32 + head records 26 + 25, hard state 26, entry 26 + payload: the
    // segment ends 5 bytes short of 4096, so the compaction record fills it.
    let entry = Entry::command(1, 5, vec![7u8; 4096 - 5 - 32 - 26 - 25 - 26 - 26]);
    store.append(std::slice::from_ref(&entry)).unwrap();
    store.sync().unwrap();

    let held = fs.hold_next_sync();
    let compactor = {
        let store = Arc::clone(&store);
        std::thread::spawn(move || store.compact(1))
    };
    held.wait_entered();
    // While the compaction record is being flushed, another write rotates.
    store.append(&[Entry::command(2, 5, &b"two"[..])]).unwrap();
    assert_eq!(store.segment_count(), 2, "the write started a new segment");
    held.release(common::sim_fs::Release::Flush);
    compactor.join().unwrap().unwrap();
    let claimed = (store.first_index(), store.term(1), store.hard_state());
    drop(store);

    let store = WalLogStore::open_with_fs(
        dir.path(),
        common::small_config(),
        Arc::new(fs.power_loss_keeping_nothing()),
    )
    .unwrap();
    assert_eq!(
        (store.first_index(), store.term(1), store.hard_state()),
        claimed,
        "the compaction point and hard state compact() made durable survive"
    );
}

/// fsyncgate: after a failed fdatasync the kernel may keep serving pages it
/// never wrote. A restart without a reboot must not read them back as
/// durable: the poisoned store recorded where the log was last durable, and
/// the next open cuts what follows (never reported durable, so no repair
/// point either).
#[test]
fn a_restart_after_a_failed_fdatasync_trusts_only_what_a_sync_covered() {
    let dir = tempfile::tempdir().unwrap();
    let fs = SimFs::new();
    let store = open_on(&fs, dir.path());
    store.append(&entries(1, 5, 1)).unwrap();
    assert_eq!(store.sync().unwrap().last_index, 5);
    store.append(&entries(6, 5, 1)).unwrap();
    fs.fail_next_sync();
    assert!(store.sync().is_err());
    drop(store);

    // The process restarts; the page cache (SimFs's live image) still holds
    // entries 6..=10.
    let store = open_on(&fs, dir.path());
    assert_eq!(all(&store), entries(1, 5, 1), "nothing after the last sync");
    assert_eq!(store.repair_point(), None);
    store.append(&entries(6, 1, 2)).unwrap();
    store.sync().unwrap();
    drop(store);
    let store = open_on(&fs, dir.path());
    assert_eq!(
        store.last_index(),
        6,
        "the marker was used once and removed"
    );
    assert_eq!(store.term(6), Ok(2));
}
