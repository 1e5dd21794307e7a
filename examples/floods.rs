//! Resource floods: what the floods from the security review cost the release server
//! now. Each phase starts `switchboard` as a child process on free 127.0.0.1 ports with
//! its own config file, floods it over gRPC, and reads the server's own memory (VmRSS
//! from `/proc/<pid>/status`) and CPU time (utime + stime from `/proc/<pid>/stat`).
//!
//! ```text
//! cargo build --release --bin switchboard     # the binary under test (done for you via cargo run)
//! cargo run --release --example floods -- --phase all
//! cargo run --release --example floods -- --phase desks --bin path/to/switchboard
//! ```
//!
//! Phases, each bounded to 60 s of client work and at most 64 requests in flight:
//!
//! 1. `tenants`: 100,000 `Admin/ListAgents` calls without credentials (protected mode,
//!    loopback), each with its own `x-switchboard-tenant: flood-N`. Undeclared tenants
//!    are refused (NOT_FOUND), never created. Status counts, RSS before and after, and
//!    the server's CPU in the 5 s of idleness afterwards.
//! 2. `credentialed`: HS256 JWTs (`[auth] jwt_hs256_secret_file`) for 5,000 distinct
//!    tenants, `[limits] max_tenants = 1000`: one `ListAgents` each. The declared
//!    default tenant holds one slot, so about 999 succeed and the rest get
//!    RESOURCE_EXHAUSTED. RSS before and after, idle CPU afterwards.
//! 3. `desks`: 2,000 `AgentDesk/Session` streams signed in at once (distinct agent ids,
//!    messaging capacity 1, `max_sessions_per_tenant = 5000`), 100 streams per HTTP/2
//!    connection, the connections opened before the first reading. RSS before, with
//!    all signed in, and 5 s after the server shows them all signed out; then a second
//!    wave of 2,000 new agent ids on the same server (memory reused or lost), and RSS
//!    once the connections have closed.
//! 4. `limit`: `max_sessions_per_tenant = 500`, 600 desk streams: how many sign in and
//!    how many get RESOURCE_EXHAUSTED.
//!
//! Every RSS reading but the loaded ones follows a `/metrics` scrape, as Prometheus
//! would make: the exporter keeps histogram samples until a scrape takes them.
//!
//! In protected mode every loopback call is the same principal, so its request-rate
//! bucket (agent role: 100 per second) would refuse most of 2,000 desk openings within
//! a second, where 2,000 real agents each have their own bucket. The desk phases
//! therefore set `[limits.rates] agent = 0`; any rate refusal would still show as
//! `RESOURCE_EXHAUSTED (rate)`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Parser, ValueEnum};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status, Streaming};

use switchboard::api::pb;
use switchboard::api::pb::admin_client::AdminClient;
use switchboard::api::pb::agent_desk_client::AgentDeskClient;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

// Shared with the load bench; this tool uses its process handling, not its phases.
#[allow(dead_code)]
#[path = "loadgen/procs.rs"]
mod procs;

use procs::{ProcSample, Server};

/// Requests in flight at once.
const IN_FLIGHT: usize = 64;
/// Client work allowed per phase.
const PHASE_BUDGET: Duration = Duration::from_secs(60);
/// Idle window after a flood, for the server's idle CPU.
const IDLE: Duration = Duration::from_secs(5);
/// Desk streams per HTTP/2 connection.
const DESKS_PER_CONNECTION: usize = 100;

