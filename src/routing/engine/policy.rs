//! What shapes a tenant's routing decisions: queues and their escalation timelines,
//! agent choice, timers and limits. Deserialised from the `[routing]` config table.

use serde::{Deserialize, Serialize};

use crate::customer::{HealthModel, RetentionPolicy, ValueModel};
use crate::routing::agent_kpis::KpiPolicy;
use crate::routing::model::Channel;
use crate::routing::priority::{PolicyError, PriorityPolicy};
use crate::routing::surveys::SurveyPolicy;

/// A named queue: the skills every conversation in it requires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSpec {
    /// Name adapters and transfers use; also a metric label.
    pub name: String,
    /// Skills required of agents, as `name` or `name:level` strings (level 1-5,
    /// default 1).
    #[serde(default)]
    pub required_skills: Vec<String>,
    /// Skills preferred on top of the required ones during the first
    /// `relax_preferred_after_secs` of waiting (bullseye step 0).
    #[serde(default)]
    pub preferred_skills: Vec<String>,
    /// Seconds of waiting after which preferred skills no longer count (step 1).
    #[serde(default = "default_relax_secs")]
    pub relax_preferred_after_secs: u64,
    /// Seconds of waiting after which the conversation overflows to the wider group
    /// that `overflow_skills` describes (step 2); 0 = never.
    #[serde(default)]
    pub overflow_after_secs: u64,
    /// What an agent of the wider group needs (empty: any agent).
    #[serde(default)]
    pub overflow_skills: Vec<String>,
    /// Seconds of waiting after which the fallback applies; 0 = no limit.
    #[serde(default)]
    pub max_wait_secs: u64,
    /// Queue a conversation moves to at `max_wait_secs`, keeping its place; empty =
    /// it stays where it is.
    #[serde(default)]
    pub fallback_queue: String,
    /// What the customer is told at `max_wait_secs`; empty = an offer of a call back
    /// or an e-mail follow-up, with buttons, in the customer's language.
    #[serde(default)]
    pub fallback_message: String,
    /// Whether conversations of this queue get the satisfaction survey after a close;
    /// absent = `[routing.survey] enabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub survey: Option<bool>,
}

fn default_relax_secs() -> u64 {
    30
}

impl Default for QueueSpec {
    fn default() -> Self {
        QueueSpec {
            name: String::new(),
            required_skills: Vec::new(),
            preferred_skills: Vec::new(),
            relax_preferred_after_secs: default_relax_secs(),
            overflow_after_secs: 0,
            overflow_skills: Vec::new(),
            max_wait_secs: 0,
            fallback_queue: String::new(),
            fallback_message: String::new(),
            survey: None,
        }
    }
}

/// How an agent is chosen among the eligible agents with room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentChoice {
    /// The least recently active agent (default): spreads work evenly over time.
    LongestIdle,
    /// The agent using the smallest share of their capacity for the channel class.
    LeastOccupied,
    /// The agent with the highest proficiency summed over the required skills.
    MostProficient,
    /// Agents in sign-in order, each decision starting after the last agent chosen.
    RoundRobin,
}

/// A queue's parsed escalation timeline.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct QueueEscalation {
    pub(super) preferred: Vec<(String, u8)>,
    pub(super) relax_ms: u64,
    pub(super) overflow_ms: u64,
    pub(super) overflow: Vec<(String, u8)>,
    pub(super) max_wait_ms: u64,
    pub(super) fallback_queue: Option<usize>,
    pub(super) fallback_message: String,
}

/// Longest `agent_reconnect_secs`: conversations held for an agent who may not come
/// back wait unanswered, so the window stays short.
pub const MAX_AGENT_RECONNECT_SECS: u64 = 600;

/// Everything that shapes routing decisions for a tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingPolicy {
    /// Value tiers and aging.
    pub priority: PriorityPolicy,
    /// Milliseconds an agent has to accept an offer.
    pub offer_timeout_ms: u64,
    /// Seconds an agent whose desk connection drops (the stream fails or is reset,
    /// rather than ended by the desk) keeps its accepted conversations, awaiting its
    /// return; 0 signs it out at once. At most [`MAX_AGENT_RECONNECT_SECS`].
    pub agent_reconnect_secs: u64,
    /// Milliseconds a declined conversation is not offered to the same agent again.
    pub decline_cooldown_ms: u64,
    /// Average handle time assumed before any conversation has closed, in seconds.
    pub default_handle_secs: u32,
    /// Queues; the first is where conversations go when the adapter names none.
    pub queues: Vec<QueueSpec>,
    /// Messages of a transcript kept (and sent with an offer); older ones are dropped.
    pub transcript_limit: usize,
    /// Open conversations per tenant; beyond it new ones are refused.
    pub max_open_conversations: usize,
    /// Seconds a conversation may wait for an agent in all (time waited counts from
    /// arrival, across returns to the queue) before it ends with
    /// `END_REASON_WAIT_LIMIT` and the customer is told; 0 = no limit. A bound
    /// here means a flood of conversations cannot lock a tenant out for good.
    pub max_queue_secs: u64,
    /// Milliseconds without a customer message after which an assigned messaging
    /// conversation is parked, releasing the agent's capacity; 0 = never.
    pub idle_release_ms: u64,
    /// Milliseconds a parked conversation waits for the customer to write again (then
    /// it goes back to the same agent); after that it ends as abandoned.
    pub parked_window_ms: u64,
    /// Milliseconds after a close during which a returning customer (same channel and
    /// customer id) is offered first to the agent who served them, if that agent can
    /// take it at once; 0 = off.
    pub last_agent_window_ms: u64,
    /// How an agent is chosen among eligible agents with room; ties go to the
    /// longest idle.
    pub agent_choice: AgentChoice,
    /// Send the highest value tier to the most proficient eligible agent, whatever
    /// `agent_choice` says.
    pub top_tier_to_most_proficient: bool,
    /// Milliseconds within which a customer who left while waiting and writes again on
    /// the same channel resumes their place instead of starting at the back; 0 = off.
    pub resume_window_ms: u64,
    /// Milliseconds of wrap-up (after-conversation work, no new offers) after an
    /// available agent closes a conversation; 0 turns wrap-up off.
    pub wrap_up_ms: u64,
    /// How often waiting customers' positions are re-evaluated, in milliseconds; a
    /// customer hears again only when the change is meaningful (see
    /// `Router::refresh_queue_status`). 0 turns updates off.
    pub queue_update_interval_ms: u64,
    /// How a person's lifetime value is computed from the facts the tenant's systems
    /// push (`[routing.value]`); people without facts keep the value their adapter
    /// sends.
    pub value: ValueModel,
    /// A recognised person's health score and churn threshold (`[routing.health]`):
    /// below it their conversations get the churn-risk boost by themselves.
    pub health: HealthModel,
    /// The satisfaction survey after a close (`[routing.survey]`).
    pub survey: SurveyPolicy,
    /// What the agent KPIs count as a prompt accept, and how many agents they keep
    /// (`[routing.kpis]`).
    pub kpis: KpiPolicy,
    /// How long past conversations, unanswered questions and idle profiles are kept
    /// (`[routing.retention]`).
    pub retention: RetentionPolicy,
    /// Outbound notifications: rules, time zone, reply window, templates
    /// (`[routing.outbound]`).
    pub outbound: crate::outbound::OutboundPolicy,
    /// Where bots serve first; set from the `[bot]` config section, not from `[routing]`.
    #[serde(skip)]
    pub bot: BotRouting,
}

