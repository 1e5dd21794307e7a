//! Routing decisions: which agent a conversation is offered to, and which
//! waiting conversation an agent with room is offered.

use super::*;

impl Router {
    /// Offers a queued conversation to the longest-idle eligible agent with room, if
    /// any; true when offered.
    pub(super) fn route_conversation(&mut self, now: Millis, id: ConversationId) -> bool {
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
    pub(super) fn fill_agent(&mut self, now: Millis, slot: AgentSlot) {
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
                        .find(|(_, id)| {
                            !self.declining.contains(id)
                                || !self.conversations[id].skips(&agent.id, now)
                        })
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
    pub(super) fn offer(&mut self, now: Millis, id: ConversationId, slot: AgentSlot, rule: Rule) {
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
        self.timers.schedule(expires_at, Timer::OfferExpiry(id));
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
        let details = self.offer_details(now, id, waited_ms);
        self.notices.push(Notice::ToAgent {
            agent: agent.clone(),
            notice: AgentNotice::Offer(Box::new(details)),
        });
        self.emit(now, id, EventKind::Offered { agent, waited_ms });
    }

    /// What an agent is shown of a conversation offered or given back to them.
    pub(super) fn offer_details(
        &self,
        now: Millis,
        id: ConversationId,
        waited_ms: u64,
    ) -> OfferDetails {
        let c = &self.conversations[&id];
        OfferDetails {
            conversation: id,
            channel: c.channel,
            customer: c.customer.clone(),
            tier: self.tier_names[c.tier].clone(),
            queue: self.queue_names[c.queue].clone(),
            transcript: c.transcript.render(),
            waited_ms,
            language: c.language.clone(),
            intent: c.extra().intent.clone(),
            handoff: c.handoff,
            customer_summary: c
                .customer_profile
                .and_then(|p| self.customer_summary(p, now)),
            answers: c.extra().answers.clone(),
        }
    }
}
