//! The backup format against hostile input: every kind of damage is refused
//! with its own error, and a refused restore leaves the store as it was.

#![allow(clippy::unwrap_used)]

mod store_support;

use std::io::{self, Read};

use ordo::StateMachine;
use ordo_kv::store::{
    BackupError, BackupSummary, KvStore, MAX_KEY_BYTES, MAX_VALUE_BYTES, read_backup_summary,
};
use proptest::prelude::*;
use store_support::{
    V2, backup, end, header, header_v2, header_v4, header_with, key_record, key_record_v4,
    lease_record, lease_record_v3, put, record, snapshot, store_with,
};

/// A store with a few keys, to restore over.
fn existing_store() -> KvStore {
    store_with(vec![put("existing", "1"), put("other", "22")])
}

/// A valid backup of three keys at cluster revision 9, and its records.
const RECORDS: [(&[u8], &[u8], u64); 3] = [(b"a", b"1", 4), (b"b", b"", 9), (b"c", b"33", 1)];

/// Restores `bytes` over [`existing_store`]: returns the error, after
/// checking that the store did not change.
fn refused_restore(bytes: &[u8]) -> io::Error {
    let mut store = existing_store();
    let error = store.restore(&mut &bytes[..]).unwrap_err();
    assert_eq!(
        store,
        existing_store(),
        "a failed restore changed the store"
    );
    error
}

#[test]
fn the_store_writes_the_documented_format() {
    let mut store = store_with(vec![
        put("b", "x"),
        put("a", "yy"),
        put("b", ""),
        put("c", "z"),
        ordo_kv::store::KvCommand::Delete { key: "c".into() },
        ordo_kv::store::KvCommand::LeaseGrant { id: 7, ttl: 30 },
    ]);
    let leased = ordo_kv::store::TxnRequest {
        success: vec![ordo_kv::store::RequestOp::Put(ordo_kv::store::PutRequest {
            key: "a".into(),
            value: "q".into(),
            lease: 7,
            ..Default::default()
        })],
        ..Default::default()
    };
    let checkpoint = ordo_kv::store::LeaseCheckpoint {
        stamp: ordo_kv::store::CheckpointStamp {
            term: 4,
            sequence: 2,
        },
        leases: vec![ordo_kv::store::LeaseRemaining {
            id: 7,
            remaining_ms: 12_345,
        }],
    };
    store_support::apply(
        &mut store,
        vec![
            ordo_kv::store::KvCommand::Txn(leased),
            ordo_kv::store::KvCommand::LeaseCheckpoint(checkpoint),
        ],
    );
    let mut expected = header_v4(6, 0, 8);
    lease_record_v3(&mut expected, 7, 30, Some((12_345, 4, 2)));
    let a = [V2::Put(2, 1, 2, 0, b"yy"), V2::Put(6, 2, 2, 7, b"q")];
    key_record_v4(&mut expected, b"a", &a);
    key_record_v4(
        &mut expected,
        b"b",
        &[V2::Put(1, 1, 1, 0, b"x"), V2::Put(3, 2, 1, 0, b"")],
    );
    key_record_v4(
        &mut expected,
        b"c",
        &[V2::Put(4, 1, 4, 0, b"z"), V2::Tombstone(5)],
    );
    end(&mut expected, 3);
    assert_eq!(snapshot(&store), expected);
}

#[test]
fn an_empty_store_writes_a_header_and_an_end_marker() {
    let mut expected = header_v4(0, 0, 1);
    end(&mut expected, 0);
    assert_eq!(snapshot(&KvStore::new()), expected);
}

