//! `GET /v1/watch`: checks the request, opens a `WatchStream` and sends
//! its messages as Server-Sent Events.
//!
//! Statuses before the stream starts: 400 `bad_request` (both `key` and
//! `prefix`, neither, `range_end` with `prefix` or not after `key`, an
//! empty key, a revision or `Last-Event-ID` that is not a number, a
//! `progress_interval` that is not `0` or between 100ms and 24h, an unknown
//! parameter); 413 `too_large` (a key, prefix or range end over the key
//! limit); 410 `compacted` with `compact_revision` (the start is compacted);
//! 429 `busy` (the node has its most watchers); 503 `unavailable` (the node
//! is stopping or cannot read).

use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use serde::Deserialize;

use crate::api::{ErrorBody, WatchEnd, WatchProgress, code};
use crate::auth::Access;
use crate::client::parse_duration;
use crate::server::http::auth_gate::{Caller, authorize};
use crate::server::http::{ApiError, SharedState};
use crate::server::settings::Limits;
use crate::server::watch::hub::RegisterError;
use crate::server::watch::index::WatchRange;
use crate::server::watch::json;
use crate::server::watch::stream::{Message, OpenError, Start, WatchOptions, WatchStream};
use crate::store::KeyRange;

/// `progress_interval` when none is given.
pub const DEFAULT_PROGRESS_INTERVAL: Duration = Duration::from_secs(10);
/// The shortest `progress_interval` (but 0, which is off).
pub const MIN_PROGRESS_INTERVAL: Duration = Duration::from_millis(100);
/// The longest `progress_interval`.
pub const MAX_PROGRESS_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// How often a quiet stream gets an SSE comment (`:`), which clients
/// ignore, so that a connection whose client is gone is found and its
/// watcher dropped.
pub const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(15);

/// The query of `GET /v1/watch`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WatchParams {
    key: Option<String>,
    prefix: Option<String>,
    range_end: Option<String>,
    start_revision: Option<u64>,
    prev_kv: Option<bool>,
    progress_interval: Option<String>,
}

/// `GET /v1/watch`.
pub(crate) async fn watch(
    State(state): State<SharedState>,
    caller: Option<Extension<Caller>>,
    headers: HeaderMap,
    params: Result<Query<WatchParams>, QueryRejection>,
) -> Response {
    let options = match params {
        Ok(Query(params)) => watch_options(params, &headers, &state.limits),
        Err(error) => Err(ApiError::bad_request(error.body_text())),
    };
    // A watch must be able to read its whole range, now: it is refused,
    // never filtered.
    let options = options.and_then(|options| {
        authorize(caller.as_deref(), Access::Read, &options.range.key_range())?;
        Ok(options)
    });
    let options = match options {
        Ok(options) => options,
        Err(error) => return error.into_response(),
    };
    let stream = match WatchStream::open(&state.watch_hub, state.node.clone(), options).await {
        Ok(stream) => stream,
        Err(error) => return open_error(error),
    };
    let messages = futures_util::stream::unfold(stream, |mut stream| async move {
        let message = stream.next_message().await?;
        Some((sse_event(message), stream))
    });
    // A comment line now and then even when progress is off: the server
    // only notices a client that went away when it writes to it.
    let keep_alive = KeepAlive::new().interval(KEEP_ALIVE_INTERVAL);
    Sse::new(messages).keep_alive(keep_alive).into_response()
}

/// Checks a request and says what it asks for.
pub(crate) fn watch_options(
    params: WatchParams,
    headers: &HeaderMap,
    limits: &Limits,
) -> Result<WatchOptions, ApiError> {
    let range = watch_range(&params, limits.max_key_bytes)?;
    let start = match last_event_id(headers)? {
        Some(last) => Start::At(last.checked_add(1).ok_or_else(|| {
            ApiError::bad_request("Last-Event-ID is the largest revision: nothing follows it")
        })?),
        None => match params.start_revision {
            None | Some(0) => Start::Now,
            Some(revision) => Start::At(revision),
        },
    };
    Ok(WatchOptions {
        range,
        start,
        prev_kv: params.prev_kv.unwrap_or(false),
        progress_interval: progress_interval(params.progress_interval.as_deref())?,
    })
}

