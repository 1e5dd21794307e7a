//! Campaigns: a walk over the tenant's profiles that sends one notification to each
//! person of a segment, at the campaign's pace, from its start time until its
//! deadline, pausing while the queue that takes the replies misses its service level
//! or has nobody signed in to serve it.

use super::*;
use crate::outbound::{
    Campaign, CampaignId, CampaignRequest, CampaignStatus, NotificationStatus, PauseReason,
    PersonFigures, Segment,
};

/// The states active campaigns are counted in, for gauges.
pub const CAMPAIGN_STATES: [&str; 5] = [
    "scheduled",
    "running",
    "paused_service_level",
    "paused_no_agents",
    "paused_outbox_full",
];

/// Profiles one campaign looks at per tick at most, so no tick holds the tenant for
/// a walk over every profile.
const SCAN_PER_TICK: u64 = 2_000;

impl Router {
    /// Accepts a campaign; it starts at its start time (at once when that has come).
    /// A second request with the same client id is the first campaign again.
    pub fn start_campaign(
        &mut self,
        now: Millis,
        request: CampaignRequest,
    ) -> Result<CampaignId, RoutingError> {
        if let Some(known) = request
            .client_id
            .as_deref()
            .and_then(|c| self.campaigns.by_client_id(c))
        {
            return Ok(known);
        }
        if request.deadline <= now.max(request.start_at) {
            return Err(RoutingError::InvalidArgument {
                field: "deadline",
                reason: "must be after the start".into(),
            });
        }
        if request.queue >= self.queue_names.len() {
            return Err(RoutingError::InvalidArgument {
                field: "queue",
                reason: "not a configured queue".into(),
            });
        }
        if let Some(&tier) = request
            .segment
            .tiers
            .iter()
            .find(|&&t| t >= self.tier_names.len())
        {
            return Err(RoutingError::InvalidArgument {
                field: "segment.tiers",
                reason: format!("tier {tier} is not configured"),
            });
        }
        let id = self.campaigns.insert(now, request).map_err(|e| {
            RoutingError::Exhausted(format!(
                "tenant has {} active campaigns, the most it may run at once",
                e.0
            ))
        })?;
        self.campaign_step(now, id);
        Ok(id)
    }

    /// An operator stops a campaign: nothing more is sent for it (what was sent
    /// stays).
    pub fn stop_campaign(&mut self, now: Millis, id: CampaignId) -> Result<(), RoutingError> {
        let c = self
            .campaigns
            .get_mut(id)
            .ok_or_else(|| RoutingError::NotFound(format!("campaign_id: {} is not known", id.0)))?;
        if !c.status.is_active() {
            return Err(RoutingError::FailedPrecondition(format!(
                "campaign {} is {} already",
                id.0,
                c.status.name()
            )));
        }
        c.set_status(now, CampaignStatus::Stopped);
        Ok(())
    }

    /// A campaign by id.
    pub fn campaign(&self, id: CampaignId) -> Option<&Campaign> {
        self.campaigns.get(id)
    }

