//! One tenant's customer profiles: recognising a returning customer from the
//! identifiers an adapter sends, and the operator's link, unlink, merge and unmerge.
//!
//! Only verified identifiers recognise anyone: an identifier typed into a chat form is
//! kept on the profile it arrived with but never opens someone else's history. When
//! verified identifiers point at two profiles, nothing is merged by itself; the
//! customer is served as the first, and the other is reported for an operator to
//! merge. Every merge is recorded (which identifiers, when, by whom) and can be undone:
//! identifiers and facts remember the profile they came from.

use std::collections::{HashMap, VecDeque};

use rustc_hash::FxHashMap;

use super::consent::{ConsentRecord, Consents};
use super::history::{Contact, History};
use super::identity::{ClaimedIdentity, Identity};
use super::tags::{MAX_TAGS, Tag, Tags};
use super::value::{Fact, FactKind, ValueFacts};
use crate::routing::Millis;

/// A profile's id, unique within its tenant.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct ProfileId(pub u64);

impl std::fmt::Display for ProfileId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "p{}", self.0)
    }
}

/// A merge's id, for undoing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct MergeId(pub u64);

/// Bounds on one tenant's profiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProfileLimits {
    /// Profiles in all (merged ones included, they keep their id).
    pub max_profiles: usize,
    /// Identifiers on one profile.
    pub max_identities: usize,
    /// Facts kept one by one per profile; older ones are folded into totals.
    pub max_facts: usize,
    /// Merges remembered for undoing.
    pub max_merges: usize,
}

impl Default for ProfileLimits {
    fn default() -> ProfileLimits {
        ProfileLimits {
            max_profiles: 1_000_000,
            max_identities: 32,
            max_facts: 256,
            max_merges: 10_000,
        }
    }
}

/// An identifier on a profile.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LinkedIdentity {
    /// The identifier.
    pub identity: Identity,
    /// Whether its owner is proven; only these recognise a returning customer.
    pub verified: bool,
    /// When it was linked.
    pub linked_at: Millis,
    /// The profile it was first linked to (it moves with merges and back with unmerges).
    pub origin: ProfileId,
}

/// A fact on a profile, with the profile it was pushed to.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
struct OwnedFact {
    fact: Fact,
    origin: ProfileId,
}

/// One person as the tenant knows them.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Profile {
    id: ProfileId,
    created_at: Millis,
    identities: Vec<LinkedIdentity>,
    /// The newest facts, one by one.
    facts: VecDeque<OwnedFact>,
    /// Totals of older facts, per profile they came from.
    folded: Vec<(ProfileId, ValueFacts)>,
    /// Set once merged into another profile: lookups follow it.
    merged_into: Option<ProfileId>,
    /// The value an adapter last sent for this person, for conversations that come
    /// without one (another channel, say).
    value_seen: Option<f64>,
    /// Their newest past conversations.
    history: History,
    /// What they agreed to be contacted about.
    consents: Consents,
    /// Labels the tenant's systems set.
    #[serde(default)]
    tags: Tags,
}

impl Profile {
    fn new(id: ProfileId, now: Millis) -> Profile {
        Profile {
            id,
            created_at: now,
            identities: Vec::new(),
            facts: VecDeque::new(),
            folded: Vec::new(),
            merged_into: None,
            value_seen: None,
            history: History::default(),
            consents: Consents::default(),
            tags: Tags::default(),
        }
    }

    /// Labels the tenant's systems set on the person.
    pub fn tags(&self) -> &Tags {
        &self.tags
    }

    /// What they agreed to be contacted about.
    pub fn consents(&self) -> &Consents {
        &self.consents
    }

    /// Its id.
    pub fn id(&self) -> ProfileId {
        self.id
    }

    /// When it was created.
    pub fn created_at(&self) -> Millis {
        self.created_at
    }

    /// Its identifiers.
    pub fn identities(&self) -> &[LinkedIdentity] {
        &self.identities
    }

    /// The totals of every fact pushed to it (and to profiles merged into it).
    pub fn value_facts(&self) -> ValueFacts {
        let mut totals = ValueFacts::default();
        for (_, folded) in &self.folded {
            totals.combine(folded);
        }
        for owned in &self.facts {
            totals.add(&owned.fact);
        }
        totals
    }

    /// Their newest past conversations.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// When they last ordered, from the facts kept one by one (older facts are
    /// folded into totals without times, and are older by construction).
    pub fn last_order_at(&self) -> Option<Millis> {
        self.facts
            .iter()
            .filter(|f| f.fact.kind == FactKind::Order)
            .map(|f| f.fact.at)
            .max()
    }

