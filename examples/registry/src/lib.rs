//! A service registry control plane on Ordo: the seed's `RouterStateMachine`
//! (services, sidecars, pipeline assignments) replicated by a Raft group
//! whose members talk over Ordo's gRPC transport and keep their log and
//! snapshots on disk, with a gRPC client API and a backup service.
//!
//! ```text
//!  clients ──gRPC──► Registry / BackupService (api port, any member)
//!                      │ writes: the leader proposes; a follower answers
//!                      │ UNAVAILABLE naming the leader (status.rs)
//!                      ▼
//!                    RaftNode ◄──gRPC transport (raft port)──► other members
//!                      │ WalLogStore + SnapshotStore in the data dir
//!                      ▼
//!                    RouterStateMachine: RegistryState::apply (the rules)
//!                      └─► changes ─► Watch streams
//! ```
//!
//! - [`model`]: the data and the rules (pure; read its docs for the rules).
//! - [`state_machine`]: the rules plugged into Ordo, snapshots, changes.
//! - [`service`], [`backup`]: the gRPC services; [`status`]: errors as statuses.
//! - [`node`]: one member, running; [`client`]: a client that finds the leader.
//! - [`check`]: what the tests check after a workload with leader kills.
//!
//! The binary (`cargo run -p ordo-registry -- demo`) runs a 3-member group
//! and says what to try.

pub mod backup;
pub mod check;
pub mod client;
mod convert;
pub mod model;
pub mod node;
pub mod service;
pub mod state_machine;
pub mod status;

/// The code generated from `proto/ordo/registry/v1/registry.proto`.
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod proto {
    tonic::include_proto!("ordo.registry.v1");
}

pub use client::Client;
pub use model::{Pipeline, RegistryState, RouterCommand, RuleError, Service, Sidecar};
pub use node::{Listeners, MemberAddresses, NodeConfig, NodeError, RegistryNode};
pub use state_machine::RouterStateMachine;
