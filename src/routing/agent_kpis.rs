//! Agent KPIs: what the event stream says about each agent's work, kept in
//! five-minute buckets for seven days so that "over a chosen window" is a sum.
//!
//! Supervisors ask how agents are doing over the last hour, shift or week. Keeping
//! every conversation to answer that would grow without bound; keeping one running
//! total per agent could not answer "the last hour". So each agent has a short run of
//! [`Tally`] buckets, one per [`BUCKET_SECS`] in which something happened, the oldest
//! dropped once they fall out of [`HORIZON_SECS`]; a window is the sum of its buckets.
//! At most `[routing.kpis] max_agents` agents are kept per tenant (the least recently
//! active goes first), so a tenant's KPIs take at most `max_agents` × 2,016 buckets
//! of 80 bytes, and much less in practice: a bucket exists only where an agent did
//! something.
//!
//! Like the [`super::board::Board`], the fold is built from [`Event`]s (and the
//! agents' sign-ins, sign-outs and presence changes, which are commands rather than
//! events), is applied during a journal replay like live, and is kept in snapshots.
//! It allocates only for a new agent, a new bucket or a conversation it starts
//! tracking, never per event otherwise.
//!
//! What each measure is, exactly (credited to the bucket of the event that completes
//! it, unless said otherwise):
//!
//! - **handled**: conversations the agent closed (`Closed`).
//! - **handle time**: for a handled conversation, the time it was assigned to the
//!   closing agent: from each `Accepted` to the next `Parked` or the `Closed`, summed
//!   (a parked stretch does not count; time with an agent it was transferred from does
//!   not either).
//! - **complaints**: handled conversations that were complaints: a bot handed them
//!   over for a complaint, or they had the complaint boost (`Closed` says so).
//! - **transfers**: conversations the agent handed on (`Transferred` from it).
//! - **offers** and **accepted within**: offers made to the agent (`Offered`), and of
//!   those the ones it accepted, and accepted within `accept_within_secs` (15 s) of the
//!   offer. Both are credited to the bucket of the *offer*, so the share is over the
//!   offers a window holds.
//! - **first reply**: from `Accepted` to the agent's first reply after it
//!   (`AgentReplied`, which the router emits for the first reply after each accept).
//! - **satisfaction** and **good reviews**: the satisfaction answers to the survey
//!   after the agent's closes, on 1-5 (three faces are 1, 3 and 5), their sum, and
//!   the answers of 4 or more; credited when the customer answers.
//! - **idle while customers waited**: time the agent was signed in, not away, and held
//!   no conversation (none offered or assigned; parked ones do not hold it), while at
//!   least one conversation waited in the queue of the agent's last accepted
//!   conversation (any queue before its first). An approximation of "idle with free
//!   capacity while a conversation it could take waited": the router offers waiting
//!   work to an available agent at once, so the literal measure is almost always 0;
//!   what is left, and what a supervisor wants to see, is time between conversations
//!   (wrap-up included, presence `away` excluded) while its queue had customers
//!   waiting. Credited when the idle stretch ends (an offer, away, sign-out), and an
//!   open stretch counts up to the moment of the query.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::events::{Event, EventKind, QueueReason};
use super::model::{AgentId, ConversationId, Millis, Presence};
use super::surveys::{Question, on_five_points};

/// Width of one bucket, in seconds: the granularity of a window.
pub const BUCKET_SECS: u64 = 300;
const BUCKET_MS: u64 = BUCKET_SECS * 1000;
/// How far back buckets are kept, in seconds (seven days): the longest window.
pub const HORIZON_SECS: u64 = 7 * 24 * 3600;
const HORIZON_BUCKETS: u64 = HORIZON_SECS / BUCKET_SECS;
/// The window a query gets when it names none, in seconds.
pub const DEFAULT_WINDOW_SECS: u64 = 3600;
/// A satisfaction answer at or above this (on 1-5) is a good review.
pub const GOOD_REVIEW: u8 = 4;

/// `[routing.kpis]`: what the agent KPIs count as a prompt accept, and how many
/// agents a tenant keeps KPIs for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KpiPolicy {
    /// An offer accepted within this many seconds counts as accepted promptly (1-3600).
    pub accept_within_secs: u64,
    /// Agents kept per tenant; a new agent beyond it replaces the least recently
    /// active one (1-100,000).
    pub max_agents: usize,
}

impl Default for KpiPolicy {
    fn default() -> KpiPolicy {
        KpiPolicy {
            accept_within_secs: 15,
            max_agents: 2_000,
        }
    }
}

impl KpiPolicy {
    /// Checks the settings; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=3_600).contains(&self.accept_within_secs) {
            return Err("kpis.accept_within_secs: must be 1-3600".to_owned());
        }
        if !(1..=100_000).contains(&self.max_agents) {
            return Err("kpis.max_agents: must be 1-100000".to_owned());
        }
        Ok(())
    }
}

