//! A watch on the `w/` prefix that resumes as an etcd client does: when its
//! stream fails, it opens one on the next node with `start_revision` = last
//! seen + 1. And [`stream_matches`], the check of what it saw against what
//! was committed.

use std::time::Duration;

use ordo_kv::server::etcd::pb::etcdserverpb::{
    self as pb, watch_client::WatchClient, watch_request::RequestUnion,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use super::bytes;

/// Silence after which a stream that saw events is considered done (the
/// writer stopped), or one that never answered is given up for the next node.
const QUIET: Duration = Duration::from_secs(3);
/// Most streams opened before giving up (a bound, not an expectation).
const MAX_STREAMS: usize = 20;

/// One committed write: its revision and key (each key is written once).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Committed {
    /// The revision the write made.
    pub revision: i64,
    /// The key written.
    pub key: String,
}

/// The resuming watcher and what it saw.
pub struct Resumer {
    nodes: Vec<Channel>,
    /// Every event, in arrival order, over all streams.
    pub seen: Vec<Committed>,
    /// How many events the first stream delivered.
    pub seen_on_first_stream: usize,
    /// Streams opened.
    pub streams: usize,
}

impl Resumer {
    /// A watcher that opens its first stream on `nodes[0]`, then the next.
    pub fn new(nodes: Vec<Channel>) -> Resumer {
        Resumer {
            nodes,
            seen: Vec::new(),
            seen_on_first_stream: 0,
            streams: 0,
        }
    }

    /// Follows the prefix from revision 1 until a stream that delivered
    /// events falls quiet for [`QUIET`].
    pub async fn follow_until_quiet(&mut self) {
        while self.streams < MAX_STREAMS {
            let node = self.nodes[self.streams % self.nodes.len()].clone();
            self.streams += 1;
            let before = self.seen.len();
            let quiet = self.follow_one_stream(node).await;
            if self.streams == 1 {
                self.seen_on_first_stream = self.seen.len();
            }
            if quiet && self.seen.len() > before {
                return;
            }
        }
        panic!("{MAX_STREAMS} watch streams opened, none went quiet");
    }

    /// Follows one stream: `true` if it fell quiet, `false` if it failed.
    async fn follow_one_stream(&mut self, node: Channel) -> bool {
        let start_revision = self.seen.last().map_or(1, |last| last.revision + 1);
        let (requests, outbox) = mpsc::channel(1);
        let create = pb::WatchCreateRequest {
            key: bytes("w/"),
            range_end: bytes("w0"),
            start_revision,
            ..Default::default()
        };
        let request = pb::WatchRequest {
            request_union: Some(RequestUnion::CreateRequest(create)),
        };
        requests.send(request).await.unwrap();
        let mut client = WatchClient::new(node);
        let opened = tokio::time::timeout(QUIET, client.watch(ReceiverStream::new(outbox)));
        let Ok(Ok(responses)) = opened.await else {
            return false;
        };
        let mut responses = responses.into_inner();
        loop {
            let response = match tokio::time::timeout(QUIET, responses.message()).await {
                Err(_) => return true,
                Ok(Ok(Some(response))) => response,
                Ok(_) => return false,
            };
            assert!(
                !response.canceled && response.compact_revision == 0,
                "the watch was cancelled: {response:?}"
            );
            for event in response.events {
                let kv = event.kv.expect("an event carries its key");
                self.seen.push(Committed {
                    revision: kv.mod_revision,
                    key: String::from_utf8(kv.key.to_vec()).unwrap(),
                });
            }
        }
    }
}

/// Whether `seen` is exactly `committed` (sorted by revision), in order:
/// otherwise the first difference, named as a gap, a duplicate, a
/// reordering or an event nobody committed.
pub fn stream_matches(seen: &[Committed], committed: &[Committed]) -> Result<(), String> {
    for (position, pair) in seen.windows(2).enumerate() {
        if pair[1].revision == pair[0].revision {
            return Err(format!(
                "duplicate at event {}: {:?}",
                position + 1,
                pair[1]
            ));
        }
        if pair[1].revision < pair[0].revision {
            return Err(format!("reordered at event {}: {pair:?}", position + 1));
        }
    }
    for (position, expected) in committed.iter().enumerate() {
        match seen.get(position) {
            Some(event) if event == expected => {}
            Some(event) if event.revision > expected.revision => {
                return Err(format!("gap: {expected:?} missing before {event:?}"));
            }
            Some(event) => return Err(format!("{event:?} was never committed")),
            None => return Err(format!("the stream ended before {expected:?}")),
        }
    }
    match seen.get(committed.len()) {
        Some(extra) => Err(format!("{extra:?} was never committed")),
        None => Ok(()),
    }
}
