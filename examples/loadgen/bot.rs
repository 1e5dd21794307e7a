//! Phase 7: bot-first new conversations. The server runs with the built-in bot first on
//! the web channel (embedded starter knowledge base); adapters open conversations for
//! fresh channel conversation ids whose first message is a question the knowledge base
//! answers, in Chinese and English alternately. A conversation counts when the adapter
//! has both bot messages: the greeting (with buttons, the first response) and the
//! answer. Either as fast as the window allows (7a) or at a fixed Poisson rate (7b).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard::api::pb::{self, delivery::Body, gateway_frame};
use tonic::transport::Channel;

use super::gateway::{AdapterStream, key_seq};
use super::procs::Server;
use super::stats::{self, Control, Counter, Latencies, Rng};
use super::{Opts, Result, Window};

/// First messages, by sequence number modulo 4: Chinese and English alternate, each
/// language between two questions the starter knowledge base answers (order status,
/// returns).
pub(crate) const QUESTIONS: [(&str, &str); 4] = [
    ("zh", "我的订单到哪了"),
    ("en", "Where is my order?"),
    ("zh", "怎么退货"),
    ("en", "how do I return an item"),
];

/// The same topics as [`QUESTIONS`], worded as no entry's question is: every turn goes
/// through matching (and, with a model, through the embedding), where a verbatim
/// question is answered by the exact-question index alone (`--bot-paraphrases`).
pub(crate) const PARAPHRASES: [(&str, &str); 4] = [
    ("zh", "我前几天买的东西现在到哪儿了呀"),
    ("en", "hey, any idea where my package is right now?"),
    ("zh", "买的东西不想要了，怎么寄回给你们"),
    ("en", "it doesn't fit, how can I send the item back to you"),
];

/// The first messages in use: [`QUESTIONS`], or [`PARAPHRASES`] after
/// [`use_paraphrases`].
fn first_messages() -> &'static [(&'static str, &'static str); 4] {
    if PARAPHRASED.load(std::sync::atomic::Ordering::Relaxed) {
        &PARAPHRASES
    } else {
        &QUESTIONS
    }
}

static PARAPHRASED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes the bot-first phases from now on send [`PARAPHRASES`] instead of
/// [`QUESTIONS`].
pub(crate) fn use_paraphrases(on: bool) {
    PARAPHRASED.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// The starter knowledge base's entry answering each of [`QUESTIONS`] (and of
/// [`PARAPHRASES`]).
const ANSWER_IDS: [&str; 4] = [
    "order-status-zh",
    "order-status-en",
    "returns-zh",
    "returns-en",
];

/// The answers the bot should give to [`QUESTIONS`], from the starter knowledge base
/// the server embeds; a different answer counts as unexpected.
fn expected_answers() -> Result<Arc<[String]>> {
    let kb: serde_json::Value = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/kb/starter.json"
    )))?;
    let entries = kb["entries"]
        .as_array()
        .ok_or("kb/starter.json: no entries")?;
    ANSWER_IDS
        .iter()
        .map(|id| {
            entries
                .iter()
                .find(|e| e["id"] == *id)
                .and_then(|e| e["answer"].as_str())
                .map(str::to_owned)
                .ok_or_else(|| format!("kb/starter.json: no answer for {id}").into())
        })
        .collect()
}

/// What one run of the bot phase measured.
#[derive(Debug)]
pub(crate) struct BotResult {
    /// Counts: conversations answered (greeting and answer delivered), greetings
    /// delivered, first messages sent.
    pub(crate) window: Window,
    /// First message handed to the stream → greeting delivered (the first response).
    pub(crate) greeting: Latencies,
    /// First message handed to the stream → answer delivered.
    pub(crate) answer: Latencies,
    /// How late arrivals were sent against their schedule (Poisson runs only).
    pub(crate) schedule_lag: Latencies,
    /// Deliveries that are neither greeting nor answer (a queue note after a handoff,
    /// a bot message before its greeting, ...); should be 0.
    pub(crate) unexpected: u64,
    pub(crate) first_unexpected: Option<String>,
    /// First messages the server refused (RESOURCE_EXHAUSTED is back-pressure).
    pub(crate) rejected: u64,
    pub(crate) first_rejection: Option<String>,
}

impl BotResult {
    /// Server CPU per answered conversation, in µs.
    pub(crate) fn cpu_us_per_conversation(&self) -> f64 {
        cpu_us_per(&self.window, self.window.rate_of(0))
    }
}

/// Server CPU in µs per item at `per_sec` items per second over a window.
pub(crate) fn cpu_us_per(w: &Window, per_sec: f64) -> f64 {
    w.server_cpu / 100.0 * 1e6 / per_sec
}

