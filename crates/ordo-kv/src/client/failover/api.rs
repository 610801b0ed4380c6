//! The three calls the failover benchmark makes, in each system's HTTP
//! dialect: a write through one member, one member's view of the leader,
//! and a leadership transfer.
//!
//! - ordo: `PUT /v1/kv/KEY` (only a leader answers 200; a follower answers a
//!   redirect, which is not followed), `GET /v1/status`,
//!   `POST /v1/cluster/leader`.
//! - etcd 3.4, through its v3 JSON gateway: `POST /v3/kv/put` (base64 key
//!   and value; any member forwards to the leader, so an acknowledgement
//!   counts by the Raft term in its header), `POST /v3/maintenance/status`,
//!   `POST /v3/maintenance/transfer-leadership`. 64-bit numbers arrive as
//!   JSON strings.
//!
//! Members are numbered 0.. in the order they were started; every call is
//! bounded by a timeout and answers `None` (or an error) rather than wait.

use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::{Method, StatusCode, Uri};
use serde_json::{Value, json};

use crate::client::endpoint::encode_key;
use crate::client::http::{HttpPool, read_body};

/// Longest answer read from a member.
const BODY_LIMIT_BYTES: usize = 64 << 10;
/// How long a connection attempt may take (loopback: refused at once, or
/// a paused process that never accepts).
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// Which system the members run.
#[derive(Clone, Debug)]
pub(crate) enum Dialect {
    /// `ordo serve`; member `i` is node id `i + 1`.
    Ordo,
    /// etcd; member `i` has the etcd member id `member_ids[i]`.
    Etcd {
        /// Each member's id, learned from its status.
        member_ids: Vec<u64>,
    },
}

/// A write that was acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ack {
    /// The member that answered.
    pub(crate) member: usize,
    /// The Raft term the answer names, when the system says.
    pub(crate) term: Option<u64>,
}

impl Ack {
    /// True if the write was committed by a leader other than the one of
    /// `old_term` (`old_leader`): by its term when known, else by who
    /// answered (in ordo only the leader acknowledges writes).
    pub(crate) fn by_new_leader(&self, old_leader: usize, old_term: u64) -> bool {
        self.term
            .map_or(self.member != old_leader, |term| term > old_term)
    }
}

/// One member's view of the group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct View {
    /// The member it names leader, if any.
    pub(crate) leader: Option<usize>,
    /// Its term.
    pub(crate) term: u64,
}

/// The members' client URLs and how to talk to them. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Api {
    transport: HttpPool,
    urls: Vec<String>,
    dialect: Dialect,
}

impl Api {
    /// An API for members at `urls` (`http://HOST:PORT`).
    pub(crate) fn new(urls: Vec<String>, dialect: Dialect) -> Self {
        Self {
            transport: HttpPool::new(CONNECT_TIMEOUT),
            urls,
            dialect,
        }
    }

    /// How many members.
    pub(crate) fn size(&self) -> usize {
        self.urls.len()
    }

    /// `member`'s client URL.
    pub(crate) fn url(&self, member: usize) -> &str {
        self.urls.get(member).map_or("", String::as_str)
    }

    /// Replaces the dialect (etcd's member ids are known once it runs).
    pub(crate) fn set_dialect(&mut self, dialect: Dialect) {
        self.dialect = dialect;
    }

    /// Writes `value` under `key` through `member`; the acknowledgement, or
    /// `None` for anything else (refused, redirected, failed, too slow).
    pub(crate) async fn write(
        &self,
        member: usize,
        key: &str,
        value: &str,
        timeout: Duration,
    ) -> Option<Ack> {
        let (method, path, body) = match &self.dialect {
            Dialect::Ordo => (
                Method::PUT,
                format!("/v1/kv/{}", encode_key(key)),
                Bytes::copy_from_slice(value.as_bytes()),
            ),
            Dialect::Etcd { .. } => {
                let base64 = &base64::engine::general_purpose::STANDARD;
                let body = json!({"key": base64.encode(key), "value": base64.encode(value)});
                (Method::POST, "/v3/kv/put".to_owned(), json_bytes(&body))
            }
        };
        let answer = self.call(member, method, &path, body, timeout).await?;
        let term = match self.dialect {
            Dialect::Ordo => None,
            Dialect::Etcd { .. } => Some(number(&answer["header"]["raft_term"])?),
        };
        Some(Ack { member, term })
    }

