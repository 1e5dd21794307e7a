//! Phase 12: outbound notifications in bulk. `--notifications` sends (unary
//! `Outbound/SendNotification`, `--outbound-callers` at once over 8 connections) to
//! customers addressed by their channel id on 8 channels, each channel's adapter
//! connected (learned from one customer message) and acknowledging what it gets, as
//! a campaign's traffic reaches the adapters. Reports the send rate, the delivery rate
//! (first send to last delivery) and the server's memory and CPU.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use switchboard::api::pb;
use switchboard::api::pb::outbound_client::OutboundClient;
use tonic::Request;

use super::Result;
use super::gateway::{self, AdapterStream};
use super::procs::{ProcSample, Server};

/// The tenant the phase runs in (declared in every load-bench config).
pub(crate) const TENANT: &str = "loadgen-outbound";

/// The 8 channels, one adapter each.
const CHANNELS: [pb::Channel; 8] = [
    pb::Channel::Web,
    pb::Channel::App,
    pb::Channel::WechatOfficialAccount,
    pb::Channel::WechatMiniProgram,
    pb::Channel::Weibo,
    pb::Channel::Douyin,
    pb::Channel::Email,
    pb::Channel::Sms,
];

/// What the phase measured.
pub(crate) struct OutboundResult {
    pub(crate) asked: u64,
    /// Answered `sent`.
    pub(crate) sent: u64,
    /// Answered with another status (queued, skipped, ...).
    pub(crate) not_sent: u64,
    /// Refused calls, and the first refusal.
    pub(crate) refused: u64,
    pub(crate) first_refusal: Option<String>,
    /// Notifications the adapters received.
    pub(crate) delivered: u64,
    /// Seconds from the first send until every call was answered, and until the
    /// last delivery.
    pub(crate) send_secs: f64,
    pub(crate) deliver_secs: f64,
    pub(crate) before: ProcSample,
    pub(crate) after: ProcSample,
}

/// An adapter on `channel` that teaches the router its channel with one customer
/// message, then counts and acknowledges every notification it is given.
async fn adapter(
    server: &Server,
    channel: pb::Channel,
    delivered: Arc<AtomicU64>,
) -> Result<tokio::task::JoinHandle<Result<()>>> {
    let connection = super::connect(server.addr).await?;
    let name = channel.as_str_name().to_lowercase();
    let mut stream = AdapterStream::open(connection, TENANT, &format!("out-{name}")).await?;
    stream.send(pb::adapter_frame::Frame::Message(pb::InboundMessage {
        channel: channel as i32,
        channel_conversation_id: format!("teach-{name}"),
        customer: Some(pb::Customer {
            customer_id: format!("teacher-{name}"),
            ..Default::default()
        }),
        text: "hello".into(),
        language: "en".into(),
        client_message_id: format!("teach-{name}"),
        ..Default::default()
    }))?;
    // Taken once the stream answers it: the channel's adapter is known from then on.
    loop {
        let frame = stream.rx.message().await?.ok_or("adapter stream ended")?;
        if let Some(pb::gateway_frame::Frame::Accepted(_)) = frame.frame {
            break;
        }
    }
    Ok(tokio::spawn(async move {
        loop {
            match tokio::time::timeout(Duration::from_millis(20), stream.rx.message()).await {
                // Quiet: what was seen is acknowledged at once.
                Err(_) => stream.ack_all()?,
                Ok(frame) => {
                    let Some(frame) = frame? else {
                        return Ok(());
                    };
                    if let Some(pb::gateway_frame::Frame::Delivery(d)) = frame.frame {
                        if d.notification.is_some() {
                            delivered.fetch_add(1, Ordering::Relaxed);
                        }
                        stream.delivered(d.delivery_id)?;
                    }
                }
            }
        }
    }))
}

fn send_request(n: u64) -> Request<pb::SendNotificationRequest> {
    let channel = CHANNELS[(n % CHANNELS.len() as u64) as usize];
    let mut request = Request::new(pb::SendNotificationRequest {
        customer: Some(pb::ProfileSelector {
            who: Some(pb::profile_selector::Who::Identifier(
                pb::CustomerIdentifier {
                    kind: pb::IdentifierKind::Unspecified as i32,
                    value: format!("customer-{n}"),
                    verified: true,
                    channel: channel as i32,
                },
            )),
        }),
        kind: pb::ContactPurpose::Logistics as i32,
        template: "loadgen".into(),
        variables: [("order".to_owned(), n.to_string())].into(),
        language: "en".into(),
        ..Default::default()
    });
    let _ = gateway::identify(&mut request, TENANT, "operator", "loadgen-outbound");
    request
}

/// Runs the phase on a fresh `server`.
pub(crate) async fn notifications(
    server: &Server,
    total: u64,
    callers: usize,
) -> Result<OutboundResult> {
    let delivered = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    for channel in CHANNELS {
        readers.push(adapter(server, channel, delivered.clone()).await?);
    }
    let mut connections = Vec::new();
    for _ in 0..CHANNELS.len() {
        connections.push(super::connect(server.addr).await?);
    }
    let before = server.sample()?;
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut callers_done = Vec::new();
    for i in 0..callers {
        let mut client = OutboundClient::new(connections[i % connections.len()].clone());
        let next = next.clone();
        callers_done.push(tokio::spawn(async move {
            let (mut sent, mut not_sent, mut refused, mut first) = (0u64, 0u64, 0u64, None);
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    return (sent, not_sent, refused, first);
                }
                match client.send_notification(send_request(n)).await {
                    Ok(view) if view.get_ref().status == pb::NotificationStatus::Sent as i32 => {
                        sent += 1
                    }
                    Ok(_) => not_sent += 1,
                    Err(status) => {
                        refused += 1;
                        first.get_or_insert_with(|| {
                            format!("{:?}: {}", status.code(), status.message())
                        });
                    }
                }
            }
        }));
    }
    let (mut sent, mut not_sent, mut refused, mut first_refusal) = (0, 0, 0, None);
    for done in callers_done {
        let (s, n, r, f) = done.await?;
        sent += s;
        not_sent += n;
        refused += r;
        if first_refusal.is_none() {
            first_refusal = f;
        }
    }
    let send_secs = started.elapsed().as_secs_f64();
    // Every sent notification reaches its adapter; wait for the last (a minute at most).
    let waited = Instant::now();
    while delivered.load(Ordering::Relaxed) < sent && waited.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let deliver_secs = started.elapsed().as_secs_f64();
    // Acknowledgements land and settle before memory is read.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = server.sample()?;
    for reader in readers {
        reader.abort();
    }
    Ok(OutboundResult {
        asked: total,
        sent,
        not_sent,
        refused,
        first_refusal,
        delivered: delivered.load(Ordering::Relaxed),
        send_secs,
        deliver_secs,
        before,
        after,
    })
}
