//! The crash harness shared by `examples/crash.rs` and `tests/crash_recovery.rs`: runs
//! the real `switchboard` binary with a journal, loads it, kills it with SIGKILL at a
//! random moment, restarts it on the same data directory and checks what the journal
//! promises, round after round.
//!
//! What is checked after every restart, and what each check may legitimately see:
//!
//! - **Messages**: every customer message acknowledged (an `accepted` frame, or a
//!   `Submit` response) is in its conversation's transcript (`Admin/GetConversation`)
//!   exactly once, as long as the conversation is open (ended conversations have no
//!   transcript) and the transcript is shorter than `routing.transcript_limit` (at the
//!   limit old entries are cut; such a conversation is only checked for duplicates).
//!   A message sent but not acknowledged may be there or not, never twice; after the
//!   restart it is sent again with the same `client_message_id` (and so are a few that
//!   were acknowledged) and must then be there exactly once.
//! - **Conversation ids**: an id returned for one (channel, channel conversation id)
//!   never names another, nor a new conversation of the same thread after the old one
//!   was closed. Ids seen only through the admin API are not promises (the admin API
//!   shows changes before they are durable) and are not checked.
//! - **Deliveries**: per adapter id, one delivery id always carries the same content;
//!   on one stream ids follow each other without a gap; a reconnected stream starts at
//!   or below the first id not acknowledged; every agent reply acknowledged with `done`
//!   before a crash has reached its customer once the adapter has taken the deliveries
//!   its `welcome` announced, and no reply is ever carried by two delivery ids. No
//!   customer message reaches agents twice as a `customer_message` frame.
//! - **Agents**: right after a restart (before anyone signs in) every conversation an
//!   agent held with an acknowledged accept is still theirs, no conversation is offered
//!   (all agents are returning), and offers in flight are back in the queue. An agent
//!   signing in again gets exactly the conversations the server lists for it as
//!   `Offer` frames with `resumed = true`, each with every acknowledged customer
//!   message in its transcript, and its reply to each is accepted at once (unless the
//!   customer left meanwhile).
//! - **Waiting order**: `Admin/ListWaiting` right after a restart orders the
//!   conversations it shares with every listing polled since the previous restart the
//!   same way (with no boosts, transfers or escalations in the load, the serving order
//!   of two conversations never changes); consecutive polls during the load are
//!   compared too.
//!
//! The load: two app-chat adapter streams and an e-mail adapter using `Submit` (and a
//! stream for its mailbox), customers of mixed value tiers, some requiring a skill;
//! agents accepting after a short think (declining one offer in twenty), replying,
//! closing; e-mail customers abandoning now and then; adapters that stop reading for
//! a while (so deliveries are unread when the server dies) and acknowledge lazily; and
//! now and then an agent that sits a round out (so a restart finds agents still
//! returning from the one before).

pub(crate) mod clients;
pub(crate) mod ledger;
pub(crate) mod server;

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;

use switchboard::api::pb;
use switchboard::api::pb::admin_client::AdminClient;
use switchboard::api::pb::channel_gateway_client::ChannelGatewayClient;

use ledger::{AdapterSpec, Kind, Ledger, Violation};
use server::ServerProcess;

/// What the harness is asked to do.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// The `switchboard` binary under test.
    pub(crate) binary: PathBuf,
    /// Crashes (each followed by a restart and the checks).
    pub(crate) rounds: usize,
    /// Seed of every random choice the harness makes (kill moments, load).
    pub(crate) seed: u64,
    /// `fsync`, `buffered` or `off`.
    pub(crate) durability: String,
    /// The smaller load of the CI run.
    pub(crate) quick: bool,
    /// Keep the data directory and logs even when every check passed.
    pub(crate) keep: bool,
    /// A line per round on stderr.
    pub(crate) verbose: bool,
    /// Shortest and longest load before a kill.
    pub(crate) kill_after_ms: (u64, u64),
    /// Conversations open at most, when not the size's default (a small number keeps
    /// agents idle, so conversations are offered the moment they open).
    pub(crate) open_cap: Option<usize>,
}

impl Options {
    /// The CI size: 8 rounds of a lighter load.
    pub(crate) fn quick(binary: PathBuf) -> Options {
        Options {
            binary,
            rounds: 8,
            seed: 1,
            durability: "fsync".to_owned(),
            quick: true,
            keep: false,
            verbose: false,
            kill_after_ms: (200, 3000),
            open_cap: None,
        }
    }
}

