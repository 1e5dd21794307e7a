//! Bad input: every kind gets its status naming the field, and the server keeps
//! serving everyone else.

use switchboard::api::pb;
use tonic::{Code, Request};

use crate::common::{Adapter, Agent, message, open_desk, spawn_server, test_config};

fn assert_status(result: Result<impl std::fmt::Debug, tonic::Status>, code: Code, field: &str) {
    let status = result.expect_err("request should be refused");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(
        status.message().starts_with(field) || status.message().contains(field),
        "status {:?} should name {field}",
        status.message()
    );
}

#[tokio::test]
async fn each_kind_of_bad_submit_gets_invalid_argument_naming_the_field() {
    let server = spawn_server(test_config()).await;
    let mut gateway = server.gateway().await;
    type Breaker = Box<dyn Fn(&mut pb::InboundMessage)>;
    let cases: Vec<(&str, Breaker)> = vec![
        ("adapter_id", Box::new(|m| m.adapter_id.clear())),
        (
            "channel_conversation_id",
            Box::new(|m| m.channel_conversation_id.clear()),
        ),
        (
            "channel",
            Box::new(|m| m.channel = pb::Channel::Unspecified as i32),
        ),
        ("channel", Box::new(|m| m.channel = 42)),
        (
            "customer.customer_id",
            Box::new(|m| m.customer.as_mut().unwrap().customer_id.clear()),
        ),
        (
            "customer.value.clv",
            Box::new(|m| m.customer.as_mut().unwrap().value.as_mut().unwrap().clv = Some(-5.0)),
        ),
        (
            "customer.value.clv",
            Box::new(|m| m.customer.as_mut().unwrap().value.as_mut().unwrap().clv = Some(f64::NAN)),
        ),
        ("text", Box::new(|m| m.text = "x".repeat(16 * 1024 + 1))),
        ("text", Box::new(|m| m.text.clear())),
        ("queue", Box::new(|m| m.queue = "no-such-queue".into())),
    ];
    for (i, (field, break_it)) in cases.into_iter().enumerate() {
        let mut m = message(&format!("bad-{i}"), 0.0, "hello");
        break_it(&mut m);
        assert_status(gateway.submit(m).await, Code::InvalidArgument, field);
    }
    let mut bad_tenant = Request::new(message("bad-tenant", 0.0, "hi"));
    bad_tenant
        .metadata_mut()
        .insert("x-switchboard-tenant", "no spaces allowed".parse().unwrap());
    assert_status(
        gateway.submit(bad_tenant).await,
        Code::InvalidArgument,
        "x-switchboard-tenant",
    );

    // Nothing above created a conversation, and a good request still works.
    let admin = server
        .admin()
        .await
        .list_waiting(pb::ListWaitingRequest { limit: 0 })
        .await;
    assert_eq!(admin.unwrap().into_inner().total, 0);
    assert!(server.submit(None, "good-after-bad", 0.0).await.created);
}

