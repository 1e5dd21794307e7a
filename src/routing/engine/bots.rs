//! Conversations a bot serves first: turns for the bot, what the bot says, the
//! handoff to a person, and the end of quiet bot conversations.
//!
//! The router does not answer customers itself: it leaves a [`Notice::ToBot`] for
//! each customer message, and whoever runs the bot (built-in or external) comes back
//! with a [`BotAction`]. The router keeps what must hold whatever bot answers: the
//! transcript, the run of unsure answers, and the value priority and skills at a
//! handoff.

use super::*;
use crate::routing::answer_ratings::{Verdict, read_verdict};
use crate::routing::unanswered::{Miss, Unanswered};

impl Router {
    /// Asks the bot to answer a customer message, and watches for the customer going
    /// quiet.
    pub(super) fn bot_turn(
        &mut self,
        now: Millis,
        id: ConversationId,
        text: Arc<str>,
        first: bool,
    ) {
        self.bot_turn_after(now, id, text, first, None);
    }

    /// Like [`Router::bot_turn`], saying which answer the message calls unhelpful.
    fn bot_turn_after(
        &mut self,
        now: Millis,
        id: ConversationId,
        text: Arc<str>,
        first: bool,
        unsolved: Option<AskedVerdict>,
    ) {
        let c = &self.conversations[&id];
        let turn = BotTurn {
            conversation: id,
            channel: c.channel,
            language: c.language.clone(),
            text,
            first_turn: first,
            unsolved,
            answers: c.extra().answers.clone(),
        };
        self.notices.push(Notice::ToBot(turn));
        self.watch_bot_idle(now, id);
    }

    fn watch_bot_idle(&mut self, now: Millis, id: ConversationId) {
        if self.policy.bot.idle_end_ms > 0 {
            self.timers
                .reschedule(now + self.policy.bot.idle_end_ms, Timer::BotIdle(id));
        }
    }

    /// A customer message to a bot, while the bot's last answer awaits their verdict:
    /// a verdict is tallied (and "not solved" goes to the bot for something else, and
    /// to the unanswered questions); anything else is a new question.
    pub(super) fn bot_message_after_answer(
        &mut self,
        now: Millis,
        id: ConversationId,
        text: Arc<str>,
        asked: AskedVerdict,
    ) {
        let Some(verdict) = read_verdict(&text) else {
            return self.bot_turn(now, id, text, false);
        };
        self.answer_ratings.rated(&asked.intent, verdict);
        self.emit(
            now,
            id,
            EventKind::AnswerRated {
                intent: asked.intent.clone(),
                verdict,
            },
        );
        match verdict {
            Verdict::Solved => {
                let language = self.conversations[&id].language.clone();
                self.bot_says(now, id, solved_text(&language), Vec::new());
                self.watch_bot_idle(now, id);
            }
            Verdict::NotSolved => {
                let c = &self.conversations[&id];
                self.unanswered.record(Unanswered {
                    text: asked.question.clone(),
                    language: c.language.clone(),
                    channel: c.channel,
                    at: now,
                    miss: Miss::NotSolved {
                        intent: asked.intent.clone(),
                    },
                });
                self.bot_turn_after(now, id, text, false, Some(asked));
            }
        }
    }

    /// The customer and transcript of a conversation with a bot, for an external bot's
    /// task; `None` once it is no longer with a bot.
    pub fn bot_context(&self, id: ConversationId) -> Option<(Customer, Vec<TranscriptEntry>)> {
        let c = self.conversations.get(&id)?;
        (c.state == State::WithBot).then(|| (c.customer.clone(), c.transcript.render()))
    }

    /// Applies what a bot does with its turn. Refused with `FailedPrecondition` once
    /// the conversation is no longer with a bot (a late answer after a handoff).
    pub fn bot_action(
        &mut self,
        now: Millis,
        id: ConversationId,
        action: BotAction,
    ) -> Result<(), RoutingError> {
        let limit = self.policy.bot.low_confidence_limit;
        let c = self
            .conversations
            .get_mut(&id)
            .ok_or_else(|| RoutingError::ConversationNotFound(id.to_string()))?;
        if c.state != State::WithBot {
            return Err(RoutingError::FailedPrecondition(format!(
                "conversation {id} is no longer with a bot"
            )));
        }
        match action {
            BotAction::Say {
                text,
                mut buttons,
                understood,
                intent,
                language,
            } => {
                set_language(c, language);
                match understood {
                    Understood::Answered => c.extra_mut().bot_misses = 0,
                    Understood::SmallTalk => {}
                    Understood::NotSure => c.extra_mut().bot_misses += 1,
                }
                let intent: Option<Arc<str>> = intent.map(Arc::from);
                if let Some(intent) = &intent {
                    c.extra_mut().bot_intent = Some(intent.clone());
                }
                let (misses, language, channel) =
                    (c.extra().bot_misses, c.language.clone(), c.channel);
                let question = c.transcript.last_customer_text();
                if understood == Understood::NotSure
                    && let Some(question) = &question
                {
                    let miss = Miss::NotSure {
                        guess: intent.clone(),
                    };
                    self.unanswered.record(Unanswered {
                        text: question.clone(),
                        language: language.clone(),
                        channel,
                        at: now,
                        miss,
                    });
                }
                if understood == Understood::NotSure && misses >= limit.max(1) {
                    let handoff = Handoff {
                        reason: HandoffReason::LowConfidence,
                        intent: None,
                        skills: Vec::new(),
                        language: None,
                        note: None,
                    };
                    self.hand_off(now, id, handoff);
                } else if !text.is_empty() {
                    let asks = self.policy.bot.ask_solved && understood == Understood::Answered;
                    if asks && let (Some(intent), Some(question)) = (intent, question) {
                        buttons.extend(verdict_buttons(&language));
                        let c = self.conversations.get_mut(&id).expect("open conversation");
                        c.extra_mut().asked_verdict = Some(Box::new(AskedVerdict {
                            intent: intent.clone(),
                            question,
                        }));
                        self.answer_ratings.answered(&intent);
                    }
                    self.bot_says(now, id, Arc::from(text), buttons);
                }
            }
            BotAction::HandOff(handoff) => self.hand_off(now, id, handoff),
        }
        Ok(())
    }

