//! The journal: every accepted change, written before the client is told, in one
//! ordered sequence per process.
//!
//! Callers append encoded records under their tenant's lock and get a sequence
//! number; one writer thread takes everything appended, writes it as one fjall batch
//! and makes it durable with one fsync (group commit), then publishes the highest
//! durable number. Acknowledgements wait for that number, so a crash can only lose
//! changes nobody was told about.
//!
//! Records live in *generations* (one fjall keyspace each). Snapshots rotate to a new
//! generation; once every tenant has a snapshot taken after a rotation, the
//! generations before the previous one are dropped whole, so the journal stays about
//! two snapshot intervals long while a damaged latest snapshot can still fall back to
//! the one before.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use tokio::sync::watch;

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
    /// Bytes cut from a damaged write-ahead file when it was opened.
    cut_bytes: u64,
}

struct Shared {
    /// The database and its generations; `None` only while it is reopened after a
    /// failed write (fjall refuses every write after one fails).
    store: Mutex<Option<Store>>,
    dir: std::path::PathBuf,
    durability: Durability,
    window: Duration,
    pending: Mutex<Pending>,
    wake: Condvar,
    /// Highest sequence number appended.
    appended: AtomicU64,
    progress: watch::Sender<Progress>,
}

/// The open database and one keyspace per generation.
struct Store {
    db: Database,
    keyspaces: BTreeMap<u64, Keyspace>,
}

impl Store {
    fn open(dir: &std::path::Path) -> Result<(Store, u64), fjall::Error> {
        let (db, cut_bytes) = match open_database(dir) {
            Err(fjall::Error::JournalRecovery(why)) => {
                tracing::error!(error = ?why, dir = %dir.display(),
                    "journal damaged before its tail; cutting it back to the last good batch");
                metrics::record_corruption("journal");
                repair(dir)?
            }
            opened => (opened?, 0),
        };
        let mut keyspaces = BTreeMap::new();
        for name in db.list_keyspace_names() {
            if let Some(generation) = generation_of(&name) {
                keyspaces.insert(
                    generation,
                    db.keyspace(&name, KeyspaceCreateOptions::default)?,
                );
            }
        }
        Ok((Store { db, keyspaces }, cut_bytes))
    }

    fn keyspace(&mut self, generation: u64) -> Result<Keyspace, fjall::Error> {
        if let Some(ks) = self.keyspaces.get(&generation) {
            return Ok(ks.clone());
        }
        let ks = self
            .db
            .keyspace(&keyspace_name(generation), KeyspaceCreateOptions::default)?;
        self.keyspaces.insert(generation, ks.clone());
        Ok(ks)
    }
}

/// The journal is being reopened after a failed write.
fn reopening() -> fjall::Error {
    fjall::Error::Io(std::io::Error::other("the journal is being reopened"))
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
    /// When the oldest of them was appended.
    since: Option<Instant>,
    next_seq: u64,
    generation: u64,
    closing: bool,
}

fn open_database(dir: &std::path::Path) -> Result<Database, fjall::Error> {
    Database::builder(dir)
        .manual_journal_persist(true)
        .worker_threads(1)
        .open()
}

/// Cuts fjall's newest write-ahead file back to the longest prefix that opens: the
/// damaged batch and everything after it are dropped, as a torn tail would be. The
/// prefixes that open form a range from zero (a cut inside or before the damaged batch
/// leaves it as a torn tail), so a binary search over the file finds the cut.
fn repair(dir: &std::path::Path) -> Result<(Database, u64), fjall::Error> {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jnl"))
        .collect();
    files.sort_by_key(|p| {
        p.file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<u64>().ok())
    });
    let Some(newest) = files.pop() else {
        return Ok((open_database(dir)?, 0));
    };
    let original = std::fs::read(&newest)?;
    let used = original.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let opens = |len: usize| -> bool {
        std::fs::write(&newest, &original[..len]).is_ok() && open_database(dir).is_ok()
    };
    let (mut good, mut bad) = (0, used);
    while bad - good > 1 {
        let mid = good + (bad - good) / 2;
        if opens(mid) {
            good = mid;
        } else {
            bad = mid;
        }
    }
    std::fs::write(&newest, &original[..good])?;
    let db = open_database(dir)?;
    tracing::error!(
        file = %newest.display(),
        kept_bytes = good,
        cut_bytes = used - good,
        "journal cut back; the records in the cut bytes are lost (the recovery log names the last record kept)"
    );
    Ok((db, (used - good) as u64))
}

fn keyspace_name(generation: u64) -> String {
    format!("journal-{generation:012}")
}

fn generation_of(name: &str) -> Option<u64> {
    name.strip_prefix("journal-")?.parse().ok()
}

impl Journal {
    /// Opens (or creates) the journal in `dir`; [`Journal::start`] starts its writer.
    /// A write-ahead file damaged before its tail is cut back to its last good batch.
    pub fn open(
        dir: &std::path::Path,
        durability: Durability,
        window: Duration,
    ) -> Result<Journal, fjall::Error> {
        let (store, cut_bytes) = Store::open(dir)?;
        let keyspaces = &store.keyspaces;
        let last_seq = keyspaces
            .values()
            .filter_map(|ks| ks.last_key_value())
            .filter_map(|guard| guard.key().ok())
            .filter_map(|key| key.as_ref().try_into().ok().map(u64::from_be_bytes))
            .max()
            .unwrap_or(0);
        let generation = keyspaces.keys().next_back().map_or(1, |g| g + 1);
        let (progress, _) = watch::channel(Progress {
            durable: last_seq,
            failing: false,
        });
        let shared = Arc::new(Shared {
            store: Mutex::new(Some(store)),
            dir: dir.to_owned(),
            durability,
            window,
            pending: Mutex::new(Pending {
                records: Vec::new(),
                since: None,
                next_seq: last_seq + 1,
                generation,
                closing: false,
            }),
            wake: Condvar::new(),
            appended: AtomicU64::new(last_seq),
            progress,
        });
        Ok(Journal {
            shared,
            writer: Mutex::new(None),
            cut_bytes,
        })
    }

