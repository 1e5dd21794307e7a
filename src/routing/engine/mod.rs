//! The router: one tenant's conversations and agents, and every decision about who
//! serves whom.
//!
//! It is a plain state machine. Each operation takes the current time, changes state,
//! and leaves behind ordered [`Event`]s (what changed) and [`Notice`]s (what to tell a
//! customer or an agent), which the caller drains with [`Router::drain`]. It never
//! blocks and never reads a clock, so the gRPC layer serialises calls per tenant
//! behind one lock, and tests and simulations drive it directly in virtual time.

use std::collections::{BTreeSet, HashMap, VecDeque};

use rustc_hash::FxHashMap;
use std::sync::Arc;

mod bots;
pub use bots::language_skill;
mod explain;
mod interface;
mod policy;
mod restart;
mod texts;
mod timers;

pub use explain::{CandidateAgent, Explanation};
pub use interface::{
    AgentNotice, AgentStateCounts, AgentView, AssistSuggestion, AssistSuggestions, BotAction,
    BotTurn, CustomerNotice, CustomerNoticeBody, Handoff, InboundMessage, MessageOutcome, Notice,
    OfferDetails, RoutingError, Rule, SignIn, TransferRequest, Understood,
};
use policy::QueueEscalation;
pub use policy::{
    AgentChoice, BotRouting, EscalationStep, QueueSpec, RoutingPolicy, RoutingPolicyError,
    parse_skill,
};
use texts::{
    handoff_text, is_chinese, queue_text, reconnecting_text, shutdown_text, wait_limit_text,
};

use super::agents::{Agent, AgentPool, AgentSlot, LaneKey};
use super::events::{Event, EventKind, QueueReason, Responder, TransferTarget};
use super::expiring::ExpiringMap;
use super::model::{
    AdapterId, AgentId, Button, Channel, ChannelClass, ConversationId, Customer, EndReason,
    HandoffReason, Millis, PerClass, Presence, QueueStatus, Sender, TranscriptEntry,
};
use super::priority::{Boost, Boosts, PriorityKey};
use super::skills::{LevelledSkills, SkillCatalog, SkillIndex, UNRESOLVED};
use super::waiting::{ProfileIndex, WaitingIndex};

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
    customer: Customer,
    customer_id: Arc<str>,
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
    transcript: VecDeque<TranscriptEntry>,
    /// Recent adapter message ids, for de-duplication.
    recent_client_ids: VecDeque<Box<str>>,
    /// Agents who declined, and until when they are skipped.
    declined_by: Vec<(AgentId, Millis)>,
    /// The queue status the customer was last told, if any.
    told: Option<QueueStatus>,
    /// Boosts in force.
    boosts: Boosts,
    /// How it was last routed, for explanations.
    decided: Option<Decision>,
    /// When the customer last wrote.
    last_customer_at: Millis,
    /// The agent a parked conversation goes back to.
    parked_with: Option<AgentId>,
    /// Escalation step; `None` once a transfer gave it a requirement of its own.
    step: Option<EscalationStep>,
    /// Queue and adapter required skills, the requirement from step 1 on; kept only
    /// while preferred skills still count (step 0).
    base_required: Option<Vec<(String, u8)>>,
    /// When it first waited for a person: escalation steps count from here.
    wait_origin: Millis,
    /// Whether the customer has had a first response.
    responded: bool,
    /// Unsure bot answers in a row.
    bot_misses: u32,
    /// Intent at the handoff, as events and views show it.
    intent: Option<Arc<str>>,
    /// Intent of the bot's last answer, kept for the handoff.
    bot_intent: Option<Arc<str>>,
    /// Why a bot handed it over.
    handoff: Option<HandoffReason>,
}

impl Conversation {
    fn waited_ms(&self, now: Millis) -> u64 {
        self.waited_before_ms + self.waiting_since.map_or(0, |s| now.saturating_sub(s))
    }

