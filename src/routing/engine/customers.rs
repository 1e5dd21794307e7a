//! The people behind conversations, as the tenant's systems and operators change
//! them: facts pushed, identifiers linked and unlinked, profiles merged and unmerged,
//! and a person's value explained by the tenant's formula.

use super::*;
use crate::customer::value::ValueFacts as FactTotals;
use std::collections::BTreeMap;

use crate::customer::{
    ConsentRecord, Fact, Health, MAX_CONSENT_SOURCE_BYTES, MergeId, MergeRecord, Profile,
    ProfileError, ValueExplanation,
};

/// Facts kept per call, so one request cannot fill a profile's memory at once.
pub const MAX_FACTS_PER_CALL: usize = 256;

/// A profile named by its id or by one of its verified identifiers.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum ProfileRef {
    /// By id.
    Id(ProfileId),
    /// By a verified identifier linked to it.
    Identity(Identity),
}

impl std::fmt::Display for ProfileRef {
    /// Names the profile without the identifier's value (personal data).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProfileRef::Id(id) => write!(f, "id {}", id.0),
            ProfileRef::Identity(identity) => {
                write!(f, "the {} identifier given", identity.kind().name())
            }
        }
    }
}

fn profile_error(e: ProfileError) -> RoutingError {
    match e {
        ProfileError::UnknownProfile(_) | ProfileError::UnknownMerge(_) => {
            RoutingError::ProfileNotFound(e.to_string())
        }
        ProfileError::AlreadyUndone(_)
        | ProfileError::SameProfile(_)
        | ProfileError::LinkedElsewhere { .. }
        | ProfileError::NotLinked { .. } => RoutingError::FailedPrecondition(e.to_string()),
        ProfileError::Full(_) => RoutingError::Exhausted(e.to_string()),
    }
}

/// Profiles re-assessed per timer tick by the pass that notices people going quiet
/// (health falls with time alone, over days): 64 per 100 ms tick covers a million
/// profiles in under half an hour, for tens of microseconds per tick.
pub(super) const HEALTH_PASS_PER_TICK: u64 = 64;

/// Past conversations shown with an offer.
const RECENT_SHOWN: usize = 3;

/// A person at risk of churning, as the index keeps them.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AtRisk {
    /// The profile.
    pub profile: ProfileId,
    /// Health, 0-100, when last assessed.
    pub health: f64,
    /// What losing them would cost, when last assessed (0 before any fact).
    pub loss_value: f64,
    /// When it was assessed.
    pub assessed_at: Millis,
}

/// The people below the churn threshold, and where the pass over every profile is.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct AtRiskIndex {
    by_profile: BTreeMap<ProfileId, AtRisk>,
    /// The next profile id the pass looks at.
    cursor: u64,
}

impl AtRiskIndex {
    /// Forgets an erased person.
    pub(super) fn forget(&mut self, profile: ProfileId) {
        self.by_profile.remove(&profile);
    }
}

impl Router {
    /// A person's health at `now`, from their history and facts; `None` while
    /// nothing is known of them (no past conversation, no fact). Without facts,
    /// purchases are unknown rather than absent, so use carries no weight.
    pub fn customer_health(&self, profile: ProfileId, now: Millis) -> Option<Health> {
        let p = self.profiles.get(profile)?;
        self.health_of(p, &p.value_facts(), now)
    }

    /// [`Router::customer_health`] with the person's fact totals already folded.
    fn health_of(&self, p: &Profile, totals: &FactTotals, now: Millis) -> Option<Health> {
        let has_facts = *totals != FactTotals::default();
        if !has_facts && p.history().contacts().next().is_none() {
            return None;
        }
        let mut model = self.policy.health;
        if !has_facts {
            model.use_weight = 0.0;
            if model.engagement_weight + model.satisfaction_weight <= 0.0 {
                return None;
            }
        }
        let inputs = p.history().health_inputs(now, p.last_order_at());
        Some(model.score(&inputs, now))
    }

    /// What an agent is shown of a person with an offer.
    pub(super) fn customer_summary(
        &self,
        profile: ProfileId,
        now: Millis,
    ) -> Option<CustomerSummary> {
        let p = self.profiles.get(profile)?;
        let health = self.customer_health(profile, now);
        Some(CustomerSummary {
            profile: p.id(),
            valued: self.customer_value_figures(profile, now),
            health: health.map(|h| (h.score, h.at_risk)),
            open_complaints: p.history().open_complaints(now),
            recent: p
                .history()
                .contacts()
                .rev()
                .take(RECENT_SHOWN)
                .cloned()
                .collect(),
        })
    }

