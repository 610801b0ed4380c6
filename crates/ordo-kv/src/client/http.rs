//! The HTTP/1.1 transport under [`Client`](super::Client): one pooled
//! hyper client, one request per call, bodies read under a size limit.
//! Routing, redirects and retries live in [`super::routing`]; this file only
//! tells a connection that never opened apart from one lost mid-request.

use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderValue, Method, Request, Response, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// How long an idle pooled connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a request got no response.
#[derive(Debug)]
pub(crate) enum SendError {
    /// No connection could be opened: the request was never sent.
    Connect(String),
    /// The request may have been sent, but no complete response came back.
    Lost(String),
}

/// Why a response body could not be read.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// The body is longer than the limit, in bytes.
    TooLarge(usize),
    /// The connection failed while reading it.
    Lost(String),
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooLarge(limit_bytes) => write!(f, "response body over {limit_bytes} bytes"),
            Self::Lost(reason) => write!(f, "connection lost while reading the body: {reason}"),
        }
    }
}

/// A pooled HTTP/1.1 client. Cloning shares the pool.
#[derive(Clone, Debug)]
pub(crate) struct HttpPool {
    http: HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl HttpPool {
    /// A plain-HTTP transport whose connection attempts give up after
    /// `connect_timeout`.
    pub(crate) fn new(connect_timeout: Duration) -> Self {
        Self::with_tls(connect_timeout, None)
    }

    /// A transport for `http://` and, with `tls`, `https://` endpoints.
    /// Without `tls` an `https://` request fails: no server can be verified.
    pub(crate) fn with_tls(
        connect_timeout: Duration,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(connect_timeout));
        connector.set_nodelay(true);
        // The TLS layer above takes https:// URIs through this connector.
        connector.enforce_http(false);
        let tls = tls.unwrap_or_else(|| {
            Arc::new(
                rustls::ClientConfig::builder_with_provider(crate::tls::provider())
                    .with_protocol_versions(crate::tls::PROTOCOL_VERSIONS)
                    .map(|builder| {
                        builder
                            .with_root_certificates(rustls::RootCertStore::empty())
                            .with_no_client_auth()
                    })
                    .unwrap_or_else(|error| {
                        panic!("ring supports TLS 1.3, a build-time fact: {error}")
                    }),
            )
        });
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(Arc::unwrap_or_clone(tls))
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        let http = HyperClient::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(connector);
        Self { http }
    }

    /// Sends one request and waits for the response head.
    pub(crate) async fn send(
        &self,
        method: Method,
        uri: Uri,
        body: Bytes,
        content_type: Option<&'static str>,
        authorization: Option<HeaderValue>,
    ) -> Result<Response<Incoming>, SendError> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        if let Some(authorization) = authorization {
            request
                .headers_mut()
                .insert(header::AUTHORIZATION, authorization);
        }
        if let Some(content_type) = content_type {
            request
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
        self.http.request(request).await.map_err(|error| {
            // The outer error only says "client error (Connect)"; its
            // sources say what happened.
            let reason = error
                .source()
                .map_or_else(|| error.to_string(), error_chain);
            if error.is_connect() {
                SendError::Connect(reason)
            } else {
                SendError::Lost(reason)
            }
        })
    }
}

/// Reads a whole body, failing once it passes `limit_bytes`. A declared
/// `Content-Length` over the limit fails before anything is read.
pub(crate) async fn read_body(
    response: Response<Incoming>,
    limit_bytes: usize,
) -> Result<Bytes, BodyError> {
    let declared_bytes = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<u64>().ok());
    if declared_bytes.is_some_and(|declared| declared > limit_bytes as u64) {
        return Err(BodyError::TooLarge(limit_bytes));
    }
    let mut body = response.into_body();
    let mut collected = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| BodyError::Lost(error_chain(&error)))?;
        if let Ok(data) = frame.into_data() {
            if collected.len() + data.len() > limit_bytes {
                return Err(BodyError::TooLarge(limit_bytes));
            }
            collected.extend_from_slice(&data);
        }
    }
    Ok(collected.freeze())
}

/// An error and its sources on one line (`a: b: c`).
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
