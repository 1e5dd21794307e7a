//! Test harness: a real server on loopback and real tonic clients for adapters,
//! agents and admin.

pub(crate) mod credentials;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use switchboard::api::pb;
use switchboard::api::pb::{
    admin_client::AdminClient, agent_desk_client::AgentDeskClient, bot_pool_client::BotPoolClient,
    channel_gateway_client::ChannelGatewayClient,
};
use switchboard::config::{BotConfig, Config, LogFormat};
use switchboard::storage::{Durability, StorageSettings};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Code, Request, Status, Streaming};

/// How long a test waits for something that should happen at once.
pub(crate) const PROMPT: Duration = Duration::from_secs(5);

/// A server running in this process.
pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    pub(crate) metrics_addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
}

/// Default test configuration: short timeouts so timer tests run fast, no bot
/// channels, so conversations queue for agents at once (the bot tests turn bots on),
/// and two more declared tenants, `acme` and `globex`, beside `default`.
pub(crate) fn test_config() -> Config {
    Config {
        log_format: LogFormat::Text,
        shutdown_grace_secs: 5,
        bot: BotConfig {
            channels: Vec::new(),
            ..BotConfig::default()
        },
        tenants: ["acme", "globex"]
            .into_iter()
            .map(|t| (t.to_owned(), toml::Table::new()))
            .collect(),
        // Memory only unless a test asks for a journal (in its own temporary
        // directory): tests run in parallel and must not share a data directory.
        storage: StorageSettings {
            durability: Durability::Off,
            ..StorageSettings::default()
        },
        ..Config::default()
    }
}

/// Test configuration with the product's default bot settings: a bot serves web chat
/// first.
pub(crate) fn bot_config() -> Config {
    Config {
        bot: BotConfig::default(),
        ..test_config()
    }
}

/// `config` with an fsync journal in `dir` (a test's own directory: tests run in
/// parallel).
pub(crate) fn journaled_in(dir: &std::path::Path, config: Config) -> Config {
    Config {
        storage: switchboard::storage::StorageSettings {
            durability: switchboard::storage::Durability::Fsync,
            data_dir: dir.to_owned(),
            ..config.storage
        },
        ..config
    }
}

/// Starts a server on 127.0.0.1 with ephemeral ports.
pub(crate) async fn spawn_server(config: Config) -> TestServer {
    let grpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = grpc.local_addr().unwrap();
    let metrics_addr = metrics.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(switchboard::run(config, grpc, metrics, async {
        let _ = rx.await;
    }));
    TestServer {
        addr,
        metrics_addr,
        shutdown: Some(tx),
        handle: Some(handle),
    }
}

impl TestServer {
    pub(crate) async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    pub(crate) async fn gateway(&self) -> ChannelGatewayClient<Channel> {
        ChannelGatewayClient::new(self.channel().await)
    }

    pub(crate) async fn bot_pool(&self) -> BotPoolClient<Channel> {
        BotPoolClient::new(self.channel().await)
    }

    pub(crate) async fn admin(&self) -> AdminClient<Channel> {
        AdminClient::new(self.channel().await)
    }

    /// Triggers shutdown and waits for `run` to return.
    pub(crate) async fn shutdown(mut self) -> anyhow::Result<()> {
        let _ = self.shutdown.take().unwrap().send(());
        self.handle.take().unwrap().await.unwrap()
    }

    /// Starts shutdown without waiting.
    pub(crate) fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Waits for `run` to return after `begin_shutdown`.
    pub(crate) async fn finished(mut self) -> anyhow::Result<()> {
        self.handle.take().unwrap().await.unwrap()
    }

    /// Submits a message (unary) for `channel_conversation_id` with a CLV.
    pub(crate) async fn submit(
        &self,
        tenant: Option<&str>,
        key: &str,
        clv: f64,
    ) -> pb::SubmitResponse {
        let mut request = Request::new(message(key, clv, "hello"));
        if let Some(t) = tenant {
            request
                .metadata_mut()
                .insert("x-switchboard-tenant", t.parse().unwrap());
        }
        self.gateway()
            .await
            .submit(request)
            .await
            .unwrap()
            .into_inner()
    }

