//! Agents whose desk connection drops: held for `[routing] agent_reconnect_secs`
//! (nobody else is offered their conversations, what customers write waits for
//! them), then given their conversations back as resumed offers when they sign in
//! again, or signed out when the window passes. A desk that ends its request stream
//! signs out at once.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchboard::api::pb;
use switchboard::config::Config;
use tokio::net::{TcpListener, TcpStream};
use tonic::transport::Channel;

use crate::common::*;

/// A TCP relay in front of the server: a desk connects through it, and cutting it
/// fails the connection as a network would, with no word from the client.
struct Relay {
    addr: SocketAddr,
    /// The relayed connections.
    links: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    accepting: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn to(server: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let links = Arc::new(Mutex::new(Vec::new()));
        let kept = links.clone();
        let accepting = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let link = tokio::spawn(async move {
                    let mut outbound = TcpStream::connect(server).await.unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                });
                kept.lock().unwrap().push(link.abort_handle());
            }
        });
        Relay {
            addr,
            links,
            accepting,
        }
    }

    async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// Drops every connection through the relay at once.
    fn cut(&self) {
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cut();
        self.accepting.abort();
    }
}

/// The test configuration with a reconnect window of `secs`.
fn with_reconnect(secs: u64) -> Config {
    let mut config = test_config();
    config.routing.agent_reconnect_secs = secs;
    config
}

/// The admin view of agent `id`, if it is signed in.
async fn agent_view(server: &TestServer, id: &str) -> Option<pb::AgentView> {
    server
        .admin()
        .await
        .list_agents(pb::ListAgentsRequest {})
        .await
        .unwrap()
        .into_inner()
        .agents
        .into_iter()
        .find(|a| a.agent_id == id)
}

