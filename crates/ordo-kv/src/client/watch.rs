//! [`Client::watch`]: a stream of changes to a key, prefix or range that
//! survives disconnects, node failures and leader changes.
//!
//! A task reads `GET /v1/watch` (Server-Sent Events, parsed in `sse.rs`)
//! and forwards each message into a bounded channel the [`WatchStream`]
//! reads. When the connection ends, fails, goes quiet for three progress
//! intervals, or the node refuses with a retryable status, it reconnects to
//! the next endpoint, backing off, with `start_revision` = the last
//! revision delivered + 1.
//!
//! Invariant: the revisions of the changes yielded strictly increase, and
//! none is skipped: `next_revision` moves only past a change yielded, or,
//! when no start revision was asked for, to just after the first
//! `progress` message's revision (where the server starts such a stream).
//! A change at a revision below `next_revision` (a node replaying) is
//! dropped. Later progress messages never move it: they are yielded, but
//! a catching-up node's progress does not promise that everything before
//! it was sent.
//!
//! The stream ends, after one error, on `compacted`
//! ([`ClientError::Compacted`]: history before the next revision is gone),
//! on `cancelled` ([`ClientError::WatchCancelled`]: the node could not keep
//! the watcher up; watch again from the last revision), or on an answer
//! that is not retryable (a `400`: the watch itself is malformed). Dropping
//! the stream stops the task.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Method, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::endpoint::{encode_query_value, path_and_query};
use super::http::error_chain;
use super::kv_ops::with_query;
use super::routing::{Backoff, Call, Reply, Route};
use super::sse::{SseMessage, SseParser};
use super::{Client, ClientError, Endpoint};
use crate::api::{WatchChange, WatchEnd, WatchProgress};

/// Items buffered between the reading task and the stream's consumer; past
/// it the task stops reading (and the node buffers, or cancels us).
pub const WATCH_BUFFER_ITEMS: usize = 64;
/// Without `progress_interval`, the server's default (10 s) is assumed.
const SERVER_DEFAULT_PROGRESS_INTERVAL: Duration = Duration::from_secs(10);
/// Quiet progress intervals before a connection is taken for dead.
const QUIET_INTERVALS_BEFORE_RECONNECT: u32 = 3;

/// Which keys a watch covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchKeys {
    /// One key.
    Key(String),
    /// Every key starting with this.
    Prefix(String),
    /// Every key in `[start, end)`.
    Range {
        /// The first key.
        start: String,
        /// The end, exclusive.
        end: String,
    },
}

/// What [`Client::watch`] watches and from where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchOptions {
    /// The keys watched.
    pub keys: WatchKeys,
    /// The first revision wanted (`None`: changes after the node's current
    /// revision).
    pub start_revision: Option<u64>,
    /// Ask for each key's previous value.
    pub prev_kv: bool,
    /// How often a quiet stream gets a progress message (`None`: the
    /// server's default; zero: none, and then a dead connection that is not
    /// closed is never noticed).
    pub progress_interval: Option<Duration>,
}

impl WatchOptions {
    /// Watches one key, from now.
    pub fn key(key: impl Into<String>) -> Self {
        Self::of(WatchKeys::Key(key.into()))
    }

    /// Watches every key with `prefix`, from now.
    pub fn prefix(prefix: impl Into<String>) -> Self {
        Self::of(WatchKeys::Prefix(prefix.into()))
    }

    /// Watches `keys`, from now.
    pub fn of(keys: WatchKeys) -> Self {
        Self {
            keys,
            start_revision: None,
            prev_kv: false,
            progress_interval: None,
        }
    }

    /// The same watch, starting at `revision`.
    pub fn from_revision(mut self, revision: u64) -> Self {
        self.start_revision = Some(revision);
        self
    }

    /// The same watch, with previous values.
    pub fn with_prev_kv(mut self) -> Self {
        self.prev_kv = true;
        self
    }

    /// The query string for a stream starting at `start_revision`.
    fn path(&self, start_revision: Option<u64>) -> String {
        let mut query = match &self.keys {
            WatchKeys::Key(key) => vec![format!("key={}", encode_query_value(key))],
            WatchKeys::Prefix(prefix) => vec![format!("prefix={}", encode_query_value(prefix))],
            WatchKeys::Range { start, end } => vec![
                format!("key={}", encode_query_value(start)),
                format!("range_end={}", encode_query_value(end)),
            ],
        };
        if let Some(revision) = start_revision {
            query.push(format!("start_revision={revision}"));
        }
        if self.prev_kv {
            query.push("prev_kv=true".to_owned());
        }
        if let Some(interval) = self.progress_interval {
            query.push(format!("progress_interval={}ms", interval.as_millis()));
        }
        with_query("/v1/watch".to_owned(), &query)
    }

