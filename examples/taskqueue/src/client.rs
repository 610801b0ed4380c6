//! [`Client`]: talks to a cluster through any of its nodes. It follows
//! redirects to the leader, and on a refused connection, a timeout or an
//! election moves to the next node and tries again, for up to
//! [`Client::with_patience`] (10 s by default).
//!
//! Retrying is safe for acks and nacks (the same token is answered the same
//! way twice). A claim or enqueue whose first try's outcome is unknown may
//! have happened: a retried claim may leave a claim nobody holds, which
//! expires and delivers the task again; a retried enqueue may enqueue twice.
//! This is the at-least-once half of the queue's contract.

use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

use crate::command::{ClaimedTask, QueueStats, Refusal};
use crate::protocol::{Request, Response, read_frame, write_frame};
use crate::state::{ClaimToken, TaskId};

/// How long one try may take before the next node is tried (a node waits
/// 3 s for a proposal to commit).
const TRY_TIMEOUT: Duration = Duration::from_secs(4);
/// Pause before retrying when no leader is known.
const RETRY_PAUSE: Duration = Duration::from_millis(25);

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The ack or nack was refused by the queue's rules.
    #[error("refused: {0}")]
    Refused(#[from] Refusal),
    /// The request breaks a limit.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// No node answered it within the patience.
    #[error("no node answered in time (last: {last})")]
    Unreachable {
        /// The last failure seen.
        last: String,
    },
    /// A node answered something that does not fit the request.
    #[error("unexpected answer: {0:?}")]
    Unexpected(Box<Response>),
}

/// A connection to a cluster (one node at a time).
pub struct Client {
    addresses: Vec<String>,
    current: usize,
    connection: Option<TcpStream>,
    patience: Duration,
}

impl Client {
    /// A client of the nodes at `addresses` (client ports, `HOST:PORT`).
    pub fn new(addresses: Vec<String>) -> Self {
        Client {
            addresses,
            current: 0,
            connection: None,
            patience: Duration::from_secs(10),
        }
    }

    /// Gives up on a call after `patience` of retries.
    pub fn with_patience(mut self, patience: Duration) -> Self {
        self.patience = patience;
        self
    }

    /// Enqueues `payload` on `queue`; returns the task's id.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn enqueue(&mut self, queue: &str, payload: Vec<u8>) -> Result<TaskId, ClientError> {
        let request = Request::Enqueue {
            queue: queue.to_owned(),
            payload,
        };
        match self.call(&request).await? {
            Response::Enqueued { task_id } => Ok(task_id),
            other => Err(ClientError::Unexpected(Box::new(other))),
        }
    }

    /// Claims the next task of `queue` for `visibility_timeout`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn claim(
        &mut self,
        queue: &str,
        worker: &str,
        visibility_timeout: Duration,
    ) -> Result<Option<ClaimedTask>, ClientError> {
        let request = Request::Claim {
            queue: queue.to_owned(),
            worker: worker.to_owned(),
            visibility_timeout_ms: u64::try_from(visibility_timeout.as_millis())
                .unwrap_or(u64::MAX),
        };
        match self.call(&request).await? {
            Response::Claimed { task } => Ok(task),
            other => Err(ClientError::Unexpected(Box::new(other))),
        }
    }

    /// Acks a claimed task.
    ///
    /// # Errors
    /// [`ClientError::Refused`] if the claim is no longer held, else [`ClientError`].
    pub async fn ack(&mut self, task_id: TaskId, token: ClaimToken) -> Result<(), ClientError> {
        self.done(&Request::Ack { task_id, token }).await
    }

    /// Nacks a claimed task.
    ///
    /// # Errors
    /// As [`ack`](Self::ack).
    pub async fn nack(&mut self, task_id: TaskId, token: ClaimToken) -> Result<(), ClientError> {
        self.done(&Request::Nack { task_id, token }).await
    }

    /// Counts of `queue`'s tasks (all queues' with `None`), linearizable.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn stats(&mut self, queue: Option<&str>) -> Result<QueueStats, ClientError> {
        let request = Request::Stats {
            queue: queue.map(str::to_owned),
        };
        match self.call(&request).await? {
            Response::Stats(stats) => Ok(stats),
            other => Err(ClientError::Unexpected(Box::new(other))),
        }
    }

    async fn done(&mut self, request: &Request) -> Result<(), ClientError> {
        match self.call(request).await? {
            Response::Done => Ok(()),
            Response::Refused(refusal) => Err(ClientError::Refused(refusal)),
            other => Err(ClientError::Unexpected(Box::new(other))),
        }
    }

    /// Sends `request` until a node answers it for good.
    ///
    /// # Errors
    /// [`ClientError::Invalid`] or [`ClientError::Unreachable`].
    pub async fn call(&mut self, request: &Request) -> Result<Response, ClientError> {
        let give_up = Instant::now() + self.patience;
        let mut last = String::from("no node tried");
        while Instant::now() < give_up {
            match self.try_once(request).await {
                Ok(Response::NotLeader {
                    leader_address: Some(leader),
                    ..
                }) => self.go_to(leader).await,
                Ok(Response::NotLeader { .. }) => {
                    last = "no leader known".into();
                    self.next_node().await;
                }
                Ok(Response::Unavailable(why)) => {
                    last = why;
                    self.next_node().await;
                }
                Ok(Response::Invalid(why)) => return Err(ClientError::Invalid(why)),
                Ok(answer) => return Ok(answer),
                Err(why) => {
                    last = why;
                    self.next_node().await;
                }
            }
        }
        Err(ClientError::Unreachable { last })
    }

    async fn try_once(&mut self, request: &Request) -> Result<Response, String> {
        let address = self
            .addresses
            .get(self.current)
            .ok_or("no addresses")?
            .clone();
        let connection = match self.connection.take() {
            Some(connection) => connection,
            None => timeout(TRY_TIMEOUT, TcpStream::connect(&address))
                .await
                .map_err(|_| format!("{address}: connect timed out"))?
                .map_err(|error| format!("{address}: {error}"))?,
        };
        let mut connection = connection;
        let exchange = async {
            write_frame(&mut connection, request).await?;
            read_frame::<_, Response>(&mut connection).await
        };
        let response = timeout(TRY_TIMEOUT, exchange)
            .await
            .map_err(|_| format!("{address}: no answer in time"))?
            .map_err(|error| format!("{address}: {error}"))?;
        self.connection = Some(connection);
        Ok(response)
    }

    async fn go_to(&mut self, address: String) {
        self.connection = None;
        let position = self.addresses.iter().position(|known| *known == address);
        if position == Some(self.current) {
            // Sent back here: the leader is changing; let it settle.
            tokio::time::sleep(RETRY_PAUSE).await;
        }
        self.current = position.unwrap_or_else(|| {
            self.addresses.push(address);
            self.addresses.len() - 1
        });
    }

    async fn next_node(&mut self) {
        self.connection = None;
        self.current = (self.current + 1) % self.addresses.len().max(1);
        tokio::time::sleep(RETRY_PAUSE).await;
    }
}
