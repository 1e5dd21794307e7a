//! The channel gateway service: channel adapters' way in and out.

use std::sync::Arc;

use tonic::{Request, Response, Status, Streaming};

use super::access::{Caller, authorize, open_stream};
use super::convert::{self, MAX_EXTERNAL_ID_BYTES, MAX_ID_BYTES};
use super::durable_stream::{self, DurableSender, DurableStream};
use super::pb::{self, adapter_frame::Frame, gateway_frame};
use super::session::{self, Turn};
use super::status::{draining, invalid, rejected, settled, status_of};
use crate::auth::Role;
use crate::routing::{self, AdapterId, Applied, Command, MessageOutcome, RoutingError};
use crate::telemetry::metrics::StreamGauge;
use crate::tenants::mailbox::{AdapterOutbox, Attached};
use crate::tenants::tenant::{Replies, Tenant, TenantState};
use crate::tenants::{SessionSlot, Tenants};

/// Frames buffered towards one adapter stream before the session waits for the peer.
const STREAM_BUFFER: usize = 256;

/// Serves `switchboard.v1.ChannelGateway`.
#[derive(Debug, Clone)]
pub struct GatewayService {
    tenants: Tenants,
}

impl GatewayService {
    /// A gateway over every tenant.
    pub fn new(tenants: Tenants) -> GatewayService {
        GatewayService { tenants }
    }

    fn caller<T>(&self, request: &Request<T>, action: &'static str) -> Result<Caller, Status> {
        authorize(&self.tenants, request, Role::Adapter, action)
    }
}

/// Hands one customer message to the router; with `inline`, the notices for this
/// conversation's adapter come back instead of going to the mailbox.
fn submit(
    tenants: &Tenants,
    tenant: &Arc<Tenant>,
    msg: routing::InboundMessage,
    inline: bool,
) -> Result<(MessageOutcome, Replies), Status> {
    if tenants.is_draining() {
        return Err(rejected(draining()));
    }
    let adapter = msg.adapter.clone();
    let (result, replies) = tenant.run_inline("customer_message", tenants.clock(), |state, now| {
        let result = file_message(state, now, msg, inline);
        let keep = match (&result, inline) {
            (Ok(outcome), true) => Some((adapter, outcome.conversation)),
            _ => None,
        };
        (result, keep)
    });
    let outcome = result.map_err(|e| rejected(status_of(e)))?;
    Ok((outcome, replies))
}

/// Hands a stream's burst of customer messages to the router under one tenant lock
/// and one journal append; one result per message, in order.
fn submit_burst(
    tenants: &Tenants,
    tenant: &Arc<Tenant>,
    messages: Vec<routing::InboundMessage>,
) -> Vec<Result<MessageOutcome, Status>> {
    if tenants.is_draining() {
        return messages.iter().map(|_| Err(rejected(draining()))).collect();
    }
    tenant
        .run("customer_message", tenants.clock(), |state, now| {
            let started = std::time::Instant::now();
            messages
                .into_iter()
                .map(|msg| {
                    let result = file_message(state, now, msg, false);
                    state.settle(now, started);
                    result
                })
                .collect::<Vec<_>>()
        })
        .into_iter()
        .map(|result| result.map_err(|e| rejected(status_of(e))))
        .collect()
}

/// Files one customer message with the tenant locked.
fn file_message(
    state: &mut TenantState,
    now: routing::Millis,
    msg: routing::InboundMessage,
    inline: bool,
) -> Result<MessageOutcome, RoutingError> {
    // Back-pressure: an adapter that does not take its deliveries gets no new work,
    // rather than a mailbox that overflows and drops the oldest.
    if state.adapter_is_backlogged(&msg.adapter) {
        return Err(RoutingError::Exhausted(format!(
            "adapter {:?} has too many undelivered messages; \
             read and acknowledge deliveries, then retry",
            msg.adapter
        )));
    }
    let command = Command::CustomerMessage(msg);
    let applied = if inline {
        state.execute_inline(now, command)
    } else {
        state.execute(now, command)
    }?;
    match applied {
        Applied::Message(outcome) => Ok(outcome),
        _ => unreachable!("a customer message files a message"),
    }
}