    /// Why a conversation is routed where it is (`Admin/ExplainConversation`).
    pub(crate) async fn explain(&self, id: &str) -> Result<pb::Explanation, Status> {
        self.admin()
            .await
            .explain_conversation(pb::ExplainConversationRequest {
                conversation_id: id.to_owned(),
                limit: 0,
            })
            .await
            .map(|r| r.into_inner())
    }

    /// The admin view of a conversation.
    pub(crate) async fn conversation(&self, id: &str) -> Result<pb::ConversationView, Status> {
        self.admin()
            .await
            .get_conversation(pb::GetConversationRequest {
                conversation_id: id.to_owned(),
            })
            .await
            .map(|r| r.into_inner())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.begin_shutdown();
    }
}

/// A valid customer message from the web channel.
pub(crate) fn message(key: &str, clv: f64, text: &str) -> pb::InboundMessage {
    pb::InboundMessage {
        adapter_id: "web-adapter".into(),
        channel: pb::Channel::Web as i32,
        channel_conversation_id: key.to_owned(),
        customer: Some(pb::Customer {
            customer_id: format!("customer-{key}"),
            display_name: String::new(),
            value: Some(pb::CustomerValue {
                clv: Some(clv),
                ..Default::default()
            }),
            identifiers: Vec::new(),
        }),
        text: text.to_owned(),
        language: "en".into(),
        ..Default::default()
    }
}

/// Frames a bidirectional stream has delivered but the test has not consumed yet.
pub(crate) struct Inbox<T> {
    stream: Streaming<T>,
    kept: VecDeque<T>,
}

impl<T> Inbox<T> {
    fn new(stream: Streaming<T>) -> Inbox<T> {
        Inbox {
            stream,
            kept: VecDeque::new(),
        }
    }

    /// The next frame for which `pick` returns `Some`, keeping the others for later.
    pub(crate) async fn next_matching<R>(&mut self, mut pick: impl FnMut(&T) -> Option<R>) -> R {
        if let Some(i) = self.kept.iter().position(|f| pick(f).is_some()) {
            let frame = self.kept.remove(i).unwrap();
            return pick(&frame).unwrap();
        }
        loop {
            let frame = tokio::time::timeout(PROMPT, self.stream.message())
                .await
                .expect("timed out waiting for a frame")
                .expect("stream failed")
                .expect("stream ended");
            if let Some(r) = pick(&frame) {
                return r;
            }
            self.kept.push_back(frame);
        }
    }

    /// Whether a frame matching `pick` arrives within `wait` (consuming it if so).
    pub(crate) async fn receives_within<R>(
        &mut self,
        wait: Duration,
        pick: impl FnMut(&T) -> Option<R>,
    ) -> bool {
        tokio::time::timeout(wait, self.next_matching(pick))
            .await
            .is_ok()
    }

    /// Like [`Inbox::next_matching`], but the status the stream ends with is an `Err`
    /// (a clean end is `Err` with code `OK`) rather than a panic.
    pub(crate) async fn try_next_matching<R>(
        &mut self,
        mut pick: impl FnMut(&T) -> Option<R>,
    ) -> Result<R, Status> {
        if let Some(i) = self.kept.iter().position(|f| pick(f).is_some()) {
            let frame = self.kept.remove(i).unwrap();
            return Ok(pick(&frame).unwrap());
        }
        loop {
            let frame = tokio::time::timeout(PROMPT, self.stream.message())
                .await
                .expect("timed out waiting for a frame")?
                .ok_or_else(|| Status::ok("stream ended"))?;
            if let Some(r) = pick(&frame) {
                return Ok(r);
            }
            self.kept.push_back(frame);
        }
    }

