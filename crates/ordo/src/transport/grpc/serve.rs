//! The serving side over gRPC: the `Stream` handler checks the caller's
//! hello, answers with our welcome, and a task per stream checks and
//! delivers every message.

use std::sync::Arc;
use std::time::Duration;

use ordo_core::NodeId;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Code, Request, Response, Status, Streaming};
use tracing::{Instrument, debug, error, info};

use super::accept::AcceptLoop;
use super::dial::GrpcWire;
use super::guard::{Admission, GuardRules};
use super::identity;
use super::proto::raft_transport_server::{RaftTransport, RaftTransportServer};
use super::proto::{MessageBatch, StreamClosed};
use super::{BATCH_OVERHEAD_BYTES, MAX_MESSAGES_PER_BATCH};
use crate::transport::Inbox;
use crate::transport::codec::DecodeLimits;
use crate::transport::codec::handshake::{LocalIdentity, Refusal};
use crate::transport::link::{
    Admitted, AfterDelivery, Counters, HandshakeSlots, InboundLink, InboundRegistration, Links,
    NetworkConfig, Refused,
};

/// Most concurrent streams on one HTTP/2 connection. A peer needs one.
const MAX_STREAMS_PER_CONNECTION: u32 = 8;

/// How long a stopping server waits for connections to wind down before
/// dropping them.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// Serves the `RaftTransport` gRPC service. Cheap to clone: each stream's
/// task takes a clone.
#[derive(Clone)]
pub(super) struct Service {
    pub(super) identity: LocalIdentity,
    pub(super) config: Arc<NetworkConfig>,
    pub(super) links: Arc<Links<GrpcWire>>,
    pub(super) inbox: Inbox,
    pub(super) limits: DecodeLimits,
}

