//! One tenant: its router, its agent KPIs and its mailboxes, behind one lock.
//!
//! Every operation on a tenant takes the lock, runs the router, then, still under the
//! lock, applies the events in order (KPIs, metrics) and files the notices into
//! mailboxes. Holding the lock across both keeps events ordered and deliveries of one
//! conversation in order. Tenants never share a lock, so tenants never wait on each
//! other.
//!
//! Bot turns are the exception to "everything under the lock": a turn for an external
//! bot is sent to its stream at once, but the built-in bot's answers and agent-assist
//! suggestions are computed on the matching pool ([`super::matching`]) after the lock
//! is released, and answers are applied under it again, so matching text never holds
//! up routing or the async workers.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::{Notify, oneshot};

use super::bot_pool::BotPool;
use super::builtin_bot::{Matching, SharedBot, builtin_actions, turn_language};
use super::clock::Clock;
use super::mailbox::{AdapterMailbox, AdapterOutbox, AgentInbox, AgentMailbox};
use super::matching::{AssistRequest, InlineTarget, MatchingPool};
use crate::config::{BotConfig, Limits};
use crate::outbound::NotificationId;
use crate::routing::agent_kpis::{AgentKpis, Session};
use crate::routing::{
    AdapterId, AgentId, AgentNotice, Applied, BotTurn, Command, ConversationId, CustomerNotice,
    CustomerNoticeBody, EndReason, Millis, Notice, Router, RoutingError, Sender, SignIn,
};
use crate::storage::{Journal, record};
use crate::telemetry::hot::OperationMetrics;
use crate::telemetry::metrics;
use rustc_hash::FxHashMap;

/// A tenant's routing state.
#[derive(Debug)]
pub struct Tenant {
    /// Tenant id, for logs.
    pub name: Arc<str>,
    /// The state; see the module doc for why one lock.
    state: Mutex<TenantState>,
    /// The built-in bot, run outside the lock.
    bot: SharedBot,
    /// Where the built-in bot's work runs.
    matching: MatchingPool,
    /// Routing time (the matching pool applies answers at it too).
    clock: Clock,
    /// Suggestions per customer message for agents; 0 = assist off.
    assist_limit: usize,
    /// Open streams of this tenant.
    sessions: AtomicUsize,
    /// Set when a panic left the state half-updated.
    failed: AtomicBool,
    /// Most open streams (`limits.max_sessions_per_tenant`).
    max_sessions: usize,
}

/// How a tenant's changes are journaled, kept beside its state.
#[derive(Debug)]
struct Journaling {
    /// The journal; `None` when durability is off.
    journal: Option<Arc<Journal>>,
    /// Records of the operation running now, appended when it ends.
    records: Vec<Vec<u8>>,
    /// True while the journal is replayed: nothing is journaled again, sent to a
    /// peer or counted in metrics.
    replaying: bool,
    /// Sequence number of the tenant's last record.
    last_seq: u64,
    /// Sequence number its newest snapshot holds everything up to.
    snapshot_seq: u64,
    /// Customers erased so far; while above `erasures_purged`, a snapshot round also
    /// removes the older snapshot and journal generation that may hold their data.
    erasures: u64,
    /// `erasures` as it stood when a round last finished such a purge.
    erasures_purged: u64,
}

/// Everything a tenant's lock protects.
#[derive(Debug)]
pub struct TenantState {
    /// The routing core.
    pub router: Router,
    /// Per-agent KPIs folded from the router's events (Admin, metrics).
    pub kpis: AgentKpis,
    /// Deliveries per adapter id; each stream holds its own outbox too.
    pub(super) adapters: HashMap<AdapterId, AdapterOutbox>,
    /// Streams to wake once the lock is let go: what this operation filed for them.
    wakes: Vec<Arc<Notify>>,
    /// Notices per signed-in agent.
    pub(super) agents: HashMap<AgentId, AgentMailbox>,
    /// External bot workers and their tasks.
    pub bots: BotPool,
    /// Milliseconds an external bot has per task.
    answer_deadline_ms: u64,
    /// Turns for the built-in bot, answered once the lock is released.
    bot_work: Vec<BotTurn>,
    /// Customer messages to find agent-assist suggestions for, with the agent's mailbox.
    assist_work: Vec<AssistRequest>,
    /// Whether agent assist is on.
    assist_on: bool,
    /// Mailbox bounds.
    pub(super) limits: Limits,
    /// Tenant id, for journal records.
    tenant: Arc<str>,
    /// The journal and where this tenant stands in it.
    journaling: Journaling,
    /// Bot turns handed out and not answered yet, per conversation, oldest first: a
    /// restart gives them to the built-in bot again.
    outstanding: FxHashMap<ConversationId, VecDeque<BotTurn>>,
    /// Notifications an adapter mailbox had no room for, to be tried again.
    refused_notifications: Vec<NotificationId>,
}

