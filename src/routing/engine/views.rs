//! Views of the router for the admin API, gauges and tests, and the invariant
//! check the property tests run after every step.

use super::*;

/// A conversation's snapshot in `state`, held by `agent`.
fn snapshot_of(
    c: &Conversation,
    state: ConversationState,
    agent: Option<AgentId>,
) -> ConversationSnapshot {
    ConversationSnapshot {
        id: c.id,
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
        intent: c.extra().intent.clone(),
        handoff: c.handoff,
        satisfaction: None,
        recommend: None,
    }
}

impl Router {
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
                returning: a.returning_until.is_some(),
            })
            .collect();
        views.sort_by(|a, b| a.id.cmp(&b.id));
        views
    }

    /// One open conversation's routing state, in the shape the event-built
    /// [`crate::routing::board::Board`] keeps, so the two can be compared.
    pub fn snapshot(&self, id: ConversationId) -> Option<ConversationSnapshot> {
        use ConversationState as S;
        let c = self.conversations.get(&id)?;
        let (state, agent) = match c.state {
            State::Queued => (S::Queued, None),
            State::Offered { agent, .. } => (S::Offered, Some(self.agent_id(agent))),
            State::Assigned { agent, .. } => (S::Assigned, Some(self.agent_id(agent))),
            State::Parked { .. } => (S::Parked, c.extra().parked_with.clone()),
            State::WithBot => (S::WithBot, None),
        };
        Some(snapshot_of(c, state, agent))
    }

    /// One conversation, open or among the recently ended ones (see
    /// [`Router::keep_ended`]), as it stands or as it ended.
    pub fn conversation(&self, id: ConversationId) -> Option<ConversationSnapshot> {
        self.snapshot(id).or_else(|| self.ended.get(id).cloned())
    }

    /// Keeps the last `limit` ended conversations visible to [`Router::conversation`].
    pub fn keep_ended(&mut self, limit: usize) {
        self.ended.set_limit(limit);
    }

    /// Records a conversation as it ends (`state` is how), waits banked.
    pub(super) fn record_ended(&mut self, now: Millis, c: &Conversation, state: ConversationState) {
        let mut last = snapshot_of(c, state, None);
        if let Some(since) = last.waiting_since.take() {
            last.waited_before_ms += now.saturating_sub(since);
        }
        self.ended.push(last);
    }

    /// The transcript of an open conversation, oldest first.
    pub fn transcript(&self, id: ConversationId) -> Option<Vec<TranscriptEntry>> {
        self.conversations.get(&id).map(|c| c.transcript.render())
    }

    /// Ids of every open conversation.
    pub fn open_ids(&self) -> Vec<ConversationId> {
        self.conversations.keys().copied().collect()
    }

    /// The first `limit` conversations waiting for an agent, in serving order across
    /// every queue and requirement.
    pub fn waiting_in_order(&self, limit: usize) -> Vec<ConversationId> {
        self.waiting.first_overall(limit)
    }

    /// 1-based serving order of a waiting conversation among all waiting ones.
    pub fn waiting_position(&self, id: ConversationId) -> Option<usize> {
        let c = self.conversations.get(&id)?;
        (c.state == State::Queued).then(|| self.waiting.overall_position(c.key, id))
    }

    /// Whether a bot handed this open conversation to a person.
    pub fn handed_off(&self, id: ConversationId) -> bool {
        self.conversations
            .get(&id)
            .is_some_and(|c| c.handoff.is_some())
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
                    if !self.timers.contains(expires_at, Timer::OfferExpiry(*id)) {
                        return Err(format!("{id} offered without a deadline"));
                    }
                    self.check_held(*id, agent)?;
                }
                State::Assigned { agent, .. } => self.check_held(*id, agent)?,
                State::Parked { until } => {
                    if !self.timers.contains(until, Timer::ParkLapse(*id))
                        || c.extra().parked_with.is_none()
                    {
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
        for (slot, a) in self.agents.iter() {
            if a.presence == Presence::WrapUp
                && !self.timers.contains(a.wrap_up_until, Timer::WrapUp(slot))
            {
                return Err(format!("agent {} in wrap-up without its end", a.id));
            }
            if let Some(until) = a.returning_until
                && !self.timers.contains(until, Timer::AgentReturn(slot))
            {
                return Err(format!("agent {} returning without a deadline", a.id));
            }
        }
        // Every timer times something still under way: ending it cancelled the timer.
        self.timers.check_index()?;
        for (due, timer) in self.timers.iter() {
            self.timer_holds(due, timer)?;
        }
        if !self.agents.lanes_are_consistent() {
            return Err("agent lanes out of step".to_owned());
        }
        Ok(())
    }

    pub(super) fn check_held(&self, id: ConversationId, slot: AgentSlot) -> Result<(), String> {
        let agent = self
            .agents
            .get(slot)
            .ok_or_else(|| format!("{id} held by a signed-out agent"))?;
        if agent.conversations.iter().filter(|&&c| c == id).count() != 1 {
            return Err(format!("{id} not held exactly once by agent {}", agent.id));
        }
        Ok(())
    }
}
