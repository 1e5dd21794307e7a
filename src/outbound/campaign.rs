//! Campaigns: one notification for every person of a segment (value tier, health
//! below a threshold, no purchase or no contact for so many days, tags), sent at a pace,
//! from a start time, pausing while the queue that takes the replies misses its
//! service level or has nobody to serve it.
//!
//! Plain data; the router walks the profiles and sends (`routing::engine::campaigns`).
//! The walk goes over profile ids in order, a bounded number per tick, so the
//! audience is the people the segment matches when the walk reaches them, and no
//! tick looks at every profile at once.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use super::notification::NotificationRequest;
use crate::customer::ContactPurpose;
use crate::routing::{Button, Channel, Millis};

/// A campaign's id, unique within its tenant and never reused.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct CampaignId(pub u64);

impl fmt::Display for CampaignId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "k{}", self.0)
    }
}

/// Who a campaign is for; every condition given must hold.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Segment {
    /// Value tiers by index (from the tenant's tiers); empty for any.
    pub tiers: Vec<usize>,
    /// Only people whose health score is below this (0-100); `None` for any.
    pub health_below: Option<f64>,
    /// Only people with no order fact for this many days (or none at all).
    pub no_purchase_days: Option<u32>,
    /// Only people with no conversation for this many days (or none at all).
    pub no_contact_days: Option<u32>,
    /// Only people with every one of these tags; empty for any.
    #[serde(default)]
    pub tags: Vec<crate::customer::Tag>,
}

/// A campaign as the tenant's systems asked for it, its text filled in.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CampaignRequest {
    /// A name for people.
    pub name: String,
    /// What its notifications are for.
    pub purpose: ContactPurpose,
    /// The template they are filled from.
    pub template: String,
    /// The text.
    pub text: String,
    /// Quick-reply buttons.
    pub buttons: Vec<Button>,
    /// The channel to try first.
    pub preferred_channel: Option<Channel>,
    /// Who.
    pub segment: Segment,
    /// When it starts (Unix milliseconds).
    pub start_at: Millis,
    /// When it ends: what is not sent by then is not sent, and each notification is
    /// pointless after it.
    pub deadline: Millis,
    /// Most notifications per minute.
    pub per_minute: u32,
    /// Most notifications per minute for each agent free to serve the queue; 0 for
    /// no such bound.
    pub per_free_agent_per_minute: u32,
    /// The queue (by index) whose service level and agents pace it.
    pub queue: usize,
    /// The sender's own id: the same id again is the same campaign.
    pub client_id: Option<String>,
}

/// Where a campaign stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CampaignStatus {
    /// Before its start time.
    Scheduled,
    /// Sending.
    Running,
    /// Not sending until the reason clears.
    Paused(PauseReason),
    /// Every profile was looked at.
    Done,
    /// Its deadline came first.
    Expired,
    /// An operator stopped it.
    Stopped,
}

impl CampaignStatus {
    /// Stable name, for the contract and metrics.
    pub fn name(self) -> &'static str {
        match self {
            CampaignStatus::Scheduled => "scheduled",
            CampaignStatus::Running => "running",
            CampaignStatus::Paused(_) => "paused",
            CampaignStatus::Done => "done",
            CampaignStatus::Expired => "expired",
            CampaignStatus::Stopped => "stopped",
        }
    }

    /// Whether it will still send.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            CampaignStatus::Scheduled | CampaignStatus::Running | CampaignStatus::Paused(_)
        )
    }

    /// Every status name, for metrics.
    pub const NAMES: [&'static str; 6] = [
        "scheduled",
        "running",
        "paused",
        "done",
        "expired",
        "stopped",
    ];
}

/// Why a campaign does not send now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PauseReason {
    /// Its queue answers fewer than the target share within the service-level time.
    ServiceLevel,
    /// No agent who takes offers can serve its queue: replies would only wait.
    NoAgents,
    /// The tenant keeps as many pending notifications as it may.
    OutboxFull,
}

impl PauseReason {
    /// Stable name, for the contract and metrics.
    pub fn name(self) -> &'static str {
        match self {
            PauseReason::ServiceLevel => "service_level",
            PauseReason::NoAgents => "no_agents",
            PauseReason::OutboxFull => "outbox_full",
        }
    }
}

