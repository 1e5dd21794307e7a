//! The load's clients: adapter streams, a `Submit` adapter, agent desks and a poller of
//! the waiting list. Each records what it sees in the ledger and ends when its stream
//! fails (the server was killed) or it is told to stop.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};

use switchboard::api::pb;
use switchboard::api::pb::admin_client::AdminClient;
use switchboard::api::pb::agent_desk_client::AgentDeskClient;
use switchboard::api::pb::channel_gateway_client::ChannelGatewayClient;

use super::ledger::{Kind, Ledger};
use super::{Pace, Rng, lock};

/// What every client task of one server process shares.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    /// The ledger.
    pub(crate) ledger: Arc<Mutex<Ledger>>,
    /// The server's gRPC address.
    pub(crate) addr: SocketAddr,
    /// Turns true when the clients must end.
    pub(crate) stop: watch::Receiver<bool>,
    /// True while the load runs.
    pub(crate) load: watch::Receiver<bool>,
    /// How hard to push.
    pub(crate) pace: Pace,
    /// The crash this process follows (0: the first process).
    pub(crate) round: usize,
}

/// A connection to the server.
pub(crate) async fn channel(addr: SocketAddr) -> Result<Channel, String> {
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(2))
        .tcp_nodelay(true);
    tokio::time::timeout(Duration::from_secs(3), endpoint.connect())
        .await
        .map_err(|_| format!("connecting to {addr} timed out"))?
        .map_err(|e| format!("connecting to {addr}: {e}"))
}

fn ticker(every: Duration) -> tokio::time::Interval {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    interval
}

/// One adapter's stream: hello, the deliveries its mailbox holds (then `drained`),
/// acknowledgements now and then, and, unless the adapter submits with unary calls,
/// customer messages while the load runs.
pub(crate) async fn adapter_stream(
    ctx: Ctx,
    adapter: usize,
    mut rng: Rng,
    drained: oneshot::Sender<()>,
) {
    let spec = lock(&ctx.ledger).adapters[adapter].spec.clone();
    let Ok(channel) = channel(ctx.addr).await else {
        return;
    };
    let (tx, rx) = mpsc::channel(256);
    let hello = pb::AdapterFrame {
        frame: Some(pb::adapter_frame::Frame::Hello(pb::AdapterHello {
            adapter_id: spec.id.clone(),
        })),
    };
    if tx.send(hello).await.is_err() {
        return;
    }
    let mut client = ChannelGatewayClient::new(channel);
    let call = client.session(ReceiverStream::new(rx));
    let Ok(Ok(response)) = tokio::time::timeout(Duration::from_secs(5), call).await else {
        return;
    };
    let mut stream = response.into_inner();
    let welcome = tokio::time::timeout(Duration::from_secs(5), stream.message()).await;
    let pending = match welcome {
        Ok(Ok(Some(pb::GatewayFrame {
            frame: Some(pb::gateway_frame::Frame::Welcome(w)),
        }))) => w.pending_deliveries as usize,
        other => {
            let what = format!("adapter {}: no welcome ({other:?})", spec.id);
            lock(&ctx.ledger).violate(Kind::Other, 1, what);
            return;
        }
    };
    lock(&ctx.ledger).adapter_connected(adapter, pending);
    let mut drained = Some(drained);
    if pending == 0
        && let Some(d) = drained.take()
    {
        let _ = d.send(());
    }
    let mut stop = ctx.stop.clone();
    let load = ctx.load.clone();
    let mut send = ticker(ctx.pace.adapter_every);
    let mut ack = ticker(Duration::from_millis(rng.between(20, 120)));
    let mut in_flight = 0usize;
    // Now and then the adapter stops reading for a while (a slow channel), so that
    // deliveries, replies among them, are still unread when the server dies.
    let mut paused_until: Option<Instant> = None;
    loop {
        let paused = paused_until.is_some();
        let resume_at = paused_until.unwrap_or_else(Instant::now);
        tokio::select! {
            _ = stop.changed() => break,
            _ = tokio::time::sleep_until(resume_at), if paused => paused_until = None,
            frame = stream.message(), if !paused => {
                let Ok(Some(frame)) = frame else { break };
                let mut l = lock(&ctx.ledger);
                match frame.frame {
                    Some(pb::gateway_frame::Frame::Delivery(d)) => {
                        l.delivery(adapter, &d);
                        if l.adapter_drained(adapter)
                            && let Some(d) = drained.take()
                        {
                            let _ = d.send(());
                        }
                    }
                    Some(pb::gateway_frame::Frame::Accepted(a)) => {
                        in_flight = in_flight.saturating_sub(1);
                        l.accepted(
                            &a.client_message_id,
                            &a.conversation_id,
                            a.created,
                            "an accepted frame",
                        );
                    }
                    Some(pb::gateway_frame::Frame::Rejected(r)) => {
                        in_flight = in_flight.saturating_sub(1);
                        l.rejected(&r.client_message_id, r.code, &r.message);
                    }
                    Some(pb::gateway_frame::Frame::Welcome(_)) | None => {}
                }
            }
            _ = ack.tick(), if !paused => {
                if *load.borrow() && rng.chance(0.05) {
                    let pause = Duration::from_millis(rng.between(100, 800));
                    paused_until = Some(Instant::now() + pause);
                    continue;
                }
                let due = lock(&ctx.ledger).ack_due(adapter);
                if let Some(up_to) = due {
                    let frame = pb::AdapterFrame {
                        frame: Some(pb::adapter_frame::Frame::Ack(pb::DeliveryAck {
                            up_to_delivery_id: up_to,
                        })),
                    };
                    if tx.send(frame).await.is_err() {
                        break;
                    }
                }
            }
            _ = send.tick(), if !spec.unary && *load.borrow() && in_flight < ctx.pace.adapter_window => {
                let next = lock(&ctx.ledger).next_message(adapter, &mut rng);
                if let Some(msg) = next {
                    in_flight += 1;
                    let frame = pb::AdapterFrame {
                        frame: Some(pb::adapter_frame::Frame::Message(msg)),
                    };
                    if tx.send(frame).await.is_err() {
                        break;
                    }
                }
            }
        }
    }
}

