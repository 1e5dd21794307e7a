//! The agent desk service: one stream per signed-in agent session.
//!
//! How a session ends decides what becomes of the agent. A desk that ends its
//! request stream (a half-close) signs out: its conversations are routed again at
//! once. A stream that breaks (the connection fails, or the client resets or
//! cancels the call) holds the agent for `[routing] agent_reconnect_secs`, so a
//! network blip or a reloaded page does not take its conversations away. tonic
//! reports a cancelled request stream as a clean end, so [`WatchBodyEnd`] tells the
//! session from the HTTP body itself.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use tonic::codegen::{Bytes, http};
use tonic::server::NamedService;
use tonic::{Request, Response, Status, Streaming};

use super::access::{Caller, open_stream};
use super::convert::{self, MAX_ID_BYTES, MAX_NAME_BYTES};
use super::durable_stream::{self, DurableSender, DurableStream};
use super::pb::{self, agent_frame::Action, desk_frame::Frame};
use super::session::{self, PeerEnd, Turn};
use super::status::{draining, invalid, rejected, status_of};
use crate::auth::Role;
use crate::config::Limits;
use crate::routing::{AgentId, Command, ConversationId, Presence, RoutingError, TransferRequest};
use crate::telemetry::metrics::StreamGauge;
use crate::tenants::mailbox::AgentInbox;
use crate::tenants::{SessionEnd, SessionSlot, TenantState, Tenants};

/// Frames buffered towards one desk stream before the session waits for the peer.
const STREAM_BUFFER: usize = 256;

/// Set once a desk call's request body failed rather than ended: the peer reset or
/// cancelled the stream, or the connection broke.
#[derive(Debug, Clone, Default)]
struct BodyBroke(Arc<AtomicBool>);

impl BodyBroke {
    fn get(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Wraps the desk's gRPC service so each call's session can tell a stream the peer
/// ended from one that broke: tonic turns a reset with `CANCEL` into the end of the
/// request stream, indistinguishable from a half-close, so the body notes any error
/// it yields in a [`BodyBroke`] carried in the request's extensions.
#[derive(Debug, Clone)]
pub struct WatchBodyEnd<S>(pub S);

impl<S: NamedService> NamedService for WatchBodyEnd<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> tower_service::Service<http::Request<tonic::body::Body>> for WatchBodyEnd<S>
where
    S: tower_service::Service<http::Request<tonic::body::Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let broke = BodyBroke::default();
        let (mut parts, body) = request.into_parts();
        parts.extensions.insert(broke.clone());
        let body = tonic::body::Body::new(WatchedBody { inner: body, broke });
        self.0.call(http::Request::from_parts(parts, body))
    }
}

/// A request body that sets its [`BodyBroke`] when it yields an error.
struct WatchedBody {
    /// The body as the transport gives it.
    inner: tonic::body::Body,
    /// Set on the first error.
    broke: BodyBroke,
}

impl http_body::Body for WatchedBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Status>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Err(_))) = &polled {
            self.broke.0.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Serves `switchboard.v1.AgentDesk`.
#[derive(Debug, Clone)]
pub struct DeskService {
    tenants: Tenants,
}

impl DeskService {
    /// A desk over every tenant.
    pub fn new(tenants: Tenants) -> DeskService {
        DeskService { tenants }
    }
}

#[tonic::async_trait]
impl pb::agent_desk_server::AgentDesk for DeskService {
    type SessionStream = DurableStream<pb::DeskFrame>;