fn watch_range(params: &WatchParams, max_key_bytes: usize) -> Result<WatchRange, ApiError> {
    for (name, text) in [
        ("key", &params.key),
        ("prefix", &params.prefix),
        ("range_end", &params.range_end),
    ] {
        if let Some(text) = text
            && text.len() > max_key_bytes
        {
            return Err(ApiError::too_large(format!(
                "the {name} is {} bytes; the limit is {max_key_bytes}",
                text.len()
            )));
        }
    }
    match (&params.key, &params.prefix, &params.range_end) {
        (Some(_), Some(_), _) => Err(ApiError::bad_request(
            "give key or prefix, not both (key with range_end for a range)",
        )),
        (None, Some(_), Some(_)) => Err(ApiError::bad_request(
            "range_end goes with key, not with prefix",
        )),
        (None, None, _) => Err(ApiError::bad_request(
            "say what to watch: key=K, prefix=P, or key=K&range_end=E",
        )),
        (Some(key), None, _) if key.is_empty() => Err(ApiError::bad_request("the key is empty")),
        (None, Some(prefix), None) => Ok(WatchRange::Prefix(Bytes::from(prefix.clone()))),
        (Some(key), None, None) => Ok(WatchRange::Key(Bytes::from(key.clone()))),
        (Some(key), None, Some(end)) => {
            let range = KeyRange {
                key: Bytes::from(key.clone()),
                range_end: Bytes::from(end.clone()),
            };
            let to_the_end = end.as_bytes() == [0];
            if !to_the_end && end.as_str() <= key.as_str() {
                return Err(ApiError::bad_request(
                    "range_end must come after key (or be %00: every key from key on)",
                ));
            }
            Ok(WatchRange::Range(range))
        }
    }
}

fn last_event_id(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::bad_request("Last-Event-ID is not text"))?;
    text.trim().parse().map(Some).map_err(|_| {
        ApiError::bad_request(format!("Last-Event-ID {text:?} is not a revision number"))
    })
}

fn progress_interval(text: Option<&str>) -> Result<Option<Duration>, ApiError> {
    let Some(text) = text else {
        return Ok(Some(DEFAULT_PROGRESS_INTERVAL));
    };
    let interval = parse_duration(text)
        .map_err(|error| ApiError::bad_request(format!("progress_interval: {error}")))?;
    if interval.is_zero() {
        return Ok(None);
    }
    if !(MIN_PROGRESS_INTERVAL..=MAX_PROGRESS_INTERVAL).contains(&interval) {
        return Err(ApiError::bad_request(format!(
            "progress_interval must be 0 (off) or between {MIN_PROGRESS_INTERVAL:?} and \
             {MAX_PROGRESS_INTERVAL:?}, not {text:?}"
        )));
    }
    Ok(Some(interval))
}

fn open_error(error: OpenError) -> Response {
    let message = error.to_string();
    match error {
        OpenError::Compacted {
            revision,
            compact_revision,
        } => {
            let body = ErrorBody {
                error: code::COMPACTED.into(),
                message: format!(
                    "{message}: watch from revision {} or later",
                    compact_revision.saturating_add(1)
                ),
                revision: Some(revision),
                compact_revision: Some(compact_revision),
            };
            (StatusCode::GONE, Json(body)).into_response()
        }
        OpenError::Register(RegisterError::TooMany(_)) => ApiError::Failed {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: code::BUSY,
            message,
            retry_after: Some(1),
            revision: None,
        }
        .into_response(),
        OpenError::Register(RegisterError::Closed(_)) | OpenError::Unavailable(_) => {
            ApiError::Failed {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: code::UNAVAILABLE,
                message,
                retry_after: Some(1),
                revision: None,
            }
            .into_response()
        }
    }
}

/// A message as a Server-Sent Event.
fn sse_event(message: Message) -> Result<SseEvent, axum::Error> {
    match message {
        Message::Progress(revision) => SseEvent::default()
            .event("progress")
            .json_data(WatchProgress { revision }),
        Message::Change(change) => SseEvent::default()
            .event("change")
            .id(change.revision.to_string())
            // `prev_kv` is in the events only if the watcher asked for it.
            .json_data(json::change(change.revision, change.events.iter(), true)),
        Message::Compacted { compact_revision } => {
            SseEvent::default().event("compacted").json_data(WatchEnd {
                reason: format!(
                    "the history this watch needs was compacted up to revision \
                     {compact_revision}: watch again from revision {} or later",
                    compact_revision.saturating_add(1)
                ),
                compact_revision: Some(compact_revision),
            })
        }
        Message::Cancelled(reason) => SseEvent::default().event("cancelled").json_data(WatchEnd {
            reason,
            compact_revision: None,
        }),
    }
}
