//! The accepting side: the listener, each inbound connection's handshake,
//! and the loop that checks every received message before the node sees it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ordo_core::NodeId;
use thiserror::Error;
use tokio::io::AsyncWrite;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, error, info, warn};

use super::dial::TcpWire;
use super::io::{FrameReader, ReadError, write_chunks};
use super::stream::{PeerReader, PeerWriter, split_plain, split_tls};
use crate::transport::Inbox;
use crate::transport::codec::handshake::{
    Hello, LocalIdentity, MAX_HANDSHAKE_BYTES, Refusal, Reply,
};
use crate::transport::codec::{DecodeLimits, FrameBatch};
use crate::transport::link::NetworkConfig;
use crate::transport::link::{
    Admitted, AfterDelivery, Counters, HandshakeSlots, InboundLink, InboundRegistration, Links,
    Refused,
};

/// Longest wait when telling a refused caller why.
const REFUSAL_WRITE_TIMEOUT: Duration = Duration::from_millis(500);

/// Pause after a failed `accept` (say, out of file descriptors), so the loop
/// does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Serves inbound connections.
pub(super) struct Acceptor {
    pub(super) identity: LocalIdentity,
    pub(super) config: Arc<NetworkConfig>,
    pub(super) links: Arc<Links<TcpWire>>,
    pub(super) inbox: Inbox,
    pub(super) handshake_slots: HandshakeSlots,
    pub(super) limits: DecodeLimits,
}

/// An inbound connection past its handshake.
struct Opened {
    peer: NodeId,
    registration: InboundRegistration<TcpWire>,
    reader: FrameReader<PeerReader>,
    /// Unused after the welcome, but kept open: dropping it would close our
    /// side, and the dialer takes that as the connection lost.
    writer: PeerWriter,
}

