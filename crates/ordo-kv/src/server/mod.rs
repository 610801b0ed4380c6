//! One `ordo` node: `ordo serve` and `ordo dev`.
//! PLACEHOLDER on branch kv: replaced by the server work before merging to main.

use std::process::ExitCode;

/// `ordo dev` flags.
#[derive(Debug, clap::Args)]
pub struct DevArgs {}

/// `ordo serve` flags.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {}

/// `ordo snapshot restore` flags.
#[derive(Debug, clap::Args)]
pub struct RestoreArgs {}

/// Runs `ordo dev`.
pub async fn dev(_args: DevArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("placeholder")
}

/// Runs `ordo serve`.
pub async fn serve(_args: ServeArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("placeholder")
}

/// Runs `ordo snapshot restore`.
pub fn restore(_args: RestoreArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("placeholder")
}
