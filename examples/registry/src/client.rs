//! [`Client`]: a registry client that finds the leader. Give it every
//! member's API address; it sends each request to the member it last
//! reached, follows a redirect to the leader, and on a retryable failure
//! (see [`is_retryable`]) tries the next member after a short pause, until
//! [`Client::patience`] runs out. Every write is idempotent, so retrying
//! one whose outcome is unknown is safe.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use tokio::time::{Instant, sleep};
use tokio_stream::StreamExt;
use tonic::transport::{Channel, Endpoint};
use tonic::{Response, Status};

use crate::model::{Pipeline, Service, Sidecar};
use crate::proto;
use crate::proto::backup_service_client::BackupServiceClient;
use crate::proto::registry_client::RegistryClient;
use crate::status::{is_retryable, redirect_address};

/// The pause before trying another member when none named the leader.
const RETRY_PAUSE: Duration = Duration::from_millis(50);
/// The longest a single attempt may take (a member that hangs).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);

/// A client of a registry group.
#[derive(Clone)]
pub struct Client {
    endpoints: Vec<String>,
    /// One channel per member, made on first use (it reconnects by itself).
    channels: BTreeMap<String, Channel>,
    /// Index in `endpoints` of the member to ask next.
    current: usize,
    /// How long one call keeps retrying before it returns the last failure.
    pub patience: Duration,
}

impl Client {
    /// A client of the members at `api_addresses` (`host:port`).
    ///
    /// # Panics
    /// If `api_addresses` is empty.
    pub fn new(api_addresses: impl IntoIterator<Item = impl ToString>) -> Self {
        let endpoints: Vec<String> = api_addresses
            .into_iter()
            .map(|address| address.to_string())
            .collect();
        assert!(!endpoints.is_empty(), "a client needs at least one member");
        Client {
            endpoints,
            channels: BTreeMap::new(),
            current: 0,
            patience: Duration::from_secs(15),
        }
    }

    /// Registers `service` (idempotent).
    ///
    /// # Errors
    /// The rule it breaks, or the last failure once patience runs out.
    pub async fn register_service(
        &mut self,
        service: Service,
    ) -> Result<proto::WriteReply, Status> {
        let request = proto::RegisterServiceRequest {
            service: Some(service.into()),
        };
        self.call(|mut client| {
            let request = request.clone();
            async move { client.register_service(request).await }
        })
        .await
    }

    /// Deregisters the service `service_id`.
    ///
    /// # Errors
    /// As [`register_service`](Self::register_service).
    pub async fn deregister_service(
        &mut self,
        service_id: &str,
    ) -> Result<proto::WriteReply, Status> {
        let request = proto::DeregisterServiceRequest {
            service_id: service_id.to_owned(),
        };
        self.call(|mut client| {
            let request = request.clone();
            async move { client.deregister_service(request).await }
        })
        .await
    }

    /// Registers `sidecar` (idempotent).
    ///
    /// # Errors
    /// As [`register_service`](Self::register_service).
    pub async fn register_sidecar(
        &mut self,
        sidecar: Sidecar,
    ) -> Result<proto::WriteReply, Status> {
        let request = proto::RegisterSidecarRequest {
            sidecar: Some(sidecar.into()),
        };
        self.call(|mut client| {
            let request = request.clone();
            async move { client.register_sidecar(request).await }
        })
        .await
    }

    /// Deregisters the sidecar `sidecar_id`, revoking its pipelines.
    ///
    /// # Errors
    /// As [`register_service`](Self::register_service).
    pub async fn deregister_sidecar(
        &mut self,
        sidecar_id: &str,
    ) -> Result<proto::WriteReply, Status> {
        let request = proto::DeregisterSidecarRequest {
            sidecar_id: sidecar_id.to_owned(),
        };
        self.call(|mut client| {
            let request = request.clone();
            async move { client.deregister_sidecar(request).await }
        })
        .await
    }

    /// Assigns `pipeline` to its sidecar (idempotent).
    ///
    /// # Errors
    /// As [`register_service`](Self::register_service).
    pub async fn assign_pipeline(
        &mut self,
        pipeline: Pipeline,
    ) -> Result<proto::WriteReply, Status> {
        let request = proto::AssignPipelineRequest {
            pipeline: Some(pipeline.into()),
        };
        self.call(|mut client| {
            let request = request.clone();
            async move { client.assign_pipeline(request).await }
        })
        .await
    }

    /// Revokes the pipeline `pipeline_id` from the sidecar `sidecar_id`.
    ///
    /// # Errors
    /// As [`register_service`](Self::register_service).
    pub async fn revoke_pipeline(
        &mut self,
        pipeline_id: &str,
        sidecar_id: &str,
    ) -> Result<proto::WriteReply, Status> {
        let request = proto::RevokePipelineRequest {
            pipeline_id: pipeline_id.to_owned(),
            sidecar_id: sidecar_id.to_owned(),
        };
        self.call(|mut client| {
            let request = request.clone();
            async move { client.revoke_pipeline(request).await }
        })
        .await
    }

