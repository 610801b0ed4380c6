//! The Rust types and gRPC stubs generated from `proto/etcd/` (etcd's v3
//! API; `build.rs` compiles it). Public so that tests and tools can be
//! etcd clients of `ordo` with the same definitions.

#![allow(
    missing_docs,
    clippy::all,
    clippy::pedantic,
    clippy::nursery,
    unreachable_pub,
    rustdoc::all
)]

/// `mvccpb`: key-values and watch events.
pub mod mvccpb {
    tonic::include_proto!("mvccpb");
}

/// `authpb`: users, roles, permissions.
pub mod authpb {
    tonic::include_proto!("authpb");
}

/// `etcdserverpb`: the services and their messages.
pub mod etcdserverpb {
    tonic::include_proto!("etcdserverpb");
}

/// `v3lockpb`: server-side locks.
pub mod v3lockpb {
    tonic::include_proto!("v3lockpb");
}

/// `v3electionpb`: server-side elections.
pub mod v3electionpb {
    tonic::include_proto!("v3electionpb");
}