#[test]
fn a_version_2_backup_restores_history_leases_and_the_compact_revision_as_version_4() {
    let a = [V2::Put(3, 4, 1, 0, b"old"), V2::Put(8, 5, 1, 11, b"new")];
    let gone = [V2::Put(2, 1, 2, 0, b"x"), V2::Tombstone(9)];
    let mut bytes = header_v2(9, 3, 12);
    lease_record(&mut bytes, 2, 10);
    lease_record(&mut bytes, 11, 60);
    key_record(&mut bytes, b"a", &a);
    key_record(&mut bytes, b"gone", &gone);
    end(&mut bytes, 2);
    // The same state in version 4: leases without checkpoints, every
    // version its revision's first write.
    let mut written = header_v4(9, 3, 12);
    lease_record_v3(&mut written, 2, 10, None);
    lease_record_v3(&mut written, 11, 60, None);
    key_record_v4(&mut written, b"a", &a);
    key_record_v4(&mut written, b"gone", &gone);
    end(&mut written, 2);
    let summary = read_backup_summary(&mut &bytes[..]).unwrap();
    assert_eq!(
        summary,
        BackupSummary {
            format_version: 2,
            keys: 1,
            bytes: 4,
            versions: 4,
            leases: 2,
            cluster_revision: 9,
            compact_revision: 3,
            checkpointed_leases: 0,
            users: 0,
            auth_enabled: false,
        }
    );
    let mut store = existing_store();
    store.restore(&mut &bytes[..]).unwrap();
    assert_eq!(snapshot(&store), written);
    let stats = store.stats();
    assert_eq!(
        (stats.keys, stats.versions, stats.compact_revision),
        (1, 4, 3)
    );
    assert_eq!(store.get(b"gone"), None);
    let lease = store.query(ordo_kv::store::KvQuery::Lease { id: 11 });
    assert!(
        matches!(&lease, ordo_kv::store::KvAnswer::Lease(info) if info.keys == ["a"]),
        "{lease:?}"
    );
}

#[test]
fn a_valid_backup_is_summarized_and_restored() {
    let bytes = backup(9, &RECORDS);
    let summary = read_backup_summary(&mut &bytes[..]).unwrap();
    assert_eq!(
        summary,
        BackupSummary {
            format_version: 1,
            keys: 3,
            bytes: 6,
            versions: 3,
            leases: 0,
            cluster_revision: 9,
            compact_revision: 0,
            checkpointed_leases: 0,
            users: 0,
            auth_enabled: false,
        }
    );
    let mut store = existing_store();
    store.restore(&mut &bytes[..]).unwrap();
    assert_eq!(store.cluster_revision(), 9);
    assert_eq!(store.len(), 3);
    assert_eq!(store.get(b"existing"), None);
    // A version 1 backup restores each key as version 1, created and
    // modified at its revision, with no lease; the store writes version 4.
    let mut expected = header_v4(9, 0, 1);
    key_record_v4(&mut expected, b"a", &[V2::Put(4, 1, 4, 0, b"1")]);
    key_record_v4(&mut expected, b"b", &[V2::Put(9, 1, 9, 0, b"")]);
    key_record_v4(&mut expected, b"c", &[V2::Put(1, 1, 1, 0, b"33")]);
    end(&mut expected, 3);
    assert_eq!(snapshot(&store), expected);
}

/// One way to damage a backup, and the error it must give.
struct Damage {
    name: &'static str,
    bytes: Vec<u8>,
    expected: fn(&BackupError) -> bool,
}

