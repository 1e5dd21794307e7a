//! Phase 10: what a restart costs and keeps. Many adapter streams open
//! `--restart-conversations` conversations on SMS (not bot-first; the servers run with
//! no bot-first channel anyway) that stay open: no agent signs in, and each gets
//! `--restart-messages` customer messages. Then the server is (a) killed with SIGKILL
//! and started again on the same data directory (recovery replays the journal), and
//! (b) stopped with SIGTERM (which writes snapshots) and started again (recovery loads
//! the snapshots). Each start is timed from spawning the process to `/readyz`
//! answering 200 (the server binds its ports first, recovers, then serves), beside the
//! server's own `switchboard_replay_duration_seconds` and
//! `switchboard_replayed_records_total`; after each, `Admin/ListWaiting` and
//! `Admin/GetConversation` on a sample check that the conversations are all there,
//! in the same serving order, with their transcripts.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard::api::pb::{self, admin_client::AdminClient, delivery::Body, gateway_frame};
use tonic::Request;
use tonic::transport::Channel;

use super::gateway::{AdapterStream, CUSTOMER_TEXT};
use super::procs::{self, Bots, DiskUsage, Durability, Server};
use super::stats::{self, Counter, Rng, rate};
use super::{Opts, Result, connect};

const TENANT: &str = "loadgen-restart";
/// Replay target from the issue.
const TARGET_SECS: f64 = 5.0;

/// The text of message `k` of conversation `g`: unique, so a transcript can be checked.
fn text(g: u64, k: u32, of: u32) -> String {
    format!("({}/{of}) #{g} {CUSTOMER_TEXT}", k + 1)
}

fn key(g: u64) -> String {
    format!("rs-{g}")
}

fn customer(g: u64) -> String {
    format!("rsc-{g}")
}

/// What the builders saw.
#[derive(Debug, Default)]
struct Built {
    created: u64,
    accepted: u64,
    rejected: u64,
    first_rejection: Option<String>,
    first_responses: u64,
    /// Sampled conversations: global index → conversation id.
    sample: Vec<(u64, String)>,
}

/// One builder: conversations `g ≡ worker (mod streams)`, each message in order, at
/// most `window` messages awaiting their `accepted`.
#[allow(clippy::too_many_arguments)]
async fn build_worker(
    channel: Channel,
    worker: u64,
    streams: u64,
    total: u64,
    messages: u32,
    window: usize,
    sample_every: u64,
    progress: Arc<Counter>,
) -> Result<Built> {
    let adapter_id = format!("restart-adapter-{worker}");
    let mut stream = AdapterStream::open(channel, TENANT, &adapter_id).await?;
    let mut rng = Rng::new(worker + 101);
    let mut built = Built::default();
    let mut clv: HashMap<u64, f64> = HashMap::new();
    let (mut g, mut k) = (worker, 0u32);
    let mut in_flight = 0usize;
    let mut sent = 0u64;
    let mine = total.saturating_sub(worker).div_ceil(streams) * u64::from(messages);
    let deadline_after = Duration::from_secs(10);
    let mut done_at: Option<Instant> = None;
    loop {
        while in_flight < window && g < total {
            let value = *clv.entry(g).or_insert_with(|| stats::clv(&mut rng));
            stream.send(pb::adapter_frame::Frame::Message(pb::InboundMessage {
                channel: pb::Channel::Sms as i32,
                channel_conversation_id: key(g),
                customer: Some(pb::Customer {
                    customer_id: customer(g),
                    display_name: String::new(),
                    value: Some(pb::CustomerValue {
                        clv: Some(value),
                        ..Default::default()
                    }),
                    identifiers: Vec::new(),
                }),
                text: text(g, k, messages),
                language: "en".into(),
                client_message_id: format!("{g}-{k}"),
                ..Default::default()
            }))?;
            in_flight += 1;
            sent += 1;
            k += 1;
            if k == messages {
                clv.remove(&g);
                k = 0;
                g += streams;
            }
        }
        let answered = built.accepted + built.rejected;
        if answered >= mine {
            // Everything is accepted; wait (a little) for the last first responses,
            // then acknowledge every delivery.
            let at = *done_at.get_or_insert_with(Instant::now);
            if built.first_responses >= built.created || at.elapsed() > deadline_after {
                stream.ack_all()?;
                return Ok(built);
            }
        }
        let frame =
            match tokio::time::timeout(Duration::from_millis(100), stream.rx.message()).await {
                Ok(frame) => frame?,
                Err(_) => continue,
            };
        let Some(frame) = frame else {
            return Err(format!("{adapter_id}: gateway stream ended after {sent} sent").into());
        };
        match frame.frame {
            Some(gateway_frame::Frame::Accepted(a)) => {
                in_flight -= 1;
                built.accepted += 1;
                progress.add(1);
                if a.created {
                    built.created += 1;
                    if let Some(g) = a
                        .client_message_id
                        .split_once('-')
                        .and_then(|(g, _)| g.parse::<u64>().ok())
                        && g % sample_every == 0
                    {
                        built.sample.push((g, a.conversation_id));
                    }
                }
            }
            Some(gateway_frame::Frame::Rejected(r)) => {
                in_flight -= 1;
                built.rejected += 1;
                progress.add(1);
                built.first_rejection.get_or_insert_with(|| {
                    format!("{}: code {}: {}", r.client_message_id, r.code, r.message)
                });
            }
            Some(gateway_frame::Frame::Delivery(d)) => {
                stream.delivered(d.delivery_id)?;
                if let Some(Body::Message(m)) = &d.body
                    && m.sender == pb::Sender::System as i32
                {
                    built.first_responses += 1;
                }
            }
            _ => {}
        }
    }
}