/// Runs the bot phase against `server` (a fresh process started with
/// [`super::procs::Bots::Web`]): closed loop with `opts.window` conversations in flight
/// per stream when `rate` is `None`, else Poisson arrivals at `rate` per second over
/// all streams. Each adapter moves to a fresh tenant every
/// `tenant_conversations / streams` conversations, as in phase 3.
pub(crate) async fn run(server: &Server, opts: &Opts, rate: Option<f64>) -> Result<BotResult> {
    let control = Arc::new(Control::default());
    let counters = Counters {
        answered: Arc::new(Counter::default()),
        greeted: Arc::new(Counter::default()),
        sent: Arc::new(Counter::default()),
    };
    let tenant_prefix = if rate.is_some() {
        "loadgen-bot-paced"
    } else {
        "loadgen-bot"
    };
    let answers = expected_answers()?;
    let mut workers = Vec::new();
    for i in 0..opts.streams {
        let worker = Worker {
            id: i,
            channel: super::connect(server.addr).await?,
            tenant_prefix,
            per_tenant: (opts.tenant_conversations / opts.streams as u64).max(1),
            window: opts.window,
            mean_gap_secs: rate.map(|r| opts.streams as f64 / r),
            control: control.clone(),
            counters: counters.clone(),
            answers: answers.clone(),
            rng: Rng::new(500 + i as u64),
        };
        workers.push(tokio::spawn(worker.run()));
    }
    let counts = || {
        vec![
            counters.answered.get(),
            counters.greeted.get(),
            counters.sent.get(),
        ]
    };
    // The cool-down gives the last measured conversations a second to be answered;
    // any still unanswered then count as infinitely late.
    let window = super::measure(&control, server, opts, counts, Duration::from_secs(1)).await?;
    let mut result = BotResult {
        window,
        greeting: Latencies::default(),
        answer: Latencies::default(),
        schedule_lag: Latencies::default(),
        unexpected: 0,
        first_unexpected: None,
        rejected: 0,
        first_rejection: None,
    };
    for task in workers {
        let s = match tokio::time::timeout(Duration::from_secs(10), task).await {
            Ok(joined) => joined??,
            Err(_) => return Err("a bot-phase adapter did not stop within 10 s".into()),
        };
        result.greeting.merge(s.greeting);
        result.answer.merge(s.answer);
        result.schedule_lag.merge(s.schedule_lag);
        result.unexpected += s.unexpected;
        result.rejected += s.rejected;
        if result.first_unexpected.is_none() {
            result.first_unexpected = s.first_unexpected;
        }
        if result.first_rejection.is_none() {
            result.first_rejection = s.first_rejection;
        }
    }
    Ok(result)
}

#[derive(Debug, Clone)]
struct Counters {
    answered: Arc<Counter>,
    greeted: Arc<Counter>,
    sent: Arc<Counter>,
}

/// What one adapter saw.
#[derive(Debug, Default)]
struct WorkerStats {
    greeting: Latencies,
    answer: Latencies,
    schedule_lag: Latencies,
    unexpected: u64,
    first_unexpected: Option<String>,
    rejected: u64,
    first_rejection: Option<String>,
}

/// A conversation waiting for its greeting and answer.
#[derive(Debug, Clone, Copy)]
struct Pending {
    sent: Instant,
    greeted: bool,
    /// Sent while measuring: its latencies count, and it counts as missing if never
    /// answered.
    measured: bool,
}

/// One adapter stream's customers.
struct Worker {
    id: usize,
    channel: Channel,
    tenant_prefix: &'static str,
    per_tenant: u64,
    window: usize,
    /// Mean gap between arrivals on this stream; `None` for the closed loop.
    mean_gap_secs: Option<f64>,
    control: Arc<Control>,
    counters: Counters,
    /// The expected answer to each of [`QUESTIONS`].
    answers: Arc<[String]>,
    rng: Rng,
}

impl Worker {
    async fn run(mut self) -> Result<WorkerStats> {
        let adapter_id = format!("{}-adapter-{}", self.tenant_prefix, self.id);
        let prefix = self.tenant_prefix;
        let tenant = move |epoch: u64| format!("{prefix}-{epoch}");
        let (mut epoch, mut in_tenant) = (0u64, 0u64);
        let mut stream =
            AdapterStream::open(self.channel.clone(), &tenant(epoch), &adapter_id).await?;
        let mut stats = WorkerStats::default();
        let mut pending: HashMap<u64, Pending> = HashMap::with_capacity(self.window * 2);
        let mut seq = 0u64;
        // Set-up (state 0) sends nothing; the load starts with the warm-up.
        while !self.control.started() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut next = Instant::now() + self.gap();
        let sleep = tokio::time::sleep_until(next.into());
        tokio::pin!(sleep);
        loop {
            if self.control.stopped() {
                for p in pending.values().filter(|p| p.measured) {
                    if !p.greeted {
                        stats.greeting.add_missing(1);
                    }
                    stats.answer.add_missing(1);
                }
                return Ok(stats);
            }
            if self.mean_gap_secs.is_none() {
                while pending.len() < self.window && in_tenant < self.per_tenant {
                    self.send(&stream, seq, Instant::now(), &mut pending)?;
                    seq += 1;
                    in_tenant += 1;
                }
            }
            if in_tenant >= self.per_tenant && pending.is_empty() {
                epoch += 1;
                in_tenant = 0;
                stream =
                    AdapterStream::open(self.channel.clone(), &tenant(epoch), &adapter_id).await?;
                continue;
            }
            tokio::select! {
                frame = stream.rx.message() => {
                    let Some(frame) = frame? else {
                        return Err("gateway stream ended".into());
                    };
                    self.handle(&mut stream, frame, &mut pending, &mut stats)?;
                }
                () = &mut sleep => {
                    let now = Instant::now();
                    if self.mean_gap_secs.is_some() {
                        // Arrivals due while the adapter changes tenant wait for it.
                        while next <= now && in_tenant < self.per_tenant {
                            if self.control.measuring() {
                                stats.schedule_lag.record(now - next);
                            }
                            self.send(&stream, seq, now, &mut pending)?;
                            seq += 1;
                            in_tenant += 1;
                            next += self.gap();
                        }
                    } else {
                        // Closed loop: only a tick, to notice the stop.
                        next = now + Duration::from_millis(50);
                    }
                    sleep.as_mut().reset(next.max(now + Duration::from_millis(1)).into());
                }
            }
        }
    }

