//! Whole WAL segment files, recovered: the input is written as one or two
//! segment files (bit 0 of the first byte: split at the position the next
//! two bytes give) into an empty directory, and `WalLogStore` opens it.
//! Open never panics; if it succeeds, every index it reports is readable
//! with the right index and term, and opening the same directory again
//! (recovery of a recovered log) reports the same log.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use ordo::storage::{Durability, LogStore, WalConfig, WalLogStore};
use ordo_core::{Entry, HardState, LogRead};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let dir = scratch_dir();
    let segments: Vec<&[u8]> = match (flags & 1, rest) {
        (1, [low, high, rest @ ..]) => {
            let at = usize::from(u16::from_le_bytes([*low, *high])).min(rest.len());
            let (first, second) = rest.split_at(at);
            vec![first, second]
        }
        _ => vec![rest],
    };
    for (number, bytes) in segments.iter().enumerate() {
        let name = format!("{:020}.wal", number + 1);
        if let Err(error) = std::fs::write(dir.path().join(name), bytes) {
            panic!("cannot write a segment into the scratch directory: {error}");
        }
    }
    let Some(first) = recovered(dir.path()) else {
        return;
    };
    let Some(second) = recovered(dir.path()) else {
        panic!("a log that opened once does not open again: {first:?}");
    };
    assert_eq!(first, second, "recovering a recovered log changes it");
});

/// What an opened log holds: its hard state, first index and entries.
#[derive(Debug, PartialEq)]
struct Recovered {
    hard_state: HardState,
    first_index: u64,
    entries: Vec<Entry>,
}

fn recovered(dir: &Path) -> Option<Recovered> {
    let config = WalConfig {
        segment_size_bytes: 4 << 10,
        durability: Durability::Never,
        ..WalConfig::default()
    };
    let store = WalLogStore::open(dir, config).ok()?;
    let (first_index, last_index) = (store.first_index(), store.last_index());
    assert!(
        first_index >= 1 && last_index + 1 >= first_index,
        "{first_index}..={last_index}"
    );
    let entries = match store.entries(first_index, last_index + 1, u64::MAX) {
        Ok(entries) => entries,
        Err(error) => panic!("entries {first_index}..={last_index} do not read: {error}"),
    };
    assert_eq!(
        entries.len() as u64,
        last_index + 1 - first_index,
        "entries are missing"
    );
    for (entry, index) in entries.iter().zip(first_index..) {
        assert_eq!(entry.index, index, "an entry is read at the wrong index");
        assert_eq!(
            store.term(index).ok(),
            Some(entry.term),
            "term() disagrees with the entry"
        );
    }
    assert!(
        store.term(first_index - 1).is_ok(),
        "the term before the first entry is unknown"
    );
    Some(Recovered {
        hard_state: store.hard_state(),
        first_index,
        entries,
    })
}

/// A fresh, empty directory, in memory where the machine has one.
fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let made = match shm.is_dir() {
        true => tempfile::tempdir_in(shm),
        false => tempfile::tempdir(),
    };
    match made {
        Ok(dir) => dir,
        Err(error) => panic!("cannot make a scratch directory: {error}"),
    }
}
