//! [`KvStore`] against a naive twin: random batches of commands must give
//! the same responses and answers as a plain map and a counter, and a
//! snapshot restored elsewhere must be the same store in every way we can ask.

#![allow(clippy::unwrap_used)]

mod store_support;

use std::collections::BTreeMap;

use bytes::Bytes;
use ordo::StateMachine;
use ordo_kv::store::{KvAnswer, KvCommand, KvError, KvQuery, KvResponse, KvStore, StoredValue};
use proptest::prelude::*;
use store_support::{apply, put, snapshot, store_with};

/// The rules written the obvious way.
#[derive(Debug, Default)]
struct Model {
    entries: BTreeMap<Vec<u8>, (Vec<u8>, u64)>,
    cluster_revision: u64,
}

impl Model {
    fn apply(&mut self, command: &KvCommand) -> KvResponse {
        // etcd's "key is not provided": the empty key is never written.
        if let KvCommand::Put { key, .. } | KvCommand::Delete { key } = command
            && key.is_empty()
        {
            return KvResponse::Refused(KvError::EmptyKey);
        }
        match command {
            KvCommand::Put {
                key,
                value,
                if_revision,
            } => {
                let current = self
                    .entries
                    .get(&key[..])
                    .map_or(0, |(_, revision)| *revision);
                if if_revision.is_some_and(|expected| expected != current) {
                    return KvResponse::CompareFailed { current };
                }
                self.cluster_revision += 1;
                self.entries
                    .insert(key.to_vec(), (value.to_vec(), self.cluster_revision));
                KvResponse::Written {
                    revision: self.cluster_revision,
                }
            }
            KvCommand::Delete { key } => {
                let deleted = self.entries.remove(&key[..]).is_some();
                if deleted {
                    self.cluster_revision += 1;
                }
                KvResponse::Deleted {
                    deleted,
                    revision: self.cluster_revision,
                }
            }
            other => unreachable!("this model knows only the legacy commands: {other:?}"),
        }
    }

    /// Live keys, live key and value bytes, and the cluster revision.
    fn stats(&self) -> (u64, u64, u64) {
        let bytes = self
            .entries
            .iter()
            .map(|(k, (v, _))| (k.len() + v.len()) as u64)
            .sum();
        (self.entries.len() as u64, bytes, self.cluster_revision)
    }

    fn answer(&self, query: &KvQuery) -> KvAnswer {
        let cluster_revision = self.cluster_revision;
        let versioned = |(value, revision): &(Vec<u8>, u64)| StoredValue {
            value: Bytes::copy_from_slice(value),
            revision: *revision,
        };
        match query {
            KvQuery::Get { key } => KvAnswer::Get {
                value: self.entries.get(&key[..]).map(versioned),
                cluster_revision,
            },
            KvQuery::List { prefix, limit } => {
                let matching: Vec<_> = self
                    .entries
                    .iter()
                    .filter(|(key, _)| key.starts_with(prefix))
                    .collect();
                let items = matching
                    .iter()
                    .take(*limit)
                    .map(|(key, entry)| (Bytes::copy_from_slice(key), versioned(entry)))
                    .collect();
                KvAnswer::List {
                    items,
                    more: matching.len() > *limit,
                    cluster_revision,
                }
            }
            other => unreachable!("the model does not answer {other:?}"),
        }
    }
}

/// Keys from a small alphabet, so commands collide and prefixes overlap.
fn key() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(prop::sample::select(&b"ab\x00\xff"[..]), 0..3).prop_map(Bytes::from)
}

fn command() -> impl Strategy<Value = KvCommand> {
    let if_revision =
        prop_oneof![2 => Just(None), 1 => Just(Some(0)), 2 => (0..12u64).prop_map(Some)];
    let value = prop::collection::vec(any::<u8>(), 0..5).prop_map(Bytes::from);
    prop_oneof![
        3 => (key(), value, if_revision)
            .prop_map(|(key, value, if_revision)| KvCommand::Put { key, value, if_revision }),
        1 => key().prop_map(|key| KvCommand::Delete { key }),
    ]
}

/// Every query the model answers: each key of the alphabet up to length 3,
/// and lists of every such prefix at several limits.
fn queries() -> Vec<KvQuery> {
    let mut keys = vec![Bytes::new()];
    for len in 1..=3 {
        let longer: Vec<Bytes> = keys
            .iter()
            .filter(|key| key.len() == len - 1)
            .flat_map(|key| {
                b"ab\x00\xff"
                    .iter()
                    .map(move |byte| [&key[..], &[*byte]].concat().into())
            })
            .collect();
        keys.extend(longer);
    }
    let mut queries = vec![];
    for key in keys {
        queries.push(KvQuery::Get { key: key.clone() });
        for limit in [0, 1, 2, 100] {
            queries.push(KvQuery::List {
                prefix: key.clone(),
                limit,
            });
        }
    }
    queries
}

fn assert_same_answers(store: &KvStore, model: &Model) {
    let stats = store.stats();
    assert_eq!(
        (stats.keys, stats.live_bytes, stats.cluster_revision),
        model.stats()
    );
    for query in queries() {
        assert_eq!(
            store.query(query.clone()),
            model.answer(&query),
            "{query:?}"
        );
    }
}

/// `store` and a copy restored from its snapshot over `target` are the same
/// store: same backup bytes, same answers, and the same responses to `next`.
fn assert_restores_identically(store: &KvStore, mut target: KvStore, next: &[KvCommand]) {
    let bytes = snapshot(store);
    target.restore(&mut &bytes[..]).unwrap();
    assert_eq!(snapshot(&target), bytes);
    assert_eq!(target.backup(), Bytes::from(bytes));
    for query in queries() {
        assert_eq!(target.query(query.clone()), store.query(query));
    }
    assert_eq!(target.stats(), store.stats());
    assert_eq!(&target, store);
    let mut original = store.clone();
    assert_eq!(
        apply(&mut target, next.to_vec()),
        apply(&mut original, next.to_vec())
    );
    assert_eq!(snapshot(&target), snapshot(&original));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_store_follows_the_model(
        batches in prop::collection::vec(prop::collection::vec(command(), 0..8), 0..8),
    ) {
        let mut store = KvStore::new();
        let mut model = Model::default();
        for batch in batches {
            let expected: Vec<KvResponse> = batch.iter().map(|c| model.apply(c)).collect();
            prop_assert_eq!(apply(&mut store, batch), expected);
            assert_same_answers(&store, &model);
        }
    }

    #[test]
    fn a_snapshot_restores_to_the_same_store(
        history in prop::collection::vec(command(), 0..40),
        next in prop::collection::vec(command(), 0..10),
    ) {
        let store = store_with(history);
        assert_restores_identically(&store, KvStore::new(), &next);
        let busy = store_with(vec![put("a", "elsewhere"), put("zz", "x"), put("\u{ff}", "")]);
        assert_restores_identically(&store, busy, &next);
    }
}