    /// `member`'s view of the leader and term, or `None` if it did not answer.
    pub(crate) async fn view(&self, member: usize, timeout: Duration) -> Option<View> {
        match &self.dialect {
            Dialect::Ordo => {
                let answer = self
                    .call(member, Method::GET, "/v1/status", Bytes::new(), timeout)
                    .await?;
                let leader = answer["leader"]
                    .as_u64()
                    .and_then(|id| usize::try_from(id).ok()?.checked_sub(1));
                Some(View {
                    leader,
                    term: answer["term"].as_u64()?,
                })
            }
            Dialect::Etcd { member_ids } => {
                let answer = self.etcd_status(member, timeout).await?;
                let leader_id = number(&answer["leader"]).unwrap_or(0);
                let term = number(&answer["raftTerm"]).or_else(|| number(&answer["raft_term"]))?;
                Some(View {
                    leader: member_ids.iter().position(|&id| id == leader_id),
                    term,
                })
            }
        }
    }

    /// etcd's member id of `member` (from its status).
    pub(crate) async fn etcd_member_id(&self, member: usize, timeout: Duration) -> Option<u64> {
        let answer = self.etcd_status(member, timeout).await?;
        number(&answer["header"]["member_id"])
    }

    async fn etcd_status(&self, member: usize, timeout: Duration) -> Option<Value> {
        let body = Bytes::from_static(b"{}");
        self.call(
            member,
            Method::POST,
            "/v3/maintenance/status",
            body,
            timeout,
        )
        .await
    }

    /// Asks `from` (the leader) to hand leadership to `to`; true if it
    /// answered success.
    pub(crate) async fn transfer(&self, from: usize, to: usize, timeout: Duration) -> bool {
        let (path, body) = match &self.dialect {
            Dialect::Ordo => ("/v1/cluster/leader", json!({"to": to + 1})),
            Dialect::Etcd { member_ids } => {
                let Some(target) = member_ids.get(to) else {
                    return false;
                };
                (
                    "/v3/maintenance/transfer-leadership",
                    json!({"targetID": target.to_string()}),
                )
            }
        };
        self.call(from, Method::POST, path, json_bytes(&body), timeout)
            .await
            .is_some()
    }

    /// One request; the JSON body of a 200, else `None`.
    async fn call(
        &self,
        member: usize,
        method: Method,
        path: &str,
        body: Bytes,
        timeout: Duration,
    ) -> Option<Value> {
        let uri: Uri = format!("{}{path}", self.urls.get(member)?).parse().ok()?;
        let content_type = (method == Method::POST).then_some("application/json");
        let exchange = async {
            let response = self
                .transport
                .send(method, uri, body, content_type, None)
                .await
                .ok()?;
            if response.status() != StatusCode::OK {
                return None;
            }
            let bytes = read_body(response, BODY_LIMIT_BYTES).await.ok()?;
            serde_json::from_slice::<Value>(&bytes).ok()
        };
        tokio::time::timeout(timeout, exchange).await.ok().flatten()
    }
}

fn json_bytes(value: &Value) -> Bytes {
    Bytes::from(value.to_string())
}

/// A 64-bit number as etcd's gateway writes it (a string) or as a number.
fn number(value: &Value) -> Option<u64> {
    value
        .as_u64()
        .or_else(|| value.as_str().and_then(|text| text.parse().ok()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn an_acknowledgement_counts_by_term_or_else_by_who_answered() {
        let etcd = Ack {
            member: 0,
            term: Some(5),
        };
        assert!(etcd.by_new_leader(0, 4), "a later term, whoever answered");
        assert!(!etcd.by_new_leader(1, 5), "the old leader's term");
        let ordo = Ack {
            member: 2,
            term: None,
        };
        assert!(ordo.by_new_leader(0, 9));
        assert!(!ordo.by_new_leader(2, 1), "the old leader answered");
    }

    #[test]
    fn numbers_come_as_strings_or_numbers() {
        assert_eq!(number(&json!("18446744073709551615")), Some(u64::MAX));
        assert_eq!(number(&json!(7)), Some(7));
        assert_eq!(number(&json!("x")), None);
        assert_eq!(number(&Value::Null), None);
    }
}
