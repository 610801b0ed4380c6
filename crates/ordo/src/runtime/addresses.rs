//! Member addresses, with one owner: where each member is reached, and
//! whatever else the application records about it ([`MemberInfo`]).
//!
//! # Where an address comes from
//! - This node's [`RaftConfig::peers`](crate::RaftConfig::peers):
//!   *configured*. Its own [`RaftConfig`](crate::RaftConfig) address is not:
//!   the directory says what the group knows, and the group knows a node's
//!   own information only once it is logged.
//! - The log: [`RaftNode::add_learner`](crate::RaftNode::add_learner),
//!   [`RaftNode::add_node`](crate::RaftNode::add_node) and
//!   [`RaftNode::set_member_info`](crate::RaftNode::set_member_info) append
//!   a runtime entry naming the member's info (`envelope.rs`), and a new
//!   leader appends its own when the log does not carry its configured one.
//!   Snapshots carry what was logged up to their index. This is *logged*,
//!   and it wins over *configured*.
//!
//! # Invariants
//! - Logged information is learned when its entry is **applied** (or its
//!   snapshot installed), never when appended: an entry a new leader
//!   truncates never leaves a stale address behind. Only the apply stage
//!   writes the directory, in log order, so every node holds the same logged
//!   information at the same applied index.
//! - The transport hears of every change through one hook,
//!   [`Transport::update_peer`]: a member that joins or moves is added at
//!   its peer address, a member that left the applied configuration is
//!   removed [`DEPARTURE_GRACE_ELECTIONS`] election timeouts later (the
//!   leader keeps replicating to a departed member until it has seen its
//!   removal, and members answer its elections with a removal notice, which
//!   both need the link; see `ordo-core`'s `raft/removal.rs`). Nothing
//!   polls: the consensus task compares the directory's version after each
//!   round of progress.
//! - One exception to "learned when applied", for finding peers only: at
//!   start, the member information in the log after the last applied index
//!   (*hints*) is used to dial members this node knows no other peer
//!   address for, and shown by
//!   [`RaftNode::member_hints`](crate::RaftNode::member_hints). Without
//!   them a group restarted all at once could not elect a leader when a
//!   member's only address is in a suffix no node has applied yet, and a
//!   node restarted at a new address (which no leader can reach) could not
//!   tell anyone where it is. Hints never reach redirects or
//!   [`RaftNode::member_infos`](crate::RaftNode::member_infos), and a hint
//!   is dropped once an entry about its member is applied.

use std::collections::{BTreeMap, BTreeSet};

use ordo_core::NodeId;
use serde::{Deserialize, Serialize};

use crate::transport::Transport;

/// How many election timeouts a departed member stays in the transport.
pub(crate) const DEPARTURE_GRACE_ELECTIONS: u64 = 2;

/// What the group knows about one member: where clients and peers reach it,
/// and the application's own labels. Replicated through the log, so every
/// node holds the same information once it has applied the same entries.
///
/// ```
/// use ordo::MemberInfo;
///
/// let info = MemberInfo::new("http://10.0.0.4:8080")
///     .with_peer_address("10.0.0.4:9000")
///     .with_label("zone", "eu-1");
/// assert_eq!(info.address, "http://10.0.0.4:8080");
/// assert_eq!(MemberInfo::from("http://10.0.0.4:8080").peer_address, None);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MemberInfo {
    /// Where clients reach the member, in the application's own terms: what
    /// [`RaftError::NotLeader`](crate::RaftError::NotLeader) names. Empty
    /// when unknown; a redirect never names an empty address.
    #[serde(default)]
    pub address: String,
    /// Where other members' transports dial it (`HOST:PORT` for the TCP and
    /// gRPC transports), handed to [`Transport::update_peer`]. `None` when
    /// the application's transport keeps its own addresses.
    #[serde(default)]
    pub peer_address: Option<String>,
    /// Anything else the application records about the member (a zone, a
    /// version, a weight...).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl MemberInfo {
    /// A member reached by clients at `address`.
    pub fn new(address: impl Into<String>) -> Self {
        MemberInfo {
            address: address.into(),
            ..MemberInfo::default()
        }
    }

    /// The same, dialed by peers at `peer_address`.
    #[must_use]
    pub fn with_peer_address(mut self, peer_address: impl Into<String>) -> Self {
        self.peer_address = Some(peer_address.into());
        self
    }

    /// The same, with label `key` set to `value`.
    #[must_use]
    pub fn with_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// True if it says nothing.
    pub fn is_empty(&self) -> bool {
        self.address.is_empty() && self.peer_address.is_none() && self.labels.is_empty()
    }

    /// `self`, with what `newer` says replacing what it says differently:
    /// its non-empty address and peer address, and each of its labels.
    pub(crate) fn updated_by(&self, newer: &MemberInfo) -> MemberInfo {
        let mut merged = self.clone();
        if !newer.address.is_empty() {
            merged.address.clone_from(&newer.address);
        }
        if newer.peer_address.is_some() {
            merged.peer_address.clone_from(&newer.peer_address);
        }
        for (key, value) in &newer.labels {
            merged.labels.insert(key.clone(), value.clone());
        }
        merged
    }
}

