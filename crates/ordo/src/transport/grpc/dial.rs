//! The dialing side over gRPC: a channel to the peer, one `Stream` call
//! whose metadata carries our hello and whose response headers the peer's
//! welcome, then batches of encoded messages down the request stream.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ordo_core::{Message, NodeId};
use thiserror::Error;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status, Streaming};
use tracing::error;

use super::identity;
use super::preconnected::Preconnected;
use super::proto::raft_transport_client::RaftTransportClient;
use super::proto::{MessageBatch, StreamClosed};
use super::serve::Service;
use super::{BATCH_OVERHEAD_BYTES, MAX_MESSAGES_PER_BATCH};
use crate::transport::Inbox;
use crate::transport::codec::{
    self, handshake::HandshakeError, handshake::Hello, handshake::LocalIdentity,
};
use crate::transport::link::{Counters, Links, NetworkConfig, StreamEnd, Wire};
use crate::transport::tls::{PeerTls, TlsDialError};

/// The gRPC wire: one bidirectional `Stream` call per peer and direction,
/// the handshake in its metadata (see [the module docs](super)).
pub struct GrpcWire {
    pub(super) identity: LocalIdentity,
    pub(super) config: Arc<NetworkConfig>,
    pub(super) counters: Arc<Counters>,
}

/// An open stream to a peer, past the handshake.
pub struct Established {
    batches: mpsc::Sender<MessageBatch>,
    closed: Streaming<StreamClosed>,
    /// Kept so the HTTP/2 connection lives as long as the stream.
    _channel: Channel,
}

/// Why an outbound stream failed.
#[derive(Debug, Error)]
pub enum DialError {
    #[error("invalid peer address {address:?}: {detail}")]
    Address { address: String, detail: String },
    #[error("connect failed: {0}")]
    Connect(tonic::transport::Error),
    #[error("connect failed: {0}")]
    Io(std::io::Error),
    #[error(transparent)]
    Tls(#[from] TlsDialError),
    #[error("connect timed out after {0:?}")]
    ConnectTimeout(Duration),
    #[error("no handshake answer within {0:?}")]
    HandshakeTimeout(Duration),
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    #[error("the peer ended the stream: {0}")]
    Status(Status),
    #[error("the peer ended the stream")]
    Ended,
    #[error("the peer sent data on the response stream")]
    UnexpectedData,
    #[error("handing a batch to the stream blocked for more than {0:?}")]
    WriteTimeout(Duration),
}

impl Wire for GrpcWire {
    const TRANSPORT_NAME: &'static str = "GrpcTransport";
    type Connection = Established;
    type Error = DialError;

    fn new(identity: LocalIdentity, config: Arc<NetworkConfig>, counters: Arc<Counters>) -> Self {
        GrpcWire {
            identity,
            config,
            counters,
        }
    }

    fn serve(
        &self,
        listener: TcpListener,
        links: Arc<Links<GrpcWire>>,
        inbox: Inbox,
    ) -> impl Future<Output = ()> + Send + 'static {
        let service = Service {
            identity: self.identity.clone(),
            config: Arc::clone(&self.config),
            links,
            inbox,
            limits: self.config.decode_limits(),
        };
        service.run(listener)
    }

    async fn connect(&self, peer: NodeId, address: &str) -> Result<Established, DialError> {
        let endpoint = self.endpoint(address)?;
        let channel = match &self.config.peer_tls {
            None => {
                let limit = self.config.connect_timeout;
                timeout(limit, endpoint.connect())
                    .await
                    .map_err(|_| DialError::ConnectTimeout(limit))?
                    .map_err(DialError::Connect)?
            }
            Some(tls) => self.connect_tls(tls, &endpoint, peer, address).await?,
        };
        let mut client = RaftTransportClient::new(channel.clone())
            .max_encoding_message_size(self.config.max_frame_bytes + BATCH_OVERHEAD_BYTES);
        let (batches, queue) = mpsc::channel(1);
        let mut request = Request::new(ReceiverStream::new(queue));
        identity::put_hello(request.metadata_mut(), &Hello::new(&self.identity, peer));
        let limit = self.config.handshake_timeout;
        let response = timeout(limit, client.stream(request))
            .await
            .map_err(|_| DialError::HandshakeTimeout(limit))?
            .map_err(|status| match identity::refusal(&status) {
                Some(refusal) => DialError::Handshake(HandshakeError::Refused(refusal)),
                None => DialError::Status(status),
            })?;
        identity::welcome(response.metadata())?.check(&self.identity, peer)?;
        Ok(Established {
            batches,
            closed: response.into_inner(),
            _channel: channel,
        })
    }

