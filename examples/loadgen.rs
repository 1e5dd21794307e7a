//! Load generator: drives a running Switchboard over gRPC on loopback as real channel
//! adapters and agents would, and in the same run measures a bare tonic echo over the
//! same connections and concurrency, so Switchboard's throughput is also given as a
//! ratio of what gRPC itself carries on this machine.
//!
//! ```text
//! cargo build --release                      # the switchboard binary under test
//! cargo run --release --example loadgen      # the default phases, a few minutes
//! cargo run --release --example loadgen -- --help
//! ```
//!
//! Both servers run as separate processes (the `switchboard` binary next to this
//! example's target directory, and this program re-executed with `--serve-echo`), so
//! their CPU time and memory are read from `/proc/<pid>/stat` and `/proc/<pid>/status`.
//! Phases: (1) echo unary, (2) echo streaming, (3) new conversations, (4) relay on
//! assigned conversations, (5) realistic Poisson load with agents, (6) memory per
//! waiting conversation, (7) bot-first new conversations (the built-in bot on for web:
//! greeting and knowledge-base answer), (8) authentication cost, (9) durability cost
//! (3 and 4 with the journal off, buffered and fsynced, alternated), (10) restart
//! (100,000 open conversations, SIGKILL and SIGTERM, time to ready and what was kept),
//! (11) scaling from one core to two (3 and 4 with the server under `taskset -c 0`,
//! `-c 0,1`, and `-c 1` with the load generator on core 0, alternated over two rounds),
//! (12) outbound notifications in bulk (`--notifications` sends through 8 adapters
//! that acknowledge them: send and delivery rates, memory).
//! Every Switchboard gets its own empty data directory under the run's temporary
//! directory, with `[storage] durability` from `--durability` (phase 9 sets each mode
//! itself). See `BENCHMARKS.md`.
//!
//! Phase 5 drives full conversations: a customer's first message arrives (Poisson,
//! from one generator thread on a high-resolution timer), the server answers it (the
//! first response), offers it to an agent, who accepts, greets, gets the customer's
//! reply and closes it after the handle time. 5a searches (fresh server per probe) for
//! the highest rate the server sustains: every measured arrival answered, none refused
//! by back-pressure, no agent action rejected, and the backlogs (arrived but not yet
//! offered, arrived but not yet closed) steady over the window. 5b runs at 80 % of it
//! and checks the target, first-response p99 < 10 ms. A run whose generator (or this
//! program's runtime) was late is marked "generator behind" and never counted as the
//! server's miss; `--generator-check <rate>` measures the generator alone.
//!
//! After phases 3, 4 and 5b the server's `/metrics` is scraped once more and the
//! tenant lock wait and hold (`switchboard_tenant_lock_{wait,hold}_seconds`, histogram
//! or summary, per `operation`) are tabled before the summary ("not exported by this
//! server" when absent).
//!
//! ```text
//! cargo run --release --example loadgen -- --phases 5 --seconds 4 --warmup 1
//! cargo run --release --example loadgen -- --phases 5 --rate 5000   # 5b only
//! cargo run --release --example loadgen -- --phases 11 --seconds 4 --warmup 1
//! cargo run --release --example loadgen -- --generator-check 50000 --seconds 3
//! ```

#[path = "loadgen/bot.rs"]
mod bot;
#[path = "loadgen/durability.rs"]
mod durability;
#[path = "loadgen/echo.rs"]
mod echo;
#[path = "loadgen/gateway.rs"]
mod gateway;
#[path = "loadgen/locks.rs"]
mod locks;
#[path = "loadgen/outbound.rs"]
mod outbound;
#[path = "loadgen/procs.rs"]
mod procs;
#[path = "loadgen/realistic.rs"]
mod realistic;
#[path = "loadgen/restart.rs"]
mod restart;
#[path = "loadgen/scaling.rs"]
mod scaling;
#[path = "loadgen/stats.rs"]
mod stats;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::{Duration, Instant};

use clap::Parser;
use tonic::transport::{Channel, Endpoint};

