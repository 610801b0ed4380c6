//! [`Client`], and the loop every call goes through: pick an endpoint,
//! follow `307`s to the leader (re-sending the body), move on to the next
//! endpoint when one refuses the connection or knows no leader, back off,
//! and give up at the deadline.
//!
//! Which endpoint is asked first: writes and cluster changes go to the last
//! leader a redirect (or a successful write) named; reads go to the
//! endpoint the client prefers ([`Client::prefer`]), else the leader, else
//! the first endpoint.
//!
//! What is retried: connection failures (the request was never sent),
//! `503 no_leader` and `429 busy` (the node refused before doing anything),
//! and, for reads only, a lost connection or `503 unavailable`. A write
//! whose outcome is unknown is never retried: the caller gets
//! [`ClientError::ConnectionLost`] or the `unavailable` error and decides.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::uri::PathAndQuery;
use http::{HeaderMap, Method, Response, StatusCode, header};
use hyper::body::Incoming;
use tokio::time::{Instant, timeout_at};

use super::config::MAX_ERROR_BODY_BYTES;
use super::endpoint::{Redirect, resolve_location};
use super::http::{BodyError, HttpPool, SendError, read_body};
use super::{ClientConfig, ClientError, Endpoint, parse_endpoints};
use crate::api::{ErrorBody, code};

/// An HTTP client for an `ordo` cluster. Cheap to clone: clones share the
/// connection pool and what was learned about the leader.
///
/// ```no_run
/// # async fn example() -> Result<(), ordo_kv::client::ClientError> {
/// use ordo_kv::client::{Client, Consistency, PutOutcome};
///
/// let client = Client::from_endpoints("http://127.0.0.1:8001,http://127.0.0.1:8002")?;
/// if let PutOutcome::Written { revision } = client.put("greeting", "hello", None).await? {
///     println!("written at revision {revision}");
/// }
/// // Compare-and-set: only if "greeting" does not exist yet.
/// match client.put("greeting", "hi", Some(0)).await? {
///     PutOutcome::Written { .. } => println!("created"),
///     PutOutcome::CompareFailed { current_revision } => println!("exists at {current_revision}"),
/// }
/// if let Some(read) = client.get("greeting", Consistency::Linearizable).await? {
///     println!("{:?} at revision {}", read.value, read.revision);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    shared: Arc<Shared>,
    preferred: Option<Endpoint>,
}

#[derive(Debug)]
struct Shared {
    config: ClientConfig,
    transport: HttpPool,
    leader: Mutex<Option<Endpoint>>,
    /// The token calls carry, with credentials (`auth_token.rs`).
    pub(super) token: Mutex<Option<super::auth_token::CachedToken>>,
}

/// Which endpoint a call starts at, and whether it may move.
#[derive(Clone, Debug)]
pub(crate) enum Route {
    /// The leader, as far as known (writes, cluster changes).
    Leader,
    /// The preferred endpoint, else the leader, else the first (reads).
    Any,
    /// This endpoint only: no redirects, no retries.
    Exactly(Endpoint),
}

/// One request, as the typed calls describe it.
#[derive(Clone, Debug)]
pub(crate) struct Call {
    pub(crate) method: Method,
    pub(crate) path_and_query: PathAndQuery,
    pub(crate) body: Bytes,
    pub(crate) content_type: Option<&'static str>,
    pub(crate) route: Route,
}

impl Call {
    /// A call without a body.
    pub(crate) fn new(method: Method, path_and_query: PathAndQuery, route: Route) -> Self {
        Self {
            method,
            path_and_query,
            body: Bytes::new(),
            content_type: None,
            route,
        }
    }

    /// The same call with a body.
    pub(crate) fn with_body(mut self, body: Bytes, content_type: &'static str) -> Self {
        self.body = body;
        self.content_type = Some(content_type);
        self
    }

    /// Whether sending it twice is harmless.
    fn idempotent(&self) -> bool {
        self.method == Method::GET
    }
}

/// The final answer to a call, after redirects and retries.
#[derive(Debug)]
pub(crate) enum Reply {
    /// A `2xx`; its body is still to be read.
    Success {
        endpoint: Endpoint,
        response: Response<Incoming>,
    },
    /// An error status the client does not retry (or no longer retries).
    Refused(Refusal),
}

/// An error answer: who said it, its status and its body.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) endpoint: Endpoint,
    pub(crate) status: StatusCode,
    pub(crate) body: ErrorBody,
}

