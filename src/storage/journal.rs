//! The journal: every accepted change, written before the client is told, in one
//! ordered sequence per process.
//!
//! Callers append encoded records under their tenant's lock and get a sequence
//! number; one writer thread takes everything appended, writes it with one `write`
//! and makes it durable with one `fdatasync` (group commit), then publishes the
//! highest durable number. Acknowledgements wait for that number, so a crash can only
//! lose changes nobody was told about.
//!
//! Records live in *generations*, one append-only file each ([`super::segment`]).
//! Snapshots rotate to a new generation; once every tenant has a snapshot taken after
//! a rotation, the generations before the previous one are deleted whole, so the
//! journal stays about two snapshot intervals long while a damaged latest snapshot
//! can still fall back to the one before. A process writes only to generations newer
//! than any it found at start, so files written before are only ever read, cut back
//! or deleted.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::segment::{self, End, Reader};
use super::settings::Durability;
use crate::telemetry::metrics;

/// How far the journal has written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Every record up to this sequence number is durable.
    pub durable: u64,
    /// The last write failed (disk full or failing); new work is refused until a
    /// retry succeeds.
    pub failing: bool,
}

/// The journal could not make a change durable.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the journal cannot write (disk full or failing); the change was not confirmed")]
pub struct NotDurable;

/// A record read back at recovery.
#[derive(Debug)]
pub struct StoredRecord {
    /// Its sequence number.
    pub seq: u64,
    /// Its generation.
    pub generation: u64,
    /// The encoded record, or why it could not be read.
    pub bytes: Result<Vec<u8>, String>,
}

/// Handle to the journal; cheap to share.
#[derive(Debug)]
pub struct Journal {
    shared: Arc<Shared>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Bytes cut from the newest file when it was opened (a torn tail or damage).
    cut_bytes: u64,
}

struct Shared {
    files: Mutex<Files>,
    durability: Durability,
    window: Duration,
    pending: Mutex<Pending>,
    wake: Condvar,
    /// Highest sequence number appended.
    appended: AtomicU64,
    progress: watch::Sender<Progress>,
    /// Syncs left to fail, for tests of the failure path.
    #[cfg(test)]
    failing_syncs: AtomicU64,
}

/// The journal's directory and its generation files.
struct Files {
    dir: PathBuf,
    generations: BTreeMap<u64, Generation>,
    /// Held for the journal's life: one process per directory.
    _lock: File,
}

/// One generation's file.
struct Generation {
    path: PathBuf,
    /// Bytes of whole records: where the next write goes. A failed write is cut back
    /// to it before it is tried again, so a retry never leaves a broken record
    /// between whole ones.
    len: u64,
    /// Open for writing while it is the generation being written.
    file: Option<File>,
}

