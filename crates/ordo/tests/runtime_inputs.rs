//! Bad input at every public entry of the runtime is refused with a typed
//! error, and never stops a healthy node; failures inside the node (storage,
//! state machine) stop it loudly and answer every caller.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod runtime_support;

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ordo::storage::fs::{Fault, FaultInjectingFs};
use ordo::storage::{MemLogStore, WalConfig, WalLogStore};
use ordo::transport::{InProcessNetwork, Transport};
use ordo::{ConfigError, Entry, Event, RaftConfig, RaftError, RaftNode, StateMachine};
use ordo_core::{AppendRequest, Entry as LogEntry, Message, MessageBody, VoteResponse};
use runtime_support::{
    Answer, Cluster, Kv, PATIENCE, config, get, set, wait_until, wait_until_async,
};

fn single(network: &InProcessNetwork) -> RaftNode<Kv> {
    RaftNode::new(
        config(1, &[1]),
        Kv::default(),
        Arc::new(MemLogStore::new()),
        network.transport(1),
    )
    .unwrap()
}

fn message(from: u64, to: u64) -> Message {
    Message {
        from,
        to,
        term: 1,
        body: MessageBody::VoteResponse(VoteResponse { granted: false }),
    }
}

#[tokio::test]
async fn an_invalid_config_is_refused_with_its_reason() {
    let network = InProcessNetwork::new();
    let bad = [
        (
            RaftConfig {
                node_id: 0,
                ..RaftConfig::default()
            },
            "node_id",
        ),
        (
            RaftConfig {
                max_pending_proposals: 0,
                ..config(1, &[1, 2])
            },
            "max_pending_proposals",
        ),
        (
            RaftConfig {
                election_timeout_min: Duration::from_millis(300),
                ..config(1, &[1, 2])
            },
            "election timeout range",
        ),
        (
            RaftConfig {
                propose_timeout: Duration::ZERO,
                ..config(1, &[1, 2])
            },
            "propose_timeout",
        ),
    ];
    for (config, reason) in bad {
        let refused = RaftNode::new(
            config,
            Kv::default(),
            Arc::new(MemLogStore::new()),
            network.transport(1),
        );
        match refused {
            Err(error @ RaftError::Config(_)) => {
                assert!(error.to_string().contains(reason), "{error} lacks {reason}");
            }
            other => panic!("expected a config error, got {other:?}"),
        }
    }
    let with_self = RaftConfig {
        peers: vec![ordo::Peer::new(1, "me")],
        ..config(1, &[1])
    };
    assert_eq!(with_self.validate(), Err(ConfigError::SelfInPeers(1)));
}

#[tokio::test]
async fn calls_before_start_and_after_stop_are_refused() {
    let network = InProcessNetwork::new();
    let node = single(&network);
    assert!(matches!(
        node.propose(set("a", 1)).await,
        Err(RaftError::NotStarted)
    ));
    assert!(matches!(
        node.read_index(get("a")).await,
        Err(RaftError::NotStarted)
    ));
    assert!(matches!(
        node.read_stale(get("a")).await,
        Err(RaftError::NotStarted)
    ));
    assert!(matches!(node.status().await, Err(RaftError::NotStarted)));
    assert!(matches!(
        node.receive(message(2, 1)),
        Err(RaftError::NotStarted)
    ));
    node.start().await.unwrap();
    assert!(matches!(node.start().await, Err(RaftError::AlreadyStarted)));
    node.wait_for_leader(PATIENCE).await.unwrap();
    assert_eq!(node.propose(set("a", 1)).await.unwrap(), None);
    node.stop().await;
    assert!(matches!(
        node.propose(set("a", 2)).await,
        Err(RaftError::ShuttingDown)
    ));
    assert!(matches!(
        node.campaign().await,
        Err(RaftError::ShuttingDown)
    ));
    assert!(matches!(node.start().await, Err(RaftError::AlreadyStarted)));

    // Stopping a node that never started makes it refuse to start.
    let never = single(&InProcessNetwork::new());
    never.stop().await;
    assert!(never.is_stopped());
    assert!(matches!(
        never.start().await,
        Err(RaftError::AlreadyStarted)
    ));
    assert!(matches!(
        never.propose(set("a", 1)).await,
        Err(RaftError::ShuttingDown)
    ));
}

