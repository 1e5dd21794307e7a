//! The servers under test as child processes: spawning, cleaning up, reading their
//! CPU time and memory from `/proc`, and their data directories' size on disk.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::Result;

/// Every child still running, killed on exit, on a panic and on SIGINT/SIGTERM.
static CHILDREN: Mutex<Vec<Child>> = Mutex::new(Vec::new());

fn register(child: Child) {
    CHILDREN
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(child);
}

/// Kills and reaps every child started here. Safe to call more than once.
pub(crate) fn kill_all() {
    // `try_lock`: a panic while the list is locked must not deadlock the hook.
    let Ok(mut children) = CHILDREN.try_lock() else {
        return;
    };
    for mut child in children.drain(..) {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Kills the children before the default panic report.
pub(crate) fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        kill_all();
        default(info);
    }));
}

/// The exit status of child `pid` if it has exited (it is then forgotten).
fn try_reap(pid: u32) -> Result<Option<ExitStatus>> {
    let mut children = CHILDREN.lock().unwrap_or_else(|p| p.into_inner());
    let i = children
        .iter()
        .position(|c| c.id() == pid)
        .ok_or_else(|| format!("pid {pid} is not a child of the load generator"))?;
    let exit = children[i].try_wait()?;
    if exit.is_some() {
        // Already exited: `wait` returns at once and releases the handle.
        let _ = children.swap_remove(i).wait();
    }
    Ok(exit)
}

fn kill_pid(pid: u32) {
    let mut children = CHILDREN.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(i) = children.iter().position(|c| c.id() == pid) {
        let mut child = children.swap_remove(i);
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// A 127.0.0.1 address with a port the kernel just handed out.
pub(crate) fn free_addr() -> Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// A server process under test.
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) name: &'static str,
    pub(crate) pid: u32,
    pub(crate) addr: SocketAddr,
    pub(crate) metrics_addr: Option<SocketAddr>,
    pub(crate) log: PathBuf,
    /// Its journal and snapshots (`None` for the echo server and with durability off).
    pub(crate) data_dir: Option<PathBuf>,
    /// The durability it was started with (`None` for the echo server).
    pub(crate) durability: Option<Durability>,
    /// Just before the process was started.
    pub(crate) spawned_at: Instant,
    /// The watchdog that kills the server should we die first.
    reaper: Option<u32>,
}

impl Server {
    /// Kills the process (SIGKILL, and its watchdog) now.
    pub(crate) fn stop(&self) {
        kill_pid(self.pid);
        if let Some(reaper) = self.reaper {
            kill_pid(reaper);
        }
    }