impl Files {
    fn open(dir: &Path) -> std::io::Result<Files> {
        std::fs::create_dir_all(dir)?;
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("LOCK"))?;
        lock.try_lock().map_err(|e| {
            std::io::Error::other(format!(
                "{} is in use by another process ({e})",
                dir.display()
            ))
        })?;
        let mut generations = BTreeMap::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let Some(generation) = entry.file_name().to_str().and_then(segment::generation_of)
            else {
                continue;
            };
            generations.insert(
                generation,
                Generation {
                    path: entry.path(),
                    len: entry.metadata()?.len(),
                    file: None,
                },
            );
        }
        Ok(Files {
            dir: dir.to_owned(),
            generations,
            _lock: lock,
        })
    }

    /// The file of `generation`, created (and its directory entry made durable)
    /// on its first record. Files of older generations are closed: nothing is
    /// written to them again.
    fn writable(&mut self, generation: u64) -> std::io::Result<&mut Generation> {
        if !self.generations.contains_key(&generation) {
            let path = self.dir.join(segment::file_name(generation));
            let file = File::options()
                .create(true)
                .truncate(true)
                .write(true)
                .open(&path)?;
            File::open(&self.dir)?.sync_all()?;
            for older in self.generations.values_mut() {
                older.file = None;
            }
            self.generations.insert(
                generation,
                Generation {
                    path,
                    len: 0,
                    file: Some(file),
                },
            );
        }
        let current = self
            .generations
            .get_mut(&generation)
            .expect("inserted above");
        if current.file.is_none() {
            // Only a generation found at start has no handle, and those are never
            // written; open it rather than fail if one ever is.
            current.file = Some(File::options().write(true).open(&current.path)?);
        }
        Ok(current)
    }

    /// Cuts generation `generation`'s file to `len` bytes, durably.
    fn truncate(&mut self, generation: u64, len: u64) -> std::io::Result<()> {
        let entry = self
            .generations
            .get_mut(&generation)
            .expect("a known generation");
        let file = File::options().write(true).open(&entry.path)?;
        file.set_len(len)?;
        file.sync_all()?;
        entry.len = len;
        Ok(())
    }

    /// Deletes generation `generation`'s file.
    fn delete(&mut self, generation: u64) -> std::io::Result<()> {
        if let Some(entry) = self.generations.remove(&generation) {
            std::fs::remove_file(&entry.path)?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("durability", &self.durability)
            .field("window", &self.window)
            .field("appended", &self.appended)
            .field("progress", &*self.progress.borrow())
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct Pending {
    /// Records appended and not yet taken by the writer: sequence, generation, bytes.
    records: Vec<(u64, u64, Vec<u8>)>,
    next_seq: u64,
    generation: u64,
    closing: bool,
}

/// The records of every generation in order, up to the first that is not whole.
struct StoredRecords {
    generations: std::collections::VecDeque<(u64, PathBuf)>,
    reading: Option<(u64, Reader)>,
    done: bool,
}

impl Iterator for StoredRecords {
    type Item = StoredRecord;

    fn next(&mut self) -> Option<StoredRecord> {
        while !self.done {
            let Some((generation, reader)) = &mut self.reading else {
                let (generation, path) = self.generations.pop_front()?;
                match Reader::open(&path) {
                    Ok(reader) => self.reading = Some((generation, reader)),
                    Err(e) => {
                        self.done = true;
                        return Some(StoredRecord {
                            seq: 0,
                            generation,
                            bytes: Err(format!("{}: {e}", path.display())),
                        });
                    }
                }
                continue;
            };
            let generation = *generation;
            if let Some((seq, bytes)) = reader.next_record() {
                return Some(StoredRecord {
                    seq,
                    generation,
                    bytes: Ok(bytes),
                });
            }
            // The newest file's tail was cut at open, so any file that does not end
            // cleanly is damaged.
            let why = match reader.end() {
                Some(End::Clean) | None => None,
                Some(End::Damaged(why)) => Some(why.clone()),
                Some(End::Torn) => Some(format!(
                    "generation {generation} ends in a record cut short"
                )),
            };
            self.reading = None;
            if let Some(why) = why {
                self.done = true;
                return Some(StoredRecord {
                    seq: 0,
                    generation,
                    bytes: Err(why),
                });
            }
        }
        None
    }
}

/// Reads the newest file that holds records to its end, cutting off a torn tail or
/// whatever follows damage; returns the last sequence number kept and the bytes cut.
fn open_newest(files: &mut Files, dir: &Path) -> std::io::Result<(u64, u64)> {
    let newest_first: Vec<u64> = files.generations.keys().rev().copied().collect();
    let mut cut_bytes = 0;
    for generation in newest_first {
        let path = files.generations[&generation].path.clone();
        let mut reader = Reader::open(&path)?;
        let mut last = None;
        while let Some((seq, _)) = reader.next_record() {
            last = Some(seq);
        }
        let kept = reader.offset();
        let cut = reader.file_len() - kept;
        match reader.end() {
            Some(End::Damaged(why)) => {
                tracing::error!(error = %why, dir = %dir.display(), cut_bytes = cut,
                    "journal damaged before its tail; cutting it back to the last whole record \
                     (the recovery log names the last record kept)");
                metrics::record_corruption("journal");
            }
            Some(End::Torn) => {
                tracing::info!(file = %path.display(), cut_bytes = cut,
                    "journal ends in a write cut short; it was never confirmed and is dropped");
            }
            _ => {}
        }
        if cut > 0 {
            files.truncate(generation, kept)?;
            cut_bytes += cut;
        }
        if let Some(seq) = last {
            return Ok((seq, cut_bytes));
        }
    }
    Ok((0, cut_bytes))
}

impl Journal {
    /// Opens (or creates) the journal in `dir`; [`Journal::start`] starts its writer.
    /// The newest file's torn tail, or everything after damage in it, is cut off.
    pub fn open(dir: &Path, durability: Durability, window: Duration) -> std::io::Result<Journal> {
        let mut files = Files::open(dir)?;
        let (last_seq, cut_bytes) = open_newest(&mut files, dir)?;
        let generation = files.generations.keys().next_back().map_or(1, |g| g + 1);
        let (progress, _) = watch::channel(Progress {
            durable: last_seq,
            failing: false,
        });
        let shared = Arc::new(Shared {
            files: Mutex::new(files),
            durability,
            window,
            pending: Mutex::new(Pending {
                records: Vec::new(),
                next_seq: last_seq + 1,
                generation,
                closing: false,
            }),
            wake: Condvar::new(),
            appended: AtomicU64::new(last_seq),
            progress,
            #[cfg(test)]
            failing_syncs: AtomicU64::new(0),
        });
        Ok(Journal {
            shared,
            writer: Mutex::new(None),
            cut_bytes,
        })
    }

    /// Bytes cut from the newest file when the journal was opened: a torn tail (a
    /// write never confirmed) or whatever followed damage. Conversation ids those
    /// bytes may have given out are skipped.
    pub fn cut_bytes(&self) -> u64 {
        self.cut_bytes
    }

    /// Starts the writer thread; records appended before it starts wait for it.
    pub fn start(&self) {
        let shared = self.shared.clone();
        let handle = std::thread::Builder::new()
            .name("journal".into())
            .spawn(move || {
                let wrote = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    shared.write_loop();
                }));
                if wrote.is_err() {
                    // Nothing will be made durable again: refuse every wait from now
                    // on rather than leave clients waiting for ever.
                    tracing::error!("journal writer stopped after a panic; refusing new work");
                    shared.progress.send_modify(|p| p.failing = true);
                }
            })
            .expect("the journal thread starts");
        *self.writer.lock().expect("journal lock") = Some(handle);
    }

    /// Every record stored, oldest first, for recovery; a record that is not whole
    /// comes back as an error, and nothing after it. Read before the writer starts.
    pub fn stored(&self) -> impl Iterator<Item = StoredRecord> + '_ {
        let files = self.shared.files.lock().expect("journal lock");
        StoredRecords {
            generations: files
                .generations
                .iter()
                .map(|(g, entry)| (*g, entry.path.clone()))
                .collect(),
            reading: None,
            done: false,
        }
    }

    /// Cuts the journal back to the records before `seq` (a damaged record and
    /// everything after it), so new records never follow a hole; returns how many
    /// whole records went with the cut.
    pub fn cut_from(&self, seq: u64) -> std::io::Result<u64> {
        let mut files = self.shared.files.lock().expect("journal lock");
        let generations: Vec<(u64, PathBuf)> = files
            .generations
            .iter()
            .map(|(g, entry)| (*g, entry.path.clone()))
            .collect();
        let mut removed = 0;
        let mut cut = false;
        for (generation, path) in generations {
            let mut reader = Reader::open(&path)?;
            // Where this file is cut: at its start once an earlier file was cut, else
            // at the first record numbered `seq` or more, or where it stops being whole.
            let mut cut_at = cut.then_some(0);
            loop {
                let at = reader.offset();
                let Some((record_seq, _)) = reader.next_record() else {
                    if reader.end() != Some(&End::Clean) {
                        cut_at.get_or_insert(at);
                    }
                    break;
                };
                if record_seq >= seq {
                    cut_at.get_or_insert(at);
                }
                removed += u64::from(cut_at.is_some());
            }
            match cut_at {
                None => continue,
                Some(0) => files.delete(generation)?,
                Some(len) => files.truncate(generation, len)?,
            }
            cut = true;
        }
        File::open(&files.dir)?.sync_all()?;
        drop(files);
        let last = seq.saturating_sub(1);
        self.shared.appended.store(last, Ordering::Release);
        self.shared.pending.lock().expect("journal lock").next_seq = last + 1;
        self.shared.progress.send_replace(Progress {
            durable: last,
            failing: false,
        });
        Ok(removed)
    }

    /// Numbers records from above `seq` on (the highest number a snapshot holds).
    pub fn continue_after(&self, seq: u64) {
        let mut pending = self.shared.pending.lock().expect("journal lock");
        if pending.next_seq <= seq {
            pending.next_seq = seq + 1;
            self.shared.appended.store(seq, Ordering::Release);
            self.shared.progress.send_replace(Progress {
                durable: seq,
                failing: false,
            });
        }
    }

    /// Appends encoded records in order; returns the sequence number of the last.
    pub fn append(&self, records: impl IntoIterator<Item = Vec<u8>>) -> u64 {
        let mut pending = self.shared.pending.lock().expect("journal lock");
        let was_empty = pending.records.is_empty();
        let generation = pending.generation;
        for bytes in records {
            let seq = pending.next_seq;
            pending.next_seq += 1;
            pending.records.push((seq, generation, bytes));
        }
        let last = pending.next_seq - 1;
        self.shared.appended.store(last, Ordering::Release);
        if was_empty && !pending.records.is_empty() {
            self.shared.wake.notify_one();
        }
        last
    }

    /// The highest sequence number appended so far.
    pub fn appended(&self) -> u64 {
        self.shared.appended.load(Ordering::Acquire)
    }

    /// How far the journal has written.
    pub fn progress(&self) -> Progress {
        *self.shared.progress.borrow()
    }

    /// Waits until record `seq` is durable; fails while the disk fails.
    pub async fn wait_for(&self, seq: u64) -> Result<(), NotDurable> {
        let reached = |p: &Progress| p.durable >= seq || p.failing;
        let now = self.progress();
        let progress = if reached(&now) {
            now
        } else {
            let mut rx = self.shared.progress.subscribe();
            match rx.wait_for(reached).await {
                Ok(p) => *p,
                Err(_) => return Err(NotDurable),
            }
        };
        if progress.durable >= seq {
            Ok(())
        } else {
            Err(NotDurable)
        }
    }

    /// Whether the last write failed.
    pub fn is_failing(&self) -> bool {
        self.progress().failing
    }

    /// Starts a new generation for records appended from now on; returns the one
    /// that was current.
    pub fn rotate(&self) -> u64 {
        let mut pending = self.shared.pending.lock().expect("journal lock");
        pending.generation += 1;
        pending.generation - 1
    }

    /// Deletes every generation older than `generation`; returns how many went.
    /// Blocks: unlinking a file of a few hundred MiB takes tens of milliseconds
    /// (50-60 ms for 200 MiB on the bench machine's ext4), so it runs off the async
    /// workers, and after the generations left the writer's lock, which the writer
    /// needs for every group commit.
    pub fn drop_before(&self, generation: u64) -> std::io::Result<usize> {
        let old = {
            let mut files = self.shared.files.lock().expect("journal lock");
            let kept = files.generations.split_off(&generation);
            std::mem::replace(&mut files.generations, kept)
        };
        for entry in old.values() {
            std::fs::remove_file(&entry.path)?;
        }
        Ok(old.len())
    }

    /// The oldest generation kept.
    pub fn oldest_generation(&self) -> Option<u64> {
        let files = self.shared.files.lock().expect("journal lock");
        files.generations.keys().next().copied()
    }

    /// Bytes the journal takes on disk.
    pub fn disk_bytes(&self) -> u64 {
        let files = self.shared.files.lock().expect("journal lock");
        files.generations.values().map(|entry| entry.len).sum()
    }

    /// Writes what is pending, stops the writer and waits for it.
    pub fn close(&self) {
        self.shared.pending.lock().expect("journal lock").closing = true;
        self.shared.wake.notify_one();
        if let Some(handle) = self.writer.lock().expect("journal lock").take() {
            let _ = handle.join();
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.close();
    }
}

