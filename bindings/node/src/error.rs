//! The binding's errors, and how they cross into JavaScript.
//!
//! A rejected promise carries a `napi::Error` whose message is a JSON object
//! (`{"kind": ..., "message": ..., ...}`); `index.js` turns it into the
//! matching JavaScript class (`NotLeaderError` and the others). That keeps
//! the fields (a leader's id and address) typed on both sides of the line.

use ordo::RaftError;
use serde::Serialize;

/// What went wrong in a call from JavaScript.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BindingError {
    /// The options given to `new RaftNode(...)` are unusable.
    #[error("invalid options: {0}")]
    InvalidOptions(String),
    /// Two node names map to the same numeric id.
    #[error("node names {first:?} and {second:?} map to the same id; rename one")]
    NameCollision { first: String, second: String },
    /// The call needs a started node.
    #[error("the node is not started")]
    NotStarted,
    /// `start()` was called twice.
    #[error("the node is already started")]
    AlreadyStarted,
    /// A message handed to `handleMessage` is not one of Ordo's messages.
    #[error("invalid message: {0}")]
    InvalidMessage(String),
    /// The runtime refused or failed the call.
    #[error(transparent)]
    Raft(#[from] RaftError),
}

/// The JSON shape of an error on its way to `index.js`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorPayload {
    kind: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    leader_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    leader_address: Option<String>,
}

impl BindingError {
    /// Converts into a JavaScript error, naming leaders by `name_of`.
    /// `known_leader` names the leader of a redirect that carries none: Ordo
    /// names a leader only with a client address, and a cluster on a JS
    /// transport may have none, yet the caller can still go by its id.
    pub(crate) fn into_napi(
        self,
        name_of: impl Fn(u64) -> String,
        known_leader: Option<u64>,
    ) -> napi::Error {
        let message = self.to_string();
        let payload = match self {
            BindingError::Raft(RaftError::NotLeader { leader }) => ErrorPayload {
                kind: "NotLeader",
                message,
                leader_id: leader
                    .as_ref()
                    .map(|(id, _)| *id)
                    .or(known_leader)
                    .map(name_of),
                leader_address: leader.map(|(_, address)| address),
            },
            other => ErrorPayload {
                kind: other.kind(),
                message,
                leader_id: None,
                leader_address: None,
            },
        };
        let reason = serde_json::to_string(&payload)
            .unwrap_or_else(|_| r#"{"kind":"Internal","message":"unencodable error"}"#.into());
        napi::Error::from_reason(reason)
    }

    /// The name `index.js` maps to a class; the caller's next move.
    fn kind(&self) -> &'static str {
        match self {
            BindingError::InvalidOptions(_) | BindingError::NameCollision { .. } => "Config",
            BindingError::NotStarted | BindingError::AlreadyStarted => "State",
            BindingError::InvalidMessage(_) => "InvalidMessage",
            BindingError::Raft(error) => raft_kind(error),
        }
    }
}

fn raft_kind(error: &RaftError) -> &'static str {
    match error {
        RaftError::NotLeader { .. } => "NotLeader",
        RaftError::Busy { .. } => "Busy",
        RaftError::Timeout => "Timeout",
        RaftError::ProposalDropped | RaftError::LeadershipChanged => "ProposalDropped",
        RaftError::OutcomeUnknown => "OutcomeUnknown",
        RaftError::ShuttingDown | RaftError::NotStarted | RaftError::AlreadyStarted => "State",
        RaftError::Config(_) => "Config",
        _ => "Raft",
    }
}
