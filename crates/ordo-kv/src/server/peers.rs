//! Making the log carry this node's own addresses, so that redirects to it
//! and `ordo status` work from every node. The transport needs nothing from
//! here: the runtime tells it where members are as entries are appended
//! ([`ordo::transport::Transport::update_peer`]).
//!
//! The reporter wakes on the node's events, never on a timer: when a leader
//! is elected or the members' information changes, it compares what the log
//! says of this node with what this node is, and if they differ asks the
//! leader to log the difference (or logs it itself when it leads). A
//! request that fails is retried with a back-off, until it succeeds or an
//! event makes it moot; one that succeeded is asked again only on an event,
//! or after `RETRY_MAX` in case its entry was lost. The leader logs nothing
//! when what it applied says so already, so a node reporting itself while
//! it catches up costs requests, not log entries.
//!
//! The leader's client port may be HTTPS (`ordo dev --tls`): the request
//! then trusts the cluster CA, without which a follower that never led
//! would never have its client address logged.
//!
//! With auth enabled the address route is root's, and a node is no user:
//! the request carries a member token naming this node and the addresses
//! it reports, signed with the replicated key (`auth/member_token.rs` says
//! why a token and what it defends against), which the leader accepts for
//! this node's own address only, and only with those addresses. A node that has not applied `auth enable` yet sends none, is
//! answered 401 and tries again after its back-off.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ordo::{Event, EventStreamError, MemberInfo, NodeId, RaftNode};
use tokio::sync::watch;

use crate::api::MemberAddressRequest;
use crate::auth::member_token::{MEMBER_TOKEN_TTL_SECONDS, ReportedAddresses};
use crate::client::{Client, ClientConfig, ClientTlsFiles, parse_endpoints};
use crate::server::auth_view::AuthView;
use crate::server::http::auth_gate::unix_seconds_now;
use crate::store::KvStore;

/// First wait after a failed report; doubled after each failure.
const RETRY_MIN: Duration = Duration::from_millis(250);
/// Longest wait between reports that keep failing.
const RETRY_MAX: Duration = Duration::from_secs(10);
/// How long one report may take.
const REPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// What one attempt did.
enum Report {
    /// The log already says what this node is: nothing to do.
    Settled,
    /// Asked the leader (or logged it as the leader); not applied here yet.
    Sent,
}

/// Makes the log carry `own` as this node's information: on the leader
/// through [`RaftNode::update_member_info`], elsewhere by asking the leader
/// over HTTP(S, trusting `cluster_ca`) (or, knowing no leader's URL, every
/// other member, which redirect to it), with a member token while `auth`
/// (this node's applied auth state) is enabled.
pub(super) async fn report_own_address(
    node: RaftNode<KvStore>,
    own: MemberInfo,
    cluster_ca: Option<PathBuf>,
    auth: Arc<AuthView>,
    mut shutdown: watch::Receiver<bool>,
) {
    let own_id = node.id();
    let mut events = node.events();
    let mut retry = RETRY_MIN;
    loop {
        // Settled: wait for an event. Sent: for an event (the entry being
        // applied is one), or RETRY_MAX in case it was lost. Failed: for an
        // event or the back-off, doubling.
        let wait = match report(&node, own_id, &own, &cluster_ca, &auth).await {
            Ok(Report::Settled) => {
                retry = RETRY_MIN;
                None
            }
            Ok(Report::Sent) => {
                retry = RETRY_MIN;
                Some(RETRY_MAX)
            }
            Err(error) => {
                tracing::debug!(node_id = own_id, %error, "could not report this node's address yet");
                let wait = retry;
                retry = (retry * 2).min(RETRY_MAX);
                Some(wait)
            }
        };
        let timer = async {
            match wait {
                Some(wait) => tokio::time::sleep(wait).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return;
                }
            }
            () = timer => {}
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

/// One attempt.
async fn report(
    node: &RaftNode<KvStore>,
    own_id: NodeId,
    own: &MemberInfo,
    cluster_ca: &Option<PathBuf>,
    auth: &AuthView,
) -> Result<Report, Box<dyn std::error::Error + Send + Sync>> {
    let logged = node.member_infos().remove(&own_id).unwrap_or_default();
    if logged.updated_by(own) == logged {
        return Ok(Report::Settled);
    }
    let leader = node.leader_id();
    if leader == Some(own_id) {
        node.update_member_info(own_id, own.clone()).await?;
        return Ok(Report::Sent);
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
    let mut config = ClientConfig::new(endpoints).with_timeout(REPORT_TIMEOUT);
    config.tls = ClientTlsFiles {
        ca_cert: cluster_ca.clone(),
        cert: None,
        key: None,
    };
    let client = Client::new(config)?;
    let addresses = ReportedAddresses {
        peer_addr: &body.peer_addr,
        client_addr: &body.client_addr,
    };
    let member_token = auth.current().issue_member_token(
        own_id,
        addresses,
        unix_seconds_now(),
        MEMBER_TOKEN_TTL_SECONDS,
    );
    if let Some(token) = member_token {
        client.send_token(&token)?;
    }
    client.set_member_address(own_id, &body).await?;
    Ok(Report::Sent)
}
