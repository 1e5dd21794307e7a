//! Telemetry: Prometheus metrics fed by routing events, and tracing setup.

pub mod hot;
pub mod logging;
pub mod metrics;
