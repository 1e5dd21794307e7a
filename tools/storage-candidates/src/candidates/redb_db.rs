//! redb 4: one table `u64 -> &[u8]`, one write transaction per batch,
//! committed with the durability under test.

use std::path::Path;

use anyhow::Result;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

use super::{Journal, RecoveryCheck};
use crate::workload::Record;

/// Name of the database file inside the candidate's directory.
const FILE_NAME: &str = "journal.redb";

/// The one table holding the journal.
const TABLE: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("journal");

/// A redb database with one table.
pub(super) struct RedbJournal {
    /// The database.
    db: Database,
    /// Durability every batch's transaction commits with.
    durability: Durability,
}

impl RedbJournal {
    /// Creates a database file in `dir`.
    pub(super) fn create(dir: &Path, durability: Durability) -> Result<Self> {
        let db = Database::create(dir.join(FILE_NAME))?;
        Ok(Self { db, durability })
    }
}

impl Journal for RedbJournal {
    fn append_batch(&mut self, batch: &[Record<'_>]) -> Result<()> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(self.durability)?;
        {
            let mut table = txn.open_table(TABLE)?;
            for record in batch {
                table.insert(record.seq(), record.value)?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    fn close(self: Box<Self>) -> Result<()> {
        // One durable commit makes any earlier `Durability::None` commits durable.
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        txn.commit()?;
        Ok(())
    }
}

/// Opens the database file in `dir` and iterates the table.
pub(super) fn recover(dir: &Path, check: &mut RecoveryCheck) -> Result<()> {
    let db = Database::open(dir.join(FILE_NAME))?;
    let txn = db.begin_read()?;
    let table = txn.open_table(TABLE)?;
    for item in table.iter()? {
        let (key, value) = item?;
        check.visit(&key.value().to_be_bytes(), value.value())?;
    }
    Ok(())
}