fn abandon(
    tenants: &Tenants,
    tenant: &Arc<Tenant>,
    req: pb::AbandonRequest,
) -> Result<String, Status> {
    let channel = convert::channel("channel", req.channel).map_err(rejected)?;
    convert::id(
        "channel_conversation_id",
        &req.channel_conversation_id,
        MAX_EXTERNAL_ID_BYTES,
    )
    .map_err(rejected)?;
    if req.customer_id.is_empty() {
        return Err(rejected(invalid(
            "customer_id",
            "required: the customer who opened the conversation",
        )));
    }
    convert::id("customer_id", &req.customer_id, MAX_EXTERNAL_ID_BYTES).map_err(rejected)?;
    tenant
        .run("abandon", tenants.clock(), |state, now| {
            state.execute(
                now,
                Command::Abandon {
                    channel,
                    channel_conversation_id: req.channel_conversation_id,
                    customer_id: req.customer_id,
                },
            )
        })
        .map(|applied| match applied {
            Applied::Abandoned(id) => id.to_string(),
            _ => unreachable!("an abandon names its conversation"),
        })
        .map_err(|e| rejected(status_of(e)))
}

#[tonic::async_trait]
impl pb::channel_gateway_server::ChannelGateway for GatewayService {
    type SessionStream = DurableStream<pb::GatewayFrame>;

    async fn session(
        &self,
        request: Request<Streaming<pb::AdapterFrame>>,
    ) -> Result<Response<Self::SessionStream>, Status> {
        let (caller, slot) = open_stream(
            &self.tenants,
            &request,
            Role::Adapter,
            "ChannelGateway/Session",
        )?;
        let (tx, frames) = durable_stream::channel(&self.tenants, STREAM_BUFFER);
        let session = AdapterSession {
            tenants: self.tenants.clone(),
            caller,
            tx,
            _slot: slot,
        };
        tokio::spawn(session.run(request.into_inner()));
        Ok(Response::new(frames))
    }

    async fn submit(
        &self,
        request: Request<pb::InboundMessage>,
    ) -> Result<Response<pb::SubmitResponse>, Status> {
        let caller = self.caller(&request, "ChannelGateway/Submit")?;
        let msg =
            convert::inbound_message(request.into_inner(), None, &self.tenants.config().limits)
                .map_err(rejected)?;
        caller.check_subject("adapter_id", &msg.adapter)?;
        let (outcome, replies) = submit(&self.tenants, &caller.tenant, msg, true)?;
        // The bot's first answer comes back in the response too, once it is there.
        let replies = replies.all().await;
        settled(&self.tenants).await?;
        Ok(Response::new(pb::SubmitResponse {
            conversation_id: outcome.conversation.to_string(),
            created: outcome.created,
            replies: replies.iter().map(|n| convert::delivery(0, n)).collect(),
        }))
    }

    async fn abandon(
        &self,
        request: Request<pb::AbandonRequest>,
    ) -> Result<Response<pb::AbandonResponse>, Status> {
        let caller = self.caller(&request, "ChannelGateway/Abandon")?;
        let conversation_id = abandon(&self.tenants, &caller.tenant, request.into_inner())?;
        settled(&self.tenants).await?;
        Ok(Response::new(pb::AbandonResponse { conversation_id }))
    }
}

/// The answer that refuses a frame, naming why.
fn refuse(client_message_id: String, status: Status) -> gateway_frame::Frame {
    gateway_frame::Frame::Rejected(pb::FrameRejected {
        client_message_id,
        code: status.code() as i32,
        message: status.message().to_owned(),
    })
}

/// Consecutive customer messages of a burst, waiting to be filed together.
#[derive(Default)]
struct MessageRun {
    messages: Vec<routing::InboundMessage>,
    /// Where each message's answer goes among the burst's answers, and its client id.
    slots: Vec<(usize, String)>,
}

impl MessageRun {
    fn push(&mut self, slot: usize, client_message_id: String, msg: routing::InboundMessage) {
        self.messages.push(msg);
        self.slots.push((slot, client_message_id));
    }
}

/// What woke an adapter stream.
#[derive(Debug)]
enum Signal {
    /// A newer stream of the same adapter id attached.
    Replaced,
    /// There are deliveries to send.
    Deliveries,
}

/// How writing a stream's unsent deliveries went.
#[derive(Debug, PartialEq, Eq)]
enum Sent {
    /// Everything was written.
    All,
    /// A newer stream of the adapter id attached: nothing is this stream's to send.
    Replaced,
    /// The peer went away.
    PeerGone,
}

/// What one attached stream of an adapter id works with.
struct Attachment<'a> {
    adapter: &'a AdapterId,
    /// Identifies this stream among the adapter id's streams over time.
    token: u64,
    /// The adapter id's deliveries.
    outbox: &'a AdapterOutbox,
    /// The signals this stream listens to.
    attached: &'a Attached,
}

