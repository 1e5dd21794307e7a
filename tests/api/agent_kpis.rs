//! Agent KPIs through the real API: an agent takes, answers and closes conversations,
//! customers answer the survey, and `Admin/GetAgentKpis` and the metrics show it.

use tonic::Code;

use switchboard::api::pb;

use crate::common::{
    Adapter, Agent, TestServer, http_get, journaled_in, message, spawn_server, test_config,
};

/// Waits for the next message delivery's text.
async fn next_text(adapter: &mut Adapter) -> String {
    loop {
        if let Some(pb::delivery::Body::Message(m)) = adapter.delivery().await.body {
            return m.text;
        }
    }
}

/// A customer writes (a complaint when asked), ann takes it, replies twice, closes,
/// and the customer answers the survey with `score`.
async fn served(adapter: &mut Adapter, ann: &mut Agent, key: &str, complaint: bool, score: &str) {
    let mut m = message(key, 10.0, "my parcel is late");
    if complaint {
        m.boosts = vec![pb::Boost::Complaint as i32];
    }
    adapter.send(m).await.unwrap();
    assert!(next_text(adapter).await.starts_with("Connecting you"));
    let id = ann.take_next().await;
    ann.reply(&id, "sorry to hear that").await.unwrap();
    ann.reply(&id, "it is on its way").await.unwrap();
    assert_eq!(next_text(adapter).await, "sorry to hear that");
    assert_eq!(next_text(adapter).await, "it is on its way");
    ann.close(&id).await.unwrap();
    assert!(next_text(adapter).await.contains("How satisfied"));
    let answered = adapter.send(message(key, 10.0, score)).await.unwrap();
    assert_eq!(answered.conversation_id, id, "the survey answer");
    next_text(adapter).await;
}

