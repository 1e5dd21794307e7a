//! The rules that protect the customer and the brand before an outbound message goes:
//! its deadline, consent for its purpose, no marketing during an open complaint,
//! frequency caps per purpose per day and week, and quiet hours in the customer's
//! time zone. Each rule that holds a message back says which, so it can be counted
//! and shown.

use crate::customer::{Consents, ContactPurpose};
use crate::routing::Millis;

const MINUTE_MS: u64 = 60_000;
const DAY_MS: u64 = 24 * 60 * MINUTE_MS;
const WEEK_MS: u64 = 7 * DAY_MS;

/// How many messages of one purpose a customer may get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cap {
    /// In any 24 hours.
    pub per_day: u32,
    /// In any 7 days.
    pub per_week: u32,
}

/// The caps of each purpose (`[routing.outbound.rules.caps]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Caps {
    /// Service messages (exempt from quiet hours, not from caps).
    pub service: Cap,
    /// Logistics notices.
    pub logistics: Cap,
    /// Feedback requests.
    pub feedback: Cap,
    /// Follow-up visits.
    pub follow_up: Cap,
    /// Greetings.
    pub greeting: Cap,
    /// Marketing.
    pub marketing: Cap,
}

impl Default for Caps {
    fn default() -> Self {
        let cap = |per_day, per_week| Cap { per_day, per_week };
        Caps {
            service: cap(10, 50),
            logistics: cap(10, 30),
            feedback: cap(1, 3),
            follow_up: cap(1, 3),
            greeting: cap(1, 2),
            marketing: cap(1, 3),
        }
    }
}

impl Caps {
    /// The cap of `purpose`.
    pub fn of(&self, purpose: ContactPurpose) -> Cap {
        match purpose {
            ContactPurpose::Service => self.service,
            ContactPurpose::Logistics => self.logistics,
            ContactPurpose::Feedback => self.feedback,
            ContactPurpose::FollowUp => self.follow_up,
            ContactPurpose::Greeting => self.greeting,
            ContactPurpose::Marketing => self.marketing,
        }
    }
}

/// Local hours in which no message goes, except service messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QuietHours {
    /// Minute of the local day quiet starts (21:00 = 1260).
    pub start_minute: u16,
    /// Minute of the local day quiet ends (08:00 = 480); before `start_minute` when
    /// the quiet spans midnight.
    pub end_minute: u16,
}

impl QuietHours {
    /// When the quiet that `local_minute` falls in ends, in minutes from then; `None`
    /// outside quiet hours.
    fn minutes_left(self, local_minute: u16) -> Option<u16> {
        let (start, end, m) = (self.start_minute, self.end_minute, local_minute);
        let inside = if start <= end {
            (start..end).contains(&m)
        } else {
            m >= start || m < end
        };
        inside.then(|| (end + 24 * 60 - m) % (24 * 60))
    }
}

/// The tenant's rules for outbound messages.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboundRules {
    /// Caps per purpose.
    pub caps: Caps,
    /// Quiet hours, if any.
    pub quiet_hours: Option<QuietHours>,
}

impl Default for OutboundRules {
    fn default() -> Self {
        OutboundRules {
            caps: Caps::default(),
            quiet_hours: Some(QuietHours {
                start_minute: 21 * 60,
                end_minute: 8 * 60,
            }),
        }
    }
}

/// Why a message was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum HeldBack {
    /// Its deadline passed before it could go.
    Expired,
    /// The customer has not agreed to this purpose (or opted out of it).
    NoConsent,
    /// Marketing while the customer has an open complaint.
    OpenComplaint,
    /// The customer had this purpose's daily share already.
    DailyCap,
    /// The customer had this purpose's weekly share already.
    WeeklyCap,
    /// Quiet hours last past its deadline.
    QuietHours,
}

impl HeldBack {
    /// Stable name, for the contract and metrics.
    pub fn name(self) -> &'static str {
        match self {
            HeldBack::Expired => "expired",
            HeldBack::NoConsent => "no_consent",
            HeldBack::OpenComplaint => "open_complaint",
            HeldBack::DailyCap => "daily_cap",
            HeldBack::WeeklyCap => "weekly_cap",
            HeldBack::QuietHours => "quiet_hours",
        }
    }
}

/// What to do with a message now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send it.
    Send,
    /// Wait until then (quiet hours), then ask again.
    HoldUntil(Millis),
    /// Do not send it.
    Skip(HeldBack),
}

