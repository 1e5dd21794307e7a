//! The router's inputs, outputs and refusals: requests, the notices it leaves for
//! customers and agents, views, and the rules its decisions cite.

use std::sync::Arc;

use crate::customer::ClaimedIdentity;
use crate::routing::answer_ratings::AskedVerdict;
use crate::routing::model::{
    AdapterId, AgentId, Button, Channel, ConversationId, Customer, EndReason, HandoffReason,
    Millis, PerClass, Presence, QueueStatus, Sender, TranscriptEntry,
};
use crate::routing::priority::{Boosts, ValueFacts};

/// Why an operation was refused. The API maps each to a gRPC status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    /// A field's value is not acceptable.
    #[error("{field}: {reason}")]
    InvalidArgument {
        /// The field, as named in the contract.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// No such open conversation in this tenant.
    #[error("conversation {0} not found")]
    ConversationNotFound(String),
    /// No such customer profile or merge.
    #[error("{0}")]
    ProfileNotFound(String),
    /// No such campaign (or another kept record named by id).
    #[error("{0}")]
    NotFound(String),
    /// No such signed-in agent in this tenant.
    #[error("agent {0:?} is not signed in")]
    AgentNotFound(String),
    /// The agent is already signed in on another session.
    #[error("agent {0:?} is already signed in")]
    AlreadySignedIn(String),
    /// The conversation is not in a state that allows this (for example, not yours).
    #[error("{0}")]
    FailedPrecondition(String),
    /// A tenant limit is reached.
    #[error("{0}")]
    Exhausted(String),
    /// The conversation belongs to another customer.
    #[error("{0}")]
    NotOwner(String),
}

/// A customer message as the router needs it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InboundMessage {
    /// The adapter that delivers replies.
    pub adapter: AdapterId,
    /// The channel.
    pub channel: Channel,
    /// The channel's conversation id (idempotency key).
    pub channel_conversation_id: String,
    /// The channel's customer id.
    pub customer_id: String,
    /// Customer display name.
    pub display_name: String,
    /// Value facts.
    pub value: ValueFacts,
    /// Message text.
    pub text: String,
    /// Language tag, possibly empty.
    pub language: String,
    /// The adapter's message id, for de-duplication.
    pub client_message_id: Option<String>,
    /// Queue name; `None` for the first queue.
    pub queue: Option<String>,
    /// Extra required skills with minimum levels.
    pub required_skills: Vec<(String, u8)>,
    /// Boosts the adapter sets (complaint, churn risk); a later message can add more.
    pub boosts: Boosts,
    /// Other identifiers the adapter knows the customer by (phone, e-mail, WeChat
    /// union id, ...): verified ones recognise a customer seen on another channel.
    pub identities: Vec<ClaimedIdentity>,
}

/// What the router did with a customer message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageOutcome {
    /// The conversation.
    pub conversation: ConversationId,
    /// True when the message opened it.
    pub created: bool,
    /// True when the message was a repeat of one already taken (not relayed again).
    pub duplicate: bool,
}

/// An agent signing in.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SignIn {
    /// Agent id.
    pub agent_id: String,
    /// Display name.
    pub display_name: String,
    /// Skills with proficiency.
    pub skills: Vec<(String, u8)>,
    /// Capacity per class.
    pub capacity: PerClass,
    /// Initial presence.
    pub presence: Presence,
}

/// Where an agent transfers a conversation.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum TransferRequest {
    /// To a signed-in agent with room.
    Agent(String),
    /// To any agent with this skill.
    Skill(String),
    /// To a configured queue.
    Queue(String),
}

/// A customer message for a bot to answer, in a conversation a bot serves.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BotTurn {
    /// The conversation.
    pub conversation: ConversationId,
    /// The channel.
    pub channel: Channel,
    /// Language tag as known so far (from the adapter or an earlier bot turn).
    pub language: Arc<str>,
    /// The customer's message.
    pub text: Arc<str>,
    /// True for the conversation's first message: greet first.
    pub first_turn: bool,
    /// Set when the message says the bot's last answer did not solve it: the answer
    /// and the question it answered, so the bot can offer something else.
    pub unsolved: Option<AskedVerdict>,
    /// The outbound notification the conversation answers, if it began as a reply.
    pub answers: Option<Arc<AnsweredNotice>>,
}

/// How well a bot understood the customer message it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Understood {
    /// It answered the question; the run of unsure answers ends.
    Answered,
    /// Small talk or a greeting; the run of unsure answers goes on unchanged.
    SmallTalk,
    /// It was not confident; enough of these in a row hand the conversation over.
    NotSure,
}

/// What a bot does with its turn.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum BotAction {
    /// Tell the customer something (nothing when `text` is empty).
    Say {
        /// The text.
        text: String,
        /// Quick-reply buttons.
        buttons: Vec<Button>,
        /// How well it understood.
        understood: Understood,
        /// Intent detected, if any.
        intent: Option<String>,
        /// Language detected, when the conversation has none yet.
        language: Option<String>,
    },
    /// Give the conversation to a person.
    HandOff(Handoff),
}

