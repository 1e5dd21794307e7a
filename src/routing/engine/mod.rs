//! The router: one tenant's conversations and agents, and every decision about who
//! serves whom.
//!
//! It is a plain state machine. Each operation takes the current time, changes state,
//! and leaves behind ordered [`Event`]s (what changed) and [`Notice`]s (what to tell a
//! customer or an agent), which the caller drains with [`Router::drain`]. It never
//! blocks and never reads a clock, so the gRPC layer serialises calls per tenant
//! behind one lock, and tests and simulations drive it directly in virtual time.

use std::collections::{BTreeSet, HashMap, VecDeque};

use rustc_hash::{FxHashMap, FxHashSet};

use crate::customer::{
    ClaimedIdentity, Contact, ContactOutcome, ContactPurpose, Identity, IdentityKind, ProfileId,
    ProfileLimits, Profiles,
};
use crate::outbound::{Campaigns, FollowUps, Outbox, Templates};
use std::sync::Arc;

// The router's work, one file per part; each adds methods to `Router`.
mod admission;
mod bot_learning;
mod bots;
mod campaigns;
mod consent;
mod customers;
mod decisions;
mod desk;
mod explain;
mod follow_ups;
mod interface;
mod lifecycle;
mod lookups;
mod outbound;
mod policy;
mod privacy;
mod restart;
mod surveys;
mod texts;
mod timers;
mod transcript;
#[cfg(test)]
pub(crate) use timers::REFRESH_PER_TICK;
mod views;

pub use bots::language_skill;

pub use campaigns::CAMPAIGN_STATES;
pub use consent::OptOutVia;
use customers::AtRiskIndex;
pub use customers::{AtRisk, MAX_FACTS_PER_CALL, ProfileRef};
pub use explain::{CandidateAgent, Explanation};
pub use interface::{
    AgentNotice, AgentStateCounts, AgentView, AnsweredNotice, AssistSuggestion, AssistSuggestions,
    BotAction, BotTurn, CustomerNotice, CustomerNoticeBody, CustomerSummary, Handoff,
    InboundMessage, MessageOutcome, Notice, NotificationNotice, OfferDetails, RoutingError, Rule,
    SignIn, TransferRequest, Understood,
};
pub use outbound::{OUTBOUND_RESULTS, OUTBOUND_RESULTS_BY_CHANNEL, OutboundCount};
use policy::QueueEscalation;
pub use policy::{
    AgentChoice, BotRouting, MAX_AGENT_RECONNECT_SECS, QueueSpec, RoutingPolicy,
    RoutingPolicyError, parse_skill,
};
pub use privacy::{CustomerExport, ErasedCustomer, Forgotten};
pub use restart::Reconnects;
use texts::{
    QueueTexts, is_chinese, reconnecting_text, shutdown_text, solved_text, survey_buttons,
    survey_text, survey_thanks, unsubscribed_text, verdict_buttons, wait_limit_text,
};

use super::agents::{Agent, AgentPool, AgentSlot, LaneKey};
use super::answer_ratings::{AnswerRatings, AskedVerdict};
use super::board::{ConversationSnapshot, ConversationState};
use super::events::{Event, EventKind, QueueReason, Responder, TransferTarget};
use super::expiring::ExpiringMap;
use super::model::{
    AdapterId, AgentId, Button, Channel, ChannelClass, ConversationId, Customer, EndReason,
    HandoffReason, Millis, PerClass, Presence, QueueStatus, Sender, TranscriptEntry,
};
pub use super::model::{EscalationStep, NamedSkills};
use super::priority::{Boost, Boosts, PriorityKey};
use super::recently_ended::RecentlyEnded;
use super::skills::{LevelledSkills, SkillCatalog, SkillIndex, UNRESOLVED};
use super::surveys::Surveys;
use super::taught::Taught;
use super::timer_queue::{Timer, TimerKind, Timers};
use super::unanswered::UnansweredLog;
use super::waiting::{ProfileIndex, WaitingIndex};
use transcript::Transcript;

/// Where a conversation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum State {
    /// Waiting in its profile.
    Queued,
    /// Offered to an agent until `expires_at`.
    Offered {
        agent: AgentSlot,
        expires_at: Millis,
    },
    /// Handled by an agent since `since`.
    Assigned { agent: AgentSlot, since: Millis },
    /// A quiet messaging conversation that released its agent's capacity; it goes back
    /// to that agent if the customer writes before `until`, and ends after.
    Parked { until: Millis },
    /// Served by a bot; not waiting for a person until a handoff.
    WithBot,
}