/// The routing side of bots: which channels a bot serves first, and when it hands
/// a conversation over or lets it end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotRouting {
    /// Channels where new conversations go to a bot first; others queue at once.
    pub channels: Vec<Channel>,
    /// Unsure bot answers in a row that hand the conversation to a person.
    pub low_confidence_limit: u32,
    /// At a handoff, the conversation's language tag becomes a required skill.
    pub language_skills: bool,
    /// Milliseconds without a customer message after which a conversation still with
    /// a bot ends (the bot finished); 0 = never.
    pub idle_end_ms: u64,
    /// A knowledge-base answer comes with "solved" / "not solved" buttons, and the
    /// customer's verdict is tallied per intent.
    pub ask_solved: bool,
}

impl Default for BotRouting {
    /// No bot channels: every conversation queues for a person.
    fn default() -> Self {
        BotRouting {
            channels: Vec::new(),
            low_confidence_limit: 2,
            language_skills: true,
            idle_end_ms: 1_800_000,
            ask_solved: false,
        }
    }
}

impl Default for RoutingPolicy {
    fn default() -> Self {
        RoutingPolicy {
            priority: PriorityPolicy::default(),
            offer_timeout_ms: 30_000,
            agent_reconnect_secs: 30,
            decline_cooldown_ms: 60_000,
            default_handle_secs: 180,
            queues: vec![QueueSpec {
                name: "default".to_owned(),
                ..QueueSpec::default()
            }],
            transcript_limit: 200,
            max_open_conversations: 200_000,
            max_queue_secs: 4 * 60 * 60,
            wrap_up_ms: 0,
            resume_window_ms: 120_000,
            last_agent_window_ms: 0,
            idle_release_ms: 0,
            parked_window_ms: 600_000,
            agent_choice: AgentChoice::LongestIdle,
            top_tier_to_most_proficient: false,
            queue_update_interval_ms: 15_000,
            value: ValueModel::default(),
            health: HealthModel::default(),
            survey: SurveyPolicy::default(),
            kpis: KpiPolicy::default(),
            retention: RetentionPolicy::default(),
            outbound: crate::outbound::OutboundPolicy::default(),
            bot: BotRouting::default(),
        }
    }
}

/// A policy the router cannot run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingPolicyError {
    /// Bad priority settings.
    #[error(transparent)]
    Priority(#[from] PolicyError),
    /// No queue.
    #[error("queues: at least one queue is needed")]
    NoQueues,
    /// A value model parameter out of range.
    #[error("routing.{0}")]
    Value(String),
    /// A queue skill that does not parse.
    #[error("queue {queue:?}: bad skill {skill:?}: expected `name` or `name:level` with level 1-5")]
    BadQueueSkill {
        /// The queue.
        queue: String,
        /// The skill text.
        skill: String,
    },
    /// Two queues with one name.
    #[error("queues: duplicate queue name {0:?}")]
    DuplicateQueue(String),
    /// A fallback queue that is not configured.
    #[error("queue {queue:?}: fallback_queue {fallback:?} is not a configured queue")]
    UnknownFallbackQueue {
        /// The queue.
        queue: String,
        /// The missing fallback.
        fallback: String,
    },
    /// A zero timeout or limit.
    #[error("{0} must be greater than 0")]
    Zero(&'static str),
    /// Saved state does not fit this policy (a snapshot from other queues or tiers).
    #[error("saved state does not fit the configured policy: {0}")]
    Incompatible(String),
}

/// Parses a `name` or `name:level` skill string.
pub fn parse_skill(text: &str) -> Option<(String, u8)> {
    let (name, level) = match text.rsplit_once(':') {
        Some((name, level)) if level.chars().all(|c| c.is_ascii_digit()) && !level.is_empty() => {
            (name, level.parse::<u8>().ok()?)
        }
        _ => (text, 1),
    };
    (!name.is_empty() && (1..=5).contains(&level)).then(|| (name.to_owned(), level))
}