impl Refusal {
    /// The error for a caller that expected success.
    pub(crate) fn into_error(self) -> ClientError {
        ClientError::from_answer(self.endpoint.to_string(), self.status.as_u16(), self.body)
    }

    /// Whether it carries `status` and error `code`.
    pub(crate) fn is(&self, status: StatusCode, code: &str) -> bool {
        self.status == status && self.body.error == code
    }
}

/// What one request to one endpoint came to.
enum Attempt {
    Success(Reply),
    Redirect(Result<Redirect, String>),
    Refused {
        refusal: Refusal,
        retry_after: Option<Duration>,
    },
    ConnectFailed(String),
    Lost(String),
    Fail(ClientError),
}

/// Why a refused call is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RetryReason {
    /// The node knows no leader, or could not answer: ask another.
    NodeCannotServe,
    /// The node is shedding load: pause, it is still the leader.
    Busy,
}

/// Whether a refusal is worth retrying elsewhere: `no_leader` and `busy`
/// always (nothing was done), other `503`s only when the call is a read.
pub(crate) fn retry_reason(
    status: StatusCode,
    error_code: &str,
    idempotent: bool,
) -> Option<RetryReason> {
    match status {
        StatusCode::TOO_MANY_REQUESTS => Some(RetryReason::Busy),
        StatusCode::SERVICE_UNAVAILABLE if error_code == code::NO_LEADER || idempotent => {
            Some(RetryReason::NodeCannotServe)
        }
        _ => None,
    }
}

/// Pauses between retries: `initial`, doubling, at most `max`.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        Self {
            next: initial.min(max),
            max,
        }
    }

    /// The next pause.
    pub(crate) fn next_pause(&mut self) -> Duration {
        let pause = self.next;
        self.next = (self.next * 2).min(self.max);
        pause
    }
}

/// What a call saw, for the error when its deadline passes.
#[derive(Debug, Default)]
struct AttemptLog {
    connect_failures: u32,
    answers: u32,
    in_flight: Option<Endpoint>,
    last: Option<String>,
}

impl AttemptLog {
    fn into_deadline_error(self, after: Duration) -> ClientError {
        if self.answers == 0 && self.connect_failures > 0 && self.in_flight.is_none() {
            return ClientError::Unreachable {
                attempts: self.connect_failures,
                last: self.last.unwrap_or_default(),
            };
        }
        let last = match (self.in_flight, self.last) {
            (Some(endpoint), Some(earlier)) => {
                format!("waiting for {endpoint} (earlier: {earlier})")
            }
            (Some(endpoint), None) => format!("waiting for {endpoint}"),
            (None, Some(last)) => last,
            (None, None) => "nothing attempted".to_owned(),
        };
        ClientError::Timeout { after, last }
    }
}

impl Client {
    /// A client for `config`; fails when it lists no endpoint. Connections
    /// are opened on first use, so this needs no running cluster (but calls
    /// need a Tokio runtime).
    pub fn new(config: ClientConfig) -> Result<Self, ClientError> {
        if config.endpoints.is_empty() {
            return Err(ClientError::invalid("no endpoints given"));
        }
        let tls = config.tls.rustls_config()?;
        if tls.is_none()
            && let Some(secure) = config
                .endpoints
                .iter()
                .find(|endpoint| endpoint.is_secure())
        {
            return Err(ClientError::invalid(format!(
                "{secure} needs --cacert FILE (or ORDO_CACERT): the CA that signed the servers' \
                 certificates"
            )));
        }
        let transport = HttpPool::with_tls(config.connect_timeout, tls);
        let shared = Shared {
            config,
            transport,
            leader: Mutex::new(None),
            token: Mutex::new(None),
        };
        Ok(Self {
            shared: Arc::new(shared),
            preferred: None,
        })
    }

    /// A client with the default configuration for a comma-separated list
    /// of endpoints (`http://127.0.0.1:8001,http://127.0.0.1:8002`).
    pub fn from_endpoints(list: &str) -> Result<Self, ClientError> {
        Self::new(ClientConfig::new(parse_endpoints(list)?))
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &ClientConfig {
        &self.shared.config
    }

    /// The configured endpoints.
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.shared.config.endpoints
    }

    /// The last leader a redirect or a successful write named, if any.
    pub fn leader_hint(&self) -> Option<Endpoint> {
        self.leader_slot().clone()
    }

    /// A clone (sharing connections and the leader hint) whose reads start
    /// at `endpoint` instead of the leader. Writes still go to the leader.
    pub fn prefer(&self, endpoint: Endpoint) -> Client {
        Self {
            shared: Arc::clone(&self.shared),
            preferred: Some(endpoint),
        }
    }