use procs::Server;
use stats::{COOLDOWN, Control, Counter, MEASURE, STOP, Summary, WARMUP, ms, rate};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Load generator for Switchboard, with a bare tonic echo as the yardstick.
#[derive(Debug, Clone, Parser)]
#[command(name = "loadgen")]
struct Opts {
    /// Measured seconds per phase (the realistic phase's 5a probes take half).
    #[arg(long, default_value_t = 8)]
    seconds: u64,
    /// Unmeasured warm-up seconds before each measured window.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Adapter streams (and echo streams), one HTTP/2 connection each.
    #[arg(long, default_value_t = 8)]
    streams: usize,
    /// Messages in flight per stream (echo pings, new conversations, relayed messages).
    #[arg(long, default_value_t = 64)]
    window: usize,
    /// Concurrent callers in the unary echo phase.
    #[arg(long, default_value_t = 64)]
    unary_concurrency: usize,
    /// Agents in the relay phase, and the fewest in the realistic phase.
    #[arg(long, default_value_t = 8)]
    agents: usize,
    /// Messaging capacity of every agent.
    #[arg(long, default_value_t = 10)]
    capacity: u32,
    /// Most agents in the realistic phase (sized from the rate and handle time).
    #[arg(long, default_value_t = 400)]
    max_agents: usize,
    /// Realistic phase: run 5b at this arrival rate per second and skip the search
    /// for the highest sustainable rate (5a).
    #[arg(long)]
    rate: Option<f64>,
    /// Realistic phase: share of 5a's highest sustainable rate that 5b runs at (the
    /// target is stated at 0.8).
    #[arg(long, default_value_t = 0.8)]
    rate_share: f64,
    /// Realistic phase: agent capacity as a multiple of the offered load (1.25 = agents
    /// 80 % occupied); below 1 a queue builds up and the tiers' waits part.
    #[arg(long, default_value_t = 1.25)]
    agent_headroom: f64,
    /// Realistic phase 5a: probes (fresh server each, half of --seconds each) that
    /// look for the highest rate of full conversations the server sustains: doubling
    /// from --sustain-start until one is not sustained (halving while none is), then
    /// geometric bisection; 0 skips 5a and 5b then needs --rate.
    #[arg(long, default_value_t = 6)]
    search_probes: u32,
    /// Realistic phase 5a: the first probe's arrival rate per second; default a
    /// quarter of phase 3's rate, or 2,000 without phase 3.
    #[arg(long)]
    sustain_start: Option<f64>,
    /// Fixed part of an agent's handle time, in ms.
    #[arg(long, default_value_t = 50)]
    handle_min_ms: u64,
    /// Mean of the exponential part of an agent's handle time, in ms.
    #[arg(long, default_value_t = 100)]
    handle_mean_ms: u64,
    /// Conversations phase 3 opens per tenant before moving on to a fresh one (the
    /// server's per-tenant limit is 200,000 open conversations).
    #[arg(long, default_value_t = 150_000)]
    tenant_conversations: u64,
    /// Identifiers on the customers of phases 3 and 6 (issue 13's cost of knowing
    /// the customer): `none` (strangers, no profile), `new` (a verified phone per
    /// conversation: every one makes a profile) or `returning` (a verified phone from
    /// a pool of 1,000 people per stream: recognised, valued and assessed).
    #[arg(long, value_enum, default_value_t = gateway::Identify::None)]
    identifiers: gateway::Identify,
    /// Waiting conversations opened by the memory phase.
    #[arg(long, default_value_t = 100_000)]
    memory_conversations: i64,
    /// Bot phase (7b): Poisson arrivals per second at the fixed rate; default
    /// --bot-rate-share of 7a's saturated rate.
    #[arg(long)]
    bot_rate: Option<f64>,
    /// Seconds between the `/metrics` scrapes made during each Switchboard phase, as
    /// Prometheus would; 0 turns scraping off (to see what scraping costs).
    #[arg(long, default_value_t = 5)]
    scrape_secs: u64,
    /// Phase 4b: round trips per second offered on the relay's conversations, paced;
    /// without it 4b offers --relay-rate-share of what phase 4 reached.
    #[arg(long)]
    relay_rate: Option<f64>,
    /// Share of phase 4's round-trip rate offered in 4b when --relay-rate is not given
    /// (the relay's latency below saturation).
    #[arg(long, default_value_t = 0.5)]
    relay_rate_share: f64,
    /// Share of 7a's rate offered in 7b when --bot-rate is not given.
    #[arg(long, default_value_t = 0.25)]
    bot_rate_share: f64,
    /// Phases to run, e.g. `1,2,4`: 1 echo unary, 2 echo streaming, 3 new
    /// conversations, 4 relay, 5 realistic, 6 memory, 7 bot-first new conversations
    /// (server with the built-in bot on for web; 7a at saturation, 7b at a fixed rate
    /// well below it), 8 authentication cost (3 and 4 without and with JWTs,
    /// alternated), 9 durability cost (3 and 4 with durability off, buffered and
    /// fsync, alternated over two rounds), 10 restart (open conversations, SIGKILL and
    /// SIGTERM, time to ready, what was kept), 11 scaling from one core to two (3 and
    /// 4 with the server under `taskset -c 0`, `-c 0,1`, and `-c 1` with the load
    /// generator on core 0; alternated over two rounds); 8-11 are not in the default
    /// set. Echo (2) in the same run is the yardstick for 3, 4 and 7. After 3, 4 and
    /// 5 the tenant lock wait and hold figures are tabled from the server's /metrics.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3,4,5,6,7")]
    phases: Vec<u8>,
    /// Phase 12: notifications sent.
    #[arg(long, default_value_t = 1_000_000)]
    notifications: u64,
    /// Phase 12: `SendNotification` calls in flight.
    #[arg(long, default_value_t = 64)]
    outbound_callers: usize,
    /// `[storage] durability` of every server the phases start, except phase 9's,
    /// which runs each mode: fsync (the product default), buffered or off.
    #[arg(long, value_enum, default_value_t = procs::Durability::Fsync)]
    durability: procs::Durability,
    /// `[storage] commit_window_ms` of every server with a journal (how long the
    /// journal waits for more records before a group commit); unset: the server's
    /// default.
    #[arg(long)]
    commit_window_ms: Option<u64>,
    /// `[storage] snapshot_records` of every server with a journal (records after
    /// which a snapshot is taken early); unset: the server's default.
    #[arg(long)]
    snapshot_records: Option<u64>,
    /// Restart phase: conversations opened (and left open) before the restarts.
    #[arg(long, default_value_t = 100_000)]
    restart_conversations: u64,
    /// Restart phase: customer messages per conversation (the first opens it).
    #[arg(long, default_value_t = 5)]
    restart_messages: u32,
    /// Restart phase: adapter streams building the conversations (a stream's next
    /// message is taken once the previous one is durable, so the build's rate scales
    /// with streams).
    #[arg(long, default_value_t = 128)]
    restart_streams: usize,
    /// Restart phase: messages awaiting `accepted` per building stream.
    #[arg(long, default_value_t = 16)]
    restart_window: usize,
    /// Restart phase: conversations checked with `Admin/GetConversation`.
    #[arg(long, default_value_t = 200)]
    restart_sample: u64,
    /// Keep the servers' data directories (by default each is removed once its phase
    /// is measured, and all are at the end).
    #[arg(long)]
    keep_data: bool,
    /// Phase 7 with the bot's semantic stage: the directory `tools/embedding-model/
    /// setup-model.sh` wrote (with `multilingual-e5-small/` and `onnxruntime/`, and
    /// with `WITH_USE=1` also `use-multilingual-v3/`, then the second model).
    #[arg(long)]
    bot_model: Option<PathBuf>,
    /// Phase 7's first messages are paraphrases of the knowledge base's questions, not
    /// the questions themselves, so every turn is matched (and, with --bot-model,
    /// embedded); verbatim questions are answered by the exact-question index alone.
    #[arg(long)]
    bot_paraphrases: bool,
    /// The switchboard binary; default `switchboard` next to this example's directory,
    /// built with cargo when run through cargo.
    #[arg(long)]
    switchboard_bin: Option<PathBuf>,
    /// Instead of any phase, check the realistic phase's arrival generator alone (no
    /// server: arrivals go to local channels) at this many arrivals per second, for
    /// --warmup and --seconds, and print what it sent and how late.
    #[arg(long)]
    generator_check: Option<f64>,
    /// Internal: serve the echo service on this address.
    #[arg(long, hide = true)]
    serve_echo: Option<SocketAddr>,
    /// Internal: `<pid>@<grpc addr>`: once stdin closes, kill that server if it still
    /// runs with that address.
    #[arg(long, hide = true)]
    reap: Option<String>,
}

fn main() -> ExitCode {
    let opts = Opts::parse();
    if let Some(addr) = opts.serve_echo {
        return match echo::serve(addr) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("echo server: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(target) = &opts.reap {
        procs::reap(target);
        return ExitCode::SUCCESS;
    }
    procs::install_panic_hook();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        tokio::select! {
            r = run(opts) => r,
            r = interrupted() => r,
        }
    });
    procs::kill_all();
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves with an error on SIGINT or SIGTERM, so the servers are killed on the way out.
async fn interrupted() -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Err("interrupted; servers stopped".into())
}

/// Phase 8: what authentication costs. New conversations (as phase 3) and the relay
/// (as phase 4), each on a fresh server without credentials (loopback protected mode)
/// and on one that requires an HS256 JWT on every stream, alternated twice so drift on
/// a shared machine hits both alike; the ratio of the means is the cost.
async fn auth_phase(bin: &Path, self_exe: &Path, dir: &Path, opts: &Opts) -> Result<()> {
    let secret_file = dir.join("jwt-hs256.secret");
    let secret: Vec<u8> = (0..48u8).map(|i| b'a' + i % 26).collect();
    std::fs::write(&secret_file, &secret)?;
    println!();
    println!("## Authentication cost: the same phases without and with JWTs, alternated");
    println!();
    println!("| round | credentials | new conversations/s | relay msgs/s |");
    println!("| ---: | --- | ---: | ---: |");
    let (mut off, mut on) = ((0.0, 0.0), (0.0, 0.0));
    for round in 1..=2 {
        for jwt in [false, true] {
            procs::require_jwt(jwt.then(|| secret_file.clone()));
            gateway::sign_with(jwt.then(|| secret.clone()));
            let server =
                procs::spawn_switchboard(bin, self_exe, dir, "auth-new", procs::Bots::Off)?;
            let (window, _) = new_conversations(
                &server,
                "loadgen-new",
                i64::MAX,
                Some(opts.tenant_conversations / opts.streams as u64),
                opts,
            )
            .await?;
            let new_rate = window.per_sec();
            note_log(&server);
            server.stop();
            let server =
                procs::spawn_switchboard(bin, self_exe, dir, "auth-relay", procs::Bots::Off)?;
            let relay_rate = gateway::relay(&server, opts).await?.window.per_sec();
            note_log(&server);
            server.stop();
            let sums = if jwt { &mut on } else { &mut off };
            sums.0 += new_rate;
            sums.1 += relay_rate;
            println!(
                "| {round} | {} | {} | {} |",
                if jwt {
                    "HS256 JWT per stream"
                } else {
                    "none (loopback)"
                },
                rate(new_rate),
                rate(relay_rate)
            );
        }
    }
    procs::require_jwt(None);
    gateway::sign_with(None);
    println!();
    println!(
        "With JWTs: new conversations at {:.1}% and relay at {:.1}% of the rate without \
         (means of two rounds each).",
        100.0 * on.0 / off.0.max(f64::MIN_POSITIVE),
        100.0 * on.1 / off.1.max(f64::MIN_POSITIVE)
    );
    Ok(())
}

