//! Compact, stable text forms of the core's types, for transcripts and traces.
//!
//! Entries print as `index@term` followed by the payload (`noop` or the
//! command as text), e.g. `4@2:noop` or `5@2:"x"`.

use std::fmt::Write;

use ordo_core::{
    Actions, AppendResponse, Entry, EntryPayload, Event, Membership, Message, MessageBody, Status,
};

/// `4@2:noop` / `5@2:"x"`.
pub fn entry(entry: &Entry) -> String {
    match &entry.payload {
        EntryPayload::Noop => format!("{}@{}:noop", entry.index, entry.term),
        EntryPayload::Command(data) => format!(
            "{}@{}:{:?}",
            entry.index,
            entry.term,
            String::from_utf8_lossy(data)
        ),
        EntryPayload::Membership(config) => {
            format!("{}@{}:{}", entry.index, entry.term, membership(config))
        }
    }
}

/// `config{1,2,3}`, with `|old{..}` during a joint change and `+learners{..}`.
pub fn membership(config: &Membership) -> String {
    let ids = |set: &std::collections::BTreeSet<u64>| {
        set.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
    };
    let mut text = format!("config{{{}}}", ids(&config.voters));
    if config.is_joint() {
        text += &format!("|old{{{}}}", ids(&config.outgoing_voters));
    }
    if !config.learners.is_empty() {
        text += &format!("+learners{{{}}}", ids(&config.learners));
    }
    text
}

/// Entries, abbreviated to the first and last few when long.
pub fn entries(entries: &[Entry]) -> String {
    const SHOWN: usize = 4;
    let parts: Vec<String> = if entries.len() <= 2 * SHOWN {
        entries.iter().map(entry).collect()
    } else {
        let mut parts: Vec<String> = entries[..SHOWN].iter().map(entry).collect();
        parts.push(format!("...{} more...", entries.len() - 2 * SHOWN));
        parts.extend(entries[entries.len() - SHOWN..].iter().map(entry));
        parts
    };
    format!("[{}]", parts.join(" "))
}

/// `1->2 Vote term=2 last=3@1`.
pub fn message(message: &Message) -> String {
    let head = format!(
        "{}->{} {} term={}",
        message.from,
        message.to,
        message.body.kind(),
        message.term
    );
    let tail = match &message.body {
        MessageBody::PreVote(request) | MessageBody::Vote(request) => {
            let transfer = if request.leadership_transfer {
                " transfer"
            } else {
                ""
            };
            format!(
                " last={}@{}{transfer}",
                request.last_log_index, request.last_log_term
            )
        }
        MessageBody::PreVoteResponse(response) | MessageBody::VoteResponse(response) => {
            (if response.granted {
                " granted"
            } else {
                " rejected"
            })
            .to_string()
        }
        MessageBody::Append(append) => format!(
            " prev={}@{} commit={} entries={}",
            append.prev_log_index,
            append.prev_log_term,
            append.leader_commit,
            entries(&append.entries)
        ),
        MessageBody::AppendResponse(AppendResponse::Accepted { match_index }) => {
            format!(" accepted match={match_index}")
        }
        MessageBody::AppendResponse(AppendResponse::Rejected {
            rejected_index,
            hint_index,
            hint_term,
        }) => format!(" rejected at={rejected_index} hint={hint_index}@{hint_term}"),
        MessageBody::Heartbeat(heartbeat) => {
            format!(" commit={} round={}", heartbeat.commit, heartbeat.round)
        }
        MessageBody::HeartbeatResponse(response) => format!(" round={}", response.round),
        MessageBody::ReadIndex(request) => format!(" reads={:?}", request.request_ids),
        MessageBody::ReadIndexResponse(response) => match response.read_index {
            Some(index) => format!(" reads={:?} index={index}", response.request_ids),
            None => format!(" reads={:?} refused", response.request_ids),
        },
        MessageBody::TimeoutNow => String::new(),
        MessageBody::InstallSnapshot(chunk) => format!(
            " snapshot={}@{} offset={} bytes={}{}",
            chunk.meta.index,
            chunk.meta.term,
            chunk.offset,
            chunk.data.len(),
            if chunk.done { " done" } else { "" }
        ),
        MessageBody::InstallSnapshotResponse(response) => format!(
            " snapshot={} next={}{}",
            response.snapshot_index,
            response.next_offset,
            if response.installed { " installed" } else { "" }
        ),
        MessageBody::Removed(notice) => format!(
            " committed={}@{} leader={}",
            notice.committed_index,
            notice.committed_term,
            notice.leader.map_or("none".to_string(), |l| l.to_string())
        ),
    };
    head + &tail
}

