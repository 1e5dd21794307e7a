//! Phase 5: Poisson arrivals with a CLV mix and skill requirements, agents with skills
//! and capacity who accept every offer, greet, and close after an exponential handle
//! time; customers answer the greeting once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchboard::api::pb::{self, delivery::Body, desk_frame, gateway_frame};

use super::gateway::{AdapterStream, AgentStream, CUSTOMER_TEXT, adapters, key_seq, sign_in};
use super::procs::Server;
use super::stats::{self, Control, Counter, Latencies, Rng};
use super::{Opts, Result, Window};

const TENANT_ID: &str = "loadgen-realistic";

/// Queue waits per value tier, recorded by agents as offers arrive.
type TierWaits = Arc<Mutex<HashMap<String, Latencies>>>;

/// What the realistic phase measured.
#[derive(Debug)]
pub(crate) struct RealisticResult {
    /// Counts: arrivals, first responses, conversations closed, offers.
    pub(crate) window: Window,
    pub(crate) offered_rate: f64,
    pub(crate) agents: usize,
    pub(crate) capacity: u32,
    pub(crate) capacity_per_sec: f64,
    pub(crate) first_response: Latencies,
    pub(crate) schedule_lag: Latencies,
    pub(crate) queue_wait: Vec<(String, Latencies)>,
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
    /// Customer messages the server refused with RESOURCE_EXHAUSTED (back-pressure).
    pub(crate) shed: u64,
}

impl RealisticResult {
    /// First-response p99 under 10 ms, with the generator on schedule (every arrival
    /// sent within 2 % of the offered rate).
    pub(crate) fn meets_target(&mut self) -> bool {
        self.first_response.summary().p99_ms < 10.0
            && self.window.rate_of(0) >= 0.98 * self.offered_rate
    }
}

/// Agents and capacity each so that agent capacity exceeds `rate` by the headroom:
/// more agents first, then (past `--max-agents`) more capacity per agent.
fn size_agents(opts: &Opts, rate: f64, hold_secs: f64) -> (usize, u32) {
    let slots = (rate * hold_secs * opts.agent_headroom).ceil().max(1.0);
    let agents = ((slots / f64::from(opts.capacity)).ceil() as usize).max(opts.agents);
    if agents <= opts.max_agents {
        return (agents, opts.capacity);
    }
    let capacity = (slots / opts.max_agents as f64).ceil().min(100.0) as u32;
    (opts.max_agents, capacity.max(opts.capacity))
}

/// Runs phase 5 at `rate` new conversations per second against `server` (a fresh
/// process: an overloaded run leaves a backlog that would skew the next one).
pub(crate) async fn run(server: &Server, opts: &Opts, rate: f64) -> Result<RealisticResult> {
    let control = Arc::new(Control::default());
    let base = Instant::now();
    // Mean hold: handle time plus a few ms for offer, accept and close to travel.
    let hold_secs = (opts.handle_min_ms + opts.handle_mean_ms) as f64 / 1000.0 + 0.005;
    let (agents, capacity) = size_agents(opts, rate, hold_secs);
    let capacity_per_sec = agents as f64 * f64::from(capacity) / hold_secs;

    let waits: TierWaits = Arc::new(Mutex::new(HashMap::new()));
    let offers = Arc::new(Counter::default());
    let errors = Arc::new(Counter::default());
    let first_error: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let mut agent_channels = Vec::new();
    for _ in 0..agents.min(32) {
        agent_channels.push(super::connect(server.addr).await?);
    }
    let mut agent_tasks = Vec::new();
    for a in 0..agents {
        let second = if a % 2 == 0 { "billing" } else { "returns" };
        let mut rng = Rng::new(1000 + a as u64);
        let mut skills = vec![("orders", rng.range(3, 5)), (second, rng.range(2, 5))];
        if a % 4 < 2 {
            skills.push(("lang:zh", 4));
        }
        let desk = AgentStream::open(
            agent_channels[a % agent_channels.len()].clone(),
            TENANT_ID,
            sign_in(format!("agent-{a}"), &skills, capacity),
        )
        .await?;
        let agent = Agent {
            id: a,
            control: control.clone(),
            base,
            waits: waits.clone(),
            offers: offers.clone(),
            errors: errors.clone(),
            first_error: first_error.clone(),
            rng,
            handle_min: Duration::from_millis(opts.handle_min_ms),
            handle_mean_secs: opts.handle_mean_ms as f64 / 1000.0,
        };
        agent_tasks.push(tokio::spawn(agent.run(desk)));
    }

    let (arrivals, firsts, closed, shed) = (
        Arc::new(Counter::default()),
        Arc::new(Counter::default()),
        Arc::new(Counter::default()),
        Arc::new(Counter::default()),
    );
    let streams = adapters(server, TENANT_ID, "real", opts.streams).await?;
    let per_stream_gap = opts.streams as f64 / rate;
    let mut customer_tasks = Vec::new();
    for (i, stream) in streams.into_iter().enumerate() {
        let customers = Customers {
            worker: i,
            control: control.clone(),
            base,
            mean_gap_secs: per_stream_gap,
            rng: Rng::new(77 + i as u64),
            arrivals: arrivals.clone(),
            firsts: firsts.clone(),
            closed: closed.clone(),
            shed: shed.clone(),
        };
        customer_tasks.push(tokio::spawn(customers.run(stream)));
    }
    let counts = || vec![arrivals.get(), firsts.get(), closed.get(), offers.get()];
    // The cool-down gives the last measured arrivals a second to be answered; any
    // still unanswered then count as infinitely late.
    let cooldown = Duration::from_secs(1);
    let window = super::measure(&control, server, opts, counts, cooldown).await?;

    let mut first_response = Latencies::default();
    let mut schedule_lag = Latencies::default();
    for task in customer_tasks {
        match tokio::time::timeout(Duration::from_secs(10), task).await {
            Ok(joined) => {
                let (fr, lag) = joined??;
                first_response.merge(fr);
                schedule_lag.merge(lag);
            }
            Err(_) => return Err("a customer stream did not stop within 10 s".into()),
        }
    }
    for task in agent_tasks {
        task.abort();
    }
    let mut by_tier = std::mem::take(&mut *waits.lock().unwrap_or_else(|p| p.into_inner()));
    let mut queue_wait: Vec<(String, Latencies)> = stats::TIERS
        .iter()
        .map(|t| (t.to_string(), by_tier.remove(*t).unwrap_or_default()))
        .collect();
    queue_wait.extend(by_tier);
    let first_error = first_error.lock().unwrap_or_else(|p| p.into_inner()).take();
    Ok(RealisticResult {
        window,
        offered_rate: rate,
        agents,
        capacity,
        capacity_per_sec,
        first_response,
        schedule_lag,
        queue_wait,
        errors: errors.get(),
        first_error,
        shed: shed.get(),
    })
}