fn damages() -> Vec<Damage> {
    let valid = backup(9, &RECORDS);
    vec![
        Damage {
            name: "empty input",
            bytes: Vec::new(),
            expected: |e| {
                matches!(
                    e,
                    BackupError::Truncated {
                        part: "header",
                        offset: 0
                    }
                )
            },
        },
        Damage {
            name: "wrong magic",
            bytes: with_prefix(header_with(b"ORDOKV02", 1, 9), &valid[20..]),
            expected: |e| matches!(e, BackupError::BadMagic),
        },
        Damage {
            name: "not a backup at all",
            bytes: b"{\"hello\": \"world\"}\n".repeat(4),
            expected: |e| matches!(e, BackupError::BadMagic),
        },
        Damage {
            name: "unsupported version",
            bytes: sealed(header_with(b"ORDOKV01", 5, 9), 0),
            expected: |e| {
                matches!(
                    e,
                    BackupError::UnsupportedVersion {
                        found: 5,
                        supported: 4
                    }
                )
            },
        },
        Damage {
            name: "header cut short",
            bytes: valid[..15].to_vec(),
            expected: |e| matches!(e, BackupError::Truncated { part: "header", .. }),
        },
        Damage {
            name: "no end marker",
            bytes: {
                let mut bytes = header(9);
                record(&mut bytes, b"a", b"1", 1);
                bytes
            },
            expected: |e| {
                matches!(
                    e,
                    BackupError::Truncated {
                        part: "record tag",
                        ..
                    }
                )
            },
        },
        Damage {
            name: "unknown tag",
            bytes: {
                let mut bytes = header(9);
                bytes.push(b'X');
                bytes
            },
            expected: |e| {
                matches!(
                    e,
                    BackupError::UnknownTag {
                        tag: b'X',
                        offset: 20
                    }
                )
            },
        },
        Damage {
            name: "key one byte over the limit",
            bytes: record_with_lengths(MAX_KEY_BYTES + 1, 0),
            expected: |e| matches!(e, BackupError::KeyTooLong { record: 0, len } if *len == MAX_KEY_BYTES + 1),
        },
        Damage {
            name: "key length of 4 GiB",
            bytes: record_with_lengths(u32::MAX, 0),
            expected: |e| matches!(e, BackupError::KeyTooLong { len: u32::MAX, .. }),
        },
        Damage {
            name: "value one byte over the limit",
            bytes: record_with_lengths(1, MAX_VALUE_BYTES + 1),
            expected: |e| matches!(e, BackupError::ValueTooLong { record: 0, .. }),
        },
        Damage {
            name: "value length of 64 MiB with 3 bytes behind it",
            bytes: record_with_lengths(1, MAX_VALUE_BYTES),
            expected: |e| {
                matches!(
                    e,
                    BackupError::Truncated {
                        part: "value",
                        offset: 30
                    }
                )
            },
        },
        Damage {
            name: "key cut short",
            bytes: record_with_lengths(100, 0),
            expected: |e| matches!(e, BackupError::Truncated { part: "key", .. }),
        },
        Damage {
            name: "keys out of order",
            bytes: backup(9, &[(b"b", b"1", 1), (b"a", b"2", 2)]),
            expected: |e| matches!(e, BackupError::KeyOutOfOrder { record: 1 }),
        },
        Damage {
            name: "a key that is a prefix after its extension",
            bytes: backup(9, &[(b"ab", b"1", 1), (b"a", b"2", 2)]),
            expected: |e| matches!(e, BackupError::KeyOutOfOrder { record: 1 }),
        },
        Damage {
            name: "duplicate key",
            bytes: backup(9, &[(b"a", b"1", 1), (b"b", b"2", 2), (b"b", b"3", 3)]),
            expected: |e| matches!(e, BackupError::DuplicateKey { record: 2 }),
        },
        Damage {
            name: "duplicate empty key",
            bytes: backup(9, &[(b"", b"1", 1), (b"", b"2", 2)]),
            expected: |e| matches!(e, BackupError::DuplicateKey { record: 1 }),
        },
        Damage {
            name: "revision 0",
            bytes: backup(9, &[(b"a", b"1", 0)]),
            expected: |e| {
                matches!(
                    e,
                    BackupError::BadRevision {
                        record: 0,
                        revision: 0,
                        ..
                    }
                )
            },
        },
        Damage {
            name: "revision above the cluster revision",
            bytes: backup(9, &[(b"a", b"1", 9), (b"b", b"1", 10)]),
            expected: |e| {
                matches!(
                    e,
                    BackupError::BadRevision {
                        record: 1,
                        revision: 10,
                        cluster_revision: 9
                    }
                )
            },
        },
        Damage {
            name: "a key in a backup at cluster revision 0",
            bytes: backup(0, &[(b"a", b"1", 1)]),
            expected: |e| matches!(e, BackupError::BadRevision { .. }),
        },
        Damage {
            name: "end marker cut short",
            bytes: valid[..valid.len() - 6].to_vec(),
            expected: |e| {
                matches!(
                    e,
                    BackupError::Truncated {
                        part: "end marker",
                        ..
                    }
                )
            },
        },
        Damage {
            name: "checksum cut short",
            bytes: valid[..valid.len() - 1].to_vec(),
            expected: |e| {
                matches!(
                    e,
                    BackupError::Truncated {
                        part: "checksum",
                        ..
                    }
                )
            },
        },
        Damage {
            name: "record count too high",
            bytes: sealed_records(&RECORDS, 4),
            expected: |e| {
                matches!(
                    e,
                    BackupError::RecordCountMismatch {
                        declared: 4,
                        found: 3
                    }
                )
            },
        },
        Damage {
            name: "record count too low",
            bytes: sealed_records(&RECORDS, 0),
            expected: |e| {
                matches!(
                    e,
                    BackupError::RecordCountMismatch {
                        declared: 0,
                        found: 3
                    }
                )
            },
        },
        Damage {
            name: "wrong checksum",
            bytes: {
                let mut bytes = valid.clone();
                let last = bytes.len() - 1;
                bytes[last] ^= 0x80;
                bytes
            },
            expected: |e| matches!(e, BackupError::ChecksumMismatch { .. }),
        },
        Damage {
            name: "one value byte changed",
            bytes: {
                let mut bytes = valid.clone();
                let at = bytes.iter().position(|&b| b == b'3').unwrap();
                bytes[at] = b'4';
                bytes
            },
            expected: |e| matches!(e, BackupError::ChecksumMismatch { .. }),
        },
        Damage {
            name: "trailing garbage",
            bytes: with_prefix(valid.clone(), b"\n"),
            expected: |e| matches!(e, BackupError::TrailingData { offset } if *offset == 90),
        },
        Damage {
            name: "two backups back to back",
            bytes: with_prefix(valid.clone(), &valid),
            expected: |e| matches!(e, BackupError::TrailingData { .. }),
        },
    ]
}

