//! A measurement, not a check: resident memory per key of the store.
//!
//! Run each alone (resident memory is per process and never shrinks much):
//! `cargo test -p ordo-kv --test store_memory -- --ignored --nocapture --exact resident_memory_per_key`
//! and the same with `resident_memory_per_key_after_a_restore`.
//! It loads 1,000,000 keys of 100-byte values (each key once: no history),
//! then overwrites 100,000 of them (history), and prints the growth of
//! resident memory per key against the key and value bytes held. Linux only
//! (reads `/proc/self/statm`).

#![allow(clippy::unwrap_used)]

mod store_support;

use bytes::Bytes;
use ordo_kv::store::{KvCommand, KvStore};

const KEYS: usize = 1_000_000;
const VALUE_BYTES: usize = 100;
const OVERWRITES: usize = 100_000;

/// Resident bytes of this process.
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn load(store: &mut KvStore, range: std::ops::Range<usize>, fill: u8) {
    let commands: Vec<KvCommand> = range
        .map(|i| KvCommand::Put {
            key: Bytes::from(format!("key/{i:010}").into_bytes()),
            value: Bytes::from(vec![fill; VALUE_BYTES]),
            if_revision: None,
        })
        .collect();
    store_support::apply(store, commands);
}

#[test]
#[ignore = "a measurement: run it by hand (see the module docs)"]
fn resident_memory_per_key() {
    let before = resident_bytes();
    let mut store = KvStore::new();
    for chunk in 0..KEYS / 10_000 {
        load(&mut store, chunk * 10_000..(chunk + 1) * 10_000, b'v');
    }
    let loaded = resident_bytes();
    let stats = store.stats();
    let growth = loaded.saturating_sub(before);
    println!(
        "{KEYS} keys: resident +{} MB, {} B/key; live key+value {} MB; ratio {:.2}",
        growth >> 20,
        growth / KEYS as u64,
        stats.live_bytes >> 20,
        growth as f64 / stats.live_bytes as f64
    );
    for chunk in 0..OVERWRITES / 10_000 {
        load(&mut store, chunk * 10_000..(chunk + 1) * 10_000, b'w');
    }
    let with_history = resident_bytes();
    let stats = store.stats();
    let growth = with_history.saturating_sub(before);
    println!(
        "after {OVERWRITES} overwrites: resident +{} MB; retained key+value {} MB in {} versions; ratio {:.2}",
        growth >> 20,
        stats.bytes >> 20,
        stats.versions,
        growth as f64 / stats.bytes as f64
    );
    assert_eq!(stats.keys, KEYS as u64);
}

/// A version 1 backup of [`KEYS`] keys, generated as it is read, so the
/// process holds nothing but the store being restored.
struct GeneratedBackup {
    next_key: usize,
    pending: Vec<u8>,
    crc: u32,
    done: bool,
}

impl GeneratedBackup {
    fn new() -> Self {
        let mut pending = b"ORDOKV01".to_vec();
        pending.extend_from_slice(&1u32.to_le_bytes());
        pending.extend_from_slice(&(KEYS as u64).to_le_bytes());
        let crc = crc32c::crc32c(&pending);
        Self {
            next_key: 0,
            pending,
            crc,
            done: false,
        }
    }

    fn refill(&mut self) {
        let start = self.pending.len();
        if self.next_key < KEYS {
            let key = format!("key/{:010}", self.next_key);
            self.pending.push(b'R');
            self.pending
                .extend_from_slice(&(key.len() as u32).to_le_bytes());
            self.pending.extend_from_slice(key.as_bytes());
            self.pending
                .extend_from_slice(&(VALUE_BYTES as u32).to_le_bytes());
            self.pending.extend_from_slice(&[b'v'; VALUE_BYTES]);
            self.next_key += 1;
            self.pending
                .extend_from_slice(&(self.next_key as u64).to_le_bytes());
            self.crc = crc32c::crc32c_append(self.crc, &self.pending[start..]);
        } else if !self.done {
            self.pending.push(b'E');
            self.pending.extend_from_slice(&(KEYS as u64).to_le_bytes());
            self.crc = crc32c::crc32c_append(self.crc, &self.pending[start..]);
            self.pending.extend_from_slice(&self.crc.to_le_bytes());
            self.done = true;
        }
    }
}

impl std::io::Read for GeneratedBackup {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pending.len() < buf.len() && !self.done {
            self.refill();
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

#[test]
#[ignore = "a measurement: run it by hand, alone (see the module docs)"]
fn resident_memory_per_key_after_a_restore() {
    let before = resident_bytes();
    let mut store = KvStore::new();
    let mut input = std::io::BufReader::new(GeneratedBackup::new());
    ordo::StateMachine::restore(&mut store, &mut input).unwrap();
    let growth = resident_bytes().saturating_sub(before);
    let stats = store.stats();
    assert_eq!(stats.keys, KEYS as u64);
    println!(
        "{KEYS} keys restored (as after a restart): resident +{} MB, {} B/key; ratio {:.2}",
        growth >> 20,
        growth / KEYS as u64,
        growth as f64 / stats.live_bytes as f64
    );
}