    async fn session(
        &self,
        request: Request<Streaming<pb::AgentFrame>>,
    ) -> Result<Response<Self::SessionStream>, Status> {
        let (caller, slot) =
            open_stream(&self.tenants, &request, Role::Agent, "AgentDesk/Session")?;
        let (tx, frames) = durable_stream::channel(&self.tenants, STREAM_BUFFER);
        let session = AgentSession {
            caller,
            tenants: self.tenants.clone(),
            token: self.tenants.next_token(),
            tx,
            broke: request
                .extensions()
                .get::<BodyBroke>()
                .cloned()
                .unwrap_or_default(),
            _slot: slot,
        };
        tokio::spawn(session.run(request.into_inner()));
        Ok(Response::new(frames))
    }
}

/// One agent's stream.
struct AgentSession {
    tenants: Tenants,
    caller: Caller,
    /// Identifies this session among the agent's sessions over time.
    token: u64,
    /// Outbound frames, each released once what it reports is durable.
    tx: DurableSender<pb::DeskFrame>,
    /// Whether the request body broke, which a cancelled stream's end hides.
    broke: BodyBroke,
    /// The stream's place under the session limits.
    _slot: SessionSlot,
}

impl AgentSession {
    async fn run(self, mut inbound: Streaming<pb::AgentFrame>) {
        let _gauge = StreamGauge::open("agent");
        let opened = session::opening(&mut inbound, |frame| match frame.action {
            Some(Action::SignIn(sign_in)) => Ok(sign_in),
            _ => Err(invalid("sign_in", "the first frame must sign in")),
        });
        let sign_in = match opened.await {
            Some(Ok(sign_in)) => sign_in,
            Some(Err(status)) => return self.end(rejected(status)).await,
            None => return,
        };
        let (agent, inbox) = match self.sign_in(sign_in) {
            Ok(signed_in) => signed_in,
            Err(status) => return self.end(rejected(status)).await,
        };
        tracing::info!(tenant = %self.caller.tenant.name, agent_id = %agent, "agent signed in");
        let signed_in = Frame::SignedIn(pb::SignedIn {
            agent_id: agent.to_string(),
            offer_timeout_ms: self.tenants.config().routing.offer_timeout_ms as u32,
        });
        let left = if self.send(signed_in).await {
            self.serve(&agent, &mut inbound, &inbox).await
        } else {
            Ok(PeerEnd::Lost)
        };
        let left = match left {
            // tonic ends the request stream of a cancelled call as if the peer had
            // half-closed it; the body knows better.
            Ok(PeerEnd::Closed) if self.broke.get() => PeerEnd::Lost,
            Ok(left) => left,
            // The server ended the session: the agent is signed out as if it left.
            Err(status) => {
                let _ = self.tx.send(Err(status)).await;
                PeerEnd::Closed
            }
        };
        let end = if self.tenants.is_draining() {
            // In a drain with a journal the agent stays signed in, holding its
            // conversations for the next process to give back; without one it is
            // signed out, however it left.
            if self.tenants.carries_over() {
                SessionEnd::CarriedOver
            } else {
                SessionEnd::SignedOut
            }
        } else {
            match left {
                PeerEnd::Closed => SessionEnd::SignedOut,
                // A dropped connection: the desk may be back within the window.
                PeerEnd::Lost => SessionEnd::ConnectionLost,
            }
        };
        let token = self.token;
        self.caller
            .tenant
            .run("sign_out", self.tenants.clock(), |state, now| {
                state.sign_out_agent(now, &agent, token, end);
            });
        match end {
            SessionEnd::ConnectionLost => tracing::info!(
                tenant = %self.caller.tenant.name,
                agent_id = %agent,
                "agent connection lost; its conversations are held for its return"
            ),
            _ => {
                tracing::info!(tenant = %self.caller.tenant.name, agent_id = %agent, "agent signed out")
            }
        }
    }

    fn sign_in(&self, sign_in: pb::SignIn) -> Result<(AgentId, AgentInbox), Status> {
        let sign_in = convert::sign_in(sign_in)?;
        self.caller
            .check_subject("sign_in.agent_id", &sign_in.agent_id)?;
        let agent: AgentId = Arc::from(sign_in.agent_id.as_str());
        let token = self.token;
        let inbox = self
            .caller
            .tenant
            .run("sign_in", self.tenants.clock(), |state, now| {
                state.sign_in_agent(now, agent.clone(), sign_in, token)
            })
            .map_err(status_of)?;
        Ok((agent, inbox))
    }

