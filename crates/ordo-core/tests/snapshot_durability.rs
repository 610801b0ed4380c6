//! A follower that already holds the entries a snapshot covers says so — but
//! only once they are durable. Answering at once let the leader count entries
//! a crash could still take away (found by the simulator, seed 1825).

use bytes::Bytes;
use ordo_core::{
    Config, InstallSnapshotRequest, Membership, Message, MessageBody, SnapshotContent, SnapshotMeta,
};
use ordo_sim::cluster::Cluster;

/// Three nodes, node 1 elected, everything delivered.
fn elected_group() -> Cluster {
    let config = |id| Config {
        node_id: id,
        election_timeout_min_ticks: 10,
        election_timeout_max_ticks: 20,
        heartbeat_interval_ticks: 2,
        ..Config::default()
    };
    let mut cluster = Cluster::new(3, config).unwrap_or_else(|e| panic!("{e}"));
    cluster.campaign(1).unwrap_or_else(|e| panic!("{e}"));
    cluster.stabilize(100).unwrap_or_else(|e| panic!("{e}"));
    cluster
}

fn answers_to_leader(messages: &[Message]) -> usize {
    messages
        .iter()
        .filter(|m| {
            m.to == 1 && matches!(m.body, MessageBody::InstallSnapshotResponse(r) if r.installed)
        })
        .count()
}

#[test]
fn installed_is_answered_only_once_the_entries_are_durable() {
    let mut cluster = elected_group();
    cluster.auto_sync = false;
    let proposal = cluster
        .propose(1, vec![Bytes::from_static(b"a")])
        .unwrap_or_else(|e| panic!("{e}"));
    cluster.process(1).unwrap_or_else(|e| panic!("{e}"));
    cluster
        .deliver(|m| m.to == 3)
        .unwrap_or_else(|e| panic!("{e}"));
    cluster.process(3).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        cluster.nodes[&3].pending_writes.len(),
        1,
        "node 3 holds the entry, not yet durable"
    );

    let chunk = Message {
        from: 1,
        to: 3,
        term: proposal.term,
        body: MessageBody::InstallSnapshot(InstallSnapshotRequest {
            meta: SnapshotMeta {
                index: proposal.last_index,
                term: proposal.term,
                membership: Membership::with_voters([1, 2, 3]),
            },
            content: SnapshotContent::default(),
            offset: 0,
            data: Bytes::new(),
            done: true,
        }),
    };
    cluster.deliver_one(chunk).unwrap_or_else(|e| panic!("{e}"));
    let before_sync = cluster.process(3).unwrap_or_else(|e| panic!("{e}"));
    let sent: Vec<Message> = before_sync
        .iter()
        .flat_map(|a| a.messages.clone())
        .collect();
    assert_eq!(
        answers_to_leader(&sent),
        0,
        "no promise before the entries are durable"
    );

    cluster.sync(3).unwrap_or_else(|e| panic!("{e}"));
    let after_sync = cluster.process(3).unwrap_or_else(|e| panic!("{e}"));
    let sent: Vec<Message> = after_sync.iter().flat_map(|a| a.messages.clone()).collect();
    assert_eq!(answers_to_leader(&sent), 1, "answered once durable");
}