/// What one customer was sent lately, for the caps: one list of (purpose, time) for
/// all purposes, oldest first, so a person sent one notice costs one entry rather
/// than a queue per purpose.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SendLog {
    /// Sends in the last week, oldest first.
    sent: Vec<(ContactPurpose, Millis)>,
}

impl SendLog {
    /// Records a send, forgetting those more than a week before it.
    pub fn record(&mut self, purpose: ContactPurpose, at: Millis) {
        let old = self.sent.partition_point(|&(_, t)| t + WEEK_MS <= at);
        self.sent.drain(..old);
        self.sent.push((purpose, at));
    }

    /// Sends of `purpose` within `window_ms` before `now`.
    fn within(&self, purpose: ContactPurpose, now: Millis, window_ms: u64) -> u32 {
        self.sent
            .iter()
            .filter(|&&(p, t)| p == purpose && t + window_ms > now)
            .count() as u32
    }

    /// Whether nothing was sent in the last week.
    pub fn is_empty(&self) -> bool {
        self.sent.is_empty()
    }

    /// Whether nothing was sent in the week before `now`.
    pub fn is_empty_at(&self, now: Millis) -> bool {
        self.sent.last().is_none_or(|&(_, t)| t + WEEK_MS <= now)
    }
}

/// The facts about one customer the rules read.
#[derive(Debug, Clone, Copy)]
pub struct Recipient<'a> {
    /// What they agreed to.
    pub consents: &'a Consents,
    /// Whether a complaint of theirs is still open.
    pub open_complaint: bool,
    /// What they were sent lately.
    pub sent: &'a SendLog,
    /// Their time zone, as minutes east of UTC.
    pub utc_offset_minutes: i32,
}

