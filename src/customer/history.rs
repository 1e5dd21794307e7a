//! A person's past conversations, as their profile keeps them: the newest few, with
//! how each ended, for the agent's context and for the health score.

use std::collections::VecDeque;
use std::sync::Arc;

use super::health::HealthInputs;
use super::profiles::ProfileId;
use crate::routing::{Channel, Millis};

/// How a past conversation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ContactOutcome {
    /// An agent closed it.
    Closed,
    /// The customer left before an agent took it.
    AbandonedWaiting,
    /// The customer left while served (or went quiet while parked).
    Left,
    /// A bot served them to the end.
    BotFinished,
    /// It waited the tenant's limit without an agent.
    WaitLimit,
    /// The server shut down without a journal.
    Shutdown,
}

impl ContactOutcome {
    /// Stable name, for the contract and explanations.
    pub fn name(self) -> &'static str {
        match self {
            ContactOutcome::Closed => "closed",
            ContactOutcome::AbandonedWaiting => "abandoned_waiting",
            ContactOutcome::Left => "left",
            ContactOutcome::BotFinished => "bot_finished",
            ContactOutcome::WaitLimit => "wait_limit",
            ContactOutcome::Shutdown => "shutdown",
        }
    }
}

/// One past conversation.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Contact {
    /// The conversation's id (the router's number).
    pub conversation: u64,
    /// Where.
    pub channel: Channel,
    /// When it opened.
    pub started_at: Millis,
    /// When it ended.
    pub ended_at: Millis,
    /// How.
    pub outcome: ContactOutcome,
    /// The agent who served it last, if any.
    pub agent: Option<Arc<str>>,
    /// The intent the bot or the handoff named, if any.
    pub intent: Option<Arc<str>>,
    /// Whether it was a complaint (handed off as one, or boosted as one).
    pub complaint: bool,
    /// The customer's satisfaction answer, 1-5, once given.
    pub satisfaction: Option<u8>,
    /// The profile it was recorded on (it moves with merges and back with unmerges).
    pub origin: ProfileId,
}

/// Past conversations kept per person.
pub const CONTACTS_KEPT: usize = 20;

/// A complaint counts as open this long unless the customer rated the conversation
/// 4 or 5: service has not yet shown it was taken seriously.
pub const COMPLAINT_OPEN_MS: Millis = 30 * 24 * 3600 * 1000;

/// Contacts within this long of one about the same intent count as repeats.
pub const REPEAT_WINDOW_MS: Millis = 7 * 24 * 3600 * 1000;

/// Abandoned waits count against health this long.
pub const ABANDON_WINDOW_MS: Millis = 30 * 24 * 3600 * 1000;

/// The newest contacts of one person, oldest first.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct History {
    contacts: VecDeque<Contact>,
}

impl History {
    /// Keeps a contact; the oldest goes beyond [`CONTACTS_KEPT`].
    pub fn record(&mut self, contact: Contact) {
        if self.contacts.len() >= CONTACTS_KEPT {
            self.contacts.pop_front();
        }
        self.contacts.push_back(contact);
    }

    /// Records the satisfaction answer of a past conversation; false when it is not
    /// kept (any more).
    pub fn rate(&mut self, conversation: u64, score: u8) -> bool {
        match self
            .contacts
            .iter_mut()
            .rev()
            .find(|c| c.conversation == conversation)
        {
            Some(contact) => {
                contact.satisfaction = Some(score.clamp(1, 5));
                true
            }
            None => false,
        }
    }

