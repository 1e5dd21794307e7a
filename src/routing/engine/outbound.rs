//! Outbound notifications: the tenant's systems ask for a message to a person; the
//! rules decide whether and when it may go; it goes through an adapter of one of the
//! person's channels (the preferred one first), is delivered when that adapter
//! acknowledges it, and a reply opens a conversation with the notification in its
//! transcript.

use super::*;
use crate::outbound::{
    HeldBack, NotificationId, NotificationRequest, NotificationStatus, OutboxFull, Recipient,
    SendLog, Verdict, Waiting,
};

/// Most templates a tenant may set.
const MAX_TEMPLATES: usize = 1_000;

/// How long a notification with no adapter to go through (or no room in its
/// mailbox) waits before it is tried again.
const RETRY_MS: u64 = 30_000;

/// Where a notification can go now.
enum Address {
    /// Through this adapter, on this channel, to this channel customer id.
    Reachable(AdapterId, Channel, Arc<str>),
    /// The person has addresses, but no adapter of their channels has been seen.
    NoAdapter,
    /// The person has no address on any channel.
    Unreachable,
}

/// What a notification's outcomes are counted as, per purpose, for metrics.
pub const OUTBOUND_RESULTS: [&str; 11] = [
    "sent",
    "delivered",
    "replied",
    "expired",
    "failed",
    "no_consent",
    "open_complaint",
    "daily_cap",
    "weekly_cap",
    "quiet_hours",
    "deferred",
];

impl Router {
    /// Accepts a notification for the person `who` names (made from the identifier
    /// when there is no profile yet, so their choices stick) and tries it at once. A
    /// second request with the same client id is the first notification again.
    pub fn send_notification(
        &mut self,
        now: Millis,
        who: ProfileRef,
        request: NotificationRequest,
    ) -> Result<NotificationId, RoutingError> {
        if let Some(known) = request
            .client_id
            .as_deref()
            .and_then(|c| self.outbox.by_client_id(c))
        {
            return Ok(known);
        }
        if request.deadline <= now {
            return Err(RoutingError::InvalidArgument {
                field: "deadline",
                reason: "is already past".into(),
            });
        }
        let profile = self.profile_for_record(now, who)?;
        let id =
            self.outbox
                .insert(now, profile, request, None)
                .map_err(|OutboxFull::Pending(n)| {
                    RoutingError::Exhausted(format!(
                        "tenant has {n} notifications queued or sent, the configured maximum \
                     (routing.outbound.max_notifications)"
                    ))
                })?;
        self.try_notification(now, id);
        Ok(id)
    }

    /// Replaces the tenant's templates with `sources`, checked whole as at start.
    pub fn set_templates(
        &mut self,
        sources: Vec<crate::outbound::TemplateSource>,
    ) -> Result<(), RoutingError> {
        if sources.len() > MAX_TEMPLATES {
            return Err(RoutingError::InvalidArgument {
                field: "templates",
                reason: format!("at most {MAX_TEMPLATES}"),
            });
        }
        let templates = self
            .policy
            .outbound
            .check_templates(&sources)
            .map_err(|reason| RoutingError::InvalidArgument {
                field: "templates",
                reason: reason.trim_start_matches("templates: ").to_owned(),
            })?;
        self.templates = templates;
        self.template_sources = Some(sources);
        Ok(())
    }

    /// The template set in force and whether an API call set it (else the config).
    pub fn template_sources(&self) -> (&[crate::outbound::TemplateSource], bool) {
        match &self.template_sources {
            Some(sources) => (sources, true),
            None => (&self.policy.outbound.templates, false),
        }
    }

    /// A notification by id.
    pub fn notification(&self, id: NotificationId) -> Option<&crate::outbound::Notification> {
        self.outbox.get(id)
    }

    /// Whether a notification waits to be tried again or a follow-up to go (the
    /// tick has work).
    pub fn has_queued_notifications(&self) -> bool {
        self.outbox.has_queued() || !self.outbound_follow_ups.is_empty()
    }

