//! Asking the other members how they see the cluster, for one frame.
//!
//! Only a member knows its own term, commit and applied index, and only
//! the leader knows how far each member is behind; so each frame asks
//! every other member's `/v1/cluster` (a read any node answers from its
//! own state, no log entry), all at once, each bounded by
//! [`MEMBER_ANSWER_TIMEOUT`]. A member that does not answer in time is
//! shown unreachable: the frame is never late for a slow member.
//!
//! The cost is one small request per other member per frame per open
//! dashboard, over connections kept for the stream's life, which is what
//! a handful of operators' browsers add.
//!
//! Left out: members behind HTTPS are not asked (this node holds no
//! client credentials for its peers' client ports); they are shown as
//! not asked, with what this node itself knows of them.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::future::join_all;
use ordo::NodeId;

use crate::api::ClusterResponse;
use crate::client::{Client, ClientConfig, Endpoint};

/// How long a member has to answer, well under a frame's interval.
pub const MEMBER_ANSWER_TIMEOUT: Duration = Duration::from_millis(600);

/// What one member said about itself.
#[derive(Clone, Debug)]
pub enum MemberAnswer {
    /// Its view of the cluster.
    Answered(Box<ClusterResponse>),
    /// No answer in time (down, cut off, or another node at its address).
    Silent,
    /// Not asked: its client port is HTTPS, or its address is unknown.
    NotAsked,
}

/// Each other member's answer, by id.
pub type Answers = BTreeMap<NodeId, MemberAnswer>;

/// Asks the other members, for one stream: its client (and so its
/// connections to the members) lasts as long as the stream.
#[derive(Default)]
pub struct MemberAsker {
    client: Option<Client>,
}

impl MemberAsker {
    /// What every other member of `view` answered, over plain HTTP.
    pub async fn ask(&mut self, view: &ClusterResponse) -> Answers {
        let others: Vec<(NodeId, Option<Endpoint>)> = view
            .members
            .iter()
            .filter(|member| member.id != view.node.id)
            .map(|member| {
                let endpoint = member
                    .client_addr
                    .as_deref()
                    .and_then(|address| Endpoint::parse(address).ok())
                    .filter(|endpoint| !endpoint.is_secure());
                (member.id, endpoint)
            })
            .collect();
        if self.client.is_none() {
            // Every call names the member it asks, so the endpoints the
            // client is built with are only the ones it must accept.
            self.client = member_client(others.iter().filter_map(|(_, endpoint)| endpoint.clone()));
        }
        let client = self.client.as_ref();
        let asks = others.into_iter().map(|(id, endpoint)| async move {
            let (Some(client), Some(endpoint)) = (client, endpoint) else {
                return (id, MemberAnswer::NotAsked);
            };
            match client.cluster_at(&endpoint).await {
                // An answer from another node at that address is no answer.
                Ok(answer) if answer.node.id == id => {
                    (id, MemberAnswer::Answered(Box::new(answer)))
                }
                _ => (id, MemberAnswer::Silent),
            }
        });
        join_all(asks).await.into_iter().collect()
    }
}

/// A client for `endpoints`, bounded by [`MEMBER_ANSWER_TIMEOUT`]; none
/// when there is no endpoint to ask.
fn member_client(endpoints: impl Iterator<Item = Endpoint>) -> Option<Client> {
    let mut config = ClientConfig::new(endpoints.collect()).with_timeout(MEMBER_ANSWER_TIMEOUT);
    config.connect_timeout = MEMBER_ANSWER_TIMEOUT;
    Client::new(config).ok()
}
