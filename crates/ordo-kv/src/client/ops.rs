//! The typed calls of [`Client`]: one method per API route.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, Method, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, timeout, timeout_at};

use super::Client;
use super::endpoint::{encode_key, encode_query_value, path_and_query};
use super::http::{BodyError, error_chain, read_body};
use super::routing::{Call, Reply, Route};
use super::{
    ClientError, Consistency, Endpoint, ListEntry, ListPage, PutOptions, PutOutcome, Versioned,
};
use crate::api::{
    AddMemberRequest, CLUSTER_REVISION_HEADER, ClusterResponse, DeleteResponse, ListResponse,
    MemberAddressRequest, NodeStatusInfo, REVISION_HEADER, TransferLeaderRequest, code,
};

pub(super) const OCTET_STREAM: &str = "application/octet-stream";
pub(super) const JSON: &str = "application/json";

impl Client {
    /// Writes `value` under `key`. With `if_revision`, only if the key's
    /// revision is that (0: only if the key does not exist); a mismatch is
    /// [`PutOutcome::CompareFailed`], not an error.
    pub async fn put(
        &self,
        key: &str,
        value: impl Into<Bytes>,
        if_revision: Option<u64>,
    ) -> Result<PutOutcome, ClientError> {
        let options = PutOptions {
            if_revision,
            lease: None,
        };
        self.put_with(key, value, options).await
    }

    /// Reads `key`; `None` when it does not exist.
    pub async fn get(
        &self,
        key: &str,
        consistency: Consistency,
    ) -> Result<Option<Versioned>, ClientError> {
        let path = format!("{}?consistency={}", kv_path(key)?, consistency.as_str());
        let call = Call::new(Method::GET, path_and_query(path)?, Route::Any);
        let deadline = self.deadline();
        match self.call(&call, deadline).await? {
            Reply::Success { endpoint, response } => {
                let revision = header_u64(&endpoint, response.headers(), REVISION_HEADER)?;
                let cluster_revision =
                    header_u64(&endpoint, response.headers(), CLUSTER_REVISION_HEADER)?;
                let limit_bytes = self.config().max_response_bytes;
                let value = self
                    .read_bytes(&endpoint, response, deadline, limit_bytes)
                    .await?;
                Ok(Some(Versioned {
                    value,
                    revision,
                    cluster_revision,
                }))
            }
            Reply::Refused(refusal) if refusal.is(StatusCode::NOT_FOUND, code::NOT_FOUND) => {
                Ok(None)
            }
            Reply::Refused(refusal) => Err(refusal.into_error()),
        }
    }

    /// Deletes `key`; [`DeleteResponse::deleted`] says whether it existed.
    pub async fn delete(&self, key: &str) -> Result<DeleteResponse, ClientError> {
        let call = Call::new(
            Method::DELETE,
            path_and_query(kv_path(key)?)?,
            Route::Leader,
        );
        self.call_json(&call).await
    }

