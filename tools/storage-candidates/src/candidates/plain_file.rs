//! The yardstick: one append-only file of `[len u32 LE][crc32 u32 LE][key][value]`
//! frames, where `len` counts key plus value and the crc32 covers both. Each
//! batch is one `write_all` followed, in the synced mode, by one `sync_data()`.

use std::{
    fs::{File, OpenOptions},
    io::{BufReader, ErrorKind, Read, Write},
    path::Path,
};

use anyhow::{Context, Result, bail, ensure};

use super::{Journal, RecoveryCheck};
use crate::workload::Record;

/// Name of the journal file inside the candidate's directory.
const FILE_NAME: &str = "journal.log";

/// Bytes of frame header: length and crc32.
const FRAME_HEADER: usize = 8;

/// An append-only framed file.
pub(super) struct PlainFile {
    /// The journal file, opened for appending.
    file: File,
    /// Whether to `sync_data()` after every batch.
    sync: bool,
    /// Reused buffer the batch is framed into.
    buf: Vec<u8>,
}

impl PlainFile {
    /// Creates the journal file in `dir`, syncing the directory so the new
    /// file's entry is durable too.
    pub(super) fn create(dir: &Path, sync: bool) -> Result<Self> {
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(dir.join(FILE_NAME))?;
        File::open(dir)?.sync_all()?;
        Ok(Self {
            file,
            sync,
            buf: Vec::with_capacity(1 << 20),
        })
    }
}

impl Journal for PlainFile {
    fn append_batch(&mut self, batch: &[Record<'_>]) -> Result<()> {
        self.buf.clear();
        for record in batch {
            let mut crc = crc32fast::Hasher::new();
            crc.update(&record.key);
            crc.update(record.value);
            self.buf
                .extend_from_slice(&u32::try_from(record.len())?.to_le_bytes());
            self.buf.extend_from_slice(&crc.finalize().to_le_bytes());
            self.buf.extend_from_slice(&record.key);
            self.buf.extend_from_slice(record.value);
        }
        self.file.write_all(&self.buf)?;
        if self.sync {
            self.file.sync_data()?;
        }
        Ok(())
    }

    fn close(self: Box<Self>) -> Result<()> {
        self.file.sync_all()?;
        Ok(())
    }
}

/// Reads every frame of the journal in `dir`, verifying lengths and crc32s.
pub(super) fn recover(dir: &Path, check: &mut RecoveryCheck) -> Result<()> {
    let mut reader = BufReader::with_capacity(1 << 20, File::open(dir.join(FILE_NAME))?);
    let mut header = [0u8; FRAME_HEADER];
    let mut body = Vec::new();
    loop {
        match reader.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        let len = u32::from_le_bytes(header[..4].try_into()?) as usize;
        let crc = u32::from_le_bytes(header[4..].try_into()?);
        if len < 8 {
            bail!("frame of {len} bytes is shorter than its key");
        }
        body.resize(len, 0);
        reader
            .read_exact(&mut body)
            .context("journal ends inside a frame")?;
        ensure!(crc32fast::hash(&body) == crc, "crc32 mismatch");
        check.visit(&body[..8], &body[8..])?;
    }
}