/// `head` followed by `tail`.
fn with_prefix(mut head: Vec<u8>, tail: &[u8]) -> Vec<u8> {
    head.extend_from_slice(tail);
    head
}

/// `bytes` closed by an end marker that counts `records`, with a valid checksum.
fn sealed(mut bytes: Vec<u8>, records: u64) -> Vec<u8> {
    end(&mut bytes, records);
    bytes
}

/// A backup of `records` whose end marker counts `declared`, with a valid checksum.
fn sealed_records(records: &[(&[u8], &[u8], u64)], declared: u64) -> Vec<u8> {
    let mut bytes = header(9);
    for (key, value, revision) in records {
        record(&mut bytes, key, value, *revision);
    }
    sealed(bytes, declared)
}

/// A header and one record declaring these lengths, followed by only three
/// bytes (a key of "k" if `key_len` is 1).
fn record_with_lengths(key_len: u32, value_len: u32) -> Vec<u8> {
    let mut bytes = header(9);
    bytes.push(b'R');
    bytes.extend_from_slice(&key_len.to_le_bytes());
    if key_len == 1 {
        bytes.push(b'k');
        bytes.extend_from_slice(&value_len.to_le_bytes());
    }
    bytes.extend_from_slice(b"xyz");
    bytes
}

#[test]
fn every_kind_of_damage_is_refused_with_its_own_error() {
    for case in damages() {
        let error = read_backup_summary(&mut &case.bytes[..]).unwrap_err();
        assert!(
            (case.expected)(&error),
            "{}: wrong error {error:?}",
            case.name
        );
        let restore_error = refused_restore(&case.bytes);
        assert_eq!(
            restore_error.kind(),
            io::ErrorKind::InvalidData,
            "{}",
            case.name
        );
        assert_eq!(
            restore_error.to_string(),
            error.to_string(),
            "{}",
            case.name
        );
    }
}

#[test]
fn error_messages_say_what_is_wrong_and_where() {
    let message = |bytes: &[u8]| {
        read_backup_summary(&mut &bytes[..])
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        message(&backup(9, &[(b"a", b"1", 12)])),
        "record 0: revision 12 is outside 1..=9"
    );
    assert_eq!(
        message(&header(9)),
        "the backup is truncated: it ends inside the record tag at byte 20"
    );
    assert_eq!(
        message(b"PK\x03\x04 a zip file"),
        "not an ordo backup: it does not start with \"ORDOKV01\""
    );
}

/// A reader that yields `good` bytes, then fails.
struct FailingReader {
    good: Vec<u8>,
}

impl Read for FailingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.good.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "disk on fire",
            ));
        }
        let n = buf.len().min(self.good.len()).min(5);
        buf[..n].copy_from_slice(&self.good[..n]);
        self.good.drain(..n);
        Ok(n)
    }
}

