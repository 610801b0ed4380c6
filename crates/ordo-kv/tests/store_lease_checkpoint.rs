//! Lease checkpoints in the store: the newest computation wins (by stamp,
//! not by order of application), records are capped at the ttl, change no
//! key or revision, and travel in backups (version 3); a version 2 backup
//! restores its leases without checkpoints.

#![allow(clippy::unwrap_used)]

mod store_support;

use ordo::StateMachine;
use ordo_kv::store::{
    BackupError, CheckpointStamp, KvAnswer, KvCommand, KvQuery, KvResponse, KvStore,
    LeaseCheckpoint, LeaseRemaining, LeaseTime, read_backup_summary,
};
use store_support::builders::{grant, run};
use store_support::{
    end, header_v2, header_v3, header_v4, lease_record, lease_record_v3, put, snapshot,
};

fn checkpoint(term: u64, sequence: u64, leases: &[(i64, u64)]) -> KvCommand {
    KvCommand::LeaseCheckpoint(LeaseCheckpoint {
        stamp: CheckpointStamp { term, sequence },
        leases: leases
            .iter()
            .map(|&(id, remaining_ms)| LeaseRemaining { id, remaining_ms })
            .collect(),
    })
}

fn times(store: &KvStore) -> Vec<(i64, Option<u64>)> {
    match store.query(KvQuery::LeaseTimes) {
        KvAnswer::LeaseTimes(times) => times
            .iter()
            .map(|time: &LeaseTime| (time.id, time.remaining_ms))
            .collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_record_with_the_highest_stamp_wins_whatever_the_order_applied() {
    let mut store = KvStore::new();
    let (a, b) = (grant(&mut store, 100), grant(&mut store, 100));
    assert_eq!(times(&store), vec![(a, None), (b, None)]);
    let cases = [
        // (command, recorded, a's and b's records after it)
        (
            checkpoint(2, 5, &[(a, 40_000), (b, 50_000)]),
            2,
            (40_000, 50_000),
        ),
        // A keepalive's record, computed later: the full ttl.
        (checkpoint(2, 7, &[(a, 100_000)]), 1, (100_000, 50_000)),
        // A checkpoint computed before that keepalive, applied after it.
        (
            checkpoint(2, 6, &[(a, 30_000), (b, 45_000)]),
            1,
            (100_000, 45_000),
        ),
        // The same stamp again changes nothing.
        (checkpoint(2, 6, &[(b, 1_000)]), 0, (100_000, 45_000)),
        // A later term wins over any sequence of an earlier one.
        (checkpoint(3, 1, &[(a, 20_000)]), 1, (20_000, 45_000)),
        (checkpoint(2, 99, &[(a, 10_000)]), 0, (20_000, 45_000)),
        // Capped at the ttl; an unknown lease is skipped.
        (
            checkpoint(3, 2, &[(b, 900_000), (77, 5)]),
            1,
            (20_000, 100_000),
        ),
    ];
    for (command, recorded, (at_a, at_b)) in cases {
        let revision = store.cluster_revision();
        let answer = run(&mut store, command.clone());
        assert_eq!(
            answer,
            KvResponse::LeaseCheckpointed { recorded },
            "{command:?}"
        );
        assert_eq!(
            times(&store),
            vec![(a, Some(at_a)), (b, Some(at_b))],
            "{command:?}"
        );
        assert_eq!(
            store.cluster_revision(),
            revision,
            "a checkpoint took a revision"
        );
    }
}

#[test]
fn checkpoints_travel_in_backups_and_snapshots() {
    let mut store = KvStore::new();
    run(&mut store, put("k", "v"));
    let (a, b) = (grant(&mut store, 30), grant(&mut store, 60));
    run(&mut store, checkpoint(4, 2, &[(a, 12_345)]));
    let bytes = snapshot(&store);
    let mut expected = header_v4(1, 0, 3);
    lease_record_v3(&mut expected, a, 30, Some((12_345, 4, 2)));
    lease_record_v3(&mut expected, b, 60, None);
    assert_eq!(&bytes[..expected.len()], &expected[..]);
    let summary = read_backup_summary(&mut &bytes[..]).unwrap();
    assert_eq!(
        (summary.format_version, summary.checkpointed_leases),
        (4, 1)
    );
    let mut restored = KvStore::new();
    restored.restore(&mut &bytes[..]).unwrap();
    assert_eq!(restored, store);
    // The stamp came back too: an older checkpoint is still ignored.
    let answer = run(&mut restored, checkpoint(4, 1, &[(a, 1)]));
    assert_eq!(answer, KvResponse::LeaseCheckpointed { recorded: 0 });
    assert_eq!(times(&restored), vec![(a, Some(12_345)), (b, None)]);
}

#[test]
fn a_version_2_backup_restores_leases_without_checkpoints() {
    let mut bytes = header_v2(0, 0, 3);
    lease_record(&mut bytes, 1, 30);
    lease_record(&mut bytes, 2, 60);
    end(&mut bytes, 0);
    let mut store = KvStore::new();
    store.restore(&mut &bytes[..]).unwrap();
    assert_eq!(times(&store), vec![(1, None), (2, None)]);
}

#[test]
fn impossible_version_3_lease_records_are_refused() {
    // A lease of ttl 30 s, then its remaining ms and stamp as written.
    let cases = [
        ("above the ttl", [30_001, 1, 1]),
        ("a stamp without a checkpoint", [u64::MAX, 1, 0]),
    ];
    for (name, checkpoint) in cases {
        let mut bytes = header_v3(0, 0, 2);
        lease_record(&mut bytes, 1, 30);
        for field in checkpoint {
            bytes.extend_from_slice(&field.to_le_bytes());
        }
        end(&mut bytes, 0);
        let error = read_backup_summary(&mut &bytes[..]).unwrap_err();
        assert!(
            matches!(error, BackupError::BadLease { .. }),
            "{name}: {error}"
        );
        let mut store = KvStore::new();
        assert!(store.restore(&mut &bytes[..]).is_err(), "{name}");
        assert_eq!(
            store,
            KvStore::new(),
            "{name}: a refused restore changed the store"
        );
    }
}
