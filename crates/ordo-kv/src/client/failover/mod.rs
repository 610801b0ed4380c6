//! `ordo bench failover`: how long clients wait when a leader goes away.
//!
//! Starts a 3-member cluster on loopback — `ordo serve` run from this very
//! executable, or etcd with `--etcd` — puts it under a steady write load
//! (every member is sent a write every 5 ms), and per trial: faults the
//! leader (kill -9, SIGSTOP, SIGTERM, or a leadership transfer), measures
//! from the fault to the first write acknowledged by the new leader and to
//! a new leader named by every surviving member, heals (restart, SIGCONT),
//! and waits for a stable cluster before the next trial. Then prints
//! p50/p90/p99/max per mode.
//!
//! Files: `api.rs` (each system's HTTP calls), `launch.rs` (starting the
//! cluster), `children.rs` (child processes), `trial.rs` (one trial),
//! `stats.rs` (percentiles and the report).
//!
//! Bounded: every trial has a deadline (`--trial-timeout`), a cluster that
//! does not become stable again fails the run, and every child process is
//! killed and its scratch directory removed when the run ends — also on an
//! error, a panic, or Ctrl-C. Linux (and other Unixes) only: faults are
//! signals.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;

mod api;
mod children;
mod launch;
mod stats;
mod trial;

pub use stats::{ModeReport, Percentiles, TrialTimes, render};

use crate::client::parse_duration;

/// What happens to the leader in a trial.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultMode {
    /// kill -9: the leader's process dies at once.
    Kill,
    /// SIGSTOP: the leader freezes (resumed with SIGCONT afterwards).
    Pause,
    /// SIGTERM: the leader stops gracefully.
    Term,
    /// The leader is asked to hand leadership to another member.
    Transfer,
    /// Each of the above in turn.
    All,
}

impl FaultMode {
    /// The single modes this one stands for.
    pub fn expand(self) -> Vec<FaultMode> {
        match self {
            Self::All => vec![Self::Kill, Self::Pause, Self::Term, Self::Transfer],
            single => vec![single],
        }
    }
}

impl std::fmt::Display for FaultMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Kill => "kill",
            Self::Pause => "pause",
            Self::Term => "term",
            Self::Transfer => "transfer",
            Self::All => "all",
        })
    }
}

/// The most trials per mode.
pub const MAX_FAILOVER_TRIALS: usize = 10_000;

/// `ordo bench failover`.
#[derive(Debug, clap::Args)]
pub struct FailoverArgs {
    /// Trials per fault mode.
    #[arg(long, default_value_t = 50)]
    pub trials: usize,
    /// Which fault to inject into the leader.
    #[arg(long, value_enum, default_value_t = FaultMode::Kill)]
    pub mode: FaultMode,
    /// Run the same workload against etcd (found on PATH, or `--etcd-bin`).
    #[arg(long)]
    pub etcd: bool,
    /// The etcd executable (implies `--etcd`).
    #[arg(long, value_name = "PATH")]
    pub etcd_bin: Option<PathBuf>,
    /// Give up on a trial's measurements this long after the fault.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub trial_timeout: Duration,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Keep the members' data directories and logs (their path is printed
    /// at the end), to look into a slow trial.
    #[arg(long)]
    pub keep_data: bool,
}

impl FailoverArgs {
    /// Checks the numbers.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_FAILOVER_TRIALS).contains(&self.trials) {
            return Err(format!("--trials must be 1 to {MAX_FAILOVER_TRIALS}"));
        }
        if self.trial_timeout.is_zero() {
            return Err("--trial-timeout must be more than zero".to_owned());
        }
        Ok(())
    }

    fn wants_etcd(&self) -> bool {
        self.etcd || self.etcd_bin.is_some()
    }
}

/// Exit code when etcd was asked for and cannot be found.
const ETCD_MISSING: u8 = 2;

/// Runs `ordo bench failover`.
pub(crate) async fn run(args: FailoverArgs) -> anyhow::Result<ExitCode> {
    args.validate().map_err(anyhow::Error::msg)?;
    let system = if args.wants_etcd() {
        let Some(etcd) = find_etcd(args.etcd_bin.as_deref()) else {
            eprintln!(
                "ordo bench failover: etcd not found (looked for {}); install it \
                 (Debian: apt-get install etcd-server) or pass --etcd-bin PATH",
                args.etcd_bin
                    .as_ref()
                    .map_or_else(|| "`etcd` on PATH".to_owned(), |p| p.display().to_string())
            );
            return Ok(ExitCode::from(ETCD_MISSING));
        };
        System::Etcd(etcd)
    } else {
        System::Ordo(std::env::current_exe().context("cannot find this executable")?)
    };
    // Ctrl-C drops `bench`, and with it every member (killed and reaped)
    // and the scratch directory, from the first member started on.
    let bench = async {
        let launched = match &system {
            System::Ordo(exe) => launch::ordo(exe, args.keep_data).await?,
            System::Etcd(etcd) => launch::etcd(etcd, args.keep_data).await?,
        };
        run_modes(launched, system.name(), &args).await
    };
    let reports = tokio::select! {
        // Polled first, so Ctrl-C is caught before any member starts.
        biased;
        interrupted = tokio::signal::ctrl_c() => {
            interrupted.context("cannot watch for Ctrl-C")?;
            anyhow::bail!("interrupted; every member was stopped");
        }
        reports = bench => reports?,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        print!("{}", render(&reports));
    }
    Ok(ExitCode::SUCCESS)
}

/// The system under test and its executable.
enum System {
    Ordo(PathBuf),
    Etcd(PathBuf),
}

impl System {
    fn name(&self) -> &'static str {
        match self {
            Self::Ordo(_) => "ordo",
            Self::Etcd(_) => "etcd",
        }
    }
}

async fn run_modes(
    mut launched: launch::Launched,
    system: &str,
    args: &FailoverArgs,
) -> anyhow::Result<Vec<ModeReport>> {
    let mut reports = Vec::new();
    for mode in args.mode.expand() {
        let mut times = Vec::new();
        for trial in 0..args.trials {
            let measured = trial::run(&mut launched, mode, trial, args.trial_timeout).await?;
            eprintln!(
                "{system} {mode} trial {}/{}: first write {}, leader known {}",
                trial + 1,
                args.trials,
                shown(measured.first_write),
                shown(measured.leader_known)
            );
            times.push(measured);
        }
        reports.push(ModeReport::new(system, mode, &times));
    }
    Ok(reports)
}

fn shown(time: Option<Duration>) -> String {
    time.map_or_else(
        || "not seen".to_owned(),
        |t| format!("{:.2}ms", t.as_secs_f64() * 1e3),
    )
}

/// `explicit` if it is a file, else `etcd` on PATH.
fn find_etcd(explicit: Option<&std::path::Path>) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return path.is_file().then(|| path.to_owned());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("etcd"))
        .find(|candidate| candidate.is_file())
}
