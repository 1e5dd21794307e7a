//! The agent pool: signed-in agents, their load, and the ready lanes that find the
//! longest-idle eligible agent without scanning the pool.
//!
//! *Longest idle* means least recently active: an agent's activity stamp moves to
//! "now" whenever it signs in, becomes available, is offered a conversation or is
//! released from one. Because stamps only grow, a lane is a FIFO: every restamp
//! appends an entry at the back, and older entries of the same agent simply go stale
//! (their stamp no longer matches). Stale entries are dropped when they reach the
//! front or when a lane grows past twice its holders, so each change costs one append
//! per skill of the agent, and finding a candidate is a walk from the front.
//!
//! There is one lane per skill (agents holding it) and one for every agent; a
//! requirement is served from the shortest lane among its skills, since every
//! eligible agent must be in each of them.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::model::{AgentId, ChannelClass, ConversationId, Millis, PerClass, Presence};
use super::skills::{LevelledSkills, SkillIndex};
use super::waiting::ProfileIndex;

/// Index of an agent in the pool's slab; reused after sign-out.
pub type AgentSlot = u32;

/// A signed-in agent.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Agent {
    /// Id the desk signed in with.
    pub id: AgentId,
    /// Display name.
    pub display_name: String,
    /// Skills with levels.
    pub skills: LevelledSkills,
    /// Skills by name, for views.
    pub skill_names: Vec<(Arc<str>, u8)>,
    /// Concurrent conversations allowed per class.
    pub capacity: PerClass,
    /// Conversations held (offered or assigned) per class.
    pub load: PerClass,
    /// Presence.
    pub presence: Presence,
    /// Last activity (sign-in, becoming available, offer, release): the
    /// longest-idle order.
    pub last_active_at: Millis,
    /// Conversations offered or assigned to the agent.
    pub conversations: Vec<ConversationId>,
    /// When a wrap-up ends, while the presence is `WrapUp`.
    pub wrap_up_until: Millis,
    /// Sign-in order within the tenant, for round robin.
    pub joined: u64,
    /// Waiting profiles this agent is eligible for (see `profiles_seen`).
    pub eligible_profiles: Vec<ProfileIndex>,
    /// How many profiles existed when `eligible_profiles` was last extended;
    /// profiles are append-only, so only newer ones need checking.
    pub profiles_seen: usize,
    /// Matches the stamp of this agent's current lane entries.
    stamp: u64,
    /// Set while the agent has not come back after a restart: it keeps what it held
    /// and takes no offers until it signs in again or this time passes.
    #[serde(default)]
    pub returning_until: Option<Millis>,
}

impl Agent {
    /// A new agent, not yet in any lane.
    pub fn new(
        id: AgentId,
        display_name: String,
        skills: LevelledSkills,
        skill_names: Vec<(Arc<str>, u8)>,
        capacity: PerClass,
        presence: Presence,
    ) -> Agent {
        Agent {
            id,
            display_name,
            skills,
            skill_names,
            capacity,
            load: PerClass::default(),
            presence,
            last_active_at: 0,
            conversations: Vec::new(),
            wrap_up_until: 0,
            joined: 0,
            eligible_profiles: Vec::new(),
            profiles_seen: 0,
            stamp: 0,
            returning_until: None,
        }
    }

    /// Whether the agent can take one more conversation of `class`.
    pub fn has_room(&self, class: ChannelClass) -> bool {
        self.load.get(class) < self.capacity.get(class)
    }

    /// Whether the agent takes offers at all right now.
    pub fn is_ready(&self) -> bool {
        self.presence == Presence::Available
            && self.returning_until.is_none()
            && ChannelClass::ALL.iter().any(|&c| self.has_room(c))
    }
}

/// One lane entry: an agent as of one activity stamp.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
struct LaneEntry {
    slot: AgentSlot,
    stamp: u64,
}

/// Agents holding one skill (or all agents), least recently active first, with
/// stale entries among them.
#[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Lane {
    entries: VecDeque<LaneEntry>,
    /// Signed-in agents that belong in this lane; bounds its garbage.
    holders: usize,
}

/// Which lane to search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaneKey {
    /// Every agent.
    All,
    /// Agents holding a skill.
    Skill(SkillIndex),
}