/// What becomes of an agent whose desk session ended
/// ([`TenantState::sign_out_agent`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// The desk ended its stream, or the server ended it (a refusal, a mailbox read
    /// too slowly): the agent is signed out and its conversations are routed again.
    SignedOut,
    /// The connection dropped (the stream failed or was reset): the agent keeps its
    /// accepted conversations for `[routing] agent_reconnect_secs`, awaiting its
    /// return ([`Command::ConnectionLost`]).
    ConnectionLost,
    /// A drain with a journal: the agent stays signed in, holding its conversations
    /// for the next process to give back.
    CarriedOver,
}

/// Customer notices an operation asked to get back instead of mailing them.
pub type InlineReplies = Vec<CustomerNotice>;

impl Tenant {
    /// A tenant with an empty router, journaling to `journal` when there is one.
    pub fn new(
        name: Arc<str>,
        mut router: Router,
        limits: Limits,
        bot: SharedBot,
        bot_config: &BotConfig,
        services: TenantServices,
    ) -> Tenant {
        let TenantServices {
            journal,
            matching,
            clock,
        } = services;
        router.keep_ended(limits.ended_visible);
        Tenant {
            name: name.clone(),
            bot,
            matching,
            clock,
            assist_limit: bot_config.suggestions,
            sessions: AtomicUsize::new(0),
            failed: AtomicBool::new(false),
            max_sessions: limits.max_sessions_per_tenant,
            state: Mutex::new(TenantState {
                kpis: AgentKpis::new(router.policy().kpis),
                router,
                adapters: HashMap::new(),
                wakes: Vec::new(),
                refused_notifications: Vec::new(),
                agents: HashMap::new(),
                bots: BotPool::default(),
                answer_deadline_ms: bot_config.answer_deadline_ms,
                bot_work: Vec::new(),
                assist_work: Vec::new(),
                assist_on: bot_config.suggestions > 0,
                limits,
                tenant: name,
                journaling: Journaling {
                    journal,
                    records: Vec::new(),
                    replaying: false,
                    last_seq: 0,
                    snapshot_seq: 0,
                    erasures: 0,
                    erasures_purged: 0,
                },
                outstanding: FxHashMap::default(),
            }),
        }
    }

    /// The tenant's built-in bot (its knowledge base), reloaded on its own.
    pub fn bot(&self) -> &SharedBot {
        &self.bot
    }

    /// Suggestions per customer message for agents (0 = assist off).
    pub fn assist_limit(&self) -> usize {
        self.assist_limit
    }

