//! Making the log carry this node's own addresses, so that redirects to it
//! and `ordo status` work from every node. The transport needs nothing from
//! here: the runtime tells it where members are as it applies the log
//! ([`ordo::transport::Transport::update_peer`]).
//!
//! The reporter wakes on the node's events, never on a timer: when a leader
//! is elected or the members' information changes, it compares what the log
//! says of this node with what this node is, and if they differ asks the
//! leader to log the difference (or logs it itself when it leads). A
//! request that fails is retried with a back-off, until it succeeds or an
//! event makes it moot.

use std::time::Duration;

use ordo::{Event, EventStreamError, MemberInfo, NodeId, RaftNode};
use tokio::sync::watch;

use crate::api::MemberAddressRequest;
use crate::client::{Client, ClientConfig, parse_endpoints};
use crate::store::KvStore;

/// First wait after a failed report; doubled after each failure.
const RETRY_MIN: Duration = Duration::from_millis(250);
/// Longest wait between reports that keep failing.
const RETRY_MAX: Duration = Duration::from_secs(10);
/// How long one report may take.
const REPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// Makes the log carry `own` as this node's information: on the leader
/// through [`RaftNode::set_member_info`], elsewhere by asking the leader
/// over HTTP (or, knowing no leader's URL, every other member, which
/// redirect to it).
pub(super) async fn report_own_address(
    node: RaftNode<KvStore>,
    own: MemberInfo,
    mut shutdown: watch::Receiver<bool>,
) {
    let own_id = node.id();
    let mut events = node.events();
    let mut retry = RETRY_MIN;
    loop {
        let settled = match report(&node, own_id, &own).await {
            Ok(settled) => {
                retry = RETRY_MIN;
                settled
            }
            Err(error) => {
                tracing::debug!(node_id = own_id, %error, "could not report this node's address yet");
                false
            }
        };
        // Settled: nothing to do until an event says otherwise. Not
        // settled: the next event, or the retry, whichever comes first.
        let timer = async {
            if settled {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(retry).await;
        };
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return;
                }
            }
            () = timer => retry = (retry * 2).min(RETRY_MAX),
            event = next_relevant(&mut events) => {
                if event.is_err() {
                    return;
                }
            }
        }
    }
}

/// Waits for an event after which the report may be needed or possible.
async fn next_relevant(events: &mut ordo::EventStream) -> Result<(), EventStreamError> {
    loop {
        match events.recv().await {
            Ok(Event::LeaderElected { .. } | Event::MemberInfoChanged { .. })
            | Err(EventStreamError::Lagged(_)) => return Ok(()),
            Ok(_) => {}
            Err(EventStreamError::Closed) => return Err(EventStreamError::Closed),
        }
    }
}

/// One attempt. True if the log already says what `own` says (nothing to
/// do); false if it was asked to and has not applied it yet.
async fn report(
    node: &RaftNode<KvStore>,
    own_id: NodeId,
    own: &MemberInfo,
) -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
    let members = node.member_infos();
    let logged = members.get(&own_id).cloned().unwrap_or_default();
    let wanted = with_addresses_of(&logged, own);
    if wanted == logged {
        return Ok(true);
    }
    let leader = node.leader_id();
    if leader == Some(own_id) {
        node.set_member_info(own_id, wanted).await?;
        return Ok(false);
    }
    // The leader if known; otherwise every other member (they redirect): a
    // node that moved its node address hears from no leader, which still
    // dials the old one, until the log carries the new one. Such a node has
    // applied nothing since its restart, so the members' URLs may be known
    // only from its log's unapplied entries (hints): fine for asking.
    let hinted = node.member_hints();
    let client_url = |id: &NodeId| {
        hinted
            .get(id)
            .map(|info| info.address.clone())
            .filter(|url| !url.is_empty())
    };
    let targets: Vec<String> = match leader.and_then(|leader| client_url(&leader)) {
        Some(url) => vec![url],
        None => hinted
            .keys()
            .filter(|&&id| id != own_id)
            .filter_map(client_url)
            .collect(),
    };
    if targets.is_empty() {
        return Err("no member's client URL is known yet".into());
    }
    let body = MemberAddressRequest {
        peer_addr: own.peer_address.clone().unwrap_or_default(),
        client_addr: own.address.clone(),
    };
    let endpoints = parse_endpoints(&targets.join(","))?;
    let config = ClientConfig::new(endpoints).with_timeout(REPORT_TIMEOUT);
    Client::new(config)?
        .set_member_address(own_id, &body)
        .await?;
    Ok(false)
}

/// `logged` with the addresses of `own`, its labels kept.
pub(crate) fn with_addresses_of(logged: &MemberInfo, own: &MemberInfo) -> MemberInfo {
    MemberInfo {
        address: own.address.clone(),
        peer_address: own.peer_address.clone(),
        labels: logged.labels.clone(),
    }
}
