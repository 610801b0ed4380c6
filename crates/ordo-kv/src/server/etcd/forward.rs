//! Forwarding a follower's writes to the leader.
//!
//! etcd clients never follow redirects: a write sent to a follower must be
//! carried out for them. The follower calls the same RPC on the leader's
//! client URL (the one `RaftError::NotLeader` names) over gRPC and answers
//! the client with the leader's answer, header included.
//!
//! - A forwarded call carries [`FORWARDED`]; a node that gets one and does
//!   not lead either answers "etcdserver: not leader" instead of
//!   forwarding again, so a stale view of leadership cannot make a loop.
//! - Channels are kept per leader URL (at most [`MAX_CHANNELS`]; past it
//!   the table is emptied, which only costs a reconnect).
//! - A forwarded call carries its caller's auth token (the `token`
//!   metadata, [`Onward`]): the leader checks it again, against the same
//!   replicated signing key, so forwarding never widens what a caller may
//!   do; [`FORWARDED`] itself grants nothing, and the leader never takes
//!   the forwarding node's certificate for a user (`auth_gate.rs`). So a
//!   caller known by its client certificate alone, while auth is on, is
//!   not forwarded: it is answered "etcdserver: not leader" and its client
//!   retries on another endpoint (etcd clients do, over their endpoint
//!   list).
//! - A leader behind TLS (`https://`) is reached over TLS 1.3, its
//!   certificate verified against the cluster CA
//!   ([`AppState::cluster_ca`]); the follower presents its own client-port
//!   certificate as a client certificate, so a leader with
//!   `--client-cert-auth` accepts it (`ordo cert node` and `ordo dev --tls`
//!   give node certificates both the server and the client usage). With no
//!   cluster CA known, or TLS files that cannot be read, the follower
//!   answers "etcdserver: not leader", as it does for any leader it cannot
//!   reach. A channel, once open, keeps the files it was opened with
//!   (a SIGHUP reload reaches channels opened after it).
//!
//! [`AppState::cluster_ca`]: crate::server::http::AppState::cluster_ca

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use hyper_util::client::legacy::connect::HttpConnector;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};

use crate::server::etcd::auth_gate::TOKEN_METADATA;
use crate::server::etcd::failure::NOT_LEADER;
use crate::server::http::auth_gate::Caller;
use crate::server::http::tls::ClientTls;
use crate::tls::{PROTOCOL_VERSIONS, TlsError, certificates, private_key, provider, roots};

/// The metadata key marking a call one node forwarded to another.
pub(crate) const FORWARDED: &str = "ordo-forwarded";

/// Most leader channels kept.
pub(crate) const MAX_CHANNELS: usize = 16;

/// What a follower needs to reach a leader behind TLS.
#[derive(Clone, Debug, Default)]
pub(crate) struct ForwardingTls {
    /// The CA the leader's certificate must chain to.
    pub(crate) cluster_ca: Option<PathBuf>,
    /// This node's client-port TLS files: its certificate is presented as
    /// a client certificate.
    pub(crate) own: Option<ClientTls>,
}

impl ForwardingTls {
    /// A TLS 1.3 client configuration trusting the cluster CA, or `None`
    /// without one.
    fn client_config(&self) -> Result<Option<rustls::ClientConfig>, TlsError> {
        let Some(cluster_ca) = &self.cluster_ca else {
            return Ok(None);
        };
        let rustls_error = |context: &str| {
            let context = context.to_owned();
            move |source| TlsError::Rustls { context, source }
        };
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(PROTOCOL_VERSIONS)
            .map_err(rustls_error("TLS 1.3"))?
            .with_root_certificates(roots(cluster_ca)?);
        let config = match &self.own {
            Some(own) => builder
                .with_client_auth_cert(certificates(&own.cert)?, private_key(&own.key)?)
                .map_err(rustls_error("this node's client-port certificate"))?,
            None => builder.with_no_client_auth(),
        };
        Ok(Some(config))
    }
}

/// Open channels to leaders, by client URL.
#[derive(Debug, Default)]
pub(crate) struct Forwarder {
    tls: ForwardingTls,
    channels: Mutex<HashMap<String, Channel>>,
}

impl Forwarder {
    /// A forwarder reaching leaders behind TLS with `tls`.
    pub(crate) fn new(tls: ForwardingTls) -> Self {
        Forwarder {
            tls,
            channels: Mutex::default(),
        }
    }

