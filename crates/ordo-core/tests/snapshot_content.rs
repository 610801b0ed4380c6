//! A snapshot transfer resumes only onto the same bytes. Two leaders may hold
//! snapshots of the same index and term whose bytes differ (a state
//! machine's encoding need not be deterministic); resuming leader 2's
//! transfer where leader 1's stopped spliced the two, and the follower
//! installed the splice without noticing.

mod snapshot_support;

use bytes::Bytes;
use ordo_core::{
    Config, InstallSnapshotRequest, Message, MessageBody, Raft, SnapshotContent, SnapshotMeta,
};
use ordo_sim::cluster::Cluster;
use snapshot_support::{elected_group_with_cap, node3};

const HALF: &[u8] = b"01234";

/// Three nodes, node 1 elected, everything delivered, snapshots of any
/// size taken; returns the cluster and the meta of a snapshot beyond every
/// node's log.
fn elected_group() -> (Cluster, SnapshotMeta) {
    elected_group_with_cap(Config::default().max_snapshot_bytes)
}

/// Ten bytes of snapshot data, with checksum `crc32c` standing for which.
fn content(crc32c: u32) -> SnapshotContent {
    SnapshotContent {
        data_bytes: 10,
        crc32c,
    }
}

fn chunk(
    from: u64,
    term: u64,
    meta: &SnapshotMeta,
    content: SnapshotContent,
    offset: u64,
) -> Message {
    Message {
        from,
        to: 3,
        term,
        body: MessageBody::InstallSnapshot(InstallSnapshotRequest {
            meta: meta.clone(),
            content,
            offset,
            data: Bytes::from_static(HALF),
            done: offset + HALF.len() as u64 == content.data_bytes,
        }),
    }
}

/// Steps `message` into `raft`; returns the offsets of the writes handed out
/// and the next offsets answered to the message's sender.
fn step(raft: &mut Raft<ordo_core::MemoryLog>, message: Message) -> (Vec<u64>, Vec<u64>) {
    let sender = message.from;
    raft.step(message).unwrap_or_else(|e| panic!("{e}"));
    let actions = raft.take_actions().unwrap_or_else(|e| panic!("{e}"));
    let writes = actions.snapshot_writes.iter().map(|w| w.offset).collect();
    let answers = actions
        .messages
        .iter()
        .filter_map(|m| match m.body {
            MessageBody::InstallSnapshotResponse(r) if m.to == sender && !r.installed => {
                Some(r.next_offset)
            }
            _ => None,
        })
        .collect();
    (writes, answers)
}

/// Node 3 holds the first half of leader 1's snapshot, durably.
fn half_received_from_leader_1(cluster: &mut Cluster, meta: &SnapshotMeta) -> u64 {
    let term = meta.term;
    let raft = node3(cluster);
    let (writes, _) = step(raft, chunk(1, term, meta, content(0xaaaa), 0));
    assert_eq!(writes, vec![0]);
    raft.snapshot_chunk_written(meta.index, HALF.len() as u64);
    term
}

#[test]
fn another_leaders_snapshot_of_the_same_index_and_term_starts_over() {
    let (mut cluster, meta) = elected_group();
    let term = half_received_from_leader_1(&mut cluster, &meta);
    let raft = node3(&mut cluster);
    // Leader 2 of the next term holds a snapshot of the same index and term,
    // encoded differently, and sends its second half.
    let (writes, answers) = step(raft, chunk(2, term + 1, &meta, content(0xbbbb), 5));
    assert!(
        writes.is_empty(),
        "spliced onto leader 1's bytes: {writes:?}"
    );
    assert_eq!(answers, vec![0], "the transfer starts over at byte 0");
    let (writes, _) = step(raft, chunk(2, term + 1, &meta, content(0xbbbb), 0));
    assert_eq!(writes, vec![0], "leader 2's snapshot from its first byte");
}

#[test]
fn the_same_content_resumes_across_leaders() {
    let (mut cluster, meta) = elected_group();
    let term = half_received_from_leader_1(&mut cluster, &meta);
    let raft = node3(&mut cluster);
    let (writes, _) = step(raft, chunk(2, term + 1, &meta, content(0xaaaa), 5));
    assert_eq!(writes, vec![5], "the same bytes resume where they stopped");
}

