//! External bot workers of one tenant: who is connected, what each serves, the tasks
//! in flight and their deadlines.
//!
//! A task that misses its deadline, or whose worker drops its stream, comes back as
//! the [`BotTurn`] it was made from, so the built-in bot can answer the same message:
//! the customer is never left waiting on a bot that is gone. A worker that misses
//! [`MISSES_BEFORE_PAUSE`] deadlines in a row gets no tasks for [`PAUSE_MS`], so a
//! stuck worker does not make every customer wait out the deadline; an answer ends
//! the run.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::routing::{
    AnsweredNotice, BotTurn, Channel, ConversationId, Customer, Millis, TranscriptEntry,
};
use crate::telemetry::metrics;

/// Deadlines missed in a row after which a worker is paused.
pub const MISSES_BEFORE_PAUSE: u32 = 3;
/// How long a paused worker gets no tasks, in milliseconds.
pub const PAUSE_MS: Millis = 30_000;

/// A customer message sent to an external bot worker.
#[derive(Debug, Clone)]
pub struct ExternalTask {
    /// Id the worker answers with.
    pub task_id: u64,
    /// The conversation.
    pub conversation: ConversationId,
    /// The channel.
    pub channel: Channel,
    /// Language tag, possibly detected.
    pub language: Arc<str>,
    /// The customer.
    pub customer: Customer,
    /// Transcript so far, ending with the message to answer.
    pub transcript: Vec<TranscriptEntry>,
    /// When the answer is due.
    pub deadline: Millis,
    /// True for the conversation's first message.
    pub first_turn: bool,
    /// The outbound notification the conversation answers, if it began as a reply.
    pub answers: Option<Arc<AnsweredNotice>>,
}

/// What a worker registered with.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    /// Worker id, unique in the tenant.
    pub bot_id: Arc<str>,
    /// Primary language tags it answers, lower-case; empty means all.
    pub languages: Vec<String>,
    /// Channels it serves; empty means all.
    pub channels: Vec<Channel>,
    /// Tasks it takes at once.
    pub capacity: usize,
}

#[derive(Debug)]
struct Worker {
    spec: WorkerSpec,
    /// Identifies the stream, so a stale stream cannot remove a newer one.
    token: u64,
    in_flight: usize,
    /// When it was last given a task, to spread ties.
    last_assigned: u64,
    /// Deadlines missed since its last answer.
    misses: u32,
    /// No tasks before this time (a run of missed deadlines).
    paused_until: Millis,
    tasks: mpsc::UnboundedSender<ExternalTask>,
}

impl Worker {
    fn serves(&self, turn: &BotTurn, language: &str) -> bool {
        (self.spec.channels.is_empty() || self.spec.channels.contains(&turn.channel))
            && (self.spec.languages.is_empty() || self.spec.languages.iter().any(|l| l == language))
    }
}

#[derive(Debug)]
struct Pending {
    worker: Arc<str>,
    turn: BotTurn,
    deadline: Millis,
}

/// The tenant's external bot workers and their tasks in flight.
#[derive(Debug, Default)]
pub struct BotPool {
    workers: HashMap<Arc<str>, Worker>,
    pending: HashMap<u64, Pending>,
    deadlines: BTreeSet<(Millis, u64)>,
    next_task: u64,
    assignments: u64,
}

impl BotPool {
    /// Registers a worker stream; tasks for it arrive on the returned receiver. A
    /// stream of the same bot id registered before is replaced (its task channel
    /// closes, which ends it); the tasks it held come back as turns for the built-in
    /// bot.
    pub fn connect(
        &mut self,
        spec: WorkerSpec,
        token: u64,
    ) -> (mpsc::UnboundedReceiver<ExternalTask>, Vec<BotTurn>) {
        let lost = match self.workers.get(&spec.bot_id) {
            Some(older) => {
                let older = older.token;
                self.disconnect(&spec.bot_id, older)
            }
            None => Vec::new(),
        };
        let (tasks, receiver) = mpsc::unbounded_channel();
        self.workers.insert(
            spec.bot_id.clone(),
            Worker {
                spec,
                token,
                in_flight: 0,
                last_assigned: 0,
                misses: 0,
                paused_until: 0,
                tasks,
            },
        );
        (receiver, lost)
    }

