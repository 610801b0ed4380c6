//! The multi-version calls of [`Client`]: reads at a revision with every
//! key's revisions, writes with a lease, conditional and prefix deletes,
//! list pages at one revision, transactions and compaction.

use std::fmt::Write as _;

use bytes::Bytes;
use http::{Method, StatusCode};

use super::endpoint::{encode_query_value, path_and_query};
use super::kv_types::ListAnswer;
use super::ops::{JSON, OCTET_STREAM, header_u64, kv_path};
use super::routing::{Call, Reply, Route};
use super::{
    Client, ClientError, DeleteOutcome, GetOptions, KeyPage, KeyRead, KeyValue, ListOptions,
    PutOptions, PutOutcome,
};
use crate::api::{
    CLUSTER_REVISION_HEADER, CompactRequest, CompactResponse, DeleteRangeResponse, DeleteResponse,
    PutResponse, REVISION_HEADER, TxnRequest, TxnResponse, code,
};

/// Header with the key's creating revision, on `GET /v1/kv/{key}`.
pub const CREATE_REVISION_HEADER: &str = "x-ordo-create-revision";
/// Header with the key's version (writes since creation).
pub const VERSION_HEADER: &str = "x-ordo-version";
/// Header with the key's lease, present only when one is attached.
pub const LEASE_HEADER: &str = "x-ordo-lease";

/// The most pages [`Client::list_all`] reads: a bound on a loop driven by
/// a node's answers (at the default 1,000 keys a page, 100 M keys).
pub const MAX_LIST_PAGES: usize = 100_000;

impl Client {
    /// Writes `value` under `key`, conditionally and attached to a lease
    /// as `options` say. An unknown lease is [`ClientError::LeaseNotFound`].
    pub async fn put_with(
        &self,
        key: &str,
        value: impl Into<Bytes>,
        options: PutOptions,
    ) -> Result<PutOutcome, ClientError> {
        let mut query = Vec::new();
        if let Some(revision) = options.if_revision {
            query.push(format!("if_revision={revision}"));
        }
        if let Some(lease) = options.lease {
            query.push(format!("lease={lease}"));
        }
        let path = with_query(kv_path(key)?, &query);
        let call = Call::new(Method::PUT, path_and_query(path)?, Route::Leader)
            .with_body(value.into(), OCTET_STREAM);
        let deadline = self.deadline();
        match self.call(&call, deadline).await? {
            Reply::Success { endpoint, response } => {
                let put: PutResponse = self.read_json(&endpoint, response, deadline).await?;
                Ok(PutOutcome::Written {
                    revision: put.revision,
                })
            }
            Reply::Refused(refusal) if refusal.is(StatusCode::CONFLICT, code::COMPARE_FAILED) => {
                match refusal.body.revision {
                    Some(current_revision) => Ok(PutOutcome::CompareFailed { current_revision }),
                    None => Err(ClientError::bad_response(
                        &refusal.endpoint,
                        "compare_failed without the current revision",
                    )),
                }
            }
            Reply::Refused(refusal) => Err(refusal.into_error()),
        }
    }

    /// Reads `key` with its revisions, version and lease, now or as of
    /// `options.revision`; `None` when it does not exist (then). A
    /// compacted revision is [`ClientError::Compacted`].
    pub async fn get_with(
        &self,
        key: &str,
        options: GetOptions,
    ) -> Result<Option<KeyRead>, ClientError> {
        let mut query = vec![format!("consistency={}", options.consistency.as_str())];
        if let Some(revision) = options.revision {
            query.push(format!("revision={revision}"));
        }
        let path = with_query(kv_path(key)?, &query);
        let call = Call::new(Method::GET, path_and_query(path)?, Route::Any);
        let deadline = self.deadline();
        match self.call(&call, deadline).await? {
            Reply::Success { endpoint, response } => {
                let headers = response.headers();
                let mod_revision = header_u64(&endpoint, headers, REVISION_HEADER)?;
                let cluster_revision = header_u64(&endpoint, headers, CLUSTER_REVISION_HEADER)?;
                let create_revision = optional_header(&endpoint, headers, CREATE_REVISION_HEADER)?;
                let version = optional_header(&endpoint, headers, VERSION_HEADER)?;
                let lease = optional_header(&endpoint, headers, LEASE_HEADER)?;
                let limit_bytes = self.config().max_response_bytes;
                let value = self
                    .read_bytes(&endpoint, response, deadline, limit_bytes)
                    .await?;
                let kv = KeyValue {
                    key: key.to_owned(),
                    value,
                    create_revision: create_revision.unwrap_or(0),
                    mod_revision,
                    version: version.unwrap_or(0),
                    lease: lease.unwrap_or(0),
                };
                Ok(Some(KeyRead {
                    kv,
                    cluster_revision,
                }))
            }
            Reply::Refused(refusal) if refusal.is(StatusCode::NOT_FOUND, code::NOT_FOUND) => {
                Ok(None)
            }
            Reply::Refused(refusal) => Err(refusal.into_error()),
        }
    }

