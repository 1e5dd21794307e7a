//! The nouns of routing: ids, channels, time, messages, named skills, escalation steps.
//! Plain data, no behaviour beyond parsing and display, so every other routing module
//! and the API edge share them; this module imports no other routing module.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// Milliseconds since the Unix epoch. The core never reads a clock: callers pass the
/// time in, so tests and the simulator can drive it in virtual time.
pub type Millis = u64;

/// Switchboard's id for a conversation, unique within a tenant for the process's life.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct ConversationId(pub u64);

impl ConversationId {
    /// What a delivery in no conversation (an outbound notification) names; real
    /// conversation ids start at 1.
    pub const NONE: ConversationId = ConversationId(0);
}

impl fmt::Display for ConversationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}

impl FromStr for ConversationId {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.strip_prefix('c')
            .and_then(|n| n.parse().ok())
            .map(ConversationId)
            .ok_or(())
    }
}

/// An agent's id as the desk gave it; shared cheaply between indexes and events.
pub type AgentId = Arc<str>;

/// An adapter instance's id; outbound messages of a conversation go to its adapter.
pub type AdapterId = Arc<str>;

/// The channel a customer writes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Channel {
    /// Web chat widget.
    Web,
    /// In-app chat.
    App,
    /// WeChat official account.
    WechatOfficialAccount,
    /// WeChat mini program.
    WechatMiniProgram,
    /// Weibo direct messages.
    Weibo,
    /// Douyin direct messages.
    Douyin,
    /// E-mail.
    Email,
    /// SMS.
    Sms,
    /// Voice.
    Voice,
    /// Any other channel.
    Other,
}

impl Channel {
    /// Every channel, for metrics pre-registration and tests.
    pub const ALL: [Channel; 10] = [
        Channel::Web,
        Channel::App,
        Channel::WechatOfficialAccount,
        Channel::WechatMiniProgram,
        Channel::Weibo,
        Channel::Douyin,
        Channel::Email,
        Channel::Sms,
        Channel::Voice,
        Channel::Other,
    ];

    /// Index into per-channel arrays, in [`Channel::ALL`] order.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The class agent capacity is counted in for this channel.
    pub fn class(self) -> ChannelClass {
        match self {
            Channel::Email => ChannelClass::Email,
            Channel::Voice => ChannelClass::Voice,
            _ => ChannelClass::Messaging,
        }
    }

    /// The channel with this [`Channel::as_str`] name.
    pub fn from_name(name: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// Stable lower-case name, used as a metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Web => "web",
            Channel::App => "app",
            Channel::WechatOfficialAccount => "wechat_official_account",
            Channel::WechatMiniProgram => "wechat_mini_program",
            Channel::Weibo => "weibo",
            Channel::Douyin => "douyin",
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Voice => "voice",
            Channel::Other => "other",
        }
    }
}

/// What an agent's concurrent-conversation capacity is counted in.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum ChannelClass {
    /// Chat-like channels.
    Messaging = 0,
    /// E-mail.
    Email = 1,
    /// Voice.
    Voice = 2,
}

impl ChannelClass {
    /// Every class, in index order.
    pub const ALL: [ChannelClass; 3] = [
        ChannelClass::Messaging,
        ChannelClass::Email,
        ChannelClass::Voice,
    ];

    /// Index into per-class arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Stable lower-case name, used as a metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelClass::Messaging => "messaging",
            ChannelClass::Email => "email",
            ChannelClass::Voice => "voice",
        }
    }
}

/// A count per channel class: an agent's capacity or load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct PerClass(pub [u32; 3]);

impl PerClass {
    /// The count for one class.
    pub fn get(&self, class: ChannelClass) -> u32 {
        self.0[class.index()]
    }

    /// Mutable count for one class.
    pub fn get_mut(&mut self, class: ChannelClass) -> &mut u32 {
        &mut self.0[class.index()]
    }

    /// Sum over all classes.
    pub fn total(&self) -> u32 {
        self.0.iter().sum()
    }
}

/// An agent's presence as the agent sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Presence {
    /// Takes new offers while capacity is free.
    Available,
    /// Keeps assigned conversations, takes no new offers (also set by an offer timeout).
    Away,
    /// After-conversation work: set by the router when an available agent closes a
    /// conversation and `wrap_up_ms` is above 0; no new offers until the timer ends
    /// (then available again) or the agent sets a presence. Agents cannot set it.
    WrapUp,
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Sender {
    /// The customer.
    Customer,
    /// A human agent.
    Agent,
    /// A bot.
    Bot,
    /// Switchboard itself.
    System,
}

