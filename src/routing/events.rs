//! Conversation lifecycle events: the one record of every state change.
//!
//! The router emits an event, in order and with a per-tenant sequence number, for
//! every change of a conversation's state. Metrics, the admin snapshot
//! ([`super::board::Board`]) and, later, a durable journal all read these events, so an
//! event carries everything needed to rebuild a conversation's routing state from the
//! stream alone.

use std::sync::Arc;

use super::answer_ratings::Verdict;
use super::model::{
    AgentId, Channel, ConversationId, Customer, EscalationStep, HandoffReason, Millis, NamedSkills,
};
use super::priority::{Boost, PriorityKey};
use super::surveys::Question;

/// One state change of one conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Per-tenant sequence number, gap-free from 1.
    pub seq: u64,
    /// When it happened.
    pub at: Millis,
    /// The conversation.
    pub conversation: ConversationId,
    /// Its channel (for labels).
    pub channel: Channel,
    /// Its value tier index (for labels).
    pub tier: usize,
    /// Its queue index (for labels).
    pub queue: usize,
    /// What happened.
    pub kind: EventKind,
}

/// Why a conversation (re)entered the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueReason {
    /// A new conversation.
    New,
    /// The offered agent declined.
    Declined,
    /// The offered agent did not answer in time.
    OfferTimeout,
    /// The agent holding it disconnected.
    AgentLost,
    /// Transferred to a skill or queue.
    Transferred,
    /// The customer of a parked conversation wrote again.
    Returned,
    /// A customer who left while waiting came back within the resume window and got
    /// their place back.
    Resumed,
    /// A bot handed the conversation to a person.
    Handoff,
}

impl QueueReason {
    /// Stable name, used as a metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            QueueReason::New => "new",
            QueueReason::Declined => "declined",
            QueueReason::OfferTimeout => "offer_timeout",
            QueueReason::AgentLost => "agent_lost",
            QueueReason::Transferred => "transferred",
            QueueReason::Resumed => "resumed",
            QueueReason::Returned => "returned",
            QueueReason::Handoff => "handoff",
        }
    }
}

/// Who gave the first response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Responder {
    /// Switchboard's system acknowledgement.
    System,
    /// A bot.
    Bot,
    /// A human agent.
    Agent,
}

impl Responder {
    /// Stable name, used as a metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Responder::System => "system",
            Responder::Bot => "bot",
            Responder::Agent => "agent",
        }
    }
}

/// Where a transfer went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferTarget {
    /// Offered directly to this agent.
    Agent(AgentId),
    /// Waits for an agent with this skill.
    Skill(Arc<str>),
    /// Waits in this queue (index).
    Queue(usize),
}

/// What happened to a conversation.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// The conversation was opened by its first customer message.
    Created {
        /// The channel's conversation id.
        channel_conversation_id: Arc<str>,
        /// The customer.
        customer: Customer,
        /// Required skills and levels, by name.
        required: NamedSkills,
        /// True when a bot serves it first; otherwise it queues at once.
        with_bot: bool,
        /// Its place in the serving order as it stands (a handoff gives a new one).
        key: PriorityKey,
    },
    /// The customer got their first response.
    FirstResponse {
        /// Who answered.
        responder: Responder,
        /// Milliseconds from the first customer message.
        latency_ms: u64,
    },
    /// A bot handed the conversation to a person; a `Queued` event follows.
    HandedOff {
        /// Why.
        reason: HandoffReason,
        /// Intent the bot detected, if any.
        intent: Option<Arc<str>>,
    },
    /// The customer stopped writing while a bot served them: the bot finished.
    BotFinished,
    /// The customer was asked for their satisfaction after the close.
    SurveyAsked,
    /// The customer answered a survey question.
    SurveyAnswered {
        /// Which question.
        question: Question,
        /// The answer on its scale.
        score: u8,
        /// The agent who closed the conversation.
        agent: AgentId,
    },
    /// A survey got no answer: it lapsed, or the customer wrote something else.
    SurveyUnanswered {
        /// True when the customer wrote about something else instead.
        moved_on: bool,
    },
    /// The customer said whether a bot answer solved their question.
    AnswerRated {
        /// The intent answered.
        intent: Arc<str>,
        /// Their verdict.
        verdict: Verdict,
    },
    /// The conversation waits for an agent.
    Queued {
        /// Why.
        reason: QueueReason,
        /// Its place in the serving order.
        key: PriorityKey,
        /// Required skills and levels, by name (they change on a transfer).
        required: NamedSkills,
    },
    /// The conversation got a boost and moved up the serving order.
    Boosted {
        /// Which boost.
        boost: Boost,
        /// Its new place in the serving order.
        key: PriorityKey,
    },
    /// The conversation took a step out on its queue's bullseye; its requirement
    /// changed, its place did not.
    Escalated {
        /// The step reached.
        step: EscalationStep,
        /// The requirement from now on.
        required: NamedSkills,
    },
    /// Offered to an agent.
    Offered {
        /// The agent.
        agent: AgentId,
        /// Milliseconds waited in the queue in all, so far.
        waited_ms: u64,
    },
    /// The agent accepted.
    Accepted {
        /// The agent.
        agent: AgentId,
        /// Milliseconds waited in the queue in all.
        waited_ms: u64,
    },
    /// The agent holding it wrote to the customer for the first time since they
    /// accepted it (later replies emit nothing): first-reply time is the gap from the
    /// `Accepted` event.
    AgentReplied {
        /// The agent.
        agent: AgentId,
    },
    /// An agent handed it on; a `Queued` or `Offered` event follows.
    Transferred {
        /// The agent who transferred it.
        from: AgentId,
        /// Where to.
        target: TransferTarget,
    },
    /// The customer went quiet: the agent's capacity was released; the conversation
    /// goes back to that agent if the customer writes within the parked window.
    Parked {
        /// The agent it goes back to.
        agent: AgentId,
    },
    /// An agent closed it.
    Closed {
        /// The agent.
        agent: AgentId,
        /// It was a complaint: a bot handed it over for one, or it had the complaint
        /// boost (which a first message sets without a `Boosted` event).
        complaint: bool,
    },
    /// The customer left.
    Abandoned {
        /// Milliseconds waited in the queue in all.
        waited_ms: u64,
        /// True when it was still waiting (never reached an agent).
        while_waiting: bool,
    },
}

impl EventKind {
    /// Stable name, used as a metric label value and in logs.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Created { .. } => "created",
            EventKind::FirstResponse { .. } => "first_response",
            EventKind::HandedOff { .. } => "handed_off",
            EventKind::BotFinished => "bot_finished",
            EventKind::AnswerRated { .. } => "answer_rated",
            EventKind::SurveyAsked => "survey_asked",
            EventKind::SurveyAnswered { .. } => "survey_answered",
            EventKind::SurveyUnanswered { .. } => "survey_unanswered",
            EventKind::Queued { .. } => "queued",
            EventKind::Boosted { .. } => "boosted",
            EventKind::Escalated { .. } => "escalated",
            EventKind::Offered { .. } => "offered",
            EventKind::Accepted { .. } => "accepted",
            EventKind::AgentReplied { .. } => "agent_replied",
            EventKind::Transferred { .. } => "transferred",
            EventKind::Parked { .. } => "parked",
            EventKind::Closed { .. } => "closed",
            EventKind::Abandoned { .. } => "abandoned",
        }
    }
}
