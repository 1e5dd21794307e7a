//! Every timer a router has scheduled, in one ordered set, with a reverse index so a
//! timer is cancelled the moment what it times ends (the conversation leaves the
//! offer, the agent signs out, ...) instead of being found stale when it fires.
//!
//! # Firing order
//!
//! Timers fire by kind first, in the order [`TimerKind`] lists them (the phases of
//! `Router::tick`), then earliest due first, then by id (conversation id or agent
//! slot). A tick therefore handles every due offer expiry before any decline
//! cooldown, whatever their due times, as the router always has: ordering by due time
//! across kinds would let a late tick run an early escalation before an earlier-listed
//! but later-due offer expiry and change who is offered what.

use std::collections::BTreeSet;

use rustc_hash::FxHashMap;

use super::agents::AgentSlot;
use super::model::{ConversationId, Millis};

/// What a timer does when it fires, listed in firing order (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum TimerKind {
    /// A returning agent's grace window after a restart ends: it is signed out.
    AgentReturn,
    /// An offer times out: withdrawn, the agent set away.
    OfferExpiry,
    /// A decline (or transfer) cooldown ends: the agent is eligible again.
    DeclineCooldown,
    /// An assigned messaging conversation has been quiet long enough to park.
    IdleCheck,
    /// A parked conversation's window ends: it is abandoned.
    ParkLapse,
    /// A conversation reaches its queue's maximum wait.
    MaxWait,
    /// A conversation reaches `max_queue_secs` of waiting.
    QueueLimit,
    /// A conversation with a bot has been quiet long enough to end.
    BotIdle,
    /// A waiting conversation takes its next escalation step.
    Escalation,
    /// An agent's wrap-up ends.
    WrapUp,
    /// A waiting conversation gets the service-level boost.
    ServiceLevelRisk,
}

impl TimerKind {
    /// Every kind, in firing order.
    pub const ALL: [TimerKind; 11] = [
        TimerKind::AgentReturn,
        TimerKind::OfferExpiry,
        TimerKind::DeclineCooldown,
        TimerKind::IdleCheck,
        TimerKind::ParkLapse,
        TimerKind::MaxWait,
        TimerKind::QueueLimit,
        TimerKind::BotIdle,
        TimerKind::Escalation,
        TimerKind::WrapUp,
        TimerKind::ServiceLevelRisk,
    ];

    /// The kinds that time a conversation (the others time an agent).
    const OF_CONVERSATIONS: [TimerKind; 9] = [
        TimerKind::OfferExpiry,
        TimerKind::DeclineCooldown,
        TimerKind::IdleCheck,
        TimerKind::ParkLapse,
        TimerKind::MaxWait,
        TimerKind::QueueLimit,
        TimerKind::BotIdle,
        TimerKind::Escalation,
        TimerKind::ServiceLevelRisk,
    ];

    /// The kinds that time an agent.
    const OF_AGENTS: [TimerKind; 2] = [TimerKind::AgentReturn, TimerKind::WrapUp];
}

/// One scheduled timer: what fires, and for whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    /// See [`TimerKind::AgentReturn`].
    AgentReturn(AgentSlot),
    /// See [`TimerKind::OfferExpiry`].
    OfferExpiry(ConversationId),
    /// See [`TimerKind::DeclineCooldown`]; a conversation may have several, one per
    /// cooldown end.
    DeclineCooldown(ConversationId),
    /// See [`TimerKind::IdleCheck`].
    IdleCheck(ConversationId),
    /// See [`TimerKind::ParkLapse`].
    ParkLapse(ConversationId),
    /// See [`TimerKind::MaxWait`].
    MaxWait(ConversationId),
    /// See [`TimerKind::QueueLimit`].
    QueueLimit(ConversationId),
    /// See [`TimerKind::BotIdle`].
    BotIdle(ConversationId),
    /// See [`TimerKind::Escalation`].
    Escalation(ConversationId),
    /// See [`TimerKind::WrapUp`].
    WrapUp(AgentSlot),
    /// See [`TimerKind::ServiceLevelRisk`].
    ServiceLevelRisk(ConversationId),
}

