//! Outbound notifications as a tenant keeps them: each one's request and where it
//! stands (queued, sent, delivered, replied, skipped, expired, failed), the times at
//! which queued ones are tried again, what each person was sent lately (for the caps),
//! and the sends a customer's reply may answer.
//!
//! Plain data with its own bounds; the router decides what happens to each one.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;

use super::campaign::CampaignId;
use super::rules::{HeldBack, SendLog};
use crate::customer::{ContactPurpose, ProfileId};
use crate::routing::{Button, Channel, ConversationId, Millis};

/// Open reply windows kept per notification kept (`max_notifications`): the rest
/// close early, oldest first.
const REPLY_WINDOWS_PER_KEPT: usize = 4;

/// A notification's id, unique within its tenant and never reused.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct NotificationId(pub u64);

impl fmt::Display for NotificationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// Why a queued notification has not gone yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Waiting {
    /// Just accepted, not tried yet.
    New,
    /// The customer's quiet hours; tried again when they end.
    QuietHours,
    /// No adapter of the customer's channels has been seen yet; tried again shortly.
    NoAdapter,
    /// The adapter's mailbox had no room; tried again shortly.
    MailboxFull,
    /// Its channel's send rate was spent; it goes at the slot it was given.
    ChannelRate,
}

impl Waiting {
    /// Stable name, for the contract and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Waiting::New => "new",
            Waiting::QuietHours => "quiet_hours",
            Waiting::NoAdapter => "no_adapter",
            Waiting::MailboxFull => "mailbox_full",
            Waiting::ChannelRate => "channel_rate",
        }
    }
}

/// Where a notification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum NotificationStatus {
    /// Not sent yet; tried again at `retry_at`.
    Queued {
        /// Why it waits.
        why: Waiting,
        /// When it is tried again.
        retry_at: Millis,
    },
    /// Filed in an adapter's mailbox, not acknowledged yet.
    Sent {
        /// The channel it went out on.
        channel: Channel,
    },
    /// The adapter acknowledged it.
    Delivered {
        /// The channel it went out on.
        channel: Channel,
    },
    /// The customer answered it, opening a conversation.
    Replied {
        /// The channel it went out on.
        channel: Channel,
        /// The conversation the reply opened.
        conversation: ConversationId,
    },
    /// A rule held it back for good.
    Skipped(HeldBack),
    /// Its deadline passed before it could go, or before the adapter it was handed
    /// to acknowledged it.
    Expired,
    /// It cannot be sent at all: the customer has no address on any channel.
    Failed,
}

impl NotificationStatus {
    /// The channel it went out on, once it did.
    pub fn channel(self) -> Option<Channel> {
        match self {
            NotificationStatus::Sent { channel }
            | NotificationStatus::Delivered { channel }
            | NotificationStatus::Replied { channel, .. } => Some(channel),
            _ => None,
        }
    }

    /// Stable name, for the contract and metrics.
    pub fn name(self) -> &'static str {
        match self {
            NotificationStatus::Queued { .. } => "queued",
            NotificationStatus::Sent { .. } => "sent",
            NotificationStatus::Delivered { .. } => "delivered",
            NotificationStatus::Replied { .. } => "replied",
            NotificationStatus::Skipped(_) => "skipped",
            NotificationStatus::Expired => "expired",
            NotificationStatus::Failed => "failed",
        }
    }

    /// Whether nothing more will happen to it but a reply.
    fn is_settled(self) -> bool {
        !matches!(
            self,
            NotificationStatus::Queued { .. } | NotificationStatus::Sent { .. }
        )
    }
}

