//! The browser console, tested in a real browser and at its bridge.
//!
//! `one_conversation_in_headless_chromium` starts the real server on loopback ports,
//! launches Debian's headless `chromium` and drives it over the Chrome DevTools
//! protocol through one whole conversation: the desk signs in, the customer chats
//! with the bot and asks for a person, the wallboard shows them waiting and explains
//! why, the agent goes available, accepts and replies, the customer sees the reply,
//! the agent closes and the customer answers the survey. Screenshots of each view go
//! to `target/console-{chat,desk,wallboard}.png` (the README's are copies). Without
//! `chromium` the test is skipped with a message, unless `CI=true`, where it fails.
//! `a_desk_page_whose_socket_drops_reconnects_and_keeps_its_conversation` closes a
//! desk page's socket from outside its code while it holds a conversation: the page
//! says it is reconnecting, signs in again, gets the conversation back (with what the
//! customer wrote meanwhile) and replies; a reload does the same, and Sign out ends
//! the call cleanly.
//!
//! The other tests call the bridge as a page would, without a browser: a remote peer
//! without credentials is refused exactly as on the gRPC port, an unknown method and
//! an oversize message get clear statuses, another site's page is refused, the socket
//! limit holds and frees its slots, a socket that stops answering pings loses its
//! call, with credentials the page's token decides as on the gRPC port, and a drain
//! ends console streams with `UNAVAILABLE`.
//!
//! Run: `cargo test --test browser` (`-- --nocapture` shows each step).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::extract::connect_info::MockConnectInfo;
use base64::Engine;
use prost::Message as _;
use serde_json::{Value, json};
use switchboard::api::access::Authenticate;
use switchboard::api::pb;
use switchboard::auth::api_keys;
use switchboard::auth::{Auth, Role};
use switchboard::config::{Config, LogFormat};
use switchboard::storage::Durability;
use switchboard::tenants::Tenants;
use switchboard::tenants::builtin_bot::SharedBot;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

/// Longest a step may take before the test fails saying which step.
const STEP: Duration = Duration::from_secs(20);

/// A server in this process on loopback ports, with the product's defaults (web chat
/// is bot-first), the satisfaction survey on and memory-only storage.
struct Server {
    http: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
}

fn config() -> Config {
    let mut config = Config::from_toml("[routing.survey]\nenabled = true\n").expect("test config");
    config.log_format = LogFormat::Text;
    config.shutdown_grace_secs = 5;
    config.storage.durability = Durability::Off;
    config
}

async fn start_server() -> Server {
    let grpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = http.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(switchboard::run(config(), grpc, http, async {
        let _ = rx.await;
    }));
    Server {
        http: addr,
        shutdown: Some(tx),
        handle,
    }
}

impl Server {
    async fn stop(mut self) {
        let _ = self.shutdown.take().map(|tx| tx.send(()));
        self.handle.await.unwrap().unwrap();
    }
}