    /// Every service, linearizably.
    ///
    /// # Errors
    /// The last failure once patience runs out.
    pub async fn list_services(&mut self) -> Result<Vec<Service>, Status> {
        let reply =
            self.call(|mut client| async move {
                client.list_services(proto::ListRequest::default()).await
            })
            .await?;
        Ok(reply.services.into_iter().map(Into::into).collect())
    }

    /// A backup of the whole state, in the snapshot format.
    ///
    /// # Errors
    /// The last failure once patience runs out.
    pub async fn backup(&mut self) -> Result<Vec<u8>, Status> {
        self.call_backup(|mut client| async move {
            let mut chunks = client.backup(proto::BackupRequest {}).await?.into_inner();
            let mut bytes = Vec::new();
            while let Some(chunk) = chunks.next().await {
                bytes.extend_from_slice(&chunk?.data);
            }
            Ok(Response::new(bytes))
        })
        .await
    }

    /// Replaces the group's whole state with `backup`; answers the log
    /// index at which it did.
    ///
    /// # Errors
    /// INVALID_ARGUMENT for bytes that are not a consistent backup, or the
    /// last failure once patience runs out.
    pub async fn restore(&mut self, backup: &[u8]) -> Result<u64, Status> {
        let chunks: Vec<proto::BackupChunk> = backup
            .chunks(crate::backup::BACKUP_CHUNK_BYTES)
            .map(|chunk| proto::BackupChunk {
                data: chunk.to_vec(),
            })
            .collect();
        let reply = self
            .call_backup(|mut client| {
                let chunks = tokio_stream::iter(chunks.clone());
                async move { client.restore(chunks).await }
            })
            .await?;
        Ok(reply.index)
    }

    async fn call<T, F, Fut>(&mut self, attempt: F) -> Result<T, Status>
    where
        F: FnMut(RegistryClient<Channel>) -> Fut,
        Fut: Future<Output = Result<Response<T>, Status>>,
    {
        self.retrying(RegistryClient::new, attempt).await
    }

    async fn call_backup<T, F, Fut>(&mut self, attempt: F) -> Result<T, Status>
    where
        F: FnMut(BackupServiceClient<Channel>) -> Fut,
        Fut: Future<Output = Result<Response<T>, Status>>,
    {
        self.retrying(BackupServiceClient::new, attempt).await
    }

    /// Runs `attempt` against one member after another until it succeeds,
    /// fails for good, or patience runs out.
    async fn retrying<C, T, F, Fut>(
        &mut self,
        connect: fn(Channel) -> C,
        mut attempt: F,
    ) -> Result<T, Status>
    where
        F: FnMut(C) -> Fut,
        Fut: Future<Output = Result<Response<T>, Status>>,
    {
        let deadline = Instant::now() + self.patience;
        let mut redirected = false;
        loop {
            let channel = self.channel()?;
            let status = match attempt(connect(channel)).await {
                Ok(response) => return Ok(response.into_inner()),
                Err(status) => status,
            };
            if !is_retryable(&status) || Instant::now() >= deadline {
                return Err(status);
            }
            match redirect_address(&status) {
                Some(leader) => {
                    // A second redirect in a row: the members disagree on
                    // the leader (an election is settling). Do not spin.
                    if redirected {
                        sleep(RETRY_PAUSE).await;
                    }
                    redirected = true;
                    self.aim_at(leader);
                }
                None => {
                    redirected = false;
                    self.current = (self.current + 1) % self.endpoints.len();
                    sleep(RETRY_PAUSE).await;
                }
            }
        }
    }

    /// The channel to the current member.
    fn channel(&mut self) -> Result<Channel, Status> {
        let address = &self.endpoints[self.current];
        if let Some(channel) = self.channels.get(address) {
            return Ok(channel.clone());
        }
        let channel = lazy_channel(address)?;
        self.channels.insert(address.clone(), channel.clone());
        Ok(channel)
    }

    /// Sends the next request to `address` (learned from a redirect).
    fn aim_at(&mut self, address: String) {
        match self.endpoints.iter().position(|known| *known == address) {
            Some(index) => self.current = index,
            None => {
                self.endpoints.push(address);
                self.current = self.endpoints.len() - 1;
            }
        }
    }
}

/// A channel to `address` that connects on first use, so a member that is
/// down fails the attempt (UNAVAILABLE) rather than the client.
fn lazy_channel(address: &str) -> Result<Channel, Status> {
    let endpoint = Endpoint::from_shared(format!("http://{address}"))
        .map_err(|error| Status::invalid_argument(format!("bad address {address:?}: {error}")))?
        .connect_timeout(ATTEMPT_TIMEOUT)
        .timeout(ATTEMPT_TIMEOUT);
    Ok(endpoint.connect_lazy())
}