    /// Every frame until the stream ends (kept ones first), and the status it ends with.
    pub(crate) async fn drain_to_end(&mut self) -> (Vec<T>, Status) {
        let mut frames: Vec<T> = self.kept.drain(..).collect();
        loop {
            match tokio::time::timeout(PROMPT, self.stream.message())
                .await
                .expect("timed out waiting for the stream to end")
            {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => return (frames, Status::ok("")),
                Err(status) => return (frames, status),
            }
        }
    }

    /// The status the stream ends with, skipping frames.
    pub(crate) async fn end_status(&mut self) -> Status {
        loop {
            match tokio::time::timeout(PROMPT, self.stream.message())
                .await
                .expect("timed out waiting for the stream to end")
            {
                Ok(Some(_)) => continue,
                Ok(None) => return Status::ok(""),
                Err(status) => return status,
            }
        }
    }
}

/// `request` with a credential (`authorization: Bearer <token>`) and a tenant header,
/// each when given.
pub(crate) fn with_credential<T>(
    mut request: Request<T>,
    token: Option<&str>,
    tenant: Option<&str>,
) -> Request<T> {
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    if let Some(t) = tenant {
        request
            .metadata_mut()
            .insert("x-switchboard-tenant", t.parse().unwrap());
    }
    request
}

/// `request` with `authorization: Bearer <token>`.
pub(crate) fn with_token<T>(request: Request<T>, token: &str) -> Request<T> {
    with_credential(request, Some(token), None)
}

/// An agent desk session.
pub(crate) struct Agent {
    tx: mpsc::Sender<pb::AgentFrame>,
    pub(crate) inbox: Inbox<pb::DeskFrame>,
    next_request: u64,
}

/// Skills as (name, proficiency).
pub(crate) fn skills(list: &[(&str, u32)]) -> Vec<pb::AgentSkill> {
    list.iter()
        .map(|(skill, proficiency)| pb::AgentSkill {
            skill: (*skill).to_owned(),
            proficiency: *proficiency,
        })
        .collect()
}

/// Opens a desk stream and sends `sign_in` as its first frame, without waiting.
pub(crate) async fn open_desk(
    server: &TestServer,
    tenant: Option<&str>,
    sign_in: pb::SignIn,
) -> (mpsc::Sender<pb::AgentFrame>, Inbox<pb::DeskFrame>) {
    open_desk_on(server.channel().await, tenant, sign_in).await
}

/// Like [`open_desk`] for the default tenant, over `channel` (a relay the test can
/// cut, say).
pub(crate) async fn open_desk_over(
    channel: Channel,
    sign_in: pb::SignIn,
) -> (mpsc::Sender<pb::AgentFrame>, Inbox<pb::DeskFrame>) {
    open_desk_on(channel, None, sign_in).await
}

async fn open_desk_on(
    channel: Channel,
    tenant: Option<&str>,
    sign_in: pb::SignIn,
) -> (mpsc::Sender<pb::AgentFrame>, Inbox<pb::DeskFrame>) {
    let (tx, rx) = mpsc::channel(64);
    tx.send(pb::AgentFrame {
        request_id: "sign-in".into(),
        action: Some(pb::agent_frame::Action::SignIn(sign_in)),
    })
    .await
    .unwrap();
    let mut request = Request::new(ReceiverStream::new(rx));
    if let Some(t) = tenant {
        request
            .metadata_mut()
            .insert("x-switchboard-tenant", t.parse().unwrap());
    }
    let stream = AgentDeskClient::new(channel)
        .session(request)
        .await
        .unwrap()
        .into_inner();
    (tx, Inbox::new(stream))
}

/// Opens a desk stream with a credential (and tenant header) and sends `sign_in` as its
/// first frame, without waiting; `Err` when the call itself is refused.
pub(crate) async fn open_desk_as(
    server: &TestServer,
    token: Option<&str>,
    tenant: Option<&str>,
    sign_in: pb::SignIn,
) -> Result<(mpsc::Sender<pb::AgentFrame>, Inbox<pb::DeskFrame>), Status> {
    let (tx, rx) = mpsc::channel(64);
    tx.send(pb::AgentFrame {
        request_id: "sign-in".into(),
        action: Some(pb::agent_frame::Action::SignIn(sign_in)),
    })
    .await
    .unwrap();
    let request = with_credential(Request::new(ReceiverStream::new(rx)), token, tenant);
    let stream = AgentDeskClient::new(server.channel().await)
        .session(request)
        .await?
        .into_inner();
    Ok((tx, Inbox::new(stream)))
}