impl From<String> for MemberInfo {
    /// A member reached by clients at this address.
    fn from(address: String) -> Self {
        MemberInfo::new(address)
    }
}

impl From<&str> for MemberInfo {
    /// A member reached by clients at this address.
    fn from(address: &str) -> Self {
        MemberInfo::new(address)
    }
}

/// Every member's information, by id.
pub(crate) type Members = BTreeMap<NodeId, MemberInfo>;

/// What this node knows about where members are. Shared by the stages
/// behind a lock; only the apply stage changes it after start.
#[derive(Debug, Default)]
pub(crate) struct Directory {
    configured: Members,
    logged: Members,
    hints: Members,
    /// The members of the configuration applied last (at start, the latest
    /// one in the log, which the core uses).
    members: BTreeSet<NodeId>,
    /// Bumped on every change, so readers notice one without comparing.
    version: u64,
}

impl Directory {
    /// A directory that knows only the node's configured peers.
    pub(crate) fn configured(configured: Members) -> Self {
        Directory {
            members: configured.keys().copied().collect(),
            configured,
            logged: Members::new(),
            hints: Members::new(),
            version: 0,
        }
    }

    /// The node starts: `logged` from the snapshot it restored, `members`
    /// the configuration the core starts with, `hints` the member
    /// information of the log's unapplied suffix.
    pub(crate) fn start(&mut self, logged: Members, members: BTreeSet<NodeId>, hints: Members) {
        self.logged = logged;
        self.members = members;
        self.hints = hints;
        self.version += 1;
    }

    /// What is known of `id`: the logged information over the configured.
    pub(crate) fn info(&self, id: NodeId) -> Option<MemberInfo> {
        match (self.configured.get(&id), self.logged.get(&id)) {
            (Some(configured), Some(logged)) => Some(configured.updated_by(logged)),
            (configured, logged) => logged.or(configured).cloned(),
        }
    }

    /// What is known of every node, configured or logged.
    pub(crate) fn all(&self) -> Members {
        let ids: BTreeSet<NodeId> = self
            .configured
            .keys()
            .chain(self.logged.keys())
            .copied()
            .collect();
        ids.into_iter()
            .filter_map(|id| self.info(id).map(|info| (id, info)))
            .collect()
    }

    /// What is known of every node with the hints over it: where a node
    /// may try to reach members, never what it tells clients.
    pub(crate) fn hinted(&self) -> Members {
        let mut members = self.all();
        for (&id, hint) in &self.hints {
            let merged = match members.get(&id) {
                Some(known) => known.updated_by(hint),
                None => hint.clone(),
            };
            members.insert(id, merged);
        }
        members
    }

    /// What the log says of `id` (applied).
    pub(crate) fn logged(&self, id: NodeId) -> Option<&MemberInfo> {
        self.logged.get(&id)
    }

