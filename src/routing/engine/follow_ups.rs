//! Follow-ups that run themselves: events about a person (an agent closed their
//! conversation, an order fact, a fall below the churn threshold) schedule the
//! notifications of the tenant's triggers, and a second step goes when the first got
//! no reply.

use super::*;
use crate::outbound::{Due, NotificationRequest, NotificationStatus, TriggerEvent};

/// How long a follow-up notification stays worth sending once due.
const FOLLOW_UP_DEADLINE_MS: u64 = 24 * 3_600_000;
const HOUR_MS: u64 = 3_600_000;

impl Router {
    /// Schedules the triggers on `event` for `profile`, counted from `at`.
    pub(super) fn trigger_follow_ups(
        &mut self,
        profile: ProfileId,
        event: TriggerEvent,
        at: Millis,
    ) {
        if self.policy.outbound.triggers.is_empty() {
            return;
        }
        let limit = self.policy.outbound.max_notifications;
        for (trigger, t) in self.policy.outbound.triggers.iter().enumerate() {
            if t.on == event {
                let due = Due {
                    profile,
                    trigger,
                    after: None,
                };
                self.outbound_follow_ups.schedule(
                    at + u64::from(t.after_hours) * HOUR_MS,
                    due,
                    limit,
                );
            }
        }
    }