    /// Takes one of the tenant's stream slots; false when all are taken.
    pub(super) fn take_session(&self) -> bool {
        if self.sessions.fetch_add(1, Ordering::AcqRel) >= self.max_sessions {
            self.sessions.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Gives a stream slot back.
    pub(super) fn release_session(&self) {
        self.sessions.fetch_sub(1, Ordering::AcqRel);
    }

    /// Whether the tenant has nothing for timers to do: no stream open, no open
    /// conversation, no notification waiting to be tried again and no campaign
    /// running.
    pub fn is_idle(&self) -> bool {
        let state = self.lock();
        self.sessions.load(Ordering::Acquire) == 0
            && state.router.open_len() == 0
            && !state.router.has_queued_notifications()
            && !state.router.has_active_campaigns()
    }

    /// Locks the tenant for `operation`, timing the wait and (until the guard drops)
    /// the hold. A panic in an earlier holder may have left the state half-updated:
    /// the tenant is then marked failed, which turns the replica unhealthy so it is
    /// restarted and the tenant recovered from its journal and snapshots (the
    /// operation that panicked was never journaled). Until then it serves on.
    pub fn lock_for(&self, operation: &'static str) -> TenantGuard<'_> {
        let asked = Instant::now();
        let guard = self.state.lock().unwrap_or_else(|poisoned| {
            if !self.failed.swap(true, Ordering::AcqRel) {
                metrics::record_tenant_failure();
                tracing::error!(
                    tenant = %self.name,
                    "a panic left this tenant's state half-updated; the replica reports \
                     itself unhealthy to be restarted and recover it from the journal"
                );
            }
            poisoned.into_inner()
        });
        let locked_at = Instant::now();
        let metrics = crate::telemetry::hot::operation(operation);
        if let Some(m) = metrics {
            m.lock_wait(locked_at - asked);
        }
        TenantGuard {
            guard: Some(guard),
            metrics,
            locked_at,
        }
    }

    /// Locks the tenant for work that is not one of the named operations.
    pub fn lock(&self) -> TenantGuard<'_> {
        self.lock_for("other")
    }

    /// Whether a panic left this tenant's state half-updated.
    pub fn has_failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// Runs one router operation at the current time and dispatches what it produced.
    /// Work for the built-in bot goes to the matching pool.
    pub fn run<R>(
        self: &Arc<Self>,
        operation: &'static str,
        clock: &Clock,
        op: impl FnOnce(&mut TenantState, Millis) -> R,
    ) -> R {
        self.run_inline(operation, clock, |state, now| (op(state, now), None))
            .0
    }

    /// Like [`Tenant::run`], but customer notices for the conversation the operation
    /// names (and the adapter given) are returned rather than mailed: those produced
    /// now at once, those of the built-in bot's answers once the pool has them.
    pub fn run_inline<R>(
        self: &Arc<Self>,
        operation: &'static str,
        clock: &Clock,
        op: impl FnOnce(&mut TenantState, Millis) -> (R, Option<InlineTarget>),
    ) -> (R, Replies) {
        let started = Instant::now();
        let _span =
            tracing::debug_span!("routing_decision", tenant = %self.name, operation).entered();
        let mut state = self.lock_for(operation);
        let now = clock.now();
        let (result, inline) = op(&mut state, now);
        state.record_decision(started.elapsed());
        state.commit();
        let now_replies = state.dispatch(now, started, inline.as_ref());
        let work = state.take_bot_work();
        drop(state);
        let later = self.hand_off_work(work, inline);
        (
            result,
            Replies {
                now: now_replies,
                later,
            },
        )
    }

    /// Sends assist requests and bot turns to the matching pool; the receiver gets the
    /// inline customer notices of the answers when `inline` names a conversation.
    fn hand_off_work(
        self: &Arc<Self>,
        mut work: BotWork,
        inline: Option<InlineTarget>,
    ) -> Option<oneshot::Receiver<InlineReplies>> {
        for request in work.assists.drain(..) {
            self.matching.suggest(self.clone(), request);
        }
        if work.turns.is_empty() {
            return None;
        }
        let (tx, rx) = match inline {
            Some(_) => {
                let (tx, rx) = oneshot::channel();
                (Some(tx), Some(rx))
            }
            None => (None, None),
        };
        self.matching.answer(self.clone(), work, inline, tx);
        rx
    }

    /// Runs the built-in bot on turns, then applies its answers; repeats while answers
    /// lead to more turns. Runs on the matching pool; returns the customer notices
    /// for `inline`.
    pub(super) fn serve_bot_work(
        self: &Arc<Self>,
        mut work: BotWork,
        inline: Option<&InlineTarget>,
        matching: Matching,
    ) -> InlineReplies {
        let mut replies = InlineReplies::new();
        while !work.turns.is_empty() {
            let bot = self.bot.current();
            let answers: Vec<_> = work
                .turns
                .iter()
                .map(|turn| (turn.conversation, builtin_actions(&bot, turn, matching)))
                .collect();
            let started = Instant::now();
            let mut state = self.lock_for("bot_answer");
            let now = self.clock.now();
            for (conversation, actions) in answers {
                // Refused only when the conversation left the bot meanwhile (the
                // customer left, or a handoff came first): nothing to say then.
                let _ = state.execute(
                    now,
                    Command::BotAnswer {
                        conversation,
                        actions,
                    },
                );
            }
            state.record_decision(started.elapsed());
            state.commit();
            replies.extend(state.dispatch(now, started, inline));
            let more = state.take_bot_work();
            drop(state);
            for request in more.assists {
                self.matching.suggest(self.clone(), request);
            }
            work.turns = more.turns;
        }
        replies
    }
}

/// The tenant's state, locked; records how long it was held when dropped.
pub struct TenantGuard<'a> {
    /// `None` only while the guard drops: the lock is let go before the wake-ups.
    guard: Option<MutexGuard<'a, TenantState>>,
    metrics: Option<&'static OperationMetrics>,
    locked_at: Instant,
}

impl std::ops::Deref for TenantGuard<'_> {
    type Target = TenantState;

