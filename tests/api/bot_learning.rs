//! The bot learning from its customers, through the real API: "did that solve it?"
//! buttons and the verdicts tallied per intent; the questions it could not answer,
//! grouped for an operator; and a lesson taught through Admin, answered at once and
//! kept across a restart.

use switchboard::api::pb;
use tonic::Code;

use crate::common::{
    TestServer, bot_config, bot_message, http_get, journaled_in, message, spawn_server,
};

/// Sends one customer message in English and returns the bot's messages, inline.
async fn say(server: &TestServer, key: &str, text: &str) -> Vec<(String, Vec<pb::Button>)> {
    let mut msg = message(key, 10.0, text);
    msg.language = "en".to_owned();
    let response = server
        .gateway()
        .await
        .submit(msg)
        .await
        .unwrap()
        .into_inner();
    response.replies.iter().filter_map(bot_message).collect()
}

fn asking_config() -> switchboard::Config {
    let mut config = bot_config();
    config.bot.ask_solved = true;
    config
}

async fn ratings(server: &TestServer) -> Vec<pb::AnswerRating> {
    server
        .admin()
        .await
        .list_answer_ratings(pb::ListAnswerRatingsRequest {})
        .await
        .unwrap()
        .into_inner()
        .ratings
}

async fn unanswered(server: &TestServer) -> pb::ListUnansweredQuestionsResponse {
    server
        .admin()
        .await
        .list_unanswered_questions(pb::ListUnansweredQuestionsRequest { limit: 0 })
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn an_answer_asks_whether_it_solved_it_and_not_solved_offers_a_person_or_other_entries() {
    let server = spawn_server(asking_config()).await;
    let replies = say(&server, "verdict-1", "how do I return an item").await;
    let (answer, buttons) = replies.last().expect("an answer");
    assert!(answer.contains("return"), "{answer}");
    let payloads: Vec<&str> = buttons.iter().map(|b| b.payload.as_str()).collect();
    assert!(
        payloads.ends_with(&["solved", "not solved"]),
        "verdict buttons under the answer: {buttons:?}"
    );

    let offer = say(&server, "verdict-1", "not solved").await;
    let (sorry, options) = offer.last().expect("an offer after not solved");
    assert!(sorry.starts_with("Sorry that didn't solve it"), "{sorry}");
    let person = options.last().unwrap();
    assert_eq!(person.label, "Talk to a person");
    // Pressing it is a request for a person, in words triage knows.
    let pressed = server
        .gateway()
        .await
        .submit({
            let mut m = message("verdict-1", 10.0, &person.payload);
            m.language = "en".into();
            m
        })
        .await
        .unwrap()
        .into_inner();
    let view = server.conversation(&pressed.conversation_id).await.unwrap();
    assert_eq!(view.state, pb::ConversationState::Queued as i32);
    assert_eq!(view.handoff_reason, "customer_request");

    // Another customer: solved, typed rather than pressed.
    say(&server, "verdict-2", "How do I return an item?").await;
    let glad = say(&server, "verdict-2", "Solved!").await;
    assert_eq!(glad.len(), 1, "{glad:?}");
    assert!(glad[0].0.starts_with("Glad that helped"), "{glad:?}");
    assert!(glad[0].1.is_empty(), "no verdict asked about a thank-you");
    // The verdict is asked once: the next "no" is a message like any other.
    let next = say(&server, "verdict-2", "no").await;
    assert!(!next.iter().any(|(t, _)| t.starts_with("Sorry that didn't")));

    let returns = ratings(&server)
        .await
        .into_iter()
        .find(|r| r.intent == "returns")
        .expect("a row for the returns intent");
    assert_eq!(
        (returns.answered, returns.solved, returns.not_solved),
        (2, 1, 1)
    );
    assert!(returns.rated);
    assert_eq!(returns.resolution_rate, 0.5);

    let metrics = http_get(server.metrics_addr, "/metrics").await;
    for verdict in ["solved", "not_solved"] {
        let line = format!(
            "switchboard_bot_answer_ratings_total{{channel=\"web\",verdict=\"{verdict}\"}} 1"
        );
        assert!(metrics.contains(&line), "{line} in {metrics}");
    }
    // The not-solved question is one the bot still has to learn.
    let log = unanswered(&server).await;
    let group = log
        .groups
        .iter()
        .find(|g| g.not_solved == 1)
        .unwrap_or_else(|| panic!("the question marked not solved: {log:?}"));
    assert_eq!(group.texts[0].text, "how do I return an item");
    assert_eq!(group.intents[0].intent, "returns");
}

#[tokio::test]
async fn without_ask_solved_answers_carry_no_verdict_buttons() {
    let server = spawn_server(bot_config()).await;
    let replies = say(&server, "plain", "how do I return an item").await;
    let (_, buttons) = replies.last().unwrap();
    assert!(
        !buttons
            .iter()
            .any(|b| b.payload == "solved" || b.payload == "not solved"),
        "{buttons:?}"
    );
    assert!(ratings(&server).await.is_empty());
}

const GIFT_WRAP: [&str; 3] = [
    "can you gift wrap my order",
    "could you giftwrap the order please",
    "can u gift wrap my order?",
];

#[tokio::test]
async fn unanswered_questions_are_grouped_taught_through_admin_and_kept_across_a_restart() {
    let dir = std::env::temp_dir().join(format!("sb-bot-teach-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = journaled_in(&dir, bot_config());
    let server = spawn_server(config.clone()).await;
    for (i, q) in GIFT_WRAP.iter().enumerate() {
        let replies = say(&server, &format!("wrap-{i}"), q).await;
        assert!(
            !replies.iter().any(|(t, _)| t.contains("gift")),
            "nothing about gift wrap yet: {replies:?}"
        );
    }
    say(&server, "other", "what is the meaning of life").await;
    let log = unanswered(&server).await;
    assert_eq!(log.questions, 4);
    assert_eq!(log.groups[0].count, 3, "{:?}", log.groups);
    let texts: Vec<String> = log.groups[0].texts.iter().map(|t| t.text.clone()).collect();

    let mut admin = server.admin().await;
    // Bad lessons name their field and change nothing.
    let unknown = admin
        .teach_bot(pb::TeachBotRequest {
            entry_id: "no-such-entry".into(),
            questions: texts.clone(),
            new_entry: None,
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::InvalidArgument);
    assert!(unknown.message().contains("entry_id"), "{unknown:?}");
    let empty = admin
        .teach_bot(pb::TeachBotRequest {
            entry_id: "returns-en".into(),
            questions: vec!["  ".into()],
            new_entry: None,
        })
        .await
        .unwrap_err();
    assert_eq!(empty.code(), Code::InvalidArgument);
    assert!(empty.message().contains("questions"), "{empty:?}");

    let taught = admin
        .teach_bot(pb::TeachBotRequest {
            entry_id: "gift-wrap-en".into(),
            questions: texts,
            new_entry: Some(pb::NewEntry {
                lang: "en".into(),
                answer: "Yes: tick \"gift wrap\" at checkout, it costs 2 EUR.".into(),
                intent: "gift_wrap".into(),
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(taught.questions_added, 3);
    // An existing entry takes variants too.
    admin
        .teach_bot(pb::TeachBotRequest {
            entry_id: "returns-en".into(),
            questions: vec!["these shoes dont fit, can I send them back".into()],
            new_entry: None,
        })
        .await
        .unwrap();
    let log = unanswered(&server).await;
    assert_eq!(log.questions, 1, "taught questions leave the list: {log:?}");

    let answered = say(&server, "wrap-new", "can you gift wrap my order").await;
    assert!(
        answered.last().unwrap().0.contains("gift wrap"),
        "answered at once: {answered:?}"
    );
    server.shutdown().await.unwrap();

    let server = spawn_server(config).await;
    let answered = say(&server, "wrap-after", "could you giftwrap the order please").await;
    assert!(
        answered.last().unwrap().0.contains("gift wrap"),
        "the lesson survives a restart: {answered:?}"
    );
    let returns = say(
        &server,
        "shoes",
        "these shoes dont fit, can I send them back",
    )
    .await;
    assert!(
        returns.last().unwrap().0.to_lowercase().contains("return"),
        "{returns:?}"
    );
    server.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
