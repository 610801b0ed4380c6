//! The client port's settings, checked before anything is bound: HTTPS
//! files ([`ClientTls`]), the limits on client connections
//! ([`ConnectionLimits`]), and *secure by default*: a client or peer
//! listener on an address other hosts can reach needs TLS, or `--insecure`.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, ensure};

use crate::server::http::tls::ClientTls;
use crate::server::http::{
    ConnectionLimits, DEFAULT_AUTH_TOKEN_TTL, HttpSettings, MAX_AUTH_TOKEN_TTL,
};
use crate::server::settings::ServeArgs;

/// Shortest timeout accepted for the client port, in milliseconds.
const MIN_TIMEOUT_MS: u64 = 100;
/// Longest timeout accepted for the client port, in milliseconds (an hour).
const MAX_TIMEOUT_MS: u64 = 3_600_000;

/// The client port's settings from the merged flags and file.
///
/// # Errors
/// Half a certificate pair, `--client-cert-auth` without `--trusted-ca`, a
/// timeout or cap out of range, or a non-loopback listener without TLS
/// and without `--insecure`.
pub(crate) fn http_settings(
    args: &ServeArgs,
    client_listen: SocketAddr,
    peer_listen: SocketAddr,
) -> anyhow::Result<HttpSettings> {
    let tls = client_tls(args)?;
    // Peer TLS itself is the transport's (the `--peer-*` files); here only
    // whether it is configured matters.
    let peer_tls =
        args.peer_cert.is_some() && args.peer_key.is_some() && args.peer_trusted_ca.is_some();
    check_exposure(
        client_listen,
        tls.is_some(),
        peer_listen,
        peer_tls,
        args.insecure,
    )?;
    let auth_token_ttl = match args.auth_token_ttl {
        None => DEFAULT_AUTH_TOKEN_TTL,
        Some(seconds) if (1..=MAX_AUTH_TOKEN_TTL.as_secs()).contains(&seconds) => {
            Duration::from_secs(seconds)
        }
        Some(seconds) => bail!(
            "--auth-token-ttl {seconds} is outside 1..={} seconds",
            MAX_AUTH_TOKEN_TTL.as_secs()
        ),
    };
    Ok(HttpSettings {
        limits: limits(args)?,
        tls,
        auth_token_ttl,
    })
}

fn client_tls(args: &ServeArgs) -> anyhow::Result<Option<ClientTls>> {
    let (cert, key) = match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone()),
        (None, None) => {
            ensure!(
                args.trusted_ca.is_none() && !args.client_cert_auth,
                "--trusted-ca and --client-cert-auth need HTTPS: give --cert FILE and --key FILE too"
            );
            return Ok(None);
        }
        _ => bail!("give both --cert FILE and --key FILE (HTTPS needs the pair)"),
    };
    ensure!(
        !args.client_cert_auth || args.trusted_ca.is_some(),
        "--client-cert-auth needs --trusted-ca FILE (the CA whose client certificates to accept)"
    );
    Ok(Some(ClientTls {
        cert,
        key,
        trusted_ca: args.trusted_ca.clone(),
        client_cert_auth: args.client_cert_auth,
    }))
}

/// Refuses a listener other hosts can reach without TLS, unless insecure.
fn check_exposure(
    client_listen: SocketAddr,
    client_tls: bool,
    peer_listen: SocketAddr,
    peer_tls: bool,
    insecure: bool,
) -> anyhow::Result<()> {
    if insecure {
        return Ok(());
    }
    if !client_listen.ip().is_loopback() && !client_tls {
        bail!(
            "refusing to serve clients on {client_listen} without TLS: anyone who can reach that \
             address could read and change every key and the cluster's membership. Give --cert \
             FILE --key FILE (HTTPS), listen on 127.0.0.1, or pass --insecure to accept the risk"
        );
    }
    if !peer_listen.ip().is_loopback() && !peer_tls {
        bail!(
            "refusing to listen for nodes on {peer_listen} without TLS: anyone who can reach that \
             address could pose as a member. Give --peer-cert FILE --peer-key FILE \
             --peer-trusted-ca FILE, listen on 127.0.0.1, or pass --insecure to accept the risk"
        );
    }
    Ok(())
}

fn limits(args: &ServeArgs) -> anyhow::Result<ConnectionLimits> {
    let defaults = ConnectionLimits::default();
    let timeout = |flag: &str, value: Option<u64>, default: Duration| -> anyhow::Result<Duration> {
        let Some(ms) = value else {
            return Ok(default);
        };
        ensure!(
            (MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&ms),
            "{flag} {ms} must be between {MIN_TIMEOUT_MS} and {MAX_TIMEOUT_MS} (milliseconds)"
        );
        Ok(Duration::from_millis(ms))
    };
    let cap = |flag: &str, value: Option<usize>, default: usize| -> anyhow::Result<usize> {
        let value = value.unwrap_or(default);
        ensure!(value > 0, "{flag} must be above 0");
        Ok(value)
    };
    Ok(ConnectionLimits {
        header_read_timeout: timeout(
            "--http-header-timeout-ms",
            args.http_header_timeout_ms,
            defaults.header_read_timeout,
        )?,
        body_read_timeout: timeout(
            "--http-body-timeout-ms",
            args.http_body_timeout_ms,
            defaults.body_read_timeout,
        )?,
        idle_timeout: timeout(
            "--http-idle-timeout-ms",
            args.http_idle_timeout_ms,
            defaults.idle_timeout,
        )?,
        max_connections: cap(
            "--max-client-connections",
            args.max_client_connections,
            defaults.max_connections,
        )?,
        max_in_flight_requests: cap(
            "--max-in-flight-requests",
            args.max_in_flight_requests,
            defaults.max_in_flight_requests,
        )?,
    })
}