    /// The contacts, oldest first.
    pub fn contacts(&self) -> impl DoubleEndedIterator<Item = &Contact> + '_ {
        self.contacts.iter()
    }

    /// Takes in another person's contacts (a merge), in time order.
    pub fn combine(&mut self, other: History) {
        let mut all: Vec<Contact> = self.contacts.drain(..).chain(other.contacts).collect();
        all.sort_by_key(|c| c.ended_at);
        let skip = all.len().saturating_sub(CONTACTS_KEPT);
        self.contacts = all.into_iter().skip(skip).collect();
    }

    /// Takes out the contacts recorded on the profiles `came` picks (an unmerge).
    pub fn split_off(&mut self, came: impl Fn(&ProfileId) -> bool) -> History {
        let (back, stay): (VecDeque<_>, VecDeque<_>) =
            self.contacts.drain(..).partition(|c| came(&c.origin));
        self.contacts = stay;
        History { contacts: back }
    }

    /// Forgets the contacts that ended before `cutoff` (retention); returns how many.
    pub fn forget_before(&mut self, cutoff: Millis) -> usize {
        let before = self.contacts.len();
        self.contacts.retain(|c| c.ended_at >= cutoff);
        before - self.contacts.len()
    }

    /// Complaints still open at `now`.
    pub fn open_complaints(&self, now: Millis) -> u32 {
        self.contacts
            .iter()
            .filter(|c| {
                c.complaint
                    && now.saturating_sub(c.ended_at) < COMPLAINT_OPEN_MS
                    && c.satisfaction.is_none_or(|s| s <= 3)
            })
            .count() as u32
    }

    /// What the health score needs from the contacts, with the last purchase from the
    /// person's facts.
    pub fn health_inputs(&self, now: Millis, last_purchase_at: Option<Millis>) -> HealthInputs {
        let recent = |window: Millis, c: &Contact| now.saturating_sub(c.ended_at) < window;
        let repeat_contacts = self
            .contacts
            .iter()
            .enumerate()
            .filter(|(i, c)| {
                recent(REPEAT_WINDOW_MS, c)
                    && c.intent.is_some()
                    && self.contacts.iter().take(*i).any(|earlier| {
                        earlier.intent == c.intent
                            && c.started_at.saturating_sub(earlier.ended_at) < REPEAT_WINDOW_MS
                    })
            })
            .count() as u32;
        HealthInputs {
            last_purchase_at,
            last_contact_at: self.contacts.back().map(|c| c.ended_at),
            satisfaction: self
                .contacts
                .iter()
                .filter_map(|c| Some((c.ended_at, c.satisfaction?)))
                .collect(),
            open_complaints: self.open_complaints(now),
            abandoned_waits: self
                .contacts
                .iter()
                .filter(|c| {
                    recent(ABANDON_WINDOW_MS, c)
                        && matches!(
                            c.outcome,
                            ContactOutcome::AbandonedWaiting | ContactOutcome::WaitLimit
                        )
                })
                .count() as u32,
            repeat_contacts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Millis = 24 * 3600 * 1000;
    const NOW: Millis = 400 * DAY;

    fn contact(n: u64, days_ago: u64, outcome: ContactOutcome, intent: Option<&str>) -> Contact {
        Contact {
            conversation: n,
            channel: Channel::Web,
            started_at: NOW - days_ago * DAY - 600_000,
            ended_at: NOW - days_ago * DAY,
            outcome,
            agent: None,
            intent: intent.map(Arc::from),
            complaint: false,
            satisfaction: None,
            origin: ProfileId(1),
        }
    }

    #[test]
    fn health_inputs_count_repeats_abandons_and_open_complaints_in_their_windows() {
        let mut h = History::default();
        h.record(contact(1, 60, ContactOutcome::AbandonedWaiting, None)); // too old
        h.record(contact(
            2,
            5,
            ContactOutcome::AbandonedWaiting,
            Some("refund"),
        ));
        h.record(contact(3, 3, ContactOutcome::Closed, Some("refund"))); // a repeat
        let mut complaint = contact(4, 1, ContactOutcome::Closed, Some("delivery"));
        complaint.complaint = true;
        h.record(complaint);
        let inputs = h.health_inputs(NOW, None);
        assert_eq!(inputs.abandoned_waits, 1);
        assert_eq!(inputs.repeat_contacts, 1);
        assert_eq!(inputs.open_complaints, 1);
        assert_eq!(inputs.last_contact_at, Some(NOW - DAY));
        // A good rating on the complaint's conversation closes it.
        assert!(h.rate(4, 5));
        let inputs = h.health_inputs(NOW, None);
        assert_eq!(inputs.open_complaints, 0);
        assert_eq!(inputs.satisfaction, vec![(NOW - DAY, 5)]);
        assert!(!h.rate(99, 5));
    }

    #[test]
    fn the_history_keeps_the_newest_and_a_merge_keeps_time_order() {
        let mut a = History::default();
        for n in 0..CONTACTS_KEPT as u64 + 3 {
            a.record(contact(n, 100 - n, ContactOutcome::Closed, None));
        }
        assert_eq!(a.contacts().count(), CONTACTS_KEPT);
        assert_eq!(a.contacts().next().unwrap().conversation, 3);
        let mut b = History::default();
        b.record(Contact {
            origin: ProfileId(2),
            ..contact(500, 0, ContactOutcome::BotFinished, None)
        });
        a.combine(b);
        assert_eq!(a.contacts().count(), CONTACTS_KEPT);
        assert_eq!(a.contacts().next_back().unwrap().conversation, 500);
        let back = a.split_off(|p| *p == ProfileId(2));
        assert_eq!(back.contacts().count(), 1);
        assert_eq!(a.contacts().count(), CONTACTS_KEPT - 1);
    }
}
