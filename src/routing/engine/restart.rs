//! Holding agents for a return: agents the journal brought back after a restart, and
//! agents whose connection dropped, hold their conversations for a window, take no
//! offers until they sign in again, and are signed out (their conversations routed
//! again) if they do not.

use super::*;

/// Agents held for a return, by how the window ended, since metrics last asked
/// ([`Router::take_reconnects`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reconnects {
    /// Agents that signed in again within their window and got their conversations back.
    pub resumed: u64,
    /// Agents whose window ran out: signed out, their conversations routed again.
    pub expired: u64,
}

impl Router {
    /// The server restarted from its journal. Every agent it had is kept as
    /// *returning* (see [`Router::hold_for_return`]) until `now + grace_ms`. The next
    /// `skip_ids` conversation ids are never given (they may have been given in
    /// journal records a damaged disk lost). Returns how many agents are awaited.
    pub fn restarted(&mut self, now: Millis, grace_ms: u64, skip_ids: u64) -> usize {
        self.next_conversation += skip_ids;
        let until = now + grace_ms;
        let slots: Vec<AgentSlot> = self.agents.iter().map(|(slot, _)| slot).collect();
        let mut withdrawn = Vec::new();
        for &slot in &slots {
            withdrawn.extend(self.hold_for_return(now, slot, until));
        }
        self.route_withdrawn(now, withdrawn);
        slots.len()
    }

    /// The connection of `agent_id`'s desk dropped (it did not sign out): it is held
    /// as *returning* (see [`Router::hold_for_return`]) for `grace_ms`, so a desk that
    /// reconnects within the window gets its conversations back. An agent that holds
    /// no accepted conversation has nothing to keep and is signed out at once, as is
    /// every agent when `grace_ms` is 0.
    pub fn connection_lost(
        &mut self,
        now: Millis,
        agent_id: &str,
        grace_ms: u64,
    ) -> Result<(), RoutingError> {
        let slot = self.agent_slot(agent_id)?;
        let holds_accepted = self
            .agents
            .get(slot)
            .expect("signed in")
            .conversations
            .iter()
            .any(|id| !matches!(self.conversations[id].state, State::Offered { .. }));
        if grace_ms == 0 || !holds_accepted {
            return self.sign_out(now, agent_id);
        }
        let withdrawn = self.hold_for_return(now, slot, now + grace_ms);
        self.route_withdrawn(now, withdrawn);
        Ok(())
    }

    /// Keeps the agent in `slot` as *returning* until `until`: offers in flight go
    /// back to their places (returned, for the caller to route again once every agent
    /// it holds is set), assigned conversations stay with the agent, and no new offer
    /// is made to it. An agent that signs in again before `until` gets its
    /// conversations back as accepted ([`Router::rejoin`]); one that does not is
    /// signed out then and its conversations are routed again.
    fn hold_for_return(
        &mut self,
        now: Millis,
        slot: AgentSlot,
        until: Millis,
    ) -> Vec<ConversationId> {
        let agent = self.agents.get(slot).expect("signed in");
        let offered: Vec<ConversationId> = agent
            .conversations
            .iter()
            .copied()
            .filter(|id| matches!(self.conversations[id].state, State::Offered { .. }))
            .collect();
        for &id in &offered {
            self.release_to_queue(now, id, QueueReason::AgentLost);
        }
        self.agents
            .get_mut(slot)
            .expect("signed in")
            .returning_until = Some(until);
        self.timers.reschedule(until, Timer::AgentReturn(slot));
        offered
    }

    /// Routes conversations taken back from returning agents, best place first.
    fn route_withdrawn(&mut self, now: Millis, mut withdrawn: Vec<ConversationId>) {
        withdrawn.sort_by_key(|id| self.conversations[id].key);
        for id in withdrawn {
            self.route_conversation(now, id);
        }
    }

    /// A returning agent's window ran out ([`Timer::AgentReturn`]): it is signed out
    /// and its conversations are routed again.
    pub(super) fn return_expired(&mut self, now: Millis, slot: AgentSlot) {
        let agent = self.agent_id(slot);
        self.reconnects.expired += 1;
        let _ = self.sign_out(now, &agent);
    }

    /// Agents held for a return since the last call, by how their window ended.
    pub fn take_reconnects(&mut self) -> Reconnects {
        std::mem::take(&mut self.reconnects)
    }

    /// Whether the agent has not come back since a restart or a dropped connection
    /// (it holds its conversations, and what they receive waits in their transcripts).
    pub fn is_returning_agent(&self, agent: &str) -> bool {
        self.agents
            .slot_of(agent)
            .is_some_and(|slot| self.is_returning(slot))
    }

    /// Whether the agent in `slot` has not come back since a restart or a dropped
    /// connection.
    pub(super) fn is_returning(&self, slot: AgentSlot) -> bool {
        self.agents
            .get(slot)
            .is_some_and(|a| a.returning_until.is_some())
    }

    /// A returning agent signed in again: it gets back what it held, as accepted,
    /// with the capacity and presence it signs in with. Its skills stay those it had
    /// before it left until it next signs in afresh.
    pub(super) fn rejoin(&mut self, now: Millis, slot: AgentSlot, sign_in: SignIn) {
        self.reconnects.resumed += 1;
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
