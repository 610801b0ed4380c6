//! One Watch stream: its watches, each fed by a task that pumps a
//! [`WatchStream`] (the same one the SSE endpoint uses) into the stream's
//! shared outbox.
//!
//! # As etcd does it
//! - `created` comes first for each watch, before any of its events; its
//!   `watch_id` is the client's (if not 0 and not in use) or the next id
//!   the server has not given out on this stream.
//! - A start below the compact revision answers `created`, then `canceled`
//!   with `compact_revision`; the watch ends. A start exactly at it is
//!   allowed: its puts are read from the state at it (its deletes are gone,
//!   in etcd too), the rest from history.
//! - Filters drop `PUT` or `DELETE` events; a revision left with none
//!   sends nothing.
//! - `progress_notify` sends an empty response every
//!   [`DEFAULT_PROGRESS_INTERVAL`] without events, at a revision up to
//!   which every event in the range was sent.
//! - A progress request answers `watch_id` -1 at the lowest revision every
//!   watch of the stream has been sent up to (the node's revision when it
//!   has none), so it never passes an event not yet sent.
//!
//! - While auth is on, a create the stream's user may not read whole
//!   answers `created`, then `canceled` with "etcdserver: permission
//!   denied"; the stream and its other watches go on.
//!
//! Limits: [`MAX_WATCHES_PER_STREAM`] watches on one stream (the hub caps
//! them node-wide too); the outbox holds [`OUTBOX_RESPONSES`] responses, a
//! slow client stalls its own watch tasks, whose queues then fall behind
//! and catch up from history as on the SSE endpoint.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tonic::{Status, Streaming};

use crate::auth::Access;
use crate::server::etcd::EtcdService;
use crate::server::etcd::auth_gate::{PERMISSION_DENIED, permitted};
use crate::server::etcd::convert::{key_value, unsigned};
use crate::server::etcd::failure::COMPACTED;
use crate::server::etcd::header::{header, signed};
use crate::server::etcd::pb::etcdserverpb::{
    WatchCreateRequest, WatchRequest, WatchResponse, watch_create_request::FilterType,
    watch_request::RequestUnion,
};
use crate::server::etcd::pb::mvccpb;
use crate::server::http::auth_gate::Caller;
use crate::server::watch::endpoint::DEFAULT_PROGRESS_INTERVAL;
use crate::server::watch::index::WatchRange;
use crate::server::watch::stream::{Change, Message, OpenError, Start, WatchOptions, WatchStream};
use crate::store::{Event, EventKind, KeyRange, KvAnswer, KvError, KvQuery, RangeRequest};
use ordo::ReadConsistency;

/// Responses waiting for the client, per stream.
pub(crate) const OUTBOX_RESPONSES: usize = 256;
/// Most watches on one stream.
pub(crate) const MAX_WATCHES_PER_STREAM: usize = 1024;
/// The `watch_id` of a progress answer (etcd's `InvalidWatchID`).
const PROGRESS_WATCH_ID: i64 = -1;

type Outbox = mpsc::Sender<Result<WatchResponse, Status>>;

/// One running watch.
struct RunningWatch {
    task: JoinHandle<()>,
    /// Every event in its range up to this revision has been sent.
    sent_up_to: Arc<AtomicU64>,
}

/// One client stream and its watches.
pub(crate) struct WatchSession {
    service: EtcdService,
    outbox: Outbox,
    /// Who opened the stream (while auth is on): each watch's range is
    /// checked against it when the watch is created, as etcd does.
    caller: Option<Caller>,
    watches: HashMap<i64, RunningWatch>,
    /// The next id the server picks: ids only go up, as etcd's, so an id
    /// is never reused on a stream.
    next_watch_id: i64,
}

impl WatchSession {
    /// A session for `caller` answering into `outbox`.
    pub(crate) fn new(service: EtcdService, caller: Option<Caller>, outbox: Outbox) -> Self {
        WatchSession {
            service,
            outbox,
            caller,
            watches: HashMap::new(),
            next_watch_id: 0,
        }
    }