/// Waits up to [`PROMPT`] for `check` to hold; fails naming `what`.
async fn wait_until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PROMPT;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {PROMPT:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Ann (through `relay`, capacity 1) holds the conversation the adapter opens, and
/// bob (capacity 1) is signed in beside her with nothing to do. Returns ann, bob and
/// the conversation id.
async fn ann_holds_a_chat_beside_bob(
    server: &TestServer,
    relay: &Relay,
    adapter: &mut Adapter,
    key: &str,
) -> (Agent, Agent, String) {
    let (tx, inbox) = open_desk_over(relay.channel().await, sign_in_frame("ann", 1)).await;
    let mut ann = Agent::from_desk(tx, inbox).await;
    let opened = adapter
        .send(message(key, 100.0, "my parcel is late"))
        .await
        .expect("accepted");
    assert_eq!(ann.take_next().await, opened.conversation_id);
    let bob = Agent::sign_in(server, None, "bob", &[], 1).await;
    (ann, bob, opened.conversation_id)
}

/// Waits up to [`PROMPT`] for the adapter to carry `reply` to the customer.
async fn reaches_the_customer(adapter: &mut Adapter, reply: &str) {
    tokio::time::timeout(PROMPT, async {
        while adapter.message_text().await != reply {}
    })
    .await
    .expect("the reply reaches the customer");
}

/// The state of a conversation as the admin API shows it.
async fn state_of(server: &TestServer, id: &str) -> pb::ConversationState {
    server.conversation(id).await.unwrap().state()
}

#[tokio::test]
async fn a_desk_whose_connection_drops_gets_its_conversation_back_as_resumed() {
    let server = spawn_server(with_reconnect(30)).await;
    let relay = Relay::to(server.addr).await;
    let mut adapter = Adapter::connect(&server, "web-adapter").await;
    let (ann, mut bob, id) =
        ann_holds_a_chat_beside_bob(&server, &relay, &mut adapter, "blip").await;
    let resumed_series = "switchboard_agent_reconnects_total{result=\"resumed\"}";
    let before = metric(&server, resumed_series).await;

    relay.cut();
    wait_until("ann is awaited back", async || {
        agent_view(&server, "ann")
            .await
            .is_some_and(|a| a.reconnecting)
    })
    .await;
    // The customer writes meanwhile: accepted, kept for ann, not offered to bob.
    adapter
        .send(message("blip", 100.0, "hello? anyone there?"))
        .await
        .expect("accepted while ann is away");
    assert!(!bob.offered_within(Duration::from_millis(500)).await);
    assert_eq!(
        state_of(&server, &id).await,
        pb::ConversationState::Assigned
    );

    // Ann's desk comes back on a new connection and signs in again.
    drop(ann);
    let mut ann = Agent::sign_in(&server, None, "ann", &[], 1).await;
    let offer = ann.offer().await;
    assert_eq!(offer.conversation_id, id);
    assert!(offer.resumed, "given back, not offered anew: {offer:?}");
    assert!(
        offer
            .transcript
            .iter()
            .any(|t| t.text == "hello? anyone there?"),
        "what the customer wrote meanwhile is in the transcript: {:?}",
        offer.transcript
    );
    assert!(!agent_view(&server, "ann").await.unwrap().reconnecting);
    // No accept needed: she replies, and the customer gets it.
    let reply = "Sorry, my connection dropped. Your parcel ships today.";
    ann.reply(&id, reply).await.expect("ann holds it again");
    reaches_the_customer(&mut adapter, reply).await;
    assert!(!bob.offered_within(Duration::from_millis(100)).await);
    assert!(metric(&server, resumed_series).await > before);
}

#[tokio::test]
async fn a_desk_not_back_within_its_window_loses_its_conversation_to_another_agent() {
    let server = spawn_server(with_reconnect(1)).await;
    let relay = Relay::to(server.addr).await;
    let mut adapter = Adapter::connect(&server, "web-adapter").await;
    let (_ann, mut bob, id) =
        ann_holds_a_chat_beside_bob(&server, &relay, &mut adapter, "gone").await;
    let expired_series = "switchboard_agent_reconnects_total{result=\"expired\"}";
    let before = metric(&server, expired_series).await;

    relay.cut();
    wait_until("ann is awaited back", async || {
        agent_view(&server, "ann")
            .await
            .is_some_and(|a| a.reconnecting)
    })
    .await;
    assert!(
        !bob.offered_within(Duration::from_millis(300)).await,
        "held within the window"
    );
    // The window (1 s) passes: ann is signed out and bob gets the conversation.
    let offer = bob.offer().await;
    assert_eq!(offer.conversation_id, id);
    assert!(!offer.resumed);
    assert!(
        offer.transcript.len() >= 2,
        "transcript kept across the re-route"
    );
    assert!(agent_view(&server, "ann").await.is_none());
    assert!(metric(&server, expired_series).await > before);
}

#[tokio::test]
async fn a_desk_that_ends_its_stream_signs_out_and_its_conversation_moves_at_once() {
    let server = spawn_server(with_reconnect(30)).await;
    let relay = Relay::to(server.addr).await;
    let mut adapter = Adapter::connect(&server, "web-adapter").await;
    let (ann, mut bob, id) =
        ann_holds_a_chat_beside_bob(&server, &relay, &mut adapter, "bye").await;
    // A half-close: the desk meant to leave. The server ends the stream with OK.
    let status = ann.half_close().await;
    assert_eq!(status.code(), tonic::Code::Ok, "{status:?}");
    let offer = bob.offer().await;
    assert_eq!(offer.conversation_id, id);
    assert!(!offer.resumed);
    assert!(agent_view(&server, "ann").await.is_none());
}

#[tokio::test]
async fn a_desk_call_the_client_cancels_is_held_like_a_dropped_connection() {
    let server = spawn_server(with_reconnect(30)).await;
    let relay = Relay::to(server.addr).await;
    let mut adapter = Adapter::connect(&server, "web-adapter").await;
    let (ann, mut bob, id) =
        ann_holds_a_chat_beside_bob(&server, &relay, &mut adapter, "cancel").await;
    // The client drops its call: first the response stream, then the request
    // stream. tonic tells the server the request stream ended, but the HTTP/2
    // stream was reset.
    let (tx, inbox) = ann.into_parts();
    drop(inbox);
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(tx);
    wait_until("ann is signed out or awaited back", async || {
        agent_view(&server, "ann")
            .await
            .is_none_or(|a| a.reconnecting)
    })
    .await;
    let view = agent_view(&server, "ann").await;
    assert!(
        view.as_ref().is_some_and(|a| a.reconnecting),
        "a cancelled call holds the agent: {view:?}"
    );
    assert!(!bob.offered_within(Duration::from_millis(300)).await);
    assert_eq!(
        state_of(&server, &id).await,
        pb::ConversationState::Assigned
    );
}

#[tokio::test]
async fn a_journal_replay_reproduces_a_dropped_connection_and_its_end() {
    let dir = std::env::temp_dir().join(format!("sb-desk-replay-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = journaled_in(&dir, with_reconnect(1));
    let server = spawn_server(config.clone()).await;
    let relay = Relay::to(server.addr).await;
    let mut adapter = Adapter::connect(&server, "web-adapter").await;
    let (_ann, mut bob, id) =
        ann_holds_a_chat_beside_bob(&server, &relay, &mut adapter, "replayed").await;
    relay.cut();
    // Ann's window runs out; bob takes the conversation.
    assert_eq!(bob.take_next().await, id);
    drop(adapter);

    // Rebuilt from the journal alone: the replayed connection loss and the window's
    // end leave the conversation with bob, not with ann.
    server.shutdown().await.unwrap();
    std::fs::remove_dir_all(dir.join("snapshots")).unwrap();
    let server = spawn_server(config).await;
    let view = server.conversation(&id).await.unwrap();
    assert_eq!(view.agent_id, "bob", "{view:?}");
    assert!(agent_view(&server, "ann").await.is_none());
    server.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_newer_desk_session_takes_over_the_conversations_of_the_one_still_open() {
    let server = spawn_server(with_reconnect(30)).await;
    let relay = Relay::to(server.addr).await;
    let mut adapter = Adapter::connect(&server, "web-adapter").await;
    let (mut old, mut bob, id) =
        ann_holds_a_chat_beside_bob(&server, &relay, &mut adapter, "takeover").await;

    // Ann's desk signs in again on a new connection while the old one is still open
    // (the server has not noticed it is dead): the new session gets her conversation
    // back as resumed, the old one is told it was replaced, and bob gets nothing.
    let mut ann = Agent::sign_in(&server, None, "ann", &[], 1).await;
    let offer = ann.offer().await;
    assert_eq!(offer.conversation_id, id);
    assert!(offer.resumed, "taken over, not offered anew: {offer:?}");
    assert_eq!(old.inbox.end_status().await.code(), tonic::Code::Aborted);
    assert!(!bob.offered_within(Duration::from_millis(300)).await);
    let reply = "I'm here on my other screen.";
    ann.reply(&id, reply)
        .await
        .expect("the new session holds it");
    reaches_the_customer(&mut adapter, reply).await;
}

#[tokio::test]
async fn without_a_reconnect_window_a_newer_session_starts_afresh() {
    let server = spawn_server(with_reconnect(0)).await;
    let relay = Relay::to(server.addr).await;
    let mut adapter = Adapter::connect(&server, "web-adapter").await;
    let (_old, mut bob, id) =
        ann_holds_a_chat_beside_bob(&server, &relay, &mut adapter, "afresh").await;
    let _ann = Agent::sign_in(&server, None, "ann", &[], 1).await;
    // Her conversation was routed again when the old session was replaced: bob, who
    // was free, gets it.
    assert_eq!(bob.take_next().await, id);
}