#[tokio::test]
async fn a_taken_transport_fails_start() {
    let network = InProcessNetwork::new();
    let first = single(&network);
    first.start().await.unwrap();
    let second = single(&network); // the same id on the same network
    match second.start().await {
        Err(RaftError::Transport(_)) => {}
        other => panic!("expected a transport error, got {other:?}"),
    }
    first.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbound_entry_refuses_misaddressed_and_forged_messages() {
    let mut cluster = Cluster::start(3).await;
    let leader = cluster.leader().await;
    let node = cluster.node(leader).clone();
    let own = node.id();
    let peer = cluster.follower_of(leader);
    for (bad, what) in [
        (message(peer, 99), "for another node"),
        (message(own, own), "from itself"),
        (message(0, own), "from node 0"),
    ] {
        match node.receive(bad) {
            Err(RaftError::InvalidMessage(_)) => {}
            other => panic!("a message {what} must be refused, got {other:?}"),
        }
    }
    // Well addressed but malformed: entries that do not follow each other.
    let forged = Message {
        from: peer,
        to: own,
        term: u64::MAX,
        body: MessageBody::Append(AppendRequest {
            prev_log_index: 0,
            prev_log_term: 0,
            entries: vec![
                LogEntry::command(5, 1, Bytes::from_static(b"junk")),
                LogEntry::command(3, 1, Bytes::from_static(b"junk")),
            ],
            leader_commit: 1_000_000,
        }),
    };
    node.receive(forged).unwrap();
    wait_until_async("the forgery to be counted", || {
        let node = node.clone();
        async move {
            let status = node.status().await.unwrap();
            (status.rejected_messages > 0).then_some(())
        }
    })
    .await;
    // Nothing changed for the group.
    assert_eq!(cluster.leader().await, leader);
    cluster.propose(set("still", 1)).await;
    assert_eq!(
        node.read_index(get("still")).await.unwrap(),
        Answer::Value(Some(1))
    );
    cluster.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storage_failure_stops_the_node_and_tells_everyone() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultInjectingFs::new();
    let store =
        WalLogStore::open_with_fs(dir.path(), WalConfig::default(), Arc::new(fs.handle())).unwrap();
    let network = InProcessNetwork::new();
    let node = RaftNode::new(
        config(1, &[1]),
        Kv::default(),
        Arc::new(store),
        network.transport(1),
    )
    .unwrap();
    let mut events = node.events();
    node.start().await.unwrap();
    node.wait_for_leader(PATIENCE).await.unwrap();
    node.propose(set("a", 1)).await.unwrap();
    fs.inject(Fault::SyncError);
    match node.propose(set("a", 2)).await {
        Err(RaftError::Storage(_)) => {}
        other => panic!("expected a storage error, got {other:?}"),
    }
    wait_until("the node to stop", || node.is_stopped().then_some(())).await;
    assert!(matches!(
        node.propose(set("a", 3)).await,
        Err(RaftError::ShuttingDown)
    ));
    let mut reported = false;
    while let Ok(event) = events.recv().await {
        reported |= matches!(
            event,
            Event::Error {
                error: RaftError::Storage(_)
            }
        );
        if reported {
            break;
        }
    }
    assert!(reported, "the storage error is reported as an event");
    node.stop().await;
}

/// A state machine that breaks its contract on command 13 (too few
/// responses) and panics on command 666.
#[derive(Default)]
struct Fragile(u64);

impl StateMachine for Fragile {
    type Command = u64;
    type Response = u64;
    type Query = ();
    type Answer = u64;

    fn apply(&mut self, entries: Vec<Entry<u64>>) -> Vec<u64> {
        let commands: Vec<u64> = entries.iter().map(|e| e.command).collect();
        assert!(!commands.contains(&666), "the state machine panics");
        if commands.contains(&13) {
            return Vec::new();
        }
        commands
            .into_iter()
            .map(|c| {
                self.0 += c;
                self.0
            })
            .collect()
    }
    fn query(&self, _: ()) -> u64 {
        self.0
    }
    fn snapshot(&self, out: &mut dyn Write) -> std::io::Result<()> {
        out.write_all(&self.0.to_le_bytes())
    }
    fn restore(&mut self, input: &mut dyn Read) -> std::io::Result<()> {
        let mut bytes = [0; 8];
        input.read_exact(&mut bytes)?;
        self.0 = u64::from_le_bytes(bytes);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_state_machine_is_reported_and_a_panicking_one_stops_the_node() {
    let network = InProcessNetwork::new();
    let node = RaftNode::new(
        config(1, &[1]),
        Fragile::default(),
        Arc::new(MemLogStore::new()),
        network.transport(1),
    )
    .unwrap();
    node.start().await.unwrap();
    node.wait_for_leader(PATIENCE).await.unwrap();
    assert_eq!(node.propose(2).await.unwrap(), 2);
    match node.propose(13).await {
        Err(RaftError::StateMachine(reason)) => assert!(reason.contains("no response")),
        other => panic!("expected a state machine error, got {other:?}"),
    }
    assert_eq!(node.propose(1).await.unwrap(), 3, "the node goes on");
    match node.propose(666).await {
        Err(RaftError::StateMachine(reason)) => assert!(reason.contains("panicked")),
        other => panic!("expected a state machine error, got {other:?}"),
    }
    wait_until("the node to stop", || node.is_stopped().then_some(())).await;
    node.stop().await;
}

#[tokio::test]
async fn a_transport_cannot_send_as_another_node() {
    let network = InProcessNetwork::new();
    let transport = network.transport(1);
    let (inbox, _receiver) = ordo::transport::Inbox::bounded(4);
    transport.start(inbox).unwrap();
    transport.send(message(2, 1));
    assert_eq!(network.stats().dropped, 1);
    transport.stop();
}