impl Shared {
    fn write_loop(&self) {
        let mut last_start = None;
        loop {
            let Some(batch) = self.next_batch(last_start) else {
                return;
            };
            last_start = Some(Instant::now());
            let last = batch.last().map_or(0, |(seq, _, _)| *seq);
            let mut failed = false;
            loop {
                match self.write(&batch) {
                    Ok(()) => break,
                    Err(e) => {
                        if !failed {
                            tracing::error!(error = %e, "journal write failed; refusing new work until it succeeds");
                        }
                        failed = true;
                        metrics::record_journal_failure();
                        self.progress.send_modify(|p| p.failing = true);
                        if self.pending.lock().expect("journal lock").closing {
                            tracing::error!(
                                records = batch.len(),
                                "journal closed with records it could not write"
                            );
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(500));
                    }
                }
            }
            if failed {
                tracing::info!("journal writes again");
            }
            self.progress.send_replace(Progress {
                durable: last,
                failing: false,
            });
        }
    }

    /// Waits for records, and then until a commit window has passed since the last
    /// group commit began (`last_start`), so that records arriving meanwhile share
    /// one write and fsync; `None` once closed with nothing left. An idle journal
    /// writes a record at once: only a busy one waits for company.
    fn next_batch(&self, last_start: Option<Instant>) -> Option<Vec<(u64, u64, Vec<u8>)>> {
        let mut pending = self.pending.lock().expect("journal lock");
        while pending.records.is_empty() {
            if pending.closing {
                return None;
            }
            pending = self.wake.wait(pending).expect("journal lock");
        }
        if let Some(started) = last_start {
            let deadline = started + self.window;
            loop {
                let now = Instant::now();
                if now >= deadline || pending.closing {
                    break;
                }
                pending = self
                    .wake
                    .wait_timeout(pending, deadline - now)
                    .expect("journal lock")
                    .0;
            }
        }
        Some(std::mem::take(&mut pending.records))
    }