    /// How long a connection may stay silent before it is taken for dead.
    fn quiet_limit(&self) -> Option<Duration> {
        let interval = self
            .progress_interval
            .unwrap_or(SERVER_DEFAULT_PROGRESS_INTERVAL);
        (!interval.is_zero()).then(|| interval * QUIET_INTERVALS_BEFORE_RECONNECT)
    }
}

/// One item of a [`WatchStream`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchItem {
    /// Every watched event of one revision.
    Change(WatchChange),
    /// The node's revision: a quiet watcher's sign of life. The first one
    /// of a watch without a start revision says where it starts.
    Progress {
        /// The node's applied revision.
        revision: u64,
    },
}

/// The changes of a watch, in revision order. Read it with
/// [`next`](Self::next) or as a [`futures_core::Stream`].
///
/// Across disconnects, node failures and leader changes it reconnects (the
/// next endpoint, backing off) at the revision after the last change it
/// yielded, so no revision is skipped or repeated. It ends, after one
/// error, on [`ClientError::Compacted`], [`ClientError::WatchCancelled`] or
/// an answer that is not retryable (a malformed watch). Dropping it stops
/// the reading task.
#[derive(Debug)]
pub struct WatchStream {
    items: mpsc::Receiver<Result<WatchItem, ClientError>>,
    task: JoinHandle<()>,
}

impl WatchStream {
    /// The next item; `None` once the stream has ended (after its error).
    pub async fn next(&mut self) -> Option<Result<WatchItem, ClientError>> {
        self.items.recv().await
    }
}

impl futures_core::Stream for WatchStream {
    type Item = Result<WatchItem, ClientError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.items.poll_recv(cx)
    }
}

impl Drop for WatchStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Client {
    /// Watches `options.keys`; see [`WatchStream`] for what the stream
    /// guarantees across failures.
    pub fn watch(&self, options: WatchOptions) -> WatchStream {
        let (sender, items) = mpsc::channel(WATCH_BUFFER_ITEMS);
        let watcher = Watcher {
            client: self.clone(),
            next_revision: options.start_revision,
            options,
            items: sender,
        };
        let task = tokio::spawn(watcher.run());
        WatchStream { items, task }
    }
}

/// The reading task's state.
struct Watcher {
    client: Client,
    options: WatchOptions,
    /// The first revision not yet yielded (`None`: not known yet).
    next_revision: Option<u64>,
    items: mpsc::Sender<Result<WatchItem, ClientError>>,
}

/// How one connection ended.
enum StreamEnd {
    /// Reconnect (after a pause unless it delivered something).
    Reconnect { reason: String, delivered: bool },
    /// Stop, telling the consumer this (if anything).
    Stop(Option<ClientError>),
}

impl Watcher {
    async fn run(mut self) {
        let config = self.client.config().clone();
        let endpoints = config.endpoints.clone();
        let mut cursor = self
            .client
            .leader_hint()
            .and_then(|leader| endpoints.iter().position(|known| *known == leader))
            .unwrap_or(0);
        let mut backoff = Backoff::new(config.backoff_initial, config.backoff_max);
        loop {
            let endpoint = endpoints[cursor % endpoints.len()].clone();
            match self.connect_and_read(&endpoint).await {
                StreamEnd::Stop(error) => {
                    if let Some(error) = error {
                        let _ = self.items.send(Err(error)).await;
                    }
                    return;
                }
                StreamEnd::Reconnect { reason, delivered } => {
                    tracing::debug!(%endpoint, %reason, "watch reconnecting");
                    if delivered {
                        backoff = Backoff::new(config.backoff_initial, config.backoff_max);
                    }
                    cursor += 1;
                    tokio::time::sleep(backoff.next_pause()).await;
                }
            }
        }
    }

