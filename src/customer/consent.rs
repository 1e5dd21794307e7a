//! What a customer agreed to be contacted about, per purpose.
//!
//! Outbound messages (logistics notices, feedback requests, marketing) may go to a
//! customer only within what they agreed to. Promotional purposes (marketing,
//! greetings) need an opt-in on record; service purposes (the service itself,
//! logistics, feedback, follow-ups) are allowed until the customer opts out. The
//! newest decision per purpose counts, whichever of a person's merged profiles it was
//! recorded on; each decision keeps where it came from and when, so an operator can
//! show a regulator why a message was or was not sent.

use super::profiles::ProfileId;
use crate::routing::Millis;

/// Longest `source` kept with a consent decision, in bytes.
pub const MAX_CONSENT_SOURCE_BYTES: usize = 128;

/// What a contact with the customer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactPurpose {
    /// About a service the customer is using (an account notice, an outage).
    Service,
    /// About an order on its way.
    Logistics,
    /// Asking how a contact or a purchase went.
    Feedback,
    /// Checking in after a purchase or a problem.
    FollowUp,
    /// Holiday and birthday greetings.
    Greeting,
    /// Offers, new products, win-back campaigns.
    Marketing,
}

impl ContactPurpose {
    /// Every purpose, in a stable order.
    pub const ALL: [ContactPurpose; 6] = [
        ContactPurpose::Service,
        ContactPurpose::Logistics,
        ContactPurpose::Feedback,
        ContactPurpose::FollowUp,
        ContactPurpose::Greeting,
        ContactPurpose::Marketing,
    ];

    /// Stable name, for the contract, metrics and explanations.
    pub fn name(self) -> &'static str {
        match self {
            ContactPurpose::Service => "service",
            ContactPurpose::Logistics => "logistics",
            ContactPurpose::Feedback => "feedback",
            ContactPurpose::FollowUp => "follow_up",
            ContactPurpose::Greeting => "greeting",
            ContactPurpose::Marketing => "marketing",
        }
    }

    /// Whether contact for this purpose needs the customer's opt-in on record;
    /// otherwise it is allowed until they opt out.
    pub fn needs_opt_in(self) -> bool {
        matches!(self, ContactPurpose::Greeting | ContactPurpose::Marketing)
    }
}

/// One decision of the customer's, as recorded.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConsentRecord {
    /// What for.
    pub purpose: ContactPurpose,
    /// Agreed (`true`) or opted out.
    pub granted: bool,
    /// When the customer decided.
    pub at: Millis,
    /// Where they decided (a sign-up form, an unsubscribe reply), as the recorder said.
    pub source: Box<str>,
    /// The profile it was recorded on (it moves with merges and back with unmerges).
    pub origin: ProfileId,
}

/// A person's consent decisions: at most one per purpose and profile of origin.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Consents {
    records: Vec<ConsentRecord>,
}

impl Consents {
    /// Records a decision, replacing an older one for the same purpose and origin; a
    /// decision older than the one on record for them is ignored (returns false).
    pub fn record(&mut self, decision: ConsentRecord) -> bool {
        match self
            .records
            .iter_mut()
            .find(|r| r.purpose == decision.purpose && r.origin == decision.origin)
        {
            Some(kept) if kept.at > decision.at => false,
            Some(kept) => {
                *kept = decision;
                true
            }
            None => {
                self.records.push(decision);
                true
            }
        }
    }

    /// The decision in force for a purpose: the newest of any origin.
    pub fn decision(&self, purpose: ContactPurpose) -> Option<&ConsentRecord> {
        self.records
            .iter()
            .filter(|r| r.purpose == purpose)
            .max_by_key(|r| r.at)
    }

    /// Whether the customer may be contacted for `purpose`.
    pub fn allows(&self, purpose: ContactPurpose) -> bool {
        match self.decision(purpose) {
            Some(d) => d.granted,
            None => !purpose.needs_opt_in(),
        }
    }

    /// The decisions in force, one per purpose that has one, in [`ContactPurpose::ALL`]
    /// order.
    pub fn in_force(&self) -> impl Iterator<Item = &ConsentRecord> + '_ {
        ContactPurpose::ALL
            .into_iter()
            .filter_map(|p| self.decision(p))
    }

    /// Every decision kept, whichever origin.
    pub fn records(&self) -> &[ConsentRecord] {
        &self.records
    }

    /// Takes in the decisions of a profile merged into this one.
    pub fn absorb(&mut self, other: Consents) {
        for r in other.records {
            self.record(r);
        }
    }

    /// Takes out the decisions recorded on the profiles `came`, for an unmerge.
    pub fn split_off(&mut self, came: impl Fn(&ProfileId) -> bool) -> Consents {
        let (back, stay) = std::mem::take(&mut self.records)
            .into_iter()
            .partition(|r| came(&r.origin));
        self.records = stay;
        Consents { records: back }
    }

    /// How many decisions are kept.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// Whole messages that mean "stop sending me promotions", in either language, as
