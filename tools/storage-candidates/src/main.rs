//! Benchmark of storage candidates for the Switchboard routing journal
//! (issue 10).
//!
//! For every candidate, mode and batch size, a writer thread appends
//! fixed-seed journal records for a fixed time, committing each batch as one
//! unit; then the directory's disk use is measured and everything is read
//! back cold. Results are printed as markdown tables, one per run; the second
//! run goes through the candidates in reverse order.
//!
//! Usage: `cargo run --release -- [--seconds N] [--dir PATH] [--runs N]`

mod bench;
mod candidates;
mod workload;

use std::{path::PathBuf, sync::Arc, time::Duration};

use anyhow::{Context, Result, bail};

use crate::{bench::Outcome, candidates::Candidate, workload::Workload};

/// Records per commit, in the order they are run.
const BATCH_SIZES: [usize; 3] = [1, 64, 512];

/// Command-line settings.
struct Args {
    /// Time each candidate appends for, per mode and batch size.
    seconds: f64,
    /// Directory the temporary journal directories are made in.
    dir: PathBuf,
    /// Number of runs of the whole set; even runs go in reverse order.
    runs: usize,
}

/// The usage text.
const USAGE: &str = "\
usage: storage-candidates [--seconds N] [--dir PATH] [--runs N]

  --seconds N  append time per candidate, mode and batch size (default 5)
  --dir PATH   where the temporary journal directories go (default /tmp)
  --runs N     runs of the whole set, alternating candidate order (default 2)";

impl Args {
    /// Parses the process arguments.
    fn parse() -> Result<Self> {
        let mut args = Self {
            seconds: 5.0,
            dir: PathBuf::from("/tmp"),
            runs: 2,
        };
        let mut it = std::env::args().skip(1);
        while let Some(arg) = it.next() {
            let mut value = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
            match arg.as_str() {
                "--seconds" => {
                    args.seconds = value("--seconds")?
                        .parse()
                        .context("--seconds takes a number")?;
                    if !(args.seconds > 0.0 && args.seconds.is_finite()) {
                        bail!("--seconds must be positive");
                    }
                }
                "--dir" => args.dir = PathBuf::from(value("--dir")?),
                "--runs" => {
                    args.runs = value("--runs")?
                        .parse()
                        .context("--runs takes a whole number")?;
                }
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => bail!("unknown argument {other:?}\n\n{USAGE}"),
            }
        }
        Ok(args)
    }
}

/// Parses the arguments, runs every candidate, mode and batch size `--runs`
/// times and prints one table per run.
fn main() -> Result<()> {
    let args = Args::parse()?;
    let workload = Arc::new(Workload::new());
    let duration = Duration::from_secs_f64(args.seconds);

    println!(
        "storage-candidates: {} s per candidate, mode and batch size; temp dirs under {}; \
         workload seed {:#x}, mean record {:.1} bytes (8-byte key + value)",
        args.seconds,
        args.dir.display(),
        workload::SEED,
        workload.mean_record_len()
    );

    let mut order: Vec<(Candidate, usize)> = Candidate::ALL
        .iter()
        .flat_map(|&c| BATCH_SIZES.iter().map(move |&b| (c, b)))
        .collect();

    for run in 1..=args.runs {
        let forward = run % 2 == 1;
        if run > 1 {
            order.reverse();
        }
        let load_before = load_average();
        let mut outcomes = Vec::with_capacity(order.len());
        for &(candidate, batch) in &order {
            eprintln!(
                "run {run}: {} {} batch {batch} ...",
                candidate.name(),
                candidate.mode()
            );
            outcomes.push(bench::run(
                candidate, batch, duration, &args.dir, &workload,
            )?);
        }
        println!();
        println!(
            "### Run {run} ({} candidate order)",
            if forward { "forward" } else { "reverse" }
        );
        println!();
        print_table(&outcomes);
        println!();
        println!(
            "Load average (1/5/15 min) before the run: {load_before}; after: {}",
            load_average()
        );
    }
    Ok(())
}

/// The first three fields of `/proc/loadavg`, or `unknown`.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_string())
}

/// Prints one run's outcomes as a markdown table, in forward order whatever
/// order they ran in.
fn print_table(outcomes: &[Outcome]) {
    let position = |o: &Outcome| {
        (
            Candidate::ALL.iter().position(|&c| c == o.candidate),
            o.batch,
        )
    };
    let mut rows: Vec<&Outcome> = outcomes.iter().collect();
    rows.sort_by_key(|o| position(o));

    println!(
        "| candidate | mode | fsync | batch | records | records/s | MB/s | p50 ms | p99 ms \
         | disk B/rec | recovery rec/s | ÷ plain | probe ms |"
    );
    println!("|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for o in &rows {
        let yardstick = rows
            .iter()
            .find(|y| y.candidate == o.candidate.yardstick() && y.batch == o.batch);
        let ratio = yardstick.map_or_else(
            || "-".to_string(),
            |y| format!("{:.2}", o.records_per_sec() / y.records_per_sec()),
        );
        println!(
            "| {} | {} | {} | {} | {} | {:.0} | {:.2} | {:.3} | {:.3} | {:.1} | {:.0}{} | {} | {:.2}/{:.2} |",
            o.candidate.name(),
            o.candidate.mode(),
            if o.candidate.is_durable() {
                "yes"
            } else {
                "no"
            },
            o.batch,
            o.records,
            o.records_per_sec(),
            o.mb_per_sec(),
            o.p50.as_secs_f64() * 1e3,
            o.p99.as_secs_f64() * 1e3,
            o.disk_bytes_per_record(),
            o.recovery_records_per_sec(),
            if o.evicted { "" } else { " (warm)" },
            ratio,
            o.probe_before.as_secs_f64() * 1e3,
            o.probe_after.as_secs_f64() * 1e3,
        );
    }
}