/// A sign-in as `id`, available, with messaging capacity and no skills.
pub(crate) fn sign_in_frame(id: &str, messaging_capacity: u32) -> pb::SignIn {
    pb::SignIn {
        agent_id: id.to_owned(),
        display_name: format!("Agent {id}"),
        skills: Vec::new(),
        capacity: Some(pb::Capacity {
            messaging: messaging_capacity,
            email: 0,
            voice: 0,
        }),
        presence: pb::Presence::Available as i32,
    }
}

impl Agent {
    /// The request sender and the response stream, to drop in an order of the test's
    /// choosing.
    pub(crate) fn into_parts(self) -> (mpsc::Sender<pb::AgentFrame>, Inbox<pb::DeskFrame>) {
        (self.tx, self.inbox)
    }

    /// Ends the request stream (a half-close) and waits for the server to end the
    /// session; the status it ends with.
    pub(crate) async fn half_close(self) -> Status {
        let Agent { tx, mut inbox, .. } = self;
        drop(tx);
        inbox.end_status().await
    }

    /// Signs in as `id` with a credential (its tenant), messaging capacity and no
    /// skills; waits for `signed_in`, or returns the status the call or stream ended
    /// with instead.
    pub(crate) async fn try_sign_in_as(
        server: &TestServer,
        token: &str,
        id: &str,
        messaging_capacity: u32,
    ) -> Result<Agent, Status> {
        let (tx, mut inbox) = open_desk_as(
            server,
            Some(token),
            None,
            sign_in_frame(id, messaging_capacity),
        )
        .await?;
        inbox
            .try_next_matching(|f| match &f.frame {
                Some(pb::desk_frame::Frame::SignedIn(_)) => Some(()),
                _ => None,
            })
            .await?;
        Ok(Agent {
            tx,
            inbox,
            next_request: 0,
        })
    }

    /// The agent of a desk stream opened with [`open_desk_as`]; waits for `signed_in`.
    pub(crate) async fn from_desk(
        tx: mpsc::Sender<pb::AgentFrame>,
        mut inbox: Inbox<pb::DeskFrame>,
    ) -> Agent {
        inbox
            .next_matching(|f| match &f.frame {
                Some(pb::desk_frame::Frame::SignedIn(_)) => Some(()),
                _ => None,
            })
            .await;
        Agent {
            tx,
            inbox,
            next_request: 0,
        }
    }

    /// Like [`Agent::try_sign_in_as`], panicking when refused.
    pub(crate) async fn sign_in_as(
        server: &TestServer,
        token: &str,
        id: &str,
        messaging_capacity: u32,
    ) -> Agent {
        Agent::try_sign_in_as(server, token, id, messaging_capacity)
            .await
            .unwrap_or_else(|status| panic!("{id} could not sign in: {status:?}"))
    }

    /// Signs an agent in with messaging capacity and skills; waits for `signed_in`.
    pub(crate) async fn sign_in(
        server: &TestServer,
        tenant: Option<&str>,
        id: &str,
        skill_list: &[(&str, u32)],
        messaging_capacity: u32,
    ) -> Agent {
        let sign_in = pb::SignIn {
            skills: skills(skill_list),
            ..sign_in_frame(id, messaging_capacity)
        };
        let (tx, inbox) = open_desk(server, tenant, sign_in).await;
        Agent::from_desk(tx, inbox).await
    }

