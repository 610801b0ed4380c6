//! Raft's safety properties, checked against a whole cluster after every step.
//!
//! The checks work on [`Observation`]s — plain snapshots of each node — so they
//! can be fed hand-made states in tests, proving each one catches the
//! violation it exists for.
//!
//! - **Election safety**: at most one leader per term, ever.
//! - **Log matching**: if two logs hold an entry with the same index and term,
//!   they are identical up to it.
//! - **Leaders commit by their own term** (§5.4.2): a leader moves its commit
//!   index only onto an entry of its current term (older ones commit with it).
//! - **Committed entries are permanent**: once any node has seen an index
//!   committed, every node that commits that index has the same entry there.
//! - **State machine safety**: every node applies exactly the committed
//!   entries, in order, without gaps.
//! - **Monotonic commit**: a node's commit index never decreases within one
//!   incarnation (its commit index is volatile and restarts with it).
//! - **No impossible messages**: in a cluster of correct nodes, no node ever
//!   drops a message as one a correct peer could not have sent.

use std::collections::BTreeMap;

use ordo_core::{Entry, Index, NodeId, Role, Term};

use crate::cluster::Cluster;

/// One node as the checker sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    /// The node.
    pub id: NodeId,
    /// Its role and term, if running.
    pub running: Option<(Role, Term)>,
    /// Its commit index (0 if down).
    pub commit: Index,
    /// Its whole log.
    pub log: Vec<Entry>,
    /// What its state machine applied this incarnation.
    pub applied: Vec<Entry>,
    /// Its incarnation.
    pub incarnation: u64,
    /// Messages it dropped as impossible from a correct peer.
    pub protocol_violations: u64,
}

/// Remembers what the cluster has promised so far and checks every new state
/// against it.
#[derive(Clone, Debug, Default)]
pub struct Checker {
    leaders: BTreeMap<Term, NodeId>,
    committed: BTreeMap<Index, Entry>,
    commit_seen: BTreeMap<NodeId, (u64, Index)>,
    /// Per node: incarnation, term and commit index while it was leader.
    leading: BTreeMap<NodeId, (u64, Term, Index)>,
}

impl Checker {
    /// A checker that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Entries known committed, by index.
    pub fn committed(&self) -> &BTreeMap<Index, Entry> {
        &self.committed
    }

    /// Observes every node of `cluster` and checks all properties.
    ///
    /// # Errors
    /// A description of the first violation found.
    pub fn check_cluster(&mut self, cluster: &Cluster) -> Result<(), String> {
        let observations: Vec<Observation> = cluster
            .nodes
            .iter()
            .map(|(&id, node)| Observation {
                id,
                running: node.raft.as_ref().map(|r| (r.role(), r.status().term)),
                commit: node.raft.as_ref().map_or(0, |r| r.status().commit_index),
                log: cluster.log_entries(id),
                applied: node.applied.clone(),
                incarnation: node.incarnation,
                protocol_violations: node
                    .raft
                    .as_ref()
                    .map_or(0, |r| r.status().protocol_violations),
            })
            .collect();
        self.check(&observations)
    }

    /// Checks one set of observations.
    ///
    /// # Errors
    /// A description of the first violation found.
    pub fn check(&mut self, nodes: &[Observation]) -> Result<(), String> {
        if let Some(node) = nodes.iter().find(|n| n.protocol_violations > 0) {
            return Err(format!(
                "node {} saw {} messages no correct peer sends",
                node.id, node.protocol_violations
            ));
        }
        self.check_election_safety(nodes)?;
        self.check_leader_commits_own_term(nodes)?;
        check_log_matching(nodes)?;
        self.check_commits(nodes)?;
        self.check_applied(nodes)
    }

    fn check_election_safety(&mut self, nodes: &[Observation]) -> Result<(), String> {
        for node in nodes {
            if let Some((Role::Leader, term)) = node.running {
                let leader = *self.leaders.entry(term).or_insert(node.id);
                if leader != node.id {
                    return Err(format!(
                        "election safety: nodes {leader} and {} both led term {term}",
                        node.id
                    ));
                }
            }
        }
        Ok(())
    }