    /// Notifications kept (queued, sent and settled).
    pub fn notifications_len(&self) -> usize {
        self.outbox.len()
    }

    /// Tries queued notifications whose time has come, and forgets ended reply
    /// windows; from [`Router::tick`].
    pub(super) fn outbound_timers(&mut self, now: Millis) {
        if self.outbox.is_empty() {
            return;
        }
        for id in self.outbox.take_due(now) {
            self.try_notification(now, id);
        }
        for id in self.outbox.take_unacknowledged(now) {
            self.settle(now, id, NotificationStatus::Expired, "expired");
        }
        self.outbox.tidy(now);
    }

    /// Adapters acknowledged these notifications; mailboxes that had no room for
    /// those in `refused` left them to be tried again.
    pub fn notifications_reported(
        &mut self,
        now: Millis,
        delivered: &[NotificationId],
        refused: &[NotificationId],
    ) {
        for &id in delivered {
            if let Some(NotificationStatus::Sent { channel }) =
                self.outbox.get(id).map(|n| n.status)
            {
                self.outbox
                    .set_status(now, id, NotificationStatus::Delivered { channel });
                self.count_outbound(id, "delivered");
            }
        }
        for &id in refused {
            if matches!(
                self.outbox.get(id).map(|n| n.status),
                Some(NotificationStatus::Sent { .. })
            ) {
                self.requeue(now, id, Waiting::MailboxFull);
            }
        }
    }

    /// A new conversation from a customer a notification went to lately on the same
    /// channel: the notification is marked replied and heads the transcript, so the
    /// bot and the agent see what the customer answers.
    pub(super) fn outbound_reply(&mut self, now: Millis, id: ConversationId) {
        let c = &self.conversations[&id];
        let Some(answered) = self.outbox.take_reply(now, c.channel, &c.customer.id) else {
            return;
        };
        let Some(n) = self.outbox.get(answered) else {
            return;
        };
        let (text, at, channel, profile) = (n.text.clone(), n.status_at, c.channel, n.profile);
        let answers = Arc::new(AnsweredNotice {
            notification: answered,
            purpose: n.purpose,
            template: n.template.clone(),
            text: text.clone(),
            campaign: n.campaign,
        });
        if let Some(campaign) = n.campaign {
            self.campaign_replied(campaign);
        }
        self.outbox.set_status(
            now,
            answered,
            NotificationStatus::Replied {
                channel,
                conversation: id,
            },
        );
        self.count_outbound(answered, "replied");
        let limit = self.policy.transcript_limit;
        let c = self.conversations.get_mut(&id).expect("just opened");
        c.transcript.push_message(
            limit,
            TranscriptEntry {
                sender: Sender::Bot,
                text,
                at: at.min(now),
                agent: None,
            },
        );
        if c.customer_profile.is_none() {
            c.customer_profile = Some(profile);
        }
        c.extra_mut().answers = Some(answers);
    }

