//! Customers recognised across channels by the identifiers adapters send.

use std::time::Duration;

use switchboard::api::pb;

use crate::common::{Agent, journaled_in, message, now_ms, spawn_server, test_config};

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
        ..Default::default()
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
                    ..Default::default()
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

fn email(value: &str) -> pb::CustomerIdentifier {
    pb::CustomerIdentifier {
        kind: pb::IdentifierKind::Email as i32,
        value: value.to_owned(),
        verified: true,
        ..Default::default()
    }
}

fn by_identifier(identifier: pb::CustomerIdentifier) -> Option<pb::ProfileSelector> {
    Some(pb::ProfileSelector {
        who: Some(pb::profile_selector::Who::Identifier(identifier)),
    })
}

const YEAR_MS: f64 = 365.0 * 24.0 * 3600.0 * 1000.0;

/// The README's worked example: four orders over two years (250, 300, 200, 250), one
/// refund of 100, 150 to acquire, two referrals worth 100 each by the config.
fn worked_example_facts() -> Vec<pb::CustomerFact> {
    let now = now_ms();
    let ago = |years: f64| now - (years * YEAR_MS) as i64;
    let fact = |kind: pb::FactKind, amount: f64, at: i64| pb::CustomerFact {
        kind: kind as i32,
        amount,
        at_unix_ms: at,
    };
    use pb::FactKind::*;
    vec![
        fact(Order, 250.0, ago(2.0)),
        fact(Order, 300.0, ago(1.5)),
        fact(Order, 200.0, ago(1.0)),
        fact(Order, 250.0, ago(0.5)),
        fact(Refund, 100.0, ago(0.4)),
        fact(AcquisitionCost, 150.0, ago(2.0)),
        fact(Referral, 0.0, ago(1.0)),
        fact(Referral, 0.0, ago(0.2)),
    ]
}

