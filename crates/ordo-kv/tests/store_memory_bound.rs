//! The store's memory bound (issue 13): resident memory within twice the key
//! and value bytes it holds, live and retained history alike, on the apply
//! path (a map grown key by key, not bulk-built by a restore).
//!
//! A check, unlike `store_memory.rs` (a measurement at 1,000,000 keys): it
//! applies [`KEYS`] keys of 100-byte values, then overwrites a tenth of
//! them, and fails if resident growth passes 2× the bytes held. The layout
//! before the packed versions took 3.2× (364 B for a 14-byte key and a
//! 100-byte value). Alone in its test binary, so the growth it reads is the
//! store's. Linux only (reads `/proc/self/statm`).

#![allow(clippy::unwrap_used)]

mod store_support;

use bytes::Bytes;
use ordo_kv::store::{KvCommand, KvStore};

const KEYS: usize = 200_000;
const OVERWRITES: usize = 20_000;
const VALUE_BYTES: usize = 100;
const BATCH: usize = 5_000;
/// The bound: resident memory per byte of key and value held.
const MOST_RESIDENT_PER_HELD_BYTE: f64 = 2.0;

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn put_all(store: &mut KvStore, keys: std::ops::Range<usize>, fill: u8) {
    let keys: Vec<usize> = keys.collect();
    for batch in keys.chunks(BATCH) {
        let commands = batch
            .iter()
            .map(|i| KvCommand::Put {
                key: Bytes::from(format!("key/{i:010}").into_bytes()),
                value: Bytes::from(vec![fill; VALUE_BYTES]),
                if_revision: None,
            })
            .collect();
        store_support::apply(store, commands);
    }
}

#[cfg(target_os = "linux")]
#[test]
fn resident_memory_stays_within_twice_the_bytes_held() {
    let before = resident_bytes();
    let mut store = KvStore::new();
    put_all(&mut store, 0..KEYS, b'v');
    let live = store.stats();
    assert_eq!(live.keys, KEYS as u64);
    let growth = resident_bytes().saturating_sub(before) as f64;
    let ratio = growth / live.live_bytes as f64;
    println!(
        "{KEYS} keys: {:.0} B/key resident, {:.2}x live key+value",
        growth / KEYS as f64,
        ratio
    );
    assert!(
        ratio <= MOST_RESIDENT_PER_HELD_BYTE,
        "{KEYS} keys take {ratio:.2}x their key and value bytes"
    );

    put_all(&mut store, 0..OVERWRITES, b'w');
    let retained = store.stats();
    assert_eq!(retained.versions, (KEYS + OVERWRITES) as u64);
    let growth = resident_bytes().saturating_sub(before) as f64;
    let ratio = growth / retained.bytes as f64;
    println!("with {OVERWRITES} overwritten: {ratio:.2}x retained key+value");
    assert!(
        ratio <= MOST_RESIDENT_PER_HELD_BYTE,
        "with history, the store takes {ratio:.2}x its retained key and value bytes"
    );
}
