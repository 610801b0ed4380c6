//! Member addresses, with one owner: where each member is reached, and
//! whatever else the application records about it ([`MemberInfo`]).
//!
//! # Where information comes from
//! - This node's [`RaftConfig::peers`](crate::RaftConfig::peers):
//!   *configured*. Not its own [`RaftConfig`](crate::RaftConfig) address:
//!   the directory says what the group knows, and the group knows a node's
//!   own information only once it is logged.
//! - The log: [`RaftNode::add_learner`](crate::RaftNode::add_learner),
//!   [`RaftNode::add_node`](crate::RaftNode::add_node) and
//!   [`RaftNode::update_member_info`](crate::RaftNode::update_member_info)
//!   append a runtime entry naming a member's information (`envelope.rs`),
//!   and a new leader appends its own when the log says otherwise. Each
//!   entry is merged into what was logged before ([`MemberInfo::updated_by`]),
//!   so an entry built from a stale view can only add or change what it
//!   names, never erase the rest. Snapshots carry what was logged up to
//!   their index.
//!
//! # Two views, for two uses
//! - **Applied** (*logged*, over *configured*): what
//!   [`RaftNode::member_infos`](crate::RaftNode::member_infos) reports and
//!   redirects name. Learned when an entry is applied (or its snapshot
//!   installed), never when appended: an entry a new leader truncates never
//!   reaches a client. Only the apply stage writes it, in log order, so the
//!   logged part is the same on every node at the same applied index.
//! - **Appended** (*pending*, by log index, over the applied view): where
//!   the transport dials. The consensus task records each entry's
//!   information as it is appended (and, at start, the log's unapplied
//!   suffix), drops it when the log truncates it or the apply stage has
//!   applied it, and the newest wins. Dialing must not wait for commit: a
//!   member that moved may be needed to commit the very entry that says so,
//!   and a voter added directly must be reached before its configuration
//!   commits. A truncated entry stops being dialed once the entries that
//!   replace it are handed to storage (a member whose only address it gave
//!   is no longer dialed at all). [`RaftNode::member_hints`](crate::RaftNode::member_hints)
//!   shows this view, for finding members, never for redirects.
//!
//! # The transport
//! It hears of every change through one hook, [`Transport::update_peer`],
//! called by the consensus task after each round that changed the
//! directory: nothing polls. Its peers are the members of the configuration
//! the core uses (the newest appended one, as Raft requires), at their
//! dialing address. A member that left it is removed
//! [`DEPARTURE_GRACE_ELECTIONS`] election timeouts later: the leader keeps
//! replicating to a departed member until it has seen its removal, and
//! members answer its elections with a removal notice, which both need the
//! link (`ordo-core`'s `raft/removal.rs`). A member cut off for longer than
//! that does not hear of its removal: its connections are refused at the
//! handshake from then on, so it disturbs nobody, and it keeps retrying
//! until its operator stops it.
//!
//! A member is dialed from when its addition is *appended*, not committed:
//! the leader must replicate to a learner (or a voter added directly) whose
//! configuration entry is not committed yet, and for a voter added to a
//! group of one that entry cannot commit until the new voter holds it. What
//! holds instead: an address learned from an uncommitted entry is dialed
//! only while that entry is in the log. If the entry that added a member is
//! truncated, so that no configuration in the log holds it any more
//! ([`ordo_core::Raft::in_any_configuration`]), it is dropped from the
//! transport at once, without the grace (it was never removed, so there is
//! no removal to hear of), and its connections are refused at the
//! handshake like any stranger's. A node that installs a snapshot taken
//! after a member's removal drops it at once too: its log no longer holds
//! a configuration with it.
//!
//! # A limit
//! The log's addresses win over the configured ones, so configuration
//! cannot move a member by itself: the move must be logged, which needs a
//! leader. A group where so many members moved at once that no quorum can
//! reach each other cannot elect one; start the moved members at their old
//! addresses until the moves are logged, or rebuild the group from a backup.

use std::collections::{BTreeMap, BTreeSet};

use ordo_core::{Index, NodeId};
use serde::{Deserialize, Serialize};

use crate::transport::Transport;