/// An open conversation.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Conversation {
    id: ConversationId,
    channel: Channel,
    channel_conversation_id: Arc<str>,
    /// The customer; `customer.id` is the channel's customer id, shared with every
    /// notice and event.
    customer: Customer,
    tier: usize,
    queue: usize,
    language: Arc<str>,
    adapter: AdapterId,
    /// Required skills by name, for events and views.
    required_names: NamedSkills,
    profile: ProfileIndex,
    key: PriorityKey,
    state: State,
    created_at: Millis,
    /// Waiting time banked before the current wait.
    waited_before_ms: u64,
    /// Start of the current wait, if waiting (queued or offered).
    waiting_since: Option<Millis>,
    transcript: Transcript,
    /// Recent adapter message ids, for de-duplication.
    recent_client_ids: VecDeque<Box<str>>,
    /// The queue status the customer was last told, if any.
    told: Option<QueueStatus>,
    /// Boosts in force.
    boosts: Boosts,
    /// How it was last routed, for explanations.
    decided: Option<Decision>,
    /// When the customer last wrote.
    last_customer_at: Millis,
    /// Escalation step; `None` once a transfer gave it a requirement of its own.
    step: Option<EscalationStep>,
    /// When it first waited for a person: escalation steps count from here.
    wait_origin: Millis,
    /// Whether the customer has had a first response.
    responded: bool,
    /// Why a bot handed it over.
    handoff: Option<HandoffReason>,
    /// The person behind it, when recognised.
    customer_profile: Option<ProfileId>,
    /// What few conversations carry; allocated when first set.
    extra: Option<Box<Extra>>,
}

/// What only some conversations carry (declines, a park, a bot's traces, preferred
/// skills), kept apart so a plain waiting conversation does not pay for it.
#[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Extra {
    /// Agents who declined, and until when they are skipped.
    declined_by: Vec<(AgentId, Millis)>,
    /// The agent a parked conversation goes back to.
    parked_with: Option<AgentId>,
    /// Queue and adapter required skills, the requirement from step 1 on; kept only
    /// while preferred skills still count (step 0).
    base_required: Option<Vec<(String, u8)>>,
    /// Unsure bot answers in a row.
    bot_misses: u32,
    /// Intent at the handoff, as events and views show it.
    intent: Option<Arc<str>>,
    /// Intent of the bot's last answer, kept for the handoff.
    bot_intent: Option<Arc<str>>,
    /// The bot answer the customer was asked "did that solve it?" about, until their
    /// next message.
    asked_verdict: Option<Box<AskedVerdict>>,
    /// The outbound notification the conversation answers.
    #[serde(default)]
    answers: Option<Arc<AnsweredNotice>>,
}

/// What a conversation without [`Extra`] reads.
static NO_EXTRA: Extra = Extra {
    declined_by: Vec::new(),
    parked_with: None,
    base_required: None,
    bot_misses: 0,
    intent: None,
    bot_intent: None,
    asked_verdict: None,
    answers: None,
};

/// Who a customer is for the last-agent preference: the person when recognised
/// across channels, else the channel's customer id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
enum CustomerKey {
    /// A channel's customer id.
    Channel(Channel, Arc<str>),
    /// A recognised person.
    Profile(ProfileId),
}

impl Conversation {
    fn customer_key(&self) -> CustomerKey {
        match self.customer_profile {
            Some(profile) => CustomerKey::Profile(profile),
            None => CustomerKey::Channel(self.channel, self.customer.id.clone()),
        }
    }
}

impl Conversation {
    /// Whether it is a complaint: handed off as one, or boosted as one.
    fn is_complaint(&self) -> bool {
        self.handoff == Some(HandoffReason::Complaint) || self.boosts.contains(Boost::Complaint)
    }

    /// What it carries beyond the usual (empty when nothing was set).
    fn extra(&self) -> &Extra {
        self.extra.as_deref().unwrap_or(&NO_EXTRA)
    }