    /// Serves `requests` until the client closes its side or goes away;
    /// then every watch of the stream ends.
    pub(crate) async fn run(mut self, mut requests: Streaming<WatchRequest>) {
        loop {
            let request = tokio::select! {
                request = requests.message() => request,
                () = self.outbox.closed() => break,
            };
            let Ok(Some(request)) = request else {
                break;
            };
            self.watches.retain(|_, watch| !watch.task.is_finished());
            match request.request_union {
                Some(RequestUnion::CreateRequest(create)) => self.create(create).await,
                Some(RequestUnion::CancelRequest(cancel)) => self.cancel(cancel.watch_id).await,
                Some(RequestUnion::ProgressRequest(_)) => self.progress().await,
                None => {}
            }
        }
        for watch in self.watches.values() {
            watch.task.abort();
        }
    }

    async fn create(&mut self, create: WatchCreateRequest) {
        let watch_id = if create.watch_id != 0 {
            create.watch_id
        } else {
            while self.watches.contains_key(&self.next_watch_id) {
                self.next_watch_id = self.next_watch_id.saturating_add(1);
            }
            let picked = self.next_watch_id;
            self.next_watch_id = self.next_watch_id.saturating_add(1);
            picked
        };
        let refusal = if self.watches.contains_key(&watch_id) {
            Some("mvcc: duplicate watch ID provided on the WatchStream".to_owned())
        } else if self.watches.len() >= MAX_WATCHES_PER_STREAM {
            Some(format!(
                "etcdserver: too many watches on one stream (at most {MAX_WATCHES_PER_STREAM})"
            ))
        } else if !self.may_read(&create) {
            Some(PERMISSION_DENIED.to_owned())
        } else {
            watch_range(&create).err()
        };
        if let Some(reason) = refusal {
            let response = WatchResponse {
                watch_id,
                created: true,
                canceled: true,
                cancel_reason: reason,
                ..self.response_now()
            };
            let _ = self.outbox.send(Ok(response)).await;
            return;
        }
        let sent_up_to = Arc::new(AtomicU64::new(0));
        let pump = WatchPump {
            service: self.service.clone(),
            outbox: self.outbox.clone(),
            watch_id,
            create,
            sent_up_to: Arc::clone(&sent_up_to),
        };
        // Opened and answered here, in request order, as etcd does: a
        // client matches `created` answers to its creates in order.
        let Some(stream) = pump.open().await else {
            return;
        };
        let task = tokio::spawn(pump.run(stream));
        self.watches
            .insert(watch_id, RunningWatch { task, sent_up_to });
    }

    /// Whether the stream's caller may read every key `create` watches.
    fn may_read(&self, create: &WatchCreateRequest) -> bool {
        let range = KeyRange {
            key: create.key.clone(),
            range_end: create.range_end.clone(),
        };
        permitted(self.caller.as_ref(), Access::Read, &range).is_ok()
    }

    async fn cancel(&mut self, watch_id: i64) {
        let Some(watch) = self.watches.remove(&watch_id) else {
            return;
        };
        watch.task.abort();
        let response = WatchResponse {
            watch_id,
            canceled: true,
            ..self.response_now()
        };
        let _ = self.outbox.send(Ok(response)).await;
    }

    async fn progress(&mut self) {
        let mut response = self.response_now();
        let lowest = self
            .watches
            .values()
            .map(|watch| watch.sent_up_to.load(Ordering::Acquire))
            .min();
        if let (Some(lowest), Some(header)) = (lowest, response.header.as_mut()) {
            header.revision = signed(lowest);
        }
        response.watch_id = PROGRESS_WATCH_ID;
        let _ = self.outbox.send(Ok(response)).await;
    }

    fn response_now(&self) -> WatchResponse {
        let state = &self.service.state;
        WatchResponse {
            header: header(state, self.service.ids, state.watch_hub.last_revision()),
            ..WatchResponse::default()
        }
    }
}

