//! The commands of the simulated coordination store, and their log encoding.
//!
//! A payload is a tag byte followed by little-endian `u64` words. Single-key
//! commands keep the simulator's original fixed layout (tag and three words);
//! the others have their own tags. Anything else in the log (the runs also
//! propose opaque commands) decodes to `None` and leaves the store unchanged.

use bytes::Bytes;

use crate::linearizability::{Compare, KvInput, KvKey, KvValue, Txn, TxnOp};

/// Names a lease. Clients choose lease ids (as etcd allows), unique per run.
pub type LeaseId = u64;

/// One command of the store's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// A single-key operation.
    Kv(KvInput),
    /// A multi-key transaction.
    Txn(Txn),
    /// Creates lease `lease` with a time to live of `ttl_steps` (simulated time).
    LeaseGrant {
        /// The lease.
        lease: LeaseId,
        /// Its time to live, in steps.
        ttl_steps: u64,
    },
    /// Sets `key` to `value` and attaches it to `lease`, if the lease exists.
    PutWithLease {
        /// The key written.
        key: KvKey,
        /// The value written.
        value: KvValue,
        /// The lease it is attached to.
        lease: LeaseId,
    },
    /// The leader found the lease's deadline passed: delete its keys (at one
    /// revision) and the lease.
    LeaseExpire {
        /// The lease.
        lease: LeaseId,
    },
}

const TAG_PUT: u8 = 1;
const TAG_GET: u8 = 2;
const TAG_DELETE: u8 = 3;
const TAG_CAS_ABSENT: u8 = 4;
const TAG_CAS_PRESENT: u8 = 5;
const TAG_TXN: u8 = 6;
const TAG_LEASE_GRANT: u8 = 7;
const TAG_PUT_WITH_LEASE: u8 = 8;
const TAG_LEASE_EXPIRE: u8 = 9;

const OP_PUT: u64 = 0;
const OP_DELETE: u64 = 1;
const OP_GET: u64 = 2;

/// Encodes a command as a log entry payload.
pub fn encode(command: &Command) -> Bytes {
    let (tag, words) = match command {
        Command::Kv(input) => kv_words(input),
        Command::Txn(txn) => (TAG_TXN, txn_words(txn)),
        Command::LeaseGrant { lease, ttl_steps } => (TAG_LEASE_GRANT, vec![*lease, *ttl_steps]),
        Command::PutWithLease { key, value, lease } => {
            (TAG_PUT_WITH_LEASE, vec![*key, *value, *lease])
        }
        Command::LeaseExpire { lease } => (TAG_LEASE_EXPIRE, vec![*lease]),
    };
    let mut bytes = Vec::with_capacity(1 + 8 * words.len());
    bytes.push(tag);
    for word in words {
        bytes.extend_from_slice(&word.to_le_bytes());
    }
    Bytes::from(bytes)
}

fn kv_words(input: &KvInput) -> (u8, Vec<u64>) {
    let (tag, key, a, b) = match *input {
        KvInput::Put { key, value } => (TAG_PUT, key, value, 0),
        KvInput::Get { key } => (TAG_GET, key, 0, 0),
        KvInput::Delete { key } => (TAG_DELETE, key, 0, 0),
        KvInput::CompareAndSet {
            key,
            expected: None,
            new,
        } => (TAG_CAS_ABSENT, key, 0, new),
        KvInput::CompareAndSet {
            key,
            expected: Some(expected),
            new,
        } => (TAG_CAS_PRESENT, key, expected, new),
    };
    (tag, vec![key, a, b])
}

fn txn_words(txn: &Txn) -> Vec<u64> {
    let mut words = vec![txn.compares.len() as u64];
    for compare in &txn.compares {
        let (present, value) = compare.expected.map_or((0, 0), |value| (1, value));
        words.extend([compare.key, present, value]);
    }
    for branch in [&txn.success, &txn.failure] {
        words.push(branch.len() as u64);
        for op in branch {
            words.extend(match *op {
                TxnOp::Put { key, value } => [OP_PUT, key, value],
                TxnOp::Delete { key } => [OP_DELETE, key, 0],
                TxnOp::Get { key } => [OP_GET, key, 0],
            });
        }
    }
    words
}

