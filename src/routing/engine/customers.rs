//! The people behind conversations, as the tenant's systems and operators change
//! them: facts pushed, identifiers linked and unlinked, profiles merged and unmerged,
//! and a person's value explained by the tenant's formula.

use super::*;
use crate::customer::value::ValueFacts as FactTotals;
use crate::customer::{Fact, MergeId, MergeRecord, Profile, ProfileError, ValueExplanation};

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

impl Router {
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
            .ok_or_else(|| RoutingError::ProfileNotFound(format!("no profile for {who:?}")))
    }

    /// A person's value at `now` by the tenant's formula, term by term; `None` until
    /// the tenant's systems pushed a fact about them.
    pub fn customer_value(&self, profile: ProfileId, now: Millis) -> Option<ValueExplanation> {
        let facts = self.profiles.get(profile)?.value_facts();
        (facts != FactTotals::default()).then(|| self.policy.value.explain(&facts, now))
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
        let profile = match who {
            ProfileRef::Id(_) => self.profile_id(&who)?,
            ProfileRef::Identity(identity) => match self.profiles.find(&identity) {
                Some(found) => found.id(),
                None => {
                    let claim = ClaimedIdentity {
                        identity,
                        verified: true,
                    };
                    self.profiles
                        .resolve(now, &[claim])
                        .map_err(profile_error)?
                        .profile
                }
            },
        };
        for fact in facts {
            self.profiles
                .add_fact(profile, fact)
                .map_err(profile_error)?;
        }
        Ok(profile)
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
        self.profiles
            .merge(now, into, from, by)
            .map_err(profile_error)
    }

    /// An operator undoes a merge.
    pub fn unmerge_profiles(
        &mut self,
        now: Millis,
        merge: MergeId,
        by: &str,
    ) -> Result<(), RoutingError> {
        self.profiles.unmerge(now, merge, by).map_err(profile_error)
    }
}