    fn check_leader_commits_own_term(&mut self, nodes: &[Observation]) -> Result<(), String> {
        for node in nodes {
            let Some((Role::Leader, term)) = node.running else {
                self.leading.remove(&node.id);
                continue;
            };
            let now = (node.incarnation, term, node.commit);
            if let Some(&(incarnation, led_term, commit)) = self.leading.get(&node.id)
                && incarnation == node.incarnation
                && led_term == term
                && node.commit > commit
            {
                let entry_term = node
                    .log
                    .iter()
                    .find(|e| e.index == node.commit)
                    .map(|e| e.term);
                if entry_term != Some(term) {
                    return Err(format!(
                        "leader {} of term {term} advanced its commit index to {} whose entry is from term {entry_term:?}: \
                         only current-term entries may be committed by counting replicas (Raft §5.4.2)",
                        node.id, node.commit
                    ));
                }
            }
            self.leading.insert(node.id, now);
        }
        Ok(())
    }

    fn check_commits(&mut self, nodes: &[Observation]) -> Result<(), String> {
        for node in nodes.iter().filter(|n| n.running.is_some()) {
            let (incarnation, previous) = self
                .commit_seen
                .get(&node.id)
                .copied()
                .unwrap_or((node.incarnation, 0));
            if incarnation == node.incarnation && node.commit < previous {
                return Err(format!(
                    "commit index of node {} went back from {previous} to {}",
                    node.id, node.commit
                ));
            }
            self.commit_seen
                .insert(node.id, (node.incarnation, node.commit));
            for entry in node.log.iter().take_while(|e| e.index <= node.commit) {
                self.record_committed(node.id, entry)?;
            }
        }
        Ok(())
    }

    fn record_committed(&mut self, id: NodeId, entry: &Entry) -> Result<(), String> {
        match self.committed.get(&entry.index) {
            Some(known) if known != entry => Err(format!(
                "committed entry changed: node {id} has {entry:?} at a committed index where {known:?} was committed"
            )),
            Some(_) => Ok(()),
            None => {
                self.committed.insert(entry.index, entry.clone());
                Ok(())
            }
        }
    }

    fn check_applied(&mut self, nodes: &[Observation]) -> Result<(), String> {
        for node in nodes {
            for (position, entry) in node.applied.iter().enumerate() {
                if entry.index != position as Index + 1 {
                    return Err(format!(
                        "node {} applied {:?} at position {}: a gap or reordering",
                        node.id,
                        entry,
                        position + 1
                    ));
                }
                self.record_committed(node.id, entry)
                    .map_err(|e| format!("state machine safety: node {} applied an entry that is not the committed one ({e})", node.id))?;
            }
        }
        Ok(())
    }
}