    fn deref(&self) -> &TenantState {
        self.guard.as_ref().expect("held until dropped")
    }
}

impl std::ops::DerefMut for TenantGuard<'_> {
    fn deref_mut(&mut self) -> &mut TenantState {
        self.guard.as_mut().expect("held until dropped")
    }
}

impl TenantGuard<'_> {
    /// Records how long the router took for the operation this lock was taken for.
    pub fn record_decision(&self, took: std::time::Duration) {
        if let Some(m) = self.metrics {
            m.decision(took);
        }
    }
}

impl Drop for TenantGuard<'_> {
    /// Lets go of the lock, then wakes the streams the operation filed work for, so
    /// the woken tasks never find the lock still held (nor does the hold include
    /// waking them).
    fn drop(&mut self) {
        let Some(mut guard) = self.guard.take() else {
            return;
        };
        let wakes = std::mem::take(&mut guard.wakes);
        drop(guard);
        if let Some(m) = self.metrics {
            m.lock_hold(self.locked_at.elapsed());
        }
        let mut last: Option<&Arc<Notify>> = None;
        for wake in &wakes {
            // Consecutive notices for one stream wake it once.
            if last.is_none_or(|l| !Arc::ptr_eq(l, wake)) {
                wake.notify_one();
            }
            last = Some(wake);
        }
    }
}

/// What a tenant shares with the rest of the process.
#[derive(Debug, Clone)]
pub struct TenantServices {
    /// The journal; `None` when durability is off.
    pub journal: Option<Arc<Journal>>,
    /// Where the built-in bot's work runs.
    pub matching: MatchingPool,
    /// Routing time.
    pub clock: Clock,
}

/// Customer notices an operation kept for its caller.
#[derive(Debug)]
pub struct Replies {
    /// Produced by the operation itself.
    pub now: InlineReplies,
    /// The built-in bot's, once the matching pool has answered.
    later: Option<oneshot::Receiver<InlineReplies>>,
}

impl Replies {
    /// Every notice: the operation's own, then the bot's once they are there.
    pub async fn all(self) -> InlineReplies {
        let mut replies = self.now;
        if let Some(later) = self.later
            && let Ok(more) = later.await
        {
            replies.extend(more);
        }
        replies
    }
}

/// Work for the built-in bot, taken from under the lock.
#[derive(Debug, Default)]
pub struct BotWork {
    turns: Vec<BotTurn>,
    assists: Vec<AssistRequest>,
}

impl BotWork {
    /// Whether every turn's text is at most `bytes` long.
    pub fn turns_within(&self, bytes: usize) -> bool {
        self.turns.iter().all(|turn| turn.text.len() <= bytes)
    }
}

impl TenantState {
    /// Applies a command to the router, journaling it when it changed something.
    pub fn execute(&mut self, now: Millis, command: Command) -> Result<Applied, RoutingError> {
        self.execute_with(now, command, false)
    }

    /// Like [`TenantState::execute`], for a customer message whose first response
    /// goes back to the caller instead of the adapter's mailbox.
    pub fn execute_inline(
        &mut self,
        now: Millis,
        command: Command,
    ) -> Result<Applied, RoutingError> {
        self.execute_with(now, command, true)
    }