/// One agent's counts over a stretch of time (a bucket, or a window's sum).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Conversations the agent closed.
    pub handled: u32,
    /// Their handle time, summed, in milliseconds.
    pub handle_ms: u64,
    /// Handled conversations that were complaints.
    pub complaints: u32,
    /// Conversations the agent transferred.
    pub transfers: u32,
    /// Offers made to the agent.
    pub offers: u32,
    /// Of those, the ones it accepted.
    pub accepted: u32,
    /// Of those, the ones accepted within `accept_within_secs`.
    pub accepted_within: u32,
    /// First replies after an accept.
    pub first_replies: u32,
    /// Their time from the accept, summed, in milliseconds.
    pub first_reply_ms: u64,
    /// Satisfaction answers for the agent's closes.
    pub satisfaction_answers: u32,
    /// Their scores on 1-5, summed.
    pub satisfaction_sum: u32,
    /// Answers of [`GOOD_REVIEW`] or more.
    pub good_reviews: u32,
    /// Idle time while customers waited, in milliseconds.
    pub idle_waiting_ms: u64,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.handled += o.handled;
        self.handle_ms += o.handle_ms;
        self.complaints += o.complaints;
        self.transfers += o.transfers;
        self.offers += o.offers;
        self.accepted += o.accepted;
        self.accepted_within += o.accepted_within;
        self.first_replies += o.first_replies;
        self.first_reply_ms += o.first_reply_ms;
        self.satisfaction_answers += o.satisfaction_answers;
        self.satisfaction_sum += o.satisfaction_sum;
        self.good_reviews += o.good_reviews;
        self.idle_waiting_ms += o.idle_waiting_ms;
    }

    /// Mean handle time in seconds; `None` with nothing handled.
    pub fn handle_secs_mean(&self) -> Option<f64> {
        mean_secs(self.handle_ms, self.handled)
    }

    /// Mean first-reply time in seconds; `None` with no first reply.
    pub fn first_reply_secs_mean(&self) -> Option<f64> {
        mean_secs(self.first_reply_ms, self.first_replies)
    }

    /// Mean satisfaction on 1-5; `None` with no answer.
    pub fn satisfaction_mean(&self) -> Option<f64> {
        ratio(self.satisfaction_sum, self.satisfaction_answers)
    }

    /// Share of satisfaction answers that were good reviews; `None` with no answer.
    pub fn good_review_rate(&self) -> Option<f64> {
        ratio(self.good_reviews, self.satisfaction_answers)
    }

    /// Share of offers accepted within the threshold; `None` with no offer.
    pub fn accepted_within_rate(&self) -> Option<f64> {
        ratio(self.accepted_within, self.offers)
    }
}

fn mean_secs(ms: u64, n: u32) -> Option<f64> {
    (n > 0).then(|| ms as f64 / 1000.0 / f64::from(n))
}

fn ratio(part: u32, whole: u32) -> Option<f64> {
    (whole > 0).then(|| f64::from(part) / f64::from(whole))
}

/// A figure an event completed, for the aggregate metrics (which carry no agent id).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Measure {
    /// An agent closed a conversation after this much handle time.
    Handled {
        /// Handle time, milliseconds.
        handle_ms: u64,
        /// Whether it was a complaint.
        complaint: bool,
    },
    /// An agent accepted an offer this long after it was made.
    Accepted {
        /// Offer to accept, milliseconds.
        after_ms: u64,
        /// Within `accept_within_secs`.
        within: bool,
    },
    /// An agent's first reply this long after the accept.
    FirstReply {
        /// Accept to first reply, milliseconds.
        after_ms: u64,
    },
    /// An agent's idle stretch while customers waited ended.
    Idle {
        /// Milliseconds idle while customers waited.
        ms: u64,
    },
}

/// An agent's session, as its commands tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Session {
    /// It signed in (or in again) with this presence.
    SignedIn(Presence),
    /// It set this presence.
    Presence(Presence),
    /// It signed out.
    SignedOut,
}

/// A window out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("window_secs: must be 1-{HORIZON_SECS} seconds (0 = {DEFAULT_WINDOW_SECS})")]
pub struct WindowError;

/// What a window query returns.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// Start of the first bucket summed (the window rounded out to whole buckets).
    pub since: Millis,
    /// The window asked for, in seconds (after the default).
    pub window_secs: u64,
    /// Each agent's sums, by agent id.
    pub agents: Vec<(AgentId, Tally)>,
}

/// Time during which a queue had at least one conversation waiting, as a clock that
/// only runs then: an idle stretch is the clock's advance over it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct WaitClock {
    /// Conversations waiting now.
    waiting: u32,
    /// When `waiting` last rose from 0.
    since: Millis,
    /// Milliseconds run before `since`.
    run_ms: u64,
}

impl WaitClock {
    fn value(&self, now: Millis) -> u64 {
        self.run_ms
            + if self.waiting > 0 {
                now.saturating_sub(self.since)
            } else {
                0
            }
    }

    fn rise(&mut self, now: Millis) {
        if self.waiting == 0 {
            self.since = now;
        }
        self.waiting += 1;
    }

