//! The dashboard's files, compiled into the binary (`crates/ordo-kv/ui/`).
//!
//! Every file is served with its content type, an ETag (the CRC32C of its
//! bytes, so a browser revalidates with `If-None-Match` and gets a 304
//! when nothing changed, and a new binary's files are never taken for the
//! old ones) and the dashboard's security headers. They are not
//! compressed: all of them together are a few tens of kilobytes, fetched
//! once per browser and then revalidated, which is not worth a
//! compression library in the server ([`TOTAL_BYTES_BUDGET`] keeps it so).

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::server::ui::security_headers;

/// The most the files may weigh together, uncompressed. The issue's
/// budget is 200 KB gzipped; holding the uncompressed bytes to it is
/// stricter and needs no compressor to check.
pub const TOTAL_BYTES_BUDGET: usize = 200 * 1024;

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// Its name under `/ui/`.
    pub name: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub bytes: &'static [u8],
}

const JS: &str = "text/javascript; charset=utf-8";

macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            bytes: include_bytes!(concat!("../../../ui/", $name)),
        }
    };
}

/// Every file of the dashboard; `index.html` is the page at `/ui`.
pub const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("app.js", JS),
    asset!("sse.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("cluster.js", JS),
    asset!("traffic.js", JS),
    asset!("quantiles.js", JS),
    asset!("chart.js", JS),
    asset!("keys.js", JS),
    asset!("value.js", JS),
    asset!("feed.js", JS),
    asset!("leases.js", JS),
    asset!("actions.js", JS),
    asset!("favicon.svg", "image/svg+xml"),
];

/// The file named `name`, if the dashboard has one.
pub fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.name == name)
}

/// The ETag of each file, in the order of [`ASSETS`] (computed once).
fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|asset| format!("\"{:08x}\"", crc32c::crc32c(asset.bytes)))
            .collect()
    })
}

/// `GET /ui`: the page.
pub(crate) async fn page(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

/// `GET /ui/{name}`: one file, 404 for a name the dashboard does not have.
pub(crate) async fn file(Path(name): Path<String>, headers: HeaderMap) -> Response {
    serve(&name, &headers)
}

fn serve(name: &str, headers: &HeaderMap) -> Response {
    let Some(position) = ASSETS.iter().position(|asset| asset.name == name) else {
        let mut response =
            (StatusCode::NOT_FOUND, "no such file in the dashboard\n").into_response();
        security_headers(response.headers_mut());
        return response;
    };
    let asset = &ASSETS[position];
    let etag = &etags()[position];
    let revalidated = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag));
    let mut response = if revalidated {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = asset.bytes.into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        response
    };
    let response_headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(etag) {
        response_headers.insert(header::ETAG, value);
    }
    // Revalidate every time: the files change with the binary, and a 304
    // costs one small request.
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    security_headers(response_headers);
    response
}
