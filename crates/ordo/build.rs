//! Compiles `proto/` for the gRPC transport (feature `grpc`) with protox, a
//! protobuf compiler written in Rust, so no system `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    #[cfg(feature = "grpc")]
    grpc::compile()?;
    Ok(())
}

#[cfg(feature = "grpc")]
mod grpc {
    const PROTO: &str = "proto/ordo/transport/v1/transport.proto";

    pub(super) fn compile() -> Result<(), Box<dyn std::error::Error>> {
        println!("cargo:rerun-if-changed={PROTO}");
        let descriptors = protox::compile([PROTO], ["proto"])?;
        tonic_prost_build::configure()
            .build_client(true)
            .build_server(true)
            // `bytes` fields as `bytes::Bytes`: no copy per message.
            .bytes(".")
            .compile_fds(descriptors)?;
        Ok(())
    }
}
