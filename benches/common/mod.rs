//! Fixtures shared by the routing benches.

use std::sync::Arc;

use switchboard::routing::{Channel, InboundMessage, ValueFacts};

/// The name of skill number `i`.
pub(crate) fn skill_name(i: usize) -> String {
    format!("skill-{i}")
}

/// A first customer message on web chat needing skill `skill` at level 2, from a
/// customer worth `clv`.
pub(crate) fn message(n: u64, skill: usize, clv: f64) -> InboundMessage {
    InboundMessage {
        adapter: Arc::from("bench"),
        channel: Channel::Web,
        channel_conversation_id: format!("conv-{n}"),
        customer_id: format!("cust-{n}"),
        display_name: String::new(),
        value: ValueFacts {
            clv: Some(clv),
            ..ValueFacts::default()
        },
        text: "where is my order?".to_owned(),
        language: "en".to_owned(),
        client_message_id: None,
        queue: None,
        required_skills: vec![(skill_name(skill), 2)],
        boosts: Default::default(),
        identities: Vec::new(),
    }
}

/// Resident set size of this process, in bytes (`VmRSS` of `/proc/self/status`).
#[allow(
    dead_code,
    reason = "the memory benches use it, the timing benches do not"
)]
pub(crate) fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}
