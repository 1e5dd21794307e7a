//! What operators rely on: health, reflection, metrics, and a clean drain.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use switchboard::api::pb;
use tokio_stream::StreamExt;
use tonic::Code;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

use crate::common::{Adapter, Agent, http_get, spawn_server, test_config};

#[tokio::test]
async fn health_reports_serving_for_the_server_and_each_service() {
    let server = spawn_server(test_config()).await;
    let mut health = HealthClient::new(server.channel().await);
    for service in [
        "",
        "switchboard.v1.ChannelGateway",
        "switchboard.v1.AgentDesk",
        "switchboard.v1.Admin",
        "switchboard.v1.BotPool",
    ] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service}");
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn reflection_lists_the_switchboard_services() {
    let server = spawn_server(test_config()).await;
    let mut reflection = ServerReflectionClient::new(server.channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.next().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "switchboard.v1.ChannelGateway",
        "switchboard.v1.AgentDesk",
        "switchboard.v1.Admin",
        "switchboard.v1.BotPool",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
}

#[tokio::test]
async fn metrics_are_served_in_prometheus_text_format() {
    let server = spawn_server(test_config()).await;
    server.submit(None, "metered", 0.0).await;
    let body = http_get(server.metrics_addr, "/metrics").await;
    for name in [
        "switchboard_conversations_created_total",
        "switchboard_first_response_seconds_bucket",
        "switchboard_routing_decision_seconds_bucket",
        "switchboard_queue_depth",
        "switchboard_agents",
        "switchboard_build_info",
    ] {
        assert!(body.contains(name), "{name} missing from /metrics");
    }
    assert!(
        !body.contains("customer-metered"),
        "no customer ids in labels"
    );
}

/// Every counter and histogram the Grafana dashboard and the alert rules query, but
/// the satisfaction histogram (survey series appear with the first survey).
fn series_operators_query() -> Vec<String> {
    let files = [
        include_str!("../../k8s/dashboards/switchboard.json"),
        include_str!("../../k8s/alerts/switchboard-rules.yaml"),
    ];
    let mut names: Vec<String> = files
        .iter()
        .flat_map(|text| text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')))
        .filter(|word| word.starts_with("switchboard_"))
        .filter(|word| word.ends_with("_total") || word.ends_with("_bucket"))
        .filter(|word| !word.starts_with("switchboard_satisfaction"))
        .map(str::to_owned)
        .collect();
    names.sort();
    names.dedup();
    names
}

#[tokio::test]
async fn a_fresh_server_exports_the_counters_dashboards_and_alerts_query_at_zero() {
    let names = series_operators_query();
    assert!(
        names.len() >= 20,
        "the files name counters and histograms: {names:?}"
    );
    let server = spawn_server(test_config()).await;
    let body = http_get(server.metrics_addr, "/metrics").await;
    let missing: Vec<&String> = names
        .iter()
        .filter(|name| {
            !body.lines().any(|line| {
                line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} "))
            })
        })
        .collect();
    assert!(
        missing.is_empty(),
        "not exported before their first event: {missing:?}"
    );
    // Series with the label sets the rules select, which no test in this binary
    // records, at exactly zero (the other tests share the process's counters).
    for series in [
        r#"switchboard_conversations_ended_total{channel="voice",outcome="bot_finished"}"#,
        r#"switchboard_conversations_created_total{channel="other"}"#,
        r#"switchboard_bot_turns_total{bot="external",outcome="invalid"}"#,
        r#"switchboard_requests_rejected_total{code="data_loss"}"#,
        r#"switchboard_escalations_total{step="overflow"}"#,
        r#"switchboard_first_response_seconds_count{channel="voice",responder="bot"}"#,
    ] {
        let value = body
            .lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '));
        assert_eq!(value, Some("0"), "{series} missing or not zero");
    }
}

#[tokio::test]
async fn config_view_shows_the_effective_configuration() {
    let server = spawn_server(test_config()).await;
    let toml = server
        .admin()
        .await
        .get_config(pb::GetConfigRequest {})
        .await
        .unwrap()
        .into_inner()
        .toml;
    let parsed = switchboard::Config::from_toml(&toml).unwrap();
    assert_eq!(parsed.routing, test_config().routing);
}

#[tokio::test]
async fn shutdown_closes_streams_with_unavailable_and_refuses_new_work() {
    let mut server = spawn_server(test_config()).await;
    let mut agent = Agent::sign_in(&server, None, "ann", &[], 1).await;
    let mut adapter = Adapter::connect(&server, "web-adapter").await;
    let mut gateway = server.gateway().await;
    let mut health = HealthClient::new(server.channel().await);
    server.begin_shutdown();
    assert_eq!(agent.inbox.end_status().await.code(), Code::Unavailable);
    assert_eq!(adapter.inbox.end_status().await.code(), Code::Unavailable);
    // The existing connection may still answer while draining: it must say it is
    // not serving. Or it is already closed, which a client sees as UNAVAILABLE or as
    // CANCELLED "connection closed"; any other error is a bug.
    match health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
    {
        Ok(r) => assert_eq!(r.into_inner().status, ServingStatus::NotServing as i32),
        Err(status) => assert!(
            status.code() == Code::Unavailable
                || (status.code() == Code::Cancelled
                    && format!("{status:?}").contains("connection closed")),
            "{status:?}"
        ),
    }
    if let Err(status) = gateway
        .submit(crate::common::message("late", 0.0, "hi"))
        .await
    {
        assert_eq!(status.code(), Code::Unavailable);
    } else {
        panic!("a new conversation was accepted while draining");
    }
    server.finished().await.unwrap();
}

#[test]
fn the_binary_serves_and_exits_zero_on_sigterm() {
    // Its own data directory: the default one in the working directory may hold
    // another build's format.
    let data = std::env::temp_dir().join(format!("sb-binary-sigterm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args([
            "--grpc-addr",
            "127.0.0.1:0",
            "--metrics-addr",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--data-dir",
        ])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let serving = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|line| line.contains("switchboard serving"));
    assert!(serving, "server did not report serving");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn text_logs_redirected_away_from_a_terminal_carry_no_colour_codes() {
    let data = std::env::temp_dir().join(format!("sb-binary-text-logs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args([
            "--grpc-addr",
            "127.0.0.1:0",
            "--metrics-addr",
            "127.0.0.1:0",
            "--log-format",
            "text",
            "--data-dir",
        ])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut read = Vec::new();
    for line in lines.by_ref().map_while(Result::ok) {
        let serving = line.contains("switchboard serving");
        read.push(line);
        if serving {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&data);
    assert!(
        read.last()
            .is_some_and(|l| l.contains("switchboard serving")),
        "server did not report serving: {read:?}"
    );
    assert!(
        read.iter().all(|l| !l.contains("\x1b[")),
        "colour codes in redirected text logs: {read:?}"
    );
    assert!(!read[0].starts_with('{'), "text, not JSON: {}", read[0]);
}

#[tokio::test]
async fn plain_http_probes_answer_beside_the_metrics() {
    let server = spawn_server(test_config()).await;
    let alive = http_get(server.metrics_addr, "/healthz").await;
    assert!(alive.ends_with("ok\n"), "{alive}");
    let ready = http_get(server.metrics_addr, "/readyz").await;
    assert!(ready.ends_with("ready\n"), "{ready}");
}

// Without a journal nothing carries a conversation over a restart, so a shutdown tells
// every open conversation's customer (END_REASON_SHUTDOWN, after a note) and its agent,
// before the streams end, rather than leaving them in silence.
#[tokio::test]
async fn a_shutdown_tells_every_open_conversation_before_the_streams_end() {
    let mut server = spawn_server(test_config()).await;
    let mut agent = Agent::sign_in(&server, None, "ann", &[], 1).await;
    let mut adapter = Adapter::connect(&server, "web-adapter").await;
    let mut first = crate::common::message("held", 0.0, "hi");
    first.client_message_id = "m1".into();
    let held = adapter.send(first).await.unwrap().conversation_id;
    assert_eq!(agent.take_next().await, held);
    let mut second = crate::common::message("waiting", 0.0, "hi");
    second.client_message_id = "m2".into();
    let waiting = adapter.send(second).await.unwrap().conversation_id;
    server.begin_shutdown();
    let mut closed = Vec::new();
    while closed.len() < 2 {
        let d = adapter.delivery().await;
        if let Some(pb::delivery::Body::Closed(c)) = d.body {
            assert_eq!(c.reason, pb::EndReason::Shutdown as i32);
            closed.push(d.conversation_id);
        }
    }
    closed.sort();
    let mut expected = vec![held.clone(), waiting];
    expected.sort();
    assert_eq!(closed, expected);
    let ended = agent
        .inbox
        .next_matching(|f| match &f.frame {
            Some(pb::desk_frame::Frame::Ended(e)) => Some(e.clone()),
            _ => None,
        })
        .await;
    assert_eq!(ended.conversation_id, held);
    assert_eq!(ended.reason, pb::EndReason::Shutdown as i32);
    assert_eq!(adapter.inbox.end_status().await.code(), Code::Unavailable);
    assert_eq!(agent.inbox.end_status().await.code(), Code::Unavailable);
    server.finished().await.unwrap();
}