/// Floods a release Switchboard on loopback and reports what they cost the server.
#[derive(Debug, Parser)]
#[command(name = "floods")]
struct Opts {
    /// Which flood to run.
    #[arg(long, value_enum, default_value_t = Phase::All)]
    phase: Phase,
    /// The switchboard binary; when not given and run through cargo, it is built first
    /// (`cargo build --release --bin switchboard`).
    #[arg(long)]
    bin: Option<PathBuf>,
    /// Internal: `<pid>@<grpc addr>`: once stdin closes, kill that server if it still
    /// runs with that address.
    #[arg(long, hide = true)]
    reap: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Phase {
    Tenants,
    Credentialed,
    Desks,
    Limit,
    All,
}

fn main() -> ExitCode {
    let opts = Opts::parse();
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
            eprintln!("floods: {e}");
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
            eprintln!("floods: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves with an error on SIGINT or SIGTERM, so the server is killed on the way out.
async fn interrupted() -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Err("interrupted; server stopped".into())
}

/// One table row.
#[derive(Debug, Default)]
struct Row {
    phase: &'static str,
    sent: String,
    outcome: String,
    rss_before: u64,
    rss_loaded: u64,
    rss_later: u64,
    idle_cpu: f64,
    cost: String,
    secs: f64,
}

async fn run(opts: Opts) -> Result<()> {
    let started = Instant::now();
    let self_exe = std::env::current_exe()?;
    let built = switchboard_bin(&opts, &self_exe)?;
    let build_secs = started.elapsed().as_secs_f64();
    let dir = std::env::temp_dir().join(format!("switchboard-floods-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    // A private copy, so every phase tests the same binary while others rebuild.
    let bin = dir.join("switchboard");
    std::fs::copy(&built, &bin)?;
    println!("# Switchboard resource floods");
    println!();
    println!("- command: `{}`", command_line());
    println!(
        "- binary: {} (run from a copy in {})",
        built.display(),
        dir.display()
    );
    println!("- source: {}", source_state());
    println!("- machine: {}", procs::machine());
    println!();
    let all = opts.phase == Phase::All;
    let mut rows = Vec::new();
    if all || opts.phase == Phase::Tenants {
        rows.push(tenant_flood(&bin, &self_exe, &dir).await?);
    }
    if all || opts.phase == Phase::Credentialed {
        rows.push(credentialed_flood(&bin, &self_exe, &dir).await?);
    }
    if all || opts.phase == Phase::Desks {
        rows.push(desk_flood(&bin, &self_exe, &dir).await?);
    }
    if all || opts.phase == Phase::Limit {
        rows.push(session_limit(&bin, &self_exe, &dir).await?);
    }
    println!();
    println!(
        "| phase | sent | outcome (gRPC status) | RSS before | RSS loaded | RSS 5 s later | idle CPU (5 s) | cost | flood time |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {} | {} | {:.1} % | {} | {:.2} s |",
            r.phase,
            r.sent,
            r.outcome,
            mib(r.rss_before),
            mib(r.rss_loaded),
            mib(r.rss_later),
            r.idle_cpu,
            r.cost,
            r.secs
        );
    }
    println!();
    println!(
        "RSS is the server process's VmRSS. \"RSS loaded\": right after the last response \
         (tenant phases) or with every desk stream open (desk phases). \"RSS 5 s later\" and \
         \"idle CPU\": over 5 s of no requests afterwards (desk phases: once the server lists \
         no agent); CPU is utime + stime in % of one core (resolution 0.2 % over 5 s). \
         \"Flood time\": sending every call, or opening every desk. Logs: {}",
        dir.display()
    );
    println!();
    println!(
        "Total time: {:.1} s ({build_secs:.1} s of it checking the switchboard build)",
        started.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_file(&bin);
    Ok(())
}

/// The command line as typed, for the report.
fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if std::env::var_os("CARGO").is_some() {
        let release = if cfg!(debug_assertions) {
            ""
        } else {
            " --release"
        };
        let mut line = format!("cargo run{release} --example floods");
        if !args.is_empty() {
            let _ = write!(line, " -- {}", args.join(" "));
        }
        line
    } else {
        std::iter::once("floods".to_owned())
            .chain(args)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

// ---------------------------------------------------------------------------------
// Phase 1: tenant headers without credentials.

async fn tenant_flood(bin: &Path, self_exe: &Path, dir: &Path) -> Result<Row> {
    const CALLS: usize = 100_000;
    println!(
        "## 1. Tenant flood without credentials: {CALLS} ListAgents, one new tenant header each"
    );
    let server = spawn(
        bin,
        self_exe,
        dir,
        "tenants",
        "# protected mode: no [auth]\n",
    )?;
    let channels = connect_n(server.addr, 2).await?;
    let before = settled_sample(&server).await?;
    let t0 = Instant::now();
    let counts = flood(CALLS, move |i| {
        let mut client = AdminClient::new(channels[i % channels.len()].clone());
        async move {
            let mut request = Request::new(pb::ListAgentsRequest {});
            request.set_timeout(Duration::from_secs(10));
            let tenant = format!("flood-{i}")
                .parse()
                .map_err(|_| Status::internal("header"))?;
            request
                .metadata_mut()
                .insert("x-switchboard-tenant", tenant);
            client.list_agents(request).await.map(|_| ())
        }
    })
    .await;
    let secs = t0.elapsed().as_secs_f64();
    let loaded = server.sample()?;
    let (later, idle_cpu) = idle_window(&server).await?;
    if !server.is_running() {
        return Err(format!("switchboard exited; see {}", server.log.display()).into());
    }
    let row = Row {
        phase: "1 tenants (no credentials)",
        sent: format!(
            "{} ListAgents, {} distinct tenant headers",
            total(&counts),
            total(&counts)
        ),
        outcome: outcome(&counts),
        rss_before: before.rss_kib,
        rss_loaded: loaded.rss_kib,
        rss_later: later.rss_kib,
        idle_cpu,
        cost: format!("{} after the flood", delta(before.rss_kib, later.rss_kib)),
        secs,
    };
    report_phase(&row);
    server.stop();
    Ok(row)
}

// ---------------------------------------------------------------------------------
// Phase 2: credentials for new tenants.

async fn credentialed_flood(bin: &Path, self_exe: &Path, dir: &Path) -> Result<Row> {
    const TENANTS: usize = 5_000;
    const MAX_TENANTS: usize = 1_000;
    println!(
        "## 2. Tenant flood with credentials: HS256 JWTs for {TENANTS} tenants, max_tenants = {MAX_TENANTS}"
    );
    let secret = random_secret()?;
    let secret_file = dir.join("hs256.secret");
    std::fs::write(&secret_file, &secret)?;
    let config = format!(
        "[auth]\njwt_hs256_secret_file = {}\n\n[limits]\nmax_tenants = {MAX_TENANTS}\n",
        toml_string(&secret_file)
    );
    let exp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() + 3600;
    let key = jsonwebtoken::EncodingKey::from_secret(&secret);
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    let tokens: Vec<String> = (0..TENANTS)
        .map(|i| {
            let claims = serde_json::json!({
                "sub": format!("flood-supervisor-{i}"),
                "tenant": format!("cred-{i}"),
                "roles": ["supervisor"],
                "exp": exp,
            });
            jsonwebtoken::encode(&header, &claims, &key)
        })
        .collect::<std::result::Result<_, _>>()?;
    let tokens = Arc::new(tokens);
    let server = spawn(bin, self_exe, dir, "credentialed", &config)?;
    let channels = connect_n(server.addr, 2).await?;
    let before = settled_sample(&server).await?;
    let t0 = Instant::now();
    let counts = flood(TENANTS, move |i| {
        let mut client = AdminClient::new(channels[i % channels.len()].clone());
        let tokens = tokens.clone();
        async move {
            let mut request = Request::new(pb::ListAgentsRequest {});
            request.set_timeout(Duration::from_secs(10));
            let bearer = format!("Bearer {}", tokens[i])
                .parse()
                .map_err(|_| Status::internal("header"))?;
            request.metadata_mut().insert("authorization", bearer);
            client.list_agents(request).await.map(|_| ())
        }
    })
    .await;
    let secs = t0.elapsed().as_secs_f64();
    let loaded = server.sample()?;
    let (later, idle_cpu) = idle_window(&server).await?;
    if !server.is_running() {
        return Err(format!("switchboard exited; see {}", server.log.display()).into());
    }
    let created = counts.get("OK").copied().unwrap_or(0);
    let per_tenant = if created > 0 {
        format!(
            "{} per created tenant",
            bytes(later.rss_kib.saturating_sub(before.rss_kib) as f64 * 1024.0 / created as f64)
        )
    } else {
        "no tenant created".to_owned()
    };
    let row = Row {
        phase: "2 tenants (HS256 JWTs)",
        sent: format!(
            "{} ListAgents, {} distinct tenants",
            total(&counts),
            total(&counts)
        ),
        outcome: outcome(&counts),
        rss_before: before.rss_kib,
        rss_loaded: loaded.rss_kib,
        rss_later: later.rss_kib,
        idle_cpu,
        cost: format!("{}; {per_tenant}", delta(before.rss_kib, later.rss_kib)),
        secs,
    };
    report_phase(&row);
    server.stop();
    let _ = std::fs::remove_file(&secret_file);
    Ok(row)
}

// ---------------------------------------------------------------------------------
// Phases 3 and 4: desk sessions.

/// An open desk stream: dropping it ends the session.
struct Desk {
    _frames: mpsc::Sender<pb::AgentFrame>,
    _desk: Streaming<pb::DeskFrame>,
}

fn desk_config(max_sessions_per_tenant: usize) -> String {
    format!(
        "# protected mode: no [auth]\n[limits]\nmax_sessions_per_tenant = {max_sessions_per_tenant}\n\n\
         # One loopback principal stands for every agent here; real agents have a bucket each.\n\
         [limits.rates]\nagent = 0\n"
    )
}

/// Opens `count` desk streams, at most [`IN_FLIGHT`] openings at once; the open ones
/// and the status of each refusal.
async fn open_desks(
    channels: &[Channel],
    count: usize,
    prefix: &str,
) -> (Vec<Desk>, BTreeMap<String, usize>) {
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + PHASE_BUDGET;
    let mut workers = Vec::new();
    for _ in 0..IN_FLIGHT {
        let next = next.clone();
        let channels = channels.to_vec();
        let prefix = prefix.to_owned();
        workers.push(tokio::spawn(async move {
            let mut desks = Vec::new();
            let mut counts = BTreeMap::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count || Instant::now() > deadline {
                    break;
                }
                let channel = channels[i / DESKS_PER_CONNECTION % channels.len()].clone();
                let opened = tokio::time::timeout(
                    Duration::from_secs(10),
                    open_desk(channel, format!("{prefix}-{i}")),
                )
                .await
                .unwrap_or_else(|_| Err(Status::deadline_exceeded("client timeout")));
                match opened {
                    Ok(desk) => {
                        desks.push(desk);
                        *counts.entry("signed in".to_owned()).or_insert(0) += 1;
                    }
                    Err(status) => *counts.entry(status_label(&status)).or_insert(0) += 1,
                }
            }
            (desks, counts)
        }));
    }
    let mut desks = Vec::new();
    let mut counts = BTreeMap::new();
    for worker in workers {
        match worker.await {
            Ok((d, c)) => {
                desks.extend(d);
                merge(&mut counts, c);
            }
            Err(e) => {
                *counts
                    .entry(format!("client task failed: {e}"))
                    .or_insert(0) += 1
            }
        }
    }
    (desks, counts)
}

async fn open_desk(channel: Channel, agent_id: String) -> std::result::Result<Desk, Status> {
    let (tx, rx) = mpsc::channel(4);
    let sign_in = pb::SignIn {
        agent_id: agent_id.clone(),
        display_name: format!("Flood {agent_id}"),
        skills: vec![pb::AgentSkill {
            skill: "general".to_owned(),
            proficiency: 3,
        }],
        capacity: Some(pb::Capacity {
            messaging: 1,
            ..Default::default()
        }),
        presence: pb::Presence::Available as i32,
    };
    tx.send(pb::AgentFrame {
        request_id: "sign-in".to_owned(),
        action: Some(pb::agent_frame::Action::SignIn(sign_in)),
    })
    .await
    .map_err(|_| Status::internal("client: outbound closed"))?;
    let mut desk = AgentDeskClient::new(channel)
        .session(ReceiverStream::new(rx))
        .await?
        .into_inner();
    match desk.message().await? {
        Some(pb::DeskFrame {
            frame: Some(pb::desk_frame::Frame::SignedIn(_)),
        }) => Ok(Desk {
            _frames: tx,
            _desk: desk,
        }),
        Some(other) => Err(Status::unknown(format!(
            "expected signed_in, got {other:?}"
        ))),
        None => Err(Status::unknown("stream ended before signed_in")),
    }
}

/// Signed-in agents the default tenant lists.
async fn signed_in_agents(channel: &Channel) -> Result<usize> {
    let mut request = Request::new(pb::ListAgentsRequest {});
    request.set_timeout(Duration::from_secs(10));
    let reply = AdminClient::new(channel.clone())
        .max_decoding_message_size(64 * 1024 * 1024)
        .list_agents(request)
        .await?;
    Ok(reply.into_inner().agents.len())
}

/// One wave of desks: all opened, held quietly, then all gone.
struct Wave {
    counts: BTreeMap<String, usize>,
    signed_in: usize,
    /// Seconds to open them all.
    open_secs: f64,
    /// With all of them open.
    loaded: ProcSample,
    /// CPU over 3 s with all of them open and quiet.
    held_cpu: f64,
    /// Agents ListAgents showed while they were open, and once they had left.
    listed: usize,
    left: usize,
    /// 5 s after the server listed no agent, and the CPU in those 5 s.
    later: ProcSample,
    idle_cpu: f64,
}

async fn desk_wave(
    server: &Server,
    channels: &[Channel],
    admin: &Channel,
    count: usize,
    prefix: &str,
) -> Result<Wave> {
    let t0 = Instant::now();
    let (desks, counts) = open_desks(channels, count, prefix).await;
    let open_secs = t0.elapsed().as_secs_f64();
    // Let the sessions settle, then read the server with all of them open.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let held_from = server.sample()?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let loaded = server.sample()?;
    let held_cpu = held_from.cpu_percent(&loaded);
    let listed = signed_in_agents(admin).await?;
    let signed_in = desks.len();
    drop(desks);
    // Wait until the server has signed every one out, then 5 s of idleness.
    let gone_by = Instant::now() + Duration::from_secs(15);
    let mut left = signed_in_agents(admin).await?;
    while left > 0 && Instant::now() < gone_by {
        tokio::time::sleep(Duration::from_millis(200)).await;
        left = signed_in_agents(admin).await?;
    }
    let (later, idle_cpu) = idle_window(server).await?;
    if !server.is_running() {
        return Err(format!("switchboard exited; see {}", server.log.display()).into());
    }
    Ok(Wave {
        counts,
        signed_in,
        open_secs,
        loaded,
        held_cpu,
        listed,
        left,
        later,
        idle_cpu,
    })
}

async fn desk_flood(bin: &Path, self_exe: &Path, dir: &Path) -> Result<Row> {
    const DESKS: usize = 2_000;
    println!(
        "## 3. Desk flood: {DESKS} desk sessions signed in at once, then all leave; \
         then a second wave of {DESKS} new agent ids"
    );
    let server = spawn(bin, self_exe, dir, "desks", &desk_config(5_000))?;
    let channels = connect_n(server.addr, DESKS.div_ceil(DESKS_PER_CONNECTION)).await?;
    let admin = connect(server.addr).await?;
    let before = settled_sample(&server).await?;
    let first = desk_wave(&server, &channels, &admin, DESKS, "flood-agent").await?;
    // A second wave on the same server tells memory the allocator kept for reuse
    // (RSS stays flat) from memory that is lost (RSS grows again by as much).
    let second = desk_wave(&server, &channels, &admin, DESKS, "flood-agent-b").await?;
    // Then the desks' connections close too: what they held goes with them.
    let connections = channels.len();
    drop(channels);
    let (closed, _) = idle_window(&server).await?;
    let per_desk = if first.signed_in > 0 {
        bytes(
            first.loaded.rss_kib.saturating_sub(before.rss_kib) as f64 * 1024.0
                / first.signed_in as f64,
        )
    } else {
        "-".to_owned()
    };
    let row = Row {
        phase: "3 desks (no credentials)",
        sent: format!(
            "{} desk sessions held at once on {} connections",
            total(&first.counts),
            connections
        ),
        outcome: outcome(&first.counts),
        rss_before: before.rss_kib,
        rss_loaded: first.loaded.rss_kib,
        rss_later: first.later.rss_kib,
        idle_cpu: first.idle_cpu,
        cost: format!(
            "{per_desk} per desk while signed in; {} still held after they left; \
             a second wave of {} peaked at {} and left {}; {} once the {connections} \
             connections closed",
            delta(before.rss_kib, first.later.rss_kib),
            total(&second.counts),
            mib(second.loaded.rss_kib),
            mib(second.later.rss_kib),
            mib(closed.rss_kib),
        ),
        secs: first.open_secs,
    };
    report_phase(&row);
    for (name, w) in [("first", &first), ("second", &second)] {
        println!(
            "- {name} wave: {} opened in {:.2} s; ListAgents showed {} signed in; CPU with all \
             open and quiet {:.1} % over 3 s; RSS with all open {}, 5 s after they left {} \
             (idle CPU {:.1} %); agents still listed after they left: {}",
            outcome(&w.counts),
            w.open_secs,
            w.listed,
            w.held_cpu,
            mib(w.loaded.rss_kib),
            mib(w.later.rss_kib),
            w.idle_cpu,
            w.left
        );
    }
    server.stop();
    Ok(row)
}

async fn session_limit(bin: &Path, self_exe: &Path, dir: &Path) -> Result<Row> {
    const LIMIT: usize = 500;
    const DESKS: usize = 600;
    println!("## 4. Session limit: {DESKS} desk streams against max_sessions_per_tenant = {LIMIT}");
    let server = spawn(bin, self_exe, dir, "limit", &desk_config(LIMIT))?;
    let channels = connect_n(server.addr, DESKS.div_ceil(DESKS_PER_CONNECTION)).await?;
    let before = settled_sample(&server).await?;
    let t0 = Instant::now();
    let (desks, counts) = open_desks(&channels, DESKS, "limit-agent").await;
    let secs = t0.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let loaded = server.sample()?;
    drop(desks);
    let (later, idle_cpu) = idle_window(&server).await?;
    if !server.is_running() {
        return Err(format!("switchboard exited; see {}", server.log.display()).into());
    }
    let row = Row {
        phase: "4 session limit (500)",
        sent: format!("{} desk sessions at once", total(&counts)),
        outcome: outcome(&counts),
        rss_before: before.rss_kib,
        rss_loaded: loaded.rss_kib,
        rss_later: later.rss_kib,
        idle_cpu,
        cost: format!(
            "{} signed in, {} refused RESOURCE_EXHAUSTED",
            counts.get("signed in").copied().unwrap_or(0),
            counts.get("RESOURCE_EXHAUSTED").copied().unwrap_or(0)
        ),
        secs,
    };
    report_phase(&row);
    server.stop();
    Ok(row)
}

// ---------------------------------------------------------------------------------
// Unary floods and status counting.

/// Runs `call(i)` for `i` in `0..count`, at most [`IN_FLIGHT`] at once and for at most
/// [`PHASE_BUDGET`]; the outcomes by status.
async fn flood<F, Fut>(count: usize, call: F) -> BTreeMap<String, usize>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = std::result::Result<(), Status>> + Send,
{
    let call = Arc::new(call);
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + PHASE_BUDGET;
    let mut workers = Vec::new();
    for _ in 0..IN_FLIGHT {
        let call = call.clone();
        let next = next.clone();
        workers.push(tokio::spawn(async move {
            let mut counts = BTreeMap::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count || Instant::now() > deadline {
                    break;
                }
                let label = match call(i).await {
                    Ok(()) => "OK".to_owned(),
                    Err(status) => status_label(&status),
                };
                *counts.entry(label).or_insert(0) += 1;
            }
            counts
        }));
    }
    let mut counts = BTreeMap::new();
    for worker in workers {
        match worker.await {
            Ok(c) => merge(&mut counts, c),
            Err(e) => {
                *counts
                    .entry(format!("client task failed: {e}"))
                    .or_insert(0) += 1
            }
        }
    }
    counts
}

fn merge(into: &mut BTreeMap<String, usize>, from: BTreeMap<String, usize>) {
    for (k, v) in from {
        *into.entry(k).or_insert(0) += v;
    }
}

fn total(counts: &BTreeMap<String, usize>) -> String {
    thousands(counts.values().sum::<usize>() as u64)
}

fn outcome(counts: &BTreeMap<String, usize>) -> String {
    counts
        .iter()
        .map(|(k, v)| format!("{k} {}", thousands(*v as u64)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The status code's canonical name; rate refusals are told apart from limits.
fn status_label(status: &Status) -> String {
    let name = match status.code() {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => {
            if status.message().contains("request rate") {
                "RESOURCE_EXHAUSTED (rate)"
            } else {
                "RESOURCE_EXHAUSTED"
            }
        }
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    };
    name.to_owned()
}

fn report_phase(row: &Row) {
    println!(
        "- {}: {} in {:.1} s; RSS {} -> {} -> {} (5 s later); idle CPU {:.1} %; {}",
        row.sent,
        row.outcome,
        row.secs,
        mib(row.rss_before),
        mib(row.rss_loaded),
        mib(row.rss_later),
        row.idle_cpu,
        row.cost
    );
}

// ---------------------------------------------------------------------------------
// Formatting.

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn delta(before_kib: u64, after_kib: u64) -> String {
    let d = after_kib as f64 - before_kib as f64;
    let sign = if d < 0.0 { "−" } else { "+" };
    format!("{sign}{:.1} MiB", d.abs() / 1024.0)
}

fn bytes(b: f64) -> String {
    if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / 1024.0 / 1024.0)
    } else if b >= 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{b:.0} B")
    }
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn toml_string(path: &Path) -> String {
    toml::Value::String(path.display().to_string()).to_string()
}

/// 64 hex characters from the system's random source: an HS256 secret of 64 bytes.
fn random_secret() -> Result<Vec<u8>> {
    use ring::rand::SecureRandom;
    let mut raw = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut raw)
        .map_err(|_| "no random source")?;
    Ok(raw
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        .into_bytes())
}

// ---------------------------------------------------------------------------------
// Connections.

async fn connect(addr: SocketAddr) -> Result<Channel> {
    Ok(Endpoint::from_shared(format!("http://{addr}"))?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await?)
}

/// `n` channels, one HTTP/2 connection each, connected now.
async fn connect_n(addr: SocketAddr, n: usize) -> Result<Vec<Channel>> {
    let mut channels = Vec::with_capacity(n);
    for _ in 0..n {
        channels.push(connect(addr).await?);
    }
    Ok(channels)
}

// ---------------------------------------------------------------------------------
// The server under test: examples/loadgen/procs.rs, with the readings this tool takes.

/// Starts `bin` with `config` as its config file and waits until it listens.
fn spawn(bin: &Path, self_exe: &Path, dir: &Path, tag: &str, config: &str) -> Result<Server> {
    let server =
        procs::spawn_switchboard_with(bin, self_exe, dir, tag, &format!("{tag}.toml"), config)?;
    println!(
        "- server pid {} on {}, log {}",
        server.pid,
        server.addr,
        server.log.display()
    );
    Ok(server)
}

/// GET `/metrics`, as Prometheus would: the exporter keeps histogram samples until a
/// scrape takes them, so without one they would count as retained memory.
async fn scrape(server: &Server) -> Result<()> {
    let addr = server.metrics_addr.ok_or("no metrics address")?;
    tokio::task::spawn_blocking(move || procs::scrape(addr).map(drop)).await?
}

/// A reading after a scrape and a second of quiet, once start-up allocations are done.
async fn settled_sample(server: &Server) -> Result<ProcSample> {
    scrape(server).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    server.sample()
}

/// Scrapes `/metrics`, then waits [`IDLE`] with no requests; the reading at its end and
/// the CPU used in it.
async fn idle_window(server: &Server) -> Result<(ProcSample, f64)> {
    scrape(server).await?;
    let start = server.sample()?;
    tokio::time::sleep(IDLE).await;
    let end = server.sample()?;
    Ok((end, start.cpu_percent(&end)))
}

/// The commit the binary was built from, and how many files under `src/` differ from it.
fn source_state() -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(["-C", env!("CARGO_MANIFEST_DIR")])
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
    };
    let Some(head) = git(&["rev-parse", "--short", "HEAD"]) else {
        return "not a git checkout".to_owned();
    };
    let changed = git(&["status", "--porcelain", "--", "src", "proto", "build.rs"])
        .map_or(0, |s| s.lines().count());
    format!(
        "git {} with {changed} uncommitted file(s) under src/, proto/, build.rs",
        head.trim()
    )
}

/// The binary under test: `--bin`, or `target/release/switchboard`, built with cargo
/// first when run through cargo.
fn switchboard_bin(opts: &Opts, self_exe: &Path) -> Result<PathBuf> {
    if let Some(bin) = &opts.bin {
        if !bin.exists() {
            return Err(format!("{} not found", bin.display()).into());
        }
        return Ok(bin.clone());
    }
    // target/<profile>/examples/floods -> target/release/switchboard
    let target = self_exe
        .parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .ok_or("cannot locate the target directory")?;
    let bin = target.join("release").join("switchboard");
    if let Some(cargo) = std::env::var_os("CARGO") {
        let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        let status = Command::new(cargo)
            .args(["build", "--quiet", "--release", "--bin", "switchboard"])
            .args(["--manifest-path", manifest])
            .status()?;
        if !status.success() {
            return Err("`cargo build --release --bin switchboard` failed".into());
        }
    }
    if !bin.exists() {
        return Err(format!(
            "{} not found: run `cargo build --release --bin switchboard` first, or pass --bin",
            bin.display()
        )
        .into());
    }
    Ok(bin)
}
