//! The HTTP client and the command-line verbs built on it.
//! PLACEHOLDER on branch kv: replaced by the client work before merging to main.

use std::process::ExitCode;

/// Client verbs.
#[derive(Debug, clap::Subcommand)]
pub enum ClientCommand {
    /// Placeholder.
    Status,
}

/// `ordo snapshot save`.
#[derive(Debug, clap::Args)]
pub struct SnapshotSaveArgs {
    /// Where to write the backup.
    pub file: std::path::PathBuf,
}

/// Runs a client verb.
pub async fn run(_command: ClientCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("placeholder")
}

/// Runs `ordo snapshot save`.
pub async fn snapshot_save(_args: SnapshotSaveArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("placeholder")
}