    /// The people at risk of churning, the most costly to lose first; at most
    /// `limit`.
    pub fn at_risk_customers(&self, limit: usize) -> Vec<AtRisk> {
        let mut all: Vec<AtRisk> = self.at_risk.by_profile.values().copied().collect();
        all.sort_by(|a, b| {
            b.loss_value
                .total_cmp(&a.loss_value)
                .then(a.health.total_cmp(&b.health))
                .then(a.profile.cmp(&b.profile))
        });
        all.truncate(limit);
        all
    }

    /// Assesses a person's health again and keeps the at-risk index current; returns
    /// whether they are at risk.
    pub(super) fn reassess(&mut self, profile: ProfileId, now: Millis) -> bool {
        self.reassess_valued(profile, now).1
    }

    /// [`Router::reassess`], also returning the person's value and loss value (`None`
    /// before any fact), from one fold of their facts: a new conversation needs both.
    pub(super) fn reassess_valued(
        &mut self,
        profile: ProfileId,
        now: Millis,
    ) -> (Option<(f64, f64)>, bool) {
        let Some(p) = self.profiles.get(profile) else {
            self.at_risk.by_profile.remove(&profile);
            return (None, false);
        };
        let current = p.id();
        let totals = p.value_facts();
        let figures = (totals != FactTotals::default())
            .then(|| self.policy.value.value_and_loss(&totals, now));
        let health = self.health_of(p, &totals, now);
        if current != profile {
            // Merged into another: that profile speaks for the person now.
            self.at_risk.by_profile.remove(&profile);
        }
        let Some(health) = health.filter(|h| h.at_risk) else {
            self.at_risk.by_profile.remove(&current);
            return (figures, false);
        };
        let loss_value = figures.map_or(0.0, |(_, loss)| loss);
        if !self.at_risk.by_profile.contains_key(&current) {
            self.trigger_follow_ups(current, crate::outbound::TriggerEvent::AtRisk, now);
        }
        self.at_risk.by_profile.insert(
            current,
            AtRisk {
                profile: current,
                health: health.score,
                loss_value,
                assessed_at: now,
            },
        );
        (figures, true)
    }

    /// The tick's share of the pass over every profile.
    pub(super) fn health_pass(&mut self, now: Millis) {
        let last = self.profiles.last_id();
        if last == 0 {
            return;
        }
        // One look at open conversations per tick, for an idle profile retention
        // would erase.
        let mut scans = 1;
        for _ in 0..HEALTH_PASS_PER_TICK.min(last) {
            self.at_risk.cursor = if self.at_risk.cursor >= last {
                1
            } else {
                self.at_risk.cursor + 1
            };
            let id = ProfileId(self.at_risk.cursor);
            scans = self.retain_profile(id, now, scans);
            self.reassess(id, now);
        }
    }

    /// The profile `who` names, following merges.
    pub fn customer_profile(&self, who: &ProfileRef) -> Option<&Profile> {
        match who {
            ProfileRef::Id(id) => self.profiles.get(*id),
            ProfileRef::Identity(identity) => self.profiles.find(identity),
        }
    }

    fn profile_id(&self, who: &ProfileRef) -> Result<ProfileId, RoutingError> {
        self.customer_profile(who)
            .map(Profile::id)
            .ok_or_else(|| RoutingError::ProfileNotFound(format!("no profile for {who}")))
    }

    /// A person's value at `now` by the tenant's formula, term by term; `None` until
    /// the tenant's systems pushed a fact about them.
    pub fn customer_value(&self, profile: ProfileId, now: Millis) -> Option<ValueExplanation> {
        let facts = self.profiles.get(profile)?.value_facts();
        (facts != FactTotals::default()).then(|| self.policy.value.explain(&facts, now))
    }

    /// A person's value and loss value at `now`, without the terms; `None` until a
    /// fact was pushed about them.
    pub fn customer_value_figures(&self, profile: ProfileId, now: Millis) -> Option<(f64, f64)> {
        let facts = self.profiles.get(profile)?.value_facts();
        (facts != FactTotals::default()).then(|| self.policy.value.value_and_loss(&facts, now))
    }

    /// The name of the value tier `value` falls in.
    pub fn value_tier(&self, value: f64) -> Arc<str> {
        self.tier_names[self.policy.priority.tier_of(value)].clone()
    }

