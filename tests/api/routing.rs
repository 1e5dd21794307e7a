//! Routing through the API: value order, skills, capacity, agent loss, tenancy.

use std::time::Duration;

use switchboard::api::pb;

use crate::common::{Agent, message, spawn_server, test_config};

/// Long enough for a wrongly routed offer to show up on loopback.
const SETTLE: Duration = Duration::from_millis(300);

#[tokio::test]
async fn a_later_high_value_customer_is_offered_before_an_earlier_low_value_one() {
    let server = spawn_server(test_config()).await;
    let mut agent = Agent::sign_in(&server, None, "ann", &[], 1).await;
    let busy = server.submit(None, "keeps-agent-busy", 0.0).await;
    assert_eq!(agent.take_next().await, busy.conversation_id);

    let low = server.submit(None, "low-value-first", 10.0).await;
    let high = server.submit(None, "high-value-later", 250_000.0).await;
    let waiting = server
        .admin()
        .await
        .list_waiting(pb::ListWaitingRequest { limit: 10 })
        .await
        .unwrap()
        .into_inner();
    let order: Vec<_> = waiting
        .conversations
        .iter()
        .map(|c| c.conversation_id.clone())
        .collect();
    assert_eq!(
        order,
        vec![high.conversation_id.clone(), low.conversation_id.clone()]
    );
    assert_eq!(waiting.conversations[0].value_tier, "platinum");

    agent.close(&busy.conversation_id).await.unwrap();
    let offer = agent.offer().await;
    assert_eq!(offer.conversation_id, high.conversation_id);
    assert_eq!(offer.value_tier, "platinum");
    assert!(
        !offer.transcript.is_empty(),
        "the offer carries the transcript"
    );
}

#[tokio::test]
async fn an_agent_without_the_required_skill_is_never_offered_the_conversation() {
    let server = spawn_server(test_config()).await;
    let mut gateway = server.gateway().await;
    let mut m = message("needs-billing", 0.0, "my invoice is wrong");
    m.required_skills.push(pb::SkillRequirement {
        skill: "billing".into(),
        min_proficiency: 3,
    });
    let opened = gateway.submit(m).await.unwrap().into_inner();

    let mut novice = Agent::sign_in(&server, None, "novice", &[("billing", 2)], 5).await;
    let mut other = Agent::sign_in(&server, None, "other", &[("returns", 5)], 5).await;
    assert!(!novice.offered_within(SETTLE).await);
    assert!(!other.offered_within(Duration::ZERO).await);
    let view = server.conversation(&opened.conversation_id).await.unwrap();
    assert_eq!(view.state, pb::ConversationState::Queued as i32);

    let mut expert = Agent::sign_in(&server, None, "expert", &[("billing", 4)], 1).await;
    assert_eq!(expert.offer().await.conversation_id, opened.conversation_id);
    assert!(!novice.offered_within(SETTLE).await);
}

#[tokio::test]
async fn capacity_two_means_at_most_two_conversations() {
    let server = spawn_server(test_config()).await;
    let mut agent = Agent::sign_in(&server, None, "ann", &[], 2).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            server
                .submit(None, &format!("cap-{i}"), 0.0)
                .await
                .conversation_id,
        );
    }
    let first = agent.take_next().await;
    let second = agent.take_next().await;
    assert_eq!(vec![first.clone(), second], ids[..2].to_vec());
    assert!(
        !agent.offered_within(SETTLE).await,
        "a third offer would exceed capacity"
    );
    let agents = server
        .admin()
        .await
        .list_agents(pb::ListAgentsRequest {})
        .await
        .unwrap()
        .into_inner()
        .agents;
    assert_eq!(agents[0].load.unwrap().messaging, 2);
    let third = server.conversation(&ids[2]).await.unwrap();
    assert_eq!(third.state, pb::ConversationState::Queued as i32);

    agent.close(&first).await.unwrap();
    assert_eq!(agent.take_next().await, ids[2]);
}

