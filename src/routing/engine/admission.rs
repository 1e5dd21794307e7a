//! Customers: a message opens a conversation or joins the open one, the first
//! wait and its timers begin, a customer leaves, the service shuts down.

use super::*;

impl Router {
    /// The person behind a new conversation: the channel's own customer id (which the
    /// authenticated adapter vouches for) and the identifiers the adapter sent, matched
    /// against the tenant's profiles. A message without identifiers only finds a
    /// profile its channel id already belongs to; it creates none, so tenants whose
    /// adapters send no identifiers pay nothing. `None` when nobody is recognised or
    /// the profiles are full.
    fn recognise(
        &mut self,
        now: Millis,
        msg: &InboundMessage,
        identities: Vec<ClaimedIdentity>,
    ) -> Option<ProfileId> {
        if identities.is_empty() && self.profiles.is_empty() {
            return None;
        }
        let channel_id = Identity::new(IdentityKind::Channel(msg.channel), &msg.customer_id).ok();
        if identities.is_empty() {
            return self.profiles.find(channel_id.as_ref()?).map(|p| p.id());
        }
        let mut claims = Vec::with_capacity(1 + identities.len());
        if let Some(identity) = channel_id {
            claims.push(ClaimedIdentity {
                identity,
                verified: true,
            });
        }
        claims.extend(identities);
        match self.profiles.resolve(now, &claims) {
            Ok(found) => {
                if !found.conflicts.is_empty() {
                    tracing::info!(profile = %found.profile, conflicts = ?found.conflicts,
                        "verified identifiers of several profiles: served as the first; an operator may merge them");
                }
                Some(found.profile)
            }
            Err(e) => {
                tracing::warn!(error = %e, "customer not recognised");
                None
            }
        }
    }

    /// A new conversation's value: a recognised person's value by the tenant's formula
    /// once its systems pushed facts about them; else from the figures the message
    /// carries (remembered on the person's profile), else what the profile remembers
    /// from an earlier conversation on any channel.
    fn value_of(
        &mut self,
        profile: Option<ProfileId>,
        figures: Option<(f64, f64)>,
        msg: &InboundMessage,
    ) -> f64 {
        if let Some((value, _)) = figures {
            return value.max(0.0);
        }
        let carried = msg.value.clv.is_some() || msg.value.average_order_value > 0.0;
        let computed = self.policy.priority.clv.lifetime_value(&msg.value);
        match profile {
            Some(p) if carried => {
                self.profiles.remember_value(p, computed);
                computed
            }
            Some(p) => self.profiles.remembered_value(p).unwrap_or(computed),
            None => computed,
        }
    }

    /// A customer message: opens a conversation (with a first response at once) or
    /// joins the open one with the same channel conversation id. The adapter it came
    /// through becomes its channel's adapter for notifications.
    pub fn customer_message(
        &mut self,
        now: Millis,
        msg: InboundMessage,
    ) -> Result<MessageOutcome, RoutingError> {
        // Learned only when the message is taken: a refused command changes nothing.
        let new_adapter = (self.channel_adapters[msg.channel.index()].as_ref()
            != Some(&msg.adapter))
        .then(|| (msg.channel, msg.adapter.clone()));
        let outcome = self.file_customer_message(now, msg)?;
        if let Some((channel, adapter)) = new_adapter {
            self.announce_adapter(now, channel, &adapter);
        }
        Ok(outcome)
    }