/// How hard the load pushes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pace {
    /// Between two messages of one streaming adapter.
    pub(crate) adapter_every: Duration,
    /// Messages one streaming adapter has unanswered at most.
    pub(crate) adapter_window: usize,
    /// Between two `Submit` calls.
    pub(crate) submit_every: Duration,
    /// `Submit` calls in flight at most.
    pub(crate) submit_window: usize,
    /// Between two agent actions.
    pub(crate) agent_every: Duration,
    /// Between two `ListWaiting` polls.
    pub(crate) poll_every: Duration,
    /// Conversations open at most (the load stops opening new ones there).
    pub(crate) open_cap: usize,
}

impl Pace {
    fn of(quick: bool) -> Pace {
        if quick {
            Pace {
                adapter_every: Duration::from_millis(12),
                adapter_window: 3,
                submit_every: Duration::from_millis(25),
                submit_window: 3,
                agent_every: Duration::from_millis(30),
                poll_every: Duration::from_millis(80),
                open_cap: 60,
            }
        } else {
            Pace {
                adapter_every: Duration::from_millis(5),
                adapter_window: 4,
                submit_every: Duration::from_millis(10),
                submit_window: 4,
                agent_every: Duration::from_millis(20),
                poll_every: Duration::from_millis(50),
                open_cap: 150,
            }
        }
    }
}

/// The simulator's deterministic generator, with the draws the harness makes: the
/// same seed, the same choices.
#[derive(Debug, Clone)]
pub(crate) struct Rng(switchboard::simulate::rng::Rng);

impl Rng {
    /// A generator for `seed`.
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(switchboard::simulate::rng::Rng::new(seed))
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `0..n` (`n` > 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo) + 1)
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.0.uniform() < p
    }

    /// An independent generator drawn from this one.
    pub(crate) fn fork(&mut self) -> Rng {
        Rng::new(self.next_u64())
    }
}

/// What a run found.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    /// Crashes survived and checked.
    pub(crate) rounds: usize,
    /// Violations of each kind, weighted (a lost conversation counts its messages).
    pub(crate) counts: HashMap<Kind, u64>,
    /// Every violation, in order.
    pub(crate) violations: Vec<Violation>,
    /// Distinct acknowledged customer messages checked in a transcript after a crash.
    pub(crate) checked: u64,
    /// Transcript checks in all (a message is checked after every crash it lives through).
    pub(crate) checks: u64,
    /// Customer messages acknowledged.
    pub(crate) acknowledged: u64,
    /// Agent replies acknowledged with `done`, those seen delivered, and those that
    /// were still undelivered at a crash and were checked after it.
    pub(crate) replies: (u64, u64, u64),
    /// Messages in flight at a crash, and how many were sent again.
    pub(crate) unacked: (u64, u64),
    /// Conversations opened.
    pub(crate) conversations: u64,
    /// Deliveries received, and how many were the same id again.
    pub(crate) deliveries: (u64, u64),
    /// Resumed offers received.
    pub(crate) resumed: u64,
    /// Agent actions in flight at a crash, abandons, agent rounds sat out, and
    /// conversations whose order was compared across a crash (last listing before it).
    pub(crate) extra: (u64, u64, u64, u64),
    /// From starting the process to its first answer, per restart.
    pub(crate) restart_ms: Vec<f64>,
    /// What the servers' recovery logs said they replayed (records, milliseconds).
    pub(crate) replays: Vec<(u64, u64)>,
    /// Warnings and errors the server logged, distinct messages with counts.
    pub(crate) server_warnings: Vec<(String, usize)>,
    /// Where data and logs are (removed after a clean run unless kept).
    pub(crate) dir: PathBuf,
    /// Wall time of the whole run.
    pub(crate) took: Duration,
}

impl Report {
    fn count(&self, kind: Kind) -> u64 {
        self.counts.get(&kind).copied().unwrap_or(0)
    }

