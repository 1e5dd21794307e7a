//! The server under test as a child process: started on free loopback ports with its
//! log in a file, killed with SIGKILL, and never left behind.
//!
//! The idea is the load bench's (`examples/loadgen/procs.rs`): a watchdog process that
//! kills the server should the harness die without cleaning up. That module is not
//! reused as is: its servers log at warn level with no data directory or durability
//! flags, its watchdog is the harness binary itself (which a test binary cannot be),
//! and it counts a server as up once the port accepts connections, which is before a
//! recovering server answers.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use switchboard::api::pb;
use switchboard::api::pb::admin_client::AdminClient;

/// How to start the server.
#[derive(Debug, Clone)]
pub(crate) struct Launch {
    /// The binary.
    pub(crate) binary: PathBuf,
    /// Its config file.
    pub(crate) config: PathBuf,
    /// Its data directory, the same for every restart.
    pub(crate) data_dir: PathBuf,
    /// `--durability`.
    pub(crate) durability: String,
}

/// A running server.
#[derive(Debug)]
pub(crate) struct ServerProcess {
    child: Option<Child>,
    /// Kills the server once its stdin closes (when this process is gone).
    watchdog: Option<Child>,
    /// gRPC address.
    pub(crate) addr: SocketAddr,
    /// stdout and stderr of the process.
    pub(crate) log: PathBuf,
    spawned: Instant,
}

/// A 127.0.0.1 address with a port the kernel just handed out.
fn free_addr() -> Result<SocketAddr, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))
}

impl ServerProcess {
    /// Starts the server with its output in `log`.
    pub(crate) fn spawn(launch: &Launch, log: &Path) -> Result<ServerProcess, String> {
        let addr = free_addr()?;
        let metrics = free_addr()?;
        let out = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(&launch.binary)
            .arg("--config")
            .arg(&launch.config)
            .arg("--data-dir")
            .arg(&launch.data_dir)
            .args(["--durability", &launch.durability])
            .args(["--grpc-addr", &addr.to_string()])
            .args(["--metrics-addr", &metrics.to_string()])
            .args(["--log-format", "json"])
            // CRASH_SERVER_LOG (say `info,switchboard=debug`) to see more of the server.
            .env(
                "SWITCHBOARD_LOG",
                std::env::var("CRASH_SERVER_LOG").unwrap_or_else(|_| "info".to_owned()),
            )
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", launch.binary.display()))?;
        let pid = child.id();
        // Waits for its stdin to close, then kills the server if that pid still runs
        // with this listen address (so a reused pid is never hit).
        let script = format!(
            "cat >/dev/null; tr '\\0' ' ' </proc/{pid}/cmdline 2>/dev/null \
             | grep -qF -- ' {addr} ' && kill -9 {pid}"
        );
        let watchdog = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok();
        Ok(ServerProcess {
            child: Some(child),
            watchdog,
            addr,
            log: log.to_owned(),
            spawned: Instant::now(),
        })
    }

    /// Waits until the server answers a gRPC call (`Admin/ListWaiting`); returns the
    /// time from starting the process.
    pub(crate) async fn wait_answering(&mut self, within: Duration) -> Result<Duration, String> {
        let deadline = self.spawned + within;
        loop {
            if let Some(status) = self.exited() {
                return Err(format!(
                    "the server exited ({status}) before answering; log {}:\n{}",
                    self.log.display(),
                    tail(&self.log, 30)
                ));
            }
            if self.answers().await {
                return Ok(self.spawned.elapsed());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the server did not answer within {within:?}; log {}:\n{}",
                    self.log.display(),
                    tail(&self.log, 30)
                ));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn answers(&self) -> bool {
        let Ok(endpoint) = tonic::transport::Endpoint::from_shared(format!("http://{}", self.addr))
        else {
            return false;
        };
        let endpoint = endpoint.connect_timeout(Duration::from_millis(200));
        let Ok(Ok(channel)) =
            tokio::time::timeout(Duration::from_millis(300), endpoint.connect()).await
        else {
            return false;
        };
        let mut admin = AdminClient::new(channel);
        let call = admin.list_waiting(pb::ListWaitingRequest { limit: 1 });
        matches!(
            tokio::time::timeout(Duration::from_secs(2), call).await,
            Ok(Ok(_))
        )
    }

    /// The exit status if the process has ended.
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// SIGKILL, and waits for the process to be gone.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(mut watchdog) = self.watchdog.take() {
            // Closing its stdin lets it look: the server is gone, so it just exits.
            drop(watchdog.stdin.take());
            let _ = watchdog.wait();
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The last `n` lines of a log.
pub(crate) fn tail(log: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn json_lines(log: &Path) -> Vec<serde_json::Value> {
    let Ok(file) = std::fs::File::open(log) else {
        return Vec::new();
    };
    BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str(&l).ok())
        .collect()
}

/// A field of a JSON log line, at the top level or under `fields`.
fn field<'a>(line: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    line.get(name)
        .or_else(|| line.get("fields").and_then(|f| f.get(name)))
}

/// What the recovery log line says: journal records replayed and milliseconds taken.
pub(crate) fn recovery_figures(log: &Path) -> Option<(u64, u64)> {
    json_lines(log).into_iter().find_map(|v| {
        if field(&v, "message")?.as_str()? != "recovered from the data directory" {
            return None;
        }
        Some((
            field(&v, "records")?.as_u64()?,
            field(&v, "took_ms")?.as_u64()?,
        ))
    })
}

/// Every warning and error a server log holds, as `LEVEL target: message`.
pub(crate) fn warnings(log: &Path) -> Vec<String> {
    json_lines(log)
        .into_iter()
        .filter_map(|v| {
            let level = v.get("level")?.as_str()?.to_owned();
            if level != "WARN" && level != "ERROR" {
                return None;
            }
            let target = v.get("target").and_then(|t| t.as_str()).unwrap_or("");
            let message = field(&v, "message").and_then(|m| m.as_str()).unwrap_or("");
            Some(format!("{level} {target}: {message}"))
        })
        .collect()
}
