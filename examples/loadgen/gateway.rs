//! Switchboard clients as real adapters and agents use them, and the phases that need
//! only fixed behaviour: new conversations (3), relay (4) and memory (6).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use switchboard::api::pb::{
    self, agent_desk_client::AgentDeskClient, channel_gateway_client::ChannelGatewayClient,
    delivery::Body, desk_frame, gateway_frame,
};
use tokio::sync::mpsc::{self, UnboundedSender};
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::transport::Channel;
use tonic::{Request, Streaming};

use super::Result;
use super::procs::Server;
use super::stats::{self, Control, Counter, Latencies, Rng};

/// A customer message of typical chat size (81 bytes).
pub(crate) const CUSTOMER_TEXT: &str =
    "Hello, I ordered a pair of running shoes last week and they have not arrived yet.";
/// Deliveries acknowledged in one `DeliveryAck`.
pub(crate) const ACK_EVERY: u64 = 32;
/// Metadata key naming the tenant.
const TENANT: &str = "x-switchboard-tenant";

/// The HS256 secret streams sign their JWTs with, when the server requires them.
static SIGNING_SECRET: std::sync::RwLock<Option<Vec<u8>>> = std::sync::RwLock::new(None);

/// Makes streams opened from now on present a JWT signed with `secret` (`None`: none).
pub(crate) fn sign_with(secret: Option<Vec<u8>>) {
    *SIGNING_SECRET.write().unwrap_or_else(|p| p.into_inner()) = secret;
}

/// Adds the tenant header and, when signing, a bearer JWT for `subject` in `role`.
pub(crate) fn identify<T>(
    request: &mut Request<T>,
    tenant: &str,
    role: &str,
    subject: &str,
) -> Result<()> {
    request.metadata_mut().insert(TENANT, tenant.parse()?);
    let secret = SIGNING_SECRET.read().unwrap_or_else(|p| p.into_inner());
    if let Some(secret) = secret.as_ref() {
        let exp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs()
            + 3600;
        let claims = serde_json::json!({
            "sub": subject, "tenant": tenant, "roles": [role], "exp": exp,
        });
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret),
        )?;
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
    }
    Ok(())
}

/// An adapter's stream: frames out, frames in.
pub(crate) struct AdapterStream {
    pub(crate) tx: UnboundedSender<pb::AdapterFrame>,
    pub(crate) rx: Streaming<pb::GatewayFrame>,
    /// Highest delivery id seen and how many deliveries since the last ack.
    last_delivery: u64,
    unacked: u64,
}

impl AdapterStream {
    /// Says hello as `adapter_id` in `tenant`; waits for the welcome.
    pub(crate) async fn open(channel: Channel, tenant: &str, adapter_id: &str) -> Result<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        tx.send(adapter_frame(pb::adapter_frame::Frame::Hello(
            pb::AdapterHello {
                adapter_id: adapter_id.to_owned(),
            },
        )))?;
        let mut request = Request::new(UnboundedReceiverStream::new(rx));
        identify(&mut request, tenant, "adapter", adapter_id)?;
        let mut rx = ChannelGatewayClient::new(channel)
            .session(request)
            .await?
            .into_inner();
        match rx.message().await? {
            Some(pb::GatewayFrame {
                frame: Some(gateway_frame::Frame::Welcome(_)),
            }) => Ok(AdapterStream {
                tx,
                rx,
                last_delivery: 0,
                unacked: 0,
            }),
            other => Err(format!("adapter {adapter_id}: expected welcome, got {other:?}").into()),
        }
    }

    pub(crate) fn send(&self, frame: pb::adapter_frame::Frame) -> Result<()> {
        Ok(self.tx.send(adapter_frame(frame))?)
    }

    /// Notes a delivery; acknowledges every [`ACK_EVERY`] of them, as an adapter does
    /// once the channel has taken them.
    pub(crate) fn delivered(&mut self, delivery_id: u64) -> Result<()> {
        self.last_delivery = self.last_delivery.max(delivery_id);
        self.unacked += 1;
        if self.unacked >= ACK_EVERY {
            self.unacked = 0;
            self.send(pb::adapter_frame::Frame::Ack(pb::DeliveryAck {
                up_to_delivery_id: self.last_delivery,
            }))?;
        }
        Ok(())
    }

    /// Acknowledges every delivery seen so far, if any is not yet acknowledged.
    pub(crate) fn ack_all(&mut self) -> Result<()> {
        if self.unacked > 0 {
            self.unacked = 0;
            self.send(pb::adapter_frame::Frame::Ack(pb::DeliveryAck {
                up_to_delivery_id: self.last_delivery,
            }))?;
        }
        Ok(())
    }
}

