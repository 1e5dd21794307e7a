//! Skills as bitsets, so eligibility is a handful of word-wide AND tests rather than
//! string comparisons.
//!
//! Proficiency (1-5) is folded into the bitsets: an agent holds one set per level `k`
//! with every skill it has at proficiency `k` or more, and a requirement holds one set
//! per level with the skills it needs at least at that level. An agent is eligible when,
//! at every level, the requirement's set is a subset of the agent's.

use std::collections::HashMap;
use std::sync::Arc;

/// Highest proficiency.
pub const MAX_PROFICIENCY: u8 = 5;

/// Distinct skill names a tenant may use; bounds the bitset width and the catalogue.
pub const MAX_SKILLS: usize = 4096;

/// Index of a skill in its tenant's catalogue.
pub type SkillIndex = u16;

/// The bit a conversation's requirement holds for skills no agent or queue has named
/// yet: no agent ever holds it, so such a conversation waits (in its place) until an
/// agent with those skills signs in. Conversations never add names to the catalogue,
/// so adapters cannot fill it.
pub const UNRESOLVED: SkillIndex = (MAX_SKILLS - 1) as SkillIndex;

/// Maps skill names to bit positions, per tenant. Names are added when a queue or an
/// agent names them; [`UNRESOLVED`] is kept back.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SkillCatalog {
    /// Name to bit position.
    by_name: HashMap<Arc<str>, SkillIndex>,
    /// Bit position to name.
    names: Vec<Arc<str>>,
    /// The name shown for [`UNRESOLVED`].
    unresolved: Arc<str>,
    /// Bit positions given back by [`SkillCatalog::forget`], handed out again first.
    free: Vec<SkillIndex>,
}

impl Default for SkillCatalog {
    fn default() -> Self {
        SkillCatalog {
            by_name: HashMap::new(),
            names: Vec::new(),
            unresolved: Arc::from("(a skill no agent has)"),
            free: Vec::new(),
        }
    }
}

/// The catalogue is full.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("more than {} distinct skills named by agents and queues in this tenant", MAX_SKILLS - 1)]
pub struct TooManySkills;

impl SkillCatalog {
    /// The index of `name`, adding it when new.
    pub fn intern(&mut self, name: &str) -> Result<SkillIndex, TooManySkills> {
        if let Some(&index) = self.by_name.get(name) {
            return Ok(index);
        }
        let name: Arc<str> = Arc::from(name);
        let index = match self.free.pop() {
            Some(index) => {
                self.names[index as usize] = name.clone();
                index
            }
            None if self.names.len() < UNRESOLVED as usize => {
                self.names.push(name.clone());
                (self.names.len() - 1) as SkillIndex
            }
            None => return Err(TooManySkills),
        };
        self.by_name.insert(name, index);
        Ok(index)
    }

    /// Gives a skill's bit position back, to be handed out to another name. The
    /// caller makes sure nothing holds or requires it any more.
    pub fn forget(&mut self, index: SkillIndex) {
        if let Some(name) = self.names.get(index as usize).cloned()
            && self.by_name.remove(&name).is_some()
        {
            self.names[index as usize] = self.unresolved.clone();
            self.free.push(index);
        }
    }

    /// Every name and its bit position.
    pub fn entries(&self) -> impl Iterator<Item = (SkillIndex, &Arc<str>)> + '_ {
        self.by_name.iter().map(|(name, &index)| (index, name))
    }

    /// The index of a known skill.
    pub fn get(&self, name: &str) -> Option<SkillIndex> {
        self.by_name.get(name).copied()
    }

    /// The name of a skill index.
    pub fn name(&self, index: SkillIndex) -> &Arc<str> {
        self.names.get(index as usize).unwrap_or(&self.unresolved)
    }

    /// Names in the catalogue.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Whether no name is in the catalogue.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

/// A set of skill indexes. Trailing zero words are never stored, so equal sets compare
/// and hash equal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct SkillSet {
    /// Bit `i % 64` of word `i / 64` is skill `i`.
    words: Vec<u64>,
}

impl SkillSet {
    /// Adds a skill.
    pub fn insert(&mut self, skill: SkillIndex) {
        let word = skill as usize / 64;
        if self.words.len() <= word {
            self.words.resize(word + 1, 0);
        }
        self.words[word] |= 1 << (skill % 64);
    }

    /// Whether the set holds a skill.
    pub fn contains(&self, skill: SkillIndex) -> bool {
        self.words
            .get(skill as usize / 64)
            .is_some_and(|w| w & (1 << (skill % 64)) != 0)
    }