#[tokio::test]
async fn an_agents_closes_replies_and_ratings_are_its_kpis() {
    let mut config = test_config();
    config.routing.survey.enabled = true;
    // Metrics are process-wide: this test counts under a queue label of its own.
    config.routing.queues[0].name = "kpis".to_owned();
    let server = spawn_server(config).await;
    let mut adapter = Adapter::connect(&server, "web-adapter").await;
    let mut ann = Agent::sign_in(&server, None, "ann", &[], 1).await;
    served(&mut adapter, &mut ann, "kpi-1", false, "5").await;
    served(&mut adapter, &mut ann, "kpi-2", true, "2").await;

    let mut admin = server.admin().await;
    let got = admin
        .get_agent_kpis(pb::GetAgentKpisRequest {
            agent_id: String::new(),
            window_secs: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((got.window_secs, got.accept_within_secs), (3600, 15));
    assert_eq!(got.agents.len(), 1, "{got:?}");
    let k = &got.agents[0];
    assert_eq!(k.agent_id, "ann");
    // Two handled, one a complaint, nothing transferred.
    assert_eq!((k.handled, k.complaints, k.transfers), (2, 1, 0));
    // Answers 5 and 2: mean 3.5, one good review of two.
    assert_eq!((k.satisfaction_answers, k.good_reviews), (2, 1));
    assert_eq!((k.satisfaction_mean, k.good_review_rate), (3.5, 0.5));
    // Two offers, both accepted at once (well within 15 s).
    assert_eq!((k.offers, k.accepted, k.accepted_within), (2, 2, 2));
    assert_eq!(k.accepted_within_rate, 1.0);
    // One first reply per accept, not one per reply; all of it took moments.
    assert_eq!(k.first_replies, 2);
    assert!((0.0..5.0).contains(&k.first_reply_seconds_mean), "{k:?}");
    assert!((0.0..5.0).contains(&k.handle_seconds_mean), "{k:?}");
    assert!(k.first_reply_seconds_mean <= k.handle_seconds_mean, "{k:?}");
    // Nobody waited while ann was free.
    assert_eq!(k.idle_while_waiting_seconds, 0.0);

    // One agent by id, and an agent with nothing kept.
    let one = admin
        .get_agent_kpis(pb::GetAgentKpisRequest {
            agent_id: "ann".into(),
            window_secs: 300,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(one.agents.len(), 1);
    assert_eq!(one.agents[0].handled, 2);
    let nobody = admin
        .get_agent_kpis(pb::GetAgentKpisRequest {
            agent_id: "bob".into(),
            window_secs: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(nobody.agents.is_empty());

    // The aggregates carry the queue, never the agent.
    let metrics = http_get(server.metrics_addr, "/metrics").await;
    for (line, value) in [
        (
            "switchboard_agent_handle_seconds_count{queue=\"kpis\"} ",
            "2",
        ),
        (
            "switchboard_agent_first_reply_seconds_count{queue=\"kpis\"} ",
            "2",
        ),
        (
            "switchboard_offer_accept_seconds_count{queue=\"kpis\"} ",
            "2",
        ),
        (
            "switchboard_offers_accepted_within_threshold_total{queue=\"kpis\"} ",
            "2",
        ),
        (
            "switchboard_agent_complaints_handled_total{queue=\"kpis\"} ",
            "1",
        ),
    ] {
        let found = metrics.lines().find_map(|l| l.strip_prefix(line));
        assert_eq!(found, Some(value), "{line}");
    }
    assert!(
        metrics
            .lines()
            .filter(|l| l.starts_with("switchboard_agent_") || l.starts_with("switchboard_offer"))
            .all(|l| !l.contains("ann")),
        "no agent id in a label"
    );
}

#[tokio::test]
async fn a_window_beyond_seven_days_is_refused_naming_the_field() {
    let server = spawn_server(test_config()).await;
    let mut admin = server.admin().await;
    let err = admin
        .get_agent_kpis(pb::GetAgentKpisRequest {
            agent_id: String::new(),
            window_secs: 7 * 86_400 + 1,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().starts_with("window_secs"),
        "{}",
        err.message()
    );
    let ok = admin
        .get_agent_kpis(pb::GetAgentKpisRequest {
            agent_id: String::new(),
            window_secs: 7 * 86_400,
        })
        .await;
    assert!(ok.is_ok());
}

async fn kpis_of(server: &TestServer, agent: &str) -> Vec<pb::AgentKpis> {
    let mut admin = server.admin().await;
    admin
        .get_agent_kpis(pb::GetAgentKpisRequest {
            agent_id: agent.into(),
            window_secs: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .agents
}

#[tokio::test]
async fn kpis_survive_a_restart_from_a_snapshot_and_from_the_journal_alone() {
    let dir = std::env::temp_dir().join(format!("sb-kpis-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut config = journaled_in(&dir, test_config());
    config.routing.survey.enabled = true;
    config.routing.queues[0].name = "kpis-restart".to_owned();
    let server = spawn_server(config.clone()).await;
    {
        let mut adapter = Adapter::connect(&server, "web-adapter").await;
        let mut ann = Agent::sign_in(&server, None, "ann", &[], 1).await;
        served(&mut adapter, &mut ann, "kpi-r", true, "4").await;
    }
    let before = kpis_of(&server, "ann").await;
    assert_eq!(before.len(), 1);
    assert_eq!(
        (
            before[0].handled,
            before[0].complaints,
            before[0].good_reviews
        ),
        (1, 1, 1)
    );
    let same = |k: &pb::AgentKpis| {
        (
            k.handled,
            k.complaints,
            k.satisfaction_answers,
            k.good_reviews,
            k.offers,
            k.accepted_within,
            k.first_replies,
            k.handle_seconds_mean,
        )
    };
    // Without snapshots the journal's replay folds the same figures again.
    server.shutdown().await.unwrap();
    std::fs::remove_dir_all(dir.join("snapshots")).unwrap();
    let server = spawn_server(config.clone()).await;
    let replayed = kpis_of(&server, "ann").await;
    assert_eq!(replayed.len(), 1);
    assert_eq!(same(&replayed[0]), same(&before[0]));
    // A drain writes snapshots: the next start reads the fold from them.
    server.shutdown().await.unwrap();
    assert!(
        std::fs::read_dir(dir.join("snapshots"))
            .unwrap()
            .next()
            .is_some(),
        "the drain wrote no snapshot"
    );
    let server = spawn_server(config).await;
    let restored = kpis_of(&server, "ann").await;
    assert_eq!(restored.len(), 1);
    assert_eq!(same(&restored[0]), same(&before[0]));
    server.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
