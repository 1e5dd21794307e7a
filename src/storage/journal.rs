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
}

struct Shared {
    db: Database,
    durability: Durability,
    window: Duration,
    pending: Mutex<Pending>,
    wake: Condvar,
    /// Highest sequence number appended.
    appended: AtomicU64,
    progress: watch::Sender<Progress>,
    keyspaces: Mutex<BTreeMap<u64, Keyspace>>,
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

fn keyspace_name(generation: u64) -> String {
    format!("journal-{generation:012}")
}

fn generation_of(name: &str) -> Option<u64> {
    name.strip_prefix("journal-")?.parse().ok()
}

impl Journal {
    /// Opens (or creates) the journal in `dir` and starts its writer. `after` is the
    /// highest sequence number known elsewhere (snapshots), so numbers are never
    /// reused even when every journal record has been dropped.
    pub fn open(
        dir: &std::path::Path,
        durability: Durability,
        window: Duration,
    ) -> Result<Journal, fjall::Error> {
        let db = Database::builder(dir)
            .manual_journal_persist(true)
            .worker_threads(1)
            .open()?;
        let mut keyspaces = BTreeMap::new();
        for name in db.list_keyspace_names() {
            if let Some(generation) = generation_of(&name) {
                keyspaces.insert(
                    generation,
                    db.keyspace(&name, KeyspaceCreateOptions::default)?,
                );
            }
        }
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
            db,
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
            keyspaces: Mutex::new(keyspaces),
        });
        Ok(Journal {
            shared,
            writer: Mutex::new(None),
        })
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
            .keyspaces
            .lock()
            .expect("journal lock")
            .iter()
            .map(|(g, ks)| (*g, ks.clone()))
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
        let keyspaces: Vec<Keyspace> = self
            .shared
            .keyspaces
            .lock()
            .expect("journal lock")
            .values()
            .cloned()
            .collect();
        let mut removed = 0;
        for ks in keyspaces {
            let keys: Vec<_> = ks
                .range(seq.to_be_bytes()..)
                .filter_map(|guard| guard.key().ok())
                .collect();
            let mut batch = self.shared.db.batch();
            for key in keys {
                batch.remove(&ks, key);
                removed += 1;
            }
            batch.commit()?;
        }
        self.shared.db.persist(PersistMode::SyncAll)?;
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

    /// Waits until every record appended so far is durable.
    pub async fn settle(&self) -> Result<(), NotDurable> {
        self.wait_for(self.appended()).await
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
        let old: Vec<(u64, Keyspace)> = {
            let mut keyspaces = self.shared.keyspaces.lock().expect("journal lock");
            let keep = keyspaces.split_off(&generation);
            std::mem::replace(&mut *keyspaces, keep)
                .into_iter()
                .collect()
        };
        let dropped = old.len();
        for (_, ks) in old {
            self.shared.db.delete_keyspace(ks)?;
        }
        Ok(dropped)
    }

    /// The oldest generation kept.
    pub fn oldest_generation(&self) -> Option<u64> {
        self.shared
            .keyspaces
            .lock()
            .expect("journal lock")
            .keys()
            .next()
            .copied()
    }

    /// Bytes the journal takes on disk.
    pub fn disk_bytes(&self) -> u64 {
        self.shared.db.disk_space().unwrap_or(0)
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

    fn write(&self, batch: &[(u64, u64, Vec<u8>)]) -> Result<(), fjall::Error> {
        let started = Instant::now();
        let mut write = self.db.batch();
        let mut bytes = 0;
        let mut keyspaces = self.keyspaces.lock().expect("journal lock");
        for (seq, generation, record) in batch {
            let ks = match keyspaces.get(generation) {
                Some(ks) => ks.clone(),
                None => {
                    let ks = self
                        .db
                        .keyspace(&keyspace_name(*generation), KeyspaceCreateOptions::default)?;
                    keyspaces.insert(*generation, ks.clone());
                    ks
                }
            };
            bytes += record.len();
            write.insert(&ks, seq.to_be_bytes(), record.as_slice());
        }
        drop(keyspaces);
        write.commit()?;
        let written = started.elapsed();
        let mode = match self.durability {
            Durability::Fsync => PersistMode::SyncAll,
            Durability::Buffered | Durability::Off => PersistMode::Buffer,
        };
        self.db.persist(mode)?;
        metrics::record_journal_write(batch.len(), bytes, written, started.elapsed() - written);
        Ok(())
    }
}