    /// Everything the log says (applied), for a snapshot's header.
    pub(crate) fn logged_all(&self) -> &Members {
        &self.logged
    }

    /// An applied entry said `changes` (each replaces what was logged).
    pub(crate) fn learn(&mut self, changes: Members) {
        if changes.is_empty() {
            return;
        }
        for (id, info) in changes {
            self.hints.remove(&id);
            self.logged.insert(id, info);
        }
        self.version += 1;
    }

    /// An applied configuration entry made `members` the members.
    pub(crate) fn set_members(&mut self, members: BTreeSet<NodeId>) {
        if members != self.members {
            self.members = members;
            self.version += 1;
        }
    }

    /// A snapshot was installed: what it carries replaces what was logged.
    pub(crate) fn restore(&mut self, logged: Members, members: BTreeSet<NodeId>) {
        self.logged = logged;
        self.members = members;
        self.version += 1;
    }

    /// Where the transport should reach each member but `own`: `None` for a
    /// member whose peer address is not known.
    pub(crate) fn peer_table(&self, own: NodeId) -> BTreeMap<NodeId, Option<String>> {
        self.members
            .iter()
            .filter(|&&id| id != own)
            .map(|&id| {
                let address = self
                    .info(id)
                    .and_then(|info| info.peer_address)
                    .or_else(|| {
                        self.hints
                            .get(&id)
                            .and_then(|hint| hint.peer_address.clone())
                    });
                (id, address)
            })
            .collect()
    }

    /// Changes with every change.
    pub(crate) fn version(&self) -> u64 {
        self.version
    }
}

/// Keeps a transport's peers in step with the directory: the consensus
/// task's half of the hook.
#[derive(Debug)]
pub(crate) struct PeerSync {
    own: NodeId,
    /// What the transport was told, by peer.
    told: BTreeMap<NodeId, String>,
    /// Peers that left the configuration, and the tick they left at.
    departed: BTreeMap<NodeId, u64>,
    grace_ticks: u64,
    /// The directory version last synced (`None`: never).
    synced: Option<u64>,
}

impl PeerSync {
    /// A departed member is removed `grace_ticks` after it left.
    pub(crate) fn new(own: NodeId, grace_ticks: u64) -> Self {
        PeerSync {
            own,
            told: BTreeMap::new(),
            departed: BTreeMap::new(),
            grace_ticks,
            synced: None,
        }
    }

