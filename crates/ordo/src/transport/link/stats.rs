//! Counters of what a network transport did, for tests, metrics and
//! operators.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($( $(#[$doc:meta])* $name:ident, )*) => {
        /// A snapshot of a network transport's counters, each counting since
        /// the transport was created.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct TransportStats {
            $( $(#[$doc])* pub $name: u64, )*
        }

        /// The live counters behind [`TransportStats`].
        #[derive(Debug, Default)]
        pub struct Counters {
            $( pub(crate) $name: AtomicU64, )*
        }

        impl Counters {
            /// Reads every counter.
            pub(crate) fn snapshot(&self) -> TransportStats {
                TransportStats {
                    $( $name: self.$name.load(Ordering::Relaxed), )*
                }
            }
        }
    };
}

counters! {
    /// Messages written to peers.
    messages_sent,
    /// Writes (or gRPC stream items) that carried them: the ratio shows how
    /// well messages are coalesced.
    batches_sent,
    /// Messages dropped because the peer's send queue was full.
    dropped_queue_full,
    /// Messages dropped because they were addressed to no known peer.
    dropped_unknown_peer,
    /// Messages discarded while their peer was unreachable.
    dropped_disconnected,
    /// Messages dropped because their encoding exceeds the frame limit.
    dropped_oversized,
    /// Outbound connections established (handshake completed).
    connections_opened,
    /// Outbound connection attempts that failed (connect or handshake).
    connect_failures,
    /// Established outbound connections that were lost.
    connections_lost,
    /// Inbound connections accepted (handshake completed).
    connections_accepted,
    /// Inbound handshakes refused (wrong cluster, version or node, garbage,
    /// or TLS); the caller is told only that it was refused, and the
    /// `refused_*` counters below say why.
    handshakes_refused,
    /// ... because the caller is in another cluster.
    refused_wrong_cluster,
    /// ... because the two sides share no protocol version.
    refused_unsupported_version,
    /// ... because the caller is not (or no longer) a peer.
    refused_unknown_node,
    /// ... because the caller meant to reach another node.
    refused_wrong_node,
    /// ... because the hello could not be read.
    refused_malformed,
    /// ... because the hello claims a node its TLS certificate does not name.
    refused_certificate_mismatch,
    /// ... because the TLS handshake failed: no certificate, one from another
    /// CA or naming no node, or not TLS at all.
    refused_tls,
    /// Inbound connections closed for not completing a handshake in time.
    handshake_timeouts,
    /// Inbound connections closed at once because too many handshakes were
    /// pending.
    handshakes_shed,
    /// Messages received and handed to the node.
    messages_received,
    /// Inbound connections closed for an undecodable frame.
    closed_malformed,
    /// Inbound connections closed for a frame above the size limit.
    closed_oversized,
    /// Inbound connections that ended in the middle of a frame.
    closed_truncated,
    /// Inbound connections closed for a message whose `from` is not the
    /// authenticated peer or whose `to` is not this node.
    closed_forged,
    /// Inbound connections closed for staying silent past the idle timeout.
    closed_idle,
}

impl Counters {
    /// Adds one to a counter.
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `n` to a counter.
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}