    /// Sends an action and waits for its answer: `Ok` for done, `Err(code, message)`.
    pub(crate) async fn act(
        &mut self,
        action: pb::agent_frame::Action,
    ) -> Result<(), (Code, String)> {
        let request_id = self.pipeline(action).await;
        self.inbox
            .next_matching(|f| match &f.frame {
                Some(pb::desk_frame::Frame::Done(d)) if d.request_id == request_id => Some(Ok(())),
                Some(pb::desk_frame::Frame::Rejected(r)) if r.request_id == request_id => {
                    Some(Err((Code::from_i32(r.code), r.message.clone())))
                }
                _ => None,
            })
            .await
    }

    /// Sends an action without waiting for its answer; returns its request id.
    pub(crate) async fn pipeline(&mut self, action: pb::agent_frame::Action) -> String {
        self.next_request += 1;
        let request_id = format!("r{}", self.next_request);
        self.tx
            .send(pb::AgentFrame {
                request_id: request_id.clone(),
                action: Some(action),
            })
            .await
            .unwrap();
        request_id
    }

    /// Waits for the next offer.
    pub(crate) async fn offer(&mut self) -> pb::Offer {
        self.inbox
            .next_matching(|f| match &f.frame {
                Some(pb::desk_frame::Frame::Offer(o)) => Some((**o).clone()),
                _ => None,
            })
            .await
    }

    /// Whether an offer arrives within `wait`.
    pub(crate) async fn offered_within(&mut self, wait: Duration) -> bool {
        self.inbox
            .receives_within(wait, |f| match &f.frame {
                Some(pb::desk_frame::Frame::Offer(_)) => Some(()),
                _ => None,
            })
            .await
    }

    pub(crate) async fn accept(&mut self, conversation_id: &str) {
        self.act(pb::agent_frame::Action::Accept(pb::ConversationRef {
            conversation_id: conversation_id.to_owned(),
        }))
        .await
        .expect("accept");
    }

    /// Waits for the next offer and accepts it; returns its conversation id.
    pub(crate) async fn take_next(&mut self) -> String {
        let offer = self.offer().await;
        self.accept(&offer.conversation_id).await;
        offer.conversation_id
    }

    pub(crate) async fn reply(
        &mut self,
        conversation_id: &str,
        text: &str,
    ) -> Result<(), (Code, String)> {
        self.act(pb::agent_frame::Action::Reply(pb::Reply {
            conversation_id: conversation_id.to_owned(),
            text: text.to_owned(),
        }))
        .await
    }

    pub(crate) async fn close(&mut self, conversation_id: &str) -> Result<(), (Code, String)> {
        self.act(pb::agent_frame::Action::Close(pb::ConversationRef {
            conversation_id: conversation_id.to_owned(),
        }))
        .await
    }

    /// Waits for the next customer message.
    pub(crate) async fn customer_message(&mut self) -> pb::CustomerMessage {
        self.inbox
            .next_matching(|f| match &f.frame {
                Some(pb::desk_frame::Frame::CustomerMessage(m)) => Some(m.clone()),
                _ => None,
            })
            .await
    }
}

/// A channel adapter stream.
pub(crate) struct Adapter {
    tx: mpsc::Sender<pb::AdapterFrame>,
    pub(crate) inbox: Inbox<pb::GatewayFrame>,
}

/// Opens a gateway stream with a credential and says hello as `adapter_id`, without
/// waiting; `Err` when the call itself is refused.
pub(crate) async fn adapter_stream_as(
    server: &TestServer,
    token: Option<&str>,
    adapter_id: &str,
) -> Result<(mpsc::Sender<pb::AdapterFrame>, Inbox<pb::GatewayFrame>), Status> {
    let (tx, rx) = mpsc::channel(64);
    tx.send(pb::AdapterFrame {
        frame: Some(pb::adapter_frame::Frame::Hello(pb::AdapterHello {
            adapter_id: adapter_id.to_owned(),
        })),
    })
    .await
    .unwrap();
    let request = with_credential(Request::new(ReceiverStream::new(rx)), token, None);
    let stream = server.gateway().await.session(request).await?.into_inner();
    Ok((tx, Inbox::new(stream)))
}