    /// Tells `transport` what changed in `directory` since the last call,
    /// and removes departed members whose grace has passed at tick `now`.
    /// True if the directory changed since the last call.
    pub(crate) fn sync(
        &mut self,
        directory: &Directory,
        transport: &dyn Transport,
        now: u64,
    ) -> bool {
        let changed = self.synced != Some(directory.version());
        if changed {
            self.synced = Some(directory.version());
            let table = directory.peer_table(self.own);
            for (&id, address) in &table {
                self.departed.remove(&id);
                let Some(address) = address else { continue };
                if self.told.get(&id) == Some(address) {
                    continue;
                }
                if let Err(error) = transport.update_peer(id, Some(address)) {
                    tracing::warn!(node_id = self.own, peer = id, %address, %error, "unusable peer address");
                }
                self.told.insert(id, address.clone());
            }
            for &id in self.told.keys() {
                if !table.contains_key(&id) {
                    self.departed.entry(id).or_insert(now);
                }
            }
        }
        if self.departed.is_empty() {
            return changed;
        }
        let expired: Vec<NodeId> = self
            .departed
            .iter()
            .filter(|&(_, &left)| now.saturating_sub(left) >= self.grace_ticks)
            .map(|(&id, _)| id)
            .collect();
        for id in expired {
            self.departed.remove(&id);
            self.told.remove(&id);
            if let Err(error) = transport.update_peer(id, None) {
                tracing::warn!(node_id = self.own, peer = id, %error, "could not remove a departed peer");
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::transport::{Inbox, Message, TransportError};

    /// Records what it is told: peer to address.
    #[derive(Default)]
    struct Recorder(Mutex<BTreeMap<NodeId, String>>);

    impl Transport for Recorder {
        fn start(&self, _: Inbox) -> Result<(), TransportError> {
            Ok(())
        }
        fn send(&self, _: Message) {}
        fn stop(&self) {}
        fn update_peer(&self, peer: NodeId, address: Option<&str>) -> Result<(), TransportError> {
            let mut told = self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match address {
                Some(address) => told.insert(peer, address.to_owned()),
                None => told.remove(&peer),
            };
            Ok(())
        }
    }

    impl Recorder {
        fn told(&self) -> Vec<(NodeId, String)> {
            let told = self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            told.iter().map(|(&id, a)| (id, a.clone())).collect()
        }
    }

    fn dialed(id: NodeId, peer: &str) -> (NodeId, MemberInfo) {
        (
            id,
            MemberInfo::new(format!("client-{id}")).with_peer_address(peer),
        )
    }

    fn ids(ids: &[NodeId]) -> BTreeSet<NodeId> {
        ids.iter().copied().collect()
    }

    #[test]
    fn logged_information_overlays_the_configured() {
        let mut directory = Directory::configured([dialed(1, "p1"), dialed(2, "p2")].into());
        directory.learn([(2, MemberInfo::new("moved").with_label("zone", "a"))].into());
        let two = directory.info(2).unwrap_or_default();
        assert_eq!(two.address, "moved");
        assert_eq!(
            two.peer_address.as_deref(),
            Some("p2"),
            "kept from the configuration"
        );
        assert_eq!(two.labels.get("zone").map(String::as_str), Some("a"));
        assert_eq!(directory.all().len(), 2);
    }

    #[test]
    fn hints_only_dial_and_yield_to_anything_logged() {
        let mut directory = Directory::configured([dialed(1, "p1")].into());
        directory.start(Members::new(), ids(&[1, 2]), [dialed(2, "hint")].into());
        assert_eq!(
            directory.peer_table(1).get(&2),
            Some(&Some("hint".to_owned()))
        );
        assert_eq!(directory.info(2), None, "a hint is no member information");
        assert_eq!(directory.hinted().get(&2), Some(&dialed(2, "hint").1));
        directory.learn([dialed(2, "logged")].into());
        assert_eq!(
            directory.peer_table(1).get(&2),
            Some(&Some("logged".to_owned()))
        );
    }

    #[test]
    fn the_transport_is_told_of_joins_and_moves_at_once_and_departures_after_the_grace() {
        let transport = Recorder::default();
        let mut directory = Directory::configured([dialed(1, "p1"), dialed(2, "p2")].into());
        let mut sync = PeerSync::new(1, 10);
        assert!(sync.sync(&directory, &transport, 0));
        assert_eq!(transport.told(), [(2, "p2".to_owned())]);
        assert!(!sync.sync(&directory, &transport, 1), "nothing changed");

        directory.learn([dialed(3, "p3")].into());
        directory.set_members(ids(&[1, 2, 3]));
        sync.sync(&directory, &transport, 2);
        assert_eq!(transport.told().len(), 2);
        directory.learn([dialed(3, "p3-moved")].into());
        sync.sync(&directory, &transport, 3);
        assert!(transport.told().contains(&(3, "p3-moved".to_owned())));

        directory.set_members(ids(&[1, 2]));
        sync.sync(&directory, &transport, 5);
        sync.sync(&directory, &transport, 14);
        assert_eq!(transport.told().len(), 2, "still within its grace");
        sync.sync(&directory, &transport, 15);
        assert_eq!(transport.told(), [(2, "p2".to_owned())]);

        // Back within the grace: never removed.
        directory.set_members(ids(&[1]));
        sync.sync(&directory, &transport, 20);
        directory.set_members(ids(&[1, 2]));
        sync.sync(&directory, &transport, 25);
        sync.sync(&directory, &transport, 100);
        assert_eq!(transport.told(), [(2, "p2".to_owned())]);
    }
}