#[tokio::test]
async fn a_dropped_agent_stream_routes_its_conversation_to_another_agent() {
    // Without a reconnect window (with one, see `desk`: the agent is held for it).
    let mut config = test_config();
    config.routing.agent_reconnect_secs = 0;
    let server = spawn_server(config).await;
    let mut first = Agent::sign_in(&server, None, "first", &[("sales", 3)], 1).await;
    let opened = server.submit(None, "dropped", 5_000.0).await;
    assert_eq!(first.take_next().await, opened.conversation_id);

    let mut second = Agent::sign_in(&server, None, "second", &[("sales", 3)], 1).await;
    assert!(!second.offered_within(Duration::from_millis(100)).await);
    drop(first);
    let offer = second.offer().await;
    assert_eq!(offer.conversation_id, opened.conversation_id);
    assert!(
        offer.transcript.len() >= 2,
        "transcript kept across the re-route"
    );
}

#[tokio::test]
async fn tenants_never_see_each_others_conversations_or_agents() {
    let server = spawn_server(test_config()).await;
    let mut acme_agent = Agent::sign_in(&server, Some("acme"), "ann", &[], 1).await;
    let mut globex_agent = Agent::sign_in(&server, Some("globex"), "ann", &[], 1).await;
    let acme = server.submit(Some("acme"), "t-1", 0.0).await;
    assert_eq!(
        acme_agent.offer().await.conversation_id,
        acme.conversation_id
    );
    assert!(!globex_agent.offered_within(SETTLE).await);
    // The same channel conversation id in another tenant is another conversation.
    let globex = server.submit(Some("globex"), "t-1", 0.0).await;
    assert!(globex.created);
    assert_eq!(
        globex_agent.offer().await.conversation_id,
        globex.conversation_id
    );
}

#[tokio::test]
async fn an_unanswered_offer_returns_the_conversation_and_sets_the_agent_away() {
    let mut config = test_config();
    config.routing.offer_timeout_ms = 200;
    let server = spawn_server(config).await;
    let mut sleepy = Agent::sign_in(&server, None, "sleepy", &[], 1).await;
    let opened = server.submit(None, "ring-no-answer", 0.0).await;
    assert_eq!(sleepy.offer().await.conversation_id, opened.conversation_id);
    let withdrawn = sleepy
        .inbox
        .next_matching(|f| match &f.frame {
            Some(pb::desk_frame::Frame::OfferWithdrawn(w)) => Some(w.clone()),
            _ => None,
        })
        .await;
    assert_eq!(withdrawn.reason, "timeout");
    let mut awake = Agent::sign_in(&server, None, "awake", &[], 1).await;
    assert_eq!(awake.offer().await.conversation_id, opened.conversation_id);
    let agents = server
        .admin()
        .await
        .list_agents(pb::ListAgentsRequest {})
        .await
        .unwrap()
        .into_inner()
        .agents;
    let sleepy_view = agents.iter().find(|a| a.agent_id == "sleepy").unwrap();
    assert_eq!(sleepy_view.presence, pb::Presence::Away as i32);
}

#[tokio::test]
async fn transfer_to_a_skill_keeps_the_conversation_and_reaches_a_skilled_agent() {
    let server = spawn_server(test_config()).await;
    let mut generalist = Agent::sign_in(&server, None, "gen", &[], 1).await;
    let opened = server.submit(None, "transfer-me", 0.0).await;
    assert_eq!(generalist.take_next().await, opened.conversation_id);
    let mut specialist = Agent::sign_in(&server, None, "spec", &[("refunds", 5)], 1).await;
    generalist
        .act(pb::agent_frame::Action::Transfer(pb::Transfer {
            conversation_id: opened.conversation_id.clone(),
            target: Some(pb::transfer::Target::Skill("refunds".into())),
        }))
        .await
        .unwrap();
    let offer = specialist.offer().await;
    assert_eq!(offer.conversation_id, opened.conversation_id);
    assert!(offer.transcript.iter().any(|e| e.text == "hello"));
    // The generalist lacks the skill and its capacity is free again, but not for this one.
    assert!(!generalist.offered_within(SETTLE).await);
}

