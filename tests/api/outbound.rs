//! Outbound notifications: sent by the tenant's systems through the adapters that
//! carry conversations, held back by the rules, delivered, replied to, expired, and
//! kept across a restart.

use std::time::Duration;

use switchboard::api::pb;
use switchboard::config::Config;
use switchboard::outbound::{ButtonSource, QuietHours, TemplateSource};
use tonic::Code;
use tonic::transport::Channel;

use crate::common::{
    Adapter, TestServer, bot_message, by_phone, http_get, journaled_in, now_ms, spawn_server,
    test_config,
};

use pb::NotificationStatus as Status;
use pb::outbound_client::OutboundClient;

fn template(name: &str, language: &str, text: &str) -> TemplateSource {
    TemplateSource {
        name: name.to_owned(),
        language: language.to_owned(),
        text: text.to_owned(),
        buttons: Vec::new(),
    }
}

/// The test configuration with a few templates, and no quiet hours: the tests run at
/// any hour of the day (the quiet-hours test sets its own, around the time it runs).
fn outbound_config() -> Config {
    let mut config = test_config();
    config.routing.outbound.rules.quiet_hours = None;
    let mut shipped = template("order-shipped", "en", "Your order {order} has shipped.");
    shipped.buttons.push(ButtonSource {
        label: "Where is {order}?".into(),
        payload: "where-is-it".into(),
    });
    config.routing.outbound.templates = vec![
        shipped,
        template("order-shipped", "zh", "您的订单 {order} 已发货。"),
        template("survey", "en", "How did we do?"),
        template("offer", "en", "20% off this week."),
        template("outage", "en", "Service is restored."),
    ];
    config
}

async fn outbound(server: &TestServer) -> OutboundClient<Channel> {
    OutboundClient::new(server.channel().await)
}

fn notification(
    phone: &str,
    kind: pb::ContactPurpose,
    template: &str,
    variables: &[(&str, &str)],
) -> pb::SendNotificationRequest {
    pb::SendNotificationRequest {
        customer: by_phone(phone),
        kind: kind as i32,
        template: template.to_owned(),
        variables: variables
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        language: "en".to_owned(),
        ..pb::SendNotificationRequest::default()
    }
}

fn status(view: &pb::NotificationView) -> Status {
    Status::try_from(view.status).unwrap()
}

/// An SMS message from `phone` in a new channel conversation `key`.
fn sms(phone: &str, key: &str, text: &str) -> pb::InboundMessage {
    pb::InboundMessage {
        adapter_id: "sms-adapter".into(),
        channel: pb::Channel::Sms as i32,
        channel_conversation_id: key.to_owned(),
        customer: Some(pb::Customer {
            customer_id: phone.to_owned(),
            ..pb::Customer::default()
        }),
        text: text.to_owned(),
        client_message_id: format!("{key}-1"),
        ..pb::InboundMessage::default()
    }
}

