//! The event stream: complete, ordered, and never naming a stale leader.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod runtime_support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ordo::storage::MemLogStore;
use ordo::{Event, EventStream, EventStreamError, NodeId, RaftNode, Role, Term};
use runtime_support::{Cluster, Kv, config, set, wait_until};

/// Everything a stream holds now.
fn drain(stream: &mut EventStream) -> Vec<Event> {
    let mut events = Vec::new();
    loop {
        match stream.try_recv() {
            Ok(Some(event)) => events.push(event),
            Ok(None) | Err(EventStreamError::Closed) => return events,
            Err(EventStreamError::Lagged(skipped)) => panic!("lagged by {skipped}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_events_name_only_the_real_leader_of_their_term() {
    let ids = [1, 2, 3, 4, 5];
    let mut cluster = Cluster {
        network: ordo::transport::InProcessNetwork::new(),
        ids: ids.to_vec(),
        nodes: Default::default(),
    };
    let mut streams = BTreeMap::new();
    for id in ids {
        let node = RaftNode::new(
            config(id, &ids),
            Kv::default(),
            Arc::new(MemLogStore::new()),
            cluster.network.transport(id),
        )
        .unwrap();
        // Subscribed before start: the first election is seen.
        streams.insert(id, node.events());
        node.start().await.unwrap();
        cluster.nodes.insert(id, node);
    }
    // Leader changes of three kinds: a stop, a partition, a transfer.
    cluster.propose(set("a", 1)).await;
    let first = cluster.leader().await;
    cluster.stop_node(first).await;
    cluster.propose(set("a", 2)).await;
    let second = cluster.leader().await;
    cluster.network.isolate(second);
    wait_until("a leader among the others", || {
        cluster
            .nodes
            .values()
            .find(|n| n.id() != second && n.is_leader())
            .map(|n| n.id())
    })
    .await;
    cluster.network.heal();
    let third = cluster.leader().await;
    cluster.propose(set("a", 3)).await;
    let target = *cluster.nodes.keys().find(|&&id| id != third).unwrap();
    cluster
        .node(third)
        .transfer_leadership(target)
        .await
        .unwrap();
    wait_until("the transfer", || {
        cluster.node(target).is_leader().then_some(())
    })
    .await;
    cluster.propose(set("a", 4)).await;
    cluster.converged(4).await;
    cluster.stop_all().await;

    let events: BTreeMap<NodeId, Vec<Event>> = streams
        .iter_mut()
        .map(|(&id, stream)| (id, drain(stream)))
        .collect();
    // Who really led each term: the node that reported becoming leader in it.
    let mut real: BTreeMap<Term, NodeId> = BTreeMap::new();
    for (&id, events) in &events {
        for event in events {
            if let Event::RoleChanged {
                current: Role::Leader,
                term,
                ..
            } = event
            {
                let previous = real.insert(*term, id);
                assert!(previous.is_none(), "two leaders in term {term}");
            }
        }
    }
    assert!(real.len() >= 4, "four leaderships at least: {real:?}");
    for (&id, events) in &events {
        let mut last_term = 0;
        let mut last_elected_term = 0;
        for event in events {
            match *event {
                Event::LeaderElected { leader, term } => {
                    assert_eq!(
                        real.get(&term),
                        Some(&leader),
                        "node {id} named {leader} leader of term {term}"
                    );
                    assert!(term > last_elected_term, "node {id} repeated or went back");
                    last_elected_term = term;
                    last_term = last_term.max(term);
                }
                Event::RoleChanged { term, .. } | Event::LeaderLost { term } => {
                    assert!(term >= last_term, "node {id}: term went back");
                    last_term = term;
                }
                _ => {}
            }
        }
        assert!(last_elected_term > 0, "node {id} saw a leader");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entry_events_follow_the_write_path_in_order() {
    let network = ordo::transport::InProcessNetwork::new();
    let node = RaftNode::new(
        config(1, &[1]),
        Kv::default(),
        Arc::new(MemLogStore::new()),
        network.transport(1),
    )
    .unwrap();
    let mut stream = node.events();
    node.start().await.unwrap();
    node.wait_for_leader(Duration::from_secs(20)).await.unwrap();
    for i in 0..5 {
        node.propose(set("k", i)).await.unwrap();
    }
    node.stop().await;
    let events = drain(&mut stream);
    let (mut appended, mut committed, mut applied) = (0, 0, 0);
    for event in &events {
        match *event {
            Event::EntriesAppended { last_index } => {
                assert!(last_index > appended);
                appended = last_index;
            }
            Event::EntriesCommitted { commit_index } => {
                assert!(commit_index > committed && commit_index <= appended);
                committed = commit_index;
            }
            Event::EntriesApplied { applied_index } => {
                assert!(applied_index > applied && applied_index <= committed);
                applied = applied_index;
            }
            _ => {}
        }
    }
    // The leader's no-op, its address (a new leader logs it), five commands.
    assert_eq!((appended, committed, applied), (7, 7, 7), "{events:?}");
    assert!(matches!(
        events.first(),
        Some(Event::RoleChanged {
            current: Role::PreCandidate | Role::Candidate,
            ..
        })
    ));
    // The stream ended with the node.
    assert_eq!(stream.recv().await.unwrap_err(), EventStreamError::Closed);
    assert_eq!(
        node.events().recv().await.unwrap_err(),
        EventStreamError::Closed
    );
}
