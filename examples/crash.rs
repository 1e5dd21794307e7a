//! Crash recovery: kills a journaled `switchboard` with SIGKILL at random moments under
//! load, restarts it on the same data directory, and checks every durability promise
//! after each restart (see `examples/crash/mod.rs` for exactly what is checked and what
//! each check may legitimately see).
//!
//! ```text
//! cargo build --release --bin switchboard --example crash
//! target/release/examples/crash                      # 100 rounds, seed 1, fsync
//! target/release/examples/crash --quick              # the CI size: 8 rounds
//! target/release/examples/crash --rounds 20 --seed 7 --durability buffered -v
//! target/release/examples/crash --binary path/to/switchboard
//! ```
//!
//! It builds nothing: without `--binary` it runs the `switchboard` binary of the same
//! profile directory (`target/release/switchboard` beside `target/release/examples/`),
//! or `target/release/switchboard`. Each run uses a fresh temporary data directory
//! (removed after a clean run unless `--keep`), with one server log per round in it.
//! The last line is the summary; the exit status is non-zero when any guarantee was
//! violated.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};

#[path = "crash/mod.rs"]
mod crash;

/// Kills a journaled switchboard at random moments under load and checks what survived.
#[derive(Debug, Parser)]
#[command(name = "crash")]
struct Opts {
    /// The switchboard binary (default: beside this program's profile directory).
    #[arg(long)]
    binary: Option<PathBuf>,
    /// Crashes to survive (default 100; 8 with --quick).
    #[arg(long)]
    rounds: Option<usize>,
    /// Seed of the kill moments and the load.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// How the server makes changes durable.
    #[arg(long, value_enum, default_value_t = Durability::Fsync)]
    durability: Durability,
    /// The CI size: 8 rounds of a lighter load.
    #[arg(long)]
    quick: bool,
    /// Keep the data directory and logs after a clean run.
    #[arg(long)]
    keep: bool,
    /// A line per round.
    #[arg(long, short)]
    verbose: bool,
    /// Shortest load before a kill, in milliseconds.
    #[arg(long, default_value_t = 200)]
    kill_min_ms: u64,
    /// Longest load before a kill, in milliseconds.
    #[arg(long, default_value_t = 3000)]
    kill_max_ms: u64,
    /// Conversations open at most (default 150; 60 with --quick). A cap below the
    /// agents' capacity keeps agents idle, so conversations are offered as they open.
    #[arg(long)]
    open_cap: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Durability {
    Fsync,
    Buffered,
    Off,
}

fn default_binary() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("switchboard")))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("target/release/switchboard"))
}

fn main() -> ExitCode {
    let opts = Opts::parse();
    let binary = opts.binary.unwrap_or_else(default_binary);
    let mut options = crash::Options::quick(binary);
    options.quick = opts.quick;
    options.rounds = opts.rounds.unwrap_or(if opts.quick { 8 } else { 100 });
    options.seed = opts.seed;
    options.durability = match opts.durability {
        Durability::Fsync => "fsync",
        Durability::Buffered => "buffered",
        Durability::Off => "off",
    }
    .to_owned();
    options.keep = opts.keep;
    options.verbose = opts.verbose;
    options.kill_after_ms = (opts.kill_min_ms, opts.kill_max_ms.max(opts.kill_min_ms));
    options.open_cap = opts.open_cap;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("crash: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "crash: {} rounds, seed {}, durability {}, binary {}",
        options.rounds,
        options.seed,
        options.durability,
        options.binary.display()
    );
    let result = runtime.block_on(crash::run(&options));
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(report) => {
            print!("{}", report.details());
            println!("{}", report.summary());
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("crash: {e}");
            ExitCode::FAILURE
        }
    }
}
