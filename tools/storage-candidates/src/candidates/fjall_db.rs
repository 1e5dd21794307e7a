//! fjall 3.1: one keyspace, one `WriteBatch` per batch, then
//! `Database::persist` in the mode under test. The database is opened with
//! `manual_journal_persist(true)`, so the batch commit itself neither flushes
//! nor syncs; `persist` does.

use std::path::Path;

use anyhow::Result;
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use super::{Journal, RecoveryCheck};
use crate::workload::Record;

/// Name of the one keyspace holding the journal.
const KEYSPACE: &str = "journal";

/// A fjall database with one keyspace.
pub(super) struct FjallJournal {
    /// The database.
    db: Database,
    /// The journal keyspace.
    keyspace: Keyspace,
    /// What `persist` is called with after every batch.
    mode: PersistMode,
}

impl FjallJournal {
    /// Creates a database in `dir`.
    pub(super) fn create(dir: &Path, mode: PersistMode) -> Result<Self> {
        let db = Database::builder(dir).manual_journal_persist(true).open()?;
        let keyspace = db.keyspace(KEYSPACE, KeyspaceCreateOptions::default)?;
        Ok(Self { db, keyspace, mode })
    }
}

impl Journal for FjallJournal {
    fn append_batch(&mut self, batch: &[Record<'_>]) -> Result<()> {
        let mut wb = self.db.batch();
        for record in batch {
            wb.insert(&self.keyspace, record.key, record.value);
        }
        wb.commit()?;
        self.db.persist(self.mode)?;
        Ok(())
    }

    fn close(self: Box<Self>) -> Result<()> {
        self.db.persist(PersistMode::SyncAll)?;
        Ok(())
    }
}

/// Opens the database in `dir` (replaying its journal) and iterates the
/// keyspace.
pub(super) fn recover(dir: &Path, check: &mut RecoveryCheck) -> Result<()> {
    let db = Database::builder(dir).open()?;
    let keyspace = db.keyspace(KEYSPACE, KeyspaceCreateOptions::default)?;
    for guard in keyspace.iter() {
        let (key, value) = guard.into_inner()?;
        check.visit(&key, &value)?;
    }
    Ok(())
}