#[test]
fn a_partial_snapshot_from_before_a_restart_resumes_only_for_its_content() {
    for (held, resumes) in [(content(0xaaaa), true), (content(0xcccc), false)] {
        let (mut cluster, meta) = elected_group();
        cluster.crash(3);
        if let Some(node) = cluster.nodes.get_mut(&3) {
            node.partial_snapshot = Some((meta.clone(), held, HALF.to_vec()));
        }
        cluster.restart(3).unwrap_or_else(|e| panic!("{e}"));
        let raft = node3(&mut cluster);
        let (writes, answers) = step(raft, chunk(2, meta.term + 1, &meta, content(0xaaaa), 5));
        if resumes {
            assert_eq!(writes, vec![5], "the same bytes resume after a restart");
        } else {
            assert!(writes.is_empty(), "spliced onto another snapshot's bytes");
            assert_eq!(answers, vec![0]);
        }
    }
}

#[test]
fn a_chunk_marked_last_at_the_wrong_place_is_dropped() {
    let (mut cluster, meta) = elected_group();
    let term = meta.term;
    let raft = node3(&mut cluster);
    let mut message = chunk(1, term, &meta, content(0xaaaa), 0);
    // The right length, but marked last halfway.
    if let MessageBody::InstallSnapshot(request) = &mut message.body {
        request.done = true;
    }
    let (writes, answers) = step(raft, message);
    assert!(writes.is_empty() && answers.is_empty());
    assert_eq!(raft.status().protocol_violations, 1);
}

/// A leader whose snapshot file was rebuilt at the same index (other bytes,
/// shorter) while it resumed a transfer at the follower's old offset sends a
/// chunk past the end of the content it now announces. The follower answers
/// where the leader must go on (silence left the leader resending that chunk
/// for ever, found in review).
#[test]
fn a_chunk_past_its_announced_end_is_answered_with_where_to_go_on() {
    let (mut cluster, meta) = elected_group();
    let term = half_received_from_leader_1(&mut cluster, &meta);
    let raft = node3(&mut cluster);
    let shorter = SnapshotContent {
        data_bytes: 3,
        crc32c: 0xbbbb,
    };
    raft.take_actions().unwrap_or_else(|e| panic!("{e}")); // the first half's answer
    // Other content: start over.
    let (writes, answers) = step(raft, chunk(1, term, &meta, shorter, 5));
    assert!(writes.is_empty());
    assert_eq!(answers, vec![0], "the leader starts over at byte 0");
    // The same content, but past its end: go on from what is durable.
    let (writes, answers) = step(raft, chunk(1, term, &meta, content(0xaaaa), 7));
    assert!(writes.is_empty());
    assert_eq!(answers, vec![HALF.len() as u64]);
    assert_eq!(raft.status().protocol_violations, 0);
}

#[test]
fn received_data_that_disagrees_with_its_content_is_never_installed() {
    let (mut cluster, meta) = elected_group();
    let term = half_received_from_leader_1(&mut cluster, &meta);
    let raft = node3(&mut cluster);
    let (writes, _) = step(raft, chunk(1, term, &meta, content(0xaaaa), 5));
    assert_eq!(writes, vec![5]);
    // The driver finds the data's checksum is not the announced one.
    raft.snapshot_chunk_rejected(meta.index, 10);
    let actions = raft.take_actions().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(actions.install_snapshot, None);
    let restarts: Vec<u64> = actions
        .messages
        .iter()
        .filter_map(|m| match m.body {
            MessageBody::InstallSnapshotResponse(r) if m.to == 1 && !r.installed => {
                Some(r.next_offset)
            }
            _ => None,
        })
        .collect();
    assert_eq!(restarts, vec![0], "the leader is asked to start over");
    // A late report for the rejected chunk changes nothing.
    raft.snapshot_chunk_written(meta.index, 10);
    let actions = raft.take_actions().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(actions.install_snapshot, None);
    let (writes, _) = step(raft, chunk(1, term, &meta, content(0xaaaa), 0));
    assert_eq!(writes, vec![0]);
}
