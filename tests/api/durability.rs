//! Durability: a server with a journal restarted on the same data directory keeps
//! every open conversation, waiting order, agent assignment, delivery and id.

use std::path::PathBuf;
use std::time::Duration;

use switchboard::api::pb;
use switchboard::config::Config;
use switchboard::storage::{Durability, StorageSettings};
use tonic::Code;

use crate::common::{Adapter, Agent, PROMPT, TestServer, spawn_server, test_config};

/// A fresh data directory for one test.
fn data_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sb-durability-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn journaled(dir: &std::path::Path, grace_secs: u64) -> Config {
    Config {
        storage: StorageSettings {
            durability: Durability::Fsync,
            data_dir: dir.to_owned(),
            agent_grace_secs: grace_secs,
            ..StorageSettings::default()
        },
        ..test_config()
    }
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

#[tokio::test]
async fn an_agent_back_within_the_grace_window_gets_its_conversation_as_accepted() {
    let dir = data_dir("grace");
    let config = journaled(&dir, 30);
    let server = spawn_server(config.clone()).await;
    let mut agent = Agent::sign_in(&server, None, "ann", &[], 2).await;
    let mut adapter = Adapter::connect(&server, "app-adapter").await;
    let held = adapter
        .send(app_message("held", 0.0, "my parcel is late", "m1"))
        .await
        .unwrap()
        .conversation_id;
    assert_eq!(agent.take_next().await, held);
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
    let dir = data_dir("lapse");
    let config = journaled(&dir, 1);
    let server = spawn_server(config.clone()).await;
    let mut ann = Agent::sign_in(&server, None, "ann", &[], 1).await;
    let mut adapter = Adapter::connect(&server, "app-adapter").await;
    let held = adapter
        .send(app_message("held", 0.0, "hello", "m1"))
        .await
        .unwrap()
        .conversation_id;
    assert_eq!(ann.take_next().await, held);
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
    let dir = data_dir("deliveries");
    let config = journaled(&dir, 30);
    let server = spawn_server(config.clone()).await;
    let mut agent = Agent::sign_in(&server, None, "ann", &[], 1).await;
    let mut adapter = Adapter::connect(&server, "app-adapter").await;
    let held = adapter
        .send(app_message("held", 0.0, "hello", "m1"))
        .await
        .unwrap()
        .conversation_id;
    assert_eq!(agent.take_next().await, held);
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
