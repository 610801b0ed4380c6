//! The HTTP client for an `ordo` cluster, and the command-line verbs built
//! on it (`ordo put`, `ordo get`, ..., `ordo status`, `ordo bench`).
//!
//! [`Client`] is the library API (the end-to-end tests use it too): one
//! typed method per route of the HTTP API ([`crate::api`]), over a list of
//! endpoints. It finds the leader by following the `307` redirects
//! followers answer writes with, re-sending the body, and remembers it; it
//! moves on to the next endpoint when one refuses connections or knows no
//! leader, backing off, until one overall deadline; and it reports every
//! failure as a [`ClientError`] typed by what the caller should do next.
//!
//! ```text
//!   put("k") ──► endpoint 1 (follower) ──307 Location: leader──► endpoint 2 (leader) ──► 200 {"revision": R}
//!                   │ refused / 503 no_leader
//!                   └──► back off, endpoint 2, endpoint 3, ... until the deadline
//! ```
//!
//! Files: [`Client`] and its routing loop in `routing.rs`, the typed calls
//! in `ops.rs`, the transport in `http.rs`, endpoints and key encoding in
//! `endpoint.rs`; the verbs in `cli.rs`, `status.rs`, `bench.rs` and
//! `bench_report.rs`, their formatting in `output.rs`; `ordo bench
//! failover`, which starts its own cluster, in `failover/`.
//!
//! Left out on purpose: TLS (endpoints are `http://` only), HTTP/2, and
//! retrying writes whose outcome is unknown (the caller decides).

mod bench;
mod bench_fill;
mod bench_report;
mod cli;
mod config;
mod duration;
mod endpoint;
mod error;
mod failover;
mod http;
mod ops;
mod outcome;
mod output;
mod routing;
mod status;

pub use bench::{BenchConfig, MAX_BENCH_CLIENTS, MAX_BENCH_VALUE_BYTES, run as run_bench};
pub use bench_fill::{FillConfig, FillSummary, fill};
pub use bench_report::{BenchSummary, LatencySummary, format_micros, render_summary};
pub use cli::{
    BenchArgs, BenchCommand, CasArgs, ClientCommand, ConnectionArgs, EndpointList, GetArgs,
    KeyArgs, LeaderAction, LeaderArgs, ListArgs, MemberAction, MemberArgs, PutArgs,
    SnapshotSaveArgs, StatusArgs, run, snapshot_save,
};
pub use config::{
    ClientConfig, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_REDIRECT_HOPS, DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_TIMEOUT,
};
pub use duration::parse_duration;
pub use endpoint::{DEFAULT_ENDPOINTS, Endpoint, encode_key, parse_endpoints};
pub use error::ClientError;
pub use failover::{
    FailoverArgs, FaultMode, MAX_FAILOVER_TRIALS, ModeReport, Percentiles, TrialTimes,
    render as render_failover,
};
pub use outcome::{Consistency, ListEntry, ListPage, PutOutcome, Versioned};
pub use routing::Client;
pub use status::{ClusterStatus, StatusRow, gather as gather_status, render as render_status};
