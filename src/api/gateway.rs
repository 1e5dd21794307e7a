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
use crate::hub::mailbox::{AdapterOutbox, Attached};
use crate::hub::tenant::{Replies, Tenant};
use crate::hub::{Hub, SessionSlot};
use crate::routing::{self, AdapterId, Applied, Command, MessageOutcome, RoutingError};
use crate::telemetry::metrics::StreamGauge;

/// Frames buffered towards one adapter stream before the session waits for the peer.
const STREAM_BUFFER: usize = 256;

/// Serves `switchboard.v1.ChannelGateway`.
#[derive(Debug, Clone)]
pub struct GatewayService {
    hub: Hub,
}

impl GatewayService {
    /// A gateway over the hub's tenants.
    pub fn new(hub: Hub) -> GatewayService {
        GatewayService { hub }
    }

    fn caller<T>(&self, request: &Request<T>, action: &'static str) -> Result<Caller, Status> {
        authorize(&self.hub, request, Role::Adapter, action)
    }
}

/// Hands one customer message to the router; with `inline`, the notices for this
/// conversation's adapter come back instead of going to the mailbox.
fn submit(
    hub: &Hub,
    tenant: &Arc<Tenant>,
    msg: routing::InboundMessage,
    inline: bool,
) -> Result<(MessageOutcome, Replies), Status> {
    if hub.is_draining() {
        return Err(rejected(draining()));
    }
    let adapter = msg.adapter.clone();
    let (result, replies) = tenant.run_inline("customer_message", hub.clock(), |state, now| {
        // Back-pressure: an adapter that does not take its deliveries gets no new
        // work, rather than a mailbox that overflows and drops the oldest.
        if state.adapter_is_backlogged(&adapter) {
            let refused = Err(RoutingError::Exhausted(format!(
                "adapter {adapter:?} has too many undelivered messages; \
                 read and acknowledge deliveries, then retry"
            )));
            return (refused, None);
        }
        let command = Command::CustomerMessage(msg);
        let result = if inline {
            state.execute_inline(now, command)
        } else {
            state.execute(now, command)
        }
        .map(|applied| match applied {
            Applied::Message(outcome) => outcome,
            _ => unreachable!("a customer message files a message"),
        });
        let keep = match (&result, inline) {
            (Ok(outcome), true) => Some((adapter, outcome.conversation)),
            _ => None,
        };
        (result, keep)
    });
    let outcome = result.map_err(|e| rejected(status_of(e)))?;
    Ok((outcome, replies))
}

fn abandon(hub: &Hub, tenant: &Arc<Tenant>, req: pb::AbandonRequest) -> Result<String, Status> {
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
        .run("abandon", hub.clock(), |state, now| {
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
        let (caller, slot) =
            open_stream(&self.hub, &request, Role::Adapter, "ChannelGateway/Session")?;
        let (tx, frames) = durable_stream::channel(&self.hub, STREAM_BUFFER);
        let session = AdapterSession {
            hub: self.hub.clone(),
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
        let msg = convert::inbound_message(request.into_inner(), None, &self.hub.config().limits)
            .map_err(rejected)?;
        caller.check_subject("adapter_id", &msg.adapter)?;
        let (outcome, replies) = submit(&self.hub, &caller.tenant, msg, true)?;
        // The bot's first answer comes back in the response too, once it is there.
        let replies = replies.all().await;
        settled(&self.hub).await?;
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
        let conversation_id = abandon(&self.hub, &caller.tenant, request.into_inner())?;
        settled(&self.hub).await?;
        Ok(Response::new(pb::AbandonResponse { conversation_id }))
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
    hub: Hub,
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
        let token = self.hub.next_token();
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
        let stopped = self.hub.stopped();
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
                Turn::Frame(frame) => {
                    if let Some(reply) = self.handle(stream, frame)
                        && !self.answer(reply).await
                    {
                        return;
                    }
                }
                Turn::PeerGone => return,
            }
        }
    }

    /// Handles one frame after the hello; returns the frame to answer with, if any.
    fn handle(
        &self,
        stream: &Attachment<'_>,
        frame: pb::AdapterFrame,
    ) -> Option<gateway_frame::Frame> {
        let adapter = stream.adapter;
        let refuse = |client_message_id: String, status: Status| {
            gateway_frame::Frame::Rejected(pb::FrameRejected {
                client_message_id,
                code: status.code() as i32,
                message: status.message().to_owned(),
            })
        };
        match frame.frame {
            Some(Frame::Message(msg)) => {
                let client_message_id = msg.client_message_id.clone();
                let result = self
                    .caller
                    .admit_frame(&self.hub)
                    .and_then(|()| {
                        convert::inbound_message(msg, Some(adapter), &self.hub.config().limits)
                            .map_err(rejected)
                    })
                    .and_then(|msg| submit(&self.hub, &self.caller.tenant, msg, false));
                Some(match result {
                    Ok((outcome, _)) => gateway_frame::Frame::Accepted(pb::MessageAccepted {
                        client_message_id,
                        conversation_id: outcome.conversation.to_string(),
                        created: outcome.created,
                    }),
                    Err(status) => refuse(client_message_id, status),
                })
            }
            Some(Frame::Abandon(req)) => Some(
                match self
                    .caller
                    .admit_frame(&self.hub)
                    .and_then(|()| abandon(&self.hub, &self.caller.tenant, req))
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
                let now = self.hub.clock().now();
                stream.outbox.lock().acknowledge(
                    ack.up_to_delivery_id,
                    now,
                    self.hub.carries_over(),
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
