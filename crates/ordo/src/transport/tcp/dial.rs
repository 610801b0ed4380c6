//! The dialing side: open a connection to a peer, complete the handshake, then
//! stream the peer's queue over it as batches of frames.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use ordo_core::{Message, NodeId};
use thiserror::Error;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};
use tracing::error;

use super::accept::Acceptor;
use super::io::{FrameReader, ReadError, write_chunks};
use super::stream::{PeerReader, PeerWriter, split_plain, split_tls};
use crate::transport::Inbox;
use crate::transport::codec::handshake::{
    HandshakeError, Hello, LocalIdentity, MAX_HANDSHAKE_BYTES, Reply,
};
use crate::transport::codec::{DecodeError, FrameBatch};
use crate::transport::link::NetworkConfig;
use crate::transport::link::{Counters, HandshakeSlots, Links, StreamEnd, Wire};
use crate::transport::tls::TlsDialError;

/// The TCP wire: length-prefixed frames, the handshake as the first frame
/// each way, and outbound connections that carry one direction only (see
/// [the module docs](super)).
pub struct TcpWire {
    pub(super) identity: LocalIdentity,
    pub(super) config: Arc<NetworkConfig>,
    pub(super) counters: Arc<Counters>,
}

/// An outbound connection past its handshake.
pub struct Established {
    /// Read only to notice the peer closing: an acceptor sends nothing after
    /// its welcome.
    reader: FrameReader<PeerReader>,
    writer: PeerWriter,
}

/// Why an outbound connection failed.
#[derive(Debug, Error)]
pub enum DialError {
    #[error("connect failed: {0}")]
    Connect(io::Error),
    #[error("connect timed out after {0:?}")]
    ConnectTimeout(Duration),
    #[error("no handshake answer within {0:?}")]
    HandshakeTimeout(Duration),
    #[error(transparent)]
    Tls(#[from] TlsDialError),
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    #[error("write failed: {0}")]
    Write(io::Error),
    #[error("a write blocked for more than {0:?}")]
    WriteTimeout(Duration),
    #[error("{0}")]
    Read(#[from] ReadError),
    #[error("the peer sent data after its handshake")]
    UnexpectedData,
}

impl From<DecodeError> for DialError {
    fn from(error: DecodeError) -> Self {
        DialError::Handshake(HandshakeError::Malformed(error))
    }
}

impl Wire for TcpWire {
    const TRANSPORT_NAME: &'static str = "TcpTransport";
    type Connection = Established;
    type Error = DialError;

    fn new(identity: LocalIdentity, config: Arc<NetworkConfig>, counters: Arc<Counters>) -> Self {
        TcpWire {
            identity,
            config,
            counters,
        }
    }

    fn serve(
        &self,
        listener: TcpListener,
        links: Arc<Links<TcpWire>>,
        inbox: Inbox,
    ) -> impl Future<Output = ()> + Send + 'static {
        let acceptor = Arc::new(Acceptor {
            identity: self.identity.clone(),
            config: Arc::clone(&self.config),
            links,
            inbox,
            handshake_slots: HandshakeSlots::new(
                self.config.max_pending_handshakes,
                Arc::clone(&self.counters),
            ),
            limits: self.config.decode_limits(),
        });
        acceptor.run(listener)
    }

    async fn connect(&self, peer: NodeId, address: &str) -> Result<Established, DialError> {
        let limit = self.config.connect_timeout;
        let stream = timeout(limit, TcpStream::connect(address))
            .await
            .map_err(|_| DialError::ConnectTimeout(limit))?
            .map_err(DialError::Connect)?;
        // Raft messages are latency-sensitive and already batched by us.
        stream.set_nodelay(true).map_err(DialError::Connect)?;
        let limit = self.config.handshake_timeout;
        timeout(limit, self.secure_and_handshake(stream, peer))
            .await
            .map_err(|_| DialError::HandshakeTimeout(limit))?
    }

    async fn stream(
        &self,
        connection: Established,
        queue: &mut mpsc::Receiver<Message>,
    ) -> StreamEnd<DialError> {
        let Established {
            mut reader,
            mut writer,
        } = connection;
        let mut batch = FrameBatch::new();
        let keepalive = tokio::time::sleep(self.config.keepalive_interval);
        tokio::pin!(keepalive);
        loop {
            let messages = tokio::select! {
                biased;
                read = reader.next_frame(MAX_HANDSHAKE_BYTES) => {
                    return StreamEnd::Lost(match read {
                        Ok(_) => DialError::UnexpectedData,
                        Err(error) => DialError::Read(error),
                    });
                }
                message = queue.recv() => match message {
                    Some(message) => self.fill(&mut batch, message, queue),
                    None => return StreamEnd::QueueClosed,
                },
                () = &mut keepalive => {
                    batch.push_keepalive();
                    0
                }
            };
            if batch.is_empty() {
                continue;
            }
            if let Err(error) = self.write(&mut writer, &mut batch).await {
                return StreamEnd::Lost(error);
            }
            Counters::add(&self.counters.messages_sent, messages);
            Counters::bump(&self.counters.batches_sent);
            keepalive
                .as_mut()
                .reset(Instant::now() + self.config.keepalive_interval);
        }
    }
}

impl TcpWire {
    /// Opens TLS first when the config asks for it, checking that the peer's
    /// certificate names the node dialed before a byte of ours goes out.
    async fn secure_and_handshake(
        &self,
        stream: TcpStream,
        peer: NodeId,
    ) -> Result<Established, DialError> {
        let Some(tls) = &self.config.peer_tls else {
            let (reader, writer) = split_plain(stream);
            return self.handshake(reader, writer, peer).await;
        };
        let stream = tls
            .connect_to(stream, peer, &self.identity.cluster_id)
            .await?;
        let (reader, writer) = split_tls(stream);
        self.handshake(reader, writer, peer).await
    }