fn adapter_frame(frame: pb::adapter_frame::Frame) -> pb::AdapterFrame {
    pb::AdapterFrame { frame: Some(frame) }
}

/// An agent desk's stream.
pub(crate) struct AgentStream {
    pub(crate) tx: UnboundedSender<pb::AgentFrame>,
    pub(crate) rx: Streaming<pb::DeskFrame>,
    next_request: u64,
}

impl AgentStream {
    /// Signs in within `tenant`; waits for `signed_in`.
    pub(crate) async fn open(channel: Channel, tenant: &str, sign_in: pb::SignIn) -> Result<Self> {
        let agent_id = sign_in.agent_id.clone();
        let (tx, rx) = mpsc::unbounded_channel();
        tx.send(pb::AgentFrame {
            request_id: "sign-in".into(),
            action: Some(pb::agent_frame::Action::SignIn(sign_in)),
        })?;
        let mut request = Request::new(UnboundedReceiverStream::new(rx));
        identify(&mut request, tenant, "agent", &agent_id)?;
        let mut rx = AgentDeskClient::new(channel)
            .session(request)
            .await?
            .into_inner();
        match rx.message().await? {
            Some(pb::DeskFrame {
                frame: Some(desk_frame::Frame::SignedIn(_)),
            }) => Ok(AgentStream {
                tx,
                rx,
                next_request: 0,
            }),
            other => Err(format!("agent {agent_id}: expected signed_in, got {other:?}").into()),
        }
    }

    /// Sends an action with a fresh request id starting with `kind`.
    pub(crate) fn act(&mut self, kind: char, action: pb::agent_frame::Action) -> Result<()> {
        self.next_request += 1;
        Ok(self.tx.send(pb::AgentFrame {
            request_id: format!("{kind}{}", self.next_request),
            action: Some(action),
        })?)
    }
}

/// An agent signing in with messaging capacity.
pub(crate) fn sign_in(agent_id: String, skills: &[(&str, u32)], capacity: u32) -> pb::SignIn {
    pb::SignIn {
        display_name: format!("Agent {agent_id}"),
        agent_id,
        skills: skills
            .iter()
            .map(|(skill, proficiency)| pb::AgentSkill {
                skill: (*skill).to_owned(),
                proficiency: *proficiency,
            })
            .collect(),
        capacity: Some(pb::Capacity {
            messaging: capacity,
            email: 0,
            voice: 0,
        }),
        presence: pb::Presence::Available as i32,
    }
}

/// A customer message on the web channel.
pub(crate) fn message(
    key: String,
    customer_id: String,
    display_name: String,
    clv: f64,
    text: String,
    client_message_id: String,
) -> pb::adapter_frame::Frame {
    pb::adapter_frame::Frame::Message(pb::InboundMessage {
        channel: pb::Channel::Web as i32,
        channel_conversation_id: key,
        customer: Some(pb::Customer {
            customer_id,
            display_name,
            value: Some(pb::CustomerValue {
                clv: Some(clv),
                ..Default::default()
            }),
            identifiers: Vec::new(),
        }),
        text,
        language: "en".into(),
        client_message_id,
        ..Default::default()
    })
}

/// The number after the last `-` of a key like `n3-1234`.
pub(crate) fn key_seq(key: &str) -> Option<u64> {
    key.rsplit('-').next()?.parse().ok()
}

/// Opens `n` adapter streams, each on its own connection.
pub(crate) async fn adapters(
    server: &Server,
    tenant: &str,
    tag: &str,
    n: usize,
) -> Result<Vec<AdapterStream>> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let channel = super::connect(server.addr).await?;
        out.push(AdapterStream::open(channel, tenant, &format!("{tag}-adapter-{i}")).await?);
    }
    Ok(out)
}

/// What a new-conversation worker saw.
#[derive(Debug, Default)]
pub(crate) struct NewStats {
    pub(crate) latency: Latencies,
    pub(crate) rejected: u64,
    pub(crate) first_rejection: Option<String>,
}

