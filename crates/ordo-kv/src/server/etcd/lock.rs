//! `v3lockpb.Lock`: etcd's server-side locks, on the line of contenders
//! (`contenders.rs`) run on this node's store.
//!
//! Lock(name, lease) puts `name/<lease in hex>` on the caller's lease
//! unless it exists, then waits until no key under `name/` was created
//! before it, and answers the key; Unlock(key) deletes it. As etcd: the
//! caller keeps the lease alive, and its expiry releases the lock. While
//! auth is on, the caller needs read on `name/` and write on its key (what
//! etcd's recipe needs: its own KV calls are authorized as the caller).
//!
//! A follower forwards Lock and Unlock to the leader whole (`forward.rs`):
//! the line is entered with a write. The call may be repeated there
//! harmlessly: entering is "create if absent".
//!
//! Left out: lease 0 (etcd then makes a session of its own) is refused. A
//! Lock call given up by its client leaves its key in line until the lease
//! ends (the waiter is gone, the key is not), as in etcd.

use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::server::etcd::EtcdService;
use crate::server::etcd::auth_gate::caller_of;
use crate::server::etcd::contenders::Line;
use crate::server::etcd::failure::{Failure, LEASE_NOT_FOUND};
use crate::server::etcd::forward::Onward;
use crate::server::etcd::header::current_header;
use crate::server::etcd::pb::etcdserverpb::DeleteRangeRequest;
use crate::server::etcd::pb::v3lockpb::{self as pb, lock_client::LockClient, lock_server::Lock};
use crate::server::http::auth_gate::Caller;

impl EtcdService {
    fn lock_client(&self, url: &str) -> Result<LockClient<Channel>, Status> {
        Ok(LockClient::new(self.forwarder.channel(url)?))
    }

    async fn lock_here(
        &self,
        caller: Option<&Caller>,
        request: pb::LockRequest,
    ) -> Result<pb::LockResponse, Failure> {
        if request.lease <= 0 {
            return Err(
                Status::invalid_argument("etcdserver: a lock needs the caller's lease").into(),
            );
        }
        let line = Line::new(self, caller, &request.name);
        let key = line.key_of(request.lease);
        let place = line.enter(&key, bytes::Bytes::new(), request.lease).await?;
        let entered = line.guard(&key, place);
        let held = async {
            line.wait_for_turn(place.revision).await?;
            // The lease may have run out while waiting: its key is then gone.
            if !line.still_in_line(&key, place.revision).await? {
                return Err(Status::not_found(LEASE_NOT_FOUND).into());
            }
            Ok(())
        }
        .await;
        entered.settle(&held);
        held?;
        Ok(pb::LockResponse {
            header: current_header(&self.state, self.ids),
            key,
        })
    }
}

#[tonic::async_trait]
impl Lock for EtcdService {
    async fn lock(
        &self,
        request: Request<pb::LockRequest>,
    ) -> Result<Response<pb::LockResponse>, Status> {
        let onward = Onward::of(&request);
        let caller = caller_of(&request);
        let message = request.into_inner();
        match self.lock_here(caller.as_ref(), message.clone()).await {
            Ok(response) => Ok(Response::new(response)),
            Err(Failure::NotLeader(url)) if onward.allowed() => {
                self.lock_client(&url)?.lock(onward.call(message)).await
            }
            Err(failure) => Err(failure.into_status()),
        }
    }

    /// Deletes the key, as etcd does (KV's DeleteRange, with its checks,
    /// authorization and forwarding).
    async fn unlock(
        &self,
        request: Request<pb::UnlockRequest>,
    ) -> Result<Response<pb::UnlockResponse>, Status> {
        let (metadata, extensions, message) = request.into_parts();
        let delete = DeleteRangeRequest {
            key: message.key,
            ..DeleteRangeRequest::default()
        };
        let deleted = crate::server::etcd::pb::etcdserverpb::kv_server::Kv::delete_range(
            self,
            Request::from_parts(metadata, extensions, delete),
        )
        .await?;
        Ok(Response::new(pb::UnlockResponse {
            header: deleted.into_inner().header,
        }))
    }
}
