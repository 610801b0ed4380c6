//! The simulated state machine's snapshots: the whole applied history,
//! encoded, so that a node restored from a snapshot still shows the checker
//! every entry it ever applied.

use bytes::Bytes;
use ordo_core::{Entry, EntryPayload, Membership, SnapshotMeta};

/// Encodes a state machine that applied `applied` (entries 1..=n, in order).
pub fn encode(applied: &[Entry]) -> Bytes {
    // Encoding a Vec of plain data cannot fail; an empty snapshot would only
    // make the transfer fail loudly later.
    Bytes::from(serde_json::to_vec(applied).unwrap_or_default())
}

/// Decodes what [`encode`] produced.
///
/// # Errors
/// A description of the damage (a snapshot corrupted in transfer).
pub fn decode(data: &[u8]) -> Result<Vec<Entry>, String> {
    serde_json::from_slice(data).map_err(|e| format!("snapshot does not decode: {e}"))
}

/// The snapshot metadata of a state machine that applied `applied`, with
/// `base` the configuration before any configuration entry.
pub fn meta(applied: &[Entry], base: &Membership) -> Option<SnapshotMeta> {
    let last = applied.last()?;
    let membership = applied
        .iter()
        .rev()
        .find_map(|entry| match &entry.payload {
            EntryPayload::Membership(config) => Some(config.clone()),
            _ => None,
        })
        .unwrap_or_else(|| base.clone());
    Some(SnapshotMeta {
        index: last.index,
        term: last.term,
        membership,
    })
}