    /// The deadline of a call starting now.
    pub(crate) fn deadline(&self) -> Instant {
        Instant::now() + self.shared.config.timeout
    }

    /// Sends `call` until an answer that is not retried, or `deadline`
    /// (which callers set [`ClientConfig::timeout`] from now).
    pub(crate) async fn call(&self, call: &Call, deadline: Instant) -> Result<Reply, ClientError> {
        self.call_authenticated(call, deadline).await
    }

    /// Sends `call` as it is (no token logic): see `auth_token.rs`.
    pub(super) async fn call_once(
        &self,
        call: &Call,
        deadline: Instant,
    ) -> Result<Reply, ClientError> {
        let mut log = AttemptLog::default();
        let outcome = match &call.route {
            Route::Exactly(endpoint) => {
                timeout_at(deadline, self.call_exactly(call, endpoint, &mut log)).await
            }
            Route::Leader | Route::Any => {
                timeout_at(deadline, self.call_routed(call, &mut log)).await
            }
        };
        outcome.unwrap_or_else(|_elapsed| Err(log.into_deadline_error(self.shared.config.timeout)))
    }

    async fn call_exactly(
        &self,
        call: &Call,
        endpoint: &Endpoint,
        log: &mut AttemptLog,
    ) -> Result<Reply, ClientError> {
        log.in_flight = Some(endpoint.clone());
        match self.attempt(call, endpoint, &call.path_and_query).await {
            Attempt::Success(reply) => Ok(reply),
            Attempt::Refused { refusal, .. } => Ok(Reply::Refused(refusal)),
            Attempt::Redirect(_) => Err(ClientError::bad_response(endpoint, "unexpected redirect")),
            Attempt::ConnectFailed(reason) => Err(ClientError::Unreachable {
                attempts: 1,
                last: format!("{endpoint}: {reason}"),
            }),
            Attempt::Lost(reason) => Err(ClientError::ConnectionLost {
                endpoint: endpoint.to_string(),
                reason,
            }),
            Attempt::Fail(error) => Err(error),
        }
    }

    async fn call_routed(&self, call: &Call, log: &mut AttemptLog) -> Result<Reply, ClientError> {
        let config = &self.shared.config;
        let endpoint_count = config.endpoints.len();
        let (mut endpoint, mut cursor) = self.first_endpoint(&call.route);
        let mut path_and_query = call.path_and_query.clone();
        let mut hops = 0;
        let mut backoff = Backoff::new(config.backoff_initial, config.backoff_max);
        let mut connect_failures_in_row = 0;
        loop {
            log.in_flight = Some(endpoint.clone());
            let attempt = self.attempt(call, &endpoint, &path_and_query).await;
            log.in_flight = None;
            let (failure, pause) = match attempt {
                Attempt::Success(reply) => {
                    if matches!(call.route, Route::Leader) {
                        self.remember_leader(&endpoint);
                    }
                    return Ok(reply);
                }
                Attempt::Redirect(Ok(redirect)) if hops < config.max_redirect_hops => {
                    hops += 1;
                    self.remember_leader(&redirect.endpoint);
                    endpoint = redirect.endpoint;
                    path_and_query = redirect.path_and_query;
                    continue;
                }
                Attempt::Redirect(Ok(_)) => {
                    log.answers += 1;
                    let failure = format!(
                        "more than {} redirects in a row, the last from {endpoint}",
                        config.max_redirect_hops
                    );
                    (failure, Some(backoff.next_pause()))
                }
                Attempt::Redirect(Err(reason)) => {
                    return Err(ClientError::bad_response(&endpoint, reason));
                }
                Attempt::ConnectFailed(reason) => {
                    log.connect_failures += 1;
                    connect_failures_in_row += 1;
                    self.forget_leader(&endpoint);
                    let round_done = connect_failures_in_row % endpoint_count == 0;
                    (
                        format!("{endpoint}: {reason}"),
                        round_done.then(|| backoff.next_pause()),
                    )
                }
                Attempt::Lost(reason) if call.idempotent() => {
                    log.answers += 1;
                    self.forget_leader(&endpoint);
                    (format!("{endpoint}: {reason}"), Some(backoff.next_pause()))
                }
                Attempt::Lost(reason) => {
                    return Err(ClientError::ConnectionLost {
                        endpoint: endpoint.to_string(),
                        reason,
                    });
                }
                Attempt::Refused {
                    refusal,
                    retry_after,
                } => {
                    log.answers += 1;
                    connect_failures_in_row = 0;
                    let Some(reason) =
                        retry_reason(refusal.status, &refusal.body.error, call.idempotent())
                    else {
                        return Ok(Reply::Refused(refusal));
                    };
                    if reason == RetryReason::NodeCannotServe {
                        self.forget_leader(&endpoint);
                    }
                    let mut pause = backoff.next_pause();
                    if let Some(retry_after) = retry_after {
                        pause = pause.min(retry_after).max(config.backoff_initial);
                    }
                    let failure = format!(
                        "{endpoint} answered {}: {}",
                        refusal.status.as_u16(),
                        refusal.body.error
                    );
                    (failure, Some(pause))
                }
                Attempt::Fail(error) => return Err(error),
            };
            log.last = Some(failure);
            if let Some(pause) = pause {
                tokio::time::sleep(pause).await;
            }
            endpoint = self.endpoint_after(&mut cursor, endpoint_count);
            path_and_query = call.path_and_query.clone();
            hops = 0;
        }
    }

