//! `ordo`: a replicated key-value server and its command-line client, built
//! on the Ordo Raft library.
//!
//! - [`store`]: the replicated state — keys, values and revisions — as an
//!   [`ordo::StateMachine`], with its snapshot (and backup) format.
//! - [`server`]: one node: a [`ordo::RaftNode`] over a durable log, TCP
//!   between nodes, and the HTTP API for clients (`ordo serve`, `ordo dev`).
//! - [`client`]: the HTTP client and the command-line verbs that use it
//!   (`ordo put`, `ordo get`, ..., `ordo bench`).
//!
//! - [`auth`]: users, roles, permissions and tokens (replicated with the
//!   store, checked by the HTTP API when auth is enabled).
//! - [`tls`]: TLS 1.3 configurations from PEM files, for both ends.
//!
//! The HTTP API is described in the README; its wire types live in [`api`].

pub mod api;
pub mod auth;
pub mod client;
pub mod pki;
pub mod server;
pub mod store;
pub mod tls;
