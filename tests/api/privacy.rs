//! A customer's data on request: exported in one piece and erased in one piece, over
//! the Admin API, across a restart.

use switchboard::api::pb;
use tonic::Code;

use crate::common::{
    Agent, TestServer, by_phone, journaled_in, message, metric, spawn_server, test_config,
    verified_phone as phone,
};

fn on_wechat(key: &str, number: &str, text: &str) -> pb::InboundMessage {
    let mut m = message(key, 0.0, text);
    m.channel = pb::Channel::WechatOfficialAccount as i32;
    let customer = m.customer.as_mut().unwrap();
    customer.customer_id = format!("o-open-id-{key}");
    customer.identifiers = vec![phone(number)];
    m
}

const ERASURES: &str = "switchboard_privacy_requests_total{action=\"erase\"}";

/// The tenant's systems push one order of `amount` for the owner of `number`; returns
/// the profile id.
async fn order(server: &TestServer, number: &str, amount: f64) -> u64 {
    let view = server
        .admin()
        .await
        .record_customer_facts(pb::RecordCustomerFactsRequest {
            customer: by_phone(number),
            facts: vec![pb::CustomerFact {
                kind: pb::FactKind::Order as i32,
                amount,
                at_unix_ms: 0,
            }],
        })
        .await
        .unwrap()
        .into_inner();
    view.profile_id
}

