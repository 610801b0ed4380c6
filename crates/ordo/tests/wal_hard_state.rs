//! The hard state (term and vote) survives what the log's damage rules cut:
//! a synced hard state record damaged at the end of the log is cut like any
//! damaged last record, and the `VOTE` file must still hold it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::sync::Arc;

use common::sim_fs::{Kept, Release, SimFs};
use ordo::storage::{
    Durability, LogStore, StorageError, WalConfig, WalLogStore, conformance::entries,
};
use ordo_core::{HardState, LogRead};

const NODE_A: u64 = 1;
const NODE_B: u64 = 2;
const LED_BY_A: HardState = HardState {
    term: 5,
    voted_for: Some(NODE_A),
};
const VOTED_FOR_B: HardState = HardState {
    term: 6,
    voted_for: Some(NODE_B),
};
/// A hard state record: header 9, term 8, vote flag 1, vote 8.
const HARD_STATE_RECORD_BYTES: u64 = 26;

fn fast_config() -> WalConfig {
    WalConfig {
        durability: Durability::Never,
        ..common::small_config()
    }
}

/// The reviewer's node N: entries 1..=10 of term 5 (A's), then its vote for
/// B in term 6 as the last record, synced (the grant may have been sent).
fn voted_for_b(dir: &Path) {
    let store = common::open(dir);
    store.save_hard_state(LED_BY_A).unwrap();
    store.append(&entries(1, 10, 5)).unwrap();
    store.sync().unwrap();
    store.save_hard_state(VOTED_FOR_B).unwrap();
    store.sync().unwrap();
}

fn flip_bit(path: &Path, bit: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[(bit / 8) as usize] ^= 1 << (bit % 8);
    std::fs::write(path, bytes).unwrap();
}

/// Were the term and vote lost with the cut record, N would restart in term
/// 5, accept A's stale append at 11 (letting A commit it with N's ack) and
/// could vote again in term 6.
#[test]
fn a_synced_vote_survives_a_flipped_bit_anywhere_in_its_record() {
    let original = tempfile::tempdir().unwrap();
    voted_for_b(original.path());
    let segment = common::segments(original.path()).pop().unwrap();
    let end = std::fs::metadata(&segment).unwrap().len();
    let scratch = tempfile::tempdir().unwrap();
    let copy = scratch.path().join("log");
    for bit in (end - HARD_STATE_RECORD_BYTES) * 8..end * 8 {
        let _ignored = std::fs::remove_dir_all(&copy);
        common::copy_dir(original.path(), &copy);
        flip_bit(&copy.join(segment.file_name().unwrap()), bit);
        let store = WalLogStore::open(&copy, fast_config()).unwrap();
        assert_eq!(store.hard_state(), VOTED_FOR_B, "flip of bit {bit}");
        assert_eq!(store.durable().hard_state, VOTED_FOR_B, "flip of bit {bit}");
        assert_eq!(store.last_index(), 10, "flip of bit {bit}");
        // One record was cut: one entry at most, not its bytes' worth.
        assert_eq!(store.repair_point(), Some(11), "flip of bit {bit}");
    }
}

/// The file is written (durably) before the log's flush in the same sync: a
/// power loss between the two finds the newer state in the file only, which
/// recovery takes (the vote was never reported durable, so keeping it is
/// merely cautious).
#[test]
fn a_power_loss_between_the_vote_file_and_the_log_flush_keeps_the_newer_vote() {
    let dir = tempfile::tempdir().unwrap();
    let fs = SimFs::new();
    let open = |fs: &SimFs| {
        WalLogStore::open_with_fs(dir.path(), common::small_config(), Arc::new(fs.clone())).unwrap()
    };
    let store = Arc::new(open(&fs));
    store.save_hard_state(LED_BY_A).unwrap();
    store.append(&entries(1, 10, 5)).unwrap();
    store.sync().unwrap();
    store.save_hard_state(VOTED_FOR_B).unwrap();
    let vote_file_flush = fs.hold_next_sync();
    let log_flush = fs.hold_next_sync();
    let syncer = {
        let store = Arc::clone(&store);
        std::thread::spawn(move || store.sync())
    };
    vote_file_flush.wait_entered();
    vote_file_flush.release(Release::Flush);
    log_flush.wait_entered();
    let after = fs.power_loss(false, |_| Kept::Nothing);
    log_flush.release(Release::Flush);
    assert_eq!(syncer.join().unwrap().unwrap().hard_state, VOTED_FOR_B);
    drop(store);

    let store = open(&after);
    assert_eq!(store.hard_state(), VOTED_FOR_B, "the file's newer vote");
    assert_eq!(store.last_index(), 10);
    assert_eq!(
        store.repair_point(),
        None,
        "nothing reported durable was cut"
    );
}

#[test]
fn a_damaged_vote_file_refuses_to_open_and_names_the_way_out() {
    let dir = tempfile::tempdir().unwrap();
    voted_for_b(dir.path());
    flip_bit(&dir.path().join("VOTE"), 70);
    let error = WalLogStore::open(dir.path(), common::small_config()).unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(&error, StorageError::Corrupt { path, .. } if path.ends_with("VOTE")),
        "{message}"
    );
    assert!(message.contains("ordo repair --data"), "{message}");
    let _truncated = std::fs::File::create(dir.path().join("VOTE")).unwrap();
    let error = WalLogStore::open(dir.path(), common::small_config()).unwrap_err();
    assert!(matches!(error, StorageError::Corrupt { .. }), "{error}");
}

/// A log written before the file existed gets one at open.
#[test]
fn a_log_without_a_vote_file_gets_one_at_open() {
    let dir = tempfile::tempdir().unwrap();
    voted_for_b(dir.path());
    std::fs::remove_file(dir.path().join("VOTE")).unwrap();
    drop(common::open(dir.path()));
    assert!(dir.path().join("VOTE").is_file());
    // With every segment gone, only the file can tell the term and vote.
    for segment in common::segments(dir.path()) {
        std::fs::remove_file(segment).unwrap();
    }
    let store = common::open(dir.path());
    assert_eq!(store.hard_state(), VOTED_FOR_B);
}