/// A bot giving a conversation to a person.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Handoff {
    /// Why.
    pub reason: HandoffReason,
    /// Intent detected, if any.
    pub intent: Option<String>,
    /// Skills the person needs beyond the queue's (the language skill is added by the
    /// router when `bot.language_skills` is on).
    pub skills: Vec<(String, u8)>,
    /// Language detected, when the conversation has none yet.
    pub language: Option<String>,
    /// A note for the agent, kept in the transcript (not shown to the customer).
    pub note: Option<String>,
}

/// Something to tell a customer or an agent, in the order it happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// For the customer of a conversation, through its adapter.
    ToCustomer(CustomerNotice),
    /// For the bot serving a conversation.
    ToBot(BotTurn),
    /// For a signed-in agent.
    ToAgent {
        /// The agent.
        agent: AgentId,
        /// What to tell them.
        notice: AgentNotice,
    },
}

/// Something to deliver to a customer.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CustomerNotice {
    /// The adapter that delivers it.
    pub adapter: AdapterId,
    /// The conversation.
    pub conversation: ConversationId,
    /// The channel.
    pub channel: Channel,
    /// The channel's conversation id.
    pub channel_conversation_id: Arc<str>,
    /// The customer.
    pub customer_id: Arc<str>,
    /// What.
    pub body: CustomerNoticeBody,
}

/// What to deliver to a customer.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum CustomerNoticeBody {
    /// A message.
    Message {
        /// Who wrote it.
        sender: Sender,
        /// Text.
        text: Arc<str>,
        /// Buttons.
        buttons: Vec<Button>,
        /// The agent who wrote it, if one did.
        agent: Option<AgentId>,
        /// Where the customer stands, on waiting notes.
        queue_status: Option<QueueStatus>,
    },
    /// The conversation ended.
    Closed(EndReason),
    /// An outbound notification, in no conversation ([`ConversationId::NONE`]); the
    /// channel conversation id is the customer's channel id.
    Notification(Box<NotificationNotice>),
}

/// An outbound notification as an adapter delivers it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NotificationNotice {
    /// The notification.
    pub id: crate::outbound::NotificationId,
    /// What it is for.
    pub purpose: crate::customer::ContactPurpose,
    /// The template it was filled from.
    pub template: Arc<str>,
    /// The text.
    pub text: Arc<str>,
    /// Quick-reply buttons.
    pub buttons: Vec<Button>,
    /// After this it is pointless: an adapter that gets it later drops it.
    pub deadline: Millis,
    /// The campaign it is part of, if any.
    pub campaign: Option<crate::outbound::CampaignId>,
}

/// Something to tell an agent.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentNotice {
    /// A conversation is offered.
    Offer(Box<OfferDetails>),
    /// A conversation the agent held before a restart is theirs again, as accepted.
    Resumed(Box<OfferDetails>),
    /// An assigned conversation went quiet and was parked: the agent's capacity is
    /// free; it comes back to the agent if the customer writes before `until`.
    Parked {
        /// The conversation.
        conversation: ConversationId,
        /// When it ends unless the customer writes.
        until: Millis,
    },
    /// An offer was taken back.
    OfferWithdrawn {
        /// The conversation.
        conversation: ConversationId,
        /// `timeout` or `abandoned`.
        reason: &'static str,
    },
    /// The agent's presence was changed by the router.
    PresenceChanged {
        /// New presence.
        presence: Presence,
        /// Why, such as `offer_timeout`.
        reason: &'static str,
    },
    /// A customer message in a conversation the agent holds.
    CustomerMessage {
        /// The conversation.
        conversation: ConversationId,
        /// Text.
        text: Arc<str>,
        /// When received.
        at: Millis,
    },
    /// Knowledge-base answers suggested for a customer message (agent assist); left
    /// by the bot layer, never by the router.
    Suggestions(Box<AssistSuggestions>),
    /// A conversation the agent held ended.
    Ended {
        /// The conversation.
        conversation: ConversationId,
        /// Why.
        reason: EndReason,
    },
}

/// The outbound notification a conversation answers: the customer wrote back to it.
/// The bot and the agent read it to know what the customer is answering.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AnsweredNotice {
    /// The notification.
    pub notification: crate::outbound::NotificationId,
    /// What it was for.
    pub purpose: crate::customer::ContactPurpose,
    /// The template it was filled from.
    pub template: Arc<str>,
    /// Its text, as the customer got it.
    pub text: Arc<str>,
    /// The campaign it was part of, if any.
    pub campaign: Option<crate::outbound::CampaignId>,
}