/// A channel (one HTTP/2 connection) to a loopback server.
async fn connect(addr: SocketAddr) -> Result<Channel> {
    Ok(Endpoint::from_shared(format!("http://{addr}"))?
        .tcp_nodelay(true)
        .connect()
        .await?)
}

/// One measured window.
#[derive(Debug, Clone)]
struct Window {
    /// Increase of each counter during the window.
    counts: Vec<u64>,
    secs: f64,
    /// Server CPU in % of one core.
    server_cpu: f64,
    /// This load generator's CPU in % of one core.
    client_cpu: f64,
    /// Every other process's CPU in % of one core (should be near 0).
    other_cpu: f64,
    server_rss_mib: f64,
    server_hwm_mib: f64,
}

impl Window {
    fn per_sec(&self) -> f64 {
        self.counts.iter().sum::<u64>() as f64 / self.secs
    }

    fn rate_of(&self, i: usize) -> f64 {
        self.counts[i] as f64 / self.secs
    }
}

/// Runs warm-up, then the measured window, then an unrecorded cool-down, then tells
/// the workers to stop. `counts` reads the counters to difference.
async fn measure(
    control: &Control,
    server: &Server,
    opts: &Opts,
    counts: impl Fn() -> Vec<u64>,
    cooldown: Duration,
) -> Result<Window> {
    control.set(WARMUP);
    tokio::time::sleep(Duration::from_secs(opts.warmup)).await;
    let (server0, own0, counts0) = (server.sample()?, procs::own_sample()?, counts());
    let machine0 = procs::machine_ticks();
    control.set(MEASURE);
    tokio::time::sleep_until((server0.at + Duration::from_secs(opts.seconds)).into()).await;
    let (server1, own1, counts1) = (server.sample()?, procs::own_sample()?, counts());
    let machine1 = procs::machine_ticks();
    if !cooldown.is_zero() {
        control.set(COOLDOWN);
        tokio::time::sleep(cooldown).await;
    }
    control.set(STOP);
    let secs = server1.at.duration_since(server0.at).as_secs_f64();
    let (server_cpu, client_cpu) = (server0.cpu_percent(&server1), own0.cpu_percent(&own1));
    let all = procs::machine_cpu_percent(machine0, machine1, secs);
    Ok(Window {
        counts: counts1.iter().zip(&counts0).map(|(b, a)| b - a).collect(),
        secs,
        server_cpu,
        client_cpu,
        other_cpu: (all - server_cpu - client_cpu).max(0.0),
        server_rss_mib: server1.rss_kib as f64 / 1024.0,
        server_hwm_mib: server1.hwm_kib as f64 / 1024.0,
    })
}

/// [`measure`] over a set of counters, summed.
async fn run_phase(
    control: &Control,
    server: &Server,
    counters: &[Arc<Counter>],
    opts: &Opts,
) -> Result<Window> {
    let sum = || vec![counters.iter().map(|c| c.get()).sum()];
    measure(control, server, opts, sum, Duration::ZERO).await
}

/// Mentions the server's warnings, if it logged any.
fn note_log(server: &Server) {
    let lines = server.log_lines();
    if lines > 0 {
        println!(
            "|   the server logged {lines} warn/error lines ({}) | | | | | | |",
            server.log.display()
        );
    }
}

