//! The command language of scenario transcripts, interpreted over a [`Cluster`].
//!
//! | command | effect |
//! |---|---|
//! | `add-nodes N [pre-vote=B] [check-quorum=B] [lease-reads=B] [snapshot-threshold=N] [retention=N] [chunk-bytes=N] [election=MIN..MAX] [heartbeat=T] [max-entries=N] [max-inflight=N] [max-uncommitted=BYTES] [max-term-jump=N] [seed=S]` | start nodes 1..=N, all voters |
//! | `set-log ID T1 T2 ... [term=T]` | replace ID's disk with entries of these terms (hard-state term T, default the last) |
//! | `tick-until-election [max=N]` | tick every node until one starts an election |
//! | `campaign ID` / `tick ID [N]` / `tick-all [N]` | inputs |
//! | `propose ID DATA...` | one proposal with one command per word |
//! | `read ID REQUEST... [mode=read-index\|lease]` | linearizable reads with these ids |
//! | `transfer ID TARGET` | ask leader ID to hand leadership to TARGET |
//! | `snapshot ID` | ask ID to snapshot its state machine now |
//! | `add-node ID` | start a new, empty node that knows no members |
//! | `change LEADER add-learner\|add-voter\|remove ID` | a membership change |
//! | `change LEADER replace voters=A,B,C [learners=D]` | replace the configuration (joint consensus if several voters change) |
//! | `process [ID...]` | take and carry out actions, print them |
//! | `sync ID [count=N]` | make pending writes durable |
//! | `sync-snapshot ID` | make received snapshot chunks durable |
//! | `auto-sync on\|off` | sync every write (log and snapshot) as soon as it is issued (default on) |
//! | `deliver [from=ID] [to=ID] [type=KIND] [drop=true]` | deliver (or drop) queued messages |
//! | `stabilize [verbose=false]` | process and deliver until quiet |
//! | `partition ID...` / `cut FROM TO` / `heal` | network faults |
//! | `crash ID` / `restart ID` | process faults |
//! | `lose-tail ID keep=N` | crash ID, cut its durable log after index N (a synced tail lost to a storage fault), restart it with a repair point at its former last index (`repair=false`: without one) |
//! | `forge FROM TO heartbeat\|vote\|pre-vote\|timeout-now\|read-index\|removed term=T` | put a forged message on the network (a vote request claims the sender's log ends at `last=1`@`last-term=1`; a read asks for read id 1; a removal notice names `index=1`@`at=1`) |
//! | `status [ID...]` / `log ID` | print state |
//! | `elect ID` | campaign and stabilize, printing only the outcome |

use std::collections::BTreeSet;
use std::fmt::Write;

use bytes::Bytes;
use ordo_core::{
    Config, Entry, HardState, Heartbeat, Index, MembershipChange, MemoryLog, Message, MessageBody,
    NodeId, Persist, ReadIndexRequest, ReadMode, RemovalNotice, Role, Term, VoteRequest,
};

use crate::cluster::{Cluster, Delivery};
use crate::format;
use crate::transcript::Command;

/// Interprets scenario commands. Errors become `error: ...` output lines, so a
/// transcript records them rather than aborting.
#[derive(Debug, Default)]
pub struct Scenario {
    cluster: Option<Cluster>,
    /// The configuration of the first node, for nodes added later.
    template: Option<Config>,
}

type Outcome = Result<String, String>;

impl Scenario {
    /// An empty scenario; the first command is usually `add-nodes`.
    pub fn new() -> Self {
        Self::default()
    }

    /// The cluster, once `add-nodes` ran.
    pub fn cluster(&self) -> Option<&Cluster> {
        self.cluster.as_ref()
    }

    /// Runs one command and returns its output.
    pub fn run(&mut self, command: &Command) -> String {
        let outcome = match command.name.as_str() {
            "add-nodes" => self.add_nodes(command),
            "add-node" => self.add_node(command),
            name => match self.cluster.as_mut() {
                None => Err(format!("{name}: no cluster yet; start with add-nodes")),
                Some(cluster) => run_on(cluster, command),
            },
        };
        outcome.unwrap_or_else(|e| format!("error: {e}"))
    }

