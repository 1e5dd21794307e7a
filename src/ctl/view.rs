//! What `switchboard ctl --json` prints: plain serde views of the contract's messages,
//! with enums as their lower-case proto names (`sms`, `queued`, `available`) rather
//! than numbers, so scripts need not know the proto.

use serde::Serialize;

use super::format::enum_name;
use crate::api::pb;

fn channel(v: i32) -> String {
    enum_name(v, pb::Channel::as_str_name, "CHANNEL_")
}
fn state(v: i32) -> String {
    enum_name(v, pb::ConversationState::as_str_name, "CONVERSATION_STATE_")
}
fn presence(v: i32) -> String {
    enum_name(v, pb::Presence::as_str_name, "PRESENCE_")
}
fn sender(v: i32) -> String {
    enum_name(v, pb::Sender::as_str_name, "SENDER_")
}

/// A skill with a level: a requirement's minimum or an agent's proficiency.
#[derive(Debug, Serialize)]
pub(crate) struct Skill {
    /// Skill name.
    pub(crate) skill: String,
    /// Proficiency 1-5 (a requirement's 0 reads as 1, as the server reads it).
    pub(crate) level: u32,
}

impl From<&pb::SkillRequirement> for Skill {
    fn from(s: &pb::SkillRequirement) -> Self {
        Skill {
            skill: s.skill.clone(),
            level: s.min_proficiency.max(1),
        }
    }
}

impl From<&pb::AgentSkill> for Skill {
    fn from(s: &pb::AgentSkill) -> Self {
        Skill {
            skill: s.skill.clone(),
            level: if s.proficiency == 0 { 3 } else { s.proficiency },
        }
    }
}

/// One transcript message.
#[derive(Debug, Serialize)]
pub(crate) struct Message {
    /// `customer`, `agent`, `bot` or `system`.
    pub(crate) sender: String,
    /// The text.
    pub(crate) text: String,
    /// When, Unix milliseconds.
    pub(crate) at_unix_ms: i64,
    /// The agent, when an agent wrote it.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) agent_id: String,
}

/// A conversation (`ListWaiting`, `GetConversation`).
#[derive(Debug, Serialize)]
pub(crate) struct Conversation {
    /// Switchboard's id.
    pub(crate) conversation_id: String,
    /// The channel (`web`, `sms`, ...).
    pub(crate) channel: String,
    /// The channel's own conversation id.
    pub(crate) channel_conversation_id: String,
    /// The customer's id on that channel.
    pub(crate) customer_id: String,
    /// `queued`, `offered`, `assigned`, `with_bot`, ...
    pub(crate) state: String,
    /// Queue.
    pub(crate) queue: String,
    /// Value tier.
    pub(crate) value_tier: String,
    /// The customer's lifetime value as routing counts it.
    pub(crate) clv: f64,
    /// The agent holding it; empty if none.
    pub(crate) agent_id: String,
    /// Milliseconds waited for an agent so far.
    pub(crate) waited_ms: u64,
    /// Serving order among waiting conversations (1 = next); 0 when not waiting.
    pub(crate) position: u32,
    /// Required skills.
    pub(crate) required_skills: Vec<Skill>,
    /// The intent a bot detected.
    pub(crate) intent: String,
    /// Why a bot handed it to a person.
    pub(crate) handoff_reason: String,
    /// Satisfaction answer after the close; 0 = none.
    pub(crate) satisfaction: u32,
    /// The transcript, oldest first (`conversation` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) transcript: Option<Vec<Message>>,
}