    async fn stream(
        &self,
        connection: Established,
        queue: &mut mpsc::Receiver<Message>,
    ) -> StreamEnd<DialError> {
        let Established {
            batches,
            mut closed,
            _channel,
        } = connection;
        // A message that did not fit the previous batch opens the next.
        let mut carried: Option<Bytes> = None;
        loop {
            let first = match carried.take() {
                Some(first) => first,
                None => tokio::select! {
                    biased;
                    end = closed.message() => {
                        return StreamEnd::Lost(match end {
                            Ok(Some(_)) => DialError::UnexpectedData,
                            Ok(None) => DialError::Ended,
                            Err(status) => DialError::Status(status),
                        });
                    }
                    message = queue.recv() => match message {
                        Some(message) => match self.encode(&message) {
                            Some(first) => first,
                            None => continue,
                        },
                        None => return StreamEnd::QueueClosed,
                    },
                },
            };
            let batch = self.fill(first, queue, &mut carried);
            let count = batch.messages.len() as u64;
            let limit = self.config.write_timeout;
            match timeout(limit, batches.send(batch)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return StreamEnd::Lost(DialError::Ended),
                Err(_) => return StreamEnd::Lost(DialError::WriteTimeout(limit)),
            }
            Counters::add(&self.counters.messages_sent, count);
            Counters::bump(&self.counters.batches_sent);
        }
    }
}

impl GrpcWire {
    /// A channel over mutual TLS to `peer` at `address`: TCP and TLS opened
    /// here, and the peer's certificate checked to name `peer`, before tonic
    /// gets the connection.
    async fn connect_tls(
        &self,
        tls: &PeerTls,
        endpoint: &Endpoint,
        peer: NodeId,
        address: &str,
    ) -> Result<Channel, DialError> {
        let limit = self.config.connect_timeout;
        let stream = timeout(limit, TcpStream::connect(address))
            .await
            .map_err(|_| DialError::ConnectTimeout(limit))?
            .map_err(DialError::Io)?;
        // Raft messages are latency-sensitive and already batched by us.
        stream.set_nodelay(true).map_err(DialError::Io)?;
        let limit = self.config.handshake_timeout;
        let stream = timeout(
            limit,
            tls.connect_to(stream, peer, &self.identity.cluster_id),
        )
        .await
        .map_err(|_| DialError::HandshakeTimeout(limit))??;
        endpoint
            .connect_with_connector(Preconnected::new(stream))
            .await
            .map_err(DialError::Connect)
    }

    fn endpoint(&self, address: &str) -> Result<Endpoint, DialError> {
        let endpoint = Endpoint::from_shared(format!("http://{address}")).map_err(|error| {
            DialError::Address {
                address: address.to_owned(),
                detail: error.to_string(),
            }
        })?;
        Ok(endpoint
            .connect_timeout(self.config.connect_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(self.config.keepalive_interval)
            .keep_alive_timeout(self.config.idle_timeout)
            .keep_alive_while_idle(true))
    }

    /// The message's encoding, or `None` (logged, counted) if it exceeds the
    /// frame limit.
    fn encode(&self, message: &Message) -> Option<Bytes> {
        let length = codec::encoded_len(message);
        if length > self.config.max_frame_bytes {
            error!(
                to = message.to,
                kind = message.body.kind(),
                bytes = length,
                max_bytes = self.config.max_frame_bytes,
                "message dropped: raise max_frame_bytes or lower the core's max_bytes_per_message"
            );
            Counters::bump(&self.counters.dropped_oversized);
            return None;
        }
        Some(codec::encode(message))
    }

    /// A batch of `first` and whatever else is queued, up to the batch byte
    /// target, the frame limit and the message count limit; a message that
    /// would overflow it is left in `carried`.
    fn fill(
        &self,
        first: Bytes,
        queue: &mut mpsc::Receiver<Message>,
        carried: &mut Option<Bytes>,
    ) -> MessageBatch {
        let mut bytes = first.len();
        let mut messages = vec![first];
        while bytes < self.config.write_batch_bytes && messages.len() < MAX_MESSAGES_PER_BATCH {
            let Ok(message) = queue.try_recv() else {
                break;
            };
            let Some(encoded) = self.encode(&message) else {
                continue;
            };
            if bytes + encoded.len() > self.config.max_frame_bytes {
                *carried = Some(encoded);
                break;
            }
            bytes += encoded.len();
            messages.push(encoded);
        }
        MessageBatch { messages }
    }
}
