//! `etcdserverpb.Watch`: one bidirectional stream per client call, carrying
//! any number of watches (`watch_session.rs` runs it).

use std::pin::Pin;

use futures_core::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::server::etcd::EtcdService;
use crate::server::etcd::auth_gate::caller_of;
use crate::server::etcd::pb::etcdserverpb::{WatchRequest, WatchResponse, watch_server::Watch};
use crate::server::etcd::watch_session::{OUTBOX_RESPONSES, WatchSession};

#[tonic::async_trait]
impl Watch for EtcdService {
    type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchResponse, Status>> + Send>>;

    async fn watch(
        &self,
        request: Request<Streaming<WatchRequest>>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let caller = caller_of(&request);
        let requests = request.into_inner();
        let (outbox, responses) = tokio::sync::mpsc::channel(OUTBOX_RESPONSES);
        let session = WatchSession::new(self.clone(), caller, outbox);
        tokio::spawn(session.run(requests));
        Ok(Response::new(Box::pin(ReceiverStream::new(responses))))
    }
}
