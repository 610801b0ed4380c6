//! `POST /v1/compact {"revision": R}`: forget the history below `R` (the
//! automatic kind is `server/auto_compaction.rs`). Through the log, so
//! every node compacts at the same point; never refused by the quota (it
//! is how space comes back).

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{OriginalUri, State};

use crate::api::{CompactRequest, CompactResponse};
use crate::server::http::kv::{path_and_query, propose, unexpected};
use crate::server::http::refusal;
use crate::server::http::txn::json_body;
use crate::server::http::{ApiError, SharedState};
use crate::server::metrics::ProposalOutcome;
use crate::store::{KvCommand, KvResponse};

pub(super) async fn compact(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<CompactResponse>, ApiError> {
    let CompactRequest { revision } = json_body(body)?;
    let command = KvCommand::Compact { revision };
    match propose(&state, command, path_and_query(&uri)).await? {
        KvResponse::Compacted { revision } => {
            state.metrics.proposal(ProposalOutcome::Applied);
            Ok(Json(CompactResponse {
                compact_revision: revision,
                revision: state.store.counters().cluster_revision.max(revision),
            }))
        }
        KvResponse::Refused(error) => {
            state.metrics.proposal(ProposalOutcome::Applied);
            Err(refusal::from_store(error))
        }
        _ => Err(unexpected("a compaction")),
    }
}