    fn skips(&self, agent: &AgentId, now: Millis) -> bool {
        self.declined_by
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

/// Skills by name with their levels, as events and views show them.
pub type NamedSkills = Arc<[(Arc<str>, u8)]>;

/// Requirement lists by name, with their named skills and profile per channel class.
type RequirementCache = HashMap<Vec<(String, u8)>, (NamedSkills, [Option<ProfileIndex>; 3])>;

/// Distinct requirement lists remembered by `Router::requirement_profile`; beyond it
/// the cache starts over (it only saves work).
const REQUIREMENT_CACHE_LIMIT: usize = 10_000;

/// Recent adapter message ids kept per conversation for de-duplication.
const RECENT_CLIENT_IDS: usize = 64;

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
    /// Who last served a customer, by channel and customer id, and until when that
    /// agent is preferred.
    last_agents: ExpiringMap<(Channel, Arc<str>), AgentId>,
    /// When assigned messaging conversations may have gone quiet (stale entries
    /// skipped: the customer wrote since).
    idle_checks: BTreeSet<(Millis, ConversationId)>,
    /// When parked conversations end.
    park_lapses: BTreeSet<(Millis, ConversationId)>,
    /// When conversations with a bot may have gone quiet (stale entries skipped: the
    /// customer wrote since, or a person took over).
    bot_idle_checks: BTreeSet<(Millis, ConversationId)>,
    /// When conversations reach their queue's maximum wait (stale entries skipped).
    max_waits: BTreeSet<(Millis, ConversationId)>,
    /// When conversations reach `max_queue_secs` of waiting, if still waiting then.
    queue_limits: BTreeSet<(Millis, ConversationId)>,
    /// When agents that have not come back after a restart are signed out (stale
    /// entries skipped: the agent signed in again).
    #[serde(default)]
    returns: BTreeSet<(Millis, AgentSlot)>,
    /// Tier names, shared by every offer.
    #[serde(skip)]
    tier_names: Vec<Arc<str>>,
    /// Queue names, shared by every offer.
    #[serde(skip)]
    queue_names: Vec<Arc<str>>,
    /// An empty string, shared by every customer without a display name.
    #[serde(skip)]
    empty: Arc<str>,
    /// Requirement lists seen on arrivals, with their named skills and profile per
    /// channel class.
    requirement_cache: RequirementCache,
    /// Open conversations whose requirement names a skill no agent or queue has named
    /// yet; re-resolved when an agent brings a new skill.
    unresolved: BTreeSet<ConversationId>,
    /// Sign-in order of the agent chosen last, for round robin.
    round_robin_cursor: u64,
    /// Sign-in counter.
    next_join: u64,
    /// When conversations take their next escalation step (stale entries skipped).
    escalations: BTreeSet<(Millis, ConversationId)>,
    skills: SkillCatalog,
    /// Open conversations; integer keys, so a fast non-keyed hash is safe.
    conversations: FxHashMap<ConversationId, Conversation>,
    by_channel_key: HashMap<(Channel, Arc<str>), ConversationId>,
    agents: AgentPool,
    waiting: WaitingIndex,
    /// Offers that expire, by expiry.
    offer_deadlines: BTreeSet<(Millis, ConversationId)>,
    /// Conversations to route again when a decline cooldown ends.
    retries: BTreeSet<(Millis, ConversationId)>,
    /// Places kept for customers who left while waiting, by channel and customer id:
    /// the key they had and when the offer to resume it lapses.
    resume_tickets: ExpiringMap<(Channel, Arc<str>), PriorityKey>,
    /// Wrap-ups that end, by end time (stale entries are skipped).
    wrap_ups: BTreeSet<(Millis, AgentSlot)>,
    /// When waiting conversations get the service-level boost (ended ones are skipped).
    service_level_risks: BTreeSet<(Millis, ConversationId)>,
    next_conversation: u64,
    next_seq: u64,
    /// Moving average of handle time (accept to close), for wait estimates.
    average_handle_ms: f64,
    /// When waiting customers' positions are next re-evaluated.
    next_queue_update: Millis,
    #[serde(skip)]
    events: Vec<Event>,
    #[serde(skip)]
    notices: Vec<Notice>,
}

impl Router {
    /// A router with no agents and no conversations.
    pub fn new(policy: RoutingPolicy) -> Result<Router, RoutingPolicyError> {
        policy.priority.validate()?;
        if policy.queues.is_empty() {
            return Err(RoutingPolicyError::NoQueues);
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
        Ok(Router {
            average_handle_ms: f64::from(policy.default_handle_secs) * 1000.0,
            next_queue_update: 0,
            policy,
            queue_skills,
            queue_escalation,
            escalations: BTreeSet::new(),
            round_robin_cursor: 0,
            requirement_cache: HashMap::new(),
            unresolved: BTreeSet::new(),
            tier_names,
            queue_names,
            empty: Arc::from(""),
            last_agents: ExpiringMap::default(),
            max_waits: BTreeSet::new(),
            queue_limits: BTreeSet::new(),
            returns: BTreeSet::new(),
            idle_checks: BTreeSet::new(),
            park_lapses: BTreeSet::new(),
            bot_idle_checks: BTreeSet::new(),
            next_join: 0,
            skills: SkillCatalog::default(),
            conversations: FxHashMap::default(),
            by_channel_key: HashMap::new(),
            agents: AgentPool::default(),
            waiting: WaitingIndex::default(),
            offer_deadlines: BTreeSet::new(),
            retries: BTreeSet::new(),
            service_level_risks: BTreeSet::new(),
            wrap_ups: BTreeSet::new(),
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
        Ok(self)
    }

    /// The policy in force.
    pub fn policy(&self) -> &RoutingPolicy {
        &self.policy
    }

    /// Takes the events and notices produced since the last drain, in order.
    pub fn drain(&mut self) -> (Vec<Event>, Vec<Notice>) {
        (
            std::mem::take(&mut self.events),
            std::mem::take(&mut self.notices),
        )
    }

    // ----- customers -----

    /// A customer message: opens a conversation (with a first response at once) or
    /// joins the open one with the same channel conversation id.
    pub fn customer_message(
        &mut self,
        now: Millis,
        msg: InboundMessage,
    ) -> Result<MessageOutcome, RoutingError> {
        let channel_key: Arc<str> = Arc::from(msg.channel_conversation_id.as_str());
        if let Some(&id) = self.by_channel_key.get(&(msg.channel, channel_key.clone())) {
            // The conversation belongs to the customer who opened it: the same channel
            // conversation id with another customer is someone else's conversation.
            if *self.conversations[&id].customer.id != *msg.customer_id {
                return Err(RoutingError::NotOwner(format!(
                    "channel_conversation_id: conversation {id} belongs to another customer"
                )));
            }
            return Ok(self.follow_up(now, id, msg));
        }
        if self.conversations.len() >= self.policy.max_open_conversations {
            return Err(RoutingError::Exhausted(format!(
                "tenant has {} open conversations, the configured maximum",
                self.policy.max_open_conversations
            )));
        }
        let queue = match msg.queue.as_deref() {
            None | Some("") => 0,
            Some(name) => self
                .queue_index(name)
                .ok_or_else(|| RoutingError::InvalidArgument {
                    field: "queue",
                    reason: format!("unknown queue {name:?}"),
                })?,
        };
        let mut base_required = self.queue_skills[queue].clone();
        base_required.extend(msg.required_skills.iter().cloned());
        let escalation = &self.queue_escalation[queue];
        let (step, first_requirement, base_required) = if escalation.preferred.is_empty() {
            (EscalationStep::Required, base_required, None)
        } else {
            let mut with_preferred = base_required.clone();
            with_preferred.extend(escalation.preferred.iter().cloned());
            (
                EscalationStep::Preferred,
                with_preferred,
                Some(base_required),
            )
        };
        let (profile, required_names) =
            self.requirement_profile(&first_requirement, msg.channel.class())?;

        let clv = self.policy.priority.clv.lifetime_value(&msg.value);
        let tier = self.policy.priority.tier_of(clv);
        let id = ConversationId(self.next_conversation);
        self.next_conversation += 1;
        let mut key = self.policy.priority.key(tier, msg.boosts, now, id.0);
        let mut reason = QueueReason::New;
        let ticket = (msg.channel, Arc::from(msg.customer_id.as_str()));
        if let Some(kept) = self.resume_tickets.take(&ticket, now)
            && kept < key
        {
            // Back within the window: the place they had, unless the new one is better.
            key = kept;
            reason = QueueReason::Resumed;
        }
        let customer_id: Arc<str> = Arc::from(msg.customer_id.as_str());
        let customer = Customer {
            id: customer_id.clone(),
            display_name: if msg.display_name.is_empty() {
                self.empty.clone()
            } else {
                Arc::from(msg.display_name.as_str())
            },
            clv,
        };
        let with_bot = self.policy.bot.channels.contains(&msg.channel);
        let mut conversation = Conversation {
            id,
            channel: msg.channel,
            channel_conversation_id: channel_key.clone(),
            customer_id,
            customer: customer.clone(),
            tier,
            queue,
            language: Arc::from(msg.language.as_str()),
            adapter: msg.adapter.clone(),
            required_names: required_names.clone(),
            profile,
            key,
            state: if with_bot {
                State::WithBot
            } else {
                State::Queued
            },
            created_at: now,
            waited_before_ms: 0,
            waiting_since: (!with_bot).then_some(now),
            wait_origin: now,
            responded: false,
            bot_misses: 0,
            intent: None,
            bot_intent: None,
            handoff: None,
            transcript: VecDeque::new(),
            recent_client_ids: VecDeque::new(),
            declined_by: Vec::new(),
            told: None,
            boosts: msg.boosts,
            decided: None,
            step: Some(step),
            base_required,
            last_customer_at: now,
            parked_with: None,
        };
        remember_client_id(&mut conversation, msg.client_message_id);
        let text: Arc<str> = Arc::from(msg.text.as_str());
        push_transcript(
            &mut conversation,
            self.policy.transcript_limit,
            TranscriptEntry {
                sender: Sender::Customer,
                text: text.clone(),
                at: now,
                agent: None,
            },
        );
        self.conversations.insert(id, conversation);
        self.track_unresolved(id);
        self.by_channel_key
            .insert((msg.channel, channel_key.clone()), id);
        self.emit(
            now,
            id,
            EventKind::Created {
                channel_conversation_id: channel_key,
                customer,
                required: required_names.clone(),
                with_bot,
                key,
            },
        );
        if with_bot {
            self.bot_turn(now, id, text, true);
        } else {
            self.start_waiting(now, id, reason);
        }
        Ok(MessageOutcome {
            conversation: id,
            created: true,
            duplicate: false,
        })
    }

    /// Puts a conversation in the queue for the first time, starts its waiting timers,
    /// routes it, and tells the customer where they stand.
    fn start_waiting(&mut self, now: Millis, id: ConversationId, reason: QueueReason) {
        let c = &self.conversations[&id];
        let escalation = &self.queue_escalation[c.queue];
        let next_step_in = match c.step {
            Some(EscalationStep::Preferred) => Some(escalation.relax_ms),
            _ if escalation.overflow_ms > 0 => Some(escalation.overflow_ms),
            _ => None,
        };
        let max_wait = escalation.max_wait_ms;
        self.enqueue(now, id, reason);
        if let Some(after) = next_step_in {
            self.escalations.insert((now + after, id));
        }
        let risk_after = self.policy.priority.boosts.service_level_risk_after_secs;
        if risk_after > 0 {
            self.service_level_risks
                .insert((now + risk_after * 1000, id));
        }
        if max_wait > 0 {
            self.max_waits.insert((now + max_wait, id));
        }
        let limit = self.policy.max_queue_secs * 1000;
        if limit > 0 {
            let waited = self.conversations[&id].waited_ms(now);
            self.queue_limits
                .insert((now + limit.saturating_sub(waited), id));
        }
        let offered = self.offer_to_last_agent(now, id) || self.route_conversation(now, id);
        self.queue_note(now, id, offered);
    }

    /// A message in an open conversation: recorded, and relayed to the agent holding it.
    fn follow_up(
        &mut self,
        now: Millis,
        id: ConversationId,
        msg: InboundMessage,
    ) -> MessageOutcome {
        let limit = self.policy.transcript_limit;
        let conversation = self
            .conversations
            .get_mut(&id)
            .expect("indexed conversation");
        let outcome = MessageOutcome {
            conversation: id,
            created: false,
            duplicate: false,
        };
        if let Some(client_id) = msg.client_message_id.as_deref()
            && conversation
                .recent_client_ids
                .iter()
                .any(|seen| &**seen == client_id)
        {
            return MessageOutcome {
                duplicate: true,
                ..outcome
            };
        }
        remember_client_id(conversation, msg.client_message_id);
        // Replies go to the adapter instance the customer last wrote through.
        if conversation.adapter != msg.adapter {
            conversation.adapter = msg.adapter;
        }
        let text: Arc<str> = Arc::from(msg.text.as_str());
        push_transcript(
            conversation,
            limit,
            TranscriptEntry {
                sender: Sender::Customer,
                text: text.clone(),
                at: now,
                agent: None,
            },
        );
        conversation.last_customer_at = now;
        if matches!(conversation.state, State::Assigned { .. })
            && self.policy.idle_release_ms > 0
            && conversation.channel.class() == ChannelClass::Messaging
        {
            self.idle_checks
                .insert((now + self.policy.idle_release_ms, id));
        }
        match (conversation.state, conversation.holder()) {
            (State::WithBot, _) => self.bot_turn(now, id, text, false),
            (State::Parked { .. }, _) => self.unpark(now, id),
            (_, Some(slot)) => {
                let agent = self.agent_id(slot);
                self.notices.push(Notice::ToAgent {
                    agent,
                    notice: AgentNotice::CustomerMessage {
                        conversation: id,
                        text,
                        at: now,
                    },
                });
            }
            (_, None) => {}
        }
        for boost in msg.boosts.iter() {
            self.boost(now, id, boost);
        }
        outcome
    }

    /// The customer left: the conversation ends wherever it is.
    pub fn abandon(
        &mut self,
        now: Millis,
        channel: Channel,
        channel_conversation_id: &str,
        customer_id: &str,
    ) -> Result<ConversationId, RoutingError> {
        let id = *self
            .by_channel_key
            .get(&(channel, Arc::from(channel_conversation_id)))
            .ok_or_else(|| {
                RoutingError::ConversationNotFound(format!(
                    "with channel conversation id {channel_conversation_id:?}"
                ))
            })?;
        let conversation = &self.conversations[&id];
        if *conversation.customer.id != *customer_id {
            return Err(RoutingError::NotOwner(format!(
                "customer_id: conversation {id} belongs to another customer"
            )));
        }
        let waited_ms = conversation.waited_ms(now);
        let state = conversation.state;
        let while_waiting = matches!(state, State::Queued | State::Offered { .. });
        match state {
            State::Queued | State::Parked { .. } | State::WithBot => {}
            State::Offered { agent, .. } => {
                let agent_id = self.agent_id(agent);
                self.notices.push(Notice::ToAgent {
                    agent: agent_id,
                    notice: AgentNotice::OfferWithdrawn {
                        conversation: id,
                        reason: "abandoned",
                    },
                });
            }
            State::Assigned { agent, .. } => {
                let agent_id = self.agent_id(agent);
                self.notices.push(Notice::ToAgent {
                    agent: agent_id,
                    notice: AgentNotice::Ended {
                        conversation: id,
                        reason: EndReason::Abandoned,
                    },
                });
            }
        }
        self.emit(
            now,
            id,
            EventKind::Abandoned {
                waited_ms,
                while_waiting,
            },
        );
        let window = self.policy.resume_window_ms;
        if while_waiting && window > 0 {
            let c = &self.conversations[&id];
            let lapses = now + window;
            let ticket = (c.channel, c.customer_id.clone());
            self.resume_tickets.insert(ticket, c.key, lapses);
        }
        let freed = self.end(now, id);
        if let Some(slot) = freed {
            self.fill_agent(now, slot);
        }
        Ok(id)
    }

    /// The server is shutting down with nothing to carry conversations over: every
    /// open conversation ends, its customer told the service is restarting
    /// (`EndReason::Shutdown`) and its agent told it ended. Returns how many ended.
    pub fn shut_down(&mut self, now: Millis) -> usize {
        let mut ids: Vec<ConversationId> = self.conversations.keys().copied().collect();
        ids.sort_unstable();
        for &id in &ids {
            let c = &self.conversations[&id];
            let waited_ms = c.waited_ms(now);
            let while_waiting = matches!(c.state, State::Queued | State::Offered { .. });
            let message = customer_notice(
                c,
                CustomerNoticeBody::Message {
                    sender: Sender::System,
                    text: Arc::from(shutdown_text(&c.language)),
                    buttons: Vec::new(),
                    agent: None,
                    queue_status: None,
                },
            );
            let closed = customer_notice(c, CustomerNoticeBody::Closed(EndReason::Shutdown));
            let agent_notice = match c.state {
                State::Offered { agent, .. } => Some((
                    agent,
                    AgentNotice::OfferWithdrawn {
                        conversation: id,
                        reason: "shutdown",
                    },
                )),
                State::Assigned { agent, .. } => Some((
                    agent,
                    AgentNotice::Ended {
                        conversation: id,
                        reason: EndReason::Shutdown,
                    },
                )),
                _ => None,
            };
            self.notices.push(Notice::ToCustomer(message));
            self.notices.push(Notice::ToCustomer(closed));
            if let Some((slot, notice)) = agent_notice {
                let agent = self.agent_id(slot);
                self.notices.push(Notice::ToAgent { agent, notice });
            }
            self.emit(
                now,
                id,
                EventKind::Abandoned {
                    waited_ms,
                    while_waiting,
                },
            );
            self.end(now, id);
        }
        ids.len()
    }

    // ----- agents -----

    /// Signs an agent in; offers follow at once if conversations wait for them.
    pub fn sign_in(&mut self, now: Millis, sign_in: SignIn) -> Result<(), RoutingError> {
        let returning = self.agents.slot_of(&sign_in.agent_id);
        if returning.is_some_and(|slot| !self.is_returning(slot)) {
            return Err(RoutingError::AlreadySignedIn(sign_in.agent_id));
        }
        if sign_in.capacity.total() == 0 {
            return Err(RoutingError::InvalidArgument {
                field: "capacity",
                reason: "at least one channel class needs capacity above 0".to_owned(),
            });
        }
        if let Some(slot) = returning {
            self.rejoin(now, slot, sign_in);
            return Ok(());
        }
        let brings_new = sign_in
            .skills
            .iter()
            .any(|(name, _)| self.skills.get(name).is_none());
        let (skills, skill_names) = self.requirement(&sign_in.skills, "skills")?;
        if brings_new {
            self.resolve_waiting_skills();
        }
        let agent = Agent::new(
            Arc::from(sign_in.agent_id.as_str()),
            sign_in.display_name,
            skills,
            skill_names.to_vec(),
            sign_in.capacity,
            sign_in.presence,
        );
        self.next_join += 1;
        let mut agent = agent;
        agent.joined = self.next_join;
        let slot = self.agents.insert(agent, now);
        self.fill_agent(now, slot);
        Ok(())
    }

    /// The agent's session ended: every conversation it held is routed again, keeping
    /// its place in the queue.
    pub fn sign_out(&mut self, now: Millis, agent_id: &str) -> Result<(), RoutingError> {
        let slot = self.agent_slot(agent_id)?;
        let mut held = self
            .agents
            .get(slot)
            .expect("signed in")
            .conversations
            .clone();
        for &id in &held {
            self.release_to_queue(now, id, QueueReason::AgentLost);
        }
        self.agents.remove(slot);
        // Route them best place first, so one agent with room for only some of them
        // takes the one the serving order puts first, not the one held longest.
        held.sort_by_key(|id| self.conversations[id].key);
        for id in held {
            self.route_conversation(now, id);
        }
        Ok(())
    }

    /// The agent changes presence; becoming available pulls waiting conversations.
    pub fn set_presence(
        &mut self,
        now: Millis,
        agent_id: &str,
        presence: Presence,
    ) -> Result<(), RoutingError> {
        if presence == Presence::WrapUp {
            return Err(RoutingError::InvalidArgument {
                field: "set_presence.presence",
                reason: "wrap-up is set by the router, not by agents".to_owned(),
            });
        }
        let slot = self.agent_slot(agent_id)?;
        self.agents.update(slot, now, |a| a.presence = presence);
        self.fill_agent(now, slot);
        Ok(())
    }

    /// The agent takes an offered conversation.
    pub fn accept(
        &mut self,
        now: Millis,
        agent_id: &str,
        conversation: &str,
    ) -> Result<(), RoutingError> {
        let (slot, id, expires_at) = self.offer_to(agent_id, conversation)?;
        let c = self.conversations.get_mut(&id).expect("open conversation");
        self.offer_deadlines.remove(&(expires_at, id));
        c.state = State::Assigned {
            agent: slot,
            since: now,
        };
        if self.policy.idle_release_ms > 0 && c.channel.class() == ChannelClass::Messaging {
            self.idle_checks.insert((
                c.last_customer_at.max(now) + self.policy.idle_release_ms,
                id,
            ));
        }
        c.waited_before_ms = c.waited_ms(now);
        c.waiting_since = None;
        let waited_ms = c.waited_before_ms;
        let agent_id = self.agent_id(slot);
        self.emit(
            now,
            id,
            EventKind::Accepted {
                agent: agent_id,
                waited_ms,
            },
        );
        Ok(())
    }

    /// The agent turns down an offer: the conversation keeps its place and is not
    /// offered to this agent again for the decline cooldown.
    pub fn decline(
        &mut self,
        now: Millis,
        agent_id: &str,
        conversation: &str,
    ) -> Result<(), RoutingError> {
        let (slot, id, _) = self.offer_to(agent_id, conversation)?;
        let until = now + self.policy.decline_cooldown_ms;
        let agent = self.agent_id(slot);
        self.conversations
            .get_mut(&id)
            .expect("open conversation")
            .declined_by
            .push((agent, until));
        self.retries.insert((until, id));
        self.release_to_queue(now, id, QueueReason::Declined);
        self.route_conversation(now, id);
        self.fill_agent(now, slot);
        Ok(())
    }

    /// The agent writes to the customer.
    pub fn reply(
        &mut self,
        now: Millis,
        agent_id: &str,
        conversation: &str,
        text: &str,
    ) -> Result<(), RoutingError> {
        let (slot, id) = self.owned(agent_id, conversation)?;
        let agent = self.agent_id(slot);
        let limit = self.policy.transcript_limit;
        let text: Arc<str> = Arc::from(text);
        let c = self.conversations.get_mut(&id).expect("open conversation");
        push_transcript(
            c,
            limit,
            TranscriptEntry {
                sender: Sender::Agent,
                text: text.clone(),
                at: now,
                agent: Some(agent.clone()),
            },
        );
        let notice = customer_notice(
            c,
            CustomerNoticeBody::Message {
                sender: Sender::Agent,
                text,
                buttons: Vec::new(),
                agent: Some(agent),
                queue_status: None,
            },
        );
        self.notices.push(Notice::ToCustomer(notice));
        Ok(())
    }

    /// The agent hands the conversation on; it keeps its transcript and its place.
    pub fn transfer(
        &mut self,
        now: Millis,
        agent_id: &str,
        conversation: &str,
        target: TransferRequest,
    ) -> Result<(), RoutingError> {
        let (slot, id) = self.owned(agent_id, conversation)?;
        let from = self.agent_id(slot);
        let class = self.conversations[&id].channel.class();
        match target {
            TransferRequest::Agent(target) => {
                let target_slot = self
                    .agents
                    .slot_of(&target)
                    .ok_or_else(|| RoutingError::AgentNotFound(target.clone()))?;
                if target_slot == slot {
                    return Err(RoutingError::InvalidArgument {
                        field: "transfer.agent_id",
                        reason: "cannot transfer to yourself".to_owned(),
                    });
                }
                let to = self.agents.get(target_slot).expect("signed in");
                if to.presence != Presence::Available || !to.has_room(class) {
                    return Err(RoutingError::FailedPrecondition(format!(
                        "agent {target:?} is not available or has no free {class:?} capacity"
                    )));
                }
                let to_id = to.id.clone();
                self.detach(now, id, slot);
                self.emit(
                    now,
                    id,
                    EventKind::Transferred {
                        from,
                        target: TransferTarget::Agent(to_id),
                    },
                );
                let c = self.conversations.get_mut(&id).expect("open conversation");
                c.waiting_since = Some(now);
                self.offer(now, id, target_slot, Rule::TransferToAgent);
            }
            TransferRequest::Skill(skill) => {
                let (required, names) = self.conversation_requirement(&[(skill.clone(), 1)]);
                self.requeue_elsewhere(now, id, slot, required, names);
                self.emit_transfer_and_queue(
                    now,
                    id,
                    from,
                    TransferTarget::Skill(Arc::from(skill)),
                );
            }
            TransferRequest::Queue(name) => {
                let queue =
                    self.queue_index(&name)
                        .ok_or_else(|| RoutingError::InvalidArgument {
                            field: "transfer.queue",
                            reason: format!("unknown queue {name:?}"),
                        })?;
                let skills = self.queue_skills[queue].clone();
                let (required, names) = self.conversation_requirement(&skills);
                self.requeue_elsewhere(now, id, slot, required, names);
                self.conversations.get_mut(&id).expect("open").queue = queue;
                self.emit_transfer_and_queue(now, id, from, TransferTarget::Queue(queue));
            }
        }
        self.fill_agent(now, slot);
        Ok(())
    }

    /// The agent closes the conversation.
    pub fn close(
        &mut self,
        now: Millis,
        agent_id: &str,
        conversation: &str,
    ) -> Result<(), RoutingError> {
        let (slot, id) = self.owned(agent_id, conversation)?;
        if let State::Assigned { since, .. } = self.conversations[&id].state {
            let handle_ms = now.saturating_sub(since) as f64;
            self.average_handle_ms = 0.8 * self.average_handle_ms + 0.2 * handle_ms;
        }
        let agent = self.agent_id(slot);
        let notice = customer_notice(
            &self.conversations[&id],
            CustomerNoticeBody::Closed(EndReason::ClosedByAgent),
        );
        self.notices.push(Notice::ToCustomer(notice));
        self.emit(
            now,
            id,
            EventKind::Closed {
                agent: agent.clone(),
            },
        );
        let window = self.policy.last_agent_window_ms;
        if window > 0 {
            let c = &self.conversations[&id];
            let key = (c.channel, c.customer_id.clone());
            self.last_agents.insert(key, agent.clone(), now + window);
        }
        self.end(now, id);
        let wrap_up = self.policy.wrap_up_ms;
        let available = self.agents.get(slot).map(|a| a.presence) == Some(Presence::Available);
        if wrap_up > 0 && available {
            let until = now + wrap_up;
            self.agents.update(slot, now, |a| a.wrap_up_until = until);
            self.wrap_ups.insert((until, slot));
            self.change_presence(now, slot, Presence::WrapUp, "wrap_up");
        }
        self.fill_agent(now, slot);
        Ok(())
    }

    /// A presence change the router makes (offer timeout, wrap-up): applied, and the
    /// agent's desk told why.
    fn change_presence(
        &mut self,
        now: Millis,
        slot: AgentSlot,
        presence: Presence,
        reason: &'static str,
    ) {
        let agent = self.agents.update(slot, now, |a| {
            a.presence = presence;
            a.id.clone()
        });
        self.notices.push(Notice::ToAgent {
            agent,
            notice: AgentNotice::PresenceChanged { presence, reason },
        });
    }

    // ----- views -----

    /// Signed-in agents, ordered by id.
    pub fn agents(&self, now: Millis) -> Vec<AgentView> {
        let mut views: Vec<AgentView> = self
            .agents
            .iter()
            .map(|(_, a)| AgentView {
                id: a.id.clone(),
                display_name: a.display_name.clone(),
                presence: a.presence,
                skills: a.skill_names.clone(),
                capacity: a.capacity,
                load: a.load,
                idle_ms: if a.load.total() == 0 {
                    now.saturating_sub(a.last_active_at)
                } else {
                    0
                },
                conversations: a.conversations.clone(),
            })
            .collect();
        views.sort_by(|a, b| a.id.cmp(&b.id));
        views
    }

    /// One open conversation's routing state, in the shape the event-built
    /// [`super::board::Board`] keeps, so the two can be compared.
    pub fn snapshot(&self, id: ConversationId) -> Option<super::board::ConversationSnapshot> {
        use super::board::ConversationState as S;
        let c = self.conversations.get(&id)?;
        let (state, agent) = match c.state {
            State::Queued => (S::Queued, None),
            State::Offered { agent, .. } => (S::Offered, Some(self.agent_id(agent))),
            State::Assigned { agent, .. } => (S::Assigned, Some(self.agent_id(agent))),
            State::Parked { .. } => (S::Parked, c.parked_with.clone()),
            State::WithBot => (S::WithBot, None),
        };
        Some(super::board::ConversationSnapshot {
            id,
            channel: c.channel,
            channel_conversation_id: c.channel_conversation_id.clone(),
            customer: c.customer.clone(),
            tier: c.tier,
            queue: c.queue,
            state,
            agent,
            required: c.required_names.clone(),
            key: c.key,
            waited_before_ms: c.waited_before_ms,
            waiting_since: c.waiting_since,
            intent: c.intent.clone(),
            handoff: c.handoff,
        })
    }

    /// The transcript of an open conversation, oldest first.
    pub fn transcript(&self, id: ConversationId) -> Option<Vec<TranscriptEntry>> {
        self.conversations
            .get(&id)
            .map(|c| c.transcript.iter().cloned().collect())
    }

    /// Ids of every open conversation.
    pub fn open_ids(&self) -> Vec<ConversationId> {
        self.conversations.keys().copied().collect()
    }

    /// Conversations waiting for an agent.
    pub fn waiting_len(&self) -> usize {
        self.waiting.len()
    }

    /// The adapter that carries an open conversation's replies to its customer.
    pub fn adapter_of(&self, id: ConversationId) -> Option<&AdapterId> {
        self.conversations.get(&id).map(|c| &c.adapter)
    }

    /// Open conversations.
    pub fn open_len(&self) -> usize {
        self.conversations.len()
    }

    /// Agents by state, and load and capacity per class, for gauges.
    pub fn agent_state_counts(&self) -> AgentStateCounts {
        let mut counts = AgentStateCounts::default();
        for (_, a) in self.agents.iter() {
            for class in ChannelClass::ALL {
                *counts.load.get_mut(class) += a.load.get(class);
                *counts.capacity.get_mut(class) += a.capacity.get(class);
            }
            match a.presence {
                Presence::Away => counts.away += 1,
                Presence::WrapUp => counts.wrap_up += 1,
                Presence::Available if ChannelClass::ALL.iter().any(|&c| a.has_room(c)) => {
                    counts.available += 1
                }
                Presence::Available => counts.busy += 1,
            }
        }
        counts
    }

    /// Value tier names, by index.
    pub fn tier_name(&self, tier: usize) -> &str {
        &self.policy.priority.tiers[tier].name
    }

    /// Queue names, by index.
    pub fn queue_name(&self, queue: usize) -> &str {
        &self.policy.queues[queue].name
    }

    /// Checks every internal invariant; `Err` names the first one broken. Used by tests
    /// and property tests after every step.
    pub fn check_invariants(&self) -> Result<(), String> {
        if self
            .unresolved
            .iter()
            .any(|id| !self.conversations.contains_key(id))
        {
            return Err("an ended conversation is still tracked as unresolved".into());
        }
        let mut waiting = 0;
        for (id, c) in &self.conversations {
            let names_unknown = c
                .required_names
                .iter()
                .any(|(n, _)| self.skills.get(n).is_none());
            if names_unknown != self.unresolved.contains(id) {
                return Err(format!("{id}: unresolved skills not tracked"));
            }
            let marked = self
                .waiting
                .profile(c.profile)
                .required
                .level_of(UNRESOLVED)
                .is_some();
            if names_unknown != marked {
                return Err(format!(
                    "{id}: profile and skill names disagree on unknown skills"
                ));
            }
            match c.state {
                State::Queued => {
                    waiting += 1;
                    if !self
                        .waiting
                        .profile(c.profile)
                        .waiting
                        .contains(&(c.key, *id))
                    {
                        return Err(format!("{id} queued but not in its profile"));
                    }
                }
                State::Offered { agent, expires_at } => {
                    if !self.offer_deadlines.contains(&(expires_at, *id)) {
                        return Err(format!("{id} offered without a deadline"));
                    }
                    self.check_held(*id, agent)?;
                }
                State::Assigned { agent, .. } => self.check_held(*id, agent)?,
                State::Parked { until } => {
                    if !self.park_lapses.contains(&(until, *id)) || c.parked_with.is_none() {
                        return Err(format!("{id} parked without a lapse or an agent"));
                    }
                }
                State::WithBot => {
                    if c.waiting_since.is_some() {
                        return Err(format!("{id} with a bot but counted as waiting"));
                    }
                }
            }
        }
        if waiting != self.waiting.len() {
            return Err(format!(
                "{waiting} conversations queued but {} in the waiting index",
                self.waiting.len()
            ));
        }
        for (_, a) in self.agents.iter() {
            let mut load = PerClass::default();
            for id in &a.conversations {
                let c = self
                    .conversations
                    .get(id)
                    .ok_or_else(|| format!("agent {} holds closed {id}", a.id))?;
                *load.get_mut(c.channel.class()) += 1;
            }
            if load != a.load {
                return Err(format!(
                    "agent {} load {:?} but holds {:?}",
                    a.id, a.load, load
                ));
            }
            if ChannelClass::ALL
                .iter()
                .any(|&cl| a.load.get(cl) > a.capacity.get(cl))
            {
                return Err(format!("agent {} over capacity", a.id));
            }
        }
        if !self.agents.lanes_are_consistent() {
            return Err("agent lanes out of step".to_owned());
        }
        Ok(())
    }

    fn check_held(&self, id: ConversationId, slot: AgentSlot) -> Result<(), String> {
        let agent = self
            .agents
            .get(slot)
            .ok_or_else(|| format!("{id} held by a signed-out agent"))?;
        if agent.conversations.iter().filter(|&&c| c == id).count() != 1 {
            return Err(format!("{id} not held exactly once by agent {}", agent.id));
        }
        Ok(())
    }

    // ----- routing decisions -----

    /// Offers a queued conversation to the longest-idle eligible agent with room, if
    /// any; true when offered.
    fn route_conversation(&mut self, now: Millis, id: ConversationId) -> bool {
        let c = &self.conversations[&id];
        if c.state != State::Queued {
            return false;
        }
        let profile = self.waiting.profile(c.profile);
        let class = profile.class;
        // Every eligible agent holds every required skill: search the shortest lane.
        let lane = profile
            .skills
            .iter()
            .map(|&s| LaneKey::Skill(s))
            .min_by_key(|&lane| self.agents.lane_len(lane))
            .unwrap_or(LaneKey::All);
        let accept = |a: &Agent| {
            a.has_room(class) && profile.required.satisfied_by(&a.skills) && !c.skips(&a.id, now)
        };
        let top_tier = c.tier + 1 == self.policy.priority.tiers.len();
        let choice = if top_tier && self.policy.top_tier_to_most_proficient {
            AgentChoice::MostProficient
        } else {
            self.policy.agent_choice
        };
        let chosen = match choice {
            AgentChoice::LongestIdle => self.agents.find_ready(lane, accept),
            other => {
                // Every candidate is weighed: these strategies cost a walk of the lane.
                let candidates = self.agents.ready_candidates(lane, accept);
                let agents = &self.agents;
                let required = &profile.required;
                let pick = |score: &dyn Fn(&Agent) -> i64| {
                    // Lane order is longest idle first, so the first best wins ties.
                    candidates
                        .iter()
                        .map(|&slot| (slot, score(agents.get(slot).expect("candidate"))))
                        .fold(
                            None,
                            |best: Option<(AgentSlot, i64)>, (slot, s)| match best {
                                Some((_, b)) if b >= s => best,
                                _ => Some((slot, s)),
                            },
                        )
                        .map(|(slot, _)| slot)
                };
                match other {
                    AgentChoice::LeastOccupied => pick(&|a| {
                        -(i64::from(a.load.get(class)) * 1_000_000
                            / i64::from(a.capacity.get(class).max(1)))
                    }),
                    AgentChoice::MostProficient => pick(&|a| {
                        required
                            .entries()
                            .map(|(skill, _)| i64::from(a.skills.level_of(skill).unwrap_or(0)))
                            .sum()
                    }),
                    _ => {
                        // Round robin: the first agent in sign-in order after the last one
                        // chosen, wrapping around.
                        let cursor = self.round_robin_cursor;
                        pick(&|a| {
                            let order = a.joined as i64;
                            if a.joined > cursor {
                                -order
                            } else {
                                i64::MIN / 2 - order
                            }
                        })
                    }
                }
            }
        };
        match chosen {
            Some(slot) => {
                if let Some(a) = self.agents.get(slot) {
                    self.round_robin_cursor = a.joined;
                }
                let rule = match choice {
                    AgentChoice::LongestIdle => Rule::LongestIdleEligible,
                    AgentChoice::LeastOccupied => Rule::LeastOccupiedEligible,
                    AgentChoice::MostProficient => Rule::MostProficientEligible,
                    AgentChoice::RoundRobin => Rule::RoundRobinEligible,
                };
                self.offer(now, id, slot, rule);
                true
            }
            None => false,
        }
    }

    /// Offers an agent the best waiting conversations it is eligible for, while it has
    /// room: work conservation when capacity frees.
    fn fill_agent(&mut self, now: Millis, slot: AgentSlot) {
        loop {
            let Some(agent) = self.agents.get_mut(slot) else {
                return;
            };
            if agent.presence != Presence::Available {
                return;
            }
            // Profiles are append-only: check only those created since last time.
            let profiles = self.waiting.profiles();
            for (p, profile) in profiles.iter().enumerate().skip(agent.profiles_seen) {
                if profile.required.satisfied_by(&agent.skills) {
                    agent.eligible_profiles.push(p);
                }
            }
            agent.profiles_seen = profiles.len();
            let agent = &*agent;
            let best = agent
                .eligible_profiles
                .iter()
                .map(|&p| &profiles[p])
                .filter(|p| agent.has_room(p.class))
                .filter_map(|p| {
                    p.waiting
                        .iter()
                        .find(|(_, id)| !self.conversations[id].skips(&agent.id, now))
                        .copied()
                })
                .min();
            match best {
                Some((_, id)) => self.offer(now, id, slot, Rule::BestWaitingForFreedAgent),
                None => return,
            }
        }
    }

    /// Offers a conversation (queued, or just detached for a transfer) to an agent.
    fn offer(&mut self, now: Millis, id: ConversationId, slot: AgentSlot, rule: Rule) {
        let expires_at = now + self.policy.offer_timeout_ms;
        let c = self.conversations.get_mut(&id).expect("open conversation");
        if c.state == State::Queued {
            self.waiting.remove(c.profile, c.key, id);
        }
        c.state = State::Offered {
            agent: slot,
            expires_at,
        };

        let class = c.channel.class();
        let waited_ms = c.waited_ms(now);
        self.offer_deadlines.insert((expires_at, id));
        let agent = self.agents.update(slot, now, |a| {
            *a.load.get_mut(class) += 1;
            a.conversations.push(id);
            a.id.clone()
        });
        self.conversations
            .get_mut(&id)
            .expect("open conversation")
            .decided = Some(Decision {
            at: now,
            agent: agent.clone(),
            rule,
        });
        let details = self.offer_details(id, waited_ms);
        self.notices.push(Notice::ToAgent {
            agent: agent.clone(),
            notice: AgentNotice::Offer(Box::new(details)),
        });
        self.emit(now, id, EventKind::Offered { agent, waited_ms });
    }

    /// What an agent is shown of a conversation offered or given back to them.
    fn offer_details(&self, id: ConversationId, waited_ms: u64) -> OfferDetails {
        let c = &self.conversations[&id];
        OfferDetails {
            conversation: id,
            channel: c.channel,
            customer: c.customer.clone(),
            tier: self.tier_names[c.tier].clone(),
            queue: self.queue_names[c.queue].clone(),
            transcript: c.transcript.iter().cloned().collect(),
            waited_ms,
            language: c.language.clone(),
            intent: c.intent.clone(),
            handoff: c.handoff,
        }
    }

    // ----- state changes -----

    /// Puts a queued-state conversation into its profile and records the event.
    fn enqueue(&mut self, now: Millis, id: ConversationId, reason: QueueReason) {
        let c = self.conversations.get_mut(&id).expect("open conversation");
        if reason != QueueReason::New {
            // Back in the queue: whatever they were told no longer holds.
            c.told = None;
        }
        c.state = State::Queued;
        if c.waiting_since.is_none() {
            c.waiting_since = Some(now);
        }
        self.waiting.insert(c.profile, c.key, id);
        let (key, required) = (c.key, c.required_names.clone());
        self.emit(
            now,
            id,
            EventKind::Queued {
                reason,
                key,
                required,
            },
        );
    }

    /// Takes a conversation from the agent holding it and puts it back in its place.
    fn release_to_queue(&mut self, now: Millis, id: ConversationId, reason: QueueReason) {
        let c = &self.conversations[&id];
        if let Some(slot) = c.holder() {
            let was_assigned = matches!(c.state, State::Assigned { .. });
            self.detach(now, id, slot);
            if was_assigned {
                let notice = customer_notice(
                    &self.conversations[&id],
                    CustomerNoticeBody::Message {
                        sender: Sender::System,
                        text: Arc::from(reconnecting_text(&self.conversations[&id].language)),
                        buttons: Vec::new(),
                        agent: None,
                        queue_status: None,
                    },
                );
                self.notices.push(Notice::ToCustomer(notice));
            }
        }
        self.enqueue(now, id, reason);
    }

    /// Detaches a conversation from the agent holding it (offer or assignment),
    /// freeing the agent's capacity. The conversation is left without a state owner;
    /// the caller queues, offers or ends it.
    fn detach(&mut self, now: Millis, id: ConversationId, slot: AgentSlot) {
        let c = self.conversations.get_mut(&id).expect("open conversation");
        match c.state {
            State::Offered { expires_at, .. } => {
                self.offer_deadlines.remove(&(expires_at, id));
            }
            State::Assigned { .. } => c.waiting_since = Some(now),
            State::Queued | State::Parked { .. } | State::WithBot => return,
        }
        let class = c.channel.class();
        c.state = State::Queued;
        self.agents.update(slot, now, |a| {
            *a.load.get_mut(class) -= 1;
            a.conversations.retain(|&held| held != id);
        });
    }

    /// Moves an assigned conversation to a new requirement and back to the queue.
    fn requeue_elsewhere(
        &mut self,
        now: Millis,
        id: ConversationId,
        slot: AgentSlot,
        required: LevelledSkills,
        names: NamedSkills,
    ) {
        self.detach(now, id, slot);
        let class = self.conversations[&id].channel.class();
        let profile = self.waiting.profile_for(&required, class);
        let c = self.conversations.get_mut(&id).expect("open conversation");
        c.profile = profile;
        c.required_names = names;
        c.declined_by.clear();
        c.step = None;
        self.track_unresolved(id);
    }

    fn emit_transfer_and_queue(
        &mut self,
        now: Millis,
        id: ConversationId,
        from: AgentId,
        target: TransferTarget,
    ) {
        self.emit(
            now,
            id,
            EventKind::Transferred {
                from: from.clone(),
                target,
            },
        );
        self.enqueue(now, id, QueueReason::Transferred);
        // The transferring agent wanted someone else: skip them for the decline
        // cooldown. Their freed capacity goes to the best conversation they can serve
        // before this one is routed, so the serving order holds.
        let until = now + self.policy.decline_cooldown_ms;
        self.conversations
            .get_mut(&id)
            .expect("open conversation")
            .declined_by
            .push((from.clone(), until));
        self.retries.insert((until, id));
        if let Some(slot) = self.agents.slot_of(&from) {
            self.fill_agent(now, slot);
        }
        self.route_conversation(now, id);
    }

    /// Removes a conversation for good; returns the agent that held it, whose
    /// capacity is now free.
    fn end(&mut self, now: Millis, id: ConversationId) -> Option<AgentSlot> {
        let holder = self.conversations[&id].holder();
        if let Some(slot) = holder {
            self.detach(now, id, slot);
        }
        let c = self.conversations.remove(&id).expect("open conversation");
        self.waiting.remove(c.profile, c.key, id);
        self.unresolved.remove(&id);
        self.by_channel_key
            .remove(&(c.channel, c.channel_conversation_id));
        holder
    }

    /// A system note with the queue status, for a conversation that just started
    /// waiting; it is the first response unless a bot already answered.
    fn queue_note(&mut self, now: Millis, id: ConversationId, offered: bool) {
        let c = &self.conversations[&id];
        let status = if offered {
            QueueStatus {
                position: 0,
                estimated_wait_secs: 0,
            }
        } else {
            let position = self.waiting.position(c.profile, c.key, id);
            self.queue_status(c.channel.class(), position)
        };
        let text = if c.handoff.is_some() {
            handoff_text(&c.language, status)
        } else {
            queue_text(&c.language, status)
        };
        let notice = customer_notice(
            c,
            CustomerNoticeBody::Message {
                sender: Sender::System,
                text: Arc::from(text),
                buttons: Vec::new(),
                agent: None,
                queue_status: Some(status),
            },
        );
        let c = &mut self.conversations.get_mut(&id).expect("open conversation");
        let entry = TranscriptEntry {
            sender: Sender::System,
            text: match &notice.body {
                CustomerNoticeBody::Message { text, .. } => text.clone(),
                CustomerNoticeBody::Closed(_) => unreachable!(),
            },
            at: now,
            agent: None,
        };
        push_transcript(c, self.policy.transcript_limit, entry);
        c.told = Some(status);
        self.notices.push(Notice::ToCustomer(notice));
        self.mark_responded(now, id, Responder::System);
    }

    /// Records the first response of a conversation, once.
    fn mark_responded(&mut self, now: Millis, id: ConversationId, responder: Responder) {
        let c = self.conversations.get_mut(&id).expect("open conversation");
        if c.responded {
            return;
        }
        c.responded = true;
        let latency_ms = now.saturating_sub(c.created_at);
        self.emit(
            now,
            id,
            EventKind::FirstResponse {
                responder,
                latency_ms,
            },
        );
    }

    /// Position and wait estimate for the `position`-th conversation of a class.
    ///
    /// Estimate: conversations ahead, including this one, times the moving average
    /// handle time (accept to close; `default_handle_secs` until the first close),
    /// divided by the capacity of signed-in agents for the class: the time for the
    /// agents to work through the queue ahead at their usual pace.
    fn queue_status(&self, class: ChannelClass, position: usize) -> QueueStatus {
        let capacity = self.agents.total_capacity(class).max(1);
        let eta_ms = self.average_handle_ms * position as f64 / f64::from(capacity);
        QueueStatus {
            position: position as u32,
            estimated_wait_secs: (eta_ms / 1000.0).ceil() as u32,
        }
    }

    /// Offers a new conversation to the agent who last served this customer, when the
    /// preference window is open and that agent can take it now; true when offered.
    fn offer_to_last_agent(&mut self, now: Millis, id: ConversationId) -> bool {
        let c = &self.conversations[&id];
        let Some(agent) = self
            .last_agents
            .get(&(c.channel, c.customer_id.clone()), now)
        else {
            return false;
        };
        let Some(slot) = self.agents.slot_of(agent) else {
            return false;
        };
        let profile = self.waiting.profile(c.profile);
        let can_take = self.agents.get(slot).is_some_and(|a| {
            a.presence == Presence::Available
                && a.has_room(profile.class)
                && profile.required.satisfied_by(&a.skills)
        });
        if can_take {
            self.offer(now, id, slot, Rule::LastAgent);
        }
        can_take
    }

    /// Gives a conversation a boost: it moves up the serving order as if it had had
    /// the boost from the start. Nothing happens if it already has it.
    fn boost(&mut self, now: Millis, id: ConversationId, boost: Boost) {
        let c = self.conversations.get_mut(&id).expect("open conversation");
        let before = c.boosts;
        if !c.boosts.insert(boost) {
            return;
        }
        let key = self.policy.priority.rekey(c.key, before, c.boosts);
        if c.state == State::Queued {
            self.waiting.remove(c.profile, c.key, id);
            self.waiting.insert(c.profile, key, id);
        }
        c.key = key;
        self.emit(now, id, EventKind::Boosted { boost, key });
    }

    fn emit(&mut self, at: Millis, id: ConversationId, kind: EventKind) {
        let c = &self.conversations[&id];
        self.events.push(Event {
            seq: self.next_seq,
            at,
            conversation: id,
            channel: c.channel,
            tier: c.tier,
            queue: c.queue,
            kind,
        });
        self.next_seq += 1;
    }

    // ----- lookups -----

    fn requirement(
        &mut self,
        skills: &[(String, u8)],
        field: &'static str,
    ) -> Result<(LevelledSkills, NamedSkills), RoutingError> {
        let mut set = LevelledSkills::default();
        for (name, level) in skills {
            let index = match self.skills.intern(name) {
                Ok(index) => Ok(index),
                // Full: give back the skills no signed-in agent holds, then try again.
                Err(_) if self.reclaim_skills() > 0 => self.skills.intern(name),
                Err(e) => Err(e),
            }
            .map_err(|e| RoutingError::InvalidArgument {
                field,
                reason: e.to_string(),
            })?;
            set.insert(index, *level);
        }
        let names: NamedSkills = set
            .entries()
            .map(|(s, l)| (self.skills.name(s).clone(), l))
            .collect();
        Ok((set, names))
    }

    /// A conversation's requirement: like [`Router::requirement`], but a skill no agent
    /// or queue has named is not added to the catalogue; it becomes the
    /// [`UNRESOLVED`] bit, which no agent holds, and keeps its name in the list.
    fn conversation_requirement(&self, skills: &[(String, u8)]) -> (LevelledSkills, NamedSkills) {
        let mut set = LevelledSkills::default();
        let mut unknown: Vec<(Arc<str>, u8)> = Vec::new();
        for (name, level) in skills {
            match self.skills.get(name) {
                Some(index) => set.insert(index, *level),
                None => {
                    set.insert(UNRESOLVED, 1);
                    let level = (*level).clamp(1, super::skills::MAX_PROFICIENCY);
                    match unknown.iter_mut().find(|(n, _)| **n == **name) {
                        Some(entry) => entry.1 = entry.1.max(level),
                        None => unknown.push((Arc::from(name.as_str()), level)),
                    }
                }
            }
        }
        let names: NamedSkills = set
            .entries()
            .filter(|(s, _)| *s != UNRESOLVED)
            .map(|(s, l)| (self.skills.name(s).clone(), l))
            .chain(unknown)
            .collect();
        (set, names)
    }

    /// Keeps `unresolved` in step with the conversation's profile: whether its
    /// requirement holds the [`UNRESOLVED`] bit (a bit test, not a name lookup).
    fn track_unresolved(&mut self, id: ConversationId) {
        let Some(c) = self.conversations.get(&id) else {
            return;
        };
        if self.waiting.profile(c.profile).required.has(UNRESOLVED) {
            self.unresolved.insert(id);
        } else {
            self.unresolved.remove(&id);
        }
    }

    /// An agent brought skills the catalogue did not hold: conversations waiting on
    /// such skills get their real requirement, keeping their place in the queue.
    fn resolve_waiting_skills(&mut self) {
        self.requirement_cache.clear();
        let ids: Vec<ConversationId> = self.unresolved.iter().copied().collect();
        for id in ids {
            self.re_resolve(id);
        }
    }

    /// The catalogue is full: every skill no signed-in agent holds is forgotten, so
    /// its place can go to a new name (agents that sign in and out with ever new names
    /// cannot fill it for good). Conversations naming a forgotten skill wait on it as
    /// unknown, keeping their places, until an agent brings it again. Returns how many
    /// were forgotten. It walks every open conversation, but only when the catalogue
    /// is full.
    fn reclaim_skills(&mut self) -> usize {
        let unused: Vec<(SkillIndex, Arc<str>)> = self
            .skills
            .entries()
            .filter(|(index, _)| !self.agents.holds_skill(*index))
            .map(|(index, name)| (index, name.clone()))
            .collect();
        if unused.is_empty() {
            return 0;
        }
        for (index, _) in &unused {
            self.skills.forget(*index);
        }
        self.requirement_cache.clear();
        let forgotten: std::collections::HashSet<&str> =
            unused.iter().map(|(_, name)| &**name).collect();
        let affected: Vec<ConversationId> = self
            .conversations
            .iter()
            .filter(|(_, c)| {
                c.required_names
                    .iter()
                    .any(|(name, _)| forgotten.contains(&**name))
            })
            .map(|(&id, _)| id)
            .collect();
        for id in affected {
            self.re_resolve(id);
        }
        unused.len()
    }

    /// Recomputes an open conversation's requirement bitset from its skill names
    /// against the catalogue as it is now, moving it between waiting profiles in its
    /// place.
    fn re_resolve(&mut self, id: ConversationId) {
        let Some(c) = self.conversations.get(&id) else {
            self.unresolved.remove(&id);
            return;
        };
        let skills: Vec<(String, u8)> = c
            .required_names
            .iter()
            .map(|(n, l)| (n.to_string(), *l))
            .collect();
        // The names stay as they are (the board and every event have them); only the
        // bitset behind them changes.
        let (required, _) = self.conversation_requirement(&skills);
        let c = self.conversations.get_mut(&id).expect("open conversation");
        let profile = self.waiting.profile_for(&required, c.channel.class());
        if profile != c.profile {
            if c.state == State::Queued {
                self.waiting.remove(c.profile, c.key, id);
                self.waiting.insert(profile, c.key, id);
            }
            c.profile = profile;
        }
        self.track_unresolved(id);
    }

    /// The waiting profile and named skills for a requirement given by name, cached:
    /// arrivals mostly repeat a few requirements, and building one costs allocations.
    fn requirement_profile(
        &mut self,
        skills: &[(String, u8)],
        class: ChannelClass,
    ) -> Result<(ProfileIndex, NamedSkills), RoutingError> {
        if let Some((names, by_class)) = self.requirement_cache.get(skills)
            && let Some(profile) = by_class[class.index()]
        {
            return Ok((profile, names.clone()));
        }
        let (required, names) = self.conversation_requirement(skills);
        let profile = self.waiting.profile_for(&required, class);
        if self.requirement_cache.len() >= REQUIREMENT_CACHE_LIMIT {
            self.requirement_cache.clear();
        }
        let entry = self
            .requirement_cache
            .entry(skills.to_vec())
            .or_insert_with(|| (names.clone(), [None; 3]));
        entry.1[class.index()] = Some(profile);
        Ok((profile, names))
    }

    fn queue_index(&self, name: &str) -> Option<usize> {
        self.policy.queues.iter().position(|q| q.name == name)
    }

    fn agent_slot(&self, agent_id: &str) -> Result<AgentSlot, RoutingError> {
        self.agents
            .slot_of(agent_id)
            .ok_or_else(|| RoutingError::AgentNotFound(agent_id.to_owned()))
    }

    /// The agent's slot, the conversation and its offer's expiry, when that
    /// conversation is offered to that agent; the refusal accept and decline share.
    fn offer_to(
        &self,
        agent_id: &str,
        conversation: &str,
    ) -> Result<(AgentSlot, ConversationId, Millis), RoutingError> {
        let slot = self.agent_slot(agent_id)?;
        let id = self.conversation_id(conversation)?;
        match self.conversations[&id].state {
            State::Offered { agent, expires_at } if agent == slot => Ok((slot, id, expires_at)),
            _ => Err(not_offered(id, agent_id)),
        }
    }

    fn agent_id(&self, slot: AgentSlot) -> AgentId {
        self.agents.get(slot).expect("signed-in agent").id.clone()
    }

    fn conversation_id(&self, text: &str) -> Result<ConversationId, RoutingError> {
        text.parse()
            .ok()
            .filter(|id| self.conversations.contains_key(id))
            .ok_or_else(|| RoutingError::ConversationNotFound(text.to_owned()))
    }

    /// The agent's slot and the conversation's id, when the agent is assigned it.
    fn owned(
        &self,
        agent_id: &str,
        conversation: &str,
    ) -> Result<(AgentSlot, ConversationId), RoutingError> {
        let slot = self.agent_slot(agent_id)?;
        let id = self.conversation_id(conversation)?;
        match self.conversations[&id].state {
            State::Assigned { agent, .. } if agent == slot => Ok((slot, id)),
            _ => Err(RoutingError::FailedPrecondition(format!(
                "conversation {id} is not assigned to agent {agent_id:?}"
            ))),
        }
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
        customer_id: c.customer_id.clone(),
        body,
    }
}

fn push_transcript(c: &mut Conversation, limit: usize, entry: TranscriptEntry) {
    if c.transcript.len() >= limit {
        c.transcript.pop_front();
    }
    c.transcript.push_back(entry);
}

fn remember_client_id(c: &mut Conversation, client_id: Option<String>) {
    if let Some(client_id) = client_id {
        if c.recent_client_ids.len() >= RECENT_CLIENT_IDS {
            c.recent_client_ids.pop_front();
        }
        c.recent_client_ids.push_back(client_id.into_boxed_str());
    }
}