/// Decodes a payload written by [`encode`]; `None` for anything else.
pub fn decode(bytes: &[u8]) -> Option<Command> {
    let (&tag, rest) = bytes.split_first()?;
    if !rest.len().is_multiple_of(8) {
        return None;
    }
    let words: Vec<u64> = rest
        .chunks_exact(8)
        .map(|chunk| {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            u64::from_le_bytes(word)
        })
        .collect();
    match (tag, words.as_slice()) {
        (TAG_TXN, _) => decode_txn(&words).map(Command::Txn),
        (TAG_LEASE_GRANT, &[lease, ttl_steps]) => Some(Command::LeaseGrant { lease, ttl_steps }),
        (TAG_PUT_WITH_LEASE, &[key, value, lease]) => {
            Some(Command::PutWithLease { key, value, lease })
        }
        (TAG_LEASE_EXPIRE, &[lease]) => Some(Command::LeaseExpire { lease }),
        (_, &[key, a, b]) => decode_kv(tag, key, a, b).map(Command::Kv),
        _ => None,
    }
}

fn decode_kv(tag: u8, key: KvKey, a: u64, b: u64) -> Option<KvInput> {
    Some(match tag {
        TAG_PUT => KvInput::Put { key, value: a },
        TAG_GET => KvInput::Get { key },
        TAG_DELETE => KvInput::Delete { key },
        TAG_CAS_ABSENT => KvInput::CompareAndSet {
            key,
            expected: None,
            new: b,
        },
        TAG_CAS_PRESENT => KvInput::CompareAndSet {
            key,
            expected: Some(a),
            new: b,
        },
        _ => return None,
    })
}

fn decode_txn(words: &[u64]) -> Option<Txn> {
    let mut words = words.iter().copied();
    let mut next = || words.next();
    let compares = (0..next()?)
        .map(|_| {
            let (key, present, value) = (next()?, next()?, next()?);
            Some(Compare {
                key,
                expected: (present == 1).then_some(value),
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let mut branch = || {
        (0..next()?)
            .map(|_| {
                let (kind, key, value) = (next()?, next()?, next()?);
                match kind {
                    OP_PUT => Some(TxnOp::Put { key, value }),
                    OP_DELETE => Some(TxnOp::Delete { key }),
                    OP_GET => Some(TxnOp::Get { key }),
                    _ => None,
                }
            })
            .collect::<Option<Vec<_>>>()
    };
    let success = branch()?;
    let failure = branch()?;
    Some(Txn {
        compares,
        success,
        failure,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_round_trip() {
        let commands = [
            Command::Kv(KvInput::Put { key: 1, value: 7 }),
            Command::Kv(KvInput::Get { key: 2 }),
            Command::Kv(KvInput::Delete { key: 0 }),
            Command::Kv(KvInput::CompareAndSet {
                key: 1,
                expected: None,
                new: 3,
            }),
            Command::Kv(KvInput::CompareAndSet {
                key: 1,
                expected: Some(3),
                new: 4,
            }),
            Command::Txn(Txn {
                compares: vec![
                    Compare {
                        key: 0,
                        expected: None,
                    },
                    Compare {
                        key: 2,
                        expected: Some(9),
                    },
                ],
                success: vec![TxnOp::Put { key: 0, value: 1 }, TxnOp::Delete { key: 1 }],
                failure: vec![TxnOp::Get { key: 0 }],
            }),
            Command::LeaseGrant {
                lease: 4,
                ttl_steps: 300,
            },
            Command::PutWithLease {
                key: 100,
                value: 8,
                lease: 4,
            },
            Command::LeaseExpire { lease: 4 },
        ];
        for command in commands {
            assert_eq!(decode(&encode(&command)), Some(command));
        }
        assert_eq!(decode(b"c12"), None);
        assert_eq!(decode(b"liveness"), None);
    }

    #[test]
    fn single_key_commands_keep_their_original_layout() {
        let bytes = encode(&Command::Kv(KvInput::Put { key: 1, value: 7 }));
        assert_eq!(bytes.len(), 25);
        assert_eq!(bytes[0], TAG_PUT);
    }
}