    fn fall(&mut self, now: Millis) {
        if self.waiting == 1 {
            self.run_ms += now.saturating_sub(self.since);
        }
        self.waiting = self.waiting.saturating_sub(1);
    }
}

/// One agent's buckets and where it stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct AgentRecord {
    /// Buckets with something in them, oldest first, by bucket index.
    buckets: VecDeque<(u64, Tally)>,
    /// Conversations offered or assigned to it now.
    held: u32,
    /// Signed in, as its commands (and offers) tell.
    signed_in: bool,
    /// Presence away (set by the agent, or by the router at an offer timeout).
    away: bool,
    /// Queue of the conversation it last accepted: whose waiting customers its idle
    /// time is counted against.
    last_queue: Option<usize>,
    /// An open idle stretch: which clock (queue index, or `None` for any queue) and
    /// its value at the start.
    idle_from: Option<(Option<usize>, u64)>,
    /// Its last event, to pick the agent to drop at the bound.
    last_active: Millis,
}

impl AgentRecord {
    fn new(now: Millis) -> AgentRecord {
        AgentRecord {
            buckets: VecDeque::new(),
            held: 0,
            signed_in: true,
            away: false,
            last_queue: None,
            idle_from: None,
            last_active: now,
        }
    }

    /// The bucket of `at`, created when new (expired ones dropped then). An `at`
    /// older than the newest bucket goes to the bucket that holds it, or the newest.
    fn bucket(&mut self, at: Millis) -> &mut Tally {
        let index = at / BUCKET_MS;
        match self.buckets.back().map(|b| b.0) {
            Some(last) if last >= index => {
                let pos = self
                    .buckets
                    .iter()
                    .rposition(|b| b.0 == index)
                    .unwrap_or(self.buckets.len() - 1);
                &mut self.buckets[pos].1
            }
            _ => {
                self.expire(index);
                self.buckets.push_back((index, Tally::default()));
                &mut self.buckets.back_mut().expect("just pushed").1
            }
        }
    }

    /// An existing bucket of `at`, if it is still kept.
    fn existing_bucket(&mut self, at: Millis) -> Option<&mut Tally> {
        let index = at / BUCKET_MS;
        self.buckets
            .iter_mut()
            .rev()
            .find(|b| b.0 == index)
            .map(|b| &mut b.1)
    }

    /// Drops buckets out of the horizon as of bucket `current`.
    fn expire(&mut self, current: u64) {
        while self
            .buckets
            .front()
            .is_some_and(|b| b.0 + HORIZON_BUCKETS <= current)
        {
            self.buckets.pop_front();
        }
    }

    fn should_idle(&self) -> bool {
        self.signed_in && !self.away && self.held == 0
    }
}

/// A conversation the fold follows: who holds it, since when, whether it waits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Tracked {
    /// The agent it was last offered to (and may still hold).
    agent: Option<AgentId>,
    /// Whether that agent holds it now (offered or assigned).
    holding: bool,
    /// When it was last offered.
    offered_at: Millis,
    /// When the current assignment began, while assigned.
    assigned_at: Option<Millis>,
    /// Time assigned to `agent` before the current assignment (parked in between).
    held_ms: u64,
    /// The queue it waits in, while waiting.
    waiting: Option<usize>,
}

impl Tracked {
    fn new() -> Tracked {
        Tracked {
            agent: None,
            holding: false,
            offered_at: 0,
            assigned_at: None,
            held_ms: 0,
            waiting: None,
        }
    }
}

/// Every agent's KPI buckets for one tenant, folded from its events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentKpis {
    /// The configured policy; not saved (the configuration in force applies).
    #[serde(skip)]
    policy: KpiPolicy,
    /// Agents by id.
    agents: FxHashMap<AgentId, AgentRecord>,
    /// Open conversations that waited or were offered.
    conversations: FxHashMap<ConversationId, Tracked>,
    /// One waiting clock per queue index.
    queues: Vec<WaitClock>,
    /// The clock of all queues together.
    any_queue: WaitClock,
    /// Newest bucket index seen: a new one sweeps expired buckets.
    current: u64,
}

impl AgentKpis {
    /// An empty fold.
    pub fn new(policy: KpiPolicy) -> AgentKpis {
        AgentKpis {
            policy,
            agents: FxHashMap::default(),
            conversations: FxHashMap::default(),
            queues: Vec::new(),
            any_queue: WaitClock::default(),
            current: 0,
        }
    }

    /// The same fold under the policy in force (after a restore).
    pub fn with_policy(mut self, policy: KpiPolicy) -> AgentKpis {
        self.policy = policy;
        self
    }

    /// Agents with KPIs kept.
    pub fn agents_len(&self) -> usize {
        self.agents.len()
    }

