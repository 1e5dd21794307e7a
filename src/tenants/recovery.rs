//! Start-up with a journal: every tenant comes back from its newest good snapshot and
//! the journal records after it, then awaits its agents.

use std::time::Instant;

use super::Tenants;
use crate::storage::record;
use crate::storage::snapshot::{self, SnapshotDir};
use crate::telemetry::metrics;

/// Conversation ids skipped after a lost snapshot: more than a snapshot interval can
/// hand out.
const LOST_SNAPSHOT_ID_MARGIN: u64 = 1_000_000;

/// What a recovery found and did, for the start-up log and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Tenants restored from a snapshot.
    pub snapshots_loaded: usize,
    /// Snapshots that could not be used (damaged or unreadable); an older one was
    /// tried instead.
    pub snapshots_damaged: usize,
    /// Journal records applied.
    pub records_replayed: u64,
    /// Journal records dropped because they or one before them were damaged.
    pub records_cut: u64,
    /// Open conversations after recovery, in all tenants.
    pub open_conversations: usize,
    /// Agents awaited for the grace window.
    pub agents_awaited: usize,
    /// Tenants found in the data that this shard does not serve (left unloaded).
    pub tenants_not_served: usize,
}

/// Why recovery cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// A tenant in the data cannot be created here.
    #[error("tenant {tenant:?} in the data directory: {reason}")]
    Tenant {
        /// The tenant.
        tenant: String,
        /// Why.
        reason: String,
    },
    /// A snapshot does not fit the configuration.
    #[error("tenant {tenant:?}: {reason}")]
    Incompatible {
        /// The tenant.
        tenant: String,
        /// Why.
        reason: String,
    },
    /// The journal could not be cut back after damage.
    #[error("journal: {0}")]
    Journal(String),
}

