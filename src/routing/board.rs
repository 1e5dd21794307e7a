//! The board: conversations as the event stream describes them.
//!
//! It is built from [`Event`]s alone, never from the router's insides, so it proves the
//! events are complete: a property test replays random workloads and checks the board
//! agrees with the router on every conversation, open and recently ended. It is what a
//! consumer of the event stream can know. The server itself does not keep one: the
//! admin API reads the router's own views, so a waiting conversation is held once.

use super::recently_ended::RecentlyEnded;
use super::surveys::Question;
use std::sync::Arc;

use indexset::BTreeSet;
use rustc_hash::FxHashMap;

use super::events::{Event, EventKind};
use super::model::{
    AgentId, Channel, ConversationId, Customer, HandoffReason, Millis, NamedSkills,
};
use super::priority::PriorityKey;

/// Where a conversation stands, as events tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ConversationState {
    /// Waiting for an agent.
    Queued,
    /// Offered to an agent.
    Offered,
    /// An agent handles it.
    Assigned,
    /// Quiet: the agent's capacity was released until the customer writes again.
    Parked,
    /// An agent closed it.
    Closed,
    /// The customer left.
    Abandoned,
    /// A bot serves it.
    WithBot,
    /// A bot served it to the end.
    BotFinished,
}

/// One conversation's routing state.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConversationSnapshot {
    /// The conversation.
    pub id: ConversationId,
    /// The channel.
    pub channel: Channel,
    /// The channel's conversation id.
    pub channel_conversation_id: Arc<str>,
    /// The customer.
    pub customer: Customer,
    /// Value tier index.
    pub tier: usize,
    /// Queue index.
    pub queue: usize,
    /// State.
    pub state: ConversationState,
    /// Agent holding it, offered or assigned.
    pub agent: Option<AgentId>,
    /// Required skills with levels.
    pub required: NamedSkills,
    /// Serving-order key.
    pub key: PriorityKey,
    /// Waiting banked before the current wait, in milliseconds.
    pub waited_before_ms: u64,
    /// Start of the current wait, while waiting.
    pub waiting_since: Option<Millis>,
    /// Intent a bot detected, if any.
    pub intent: Option<Arc<str>>,
    /// Why a bot handed it over, if one did.
    pub handoff: Option<HandoffReason>,
    /// The customer's satisfaction answer after the close, on the survey's scale.
    pub satisfaction: Option<u8>,
    /// Their answer to "would you recommend us", 0-10.
    pub recommend: Option<u8>,
}

impl ConversationSnapshot {
    /// Milliseconds waited for an agent in all, as of `now`.
    pub fn waited_ms(&self, now: Millis) -> u64 {
        self.waited_before_ms + self.waiting_since.map_or(0, |s| now.saturating_sub(s))
    }
}

/// Entries per node of the waiting tree (see `waiting::NODE_SIZE`).
const WAITING_NODE_SIZE: usize = 128;

/// Every open conversation of a tenant and the most recently ended ones.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Board {
    /// Open conversations by id.
    conversations: FxHashMap<ConversationId, ConversationSnapshot>,
    /// Queued conversations in serving order; an order-statistic tree with small
    /// nodes, so a position is a logarithmic rank and an entry costs about its 24
    /// bytes.
    waiting: BTreeSet<(PriorityKey, ConversationId)>,
    /// Ended conversations as they ended, the newest few.
    ended: RecentlyEnded,
    /// Sequence number of the last event applied.
    last_seq: u64,
}

impl Board {
    /// An empty board that keeps `ended_limit` ended conversations visible.
    pub fn new(ended_limit: usize) -> Board {
        Board {
            conversations: FxHashMap::default(),
            waiting: BTreeSet::with_maximum_node_size(WAITING_NODE_SIZE),
            ended: RecentlyEnded::new(ended_limit),
            last_seq: 0,
        }
    }