    /// Up to `limit` keys starting with `prefix`, in order, values decoded
    /// (`None`: the node's default limit).
    pub async fn list(&self, prefix: &str, limit: Option<u64>) -> Result<ListPage, ClientError> {
        let mut path = format!("/v1/kv?prefix={}", encode_query_value(prefix));
        if let Some(limit) = limit {
            let _ = write!(path, "&limit={limit}");
        }
        let call = Call::new(Method::GET, path_and_query(path)?, Route::Any);
        let deadline = self.deadline();
        let (endpoint, list) = self.call_json_from::<ListResponse>(&call, deadline).await?;
        let entries = list
            .items
            .into_iter()
            .map(|item| {
                let value = match item.encoding.as_deref() {
                    None => Bytes::from(item.value),
                    Some("base64") => base64::engine::general_purpose::STANDARD
                        .decode(item.value.as_bytes())
                        .map(Bytes::from)
                        .map_err(|error| {
                            ClientError::bad_response(
                                &endpoint,
                                format!("key {:?}: invalid base64 value: {error}", item.key),
                            )
                        })?,
                    Some(other) => {
                        return Err(ClientError::bad_response(
                            &endpoint,
                            format!("key {:?}: unknown encoding {other:?}", item.key),
                        ));
                    }
                };
                Ok(ListEntry {
                    key: item.key,
                    value,
                    revision: item.revision,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ListPage {
            entries,
            more: list.more,
        })
    }

    /// The cluster as one node (the leader, when known) sees it.
    pub async fn cluster(&self) -> Result<ClusterResponse, ClientError> {
        let call = Call::new(
            Method::GET,
            path_and_query("/v1/cluster".to_owned())?,
            Route::Any,
        );
        self.call_json(&call).await
    }

    /// The cluster as `endpoint` sees it (no redirects, no retries).
    pub async fn cluster_at(&self, endpoint: &Endpoint) -> Result<ClusterResponse, ClientError> {
        let route = Route::Exactly(endpoint.clone());
        let call = Call::new(
            Method::GET,
            path_and_query("/v1/cluster".to_owned())?,
            route,
        );
        self.call_json(&call).await
    }

    /// `endpoint`'s own status (no redirects, no retries).
    pub async fn status_of(&self, endpoint: &Endpoint) -> Result<NodeStatusInfo, ClientError> {
        let route = Route::Exactly(endpoint.clone());
        let call = Call::new(Method::GET, path_and_query("/v1/status".to_owned())?, route);
        self.call_json(&call).await
    }

    /// Whether `endpoint` answers `GET /health` with success.
    pub async fn health(&self, endpoint: &Endpoint) -> Result<(), ClientError> {
        let route = Route::Exactly(endpoint.clone());
        let call = Call::new(Method::GET, path_and_query("/health".to_owned())?, route);
        self.call_ignoring_body(&call).await
    }

    /// `endpoint`'s metrics, in the Prometheus text format.
    pub async fn metrics(&self, endpoint: &Endpoint) -> Result<String, ClientError> {
        let route = Route::Exactly(endpoint.clone());
        let call = Call::new(Method::GET, path_and_query("/metrics".to_owned())?, route);
        let deadline = self.deadline();
        let (endpoint, response) = self.call_success(&call, deadline).await?;
        let limit_bytes = self.config().max_response_bytes;
        let bytes = self
            .read_bytes(&endpoint, response, deadline, limit_bytes)
            .await?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| ClientError::bad_response(&endpoint, "metrics are not UTF-8"))
    }

    /// Adds a member (through the leader).
    pub async fn add_member(&self, request: &AddMemberRequest) -> Result<(), ClientError> {
        let body = serde_json::to_vec(request)
            .map_err(|error| ClientError::invalid(format!("member request: {error}")))?;
        let path = path_and_query("/v1/cluster/members".to_owned())?;
        let call = Call::new(Method::POST, path, Route::Leader).with_body(body.into(), JSON);
        self.call_ignoring_body(&call).await
    }

    /// Records where member `id` is reached (through the leader). Nodes
    /// call it about themselves; see the server's `peers.rs`.
    pub async fn set_member_address(
        &self,
        id: u64,
        request: &MemberAddressRequest,
    ) -> Result<(), ClientError> {
        let body = serde_json::to_vec(request)
            .map_err(|error| ClientError::invalid(format!("address request: {error}")))?;
        let path = path_and_query(format!("/v1/cluster/members/{id}/address"))?;
        let call = Call::new(Method::PUT, path, Route::Leader).with_body(body.into(), JSON);
        self.call_ignoring_body(&call).await
    }

    /// Removes member `id` (through the leader).
    pub async fn remove_member(&self, id: u64) -> Result<(), ClientError> {
        let path = path_and_query(format!("/v1/cluster/members/{id}"))?;
        self.call_ignoring_body(&Call::new(Method::DELETE, path, Route::Leader))
            .await
    }

    /// Promotes learner `id` to voter (through the leader).
    pub async fn promote(&self, id: u64) -> Result<(), ClientError> {
        let path = path_and_query(format!("/v1/cluster/members/{id}/promote"))?;
        self.call_ignoring_body(&Call::new(Method::POST, path, Route::Leader))
            .await
    }

    /// Asks the leader to hand leadership to voter `to`.
    pub async fn transfer_leader(&self, to: u64) -> Result<(), ClientError> {
        let body = serde_json::to_vec(&TransferLeaderRequest { to })
            .map_err(|error| ClientError::invalid(format!("transfer request: {error}")))?;
        let path = path_and_query("/v1/cluster/leader".to_owned())?;
        let call = Call::new(Method::POST, path, Route::Leader).with_body(body.into(), JSON);
        self.call_ignoring_body(&call).await
    }

    /// Streams a consistent backup into `writer` and returns the bytes
    /// written. The deadline bounds the wait for the stream to start; after
    /// that, each chunk may take up to the timeout, however long the whole
    /// stream is.
    pub async fn snapshot_to<W>(&self, writer: &mut W) -> Result<u64, ClientError>
    where
        W: AsyncWrite + Unpin,
    {
        let path = path_and_query("/v1/snapshot".to_owned())?;
        let call = Call::new(Method::GET, path, Route::Any);
        let (endpoint, response) = self.call_success(&call, self.deadline()).await?;
        let write_error = |source| ClientError::Io {
            path: "snapshot output".to_owned(),
            source,
        };
        let chunk_timeout = self.config().timeout;
        let mut body = response.into_body();
        let mut written_bytes = 0_u64;
        loop {
            let frame =
                timeout(chunk_timeout, body.frame())
                    .await
                    .map_err(|_| ClientError::Timeout {
                        after: chunk_timeout,
                        last: format!(
                            "snapshot stream from {endpoint} stalled after {written_bytes} bytes"
                        ),
                    })?;
            let Some(frame) = frame else { break };
            let frame = frame.map_err(|error| ClientError::ConnectionLost {
                endpoint: endpoint.to_string(),
                reason: format!(
                    "snapshot stream cut after {written_bytes} bytes: {}",
                    error_chain(&error)
                ),
            })?;
            if let Ok(data) = frame.into_data() {
                writer.write_all(&data).await.map_err(write_error)?;
                written_bytes += data.len() as u64;
            }
        }
        writer.flush().await.map_err(write_error)?;
        Ok(written_bytes)
    }

    /// Saves a consistent backup to `path`: streamed to `PATH.tmp`, synced,
    /// then renamed over `path`, so `path` is either absent, the old file,
    /// or the whole new backup. Returns the bytes written.
    pub async fn snapshot_save(&self, path: &Path) -> Result<u64, ClientError> {
        let temporary = temporary_path(path);
        let result = self.snapshot_save_via(path, &temporary).await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&temporary).await;
        }
        result
    }