impl Tenants {
    /// Rebuilds every tenant from the data directory; a no-op without storage. Runs
    /// before the server takes calls. Damage is logged and counted, never fatal: a
    /// damaged snapshot falls back to the one before, a damaged journal record cuts
    /// the journal back to the record before it.
    pub fn recover(&self) -> Result<Recovery, RecoveryError> {
        let Some(storage) = self.storage().cloned() else {
            return Ok(Recovery::default());
        };
        let started = Instant::now();
        let mut report = Recovery::default();
        let mut highest_snapshot = 0;
        // Tenants restored from an older snapshot than their newest, with its number.
        let mut fallbacks = Vec::new();
        let tenancy = &self.config().tenancy;
        let mut not_served = std::collections::BTreeSet::new();
        for id in snapshot::tenants(&storage.snapshots) {
            if !tenancy.serves(&id) {
                not_served.insert(id);
                continue;
            }
            let tenant = self.tenant(&id, true).map_err(|e| RecoveryError::Tenant {
                tenant: id.clone(),
                reason: e.to_string(),
            })?;
            let dir = SnapshotDir::new(&storage.snapshots, &id);
            let files = dir.files();
            let mut loaded = false;
            for (newest, file) in files.iter().enumerate().map(|(i, f)| (i == 0, f)) {
                // A file that does not read or decode is damage (try the one before);
                // one that decodes but does not fit the configuration stops start-up.
                let restored = match SnapshotDir::read(file) {
                    Err(e) => Err(e.to_string()),
                    Ok(bytes) => match tenant.restore(&bytes) {
                        Ok(seq) => Ok(seq),
                        Err(e @ super::image::RestoreError::Decode(_)) => Err(e.to_string()),
                        Err(e) => {
                            return Err(RecoveryError::Incompatible {
                                tenant: id,
                                reason: e.to_string(),
                            });
                        }
                    },
                };
                match restored {
                    Ok(seq) => {
                        if !newest {
                            fallbacks.push((id.clone(), seq));
                        }
                        highest_snapshot = highest_snapshot.max(seq);
                        report.snapshots_loaded += 1;
                        loaded = true;
                        break;
                    }
                    Err(reason) => {
                        metrics::record_corruption("snapshot");
                        report.snapshots_damaged += 1;
                        tracing::error!(tenant = %id, snapshot = %file.path.display(), %reason,
                            "snapshot unusable; trying the one before");
                    }
                }
            }
            if !loaded && !files.is_empty() {
                tracing::error!(tenant = %id,
                    "no usable snapshot; rebuilding from the journal alone (what only the \
                     lost snapshots held is gone)");
            }
        }
        let oldest_kept = storage.journal.oldest_generation();
        // An older snapshot is only whole with every record after it; the journal
        // keeps one generation before the newest snapshots for that, but a tenant that
        // did not change for two rounds may miss records: say so rather than guess.
        let first_seq = storage.journal.stored().next().map(|r| r.seq);
        for (tenant, seq) in &fallbacks {
            if first_seq.is_some_and(|first| first > seq + 1) {
                metrics::record_corruption("snapshot");
                tracing::error!(tenant = %tenant, snapshot_seq = seq, first_journal_seq = first_seq,
                    "the snapshot fallen back to is older than the journal: changes between \
                     them are lost for this tenant");
            }
        }
        let mut previous: Option<u64> = None;
        let mut cut_at = None;
        let mut last_at = 0;
        for stored in storage.journal.stored() {
            let decoded = stored
                .bytes
                .and_then(|bytes| record::decode(&bytes).map_err(|e| e.to_string()));
            let record = match decoded {
                Ok(record) => record,
                Err(reason) => {
                    let seq = previous.map_or(stored.seq.max(1), |p| p + 1);
                    tracing::error!(seq, generation = stored.generation, %reason,
                        "journal record damaged; the journal is cut back to the record before it");
                    metrics::record_corruption("journal");
                    cut_at = Some(seq);
                    break;
                }
            };
            if let Some(p) = previous
                && stored.seq != p + 1
            {
                metrics::record_corruption("journal");
                tracing::error!(
                    after = p,
                    next = stored.seq,
                    "journal has a gap; records between were lost"
                );
            }
            previous = Some(stored.seq);
            last_at = last_at.max(record.at);
            if !tenancy.serves(&record.tenant) {
                not_served.insert(record.tenant.to_string());
                continue;
            }
            let tenant = self
                .tenant(&record.tenant, true)
                .map_err(|e| RecoveryError::Tenant {
                    tenant: record.tenant.to_string(),
                    reason: e.to_string(),
                })?;
            if tenant.replay(stored.seq, record) {
                report.records_replayed += 1;
            }
        }
        if let Some(seq) = cut_at {
            report.records_cut = storage
                .journal
                .cut_from(seq)
                .map_err(|e| RecoveryError::Journal(e.to_string()))?;
            tracing::error!(
                from_seq = seq,
                records = report.records_cut,
                last_good = previous.unwrap_or(0),
                "journal cut back: these records were lost"
            );
        }
        for tenant in &not_served {
            tracing::warn!(tenant = %tenant,
                "the data directory holds a tenant this shard does not serve (tenancy.shards); \
                 its state is not loaded, and its journal records go with the next compaction");
        }
        report.tenants_not_served = not_served.len();
        storage.journal.continue_after(highest_snapshot);
        self.clock().not_before(last_at);
        let grace_ms = storage.settings.agent_grace_secs * 1000;
        // Damage may have cost records that gave out conversation ids; skip far enough
        // that none is given twice: every lost record (a creation takes more than one
        // byte) or, when a snapshot was lost, a wide margin.
        let skip_ids = storage.journal.cut_bytes()
            + report.records_cut
            + if report.snapshots_damaged > 0 {
                LOST_SNAPSHOT_ID_MARGIN
            } else {
                0
            };
        if skip_ids > 0 {
            tracing::warn!(
                skip_ids,
                "conversation ids skipped after damage, so none is given twice"
            );
        }
        for tenant in self.all() {
            report.agents_awaited += tenant.resume(self.clock(), grace_ms, skip_ids);
            let (open, taught) = {
                let state = tenant.lock();
                (state.router.open_len(), state.router.taught().clone())
            };
            report.open_conversations += open;
            // What operators taught the bot is in the router; the bot is built from
            // the file alone until it is applied.
            if !taught.is_empty()
                && let Err(e) = tenant.bot().teach(taught)
            {
                tracing::error!(tenant = %tenant.name, error = %e,
                    "the bot's taught questions could not be applied; it answers from its \
                     file alone until the next reload");
            }
        }
        metrics::record_replay(started.elapsed(), report.records_replayed);
        tracing::info!(
            snapshots = report.snapshots_loaded,
            records = report.records_replayed,
            open_conversations = report.open_conversations,
            agents_awaited = report.agents_awaited,
            oldest_generation = oldest_kept.unwrap_or(0),
            took_ms = started.elapsed().as_millis() as u64,
            "recovered from the data directory"
        );
        Ok(report)
    }
}
