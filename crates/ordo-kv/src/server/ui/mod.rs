//! The cluster dashboard at `/ui`, served by every node from its client
//! port (ARCHITECTURE.md, "The dashboard", says why it is built this way).
//!
//! Routes: `GET /ui` (the page), `GET /ui/{file}` (its scripts and style,
//! [`assets`]), `GET /v1/ui/stream` (the live frames, [`stream`]) and
//! `GET /v1/ui/session` (what the user may do, [`session`]). Everything
//! else the page shows it reads through the public API, with the user's
//! own requests, so it never sees more than its user may.
//!
//! Invariants: every file is compiled in (nothing is fetched from
//! elsewhere at runtime) and every answer under `/ui` carries
//! [`CONTENT_SECURITY_POLICY`], which allows only this origin's own files
//! and requests and no inline script; no data and no credential is ever
//! put in the page's URL.

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::routing::get;

use crate::server::http::SharedState;

pub mod assets;
pub mod frame;
pub mod members;
pub mod session;
pub mod stream;

/// The dashboard's Content-Security-Policy: its own files and requests
/// only, no inline script or style, no framing. (`data:` images are the
/// canvas charts' exports; nothing else needs them.)
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The dashboard's routes, merged into the API's router.
pub fn router() -> Router<SharedState> {
    Router::new()
        .route("/ui", get(assets::page))
        .route("/ui/", get(assets::page))
        .route("/ui/{name}", get(assets::file))
        .route("/v1/ui/stream", get(stream::stream))
        .route("/v1/ui/session", get(session::session))
}

/// Adds the dashboard's security headers to an answer.
pub(crate) fn security_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}