/// A quick-reply button; knowledge-base files spell it the same way.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Button {
    /// Label shown.
    pub label: String,
    /// Text sent back when pressed.
    pub payload: String,
}

/// One message of a transcript.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TranscriptEntry {
    /// Who wrote it.
    pub sender: Sender,
    /// The text.
    pub text: Arc<str>,
    /// When it was received or produced.
    pub at: Millis,
    /// The agent, when an agent wrote it.
    pub agent: Option<AgentId>,
}

/// What Switchboard knows of the customer.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Customer {
    /// The channel's customer id.
    pub id: Arc<str>,
    /// Display name, possibly empty.
    pub display_name: Arc<str>,
    /// Computed customer lifetime value.
    pub clv: f64,
}

/// Why a conversation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum EndReason {
    /// An agent closed it.
    ClosedByAgent,
    /// The customer left.
    Abandoned,
    /// A bot served the customer to the end: they stopped writing while with the bot.
    BotFinished,
    /// The conversation waited `max_queue_secs` in all without an agent taking it: the
    /// customer was told and it ended, rather than waiting forever.
    WaitLimit,
    /// The server shut down without a journal to carry the conversation over: the
    /// customer was told it is restarting, instead of silence.
    Shutdown,
}

/// Why a bot gave a conversation to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum HandoffReason {
    /// The customer asked for a person.
    CustomerRequest,
    /// The bot was not confident, too many times in a row.
    LowConfidence,
    /// A complaint or an angry customer.
    Complaint,
    /// The intent always needs a person.
    IntentNeedsHuman,
    /// An external bot handed over without saying why.
    BotDecision,
    /// Someone is in danger, or a crime against the customer is under way; served
    /// with the complaint boost.
    Safety,
}

impl HandoffReason {
    /// Every reason, for metrics pre-registration.
    pub const ALL: [HandoffReason; 6] = [
        HandoffReason::CustomerRequest,
        HandoffReason::LowConfidence,
        HandoffReason::Complaint,
        HandoffReason::IntentNeedsHuman,
        HandoffReason::BotDecision,
        HandoffReason::Safety,
    ];

    /// Stable name, used as a metric label value and in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            HandoffReason::CustomerRequest => "customer_request",
            HandoffReason::LowConfidence => "low_confidence",
            HandoffReason::Complaint => "complaint",
            HandoffReason::IntentNeedsHuman => "intent_needs_human",
            HandoffReason::BotDecision => "bot_decision",
            HandoffReason::Safety => "safety",
        }
    }
}

/// Where a waiting customer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QueueStatus {
    /// 1-based place among conversations waiting for the same agents.
    pub position: u32,
    /// Estimated seconds until an agent accepts; 0 with a position above 0 when no
    /// signed-in agent who takes offers (not away) can serve the conversation, so
    /// there is nothing to estimate.
    pub estimated_wait_secs: u32,
}

impl QueueStatus {
    /// Waiting, with no agent who takes offers able to serve the conversation: no
    /// estimate.
    pub fn no_agent(&self) -> bool {
        self.position > 0 && self.estimated_wait_secs == 0
    }
}

/// Skills by name with their levels, as events and views show them.
pub type NamedSkills = Arc<[(Arc<str>, u8)]>;

/// How far a conversation has escalated through its queue's bullseye.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum EscalationStep {
    /// Required and preferred skills.
    Preferred,
    /// Required skills only.
    Required,
    /// The queue's wider overflow group.
    Overflow,
}

impl EscalationStep {
    /// Stable name, used as a metric label value and in explanations.
    pub fn as_str(self) -> &'static str {
        match self {
            EscalationStep::Preferred => "preferred",
            EscalationStep::Required => "required",
            EscalationStep::Overflow => "overflow",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversation_ids_round_trip_and_reject_garbage() {
        let id = ConversationId(42);
        assert_eq!(id.to_string(), "c42");
        assert_eq!("c42".parse::<ConversationId>(), Ok(id));
        assert!("42".parse::<ConversationId>().is_err());
        assert!("c".parse::<ConversationId>().is_err());
        assert!("c-1".parse::<ConversationId>().is_err());
    }

    #[test]
    fn channel_indexes_follow_all() {
        for (i, channel) in Channel::ALL.into_iter().enumerate() {
            assert_eq!(channel.index(), i);
        }
    }

    #[test]
    fn channels_map_to_their_capacity_class() {
        assert_eq!(Channel::Email.class(), ChannelClass::Email);
        assert_eq!(Channel::Voice.class(), ChannelClass::Voice);
        assert_eq!(Channel::Douyin.class(), ChannelClass::Messaging);
        assert_eq!(Channel::WechatMiniProgram.class(), ChannelClass::Messaging);
    }
}