/// How many election timeouts a departed member stays in the transport.
pub(crate) const DEPARTURE_GRACE_ELECTIONS: u64 = 10;

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
///
/// // Logged information is merged: what an update leaves empty is kept,
/// // and a label set to "" is removed.
/// let moved = info.updated_by(&MemberInfo::new("http://10.0.0.5:8080").with_label("zone", ""));
/// assert_eq!(moved.peer_address.as_deref(), Some("10.0.0.4:9000"));
/// assert!(moved.labels.is_empty());
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

    /// `self` as `update` changes it, the way the log applies an entry: a
    /// non-empty address and a peer address replace the old ones (an empty
    /// or missing one keeps it), each label is set, and a label set to an
    /// empty value is removed.
    #[must_use]
    pub fn updated_by(&self, update: &MemberInfo) -> MemberInfo {
        let mut merged = self.clone();
        if !update.address.is_empty() {
            merged.address.clone_from(&update.address);
        }
        if update.peer_address.is_some() {
            merged.peer_address.clone_from(&update.peer_address);
        }
        for (key, value) in &update.labels {
            if value.is_empty() {
                merged.labels.remove(key);
            } else {
                merged.labels.insert(key.clone(), value.clone());
            }
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

/// What this node knows about where members are, in the two views the
/// module docs describe. Shared by the stages behind a lock: the apply
/// stage writes the applied view, the consensus task the appended one.
#[derive(Debug, Default)]
pub(crate) struct Directory {
    configured: Members,
    logged: Members,
    /// Information in appended entries not applied yet, by entry index.
    pending: BTreeMap<Index, Members>,
    /// The members of the configuration the core uses.
    members: BTreeSet<NodeId>,
    /// Bumped on every change, so readers notice one without comparing.
    version: u64,
    /// Bumped on every change of the applied view.
    applied_version: u64,
}

impl Directory {
    /// A directory that knows only the node's configured peers.
    pub(crate) fn configured(configured: Members) -> Self {
        Directory {
            members: configured.keys().copied().collect(),
            configured,
            ..Directory::default()
        }
    }

    /// The node starts: `logged` from the snapshot it restored, `members`
    /// the configuration the core starts with, `pending` the information in
    /// the log's unapplied suffix.
    pub(crate) fn start(
        &mut self,
        logged: Members,
        members: BTreeSet<NodeId>,
        pending: BTreeMap<Index, Members>,
    ) {
        self.logged = logged;
        self.members = members;
        self.pending = pending;
        self.version += 1;
        self.applied_version += 1;
    }

    /// The applied view of `id`: what was logged, over what is configured.
    pub(crate) fn info(&self, id: NodeId) -> Option<MemberInfo> {
        match (self.configured.get(&id), self.logged.get(&id)) {
            (Some(configured), Some(logged)) => Some(configured.updated_by(logged)),
            (configured, logged) => logged.or(configured).cloned(),
        }
    }

    /// The applied view of every node.
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

    /// The appended view of every node: the applied one with the pending
    /// entries merged in, in log order.
    pub(crate) fn hinted(&self) -> Members {
        let mut members = self.all();
        for changes in self.pending.values() {
            merge(&mut members, changes);
        }
        members
    }

    /// The appended view of `id`: the applied one with the pending entries
    /// about it merged in, in log order.
    pub(crate) fn appended_info(&self, id: NodeId) -> Option<MemberInfo> {
        let mut info = self.info(id);
        for change in self.pending.values().filter_map(|changes| changes.get(&id)) {
            info = Some(info.unwrap_or_default().updated_by(change));
        }
        info
    }

    /// Everything the log says (applied), for a snapshot's header.
    pub(crate) fn logged_all(&self) -> &Members {
        &self.logged
    }

    /// An applied entry said `changes`.
    pub(crate) fn learn(&mut self, changes: &Members) {
        merge(&mut self.logged, changes);
        self.version += 1;
        self.applied_version += 1;
    }

    /// A snapshot was installed: what it carries replaces what was logged,
    /// and the log it replaced holds nothing pending any more.
    pub(crate) fn restore(&mut self, logged: Members) {
        self.logged = logged;
        self.pending.clear();
        self.version += 1;
        self.applied_version += 1;
    }

    /// Entries from `first` on were written, replacing any from `first` on,
    /// and those of them carrying member information carry `changes`.
    pub(crate) fn appended(&mut self, first: Index, changes: Vec<(Index, Members)>) {
        let truncated = self.pending.split_off(&first);
        if truncated.is_empty() && changes.is_empty() {
            return;
        }
        self.pending.extend(changes);
        self.version += 1;
    }

    /// This node expects entry `index` (written, or about to be) to make
    /// `changes` true, though the entry does not carry them: dial by them
    /// until it is applied or truncated (see `consensus/addresses.rs`).
    pub(crate) fn expect(&mut self, index: Index, changes: Members) {
        merge(self.pending.entry(index).or_default(), &changes);
        self.version += 1;
    }

    /// True if appended entries from `first` on change nothing here (none
    /// pending there, none carried): the common case, checked under a
    /// read lock.
    pub(crate) fn unaffected_by_append(&self, first: Index) -> bool {
        self.pending.range(first..).next().is_none()
    }

    /// Entries through `index` are applied: what they carried is in the
    /// applied view now.
    pub(crate) fn applied_through(&mut self, index: Index) {
        if self
            .pending
            .first_key_value()
            .is_some_and(|(&first, _)| first <= index)
        {
            self.pending = self.pending.split_off(&(index + 1));
            self.version += 1;
        }
    }

    /// True if anything is pending.
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The core now uses a configuration of `members`. Answers those that
    /// left it.
    pub(crate) fn set_members(&mut self, members: BTreeSet<NodeId>) -> BTreeSet<NodeId> {
        if members == self.members {
            return BTreeSet::new();
        }
        let left = self.members.difference(&members).copied().collect();
        self.members = members;
        self.version += 1;
        left
    }

    /// Where the transport should reach each member but `own`, in the
    /// appended view: `None` for a member whose peer address is not known.
    pub(crate) fn peer_table(&self, own: NodeId) -> BTreeMap<NodeId, Option<String>> {
        self.members
            .iter()
            .filter(|&&id| id != own)
            .map(|&id| {
                let newest_pending = self
                    .pending
                    .values()
                    .rev()
                    .find_map(|changes| changes.get(&id)?.peer_address.clone());
                let address =
                    newest_pending.or_else(|| self.info(id).and_then(|info| info.peer_address));
                (id, address)
            })
            .collect()
    }

    /// Changes with every change.
    pub(crate) fn version(&self) -> u64 {
        self.version
    }

    /// Changes with every change of the applied view.
    pub(crate) fn applied_version(&self) -> u64 {
        self.applied_version
    }
}

/// Merges each of `changes` into `members`, as the log applies them.
fn merge(members: &mut Members, changes: &Members) {
    for (&id, change) in changes {
        let merged = members.get(&id).map_or_else(
            || MemberInfo::default().updated_by(change),
            |known| known.updated_by(change),
        );
        members.insert(id, merged);
    }
}

/// Keeps a transport's peers in step with the directory: the consensus
/// task's half of the hook. It reads the directory under its lock and
/// calls the transport after releasing it.
#[derive(Debug)]
pub(crate) struct PeerSync {
    own: NodeId,
    /// What the transport was told, by peer.
    told: BTreeMap<NodeId, String>,
    /// Peers that left the configuration, and the tick they left at.
    departed: BTreeMap<NodeId, u64>,
    /// Peers to drop with no grace when they leave: their addition was
    /// truncated, so no configuration in the log holds them.
    never_members: BTreeSet<NodeId>,
    grace_ticks: u64,
    /// The directory version last handed to the transport (`None`: never).
    synced: Option<u64>,
    /// The applied-view version last reported (`None`: never).
    reported: Option<u64>,
}

impl PeerSync {
    /// A departed member is removed `grace_ticks` after it left.
    pub(crate) fn new(own: NodeId, grace_ticks: u64) -> Self {
        PeerSync {
            own,
            told: BTreeMap::new(),
            departed: BTreeMap::new(),
            never_members: BTreeSet::new(),
            grace_ticks,
            synced: None,
            reported: None,
        }
    }

    /// True if nothing is to do: the transport was told about `version`,
    /// the applied view at `applied_version` was reported, and no departed
    /// member waits for its grace to end.
    pub(crate) fn is_quiet(&self, version: u64, applied_version: u64) -> bool {
        self.synced == Some(version)
            && self.reported == Some(applied_version)
            && self.departed.is_empty()
    }

    /// `ids` left the configuration and no configuration in the log holds
    /// them any more (the entry that added them was truncated): they are
    /// dropped at the next [`update`](Self::update), with no grace, since
    /// there is no removal for them to hear of.
    pub(crate) fn forget_at_once(&mut self, ids: impl IntoIterator<Item = NodeId>) {
        self.never_members.extend(ids);
    }

    /// True if the directory at `version` has news for the transport.
    pub(crate) fn wants(&self, version: u64) -> bool {
        self.synced != Some(version)
    }

    /// True if the applied view at `version` changed since the last call
    /// (not on the first call: the start is no change to report).
    pub(crate) fn reports(&mut self, version: u64) -> bool {
        let previous = self.reported.replace(version);
        previous.is_some_and(|previous| previous != version)
    }

    /// Tells `transport` what changed: `table` is where each member is
    /// dialed in the directory at `version`, as of tick `now`. A member with
    /// no known address stops being dialed at an address it was told
    /// before (the entry that gave it was truncated); a member that left
    /// starts its grace.
    pub(crate) fn update(
        &mut self,
        version: u64,
        table: &BTreeMap<NodeId, Option<String>>,
        transport: &dyn Transport,
        now: u64,
    ) {
        self.synced = Some(version);
        for (&id, address) in table {
            self.departed.remove(&id);
            let Some(address) = address else {
                if self.told.remove(&id).is_some() {
                    self.tell(transport, id, None);
                }
                continue;
            };
            if self.told.get(&id) != Some(address) {
                self.tell(transport, id, Some(address));
                self.told.insert(id, address.clone());
            }
        }
        let left: Vec<NodeId> = self
            .told
            .keys()
            .filter(|id| !table.contains_key(id))
            .copied()
            .collect();
        for id in left {
            if self.never_members.contains(&id) {
                self.departed.remove(&id);
                self.told.remove(&id);
                self.tell(transport, id, None);
            } else {
                self.departed.entry(id).or_insert(now);
            }
        }
        self.never_members.clear();
    }

    /// Removes departed members whose grace has passed at tick `now`.
    pub(crate) fn expire(&mut self, transport: &dyn Transport, now: u64) {
        if self.departed.is_empty() {
            return;
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
            self.tell(transport, id, None);
        }
    }

    fn tell(&self, transport: &dyn Transport, id: NodeId, address: Option<&str>) {
        if let Err(error) = transport.update_peer(id, address) {
            tracing::warn!(node_id = self.own, peer = id, ?address, %error, "the transport refused a peer update");
        }
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
    fn logged_information_is_merged_over_the_configured() {
        let mut directory = Directory::configured([dialed(1, "p1"), dialed(2, "p2")].into());
        directory.learn(&[(2, MemberInfo::new("moved").with_label("zone", "a"))].into());
        directory.learn(&[(2, MemberInfo::default().with_label("rack", "r1"))].into());
        let two = directory.info(2).unwrap_or_default();
        assert_eq!(
            two.address, "moved",
            "an update without an address keeps it"
        );
        assert_eq!(
            two.peer_address.as_deref(),
            Some("p2"),
            "kept from the configuration"
        );
        assert_eq!(two.labels.len(), 2, "labels are merged, not replaced");
        directory.learn(&[(2, MemberInfo::default().with_label("zone", ""))].into());
        assert_eq!(directory.info(2).map(|info| info.labels.len()), Some(1));
        assert_eq!(directory.all().len(), 2);
    }

    #[test]
    fn the_newest_appended_address_is_dialed_and_forgotten_when_truncated() {
        let mut directory = Directory::configured([dialed(2, "configured")].into());
        let pending = BTreeMap::from([(10, [dialed(2, "moved")].into())]);
        directory.start([dialed(2, "snapshot")].into(), ids(&[1, 2]), pending);
        // After a restart, a move logged after the snapshot wins for dialing.
        assert_eq!(
            directory.peer_table(1).get(&2),
            Some(&Some("moved".to_owned()))
        );
        assert_eq!(
            directory.info(2).and_then(|info| info.peer_address),
            Some("snapshot".into())
        );
        assert_eq!(
            directory
                .hinted()
                .get(&2)
                .and_then(|info| info.peer_address.clone()),
            Some("moved".into())
        );

        directory.appended(12, vec![(12, [dialed(2, "newer")].into())]);
        assert_eq!(
            directory.peer_table(1).get(&2),
            Some(&Some("newer".to_owned()))
        );
        // A new leader overwrites from index 11 on: both entries are gone.
        directory.appended(11, Vec::new());
        assert!(directory.unaffected_by_append(11));
        assert_eq!(
            directory.peer_table(1).get(&2),
            Some(&Some("moved".to_owned()))
        );
        directory.appended(10, Vec::new());
        assert_eq!(
            directory.peer_table(1).get(&2),
            Some(&Some("snapshot".to_owned()))
        );
    }

    #[test]
    fn pending_information_leaves_once_applied() {
        let mut directory = Directory::configured(Members::new());
        directory.appended(5, vec![(5, [dialed(2, "p2")].into())]);
        assert!(directory.has_pending());
        assert_eq!(directory.info(2), None, "not applied: not reported");
        directory.learn(&[dialed(2, "p2")].into());
        directory.applied_through(5);
        assert!(!directory.has_pending());
        assert_eq!(
            directory.info(2).and_then(|info| info.peer_address),
            Some("p2".into())
        );
    }

    /// What the consensus task does each round: true if it reported a change.
    fn step(sync: &mut PeerSync, directory: &Directory, transport: &Recorder, now: u64) -> bool {
        if sync.wants(directory.version()) {
            sync.update(
                directory.version(),
                &directory.peer_table(1),
                transport,
                now,
            );
        }
        sync.expire(transport, now);
        sync.reports(directory.applied_version())
    }

    #[test]
    fn a_member_whose_only_address_was_truncated_is_not_dialed_there() {
        let transport = Recorder::default();
        let mut directory = Directory::configured(Members::new());
        directory.set_members(ids(&[1, 2]));
        directory.appended(11, vec![(11, [dialed(2, "p2")].into())]);
        let mut sync = PeerSync::new(1, 10);
        step(&mut sync, &directory, &transport, 0);
        assert_eq!(transport.told(), [(2, "p2".to_owned())]);
        directory.appended(11, Vec::new());
        step(&mut sync, &directory, &transport, 1);
        assert!(transport.told().is_empty());
    }

    /// A member whose addition was truncated leaves with no grace; one
    /// that leaves the same way afterwards without being marked keeps it.
    #[test]
    fn a_member_whose_addition_was_truncated_is_dropped_at_once() {
        let transport = Recorder::default();
        let mut directory = Directory::configured([dialed(1, "p1"), dialed(2, "p2")].into());
        let mut sync = PeerSync::new(1, 10);
        step(&mut sync, &directory, &transport, 0);
        directory.appended(11, vec![(11, [dialed(3, "p3")].into())]);
        directory.set_members(ids(&[1, 2, 3]));
        step(&mut sync, &directory, &transport, 1);
        assert_eq!(transport.told().len(), 2, "dialed once appended");

        directory.appended(11, Vec::new());
        let left = directory.set_members(ids(&[1, 2]));
        assert_eq!(left, ids(&[3]));
        sync.forget_at_once(left);
        step(&mut sync, &directory, &transport, 2);
        assert_eq!(transport.told(), [(2, "p2".to_owned())]);

        directory.learn(&[dialed(3, "p3")].into());
        directory.set_members(ids(&[1, 2, 3]));
        step(&mut sync, &directory, &transport, 3);
        directory.set_members(ids(&[1, 2]));
        step(&mut sync, &directory, &transport, 4);
        assert_eq!(transport.told().len(), 2, "a removal keeps the grace");
    }

    #[test]
    fn the_transport_is_told_of_joins_and_moves_at_once_and_departures_after_the_grace() {
        let transport = Recorder::default();
        let mut directory = Directory::configured([dialed(1, "p1"), dialed(2, "p2")].into());
        let mut sync = PeerSync::new(1, 10);
        assert!(
            !step(&mut sync, &directory, &transport, 0),
            "the start is no change"
        );
        assert_eq!(transport.told(), [(2, "p2".to_owned())]);
        assert!(
            !step(&mut sync, &directory, &transport, 1),
            "nothing changed"
        );

        directory.learn(&[dialed(3, "p3")].into());
        directory.set_members(ids(&[1, 2, 3]));
        step(&mut sync, &directory, &transport, 2);
        assert_eq!(transport.told().len(), 2);
        directory.learn(&[dialed(3, "p3-moved")].into());
        step(&mut sync, &directory, &transport, 3);
        assert!(transport.told().contains(&(3, "p3-moved".to_owned())));

        directory.set_members(ids(&[1, 2]));
        step(&mut sync, &directory, &transport, 5);
        step(&mut sync, &directory, &transport, 14);
        assert_eq!(transport.told().len(), 2, "still within its grace");
        step(&mut sync, &directory, &transport, 15);
        assert_eq!(transport.told(), [(2, "p2".to_owned())]);

        // Back within the grace: never removed.
        directory.set_members(ids(&[1]));
        step(&mut sync, &directory, &transport, 20);
        directory.set_members(ids(&[1, 2]));
        step(&mut sync, &directory, &transport, 25);
        step(&mut sync, &directory, &transport, 100);
        assert_eq!(transport.told(), [(2, "p2".to_owned())]);
    }
}
