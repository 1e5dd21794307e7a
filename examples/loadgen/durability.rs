//! Phase 9: what durability costs. New conversations (the shape of phase 3) and the
//! relay on assigned conversations (phase 4), each on a fresh server with `[storage]
//! durability` off, buffered and fsync, alternated over two rounds (off, buffered,
//! fsync, off, buffered, fsync) so drift on a shared machine hits every mode alike.
//! After each run the server's `/metrics` is scraped (journal records and batches, the
//! batch fsync histogram) and its data directory measured (allocated blocks, as `du
//! --block-size=1` counts them), then the server is killed and its directory removed.

use std::path::Path;

use super::procs::{self, Bots, DiskUsage, Durability, Server};
use super::stats::{Summary, ms, rate};
use super::{Opts, Result, Window, gateway, new_conversations, spawn_scraper};

const ROUNDS: usize = 2;

/// What one run's journal did, from the server's `/metrics` at its end.
#[derive(Debug, Clone, Copy, Default)]
struct Journal {
    /// `switchboard_journal_records_total`.
    records: f64,
    /// `switchboard_journal_bytes_total` (record payloads).
    bytes: f64,
    /// Batches written: `switchboard_journal_fsync_seconds_count`.
    batches: f64,
    /// Batch fsync (the OS write when buffered) p50 and p99, ms, from the histogram.
    fsync_p50_ms: Option<f64>,
    fsync_p99_ms: Option<f64>,
}

impl Journal {
    fn from_metrics(text: &str) -> Journal {
        const FSYNC: &str = "switchboard_journal_fsync_seconds";
        let quantile =
            |q: f64| procs::histogram_quantile(text, FSYNC, q).map(|seconds| seconds * 1000.0);
        Journal {
            records: procs::metric_sum(text, "switchboard_journal_records_total", ""),
            bytes: procs::metric_sum(text, "switchboard_journal_bytes_total", ""),
            batches: procs::metric_sum(text, &format!("{FSYNC}_count"), ""),
            fsync_p50_ms: quantile(0.5),
            fsync_p99_ms: quantile(0.99),
        }
    }

    fn per_batch(&self) -> String {
        if self.batches > 0.0 {
            format!("{:.1}", self.records / self.batches)
        } else {
            "n/a".to_owned()
        }
    }

    fn fsync_cell(&self) -> String {
        match (self.fsync_p50_ms, self.fsync_p99_ms) {
            (Some(p50), Some(p99)) => format!("{} / {} ms", ms(p50), ms(p99)),
            _ => "n/a".to_owned(),
        }
    }
}

/// One run on one fresh server.
#[derive(Debug, Clone)]
struct Run {
    mode: Durability,
    /// Conversations/s (3) or messages/s (4) in the measured window.
    rate: f64,
    latency: Summary,
    window: Window,
    /// Conversations the server created over the whole run (warm-up included).
    created: f64,
    /// Messages the server relayed over the whole run, both directions (relay runs).
    relayed: f64,
    disk: Option<DiskUsage>,
    journal: Journal,
    log_lines: usize,
    log: std::path::PathBuf,
    /// Refused frames (new conversations) or rejected agent actions (relay).
    refused: u64,
    first_refusal: Option<String>,
}

impl Run {
    fn bytes_per(&self, n: f64) -> String {
        match self.disk {
            Some(d) if n > 0.0 => format!("{:.0} B", d.allocated as f64 / n),
            Some(_) => "n/a".to_owned(),
            None => "no data dir".to_owned(),
        }
    }