#[tokio::test]
async fn a_complaint_is_served_before_earlier_customers_of_the_same_tier() {
    let server = spawn_server(test_config()).await;
    let mut agent = Agent::sign_in(&server, None, "ann", &[], 1).await;
    let busy = server.submit(None, "busy", 0.0).await;
    assert_eq!(agent.take_next().await, busy.conversation_id);
    server.submit(None, "calm", 0.0).await;
    let mut angry = message("angry", 0.0, "this is the third time!");
    angry.boosts.push(pb::Boost::Complaint as i32);
    let angry = server
        .gateway()
        .await
        .submit(angry)
        .await
        .unwrap()
        .into_inner();
    let mut bad = message("bad-boost", 0.0, "hi");
    bad.boosts.push(99);
    let refused = server.gateway().await.submit(bad).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(
        refused.message().starts_with("boosts"),
        "{}",
        refused.message()
    );

    agent.close(&busy.conversation_id).await.unwrap();
    assert_eq!(agent.offer().await.conversation_id, angry.conversation_id);
}

#[tokio::test]
async fn after_a_close_the_agent_wraps_up_before_the_next_offer() {
    let mut config = test_config();
    config.routing.wrap_up_ms = 1_000;
    let server = spawn_server(config).await;
    let mut agent = Agent::sign_in(&server, None, "ann", &[], 1).await;
    let first = server.submit(None, "wrap-1", 0.0).await;
    let second = server.submit(None, "wrap-2", 0.0).await;
    assert_eq!(agent.take_next().await, first.conversation_id);
    agent.close(&first.conversation_id).await.unwrap();
    let presence = |f: &pb::DeskFrame| match &f.frame {
        Some(pb::desk_frame::Frame::PresenceChanged(p)) => Some(p.presence),
        _ => None,
    };
    assert_eq!(
        agent.inbox.next_matching(presence).await,
        pb::Presence::WrapUp as i32
    );
    assert!(!agent.offered_within(Duration::from_millis(200)).await);
    assert_eq!(
        agent.inbox.next_matching(presence).await,
        pb::Presence::Available as i32
    );
    assert_eq!(agent.offer().await.conversation_id, second.conversation_id);
    let refused = agent
        .act(pb::agent_frame::Action::SetPresence(pb::SetPresence {
            presence: pb::Presence::WrapUp as i32,
        }))
        .await
        .unwrap_err();
    assert_eq!(refused.0, tonic::Code::InvalidArgument);
}

#[tokio::test]
async fn operators_can_ask_why_a_conversation_still_waits() {
    let server = spawn_server(test_config()).await;
    let _agent = Agent::sign_in(&server, None, "ann", &[("sales", 2)], 1).await;
    let mut gateway = server.gateway().await;
    let mut m = message("needs-billing-explained", 0.0, "invoice?");
    m.required_skills.push(pb::SkillRequirement {
        skill: "billing".into(),
        min_proficiency: 2,
    });
    let opened = gateway.submit(m).await.unwrap().into_inner();
    let explanation = server.explain(&opened.conversation_id).await.unwrap();
    assert_eq!(explanation.state, pb::ConversationState::Queued as i32);
    assert_eq!(explanation.position, 1);
    assert!(
        explanation.verdict.contains("required skill"),
        "{}",
        explanation.verdict
    );
    assert_eq!(explanation.candidates.len(), 1);
    assert_eq!(explanation.candidates[0].missing_skills[0].skill, "billing");
    let unknown = server.explain("c424242").await.unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
}

