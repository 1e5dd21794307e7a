//! A person's data on request and over time: everything kept about one customer
//! exported in one piece, erased in one piece (PIPL and GDPR give people both), and
//! retention that forgets old histories, questions and idle profiles by itself.

use super::*;
use crate::customer::profiles::{Erased, Retention};
use crate::customer::{Fact, Profile};
use crate::routing::surveys::FollowUp;

/// What one customer's export holds besides their profile view.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerExport {
    /// The ids that are this person (the current profile first, then those merged
    /// into it).
    pub profiles: Vec<ProfileId>,
    /// The facts kept one by one, oldest first.
    pub facts: Vec<Fact>,
    /// Their low-score follow-up items, newest first.
    pub follow_ups: Vec<FollowUp>,
    /// Their open conversations, with transcripts.
    pub open_conversations: Vec<(ConversationId, Vec<TranscriptEntry>)>,
}

/// What erasing a customer removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasedCustomer {
    /// Profiles, identifiers, facts, past conversations and merges.
    pub erased: Erased,
    /// Follow-up items and surveys waiting for an answer.
    pub follow_ups: usize,
}

/// What retention forgot since last asked, per kind, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Forgotten {
    /// Past conversations on profiles.
    pub contacts: u64,
    /// Whole profiles (idle, or merged-away ids of an erased person).
    pub profiles: u64,
    /// Unanswered bot questions.
    pub questions: u64,
    /// Low-score follow-up items.
    pub follow_ups: u64,
}

impl Router {
    /// Everything kept about the person `who` names, for a data subject's access
    /// request; `None` when no profile matches.
    pub fn customer_export(&self, who: &ProfileRef) -> Option<CustomerExport> {
        let profile = self.customer_profile(who)?;
        let profiles = self.profiles.person_ids(profile.id()).ok()?;
        let mut open: Vec<ConversationId> = self.open_conversations_of(profile.id());
        open.sort();
        Some(CustomerExport {
            facts: profile.facts().copied().collect(),
            follow_ups: self
                .surveys
                .follow_ups()
                .filter(|f| f.profile.is_some_and(|p| profiles.contains(&p)))
                .cloned()
                .collect(),
            open_conversations: open
                .into_iter()
                .map(|id| (id, self.transcript(id).unwrap_or_default()))
                .collect(),
            profiles,
        })
    }

    /// Erases the person `who` names and everything kept about them: profile,
    /// identifiers, facts, history, merges, follow-ups, waiting surveys, the at-risk
    /// entry and the last-agent preference. Refused while they have an open
    /// conversation (it would bring them back at its end).
    pub fn erase_customer(
        &mut self,
        now: Millis,
        who: &ProfileRef,
    ) -> Result<ErasedCustomer, RoutingError> {
        let profile = self
            .customer_profile(who)
            .map(Profile::id)
            .ok_or_else(|| RoutingError::ProfileNotFound(format!("no profile for {who}")))?;
        let open = self.open_conversations_of(profile);
        if let Some(first) = open.iter().min() {
            return Err(RoutingError::FailedPrecondition(format!(
                "profile {profile} has {} open conversation(s) (conversation {}); they must \
                 end before the customer can be erased",
                open.len(),
                first.0
            )));
        }
        let erased = self
            .profiles
            .erase(profile)
            .map_err(|e| RoutingError::ProfileNotFound(e.to_string()))?;
        let follow_ups = self.surveys.forget_people(&erased.profiles);
        self.outbox.forget_people(&erased.profiles);
        for id in &erased.profiles {
            self.at_risk.forget(*id);
            self.last_agents.take(&CustomerKey::Profile(*id), now);
        }
        Ok(ErasedCustomer { erased, follow_ups })
    }