impl Conversation {
    /// The view of `c`, with its transcript when `with_transcript`.
    pub(crate) fn new(c: &pb::ConversationView, with_transcript: bool) -> Self {
        Conversation {
            conversation_id: c.conversation_id.clone(),
            channel: channel(c.channel),
            channel_conversation_id: c.channel_conversation_id.clone(),
            customer_id: c.customer_id.clone(),
            state: state(c.state),
            queue: c.queue.clone(),
            value_tier: c.value_tier.clone(),
            clv: c.clv,
            agent_id: c.agent_id.clone(),
            waited_ms: c.waited_ms,
            position: c.position,
            required_skills: c.required_skills.iter().map(Skill::from).collect(),
            intent: c.intent.clone(),
            handoff_reason: c.handoff_reason.clone(),
            satisfaction: c.satisfaction,
            transcript: with_transcript.then(|| {
                c.transcript
                    .iter()
                    .map(|m| Message {
                        sender: sender(m.sender),
                        text: m.text.clone(),
                        at_unix_ms: m.at_unix_ms,
                        agent_id: m.agent_id.clone(),
                    })
                    .collect()
            }),
        }
    }
}

/// The waiting list.
#[derive(Debug, Serialize)]
pub(crate) struct Waiting {
    /// How many wait in all (the list may be shorter).
    pub(crate) total: u32,
    /// In serving order.
    pub(crate) conversations: Vec<Conversation>,
}

impl From<&pb::ListWaitingResponse> for Waiting {
    fn from(r: &pb::ListWaitingResponse) -> Self {
        Waiting {
            total: r.total,
            conversations: r
                .conversations
                .iter()
                .map(|c| Conversation::new(c, false))
                .collect(),
        }
    }
}

/// Conversations per channel class.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub(crate) struct Classes {
    /// Messaging (chat-like channels).
    pub(crate) messaging: u32,
    /// E-mail.
    pub(crate) email: u32,
    /// Voice.
    pub(crate) voice: u32,
}

impl From<Option<&pb::Capacity>> for Classes {
    fn from(c: Option<&pb::Capacity>) -> Self {
        c.map_or_else(Classes::default, |c| Classes {
            messaging: c.messaging,
            email: c.email,
            voice: c.voice,
        })
    }
}

impl std::ops::AddAssign for Classes {
    fn add_assign(&mut self, other: Classes) {
        self.messaging += other.messaging;
        self.email += other.email;
        self.voice += other.voice;
    }
}

/// A signed-in agent.
#[derive(Debug, Serialize)]
pub(crate) struct Agent {
    /// Agent id.
    pub(crate) agent_id: String,
    /// Display name.
    pub(crate) display_name: String,
    /// `available`, `away` or `wrap_up`.
    pub(crate) presence: String,
    /// Skills with proficiency.
    pub(crate) skills: Vec<Skill>,
    /// Capacity per channel class.
    pub(crate) capacity: Classes,
    /// Conversations held per channel class.
    pub(crate) load: Classes,
    /// Milliseconds since the agent last had no conversation (0 while busy).
    pub(crate) idle_ms: u64,
    /// Conversations offered or assigned to the agent.
    pub(crate) conversation_ids: Vec<String>,
}

impl From<&pb::AgentView> for Agent {
    fn from(a: &pb::AgentView) -> Self {
        Agent {
            agent_id: a.agent_id.clone(),
            display_name: a.display_name.clone(),
            presence: presence(a.presence),
            skills: a.skills.iter().map(Skill::from).collect(),
            capacity: a.capacity.as_ref().into(),
            load: a.load.as_ref().into(),
            idle_ms: a.idle_ms,
            conversation_ids: a.conversation_ids.clone(),
        }
    }
}

/// The signed-in agents.
#[derive(Debug, Serialize)]
pub(crate) struct Agents {
    /// By agent id.
    pub(crate) agents: Vec<Agent>,
}

/// Agents counted by state, for `watch`.
#[derive(Debug, Default, Serialize)]
pub(crate) struct AgentCounts {
    /// Signed in.
    pub(crate) signed_in: usize,
    /// Taking offers.
    pub(crate) available: usize,
    /// Away.
    pub(crate) away: usize,
    /// In after-conversation work.
    pub(crate) wrap_up: usize,
    /// Conversations held, per class.
    pub(crate) load: Classes,
    /// Capacity, per class.
    pub(crate) capacity: Classes,
}