#[tokio::test]
async fn unknown_ids_get_not_found() {
    let server = spawn_server(test_config()).await;
    let mut admin = server.admin().await;
    for id in ["c999999", "not-an-id"] {
        let r = admin
            .get_conversation(pb::GetConversationRequest {
                conversation_id: id.into(),
            })
            .await;
        assert_status(r, Code::NotFound, "conversation");
    }
    let r = server
        .gateway()
        .await
        .abandon(pb::AbandonRequest {
            channel: pb::Channel::Web as i32,
            channel_conversation_id: "never-opened".into(),
            customer_id: "customer-never-opened".into(),
        })
        .await;
    assert_status(r, Code::NotFound, "conversation");

    let mut agent = Agent::sign_in(&server, None, "ann", &[], 1).await;
    let err = agent
        .act(pb::agent_frame::Action::Accept(pb::ConversationRef {
            conversation_id: "c424242".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.0, Code::NotFound);
}

#[tokio::test]
async fn acting_on_a_conversation_you_do_not_own_is_a_failed_precondition() {
    let server = spawn_server(test_config()).await;
    let mut owner = Agent::sign_in(&server, None, "owner", &[], 1).await;
    let opened = server.submit(None, "owned", 0.0).await;
    assert_eq!(owner.take_next().await, opened.conversation_id);
    let mut intruder = Agent::sign_in(&server, None, "intruder", &[], 1).await;
    let id = opened.conversation_id.clone();
    for action in [
        pb::agent_frame::Action::Accept(pb::ConversationRef {
            conversation_id: id.clone(),
        }),
        pb::agent_frame::Action::Reply(pb::Reply {
            conversation_id: id.clone(),
            text: "hi".into(),
        }),
        pb::agent_frame::Action::Close(pb::ConversationRef {
            conversation_id: id.clone(),
        }),
        pb::agent_frame::Action::Decline(pb::Decline {
            conversation_id: id.clone(),
            reason: String::new(),
        }),
    ] {
        let err = intruder.act(action).await.unwrap_err();
        assert_eq!(err.0, Code::FailedPrecondition, "{err:?}");
    }
    // The owner is unaffected.
    owner.reply(&id, "still mine").await.unwrap();
}

#[tokio::test]
async fn bad_agent_frames_are_refused_without_ending_the_stream() {
    let server = spawn_server(test_config()).await;
    let mut agent = Agent::sign_in(&server, None, "ann", &[], 1).await;
    let empty_reply = agent
        .act(pb::agent_frame::Action::Reply(pb::Reply {
            conversation_id: "c1".into(),
            text: String::new(),
        }))
        .await
        .unwrap_err();
    assert_eq!(empty_reply.0, Code::InvalidArgument);
    assert!(empty_reply.1.starts_with("reply.text"), "{}", empty_reply.1);
    let no_presence = agent
        .act(pb::agent_frame::Action::SetPresence(pb::SetPresence {
            presence: 0,
        }))
        .await
        .unwrap_err();
    assert_eq!(no_presence.0, Code::InvalidArgument);
    let no_target = agent
        .act(pb::agent_frame::Action::Transfer(pb::Transfer {
            conversation_id: "c1".into(),
            target: None,
        }))
        .await
        .unwrap_err();
    assert_eq!(no_target.0, Code::InvalidArgument);
    // Still signed in and served.
    let opened = server.submit(None, "after-bad-frames", 0.0).await;
    assert_eq!(agent.take_next().await, opened.conversation_id);
}

#[tokio::test]
async fn bad_sign_ins_end_the_stream_with_a_status() {
    let server = spawn_server(test_config()).await;
    let zero_capacity = pb::SignIn {
        agent_id: "zero".into(),
        capacity: Some(pb::Capacity::default()),
        ..Default::default()
    };
    let (_tx, mut inbox) = open_desk(&server, None, zero_capacity).await;
    let status = inbox.end_status().await;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().starts_with("sign_in.capacity"),
        "{}",
        status.message()
    );

    let no_id = pb::SignIn {
        capacity: Some(pb::Capacity {
            messaging: 1,
            ..Default::default()
        }),
        ..Default::default()
    };
    let (_tx, mut inbox) = open_desk(&server, None, no_id).await;
    let status = inbox.end_status().await;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().starts_with("sign_in.agent_id"),
        "{}",
        status.message()
    );

    // The same agent signing in again (a desk that reconnected) replaces the older
    // session at once; the older one ends with ABORTED.
    let mut ann = Agent::sign_in(&server, None, "ann", &[], 1).await;
    let _again = Agent::sign_in(&server, None, "ann", &[], 1).await;
    let status = ann.inbox.end_status().await;
    assert_eq!(status.code(), Code::Aborted, "{status:?}");
}

#[tokio::test]
async fn bad_adapter_frames_are_refused_on_the_stream_which_stays_open() {
    let server = spawn_server(test_config()).await;
    let mut adapter = Adapter::connect(&server, "web-adapter").await;
    let mut bad = message("stream-bad", -1.0, "hi");
    bad.client_message_id = "bad-1".into();
    let rejected = adapter.send(bad).await.unwrap_err();
    assert_eq!(rejected.code, Code::InvalidArgument as i32);
    assert!(
        rejected.message.starts_with("customer.value.clv"),
        "{}",
        rejected.message
    );
    let mut good = message("stream-good", 1.0, "hi");
    good.client_message_id = "good-1".into();
    assert!(adapter.send(good).await.unwrap().created);
}

#[tokio::test]
async fn a_shard_refuses_tenants_it_does_not_own() {
    let mut config = test_config();
    config.tenancy.shard = "switchboard-0".into();
    config
        .tenancy
        .shards
        .insert("switchboard-0".into(), vec!["acme".into()]);
    config
        .tenancy
        .shards
        .insert("switchboard-1".into(), vec!["globex".into()]);
    let server = spawn_server(config).await;
    assert!(server.submit(Some("acme"), "owned-here", 0.0).await.created);
    let mut request = Request::new(message("elsewhere", 0.0, "hi"));
    request
        .metadata_mut()
        .insert("x-switchboard-tenant", "globex".parse().unwrap());
    let refused = server.gateway().await.submit(request).await;
    assert_status(refused, Code::FailedPrecondition, "x-switchboard-tenant");
}

#[tokio::test]
async fn an_adapter_that_does_not_acknowledge_is_slowed_down_not_dropped() {
    let mut config = test_config();
    config.limits.adapter_mailbox = 10;
    let server = spawn_server(config).await;
    let mut adapter = Adapter::connect(&server, "slow-adapter").await;
    let mut last_delivery = 0;
    for i in 0..9 {
        let mut m = message(&format!("slow-{i}"), 0.0, "hi");
        m.client_message_id = format!("m{i}");
        adapter.send(m).await.unwrap();
        last_delivery = adapter.delivery().await.delivery_id;
    }
    // Nine unacknowledged deliveries: nine tenths of the mailbox.
    let mut m = message("slow-9", 0.0, "hi");
    m.client_message_id = "m9".into();
    let refused = adapter.send(m).await.unwrap_err();
    assert_eq!(refused.code, Code::ResourceExhausted as i32);
    assert!(
        refused.message.contains("acknowledge"),
        "{}",
        refused.message
    );
    // Acknowledging frees the adapter again.
    adapter.ack(last_delivery).await;
    let mut m = message("slow-10", 0.0, "hi");
    m.client_message_id = "m10".into();
    assert!(adapter.send(m).await.unwrap().created);
}
