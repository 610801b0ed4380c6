//! The limit on how deeply transactions nest, enforced where a nested
//! [`TxnRequest`] is decoded (postcard from the log, or any other serde
//! format).
//!
//! Decoding, applying, backing up and dropping a transaction all recurse once
//! per level. Without a limit, an 80 KB command (a txn nested 20 000 deep, 4
//! bytes a level) overflowed the stack of every node that applied it, and
//! again at every restart that replayed it. With it, such a command fails to
//! decode, so every node skips it alike (as any undecodable command).
//!
//! Invariant: no [`TxnRequest`] built by deserialization nests more than
//! [`MAX_TXN_NESTING`] levels below the outermost one.

use std::cell::Cell;

use serde::de::{Deserialize, Deserializer, Error};

use super::txn::TxnRequest;

/// Most levels of transactions nested inside a transaction (etcd sets no
/// such limit but refuses deep messages when decoding them).
pub const MAX_TXN_NESTING: usize = 64;

thread_local! {
    /// Nested txns being decoded on this thread, outermost excluded.
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// Restores the depth when a nested decode ends, however it ends.
struct DepthGuard(usize);

impl Drop for DepthGuard {
    fn drop(&mut self) {
        DEPTH.set(self.0);
    }
}

/// Decodes the [`TxnRequest`] of a `RequestOp::Txn`, one level deeper than
/// the txn around it; refuses it past [`MAX_TXN_NESTING`].
pub(super) fn deserialize_nested<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<TxnRequest, D::Error> {
    let depth = DEPTH.get();
    if depth >= MAX_TXN_NESTING {
        return Err(D::Error::custom(format!(
            "transactions nested more than {MAX_TXN_NESTING} deep"
        )));
    }
    let _restore = DepthGuard(depth);
    DEPTH.set(depth + 1);
    TxnRequest::deserialize(deserializer)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::store::{KvCommand, RequestOp};

    /// A txn whose success branch holds a txn, `levels` times over.
    fn nested(levels: usize) -> KvCommand {
        let mut txn = TxnRequest::default();
        for _ in 0..levels {
            txn = TxnRequest {
                success: vec![RequestOp::Txn(txn)],
                ..TxnRequest::default()
            };
        }
        KvCommand::Txn(txn)
    }

    /// The postcard encoding of `nested(levels)`, written out (encoding the
    /// value itself would recurse as deep).
    fn nested_bytes(levels: usize) -> Vec<u8> {
        // KvCommand::Txn is variant 2; a TxnRequest is compare (empty),
        // success (one op: RequestOp::Txn, variant 3, then the inner txn),
        // failure (empty).
        let mut bytes = vec![2];
        for _ in 0..levels {
            bytes.extend_from_slice(&[0, 1, 3]);
        }
        bytes.extend_from_slice(&[0, 0, 0]);
        bytes.extend(std::iter::repeat_n(0, levels));
        bytes
    }

    #[test]
    fn txns_nested_to_the_limit_decode() {
        let bytes = nested_bytes(MAX_TXN_NESTING);
        assert_eq!(
            postcard::to_allocvec(&nested(MAX_TXN_NESTING)).unwrap(),
            bytes
        );
        let decoded: KvCommand = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(decoded, nested(MAX_TXN_NESTING));
    }

    #[test]
    fn txns_nested_past_the_limit_are_refused() {
        let error = postcard::from_bytes::<KvCommand>(&nested_bytes(MAX_TXN_NESTING + 1));
        assert!(error.is_err(), "{error:?}");
        // Found by the kv_command fuzz target: 20 000 levels (80 KB)
        // overflowed the stack. Now refused after 64 levels, on a stack as
        // small as a tokio worker's.
        let decoded = std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(|| postcard::from_bytes::<KvCommand>(&nested_bytes(20_000)).is_err())
            .unwrap()
            .join()
            .unwrap();
        assert!(decoded, "a txn nested 20 000 deep decoded");
    }

    #[test]
    fn the_depth_is_restored_after_a_refusal() {
        assert!(postcard::from_bytes::<KvCommand>(&nested_bytes(MAX_TXN_NESTING + 5)).is_err());
        assert_eq!(DEPTH.get(), 0);
        assert!(postcard::from_bytes::<KvCommand>(&nested_bytes(MAX_TXN_NESTING)).is_ok());
    }
}