    /// Applies one event; returns the figure it completed, for the metrics.
    pub fn apply(&mut self, event: &Event) -> Option<Measure> {
        let at = event.at;
        self.sweep(at);
        let id = event.conversation;
        // A waiting conversation moved to another queue (a fallback queue).
        if let Some(t) = self.conversations.get_mut(&id)
            && let Some(q) = t.waiting
            && q != event.queue
        {
            t.waiting = Some(event.queue);
            clock(&mut self.queues, q).fall(at);
            clock(&mut self.queues, event.queue).rise(at);
        }
        match &event.kind {
            EventKind::Queued { reason, .. } => {
                self.release(id, at, *reason == QueueReason::OfferTimeout);
                let t = self.conversations.entry(id).or_insert_with(Tracked::new);
                if t.waiting.is_none() {
                    t.waiting = Some(event.queue);
                    clock(&mut self.queues, event.queue).rise(at);
                    self.any_queue.rise(at);
                }
                None
            }
            EventKind::Offered { agent, .. } => self.offered(id, agent, at),
            EventKind::Accepted { agent, .. } => self.accepted(id, agent, at, event.queue),
            EventKind::AgentReplied { agent } => {
                let t = self.conversations.get(&id)?;
                let since = t.assigned_at.filter(|_| t.agent.as_ref() == Some(agent))?;
                let after_ms = at.saturating_sub(since);
                let record = self.agents.get_mut(agent)?;
                record.last_active = at;
                let b = record.bucket(at);
                b.first_replies += 1;
                b.first_reply_ms += after_ms;
                Some(Measure::FirstReply { after_ms })
            }
            EventKind::Transferred { from, .. } => {
                self.release(id, at, false);
                if let Some(t) = self.conversations.get_mut(&id) {
                    t.held_ms = 0;
                    t.agent = None;
                }
                let record = self.agents.get_mut(from)?;
                record.bucket(at).transfers += 1;
                None
            }
            EventKind::Parked { .. } => {
                self.release(id, at, false);
                None
            }
            EventKind::Closed { agent, complaint } => {
                let t = self.conversations.get(&id)?;
                let handle_ms = t.held_ms
                    + t.assigned_at
                        .filter(|_| t.agent.as_ref() == Some(agent))
                        .map_or(0, |since| at.saturating_sub(since));
                let complaint = *complaint;
                self.end(id, at);
                let record = self.agents.get_mut(agent)?;
                record.last_active = at;
                let b = record.bucket(at);
                b.handled += 1;
                b.handle_ms += handle_ms;
                b.complaints += u32::from(complaint);
                Some(Measure::Handled {
                    handle_ms,
                    complaint,
                })
            }
            EventKind::Abandoned { .. } | EventKind::BotFinished => {
                self.end(id, at);
                None
            }
            EventKind::SurveyAnswered {
                question: Question::Satisfaction(scale),
                score,
                agent,
            } => {
                let five = on_five_points(*score, *scale);
                let record = self.agents.get_mut(agent)?;
                let b = record.bucket(at);
                b.satisfaction_answers += 1;
                b.satisfaction_sum += u32::from(five);
                b.good_reviews += u32::from(five >= GOOD_REVIEW);
                None
            }
            EventKind::Created { .. }
            | EventKind::FirstResponse { .. }
            | EventKind::HandedOff { .. }
            | EventKind::Boosted { .. }
            | EventKind::SurveyAsked
            | EventKind::SurveyAnswered { .. }
            | EventKind::SurveyUnanswered { .. }
            | EventKind::AnswerRated { .. }
            | EventKind::Escalated { .. } => None,
        }
    }

    /// An agent signed in, out, or set its presence (these are commands, not events).
    /// Returns the idle stretch it ended, for the metrics.
    pub fn session(&mut self, at: Millis, agent: &str, session: Session) -> Option<Measure> {
        self.sweep(at);
        if !self.agents.contains_key(agent) {
            if session == Session::SignedOut {
                return None;
            }
            let id: AgentId = AgentId::from(agent);
            self.admit(id, at);
        }
        let record = self.agents.get_mut(agent).expect("admitted above");
        record.last_active = at;
        let measure = match session {
            Session::SignedIn(presence) => {
                // A stretch still open from before (a restart, a missed sign-out) is
                // not idle time anyone saw: it is dropped, not credited.
                record.idle_from = None;
                record.signed_in = true;
                record.away = presence == Presence::Away;
                None
            }
            Session::Presence(presence) => {
                record.away = presence == Presence::Away;
                if record.should_idle() {
                    None
                } else {
                    close_idle(record, &self.queues, &self.any_queue, at)
                }
            }
            Session::SignedOut => {
                record.signed_in = false;
                close_idle(record, &self.queues, &self.any_queue, at)
            }
        };
        open_idle(record, &self.queues, &self.any_queue, at);
        measure
    }

    /// The process restarted: every agent counts as signed out until it signs in again
    /// (the router awaits them; those that never come back must not idle for ever).
    pub fn restarted(&mut self) {
        for record in self.agents.values_mut() {
            record.signed_in = false;
            record.idle_from = None;
        }
    }

