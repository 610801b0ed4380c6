//! The `ordo` binary: `ordo dev`, `ordo serve`, and the client verbs.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use ordo_kv::{client, pki, server};

/// ordo: a replicated key-value store on Raft.
#[derive(Debug, Parser)]
#[command(name = "ordo", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start a local cluster of durable nodes on 127.0.0.1 (Ctrl-C stops it).
    Dev(server::DevArgs),
    /// Run one node of a cluster.
    Serve(Box<server::ServeArgs>),
    /// Back up a live cluster, or seed a new one from a backup.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Rebuild a stopped node whose log is damaged, keeping its identity and
    /// vote; the leader then brings it back.
    Repair(server::RepairArgs),
    /// Make a cluster CA, node certificates and client certificates (PEM).
    #[command(subcommand)]
    Cert(pki::CertCommand),
    #[command(flatten)]
    Client(client::ClientCommand),
}

#[derive(Debug, Subcommand)]
enum SnapshotCommand {
    /// Save a consistent backup of a live cluster to FILE.
    Save(client::SnapshotSaveArgs),
    /// Seed a new node's data directory from a backup FILE.
    Restore(server::RestoreArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("ordo: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async move {
        match cli.command {
            Command::Dev(args) => server::dev(args).await,
            Command::Serve(args) => server::serve(*args).await,
            Command::Snapshot(SnapshotCommand::Save(args)) => client::snapshot_save(args).await,
            Command::Snapshot(SnapshotCommand::Restore(args)) => server::restore(args),
            Command::Repair(args) => server::repair(args),
            Command::Cert(command) => pki::run(command),
            Command::Client(command) => client::run(command).await,
        }
    });
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("ordo: {error:#}");
            ExitCode::FAILURE
        }
    }
}
