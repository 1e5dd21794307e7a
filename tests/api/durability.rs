//! Durability: a server with a journal restarted on the same data directory keeps
//! every open conversation, waiting order, agent assignment, delivery and id.

use std::path::PathBuf;
use std::time::Duration;

use switchboard::api::pb;
use switchboard::config::Config;
use tonic::Code;

use crate::common::{Adapter, Agent, PROMPT, TestServer, journaled_in, spawn_server, test_config};

/// A fresh data directory for one test.
fn data_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sb-durability-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn journaled(dir: &std::path::Path, grace_secs: u64) -> Config {
    let mut config = journaled_in(dir, test_config());
    config.storage.agent_grace_secs = grace_secs;
    config
}

fn app_message(key: &str, clv: f64, text: &str, client_id: &str) -> pb::InboundMessage {
    pb::InboundMessage {
        channel: pb::Channel::App as i32,
        adapter_id: "app-adapter".into(),
        client_message_id: client_id.to_owned(),
        ..crate::common::message(key, clv, text)
    }
}

/// Stops the server the way a rolling deploy does (SIGTERM: drain, snapshot, exit).
async fn restart(server: TestServer, config: Config) -> TestServer {
    server.shutdown().await.unwrap();
    spawn_server(config).await
}

async fn waiting_ids(server: &TestServer) -> Vec<String> {
    server
        .admin()
        .await
        .list_waiting(pb::ListWaitingRequest::default())
        .await
        .unwrap()
        .into_inner()
        .conversations
        .into_iter()
        .map(|c| c.conversation_id)
        .collect()
}

fn customer_texts(view: &pb::ConversationView) -> Vec<String> {
    view.transcript
        .iter()
        .filter(|e| e.sender == pb::Sender::Customer as i32)
        .map(|e| e.text.clone())
        .collect()
}