#[tokio::test]
async fn preferred_skills_relax_after_their_time_and_the_conversation_keeps_its_place() {
    let mut config = test_config();
    config.routing.queues.push(switchboard::routing::QueueSpec {
        name: "billing".into(),
        required_skills: vec!["billing:2".into()],
        preferred_skills: vec!["mandarin:3".into()],
        relax_preferred_after_secs: 1,
        ..Default::default()
    });
    let server = spawn_server(config).await;
    let mut agent = Agent::sign_in(&server, None, "ann", &[("billing", 4)], 1).await;
    let mut m = message("bullseye", 0.0, "my bill");
    m.queue = "billing".into();
    let opened = server.gateway().await.submit(m).await.unwrap().into_inner();
    assert!(
        !agent.offered_within(Duration::from_millis(300)).await,
        "step 0: Mandarin wanted"
    );
    let offer = agent.offer().await; // after the relax time, within the prompt
    assert_eq!(offer.conversation_id, opened.conversation_id);
    let why = server.explain(&opened.conversation_id).await.unwrap();
    assert_eq!(why.escalation_step, "required");
    assert_eq!(why.rule, pb::RoutingRule::LongestIdleEligible as i32);
}

#[tokio::test]
async fn the_most_proficient_strategy_is_configurable_and_explained() {
    let mut config = test_config();
    config.routing.agent_choice = switchboard::routing::AgentChoice::MostProficient;
    let server = spawn_server(config).await;
    let mut okay = Agent::sign_in(&server, None, "okay", &[("sales", 2)], 1).await;
    let mut star = Agent::sign_in(&server, None, "star", &[("sales", 5)], 1).await;
    let mut m = message("pick-the-star", 0.0, "hi");
    m.required_skills.push(pb::SkillRequirement {
        skill: "sales".into(),
        min_proficiency: 1,
    });
    let opened = server.gateway().await.submit(m).await.unwrap().into_inner();
    assert_eq!(star.offer().await.conversation_id, opened.conversation_id);
    assert!(!okay.offered_within(Duration::from_millis(100)).await);
    let why = server.explain(&opened.conversation_id).await.unwrap();
    assert_eq!(why.rule, pb::RoutingRule::MostProficientEligible as i32);
}

#[tokio::test]
async fn a_returning_customer_is_offered_to_the_agent_who_served_them() {
    let mut config = test_config();
    config.routing.last_agent_window_ms = 60_000;
    let server = spawn_server(config).await;
    let mut ann = Agent::sign_in(&server, None, "ann", &[], 2).await;
    let first = server.submit(None, "first-visit", 0.0).await;
    assert_eq!(ann.take_next().await, first.conversation_id);
    let mut bob = Agent::sign_in(&server, None, "bob", &[], 2).await;
    ann.close(&first.conversation_id).await.unwrap();
    let mut back = message("second-visit", 0.0, "me again");
    back.customer.as_mut().unwrap().customer_id = "customer-first-visit".into();
    let second = server
        .gateway()
        .await
        .submit(back)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ann.offer().await.conversation_id, second.conversation_id);
    assert!(!bob.offered_within(Duration::from_millis(100)).await);
}

#[tokio::test]
async fn a_quiet_chat_releases_the_agent_and_returns_when_the_customer_writes() {
    let mut config = test_config();
    config.routing.idle_release_ms = 300;
    let server = spawn_server(config).await;
    let mut agent = Agent::sign_in(&server, None, "ann", &[], 1).await;
    let mut adapter = crate::common::Adapter::connect(&server, "web-adapter").await;
    let quiet = adapter
        .send(message("quiet-chat", 0.0, "hi"))
        .await
        .unwrap();
    assert_eq!(agent.take_next().await, quiet.conversation_id);
    let parked = agent
        .inbox
        .next_matching(|f| match &f.frame {
            Some(pb::desk_frame::Frame::Parked(p)) => Some(p.conversation_id.clone()),
            _ => None,
        })
        .await;
    assert_eq!(parked, quiet.conversation_id);
    let view = server.conversation(&quiet.conversation_id).await.unwrap();
    assert_eq!(view.state, pb::ConversationState::Parked as i32);
    adapter
        .send(message("quiet-chat", 0.0, "sorry, back now"))
        .await
        .unwrap();
    let offer = agent.offer().await;
    assert_eq!(offer.conversation_id, quiet.conversation_id);
    assert!(offer.transcript.iter().any(|e| e.text == "sorry, back now"));
}
