//! Messages from outside can be anything. Whatever a peer sends — nonsense
//! terms and indexes, entries that do not follow, appends that contradict
//! committed entries, answers to questions never asked — a node must not
//! panic, must not lose or change a committed entry, and must keep working.

use bytes::Bytes;
use ordo_core::{
    AppendRequest, AppendResponse, Entry, Heartbeat, HeartbeatResponse, Message, MessageBody,
    NodeId, ReadIndexRequest, ReadIndexResponse, RemovalNotice, Role, VoteRequest, VoteResponse,
};
use ordo_sim::cluster::Cluster;
use proptest::prelude::*;

fn number() -> impl Strategy<Value = u64> {
    prop_oneof![8 => 0u64..12, 1 => Just(u64::MAX), 1 => any::<u64>()]
}

fn entry() -> impl Strategy<Value = Entry> {
    (
        number(),
        number(),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..4)),
    )
        .prop_map(|(index, term, data)| match data {
            Some(data) => Entry::command(index, term, data),
            None => Entry::noop(index, term),
        })
}

fn body() -> impl Strategy<Value = MessageBody> {
    let vote_request = || {
        (number(), number(), any::<bool>()).prop_map(
            |(last_log_index, last_log_term, leadership_transfer)| VoteRequest {
                last_log_index,
                last_log_term,
                leadership_transfer,
            },
        )
    };
    prop_oneof![
        vote_request().prop_map(MessageBody::PreVote),
        vote_request().prop_map(MessageBody::Vote),
        any::<bool>().prop_map(|granted| MessageBody::PreVoteResponse(VoteResponse { granted })),
        any::<bool>().prop_map(|granted| MessageBody::VoteResponse(VoteResponse { granted })),
        (
            number(),
            number(),
            prop::collection::vec(entry(), 0..5),
            number()
        )
            .prop_map(|(prev_log_index, prev_log_term, entries, leader_commit)| {
                MessageBody::Append(AppendRequest {
                    prev_log_index,
                    prev_log_term,
                    entries,
                    leader_commit,
                })
            }),
        number().prop_map(
            |match_index| MessageBody::AppendResponse(AppendResponse::Accepted { match_index })
        ),
        (number(), number(), number()).prop_map(|(rejected_index, hint_index, hint_term)| {
            MessageBody::AppendResponse(AppendResponse::Rejected {
                rejected_index,
                hint_index,
                hint_term,
            })
        }),
        Just(MessageBody::TimeoutNow),
        (number(), number())
            .prop_map(|(commit, round)| MessageBody::Heartbeat(Heartbeat { commit, round })),
        number().prop_map(|round| MessageBody::HeartbeatResponse(HeartbeatResponse { round })),
        prop::collection::vec(number(), 0..4)
            .prop_map(|request_ids| MessageBody::ReadIndex(ReadIndexRequest { request_ids })),
        (
            prop::collection::vec(number(), 0..4),
            prop::option::of(number())
        )
            .prop_map(|(request_ids, read_index)| {
                MessageBody::ReadIndexResponse(ReadIndexResponse {
                    request_ids,
                    read_index,
                })
            }),
        (number(), number(), prop::option::of(0u64..6)).prop_map(
            |(committed_index, committed_term, leader)| {
                MessageBody::Removed(RemovalNotice {
                    committed_index,
                    committed_term,
                    leader,
                })
            }
        ),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    (0u64..6, 1u64..4, number(), body()).prop_map(|(from, to, term, body)| Message {
        from,
        to,
        term,
        body,
    })
}

/// A 3-node group with a leader and a few committed entries.
fn elected_group() -> Cluster {
    let mut cluster = Cluster::new(3, |id| ordo_core::Config {
        node_id: id,
        election_timeout_min_ticks: 10,
        election_timeout_max_ticks: 20,
        heartbeat_interval_ticks: 2,
        ..ordo_core::Config::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    cluster.campaign(1).unwrap_or_else(|e| panic!("{e}"));
    cluster.stabilize(100).unwrap_or_else(|e| panic!("{e}"));
    let commands = vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")];
    cluster
        .propose(1, commands)
        .unwrap_or_else(|e| panic!("{e}"));
    cluster.stabilize(100).unwrap_or_else(|e| panic!("{e}"));
    cluster
}

fn committed_prefix(cluster: &Cluster, id: NodeId) -> Vec<Entry> {
    let commit = cluster.raft(id).map_or(0, |r| r.status().commit_index);
    cluster
        .log_entries(id)
        .into_iter()
        .take_while(|e| e.index <= commit)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn garbage_never_panics_or_changes_committed_entries(garbage in prop::collection::vec(message(), 1..20)) {
        let mut cluster = elected_group();
        let before: Vec<Vec<Entry>> = (1..=3).map(|id| committed_prefix(&cluster, id)).collect();
        for message in garbage {
            let to = message.to;
            if let Some(raft) = cluster.nodes.get_mut(&to).and_then(|n| n.raft.as_mut()) {
                prop_assert!(raft.step(message).is_ok());
            }
        }
        // Committed entries survive, on every node.
        for id in 1..=3u64 {
            let after = committed_prefix(&cluster, id);
            let kept = &before[(id - 1) as usize];
            prop_assert!(after.len() >= kept.len(), "node {} forgot committed entries", id);
            prop_assert_eq!(&after[..kept.len()], &kept[..]);
        }
        // The group still works: it elects a leader and commits a new entry.
        let mut committed_new = false;
        for _ in 0..300 {
            for id in 1..=3 {
                prop_assert!(cluster.tick(id).is_ok());
            }
            prop_assert!(cluster.stabilize(50).is_ok());
            let leader = (1..=3).find(|&id| cluster.raft(id).is_some_and(|r| r.role() == Role::Leader));
            if let Some(leader) = leader
                && let Ok(p) = cluster.propose(leader, vec![Bytes::from_static(b"after")]) {
                    prop_assert!(cluster.stabilize(50).is_ok());
                    committed_new = cluster.raft(leader).is_some_and(|r| r.status().commit_index >= p.last_index);
                    if committed_new {
                        break;
                    }
                }
        }
        prop_assert!(committed_new, "the group stopped making progress after hostile input");
    }
}

#[test]
fn an_append_contradicting_committed_entries_changes_nothing() {
    let mut cluster = elected_group();
    let commit = cluster.raft(2).map_or(0, |r| r.status().commit_index);
    assert!(commit >= 2);
    let forged = Message {
        from: 3,
        to: 2,
        term: 99,
        body: MessageBody::Append(AppendRequest {
            prev_log_index: 1,
            prev_log_term: 1,
            entries: vec![Entry::command(2, 99, Bytes::from_static(b"forged"))],
            leader_commit: 0,
        }),
    };
    let before = cluster.log_entries(2);
    let node = cluster.nodes.get_mut(&2).and_then(|n| n.raft.as_mut());
    let Some(raft) = node else {
        panic!("node 2 is up")
    };
    assert_eq!(raft.step(forged), Ok(()));
    assert_eq!(
        cluster.log_entries(2),
        before,
        "committed entries are never overwritten"
    );
}

#[test]
fn a_term_with_no_room_for_another_election_is_dropped() {
    let mut cluster = elected_group();
    let node = cluster.nodes.get_mut(&2).and_then(|n| n.raft.as_mut());
    let Some(raft) = node else {
        panic!("node 2 is up")
    };
    let term_before = raft.status().term;
    let forged = Message {
        from: 3,
        to: 2,
        term: u64::MAX,
        body: MessageBody::HeartbeatResponse(HeartbeatResponse { round: 1 }),
    };
    assert_eq!(raft.step(forged), Ok(()));
    assert_eq!(raft.status().term, term_before);
    assert_eq!(raft.status().protocol_violations, 1);
}

#[test]
fn overflowing_indexes_are_dropped() {
    let mut cluster = elected_group();
    let node = cluster.nodes.get_mut(&2).and_then(|n| n.raft.as_mut());
    let Some(raft) = node else {
        panic!("node 2 is up")
    };
    let term = raft.status().term;
    let overflow = Message {
        from: 1,
        to: 2,
        term,
        body: MessageBody::Append(AppendRequest {
            prev_log_index: u64::MAX,
            prev_log_term: 0,
            entries: vec![Entry::noop(0, term)],
            leader_commit: u64::MAX,
        }),
    };
    assert_eq!(raft.step(overflow), Ok(()));
    assert_eq!(raft.status().protocol_violations, 1);
}