/// A conversation the checks follow.
#[derive(Debug, Clone)]
struct Sampled {
    g: u64,
    id: String,
    /// Its view before the first restart (`waited_ms` zeroed).
    before: Option<pb::ConversationView>,
}

/// What one check of the server's state found.
#[derive(Debug, Default)]
struct Check {
    waiting_total: u32,
    /// The first `limit` ids of ListWaiting, in serving order.
    order: Vec<String>,
    /// Of the first ids, how many are where they were before (when compared).
    order_same: Option<(usize, usize)>,
    sample_ok: usize,
    sample_total: usize,
    /// The first few problems, described.
    problems: Vec<String>,
    problem_count: usize,
}

impl Check {
    fn problem(&mut self, what: String) {
        self.problem_count += 1;
        if self.problems.len() < 5 {
            self.problems.push(what);
        }
    }
}

fn admin_request<T>(message: T) -> Result<Request<T>> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("x-switchboard-tenant", TENANT.parse()?);
    Ok(request)
}

/// Reads ListWaiting and every sampled conversation; compares with `expected` (the
/// order before) and with each sample's view before, when given.
async fn check(
    server: &Server,
    sample: &mut [Sampled],
    messages: u32,
    expected: Option<&[String]>,
    record: bool,
) -> Result<Check> {
    let mut admin = AdminClient::new(connect(server.addr).await?);
    let waiting = admin
        .list_waiting(admin_request(pb::ListWaitingRequest { limit: 10_000 })?)
        .await?
        .into_inner();
    let mut c = Check {
        waiting_total: waiting.total,
        order: waiting
            .conversations
            .iter()
            .map(|v| v.conversation_id.clone())
            .collect(),
        ..Check::default()
    };
    if let Some(expected) = expected {
        let same = c
            .order
            .iter()
            .zip(expected)
            .filter(|(now, before)| now == before)
            .count();
        c.order_same = Some((same, expected.len().max(c.order.len())));
        if let Some(i) = c.order.iter().zip(expected).position(|(a, b)| a != b) {
            c.problem(format!(
                "ListWaiting differs first at place {}: {} now, {} before",
                i + 1,
                c.order[i],
                expected[i]
            ));
        }
    }
    c.sample_total = sample.len();
    for s in sample.iter_mut() {
        let view = match admin
            .get_conversation(admin_request(pb::GetConversationRequest {
                conversation_id: s.id.clone(),
            })?)
            .await
        {
            Ok(v) => v.into_inner(),
            Err(status) => {
                c.problem(format!("{} (#{}): {status}", s.id, s.g));
                continue;
            }
        };
        let customer_texts: Vec<&str> = view
            .transcript
            .iter()
            .filter(|e| e.sender == pb::Sender::Customer as i32)
            .map(|e| e.text.as_str())
            .collect();
        let want: Vec<String> = (0..messages).map(|k| text(s.g, k, messages)).collect();
        let mut ok = true;
        if view.state != pb::ConversationState::Queued as i32
            || view.channel != pb::Channel::Sms as i32
            || view.channel_conversation_id != key(s.g)
            || view.customer_id != customer(s.g)
        {
            ok = false;
            c.problem(format!(
                "{} (#{}): state {} channel {} key {:?} customer {:?}",
                s.id, s.g, view.state, view.channel, view.channel_conversation_id, view.customer_id
            ));
        }
        if customer_texts != want {
            ok = false;
            c.problem(format!(
                "{} (#{}): transcript has {} customer messages {:?}, expected {}",
                s.id,
                s.g,
                customer_texts.len(),
                customer_texts
                    .iter()
                    .map(|t| &t[..t.len().min(12)])
                    .collect::<Vec<_>>(),
                messages
            ));
        }
        let mut comparable = view.clone();
        comparable.waited_ms = 0;
        if record {
            s.before = Some(comparable);
        } else if let Some(before) = &s.before
            && *before != comparable
        {
            ok = false;
            c.problem(format!(
                "{} (#{}): view changed: before {before:?}, now {comparable:?}",
                s.id, s.g
            ));
        }
        c.sample_ok += usize::from(ok);
    }
    Ok(c)
}

