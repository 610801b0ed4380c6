//! What the mutex and the election share: entering the line of contenders
//! under a prefix, and waiting for one's turn by watching only the
//! contender just before.

use super::RecipeError;
use crate::api::{
    EventKind, OpResult, RangeResult, SortOrder, SortTarget, TxnOp, TxnRange, TxnRequest,
    TxnResponse,
};
use crate::client::{
    Client, ClientError, Cmp, KeyValue, Op, Txn, WatchItem, WatchOptions, prefix_keys,
};

/// How many times a recipe's transaction is sent again after the
/// connection was lost before its answer (a leader killed mid-request).
const LOST_ANSWER_RETRIES: u32 = 5;

/// A contender's place in line.
#[derive(Clone, Debug)]
pub(crate) struct Place {
    /// Its key's creating revision: its place in line.
    pub(crate) revision: u64,
    /// Whether this call created the key (rather than finding it from an
    /// earlier call of the same session, with perhaps another value).
    pub(crate) created: bool,
    /// The first in line when it entered (perhaps itself).
    pub(crate) first: Option<KeyValue>,
}

/// Creates `key` (with `value`, on `lease`) unless it exists, and reads the
/// first in line under `prefix`, in one transaction.
pub(crate) async fn enter(
    client: &Client,
    prefix: &str,
    key: &str,
    value: &[u8],
    lease: i64,
) -> Result<Place, RecipeError> {
    let request = Txn::new()
        .when([Cmp::absent(key)])
        .then([
            Op::put_with_lease(key, value, lease),
            Op::range(first_in_line(prefix)),
        ])
        .otherwise([Op::get(key), Op::range(first_in_line(prefix))])
        .build();
    let answer = repeatable_txn(client, &request).await?;
    let first = range_result(&answer, 1)?.items.first().cloned();
    let first = first
        .map(KeyValue::from_json)
        .transpose()
        .map_err(RecipeError::Unexpected)?;
    let revision = if answer.succeeded {
        answer.revision
    } else {
        match range_result(&answer, 0)?.items.first() {
            Some(own) => own.create_revision,
            None => return Err(RecipeError::Unexpected(format!("{key} vanished"))),
        }
    };
    Ok(Place {
        revision,
        created: answer.succeeded,
        first,
    })
}

/// Waits until no contender under `prefix` entered before `revision`,
/// watching one key at a time: the one just before.
pub(crate) async fn wait_for_turn(
    client: &Client,
    prefix: &str,
    revision: u64,
) -> Result<(), RecipeError> {
    loop {
        let (predecessor, read_revision) = predecessor(client, prefix, revision).await?;
        let Some(predecessor) = predecessor else {
            return Ok(());
        };
        wait_deleted(client, &predecessor.key, read_revision + 1).await?;
    }
}

/// The first in line under `prefix` now.
pub(crate) async fn first(
    client: &Client,
    prefix: &str,
) -> Result<(Option<KeyValue>, u64), RecipeError> {
    read_one(client, Op::range(first_in_line(prefix))).await
}

/// Whether `key` still exists with creating revision `revision`.
pub(crate) async fn still_in_line(
    client: &Client,
    key: &str,
    revision: u64,
) -> Result<bool, RecipeError> {
    let (own, _) = read_one(client, Op::get(key)).await?;
    Ok(own.is_some_and(|own| own.create_revision == revision))
}

/// The contender entered last before `revision`, and the revision read at.
async fn predecessor(
    client: &Client,
    prefix: &str,
    revision: u64,
) -> Result<(Option<KeyValue>, u64), RecipeError> {
    if revision <= 1 {
        // Nothing is created before revision 1 (and 0 means "no bound").
        return Ok((None, 0));
    }
    let range = TxnRange {
        keys: prefix_keys(prefix),
        limit: 1,
        max_create_revision: revision - 1,
        sort_target: Some(SortTarget::CreateRevision),
        sort_order: Some(SortOrder::Descend),
        ..TxnRange::default()
    };
    read_one(client, Op::range(range)).await
}

/// Returns once `key` is deleted at or after `from_revision`.
async fn wait_deleted(client: &Client, key: &str, from_revision: u64) -> Result<(), RecipeError> {
    let mut changes = client.watch(WatchOptions::key(key).from_revision(from_revision));
    while let Some(item) = changes.next().await {
        match item {
            Ok(WatchItem::Change(change)) => {
                if change
                    .events
                    .iter()
                    .any(|event| event.kind == EventKind::Delete)
                {
                    return Ok(());
                }
            }
            Ok(WatchItem::Progress { .. }) => {}
            // History was compacted past the delete: look again.
            Err(ClientError::Compacted { .. }) => return Ok(()),
            Err(error) => return Err(error.into()),
        }
    }
    Err(RecipeError::Unexpected(format!("the watch of {key} ended")))
}

/// The first key of a one-op read, and the revision it was read at.
async fn read_one(client: &Client, op: TxnOp) -> Result<(Option<KeyValue>, u64), RecipeError> {
    let answer = repeatable_txn(client, &Txn::new().then([op]).build()).await?;
    let first = range_result(&answer, 0)?.items.first().cloned();
    let first = first
        .map(KeyValue::from_json)
        .transpose()
        .map_err(RecipeError::Unexpected)?;
    Ok((first, answer.revision))
}

/// Runs `request`, sending it again when the connection was lost before
/// the answer. Only for transactions that are safe to repeat: every one the
/// recipes send is a read, or a write guarded so that a second run changes
/// nothing (create if absent, delete or put only the key created at a
/// given revision).
pub(super) async fn repeatable_txn(
    client: &Client,
    request: &TxnRequest,
) -> Result<TxnResponse, ClientError> {
    let mut retries = 0;
    loop {
        match client.txn(request).await {
            Err(ClientError::ConnectionLost { .. }) if retries < LOST_ANSWER_RETRIES => {
                retries += 1;
            }
            answer => return answer,
        }
    }
}

/// A read of the oldest contender under `prefix`.
fn first_in_line(prefix: &str) -> TxnRange {
    TxnRange {
        keys: prefix_keys(prefix),
        limit: 1,
        sort_target: Some(SortTarget::CreateRevision),
        sort_order: Some(SortOrder::Ascend),
        ..TxnRange::default()
    }
}

fn range_result(answer: &TxnResponse, index: usize) -> Result<&RangeResult, RecipeError> {
    match answer.results.get(index) {
        Some(OpResult::Range(range)) => Ok(range),
        other => Err(RecipeError::Unexpected(format!(
            "result {index} of a transaction is not a read: {other:?}"
        ))),
    }
}