    async fn snapshot_save_via(&self, path: &Path, temporary: &Path) -> Result<u64, ClientError> {
        let io_error = |file: &Path| {
            let file = file.display().to_string();
            move |source| ClientError::Io { path: file, source }
        };
        let file = tokio::fs::File::create(temporary)
            .await
            .map_err(io_error(temporary))?;
        let mut writer = tokio::io::BufWriter::new(file);
        let written_bytes = self
            .snapshot_to(&mut writer)
            .await
            .map_err(|error| match error {
                ClientError::Io { source, .. } => io_error(temporary)(source),
                other => other,
            })?;
        writer
            .into_inner()
            .sync_all()
            .await
            .map_err(io_error(temporary))?;
        tokio::fs::rename(temporary, path)
            .await
            .map_err(io_error(path))?;
        let directory = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let directory_file = tokio::fs::File::open(directory)
            .await
            .map_err(io_error(directory))?;
        directory_file
            .sync_all()
            .await
            .map_err(io_error(directory))?;
        Ok(written_bytes)
    }

    /// Sends `call` and reads its `2xx` body as `T`.
    pub(super) async fn call_json<T: DeserializeOwned>(
        &self,
        call: &Call,
    ) -> Result<T, ClientError> {
        let (_, value) = self.call_json_from(call, self.deadline()).await?;
        Ok(value)
    }

    /// Sends `call` and reads its `2xx` body as `T`, with who answered.
    pub(super) async fn call_json_from<T: DeserializeOwned>(
        &self,
        call: &Call,
        deadline: Instant,
    ) -> Result<(Endpoint, T), ClientError> {
        let (endpoint, response) = self.call_success(call, deadline).await?;
        let value = self.read_json(&endpoint, response, deadline).await?;
        Ok((endpoint, value))
    }

