//! [`HeaderBlocks`]: a client's HTTP/2 header blocks, decoded in order with
//! the client's HPACK table, each passed on unchanged or re-encoded with
//! `:authority` made bare.
//!
//! Invariants on the two HPACK tables that must agree for h2 to read what
//! it is given:
//! - `client_table` has decoded every block given, in order, from the
//!   connection's first; so while blocks are given, it is the dynamic
//!   table the client's encoder refers to.
//! - While `reencoder` is `None`, every block went to h2 byte for byte, so
//!   h2's dynamic table equals `client_table`. (`frames.rs` stops giving
//!   blocks after a first one passed unchanged: the connection is then
//!   left alone, and the tables agree because neither is touched.)
//! - The first block that needs a rewrite switches the connection over for
//!   good: that block begins with a dynamic table size update to 0 (h2
//!   empties its table and keeps it at size 0), and from then on every
//!   block is re-encoded by `reencoder`, whose table also has size 0, so
//!   no block h2 reads refers to a dynamic entry (nor adds one it keeps).
//!
//! A header list larger than [`MAX_HEADER_LIST_BYTES`] once decoded ends
//! the connection: h2 itself ends it past that size.

use std::borrow::Cow;

use loona_hpack::decoder::DecoderError;
use loona_hpack::{Decoder, Encoder};

/// h2's `SETTINGS_HEADER_TABLE_SIZE`: the most the client's dynamic table
/// may hold, in bytes. It is HTTP/2's default, which h2 keeps unless told
/// otherwise, and hyper-util's builder (the accept loop's) cannot tell it.
const H2_HEADER_TABLE_BYTES: usize = 4096;

/// h2's `SETTINGS_MAX_HEADER_LIST_SIZE`, in bytes (hyper's default, set
/// explicitly by the accept loop): a larger request gets an error answer.
pub(crate) const H2_MAX_HEADER_LIST_BYTES: u32 = 16 * 1024;

/// The most a decoded header list may hold (RFC 7541's sizes: name, value
/// and 32 per field) before the connection is ended: four times
/// [`H2_MAX_HEADER_LIST_BYTES`], where h2 ends a connection itself.
pub(super) const MAX_HEADER_LIST_BYTES: usize = 4 * H2_MAX_HEADER_LIST_BYTES as usize;

/// The HPACK overhead of one field in a header list size (RFC 7541 §4.1).
const FIELD_OVERHEAD_BYTES: usize = 32;

/// HPACK's "dynamic table size update" to 0 (RFC 7541 §6.3).
const TABLE_SIZE_UPDATE_TO_ZERO: u8 = 0x20;

/// What becomes of one header block.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Passed {
    /// The block goes to h2 as the client sent it.
    Unchanged,
    /// The block goes to h2 as these bytes instead.
    Rewritten(Vec<u8>),
}

/// A header block the connection cannot go on after.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BadHeaderBlock {
    /// Not valid HPACK (or refers to an entry the table does not hold).
    #[error("malformed HPACK header block: {0}")]
    Hpack(DecoderError),
    /// Decodes to more than [`MAX_HEADER_LIST_BYTES`].
    #[error("header list of more than {limit} bytes once decoded")]
    TooLarge {
        /// [`MAX_HEADER_LIST_BYTES`].
        limit: usize,
    },
}

/// The HPACK state of one client connection.
pub(super) struct HeaderBlocks {
    client_table: Decoder<'static>,
    /// Set by the first block that needed a rewrite.
    reencoder: Option<Encoder<'static>>,
}

impl HeaderBlocks {
    pub(super) fn new() -> Self {
        let mut client_table = Decoder::new();
        client_table.set_max_allowed_table_size(H2_HEADER_TABLE_BYTES);
        HeaderBlocks {
            client_table,
            reencoder: None,
        }
    }

    /// Decodes the next whole header block of the connection and tells
    /// what h2 gets instead of it.
    ///
    /// # Errors
    /// A malformed block or one too large once decoded; the connection
    /// cannot go on (the client's table is no longer known).
    pub(super) fn pass(&mut self, block: &[u8]) -> Result<Passed, BadHeaderBlock> {
        let mut fields: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut list_bytes = 0usize;
        let mut rewrites = false;
        self.client_table
            .decode_with_cb(block, |name: Cow<'_, [u8]>, value: Cow<'_, [u8]>| {
                list_bytes =
                    list_bytes.saturating_add(name.len() + value.len() + FIELD_OVERHEAD_BYTES);
                if list_bytes > MAX_HEADER_LIST_BYTES {
                    // Decoding goes on (the table must stay known) but
                    // nothing more is kept.
                    return;
                }
                let value = match bare_authority(&name, &value) {
                    Some(bare) => {
                        rewrites = true;
                        bare
                    }
                    None => value.into_owned(),
                };
                fields.push((name.into_owned(), value));
            })
            .map_err(BadHeaderBlock::Hpack)?;
        if list_bytes > MAX_HEADER_LIST_BYTES {
            return Err(BadHeaderBlock::TooLarge {
                limit: MAX_HEADER_LIST_BYTES,
            });
        }
        let mut encoded = Vec::new();
        if self.reencoder.is_none() {
            if !rewrites {
                return Ok(Passed::Unchanged);
            }
            encoded.push(TABLE_SIZE_UPDATE_TO_ZERO);
        }
        let reencoder = self.reencoder.get_or_insert_with(|| {
            let mut fresh = Encoder::new();
            fresh.set_max_table_size(0);
            fresh
        });
        encoded.extend(
            reencoder.encode(
                fields
                    .iter()
                    .map(|(name, value)| (name.as_slice(), value.as_slice())),
            ),
        );
        Ok(Passed::Rewritten(encoded))
    }
}

/// The bare `HOST:PORT` for an `:authority` field whose value h2 would
/// refuse but which is a URL with one (etcdctl 3.4 sends its endpoint,
/// `http://127.0.0.1:2379`, as is); `None` for every other field.
fn bare_authority(name: &[u8], value: &[u8]) -> Option<Vec<u8>> {
    if name != b":authority" || http::uri::Authority::try_from(value).is_ok() {
        return None;
    }
    let separator = value.windows(3).position(|window| window == b"://")?;
    let scheme = &value[..separator];
    let scheme_is_valid = scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .iter()
            .all(|&byte| byte.is_ascii_alphanumeric() || matches!(byte, b'+' | b'-' | b'.'));
    if !scheme_is_valid {
        return None;
    }
    let rest = &value[separator + 3..];
    let end = rest
        .iter()
        .position(|&byte| matches!(byte, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    let bare = &rest[..end];
    http::uri::Authority::try_from(bare)
        .is_ok()
        .then(|| bare.to_vec())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_url_becomes_its_authority_and_anything_else_stays() {
        let bare = |value: &str| bare_authority(b":authority", value.as_bytes());
        assert_eq!(bare("http://127.0.0.1:8001").unwrap(), b"127.0.0.1:8001");
        assert_eq!(bare("https://[::1]:2379/path?q").unwrap(), b"[::1]:2379");
        assert_eq!(bare("unix+tcp://host").unwrap(), b"host");
        assert_eq!(bare("127.0.0.1:8001"), None, "already bare");
        assert_eq!(bare("http://"), None, "no authority in it");
        assert_eq!(bare("1ttp://host:1"), None, "not a scheme");
        assert_eq!(bare("http://ho st:1"), None, "not an authority");
        assert_eq!(
            bare_authority(b"host", b"http://h:1"),
            None,
            "another field"
        );
    }
}