    /// What it carries beyond the usual, to change.
    fn extra_mut(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    fn waited_ms(&self, now: Millis) -> u64 {
        self.waited_before_ms + self.waiting_since.map_or(0, |s| now.saturating_sub(s))
    }

    fn skips(&self, agent: &AgentId, now: Millis) -> bool {
        self.extra()
            .declined_by
            .iter()
            .any(|(a, until)| a == agent && *until > now)
    }

    fn holder(&self) -> Option<AgentSlot> {
        match self.state {
            State::Queued | State::Parked { .. } | State::WithBot => None,
            State::Offered { agent, .. } | State::Assigned { agent, .. } => Some(agent),
        }
    }
}

/// A routing decision, kept for explanations.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Decision {
    at: Millis,
    agent: AgentId,
    rule: Rule,
}

/// Open conversations by channel and the channel's conversation id: one table per
/// channel, so a lookup by `&str` builds no key.
#[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct ChannelKeys([HashMap<Arc<str>, ConversationId>; Channel::ALL.len()]);

impl ChannelKeys {
    fn get(&self, channel: Channel, key: &str) -> Option<ConversationId> {
        self.0[channel.index()].get(key).copied()
    }

    fn insert(&mut self, channel: Channel, key: Arc<str>, id: ConversationId) {
        self.0[channel.index()].insert(key, id);
    }

    fn remove(&mut self, channel: Channel, key: &str) {
        self.0[channel.index()].remove(key);
    }
}

/// Language tags as conversations carry them, one shared string per tag: a tenant
/// sees a handful, and each conversation would otherwise hold its own copy.
#[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Languages(Vec<Arc<str>>);

/// Distinct language tags kept in [`Languages`]; others get a string of their own.
const LANGUAGES_KEPT: usize = 32;

impl Languages {
    fn intern(&mut self, tag: &str) -> Arc<str> {
        if let Some(known) = self.0.iter().find(|l| ***l == *tag) {
            return known.clone();
        }
        let tag: Arc<str> = Arc::from(tag);
        if self.0.len() < LANGUAGES_KEPT {
            self.0.push(tag.clone());
        }
        tag
    }
}

/// Requirement lists by name, with their named skills and profile per channel class.
type RequirementCache = HashMap<Vec<(String, u8)>, (NamedSkills, [Option<ProfileIndex>; 3])>;

/// Distinct requirement lists remembered by `Router::requirement_profile`; beyond it
/// the cache starts over (it only saves work).
const REQUIREMENT_CACHE_LIMIT: usize = 10_000;

/// Recent adapter message ids kept per conversation for de-duplication.
const RECENT_CLIENT_IDS: usize = 64;

/// Ended conversations a router keeps visible until told otherwise
/// ([`Router::keep_ended`]).
const DEFAULT_ENDED_KEPT: usize = 1_000;