/// `election started for term 3 (timeout, pre-vote)` and the like.
pub fn event(event: &Event) -> String {
    match *event {
        Event::ElectionStarted {
            term,
            reason,
            pre_vote,
        } => {
            let round = if pre_vote { ", pre-vote" } else { "" };
            format!("election started for term {term} ({reason:?}{round})")
        }
        Event::PreVoteFinished { term, granted } => {
            let outcome = if granted { "granted" } else { "rejected" };
            format!("pre-vote for term {term} {outcome}")
        }
        Event::BecameLeader { term, last_index } => {
            format!("became leader of term {term} (last index {last_index})")
        }
        Event::TermChanged { from, to } => format!("term {from} -> {to}"),
        Event::SteppedDown { term, reason } => {
            format!("stepped down as leader of term {term} ({reason:?})")
        }
        Event::FollowerLogWentBack {
            follower,
            acknowledged,
            log_ends,
        } => format!(
            "follower {follower}'s log went back: it acknowledged {acknowledged}, its log ends at {log_ends}"
        ),
        Event::MessagesRefusedForTerm {
            count,
            last_from,
            last_term,
        } => format!(
            "refused {count} messages for their term (last from {last_from}, term {last_term})"
        ),
        Event::SnapshotRefusedForSize {
            from,
            snapshot_index,
            data_bytes,
            max_bytes,
        } => format!(
            "refused snapshot at {snapshot_index} from {from} for its size ({data_bytes} bytes, at most {max_bytes})"
        ),
        Event::RepairFinished { through } => {
            format!("repair finished (log durable through {through})")
        }
        Event::Removed { config_index } => {
            format!("removed from the group (configuration at {config_index} is committed)")
        }
    }
}

/// One line per action, each prefixed with the node id.
pub fn actions(id: u64, actions: &Actions) -> String {
    let mut out = String::new();
    for happened in &actions.events {
        let _ = writeln!(out, "{id}: event: {}", event(happened));
    }
    if let Some(soft) = &actions.soft_state {
        let leader = soft.leader.map_or("none".to_string(), |l| l.to_string());
        let _ = writeln!(
            out,
            "{id}: became {:?} term={} leader={leader}",
            soft.role, soft.term
        );
    }
    if let Some(config) = &actions.membership {
        let _ = writeln!(out, "{id}: membership now {}", membership(config));
    }
    if let Some(index) = actions.truncated_from {
        let _ = writeln!(out, "{id}: truncated log from {index}");
    }
    if let Some(persist) = &actions.persist {
        let _ = write!(out, "{id}: persist #{}", persist.id);
        if let Some(hard_state) = persist.hard_state {
            let vote = hard_state
                .voted_for
                .map_or("none".to_string(), |v| v.to_string());
            let _ = write!(out, " term={} vote={vote}", hard_state.term);
        }
        if !persist.entries.is_empty() {
            let _ = write!(out, " entries={}", entries(&persist.entries));
        }
        out.push('\n');
    }
    for sent in &actions.messages {
        let _ = writeln!(out, "{id}: send {}", message(sent));
    }
    if !actions.apply.is_empty() {
        let _ = writeln!(out, "{id}: apply {}", entries(&actions.apply));
    }
    if let Some(index) = actions.build_snapshot {
        let _ = writeln!(out, "{id}: build snapshot (applied {index})");
    }
    if let Some(index) = actions.compact_log_through {
        let _ = writeln!(out, "{id}: compact log through {index}");
    }
    for read in &actions.snapshot_reads {
        let _ = writeln!(
            out,
            "{id}: read snapshot {} for {} at {} (up to {} bytes)",
            read.snapshot_index, read.to, read.offset, read.max_bytes
        );
    }
    for write in &actions.snapshot_writes {
        let done = if write.done { " (last)" } else { "" };
        let _ = writeln!(
            out,
            "{id}: write snapshot {} chunk at {}, {} bytes{done}",
            write.meta.index,
            write.offset,
            write.data.len()
        );
    }
    if let Some(meta) = &actions.install_snapshot {
        let _ = writeln!(
            out,
            "{id}: install snapshot {}@{} {}",
            meta.index,
            meta.term,
            membership(&meta.membership)
        );
    }
    for read in &actions.reads {
        let _ = writeln!(
            out,
            "{id}: read {} ready at index {}",
            read.request_id, read.read_index
        );
    }
    if !actions.failed_reads.is_empty() {
        let _ = writeln!(out, "{id}: reads failed {:?}", actions.failed_reads);
    }
    out
}

/// `1: Leader term=2 leader=1 vote=1 last=5 durable=5 commit=5 applied=5`.
pub fn status(status: &Status) -> String {
    let name = |id: Option<u64>| id.map_or("none".to_string(), |v| v.to_string());
    let mut line = format!(
        "{}: {:?} term={} leader={} vote={} last={} durable={} commit={} applied={}",
        status.id,
        status.role,
        status.term,
        name(status.leader),
        name(status.voted_for),
        status.last_index,
        status.durable_index,
        status.commit_index,
        status.applied_index
    );
    if status.held_messages > 0 {
        let _ = write!(line, " held={}", status.held_messages);
    }
    if let Some(point) = status.repair_point {
        let _ = write!(line, " repair-point={point}");
    }
    if status.removed {
        line.push_str(" removed");
    }
    if status.refused_term_messages > 0 {
        let _ = write!(line, " refused-term={}", status.refused_term_messages);
    }
    if let Some(target) = status.transferring_to {
        let _ = write!(line, " transferring-to={target}");
    }
    if status.pending_reads > 0 {
        let _ = write!(line, " pending-reads={}", status.pending_reads);
    }
    line
}