    /// The facts kept one by one, oldest first (older ones are only in the totals).
    pub fn facts(&self) -> impl Iterator<Item = &Fact> + '_ {
        self.facts.iter().map(|f| &f.fact)
    }

    /// When anything last happened to the person: a conversation ended, a fact was
    /// dated, an identifier was linked, or the profile was made.
    pub fn last_activity(&self) -> Millis {
        let contact = self.history.contacts().map(|c| c.ended_at).max();
        let fact = self.facts.iter().map(|f| f.fact.at).max();
        let linked = self.identities.iter().map(|l| l.linked_at).max();
        [contact, fact, linked]
            .into_iter()
            .flatten()
            .fold(self.created_at, Millis::max)
    }

    fn has(&self, identity: &Identity) -> Option<usize> {
        self.identities.iter().position(|l| l.identity == *identity)
    }
}

/// A merge, as recorded.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MergeRecord {
    /// Its id.
    pub id: MergeId,
    /// When.
    pub at: Millis,
    /// Who (the operator's principal).
    pub by: Box<str>,
    /// The profile that was kept.
    pub into: ProfileId,
    /// The profile merged into it.
    pub from: ProfileId,
    /// The identifiers that moved.
    pub identities: Vec<Identity>,
    /// Profiles whose identifiers and facts moved (`from` and what was merged into it).
    origins: Vec<ProfileId>,
    /// When and by whom it was undone.
    pub undone: Option<(Millis, Box<str>)>,
}

/// What erasing a person removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Erased {
    /// The profile ids that were this person (the kept one first, then those merged
    /// into it); none of them is given out again.
    pub profiles: Vec<ProfileId>,
    /// Identifiers removed.
    pub identities: usize,
    /// Facts removed (one by one; folded totals go with them).
    pub facts: usize,
    /// Past conversations removed.
    pub contacts: usize,
    /// Merge records removed (every one that named one of the profiles).
    pub merges: usize,
}

/// What retention does with a profile id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// Keep it.
    Keep,
    /// A person idle past the retention period: erase unless a conversation is open.
    Idle,
    /// Merged into a person who was erased: nothing of anyone is left on it.
    Orphaned,
}

/// What recognising a customer found.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    /// The profile the customer is served as.
    pub profile: ProfileId,
    /// Whether it was created now.
    pub created: bool,
    /// Identifiers linked to it now.
    pub linked: Vec<Identity>,
    /// Other profiles that verified identifiers also pointed at: candidates for an
    /// operator's merge.
    pub conflicts: Vec<ProfileId>,
}

/// Why a profile operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    /// No such profile.
    #[error("profile {0}: not found")]
    UnknownProfile(ProfileId),
    /// No such merge (or it was forgotten, past `max_merges`).
    #[error("merge {}: not found", .0.0)]
    UnknownMerge(MergeId),
    /// The merge was undone already.
    #[error("merge {}: already undone", .0.0)]
    AlreadyUndone(MergeId),
    /// A profile cannot be merged into itself.
    #[error("profile {0}: cannot be merged into itself")]
    SameProfile(ProfileId),
    /// The identifier belongs to another profile: merge the two instead.
    #[error("{kind} is linked to profile {profile}; merge the profiles instead")]
    LinkedElsewhere {
        /// The identifier's kind.
        kind: &'static str,
        /// The profile it is linked to.
        profile: ProfileId,
    },
    /// The identifier is not on the profile.
    #[error("profile {profile}: {kind} is not linked to it")]
    NotLinked {
        /// The profile.
        profile: ProfileId,
        /// The identifier's kind.
        kind: &'static str,
    },
    /// A limit was reached.
    #[error("{0}: limit reached")]
    Full(&'static str),
}

/// One tenant's profiles.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Profiles {
    profiles: FxHashMap<ProfileId, Profile>,
    /// Verified identifiers and the profile each belongs to.
    index: HashMap<Identity, ProfileId>,
    next_profile: u64,
    merges: VecDeque<MergeRecord>,
    next_merge: u64,
    limits: ProfileLimits,
}

impl Profiles {
    /// No profiles yet, within `limits`.
    pub fn new(limits: ProfileLimits) -> Profiles {
        Profiles {
            limits,
            ..Profiles::default()
        }
    }

    /// Profiles held (merged ones included).
    pub fn len(&self) -> usize {
        self.profiles.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.profiles.is_empty()
    }