/// Bits below the kind in a packed key: ids and due times stay below 2^56.
const KIND_SHIFT: u32 = 56;
/// The largest id or due time a packed key holds.
const LOW_MASK: u64 = (1 << KIND_SHIFT) - 1;

impl Timer {
    /// What this timer does.
    pub fn kind(self) -> TimerKind {
        match self {
            Timer::AgentReturn(_) => TimerKind::AgentReturn,
            Timer::OfferExpiry(_) => TimerKind::OfferExpiry,
            Timer::DeclineCooldown(_) => TimerKind::DeclineCooldown,
            Timer::IdleCheck(_) => TimerKind::IdleCheck,
            Timer::ParkLapse(_) => TimerKind::ParkLapse,
            Timer::MaxWait(_) => TimerKind::MaxWait,
            Timer::QueueLimit(_) => TimerKind::QueueLimit,
            Timer::BotIdle(_) => TimerKind::BotIdle,
            Timer::Escalation(_) => TimerKind::Escalation,
            Timer::WrapUp(_) => TimerKind::WrapUp,
            Timer::ServiceLevelRisk(_) => TimerKind::ServiceLevelRisk,
        }
    }

    /// The conversation id or agent slot it is for.
    fn id(self) -> u64 {
        match self {
            Timer::AgentReturn(slot) | Timer::WrapUp(slot) => u64::from(slot),
            Timer::OfferExpiry(id)
            | Timer::DeclineCooldown(id)
            | Timer::IdleCheck(id)
            | Timer::ParkLapse(id)
            | Timer::MaxWait(id)
            | Timer::QueueLimit(id)
            | Timer::BotIdle(id)
            | Timer::Escalation(id)
            | Timer::ServiceLevelRisk(id) => id.0,
        }
    }

    /// The timer of `kind` for `id`.
    fn of(kind: TimerKind, id: u64) -> Timer {
        let c = ConversationId(id);
        let slot = id as AgentSlot;
        match kind {
            TimerKind::AgentReturn => Timer::AgentReturn(slot),
            TimerKind::OfferExpiry => Timer::OfferExpiry(c),
            TimerKind::DeclineCooldown => Timer::DeclineCooldown(c),
            TimerKind::IdleCheck => Timer::IdleCheck(c),
            TimerKind::ParkLapse => Timer::ParkLapse(c),
            TimerKind::MaxWait => Timer::MaxWait(c),
            TimerKind::QueueLimit => Timer::QueueLimit(c),
            TimerKind::BotIdle => Timer::BotIdle(c),
            TimerKind::Escalation => Timer::Escalation(c),
            TimerKind::WrapUp => Timer::WrapUp(slot),
            TimerKind::ServiceLevelRisk => Timer::ServiceLevelRisk(c),
        }
    }

    /// The timer packed into one integer: kind, then id.
    fn key(self) -> u64 {
        let id = self.id();
        debug_assert!(id <= LOW_MASK, "timer id {id} beyond 2^56");
        ((self.kind() as u64) << KIND_SHIFT) | (id & LOW_MASK)
    }

    /// The timer a packed key names.
    fn from_key(key: u64) -> Timer {
        Timer::of(TimerKind::ALL[(key >> KIND_SHIFT) as usize], key & LOW_MASK)
    }
}

/// A set entry: kind and due time packed (kind in the high bits), then the id; the
/// derived order is the firing order. Sixteen bytes, like the per-kind sets it
/// replaced.
type Entry = (u64, u64);

fn entry(due: Millis, timer: Timer) -> Entry {
    debug_assert!(due <= LOW_MASK, "due time {due} beyond 2^56 ms");
    (
        ((timer.kind() as u64) << KIND_SHIFT) | due.min(LOW_MASK),
        timer.id(),
    )
}

fn unpack(e: Entry) -> (Millis, Timer) {
    let kind = TimerKind::ALL[(e.0 >> KIND_SHIFT) as usize];
    (e.0 & LOW_MASK, Timer::of(kind, e.1))
}