    /// Retention's look at one profile id, from the pass over every profile: its old
    /// past conversations go, and it goes whole when idle past `idle_profile_days`
    /// (never while it has an open conversation). Looking for open conversations
    /// reads all of them, so it is done only for idle profiles and at most
    /// `scans` times; returns the scans left.
    pub(super) fn retain_profile(&mut self, id: ProfileId, now: Millis, scans: u32) -> u32 {
        let retention = self.policy.retention;
        let forgot = self
            .profiles
            .forget_contacts_before(id, retention.history_cutoff(now));
        self.forgotten.contacts += forgot as u64;
        let mut scans_left = scans;
        let erase = match self
            .profiles
            .retention_verdict(id, retention.idle_profile_cutoff(now))
        {
            Retention::Keep => false,
            Retention::Orphaned => true,
            Retention::Idle if scans_left > 0 => {
                scans_left -= 1;
                self.open_conversations_of(id).is_empty()
            }
            Retention::Idle => false,
        };
        if erase && let Some(erased) = self.profiles.erase_one(id) {
            self.forgotten.profiles += 1;
            self.forgotten.contacts += erased.contacts as u64;
            self.forgotten.follow_ups += self.surveys.forget_people(&erased.profiles) as u64;
            self.at_risk.forget(id);
            self.last_agents.take(&CustomerKey::Profile(id), now);
        }
        scans_left
    }

    /// Retention of what is kept per tenant rather than per person: unanswered
    /// questions and follow-up items past their days, oldest first, every tick.
    pub(super) fn retain_records(&mut self, now: Millis) {
        let retention = self.policy.retention;
        self.forgotten.questions +=
            self.unanswered
                .forget_before(retention.question_cutoff(now)) as u64;
        self.forgotten.follow_ups +=
            self.surveys
                .forget_follow_ups_before(retention.history_cutoff(now)) as u64;
    }

    /// What retention forgot since the last call, for metrics.
    pub fn take_forgotten(&mut self) -> Forgotten {
        std::mem::take(&mut self.forgotten)
    }

