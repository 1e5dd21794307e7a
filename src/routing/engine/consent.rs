//! A customer who writes "退订", "TD", "STOP" or "unsubscribe": opted out of
//! promotions at once and told so, without anyone having to read it.

use super::*;
use crate::customer::{ConsentRecord, ContactPurpose};

/// Where an opt-out by reply is recorded as coming from.
const UNSUBSCRIBE_SOURCE: &str = "customer reply: unsubscribe";

/// The intent an opt-out conversation records in the person's history.
const UNSUBSCRIBE_INTENT: &str = "unsubscribe";

/// The confirmation, in the customer's language.
fn unsubscribed_text(language: &str) -> &'static str {
    if language.starts_with("zh") {
        "您已退订营销和节日问候消息，我们不会再向您发送。订单、物流等服务通知不受影响；如需重新订阅，请联系客服。"
    } else {
        "You are unsubscribed from offers and greetings; we will not send you any more. Service messages about your orders and deliveries still reach you. To subscribe again, ask us any time."
    }
}

impl Router {
    /// A new conversation whose first message asks to unsubscribe: the person's
    /// profile (made from the channel's customer id when they have none, so the
    /// choice sticks) records an opt-out of marketing and greetings, the customer is
    /// told at once, and the conversation ends as served by the system, with the
    /// intent `unsubscribe` in their history.
    pub(super) fn opt_out(&mut self, now: Millis, id: ConversationId) {
        let c = &self.conversations[&id];
        let (known, channel, customer_id) = (c.customer_profile, c.channel, c.customer.id.clone());
        let profile = known.or_else(|| self.enrol(now, channel, &customer_id));
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
        let text: Arc<str> = Arc::from(unsubscribed_text(&c.language));
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

    /// A profile for a customer known only by the channel's customer id.
    fn enrol(&mut self, now: Millis, channel: Channel, customer_id: &str) -> Option<ProfileId> {
        let identity = Identity::new(IdentityKind::Channel(channel), customer_id).ok()?;
        let claim = ClaimedIdentity {
            identity,
            verified: true,
        };
        match self.profiles.resolve(now, &[claim]) {
            Ok(found) => Some(found.profile),
            Err(e) => {
                tracing::warn!(error = %e, "no profile for an opt-out");
                None
            }
        }
    }
}
