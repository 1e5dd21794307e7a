//! Timers: offer timeouts, decline cooldowns, quiet chats, parked windows, maximum
//! waits, escalation steps, wrap-ups, service-level boosts and queue-status updates,
//! all run by [`Router::tick`].

use std::sync::Arc;

use super::*;

impl Router {
    /// Runs timers, kind by kind in the order [`TimerKind`] lists them (see
    /// [`crate::routing::timer_queue`]): returning agents (after a restart or a dropped
    /// connection) that did not come back are
    /// signed out, expired offers go back to the queue (the agent is set away),
    /// conversations whose decline cooldown ended are routed again, quiet
    /// conversations park or end, waits reach their limits, escalation steps and
    /// wrap-ups end, service-level boosts apply, and waiting customers hear about
    /// meaningful moves. Every timer that fires is current: whatever it timed is
    /// still under way, since ending it cancelled the timer.
    pub fn tick(&mut self, now: Millis) {
        self.health_pass(now);
        self.retain_records(now);
        self.survey_timers(now);
        self.outbound_timers(now);
        self.campaign_timers(now);
        self.follow_up_timers(now);
        for (due, timer) in self.timers.pop_due(now, TimerKind::AgentReturn) {
            self.debug_assert_current(now, due, timer);
            let Timer::AgentReturn(slot) = timer else {
                unreachable!("popped by kind")
            };
            self.return_expired(now, slot);
        }
        // Every expired offer is withdrawn (and its agent set away) before any is
        // routed again, so none goes to an agent whose own offer expired in this tick.
        let mut expired = Vec::new();
        for (due, timer) in self.timers.pop_due(now, TimerKind::OfferExpiry) {
            self.debug_assert_current(now, due, timer);
            let Timer::OfferExpiry(id) = timer else {
                unreachable!("popped by kind")
            };
            let Some(slot) = self.conversations[&id].holder() else {
                unreachable!("an offer expiry is cancelled when the offer ends")
            };
            let agent = self.agent_id(slot);
            self.notices.push(Notice::ToAgent {
                agent: agent.clone(),
                notice: AgentNotice::OfferWithdrawn {
                    conversation: id,
                    reason: "timeout",
                },
            });
            self.release_to_queue(now, id, QueueReason::OfferTimeout);
            self.change_presence(now, slot, Presence::Away, "offer_timeout");
            expired.push(id);
        }
        // Cooldowns that ended make agents eligible again; then the withdrawn and the
        // retried conversations are routed together, in serving order.
        let mut reroute: Vec<(PriorityKey, ConversationId)> = expired
            .into_iter()
            .map(|id| (self.conversations[&id].key, id))
            .collect();
        for (due, timer) in self.timers.pop_due(now, TimerKind::DeclineCooldown) {
            self.debug_assert_current(now, due, timer);
            let Timer::DeclineCooldown(id) = timer else {
                unreachable!("popped by kind")
            };
            let c = self.conversations.get_mut(&id).expect("open conversation");
            let declined_by = &mut c.extra_mut().declined_by;
            declined_by.retain(|(_, until)| *until > now);
            if declined_by.is_empty() {
                self.declining.remove(&id);
            }
            if c.state == State::Queued {
                reroute.push((c.key, id));
            }
        }
        reroute.sort_unstable();
        reroute.dedup();
        for (_, id) in reroute {
            self.route_conversation(now, id);
        }
        for (due, timer) in self.timers.pop_due(now, TimerKind::IdleCheck) {
            self.debug_assert_current(now, due, timer);
            if let Timer::IdleCheck(id) = timer {
                self.park(now, id);
            }
        }
        for (due, timer) in self.timers.pop_due(now, TimerKind::ParkLapse) {
            self.debug_assert_current(now, due, timer);
            let Timer::ParkLapse(id) = timer else {
                unreachable!("popped by kind")
            };
            let c = &self.conversations[&id];
            let notice = customer_notice(c, CustomerNoticeBody::Closed(EndReason::Abandoned));
            self.notices.push(Notice::ToCustomer(notice));
            let waited_ms = c.waited_ms(now);
            self.emit(
                now,
                id,
                EventKind::Abandoned {
                    waited_ms,
                    while_waiting: false,
                },
            );
            self.end(now, id, ContactOutcome::Left);
        }
        for (due, timer) in self.timers.pop_due(now, TimerKind::MaxWait) {
            self.debug_assert_current(now, due, timer);
            if let Timer::MaxWait(id) = timer {
                self.fall_back(now, id);
            }
        }
        for (due, timer) in self.timers.pop_due(now, TimerKind::QueueLimit) {
            self.debug_assert_current(now, due, timer);
            if let Timer::QueueLimit(id) = timer {
                self.check_queue_limit(now, id);
            }
        }
        self.end_quiet_bot_conversations(now);
        self.last_agents.expire(now);
        for (due, timer) in self.timers.pop_due(now, TimerKind::Escalation) {
            self.debug_assert_current(now, due, timer);
            if let Timer::Escalation(id) = timer {
                self.escalate(now, id);
            }
        }
        self.resume_tickets.expire(now);
        for (due, timer) in self.timers.pop_due(now, TimerKind::WrapUp) {
            self.debug_assert_current(now, due, timer);
            if let Timer::WrapUp(slot) = timer {
                self.change_presence(now, slot, Presence::Available, "wrap_up_over");
                self.fill_agent(now, slot);
            }
        }
        for (due, timer) in self.timers.pop_due(now, TimerKind::ServiceLevelRisk) {
            self.debug_assert_current(now, due, timer);
            let Timer::ServiceLevelRisk(id) = timer else {
                unreachable!("popped by kind")
            };
            // The boost is for waiting: a conversation an agent handles when it is due
            // never gets it (one parked or back in the queue then does).
            if !matches!(self.conversations[&id].state, State::Assigned { .. }) {
                self.boost(now, id, Boost::ServiceLevelRisk);
            }
        }
        let interval = self.policy.queue_update_interval_ms;
        if interval > 0 && now >= self.next_queue_update && self.queue_refresh.is_none() {
            self.next_queue_update = now + interval;
            self.queue_refresh = Some(RefreshCursor::default());
        }
        if let Some(cursor) = self.queue_refresh {
            self.queue_refresh = self.refresh_queue_status(cursor, REFRESH_PER_TICK);
        }
    }