/// Why an inbound stream was closed.
#[derive(Debug, Error)]
enum InboundError {
    #[error("the stream failed: {0}")]
    Stream(Status),
    #[error("a batch of {count} messages exceeds the limit of {MAX_MESSAGES_PER_BATCH}")]
    TooManyMessages { count: usize },
    #[error("a message of {bytes} bytes exceeds the limit of {max_bytes} bytes")]
    Oversized { bytes: usize, max_bytes: usize },
    #[error(transparent)]
    Refused(#[from] Refused),
}

impl Service {
    /// Serves on `listener` until the transport stops.
    pub(super) async fn run(self, listener: TcpListener) {
        let cancel = self.links.cancellation().clone();
        let counters = Arc::clone(self.links.counters());
        let accept_loop = AcceptLoop {
            links: Arc::clone(&self.links),
            peer_tls: self.config.peer_tls.clone(),
            cluster_id: self.identity.cluster_id.clone(),
            slots: HandshakeSlots::new(self.config.max_pending_handshakes, Arc::clone(&counters)),
            rules: GuardRules {
                handshake_timeout: self.config.handshake_timeout,
                cancel: cancel.clone(),
                counters,
            },
        };
        let (ready, incoming) = mpsc::channel(self.config.max_pending_handshakes.max(1));
        self.links.spawn(accept_loop.run(listener, ready));
        let incoming = ReceiverStream::new(incoming).map(Ok::<_, std::io::Error>);
        let max_message_bytes = self.config.max_frame_bytes + BATCH_OVERHEAD_BYTES;
        let service = RaftTransportServer::new(self.clone())
            .max_decoding_message_size(max_message_bytes)
            .max_encoding_message_size(1024);
        let server = tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(self.config.keepalive_interval))
            .http2_keepalive_timeout(Some(self.config.idle_timeout))
            .max_concurrent_streams(Some(MAX_STREAMS_PER_CONNECTION))
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, cancel.clone().cancelled_owned());
        tokio::pin!(server);
        let forced = async {
            cancel.cancelled().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        };
        tokio::select! {
            result = &mut server => {
                if let Err(error) = result {
                    error!(%error, "the gRPC server failed");
                }
            }
            () = forced => debug!("gRPC server stopped without waiting for its connections"),
        }
    }

    /// Delivers every message of `batches` after checking it, until the
    /// stream is `closed` (checked before each delivery: a batch already read
    /// when the peer is removed must not reach the node afterwards).
    async fn receive(
        &self,
        peer: NodeId,
        batches: &mut Streaming<MessageBatch>,
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
            let batch = match batches.message().await {
                Ok(Some(batch)) => batch,
                Ok(None) => return Ok(()),
                Err(status) => return Err(InboundError::Stream(status)),
            };
            if batch.messages.len() > MAX_MESSAGES_PER_BATCH {
                return Err(InboundError::TooManyMessages {
                    count: batch.messages.len(),
                });
            }
            for bytes in batch.messages {
                if bytes.len() > self.config.max_frame_bytes {
                    return Err(InboundError::Oversized {
                        bytes: bytes.len(),
                        max_bytes: self.config.max_frame_bytes,
                    });
                }
                if link.deliver(&bytes).await? == AfterDelivery::Stop {
                    return Ok(());
                }
            }
        }
    }

    /// Runs one stream to its end; tells the caller why it ended, if badly.
    async fn serve_stream(
        self,
        peer: NodeId,
        mut batches: Streaming<MessageBatch>,
        registration: InboundRegistration<GrpcWire>,
        closing: mpsc::Sender<Result<StreamClosed, Status>>,
    ) {
        let received = tokio::select! {
            biased;
            () = registration.cancellation().cancelled() => Ok(()),
            received = self.receive(peer, &mut batches, registration.cancellation()) => received,
        };
        let Err(error) = received else {
            return;
        };
        let counters = self.links.counters();
        let (counter, code) = match &error {
            InboundError::Stream(status) if status.code() == Code::OutOfRange => {
                (Some(&counters.closed_oversized), Code::OutOfRange)
            }
            InboundError::Stream(status) if status.code() == Code::Internal => {
                (Some(&counters.closed_malformed), Code::InvalidArgument)
            }
            InboundError::Stream(_) => (None, Code::Unavailable),
            InboundError::TooManyMessages { .. } | InboundError::Oversized { .. } => {
                (Some(&counters.closed_oversized), Code::OutOfRange)
            }
            InboundError::Refused(refused) => {
                let code = match refused {
                    Refused::Malformed(_) => Code::InvalidArgument,
                    Refused::ForgedSender { .. } | Refused::Misaddressed { .. } => {
                        Code::PermissionDenied
                    }
                };
                (Some(refused.counter(counters)), code)
            }
        };
        match counter {
            Some(counter) => {
                Counters::bump(counter);
                error!(peer, %error, "closing the stream");
            }
            None => info!(peer, %error, "stream ended"),
        }
        let _ = closing.try_send(Err(Status::new(code, error.to_string())));
    }
}

#[tonic::async_trait]
impl RaftTransport for Service {
    type StreamStream = ReceiverStream<Result<StreamClosed, Status>>;

    async fn stream(
        &self,
        request: Request<Streaming<MessageBatch>>,
    ) -> Result<Response<Self::StreamStream>, Status> {
        let hello = identity::hello(request.metadata());
        let admission = request.extensions().get::<Admission>().cloned();
        let certified = admission.as_ref().and_then(Admission::certified);
        if self.config.peer_tls.is_some() && certified.is_none() {
            // Every connection is accepted through TLS when the transport
            // has it (`AcceptLoop`); a caller without a certified node here
            // would be a bug, and is refused rather than trusted.
            error!("a gRPC stream without a TLS identity on a TLS transport; refused");
            return Err(identity::refusal_status(&Refusal::withheld()));
        }
        let Admitted {
            peer,
            welcome,
            registration,
        } = self
            .links
            .answer_hello(&self.identity, hello, certified)
            .map_err(|refusal| identity::refusal_status(&refusal))?;
        if let Some(admission) = admission {
            admission.admit();
        }
        Counters::bump(&self.links.counters().connections_accepted);
        info!(peer, "accepted a gRPC stream");
        let (closing, closed) = mpsc::channel(1);
        let span = tracing::info_span!("ordo_grpc_inbound", node = self.identity.node_id, peer);
        let task = self
            .clone()
            .serve_stream(peer, request.into_inner(), registration, closing);
        self.links.spawn(task.instrument(span));
        let mut response = Response::new(ReceiverStream::new(closed));
        identity::put_welcome(response.metadata_mut(), &welcome);
        Ok(response)
    }
}
