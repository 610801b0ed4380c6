//! Compiles `proto/` (the registry's client API) with protox, a protobuf
//! compiler written in Rust, so no system `protoc` is needed.

const PROTO: &str = "proto/ordo/registry/v1/registry.proto";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO}");
    let descriptors = protox::compile([PROTO], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // `map` fields as `BTreeMap`: the model keeps everything ordered.
        .btree_map(".")
        .compile_fds(descriptors)?;
    Ok(())
}