    /// Whether a timer firing at `now` is current: what it times is still under way
    /// (see [`Router::timer_holds`]) and, for the quiet checks, the customer has
    /// been quiet for the whole window. Ending what a timer times cancels it, so this
    /// holds whenever the cancellations are complete; the property tests run with
    /// debug assertions and catch a missed one.
    pub(super) fn debug_assert_current(&self, now: Millis, due: Millis, timer: Timer) {
        if cfg!(debug_assertions) {
            let quiet = match timer {
                Timer::IdleCheck(id) => self
                    .conversations
                    .get(&id)
                    .is_some_and(|c| c.last_customer_at + self.policy.idle_release_ms <= now),
                Timer::BotIdle(id) => self
                    .conversations
                    .get(&id)
                    .is_some_and(|c| c.last_customer_at + self.policy.bot.idle_end_ms <= now),
                _ => true,
            };
            debug_assert!(
                due <= now && quiet && self.timer_holds(due, timer).is_ok(),
                "{timer:?} due at {due} fired at {now} but is not current: {:?}",
                self.timer_holds(due, timer)
            );
        }
    }

    /// Whether what `timer` (scheduled at `due`) times is still under way; `Err` says
    /// what ended without cancelling it. Checked for every timer by
    /// [`Router::check_invariants`].
    pub(super) fn timer_holds(&self, due: Millis, timer: Timer) -> Result<(), String> {
        let conversation = |id: ConversationId| {
            self.conversations
                .get(&id)
                .ok_or_else(|| format!("{timer:?} for ended conversation {id}"))
        };
        let agent = |slot: AgentSlot| {
            self.agents
                .get(slot)
                .ok_or_else(|| format!("{timer:?} for a signed-out agent"))
        };
        let holds = match timer {
            Timer::AgentReturn(slot) => agent(slot)?.returning_until == Some(due),
            Timer::WrapUp(slot) => {
                let a = agent(slot)?;
                a.presence == Presence::WrapUp && a.wrap_up_until == due
            }
            Timer::OfferExpiry(id) => matches!(
                conversation(id)?.state,
                State::Offered { expires_at, .. } if expires_at == due
            ),
            Timer::IdleCheck(id) => matches!(conversation(id)?.state, State::Assigned { .. }),
            Timer::ParkLapse(id) => {
                matches!(conversation(id)?.state, State::Parked { until } if until == due)
            }
            Timer::BotIdle(id) => conversation(id)?.state == State::WithBot,
            Timer::Escalation(id) => conversation(id)?.step.is_some(),
            Timer::DeclineCooldown(id)
            | Timer::MaxWait(id)
            | Timer::QueueLimit(id)
            | Timer::ServiceLevelRisk(id) => {
                conversation(id)?;
                true
            }
        };
        if holds {
            Ok(())
        } else {
            Err(format!("{timer:?} at {due} outlived what it timed"))
        }
    }