    /// Deletes `key` only if its revision is `if_revision`; a mismatch is
    /// [`DeleteOutcome::CompareFailed`], not an error.
    pub async fn delete_if(
        &self,
        key: &str,
        if_revision: u64,
    ) -> Result<DeleteOutcome, ClientError> {
        let path = format!("{}?if_revision={if_revision}", kv_path(key)?);
        let call = Call::new(Method::DELETE, path_and_query(path)?, Route::Leader);
        let deadline = self.deadline();
        match self.call(&call, deadline).await? {
            Reply::Success { endpoint, response } => {
                let deleted: DeleteResponse = self.read_json(&endpoint, response, deadline).await?;
                Ok(DeleteOutcome::Deleted {
                    existed: deleted.deleted,
                    revision: deleted.revision,
                })
            }
            Reply::Refused(refusal) if refusal.is(StatusCode::CONFLICT, code::COMPARE_FAILED) => {
                Ok(DeleteOutcome::CompareFailed {
                    current_revision: refusal.body.revision.unwrap_or(0),
                })
            }
            Reply::Refused(refusal) => Err(refusal.into_error()),
        }
    }

    /// Deletes every key starting with `prefix` (not empty: deleting
    /// everything takes a deliberate range), at one revision.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<DeleteRangeResponse, ClientError> {
        if prefix.is_empty() {
            return Err(ClientError::invalid("empty prefix: would delete every key"));
        }
        let path = format!("/v1/kv?prefix={}", encode_query_value(prefix));
        let call = Call::new(Method::DELETE, path_and_query(path)?, Route::Leader);
        self.call_json(&call).await
    }

    /// One page of keys starting with `options.prefix`, with their
    /// revisions and the revision the page was read at.
    pub async fn list_page(&self, options: &ListOptions) -> Result<KeyPage, ClientError> {
        let mut query = vec![
            format!("prefix={}", encode_query_value(&options.prefix)),
            format!("consistency={}", options.consistency.as_str()),
        ];
        if let Some(limit) = options.limit {
            query.push(format!("limit={limit}"));
        }
        if let Some(start_after) = &options.start_after {
            query.push(format!("start_after={}", encode_query_value(start_after)));
        }
        if let Some(revision) = options.revision {
            query.push(format!("revision={revision}"));
        }
        if options.keys_only {
            query.push("keys_only=true".to_owned());
        }
        let path = with_query("/v1/kv".to_owned(), &query);
        let call = Call::new(Method::GET, path_and_query(path)?, Route::Any);
        let (endpoint, answer) = self
            .call_json_from::<ListAnswer>(&call, self.deadline())
            .await?;
        answer.into_page(&endpoint)
    }

    /// Every key starting with `options.prefix`, read page by page at the
    /// first page's revision, so the whole is one snapshot however many
    /// pages it takes. Fails with [`ClientError::Compacted`] if compaction
    /// overtakes the reading, and refuses a server that does not say the
    /// revision a page was read at when there is more than one page.
    pub async fn list_all(&self, options: &ListOptions) -> Result<KeyPage, ClientError> {
        let mut page_options = options.clone();
        let mut all = KeyPage::default();
        for _ in 0..MAX_LIST_PAGES {
            let page = self.list_page(&page_options).await?;
            if all.revision.is_none() {
                all.revision = page.revision;
            }
            all.items.extend(page.items);
            if !page.more {
                return Ok(all);
            }
            let Some(revision) = all.revision else {
                return Err(ClientError::invalid(
                    "the node does not say which revision a page was read at",
                ));
            };
            let Some(last) = all.items.last() else {
                return Err(ClientError::invalid("an empty page says more keys follow"));
            };
            page_options.start_after = Some(last.key.clone());
            page_options.revision = Some(revision);
        }
        Err(ClientError::invalid(format!(
            "more than {MAX_LIST_PAGES} pages: narrow the prefix or raise the limit"
        )))
    }

    /// Runs a transaction (build one with [`Txn`](super::Txn)). A failed
    /// compare is `succeeded: false`, not an error.
    pub async fn txn(&self, request: &TxnRequest) -> Result<TxnResponse, ClientError> {
        let body = serde_json::to_vec(request)
            .map_err(|error| ClientError::invalid(format!("transaction: {error}")))?;
        let path = path_and_query("/v1/txn".to_owned())?;
        let call = Call::new(Method::POST, path, Route::Leader).with_body(body.into(), JSON);
        self.call_json(&call).await
    }

    /// Forgets history below `revision`.
    pub async fn compact(&self, revision: u64) -> Result<CompactResponse, ClientError> {
        let body = serde_json::to_vec(&CompactRequest { revision })
            .map_err(|error| ClientError::invalid(format!("compaction: {error}")))?;
        let path = path_and_query("/v1/compact".to_owned())?;
        let call = Call::new(Method::POST, path, Route::Leader).with_body(body.into(), JSON);
        self.call_json(&call).await
    }
}

/// `path?a&b`, or `path` when there is no query.
pub(super) fn with_query(mut path: String, query: &[String]) -> String {
    for (index, part) in query.iter().enumerate() {
        let separator = if index == 0 { '?' } else { '&' };
        let _ = write!(path, "{separator}{part}");
    }
    path
}

/// A numeric header that older servers leave out.
fn optional_header<T: std::str::FromStr>(
    endpoint: &super::Endpoint,
    headers: &http::HeaderMap,
    name: &str,
) -> Result<Option<T>, ClientError> {
    let Some(value) = headers.get(name) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .map(Some)
        .ok_or_else(|| ClientError::bad_response(endpoint, format!("{name} is not a number")))
}