    /// True when no guarantee was violated.
    pub(crate) fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// The one summary line.
    pub(crate) fn summary(&self) -> String {
        let n = self.restart_ms.len().max(1) as f64;
        let mean = self.restart_ms.iter().sum::<f64>() / n;
        let max = self.restart_ms.iter().copied().fold(0.0, f64::max);
        format!(
            "crash: {} rounds, {} acknowledged messages checked ({} checks, {} acknowledged), \
             losses {}, duplicates {}, id reuses {}, order violations {}, relay violations {}, \
             agent violations {}, other violations {}, restart to answering mean {:.0} ms \
             (max {:.0} ms), {:.0} s in all",
            self.rounds,
            self.checked,
            self.checks,
            self.acknowledged,
            self.count(Kind::Loss),
            self.count(Kind::Duplicate),
            self.count(Kind::Reuse),
            self.count(Kind::Order),
            self.count(Kind::Relay),
            self.count(Kind::Agent),
            self.count(Kind::Other),
            mean,
            max,
            self.took.as_secs_f64(),
        )
    }

    /// Figures beyond the summary, and every violation.
    pub(crate) fn details(&self) -> String {
        use std::fmt::Write as _;
        let mut text = String::new();
        let replayed: u64 = self.replays.iter().map(|r| r.0).sum();
        let replay_ms: u64 = self.replays.iter().map(|r| r.1).sum();
        let _ = writeln!(
            text,
            "conversations opened {}, agent replies acknowledged {} (seen delivered {}, of them \
             undelivered at a crash and found after the restart {}), \
             in flight at a crash {} (sent again {}), deliveries {} ({} the same id again), \
             resumed offers {}, offers/accepts/declines/closes in flight at a crash {}, \
             abandons {}, agent rounds sat out {}, conversations waiting both just before and \
             just after a crash {}, journal records replayed {} in {} ms of recovery",
            self.conversations,
            self.replies.0,
            self.replies.1,
            self.replies.2,
            self.unacked.0,
            self.unacked.1,
            self.deliveries.0,
            self.deliveries.1,
            self.resumed,
            self.extra.0,
            self.extra.1,
            self.extra.2,
            self.extra.3,
            replayed,
            replay_ms,
        );
        for (message, count) in &self.server_warnings {
            let _ = writeln!(text, "server logged {count}x: {message}");
        }
        for v in &self.violations {
            let _ = writeln!(text, "round {} {}: {}", v.round, v.kind.name(), v.what);
        }
        if self.passed() && !self.dir.exists() {
            let _ = writeln!(
                text,
                "data and logs were in {} (removed)",
                self.dir.display()
            );
        } else {
            let _ = writeln!(text, "data and logs: {}", self.dir.display());
        }
        text
    }
}

/// The adapters of the load: two app-chat streams, and an e-mail adapter that submits
/// with unary calls and takes its later deliveries on a stream. Neither channel is
/// bot-first (the config also lists none), so conversations go to agents at once.
fn adapter_specs() -> Vec<AdapterSpec> {
    vec![
        AdapterSpec {
            id: "crash-app-1".to_owned(),
            channel: pb::Channel::App,
            prefix: "a1".to_owned(),
            unary: false,
        },
        AdapterSpec {
            id: "crash-app-2".to_owned(),
            channel: pb::Channel::App,
            prefix: "a2".to_owned(),
            unary: false,
        },
        AdapterSpec {
            id: "crash-mail-1".to_owned(),
            channel: pb::Channel::Email,
            prefix: "m1".to_owned(),
            unary: true,
        },
    ]
}

/// The server's configuration: no bot-first channel, no rate limits (in protected
/// mode every loopback caller is one principal), a transcript limit the load stays
/// under, a grace window far longer than a restart, and snapshots often enough that
/// recoveries start from snapshots as well as from the journal alone.
fn config_text(transcript_limit: usize) -> String {
    format!(
        "[bot]\nchannels = []\nsuggestions = 0\n\
         [limits.rates]\nadapter = 0\nagent = 0\nsupervisor = 0\noperator = 0\n\
         [routing]\ntranscript_limit = {transcript_limit}\n\
         [storage]\nagent_grace_secs = 120\nsnapshot_secs = 2\nsnapshot_records = 4000\n\
         commit_window_ms = 1\n"
    )
}

/// Transcript entries kept per conversation, as configured.
const TRANSCRIPT_LIMIT: usize = 1000;

/// How long any one call or wait of the harness may take before it counts as hung.
const PROMPT: Duration = Duration::from_secs(10);

