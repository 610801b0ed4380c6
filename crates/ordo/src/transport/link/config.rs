//! [`NetworkConfig`]: identity, peers and every limit of the network
//! transports (TCP, and gRPC behind the `grpc` feature), with units in the
//! names and safe defaults.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use ordo_core::NodeId;
use thiserror::Error;

use crate::transport::ClusterId;
use crate::transport::codec::DecodeLimits;
use crate::transport::codec::handshake::MAX_HANDSHAKE_BYTES;
use crate::transport::tls::PeerTls;

/// Configuration of a network transport:
/// [`TcpTransport`](crate::transport::tcp::TcpTransport), or the gRPC
/// transport (feature `grpc`), which reads the same fields (where a field
/// means something different over gRPC, its doc says so). Build it with
/// [`NetworkConfig::new`] and struct update syntax; the transport validates it.
///
/// ```
/// use ordo::transport::NetworkConfig;
/// use ordo::transport::ClusterId;
/// use std::time::Duration;
///
/// let config = NetworkConfig {
///     send_queue_messages: 4096,
///     reconnect_backoff_max: Duration::from_secs(1),
///     ..NetworkConfig::new(ClusterId::new("prod")?, 1, "0.0.0.0:7001".parse()?)
/// }
/// .with_peer(2, "node2.internal:7001")
/// .with_peer(3, "node3.internal:7001");
/// assert!(config.validate().is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkConfig {
    /// The cluster this node belongs to; peers of other clusters are refused.
    pub cluster_id: ClusterId,
    /// This node's id. Must not be 0.
    pub node_id: NodeId,
    /// Where to listen. Port 0 picks a free port (the transport's
    /// `local_addr` tells which).
    pub listen_addr: SocketAddr,
    /// The peers at start, by id: `host:port`, resolved again on every
    /// connection attempt (so a peer may move if its name follows it).
    pub peers: BTreeMap<NodeId, String>,
    /// Largest frame sent or accepted, in bytes (over gRPC: largest encoded
    /// message, and a batch of messages is at most this plus 64 KiB). A peer
    /// sending a larger one is disconnected; a message that would need one
    /// is dropped (and logged). Must exceed the core's
    /// `max_bytes_per_message` plus encoding overhead.
    pub max_frame_bytes: usize,
    /// Most entries, request ids and membership ids in one received message
    /// (see [`DecodeLimits`]).
    pub max_items_per_message: usize,
    /// Messages queued per peer. When full, [`send`](crate::transport::Transport::send)
    /// drops the message (Raft retransmits) rather than growing the queue.
    pub send_queue_messages: usize,
    /// Queued messages are coalesced into one write until it holds this many
    /// bytes.
    pub write_batch_bytes: usize,
    /// Longest wait for a TCP connection to a peer to open.
    pub connect_timeout: Duration,
    /// Longest wait for the other side's handshake (with peer TLS, the TLS
    /// handshake included), both when dialing and when accepting. A caller that does not complete its handshake in time is
    /// disconnected (a slow-loris defence; over gRPC, a connection that has
    /// not opened an authenticated stream in time).
    pub handshake_timeout: Duration,
    /// Longest a write to a peer (over gRPC: handing a batch to the HTTP/2
    /// stream) may block before the connection is declared dead.
    pub write_timeout: Duration,
    /// An idle outbound connection sends a keepalive frame this often (over
    /// gRPC: an HTTP/2 ping, from both ends).
    pub keepalive_interval: Duration,
    /// An inbound connection that receives nothing, not even a keepalive, for
    /// this long is closed (over gRPC: a connection whose pings go unanswered
    /// this long). Must exceed `keepalive_interval`.
    pub idle_timeout: Duration,
    /// First delay before reconnecting to a peer; each failure doubles it.
    pub reconnect_backoff_min: Duration,
    /// Largest delay between reconnection attempts. Each delay is drawn
    /// uniformly from its upper half, so peers that failed together do not
    /// retry in lock step.
    pub reconnect_backoff_max: Duration,
    /// Most inbound connections that have not finished their handshake at
    /// once; further ones are closed at once.
    pub max_pending_handshakes: usize,
    /// Mutual TLS with node identity on every connection (see
    /// [`tls`](crate::transport::tls)); `None` speaks plaintext.
    pub peer_tls: Option<PeerTls>,
}