/// Every scheduled router timer. See the module doc for the firing order.
///
/// A timer may be scheduled more than once at different due times (decline
/// cooldowns: one per decline); scheduling the same timer at the same time twice
/// keeps one.
#[derive(Debug, Default)]
pub struct Timers {
    /// Every timer, in firing order.
    queue: BTreeSet<Entry>,
    /// The due time of each scheduled timer (by packed key), one instance.
    due_of: FxHashMap<u64, Millis>,
    /// Further due times of timers scheduled more than once.
    more: FxHashMap<u64, Vec<Millis>>,
    /// Timers scheduled, per kind: cancelling skips the index for kinds with none (a
    /// tenant that uses few kinds pays for those only when a conversation ends).
    per_kind: [u32; TimerKind::ALL.len()],
}

impl PartialEq for Timers {
    /// Equal when the same timers are scheduled at the same times: the index is
    /// derived from the set (which instance it holds first may differ).
    fn eq(&self, other: &Timers) -> bool {
        self.queue == other.queue
    }
}

impl Timers {
    /// Schedules `timer` at `due`, beside any other instance of it.
    pub fn schedule(&mut self, due: Millis, timer: Timer) {
        if !self.queue.insert(entry(due, timer)) {
            return;
        }
        self.per_kind[timer.kind() as usize] += 1;
        let key = timer.key();
        match self.due_of.entry(key) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(due);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.more.entry(key).or_default().push(due);
            }
        }
    }

    /// Schedules `timer` at `due` in place of every instance it had.
    pub fn reschedule(&mut self, due: Millis, timer: Timer) {
        self.cancel(timer);
        self.schedule(due, timer);
    }

    /// Cancels every instance of `timer`; true if it was scheduled.
    pub fn cancel(&mut self, timer: Timer) -> bool {
        let kind = timer.kind() as usize;
        if self.per_kind[kind] == 0 {
            return false;
        }
        let key = timer.key();
        let Some(due) = self.due_of.remove(&key) else {
            return false;
        };
        self.queue.remove(&entry(due, timer));
        self.per_kind[kind] -= 1;
        if !self.more.is_empty()
            && let Some(more) = self.more.remove(&key)
        {
            self.per_kind[kind] -= more.len() as u32;
            for due in more {
                self.queue.remove(&entry(due, timer));
            }
        }
        true
    }

    /// Cancels every timer of a conversation (it ended).
    pub fn cancel_conversation(&mut self, id: ConversationId) {
        for kind in TimerKind::OF_CONVERSATIONS {
            self.cancel(Timer::of(kind, id.0));
        }
    }

    /// Cancels every timer of an agent (it signed out; its slot may be reused).
    pub fn cancel_agent(&mut self, slot: AgentSlot) {
        for kind in TimerKind::OF_AGENTS {
            self.cancel(Timer::of(kind, u64::from(slot)));
        }
    }

    /// Whether `timer` is scheduled at `due`.
    pub fn contains(&self, due: Millis, timer: Timer) -> bool {
        self.queue.contains(&entry(due, timer))
    }

    /// Whether any instance of `timer` is scheduled.
    pub fn is_scheduled(&self, timer: Timer) -> bool {
        self.due_of.contains_key(&timer.key())
    }

    /// Takes every timer of `kind` due by `now`, in firing order. Timers of that kind
    /// scheduled while the caller handles these wait for the next call.
    pub fn pop_due(&mut self, now: Millis, kind: TimerKind) -> Vec<(Millis, Timer)> {
        let base = (kind as u64) << KIND_SHIFT;
        let last = (base | now.min(LOW_MASK), u64::MAX);
        let fired: Vec<Entry> = self.queue.range((base, 0)..=last).copied().collect();
        fired
            .into_iter()
            .map(|e| {
                self.queue.remove(&e);
                let (due, timer) = unpack(e);
                self.per_kind[timer.kind() as usize] -= 1;
                self.unindex(due, timer);
                (due, timer)
            })
            .collect()
    }

    /// Forgets one instance of a timer that has left the set.
    fn unindex(&mut self, due: Millis, timer: Timer) {
        let key = timer.key();
        let more = if self.more.is_empty() {
            None
        } else {
            self.more.get_mut(&key)
        };
        match more {
            None => {
                self.due_of.remove(&key);
            }
            Some(more) => {
                if self.due_of.get(&key) == Some(&due) {
                    let next = more.pop().expect("more instances are never empty");
                    self.due_of.insert(key, next);
                } else {
                    more.retain(|&d| d != due);
                }
                if more.is_empty() {
                    self.more.remove(&key);
                }
            }
        }
    }

    /// The earliest due time of any timer, whatever its kind.
    pub fn next_due(&self) -> Option<Millis> {
        TimerKind::ALL
            .iter()
            .filter_map(|&kind| {
                let base = (kind as u64) << KIND_SHIFT;
                self.queue
                    .range((base, 0)..(base | LOW_MASK, u64::MAX))
                    .next()
                    .map(|e| e.0 & LOW_MASK)
            })
            .min()
    }

    /// How many timers are scheduled (each instance counts).
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether no timer is scheduled.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Every scheduled timer with its due time, in firing order.
    pub fn iter(&self) -> impl Iterator<Item = (Millis, Timer)> + '_ {
        self.queue.iter().map(|&e| unpack(e))
    }

    /// Checks the reverse index against the set; `Err` says what disagrees.
    pub fn check_index(&self) -> Result<(), String> {
        let indexed = self.due_of.len() + self.more.values().map(Vec::len).sum::<usize>();
        if indexed != self.queue.len() {
            return Err(format!(
                "{} timers scheduled but {indexed} indexed",
                self.queue.len()
            ));
        }
        for (&key, &due) in &self.due_of {
            let timer = Timer::from_key(key);
            let extra = self.more.get(&key).map_or(&[][..], Vec::as_slice);
            if let Some(&missing) = std::iter::once(&due)
                .chain(extra)
                .find(|&&d| !self.contains(d, timer))
            {
                return Err(format!("{timer:?} indexed at {missing} but not scheduled"));
            }
        }
        let mut per_kind = [0; TimerKind::ALL.len()];
        for (_, timer) in self.iter() {
            per_kind[timer.kind() as usize] += 1;
        }
        if per_kind != self.per_kind {
            return Err("timers counted per kind out of step".into());
        }
        if self.more.keys().any(|k| !self.due_of.contains_key(k)) {
            return Err("a timer has further instances but no first one".into());
        }
        Ok(())
    }
}

