//! Forwarding a follower's writes to the leader.
//!
//! etcd clients never follow redirects: a write sent to a follower must be
//! carried out for them. The follower calls the same RPC on the leader's
//! client URL (the one `RaftError::NotLeader` names) over gRPC and answers
//! the client with the leader's answer, header included.
//!
//! - A forwarded call carries [`FORWARDED`]; a node that gets one and does
//!   not lead either answers "etcdserver: not leader" instead of
//!   forwarding again, so a stale view of leadership cannot make a loop.
//! - Channels are kept per leader URL (at most [`MAX_CHANNELS`]; past it
//!   the table is emptied, which only costs a reconnect).
//! - A forwarded call carries its caller's auth token (the `token`
//!   metadata, [`Onward`]): the leader checks it again, against the same
//!   replicated signing key, so forwarding never widens what a caller may
//!   do; [`FORWARDED`] itself grants nothing.
//! - Only a cleartext (`http://`) leader is forwarded to; behind TLS the
//!   follower answers "etcdserver: not leader" and the client retries on
//!   another endpoint (etcd clients do, over their endpoint list).

use std::collections::HashMap;
use std::sync::Mutex;

use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};

use crate::server::etcd::auth_gate::TOKEN_METADATA;
use crate::server::etcd::failure::NOT_LEADER;

/// The metadata key marking a call one node forwarded to another.
pub(crate) const FORWARDED: &str = "ordo-forwarded";

/// Most leader channels kept.
pub(crate) const MAX_CHANNELS: usize = 16;

/// Open channels to leaders, by client URL.
#[derive(Debug, Default)]
pub(crate) struct Forwarder {
    channels: Mutex<HashMap<String, Channel>>,
}

impl Forwarder {
    /// A channel to the leader at `url` (connected on first use).
    pub(crate) fn channel(&self, url: &str) -> Result<Channel, Status> {
        if !url.starts_with("http://") {
            return Err(Status::unavailable(NOT_LEADER));
        }
        let mut channels = self
            .channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(channel) = channels.get(url) {
            return Ok(channel.clone());
        }
        let endpoint = Endpoint::from_shared(url.to_owned())
            .map_err(|_| Status::unavailable(NOT_LEADER))?
            .tcp_nodelay(true);
        let channel = endpoint.connect_lazy();
        if channels.len() >= MAX_CHANNELS {
            channels.clear();
        }
        channels.insert(url.to_owned(), channel.clone());
        Ok(channel)
    }
}

/// `message` as a call marked forwarded.
pub(crate) fn forwarded<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert(FORWARDED, tonic::metadata::MetadataValue::from_static("1"));
    request
}

/// Whether `request` was forwarded by another node.
pub(crate) fn was_forwarded<T>(request: &Request<T>) -> bool {
    request.metadata().contains_key(FORWARDED)
}

/// How a call goes on to the leader: whether it may (it was not forwarded
/// already), and the caller's token, which the forwarded call carries.
#[derive(Clone, Debug)]
pub(crate) struct Onward {
    allowed: bool,
    token: Option<tonic::metadata::AsciiMetadataValue>,
}

impl Onward {
    /// What `request` may do onward (read before its message is taken).
    pub(crate) fn of<T>(request: &Request<T>) -> Self {
        Onward {
            allowed: !was_forwarded(request),
            token: request.metadata().get(TOKEN_METADATA).cloned(),
        }
    }

    /// Whether this call may be forwarded.
    pub(crate) fn allowed(&self) -> bool {
        self.allowed
    }

    /// `message` as the forwarded call, with the caller's token.
    pub(crate) fn call<T>(&self, message: T) -> Request<T> {
        let mut request = forwarded(message);
        if let Some(token) = &self.token {
            request.metadata_mut().insert(TOKEN_METADATA, token.clone());
        }
        request
    }
}