/// customers type them on messaging channels and SMS.
const UNSUBSCRIBE_WORDS: [&str; 7] = [
    "td",
    "stop",
    "unsubscribe",
    "退订",
    "取消订阅",
    "退订营销",
    "不要再发了",
];

/// Whether a customer's whole message asks to unsubscribe ("退订", "TD", "STOP",
/// "unsubscribe"): case, width, surrounding spaces and punctuation aside. A sentence
/// that merely contains the word ("how do I stop my order?") is not one.
pub fn is_unsubscribe(text: &str) -> bool {
    let word = text.trim_matches(|c: char| {
        c.is_whitespace()
            || c.is_ascii_punctuation()
            || ('\u{FF01}'..='\u{FF0F}').contains(&c)
            || "。！，、～…".contains(c)
    });
    // Every word is short: most messages are answered by their length alone, and
    // none is copied (this runs on every new conversation).
    word.len() <= 16 && UNSUBSCRIBE_WORDS.iter().any(|w| folded(word).eq(w.chars()))
}

/// A text's characters with full-width ASCII made plain and upper case made lower.
fn folded(text: &str) -> impl Iterator<Item = char> + '_ {
    text.chars()
        .map(crate::bot::fold_width)
        .flat_map(char::to_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decided(purpose: ContactPurpose, granted: bool, at: Millis, origin: u64) -> ConsentRecord {
        ConsentRecord {
            purpose,
            granted,
            at,
            source: "test".into(),
            origin: ProfileId(origin),
        }
    }

    #[test]
    fn unsubscribe_words_count_only_as_the_whole_message() {
        for yes in [
            "TD",
            "td",
            "ＴＤ",
            " STOP! ",
            "Unsubscribe.",
            "退订",
            "退订。",
            "取消订阅",
        ] {
            assert!(is_unsubscribe(yes), "{yes:?}");
        }
        for no in [
            "how do I stop my order?",
            "stop it",
            "TD bank",
            "我想退订单",
            "",
            "退",
        ] {
            assert!(!is_unsubscribe(no), "{no:?}");
        }
    }

    #[test]
    fn marketing_needs_an_opt_in_and_service_only_not_an_opt_out() {
        let mut consents = Consents::default();
        assert!(!consents.allows(ContactPurpose::Marketing));
        assert!(!consents.allows(ContactPurpose::Greeting));
        assert!(consents.allows(ContactPurpose::Logistics));
        assert!(consents.allows(ContactPurpose::Service));
        consents.record(decided(ContactPurpose::Marketing, true, 10, 1));
        consents.record(decided(ContactPurpose::Logistics, false, 10, 1));
        assert!(consents.allows(ContactPurpose::Marketing));
        assert!(!consents.allows(ContactPurpose::Logistics));
    }

    #[test]
    fn the_newest_decision_counts_and_an_older_one_is_ignored() {
        let mut consents = Consents::default();
        assert!(consents.record(decided(ContactPurpose::Marketing, true, 20, 1)));
        assert!(!consents.record(decided(ContactPurpose::Marketing, false, 10, 1)));
        assert!(consents.allows(ContactPurpose::Marketing));
        assert!(consents.record(decided(ContactPurpose::Marketing, false, 30, 1)));
        assert!(!consents.allows(ContactPurpose::Marketing));
        assert_eq!(consents.len(), 1);
    }

    #[test]
    fn merged_decisions_compete_by_time_and_an_unmerge_takes_its_own_back() {
        let mut kept = Consents::default();
        kept.record(decided(ContactPurpose::Marketing, true, 10, 1));
        let mut merged = Consents::default();
        merged.record(decided(ContactPurpose::Marketing, false, 20, 2));
        kept.absorb(merged);
        assert!(
            !kept.allows(ContactPurpose::Marketing),
            "the newer opt-out wins"
        );
        let back = kept.split_off(|o| *o == ProfileId(2));
        assert!(kept.allows(ContactPurpose::Marketing));
        assert!(!back.allows(ContactPurpose::Marketing));
        assert_eq!((kept.len(), back.len()), (1, 1));
    }
}
