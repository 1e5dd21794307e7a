//! The storage candidates and the modes each is measured in.

mod fjall_db;
mod okaywal_log;
mod plain_file;
mod redb_db;

use std::{path::Path, sync::Arc};

use anyhow::{Result, ensure};

use crate::workload::{Record, Workload};

/// A journal being written: one call per batch, which returns once the batch
/// is as durable as the candidate's mode makes it.
pub(crate) trait Journal {
    /// Appends every record of `batch` in one commit.
    fn append_batch(&mut self, batch: &[Record<'_>]) -> Result<()>;

    /// Makes everything written so far durable and closes the journal. Not
    /// timed; for the non-durable modes this is where the data reaches disk,
    /// so that the recovery read finds all of it.
    fn close(self: Box<Self>) -> Result<()>;
}

/// One candidate in one mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Candidate {
    /// Plain file, length+crc32 frames, `sync_data()` per batch.
    PlainSyncData,
    /// Plain file, length+crc32 frames, no sync at all (write only).
    PlainNoSync,
    /// fjall batch commit, then `persist(PersistMode::SyncAll)`.
    FjallSyncAll,
    /// fjall batch commit, then `persist(PersistMode::SyncData)`.
    FjallSyncData,
    /// fjall batch commit, then `persist(PersistMode::Buffer)` (no fsync).
    FjallBuffer,
    /// redb write transaction committed with `Durability::Immediate`.
    RedbImmediate,
    /// redb write transaction committed with `Durability::None`.
    RedbNone,
    /// okaywal entry with one chunk per record, committed (always fsyncs).
    OkayWal,
}

impl Candidate {
    /// Every candidate and mode, in the order of a forward run.
    pub(crate) const ALL: [Candidate; 8] = [
        Candidate::PlainSyncData,
        Candidate::PlainNoSync,
        Candidate::FjallSyncAll,
        Candidate::FjallSyncData,
        Candidate::FjallBuffer,
        Candidate::RedbImmediate,
        Candidate::RedbNone,
        Candidate::OkayWal,
    ];

    /// Short name of the storage engine.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Candidate::PlainSyncData | Candidate::PlainNoSync => "plain file",
            Candidate::FjallSyncAll | Candidate::FjallSyncData | Candidate::FjallBuffer => "fjall",
            Candidate::RedbImmediate | Candidate::RedbNone => "redb",
            Candidate::OkayWal => "okaywal",
        }
    }

    /// The durability mode, as the engine's API calls it.
    pub(crate) fn mode(self) -> &'static str {
        match self {
            Candidate::PlainSyncData => "sync_data",
            Candidate::PlainNoSync => "no sync",
            Candidate::FjallSyncAll => "SyncAll",
            Candidate::FjallSyncData => "SyncData",
            Candidate::FjallBuffer => "Buffer",
            Candidate::RedbImmediate => "Immediate",
            Candidate::RedbNone => "None",
            Candidate::OkayWal => "commit",
        }
    }

    /// Whether a batch is on disk (fsync'd) when `append_batch` returns.
    pub(crate) fn is_durable(self) -> bool {
        !matches!(
            self,
            Candidate::PlainNoSync | Candidate::FjallBuffer | Candidate::RedbNone
        )
    }

    /// The plain-file row this candidate's throughput is compared with: the
    /// synced one for durable modes, the unsynced one otherwise.
    pub(crate) fn yardstick(self) -> Candidate {
        if self.is_durable() {
            Candidate::PlainSyncData
        } else {
            Candidate::PlainNoSync
        }
    }

    /// Creates a new, empty journal in the empty directory `dir`.
    pub(crate) fn create(self, dir: &Path) -> Result<Box<dyn Journal>> {
        Ok(match self {
            Candidate::PlainSyncData => Box::new(plain_file::PlainFile::create(dir, true)?),
            Candidate::PlainNoSync => Box::new(plain_file::PlainFile::create(dir, false)?),
            Candidate::FjallSyncAll => Box::new(fjall_db::FjallJournal::create(
                dir,
                fjall::PersistMode::SyncAll,
            )?),
            Candidate::FjallSyncData => Box::new(fjall_db::FjallJournal::create(
                dir,
                fjall::PersistMode::SyncData,
            )?),
            Candidate::FjallBuffer => Box::new(fjall_db::FjallJournal::create(
                dir,
                fjall::PersistMode::Buffer,
            )?),
            Candidate::RedbImmediate => Box::new(redb_db::RedbJournal::create(
                dir,
                redb::Durability::Immediate,
            )?),
            Candidate::RedbNone => {
                Box::new(redb_db::RedbJournal::create(dir, redb::Durability::None)?)
            }
            Candidate::OkayWal => Box::new(okaywal_log::OkayWalJournal::create(dir)?),
        })
    }

    /// Opens the journal in `dir` as after a restart and reads every record,
    /// checking each against `workload`.
    pub(crate) fn recover(self, dir: &Path, workload: &Arc<Workload>) -> Result<RecoveryCheck> {
        let mut check = RecoveryCheck::new(Arc::clone(workload));
        match self {
            Candidate::PlainSyncData | Candidate::PlainNoSync => {
                plain_file::recover(dir, &mut check)?;
            }
            Candidate::FjallSyncAll | Candidate::FjallSyncData | Candidate::FjallBuffer => {
                fjall_db::recover(dir, &mut check)?;
            }
            Candidate::RedbImmediate | Candidate::RedbNone => redb_db::recover(dir, &mut check)?,
            Candidate::OkayWal => check = okaywal_log::recover(dir, check)?,
        }
        Ok(check)
    }
}

/// Checks that recovered records come back in sequence order with the values
/// that were written, and counts them.
pub(crate) struct RecoveryCheck {
    /// The workload the records were drawn from.
    workload: Arc<Workload>,
    /// Sequence number the next recovered record must have.
    next_seq: u64,
    /// Logical bytes (key plus value) recovered so far.
    bytes: u64,
}

impl RecoveryCheck {
    /// Starts a check expecting sequence number 0 first.
    pub(crate) fn new(workload: Arc<Workload>) -> Self {
        Self {
            workload,
            next_seq: 0,
            bytes: 0,
        }
    }

    /// Checks one recovered record.
    pub(crate) fn visit(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let seq = u64::from_be_bytes(key.try_into()?);
        ensure!(
            seq == self.next_seq,
            "recovered record {seq}, expected {}",
            self.next_seq
        );
        ensure!(
            value == self.workload.value_of(seq),
            "record {seq} came back with a different value"
        );
        self.next_seq += 1;
        self.bytes += (key.len() + value.len()) as u64;
        Ok(())
    }

    /// Number of records recovered.
    pub(crate) fn records(&self) -> u64 {
        self.next_seq
    }

    /// Logical bytes recovered.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }
}