#[tokio::test]
async fn a_customer_is_exported_then_erased_and_stays_erased_after_a_restart() {
    const NUMBER: &str = "+8613800138555";
    let dir = std::env::temp_dir().join(format!("sb-privacy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = journaled_in(&dir, test_config());
    let server = spawn_server(config.clone()).await;
    let mut admin = server.admin().await;
    let mut ann = Agent::sign_in(&server, None, "ann", &[], 2).await;
    order(&server, NUMBER, 320.0).await;
    let mut gateway = server.gateway().await;
    let open = gateway
        .submit(on_wechat("privacy-1", NUMBER, "my address is 5 Lane Road"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ann.take_next().await, open.conversation_id);

    // The export holds the profile, the fact one by one, and the open conversation
    // with what the customer wrote.
    let export = admin
        .export_customer_data(pb::ExportCustomerDataRequest {
            customer: by_phone(NUMBER),
        })
        .await
        .unwrap()
        .into_inner();
    let profile = export.profile.clone().unwrap();
    let profile_id = profile.profile_id;
    assert_eq!(export.profile_ids, [profile_id]);
    assert!(
        profile.identifiers.iter().any(|i| i.value == NUMBER),
        "{profile:?}"
    );
    assert_eq!(export.facts.len(), 1);
    assert_eq!(export.facts[0].amount, 320.0);
    assert_eq!(export.open_conversations.len(), 1);
    let conversation = &export.open_conversations[0];
    assert_eq!(conversation.conversation_id, open.conversation_id);
    assert!(
        conversation
            .transcript
            .iter()
            .any(|e| e.text == "my address is 5 Lane Road"),
        "{conversation:?}"
    );

    // Not while the conversation is open: it would bring them back at its end.
    let refused = admin
        .erase_customer_data(pb::EraseCustomerDataRequest {
            customer: by_phone(NUMBER),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert!(
        refused.message().contains("open conversation"),
        "{refused:?}"
    );
    ann.close(&open.conversation_id).await.unwrap();

    let before = metric(&server, ERASURES).await;
    let erased = admin
        .erase_customer_data(pb::EraseCustomerDataRequest {
            customer: by_phone(NUMBER),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(erased.profile_ids, [profile_id]);
    assert_eq!(erased.facts, 1);
    assert_eq!(erased.past_conversations, 1);
    assert!(erased.identifiers >= 2, "phone and WeChat id: {erased:?}");
    assert_eq!(metric(&server, ERASURES).await, before + 1.0);
    for status in [
        admin
            .get_customer_profile(pb::GetCustomerProfileRequest {
                customer: by_phone(NUMBER),
            })
            .await
            .unwrap_err(),
        admin
            .export_customer_data(pb::ExportCustomerDataRequest {
                customer: by_phone(NUMBER),
            })
            .await
            .unwrap_err(),
        admin
            .erase_customer_data(pb::EraseCustomerDataRequest {
                customer: by_phone(NUMBER),
            })
            .await
            .unwrap_err(),
    ] {
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
        assert!(!status.message().contains("138555"), "{status:?}");
    }
    drop(ann);
    server.shutdown().await.unwrap();

    // After a restart from the journal the customer is still gone; writing again
    // makes a new person with nothing of the old one.
    let server = spawn_server(config).await;
    let mut admin = server.admin().await;
    let status = admin
        .get_customer_profile(pb::GetCustomerProfileRequest {
            customer: by_phone(NUMBER),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    server
        .gateway()
        .await
        .submit(on_wechat("privacy-2", NUMBER, "hello again"))
        .await
        .unwrap();
    let fresh = admin
        .get_customer_profile(pb::GetCustomerProfileRequest {
            customer: by_phone(NUMBER),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(fresh.profile_id > profile_id, "ids are never given again");
    assert!(fresh.history.is_empty());
    assert_eq!(fresh.facts.unwrap().orders, 0);
    server.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn erasing_a_merged_customer_takes_both_profiles_and_the_merge_record() {
    let server = spawn_server(test_config()).await;
    let mut admin = server.admin().await;
    let mut ids = Vec::new();
    for number in ["+8613800138661", "+8613800138662"] {
        ids.push(order(&server, number, 10.0).await);
    }
    let merge = admin
        .merge_profiles(pb::MergeProfilesRequest {
            into_profile_id: ids[0],
            from_profile_id: ids[1],
        })
        .await
        .unwrap()
        .into_inner();
    let erased = admin
        .erase_customer_data(pb::EraseCustomerDataRequest {
            customer: by_phone("+8613800138662"),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(erased.profile_ids, ids);
    assert_eq!((erased.facts, erased.merges), (2, 1));
    let status = admin
        .unmerge_profiles(pb::UnmergeProfilesRequest {
            merge_id: merge.merge_id,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
}

/// Whether any file under `dir` holds `needle`.
fn on_disk(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else if std::fs::read(&path)
                .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
            {
                found.push(path);
            }
        }
    }
    found
}

#[tokio::test]
async fn an_erased_customer_leaves_the_snapshots_at_the_next_snapshot_round() {
    const NUMBER: &str = "+8613800138777";
    const WORDS: &str = "erasure-marker: my flat is 12B";
    let dir = std::env::temp_dir().join(format!("sb-privacy-disk-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut config = journaled_in(&dir, test_config());
    config.storage.snapshot_secs = 1;
    let server = spawn_server(config).await;
    let mut admin = server.admin().await;
    let mut ann = Agent::sign_in(&server, None, "ann", &[], 2).await;
    let open = server
        .gateway()
        .await
        .submit(on_wechat("privacy-disk", NUMBER, WORDS))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ann.take_next().await, open.conversation_id);
    ann.close(&open.conversation_id).await.unwrap();
    // The agent leaves: the tenant goes idle, so no later snapshot would push the
    // older file out by itself.
    drop(ann);
    let snapshots = dir.join("snapshots");
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    assert!(
        !on_disk(&snapshots, NUMBER.as_bytes()).is_empty(),
        "the test cannot see the number in the snapshots even before the erasure"
    );
    assert!(
        !on_disk(&dir.join("journal"), WORDS.as_bytes()).is_empty(),
        "the test cannot see the customer's words in the journal even before the erasure"
    );

    admin
        .erase_customer_data(pb::EraseCustomerDataRequest {
            customer: by_phone(NUMBER),
        })
        .await
        .unwrap();
    // The snapshots, and the journal: its files of the generations before the
    // erasure are deleted at the next snapshot round (README, "Privacy").
    let mut left = Vec::new();
    for _ in 0..30 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        left = [NUMBER, WORDS]
            .iter()
            .flat_map(|n| {
                let mut found = on_disk(&snapshots, n.as_bytes());
                found.extend(on_disk(&dir.join("journal"), n.as_bytes()));
                found
            })
            .collect();
        if left.is_empty() {
            break;
        }
    }
    assert!(left.is_empty(), "still on disk: {left:?}");
    server.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
