//! A transport wrapper that records snapshot traffic and can hold back
//! snapshot chunks, or damage one in flight: tests assert on the chunk offsets actually sent and
//! acknowledged, never on timing.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use ordo::NodeId;
use ordo::transport::{InProcessTransport, Inbox, Transport, TransportError};
use ordo_core::{Message, MessageBody};

/// One snapshot message, as it left its sender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sent {
    /// A chunk from the leader (sent unless `dropped`).
    Chunk {
        to: NodeId,
        snapshot_index: u64,
        offset: u64,
        len: u64,
        done: bool,
        dropped: bool,
    },
    /// A follower's answer.
    Ack {
        from: NodeId,
        snapshot_index: u64,
        next_offset: u64,
        installed: bool,
    },
}

#[derive(Debug, Default)]
struct State {
    log: Vec<Sent>,
    /// Chunks to this node at or past this offset are dropped.
    gate: Option<(NodeId, u64)>,
    /// The next last chunk to this node has a byte of its data flipped.
    damage_last_chunk: Option<NodeId>,
}

/// What every [`RecordingTransport`] of a test shares.
#[derive(Clone, Debug, Default)]
pub struct Recorder {
    state: Arc<Mutex<State>>,
}

impl Recorder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Drops every chunk to `to` at or past `offset` until [`Recorder::open`].
    pub fn gate(&self, to: NodeId, offset: u64) {
        self.state.lock().unwrap().gate = Some((to, offset));
    }

    /// Flips a byte of the next last chunk to `to` (once), keeping the
    /// content the chunk announces.
    pub fn damage_last_chunk(&self, to: NodeId) {
        self.state.lock().unwrap().damage_last_chunk = Some(to);
    }

    pub fn open(&self) {
        self.state.lock().unwrap().gate = None;
    }

    /// Everything recorded so far.
    pub fn log(&self) -> Vec<Sent> {
        self.state.lock().unwrap().log.clone()
    }

    /// How many messages were recorded so far (a mark for [`Recorder::since`]).
    pub fn mark(&self) -> usize {
        self.state.lock().unwrap().log.len()
    }

    /// What was recorded after `mark`.
    pub fn since(&self, mark: usize) -> Vec<Sent> {
        self.state.lock().unwrap().log[mark..].to_vec()
    }

    /// The highest offset `from` acknowledged so far.
    pub fn acknowledged(&self, from: NodeId) -> u64 {
        self.log()
            .iter()
            .filter_map(|sent| match sent {
                Sent::Ack {
                    from: who,
                    next_offset,
                    ..
                } if *who == from => Some(*next_offset),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    }

    /// Records `message`; returns what to send, if anything.
    fn pass(&self, mut message: Message) -> Option<Message> {
        let damage = {
            let mut state = self.state.lock().unwrap();
            let damage = matches!(&message.body, MessageBody::InstallSnapshot(r)
                if r.done && !r.data.is_empty() && state.damage_last_chunk == Some(message.to));
            if damage {
                state.damage_last_chunk = None;
            }
            damage
        };
        if damage && let MessageBody::InstallSnapshot(request) = &mut message.body {
            let mut data = request.data.to_vec();
            data[0] ^= 0x01;
            request.data = data.into();
        }
        self.record(&message).then_some(message)
    }

    fn record(&self, message: &Message) -> bool {
        let mut state = self.state.lock().unwrap();
        match &message.body {
            MessageBody::InstallSnapshot(request) => {
                let dropped = state
                    .gate
                    .is_some_and(|(to, offset)| to == message.to && request.offset >= offset);
                state.log.push(Sent::Chunk {
                    to: message.to,
                    snapshot_index: request.meta.index,
                    offset: request.offset,
                    len: request.data.len() as u64,
                    done: request.done,
                    dropped,
                });
                !dropped
            }
            MessageBody::InstallSnapshotResponse(response) => {
                state.log.push(Sent::Ack {
                    from: message.from,
                    snapshot_index: response.snapshot_index,
                    next_offset: response.next_offset,
                    installed: response.installed,
                });
                true
            }
            _ => true,
        }
    }
}

/// An in-process transport whose snapshot traffic a [`Recorder`] sees.
#[derive(Debug)]
pub struct RecordingTransport {
    inner: InProcessTransport,
    recorder: Recorder,
}

impl RecordingTransport {
    pub fn new(inner: InProcessTransport, recorder: Recorder) -> Self {
        RecordingTransport { inner, recorder }
    }
}

impl Transport for RecordingTransport {
    fn start(&self, inbox: Inbox) -> Result<(), TransportError> {
        self.inner.start(inbox)
    }

    fn send(&self, message: Message) {
        if let Some(message) = self.recorder.pass(message) {
            self.inner.send(message);
        }
    }

    fn stop(&self) {
        self.inner.stop();
    }
}
