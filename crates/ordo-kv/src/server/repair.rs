//! `ordo repair --data DIR`: rebuild a stopped node whose log is damaged
//! beyond recovery, keeping its identity and its vote, so that the leader
//! brings it back (see `ordo::storage::repair_log_dir` for the rules).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};

use crate::server::data_dir::DataDir;

/// `ordo repair` flags.
#[derive(Debug, clap::Args)]
pub struct RepairArgs {
    /// The stopped node's data directory.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Repair even if the node's newest vote cannot be proven readable (it
    /// may then vote twice in that term): only once every node has moved to
    /// a later term.
    #[arg(long)]
    pub force: bool,
}

/// Runs `ordo repair --data DIR`.
///
/// # Errors
/// Not a node's data directory, the node is running, or the repair refused.
pub fn repair(args: RepairArgs) -> anyhow::Result<ExitCode> {
    let Some(identity) = DataDir::identity_at(&args.data)? else {
        bail!(
            "{} holds no node identity; `ordo repair` rebuilds an existing node only",
            args.data.display()
        );
    };
    let data = DataDir::at(&args.data);
    let options = ordo::storage::RepairOptions {
        snapshot_dir: Some(data.snapshot_dir()),
        aside_dir: args
            .data
            .join(format!("damaged-{}", utc_stamp(SystemTime::now()))),
        force: args.force,
        // The rebuilt log names the node's cluster; a log naming another is
        // not repaired.
        cluster_id: Some(identity.cluster_id().to_owned()),
    };
    let report = ordo::storage::repair_log_dir(&data.wal_dir(), &options)
        .with_context(|| format!("cannot repair node {}", identity.node_id))?;
    println!(
        "ordo: node {} of cluster {:?} rebuilt: term {} and vote {:?} kept{}; the damaged log \
         and snapshots are in {}.\nStart it again with `ordo serve`: it catches up from the \
         leader and will not vote until its log reaches index {}.",
        identity.node_id,
        identity.cluster,
        report.hard_state.term,
        report.hard_state.voted_for,
        if report.hard_state_proven {
            ""
        } else {
            " (the newest readable; --force)"
        },
        report.aside_dir.display(),
        report.repair_point,
    );
    Ok(ExitCode::SUCCESS)
}

/// `YYYYMMDDTHHMMSSZ` for `time`, in UTC (no time-zone database needed).
fn utc_stamp(time: SystemTime) -> String {
    let seconds = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let (days, of_day) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    )
}

/// The calendar date of `days` since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn stamps_are_utc_calendar_times() {
        assert_eq!(utc_stamp(UNIX_EPOCH), "19700101T000000Z");
        let leap_day = UNIX_EPOCH + Duration::from_secs(951_782_400 + 3_723);
        assert_eq!(utc_stamp(leap_day), "20000229T010203Z");
    }
}
