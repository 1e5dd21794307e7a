//! `switchboard ctl` against a real server: the server runs in this process on
//! loopback ports, the CLI is the built binary run as a child process, and the tests
//! read what it prints and its exit code, as an operator or a script would.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use switchboard::api::pb;
use switchboard::api::pb::agent_desk_client::AgentDeskClient;
use switchboard::auth::{Role, api_keys};
use switchboard::config::{Config, LogFormat};
use switchboard::storage::{Durability, StorageSettings};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_stream::wrappers::ReceiverStream;

/// A server running in this test's process; stops when dropped.
struct Server {
    /// Its gRPC address.
    addr: SocketAddr,
    /// Dropping it starts the shutdown.
    _stop: oneshot::Sender<()>,
}

/// The product's defaults (web is bot-first, SMS queues for a person at once), kept
/// in memory so tests running side by side share no data directory.
fn config() -> Config {
    Config {
        log_format: LogFormat::Text,
        shutdown_grace_secs: 1,
        storage: StorageSettings {
            durability: Durability::Off,
            ..StorageSettings::default()
        },
        ..Config::default()
    }
}

async fn start(config: Config) -> Server {
    let grpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = grpc.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(switchboard::run(config, grpc, metrics, async {
        let _ = stopped.await;
    }));
    Server { addr, _stop: stop }
}

impl Server {
    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// What one `switchboard ctl` run printed, and how it ended.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Asserts success and gives stdout.
    fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "{self:?}");
        &self.stdout
    }

    /// Asserts success and parses stdout as JSON.
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.ok()).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }
}

