//! The simulated state machine's snapshots: the whole applied history,
//! encoded, so that a node restored from a snapshot still shows the checker
//! every entry it ever applied.
//!
//! Encodings are not deterministic across nodes, as a real state machine's
//! need not be: each node pads its snapshot with whitespace, leading or
//! trailing, whose amount and place depend on the node and its incarnation,
//! so two nodes' snapshots of the same index and term hold different bytes
//! (sometimes of the same length) that decode to the same state. A transfer resumed from
//! one leader's snapshot onto another's splices the two, which shifts the
//! data and then fails to decode or decodes to the wrong history (the
//! invariants catch either).

use bytes::Bytes;
use ordo_core::{Entry, EntryPayload, Membership, SnapshotContent, SnapshotMeta};

/// Encodes a state machine that applied `applied` (entries 1..=n, in
/// order), in one of several equivalent encodings: `variant` picks which.
pub fn encode(variant: u64, applied: &[Entry]) -> Bytes {
    // Encoding a Vec of plain data cannot fail; an empty snapshot would only
    // make the transfer fail loudly later.
    let json = serde_json::to_vec(applied).unwrap_or_default();
    let padding = (variant % 4) as usize * 7;
    let mut data = Vec::with_capacity(padding + json.len());
    if variant % 8 < 4 {
        data.resize(padding, b' ');
        data.extend_from_slice(&json);
    } else {
        // The same length as variant - 4, other bytes: only the checksum
        // tells the two apart.
        data.extend_from_slice(&json);
        data.resize(padding + json.len(), b' ');
    }
    Bytes::from(data)
}

/// The content identity of snapshot `data`, as a snapshot store records it.
pub fn content(data: &[u8]) -> SnapshotContent {
    SnapshotContent {
        data_bytes: data.len() as u64,
        crc32c: crc32c::crc32c(data),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_differ_in_bytes_sometimes_not_in_length_and_decode_alike() {
        let applied = vec![
            Entry::command(1, 1, &b"a"[..]),
            Entry::command(2, 1, &b"b"[..]),
        ];
        let (leading, trailing) = (encode(2, &applied), encode(6, &applied));
        assert_eq!(leading.len(), trailing.len());
        assert_ne!(leading, trailing);
        assert_ne!(content(&leading), content(&trailing));
        for variant in 0..8 {
            let data = encode(variant, &applied);
            assert_eq!(decode(&data), Ok(applied.clone()), "variant {variant}");
        }
    }
}
