//! What the multi-version calls of [`Client`](super::Client) take and
//! return: a key with its revisions ([`KeyValue`]), the options of a read,
//! a write and a list, and how a conditional delete ended.

use base64::Engine as _;
use bytes::Bytes;
use serde::Deserialize;

use super::{ClientError, Consistency, Endpoint};
use crate::api::{Encoding, KeyValueJson};

/// One key and everything the store knows of it (etcd's `KeyValue`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// The value's bytes (empty when keys only were asked for).
    pub value: Bytes,
    /// The revision that created the key (since its last delete).
    pub create_revision: u64,
    /// The revision that last changed it.
    pub mod_revision: u64,
    /// Writes since it was created (1 after the first).
    pub version: u64,
    /// The lease it is attached to; 0 for none.
    pub lease: i64,
}

impl KeyValue {
    /// Decodes the wire form (base64 values included).
    pub fn from_json(json: KeyValueJson) -> Result<Self, String> {
        let value = match (json.value, json.encoding) {
            (None, _) => Bytes::new(),
            (Some(text), Encoding::Utf8) => Bytes::from(text),
            (Some(text), Encoding::Base64) => decode_base64(&json.key, &text)?,
        };
        Ok(Self {
            key: json.key,
            value,
            create_revision: json.create_revision,
            mod_revision: json.mod_revision,
            version: json.version,
            lease: json.lease,
        })
    }
}

/// A read of one key at a revision: the key, and the cluster revision the
/// read saw (`GET /v1/kv/{key}?revision=R`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRead {
    /// The key as of the read.
    pub kv: KeyValue,
    /// The cluster revision the read saw.
    pub cluster_revision: u64,
}

/// Options of [`Client::get_with`](super::Client::get_with).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GetOptions {
    /// Read the key as of this revision (`None`: the current state).
    pub revision: Option<u64>,
    /// How fresh the read must be.
    pub consistency: Consistency,
}

/// Options of [`Client::put_with`](super::Client::put_with).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PutOptions {
    /// Write only if the key's revision is this (0: only if absent).
    pub if_revision: Option<u64>,
    /// Attach the key to this lease: it is deleted when the lease ends.
    pub lease: Option<i64>,
}

/// How a conditional delete ended, when a node answered it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// The delete ran.
    Deleted {
        /// Whether the key existed.
        existed: bool,
        /// The cluster revision after it.
        revision: u64,
    },
    /// The key's revision was not the one asked for; nothing was deleted.
    CompareFailed {
        /// The key's current revision (0: absent).
        current_revision: u64,
    },
}

/// Options of [`Client::list_page`](super::Client::list_page): one page
/// of a prefix.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Keys starting with this.
    pub prefix: String,
    /// At most this many keys (`None`: the node's default).
    pub limit: Option<u64>,
    /// Only keys after this one (the previous page's last key).
    pub start_after: Option<String>,
    /// Read as of this revision (the first page's [`KeyPage::revision`], so
    /// that every page shows one snapshot).
    pub revision: Option<u64>,
    /// Keys and revisions only, no values.
    pub keys_only: bool,
    /// How fresh the read must be.
    pub consistency: Consistency,
}

/// One page of a list, with each key's revisions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyPage {
    /// The keys, in order.
    pub items: Vec<KeyValue>,
    /// More keys follow the last one.
    pub more: bool,
    /// The cluster revision the page was read at (`None` from servers that
    /// do not say; such a server cannot read a past revision either).
    pub revision: Option<u64>,
}

/// `GET /v1/kv` as the client reads it: the shared [`ListResponse`]'s
/// fields plus the multi-version ones, each optional so that older servers
/// still parse.
///
/// [`ListResponse`]: crate::api::ListResponse
#[derive(Debug, Deserialize)]
pub(crate) struct ListAnswer {
    items: Vec<ListAnswerItem>,
    more: bool,
    #[serde(default)]
    revision: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct ListAnswerItem {
    key: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    encoding: Option<String>,
    /// The last-modified revision (what older servers send).
    #[serde(default)]
    revision: u64,
    #[serde(default)]
    create_revision: u64,
    #[serde(default)]
    mod_revision: u64,
    #[serde(default)]
    version: u64,
    #[serde(default)]
    lease: i64,
}

impl ListAnswer {
    /// The page, values decoded.
    pub(crate) fn into_page(self, endpoint: &Endpoint) -> Result<KeyPage, ClientError> {
        let items = self
            .items
            .into_iter()
            .map(|item| {
                let value = match item.encoding.as_deref() {
                    None | Some("utf8") => Bytes::from(item.value),
                    Some("base64") => decode_base64(&item.key, &item.value)
                        .map_err(|reason| ClientError::bad_response(endpoint, reason))?,
                    Some(other) => {
                        return Err(ClientError::bad_response(
                            endpoint,
                            format!("key {:?}: unknown encoding {other:?}", item.key),
                        ));
                    }
                };
                Ok(KeyValue {
                    key: item.key,
                    value,
                    create_revision: item.create_revision,
                    mod_revision: item.mod_revision.max(item.revision),
                    version: item.version,
                    lease: item.lease,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(KeyPage {
            items,
            more: self.more,
            revision: self.revision,
        })
    }
}

fn decode_base64(key: &str, text: &str) -> Result<Bytes, String> {
    base64::engine::general_purpose::STANDARD
        .decode(text.as_bytes())
        .map(Bytes::from)
        .map_err(|error| format!("key {key:?}: invalid base64 value: {error}"))
}