/// Waits (polling) until the notification reaches `wanted`.
async fn until_status(
    client: &mut OutboundClient<Channel>,
    id: u64,
    wanted: Status,
) -> pb::NotificationView {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let view = client
            .get_notification(pb::GetNotificationRequest {
                notification_id: id,
            })
            .await
            .unwrap()
            .into_inner();
        if status(&view) == wanted {
            return view;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "notification {id} never became {wanted:?}: {view:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The SMS adapter connects and one customer writes, so the router knows which
/// adapter carries SMS.
async fn sms_adapter(server: &TestServer) -> Adapter {
    let mut adapter = Adapter::connect(server, "sms-adapter").await;
    adapter
        .send(sms("+8613900139000", "teach-1", "hello"))
        .await
        .unwrap();
    adapter
}

#[tokio::test]
async fn a_logistics_notice_goes_out_through_the_sms_adapter_is_delivered_and_a_reply_carries_it() {
    let server = spawn_server(outbound_config()).await;
    let mut adapter = sms_adapter(&server).await;
    let mut client = outbound(&server).await;
    const PHONE: &str = "+8613700137002";

    let mut request = notification(
        PHONE,
        pb::ContactPurpose::Logistics,
        "order-shipped",
        &[("order", "A123")],
    );
    request.client_notification_id = "shop-order-A123".into();
    let sent = client
        .send_notification(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status(&sent), Status::Sent, "{sent:?}");
    assert_eq!(sent.channel, pb::Channel::Sms as i32);
    assert_eq!(sent.text, "Your order A123 has shipped.");
    // A retry with the same client id is the same notification, not a second one.
    let again = client
        .send_notification(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.notification_id, sent.notification_id);

    // The adapter gets it as a delivery in no conversation, addressed to the phone.
    let delivery = loop {
        let d = adapter.delivery().await;
        if d.notification.is_some() {
            break d;
        }
    };
    let context = delivery.notification.clone().unwrap();
    assert_eq!(context.notification_id, sent.notification_id);
    assert_eq!(context.kind, pb::ContactPurpose::Logistics as i32);
    assert_eq!(context.template, "order-shipped");
    assert!(delivery.conversation_id.is_empty());
    assert_eq!(delivery.channel_conversation_id, PHONE);
    let Some(pb::delivery::Body::Message(message)) = &delivery.body else {
        panic!("a notification is a message: {delivery:?}");
    };
    assert_eq!(message.sender, pb::Sender::Bot as i32);
    assert_eq!(message.text, "Your order A123 has shipped.");
    assert_eq!(message.buttons[0].label, "Where is A123?");

    // Acknowledged by the adapter: delivered.
    adapter.ack(delivery.delivery_id).await;
    until_status(&mut client, sent.notification_id, Status::Delivered).await;

    // The customer answers: a conversation that starts with the notice.
    let accepted = adapter
        .send(sms(PHONE, "reply-1", "where is it now?"))
        .await
        .unwrap();
    assert!(accepted.created);
    let replied = until_status(&mut client, sent.notification_id, Status::Replied).await;
    assert_eq!(replied.conversation_id, accepted.conversation_id);
    let view = server
        .conversation(&accepted.conversation_id)
        .await
        .unwrap();
    let texts: Vec<(&str, i32)> = view
        .transcript
        .iter()
        .map(|e| (e.text.as_str(), e.sender))
        .collect();
    assert_eq!(
        texts[..2],
        [
            ("Your order A123 has shipped.", pb::Sender::Bot as i32),
            ("where is it now?", pb::Sender::Customer as i32),
        ]
    );

    // Counted per kind, result and the channel it went out on.
    let counted = |metrics: &str, result: &str, channel: &str| {
        metrics.lines().any(|line| {
            line.starts_with("switchboard_outbound_notifications_total{")
                && line.contains("kind=\"logistics\"")
                && line.contains(&format!("result=\"{result}\""))
                && line.contains(&format!("channel=\"{channel}\""))
                && line.ends_with(" 1")
        })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = http_get(server.metrics_addr, "/metrics").await;
        if ["sent", "delivered", "replied"]
            .iter()
            .all(|result| counted(&metrics, result, "sms"))
        {
            // A rule holds one back before a channel is chosen: `channel="none"`.
            assert!(
                metrics
                    .lines()
                    .any(|line| line.contains("result=\"no_consent\"")
                        && line.contains("channel=\"none\"")),
                "held-back results are counted with channel none"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "outcomes per channel not counted: {}",
            metrics
                .lines()
                .filter(|l| l.contains("outbound_notifications_total{") && !l.ends_with(" 0"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn consent_caps_and_quiet_hours_hold_notifications_back_naming_the_rule() {
    let now_minute = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 60
        % 1440) as u16;
    let mut config = outbound_config();
    // Quiet from ten minutes ago to an hour from now, in UTC.
    config.routing.outbound.utc_offset_minutes = 0;
    config.routing.outbound.rules.quiet_hours = Some(QuietHours {
        start_minute: (now_minute + 1430) % 1440,
        end_minute: (now_minute + 60) % 1440,
    });
    let server = spawn_server(config).await;
    let _adapter = sms_adapter(&server).await;
    let mut client = outbound(&server).await;
    const PHONE: &str = "+8613700137003";
    let send = |kind, template: &str, deadline_in_ms: i64| {
        let mut request = notification(PHONE, kind, template, &[]);
        if deadline_in_ms > 0 {
            request.deadline_unix_ms = now_ms() + deadline_in_ms;
        }
        request
    };

    // Marketing needs an opt-in the customer never gave.
    let offer = client
        .send_notification(send(pb::ContactPurpose::Marketing, "offer", 0))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status(&offer), Status::Skipped);
    assert_eq!(offer.skipped_because, "no_consent");

    // Service messages are exempt from quiet hours; a feedback request waits for
    // the quiet to end, or is skipped when its deadline falls inside it.
    let outage = client
        .send_notification(send(pb::ContactPurpose::Service, "outage", 0))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status(&outage), Status::Sent);
    let survey = client
        .send_notification(send(pb::ContactPurpose::Feedback, "survey", 0))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status(&survey), Status::Queued, "{survey:?}");
    assert_eq!(survey.waiting_for, "quiet_hours");
    let quiet_left = survey.retry_at_unix_ms - now_ms();
    assert!(
        (3_000_000..=3_700_000).contains(&quiet_left),
        "retried when the quiet ends, in about an hour: {quiet_left} ms"
    );
    let soon = client
        .send_notification(send(pb::ContactPurpose::Feedback, "survey", 600_000))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status(&soon), Status::Skipped);
    assert_eq!(soon.skipped_because, "quiet_hours");

    // Service messages have caps too: ten a day by default.
    let mut last = outage;
    for _ in 0..10 {
        last = client
            .send_notification(send(pb::ContactPurpose::Service, "outage", 0))
            .await
            .unwrap()
            .into_inner();
    }
    assert_eq!(status(&last), Status::Skipped);
    assert_eq!(last.skipped_because, "daily_cap");
}

#[tokio::test]
async fn bad_sends_are_refused_naming_the_field() {
    let server = spawn_server(outbound_config()).await;
    let mut client = outbound(&server).await;
    let phone = "+8613700137004";
    let refused = |request| {
        let mut client = client.clone();
        async move {
            client
                .send_notification(request)
                .await
                .expect_err("refused")
        }
    };
    let missing = refused(notification(
        phone,
        pb::ContactPurpose::Logistics,
        "order-shipped",
        &[],
    ))
    .await;
    assert_eq!(missing.code(), Code::InvalidArgument);
    assert!(
        missing.message().starts_with("variables:") && missing.message().contains("\"order\""),
        "{}",
        missing.message()
    );
    let unknown = refused(notification(
        phone,
        pb::ContactPurpose::Logistics,
        "no-such",
        &[],
    ))
    .await;
    assert!(unknown.message().starts_with("template:"), "{unknown:?}");
    let no_kind = refused(notification(
        phone,
        pb::ContactPurpose::Unspecified,
        "survey",
        &[],
    ))
    .await;
    assert!(no_kind.message().starts_with("kind:"), "{no_kind:?}");
    let mut past = notification(phone, pb::ContactPurpose::Feedback, "survey", &[]);
    past.deadline_unix_ms = 1;
    let past = refused(past).await;
    assert!(past.message().starts_with("deadline_unix_ms:"), "{past:?}");
    let mut nobody = notification(phone, pb::ContactPurpose::Feedback, "survey", &[]);
    nobody.customer = None;
    assert_eq!(refused(nobody).await.code(), Code::InvalidArgument);
    let unknown_id = client
        .get_notification(pb::GetNotificationRequest {
            notification_id: 999,
        })
        .await
        .unwrap_err();
    assert_eq!(unknown_id.code(), Code::NotFound);
}

#[tokio::test]
async fn a_notification_no_adapter_can_carry_waits_and_expires_at_its_deadline() {
    let server = spawn_server(outbound_config()).await;
    let mut client = outbound(&server).await;
    let mut request = notification(
        "+8613700137005",
        pb::ContactPurpose::Logistics,
        "order-shipped",
        &[("order", "B7")],
    );
    request.deadline_unix_ms = now_ms() + 1_500;
    let queued = client
        .send_notification(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status(&queued), Status::Queued);
    assert_eq!(queued.waiting_for, "no_adapter");
    until_status(&mut client, queued.notification_id, Status::Expired).await;
}

#[tokio::test]
async fn queued_notifications_and_their_ids_survive_a_restart() {
    let dir = std::env::temp_dir().join(format!("sb-outbound-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = journaled_in(&dir, outbound_config());
    let server = spawn_server(config.clone()).await;
    let mut client = outbound(&server).await;
    let queued = client
        .send_notification(notification(
            "+8613700137006",
            pb::ContactPurpose::Logistics,
            "order-shipped",
            &[("order", "C9")],
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(queued.waiting_for, "no_adapter");
    drop(client);
    server.shutdown().await.unwrap();

    let server = spawn_server(config).await;
    let mut client = outbound(&server).await;
    let kept = client
        .get_notification(pb::GetNotificationRequest {
            notification_id: queued.notification_id,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status(&kept), Status::Queued);
    assert_eq!(kept.text, "Your order C9 has shipped.");
    // Once an SMS adapter is seen, the kept notification goes out through it.
    let mut adapter = sms_adapter(&server).await;
    let delivery = loop {
        let d = adapter.delivery().await;
        if d.notification.is_some() {
            break d;
        }
    };
    assert_eq!(
        delivery.notification.unwrap().notification_id,
        queued.notification_id
    );
    let next = client
        .send_notification(notification(
            "+8613700137006",
            pb::ContactPurpose::Service,
            "outage",
            &[],
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(
        next.notification_id > queued.notification_id,
        "ids are never reused"
    );
    drop(client);
    server.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

fn campaign(name: &str, per_minute: u32) -> pb::StartCampaignRequest {
    pb::StartCampaignRequest {
        name: name.to_owned(),
        kind: pb::ContactPurpose::Marketing as i32,
        template: "offer".to_owned(),
        language: "en".to_owned(),
        per_minute,
        ..pb::StartCampaignRequest::default()
    }
}

fn campaign_status(view: &pb::CampaignView) -> pb::CampaignStatus {
    pb::CampaignStatus::try_from(view.status).unwrap()
}

/// Waits (polling) until the campaign reaches `wanted`.
async fn until_campaign(
    client: &mut OutboundClient<Channel>,
    id: u64,
    wanted: pb::CampaignStatus,
) -> pb::CampaignView {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let view = client
            .get_campaign(pb::GetCampaignRequest { campaign_id: id })
            .await
            .unwrap()
            .into_inner();
        if campaign_status(&view) == wanted {
            return view;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "campaign {id} never became {wanted:?}: {view:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_campaign_waits_for_an_agent_then_reaches_the_opted_in_and_stops_when_asked() {
    let server = spawn_server(outbound_config()).await;
    let mut adapter = sms_adapter(&server).await;
    let mut admin = server.admin().await;
    let mut client = outbound(&server).await;
    // Three shoppers the tenant knows by phone; two opted in to marketing.
    for (n, opted_in) in [(1, true), (2, false), (3, true)] {
        admin
            .record_customer_consent(pb::RecordCustomerConsentRequest {
                customer: by_phone(&format!("+86137001370{n:02}")),
                purpose: pb::ContactPurpose::Marketing as i32,
                granted: opted_in,
                decided_at_unix_ms: 0,
                source: "signup-form".to_owned(),
            })
            .await
            .unwrap();
    }

    // Nobody is signed in to answer the replies: it waits.
    let view = client
        .start_campaign(campaign("spring offer", 6_000))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(view.queue, "default");
    let paused = until_campaign(&mut client, view.campaign_id, pb::CampaignStatus::Paused).await;
    assert_eq!(paused.paused_because, "no_agents");

    let _agent = crate::common::Agent::sign_in(&server, None, "ann", &[], 2).await;
    let done = until_campaign(&mut client, view.campaign_id, pb::CampaignStatus::Done).await;
    // Three profiles, all in the (empty) segment; the one who declined is held back.
    assert_eq!((done.scanned, done.matched), (3, 3), "{done:?}");
    assert_eq!((done.sent, done.skipped), (2, 1));
    assert_eq!(done.pauses, 1);
    let mut reached = Vec::new();
    while reached.len() < 2 {
        let d = adapter.delivery().await;
        if let Some(n) = d.notification
            && n.kind == pb::ContactPurpose::Marketing as i32
        {
            reached.push(d.channel_conversation_id);
        }
    }
    reached.sort();
    assert_eq!(reached, ["+8613700137001", "+8613700137003"]);

    // Supervisors see it in the list; a second one can be stopped before it starts.
    let mut later = campaign("next week", 60);
    later.start_at_unix_ms = now_ms() + 3_600_000;
    later.client_campaign_id = "next-week".to_owned();
    let scheduled = client
        .start_campaign(later.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(campaign_status(&scheduled), pb::CampaignStatus::Scheduled);
    let again = client.start_campaign(later).await.unwrap().into_inner();
    assert_eq!(
        again.campaign_id, scheduled.campaign_id,
        "same client id, same campaign"
    );
    let listed = client
        .list_campaigns(pb::ListCampaignsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.campaigns.len(), 2);
    let stopped = client
        .stop_campaign(pb::StopCampaignRequest {
            campaign_id: scheduled.campaign_id,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(campaign_status(&stopped), pb::CampaignStatus::Stopped);
    let twice = client
        .stop_campaign(pb::StopCampaignRequest {
            campaign_id: scheduled.campaign_id,
        })
        .await
        .unwrap_err();
    assert_eq!(twice.code(), Code::FailedPrecondition);
    let mut bad = campaign("bad", 60);
    bad.segment = Some(pb::CampaignSegment {
        tiers: vec!["diamond".to_owned()],
        ..pb::CampaignSegment::default()
    });
    let bad = client.start_campaign(bad).await.unwrap_err();
    assert!(bad.message().starts_with("segment.tiers:"), "{bad:?}");
    let mut bad = campaign("too fast", 60);
    bad.per_free_agent_per_minute = 60_001;
    let bad = client.start_campaign(bad).await.unwrap_err();
    assert!(
        bad.message().starts_with("per_free_agent_per_minute:"),
        "{bad:?}"
    );

    // Paced by who is free: ann holds nothing, so one agent is free, and the pace
    // in force is 30 a minute, not the campaign's 6,000.
    let mut paced = campaign("paced", 6_000);
    paced.per_free_agent_per_minute = 30;
    let paced = client.start_campaign(paced).await.unwrap().into_inner();
    let done = until_campaign(&mut client, paced.campaign_id, pb::CampaignStatus::Done).await;
    assert_eq!(done.per_free_agent_per_minute, 30);
    assert_eq!(
        (done.free_agents, done.pace_per_minute),
        (1, 30),
        "{done:?}"
    );
}

#[tokio::test]
async fn templates_are_replaced_without_a_restart_checked_whole_and_kept_across_one() {
    let dir = std::env::temp_dir().join(format!("sb-templates-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = journaled_in(&dir, outbound_config());
    let server = spawn_server(config.clone()).await;
    let _adapter = sms_adapter(&server).await;
    let mut client = outbound(&server).await;
    let before = client
        .get_templates(pb::GetTemplatesRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (before.source.as_str(), before.templates.len()),
        ("config", 5)
    );

    let new_set = |text: &str| pb::SetTemplatesRequest {
        templates: vec![pb::Template {
            name: "order-shipped".into(),
            language: "en".into(),
            text: text.into(),
            buttons: Vec::new(),
        }],
    };
    // One malformed template refuses the whole set, naming it; nothing changes.
    let refused = client
        .set_templates(new_set("Order {order is on its way"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(
        refused.message().starts_with("templates:") && refused.message().contains("order-shipped"),
        "{refused:?}"
    );
    let set = client
        .set_templates(new_set("On its way: {order}."))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((set.source.as_str(), set.templates.len()), ("api", 1));
    let send = || {
        notification(
            "+8613700137007",
            pb::ContactPurpose::Logistics,
            "order-shipped",
            &[("order", "D4")],
        )
    };
    let sent = client.send_notification(send()).await.unwrap().into_inner();
    assert_eq!(sent.text, "On its way: D4.");
    let gone = client
        .send_notification(notification(
            "+8613700137007",
            pb::ContactPurpose::Service,
            "outage",
            &[],
        ))
        .await
        .unwrap_err();
    assert!(gone.message().starts_with("template:"), "{gone:?}");
    drop(client);
    server.shutdown().await.unwrap();

    // The set outlives a restart, whatever the config file says.
    let server = spawn_server(config).await;
    let mut client = outbound(&server).await;
    let kept = client
        .get_templates(pb::GetTemplatesRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!((kept.source.as_str(), kept.templates.len()), ("api", 1));
    drop(client);
    server.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_bot_answers_where_a_shipment_is_from_the_notice_and_the_agent_sees_what_was_answered()
{
    let mut config = outbound_config();
    config.bot.channels.push("sms".to_owned());
    let server = spawn_server(config).await;
    let mut adapter = sms_adapter(&server).await;
    let mut client = outbound(&server).await;
    const PHONE: &str = "+8613700137009";
    let sent = client
        .send_notification(notification(
            PHONE,
            pb::ContactPurpose::Logistics,
            "order-shipped",
            &[("order", "B7")],
        ))
        .await
        .unwrap()
        .into_inner();
    let notice = loop {
        let d = adapter.delivery().await;
        if d.notification.is_some() {
            break d;
        }
    };
    adapter.ack(notice.delivery_id).await;

    // The customer asks where it is: the bot answers from the notice, no greeting.
    let accepted = adapter
        .send(sms(PHONE, "reply-9", "where is it now?"))
        .await
        .unwrap();
    let answer = loop {
        let d = adapter.delivery().await;
        adapter.ack(d.delivery_id).await;
        if d.conversation_id == accepted.conversation_id
            && let Some((text, buttons)) = bot_message(&d)
        {
            break (text, buttons);
        }
    };
    assert!(
        answer.0.contains("Your order B7 has shipped."),
        "{answer:?}"
    );
    assert_eq!(answer.1[0].label, "Talk to a person");

    // They ask for a person: the agent's offer names the notice they answered.
    let mut again = sms(PHONE, "reply-9", "I want a live agent");
    again.client_message_id = "reply-9-2".to_owned();
    adapter.send(again).await.unwrap();
    // A bot's handoff asks for its language.
    let mut agent = crate::common::Agent::sign_in(&server, None, "ann", &[("en", 3)], 2).await;
    let offer = agent.offer().await;
    assert_eq!(offer.conversation_id, accepted.conversation_id);
    let answers = offer.answers.expect("the notice the customer answered");
    assert_eq!(answers.notification_id, sent.notification_id);
    assert_eq!(answers.kind, pb::ContactPurpose::Logistics as i32);
    assert_eq!(answers.template, "order-shipped");
    assert_eq!(offer.transcript[0].text, "Your order B7 has shipped.");
}

#[tokio::test]
async fn a_campaign_over_a_tag_reaches_only_the_tagged() {
    let server = spawn_server(outbound_config()).await;
    let mut adapter = sms_adapter(&server).await;
    let mut admin = server.admin().await;
    let mut client = outbound(&server).await;
    let _agent = crate::common::Agent::sign_in(&server, None, "ann", &[], 2).await;
    for n in 1..=3 {
        let phone = format!("+86137001371{n:02}");
        admin
            .record_customer_consent(pb::RecordCustomerConsentRequest {
                customer: by_phone(&phone),
                purpose: pb::ContactPurpose::Marketing as i32,
                granted: true,
                decided_at_unix_ms: 0,
                source: "signup-form".to_owned(),
            })
            .await
            .unwrap();
        if n != 2 {
            admin
                .tag_customer(pb::TagCustomerRequest {
                    customer: by_phone(&phone),
                    add: vec!["bought:dishwasher".to_owned()],
                    remove: Vec::new(),
                })
                .await
                .unwrap();
        }
    }
    let mut request = campaign("dishwasher tablets", 6_000);
    request.segment = Some(pb::CampaignSegment {
        tags: vec!["bought:dishwasher".to_owned()],
        ..pb::CampaignSegment::default()
    });
    let view = client.start_campaign(request).await.unwrap().into_inner();
    let done = until_campaign(&mut client, view.campaign_id, pb::CampaignStatus::Done).await;
    assert_eq!((done.matched, done.sent), (2, 2), "{done:?}");
    let mut reached = Vec::new();
    while reached.len() < 2 {
        let d = adapter.delivery().await;
        if d.notification.is_some() {
            reached.push(d.channel_conversation_id);
        }
    }
    reached.sort();
    assert_eq!(reached, ["+8613700137101", "+8613700137103"]);

    let mut bad = campaign("bad tag", 60);
    bad.segment = Some(pb::CampaignSegment {
        tags: vec!["Dish Washer".to_owned()],
        ..pb::CampaignSegment::default()
    });
    let bad = client.start_campaign(bad).await.unwrap_err();
    assert!(bad.message().starts_with("segment.tags[0]:"), "{bad:?}");
}
