//! Compiles `proto/etcd/` (etcd's v3 API, served on the client port) with
//! protox, a protobuf compiler written in Rust, so no system `protoc` is
//! needed.

const PROTO_ROOT: &str = "proto/etcd";
const PROTOS: [&str; 5] = [
    "proto/etcd/etcdserverpb/rpc.proto",
    "proto/etcd/v3lockpb/v3lock.proto",
    "proto/etcd/v3electionpb/v3election.proto",
    "proto/etcd/mvccpb/kv.proto",
    "proto/etcd/authpb/auth.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(PROTOS, [PROTO_ROOT])?;
    tonic_prost_build::configure()
        // The client is for tests and for a follower forwarding to its leader.
        .build_client(true)
        .build_server(true)
        // `bytes` fields as `bytes::Bytes`, as the store holds them.
        .bytes(".")
        .compile_fds(descriptors)?;
    Ok(())
}