impl Adapter {
    /// Opens a stream with a credential and says hello as `adapter_id`; returns the
    /// adapter and its welcome, or the status the call or stream ended with instead.
    pub(crate) async fn try_connect_as(
        server: &TestServer,
        token: &str,
        adapter_id: &str,
    ) -> Result<(Adapter, pb::AdapterWelcome), Status> {
        let (tx, mut inbox) = adapter_stream_as(server, Some(token), adapter_id).await?;
        let welcome = inbox
            .try_next_matching(|f| match &f.frame {
                Some(pb::gateway_frame::Frame::Welcome(w)) => Some(*w),
                _ => None,
            })
            .await?;
        Ok((Adapter { tx, inbox }, welcome))
    }

    /// Like [`Adapter::try_connect_as`], panicking when refused.
    pub(crate) async fn connect_as(
        server: &TestServer,
        token: &str,
        adapter_id: &str,
    ) -> (Adapter, pb::AdapterWelcome) {
        Adapter::try_connect_as(server, token, adapter_id)
            .await
            .unwrap_or_else(|status| panic!("{adapter_id} could not connect: {status:?}"))
    }

    /// Opens a stream and says hello; waits for the welcome.
    pub(crate) async fn connect(server: &TestServer, adapter_id: &str) -> Adapter {
        let (tx, rx) = mpsc::channel(64);
        tx.send(pb::AdapterFrame {
            frame: Some(pb::adapter_frame::Frame::Hello(pb::AdapterHello {
                adapter_id: adapter_id.to_owned(),
            })),
        })
        .await
        .unwrap();
        let stream = server
            .gateway()
            .await
            .session(ReceiverStream::new(rx))
            .await
            .unwrap()
            .into_inner();
        let mut inbox = Inbox::new(stream);
        inbox
            .next_matching(|f| match &f.frame {
                Some(pb::gateway_frame::Frame::Welcome(_)) => Some(()),
                _ => None,
            })
            .await;
        Adapter { tx, inbox }
    }

    /// Sends a customer message; waits for `accepted` and returns it.
    pub(crate) async fn send(
        &mut self,
        msg: pb::InboundMessage,
    ) -> Result<pb::MessageAccepted, pb::FrameRejected> {
        let client_message_id = msg.client_message_id.clone();
        self.tx
            .send(pb::AdapterFrame {
                frame: Some(pb::adapter_frame::Frame::Message(msg)),
            })
            .await
            .unwrap();
        self.inbox
            .next_matching(|f| match &f.frame {
                Some(pb::gateway_frame::Frame::Accepted(a))
                    if a.client_message_id == client_message_id =>
                {
                    Some(Ok(a.clone()))
                }
                Some(pb::gateway_frame::Frame::Rejected(r))
                    if r.client_message_id == client_message_id =>
                {
                    Some(Err(r.clone()))
                }
                _ => None,
            })
            .await
    }

    /// Sends a frame without waiting for its answer (frames sent this way reach the
    /// server back to back, as a busy adapter's do).
    pub(crate) async fn pipeline(&self, frame: pb::adapter_frame::Frame) {
        self.tx
            .send(pb::AdapterFrame { frame: Some(frame) })
            .await
            .unwrap();
    }

    /// Acknowledges deliveries up to an id.
    pub(crate) async fn ack(&mut self, up_to_delivery_id: u64) {
        self.tx
            .send(pb::AdapterFrame {
                frame: Some(pb::adapter_frame::Frame::Ack(pb::DeliveryAck {
                    up_to_delivery_id,
                })),
            })
            .await
            .unwrap();
    }

    /// Waits for the next delivery.
    pub(crate) async fn delivery(&mut self) -> pb::Delivery {
        self.inbox
            .next_matching(|f| match &f.frame {
                Some(pb::gateway_frame::Frame::Delivery(d)) => Some(d.clone()),
                _ => None,
            })
            .await
    }

    /// Waits for the next delivery that is a message, returning its text.
    pub(crate) async fn message_text(&mut self) -> String {
        loop {
            if let Some(pb::delivery::Body::Message(m)) = self.delivery().await.body {
                return m.text;
            }
        }
    }
}

