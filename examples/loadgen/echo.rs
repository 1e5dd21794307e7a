//! The bare-transport reference: a trivial tonic echo server and its two load phases.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use switchboard::api::loadtest_pb::Ping;
use switchboard::api::loadtest_pb::echo_client::EchoClient;
use switchboard::api::loadtest_pb::echo_server::{Echo, EchoServer};
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, UnboundedReceiverStream};
use tonic::transport::Channel;
use tonic::{Request, Response, Status, Streaming};

use super::stats::{Control, Counter, Latencies};
use super::{Result, connect, run_phase};

/// The echo service, written the way tonic's own streaming example writes it: a task
/// per stream forwarding every ping into a bounded channel that feeds the response.
#[derive(Debug, Default)]
struct EchoService;

#[tonic::async_trait]
impl Echo for EchoService {
    async fn unary(&self, request: Request<Ping>) -> std::result::Result<Response<Ping>, Status> {
        Ok(Response::new(request.into_inner()))
    }

    type StreamStream = ReceiverStream<std::result::Result<Ping, Status>>;

    async fn stream(
        &self,
        request: Request<Streaming<Ping>>,
    ) -> std::result::Result<Response<Self::StreamStream>, Status> {
        let mut inbound = request.into_inner();
        // Same buffer as Switchboard's own stream sessions.
        let (tx, rx) = mpsc::channel(256);
        tokio::spawn(async move {
            while let Ok(Some(ping)) = inbound.message().await {
                if tx.send(Ok(ping)).await.is_err() {
                    break;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// `--serve-echo <addr>`: serves until stdin closes (the load generator exited).
pub(crate) fn serve(addr: SocketAddr) -> Result<()> {
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        std::process::exit(0);
    });
    // Same runtime as the switchboard binary's `#[tokio::main]`.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        tonic::transport::Server::builder()
            .add_service(EchoServer::new(EchoService))
            .serve(addr)
            .await
    })?;
    Ok(())
}

/// A ping the size of a typical `InboundMessage`.
pub(crate) fn ping(seq: u64) -> Ping {
    Ping {
        seq,
        adapter_id: String::new(),
        channel: 1,
        channel_conversation_id: format!("e0-{seq}"),
        customer_id: format!("c0-{seq}"),
        clv: 1234.0,
        text: super::gateway::CUSTOMER_TEXT.to_owned(),
        language: "en".to_owned(),
        client_message_id: format!("m{seq}"),
    }
}

/// Result of an echo phase.
#[derive(Debug)]
pub(crate) struct EchoResult {
    pub(crate) window: super::Window,
    pub(crate) latency: Latencies,
}

/// Phase 1: `concurrency` callers in a closed loop, spread over `channels`.
pub(crate) async fn unary(
    server: &super::procs::Server,
    channels: &[Channel],
    concurrency: usize,
    opts: &super::Opts,
) -> Result<EchoResult> {
    let control = Arc::new(Control::default());
    let mut counters = Vec::new();
    let mut workers = Vec::new();
    for i in 0..concurrency {
        let counter = Arc::new(Counter::default());
        counters.push(counter.clone());
        let control = control.clone();
        let mut client = EchoClient::new(channels[i % channels.len()].clone());
        workers.push(tokio::spawn(async move {
            let mut latency = Latencies::default();
            let mut seq = 0u64;
            while !control.stopped() {
                let sent = Instant::now();
                client.unary(ping(seq)).await?;
                seq += 1;
                counter.add(1);
                if control.measuring() {
                    latency.record_since(sent);
                }
            }
            Ok::<_, Status>(latency)
        }));
    }
    let measured = run_phase(&control, server, &counters, opts).await?;
    let mut latency = Latencies::default();
    for w in workers {
        latency.merge(w.await??);
    }
    Ok(EchoResult {
        window: measured,
        latency,
    })
}

/// Phase 2: one bidirectional stream per channel, each keeping `window` pings in flight.
pub(crate) async fn streaming(
    server: &super::procs::Server,
    channels: &[Channel],
    window: usize,
    opts: &super::Opts,
) -> Result<EchoResult> {
    let control = Arc::new(Control::default());
    let mut counters = Vec::new();
    let mut workers = Vec::new();
    for channel in channels {
        let counter = Arc::new(Counter::default());
        counters.push(counter.clone());
        let control = control.clone();
        let (tx, rx) = mpsc::unbounded_channel();
        let mut responses = EchoClient::new(channel.clone())
            .stream(UnboundedReceiverStream::new(rx))
            .await?
            .into_inner();
        workers.push(tokio::spawn(async move {
            let mut latency = Latencies::default();
            let ring = (window * 4).next_power_of_two();
            let mut sent_at = vec![Instant::now(); ring];
            let (mut seq, mut in_flight) = (0u64, 0usize);
            loop {
                while in_flight < window {
                    sent_at[seq as usize & (ring - 1)] = Instant::now();
                    if tx.send(ping(seq)).is_err() {
                        return Err(Status::unavailable("echo stream closed"));
                    }
                    seq += 1;
                    in_flight += 1;
                }
                let Some(pong) = responses.message().await? else {
                    return Err(Status::unavailable("echo stream ended"));
                };
                in_flight -= 1;
                counter.add(1);
                if control.measuring() {
                    latency.record_since(sent_at[pong.seq as usize & (ring - 1)]);
                }
                if control.stopped() {
                    return Ok(latency);
                }
            }
        }));
    }
    let measured = run_phase(&control, server, &counters, opts).await?;
    let mut latency = Latencies::default();
    for w in workers {
        latency.merge(w.await??);
    }
    Ok(EchoResult {
        window: measured,
        latency,
    })
}

/// Channels (one HTTP/2 connection each) to a server.
pub(crate) async fn channels(addr: SocketAddr, n: usize) -> Result<Vec<Channel>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(connect(addr).await?);
    }
    Ok(out)
}