    /// The merges recorded, oldest first (undone ones included, with when and by whom).
    pub fn profile_merges(&self) -> impl Iterator<Item = &MergeRecord> + '_ {
        self.profiles.merges()
    }

    /// The tenant's systems push facts about a person: to the profile an identifier
    /// belongs to, or to a new profile with that identifier (the tenant's own systems
    /// vouch for it). Returns the profile.
    pub fn record_facts(
        &mut self,
        now: Millis,
        who: ProfileRef,
        facts: Vec<Fact>,
    ) -> Result<ProfileId, RoutingError> {
        if facts.is_empty() || facts.len() > MAX_FACTS_PER_CALL {
            return Err(RoutingError::InvalidArgument {
                field: "facts",
                reason: format!("1-{MAX_FACTS_PER_CALL} facts per call"),
            });
        }
        let profile = self.profile_for_record(now, who)?;
        let last_order = facts
            .iter()
            .filter(|f| f.kind == crate::customer::FactKind::Order)
            .map(|f| f.at)
            .max();
        for fact in facts {
            self.profiles
                .add_fact(profile, fact)
                .map_err(profile_error)?;
        }
        self.reassess(profile, now);
        if let Some(at) = last_order {
            self.trigger_follow_ups(profile, crate::outbound::TriggerEvent::Order, at);
        }
        Ok(profile)
    }

    /// The tenant's systems tag a person: on the profile an identifier belongs to, or
    /// on a new profile with that identifier. At most 32 tags in one call and on one
    /// person. Returns the profile.
    pub fn tag_customer(
        &mut self,
        now: Millis,
        who: ProfileRef,
        add: &[crate::customer::Tag],
        remove: &[crate::customer::Tag],
    ) -> Result<ProfileId, RoutingError> {
        let limit = crate::customer::tags::MAX_TAGS;
        if add.is_empty() && remove.is_empty() || add.len() > limit || remove.len() > limit {
            return Err(RoutingError::InvalidArgument {
                field: "add",
                reason: format!("1-{limit} tags to add or remove"),
            });
        }
        let profile = self.profile_for_record(now, who)?;
        self.profiles
            .change_tags(profile, add, remove)
            .map_err(profile_error)?;
        Ok(profile)
    }

    /// The tenant's systems record a customer's consent decision, on the profile an
    /// identifier belongs to or on a new one with it. A decision older than the one on
    /// record is kept for nobody: the newer stands.
    pub fn record_consent(
        &mut self,
        now: Millis,
        who: ProfileRef,
        decision: ConsentRecord,
    ) -> Result<ProfileId, RoutingError> {
        if decision.source.len() > MAX_CONSENT_SOURCE_BYTES {
            return Err(RoutingError::InvalidArgument {
                field: "source",
                reason: format!("at most {MAX_CONSENT_SOURCE_BYTES} bytes"),
            });
        }
        let profile = self.profile_for_record(now, who)?;
        let withdrawn = (!decision.granted).then_some(decision.purpose);
        self.profiles
            .record_consent(profile, decision)
            .map_err(profile_error)?;
        if let Some(purpose) = withdrawn {
            self.count_opt_out(purpose, super::consent::OptOutVia::Api);
        }
        Ok(profile)
    }

    /// The profile a record from the tenant's systems lands on: the one named, the
    /// one an identifier belongs to, or a new one with that identifier (the tenant's
    /// systems vouch for it, so it counts as verified).
    pub(super) fn profile_for_record(
        &mut self,
        now: Millis,
        who: ProfileRef,
    ) -> Result<ProfileId, RoutingError> {
        match who {
            ProfileRef::Id(_) => self.profile_id(&who),
            ProfileRef::Identity(identity) => match self.profiles.find(&identity) {
                Some(found) => Ok(found.id()),
                None => {
                    let claim = ClaimedIdentity {
                        identity,
                        verified: true,
                    };
                    Ok(self
                        .profiles
                        .resolve(now, &[claim])
                        .map_err(profile_error)?
                        .profile)
                }
            },
        }
    }

    /// An operator links a verified identifier to a profile.
    pub fn link_identifier(
        &mut self,
        now: Millis,
        profile: ProfileId,
        identity: Identity,
    ) -> Result<(), RoutingError> {
        self.profiles
            .link(now, profile, identity)
            .map_err(profile_error)
    }

    /// An operator takes an identifier off a profile.
    pub fn unlink_identifier(
        &mut self,
        profile: ProfileId,
        identity: &Identity,
    ) -> Result<(), RoutingError> {
        self.profiles
            .unlink(profile, identity)
            .map_err(profile_error)
    }

    /// An operator merges `from` into `into`; recorded with `by` for undoing.
    pub fn merge_profiles(
        &mut self,
        now: Millis,
        into: ProfileId,
        from: ProfileId,
        by: &str,
    ) -> Result<MergeId, RoutingError> {
        let merge = self
            .profiles
            .merge(now, into, from, by)
            .map_err(profile_error)?;
        self.reassess(from, now);
        self.reassess(into, now);
        Ok(merge)
    }

    /// An operator undoes a merge.
    pub fn unmerge_profiles(
        &mut self,
        now: Millis,
        merge: MergeId,
        by: &str,
    ) -> Result<(), RoutingError> {
        self.profiles
            .unmerge(now, merge, by)
            .map_err(profile_error)?;
        let undone = self
            .profiles
            .merges()
            .find(|m| m.id == merge)
            .map(|m| (m.into, m.from));
        if let Some((into, from)) = undone {
            self.reassess(into, now);
            self.reassess(from, now);
        }
        Ok(())
    }
}
