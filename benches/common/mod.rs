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
