//! A follower refuses a snapshot that announces more data than its
//! `max_snapshot_bytes`: nothing is written or answered, every chunk is
//! counted, the snapshot is reported once, and the follower goes on taking
//! appends from its leader. One at the limit is taken.

mod snapshot_support;

use bytes::Bytes;
use ordo_core::{
    Event, InstallSnapshotRequest, Message, MessageBody, SnapshotContent, SnapshotMeta,
};
use ordo_sim::cluster::Cluster;
use snapshot_support::{elected_group_with_cap, node3};

/// Bytes the test snapshot announces.
const DATA_BYTES: u64 = 10;

fn first_chunk(meta: &SnapshotMeta) -> Message {
    Message {
        from: 1,
        to: 3,
        term: meta.term,
        body: MessageBody::InstallSnapshot(InstallSnapshotRequest {
            meta: meta.clone(),
            content: SnapshotContent {
                data_bytes: DATA_BYTES,
                crc32c: 0xaaaa,
            },
            offset: 0,
            data: Bytes::from_static(b"01234"),
            done: false,
        }),
    }
}

/// Steps the first chunk into node 3; answers how many writes were handed
/// out, how many snapshot answers were sent, and the size events.
fn send_first_chunk(cluster: &mut Cluster, meta: &SnapshotMeta) -> (usize, usize, Vec<Event>) {
    let raft = node3(cluster);
    raft.step(first_chunk(meta))
        .unwrap_or_else(|e| panic!("{e}"));
    let actions = raft.take_actions().unwrap_or_else(|e| panic!("{e}"));
    let answers = actions
        .messages
        .iter()
        .filter(|m| matches!(m.body, MessageBody::InstallSnapshotResponse(_)))
        .count();
    let refusals = actions
        .events
        .into_iter()
        .filter(|event| matches!(event, Event::SnapshotRefusedForSize { .. }))
        .collect();
    (actions.snapshot_writes.len(), answers, refusals)
}

#[test]
fn a_snapshot_over_the_cap_is_refused_counted_and_reported_once() {
    let (mut cluster, meta) = elected_group_with_cap(DATA_BYTES - 1);
    let (writes, answers, refusals) = send_first_chunk(&mut cluster, &meta);
    assert_eq!(
        (writes, answers),
        (0, 0),
        "nothing of it is kept or acknowledged"
    );
    assert_eq!(
        refusals,
        [Event::SnapshotRefusedForSize {
            from: 1,
            snapshot_index: meta.index,
            data_bytes: DATA_BYTES,
            max_bytes: DATA_BYTES - 1,
        }]
    );
    // The leader resends: counted again, reported no more.
    let (writes, _, refusals) = send_first_chunk(&mut cluster, &meta);
    assert_eq!((writes, refusals.len()), (0, 0));
    assert_eq!(node3(&mut cluster).status().refused_snapshot_chunks, 2);

    // Node 3 stays a healthy follower: it takes the leader's next entry.
    let before = node3(&mut cluster).status().commit_index;
    cluster
        .propose(1, vec![Bytes::from_static(b"b")])
        .unwrap_or_else(|e| panic!("{e}"));
    cluster.stabilize(100).unwrap_or_else(|e| panic!("{e}"));
    assert!(node3(&mut cluster).status().commit_index > before);
}

#[test]
fn a_snapshot_at_the_cap_is_taken() {
    let (mut cluster, meta) = elected_group_with_cap(DATA_BYTES);
    let (writes, _, refusals) = send_first_chunk(&mut cluster, &meta);
    assert_eq!((writes, refusals.len()), (1, 0));
    assert_eq!(node3(&mut cluster).status().refused_snapshot_chunks, 0);
}