    /// The endpoint a call starts at, and the index of the endpoint to try
    /// after it.
    fn first_endpoint(&self, route: &Route) -> (Endpoint, usize) {
        let endpoints = &self.shared.config.endpoints;
        let start = match route {
            Route::Exactly(endpoint) => Some(endpoint.clone()),
            Route::Leader => self.leader_hint(),
            Route::Any => self.preferred.clone().or_else(|| self.leader_hint()),
        };
        match start {
            Some(endpoint) => {
                let next = endpoints
                    .iter()
                    .position(|known| *known == endpoint)
                    .map_or(0, |index| index + 1);
                (endpoint, next)
            }
            None => (endpoints[0].clone(), 1),
        }
    }

    fn endpoint_after(&self, cursor: &mut usize, endpoint_count: usize) -> Endpoint {
        let endpoint = self.shared.config.endpoints[*cursor % endpoint_count].clone();
        *cursor = (*cursor + 1) % endpoint_count;
        endpoint
    }

    /// One request to one endpoint, its error body read.
    async fn attempt(
        &self,
        call: &Call,
        endpoint: &Endpoint,
        path_and_query: &PathAndQuery,
    ) -> Attempt {
        let uri = match endpoint.uri(path_and_query) {
            Ok(uri) => uri,
            Err(error) => return Attempt::Fail(error),
        };
        let sent = self
            .shared
            .transport
            .send(
                call.method.clone(),
                uri,
                call.body.clone(),
                call.content_type,
                self.token_header(),
            )
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(SendError::Connect(reason)) => return Attempt::ConnectFailed(reason),
            Err(SendError::Lost(reason)) => return Attempt::Lost(reason),
        };
        let status = response.status();
        if status.is_success() {
            let endpoint = endpoint.clone();
            return Attempt::Success(Reply::Success { endpoint, response });
        }
        if matches!(
            status,
            StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT
        ) {
            return Attempt::Redirect(redirect_target(endpoint, response.headers()));
        }
        let retry_after = retry_after(response.headers());
        match read_body(response, MAX_ERROR_BODY_BYTES).await {
            Ok(body) => Attempt::Refused {
                refusal: Refusal {
                    endpoint: endpoint.clone(),
                    status,
                    body: error_body(status, &body),
                },
                retry_after,
            },
            Err(BodyError::Lost(reason)) => Attempt::Lost(reason),
            Err(too_large @ BodyError::TooLarge(_)) => Attempt::Fail(ClientError::bad_response(
                endpoint,
                format!("error {status}: {too_large}"),
            )),
        }
    }

    /// The shared state's token slot.
    pub(super) fn token_slot(
        &self,
    ) -> std::sync::MutexGuard<'_, Option<super::auth_token::CachedToken>> {
        self.shared
            .token
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn leader_slot(&self) -> std::sync::MutexGuard<'_, Option<Endpoint>> {
        self.shared
            .leader
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn remember_leader(&self, endpoint: &Endpoint) {
        let mut leader = self.leader_slot();
        if leader.as_ref() != Some(endpoint) {
            *leader = Some(endpoint.clone());
        }
    }

    fn forget_leader(&self, endpoint: &Endpoint) {
        let mut leader = self.leader_slot();
        if leader.as_ref() == Some(endpoint) {
            *leader = None;
        }
    }
}