    fn add_node(&mut self, command: &Command) -> Outcome {
        let id: NodeId = positional(command, 0)?;
        let (Some(cluster), Some(template)) = (self.cluster.as_mut(), &self.template) else {
            return Err("add-node: no cluster yet; start with add-nodes".to_string());
        };
        let config = Config {
            node_id: id,
            rng_seed: template.rng_seed,
            ..template.clone()
        };
        cluster.add_node(id, config).map_err(|e| e.to_string())?;
        Ok(format!("started node {id}, knowing no members"))
    }

    fn add_nodes(&mut self, command: &Command) -> Outcome {
        let count: u64 = positional(command, 0)?;
        let defaults = Config::default();
        let (min, max) = match command.options.get("election") {
            Some(range) => parse_range(range)?,
            None => (10, 20),
        };
        let template = Config {
            pre_vote: option(command, "pre-vote", true)?,
            check_quorum: option(command, "check-quorum", true)?,
            election_timeout_min_ticks: min,
            election_timeout_max_ticks: max,
            heartbeat_interval_ticks: option(command, "heartbeat", 1)?,
            max_entries_per_message: option(
                command,
                "max-entries",
                defaults.max_entries_per_message,
            )?,
            max_inflight_messages: option(command, "max-inflight", defaults.max_inflight_messages)?,
            max_uncommitted_bytes: option(
                command,
                "max-uncommitted",
                defaults.max_uncommitted_bytes,
            )?,
            rng_seed: option(command, "seed", 0)?,
            lease_reads: option(command, "lease-reads", false)?,
            snapshot_threshold_entries: option(command, "snapshot-threshold", 0)?,
            log_retention_entries: option(command, "retention", 0)?,
            snapshot_chunk_bytes: option(command, "chunk-bytes", defaults.snapshot_chunk_bytes)?,
            max_term_jump: option(command, "max-term-jump", defaults.max_term_jump)?,
            ..defaults
        };
        let cluster = Cluster::new(count, |id| Config {
            node_id: id,
            ..template.clone()
        })
        .map_err(|e| e.to_string())?;
        self.cluster = Some(cluster);
        self.template = Some(template);
        Ok(format!("started nodes 1..={count}"))
    }
}

