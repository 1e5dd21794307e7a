//! Periodic snapshots: each tenant that changed is written whole, then the journal
//! generations no snapshot needs any more are dropped.

use std::time::{Duration, Instant};

use super::Tenants;
use crate::storage::Durability;
use crate::storage::snapshot::SnapshotDir;
use crate::telemetry::metrics;

/// A round of snapshots that could not finish.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotRoundError {
    /// A snapshot file could not be written.
    #[error(transparent)]
    Write(#[from] crate::storage::snapshot::SnapshotError),
    /// The journal never made the state durable.
    #[error(transparent)]
    NotDurable(#[from] crate::storage::NotDurable),
    /// Old journal generations could not be dropped.
    #[error("journal: {0}")]
    Journal(String),
    /// The writing task failed.
    #[error("snapshot task: {0}")]
    Task(String),
}

impl Tenants {
    /// Snapshots every tenant that changed since its last snapshot, then drops the
    /// journal generations older than the one before this round's. Returns how many
    /// tenants were written. A no-op without storage.
    pub async fn snapshot_all(&self) -> Result<usize, SnapshotRoundError> {
        let Some(storage) = self.storage().cloned() else {
            return Ok(0);
        };
        let started = Instant::now();
        let journal = storage.journal.clone();
        let changed: Vec<_> = self
            .all()
            .into_iter()
            .filter(|t| t.changed_since_snapshot() || t.erasures_to_purge().is_some())
            .collect();
        if changed.is_empty() {
            // Nothing to write is a round done: the snapshots on disk are current.
            metrics::record_snapshot(started.elapsed(), journal.disk_bytes());
            return Ok(0);
        }
        let previous = journal.rotate();
        let sync = storage.settings.durability == Durability::Fsync;
        let mut written = 0;
        // Tenants with erasures to purge, and how many their newest snapshot covers.
        let mut purging = Vec::new();
        for tenant in &changed {
            // Read before the image, so the image holds at least these erasures.
            let erasures = tenant.erasures_to_purge();
            let dir = SnapshotDir::new(&storage.snapshots, &tenant.name);
            // The image is the whole tenant, serialised (megabytes for a busy
            // one): that runs where blocking is allowed, not on an async worker.
            let imaging = tenant.clone();
            let image = tokio::task::spawn_blocking(move || imaging.image())
                .await
                .map_err(|e| SnapshotRoundError::Task(e.to_string()))?;
            match image {
                Some((seq, bytes)) => {
                    // A snapshot never holds what the journal has not made durable.
                    journal.wait_for(seq).await?;
                    tokio::task::spawn_blocking(move || {
                        dir.write(seq, &bytes, sync)?;
                        // After an erasure the fallback snapshot may hold the data.
                        if erasures.is_some() {
                            dir.keep_newest_only();
                        }
                        Ok::<_, crate::storage::snapshot::SnapshotError>(())
                    })
                    .await
                    .map_err(|e| SnapshotRoundError::Task(e.to_string()))??;
                    tenant.snapshot_taken(seq);
                    written += 1;
                }
                // Unchanged: its newest snapshot already holds the erasures.
                None if erasures.is_some() => {
                    tokio::task::spawn_blocking(move || dir.keep_newest_only())
                        .await
                        .map_err(|e| SnapshotRoundError::Task(e.to_string()))?;
                }
                None => {}
            }
            if let Some(n) = erasures {
                purging.push((tenant.clone(), n));
            }
        }
        // Every tenant's newest snapshot now holds all its records of generations up
        // to `previous`; `previous` itself stays, so the snapshot before (which holds
        // everything before it) can still be used if the newest is damaged. After an
        // erasure `previous` goes too, unless a tenant not written in this round
        // changed since the changed ones were picked (its records may be in it): then
        // the next round tries again.
        let unwritten_changed = self
            .all()
            .into_iter()
            .filter(|t| !changed.iter().any(|c| std::sync::Arc::ptr_eq(c, t)))
            .any(|t| t.changed_since_snapshot());
        let purge = !purging.is_empty() && !unwritten_changed;
        let keep_from = if purge { previous + 1 } else { previous };
        let dropping = journal.clone();
        tokio::task::spawn_blocking(move || dropping.drop_before(keep_from))
            .await
            .map_err(|e| SnapshotRoundError::Task(e.to_string()))?
            .map_err(|e| SnapshotRoundError::Journal(e.to_string()))?;
        if purge {
            for (tenant, erasures) in purging {
                tenant.purged(erasures);
            }
        }
        metrics::record_snapshot(started.elapsed(), journal.disk_bytes());
        if written > 0 {
            tracing::debug!(
                tenants = written,
                took_ms = started.elapsed().as_millis() as u64,
                "snapshots written"
            );
        }
        Ok(written)
    }

    /// Takes snapshots every `storage.snapshot_secs`, or sooner once
    /// `storage.snapshot_records` records were journaled, until shutdown.
    pub async fn run_snapshots(self) {
        let Some(storage) = self.storage().cloned() else {
            return;
        };
        let every = Duration::from_secs(storage.settings.snapshot_secs);
        let mut interval = tokio::time::interval(Duration::from_secs(1));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let stopped = self.stopped();
        tokio::pin!(stopped);
        let mut last = Instant::now();
        let mut since = storage.journal.appended();
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                _ = &mut stopped => return,
            }
            let appended = storage.journal.appended();
            if last.elapsed() < every
                && appended.saturating_sub(since) < storage.settings.snapshot_records
            {
                continue;
            }
            if let Err(e) = self.snapshot_all().await {
                tracing::error!(error = %e, "snapshot round failed; the journal is kept until one succeeds");
            }
            last = Instant::now();
            since = appended;
        }
    }
}
