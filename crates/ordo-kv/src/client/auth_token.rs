//! The token a [`Client`] with [`Credentials`](super::Credentials) sends:
//! fetched from `POST /v1/auth/authenticate` before the first call, again
//! once four fifths of its lifetime have passed, and again (once per
//! call) when a node answers 401 `unauthenticated` (the token expired, or
//! the user's password changed, or auth was re-enabled with a new key).
//! A 401 to the fetch itself (a wrong password) is the caller's error.

use http::{HeaderValue, Method, StatusCode};
use tokio::time::Instant;

use super::Client;
use super::endpoint::path_and_query;
use super::error::ClientError;
use super::ops::JSON;
use super::routing::{Call, Reply, Route};
use crate::api::{AUTHORIZATION_SCHEME, AuthenticateRequest, AuthenticateResponse, code};

/// A token and when to fetch the next one.
#[derive(Clone, Debug)]
pub(crate) struct CachedToken {
    header: HeaderValue,
    refresh_at: Instant,
}

impl Client {
    /// Sends `call` with a token when the client has credentials.
    pub(super) async fn call_authenticated(
        &self,
        call: &Call,
        deadline: Instant,
    ) -> Result<Reply, ClientError> {
        if self.config().credentials.is_none() {
            return self.call_once(call, deadline).await;
        }
        let stale = self
            .token_slot()
            .as_ref()
            .is_none_or(|token| Instant::now() >= token.refresh_at);
        if stale {
            self.refresh_token(deadline).await?;
        }
        match self.call_once(call, deadline).await? {
            Reply::Refused(refusal)
                if refusal.is(StatusCode::UNAUTHORIZED, code::UNAUTHENTICATED) =>
            {
                self.refresh_token(deadline).await?;
                self.call_once(call, deadline).await
            }
            reply => Ok(reply),
        }
    }

    /// The `Authorization` header for the next request, if any.
    pub(super) fn token_header(&self) -> Option<HeaderValue> {
        self.token_slot().as_ref().map(|token| token.header.clone())
    }

    /// Asks any node for a token for `name` and `password` (the route is
    /// open, so no token is needed for it).
    ///
    /// # Errors
    /// [`ClientError`] as for any call; a wrong name or password is a 401
    /// `unauthenticated` answer.
    pub async fn authenticate(
        &self,
        name: &str,
        password: &str,
    ) -> Result<AuthenticateResponse, ClientError> {
        let request = AuthenticateRequest {
            name: name.to_owned(),
            password: password.to_owned(),
        };
        let body = serde_json::to_vec(&request)
            .map_err(|error| ClientError::invalid(format!("authenticate request: {error}")))?;
        let path = path_and_query("/v1/auth/authenticate".to_owned())?;
        let call = Call::new(Method::POST, path, Route::Any).with_body(body.into(), JSON);
        let deadline = self.deadline();
        match self.call_once(&call, deadline).await? {
            Reply::Success { endpoint, response } => {
                self.read_json(&endpoint, response, deadline).await
            }
            Reply::Refused(refusal) => Err(refusal.into_error()),
        }
    }

    /// Sends `token` with every call from now on, as it is: a token the
    /// caller made (a member token, `server/peers.rs`), for a client
    /// without credentials, so it is never refreshed.
    ///
    /// # Errors
    /// A token that cannot be a header value.
    pub(crate) fn send_token(&self, token: &str) -> Result<(), ClientError> {
        let header = HeaderValue::try_from(format!("{AUTHORIZATION_SCHEME}{token}"))
            .map_err(|_| ClientError::invalid("a token must be printable ASCII"))?;
        *self.token_slot() = Some(CachedToken {
            header,
            refresh_at: Instant::now(),
        });
        Ok(())
    }

    async fn refresh_token(&self, deadline: Instant) -> Result<(), ClientError> {
        let Some(credentials) = self.config().credentials.clone() else {
            return Ok(());
        };
        *self.token_slot() = None;
        let started = Instant::now();
        let answer = tokio::time::timeout_at(
            deadline,
            self.authenticate(&credentials.name, &credentials.password),
        )
        .await
        .map_err(|_| ClientError::invalid("authenticating took past the call's deadline"))??;
        let header = HeaderValue::try_from(format!("{AUTHORIZATION_SCHEME}{}", answer.token))
            .map_err(|_| ClientError::invalid("the server answered a token that is no header"))?;
        let lifetime = std::time::Duration::from_secs(answer.ttl_seconds);
        *self.token_slot() = Some(CachedToken {
            header,
            refresh_at: started + lifetime.mul_f64(0.8),
        });
        Ok(())
    }
}