    /// Sends the follow-ups whose time has come; from [`Router::tick`].
    pub(super) fn follow_up_timers(&mut self, now: Millis) {
        if self.outbound_follow_ups.is_empty() {
            return;
        }
        for due in self.outbound_follow_ups.take_due(now) {
            // A trigger the configuration no longer has is dropped.
            let Some(trigger) = self.policy.outbound.triggers.get(due.trigger).cloned() else {
                continue;
            };
            let (kind, template) = match (due.after, &trigger.then) {
                (None, _) => (trigger.kind, trigger.template.clone()),
                (Some(first), Some(then)) => {
                    let replied = matches!(
                        self.outbox.get(first).map(|n| n.status),
                        Some(NotificationStatus::Replied { .. })
                    );
                    if replied {
                        continue;
                    }
                    (then.kind, then.template.clone())
                }
                (Some(_), None) => continue,
            };
            let none = HashMap::new();
            let Ok(rendered) = self
                .templates
                .render(&template, &trigger.language, "", &none)
            else {
                // Checked at load; a template can only be missing after a config change.
                continue;
            };
            let request = NotificationRequest {
                purpose: kind,
                template: template.into(),
                text: rendered.text.into(),
                buttons: rendered.buttons,
                preferred_channel: None,
                deadline: now + FOLLOW_UP_DEADLINE_MS,
                client_id: None,
            };
            let Ok(id) = self.outbox.insert(now, due.profile, request, None) else {
                continue;
            };
            self.try_notification(now, id);
            if due.after.is_none()
                && let Some(then) = &trigger.then
            {
                let second = Due {
                    after: Some(id),
                    ..due
                };
                let at = now + u64::from(then.after_days) * 24 * HOUR_MS;
                let limit = self.policy.outbound.max_notifications;
                self.outbound_follow_ups.schedule(at, second, limit);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::customer::{Fact, FactKind};
    use crate::outbound::{FollowUpTrigger, NextStep, NotificationId, TemplateSource};

    const DAY: Millis = 24 * HOUR_MS;
    /// 04:00 UTC: noon in the default time zone (UTC+8), outside quiet hours.
    const T0: Millis = 20_000 * DAY + 4 * HOUR_MS;
    const PHONE: &str = "+8613800138011";

    fn template(name: &str) -> TemplateSource {
        TemplateSource {
            name: name.into(),
            language: "en".into(),
            text: format!("{name} text"),
            buttons: Vec::new(),
        }
    }

    fn router(triggers: Vec<FollowUpTrigger>) -> Router {
        let mut policy = RoutingPolicy::default();
        policy.outbound.templates = ["how-was-it", "checking-in", "offer"]
            .map(template)
            .to_vec();
        policy.outbound.triggers = triggers;
        Router::new(policy).unwrap()
    }

    /// An SMS customer whose adapter vouches for their phone.
    fn sms(key: &str) -> InboundMessage {
        InboundMessage {
            adapter: Arc::from("sms-1"),
            channel: Channel::Sms,
            channel_conversation_id: key.into(),
            customer_id: PHONE.into(),
            display_name: String::new(),
            value: crate::routing::ValueFacts::default(),
            text: "my order is late".into(),
            language: "en".into(),
            client_message_id: None,
            queue: None,
            required_skills: Vec::new(),
            boosts: Boosts::default(),
            identities: vec![ClaimedIdentity {
                identity: Identity::new(IdentityKind::Channel(Channel::Sms), PHONE).unwrap(),
                verified: true,
            }],
        }
    }

    fn notices(r: &mut Router) -> Vec<Arc<str>> {
        r.drain()
            .1
            .into_iter()
            .filter_map(|n| match n {
                Notice::ToCustomer(CustomerNotice {
                    body: CustomerNoticeBody::Notification(n),
                    ..
                }) => Some(n.template.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_close_brings_a_feedback_request_hours_later() {
        let mut r = router(vec![FollowUpTrigger {
            on: TriggerEvent::Close,
            after_hours: 2,
            kind: ContactPurpose::Feedback,
            template: "how-was-it".into(),
            language: String::new(),
            then: None,
        }]);
        r.sign_in(
            T0,
            SignIn {
                agent_id: "ann".into(),
                display_name: "Ann".into(),
                skills: Vec::new(),
                capacity: PerClass([1, 0, 0]),
                presence: Presence::Available,
            },
        )
        .unwrap();
        let id = r.customer_message(T0, sms("s-1")).unwrap().conversation;
        r.accept(T0 + 1_000, "ann", &id.to_string()).unwrap();
        r.close(T0 + 60_000, "ann", &id.to_string()).unwrap();
        notices(&mut r);
        r.tick(T0 + 60_000 + 2 * HOUR_MS - 1);
        assert!(notices(&mut r).is_empty());
        r.tick(T0 + 60_000 + 2 * HOUR_MS);
        assert_eq!(notices(&mut r), [Arc::from("how-was-it")]);
    }

    #[test]
    fn an_order_brings_a_visit_and_an_offer_only_when_the_visit_got_no_reply() {
        let mut r = router(vec![FollowUpTrigger {
            on: TriggerEvent::Order,
            after_hours: 72,
            kind: ContactPurpose::FollowUp,
            template: "checking-in".into(),
            language: String::new(),
            then: Some(NextStep {
                after_days: 7,
                kind: ContactPurpose::FollowUp,
                template: "offer".into(),
            }),
        }]);
        // The customer wrote once (the adapter is learned), then ordered twice.
        r.customer_message(T0, sms("s-1")).unwrap();
        r.abandon(T0, Channel::Sms, "s-1", PHONE).unwrap();
        let phone = Identity::new(IdentityKind::Channel(Channel::Sms), PHONE).unwrap();
        let person = r
            .customer_profile(&ProfileRef::Identity(phone))
            .unwrap()
            .id();
        let order = |at| Fact {
            kind: FactKind::Order,
            amount: 100.0,
            at,
        };
        for at in [T0, T0 + HOUR_MS] {
            r.record_facts(at, ProfileRef::Id(person), vec![order(at)])
                .unwrap();
        }
        notices(&mut r);
        r.tick(T0 + 72 * HOUR_MS);
        assert_eq!(
            notices(&mut r),
            [Arc::from("checking-in")],
            "one visit: the second order found it pending"
        );
        r.tick(T0 + 72 * HOUR_MS + 7 * DAY);
        assert_eq!(notices(&mut r), [Arc::from("offer")]);

        // A reply to the visit spares them the offer.
        r.record_facts(
            T0 + 20 * DAY,
            ProfileRef::Id(person),
            vec![order(T0 + 20 * DAY)],
        )
        .unwrap();
        r.tick(T0 + 23 * DAY);
        assert_eq!(notices(&mut r), [Arc::from("checking-in")]);
        r.customer_message(T0 + 23 * DAY + 1, sms("s-2")).unwrap();
        assert!(matches!(
            r.notification(NotificationId(3)).unwrap().status,
            NotificationStatus::Replied { .. }
        ));
        r.tick(T0 + 31 * DAY);
        assert!(notices(&mut r).is_empty());

        // A new template set must keep what the triggers send.
        let refused = r.set_templates(vec![template("offer")]).unwrap_err();
        assert!(
            matches!(&refused, RoutingError::InvalidArgument { field: "templates", reason }
                if reason.contains("checking-in")),
            "{refused:?}"
        );
        r.set_templates(vec![template("checking-in"), template("offer")])
            .unwrap();
    }
}
