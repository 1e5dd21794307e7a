//! Satisfaction after a close, through the real API: the survey in the same channel
//! with quick replies, the answer read from the customer's next message, the
//! recommendation question, one reminder then a lapse, a low score followed up and
//! weighing on the customer's health, and the metrics.

use std::time::Duration;

use switchboard::api::pb;

use crate::common::{Adapter, Agent, TestServer, message, metric, spawn_server, test_config};

/// A config that surveys, with its own queue: metrics are process-wide and tests run
/// in parallel, so each test counts under a queue label of its own.
fn surveying(queue: &str) -> switchboard::Config {
    let mut config = test_config();
    config.routing.survey.enabled = true;
    config.routing.queues[0].name = queue.to_owned();
    config
}

/// Waits for the next message delivery, returning its text and buttons.
async fn next_message(adapter: &mut Adapter) -> (String, Vec<pb::Button>) {
    loop {
        if let Some(pb::delivery::Body::Message(m)) = adapter.delivery().await.body {
            return (m.text, m.buttons);
        }
    }
}

/// A customer writes, an agent takes the conversation and closes it; returns its id.
async fn served_and_closed(
    server: &TestServer,
    adapter: &mut Adapter,
    agent: &mut Agent,
    key: &str,
    identifiers: Vec<pb::CustomerIdentifier>,
) -> String {
    let mut m = message(key, 10.0, "my parcel is late");
    m.customer.as_mut().unwrap().identifiers = identifiers;
    let accepted = adapter.send(m).await.unwrap();
    let (note, _) = next_message(adapter).await;
    assert!(
        note.starts_with("Connecting you"),
        "the first response: {note}"
    );
    let id = agent.take_next().await;
    assert_eq!(id, accepted.conversation_id);
    agent.close(&id).await.unwrap();
    let _ = server;
    id
}

