//! Running one candidate at one batch size: timed appends on a writer
//! thread, then a disk-usage measurement and a cold recovery read.

use std::{
    fs::{self, File},
    io::Write,
    os::unix::fs::MetadataExt,
    path::Path,
    sync::Arc,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, anyhow, ensure};
use rustix::fs::{Advice, fadvise, syncfs};

use crate::{candidates::Candidate, workload::Workload};

/// Everything measured for one candidate, mode and batch size.
pub(crate) struct Outcome {
    /// The candidate and mode.
    pub(crate) candidate: Candidate,
    /// Records per commit.
    pub(crate) batch: usize,
    /// Records committed.
    pub(crate) records: u64,
    /// Logical bytes committed (keys plus values).
    pub(crate) bytes: u64,
    /// Wall time of the append loop.
    pub(crate) elapsed: Duration,
    /// Median batch commit latency.
    pub(crate) p50: Duration,
    /// 99th percentile batch commit latency.
    pub(crate) p99: Duration,
    /// Bytes allocated on disk by the journal directory after close.
    pub(crate) disk_bytes: u64,
    /// Whether every file's pages were dropped from the page cache before the
    /// recovery read.
    pub(crate) evicted: bool,
    /// Wall time of opening the journal and reading every record back.
    pub(crate) recovery: Duration,
    /// Median `sync_data` latency of the disk probe just before the appends.
    pub(crate) probe_before: Duration,
    /// Median `sync_data` latency of the disk probe just after the appends.
    pub(crate) probe_after: Duration,
}

impl Outcome {
    /// Committed records per second.
    pub(crate) fn records_per_sec(&self) -> f64 {
        self.records as f64 / self.elapsed.as_secs_f64()
    }

    /// Committed logical megabytes (10^6 bytes) per second.
    pub(crate) fn mb_per_sec(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.elapsed.as_secs_f64()
    }

    /// Disk bytes allocated per committed record.
    pub(crate) fn disk_bytes_per_record(&self) -> f64 {
        self.disk_bytes as f64 / self.records as f64
    }

    /// Records read back per second in the recovery read.
    pub(crate) fn recovery_records_per_sec(&self) -> f64 {
        self.records as f64 / self.recovery.as_secs_f64()
    }
}

/// What the writer thread reports back.
struct Written {
    /// Records committed.
    records: u64,
    /// Logical bytes committed.
    bytes: u64,
    /// Wall time of the append loop.
    elapsed: Duration,
    /// Latency of every batch commit, in commit order.
    latencies: Vec<Duration>,
}

/// Pause before each measurement, after the file system has been synced, so
/// that write-back and discards left over from the previous measurement
/// (whose files were just deleted) do not land in this one.
const SETTLE: Duration = Duration::from_secs(1);

/// Runs `candidate` with `batch` records per commit for `duration` in a
/// fresh temporary directory under `base_dir`, then measures disk use and
/// the recovery read. The directory is removed afterwards.
pub(crate) fn run(
    candidate: Candidate,
    batch: usize,
    duration: Duration,
    base_dir: &Path,
    workload: &Arc<Workload>,
) -> Result<Outcome> {
    syncfs(&File::open(base_dir)?)?;
    thread::sleep(SETTLE);

    let tmp = tempfile::Builder::new()
        .prefix("storage-candidates-")
        .tempdir_in(base_dir)
        .with_context(|| format!("creating a temporary directory in {}", base_dir.display()))?;
    let dir = tmp.path().join("journal");
    fs::create_dir(&dir)?;
    let probe_path = tmp.path().join("probe");
    let probe_before = probe_fsync(&probe_path)?;

    let writer_dir = dir.clone();
    let writer_workload = Arc::clone(workload);
    let written = thread::Builder::new()
        .name("journal-writer".into())
        .spawn(move || write_for(candidate, &writer_dir, batch, duration, &writer_workload))?
        .join()
        .map_err(|_| anyhow!("writer thread panicked"))??;

    let probe_after = probe_fsync(&probe_path)?;
    let disk_bytes = allocated_bytes(&dir)?;
    let evicted = evict_page_cache(&dir)?;

    let start = Instant::now();
    let check = candidate.recover(&dir, workload)?;
    let recovery = start.elapsed();
    ensure!(
        check.records() == written.records && check.bytes() == written.bytes,
        "{} {}: recovered {} records ({} bytes), wrote {} ({} bytes)",
        candidate.name(),
        candidate.mode(),
        check.records(),
        check.bytes(),
        written.records,
        written.bytes
    );

    tmp.close()?;

    let mut latencies = written.latencies;
    latencies.sort_unstable();
    Ok(Outcome {
        candidate,
        batch,
        records: written.records,
        bytes: written.bytes,
        elapsed: written.elapsed,
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
        disk_bytes,
        evicted,
        recovery,
        probe_before,
        probe_after,
    })
}