impl From<&Agents> for AgentCounts {
    fn from(agents: &Agents) -> Self {
        let mut counts = AgentCounts::default();
        for a in &agents.agents {
            counts.signed_in += 1;
            match a.presence.as_str() {
                "away" => counts.away += 1,
                "wrap_up" => counts.wrap_up += 1,
                _ => counts.available += 1,
            }
            counts.load += a.load;
            counts.capacity += a.capacity;
        }
        counts
    }
}

/// One refresh of `watch`.
#[derive(Debug, Serialize)]
pub(crate) struct Snapshot {
    /// When it was taken, Unix milliseconds (this machine's clock).
    pub(crate) at_unix_ms: i64,
    /// The waiting list.
    pub(crate) waiting: Waiting,
    /// The agents, counted.
    pub(crate) agents: AgentCounts,
}

/// A customer's value, term by term.
#[derive(Debug, Serialize)]
pub(crate) struct Value {
    /// `continuing` or `discounted`.
    pub(crate) formula: String,
    /// The lifetime value.
    pub(crate) value: f64,
    /// What losing them would cost.
    pub(crate) loss_value: f64,
    /// The terms, as the formula adds them.
    pub(crate) terms: Vec<Term>,
}

/// One term of a value.
#[derive(Debug, Serialize)]
pub(crate) struct Term {
    /// Its name.
    pub(crate) name: String,
    /// Its amount.
    pub(crate) amount: f64,
    /// How it was reached.
    pub(crate) how: String,
}

impl From<&pb::LifetimeValue> for Value {
    fn from(v: &pb::LifetimeValue) -> Self {
        Value {
            formula: v.formula.clone(),
            value: v.value,
            loss_value: v.loss_value,
            terms: v
                .terms
                .iter()
                .map(|t| Term {
                    name: t.name.clone(),
                    amount: t.amount,
                    how: t.how.clone(),
                })
                .collect(),
        }
    }
}

/// Why a conversation is where it is.
#[derive(Debug, Serialize)]
pub(crate) struct Explanation {
    /// Switchboard's id.
    pub(crate) conversation_id: String,
    /// State.
    pub(crate) state: String,
    /// The agent holding it; empty if none.
    pub(crate) agent_id: String,
    /// One sentence: why.
    pub(crate) verdict: String,
    /// Rule of the last routing decision (`unspecified` = not routed yet).
    pub(crate) rule: String,
    /// When that decision was made, Unix milliseconds; 0 if never.
    pub(crate) decided_at_unix_ms: i64,
    /// Place among conversations waiting for the same agents; 0 when not waiting.
    pub(crate) position: u32,
    /// Priority points now.
    pub(crate) priority: f64,
    /// Value tier.
    pub(crate) value_tier: String,
    /// Boosts in force.
    pub(crate) boosts: Vec<String>,
    /// Required skills.
    pub(crate) required_skills: Vec<Skill>,
    /// Bullseye step reached.
    pub(crate) escalation_step: String,
    /// Signed-in agents in all.
    pub(crate) candidates_total: u32,
    /// Agents considered, holder first, then by score.
    pub(crate) candidates: Vec<Candidate>,
    /// The customer's value from facts, when pushed.
    pub(crate) customer_value: Option<Value>,
}

/// One agent as routing saw it for the conversation.
#[derive(Debug, Serialize)]
pub(crate) struct Candidate {
    /// Agent id.
    pub(crate) agent_id: String,
    /// Has every required skill at its level.
    pub(crate) eligible: bool,
    /// Required skills it lacks, with the level needed.
    pub(crate) missing_skills: Vec<Skill>,
    /// Has capacity left for the channel's class.
    pub(crate) has_room: bool,
    /// Presence.
    pub(crate) presence: String,
    /// Declined it within the cooldown.
    pub(crate) declined_recently: bool,
    /// Milliseconds since the agent's last activity.
    pub(crate) idle_ms: u64,
    /// Longest-idle score.
    pub(crate) score: f64,
    /// Holds the conversation.
    pub(crate) chosen: bool,
}

