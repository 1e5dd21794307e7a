//! okaywal 0.3: one log entry per batch with one chunk (`key ++ value`) per
//! record; `EntryWriter::commit` returns once the entry is `sync_data`'d.
//!
//! Checkpointing is switched off (`checkpoint_after_bytes(u64::MAX)`): okaywal
//! recycles a segment once its entries are checkpointed, and this benchmark
//! reads everything back afterwards, so nothing may be recycled. Segments keep
//! the default 1 MiB preallocation; the one active segment grows past it.

use std::{
    fmt,
    io::{self, Write},
    path::Path,
    sync::{Arc, Mutex},
};

use anyhow::{Result, anyhow};
use okaywal::{
    Configuration, Entry, EntryId, LogManager, ReadChunkResult, SegmentReader, WriteAheadLog,
};

use super::{Journal, RecoveryCheck};
use crate::workload::Record;

/// The log configuration used both for writing and for recovery.
fn configuration(dir: &Path) -> Configuration {
    Configuration::default_for(dir).checkpoint_after_bytes(u64::MAX)
}

/// An okaywal write-ahead log.
pub(super) struct OkayWalJournal {
    /// The log.
    wal: WriteAheadLog,
}

impl OkayWalJournal {
    /// Creates a log in `dir`.
    pub(super) fn create(dir: &Path) -> Result<Self> {
        let wal = configuration(dir).open(Manager { check: None })?;
        Ok(Self { wal })
    }
}

impl Journal for OkayWalJournal {
    fn append_batch(&mut self, batch: &[Record<'_>]) -> Result<()> {
        let mut entry = self.wal.begin_entry()?;
        for record in batch {
            let mut chunk = entry.begin_chunk(u32::try_from(record.len())?)?;
            chunk.write_all(&record.key)?;
            chunk.write_all(record.value)?;
            chunk.finish()?;
        }
        entry.commit()?;
        Ok(())
    }

    fn close(self: Box<Self>) -> Result<()> {
        // Every committed entry is already synced; this joins the checkpoint thread.
        self.wal.shutdown()?;
        Ok(())
    }
}

/// Opens the log in `dir`, which makes okaywal hand every recovered entry to
/// the log manager, and checks each record. The log manager must be
/// `'static`, so `check` moves into it and comes back once the log is shut
/// down.
pub(super) fn recover(dir: &Path, check: RecoveryCheck) -> Result<RecoveryCheck> {
    let shared = Arc::new(Mutex::new(check));
    let wal = configuration(dir).open(Manager {
        check: Some(Arc::clone(&shared)),
    })?;
    wal.shutdown()?;
    Arc::try_unwrap(shared)
        .map_err(|_| anyhow!("okaywal kept its log manager after shutdown"))?
        .into_inner()
        .map_err(|_| anyhow!("recovery check mutex poisoned"))
}

/// The okaywal log manager: checks recovered records when recovering, and
/// never expects a checkpoint.
struct Manager {
    /// Where recovered records go; `None` while writing.
    check: Option<Arc<Mutex<RecoveryCheck>>>,
}

impl fmt::Debug for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manager").finish_non_exhaustive()
    }
}

impl LogManager for Manager {
    fn recover(&mut self, entry: &mut Entry<'_>) -> io::Result<()> {
        let Some(check) = &self.check else {
            return Ok(());
        };
        let mut check = check
            .lock()
            .map_err(|_| io::Error::other("recovery check mutex poisoned"))?;
        loop {
            let mut chunk = match entry.read_chunk()? {
                ReadChunkResult::Chunk(chunk) => chunk,
                ReadChunkResult::EndOfEntry => return Ok(()),
                ReadChunkResult::AbortedEntry => {
                    return Err(io::Error::other("aborted entry in a cleanly closed log"));
                }
            };
            let data = chunk.read_all()?;
            if !chunk.check_crc()? {
                return Err(io::Error::other("chunk crc mismatch"));
            }
            if data.len() < 8 {
                return Err(io::Error::other("chunk shorter than its key"));
            }
            check
                .visit(&data[..8], &data[8..])
                .map_err(|e| io::Error::other(e.to_string()))?;
        }
    }

    fn checkpoint_to(
        &mut self,
        _last_checkpointed_id: EntryId,
        _checkpointed_entries: &mut SegmentReader,
        _wal: &WriteAheadLog,
    ) -> io::Result<()> {
        Err(io::Error::other(
            "checkpointing is switched off in this benchmark",
        ))
    }
}