    /// Writes a batch: one write per generation it touches (in practice one), then,
    /// when durability is fsync, one `fdatasync` each. A failed write is cut back to
    /// the last whole record before it, so trying again leaves no broken record (nor
    /// a second copy) in between.
    fn write(&self, batch: &[(u64, u64, Vec<u8>)]) -> std::io::Result<()> {
        let started = Instant::now();
        let mut files = self.files.lock().expect("journal lock");
        let mut before: Vec<(u64, u64)> = Vec::new();
        let written = Self::write_runs(&mut files, batch, &mut before).and_then(|bytes| {
            let wrote = started.elapsed();
            if self.durability == Durability::Fsync {
                // fdatasync: it flushes the data and whatever metadata reading it back
                // needs (a grown file's size); only timestamps are left, which nothing
                // reads.
                for (generation, _) in &before {
                    if let Some(file) = files
                        .generations
                        .get(generation)
                        .and_then(|entry| entry.file.as_ref())
                    {
                        self.sync(file)?;
                    }
                }
            }
            Ok((bytes, wrote))
        });
        match written {
            Ok((bytes, wrote)) => {
                metrics::record_journal_write(batch.len(), bytes, wrote, started.elapsed() - wrote);
                Ok(())
            }
            Err(e) => {
                for (generation, len) in before {
                    if let Some(entry) = files.generations.get_mut(&generation) {
                        entry.len = len;
                        if let Some(file) = &entry.file {
                            let _ = file.set_len(len);
                        }
                    }
                }
                Err(e)
            }
        }
    }