/// One row of the report.
#[derive(Debug)]
struct Step {
    label: String,
    disk: DiskUsage,
    /// Spawn → /readyz 200, and the server's replay gauge and counter.
    ready: Option<(f64, f64, f64)>,
    open: f64,
    rss_mib: f64,
    check: Check,
    log_lines: usize,
    log: std::path::PathBuf,
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

async fn scrape(server: &Server) -> Result<String> {
    let metrics = server.metrics_addr.ok_or("no metrics address")?;
    tokio::task::spawn_blocking(move || procs::scrape(metrics)).await?
}

/// Starts a server on `data_dir` and waits for `/readyz`; spawn → ready seconds,
/// replay gauge, replayed records.
async fn restart(
    bin: &Path,
    self_exe: &Path,
    dir: &Path,
    tag: &str,
    mode: Durability,
    data_dir: &Path,
) -> Result<(Server, (f64, f64, f64))> {
    let server = procs::spawn_switchboard_on(bin, self_exe, dir, tag, Bots::Off, mode, data_dir)?;
    let ready = tokio::task::block_in_place(|| server.wait_ready(Duration::from_secs(600)))?;
    let took = ready.duration_since(server.spawned_at).as_secs_f64();
    let text = scrape(&server).await?;
    let replay = procs::metric_sum(&text, "switchboard_replay_duration_seconds", "");
    let records = procs::metric_sum(&text, "switchboard_replayed_records_total", "");
    Ok((server, (took, replay, records)))
}

/// Phase 10.
pub(crate) async fn run(bin: &Path, self_exe: &Path, dir: &Path, opts: &Opts) -> Result<()> {
    let mode = procs::durability();
    let n = opts.restart_conversations;
    let messages = opts.restart_messages.max(1);
    println!();
    println!(
        "## Restart: {} open conversations with {messages} customer messages each, then SIGKILL and restart, SIGTERM and restart",
        rate(n as f64)
    );
    println!();
    if mode == Durability::Off {
        println!("Skipped: `--durability off` keeps nothing over a restart.");
        return Ok(());
    }
    println!(
        "Durability {}; SMS conversations, CLV mix of phase 5, no agents; built by {} adapter streams with {} messages each awaiting `accepted` (sent only once durable). Ready = spawn to `/readyz` 200 (ports are bound before recovery, HTTP served after). Checks: `Admin/ListWaiting` total and the first 10,000 in serving order against the order before the kill; `Admin/GetConversation` on {} conversations sampled evenly across the build: state queued, channel, key, customer, the {messages} customer messages in order, and the whole view (but `waited_ms`) unchanged.",
        mode.as_str(),
        opts.restart_streams,
        opts.restart_window,
        opts.restart_sample
    );
    let data_dir = dir.join("data-restart");
    if data_dir.exists() {
        std::fs::remove_dir_all(&data_dir)?;
    }
    let server = procs::spawn_switchboard_on(
        bin,
        self_exe,
        dir,
        "restart-build",
        Bots::Off,
        mode,
        &data_dir,
    )?;

    // Build.
    let streams = opts.restart_streams.max(1) as u64;
    let sample_every = (n / opts.restart_sample.max(1)).max(1);
    let progress = Arc::new(Counter::default());
    let started = Instant::now();
    let (sample0, own0, machine0) = (
        server.sample()?,
        procs::own_sample()?,
        procs::machine_ticks(),
    );
    let mut workers = Vec::new();
    for w in 0..streams {
        workers.push(tokio::spawn(build_worker(
            connect(server.addr).await?,
            w,
            streams,
            n,
            messages,
            opts.restart_window.max(1),
            sample_every,
            progress.clone(),
        )));
    }
    let total_messages = n * u64::from(messages);
    let mut next_report = Instant::now() + Duration::from_secs(10);
    while !workers.iter().all(|w| w.is_finished()) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if Instant::now() >= next_report {
            eprintln!(
                "phase 10: {} of {} messages answered after {:.0} s",
                rate(progress.get() as f64),
                rate(total_messages as f64),
                started.elapsed().as_secs_f64()
            );
            next_report += Duration::from_secs(10);
        }
    }
    let build_secs = started.elapsed().as_secs_f64();
    let (sample1, own1, machine1) = (
        server.sample()?,
        procs::own_sample()?,
        procs::machine_ticks(),
    );
    let other_cpu = (procs::machine_cpu_percent(machine0, machine1, build_secs)
        - sample0.cpu_percent(&sample1)
        - own0.cpu_percent(&own1))
    .max(0.0);
    let mut built = Built::default();
    for w in workers {
        let b = w.await??;
        built.created += b.created;
        built.accepted += b.accepted;
        built.rejected += b.rejected;
        built.first_responses += b.first_responses;
        if built.first_rejection.is_none() {
            built.first_rejection = b.first_rejection;
        }
        built.sample.extend(b.sample);
    }
    built.sample.sort();
    // The final acknowledgements travel after the last frames; let them land.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let text = scrape(&server).await?;
    let records_written = procs::metric_sum(&text, "switchboard_journal_records_total", "");
    let batches = procs::metric_sum(&text, "switchboard_journal_fsync_seconds_count", "");
    let fsync_p50 = procs::histogram_quantile(&text, "switchboard_journal_fsync_seconds", 0.5);
    let mut sample: Vec<Sampled> = built
        .sample
        .iter()
        .map(|(g, id)| Sampled {
            g: *g,
            id: id.clone(),
            before: None,
        })
        .collect();
    let before = check(&server, &mut sample, messages, None, true).await?;
    let order = before.order.clone();
    println!();
    println!(
        "Built in {build_secs:.1} s: {} conversations created ({} conv/s), {} messages accepted ({} msgs/s), {} rejected{}, {} first responses; server CPU {:.0} %, other CPU {:.0} %; {} journal records written in {} batches ({:.1} records per batch, fsync p50 {} ms).",
        rate(built.created as f64),
        rate(built.created as f64 / build_secs),
        rate(built.accepted as f64),
        rate(built.accepted as f64 / build_secs),
        rate(built.rejected as f64),
        built
            .first_rejection
            .as_deref()
            .map(|r| format!(" (first: {r})"))
            .unwrap_or_default(),
        rate(built.first_responses as f64),
        sample0.cpu_percent(&sample1),
        other_cpu,
        rate(records_written),
        rate(batches),
        records_written / batches.max(1.0),
        fsync_p50.map_or("n/a".to_owned(), |s| stats::ms(s * 1000.0)),
    );
    let mut steps = vec![Step {
        label: "built, before the kill".to_owned(),
        disk: procs::disk_usage(&data_dir),
        ready: None,
        open: procs::metric_sum(&text, "switchboard_open_conversations", ""),
        rss_mib: server.sample()?.rss_kib as f64 / 1024.0,
        check: before,
        log_lines: server.log_lines(),
        log: server.log.clone(),
    }];

