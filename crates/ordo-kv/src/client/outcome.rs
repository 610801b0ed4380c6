//! What the typed calls of [`Client`](super::Client) return.

use bytes::Bytes;

/// How a `put` ended, when a node answered it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PutOutcome {
    /// The value was written.
    Written {
        /// The cluster revision of the write (the key's new revision).
        revision: u64,
    },
    /// A compare-and-set whose expected revision did not match; nothing
    /// was written.
    CompareFailed {
        /// The key's current revision (0: the key does not exist).
        current_revision: u64,
    },
}

/// A value read with `get`, and the revisions that date it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versioned {
    /// The value's bytes.
    pub value: Bytes,
    /// The key's last-modified revision.
    pub revision: u64,
    /// The cluster revision the read saw.
    pub cluster_revision: u64,
}

/// One key of a [`ListPage`], its value decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListEntry {
    /// The key.
    pub key: String,
    /// The value's bytes (decoded from base64 when the node sent it so).
    pub value: Bytes,
    /// The key's last-modified revision.
    pub revision: u64,
}

/// The answer to `list`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListPage {
    /// Keys in order.
    pub entries: Vec<ListEntry>,
    /// More keys with the prefix follow the last one.
    pub more: bool,
}

/// How fresh a read must be (`?consistency=`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Consistency {
    /// Reflects every write acknowledged before the read began (read index
    /// confirmed by a quorum).
    #[default]
    Linearizable,
    /// Linearizable while clocks drift less than the lease allows; no quorum
    /// round trip.
    Lease,
    /// Whatever the answering node has applied; may be stale.
    Stale,
}

impl Consistency {
    /// The query-string value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Linearizable => "linearizable",
            Self::Lease => "lease",
            Self::Stale => "stale",
        }
    }
}

impl std::fmt::Display for Consistency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