/// Why an inbound connection was closed.
#[derive(Debug, Error)]
enum InboundError {
    #[error("{0}")]
    Read(#[from] ReadError),
    #[error(transparent)]
    Refused(#[from] Refused),
}

impl Acceptor {
    /// Accepts connections until the transport stops.
    pub(super) async fn run(self: Arc<Self>, listener: TcpListener) {
        let cancel = self.links.cancellation().clone();
        loop {
            let accepted = tokio::select! {
                biased;
                () = cancel.cancelled() => return,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, remote)) => self.admit(stream, remote),
                Err(error) => {
                    warn!(%error, "accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                }
            }
        }
    }

    /// Starts serving a new connection, unless too many handshakes are
    /// already pending.
    fn admit(self: &Arc<Self>, stream: TcpStream, remote: SocketAddr) {
        let Some(slot) = self.handshake_slots.take(remote) else {
            return;
        };
        let span = tracing::info_span!("ordo_inbound", node = self.identity.node_id, %remote);
        self.links.spawn(
            Arc::clone(self)
                .serve(stream, remote, slot)
                .instrument(span),
        );
    }

    async fn serve(
        self: Arc<Self>,
        stream: TcpStream,
        remote: SocketAddr,
        slot: OwnedSemaphorePermit,
    ) {
        // Best effort: a socket without it still works, with more latency.
        let _ = stream.set_nodelay(true);
        let limit = self.config.handshake_timeout;
        let cancel = self.links.cancellation().clone();
        let handshake = tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            handshake = timeout(limit, self.open(stream, remote)) => handshake,
        };
        let Opened {
            peer,
            registration,
            mut reader,
            writer: _writer,
        } = match handshake {
            Ok(Some(opened)) => opened,
            Ok(None) => return,
            Err(_) => {
                warn!(%remote, ?limit, "no handshake in time; closing the connection");
                Counters::bump(&self.links.counters().handshake_timeouts);
                return;
            }
        };
        drop(slot);
        Counters::bump(&self.links.counters().connections_accepted);
        info!(peer, "accepted a connection");
        let received = tokio::select! {
            biased;
            () = registration.cancellation().cancelled() => Ok(()),
            received = self.receive(peer, &mut reader, registration.cancellation()) => received,
        };
        if let Err(error) = received {
            self.record_close(peer, &error);
        }
    }

    /// Opens TLS when the config asks for it, then reads and answers the
    /// caller's hello. `None` when the caller was refused.
    async fn open(&self, stream: TcpStream, remote: SocketAddr) -> Option<Opened> {
        let (reader, mut writer, certified) = match &self.config.peer_tls {
            None => {
                let (reader, writer) = split_plain(stream);
                (reader, writer, None)
            }
            Some(tls) => {
                let (stream, certified) = self
                    .links
                    .accept_tls(tls, stream, remote, &self.identity.cluster_id)
                    .await?;
                let (reader, writer) = split_tls(stream);
                (reader, writer, Some(certified))
            }
        };
        let mut reader = FrameReader::new(reader, Some(self.config.idle_timeout));
        let (peer, registration) = self.handshake(&mut reader, &mut writer, certified).await?;
        Some(Opened {
            peer,
            registration,
            reader,
            writer,
        })
    }

    /// Reads and answers the caller's hello. Returns the authenticated peer,
    /// or `None` when the caller was refused (and told so).
    async fn handshake<W: AsyncWrite + Unpin>(
        &self,
        reader: &mut FrameReader<PeerReader>,
        writer: &mut W,
        certified: Option<NodeId>,
    ) -> Option<(NodeId, InboundRegistration<TcpWire>)> {
        let hello = match reader.next_frame(MAX_HANDSHAKE_BYTES).await {
            Ok(frame) => Hello::decode(&frame).map_err(|error| error.to_string()),
            Err(ReadError::Closed) => {
                debug!("the caller left before its handshake");
                return None;
            }
            Err(error) => Err(error.to_string()),
        };
        let Admitted {
            peer,
            welcome,
            registration,
        } = match self.links.answer_hello(&self.identity, hello, certified) {
            Ok(admitted) => admitted,
            Err(refusal) => {
                tell_refusal(writer, refusal).await;
                return None;
            }
        };
        let mut batch = FrameBatch::new();
        batch
            .push_payload(&Reply::Welcome(welcome).encode(), MAX_HANDSHAKE_BYTES)
            .ok()?;
        write_chunks(writer, batch.take_chunks()).await.ok()?;
        Some((peer, registration))
    }

    /// Hands every message from `peer` to the node, after checking it, until
    /// the connection ends, misbehaves, or is `closed` (the peer was removed:
    /// checked before each delivery, because a frame already read when the
    /// peer is removed must not reach the node after `remove_peer` returned).
    async fn receive(
        &self,
        peer: NodeId,
        reader: &mut FrameReader<PeerReader>,
        closed: &CancellationToken,
    ) -> Result<(), InboundError> {
        let link = InboundLink {
            peer,
            node_id: self.identity.node_id,
            limits: &self.limits,
            closed,
            inbox: &self.inbox,
            counters: self.links.counters(),
        };
        loop {
            let frame = match reader.next_frame(self.config.max_frame_bytes).await {
                Ok(frame) => frame,
                Err(ReadError::Closed) => {
                    debug!(peer, "the peer closed the connection");
                    return Ok(());
                }
                Err(error) => return Err(error.into()),
            };
            if frame.is_empty() {
                continue; // keepalive
            }
            if link.deliver(&frame).await? == AfterDelivery::Stop {
                return Ok(());
            }
        }
    }

    fn record_close(&self, peer: NodeId, error: &InboundError) {
        let counters = self.links.counters();
        let counter = match error {
            InboundError::Read(ReadError::Oversized { .. }) => Some(&counters.closed_oversized),
            InboundError::Read(ReadError::Truncated { .. }) => Some(&counters.closed_truncated),
            InboundError::Read(ReadError::Idle(_)) => Some(&counters.closed_idle),
            InboundError::Read(ReadError::Closed | ReadError::Io(_)) => None,
            InboundError::Refused(refused) => Some(refused.counter(counters)),
        };
        match counter {
            Some(counter) => {
                Counters::bump(counter);
                error!(peer, %error, "closing the connection");
            }
            None => info!(peer, %error, "connection ended"),
        }
    }
}

/// Tells a refused caller why, before the connection closes.
async fn tell_refusal<W: AsyncWrite + Unpin>(writer: &mut W, refusal: Refusal) {
    let mut batch = FrameBatch::new();
    if batch
        .push_payload(&Reply::Refusal(refusal).encode(), MAX_HANDSHAKE_BYTES)
        .is_ok()
    {
        // The caller may be gone or hostile: telling it is a courtesy.
        let _ = timeout(
            REFUSAL_WRITE_TIMEOUT,
            write_chunks(writer, batch.take_chunks()),
        )
        .await;
    }
}