    // (a) SIGKILL, restart: the journal is replayed.
    let last = scrape(&server).await?;
    let records_at_kill = procs::metric_sum(&last, "switchboard_journal_records_total", "");
    server.stop();
    let killed_disk = procs::disk_usage(&data_dir);
    let (server, ready) =
        restart(bin, self_exe, dir, "restart-after-kill", mode, &data_dir).await?;
    let after_kill = check(&server, &mut sample, messages, Some(&order), false).await?;
    let text = scrape(&server).await?;
    steps.push(Step {
        label: "(a) after SIGKILL, restarted".to_owned(),
        disk: killed_disk,
        ready: Some(ready),
        open: procs::metric_sum(&text, "switchboard_open_conversations", ""),
        rss_mib: server.sample()?.rss_kib as f64 / 1024.0,
        check: after_kill,
        log_lines: server.log_lines(),
        log: server.log.clone(),
    });

    // (b) SIGTERM (drain, snapshots), restart: snapshots are loaded.
    let (term_took, exit) =
        tokio::task::block_in_place(|| server.terminate(Duration::from_secs(120)))?;
    let termed_disk = procs::disk_usage(&data_dir);
    let term_log_lines = server.log_lines();
    let (server, ready) =
        restart(bin, self_exe, dir, "restart-after-term", mode, &data_dir).await?;
    let after_term = check(&server, &mut sample, messages, Some(&order), false).await?;
    let text = scrape(&server).await?;
    steps.push(Step {
        label: "(b) after SIGTERM, restarted".to_owned(),
        disk: termed_disk,
        ready: Some(ready),
        open: procs::metric_sum(&text, "switchboard_open_conversations", ""),
        rss_mib: server.sample()?.rss_kib as f64 / 1024.0,
        check: after_term,
        log_lines: server.log_lines(),
        log: server.log.clone(),
    });
    server.stop();

