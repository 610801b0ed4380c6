//! `v3lockpb.Lock`: etcd's server-side locks, on the coordination
//! recipes' line of contenders (`client/recipes/contend.rs`), run through a
//! client of this node's own HTTP API.
//!
//! Lock(name, lease) puts `name/<lease in hex>` on the caller's lease
//! unless it exists, then waits until no key under `name/` was created
//! before it, and answers the key; Unlock(key) deletes it. As etcd: the
//! caller keeps the lease alive, and its expiry releases the lock.
//!
//! Left out: names and keys that are not UTF-8 (the HTTP API's keys are
//! text), lease 0 (etcd then makes a session of its own), a node whose
//! client port has TLS (the loopback client is cleartext), and a cluster
//! with auth enabled (the loopback client has no user): these are
//! refused. A Lock call given up by its client leaves its key in line
//! until the lease ends (the waiter is gone, the key is not).

use tonic::{Request, Response, Status};

use crate::client::recipes::{RecipeError, contend};
use crate::client::{Client, ClientConfig, Endpoint};
use crate::server::etcd::EtcdService;
use crate::server::etcd::header::current_header;
use crate::server::etcd::pb::v3lockpb::{self as pb, lock_server::Lock};

/// etcd's message when a waiter's lease ran out before its turn.
pub(crate) const SESSION_EXPIRED: &str = "etcdserver: requested lease not found";
/// etcd's message for a Proclaim by a campaigner that does not lead.
pub(crate) const ELECTION_NOT_LEADER: &str = "etcdserver: election: not leader";

impl EtcdService {
    /// A client of this node's own HTTP API (cleartext only, and only
    /// while auth is off: it carries no user's token, so under auth the
    /// HTTP API would refuse its every call; the call is refused here
    /// first, saying so).
    pub(crate) fn loopback_client(&self) -> Result<Client, Status> {
        if self.state.auth.view.current().enabled() {
            return Err(Status::unimplemented(
                "etcdserver: Lock and Election are not served while auth is enabled \
                 (etcdctl lock and elect work: they build on KV, Watch and Lease)",
            ));
        }
        let endpoint = Endpoint::parse(&self.state.own.address)
            .ok()
            .filter(|endpoint| !endpoint.is_secure())
            .ok_or_else(|| {
                Status::unimplemented("etcdserver: Lock is not served on a client port with TLS")
            })?;
        Client::new(ClientConfig::new(vec![endpoint]))
            .map_err(|error| Status::internal(format!("etcdserver: {error}")))
    }
}

/// `bytes` as a key of the HTTP API.
pub(crate) fn text(bytes: &[u8], what: &str) -> Result<String, Status> {
    match std::str::from_utf8(bytes) {
        Ok(text) if !text.is_empty() => Ok(text.to_owned()),
        _ => Err(Status::invalid_argument(format!(
            "etcdserver: a {what} must be non-empty UTF-8 here"
        ))),
    }
}

/// A recipe's failure as etcd answers it.
pub(crate) fn recipe_status(error: RecipeError) -> Status {
    match error {
        RecipeError::SessionLost { .. } => Status::not_found(SESSION_EXPIRED),
        RecipeError::NotLeader => Status::failed_precondition(ELECTION_NOT_LEADER),
        other => Status::unavailable(format!("etcdserver: {other}")),
    }
}

#[tonic::async_trait]
impl Lock for EtcdService {
    async fn lock(
        &self,
        request: Request<pb::LockRequest>,
    ) -> Result<Response<pb::LockResponse>, Status> {
        let request = request.into_inner();
        let name = text(&request.name, "lock name")?;
        if request.lease <= 0 {
            return Err(Status::invalid_argument(
                "etcdserver: a lock needs the caller's lease",
            ));
        }
        let prefix = format!("{name}/");
        let key = format!("{prefix}{:x}", request.lease);
        let client = self.loopback_client()?;
        let place = contend::enter(&client, &prefix, &key, b"", request.lease)
            .await
            .map_err(recipe_status)?;
        contend::wait_for_turn(&client, &prefix, place.revision)
            .await
            .map_err(recipe_status)?;
        if !contend::still_in_line(&client, &key, place.revision)
            .await
            .map_err(recipe_status)?
        {
            return Err(Status::not_found(SESSION_EXPIRED));
        }
        Ok(Response::new(pb::LockResponse {
            header: current_header(&self.state, self.ids),
            key: key.into_bytes().into(),
        }))
    }

    async fn unlock(
        &self,
        request: Request<pb::UnlockRequest>,
    ) -> Result<Response<pb::UnlockResponse>, Status> {
        let key = text(&request.get_ref().key, "lock key")?;
        self.loopback_client()?
            .delete(&key)
            .await
            .map_err(|error| Status::unavailable(format!("etcdserver: {error}")))?;
        Ok(Response::new(pb::UnlockResponse {
            header: current_header(&self.state, self.ids),
        }))
    }
}
