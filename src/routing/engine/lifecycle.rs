//! Conversation lifecycle: into the queue, off an agent, to a new requirement,
//! ended; the queue note and first response; boosts; and the events each change emits.

use super::*;

impl Router {
    /// Puts a queued-state conversation into its profile and records the event.
    pub(super) fn enqueue(&mut self, now: Millis, id: ConversationId, reason: QueueReason) {
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
    pub(super) fn release_to_queue(
        &mut self,
        now: Millis,
        id: ConversationId,
        reason: QueueReason,
    ) {
        let c = &self.conversations[&id];
        if let Some(slot) = c.holder() {
            let was_assigned = matches!(c.state, State::Assigned { .. });
            self.detach(now, id, slot);
            if was_assigned {
                let notice = customer_notice(
                    &self.conversations[&id],
                    CustomerNoticeBody::Message {
                        sender: Sender::System,
                        text: reconnecting_text(&self.conversations[&id].language),
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
    pub(super) fn detach(&mut self, now: Millis, id: ConversationId, slot: AgentSlot) {
        let c = self.conversations.get_mut(&id).expect("open conversation");
        match c.state {
            State::Offered { .. } => {
                self.timers.cancel(Timer::OfferExpiry(id));
            }
            State::Assigned { .. } => {
                c.waiting_since = Some(now);
                // Quiet checks are for an assignment; the next one schedules its own.
                self.timers.cancel(Timer::IdleCheck(id));
            }
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
    pub(super) fn requeue_elsewhere(
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
        if let Some(extra) = c.extra.as_mut() {
            extra.declined_by.clear();
        }
        self.declining.remove(&id);
        c.step = None;
        // A requirement of its own: no escalation step applies any more.
        self.timers.cancel(Timer::Escalation(id));
        self.track_unresolved(id);
    }

    pub(super) fn emit_transfer_and_queue(
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
        self.skip_agent(id, from.clone(), until);
        if let Some(slot) = self.agents.slot_of(&from) {
            self.fill_agent(now, slot);
        }
        self.route_conversation(now, id);
    }

    /// Removes a conversation for good, keeping it in the person's history when they
    /// were recognised; returns the agent that held it, whose capacity is now free.
    pub(super) fn end(
        &mut self,
        now: Millis,
        id: ConversationId,
        outcome: ContactOutcome,
    ) -> Option<AgentSlot> {
        let holder = self.conversations[&id].holder();
        // Only a queued conversation is in the waiting index (an offer takes it out).
        let queued = self.conversations[&id].state == State::Queued;
        let agent = holder
            .map(|slot| self.agent_id(slot))
            .or_else(|| self.conversations[&id].extra().parked_with.clone());
        if let Some(slot) = holder {
            self.detach(now, id, slot);
        }
        let c = self.conversations.remove(&id).expect("open conversation");
        let ended_as = match outcome {
            ContactOutcome::Closed => ConversationState::Closed,
            ContactOutcome::BotFinished => ConversationState::BotFinished,
            _ => ConversationState::Abandoned,
        };
        self.record_ended(now, &c, ended_as);
        if let Some(profile) = c.customer_profile {
            self.profiles.record_contact(
                profile,
                Contact {
                    conversation: id.0,
                    channel: c.channel,
                    started_at: c.created_at,
                    ended_at: now,
                    outcome,
                    agent,
                    intent: c
                        .extra()
                        .intent
                        .clone()
                        .or_else(|| c.extra().bot_intent.clone()),
                    complaint: c.is_complaint(),
                    satisfaction: None,
                    origin: profile,
                },
            );
            self.reassess(profile, now);
            if outcome == ContactOutcome::Closed {
                self.trigger_follow_ups(profile, crate::outbound::TriggerEvent::Close, now);
            }
        }
        self.timers.cancel_conversation(id);
        if queued {
            self.waiting.remove(c.profile, c.key, id);
        }
        self.declining.remove(&id);
        self.unresolved.remove(&id);
        self.by_channel_key
            .remove(c.channel, &c.channel_conversation_id);
        holder
    }

    /// A system note with the queue status, for a conversation that just started
    /// waiting; it is the first response unless a bot already answered.
    pub(super) fn queue_note(&mut self, now: Millis, id: ConversationId, offered: bool) {
        let c = &self.conversations[&id];
        let status = if offered {
            QueueStatus {
                position: 0,
                estimated_wait_secs: 0,
            }
        } else {
            let position = self.waiting.position(c.profile, c.key, id);
            self.queue_status(c.profile, position)
        };
        let text = if c.handoff.is_some() {
            self.queue_texts.handoff(&c.language, status)
        } else {
            self.queue_texts.queue(&c.language, status)
        };
        let notice = queue_note(c, text, status);
        let c = &mut self.conversations.get_mut(&id).expect("open conversation");
        // Kept as figures: the text is made again, the same, when the transcript is read.
        let handoff = c.handoff.is_some();
        let limit = self.policy.transcript_limit;
        c.transcript
            .push_queue_note(limit, now, status, handoff, &c.language);
        c.told = Some(status);
        self.notices.push(Notice::ToCustomer(notice));
        self.mark_responded(now, id, Responder::System);
    }

    /// Records the first response of a conversation, once.
    pub(super) fn mark_responded(&mut self, now: Millis, id: ConversationId, responder: Responder) {
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

    /// Position and wait estimate for the `position`-th conversation of profile `p`.
    pub(super) fn queue_status(&self, p: ProfileIndex, position: usize) -> QueueStatus {
        let profile = self.waiting.profile(p);
        let servable = self
            .agents
            .can_serve(&profile.required, &profile.skills, profile.class);
        self.estimate(profile.class, position, servable)
    }

    /// Position and wait estimate for the `position`-th conversation of a class;
    /// `servable` when a signed-in agent can serve it (else there is no estimate: 0).
    ///
    /// Estimate: conversations ahead, including this one, times the moving average
    /// handle time (accept to close; `default_handle_secs` until the first close),
    /// divided by the capacity of signed-in agents not away for the class: the time for the
    /// agents to work through the queue ahead at their usual pace. At least a second,
    /// so it never reads as "no agent".
    pub(super) fn estimate(
        &self,
        class: ChannelClass,
        position: usize,
        servable: bool,
    ) -> QueueStatus {
        let estimated_wait_secs = if servable {
            let capacity = self.agents.present_capacity(class).max(1);
            let eta_ms = self.average_handle_ms * position as f64 / f64::from(capacity);
            ((eta_ms / 1000.0).ceil() as u32).max(1)
        } else {
            0
        };
        QueueStatus {
            position: position as u32,
            estimated_wait_secs,
        }
    }

    /// Offers a new conversation to the agent who last served this customer, when the
    /// preference window is open and that agent can take it now; true when offered.
    pub(super) fn offer_to_last_agent(&mut self, now: Millis, id: ConversationId) -> bool {
        if self.last_agents.is_empty() {
            return false;
        }
        let c = &self.conversations[&id];
        let Some(agent) = self.last_agents.get(&c.customer_key(), now) else {
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
    pub(super) fn boost(&mut self, now: Millis, id: ConversationId, boost: Boost) {
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

    pub(super) fn emit(&mut self, at: Millis, id: ConversationId, kind: EventKind) {
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
}