/// A notification as the tenant's systems asked for it, its text already filled in.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NotificationRequest {
    /// What it is for; decides consent, caps and quiet hours.
    pub purpose: ContactPurpose,
    /// The template it was filled from, for reports and the agent's context; shared,
    /// so a campaign's many notices hold one copy.
    pub template: Arc<str>,
    /// The text the customer gets; shared like the template.
    pub text: Arc<str>,
    /// Quick-reply buttons.
    pub buttons: Vec<Button>,
    /// The channel to try first, when the customer has an address on it.
    pub preferred_channel: Option<Channel>,
    /// After this it is pointless (Unix milliseconds).
    pub deadline: Millis,
    /// The sender's own id for it: a second send with the same id is the same
    /// notification.
    pub client_id: Option<String>,
}

/// One notification.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Notification {
    /// Its id.
    pub id: NotificationId,
    /// The person it is for.
    pub profile: ProfileId,
    /// What it is for.
    pub purpose: ContactPurpose,
    /// The template it was filled from.
    pub template: Arc<str>,
    /// The text.
    pub text: Arc<str>,
    /// Quick-reply buttons.
    pub buttons: Vec<Button>,
    /// The channel to try first.
    pub preferred_channel: Option<Channel>,
    /// After this it is pointless.
    pub deadline: Millis,
    /// The sender's own id, if given.
    pub client_id: Option<Box<str>>,
    /// The campaign it is part of, if any.
    pub campaign: Option<CampaignId>,
    /// When it was accepted.
    pub created_at: Millis,
    /// Where it stands.
    pub status: NotificationStatus,
    /// When the status last changed.
    pub status_at: Millis,
}

/// Why a notification was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxFull {
    /// As many notifications are queued or sent as the tenant may keep.
    Pending(usize),
}

/// A tenant's notifications. Settled ones are forgotten oldest first once `limit`
/// are kept; pending ones (queued or sent) are never forgotten, so when every kept
/// notification is pending a new one is refused.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Outbox {
    /// Every kept notification by id (ids increase with time).
    notifications: BTreeMap<NotificationId, Notification>,
    /// The id the next one gets.
    next_id: u64,
    /// Notifications by the sender's own id.
    by_client_id: HashMap<Box<str>, NotificationId>,
    /// Queued notifications by the time they are tried again.
    due: BTreeSet<(Millis, NotificationId)>,
    /// Sent notifications not acknowledged yet, by their deadline: one still not
    /// acknowledged then expires, so an adapter that never acknowledges cannot keep
    /// the outbox full for good.
    #[serde(default)]
    unacknowledged: BTreeSet<(Millis, NotificationId)>,
    /// Settled notifications, oldest first: the first forgotten.
    settled: VecDeque<NotificationId>,
    /// What each person was sent in the last week.
    sent: HashMap<ProfileId, SendLog>,
    /// Sent notifications a reply on the same channel from the same customer answers,
    /// until the window ends.
    replies: HashMap<(Channel, Arc<str>), (NotificationId, Millis)>,
    /// Reply windows in the order they end, for tidying.
    reply_windows: VecDeque<(Millis, Channel, Arc<str>)>,
    /// Per channel, the theoretical time of its next send in microseconds (a
    /// virtual schedule at the channel's rate, with a second's worth of burst).
    #[serde(default)]
    channel_schedule: [u64; Channel::ALL.len()],
    /// Most notifications kept.
    limit: usize,
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox::new(100_000)
    }
}

impl Outbox {
    /// An empty outbox keeping at most `limit` notifications.
    pub fn new(limit: usize) -> Outbox {
        Outbox {
            notifications: BTreeMap::new(),
            next_id: 1,
            by_client_id: HashMap::new(),
            due: BTreeSet::new(),
            unacknowledged: BTreeSet::new(),
            settled: VecDeque::new(),
            sent: HashMap::new(),
            replies: HashMap::new(),
            reply_windows: VecDeque::new(),
            channel_schedule: [0; Channel::ALL.len()],
            limit: limit.max(1),
        }
    }

