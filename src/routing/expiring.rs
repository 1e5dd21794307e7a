//! Per-customer memories that lapse after a fixed window: where a customer who left
//! was waiting, and which agent served a customer last.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

use super::model::Millis;

/// A map whose entries lapse `window` milliseconds after they were written. The
/// window is fixed, so lapse times only grow and a FIFO finds the lapsed entries.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(bound(
    serialize = "K: serde::Serialize + Hash + Eq, V: serde::Serialize",
    deserialize = "K: serde::Deserialize<'de> + Hash + Eq, V: serde::Deserialize<'de>"
))]
pub struct ExpiringMap<K: Hash + Eq, V> {
    /// Value and lapse time by key.
    entries: HashMap<K, (V, Millis)>,
    /// Keys in the order they lapse; a rewritten key's older lapse is skipped.
    lapses: VecDeque<(Millis, K)>,
}

impl<K: Hash + Eq + Clone, V> Default for ExpiringMap<K, V> {
    fn default() -> Self {
        ExpiringMap {
            entries: HashMap::new(),
            lapses: VecDeque::new(),
        }
    }
}

impl<K: Hash + Eq + Clone, V> ExpiringMap<K, V> {
    /// Remembers `value` for `key` until `lapses_at`.
    pub fn insert(&mut self, key: K, value: V, lapses_at: Millis) {
        self.entries.insert(key.clone(), (value, lapses_at));
        self.lapses.push_back((lapses_at, key));
    }

    /// The value for `key` if it has not lapsed by `now`.
    pub fn get(&self, key: &K, now: Millis) -> Option<&V> {
        self.entries
            .get(key)
            .filter(|(_, lapses)| *lapses > now)
            .map(|(v, _)| v)
    }

    /// Takes the value for `key` if it has not lapsed by `now`.
    pub fn take(&mut self, key: &K, now: Millis) -> Option<V> {
        match self.entries.remove(key) {
            Some((value, lapses)) if lapses > now => Some(value),
            _ => None,
        }
    }

    /// Whether nothing is remembered (lapsed entries not yet expired count).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets every entry lapsed by `now`.
    pub fn expire(&mut self, now: Millis) {
        while let Some((lapses, _)) = self.lapses.front() {
            if *lapses > now {
                break;
            }
            let (lapses, key) = self.lapses.pop_front().expect("front exists");
            if self.entries.get(&key).is_some_and(|(_, l)| *l == lapses) {
                self.entries.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_lapse_and_rewrites_extend_them() {
        let mut m = ExpiringMap::default();
        m.insert("a", 1, 100);
        m.insert("b", 2, 150);
        m.insert("a", 3, 200);
        m.expire(160);
        assert_eq!(
            m.get(&"a", 160),
            Some(&3),
            "rewritten: the old lapse is skipped"
        );
        assert_eq!(m.get(&"b", 160), None);
        assert_eq!(m.take(&"a", 199), Some(3));
        assert_eq!(m.take(&"a", 199), None);
        m.insert("c", 4, 300);
        assert_eq!(m.take(&"c", 300), None, "lapsed at its time");
    }
}