/// What a campaign did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CampaignCounts {
    /// Profiles looked at.
    pub scanned: u64,
    /// Of those, in the segment: a notification was made for each.
    pub matched: u64,
    /// Notifications sent (or queued for quiet hours or an adapter) at once.
    pub sent: u64,
    /// Held back by a rule (consent, caps, open complaint, quiet hours).
    pub skipped: u64,
    /// Answered by the customer.
    pub replied: u64,
    /// Times it paused.
    pub pauses: u64,
}

/// One campaign.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Campaign {
    /// Its id.
    pub id: CampaignId,
    /// A name for people.
    pub name: Arc<str>,
    /// What its notifications are for.
    pub purpose: ContactPurpose,
    /// The template.
    pub template: Arc<str>,
    /// The text.
    pub text: Arc<str>,
    /// Buttons.
    pub buttons: Vec<Button>,
    /// The channel to try first.
    pub preferred_channel: Option<Channel>,
    /// Who.
    pub segment: Segment,
    /// When it starts.
    pub start_at: Millis,
    /// When it ends.
    pub deadline: Millis,
    /// Most notifications per minute.
    pub per_minute: u32,
    /// Most notifications per minute for each agent free to serve the queue; 0 for
    /// no such bound.
    pub per_free_agent_per_minute: u32,
    /// Agents free to serve the queue at the last step, and the pace then in force.
    pub pace: Pace,
    /// The queue that paces it.
    pub queue: usize,
    /// The sender's own id.
    pub client_id: Option<Box<str>>,
    /// When it was accepted.
    pub created_at: Millis,
    /// Where it stands.
    pub status: CampaignStatus,
    /// When the status last changed.
    pub status_at: Millis,
    /// The next profile id to look at.
    pub cursor: u64,
    /// Sends earned by the pace and not used yet, in thousandths of a send.
    pub budget_milli: u64,
    /// When the budget was last topped up.
    pub budget_at: Millis,
    /// What it did so far.
    pub counts: CampaignCounts,
}

/// The pace a campaign sent at when it last stepped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pace {
    /// Agents free to serve its queue then (counted only when the campaign is bound
    /// by them).
    pub free_agents: u32,
    /// Notifications per minute in force then.
    pub per_minute: u32,
}

/// Why a campaign was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyCampaigns(pub usize);

/// A tenant's campaigns, active and finished; at most `limit` active at once, and
/// finished ones forgotten oldest first beyond `limit` kept in all.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Campaigns {
    campaigns: BTreeMap<CampaignId, Campaign>,
    next_id: u64,
    limit: usize,
}

impl Default for Campaigns {
    fn default() -> Self {
        Campaigns {
            campaigns: BTreeMap::new(),
            next_id: 1,
            limit: 100,
        }
    }
}

impl Campaigns {
    /// The campaign with the sender's own id.
    pub fn by_client_id(&self, client_id: &str) -> Option<CampaignId> {
        self.campaigns
            .values()
            .find(|c| c.client_id.as_deref() == Some(client_id))
            .map(|c| c.id)
    }

    /// Accepts a campaign, scheduled for its start time.
    pub fn insert(
        &mut self,
        now: Millis,
        request: CampaignRequest,
    ) -> Result<CampaignId, TooManyCampaigns> {
        let active = self
            .campaigns
            .values()
            .filter(|c| c.status.is_active())
            .count();
        if active >= self.limit {
            return Err(TooManyCampaigns(active));
        }
        if self.campaigns.len() >= self.limit
            && let Some(oldest) = self
                .campaigns
                .values()
                .find(|c| !c.status.is_active())
                .map(|c| c.id)
        {
            self.campaigns.remove(&oldest);
        }
        let id = CampaignId(self.next_id);
        self.next_id += 1;
        let start_at = request.start_at.max(now);
        self.campaigns.insert(
            id,
            Campaign {
                id,
                name: Arc::from(request.name),
                purpose: request.purpose,
                template: Arc::from(request.template),
                text: Arc::from(request.text),
                buttons: request.buttons,
                preferred_channel: request.preferred_channel,
                segment: request.segment,
                start_at,
                deadline: request.deadline,
                per_minute: request.per_minute.max(1),
                per_free_agent_per_minute: request.per_free_agent_per_minute,
                pace: Pace {
                    free_agents: 0,
                    per_minute: request.per_minute.max(1),
                },
                queue: request.queue,
                client_id: request.client_id.map(String::into_boxed_str),
                created_at: now,
                status: CampaignStatus::Scheduled,
                status_at: now,
                cursor: 1,
                budget_milli: 0,
                budget_at: start_at,
                counts: CampaignCounts::default(),
            },
        );
        Ok(id)
    }