impl From<&pb::Explanation> for Explanation {
    fn from(e: &pb::Explanation) -> Self {
        Explanation {
            conversation_id: e.conversation_id.clone(),
            state: state(e.state),
            agent_id: e.agent_id.clone(),
            verdict: e.verdict.clone(),
            rule: enum_name(e.rule, pb::RoutingRule::as_str_name, "ROUTING_RULE_"),
            decided_at_unix_ms: e.decided_at_unix_ms,
            position: e.position,
            priority: e.priority,
            value_tier: e.value_tier.clone(),
            boosts: e.boosts.clone(),
            required_skills: e.required_skills.iter().map(Skill::from).collect(),
            escalation_step: e.escalation_step.clone(),
            candidates_total: e.candidates_total,
            candidates: e
                .candidates
                .iter()
                .map(|c| Candidate {
                    agent_id: c.agent_id.clone(),
                    eligible: c.eligible,
                    missing_skills: c.missing_skills.iter().map(Skill::from).collect(),
                    has_room: c.has_room,
                    presence: presence(c.presence),
                    declined_recently: c.declined_recently,
                    idle_ms: c.idle_ms,
                    score: c.score,
                    chosen: c.chosen,
                })
                .collect(),
            customer_value: e.customer_value.as_ref().map(Value::from),
        }
    }
}

/// The knowledge base in use.
#[derive(Debug, Serialize)]
pub(crate) struct KnowledgeBase {
    /// The file it came from; empty for the embedded starter.
    pub(crate) path: String,
    /// Entries.
    pub(crate) entries: u32,
    /// Language tags of the entries.
    pub(crate) languages: Vec<String>,
}

impl From<&pb::KnowledgeBaseView> for KnowledgeBase {
    fn from(k: &pb::KnowledgeBaseView) -> Self {
        KnowledgeBase {
            path: k.path.clone(),
            entries: k.entries,
            languages: k.languages.clone(),
        }
    }
}

/// The effective configuration.
#[derive(Debug, Serialize)]
pub(crate) struct ConfigToml {
    /// As TOML, the config file's shape.
    pub(crate) toml: String,
}

/// What `Submit` answered.
#[derive(Debug, Serialize)]
pub(crate) struct Sent {
    /// Switchboard's id of the conversation.
    pub(crate) conversation_id: String,
    /// Whether the message opened it.
    pub(crate) created: bool,
    /// What came back at once.
    pub(crate) replies: Vec<Reply>,
}

/// One delivery that came back.
#[derive(Debug, Serialize)]
pub(crate) struct Reply {
    /// `bot`, `system`, `agent`; `closed` when the delivery ends the conversation.
    pub(crate) sender: String,
    /// The text (for `closed`, the end reason).
    pub(crate) text: String,
    /// Quick-reply buttons: label and what pressing sends.
    pub(crate) buttons: Vec<Button>,
    /// Place in the queue, on a queue note.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) queue_position: Option<u32>,
    /// Estimated seconds until an agent accepts; 0 = no estimate (nobody can serve).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) estimated_wait_seconds: Option<u32>,
}

/// A quick-reply button.
#[derive(Debug, Serialize)]
pub(crate) struct Button {
    /// What the customer sees.
    pub(crate) label: String,
    /// What pressing it sends.
    pub(crate) payload: String,
}