    /// SIGTERM, then waits up to `timeout` for the process to exit (a Switchboard
    /// drains, writes its snapshots and closes its journal). Returns how long it took
    /// and the exit status; on timeout the process is killed and the error says so.
    pub(crate) fn terminate(&self, timeout: Duration) -> Result<(Duration, ExitStatus)> {
        let started = Instant::now();
        let status = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()?;
        if !status.success() {
            return Err(format!("kill -TERM {} failed: {status}", self.pid).into());
        }
        loop {
            if let Some(exit) = try_reap(self.pid)? {
                if let Some(reaper) = self.reaper {
                    kill_pid(reaper);
                }
                return Ok((started.elapsed(), exit));
            }
            if started.elapsed() > timeout {
                self.stop();
                return Err(format!(
                    "{} (pid {}) had not exited {:.0} s after SIGTERM; killed (log {})",
                    self.name,
                    self.pid,
                    timeout.as_secs_f64(),
                    self.log.display()
                )
                .into());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits until `/readyz` on the metrics port answers 200 (a Switchboard binds its
    /// ports before it recovers from its data directory, and serves HTTP only after);
    /// returns when it did.
    pub(crate) fn wait_ready(&self, timeout: Duration) -> Result<Instant> {
        let addr = self.metrics_addr.ok_or("no metrics address")?;
        let deadline = self.spawned_at + timeout;
        loop {
            if let Ok(200) = http_status(addr, "/readyz", deadline) {
                return Ok(Instant::now());
            }
            if !self.is_running() || Instant::now() > deadline {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                return Err(format!(
                    "{} (pid {}) never answered /readyz with 200 on {addr} within {:.0} s (log {}):\n{log}",
                    self.name,
                    self.pid,
                    timeout.as_secs_f64(),
                    self.log.display()
                )
                .into());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Whether the process still runs.
    pub(crate) fn is_running(&self) -> bool {
        let mut children = CHILDREN.lock().unwrap_or_else(|p| p.into_inner());
        children
            .iter_mut()
            .find(|c| c.id() == self.pid)
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// CPU time and memory now.
    pub(crate) fn sample(&self) -> Result<ProcSample> {
        ProcSample::read(self.pid)
    }

    /// Warnings and errors in the server's log so far.
    pub(crate) fn log_lines(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }
}

/// Which channels the server under test serves with its bot first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bots {
    /// No channel is bot-first: conversations go straight to the agents' queue.
    Off,
    /// The web channel (the one the load generator writes on) is bot-first, with the
    /// built-in bot answering from the embedded starter knowledge base.
    Web,
}

impl Bots {
    /// The config file's name stem and its `[bot]` table; with a semantic model set
    /// ([`use_bot_model`]) the bot-first servers load it.
    fn config(self) -> (&'static str, String) {
        match self {
            Bots::Off => ("switchboard-no-bots", "[bot]\nchannels = []\n".to_owned()),
            Bots::Web => {
                let model = BOT_MODEL.lock().unwrap_or_else(|p| p.into_inner()).clone();
                let semantic = model.map_or(String::new(), |dir| {
                    let second = dir.join("use-multilingual-v3");
                    let second = if second.is_dir() {
                        format!("second_model = {:?}\n", second.display().to_string())
                    } else {
                        String::new()
                    };
                    format!(
                        "model = {:?}\nonnxruntime = {:?}\n{second}",
                        dir.join("multilingual-e5-small").display().to_string(),
                        dir.join("onnxruntime/libonnxruntime.so")
                            .display()
                            .to_string()
                    )
                });
                (
                    "switchboard-bot-web",
                    format!("[bot]\nchannels = [\"web\"]\n{semantic}"),
                )
            }
        }
    }
}

/// The models directory (`tools/embedding-model/setup-model.sh` output) whose
/// multilingual-e5-small (and, when the directory has it, use-multilingual-v3 as the
/// second model) the bot-first servers load; `None`: lexical bot only.
static BOT_MODEL: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Makes the bot-first servers started from now on run the semantic stage with the
/// model under `dir` (`None`: lexical only).
pub(crate) fn use_bot_model(dir: Option<PathBuf>) {
    *BOT_MODEL.lock().unwrap_or_else(|p| p.into_inner()) = dir;
}

/// `[storage] durability` of the servers under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Durability {
    /// Journal written and fsynced before a change is acknowledged (the product default).
    Fsync,
    /// Journal written to the page cache before a change is acknowledged.
    Buffered,
    /// No journal.
    Off,
}

impl Durability {
    pub(crate) const ALL: [Durability; 3] =
        [Durability::Off, Durability::Buffered, Durability::Fsync];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Durability::Fsync => "fsync",
            Durability::Buffered => "buffered",
            Durability::Off => "off",
        }
    }
}

/// Tenant prefixes the phases rotate through (`<prefix>-<epoch>`), and how many epochs
/// are declared for each; plus the fixed tenants.
const ROTATING: &[&str] = &[
    "loadgen-new",
    "loadgen-memory",
    "loadgen-bot",
    "loadgen-bot-paced",
];
const EPOCHS: usize = 64;
const FIXED: &[&str] = &[
    "loadgen-relay",
    "loadgen-realistic",
    "loadgen-restart",
    "loadgen-outbound",
];

/// What every load-bench server is configured with besides its bots and storage: the
/// tenants the phases use, declared (a header alone no longer creates a tenant), and
/// request rates high enough that the bench measures routing, with the rate limiter
/// still running (the admin roles' too, so the restart phase's checks are not throttled).
fn common_config(auth_secret: Option<&Path>) -> String {
    let mut text = String::from(
        "[limits]\nmax_tenants = 5000\n[limits.rates]\nadapter = 10000000\nagent = 10000000\n\
         supervisor = 10000000\noperator = 10000000\n\
         [routing.outbound.rules]\nquiet_hours = { start_minute = 0, end_minute = 0 }\n\
         [[routing.outbound.templates]]\nname = \"loadgen\"\nlanguage = \"en\"\n\
         text = \"Your order {order} has shipped.\"\n",
    );
    if let Some(secret) = auth_secret {
        text.push_str(&format!(
            "[auth]\njwt_hs256_secret_file = {:?}\n",
            secret.display().to_string()
        ));
    }
    for prefix in ROTATING {
        for epoch in 0..EPOCHS {
            text.push_str(&format!("[tenants.{prefix}-{epoch}]\n"));
        }
    }
    for tenant in FIXED {
        text.push_str(&format!("[tenants.{tenant}]\n"));
    }
    text
}

/// The shared secret when the servers under test require JWTs, set by the auth phase.
static AUTH_SECRET: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Makes the servers started from now on require HS256 JWTs signed with the secret in
/// this file (`None`: no credentials, loopback protected mode).
pub(crate) fn require_jwt(secret: Option<PathBuf>) {
    *AUTH_SECRET.lock().unwrap_or_else(|p| p.into_inner()) = secret;
}

/// The durability of the servers started from now on (`--durability`; the durability
/// phase sets each mode in turn).
static DURABILITY: Mutex<Durability> = Mutex::new(Durability::Fsync);

pub(crate) fn set_durability(durability: Durability) {
    *DURABILITY.lock().unwrap_or_else(|p| p.into_inner()) = durability;
}

pub(crate) fn durability() -> Durability {
    *DURABILITY.lock().unwrap_or_else(|p| p.into_inner())
}

/// `[storage]` lines, beyond durability and the data directory, of the servers
/// started from now on (empty: the server's defaults).
static STORAGE_LINES: Mutex<String> = Mutex::new(String::new());

/// Sets `[storage] key = value` for the servers started from now on.
pub(crate) fn set_storage(key: &str, value: u64) {
    let mut lines = STORAGE_LINES.lock().unwrap_or_else(|p| p.into_inner());
    lines.push_str(&format!("{key} = {value}\n"));
}

/// CPUs (a `taskset -c` list such as `0` or `0,1`) the Switchboards started from now
/// on are pinned to; `None`: not pinned. Set by the scaling phase.
static SERVER_CPUS: Mutex<Option<String>> = Mutex::new(None);

/// Pins the Switchboards started from now on to `cpus` (`taskset -c <cpus>`), or not.
pub(crate) fn pin_servers(cpus: Option<&str>) {
    *SERVER_CPUS.lock().unwrap_or_else(|p| p.into_inner()) = cpus.map(str::to_owned);
}

/// Sets the CPUs every thread of this process may run on (`taskset -a -p -c`); new
/// threads inherit it from the thread that starts them.
pub(crate) fn pin_self(cpus: &str) -> Result<()> {
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run taskset (util-linux): {e}"))?;
    if !status.success() {
        return Err(
            format!("taskset -a -p -c {cpus} on the load generator failed: {status}").into(),
        );
    }
    Ok(())
}

/// The CPUs a process may run on, as `/proc/<pid>/status` lists them (`0-1`).
pub(crate) fn cpus_allowed(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_else(|| "?".to_owned())
}

/// Numbers the servers started, so each gets its own config file and data directory.
static SPAWNED: AtomicU32 = AtomicU32::new(0);

/// Starts `target/<profile>/switchboard` with loopback ports, warn-level JSON logs,
/// the current [`durability`] and a fresh, empty data directory of its own under `dir`
/// (so no server replays another's state).
pub(crate) fn spawn_switchboard(
    bin: &Path,
    self_exe: &Path,
    dir: &Path,
    tag: &str,
    bots: Bots,
) -> Result<Server> {
    let (n, data_dir) = fresh_data_dir(dir, tag)?;
    spawn_numbered(n, bin, self_exe, dir, tag, bots, durability(), &data_dir)
}

/// The next server number and an empty data directory path for it under `dir`.
fn fresh_data_dir(dir: &Path, tag: &str) -> Result<(u32, PathBuf)> {
    let n = SPAWNED.fetch_add(1, Ordering::Relaxed) + 1;
    let data_dir = dir.join(format!("data-{n:02}-{tag}"));
    if data_dir.exists() {
        std::fs::remove_dir_all(&data_dir)?;
    }
    Ok((n, data_dir))
}

/// Starts a switchboard as [`spawn_switchboard`] does, but on `data_dir` as it is (the
/// restart phase starts servers on the data a previous one left).
pub(crate) fn spawn_switchboard_on(
    bin: &Path,
    self_exe: &Path,
    dir: &Path,
    tag: &str,
    bots: Bots,
    durability: Durability,
    data_dir: &Path,
) -> Result<Server> {
    let n = SPAWNED.fetch_add(1, Ordering::Relaxed) + 1;
    spawn_numbered(n, bin, self_exe, dir, tag, bots, durability, data_dir)
}

/// Server number `n`: its config file is `<dir>/<bots stem>-<n>-<tag>.toml`.
#[allow(clippy::too_many_arguments)]
fn spawn_numbered(
    n: u32,
    bin: &Path,
    self_exe: &Path,
    dir: &Path,
    tag: &str,
    bots: Bots,
    durability: Durability,
    data_dir: &Path,
) -> Result<Server> {
    // Most phases measure routing to agents: no channel is bot-first there. The bot
    // phase turns the bot on for web.
    let (stem, contents) = bots.config();
    let secret = AUTH_SECRET
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let storage_lines = STORAGE_LINES
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let config = format!(
        "{}{contents}[storage]\ndurability = \"{}\"\ndata_dir = {:?}\n{storage_lines}",
        common_config(secret.as_deref()),
        durability.as_str(),
        data_dir.display().to_string()
    );
    let mut server = spawn_switchboard_with(
        bin,
        self_exe,
        dir,
        tag,
        &format!("{stem}-{n:02}-{tag}.toml"),
        &config,
    )?;
    server.durability = Some(durability);
    server.data_dir = (durability != Durability::Off).then(|| data_dir.to_owned());
    Ok(server)
}

/// Starts `bin` with loopback ports, warn-level JSON logs and `config_text` written to
/// `dir/<config_name>`; waits until it listens (a Switchboard with a journal may still
/// be recovering then: see [`Server::wait_ready`]). A config without a `[storage]`
/// table gets `--data-dir` with a fresh directory under `dir` (the durability stays
/// the server's default), so no two servers ever share the default `./switchboard-data`.
pub(crate) fn spawn_switchboard_with(
    bin: &Path,
    self_exe: &Path,
    dir: &Path,
    tag: &str,
    config_name: &str,
    config_text: &str,
) -> Result<Server> {
    let addr = free_addr()?;
    let metrics = free_addr()?;
    let log = dir.join(format!("switchboard-{tag}.log"));
    let out = std::fs::File::create(&log)?;
    let config = dir.join(config_name);
    std::fs::write(&config, config_text)?;
    let own_data = if config_text.contains("[storage]") {
        None
    } else {
        Some(fresh_data_dir(dir, tag)?.1)
    };
    // Pinned: `taskset` sets the affinity and execs the server, so the pid is the
    // server's own.
    let cpus = SERVER_CPUS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let mut command = match &cpus {
        Some(cpus) => {
            let mut c = Command::new("taskset");
            c.args(["-c", cpus]).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    if let Some(data) = &own_data {
        command.args(["--data-dir", &data.display().to_string()]);
    }
    let spawned_at = Instant::now();
    let child = command
        .args(["--config", &config.display().to_string()])
        .args(["--grpc-addr", &addr.to_string()])
        .args(["--metrics-addr", &metrics.to_string()])
        .args(["--log-format", "json"])
        .env("SWITCHBOARD_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .map_err(|e| match &cpus {
            Some(cpus) => format!("cannot start taskset -c {cpus} {}: {e}", bin.display()),
            None => format!("cannot start {}: {e}", bin.display()),
        })?;
    let pid = child.id();
    register(child);
    // A reaper that kills the server should this process die without cleaning up
    // (SIGKILL): it waits for its stdin to close, which happens when we exit.
    let reaper = Command::new(self_exe)
        .args(["--reap", &format!("{pid}@{addr}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let reaper_pid = reaper.id();
    register(reaper);
    let server = Server {
        name: "switchboard",
        pid,
        addr,
        metrics_addr: Some(metrics),
        log,
        data_dir: own_data,
        durability: None,
        spawned_at,
        reaper: Some(reaper_pid),
    };
    wait_listening(&server)?;
    Ok(server)
}

/// Starts this program again as the echo server (`--serve-echo`).
pub(crate) fn spawn_echo(self_exe: &Path, dir: &Path) -> Result<Server> {
    let addr = free_addr()?;
    let log = dir.join("echo.log");
    let out = std::fs::File::create(&log)?;
    let child = Command::new(self_exe)
        .args(["--serve-echo", &addr.to_string()])
        // Kept open while we live; the echo server exits when it closes.
        .stdin(Stdio::piped())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()?;
    let pid = child.id();
    register(child);
    let server = Server {
        name: "echo",
        pid,
        addr,
        metrics_addr: None,
        log,
        data_dir: None,
        durability: None,
        spawned_at: Instant::now(),
        reaper: None,
    };
    wait_listening(&server)?;
    Ok(server)
}

fn wait_listening(server: &Server) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if TcpStream::connect_timeout(&server.addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if !server.is_running() || Instant::now() > deadline {
            let log = std::fs::read_to_string(&server.log).unwrap_or_default();
            return Err(format!(
                "{} did not start listening on {} (log {}):\n{log}",
                server.name,
                server.addr,
                server.log.display()
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `--reap <pid>@<grpc addr>`: waits for stdin to close (the load generator is gone),
/// then kills the server if that pid still runs with that listen address (so a reused
/// pid is never hit).
pub(crate) fn reap(target: &str) {
    let Some((pid, addr)) = target.split_once('@') else {
        return;
    };
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let ours = cmdline.split(|&b| b == 0).any(|arg| arg == addr.as_bytes());
    if ours {
        let _ = Command::new("kill").args(["-KILL", pid]).status();
    }
}

/// A process's CPU time and memory at one instant.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProcSample {
    pub(crate) at: Instant,
    /// utime + stime, in clock ticks.
    pub(crate) ticks: u64,
    pub(crate) rss_kib: u64,
    pub(crate) hwm_kib: u64,
}

impl ProcSample {
    pub(crate) fn read(pid: u32) -> Result<ProcSample> {
        let at = Instant::now();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        // Fields after the command name, which is in parentheses and may hold spaces:
        // state is field 3, utime 14, stime 15.
        let rest = &stat[stat.rfind(')').ok_or("bad /proc stat")? + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let kib = |key: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Ok(ProcSample {
            at,
            ticks,
            rss_kib: kib("VmRSS:"),
            hwm_kib: kib("VmHWM:"),
        })
    }

    /// CPU used between two samples, in % of one core (200 % = two cores busy).
    pub(crate) fn cpu_percent(&self, later: &ProcSample) -> f64 {
        let secs = (later.ticks - self.ticks) as f64 / clock_ticks() as f64;
        100.0 * secs / later.at.duration_since(self.at).as_secs_f64()
    }
}

/// Busy and total clock ticks of the whole machine (all cores), from `/proc/stat`.
pub(crate) fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(cpu) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return (0, 0);
    };
    let v: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest is already in user).
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// CPU used by everything on the machine between two [`machine_ticks`] readings, in
/// % of one core.
pub(crate) fn machine_cpu_percent(a: (u64, u64), b: (u64, u64), secs: f64) -> f64 {
    100.0 * (b.0 - a.0) as f64 / clock_ticks() as f64 / secs
}

/// This process's own CPU and memory.
pub(crate) fn own_sample() -> Result<ProcSample> {
    ProcSample::read(std::process::id())
}

fn clock_ticks() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100)
    })
}

/// `nproc`, CPU model, memory and kernel, from `/proc`.
pub(crate) fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU".to_owned(), |(_, v)| v.trim().to_owned());
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "nproc {nproc}, CPU {model}, {mem_gib:.0} GiB RAM, Linux {}",
        kernel.trim()
    )
}

/// GET `/metrics` (Prometheus text). A scrape also flushes the exporter's buffered
/// histogram samples, as Prometheus's own scrapes would.
pub(crate) fn scrape(addr: SocketAddr) -> Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut body = String::new();
    stream.read_to_string(&mut body)?;
    Ok(body)
}

/// Sum of every sample of a metric (all label sets) whose line contains `filter`.
pub(crate) fn metric_sum(text: &str, name: &str, filter: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
                && l.contains(filter)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// GET `path` on a plain-HTTP port; the status code. Waits for the answer until
/// `deadline` (a connection the kernel queued before the server serves HTTP is
/// answered once it does).
pub(crate) fn http_status(addr: SocketAddr, path: &str, deadline: Instant) -> Result<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200))?;
    let left = deadline.saturating_duration_since(Instant::now());
    stream.set_read_timeout(Some(left.max(Duration::from_millis(10))))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    let text = std::str::from_utf8(&head)?;
    Ok(text
        .split_whitespace()
        .nth(1)
        .ok_or("no HTTP status")?
        .parse()?)
}

/// Quantile `q` of a Prometheus histogram (all label sets summed), interpolated
/// linearly within the bucket it falls in, as PromQL's `histogram_quantile` does;
/// `None` without samples.
pub(crate) fn histogram_quantile(text: &str, name: &str, q: f64) -> Option<f64> {
    let prefix = format!("{name}_bucket{{");
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    for line in text.lines().filter(|l| l.starts_with(&prefix)) {
        let le = line.split("le=\"").nth(1)?.split('"').next()?;
        let le = if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse().ok()?
        };
        let count: f64 = line.rsplit(' ').next()?.parse().ok()?;
        match buckets.iter_mut().find(|(b, _)| *b == le) {
            Some((_, c)) => *c += count,
            None => buckets.push((le, count)),
        }
    }
    bucket_quantile(&buckets, q)
}

