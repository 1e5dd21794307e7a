//! Compiles the `switchboard.v1` contract with a pure-Rust protobuf compiler (protox), so
//! the build needs no `protoc` on the machine, and keeps the descriptor set for server
//! reflection. Separately compiles the load-test echo service
//! (`switchboard.loadtest.v1`, used by `examples/loadgen.rs`), which is neither served
//! by the binary nor part of the reflection descriptor set.

use std::path::PathBuf;

use prost::Message;

/// The load generator's bare-transport reference service.
const LOADTEST_PROTOS: &[&str] = &["proto/loadtest/v1/echo.proto"];

const PROTOS: &[&str] = &[
    "proto/switchboard/v1/common.proto",
    "proto/switchboard/v1/gateway.proto",
    "proto/switchboard/v1/desk.proto",
    "proto/switchboard/v1/bots.proto",
    "proto/switchboard/v1/admin.proto",
    "proto/switchboard/v1/outbound.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(PROTOS, ["proto"])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("switchboard_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // An offer is five times the size of every other desk frame, and each frame
        // is moved through the stream's queue whole: boxing it keeps the frames that
        // relay customer messages small.
        .boxed(".switchboard.v1.DeskFrame.frame.offer")
        .compile_fds(descriptors)?;

    let loadtest = protox::compile(LOADTEST_PROTOS, ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(loadtest)?;
    Ok(())
}
