//! Compiles `weft/v1/*.proto` with protox (a protobuf compiler in Rust, so
//! building Weft needs no system `protoc`) and generates prost messages and
//! tonic services from the descriptor set. The set is also written to
//! `OUT_DIR` for server reflection.

use std::path::PathBuf;

use prost::Message;

const PROTOS: &[&str] = &[
    "weft/v1/resources.proto",
    "weft/v1/pipeline.proto",
    "weft/v1/operator_service.proto",
    "weft/v1/network_service.proto",
    "weft/v1/fabric_service.proto",
    "weft/v1/agent_service.proto",
    "weft/v1/audit_service.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let fds = protox::compile(PROTOS, ["."])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("weft_v1_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)?;
    Ok(())
}