#[tokio::test]
async fn waiting_customers_keep_their_places_ids_and_messages_across_restarts() {
    let dir = data_dir("waiting");
    let config = journaled(&dir, 30);
    let server = spawn_server(config.clone()).await;
    let mut adapter = Adapter::connect(&server, "app-adapter").await;
    let mut ids = Vec::new();
    for (i, clv) in [100.0, 90_000.0, 500.0, 30_000.0].into_iter().enumerate() {
        let accepted = adapter
            .send(app_message(
                &format!("t{i}"),
                clv,
                "where is my order?",
                &format!("m{i}"),
            ))
            .await
            .unwrap();
        ids.push(accepted.conversation_id);
    }
    adapter
        .send(app_message("t0", 100.0, "still waiting", "m0b"))
        .await
        .unwrap();
    let order = waiting_ids(&server).await;
    let waited = server.conversation(&ids[0]).await.unwrap().waited_ms;
    drop(adapter);

    // Twice: once from the snapshot the drain wrote, once more on top of the journal
    // records written after it.
    let server = restart(server, config.clone()).await;
    assert_eq!(
        waiting_ids(&server).await,
        order,
        "waiting order after a restart"
    );
    let mut adapter = Adapter::connect(&server, "app-adapter").await;
    // A resent message (same client id) is not filed twice; the same thread joins the
    // same conversation; a new one gets a new id, never an old one.
    let again = adapter
        .send(app_message("t0", 100.0, "still waiting", "m0b"))
        .await
        .unwrap();
    assert_eq!(again.conversation_id, ids[0]);
    assert!(!again.created);
    let fresh = adapter
        .send(app_message("t9", 10.0, "hello", "m9"))
        .await
        .unwrap();
    assert!(fresh.created);
    assert!(!ids.contains(&fresh.conversation_id), "an id was reused");
    drop(adapter);
    let server = restart(server, config.clone()).await;
    let view = server.conversation(&ids[0]).await.unwrap();
    assert_eq!(
        customer_texts(&view),
        vec!["where is my order?", "still waiting"],
        "each acknowledged message is there exactly once"
    );
    assert!(
        view.waited_ms >= waited,
        "time waited counts from the first arrival"
    );
    let mut expected = order.clone();
    expected.push(fresh.conversation_id);
    assert_eq!(waiting_ids(&server).await, expected);
    server.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A journaled server in a fresh data directory where agent `ann` (with `capacity`)
/// holds one app conversation the customer opened with `text`.
async fn holding(
    name: &str,
    grace_secs: u64,
    capacity: u32,
    text: &str,
) -> (PathBuf, Config, TestServer, Agent, Adapter, String) {
    let dir = data_dir(name);
    let config = journaled(&dir, grace_secs);
    let server = spawn_server(config.clone()).await;
    let mut agent = Agent::sign_in(&server, None, "ann", &[], capacity).await;
    let mut adapter = Adapter::connect(&server, "app-adapter").await;
    let held = adapter
        .send(app_message("held", 0.0, text, "m1"))
        .await
        .unwrap()
        .conversation_id;
    assert_eq!(agent.take_next().await, held);
    (dir, config, server, agent, adapter, held)
}

#[tokio::test]
async fn an_agent_back_within_the_grace_window_gets_its_conversation_as_accepted() {
    let (dir, config, server, mut agent, adapter, held) =
        holding("grace", 30, 2, "my parcel is late").await;
    agent.reply(&held, "Let me check.").await.unwrap();
    drop(adapter);

    let server = restart(server, config.clone()).await;
    assert_eq!(agent.inbox.end_status().await.code(), Code::Unavailable);
    let view = server.conversation(&held).await.unwrap();
    assert_eq!(
        view.agent_id, "ann",
        "the agent keeps it through the restart"
    );
    let mut agent = Agent::sign_in(&server, None, "ann", &[], 2).await;
    let resumed = agent.offer().await;
    assert!(resumed.resumed, "given back as accepted");
    assert_eq!(resumed.conversation_id, held);
    assert!(resumed.transcript.len() >= 2, "with its transcript");
    // No accept needed: the agent replies at once and the customer gets it.
    agent.reply(&held, "It ships today.").await.unwrap();
    let mut adapter = Adapter::connect(&server, "app-adapter").await;
    let mut texts = Vec::new();
    while !texts.iter().any(|t: &String| t == "It ships today.") {
        texts.push(adapter.message_text().await);
    }
    assert_eq!(
        texts.iter().filter(|t| *t == "Let me check.").count(),
        1,
        "the reply from before the restart is delivered once: {texts:?}"
    );
    server.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_conversation_whose_agent_does_not_come_back_is_routed_again() {
    let (dir, config, server, _ann, adapter, held) = holding("lapse", 1, 1, "hello").await;
    drop(adapter);
    let server = restart(server, config).await;
    let mut bob = Agent::sign_in(&server, None, "bob", &[], 1).await;
    assert!(
        !bob.offered_within(Duration::from_millis(300)).await,
        "held for ann during the grace window"
    );
    let offer = tokio::time::timeout(PROMPT, bob.offer()).await.unwrap();
    assert_eq!(offer.conversation_id, held);
    assert!(!offer.resumed, "a plain offer for the next agent");
    server.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn unacknowledged_deliveries_come_back_with_their_ids() {
    let (dir, config, server, mut agent, mut adapter, held) =
        holding("deliveries", 30, 1, "hello").await;
    agent.reply(&held, "first").await.unwrap();
    agent.reply(&held, "second").await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let d = adapter.delivery().await;
        seen.push((d.delivery_id, d.clone()));
    }
    // The first delivery (the queue note) is acknowledged, the replies are not.
    adapter.ack(seen[0].0).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(adapter);
    let server = restart(server, config).await;
    let mut adapter = Adapter::connect(&server, "app-adapter").await;
    let again: Vec<pb::Delivery> = vec![adapter.delivery().await, adapter.delivery().await];
    assert_eq!(
        again.iter().map(|d| d.delivery_id).collect::<Vec<_>>(),
        vec![seen[1].0, seen[2].0],
        "the unacknowledged deliveries, with the same ids"
    );
    assert_eq!(again[0], seen[1].1);
    assert_eq!(again[1], seen[2].1);
    server.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The journal's newest generation file in a data directory, and its length.
fn write_ahead_file(dir: &std::path::Path) -> (PathBuf, usize) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("journal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    files.sort();
    let file = files.pop().expect("a journal file");
    let used = std::fs::metadata(&file).unwrap().len() as usize;
    (file, used)
}

/// Opens `count` app conversations, one message each; returns their ids in order.
async fn open_conversations(server: &TestServer, prefix: &str, count: usize) -> Vec<String> {
    let mut adapter = Adapter::connect(server, "app-adapter").await;
    let mut ids = Vec::new();
    for i in 0..count {
        let key = format!("{prefix}{i}");
        let accepted = adapter
            .send(app_message(&key, 10.0, "hello", &format!("{key}-m")))
            .await
            .unwrap();
        ids.push(accepted.conversation_id);
    }
    ids
}

/// Drains and stops the server, then removes its snapshots, so the next start
/// rebuilds from the journal alone.
async fn stop_without_snapshots(server: TestServer, dir: &std::path::Path) {
    server.shutdown().await.unwrap();
    std::fs::remove_dir_all(dir.join("snapshots")).unwrap();
}

async fn is_open(server: &TestServer, id: &str) -> bool {
    server.conversation(id).await.is_ok()
}

#[tokio::test]
async fn damaged_journal_bytes_cut_it_back_and_no_id_is_given_twice() {
    let dir = data_dir("flipped");
    let config = journaled(&dir, 30);
    let server = spawn_server(config.clone()).await;
    let ids = open_conversations(&server, "f", 40).await;
    stop_without_snapshots(server, &dir).await;
    let (file, used) = write_ahead_file(&dir);
    let mut data = std::fs::read(&file).unwrap();
    // Inside a record's bytes: the customer id of the 21st conversation.
    let needle = b"customer-f20";
    let at = data[..used]
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the record is in the write-ahead file");
    data[at + 3] ^= 0x5a;
    std::fs::write(&file, &data).unwrap();

    let server = spawn_server(config.clone()).await;
    assert!(
        is_open(&server, &ids[0]).await,
        "what came before the damage is kept"
    );
    let mut kept = 0;
    for id in &ids {
        kept += usize::from(is_open(&server, id).await);
    }
    assert!(
        kept < ids.len(),
        "the damaged batch and what follows are cut"
    );
    let fresh = open_conversations(&server, "new", 1).await;
    assert!(
        !ids.contains(&fresh[0]),
        "an id handed out before the damage was given again: {}",
        fresh[0]
    );
    let metrics = crate::common::http_get(server.metrics_addr, "/metrics").await;
    assert!(
        !metrics.contains("switchboard_storage_corruption_total{kind=\"journal\"} 0"),
        "the damage is counted"
    );
    // The cut is for good: the next start finds a sound journal and the same state.
    let server = restart(server, config).await;
    let mut kept_again = 0;
    for id in &ids {
        kept_again += usize::from(is_open(&server, id).await);
    }
    assert_eq!(kept_again, kept);
    assert!(is_open(&server, &fresh[0]).await);
    server.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_torn_tail_loses_at_most_the_last_batch() {
    let dir = data_dir("torn");
    let config = journaled(&dir, 30);
    let server = spawn_server(config.clone()).await;
    let ids = open_conversations(&server, "t", 20).await;
    stop_without_snapshots(server, &dir).await;
    let (file, used) = write_ahead_file(&dir);
    let data = std::fs::read(&file).unwrap();
    std::fs::write(&file, &data[..used - 5]).unwrap();

    let server = spawn_server(config).await;
    for id in &ids[..ids.len() - 1] {
        assert!(is_open(&server, id).await, "{id} was lost to a torn tail");
    }
    server.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two runs, each ending with a snapshot: the second snapshot is the newest.
async fn two_snapshots(dir: &std::path::Path, config: &Config) -> (Vec<String>, PathBuf) {
    let server = spawn_server(config.clone()).await;
    let mut ids = open_conversations(&server, "a", 3).await;
    let server = restart(server, config.clone()).await;
    ids.extend(open_conversations(&server, "b", 3).await);
    server.shutdown().await.unwrap();
    let tenant_dir = std::fs::read_dir(dir.join("snapshots"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&tenant_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "two snapshots kept: {files:?}");
    (ids, files.pop().unwrap())
}

#[tokio::test]
async fn a_damaged_newest_snapshot_falls_back_to_the_one_before() {
    let dir = data_dir("bad-snapshot");
    let config = journaled(&dir, 30);
    let (ids, newest) = two_snapshots(&dir, &config).await;
    let mut data = std::fs::read(&newest).unwrap();
    let middle = data.len() / 2;
    data[middle] ^= 0x01;
    std::fs::write(&newest, &data).unwrap();
    let server = spawn_server(config).await;
    for id in &ids {
        assert!(
            is_open(&server, id).await,
            "{id} lost with the damaged snapshot"
        );
    }
    server.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_missing_newest_snapshot_falls_back_to_the_one_before() {
    let dir = data_dir("missing-snapshot");
    let config = journaled(&dir, 30);
    let (ids, newest) = two_snapshots(&dir, &config).await;
    std::fs::remove_file(&newest).unwrap();
    let server = spawn_server(config).await;
    for id in &ids {
        assert!(
            is_open(&server, id).await,
            "{id} lost with the missing snapshot"
        );
    }
    server.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A small tmpfs mounted for one test, unmounted when dropped. `None` where mounting
/// is not allowed (not root); CI runs as root, so there it must work.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(name: &str, size: &str) -> Option<SmallDisk> {
        let dir = data_dir(name);
        std::fs::create_dir_all(&dir).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must be able to mount a tmpfs for the full-disk test"
            );
            eprintln!("skipped: cannot mount a tmpfs here (needs root)");
            return None;
        }
        Some(SmallDisk(dir))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn a_full_disk_refuses_new_work_and_acknowledges_nothing_it_did_not_write() {
    let Some(disk) = SmallDisk::mount("full", "6m") else {
        return;
    };
    let data = disk.0.join("data");
    let config = journaled(&data, 30);
    let server = spawn_server(config.clone()).await;
    // Unary calls: each answer says whether that message was made durable.
    let mut gateway = server.gateway().await;
    gateway
        .submit(app_message("first", 1.0, "hello", "first-m"))
        .await
        .unwrap();
    // Fill the disk but for a little room, then write until the journal cannot.
    let filler = disk.0.join("filler");
    let free = {
        let out = std::process::Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(&disk.0)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .unwrap()
            .trim()
            .parse::<usize>()
            .unwrap()
    };
    std::fs::write(&filler, vec![1u8; free.saturating_sub(256 * 1024)]).unwrap();
    let text = "x".repeat(3000);
    let mut acknowledged = Vec::new();
    let mut refused = None;
    for i in 0..400 {
        let key = format!("k{i}");
        match gateway
            .submit(app_message(&key, 1.0, &text, &format!("{key}-m")))
            .await
        {
            Ok(accepted) => acknowledged.push(accepted.into_inner().conversation_id),
            Err(status) => {
                refused = Some(status.code());
                break;
            }
        }
    }
    let refused = refused.expect("a full disk refuses new work");
    assert!(
        [Code::Unavailable, Code::ResourceExhausted].contains(&refused),
        "refused with {refused:?}"
    );
    let metrics = crate::common::http_get(server.metrics_addr, "/metrics").await;
    assert!(
        !metrics.contains("switchboard_journal_write_failures_total 0"),
        "the failing writes are counted"
    );
    // Space comes back: the journal writes again and new work is taken.
    std::fs::remove_file(&filler).unwrap();
    let mut accepted = None;
    for attempt in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if let Ok(a) = gateway
            .submit(app_message(
                "after",
                1.0,
                "back",
                &format!("after-{attempt}"),
            ))
            .await
        {
            accepted = Some(a.into_inner());
            break;
        }
    }
    let accepted = accepted.expect("work is taken again once the disk has room");
    let server = restart(server, config).await;
    for id in acknowledged.iter().chain([&accepted.conversation_id]) {
        assert!(is_open(&server, id).await, "acknowledged {id} was lost");
    }
    server.shutdown().await.unwrap();
}