/// The first reply's queue status in a submit response.
pub(crate) fn first_queue_status(response: &pb::SubmitResponse) -> pb::QueueStatus {
    let reply = response.replies.first().expect("a first response");
    match &reply.body {
        Some(pb::delivery::Body::Message(m)) => {
            assert_eq!(m.sender, pb::Sender::System as i32);
            m.queue_status.expect("queue status on the first response")
        }
        other => panic!("first response is not a message: {other:?}"),
    }
}

/// An external bot worker stream.
pub(crate) struct BotWorker {
    pub(crate) tx: mpsc::Sender<pb::BotFrame>,
    pub(crate) inbox: Inbox<pb::BotTask>,
}

impl BotWorker {
    /// Opens a bot-pool stream with a credential and registers; `Err` when the call
    /// itself is refused.
    pub(crate) async fn register_as(
        server: &TestServer,
        token: &str,
        register: pb::BotRegister,
    ) -> Result<BotWorker, Status> {
        let (tx, rx) = mpsc::channel(64);
        tx.send(pb::BotFrame {
            frame: Some(pb::bot_frame::Frame::Register(register)),
        })
        .await
        .unwrap();
        let request = with_token(Request::new(ReceiverStream::new(rx)), token);
        let stream = server.bot_pool().await.session(request).await?.into_inner();
        Ok(BotWorker {
            tx,
            inbox: Inbox::new(stream),
        })
    }

    /// Opens a bot-pool stream and registers.
    pub(crate) async fn register(server: &TestServer, register: pb::BotRegister) -> BotWorker {
        let (tx, rx) = mpsc::channel(64);
        tx.send(pb::BotFrame {
            frame: Some(pb::bot_frame::Frame::Register(register)),
        })
        .await
        .unwrap();
        let stream = server
            .bot_pool()
            .await
            .session(ReceiverStream::new(rx))
            .await
            .unwrap()
            .into_inner();
        BotWorker {
            tx,
            inbox: Inbox::new(stream),
        }
    }

    /// Waits for the next task.
    pub(crate) async fn task(&mut self) -> pb::BotTask {
        self.inbox.next_matching(|t| Some(t.clone())).await
    }

    /// Sends a frame.
    pub(crate) async fn send(&self, frame: pb::bot_frame::Frame) {
        self.tx
            .send(pb::BotFrame { frame: Some(frame) })
            .await
            .unwrap();
    }
}

/// A bot message in a submit response or delivery: its text and buttons.
pub(crate) fn bot_message(delivery: &pb::Delivery) -> Option<(String, Vec<pb::Button>)> {
    match &delivery.body {
        Some(pb::delivery::Body::Message(m)) if m.sender == pb::Sender::Bot as i32 => {
            Some((m.text.clone(), m.buttons.clone()))
        }
        _ => None,
    }
}

/// A plain HTTP GET on the metrics listener; asserts 200 and returns the response.
pub(crate) async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

/// The value of one series on `/metrics`: its name with labels as exported (0 when it
/// has not been recorded yet). Counters are per process and tests run in parallel, so
/// use a label no other test uses, or compare before and after.
pub(crate) async fn metric(server: &TestServer, series: &str) -> f64 {
    let body = http_get(server.metrics_addr, "/metrics").await;
    body.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |value| value.trim().parse().unwrap())
}

/// A verified phone number, as adapters and the tenant's systems send one.
pub(crate) fn verified_phone(value: &str) -> pb::CustomerIdentifier {
    pb::CustomerIdentifier {
        kind: pb::IdentifierKind::Phone as i32,
        value: value.to_owned(),
        verified: true,
        ..Default::default()
    }
}

/// A profile selector by verified phone number.
pub(crate) fn by_phone(value: &str) -> Option<pb::ProfileSelector> {
    Some(pb::ProfileSelector {
        who: Some(pb::profile_selector::Who::Identifier(verified_phone(value))),
    })
}

/// The wall clock, Unix milliseconds (the server's clock runs from it).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