    /// Sequence number of the last event applied.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Applies one event. Events must come in sequence order.
    pub fn apply(&mut self, event: &Event) {
        debug_assert_eq!(event.seq, self.last_seq + 1, "events out of order");
        self.last_seq = event.seq;
        let id = event.conversation;
        if let EventKind::Created {
            channel_conversation_id,
            customer,
            required,
            with_bot,
            key,
        } = &event.kind
        {
            self.conversations.insert(
                id,
                ConversationSnapshot {
                    id,
                    channel: event.channel,
                    channel_conversation_id: channel_conversation_id.clone(),
                    customer: customer.clone(),
                    tier: event.tier,
                    queue: event.queue,
                    state: if *with_bot {
                        ConversationState::WithBot
                    } else {
                        ConversationState::Queued
                    },
                    agent: None,
                    required: required.clone(),
                    key: *key,
                    waited_before_ms: 0,
                    waiting_since: (!*with_bot).then_some(event.at),
                    intent: None,
                    handoff: None,
                    satisfaction: None,
                    recommend: None,
                },
            );
            return;
        }
        if let EventKind::SurveyAnswered {
            question, score, ..
        } = &event.kind
        {
            if let Some(c) = self.ended.get_mut(id) {
                match question {
                    Question::Recommend => c.recommend = Some(*score),
                    Question::Satisfaction(_) => c.satisfaction = Some(*score),
                }
            }
            return;
        }
        let Some(c) = self.conversations.get_mut(&id) else {
            return;
        };
        c.queue = event.queue;
        match &event.kind {
            EventKind::Created { .. }
            | EventKind::FirstResponse { .. }
            | EventKind::AnswerRated { .. }
            | EventKind::AgentReplied { .. }
            | EventKind::SurveyAsked
            | EventKind::SurveyAnswered { .. }
            | EventKind::SurveyUnanswered { .. } => {}
            EventKind::Queued { key, required, .. } => {
                if matches!(
                    c.state,
                    ConversationState::Assigned
                        | ConversationState::Parked
                        | ConversationState::WithBot
                ) {
                    c.waiting_since = Some(event.at);
                }
                c.state = ConversationState::Queued;
                c.agent = None;
                c.key = *key;
                c.required = required.clone();
                self.waiting.insert((*key, id));
            }
            EventKind::HandedOff { reason, intent } => {
                c.handoff = Some(*reason);
                if intent.is_some() {
                    c.intent = intent.clone();
                }
            }
            EventKind::Parked { agent } => {
                c.state = ConversationState::Parked;
                c.agent = Some(agent.clone());
            }
            EventKind::Escalated { required, .. } => {
                c.required = required.clone();
            }
            EventKind::Boosted { key, .. } => {
                if self.waiting.remove(&(c.key, id)) {
                    self.waiting.insert((*key, id));
                }
                c.key = *key;
            }
            EventKind::Offered { agent, .. } => {
                self.waiting.remove(&(c.key, id));
                c.state = ConversationState::Offered;
                c.agent = Some(agent.clone());
            }
            EventKind::Accepted { agent, waited_ms } => {
                c.state = ConversationState::Assigned;
                c.agent = Some(agent.clone());
                c.waited_before_ms = *waited_ms;
                c.waiting_since = None;
            }
            EventKind::Transferred { .. } => {
                c.state = ConversationState::Offered;
                c.agent = None;
                c.waiting_since = Some(event.at);
            }
            EventKind::Closed { .. } | EventKind::Abandoned { .. } | EventKind::BotFinished => {
                self.waiting.remove(&(c.key, id));
                if c.waiting_since.is_some() {
                    c.waited_before_ms = c.waited_ms(event.at);
                    c.waiting_since = None;
                }
                c.state = match event.kind {
                    EventKind::Closed { .. } => ConversationState::Closed,
                    EventKind::BotFinished => ConversationState::BotFinished,
                    _ => ConversationState::Abandoned,
                };
                c.agent = None;
                if let Some(last) = self.conversations.remove(&id) {
                    self.ended.push(last);
                }
            }
        }
    }

    /// One conversation, open or recently ended.
    pub fn get(&self, id: ConversationId) -> Option<&ConversationSnapshot> {
        self.conversations.get(&id).or_else(|| self.ended.get(id))
    }

    /// Queued conversations in serving order, at most `limit`.
    pub fn waiting(&self, limit: usize) -> impl Iterator<Item = &ConversationSnapshot> + '_ {
        self.waiting
            .iter()
            .take(limit)
            .filter_map(|(_, id)| self.conversations.get(id))
    }

    /// Number of queued conversations.
    pub fn waiting_len(&self) -> usize {
        self.waiting.len()
    }

    /// 1-based serving order of a queued conversation among all queued ones.
    pub fn position(&self, id: ConversationId) -> Option<usize> {
        let c = self.conversations.get(&id)?;
        (c.state == ConversationState::Queued).then(|| self.waiting.rank(&(c.key, id)) + 1)
    }

    /// Open conversations (not ended).
    pub fn open(&self) -> impl Iterator<Item = &ConversationSnapshot> + '_ {
        self.conversations.values()
    }
}