    /// Serves the signed-in session until the peer leaves (`Ok`, saying how: a peer
    /// that stops reading its responses is lost too) or it must end with a status
    /// (`Err`).
    async fn serve(
        &self,
        agent: &AgentId,
        inbound: &mut Streaming<pb::AgentFrame>,
        inbox: &AgentInbox,
    ) -> Result<PeerEnd, Status> {
        let stopped = self.tenants.stopped();
        tokio::pin!(stopped);
        loop {
            match session::next_turn(stopped.as_mut(), inbox.notify.notified(), inbound).await {
                Turn::Stopped => {
                    // What shutting down told the agent goes out first.
                    if !self.deliver(inbox).await {
                        return Ok(PeerEnd::Lost);
                    }
                    return Err(draining());
                }
                Turn::Work(()) => {
                    if !self.deliver(inbox).await {
                        return Ok(PeerEnd::Lost);
                    }
                    if inbox.replaced() {
                        return Err(Status::aborted(
                            "replaced by a newer session of the same agent",
                        ));
                    }
                    if inbox.overflowed() {
                        return Err(rejected(Status::resource_exhausted(
                            "agent stream read too slowly; signed out and conversations routed again",
                        )));
                    }
                }
                Turn::Frame(first) => {
                    let burst = session::burst(first, inbound).await;
                    for reply in self.handle_burst(agent, burst.frames) {
                        if !self.answer(reply).await {
                            return Ok(PeerEnd::Lost);
                        }
                    }
                    if let Some(end) = burst.peer_gone {
                        return Ok(end);
                    }
                }
                Turn::PeerGone(end) => return Ok(end),
            }
        }
    }

    /// Runs a burst of actions in order, all under one tenant lock; answers each
    /// with `done` or `rejected`.
    fn handle_burst(&self, agent: &AgentId, frames: Vec<pb::AgentFrame>) -> Vec<Frame> {
        let limits = &self.tenants.config().limits;
        let checked: Vec<(String, Result<DeskCommand, Status>)> = frames
            .into_iter()
            .map(|frame| {
                let command = self
                    .caller
                    .admit_frame(&self.tenants)
                    .and_then(|()| convert::bounded("request_id", &frame.request_id, MAX_ID_BYTES))
                    .and_then(|()| DeskCommand::validate(frame.action, limits));
                (frame.request_id, command)
            })
            .collect();
        let Some(operation) = checked
            .iter()
            .find_map(|(_, command)| command.as_ref().ok().map(DeskCommand::name))
        else {
            return checked
                .into_iter()
                .map(|(request_id, command)| answer_of(request_id, command.map(|_| ())))
                .collect();
        };
        let results: Vec<(String, Result<(), Status>)> =
            self.caller
                .tenant
                .run(operation, self.tenants.clock(), |state, now| {
                    let started = std::time::Instant::now();
                    checked
                        .into_iter()
                        .map(|(request_id, command)| {
                            let result = command.and_then(|command| {
                                command
                                    .check_room(state)
                                    .and_then(|()| state.execute(now, command.into_command(agent)))
                                    .map(|_| ())
                                    .map_err(status_of)
                            });
                            // The next reply's room check sees this one's delivery.
                            state.settle(now, started);
                            (request_id, result)
                        })
                        .collect()
                });
        results
            .into_iter()
            .map(|(request_id, result)| answer_of(request_id, result))
            .collect()
    }

    /// Queues the answer to an action: a `done` goes out once what it confirms is
    /// durable, or becomes a `rejected` with `UNAVAILABLE` if the journal cannot write
    /// it. The session reads on meanwhile. False once the peer is gone.
    async fn answer(&self, reply: Frame) -> bool {
        let Frame::Done(done) = &reply else {
            return self.send(reply).await;
        };
        let instead = Frame::Rejected(pb::RequestRejected {
            request_id: done.request_id.clone(),
            code: tonic::Code::Unavailable as i32,
            message: crate::storage::NotDurable.to_string(),
        });
        let frame = |f| pb::DeskFrame { frame: Some(f) };
        self.tx.confirm(frame(reply), frame(instead)).await
    }

    /// Queues every notice waiting in the inbox; each goes out once the change that
    /// produced it is durable. False when the peer is gone.
    async fn deliver(&self, inbox: &AgentInbox) -> bool {
        for notice in inbox.take() {
            if !self.tx.send(Ok(convert::desk_frame(notice))).await {
                return false;
            }
        }
        true
    }

    /// Sends a frame; false when the peer is gone.
    async fn send(&self, frame: Frame) -> bool {
        self.tx.send(Ok(pb::DeskFrame { frame: Some(frame) })).await
    }

