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
//! Members behind HTTPS are asked through the cluster CA (the CA that
//! signed the peers' certificates, see [`AppState::cluster_ca`]): `ordo dev
//! --tls` signs every node's certificate, on both ports, with it.
//!
//! Left out: without a cluster CA, members behind HTTPS are not asked, and
//! no client certificate is presented, so a member whose client port
//! requires one (`--client-cert-auth`) does not answer. Both are shown with
//! what this node itself knows of them.
//!
//! [`AppState::cluster_ca`]: crate::server::http::AppState::cluster_ca

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use futures_util::future::join_all;
use ordo::NodeId;

use crate::api::ClusterResponse;
use crate::client::{Client, ClientConfig, ClientTlsFiles, Endpoint};

/// How long a member has to answer, well under a frame's interval.
pub const MEMBER_ANSWER_TIMEOUT: Duration = Duration::from_millis(600);

/// What one member said about itself.
#[derive(Clone, Debug)]
pub enum MemberAnswer {
    /// Its view of the cluster.
    Answered(Box<ClusterResponse>),
    /// No answer in time (down, cut off, or another node at its address).
    Silent,
    /// Not asked: its client port is HTTPS and this node knows no cluster
    /// CA, or its address is unknown.
    NotAsked,
}

/// Each other member's answer, by id.
pub type Answers = BTreeMap<NodeId, MemberAnswer>;

/// Asks the other members, for one stream: its client (and so its
/// connections to the members) lasts as long as the stream.
#[derive(Default)]
pub struct MemberAsker {
    client: Option<Client>,
    /// The CA members' HTTPS certificates chain to; none: HTTPS members
    /// are not asked.
    cluster_ca: Option<PathBuf>,
}

impl MemberAsker {
    /// An asker that trusts `cluster_ca` for members behind HTTPS.
    pub fn new(cluster_ca: Option<PathBuf>) -> Self {
        MemberAsker {
            client: None,
            cluster_ca,
        }
    }

    /// What every other member of `view` answered, over plain HTTP, or
    /// HTTPS when this asker has a cluster CA.
    pub async fn ask(&mut self, view: &ClusterResponse) -> Answers {
        let may_ask_https = self.cluster_ca.is_some();
        let others: Vec<(NodeId, Option<Endpoint>)> = view
            .members
            .iter()
            .filter(|member| member.id != view.node.id)
            .map(|member| {
                let endpoint = member
                    .client_addr
                    .as_deref()
                    .and_then(|address| Endpoint::parse(address).ok())
                    .filter(|endpoint| may_ask_https || !endpoint.is_secure());
                (member.id, endpoint)
            })
            .collect();
        if self.client.is_none() {
            // Every call names the member it asks, so the endpoints the
            // client is built with are only the ones it must accept.
            let endpoints = others.iter().filter_map(|(_, endpoint)| endpoint.clone());
            self.client = member_client(endpoints, self.cluster_ca.clone());
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

/// A client for `endpoints` trusting `cluster_ca`, bounded by
/// [`MEMBER_ANSWER_TIMEOUT`]; none when there is no endpoint to ask, or the
/// CA cannot be read (then no member is asked, and each shows as such).
fn member_client(
    endpoints: impl Iterator<Item = Endpoint>,
    cluster_ca: Option<PathBuf>,
) -> Option<Client> {
    let mut config = ClientConfig::new(endpoints.collect()).with_timeout(MEMBER_ANSWER_TIMEOUT);
    config.connect_timeout = MEMBER_ANSWER_TIMEOUT;
    config.tls = ClientTlsFiles {
        ca_cert: cluster_ca,
        cert: None,
        key: None,
    };
    Client::new(config).ok()
}

#[cfg(test)]
#[path = "members_tests.rs"]
mod tests;
