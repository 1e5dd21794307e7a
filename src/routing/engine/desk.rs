//! The desk: agents sign in and out, set presence, accept, decline, reply,
//! transfer and close.

use super::*;

impl Router {
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
        // Its slot may go to the next agent who signs in: none of its timers stay.
        self.timers.cancel_agent(slot);
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
        // Out of wrap-up early (presence is never set to wrap-up here).
        self.timers.cancel(Timer::WrapUp(slot));
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
        let (slot, id, _) = self.offer_to(agent_id, conversation)?;
        let c = self.conversations.get_mut(&id).expect("open conversation");
        self.timers.cancel(Timer::OfferExpiry(id));
        c.state = State::Assigned {
            agent: slot,
            since: now,
        };
        if self.policy.idle_release_ms > 0 && c.channel.class() == ChannelClass::Messaging {
            self.timers.reschedule(
                c.last_customer_at.max(now) + self.policy.idle_release_ms,
                Timer::IdleCheck(id),
            );
        }
        c.waited_before_ms = c.waited_ms(now);
        c.waiting_since = None;
        let (waited_ms, queue) = (c.waited_before_ms, c.queue);
        self.record_answer(queue, now, waited_ms);
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
        self.skip_agent(id, agent, until);
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
        // The first reply since the accept is an event (first-reply time); the
        // transcript since then says whether this agent already wrote.
        let first = match c.state {
            State::Assigned { since, .. } => !c.transcript.agent_wrote_since(since, &agent),
            _ => false,
        };
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
        if first {
            let agent = self.agent_id(slot);
            self.emit(now, id, EventKind::AgentReplied { agent });
        }
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
        let c = &self.conversations[&id];
        let complaint = c.is_complaint();
        self.ask_survey(now, id, &agent);
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
                complaint,
            },
        );
        let window = self.policy.last_agent_window_ms;
        if window > 0 {
            let c = &self.conversations[&id];
            self.last_agents
                .insert(c.customer_key(), agent.clone(), now + window);
        }
        self.end(now, id, ContactOutcome::Closed);
        let wrap_up = self.policy.wrap_up_ms;
        let available = self.agents.get(slot).map(|a| a.presence) == Some(Presence::Available);
        if wrap_up > 0 && available {
            let until = now + wrap_up;
            self.agents.update(slot, now, |a| a.wrap_up_until = until);
            self.timers.reschedule(until, Timer::WrapUp(slot));
            self.change_presence(now, slot, Presence::WrapUp, "wrap_up");
        }
        self.fill_agent(now, slot);
        Ok(())
    }

    /// A presence change the router makes (offer timeout, wrap-up): applied, and the
    /// agent's desk told why.
    pub(super) fn change_presence(
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
        if presence != Presence::WrapUp {
            // Out of wrap-up (it ended, or an expired offer set the agent away).
            self.timers.cancel(Timer::WrapUp(slot));
        }
        self.notices.push(Notice::ToAgent {
            agent,
            notice: AgentNotice::PresenceChanged { presence, reason },
        });
    }
}
