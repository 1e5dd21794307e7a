//! What customers agreed to be contacted about, recorded by the tenant's systems.

use switchboard::api::pb;
use tonic::Code;

use crate::common::{
    by_phone, journaled_in, now_ms, spawn_server, test_config, verified_phone as phone,
};

use pb::ContactPurpose::{Feedback, FollowUp, Greeting, Logistics, Marketing, Service};

fn by_id(id: u64) -> Option<pb::ProfileSelector> {
    Some(pb::ProfileSelector {
        who: Some(pb::profile_selector::Who::ProfileId(id)),
    })
}

fn decision(
    customer: Option<pb::ProfileSelector>,
    purpose: pb::ContactPurpose,
    granted: bool,
    decided_at_unix_ms: i64,
) -> pb::RecordCustomerConsentRequest {
    pb::RecordCustomerConsentRequest {
        customer,
        purpose: purpose as i32,
        granted,
        decided_at_unix_ms,
        source: "signup-form".to_owned(),
    }
}

fn allowed(view: &pb::CustomerProfileView) -> Vec<pb::ContactPurpose> {
    view.allowed_purposes
        .iter()
        .map(|&p| pb::ContactPurpose::try_from(p).unwrap())
        .collect()
}

async fn profile_view(
    admin: &mut pb::admin_client::AdminClient<tonic::transport::Channel>,
    customer: Option<pb::ProfileSelector>,
) -> pb::CustomerProfileView {
    admin
        .get_customer_profile(pb::GetCustomerProfileRequest { customer })
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn marketing_needs_an_opt_in_the_newest_decision_stands_and_it_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("sb-consent-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = journaled_in(&dir, test_config());
    let server = spawn_server(config.clone()).await;
    let mut admin = server.admin().await;
    let now = now_ms();
    const NUMBER: &str = "+8613700137001";

    // A customer the tenant's shop knows, who never wrote: the record makes the
    // profile. Logistics opt-out only: marketing still has no opt-in.
    let view = admin
        .record_customer_consent(decision(by_phone(NUMBER), Logistics, false, now - 60_000))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(allowed(&view), [Service, Feedback, FollowUp]);
    let profile = view.profile_id;

    // The marketing box ticked at sign-up a day ago.
    let view = admin
        .record_customer_consent(decision(by_id(profile), Marketing, true, now - 86_400_000))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(allowed(&view), [Service, Feedback, FollowUp, Marketing]);
    let marketing = view
        .consents
        .iter()
        .find(|c| c.purpose == Marketing as i32)
        .expect("the decision in force is shown");
    assert!(marketing.granted);
    assert_eq!(marketing.source, "signup-form");
    assert_eq!(marketing.decided_at_unix_ms, now - 86_400_000);

    // An opt-out from two days ago, delivered late, changes nothing; one from now does.
    let late = admin
        .record_customer_consent(decision(
            by_id(profile),
            Marketing,
            false,
            now - 2 * 86_400_000,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(allowed(&late).contains(&Marketing), "{late:?}");
    admin
        .record_customer_consent(decision(by_id(profile), Marketing, false, 0))
        .await
        .unwrap();
    admin
        .record_customer_consent(decision(by_id(profile), Greeting, true, 0))
        .await
        .unwrap();
    server.shutdown().await.unwrap();

    let server = spawn_server(config).await;
    let view = profile_view(&mut server.admin().await, by_phone(NUMBER)).await;
    assert_eq!(view.profile_id, profile);
    assert_eq!(
        allowed(&view),
        [Service, Feedback, FollowUp, Greeting],
        "after the restart"
    );
    // The export for a data subject's request shows the decisions too.
    let export = server
        .admin()
        .await
        .export_customer_data(pb::ExportCustomerDataRequest {
            customer: by_phone(NUMBER),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(export.profile.unwrap().consents.len(), 3);
    server.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_merge_lets_the_newer_decision_stand_and_an_unmerge_takes_it_back() {
    let server = spawn_server(test_config()).await;
    let mut admin = server.admin().await;
    let now = now_ms();
    let kept = admin
        .record_customer_consent(decision(
            by_phone("+8613700137002"),
            Marketing,
            true,
            now - 10_000,
        ))
        .await
        .unwrap()
        .into_inner();
    let other = admin
        .record_customer_consent(decision(
            by_phone("+8613700137003"),
            Marketing,
            false,
            now - 5_000,
        ))
        .await
        .unwrap()
        .into_inner();
    let merge = admin
        .merge_profiles(pb::MergeProfilesRequest {
            into_profile_id: kept.profile_id,
            from_profile_id: other.profile_id,
        })
        .await
        .unwrap()
        .into_inner();
    let merged = profile_view(&mut admin, by_id(kept.profile_id)).await;
    assert!(
        !allowed(&merged).contains(&Marketing),
        "the other profile's newer opt-out stands for the person"
    );
    admin
        .unmerge_profiles(pb::UnmergeProfilesRequest {
            merge_id: merge.merge_id,
        })
        .await
        .unwrap();
    let back = profile_view(&mut admin, by_id(kept.profile_id)).await;
    assert!(allowed(&back).contains(&Marketing), "{back:?}");
}

#[tokio::test]
async fn bad_consent_records_are_refused_naming_the_field() {
    let server = spawn_server(test_config()).await;
    let mut admin = server.admin().await;
    let customer = by_phone("+8613700137004");
    let mut no_purpose = decision(customer.clone(), Marketing, true, 0);
    no_purpose.purpose = 0;
    let mut no_source = decision(customer.clone(), Marketing, true, 0);
    no_source.source = "  ".to_owned();
    let mut long_source = decision(customer.clone(), Marketing, true, 0);
    long_source.source = "x".repeat(129);
    let future = decision(customer.clone(), Marketing, true, now_ms() + 7 * 86_400_000);
    let nobody = decision(None, Marketing, true, 0);
    let unknown = decision(by_id(987_654), Marketing, true, 0);
    for (request, code, field) in [
        (no_purpose, Code::InvalidArgument, "purpose"),
        (no_source, Code::InvalidArgument, "source"),
        (long_source, Code::InvalidArgument, "source"),
        (future, Code::InvalidArgument, "decided_at_unix_ms"),
        (nobody, Code::InvalidArgument, "customer"),
        (unknown, Code::NotFound, ""),
    ] {
        let refused = admin.record_customer_consent(request).await.unwrap_err();
        assert_eq!(refused.code(), code, "{refused:?}");
        assert!(refused.message().contains(field), "{refused:?}");
    }
    // Nothing was recorded: no profile was made for the phone.
    let none = admin
        .get_customer_profile(pb::GetCustomerProfileRequest { customer })
        .await
        .unwrap_err();
    assert_eq!(none.code(), Code::NotFound);
}

#[tokio::test]
async fn a_customer_who_writes_td_is_opted_out_told_so_and_nobody_is_offered_it() {
    let server = spawn_server(test_config()).await;
    let mut agent = crate::common::Agent::sign_in(&server, None, "ann", &[], 2).await;
    let mut admin = server.admin().await;
    const NUMBER: &str = "+8613700137005";
    admin
        .record_customer_consent(decision(by_phone(NUMBER), Marketing, true, 0))
        .await
        .unwrap();
    // On an agent-first channel, so an ordinary message would be offered to Ann.
    let mut m = crate::common::message("td-thread", 0.0, " ＴＤ ");
    m.channel = pb::Channel::Sms as i32;
    m.language = "zh-CN".to_owned();
    m.customer.as_mut().unwrap().identifiers = vec![phone(NUMBER)];
    let answered = server.gateway().await.submit(m).await.unwrap().into_inner();
    assert!(answered.created);
    let told: Vec<&str> = answered
        .replies
        .iter()
        .filter_map(|d| match &d.body {
            Some(pb::delivery::Body::Message(m)) => Some(m.text.as_str()),
            _ => None,
        })
        .collect();
    assert!(told.iter().any(|t| t.contains("退订")), "{told:?}");
    let view = server
        .conversation(&answered.conversation_id)
        .await
        .unwrap();
    assert_eq!(view.state, pb::ConversationState::BotFinished as i32);
    let view = profile_view(&mut admin, by_phone(NUMBER)).await;
    assert_eq!(allowed(&view), [Service, Logistics, Feedback, FollowUp]);
    let opted_out = view
        .consents
        .iter()
        .find(|c| c.purpose == Marketing as i32)
        .unwrap();
    assert!(!opted_out.granted && opted_out.source.contains("unsubscribe"));
    assert_eq!(view.history[0].intent, "unsubscribe");
    // Counted, per purpose and how (gauges and counters are taken every second).
    let series = r#"switchboard_consent_opt_outs_total{kind="marketing",via="reply"}"#;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while crate::common::metric(&server, series).await < 1.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{series} never counted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // Ann was never offered it: her next offer is the next real question.
    let mut question = crate::common::message("real-thread", 0.0, "where is my parcel?");
    question.channel = pb::Channel::Sms as i32;
    let real = server
        .gateway()
        .await
        .submit(question)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(agent.take_next().await, real.conversation_id);
}
