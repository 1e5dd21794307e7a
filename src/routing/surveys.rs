//! Satisfaction surveys after a close: which conversations wait for an answer, when
//! each is reminded once and when it lapses, and the follow-up items low scores
//! leave for supervisors.
//!
//! A survey outlives its conversation (the router forgets a closed conversation at
//! once), so it keeps what it needs to reach the customer and to credit the answer:
//! the adapter and channel keys, the agent, the queue, the tier and the person.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use crate::customer::{ProfileId, Scale};
use crate::routing::model::{AdapterId, AgentId, Channel, ConversationId, Millis};

/// `[routing.survey]`: whether and how a closed conversation asks for satisfaction.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SurveyPolicy {
    /// Ask after an agent closes a conversation (queues may turn it off on their own).
    pub enabled: bool,
    /// `five_point` (1-5) or `three_faces`.
    pub scale: Scale,
    /// Share (0-1) of surveyed conversations also asked how likely they are to
    /// recommend us (0-10), after their satisfaction answer.
    pub recommend_share: f64,
    /// Seconds without an answer after which the customer is reminded once; 0 = no
    /// reminder.
    pub reminder_secs: u64,
    /// Seconds after the question (or the reminder) at which it lapses.
    pub expire_secs: u64,
    /// Answers at or below this (on 1-5; faces are mapped 1, 3, 5) leave a follow-up
    /// item for supervisors and weigh on the customer's health.
    pub low_score: u8,
}

impl Default for SurveyPolicy {
    fn default() -> SurveyPolicy {
        SurveyPolicy {
            enabled: false,
            scale: Scale::FivePoint,
            recommend_share: 0.0,
            reminder_secs: 3_600,
            expire_secs: 86_400,
            low_score: 2,
        }
    }
}

impl SurveyPolicy {
    /// Checks the settings; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.scale == Scale::Recommend {
            return Err("survey.scale: five_point or three_faces".to_owned());
        }
        if !(0.0..=1.0).contains(&self.recommend_share) {
            return Err("survey.recommend_share: must be between 0 and 1".to_owned());
        }
        if self.expire_secs == 0 {
            return Err("survey.expire_secs: must be greater than 0".to_owned());
        }
        if !(1..=5).contains(&self.low_score) {
            return Err("survey.low_score: must be 1-5".to_owned());
        }
        Ok(())
    }

    /// Whether conversation `id` is also asked the recommendation question: a fixed
    /// share, chosen by the id so that a replay asks the same conversations.
    pub fn asks_recommend(&self, id: ConversationId) -> bool {
        let spread = id.0.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11;
        (spread as f64 / (1u64 << 53) as f64) < self.recommend_share
    }
}

/// Which question a survey waits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Question {
    /// How satisfied, on the policy's scale.
    Satisfaction(Scale),
    /// How likely to recommend us, 0-10.
    Recommend,
}

impl Question {
    /// The scale its answer is read on.
    pub fn scale(self) -> Scale {
        match self {
            Question::Satisfaction(scale) => scale,
            Question::Recommend => Scale::Recommend,
        }
    }
}

/// A survey waiting for the customer's answer.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PendingSurvey {
    /// The closed conversation.
    pub conversation: ConversationId,
    /// Where replies go.
    pub adapter: AdapterId,
    /// The channel.
    pub channel: Channel,
    /// The channel's conversation id: the customer's answer comes on it.
    pub channel_conversation_id: Arc<str>,
    /// The channel's customer id.
    pub customer_id: Arc<str>,
    /// The conversation's language.
    pub language: Arc<str>,
    /// Queue index.
    pub queue: usize,
    /// Value tier index.
    pub tier: usize,
    /// The agent who closed it.
    pub agent: AgentId,
    /// The person, when recognised.
    pub profile: Option<ProfileId>,
    /// The question waiting.
    pub question: Question,
    /// Whether the reminder went out.
    pub reminded: bool,
    /// When the reminder (or the lapse) is due.
    pub due: Millis,
    /// The satisfaction answer, once given (the recommendation question may follow).
    pub satisfaction: Option<u8>,
}

/// A low score a supervisor should follow up.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FollowUp {
    /// The conversation rated.
    pub conversation: ConversationId,
    /// When it was rated.
    pub at: Millis,
    /// The score, 1-5.
    pub score: u8,
    /// The agent who closed it.
    pub agent: AgentId,
    /// Queue index.
    pub queue: usize,
    /// The channel.
    pub channel: Channel,
    /// The person, when recognised.
    pub profile: Option<ProfileId>,
}

/// Surveys waiting per tenant; beyond it a close asks nothing (and it is counted).
pub const MAX_PENDING_SURVEYS: usize = 100_000;

/// Follow-up items kept; the oldest go first.
pub const FOLLOW_UPS_KEPT: usize = 10_000;

/// One tenant's surveys and follow-up items.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Surveys {
    pending: HashMap<ConversationId, PendingSurvey>,
    by_channel_key: HashMap<(Channel, Arc<str>), ConversationId>,
    due: BTreeSet<(Millis, ConversationId)>,
    follow_ups: VecDeque<FollowUp>,
}

impl Surveys {
    /// Whether no survey waits.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Whether there is room for another survey.
    pub fn has_room(&self) -> bool {
        self.pending.len() < MAX_PENDING_SURVEYS
    }