/// Appends made by the disk probe.
const PROBE_WRITES: usize = 100;

/// Measures how busy the disk is right now: the median latency of
/// `PROBE_WRITES` 256-byte appends, each followed by `sync_data`, to a fresh
/// file at `path` (outside the journal directory; removed afterwards). On a
/// quiet disk this matches the plain file's batch-1 p50; when something else
/// on the machine is writing heavily it rises, which flags the row as noisy.
fn probe_fsync(path: &Path) -> Result<Duration> {
    let mut file = File::create_new(path)?;
    let block = [0x5au8; 256];
    let mut latencies = Vec::with_capacity(PROBE_WRITES);
    for _ in 0..PROBE_WRITES {
        let start = Instant::now();
        file.write_all(&block)?;
        file.sync_data()?;
        latencies.push(start.elapsed());
    }
    drop(file);
    fs::remove_file(path)?;
    latencies.sort_unstable();
    Ok(percentile(&latencies, 0.50))
}

/// The writer thread: creates the journal, appends batches until `duration`
/// has passed, then closes the journal (untimed).
fn write_for(
    candidate: Candidate,
    dir: &Path,
    batch_size: usize,
    duration: Duration,
    workload: &Workload,
) -> Result<Written> {
    let mut journal = candidate.create(dir)?;
    let mut batch = Vec::with_capacity(batch_size);
    let mut latencies = Vec::with_capacity(1 << 16);
    let mut records = 0u64;
    let mut bytes = 0u64;

    let start = Instant::now();
    while start.elapsed() < duration {
        workload.fill_batch(records, batch_size, &mut batch);
        let commit_start = Instant::now();
        journal.append_batch(&batch)?;
        latencies.push(commit_start.elapsed());
        records += batch.len() as u64;
        bytes += batch.iter().map(|r| r.len() as u64).sum::<u64>();
    }
    let elapsed = start.elapsed();
    journal.close()?;

    Ok(Written {
        records,
        bytes,
        elapsed,
        latencies,
    })
}

/// Nearest-rank percentile `q` (0..=1) of sorted `latencies`.
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Calls `f` on every regular file under `dir`, recursively.
fn for_each_file(dir: &Path, f: &mut dyn FnMut(&Path, &fs::Metadata) -> Result<()>) -> Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if meta.is_dir() {
            for_each_file(&entry.path(), f)?;
        } else if meta.is_file() {
            f(&entry.path(), &meta)?;
        }
    }
    Ok(())
}

/// Bytes allocated on disk by the files under `dir` (what `du` counts).
fn allocated_bytes(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for_each_file(dir, &mut |_, meta| {
        total += meta.blocks() * 512;
        Ok(())
    })?;
    Ok(total)
}

/// Writes back and then drops the cached pages of every file under `dir`
/// (`posix_fadvise(POSIX_FADV_DONTNEED)`), so the recovery read starts from
/// disk rather than from the page cache. Only this benchmark's own files are
/// touched. Returns whether every file accepted the advice.
fn evict_page_cache(dir: &Path) -> Result<bool> {
    let mut all = true;
    for_each_file(dir, &mut |path, _| {
        let file = File::open(path)?;
        file.sync_all()?;
        all &= fadvise(&file, 0, None, Advice::DontNeed).is_ok();
        Ok(())
    })?;
    Ok(all)
}
