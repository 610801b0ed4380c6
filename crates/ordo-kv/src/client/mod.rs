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
//! in `ops.rs` (multi-version keys, transactions and compaction in
//! `kv_ops.rs` and `kv_types.rs`, the [`Txn`] builder in `txn.rs`, leases
//! in `lease_ops.rs` and the [`LeaseKeeper`] task in `keepalive.rs`), the
//! watch stream in `watch.rs` over the SSE parser in `sse.rs`, the
//! [`recipes`] (mutex, election) built only on those; users, roles and the
//! auth switch in `auth_ops.rs` and the token a client with
//! [`Credentials`] sends (fetched and refreshed) in `auth_token.rs`; the transport in
//! `http.rs`, endpoints and key encoding in `endpoint.rs`; the verbs in `cli.rs`, `status.rs`, `bench.rs` and
//! `bench_report.rs`, their formatting in `output.rs`; `ordo bench
//! failover`, which starts its own cluster, in `failover/`.
//!
//! Endpoints are `http://` or `https://` (TLS 1.3, verified against
//! `--cacert`, with a client certificate from `--cert`/`--key` for servers
//! that require one: `tls.rs`); a redirect never leaves TLS.
//!
//! Left out on purpose: HTTP/2, and
//! retrying writes whose outcome is unknown (the caller decides).

mod auth_ops;
mod auth_token;
mod bench;
mod bench_etcd;
mod bench_fill;
mod bench_report;
mod bench_watch;
mod cli;
mod cli_auth;
mod cli_coordination;
mod config;
mod duration;
mod endpoint;
mod error;
mod failover;
mod http;
mod keepalive;
mod kv_ops;
mod kv_types;
mod lease_ops;
mod lock_release;
mod ops;
mod outcome;
mod output;
pub mod recipes;
mod routing;
mod sse;
mod status;
mod tls;
mod txn;
mod watch;

pub use bench::{BenchConfig, MAX_BENCH_CLIENTS, MAX_BENCH_VALUE_BYTES, run as run_bench};
pub use bench_etcd::{
    BenchProtocol, DEFAULT_CONNECTIONS_PER_ENDPOINT, MAX_CONNECTIONS_PER_ENDPOINT,
    PAUSE_AFTER_FAILURE, run as run_etcd_bench,
};
pub use bench_fill::{FillConfig, FillSummary, fill};
pub use bench_report::{BenchSummary, LatencySummary, format_micros, render_summary};
pub use bench_watch::WatchBenchArgs;
pub use cli::{
    AuthAction, AuthArgs, BenchArgs, BenchCommand, CasArgs, ClientCommand, CompactArgs,
    ConnectionArgs, DelArgs, ElectArgs, EndpointList, GetArgs, KeyArgs, LeaderAction, LeaderArgs,
    LeaseAction, LeaseArgs, ListArgs, LockArgs, MemberAction, MemberArgs, PutArgs, RoleAction,
    RoleArgs, SnapshotSaveArgs, StatusArgs, TxnArgs, UserAction, UserArgs, WatchArgs, run,
    snapshot_save,
};
pub use config::{
    ClientConfig, Credentials, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_REDIRECT_HOPS,
    DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT,
};
pub use duration::parse_duration;
pub use endpoint::{DEFAULT_ENDPOINTS, Endpoint, encode_key, parse_endpoints};
pub use error::ClientError;
pub use failover::{
    FailoverArgs, FaultMode, MAX_FAILOVER_TRIALS, ModeReport, Percentiles, TrialTimes,
    render as render_failover,
};
pub use keepalive::{LeaseKeeper, LeaseLoss, LossReason, MIN_KEEPALIVE_PERIOD};
pub use kv_ops::{CREATE_REVISION_HEADER, LEASE_HEADER, MAX_LIST_PAGES, VERSION_HEADER};
pub use kv_types::{
    DeleteOutcome, GetOptions, KeyPage, KeyRead, KeyValue, ListOptions, PutOptions,
};
pub use outcome::{Consistency, ListEntry, ListPage, PutOutcome, Versioned};
pub use routing::Client;
pub use status::{ClusterStatus, StatusRow, gather as gather_status, render as render_status};
pub use tls::ClientTlsFiles;
pub use txn::{Cmp, Op, Txn, one_key, prefix_keys};
pub use watch::{WATCH_BUFFER_ITEMS, WatchItem, WatchKeys, WatchOptions, WatchStream};