    let hex: String = TENANT.bytes().map(|b| format!("{b:02x}")).collect();
    let own = procs::disk_usage(&data_dir.join("snapshots").join(hex));
    println!(
        "Journal records written by the first server by the time of the kill: {}. SIGTERM → exit took {:.2} s ({exit}); that server logged {term_log_lines} warn/error lines. Snapshots after it: {} of {} allocated are `{TENANT}`'s ({:.0} B per open conversation), the rest one file per other declared tenant.",
        rate(records_at_kill),
        term_took.as_secs_f64(),
        mib(own.allocated),
        mib(termed_disk.snapshot_allocated),
        own.allocated as f64 / built.created.max(1) as f64,
    );
    println!();
    println!(
        "| step | data dir allocated (apparent; journal allocated of apparent; snapshots) | spawn → /readyz 200 | `replay_duration_seconds` | `replayed_records_total` | open conversations (gauge) | ListWaiting total | first 10,000 in the same order | sample intact | server RSS |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for s in &steps {
        let d = &s.disk;
        let (ready, replay, records) = match s.ready {
            Some((t, r, n)) => (format!("{t:.2} s"), format!("{r:.2} s"), rate(n)),
            None => ("".to_owned(), "".to_owned(), "".to_owned()),
        };
        println!(
            "| {} | {} (apparent {}; journal {} of {}; {} snapshot files, {}) | {ready} | {replay} | {records} | {} | {} | {} | {} / {} | {:.1} MiB |",
            s.label,
            mib(d.allocated),
            mib(d.apparent),
            mib(d.wal_allocated),
            mib(d.wal_apparent),
            d.snapshot_files,
            mib(d.snapshot_allocated),
            rate(s.open),
            rate(f64::from(s.check.waiting_total)),
            s.check
                .order_same
                .map_or("(reference)".to_owned(), |(same, of)| format!(
                    "{} / {}",
                    rate(same as f64),
                    rate(of as f64)
                )),
            s.check.sample_ok,
            s.check.sample_total,
            s.rss_mib,
        );
    }
    println!();
    for s in &steps {
        if s.check.problem_count > 0 {
            println!(
                "- {}: {} problems; first: {}",
                s.label,
                s.check.problem_count,
                s.check.problems.join(" | ")
            );
        }
        if s.log_lines > 0 {
            println!(
                "- {}: the server logged {} warn/error lines ({})",
                s.label,
                s.log_lines,
                s.log.display()
            );
        }
    }
    for s in &steps[1..] {
        if let Some((ready, replay, _)) = s.ready {
            println!(
                "- {}: replay {replay:.2} s, ready {ready:.2} s after spawn; target replay < {TARGET_SECS:.0} s for 100k open conversations with transcripts: {}",
                s.label,
                if replay < TARGET_SECS && ready < TARGET_SECS {
                    "PASS"
                } else if replay < TARGET_SECS {
                    "PASS for the replay, not for the time to ready"
                } else {
                    "MISS"
                }
            );
        }
    }
    if !opts.keep_data {
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    Ok(())
}