    fn execute_with(
        &mut self,
        now: Millis,
        command: Command,
        inline: bool,
    ) -> Result<Applied, RoutingError> {
        let replaying = self.journaling.replaying;
        let encoded = match &self.journaling.journal {
            Some(journal) if !replaying => {
                if journal.is_failing() {
                    metrics::record_limited("storage");
                    return Err(RoutingError::Exhausted(
                        "the journal cannot write (disk full or failing); nothing was \
                         accepted, retry later"
                            .to_owned(),
                    ));
                }
                Some(record::encode_route(&self.tenant, now, &command, inline))
            }
            _ => None,
        };
        // Every turn handed to a bot gets exactly one answer, accepted or refused; it
        // is journaled either way, so a replay knows which turns are still open.
        let answered = match &command {
            Command::BotAnswer { conversation, .. } => Some(*conversation),
            _ => None,
        };
        if let Some(conversation) = answered
            && let Some(turns) = self.outstanding.get_mut(&conversation)
        {
            turns.pop_front();
            if turns.is_empty() {
                self.outstanding.remove(&conversation);
            }
        }
        // Sign-ins, sign-outs and presence are commands, not events: the KPI fold
        // learns them here, live and on replay alike.
        let session = match &command {
            Command::SignIn(s) => Some((s.agent_id.clone(), Session::SignedIn(s.presence))),
            // An agent awaited after a dropped connection takes no work meanwhile: it
            // counts as signed out until it signs in again.
            Command::SignOut { agent } | Command::ConnectionLost { agent, .. } => {
                Some((agent.clone(), Session::SignedOut))
            }
            Command::SetPresence { agent, presence } => {
                Some((agent.clone(), Session::Presence(*presence)))
            }
            _ => None,
        };
        let restarted = matches!(command, Command::Restarted { .. });
        let erasure = matches!(command, Command::EraseCustomer { .. });
        let result = self.router.apply(now, command);
        // Taken after every command, so a replay's returns are never counted.
        let reconnects = self.router.take_reconnects();
        if !replaying {
            metrics::record_reconnects(reconnects);
        }
        if result.is_ok() {
            self.journaling.erasures += u64::from(erasure);
            if let Some((agent, session)) = session
                && let Some(measure) = self.kpis.session(now, &agent, session)
                && !replaying
            {
                metrics::record_agent_measure(measure, None);
            }
            if restarted {
                self.kpis.restarted();
            }
        }
        if let Some(bytes) = encoded
            && (result.is_ok() || answered.is_some())
        {
            self.journaling.records.push(bytes);
        }
        result
    }

    /// An adapter acknowledged deliveries up to `up_to`, as read back from the
    /// journal: forget them. Live acknowledgements go to the adapter's outbox without
    /// the tenant lock ([`AdapterMailbox::acknowledge`]); the journal gets one record
    /// per adapter per timer tick ([`TenantState::journal_acks`]), not one per
    /// acknowledgement: a crash can only bring back deliveries acknowledged in the last
    /// tick, which the adapter drops by id, as it does after any reconnect.
    pub fn acknowledge(&mut self, adapter: &AdapterId, up_to: u64) {
        self.adapter_mailbox(adapter).ack(up_to);
    }

    /// Journals the acknowledgements taken since the last call.
    pub fn journal_acks(&mut self) {
        let Some(journal) = &self.journaling.journal else {
            return;
        };
        let mut acks: Vec<(AdapterId, u64, Millis)> = self
            .adapters
            .iter()
            .filter_map(|(adapter, outbox)| {
                let (up_to, at) = outbox.lock().take_unjournaled_ack()?;
                Some((adapter.clone(), up_to, at))
            })
            .collect();
        if acks.is_empty() {
            return;
        }
        acks.sort();
        let records = acks
            .iter()
            .map(|(adapter, up_to, at)| record::encode_ack(&self.tenant, *at, adapter, *up_to));
        self.journaling.last_seq = journal.append(records);
    }

    /// Tells the router which notifications adapters acknowledged and which found no
    /// room in their mailbox (journaled like any command); from the timer tick.
    pub fn report_notifications(&mut self, now: Millis) {
        let mut delivered = Vec::new();
        for outbox in self.adapters.values() {
            delivered.extend(outbox.lock().take_delivered_notifications());
        }
        let refused = std::mem::take(&mut self.refused_notifications);
        if delivered.is_empty() && refused.is_empty() {
            return;
        }
        // Refused only while the journal cannot write: the reports are lost then,
        // and the notifications stay `sent` (a restart replays the acknowledgements).
        let _ = self.execute(now, Command::NotificationReports { delivered, refused });
    }

    /// Journals and files what the commands run so far produced, so that the next
    /// command under the same lock finds the mailboxes exactly as if each command had
    /// taken the lock on its own (a burst of one stream's frames runs this way).
    /// `started` is when the burst began, for the event latency metric.
    pub fn settle(&mut self, now: Millis, started: Instant) {
        self.commit();
        // Nothing is kept inline in a burst: every notice goes to its mailbox.
        let _ = self.dispatch(now, started, None);
    }