    /// Every campaign kept, oldest first.
    pub fn campaign_list(&self) -> impl Iterator<Item = &Campaign> + '_ {
        self.campaigns.iter()
    }

    /// The share of `queue`'s conversations accepted within the service-level time
    /// over the last 15 minutes; `None` with too few to tell.
    pub fn queue_service_level(&self, queue: usize, now: Millis) -> Option<f64> {
        self.service_levels.share(queue, now)
    }

    /// Profiles the tenant holds now (merged ones included).
    pub fn profiles_len(&self) -> usize {
        self.profiles.len()
    }

    /// Whether a campaign will still send (the tick has work).
    pub fn has_active_campaigns(&self) -> bool {
        !self.campaigns.none_active()
    }

    /// Moves every active campaign on; from [`Router::tick`].
    pub(super) fn campaign_timers(&mut self, now: Millis) {
        if self.campaigns.none_active() {
            return;
        }
        for id in self.campaigns.active() {
            self.campaign_step(now, id);
        }
    }

    /// A conversation of `queue` was accepted after `waited_ms`: counted for the
    /// queue's recent service level.
    pub(super) fn record_answer(&mut self, queue: usize, now: Millis, waited_ms: u64) {
        let within = waited_ms <= u64::from(self.policy.outbound.service_level_secs) * 1000;
        self.service_levels.record(queue, now, within);
    }

    /// The waiting profile of what `queue`'s replies need (its skills, messaging).
    fn reply_profile(&mut self, queue: usize) -> Option<ProfileIndex> {
        let skills = self.queue_skills[queue].clone();
        self.requirement_profile(&skills, ChannelClass::Messaging)
            .ok()
            .map(|(p, _)| p)
    }

    /// Agents free now to take a reply to a campaign of `queue`.
    fn free_agents_for(&mut self, queue: usize) -> u32 {
        let Some(p) = self.reply_profile(queue) else {
            return 0;
        };
        let profile = self.waiting.profile(p);
        self.agents
            .free_to_serve(&profile.required, &profile.skills, profile.class)
    }

    /// Why the campaign's queue cannot take replies now, if it cannot.
    fn pause_reason(&mut self, queue: usize, now: Millis) -> Option<PauseReason> {
        if self.outbox.is_full() {
            return Some(PauseReason::OutboxFull);
        }
        let servable = self.reply_profile(queue).is_some_and(|p| {
            let profile = self.waiting.profile(p);
            self.agents
                .can_serve(&profile.required, &profile.skills, profile.class)
        });
        if !servable {
            return Some(PauseReason::NoAgents);
        }
        let target = self.policy.outbound.pause_below_service_level;
        match self.service_levels.share(queue, now) {
            Some(share) if share < target => Some(PauseReason::ServiceLevel),
            _ => None,
        }
    }

    /// What the segment reads of one person.
    fn person_figures(&self, profile: ProfileId, now: Millis, segment: &Segment) -> PersonFigures {
        let p = self.profiles.get(profile);
        PersonFigures {
            tier: (!segment.tiers.is_empty())
                .then(|| self.customer_value_figures(profile, now))
                .flatten()
                .map(|(value, _)| self.policy.priority.tier_of(value)),
            health: segment
                .health_below
                .and_then(|_| self.customer_health(profile, now))
                .map(|h| h.score),
            last_order_at: p.and_then(|p| p.last_order_at()),
            last_contact_at: p.and_then(|p| p.history().contacts().map(|c| c.started_at).max()),
            tagged: segment
                .tags
                .iter()
                .all(|t| p.is_some_and(|p| p.tags().has(t))),
        }
    }

    /// Sends what the pace allows of one campaign now, or pauses, expires or ends it.
    fn campaign_step(&mut self, now: Millis, id: CampaignId) {
        let Some(c) = self.campaigns.get(id) else {
            return;
        };
        if !c.status.is_active() || now < c.start_at {
            return;
        }
        if now >= c.deadline {
            let c = self.campaigns.get_mut(id).expect("looked up");
            c.set_status(now, CampaignStatus::Expired);
            return;
        }
        let queue = c.queue;
        if let Some(reason) = self.pause_reason(queue, now) {
            let c = self.campaigns.get_mut(id).expect("looked up");
            c.set_status(now, CampaignStatus::Paused(reason));
            c.budget_milli = 0;
            return;
        }
        let c = self.campaigns.get_mut(id).expect("looked up");
        if matches!(c.status, CampaignStatus::Paused(_)) {
            // Nothing is earned while paused: no burst when it resumes.
            c.budget_at = now;
        }
        c.set_status(now, CampaignStatus::Running);
        let bound_by_agents = c.per_free_agent_per_minute > 0;
        let free_agents = if bound_by_agents {
            self.free_agents_for(queue)
        } else {
            0
        };
        let c = self.campaigns.get_mut(id).expect("looked up");
        let pace = c.pace_with(free_agents);
        let allowed = c.earn(now, pace);
        if allowed == 0 {
            return;
        }
        let (segment, notice, mut cursor) = (c.segment.clone(), c.notice(), c.cursor);
        let last = self.profiles.last_id();
        let (mut scanned, mut made, mut skipped) = (0, 0, 0);
        // A full outbox stops the walk where it is; it goes on once settled
        // notifications make room.
        while made < allowed && scanned < SCAN_PER_TICK && cursor <= last && !self.outbox.is_full()
        {
            let profile = ProfileId(cursor);
            cursor += 1;
            scanned += 1;
            // Merged-away ids are looked at under the profile they stand for now.
            let current = self.profiles.get(profile).map(|p| p.id());
            if current != Some(profile)
                || !segment.matches(now, self.person_figures(profile, now, &segment))
            {
                continue;
            }
            let Ok(notification) = self.outbox.insert(now, profile, notice.clone(), Some(id))
            else {
                break;
            };
            made += 1;
            self.try_notification(now, notification);
            if matches!(
                self.outbox.get(notification).map(|n| n.status),
                Some(NotificationStatus::Skipped(_))
            ) {
                skipped += 1;
            }
        }
        let c = self.campaigns.get_mut(id).expect("looked up");
        c.cursor = cursor;
        c.spend(made);
        c.counts.scanned += scanned;
        c.counts.matched += made;
        c.counts.skipped += skipped;
        c.counts.sent += made - skipped;
        if cursor > last {
            c.set_status(now, CampaignStatus::Done);
        }
    }

    /// A reply answered a notification of `campaign`.
    pub(super) fn campaign_replied(&mut self, campaign: CampaignId) {
        if let Some(c) = self.campaigns.get_mut(campaign) {
            c.counts.replied += 1;
        }
    }

    /// Active campaigns by state ([`CAMPAIGN_STATES`]), for gauges.
    pub fn campaign_states(&self) -> Vec<(&'static str, usize)> {
        let mut counts: Vec<(&'static str, usize)> = Vec::new();
        for c in self.campaigns.iter().filter(|c| c.status.is_active()) {
            let name = match c.status {
                CampaignStatus::Paused(PauseReason::ServiceLevel) => "paused_service_level",
                CampaignStatus::Paused(PauseReason::NoAgents) => "paused_no_agents",
                CampaignStatus::Paused(PauseReason::OutboxFull) => "paused_outbox_full",
                other => other.name(),
            };
            match counts.iter_mut().find(|(n, _)| *n == name) {
                Some((_, k)) => *k += 1,
                None => counts.push((name, 1)),
            }
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::customer::{ConsentRecord, Fact, FactKind};
    use crate::outbound::Segment;

    const DAY: Millis = 24 * 3_600_000;
    /// Noon UTC, outside the default quiet hours (UTC+8: 20:00).
    const NOON: Millis = 20_000 * DAY + 12 * 3_600_000 - 8 * 3_600_000;

    fn router() -> Router {
        let mut policy = RoutingPolicy::default();
        policy.outbound.rules.quiet_hours = None;
        Router::new(policy).unwrap()
    }

    fn agent(id: &str) -> SignIn {
        SignIn {
            agent_id: id.to_owned(),
            display_name: id.to_owned(),
            skills: Vec::new(),
            capacity: PerClass([2, 0, 0]),
            presence: Presence::Available,
        }
    }

    fn sms_customer(r: &mut Router, n: u32, opted_in: bool, spent: f64) -> ProfileId {
        let identity = Identity::new(
            IdentityKind::Channel(Channel::Sms),
            &format!("+86138000000{n:02}"),
        )
        .unwrap();
        let who = ProfileRef::Identity(identity);
        let profile = r.profile_for_record(NOON - DAY, who).unwrap();
        if spent > 0.0 {
            let order = Fact {
                kind: FactKind::Order,
                amount: spent,
                at: NOON - 90 * DAY,
            };
            r.record_facts(NOON - DAY, ProfileRef::Id(profile), vec![order])
                .unwrap();
        }
        if opted_in {
            let decision = ConsentRecord {
                purpose: ContactPurpose::Marketing,
                granted: true,
                at: NOON - DAY,
                source: "test".into(),
                origin: profile,
            };
            r.record_consent(NOON - DAY, ProfileRef::Id(profile), decision)
                .unwrap();
        }
        profile
    }

    fn campaign(segment: Segment, per_minute: u32) -> CampaignRequest {
        CampaignRequest {
            name: "win-back".into(),
            purpose: ContactPurpose::Marketing,
            template: "offer".into(),
            text: "We miss you: 20% off".into(),
            buttons: Vec::new(),
            preferred_channel: None,
            segment,
            start_at: NOON,
            deadline: NOON + 7 * DAY,
            per_minute,
            per_free_agent_per_minute: 0,
            queue: 0,
            client_id: None,
        }
    }

    /// A first SMS message through adapter `sms-1`.
    fn sms_message(conversation: &str, customer: &str) -> InboundMessage {
        InboundMessage {
            adapter: Arc::from("sms-1"),
            channel: Channel::Sms,
            channel_conversation_id: conversation.into(),
            customer_id: customer.into(),
            display_name: String::new(),
            value: crate::routing::ValueFacts::default(),
            text: "hi".into(),
            language: "en".into(),
            client_message_id: None,
            queue: None,
            required_skills: Vec::new(),
            boosts: Boosts::default(),
            identities: Vec::new(),
        }
    }

    /// An SMS adapter learned from one customer message, answered and closed.
    fn learn_sms(r: &mut Router) {
        r.customer_message(NOON - DAY, sms_message("teach", "teacher"))
            .unwrap();
        r.abandon(NOON - DAY, Channel::Sms, "teach", "teacher")
            .unwrap();
    }

    #[test]
    fn a_campaign_sends_to_its_segment_at_its_pace_and_pauses_without_agents() {
        let mut r = router();
        learn_sms(&mut r);
        let people: Vec<ProfileId> = (0..6)
            .map(|n| sms_customer(&mut r, n, n != 3, if n < 5 { 2_000.0 } else { 0.0 }))
            .collect();
        // Everyone valued (silver and above), lapsed for 30 days, at 60 a minute.
        let lapsed = Segment {
            tiers: vec![1, 2, 3],
            no_purchase_days: Some(30),
            ..Segment::default()
        };
        let id = r
            .start_campaign(NOON - 1_000, campaign(lapsed, 60))
            .unwrap();
        assert_eq!(r.campaign(id).unwrap().status, CampaignStatus::Scheduled);
        r.tick(NOON);
        assert_eq!(
            r.campaign(id).unwrap().status,
            CampaignStatus::Paused(PauseReason::NoAgents),
            "nobody could answer the replies"
        );
        r.sign_in(NOON, agent("ann")).unwrap();
        r.tick(NOON + 1_000);
        assert_eq!(r.campaign(id).unwrap().status, CampaignStatus::Running);
        assert_eq!(
            r.campaign(id).unwrap().counts.matched,
            0,
            "nothing earned while paused"
        );
        r.tick(NOON + 3_000);
        let c = r.campaign(id).unwrap();
        assert_eq!(c.counts.matched, 2, "one a second");
        r.tick(NOON + 10_000);
        let c = r.campaign(id).unwrap();
        assert_eq!(c.status, CampaignStatus::Done);
        // Five valued people; the unvalued sixth is not in the segment; the fourth
        // never opted in to marketing.
        assert_eq!(
            (c.counts.matched, c.counts.sent, c.counts.skipped),
            (5, 4, 1)
        );
        assert_eq!(c.counts.pauses, 1);
        let sent: Vec<ProfileId> = (1..=10)
            .filter_map(|n| r.notification(crate::outbound::NotificationId(n)))
            .filter(|n| matches!(n.status, NotificationStatus::Sent { .. }))
            .map(|n| n.profile)
            .collect();
        assert_eq!(sent, [people[0], people[1], people[2], people[4]]);
    }

    #[test]
    fn a_queue_missing_its_service_level_pauses_the_campaign_until_it_recovers() {
        let mut r = router();
        learn_sms(&mut r);
        for n in 0..3 {
            sms_customer(&mut r, n, true, 0.0);
        }
        r.sign_in(NOON, agent("ann")).unwrap();
        for _ in 0..10 {
            r.record_answer(0, NOON, 120_000);
        }
        let id = r
            .start_campaign(NOON, campaign(Segment::default(), 600))
            .unwrap();
        assert_eq!(
            r.campaign(id).unwrap().status,
            CampaignStatus::Paused(PauseReason::ServiceLevel)
        );
        // Forty prompt answers: 40 of 50 within the time is the 80% target.
        for _ in 0..40 {
            r.record_answer(0, NOON + 1_000, 5_000);
        }
        r.tick(NOON + 2_000);
        assert_eq!(r.campaign(id).unwrap().status, CampaignStatus::Running);
        assert_eq!(r.campaign(id).unwrap().counts.matched, 0);
        r.tick(NOON + 3_000);
        let c = r.campaign(id).unwrap();
        assert_eq!((c.counts.sent, c.status), (3, CampaignStatus::Done));
        assert!(matches!(
            r.stop_campaign(NOON + 4_000, id),
            Err(RoutingError::FailedPrecondition(_))
        ));
    }

    #[test]
    fn a_campaign_bound_per_free_agent_sends_only_while_someone_is_free() {
        let mut r = router();
        learn_sms(&mut r);
        for n in 0..20 {
            sms_customer(&mut r, n, true, 0.0);
        }
        // Two agents signed in; 30 a minute for each one free, 600 at most.
        r.sign_in(NOON, agent("ann")).unwrap();
        r.sign_in(NOON, agent("bob")).unwrap();
        let request = CampaignRequest {
            per_free_agent_per_minute: 30,
            ..campaign(Segment::default(), 600)
        };
        let id = r.start_campaign(NOON, request).unwrap();
        r.tick(NOON + 10_000);
        let c = r.campaign(id).unwrap();
        assert_eq!(c.pace.free_agents, 2);
        assert_eq!(c.pace.per_minute, 60);
        assert_eq!(c.counts.matched, 10, "60 a minute for ten seconds");
        // Bob goes on a break and two customers fill ann's capacity: someone can
        // serve the queue (no pause), but nobody is free, so nothing is earned.
        r.set_presence(NOON + 10_000, "bob", Presence::Away)
            .unwrap();
        for n in 0..2 {
            let busy = format!("busy-{n}");
            r.customer_message(NOON + 10_000, sms_message(&busy, &busy))
                .unwrap();
        }
        let offered: Vec<ConversationId> = r
            .drain()
            .1
            .into_iter()
            .filter_map(|n| match n {
                Notice::ToAgent {
                    notice: AgentNotice::Offer(details),
                    ..
                } => Some(details.conversation),
                _ => None,
            })
            .collect();
        assert_eq!(offered.len(), 2, "ann, the only one available, has both");
        r.tick(NOON + 20_000);
        let c = r.campaign(id).unwrap();
        assert_eq!(c.status, CampaignStatus::Running);
        assert_eq!((c.pace.free_agents, c.pace.per_minute), (0, 0));
        assert_eq!(c.counts.matched, 10, "nothing sent while nobody is free");
        // Bob is back: 30 a minute again.
        r.set_presence(NOON + 20_000, "bob", Presence::Available)
            .unwrap();
        r.tick(NOON + 30_000);
        let c = r.campaign(id).unwrap();
        assert_eq!((c.pace.free_agents, c.pace.per_minute), (1, 30));
        assert_eq!(c.counts.matched, 15);
    }
}
