//! Lookups: requirements by name into skill bitsets and waiting profiles, and
//! ids from the desk into slots and conversations, with the refusals they share.

use super::*;

impl Router {
    pub(super) fn requirement(
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
    pub(super) fn conversation_requirement(
        &self,
        skills: &[(String, u8)],
    ) -> (LevelledSkills, NamedSkills) {
        let mut set = LevelledSkills::default();
        let mut unknown: Vec<(Arc<str>, u8)> = Vec::new();
        for (name, level) in skills {
            match self.skills.get(name) {
                Some(index) => set.insert(index, *level),
                None => {
                    set.insert(UNRESOLVED, 1);
                    let level = (*level).clamp(1, crate::routing::skills::MAX_PROFICIENCY);
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
    pub(super) fn track_unresolved(&mut self, id: ConversationId) {
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
    pub(super) fn resolve_waiting_skills(&mut self) {
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
    pub(super) fn reclaim_skills(&mut self) -> usize {
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
    pub(super) fn re_resolve(&mut self, id: ConversationId) {
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
    pub(super) fn requirement_profile(
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

    /// A configured queue's index by name.
    pub fn queue_index(&self, name: &str) -> Option<usize> {
        self.policy.queues.iter().position(|q| q.name == name)
    }

    pub(super) fn agent_slot(&self, agent_id: &str) -> Result<AgentSlot, RoutingError> {
        self.agents
            .slot_of(agent_id)
            .ok_or_else(|| RoutingError::AgentNotFound(agent_id.to_owned()))
    }

    /// The agent's slot, the conversation and its offer's expiry, when that
    /// conversation is offered to that agent; the refusal accept and decline share.
    pub(super) fn offer_to(
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

    pub(super) fn agent_id(&self, slot: AgentSlot) -> AgentId {
        self.agents.get(slot).expect("signed-in agent").id.clone()
    }

    pub(super) fn conversation_id(&self, text: &str) -> Result<ConversationId, RoutingError> {
        text.parse()
            .ok()
            .filter(|id| self.conversations.contains_key(id))
            .ok_or_else(|| RoutingError::ConversationNotFound(text.to_owned()))
    }

    /// The agent's slot and the conversation's id, when the agent is assigned it.
    pub(super) fn owned(
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