#[tokio::test]
async fn a_low_score_after_a_close_is_followed_up_counted_and_weighs_on_health() {
    let server = spawn_server(surveying("survey-low")).await;
    let mut adapter = Adapter::connect(&server, "web-adapter").await;
    let mut agent = Agent::sign_in(&server, None, "ann", &[], 1).await;
    let phone = pb::CustomerIdentifier {
        kind: pb::IdentifierKind::Phone as i32,
        value: "+8613600136000".into(),
        verified: true,
        ..Default::default()
    };
    let id = served_and_closed(
        &server,
        &mut adapter,
        &mut agent,
        "survey-low",
        vec![phone.clone()],
    )
    .await;
    let (question, buttons) = next_message(&mut adapter).await;
    assert!(question.contains("How satisfied"), "{question}");
    let payloads: Vec<&str> = buttons.iter().map(|b| b.payload.as_str()).collect();
    assert_eq!(payloads, ["1", "2", "3", "4", "5"]);
    match adapter.delivery().await.body {
        Some(pb::delivery::Body::Closed(c)) => {
            assert_eq!(c.reason, pb::EndReason::ClosedByAgent as i32)
        }
        other => panic!("the close after the question: {other:?}"),
    }

    // The customer taps "1" (the button's payload): the answer, not a new conversation.
    let answered = adapter
        .send(message("survey-low", 10.0, "1"))
        .await
        .unwrap();
    assert_eq!(answered.conversation_id, id);
    let (sorry, _) = next_message(&mut adapter).await;
    assert!(sorry.contains("supervisor will follow up"), "{sorry}");

    let view = server.conversation(&id).await.unwrap();
    assert_eq!(view.satisfaction, 1);
    assert_eq!(view.recommend, -1);
    let mut admin = server.admin().await;
    let items = admin
        .list_follow_ups(pb::ListFollowUpsRequest { limit: 0 })
        .await
        .unwrap()
        .into_inner()
        .items;
    assert_eq!(items.len(), 1);
    assert_eq!(
        (
            items[0].conversation_id.as_str(),
            items[0].score,
            items[0].agent_id.as_str()
        ),
        (id.as_str(), 1, "ann")
    );
    assert_ne!(items[0].profile_id, 0);
    let profile = admin
        .get_customer_profile(pb::GetCustomerProfileRequest {
            customer: Some(pb::ProfileSelector {
                who: Some(pb::profile_selector::Who::Identifier(phone)),
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(profile.history[0].satisfaction, 1);
    assert_eq!(profile.history[0].agent_id, "ann");
    // Satisfaction 1 of 5 counts 0: (0.2 × 1 + 0.4 × 0) / 0.6 = 33.3, below 40.
    let health = profile.health.unwrap();
    assert_eq!(health.satisfaction, 0.0);
    assert!(health.at_risk, "{health:?}");

    let asked = "switchboard_surveys_total{queue=\"survey-low\",channel=\"web\",outcome=\"asked\"}";
    let answered =
        "switchboard_surveys_total{queue=\"survey-low\",channel=\"web\",outcome=\"answered\"}";
    assert_eq!(metric(&server, asked).await, 1.0);
    assert_eq!(metric(&server, answered).await, 1.0);
    let bucket =
        "switchboard_satisfaction_score_bucket{queue=\"survey-low\",channel=\"web\",le=\"1\"}";
    assert_eq!(metric(&server, bucket).await, 1.0);
}

#[tokio::test]
async fn a_good_score_is_followed_by_the_recommendation_question_when_the_share_asks() {
    let mut config = surveying("survey-nps");
    config.routing.survey.recommend_share = 1.0;
    config.routing.survey.scale = switchboard::customer::Scale::ThreeFaces;
    let server = spawn_server(config).await;
    let mut adapter = Adapter::connect(&server, "web-adapter").await;
    let mut agent = Agent::sign_in(&server, None, "ann", &[], 1).await;
    let id = served_and_closed(&server, &mut adapter, &mut agent, "survey-nps", Vec::new()).await;
    let (question, buttons) = next_message(&mut adapter).await;
    assert!(question.contains("face"), "{question}");
    assert_eq!(buttons.len(), 3);
    // A typed face is an answer too.
    adapter
        .send(message("survey-nps", 10.0, "😊"))
        .await
        .unwrap();
    let (recommend, buttons) = next_message(&mut adapter).await;
    assert!(recommend.contains("recommend"), "{recommend}");
    assert_eq!(buttons.len(), 11);
    adapter
        .send(message("survey-nps", 10.0, "9"))
        .await
        .unwrap();
    let (thanks, _) = next_message(&mut adapter).await;
    assert!(thanks.starts_with("Thank you"), "{thanks}");
    let view = server.conversation(&id).await.unwrap();
    assert_eq!((view.satisfaction, view.recommend), (3, 9));
    let follow_ups = server
        .admin()
        .await
        .list_follow_ups(pb::ListFollowUpsRequest { limit: 0 })
        .await
        .unwrap()
        .into_inner()
        .items;
    assert!(follow_ups.is_empty(), "a happy face needs no follow-up");
}

#[tokio::test]
async fn an_unanswered_survey_is_reminded_once_then_lapses() {
    let mut config = surveying("survey-quiet");
    config.routing.survey.reminder_secs = 1;
    config.routing.survey.expire_secs = 1;
    let server = spawn_server(config).await;
    let mut adapter = Adapter::connect(&server, "web-adapter").await;
    let mut agent = Agent::sign_in(&server, None, "ann", &[], 2).await;
    served_and_closed(
        &server,
        &mut adapter,
        &mut agent,
        "survey-quiet",
        Vec::new(),
    )
    .await;
    let (first, _) = next_message(&mut adapter).await;
    assert!(first.contains("How satisfied"));
    let (reminder, buttons) = next_message(&mut adapter).await;
    assert!(reminder.contains("reminder"), "{reminder}");
    assert_eq!(buttons.len(), 5);
    let lapsed =
        "switchboard_surveys_total{queue=\"survey-quiet\",channel=\"web\",outcome=\"lapsed\"}";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while metric(&server, lapsed).await == 0.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the survey never lapsed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // After the lapse a "5" is a message like any other: a new conversation.
    let again = adapter
        .send(message("survey-quiet", 10.0, "5"))
        .await
        .unwrap();
    assert!(again.created, "{again:?}");
}

#[tokio::test]
async fn words_that_are_no_rating_leave_the_survey_and_open_a_conversation() {
    let server = spawn_server(surveying("survey-moved")).await;
    let mut adapter = Adapter::connect(&server, "web-adapter").await;
    let mut agent = Agent::sign_in(&server, None, "ann", &[], 1).await;
    let closed = served_and_closed(
        &server,
        &mut adapter,
        &mut agent,
        "survey-moved",
        Vec::new(),
    )
    .await;
    let moved = adapter
        .send(message(
            "survey-moved",
            10.0,
            "actually I have another question about returns",
        ))
        .await
        .unwrap();
    assert!(moved.created && moved.conversation_id != closed);
    let moved_on =
        "switchboard_surveys_total{queue=\"survey-moved\",channel=\"web\",outcome=\"moved_on\"}";
    assert_eq!(metric(&server, moved_on).await, 1.0);
}
