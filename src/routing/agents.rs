//! The agent pool: signed-in agents, their load, and the ready index that orders the
//! agents who can take another conversation by how long ago they were last routed one
//! (longest idle first).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use super::model::{AgentId, ChannelClass, ConversationId, Millis, PerClass, Presence};
use super::skills::LevelledSkills;

/// Index of an agent in the pool's slab; reused after sign-out.
pub type AgentSlot = u32;

/// A signed-in agent.
#[derive(Debug)]
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
    /// When the agent was last offered a conversation (or signed in): the
    /// longest-idle order.
    pub last_routed_at: Millis,
    /// Conversations offered or assigned to the agent.
    pub conversations: Vec<ConversationId>,
}

impl Agent {
    /// Whether the agent can take one more conversation of `class`.
    pub fn has_room(&self, class: ChannelClass) -> bool {
        self.load.get(class) < self.capacity.get(class)
    }

    /// Whether the agent takes offers at all right now.
    fn is_ready(&self) -> bool {
        self.presence == Presence::Available && ChannelClass::ALL.iter().any(|&c| self.has_room(c))
    }
}

/// Signed-in agents of a tenant.
#[derive(Debug, Default)]
pub struct AgentPool {
    /// Agents by slot; `None` for a free slot.
    slots: Vec<Option<Agent>>,
    /// Free slots to reuse.
    free: Vec<AgentSlot>,
    /// Slot by agent id.
    by_id: HashMap<AgentId, AgentSlot>,
    /// Ready agents (available, with room in some class), longest idle first.
    ready: BTreeSet<(Millis, AgentSlot)>,
    /// Capacity of all signed-in agents per class, for wait estimates.
    total_capacity: PerClass,
}

impl AgentPool {
    /// Adds an agent; the caller checked the id is not signed in.
    pub fn insert(&mut self, agent: Agent) -> AgentSlot {
        for class in ChannelClass::ALL {
            *self.total_capacity.get_mut(class) += agent.capacity.get(class);
        }
        let id = agent.id.clone();
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(agent);
                slot
            }
            None => {
                self.slots.push(Some(agent));
                (self.slots.len() - 1) as AgentSlot
            }
        };
        self.by_id.insert(id, slot);
        self.index(slot);
        slot
    }

    /// Removes an agent, returning it.
    pub fn remove(&mut self, slot: AgentSlot) -> Option<Agent> {
        self.unindex(slot);
        let agent = self.slots.get_mut(slot as usize)?.take()?;
        self.by_id.remove(&agent.id);
        self.free.push(slot);
        for class in ChannelClass::ALL {
            *self.total_capacity.get_mut(class) -= agent.capacity.get(class);
        }
        Some(agent)
    }

    /// The slot of a signed-in agent.
    pub fn slot_of(&self, id: &str) -> Option<AgentSlot> {
        self.by_id.get(id).copied()
    }

    /// A signed-in agent.
    pub fn get(&self, slot: AgentSlot) -> Option<&Agent> {
        self.slots.get(slot as usize)?.as_ref()
    }

    /// Changes an agent, keeping the ready index in step.
    pub fn update<R>(&mut self, slot: AgentSlot, change: impl FnOnce(&mut Agent) -> R) -> R {
        self.unindex(slot);
        let agent = self.slots[slot as usize]
            .as_mut()
            .expect("update of a signed-in agent");
        let result = change(agent);
        self.index(slot);
        result
    }

    /// Ready agents, longest idle first.
    pub fn ready(&self) -> impl Iterator<Item = (AgentSlot, &Agent)> + '_ {
        self.ready.iter().map(|&(_, slot)| {
            let agent = self.slots[slot as usize].as_ref().expect("ready agent");
            (slot, agent)
        })
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

    /// Capacity of all signed-in agents for a class.
    pub fn total_capacity(&self, class: ChannelClass) -> u32 {
        self.total_capacity.get(class)
    }

    /// Whether the ready index holds exactly the ready agents (for invariant checks).
    pub fn ready_index_is_consistent(&self) -> bool {
        let expected: BTreeSet<_> = self
            .iter()
            .filter(|(_, a)| a.is_ready())
            .map(|(slot, a)| (a.last_routed_at, slot))
            .collect();
        expected == self.ready
    }

    fn index(&mut self, slot: AgentSlot) {
        if let Some(agent) = self.get(slot)
            && agent.is_ready()
        {
            let key = (agent.last_routed_at, slot);
            self.ready.insert(key);
        }
    }

    fn unindex(&mut self, slot: AgentSlot) {
        if let Some(agent) = self.get(slot) {
            let key = (agent.last_routed_at, slot);
            self.ready.remove(&key);
        }
    }
}
