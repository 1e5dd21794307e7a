//! One conversation end to end: first response, relay both ways, close, abandon.

use switchboard::api::pb;

use crate::common::{Adapter, Agent, first_queue_status, message, spawn_server, test_config};

#[tokio::test]
async fn first_response_arrives_at_once_with_no_bot_and_no_agent() {
    let server = spawn_server(test_config()).await;
    // Unary submit: the first response is part of the answer itself.
    let response = server.submit(None, "fr-1", 0.0).await;
    assert!(response.created);
    let status = first_queue_status(&response);
    assert_eq!(status.position, 1);
    assert_eq!(
        status.estimated_wait_seconds, 0,
        "no agent signed in: no estimate"
    );
    let note = response.replies.iter().find_map(|r| match &r.body {
        Some(pb::delivery::Body::Message(m)) => Some(m.text.clone()),
        _ => None,
    });
    assert!(
        note.as_deref()
            .is_some_and(|t| t.contains("No agent who can help")),
        "{note:?}"
    );

    // Streaming adapter: the first response is delivered on the stream, promptly.
    let mut adapter = Adapter::connect(&server, "web-stream").await;
    let accepted = adapter.send(message("fr-2", 0.0, "hi")).await.unwrap();
    assert!(accepted.created);
    let delivery = tokio::time::timeout(std::time::Duration::from_secs(1), adapter.delivery())
        .await
        .expect("first response within one second");
    assert_eq!(delivery.conversation_id, accepted.conversation_id);
    match delivery.body {
        Some(pb::delivery::Body::Message(m)) => {
            assert_eq!(m.sender, pb::Sender::System as i32);
            assert_eq!(m.queue_status.unwrap().position, 2, "second in line");
        }
        other => panic!("unexpected first delivery {other:?}"),
    }
}

