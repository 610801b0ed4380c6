//! Keeping addresses flowing (see `node.rs`): the transport learns where
//! members are from the log, and the log learns where this node is.

use std::time::Duration;

use ordo::transport::tcp::TcpTransport;
use ordo::{NodeId, RaftNode};
use tokio::sync::watch;

use crate::api::MemberAddressRequest;
use crate::client::{Client, ClientConfig, parse_endpoints};
use crate::server::member_address::MemberAddress;
use crate::store::KvStore;

/// How often the log's addresses are compared with the transport's.
const WATCH_INTERVAL: Duration = Duration::from_millis(200);
/// How often a node checks that the log carries its own address.
const REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// Tells `transport` about every member whose node address the log carries
/// and the transport does not know (or knows differently). Peers are never
/// removed here: a member being added is in the transport before it is in
/// the log, and a removed member costs only an idle entry.
pub(super) async fn watch_peers(
    node: RaftNode<KvStore>,
    transport: TcpTransport,
    mut shutdown: watch::Receiver<bool>,
) {
    let own_id = node.id();
    // Addresses the transport refused, so each is reported once, not on
    // every pass.
    let mut refused = std::collections::BTreeSet::new();
    loop {
        let known: std::collections::BTreeMap<_, _> = transport.peers().into_iter().collect();
        for (id, address) in node.addresses() {
            let Some(peer) = MemberAddress::parse(&address).peer else {
                continue;
            };
            if id == own_id
                || known.get(&id) == Some(&peer)
                || refused.contains(&(id, peer.clone()))
            {
                continue;
            }
            match transport.add_peer(id, peer.clone()) {
                Ok(_) => {
                    tracing::info!(node_id = own_id, peer = id, %peer, "learned a member's address")
                }
                Err(error) => {
                    tracing::warn!(node_id = own_id, peer = id, %error, "unusable member address");
                    refused.insert((id, peer));
                }
            }
        }
        if wait(&mut shutdown, WATCH_INTERVAL).await {
            return;
        }
    }
}

/// Makes the log carry `own` as this node's address: on the leader through
/// [`RaftNode::set_address`], elsewhere by asking the leader over HTTP (or,
/// knowing no leader, any other member, which redirects to it).
pub(super) async fn report_own_address(
    node: RaftNode<KvStore>,
    own: MemberAddress,
    mut shutdown: watch::Receiver<bool>,
) {
    let own_id = node.id();
    let own_text = own.to_string();
    loop {
        if wait(&mut shutdown, REPORT_INTERVAL).await {
            return;
        }
        let addresses = node.addresses();
        if addresses.get(&own_id) == Some(&own_text) {
            continue;
        }
        let leader = node.leader_id();
        if leader == Some(own_id) {
            if let Err(error) = node.set_address(own_id, own_text.clone()).await {
                tracing::debug!(node_id = own_id, %error, "could not log this node's address yet");
            }
            continue;
        }
        let client_url = |id: &NodeId| {
            addresses
                .get(id)
                .and_then(|address| MemberAddress::parse(address).client)
        };
        // The leader if known; otherwise every other member (they redirect):
        // a node that moved its node address hears from no leader, which
        // still dials the old one, until the log carries the new one.
        let targets: Vec<String> = match leader.and_then(|leader| client_url(&leader)) {
            Some(url) => vec![url],
            None => addresses
                .keys()
                .filter(|&&id| id != own_id)
                .filter_map(client_url)
                .collect(),
        };
        if targets.is_empty() {
            continue;
        }
        let body = MemberAddressRequest {
            peer_addr: own.peer.clone().unwrap_or_default(),
            client_addr: own.client.clone().unwrap_or_default(),
        };
        let sent = async {
            let endpoints = parse_endpoints(&targets.join(","))?;
            let config = ClientConfig::new(endpoints).with_timeout(REPORT_INTERVAL * 5);
            Client::new(config)?.set_member_address(own_id, &body).await
        };
        if let Err(error) = sent.await {
            tracing::debug!(node_id = own_id, %error, "could not report this node's address yet");
        }
    }
}

/// Sleeps `interval`; true if asked to stop meanwhile.
async fn wait(shutdown: &mut watch::Receiver<bool>, interval: Duration) -> bool {
    tokio::select! {
        changed = shutdown.changed() => changed.is_err() || *shutdown.borrow(),
        () = tokio::time::sleep(interval) => *shutdown.borrow(),
    }
}
