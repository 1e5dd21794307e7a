//! The gRPC edge: generated contract types, conversion and validation of client input,
//! the one error-to-status mapping, tenancy, and the thin services that call the core.

pub mod access;
pub mod admin;
pub mod agent_kpis;
pub mod bots;
pub mod convert;
pub mod desk;
pub mod durable_stream;
pub mod gateway;
pub mod outbound;
pub mod profiles;
mod session;
pub mod status;
pub mod tenant;

/// Types and stubs generated from `proto/switchboard/v1/*.proto`.
pub mod pb {
    #![allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
    tonic::include_proto!("switchboard.v1");
}

/// Load-test echo service from `proto/loadtest/v1/echo.proto`, for `examples/loadgen.rs`.
#[doc(hidden)]
pub mod loadtest_pb {
    #![allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
    tonic::include_proto!("switchboard.loadtest.v1");
}

/// Encoded descriptors of the `switchboard.v1` contract, served by reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/switchboard_descriptor.bin"));