/// The keys a create request names, in the hub's terms.
fn watch_range(create: &WatchCreateRequest) -> Result<WatchRange, String> {
    if create.range_end.is_empty() {
        return Ok(WatchRange::Key(create.key.clone()));
    }
    let to_the_end = create.range_end[..] == [0];
    if !to_the_end && create.range_end <= create.key {
        return Err("etcdserver: range_end must come after key".to_owned());
    }
    Ok(WatchRange::Range(KeyRange {
        key: create.key.clone(),
        range_end: create.range_end.clone(),
    }))
}

/// One watch: opens its stream, then (in its own task) sends its messages.
struct WatchPump {
    service: EtcdService,
    outbox: Outbox,
    watch_id: i64,
    create: WatchCreateRequest,
    sent_up_to: Arc<AtomicU64>,
}

impl WatchPump {
    /// Opens the watch's stream and answers `created` (then, if it cannot
    /// go on, why); `None` when it ended there.
    async fn open(&self) -> Option<WatchStream<ordo::RaftNode<crate::store::KvStore>>> {
        let range = watch_range(&self.create).ok()?;
        let state = &self.service.state;
        let options = WatchOptions {
            range,
            start: match unsigned(self.create.start_revision) {
                0 => Start::Now,
                revision => Start::At(revision),
            },
            prev_kv: self.create.prev_kv,
            progress_interval: self
                .create
                .progress_notify
                .then_some(DEFAULT_PROGRESS_INTERVAL),
        };
        let mut opened =
            WatchStream::open(&state.watch_hub, state.node.clone(), options.clone()).await;
        let mut at_compaction = Ok(None);
        if let Err(OpenError::Compacted {
            revision,
            compact_revision,
        }) = &opened
            && revision == compact_revision
        {
            // etcd allows a start at the compact revision (only below it is
            // compacted): that revision's puts are still held, so they are
            // read as a range and the stream goes on from the next one. Its
            // deletes are gone, as in etcd.
            let revision = *revision;
            at_compaction = self.puts_at(revision, &options.range).await.map(Some);
            let after = WatchOptions {
                start: Start::At(revision.saturating_add(1)),
                ..options
            };
            opened = WatchStream::open(&state.watch_hub, state.node.clone(), after).await;
        }
        let created = WatchResponse {
            watch_id: self.watch_id,
            created: true,
            ..self.response(state.watch_hub.last_revision())
        };
        if !self.send(created).await {
            return None;
        }
        let (stream, at_compaction) = match (opened, at_compaction) {
            (Ok(stream), Ok(change)) => (stream, change),
            (Err(error), _) | (Ok(_), Err(error)) => {
                self.send(self.open_failure(error)).await;
                return None;
            }
        };
        if let Some(change) = at_compaction
            && let Some(response) = self.response_to(Message::Change(change))
            && !self.send(response).await
        {
            return None;
        }
        Some(stream)
    }

    /// The puts at `revision` in `range`, read from the state at it (for a
    /// start at the compact revision, whose change log is gone).
    async fn puts_at(&self, revision: u64, range: &WatchRange) -> Result<Change, OpenError> {
        let request = RangeRequest {
            revision,
            min_mod_revision: revision,
            max_mod_revision: revision,
            ..RangeRequest::new(range.key_range())
        };
        let answer = self
            .service
            .state
            .node
            .read_with(KvQuery::Range(request), ReadConsistency::Stale)
            .await
            .map_err(|error| OpenError::Unavailable(error.to_string()))?;
        match answer {
            KvAnswer::Range(range) => Ok(Change {
                revision,
                events: range
                    .kvs
                    .into_iter()
                    .map(|kv| Event {
                        kind: EventKind::Put,
                        kv,
                        prev_kv: None,
                    })
                    .collect(),
            }),
            KvAnswer::Refused(KvError::Compacted {
                revision,
                compact_revision,
            }) => Err(OpenError::Compacted {
                revision,
                compact_revision,
            }),
            KvAnswer::Refused(other) => Err(OpenError::Unavailable(other.to_string())),
            _ => Err(OpenError::Unavailable(
                "the store answered a range with something else".to_owned(),
            )),
        }
    }