    /// Appends the records of the operation that just ran, before anything it
    /// produced is handed to a stream.
    fn commit(&mut self) {
        if self.journaling.records.is_empty() {
            return;
        }
        if let Some(journal) = &self.journaling.journal {
            let records = std::mem::take(&mut self.journaling.records);
            self.journaling.last_seq = journal.append(records);
        }
    }

    /// The sequence number of the tenant's last journal record, and the one its
    /// newest snapshot holds everything up to.
    pub(super) fn journal_position(&self) -> (u64, u64) {
        (self.journaling.last_seq, self.journaling.snapshot_seq)
    }

    pub(super) fn set_journal_position(&mut self, seq: u64) {
        self.journaling.last_seq = seq;
    }

    /// The erasures so far, when some wait for the older snapshot and journal
    /// generation that may still hold the erased data to go.
    pub(super) fn erasures_to_purge(&self) -> Option<u64> {
        let j = &self.journaling;
        (j.erasures > j.erasures_purged).then_some(j.erasures)
    }

    pub(super) fn set_erasures_purged(&mut self, up_to: u64) {
        self.journaling.erasures_purged = self.journaling.erasures_purged.max(up_to);
    }

    pub(super) fn set_snapshot_seq(&mut self, seq: u64) {
        self.journaling.snapshot_seq = seq;
    }

    pub(super) fn set_replaying(&mut self, replaying: bool) {
        self.journaling.replaying = replaying;
    }