// ---------------------------------------------------------------------------------
// The bridge, called as a page calls it.

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One call through the bridge at `http`: the metadata, each request message, the
/// end; returns the response messages and the final status.
async fn bridge_call(
    http: SocketAddr,
    method: &str,
    metadata: Value,
    requests: Vec<Vec<u8>>,
) -> (Vec<Vec<u8>>, Value) {
    let url = format!("ws://{http}/console/grpc?method={method}");
    let (mut socket, _) = connect_async(url).await.expect("console socket opens");
    send(
        &mut socket,
        Message::text(json!({ "metadata": metadata }).to_string()),
    )
    .await;
    for request in requests {
        send(&mut socket, Message::binary(request)).await;
    }
    send(&mut socket, Message::text(r#"{"end": true}"#)).await;
    let mut responses = Vec::new();
    loop {
        let message = tokio::time::timeout(STEP, futures_next(&mut socket))
            .await
            .expect("the bridge answers")
            .expect("the bridge sends a status before closing");
        match message {
            Message::Binary(bytes) => responses.push(bytes.to_vec()),
            Message::Text(text) => return (responses, serde_json::from_str(&text).unwrap()),
            _ => {}
        }
    }
}

async fn send(socket: &mut Socket, message: Message) {
    use futures_util::SinkExt;
    // A socket the bridge already closed (after a refusal) is fine here.
    let _ = socket.send(message).await;
}

async fn futures_next(socket: &mut Socket) -> Option<Message> {
    use futures_util::StreamExt;
    socket.next().await.and_then(Result::ok)
}

/// A desk session over the console bridge at `http`, its metadata sent (none), and,
/// with `agent_id`, a sign-in with room for one chat sent (not awaited).
async fn open_desk(http: impl std::fmt::Display, agent_id: Option<&str>) -> Socket {
    let (mut desk, _) = connect_async(format!(
        "ws://{http}/console/grpc?method=/switchboard.v1.AgentDesk/Session"
    ))
    .await
    .unwrap();
    send(&mut desk, Message::text(r#"{"metadata": {}}"#)).await;
    if let Some(agent_id) = agent_id {
        let sign_in = pb::AgentFrame {
            request_id: "sign-in".into(),
            action: Some(pb::agent_frame::Action::SignIn(pb::SignIn {
                agent_id: agent_id.into(),
                capacity: Some(pb::Capacity {
                    messaging: 1,
                    ..Default::default()
                }),
                ..Default::default()
            })),
        };
        send(&mut desk, Message::binary(sign_in.encode_to_vec())).await;
    }
    desk
}

/// The console router alone, serving the same services and interceptor the server
/// mounts, with the browser's address taken to be `peer`; its HTTP address.
async fn console_as(peer: SocketAddr, limits: switchboard::console::Limits) -> SocketAddr {
    let mut config = config();
    config.bot.channels.clear();
    let auth = Auth::new(&config.auth).unwrap();
    let bot = SharedBot::load(&config).unwrap();
    let tenants = Tenants::new(config, bot, None);
    tenants.create_declared().unwrap();
    let routes = switchboard::server::api_routes(&tenants, Authenticate::new(auth));
    let app = switchboard::console::router(routes, limits).layer(MockConnectInfo(peer));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    http
}

/// `ListAgents` through the bridge at `http`; the final status.
async fn list_agents(http: SocketAddr) -> Value {
    let (_, status) = bridge_call(
        http,
        "/switchboard.v1.Admin/ListAgents",
        json!({}),
        vec![Vec::new()],
    )
    .await;
    status
}

async fn list_agents_as(peer: SocketAddr) -> Value {
    list_agents(console_as(peer, switchboard::console::Limits::default()).await).await
}

#[tokio::test]
async fn console_sockets_are_bounded_and_given_back() {
    let limits = switchboard::console::Limits {
        max_sockets: 1,
        ..Default::default()
    };
    let http = console_as("127.0.0.1:5000".parse().unwrap(), limits).await;
    // An open desk session holds the one slot.
    let held = open_desk(http, None).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = list_agents(http).await;
    assert_eq!(refused["code"], 8, "RESOURCE_EXHAUSTED: {refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("every console socket is in use (1 at most)"),
        "{refused}"
    );
    drop(held);
    let deadline = Instant::now() + STEP;
    loop {
        let status = list_agents(http).await;
        if status["code"] == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the slot was not given back: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_silent_socket_loses_its_call_and_an_answering_one_keeps_it() {
    use futures_util::StreamExt;
    let limits = switchboard::console::Limits {
        keepalive: Duration::from_millis(100),
        silent_limit: Duration::from_secs(1),
        ..Default::default()
    };
    let http = console_as("127.0.0.1:5000".parse().unwrap(), limits).await;
    let mut desk = open_desk(http, Some("quiet-agent")).await;
    // Reading answers the bridge's pings: the session lives on well past the limit.
    let reading = Instant::now();
    let (mut pings, mut frames) = (0, 0);
    while reading.elapsed() < Duration::from_millis(2500) {
        match tokio::time::timeout(Duration::from_millis(200), desk.next()).await {
            Ok(Some(Ok(Message::Ping(_)))) => pings += 1,
            Ok(Some(Ok(Message::Binary(_)))) => frames += 1,
            Err(_) => {}
            other => panic!("the answering session ended: {other:?}"),
        }
    }
    assert!(pings >= 5, "pinged every 100 ms: {pings}");
    assert!(frames >= 1, "signed in (a desk frame came back)");
    // Not reading, so not answering: the bridge drops the call, which signs the agent
    // out (asked through another socket; this one is left alone meanwhile).
    let deadline = Instant::now() + STEP;
    loop {
        let (responses, status) = bridge_call(
            http,
            "/switchboard.v1.Admin/ListAgents",
            json!({}),
            vec![Vec::new()],
        )
        .await;
        assert_eq!(status["code"], 0, "{status}");
        let agents = pb::ListAgentsResponse::decode(&responses[0][..]).unwrap();
        if agents.agents.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still signed in after {} s of silence: {agents:?}",
            STEP.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The socket was closed without a status: nobody was listening.
    let ended = tokio::time::timeout(STEP, async {
        loop {
            match desk.next().await {
                Some(Ok(Message::Ping(_) | Message::Binary(_))) => continue,
                other => return other,
            }
        }
    })
    .await
    .expect("the silent socket is closed");
    assert!(
        !matches!(ended, Some(Ok(Message::Text(_)))),
        "dropped, not answered: {ended:?}"
    );
}

#[tokio::test]
async fn a_remote_browser_without_credentials_is_refused_like_a_remote_client() {
    let remote = list_agents_as("10.1.2.3:5000".parse().unwrap()).await;
    assert_eq!(
        remote["code"], 16,
        "UNAUTHENTICATED for a remote peer: {remote}"
    );
    assert!(
        remote["message"].as_str().unwrap().contains("loopback"),
        "the API's own refusal: {remote}"
    );
    let local = list_agents_as("127.0.0.1:5000".parse().unwrap()).await;
    assert_eq!(local["code"], 0, "a loopback peer is served: {local}");
}

#[tokio::test]
async fn unknown_methods_and_oversize_messages_get_clear_statuses() {
    let server = start_server().await;
    let (responses, ok) = bridge_call(
        server.http,
        "/switchboard.v1.Admin/ListWaiting",
        json!({}),
        vec![Vec::new()],
    )
    .await;
    assert_eq!(ok["code"], 0, "{ok}");
    assert_eq!(responses.len(), 1, "one response message for a unary call");

    let (_, unknown) = bridge_call(
        server.http,
        "/switchboard.v1.Admin/NoSuchThing",
        json!({}),
        vec![Vec::new()],
    )
    .await;
    assert_eq!(unknown["code"], 12, "UNIMPLEMENTED: {unknown}");
    assert!(
        unknown["message"]
            .as_str()
            .unwrap()
            .contains("\"/switchboard.v1.Admin/NoSuchThing\": no such method"),
        "{unknown}"
    );
    let (_, outside) = bridge_call(
        server.http,
        "/grpc.health.v1.Health/Check",
        json!({}),
        vec![],
    )
    .await;
    assert_eq!(outside["code"], 12, "{outside}");
    assert!(
        outside["message"]
            .as_str()
            .unwrap()
            .contains("not a switchboard.v1 method"),
        "{outside}"
    );

    let limit = switchboard::console::Limits::default().max_message_bytes;
    let (_, oversize) = bridge_call(
        server.http,
        "/switchboard.v1.ChannelGateway/Submit",
        json!({}),
        vec![vec![0u8; limit + 1]],
    )
    .await;
    assert_eq!(oversize["code"], 8, "RESOURCE_EXHAUSTED: {oversize}");
    assert!(
        oversize["message"]
            .as_str()
            .unwrap()
            .contains(&format!("over the console's limit of {limit} bytes")),
        "{oversize}"
    );

    let (_, bad_metadata) = bridge_call(
        server.http,
        "/switchboard.v1.Admin/ListAgents",
        json!({ "grpc-timeout": "1S" }),
        vec![Vec::new()],
    )
    .await;
    assert_eq!(bad_metadata["code"], 3, "INVALID_ARGUMENT: {bad_metadata}");
    assert!(
        bad_metadata["message"]
            .as_str()
            .unwrap()
            .starts_with("metadata.grpc-timeout"),
        "the field is named: {bad_metadata}"
    );

    let metrics = reqwest_free_get(server.http, "/metrics").await;
    for line in [
        "switchboard_console_sockets ",
        "switchboard_console_calls_total ",
        "switchboard_console_refusals_total{reason=\"message_size\"}",
        "switchboard_console_refusals_total{reason=\"sockets\"}",
    ] {
        assert!(metrics.contains(line), "/metrics exports {line}");
    }
    server.stop().await;
}

/// A server whose `[auth]` takes the API keys `keys` (tenant, roles, subject); the
/// keys as the page would send them, and the key file's directory.
async fn start_server_with_keys(keys: &[(&str, &[Role], &str)]) -> (Server, Vec<String>, PathBuf) {
    #[derive(serde::Serialize)]
    struct KeyFile {
        keys: Vec<api_keys::KeyEntry>,
    }
    let dir = std::env::temp_dir().join(format!(
        "switchboard-console-keys-{}-{:x}",
        std::process::id(),
        rand_seed()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let (secrets, entries): (Vec<String>, Vec<api_keys::KeyEntry>) = keys
        .iter()
        .map(|(tenant, roles, subject)| api_keys::new_key(tenant, roles, subject).unwrap())
        .unzip();
    let path = dir.join("api_keys.toml");
    std::fs::write(&path, toml::to_string(&KeyFile { keys: entries }).unwrap()).unwrap();
    let mut config = config();
    config.auth.api_keys_file = Some(path);
    let grpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = http.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(switchboard::run(config, grpc, http, async {
        let _ = rx.await;
    }));
    let server = Server {
        http: addr,
        shutdown: Some(tx),
        handle,
    };
    (server, secrets, dir)
}

#[tokio::test]
async fn with_credentials_the_page_token_decides_as_on_the_grpc_port() {
    let (server, keys, dir) = start_server_with_keys(&[
        ("default", &[Role::Supervisor], "wallboard"),
        ("default", &[Role::Agent], "agent-7"),
    ])
    .await;
    let list = |metadata: Value| async move {
        let (_, status) = bridge_call(
            server.http,
            "/switchboard.v1.Admin/ListAgents",
            metadata,
            vec![Vec::new()],
        )
        .await;
        status
    };
    let none = list(json!({})).await;
    assert_eq!(none["code"], 16, "no token, even on loopback: {none}");
    let supervisor = list(json!({ "authorization": format!("Bearer {}", keys[0]) })).await;
    assert_eq!(supervisor["code"], 0, "{supervisor}");
    let agent = list(json!({ "authorization": format!("Bearer {}", keys[1]) })).await;
    assert_eq!(
        agent["code"], 7,
        "PERMISSION_DENIED for the agent role: {agent}"
    );
    let other = list(json!({
        "authorization": format!("Bearer {}", keys[0]),
        "x-switchboard-tenant": "acme",
    }))
    .await;
    assert_eq!(
        other["code"], 7,
        "PERMISSION_DENIED for another tenant: {other}"
    );
    server.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_drain_ends_console_streams_with_unavailable() {
    use futures_util::StreamExt;
    let server = start_server().await;
    let mut desk = open_desk(server.http, Some("draining-agent")).await;
    match tokio::time::timeout(STEP, desk.next()).await {
        Ok(Some(Ok(Message::Binary(_)))) => {}
        other => panic!("expected signed_in, got {other:?}"),
    }
    let stopping = tokio::spawn(server.stop());
    let status = tokio::time::timeout(STEP, async {
        loop {
            match desk.next().await {
                Some(Ok(Message::Text(text))) => {
                    return serde_json::from_str::<Value>(&text).unwrap();
                }
                Some(Ok(_)) => continue,
                other => panic!("the stream ended without a status: {other:?}"),
            }
        }
    })
    .await
    .expect("a status within the step");
    assert_eq!(status["code"], 14, "UNAVAILABLE: {status}");
    tokio::time::timeout(STEP, stopping)
        .await
        .expect("the server stops with a console socket open")
        .unwrap();
}

#[tokio::test]
async fn a_page_of_another_site_cannot_open_a_console_socket() {
    let server = start_server().await;
    let mut request = format!(
        "ws://{}/console/grpc?method=/switchboard.v1.Admin/ListAgents",
        server.http
    )
    .into_client_request()
    .unwrap();
    request
        .headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    match connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403)
        }
        other => panic!("expected 403 for a foreign origin, got {other:?}"),
    }
    server.stop().await;
}

/// A plain HTTP/1.1 GET, enough for `/metrics` and the console's files.
async fn reqwest_free_get(addr: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).await.unwrap();
    text
}

// ---------------------------------------------------------------------------------
// Headless Chromium over the DevTools protocol.

/// The browser process and its profile directory, both gone on drop.
struct Browser {
    child: Child,
    profile: PathBuf,
    cdp: Socket,
    next_id: u64,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// `chromium` on the PATH (or `$CHROMIUM`), if there is one.
fn find_chromium() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Chromium's sandbox cannot run as root; the pages are this test's own.
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|uids| uids.split_whitespace().next() == Some("0"))
        })
        .unwrap_or(false)
}

impl Browser {
    async fn launch(chromium: &Path) -> Browser {
        let profile = std::env::temp_dir().join(format!(
            "switchboard-chromium-{}-{:x}",
            std::process::id(),
            rand_seed()
        ));
        std::fs::create_dir_all(&profile).unwrap();
        let mut command = Command::new(chromium);
        command
            .arg("--headless=new")
            .arg("--remote-debugging-port=0")
            .arg(format!("--user-data-dir={}", profile.display()))
            .args([
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-background-timer-throttling",
                "--disable-backgrounding-occluded-windows",
                "--disable-renderer-backgrounding",
                "--window-size=1360,900",
                "about:blank",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if running_as_root() {
            command.arg("--no-sandbox");
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromium.display()));
        let port_file = profile.join("DevToolsActivePort");
        let deadline = Instant::now() + STEP;
        let endpoint = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file) {
                let mut lines = text.lines();
                if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                    break format!("ws://127.0.0.1:{port}{path}");
                }
            }
            assert!(
                Instant::now() < deadline,
                "chromium wrote no {} within {} s",
                port_file.display(),
                STEP.as_secs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let (cdp, _) = connect_async(endpoint)
            .await
            .expect("the DevTools endpoint accepts");
        Browser {
            child,
            profile,
            cdp,
            next_id: 0,
        }
    }

    /// One DevTools command (in a page's session when given); its result.
    async fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        use futures_util::{SinkExt, StreamExt};
        self.next_id += 1;
        let id = self.next_id;
        let mut command = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            command["sessionId"] = json!(session);
        }
        self.cdp
            .send(Message::text(command.to_string()))
            .await
            .expect("DevTools socket open");
        let deadline = Instant::now() + STEP;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = tokio::time::timeout(left, self.cdp.next())
                .await
                .unwrap_or_else(|_| panic!("DevTools gave no answer to {method}"))
                .expect("DevTools socket open")
                .expect("DevTools socket readable");
            let Message::Text(text) = message else {
                continue;
            };
            let reply: Value = serde_json::from_str(&text).unwrap();
            if reply["id"] == json!(id) {
                if let Some(error) = reply.get("error") {
                    panic!("DevTools {method} failed: {error}");
                }
                return reply["result"].clone();
            }
        }
    }

    /// Opens `url` in a new tab of 1360x900 and returns its session.
    async fn open(&mut self, url: &str) -> Tab {
        let target = self
            .call(None, "Target.createTarget", json!({ "url": url }))
            .await;
        let target_id = target["targetId"].as_str().unwrap().to_owned();
        let attached = self
            .call(
                None,
                "Target.attachToTarget",
                json!({ "targetId": target_id, "flatten": true }),
            )
            .await;
        let session = attached["sessionId"].as_str().unwrap().to_owned();
        self.call(
            Some(&session),
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": 1360, "height": 900, "deviceScaleFactor": 1, "mobile": false }),
        )
        .await;
        Tab { session }
    }

    /// Opens `url` in a new tab whose pages keep every WebSocket they open in
    /// `window.__sockets`, so a test can close them from outside the page's code.
    async fn open_tracking_sockets(&mut self, url: &str) -> Tab {
        let tab = self.open("about:blank").await;
        let tracker = "window.__sockets = []; const Native = window.WebSocket; \
            window.WebSocket = class extends Native { \
              constructor(...args) { super(...args); window.__sockets.push(this); } };";
        self.call(Some(&tab.session), "Page.enable", json!({}))
            .await;
        self.call(
            Some(&tab.session),
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": tracker }),
        )
        .await;
        self.call(Some(&tab.session), "Page.navigate", json!({ "url": url }))
            .await;
        tab
    }

    /// The customer in the chat `tab` types `text` and sends it.
    async fn chat_says(&mut self, tab: &Tab, text: &str) {
        self.eval(tab, &type_into("[data-testid=chat-input]", text))
            .await;
        self.eval(tab, &click("[data-testid=chat-send]")).await;
    }

    /// The agent in the desk `desk` replies `text` in its open conversation, and the
    /// customer in the chat `chat` sees it.
    async fn desk_replies(&mut self, desk: &Tab, chat: &Tab, text: &str) {
        self.eval(desk, &type_into("[data-testid=desk-reply-input]", text))
            .await;
        self.eval(desk, &click("[data-testid=desk-reply-send]"))
            .await;
        self.wait_for(
            chat,
            "the agent's reply in the chat",
            &format!(
                "[...document.querySelectorAll('.bubble.agent')].some(b => b.textContent.includes({text:?}))"
            ),
        )
        .await;
    }

    /// Evaluates `expression` in `tab` (promises awaited) and returns its value.
    async fn eval(&mut self, tab: &Tab, expression: &str) -> Value {
        let result = self
            .call(
                Some(&tab.session),
                "Runtime.evaluate",
                json!({ "expression": expression, "awaitPromise": true, "returnByValue": true }),
            )
            .await;
        if let Some(details) = result.get("exceptionDetails") {
            panic!("script failed: {expression}\n{details}");
        }
        result["result"]["value"].clone()
    }

    /// Waits until `condition` (a JS expression) is truthy in `tab`, up to [`STEP`];
    /// fails naming `what` with the page's visible text.
    async fn wait_for(&mut self, tab: &Tab, what: &str, condition: &str) -> Value {
        let deadline = Instant::now() + STEP;
        loop {
            let value = self.eval(tab, condition).await;
            if !(value.is_null()
                || value == json!(false)
                || value == json!("")
                || value == json!(0))
            {
                println!("ok: {what}");
                return value;
            }
            if Instant::now() >= deadline {
                // Background tabs are not laid out: textContent, not innerText.
                let text = self
                    .eval(
                        tab,
                        "document.body.textContent.replace(/\\s+/g, ' ').trim()",
                    )
                    .await;
                panic!(
                    "timed out after {} s waiting for {what}; the page shows:\n{}",
                    STEP.as_secs(),
                    text.as_str().unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Writes a PNG of `tab` to `path`.
    async fn screenshot(&mut self, tab: &Tab, path: &Path) {
        self.call(Some(&tab.session), "Page.bringToFront", json!({}))
            .await;
        let shot = self
            .call(
                Some(&tab.session),
                "Page.captureScreenshot",
                json!({ "format": "png" }),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap();
        std::fs::write(path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        println!("screenshot: {}", path.display());
    }
}

/// A page's DevTools session.
struct Tab {
    session: String,
}

fn rand_seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(0u8)
}

/// Where screenshots go: `target/` (or `$CARGO_TARGET_DIR`).
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// Clicks the element `selector` selects in `tab`.
fn click(selector: &str) -> String {
    format!(
        "(() => {{ const e = document.querySelector({selector:?}); if (!e) return false; e.click(); return true; }})()"
    )
}

/// Types `text` into the input `selector` selects.
fn type_into(selector: &str, text: &str) -> String {
    format!(
        "(() => {{ const e = document.querySelector({selector:?}); if (!e) return false; e.value = {text:?}; return true; }})()"
    )
}

/// The `.value` text of the wallboard tile `testid`.
fn tile(testid: &str) -> String {
    format!("document.querySelector('[data-testid={testid}] .value')?.textContent")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_conversation_in_headless_chromium() {
    let Some(chromium) = find_chromium() else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "CI=true but no chromium on the PATH: install Debian's `chromium` (.ci/run does)"
            );
        }
        println!(
            "skipped: no chromium on the PATH (apt-get install chromium); CI=true fails instead"
        );
        return;
    };
    let server = start_server().await;
    let base = format!("http://{}/", server.http);
    let mut browser = Browser::launch(&chromium).await;

    let wall = browser.open(&format!("{base}#wallboard")).await;
    let desk = browser.open(&format!("{base}#desk")).await;
    let chat = browser.open(&format!("{base}#chat")).await;
    for (tab, name) in [(&wall, "wallboard"), (&desk, "desk"), (&chat, "chat")] {
        browser
            .wait_for(
                tab,
                &format!("the {name} page to load the contract"),
                "document.body?.dataset.ready === 'true'",
            )
            .await;
    }
    browser
        .wait_for(
            &wall,
            "the wallboard to show no agents",
            &format!("{} === '0'", tile("wall-agents-total")),
        )
        .await;

    // The agent signs in, away for now: the customer will have to wait.
    browser
        .eval(
            &desk,
            &type_into("[data-testid=desk-skills]", "orders:4, en:5"),
        )
        .await;
    browser
        .eval(
            &desk,
            "document.querySelector('[data-testid=desk-presence]').value = 'PRESENCE_AWAY'",
        )
        .await;
    browser
        .eval(&desk, &click("[data-testid=desk-sign-in]"))
        .await;
    browser
        .wait_for(
            &desk,
            "the desk to sign in",
            "document.querySelector('[data-testid=desk-banner]')?.textContent.includes('Signed in as demo-agent')",
        )
        .await;
    browser
        .wait_for(
            &wall,
            "the wallboard to count one agent, away",
            &format!(
                "{} === '1' && {} === '1'",
                tile("wall-agents-total"),
                tile("wall-away")
            ),
        )
        .await;

    // The customer writes; the bot greets with buttons and answers.
    browser
        .wait_for(
            &chat,
            "the chat to connect",
            "document.querySelector('[data-testid=chat-status]').dataset.state === 'connected'",
        )
        .await;
    browser.chat_says(&chat, "Where is my order #1234?").await;
    browser
        .wait_for(
            &chat,
            "the bot's greeting with buttons",
            "document.querySelectorAll('.bubble.bot .buttons button').length > 0",
        )
        .await;
    browser
        .chat_says(&chat, "Can I talk to a person, please?")
        .await;
    browser
        .wait_for(
            &chat,
            "the customer's place in the queue",
            "!document.querySelector('[data-testid=chat-queue]').hidden && document.querySelector('[data-testid=chat-queue]').textContent.includes('position')",
        )
        .await;

    // The wallboard counts them waiting and explains why.
    browser
        .wait_for(
            &wall,
            "the wallboard to count one waiting",
            &format!("{} === '1'", tile("wall-waiting-total")),
        )
        .await;
    browser
        .eval(&wall, &click("[data-testid=wall-waiting-row]"))
        .await;
    browser
        .wait_for(
            &wall,
            "the explanation of the waiting conversation",
            "document.querySelector('[data-testid=wall-verdict]')?.textContent",
        )
        .await;
    let shots = target_dir();
    std::fs::create_dir_all(&shots).unwrap();
    browser
        .screenshot(&wall, &shots.join("console-wallboard.png"))
        .await;

    // The agent goes available, gets the offer with its context, accepts and replies.
    browser
        .eval(&desk, &click("[data-testid=desk-available]"))
        .await;
    browser
        .wait_for(
            &desk,
            "the offer with the transcript",
            "document.querySelector('[data-testid=desk-offer] .transcript li')",
        )
        .await;
    browser
        .eval(&desk, &click("[data-testid=desk-accept]"))
        .await;
    browser
        .wait_for(
            &desk,
            "the accepted conversation",
            "document.querySelector('[data-testid=desk-conversation]')",
        )
        .await;
    // The customer sees the reply and writes again; the agent sees it, with suggestions.
    let reply = "It left our warehouse this morning; it arrives tomorrow.";
    browser.desk_replies(&desk, &chat, reply).await;
    browser
        .chat_says(&chat, "Great, thanks! Can I still return it if it's wrong?")
        .await;
    browser
        .wait_for(
            &desk,
            "the customer's message at the desk",
            "document.querySelector('[data-testid=desk-conversation] .transcript').textContent.includes('return it')",
        )
        .await;
    browser
        .wait_for(
            &wall,
            "the wallboard to count nobody waiting and one busy agent",
            &format!(
                "{} === '0' && {} === '1' && {} === '1'",
                tile("wall-waiting-total"),
                tile("wall-busy"),
                tile("wall-held")
            ),
        )
        .await;
    // Suggestions come from the knowledge base when it has an answer; shown if so.
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline
        && browser
            .eval(
                &desk,
                "document.querySelectorAll('[data-testid=desk-suggestions] button').length",
            )
            .await
            == json!(0)
    {
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    browser
        .screenshot(&desk, &shots.join("console-desk.png"))
        .await;

    // The agent closes; the customer gets the survey with buttons and answers it.
    browser
        .eval(&desk, &click("[data-testid=desk-close]"))
        .await;
    browser
        .wait_for(
            &chat,
            "the satisfaction survey buttons",
            "[...document.querySelectorAll('.bubble')].slice(-3).some(b => b.querySelector('.buttons button'))",
        )
        .await;
    browser
        .eval(
            &chat,
            "(() => { const b = [...document.querySelectorAll('.bubble .buttons button')].pop(); b.click(); return b.textContent; })()",
        )
        .await;
    browser
        .wait_for(
            &chat,
            "the thanks for the survey answer",
            "document.querySelectorAll('.bubble').length > 0 && !document.querySelector('.bubble:last-child').classList.contains('customer')",
        )
        .await;
    browser
        .screenshot(&chat, &shots.join("console-chat.png"))
        .await;

    drop(browser);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desk_page_whose_socket_drops_reconnects_and_keeps_its_conversation() {
    let Some(chromium) = find_chromium() else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("CI=true but no chromium on the PATH");
        }
        println!("skipped: no chromium on the PATH (apt-get install chromium)");
        return;
    };
    let server = start_server().await;
    let base = format!("http://{}/", server.http);
    let mut browser = Browser::launch(&chromium).await;
    let desk = browser.open_tracking_sockets(&format!("{base}#desk")).await;
    let chat = browser.open(&format!("{base}#chat")).await;
    for (tab, name) in [(&desk, "desk"), (&chat, "chat")] {
        browser
            .wait_for(
                tab,
                &format!("the {name} page to load the contract"),
                "document.body?.dataset.ready === 'true'",
            )
            .await;
    }

    // The agent signs in available; the customer asks for a person and the desk
    // accepts the offer.
    browser
        .eval(
            &desk,
            &type_into("[data-testid=desk-skills]", "orders:4, en:5"),
        )
        .await;
    browser
        .eval(&desk, &click("[data-testid=desk-sign-in]"))
        .await;
    browser
        .wait_for(
            &desk,
            "the desk to sign in",
            "document.querySelector('[data-testid=desk-banner]')?.textContent.includes('Signed in as demo-agent')",
        )
        .await;
    browser
        .wait_for(
            &chat,
            "the chat to connect",
            "document.querySelector('[data-testid=chat-status]').dataset.state === 'connected'",
        )
        .await;
    browser.chat_says(&chat, "Where is my order #1234?").await;
    browser
        .wait_for(
            &chat,
            "the bot's answer",
            "document.querySelectorAll('.bubble.bot').length > 0",
        )
        .await;
    browser
        .chat_says(&chat, "Can I talk to a person, please?")
        .await;
    browser
        .wait_for(
            &desk,
            "the offer",
            "document.querySelector('[data-testid=desk-offer]')",
        )
        .await;
    browser
        .eval(&desk, &click("[data-testid=desk-accept]"))
        .await;
    browser
        .wait_for(
            &desk,
            "the accepted conversation",
            "document.querySelector('[data-testid=desk-conversation]')",
        )
        .await;

    // The desk's socket is closed from outside its code, as a network drop would.
    let closed = browser
        .eval(
            &desk,
            "(() => { const open = window.__sockets.filter(s => s.url.includes('AgentDesk') && s.readyState === WebSocket.OPEN); open.forEach(s => s.close()); return open.length; })()",
        )
        .await;
    assert_eq!(closed, json!(1), "the desk had one session socket open");
    browser
        .wait_for(
            &desk,
            "the desk to say it is reconnecting",
            "(() => { const r = document.querySelector('[data-testid=desk-reconnecting]'); return !r.hidden && r.textContent.includes('connection lost, reconnecting'); })()",
        )
        .await;
    // The customer writes while the agent is away.
    browser
        .chat_says(&chat, "Hello? Are you still there?")
        .await;

    // It signs in again on a new socket and gets the conversation back, assigned,
    // with what the customer wrote meanwhile.
    browser
        .wait_for(
            &desk,
            "the desk to reconnect",
            "document.querySelector('[data-testid=desk-reconnecting]').hidden && window.__sockets.filter(s => s.url.includes('AgentDesk') && s.readyState === WebSocket.OPEN).length === 1",
        )
        .await;
    browser
        .wait_for(
            &desk,
            "the conversation back with the customer's message",
            "document.querySelector('[data-testid=desk-conversation] .transcript')?.textContent.includes('Are you still there?')",
        )
        .await;
    let offers = browser
        .eval(
            &desk,
            "document.querySelectorAll('[data-testid=desk-offer]').length",
        )
        .await;
    assert_eq!(offers, json!(0), "resumed, not offered again");

    // A reply reaches the customer's chat.
    let reply = "Sorry, my connection dropped. I am here.";
    browser.desk_replies(&desk, &chat, reply).await;

    // A reload is a dropped connection too: the tab signs in again by itself and
    // the conversation comes back with the whole exchange.
    browser.eval(&desk, "window.__old_page = true").await;
    browser
        .call(Some(&desk.session), "Page.reload", json!({}))
        .await;
    browser
        .wait_for(
            &desk,
            "the reloaded desk to have its conversation back",
            &format!(
                "!window.__old_page && document.querySelector('[data-testid=desk-conversation] .transcript')?.textContent.includes({reply:?})"
            ),
        )
        .await;

    // Signing out ends the call cleanly: the sign-in form, no reconnecting.
    browser
        .eval(&desk, &click("[data-testid=desk-sign-out]"))
        .await;
    browser
        .wait_for(
            &desk,
            "the sign-in form after signing out",
            "!document.querySelector('.sign-in').hidden && document.querySelector('[data-testid=desk-reconnecting]').hidden && document.querySelector('[data-testid=desk-error]').textContent === ''",
        )
        .await;
    // Signed out at once, not held for a return.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let (responses, status) = bridge_call(
            server.http,
            "/switchboard.v1.Admin/ListAgents",
            json!({}),
            vec![Vec::new()],
        )
        .await;
        assert_eq!(status["code"], 0, "{status}");
        let agents = pb::ListAgentsResponse::decode(&responses[0][..]).unwrap();
        if agents.agents.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still signed in after signing out: {agents:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    drop(browser);
    server.stop().await;
}
