//! A follower that already holds the entries a snapshot covers says so — but
//! only once they are durable. Answering at once let the leader count entries
//! a crash could still take away (found by the simulator, seed 1825).

use bytes::Bytes;
use ordo_core::{Config, InstallSnapshotRequest, Membership, Message, MessageBody, SnapshotMeta};
use ordo_sim::cluster::Cluster;

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
    let config = |id| Config {
        id,
        election_timeout_min_ticks: 10,
        election_timeout_max_ticks: 20,
        heartbeat_interval_ticks: 2,
        ..Config::default()
    };
    let mut cluster = Cluster::new(3, config).unwrap_or_else(|e| panic!("{e}"));
    cluster.campaign(1).unwrap_or_else(|e| panic!("{e}"));
    cluster.stabilize(100).unwrap_or_else(|e| panic!("{e}"));
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
