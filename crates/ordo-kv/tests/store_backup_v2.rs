//! Version 2 of the backup format against hostile input: each impossible
//! header, lease or history is refused with its own error, and the store
//! restored over is unchanged. (Truncation, bit flips and random bytes are
//! covered for both versions by `store_backup.rs`.)

#![allow(clippy::unwrap_used)]

mod store_support;

use ordo::StateMachine;
use ordo_kv::store::{BackupError, KvStore, read_backup_summary};
use store_support::{V2, end, header_v2, key_record, lease_record, put, snapshot, store_with};

/// A backup at cluster revision 9, compacted at 3, lease counter 5, made of
/// `leases` then `keys`, sealed with the right count and checksum.
fn backup(leases: &[(i64, i64)], keys: &[(&[u8], Vec<V2>)]) -> Vec<u8> {
    backup_with(header_v2(9, 3, 5), leases, keys)
}

fn backup_with(mut bytes: Vec<u8>, leases: &[(i64, i64)], keys: &[(&[u8], Vec<V2>)]) -> Vec<u8> {
    for (id, ttl) in leases {
        lease_record(&mut bytes, *id, *ttl);
    }
    for (key, versions) in keys {
        key_record(&mut bytes, key, versions);
    }
    end(&mut bytes, keys.len() as u64);
    bytes
}

fn put_at(revision: u64, version: u64, create: u64) -> V2 {
    V2::Put(revision, version, create, 0, b"v")
}

#[test]
fn impossible_backups_are_refused_with_their_own_error() {
    type Check = fn(&BackupError) -> bool;
    let lease_after_key = {
        let mut bytes = header_v2(9, 3, 5);
        key_record(&mut bytes, b"a", &[put_at(4, 1, 4)]);
        lease_record(&mut bytes, 1, 10);
        end(&mut bytes, 1);
        bytes
    };
    let cases: Vec<(&str, Vec<u8>, Check)> = vec![
        (
            "compact above cluster",
            backup_with(header_v2(9, 10, 5), &[], &[]),
            |e| matches!(e, BackupError::BadHeader { .. }),
        ),
        (
            "lease counter zero",
            backup_with(header_v2(9, 3, 0), &[], &[]),
            |e| matches!(e, BackupError::BadHeader { .. }),
        ),
        ("lease id at the counter", backup(&[(5, 10)], &[]), |e| {
            matches!(e, BackupError::BadLease { .. })
        }),
        ("lease id zero", backup(&[(0, 10)], &[]), |e| {
            matches!(e, BackupError::BadLease { .. })
        }),
        (
            "lease ids out of order",
            backup(&[(2, 10), (1, 10)], &[]),
            |e| matches!(e, BackupError::BadLease { .. }),
        ),
        ("lease ttl zero", backup(&[(1, 0)], &[]), |e| {
            matches!(e, BackupError::BadLease { .. })
        }),
        ("lease after a key", lease_after_key, |e| {
            matches!(e, BackupError::BadLease { .. })
        }),
        ("no version", backup(&[], &[(b"a", vec![])]), |e| {
            matches!(e, BackupError::BadHistory { .. })
        }),
        (
            "versions out of order",
            backup(&[], &[(b"a", vec![put_at(6, 1, 6), V2::Tombstone(5)])]),
            |e| matches!(e, BackupError::BadHistory { .. }),
        ),
        (
            "two tombstones",
            backup(
                &[],
                &[(
                    b"a",
                    vec![put_at(4, 1, 4), V2::Tombstone(5), V2::Tombstone(6)],
                )],
            ),
            |e| matches!(e, BackupError::BadHistory { .. }),
        ),
        (
            "a version skipped",
            backup(&[], &[(b"a", vec![put_at(4, 1, 4), put_at(5, 3, 4)])]),
            |e| matches!(e, BackupError::BadHistory { .. }),
        ),
        (
            "a new create revision mid-generation",
            backup(&[], &[(b"a", vec![put_at(4, 1, 4), put_at(5, 2, 5)])]),
            |e| matches!(e, BackupError::BadHistory { .. }),
        ),
        (
            "a first version 1 created earlier",
            backup(&[], &[(b"a", vec![put_at(4, 1, 2)])]),
            |e| matches!(e, BackupError::BadHistory { .. }),
        ),
        (
            "a create revision after the write",
            backup(&[], &[(b"a", vec![put_at(4, 2, 6)])]),
            |e| matches!(e, BackupError::BadHistory { .. }),
        ),
        (
            "a tombstone at the compact revision",
            backup(&[], &[(b"a", vec![V2::Tombstone(3), put_at(4, 1, 4)])]),
            |e| matches!(e, BackupError::BadHistory { .. }),
        ),
        (
            "two versions at or below compaction",
            backup(&[], &[(b"a", vec![put_at(2, 1, 2), put_at(3, 2, 2)])]),
            |e| matches!(e, BackupError::BadHistory { .. }),
        ),
        (
            "a live key on a missing lease",
            backup(&[(1, 10)], &[(b"a", vec![V2::Put(4, 1, 4, 2, b"v")])]),
            |e| matches!(e, BackupError::BadHistory { .. }),
        ),
        (
            "a revision above the cluster's",
            backup(&[], &[(b"a", vec![put_at(10, 1, 10)])]),
            |e| matches!(e, BackupError::BadRevision { .. }),
        ),
        (
            "keys out of order",
            backup(
                &[],
                &[(b"b", vec![put_at(4, 1, 4)]), (b"a", vec![put_at(5, 1, 5)])],
            ),
            |e| matches!(e, BackupError::KeyOutOfOrder { .. }),
        ),
    ];
    for (name, bytes, expected) in cases {
        let summary = read_backup_summary(&mut &bytes[..]).unwrap_err();
        assert!(expected(&summary), "{name}: {summary:?}");
        let mut store = store_with(vec![put("existing", "1")]);
        let before = snapshot(&store);
        let error = store.restore(&mut &bytes[..]).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidData, "{name}");
        assert_eq!(
            snapshot(&store),
            before,
            "{name}: a refused restore changed the store"
        );
    }
}

