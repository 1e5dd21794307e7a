//! A customer who writes "退订", "TD", "STOP" or "unsubscribe": opted out of
//! promotions at once and told so, without anyone having to read it.

use super::*;
use crate::customer::{ConsentRecord, ContactPurpose};

/// Where an opt-out by reply is recorded as coming from.
const UNSUBSCRIBE_SOURCE: &str = "customer reply: unsubscribe";

/// The intent an opt-out conversation records in the person's history.
const UNSUBSCRIBE_INTENT: &str = "unsubscribe";

impl Router {
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
                if let Err(e) = self.profiles.record_consent(profile, decision) {
                    tracing::warn!(error = %e, "opt-out not recorded");
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