    /// Ends the stream with a status.
    async fn end(self, status: Status) {
        let _ = self.tx.send(Err(status)).await;
    }
}

/// The answer to one action: `done`, or `rejected` naming why.
fn answer_of(request_id: String, result: Result<(), Status>) -> Frame {
    match result {
        Ok(()) => Frame::Done(pb::RequestDone { request_id }),
        Err(status) => {
            let status = rejected(status);
            Frame::Rejected(pb::RequestRejected {
                request_id,
                code: status.code() as i32,
                message: status.message().to_owned(),
            })
        }
    }
}

/// A validated desk action.
enum DeskCommand {
    SetPresence(Presence),
    Accept(String),
    Decline(String),
    Reply(String, String),
    Transfer(String, TransferRequest),
    Close(String),
}

impl DeskCommand {
    /// Checks an action frame's fields.
    fn validate(action: Option<Action>, limits: &Limits) -> Result<DeskCommand, Status> {
        let conversation =
            |field: &str, id: String| convert::id(field, &id, MAX_ID_BYTES).map(|()| id);
        Ok(match action {
            Some(Action::SignIn(_)) => {
                return Err(Status::failed_precondition(
                    "sign_in: already signed in on this stream",
                ));
            }
            Some(Action::SetPresence(p)) => DeskCommand::SetPresence(convert::presence(
                "set_presence.presence",
                p.presence,
                None,
            )?),
            Some(Action::Accept(c)) => {
                DeskCommand::Accept(conversation("accept.conversation_id", c.conversation_id)?)
            }
            Some(Action::Decline(d)) => {
                convert::bounded("decline.reason", &d.reason, MAX_NAME_BYTES)?;
                let id = conversation("decline.conversation_id", d.conversation_id)?;
                tracing::info!(conversation_id = %id, reason = %d.reason, "offer declined");
                DeskCommand::Decline(id)
            }
            Some(Action::Reply(m)) => {
                let id = conversation("reply.conversation_id", m.conversation_id)?;
                convert::text("reply.text", &m.text, limits)?;
                DeskCommand::Reply(id, m.text)
            }
            Some(Action::Transfer(t)) => {
                let id = conversation("transfer.conversation_id", t.conversation_id)?;
                DeskCommand::Transfer(id, convert::transfer_target(t.target)?)
            }
            Some(Action::Close(c)) => {
                DeskCommand::Close(conversation("close.conversation_id", c.conversation_id)?)
            }
            None => return Err(invalid("action", "must be set")),
        })
    }

    /// Operation name for metrics.
    fn name(&self) -> &'static str {
        match self {
            DeskCommand::SetPresence(_) => "set_presence",
            DeskCommand::Accept(_) => "accept",
            DeskCommand::Decline(_) => "decline",
            DeskCommand::Reply(..) => "reply",
            DeskCommand::Transfer(..) => "transfer",
            DeskCommand::Close(_) => "close",
        }
    }

    /// Refuses a reply or close the customer's adapter has no room for, so the
    /// agent is told rather than the message dropped.
    fn check_room(&self, state: &TenantState) -> Result<(), RoutingError> {
        let (id, bytes) = match self {
            DeskCommand::Reply(id, text) => (id, text.len() + 256),
            DeskCommand::Close(id) => (id, 256),
            _ => return Ok(()),
        };
        let Ok(conversation) = id.parse::<ConversationId>() else {
            return Ok(());
        };
        if state.customer_has_room(conversation, bytes) {
            return Ok(());
        }
        crate::telemetry::metrics::record_limited("adapter_mailbox");
        Err(RoutingError::Exhausted(format!(
            "conversation {id}: the customer's channel adapter is not taking deliveries \
             (its mailbox is full); nothing was sent, retry shortly"
        )))
    }

    /// The router command that carries out this action for `agent`.
    fn into_command(self, agent: &str) -> Command {
        let agent = agent.to_owned();
        match self {
            DeskCommand::SetPresence(presence) => Command::SetPresence { agent, presence },
            DeskCommand::Accept(conversation) => Command::Accept {
                agent,
                conversation,
            },
            DeskCommand::Decline(conversation) => Command::Decline {
                agent,
                conversation,
            },
            DeskCommand::Reply(conversation, text) => Command::Reply {
                agent,
                conversation,
                text,
            },
            DeskCommand::Transfer(conversation, target) => Command::Transfer {
                agent,
                conversation,
                target,
            },
            DeskCommand::Close(conversation) => Command::Close {
                agent,
                conversation,
            },
        }
    }
}
