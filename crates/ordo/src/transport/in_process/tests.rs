//! The network's faults and counters, each shown to take effect.

use super::*;
use crate::transport::{Inbound, InboxReceiver};
use ordo_core::{MessageBody, VoteResponse};

fn message(from: NodeId, to: NodeId) -> Message {
    Message {
        from,
        to,
        term: 1,
        body: MessageBody::VoteResponse(VoteResponse { granted: true }),
    }
}

fn attach(network: &InProcessNetwork, id: NodeId) -> (InProcessTransport, InboxReceiver) {
    let transport = network.transport(id);
    let (inbox, receiver) = Inbox::bounded(16);
    assert!(transport.start(inbox).is_ok());
    (transport, receiver)
}

#[test]
fn messages_reach_their_receiver_only() {
    let network = InProcessNetwork::new();
    let (one, _r1) = attach(&network, 1);
    let (_two, mut r2) = attach(&network, 2);
    let (_three, mut r3) = attach(&network, 3);
    one.send(message(1, 2));
    assert_eq!(r2.try_recv().ok(), Some(Inbound::Message(message(1, 2))));
    assert!(r3.try_recv().is_err());
    assert_eq!(network.stats().delivered, 1);
}

#[test]
fn a_node_cannot_speak_for_another() {
    let network = InProcessNetwork::new();
    let (one, _r1) = attach(&network, 1);
    let (_two, mut r2) = attach(&network, 2);
    one.send(message(3, 2));
    assert!(r2.try_recv().is_err());
    assert_eq!(network.stats().dropped, 1);
}

#[test]
fn one_way_cuts_and_partitions_drop_until_healed() {
    let network = InProcessNetwork::new();
    let (one, mut r1) = attach(&network, 1);
    let (two, mut r2) = attach(&network, 2);
    network.cut(1, 2);
    one.send(message(1, 2));
    two.send(message(2, 1));
    assert!(r2.try_recv().is_err(), "1 → 2 is cut");
    assert!(r1.try_recv().is_ok(), "2 → 1 still flows");
    network.heal();
    network.partition(&[&[1], &[2]]);
    two.send(message(2, 1));
    assert!(r1.try_recv().is_err());
    network.heal();
    one.send(message(1, 2));
    assert!(r2.try_recv().is_ok());
}

#[test]
fn isolation_and_drop_rate() {
    let network = InProcessNetwork::new();
    let (one, _r1) = attach(&network, 1);
    let (_two, mut r2) = attach(&network, 2);
    network.isolate(1);
    one.send(message(1, 2));
    assert!(r2.try_recv().is_err());
    network.heal();
    network.set_drop_rate(0.5, 7);
    let mut arrived = 0;
    for _ in 0..10 {
        one.send(message(1, 2));
    }
    while r2.try_recv().is_ok() {
        arrived += 1;
    }
    assert!((1..10).contains(&arrived), "{arrived} of 10 arrived");
}

#[test]
fn a_message_to_a_stopped_node_reports_it_unreachable() {
    let network = InProcessNetwork::new();
    let (one, mut r1) = attach(&network, 1);
    let (two, _r2) = attach(&network, 2);
    two.stop();
    one.send(message(1, 2));
    assert_eq!(r1.try_recv().ok(), Some(Inbound::Unreachable(2)));
}

#[test]
fn a_node_id_is_attached_once() {
    let network = InProcessNetwork::new();
    let (_one, _r1) = attach(&network, 1);
    let (inbox, _receiver) = Inbox::bounded(1);
    assert!(network.transport(1).start(inbox.clone()).is_err());
    assert!(network.transport(0).start(inbox).is_err());
}

#[tokio::test]
async fn delayed_messages_arrive_later() {
    let network = InProcessNetwork::new();
    let (one, _r1) = attach(&network, 1);
    let (_two, mut r2) = attach(&network, 2);
    network.set_link_delay(1, 2, Duration::from_millis(20));
    one.send(message(1, 2));
    assert!(r2.try_recv().is_err());
    let arrived = tokio::time::timeout(Duration::from_secs(5), r2.recv()).await;
    assert_eq!(
        arrived.ok().flatten(),
        Some(Inbound::Message(message(1, 2)))
    );
}

fn numbered(from: NodeId, to: NodeId, number: u64) -> Message {
    Message {
        term: number,
        ..message(from, to)
    }
}

fn drain(receiver: &mut InboxReceiver) -> Vec<u64> {
    let mut terms = Vec::new();
    while let Ok(Inbound::Message(message)) = receiver.try_recv() {
        terms.push(message.term);
    }
    terms
}

#[test]
fn duplicates_arrive_twice_and_are_counted() {
    let network = InProcessNetwork::new();
    let (one, _r1) = attach(&network, 1);
    let (_two, mut r2) = attach(&network, 2);
    network.set_link_faults(
        1,
        2,
        LinkFaults {
            duplicate_probability: 1.0,
            ..LinkFaults::default()
        },
    );
    one.send(numbered(1, 2, 5));
    assert_eq!(drain(&mut r2), vec![5, 5]);
    let link = network.traffic().link(1, 2);
    assert_eq!((link.sent, link.duplicated, link.delivered), (1, 1, 2));
}