impl From<&pb::SubmitResponse> for Sent {
    fn from(r: &pb::SubmitResponse) -> Self {
        let replies = r
            .replies
            .iter()
            .filter_map(|d| match d.body.as_ref()? {
                pb::delivery::Body::Message(m) => Some(Reply {
                    sender: sender(m.sender),
                    text: m.text.clone(),
                    buttons: m
                        .buttons
                        .iter()
                        .map(|b| Button {
                            label: b.label.clone(),
                            payload: b.payload.clone(),
                        })
                        .collect(),
                    queue_position: m.queue_status.as_ref().map(|q| q.position),
                    estimated_wait_seconds: m
                        .queue_status
                        .as_ref()
                        .map(|q| q.estimated_wait_seconds),
                }),
                pb::delivery::Body::Closed(c) => Some(Reply {
                    sender: "closed".to_owned(),
                    text: enum_name(c.reason, pb::EndReason::as_str_name, "END_REASON_"),
                    buttons: Vec::new(),
                    queue_position: None,
                    estimated_wait_seconds: None,
                }),
            })
            .collect();
        Sent {
            conversation_id: r.conversation_id.clone(),
            created: r.created,
            replies,
        }
    }
}

/// Agent KPIs over a window.
#[derive(Debug, Serialize)]
pub(crate) struct Kpis {
    /// The window, seconds.
    pub(crate) window_secs: u32,
    /// Start of the first bucket summed, Unix milliseconds.
    pub(crate) since_unix_ms: i64,
    /// The threshold for `accepted_within`, seconds.
    pub(crate) accept_within_secs: u32,
    /// One row per agent.
    pub(crate) agents: Vec<AgentKpis>,
}

/// One agent's figures (a mean or rate is 0 when its count is 0).
#[derive(Debug, Serialize)]
pub(crate) struct AgentKpis {
    /// The agent.
    pub(crate) agent_id: String,
    /// Conversations closed.
    pub(crate) handled: u32,
    /// Mean handle time, seconds.
    pub(crate) handle_seconds_mean: f64,
    /// Satisfaction answers.
    pub(crate) satisfaction_answers: u32,
    /// Their mean, 1-5.
    pub(crate) satisfaction_mean: f64,
    /// Answers of 4 or 5 ÷ answers.
    pub(crate) good_review_rate: f64,
    /// Offers made.
    pub(crate) offers: u32,
    /// Offers accepted.
    pub(crate) accepted: u32,
    /// Accepted within the threshold ÷ offers.
    pub(crate) accepted_within_rate: f64,
    /// First replies after an accept.
    pub(crate) first_replies: u32,
    /// Their mean time from the accept, seconds.
    pub(crate) first_reply_seconds_mean: f64,
    /// Seconds idle while customers waited.
    pub(crate) idle_while_waiting_seconds: f64,
    /// Transfers.
    pub(crate) transfers: u32,
    /// Complaints handled.
    pub(crate) complaints: u32,
}

impl From<&pb::GetAgentKpisResponse> for Kpis {
    fn from(r: &pb::GetAgentKpisResponse) -> Self {
        Kpis {
            window_secs: r.window_secs,
            since_unix_ms: r.since_unix_ms,
            accept_within_secs: r.accept_within_secs,
            agents: r
                .agents
                .iter()
                .map(|a| AgentKpis {
                    agent_id: a.agent_id.clone(),
                    handled: a.handled,
                    handle_seconds_mean: a.handle_seconds_mean,
                    satisfaction_answers: a.satisfaction_answers,
                    satisfaction_mean: a.satisfaction_mean,
                    good_review_rate: a.good_review_rate,
                    offers: a.offers,
                    accepted: a.accepted,
                    accepted_within_rate: a.accepted_within_rate,
                    first_replies: a.first_replies,
                    first_reply_seconds_mean: a.first_reply_seconds_mean,
                    idle_while_waiting_seconds: a.idle_while_waiting_seconds,
                    transfers: a.transfers,
                    complaints: a.complaints,
                })
                .collect(),
        }
    }
}

/// Connected external bot workers.
#[derive(Debug, Serialize)]
pub(crate) struct Bots {
    /// By id.
    pub(crate) bots: Vec<Bot>,
}