impl serde::Serialize for Timer {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.key())
    }
}

impl<'de> serde::Deserialize<'de> for Timer {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Timer, D::Error> {
        let key = u64::deserialize(d)?;
        if (key >> KIND_SHIFT) as usize >= TimerKind::ALL.len() {
            return Err(serde::de::Error::custom(format!(
                "unknown timer kind in {key}"
            )));
        }
        Ok(Timer::from_key(key))
    }
}

/// A snapshot holds the set only, as `(due, timer)` pairs in firing order; the index
/// is rebuilt when it is read back.
impl serde::Serialize for Timers {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> serde::Deserialize<'de> for Timers {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Timers, D::Error> {
        let pairs = Vec::<(Millis, Timer)>::deserialize(d)?;
        let mut timers = Timers::default();
        for (due, timer) in pairs {
            timers.schedule(due, timer);
        }
        Ok(timers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: u64) -> ConversationId {
        ConversationId(id)
    }

    #[test]
    fn fires_by_kind_then_due_then_id() {
        let mut t = Timers::default();
        t.schedule(50, Timer::Escalation(c(1)));
        t.schedule(90, Timer::OfferExpiry(c(7)));
        t.schedule(90, Timer::OfferExpiry(c(3)));
        t.schedule(80, Timer::OfferExpiry(c(9)));
        t.schedule(10, Timer::WrapUp(2));
        assert_eq!(t.len(), 5);
        assert_eq!(t.next_due(), Some(10));
        assert_eq!(
            t.pop_due(100, TimerKind::Escalation),
            [(50, Timer::Escalation(c(1)))]
        );
        assert_eq!(
            t.pop_due(100, TimerKind::OfferExpiry),
            [
                (80, Timer::OfferExpiry(c(9))),
                (90, Timer::OfferExpiry(c(3))),
                (90, Timer::OfferExpiry(c(7))),
            ],
            "earliest first; ties at the same millisecond by id"
        );
        assert!(t.pop_due(9, TimerKind::WrapUp).is_empty(), "not due yet");
        assert_eq!(t.pop_due(10, TimerKind::WrapUp), [(10, Timer::WrapUp(2))]);
        assert!(t.is_empty());
        assert_eq!(t.next_due(), None);
        t.check_index().unwrap();
    }

