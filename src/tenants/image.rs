//! A tenant's durable side: the snapshot image of its state, and journal records
//! replayed into it after a restart.
//!
//! An image holds everything a restart must keep: the router (conversations,
//! transcripts, queues, agents, timers, idempotency keys, id counter, memories,
//! recently ended conversations), the agent KPI buckets, the adapters' unacknowledged deliveries, and
//! the bot turns not answered yet. Streams and their mailboxes are not in it: peers
//! reconnect.

use std::collections::VecDeque;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::clock::Clock;
use super::mailbox::Delivery;
use super::tenant::Tenant;
use crate::routing::agent_kpis::AgentKpis;
use crate::routing::{AdapterId, Applied, BotTurn, Command, Router};
use crate::storage::record::{Entry, Record};

/// What a snapshot holds, borrowed for writing.
#[derive(Serialize)]
struct ImageRef<'a> {
    seq: u64,
    queues: Vec<&'a str>,
    tiers: Vec<&'a str>,
    router: &'a Router,
    kpis: &'a AgentKpis,
    mailboxes: Vec<(&'a str, &'a VecDeque<Delivery>, u64)>,
    outstanding: Vec<&'a BotTurn>,
}

/// What a snapshot holds, read back.
#[derive(Deserialize)]
struct Image {
    seq: u64,
    queues: Vec<String>,
    tiers: Vec<String>,
    router: Router,
    kpis: AgentKpis,
    mailboxes: Vec<(AdapterId, VecDeque<Delivery>, u64)>,
    outstanding: Vec<BotTurn>,
}

/// Why an image cannot be restored.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The bytes are not an image of this version.
    #[error("not a snapshot of this version: {0}")]
    Decode(#[from] postcard::Error),
    /// The configured queues or tiers are not those the snapshot was taken with.
    #[error(
        "the snapshot was taken with queues {saved_queues:?} and tiers {saved_tiers:?}, \
         but the configuration has {queues:?} and {tiers:?}; keep queue and tier names \
         (and their order) across a restart with data, or move the data directory away"
    )]
    PolicyChanged {
        /// Queues in the snapshot.
        saved_queues: Vec<String>,
        /// Tiers in the snapshot.
        saved_tiers: Vec<String>,
        /// Queues configured.
        queues: Vec<String>,
        /// Tiers configured.
        tiers: Vec<String>,
    },
    /// The router state does not fit the policy.
    #[error(transparent)]
    Policy(#[from] crate::routing::RoutingPolicyError),
}

fn names(router: &Router) -> (Vec<&str>, Vec<&str>) {
    let policy = router.policy();
    let queues = (0..policy.queues.len())
        .map(|i| router.queue_name(i))
        .collect();
    let tiers = (0..policy.priority.tiers.len())
        .map(|i| router.tier_name(i))
        .collect();
    (queues, tiers)
}

impl Tenant {
    /// The tenant's state encoded for a snapshot, with the sequence number it holds
    /// everything up to; `None` when nothing changed since the last snapshot.
    pub fn image(&self) -> Option<(u64, Vec<u8>)> {
        let state = self.lock_for("snapshot");
        let (seq, saved) = state.journal_position();
        if seq <= saved {
            return None;
        }
        let (queues, tiers) = names(&state.router);
        let mut outstanding: Vec<&BotTurn> = state.outstanding_turns().collect();
        outstanding.sort_by_key(|t| t.conversation);
        // Streams take and acknowledge deliveries under their mailbox's own lock: hold
        // every mailbox while the image is written, so each is taken whole.
        let mailboxes: Vec<_> = state
            .adapters
            .iter()
            .map(|(id, outbox)| (&**id, outbox.lock()))
            .collect();
        let image = ImageRef {
            seq,
            queues,
            tiers,
            router: &state.router,
            kpis: &state.kpis,
            mailboxes: mailboxes
                .iter()
                .map(|(id, m)| {
                    let (deliveries, next_id) = m.saved();
                    (*id, deliveries, next_id)
                })
                .collect(),
            outstanding,
        };
        // Plain data into a Vec cannot fail to encode.
        Some((seq, postcard::to_allocvec(&image).expect("images encode")))
    }