#[tokio::test]
async fn facts_from_the_tenants_systems_set_the_value_and_tier_and_explain_shows_the_terms() {
    let mut config = test_config();
    config.routing.value.referral_value = 100.0;
    let server = spawn_server(config).await;
    let mut admin = server.admin().await;
    let view = admin
        .record_customer_facts(pb::RecordCustomerFactsRequest {
            customer: by_identifier(phone("+86 138 0013 8111", true)),
            facts: worked_example_facts(),
        })
        .await
        .unwrap()
        .into_inner();
    let value = view.value.expect("a value once facts are in");
    assert_eq!(value.formula, "continuing");
    // (1,000 − 100) / 4 = 225 a purchase; 2 a year × 5 years × 225 = 2,250; − 150
    // acquisition + 2 × 100 referrals = 2,300. Left to come: 2 × 3 × 225 × 1.15.
    assert!((value.value - 2_300.0).abs() < 0.5, "{value:?}");
    assert!((value.loss_value - 1_552.5).abs() < 0.5, "{value:?}");
    let names: Vec<&str> = value.terms.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "average_purchase",
            "expected_transactions",
            "purchase_value",
            "acquisition_cost",
            "referrals",
            "loss_value"
        ]
    );
    assert_eq!(view.tier, "silver");
    assert_eq!(view.facts.unwrap().orders, 4);

    // The customer writes on WeChat with that phone verified: the facts, not the
    // figure the adapter sends, value the conversation.
    let wechat = on_channel(
        pb::Channel::WechatOfficialAccount,
        "facts-thread",
        "o-facts",
        Some(5.0),
        vec![phone("+8613800138111", true)],
    );
    let created = server
        .gateway()
        .await
        .submit(wechat)
        .await
        .unwrap()
        .into_inner();
    let conversation = server.conversation(&created.conversation_id).await.unwrap();
    assert_eq!(conversation.value_tier, "silver");
    assert!((conversation.clv - 2_300.0).abs() < 0.5);
    let explained = server.explain(&created.conversation_id).await.unwrap();
    let terms = explained
        .customer_value
        .expect("the value's terms in Explain");
    assert!(terms.terms.iter().any(|t| t.name == "purchase_value"
        && (t.amount - 2_250.0).abs() < 0.5
        && t.how.contains("transactions")));

    // Bad facts name their field; nothing is recorded.
    let mut bad = worked_example_facts();
    bad[1].amount = f64::NAN;
    let refused = admin
        .record_customer_facts(pb::RecordCustomerFactsRequest {
            customer: by_identifier(phone("+8613800138111", true)),
            facts: bad,
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(refused.message().contains("facts[1].amount"), "{refused:?}");
    let refused = admin
        .record_customer_facts(pb::RecordCustomerFactsRequest {
            customer: None,
            facts: worked_example_facts(),
        })
        .await
        .unwrap_err();
    assert!(refused.message().starts_with("customer"), "{refused:?}");
    let unknown = admin
        .get_customer_profile(pb::GetCustomerProfileRequest {
            customer: Some(pb::ProfileSelector {
                who: Some(pb::profile_selector::Who::ProfileId(999)),
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    let after = admin
        .get_customer_profile(pb::GetCustomerProfileRequest {
            customer: by_identifier(phone("+8613800138111", true)),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        after.facts.unwrap().orders,
        4,
        "the refused calls added nothing"
    );
}

#[tokio::test]
async fn an_operator_merges_two_profiles_with_a_record_and_unmerges_them() {
    let server = spawn_server(test_config()).await;
    let gateway = server.gateway().await;
    // One person, two strangers: a WeChat customer with a phone, a web customer with
    // an e-mail address, each verified.
    for (channel, key, customer, identifier) in [
        (
            pb::Channel::WechatOfficialAccount,
            "merge-wx",
            "o-merge",
            phone("+8613900139000", true),
        ),
        (
            pb::Channel::Web,
            "merge-web",
            "web-merge",
            email("Li.Na@Example.com"),
        ),
    ] {
        let m = on_channel(channel, key, customer, Some(50.0), vec![identifier]);
        gateway.clone().submit(m).await.unwrap();
    }
    let mut admin = server.admin().await;
    let reader = admin.clone();
    let profile_of = |identifier: pb::CustomerIdentifier| {
        let mut admin = reader.clone();
        async move {
            admin
                .get_customer_profile(pb::GetCustomerProfileRequest {
                    customer: by_identifier(identifier),
                })
                .await
                .unwrap()
                .into_inner()
        }
    };
    let wechat = profile_of(phone("+8613900139000", true)).await;
    let web = profile_of(email("li.na@example.com")).await;
    assert_ne!(wechat.profile_id, web.profile_id);

    let merge = admin
        .merge_profiles(pb::MergeProfilesRequest {
            into_profile_id: wechat.profile_id,
            from_profile_id: web.profile_id,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!merge.by.is_empty(), "who merged is recorded: {merge:?}");
    assert!(merge.at_unix_ms > 0);
    let moved: Vec<&str> = merge.identifiers.iter().map(|i| i.value.as_str()).collect();
    assert!(moved.contains(&"li.na@example.com"), "{moved:?}");
    let merged = profile_of(email("li.na@example.com")).await;
    assert_eq!(
        merged.profile_id, wechat.profile_id,
        "the e-mail is the WeChat person's now"
    );
    assert_eq!(merged.merges.len(), 1);

    // Merging a profile into itself, or a merge that does not exist, is refused.
    let same = admin
        .merge_profiles(pb::MergeProfilesRequest {
            into_profile_id: wechat.profile_id,
            from_profile_id: wechat.profile_id,
        })
        .await
        .unwrap_err();
    assert_eq!(same.code(), tonic::Code::FailedPrecondition);
    let none = admin
        .unmerge_profiles(pb::UnmergeProfilesRequest { merge_id: 77 })
        .await
        .unwrap_err();
    assert_eq!(none.code(), tonic::Code::NotFound);

    let undone = admin
        .unmerge_profiles(pb::UnmergeProfilesRequest {
            merge_id: merge.merge_id,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(undone.undone && !undone.undone_by.is_empty());
    let back = profile_of(email("li.na@example.com")).await;
    assert_eq!(
        back.profile_id, web.profile_id,
        "unmerged: two people again"
    );

    // Link and unlink by hand.
    let app_user = pb::CustomerIdentifier {
        kind: pb::IdentifierKind::AppUserId as i32,
        value: "u-42".into(),
        verified: true,
        ..Default::default()
    };
    let linked = admin
        .link_identifier(pb::LinkIdentifierRequest {
            profile_id: web.profile_id,
            identifier: Some(app_user.clone()),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(linked.identifiers.iter().any(|i| i.value == "u-42"));
    let elsewhere = admin
        .link_identifier(pb::LinkIdentifierRequest {
            profile_id: wechat.profile_id,
            identifier: Some(app_user.clone()),
        })
        .await
        .unwrap_err();
    assert_eq!(elsewhere.code(), tonic::Code::FailedPrecondition);
    assert!(elsewhere.message().contains("merge"), "{elsewhere:?}");
    let unlinked = admin
        .unlink_identifier(pb::UnlinkIdentifierRequest {
            profile_id: web.profile_id,
            identifier: Some(app_user),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!unlinked.identifiers.iter().any(|i| i.value == "u-42"));
}

#[tokio::test]
async fn a_customer_whose_complaints_went_unanswered_is_at_risk_served_sooner_and_shown_in_context()
{
    let server = spawn_server(test_config()).await;
    let mut gateway = server.gateway().await;
    let visit = |n: u32| {
        let mut m = on_channel(
            pb::Channel::Web,
            &format!("risk-{n}"),
            "web-risk",
            None,
            vec![phone("+8613700137000", true)],
        );
        m.boosts = vec![pb::Boost::Complaint as i32];
        m
    };
    // Three complaints, each abandoned while waiting: no agent was signed in.
    for n in 0..3 {
        gateway.submit(visit(n)).await.unwrap();
        gateway
            .abandon(pb::AbandonRequest {
                channel: pb::Channel::Web as i32,
                channel_conversation_id: format!("risk-{n}"),
                customer_id: "web-risk".into(),
            })
            .await
            .unwrap();
    }
    // Health without facts: (0.2 × 1 contact recency + 0.4 × 0.7 unknown satisfaction)
    // / 0.6 = 80, less 3 open complaints × 15 and 3 abandoned waits × 5 = 20 < 40.
    let profile = server
        .admin()
        .await
        .get_customer_profile(pb::GetCustomerProfileRequest {
            customer: by_identifier(phone("+8613700137000", true)),
        })
        .await
        .unwrap()
        .into_inner();
    let health = profile.health.expect("known after three visits");
    assert!(health.at_risk);
    assert_eq!(health.open_complaints_penalty, 45.0);
    assert_eq!(health.abandoned_waits_penalty, 15.0);
    assert_eq!(profile.history.len(), 3);
    let at_risk = server
        .admin()
        .await
        .list_at_risk_customers(pb::ListAtRiskCustomersRequest { limit: 0 })
        .await
        .unwrap()
        .into_inner()
        .customers;
    assert_eq!(at_risk.len(), 1, "{at_risk:?}");
    assert_eq!(at_risk[0].profile_id, profile.profile_id);
    assert!((at_risk[0].health - 20.0).abs() < 0.5, "{at_risk:?}");

    // The fourth visit, without any boost from the adapter, gets the churn-risk boost
    // (the third already did: two open complaints and two abandons left 39.99).
    let churn_boosts = || async {
        let metrics = crate::common::http_get(server.metrics_addr, "/metrics").await;
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("switchboard_boosts_total{boost=\"churn_risk\"} "))
            .map_or(0, |n| n.trim().parse::<u64>().unwrap())
    };
    let before = churn_boosts().await;
    let mut fourth = visit(3);
    fourth.boosts.clear();
    let created = gateway.submit(fourth).await.unwrap().into_inner();
    let explained = server.explain(&created.conversation_id).await.unwrap();
    assert!(
        explained.boosts.iter().any(|b| b == "churn_risk"),
        "{:?}",
        explained.boosts
    );
    assert_eq!(churn_boosts().await, before + 1, "counted in metrics");

    // The agent sees who this is: at risk, three open complaints, the last visits.
    let mut agent = Agent::sign_in(&server, None, "ann", &[], 1).await;
    let offer = agent.offer().await;
    let summary = offer
        .customer_summary
        .expect("a summary for a recognised customer");
    assert_eq!(summary.profile_id, profile.profile_id);
    assert!(summary.health_known && summary.at_risk);
    assert_eq!(summary.open_complaints, 3);
    assert_eq!(summary.recent.len(), 3);
    assert_eq!(summary.recent[0].outcome, "abandoned_waiting");
    assert!(summary.recent[0].complaint);
}

#[tokio::test]
async fn the_tenants_systems_tag_a_customer_and_bad_tags_are_refused_naming_the_field() {
    let server = spawn_server(test_config()).await;
    let mut admin = server.admin().await;
    let tag = |add: &[&str], remove: &[&str]| pb::TagCustomerRequest {
        customer: crate::common::by_phone("+8613600136000"),
        add: add.iter().map(|t| (*t).to_owned()).collect(),
        remove: remove.iter().map(|t| (*t).to_owned()).collect(),
    };
    // An unknown phone gets a profile with the tags.
    let view = admin
        .tag_customer(tag(&["vip", "bought:dishwasher"], &[]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(view.tags, ["bought:dishwasher", "vip"]);
    let view = admin
        .tag_customer(tag(&["churn-risk"], &["vip"]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(view.tags, ["bought:dishwasher", "churn-risk"]);
    let shown = admin
        .get_customer_profile(pb::GetCustomerProfileRequest {
            customer: crate::common::by_phone("+8613600136000"),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(shown.tags, view.tags);

    let refused = admin
        .tag_customer(tag(&["ok", "Big Spender"], &[]))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(refused.message().starts_with("add[1]:"), "{refused:?}");
    let refused = admin.tag_customer(tag(&[], &[])).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    let many: Vec<String> = (0..31).map(|i| format!("t{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let refused = admin.tag_customer(tag(&many, &[])).await.unwrap_err();
    assert_eq!(
        refused.code(),
        tonic::Code::ResourceExhausted,
        "2 + 31 tags pass 32: {refused:?}"
    );
    let unchanged = admin
        .get_customer_profile(pb::GetCustomerProfileRequest {
            customer: crate::common::by_phone("+8613600136000"),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(unchanged.tags.len(), 2, "a refused change changes nothing");
}
