//! Conversations that ended lately, as they stood at the end.
//!
//! The admin API shows an ended conversation for a while (its outcome, its
//! satisfaction answer); the router keeps only open ones. A bounded ring keeps the
//! last few thousand per tenant, oldest dropped first.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use super::board::ConversationSnapshot;
use super::model::ConversationId;

/// The most recently ended conversations, at most `limit`.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RecentlyEnded {
    by_id: FxHashMap<ConversationId, ConversationSnapshot>,
    /// Ids oldest first.
    order: VecDeque<ConversationId>,
    limit: usize,
}

impl RecentlyEnded {
    /// An empty ring keeping at most `limit` conversations.
    pub fn new(limit: usize) -> RecentlyEnded {
        RecentlyEnded {
            by_id: FxHashMap::default(),
            order: VecDeque::new(),
            limit,
        }
    }

    /// Keeps at most `limit` from now on, dropping the oldest beyond it.
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
        self.trim();
    }

    /// Records a conversation as it ended; the oldest goes if the ring is full.
    pub fn push(&mut self, snapshot: ConversationSnapshot) {
        let id = snapshot.id;
        if self.by_id.insert(id, snapshot).is_none() {
            self.order.push_back(id);
        }
        self.trim();
    }

    /// An ended conversation, if still kept.
    pub fn get(&self, id: ConversationId) -> Option<&ConversationSnapshot> {
        self.by_id.get(&id)
    }

    /// An ended conversation, to record what came after the end (a survey answer).
    pub fn get_mut(&mut self, id: ConversationId) -> Option<&mut ConversationSnapshot> {
        self.by_id.get_mut(&id)
    }

    /// How many are kept.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    fn trim(&mut self) {
        while self.order.len() > self.limit {
            if let Some(old) = self.order.pop_front() {
                self.by_id.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::board::ConversationState;
    use crate::routing::model::{Channel, Customer};
    use crate::routing::priority::PriorityKey;
    use std::sync::Arc;

    fn ended(id: u64) -> ConversationSnapshot {
        ConversationSnapshot {
            id: ConversationId(id),
            channel: Channel::Web,
            channel_conversation_id: Arc::from("c"),
            customer: Customer {
                id: Arc::from("u"),
                display_name: Arc::from(""),
                clv: 0.0,
            },
            tier: 0,
            queue: 0,
            state: ConversationState::Closed,
            agent: None,
            required: Arc::from([]),
            key: PriorityKey {
                virtual_arrival: 0,
                arrival_seq: id,
            },
            waited_before_ms: 0,
            waiting_since: None,
            intent: None,
            handoff: None,
            satisfaction: None,
            recommend: None,
        }
    }

    #[test]
    fn keeps_the_newest_up_to_its_limit() {
        let mut ring = RecentlyEnded::new(2);
        for id in 1..=3 {
            ring.push(ended(id));
        }
        assert_eq!(ring.len(), 2);
        assert!(ring.get(ConversationId(1)).is_none());
        assert!(ring.get(ConversationId(3)).is_some());
        ring.set_limit(1);
        assert!(ring.get(ConversationId(2)).is_none());
        assert_eq!(ring.len(), 1);
    }
}
