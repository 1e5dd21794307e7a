//! The console bridge's metrics: open sockets, bridged calls and refusals, each with a
//! closed label set exported at zero from start-up (so `rate()` tells zero from absent).

use metrics::{counter, describe_counter, describe_gauge, gauge};

/// Gauge: console WebSocket bridges open now.
pub const SOCKETS: &str = "switchboard_console_sockets";
/// Counter: calls the console bridge passed to the gRPC services.
pub const CALLS: &str = "switchboard_console_calls_total";
/// Counter: console sockets refused or ended by a bridge limit, by `reason`.
pub const REFUSED: &str = "switchboard_console_refusals_total";

/// Why the bridge refused a socket or ended it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Every console socket slot was taken.
    Sockets,
    /// A message over the size limit.
    MessageSize,
    /// A WebSocket opened by a page of another origin.
    Origin,
}

impl Refusal {
    /// Every refusal, for zero-export.
    pub const ALL: [Refusal; 3] = [Refusal::Sockets, Refusal::MessageSize, Refusal::Origin];

    /// The `reason` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Sockets => "sockets",
            Refusal::MessageSize => "message_size",
            Refusal::Origin => "origin",
        }
    }
}

/// Describes the console metrics and exports each at zero; call after the recorder is
/// installed (`telemetry::metrics::install`).
pub fn register() {
    describe_gauge!(SOCKETS, "Console WebSocket bridges open now.");
    describe_counter!(
        CALLS,
        "Calls the console bridge passed to the gRPC services."
    );
    describe_counter!(
        REFUSED,
        "Console sockets refused or ended by a bridge limit, by reason."
    );
    gauge!(SOCKETS).set(0.0);
    counter!(CALLS).absolute(0);
    for refusal in Refusal::ALL {
        counter!(REFUSED, "reason" => refusal.as_str()).absolute(0);
    }
}

/// Counts a refusal.
pub fn record_refused(refusal: Refusal) {
    counter!(REFUSED, "reason" => refusal.as_str()).increment(1);
}

/// Counts a call passed to the services.
pub fn record_call() {
    counter!(CALLS).increment(1);
}

/// Sets the open socket gauge.
pub fn record_sockets(open: usize) {
    gauge!(SOCKETS).set(open as f64);
}
