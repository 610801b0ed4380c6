//! [`ClientConfig`]: the endpoints and every limit a [`Client`](super::Client)
//! works within.

use std::time::Duration;

use super::Endpoint;
use super::tls::ClientTlsFiles;

/// Where a [`Client`](super::Client) connects and the limits it keeps.
/// Build one with [`ClientConfig::new`] and adjust the public fields.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// The nodes to try, in order; at least one.
    pub endpoints: Vec<Endpoint>,
    /// Overall deadline for one call, redirects and retries included.
    pub timeout: Duration,
    /// How long opening one connection may take before the next endpoint is
    /// tried.
    pub connect_timeout: Duration,
    /// Redirects followed in a row before the chain counts as a failed
    /// attempt (two nodes each naming the other as leader, mid-election).
    pub max_redirect_hops: u32,
    /// The largest response body read into memory (values, lists, cluster
    /// state). Snapshots are streamed and have no such limit.
    pub max_response_bytes: usize,
    /// The first pause before a retry; it doubles on every retry.
    pub backoff_initial: Duration,
    /// The longest pause between retries.
    pub backoff_max: Duration,
    /// TLS for `https://` endpoints (which need a CA).
    pub tls: ClientTlsFiles,
    /// A user and password to authenticate as: every call then carries a
    /// token, fetched on first use and again when it expires or is refused.
    pub credentials: Option<Credentials>,
}

/// A user name and its password (`--user NAME[:PASSWORD]`).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user.
    pub name: String,
    /// Its password.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    /// The name only: a password never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Default for [`ClientConfig::timeout`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default for [`ClientConfig::connect_timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Default for [`ClientConfig::max_redirect_hops`].
pub const DEFAULT_MAX_REDIRECT_HOPS: u32 = 4;
/// Default for [`ClientConfig::max_response_bytes`]: 64 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 << 20;
/// The limit on an error response's body, whatever the configuration.
pub(crate) const MAX_ERROR_BODY_BYTES: usize = 64 << 10;

impl ClientConfig {
    /// The defaults for `endpoints`: a 10 s deadline, 1 s to connect, 4
    /// redirect hops, 64 MiB responses, back-off from 50 ms doubling to 1 s.
    pub fn new(endpoints: Vec<Endpoint>) -> Self {
        Self {
            endpoints,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_redirect_hops: DEFAULT_MAX_REDIRECT_HOPS,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            backoff_initial: Duration::from_millis(50),
            backoff_max: Duration::from_secs(1),
            tls: ClientTlsFiles::default(),
            credentials: None,
        }
    }

    /// The same configuration, authenticating as `credentials`.
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// The same configuration with these TLS files.
    pub fn with_tls(mut self, tls: ClientTlsFiles) -> Self {
        self.tls = tls;
        self
    }

    /// The same configuration with another overall deadline.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}