fn table_header() {
    println!(
        "| phase | rate | latency p50 / p99 / p99.9 / max | server CPU | loadgen CPU | other CPU | server RSS (peak) |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
}

/// One result row; CPU in % of one core (200 % = both cores of a 2-core machine).
fn row(label: &str, rate: &str, latency: &str, w: &Window) {
    println!(
        "| {label} | {rate} | {latency} | {:.0} % | {:.0} % | {:.0} % | {:.1} MiB ({:.1}) |",
        w.server_cpu, w.client_cpu, w.other_cpu, w.server_rss_mib, w.server_hwm_mib
    );
}

/// A file deleted when the run ends, however it ends (the server binary's copy).
struct RemovedOnDrop(PathBuf);

impl Drop for RemovedOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The servers' data directories (`<dir>/data-*`), removed when the run ends, however
/// it ends, unless `--keep-data`.
struct DataDirs {
    dir: PathBuf,
    keep: bool,
}

impl Drop for DataDirs {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        // Servers still running (an error or an interrupt) must not write meanwhile.
        procs::kill_all();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.filter_map(|e| e.ok()) {
            if entry.file_name().to_string_lossy().starts_with("data-") {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// Figures gathered for the summary.
#[derive(Debug, Default)]
struct Report {
    echo_unary: Option<f64>,
    echo_stream: Option<f64>,
    new_per_sec: Option<f64>,
    /// Phase 3's server CPU per conversation, µs.
    new_cpu_us: Option<f64>,
    /// Phase 7a: answered conversations/s, greeting and answer latencies, CPU µs each.
    bot: Option<(f64, Summary, Summary, f64)>,
    /// Phase 7b: offered and answered per second, greeting and answer latencies.
    bot_paced: Option<(f64, f64, Summary, Summary)>,
    relay_per_sec: Option<f64>,
    /// Phase 4b: round trips per second offered, and their latency.
    relay_paced: Option<(f64, stats::Summary)>,
    realistic: Option<RealisticReport>,
    /// The servers' last `/metrics` (phases 3, 4 and 5b), for the lock figures.
    locks: Vec<(String, Option<String>)>,
    memory: Option<(f64, f64)>,
}

async fn run(opts: Opts) -> Result<()> {
    if let Some(rate) = opts.generator_check {
        return realistic::generator_check(&opts, rate).await;
    }
    let command = std::env::args()
        .map(|a| if a.contains(' ') { format!("'{a}'") } else { a })
        .collect::<Vec<_>>()
        .join(" ");
    println!("# Switchboard load generator");
    println!();
    println!("- machine: {}", procs::machine());
    println!("- command: `{command}`");
    println!(
        "- shape: {} streams (one connection each), window {} per stream, {} unary callers, {} agents × capacity {}, warm-up {} s, measured {} s per phase",
        opts.streams,
        opts.window,
        opts.unary_concurrency,
        opts.agents,
        opts.capacity,
        opts.warmup,
        opts.seconds
    );
    println!(
        "- durability: `{}` for every server (`--durability`; phase 9 runs off, buffered and fsync itself), each on its own empty data directory",
        opts.durability.as_str()
    );
    procs::set_durability(opts.durability);
    if let Some(ms) = opts.commit_window_ms {
        println!("- journal commit window: {ms} ms (`--commit-window-ms`)");
        procs::set_storage("commit_window_ms", ms);
    }
    if let Some(records) = opts.snapshot_records {
        println!("- snapshot after {records} journal records (`--snapshot-records`)");
        procs::set_storage("snapshot_records", records);
    }
    let self_exe = std::env::current_exe()?;
    let dir = std::env::temp_dir().join(format!("switchboard-loadgen-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    println!(
        "- server logs, configs and data directories: {}",
        dir.display()
    );
    let _data = DataDirs {
        dir: dir.clone(),
        keep: opts.keep_data,
    };
    let has = |p: u8| opts.phases.contains(&p);
    let mut report = Report::default();
    // Resolve (and build) the server once, and run a private copy of it, so every
    // phase tests the same binary even if the target directory is rebuilt meanwhile.
    let copy = RemovedOnDrop(dir.join("switchboard"));
    let bin = if (3..=12).any(has) {
        let built = switchboard_bin(&opts, &self_exe)?;
        let copy = copy.0.clone();
        std::fs::copy(&built, &copy)?;
        println!(
            "- switchboard under test: {} (copied to {})",
            built.display(),
            copy.display()
        );
        copy
    } else {
        PathBuf::new()
    };

    if has(1) || has(2) {
        let server = procs::spawn_echo(&self_exe, &dir)?;
        println!();
        println!("## Bare tonic echo (pid {}, {})", server.pid, server.addr);
        println!();
        table_header();
        let channels = echo::channels(server.addr, opts.streams).await?;
        if has(1) {
            let mut r = echo::unary(&server, &channels, opts.unary_concurrency, &opts).await?;
            let per_sec = r.window.per_sec();
            row(
                &format!("1 echo unary, {} callers", opts.unary_concurrency),
                &format!("{} calls/s", rate(per_sec)),
                &r.latency.summary().cell(),
                &r.window,
            );
            report.echo_unary = Some(per_sec);
        }
        if has(2) {
            let mut r = echo::streaming(&server, &channels, opts.window, &opts).await?;
            let per_sec = r.window.per_sec();
            row(
                &format!(
                    "2 echo streaming, {} streams × window {}",
                    opts.streams, opts.window
                ),
                &format!("{} msgs/s", rate(per_sec)),
                &r.latency.summary().cell(),
                &r.window,
            );
            report.echo_stream = Some(per_sec);
        }
        drop(channels);
        server.stop();
    }

    if has(3) || has(4) {
        println!();
        println!("## Switchboard: a fresh server process for each phase");
        println!();
        table_header();
    }
    if has(3) {
        let server = procs::spawn_switchboard(&bin, &self_exe, &dir, "new", procs::Bots::Off)?;
        let scraper = spawn_scraper(&server, &opts);
        let (window, mut stats) = new_conversations(
            &server,
            "loadgen-new",
            i64::MAX,
            Some(opts.tenant_conversations / opts.streams as u64),
            &opts,
        )
        .await?;
        let per_sec = window.per_sec();
        row(
            &format!(
                "3 new conversations, {} streams × window {}, no agents, identifiers {:?}",
                opts.streams, opts.window, opts.identifiers
            ),
            &format!("{} conv/s", rate(per_sec)),
            &format!("first response {}", stats.latency.summary().cell()),
            &window,
        );
        if stats.rejected > 0 {
            println!(
                "|   rejected: {} ({}) | | | | | | |",
                stats.rejected,
                stats.first_rejection.take().unwrap_or_default()
            );
        }
        report.new_per_sec = Some(per_sec);
        report.new_cpu_us = Some(bot::cpu_us_per(&window, per_sec));
        scraper.abort();
        let metrics = final_scrape(&server).await;
        report
            .locks
            .push(("3 new conversations".to_owned(), metrics));
        note_log(&server);
        server.stop();
    }
    if has(4) {
        let server = procs::spawn_switchboard(&bin, &self_exe, &dir, "relay", procs::Bots::Off)?;
        let scraper = spawn_scraper(&server, &opts);
        let mut r = gateway::relay(&server, &opts).await?;
        let per_sec = r.window.per_sec();
        row(
            &format!(
                "4 relay, {} conversations, {} agents × {}, {} streams × window {}",
                r.conversations, opts.agents, opts.capacity, opts.streams, opts.window
            ),
            &format!(
                "{} msgs/s ({} to agents + {} to customers)",
                rate(per_sec),
                rate(r.window.rate_of(0)),
                rate(r.window.rate_of(1))
            ),
            &format!("round trip {}", r.latency.summary().cell()),
            &r.window,
        );
        if r.agent_errors > 0 {
            println!(
                "|   agent actions rejected: {} | | | | | | |",
                r.agent_errors
            );
        }
        report.relay_per_sec = Some(per_sec);
        scraper.abort();
        let metrics = final_scrape(&server).await;
        report.locks.push(("4 relay".to_owned(), metrics));
        note_log(&server);
        server.stop();

        // 4b: the same conversations at a paced rate below saturation, for latency.
        let round_trips = opts
            .relay_rate
            .unwrap_or(per_sec / 2.0 * opts.relay_rate_share);
        let server =
            procs::spawn_switchboard(&bin, &self_exe, &dir, "relay-paced", procs::Bots::Off)?;
        let scraper = spawn_scraper(&server, &opts);
        let mut paced = gateway::relay_paced(&server, &opts, round_trips).await?;
        row(
            &format!(
                "4b relay paced at {} round trips/s ({} customer messages/s offered)",
                rate(round_trips),
                rate(round_trips)
            ),
            &format!(
                "{} msgs/s ({} to agents + {} to customers)",
                rate(paced.window.per_sec()),
                rate(paced.window.rate_of(0)),
                rate(paced.window.rate_of(1))
            ),
            &format!("round trip {}", paced.latency.summary().cell()),
            &paced.window,
        );
        report.relay_paced = Some((round_trips, paced.latency.summary()));
        scraper.abort();
        let metrics = final_scrape(&server).await;
        report.locks.push(("4b relay paced".to_owned(), metrics));
        note_log(&server);
        server.stop();
    }

    if has(7) {
        bot_phase(&bin, &self_exe, &dir, &opts, &mut report).await?;
    }

    if has(8) {
        auth_phase(&bin, &self_exe, &dir, &opts).await?;
    }

    if has(9) {
        durability::run(&bin, &self_exe, &dir, &opts).await?;
    }

    if has(10) {
        restart::run(&bin, &self_exe, &dir, &opts).await?;
    }

    if has(11) {
        scaling::run(&bin, &self_exe, &dir, &opts).await?;
    }

    if has(5) {
        realistic_phase(&bin, &self_exe, &dir, &opts, &mut report).await?;
    }

    if has(6) {
        let server = procs::spawn_switchboard(&bin, &self_exe, &dir, "memory", procs::Bots::Off)?;
        let n = opts.memory_conversations;
        let metrics = server.metrics_addr.ok_or("no metrics address")?;
        let _ = tokio::task::spawn_blocking(move || procs::scrape(metrics)).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = server.sample()?;
        let started = Instant::now();
        let (_, stats) = new_conversations(&server, "loadgen-memory", n, None, &opts).await?;
        let fill_secs = started.elapsed().as_secs_f64();
        // A scrape drains the exporter's buffered histogram samples, as Prometheus would.
        let text = tokio::task::spawn_blocking(move || procs::scrape(metrics)).await??;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let after = server.sample()?;
        let waiting = procs::metric_sum(&text, "switchboard_conversations_created_total", "");
        let opened = (n as u64).saturating_sub(stats.rejected);
        let delta = (after.rss_kib.saturating_sub(before.rss_kib)) * 1024;
        let per_conv = delta as f64 / opened.max(1) as f64;
        let per_100k = per_conv * 100_000.0 / (1024.0 * 1024.0);
        println!();
        println!(
            "## Memory: {} waiting conversations in a fresh server (pid {})",
            rate(opened as f64),
            server.pid
        );
        println!();
        println!(
            "| RSS before | RSS after | peak RSS | bytes per waiting conversation | MiB per 100k waiting | fill rate | server-counted created |"
        );
        println!("| --- | --- | --- | --- | --- | --- | --- |");
        println!(
            "| {:.1} MiB | {:.1} MiB | {:.1} MiB | {:.0} B | {:.1} MiB | {} conv/s | {} |",
            before.rss_kib as f64 / 1024.0,
            after.rss_kib as f64 / 1024.0,
            after.hwm_kib as f64 / 1024.0,
            per_conv,
            per_100k,
            rate(opened as f64 / fill_secs),
            rate(waiting)
        );
        report.memory = Some((per_conv, per_100k));
        server.stop();
    }

    if has(12) {
        outbound_phase(&bin, &self_exe, &dir, &opts).await?;
    }

    locks::print_table(&report.locks);
    summary(&report);
    Ok(())
}

/// Phase 12: bulk notifications through 8 adapters on a fresh server.
async fn outbound_phase(bin: &Path, self_exe: &Path, dir: &Path, opts: &Opts) -> Result<()> {
    let server = procs::spawn_switchboard(bin, self_exe, dir, "outbound", procs::Bots::Off)?;
    let r = outbound::notifications(&server, opts.notifications, opts.outbound_callers).await?;
    println!();
    println!(
        "## Outbound: {} notifications to distinct customers on 8 channels, {} callers, through 8 adapters acknowledging (pid {})",
        rate(r.asked as f64),
        opts.outbound_callers,
        server.pid
    );
    println!();
    println!(
        "| answered sent | answered otherwise | refused | send rate | delivered | delivery rate (first send to last delivery) | server CPU | RSS before | RSS after | peak RSS |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    println!(
        "| {} | {} | {} | {}/s | {} | {}/s | {:.0} % | {:.1} MiB | {:.1} MiB | {:.1} MiB |",
        r.sent,
        r.not_sent,
        r.refused,
        rate(r.asked as f64 / r.send_secs),
        r.delivered,
        rate(r.delivered as f64 / r.deliver_secs),
        r.before.cpu_percent(&r.after),
        r.before.rss_kib as f64 / 1024.0,
        r.after.rss_kib as f64 / 1024.0,
        r.after.hwm_kib as f64 / 1024.0,
    );
    if let Some(first) = &r.first_refusal {
        println!("|   first refusal: {first} | | | | | | | | | |");
    }
    note_log(&server);
    server.stop();
    Ok(())
}

/// Phase 7: bot-first new conversations, at saturation (7a) and at a fixed Poisson
/// rate well below it (7b); each run gets a fresh server with the bot on for web.
async fn bot_phase(
    bin: &Path,
    self_exe: &Path,
    dir: &Path,
    opts: &Opts,
    report: &mut Report,
) -> Result<()> {
    procs::use_bot_model(opts.bot_model.clone());
    bot::use_paraphrases(opts.bot_paraphrases);
    println!();
    println!(
        "## Bot-first new conversations: web channel with the built-in bot (starter knowledge base, semantic stage {}), first messages it answers ({}), zh and en alternately, no agents",
        match &opts.bot_model {
            Some(dir) => format!("on: {}", dir.display()),
            None => "off".to_owned(),
        },
        if opts.bot_paraphrases {
            "paraphrases of its questions"
        } else {
            "its questions verbatim"
        }
    );
    println!();
    println!(
        "A conversation counts when the adapter has the bot's greeting (the first response, with buttons) and its answer; latencies run from handing the first message to the stream. A fresh server process (`[bot] channels = [\"web\"]`) and tenant for each run."
    );
    println!();
    table_header();
    let run = |rate: Option<f64>, tag: &'static str| async move {
        let server = procs::spawn_switchboard(bin, self_exe, dir, tag, procs::Bots::Web)?;
        let scraper = spawn_scraper(&server, opts);
        let result = bot::run(&server, opts, rate).await;
        scraper.abort();
        let lines = server.log_lines();
        let log = server.log.clone();
        server.stop();
        result.map(|r| (r, lines, log))
    };
    let (mut sat, lines, log) = run(None, "bot").await?;
    let per_sec = sat.window.rate_of(0);
    let (greeting, answer) = (sat.greeting.summary(), sat.answer.summary());
    row(
        &format!(
            "7a bot-first new conversations, {} streams × window {}, no agents",
            opts.streams, opts.window
        ),
        &format!("{} conv/s answered", rate(per_sec)),
        &format!("greeting {}; answer {}", greeting.cell(), answer.cell()),
        &sat.window,
    );
    print_bot_notes(&sat, report.new_cpu_us, lines, &log);
    report.bot = Some((per_sec, greeting, answer, sat.cpu_us_per_conversation()));

    let target = opts.bot_rate.unwrap_or(per_sec * opts.bot_rate_share);
    let (mut paced, lines, log) = run(Some(target), "bot-paced").await?;
    let answered = paced.window.rate_of(0);
    let (greeting, answer) = (paced.greeting.summary(), paced.answer.summary());
    let label = if opts.bot_rate.is_some() {
        "7b bot-first at the given --bot-rate".to_owned()
    } else {
        format!(
            "7b bot-first at {:.0} % of 7a's rate",
            100.0 * opts.bot_rate_share
        )
    };
    row(
        &format!("{label}: Poisson {} arrivals/s", rate(target)),
        &format!(
            "{} conv/s answered ({} sent)",
            rate(answered),
            rate(paced.window.rate_of(2))
        ),
        &format!("greeting {}; answer {}", greeting.cell(), answer.cell()),
        &paced.window,
    );
    print_bot_notes(&paced, None, lines, &log);
    println!(
        "|   arrival schedule lag {} | | | | | | |",
        paced.schedule_lag.summary().cell()
    );
    report.bot_paced = Some((target, answered, greeting, answer));
    Ok(())
}

/// Notes under a bot-phase row: CPU per conversation, greetings, anything unexpected.
fn print_bot_notes(r: &bot::BotResult, new_cpu_us: Option<f64>, log_lines: usize, log: &Path) {
    let w = &r.window;
    println!(
        "|   server CPU per answered conversation {:.1} µs{}; per second {} sent, {} greetings, {} answers; never answered (measured): {} | | | | | | |",
        r.cpu_us_per_conversation(),
        new_cpu_us
            .map(|c| format!(" (phase 3, no bots: {c:.1} µs)"))
            .unwrap_or_default(),
        rate(w.rate_of(2)),
        rate(w.rate_of(1)),
        rate(w.rate_of(0)),
        r.answer.missing(),
    );
    if r.unexpected > 0 {
        println!(
            "|   unexpected deliveries: {} (first: {}) | | | | | | |",
            r.unexpected,
            r.first_unexpected.as_deref().unwrap_or_default()
        );
    }
    if r.rejected > 0 {
        println!(
            "|   rejected: {} ({}) | | | | | | |",
            r.rejected,
            r.first_rejection.as_deref().unwrap_or_default()
        );
    }
    if log_lines > 0 {
        println!(
            "|   the server logged {log_lines} warn/error lines ({}) | | | | | | |",
            log.display()
        );
    }
}

/// Phase 5: 5a searches for the highest rate of full conversations the server
/// sustains (see [`realistic::RealisticResult::sustained`]), 5b runs at
/// `--rate-share` (80 %) of it and reports the first response against the target.
/// With `--rate`, 5a is skipped and 5b runs at that rate. Every run gets a fresh
/// server: an overloaded run leaves a backlog behind.
async fn realistic_phase(
    bin: &Path,
    self_exe: &Path,
    dir: &Path,
    opts: &Opts,
    report: &mut Report,
) -> Result<()> {
    let peak = report.new_per_sec;
    let share = |r: f64| peak.map_or(f64::NAN, |p| r / p);
    println!();
    println!(
        "## Realistic load: Poisson arrivals, CLV mix, skills, agents accept, greet and close after {} ms + Exp(mean {} ms)",
        opts.handle_min_ms, opts.handle_mean_ms
    );
    println!();
    println!(
        "A full conversation: the customer's first message arrives, the server answers it (the first response), offers it to an agent, who accepts, greets, gets the customer's reply and closes it after the handle time. Agents are sized to {:.0} % occupancy (`--agent-headroom`). Arrivals come from one generator thread on a high-resolution timer; a run whose generator was late (arrival lag p99 > {} ms, or the load generator's runtime waking > {} ms late at p99) is marked \"generator behind\" and is never counted as the server's miss.",
        100.0 / opts.agent_headroom,
        realistic::SCHEDULE_LAG_P99_MS,
        realistic::RUNTIME_LAG_P99_MS
    );
    let run = |rate: f64, seconds: u64, tag: String| async move {
        let server = procs::spawn_switchboard(bin, self_exe, dir, &tag, procs::Bots::Off)?;
        let scraper = spawn_scraper(&server, opts);
        let o = Opts {
            seconds,
            ..opts.clone()
        };
        let result = realistic::run(&server, &o, rate).await;
        scraper.abort();
        let metrics = final_scrape(&server).await;
        let lines = server.log_lines();
        server.stop();
        result.map(|r| (r, lines, metrics))
    };
    let mut search = None;
    let target = if let Some(rate) = opts.rate {
        rate
    } else if opts.search_probes == 0 {
        println!();
        println!("5a skipped (--search-probes 0) and no --rate given: phase 5 does not run.");
        return Ok(());
    } else {
        let found = sustainable_search(opts, peak, &run).await?;
        let Some(best) = found.best else {
            println!();
            println!("No probed rate was sustained: 5b is skipped.");
            report.realistic = Some(RealisticReport {
                search: Some(found),
                at: None,
            });
            return Ok(());
        };
        search = Some(found);
        best * opts.rate_share
    };
    let (mut at, lines, metrics) = run(target, opts.seconds, "realistic".into()).await?;
    let label = match &search {
        Some(s) => format!(
            "5b at {:.0} % of the highest sustainable rate ({} conv/s)",
            100.0 * opts.rate_share,
            rate(s.best.unwrap_or(f64::NAN))
        ),
        None => "5b at the given --rate".to_owned(),
    };
    print_realistic(&label, &mut at, lines);
    let verdict = at.meets_target();
    let sustained = at.sustained();
    println!();
    println!(
        "5b against the target (first-response p99 < {} ms): {}. Sustained at this rate: {}.",
        realistic::FIRST_RESPONSE_P99_MS,
        verdict.describe("meets", "misses"),
        sustained.describe("yes", "no")
    );
    report.locks.push((
        format!("5b realistic at {} arrivals/s", rate(target)),
        metrics,
    ));
    report.realistic = Some(RealisticReport {
        search,
        at: Some(RealisticAt {
            offered: target,
            sent: at.window.rate_of(0),
            share_of_peak: share(at.window.rate_of(0)),
            first_response: at.first_response.summary(),
            verdict,
        }),
    });
    Ok(())
}

/// What phase 5a found.
#[derive(Debug, Clone)]
struct SustainSearch {
    /// The highest probed rate the server sustained.
    best: Option<f64>,
    /// The lowest probed rate above `best` that was not sustained, and whether that
    /// was the generator's doing (then the server may sustain more).
    bound: Option<(f64, bool)>,
    /// Phase 3's rate, for the share.
    peak: Option<f64>,
}

/// What phase 5b measured.
#[derive(Debug, Clone)]
struct RealisticAt {
    offered: f64,
    sent: f64,
    share_of_peak: f64,
    first_response: Summary,
    verdict: realistic::Verdict,
}

#[derive(Debug, Clone)]
struct RealisticReport {
    /// `None` with `--rate`.
    search: Option<SustainSearch>,
    at: Option<RealisticAt>,
}

/// Phase 5a: probes (each on a fresh server, half `--seconds` long) doubling from
/// `--sustain-start` until one is not sustained (halving while none is), then
/// geometric bisection between the highest sustained and the lowest unsustained rate.
async fn sustainable_search<F, Fut>(opts: &Opts, peak: Option<f64>, run: F) -> Result<SustainSearch>
where
    F: Fn(f64, u64, String) -> Fut,
    Fut: std::future::Future<Output = Result<(realistic::RealisticResult, usize, Option<String>)>>,
{
    let probe_secs = (opts.seconds / 2).max(2);
    println!();
    println!(
        "5a: the highest sustainable rate of full conversations ({} probes of {probe_secs} s, fresh server each). Sustained means: the generator on schedule; every arrival measured got its first response (within the 1 s cool-down), none refused by back-pressure, no agent action rejected; conversations offered and closed at the arrival rate (arrivals − offers and arrivals − closes over the window, the growth of the two backlogs, each within ± 2 % of the window's arrivals plus 4 σ of the edges' noise).",
        opts.search_probes
    );
    println!();
    let mut rate_now = opts
        .sustain_start
        .or(peak.map(|p| p / 4.0))
        .unwrap_or(2000.0);
    let (mut best, mut bound): (Option<f64>, Option<(f64, bool)>) = (None, None);
    for i in 0..opts.search_probes {
        let (mut r, lines, _) = run(rate_now, probe_secs, format!("sustain-{i}")).await?;
        let verdict = r.sustained();
        let (waiting, open) = r.backlog_growth();
        let w = &r.window;
        println!(
            "- {} arrivals/s offered: {} sent, {} first responses, {} offers, {} closed per s; backlog growth {waiting:+.0} waiting, {open:+.0} open (allowed ±{:.0}); first response {}; arrival lag p99 {} ms, runtime lag p99 {} ms; CPU server {:.0} %, loadgen {:.0} %, other {:.0} %{} → {}",
            rate(rate_now),
            rate(w.rate_of(0)),
            rate(w.rate_of(1)),
            rate(w.rate_of(3)),
            rate(w.rate_of(2)),
            r.backlog_slack(),
            r.first_response.summary().cell(),
            ms(r.schedule_lag.summary().p99_ms),
            ms(r.runtime_lag.summary().p99_ms),
            w.server_cpu,
            w.client_cpu,
            w.other_cpu,
            if lines > 0 {
                format!("; {lines} server warn/error lines")
            } else {
                String::new()
            },
            verdict.describe("sustained", "not sustained")
        );
        match verdict {
            realistic::Verdict::Pass => best = Some(best.map_or(rate_now, |b| b.max(rate_now))),
            realistic::Verdict::GeneratorBehind(_) => {
                if bound.is_none_or(|(b, _)| rate_now < b) {
                    bound = Some((rate_now, true));
                }
            }
            realistic::Verdict::Server(_) => {
                if bound.is_none_or(|(b, _)| rate_now < b) {
                    bound = Some((rate_now, false));
                }
            }
        }
        rate_now = match (best, bound) {
            (Some(lo), Some((hi, _))) => {
                if hi / lo < 1.05 {
                    break;
                }
                (lo * hi).sqrt()
            }
            (Some(lo), None) => lo * 2.0,
            (None, Some((hi, _))) => hi / 2.0,
            (None, None) => unreachable!("every probe passes or sets a bound"),
        };
    }
    match (best, bound) {
        (Some(b), Some((hi, by_generator))) => println!(
            "\nHighest sustained: {} conv/s{}; not sustained at {} conv/s{}.",
            rate(b),
            peak.map(|p| format!(
                " ({:.1} % of phase 3's new-conversation rate)",
                100.0 * b / p
            ))
            .unwrap_or_default(),
            rate(hi),
            if by_generator {
                " because the generator fell behind (the server may sustain more)"
            } else {
                ""
            }
        ),
        (Some(b), None) => println!(
            "\nHighest sustained: {} conv/s, the highest probed (more probes may find a higher rate).",
            rate(b)
        ),
        _ => {}
    }
    Ok(SustainSearch { best, bound, peak })
}

fn print_realistic(label: &str, r: &mut realistic::RealisticResult, log_lines: usize) {
    let fr = r.first_response.summary();
    let (waiting, open) = r.backlog_growth();
    let slack = r.backlog_slack();
    let w = &r.window;
    println!();
    table_header();
    row(
        &format!(
            "{label}: Poisson {} arrivals/s, {} agents × {} (≈{} conv/s capacity)",
            rate(r.offered_rate),
            r.agents,
            r.capacity,
            rate(r.capacity_per_sec)
        ),
        &format!(
            "{} conv/s arrived, {} closed",
            rate(w.rate_of(0)),
            rate(w.rate_of(2))
        ),
        &format!("first response {}", fr.cell()),
        w,
    );
    println!();
    println!(
        "Per second: {} arrivals sent (a Poisson count: ±{:.1} % is one standard deviation over this window), {} first responses, {} offers, {} closed; backlog growth over the window {waiting:+.0} waiting for an offer, {open:+.0} open (allowed ±{slack:.0}). Arrival schedule lag p50 / p99 / p99.9 / max {}; load generator runtime wake-up lag {}. First responses never delivered: {}. Customer messages refused by back-pressure (RESOURCE_EXHAUSTED), whole run: {}. Rejected agent actions: {}{}.{}",
        rate(w.rate_of(0)),
        100.0 / (w.counts[0].max(1) as f64).sqrt(),
        rate(w.rate_of(1)),
        rate(w.rate_of(3)),
        rate(w.rate_of(2)),
        r.schedule_lag.summary().cell(),
        r.runtime_lag.summary().cell(),
        r.first_response.missing(),
        r.shed,
        r.errors,
        r.first_error
            .as_ref()
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default(),
        if log_lines > 0 {
            format!(" Server warn/error log lines: {log_lines}.")
        } else {
            String::new()
        }
    );
    println!();
    println!(
        "| queue wait (first message sent → offer at the agent), by tier | offers | p50 / p99 / p99.9 / max |"
    );
    println!("| --- | --- | --- |");
    for (tier, waits) in &mut r.queue_wait {
        println!("| {tier} | {} | {} |", waits.len(), waits.summary().cell());
    }
}

/// Phases 3 and 6: `streams` adapters open conversations with no agent signed in.
/// With `per_tenant`, each adapter moves to a fresh tenant after that many (phase 3
/// runs for the measured window); without, they stop once `budget` conversations are
/// open in one tenant (phase 6).
async fn new_conversations(
    server: &Server,
    tenant_prefix: &str,
    budget: i64,
    per_tenant: Option<u64>,
    opts: &Opts,
) -> Result<(Window, gateway::NewStats)> {
    let control = Arc::new(Control::default());
    let budget_left = Arc::new(AtomicI64::new(budget));
    let done = Arc::new(Counter::default());
    let mut workers = Vec::new();
    for i in 0..opts.streams {
        let target = gateway::NewTarget {
            channel: connect(server.addr).await?,
            tenant_prefix: tenant_prefix.to_owned(),
            per_tenant: per_tenant.unwrap_or(u64::MAX),
            identify: opts.identifiers,
        };
        workers.push(tokio::spawn(gateway::new_conversations(
            target,
            i,
            opts.window,
            control.clone(),
            done.clone(),
            budget_left.clone(),
        )));
    }
    let window = if per_tenant.is_some() {
        measure(&control, server, opts, || vec![done.get()], Duration::ZERO).await?
    } else {
        control.set(MEASURE);
        let start = server.sample()?;
        for w in &mut workers {
            // Wait without consuming: results are collected below.
            while !w.is_finished() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let end = server.sample()?;
        control.set(STOP);
        Window {
            counts: vec![done.get()],
            secs: end.at.duration_since(start.at).as_secs_f64(),
            server_cpu: start.cpu_percent(&end),
            client_cpu: 0.0,
            other_cpu: 0.0,
            server_rss_mib: end.rss_kib as f64 / 1024.0,
            server_hwm_mib: end.hwm_kib as f64 / 1024.0,
        }
    };
    let mut stats = gateway::NewStats::default();
    for w in workers {
        let s = w.await??;
        stats.latency.merge(s.latency);
        stats.rejected += s.rejected;
        if stats.first_rejection.is_none() {
            stats.first_rejection = s.first_rejection;
        }
    }
    Ok((window, stats))
}

/// Scrapes `/metrics` every `--scrape-secs` (5 s), as a Prometheus server would;
/// besides being realistic, scrapes keep the exporter's buffered histogram samples
/// from piling up.
fn spawn_scraper(server: &Server, opts: &Opts) -> tokio::task::JoinHandle<()> {
    let addr = server.metrics_addr;
    let every = Duration::from_secs(opts.scrape_secs);
    tokio::spawn(async move {
        let Some(addr) = addr else { return };
        if every.is_zero() {
            return;
        }
        loop {
            tokio::time::sleep(every).await;
            let _ = tokio::task::spawn_blocking(move || procs::scrape(addr)).await;
        }
    })
}

/// One last `/metrics` scrape of a server before it is stopped (`None` if it fails).
async fn final_scrape(server: &Server) -> Option<String> {
    let addr = server.metrics_addr?;
    tokio::task::spawn_blocking(move || procs::scrape(addr))
        .await
        .ok()?
        .ok()
}

/// The switchboard binary to test; builds it with cargo when run through cargo.
fn switchboard_bin(opts: &Opts, self_exe: &Path) -> Result<PathBuf> {
    if let Some(bin) = &opts.switchboard_bin {
        return Ok(bin.clone());
    }
    // target/<profile>/examples/loadgen -> target/<profile>/switchboard
    let profile_dir = self_exe
        .parent()
        .and_then(Path::parent)
        .ok_or("cannot locate the target directory")?;
    let bin = profile_dir.join("switchboard");
    if let Some(cargo) = std::env::var_os("CARGO") {
        let release = cfg!(not(debug_assertions));
        let mut build = Command::new(cargo);
        let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        build.args([
            "build",
            "--quiet",
            "--bin",
            "switchboard",
            "--manifest-path",
            manifest,
        ]);
        if release {
            build.arg("--release");
        }
        let status = build.status()?;
        if !status.success() {
            return Err("`cargo build --bin switchboard` failed".into());
        }
    }
    if !bin.exists() {
        return Err(format!(
            "{} not found: run `cargo build --release` first, or pass --switchboard-bin",
            bin.display()
        )
        .into());
    }
    if cfg!(debug_assertions) {
        println!("warning: this is a debug build; use `cargo run --release --example loadgen`");
    }
    Ok(bin)
}

fn verdict(pass: bool) -> &'static str {
    if pass { "PASS" } else { "MISS" }
}

fn summary(r: &Report) {
    println!();
    println!("## Summary");
    println!();
    println!("| measure | figure | target | result |");
    println!("| --- | --- | --- | --- |");
    if let Some(u) = r.echo_unary {
        println!("| bare echo, unary | {} calls/s | reference | |", rate(u));
    }
    if let Some(s) = r.echo_stream {
        println!(
            "| bare echo, streaming | {} msgs/s | reference | |",
            rate(s)
        );
    }
    if let (Some(relay), Some(echo)) = (r.relay_per_sec, r.echo_stream) {
        let ratio = relay / echo;
        println!(
            "| relay on assigned conversations / bare streaming echo | {} msgs/s = {:.1} % | ≥ 50 % | {} |",
            rate(relay),
            100.0 * ratio,
            verdict(ratio >= 0.5)
        );
    }
    if let Some((round_trips, latency)) = r.relay_paced {
        println!(
            "| relay round trip p50 / p99 below saturation (4b, {} round trips/s) | {} / {} ms | p99 < 5 ms | {} |",
            rate(round_trips),
            stats::ms(latency.p50_ms),
            stats::ms(latency.p99_ms),
            verdict(latency.p99_ms < 5.0)
        );
    }
    if let (Some(new), Some(echo)) = (r.new_per_sec, r.echo_stream) {
        let ratio = new / echo;
        println!(
            "| new conversations (first response delivered) / bare streaming echo | {} conv/s = {:.1} % | ≥ 10 % | {} |",
            rate(new),
            100.0 * ratio,
            verdict(ratio >= 0.1)
        );
    }
    if let Some((per_sec, greeting, answer, cpu_us)) = r.bot {
        let echo = r
            .echo_stream
            .map(|e| format!(" = {:.1} % of the echo", 100.0 * per_sec / e))
            .unwrap_or_default();
        let new = r
            .new_per_sec
            .map(|n| format!(", {:.1} % of phase 3's rate", 100.0 * per_sec / n))
            .unwrap_or_default();
        println!(
            "| bot-first new conversations (greeting and answer delivered) / bare streaming echo | {} conv/s{echo}{new}; greeting p50 / p99 {} / {} ms, answer {} / {} ms; {cpu_us:.1} µs server CPU each | reported | |",
            rate(per_sec),
            ms(greeting.p50_ms),
            ms(greeting.p99_ms),
            ms(answer.p50_ms),
            ms(answer.p99_ms)
        );
    }
    if let Some((offered, answered, greeting, answer)) = r.bot_paced {
        println!(
            "| bot-first at {} arrivals/s offered ({} answered/s): greeting p50 / p99, answer p50 / p99 | {} / {} ms, {} / {} ms | reported | |",
            rate(offered),
            rate(answered),
            ms(greeting.p50_ms),
            ms(greeting.p99_ms),
            ms(answer.p50_ms),
            ms(answer.p99_ms)
        );
    }
    if let Some(real) = &r.realistic {
        realistic_summary(real);
    }
    if let Some((per_conv, per_100k)) = r.memory {
        println!(
            "| server memory per 100k waiting conversations | {per_100k:.1} MiB ({per_conv:.0} B each) | reported | PASS |"
        );
    }
}

/// The summary's phase 5 lines: the highest sustainable rate (5a) and the target at
/// 80 % of it (5b).
fn realistic_summary(real: &RealisticReport) {
    let of_peak = |v: f64, peak: Option<f64>| {
        peak.map(|p| {
            format!(
                " ({:.1} % of phase 3's new-conversation rate)",
                100.0 * v / p
            )
        })
        .unwrap_or_default()
    };
    if let Some(s) = &real.search {
        let figure = match (s.best, s.bound) {
            (Some(b), Some((hi, true))) => format!(
                "{} conv/s{}; at least: the generator fell behind at {}/s",
                rate(b),
                of_peak(b, s.peak),
                rate(hi)
            ),
            (Some(b), _) => format!("{} conv/s{}", rate(b), of_peak(b, s.peak)),
            (None, Some((hi, true))) => format!(
                "none found: the generator fell behind down to {}/s",
                rate(hi)
            ),
            (None, _) => "no probed rate was sustained".to_owned(),
        };
        println!(
            "| highest sustainable rate of full conversations (arrive, first response, offer, accept, greet, reply, close) | {figure} | reported | |"
        );
    }
    let target = format!(
        "p99 < {} ms at 80 % of the highest sustainable rate",
        realistic::FIRST_RESPONSE_P99_MS
    );
    let Some(at) = &real.at else {
        let generator = real
            .search
            .as_ref()
            .is_some_and(|s| matches!(s.bound, Some((_, true))));
        println!(
            "| first-response p50 / p99 at 80 % of the highest sustainable rate | not run: no sustainable rate found | {target} | {} |",
            if generator {
                "NO VERDICT (generator behind)"
            } else {
                "MISS"
            }
        );
        return;
    };
    let (label, at_target) = match &real.search {
        Some(s) => {
            let share = at.offered / s.best.unwrap_or(f64::NAN);
            (
                format!(
                    "first-response p50 / p99 at {:.0} % of the highest sustainable rate ({} arrivals/s offered, {} sent{})",
                    100.0 * share,
                    rate(at.offered),
                    rate(at.sent),
                    if at.share_of_peak.is_finite() {
                        format!(", {:.1} % of phase 3's rate", 100.0 * at.share_of_peak)
                    } else {
                        String::new()
                    }
                ),
                (share - 0.8).abs() < 1e-9,
            )
        }
        None => (
            format!(
                "first-response p50 / p99 at the given --rate ({} arrivals/s offered, {} sent)",
                rate(at.offered),
                rate(at.sent)
            ),
            false,
        ),
    };
    let result = match &at.verdict {
        realistic::Verdict::Pass => verdict(true).to_owned(),
        realistic::Verdict::Server(why) => format!("{} ({why})", verdict(false)),
        realistic::Verdict::GeneratorBehind(why) => {
            format!("NO VERDICT (generator behind: {why}; not the server's miss)")
        }
    };
    println!(
        "| {label} | {} / {} ms | {target} | {result}{} |",
        ms(at.first_response.p50_ms),
        ms(at.first_response.p99_ms),
        if at_target || real.search.is_none() {
            ""
        } else {
            " (not at 80 % of the sustainable rate)"
        }
    );
}
