//! The backup format (`ordo snapshot restore` reads files users hand it;
//! a node restores a snapshot a leader sent): `read_backup_summary` and a
//! restore into a `KvStore` never panic and agree on whether the bytes are
//! a backup; a restored store's counters match the summary; and its own
//! backup (in the newest format) reads to the same summary and restores
//! to the same counters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ordo::StateMachine;
use ordo_kv::store::{BackupSummary, KvStore, read_backup_summary};

fuzz_target!(|data: &[u8]| {
    let summary = read_backup_summary(&mut &data[..]);
    let mut store = KvStore::new();
    let restored = store.restore(&mut &data[..]);
    let summary = match (summary, restored) {
        (Ok(summary), Ok(())) => summary,
        (Err(_), Err(_)) => return,
        (summary, restored) => {
            panic!("summary and restore disagree: {summary:?} vs {restored:?}")
        }
    };
    let stats = store.stats();
    let from_stats = BackupSummary {
        format_version: summary.format_version,
        keys: stats.keys,
        bytes: stats.live_bytes,
        versions: stats.versions,
        leases: stats.leases,
        cluster_revision: stats.cluster_revision,
        compact_revision: stats.compact_revision,
        // Not a counter of the store's: taken from the summary.
        checkpointed_leases: summary.checkpointed_leases,
        users: store.auth().users().len() as u64,
        auth_enabled: store.auth().enabled(),
    };
    assert_eq!(
        from_stats, summary,
        "a restored store differs from the summary"
    );

    let backup = store.backup();
    let again = match read_backup_summary(&mut &backup[..]) {
        Ok(again) => again,
        Err(error) => panic!("a restored store's backup does not read: {error}"),
    };
    assert_eq!(
        BackupSummary {
            format_version: summary.format_version,
            ..again
        },
        summary
    );
    let mut restored_again = KvStore::new();
    if let Err(error) = restored_again.restore(&mut &backup[..]) {
        panic!("a restored store's backup does not restore: {error}");
    }
    assert_eq!(restored_again.stats(), stats, "a second restore differs");
});