/// Runs `switchboard ctl ARGS` with `env` set (and no `SWITCHBOARD_*` variable from
/// the test's own environment), off the async runtime so the server keeps serving.
async fn ctl(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    command.arg("ctl").args(args).stdin(Stdio::null());
    for (name, _) in std::env::vars() {
        if name.starts_with("SWITCHBOARD_") {
            command.env_remove(name);
        }
    }
    command.env_remove("NO_COLOR");
    for (name, value) in env {
        command.env(name, value);
    }
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("the switchboard binary runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `ctl --addr URL ARGS`.
async fn ctl_at(url: &str, args: &[&str]) -> Run {
    let mut all = vec!["--addr", url];
    all.extend_from_slice(args);
    ctl(&all, &[]).await
}

/// Sends one SMS as customer `customer` and gives the new conversation's id.
async fn send_sms(url: &str, customer: &str, text: &str) -> String {
    let run = ctl_at(
        url,
        &[
            "send",
            "--channel",
            "sms",
            "--customer",
            customer,
            "--json",
            text,
        ],
    )
    .await;
    let sent = run.json();
    assert_eq!(sent["created"], true, "{run:?}");
    sent["conversation_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_fresh_server_has_nothing_waiting_and_no_agents() {
    let server = start(config()).await;
    // The address from the environment, as an operator's shell would set it.
    let url = server.url();
    let waiting = ctl(&["waiting"], &[("SWITCHBOARD_ADDR", &url)]).await;
    assert_eq!(waiting.ok(), "no conversations waiting\n");
    let agents = ctl_at(&url, &["agents"]).await;
    assert_eq!(agents.ok(), "no agents signed in\n");
    let config = ctl_at(&url, &["config"]).await;
    assert!(config.ok().contains("grpc_addr = "), "{config:?}");
}

#[tokio::test]
async fn an_sms_sent_with_ctl_waits_and_is_explained() {
    let server = start(config()).await;
    let url = server.url();
    let sent = ctl_at(
        &url,
        &[
            "send",
            "--channel",
            "sms",
            "--customer",
            "u-1",
            "--clv",
            "12000",
            "where",
            "is",
            "my",
            "order?",
        ],
    )
    .await;
    let text = sent.ok();
    let first = text.lines().next().unwrap();
    assert!(first.ends_with("(opened)"), "{text}");
    let id = first
        .strip_prefix("conversation ")
        .and_then(|rest| rest.split(' ').next())
        .unwrap()
        .to_owned();
    assert!(text.contains("system: "), "a queue note comes back: {text}");
    assert!(
        text.contains("queue: position 1, no estimate"),
        "nobody is signed in, so no estimate: {text}"
    );

    let waiting = ctl_at(&url, &["waiting"]).await;
    let table = waiting.ok();
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("POS  CONVERSATION"), "{table}");
    let row = lines.next().unwrap();
    assert!(
        row.contains(&id) && row.contains("sms") && row.contains("u-1"),
        "{table}"
    );
    assert!(row.trim_start().starts_with('1'), "position 1: {table}");
    assert_eq!(lines.next(), Some("1 waiting"), "{table}");

    let explain = ctl_at(&url, &["explain", &id]).await;
    let text = explain.ok();
    assert!(text.contains("state         queued"), "{text}");
    assert!(text.contains("verdict"), "{text}");
    assert!(text.contains("no agent signed in to consider"), "{text}");

    let conversation = ctl_at(&url, &["conversation", &id]).await;
    let text = conversation.ok();
    assert!(text.contains("customer  where is my order?"), "{text}");
    assert!(text.contains("channel       sms (ctl-u-1)"), "{text}");

    // The same thread continues the same conversation.
    let again = ctl_at(
        &url,
        &["send", "--channel", "sms", "--customer", "u-1", "hello?"],
    )
    .await;
    assert!(
        again
            .ok()
            .starts_with(&format!("conversation {id} (continued)")),
        "{again:?}"
    );
}

#[tokio::test]
async fn json_output_has_the_fields_scripts_read() {
    let mut config = config();
    config.kb = Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("kb/starter.json"));
    let server = start(config).await;
    let url = server.url();
    let id = send_sms(&url, "u-2", "my parcel is late").await;

    let waiting = ctl_at(&url, &["waiting", "--json"]).await.json();
    assert_eq!(waiting["total"], 1);
    let c = &waiting["conversations"][0];
    assert_eq!(c["conversation_id"], id.as_str());
    assert_eq!(c["channel"], "sms");
    assert_eq!(c["state"], "queued");
    assert_eq!(c["customer_id"], "u-2");
    assert_eq!(c["position"], 1);
    assert_eq!(c["queue"], "default");
    assert!(
        c["waited_ms"].is_u64() && c["value_tier"].is_string(),
        "{c}"
    );

    // `--json` may also come before the subcommand.
    let explain = ctl_at(&url, &["--json", "explain", &id]).await.json();
    assert_eq!(explain["conversation_id"], id.as_str());
    assert_eq!(explain["state"], "queued");
    assert_eq!(explain["position"], 1);
    assert!(explain["verdict"].as_str().is_some_and(|v| !v.is_empty()));
    assert!(explain["candidates"].as_array().is_some_and(Vec::is_empty));

    let conversation = ctl_at(&url, &["conversation", &id, "--json"]).await.json();
    let transcript = conversation["transcript"].as_array().unwrap();
    assert_eq!(transcript[0]["sender"], "customer");
    assert_eq!(transcript[0]["text"], "my parcel is late");

    let agents = ctl_at(&url, &["agents", "--json"]).await.json();
    assert_eq!(agents["agents"], serde_json::json!([]));
    let config = ctl_at(&url, &["config", "--json"]).await.json();
    assert!(config["toml"].as_str().unwrap().contains("[routing]"));
    let kb = ctl_at(&url, &["reload-kb", "--json"]).await.json();
    assert!(kb["entries"].as_u64().unwrap() > 0, "{kb}");
    assert!(
        kb["path"].as_str().unwrap().ends_with("starter.json"),
        "{kb}"
    );
    let kpis = ctl_at(&url, &["kpis", "--json"]).await.json();
    assert_eq!(kpis["window_secs"], 3600);
    let bots = ctl_at(&url, &["bots", "--json"]).await.json();
    assert_eq!(bots["bots"], serde_json::json!([]));

    // `watch` off a terminal prints each refresh; with --json one object a line.
    let watch = ctl_at(
        &url,
        &["watch", "--interval", "100ms", "--count", "2", "--json"],
    )
    .await;
    let lines: Vec<&str> = watch.ok().lines().collect();
    assert_eq!(lines.len(), 2, "{watch:?}");
    for line in lines {
        let snapshot: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(snapshot["waiting"]["total"], 1);
        assert_eq!(snapshot["agents"]["signed_in"], 0);
    }
    let watch = ctl_at(&url, &["watch", "--count", "1"]).await;
    let text = watch.ok();
    assert!(text.contains(" 1 waiting, longest "), "{text}");
    assert!(text.contains("0 agents signed in"), "{text}");
    assert!(
        !text.contains('\x1b'),
        "no escape codes off a terminal: {text:?}"
    );
}

#[tokio::test]
async fn agents_and_explain_show_who_could_serve_and_why_not() {
    let server = start(config()).await;
    let url = server.url();
    // An agent with billing only, signed in over the desk stream as a desktop would.
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(pb::AgentFrame {
        request_id: "sign-in".into(),
        action: Some(pb::agent_frame::Action::SignIn(pb::SignIn {
            agent_id: "a-billing".into(),
            display_name: "Wang Fang".into(),
            skills: vec![pb::AgentSkill {
                skill: "billing".into(),
                proficiency: 4,
            }],
            capacity: Some(pb::Capacity {
                messaging: 2,
                email: 0,
                voice: 0,
            }),
            presence: pb::Presence::Available as i32,
        })),
    })
    .await
    .unwrap();
    let mut desk = AgentDeskClient::connect(url.clone())
        .await
        .unwrap()
        .session(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let first = desk.message().await.unwrap().unwrap();
    assert!(
        matches!(first.frame, Some(pb::desk_frame::Frame::SignedIn(_))),
        "{first:?}"
    );

    let agents = ctl_at(&url, &["agents"]).await;
    let text = agents.ok();
    let row = text.lines().nth(1).unwrap();
    for part in [
        "a-billing",
        "Wang Fang",
        "available",
        "msg 0/2",
        "billing:4",
    ] {
        assert!(row.contains(part), "{part}: {text}");
    }
    assert!(
        text.ends_with("1 agent signed in: 1 available, 0 away, 0 in wrap-up\n"),
        "{text}"
    );

    // A conversation that needs `orders`, which the agent lacks: it waits.
    let run = ctl_at(
        &url,
        &[
            "send",
            "--channel",
            "sms",
            "--customer",
            "u-3",
            "--skill",
            "orders:2",
            "--json",
            "my order?",
        ],
    )
    .await;
    let id = run.json()["conversation_id"].as_str().unwrap().to_owned();
    let explain = ctl_at(&url, &["explain", &id]).await;
    let text = explain.ok();
    assert!(
        text.contains("1 of 1 signed-in agents considered:"),
        "{text}"
    );
    let row = text
        .lines()
        .find(|l| l.starts_with("a-billing"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        row.contains("orders>=2"),
        "the missing skill is named: {text}"
    );
    let json = ctl_at(&url, &["explain", &id, "--json"]).await.json();
    let candidate = &json["candidates"][0];
    assert_eq!(candidate["agent_id"], "a-billing");
    assert_eq!(candidate["eligible"], false);
    assert_eq!(candidate["missing_skills"][0]["skill"], "orders");
    assert_eq!(candidate["missing_skills"][0]["level"], 2);
    let agents = ctl_at(&url, &["agents", "--json"]).await.json();
    assert_eq!(agents["agents"][0]["presence"], "available");
    assert_eq!(agents["agents"][0]["capacity"]["messaging"], 2);
    drop(tx);
}

#[tokio::test]
async fn a_web_message_is_answered_by_the_bot_and_nobody_waits() {
    let server = start(config()).await;
    let url = server.url();
    let sent = ctl_at(
        &url,
        &[
            "send",
            "--channel",
            "web",
            "--customer",
            "w-1",
            "--language",
            "en",
            "hello",
        ],
    )
    .await;
    assert!(sent.ok().contains("bot: "), "web is bot-first: {sent:?}");
    assert_eq!(
        ctl_at(&url, &["waiting"]).await.ok(),
        "no conversations waiting\n"
    );
}

#[tokio::test]
async fn an_unknown_conversation_is_a_clear_error() {
    let server = start(config()).await;
    let url = server.url();
    for command in ["explain", "conversation"] {
        let run = ctl_at(&url, &[command, "no-such-conversation"]).await;
        assert_eq!(run.code, 1, "{run:?}");
        assert!(
            run.stderr.starts_with("switchboard ctl: NOT_FOUND: "),
            "{run:?}"
        );
        assert!(run.stdout.is_empty(), "{run:?}");
    }
    let run = ctl_at(&url, &["profile", "987654"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("NOT_FOUND"), "{run:?}");
}

#[tokio::test]
async fn a_refused_connection_names_the_address() {
    // A port that was free a moment ago: nothing listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let run = ctl_at(&url, &["waiting"]).await;
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr.starts_with(&format!(
            "switchboard ctl: cannot reach the server at {url}: "
        )),
        "{run:?}"
    );
    assert!(run.stderr.to_lowercase().contains("refused"), "{run:?}");
    // host:port alone is plain HTTP/2, as --grpc-addr is written.
    let run = ctl_at(&format!("127.0.0.1:{port}"), &["waiting"]).await;
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains(&url), "{run:?}");
}

#[tokio::test]
async fn bad_input_is_refused_before_anything_is_sent() {
    let run = ctl_at("not a url", &["waiting"]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("is not a server address"), "{run:?}");
    let run = ctl(&["send", "--channel", "fax", "--customer", "u", "hi"], &[]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("unknown channel \"fax\""), "{run:?}");
    let run = ctl(&["profile", "fax:123"], &[]).await;
    assert_eq!(run.code, 2, "{run:?}");
    let run = ctl(&["--tenant", "no spaces", "waiting"], &[]).await;
    assert_eq!(run.code, 2, "{run:?}");
}

#[tokio::test]
async fn a_token_is_sent_as_a_bearer_credential() {
    let dir = scratch("token");
    let (key, entry) = api_keys::new_key("default", &[Role::Operator], "ops").unwrap();
    let file = api_keys::KeyFile {
        keys: vec![entry],
        certificates: Vec::new(),
    };
    let keys = dir.join("api-keys.toml");
    std::fs::write(&keys, toml::to_string(&file).unwrap()).unwrap();
    let mut config = config();
    config.auth.api_keys_file = Some(keys);
    let server = start(config).await;
    let url = server.url();

    let run = ctl_at(&url, &["waiting"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("UNAUTHENTICATED"), "{run:?}");
    let run = ctl_at(&url, &["--token", &key, "waiting"]).await;
    assert_eq!(run.ok(), "no conversations waiting\n");
    let run = ctl(&["--addr", &url, "agents"], &[("SWITCHBOARD_TOKEN", &key)]).await;
    assert_eq!(run.ok(), "no agents signed in\n");
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn https_is_spoken_with_the_servers_ca() {
    let dir = scratch("tls");
    let ca_file = write_tls_files(&dir);
    let mut config = config();
    config.tls.cert_file = Some(dir.join("tls.crt"));
    config.tls.key_file = Some(dir.join("tls.key"));
    let server = start(config).await;
    let url = format!("https://localhost:{}", server.addr.port());

    let run = ctl_at(&url, &["--ca-cert", ca_file.to_str().unwrap(), "waiting"]).await;
    assert_eq!(run.ok(), "no conversations waiting\n");
    // Without the CA the certificate is not trusted, and the error says so.
    let run = ctl(
        &["--addr", &url, "waiting"],
        &[("SSL_CERT_FILE", "/dev/null")],
    )
    .await;
    assert_eq!(run.code, 2, "an empty CA file is bad input: {run:?}");
    let other = dir.join("other-ca.crt");
    std::fs::write(&other, new_ca("another ca").0.pem()).unwrap();
    let run = ctl_at(&url, &["--ca-cert", other.to_str().unwrap(), "waiting"]).await;
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("invalid peer certificate"), "{run:?}");
    assert!(run.stderr.contains("--ca-cert"), "{run:?}");
    std::fs::remove_dir_all(dir).ok();
}

/// A directory for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sb-ctl-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A self-signed CA.
fn new_ca(name: &str) -> (rcgen::Certificate, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert, Issuer::new(params, key))
}

/// Writes a CA (`ca.crt`) and a server certificate for `localhost` signed by it
/// (`tls.crt`, `tls.key`) into `dir`; gives the CA file.
fn write_tls_files(dir: &Path) -> PathBuf {
    let (ca, issuer) = new_ca("ctl test ca");
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    std::fs::write(dir.join("tls.crt"), cert.pem()).unwrap();
    std::fs::write(dir.join("tls.key"), key.serialize_pem()).unwrap();
    let ca_file = dir.join("ca.crt");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    ca_file
}

#[tokio::test]
async fn notifications_and_campaigns_are_shown_as_they_stand() {
    let mut config = config();
    config.routing.outbound.templates = vec![switchboard::outbound::TemplateSource {
        name: "outage".into(),
        language: "en".into(),
        text: "Service is restored.".into(),
        buttons: Vec::new(),
    }];
    let server = start(config).await;
    let url = server.url();
    assert_eq!(ctl_at(&url, &["campaigns"]).await.ok(), "no campaigns\n");
    let mut outbound = pb::outbound_client::OutboundClient::connect(url.clone())
        .await
        .unwrap();
    // No SMS adapter has been seen: the notice waits for one.
    let sent = outbound
        .send_notification(pb::SendNotificationRequest {
            customer: Some(pb::ProfileSelector {
                who: Some(pb::profile_selector::Who::Identifier(
                    pb::CustomerIdentifier {
                        kind: pb::IdentifierKind::Phone as i32,
                        value: "+8613700137009".into(),
                        verified: true,
                        ..Default::default()
                    },
                )),
            }),
            kind: pb::ContactPurpose::Service as i32,
            template: "outage".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let id = sent.notification_id.to_string();
    let shown = ctl_at(&url, &["notification", &id]).await;
    let shown = shown.ok();
    assert!(
        shown.contains("queued") && shown.contains("no_adapter") && shown.contains("restored"),
        "{shown}"
    );
    let json: serde_json::Value =
        serde_json::from_str(ctl_at(&url, &["--json", "notification", &id]).await.ok()).unwrap();
    assert_eq!(json["status"], "queued");
    assert_eq!(json["reason"], "no_adapter");
    // A campaign nobody can answer the replies to waits, and says why.
    outbound
        .start_campaign(pb::StartCampaignRequest {
            name: "restored".into(),
            kind: pb::ContactPurpose::Service as i32,
            template: "outage".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let listed = ctl_at(&url, &["campaigns"]).await;
    let listed = listed.ok();
    assert!(
        listed.contains("restored") && listed.contains("no_agents"),
        "{listed}"
    );
    let json: serde_json::Value =
        serde_json::from_str(ctl_at(&url, &["--json", "campaigns"]).await.ok()).unwrap();
    assert_eq!(json["campaigns"][0]["paused_because"], "no_agents");
    let unknown = ctl_at(&url, &["notification", "999"]).await;
    assert_eq!(unknown.code, 1, "{unknown:?}");
    assert!(unknown.stderr.contains("NOT_FOUND"), "{unknown:?}");
}