    /// Runs the rules on a queued notification and sends, holds or settles it.
    pub(super) fn try_notification(&mut self, now: Millis, id: NotificationId) {
        let Some(n) = self.outbox.get(id) else {
            return;
        };
        let (purpose, deadline, profile_id, preferred) =
            (n.purpose, n.deadline, n.profile, n.preferred_channel);
        let waited_for_rate = matches!(
            n.status,
            NotificationStatus::Queued {
                why: Waiting::ChannelRate,
                ..
            }
        );
        let Some(profile) = self.profiles.get(profile_id) else {
            self.settle(now, id, NotificationStatus::Failed, "failed");
            return;
        };
        let no_sends = SendLog::default();
        let recipient = Recipient {
            consents: profile.consents(),
            open_complaint: profile.history().open_complaints(now) > 0,
            sent: self.outbox.sent_log(profile.id()).unwrap_or(&no_sends),
            utc_offset_minutes: self.policy.outbound.utc_offset_minutes,
        };
        match self
            .policy
            .outbound
            .rules
            .check(now, purpose, deadline, recipient)
        {
            Verdict::Skip(HeldBack::Expired) => {
                self.settle(now, id, NotificationStatus::Expired, "expired");
            }
            Verdict::Skip(rule) => {
                self.settle(now, id, NotificationStatus::Skipped(rule), rule.name());
            }
            Verdict::HoldUntil(until) => {
                self.outbox.set_status(
                    now,
                    id,
                    NotificationStatus::Queued {
                        why: Waiting::QuietHours,
                        retry_at: until,
                    },
                );
                self.count_outbound(id, "deferred");
            }
            Verdict::Send => match self.address(profile_id, preferred) {
                Address::Reachable(adapter, channel, customer_id) => {
                    let rate = self.policy.outbound.rate_of(channel);
                    // A notice that waited for its channel's rate holds its slot.
                    let slot = match (rate, waited_for_rate) {
                        (Some(rate), false) => self.outbox.channel_slot(channel, now, rate),
                        _ => None,
                    };
                    match slot {
                        None => self.deliver(now, id, adapter, channel, customer_id),
                        Some(at) => self.requeue_at(now, id, Waiting::ChannelRate, at),
                    }
                }
                Address::NoAdapter => self.requeue(now, id, Waiting::NoAdapter),
                Address::Unreachable => {
                    self.settle(now, id, NotificationStatus::Failed, "failed");
                }
            },
        }
    }

    /// Queues a notification to be tried again shortly (at its deadline at the
    /// latest, where it expires).
    fn requeue(&mut self, now: Millis, id: NotificationId, why: Waiting) {
        self.requeue_at(now, id, why, now + RETRY_MS);
    }

    /// Queues a notification to be tried again at `at` (at its deadline at the
    /// latest, where it expires).
    fn requeue_at(&mut self, now: Millis, id: NotificationId, why: Waiting, at: Millis) {
        let Some(deadline) = self.outbox.get(id).map(|n| n.deadline) else {
            return;
        };
        let first_time = !matches!(
            self.outbox.get(id).map(|n| n.status),
            Some(NotificationStatus::Queued { why: w, .. }) if w == why
        );
        self.outbox.set_status(
            now,
            id,
            NotificationStatus::Queued {
                why,
                retry_at: at.min(deadline),
            },
        );
        if first_time {
            self.count_outbound(id, "deferred");
        }
    }

    fn settle(
        &mut self,
        now: Millis,
        id: NotificationId,
        status: NotificationStatus,
        counted: &'static str,
    ) {
        self.outbox.set_status(now, id, status);
        self.count_outbound(id, counted);
    }

    fn deliver(
        &mut self,
        now: Millis,
        id: NotificationId,
        adapter: AdapterId,
        channel: Channel,
        customer_id: Arc<str>,
    ) {
        let Some(n) = self.outbox.get(id) else {
            return;
        };
        let notice = CustomerNotice {
            adapter,
            conversation: ConversationId::NONE,
            channel,
            channel_conversation_id: customer_id.clone(),
            customer_id: customer_id.clone(),
            body: CustomerNoticeBody::Notification(Box::new(NotificationNotice {
                id,
                purpose: n.purpose,
                template: n.template.clone(),
                text: n.text.clone(),
                buttons: n.buttons.clone(),
                deadline: n.deadline,
                campaign: n.campaign,
            })),
        };
        self.notices.push(Notice::ToCustomer(notice));
        let window = u64::from(self.policy.outbound.reply_window_hours) * 3_600_000;
        self.outbox
            .record_send(now, id, (channel, customer_id), now + window);
        self.outbox
            .set_status(now, id, NotificationStatus::Sent { channel });
        self.count_outbound(id, "sent");
    }