    async fn connect_and_read(&mut self, endpoint: &Endpoint) -> StreamEnd {
        let path = match path_and_query(self.options.path(self.next_revision)) {
            Ok(path) => path,
            Err(error) => return StreamEnd::Stop(Some(error)),
        };
        let call = Call::new(Method::GET, path, Route::Exactly(endpoint.clone()));
        let reconnect = |reason: String| StreamEnd::Reconnect {
            reason,
            delivered: false,
        };
        match self.client.call(&call, self.client.deadline()).await {
            Ok(Reply::Success { response, .. }) => self.read(endpoint, response.into_body()).await,
            Ok(Reply::Refused(refusal)) => {
                let status = refusal.status;
                // Busy, no leader, unavailable, a proxy's 502: another node
                // (or this one, later) may serve the watch.
                let retryable = status == StatusCode::TOO_MANY_REQUESTS
                    || status.is_server_error() && status != StatusCode::INSUFFICIENT_STORAGE;
                if retryable {
                    reconnect(format!("answered {status}: {}", refusal.body.error))
                } else {
                    StreamEnd::Stop(Some(refusal.into_error()))
                }
            }
            Err(
                error @ (ClientError::Unreachable { .. }
                | ClientError::ConnectionLost { .. }
                | ClientError::Timeout { .. }),
            ) => reconnect(error.to_string()),
            Err(error) => StreamEnd::Stop(Some(error)),
        }
    }

    /// Reads one connection's messages until it ends.
    async fn read(&mut self, endpoint: &Endpoint, mut body: Incoming) -> StreamEnd {
        let mut parser = SseParser::new(self.client.config().max_response_bytes);
        let quiet_limit = self.options.quiet_limit();
        let mut delivered = false;
        loop {
            let frame = match quiet_limit {
                Some(limit) => match tokio::time::timeout(limit, body.frame()).await {
                    Ok(frame) => frame,
                    Err(_) => {
                        let reason = format!("nothing for {limit:?}");
                        return StreamEnd::Reconnect { reason, delivered };
                    }
                },
                None => body.frame().await,
            };
            let data = match frame {
                None => {
                    let reason = "the stream ended".to_owned();
                    return StreamEnd::Reconnect { reason, delivered };
                }
                Some(Err(error)) => {
                    let reason = error_chain(&error);
                    return StreamEnd::Reconnect { reason, delivered };
                }
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => data,
                    Err(_trailers) => continue,
                },
            };
            let messages = match parser.push(&data) {
                Ok(messages) => messages,
                Err(error) => {
                    let error = ClientError::bad_response(endpoint, error.to_string());
                    return StreamEnd::Stop(Some(error));
                }
            };
            for message in messages {
                match self.take(endpoint, message) {
                    Ok(None) => {}
                    Ok(Some(item)) => {
                        delivered = true;
                        if self.items.send(Ok(item)).await.is_err() {
                            return StreamEnd::Stop(None);
                        }
                    }
                    Err(error) => return StreamEnd::Stop(Some(error)),
                }
            }
        }
    }

    /// What one message means for the consumer; moves `next_revision`.
    fn take(
        &mut self,
        endpoint: &Endpoint,
        message: SseMessage,
    ) -> Result<Option<WatchItem>, ClientError> {
        match message.event.as_str() {
            "change" => {
                let change: WatchChange = parse(endpoint, &message)?;
                if self
                    .next_revision
                    .is_some_and(|next| change.revision < next)
                {
                    return Ok(None);
                }
                self.next_revision = Some(change.revision + 1);
                Ok(Some(WatchItem::Change(change)))
            }
            "progress" => {
                let progress: WatchProgress = parse(endpoint, &message)?;
                if self.next_revision.is_none() {
                    self.next_revision = Some(progress.revision + 1);
                }
                Ok(Some(WatchItem::Progress {
                    revision: progress.revision,
                }))
            }
            "compacted" => {
                let end: WatchEnd = parse(endpoint, &message)?;
                Err(ClientError::Compacted {
                    endpoint: endpoint.to_string(),
                    compact_revision: end.compact_revision.unwrap_or(0),
                })
            }
            "cancelled" => {
                let end: WatchEnd = parse(endpoint, &message)?;
                Err(ClientError::WatchCancelled {
                    endpoint: endpoint.to_string(),
                    reason: end.reason,
                })
            }
            _ => Ok(None),
        }
    }
}

fn parse<T: serde::de::DeserializeOwned>(
    endpoint: &Endpoint,
    message: &SseMessage,
) -> Result<T, ClientError> {
    serde_json::from_str(&message.data).map_err(|error| {
        ClientError::bad_response(
            endpoint,
            format!("watch `{}` message: {error}", message.event),
        )
    })
}
