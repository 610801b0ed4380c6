//! A vote request in a term below the voter's is rejected with the voter's
//! term (Raft §5.1), so the candidate's next election can be current.
//!
//! Before, it was ignored. A candidate then learned newer terms only from
//! messages in them; when a removed node raised the voters' terms with vote
//! requests that members answer with a removal notice instead of adopting
//! the term (`raft/removal.rs`), the only electable candidate stayed behind
//! the voters for ever (the simulator's seed 98096, all faults, no pre-vote).

use ordo_core::{Config, Message, MessageBody, VoteRequest};
use ordo_sim::cluster::Cluster;

#[test]
fn a_stale_vote_request_is_rejected_with_the_voters_term() {
    let config = |id| Config {
        node_id: id,
        election_timeout_min_ticks: 10,
        election_timeout_max_ticks: 20,
        heartbeat_interval_ticks: 2,
        pre_vote: false,
        check_quorum: false,
        ..Config::default()
    };
    let mut cluster = Cluster::new(3, config).unwrap_or_else(|e| panic!("{e}"));
    cluster.campaign(1).unwrap_or_else(|e| panic!("{e}"));
    cluster.stabilize(100).unwrap_or_else(|e| panic!("{e}"));
    // Node 2 campaigns alone three times: its term runs ahead.
    cluster.partition(&[2].into_iter().collect());
    for _ in 0..3 {
        cluster.campaign(2).unwrap_or_else(|e| panic!("{e}"));
        cluster.stabilize(100).unwrap_or_else(|e| panic!("{e}"));
    }
    cluster.heal();
    let voter_term = cluster.raft(2).map_or(0, |r| r.status().term);
    let candidate_term = cluster.raft(3).map_or(0, |r| r.status().term);
    assert!(
        voter_term > candidate_term + 1,
        "{voter_term} vs {candidate_term}"
    );
    let last_index = cluster.raft(3).map_or(0, |r| r.status().last_index);
    cluster.network.push(Message {
        from: 3,
        to: 2,
        term: candidate_term + 1,
        body: MessageBody::Vote(VoteRequest {
            last_log_index: last_index,
            last_log_term: 1,
            leadership_transfer: false,
        }),
    });
    cluster
        .deliver(|m| m.to == 2)
        .unwrap_or_else(|e| panic!("{e}"));
    cluster.process(2).unwrap_or_else(|e| panic!("{e}"));
    let answer = cluster
        .network
        .iter()
        .find(|m| m.from == 2 && m.to == 3 && matches!(m.body, MessageBody::VoteResponse(_)))
        .cloned();
    match answer {
        Some(Message {
            term,
            body: MessageBody::VoteResponse(response),
            ..
        }) => {
            assert_eq!(term, voter_term, "the answer carries the voter's term");
            assert!(!response.granted);
        }
        other => panic!("the stale vote request went unanswered: {other:?}"),
    }
}