/// The e-mail adapter's messages, as unary `Submit` calls (a few in flight).
pub(crate) async fn submitter(ctx: Ctx, adapter: usize, mut rng: Rng) {
    let Ok(channel) = channel(ctx.addr).await else {
        return;
    };
    let client = ChannelGatewayClient::new(channel);
    let mut calls = JoinSet::new();
    let mut abandons = JoinSet::new();
    let mut stop = ctx.stop.clone();
    let load = ctx.load.clone();
    let mut tick = ticker(ctx.pace.submit_every);
    let mut leave = ticker(Duration::from_millis(300));
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some(done) = calls.join_next(), if !calls.is_empty() => {
                if let Ok(done) = done {
                    record_submit(&ctx.ledger, done);
                }
            }
            Some(done) = abandons.join_next(), if !abandons.is_empty() => {
                if let Ok((thread, result)) = done {
                    lock(&ctx.ledger).abandoned(thread, result);
                }
            }
            _ = leave.tick(), if *load.borrow() && abandons.is_empty() => {
                if !rng.chance(0.5) {
                    continue;
                }
                // Now and then a customer leaves (closes the mail thread).
                let target = lock(&ctx.ledger).abandon_target(adapter, &mut rng);
                if let Some((thread, request)) = target {
                    let mut client = client.clone();
                    abandons.spawn(async move {
                        let result = tokio::time::timeout(Duration::from_secs(5), client.abandon(request))
                            .await
                            .ok()
                            .and_then(|r| match r {
                                Ok(response) => Some(Ok(response.into_inner().conversation_id)),
                                Err(status) if matches!(
                                    status.code(),
                                    tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled
                                ) => None,
                                Err(status) => Some(Err(status)),
                            });
                        (thread, result)
                    });
                }
            }
            _ = tick.tick(), if *load.borrow() && calls.len() < ctx.pace.submit_window => {
                let next = lock(&ctx.ledger).next_message(adapter, &mut rng);
                if let Some(msg) = next {
                    let mut client = client.clone();
                    calls.spawn(async move {
                        let client_id = msg.client_message_id.clone();
                        let result = match tokio::time::timeout(Duration::from_secs(5), client.submit(msg)).await {
                            Ok(result) => result,
                            Err(_) => Err(tonic::Status::unavailable("timed out")),
                        };
                        (client_id, result)
                    });
                }
            }
        }
    }
    // Answers that came in before the server died still count.
    let rest = async {
        while let Some(done) = calls.join_next().await {
            if let Ok(done) = done {
                record_submit(&ctx.ledger, done);
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(6), rest).await;
    let rest = async {
        while let Some(done) = abandons.join_next().await {
            if let Ok((thread, result)) = done {
                lock(&ctx.ledger).abandoned(thread, result);
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(6), rest).await;
}

/// Records what a `Submit` call came back with.
fn record_submit(
    ledger: &Mutex<Ledger>,
    (client_id, result): (
        String,
        Result<tonic::Response<pb::SubmitResponse>, tonic::Status>,
    ),
) {
    match result {
        Ok(response) => {
            let response = response.into_inner();
            let mut l = lock(ledger);
            l.accepted(
                &client_id,
                &response.conversation_id,
                response.created,
                "a Submit response",
            );
            for d in &response.replies {
                if d.delivery_id != 0 {
                    let what = format!(
                        "a Submit reply inline carries delivery id {} (inline replies are \
                         not mailed)",
                        d.delivery_id
                    );
                    l.violate(Kind::Other, 1, what);
                }
            }
        }
        // The server died under the call: the message stays in flight.
        Err(status)
            if matches!(
                status.code(),
                tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled
            ) => {}
        Err(status) => {
            lock(ledger).rejected(&client_id, status.code() as i32, status.message());
        }
    }
}

/// One agent desk: signs in (then `signed`), accepts offers after a short think (a
/// few it declines), replies, closes some, and answers resumed conversations at once.
pub(crate) async fn agent(ctx: Ctx, agent: usize, mut rng: Rng, signed: oneshot::Sender<()>) {
    let id = lock(&ctx.ledger).agents[agent].id.clone();
    let Ok(channel) = channel(ctx.addr).await else {
        return;
    };
    let (tx, rx) = mpsc::channel(256);
    let skill = |name: &str| pb::AgentSkill {
        skill: name.to_owned(),
        proficiency: 3,
    };
    let sign_in = pb::AgentFrame {
        request_id: format!("{id}-sign-in-{}", ctx.round),
        action: Some(pb::agent_frame::Action::SignIn(pb::SignIn {
            agent_id: id.clone(),
            display_name: format!("Crash agent {id}"),
            skills: vec![skill("general"), skill("billing")],
            capacity: Some(pb::Capacity {
                messaging: 4,
                email: 3,
                voice: 0,
            }),
            presence: pb::Presence::Available as i32,
        })),
    };
    if tx.send(sign_in).await.is_err() {
        return;
    }
    let mut client = AgentDeskClient::new(channel);
    let call = client.session(ReceiverStream::new(rx));
    let Ok(Ok(response)) = tokio::time::timeout(Duration::from_secs(5), call).await else {
        return;
    };
    let mut stream = response.into_inner();
    match tokio::time::timeout(Duration::from_secs(5), stream.message()).await {
        Ok(Ok(Some(pb::DeskFrame {
            frame: Some(pb::desk_frame::Frame::SignedIn(_)),
        }))) => {
            let _ = signed.send(());
        }
        other => {
            let what = format!("agent {id}: no signed_in ({other:?})");
            lock(&ctx.ledger).violate(Kind::Other, 1, what);
            return;
        }
    }
    let mut stop = ctx.stop.clone();
    let mut tick = ticker(ctx.pace.agent_every);
    // Offers to answer: when, which, and whether to decline.
    let mut decisions: Vec<(Instant, String, bool)> = Vec::new();
    let agents = lock(&ctx.ledger).agents.len();
    loop {
        let mut out = Vec::new();
        tokio::select! {
            _ = stop.changed() => break,
            frame = stream.message() => {
                let Ok(Some(frame)) = frame else { break };
                let mut l = lock(&ctx.ledger);
                match frame.frame {
                    Some(pb::desk_frame::Frame::Offer(offer)) => {
                        let resumed = offer.resumed;
                        if let Some(conv) = l.offered(agent, &offer) {
                            let think = Duration::from_millis(rng.between(0, 30));
                            let decline = agents > 1 && rng.chance(0.05);
                            decisions.push((Instant::now() + think, conv, decline));
                        } else if resumed {
                            // Resumed: already the agent's; it can write at once.
                            out.extend(l.resumed_reply(agent, &offer.conversation_id));
                        }
                    }
                    Some(pb::desk_frame::Frame::Done(d)) => l.done(agent, &d.request_id),
                    Some(pb::desk_frame::Frame::Rejected(r)) => l.refused(agent, &r),
                    Some(pb::desk_frame::Frame::CustomerMessage(m)) => {
                        l.owed(agent, &m.conversation_id, &m.text);
                    }
                    Some(pb::desk_frame::Frame::OfferWithdrawn(w)) => {
                        l.withdrawn(agent, &w.conversation_id);
                    }
                    Some(pb::desk_frame::Frame::Ended(e)) => l.ended(agent, &e.conversation_id),
                    Some(pb::desk_frame::Frame::PresenceChanged(p))
                        if p.presence == pb::Presence::Away as i32 =>
                    {
                        out.push(l.available(agent));
                    }
                    _ => {}
                }
            }
            _ = tick.tick() => {
                let now = Instant::now();
                let mut l = lock(&ctx.ledger);
                let due: Vec<(Instant, String, bool)>;
                (due, decisions) = std::mem::take(&mut decisions)
                    .into_iter()
                    .partition(|(at, _, _)| *at <= now);
                for (_, conv, decline) in due {
                    out.extend(l.accept(agent, &conv, decline));
                }
                if *ctx.load.borrow() {
                    out.extend(l.work(agent, &mut rng));
                }
            }
        }
        for frame in out {
            if tx.send(frame).await.is_err() {
                return;
            }
        }
    }
}

/// Polls `Admin/ListWaiting` while the load runs, comparing consecutive orders.
pub(crate) async fn poller(ctx: Ctx) {
    let Ok(channel) = channel(ctx.addr).await else {
        return;
    };
    let mut admin = AdminClient::new(channel);
    let mut stop = ctx.stop.clone();
    let mut tick = ticker(ctx.pace.poll_every);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = tick.tick() => {
                let call = admin.list_waiting(pb::ListWaitingRequest { limit: 10_000 });
                match tokio::time::timeout(Duration::from_secs(2), call).await {
                    Ok(Ok(r)) => lock(&ctx.ledger).waiting_polled(&r.into_inner()),
                    _ => break,
                }
            }
        }
    }
}