    /// The profile `id` stands for now: itself, or the profile it was merged into.
    pub fn get(&self, id: ProfileId) -> Option<&Profile> {
        let mut profile = self.profiles.get(&id)?;
        // Merges form chains, never cycles; the bound only guards against a bug.
        for _ in 0..self.profiles.len() {
            match profile.merged_into {
                Some(next) => profile = self.profiles.get(&next)?,
                None => return Some(profile),
            }
        }
        None
    }

    fn current(&self, id: ProfileId) -> Result<ProfileId, ProfileError> {
        self.get(id)
            .map(Profile::id)
            .ok_or(ProfileError::UnknownProfile(id))
    }

    /// The highest profile id given so far (ids run from 1), for passes over every
    /// profile.
    pub fn last_id(&self) -> u64 {
        self.next_profile
    }

    /// The profile a verified identifier belongs to.
    pub fn find(&self, identity: &Identity) -> Option<&Profile> {
        self.get(*self.index.get(identity)?)
    }

    /// Recognises the customer behind `claims` (the identifiers an adapter sent, the
    /// channel's own customer id among them, verified by the channel): the profile a
    /// verified identifier already belongs to, else a new one. Identifiers it does not
    /// have yet are linked to it; verified ones that belong to another profile are
    /// left there and that profile reported as a conflict.
    pub fn resolve(
        &mut self,
        now: Millis,
        claims: &[ClaimedIdentity],
    ) -> Result<Resolution, ProfileError> {
        // One index lookup per claim, kept for both passes: the profile each
        // identifier is indexed to now (after merges), if any.
        let indexed: Vec<Option<ProfileId>> = claims
            .iter()
            .map(|c| {
                let found = *self.index.get(&c.identity)?;
                self.current(found).ok()
            })
            .collect();
        let mut matched: Vec<ProfileId> = Vec::new();
        for (claim, found) in claims.iter().zip(&indexed) {
            if claim.verified
                && let Some(found) = found
                && !matched.contains(found)
            {
                matched.push(*found);
            }
        }
        let (profile, created) = match matched.first() {
            Some(found) => (*found, false),
            None => (self.create(now)?, true),
        };
        let mut linked = Vec::new();
        for (claim, indexed) in claims.iter().zip(indexed) {
            // Verified and indexed: on this profile already, verified (the index only
            // points at holders), a returning customer's usual case with nothing to
            // change; or another profile's, reported as a conflict, not moved.
            if claim.verified && indexed.is_some() {
                continue;
            }
            let max = self.limits.max_identities;
            let entry = self.profiles.get_mut(&profile).expect("resolved above");
            match entry.has(&claim.identity) {
                Some(at) => {
                    if claim.verified && !entry.identities[at].verified {
                        entry.identities[at].verified = true;
                        self.index.insert(claim.identity.clone(), profile);
                    }
                }
                None if entry.identities.len() < max => {
                    entry.identities.push(LinkedIdentity {
                        identity: claim.identity.clone(),
                        verified: claim.verified,
                        linked_at: now,
                        origin: profile,
                    });
                    if claim.verified {
                        self.index.insert(claim.identity.clone(), profile);
                    }
                    linked.push(claim.identity.clone());
                }
                None => {
                    tracing::debug!(profile = %profile, "identifier not linked: the profile is full");
                }
            }
        }
        Ok(Resolution {
            profile,
            created,
            linked,
            conflicts: matched.into_iter().skip(1).collect(),
        })
    }

    fn create(&mut self, now: Millis) -> Result<ProfileId, ProfileError> {
        if self.profiles.len() >= self.limits.max_profiles {
            return Err(ProfileError::Full("profiles"));
        }
        self.next_profile += 1;
        let id = ProfileId(self.next_profile);
        self.profiles.insert(id, Profile::new(id, now));
        Ok(id)
    }

    /// Remembers the value an adapter sent for the person.
    pub fn remember_value(&mut self, profile: ProfileId, value: f64) {
        if let Ok(id) = self.current(profile)
            && let Some(entry) = self.profiles.get_mut(&id)
        {
            entry.value_seen = Some(value);
        }
    }

    /// The value last sent for the person, if any.
    pub fn remembered_value(&self, profile: ProfileId) -> Option<f64> {
        self.get(profile)?.value_seen
    }

    /// Keeps a finished conversation on the person's profile.
    pub fn record_contact(&mut self, profile: ProfileId, mut contact: Contact) {
        if let Ok(id) = self.current(profile)
            && let Some(entry) = self.profiles.get_mut(&id)
        {
            contact.origin = id;
            entry.history.record(contact);
        }
    }