#[test]
fn a_link_drops_only_its_own_messages() {
    let network = InProcessNetwork::new();
    let (one, mut r1) = attach(&network, 1);
    let (two, mut r2) = attach(&network, 2);
    network.set_link_faults(1, 2, LinkFaults::dropping(1.0));
    one.send(message(1, 2));
    two.send(message(2, 1));
    assert!(r2.try_recv().is_err(), "1 → 2 loses everything");
    assert!(r1.try_recv().is_ok(), "2 → 1 is untouched");
    let traffic = network.traffic();
    assert_eq!(traffic.link(1, 2).dropped, 1);
    assert_eq!(traffic.link(2, 1).delivered, 1);
}

#[test]
fn heal_link_heals_one_direction_only() {
    let network = InProcessNetwork::new();
    let (one, mut r1) = attach(&network, 1);
    let (two, mut r2) = attach(&network, 2);
    network.partition(&[&[1], &[2]]);
    network.heal_link(1, 2);
    one.send(message(1, 2));
    two.send(message(2, 1));
    assert!(r2.try_recv().is_ok(), "1 → 2 healed");
    assert!(r1.try_recv().is_err(), "2 → 1 still cut");
}

#[test]
fn rejoin_ends_isolation_and_the_nodes_cuts() {
    let network = InProcessNetwork::new();
    let (one, _r1) = attach(&network, 1);
    let (_two, mut r2) = attach(&network, 2);
    let (three, mut r3) = attach(&network, 3);
    network.isolate(1);
    network.cut(1, 2);
    network.cut(3, 2);
    network.rejoin(1);
    one.send(message(1, 2));
    three.send(message(3, 2));
    assert!(r2.try_recv().is_ok(), "1 → 2 healed with 1");
    assert!(r2.try_recv().is_err(), "3 → 2 is not about 1");
    assert!(r3.try_recv().is_err());
}

#[test]
fn counters_split_by_link_and_kind_and_count_wire_bytes() {
    let network = InProcessNetwork::new();
    let (one, _r1) = attach(&network, 1);
    let (_two, _r2) = attach(&network, 2);
    let (_three, _r3) = attach(&network, 3);
    one.send(message(1, 2));
    one.send(message(1, 2));
    one.send(Message {
        body: MessageBody::TimeoutNow,
        ..message(1, 3)
    });
    let traffic = network.traffic();
    assert_eq!(traffic.total.sent, 3);
    assert_eq!(traffic.link(1, 2).sent, 2);
    assert_eq!(traffic.link(1, 3).delivered, 1);
    assert_eq!(traffic.link(2, 1), Traffic::default());
    assert_eq!(traffic.kind(MessageKind::VoteResponse).delivered, 2);
    assert_eq!(traffic.kind(MessageKind::TimeoutNow).sent, 1);
    let vote_bytes = codec::encoded_len(&message(1, 2)) as u64;
    assert!(vote_bytes > 0);
    assert_eq!(traffic.link(1, 2).sent_bytes, 2 * vote_bytes);
    network.reset_traffic();
    assert_eq!(network.traffic(), TrafficStats::default());
}

#[test]
fn the_same_seed_loses_the_same_messages() {
    let arrivals = |seed| {
        let network = InProcessNetwork::new();
        let (one, _r1) = attach(&network, 1);
        let (_two, mut r2) = attach(&network, 2);
        network.set_faults(LinkFaults::dropping(0.5));
        network.set_seed(seed);
        for number in 0..16 {
            one.send(numbered(1, 2, number));
        }
        drain(&mut r2)
    };
    assert_eq!(arrivals(3), arrivals(3));
    assert_ne!(arrivals(3), arrivals(4));
}

#[tokio::test]
async fn jitter_reorders_a_link() {
    let network = InProcessNetwork::new();
    let (one, _r1) = attach(&network, 1);
    let (_two, mut r2) = attach(&network, 2);
    network.set_seed(9);
    network.set_link_faults(
        1,
        2,
        LinkFaults {
            delay: Duration::from_millis(1),
            delay_jitter: Duration::from_millis(40),
            ..LinkFaults::default()
        },
    );
    for number in 0..12 {
        one.send(numbered(1, 2, number));
    }
    let mut arrived = Vec::new();
    while arrived.len() < 12 {
        match tokio::time::timeout(Duration::from_secs(5), r2.recv()).await {
            Ok(Some(Inbound::Message(message))) => arrived.push(message.term),
            other => panic!("expected 12 messages, got {arrived:?} then {other:?}"),
        }
    }
    let mut sorted = arrived.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..12).collect::<Vec<_>>(), "nothing lost");
    assert_ne!(arrived, sorted, "some message overtook another");
}

#[test]
fn a_network_without_counters_delivers_and_counts_nothing() {
    let network = InProcessNetwork::without_counters();
    let (one, _r1) = attach(&network, 1);
    let (_two, mut r2) = attach(&network, 2);
    one.send(message(1, 2));
    assert!(r2.try_recv().is_ok());
    assert_eq!(network.traffic(), TrafficStats::default());
    assert_eq!(
        InProcessNetwork::default().traffic(),
        TrafficStats::default()
    );
}