    /// Whether every skill of `self` is in `other`.
    pub fn is_subset(&self, other: &SkillSet) -> bool {
        if self.words.len() > other.words.len() {
            return false;
        }
        self.words
            .iter()
            .zip(&other.words)
            .all(|(mine, theirs)| mine & !theirs == 0)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The skills in ascending order: a step per skill held, not per bit.
    pub fn iter(&self) -> impl Iterator<Item = SkillIndex> + '_ {
        self.words.iter().enumerate().flat_map(|(w, &bits)| {
            let mut rest = bits;
            std::iter::from_fn(move || {
                if rest == 0 {
                    return None;
                }
                let b = rest.trailing_zeros() as usize;
                rest &= rest - 1;
                Some((w * 64 + b) as SkillIndex)
            })
        })
    }
}

/// Proficiency-levelled skill sets: `at_least[k - 1]` holds the skills at level `k` or
/// more. Used for both what an agent has and what a conversation requires.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct LevelledSkills {
    /// One set per proficiency level 1..=5.
    at_least: [SkillSet; MAX_PROFICIENCY as usize],
}

impl LevelledSkills {
    /// Records `skill` at `level` (1-5): for an agent, "has it at this level", for a
    /// requirement, "needs at least this level". A skill recorded twice keeps the
    /// higher level.
    pub fn insert(&mut self, skill: SkillIndex, level: u8) {
        let level = level.clamp(1, MAX_PROFICIENCY);
        if matches!(self.level_of(skill), Some(l) if l >= level) {
            return;
        }
        for set in &mut self.at_least[..level as usize] {
            set.insert(skill);
        }
    }

    /// Whether a skill is recorded, at any level.
    pub fn has(&self, skill: SkillIndex) -> bool {
        self.at_least[0].contains(skill)
    }

    /// The level recorded for a skill, if any.
    pub fn level_of(&self, skill: SkillIndex) -> Option<u8> {
        (1..=MAX_PROFICIENCY)
            .rev()
            .find(|&l| self.at_least[l as usize - 1].contains(skill))
    }

    /// Whether an agent with skills `agent` meets this requirement.
    pub fn satisfied_by(&self, agent: &LevelledSkills) -> bool {
        self.at_least
            .iter()
            .zip(&agent.at_least)
            .all(|(need, has)| need.is_subset(has))
    }

    /// Every skill with its level, in skill order.
    pub fn entries(&self) -> impl Iterator<Item = (SkillIndex, u8)> + '_ {
        self.at_least[0]
            .iter()
            .map(|s| (s, self.level_of(s).unwrap_or(1)))
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.at_least[0].is_empty()
    }

    /// Every skill recorded, at any level, in skill order.
    pub fn skills(&self) -> impl Iterator<Item = SkillIndex> + '_ {
        self.at_least[0].iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skills(entries: &[(SkillIndex, u8)]) -> LevelledSkills {
        let mut s = LevelledSkills::default();
        for &(skill, level) in entries {
            s.insert(skill, level);
        }
        s
    }

    #[test]
    fn empty_requirement_is_met_by_anyone() {
        assert!(LevelledSkills::default().satisfied_by(&LevelledSkills::default()));
        assert!(LevelledSkills::default().satisfied_by(&skills(&[(3, 2)])));
    }

    #[test]
    fn proficiency_must_reach_the_minimum() {
        let need = skills(&[(1, 3)]);
        assert!(!need.satisfied_by(&skills(&[(1, 2)])));
        assert!(need.satisfied_by(&skills(&[(1, 3)])));
        assert!(need.satisfied_by(&skills(&[(1, 5), (7, 1)])));
    }

    #[test]
    fn every_required_skill_is_needed_even_in_far_words() {
        let need = skills(&[(1, 1), (700, 1)]);
        assert!(!need.satisfied_by(&skills(&[(1, 5)])));
        assert!(!need.satisfied_by(&skills(&[(700, 5)])));
        assert!(need.satisfied_by(&skills(&[(1, 1), (700, 1)])));
    }

    #[test]
    fn equal_sets_hash_equal_regardless_of_insert_order() {
        let a = skills(&[(3, 2), (130, 4)]);
        let b = skills(&[(130, 4), (3, 1), (3, 2)]);
        assert_eq!(a, b);
        assert_eq!(a.entries().collect::<Vec<_>>(), vec![(3, 2), (130, 4)]);
    }

    #[test]
    fn catalogue_interns_and_bounds() {
        let mut catalog = SkillCatalog::default();
        let a = catalog.intern("billing").unwrap();
        assert_eq!(catalog.intern("billing").unwrap(), a);
        assert_eq!(&**catalog.name(a), "billing");
        for i in 1..UNRESOLVED as usize {
            catalog.intern(&format!("s{i}")).unwrap();
        }
        assert_eq!(catalog.intern("one-too-many"), Err(TooManySkills));
        assert_eq!(&**catalog.name(UNRESOLVED), "(a skill no agent has)");
        // A forgotten skill's place goes to the next new name.
        catalog.forget(a);
        assert_eq!(catalog.get("billing"), None);
        assert_eq!(catalog.intern("refunds").unwrap(), a);
        assert_eq!(&**catalog.name(a), "refunds");
        assert_eq!(catalog.len(), UNRESOLVED as usize);
    }
}