    /// Records a satisfaction answer on a past conversation of the person; false when
    /// it is not kept.
    pub fn rate_contact(&mut self, profile: ProfileId, conversation: u64, score: u8) -> bool {
        match self.current(profile) {
            Ok(id) => self
                .profiles
                .get_mut(&id)
                .is_some_and(|p| p.history.rate(conversation, score)),
            Err(_) => false,
        }
    }

    /// An operator links a verified identifier to a profile.
    pub fn link(
        &mut self,
        now: Millis,
        profile: ProfileId,
        identity: Identity,
    ) -> Result<(), ProfileError> {
        let profile = self.current(profile)?;
        if let Some(other) = self.index.get(&identity).map(|p| self.current(*p)) {
            let other = other?;
            if other != profile {
                return Err(ProfileError::LinkedElsewhere {
                    kind: identity.kind().name(),
                    profile: other,
                });
            }
        }
        let max = self.limits.max_identities;
        let entry = self.profiles.get_mut(&profile).expect("current");
        match entry.has(&identity) {
            Some(at) => entry.identities[at].verified = true,
            None if entry.identities.len() < max => entry.identities.push(LinkedIdentity {
                identity: identity.clone(),
                verified: true,
                linked_at: now,
                origin: profile,
            }),
            None => return Err(ProfileError::Full("identities on one profile")),
        }
        self.index.insert(identity, profile);
        Ok(())
    }

    /// An operator takes an identifier off a profile (it recognises nobody until it
    /// is linked again).
    pub fn unlink(&mut self, profile: ProfileId, identity: &Identity) -> Result<(), ProfileError> {
        let profile = self.current(profile)?;
        let entry = self.profiles.get_mut(&profile).expect("current");
        let at = entry.has(identity).ok_or(ProfileError::NotLinked {
            profile,
            kind: identity.kind().name(),
        })?;
        entry.identities.remove(at);
        if self.index.get(identity) == Some(&profile) {
            self.index.remove(identity);
        }
        Ok(())
    }

    /// Pushes a fact to a profile; past `max_facts` the oldest is folded into totals.
    pub fn add_fact(&mut self, profile: ProfileId, fact: Fact) -> Result<(), ProfileError> {
        let profile = self.current(profile)?;
        let max = self.limits.max_facts.max(1);
        let entry = self.profiles.get_mut(&profile).expect("current");
        entry.facts.push_back(OwnedFact {
            fact,
            origin: profile,
        });
        while entry.facts.len() > max {
            let oldest = entry.facts.pop_front().expect("over the limit");
            fold(&mut entry.folded, oldest.origin, &oldest.fact);
        }
        Ok(())
    }

    /// Records a consent decision on a profile (its origin is that profile); one
    /// older than the decision on record there for the purpose changes nothing.
    pub fn record_consent(
        &mut self,
        profile: ProfileId,
        mut decision: ConsentRecord,
    ) -> Result<(), ProfileError> {
        let profile = self.current(profile)?;
        decision.origin = profile;
        let entry = self.profiles.get_mut(&profile).expect("current");
        entry.consents.record(decision);
        Ok(())
    }

    /// The tenant's systems tag a person: `remove` goes (wherever it was set), then
    /// `add` is set on the profile. Refused whole when it would pass [`MAX_TAGS`].
    pub fn change_tags(
        &mut self,
        profile: ProfileId,
        add: &[Tag],
        remove: &[Tag],
    ) -> Result<(), ProfileError> {
        let profile = self.current(profile)?;
        let entry = self.profiles.get_mut(&profile).expect("current");
        entry
            .tags
            .change(profile, add, remove)
            .map_err(|_| ProfileError::Full("tags on one profile"))
    }