fn run_on(cluster: &mut Cluster, command: &Command) -> Outcome {
    let fatal = |e: ordo_core::Error| e.to_string();
    match command.name.as_str() {
        "set-log" => set_log(cluster, command),
        "campaign" => {
            cluster.campaign(positional(command, 0)?).map_err(fatal)?;
            Ok(String::new())
        }
        "tick" => {
            let id = positional(command, 0)?;
            for _ in 0..positional_or(command, 1, 1)? {
                cluster.tick(id).map_err(fatal)?;
            }
            Ok(String::new())
        }
        "tick-until-election" => tick_until_election(cluster, option(command, "max", 1000)?),
        "tick-all" => {
            for _ in 0..positional_or(command, 0, 1)? {
                for id in cluster.running() {
                    cluster.tick(id).map_err(fatal)?;
                }
            }
            Ok(String::new())
        }
        "propose" => {
            let id = positional(command, 0)?;
            let commands: Vec<Bytes> = command.args[1..]
                .iter()
                .map(|w| Bytes::from(w.clone()))
                .collect();
            match cluster.propose(id, commands) {
                Ok(p) => Ok(format!(
                    "proposed {}..={} in term {}",
                    p.first_index, p.last_index, p.term
                )),
                Err(e) => Ok(format!("rejected: {e}")),
            }
        }
        "process" => {
            let mut out = String::new();
            for id in ids_or_all(cluster, command)? {
                for actions in cluster.process(id).map_err(fatal)? {
                    out += &format::actions(id, &actions);
                }
            }
            Ok(out)
        }
        "sync" => {
            let id = positional(command, 0)?;
            cluster
                .sync_some(id, option(command, "count", usize::MAX)?)
                .map_err(fatal)?;
            Ok(String::new())
        }
        "sync-snapshot" => {
            cluster.sync_snapshot(positional(command, 0)?);
            Ok(String::new())
        }
        "auto-sync" => {
            cluster.auto_sync = positional::<String>(command, 0)? == "on";
            Ok(String::new())
        }
        "deliver" => deliver(cluster, command),
        "change" => change(cluster, command),
        "snapshot" => {
            let id: NodeId = positional(command, 0)?;
            match cluster.nodes.get_mut(&id).and_then(|n| n.raft.as_mut()) {
                Some(raft) => {
                    raft.request_snapshot();
                    Ok(String::new())
                }
                None => Err(format!("node {id} is down")),
            }
        }
        "transfer" => {
            let (id, target) = (positional(command, 0)?, positional(command, 1)?);
            match cluster.transfer_leadership(id, target) {
                Ok(()) => Ok(String::new()),
                Err(e) => Ok(format!("rejected: {e}")),
            }
        }
        "read" => {
            let id = positional(command, 0)?;
            let ids: Vec<u64> = (1..command.args.len())
                .map(|i| positional(command, i))
                .collect::<Result<_, _>>()?;
            let mode = match command.options.get("mode").map(String::as_str) {
                None | Some("read-index") => ReadMode::ReadIndex,
                Some("lease") => ReadMode::Lease,
                Some(other) => return Err(format!("unknown read mode {other:?}")),
            };
            match cluster.read_index(id, ids, mode) {
                Ok(()) => Ok(String::new()),
                Err(e) => Ok(format!("rejected: {e}")),
            }
        }
        "stabilize" => stabilize(cluster, option(command, "verbose", true)?),
        "elect" => {
            let id = positional(command, 0)?;
            cluster.campaign(id).map_err(fatal)?;
            cluster.stabilize(1000).map_err(fatal)?;
            Ok(cluster
                .raft(id)
                .map_or("node is down".into(), |r| format::status(&r.status())))
        }
        "partition" => {
            let side: BTreeSet<NodeId> = (0..command.args.len())
                .map(|i| positional(command, i))
                .collect::<Result<_, _>>()?;
            cluster.partition(&side);
            Ok(String::new())
        }
        "cut" => {
            cluster
                .cut_links
                .insert((positional(command, 0)?, positional(command, 1)?));
            Ok(String::new())
        }
        "heal" => {
            cluster.heal();
            Ok(String::new())
        }
        "crash" => {
            cluster.crash(positional(command, 0)?);
            Ok(String::new())
        }
        "lose-tail" => lose_tail(cluster, command),
        "forge" => forge(cluster, command),
        "restart" => {
            cluster
                .restart(positional(command, 0)?)
                .map_err(|e| e.to_string())?;
            Ok(String::new())
        }
        "status" => {
            let mut out = String::new();
            for id in ids_or_all(cluster, command)? {
                let line = cluster
                    .raft(id)
                    .map_or(format!("{id}: down"), |r| format::status(&r.status()));
                let _ = writeln!(out, "{line}");
            }
            Ok(out)
        }
        "log" => {
            let id = positional(command, 0)?;
            let entries = cluster.log_entries(id);
            let commit = cluster.raft(id).map_or(0, |r| r.status().commit_index);
            Ok(format!(
                "{id}: commit={commit} {}",
                format::entries(&entries)
            ))
        }
        other => Err(format!("unknown command {other:?}")),
    }
}