    /// A campaign.
    pub fn get(&self, id: CampaignId) -> Option<&Campaign> {
        self.campaigns.get(&id)
    }

    /// A campaign, to change.
    pub fn get_mut(&mut self, id: CampaignId) -> Option<&mut Campaign> {
        self.campaigns.get_mut(&id)
    }

    /// The active campaigns' ids, oldest first.
    pub fn active(&self) -> Vec<CampaignId> {
        self.campaigns
            .values()
            .filter(|c| c.status.is_active())
            .map(|c| c.id)
            .collect()
    }

    /// Every campaign kept, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Campaign> + '_ {
        self.campaigns.values()
    }

    /// Whether none is active.
    pub fn none_active(&self) -> bool {
        !self.campaigns.values().any(|c| c.status.is_active())
    }
}

impl Campaign {
    /// The notification it sends each person (its text shared, not copied).
    pub fn notice(&self) -> NotificationRequest {
        NotificationRequest {
            purpose: self.purpose,
            template: self.template.clone(),
            text: self.text.clone(),
            buttons: self.buttons.clone(),
            preferred_channel: self.preferred_channel,
            deadline: self.deadline,
            client_id: None,
        }
    }

    /// The pace with `free_agents` free to serve its queue: `per_minute`, or less
    /// when it is bound per free agent.
    pub fn pace_with(&self, free_agents: u32) -> Pace {
        let per_minute = match self.per_free_agent_per_minute {
            0 => self.per_minute,
            each => self.per_minute.min(each.saturating_mul(free_agents)),
        };
        Pace {
            free_agents,
            per_minute,
        }
    }

    /// Tops up the send budget at `pace` for the time since it was last topped up,
    /// and returns the whole sends it allows now. The budget never holds more than a
    /// minute's worth, so a long pause is not followed by a burst.
    pub fn earn(&mut self, now: Millis, pace: Pace) -> u64 {
        self.pace = pace;
        let elapsed = now.saturating_sub(self.budget_at);
        self.budget_at = now.max(self.budget_at);
        let per_minute = u64::from(pace.per_minute);
        self.budget_milli = (self.budget_milli + elapsed * per_minute / 60).min(per_minute * 1000);
        self.budget_milli / 1000
    }

    /// Spends `sends` of the budget.
    pub fn spend(&mut self, sends: u64) {
        self.budget_milli = self.budget_milli.saturating_sub(sends * 1000);
    }

    /// Changes the status at `now`, counting a pause that starts.
    pub fn set_status(&mut self, now: Millis, status: CampaignStatus) {
        if self.status == status {
            return;
        }
        if matches!(status, CampaignStatus::Paused(_))
            && !matches!(self.status, CampaignStatus::Paused(_))
        {
            self.counts.pauses += 1;
        }
        self.status = status;
        self.status_at = now;
    }
}

/// Whether a person's figures put them in the segment.
#[derive(Debug, Clone, Copy)]
pub struct PersonFigures {
    /// Their value tier, if valued.
    pub tier: Option<usize>,
    /// Their health score, if scored.
    pub health: Option<f64>,
    /// Their last order fact.
    pub last_order_at: Option<Millis>,
    /// Their last conversation's start.
    pub last_contact_at: Option<Millis>,
    /// Whether they have every tag the segment asks for.
    pub tagged: bool,
}

const DAY_MS: u64 = 24 * 3_600_000;