    /// Removes a worker whose stream ended; its tasks in flight come back as turns for
    /// the built-in bot.
    pub fn disconnect(&mut self, bot_id: &str, token: u64) -> Vec<BotTurn> {
        if self.workers.get(bot_id).is_none_or(|w| w.token != token) {
            return Vec::new();
        }
        self.workers.remove(bot_id);
        let lost: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| &*p.worker == bot_id)
            .map(|(&task, _)| task)
            .collect();
        lost.into_iter()
            .filter_map(|task| {
                let p = self.pending.remove(&task)?;
                self.deadlines.remove(&(p.deadline, task));
                metrics::record_bot_turn("external", "disconnected");
                Some(p.turn)
            })
            .collect()
    }

    /// Whether any worker is connected.
    pub fn has_workers(&self) -> bool {
        !self.workers.is_empty()
    }

    /// Connected workers with their tasks in flight, by id.
    pub fn workers(&self) -> Vec<(WorkerSpec, usize)> {
        let mut list: Vec<_> = self
            .workers
            .values()
            .map(|w| (w.spec.clone(), w.in_flight))
            .collect();
        list.sort_by(|a, b| a.0.bot_id.cmp(&b.0.bot_id));
        list
    }

    /// Gives a turn to the least-loaded worker that serves its channel and language
    /// and has room; `Err` hands the turn back when none can take it.
    pub fn assign(
        &mut self,
        turn: BotTurn,
        language: &str,
        now: Millis,
        deadline_ms: u64,
        context: impl FnOnce(ConversationId) -> Option<(Customer, Vec<TranscriptEntry>)>,
    ) -> Result<(), BotTurn> {
        let Some(worker) = self
            .workers
            .values_mut()
            .filter(|w| {
                w.in_flight < w.spec.capacity && w.paused_until <= now && w.serves(&turn, language)
            })
            .min_by(|a, b| {
                let load = |w: &Worker| w.in_flight as f64 / w.spec.capacity as f64;
                load(a)
                    .total_cmp(&load(b))
                    .then(a.last_assigned.cmp(&b.last_assigned))
            })
        else {
            return Err(turn);
        };
        let Some((customer, transcript)) = context(turn.conversation) else {
            return Err(turn);
        };
        self.next_task += 1;
        self.assignments += 1;
        let task_id = self.next_task;
        let deadline = now + deadline_ms;
        let task = ExternalTask {
            task_id,
            conversation: turn.conversation,
            channel: turn.channel,
            language: Arc::from(language),
            customer,
            transcript,
            deadline,
            first_turn: turn.first_turn,
            answers: turn.answers.clone(),
        };
        if worker.tasks.send(task).is_err() {
            // The stream is ending; its session removes the worker shortly.
            return Err(turn);
        }
        worker.in_flight += 1;
        worker.last_assigned = self.assignments;
        self.deadlines.insert((deadline, task_id));
        self.pending.insert(
            task_id,
            Pending {
                worker: worker.spec.bot_id.clone(),
                turn,
                deadline,
            },
        );
        Ok(())
    }

    /// A worker answered a task: the turn it was for, or `None` when the task is not
    /// this worker's or is no longer pending (answered already, or past its deadline).
    pub fn complete(&mut self, bot_id: &str, task_id: u64) -> Option<BotTurn> {
        if self
            .pending
            .get(&task_id)
            .is_none_or(|p| &*p.worker != bot_id)
        {
            return None;
        }
        let p = self.pending.remove(&task_id)?;
        self.deadlines.remove(&(p.deadline, task_id));
        if let Some(w) = self.workers.get_mut(bot_id) {
            w.in_flight -= 1;
            w.misses = 0;
        }
        Some(p.turn)
    }

    /// Tasks past their deadline, as turns for the built-in bot.
    pub fn expire(&mut self, now: Millis) -> Vec<BotTurn> {
        let mut late = Vec::new();
        while let Some(&(deadline, task_id)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_first();
            if let Some(p) = self.pending.remove(&task_id) {
                if let Some(w) = self.workers.get_mut(&p.worker) {
                    w.in_flight -= 1;
                    w.misses += 1;
                    if w.misses >= MISSES_BEFORE_PAUSE {
                        w.misses = 0;
                        w.paused_until = now + PAUSE_MS;
                        tracing::warn!(bot_id = %p.worker, pause_ms = PAUSE_MS,
                            "bot worker missed its deadline {MISSES_BEFORE_PAUSE} times in a row; paused");
                    }
                }
                metrics::record_bot_turn("external", "timeout");
                late.push(p.turn);
            }
        }
        late
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(conversation: u64, channel: Channel) -> BotTurn {
        BotTurn {
            conversation: ConversationId(conversation),
            channel,
            language: Arc::from("en"),
            text: Arc::from("where is my order"),
            first_turn: false,
            unsolved: None,
            answers: None,
        }
    }

    fn spec(id: &str, languages: &[&str], channels: &[Channel], capacity: usize) -> WorkerSpec {
        WorkerSpec {
            bot_id: Arc::from(id),
            languages: languages.iter().map(|l| (*l).to_owned()).collect(),
            channels: channels.to_vec(),
            capacity,
        }
    }

    fn context(id: ConversationId) -> Option<(Customer, Vec<TranscriptEntry>)> {
        let customer = Customer {
            id: Arc::from(format!("customer-{id}")),
            display_name: Arc::from(""),
            clv: 0.0,
        };
        Some((customer, Vec::new()))
    }

    fn assign(pool: &mut BotPool, conversation: u64, language: &str) -> Result<(), BotTurn> {
        pool.assign(turn(conversation, Channel::Web), language, 0, 500, context)
    }

    #[test]
    fn tasks_spread_over_workers_up_to_their_capacity() {
        let mut pool = BotPool::default();
        let mut a = pool.connect(spec("a", &[], &[], 2), 1).0;
        let mut b = pool.connect(spec("b", &[], &[], 2), 2).0;
        for c in 1..=4 {
            assign(&mut pool, c, "en").unwrap();
        }
        let (mut to_a, mut to_b) = (0, 0);
        while a.try_recv().is_ok() {
            to_a += 1;
        }
        while b.try_recv().is_ok() {
            to_b += 1;
        }
        assert_eq!((to_a, to_b), (2, 2), "least loaded first");
        let refused = assign(&mut pool, 5, "en").unwrap_err();
        assert_eq!(
            refused.conversation,
            ConversationId(5),
            "full: back to built-in"
        );
    }

    #[test]
    fn only_workers_serving_the_language_and_channel_get_tasks() {
        let mut pool = BotPool::default();
        let _zh = pool.connect(spec("zh", &["zh"], &[], 5), 1).0;
        let _email = pool.connect(spec("email", &[], &[Channel::Email], 5), 2).0;
        assert!(assign(&mut pool, 1, "en").is_err());
        assert!(assign(&mut pool, 2, "zh").is_ok());
        assert_eq!(pool.workers()[1].1, 1, "the zh worker took it");
    }

    #[test]
    fn late_and_lost_tasks_come_back_and_answers_count_once() {
        let mut pool = BotPool::default();
        let _a = pool.connect(spec("a", &[], &[], 5), 7).0;
        assign(&mut pool, 1, "en").unwrap();
        assign(&mut pool, 2, "en").unwrap();
        assert!(pool.expire(499).is_empty());
        let late = pool.expire(500);
        assert_eq!(late.len(), 2);
        assert!(
            pool.complete("a", 1).is_none(),
            "answered after its deadline"
        );
        assign(&mut pool, 3, "en").unwrap();
        assert!(pool.complete("b", 3).is_none(), "not that worker's task");
        assert!(
            pool.disconnect("a", 8).is_empty(),
            "a stale stream removes nothing"
        );
        // A newer stream of the same bot id replaces the older one, and what the
        // older one held comes back for the built-in bot.
        let (_a2, lost) = pool.connect(spec("a", &[], &[], 5), 9);
        assert_eq!(lost[0].conversation, ConversationId(3));
        assert!(
            pool.disconnect("a", 7).is_empty(),
            "the replaced stream removes nothing"
        );
        assert_eq!(pool.workers().len(), 1);
        assert!(pool.disconnect("a", 9).is_empty());
        assert!(pool.workers().is_empty());
    }

    #[test]
    fn a_worker_that_keeps_missing_deadlines_is_paused_until_later() {
        let mut pool = BotPool::default();
        let _slow = pool.connect(spec("slow", &[], &[], 10), 1).0;
        // Two misses, then an answer: the run ends, no pause.
        for c in 1..=2 {
            assign(&mut pool, c, "en").unwrap();
        }
        assert_eq!(pool.expire(500).len(), 2);
        assign(&mut pool, 3, "en").unwrap();
        assert!(pool.complete("slow", 3).is_some());
        // Three misses in a row: paused for PAUSE_MS from the third.
        for c in 4..=6 {
            assign(&mut pool, c, "en").unwrap();
        }
        assert_eq!(pool.expire(500).len(), 3);
        let at = |pool: &mut BotPool, now: Millis| {
            pool.assign(turn(7, Channel::Web), "en", now, 500, context)
        };
        assert!(
            at(&mut pool, 500 + PAUSE_MS - 1).is_err(),
            "paused: built-in answers"
        );
        assert!(
            at(&mut pool, 500 + PAUSE_MS).is_ok(),
            "back after the pause"
        );
    }
}