/// One server process's clients, and the switches that steer them.
struct Incarnation {
    stop: watch::Sender<bool>,
    load: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

/// Runs the whole harness.
pub(crate) async fn run(opts: &Options) -> Result<Report, String> {
    let started = Instant::now();
    if !opts.binary.is_file() {
        return Err(format!(
            "{} not found; build it first (cargo build --release --bin switchboard) or pass --binary",
            opts.binary.display()
        ));
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!(
        "switchboard-crash-{}-{}-{nanos}",
        std::process::id(),
        opts.seed
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let config = dir.join("switchboard.toml");
    std::fs::write(&config, config_text(TRANSCRIPT_LIMIT))
        .map_err(|e| format!("{}: {e}", config.display()))?;
    let launch = server::Launch {
        binary: opts.binary.clone(),
        config,
        data_dir: dir.join("data"),
        durability: opts.durability.clone(),
    };
    let mut pace = Pace::of(opts.quick);
    if let Some(cap) = opts.open_cap {
        pace.open_cap = cap;
    }
    let mut rng = Rng::new(opts.seed);
    let agents = if opts.quick { 3 } else { 4 };
    let ledger = Arc::new(Mutex::new(Ledger::new(
        adapter_specs(),
        (1..=agents).map(|i| format!("crash-agent-{i}")).collect(),
        pace.open_cap,
        opts.verbose,
    )));
    let mut restart_ms = Vec::new();
    let mut replays = Vec::new();
    let mut warnings: Vec<(String, usize)> = Vec::new();

    let mut server = ServerProcess::spawn(&launch, &dir.join("round-000.log"))?;
    server.wait_answering(Duration::from_secs(30)).await?;
    let limit = configured_transcript_limit(&server).await?;
    lock(&ledger).transcript_limit = limit;
    let mut incarnation = start_clients(&server, &ledger, &pace, &mut rng, 0, false).await?;
    let mut rounds = 0;
    for round in 1..=opts.rounds {
        let run_for = rng.between(opts.kill_after_ms.0, opts.kill_after_ms.1);
        tokio::time::sleep(Duration::from_millis(run_for)).await;
        if let Some(status) = server.exited() {
            lock(&ledger).violate(
                Kind::Other,
                1,
                format!(
                    "the server exited by itself ({status}) during the load; log {}",
                    server.log.display()
                ),
            );
            break;
        }
        // The crash.
        server.kill();
        tokio::time::sleep(Duration::from_millis(50)).await;
        stop_clients(incarnation).await;
        collect_warnings(&server.log, &mut warnings);
        lock(&ledger).after_crash(round);
        let log = dir.join(format!("round-{round:03}.log"));
        server = ServerProcess::spawn(&launch, &log)?;
        let answered = server.wait_answering(Duration::from_secs(30)).await?;
        restart_ms.push(answered.as_secs_f64() * 1000.0);
        if let Some(replay) = server::recovery_figures(&log) {
            replays.push(replay);
        }
        let before = lock(&ledger).violations.len();
        check_after_restart(&server, &ledger, limit).await?;
        incarnation = start_clients(&server, &ledger, &pace, &mut rng, round, true).await?;
        rounds = round;
        if opts.verbose {
            let l = lock(&ledger);
            eprintln!(
                "round {round}: load {run_for} ms, then SIGKILL; answering {:.0} ms after the \
                 restart; {} open conversations checked, {} acknowledged messages so far, \
                 {} new violations",
                answered.as_secs_f64() * 1000.0,
                l.open_count(),
                l.stats.acknowledged,
                l.violations.len() - before,
            );
        }
    }
    let _ = incarnation.load.send(false);
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.kill();
    stop_clients(incarnation).await;
    collect_warnings(&server.log, &mut warnings);
    let ledger = lock(&ledger);
    let mut counts = HashMap::new();
    for v in &ledger.violations {
        *counts.entry(v.kind).or_insert(0) += v.weight;
    }
    let s = &ledger.stats;
    let report = Report {
        rounds,
        counts,
        violations: ledger.violations.clone(),
        checked: ledger.checked_distinct(),
        checks: s.checks,
        acknowledged: s.acknowledged,
        replies: (
            s.replies_acked,
            ledger.replies_seen_delivered(),
            s.replies_checked,
        ),
        unacked: (s.unacked_at_crash, s.resent_unacked),
        conversations: s.conversations,
        deliveries: (s.deliveries, s.redelivered),
        resumed: s.resumed,
        extra: (s.in_flight_holds, s.abandons, s.absences, s.order_compared),
        restart_ms,
        replays,
        server_warnings: warnings,
        dir: dir.clone(),
        took: started.elapsed(),
    };
    if report.passed() && !opts.keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(report)
}

/// Locks the ledger (a panicked task does not poison the run's bookkeeping).
pub(crate) fn lock(ledger: &Mutex<Ledger>) -> std::sync::MutexGuard<'_, Ledger> {
    ledger.lock().unwrap_or_else(|p| p.into_inner())
}

/// `routing.transcript_limit` as the running server reports it (`Admin/GetConfig`).
async fn configured_transcript_limit(server: &ServerProcess) -> Result<usize, String> {
    let mut admin = AdminClient::new(clients::channel(server.addr).await?);
    let config = tokio::time::timeout(PROMPT, admin.get_config(pb::GetConfigRequest {}))
        .await
        .map_err(|_| "GetConfig timed out".to_owned())?
        .map_err(|s| format!("GetConfig: {s}"))?
        .into_inner();
    let table: toml::Table =
        toml::from_str(&config.toml).map_err(|e| format!("GetConfig TOML: {e}"))?;
    table
        .get("routing")
        .and_then(|r| r.get("transcript_limit"))
        .and_then(|v| v.as_integer())
        .map(|n| n as usize)
        .ok_or_else(|| "GetConfig has no routing.transcript_limit".to_owned())
}

/// Starts an incarnation's clients: adapter streams first (taking what their
/// mailboxes announce, then checking replies reached them), then the messages in
/// flight at the crash sent again, then agents (checking their resumed offers), then
/// the load and the waiting-order poller.
async fn start_clients(
    server: &ServerProcess,
    ledger: &Arc<Mutex<Ledger>>,
    pace: &Pace,
    rng: &mut Rng,
    round: usize,
    restarted: bool,
) -> Result<Incarnation, String> {
    let (stop, stop_rx) = watch::channel(false);
    let (load, load_rx) = watch::channel(false);
    let ctx = clients::Ctx {
        ledger: ledger.clone(),
        addr: server.addr,
        stop: stop_rx,
        load: load_rx,
        pace: *pace,
        round,
    };
    let mut tasks = JoinSet::new();
    let adapters = lock(ledger).adapters.len();
    let mut drained = Vec::new();
    for idx in 0..adapters {
        let (tx, rx) = oneshot::channel();
        drained.push((idx, rx));
        tasks.spawn(clients::adapter_stream(ctx.clone(), idx, rng.fork(), tx));
    }
    for (idx, rx) in drained {
        let got = tokio::time::timeout(PROMPT, rx).await;
        let mut l = lock(ledger);
        match got {
            Ok(Ok(())) => {
                if restarted {
                    l.replies_delivered(idx);
                }
            }
            _ => {
                let id = l.adapters[idx].spec.id.clone();
                let (pending, got) = (l.adapters[idx].pending, l.adapters[idx].since_welcome);
                l.violate(
                    Kind::Relay,
                    1,
                    format!(
                        "adapter {id}: welcome announced {pending} deliveries, {got} arrived \
                         within {PROMPT:?} (or the stream failed)"
                    ),
                );
            }
        }
    }
    if restarted {
        resend(server, ledger, rng).await?;
    }
    let agents = lock(ledger).agents.len();
    // Now and then an agent sits a round out: it comes back only after the next crash,
    // so a restart finds agents still returning from the one before.
    let absent = (restarted && rng.chance(0.15)).then(|| rng.below(agents as u64) as usize);
    let mut signed = Vec::new();
    for idx in 0..agents {
        {
            let mut l = lock(ledger);
            l.agents[idx].present = absent != Some(idx);
            if absent == Some(idx) {
                l.stats.absences += 1;
                continue;
            }
        }
        let (tx, rx) = oneshot::channel();
        signed.push((idx, rx));
        tasks.spawn(clients::agent(ctx.clone(), idx, rng.fork(), tx));
    }
    for (idx, rx) in signed {
        if !matches!(tokio::time::timeout(PROMPT, rx).await, Ok(Ok(()))) {
            let mut l = lock(ledger);
            let id = l.agents[idx].id.clone();
            l.violate(
                Kind::Agent,
                1,
                format!("agent {id} could not sign in again"),
            );
        }
    }
    if restarted {
        // Resumed offers follow `signed_in` at once; wait for every one expected.
        let deadline = Instant::now() + PROMPT;
        while !lock(ledger).resumed_complete() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        lock(ledger).check_resumed();
    }
    for idx in 0..adapters {
        if lock(ledger).adapters[idx].spec.unary {
            tasks.spawn(clients::submitter(ctx.clone(), idx, rng.fork()));
        }
    }
    tasks.spawn(clients::poller(ctx.clone()));
    let _ = load.send(true);
    Ok(Incarnation { stop, load, tasks })
}

/// Stops an incarnation's clients (the server is already dead: they see their streams
/// fail) and waits for them.
async fn stop_clients(mut incarnation: Incarnation) {
    let _ = incarnation.load.send(false);
    let _ = incarnation.stop.send(true);
    let all = async { while incarnation.tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(PROMPT, all).await.is_err() {
        incarnation.tasks.abort_all();
    }
}

/// Right after a restart, before any client is back: the waiting order, every open
/// conversation's transcript and state, and what each agent holds.
async fn check_after_restart(
    server: &ServerProcess,
    ledger: &Arc<Mutex<Ledger>>,
    limit: usize,
) -> Result<(), String> {
    let mut admin = AdminClient::new(clients::channel(server.addr).await?);
    let waiting = tokio::time::timeout(
        PROMPT,
        admin.list_waiting(pb::ListWaitingRequest { limit: 10_000 }),
    )
    .await
    .map_err(|_| "ListWaiting timed out".to_owned())?
    .map_err(|s| format!("ListWaiting: {s}"))?
    .into_inner();
    lock(ledger).waiting_after_restart(&waiting);
    let ids = lock(ledger).open_conversation_ids();
    let mut states = HashMap::new();
    for id in ids {
        let got = tokio::time::timeout(
            PROMPT,
            admin.get_conversation(pb::GetConversationRequest {
                conversation_id: id.clone(),
            }),
        )
        .await
        .map_err(|_| format!("GetConversation({id}) timed out"))?
        .map(|r| r.into_inner());
        if let Some(state) = lock(ledger).sweep_one(&id, got, limit) {
            states.insert(id, state);
        }
    }
    let agents = tokio::time::timeout(PROMPT, admin.list_agents(pb::ListAgentsRequest {}))
        .await
        .map_err(|_| "ListAgents timed out".to_owned())?
        .map_err(|s| format!("ListAgents: {s}"))?
        .into_inner();
    let held: HashMap<String, BTreeSet<String>> = agents
        .agents
        .into_iter()
        .map(|a| (a.agent_id, a.conversation_ids.into_iter().collect()))
        .collect();
    lock(ledger).agents_after_restart(&states, &held);
    Ok(())
}

/// Sends again, with their `client_message_id`, the messages in flight at the crash
/// and a few acknowledged ones, then checks each is in its conversation exactly once.
async fn resend(
    server: &ServerProcess,
    ledger: &Arc<Mutex<Ledger>>,
    rng: &mut Rng,
) -> Result<(), String> {
    let messages = lock(ledger).resends(rng);
    if messages.is_empty() {
        return Ok(());
    }
    let mut gateway = ChannelGatewayClient::new(clients::channel(server.addr).await?);
    let mut touched = BTreeSet::new();
    for msg in messages {
        let client_id = msg.client_message_id.clone();
        let got = tokio::time::timeout(PROMPT, gateway.submit(msg))
            .await
            .map_err(|_| "Submit of a resent message timed out".to_owned())?;
        let mut l = lock(ledger);
        match got {
            Ok(response) => {
                let response = response.into_inner();
                touched.insert(response.conversation_id.clone());
                l.accepted(
                    &client_id,
                    &response.conversation_id,
                    response.created,
                    "a Submit resending it",
                );
            }
            Err(status) => l.rejected(&client_id, status.code() as i32, status.message()),
        }
    }
    let mut admin = AdminClient::new(clients::channel(server.addr).await?);
    for id in touched {
        let got = tokio::time::timeout(
            PROMPT,
            admin.get_conversation(pb::GetConversationRequest {
                conversation_id: id.clone(),
            }),
        )
        .await
        .map_err(|_| format!("GetConversation({id}) timed out"))?
        .map(|r| r.into_inner());
        lock(ledger).check_resent(&id, got);
    }
    Ok(())
}

/// Adds the distinct warning and error messages of a server log to `into`.
fn collect_warnings(log: &std::path::Path, into: &mut Vec<(String, usize)>) {
    for message in server::warnings(log) {
        match into.iter_mut().find(|(m, _)| *m == message) {
            Some((_, n)) => *n += 1,
            None => into.push((message, 1)),
        }
    }
}
