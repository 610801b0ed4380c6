//! The lease calls of [`Client`]: grant, keep alive, revoke, inspect.
//! Grants, keepalives, revokes and `lease_info` go to the leader (it keeps
//! the deadlines); `leases` may be answered by any node.

use http::Method;

use super::endpoint::path_and_query;
use super::ops::JSON;
use super::routing::{Call, Route};
use super::{Client, ClientError};
use crate::api::{
    KeepAliveRequest, KeepAliveResponse, LeaseGrantRequest, LeaseInfo, LeaseList, LeaseResponse,
    LeaseRevokeResponse,
};

impl Client {
    /// Grants a lease of `ttl_seconds` (the cluster may raise it to its
    /// minimum; the answer says the TTL granted).
    pub async fn grant(&self, ttl_seconds: i64) -> Result<LeaseResponse, ClientError> {
        self.post_json(
            "/v1/leases",
            &LeaseGrantRequest {
                ttl: ttl_seconds,
                id: 0,
            },
        )
        .await
    }

    /// Renews lease `id` for its full TTL; a lease that is gone is
    /// [`ClientError::LeaseNotFound`].
    pub async fn keepalive(&self, id: i64) -> Result<LeaseResponse, ClientError> {
        let path = path_and_query(format!("/v1/leases/{id}/keepalive"))?;
        self.call_json(&Call::new(Method::POST, path, Route::Leader))
            .await
    }

    /// Renews many leases in one call; a lease that is gone comes back with
    /// `ttl` 0 rather than failing the others.
    pub async fn keepalive_many(&self, ids: &[i64]) -> Result<KeepAliveResponse, ClientError> {
        let request = KeepAliveRequest { ids: ids.to_vec() };
        self.post_json("/v1/leases/keepalive", &request).await
    }

    /// Revokes lease `id`: every key attached to it is deleted, at one
    /// revision.
    pub async fn revoke(&self, id: i64) -> Result<LeaseRevokeResponse, ClientError> {
        let path = path_and_query(format!("/v1/leases/{id}"))?;
        self.call_json(&Call::new(Method::DELETE, path, Route::Leader))
            .await
    }

    /// Lease `id`'s TTL, time left and attached keys (from the leader).
    pub async fn lease_info(&self, id: i64) -> Result<LeaseInfo, ClientError> {
        let path = path_and_query(format!("/v1/leases/{id}"))?;
        self.call_json(&Call::new(Method::GET, path, Route::Leader))
            .await
    }

    /// Every lease.
    pub async fn leases(&self) -> Result<LeaseList, ClientError> {
        let path = path_and_query("/v1/leases".to_owned())?;
        self.call_json(&Call::new(Method::GET, path, Route::Any))
            .await
    }

    /// Posts `request` as JSON to the leader and reads a JSON answer.
    async fn post_json<Request, Answer>(
        &self,
        path: &str,
        request: &Request,
    ) -> Result<Answer, ClientError>
    where
        Request: serde::Serialize,
        Answer: serde::de::DeserializeOwned,
    {
        let body = serde_json::to_vec(request)
            .map_err(|error| ClientError::invalid(format!("{path}: {error}")))?;
        let call = Call::new(
            Method::POST,
            path_and_query(path.to_owned())?,
            Route::Leader,
        )
        .with_body(body.into(), JSON);
        self.call_json(&call).await
    }
}