/// Signed-in agents of a tenant.
#[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AgentPool {
    /// Agents by slot; `None` for a free slot.
    slots: Vec<Option<Agent>>,
    /// Each slot's current activity stamp (0 for a free slot), beside the agents: a
    /// lane walk tells a stale entry from this small array without loading the agent.
    stamps: Vec<u64>,
    /// Free slots to reuse.
    free: Vec<AgentSlot>,
    /// Slot by agent id.
    by_id: HashMap<AgentId, AgentSlot>,
    /// Lane of every agent.
    all: Lane,
    /// Lane per skill.
    by_skill: FxHashMap<SkillIndex, Lane>,
    /// Source of activity stamps, unique across slots and reuse.
    next_stamp: u64,
    /// Capacity per class of the signed-in agents who take offers (not away), for
    /// wait estimates: an agent on a break works through nobody's queue.
    present_capacity: PerClass,
    /// What each slot adds to `present_capacity`, so a change of capacity or presence
    /// (or a removal) takes back exactly what was added.
    counted: Vec<PerClass>,
    /// Signed-in agents holding each skill, whatever their presence and load: who
    /// could serve a requirement is asked of its rarest skill's holders only.
    holding: FxHashMap<SkillIndex, Vec<AgentSlot>>,
}

impl AgentPool {
    /// Adds an agent active as of `now`; the caller checked the id is not signed in.
    pub fn insert(&mut self, agent: Agent, now: Millis) -> AgentSlot {
        self.all.holders += 1;
        for skill in agent.skills.skills() {
            self.by_skill.entry(skill).or_default().holders += 1;
        }
        let id = agent.id.clone();
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(agent);
                slot
            }
            None => {
                self.slots.push(Some(agent));
                self.stamps.push(0);
                self.counted.push(PerClass::default());
                (self.slots.len() - 1) as AgentSlot
            }
        };
        self.by_id.insert(id, slot);
        let skills = &self.slots[slot as usize].as_ref().expect("just put").skills;
        for skill in skills.skills() {
            self.holding.entry(skill).or_default().push(slot);
        }
        self.recount(slot);
        self.restamp(slot, now);
        slot
    }

    /// Removes an agent, returning it. Its lane entries go stale.
    pub fn remove(&mut self, slot: AgentSlot) -> Option<Agent> {
        let agent = self.slots.get_mut(slot as usize)?.take()?;
        self.stamps[slot as usize] = 0;
        self.by_id.remove(&agent.id);
        self.free.push(slot);
        let counted = std::mem::take(&mut self.counted[slot as usize]);
        for class in ChannelClass::ALL {
            *self.present_capacity.get_mut(class) -= counted.get(class);
        }
        self.all.holders -= 1;
        for skill in agent.skills.skills() {
            if let Some(lane) = self.by_skill.get_mut(&skill) {
                lane.holders -= 1;
            }
            if let Some(holders) = self.holding.get_mut(&skill) {
                holders.retain(|&s| s != slot);
                if holders.is_empty() {
                    self.holding.remove(&skill);
                }
            }
        }
        Some(agent)
    }

    /// Whether a signed-in agent holds this skill.
    pub fn holds_skill(&self, skill: SkillIndex) -> bool {
        self.by_skill
            .get(&skill)
            .is_some_and(|lane| lane.holders > 0)
    }

    /// The slot of a signed-in agent.
    pub fn slot_of(&self, id: &str) -> Option<AgentSlot> {
        self.by_id.get(id).copied()
    }

    /// A signed-in agent.
    pub fn get(&self, slot: AgentSlot) -> Option<&Agent> {
        self.slots.get(slot as usize)?.as_ref()
    }

    /// A signed-in agent, for changes that do not touch load, capacity or presence
    /// (or that an `update` of the same agent follows).
    pub fn get_mut(&mut self, slot: AgentSlot) -> Option<&mut Agent> {
        self.slots.get_mut(slot as usize)?.as_mut()
    }

    /// Changes an agent's load or presence: an activity as of `now`, which moves the
    /// agent to the back of its lanes.
    pub fn update<R>(
        &mut self,
        slot: AgentSlot,
        now: Millis,
        change: impl FnOnce(&mut Agent) -> R,
    ) -> R {
        let agent = self.slots[slot as usize]
            .as_mut()
            .expect("update of a signed-in agent");
        let result = change(agent);
        self.recount(slot);
        self.restamp(slot, now);
        result
    }

    /// Brings `present_capacity` up to date with the agent in `slot`: its capacity
    /// counts unless it is away.
    fn recount(&mut self, slot: AgentSlot) {
        let Some(agent) = self.slots[slot as usize].as_ref() else {
            return;
        };
        let now_counted = if agent.presence == Presence::Away {
            PerClass::default()
        } else {
            agent.capacity
        };
        let before = std::mem::replace(&mut self.counted[slot as usize], now_counted);
        for class in ChannelClass::ALL {
            let total = self.present_capacity.get_mut(class);
            *total = *total - before.get(class) + now_counted.get(class);
        }
    }

    /// The first agent in a lane, least recently active first, that is ready and
    /// satisfies `accept`.
    pub fn find_ready(
        &mut self,
        lane: LaneKey,
        mut accept: impl FnMut(&Agent) -> bool,
    ) -> Option<AgentSlot> {
        let (slots, stamps) = (&self.slots, &self.stamps);
        let lane = match lane {
            LaneKey::All => &mut self.all,
            LaneKey::Skill(skill) => self.by_skill.get_mut(&skill)?,
        };
        while let Some(front) = lane.entries.front() {
            if current(slots, stamps, *front).is_some() {
                break;
            }
            lane.entries.pop_front();
        }
        lane.entries
            .iter()
            .filter_map(|&e| current(slots, stamps, e).map(|a| (e.slot, a)))
            .find(|(_, a)| accept(a))
            .map(|(slot, _)| slot)
    }

    /// Every ready agent in a lane satisfying `accept`, least recently active first.
    pub fn ready_candidates(
        &mut self,
        lane: LaneKey,
        mut accept: impl FnMut(&Agent) -> bool,
    ) -> Vec<AgentSlot> {
        let (slots, stamps) = (&self.slots, &self.stamps);
        let Some(lane) = (match lane {
            LaneKey::All => Some(&mut self.all),
            LaneKey::Skill(skill) => self.by_skill.get_mut(&skill),
        }) else {
            return Vec::new();
        };
        lane.entries
            .iter()
            .filter_map(|&e| current(slots, stamps, e).map(|a| (e.slot, a)))
            .filter(|(_, a)| accept(a))
            .map(|(slot, _)| slot)
            .collect()
    }

    /// Entries in a lane, stale ones included: a cheap proxy for its size.
    pub fn lane_len(&self, lane: LaneKey) -> usize {
        match lane {
            LaneKey::All => self.all.entries.len(),
            LaneKey::Skill(skill) => self.by_skill.get(&skill).map_or(0, |l| l.entries.len()),
        }
    }

    /// Every signed-in agent.
    pub fn iter(&self) -> impl Iterator<Item = (AgentSlot, &Agent)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(slot, a)| a.as_ref().map(|a| (slot as AgentSlot, a)))
    }

    /// Number of signed-in agents.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether no agent is signed in.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Whether a signed-in agent who takes offers (available or in wrap-up, whatever
    /// its load) meets `required` (whose skills are `skills`) with some capacity for
    /// `class`: someone who can serve the conversation once free. Agents on a break
    /// and agents awaited after a restart do not count: nobody can say when they
    /// will be back, so a wait estimate on them would be a promise nobody keeps.
    /// Only the holders of the rarest required skill are looked at, and the walk stops
    /// at the first that qualifies.
    pub fn can_serve(
        &self,
        required: &LevelledSkills,
        skills: &[SkillIndex],
        class: ChannelClass,
    ) -> bool {
        if self.present_capacity.get(class) == 0 {
            return false;
        }
        let qualifies = |a: &Agent| {
            a.returning_until.is_none()
                && a.presence != Presence::Away
                && a.capacity.get(class) > 0
                && required.satisfied_by(&a.skills)
        };
        let rarest = skills
            .iter()
            .map(|s| self.holding.get(s).map_or(&[][..], Vec::as_slice))
            .min_by_key(|holders| holders.len());
        match rarest {
            Some(holders) => holders
                .iter()
                .filter_map(|&slot| self.get(slot))
                .any(qualifies),
            None => self.iter().any(|(_, a)| qualifies(a)),
        }
    }

    /// How many agents are free now to take a conversation needing `required` (whose
    /// skills are `skills`) on `class`: ready (available, with room) and qualified.
    /// Walks the holders of the rarest required skill.
    pub fn free_to_serve(
        &self,
        required: &LevelledSkills,
        skills: &[SkillIndex],
        class: ChannelClass,
    ) -> u32 {
        let free =
            |a: &&Agent| a.is_ready() && a.has_room(class) && required.satisfied_by(&a.skills);
        let rarest = skills
            .iter()
            .map(|s| self.holding.get(s).map_or(&[][..], Vec::as_slice))
            .min_by_key(|holders| holders.len());
        let count = match rarest {
            Some(holders) => holders
                .iter()
                .filter_map(|&slot| self.get(slot))
                .filter(free)
                .count(),
            None => self.iter().map(|(_, a)| a).filter(free).count(),
        };
        count as u32
    }

    /// Capacity for a class of the signed-in agents who are not away.
    pub fn present_capacity(&self, class: ChannelClass) -> u32 {
        self.present_capacity.get(class)
    }

    /// Whether every ready agent has a current entry in the all-agents lane and in
    /// the lane of each of its skills, and every signed-in agent is listed once among
    /// the holders of each of its skills and nowhere else (for invariant checks).
    pub fn lanes_are_consistent(&self) -> bool {
        let listed: usize = self.holding.values().map(Vec::len).sum();
        let held: usize = self.iter().map(|(_, a)| a.skills.skills().count()).sum();
        let holders_listed = listed == held
            && self.iter().all(|(slot, a)| {
                a.skills.skills().all(|s| {
                    self.holding
                        .get(&s)
                        .is_some_and(|h| h.iter().filter(|&&x| x == slot).count() == 1)
                })
            });
        if !holders_listed {
            return false;
        }
        let has_current = |lane: &Lane, slot: AgentSlot, stamp: u64| {
            lane.entries
                .iter()
                .any(|e| e.slot == slot && e.stamp == stamp)
        };
        self.iter().filter(|(_, a)| a.is_ready()).all(|(slot, a)| {
            has_current(&self.all, slot, a.stamp)
                && a.skills.skills().all(|s| {
                    self.by_skill
                        .get(&s)
                        .is_some_and(|lane| has_current(lane, slot, a.stamp))
                })
        })
    }

    /// Gives an agent a fresh stamp and, when ready, appends it to its lanes.
    fn restamp(&mut self, slot: AgentSlot, now: Millis) {
        self.next_stamp += 1;
        let stamp = self.next_stamp;
        let Some(agent) = self.slots[slot as usize].as_mut() else {
            return;
        };
        agent.stamp = stamp;
        agent.last_active_at = now;
        self.stamps[slot as usize] = stamp;
        if !agent.is_ready() {
            return;
        }
        let entry = LaneEntry { slot, stamp };
        let (slots, stamps) = (&self.slots, &self.stamps);
        push(&mut self.all, entry, slots, stamps);
        let agent = slots[slot as usize].as_ref().expect("just stamped");
        for skill in agent.skills.skills() {
            let lane = self.by_skill.entry(skill).or_default();
            push(lane, entry, slots, stamps);
        }
    }
}

/// The agent an entry names, if the entry is still current and the agent ready.
fn current<'a>(slots: &'a [Option<Agent>], stamps: &[u64], entry: LaneEntry) -> Option<&'a Agent> {
    if stamps[entry.slot as usize] != entry.stamp {
        return None;
    }
    slots[entry.slot as usize].as_ref().filter(|a| a.is_ready())
}

/// Appends to a lane, compacting it when stale entries outnumber live ones.
fn push(lane: &mut Lane, entry: LaneEntry, slots: &[Option<Agent>], stamps: &[u64]) {
    lane.entries.push_back(entry);
    if lane.entries.len() > 2 * lane.holders + 32 {
        lane.entries
            .retain(|&e| current(slots, stamps, e).is_some());
    }
}