/// Default [`NetworkConfig::max_frame_bytes`]: 64 MiB.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 64 * 1024 * 1024;

impl NetworkConfig {
    /// A configuration with no peers and the default limits: 64 MiB frames,
    /// 1024 queued messages per peer, 1 MiB write batches, 1 s connect and
    /// 2 s handshake timeouts, 5 s write timeout, keepalives every second and
    /// a 10 s idle timeout, back-off from 20 ms to 2 s, and 64 pending
    /// handshakes.
    pub fn new(cluster_id: ClusterId, node_id: NodeId, listen_addr: SocketAddr) -> Self {
        NetworkConfig {
            cluster_id,
            node_id,
            listen_addr,
            peers: BTreeMap::new(),
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            max_items_per_message: DecodeLimits::default().max_items_per_message,
            send_queue_messages: 1024,
            write_batch_bytes: 1024 * 1024,
            connect_timeout: Duration::from_secs(1),
            handshake_timeout: Duration::from_secs(2),
            write_timeout: Duration::from_secs(5),
            keepalive_interval: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(10),
            reconnect_backoff_min: Duration::from_millis(20),
            reconnect_backoff_max: Duration::from_secs(2),
            max_pending_handshakes: 64,
            peer_tls: None,
        }
    }

    /// Adds (or replaces) a peer.
    pub fn with_peer(mut self, id: NodeId, address: impl Into<String>) -> Self {
        self.peers.insert(id, address.into());
        self
    }

    /// The decoding limits for received messages.
    pub fn decode_limits(&self) -> DecodeLimits {
        DecodeLimits {
            max_items_per_message: self.max_items_per_message,
        }
    }

    /// Checks every rule the transport relies on.
    ///
    /// # Errors
    /// The first [`NetworkConfigError`] found.
    pub fn validate(&self) -> Result<(), NetworkConfigError> {
        if self.node_id == 0 {
            return Err(NetworkConfigError::ZeroNodeId);
        }
        let counts = [
            ("max_items_per_message", self.max_items_per_message),
            ("send_queue_messages", self.send_queue_messages),
            ("write_batch_bytes", self.write_batch_bytes),
            ("max_pending_handshakes", self.max_pending_handshakes),
        ];
        if let Some(&(name, _)) = counts.iter().find(|(_, value)| *value == 0) {
            return Err(NetworkConfigError::ZeroLimit { name });
        }
        let durations = [
            ("connect_timeout", self.connect_timeout),
            ("handshake_timeout", self.handshake_timeout),
            ("write_timeout", self.write_timeout),
            ("keepalive_interval", self.keepalive_interval),
            ("reconnect_backoff_min", self.reconnect_backoff_min),
        ];
        if let Some(&(name, _)) = durations.iter().find(|(_, value)| value.is_zero()) {
            return Err(NetworkConfigError::ZeroLimit { name });
        }
        if !(MAX_HANDSHAKE_BYTES..=u32::MAX as usize).contains(&self.max_frame_bytes) {
            return Err(NetworkConfigError::FrameLimitOutOfRange {
                max_frame_bytes: self.max_frame_bytes,
            });
        }
        if self.idle_timeout <= self.keepalive_interval {
            return Err(NetworkConfigError::IdleTimeoutNotAboveKeepalive {
                idle_timeout: self.idle_timeout,
                keepalive_interval: self.keepalive_interval,
            });
        }
        if self.reconnect_backoff_max < self.reconnect_backoff_min {
            return Err(NetworkConfigError::BackoffRange {
                min: self.reconnect_backoff_min,
                max: self.reconnect_backoff_max,
            });
        }
        self.peers
            .iter()
            .try_for_each(|(&id, address)| check_peer(self.node_id, id, address))
    }
}

/// Checks one peer entry against this node's id.
pub(crate) fn check_peer(
    node_id: NodeId,
    id: NodeId,
    address: &str,
) -> Result<(), NetworkConfigError> {
    if id == 0 || id == node_id {
        return Err(NetworkConfigError::InvalidPeerId { id });
    }
    let port_ok = address
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if !port_ok {
        return Err(NetworkConfigError::InvalidPeerAddress {
            id,
            address: address.to_owned(),
        });
    }
    Ok(())
}