    /// An operator merges `from` into `into`: identifiers and facts move, `from`
    /// becomes a name for `into`, and the merge is recorded for explaining and undoing.
    pub fn merge(
        &mut self,
        now: Millis,
        into: ProfileId,
        from: ProfileId,
        by: &str,
    ) -> Result<MergeId, ProfileError> {
        let (into, from) = (self.current(into)?, self.current(from)?);
        if into == from {
            return Err(ProfileError::SameProfile(into));
        }
        let moving = self.profiles[&from].identities.len();
        if self.profiles[&into].identities.len() + moving > self.limits.max_identities {
            return Err(ProfileError::Full("identities on one profile"));
        }
        let mut tags = self.profiles[&into].tags.clone();
        tags.absorb(self.profiles[&from].tags.clone());
        if tags.len() > MAX_TAGS {
            return Err(ProfileError::Full("tags on one profile"));
        }
        let mut taken = self.profiles.get_mut(&from).expect("current");
        taken.merged_into = Some(into);
        let identities = std::mem::take(&mut taken.identities);
        let facts = std::mem::take(&mut taken.facts);
        let folded = std::mem::take(&mut taken.folded);
        let value_seen = taken.value_seen;
        let history = std::mem::take(&mut taken.history);
        let consents = std::mem::take(&mut taken.consents);
        let tags = std::mem::take(&mut taken.tags);
        let mut origins: Vec<ProfileId> = identities.iter().map(|l| l.origin).collect();
        origins.extend(facts.iter().map(|f| f.origin));
        origins.extend(folded.iter().map(|(o, _)| *o));
        origins.extend(history.contacts().map(|c| c.origin));
        origins.extend(consents.records().iter().map(|r| r.origin));
        origins.extend(tags.origins());
        origins.push(from);
        origins.sort();
        origins.dedup();
        let moved: Vec<Identity> = identities.iter().map(|l| l.identity.clone()).collect();
        for linked in identities.iter().filter(|l| l.verified) {
            self.index.insert(linked.identity.clone(), into);
        }
        let max = self.limits.max_facts.max(1);
        taken = self.profiles.get_mut(&into).expect("current");
        taken.identities.extend(identities);
        taken.value_seen = taken.value_seen.or(value_seen);
        taken.history.combine(history);
        taken.consents.absorb(consents);
        taken.tags.absorb(tags);
        for (origin, totals) in folded {
            fold_totals(&mut taken.folded, origin, &totals);
        }
        let mut all: Vec<OwnedFact> = taken.facts.drain(..).chain(facts).collect();
        all.sort_by_key(|f| f.fact.at);
        let excess = all.len().saturating_sub(max);
        for old in all.drain(..excess) {
            fold(&mut taken.folded, old.origin, &old.fact);
        }
        taken.facts = all.into();
        self.next_merge += 1;
        let id = MergeId(self.next_merge);
        if self.merges.len() >= self.limits.max_merges.max(1) {
            self.merges.pop_front();
        }
        self.merges.push_back(MergeRecord {
            id,
            at: now,
            by: by.into(),
            into,
            from,
            identities: moved,
            origins,
            undone: None,
        });
        Ok(id)
    }

    /// The profile ids that are this person now: `id`'s current profile first, then
    /// every profile merged into it (directly or along a chain).
    pub fn person_ids(&self, id: ProfileId) -> Result<Vec<ProfileId>, ProfileError> {
        let current = self.current(id)?;
        let mut ids = vec![current];
        let mut merged: Vec<ProfileId> = self
            .profiles
            .values()
            .filter(|p| p.merged_into.is_some() && self.get(p.id).map(Profile::id) == Some(current))
            .map(|p| p.id)
            .collect();
        merged.sort();
        ids.extend(merged);
        Ok(ids)
    }

    /// Erases a person (a data subject's request, or retention): their profile, every
    /// profile merged into it, their identifiers, facts, history and the merge records
    /// that name them. Their ids are never given out again; an identifier of theirs
    /// seen later starts a new profile.
    pub fn erase(&mut self, id: ProfileId) -> Result<Erased, ProfileError> {
        let mut erased = Erased::default();
        for id in self.person_ids(id)? {
            if let Some(one) = self.erase_one(id) {
                erased.profiles.push(id);
                erased.identities += one.identities;
                erased.facts += one.facts;
                erased.contacts += one.contacts;
                erased.merges += one.merges;
            }
        }
        Ok(erased)
    }

    /// Drops the index entries of a removed profile's identifiers (the index only
    /// points at profiles that hold the identifier).
    fn unindex(&mut self, removed: &Profile) {
        for linked in &removed.identities {
            if self.index.get(&linked.identity) == Some(&removed.id) {
                self.index.remove(&linked.identity);
            }
        }
    }

    /// What retention should do with the profile id `id`, with profiles last active
    /// before `idle_before` (`None`: never) erased.
    pub fn retention_verdict(&self, id: ProfileId, idle_before: Option<Millis>) -> Retention {
        match self.profiles.get(&id) {
            None => Retention::Keep,
            Some(p) if p.merged_into.is_some() => match self.get(id) {
                Some(_) => Retention::Keep,
                None => Retention::Orphaned,
            },
            Some(p) if idle_before.is_some_and(|cutoff| p.last_activity() < cutoff) => {
                Retention::Idle
            }
            Some(_) => Retention::Keep,
        }
    }

