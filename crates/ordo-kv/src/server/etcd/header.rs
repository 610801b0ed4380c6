//! The `ResponseHeader` every answer carries, with etcd's meaning:
//! `cluster_id` (the cluster's id as a number), `member_id` (the node that
//! answers), `revision` (the store revision the answer reflects) and
//! `raft_term` (the answering node's term).

use crate::server::etcd::pb::etcdserverpb::ResponseHeader;
use crate::server::http::AppState;

/// What stays the same in every header a node sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HeaderIds {
    /// The cluster's id as etcd's `uint64`.
    pub(crate) cluster_id: u64,
    /// This node's id.
    pub(crate) member_id: u64,
}

impl HeaderIds {
    /// The ids of the node `state` serves.
    pub(crate) fn of(state: &AppState) -> Self {
        HeaderIds {
            cluster_id: cluster_id_number(&state.cluster_id),
            member_id: state.node.id(),
        }
    }
}

/// A header at `revision`, with the node's current term.
pub(crate) fn header(state: &AppState, ids: HeaderIds, revision: u64) -> Option<ResponseHeader> {
    Some(ResponseHeader {
        cluster_id: ids.cluster_id,
        member_id: ids.member_id,
        revision: signed(revision),
        raft_term: state.node.soft_state().term,
    })
}

/// A header at the store revision the node last reported (for answers
/// that read no revision of their own: leases, members, status).
pub(crate) fn current_header(state: &AppState, ids: HeaderIds) -> Option<ResponseHeader> {
    header(state, ids, state.store.counters().cluster_revision)
}

/// A revision as etcd's `int64` (revisions never come near `i64::MAX`;
/// one that did is shown as the largest).
pub(crate) fn signed(revision: u64) -> i64 {
    i64::try_from(revision).unwrap_or(i64::MAX)
}

/// The cluster id as a number: a hexadecimal id (up to 16 digits) is its
/// value; any other text is hashed (FNV-1a), so the number is stable for
/// the cluster's life and the same on every node.
pub(crate) fn cluster_id_number(cluster_id: &str) -> u64 {
    if !cluster_id.is_empty()
        && cluster_id.len() <= 16
        && let Ok(number) = u64::from_str_radix(cluster_id, 16)
    {
        return number;
    }
    cluster_id
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hex_cluster_id_is_its_value_and_other_text_is_hashed_stably() {
        assert_eq!(cluster_id_number("00ff"), 255);
        assert_eq!(cluster_id_number("x"), cluster_id_number("x"));
        assert_ne!(cluster_id_number("x"), cluster_id_number("y"));
        assert_ne!(cluster_id_number(""), 0);
    }
}