    fn disk_cell(&self) -> String {
        match self.disk {
            Some(d) => format!(
                "{} (apparent {}; journal {} of {})",
                mib(d.allocated),
                mib(d.apparent),
                mib(d.wal_allocated),
                mib(d.wal_apparent)
            ),
            None => "no data dir".to_owned(),
        }
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Scrapes the server, measures its data directory, kills it and removes the directory.
async fn finish(server: Server, opts: &Opts) -> Result<(String, Option<DiskUsage>, usize)> {
    let metrics = server.metrics_addr.ok_or("no metrics address")?;
    let text = tokio::task::spawn_blocking(move || procs::scrape(metrics)).await??;
    let disk = server.data_dir.as_deref().map(procs::disk_usage);
    // Servers without a journal warn once that a restart loses everything: expected.
    let lines = std::fs::read_to_string(&server.log)
        .map(|s| {
            s.lines()
                .filter(|l| !l.contains("storage.durability is off"))
                .count()
        })
        .unwrap_or(0);
    server.stop();
    if let Some(dir) = &server.data_dir
        && !opts.keep_data
    {
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok((text, disk, lines))
}

async fn new_run(
    bin: &Path,
    self_exe: &Path,
    dir: &Path,
    opts: &Opts,
    mode: Durability,
    round: usize,
) -> Result<Run> {
    procs::set_durability(mode);
    let tag = format!("durability-new-{}-{round}", mode.as_str());
    let server = procs::spawn_switchboard(bin, self_exe, dir, &tag, Bots::Off)?;
    let log = server.log.clone();
    let scraper = spawn_scraper(&server, opts);
    let (window, mut stats) = new_conversations(
        &server,
        "loadgen-new",
        i64::MAX,
        Some(opts.tenant_conversations / opts.streams as u64),
        opts,
    )
    .await?;
    scraper.abort();
    let (text, disk, log_lines) = finish(server, opts).await?;
    Ok(Run {
        mode,
        rate: window.per_sec(),
        latency: stats.latency.summary(),
        window,
        created: procs::metric_sum(&text, "switchboard_conversations_created_total", ""),
        relayed: 0.0,
        disk,
        journal: Journal::from_metrics(&text),
        log_lines,
        log,
        refused: stats.rejected,
        first_refusal: stats.first_rejection.take(),
    })
}

async fn relay_run(
    bin: &Path,
    self_exe: &Path,
    dir: &Path,
    opts: &Opts,
    mode: Durability,
    round: usize,
) -> Result<Run> {
    procs::set_durability(mode);
    let tag = format!("durability-relay-{}-{round}", mode.as_str());
    let server = procs::spawn_switchboard(bin, self_exe, dir, &tag, Bots::Off)?;
    let log = server.log.clone();
    let scraper = spawn_scraper(&server, opts);
    let mut r = gateway::relay(&server, opts).await?;
    scraper.abort();
    let (text, disk, log_lines) = finish(server, opts).await?;
    Ok(Run {
        mode,
        rate: r.window.per_sec(),
        latency: r.latency.summary(),
        window: r.window,
        created: procs::metric_sum(&text, "switchboard_conversations_created_total", ""),
        relayed: procs::metric_sum(&text, "switchboard_messages_relayed_total", ""),
        disk,
        journal: Journal::from_metrics(&text),
        log_lines,
        log,
        refused: r.agent_errors,
        first_refusal: None,
    })
}

/// Runs phase 9 and prints its tables. Restores `--durability` afterwards.
pub(crate) async fn run(bin: &Path, self_exe: &Path, dir: &Path, opts: &Opts) -> Result<()> {
    println!();
    println!(
        "## Durability cost: phases 3 and 4 with `[storage] durability` off, buffered and fsync, alternated"
    );
    println!();
    println!(
        "Each run is a fresh server with its own empty data directory ({} s warm-up, {} s measured); the order is off, buffered, fsync, then again. \"vs off\" and \"p99 added\" compare with the off run of the same round. Disk is the data directory's allocated size after the run (`du --block-size=1`: blocks in use), per conversation the server created over the whole run (warm-up included); the journal's generation files (append-only) are shown as \"journal allocated of apparent\". Records per batch = `switchboard_journal_records_total` / `switchboard_journal_fsync_seconds_count` (the group-commit batch: one fsync each when fsync; one OS write when buffered); fsync p50 / p99 are interpolated from that histogram's buckets (50 µs, 100 µs, 250 µs, 500 µs, 1 ms, 2.5 ms, ...).",
        opts.warmup, opts.seconds
    );
    let configured = procs::durability();
    let mut new_runs: Vec<(usize, Run)> = Vec::new();
    let mut relay_runs: Vec<(usize, Run)> = Vec::new();
    let result = async {
        for round in 1..=ROUNDS {
            for mode in Durability::ALL {
                let run = new_run(bin, self_exe, dir, opts, mode, round).await?;
                eprintln!(
                    "phase 9 round {round} {}: new conversations {} conv/s",
                    mode.as_str(),
                    rate(run.rate)
                );
                new_runs.push((round, run));
                let run = relay_run(bin, self_exe, dir, opts, mode, round).await?;
                eprintln!(
                    "phase 9 round {round} {}: relay {} msgs/s",
                    mode.as_str(),
                    rate(run.rate)
                );
                relay_runs.push((round, run));
            }
        }
        Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    }
    .await;
    procs::set_durability(configured);
    result?;

    println!();
    println!(
        "### 9a new conversations ({} streams × window {}, no agents; first response delivered)",
        opts.streams, opts.window
    );
    println!();
    println!(
        "| round | durability | conv/s | vs off | first response p50 / p99 / p99.9 / max | p99 added vs off | data dir allocated (apparent; journal allocated of apparent) | conversations created | disk per conversation | journal records per batch | fsync p50 / p99 | server CPU | other CPU |"
    );
    println!(
        "| --- | --- | ---: | ---: | --- | ---: | --- | ---: | ---: | ---: | --- | ---: | ---: |"
    );
    print_rows(&new_runs, |r| r.bytes_per(r.created), |r| rate(r.created));
    print_means(&new_runs, "conv/s", |r| r.bytes_per(r.created));
    print_notes(&new_runs, "conversation", |r| r.created);

    println!();
    println!(
        "### 9b relay ({} agents × {}, {} streams × window {}; round trip customer → agent → customer)",
        opts.agents, opts.capacity, opts.streams, opts.window
    );
    println!();
    println!(
        "| round | durability | msgs/s | vs off | round trip p50 / p99 / p99.9 / max | p99 added vs off | data dir allocated (apparent; journal allocated of apparent) | conversations created / messages relayed | disk per conversation / per relayed message | journal records per batch | fsync p50 / p99 | server CPU | other CPU |"
    );
    println!(
        "| --- | --- | ---: | ---: | --- | ---: | --- | ---: | ---: | ---: | --- | ---: | ---: |"
    );
    print_rows(
        &relay_runs,
        |r| format!("{} / {}", r.bytes_per(r.created), r.bytes_per(r.relayed)),
        |r| format!("{} / {}", rate(r.created), rate(r.relayed)),
    );
    print_means(&relay_runs, "msgs/s", |r| {
        format!("{} / {}", r.bytes_per(r.created), r.bytes_per(r.relayed))
    });
    print_notes(&relay_runs, "relayed message", |r| r.relayed);
    Ok(())
}

/// The off run of `round`.
fn off_of(runs: &[(usize, Run)], round: usize) -> Option<&Run> {
    runs.iter()
        .find(|(r, run)| *r == round && run.mode == Durability::Off)
        .map(|(_, run)| run)
}

fn print_rows(runs: &[(usize, Run)], per: impl Fn(&Run) -> String, count: impl Fn(&Run) -> String) {
    for (round, run) in runs {
        let off = off_of(runs, *round);
        let ratio = off.map_or("n/a".to_owned(), |o| {
            format!("{:.1} %", 100.0 * run.rate / o.rate.max(f64::MIN_POSITIVE))
        });
        let added = off.map_or("n/a".to_owned(), |o| {
            format!("{:+.2} ms", run.latency.p99_ms - o.latency.p99_ms)
        });
        println!(
            "| {round} | {} | {} | {ratio} | {} | {added} | {} | {} | {} | {} | {} | {:.0} % | {:.0} % |",
            run.mode.as_str(),
            rate(run.rate),
            run.latency.cell(),
            run.disk_cell(),
            count(run),
            per(run),
            if run.mode == Durability::Off {
                "no journal".to_owned()
            } else {
                run.journal.per_batch()
            },
            if run.mode == Durability::Off {
                "no journal".to_owned()
            } else {
                run.journal.fsync_cell()
            },
            run.window.server_cpu,
            run.window.other_cpu,
        );
    }
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { f64::NAN } else { sum / n as f64 }
}

fn print_means(runs: &[(usize, Run)], unit: &str, per: impl Fn(&Run) -> String) {
    let of = |mode: Durability| runs.iter().filter(move |(_, r)| r.mode == mode);
    let off_rate = mean(of(Durability::Off).map(|(_, r)| r.rate));
    let off_p99 = mean(of(Durability::Off).map(|(_, r)| r.latency.p99_ms));
    println!();
    println!(
        "| mean of {ROUNDS} rounds | {unit} | vs off (ratio of the means) | p50 / p99 (means) | p99 added vs off | disk per conversation (each round) | records per batch (each round) | fsync p50 (each round) |"
    );
    println!("| --- | ---: | ---: | --- | ---: | --- | --- | --- |");
    for mode in Durability::ALL {
        let rate_mean = mean(of(mode).map(|(_, r)| r.rate));
        let p50 = mean(of(mode).map(|(_, r)| r.latency.p50_ms));
        let p99 = mean(of(mode).map(|(_, r)| r.latency.p99_ms));
        let each =
            |f: &dyn Fn(&Run) -> String| of(mode).map(|(_, r)| f(r)).collect::<Vec<_>>().join(", ");
        let journal = mode != Durability::Off;
        println!(
            "| {} | {} | {:.1} % | {} / {} ms | {:+.2} ms | {} | {} | {} |",
            mode.as_str(),
            rate(rate_mean),
            100.0 * rate_mean / off_rate.max(f64::MIN_POSITIVE),
            ms(p50),
            ms(p99),
            p99 - off_p99,
            each(&|r| per(r)),
            if journal {
                each(&|r| r.journal.per_batch())
            } else {
                "no journal".to_owned()
            },
            if journal {
                each(&|r| r.journal.fsync_p50_ms.map_or("n/a".to_owned(), ms) + " ms")
            } else {
                "no journal".to_owned()
            },
        );
    }
}

/// Per run: the journal's own counts, and anything refused or logged.
fn print_notes(runs: &[(usize, Run)], unit: &str, count: impl Fn(&Run) -> f64) {
    println!();
    for (round, run) in runs {
        let mut notes = Vec::new();
        if run.mode != Durability::Off {
            let j = &run.journal;
            notes.push(format!(
                "journal {} records, {} batches, {} of record payload ({:.0} B per {unit}, {:.0} B per record)",
                rate(j.records),
                rate(j.batches),
                mib(j.bytes as u64),
                j.bytes / count(run).max(f64::MIN_POSITIVE),
                j.bytes / j.records.max(1.0)
            ));
            if let Some(d) = run.disk {
                notes.push(format!(
                    "data dir without the journal files: {} allocated",
                    mib(d.allocated - d.wal_allocated)
                ));
            }
        }
        if run.refused > 0 {
            notes.push(format!(
                "refused: {}{}",
                run.refused,
                run.first_refusal
                    .as_deref()
                    .map(|r| format!(" (first: {r})"))
                    .unwrap_or_default()
            ));
        }
        if run.log_lines > 0 {
            notes.push(format!(
                "the server logged {} warn/error lines besides the expected \"durability is off\" warning ({})",
                run.log_lines,
                run.log.display()
            ));
        }
        if !notes.is_empty() {
            println!(
                "- round {round}, {}: {}",
                run.mode.as_str(),
                notes.join("; ")
            );
        }
    }
}
