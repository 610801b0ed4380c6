//! One `ordo` node (`ordo serve`), a local cluster of them (`ordo dev`),
//! seeding a new cluster from a backup (`ordo snapshot restore`), and
//! rebuilding a node whose log is damaged (`ordo repair`).
//!
//! - `settings.rs`: flags and the TOML file, validated; `client_port.rs`:
//!   the client port's (HTTPS, connection limits, secure by default);
//!   `descriptors.rs`: the descriptor limit and the client connection cap.
//! - `data_dir.rs`: the data directory's identity and layout;
//!   `cluster_id.rs`: the cluster's unique id and how first members agree on it.
//! - `node.rs`: assembling and starting a node; `first_start.rs`: what a
//!   new node learns before it writes anything; `peers.rs`: making the
//!   log carry this node's own addresses; `seed.rs`: seeding from a backup.
//! - `http/`: the HTTP API; `metrics.rs`: the Prometheus page;
//!   `node_events.rs`: counting the node's elections and snapshots for it;
//!   `member_address.rs`: how the identity file records a member's addresses;
//!   `timed_store.rs`: fsync timing; `leases/`: the leader's lease clock
//!   (when a lease expires).
//! - `dev.rs`: `ordo dev`; `repair.rs`: `ordo repair`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

pub mod auth_view;
pub mod auto_compaction;
mod backup;
pub mod client_port;
pub mod cluster_id;
pub mod data_dir;
pub mod descriptors;
mod dev;
mod dev_tls;
pub mod etcd;
mod first_start;
pub mod http;
pub mod leases;
pub mod member_address;
pub mod metrics;
pub mod node;
pub mod node_events;
pub mod peer_tls;
mod peers;
mod repair;
pub mod seed;
pub mod settings;
pub mod store_gauge;
pub mod timed_store;
pub mod ui;
pub mod watch;

pub use dev::{DevArgs, dev};
pub use node::RunningNode;
pub use repair::{RepairArgs, repair};
pub use settings::{NodeSettings, ServeArgs};

/// `ordo snapshot restore` flags.
#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// The backup file (from `ordo snapshot save`).
    pub file: PathBuf,
    /// The new node's (or `ordo dev`'s) data directory; must be new or empty.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
}

/// Runs `ordo serve` until SIGINT or SIGTERM.
///
/// # Errors
/// Bad settings, or a node that cannot start.
pub async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    init_logging();
    let settings = args.resolve()?;
    let node = RunningNode::start(settings).await?;
    tracing::info!(
        node_id = node.node.id(),
        client = %node.client_url,
        peer = %node.peer_addr,
        "serving"
    );
    eprintln!(
        "ordo: node {} serving clients at {} (nodes at {})",
        node.node.id(),
        node.client_url,
        node.peer_addr
    );
    let stopped_by_itself = tokio::select! {
        signal = shutdown_signal() => { signal?; false }
        () = stopped(std::slice::from_ref(&node.node)) => true,
    };
    let id = node.node.id();
    if stopped_by_itself {
        // A storage or state machine failure: exit so a supervisor restarts
        // the node on its data (what was acknowledged is on disk).
        eprintln!("ordo: node {id} stopped after a failure (see the log above); exiting");
        node.stop().await;
        return Ok(ExitCode::FAILURE);
    }
    eprintln!("ordo: stopping node {id}");
    node.stop().await;
    Ok(ExitCode::SUCCESS)
}

/// Resolves once any of `nodes` has stopped on its own (a fatal storage or
/// state machine error).
pub(crate) async fn stopped(nodes: &[ordo::RaftNode<crate::store::KvStore>]) {
    loop {
        if nodes.iter().any(ordo::RaftNode::is_stopped) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

/// Runs `ordo snapshot restore FILE --data DIR`.
///
/// # Errors
/// A damaged backup or an occupied directory.
pub fn restore(args: RestoreArgs) -> anyhow::Result<ExitCode> {
    let summary = seed::place_restore_file(&args.file, &args.data)?;
    println!(
        "ordo: {} checked: {} keys, {} bytes, cluster revision {}.\n\
         The first start of `ordo serve --data {dir} --initial-cluster ...` or \
         `ordo dev --data {dir}` seeds the new cluster from it.",
        args.file.display(),
        summary.keys,
        summary.bytes,
        summary.cluster_revision,
        dir = args.data.display(),
    );
    Ok(ExitCode::SUCCESS)
}

/// Logs to stderr; `RUST_LOG` filters (default `info` for ordo, `warn` for
/// the rest). Colours only on a terminal, and never with `NO_COLOR` set, so
/// that logs sent to a file or a journal are plain text.
pub(crate) fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,ordo=info,ordo_kv=info"));
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
    let colours = std::io::stderr().is_terminal() && !no_color;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colours)
        .try_init();
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub(crate) async fn shutdown_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate()).context("cannot watch for SIGTERM")?;
        tokio::select! {
            interrupted = tokio::signal::ctrl_c() => interrupted.context("cannot watch for Ctrl-C")?,
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("cannot watch for Ctrl-C")?;
    Ok(())
}