    /// Erases the one profile `id` (not those merged into it: each is erased when
    /// retention finds it orphaned).
    pub fn erase_one(&mut self, id: ProfileId) -> Option<Erased> {
        let p = self.profiles.remove(&id)?;
        self.unindex(&p);
        let merges = self.merges.len();
        self.merges.retain(|m| m.into != id && m.from != id);
        Some(Erased {
            profiles: vec![id],
            identities: p.identities.len(),
            facts: p.facts.len(),
            contacts: p.history.contacts().count(),
            merges: merges - self.merges.len(),
        })
    }

    /// Forgets the person's past conversations that ended before `cutoff`; returns
    /// how many.
    pub fn forget_contacts_before(&mut self, id: ProfileId, cutoff: Millis) -> usize {
        match self.current(id) {
            Ok(current) => self
                .profiles
                .get_mut(&current)
                .map_or(0, |p| p.history.forget_before(cutoff)),
            Err(_) => 0,
        }
    }

    /// The merges remembered, oldest first.
    pub fn merges(&self) -> impl Iterator<Item = &MergeRecord> {
        self.merges.iter()
    }

    /// Undoes a merge: `from` comes back with the identifiers and facts that came
    /// from it (those linked or pushed to the kept profile since stay there).
    pub fn unmerge(&mut self, now: Millis, merge: MergeId, by: &str) -> Result<(), ProfileError> {
        let record = self
            .merges
            .iter()
            .find(|m| m.id == merge)
            .ok_or(ProfileError::UnknownMerge(merge))?;
        if record.undone.is_some() {
            return Err(ProfileError::AlreadyUndone(merge));
        }
        let (from, origins) = (record.from, record.origins.clone());
        let into = self.current(record.into)?;
        let came = |origin: &ProfileId| origins.contains(origin);
        let kept = self.profiles.get_mut(&into).expect("current");
        let (back, stay): (Vec<_>, Vec<_>) =
            kept.identities.drain(..).partition(|l| came(&l.origin));
        kept.identities = stay;
        let (facts_back, facts_stay): (VecDeque<_>, VecDeque<_>) =
            kept.facts.drain(..).partition(|f| came(&f.origin));
        kept.facts = facts_stay;
        let (folded_back, folded_stay): (Vec<_>, Vec<_>) =
            kept.folded.drain(..).partition(|(o, _)| came(o));
        kept.folded = folded_stay;
        let history_back = kept.history.split_off(came);
        let consents_back = kept.consents.split_off(came);
        let tags_back = kept.tags.split_off(came);
        for linked in back.iter().filter(|l| l.verified) {
            self.index.insert(linked.identity.clone(), from);
        }
        let restored = self
            .profiles
            .get_mut(&from)
            .expect("merged profiles are kept");
        restored.merged_into = None;
        restored.identities = back;
        restored.facts = facts_back;
        restored.folded = folded_back;
        restored.history = history_back;
        restored.consents = consents_back;
        restored.tags = tags_back;
        let record = self
            .merges
            .iter_mut()
            .find(|m| m.id == merge)
            .expect("found above");
        record.undone = Some((now, by.into()));
        Ok(())
    }
}

fn fold(folded: &mut Vec<(ProfileId, ValueFacts)>, origin: ProfileId, fact: &Fact) {
    match folded.iter_mut().find(|(o, _)| *o == origin) {
        Some((_, totals)) => totals.add(fact),
        None => folded.push((origin, ValueFacts::of([fact]))),
    }
}

