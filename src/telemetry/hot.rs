//! Handles for the metrics recorded on every message, registered once when the
//! recorder is installed: a `counter!`/`histogram!` macro hashes its name and labels
//! and looks them up in the registry on every call, which the relay path cannot
//! afford several times per message. Registering them up front also exports each of
//! these series at zero from start-up.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Counter, Histogram, counter, histogram};

use super::metrics::{LOCK_HOLD, LOCK_WAIT, MESSAGES_RELAYED, ROUTING_DECISION};

/// Tenant operations with their own series; anything else is counted as `other`.
pub const OPERATIONS: &[&str] = &[
    "customer_message",
    "abandon",
    "sign_in",
    "sign_out",
    "set_presence",
    "accept",
    "decline",
    "reply",
    "transfer",
    "close",
    "bot_answer",
    "bot_connect",
    "bot_lost",
    "tick",
    "shutdown",
    "restarted",
    "adapter_connect",
    "admin",
    "snapshot",
    "other",
];

/// The series of one tenant operation.
#[derive(Debug)]
pub struct OperationMetrics {
    decision: Histogram,
    lock_wait: Histogram,
    lock_hold: Histogram,
}

impl OperationMetrics {
    /// Records how long the router took.
    pub fn decision(&self, took: Duration) {
        self.decision.record(took.as_secs_f64());
    }

    /// Records how long the operation waited for the tenant lock.
    pub fn lock_wait(&self, waited: Duration) {
        self.lock_wait.record(waited.as_secs_f64());
    }

    /// Records how long the operation held the tenant lock.
    pub fn lock_hold(&self, held: Duration) {
        self.lock_hold.record(held.as_secs_f64());
    }
}

/// Every handle kept.
#[derive(Debug)]
struct HotMetrics {
    relayed_to_agent: Counter,
    relayed_to_customer: Counter,
    operations: Vec<(&'static str, OperationMetrics)>,
}

static HOT: OnceLock<HotMetrics> = OnceLock::new();

/// Registers the handles with the installed recorder; later calls do nothing.
pub(super) fn register() {
    HOT.get_or_init(|| HotMetrics {
        relayed_to_agent: counter!(MESSAGES_RELAYED, "direction" => "to_agent"),
        relayed_to_customer: counter!(MESSAGES_RELAYED, "direction" => "to_customer"),
        operations: OPERATIONS
            .iter()
            .map(|&op| {
                let metrics = OperationMetrics {
                    decision: histogram!(ROUTING_DECISION, "operation" => op),
                    lock_wait: histogram!(LOCK_WAIT, "operation" => op),
                    lock_hold: histogram!(LOCK_HOLD, "operation" => op),
                };
                (op, metrics)
            })
            .collect(),
    });
}

/// The series of `operation` (`other` when it has none of its own); `None` before
/// the recorder is installed (unit tests), when nothing is recorded.
pub fn operation(operation: &str) -> Option<&'static OperationMetrics> {
    let hot = HOT.get()?;
    hot.operations
        .iter()
        .find(|(name, _)| *name == operation)
        .or_else(|| hot.operations.last())
        .map(|(_, metrics)| metrics)
}

/// Counts a relayed message towards an agent (`to_customer` false) or a customer.
pub fn relayed(to_customer: bool) {
    if let Some(hot) = HOT.get() {
        if to_customer {
            hot.relayed_to_customer.increment(1);
        } else {
            hot.relayed_to_agent.increment(1);
        }
    }
}