    /// Open conversations of the person whose current profile is `person` (also
    /// those that arrived under a profile merged into it since).
    fn open_conversations_of(&self, person: ProfileId) -> Vec<ConversationId> {
        self.conversations
            .values()
            .filter(|c| {
                c.customer_profile
                    .and_then(|p| self.profiles.get(p))
                    .is_some_and(|p| p.id() == person)
            })
            .map(|c| c.id)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::customer::{ClaimedIdentity, IdentityKind, RetentionPolicy};

    const DAY: Millis = 24 * 3600 * 1000;
    const T0: Millis = 1_000 * DAY;

    fn phone(number: &str) -> Identity {
        Identity::new(IdentityKind::Phone, number).unwrap()
    }

    /// A web customer whose adapter vouches for their phone.
    fn arrival(key: &str, number: &str) -> InboundMessage {
        InboundMessage {
            adapter: Arc::from("web-adapter"),
            channel: Channel::Web,
            channel_conversation_id: key.to_owned(),
            customer_id: format!("visitor-{key}"),
            display_name: String::new(),
            value: crate::routing::ValueFacts::default(),
            text: "my parcel is late".to_owned(),
            language: "en".to_owned(),
            client_message_id: None,
            queue: None,
            required_skills: Vec::new(),
            boosts: Boosts::default(),
            identities: vec![ClaimedIdentity {
                identity: phone(number),
                verified: true,
            }],
        }
    }

    fn router(retention: RetentionPolicy) -> Router {
        Router::new(RoutingPolicy {
            retention,
            max_queue_secs: 0,
            ..RoutingPolicy::default()
        })
        .unwrap()
    }

    /// Arrives at `at` and leaves a second later: one past conversation.
    fn visit(r: &mut Router, at: Millis, key: &str, number: &str) -> ProfileId {
        r.customer_message(at, arrival(key, number)).unwrap();
        r.abandon(at + 1_000, Channel::Web, key, &format!("visitor-{key}"))
            .unwrap();
        r.drain();
        r.customer_profile(&ProfileRef::Identity(phone(number)))
            .unwrap()
            .id()
    }

    fn contacts(r: &Router, number: &str) -> Option<usize> {
        let p = r.customer_profile(&ProfileRef::Identity(phone(number)))?;
        Some(p.history().contacts().count())
    }

    #[test]
    fn retention_forgets_old_past_conversations_then_idle_profiles() {
        let mut r = router(RetentionPolicy {
            history_days: 30,
            idle_profile_days: 60,
            question_days: 90,
        });
        visit(&mut r, T0, "a", "+8613800138000");
        visit(&mut r, T0 + 20 * DAY, "b", "+8613800138000");
        assert_eq!(contacts(&r, "+8613800138000"), Some(2));

        // 31 days after the first visit: it goes, the second stays.
        r.tick(T0 + 31 * DAY);
        assert_eq!(contacts(&r, "+8613800138000"), Some(1));
        assert_eq!(r.take_forgotten().contacts, 1);

        // 59 days after the last visit the profile is still there; after 61 it is not.
        r.tick(T0 + 79 * DAY);
        assert_eq!(contacts(&r, "+8613800138000"), Some(0));
        r.tick(T0 + 81 * DAY);
        assert_eq!(contacts(&r, "+8613800138000"), None);
        let forgotten = r.take_forgotten();
        assert_eq!((forgotten.contacts, forgotten.profiles), (1, 1));
    }

    #[test]
    fn an_idle_profile_with_an_open_conversation_is_kept() {
        let mut r = router(RetentionPolicy {
            idle_profile_days: 1,
            ..RetentionPolicy::default()
        });
        r.customer_message(T0, arrival("a", "+8613800138000"))
            .unwrap();
        r.tick(T0 + 3 * DAY);
        assert_eq!(
            contacts(&r, "+8613800138000"),
            Some(0),
            "still waiting: kept although nothing happened for three days"
        );
        r.abandon(T0 + 3 * DAY, Channel::Web, "a", "visitor-a")
            .unwrap();
        r.tick(T0 + 3 * DAY + 1_000);
        assert_eq!(contacts(&r, "+8613800138000"), Some(1), "just left");
        r.tick(T0 + 5 * DAY);
        assert_eq!(contacts(&r, "+8613800138000"), None);
    }

    #[test]
    fn erasure_takes_the_whole_person_and_waits_for_open_conversations() {
        let mut r = router(RetentionPolicy::default());
        let first = visit(&mut r, T0, "a", "+8613800138000");
        let second = visit(&mut r, T0 + DAY, "b", "+8613900139000");
        r.merge_profiles(T0 + DAY, first, second, "olga").unwrap();
        r.customer_message(T0 + 2 * DAY, arrival("c", "+8613900139000"))
            .unwrap();

        let export = r
            .customer_export(&ProfileRef::Id(second))
            .expect("the merged id names the person");
        assert_eq!(export.profiles, vec![first, second]);
        assert_eq!(export.open_conversations.len(), 1);
        let (_, transcript) = &export.open_conversations[0];
        assert_eq!(&*transcript[0].text, "my parcel is late");

        let refused = r
            .erase_customer(T0 + 2 * DAY, &ProfileRef::Id(first))
            .unwrap_err();
        assert!(
            matches!(&refused, RoutingError::FailedPrecondition(m) if m.contains("open conversation")),
            "{refused:?}"
        );
        r.abandon(T0 + 2 * DAY, Channel::Web, "c", "visitor-c")
            .unwrap();
        let done = r
            .erase_customer(T0 + 2 * DAY, &ProfileRef::Identity(phone("+8613800138000")))
            .unwrap();
        assert_eq!(done.erased.profiles, vec![first, second]);
        assert_eq!(done.erased.contacts, 3);
        assert_eq!(done.erased.merges, 1);
        assert_eq!(contacts(&r, "+8613800138000"), None);
        assert_eq!(contacts(&r, "+8613900139000"), None);
        assert!(r.profile_merges().next().is_none());

        // Coming back makes a stranger with a new id.
        let again = visit(&mut r, T0 + 3 * DAY, "d", "+8613800138000");
        assert!(again.0 > second.0, "ids are never given out again");
        assert_eq!(contacts(&r, "+8613800138000"), Some(1));
    }

    #[test]
    fn identifiers_and_profile_names_stay_out_of_debug_and_error_texts() {
        let number = "+8613800138000";
        assert!(!format!("{:?}", phone(number)).contains("13800"));
        let mut r = router(RetentionPolicy::default());
        let e = r
            .erase_customer(T0, &ProfileRef::Identity(phone(number)))
            .unwrap_err();
        assert!(!e.to_string().contains("13800"), "{e}");
        assert!(!format!("{e:?}").contains("13800"), "{e:?}");
    }
}