    /// Sends `call`, expects a `2xx`, and reads and drops its body.
    pub(super) async fn call_ignoring_body(&self, call: &Call) -> Result<(), ClientError> {
        let deadline = self.deadline();
        let (endpoint, response) = self.call_success(call, deadline).await?;
        let limit_bytes = self.config().max_response_bytes;
        self.read_bytes(&endpoint, response, deadline, limit_bytes)
            .await?;
        Ok(())
    }

    /// Sends `call`; any answer but a `2xx` is an error.
    pub(super) async fn call_success(
        &self,
        call: &Call,
        deadline: Instant,
    ) -> Result<(Endpoint, Response<Incoming>), ClientError> {
        match self.call(call, deadline).await? {
            Reply::Success { endpoint, response } => Ok((endpoint, response)),
            Reply::Refused(refusal) => Err(refusal.into_error()),
        }
    }

    pub(super) async fn read_json<T: DeserializeOwned>(
        &self,
        endpoint: &Endpoint,
        response: Response<Incoming>,
        deadline: Instant,
    ) -> Result<T, ClientError> {
        let limit_bytes = self.config().max_response_bytes;
        let body = self
            .read_bytes(endpoint, response, deadline, limit_bytes)
            .await?;
        serde_json::from_slice(&body).map_err(|error| {
            let expected = std::any::type_name::<T>()
                .rsplit("::")
                .next()
                .unwrap_or("JSON");
            ClientError::bad_response(endpoint, format!("not a {expected}: {error}"))
        })
    }

    pub(super) async fn read_bytes(
        &self,
        endpoint: &Endpoint,
        response: Response<Incoming>,
        deadline: Instant,
        limit_bytes: usize,
    ) -> Result<Bytes, ClientError> {
        let read = timeout_at(deadline, read_body(response, limit_bytes)).await;
        match read {
            Ok(Ok(body)) => Ok(body),
            Ok(Err(too_large @ BodyError::TooLarge(_))) => {
                Err(ClientError::bad_response(endpoint, too_large.to_string()))
            }
            Ok(Err(BodyError::Lost(reason))) => Err(ClientError::ConnectionLost {
                endpoint: endpoint.to_string(),
                reason,
            }),
            Err(_elapsed) => Err(ClientError::Timeout {
                after: self.config().timeout,
                last: format!("reading the answer from {endpoint}"),
            }),
        }
    }
}

/// `/v1/kv/{key}`, the key percent-encoded; empty keys are refused.
pub(super) fn kv_path(key: &str) -> Result<String, ClientError> {
    if key.is_empty() {
        return Err(ClientError::invalid("empty key"));
    }
    Ok(format!("/v1/kv/{}", encode_key(key)))
}

/// A revision header's value.
pub(super) fn header_u64(
    endpoint: &Endpoint,
    headers: &HeaderMap,
    name: &str,
) -> Result<u64, ClientError> {
    let value = headers
        .get(name)
        .ok_or_else(|| ClientError::bad_response(endpoint, format!("no {name} header")))?;
    value
        .to_str()
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .ok_or_else(|| ClientError::bad_response(endpoint, format!("{name} is not a number")))
}

/// `PATH.tmp`, beside `path`.
pub(crate) fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn empty_keys_are_refused_before_sending() {
        assert!(matches!(kv_path(""), Err(ClientError::InvalidInput { .. })));
        assert_eq!(kv_path("a b").expect("valid"), "/v1/kv/a%20b");
    }

    #[test]
    fn temporary_files_sit_beside_the_target() {
        assert_eq!(
            temporary_path(Path::new("/x/backup.ordo")),
            Path::new("/x/backup.ordo.tmp")
        );
        assert_eq!(temporary_path(Path::new("b")), Path::new("b.tmp"));
    }

    #[test]
    fn revision_headers_must_be_numbers() {
        let endpoint = Endpoint::parse("http://h:1").expect("valid");
        let mut headers = HeaderMap::new();
        assert!(header_u64(&endpoint, &headers, REVISION_HEADER).is_err());
        headers.insert(REVISION_HEADER, http::HeaderValue::from_static("12"));
        assert_eq!(
            header_u64(&endpoint, &headers, REVISION_HEADER).expect("number"),
            12
        );
        headers.insert(REVISION_HEADER, http::HeaderValue::from_static("-1"));
        assert!(header_u64(&endpoint, &headers, REVISION_HEADER).is_err());
    }
}