#[test]
fn a_read_failure_keeps_its_kind_and_leaves_the_store_unchanged() {
    let valid = backup(9, &RECORDS);
    for cut in [0, 10, 25, 40, valid.len() - 2, valid.len()] {
        let mut reader = FailingReader {
            good: valid[..cut].to_vec(),
        };
        let error = read_backup_summary(&mut reader).unwrap_err();
        assert!(matches!(&error, BackupError::Io(e) if e.kind() == io::ErrorKind::ConnectionReset));
        let mut store = existing_store();
        let mut reader = FailingReader {
            good: valid[..cut].to_vec(),
        };
        let error = store.restore(&mut reader).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::ConnectionReset, "cut at {cut}");
        assert_eq!(store, existing_store());
    }
}

/// A valid backup of a random small store: history, tombstones, a lease
/// with keys, and sometimes a compaction.
fn valid_backup() -> impl Strategy<Value = Vec<u8>> {
    use ordo_kv::store::{KvCommand, PutRequest, RequestOp, TxnRequest};
    let key = prop::collection::vec(prop::sample::select(&b"ab\x00\xff"[..]), 0..4);
    let value = prop::collection::vec(any::<u8>(), 0..6);
    let writes = prop::collection::vec((key, value, 0..4u8), 0..6);
    (writes, 0..8u64).prop_map(|(writes, compact)| {
        let mut commands = vec![KvCommand::LeaseGrant { id: 0, ttl: 60 }];
        for (key, value, kind) in writes {
            commands.push(match kind {
                0 => KvCommand::Delete { key: key.into() },
                1 => KvCommand::Txn(TxnRequest {
                    success: vec![RequestOp::Put(PutRequest {
                        key: key.into(),
                        value: value.into(),
                        lease: 1,
                        ..PutRequest::default()
                    })],
                    ..TxnRequest::default()
                }),
                _ => KvCommand::Put {
                    key: key.into(),
                    value: value.into(),
                    if_revision: None,
                },
            });
        }
        commands.push(KvCommand::Compact { revision: compact });
        let mut store = KvStore::new();
        store_support::apply(&mut store, commands);
        snapshot(&store)
    })
}

/// Restores `bytes` over [`existing_store`]; whether it succeeded. Also
/// checks that the summary agrees, and that a failure left the store unchanged.
fn try_restore(bytes: &[u8]) -> bool {
    let summary = read_backup_summary(&mut &bytes[..]);
    let mut store = existing_store();
    let restored = store.restore(&mut &bytes[..]);
    assert_eq!(summary.is_ok(), restored.is_ok());
    if restored.is_err() {
        assert_eq!(store, existing_store());
    }
    restored.is_ok()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        prop_assert!(!try_restore(&bytes));
    }

    #[test]
    fn random_bytes_behind_a_valid_header_are_refused(
        revision in any::<u64>(),
        tail in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        prop_assert!(!try_restore(&with_prefix(header(revision), &tail)));
    }

    #[test]
    fn every_truncation_is_refused(valid in valid_backup(), cut in any::<prop::sample::Index>()) {
        let cut = cut.index(valid.len());
        prop_assert!(!try_restore(&valid[..cut]));
    }

    #[test]
    fn bit_flips_are_refused_unless_they_cancel_out(
        valid in valid_backup(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), 0..8u8), 1..4),
    ) {
        let mut damaged = valid.clone();
        for (at, bit) in flips {
            damaged[at.index(valid.len())] ^= 1 << bit;
        }
        prop_assert_eq!(try_restore(&damaged), damaged == valid);
    }

    #[test]
    fn overwritten_bytes_are_refused_unless_unchanged(
        valid in valid_backup(),
        at in any::<prop::sample::Index>(),
        junk in prop::collection::vec(any::<u8>(), 1..12),
    ) {
        let mut damaged = valid.clone();
        let start = at.index(valid.len());
        for (offset, byte) in junk.into_iter().enumerate() {
            if let Some(slot) = damaged.get_mut(start + offset) {
                *slot = byte;
            }
        }
        prop_assert_eq!(try_restore(&damaged), damaged == valid);
    }

    #[test]
    fn a_valid_backup_always_restores(valid in valid_backup()) {
        prop_assert!(try_restore(&valid));
    }
}
