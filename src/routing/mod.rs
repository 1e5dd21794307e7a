//! The routing core: which agent serves which conversation, and in what order.
//!
//! Plain Rust with no transport types, so it can be unit-tested, property-tested,
//! simulated and benchmarked on its own. The gRPC layer converts requests into these
//! types at the edge.
//!
//! - [`model`]: ids, channels, time, messages, named skills, escalation steps.
//! - [`skills`]: skill catalogue and proficiency-levelled bitsets (eligibility).
//! - [`priority`]: CLV, value tiers, aging: the serving order and its starvation bound.
//! - [`waiting`]: the waiting index, grouped by requirement profile.
//! - [`agents`]: the agent pool and its longest-idle ready index.
//! - [`engine`]: the [`Router`] state machine that makes every decision.
//! - [`events`]: the ordered lifecycle events every state change emits.
//! - [`expiring`]: per-customer memories that lapse (resumable places, last agents).
//! - [`timer_queue`]: every scheduled router timer, in firing order, cancelled eagerly.
//! - [`command`]: every change asked of a router, as data (journal, replay).
//! - [`board`]: conversations rebuilt from events alone: what an event consumer can
//!   know, checked against the router by the property tests.
//! - [`recently_ended`]: ended conversations as they ended, a bounded ring (admin).
//! - [`answer_ratings`]: customers' verdicts on bot answers, per intent.
//! - [`unanswered`]: the questions the bot could not answer, grouped for teaching.
//! - [`surveys`]: satisfaction surveys after a close, their reminders and follow-ups.
//! - [`agent_kpis`]: per-agent KPIs in time buckets, folded from events (Admin, metrics).
//! - [`taught`]: questions and entries operators taught the bot at run time.

pub mod agent_kpis;
pub mod agents;
pub mod answer_ratings;
pub mod board;
pub mod command;
pub mod engine;
pub mod events;
pub mod expiring;
pub mod model;
pub mod priority;
pub mod recently_ended;
pub mod service_level;
pub mod skills;
pub mod surveys;
pub mod taught;
pub mod timer_queue;
pub mod unanswered;
pub mod waiting;

pub use board::{Board, ConversationSnapshot, ConversationState};
pub use command::{Applied, Command};
pub use engine::{
    AgentChoice, AgentNotice, AgentStateCounts, AgentView, AnsweredNotice, AssistSuggestion,
    AssistSuggestions, BotAction, BotRouting, BotTurn, CAMPAIGN_STATES, CandidateAgent,
    CustomerExport, CustomerNotice, CustomerNoticeBody, ErasedCustomer, Explanation, Forgotten,
    Handoff, InboundMessage, MAX_FACTS_PER_CALL, MessageOutcome, Notice, NotificationNotice,
    OUTBOUND_RESULTS, OUTBOUND_RESULTS_BY_CHANNEL, OfferDetails, OptOutVia, OutboundCount,
    ProfileRef, QueueSpec, Reconnects, Router, RoutingError, RoutingPolicy, RoutingPolicyError,
    Rule, SignIn, TransferRequest, Understood, language_skill,
};
pub use events::{Event, EventKind, QueueReason, Responder, TransferTarget};
pub use model::{
    AdapterId, AgentId, Button, Channel, ChannelClass, ConversationId, Customer, EndReason,
    EscalationStep, HandoffReason, Millis, NamedSkills, PerClass, Presence, QueueStatus, Sender,
    TranscriptEntry,
};
pub use priority::{
    Boost, BoostWeights, Boosts, ClvModel, PriorityKey, PriorityPolicy, ValueFacts, ValueTier,
};

#[cfg(test)]
mod tests;