/// One simulated agent desk.
struct Agent {
    id: usize,
    control: Arc<Control>,
    base: Instant,
    waits: TierWaits,
    offers: Arc<Counter>,
    errors: Arc<Counter>,
    first_error: Arc<Mutex<Option<String>>>,
    rng: Rng,
    handle_min: Duration,
    handle_mean_secs: f64,
}

impl Agent {
    async fn run(mut self, mut desk: AgentStream) -> Result<()> {
        while let Some(frame) = desk.rx.message().await? {
            match frame.frame {
                Some(desk_frame::Frame::Offer(offer)) => self.take(&mut desk, offer)?,
                Some(desk_frame::Frame::Rejected(r)) => {
                    self.errors.add(1);
                    self.first_error
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_or_insert_with(|| {
                            format!(
                                "agent {}: {} ({}): {}",
                                self.id, r.request_id, r.code, r.message
                            )
                        });
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Accepts, greets, and closes after the handle time.
    fn take(&mut self, desk: &mut AgentStream, offer: pb::Offer) -> Result<()> {
        self.offers.add(1);
        if self.control.measuring()
            && let Some(sent_us) = offer
                .customer
                .as_ref()
                .and_then(|c| c.display_name.strip_prefix('t'))
                .and_then(|t| t.parse::<u64>().ok())
        {
            let now_us = self.base.elapsed().as_micros() as u64;
            let wait = Duration::from_micros(now_us.saturating_sub(sent_us));
            self.waits
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(offer.value_tier.clone())
                .or_default()
                .record(wait);
        }
        let conversation_id = offer.conversation_id;
        desk.act(
            'a',
            pb::agent_frame::Action::Accept(pb::ConversationRef {
                conversation_id: conversation_id.clone(),
            }),
        )?;
        desk.act(
            'g',
            pb::agent_frame::Action::Reply(pb::Reply {
                conversation_id: conversation_id.clone(),
                text: format!(
                    "Hello, this is agent {}. Let me look at your order right away.",
                    self.id
                ),
            }),
        )?;
        let handle = self.handle_min + Duration::from_secs_f64(self.rng.exp(self.handle_mean_secs));
        let tx = desk.tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(handle).await;
            let _ = tx.send(pb::AgentFrame {
                request_id: format!("c{conversation_id}"),
                action: Some(pb::agent_frame::Action::Close(pb::ConversationRef {
                    conversation_id,
                })),
            });
        });
        Ok(())
    }
}

/// One adapter stream's customers: a Poisson arrival process.
struct Customers {
    worker: usize,
    control: Arc<Control>,
    base: Instant,
    mean_gap_secs: f64,
    rng: Rng,
    arrivals: Arc<Counter>,
    firsts: Arc<Counter>,
    closed: Arc<Counter>,
    shed: Arc<Counter>,
}

impl Customers {
    /// Returns first-response latencies and how late arrivals were sent.
    async fn run(mut self, mut stream: AdapterStream) -> Result<(Latencies, Latencies)> {
        let (mut first_response, mut lag) = (Latencies::default(), Latencies::default());
        // Sent time and whether it was sent while measuring, by arrival number.
        let mut pending: HashMap<u64, (Instant, bool)> = HashMap::new();
        let mut seq = 0u64;
        let mut next = Instant::now() + self.gap();
        let sleep = tokio::time::sleep_until(next.into());
        tokio::pin!(sleep);
        loop {
            if self.control.stopped() {
                let unanswered = pending.values().filter(|(_, measured)| *measured).count();
                first_response.add_missing(unanswered);
                return Ok((first_response, lag));
            }
            tokio::select! {
                frame = stream.rx.message() => {
                    let Some(frame) = frame? else {
                        return Err("gateway stream ended".into());
                    };
                    self.handle(&mut stream, frame, &mut pending, &mut first_response)?;
                }
                () = &mut sleep => {
                    let now = Instant::now();
                    while next <= now {
                        let measuring = self.control.measuring();
                        if measuring {
                            lag.record(now - next);
                        }
                        stream.send(self.arrival(seq, now))?;
                        pending.insert(seq, (now, measuring));
                        self.arrivals.add(1);
                        seq += 1;
                        next += self.gap();
                    }
                    sleep.as_mut().reset(next.into());
                }
            }
        }
    }

    fn gap(&mut self) -> Duration {
        Duration::from_secs_f64(self.rng.exp(self.mean_gap_secs))
    }

    /// A new customer's first message: CLV from the mix, one skill, 10 % in Chinese.
    fn arrival(&mut self, seq: u64, now: Instant) -> pb::adapter_frame::Frame {
        let u = self.rng.unit();
        let skill = if u < 0.60 {
            "orders"
        } else if u < 0.85 {
            "billing"
        } else {
            "returns"
        };
        let chinese = self.rng.unit() < 0.10;
        let mut required_skills = vec![pb::SkillRequirement {
            skill: skill.into(),
            min_proficiency: 2,
        }];
        if chinese {
            required_skills.push(pb::SkillRequirement {
                skill: "lang:zh".into(),
                min_proficiency: 1,
            });
        }
        let w = self.worker;
        pb::adapter_frame::Frame::Message(pb::InboundMessage {
            channel: pb::Channel::Web as i32,
            channel_conversation_id: format!("p{w}-{seq}"),
            customer: Some(pb::Customer {
                customer_id: format!("k{w}-{seq}"),
                // When it was sent, for the agent to measure the queue wait.
                display_name: format!("t{}", now.duration_since(self.base).as_micros()),
                value: Some(pb::CustomerValue {
                    clv: Some(stats::clv(&mut self.rng)),
                    ..Default::default()
                }),
            }),
            text: CUSTOMER_TEXT.into(),
            language: if chinese { "zh" } else { "en" }.into(),
            client_message_id: "1".into(),
            required_skills,
            ..Default::default()
        })
    }

    fn handle(
        &mut self,
        stream: &mut AdapterStream,
        frame: pb::GatewayFrame,
        pending: &mut HashMap<u64, (Instant, bool)>,
        first_response: &mut Latencies,
    ) -> Result<()> {
        match frame.frame {
            Some(gateway_frame::Frame::Delivery(d)) => {
                stream.delivered(d.delivery_id)?;
                match &d.body {
                    Some(Body::Message(m)) if m.sender == pb::Sender::System as i32 => {
                        if let Some((sent, measured)) =
                            key_seq(&d.channel_conversation_id).and_then(|s| pending.remove(&s))
                        {
                            self.firsts.add(1);
                            if measured {
                                first_response.record_since(sent);
                            }
                        }
                    }
                    Some(Body::Message(m)) if m.sender == pb::Sender::Agent as i32 => {
                        // The customer answers the agent's greeting once.
                        stream.send(pb::adapter_frame::Frame::Message(pb::InboundMessage {
                            channel: pb::Channel::Web as i32,
                            channel_conversation_id: d.channel_conversation_id,
                            customer: Some(pb::Customer {
                                customer_id: d.customer_id,
                                ..Default::default()
                            }),
                            text: "Thanks! The order number is 4711-0815-2342.".into(),
                            language: "en".into(),
                            client_message_id: "2".into(),
                            ..Default::default()
                        }))?;
                    }
                    Some(Body::Closed(_)) => self.closed.add(1),
                    _ => {}
                }
            }
            // Back-pressure: the customer gets no first response (counted as never
            // delivered) and the adapter goes on, as a real one would after a retry
            // delay.
            Some(gateway_frame::Frame::Rejected(r))
                if r.code == tonic::Code::ResourceExhausted as i32 =>
            {
                self.shed.add(1);
            }
            Some(gateway_frame::Frame::Rejected(r)) => {
                return Err(format!("customer message rejected: {} {}", r.code, r.message).into());
            }
            _ => {}
        }
        Ok(())
    }
}
