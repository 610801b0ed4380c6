//! [`History`]: where a watch stream reads what it missed: the store's
//! [`KvQuery::Changes`], answered on the apply thread between two applies,
//! so an answer is exactly the applied state at some revision.

use std::future::Future;

use ordo::{RaftError, RaftNode, ReadConsistency};

use crate::store::{Changes, KeyRange, KvAnswer, KvError, KvQuery, KvStore};

/// Why history could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HistoryError {
    /// Revisions from the one asked for were compacted away.
    #[error("revision {revision} is compacted (the compact revision is {compact_revision})")]
    Compacted {
        /// The revision asked for.
        revision: u64,
        /// The store's compact revision.
        compact_revision: u64,
    },
    /// The node sheds reads for now: ask again shortly.
    #[error("the node is busy")]
    Busy,
    /// The node cannot answer (it is stopping, or broken).
    #[error("the node cannot read its history: {0}")]
    Unavailable(String),
}

/// Reads the applied state's history.
pub(crate) trait History: Send + Sync + 'static {
    /// The changes to `range` from `from_revision` on (see
    /// [`KvQuery::Changes`]).
    fn changes(
        &self,
        range: KeyRange,
        from_revision: u64,
        max_events: usize,
    ) -> impl Future<Output = Result<Changes, HistoryError>> + Send;

    /// The applied cluster revision.
    fn current_revision(&self) -> impl Future<Output = Result<u64, HistoryError>> + Send;
}

impl History for RaftNode<KvStore> {
    async fn changes(
        &self,
        range: KeyRange,
        from_revision: u64,
        max_events: usize,
    ) -> Result<Changes, HistoryError> {
        let query = KvQuery::Changes {
            range,
            from_revision,
            max_events,
        };
        match self.read_with(query, ReadConsistency::Stale).await {
            Ok(KvAnswer::Changes(changes)) => Ok(changes),
            Ok(KvAnswer::Refused(error)) => Err(refused(error)),
            Ok(_) => Err(unexpected()),
            Err(error) => Err(unavailable(error)),
        }
    }

    async fn current_revision(&self) -> Result<u64, HistoryError> {
        match self.read_with(KvQuery::Stats, ReadConsistency::Stale).await {
            Ok(KvAnswer::Stats(stats)) => Ok(stats.cluster_revision),
            Ok(_) => Err(unexpected()),
            Err(error) => Err(unavailable(error)),
        }
    }
}

/// A store's refusal of a changes query.
pub(crate) fn refused(error: KvError) -> HistoryError {
    match error {
        KvError::Compacted {
            revision,
            compact_revision,
        } => HistoryError::Compacted {
            revision,
            compact_revision,
        },
        other => HistoryError::Unavailable(other.to_string()),
    }
}

fn unavailable(error: RaftError) -> HistoryError {
    match error {
        RaftError::Busy { .. } => HistoryError::Busy,
        other => HistoryError::Unavailable(other.to_string()),
    }
}

fn unexpected() -> HistoryError {
    HistoryError::Unavailable("the store answered a history read with something else".into())
}
