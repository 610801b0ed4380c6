//! A `KvCommand` as the apply stage decodes it from a committed entry
//! (postcard; a forged or corrupt entry reaches it as any bytes). Decoding
//! never panics; a decoded command re-encodes to bytes that decode the
//! same; applying it to a store (with keys, history and a lease) never
//! panics; and the store after it still backs up into a backup whose
//! summary matches the store's counters, and restores to the same counters.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use ordo::StateMachine;
use ordo_kv::store::{KvCommand, KvStore, read_backup_summary};

fuzz_target!(|data: &[u8]| {
    let Ok(command) = postcard::from_bytes::<KvCommand>(data) else {
        return;
    };
    let Ok(encoded) = postcard::to_allocvec(&command) else {
        panic!("a decoded command does not re-encode: {command:?}");
    };
    assert_eq!(
        postcard::from_bytes::<KvCommand>(&encoded).ok(),
        Some(command.clone())
    );

    let mut store = seeded_store();
    let _ = store.apply_command(command);
    let stats = store.stats();
    let backup = store.backup();
    let summary = match read_backup_summary(&mut &backup[..]) {
        Ok(summary) => summary,
        Err(error) => panic!("the store's own backup does not read: {error}"),
    };
    assert_eq!(summary.keys, stats.keys);
    assert_eq!(summary.versions, stats.versions);
    assert_eq!(summary.bytes, stats.live_bytes);
    assert_eq!(summary.leases, stats.leases);
    assert_eq!(summary.cluster_revision, stats.cluster_revision);
    assert_eq!(summary.compact_revision, stats.compact_revision);
    let mut restored = KvStore::new();
    if let Err(error) = restored.restore(&mut &backup[..]) {
        panic!("the store's own backup does not restore: {error}");
    }
    assert_eq!(restored.stats(), stats, "a restored store differs");
});

/// A store with live keys, a tombstone, history and a lease, so that the
/// command meets each kind of state.
fn seeded_store() -> KvStore {
    let mut store = KvStore::new();
    let commands = [
        KvCommand::LeaseGrant { id: 7, ttl: 60 },
        put(b"a", b"1"),
        put(b"b", b"2"),
        put(b"a", b"3"),
        KvCommand::Delete {
            key: Bytes::from_static(b"b"),
        },
        put(b"c/d", b"4"),
    ];
    for command in commands {
        let _ = store.apply_command(command);
    }
    store
}

fn put(key: &'static [u8], value: &'static [u8]) -> KvCommand {
    KvCommand::Put {
        key: Bytes::from_static(key),
        value: Bytes::from_static(value),
        if_revision: None,
    }
}