/// Ticks every running node, one tick each per round, until some node starts
/// a (pre-)election; reports who and after how many rounds.
fn tick_until_election(cluster: &mut Cluster, max_rounds: u64) -> Outcome {
    let campaigning = |c: &Cluster, id| {
        c.raft(id)
            .is_some_and(|r| matches!(r.role(), Role::PreCandidate | Role::Candidate))
    };
    let before: BTreeSet<NodeId> = cluster
        .running()
        .into_iter()
        .filter(|&id| campaigning(cluster, id))
        .collect();
    for round in 1..=max_rounds {
        for id in cluster.running() {
            cluster.tick(id).map_err(|e| e.to_string())?;
        }
        let started: Vec<String> = cluster
            .running()
            .into_iter()
            .filter(|&id| campaigning(cluster, id) && !before.contains(&id))
            .map(|id| id.to_string())
            .collect();
        if !started.is_empty() {
            return Ok(format!(
                "after {round} ticks: node {} campaigns",
                started.join(", ")
            ));
        }
    }
    Ok(format!("no election after {max_rounds} ticks"))
}

/// `change LEADER add-learner|add-voter|remove ID` or
/// `change LEADER replace voters=1,2,3 [learners=4,5]`.
fn change(cluster: &mut Cluster, command: &Command) -> Outcome {
    let leader: NodeId = positional(command, 0)?;
    let verb: String = positional(command, 1)?;
    let ids = |key: &str| -> Result<BTreeSet<NodeId>, String> {
        match command.options.get(key) {
            None => Ok(BTreeSet::new()),
            Some(list) => list
                .split(',')
                .filter(|id| !id.is_empty())
                .map(parse)
                .collect(),
        }
    };
    let change = match verb.as_str() {
        "add-learner" => MembershipChange::AddLearner(positional(command, 2)?),
        "add-voter" => MembershipChange::AddVoter(positional(command, 2)?),
        "remove" => MembershipChange::Remove(positional(command, 2)?),
        "replace" => MembershipChange::Replace {
            voters: ids("voters")?,
            learners: ids("learners")?,
        },
        other => return Err(format!("unknown membership change {other:?}")),
    };
    match cluster.change_membership(leader, change) {
        Ok(p) => Ok(format!("proposed at {} in term {}", p.first_index, p.term)),
        Err(e) => Ok(format!("rejected: {e}")),
    }
}

fn set_log(cluster: &mut Cluster, command: &Command) -> Outcome {
    let id: NodeId = positional(command, 0)?;
    let terms: Vec<u64> = (1..command.args.len())
        .map(|i| positional(command, i))
        .collect::<Result<_, _>>()?;
    let entries: Vec<Entry> = terms
        .iter()
        .zip(1..)
        .map(|(&term, index)| Entry::command(index, term, Bytes::new()))
        .collect();
    let mut disk = MemoryLog::new();
    disk.apply(&Persist {
        id: 0,
        hard_state: Some(HardState {
            term: option(command, "term", terms.last().copied().unwrap_or(0))?,
            voted_for: None,
        }),
        entries,
    });
    cluster.crash(id);
    cluster.replace_disk(id, disk);
    cluster.restart(id).map_err(|e| e.to_string())?;
    Ok(format!("{id}: log has {} entries", terms.len()))
}

fn lose_tail(cluster: &mut Cluster, command: &Command) -> Outcome {
    let id: NodeId = positional(command, 0)?;
    let keep: Index = option(command, "keep", 0)?;
    let point = cluster.lose_synced_tail(id, keep);
    if !option(command, "repair", true)?
        && let Some(node) = cluster.nodes.get_mut(&id)
    {
        node.repair_point = None;
    }
    cluster.restart(id).map_err(|e| e.to_string())?;
    Ok(match point {
        Some(point) => format!("{id}: lost its log after {keep} (it had reached {point})"),
        None => format!("{id}: nothing to lose after {keep}"),
    })
}

