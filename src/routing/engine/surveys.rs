//! The satisfaction survey after an agent closes a conversation: asked in the same
//! channel with quick replies, read from the customer's next message on that thread,
//! reminded once, lapsed after a while. The answer is credited to the conversation,
//! the agent, the queue and the person; a low score leaves a follow-up item.

use super::*;
use crate::customer::read_answer;
use crate::routing::surveys::{FollowUp, PendingSurvey, Question, on_five_points};

impl Router {
    fn survey_enabled(&self, queue: usize) -> bool {
        self.policy
            .queues
            .get(queue)
            .and_then(|q| q.survey)
            .unwrap_or(self.policy.survey.enabled)
    }

    /// At a close by `agent`: asks the customer, before the close notice, when the
    /// conversation's queue surveys.
    pub(super) fn ask_survey(&mut self, now: Millis, id: ConversationId, agent: &AgentId) {
        let c = &self.conversations[&id];
        if !self.survey_enabled(c.queue) {
            return;
        }
        if !self.surveys.has_room() {
            tracing::warn!(conversation_id = %id, "survey not asked: the tenant's pending surveys are at their bound");
            return;
        }
        let policy = self.policy.survey;
        let question = Question::Satisfaction(policy.scale);
        let after = if policy.reminder_secs > 0 {
            policy.reminder_secs
        } else {
            policy.expire_secs
        };
        let survey = PendingSurvey {
            conversation: id,
            adapter: c.adapter.clone(),
            channel: c.channel,
            channel_conversation_id: c.channel_conversation_id.clone(),
            customer_id: c.customer.id.clone(),
            language: c.language.clone(),
            queue: c.queue,
            tier: c.tier,
            agent: agent.clone(),
            profile: c.customer_profile,
            question,
            reminded: policy.reminder_secs == 0,
            due: now + after * 1000,
            satisfaction: None,
        };
        self.send_survey_question(&survey, false);
        self.emit(now, id, EventKind::SurveyAsked);
        self.surveys.ask(survey);
    }

    fn send_survey_question(&mut self, survey: &PendingSurvey, reminder: bool) {
        let text = survey_text(&survey.language, survey.question, reminder);
        let buttons = survey_buttons(survey.question);
        self.notices
            .push(Notice::ToCustomer(survey_notice(survey, text, buttons)));
    }

    /// A customer message on a thread with no open conversation: the answer to the
    /// survey waiting there, if it is one. Anything else drops the survey (the
    /// customer moved on) and opens a conversation as usual.
    pub(super) fn survey_reply(
        &mut self,
        now: Millis,
        msg: &InboundMessage,
    ) -> Option<MessageOutcome> {
        let waiting = self
            .surveys
            .waiting_on(msg.channel, &msg.channel_conversation_id)?;
        if *waiting.customer_id != *msg.customer_id {
            return None;
        }
        let id = waiting.conversation;
        let mut survey = self.surveys.take(id).expect("found above");
        let Some(score) = read_answer(&msg.text, survey.question.scale()) else {
            self.emit_ended(now, &survey, EventKind::SurveyUnanswered { moved_on: true });
            return None;
        };
        if let Some(ended) = self.ended.get_mut(id) {
            match survey.question {
                Question::Recommend => ended.recommend = Some(score),
                Question::Satisfaction(_) => ended.satisfaction = Some(score),
            }
        }
        self.emit_ended(
            now,
            &survey,
            EventKind::SurveyAnswered {
                question: survey.question,
                score,
                agent: survey.agent.clone(),
            },
        );
        let mut low = false;
        if let Question::Satisfaction(scale) = survey.question {
            let five = on_five_points(score, scale);
            low = five <= self.policy.survey.low_score;
            survey.satisfaction = Some(five);
            if let Some(profile) = survey.profile {
                self.profiles.rate_contact(profile, id.0, five);
                self.reassess(profile, now);
            }
            if low {
                self.surveys.follow_up(FollowUp {
                    conversation: id,
                    at: now,
                    score: five,
                    agent: survey.agent.clone(),
                    queue: survey.queue,
                    channel: survey.channel,
                    profile: survey.profile,
                });
            }
            if !low && self.policy.survey.asks_recommend(id) {
                survey.question = Question::Recommend;
                survey.reminded = true;
                survey.due = now + self.policy.survey.expire_secs * 1000;
                self.send_survey_question(&survey, false);
                self.surveys.ask(survey);
                return Some(MessageOutcome {
                    conversation: id,
                    created: false,
                    duplicate: false,
                });
            }
        }
        let thanks = survey_thanks(&survey.language, low);
        self.notices.push(Notice::ToCustomer(survey_notice(
            &survey,
            thanks,
            Vec::new(),
        )));
        Some(MessageOutcome {
            conversation: id,
            created: false,
            duplicate: false,
        })
    }

    /// Reminds the surveys due a reminder, and lets the others lapse.
    pub(super) fn survey_timers(&mut self, now: Millis) {
        if self.surveys.is_empty() {
            return;
        }
        for mut survey in self.surveys.take_due(now) {
            if survey.reminded {
                self.emit_ended(
                    now,
                    &survey,
                    EventKind::SurveyUnanswered { moved_on: false },
                );
                continue;
            }
            survey.reminded = true;
            survey.due = now + self.policy.survey.expire_secs * 1000;
            self.send_survey_question(&survey, true);
            self.surveys.ask(survey);
        }
    }

    /// Low scores for supervisors to follow up, newest first.
    pub fn follow_ups(&self) -> impl Iterator<Item = &FollowUp> + '_ {
        self.surveys.follow_ups()
    }

    /// An event about a conversation that has ended, from what its survey kept.
    fn emit_ended(&mut self, at: Millis, survey: &PendingSurvey, kind: EventKind) {
        self.events.push(Event {
            seq: self.next_seq,
            at,
            conversation: survey.conversation,
            channel: survey.channel,
            tier: survey.tier,
            queue: survey.queue,
            kind,
        });
        self.next_seq += 1;
    }
}

fn survey_notice(survey: &PendingSurvey, text: Arc<str>, buttons: Vec<Button>) -> CustomerNotice {
    CustomerNotice {
        adapter: survey.adapter.clone(),
        conversation: survey.conversation,
        channel: survey.channel,
        channel_conversation_id: survey.channel_conversation_id.clone(),
        customer_id: survey.customer_id.clone(),
        body: CustomerNoticeBody::Message {
            sender: Sender::System,
            text,
            buttons,
            agent: None,
            queue_status: None,
        },
    }
}