    /// Bot turns handed out and not answered yet.
    pub(super) fn outstanding_turns(&self) -> impl Iterator<Item = &BotTurn> + '_ {
        self.outstanding.values().flatten()
    }

    pub(super) fn restore_outstanding(&mut self, turns: Vec<BotTurn>) {
        self.outstanding.clear();
        for turn in turns {
            self.outstanding
                .entry(turn.conversation)
                .or_default()
                .push_back(turn);
        }
    }

    /// After a restart, the turns nobody answered go to the built-in bot (they stay
    /// outstanding until it has).
    pub(super) fn reissue_outstanding(&mut self) {
        let mut turns: Vec<BotTurn> = self.outstanding_turns().cloned().collect();
        turns.sort_by_key(|t| t.conversation);
        self.bot_work.extend(turns);
    }

    /// Files what a replayed command produced, as the first run did.
    pub(super) fn replay_dispatch(
        &mut self,
        now: Millis,
        inline: Option<&(AdapterId, ConversationId)>,
    ) {
        let _ = self.dispatch(now, Instant::now(), inline);
    }

    fn take_bot_work(&mut self) -> BotWork {
        BotWork {
            turns: std::mem::take(&mut self.bot_work),
            assists: std::mem::take(&mut self.assist_work),
        }
    }

    /// Gives turns back to the built-in bot (an external bot missed its deadline or
    /// dropped its stream); they are answered when the current operation ends.
    pub fn return_to_builtin(&mut self, turns: Vec<BotTurn>) {
        self.bot_work.extend(turns);
    }

    /// Applies drained events and files notices; returns the notices kept inline.
    fn dispatch(
        &mut self,
        now: Millis,
        started: Instant,
        inline: Option<&(AdapterId, ConversationId)>,
    ) -> InlineReplies {
        let (events, notices) = self.router.drain();
        let elapsed = started.elapsed();
        let replaying = self.journaling.replaying;
        for event in &events {
            let measure = self.kpis.apply(event);
            if replaying {
                continue;
            }
            let queue = self.router.queue_name(event.queue);
            metrics::record_event(event, self.router.tier_name(event.tier), queue, elapsed);
            if let Some(measure) = measure {
                metrics::record_agent_measure(measure, Some(queue));
            }
            let _span = tracing::debug_span!(
                "conversation",
                conversation_id = %event.conversation,
                channel = event.channel.as_str(),
            )
            .entered();
            tracing::debug!(
                seq = event.seq,
                event = event.kind.name(),
                "conversation event"
            );
        }
        let mut replies = Vec::new();
        for notice in notices {
            match notice {
                Notice::ToCustomer(n) if replaying => {
                    // A replay files deliveries exactly as the first run did, so
                    // delivery ids and mailbox contents come back the same.
                    let kept = inline.is_some_and(|(a, c)| *a == n.adapter && *c == n.conversation);
                    if !kept {
                        let _ = self.adapter_mailbox(&n.adapter.clone()).push(n);
                    }
                }
                Notice::ToCustomer(n) => {
                    if matches!(n.body, CustomerNoticeBody::Closed(EndReason::WaitLimit)) {
                        metrics::record_limited("max_queue_time");
                    }
                    if let CustomerNoticeBody::Message {
                        sender: Sender::Agent,
                        ..
                    } = n.body
                    {
                        metrics::record_relayed(true);
                    }
                    if inline.is_some_and(|(a, c)| *a == n.adapter && *c == n.conversation) {
                        replies.push(n);
                        continue;
                    }
                    let conversation = n.conversation;
                    let notification = match &n.body {
                        CustomerNoticeBody::Notification(notice) => Some(notice.id),
                        _ => None,
                    };
                    let pushed = self.adapter_mailbox(&n.adapter.clone()).push(n);
                    if let Ok(wake) = pushed {
                        self.wakes.push(wake);
                    } else if let Some(id) = notification {
                        // Tried again after a while, until its deadline.
                        self.refused_notifications.push(id);
                    } else {
                        // Agent replies are refused before they reach here when there is
                        // no room (the agent is told); what remains is the router's own
                        // notes, counted and logged.
                        metrics::record_dropped("adapter_mailbox_full");
                        tracing::warn!(
                            conversation_id = %conversation,
                            "adapter mailbox full; delivery refused"
                        );
                    }
                }
                Notice::ToBot(turn) if replaying => {
                    self.outstanding
                        .entry(turn.conversation)
                        .or_default()
                        .push_back(turn);
                }
                // Without external workers the built-in bot takes the turn as it is,
                // and works out the language itself, outside the lock.
                Notice::ToBot(turn) if !self.bots.has_workers() => {
                    self.hand_out(&turn);
                    self.bot_work.push(turn);
                }
                Notice::ToBot(turn) => {
                    self.hand_out(&turn);
                    let language = turn_language(&turn);
                    let router = &self.router;
                    if let Err(turn) =
                        self.bots
                            .assign(turn, &language, now, self.answer_deadline_ms, |id| {
                                router.bot_context(id)
                            })
                    {
                        self.bot_work.push(turn);
                    }
                }
                // Nobody is signed in on a stream during a replay; agents that come
                // back get their conversations from the router.
                Notice::ToAgent { .. } if replaying => {}
                Notice::ToAgent { agent, notice } => match self.agents.get(&agent) {
                    Some(mailbox) if matches!(notice, AgentNotice::CustomerMessage { .. }) => {
                        metrics::record_relayed(false);
                        // Assist is for conversations a bot handed to a person: the
                        // knowledge base had a go and the agent may want its answers.
                        if let AgentNotice::CustomerMessage {
                            conversation, text, ..
                        } = &notice
                            && self.assist_on
                            && self.router.handed_off(*conversation)
                        {
                            self.assist_work.push(AssistRequest {
                                mailbox: mailbox.clone(),
                                conversation: *conversation,
                                text: text.clone(),
                            });
                        }
                        mailbox.file(notice);
                        self.wakes.push(mailbox.waker().clone());
                    }
                    Some(mailbox) => {
                        mailbox.file(notice);
                        self.wakes.push(mailbox.waker().clone());
                    }
                    // A returning agent gets these in its conversations' transcripts
                    // when it signs in again.
                    None if self.router.is_returning_agent(&agent) => {}
                    None => {
                        metrics::record_dropped("agent_signed_out");
                        tracing::warn!(agent_id = %agent, "notice for an agent with no session");
                    }
                },
            }
        }
        replies
    }

    /// Remembers a turn handed to a bot until its answer is applied.
    fn hand_out(&mut self, turn: &BotTurn) {
        if self.journaling.journal.is_some() {
            self.outstanding
                .entry(turn.conversation)
                .or_default()
                .push_back(turn.clone());
        }
    }

    /// Signs `agent` in on the session with `token` and opens its mailbox, which the
    /// session drains without the tenant lock. The agent id is the principal's: an
    /// older session of it still open is told it was replaced and the agent signed
    /// out first (its conversations go back to their places and are offered again).
    /// When the router refuses the sign-in, no mailbox is left behind.
    pub fn sign_in_agent(
        &mut self,
        now: Millis,
        agent: AgentId,
        sign_in: SignIn,
        token: u64,
    ) -> Result<AgentInbox, RoutingError> {
        if let Some(older) = self.agents.remove(&agent) {
            older.end_replaced();
            // The newer session takes over what the older one held: a desk that comes
            // back before the server noticed its old connection die (a network
            // change, a second tab) keeps its conversations, given back as resumed
            // by the sign-in below. Without a reconnect window it starts afresh.
            let _ = self.execute(
                now,
                Command::ConnectionLost {
                    agent: agent.to_string(),
                    grace_ms: self.router.policy().agent_reconnect_secs * 1000,
                },
            );
            tracing::info!(agent_id = %agent, "agent session replaced by a newer one");
        }
        let (mailbox, inbox) = AgentMailbox::new(self.limits.agent_mailbox, token);
        self.agents.insert(agent.clone(), mailbox);
        match self.execute(now, Command::SignIn(sign_in)) {
            Ok(_) => Ok(inbox),
            Err(e) => {
                self.agents.remove(&agent);
                Err(e)
            }
        }
    }

    /// Ends the session with `token` of `agent`, unless a newer session of the agent
    /// has taken over; `end` says what becomes of the agent (see [`SessionEnd`]).
    pub fn sign_out_agent(&mut self, now: Millis, agent: &AgentId, token: u64, end: SessionEnd) {
        if self.agents.get(agent).is_none_or(|m| m.token != token) {
            return;
        }
        self.agents.remove(agent);
        let agent = agent.to_string();
        let command = match end {
            SessionEnd::CarriedOver => return,
            SessionEnd::SignedOut => Command::SignOut { agent },
            SessionEnd::ConnectionLost => Command::ConnectionLost {
                agent,
                grace_ms: self.router.policy().agent_reconnect_secs * 1000,
            },
        };
        let _ = self.execute(now, command);
    }

    /// Whether an adapter's undelivered or unacknowledged deliveries have reached
    /// nine tenths of its mailbox (by count or bytes): new messages from it are then
    /// refused.
    pub fn adapter_is_backlogged(&self, adapter: &AdapterId) -> bool {
        self.adapters
            .get(adapter)
            .is_some_and(|outbox| outbox.lock().is_backlogged())
    }

    /// Whether the adapter that carries `conversation` to its customer has room for a
    /// delivery of `bytes` (an agent's reply is refused, not dropped, when it has not).
    pub fn customer_has_room(&self, conversation: ConversationId, bytes: usize) -> bool {
        match self.router.adapter_of(conversation) {
            Some(adapter) => self
                .adapters
                .get(adapter)
                .is_none_or(|outbox| outbox.lock().has_room(bytes)),
            None => true,
        }
    }

    /// The mailbox of an adapter id, created when new, locked.
    pub fn adapter_mailbox(&mut self, adapter: &AdapterId) -> MutexGuard<'_, AdapterMailbox> {
        self.adapter_outbox(adapter).lock()
    }

    /// The outbox of an adapter id, created when new: its stream keeps it to take and
    /// acknowledge deliveries without the tenant lock.
    pub fn adapter_outbox(&mut self, adapter: &AdapterId) -> &AdapterOutbox {
        let (limit, bytes) = (
            self.limits.adapter_mailbox,
            self.limits.adapter_mailbox_bytes,
        );
        self.adapters
            .entry(adapter.clone())
            .or_insert_with(|| AdapterOutbox::new(limit, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::routing::RoutingPolicy;

    fn tenant() -> Arc<Tenant> {
        let config = Config::default();
        Arc::new(Tenant::new(
            Arc::from("t"),
            Router::new(RoutingPolicy::default()).unwrap(),
            Limits::default(),
            SharedBot::load(&config).unwrap(),
            &config.bot,
            TenantServices {
                journal: None,
                matching: MatchingPool::start(1),
                clock: Clock::new(),
            },
        ))
    }

    #[test]
    fn a_panic_under_the_lock_marks_the_tenant_failed() {
        let tenant = tenant();
        assert!(!tenant.has_failed());
        let holder = tenant.clone();
        let panicked = std::thread::spawn(move || {
            let _state = holder.lock_for("reply");
            panic!("a bug in the middle of an operation");
        })
        .join();
        assert!(panicked.is_err());
        // The next holder finds the poisoned lock: the tenant is failed from then on.
        let _ = tenant.lock();
        assert!(tenant.has_failed());
    }
}