    /// Starts waiting for an answer; a survey on the same channel thread replaces the
    /// older one.
    pub fn ask(&mut self, survey: PendingSurvey) {
        let key = (survey.channel, survey.channel_conversation_id.clone());
        if let Some(older) = self.by_channel_key.get(&key).copied() {
            self.take(older);
        }
        self.by_channel_key.insert(key, survey.conversation);
        self.due.insert((survey.due, survey.conversation));
        self.pending.insert(survey.conversation, survey);
    }

    /// The survey waiting on a channel thread.
    pub fn waiting_on(
        &self,
        channel: Channel,
        channel_conversation_id: &str,
    ) -> Option<&PendingSurvey> {
        let id = self
            .by_channel_key
            .get(&(channel, Arc::from(channel_conversation_id)))?;
        self.pending.get(id)
    }

    /// Stops waiting for a survey and returns it.
    pub fn take(&mut self, id: ConversationId) -> Option<PendingSurvey> {
        let survey = self.pending.remove(&id)?;
        self.due.remove(&(survey.due, id));
        self.by_channel_key
            .remove(&(survey.channel, survey.channel_conversation_id.clone()));
        Some(survey)
    }

    /// The surveys whose reminder or lapse is due at `now`, taken out, oldest first.
    pub fn take_due(&mut self, now: Millis) -> Vec<PendingSurvey> {
        let due: Vec<ConversationId> = self
            .due
            .iter()
            .take_while(|(at, _)| *at <= now)
            .map(|(_, id)| *id)
            .collect();
        due.into_iter().filter_map(|id| self.take(id)).collect()
    }

    /// Keeps a low score for supervisors.
    pub fn follow_up(&mut self, item: FollowUp) {
        if self.follow_ups.len() >= FOLLOW_UPS_KEPT {
            self.follow_ups.pop_front();
        }
        self.follow_ups.push_back(item);
    }

    /// Forgets what is kept about the people `erased` (their follow-up items and the
    /// surveys still waiting for their answer); returns how many went.
    pub fn forget_people(&mut self, erased: &[ProfileId]) -> usize {
        let of = |p: Option<ProfileId>| p.is_some_and(|p| erased.contains(&p));
        let before = self.follow_ups.len();
        self.follow_ups.retain(|f| !of(f.profile));
        let waiting: Vec<ConversationId> = self
            .pending
            .values()
            .filter(|s| of(s.profile))
            .map(|s| s.conversation)
            .collect();
        for id in &waiting {
            self.take(*id);
        }
        before - self.follow_ups.len() + waiting.len()
    }

    /// Forgets the follow-up items rated before `cutoff` (retention); returns how
    /// many.
    pub fn forget_follow_ups_before(&mut self, cutoff: Millis) -> usize {
        let mut gone = 0;
        while self.follow_ups.front().is_some_and(|f| f.at < cutoff) {
            self.follow_ups.pop_front();
            gone += 1;
        }
        gone
    }

    /// Follow-up items, newest first.
    pub fn follow_ups(&self) -> impl Iterator<Item = &FollowUp> + '_ {
        self.follow_ups.iter().rev()
    }
}

/// A satisfaction answer on `scale` as 1-5 (faces: 1, 3, 5), for health and
/// follow-ups.
pub fn on_five_points(score: u8, scale: Scale) -> u8 {
    match scale {
        Scale::ThreeFaces => match score {
            1 => 1,
            2 => 3,
            _ => 5,
        },
        _ => score.clamp(1, 5),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn survey(id: u64, key: &str, due: Millis) -> PendingSurvey {
        PendingSurvey {
            conversation: ConversationId(id),
            adapter: Arc::from("web"),
            channel: Channel::Web,
            channel_conversation_id: Arc::from(key),
            customer_id: Arc::from("c"),
            language: Arc::from("en"),
            queue: 0,
            tier: 0,
            agent: Arc::from("ann"),
            profile: None,
            question: Question::Satisfaction(Scale::FivePoint),
            reminded: false,
            due,
            satisfaction: None,
        }
    }

    #[test]
    fn surveys_are_found_by_thread_fall_due_in_order_and_a_newer_one_replaces() {
        let mut s = Surveys::default();
        s.ask(survey(1, "t1", 50));
        s.ask(survey(2, "t2", 10));
        assert_eq!(s.waiting_on(Channel::Web, "t1").unwrap().conversation.0, 1);
        assert!(s.waiting_on(Channel::App, "t1").is_none());
        s.ask(survey(3, "t1", 70));
        assert_eq!(s.waiting_on(Channel::Web, "t1").unwrap().conversation.0, 3);
        let due: Vec<u64> = s.take_due(60).iter().map(|p| p.conversation.0).collect();
        assert_eq!(due, [2]);
        assert!(s.take(ConversationId(1)).is_none(), "replaced, gone");
        assert_eq!(s.take_due(100).len(), 1);
        assert!(s.is_empty());
    }

    #[test]
    fn the_recommendation_share_is_about_right_and_the_same_on_replay() {
        let policy = SurveyPolicy {
            recommend_share: 0.3,
            ..SurveyPolicy::default()
        };
        let asked = (1..=10_000)
            .filter(|&i| policy.asks_recommend(ConversationId(i)))
            .count();
        assert!((2_700..3_300).contains(&asked), "{asked}");
        assert_eq!(
            policy.asks_recommend(ConversationId(77)),
            policy.asks_recommend(ConversationId(77))
        );
        assert!(!SurveyPolicy::default().asks_recommend(ConversationId(1)));
        assert_eq!(on_five_points(2, Scale::ThreeFaces), 3);
        assert!(
            SurveyPolicy {
                scale: Scale::Recommend,
                ..SurveyPolicy::default()
            }
            .validate()
            .is_err()
        );
    }
}