/// One adapter stream: inbound frames in, deliveries out.
struct AdapterSession {
    tenants: Tenants,
    caller: Caller,
    /// Outbound frames, each released once what it reports is durable.
    tx: DurableSender<pb::GatewayFrame>,
    /// The stream's place under the session limits.
    _slot: SessionSlot,
}

impl AdapterSession {
    async fn run(self, mut inbound: Streaming<pb::AdapterFrame>) {
        let _gauge = StreamGauge::open("adapter");
        let opened = session::opening(&mut inbound, |frame| match frame.frame {
            Some(Frame::Hello(hello)) => {
                convert::id("hello.adapter_id", &hello.adapter_id, MAX_ID_BYTES)
                    .map_err(rejected)
                    .and_then(|()| {
                        self.caller
                            .check_subject("hello.adapter_id", &hello.adapter_id)
                    })
                    .map(|()| AdapterId::from(hello.adapter_id.as_str()))
            }
            _ => Err(rejected(Status::invalid_argument(
                "hello: the first frame must be a hello",
            ))),
        });
        let adapter = match opened.await {
            Some(Ok(adapter)) => adapter,
            Some(Err(status)) => return self.end(status).await,
            None => return,
        };
        let token = self.tenants.next_token();
        // The adapter id is this principal's: a newer stream of it replaces an older
        // one at once (a reconnect after a network break), and the older one ends.
        let outbox = self
            .caller
            .tenant
            .lock_for("adapter_connect")
            .adapter_outbox(&adapter)
            .clone();
        let attached = outbox.lock().connect(token);
        tracing::info!(tenant = %self.caller.tenant.name, adapter_id = %adapter, "adapter connected");
        let welcome = gateway_frame::Frame::Welcome(pb::AdapterWelcome {
            pending_deliveries: attached.pending as u32,
        });
        let stream = Attachment {
            adapter: &adapter,
            token,
            outbox: &outbox,
            attached: &attached,
        };
        if self.send(welcome).await {
            self.serve(&stream, &mut inbound).await;
        }
        outbox.lock().disconnect(token);
        tracing::info!(tenant = %self.caller.tenant.name, adapter_id = %adapter, "adapter disconnected");
    }

    async fn serve(&self, stream: &Attachment<'_>, inbound: &mut Streaming<pb::AdapterFrame>) {
        let attached = stream.attached;
        let replaced = || Status::aborted("replaced by a newer stream of the same adapter id");
        let stopped = self.tenants.stopped();
        tokio::pin!(stopped);
        loop {
            let signalled = async {
                tokio::select! {
                    () = attached.replaced.notified() => Signal::Replaced,
                    () = attached.wake.notified() => Signal::Deliveries,
                }
            };
            match session::next_turn(stopped.as_mut(), signalled, inbound).await {
                Turn::Stopped => {
                    // What shutting down told the customers goes out first.
                    if self.send_unsent(stream).await != Sent::PeerGone {
                        let _ = self.tx.send(Err(draining())).await;
                    }
                    return;
                }
                Turn::Work(Signal::Replaced) => {
                    let _ = self.tx.send(Err(replaced())).await;
                    return;
                }
                Turn::Work(Signal::Deliveries) => match self.send_unsent(stream).await {
                    Sent::All => {}
                    Sent::Replaced => {
                        let _ = self.tx.send(Err(replaced())).await;
                        return;
                    }
                    Sent::PeerGone => return,
                },
                Turn::Frame(first) => {
                    let burst = session::burst(first, inbound).await;
                    for reply in self.handle_burst(stream, burst.frames) {
                        if !self.answer(reply).await {
                            return;
                        }
                    }
                    if burst.peer_gone.is_some() {
                        return;
                    }
                }
                Turn::PeerGone(_) => return,
            }
        }
    }

    /// Handles a burst of frames after the hello, in order; returns the frames to
    /// answer with. Consecutive customer messages are filed together.
    fn handle_burst(
        &self,
        stream: &Attachment<'_>,
        frames: Vec<pb::AdapterFrame>,
    ) -> Vec<gateway_frame::Frame> {
        let mut replies: Vec<Option<gateway_frame::Frame>> = Vec::with_capacity(frames.len());
        let mut run = MessageRun::default();
        for frame in frames {
            match frame.frame {
                Some(Frame::Message(msg)) => {
                    let client_message_id = msg.client_message_id.clone();
                    let checked = self.caller.admit_frame(&self.tenants).and_then(|()| {
                        convert::inbound_message(
                            msg,
                            Some(stream.adapter),
                            &self.tenants.config().limits,
                        )
                        .map_err(rejected)
                    });
                    match checked {
                        Ok(msg) => run.push(replies.len(), client_message_id, msg),
                        Err(status) => {
                            replies.push(Some(refuse(client_message_id, status)));
                            continue;
                        }
                    }
                    replies.push(None);
                }
                other => {
                    // Anything else may depend on the messages before it (an abandon
                    // of a conversation they opened): those are filed first.
                    self.file_run(&mut run, &mut replies);
                    replies.push(self.handle(stream, other));
                }
            }
        }
        self.file_run(&mut run, &mut replies);
        replies.into_iter().flatten().collect()
    }