/// While a received snapshot waits to be installed, no older entry is handed
/// out to apply: the driver would apply it after restoring the snapshot, on
/// top of state that already includes it.
#[test]
fn nothing_older_is_applied_while_a_snapshot_waits_to_be_installed() {
    let mut cluster = elected_group();
    let commands = vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")];
    let proposal = cluster
        .propose(1, commands)
        .unwrap_or_else(|e| panic!("{e}"));
    cluster.stabilize(100).unwrap_or_else(|e| panic!("{e}"));
    // Node 3 restarts: its log holds entries it has not applied (commit is volatile).
    cluster.crash(3);
    cluster.restart(3).unwrap_or_else(|e| panic!("{e}"));
    let term = proposal.term;
    let Some(raft) = cluster.nodes.get_mut(&3).and_then(|n| n.raft.as_mut()) else {
        panic!("node 3 is up");
    };
    let snapshot = SnapshotMeta {
        index: proposal.last_index + 10,
        term,
        membership: Membership::with_voters([1, 2, 3]),
    };
    let chunk = Message {
        from: 1,
        to: 3,
        term,
        body: MessageBody::InstallSnapshot(InstallSnapshotRequest {
            meta: snapshot.clone(),
            content: ordo_sim::snapshots::content(b"state"),
            offset: 0,
            data: Bytes::from_static(b"state"),
            done: true,
        }),
    };
    raft.step(chunk).unwrap_or_else(|e| panic!("{e}"));
    let actions = raft.take_actions().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(actions.snapshot_writes.len(), 1);
    raft.snapshot_chunk_written(snapshot.index, 5);
    // The leader's heartbeat lets node 3 commit what its old log holds.
    let heartbeat = Message {
        from: 1,
        to: 3,
        term,
        body: MessageBody::Heartbeat(ordo_core::Heartbeat {
            commit: proposal.last_index,
            round: 1,
        }),
    };
    raft.step(heartbeat).unwrap_or_else(|e| panic!("{e}"));
    let actions = raft.take_actions().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(actions.install_snapshot, Some(snapshot.clone()));
    assert!(
        actions.apply.is_empty(),
        "old entries handed out with the install: {:?}",
        actions.apply
    );
    let actions = raft.take_actions().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        actions.apply.is_empty(),
        "old entries handed out while the install is pending"
    );
}

/// A chunk of another snapshot (a late, reordered chunk of an older one, or
/// a new leader's) must not replace a snapshot whose chunk is being written
/// or which waits to be installed: the driver's durable partial snapshot and
/// the install would then disagree (found by the simulator, seed 3837 of
/// the tail-loss fault mix).
#[test]
fn a_snapshot_being_written_or_installed_is_not_replaced() {
    let mut cluster = elected_group();
    let proposal = cluster
        .propose(1, vec![Bytes::from_static(b"a")])
        .unwrap_or_else(|e| panic!("{e}"));
    cluster.stabilize(100).unwrap_or_else(|e| panic!("{e}"));
    let term = proposal.term;
    let meta = |index| SnapshotMeta {
        index,
        term,
        membership: Membership::with_voters([1, 2, 3]),
    };
    let chunk = |index, done| Message {
        from: 1,
        to: 3,
        term,
        body: MessageBody::InstallSnapshot(InstallSnapshotRequest {
            meta: meta(index),
            content: ordo_sim::snapshots::content(b"state"),
            offset: 0,
            data: Bytes::from_static(b"state"),
            done,
        }),
    };
    let (newer, older) = (proposal.last_index + 10, proposal.last_index + 5);
    let Some(raft) = cluster.nodes.get_mut(&3).and_then(|n| n.raft.as_mut()) else {
        panic!("node 3 is up");
    };
    raft.step(chunk(newer, true))
        .unwrap_or_else(|e| panic!("{e}"));
    let actions = raft.take_actions().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(actions.snapshot_writes.len(), 1);

    raft.step(chunk(older, true))
        .unwrap_or_else(|e| panic!("{e}"));
    let actions = raft.take_actions().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        actions.snapshot_writes.is_empty(),
        "a chunk of another snapshot while one is being written"
    );

    raft.snapshot_chunk_written(newer, 5);
    let actions = raft.take_actions().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(actions.install_snapshot, Some(meta(newer)));
    raft.step(chunk(older, true))
        .unwrap_or_else(|e| panic!("{e}"));
    let actions = raft.take_actions().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        actions.snapshot_writes.is_empty() && actions.install_snapshot.is_none(),
        "a chunk of another snapshot while one is being installed"
    );
    raft.log_store_mut().reset(newer, term);
    raft.snapshot_installed(meta(newer));
    assert_eq!(raft.status().last_index, newer);
}
