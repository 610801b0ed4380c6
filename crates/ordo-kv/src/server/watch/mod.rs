//! Watch: `GET /v1/watch` streams every change to a key, prefix or range as
//! Server-Sent Events, in revision order, without gaps or duplicates, and
//! resumable from any revision the store still holds.
//!
//! ```text
//!  apply thread                          one task per watch stream
//!  ------------                          -------------------------
//!  KvStore::apply ─▶ WatchHub::applied   WatchStream::next_message
//!                     │ route by key         │ live: take from its queue
//!                     │ (WatchIndex)         │ behind: read history pages
//!                     ▼                      │   (KvQuery::Changes) and rejoin
//!                   WatcherQueue ───────────▶┘
//!                   (bounded; full → behind)  ─▶ SSE: progress, change, end
//! ```
//!
//! - `index.rs`: which watchers a key reaches (exact keys hashed, prefixes
//!   by length, ranges listed).
//! - `queue.rs`: one watcher's bounded queue and its live/behind/ended
//!   state.
//! - `hub.rs`: the registry, the store's observer, limits and counters.
//! - `history.rs`: reading the store's change log through the node.
//! - `stream.rs`: one watcher's messages, and how it rejoins the live feed
//!   after reading history without a gap or a duplicate.
//! - `json.rs`, `endpoint.rs`: the wire.
//!
//! The SSE endpoint has one watch per stream and no filters; etcd's gRPC
//! Watch (`server/etcd/watch_session.rs`) multiplexes `WatchStream`s on one
//! stream and filters their events. Neither fragments a huge revision.
//!
//! Every node serves watches from its own applied state: a follower never
//! sends a revision before it applied it, and keeps streaming across leader
//! changes (the change log is the same on every node).

pub mod endpoint;
mod history;
pub mod hub;
pub(crate) mod index;
mod json;
mod queue;
pub(crate) mod stream;

#[cfg(test)]
mod tests;

pub use hub::{WatchHub, WatchLimits};
