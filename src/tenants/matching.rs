//! The matching pool: dedicated threads that run the built-in bot (knowledge-base
//! matching, up to ~2 ms per message) for every tenant, so matching never runs on
//! the async workers that carry the streams, and never under a tenant lock.
//!
//! Two kinds of job share one bounded queue:
//!
//! - **bot turns** must each get exactly one answer; short ones (every text at most
//!   [`INLINE_TURN_BYTES`]) are answered on the caller, counted as `inline`, since the
//!   lexical bot takes tens of microseconds on them and the hop to a pool thread cost
//!   more at saturation, unless the tenant's bot has a semantic stage (a model), which
//!   may embed any message and so never runs on the caller; when the queue is full
//!   the caller answers the rest itself (back-pressure on the stream that produced
//!   them), counted as `caller_ran`, lexically only;
//! - a bot turn that waited in the queue longer than [`SEMANTIC_DEADLINE`] is
//!   answered lexically, without embedding, so the greeting and answer still go out
//!   within the one second (counted in `switchboard_bot_semantic_skipped_total`);
//! - **assist suggestions** for agents are a convenience: when the queue is full, or
//!   a job waited past [`ASSIST_DEADLINE`], it is dropped and counted, so a busy pool
//!   never delays a relayed message.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use tokio::sync::oneshot;

use super::builtin_bot::{Matching, assist};
use super::mailbox::AgentMailbox;
use super::tenant::{BotWork, InlineReplies, Tenant};
use crate::routing::{AdapterId, ConversationId};
use crate::telemetry::metrics;

/// Bot turns whose texts are all at most this many bytes are answered on the caller.
/// On the held-out sets the built-in bot takes 26 µs per message on average, 85 µs
/// at p99, so such a turn stays under the ~100 µs that may run on an async worker;
/// longer messages (up to the KiB the bot reads, about 2 ms) go to the pool. With a
/// semantic stage every turn goes to the pool: an embedding takes milliseconds.
pub const INLINE_TURN_BYTES: usize = 256;

/// Bot turns that waited longer than this for a matching thread are answered from the
/// lexical match alone: an embedding (about 4 ms, 15 ms for a long message) must not
/// push the first response of a backed-up queue past one second.
pub const SEMANTIC_DEADLINE: Duration = Duration::from_millis(300);

/// Jobs waiting for a matching thread, at most; beyond it turns run on the caller and
/// suggestions are dropped.
pub const QUEUE_LIMIT: usize = 4_096;

/// Suggestions that waited longer than this are dropped: the agent has read on.
pub const ASSIST_DEADLINE: Duration = Duration::from_millis(500);

/// The conversation (and its adapter) whose customer notices go back to the caller.
pub type InlineTarget = (AdapterId, ConversationId);

/// One unit of work for a matching thread.
#[derive(Debug)]
enum Job {
    /// Bot turns of one tenant, answered and applied under its lock.
    Turns {
        tenant: Arc<Tenant>,
        work: BotWork,
        inline: Option<InlineTarget>,
        replies: Option<oneshot::Sender<InlineReplies>>,
        queued: Instant,
    },
    /// Suggestions for an agent about one customer message.
    Assist {
        tenant: Arc<Tenant>,
        request: AssistRequest,
        queued: Instant,
    },
}

/// A customer message an agent should get knowledge-base suggestions for.
#[derive(Debug)]
pub struct AssistRequest {
    /// Where the suggestions go (the agent's session at the time of the message).
    pub mailbox: AgentMailbox,
    /// The conversation.
    pub conversation: ConversationId,
    /// The customer's message.
    pub text: Arc<str>,
}

/// Handle to the matching threads; cloning it is cheap. The threads end once every
/// handle is dropped.
#[derive(Debug, Clone)]
pub struct MatchingPool {
    tx: Sender<Job>,
}

impl MatchingPool {
    /// Starts `threads` matching threads (at least one).
    pub fn start(threads: usize) -> MatchingPool {
        let (tx, rx) = crossbeam_channel::bounded(QUEUE_LIMIT);
        for n in 0..threads.max(1) {
            let rx: Receiver<Job> = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("switchboard-matching-{n}"))
                .spawn(move || {
                    for job in rx {
                        run(job, Matching::Full);
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a matching thread");
            }
        }
        MatchingPool { tx }
    }

    /// Threads for a machine with `cores` cores: half of them, so matching can never
    /// take the cores the streams need, and at least one.
    pub fn threads_for(cores: usize) -> usize {
        (cores / 2).max(1)
    }

    /// Hands bot turns of `tenant` to the pool. With `replies`, the customer notices
    /// for `inline` are sent there once the turns are answered.
    pub fn answer(
        &self,
        tenant: Arc<Tenant>,
        work: BotWork,
        inline: Option<InlineTarget>,
        replies: Option<oneshot::Sender<InlineReplies>>,
    ) {
        // Which turns the lexical match is unsure of is known only once they are
        // matched; with a model, any turn may need the embedding, so none runs here.
        let short = work.turns_within(INLINE_TURN_BYTES) && !tenant.bot().has_semantic();
        let job = Job::Turns {
            tenant,
            work,
            inline,
            replies,
            queued: Instant::now(),
        };
        if short {
            metrics::record_matching("turns", "inline");
            run(job, Matching::Full);
            return;
        }
        match self.tx.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) => {
                metrics::record_matching("turns", "caller_ran");
                // On the caller's (async) thread: never an embedding.
                run(job, Matching::LexicalOnly("caller_ran"));
            }
        }
    }

    /// Hands an assist request to the pool; dropped (and counted) when it is full.
    pub fn suggest(&self, tenant: Arc<Tenant>, request: AssistRequest) {
        let job = Job::Assist {
            tenant,
            request,
            queued: Instant::now(),
        };
        if self.tx.try_send(job).is_err() {
            metrics::record_matching("assist", "dropped_queue_full");
        }
    }
}

/// Runs a job; bot turns are matched as `matching` allows (lexically only, too, once
/// they waited past [`SEMANTIC_DEADLINE`]).
fn run(job: Job, matching: Matching) {
    match job {
        Job::Turns {
            tenant,
            work,
            inline,
            replies,
            queued,
        } => {
            let waited = queued.elapsed();
            metrics::record_matching_wait("turns", waited);
            let matching = if waited > SEMANTIC_DEADLINE {
                Matching::LexicalOnly("late")
            } else {
                matching
            };
            let answered = tenant.serve_bot_work(work, inline.as_ref(), matching);
            if let Some(tx) = replies {
                // The caller may have gone (its call was cancelled): nothing to do.
                let _ = tx.send(answered);
            }
            metrics::record_matching("turns", "answered");
        }
        Job::Assist {
            tenant,
            request,
            queued,
        } => {
            let waited = queued.elapsed();
            metrics::record_matching_wait("assist", waited);
            if waited > ASSIST_DEADLINE {
                metrics::record_matching("assist", "dropped_late");
                return;
            }
            let bot = tenant.bot().current();
            let limit = tenant.assist_limit();
            match assist(&bot, request.conversation, request.text, limit) {
                Some(suggestions) => {
                    request.mailbox.push_suggestions(suggestions);
                    metrics::record_matching("assist", "sent");
                }
                None => metrics::record_matching("assist", "nothing_found"),
            }
        }
    }
}
