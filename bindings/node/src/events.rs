//! Ordo's events, renamed to the seed's and sent to the JS `EventEmitter`.
//!
//! | Ordo                                | seed event      | payload                               |
//! |-------------------------------------|-----------------|---------------------------------------|
//! | `RoleChanged`                       | `stateChange`   | `{previousState, newState, term}`     |
//! | `LeaderElected`                     | `leaderElected` | `{leaderId, term}`                    |
//! | `EntriesAppended`                   | `logAppended`   | `{index}` (the last appended)         |
//! | `EntriesCommitted`                  | `logCommitted`  | `{index}` (the commit index)          |
//! | `EntriesApplied`                    | `logApplied`    | `{index}` (the last applied)          |
//! | `Error`, or events lost to lagging  | `error`         | `{kind, message}`                     |
//!
//! The seed's states are `follower`, `candidate` and `leader`; Ordo's
//! pre-candidate (pre-vote) counts as a candidate, and a change between the
//! two is not reported. Events keep Ordo's order: one forwarding task reads
//! the node's stream and queues each event on the JS thread in turn.

use napi::Status;
use napi::bindgen_prelude::FnArgs;
use napi::threadsafe_function::{
    ThreadsafeFunction, ThreadsafeFunctionCallMode, UnknownReturnValue,
};
use ordo::{Event, EventStream, EventStreamError};
use ordo_core::Role;
use serde_json::{Value, json};

use crate::node_names::NodeNames;

/// `onEvent(name: string, payloadJson: string)` on the JS thread.
pub(crate) type EventFn = ThreadsafeFunction<
    FnArgs<(String, String)>,
    UnknownReturnValue,
    FnArgs<(String, String)>,
    Status,
    false,
>;

/// Forwards every event of `stream` to `on_event` until the node stops.
pub(crate) async fn forward_events(mut stream: EventStream, on_event: EventFn, names: NodeNames) {
    // Events lost so far (Ordo's stream lagged, or the JS queue was full),
    // not yet reported.
    let mut lost: u64 = 0;
    loop {
        let event = match stream.recv().await {
            Ok(event) => event,
            Err(EventStreamError::Lagged(skipped)) => {
                lost += skipped;
                continue;
            }
            Err(EventStreamError::Closed) => return,
        };
        if lost > 0 && queue(&on_event, "error", &lagged(lost)) {
            lost = 0;
        }
        if let Some((name, payload)) = seed_event(&event, &names)
            && !queue(&on_event, name, &payload)
        {
            lost += 1;
        }
    }
}

/// Queues one event for the JS thread; false if its queue is full.
fn queue(on_event: &EventFn, name: &str, payload: &Value) -> bool {
    let status = on_event.call(
        FnArgs::from((name.to_owned(), payload.to_string())),
        ThreadsafeFunctionCallMode::NonBlocking,
    );
    status != Status::QueueFull
}

fn lagged(lost: u64) -> Value {
    json!({ "kind": "Lagged", "message": format!("{lost} events were dropped: the JS thread fell behind") })
}

/// The seed's name and payload for `event`; `None` for events the seed lacks.
fn seed_event(event: &Event, names: &NodeNames) -> Option<(&'static str, Value)> {
    Some(match event {
        Event::RoleChanged {
            previous,
            current,
            term,
        } => {
            let (previous, current) = (state_name(*previous), state_name(*current));
            if previous == current {
                return None;
            }
            (
                "stateChange",
                json!({ "previousState": previous, "newState": current, "term": term }),
            )
        }
        Event::LeaderElected { leader, term } => (
            "leaderElected",
            json!({ "leaderId": names.name_of(*leader), "term": term }),
        ),
        Event::EntriesAppended { last_index } => ("logAppended", json!({ "index": last_index })),
        Event::EntriesCommitted { commit_index } => {
            ("logCommitted", json!({ "index": commit_index }))
        }
        Event::EntriesApplied { applied_index } => {
            ("logApplied", json!({ "index": applied_index }))
        }
        Event::MemberInfoChanged { members } => {
            names.learn_members(members);
            return None;
        }
        Event::Error { error } => (
            "error",
            json!({ "kind": "Raft", "message": error.to_string() }),
        ),
        _ => return None,
    })
}

/// The seed's `NodeState` for an Ordo role.
fn state_name(role: Role) -> &'static str {
    match role {
        Role::Follower => "follower",
        Role::PreCandidate | Role::Candidate => "candidate",
        Role::Leader => "leader",
    }
}