#[tokio::test]
async fn resubmitting_a_channel_conversation_joins_the_same_conversation() {
    let server = spawn_server(test_config()).await;
    let first = server.submit(None, "same-thread", 0.0).await;
    let second = server.submit(None, "same-thread", 0.0).await;
    assert!(first.created);
    assert!(!second.created);
    assert_eq!(first.conversation_id, second.conversation_id);
    assert!(second.replies.is_empty(), "no second first response");
    let waiting = server
        .admin()
        .await
        .list_waiting(pb::ListWaitingRequest { limit: 0 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(waiting.total, 1);
}

#[tokio::test]
async fn messages_flow_in_order_both_ways_and_close_ends_the_conversation() {
    let server = spawn_server(test_config()).await;
    let mut agent = Agent::sign_in(&server, None, "ann", &[], 2).await;
    let mut adapter = Adapter::connect(&server, "web-adapter").await;
    let opened = adapter
        .send(message("relay-1", 0.0, "first"))
        .await
        .unwrap();
    let conversation = agent.take_next().await;
    assert_eq!(conversation, opened.conversation_id);
    adapter.message_text().await; // the first response

    for i in 0..20 {
        let mut m = message("relay-1", 0.0, &format!("customer {i}"));
        m.client_message_id = format!("m{i}");
        let accepted = adapter.send(m).await.unwrap();
        assert!(!accepted.created);
    }
    for i in 0..20 {
        assert_eq!(agent.customer_message().await.text, format!("customer {i}"));
    }
    for i in 0..20 {
        agent
            .reply(&conversation, &format!("agent {i}"))
            .await
            .unwrap();
    }
    for i in 0..20 {
        assert_eq!(adapter.message_text().await, format!("agent {i}"));
    }

    agent.close(&conversation).await.unwrap();
    let closed = adapter.delivery().await;
    assert_eq!(
        closed.body,
        Some(pb::delivery::Body::Closed(pb::ConversationClosed {
            reason: pb::EndReason::ClosedByAgent as i32
        }))
    );
    let view = server.conversation(&conversation).await.unwrap();
    assert_eq!(view.state, pb::ConversationState::Closed as i32);
    // The agent no longer owns it.
    let err = agent.reply(&conversation, "late").await.unwrap_err();
    assert_eq!(err.0, tonic::Code::NotFound);
}

#[tokio::test]
async fn pipelined_frames_are_answered_one_by_one_in_order() {
    use pb::{adapter_frame::Frame as In, desk_frame::Frame as Desk, gateway_frame::Frame as Out};
    let server = spawn_server(test_config()).await;
    let mut agent = Agent::sign_in(&server, None, "ann", &[], 1).await;
    let mut adapter = Adapter::connect(&server, "web-adapter").await;
    adapter.send(message("burst", 0.0, "hello")).await.unwrap();
    let conversation = agent.take_next().await;
    adapter.message_text().await; // the first response

    // More frames than one burst takes, sent back to back, one of them invalid.
    let sent = 70;
    for i in 0..sent {
        let mut m = message("burst", 0.0, &format!("customer {i}"));
        m.client_message_id = format!("m{i}");
        if i == 10 {
            m.channel_conversation_id.clear();
        }
        adapter.pipeline(In::Message(m)).await;
    }
    for i in 0..sent {
        let answer = adapter
            .inbox
            .next_matching(|f| match &f.frame {
                Some(Out::Accepted(a)) => Some((a.client_message_id.clone(), true)),
                Some(Out::Rejected(r)) => Some((r.client_message_id.clone(), false)),
                _ => None,
            })
            .await;
        assert_eq!(answer, (format!("m{i}"), i != 10), "answer {i}");
    }
    for i in (0..sent).filter(|i| *i != 10) {
        assert_eq!(agent.customer_message().await.text, format!("customer {i}"));
    }

    // The agent's side: replies back to back, one to a conversation it does not hold.
    let mut ids = Vec::new();
    for i in 0..sent {
        let target = if i == 5 {
            "999999"
        } else {
            conversation.as_str()
        };
        ids.push(
            agent
                .pipeline(pb::agent_frame::Action::Reply(pb::Reply {
                    conversation_id: target.to_owned(),
                    text: format!("agent {i}"),
                }))
                .await,
        );
    }
    for (i, id) in ids.iter().enumerate() {
        let answer = agent
            .inbox
            .next_matching(|f| match &f.frame {
                Some(Desk::Done(d)) => Some((d.request_id.clone(), true)),
                Some(Desk::Rejected(r)) => Some((r.request_id.clone(), false)),
                _ => None,
            })
            .await;
        assert_eq!(answer, (id.clone(), i != 5), "answer to reply {i}");
    }
    for i in (0..sent).filter(|i| *i != 5) {
        assert_eq!(adapter.message_text().await, format!("agent {i}"));
    }
}

#[tokio::test]
async fn pipelined_replies_past_a_full_adapter_mailbox_are_refused_not_dropped() {
    use pb::desk_frame::Frame as Desk;
    let mut config = test_config();
    config.limits.adapter_mailbox = 8;
    let server = spawn_server(config).await;
    let mut agent = Agent::sign_in(&server, None, "ann", &[], 1).await;
    let mut adapter = Adapter::connect(&server, "web-adapter").await;
    adapter.send(message("full", 0.0, "hello")).await.unwrap();
    let conversation = agent.take_next().await;
    // The adapter never acknowledges: its mailbox fills up.
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(
            agent
                .pipeline(pb::agent_frame::Action::Reply(pb::Reply {
                    conversation_id: conversation.clone(),
                    text: format!("agent {i}"),
                }))
                .await,
        );
    }
    let mut confirmed = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let (answered, code) = agent
            .inbox
            .next_matching(|f| match &f.frame {
                Some(Desk::Done(d)) => Some((d.request_id.clone(), None)),
                Some(Desk::Rejected(r)) => Some((r.request_id.clone(), Some(r.code))),
                _ => None,
            })
            .await;
        assert_eq!(&answered, id);
        match code {
            None => confirmed.push(format!("agent {i}")),
            Some(code) => assert_eq!(code, tonic::Code::ResourceExhausted as i32, "reply {i}"),
        }
    }
    assert!(
        !confirmed.is_empty() && confirmed.len() < ids.len(),
        "some replies fit and some did not: {} confirmed",
        confirmed.len()
    );
    // Every confirmed reply reaches the customer: none was dropped for lack of room.
    let mut received = Vec::new();
    while received.len() < confirmed.len() {
        let text = adapter.message_text().await;
        // The router's own notes (the first response) share the mailbox.
        if text.starts_with("agent ") {
            received.push(text);
        }
    }
    assert_eq!(received, confirmed);
}

#[tokio::test]
async fn a_repeated_client_message_id_is_relayed_once() {
    let server = spawn_server(test_config()).await;
    let mut agent = Agent::sign_in(&server, None, "ann", &[], 1).await;
    let mut adapter = Adapter::connect(&server, "web-adapter").await;
    adapter.send(message("dup", 0.0, "hello")).await.unwrap();
    agent.take_next().await;
    for _ in 0..2 {
        let mut m = message("dup", 0.0, "once");
        m.client_message_id = "same-id".into();
        adapter.send(m).await.unwrap();
    }
    let mut m = message("dup", 0.0, "after");
    m.client_message_id = "other-id".into();
    adapter.send(m).await.unwrap();
    assert_eq!(agent.customer_message().await.text, "once");
    assert_eq!(agent.customer_message().await.text, "after");
}

