//! One tenant: its router, its event-built board and its mailboxes, behind one lock.
//!
//! Every operation on a tenant takes the lock, runs the router, then, still under the
//! lock, applies the events in order (board, metrics) and files the notices into
//! mailboxes. Holding the lock across both keeps events ordered and deliveries of one
//! conversation in order. Tenants never share a lock, so tenants never wait on each
//! other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use super::clock::Clock;
use super::mailbox::{AdapterMailbox, AgentInbox, AgentMailbox};
use crate::config::Limits;
use crate::routing::{
    AdapterId, AgentId, AgentNotice, Board, ConversationId, CustomerNotice, CustomerNoticeBody,
    Millis, Notice, Router, Sender,
};
use crate::telemetry::metrics;

/// A tenant's routing state.
#[derive(Debug)]
pub struct Tenant {
    /// Tenant id, for logs.
    pub name: Arc<str>,
    /// The state; see the module doc for why one lock.
    state: Mutex<TenantState>,
}

/// Everything a tenant's lock protects.
#[derive(Debug)]
pub struct TenantState {
    /// The routing core.
    pub router: Router,
    /// Conversations rebuilt from the router's events (admin snapshot).
    pub board: Board,
    /// Deliveries per adapter id.
    pub adapters: HashMap<AdapterId, AdapterMailbox>,
    /// Notices per signed-in agent.
    pub agents: HashMap<AgentId, AgentMailbox>,
    /// Mailbox bounds.
    limits: Limits,
}

/// Customer notices an operation asked to get back instead of mailing them.
pub type InlineReplies = Vec<CustomerNotice>;

impl Tenant {
    /// A tenant with an empty router.
    pub fn new(name: Arc<str>, router: Router, limits: Limits) -> Tenant {
        Tenant {
            name,
            state: Mutex::new(TenantState {
                router,
                board: Board::new(limits.ended_visible),
                adapters: HashMap::new(),
                agents: HashMap::new(),
                limits,
            }),
        }
    }

    /// Locks the tenant. A panic in an earlier holder does not take the tenant down:
    /// the router checks its own invariants in tests, and serving on is better than
    /// refusing every later call.
    pub fn lock(&self) -> MutexGuard<'_, TenantState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs one router operation at the current time and dispatches what it produced.
    pub fn run<R>(
        &self,
        operation: &'static str,
        clock: &Clock,
        op: impl FnOnce(&mut TenantState, Millis) -> R,
    ) -> R {
        self.run_inline(operation, clock, |state, now| (op(state, now), None))
            .0
    }

    /// Like [`Tenant::run`], but customer notices for the conversation the operation
    /// names (and the adapter given) are returned rather than mailed.
    pub fn run_inline<R>(
        &self,
        operation: &'static str,
        clock: &Clock,
        op: impl FnOnce(&mut TenantState, Millis) -> (R, Option<(AdapterId, ConversationId)>),
    ) -> (R, InlineReplies) {
        let started = Instant::now();
        let _span =
            tracing::debug_span!("routing_decision", tenant = %self.name, operation).entered();
        let mut state = self.lock();
        let now = clock.now();
        let (result, inline) = op(&mut state, now);
        metrics::record_decision(operation, started.elapsed());
        let replies = state.dispatch(started, inline);
        (result, replies)
    }
}

impl TenantState {
    /// Applies drained events and files notices; returns the notices kept inline.
    fn dispatch(
        &mut self,
        started: Instant,
        inline: Option<(AdapterId, ConversationId)>,
    ) -> InlineReplies {
        let (events, notices) = self.router.drain();
        let elapsed = started.elapsed();
        for event in &events {
            self.board.apply(event);
            metrics::record_event(
                event,
                self.router.tier_name(event.tier),
                self.router.queue_name(event.queue),
                elapsed,
            );
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
                Notice::ToCustomer(n) => {
                    if let CustomerNoticeBody::Message {
                        sender: Sender::Agent,
                        ..
                    } = n.body
                    {
                        metrics::record_relayed("to_customer");
                    }
                    if inline
                        .as_ref()
                        .is_some_and(|(a, c)| *a == n.adapter && *c == n.conversation)
                    {
                        replies.push(n);
                        continue;
                    }
                    let limit = self.limits.adapter_mailbox;
                    self.adapters
                        .entry(n.adapter.clone())
                        .or_insert_with(|| AdapterMailbox::new(limit))
                        .push(n);
                }
                Notice::ToAgent { agent, notice } => match self.agents.get(&agent) {
                    Some(mailbox) if matches!(notice, AgentNotice::CustomerMessage { .. }) => {
                        metrics::record_relayed("to_agent");
                        mailbox.push(notice);
                    }
                    Some(mailbox) => mailbox.push(notice),
                    None => {
                        metrics::record_dropped("agent_signed_out");
                        tracing::warn!(agent_id = %agent, "notice for an agent with no session");
                    }
                },
            }
        }
        replies
    }

    /// Registers a mailbox for an agent session about to sign in; the session keeps
    /// the inbox and drains it without the tenant lock.
    pub fn open_agent_mailbox(&mut self, agent: AgentId) -> AgentInbox {
        let (mailbox, inbox) = AgentMailbox::new(self.limits.agent_mailbox);
        self.agents.insert(agent, mailbox);
        inbox
    }

    /// Whether an adapter's undelivered or unacknowledged deliveries have reached
    /// nine tenths of its mailbox: new messages from it are then refused.
    pub fn adapter_is_backlogged(&self, adapter: &AdapterId) -> bool {
        self.adapters
            .get(adapter)
            .is_some_and(|m| m.len() * 10 >= self.limits.adapter_mailbox * 9)
    }

    /// The mailbox of an adapter id, created when new.
    pub fn adapter_mailbox(&mut self, adapter: &AdapterId) -> &mut AdapterMailbox {
        let limit = self.limits.adapter_mailbox;
        self.adapters
            .entry(adapter.clone())
            .or_insert_with(|| AdapterMailbox::new(limit))
    }
}