fn fold_totals(folded: &mut Vec<(ProfileId, ValueFacts)>, origin: ProfileId, more: &ValueFacts) {
    match folded.iter_mut().find(|(o, _)| *o == origin) {
        Some((_, totals)) => totals.combine(more),
        None => folded.push((origin, *more)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::customer::identity::IdentityKind;
    use crate::customer::value::FactKind;
    use crate::routing::Channel;

    fn id(kind: IdentityKind, value: &str) -> Identity {
        Identity::new(kind, value).unwrap()
    }

    fn claim(kind: IdentityKind, value: &str, verified: bool) -> ClaimedIdentity {
        ClaimedIdentity {
            identity: id(kind, value),
            verified,
        }
    }

    fn phone() -> Identity {
        id(IdentityKind::Phone, "+86 138 0013 8000")
    }

    fn order(amount: f64, at: Millis) -> Fact {
        Fact {
            kind: FactKind::Order,
            amount,
            at,
        }
    }

    #[test]
    fn a_customer_who_wrote_on_wechat_is_recognised_on_the_web() {
        let mut profiles = Profiles::new(ProfileLimits::default());
        let wechat = profiles
            .resolve(
                1,
                &[
                    claim(
                        IdentityKind::Channel(Channel::WechatOfficialAccount),
                        "o-123",
                        true,
                    ),
                    claim(IdentityKind::Phone, "+8613800138000", true),
                ],
            )
            .unwrap();
        assert!(wechat.created);
        let web = profiles
            .resolve(
                2,
                &[
                    claim(IdentityKind::Channel(Channel::Web), "visitor-9", true),
                    claim(IdentityKind::Phone, "+86 138-0013-8000", true),
                ],
            )
            .unwrap();
        assert_eq!(web.profile, wechat.profile);
        assert!(!web.created);
        assert_eq!(
            web.linked,
            vec![id(IdentityKind::Channel(Channel::Web), "visitor-9")]
        );
        // From now on the web id alone recognises them.
        let again = profiles
            .resolve(
                3,
                &[claim(
                    IdentityKind::Channel(Channel::Web),
                    "visitor-9",
                    true,
                )],
            )
            .unwrap();
        assert_eq!(again.profile, wechat.profile);
        assert_eq!(profiles.len(), 1);
    }

    #[test]
    fn an_unverified_identifier_never_opens_someone_elses_profile() {
        let mut profiles = Profiles::new(ProfileLimits::default());
        let owner = profiles
            .resolve(1, &[claim(IdentityKind::Phone, "+8613800138000", true)])
            .unwrap();
        let stranger = profiles
            .resolve(
                2,
                &[
                    claim(IdentityKind::Channel(Channel::Web), "stranger", true),
                    claim(IdentityKind::Phone, "+8613800138000", false),
                ],
            )
            .unwrap();
        assert_ne!(stranger.profile, owner.profile);
        assert!(stranger.created);
        assert_eq!(profiles.find(&phone()).unwrap().id(), owner.profile);
        // The owner's profile did not learn the stranger's id.
        let owner_ids = profiles.get(owner.profile).unwrap().identities();
        assert_eq!(owner_ids.len(), 1);
    }

    #[test]
    fn verified_identifiers_of_two_profiles_are_reported_not_merged() {
        let mut profiles = Profiles::new(ProfileLimits::default());
        let a = profiles
            .resolve(1, &[claim(IdentityKind::AppUser, "u-1", true)])
            .unwrap();
        let b = profiles
            .resolve(2, &[claim(IdentityKind::Email, "li@example.com", true)])
            .unwrap();
        let both = profiles
            .resolve(
                3,
                &[
                    claim(IdentityKind::AppUser, "u-1", true),
                    claim(IdentityKind::Email, "li@example.com", true),
                ],
            )
            .unwrap();
        assert_eq!(both.profile, a.profile);
        assert_eq!(both.conflicts, vec![b.profile]);
        assert!(both.linked.is_empty());
        let email = id(IdentityKind::Email, "li@example.com");
        assert_eq!(profiles.find(&email).unwrap().id(), b.profile);
    }

    #[test]
    fn a_merge_moves_identifiers_and_facts_is_recorded_and_can_be_undone() {
        let mut profiles = Profiles::new(ProfileLimits::default());
        let a = profiles
            .resolve(1, &[claim(IdentityKind::AppUser, "u-1", true)])
            .unwrap()
            .profile;
        let b = profiles
            .resolve(2, &[claim(IdentityKind::Email, "li@example.com", true)])
            .unwrap()
            .profile;
        profiles.add_fact(a, order(100.0, 10)).unwrap();
        profiles.add_fact(b, order(40.0, 5)).unwrap();
        let tag = |t: &str| Tag::new(t).unwrap();
        profiles.change_tags(b, &[tag("beta")], &[]).unwrap();
        let merge = profiles.merge(20, a, b, "ops:chen").unwrap();
        assert!(
            profiles.get(a).unwrap().tags().has(&tag("beta")),
            "tags move"
        );
        let email = id(IdentityKind::Email, "li@example.com");
        assert_eq!(profiles.find(&email).unwrap().id(), a);
        assert_eq!(
            profiles.get(b).unwrap().id(),
            a,
            "the old id names the kept profile"
        );
        let totals = profiles.get(a).unwrap().value_facts();
        assert_eq!(totals.orders, 2);
        assert_eq!(totals.first_order, Some((5, 40.0)));
        let record = profiles.merges().next().unwrap();
        assert_eq!(
            (record.into, record.from, &*record.by, record.at),
            (a, b, "ops:chen", 20)
        );
        assert_eq!(record.identities, vec![email.clone()]);

        // What arrives after the merge stays with the kept profile when it is undone.
        profiles.add_fact(a, order(7.0, 30)).unwrap();
        profiles
            .resolve(31, &[claim(IdentityKind::Phone, "+8613800138000", true)])
            .unwrap();
        profiles.link(32, b, phone()).unwrap_err(); // b is a now: linked already
        profiles.unmerge(40, merge, "ops:wang").unwrap();
        assert_eq!(profiles.find(&email).unwrap().id(), b);
        assert!(
            profiles.get(b).unwrap().tags().has(&tag("beta")),
            "and back"
        );
        assert!(profiles.get(a).unwrap().tags().is_empty());
        assert_eq!(profiles.get(b).unwrap().value_facts().order_total, 40.0);
        assert_eq!(profiles.get(a).unwrap().value_facts().order_total, 107.0);
        assert_eq!(
            profiles.unmerge(41, merge, "ops:wang"),
            Err(ProfileError::AlreadyUndone(merge))
        );
    }

    #[test]
    fn linking_an_identifier_of_another_profile_is_refused_and_unlinking_forgets_it() {
        let mut profiles = Profiles::new(ProfileLimits::default());
        let a = profiles
            .resolve(1, &[claim(IdentityKind::AppUser, "u-1", true)])
            .unwrap()
            .profile;
        let b = profiles
            .resolve(2, &[claim(IdentityKind::AppUser, "u-2", true)])
            .unwrap()
            .profile;
        let u1 = id(IdentityKind::AppUser, "u-1");
        assert_eq!(
            profiles.link(3, b, u1.clone()),
            Err(ProfileError::LinkedElsewhere {
                kind: "app_user_id",
                profile: a
            })
        );
        profiles.link(3, b, phone()).unwrap();
        assert_eq!(profiles.find(&phone()).unwrap().id(), b);
        profiles.unlink(a, &u1).unwrap();
        assert!(profiles.find(&u1).is_none());
        assert!(matches!(
            profiles.unlink(a, &u1),
            Err(ProfileError::NotLinked { .. })
        ));
    }

    #[test]
    fn limits_hold_and_folded_facts_keep_their_totals() {
        let limits = ProfileLimits {
            max_profiles: 2,
            max_identities: 2,
            max_facts: 3,
            max_merges: 1,
        };
        let mut profiles = Profiles::new(limits);
        let a = profiles
            .resolve(
                1,
                &[
                    claim(IdentityKind::AppUser, "u-1", true),
                    claim(IdentityKind::AppUser, "u-2", true),
                    claim(IdentityKind::AppUser, "u-3", true),
                ],
            )
            .unwrap();
        assert_eq!(a.linked.len(), 2, "the third identifier does not fit");
        for i in 0..10 {
            profiles.add_fact(a.profile, order(10.0, i)).unwrap();
        }
        let totals = profiles.get(a.profile).unwrap().value_facts();
        assert_eq!((totals.orders, totals.order_total), (10, 100.0));
        assert_eq!(totals.first_order, Some((0, 10.0)));
        profiles
            .resolve(2, &[claim(IdentityKind::AppUser, "u-9", true)])
            .unwrap();
        assert_eq!(
            profiles.resolve(3, &[claim(IdentityKind::AppUser, "u-10", true)]),
            Err(ProfileError::Full("profiles"))
        );
    }

    #[test]
    fn merges_and_unmerges_in_any_order_never_lose_or_double_a_fact() {
        let mut profiles = Profiles::new(ProfileLimits {
            max_facts: 4,
            ..ProfileLimits::default()
        });
        let ids: Vec<ProfileId> = (0..6)
            .map(|i| {
                let p = profiles
                    .resolve(i, &[claim(IdentityKind::AppUser, &format!("u-{i}"), true)])
                    .unwrap()
                    .profile;
                for k in 0..5 {
                    profiles.add_fact(p, order(1.0, i * 10 + k)).unwrap();
                }
                p
            })
            .collect();
        let live_total = |profiles: &Profiles| -> u32 {
            ids.iter()
                .filter(|p| profiles.get(**p).unwrap().id() == **p)
                .map(|p| profiles.get(*p).unwrap().value_facts().orders)
                .sum()
        };
        let mut merges = Vec::new();
        for (into, from) in [(0, 1), (2, 3), (0, 2), (4, 5), (0, 4)] {
            merges.push(profiles.merge(100, ids[into], ids[from], "ops").unwrap());
            assert_eq!(live_total(&profiles), 30);
        }
        for merge in [merges[2], merges[0], merges[4], merges[1], merges[3]] {
            profiles.unmerge(200, merge, "ops").unwrap();
            assert_eq!(live_total(&profiles), 30);
        }
        for p in &ids {
            assert_eq!(profiles.get(*p).unwrap().value_facts().orders, 5, "{p}");
        }
    }
}