/// Where a new-conversation worker opens its conversations.
#[derive(Debug, Clone)]
pub(crate) struct NewTarget {
    pub(crate) channel: Channel,
    /// Tenant `<prefix>-<epoch>`; the epoch goes up every `per_tenant` conversations.
    pub(crate) tenant_prefix: String,
    pub(crate) per_tenant: u64,
    /// Which identifiers the customers carry.
    pub(crate) identify: Identify,
}

/// Identifiers on new conversations' customers (`--identifiers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Identify {
    /// None: strangers, as before profiles.
    None,
    /// A verified phone per conversation: each makes a profile.
    New,
    /// A verified phone from a pool of [`RETURNING_POOL`] people per stream.
    Returning,
}

/// People per stream in `--identifiers returning`.
const RETURNING_POOL: u64 = 1_000;

impl Identify {
    /// The customer id and identifiers of conversation `seq` of stream `worker`.
    fn customer(self, worker: usize, seq: u64) -> (String, Vec<pb::CustomerIdentifier>) {
        let person = match self {
            Identify::None => return (format!("c{worker}-{seq}"), Vec::new()),
            Identify::New => seq,
            Identify::Returning => seq % RETURNING_POOL,
        };
        let phone = pb::CustomerIdentifier {
            kind: pb::IdentifierKind::Phone as i32,
            value: format!("+86{:03}{:08}", 130 + worker % 70, person),
            verified: true,
            ..Default::default()
        };
        (format!("c{worker}-{person}"), vec![phone])
    }
}

/// Phases 3 and 6: opens conversations for fresh channel conversation ids as fast as
/// the window allows; a conversation completes when its first response is delivered
/// on the stream. `budget` is shared by all workers: no more conversations than it
/// allows are opened. After `per_tenant` conversations the worker drains its window
/// and reconnects in the next tenant, so no tenant reaches its open-conversation
/// limit however long the phase runs.
pub(crate) async fn new_conversations(
    target: NewTarget,
    worker: usize,
    window: usize,
    control: Arc<Control>,
    done: Arc<Counter>,
    budget: Arc<AtomicI64>,
) -> Result<NewStats> {
    let adapter_id = format!("{}-adapter-{worker}", target.tenant_prefix);
    let tenant = |epoch: u64| format!("{}-{epoch}", target.tenant_prefix);
    let (mut epoch, mut in_tenant) = (0u64, 0u64);
    let mut stream =
        AdapterStream::open(target.channel.clone(), &tenant(epoch), &adapter_id).await?;
    let mut stats = NewStats::default();
    let mut rng = Rng::new(worker as u64 + 1);
    // Conversations awaiting their first response, by sequence number modulo the ring
    // (in flight never exceeds the window, so a slot is never reused too early).
    let ring = (window * 4).next_power_of_two();
    let mut awaiting: Vec<Option<(u64, Instant)>> = vec![None; ring];
    let (mut seq, mut in_flight, mut sending) = (0u64, 0usize, true);
    loop {
        while sending && in_flight < window && in_tenant < target.per_tenant && !control.stopped() {
            if budget.fetch_sub(1, Ordering::Relaxed) <= 0 {
                sending = false;
                break;
            }
            awaiting[seq as usize & (ring - 1)] = Some((seq, Instant::now()));
            let (customer_id, identifiers) = target.identify.customer(worker, seq);
            let mut frame = message(
                format!("n{worker}-{seq}"),
                customer_id,
                String::new(),
                stats::clv(&mut rng),
                CUSTOMER_TEXT.to_owned(),
                format!("m{seq}"),
            );
            if let pb::adapter_frame::Frame::Message(m) = &mut frame
                && let Some(customer) = &mut m.customer
            {
                customer.identifiers = identifiers;
            }
            stream.send(frame)?;
            seq += 1;
            in_flight += 1;
            in_tenant += 1;
        }
        if control.stopped() || (in_flight == 0 && !sending) {
            return Ok(stats);
        }
        if in_flight == 0 && in_tenant >= target.per_tenant {
            epoch += 1;
            in_tenant = 0;
            stream =
                AdapterStream::open(target.channel.clone(), &tenant(epoch), &adapter_id).await?;
            continue;
        }
        let Some(frame) = stream.rx.message().await? else {
            return Err("gateway stream ended".into());
        };
        match frame.frame {
            Some(gateway_frame::Frame::Delivery(d)) => {
                stream.delivered(d.delivery_id)?;
                // Only the first system message of a conversation is its first
                // response (later ones are queue-position updates).
                if let Some(Body::Message(m)) = &d.body
                    && m.sender == pb::Sender::System as i32
                    && let Some(seq) = key_seq(&d.channel_conversation_id)
                    && let slot = &mut awaiting[seq as usize & (ring - 1)]
                    && slot.is_some_and(|(s, _)| s == seq)
                    && let Some((_, sent)) = slot.take()
                {
                    in_flight -= 1;
                    done.add(1);
                    if control.measuring() {
                        stats.latency.record_since(sent);
                    }
                }
            }
            Some(gateway_frame::Frame::Rejected(r)) => {
                in_flight -= 1;
                stats.rejected += 1;
                stats
                    .first_rejection
                    .get_or_insert_with(|| format!("code {}: {}", r.code, r.message));
                if r.code == tonic::Code::ResourceExhausted as i32 {
                    sending = false;
                }
            }
            _ => {}
        }
    }
}