impl Segment {
    /// Whether a person with these figures at `now` is in it.
    pub fn matches(&self, now: Millis, person: PersonFigures) -> bool {
        let quiet_for = |last: Option<Millis>, days: Option<u32>| match days {
            None => true,
            Some(days) => last.is_none_or(|at| at + u64::from(days) * DAY_MS <= now),
        };
        (self.tiers.is_empty() || person.tier.is_some_and(|t| self.tiers.contains(&t)))
            && self
                .health_below
                .is_none_or(|limit| person.health.is_some_and(|h| h < limit))
            && quiet_for(person.last_order_at, self.no_purchase_days)
            && quiet_for(person.last_contact_at, self.no_contact_days)
            && person.tagged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> CampaignRequest {
        CampaignRequest {
            name: "win-back".into(),
            purpose: ContactPurpose::Marketing,
            template: "offer".into(),
            text: "20% off".into(),
            buttons: Vec::new(),
            preferred_channel: None,
            segment: Segment::default(),
            start_at: 0,
            deadline: 10 * DAY_MS,
            per_minute: 60,
            per_free_agent_per_minute: 0,
            queue: 0,
            client_id: None,
        }
    }

    #[test]
    fn the_pace_earns_sends_with_time_and_holds_at_most_a_minute() {
        let mut campaigns = Campaigns::default();
        let id = campaigns.insert(1_000, request()).unwrap();
        let c = campaigns.get_mut(id).unwrap();
        let pace = c.pace_with(0);
        assert_eq!(pace.per_minute, 60, "not bound by free agents");
        assert_eq!(c.earn(1_000, pace), 0);
        assert_eq!(c.earn(3_500, pace), 2, "one a second");
        c.spend(2);
        assert_eq!(c.earn(4_000, pace), 1, "the half second carried over");
        assert_eq!(c.earn(1_000_000, pace), 60, "a minute's worth at most");
    }

    #[test]
    fn a_pace_per_free_agent_follows_who_is_free_up_to_the_campaigns_own() {
        let mut campaigns = Campaigns::default();
        let request = CampaignRequest {
            per_free_agent_per_minute: 6,
            ..request()
        };
        let id = campaigns.insert(0, request).unwrap();
        let c = campaigns.get_mut(id).unwrap();
        assert_eq!(c.pace_with(0).per_minute, 0, "nobody free: nothing goes");
        assert_eq!(c.pace_with(3).per_minute, 18);
        assert_eq!(c.pace_with(50).per_minute, 60, "never past per_minute");
        // Ten seconds with nobody free earn nothing, and a budget earned at a
        // higher pace is cut to a minute of the lower one.
        assert_eq!(c.earn(10_000, c.pace_with(0)), 0);
        assert_eq!(c.earn(70_000, c.pace_with(10)), 60);
        assert_eq!(c.earn(70_000, c.pace_with(1)), 6);
        assert_eq!(c.pace.free_agents, 1);
    }

    #[test]
    fn segments_need_every_condition_given() {
        let now = 100 * DAY_MS;
        let person = PersonFigures {
            tier: Some(2),
            health: Some(35.0),
            last_order_at: Some(now - 40 * DAY_MS),
            last_contact_at: None,
            tagged: true,
        };
        let lapsed_gold = Segment {
            tiers: vec![2, 3],
            health_below: Some(40.0),
            no_purchase_days: Some(30),
            no_contact_days: Some(30),
            tags: vec![crate::customer::Tag::new("vip").unwrap()],
        };
        assert!(lapsed_gold.matches(now, person));
        let untagged = PersonFigures {
            tagged: false,
            ..person
        };
        assert!(!lapsed_gold.matches(now, untagged));
        let recent = PersonFigures {
            last_order_at: Some(now - DAY_MS),
            ..person
        };
        assert!(!lapsed_gold.matches(now, recent));
        let unscored = PersonFigures {
            health: None,
            ..person
        };
        assert!(!lapsed_gold.matches(now, unscored));
        assert!(
            Segment::default().matches(now, unscored),
            "no condition: everyone"
        );
    }

    #[test]
    fn active_campaigns_are_bounded_and_finished_ones_make_room() {
        let mut campaigns = Campaigns {
            limit: 2,
            ..Campaigns::default()
        };
        let a = campaigns.insert(0, request()).unwrap();
        campaigns.insert(0, request()).unwrap();
        assert_eq!(campaigns.insert(0, request()), Err(TooManyCampaigns(2)));
        campaigns
            .get_mut(a)
            .unwrap()
            .set_status(1, CampaignStatus::Done);
        let c = campaigns.insert(2, request()).unwrap();
        assert!(campaigns.get(a).is_none());
        assert_eq!(c, CampaignId(3));
    }
}
