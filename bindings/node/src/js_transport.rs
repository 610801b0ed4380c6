//! A transport written in JavaScript: `setTransport({ send(peerId, message) })`.
//!
//! Outgoing messages are handed to the JS `send` as plain objects (Ordo's
//! messages in JSON, serde's shape: `{from, to, term, body: {Kind: {...}}}`),
//! addressed by the peer's name. Incoming ones come back through
//! `node.handleMessage(fromPeerId, message)`. Ids are at most 53 bits
//! (`node_names.rs`), so the objects survive `JSON.stringify`/`parse`.
//!
//! Invariant (Ordo's transport contract): a message is delivered only if it
//! is addressed to this node and its `from` is the peer the JS transport
//! says it came from. Delivery is best effort, as for every Ordo transport:
//! a message the JS side drops is retransmitted by Raft.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use napi::Status;
use napi::bindgen_prelude::FnArgs;
use napi::threadsafe_function::{
    ThreadsafeFunction, ThreadsafeFunctionCallMode, UnknownReturnValue,
};
use ordo::transport::{Inbox, Message, Transport, TransportError};
use ordo_core::NodeId;

use crate::error::BindingError;
use crate::node_names::{NodeNames, node_id_of};

/// `send(peerName: string, messageJson: string)` on the JS thread.
pub(crate) type SendFn = ThreadsafeFunction<
    FnArgs<(String, String)>,
    UnknownReturnValue,
    FnArgs<(String, String)>,
    Status,
    false,
>;

/// The JS transport's Rust half: hands messages out, takes them in. Cheap
/// to clone: the node holds one, the handle another (for `handleMessage`).
#[derive(Clone)]
pub(crate) struct JsTransport {
    own_id: NodeId,
    send: Arc<SendFn>,
    names: NodeNames,
    /// Set by `start`, cleared by `stop`: where arriving messages go.
    inbox: Arc<Mutex<Option<Inbox>>>,
}

impl JsTransport {
    pub(crate) fn new(own_id: NodeId, send: SendFn, names: NodeNames) -> Self {
        JsTransport {
            own_id,
            send: Arc::new(send),
            names,
            inbox: Arc::new(Mutex::new(None)),
        }
    }

    /// Delivers a message that the JS transport received from `from_name`.
    ///
    /// # Errors
    /// [`BindingError::InvalidMessage`] if it is not an Ordo message for this
    /// node from `from_name`; [`BindingError::NotStarted`] before `start`.
    pub(crate) fn receive(&self, from_name: &str, json: &str) -> Result<(), BindingError> {
        let message: Message = serde_json::from_str(json)
            .map_err(|error| BindingError::InvalidMessage(error.to_string()))?;
        if message.to != self.own_id {
            return Err(BindingError::InvalidMessage(format!(
                "addressed to node {}, not this node",
                message.to
            )));
        }
        if message.from != node_id_of(from_name) {
            return Err(BindingError::InvalidMessage(format!(
                "says it is from node {}, not {from_name:?}",
                message.from
            )));
        }
        match self.lock_inbox().as_ref() {
            // A full inbox drops the message: Raft retransmits it.
            Some(inbox) => {
                inbox.deliver(message);
                Ok(())
            }
            None => Err(BindingError::NotStarted),
        }
    }

    fn lock_inbox(&self) -> MutexGuard<'_, Option<Inbox>> {
        self.inbox.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Transport for JsTransport {
    fn start(&self, inbox: Inbox) -> Result<(), TransportError> {
        *self.lock_inbox() = Some(inbox);
        Ok(())
    }

    fn send(&self, message: Message) {
        let peer = self.names.name_of(message.to);
        match serde_json::to_string(&message) {
            Ok(json) => {
                // NonBlocking: the transport contract forbids waiting here.
                self.send.call(
                    FnArgs::from((peer, json)),
                    ThreadsafeFunctionCallMode::NonBlocking,
                );
            }
            Err(error) => tracing::warn!(%error, "a message could not be encoded as JSON"),
        }
    }

    fn stop(&self) {
        *self.lock_inbox() = None;
    }
}
