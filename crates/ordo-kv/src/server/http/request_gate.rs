//! [`RequestGate`]: what every request passes before the router, and what
//! its response carries until it has been sent.
//!
//! - At most `max_in_flight_requests` requests are handled at once, node
//!   wide; past it a request is answered 429 `busy` with `Retry-After`
//!   before anything reads its body.
//! - A request body must arrive whole within `body_read_timeout` of its
//!   head; otherwise the answer is 408 `request_timeout` and the connection
//!   is closed (a `Content-Length` body that never comes cannot hold a
//!   handler, and its bytes could no longer be told from the next request).
//! - The request counts as in flight on its connection (which is then never
//!   evicted or closed as idle) until its response body is sent or dropped.
//! - A gRPC request (`content-type: application/grpc*`, etcd's API) goes
//!   to the gRPC services instead of the router, with no body deadline: its
//!   body is a stream (a watch) that lives as long as the call. It counts
//!   against the same in-flight cap.
//! - The verified client certificate's name, when TLS asks for one, is in
//!   the request's extensions as [`AuthenticatedUser`].

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderValue, Request, header};
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::server::http::ApiError;
use crate::server::http::connections::Activity;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The name in the client certificate the TLS handshake verified (its
/// subject's common name): the authenticated user, for handlers that
/// authorize. Present only on connections that presented a certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthenticatedUser(pub String);

/// One connection's service: the gate in front of the router.
#[derive(Clone)]
pub(crate) struct RequestGate {
    pub(crate) app: Router,
    pub(crate) grpc: Router,
    pub(crate) in_flight: Arc<Semaphore>,
    pub(crate) body_read_timeout: Duration,
    pub(crate) activity: Arc<Activity>,
    pub(crate) user: Option<AuthenticatedUser>,
}

impl hyper::service::Service<Request<Incoming>> for RequestGate {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let gate = self.clone();
        Box::pin(async move { Ok(gate.handle(request).await) })
    }
}

impl RequestGate {
    async fn handle(self, mut request: Request<Incoming>) -> Response {
        let activity = self.activity.request_started();
        let Ok(permit) = Arc::clone(&self.in_flight).try_acquire_owned() else {
            return ApiError::busy("too many requests in flight on this node; retry shortly")
                .into_response();
        };
        if let Some(user) = self.user {
            request.extensions_mut().insert(user);
        }
        if is_grpc(&request) {
            let response = match self.grpc.oneshot(request.map(Body::new)).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            return response.map(|body| {
                Body::new(Holding {
                    inner: body,
                    _held: (activity, permit),
                })
            });
        }
        let timed_out = Arc::new(AtomicBool::new(false));
        let deadline = Arc::clone(&timed_out);
        let request = request.map(|body| {
            Body::new(DeadlineBody {
                inner: body,
                deadline: Box::pin(tokio::time::sleep(self.body_read_timeout)),
                timed_out: deadline,
            })
        });
        let response = match self.app.oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        if timed_out.load(Ordering::Relaxed) {
            return body_timeout(self.body_read_timeout);
        }
        response.map(|body| {
            Body::new(Holding {
                inner: body,
                _held: (activity, permit),
            })
        })
    }
}

/// Whether `request` is a gRPC call (`application/grpc`, `+proto`, ...).
fn is_grpc<B>(request: &Request<B>) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/grpc"))
}

/// 408, closing the connection: what is left of the body on it can no
/// longer be told apart from a next request.
fn body_timeout(timeout: Duration) -> Response {
    let mut response = ApiError::request_timeout(format!(
        "the request body did not arrive within {} ms",
        timeout.as_millis()
    ))
    .into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A request body that fails once its deadline passes.
struct DeadlineBody {
    inner: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
    timed_out: Arc<AtomicBool>,
}

/// The body did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct BodyTimedOut;

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|result| result.map_err(BoxError::from)));
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.timed_out.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(Box::new(BodyTimedOut))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that holds `G` (its request's in-flight marks, a
/// backup's slot) until it is sent or dropped.
pub(crate) struct Holding<G> {
    pub(crate) inner: Body,
    pub(crate) _held: G,
}

impl<G: Unpin + Send + 'static> HttpBody for Holding<G> {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