    /// A channel to the leader at `url` (connected on first use).
    pub(crate) fn channel(&self, url: &str) -> Result<Channel, Status> {
        let mut channels = self
            .channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(channel) = channels.get(url) {
            return Ok(channel.clone());
        }
        let endpoint = Endpoint::from_shared(url.to_owned())
            .map_err(|_| Status::unavailable(NOT_LEADER))?
            .tcp_nodelay(true);
        let channel = if url.starts_with("http://") {
            endpoint.connect_lazy()
        } else if url.starts_with("https://") {
            self.tls_channel(&endpoint)?
        } else {
            return Err(Status::unavailable(NOT_LEADER));
        };
        if channels.len() >= MAX_CHANNELS {
            channels.clear();
        }
        channels.insert(url.to_owned(), channel.clone());
        Ok(channel)
    }

    /// A channel over TLS to `endpoint` (see the module docs).
    fn tls_channel(&self, endpoint: &Endpoint) -> Result<Channel, Status> {
        let config = match self.tls.client_config() {
            Ok(Some(config)) => config,
            Ok(None) => return Err(Status::unavailable(NOT_LEADER)),
            Err(error) => {
                tracing::warn!(%error, "cannot forward to the leader over TLS");
                return Err(Status::unavailable(NOT_LEADER));
            }
        };
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_only()
            .enable_http2()
            .wrap_connector(tcp);
        Ok(endpoint.connect_with_connector_lazy(connector))
    }
}

/// `message` as a call marked forwarded.
pub(crate) fn forwarded<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert(FORWARDED, tonic::metadata::MetadataValue::from_static("1"));
    request
}

/// Whether `request` was forwarded by another node.
pub(crate) fn was_forwarded<T>(request: &Request<T>) -> bool {
    request.metadata().contains_key(FORWARDED)
}

/// How a call goes on to the leader: whether it may (it was not forwarded
/// already), and the caller's token, which the forwarded call carries.
#[derive(Clone, Debug)]
pub(crate) struct Onward {
    allowed: bool,
    token: Option<tonic::metadata::AsciiMetadataValue>,
}

impl Onward {
    /// What `request` may do onward (read before its message is taken).
    /// A caller known only by its client certificate (auth on, no token)
    /// cannot be carried: the leader takes no forwarded certificate for a
    /// user.
    pub(crate) fn of<T>(request: &Request<T>) -> Self {
        let token = request.metadata().get(TOKEN_METADATA).cloned();
        let identity_carried = token.is_some() || request.extensions().get::<Caller>().is_none();
        Onward {
            allowed: !was_forwarded(request) && identity_carried,
            token,
        }
    }

    /// Whether this call may be forwarded.
    pub(crate) fn allowed(&self) -> bool {
        self.allowed
    }

    /// `message` as the forwarded call, with the caller's token.
    pub(crate) fn call<T>(&self, message: T) -> Request<T> {
        let mut request = forwarded(message);
        if let Some(token) = &self.token {
            request.metadata_mut().insert(TOKEN_METADATA, token.clone());
        }
        request
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn call(caller: bool, token: bool, forwarded_already: bool) -> Request<()> {
        let mut request = if forwarded_already {
            forwarded(())
        } else {
            Request::new(())
        };
        if caller {
            request.extensions_mut().insert(Caller {
                user: "root".into(),
                auth: std::sync::Arc::default(),
            });
        }
        if token {
            request
                .metadata_mut()
                .insert(TOKEN_METADATA, "t".parse().unwrap());
        }
        request
    }

    #[test]
    fn a_call_goes_onward_once_and_only_with_an_identity_the_leader_can_check() {
        // Auth off: no caller, nothing to carry.
        assert!(Onward::of(&call(false, false, false)).allowed());
        // Auth on, a token: carried.
        assert!(Onward::of(&call(true, true, false)).allowed());
        let onward = Onward::of(&call(true, true, false)).call(());
        assert!(was_forwarded(&onward));
        assert_eq!(onward.metadata().get(TOKEN_METADATA).unwrap(), "t");
        // Auth on, a certificate alone: the leader could not know the caller.
        assert!(!Onward::of(&call(true, false, false)).allowed());
        // Forwarded already: never again.
        assert!(!Onward::of(&call(false, true, true)).allowed());
    }

    #[test]
    fn only_http_and_https_leaders_are_reached() {
        let forwarder = Forwarder::default();
        assert!(forwarder.channel("unix:///leader").is_err());
        // No cluster CA known: a TLS leader cannot be verified.
        let refused = forwarder.channel("https://127.0.0.1:1").unwrap_err();
        assert_eq!(refused.message(), NOT_LEADER);
    }
}