fn forge(cluster: &mut Cluster, command: &Command) -> Outcome {
    let (from, to): (NodeId, NodeId) = (positional(command, 0)?, positional(command, 1)?);
    let kind: String = positional(command, 2)?;
    let term: Term = option(command, "term", 1)?;
    let request = VoteRequest {
        last_log_index: option(command, "last", 1)?,
        last_log_term: option(command, "last-term", 1)?,
        leadership_transfer: false,
    };
    let body = match kind.as_str() {
        "heartbeat" => MessageBody::Heartbeat(Heartbeat {
            commit: 0,
            round: 0,
        }),
        "vote" => MessageBody::Vote(request),
        "pre-vote" => MessageBody::PreVote(request),
        "timeout-now" => MessageBody::TimeoutNow,
        "read-index" => MessageBody::ReadIndex(ReadIndexRequest {
            request_ids: vec![1],
        }),
        "removed" => MessageBody::Removed(RemovalNotice {
            committed_index: option(command, "index", 1)?,
            committed_term: option(command, "at", 1)?,
            leader: None,
        }),
        other => return Err(format!("cannot forge {other:?}")),
    };
    let message = Message {
        from,
        to,
        term,
        body,
    };
    let line = format::message(&message);
    cluster.network.push(message);
    Ok(format!("queued {line}"))
}

fn deliver(cluster: &mut Cluster, command: &Command) -> Outcome {
    let from: Option<NodeId> = command.options.get("from").map(|v| parse(v)).transpose()?;
    let to: Option<NodeId> = command.options.get("to").map(|v| parse(v)).transpose()?;
    let kind = command.options.get("type").cloned();
    let drop = option(command, "drop", false)?;
    let select = |m: &Message| {
        from.is_none_or(|f| m.from == f)
            && to.is_none_or(|t| m.to == t)
            && kind.as_deref().is_none_or(|k| m.body.kind() == k)
    };
    let mut out = String::new();
    if drop {
        let before = cluster.network.len();
        cluster.network.retain(|m| !select(m));
        let _ = writeln!(out, "dropped {} messages", before - cluster.network.len());
        return Ok(out);
    }
    for delivery in cluster.deliver(select).map_err(|e| e.to_string())? {
        let _ = writeln!(out, "{}", delivery_line(&delivery));
    }
    Ok(out)
}

fn delivery_line(delivery: &Delivery) -> String {
    match delivery {
        Delivery::Delivered(m) => format::message(m),
        Delivery::Dropped(m) => format!("{} (dropped)", format::message(m)),
    }
}

fn stabilize(cluster: &mut Cluster, verbose: bool) -> Outcome {
    let rounds = cluster.stabilize(1000).map_err(|e| e.to_string())?;
    if !verbose {
        return Ok(format!("stable after {} rounds", rounds.len()));
    }
    let mut out = String::new();
    for round in rounds {
        for (id, actions) in &round.actions {
            out += &format::actions(*id, actions);
        }
        for delivery in round
            .deliveries
            .iter()
            .filter(|d| matches!(d, Delivery::Dropped(_)))
        {
            let _ = writeln!(out, "{}", delivery_line(delivery));
        }
    }
    Ok(out)
}

fn ids_or_all(cluster: &Cluster, command: &Command) -> Result<Vec<NodeId>, String> {
    if command.args.is_empty() {
        return Ok(cluster.nodes.keys().copied().collect());
    }
    (0..command.args.len())
        .map(|i| positional(command, i))
        .collect()
}

fn parse<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.parse().map_err(|_| format!("cannot parse {text:?}"))
}

fn positional<T: std::str::FromStr>(command: &Command, at: usize) -> Result<T, String> {
    let word = command
        .args
        .get(at)
        .ok_or_else(|| format!("{}: missing argument {}", command.name, at + 1))?;
    parse(word)
}

fn positional_or<T: std::str::FromStr>(
    command: &Command,
    at: usize,
    default: T,
) -> Result<T, String> {
    command.args.get(at).map_or(Ok(default), |w| parse(w))
}

fn option<T: std::str::FromStr>(command: &Command, key: &str, default: T) -> Result<T, String> {
    command.options.get(key).map_or(Ok(default), |v| parse(v))
}

fn parse_range(text: &str) -> Result<(u64, u64), String> {
    let (min, max) = text
        .split_once("..")
        .ok_or_else(|| format!("range {text:?} must look like 10..20"))?;
    Ok((parse(min)?, parse(max)?))
}