    /// A bot message to the customer; the first one is the first response.
    fn bot_says(&mut self, now: Millis, id: ConversationId, text: Arc<str>, buttons: Vec<Button>) {
        let limit = self.policy.transcript_limit;
        let c = self.conversations.get_mut(&id).expect("open conversation");
        push_transcript(
            c,
            limit,
            TranscriptEntry {
                sender: Sender::Bot,
                text: text.clone(),
                at: now,
                agent: None,
            },
        );
        let notice = customer_notice(
            c,
            CustomerNoticeBody::Message {
                sender: Sender::Bot,
                text,
                buttons,
                agent: None,
                queue_status: None,
            },
        );
        self.notices.push(Notice::ToCustomer(notice));
        self.mark_responded(now, id, Responder::Bot);
    }

    /// Gives a conversation with a bot to a person: it keeps its transcript and value
    /// tier and boosts, gains the handoff's skills (and its language as a skill when
    /// configured), waits from now, and the customer hears where they stand.
    fn hand_off(&mut self, now: Millis, id: ConversationId, handoff: Handoff) {
        let language_skills = self.policy.bot.language_skills;
        // Off the bot for good: its quiet check goes.
        self.timers.cancel(Timer::BotIdle(id));
        let c = self.conversations.get_mut(&id).expect("open conversation");
        set_language(c, handoff.language);
        if let Some(note) = handoff.note.filter(|n| !n.trim().is_empty()) {
            let entry = TranscriptEntry {
                sender: Sender::System,
                text: Arc::from(format!("Bot note: {note}")),
                at: now,
                agent: None,
            };
            push_transcript(c, self.policy.transcript_limit, entry);
        }
        // The handoff's own intent, else what the bot last answered about; shown from
        // the handoff on (the `handed_off` event carries it).
        let intent = handoff
            .intent
            .map(Arc::from)
            .or_else(|| c.extra().bot_intent.clone());
        if intent.is_some() || c.extra.is_some() {
            c.extra_mut().intent = intent;
        }
        c.handoff = Some(handoff.reason);
        let mut extra = handoff.skills;
        if language_skills && !c.language.is_empty() {
            extra.push((language_skill(&c.language), 1));
        }
        let (intent, class) = (c.extra().intent.clone(), c.channel.class());
        if !extra.is_empty() {
            let mut first: Vec<(String, u8)> = c
                .required_names
                .iter()
                .map(|(name, level)| (name.to_string(), *level))
                .collect();
            merge_skills(&mut first, &extra);
            if let Some(base) = c.extra.as_mut().and_then(|e| e.base_required.as_mut()) {
                merge_skills(base, &extra);
            }
            // Skill names came through validation, so this cannot fail; if it did,
            // the conversation keeps its queue's requirement rather than being lost.
            if let Ok((profile, names)) = self.requirement_profile(&first, class) {
                let c = self.conversations.get_mut(&id).expect("open conversation");
                c.profile = profile;
                c.required_names = names;
                self.track_unresolved(id);
            }
        }
        let c = self.conversations.get_mut(&id).expect("open conversation");
        // Someone in danger waits no longer than an angry customer.
        if matches!(
            handoff.reason,
            HandoffReason::Complaint | HandoffReason::Safety
        ) {
            c.boosts.insert(Boost::Complaint);
        }
        c.key = self.policy.priority.key(c.tier, c.boosts, now, id.0);
        c.waiting_since = Some(now);
        c.wait_origin = now;
        self.emit(
            now,
            id,
            EventKind::HandedOff {
                reason: handoff.reason,
                intent,
            },
        );
        self.start_waiting(now, id, QueueReason::Handoff);
    }

    /// Ends conversations whose customer stopped writing while a bot served them.
    pub(super) fn end_quiet_bot_conversations(&mut self, now: Millis) {
        for (due, timer) in self.timers.pop_due(now, TimerKind::BotIdle) {
            self.debug_assert_current(now, due, timer);
            let Timer::BotIdle(id) = timer else {
                unreachable!("popped by kind")
            };
            let c = &self.conversations[&id];
            let notice = customer_notice(c, CustomerNoticeBody::Closed(EndReason::BotFinished));
            self.notices.push(Notice::ToCustomer(notice));
            self.emit(now, id, EventKind::BotFinished);
            self.end(now, id, ContactOutcome::BotFinished);
        }
    }
}

/// The skill an agent needs to serve a language: its primary tag, lower-case
/// (`zh-CN` needs `zh`).
pub fn language_skill(language: &str) -> String {
    language
        .split(['-', '_'])
        .next()
        .unwrap_or(language)
        .to_ascii_lowercase()
}

fn set_language(c: &mut Conversation, language: Option<String>) {
    if c.language.is_empty()
        && let Some(language) = language.filter(|l| !l.is_empty())
    {
        c.language = Arc::from(language);
    }
}

/// Adds skills to a requirement, keeping the higher level of a skill named twice.
fn merge_skills(into: &mut Vec<(String, u8)>, extra: &[(String, u8)]) {
    for (name, level) in extra {
        match into.iter_mut().find(|(n, _)| n == name) {
            Some((_, l)) => *l = (*l).max(*level),
            None => into.push((name.clone(), *level)),
        }
    }
}