    #[test]
    fn kind_order_is_the_enum_order() {
        let mut t = Timers::default();
        for (i, kind) in TimerKind::ALL.iter().enumerate().rev() {
            t.schedule(1_000 - i as u64, Timer::of(*kind, 5));
        }
        let kinds: Vec<TimerKind> = t.iter().map(|(_, timer)| timer.kind()).collect();
        assert_eq!(kinds, TimerKind::ALL);
        assert_eq!(t.next_due(), Some(990));
    }

    #[test]
    fn a_cancelled_timer_never_fires() {
        let mut t = Timers::default();
        t.schedule(10, Timer::ParkLapse(c(1)));
        t.schedule(10, Timer::ParkLapse(c(2)));
        assert!(t.cancel(Timer::ParkLapse(c(1))));
        assert!(!t.cancel(Timer::ParkLapse(c(1))), "already cancelled");
        assert!(!t.is_scheduled(Timer::ParkLapse(c(1))));
        assert_eq!(
            t.pop_due(u64::MAX >> 8, TimerKind::ParkLapse),
            [(10, Timer::ParkLapse(c(2)))]
        );
        t.check_index().unwrap();
    }

    #[test]
    fn cancelling_a_conversation_or_agent_takes_all_its_timers() {
        let mut t = Timers::default();
        t.schedule(10, Timer::QueueLimit(c(1)));
        t.schedule(20, Timer::Escalation(c(1)));
        t.schedule(30, Timer::DeclineCooldown(c(1)));
        t.schedule(40, Timer::DeclineCooldown(c(1)));
        t.schedule(10, Timer::QueueLimit(c(2)));
        t.schedule(10, Timer::WrapUp(1));
        t.schedule(10, Timer::AgentReturn(1));
        t.schedule(10, Timer::WrapUp(2));
        // Agent slot 1 and conversation 1 share a number, not timers.
        t.cancel_conversation(c(1));
        assert_eq!(t.len(), 4);
        t.cancel_agent(1);
        let left: Vec<_> = t.iter().collect();
        assert_eq!(
            left,
            [(10, Timer::QueueLimit(c(2))), (10, Timer::WrapUp(2))]
        );
        t.check_index().unwrap();
    }

    #[test]
    fn repeated_timers_fire_once_per_due_time() {
        let mut t = Timers::default();
        t.schedule(30, Timer::DeclineCooldown(c(1)));
        t.schedule(10, Timer::DeclineCooldown(c(1)));
        t.schedule(10, Timer::DeclineCooldown(c(1)));
        t.schedule(20, Timer::DeclineCooldown(c(1)));
        assert_eq!(t.len(), 3, "the same time twice is one timer");
        assert_eq!(
            t.pop_due(10, TimerKind::DeclineCooldown),
            [(10, Timer::DeclineCooldown(c(1)))]
        );
        t.check_index().unwrap();
        assert!(t.is_scheduled(Timer::DeclineCooldown(c(1))));
        assert_eq!(t.pop_due(25, TimerKind::DeclineCooldown).len(), 1);
        t.check_index().unwrap();
        t.reschedule(50, Timer::DeclineCooldown(c(1)));
        assert_eq!(
            t.iter().collect::<Vec<_>>(),
            [(50, Timer::DeclineCooldown(c(1)))]
        );
        t.check_index().unwrap();
    }

    #[test]
    fn reschedule_replaces_and_snapshot_round_trips() {
        let mut t = Timers::default();
        t.schedule(10, Timer::IdleCheck(c(4)));
        t.reschedule(70, Timer::IdleCheck(c(4)));
        t.schedule(5, Timer::DeclineCooldown(c(4)));
        t.schedule(6, Timer::DeclineCooldown(c(4)));
        t.schedule(3, Timer::AgentReturn(u32::MAX));
        assert!(!t.contains(10, Timer::IdleCheck(c(4))));
        assert!(t.contains(70, Timer::IdleCheck(c(4))));
        let bytes = postcard::to_stdvec(&t).unwrap();
        let back: Timers = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, t);
        back.check_index().unwrap();
        assert_eq!(
            back.iter().collect::<Vec<_>>(),
            t.iter().collect::<Vec<_>>()
        );
    }
}
