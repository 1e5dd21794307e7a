//! Explanations: why a conversation was routed where it was, or why it still waits.
//!
//! Operations teams ask both questions of a live router; the answer lists the agents
//! considered with their verdicts and scores, and names the rule that decided.

use std::sync::Arc;

use super::{EscalationStep, NamedSkills, Router, Rule, State};
use crate::routing::board::ConversationState;
use crate::routing::model::{AgentId, ConversationId, Millis, Presence};

/// One agent as routing sees it for one conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct CandidateAgent {
    /// The agent.
    pub agent: AgentId,
    /// Whether the agent has every required skill at its level.
    pub eligible: bool,
    /// Required skills the agent lacks (or has below the level), with the level needed.
    pub missing: Vec<(Arc<str>, u8)>,
    /// Whether the agent has capacity left for the conversation's channel class.
    pub has_room: bool,
    /// The agent's presence.
    pub presence: Presence,
    /// Whether the agent declined it within the cooldown.
    pub declined: bool,
    /// Milliseconds since the agent's last activity (the longest-idle score's input).
    pub idle_ms: u64,
    /// Longest-idle score: idle seconds for an agent who could take it now, else 0.
    pub score: f64,
    /// Whether this agent holds the conversation (offered or assigned).
    pub chosen: bool,
}

/// Why a conversation is where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// The conversation.
    pub conversation: ConversationId,
    /// Its state.
    pub state: ConversationState,
    /// The agent holding it, if any.
    pub agent: Option<AgentId>,
    /// One sentence: why it was routed there, or why it still waits.
    pub verdict: String,
    /// The rule of the last routing decision, if it was routed.
    pub rule: Option<Rule>,
    /// When that decision was made.
    pub decided_at: Option<Millis>,
    /// 1-based place among conversations waiting for the same agents, while queued.
    pub position: Option<usize>,
    /// Priority points now: tier weight + boosts + aging × seconds waited.
    pub priority: f64,
    /// Value tier name.
    pub tier: String,
    /// Boosts in force.
    pub boosts: Vec<&'static str>,
    /// Required skills.
    pub required: NamedSkills,
    /// Bullseye step reached; `None` after a transfer gave it its own requirement.
    pub escalation: Option<EscalationStep>,
    /// Agents considered, the holder first, then by score; at most the limit asked.
    pub candidates: Vec<CandidateAgent>,
    /// Signed-in agents in all.
    pub candidates_total: usize,
    /// How the customer's value was computed, when it came from pushed facts.
    pub customer_value: Option<crate::customer::ValueExplanation>,
}

impl Router {
    /// Explains an open conversation, listing at most `limit` candidate agents.
    pub fn explain(&self, now: Millis, id: ConversationId, limit: usize) -> Option<Explanation> {
        let c = self.conversations.get(&id)?;
        let class = c.channel.class();
        let holder = c.holder();
        let mut candidates: Vec<CandidateAgent> = self
            .agents
            .iter()
            .map(|(slot, a)| {
                let missing: Vec<(Arc<str>, u8)> = c
                    .required_names
                    .iter()
                    .filter(|(name, level)| {
                        let has = self
                            .skills
                            .get(name)
                            .and_then(|s| a.skills.level_of(s))
                            .unwrap_or(0);
                        has < *level
                    })
                    .cloned()
                    .collect();
                let eligible = missing.is_empty();
                let has_room = a.has_room(class);
                let declined = c.skips(&a.id, now);
                let idle_ms = now.saturating_sub(a.last_active_at);
                let free = eligible && has_room && !declined && a.presence == Presence::Available;
                CandidateAgent {
                    agent: a.id.clone(),
                    eligible,
                    missing,
                    has_room,
                    presence: a.presence,
                    declined,
                    idle_ms,
                    score: if free { idle_ms as f64 / 1000.0 } else { 0.0 },
                    chosen: Some(slot) == holder,
                }
            })
            .collect();
        candidates.sort_by(|a, b| {
            b.chosen
                .cmp(&a.chosen)
                .then(b.score.total_cmp(&a.score))
                .then(b.eligible.cmp(&a.eligible))
                .then(a.agent.cmp(&b.agent))
        });
        let candidates_total = candidates.len();
        let (state, position) = match c.state {
            State::Queued => (
                ConversationState::Queued,
                Some(self.waiting.position(c.profile, c.key, id)),
            ),
            State::Offered { .. } => (ConversationState::Offered, None),
            State::Assigned { .. } => (ConversationState::Assigned, None),
            State::Parked { .. } => (ConversationState::Parked, None),
            State::WithBot => (ConversationState::WithBot, None),
        };
        let verdict = match (&c.decided, c.state) {
            (_, State::WithBot) => {
                "a bot is serving it; it goes to a person only at a handoff".to_owned()
            }
            (Some(d), State::Offered { .. }) => {
                format!("offered to {}: {}", d.agent, d.rule.describe())
            }
            (Some(d), State::Assigned { .. }) => {
                format!("assigned to {} (accepted): {}", d.agent, d.rule.describe())
            }
            _ => waiting_verdict(&candidates, position.unwrap_or(0)),
        };
        candidates.truncate(limit);
        let priority_policy = &self.policy.priority;
        let boosts: Vec<&'static str> = c.boosts.iter().map(|b| b.as_str()).collect();
        let priority = priority_policy.tiers[c.tier].weight
            + c.boosts
                .iter()
                .map(|b| priority_policy.boosts.weight(b))
                .sum::<f64>()
            + priority_policy.aging_per_sec * c.waited_ms(now) as f64 / 1000.0;
        Some(Explanation {
            conversation: id,
            state,
            agent: holder.map(|slot| self.agent_id(slot)),
            verdict,
            rule: c.decided.as_ref().map(|d| d.rule),
            decided_at: c.decided.as_ref().map(|d| d.at),
            position,
            priority,
            tier: priority_policy.tiers[c.tier].name.clone(),
            boosts,
            required: c.required_names.clone(),
            escalation: c.step,
            candidates,
            candidates_total,
            customer_value: c.customer_profile.and_then(|p| self.customer_value(p, now)),
        })
    }
}

/// Why a queued conversation has no agent yet, from the candidates' verdicts.
fn waiting_verdict(candidates: &[CandidateAgent], position: usize) -> String {
    if candidates.is_empty() {
        return "waiting: no agent is signed in".to_owned();
    }
    let eligible: Vec<&CandidateAgent> = candidates.iter().filter(|c| c.eligible).collect();
    if eligible.is_empty() {
        return format!(
            "waiting: none of the {} signed-in agents has every required skill at its level",
            candidates.len()
        );
    }
    let count = |f: &dyn Fn(&CandidateAgent) -> bool| eligible.iter().filter(|c| f(c)).count();
    let full = count(&|c| c.presence == Presence::Available && !c.has_room);
    let away = count(&|c| c.presence == Presence::Away);
    let wrap_up = count(&|c| c.presence == Presence::WrapUp);
    let declined = count(&|c| c.declined);
    format!(
        "waiting: all {} eligible agents are taken ({full} at capacity, {away} away, \
         {wrap_up} in wrap-up, {declined} declined it recently); {} conversations are ahead \
         of it for the same agents",
        eligible.len(),
        position.saturating_sub(1)
    )
}