/// Log matching over every pair of nodes.
///
/// # Errors
/// The first pair whose logs agree on an (index, term) but differ before it.
pub fn check_log_matching(nodes: &[Observation]) -> Result<(), String> {
    for (i, a) in nodes.iter().enumerate() {
        for b in &nodes[i + 1..] {
            // Logs may start at different indexes (compaction); compare where
            // both hold entries.
            let (Some(a_first), Some(b_first)) = (a.log.first(), b.log.first()) else {
                continue;
            };
            let first = a_first.index.max(b_first.index);
            let a_common = a
                .log
                .get((first - a_first.index) as usize..)
                .unwrap_or_default();
            let b_common = b
                .log
                .get((first - b_first.index) as usize..)
                .unwrap_or_default();
            let pairs = || a_common.iter().zip(b_common);
            let Some(last) = pairs().rposition(|(x, y)| x.index == y.index && x.term == y.term)
            else {
                continue;
            };
            if let Some((x, _)) = pairs().take(last + 1).find(|(x, y)| x != y) {
                return Err(format!(
                    "log matching: nodes {} and {} agree at {} but differ at index {}",
                    a.id, b.id, a_common[last].index, x.index
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: NodeId, role: Role, term: Term, commit: Index, log: &[Term]) -> Observation {
        Observation {
            id,
            running: Some((role, term)),
            commit,
            log: log
                .iter()
                .zip(1..)
                .map(|(&t, i)| Entry::command(i, t, vec![i as u8]))
                .collect(),
            applied: Vec::new(),
            incarnation: 0,
            protocol_violations: 0,
        }
    }

    #[test]
    fn healthy_cluster_passes() {
        let mut checker = Checker::new();
        let nodes = [
            node(1, Role::Leader, 2, 3, &[1, 1, 2]),
            node(2, Role::Follower, 2, 2, &[1, 1]),
        ];
        assert_eq!(checker.check(&nodes), Ok(()));
    }

    #[test]
    fn catches_two_leaders_in_one_term_even_at_different_times() {
        let mut checker = Checker::new();
        assert!(checker.check(&[node(1, Role::Leader, 3, 0, &[])]).is_ok());
        let error = checker.check(&[node(2, Role::Leader, 3, 0, &[])]);
        assert!(error.is_err_and(|e| e.contains("election safety")));
    }

    #[test]
    fn catches_logs_that_agree_late_but_differ_early() {
        let mut a = node(1, Role::Follower, 2, 0, &[1, 1, 2]);
        let b = node(2, Role::Follower, 2, 0, &[1, 1, 2]);
        a.log[1].payload = ordo_core::EntryPayload::Noop;
        assert!(check_log_matching(&[a, b]).is_err_and(|e| e.contains("log matching")));
    }

    #[test]
    fn catches_a_committed_entry_that_changed() {
        let mut checker = Checker::new();
        assert!(
            checker
                .check(&[node(1, Role::Leader, 1, 2, &[1, 1])])
                .is_ok()
        );
        let error = checker.check(&[node(2, Role::Leader, 2, 2, &[1, 2])]);
        assert!(error.is_err_and(|e| e.contains("committed entry changed")));
    }

    #[test]
    fn catches_a_commit_index_going_back() {
        let mut checker = Checker::new();
        assert!(
            checker
                .check(&[node(1, Role::Follower, 1, 2, &[1, 1])])
                .is_ok()
        );
        let error = checker.check(&[node(1, Role::Follower, 1, 1, &[1, 1])]);
        assert!(error.is_err_and(|e| e.contains("went back")));
        let mut restarted = node(1, Role::Follower, 1, 0, &[1, 1]);
        restarted.incarnation = 1;
        assert_eq!(
            Checker::new().check(&[restarted]),
            Ok(()),
            "a restart resets the volatile commit index"
        );
    }

    #[test]
    fn catches_an_applied_entry_that_was_not_committed() {
        let mut checker = Checker::new();
        assert!(checker.check(&[node(1, Role::Leader, 1, 1, &[1])]).is_ok());
        let mut follower = node(2, Role::Follower, 1, 0, &[]);
        follower.applied = vec![Entry::command(1, 1, vec![9])];
        assert!(
            checker
                .check(&[follower])
                .is_err_and(|e| e.contains("state machine safety"))
        );
        let mut gap = node(3, Role::Follower, 1, 0, &[]);
        gap.applied = vec![Entry::command(2, 1, vec![2])];
        assert!(
            Checker::new()
                .check(&[gap])
                .is_err_and(|e| e.contains("gap"))
        );
    }

    #[test]
    fn catches_a_node_that_saw_an_impossible_message() {
        let mut observed = node(1, Role::Follower, 1, 0, &[]);
        observed.protocol_violations = 1;
        assert!(
            Checker::new()
                .check(&[observed])
                .is_err_and(|e| e.contains("no correct peer"))
        );
    }

    #[test]
    fn catches_a_leader_committing_an_older_term_entry() {
        let mut checker = Checker::new();
        assert!(
            checker
                .check(&[node(1, Role::Leader, 3, 1, &[1, 2, 3])])
                .is_ok()
        );
        let error = checker.check(&[node(1, Role::Leader, 3, 2, &[1, 2, 3])]);
        assert!(error.is_err_and(|e| e.contains("§5.4.2")));
        let mut fine = Checker::new();
        assert!(
            fine.check(&[node(1, Role::Leader, 3, 1, &[1, 2, 3])])
                .is_ok()
        );
        assert_eq!(
            fine.check(&[node(1, Role::Leader, 3, 3, &[1, 2, 3])]),
            Ok(())
        );
    }

    #[test]
    fn log_matching_compares_compacted_logs_by_index() {
        let a = node(1, Role::Follower, 2, 0, &[1, 1, 2, 2]);
        let mut b = node(2, Role::Follower, 2, 0, &[1, 1, 2, 2]);
        b.log.drain(..2); // compacted through index 2
        assert_eq!(check_log_matching(&[a.clone(), b.clone()]), Ok(()));
        b.log[0].payload = ordo_core::EntryPayload::Noop; // index 3 differs, 4 agrees
        assert!(check_log_matching(&[a, b]).is_err_and(|e| e.contains("differ at index 3")));
    }
}