/// What the relay phase measured.
#[derive(Debug)]
pub(crate) struct RelayResult {
    pub(crate) window: super::Window,
    pub(crate) conversations: usize,
    pub(crate) latency: Latencies,
    pub(crate) agent_errors: u64,
}

/// Phase 4: `agents` agents with `capacity` each hold `agents × capacity`
/// conversations spread over the adapter streams; customers write on them as fast as
/// the window allows and agents answer every message.
pub(crate) async fn relay(server: &Server, opts: &super::Opts) -> Result<RelayResult> {
    relay_at(server, opts, None).await
}

/// Phase 4b: the same conversations, each adapter stream writing at its share of
/// `round_trips` per second (evenly spaced, still at most `window` unanswered), so the
/// round trip is measured below saturation.
pub(crate) async fn relay_paced(
    server: &Server,
    opts: &super::Opts,
    round_trips: f64,
) -> Result<RelayResult> {
    let per_stream = (round_trips / opts.streams as f64).max(1.0);
    relay_at(
        server,
        opts,
        Some(Duration::from_secs_f64(1.0 / per_stream)),
    )
    .await
}

async fn relay_at(
    server: &Server,
    opts: &super::Opts,
    pace: Option<Duration>,
) -> Result<RelayResult> {
    const TENANT_ID: &str = "loadgen-relay";
    let control = Arc::new(Control::default());
    let (c2a, a2c, accepted, agent_errors) = (
        Arc::new(Counter::default()),
        Arc::new(Counter::default()),
        Arc::new(Counter::default()),
        Arc::new(Counter::default()),
    );
    let mut agent_tasks = Vec::new();
    for a in 0..opts.agents {
        let channel = super::connect(server.addr).await?;
        let mut desk = AgentStream::open(
            channel,
            TENANT_ID,
            sign_in(format!("relay-agent-{a}"), &[("general", 3)], opts.capacity),
        )
        .await?;
        let (c2a, accepted, errors) = (c2a.clone(), accepted.clone(), agent_errors.clone());
        agent_tasks.push(tokio::spawn(async move {
            while let Some(frame) = desk.rx.message().await? {
                match frame.frame {
                    Some(desk_frame::Frame::Offer(o)) => desk.act(
                        'a',
                        pb::agent_frame::Action::Accept(pb::ConversationRef {
                            conversation_id: o.conversation_id,
                        }),
                    )?,
                    Some(desk_frame::Frame::CustomerMessage(m)) => {
                        c2a.add(1);
                        desk.act(
                            'r',
                            pb::agent_frame::Action::Reply(pb::Reply {
                                conversation_id: m.conversation_id,
                                text: format!("re {}", m.text),
                            }),
                        )?;
                    }
                    Some(desk_frame::Frame::Done(d)) if d.request_id.starts_with('a') => {
                        accepted.add(1);
                    }
                    Some(desk_frame::Frame::Rejected(_)) => errors.add(1),
                    _ => {}
                }
            }
            Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
        }));
    }
    let conversations = opts.agents * opts.capacity as usize;
    let streams = adapters(server, TENANT_ID, "relay", opts.streams).await?;
    let mut adapter_tasks = Vec::new();
    for (i, mut stream) in streams.into_iter().enumerate() {
        let mine = conversations / opts.streams + usize::from(i < conversations % opts.streams);
        let (control, a2c, window) = (control.clone(), a2c.clone(), opts.window);
        adapter_tasks.push(tokio::spawn(async move {
            relay_adapter(&mut stream, i, mine, (window, pace), &control, &a2c).await
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while accepted.get() < conversations as u64 {
        if Instant::now() > deadline {
            return Err(format!(
                "relay setup: only {} of {conversations} conversations accepted in 30 s",
                accepted.get()
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let counts = || vec![c2a.get(), a2c.get()];
    let window = super::measure(&control, server, opts, counts, Duration::ZERO).await?;
    let mut latency = Latencies::default();
    for task in adapter_tasks {
        latency.merge(task.await??);
    }
    for task in agent_tasks {
        task.abort();
    }
    Ok(RelayResult {
        window,
        conversations,
        latency,
        agent_errors: agent_errors.get(),
    })
}

/// One relay adapter: opens `mine` conversations, then, once the phase starts, writes
/// on them round-robin keeping `window` messages waiting for the agent's answer; with
/// a pace, one message per pace interval instead (never more than `window` waiting).
async fn relay_adapter(
    stream: &mut AdapterStream,
    worker: usize,
    mine: usize,
    (window, pace): (usize, Option<Duration>),
    control: &Control,
    a2c: &Counter,
) -> Result<Latencies> {
    let mut latency = Latencies::default();
    for j in 0..mine {
        stream.send(message(
            format!("r{worker}-{j}"),
            format!("rc{worker}-{j}"),
            String::new(),
            100.0,
            CUSTOMER_TEXT.to_owned(),
            "open".to_owned(),
        ))?;
    }
    let ring = (window * 4).next_power_of_two();
    let mut sent_at = vec![Instant::now(); ring];
    let (mut seq, mut in_flight) = (0u64, 0usize);
    // Streams start their paced sends spread over one interval, not all at once.
    let mut next_send =
        Instant::now() + pace.unwrap_or_default().mul_f64((worker % 8) as f64 / 8.0);
    loop {
        if control.stopped() {
            return Ok(latency);
        }
        let frame = if control.started() {
            let now = Instant::now();
            let due = |next: Instant| pace.is_none() || next <= now;
            while in_flight < window && mine > 0 && due(next_send) {
                if let Some(pace) = pace {
                    // Timers tick every millisecond, so sends due within one are made
                    // together; more than 10 ms behind (the window was full), the
                    // missed ones are skipped rather than made up in a burst.
                    next_send = (next_send + pace).max(now - Duration::from_millis(10));
                }
                sent_at[seq as usize & (ring - 1)] = Instant::now();
                let j = seq as usize % mine;
                stream.send(message(
                    format!("r{worker}-{j}"),
                    format!("rc{worker}-{j}"),
                    String::new(),
                    100.0,
                    format!("m{seq} {CUSTOMER_TEXT}"),
                    seq.to_string(),
                ))?;
                seq += 1;
                in_flight += 1;
            }
            match pace {
                None => stream.rx.message().await?,
                Some(_) => tokio::select! {
                    frame = stream.rx.message() => frame?,
                    () = tokio::time::sleep_until(next_send.into()) => continue,
                },
            }
        } else {
            match tokio::time::timeout(Duration::from_millis(10), stream.rx.message()).await {
                Ok(frame) => frame?,
                Err(_) => continue,
            }
        };
        let Some(frame) = frame else {
            return Err("gateway stream ended".into());
        };
        if let Some(gateway_frame::Frame::Delivery(d)) = frame.frame {
            stream.delivered(d.delivery_id)?;
            if let Some(Body::Message(m)) = &d.body
                && m.sender == pb::Sender::Agent as i32
                && let Some(seq) = m
                    .text
                    .strip_prefix("re m")
                    .and_then(|t| t.split_once(' '))
                    .and_then(|(n, _)| n.parse::<u64>().ok())
            {
                in_flight -= 1;
                a2c.add(1);
                if control.measuring() {
                    latency.record_since(sent_at[seq as usize & (ring - 1)]);
                }
            }
        }
    }
}