    /// Each agent's sums over the last `window_secs` (0 = [`DEFAULT_WINDOW_SECS`]), or
    /// only `agent`'s. The window is rounded out to whole buckets: the bucket of `now`
    /// and the ones before it, `window_secs` ÷ [`BUCKET_SECS`] buckets in all (rounded
    /// up). An open idle stretch counts up to `now`.
    pub fn window(
        &self,
        now: Millis,
        window_secs: u64,
        agent: Option<&str>,
    ) -> Result<Window, WindowError> {
        let window_secs = match window_secs {
            0 => DEFAULT_WINDOW_SECS,
            s if s > HORIZON_SECS => return Err(WindowError),
            s => s,
        };
        let current = now / BUCKET_MS;
        let first = (current + 1).saturating_sub(window_secs.div_ceil(BUCKET_SECS));
        let sum = |record: &AgentRecord| {
            let mut tally = Tally::default();
            for (_, b) in record.buckets.iter().rev().take_while(|b| b.0 >= first) {
                tally.add(b);
            }
            if let Some((queue, start)) = record.idle_from {
                let value = clock_value(&self.queues, &self.any_queue, queue, now);
                tally.idle_waiting_ms += value.saturating_sub(start);
            }
            tally
        };
        let mut agents: Vec<(AgentId, Tally)> = match agent {
            Some(a) => self
                .agents
                .get_key_value(a)
                .map(|(id, r)| (id.clone(), sum(r)))
                .into_iter()
                .collect(),
            None => self
                .agents
                .iter()
                .map(|(id, r)| (id.clone(), sum(r)))
                .collect(),
        };
        agents.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Window {
            since: first * BUCKET_MS,
            window_secs,
            agents,
        })
    }

    /// At a new bucket: drops expired buckets, and agents with nothing left that are
    /// signed out. One pass over the agents every [`BUCKET_SECS`] at most.
    fn sweep(&mut self, at: Millis) {
        let current = at / BUCKET_MS;
        if current <= self.current {
            return;
        }
        self.current = current;
        self.agents.retain(|_, r| {
            r.expire(current);
            r.signed_in || r.held > 0 || !r.buckets.is_empty()
        });
    }

    /// Starts keeping an agent, dropping the least recently active one at the bound.
    fn admit(&mut self, id: AgentId, at: Millis) {
        if self.agents.len() >= self.policy.max_agents
            && let Some(oldest) = self
                .agents
                .iter()
                .min_by_key(|(id, r)| (r.last_active, AgentId::clone(id)))
                .map(|(id, _)| id.clone())
        {
            self.agents.remove(&oldest);
        }
        self.agents.insert(id, AgentRecord::new(at));
    }

    fn offered(&mut self, id: ConversationId, agent: &AgentId, at: Millis) -> Option<Measure> {
        self.release(id, at, false);
        let t = self.conversations.entry(id).or_insert_with(Tracked::new);
        if let Some(q) = t.waiting.take() {
            clock(&mut self.queues, q).fall(at);
            self.any_queue.fall(at);
        }
        if t.agent.as_ref() != Some(agent) {
            t.held_ms = 0;
            t.agent = Some(agent.clone());
        }
        t.holding = true;
        t.offered_at = at;
        t.assigned_at = None;
        if !self.agents.contains_key(agent) {
            self.admit(agent.clone(), at);
        }
        let record = self.agents.get_mut(agent).expect("admitted above");
        record.signed_in = true;
        record.last_active = at;
        let idle = close_idle(record, &self.queues, &self.any_queue, at);
        record.held += 1;
        record.bucket(at).offers += 1;
        idle
    }

    fn accepted(
        &mut self,
        id: ConversationId,
        agent: &AgentId,
        at: Millis,
        queue: usize,
    ) -> Option<Measure> {
        let t = self.conversations.get_mut(&id)?;
        if !t.holding || t.agent.as_ref() != Some(agent) {
            return None;
        }
        t.assigned_at = Some(at);
        let after_ms = at.saturating_sub(t.offered_at);
        let within = after_ms <= self.policy.accept_within_secs * 1000;
        let offered_at = t.offered_at;
        let record = self.agents.get_mut(agent)?;
        record.last_active = at;
        record.last_queue = Some(queue);
        if let Some(b) = record.existing_bucket(offered_at) {
            b.accepted += 1;
            b.accepted_within += u32::from(within);
        }
        Some(Measure::Accepted { after_ms, within })
    }

    /// The agent holding `id` (if one does) no longer does; an offer timeout also sets
    /// it away, as the router does.
    fn release(&mut self, id: ConversationId, at: Millis, timed_out: bool) {
        let Some(t) = self.conversations.get_mut(&id) else {
            return;
        };
        if !t.holding {
            return;
        }
        t.holding = false;
        if let Some(since) = t.assigned_at.take() {
            t.held_ms += at.saturating_sub(since);
        }
        let Some(record) = t.agent.as_ref().and_then(|a| self.agents.get_mut(a)) else {
            return;
        };
        record.held = record.held.saturating_sub(1);
        if timed_out {
            record.away = true;
        }
        open_idle(record, &self.queues, &self.any_queue, at);
    }

    /// A conversation ended: its holder is free, it waits no more, it is forgotten.
    fn end(&mut self, id: ConversationId, at: Millis) {
        self.release(id, at, false);
        if let Some(t) = self.conversations.remove(&id)
            && let Some(q) = t.waiting
        {
            clock(&mut self.queues, q).fall(at);
            self.any_queue.fall(at);
        }
    }
}

