//! Customers recognised across channels by the identifiers adapters send.

use std::time::Duration;

use switchboard::api::pb;

use crate::common::{Agent, journaled_in, message, spawn_server, test_config};

fn on_channel(
    channel: pb::Channel,
    key: &str,
    customer_id: &str,
    clv: Option<f64>,
    identifiers: Vec<pb::CustomerIdentifier>,
) -> pb::InboundMessage {
    let mut m = message(key, 0.0, "hello");
    m.channel = channel as i32;
    let customer = m.customer.as_mut().unwrap();
    customer.customer_id = customer_id.to_owned();
    customer.value = clv.map(|clv| pb::CustomerValue {
        clv: Some(clv),
        ..Default::default()
    });
    customer.identifiers = identifiers;
    m
}

fn phone(value: &str, verified: bool) -> pb::CustomerIdentifier {
    pb::CustomerIdentifier {
        kind: pb::IdentifierKind::Phone as i32,
        value: value.to_owned(),
        verified,
    }
}

#[tokio::test]
async fn a_customer_from_wechat_is_recognised_on_the_web_with_their_value_and_agent() {
    let mut config = test_config();
    config.routing.last_agent_window_ms = 60_000;
    let server = spawn_server(config).await;
    let mut ann = Agent::sign_in(&server, None, "ann", &[], 2).await;
    let mut gateway = server.gateway().await;

    // On WeChat, with a verified phone and a high value.
    let wechat = on_channel(
        pb::Channel::WechatOfficialAccount,
        "wx-thread",
        "o-wechat-open-id",
        Some(250_000.0),
        vec![phone("+86 138 0013 8000", true)],
    );
    let first = gateway.submit(wechat).await.unwrap().into_inner();
    assert_eq!(ann.take_next().await, first.conversation_id);
    let mut bob = Agent::sign_in(&server, None, "bob", &[], 2).await;
    ann.close(&first.conversation_id).await.unwrap();

    // Later on the web: another customer id, no value, the same phone written another way.
    let web = on_channel(
        pb::Channel::Web,
        "web-thread",
        "web-visitor-9",
        None,
        vec![phone("+8613800138000", true)],
    );
    let second = gateway.submit(web).await.unwrap().into_inner();
    let view = server.conversation(&second.conversation_id).await.unwrap();
    assert_eq!(view.clv, 250_000.0, "the value carried over");
    assert_eq!(view.value_tier, "platinum");
    assert_eq!(ann.offer().await.conversation_id, second.conversation_id);
    assert!(!bob.offered_within(Duration::from_millis(100)).await);

    // From now on the web visitor id alone recognises them.
    ann.accept(&second.conversation_id).await;
    ann.close(&second.conversation_id).await.unwrap();
    let again = on_channel(
        pb::Channel::Web,
        "web-thread-2",
        "web-visitor-9",
        None,
        vec![],
    );
    let third = gateway.submit(again).await.unwrap().into_inner();
    let view = server.conversation(&third.conversation_id).await.unwrap();
    assert_eq!(view.clv, 250_000.0);
}

#[tokio::test]
async fn an_unverified_phone_recognises_nobody() {
    let server = spawn_server(test_config()).await;
    let mut gateway = server.gateway().await;
    let owner = on_channel(
        pb::Channel::App,
        "app-thread",
        "app-user-1",
        Some(250_000.0),
        vec![phone("+8613800138000", true)],
    );
    gateway.submit(owner).await.unwrap();
    let stranger = on_channel(
        pb::Channel::Web,
        "web-thread",
        "web-stranger",
        None,
        vec![phone("+8613800138000", false)],
    );
    let theirs = gateway.submit(stranger).await.unwrap().into_inner();
    let view = server.conversation(&theirs.conversation_id).await.unwrap();
    assert_eq!(
        view.clv, 0.0,
        "a typed-in phone number opens nobody's value"
    );
}

#[tokio::test]
async fn bad_identifiers_are_refused_naming_the_field() {
    let server = spawn_server(test_config()).await;
    let mut gateway = server.gateway().await;
    let cases = [
        (
            vec![phone("call me", true)],
            "customer.identifiers[0].value",
        ),
        (
            vec![
                phone("+8613800138000", true),
                pb::CustomerIdentifier {
                    kind: pb::IdentifierKind::Unspecified as i32,
                    value: "x".into(),
                    verified: true,
                },
            ],
            "customer.identifiers[1].kind",
        ),
        (
            (0..9)
                .map(|i| phone(&format!("+86138001380{i:02}"), true))
                .collect(),
            "customer.identifiers",
        ),
    ];
    for (identifiers, field) in cases {
        let m = on_channel(pb::Channel::Web, "bad", "someone", None, identifiers);
        let status = gateway.submit(m).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(status.message().starts_with(field), "{}", status.message());
    }
}

#[tokio::test]
async fn a_restart_keeps_who_the_customer_is() {
    let dir = std::env::temp_dir().join(format!("sb-profiles-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = journaled_in(&dir, test_config());
    let server = spawn_server(config.clone()).await;
    let wechat = on_channel(
        pb::Channel::WechatOfficialAccount,
        "wx-thread",
        "o-wechat-open-id",
        Some(250_000.0),
        vec![phone("+8613800138000", true)],
    );
    server.gateway().await.submit(wechat).await.unwrap();
    server.shutdown().await.unwrap();

    let server = spawn_server(config).await;
    let web = on_channel(
        pb::Channel::Web,
        "web-thread",
        "web-visitor-9",
        None,
        vec![phone("+8613800138000", true)],
    );
    let second = server
        .gateway()
        .await
        .submit(web)
        .await
        .unwrap()
        .into_inner();
    let view = server.conversation(&second.conversation_id).await.unwrap();
    assert_eq!(view.clv, 250_000.0, "recognised after the restart");
    server.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
