//! Carrying agents over a restart: agents the journal brought back hold their
//! conversations for a grace window, take no offers until they sign in again, and are
//! signed out (their conversations routed again) if they do not.

use super::*;

impl Router {
    /// The server restarted from its journal. Every agent it had is kept as
    /// *returning*: offers in flight go back to their places, assigned conversations
    /// stay with the agent, and no new offer is made to it. An agent that signs in
    /// again before `now + grace_ms` gets its conversations back as accepted; one that
    /// does not is signed out then and its conversations are routed again. The next
    /// `skip_ids` conversation ids are never given (they may have been given in
    /// journal records a damaged disk lost). Returns how many agents are awaited.
    pub fn restarted(&mut self, now: Millis, grace_ms: u64, skip_ids: u64) -> usize {
        self.next_conversation += skip_ids;
        let until = now + grace_ms;
        let slots: Vec<AgentSlot> = self.agents.iter().map(|(slot, _)| slot).collect();
        let mut withdrawn = Vec::new();
        for &slot in &slots {
            let agent = self.agents.get(slot).expect("signed in");
            let offered: Vec<ConversationId> = agent
                .conversations
                .iter()
                .copied()
                .filter(|id| matches!(self.conversations[id].state, State::Offered { .. }))
                .collect();
            for id in offered {
                self.release_to_queue(now, id, QueueReason::AgentLost);
                withdrawn.push(id);
            }
            self.agents
                .get_mut(slot)
                .expect("signed in")
                .returning_until = Some(until);
            self.timers.reschedule(until, Timer::AgentReturn(slot));
        }
        withdrawn.sort_by_key(|id| self.conversations[id].key);
        for id in withdrawn {
            self.route_conversation(now, id);
        }
        slots.len()
    }

    /// Whether the agent has not come back since a restart (it holds its
    /// conversations, and what they receive waits in their transcripts).
    pub fn is_returning_agent(&self, agent: &str) -> bool {
        self.agents
            .slot_of(agent)
            .is_some_and(|slot| self.is_returning(slot))
    }

    /// Whether the agent in `slot` has not come back since a restart.
    pub(super) fn is_returning(&self, slot: AgentSlot) -> bool {
        self.agents
            .get(slot)
            .is_some_and(|a| a.returning_until.is_some())
    }

    /// A returning agent signed in again: it gets back what it held, as accepted,
    /// with the capacity and presence it signs in with. Its skills stay those it had
    /// before the restart until it next signs in afresh.
    pub(super) fn rejoin(&mut self, now: Millis, slot: AgentSlot, sign_in: SignIn) {
        let agent = self.agents.get_mut(slot).expect("signed in");
        agent.returning_until = None;
        self.timers.cancel(Timer::AgentReturn(slot));
        agent.display_name = sign_in.display_name;
        agent.capacity = sign_in.capacity;
        let (agent_id, held) = (agent.id.clone(), agent.conversations.clone());
        let presence = sign_in.presence;
        self.agents.update(slot, now, |a| a.presence = presence);
        if presence != Presence::WrapUp {
            self.timers.cancel(Timer::WrapUp(slot));
        }
        for id in held {
            let waited_ms = self.conversations[&id].waited_ms(now);
            let details = self.offer_details(now, id, waited_ms);
            self.notices.push(Notice::ToAgent {
                agent: agent_id.clone(),
                notice: AgentNotice::Resumed(Box::new(details)),
            });
        }
        self.fill_agent(now, slot);
    }
}
