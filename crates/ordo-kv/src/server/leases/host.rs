//! [`LeaseHost`]: what the lease clock needs from the Raft node, as a seam
//! so the clock's rules are tested against a scripted node.

use std::future::Future;

use ordo::{RaftError, RaftNode, ReadConsistency, Role, Term};

use crate::store::{
    KvAnswer, KvCommand, KvError, KvQuery, KvResponse, KvStore, LeaseCheckpoint, LeaseInfo,
    LeaseTime,
};

/// Whether this node leads, as far as it knows now.
#[derive(Clone, Debug)]
pub enum Leadership {
    /// It leads `term`.
    Leading(Term),
    /// It does not; the error redirects to the leader it knows of.
    NotLeading(RaftError),
}

/// How a revoke ended, when it was applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revoked {
    /// The lease and its keys are gone, at `revision`.
    Now {
        /// The cluster revision after the revoke.
        revision: u64,
    },
    /// The lease was already gone (revoked by someone else).
    AlreadyGone,
}

/// The node, as the lease clock uses it.
pub trait LeaseHost: Send + Sync + 'static {
    /// Whether the node leads now (its own belief: it may be deposed and
    /// not know it yet).
    fn leadership(&self) -> Leadership;

    /// Every lease with its recorded time, read so that every entry of an
    /// earlier term is applied first (a read proving leadership): the
    /// previous leader's last checkpoints and renewal records are in it.
    fn applied_leases(&self) -> impl Future<Output = Result<Vec<LeaseTime>, RaftError>> + Send;

    /// One lease, read so that the answer proves this node still led when
    /// the read was served (see the module docs for why a leader lease
    /// read); `None` if the state has no such lease.
    fn confirmed_lease(
        &self,
        id: i64,
    ) -> impl Future<Output = Result<Option<LeaseInfo>, RaftError>> + Send;

    /// Proposes the revoke of `id` and waits until it is applied.
    fn revoke(&self, id: i64) -> impl Future<Output = Result<Revoked, RaftError>> + Send;

    /// Proposes a checkpoint of lease times and waits until it is applied.
    fn checkpoint(
        &self,
        checkpoint: LeaseCheckpoint,
    ) -> impl Future<Output = Result<(), RaftError>> + Send;
}

impl LeaseHost for RaftNode<KvStore> {
    fn leadership(&self) -> Leadership {
        let soft = self.soft_state();
        if soft.role == Role::Leader {
            return Leadership::Leading(soft.term);
        }
        let leader = soft.leader.and_then(|id| {
            let address = self.member_infos().get(&id)?.address.clone();
            (!address.is_empty()).then_some((id, address))
        });
        Leadership::NotLeading(RaftError::NotLeader { leader })
    }

    async fn applied_leases(&self) -> Result<Vec<LeaseTime>, RaftError> {
        // A lease read is served on the leader only once an entry of its
        // term committed, and after the state applied it.
        match self
            .read_with(KvQuery::LeaseTimes, ReadConsistency::Lease)
            .await?
        {
            KvAnswer::LeaseTimes(leases) => Ok(leases),
            other => Err(unexpected("a list of lease times", &other)),
        }
    }

    async fn confirmed_lease(&self, id: i64) -> Result<Option<LeaseInfo>, RaftError> {
        match self
            .read_with(KvQuery::Lease { id }, ReadConsistency::Lease)
            .await?
        {
            KvAnswer::Lease(info) => Ok(Some(info)),
            KvAnswer::Refused(KvError::LeaseNotFound { .. }) => Ok(None),
            other => Err(unexpected("a lease", &other)),
        }
    }

    async fn revoke(&self, id: i64) -> Result<Revoked, RaftError> {
        match self.propose(KvCommand::LeaseRevoke { id }).await? {
            KvResponse::LeaseRevoked { revision, .. } => Ok(Revoked::Now { revision }),
            KvResponse::Refused(KvError::LeaseNotFound { .. }) => Ok(Revoked::AlreadyGone),
            other => Err(RaftError::StateMachine(format!(
                "the store answered a revoke with {other:?}"
            ))),
        }
    }

    async fn checkpoint(&self, checkpoint: LeaseCheckpoint) -> Result<(), RaftError> {
        match self.propose(KvCommand::LeaseCheckpoint(checkpoint)).await? {
            KvResponse::LeaseCheckpointed { .. } => Ok(()),
            other => Err(RaftError::StateMachine(format!(
                "the store answered a lease checkpoint with {other:?}"
            ))),
        }
    }
}

fn unexpected(what: &str, answer: &KvAnswer) -> RaftError {
    RaftError::StateMachine(format!("the store answered {what} with {answer:?}"))
}