/// Why a [`NetworkConfig`] (or a peer added later) is unusable.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum NetworkConfigError {
    /// `node_id` is 0.
    #[error("node_id must not be 0")]
    ZeroNodeId,
    /// A limit or duration that must be positive is zero.
    #[error("{name} must not be zero")]
    ZeroLimit {
        /// The field.
        name: &'static str,
    },
    /// `max_frame_bytes` is below the handshake size or above what the 4-byte
    /// header can express.
    #[error(
        "max_frame_bytes must be between {MAX_HANDSHAKE_BYTES} and {} bytes, not {max_frame_bytes}",
        u32::MAX
    )]
    FrameLimitOutOfRange {
        /// The value given.
        max_frame_bytes: usize,
    },
    /// Keepalives would not arrive before the idle timeout fires.
    #[error(
        "idle_timeout ({idle_timeout:?}) must exceed keepalive_interval ({keepalive_interval:?})"
    )]
    IdleTimeoutNotAboveKeepalive {
        /// The idle timeout.
        idle_timeout: Duration,
        /// The keepalive interval.
        keepalive_interval: Duration,
    },
    /// The back-off range is empty.
    #[error("reconnect_backoff_max ({max:?}) is below reconnect_backoff_min ({min:?})")]
    BackoffRange {
        /// The minimum.
        min: Duration,
        /// The maximum.
        max: Duration,
    },
    /// A peer id is 0 or this node's own id.
    #[error("peer id {id} is invalid (0, or this node's own id)")]
    InvalidPeerId {
        /// The id.
        id: NodeId,
    },
    /// A peer address is not `host:port`.
    #[error("peer {id}'s address {address:?} is not host:port")]
    InvalidPeerAddress {
        /// The peer.
        id: NodeId,
        /// The address given.
        address: String,
    },
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn config() -> NetworkConfig {
        NetworkConfig::new(
            ClusterId::new("c").unwrap(),
            1,
            "127.0.0.1:0".parse().unwrap(),
        )
    }

    #[test]
    fn the_defaults_are_valid() {
        assert_eq!(config().with_peer(2, "localhost:1").validate(), Ok(()));
    }

    #[test]
    fn each_broken_rule_is_named() {
        let cases = [
            (
                NetworkConfig {
                    node_id: 0,
                    ..config()
                },
                NetworkConfigError::ZeroNodeId,
            ),
            (
                NetworkConfig {
                    send_queue_messages: 0,
                    ..config()
                },
                NetworkConfigError::ZeroLimit {
                    name: "send_queue_messages",
                },
            ),
            (
                NetworkConfig {
                    handshake_timeout: Duration::ZERO,
                    ..config()
                },
                NetworkConfigError::ZeroLimit {
                    name: "handshake_timeout",
                },
            ),
            (
                NetworkConfig {
                    max_frame_bytes: 10,
                    ..config()
                },
                NetworkConfigError::FrameLimitOutOfRange {
                    max_frame_bytes: 10,
                },
            ),
            (
                NetworkConfig {
                    idle_timeout: Duration::from_secs(1),
                    ..config()
                },
                NetworkConfigError::IdleTimeoutNotAboveKeepalive {
                    idle_timeout: Duration::from_secs(1),
                    keepalive_interval: Duration::from_secs(1),
                },
            ),
            (
                NetworkConfig {
                    reconnect_backoff_max: Duration::from_millis(1),
                    ..config()
                },
                NetworkConfigError::BackoffRange {
                    min: Duration::from_millis(20),
                    max: Duration::from_millis(1),
                },
            ),
            (
                config().with_peer(1, "localhost:1"),
                NetworkConfigError::InvalidPeerId { id: 1 },
            ),
            (
                config().with_peer(2, "localhost"),
                NetworkConfigError::InvalidPeerAddress {
                    id: 2,
                    address: "localhost".into(),
                },
            ),
        ];
        for (config, expected) in cases {
            assert_eq!(config.validate(), Err(expected));
        }
    }
}