/// Quantile `q` of cumulative buckets, interpolated linearly within its bucket.
pub(crate) fn bucket_quantile(buckets: &[(f64, f64)], q: f64) -> Option<f64> {
    let mut buckets = buckets.to_vec();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let (mut lower, mut below) = (0.0, 0.0);
    for &(le, count) in &buckets {
        if count >= rank {
            if le.is_infinite() {
                // Past the highest finite bound: that bound is all one can say.
                return Some(lower);
            }
            let share = if count > below {
                (rank - below) / (count - below)
            } else {
                0.0
            };
            return Some(lower + (le - lower) * share);
        }
        (lower, below) = (le, count);
    }
    None
}

/// A directory's size on disk.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DiskUsage {
    /// Blocks allocated (what `du --block-size=1` reports): the real usage.
    pub(crate) allocated: u64,
    /// Sum of file lengths (`du --apparent-size`).
    pub(crate) apparent: u64,
    /// Of those, the journal's generation files (`journal/*.log`, append-only).
    pub(crate) wal_allocated: u64,
    pub(crate) wal_apparent: u64,
    /// Snapshot files and their allocated bytes.
    pub(crate) snapshot_files: u64,
    pub(crate) snapshot_allocated: u64,
}

/// Walks `dir` (without following links) adding up what its files take.
pub(crate) fn disk_usage(dir: &Path) -> DiskUsage {
    use std::os::unix::fs::MetadataExt;
    let mut usage = DiskUsage::default();
    let mut todo = vec![dir.to_owned()];
    while let Some(path) = todo.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let allocated = meta.blocks() * 512;
        usage.allocated += allocated;
        usage.apparent += meta.len();
        if meta.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&path) {
                todo.extend(entries.filter_map(|e| e.ok()).map(|e| e.path()));
            }
        } else if path.extension().is_some_and(|x| x == "log") {
            usage.wal_allocated += allocated;
            usage.wal_apparent += meta.len();
        } else if path.extension().is_some_and(|x| x == "snap") {
            usage.snapshot_files += 1;
            usage.snapshot_allocated += allocated;
        }
    }
    usage
}