    /// Parks a quiet assigned messaging conversation: the agent's capacity is freed
    /// and the agent told; the conversation waits for the customer for
    /// `parked_window_ms`.
    fn park(&mut self, now: Millis, id: ConversationId) {
        let Some(slot) = self.conversations[&id].holder() else {
            unreachable!("an idle check is cancelled when the assignment ends")
        };
        let agent = self.agent_id(slot);
        self.detach(now, id, slot);
        let until = now + self.policy.parked_window_ms;
        let c = self.conversations.get_mut(&id).expect("open conversation");
        c.state = State::Parked { until };
        c.waiting_since = None;
        c.extra_mut().parked_with = Some(agent.clone());
        self.timers.schedule(until, Timer::ParkLapse(id));
        self.notices.push(Notice::ToAgent {
            agent: agent.clone(),
            notice: AgentNotice::Parked {
                conversation: id,
                until,
            },
        });
        self.emit(now, id, EventKind::Parked { agent });
        self.fill_agent(now, slot);
    }

    /// The customer of a parked conversation wrote again: back to the same agent if
    /// they can take it now, otherwise into the queue in its old place.
    pub(super) fn unpark(&mut self, now: Millis, id: ConversationId) {
        let c = self.conversations.get_mut(&id).expect("open conversation");
        let State::Parked { .. } = c.state else {
            return;
        };
        self.timers.cancel(Timer::ParkLapse(id));
        let agent = c.extra.as_mut().and_then(|e| e.parked_with.take());
        self.enqueue(now, id, QueueReason::Returned);
        let c = &self.conversations[&id];
        let profile = self.waiting.profile(c.profile);
        let same_agent = agent.and_then(|a| self.agents.slot_of(&a)).filter(|&slot| {
            self.agents
                .get(slot)
                .is_some_and(|a| a.presence == Presence::Available && a.has_room(profile.class))
        });
        match same_agent {
            Some(slot) => self.offer(now, id, slot, Rule::LastAgent),
            None => {
                self.route_conversation(now, id);
            }
        }
    }

    /// A conversation reached its queue's maximum wait: the customer is told (never
    /// silence) and, if the queue names one, it moves to the fallback queue keeping
    /// its place.
    /// Ends a conversation that has waited `max_queue_secs` in all and still waits,
    /// telling the customer; one that is not waiting now is checked again when it
    /// could next reach the limit.
    fn check_queue_limit(&mut self, now: Millis, id: ConversationId) {
        let limit = self.policy.max_queue_secs * 1000;
        let c = &self.conversations[&id];
        let waited_ms = c.waited_ms(now);
        let waiting = matches!(c.state, State::Queued | State::Offered { .. });
        if !waiting || waited_ms < limit {
            // Time waited only grows while waiting: check again when it could reach
            // the limit (at least a second from now, so held conversations cost little).
            let again = now + limit.saturating_sub(waited_ms).max(1_000);
            self.timers.schedule(again, Timer::QueueLimit(id));
            return;
        }
        if let State::Offered { agent, .. } = c.state {
            let agent_id = self.agent_id(agent);
            self.notices.push(Notice::ToAgent {
                agent: agent_id,
                notice: AgentNotice::OfferWithdrawn {
                    conversation: id,
                    reason: "wait_limit",
                },
            });
        }
        let text = wait_limit_text(&c.language);
        let message = system_message(c, text);
        let closed = customer_notice(c, CustomerNoticeBody::Closed(EndReason::WaitLimit));
        self.notices.push(Notice::ToCustomer(message));
        self.notices.push(Notice::ToCustomer(closed));
        self.emit(
            now,
            id,
            EventKind::Abandoned {
                waited_ms,
                while_waiting: true,
            },
        );
        if let Some(slot) = self.end(now, id, ContactOutcome::WaitLimit) {
            self.fill_agent(now, slot);
        }
    }