    /// Bytes of damaged write-ahead data cut away when the journal was opened.
    pub fn cut_bytes(&self) -> u64 {
        self.cut_bytes
    }

    /// Starts the writer thread; records appended before it starts wait for it.
    pub fn start(&self) {
        let shared = self.shared.clone();
        let handle = std::thread::Builder::new()
            .name("journal".into())
            .spawn(move || shared.write_loop())
            .expect("the journal thread starts");
        *self.writer.lock().expect("journal lock") = Some(handle);
    }

    /// Every record stored, oldest first, for recovery. Read before the writer starts.
    pub fn stored(&self) -> impl Iterator<Item = StoredRecord> + '_ {
        let keyspaces: Vec<(u64, Keyspace)> = self
            .shared
            .store
            .lock()
            .expect("journal lock")
            .iter()
            .flat_map(|store| store.keyspaces.iter().map(|(g, ks)| (*g, ks.clone())))
            .collect();
        keyspaces.into_iter().flat_map(|(generation, ks)| {
            ks.iter().map(move |guard| match guard.into_inner() {
                Ok((key, value)) => StoredRecord {
                    seq: key.as_ref().try_into().map(u64::from_be_bytes).unwrap_or(0),
                    generation,
                    bytes: Ok(value.to_vec()),
                },
                Err(e) => StoredRecord {
                    seq: 0,
                    generation,
                    bytes: Err(e.to_string()),
                },
            })
        })
    }

    /// Cuts the journal back to the records before `seq` (a damaged record and
    /// everything after it), so new records never follow a hole.
    pub fn cut_from(&self, seq: u64) -> Result<u64, fjall::Error> {
        let guard = self.shared.store.lock().expect("journal lock");
        let store = guard.as_ref().ok_or_else(reopening)?;
        let mut removed = 0;
        for ks in store.keyspaces.values() {
            let keys: Vec<_> = ks
                .range(seq.to_be_bytes()..)
                .filter_map(|guard| guard.key().ok())
                .collect();
            let mut batch = store.db.batch();
            for key in keys {
                batch.remove(ks, key);
                removed += 1;
            }
            batch.commit()?;
        }
        store.db.persist(PersistMode::SyncAll)?;
        drop(guard);
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
            pending.since = Some(Instant::now());
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

    /// Drops every generation older than `generation`.
    pub fn drop_before(&self, generation: u64) -> Result<usize, fjall::Error> {
        let mut guard = self.shared.store.lock().expect("journal lock");
        let store = guard.as_mut().ok_or_else(reopening)?;
        let keep = store.keyspaces.split_off(&generation);
        let old = std::mem::replace(&mut store.keyspaces, keep);
        let dropped = old.len();
        for (_, ks) in old {
            store.db.delete_keyspace(ks)?;
        }
        Ok(dropped)
    }

    /// The oldest generation kept.
    pub fn oldest_generation(&self) -> Option<u64> {
        let guard = self.shared.store.lock().expect("journal lock");
        guard.as_ref()?.keyspaces.keys().next().copied()
    }

    /// Bytes the journal takes on disk.
    pub fn disk_bytes(&self) -> u64 {
        let guard = self.shared.store.lock().expect("journal lock");
        guard
            .as_ref()
            .and_then(|store| store.db.disk_space().ok())
            .unwrap_or(0)
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
        loop {
            let Some(batch) = self.next_batch() else {
                return;
            };
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
                        self.reopen();
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

    /// Waits for records, then up to the commit window for more; `None` once closed
    /// with nothing left.
    fn next_batch(&self) -> Option<Vec<(u64, u64, Vec<u8>)>> {
        let mut pending = self.pending.lock().expect("journal lock");
        while pending.records.is_empty() {
            if pending.closing {
                return None;
            }
            pending = self.wake.wait(pending).expect("journal lock");
        }
        if let Some(since) = pending.since {
            let deadline = since + self.window;
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
        pending.since = None;
        Some(std::mem::take(&mut pending.records))
    }

    /// fjall refuses every write once one failed: the database is closed and opened
    /// again (recovering what reached the disk), and the batch is written again.
    fn reopen(&self) {
        let mut guard = self.store.lock().expect("journal lock");
        drop(guard.take());
        match Store::open(&self.dir) {
            Ok((store, _)) => *guard = Some(store),
            Err(e) => tracing::warn!(error = %e, "journal cannot be opened again yet"),
        }
    }

    fn write(&self, batch: &[(u64, u64, Vec<u8>)]) -> Result<(), fjall::Error> {
        let started = Instant::now();
        let mut guard = self.store.lock().expect("journal lock");
        let store = guard.as_mut().ok_or_else(reopening)?;
        let mut write = store.db.batch();
        let mut bytes = 0;
        for (seq, generation, record) in batch {
            let ks = store.keyspace(*generation)?;
            bytes += record.len();
            write.insert(&ks, seq.to_be_bytes(), record.as_slice());
        }
        write.commit()?;
        let written = started.elapsed();
        // fdatasync: it flushes the data and whatever metadata reading it back needs
        // (a grown file's size); only timestamps are left, which nothing reads.
        let mode = match self.durability {
            Durability::Fsync => PersistMode::SyncData,
            Durability::Buffered | Durability::Off => PersistMode::Buffer,
        };
        store.db.persist(mode)?;
        metrics::record_journal_write(batch.len(), bytes, written, started.elapsed() - written);
        Ok(())
    }
}
