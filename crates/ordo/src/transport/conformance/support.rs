//! What the checks (and the transport tests) need around a transport: a
//! started node with its inbox, messages that name their round, and waits
//! that give up after [`PATIENCE`] with a message saying what did not happen.

use std::time::Duration;

use bytes::Bytes;
use ordo_core::{AppendRequest, Entry, Heartbeat, Message, MessageBody, NodeId};
use tokio::time::{Instant, sleep, timeout};

use crate::transport::{Inbound, Inbox, InboxReceiver, Transport};

/// Longest any single wait of a check may take.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Heartbeat rounds from this value up are probes of [`assert_link`], which
/// checks ignore when they count their own messages.
pub const PROBE_ROUND_MIN: u64 = 1 << 40;

/// A started transport and what its node received.
#[derive(Debug)]
pub struct Node<T> {
    /// The node's id.
    pub id: NodeId,
    /// Its transport (a clone: the caller may keep its own).
    pub transport: T,
    /// What arrived for the node.
    pub inbox: InboxReceiver,
}

impl<T: Transport> Node<T> {
    /// Starts `transport` as node `id`, with an inbox of `capacity` messages.
    ///
    /// # Panics
    /// If the transport does not start.
    pub fn start(id: NodeId, transport: T, capacity: usize) -> Node<T> {
        let (inbox, receiver) = Inbox::bounded(capacity);
        if let Err(error) = transport.start(inbox) {
            panic!("node {id} did not start: {error}");
        }
        Node {
            id,
            transport,
            inbox: receiver,
        }
    }

    /// The node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The next message, skipping unreachability reports.
    ///
    /// # Panics
    /// If nothing arrives within [`PATIENCE`].
    pub async fn next_message(&mut self) -> Message {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match timeout(deadline - Instant::now(), self.inbox.recv()).await {
                Ok(Some(Inbound::Message(message))) => return message,
                Ok(Some(Inbound::Unreachable(_))) => continue,
                Ok(None) => panic!("node {} inbox closed", self.id),
                Err(_) => panic!("node {} received nothing within {PATIENCE:?}", self.id),
            }
        }
    }

    /// The next message that is not a probe of [`assert_link`].
    pub async fn next_non_probe(&mut self) -> Message {
        loop {
            let message = self.next_message().await;
            if !is_probe(&message) {
                return message;
            }
        }
    }

    /// Drops everything received so far.
    pub fn drain(&mut self) {
        while self.inbox.try_recv().is_ok() {}
    }

    /// Asserts that no message from `peer` is waiting in the inbox.
    ///
    /// # Panics
    /// If one is.
    pub fn assert_nothing_from(&mut self, peer: NodeId) {
        while let Ok(inbound) = self.inbox.try_recv() {
            assert!(
                !matches!(&inbound, Inbound::Message(m) if m.from == peer),
                "node {} received from node {peer}: {inbound:?}",
                self.id
            );
        }
    }
}

/// A heartbeat from `from` to `to` whose round names it.
pub fn heartbeat(from: NodeId, to: NodeId, round: u64) -> Message {
    Message {
        from,
        to,
        term: 1,
        body: MessageBody::Heartbeat(Heartbeat { commit: 0, round }),
    }
}

/// An append from `from` to `to` carrying one entry per payload; the
/// previous index names the round.
pub fn append(from: NodeId, to: NodeId, round: u64, payloads: Vec<Bytes>) -> Message {
    let entries = payloads
        .into_iter()
        .zip(1..)
        .map(|(payload, offset)| Entry::command(round + offset, 1, payload))
        .collect();
    Message {
        from,
        to,
        term: 1,
        body: MessageBody::Append(AppendRequest {
            prev_log_index: round,
            prev_log_term: 1,
            entries,
            leader_commit: 0,
        }),
    }
}

/// True for the heartbeats [`assert_link`] sends.
pub fn is_probe(message: &Message) -> bool {
    matches!(&message.body, MessageBody::Heartbeat(beat) if beat.round >= PROBE_ROUND_MIN)
}

/// Sends probes from `sender` (node `from`) to `receiver` until one arrives:
/// proves the link works (the first few may be lost while a connection is
/// made). Other messages that arrive meanwhile are dropped.
///
/// # Panics
/// If no probe arrives within [`PATIENCE`].
pub async fn assert_link<T: Transport>(from: NodeId, sender: &T, receiver: &mut Node<T>) {
    let to = receiver.id;
    let deadline = Instant::now() + PATIENCE;
    let probe = PROBE_ROUND_MIN + from * 1000 + to;
    loop {
        sender.send(heartbeat(from, to, probe));
        let wait = timeout(Duration::from_millis(50), async {
            loop {
                match receiver.inbox.recv().await {
                    Some(Inbound::Message(message)) if message == heartbeat(from, to, probe) => {
                        return;
                    }
                    Some(_) => continue,
                    None => panic!("node {to} inbox closed"),
                }
            }
        });
        if wait.await.is_ok() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no message from node {from} reached node {to} within {PATIENCE:?}"
        );
    }
}

/// Waits until `condition` holds.
///
/// # Panics
/// If it does not within [`PATIENCE`].
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        sleep(Duration::from_millis(10)).await;
    }
}