    /// Whether the tenant has journal records its newest snapshot does not hold.
    pub fn changed_since_snapshot(&self) -> bool {
        let mut state = self.lock_for("snapshot");
        state.journal_acks();
        let (seq, saved) = state.journal_position();
        seq > saved
    }

    /// The count of erasures so far, when some were not purged from disk yet.
    pub fn erasures_to_purge(&self) -> Option<u64> {
        self.lock_for("snapshot").erasures_to_purge()
    }

    /// Records that nothing from before the first `up_to` erasures is on disk any
    /// more (their older snapshot and journal generation are gone).
    pub fn purged(&self, up_to: u64) {
        self.lock_for("snapshot").set_erasures_purged(up_to);
    }

    /// Records that a snapshot holding everything up to `seq` is on disk.
    pub fn snapshot_taken(&self, seq: u64) {
        self.lock_for("snapshot").set_snapshot_seq(seq);
    }

    /// Replaces the tenant's state with a snapshot's; returns the sequence number it
    /// holds everything up to. The configured policy stays in force.
    pub fn restore(&self, bytes: &[u8]) -> Result<u64, RestoreError> {
        let image: Image = postcard::from_bytes(bytes)?;
        let mut state = self.lock_for("snapshot");
        let (queues, tiers) = names(&state.router);
        if image.queues != queues || image.tiers != tiers {
            return Err(RestoreError::PolicyChanged {
                saved_queues: image.queues,
                saved_tiers: image.tiers,
                queues: queues.iter().map(|q| q.to_string()).collect(),
                tiers: tiers.iter().map(|t| t.to_string()).collect(),
            });
        }
        let policy = state.router.policy().clone();
        let kpi_policy = policy.kpis;
        state.router = image.router.adopt_policy(policy)?;
        let ended_visible = state.limits.ended_visible;
        state.router.keep_ended(ended_visible);
        state.kpis = image.kpis.with_policy(kpi_policy);
        for (adapter, deliveries, next_id) in image.mailboxes {
            state.adapter_mailbox(&adapter).restore(deliveries, next_id);
        }
        state.restore_outstanding(image.outstanding);
        state.set_journal_position(image.seq);
        state.set_snapshot_seq(image.seq);
        Ok(image.seq)
    }

    /// Applies one journal record written after the tenant's snapshot (records the
    /// snapshot already holds are skipped). Nothing is sent: peers are not back yet.
    pub fn replay(&self, seq: u64, record: Record) -> bool {
        let mut state = self.lock_for("snapshot");
        if seq <= state.journal_position().0 {
            return false;
        }
        state.set_replaying(true);
        match record.entry {
            Entry::Route { command, inline } => {
                let adapter = match &command {
                    Command::CustomerMessage(msg) => Some(msg.adapter.clone()),
                    _ => None,
                };
                let name = command.name();
                let result = state.execute(record.at, command);
                // Only commands that succeeded are journaled (bot answers aside), so a
                // refusal here means the replay went another way than the first run.
                if let Err(e) = &result
                    && name != "bot_answer"
                {
                    tracing::warn!(tenant = %self.name, seq, command = name, error = %e,
                        "a journaled command was refused on replay");
                }
                let kept = match (result, inline, adapter) {
                    (Ok(Applied::Message(outcome)), true, Some(adapter)) => {
                        Some((adapter, outcome.conversation))
                    }
                    _ => None,
                };
                state.replay_dispatch(record.at, kept.as_ref());
            }
            Entry::Acked { adapter, up_to } => state.acknowledge(&adapter, up_to),
        }
        state.set_journal_position(seq);
        state.set_replaying(false);
        true
    }

    /// Ends a recovery: bot turns not answered before the restart go to the built-in
    /// bot, and the router awaits its agents for `grace_ms`; after damage, the next
    /// `skip_ids` conversation ids are skipped. Returns how many agents are awaited.
    pub fn resume(self: &Arc<Self>, clock: &Clock, grace_ms: u64, skip_ids: u64) -> usize {
        self.run("restarted", clock, |state, now| {
            state.reissue_outstanding();
            match state.execute(now, Command::Restarted { grace_ms, skip_ids }) {
                Ok(Applied::Count(agents)) => agents,
                _ => 0,
            }
        })
    }
}