    fn fall_back(&mut self, now: Millis, id: ConversationId) {
        let c = &self.conversations[&id];
        // The wait is what it limits: a conversation an agent took or parked by then
        // does not fall back.
        if !matches!(c.state, State::Queued | State::Offered { .. }) {
            return;
        }
        let queue = &self.queue_escalation[c.queue];
        let chinese = is_chinese(&c.language);
        let (text, buttons) = match (queue.fallback_message.as_str(), queue.fallback_queue) {
            ("", Some(_)) if chinese => ("正在为您扩大服务范围，尽快为您接入客服，您的排队位置保持不变。".to_owned(), Vec::new()),
            ("", Some(_)) => (
                "Sorry for the wait: we are widening the search for an agent, and you keep your place.".to_owned(),
                Vec::new(),
            ),
            ("", None) => {
                let (text, call, mail) = if chinese {
                    ("抱歉让您久等了。您可以选择客服回电或邮件回复，也可以继续等待，排队位置保持不变。", "请回电", "邮件回复")
                } else {
                    (
                        "Sorry for the long wait. We can call you back or follow up by e-mail, or you can keep waiting: you keep your place.",
                        "Call me back",
                        "E-mail me",
                    )
                };
                let buttons = vec![
                    Button { label: call.to_owned(), payload: "callback".to_owned() },
                    Button { label: mail.to_owned(), payload: "email".to_owned() },
                ];
                (text.to_owned(), buttons)
            }
            (custom, _) => (custom.to_owned(), Vec::new()),
        };
        let fallback_queue = queue.fallback_queue;
        let notice = customer_notice(
            c,
            CustomerNoticeBody::Message {
                sender: Sender::System,
                text: Arc::from(text),
                buttons,
                agent: None,
                queue_status: None,
            },
        );
        self.notices.push(Notice::ToCustomer(notice));
        if let Some(target) = fallback_queue {
            let skills = self.queue_skills[target].clone();
            self.move_requirement(now, id, &skills, EscalationStep::Overflow, Some(target));
        }
    }

    /// Takes a conversation one step out on its queue's bullseye: preferred skills
    /// stop counting, then it overflows to the wider group. Its place is kept.
    fn escalate(&mut self, now: Millis, id: ConversationId) {
        let c = &self.conversations[&id];
        // Steps widen the search for an agent: one that has an agent by then stays
        // where it is, and takes no later step.
        if !matches!(c.state, State::Queued | State::Offered { .. }) {
            return;
        }
        let escalation = &self.queue_escalation[c.queue];
        let (next, skills, then) = match c.step {
            Some(EscalationStep::Preferred) => {
                let then =
                    (escalation.overflow_ms > 0).then(|| c.wait_origin + escalation.overflow_ms);
                let base = c.extra().base_required.clone().unwrap_or_default();
                (EscalationStep::Required, base, then)
            }
            Some(EscalationStep::Required) if escalation.overflow_ms > 0 => {
                (EscalationStep::Overflow, escalation.overflow.clone(), None)
            }
            _ => return,
        };
        if let Some(at) = then {
            self.timers.schedule(at.max(now), Timer::Escalation(id));
        }
        self.move_requirement(now, id, &skills, next, None);
    }