    /// Sets the most notifications kept (from the tenant's configuration).
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit.max(1);
    }

    /// The notification the sender's own id names.
    pub fn by_client_id(&self, client_id: &str) -> Option<NotificationId> {
        self.by_client_id.get(client_id).copied()
    }

    /// A notification.
    pub fn get(&self, id: NotificationId) -> Option<&Notification> {
        self.notifications.get(&id)
    }

    /// Whether a notification is queued to be tried again, or sent and waiting for
    /// its acknowledgement until its deadline.
    pub fn has_queued(&self) -> bool {
        !self.due.is_empty() || !self.unacknowledged.is_empty()
    }

    /// Sent notifications whose deadline passed before an acknowledgement came,
    /// taken off that watch (the caller settles them).
    pub fn take_unacknowledged(&mut self, now: Millis) -> Vec<NotificationId> {
        take_until(&mut self.unacknowledged, now)
    }

    /// Notifications kept (pending and settled).
    pub fn len(&self) -> usize {
        self.notifications.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.notifications.is_empty()
    }

    /// Whether a new notification would be refused now (every kept one pending).
    pub fn is_full(&self) -> bool {
        self.notifications.len() >= self.limit && self.settled.is_empty()
    }

    /// Accepts a notification for `profile` (part of `campaign`, if any), queued to
    /// be tried at once.
    pub fn insert(
        &mut self,
        now: Millis,
        profile: ProfileId,
        request: NotificationRequest,
        campaign: Option<CampaignId>,
    ) -> Result<NotificationId, OutboxFull> {
        if self.notifications.len() >= self.limit {
            match self.settled.pop_front() {
                Some(oldest) => self.forget(oldest),
                None => return Err(OutboxFull::Pending(self.notifications.len())),
            }
        }
        let id = NotificationId(self.next_id);
        self.next_id += 1;
        let client_id = request.client_id.map(String::into_boxed_str);
        if let Some(key) = &client_id {
            self.by_client_id.insert(key.clone(), id);
        }
        let status = NotificationStatus::Queued {
            why: Waiting::New,
            retry_at: now,
        };
        self.notifications.insert(
            id,
            Notification {
                id,
                profile,
                purpose: request.purpose,
                template: request.template,
                text: request.text,
                buttons: request.buttons,
                preferred_channel: request.preferred_channel,
                deadline: request.deadline,
                client_id,
                campaign,
                created_at: now,
                status,
                status_at: now,
            },
        );
        self.due.insert((now, id));
        Ok(id)
    }

    fn forget(&mut self, id: NotificationId) {
        if let Some(n) = self.notifications.get(&id) {
            match n.status {
                NotificationStatus::Queued { retry_at, .. } => {
                    self.due.remove(&(retry_at, id));
                }
                NotificationStatus::Sent { .. } => {
                    self.unacknowledged.remove(&(n.deadline, id));
                }
                _ => {}
            }
        }
        if let Some(gone) = self.notifications.remove(&id)
            && let Some(key) = gone.client_id
            && self.by_client_id.get(&key) == Some(&id)
        {
            self.by_client_id.remove(&key);
        }
    }

    /// Queued notifications whose retry time has come, earliest first, taken off the
    /// retry schedule (the caller sets each one's next status).
    pub fn take_due(&mut self, now: Millis) -> Vec<NotificationId> {
        take_until(&mut self.due, now)
    }

    /// Changes a notification's status at `now`; a queued one is put on the retry
    /// schedule, a settled one becomes forgettable.
    pub fn set_status(&mut self, now: Millis, id: NotificationId, status: NotificationStatus) {
        let Some(n) = self.notifications.get_mut(&id) else {
            return;
        };
        match n.status {
            NotificationStatus::Queued { retry_at, .. } => {
                self.due.remove(&(retry_at, id));
            }
            NotificationStatus::Sent { .. } => {
                self.unacknowledged.remove(&(n.deadline, id));
            }
            _ => {}
        }
        let was_settled = n.status.is_settled();
        n.status = status;
        n.status_at = now;
        match status {
            NotificationStatus::Queued { retry_at, .. } => {
                self.due.insert((retry_at, id));
            }
            NotificationStatus::Sent { .. } => {
                self.unacknowledged.insert((n.deadline, id));
            }
            _ if status.is_settled() && !was_settled => self.settled.push_back(id),
            _ => {}
        }
    }

    /// Queued notifications waiting for `why` are tried at `now` instead.
    pub fn retry_now(&mut self, now: Millis, why: Waiting) {
        let waiting: Vec<NotificationId> = self
            .due
            .iter()
            .filter(|(_, id)| {
                matches!(
                    self.notifications.get(id).map(|n| n.status),
                    Some(NotificationStatus::Queued { why: w, .. }) if w == why
                )
            })
            .map(|&(_, id)| id)
            .collect();
        for id in waiting {
            self.set_status(now, id, NotificationStatus::Queued { why, retry_at: now });
        }
    }

    /// A send on `channel` at `now` within its rate of `per_second`: `None` when it
    /// may go now, else the time of the slot it is given (kept for it: the schedule
    /// moves on either way, so a backlog is spread over the coming seconds at the
    /// rate, not retried all at once).
    pub fn channel_slot(
        &mut self,
        channel: Channel,
        now: Millis,
        per_second: u32,
    ) -> Option<Millis> {
        const BURST_US: u64 = 1_000_000;
        let interval = BURST_US / u64::from(per_second.max(1));
        let now_us = now * 1000;
        let next = &mut self.channel_schedule[channel.index()];
        let at = (*next).max(now_us);
        *next = at + interval;
        let due_us = at + interval;
        (due_us > now_us + BURST_US).then(|| (due_us - BURST_US).div_ceil(1000))
    }

    /// What `profile` was sent in the last week.
    pub fn sent_log(&self, profile: ProfileId) -> Option<&SendLog> {
        self.sent.get(&profile)
    }

    /// Records a send to `profile` on `channel` to `customer_id`: counted for the
    /// caps, and answerable by a reply until `reply_until`.
    pub fn record_send(
        &mut self,
        now: Millis,
        id: NotificationId,
        to: (Channel, Arc<str>),
        reply_until: Millis,
    ) {
        let Some(n) = self.notifications.get(&id) else {
            return;
        };
        self.sent
            .entry(n.profile)
            .or_default()
            .record(n.purpose, now);
        // Reply windows outlive the notifications they answer; they are bounded too,
        // the oldest closing first.
        while self.reply_windows.len() >= self.limit * REPLY_WINDOWS_PER_KEPT {
            let Some((_, channel, customer)) = self.reply_windows.pop_front() else {
                break;
            };
            let key = (channel, customer);
            if self
                .replies
                .get(&key)
                .is_some_and(|&(_, until)| until <= reply_until)
            {
                self.replies.remove(&key);
            }
        }
        self.reply_windows
            .push_back((reply_until, to.0, to.1.clone()));
        self.replies.insert(to, (id, reply_until));
    }

    /// The sent notification a new conversation from `customer_id` on `channel` at
    /// `now` answers, if any (taken: one reply answers it).
    pub fn take_reply(
        &mut self,
        now: Millis,
        channel: Channel,
        customer_id: &Arc<str>,
    ) -> Option<NotificationId> {
        let key = (channel, customer_id.clone());
        let (id, until) = self.replies.remove(&key)?;
        (until > now).then_some(id)
    }

    /// Whether any reply window is open (a cheap check before [`Outbox::take_reply`]).
    pub fn awaits_replies(&self) -> bool {
        !self.replies.is_empty()
    }

    /// Forgets reply windows that ended by `now`, and send-log entries older than
    /// a week.
    pub fn tidy(&mut self, now: Millis) {
        while let Some((until, _, _)) = self.reply_windows.front() {
            if *until > now {
                break;
            }
            let Some((_, channel, customer)) = self.reply_windows.pop_front() else {
                break;
            };
            let key = (channel, customer);
            if self.replies.get(&key).is_some_and(|&(_, u)| u <= now) {
                self.replies.remove(&key);
            }
        }
        if self.sent.len() > self.limit {
            self.sent.retain(|_, log| !log.is_empty_at(now));
        }
    }

    /// Forgets every notification of the given people (an erasure), returning how
    /// many.
    pub fn forget_people(&mut self, people: &[ProfileId]) -> usize {
        let gone: Vec<NotificationId> = self
            .notifications
            .values()
            .filter(|n| people.contains(&n.profile))
            .map(|n| n.id)
            .collect();
        for id in &gone {
            self.forget(*id);
        }
        self.settled
            .retain(|id| self.notifications.contains_key(id));
        self.replies
            .retain(|_, (id, _)| self.notifications.contains_key(id));
        for p in people {
            self.sent.remove(p);
        }
        gone.len()
    }
}