    /// Sends the stream's messages until it ends or the client is gone.
    async fn run(self, mut stream: WatchStream<ordo::RaftNode<crate::store::KvStore>>) {
        while let Some(message) = stream.next_message().await {
            let Some(response) = self.response_to(message) else {
                continue;
            };
            if !self.send(response).await {
                return;
            }
        }
    }

    /// The response to `message`; `None` when there is nothing to send.
    fn response_to(&self, message: Message) -> Option<WatchResponse> {
        match message {
            Message::Progress(revision) => {
                self.sent_up_to.store(revision, Ordering::Release);
                self.create.progress_notify.then(|| WatchResponse {
                    watch_id: self.watch_id,
                    ..self.response(revision)
                })
            }
            Message::Change(change) => {
                self.sent_up_to.store(change.revision, Ordering::Release);
                let events = self.events(change);
                (!events.is_empty()).then(|| WatchResponse {
                    watch_id: self.watch_id,
                    events,
                    ..self.response(self.service.state.watch_hub.last_revision())
                })
            }
            Message::Compacted { compact_revision } => Some(self.compacted(compact_revision)),
            Message::Cancelled(reason) => Some(WatchResponse {
                watch_id: self.watch_id,
                canceled: true,
                cancel_reason: reason,
                ..self.response(self.service.state.watch_hub.last_revision())
            }),
        }
    }

    /// `change`'s events, less those the filters drop.
    fn events(&self, change: Change) -> Vec<mvccpb::Event> {
        let filters = &self.create.filters;
        let no_put = filters.contains(&(FilterType::Noput as i32));
        let no_delete = filters.contains(&(FilterType::Nodelete as i32));
        change
            .events
            .into_iter()
            .filter(|event| match event.kind {
                EventKind::Put => !no_put,
                EventKind::Delete => !no_delete,
            })
            .map(|event| mvccpb::Event {
                r#type: match event.kind {
                    EventKind::Put => mvccpb::event::EventType::Put as i32,
                    EventKind::Delete => mvccpb::event::EventType::Delete as i32,
                },
                kv: Some(key_value(event.kv)),
                prev_kv: event.prev_kv.map(key_value),
            })
            .collect()
    }

    fn open_failure(&self, error: OpenError) -> WatchResponse {
        match error {
            OpenError::Compacted {
                compact_revision, ..
            } => self.compacted(compact_revision),
            other => WatchResponse {
                watch_id: self.watch_id,
                canceled: true,
                cancel_reason: format!("etcdserver: {other}"),
                ..self.response(self.service.state.watch_hub.last_revision())
            },
        }
    }

    fn compacted(&self, compact_revision: u64) -> WatchResponse {
        WatchResponse {
            watch_id: self.watch_id,
            canceled: true,
            compact_revision: signed(compact_revision),
            cancel_reason: COMPACTED.to_owned(),
            ..self.response(self.service.state.watch_hub.last_revision())
        }
    }

    fn response(&self, revision: u64) -> WatchResponse {
        WatchResponse {
            header: header(&self.service.state, self.service.ids, revision),
            ..WatchResponse::default()
        }
    }

    /// Sends `response`; false once the client is gone.
    async fn send(&self, response: WatchResponse) -> bool {
        self.outbox.send(Ok(response)).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    #[test]
    fn a_range_end_before_the_key_is_refused_but_zero_means_to_the_end() {
        let create = |key: &'static [u8], end: &'static [u8]| WatchCreateRequest {
            key: Bytes::from_static(key),
            range_end: Bytes::from_static(end),
            ..WatchCreateRequest::default()
        };
        assert!(watch_range(&create(b"b", b"a")).is_err());
        assert!(watch_range(&create(b"b", b"\0")).is_ok());
        assert_eq!(
            watch_range(&create(b"k", b"")).ok(),
            Some(WatchRange::Key(Bytes::from_static(b"k")))
        );
    }
}