/// The waiting clock of queue `q`, grown when a queue index is new (bounded by the
/// configured queues).
fn clock(queues: &mut Vec<WaitClock>, q: usize) -> &mut WaitClock {
    if queues.len() <= q {
        queues.resize(q + 1, WaitClock::default());
    }
    &mut queues[q]
}

fn clock_value(queues: &[WaitClock], any: &WaitClock, q: Option<usize>, now: Millis) -> u64 {
    match q {
        Some(q) => queues.get(q).map_or(0, |c| c.value(now)),
        None => any.value(now),
    }
}

/// Opens an idle stretch when the agent is now idle and none is open.
fn open_idle(record: &mut AgentRecord, queues: &[WaitClock], any: &WaitClock, at: Millis) {
    if record.idle_from.is_none() && record.should_idle() {
        let q = record.last_queue;
        record.idle_from = Some((q, clock_value(queues, any, q, at)));
    }
}

/// Closes the open idle stretch, crediting it.
fn close_idle(
    record: &mut AgentRecord,
    queues: &[WaitClock],
    any: &WaitClock,
    at: Millis,
) -> Option<Measure> {
    let (q, start) = record.idle_from.take()?;
    let ms = clock_value(queues, any, q, at).saturating_sub(start);
    if ms == 0 {
        return None;
    }
    record.bucket(at).idle_waiting_ms += ms;
    Some(Measure::Idle { ms })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::customer::Scale;
    use crate::routing::events::TransferTarget;
    use crate::routing::model::Channel;
    use crate::routing::priority::{Boost, PriorityKey};

    const ANN: &str = "ann";

    fn ev(at: Millis, conversation: u64, kind: EventKind) -> Event {
        Event {
            seq: 0,
            at,
            conversation: ConversationId(conversation),
            channel: Channel::Web,
            tier: 0,
            queue: 0,
            kind,
        }
    }

    fn queued(reason: QueueReason) -> EventKind {
        EventKind::Queued {
            reason,
            key: PriorityKey {
                virtual_arrival: 0,
                arrival_seq: 0,
            },
            required: Arc::from(Vec::new()),
        }
    }

    fn agent(name: &str) -> AgentId {
        AgentId::from(name)
    }

    fn offered(name: &str) -> EventKind {
        EventKind::Offered {
            agent: agent(name),
            waited_ms: 0,
        }
    }

    fn accepted(name: &str) -> EventKind {
        EventKind::Accepted {
            agent: agent(name),
            waited_ms: 0,
        }
    }

    fn closed(complaint: bool) -> EventKind {
        EventKind::Closed {
            agent: agent(ANN),
            complaint,
        }
    }

    fn answered(score: u8) -> EventKind {
        EventKind::SurveyAnswered {
            question: Question::Satisfaction(Scale::FivePoint),
            score,
            agent: agent(ANN),
        }
    }

    fn tally(kpis: &AgentKpis, now: Millis, window_secs: u64, who: &str) -> Tally {
        let window = kpis.window(now, window_secs, Some(who)).unwrap();
        assert_eq!(window.agents.len(), 1, "{who} has a row");
        window.agents[0].1
    }

    /// Ann's shift, worked by hand (times in seconds; buckets are 0-300 and 300-600):
    ///
    /// | at | what | figures |
    /// |---:|---|---|
    /// | 0 | ann signs in, available | idle, but nobody waits |
    /// | 10 | c1 queued | the wait clock runs |
    /// | 12 | c1 offered to ann | idle 2 s; offer 1 (bucket 0) |
    /// | 20 | ann accepts | 8 s: within 15 s |
    /// | 50 | ann's first reply | first reply 30 s |
    /// | 200 | ann closes c1 | handled 1, handle 180 s |
    /// | 205, 210 | c2 complaint boost, queued | |
    /// | 230 | c2 offered to ann | idle 20 s; offer 2 (bucket 0) |
    /// | 260 | ann accepts | 30 s: not within |
    /// | 300 | c2 parked | 40 s assigned so far |
    /// | 400, 401 | c2 back, offered to ann | idle 1 s (bucket 1); offer 3 (bucket 1) |
    /// | 403 | ann accepts | 2 s: within |
    /// | 413 | ann's first reply | first reply 10 s |
    /// | 463 | ann closes c2 | handled 2, handle 40 + 60 = 100 s, a complaint |
    /// | 470 | c3 queued and offered to ann | offer 4 (bucket 1), no idle |
    /// | 475 | ann accepts | 5 s: within |
    /// | 480 | ann transfers c3 to the queue | transfers 1; c3 waits: idle runs |
    /// | 500, 510 | surveys of c1 and c2: 5 and 2 | answers 2, mean 3.5, good 1 |
    /// | 540 | the query | open idle stretch: 60 s |
    #[test]
    fn a_shift_worked_by_hand() {
        let mut kpis = AgentKpis::new(KpiPolicy::default());
        let s = 1000;
        assert_eq!(
            kpis.session(0, ANN, Session::SignedIn(Presence::Available)),
            None
        );
        let events = [
            ev(10 * s, 1, queued(QueueReason::New)),
            ev(12 * s, 1, offered(ANN)),
            ev(20 * s, 1, accepted(ANN)),
            ev(50 * s, 1, EventKind::AgentReplied { agent: agent(ANN) }),
            ev(200 * s, 1, closed(false)),
            ev(
                205 * s,
                2,
                EventKind::Boosted {
                    boost: Boost::Complaint,
                    key: PriorityKey {
                        virtual_arrival: 0,
                        arrival_seq: 0,
                    },
                },
            ),
            ev(210 * s, 2, queued(QueueReason::New)),
            ev(230 * s, 2, offered(ANN)),
            ev(260 * s, 2, accepted(ANN)),
            ev(300 * s, 2, EventKind::Parked { agent: agent(ANN) }),
            ev(400 * s, 2, queued(QueueReason::Returned)),
            ev(401 * s, 2, offered(ANN)),
            ev(403 * s, 2, accepted(ANN)),
            ev(413 * s, 2, EventKind::AgentReplied { agent: agent(ANN) }),
            ev(463 * s, 2, closed(true)),
            ev(470 * s, 3, queued(QueueReason::New)),
            ev(470 * s, 3, offered(ANN)),
            ev(475 * s, 3, accepted(ANN)),
            ev(
                480 * s,
                3,
                EventKind::Transferred {
                    from: agent(ANN),
                    target: TransferTarget::Queue(0),
                },
            ),
            ev(480 * s, 3, queued(QueueReason::Transferred)),
            ev(500 * s, 1, answered(5)),
            ev(510 * s, 2, answered(2)),
        ];
        let measures: Vec<Option<Measure>> = events.iter().map(|e| kpis.apply(e)).collect();
        assert_eq!(measures[1], Some(Measure::Idle { ms: 2 * s }));
        assert_eq!(
            measures[2],
            Some(Measure::Accepted {
                after_ms: 8 * s,
                within: true
            })
        );
        assert_eq!(measures[3], Some(Measure::FirstReply { after_ms: 30 * s }));
        assert_eq!(
            measures[4],
            Some(Measure::Handled {
                handle_ms: 180 * s,
                complaint: false
            })
        );
        assert_eq!(
            measures[14],
            Some(Measure::Handled {
                handle_ms: 100 * s,
                complaint: true
            })
        );

        let now = 540 * s;
        let all = tally(&kpis, now, 0, ANN);
        assert_eq!(
            all,
            Tally {
                handled: 2,
                handle_ms: 280 * s,
                complaints: 1,
                transfers: 1,
                offers: 4,
                accepted: 4,
                accepted_within: 3,
                first_replies: 2,
                first_reply_ms: 40 * s,
                satisfaction_answers: 2,
                satisfaction_sum: 7,
                good_reviews: 1,
                idle_waiting_ms: (2 + 20 + 1 + 60) * s,
            }
        );
        assert_eq!(all.handle_secs_mean(), Some(140.0));
        assert_eq!(all.first_reply_secs_mean(), Some(20.0));
        assert_eq!(all.satisfaction_mean(), Some(3.5));
        assert_eq!(all.good_review_rate(), Some(0.5));
        assert_eq!(all.accepted_within_rate(), Some(0.75));

        // The last 300 s are bucket 1 alone (300-600 s).
        let window = kpis.window(now, 300, None).unwrap();
        assert_eq!(window.since, 300 * s);
        let recent = window.agents[0].1;
        assert_eq!(
            recent,
            Tally {
                handled: 1,
                handle_ms: 100 * s,
                complaints: 1,
                transfers: 1,
                offers: 2,
                accepted: 2,
                accepted_within: 2,
                first_replies: 1,
                first_reply_ms: 10 * s,
                satisfaction_answers: 2,
                satisfaction_sum: 7,
                good_reviews: 1,
                idle_waiting_ms: (1 + 60) * s,
            }
        );
        // 301 s round out to two buckets: everything.
        assert_eq!(tally(&kpis, now, 301, ANN), all);
    }

    #[test]
    fn no_data_is_not_zero() {
        let mut kpis = AgentKpis::new(KpiPolicy::default());
        kpis.session(0, ANN, Session::SignedIn(Presence::Available));
        let t = tally(&kpis, 1_000, 0, ANN);
        assert_eq!(t, Tally::default());
        assert_eq!(t.handle_secs_mean(), None);
        assert_eq!(t.good_review_rate(), None);
        assert_eq!(t.accepted_within_rate(), None);
        assert!(
            kpis.window(1_000, 0, Some("nobody"))
                .unwrap()
                .agents
                .is_empty()
        );
    }

    #[test]
    fn idle_counts_only_while_signed_in_not_away_and_customers_wait() {
        let mut kpis = AgentKpis::new(KpiPolicy::default());
        let s = 1000;
        kpis.session(0, ANN, Session::SignedIn(Presence::Available));
        // c1 waits from 10 s (for agents ann is not, say): ann idles.
        kpis.apply(&ev(10 * s, 1, queued(QueueReason::New)));
        // Away from 30 s to 50 s: not idle.
        assert_eq!(
            kpis.session(30 * s, ANN, Session::Presence(Presence::Away)),
            Some(Measure::Idle { ms: 20 * s })
        );
        kpis.session(50 * s, ANN, Session::Presence(Presence::Available));
        // Signed out at 70 s: 20 s more, and nothing after.
        assert_eq!(
            kpis.session(70 * s, ANN, Session::SignedOut),
            Some(Measure::Idle { ms: 20 * s })
        );
        assert_eq!(tally(&kpis, 200 * s, 0, ANN).idle_waiting_ms, 40 * s);
        // Back at 200 s while c1 still waits: idle until its offer at 210 s. The offer
        // times out, which sets ann away, as the router does: no idle from 240 s.
        kpis.session(200 * s, ANN, Session::SignedIn(Presence::Available));
        assert_eq!(
            kpis.apply(&ev(210 * s, 1, offered(ANN))),
            Some(Measure::Idle { ms: 10 * s })
        );
        kpis.apply(&ev(240 * s, 1, queued(QueueReason::OfferTimeout)));
        let t = tally(&kpis, 280 * s, 0, ANN);
        assert_eq!((t.idle_waiting_ms, t.offers, t.accepted), (50 * s, 1, 0));
        // Available again at 280 s, then a restart: the open stretch is dropped and
        // ann counts as signed out until she signs in again.
        kpis.session(280 * s, ANN, Session::Presence(Presence::Available));
        assert_eq!(tally(&kpis, 290 * s, 0, ANN).idle_waiting_ms, 60 * s);
        kpis.restarted();
        assert_eq!(tally(&kpis, 900 * s, 0, ANN).idle_waiting_ms, 50 * s);
    }

    #[test]
    fn buckets_expire_after_the_horizon_and_windows_are_bounded() {
        let mut kpis = AgentKpis::new(KpiPolicy::default());
        kpis.apply(&ev(1_000, 1, queued(QueueReason::New)));
        kpis.apply(&ev(1_000, 1, offered(ANN)));
        kpis.apply(&ev(2_000, 1, accepted(ANN)));
        kpis.apply(&ev(3_000, 1, closed(false)));
        kpis.session(3_000, ANN, Session::SignedOut);
        let day = 86_400_000;
        // Six days later the close is still in a seven-day window.
        assert_eq!(tally(&kpis, 6 * day, HORIZON_SECS, ANN).handled, 1);
        assert_eq!(tally(&kpis, 6 * day, 3600, ANN).handled, 0);
        // Seven days later its bucket is out of every window, and the next event's
        // sweep forgets ann: signed out, nothing left.
        assert_eq!(tally(&kpis, 7 * day, HORIZON_SECS, ANN).handled, 0);
        kpis.apply(&ev(7 * day, 2, queued(QueueReason::New)));
        assert_eq!(kpis.agents_len(), 0);
        assert_eq!(kpis.window(0, HORIZON_SECS + 1, None), Err(WindowError));
        assert_eq!(kpis.window(0, 0, None).unwrap().window_secs, 3600);
    }

    #[test]
    fn agents_are_bounded_and_the_least_recently_active_goes() {
        let mut kpis = AgentKpis::new(KpiPolicy {
            max_agents: 2,
            ..KpiPolicy::default()
        });
        for (i, name) in ["a", "b", "c"].iter().enumerate() {
            let at = 1_000 * (i as u64 + 1);
            kpis.apply(&ev(at, i as u64, queued(QueueReason::New)));
            kpis.apply(&ev(at, i as u64, offered(name)));
        }
        assert_eq!(kpis.agents_len(), 2);
        let names: Vec<String> = kpis
            .window(5_000, 0, None)
            .unwrap()
            .agents
            .iter()
            .map(|(id, _)| id.to_string())
            .collect();
        assert_eq!(names, ["b", "c"]);
    }

    #[test]
    fn a_router_refuses_kpi_settings_out_of_range_naming_the_field() {
        use crate::routing::{Router, RoutingPolicy};
        let policy = |accept_within_secs| RoutingPolicy {
            kpis: KpiPolicy {
                accept_within_secs,
                ..KpiPolicy::default()
            },
            ..RoutingPolicy::default()
        };
        let err = Router::new(policy(0)).unwrap_err();
        assert!(err.to_string().contains("kpis.accept_within_secs"), "{err}");
        assert!(Router::new(policy(20)).is_ok());
    }
}
