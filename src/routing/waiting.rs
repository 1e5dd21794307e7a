//! The waiting index: conversations that wait for an agent, grouped by what they need.
//!
//! Conversations with the same requirement and channel class form a *profile*; each
//! profile keeps its conversations in serving order. An agent that frees capacity only
//! looks at the head of each profile it is eligible for, never at every waiting
//! conversation.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use indexset::BTreeSet;
use rustc_hash::FxHashMap;

use super::model::{ChannelClass, ConversationId};
use super::priority::PriorityKey;
use super::skills::{LevelledSkills, SkillIndex};

/// Entries per node of a profile's tree. The crate's default (1,024) makes taking the
/// head of a long profile shift 24 KiB and makes every profile, even an empty one,
/// hold 24 KiB; at 128 a removal shifts at most 3 KiB, and the rank index over the
/// nodes stays small enough to rebuild cheaply when a node splits.
const NODE_SIZE: usize = 128;

/// Index of a profile in [`WaitingIndex`].
pub type ProfileIndex = usize;

/// Conversations sharing a requirement and channel class, in serving order.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Profile {
    /// What an agent needs to serve them.
    pub required: LevelledSkills,
    /// Capacity class they count against.
    pub class: ChannelClass,
    /// The required skills, for choosing an agent lane.
    pub skills: Vec<SkillIndex>,
    /// Waiting conversations, first to serve first; an order-statistic tree, so a
    /// customer's position is a logarithmic rank, not a walk.
    pub waiting: BTreeSet<(PriorityKey, ConversationId)>,
}

/// All waiting conversations of a tenant.
#[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WaitingIndex {
    /// Profiles ever seen; never removed, so indexes stay valid (bounded by the
    /// distinct requirement sets a tenant uses).
    profiles: Vec<Profile>,
    /// Profile lookup by requirement, then by class index.
    by_requirement: FxHashMap<LevelledSkills, [Option<ProfileIndex>; 3]>,
    /// Waiting conversations in all profiles.
    len: usize,
}

impl WaitingIndex {
    /// The profile for a requirement and class, creating it when new.
    pub fn profile_for(&mut self, required: &LevelledSkills, class: ChannelClass) -> ProfileIndex {
        if let Some(p) = self
            .by_requirement
            .get(required)
            .and_then(|by_class| by_class[class.index()])
        {
            return p;
        }
        let p = self.profiles.len();
        self.profiles.push(Profile {
            required: required.clone(),
            class,
            skills: required.skills().collect(),
            waiting: BTreeSet::with_maximum_node_size(NODE_SIZE),
        });
        self.by_requirement.entry(required.clone()).or_default()[class.index()] = Some(p);
        p
    }

    /// A profile.
    pub fn profile(&self, p: ProfileIndex) -> &Profile {
        &self.profiles[p]
    }

    /// Every profile.
    pub fn profiles(&self) -> &[Profile] {
        &self.profiles
    }

    /// Adds a waiting conversation.
    pub fn insert(&mut self, p: ProfileIndex, key: PriorityKey, id: ConversationId) {
        if self.profiles[p].waiting.insert((key, id)) {
            self.len += 1;
        }
    }

    /// Removes a waiting conversation; false when it was not there.
    pub fn remove(&mut self, p: ProfileIndex, key: PriorityKey, id: ConversationId) -> bool {
        let removed = self.profiles[p].waiting.remove(&(key, id));
        if removed {
            self.len -= 1;
        }
        removed
    }

    /// 1-based place of a waiting conversation within its profile.
    pub fn position(&self, p: ProfileIndex, key: PriorityKey, id: ConversationId) -> usize {
        self.profiles[p].waiting.rank(&(key, id)) + 1
    }

    /// 1-based place of a waiting conversation among every waiting one, all
    /// profiles together (the admin API's serving order); a rank per profile.
    pub fn overall_position(&self, key: PriorityKey, id: ConversationId) -> usize {
        self.profiles
            .iter()
            .filter(|p| !p.waiting.is_empty())
            .map(|p| p.waiting.rank(&(key, id)))
            .sum::<usize>()
            + 1
    }

    /// The first `limit` waiting conversations of all profiles together, in serving
    /// order: a merge of the profiles' own orders.
    pub fn first_overall(&self, limit: usize) -> Vec<ConversationId> {
        let mut heads: Vec<_> = self
            .profiles
            .iter()
            .filter(|p| !p.waiting.is_empty())
            .map(|p| p.waiting.iter())
            .collect();
        let mut next: BinaryHeap<Reverse<((PriorityKey, ConversationId), usize)>> = heads
            .iter_mut()
            .enumerate()
            .filter_map(|(i, it)| it.next().map(|&entry| Reverse((entry, i))))
            .collect();
        let mut out = Vec::with_capacity(limit.min(self.len));
        while out.len() < limit
            && let Some(Reverse(((_, id), i))) = next.pop()
        {
            out.push(id);
            if let Some(&entry) = heads[i].next() {
                next.push(Reverse((entry, i)));
            }
        }
        out
    }

    /// Waiting conversations in all profiles.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}
