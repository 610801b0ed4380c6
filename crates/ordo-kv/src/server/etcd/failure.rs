//! Errors as etcd answers them: the gRPC code and the exact message etcd
//! clients match on (`rpctypes` in etcd's Go client compares messages), and
//! [`Failure::NotLeader`], which the services forward instead of answering.

use ordo::RaftError;
use tonic::{Code, Status};

use crate::store::KvError;

/// etcd's message for a read below the compact revision.
pub(crate) const COMPACTED: &str = "etcdserver: mvcc: required revision has been compacted";
/// etcd's message for a read above the current revision.
pub(crate) const FUTURE_REVISION: &str = "etcdserver: mvcc: required revision is a future revision";
/// etcd's message for an unknown lease.
pub(crate) const LEASE_NOT_FOUND: &str = "etcdserver: requested lease not found";
/// etcd's message for a lease id in use.
pub(crate) const LEASE_EXISTS: &str = "etcdserver: lease already exists";
/// etcd's message for a txn writing one key twice.
pub(crate) const DUPLICATE_KEY: &str = "etcdserver: duplicate key given in txn request";
/// etcd's message for a txn over the operation limit.
pub(crate) const TOO_MANY_OPS: &str = "etcdserver: too many operations in txn request";
/// etcd's message for an empty key.
pub(crate) const KEY_NOT_PROVIDED: &str = "etcdserver: key is not provided";
/// etcd's message for `ignore_value`/`ignore_lease` on a missing key.
pub(crate) const KEY_NOT_FOUND: &str = "etcdserver: key not found";
/// etcd's message for a request over the size limit.
pub(crate) const REQUEST_TOO_LARGE: &str = "etcdserver: request is too large";
/// etcd's message for a write past the storage quota.
pub(crate) const NO_SPACE: &str = "etcdserver: mvcc: database space exceeded";
/// etcd's message when no leader is known.
pub(crate) const NO_LEADER: &str = "etcdserver: no leader";
/// etcd's message when this node cannot reach its leader for a write.
pub(crate) const NOT_LEADER: &str = "etcdserver: not leader";
/// etcd's message when leadership changed under a request.
pub(crate) const LEADER_CHANGED: &str = "etcdserver: leader changed";
/// etcd's message when a request's outcome is unknown.
pub(crate) const TIMED_OUT: &str = "etcdserver: request timed out";
/// etcd's message when too many requests are pending.
pub(crate) const TOO_MANY_REQUESTS: &str = "etcdserver: too many requests";
/// etcd's message for an Auth RPC on a cluster without auth.
pub(crate) const AUTH_NOT_ENABLED: &str = "etcdserver: authentication is not enabled";
/// etcd's message for a lease ttl over the limit.
pub(crate) const TTL_TOO_LARGE: &str = "etcdserver: too large lease TTL";

/// Why a call failed on this node.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Answer the client this status.
    Status(Status),
    /// This node does not lead; the leader's client URL (the call is
    /// forwarded there: etcd clients do not follow redirects).
    NotLeader(String),
}

impl Failure {
    /// The status to answer when forwarding is not possible.
    pub(crate) fn into_status(self) -> Status {
        match self {
            Failure::Status(status) => status,
            Failure::NotLeader(_) => Status::unavailable(NOT_LEADER),
        }
    }
}

impl From<Status> for Failure {
    fn from(status: Status) -> Self {
        Failure::Status(status)
    }
}

impl From<KvError> for Failure {
    fn from(error: KvError) -> Self {
        Failure::Status(store_status(&error))
    }
}

impl From<RaftError> for Failure {
    fn from(error: RaftError) -> Self {
        match error {
            RaftError::NotLeader { leader } => match leader {
                Some((_, address)) if !address.is_empty() => Failure::NotLeader(address),
                _ => Failure::Status(Status::unavailable(NO_LEADER)),
            },
            other => Failure::Status(raft_status(&other)),
        }
    }
}

/// The store's refusal as etcd answers it.
pub(crate) fn store_status(error: &KvError) -> Status {
    match error {
        KvError::Compacted { .. } => Status::out_of_range(COMPACTED),
        KvError::FutureRevision { .. } => Status::out_of_range(FUTURE_REVISION),
        KvError::LeaseNotFound { .. } => Status::not_found(LEASE_NOT_FOUND),
        KvError::LeaseExists { .. } => Status::failed_precondition(LEASE_EXISTS),
        KvError::DuplicateKey { .. } => Status::invalid_argument(DUPLICATE_KEY),
        KvError::KeyNotFound { .. } => Status::invalid_argument(KEY_NOT_FOUND),
        KvError::KeyTooLong { .. } | KvError::ValueTooLong { .. } => {
            Status::invalid_argument(REQUEST_TOO_LARGE)
        }
        KvError::InvalidTtl { .. } => Status::out_of_range(TTL_TOO_LARGE),
        KvError::InvalidLeaseId { .. } => Status::invalid_argument(error.to_string()),
        KvError::LeaseIdsExhausted | KvError::RevisionsExhausted => {
            Status::resource_exhausted(error.to_string())
        }
        KvError::Auth(_) => Status::failed_precondition(format!("etcdserver: {error}")),
        KvError::EmptyKey => Status::invalid_argument(KEY_NOT_PROVIDED),
    }
}

/// A runtime error (other than not leading) as etcd answers it.
pub(crate) fn raft_status(error: &RaftError) -> Status {
    match error {
        RaftError::NotLeader { .. } => Status::unavailable(NOT_LEADER),
        RaftError::ProposalDropped
        | RaftError::LeadershipChanged
        | RaftError::TransferInProgress { .. } => Status::unavailable(LEADER_CHANGED),
        RaftError::Timeout | RaftError::OutcomeUnknown => Status::unavailable(TIMED_OUT),
        RaftError::Busy { .. } => Status::resource_exhausted(TOO_MANY_REQUESTS),
        RaftError::InvalidMembershipChange(_) => {
            Status::failed_precondition(format!("etcdserver: {error}"))
        }
        RaftError::ShuttingDown | RaftError::NotStarted => {
            Status::unavailable(format!("etcdserver: {error}"))
        }
        _ => Status::new(Code::Internal, format!("etcdserver: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Clients match these exact messages (etcd's `rpctypes`).
    #[test]
    fn the_store_refusals_carry_etcds_codes_and_messages() {
        let compacted = store_status(&KvError::Compacted {
            revision: 1,
            compact_revision: 5,
        });
        assert_eq!(compacted.code(), Code::OutOfRange);
        assert_eq!(compacted.message(), COMPACTED);
        let lease = store_status(&KvError::LeaseNotFound { id: 7 });
        assert_eq!(lease.code(), Code::NotFound);
        assert_eq!(lease.message(), LEASE_NOT_FOUND);
    }

    #[test]
    fn a_follower_with_a_known_leader_forwards_and_without_one_answers_no_leader() {
        let known = Failure::from(RaftError::NotLeader {
            leader: Some((2, "http://leader:1".into())),
        });
        assert!(matches!(known, Failure::NotLeader(url) if url == "http://leader:1"));
        let unknown = Failure::from(RaftError::NotLeader { leader: None }).into_status();
        assert_eq!(unknown.message(), NO_LEADER);
    }
}