    async fn handshake(
        &self,
        reader: PeerReader,
        mut writer: PeerWriter,
        peer: NodeId,
    ) -> Result<Established, DialError> {
        let mut batch = FrameBatch::new();
        // A hello is far below the handshake limit, so this cannot fail.
        if let Err(error) = batch.push_payload(
            &Hello::new(&self.identity, peer).encode(),
            MAX_HANDSHAKE_BYTES,
        ) {
            return Err(DialError::Write(io::Error::other(error)));
        }
        write_chunks(&mut writer, batch.take_chunks())
            .await
            .map_err(DialError::Write)?;
        let mut reader = FrameReader::new(reader, None);
        let answer = reader.next_frame(MAX_HANDSHAKE_BYTES).await?;
        match Reply::decode(&answer)? {
            Reply::Welcome(welcome) => {
                welcome.check(&self.identity, peer)?;
                Ok(Established { reader, writer })
            }
            Reply::Refusal(refusal) => Err(HandshakeError::Refused(refusal).into()),
        }
    }

    /// Puts `first` and whatever else is queued (up to the batch byte limit)
    /// into `batch`. Returns the number of messages added.
    fn fill(
        &self,
        batch: &mut FrameBatch,
        first: Message,
        queue: &mut mpsc::Receiver<Message>,
    ) -> u64 {
        let mut added = u64::from(self.push(batch, &first));
        while batch.bytes() < self.config.write_batch_bytes {
            match queue.try_recv() {
                Ok(message) => added += u64::from(self.push(batch, &message)),
                Err(_) => break,
            }
        }
        added
    }

    fn push(&self, batch: &mut FrameBatch, message: &Message) -> bool {
        match batch.push_message(message, self.config.max_frame_bytes) {
            Ok(_) => true,
            Err(too_large) => {
                error!(
                    to = message.to,
                    kind = message.body.kind(),
                    %too_large,
                    "message dropped: raise max_frame_bytes or lower the core's max_bytes_per_message"
                );
                Counters::bump(&self.counters.dropped_oversized);
                false
            }
        }
    }

    async fn write(
        &self,
        writer: &mut PeerWriter,
        batch: &mut FrameBatch,
    ) -> Result<(), DialError> {
        let limit = self.config.write_timeout;
        match timeout(limit, write_chunks(writer, batch.take_chunks())).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(DialError::Write(error)),
            Err(_) => Err(DialError::WriteTimeout(limit)),
        }
    }
}
