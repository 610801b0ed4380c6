//! `ordo-sim`: run randomized cluster simulations from the command line.
//!
//! ```text
//! cargo run -p ordo-sim --release -- --seeds 0..1000 [--steps N] [--nodes N]
//!     [--faults all|network|crashes|none] [--no-pre-vote] [--lease-reads] [--quiet]
//! ```
//!
//! Every seed is one deterministic run; a failure prints the seed, what broke,
//! the events leading to it, and the exact command that replays it. The exit
//! status is 1 if any seed failed.

use std::ops::Range;
use std::process::ExitCode;
use std::time::Instant;

use ordo_sim::coordination::CoordinationSummary;
use ordo_sim::random::{FAULT_PROFILES, RunConfig, run};

struct Options {
    seeds: Range<u64>,
    config: RunConfig,
    profile: String,
    quiet: bool,
}

fn usage() -> String {
    format!(
        "usage: ordo-sim --seeds A..B [--steps N] [--nodes N] [--faults {}] [--no-pre-vote] [--lease-reads] [--quiet]",
        FAULT_PROFILES.join("|")
    )
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut seeds = None;
    let mut profile = "all".to_string();
    let mut quiet = false;
    let mut steps = None;
    let mut nodes = None;
    let mut no_pre_vote = false;
    let mut lease_reads = false;
    let mut words = args.iter();
    while let Some(word) = words.next() {
        let mut value = |name: &str| {
            words
                .next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match word.as_str() {
            "--seeds" => seeds = Some(parse_range(&value("--seeds")?)?),
            "--steps" => steps = Some(parse_number(&value("--steps")?, "--steps")?),
            "--nodes" => nodes = Some(parse_number(&value("--nodes")?, "--nodes")?),
            "--faults" => profile = value("--faults")?,
            "--no-pre-vote" => no_pre_vote = true,
            "--lease-reads" => lease_reads = true,
            "--quiet" => quiet = true,
            "--help" | "-h" => return Err(usage()),
            other => return Err(format!("unknown argument {other:?}\n{}", usage())),
        }
    }
    let mut config = RunConfig::for_profile(&profile).ok_or_else(|| {
        format!(
            "unknown fault profile {profile:?}; choose one of {}",
            FAULT_PROFILES.join(", ")
        )
    })?;
    if let Some(steps) = steps {
        config.steps = steps as usize;
    }
    if let Some(nodes) = nodes {
        if !(1..=9).contains(&nodes) {
            return Err("--nodes must be between 1 and 9".to_string());
        }
        config.nodes = nodes;
    }
    if no_pre_vote {
        config.pre_vote = false;
        config.check_quorum = false;
    }
    if lease_reads && no_pre_vote {
        return Err("--lease-reads needs check-quorum, which --no-pre-vote turns off".to_string());
    }
    config.lease_reads = lease_reads;
    let seeds = seeds.ok_or_else(|| format!("--seeds is required\n{}", usage()))?;
    Ok(Options {
        seeds,
        config,
        profile,
        quiet,
    })
}

fn parse_number(text: &str, name: &str) -> Result<u64, String> {
    text.parse()
        .map_err(|_| format!("{name} takes a whole number, got {text:?}"))
}

fn parse_range(text: &str) -> Result<Range<u64>, String> {
    let (start, end) = text
        .split_once("..")
        .ok_or_else(|| format!("--seeds takes a range like 0..100, got {text:?}"))?;
    let (start, end) = (
        parse_number(start, "--seeds")?,
        parse_number(end, "--seeds")?,
    );
    if start >= end {
        return Err(format!("--seeds range {text:?} is empty"));
    }
    Ok(start..end)
}

fn replay_command(seed: u64, options: &Options) -> String {
    let mut command = format!(
        "cargo run -p ordo-sim --release -- --seeds {seed}..{} --steps {} --nodes {} --faults {}",
        seed + 1,
        options.config.steps,
        options.config.nodes,
        options.profile
    );
    if !options.config.pre_vote {
        command += " --no-pre-vote";
    }
    if options.config.lease_reads {
        command += " --lease-reads";
    }
    command
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse_args(&args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let (mut failures, mut committed, mut operations, mut undecided) =
        (0u64, 0usize, 0usize, 0usize);
    let (mut tail_losses, mut waited) = (0usize, 0usize);
    let mut coordination = CoordinationSummary::default();
    for seed in options.seeds.clone() {
        match run(seed, &options.config) {
            Ok(summary) => {
                committed += summary.committed;
                operations += summary.operations;
                undecided += usize::from(summary.linearizability_undecided);
                tail_losses += summary.tail_losses;
                waited += usize::from(summary.waited_for_operator);
                coordination.watch_events += summary.coordination.watch_events;
                coordination.watch_resumes += summary.coordination.watch_resumes;
                coordination.leases_kept_alive += summary.coordination.leases_kept_alive;
                coordination.lease_expiries += summary.coordination.lease_expiries;
                if !options.quiet {
                    println!(
                        "seed {seed}: ok ({} committed, {} operations, term {})",
                        summary.committed, summary.operations, summary.max_term
                    );
                }
            }
            Err(failure) => {
                failures += 1;
                println!("{failure}");
                println!("replay: {}", replay_command(seed, &options));
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let runs = options.seeds.end - options.seeds.start;
    println!(
        "{runs} seeds in {seconds:.1} s ({:.0} seeds/s): {failures} failed; {committed} entries committed, \
         {operations} client operations checked, {undecided} histories undecided; {tail_losses} synced \
         tails lost, {waited} runs left waiting for an operator (repairing nodes needed for every quorum); \
         {} watch events delivered over {} resumes, {} leases kept alive, {} lease expiries",
        runs as f64 / seconds.max(f64::EPSILON),
        coordination.watch_events,
        coordination.watch_resumes,
        coordination.leases_kept_alive,
        coordination.lease_expiries
    );
    if failures > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_a_full_command_line() {
        let options = parse_args(&args(
            "--seeds 5..9 --steps 300 --nodes 5 --faults network --no-pre-vote",
        ));
        let Ok(options) = options else {
            panic!("should parse")
        };
        assert_eq!(options.seeds, 5..9);
        assert_eq!((options.config.steps, options.config.nodes), (300, 5));
        assert!(!options.config.crashes && !options.config.pre_vote);
        assert!(
            replay_command(7, &options)
                .contains("--seeds 7..8 --steps 300 --nodes 5 --faults network --no-pre-vote")
        );
    }

    #[test]
    fn lease_reads_need_check_quorum() {
        let Ok(options) = parse_args(&args("--seeds 0..1 --lease-reads")) else {
            panic!("should parse")
        };
        assert!(options.config.lease_reads);
        assert!(replay_command(0, &options).ends_with("--lease-reads"));
        assert!(parse_args(&args("--seeds 0..1 --lease-reads --no-pre-vote")).is_err());
    }

    #[test]
    fn refuses_bad_arguments_with_a_reason() {
        for bad in [
            "",
            "--seeds 9..3",
            "--seeds x",
            "--seeds 0..1 --faults storm",
            "--seeds 0..1 --nodes 0",
            "--steps",
        ] {
            assert!(parse_args(&args(bad)).is_err(), "{bad:?} should be refused");
        }
    }
}
