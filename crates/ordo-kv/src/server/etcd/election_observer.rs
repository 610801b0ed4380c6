//! `Election.Observe`: each leader of an election as it changes, starting
//! with the current one, read and watched on this node (follower or not).
//!
//! The first in line is read (linearizable), then the line is watched from
//! the revision after that read: after every change, the first in line is
//! read again and sent if it differs from the last one sent (by key,
//! creating revision or value). Nothing is sent while no one leads. The
//! stream ends after an error (a compacted history, a node stopping).
//! Dropping the stream drops its watch: no task outlives it.

use bytes::Bytes;
use futures_core::Stream;
use tonic::Status;

use crate::server::etcd::EtcdService;
use crate::server::etcd::contenders::Line;
use crate::server::etcd::failure::Failure;
use crate::server::etcd::header::{current_header, signed};
use crate::server::etcd::pb::mvccpb::KeyValue;
use crate::server::etcd::pb::v3electionpb::LeaderResponse;
use crate::server::http::auth_gate::Caller;
use crate::server::watch::stream::{Message, WatchStream};
use crate::store::KvStore;

/// The leaders of election `name`, as `caller` may read them.
pub(crate) fn observe(
    service: EtcdService,
    caller: Option<Caller>,
    name: Bytes,
) -> impl Stream<Item = Result<LeaderResponse, Status>> + Send {
    let observer = Observer {
        service,
        caller,
        name,
        last_sent: None,
        changes: None,
        ended: false,
    };
    futures_util::stream::unfold(observer, |mut observer| async move {
        let next = observer.next().await?;
        Some((next, observer))
    })
}

/// What identifies a leader to an observer: key, creating revision, value.
type Leader = (Bytes, u64, Bytes);

struct Observer {
    service: EtcdService,
    caller: Option<Caller>,
    name: Bytes,
    last_sent: Option<Leader>,
    /// The watch of the line, once the first leader was read.
    changes: Option<WatchStream<ordo::RaftNode<KvStore>>>,
    ended: bool,
}

impl Observer {
    /// The next leader to send; `None` once the stream has ended.
    async fn next(&mut self) -> Option<Result<LeaderResponse, Status>> {
        if self.ended {
            return None;
        }
        let next = self.next_leader().await;
        self.ended = next.is_err();
        Some(next.map_err(Failure::into_status))
    }

    async fn next_leader(&mut self) -> Result<LeaderResponse, Failure> {
        loop {
            if let Some(changes) = &mut self.changes {
                match changes.next_message().await {
                    Some(Message::Change(_)) => {}
                    Some(Message::Progress(_)) => continue,
                    Some(Message::Compacted { .. }) => {
                        return Err(
                            Status::out_of_range(crate::server::etcd::failure::COMPACTED).into(),
                        );
                    }
                    Some(Message::Cancelled(reason)) => {
                        return Err(Status::unavailable(format!("etcdserver: {reason}")).into());
                    }
                    None => {
                        return Err(Status::unavailable("etcdserver: the watch ended").into());
                    }
                }
            }
            let line = Line::new(&self.service, self.caller.as_ref(), &self.name);
            let (first, revision) = line.first().await?;
            if self.changes.is_none() {
                self.changes = Some(line.watch_from(revision.saturating_add(1)).await?);
            }
            let Some(first) = first else {
                self.last_sent = None;
                continue;
            };
            let leader = (
                first.key.clone(),
                first.create_revision,
                first.value.clone(),
            );
            if self.last_sent.as_ref() == Some(&leader) {
                continue;
            }
            self.last_sent = Some(leader);
            return Ok(LeaderResponse {
                header: current_header(&self.service.state, self.service.ids),
                kv: Some(KeyValue {
                    key: first.key,
                    create_revision: signed(first.create_revision),
                    value: first.value,
                    ..KeyValue::default()
                }),
            });
        }
    }
}
