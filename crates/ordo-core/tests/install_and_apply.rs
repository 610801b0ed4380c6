//! Actions may be carried out in any order and in parallel, so a snapshot
//! install must never race with applying entries: restoring the state machine
//! and then applying entries the snapshot already covers would take the state
//! machine back in time. The core hands out no entries to apply while a
//! received snapshot waits to be installed, and hands out the install only
//! once every entry handed out before it was reported applied.

use bytes::Bytes;
use ordo_core::{
    AppendRequest, Config, Entry, Heartbeat, InitialState, InstallSnapshotRequest, Membership,
    MemoryLog, Message, MessageBody, Raft, SnapshotContent, SnapshotMeta,
};

fn from_leader(body: MessageBody) -> Message {
    Message {
        from: 1,
        to: 3,
        term: 1,
        body,
    }
}

fn take(raft: &mut Raft<MemoryLog>) -> ordo_core::Actions {
    raft.take_actions().unwrap_or_else(|e| panic!("{e}"))
}

fn step(raft: &mut Raft<MemoryLog>, body: MessageBody) {
    raft.step(from_leader(body))
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn entries_are_not_applied_alongside_a_snapshot_install() {
    let config = Config {
        node_id: 3,
        ..Config::default()
    };
    let members = Membership::with_voters([1, 2, 3]);
    let initial = InitialState {
        membership: members.clone(),
        ..InitialState::default()
    };
    let mut raft = Raft::new(config, MemoryLog::new(), initial).unwrap_or_else(|e| panic!("{e}"));

    // Node 3 holds entries 1..=7, durably; 1..=4 are committed.
    let entries = (1..=7).map(|i| Entry::command(i, 1, vec![b'x'])).collect();
    step(
        &mut raft,
        MessageBody::Append(AppendRequest {
            prev_log_index: 0,
            prev_log_term: 0,
            entries,
            leader_commit: 4,
        }),
    );
    let write = take(&mut raft)
        .persist
        .unwrap_or_else(|| panic!("entries to write"));
    raft.log_store_mut().apply(&write);
    raft.persisted(write.id).unwrap_or_else(|e| panic!("{e}"));

    // Entries 1..=4 are handed out to apply; the state machine is slow.
    let actions = take(&mut raft);
    assert_eq!(actions.apply.len(), 4);

    // The leader, whose log was compacted past node 3's, sends snapshot 10.
    let meta = SnapshotMeta {
        index: 10,
        term: 1,
        membership: members,
    };
    step(
        &mut raft,
        MessageBody::InstallSnapshot(InstallSnapshotRequest {
            meta: meta.clone(),
            content: SnapshotContent {
                data_bytes: 11,
                crc32c: 0x5eed,
            },
            offset: 0,
            data: Bytes::from_static(b"state at 10"),
            done: true,
        }),
    );
    let actions = take(&mut raft);
    assert_eq!(actions.snapshot_writes.len(), 1);
    raft.snapshot_chunk_written(10, 11);
    // A heartbeat tells node 3 that entries up to 7 are committed.
    step(
        &mut raft,
        MessageBody::Heartbeat(Heartbeat {
            commit: 7,
            round: 1,
        }),
    );

    // Entries 1..=4 are still being applied: no install yet, and no more
    // entries to apply (the snapshot covers them).
    let actions = take(&mut raft);
    assert_eq!(actions.install_snapshot, None);
    assert!(actions.apply.is_empty(), "{:?}", actions.apply);

    // Once they are applied, the install goes out, alone.
    raft.applied(4);
    let actions = take(&mut raft);
    assert_eq!(actions.install_snapshot, Some(meta.clone()));
    assert!(actions.apply.is_empty(), "{:?}", actions.apply);
    let actions = take(&mut raft);
    assert!(actions.apply.is_empty(), "{:?}", actions.apply);

    raft.log_store_mut().reset(10, 1);
    raft.snapshot_installed(meta);
    assert_eq!(raft.status().applied_index, 10);
}