    /// One `fdatasync` (failing on purpose while a test asks it to).
    fn sync(&self, file: &File) -> std::io::Result<()> {
        #[cfg(test)]
        if self
            .failing_syncs
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                left.checked_sub(1)
            })
            .is_ok()
        {
            return Err(std::io::Error::other("injected sync failure"));
        }
        file.sync_data()
    }

    /// Appends each run of one generation's records to its file with one write;
    /// notes each file's length before it in `before`; returns the payload bytes.
    fn write_runs(
        files: &mut Files,
        batch: &[(u64, u64, Vec<u8>)],
        before: &mut Vec<(u64, u64)>,
    ) -> std::io::Result<usize> {
        let mut buf = Vec::with_capacity(
            batch
                .iter()
                .map(|(_, _, r)| r.len() + segment::HEADER)
                .sum(),
        );
        let mut bytes = 0;
        let mut rest = batch;
        while let Some(&(_, generation, _)) = rest.first() {
            let run = rest.iter().take_while(|(_, g, _)| *g == generation).count();
            buf.clear();
            for (seq, _, record) in &rest[..run] {
                segment::encode(&mut buf, *seq, record)?;
                bytes += record.len();
            }
            rest = &rest[run..];
            let entry = files.writable(generation)?;
            before.push((generation, entry.len));
            let file = entry.file.as_ref().expect("writable opens the file");
            file.write_all_at(&buf, entry.len)?;
            entry.len += buf.len() as u64;
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sb-journal-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn open(dir: &Path) -> Journal {
        open_with_window(dir, Duration::ZERO)
    }

    fn open_with_window(dir: &Path, window: Duration) -> Journal {
        let journal = Journal::open(dir, Durability::Fsync, window).unwrap();
        journal.start();
        journal
    }

    /// Runs `future` to its end on a runtime of its own.
    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(future)
    }

    fn write(journal: &Journal, records: &[&str]) -> u64 {
        let last = journal.append(records.iter().map(|r| r.as_bytes().to_vec()));
        block_on(journal.wait_for(last)).unwrap();
        last
    }

    fn stored(journal: &Journal) -> Vec<(u64, u64, Result<String, String>)> {
        journal
            .stored()
            .map(|r| {
                (
                    r.seq,
                    r.generation,
                    r.bytes.map(|b| String::from_utf8(b).unwrap()),
                )
            })
            .collect()
    }

    fn ok(seq: u64, generation: u64, text: &str) -> (u64, u64, Result<String, String>) {
        (seq, generation, Ok(text.to_owned()))
    }

    #[test]
    fn records_come_back_in_order_across_generations_and_restarts() {
        let dir = dir("order");
        let journal = open(&dir);
        assert_eq!(write(&journal, &["a", "b"]), 2);
        assert_eq!(journal.rotate(), 1);
        write(&journal, &["c"]);
        drop(journal);
        let journal = open(&dir);
        assert_eq!(journal.progress().durable, 3);
        assert_eq!(journal.cut_bytes(), 0);
        write(&journal, &["d"]);
        drop(journal);
        let journal = open(&dir);
        assert_eq!(
            stored(&journal),
            vec![ok(1, 1, "a"), ok(2, 1, "b"), ok(3, 2, "c"), ok(4, 3, "d")]
        );
        assert_eq!(journal.oldest_generation(), Some(1));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_second_process_on_the_same_directory_is_refused() {
        let dir = dir("lock");
        let journal = open(&dir);
        let refused = Journal::open(&dir, Durability::Fsync, Duration::ZERO).unwrap_err();
        assert!(refused.to_string().contains("in use"), "{refused}");
        drop(journal);
        drop(open(&dir));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_cut_keeps_what_came_before_and_deletes_later_generations() {
        let dir = dir("cut");
        let journal = open(&dir);
        write(&journal, &["a", "b", "c"]);
        journal.rotate();
        write(&journal, &["d", "e"]);
        assert_eq!(journal.cut_from(2).unwrap(), 4);
        assert_eq!(journal.progress().durable, 1);
        drop(journal);
        let journal = open(&dir);
        assert_eq!(stored(&journal), vec![ok(1, 1, "a")]);
        assert_eq!(
            write(&journal, &["f"]),
            2,
            "numbering goes on after the cut"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn damage_in_an_older_generation_ends_the_records_there() {
        let dir = dir("older");
        let journal = open(&dir);
        write(&journal, &["first", "second"]);
        journal.rotate();
        write(&journal, &["third"]);
        drop(journal);
        let older = dir.join(segment::file_name(1));
        let mut bytes = std::fs::read(&older).unwrap();
        let at = segment::HEADER + 2;
        bytes[at] ^= 0x40;
        std::fs::write(&older, bytes).unwrap();
        let journal = open(&dir);
        let records = stored(&journal);
        assert_eq!(records.len(), 1, "{records:?}");
        assert!(records[0].2.is_err(), "{records:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn dropping_generations_deletes_their_files() {
        let dir = dir("drop");
        let journal = open(&dir);
        write(&journal, &["a"]);
        journal.rotate();
        write(&journal, &["b"]);
        journal.rotate();
        write(&journal, &["c"]);
        let before = journal.disk_bytes();
        assert_eq!(journal.drop_before(3).unwrap(), 2);
        assert_eq!(journal.oldest_generation(), Some(3));
        assert!(journal.disk_bytes() < before);
        assert!(!dir.join(segment::file_name(1)).exists());
        assert_eq!(stored(&journal), vec![ok(3, 3, "c")]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_torn_last_write_is_cut_at_open_and_its_numbers_are_given_again() {
        let dir = dir("torn");
        let journal = open(&dir);
        write(&journal, &["kept", "torn"]);
        drop(journal);
        let file = dir.join(segment::file_name(1));
        let len = std::fs::metadata(&file).unwrap().len();
        File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_len(len - 2)
            .unwrap();
        let journal = open(&dir);
        assert_eq!(journal.progress().durable, 1);
        assert!(journal.cut_bytes() > 0);
        assert_eq!(write(&journal, &["next"]), 2);
        assert_eq!(stored(&journal), vec![ok(1, 1, "kept"), ok(2, 2, "next")]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A failed sync is cut back and written again: no record lost, none twice,
    /// and waits refused while it fails.
    #[test]
    fn failed_syncs_are_written_again_in_order_without_second_copies() {
        let dir = dir("failed-sync");
        let journal = Journal::open(&dir, Durability::Fsync, Duration::ZERO).unwrap();
        journal.shared.failing_syncs.store(3, Ordering::Release);
        journal.start();
        let mut last = 0;
        let mut refused = 0;
        for round in 0..40 {
            for i in 0..5 {
                last = journal.append([format!("r{round}-{i}").into_bytes()]);
            }
            // A little apart, so that several batches meet the failures and the
            // records appended during a retry join the rewrite.
            std::thread::sleep(Duration::from_micros(100));
        }
        // The wait ends once the journal has caught up, refused until then.
        while block_on(journal.wait_for(last)).is_err() {
            refused += 1;
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(journal.shared.failing_syncs.load(Ordering::Acquire), 0);
        assert!(refused > 0, "waits during the failure are refused");
        assert_eq!(
            journal.progress(),
            Progress {
                durable: last,
                failing: false
            }
        );
        drop(journal);
        let journal = open(&dir);
        let expected: Vec<_> = (0..40)
            .flat_map(|round| (0..5).map(move |i| format!("r{round}-{i}")))
            .enumerate()
            .map(|(n, text)| ok(n as u64 + 1, 1, &text))
            .collect();
        assert_eq!(stored(&journal), expected);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A batch can span a rotation: each record lands in its own generation's
    /// file, in order.
    #[test]
    fn a_batch_across_a_rotation_lands_in_both_files() {
        let dir = dir("batch-rotation");
        let journal = open_with_window(&dir, Duration::from_millis(500));
        // A commit has just begun, so the next two records wait for the window
        // together, one each side of the rotation.
        write(&journal, &["first"]);
        journal.append([b"before".to_vec()]);
        journal.rotate();
        assert_eq!(write(&journal, &["after"]), 3);
        assert_eq!(
            journal.progress(),
            Progress {
                durable: 3,
                failing: false
            }
        );
        drop(journal);
        let journal = open(&dir);
        assert_eq!(
            stored(&journal),
            vec![ok(1, 1, "first"), ok(2, 1, "before"), ok(3, 2, "after")]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The window paces commits; it never holds back a record on an idle journal.
    #[test]
    fn an_idle_journal_writes_at_once_whatever_the_window() {
        let dir = dir("idle");
        let journal = open_with_window(&dir, Duration::from_secs(600));
        let last = journal.append([b"alone".to_vec()]);
        let waited = block_on(async {
            tokio::time::timeout(Duration::from_secs(60), journal.wait_for(last)).await
        });
        assert!(
            matches!(waited, Ok(Ok(()))),
            "the first record waited for the window"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
