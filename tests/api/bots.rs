//! Bots through the real API: the built-in bot's greeting, buttons and answers, every
//! handoff trigger, external bot workers (serving, slow, dropped), agent assist and
//! knowledge-base reload.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use switchboard::api::pb;
use tonic::Code;

use crate::common::{
    Adapter, Agent, BotWorker, TestServer, bot_config, bot_message, http_get, message, spawn_server,
};

/// The starter knowledge base the server embeds.
fn starter() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("kb/starter.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// An entry's answer, by id.
fn answer_of(kb: &Value, id: &str) -> String {
    kb["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id)
        .unwrap_or_else(|| panic!("starter kb has no entry {id}"))["answer"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Every answer in a knowledge base.
fn answers(kb: &Value) -> Vec<String> {
    kb["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["answer"].as_str().unwrap().to_owned())
        .collect()
}

async fn say(
    server: &TestServer,
    key: &str,
    clv: f64,
    text: &str,
    language: &str,
) -> pb::SubmitResponse {
    let mut msg = message(key, clv, text);
    msg.language = language.to_owned();
    server
        .gateway()
        .await
        .submit(msg)
        .await
        .unwrap()
        .into_inner()
}

/// The texts of the bot messages in a submit response.
fn bot_texts(response: &pb::SubmitResponse) -> Vec<String> {
    response
        .replies
        .iter()
        .filter_map(bot_message)
        .map(|(text, _)| text)
        .collect()
}

/// The system note with queue status in a submit response.
fn queue_note(response: &pb::SubmitResponse) -> pb::QueueStatus {
    response
        .replies
        .iter()
        .find_map(|d| match &d.body {
            Some(pb::delivery::Body::Message(m)) if m.sender == pb::Sender::System as i32 => {
                m.queue_status
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no queue note in {response:?}"))
}

async fn assert_handed_off(
    server: &TestServer,
    response: &pb::SubmitResponse,
    reason: &str,
    skill: &str,
) {
    let status = queue_note(response);
    // No estimate while no signed-in agent can take it (none has signed in yet in
    // these tests, or none speaks the language): estimated_wait_seconds is 0 then.
    assert!(status.position >= 1, "{status:?}");
    let view = server
        .conversation(&response.conversation_id)
        .await
        .unwrap();
    assert_eq!(view.state, pb::ConversationState::Queued as i32);
    assert_eq!(view.handoff_reason, reason);
    assert!(
        view.required_skills.iter().any(|s| s.skill == skill),
        "{skill} required: {:?}",
        view.required_skills
    );
}

#[tokio::test]
async fn greeting_with_buttons_comes_first_and_a_button_press_is_answered_at_once() {
    let server = spawn_server(bot_config()).await;
    let kb = starter();
    let first = say(&server, "greet", 10.0, "hi", "en").await;
    let replies: Vec<_> = first.replies.iter().filter_map(bot_message).collect();
    let (greeting, buttons) = replies.first().expect("a greeting inline");
    assert_eq!(greeting, kb["greetings"]["en"]["text"].as_str().unwrap());
    assert!(!buttons.is_empty(), "navigation buttons");
    assert_eq!(replies.len(), 1, "small talk gets only the greeting");
    let view = server.conversation(&first.conversation_id).await.unwrap();
    assert_eq!(view.state, pb::ConversationState::WithBot as i32);
    let explained = server.explain(&first.conversation_id).await.unwrap();
    assert!(explained.verdict.contains("bot"), "{explained:?}");

    let press = say(&server, "greet", 10.0, &buttons[0].payload, "en").await;
    let texts = bot_texts(&press);
    assert_eq!(texts.len(), 1, "{press:?}");
    assert!(
        answers(&kb).contains(&texts[0]),
        "button {:?} answered from the knowledge base: {:?}",
        buttons[0].payload,
        texts[0]
    );
}

#[tokio::test]
async fn a_chinese_question_gets_the_greeting_then_the_knowledge_base_answer() {
    let server = spawn_server(bot_config()).await;
    let kb = starter();
    // No language from the adapter: the bot detects Chinese.
    let response = say(&server, "zh-order", 10.0, "我的快递到哪了？", "").await;
    let texts = bot_texts(&response);
    assert_eq!(texts.len(), 2, "{response:?}");
    assert_eq!(texts[0], kb["greetings"]["zh"]["text"].as_str().unwrap());
    assert_eq!(texts[1], answer_of(&kb, "order-status-zh"));
}

#[tokio::test]
async fn a_long_rambling_question_is_answered_through_the_matching_pool() {
    let server = spawn_server(bot_config()).await;
    let kb = starter();
    // Over 256 bytes, so the turn goes to a matching thread rather than being answered
    // on the stream that filed it; the answer comes back in the response all the same.
    let text = format!(
        "{}我的快递到哪了？",
        "上周在你们店里买了好几样东西，一直在等，".repeat(6)
    );
    assert!(text.len() > 256);
    let response = say(&server, "zh-long", 10.0, &text, "").await;
    let texts = bot_texts(&response);
    assert_eq!(texts.len(), 2, "{response:?}");
    assert_eq!(texts[1], answer_of(&kb, "order-status-zh"));
}

#[tokio::test]
async fn asking_for_a_person_hands_off_with_language_skill_and_transcript() {
    let server = spawn_server(bot_config()).await;
    let response = say(&server, "human-zh", 10.0, "转人工", "").await;
    assert_handed_off(&server, &response, "customer_request", "zh").await;

    // An English-only agent is not offered it; a Chinese-speaking one is.
    let mut english = Agent::sign_in(&server, None, "en-agent", &[("en", 3)], 2).await;
    let mut chinese = Agent::sign_in(&server, None, "zh-agent", &[("zh", 3)], 2).await;
    let offer = chinese.offer().await;
    assert_eq!(offer.conversation_id, response.conversation_id);
    assert_eq!(offer.handoff_reason, "customer_request");
    assert_eq!(offer.language, "zh");
    let senders: Vec<i32> = offer.transcript.iter().map(|e| e.sender).collect();
    assert_eq!(senders[0], pb::Sender::Customer as i32);
    assert!(
        senders.contains(&(pb::Sender::Bot as i32)),
        "bot greeting kept"
    );
    assert!(!english.offered_within(Duration::from_millis(300)).await);

    // An English request for a person goes to the English speaker at once; a guess at
    // the intent behind it narrows nothing: only the language is required.
    let english_request = say(
        &server,
        "human-en",
        10.0,
        "can I talk to a real person",
        "en",
    )
    .await;
    assert_eq!(
        english.offer().await.conversation_id,
        english_request.conversation_id
    );
    let view = server
        .conversation(&english_request.conversation_id)
        .await
        .unwrap();
    assert_eq!(view.handoff_reason, "customer_request");
    let required: Vec<&str> = view
        .required_skills
        .iter()
        .map(|s| s.skill.as_str())
        .collect();
    assert_eq!(required, ["en"]);
}

#[tokio::test]
async fn two_unsure_answers_in_a_row_hand_off() {
    let server = spawn_server(bot_config()).await;
    let first = say(&server, "unsure", 10.0, "xqzv wrtpl", "en").await;
    assert_eq!(bot_texts(&first).len(), 1, "only the greeting: {first:?}");
    let view = server.conversation(&first.conversation_id).await.unwrap();
    assert_eq!(view.state, pb::ConversationState::WithBot as i32);
    let second = say(&server, "unsure", 10.0, "blorf snazzle quump", "en").await;
    assert_handed_off(&server, &second, "low_confidence", "en").await;
}

#[tokio::test]
async fn a_complaint_hands_off_at_once() {
    let server = spawn_server(bot_config()).await;
    let angry = say(
        &server,
        "angry",
        10.0,
        "This is ridiculous, third time I ask. I want to file a complaint!",
        "en",
    )
    .await;
    assert_handed_off(&server, &angry, "complaint", "en").await;
}

#[tokio::test]
async fn someone_in_danger_is_handed_to_a_person_first_whatever_topic_they_name() {
    let server = spawn_server(bot_config()).await;
    // Names a knowledge-base topic (the order), but a person must take it, ahead of
    // a calm customer who came first.
    let calm = say(
        &server,
        "calm-first",
        10.0,
        "I want to talk to a person",
        "en",
    )
    .await;
    let urgent = say(
        &server,
        "danger",
        10.0,
        "someone is using my account right now and my order money keeps disappearing",
        "en",
    )
    .await;
    assert_handed_off(&server, &urgent, "safety", "en").await;
    assert_eq!(
        queue_note(&urgent).position,
        1,
        "served before the earlier calm one"
    );
    assert_eq!(queue_note(&calm).position, 1, "who was first until then");
}

#[tokio::test]
async fn an_intent_that_needs_a_person_hands_off_with_its_skill() {
    let server = spawn_server(bot_config()).await;
    let kb = starter();
    let entry = kb["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["needs_human"] == true && e["lang"] == "en")
        .expect("the starter kb has an English entry that needs a person");
    let question = entry["questions"][0].as_str().unwrap();
    let response = say(&server, "needs-human", 10.0, question, "en").await;
    let skill = entry["skill"].as_str().unwrap_or("en");
    assert_handed_off(&server, &response, "intent_needs_human", skill).await;
    let view = server
        .conversation(&response.conversation_id)
        .await
        .unwrap();
    let intent = entry["intent"].as_str().or(entry["id"].as_str()).unwrap();
    assert_eq!(view.intent, intent);
}

#[tokio::test]
async fn a_handoff_keeps_value_priority() {
    let server = spawn_server(bot_config()).await;
    let low = say(&server, "low", 10.0, "agent please", "en").await;
    let high = say(&server, "high", 50_000.0, "agent please", "en").await;
    for r in [&low, &high] {
        assert_handed_off(&server, r, "customer_request", "en").await;
    }
    let mut agent = Agent::sign_in(&server, None, "a1", &[("en", 3)], 1).await;
    assert_eq!(agent.offer().await.conversation_id, high.conversation_id);
}

/// The external bot workers the admin API lists.
async fn listed_bots(server: &TestServer) -> Vec<pb::BotView> {
    server
        .admin()
        .await
        .list_bots(pb::ListBotsRequest {})
        .await
        .unwrap()
        .into_inner()
        .bots
}

/// Whether a bot message reaches the adapter within `wait`.
async fn bot_message_within(adapter: &mut Adapter, wait: Duration) -> bool {
    adapter
        .inbox
        .receives_within(wait, |f| match &f.frame {
            Some(pb::gateway_frame::Frame::Delivery(d)) => bot_message(d),
            _ => None,
        })
        .await
}

/// Registers a worker and waits until the tenant lists it.
async fn connect_worker(server: &TestServer, register: pb::BotRegister) -> BotWorker {
    let id = register.bot_id.clone();
    let worker = BotWorker::register(server, register).await;
    for _ in 0..100 {
        if listed_bots(server).await.iter().any(|b| b.bot_id == id) {
            return worker;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("bot {id} never registered");
}

fn english_web_worker(id: &str) -> pb::BotRegister {
    pb::BotRegister {
        bot_id: id.to_owned(),
        languages: vec!["en".into()],
        channels: vec![pb::Channel::Web as i32],
        capacity: 2,
    }
}

/// The next bot message delivered to an adapter.
async fn next_bot_text(adapter: &mut Adapter) -> String {
    loop {
        if let Some((text, _)) = bot_message(&adapter.delivery().await) {
            return text;
        }
    }
}

#[tokio::test]
async fn an_external_bot_serves_and_hands_off() {
    let server = spawn_server(bot_config()).await;
    let mut worker = connect_worker(&server, english_web_worker("ext-1")).await;
    let mut adapter = Adapter::connect(&server, "web-adapter").await;
    adapter
        .send(message("ext", 10.0, "hello there"))
        .await
        .unwrap();
    let task = worker.task().await;
    assert!(task.first_turn);
    assert_eq!(task.language, "en");
    assert_eq!(task.transcript.last().unwrap().text, "hello there");
    assert!(task.deadline_unix_ms > 0);
    worker
        .send(pb::bot_frame::Frame::Answer(pb::BotAnswer {
            task_id: task.task_id,
            text: "Hi, external bot here.".into(),
            buttons: vec![pb::Button {
                label: "Track".into(),
                payload: "track my order".into(),
            }],
            intent: "greeting".into(),
            confidence: 0.9,
        }))
        .await;
    assert_eq!(next_bot_text(&mut adapter).await, "Hi, external bot here.");

    adapter
        .send(message("ext", 10.0, "I need help with an invoice"))
        .await
        .unwrap();
    let task = worker.task().await;
    assert!(!task.first_turn);
    worker
        .send(pb::bot_frame::Frame::Handoff(pb::BotHandoff {
            task_id: task.task_id,
            reason: pb::HandoffReason::IntentNeedsHuman as i32,
            intent: "invoice".into(),
            required_skills: vec![pb::SkillRequirement {
                skill: "billing".into(),
                min_proficiency: 2,
            }],
            note: "wants a corrected invoice".into(),
        }))
        .await;
    let mut agent = Agent::sign_in(&server, None, "biller", &[("billing", 3), ("en", 3)], 1).await;
    let offer = agent.offer().await;
    assert_eq!(offer.handoff_reason, "intent_needs_human");
    assert_eq!(offer.intent, "invoice");
    assert!(
        offer
            .transcript
            .iter()
            .any(|e| e.text.contains("wants a corrected invoice"))
    );
}

#[tokio::test]
async fn a_slow_external_bot_is_replaced_by_the_builtin_bot_within_a_second() {
    let mut config = bot_config();
    config.bot.answer_deadline_ms = 200;
    let server = spawn_server(config).await;
    let kb = starter();
    let mut worker = connect_worker(&server, english_web_worker("slow")).await;
    let mut adapter = Adapter::connect(&server, "web-adapter").await;
    adapter
        .send(message("slow", 10.0, "Where is my order?"))
        .await
        .unwrap();
    let task = worker.task().await;
    // The worker says nothing; the built-in bot greets and answers the same message.
    assert!(
        bot_message_within(&mut adapter, Duration::from_secs(1)).await,
        "first response within one second"
    );
    assert_eq!(
        next_bot_text(&mut adapter).await,
        answer_of(&kb, "order-status-en")
    );
    // A late answer is ignored: the customer does not hear twice.
    worker
        .send(pb::bot_frame::Frame::Answer(pb::BotAnswer {
            task_id: task.task_id,
            text: "late".into(),
            ..Default::default()
        }))
        .await;
    assert!(
        !bot_message_within(&mut adapter, Duration::from_millis(300)).await,
        "late answer relayed"
    );
}

#[tokio::test]
async fn a_dropped_external_bot_loses_no_message() {
    let mut config = bot_config();
    config.bot.answer_deadline_ms = 850;
    let server = spawn_server(config).await;
    let kb = starter();
    let mut worker = connect_worker(&server, english_web_worker("dropper")).await;
    let mut adapter = Adapter::connect(&server, "web-adapter").await;
    adapter
        .send(message("dropped", 10.0, "Where is my order?"))
        .await
        .unwrap();
    worker.task().await;
    drop(worker);
    next_bot_text(&mut adapter).await;
    assert_eq!(
        next_bot_text(&mut adapter).await,
        answer_of(&kb, "order-status-en")
    );
    assert!(listed_bots(&server).await.is_empty());
    // Taken over because the stream dropped, not because the deadline passed (no
    // other test drops a worker holding a task; metrics are per process).
    let metrics = http_get(server.metrics_addr, "/metrics").await;
    let disconnected = metrics
        .lines()
        .find(|l| {
            l.starts_with("switchboard_bot_turns_total{")
                && l.contains("bot=\"external\"")
                && l.contains("outcome=\"disconnected\"")
        })
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok());
    assert!(disconnected >= Some(1.0), "{disconnected:?}");
}

#[tokio::test]
async fn a_bad_registration_is_refused_with_the_field_named() {
    let server = spawn_server(bot_config()).await;
    let mut worker = BotWorker::register(
        &server,
        pb::BotRegister {
            capacity: 0,
            ..english_web_worker("zero")
        },
    )
    .await;
    let status = worker.inbox.end_status().await;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("register.capacity"), "{status:?}");
    // A newer stream of the same bot id replaces the older one.
    let mut first = connect_worker(&server, english_web_worker("twice")).await;
    let _second = BotWorker::register(&server, english_web_worker("twice")).await;
    assert_eq!(first.inbox.end_status().await.code(), Code::Aborted);
}

#[tokio::test]
async fn agents_get_up_to_three_suggestions_per_customer_message_after_a_handoff() {
    let server = spawn_server(bot_config()).await;
    let kb = starter();
    let handed = say(&server, "assist", 10.0, "let me speak to an agent", "en").await;
    assert_handed_off(&server, &handed, "customer_request", "en").await;
    let mut agent = Agent::sign_in(&server, None, "helper", &[("en", 3)], 1).await;
    let id = agent.take_next().await;
    say(&server, "assist", 10.0, "how do I return an item", "en").await;
    let suggestions = agent
        .inbox
        .next_matching(|f| match &f.frame {
            Some(pb::desk_frame::Frame::Suggestions(s)) => Some(s.clone()),
            _ => None,
        })
        .await;
    assert_eq!(suggestions.conversation_id, id);
    assert_eq!(suggestions.customer_text, "how do I return an item");
    assert!((1..=3).contains(&suggestions.suggestions.len()));
    let best = &suggestions.suggestions[0];
    assert_eq!(best.entry_id, "returns-en");
    assert_eq!(best.text, answer_of(&kb, "returns-en"));
    assert!(best.confidence > 0.0 && best.confidence <= 1.0);
    assert!(
        suggestions
            .suggestions
            .windows(2)
            .all(|w| w[0].confidence >= w[1].confidence)
    );
}

#[tokio::test]
async fn conversations_that_never_met_the_bot_get_no_suggestions() {
    // Web chat is bot-first; here the app channel goes straight to a person.
    let mut config = bot_config();
    config.bot.channels = vec!["web".to_owned()];
    let server = spawn_server(config).await;
    let handed = say(&server, "assist-b", 10.0, "let me speak to an agent", "en").await;
    assert_handed_off(&server, &handed, "customer_request", "en").await;
    let mut agent = Agent::sign_in(&server, None, "helper", &[("en", 3)], 2).await;
    let handed_id = agent.take_next().await;
    let direct = |text: &str| {
        let mut msg = message("assist-direct", 10.0, text);
        msg.channel = pb::Channel::App as i32;
        msg.adapter_id = "app-adapter".into();
        msg
    };
    let gateway = server.gateway().await;
    gateway
        .clone()
        .submit(direct("how do I return an item"))
        .await
        .unwrap();
    let direct_id = agent.take_next().await;
    assert_ne!(direct_id, handed_id);
    // Questions the knowledge base answers, on both conversations, twice; the
    // handed-off one gets suggestions each time, the direct one never does.
    for _ in 0..2 {
        gateway
            .clone()
            .submit(direct("how do I return an item"))
            .await
            .unwrap();
        say(&server, "assist-b", 10.0, "how do I return an item", "en").await;
        let suggested = agent
            .inbox
            .next_matching(|f| match &f.frame {
                Some(pb::desk_frame::Frame::Suggestions(s)) => Some(s.conversation_id.clone()),
                _ => None,
            })
            .await;
        assert_eq!(suggested, handed_id, "suggestions only after a handoff");
    }
}

#[tokio::test]
async fn a_quiet_bot_conversation_ends_as_finished_by_the_bot() {
    let mut config = bot_config();
    config.bot.idle_end_secs = 1;
    let server = spawn_server(config).await;
    let mut adapter = Adapter::connect(&server, "web-adapter").await;
    let accepted = adapter.send(message("quiet", 10.0, "hi")).await.unwrap();
    let closed = adapter
        .inbox
        .next_matching(|f| match &f.frame {
            Some(pb::gateway_frame::Frame::Delivery(pb::Delivery {
                body: Some(pb::delivery::Body::Closed(c)),
                ..
            })) => Some(c.reason),
            _ => None,
        })
        .await;
    assert_eq!(closed, pb::EndReason::BotFinished as i32);
    let view = server
        .conversation(&accepted.conversation_id)
        .await
        .unwrap();
    assert_eq!(view.state, pb::ConversationState::BotFinished as i32);
}

/// A knowledge-base file in the temp directory, removed on drop.
struct KbFile(PathBuf);

impl KbFile {
    fn new(name: &str) -> KbFile {
        KbFile(std::env::temp_dir().join(format!("switchboard-{name}-{}.json", std::process::id())))
    }

    /// Writes the starter knowledge base with the `returns-en` answer replaced.
    fn write_returns_answer(&self, answer: &str) {
        let mut kb = starter();
        for e in kb["entries"].as_array_mut().unwrap() {
            if e["id"] == "returns-en" {
                e["answer"] = Value::from(answer);
            }
        }
        std::fs::write(&self.0, serde_json::to_string(&kb).unwrap()).unwrap();
    }
}

impl Drop for KbFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::test]
async fn the_knowledge_base_reloads_and_a_bad_file_keeps_the_old_one_serving() {
    let file = KbFile::new("reload");
    file.write_returns_answer("Returns, version one.");
    let mut config = bot_config();
    config.kb = Some(file.0.clone());
    let server = spawn_server(config).await;
    let returns_answer = |key: &'static str| {
        let server = &server;
        async move {
            let r = say(server, key, 10.0, "how do I return an item", "en").await;
            bot_texts(&r).last().cloned().unwrap()
        }
    };
    assert_eq!(returns_answer("r1").await, "Returns, version one.");

    file.write_returns_answer("Returns, version two.");
    let view = server
        .admin()
        .await
        .reload_knowledge_base(pb::ReloadKnowledgeBaseRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(view.path, file.0.display().to_string());
    assert!(view.entries > 0 && view.languages.contains(&"en".to_owned()));
    assert_eq!(returns_answer("r2").await, "Returns, version two.");

    std::fs::write(&file.0, r#"{"entries": [{"id": "x"}]}"#).unwrap();
    let refused = server
        .admin()
        .await
        .reload_knowledge_base(pb::ReloadKnowledgeBaseRequest {})
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains(&file.0.display().to_string()),
        "{refused:?}"
    );
    assert_eq!(returns_answer("r3").await, "Returns, version two.");
}

/// The README's grpcurl example, as the same requests: on web chat (bot-first in the
/// defaults) the bot answers and nobody waits; on SMS (agent-first) the customer
/// queues for a person at once, told there is no agent yet, and `ListWaiting` shows
/// them.
#[tokio::test]
async fn the_readme_grpcurl_example_queues_on_an_agent_first_channel() {
    let server = spawn_server(bot_config()).await;
    let readme = |channel: pb::Channel, thread: &str, customer: &str| pb::InboundMessage {
        adapter_id: "sms-1".into(),
        channel: channel as i32,
        channel_conversation_id: thread.into(),
        customer: Some(pb::Customer {
            customer_id: customer.into(),
            value: Some(pb::CustomerValue {
                clv: Some(12_000.0),
                ..Default::default()
            }),
            ..Default::default()
        }),
        text: "where is my order?".into(),
        language: "en".into(),
        ..Default::default()
    };
    let waiting = || async {
        server
            .admin()
            .await
            .list_waiting(pb::ListWaitingRequest { limit: 0 })
            .await
            .unwrap()
            .into_inner()
    };
    let mut gateway = server.gateway().await;
    let web = gateway
        .submit(readme(pb::Channel::Web, "t-web", "u-web"))
        .await
        .unwrap()
        .into_inner();
    assert!(web.created);
    assert_eq!(waiting().await.total, 0, "the bot answered on web chat");

    let sms = gateway
        .submit(readme(pb::Channel::Sms, "t-1", "u-1"))
        .await
        .unwrap()
        .into_inner();
    let status = queue_note(&sms);
    assert_eq!((status.position, status.estimated_wait_seconds), (1, 0));
    let listed = waiting().await;
    assert_eq!(listed.total, 1);
    assert_eq!(listed.conversations[0].conversation_id, sms.conversation_id);
}