    /// The first of the person's addresses (the preferred channel first, then in the
    /// order they were linked) whose channel has an adapter.
    fn address(&self, profile: ProfileId, preferred: Option<Channel>) -> Address {
        let Some(p) = self.profiles.get(profile) else {
            return Address::Unreachable;
        };
        let mut addresses: Vec<(Channel, &str)> = p
            .identities()
            .iter()
            .filter_map(|linked| {
                let identity = &linked.identity;
                let channel = match identity.kind() {
                    IdentityKind::Channel(channel) => channel,
                    IdentityKind::Phone => Channel::Sms,
                    IdentityKind::Email => Channel::Email,
                    _ => return None,
                };
                Some((channel, identity.value()))
            })
            .collect();
        if addresses.is_empty() {
            return Address::Unreachable;
        }
        // Stable: the preferred channel's addresses first, the rest as linked.
        addresses.sort_by_key(|(channel, _)| Some(*channel) != preferred);
        addresses
            .into_iter()
            .find_map(|(channel, value)| {
                let adapter = self.channel_adapters[channel.index()].clone()?;
                Some(Address::Reachable(adapter, channel, Arc::from(value)))
            })
            .unwrap_or(Address::NoAdapter)
    }

    /// Remembers the adapter a channel's customers last wrote through (or that says
    /// it carries the channel before anyone wrote, as the what-if simulator's does):
    /// outbound notifications on that channel go through it. The first one seen on a
    /// channel sends the notifications that waited for an adapter at the next tick.
    pub fn announce_adapter(&mut self, now: Millis, channel: Channel, adapter: &AdapterId) {
        let known = &mut self.channel_adapters[channel.index()];
        let first = known.is_none();
        *known = Some(adapter.clone());
        if first {
            self.outbox.retry_now(now, Waiting::NoAdapter);
        }
    }

    fn count_outbound(&mut self, id: NotificationId, result: &'static str) {
        if let Some(n) = self.outbox.get(id) {
            let index = OUTBOUND_RESULTS
                .iter()
                .position(|r| *r == result)
                .expect("a known result") as u8;
            let channel = n.status.channel();
            *self
                .outbound_counts
                .entry((n.purpose, index, channel))
                .or_default() += 1;
        }
    }

    /// Notification outcomes counted since the last call, per purpose, result and
    /// channel (the channel it went out on, for the results that have one).
    pub fn take_outbound_counts(&mut self) -> Vec<OutboundCount> {
        self.outbound_counts
            .drain()
            .map(|((purpose, result, channel), n)| OutboundCount {
                purpose,
                result: OUTBOUND_RESULTS[usize::from(result)],
                channel,
                n,
            })
            .collect()
    }
}

/// How many notifications of one purpose came to one result on one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundCount {
    /// What they were for.
    pub purpose: ContactPurpose,
    /// One of [`OUTBOUND_RESULTS`].
    pub result: &'static str,
    /// The channel they went out on; `None` for results before a channel is chosen.
    pub channel: Option<Channel>,
    /// How many.
    pub n: u64,
}

