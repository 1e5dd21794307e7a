//! Follow-ups that run themselves (`[[routing.outbound.triggers]]`): a notification
//! some hours after an event about a person (an agent closed their conversation, an
//! order fact arrived, their health fell below the churn threshold), and optionally a
//! second one days later if they did not reply to the first (a nudge, then an offer).
//!
//! Plain data: the settings, checked at load, and the schedule of follow-ups due.

use std::collections::{BTreeMap, HashSet};

use super::notification::NotificationId;
use super::template::Templates;
use crate::customer::{ContactPurpose, ProfileId};
use crate::routing::Millis;

/// Longest delay of a step, in hours (90 days).
const MAX_DELAY_HOURS: u32 = 90 * 24;

/// What starts a follow-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerEvent {
    /// An agent closed one of the person's conversations.
    Close,
    /// An order fact about the person arrived (counted from the order's time).
    Order,
    /// The person's health fell below the churn threshold.
    AtRisk,
}

/// The step that follows when the first notification got no reply.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NextStep {
    /// Days after the first notification.
    pub after_days: u32,
    /// What it is for.
    pub kind: ContactPurpose,
    /// Its template (no variables: it is filled for everyone alike).
    pub template: String,
}

/// One follow-up rule.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowUpTrigger {
    /// What starts it.
    pub on: TriggerEvent,
    /// Hours after the event.
    pub after_hours: u32,
    /// What the notification is for.
    pub kind: ContactPurpose,
    /// Its template (no variables: it is filled for everyone alike).
    pub template: String,
    /// The template language; empty for the template's first.
    #[serde(default)]
    pub language: String,
    /// A second step when the first got no reply.
    #[serde(default)]
    pub then: Option<NextStep>,
}

impl FollowUpTrigger {
    /// Checks the delays and that both templates exist and need no variables.
    pub fn validate(&self, index: usize, templates: &Templates) -> Result<(), String> {
        let field = format!("outbound.triggers[{index}]");
        if self.after_hours > MAX_DELAY_HOURS {
            return Err(format!("{field}.after_hours: at most {MAX_DELAY_HOURS}"));
        }
        let none = Default::default();
        templates
            .render(&self.template, &self.language, "", &none)
            .map_err(|e| format!("{field}.template: {e}"))?;
        if let Some(then) = &self.then {
            if then.after_days == 0 || then.after_days * 24 > MAX_DELAY_HOURS {
                return Err(format!(
                    "{field}.then.after_days: 1-{}",
                    MAX_DELAY_HOURS / 24
                ));
            }
            templates
                .render(&then.template, &self.language, "", &none)
                .map_err(|e| format!("{field}.then.template: {e}"))?;
        }
        Ok(())
    }
}

/// A follow-up waiting for its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Due {
    /// The person.
    pub profile: ProfileId,
    /// The trigger, by index in the settings.
    pub trigger: usize,
    /// For the second step: the first step's notification, which a reply answered
    /// or not.
    pub after: Option<NotificationId>,
}

/// The follow-ups due, in time order; at most one per person and trigger.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FollowUps {
    due: BTreeMap<(Millis, u64), Due>,
    pending: HashSet<(ProfileId, usize)>,
    next_seq: u64,
}

impl FollowUps {
    /// Schedules `due` at `at`, unless the person already has one of this trigger
    /// pending or `limit` are pending; whether it was scheduled.
    pub fn schedule(&mut self, at: Millis, due: Due, limit: usize) -> bool {
        if self.due.len() >= limit || !self.pending.insert((due.profile, due.trigger)) {
            return false;
        }
        self.next_seq += 1;
        self.due.insert((at, self.next_seq), due);
        true
    }

    /// The follow-ups whose time has come, earliest first.
    pub fn take_due(&mut self, now: Millis) -> Vec<Due> {
        let mut taken = Vec::new();
        while let Some(entry) = self.due.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let due = entry.remove();
            self.pending.remove(&(due.profile, due.trigger));
            taken.push(due);
        }
        taken
    }

    /// Follow-ups pending.
    pub fn len(&self) -> usize {
        self.due.len()
    }

    /// Whether none is pending.
    pub fn is_empty(&self) -> bool {
        self.due.is_empty()
    }

    /// Forgets the follow-ups of the given people (an erasure).
    pub fn forget_people(&mut self, people: &[ProfileId]) {
        self.due.retain(|_, d| !people.contains(&d.profile));
        self.pending.retain(|(p, _)| !people.contains(p));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due(profile: u64) -> Due {
        Due {
            profile: ProfileId(profile),
            trigger: 0,
            after: None,
        }
    }

    #[test]
    fn one_follow_up_per_person_and_trigger_comes_due_in_time_order() {
        let mut f = FollowUps::default();
        assert!(f.schedule(200, due(1), 10));
        assert!(
            !f.schedule(100, due(1), 10),
            "already pending for this person"
        );
        assert!(f.schedule(100, due(2), 10));
        assert!(!f.schedule(100, due(3), 2), "the bound holds");
        assert_eq!(f.take_due(150), [due(2)]);
        assert_eq!(f.take_due(250), [due(1)]);
        assert!(
            f.schedule(300, due(1), 10),
            "taken, so it may be scheduled again"
        );
        f.forget_people(&[ProfileId(1)]);
        assert!(f.is_empty());
    }
}