/// Where a redirect response points.
fn redirect_target(endpoint: &Endpoint, headers: &HeaderMap) -> Result<Redirect, String> {
    let location = headers
        .get(header::LOCATION)
        .ok_or("redirect without a Location header")?
        .to_str()
        .map_err(|_| "redirect Location is not ASCII".to_owned())?;
    resolve_location(endpoint, location)
}

/// `Retry-After` in seconds (the HTTP-date form is ignored).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(header::RETRY_AFTER)?.to_str().ok()?;
    text.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// An error response's body as an [`ErrorBody`]; one the node did not send
/// as JSON (a proxy's page, garbage) becomes code `http_STATUS` with the
/// start of the text as its message.
pub(crate) fn error_body(status: StatusCode, body: &[u8]) -> ErrorBody {
    if let Ok(parsed) = serde_json::from_slice::<ErrorBody>(body) {
        return parsed;
    }
    const SHOWN_CHARS: usize = 200;
    let text = String::from_utf8_lossy(body);
    let message: String = text.trim().chars().take(SHOWN_CHARS).collect();
    ErrorBody {
        error: format!("http_{}", status.as_u16()),
        message,
        revision: None,
        compact_revision: None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn no_leader_and_busy_are_retried_for_every_call() {
        for idempotent in [false, true] {
            assert_eq!(
                retry_reason(StatusCode::SERVICE_UNAVAILABLE, code::NO_LEADER, idempotent),
                Some(RetryReason::NodeCannotServe)
            );
            assert_eq!(
                retry_reason(StatusCode::TOO_MANY_REQUESTS, code::BUSY, idempotent),
                Some(RetryReason::Busy)
            );
        }
    }

    #[test]
    fn unavailable_is_retried_for_reads_only() {
        let status = StatusCode::SERVICE_UNAVAILABLE;
        assert_eq!(
            retry_reason(status, code::UNAVAILABLE, true),
            Some(RetryReason::NodeCannotServe)
        );
        assert_eq!(retry_reason(status, code::UNAVAILABLE, false), None);
    }

    #[test]
    fn definite_answers_are_not_retried() {
        for (status, error_code) in [
            (StatusCode::BAD_REQUEST, code::BAD_REQUEST),
            (StatusCode::NOT_FOUND, code::NOT_FOUND),
            (StatusCode::CONFLICT, code::COMPARE_FAILED),
            (StatusCode::PAYLOAD_TOO_LARGE, code::TOO_LARGE),
            (StatusCode::INTERNAL_SERVER_ERROR, code::INTERNAL),
        ] {
            assert_eq!(retry_reason(status, error_code, true), None, "{status}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_millis(300));
        let pauses: Vec<u128> = (0..5).map(|_| backoff.next_pause().as_millis()).collect();
        assert_eq!(pauses, [50, 100, 200, 300, 300]);
    }

    #[test]
    fn error_bodies_that_are_not_json_keep_their_text() {
        let parsed = error_body(
            StatusCode::CONFLICT,
            br#"{"error":"compare_failed","revision":7}"#,
        );
        assert_eq!(parsed.error, "compare_failed");
        assert_eq!(parsed.revision, Some(7));
        let garbage = error_body(StatusCode::BAD_GATEWAY, b"  <html>bad gateway</html>\n");
        assert_eq!(garbage.error, "http_502");
        assert_eq!(garbage.message, "<html>bad gateway</html>");
        let binary = error_body(StatusCode::INTERNAL_SERVER_ERROR, &[0xff, 0xfe]);
        assert_eq!(binary.error, "http_500");
    }

    #[test]
    fn retry_after_reads_whole_seconds_only() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(header::RETRY_AFTER, http::HeaderValue::from_static("2"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(
            header::RETRY_AFTER,
            http::HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn a_deadline_with_only_refused_connections_means_unreachable() {
        let log = AttemptLog {
            connect_failures: 3,
            last: Some("http://h:1: connection refused".to_owned()),
            ..AttemptLog::default()
        };
        assert!(matches!(
            log.into_deadline_error(Duration::from_secs(1)),
            ClientError::Unreachable { attempts: 3, .. }
        ));
    }

    #[test]
    fn a_deadline_while_waiting_names_the_endpoint() {
        let endpoint = Endpoint::parse("http://h:1").expect("valid");
        let log = AttemptLog {
            in_flight: Some(endpoint),
            ..AttemptLog::default()
        };
        let error = log.into_deadline_error(Duration::from_secs(1));
        assert!(
            matches!(&error, ClientError::Timeout { last, .. } if last == "waiting for http://h:1"),
            "{error}"
        );
    }
}