/// The results counted with the channel the notification went out on.
pub const OUTBOUND_RESULTS_BY_CHANNEL: [&str; 3] = ["sent", "delivered", "replied"];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::QuietHours;

    const HOUR: Millis = 3_600_000;
    /// A midnight UTC.
    const MIDNIGHT: Millis = 20_000 * 24 * HOUR;

    fn router() -> Router {
        let mut policy = RoutingPolicy::default();
        policy.outbound.utc_offset_minutes = 0;
        policy.outbound.rules.quiet_hours = Some(QuietHours {
            start_minute: 22 * 60,
            end_minute: 8 * 60,
        });
        Router::new(policy).unwrap()
    }

    /// A first message on `channel` from `customer`, through `adapter`.
    fn arrival(channel: Channel, adapter: &str, customer: &str) -> InboundMessage {
        InboundMessage {
            adapter: Arc::from(adapter),
            channel,
            channel_conversation_id: format!("{customer}-conversation"),
            customer_id: customer.to_owned(),
            display_name: String::new(),
            value: crate::routing::ValueFacts::default(),
            text: "hello".to_owned(),
            language: "en".to_owned(),
            client_message_id: None,
            queue: None,
            required_skills: Vec::new(),
            boosts: Boosts::default(),
            identities: Vec::new(),
        }
    }

    fn request(purpose: ContactPurpose, deadline: Millis) -> NotificationRequest {
        NotificationRequest {
            purpose,
            template: "t".into(),
            text: "Your parcel arrives today".into(),
            buttons: Vec::new(),
            preferred_channel: None,
            deadline,
            client_id: None,
        }
    }

    fn identity(channel: Channel, value: &str) -> ProfileRef {
        ProfileRef::Identity(Identity::new(IdentityKind::Channel(channel), value).unwrap())
    }

    fn sent_through(r: &mut Router) -> Vec<(Arc<str>, Channel)> {
        r.drain()
            .1
            .into_iter()
            .filter_map(|n| match n {
                Notice::ToCustomer(c) if matches!(c.body, CustomerNoticeBody::Notification(_)) => {
                    Some((c.adapter, c.channel))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_notice_held_for_quiet_hours_goes_when_they_end_through_the_adapter_learned() {
        let mut r = router();
        let at_night = MIDNIGHT + 23 * HOUR;
        r.customer_message(at_night, arrival(Channel::Weibo, "weibo-1", "someone"))
            .unwrap();
        r.drain();
        let id = r
            .send_notification(
                at_night,
                identity(Channel::Weibo, "fan-7"),
                request(ContactPurpose::Logistics, at_night + 24 * HOUR),
            )
            .unwrap();
        let retry_at = MIDNIGHT + 32 * HOUR;
        assert_eq!(
            r.notification(id).unwrap().status,
            NotificationStatus::Queued {
                why: Waiting::QuietHours,
                retry_at
            }
        );
        assert!(sent_through(&mut r).is_empty());
        r.tick(retry_at - 1);
        assert!(sent_through(&mut r).is_empty(), "not before the quiet ends");
        r.tick(retry_at);
        assert_eq!(
            sent_through(&mut r),
            [(Arc::from("weibo-1"), Channel::Weibo)]
        );
        assert_eq!(
            r.notification(id).unwrap().status,
            NotificationStatus::Sent {
                channel: Channel::Weibo
            }
        );
        // A full mailbox sends it back to the queue, to be tried again.
        r.notifications_reported(retry_at + 1, &[], &[id]);
        assert!(matches!(
            r.notification(id).unwrap().status,
            NotificationStatus::Queued {
                why: Waiting::MailboxFull,
                ..
            }
        ));
        r.tick(retry_at + 1 + RETRY_MS);
        assert_eq!(sent_through(&mut r).len(), 1);
        r.notifications_reported(retry_at + 2 + RETRY_MS, &[id], &[]);
        assert_eq!(
            r.notification(id).unwrap().status,
            NotificationStatus::Delivered {
                channel: Channel::Weibo
            }
        );
        let counts: HashMap<_, _> = r
            .take_outbound_counts()
            .into_iter()
            .map(|c| (c.result, c.n))
            .collect();
        assert_eq!(counts["sent"], 2);
        assert_eq!(counts["deferred"], 2);
        assert_eq!(counts["delivered"], 1);
    }

    #[test]
    fn the_preferred_channel_goes_first_and_another_address_is_the_fallback() {
        let mut r = router();
        let noon = MIDNIGHT + 12 * HOUR;
        for (channel, adapter) in [(Channel::Sms, "sms-1"), (Channel::Email, "mail-1")] {
            r.customer_message(noon, arrival(channel, adapter, "x"))
                .unwrap();
        }
        let person = r
            .profile_for_record(noon, identity(Channel::Douyin, "d-1"))
            .unwrap();
        for (kind, value) in [
            (IdentityKind::Phone, "+8613800138000"),
            (IdentityKind::Email, "a@b.cn"),
        ] {
            r.link_identifier(noon, person, Identity::new(kind, value).unwrap())
                .unwrap();
        }
        r.drain();
        let mut to_person = |preferred| {
            let mut asked = request(ContactPurpose::Service, noon + HOUR);
            asked.preferred_channel = preferred;
            r.send_notification(noon, ProfileRef::Id(person), asked)
                .unwrap();
            sent_through(&mut r)
        };
        // No Douyin adapter yet: the phone (SMS), linked next, carries it.
        assert_eq!(to_person(None), [(Arc::from("sms-1"), Channel::Sms)]);
        assert_eq!(
            to_person(Some(Channel::Email)),
            [(Arc::from("mail-1"), Channel::Email)]
        );
    }

    #[test]
    fn a_channel_past_its_rate_sends_the_rest_at_their_slots() {
        let mut policy = RoutingPolicy::default();
        policy.outbound.rules.quiet_hours = None;
        policy.outbound.channel_rates = [("weibo".to_owned(), 1)].into();
        let mut r = Router::new(policy).unwrap();
        let noon = MIDNIGHT + 12 * HOUR;
        r.customer_message(noon, arrival(Channel::Weibo, "weibo-1", "someone"))
            .unwrap();
        r.drain();
        let ids: Vec<NotificationId> = (0..3)
            .map(|n| {
                let fan = identity(Channel::Weibo, &format!("fan-{n}"));
                r.send_notification(noon, fan, request(ContactPurpose::Logistics, noon + HOUR))
                    .unwrap()
            })
            .collect();
        assert_eq!(sent_through(&mut r).len(), 1, "one a second");
        assert_eq!(
            r.notification(ids[2]).unwrap().status,
            NotificationStatus::Queued {
                why: Waiting::ChannelRate,
                retry_at: noon + 2_000
            }
        );
        r.tick(noon + 1_000);
        assert_eq!(sent_through(&mut r).len(), 1);
        r.tick(noon + 2_000);
        assert_eq!(sent_through(&mut r).len(), 1);
        // Two acknowledged; the third, never acknowledged, is given up at its deadline.
        r.notifications_reported(noon + 2_001, &ids[..2], &[]);
        assert!(
            r.has_queued_notifications(),
            "the third waits for its acknowledgement"
        );
        r.tick(noon + HOUR);
        assert_eq!(
            r.notification(ids[2]).unwrap().status,
            NotificationStatus::Expired
        );
        assert!(!r.has_queued_notifications());
    }

    #[test]
    fn a_customer_with_no_address_fails_and_one_without_an_adapter_expires() {
        let mut r = router();
        let noon = MIDNIGHT + 12 * HOUR;
        let app_user = ProfileRef::Identity(Identity::new(IdentityKind::AppUser, "u-1").unwrap());
        let id = r
            .send_notification(
                noon,
                app_user,
                request(ContactPurpose::Service, noon + HOUR),
            )
            .unwrap();
        assert_eq!(
            r.notification(id).unwrap().status,
            NotificationStatus::Failed
        );
        let id = r
            .send_notification(
                noon,
                identity(Channel::App, "app-9"),
                request(ContactPurpose::Service, noon + 45_000),
            )
            .unwrap();
        r.tick(noon + RETRY_MS);
        assert!(matches!(
            r.notification(id).unwrap().status,
            NotificationStatus::Queued {
                why: Waiting::NoAdapter,
                retry_at
            } if retry_at == noon + 45_000
        ));
        r.tick(noon + 45_000);
        assert_eq!(
            r.notification(id).unwrap().status,
            NotificationStatus::Expired
        );
        assert!(!r.has_queued_notifications());
    }
}