/// What an agent sees of an offered conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct OfferDetails {
    /// The conversation.
    pub conversation: ConversationId,
    /// The channel.
    pub channel: Channel,
    /// The customer.
    pub customer: Customer,
    /// Value tier name.
    pub tier: Arc<str>,
    /// Queue name.
    pub queue: Arc<str>,
    /// Transcript, oldest first.
    pub transcript: Vec<TranscriptEntry>,
    /// Milliseconds waited so far.
    pub waited_ms: u64,
    /// Language tag.
    pub language: Arc<str>,
    /// Intent a bot detected, if any.
    pub intent: Option<Arc<str>>,
    /// Why a bot handed it over, if one did.
    pub handoff: Option<HandoffReason>,
    /// Who the customer is, when recognised.
    pub customer_summary: Option<CustomerSummary>,
    /// The outbound notification the customer answered, when the conversation began
    /// as a reply to one.
    pub answers: Option<Arc<AnsweredNotice>>,
}

/// What an agent is shown of a recognised customer with an offer.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerSummary {
    /// Their profile.
    pub profile: crate::customer::ProfileId,
    /// Value and loss value by the tenant's formula, once facts were pushed.
    pub valued: Option<(f64, f64)>,
    /// Health, when known, and whether it is below the churn threshold.
    pub health: Option<(f64, bool)>,
    /// Complaints still open.
    pub open_complaints: u32,
    /// Their last conversations, newest first.
    pub recent: Vec<crate::customer::Contact>,
}

/// Suggested answers for one customer message, best first.
#[derive(Debug, Clone, PartialEq)]
pub struct AssistSuggestions {
    /// The conversation.
    pub conversation: ConversationId,
    /// The customer message they answer.
    pub customer_text: Arc<str>,
    /// The suggestions: answer text, entry id, intent, confidence 0-1.
    pub suggestions: Vec<AssistSuggestion>,
}

/// One suggested answer.
#[derive(Debug, Clone, PartialEq)]
pub struct AssistSuggestion {
    /// Answer text.
    pub text: String,
    /// Knowledge-base entry id.
    pub entry_id: String,
    /// The entry's intent.
    pub intent: String,
    /// Confidence 0-1.
    pub confidence: f32,
}

/// What an agent looks like to the admin API.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentView {
    /// Id.
    pub id: AgentId,
    /// Display name.
    pub display_name: String,
    /// Presence.
    pub presence: Presence,
    /// Skills with levels.
    pub skills: Vec<(Arc<str>, u8)>,
    /// Capacity.
    pub capacity: PerClass,
    /// Load.
    pub load: PerClass,
    /// Milliseconds since the agent was last active, while holding nothing; else 0.
    pub idle_ms: u64,
    /// Conversations held.
    pub conversations: Vec<ConversationId>,
    /// Awaited back after a dropped connection or a restart.
    pub returning: bool,
}

/// Agents by state, for gauges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AgentStateCounts {
    /// Available with room for another conversation.
    pub available: usize,
    /// Available but at capacity in every class.
    pub busy: usize,
    /// Away.
    pub away: usize,
    /// In wrap-up.
    pub wrap_up: usize,
    /// Conversations held, per class, by all signed-in agents.
    pub load: PerClass,
    /// Capacity per class of all signed-in agents.
    pub capacity: PerClass,
}

/// The rule that made a routing decision, as explanations name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Rule {
    /// A conversation needed an agent: the longest-idle eligible agent with room.
    LongestIdleEligible,
    /// An agent freed capacity: the best waiting conversation it is eligible for.
    BestWaitingForFreedAgent,
    /// An agent transferred the conversation to this agent.
    TransferToAgent,
    /// The eligible agent with room using the smallest share of their capacity.
    LeastOccupiedEligible,
    /// The eligible agent with room with the highest summed proficiency.
    MostProficientEligible,
    /// The next eligible agent with room in sign-in order.
    RoundRobinEligible,
    /// A returning customer, offered to the agent who served them last.
    LastAgent,
}

impl Rule {
    /// What the rule says, for people.
    pub fn describe(self) -> &'static str {
        match self {
            Rule::LongestIdleEligible => {
                "the conversation needed an agent: offered to the longest-idle eligible agent with free capacity"
            }
            Rule::BestWaitingForFreedAgent => {
                "the agent freed capacity: offered the first waiting conversation in serving order it is eligible for"
            }
            Rule::TransferToAgent => "an agent transferred it to this agent",
            Rule::LeastOccupiedEligible => {
                "the conversation needed an agent: offered to the least occupied eligible agent with free capacity"
            }
            Rule::MostProficientEligible => {
                "the conversation needed an agent: offered to the most proficient eligible agent with free capacity"
            }
            Rule::LastAgent => {
                "a returning customer: offered to the agent who served them last, who had room"
            }
            Rule::RoundRobinEligible => {
                "the conversation needed an agent: offered to the next eligible agent with free capacity in round-robin order"
            }
        }
    }
}