impl OutboundRules {
    /// Whether a message for `purpose`, pointless after `deadline`, may go to the
    /// recipient at `now` (Unix milliseconds). Rules are checked in this order: the
    /// deadline, consent, an open complaint (marketing), the daily and weekly caps,
    /// quiet hours (not for service messages).
    pub fn check(
        &self,
        now: Millis,
        purpose: ContactPurpose,
        deadline: Millis,
        to: Recipient<'_>,
    ) -> Verdict {
        if now >= deadline {
            return Verdict::Skip(HeldBack::Expired);
        }
        if !to.consents.allows(purpose) {
            return Verdict::Skip(HeldBack::NoConsent);
        }
        if purpose == ContactPurpose::Marketing && to.open_complaint {
            return Verdict::Skip(HeldBack::OpenComplaint);
        }
        let cap = self.caps.of(purpose);
        if to.sent.within(purpose, now, DAY_MS) >= cap.per_day {
            return Verdict::Skip(HeldBack::DailyCap);
        }
        if to.sent.within(purpose, now, WEEK_MS) >= cap.per_week {
            return Verdict::Skip(HeldBack::WeeklyCap);
        }
        if purpose != ContactPurpose::Service
            && let Some(quiet) = self.quiet_hours
        {
            let local = now as i64 + i64::from(to.utc_offset_minutes) * MINUTE_MS as i64;
            let minute = (local.rem_euclid(DAY_MS as i64) / MINUTE_MS as i64) as u16;
            if let Some(left) = quiet.minutes_left(minute) {
                let until = now + u64::from(left) * MINUTE_MS;
                return if until >= deadline {
                    Verdict::Skip(HeldBack::QuietHours)
                } else {
                    Verdict::HoldUntil(until)
                };
            }
        }
        Verdict::Send
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::customer::{ConsentRecord, ProfileId};

    /// 2026-12-03 12:00 UTC.
    const NOON_UTC: Millis = 1_796_299_200_000;

    fn opted_in() -> Consents {
        let mut consents = Consents::default();
        consents.record(ConsentRecord {
            purpose: ContactPurpose::Marketing,
            granted: true,
            at: 1,
            source: "test".into(),
            origin: ProfileId(1),
        });
        consents
    }

    fn to<'a>(consents: &'a Consents, sent: &'a SendLog, offset_hours: i32) -> Recipient<'a> {
        Recipient {
            consents,
            open_complaint: false,
            sent,
            utc_offset_minutes: offset_hours * 60,
        }
    }

    #[test]
    fn consent_complaints_and_deadlines_hold_messages_back_naming_the_rule() {
        let rules = OutboundRules::default();
        let (none, sent) = (Consents::default(), SendLog::default());
        let later = NOON_UTC + DAY_MS;
        let check = |purpose, to| rules.check(NOON_UTC, purpose, later, to);
        assert_eq!(
            check(ContactPurpose::Marketing, to(&none, &sent, 0)),
            Verdict::Skip(HeldBack::NoConsent)
        );
        assert_eq!(
            check(ContactPurpose::Logistics, to(&none, &sent, 0)),
            Verdict::Send
        );
        let consents = opted_in();
        let mut unhappy = to(&consents, &sent, 0);
        assert_eq!(check(ContactPurpose::Marketing, unhappy), Verdict::Send);
        unhappy.open_complaint = true;
        assert_eq!(
            check(ContactPurpose::Marketing, unhappy),
            Verdict::Skip(HeldBack::OpenComplaint)
        );
        assert_eq!(check(ContactPurpose::Feedback, unhappy), Verdict::Send);
        assert_eq!(
            rules.check(later, ContactPurpose::Logistics, later, to(&none, &sent, 0)),
            Verdict::Skip(HeldBack::Expired)
        );
    }

    #[test]
    fn caps_count_the_last_day_and_week_per_purpose() {
        let rules = OutboundRules::default();
        let consents = opted_in();
        let mut sent = SendLog::default();
        let deadline = NOON_UTC + WEEK_MS;
        sent.record(ContactPurpose::Marketing, NOON_UTC - 2 * DAY_MS);
        sent.record(ContactPurpose::Marketing, NOON_UTC - 3_600_000);
        assert_eq!(
            rules.check(
                NOON_UTC,
                ContactPurpose::Marketing,
                deadline,
                to(&consents, &sent, 0)
            ),
            Verdict::Skip(HeldBack::DailyCap)
        );
        assert_eq!(
            rules.check(
                NOON_UTC,
                ContactPurpose::Logistics,
                deadline,
                to(&consents, &sent, 0)
            ),
            Verdict::Send,
            "another purpose's sends do not count"
        );
        let tomorrow = NOON_UTC + DAY_MS;
        assert_eq!(
            rules.check(
                tomorrow,
                ContactPurpose::Marketing,
                deadline,
                to(&consents, &sent, 0)
            ),
            Verdict::Send
        );
        sent.record(ContactPurpose::Marketing, tomorrow);
        let after = tomorrow + DAY_MS;
        assert_eq!(
            rules.check(
                after,
                ContactPurpose::Marketing,
                deadline,
                to(&consents, &sent, 0)
            ),
            Verdict::Skip(HeldBack::WeeklyCap),
            "three in seven days"
        );
    }

    #[test]
    fn quiet_hours_follow_the_customers_clock_and_spare_service_messages() {
        let rules = OutboundRules::default();
        let (none, sent) = (Consents::default(), SendLog::default());
        let deadline = NOON_UTC + DAY_MS;
        // Noon UTC is 20:00 in Beijing (UTC+8): not quiet yet.
        assert_eq!(
            rules.check(
                NOON_UTC,
                ContactPurpose::Logistics,
                deadline,
                to(&none, &sent, 8)
            ),
            Verdict::Send
        );
        // 14:00 UTC is 22:00 in Beijing: held until 08:00 there, 00:00 UTC.
        let late = NOON_UTC + 2 * 3_600_000;
        assert_eq!(
            rules.check(
                late,
                ContactPurpose::Logistics,
                deadline,
                to(&none, &sent, 8)
            ),
            Verdict::HoldUntil(NOON_UTC + 12 * 3_600_000)
        );
        assert_eq!(
            rules.check(late, ContactPurpose::Service, deadline, to(&none, &sent, 8)),
            Verdict::Send
        );
        // In New York (UTC-5) 14:00 UTC is 09:00: not quiet.
        assert_eq!(
            rules.check(
                late,
                ContactPurpose::Logistics,
                deadline,
                to(&none, &sent, -5)
            ),
            Verdict::Send
        );
        // A deadline inside the quiet: not worth holding.
        assert_eq!(
            rules.check(
                late,
                ContactPurpose::Logistics,
                late + 3_600_000,
                to(&none, &sent, 8)
            ),
            Verdict::Skip(HeldBack::QuietHours)
        );
    }
}
