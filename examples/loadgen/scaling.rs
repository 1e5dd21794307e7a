//! Phase 11: how the server scales from one core to two. New conversations (the shape
//! of phase 3) and the relay (phase 4), each on a fresh server started under
//! `taskset -c`: pinned to core 0, to cores 0 and 1, and (the split) to core 1 while
//! the load generator itself is pinned to core 0. In the first two the load generator
//! is not pinned: it shares the server's cores, as it does in every other phase. The
//! settings alternate over two rounds so drift on a shared machine hits them alike.

use std::path::Path;

use super::procs::{self, Bots};
use super::stats::rate;
use super::{Opts, Result, gateway, new_conversations, spawn_scraper};

const ROUNDS: usize = 2;

/// Where the server and the load generator may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Setting {
    name: &'static str,
    server: &'static str,
    /// `None`: the load generator keeps the CPUs it started with.
    loadgen: Option<&'static str>,
}

const ONE: Setting = Setting {
    name: "one core",
    server: "0",
    loadgen: None,
};
const TWO: Setting = Setting {
    name: "two cores",
    server: "0,1",
    loadgen: None,
};
const SPLIT: Setting = Setting {
    name: "split: server core 1, loadgen core 0",
    server: "1",
    loadgen: Some("0"),
};

/// One setting's run of both workloads.
#[derive(Debug, Clone)]
struct Run {
    setting: Setting,
    server_cpus: String,
    loadgen_cpus: String,
    new_rate: f64,
    new_server_cpu: f64,
    new_loadgen_cpu: f64,
    relay_rate: f64,
    relay_server_cpu: f64,
    relay_loadgen_cpu: f64,
    /// The servers' warnings, if they logged any.
    logs: Vec<String>,
}

/// Unpins the servers and gives the load generator back its CPUs, however the phase
/// ends.
struct Restore(String);

impl Drop for Restore {
    fn drop(&mut self) {
        procs::pin_servers(None);
        let _ = procs::pin_self(&self.0);
    }
}

pub(crate) async fn run(bin: &Path, self_exe: &Path, dir: &Path, opts: &Opts) -> Result<()> {
    let own = procs::cpus_allowed(std::process::id());
    let _restore = Restore(own.clone());
    let nproc = std::thread::available_parallelism().map_or(1, |n| n.get());
    let settings: &[Setting] = if nproc >= 2 {
        &[ONE, TWO, SPLIT]
    } else {
        &[ONE]
    };
    println!();
    println!("## Scaling from one core to two: the server under `taskset -c`");
    println!();
    println!(
        "New conversations (as phase 3) and the relay (as phase 4), each on a fresh server, alternated over {ROUNDS} rounds. \"one core\" and \"two cores\" pin only the server (core 0; cores 0 and 1): the load generator is not pinned and shares the server's cores (CPUs {own}). The split pins the server to core 1 and the load generator to core 0, so neither takes the other's core. CPU is % of one core."
    );
    println!();
    println!(
        "| round | setting | server CPUs (as the kernel reports them) | loadgen CPUs | new conv/s | server CPU | loadgen CPU | relay msgs/s | server CPU | loadgen CPU |"
    );
    println!("| ---: | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut runs = Vec::new();
    for round in 1..=ROUNDS {
        for &setting in settings {
            let r = one(bin, self_exe, dir, opts, setting, &own, round).await?;
            println!(
                "| {round} | {} | {} | {} | {} | {:.0} % | {:.0} % | {} | {:.0} % | {:.0} % |",
                r.setting.name,
                r.server_cpus,
                r.loadgen_cpus,
                rate(r.new_rate),
                r.new_server_cpu,
                r.new_loadgen_cpu,
                rate(r.relay_rate),
                r.relay_server_cpu,
                r.relay_loadgen_cpu
            );
            runs.push(r);
        }
    }
    for note in runs.iter().flat_map(|r| &r.logs) {
        println!("\nNote: a server logged {note}.");
    }
    let mean = |s: Setting, f: fn(&Run) -> f64| {
        let v: Vec<f64> = runs.iter().filter(|r| r.setting == s).map(f).collect();
        v.iter().sum::<f64>() / v.len().max(1) as f64
    };
    println!();
    println!("Means over the rounds:");
    println!();
    println!(
        "| cores | new conv/s | server CPU | relay msgs/s | server CPU | new conv/s ÷ one core | relay ÷ one core |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    let (one_new, one_relay) = (mean(ONE, |r| r.new_rate), mean(ONE, |r| r.relay_rate));
    for &s in settings {
        let (new, relay) = (mean(s, |r| r.new_rate), mean(s, |r| r.relay_rate));
        println!(
            "| {} | {} | {:.0} % | {} | {:.0} % | {:.2} | {:.2} |",
            s.name,
            rate(new),
            mean(s, |r| r.new_server_cpu),
            rate(relay),
            mean(s, |r| r.relay_server_cpu),
            new / one_new.max(f64::MIN_POSITIVE),
            relay / one_relay.max(f64::MIN_POSITIVE)
        );
    }
    if settings.contains(&TWO) {
        println!();
        println!(
            "Two cores / one core: new conversations ×{:.2}, relay ×{:.2} (the load generator shares the server's cores in both).",
            mean(TWO, |r| r.new_rate) / one_new.max(f64::MIN_POSITIVE),
            mean(TWO, |r| r.relay_rate) / one_relay.max(f64::MIN_POSITIVE)
        );
    } else {
        println!();
        println!("Only one CPU here: the two-core settings are skipped.");
    }
    Ok(())
}

async fn one(
    bin: &Path,
    self_exe: &Path,
    dir: &Path,
    opts: &Opts,
    setting: Setting,
    own: &str,
    round: usize,
) -> Result<Run> {
    procs::pin_servers(Some(setting.server));
    procs::pin_self(setting.loadgen.unwrap_or(own))?;
    let loadgen_cpus = procs::cpus_allowed(std::process::id());
    let tag = format!("scaling-new-{}-{round}", setting.server.replace(',', ""));
    let server = procs::spawn_switchboard(bin, self_exe, dir, &tag, Bots::Off)?;
    let server_cpus = procs::cpus_allowed(server.pid);
    let scraper = spawn_scraper(&server, opts);
    let result = new_conversations(
        &server,
        "loadgen-new",
        i64::MAX,
        Some(opts.tenant_conversations / opts.streams as u64),
        opts,
    )
    .await;
    scraper.abort();
    let mut logs: Vec<String> = log_note(&server).into_iter().collect();
    server.stop();
    let (new, _) = result?;

    let tag = format!("scaling-relay-{}-{round}", setting.server.replace(',', ""));
    let server = procs::spawn_switchboard(bin, self_exe, dir, &tag, Bots::Off)?;
    let scraper = spawn_scraper(&server, opts);
    let result = gateway::relay(&server, opts).await;
    scraper.abort();
    logs.extend(log_note(&server));
    server.stop();
    let relay = result?.window;
    Ok(Run {
        setting,
        server_cpus,
        loadgen_cpus,
        new_rate: new.per_sec(),
        new_server_cpu: new.server_cpu,
        new_loadgen_cpu: new.client_cpu,
        relay_rate: relay.per_sec(),
        relay_server_cpu: relay.server_cpu,
        relay_loadgen_cpu: relay.client_cpu,
        logs,
    })
}

/// `<n> warn/error lines in <log>` when the server logged any.
fn log_note(server: &procs::Server) -> Option<String> {
    let n = server.log_lines();
    (n > 0).then(|| format!("{n} warn/error lines in {}", server.log.display()))
}