    /// Gives a waiting conversation a new requirement (an escalation step, or its
    /// queue's fallback queue when `queue` is set), keeping its place; emits the
    /// `escalated` event and routes it again at once.
    fn move_requirement(
        &mut self,
        now: Millis,
        id: ConversationId,
        skills: &[(String, u8)],
        step: EscalationStep,
        queue: Option<usize>,
    ) {
        let (required, names) = self.conversation_requirement(skills);
        let c = self.conversations.get_mut(&id).expect("open conversation");
        let profile = self.waiting.profile_for(&required, c.channel.class());
        if c.state == State::Queued {
            self.waiting.remove(c.profile, c.key, id);
            self.waiting.insert(profile, c.key, id);
        }
        c.profile = profile;
        c.required_names = names.clone();
        if let Some(extra) = c.extra.as_mut() {
            extra.base_required = None;
        }
        match queue {
            // A fallback queue is the end of this conversation's escalation.
            Some(queue) => {
                c.queue = queue;
                c.step = None;
                self.timers.cancel(Timer::Escalation(id));
            }
            None => c.step = Some(step),
        }
        self.track_unresolved(id);
        self.emit(
            now,
            id,
            EventKind::Escalated {
                step,
                required: names,
            },
        );
        self.route_conversation(now, id);
    }

    /// Whether a pass re-evaluating waiting customers' places is under way (it goes on
    /// at the next tick).
    pub fn refreshing_queue_positions(&self) -> bool {
        self.queue_refresh.is_some()
    }

    /// Tells waiting customers where they stand when it changed meaningfully since
    /// they were last told: the position fell to 80% of it or less (or to the front),
    /// or the estimate moved by a minute or more. Looks at no more than `budget`
    /// waiting conversations from `cursor` on; returns where to go on next tick, or
    /// `None` once the pass has reached the end of every profile. Positions are taken
    /// when each conversation is looked at, so a conversation that moves while a pass
    /// runs is told where it is then.
    fn refresh_queue_status(
        &mut self,
        cursor: RefreshCursor,
        budget: usize,
    ) -> Option<RefreshCursor> {
        let mut updates = Vec::new();
        let mut left = budget;
        let mut next = None;
        let profiles = self.waiting.profiles();
        for (p, profile) in profiles.iter().enumerate().skip(cursor.profile as usize) {
            let start = if p == cursor.profile as usize {
                (cursor.index as usize).min(profile.waiting.len())
            } else {
                0
            };
            let take = left.min(profile.waiting.len() - start);
            // Who can serve is the same for the whole profile: asked once.
            let servable = take > 0
                && self
                    .agents
                    .can_serve(&profile.required, &profile.skills, profile.class);
            for (offset, (_, id)) in profile.waiting.range_idx(start..start + take).enumerate() {
                let position = start + offset + 1;
                let now_status = self.estimate(profile.class, position, servable);
                let c = &self.conversations[id];
                let meaningful = match c.told {
                    None => true,
                    // An agent who can serve them signed in, or the last one left.
                    Some(told) if told.no_agent() != now_status.no_agent() => true,
                    Some(told) => {
                        let moved_up = f64::from(now_status.position)
                            <= 0.8 * f64::from(told.position)
                            || (now_status.position == 1 && told.position > 1);
                        let eta_moved = now_status
                            .estimated_wait_secs
                            .abs_diff(told.estimated_wait_secs)
                            >= 60;
                        moved_up || eta_moved
                    }
                };
                if meaningful {
                    updates.push((*id, now_status));
                }
            }
            left -= take;
            if start + take < profile.waiting.len() {
                next = Some(RefreshCursor {
                    profile: p as u32,
                    index: (start + take) as u32,
                });
                break;
            }
        }
        for (id, status) in updates {
            let c = self
                .conversations
                .get_mut(&id)
                .expect("waiting conversation");
            c.told = Some(status);
            let text = self.queue_texts.queue(&c.language, status);
            let notice = queue_note(c, text, status);
            self.notices.push(Notice::ToCustomer(notice));
        }
        next
    }
}

/// Waiting conversations one tick re-evaluates at most: a pass over 100,000 takes
/// 49 ticks (4.9 s at the tenant layer's 100 ms tick, inside the default 15 s interval), each
/// holding the tenant for tens of microseconds where the whole pass held it for about
/// 2 ms (`cargo bench --bench routing -- queue_refresh`).
pub(crate) const REFRESH_PER_TICK: usize = 2_048;

/// How far a pass re-evaluating waiting customers' positions has gone: the profile,
/// and the position in it, to go on from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) struct RefreshCursor {
    profile: u32,
    index: u32,
}
