//! [`ClusterId`]: the name every member of one cluster shares, checked at
//! every connection's handshake (and named in the WAL's segment headers by
//! `ordo-kv`). It lives here, not in the wire codec, because applications
//! configure it; the codec only encodes it.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// Longest cluster id, in bytes.
pub const CLUSTER_ID_MAX_BYTES: usize = 64;

/// The name every member of one cluster shares: 1 to 64 bytes of ASCII
/// letters, digits, `.`, `_` and `-`. Nodes of different clusters (say,
/// staging and production on one network) refuse each other at the handshake.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClusterId(String);

/// Why a string is not a [`ClusterId`].
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ClusterIdError {
    /// The id is empty.
    #[error("a cluster id must not be empty")]
    Empty,
    /// The id is longer than [`CLUSTER_ID_MAX_BYTES`].
    #[error("a cluster id has at most {CLUSTER_ID_MAX_BYTES} bytes, this one has {bytes}")]
    TooLong {
        /// Its length.
        bytes: usize,
    },
    /// The id has a character outside `[A-Za-z0-9._-]`.
    #[error("a cluster id may only use ASCII letters, digits, '.', '_' and '-', not {character:?}")]
    InvalidCharacter {
        /// The first offending character.
        character: char,
    },
}

impl ClusterId {
    /// Checks and wraps `id`.
    ///
    /// # Errors
    /// [`ClusterIdError`] if `id` is empty, too long or has a character
    /// outside `[A-Za-z0-9._-]`.
    pub fn new(id: impl Into<String>) -> Result<Self, ClusterIdError> {
        let id = id.into();
        if id.is_empty() {
            return Err(ClusterIdError::Empty);
        }
        if let Some(character) = id
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(ClusterIdError::InvalidCharacter { character });
        }
        if id.len() > CLUSTER_ID_MAX_BYTES {
            return Err(ClusterIdError::TooLong { bytes: id.len() });
        }
        Ok(ClusterId(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ClusterId {
    type Err = ClusterIdError;

    fn from_str(id: &str) -> Result<Self, Self::Err> {
        ClusterId::new(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_ids_are_checked() {
        assert!(ClusterId::new("prod-eu_1.a").is_ok());
        assert_eq!(ClusterId::new(""), Err(ClusterIdError::Empty));
        assert_eq!(
            ClusterId::new("a b"),
            Err(ClusterIdError::InvalidCharacter { character: ' ' })
        );
        assert_eq!(
            ClusterId::new("x".repeat(65)),
            Err(ClusterIdError::TooLong { bytes: 65 })
        );
    }
}
