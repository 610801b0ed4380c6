//! Store events as the wire's [`WatchEvent`]s: values as UTF-8 text when
//! they are, base64 otherwise.

use base64::Engine;

use crate::api::{Encoding, EventKind as WireKind, KeyValueJson, WatchChange, WatchEvent};
use crate::store::{Event, EventKind, KeyValue};

/// One revision's events as a `change` message's data.
pub(crate) fn change<'a>(
    revision: u64,
    events: impl Iterator<Item = &'a Event>,
    prev_kv: bool,
) -> WatchChange {
    WatchChange {
        revision,
        events: events.map(|event| watch_event(event, prev_kv)).collect(),
    }
}

fn watch_event(event: &Event, prev_kv: bool) -> WatchEvent {
    let kind = match event.kind {
        EventKind::Put => WireKind::Put,
        EventKind::Delete => WireKind::Delete,
    };
    let mut kv = key_value(&event.kv);
    if kind == WireKind::Delete {
        // A delete's kv is the key and its revision: there is no value.
        kv.value = None;
        kv.encoding = Encoding::Utf8;
    }
    let prev = if prev_kv {
        event.prev_kv.as_ref().map(key_value)
    } else {
        None
    };
    WatchEvent { kind, kv, prev }
}

fn key_value(kv: &KeyValue) -> KeyValueJson {
    let (value, encoding) = match std::str::from_utf8(&kv.value) {
        Ok(text) => (text.to_owned(), Encoding::Utf8),
        Err(_) => (
            base64::engine::general_purpose::STANDARD.encode(&kv.value),
            Encoding::Base64,
        ),
    };
    KeyValueJson {
        key: String::from_utf8_lossy(&kv.key).into_owned(),
        value: Some(value),
        encoding,
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
        lease: kv.lease,
    }
}