    /// Files the customer messages collected so far and fills in their answers.
    fn file_run(&self, run: &mut MessageRun, replies: &mut [Option<gateway_frame::Frame>]) {
        if run.messages.is_empty() {
            return;
        }
        let messages = std::mem::take(&mut run.messages);
        let results = submit_burst(&self.tenants, &self.caller.tenant, messages);
        for ((slot, client_message_id), result) in run.slots.drain(..).zip(results) {
            replies[slot] = Some(match result {
                Ok(outcome) => gateway_frame::Frame::Accepted(pb::MessageAccepted {
                    client_message_id,
                    conversation_id: outcome.conversation.to_string(),
                    created: outcome.created,
                }),
                Err(status) => refuse(client_message_id, status),
            });
        }
    }

    /// Handles one frame other than a customer message; returns the frame to answer
    /// with, if any.
    fn handle(
        &self,
        stream: &Attachment<'_>,
        frame: Option<Frame>,
    ) -> Option<gateway_frame::Frame> {
        match frame {
            Some(Frame::Message(_)) => unreachable!("customer messages are filed in runs"),
            Some(Frame::Abandon(req)) => Some(
                match self
                    .caller
                    .admit_frame(&self.tenants)
                    .and_then(|()| abandon(&self.tenants, &self.caller.tenant, req))
                {
                    Ok(conversation_id) => gateway_frame::Frame::Accepted(pb::MessageAccepted {
                        client_message_id: String::new(),
                        conversation_id,
                        created: false,
                    }),
                    Err(status) => refuse(String::new(), status),
                },
            ),
            Some(Frame::Ack(ack)) => {
                // The stream's own mailbox, not the tenant: acknowledging never waits
                // on the router.
                let now = self.tenants.clock().now();
                stream.outbox.lock().acknowledge(
                    ack.up_to_delivery_id,
                    now,
                    self.tenants.carries_over(),
                );
                None
            }
            Some(Frame::Hello(_)) => Some(refuse(
                String::new(),
                rejected(Status::failed_precondition(
                    "hello: already said on this stream",
                )),
            )),
            None => Some(refuse(
                String::new(),
                rejected(Status::invalid_argument("frame: must be set")),
            )),
        }
    }

    /// Queues the answer to a frame: an `accepted` goes out once what it accepts is
    /// durable, or becomes a `rejected` with `UNAVAILABLE` if the journal cannot write
    /// it. The session reads on meanwhile. False once the peer is gone.
    async fn answer(&self, reply: gateway_frame::Frame) -> bool {
        let gateway_frame::Frame::Accepted(accepted) = &reply else {
            return self.send(reply).await;
        };
        let instead = gateway_frame::Frame::Rejected(pb::FrameRejected {
            client_message_id: accepted.client_message_id.clone(),
            code: tonic::Code::Unavailable as i32,
            message: crate::storage::NotDurable.to_string(),
        });
        let frame = |f| pb::GatewayFrame { frame: Some(f) };
        self.tx.confirm(frame(reply), frame(instead)).await
    }

    /// Queues the deliveries this stream has not sent yet; each goes out once the
    /// change that produced it is durable (the stream ends with `UNAVAILABLE` if the
    /// journal cannot write it, and the adapter gets it again when it reconnects).
    async fn send_unsent(&self, stream: &Attachment<'_>) -> Sent {
        // The stream's own mailbox, not the tenant: taking deliveries never waits on
        // the router.
        let unsent = stream.outbox.lock().take_unsent(stream.token);
        let Some(unsent) = unsent else {
            return Sent::Replaced;
        };
        for d in unsent {
            let frame = gateway_frame::Frame::Delivery(convert::delivery(d.id, &d.notice));
            if !self.send(frame).await {
                return Sent::PeerGone;
            }
        }
        Sent::All
    }

    /// Sends a frame; false when the peer is gone.
    async fn send(&self, frame: gateway_frame::Frame) -> bool {
        self.tx
            .send(Ok(pb::GatewayFrame { frame: Some(frame) }))
            .await
    }

    /// Ends the stream with a status.
    async fn end(self, status: Status) {
        let _ = self.tx.send(Err(status)).await;
    }
}