/// Takes the entries of a time-ordered schedule whose time is `now` or earlier, in
/// order.
fn take_until(
    schedule: &mut BTreeSet<(Millis, NotificationId)>,
    now: Millis,
) -> Vec<NotificationId> {
    let mut taken = Vec::new();
    while let Some(&(at, id)) = schedule.first() {
        if at > now {
            break;
        }
        schedule.pop_first();
        taken.push(id);
    }
    taken
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(client_id: Option<&str>) -> NotificationRequest {
        NotificationRequest {
            purpose: ContactPurpose::Logistics,
            template: "shipped".into(),
            text: "Your order is on its way".into(),
            buttons: Vec::new(),
            preferred_channel: None,
            deadline: 1_000_000,
            client_id: client_id.map(str::to_owned),
        }
    }

    #[test]
    fn settled_notifications_make_room_and_pending_ones_never_do() {
        let mut outbox = Outbox::new(2);
        let a = outbox
            .insert(0, ProfileId(1), request(Some("a")), None)
            .unwrap();
        let b = outbox.insert(0, ProfileId(1), request(None), None).unwrap();
        assert_eq!(
            outbox.insert(0, ProfileId(1), request(None), None),
            Err(OutboxFull::Pending(2)),
            "both pending: refused"
        );
        outbox.set_status(1, a, NotificationStatus::Expired);
        let c = outbox
            .insert(2, ProfileId(1), request(Some("a")), None)
            .unwrap();
        assert!(outbox.get(a).is_none(), "the settled one is forgotten");
        assert_eq!(outbox.by_client_id("a"), Some(c));
        assert!(outbox.get(b).is_some());
        assert_eq!(c, NotificationId(3), "ids are never reused");
    }

    #[test]
    fn queued_notifications_come_due_in_time_order_once() {
        let mut outbox = Outbox::new(10);
        let a = outbox.insert(5, ProfileId(1), request(None), None).unwrap();
        let b = outbox.insert(5, ProfileId(2), request(None), None).unwrap();
        assert_eq!(outbox.take_due(5), vec![a, b]);
        assert!(outbox.take_due(5).is_empty());
        let later = |retry_at| NotificationStatus::Queued {
            why: Waiting::QuietHours,
            retry_at,
        };
        outbox.set_status(5, a, later(100));
        outbox.set_status(5, b, later(50));
        outbox.set_status(6, b, later(70));
        assert!(
            outbox.take_due(60).is_empty(),
            "the moved retry is not kept twice"
        );
        assert_eq!(outbox.take_due(100), vec![b, a]);
    }

    #[test]
    fn a_reply_answers_the_last_send_within_its_window_only() {
        let mut outbox = Outbox::new(10);
        let a = outbox.insert(0, ProfileId(1), request(None), None).unwrap();
        let customer: Arc<str> = Arc::from("c1");
        outbox.record_send(0, a, (Channel::Sms, customer.clone()), 100);
        assert_eq!(outbox.take_reply(150, Channel::Sms, &customer), None);
        outbox.record_send(200, a, (Channel::Sms, customer.clone()), 300);
        assert_eq!(outbox.take_reply(250, Channel::Web, &customer), None);
        assert_eq!(outbox.take_reply(250, Channel::Sms, &customer), Some(a));
        assert_eq!(
            outbox.take_reply(260, Channel::Sms, &customer),
            None,
            "taken"
        );
        outbox.record_send(400, a, (Channel::Sms, customer.clone()), 500);
        outbox.tidy(600);
        assert!(!outbox.awaits_replies());
    }

    #[test]
    fn a_channel_rate_lets_a_seconds_worth_go_and_gives_the_rest_slots_at_the_rate() {
        let mut outbox = Outbox::new(10);
        let slots: Vec<Option<Millis>> = (0..5)
            .map(|_| outbox.channel_slot(Channel::Sms, 10_000, 2))
            .collect();
        assert_eq!(
            slots,
            [None, None, Some(10_500), Some(11_000), Some(11_500)]
        );
        assert_eq!(
            outbox.channel_slot(Channel::Email, 10_000, 2),
            None,
            "per channel"
        );
        // Long after, the burst is back, and no more than it.
        let later: Vec<Option<Millis>> = (0..3)
            .map(|_| outbox.channel_slot(Channel::Sms, 60_000, 2))
            .collect();
        assert_eq!(later, [None, None, Some(60_500)]);
    }

    #[test]
    fn a_sent_notification_nobody_acknowledges_is_given_up_at_its_deadline() {
        let mut outbox = Outbox::new(10);
        let a = outbox.insert(0, ProfileId(1), request(None), None).unwrap();
        let b = outbox.insert(0, ProfileId(2), request(None), None).unwrap();
        let sent = NotificationStatus::Sent {
            channel: Channel::Sms,
        };
        outbox.set_status(1, a, sent);
        outbox.set_status(1, b, sent);
        outbox.set_status(
            2,
            b,
            NotificationStatus::Delivered {
                channel: Channel::Sms,
            },
        );
        assert!(outbox.take_unacknowledged(999_999).is_empty());
        assert_eq!(
            outbox.take_unacknowledged(1_000_000),
            [a],
            "b was acknowledged"
        );
        assert!(!outbox.has_queued());
    }

    #[test]
    fn reply_windows_are_bounded_and_the_oldest_close_first() {
        let mut outbox = Outbox::new(1);
        let a = outbox.insert(0, ProfileId(1), request(None), None).unwrap();
        for n in 0..6 {
            let customer: Arc<str> = Arc::from(format!("c{n}"));
            outbox.record_send(n, a, (Channel::Sms, customer), 1_000 + n);
        }
        assert_eq!(outbox.replies.len(), REPLY_WINDOWS_PER_KEPT);
        assert_eq!(outbox.take_reply(10, Channel::Sms, &Arc::from("c0")), None);
        assert_eq!(
            outbox.take_reply(10, Channel::Sms, &Arc::from("c5")),
            Some(a)
        );
    }

    #[test]
    fn an_erasure_forgets_the_persons_notifications_and_sends() {
        let mut outbox = Outbox::new(10);
        let a = outbox
            .insert(0, ProfileId(1), request(Some("x")), None)
            .unwrap();
        let b = outbox.insert(0, ProfileId(2), request(None), None).unwrap();
        outbox.record_send(0, a, (Channel::Sms, Arc::from("c1")), 100);
        assert_eq!(outbox.forget_people(&[ProfileId(1)]), 1);
        assert!(outbox.get(a).is_none());
        assert_eq!(outbox.by_client_id("x"), None);
        assert!(outbox.sent_log(ProfileId(1)).is_none());
        assert!(!outbox.awaits_replies());
        assert_eq!(outbox.take_due(0), vec![b]);
    }
}