/// One tenant's routing state. See the module doc.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Router {
    #[serde(skip)]
    policy: RoutingPolicy,
    /// Required skills of each configured queue.
    #[serde(skip)]
    queue_skills: Vec<Vec<(String, u8)>>,
    /// Escalation timeline of each configured queue.
    #[serde(skip)]
    queue_escalation: Vec<QueueEscalation>,
    /// Who last served a customer (one person across channels when recognised), and
    /// until when that agent is preferred.
    last_agents: ExpiringMap<CustomerKey, AgentId>,
    /// The people behind conversations, recognised across channels.
    #[serde(default)]
    profiles: Profiles,
    /// Customers' verdicts on bot answers, per intent.
    answer_ratings: AnswerRatings,
    /// Questions the bot could not answer, for operators to teach it from.
    unanswered: UnansweredLog,
    /// What operators taught the bot; the bot is rebuilt from its file plus this.
    taught: Taught,
    /// People whose health is below the churn threshold, kept current as their
    /// profiles change and by a pass over every profile spread over ticks.
    at_risk: AtRiskIndex,
    /// Satisfaction surveys waiting for an answer, and the follow-ups low scores left.
    surveys: Surveys,
    /// Conversations that ended lately, as they ended, for the admin API.
    ended: RecentlyEnded,
    /// What retention forgot since metrics last asked.
    #[serde(skip)]
    forgotten: Forgotten,
    /// Agents held for a return since metrics last asked, by how it ended (not in
    /// snapshots: a replay would count them again).
    #[serde(skip)]
    reconnects: restart::Reconnects,
    /// Every scheduled timer (offer expiries, cooldowns, quiet checks, parked
    /// windows, waits, escalation steps, wrap-ups, boosts, returns after a restart),
    /// cancelled as soon as what it times ends.
    timers: Timers,
    /// Tier names, shared by every offer.
    #[serde(skip)]
    tier_names: Vec<Arc<str>>,
    /// Queue names, shared by every offer.
    #[serde(skip)]
    queue_names: Vec<Arc<str>>,
    /// An empty string, shared by every customer without a display name.
    #[serde(skip)]
    empty: Arc<str>,
    /// Queue notes told, shared by the customers told the same.
    #[serde(skip)]
    queue_texts: QueueTexts,
    /// Language tags seen, shared by the conversations that carry them.
    #[serde(default)]
    languages: Languages,
    /// Requirement lists seen on arrivals, with their named skills and profile per
    /// channel class.
    requirement_cache: RequirementCache,
    /// Open conversations whose requirement names a skill no agent or queue has named
    /// yet; re-resolved when an agent brings a new skill.
    unresolved: BTreeSet<ConversationId>,
    /// Open conversations with agents to skip (`declined_by` not empty): a freed
    /// agent looks at a waiting conversation's declines only for these, not at every
    /// head of its profiles. Derived from the conversations, so not in snapshots.
    #[serde(skip)]
    declining: FxHashSet<ConversationId>,
    /// Sign-in order of the agent chosen last, for round robin.
    round_robin_cursor: u64,
    /// Sign-in counter.
    next_join: u64,
    skills: SkillCatalog,
    /// Open conversations; integer keys, so a fast non-keyed hash is safe. Boxed: the
    /// table holds a pointer per slot rather than a whole conversation, so its spare
    /// slots cost little and growing it moves pointers, not conversations.
    conversations: FxHashMap<ConversationId, Box<Conversation>>,
    /// Open conversations by channel and channel conversation id.
    by_channel_key: ChannelKeys,
    agents: AgentPool,
    waiting: WaitingIndex,
    /// Places kept for customers who left while waiting, by channel and customer id:
    /// the key they had and when the offer to resume it lapses.
    resume_tickets: ExpiringMap<(Channel, Arc<str>), PriorityKey>,
    next_conversation: u64,
    next_seq: u64,
    /// Moving average of handle time (accept to close), for wait estimates.
    average_handle_ms: f64,
    /// When waiting customers' positions are next re-evaluated.
    next_queue_update: Millis,
    /// Where the pass re-evaluating them stands, while one runs: a pass is spread over
    /// ticks so no tick holds the tenant for all waiting conversations at once.
    queue_refresh: Option<timers::RefreshCursor>,
    /// Outbound notifications, and what the caps and replies need.
    #[serde(default)]
    outbox: Outbox,
    /// Follow-ups the triggers scheduled.
    #[serde(default)]
    outbound_follow_ups: FollowUps,
    /// Campaigns, active and finished.
    #[serde(default)]
    campaigns: Campaigns,
    /// Each queue's recent service level, which paces campaigns.
    #[serde(default)]
    service_levels: super::service_level::RecentServiceLevel,
    /// The adapter each channel's customers last wrote through; notifications on
    /// the channel go through it.
    #[serde(default)]
    channel_adapters: [Option<AdapterId>; Channel::ALL.len()],
    /// The outbound templates, from the policy or the last `SetTemplates`.
    #[serde(skip)]
    templates: Templates,
    /// The template set `SetTemplates` put in force, if any: it outlives restarts and
    /// the config file's set.
    #[serde(default)]
    template_sources: Option<Vec<crate::outbound::TemplateSource>>,
    /// Notification outcomes since metrics last asked, per purpose, result (an index
    /// into [`OUTBOUND_RESULTS`]) and channel; kept in snapshots, so a restart reports
    /// them.
    #[serde(default)]
    outbound_counts: HashMap<(ContactPurpose, u8, Option<Channel>), u64>,
    /// Consent withdrawn since metrics last asked, per purpose and how (a reply to
    /// unsubscribe, or the tenant's systems); kept in snapshots like the above.
    #[serde(default)]
    opt_outs: HashMap<(ContactPurpose, OptOutVia), u64>,
    #[serde(skip)]
    events: Vec<Event>,
    #[serde(skip)]
    notices: Vec<Notice>,
}