/// One external bot worker.
#[derive(Debug, Serialize)]
pub(crate) struct Bot {
    /// Worker id.
    pub(crate) bot_id: String,
    /// Languages it answers; empty = all.
    pub(crate) languages: Vec<String>,
    /// Channels it serves; empty = all.
    pub(crate) channels: Vec<String>,
    /// Tasks it takes at once.
    pub(crate) capacity: u32,
    /// Tasks sent and not yet answered.
    pub(crate) in_flight: u32,
}

impl From<&pb::ListBotsResponse> for Bots {
    fn from(r: &pb::ListBotsResponse) -> Self {
        Bots {
            bots: r
                .bots
                .iter()
                .map(|b| Bot {
                    bot_id: b.bot_id.clone(),
                    languages: b.languages.clone(),
                    channels: b.channels.iter().map(|&c| channel(c)).collect(),
                    capacity: b.capacity,
                    in_flight: b.in_flight,
                })
                .collect(),
        }
    }
}

/// A customer profile, the parts an operator looks at.
#[derive(Debug, Serialize)]
pub(crate) struct Profile {
    /// The profile id.
    pub(crate) profile_id: u64,
    /// When it was made, Unix milliseconds.
    pub(crate) created_at_unix_ms: i64,
    /// Value tier; empty before any fact.
    pub(crate) tier: String,
    /// Value by the tenant's formula; absent before any fact.
    pub(crate) value: Option<Value>,
    /// Health 0-100, when known.
    pub(crate) health: Option<f64>,
    /// Below the churn threshold.
    pub(crate) at_risk: bool,
    /// The identifiers that are this person.
    pub(crate) identifiers: Vec<Identifier>,
    /// Last conversations, newest first.
    pub(crate) history: Vec<Past>,
    /// Purposes they may be contacted for now.
    pub(crate) allowed_purposes: Vec<String>,
    /// Their tags.
    pub(crate) tags: Vec<String>,
}

/// An identifier on a profile.
#[derive(Debug, Serialize)]
pub(crate) struct Identifier {
    /// `phone`, `email`, ...; for a channel's own customer id, the channel.
    pub(crate) kind: String,
    /// As normalised.
    pub(crate) value: String,
    /// Whether its owner is proven.
    pub(crate) verified: bool,
}

/// A past conversation.
#[derive(Debug, Serialize)]
pub(crate) struct Past {
    /// Switchboard's id.
    pub(crate) conversation_id: String,
    /// Channel.
    pub(crate) channel: String,
    /// Opened, Unix milliseconds.
    pub(crate) started_at_unix_ms: i64,
    /// `closed`, `abandoned_waiting`, ...
    pub(crate) outcome: String,
    /// The agent who served it last.
    pub(crate) agent_id: String,
    /// Intent.
    pub(crate) intent: String,
    /// Satisfaction 1-5; 0 = none.
    pub(crate) satisfaction: u32,
}

impl From<&pb::CustomerProfileView> for Profile {
    fn from(p: &pb::CustomerProfileView) -> Self {
        Profile {
            profile_id: p.profile_id,
            created_at_unix_ms: p.created_at_unix_ms,
            tier: p.tier.clone(),
            value: p.value.as_ref().map(Value::from),
            health: p.health.as_ref().map(|h| h.score),
            at_risk: p.health.as_ref().is_some_and(|h| h.at_risk),
            identifiers: p
                .identifiers
                .iter()
                .map(|i| Identifier {
                    kind: if i.kind == pb::IdentifierKind::Unspecified as i32 {
                        channel(i.channel)
                    } else {
                        enum_name(i.kind, pb::IdentifierKind::as_str_name, "IDENTIFIER_KIND_")
                    },
                    value: i.value.clone(),
                    verified: i.verified,
                })
                .collect(),
            history: p
                .history
                .iter()
                .map(|h| Past {
                    conversation_id: h.conversation_id.clone(),
                    channel: channel(h.channel),
                    started_at_unix_ms: h.started_at_unix_ms,
                    outcome: h.outcome.clone(),
                    agent_id: h.agent_id.clone(),
                    intent: h.intent.clone(),
                    satisfaction: h.satisfaction,
                })
                .collect(),
            allowed_purposes: p
                .allowed_purposes
                .iter()
                .map(|&c| enum_name(c, pb::ContactPurpose::as_str_name, "CONTACT_PURPOSE_"))
                .collect(),
            tags: p.tags.clone(),
        }
    }
}