#[tokio::test]
async fn abandon_ends_waiting_and_assigned_conversations() {
    let server = spawn_server(test_config()).await;
    let mut gateway = server.gateway().await;

    let waiting = server.submit(None, "ab-wait", 0.0).await;
    let response = gateway
        .abandon(pb::AbandonRequest {
            channel: pb::Channel::Web as i32,
            channel_conversation_id: "ab-wait".into(),
            customer_id: "customer-ab-wait".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.conversation_id, waiting.conversation_id);
    let view = server.conversation(&waiting.conversation_id).await.unwrap();
    assert_eq!(view.state, pb::ConversationState::Abandoned as i32);

    let mut agent = Agent::sign_in(&server, None, "ann", &[], 1).await;
    let assigned = server.submit(None, "ab-assigned", 0.0).await;
    assert_eq!(agent.take_next().await, assigned.conversation_id);
    gateway
        .abandon(pb::AbandonRequest {
            channel: pb::Channel::Web as i32,
            channel_conversation_id: "ab-assigned".into(),
            customer_id: "customer-ab-assigned".into(),
        })
        .await
        .unwrap();
    let ended = agent
        .inbox
        .next_matching(|f| match &f.frame {
            Some(pb::desk_frame::Frame::Ended(e)) => Some(e.clone()),
            _ => None,
        })
        .await;
    assert_eq!(ended.conversation_id, assigned.conversation_id);
    assert_eq!(ended.reason, pb::EndReason::Abandoned as i32);
    // Capacity freed: the next customer is offered to the same agent.
    let next = server.submit(None, "ab-next", 0.0).await;
    assert_eq!(agent.take_next().await, next.conversation_id);
}

#[tokio::test]
async fn a_waiting_customer_is_told_when_their_place_moves_up() {
    let mut config = test_config();
    config.routing.queue_update_interval_ms = 200;
    let server = spawn_server(config).await;
    let mut agent = Agent::sign_in(&server, None, "ann", &[], 1).await;
    let first = server.submit(None, "ahead", 0.0).await;
    assert_eq!(agent.take_next().await, first.conversation_id);
    let mut adapter = Adapter::connect(&server, "web-stream").await;
    for key in ["second", "third"] {
        adapter.send(message(key, 0.0, "hi")).await.unwrap();
    }
    let position = |d: pb::Delivery| match d.body {
        Some(pb::delivery::Body::Message(m)) => m.queue_status.map(|q| q.position),
        _ => None,
    };
    assert_eq!(position(adapter.delivery().await), Some(1));
    assert_eq!(position(adapter.delivery().await), Some(2));
    agent.close(&first.conversation_id).await.unwrap();
    agent.take_next().await;
    // "third" moved from 2 to 1: it hears about it without writing again.
    let update = adapter.delivery().await;
    assert_eq!(update.channel_conversation_id, "third");
    assert_eq!(position(update), Some(1));
}

#[tokio::test]
async fn a_customer_who_closed_the_app_and_returns_keeps_their_place() {
    let server = spawn_server(test_config()).await;
    let mut gateway = server.gateway().await;
    server.submit(None, "first-in-line", 0.0).await;
    server.submit(None, "second-in-line", 0.0).await;
    gateway
        .abandon(pb::AbandonRequest {
            channel: pb::Channel::Web as i32,
            channel_conversation_id: "first-in-line".into(),
            customer_id: "customer-first-in-line".into(),
        })
        .await
        .unwrap();
    // New session, same customer.
    let mut back = message("first-in-line-again", 0.0, "sorry, the app closed");
    back.customer.as_mut().unwrap().customer_id = "customer-first-in-line".into();
    let response = gateway.submit(back).await.unwrap().into_inner();
    assert_eq!(
        first_queue_status(&response).position,
        1,
        "ahead of second-in-line"
    );
}

#[tokio::test]
async fn past_the_maximum_wait_the_customer_is_offered_a_call_back() {
    let mut config = test_config();
    config.routing.queues[0].max_wait_secs = 1;
    let server = spawn_server(config).await;
    let mut adapter = Adapter::connect(&server, "web-stream").await;
    adapter
        .send(message("long-wait", 0.0, "hello?"))
        .await
        .unwrap();
    adapter.message_text().await; // the first response
    let fallback = adapter.delivery().await; // about a second later
    let Some(pb::delivery::Body::Message(m)) = fallback.body else {
        panic!("a message");
    };
    let payloads: Vec<String> = m.buttons.into_iter().map(|b| b.payload).collect();
    assert_eq!(payloads, vec!["callback", "email"]);
}