impl Router {
    /// A router with no agents and no conversations.
    pub fn new(policy: RoutingPolicy) -> Result<Router, RoutingPolicyError> {
        policy.priority.validate()?;
        policy.value.validate().map_err(RoutingPolicyError::Value)?;
        policy
            .health
            .validate()
            .map_err(RoutingPolicyError::Value)?;
        policy
            .survey
            .validate()
            .map_err(RoutingPolicyError::Value)?;
        policy.kpis.validate().map_err(RoutingPolicyError::Value)?;
        policy
            .retention
            .validate()
            .map_err(RoutingPolicyError::Value)?;
        let templates = policy
            .outbound
            .validate()
            .map_err(RoutingPolicyError::Value)?;
        if policy.queues.is_empty() {
            return Err(RoutingPolicyError::NoQueues);
        }
        if policy.agent_reconnect_secs > MAX_AGENT_RECONNECT_SECS {
            return Err(RoutingPolicyError::Value(format!(
                "agent_reconnect_secs: {} s, at most {MAX_AGENT_RECONNECT_SECS}",
                policy.agent_reconnect_secs
            )));
        }
        for (name, value) in [
            ("offer_timeout_ms", policy.offer_timeout_ms),
            ("transcript_limit", policy.transcript_limit as u64),
            (
                "max_open_conversations",
                policy.max_open_conversations as u64,
            ),
        ] {
            if value == 0 {
                return Err(RoutingPolicyError::Zero(name));
            }
        }
        let mut queue_skills = Vec::new();
        let mut queue_escalation = Vec::new();
        for (i, q) in policy.queues.iter().enumerate() {
            if policy.queues[..i].iter().any(|other| other.name == q.name) {
                return Err(RoutingPolicyError::DuplicateQueue(q.name.clone()));
            }
            let parse = |list: &[String]| {
                list.iter()
                    .map(|s| {
                        parse_skill(s).ok_or_else(|| RoutingPolicyError::BadQueueSkill {
                            queue: q.name.clone(),
                            skill: s.clone(),
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            };
            queue_skills.push(parse(&q.required_skills)?);
            queue_escalation.push(QueueEscalation {
                preferred: parse(&q.preferred_skills)?,
                relax_ms: q.relax_preferred_after_secs * 1000,
                overflow_ms: q.overflow_after_secs * 1000,
                overflow: parse(&q.overflow_skills)?,
                max_wait_ms: q.max_wait_secs * 1000,
                fallback_queue: match q.fallback_queue.as_str() {
                    "" => None,
                    name => Some(
                        policy
                            .queues
                            .iter()
                            .position(|other| other.name == name)
                            .ok_or_else(|| RoutingPolicyError::UnknownFallbackQueue {
                                queue: q.name.clone(),
                                fallback: name.to_owned(),
                            })?,
                    ),
                },
                fallback_message: q.fallback_message.clone(),
            });
        }
        let tier_names = policy
            .priority
            .tiers
            .iter()
            .map(|t| Arc::from(t.name.as_str()))
            .collect();
        let queue_names = policy
            .queues
            .iter()
            .map(|q| Arc::from(q.name.as_str()))
            .collect();
        let outbox = Outbox::new(policy.outbound.max_notifications);
        Ok(Router {
            outbox,
            campaigns: Campaigns::default(),
            outbound_follow_ups: FollowUps::default(),
            service_levels: Default::default(),
            channel_adapters: Default::default(),
            templates,
            template_sources: None,
            outbound_counts: HashMap::new(),
            opt_outs: HashMap::new(),
            average_handle_ms: f64::from(policy.default_handle_secs) * 1000.0,
            next_queue_update: 0,
            queue_refresh: None,
            policy,
            queue_skills,
            queue_escalation,
            round_robin_cursor: 0,
            requirement_cache: HashMap::new(),
            unresolved: BTreeSet::new(),
            declining: FxHashSet::default(),
            tier_names,
            queue_names,
            empty: Arc::from(""),
            languages: Languages::default(),
            queue_texts: QueueTexts::default(),
            last_agents: ExpiringMap::default(),
            profiles: Profiles::new(ProfileLimits::default()),
            answer_ratings: AnswerRatings::default(),
            unanswered: UnansweredLog::default(),
            taught: Taught::default(),
            at_risk: AtRiskIndex::default(),
            surveys: Surveys::default(),
            ended: RecentlyEnded::new(DEFAULT_ENDED_KEPT),
            forgotten: Forgotten::default(),
            reconnects: restart::Reconnects::default(),
            timers: Timers::default(),
            next_join: 0,
            skills: SkillCatalog::default(),
            conversations: FxHashMap::default(),
            by_channel_key: ChannelKeys::default(),
            agents: AgentPool::default(),
            waiting: WaitingIndex::default(),
            resume_tickets: ExpiringMap::default(),
            next_conversation: 1,
            next_seq: 1,
            events: Vec::new(),
            notices: Vec::new(),
        })
    }

    /// A router read back from a snapshot, running `policy` from now on. The
    /// snapshot keeps state only; what the policy gives (queue requirements,
    /// escalation timelines, names) comes from `policy`, which must keep the queues
    /// and tiers the snapshot's conversations refer to.
    pub fn adopt_policy(mut self, policy: RoutingPolicy) -> Result<Router, RoutingPolicyError> {
        let fresh = Router::new(policy)?;
        let (queues, tiers) = (fresh.queue_names.len(), fresh.tier_names.len());
        if let Some(c) = self
            .conversations
            .values()
            .find(|c| c.queue >= queues || c.tier >= tiers)
        {
            return Err(RoutingPolicyError::Incompatible(format!(
                "conversation {} is in queue {} and tier {}, beyond the {queues} queues and \
                 {tiers} tiers configured",
                c.id, c.queue, c.tier
            )));
        }
        self.policy = fresh.policy;
        self.queue_skills = fresh.queue_skills;
        self.queue_escalation = fresh.queue_escalation;
        self.tier_names = fresh.tier_names;
        self.queue_names = fresh.queue_names;
        self.empty = fresh.empty;
        self.templates = match &self.template_sources {
            // Checked when set; a policy whose triggers no longer fit it keeps the set
            // anyway (the triggers' sends fail to render and are dropped).
            Some(sources) => crate::outbound::Templates::load(sources).unwrap_or(fresh.templates),
            None => fresh.templates,
        };
        self.outbox
            .set_limit(self.policy.outbound.max_notifications);
        self.declining = self
            .conversations
            .values()
            .filter(|c| !c.extra().declined_by.is_empty())
            .map(|c| c.id)
            .collect();
        Ok(self)
    }

    /// The policy in force.
    pub fn policy(&self) -> &RoutingPolicy {
        &self.policy
    }

    /// The outbound templates notifications are filled from.
    pub fn templates(&self) -> &Templates {
        &self.templates
    }

    /// Skips `agent` for conversation `id` until `until` (a decline or a transfer).
    fn skip_agent(&mut self, id: ConversationId, agent: AgentId, until: Millis) {
        self.conversations
            .get_mut(&id)
            .expect("open conversation")
            .extra_mut()
            .declined_by
            .push((agent, until));
        self.declining.insert(id);
        self.timers.schedule(until, Timer::DeclineCooldown(id));
    }

    /// Takes the events and notices produced since the last drain, in order.
    pub fn drain(&mut self) -> (Vec<Event>, Vec<Notice>) {
        (
            std::mem::take(&mut self.events),
            std::mem::take(&mut self.notices),
        )
    }
}

fn not_offered(id: ConversationId, agent_id: &str) -> RoutingError {
    RoutingError::FailedPrecondition(format!(
        "conversation {id} is not offered to agent {agent_id:?}"
    ))
}

fn customer_notice(c: &Conversation, body: CustomerNoticeBody) -> CustomerNotice {
    CustomerNotice {
        adapter: c.adapter.clone(),
        conversation: c.id,
        channel: c.channel,
        channel_conversation_id: c.channel_conversation_id.clone(),
        customer_id: c.customer.id.clone(),
        body,
    }
}

/// A plain system message to the customer (no buttons, no queue status).
fn system_message(c: &Conversation, text: Arc<str>) -> CustomerNotice {
    system_note(c, text, None)
}

/// A system note telling the customer where they stand in the queue.
fn queue_note(c: &Conversation, text: Arc<str>, status: QueueStatus) -> CustomerNotice {
    system_note(c, text, Some(status))
}

fn system_note(
    c: &Conversation,
    text: Arc<str>,
    queue_status: Option<QueueStatus>,
) -> CustomerNotice {
    customer_notice(
        c,
        CustomerNoticeBody::Message {
            sender: Sender::System,
            text,
            buttons: Vec::new(),
            agent: None,
            queue_status,
        },
    )
}

fn push_transcript(c: &mut Conversation, limit: usize, entry: TranscriptEntry) {
    c.transcript.push_message(limit, entry);
}

fn remember_client_id(c: &mut Conversation, client_id: Option<String>) {
    if let Some(client_id) = client_id {
        if c.recent_client_ids.len() >= RECENT_CLIENT_IDS {
            c.recent_client_ids.pop_front();
        }
        c.recent_client_ids.push_back(client_id.into_boxed_str());
    }
}