fn purpose(v: i32) -> String {
    enum_name(v, pb::ContactPurpose::as_str_name, "CONTACT_PURPOSE_")
}

/// Outbound campaigns, oldest first.
#[derive(Debug, Serialize)]
pub(crate) struct Campaigns {
    /// The campaigns.
    pub(crate) campaigns: Vec<Campaign>,
}

/// One campaign's progress.
#[derive(Debug, Serialize)]
pub(crate) struct Campaign {
    pub(crate) campaign_id: u64,
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) status: String,
    /// Why it is paused, when it is.
    pub(crate) paused_because: String,
    pub(crate) queue: String,
    pub(crate) per_minute: u32,
    /// Profiles looked at, of the tenant's profiles.
    pub(crate) scanned: u64,
    pub(crate) profiles: u64,
    pub(crate) sent: u64,
    pub(crate) skipped: u64,
    pub(crate) replied: u64,
    /// The queue's share answered within the service level lately, if known.
    pub(crate) queue_service_level: Option<f64>,
}

impl From<&pb::ListCampaignsResponse> for Campaigns {
    fn from(r: &pb::ListCampaignsResponse) -> Self {
        Campaigns {
            campaigns: r
                .campaigns
                .iter()
                .map(|c| Campaign {
                    campaign_id: c.campaign_id,
                    name: c.name.clone(),
                    kind: purpose(c.kind),
                    status: enum_name(
                        c.status,
                        pb::CampaignStatus::as_str_name,
                        "CAMPAIGN_STATUS_",
                    ),
                    paused_because: c.paused_because.clone(),
                    queue: c.queue.clone(),
                    per_minute: c.per_minute,
                    scanned: c.scanned,
                    profiles: c.profiles,
                    sent: c.sent,
                    skipped: c.skipped,
                    replied: c.replied,
                    queue_service_level: c.queue_service_level,
                })
                .collect(),
        }
    }
}

/// One outbound notification.
#[derive(Debug, Serialize)]
pub(crate) struct Notification {
    pub(crate) notification_id: u64,
    pub(crate) profile_id: u64,
    pub(crate) kind: String,
    pub(crate) template: String,
    pub(crate) text: String,
    pub(crate) status: String,
    pub(crate) status_at_unix_ms: i64,
    /// For skipped ones, the rule; for queued ones, why they wait.
    pub(crate) reason: String,
    pub(crate) channel: String,
    /// For replied ones, the conversation the reply opened.
    pub(crate) conversation_id: String,
    pub(crate) deadline_unix_ms: i64,
}

impl From<&pb::NotificationView> for Notification {
    fn from(n: &pb::NotificationView) -> Self {
        Notification {
            notification_id: n.notification_id,
            profile_id: n.profile_id,
            kind: purpose(n.kind),
            template: n.template.clone(),
            text: n.text.clone(),
            status: enum_name(
                n.status,
                pb::NotificationStatus::as_str_name,
                "NOTIFICATION_STATUS_",
            ),
            status_at_unix_ms: n.status_at_unix_ms,
            reason: if n.skipped_because.is_empty() {
                n.waiting_for.clone()
            } else {
                n.skipped_because.clone()
            },
            channel: if n.channel == 0 {
                String::new()
            } else {
                channel(n.channel)
            },
            conversation_id: n.conversation_id.clone(),
            deadline_unix_ms: n.deadline_unix_ms,
        }
    }
}