    fn gap(&mut self) -> Duration {
        match self.mean_gap_secs {
            Some(mean) => Duration::from_secs_f64(self.rng.exp(mean)),
            None => Duration::from_millis(50),
        }
    }

    /// A new customer's first message on the web channel: a question the knowledge
    /// base answers, Chinese and English alternately.
    fn send(
        &mut self,
        stream: &AdapterStream,
        seq: u64,
        now: Instant,
        pending: &mut HashMap<u64, Pending>,
    ) -> Result<()> {
        let questions = first_messages();
        let (language, text) = questions[(seq % questions.len() as u64) as usize];
        let w = self.id;
        pending.insert(
            seq,
            Pending {
                sent: now,
                greeted: false,
                measured: self.control.measuring(),
            },
        );
        stream.send(pb::adapter_frame::Frame::Message(pb::InboundMessage {
            channel: pb::Channel::Web as i32,
            channel_conversation_id: format!("b{w}-{seq}"),
            customer: Some(pb::Customer {
                customer_id: format!("bc{w}-{seq}"),
                display_name: String::new(),
                value: Some(pb::CustomerValue {
                    clv: Some(stats::clv(&mut self.rng)),
                    ..Default::default()
                }),
                identifiers: Vec::new(),
            }),
            text: text.to_owned(),
            language: language.to_owned(),
            client_message_id: format!("m{seq}"),
            ..Default::default()
        }))?;
        self.counters.sent.add(1);
        Ok(())
    }

    fn handle(
        &self,
        stream: &mut AdapterStream,
        frame: pb::GatewayFrame,
        pending: &mut HashMap<u64, Pending>,
        stats: &mut WorkerStats,
    ) -> Result<()> {
        let now = Instant::now();
        match frame.frame {
            Some(gateway_frame::Frame::Delivery(d)) => {
                stream.delivered(d.delivery_id)?;
                let seq = key_seq(&d.channel_conversation_id);
                let unexpected = match (&d.body, seq.and_then(|s| Some((s, pending.get_mut(&s)?))))
                {
                    (Some(Body::Message(m)), Some((seq, p)))
                        if m.sender == pb::Sender::Bot as i32 =>
                    {
                        if !p.greeted {
                            p.greeted = true;
                            self.counters.greeted.add(1);
                            if p.measured {
                                stats.greeting.record(now - p.sent);
                            }
                            // The greeting comes first and carries navigation buttons.
                            m.buttons
                                .is_empty()
                                .then(|| format!("first bot message without buttons: {:?}", m.text))
                        } else {
                            if let Some(p) = pending.remove(&seq) {
                                self.counters.answered.add(1);
                                if p.measured {
                                    stats.answer.record(now - p.sent);
                                }
                            }
                            let questions = first_messages();
                            let i = (seq % questions.len() as u64) as usize;
                            (m.text != self.answers[i])
                                .then(|| format!("answer to {:?}: {:?}", questions[i].1, m.text))
                        }
                    }
                    (Some(Body::Message(m)), _) => Some(format!(
                        "{} message on {}: {:?}",
                        pb::Sender::try_from(m.sender)
                            .map_or("unknown".to_owned(), |s| s.as_str_name().to_owned()),
                        d.channel_conversation_id,
                        m.text
                    )),
                    (other, _) => Some(format!(
                        "delivery on {}: {other:?}",
                        d.channel_conversation_id
                    )),
                };
                if let Some(what) = unexpected {
                    stats.unexpected += 1;
                    stats.first_unexpected.get_or_insert(what);
                }
            }
            Some(gateway_frame::Frame::Rejected(r)) => {
                stats.rejected += 1;
                stats
                    .first_rejection
                    .get_or_insert_with(|| format!("code {}: {}", r.code, r.message));
                // The customer gets nothing: counted as never answered if measured.
                if let Some(p) = r
                    .client_message_id
                    .strip_prefix('m')
                    .and_then(|s| s.parse::<u64>().ok())
                    .and_then(|s| pending.remove(&s))
                    && p.measured
                {
                    stats.greeting.add_missing(1);
                    stats.answer.add_missing(1);
                }
            }
            _ => {}
        }
        Ok(())
    }
}
