//! A customer who writes "退订", "TD", "STOP" or "unsubscribe": opted out of
//! promotions at once and told so, without anyone having to read it.

use super::*;
use crate::customer::{ConsentRecord, ContactPurpose};

/// Where an opt-out by reply is recorded as coming from.
const UNSUBSCRIBE_SOURCE: &str = "customer reply: unsubscribe";

/// The intent an opt-out conversation records in the person's history.
const UNSUBSCRIBE_INTENT: &str = "unsubscribe";

/// How a customer's consent was withdrawn, for the opt-out counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum OptOutVia {
    /// They wrote "退订", "STOP" or the like.
    Reply,
    /// The tenant's systems recorded it (`Admin/RecordCustomerConsent`).
    Api,
}

impl OptOutVia {
    /// Every way, for metrics pre-registration.
    pub const ALL: [OptOutVia; 2] = [OptOutVia::Reply, OptOutVia::Api];

    /// Stable name, a metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            OptOutVia::Reply => "reply",
            OptOutVia::Api => "api",
        }
    }
}

impl Router {
    /// Counts a withdrawn consent for the opt-out metric.
    pub(super) fn count_opt_out(&mut self, purpose: ContactPurpose, via: OptOutVia) {
        *self.opt_outs.entry((purpose, via)).or_default() += 1;
    }

    /// Consents withdrawn since the last call, per purpose and how.
    pub fn take_opt_outs(&mut self) -> Vec<(ContactPurpose, OptOutVia, u64)> {
        self.opt_outs
            .drain()
            .map(|((purpose, via), n)| (purpose, via, n))
            .collect()
    }

    /// A new conversation whose first message asks to unsubscribe: the person's
    /// profile (made from the channel's customer id when they have none, so the
    /// choice sticks) records an opt-out of marketing and greetings, the customer is
    /// told at once, and the conversation ends as served by the system, with the
    /// intent `unsubscribe` in their history.
    pub(super) fn opt_out(&mut self, now: Millis, id: ConversationId) {
        let c = &self.conversations[&id];
        let (known, channel, customer_id) = (c.customer_profile, c.channel, c.customer.id.clone());
        let profile = known.or_else(|| {
            // Made from the channel's customer id when they have none, so it sticks.
            let identity = Identity::new(IdentityKind::Channel(channel), &customer_id).ok()?;
            self.profile_for_record(now, ProfileRef::Identity(identity))
                .inspect_err(|e| tracing::warn!(error = %e, "no profile for an opt-out"))
                .ok()
        });
        if let Some(profile) = profile {
            for purpose in [ContactPurpose::Marketing, ContactPurpose::Greeting] {
                let decision = ConsentRecord {
                    purpose,
                    granted: false,
                    at: now,
                    source: UNSUBSCRIBE_SOURCE.into(),
                    origin: profile,
                };
                match self.profiles.record_consent(profile, decision) {
                    Ok(()) => self.count_opt_out(purpose, OptOutVia::Reply),
                    Err(e) => tracing::warn!(error = %e, "opt-out not recorded"),
                }
            }
        }
        let limit = self.policy.transcript_limit;
        let c = self.conversations.get_mut(&id).expect("just opened");
        c.customer_profile = profile;
        c.extra_mut().bot_intent = Some(Arc::from(UNSUBSCRIBE_INTENT));
        let text = unsubscribed_text(&c.language);
        push_transcript(
            c,
            limit,
            TranscriptEntry {
                sender: Sender::System,
                text: text.clone(),
                at: now,
                agent: None,
            },
        );
        let confirmation = system_message(c, text);
        let closed = customer_notice(c, CustomerNoticeBody::Closed(EndReason::BotFinished));
        self.notices.push(Notice::ToCustomer(confirmation));
        self.mark_responded(now, id, Responder::System);
        self.notices.push(Notice::ToCustomer(closed));
        self.emit(now, id, EventKind::BotFinished);
        self.end(now, id, ContactOutcome::BotFinished);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_withdrawn_consent_is_counted_by_how_and_a_granted_one_is_not() {
        let mut r = Router::new(RoutingPolicy::default()).unwrap();
        let phone = Identity::new(IdentityKind::Phone, "+8613800138000").unwrap();
        let decide = |granted| ConsentRecord {
            purpose: ContactPurpose::Marketing,
            granted,
            at: 1_000,
            source: "shop".into(),
            origin: crate::customer::ProfileId(0),
        };
        r.record_consent(1_000, ProfileRef::Identity(phone.clone()), decide(true))
            .unwrap();
        assert!(r.take_opt_outs().is_empty(), "an opt-in is no opt-out");
        r.record_consent(2_000, ProfileRef::Identity(phone), decide(false))
            .unwrap();
        assert_eq!(
            r.take_opt_outs(),
            [(ContactPurpose::Marketing, OptOutVia::Api, 1)]
        );
        assert!(r.take_opt_outs().is_empty(), "taken once");
    }
}