    fn file_customer_message(
        &mut self,
        now: Millis,
        msg: InboundMessage,
    ) -> Result<MessageOutcome, RoutingError> {
        if let Some(id) = self
            .by_channel_key
            .get(msg.channel, &msg.channel_conversation_id)
        {
            // The conversation belongs to the customer who opened it: the same channel
            // conversation id with another customer is someone else's conversation.
            if *self.conversations[&id].customer.id != *msg.customer_id {
                return Err(RoutingError::NotOwner(format!(
                    "channel_conversation_id: conversation {id} belongs to another customer"
                )));
            }
            return Ok(self.follow_up(now, id, msg));
        }
        if !self.surveys.is_empty()
            && let Some(answered) = self.survey_reply(now, &msg)
        {
            return Ok(answered);
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
        let mut msg = msg;
        // The message's own list, moved: most queues add no skills of their own.
        let mut base_required = std::mem::take(&mut msg.required_skills);
        if !self.queue_skills[queue].is_empty() {
            base_required.splice(0..0, self.queue_skills[queue].iter().cloned());
        }
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

        let identities = std::mem::take(&mut msg.identities);
        let customer_profile = self.recognise(now, &msg, identities);
        // One fold of the person's facts gives their value and whether they are at
        // risk (which keeps the at-risk index current too).
        let (figures, at_risk) = match customer_profile {
            Some(p) => self.reassess_valued(p, now),
            None => (None, false),
        };
        let clv = self.value_of(customer_profile, figures, &msg);
        let tier = self.policy.priority.tier_of(clv);
        let id = ConversationId(self.next_conversation);
        self.next_conversation += 1;
        let mut key = self.policy.priority.key(tier, msg.boosts, now, id.0);
        let mut reason = QueueReason::New;
        let customer_id: Arc<str> = Arc::from(msg.customer_id.as_str());
        if !self.resume_tickets.is_empty()
            && let Some(kept) = self
                .resume_tickets
                .take(&(msg.channel, customer_id.clone()), now)
            && kept < key
        {
            // Back within the window: the place they had, unless the new one is better.
            key = kept;
            reason = QueueReason::Resumed;
        }
        let channel_key: Arc<str> = Arc::from(msg.channel_conversation_id.as_str());
        let customer = Customer {
            id: customer_id,
            display_name: if msg.display_name.is_empty() {
                self.empty.clone()
            } else {
                Arc::from(msg.display_name.as_str())
            },
            clv,
        };
        // "退订" / "STOP" as a first message: answered and ended by the system, so
        // it never waits for a bot or a person.
        let unsubscribing = crate::customer::is_unsubscribe(&msg.text);
        let with_bot = unsubscribing || self.policy.bot.channels.contains(&msg.channel);
        let mut conversation = Conversation {
            id,
            channel: msg.channel,
            channel_conversation_id: channel_key.clone(),
            customer: customer.clone(),
            tier,
            queue,
            language: self.languages.intern(&msg.language),
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
            handoff: None,
            // The first message and the queue note fit in place: most waiting
            // conversations hold no more.
            transcript: Transcript::default(),
            recent_client_ids: VecDeque::new(),
            told: None,
            boosts: msg.boosts,
            decided: None,
            step: Some(step),
            last_customer_at: now,
            customer_profile,
            extra: base_required.map(|base| {
                Box::new(Extra {
                    base_required: Some(base),
                    ..Extra::default()
                })
            }),
        };
        remember_client_id(&mut conversation, msg.client_message_id);
        self.conversations.insert(id, Box::new(conversation));
        if self.outbox.awaits_replies() {
            self.outbound_reply(now, id);
        }
        let conversation = self.conversations.get_mut(&id).expect("just opened");
        let text: Arc<str> = Arc::from(msg.text.as_str());
        push_transcript(
            conversation,
            self.policy.transcript_limit,
            TranscriptEntry {
                sender: Sender::Customer,
                text: text.clone(),
                at: now,
                agent: None,
            },
        );
        self.track_unresolved(id);
        self.by_channel_key
            .insert(msg.channel, channel_key.clone(), id);
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
        if unsubscribing {
            self.opt_out(now, id);
            return Ok(MessageOutcome {
                conversation: id,
                created: true,
                duplicate: false,
            });
        }
        // A person whose health is below the threshold is at risk of leaving: served
        // sooner, as an adapter's churn-risk boost would do.
        if at_risk {
            self.boost(now, id, Boost::ChurnRisk);
        }
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
    pub(super) fn start_waiting(&mut self, now: Millis, id: ConversationId, reason: QueueReason) {
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
            self.timers.schedule(now + after, Timer::Escalation(id));
        }
        let risk_after = self.policy.priority.boosts.service_level_risk_after_secs;
        if risk_after > 0 {
            self.timers
                .schedule(now + risk_after * 1000, Timer::ServiceLevelRisk(id));
        }
        if max_wait > 0 {
            self.timers.schedule(now + max_wait, Timer::MaxWait(id));
        }
        let limit = self.policy.max_queue_secs * 1000;
        if limit > 0 {
            let waited = self.conversations[&id].waited_ms(now);
            self.timers
                .schedule(now + limit.saturating_sub(waited), Timer::QueueLimit(id));
        }
        let offered = self.offer_to_last_agent(now, id) || self.route_conversation(now, id);
        self.queue_note(now, id, offered);
    }

    /// A message in an open conversation: recorded, and relayed to the agent holding it.
    pub(super) fn follow_up(
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
            // The customer wrote: the quiet window starts over.
            self.timers
                .reschedule(now + self.policy.idle_release_ms, Timer::IdleCheck(id));
        }
        // A verdict is asked for the next message only.
        let asked = conversation
            .extra
            .as_mut()
            .and_then(|e| e.asked_verdict.take());
        match (conversation.state, conversation.holder()) {
            (State::WithBot, _) => match asked {
                Some(asked) => self.bot_message_after_answer(now, id, text, *asked),
                None => self.bot_turn(now, id, text, false),
            },
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
        let id = self
            .by_channel_key
            .get(channel, channel_conversation_id)
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
        // The agent holding it, if any, is told how it went away.
        let told = match state {
            State::Queued | State::Parked { .. } | State::WithBot => None,
            State::Offered { agent, .. } => Some((
                agent,
                AgentNotice::OfferWithdrawn {
                    conversation: id,
                    reason: "abandoned",
                },
            )),
            State::Assigned { agent, .. } => Some((
                agent,
                AgentNotice::Ended {
                    conversation: id,
                    reason: EndReason::Abandoned,
                },
            )),
        };
        if let Some((slot, notice)) = told {
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
        let window = self.policy.resume_window_ms;
        if while_waiting && window > 0 {
            let c = &self.conversations[&id];
            let lapses = now + window;
            let ticket = (c.channel, c.customer.id.clone());
            self.resume_tickets.insert(ticket, c.key, lapses);
        }
        let outcome = if while_waiting {
            ContactOutcome::AbandonedWaiting
        } else {
            ContactOutcome::Left
        };
        let freed = self.end(now, id, outcome);
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
                    text: shutdown_text(&c.language),
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
            self.end(now, id, ContactOutcome::Shutdown);
        }
        ids.len()
    }
}