#[test]
fn possible_histories_restore() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "mid-generation first version",
            backup(&[], &[(b"a", vec![put_at(2, 7, 1), put_at(4, 8, 1)])]),
        ),
        (
            "recreated after a tombstone",
            backup(
                &[],
                &[(
                    b"a",
                    vec![put_at(4, 1, 4), V2::Tombstone(5), put_at(6, 1, 6)],
                )],
            ),
        ),
        (
            "a tombstone after compaction",
            backup(&[], &[(b"a", vec![put_at(3, 1, 3), V2::Tombstone(4)])]),
        ),
        (
            "an old version on a revoked lease",
            backup(
                &[(1, 10)],
                &[(
                    b"a",
                    vec![V2::Put(4, 1, 4, 3, b"v"), V2::Put(5, 2, 4, 1, b"w")],
                )],
            ),
        ),
    ];
    for (name, bytes) in cases {
        let mut store = KvStore::new();
        store
            .restore(&mut &bytes[..])
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        // The store writes version 4 (leases gain their checkpoint
        // fields, versions their sub-revisions): the same state, the same
        // counts.
        let written = snapshot(&store);
        let mut again = KvStore::new();
        again.restore(&mut &written[..]).unwrap();
        assert_eq!(again, store, "{name}");
        let summary = |bytes: &[u8]| ordo_kv::store::read_backup_summary(&mut &bytes[..]).unwrap();
        let read = summary(&bytes);
        assert_eq!(read.format_version, 2, "{name}");
        let expected = ordo_kv::store::BackupSummary {
            format_version: 4,
            ..read
        };
        assert_eq!(summary(&written), expected, "{name}");
    }
}
