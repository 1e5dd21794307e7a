//! Unit tests of the routing core, driven through [`Router`]'s public operations in
//! virtual time.
//!
//! Every operation goes through [`Fixture::run`], which after each step checks the
//! router's invariants, checks the drained events are numbered gap-free from 1, feeds
//! them to a [`Board`] and checks the board agrees with the router on every open
//! conversation.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use super::*;

// ----- helpers -----

const T0: Millis = 1_000_000;

/// A customer's first (or next) message on the web channel.
fn message(ccid: &str, clv: f64) -> InboundMessage {
    InboundMessage {
        adapter: Arc::from("web-adapter"),
        channel: Channel::Web,
        channel_conversation_id: ccid.to_owned(),
        customer_id: format!("customer-{ccid}"),
        display_name: String::new(),
        value: ValueFacts {
            clv: Some(clv),
            ..ValueFacts::default()
        },
        text: format!("hello from {ccid}"),
        language: "en".to_owned(),
        client_message_id: None,
        queue: None,
        required_skills: Vec::new(),
        boosts: Boosts::default(),
        identities: Vec::new(),
    }
}

/// A message that requires skills.
fn needing(ccid: &str, skills: &[(&str, u8)]) -> InboundMessage {
    InboundMessage {
        required_skills: skills.iter().map(|&(s, l)| (s.to_owned(), l)).collect(),
        ..message(ccid, 0.0)
    }
}

/// A follow-up message with a text and an adapter message id.
fn said(ccid: &str, text: &str, client_id: Option<&str>) -> InboundMessage {
    InboundMessage {
        text: text.to_owned(),
        client_message_id: client_id.map(str::to_owned),
        ..message(ccid, 0.0)
    }
}

/// An available agent with messaging capacity only.
fn agent(id: &str, skills: &[(&str, u8)], messaging: u32) -> SignIn {
    SignIn {
        agent_id: id.to_owned(),
        display_name: id.to_uppercase(),
        skills: skills.iter().map(|&(s, l)| (s.to_owned(), l)).collect(),
        capacity: PerClass([messaging, 0, 0]),
        presence: Presence::Available,
    }
}

fn policy() -> RoutingPolicy {
    RoutingPolicy::default()
}

/// What one step left behind.
#[derive(Debug)]
struct Out {
    events: Vec<Event>,
    notices: Vec<Notice>,
}

impl Out {
    /// What a bare router (no fixture) left behind since the last drain.
    fn drained(router: &mut Router) -> Out {
        let (events, notices) = router.drain();
        Out { events, notices }
    }

    /// Offers made, as (agent, conversation), from the agent notices.
    fn offers(&self) -> Vec<(String, ConversationId)> {
        self.notices
            .iter()
            .filter_map(|n| match n {
                Notice::ToAgent {
                    agent,
                    notice: AgentNotice::Offer(details),
                } => Some((agent.to_string(), details.conversation)),
                _ => None,
            })
            .collect()
    }

    /// Offers made, as (agent, conversation), from the events.
    fn offered_events(&self) -> Vec<(String, ConversationId)> {
        self.events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Offered { agent, .. } => Some((agent.to_string(), e.conversation)),
                _ => None,
            })
            .collect()
    }

    /// Notices for one agent, in order.
    fn to_agent(&self, id: &str) -> Vec<&AgentNotice> {
        self.notices
            .iter()
            .filter_map(|n| match n {
                Notice::ToAgent { agent, notice } if &**agent == id => Some(notice),
                _ => None,
            })
            .collect()
    }

    /// Notices for the customer of one conversation, in order.
    fn to_customer(&self, id: ConversationId) -> Vec<&CustomerNoticeBody> {
        self.notices
            .iter()
            .filter_map(|n| match n {
                Notice::ToCustomer(c) if c.conversation == id => Some(&c.body),
                _ => None,
            })
            .collect()
    }

    /// Events of one conversation, in order.
    fn kinds(&self, id: ConversationId) -> Vec<&EventKind> {
        self.events
            .iter()
            .filter(|e| e.conversation == id)
            .map(|e| &e.kind)
            .collect()
    }

    /// `Queued` events of one conversation as (reason, key).
    fn queued(&self, id: ConversationId) -> Vec<(QueueReason, PriorityKey)> {
        self.kinds(id)
            .into_iter()
            .filter_map(|k| match k {
                EventKind::Queued { reason, key, .. } => Some((*reason, *key)),
                _ => None,
            })
            .collect()
    }
}

/// A router, the board its events build, and the checks run after every step.
struct Fixture {
    router: Router,
    board: Board,
    last_seq: u64,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture::with_policy(policy())
    }

    fn with_policy(policy: RoutingPolicy) -> Fixture {
        let fixture = Fixture {
            router: Router::new(policy).expect("valid policy"),
            board: Board::new(1_000),
            last_seq: 0,
        };
        fixture.router.check_invariants().unwrap();
        fixture
    }

    /// Runs one operation, then checks everything and returns what it produced.
    fn run<T>(&mut self, op: impl FnOnce(&mut Router) -> T) -> (T, Out) {
        let result = op(&mut self.router);
        (result, self.settle())
    }

    fn settle(&mut self) -> Out {
        if let Err(broken) = self.router.check_invariants() {
            panic!("invariant broken: {broken}");
        }
        let (events, notices) = self.router.drain();
        for e in &events {
            assert_eq!(e.seq, self.last_seq + 1, "event numbers must be gap-free");
            self.last_seq = e.seq;
            self.board.apply(e);
        }
        let mut open = self.router.open_ids();
        open.sort();
        for id in open {
            assert_eq!(
                self.board.get(id),
                self.router.snapshot(id).as_ref(),
                "board and router disagree on {id}"
            );
        }
        // Ended ones too: the router's ring of ended conversations must tell what the
        // events told, survey answers after the close included.
        for e in &events {
            if self.router.snapshot(e.conversation).is_none() {
                assert_eq!(
                    self.board.get(e.conversation),
                    self.router.conversation(e.conversation).as_ref(),
                    "board and router disagree on ended {}",
                    e.conversation
                );
            }
        }
        assert_eq!(self.board.waiting_len(), self.router.waiting_len());
        assert_eq!(self.board.open().count(), self.router.open_len());
        Out { events, notices }
    }

    fn arrive(&mut self, now: Millis, msg: InboundMessage) -> (ConversationId, Out) {
        let (outcome, out) = self.run(|r| r.customer_message(now, msg));
        let outcome = outcome.expect("message taken");
        assert!(outcome.created, "expected a new conversation");
        (outcome.conversation, out)
    }

    fn sign_in(&mut self, now: Millis, sign_in: SignIn) -> Out {
        let (result, out) = self.run(|r| r.sign_in(now, sign_in));
        result.expect("signed in");
        out
    }

    fn accept(&mut self, now: Millis, agent: &str, id: ConversationId) -> Out {
        let (result, out) = self.run(|r| r.accept(now, agent, &id.to_string()));
        result.expect("accepted");
        out
    }

    fn close(&mut self, now: Millis, agent: &str, id: ConversationId) -> Out {
        let (result, out) = self.run(|r| r.close(now, agent, &id.to_string()));
        result.expect("closed");
        out
    }

    fn tick(&mut self, now: Millis) -> Out {
        self.run(|r| r.tick(now)).1
    }

    fn key(&self, id: ConversationId) -> PriorityKey {
        self.router.snapshot(id).expect("open conversation").key
    }

    fn state(&self, id: ConversationId) -> (ConversationState, Option<String>) {
        let s = self.router.snapshot(id).expect("open conversation");
        (s.state, s.agent.map(|a| a.to_string()))
    }

    fn view(&self, now: Millis, id: &str) -> AgentView {
        self.router
            .agents(now)
            .into_iter()
            .find(|a| &*a.id == id)
            .expect("signed-in agent")
    }
}

fn queued() -> (ConversationState, Option<String>) {
    (ConversationState::Queued, None)
}

fn offered(agent: &str) -> (ConversationState, Option<String>) {
    (ConversationState::Offered, Some(agent.to_owned()))
}

fn assigned(agent: &str) -> (ConversationState, Option<String>) {
    (ConversationState::Assigned, Some(agent.to_owned()))
}

fn failed_precondition<T: std::fmt::Debug>(result: Result<T, RoutingError>) {
    assert!(
        matches!(result, Err(RoutingError::FailedPrecondition(_))),
        "expected FailedPrecondition, got {result:?}"
    );
}

/// The one queue status of the first-response note in `out`.
fn first_response_status(out: &Out, id: ConversationId) -> QueueStatus {
    let notes = out.to_customer(id);
    assert_eq!(notes.len(), 1, "exactly one first response: {notes:?}");
    match notes[0] {
        CustomerNoticeBody::Message {
            sender: Sender::System,
            queue_status: Some(status),
            ..
        } => *status,
        other => panic!("expected a system note with a queue status, got {other:?}"),
    }
}

// ----- first response and immediate offers -----

#[test]
fn new_conversation_without_agents_gets_one_first_response_at_position_one() {
    let mut fx = Fixture::new();
    let (outcome, out) = fx.run(|r| r.customer_message(T0, message("x", 0.0)));
    let outcome = outcome.unwrap();
    assert!(outcome.created && !outcome.duplicate);
    let id = outcome.conversation;

    assert_eq!(
        out.notices.len(),
        1,
        "only the first response: {:?}",
        out.notices
    );
    assert_eq!(first_response_status(&out, id).position, 1);
    assert!(out.offers().is_empty());
    let kinds = out.kinds(id);
    assert!(matches!(kinds[0], EventKind::Created { .. }));
    assert_eq!(out.queued(id), vec![(QueueReason::New, fx.key(id))]);
    let first: Vec<_> = kinds
        .iter()
        .filter_map(|k| match k {
            EventKind::FirstResponse {
                responder,
                latency_ms,
            } => Some((*responder, *latency_ms)),
            _ => None,
        })
        .collect();
    assert_eq!(first, vec![(Responder::System, 0)]);
    assert!(out.offered_events().is_empty());
    assert_eq!(fx.state(id), queued());
    assert_eq!(fx.router.waiting_len(), 1);

    // A second customer queues behind the first.
    let (second, out) = fx.arrive(T0 + 10, message("y", 0.0));
    assert_eq!(first_response_status(&out, second).position, 2);
}

#[test]
fn new_conversation_with_an_available_agent_is_offered_at_once() {
    let mut fx = Fixture::new();
    let out = fx.sign_in(T0, agent("a", &[], 1));
    assert!(out.notices.is_empty() && out.events.is_empty());

    let (id, out) = fx.arrive(T0 + 5, message("x", 0.0));
    assert_eq!(out.offers(), vec![("a".to_owned(), id)]);
    assert_eq!(out.offered_events(), vec![("a".to_owned(), id)]);
    let status = first_response_status(&out, id);
    assert_eq!(status.position, 0);
    assert_eq!(status.estimated_wait_secs, 0);
    assert_eq!(
        out.kinds(id)
            .iter()
            .filter(|k| matches!(
                k,
                EventKind::FirstResponse {
                    responder: Responder::System,
                    ..
                }
            ))
            .count(),
        1
    );
    assert_eq!(fx.state(id), offered("a"));
    assert_eq!(fx.router.waiting_len(), 0);

    // The offer carries the customer's message.
    let details = out
        .to_agent("a")
        .into_iter()
        .find_map(|n| match n {
            AgentNotice::Offer(d) => Some(d.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(details.conversation, id);
    assert_eq!(&*details.tier, "standard");
    assert_eq!(&*details.queue, "default");
    assert_eq!(&*details.transcript[0].text, "hello from x");

    let out = fx.accept(T0 + 100, "a", id);
    assert!(matches!(
        out.kinds(id)[..],
        [EventKind::Accepted { waited_ms: 95, .. }]
    ));
    assert_eq!(fx.state(id), assigned("a"));
}

// ----- value ordering and the starvation bound -----

/// Agent `a` with messaging capacity 1, busy with conversation "busy".
fn busy_agent(fx: &mut Fixture) -> ConversationId {
    fx.sign_in(T0, agent("a", &[], 1));
    let (busy, out) = fx.arrive(T0, message("busy", 0.0));
    assert_eq!(out.offers(), vec![("a".to_owned(), busy)]);
    fx.accept(T0, "a", busy);
    busy
}

#[test]
fn higher_value_customer_is_served_first_when_capacity_frees() {
    let mut fx = Fixture::new();
    let busy = busy_agent(&mut fx);
    let (low, out) = fx.arrive(T0 + 1_000, message("low", 0.0));
    assert_eq!(first_response_status(&out, low).position, 1);
    let (high, out) = fx.arrive(T0 + 2_000, message("high", 200_000.0));
    assert_eq!(
        first_response_status(&out, high).position,
        1,
        "the platinum customer goes straight to the front"
    );
    assert!(fx.key(high) < fx.key(low));
    assert_eq!(fx.router.snapshot(high).unwrap().tier, 3);

    let out = fx.close(T0 + 3_000, "a", busy);
    assert_eq!(out.offers(), vec![("a".to_owned(), high)]);
    assert_eq!(fx.state(low), queued());

    fx.accept(T0 + 3_100, "a", high);
    let out = fx.close(T0 + 4_000, "a", high);
    assert_eq!(out.offers(), vec![("a".to_owned(), low)]);
}

#[test]
fn low_value_customer_past_the_starvation_bound_is_not_overtaken() {
    let mut fx = Fixture::new();
    let bound = fx.router.policy().priority.starvation_bound_ms(0);
    assert!(bound > 0);
    let busy = busy_agent(&mut fx);
    let (low, _) = fx.arrive(T0 + 1_000, message("low", 0.0));
    let later = T0 + 1_000 + bound + 1;
    fx.tick(later);
    let (platinum, out) = fx.arrive(later, message("platinum", 200_000.0));
    assert_eq!(first_response_status(&out, platinum).position, 2);
    assert!(fx.key(low) < fx.key(platinum));

    let out = fx.close(later + 10, "a", busy);
    assert_eq!(out.offers(), vec![("a".to_owned(), low)]);
    assert_eq!(fx.state(platinum), queued());
}

#[test]
fn platinum_arriving_within_the_bound_does_overtake() {
    let mut fx = Fixture::new();
    let bound = fx.router.policy().priority.starvation_bound_ms(0);
    let busy = busy_agent(&mut fx);
    let (low, _) = fx.arrive(T0 + 1_000, message("low", 0.0));
    // The bound is tight: the highest tier with every boost can still overtake 1 ms
    // before it.
    let mut top = message("platinum", 200_000.0);
    top.boosts.insert(Boost::Complaint);
    top.boosts.insert(Boost::ChurnRisk);
    let (platinum, _) = fx.arrive(T0 + 1_000 + bound - 1, top);
    assert!(fx.key(platinum) < fx.key(low));
    let out = fx.close(T0 + 1_000 + bound, "a", busy);
    assert_eq!(out.offers(), vec![("a".to_owned(), platinum)]);
}

// ----- skills and capacity -----

#[test]
fn required_skill_level_is_enforced() {
    let mut fx = Fixture::new();
    fx.sign_in(T0, agent("novice", &[("billing", 2)], 3));
    fx.sign_in(T0, agent("sales", &[("sales", 5)], 3));
    let (id, out) = fx.arrive(T0 + 10, needing("x", &[("billing", 3)]));
    assert!(out.offers().is_empty());
    assert_eq!(
        fx.router.snapshot(id).unwrap().required,
        vec![(Arc::from("billing"), 3)].into()
    );

    // Nothing changes it: time passing, presence toggles, other work.
    let out = fx.tick(T0 + 120_000);
    assert!(out.offers().is_empty());
    let (_, out) = fx.run(|r| r.set_presence(T0 + 120_001, "novice", Presence::Away));
    assert!(out.offers().is_empty());
    let (_, out) = fx.run(|r| r.set_presence(T0 + 120_002, "novice", Presence::Available));
    assert!(out.offers().is_empty());
    let (plain, out) = fx.arrive(T0 + 120_003, message("plain", 0.0));
    assert_eq!(
        out.offers().len(),
        1,
        "a conversation without requirements is served"
    );
    assert_eq!(
        fx.router.snapshot(plain).unwrap().state,
        ConversationState::Offered
    );
    assert_eq!(fx.state(id), queued());

    let out = fx.sign_in(T0 + 130_000, agent("expert", &[("billing", 3)], 1));
    assert_eq!(out.offers(), vec![("expert".to_owned(), id)]);
    assert_eq!(fx.state(id), offered("expert"));
}

#[test]
fn higher_proficiency_than_required_is_eligible() {
    let mut fx = Fixture::new();
    let (id, _) = fx.arrive(T0, needing("x", &[("billing", 3), ("tech", 1)]));
    let out = fx.sign_in(T0 + 1, agent("half", &[("billing", 5)], 1));
    assert!(out.offers().is_empty(), "tech is missing");
    let out = fx.sign_in(T0 + 2, agent("full", &[("billing", 4), ("tech", 2)], 1));
    assert_eq!(out.offers(), vec![("full".to_owned(), id)]);
}

#[test]
fn capacity_two_takes_two_and_the_third_waits_for_a_close() {
    let mut fx = Fixture::new();
    let (c1, _) = fx.arrive(T0, message("one", 0.0));
    let (c2, _) = fx.arrive(T0 + 1, message("two", 0.0));
    let (c3, _) = fx.arrive(T0 + 2, message("three", 0.0));
    let out = fx.sign_in(T0 + 10, agent("a", &[], 2));
    assert_eq!(
        out.offers(),
        vec![("a".to_owned(), c1), ("a".to_owned(), c2)],
        "first come, first served within a tier"
    );
    assert_eq!(fx.state(c3), queued());
    assert_eq!(fx.view(T0 + 10, "a").load, PerClass([2, 0, 0]));

    fx.accept(T0 + 20, "a", c1);
    fx.accept(T0 + 21, "a", c2);
    assert_eq!(fx.state(c3), queued());
    assert_eq!(fx.router.agent_state_counts().busy, 1);

    let out = fx.close(T0 + 30, "a", c1);
    assert_eq!(out.offers(), vec![("a".to_owned(), c3)]);
    assert!(fx.router.snapshot(c1).is_none());
    assert_eq!(fx.router.waiting_len(), 0);
}

#[test]
fn capacity_is_counted_per_channel_class() {
    let mut fx = Fixture::new();
    let mut sign_in = agent("mail", &[], 0);
    sign_in.capacity = PerClass([0, 1, 0]);
    fx.sign_in(T0, sign_in);
    let (chat, out) = fx.arrive(T0 + 1, message("chat", 0.0));
    assert!(out.offers().is_empty(), "no messaging capacity");
    let email = InboundMessage {
        channel: Channel::Email,
        ..message("mail-1", 0.0)
    };
    let (mail, out) = fx.arrive(T0 + 2, email);
    assert_eq!(out.offers(), vec![("mail".to_owned(), mail)]);
    assert_eq!(fx.state(chat), queued());
}

#[test]
fn longest_idle_agent_gets_the_offer() {
    let mut fx = Fixture::new();
    fx.sign_in(T0, agent("a", &[], 2));
    fx.sign_in(T0 + 10, agent("b", &[], 2));
    let (c1, out) = fx.arrive(T0 + 100, message("one", 0.0));
    assert_eq!(out.offers(), vec![("a".to_owned(), c1)], "a idle since T0");
    let (c2, out) = fx.arrive(T0 + 200, message("two", 0.0));
    assert_eq!(
        out.offers(),
        vec![("b".to_owned(), c2)],
        "b idle since T0+10"
    );
    let (c3, out) = fx.arrive(T0 + 300, message("three", 0.0));
    assert_eq!(
        out.offers(),
        vec![("a".to_owned(), c3)],
        "a last routed at T0+100"
    );
}

// ----- refusals -----

#[test]
fn accept_reply_and_close_of_someone_elses_conversation_are_refused() {
    let mut fx = Fixture::new();
    fx.sign_in(T0, agent("a", &[], 1));
    fx.sign_in(T0 + 1, agent("b", &[], 1));
    let (id, out) = fx.arrive(T0 + 2, message("x", 0.0));
    assert_eq!(out.offers(), vec![("a".to_owned(), id)]);
    let conv = id.to_string();

    // Offered to a: b may not accept or decline it; a may not reply or close before
    // accepting.
    let (r, out) = fx.run(|r| r.accept(T0 + 3, "b", &conv));
    failed_precondition(r);
    assert!(out.events.is_empty() && out.notices.is_empty());
    let (r, _) = fx.run(|r| r.decline(T0 + 3, "b", &conv));
    failed_precondition(r);
    let (r, _) = fx.run(|r| r.reply(T0 + 3, "a", &conv, "hi"));
    failed_precondition(r);
    let (r, _) = fx.run(|r| r.close(T0 + 3, "a", &conv));
    failed_precondition(r);
    let (r, _) = fx.run(|r| r.transfer(T0 + 3, "a", &conv, TransferRequest::Skill("x".into())));
    failed_precondition(r);

    fx.accept(T0 + 4, "a", id);
    // Assigned to a: b may not reply, close or transfer; nobody may accept it again.
    let (r, _) = fx.run(|r| r.reply(T0 + 5, "b", &conv, "hi"));
    failed_precondition(r);
    let (r, _) = fx.run(|r| r.close(T0 + 5, "b", &conv));
    failed_precondition(r);
    let (r, _) = fx.run(|r| r.transfer(T0 + 5, "b", &conv, TransferRequest::Agent("a".into())));
    failed_precondition(r);
    let (r, _) = fx.run(|r| r.accept(T0 + 5, "a", &conv));
    failed_precondition(r);
    let (r, out) = fx.run(|r| r.accept(T0 + 5, "b", &conv));
    failed_precondition(r);
    assert!(out.events.is_empty() && out.notices.is_empty());
    assert_eq!(fx.state(id), assigned("a"));
}

#[test]
fn unknown_conversations_and_agents_are_not_found() {
    let mut fx = Fixture::new();
    fx.sign_in(T0, agent("a", &[], 1));
    let (id, _) = fx.arrive(T0 + 1, message("x", 0.0));
    fx.accept(T0 + 2, "a", id);
    let not_found = |r: Result<(), RoutingError>| {
        assert!(
            matches!(r, Err(RoutingError::ConversationNotFound(_))),
            "expected ConversationNotFound, got {r:?}"
        );
    };
    for conv in ["c999", "999", "nonsense", ""] {
        not_found(fx.run(|r| r.accept(T0 + 3, "a", conv)).0);
        not_found(fx.run(|r| r.decline(T0 + 3, "a", conv)).0);
        not_found(fx.run(|r| r.reply(T0 + 3, "a", conv, "hi")).0);
        not_found(fx.run(|r| r.close(T0 + 3, "a", conv)).0);
        not_found(
            fx.run(|r| r.transfer(T0 + 3, "a", conv, TransferRequest::Skill("s".into())))
                .0,
        );
    }
    let (r, _) = fx.run(|r| r.abandon(T0 + 3, Channel::Web, "nope", "customer-nope"));
    assert!(matches!(r, Err(RoutingError::ConversationNotFound(_))));
    let (r, _) = fx.run(|r| r.abandon(T0 + 3, Channel::Sms, "x", "customer-x"));
    assert!(
        matches!(r, Err(RoutingError::ConversationNotFound(_))),
        "the channel is part of the key"
    );

    let agent_not_found = |r: Result<(), RoutingError>| {
        assert!(
            matches!(&r, Err(RoutingError::AgentNotFound(who)) if who == "ghost"),
            "expected AgentNotFound, got {r:?}"
        );
    };
    let conv = id.to_string();
    agent_not_found(fx.run(|r| r.accept(T0 + 4, "ghost", &conv)).0);
    agent_not_found(fx.run(|r| r.decline(T0 + 4, "ghost", &conv)).0);
    agent_not_found(fx.run(|r| r.reply(T0 + 4, "ghost", &conv, "hi")).0);
    agent_not_found(fx.run(|r| r.close(T0 + 4, "ghost", &conv)).0);
    agent_not_found(fx.run(|r| r.sign_out(T0 + 4, "ghost")).0);
    agent_not_found(
        fx.run(|r| r.set_presence(T0 + 4, "ghost", Presence::Away))
            .0,
    );
    agent_not_found(
        fx.run(|r| r.transfer(T0 + 4, "a", &conv, TransferRequest::Agent("ghost".into())))
            .0,
    );
    assert_eq!(fx.state(id), assigned("a"));
}

#[test]
fn sign_in_refuses_a_second_session_and_zero_capacity() {
    let mut fx = Fixture::new();
    fx.sign_in(T0, agent("a", &[("billing", 2)], 1));
    let (r, out) = fx.run(|r| r.sign_in(T0 + 1, agent("a", &[], 3)));
    assert_eq!(r, Err(RoutingError::AlreadySignedIn("a".to_owned())));
    assert!(out.events.is_empty() && out.notices.is_empty());
    assert_eq!(
        fx.view(T0 + 1, "a").capacity,
        PerClass([1, 0, 0]),
        "first session kept"
    );

    let (r, _) = fx.run(|r| r.sign_in(T0 + 2, agent("z", &[], 0)));
    assert!(
        matches!(
            r,
            Err(RoutingError::InvalidArgument {
                field: "capacity",
                ..
            })
        ),
        "got {r:?}"
    );
    assert_eq!(fx.router.agents(T0 + 2).len(), 1);

    // After signing out the id may sign in again.
    fx.run(|r| r.sign_out(T0 + 3, "a")).0.unwrap();
    fx.sign_in(T0 + 4, agent("a", &[], 1));
}

#[test]
fn unknown_queue_is_an_invalid_argument() {
    let mut fx = Fixture::new();
    let msg = InboundMessage {
        queue: Some("nowhere".to_owned()),
        ..message("x", 0.0)
    };
    let (r, out) = fx.run(|r| r.customer_message(T0, msg));
    assert!(
        matches!(r, Err(RoutingError::InvalidArgument { field: "queue", .. })),
        "got {r:?}"
    );
    assert!(out.events.is_empty() && out.notices.is_empty());
    assert_eq!(fx.router.open_len(), 0);

    // The named default queue and an empty name both work.
    for (ccid, queue) in [("y", Some("default")), ("z", Some(""))] {
        let msg = InboundMessage {
            queue: queue.map(str::to_owned),
            ..message(ccid, 0.0)
        };
        let (id, _) = fx.arrive(T0 + 1, msg);
        assert_eq!(fx.router.snapshot(id).unwrap().queue, 0);
    }
}

#[test]
fn open_conversation_limit_is_exhausted() {
    let mut fx = Fixture::with_policy(RoutingPolicy {
        max_open_conversations: 2,
        ..policy()
    });
    fx.arrive(T0, message("one", 0.0));
    fx.arrive(T0, message("two", 0.0));
    let (r, _) = fx.run(|r| r.customer_message(T0, message("three", 0.0)));
    assert!(matches!(r, Err(RoutingError::Exhausted(_))), "got {r:?}");
    // Follow-ups in open conversations are still taken.
    let (r, _) = fx.run(|r| r.customer_message(T0, message("one", 0.0)));
    assert!(!r.unwrap().created);
}

// ----- idempotency and message order -----

#[test]
fn same_channel_conversation_id_joins_the_open_conversation() {
    let mut fx = Fixture::new();
    let (id, _) = fx.arrive(T0, message("x", 0.0));
    let (outcome, out) = fx.run(|r| r.customer_message(T0 + 1, said("x", "again", None)));
    let outcome = outcome.unwrap();
    assert_eq!(outcome.conversation, id);
    assert!(!outcome.created && !outcome.duplicate);
    assert!(
        out.events.is_empty(),
        "a follow-up changes no routing state"
    );
    assert!(out.notices.is_empty(), "no second first response");
    assert_eq!(fx.router.open_len(), 1);

    // Another channel with the same id is another conversation.
    let other = InboundMessage {
        channel: Channel::Sms,
        ..message("x", 0.0)
    };
    let (other_id, _) = fx.arrive(T0 + 2, other);
    assert_ne!(other_id, id);
}

#[test]
fn repeated_client_message_id_is_a_duplicate_and_not_relayed_twice() {
    let mut fx = Fixture::new();
    fx.sign_in(T0, agent("a", &[], 1));
    let (first, _) = fx.run(|r| r.customer_message(T0, said("x", "hi", Some("m1"))));
    let id = first.unwrap().conversation;
    fx.accept(T0 + 1, "a", id);

    // The opening message repeated.
    let (r, out) = fx.run(|r| r.customer_message(T0 + 2, said("x", "hi", Some("m1"))));
    let r = r.unwrap();
    assert!(r.duplicate && !r.created);
    assert_eq!(r.conversation, id);
    assert!(out.notices.is_empty() && out.events.is_empty());

    // A new message is relayed once; its repeat is not.
    let (r, out) = fx.run(|r| r.customer_message(T0 + 3, said("x", "where is it?", Some("m2"))));
    assert!(!r.unwrap().duplicate);
    assert_eq!(
        out.to_agent("a"),
        vec![&AgentNotice::CustomerMessage {
            conversation: id,
            text: Arc::from("where is it?"),
            at: T0 + 3,
        }]
    );
    let (r, out) = fx.run(|r| r.customer_message(T0 + 4, said("x", "where is it?", Some("m2"))));
    assert!(r.unwrap().duplicate);
    assert!(out.to_agent("a").is_empty(), "the repeat is not relayed");

    // Messages without an id are never treated as repeats.
    for at in [T0 + 5, T0 + 6] {
        let (r, out) = fx.run(|r| r.customer_message(at, said("x", "ping", None)));
        assert!(!r.unwrap().duplicate);
        assert_eq!(out.to_agent("a").len(), 1);
    }
}

#[test]
fn messages_flow_in_order_both_ways() {
    let mut fx = Fixture::new();
    fx.sign_in(T0, agent("a", &[], 1));
    let (id, _) = fx.arrive(T0, message("x", 0.0));
    fx.accept(T0 + 1, "a", id);
    let conv = id.to_string();

    let (_, out) = fx.run(|r| {
        for i in 0..5 {
            r.customer_message(T0 + 10 + i, said("x", &format!("customer {i}"), None))
                .unwrap();
        }
    });
    let relayed: Vec<String> = out
        .to_agent("a")
        .into_iter()
        .map(|n| match n {
            AgentNotice::CustomerMessage {
                conversation, text, ..
            } => {
                assert_eq!(*conversation, id);
                text.to_string()
            }
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    let expected: Vec<String> = (0..5).map(|i| format!("customer {i}")).collect();
    assert_eq!(relayed, expected);

    let (_, out) = fx.run(|r| {
        for i in 0..5 {
            r.reply(T0 + 20 + i, "a", &conv, &format!("agent {i}"))
                .unwrap();
        }
    });
    let replies: Vec<String> = out
        .to_customer(id)
        .into_iter()
        .map(|b| match b {
            CustomerNoticeBody::Message {
                sender: Sender::Agent,
                text,
                agent: Some(who),
                ..
            } => {
                assert_eq!(&**who, "a");
                text.to_string()
            }
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    let expected: Vec<String> = (0..5).map(|i| format!("agent {i}")).collect();
    assert_eq!(replies, expected);
    // Only the first reply since the accept is an event (first-reply time).
    let kinds: Vec<&EventKind> = out.events.iter().map(|e| &e.kind).collect();
    assert!(
        matches!(kinds[..], [EventKind::AgentReplied { agent }] if &**agent == "a"),
        "{kinds:?}"
    );

    // Interleaved, each side sees the other's messages in order; step by step.
    for i in 0..3 {
        let (_, out) = fx.run(|r| r.customer_message(T0 + 30 + i, said("x", "q", None)));
        assert_eq!(out.to_agent("a").len(), 1);
        let (r, out) = fx.run(|r| r.reply(T0 + 30 + i, "a", &conv, "a"));
        r.unwrap();
        assert_eq!(out.to_customer(id).len(), 1);
    }
}

#[test]
fn customer_messages_while_offered_reach_the_offered_agent() {
    let mut fx = Fixture::new();
    fx.sign_in(T0, agent("a", &[], 1));
    let (id, _) = fx.arrive(T0, message("x", 0.0));
    let (_, out) = fx.run(|r| r.customer_message(T0 + 1, said("x", "still there?", None)));
    assert!(matches!(
        out.to_agent("a")[..],
        [AgentNotice::CustomerMessage { conversation, .. }] if *conversation == id
    ));
}

// ----- decline -----

#[test]
fn declined_conversation_keeps_its_key_goes_elsewhere_and_returns_after_cooldown() {
    let mut fx = Fixture::new();
    let cooldown = fx.router.policy().decline_cooldown_ms;
    fx.sign_in(T0, agent("a", &[], 1));
    fx.sign_in(T0 + 1, agent("b", &[], 1));
    let (id, out) = fx.arrive(T0 + 10, message("x", 0.0));
    assert_eq!(out.offers(), vec![("a".to_owned(), id)]);
    let key = fx.key(id);
    let conv = id.to_string();

    let t = T0 + 20;
    let (r, out) = fx.run(|r| r.decline(t, "a", &conv));
    r.unwrap();
    assert_eq!(out.queued(id), vec![(QueueReason::Declined, key)]);
    assert_eq!(out.offers(), vec![("b".to_owned(), id)]);
    assert_eq!(fx.key(id), key);

    let (r, out) = fx.run(|r| r.decline(t + 1, "b", &conv));
    r.unwrap();
    assert_eq!(out.queued(id), vec![(QueueReason::Declined, key)]);
    assert!(out.offers().is_empty(), "both declined within the cooldown");
    assert_eq!(fx.state(id), queued());
    assert_eq!(fx.key(id), key);

    // Capacity freeing elsewhere does not bring it back to a decliner either.
    let (r, out) = fx.run(|r| r.set_presence(t + 2, "a", Presence::Available));
    r.unwrap();
    assert!(out.offers().is_empty());
    let out = fx.tick(t + cooldown - 1);
    assert!(out.offers().is_empty());
    assert_eq!(fx.state(id), queued());

    // a's cooldown ends first; the tick re-offers it to a.
    let out = fx.tick(t + cooldown);
    assert_eq!(out.offers(), vec![("a".to_owned(), id)]);
    assert_eq!(fx.key(id), key);
}

#[test]
fn decliner_is_offered_other_waiting_work() {
    let mut fx = Fixture::new();
    let (first, _) = fx.arrive(T0, message("first", 0.0));
    let (second, _) = fx.arrive(T0 + 1, message("second", 0.0));
    let out = fx.sign_in(T0 + 2, agent("a", &[], 1));
    assert_eq!(out.offers(), vec![("a".to_owned(), first)]);
    let (r, out) = fx.run(|r| r.decline(T0 + 3, "a", &first.to_string()));
    r.unwrap();
    assert_eq!(out.offers(), vec![("a".to_owned(), second)]);
    assert_eq!(fx.state(first), queued());
}

// ----- offer timeout -----

#[test]
fn offer_timeout_withdraws_sets_away_and_keeps_the_key() {
    let mut fx = Fixture::with_policy(RoutingPolicy {
        offer_timeout_ms: 10_000,
        ..policy()
    });
    let timeout = fx.router.policy().offer_timeout_ms;
    fx.sign_in(T0, agent("a", &[], 1));
    let (id, _) = fx.arrive(T0 + 5, message("x", 0.0));
    let key = fx.key(id);
    assert_eq!(fx.state(id), offered("a"));

    let out = fx.tick(T0 + 5 + timeout - 1);
    assert!(out.notices.is_empty() && out.events.is_empty());

    let out = fx.tick(T0 + 5 + timeout);
    assert_eq!(
        out.to_agent("a"),
        vec![
            &AgentNotice::OfferWithdrawn {
                conversation: id,
                reason: "timeout",
            },
            &AgentNotice::PresenceChanged {
                presence: Presence::Away,
                reason: "offer_timeout",
            },
        ]
    );
    assert_eq!(out.queued(id), vec![(QueueReason::OfferTimeout, key)]);
    assert_eq!(fx.view(T0 + 5 + timeout, "a").presence, Presence::Away);
    assert_eq!(fx.state(id), queued());
    assert_eq!(fx.key(id), key);
    assert_eq!(fx.router.agent_state_counts().away, 1);

    // Coming back pulls it again.
    let (r, out) = fx.run(|r| r.set_presence(T0 + 20_000, "a", Presence::Available));
    r.unwrap();
    assert_eq!(out.offers(), vec![("a".to_owned(), id)]);
}

#[test]
fn timed_out_offer_goes_to_another_agent() {
    let mut fx = Fixture::new();
    let timeout = fx.router.policy().offer_timeout_ms;
    fx.sign_in(T0, agent("a", &[], 1));
    fx.sign_in(T0 + 1, agent("b", &[], 1));
    let (id, _) = fx.arrive(T0 + 5, message("x", 0.0));
    assert_eq!(fx.state(id), offered("a"));
    let out = fx.tick(T0 + 5 + timeout);
    assert_eq!(out.offers(), vec![("b".to_owned(), id)]);
    // Accepting a withdrawn offer is refused.
    let (r, _) = fx.run(|r| r.accept(T0 + 5 + timeout, "a", &id.to_string()));
    failed_precondition(r);
}

#[test]
fn simultaneous_timeouts_are_not_reoffered_to_a_timed_out_agent() {
    let mut fx = Fixture::new();
    let timeout = fx.router.policy().offer_timeout_ms;
    fx.sign_in(T0, agent("p", &[], 1));
    fx.sign_in(T0 + 1, agent("q", &[], 2));
    let (x, _) = fx.arrive(T0 + 10, message("x", 0.0));
    let (z, _) = fx.arrive(T0 + 10, message("z", 0.0));
    assert_eq!(fx.state(x), offered("p"));
    assert_eq!(fx.state(z), offered("q"));
    fx.sign_in(T0 + 20, agent("r", &[], 1));

    // p and q both let their offers expire at the same instant; r is the only agent
    // still answering, and x (first in the serving order) should go to r.
    let out = fx.tick(T0 + 10 + timeout);
    for who in ["p", "q"] {
        assert_eq!(fx.view(T0 + 10 + timeout, who).presence, Presence::Away);
        assert!(
            fx.view(T0 + 10 + timeout, who).conversations.is_empty(),
            "{who} timed out in this tick and must not get a new offer in it: {:?}",
            out.offers()
        );
    }
    assert_eq!(out.offers(), vec![("r".to_owned(), x)]);
    assert_eq!(fx.state(z), queued());
}

// ----- sign-out -----

#[test]
fn sign_out_requeues_held_conversations_as_agent_lost_and_reroutes_them() {
    let mut fx = Fixture::new();
    fx.sign_in(T0, agent("a", &[], 2));
    let (held, _) = fx.arrive(T0 + 10, message("held", 0.0));
    fx.accept(T0 + 11, "a", held);
    let (pending, _) = fx.arrive(T0 + 20, message("pending", 0.0));
    assert_eq!(fx.state(pending), offered("a"));
    fx.sign_in(T0 + 30, agent("b", &[], 2));
    let keys = (fx.key(held), fx.key(pending));

    let (r, out) = fx.run(|r| r.sign_out(T0 + 40, "a"));
    r.unwrap();
    assert_eq!(out.queued(held), vec![(QueueReason::AgentLost, keys.0)]);
    assert_eq!(out.queued(pending), vec![(QueueReason::AgentLost, keys.1)]);
    let mut offers = out.offers();
    offers.sort();
    assert_eq!(
        offers,
        vec![("b".to_owned(), held), ("b".to_owned(), pending)]
    );
    assert!(out.to_agent("a").is_empty(), "a is gone");
    // The customer who was being served hears about it.
    assert!(matches!(
        out.to_customer(held)[..],
        [CustomerNoticeBody::Message {
            sender: Sender::System,
            ..
        }]
    ));
    assert_eq!((fx.key(held), fx.key(pending)), keys);
    assert!(fx.router.agents(T0 + 40).iter().all(|v| &*v.id != "a"));
    // The banked wait of the served one counts on.
    let snap = fx.router.snapshot(held).unwrap();
    assert_eq!(snap.waited_before_ms, 1);
    assert_eq!(snap.waiting_since, Some(T0 + 40));
}

#[test]
fn sign_out_reroutes_held_conversations_in_serving_order() {
    let mut fx = Fixture::new();
    fx.sign_in(T0, agent("a", &[], 2));
    let (low, _) = fx.arrive(T0 + 10, message("low", 0.0));
    let (high, _) = fx.arrive(T0 + 20, message("high", 200_000.0));
    fx.accept(T0 + 21, "a", low);
    fx.accept(T0 + 22, "a", high);
    fx.sign_in(T0 + 30, agent("b", &[], 1));
    assert!(fx.key(high) < fx.key(low));

    let (r, out) = fx.run(|r| r.sign_out(T0 + 40, "a"));
    r.unwrap();
    assert_eq!(
        out.offers(),
        vec![("b".to_owned(), high)],
        "the platinum customer keeps its place ahead of the standard one"
    );
    assert_eq!(fx.state(low), queued());
}

// ----- abandon -----

#[test]
fn abandon_while_queued_ends_it() {
    let mut fx = Fixture::new();
    let busy = busy_agent(&mut fx);
    let (id, _) = fx.arrive(T0 + 100, message("x", 0.0));
    let (r, out) = fx.run(|r| r.abandon(T0 + 400, Channel::Web, "x", "customer-x"));
    assert_eq!(r, Ok(id));
    assert!(fx.router.snapshot(id).is_none());
    assert_eq!(fx.router.waiting_len(), 0);
    assert_eq!(
        out.kinds(id),
        vec![&EventKind::Abandoned {
            waited_ms: 300,
            while_waiting: true,
        }]
    );
    assert!(out.to_agent("a").is_empty());
    assert_eq!(
        fx.board.get(id).unwrap().state,
        ConversationState::Abandoned
    );
    let (r, _) = fx.run(|r| r.abandon(T0 + 401, Channel::Web, "x", "customer-x"));
    assert!(matches!(r, Err(RoutingError::ConversationNotFound(_))));
    assert_eq!(fx.state(busy), assigned("a"));

    // The customer writing again opens a new conversation.
    let (again, _) = fx.arrive(T0 + 500, message("x", 0.0));
    assert_ne!(again, id);
}

#[test]
fn abandon_while_offered_withdraws_and_pulls_the_next() {
    let mut fx = Fixture::new();
    fx.sign_in(T0, agent("a", &[], 1));
    let (id, _) = fx.arrive(T0 + 10, message("x", 0.0));
    let (next, _) = fx.arrive(T0 + 20, message("next", 0.0));
    assert_eq!(fx.state(id), offered("a"));
    let (r, out) = fx.run(|r| r.abandon(T0 + 30, Channel::Web, "x", "customer-x"));
    assert_eq!(r, Ok(id));
    assert!(fx.router.snapshot(id).is_none());
    assert_eq!(
        out.to_agent("a")[0],
        &AgentNotice::OfferWithdrawn {
            conversation: id,
            reason: "abandoned",
        }
    );
    assert!(matches!(
        out.kinds(id)[..],
        [EventKind::Abandoned {
            while_waiting: true,
            waited_ms: 20,
        }]
    ));
    assert_eq!(out.offers(), vec![("a".to_owned(), next)]);
    // The withdrawn offer's deadline is gone too: nothing happens at its expiry.
    fx.accept(T0 + 40, "a", next);
    let expiry = T0 + 10 + fx.router.policy().offer_timeout_ms;
    let out = fx.tick(expiry);
    assert!(out.notices.is_empty() && out.events.is_empty());
}

#[test]
fn abandon_while_assigned_ends_it_for_the_agent_and_pulls_the_next() {
    let mut fx = Fixture::new();
    let busy = busy_agent(&mut fx);
    let (next, _) = fx.arrive(T0 + 20, message("next", 0.0));
    let (r, out) = fx.run(|r| r.abandon(T0 + 30, Channel::Web, "busy", "customer-busy"));
    assert_eq!(r, Ok(busy));
    assert!(fx.router.snapshot(busy).is_none());
    assert_eq!(
        out.to_agent("a")[0],
        &AgentNotice::Ended {
            conversation: busy,
            reason: EndReason::Abandoned,
        }
    );
    assert!(matches!(
        out.kinds(busy)[..],
        [EventKind::Abandoned {
            while_waiting: false,
            ..
        }]
    ));
    assert_eq!(out.offers(), vec![("a".to_owned(), next)]);
    let (r, _) = fx.run(|r| r.reply(T0 + 31, "a", &busy.to_string(), "hello?"));
    assert!(matches!(r, Err(RoutingError::ConversationNotFound(_))));
}

#[test]
fn close_tells_the_customer_and_frees_capacity() {
    let mut fx = Fixture::new();
    let busy = busy_agent(&mut fx);
    let out = fx.close(T0 + 50, "a", busy);
    assert_eq!(
        out.to_customer(busy),
        vec![&CustomerNoticeBody::Closed(EndReason::ClosedByAgent)]
    );
    assert!(matches!(out.kinds(busy)[..], [EventKind::Closed { .. }]));
    assert!(fx.router.snapshot(busy).is_none());
    assert_eq!(fx.view(T0 + 50, "a").load, PerClass::default());
    assert_eq!(fx.board.get(busy).unwrap().state, ConversationState::Closed);
}

// ----- transfer -----

#[test]
fn transfer_to_skill_keeps_the_key_and_waits_for_that_skill() {
    let mut fx = Fixture::new();
    fx.sign_in(T0, agent("a", &[], 1));
    fx.sign_in(T0 + 1, agent("b", &[("sales", 5)], 1));
    let (id, _) = fx.arrive(T0 + 10, message("x", 0.0));
    fx.accept(T0 + 11, "a", id);
    let key = fx.key(id);

    let (r, out) = fx.run(|r| {
        r.transfer(
            T0 + 20,
            "a",
            &id.to_string(),
            TransferRequest::Skill("billing".into()),
        )
    });
    r.unwrap();
    let kinds = out.kinds(id);
    assert!(matches!(
        kinds[0],
        EventKind::Transferred { from, target: TransferTarget::Skill(s) }
            if &**from == "a" && &**s == "billing"
    ));
    assert_eq!(out.queued(id), vec![(QueueReason::Transferred, key)]);
    assert!(out.offers().is_empty(), "neither a nor b has billing");
    assert_eq!(fx.state(id), queued());
    assert_eq!(
        fx.router.snapshot(id).unwrap().required,
        vec![(Arc::from("billing"), 1)].into()
    );
    assert!(fx.view(T0 + 20, "a").conversations.is_empty());

    let out = fx.sign_in(T0 + 30, agent("c", &[("billing", 1)], 1));
    assert_eq!(out.offers(), vec![("c".to_owned(), id)]);
    assert_eq!(fx.key(id), key);
}

#[test]
fn transfer_to_queue_takes_the_queue_requirement() {
    let mut fx = Fixture::with_policy(RoutingPolicy {
        queues: vec![
            QueueSpec {
                name: "default".to_owned(),
                required_skills: Vec::new(),
                ..QueueSpec::default()
            },
            QueueSpec {
                name: "vip".to_owned(),
                required_skills: vec!["sales:2".to_owned()],
                ..QueueSpec::default()
            },
        ],
        ..policy()
    });
    fx.sign_in(T0, agent("a", &[], 1));
    let (id, _) = fx.arrive(T0 + 10, message("x", 0.0));
    fx.accept(T0 + 11, "a", id);
    let key = fx.key(id);
    let (r, _) = fx.run(|r| {
        r.transfer(
            T0 + 12,
            "a",
            &id.to_string(),
            TransferRequest::Queue("nope".into()),
        )
    });
    assert!(matches!(
        r,
        Err(RoutingError::InvalidArgument {
            field: "transfer.queue",
            ..
        })
    ));
    assert_eq!(fx.state(id), assigned("a"));

    let (r, out) = fx.run(|r| {
        r.transfer(
            T0 + 20,
            "a",
            &id.to_string(),
            TransferRequest::Queue("vip".into()),
        )
    });
    r.unwrap();
    assert_eq!(out.queued(id), vec![(QueueReason::Transferred, key)]);
    let snap = fx.router.snapshot(id).unwrap();
    assert_eq!(snap.queue, 1);
    assert_eq!(snap.required, vec![(Arc::from("sales"), 2)].into());
    let out = fx.sign_in(T0 + 30, agent("s", &[("sales", 1)], 1));
    assert!(out.offers().is_empty());
    let out = fx.sign_in(T0 + 31, agent("v", &[("sales", 2)], 1));
    assert_eq!(out.offers(), vec![("v".to_owned(), id)]);
}

#[test]
fn transfer_to_agent_offers_it_to_that_agent() {
    let mut fx = Fixture::new();
    fx.sign_in(T0, agent("a", &[], 1));
    fx.sign_in(T0 + 1, agent("b", &[], 1));
    fx.sign_in(T0 + 2, agent("c", &[], 1));
    let (id, _) = fx.arrive(T0 + 10, message("x", 0.0));
    fx.accept(T0 + 11, "a", id);
    let key = fx.key(id);

    // c is not the longest idle, but is asked for by name.
    let (r, out) = fx.run(|r| {
        r.transfer(
            T0 + 20,
            "a",
            &id.to_string(),
            TransferRequest::Agent("c".into()),
        )
    });
    r.unwrap();
    assert!(matches!(
        out.kinds(id)[..],
        [
            EventKind::Transferred {
                target: TransferTarget::Agent(_),
                ..
            },
            EventKind::Offered { .. }
        ]
    ));
    assert_eq!(out.offers(), vec![("c".to_owned(), id)]);
    assert_eq!(fx.state(id), offered("c"));
    assert_eq!(fx.key(id), key);
    fx.accept(T0 + 21, "c", id);
    assert_eq!(fx.state(id), assigned("c"));
}

#[test]
fn transfer_to_a_full_away_or_self_agent_is_refused() {
    let mut fx = Fixture::new();
    fx.sign_in(T0, agent("a", &[], 1));
    fx.sign_in(T0 + 1, agent("full", &[], 1));
    let (id, _) = fx.arrive(T0 + 10, message("x", 0.0));
    let (other, _) = fx.arrive(T0 + 11, message("y", 0.0));
    fx.accept(T0 + 12, "a", id);
    assert_eq!(fx.state(other), offered("full"));
    fx.sign_in(T0 + 13, agent("away", &[], 3));
    fx.run(|r| r.set_presence(T0 + 14, "away", Presence::Away))
        .0
        .unwrap();
    let conv = id.to_string();

    for target in ["full", "away"] {
        let (r, out) =
            fx.run(|r| r.transfer(T0 + 20, "a", &conv, TransferRequest::Agent(target.into())));
        failed_precondition(r);
        assert!(out.events.is_empty() && out.notices.is_empty());
        assert_eq!(fx.state(id), assigned("a"));
    }
    let (r, _) = fx.run(|r| r.transfer(T0 + 21, "a", &conv, TransferRequest::Agent("a".into())));
    assert!(
        matches!(r, Err(RoutingError::InvalidArgument { .. })),
        "got {r:?}"
    );
    assert_eq!(fx.state(id), assigned("a"));
}

// ----- events -----

#[test]
fn events_are_numbered_gap_free_from_one_across_a_whole_workload() {
    let mut fx = Fixture::new();
    let mut seqs = Vec::new();
    let mut record = |out: Out| seqs.extend(out.events.iter().map(|e| e.seq));
    record(fx.sign_in(T0, agent("a", &[], 2)));
    let (c1, out) = fx.arrive(T0 + 1, message("one", 0.0));
    record(out);
    let (_, out) = fx.arrive(T0 + 2, message("two", 5_000.0));
    record(out);
    let (c3, out) = fx.arrive(T0 + 3, message("three", 0.0));
    record(out);
    record(fx.accept(T0 + 4, "a", c1));
    record(fx.tick(T0 + 100_000));
    record(fx.close(T0 + 100_001, "a", c1));
    record(
        fx.run(|r| r.abandon(T0 + 100_002, Channel::Web, "three", "customer-three"))
            .1,
    );
    record(fx.run(|r| r.sign_out(T0 + 100_003, "a")).1);
    assert!(fx.router.snapshot(c3).is_none());
    let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, expected);
    assert!(seqs.len() > 10);
    assert_eq!(fx.board.last_seq(), seqs.len() as u64);
}

// ----- concurrency -----

/// A small deterministic generator, so the workload needs no extra crates.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            None
        } else {
            Some(&items[self.below(items.len() as u64) as usize])
        }
    }
}

const SKILLS: [&str; 2] = ["billing", "tech"];

/// Applies drained events to the board, checking each `Offered` finds the conversation
/// not already offered or assigned (as the events so far tell it).
fn apply_checked(board: &mut Board, events: &[Event]) {
    for e in events {
        if let EventKind::Offered { agent, .. } = &e.kind {
            let before = board
                .get(e.conversation)
                .map(|c| (c.state, c.agent.clone()));
            assert_eq!(
                before,
                Some((ConversationState::Queued, None)),
                "{} offered to {agent} while still offered or assigned",
                e.conversation
            );
        }
        board.apply(e);
    }
}

fn worker(thread: u64, shared: &Mutex<(Router, Board)>, clock: &AtomicU64, ops: usize) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (thread + 1).wrapping_mul(0x1234_5678_9abc_def1));
    let agents: Vec<String> = (0..3).map(|i| format!("t{thread}-agent{i}")).collect();
    let mut customers: Vec<(Channel, String)> = Vec::new();
    let mut next_customer = 0;
    for step in 0..ops {
        let mut guard = shared.lock().unwrap();
        let (router, board) = &mut *guard;
        let now = clock.fetch_add(rng.below(300), Ordering::SeqCst);
        // Conversations my agents hold, split by state.
        let mine: Vec<(String, ConversationId, ConversationState)> = router
            .agents(now)
            .into_iter()
            .filter(|v| agents.iter().any(|a| **a == *v.id))
            .flat_map(|v| {
                v.conversations
                    .iter()
                    .map(|&id| {
                        let state = router.snapshot(id).expect("held conversation").state;
                        (v.id.to_string(), id, state)
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let of = |wanted: ConversationState| -> Vec<(String, ConversationId)> {
            mine.iter()
                .filter(|(_, _, s)| *s == wanted)
                .map(|(a, id, _)| (a.clone(), *id))
                .collect()
        };
        match rng.below(100) {
            0..=14 => {
                let ccid = format!("t{thread}-customer{next_customer}");
                next_customer += 1;
                let clv = [0.0, 5_000.0, 50_000.0, 200_000.0][rng.below(4) as usize];
                let mut msg = message(&ccid, clv);
                if rng.below(3) == 0 {
                    msg.channel = Channel::Email;
                }
                if rng.below(2) == 0 {
                    let skill = SKILLS[rng.below(2) as usize];
                    msg.required_skills = vec![(skill.to_owned(), 1 + rng.below(2) as u8)];
                }
                customers.push((msg.channel, ccid));
                router.customer_message(now, msg).unwrap();
            }
            15..=19 => {
                if let Some((channel, ccid)) = rng.pick(&customers).cloned() {
                    let text = format!("more {step}");
                    let msg = InboundMessage {
                        channel,
                        ..said(&ccid, &text, None)
                    };
                    // Opens a new conversation when the old one has ended.
                    router.customer_message(now, msg).unwrap();
                }
            }
            20..=27 => {
                let id = rng.pick(&agents).unwrap().clone();
                let mut skills = Vec::new();
                for skill in SKILLS {
                    if rng.below(2) == 0 {
                        skills.push((skill, 1 + rng.below(3) as u8));
                    }
                }
                let mut sign_in = agent(&id, &skills, 1 + rng.below(3) as u32);
                sign_in.capacity.0[1] = rng.below(2) as u32;
                match router.sign_in(now, sign_in) {
                    Ok(()) | Err(RoutingError::AlreadySignedIn(_)) => {}
                    Err(e) => panic!("sign-in of {id}: {e}"),
                }
            }
            28..=30 => {
                let id = rng.pick(&agents).unwrap();
                match router.sign_out(now, id) {
                    Ok(()) | Err(RoutingError::AgentNotFound(_)) => {}
                    Err(e) => panic!("sign-out of {id}: {e}"),
                }
            }
            31..=52 => {
                if let Some((who, id)) = rng.pick(&of(ConversationState::Offered)) {
                    router.accept(now, who, &id.to_string()).unwrap();
                }
            }
            53..=58 => {
                if let Some((who, id)) = rng.pick(&of(ConversationState::Offered)) {
                    router.decline(now, who, &id.to_string()).unwrap();
                }
            }
            59..=74 => {
                if let Some((who, id)) = rng.pick(&of(ConversationState::Assigned)) {
                    router.reply(now, who, &id.to_string(), "done").unwrap();
                    router.close(now, who, &id.to_string()).unwrap();
                }
            }
            75..=80 => {
                if !customers.is_empty() {
                    let at = rng.below(customers.len() as u64) as usize;
                    let (channel, ccid) = customers.swap_remove(at);
                    // An agent (of either thread) may have closed it already.
                    match router.abandon(now, channel, &ccid, &format!("customer-{ccid}")) {
                        Ok(_) | Err(RoutingError::ConversationNotFound(_)) => {}
                        Err(e) => panic!("abandon {ccid}: {e}"),
                    }
                }
            }
            81..=90 => router.tick(now),
            _ => {
                let id = rng.pick(&agents).unwrap();
                let presence = if rng.below(4) == 0 {
                    Presence::Away
                } else {
                    Presence::Available
                };
                match router.set_presence(now, id, presence) {
                    Ok(()) | Err(RoutingError::AgentNotFound(_)) => {}
                    Err(e) => panic!("presence of {id}: {e}"),
                }
            }
        }
        let (events, _notices) = router.drain();
        apply_checked(board, &events);
        if let Err(broken) = router.check_invariants() {
            panic!("thread {thread} step {step}: invariant broken: {broken}");
        }
        assert_eq!(board.waiting_len(), router.waiting_len());
    }
}

/// The router is single-threaded by design: the tenant layer serialises every call on a tenant
/// behind that tenant's lock, and so does this test, with one mutex around router and
/// board. What it shows is what that arrangement needs: a router can move between
/// threads (`Send`), and two independent workloads whose calls interleave in whatever
/// order the scheduler picks (each thread seeing conversations and agents the other
/// changed) keep every invariant after every call, with the board built from the
/// events agreeing with the router at the end. It says nothing about calls running at
/// the same time: they never do.
#[test]
fn two_workloads_interleaved_behind_one_tenant_lock_keep_every_invariant() {
    fn moves_between_threads<T: Send>() {}
    moves_between_threads::<Router>();
    moves_between_threads::<Board>();
    const OPS: usize = 3_000;
    let router = Router::new(RoutingPolicy {
        offer_timeout_ms: 5_000,
        decline_cooldown_ms: 10_000,
        ..policy()
    })
    .unwrap();
    let shared = Arc::new(Mutex::new((router, Board::new(100_000))));
    let clock = Arc::new(AtomicU64::new(T0));
    let handles: Vec<_> = (0..2)
        .map(|thread| {
            let shared = Arc::clone(&shared);
            let clock = Arc::clone(&clock);
            thread::spawn(move || worker(thread, &shared, &clock, OPS))
        })
        .collect();
    for handle in handles {
        handle.join().expect("worker thread panicked");
    }

    let guard = shared.lock().unwrap();
    let (router, board) = &*guard;
    router.check_invariants().unwrap();
    let open: HashSet<ConversationId> = router.open_ids().into_iter().collect();
    for &id in &open {
        assert_eq!(
            board.get(id),
            router.snapshot(id).as_ref(),
            "board vs router on {id}"
        );
    }
    let board_open: HashSet<ConversationId> = board.open().map(|c| c.id).collect();
    assert_eq!(board_open, open);
    assert_eq!(board.waiting_len(), router.waiting_len());
    assert!(board.last_seq() > 1_000, "the workload did something");
}

// ----- queue status updates -----

fn queue_statuses(out: &Out, id: ConversationId) -> Vec<QueueStatus> {
    out.to_customer(id)
        .into_iter()
        .filter_map(|b| match b {
            CustomerNoticeBody::Message {
                queue_status: Some(s),
                ..
            } => Some(*s),
            _ => None,
        })
        .collect()
}

#[test]
fn waiting_customers_hear_again_only_when_their_place_moved_meaningfully() {
    let mut fx = Fixture::with_policy(RoutingPolicy {
        queue_update_interval_ms: 1_000,
        ..policy()
    });
    fx.sign_in(T0, agent("ann", &[], 1));
    let (first, _) = fx.arrive(T0 + 1, message("q-0", 0.0));
    let ids: Vec<ConversationId> = (1..=5)
        .map(|i| fx.arrive(T0 + 1 + i, message(&format!("q-{i}"), 0.0)).0)
        .collect();
    // Nothing moved: a refresh tells nobody anything new.
    let out = fx.tick(T0 + 1_000);
    assert!(ids.iter().all(|&id| queue_statuses(&out, id).is_empty()));

    // The agent finishes the first conversation and takes the next: everyone moves up
    // one place. Position 2 -> 1 (to the front) and 5 -> 4 (80%) are meaningful;
    // 3 -> 2 and 4 -> 3 are too (at most 80% of the old place); nobody is told twice.
    fx.accept(T0 + 2_000, "ann", first);
    fx.close(T0 + 2_001, "ann", first);
    let out = fx.tick(T0 + 3_000);
    assert_eq!(
        queue_statuses(&out, ids[0]),
        Vec::<QueueStatus>::new(),
        "offered now"
    );
    let told: Vec<u32> = ids[1..]
        .iter()
        .map(|&id| queue_statuses(&out, id).first().map_or(0, |s| s.position))
        .collect();
    assert_eq!(told, vec![1, 2, 3, 4]);
    // Within the interval nothing is re-evaluated.
    let out = fx.tick(T0 + 3_500);
    assert!(ids.iter().all(|&id| queue_statuses(&out, id).is_empty()));
}

/// The text of the one system note in `out` for `id`.
fn note_text(out: &Out, id: ConversationId) -> String {
    let texts: Vec<String> = out
        .to_customer(id)
        .into_iter()
        .filter_map(|b| match b {
            CustomerNoticeBody::Message {
                sender: Sender::System,
                text,
                ..
            } => Some(text.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(texts.len(), 1, "one system note: {texts:?}");
    texts.into_iter().next().unwrap()
}

#[test]
fn nobody_is_told_an_estimate_while_no_signed_in_agent_can_serve_them() {
    let mut fx = Fixture::with_policy(RoutingPolicy {
        queue_update_interval_ms: 1_000,
        ..policy()
    });
    // No agent at all.
    let (alone, out) = fx.arrive(T0, needing("alone", &[("billing", 3)]));
    let status = first_response_status(&out, alone);
    assert_eq!((status.position, status.estimated_wait_secs), (1, 0));
    assert!(status.no_agent());
    let text = note_text(&out, alone);
    assert!(text.contains("No agent who can help"), "{text}");
    assert!(!text.contains("min"), "no estimate: {text}");
    // The same in Chinese.
    let zh = InboundMessage {
        language: "zh".to_owned(),
        ..needing("zh", &[("billing", 3)])
    };
    let (zh, out) = fx.arrive(T0 + 1, zh);
    let text = note_text(&out, zh);
    assert!(
        text.contains("目前没有") && !text.contains("分钟"),
        "{text}"
    );

    // Agents signed in, but none with the skill at the level needed: still none.
    fx.sign_in(T0 + 2, agent("orders-only", &[("orders", 5)], 2));
    fx.sign_in(T0 + 3, agent("junior", &[("billing", 2)], 2));
    let (short, out) = fx.arrive(T0 + 4, needing("short", &[("billing", 3)]));
    assert!(first_response_status(&out, short).no_agent());
    // Someone who could serve them but is on a break does not count: nobody knows
    // when they are back, so there is no estimate to give.
    let away = SignIn {
        presence: Presence::Away,
        ..agent("senior", &[("billing", 4)], 1)
    };
    fx.sign_in(T0 + 5, away);
    let (on_break, out) = fx.arrive(T0 + 6, needing("on-break", &[("billing", 3)]));
    assert!(first_response_status(&out, on_break).no_agent());
    assert!(note_text(&out, on_break).contains("available right now"));
    // Back from the break: the first in line is offered to them, and the rest are
    // given an estimate.
    fx.run(|r| r.set_presence(T0 + 7, "senior", Presence::Available))
        .0
        .unwrap();
    let (served, out) = fx.arrive(T0 + 8, needing("served", &[("billing", 3)]));
    let status = first_response_status(&out, served);
    assert!(
        status.position == 4 && status.estimated_wait_secs > 0,
        "{status:?}"
    );
    assert!(note_text(&out, served).contains("about"));

    // The refresh tells those told "no agent" that one is there now, with the
    // estimate; the one told an estimate already hears nothing new.
    let out = fx.tick(T0 + 1_000);
    for id in [zh, short, on_break] {
        let told = queue_statuses(&out, id);
        assert!(
            told.len() == 1 && told[0].estimated_wait_secs > 0,
            "{id}: {told:?}"
        );
    }
    assert!(queue_statuses(&out, served).is_empty());
    // The agent signs out: back to "no agent" for everyone, at the next refresh.
    fx.run(|r| r.sign_out(T0 + 1_500, "senior")).0.unwrap();
    let out = fx.tick(T0 + 2_000);
    for id in [alone, zh, short, on_break, served] {
        let told = queue_statuses(&out, id);
        assert!(told.len() == 1 && told[0].no_agent(), "{id}: {told:?}");
    }
}

#[test]
fn a_refresh_over_many_waiting_customers_is_spread_over_ticks_in_serving_order() {
    let mut fx = Fixture::with_policy(RoutingPolicy {
        queue_update_interval_ms: 1_000,
        max_open_conversations: 100_000,
        ..policy()
    });
    let waiting = super::engine::REFRESH_PER_TICK + 100;
    // Straight into the router, checked once after: the fixture checks every
    // invariant after each operation, which over thousands of arrivals is slow.
    let ids: Vec<ConversationId> = (0..waiting)
        .map(|i| {
            let msg = message(&format!("many-{i}"), 0.0);
            let outcome = fx.router.customer_message(T0 + i as Millis, msg);
            outcome.expect("message taken").conversation
        })
        .collect();
    fx.settle();
    // Capacity for two more: every estimate halves, so every customer is due a note,
    // but one tick tells no more than its budget, front of the queue first.
    fx.sign_in(T0 + 10_000, agent("ann", &[], 2));
    let first = fx.tick(T0 + 11_000);
    let told_first: Vec<usize> = (0..waiting)
        .filter(|&i| !queue_statuses(&first, ids[i]).is_empty())
        .collect();
    assert_eq!(told_first.len(), super::engine::REFRESH_PER_TICK);
    assert_eq!(
        told_first.first(),
        Some(&2),
        "the two offered are not waiting"
    );
    assert!(told_first.windows(2).all(|w| w[1] == w[0] + 1));
    // The next tick, still within the interval, goes on where the first stopped.
    let second = fx.tick(T0 + 11_100);
    let told_second: Vec<usize> = (0..waiting)
        .filter(|&i| !queue_statuses(&second, ids[i]).is_empty())
        .collect();
    assert_eq!(told_second.first(), Some(&(told_first.last().unwrap() + 1)));
    assert_eq!(told_second.last(), Some(&(waiting - 1)));
    // The pass is over: nothing more until the next interval.
    let third = fx.tick(T0 + 11_200);
    assert!(ids.iter().all(|&id| queue_statuses(&third, id).is_empty()));
}

#[test]
fn queue_updates_can_be_turned_off() {
    let mut fx = Fixture::with_policy(RoutingPolicy {
        queue_update_interval_ms: 0,
        ..policy()
    });
    let (a, _) = fx.arrive(T0, message("off-a", 0.0));
    let (b, _) = fx.arrive(T0 + 1, message("off-b", 0.0));
    let _ = fx.run(|r| r.abandon(T0 + 2, Channel::Web, "off-a", "customer-off-a"));
    let out = fx.tick(T0 + 100_000);
    assert!(queue_statuses(&out, a).is_empty());
    assert!(queue_statuses(&out, b).is_empty());
}

// ----- boosts -----

#[test]
fn a_complaint_moves_a_waiting_customer_ahead_within_the_bound_only() {
    let mut fx = Fixture::new();
    let (early, _) = fx.arrive(T0, message("early", 0.0));
    let mut complaint = message("complaint", 0.0);
    complaint.boosts.insert(Boost::Complaint);
    // 59 s later: a complaint (60 points) still goes first.
    let (angry, _) = fx.arrive(T0 + 59_000, complaint);
    assert!(fx.key(angry) < fx.key(early));
    // A boost on a later message re-keys a waiting conversation as if it had it from
    // the start, and emits the event the board needs to follow.
    let (late, _) = fx.arrive(T0 + 100_000, message("late", 0.0));
    let before = fx.key(late);
    let mut churn = message("late", 0.0);
    churn.boosts.insert(Boost::ChurnRisk);
    let (_, out) = fx.run(|r| r.customer_message(T0 + 100_001, churn));
    assert!(
        out.kinds(late)
            .iter()
            .any(|k| matches!(k, EventKind::Boosted { .. }))
    );
    assert_eq!(
        fx.key(late).virtual_arrival,
        before.virtual_arrival - 60_000
    );
    assert!(
        fx.key(late) > fx.key(early),
        "arrived 100 s later: still behind"
    );
    // Who is served first: the complaint.
    let out = fx.sign_in(T0 + 100_002, agent("ann", &[], 1));
    assert_eq!(out.offers(), vec![("ann".to_owned(), angry)]);
}

#[test]
fn the_service_level_boost_applies_once_after_the_configured_wait() {
    let mut policy = policy();
    policy.priority.boosts.service_level_risk_after_secs = 45;
    let mut fx = Fixture::with_policy(policy);
    let (old, _) = fx.arrive(T0, message("old", 0.0));
    let before = fx.key(old);
    let out = fx.tick(T0 + 44_999);
    assert!(out.kinds(old).is_empty());
    let out = fx.tick(T0 + 45_000);
    assert_eq!(out.kinds(old).len(), 1);
    assert_eq!(fx.key(old).virtual_arrival, before.virtual_arrival - 30_000);
    assert!(fx.tick(T0 + 90_000).kinds(old).is_empty(), "once only");
}

// ----- wrap-up -----

#[test]
fn wrap_up_holds_offers_until_its_timer_or_the_agent_ends_it() {
    let mut fx = Fixture::with_policy(RoutingPolicy {
        wrap_up_ms: 10_000,
        ..policy()
    });
    fx.sign_in(T0, agent("ann", &[], 1));
    let (first, _) = fx.arrive(T0 + 1, message("w-1", 0.0));
    let (second, _) = fx.arrive(T0 + 2, message("w-2", 0.0));
    fx.accept(T0 + 3, "ann", first);
    let out = fx.close(T0 + 4, "ann", first);
    assert!(out.offers().is_empty(), "no offer during wrap-up");
    assert!(out.to_agent("ann").iter().any(|n| matches!(
        n,
        AgentNotice::PresenceChanged {
            presence: Presence::WrapUp,
            ..
        }
    )));
    assert_eq!(fx.view(T0 + 5, "ann").presence, Presence::WrapUp);
    assert!(fx.tick(T0 + 10_003).offers().is_empty());
    let out = fx.tick(T0 + 10_004);
    assert_eq!(out.offers(), vec![("ann".to_owned(), second)]);
    assert_eq!(fx.view(T0 + 10_005, "ann").presence, Presence::Available);

    // Ending wrap-up early: setting a presence ends it; wrap-up itself cannot be set.
    fx.accept(T0 + 10_006, "ann", second);
    let (third, _) = fx.arrive(T0 + 10_007, message("w-3", 0.0));
    fx.close(T0 + 10_008, "ann", second);
    let (result, _) = fx.run(|r| r.set_presence(T0 + 10_009, "ann", Presence::WrapUp));
    assert!(matches!(result, Err(RoutingError::InvalidArgument { .. })));
    let (result, out) = fx.run(|r| r.set_presence(T0 + 10_010, "ann", Presence::Available));
    result.unwrap();
    assert_eq!(out.offers(), vec![("ann".to_owned(), third)]);
    // The stale timer of the ended wrap-up changes nothing.
    assert!(fx.tick(T0 + 20_008).to_agent("ann").is_empty());
}

// ----- resuming a place -----

#[test]
fn a_customer_who_returns_within_the_window_resumes_their_place() {
    let mut fx = Fixture::new();
    let window = fx.router.policy().resume_window_ms;
    let (left, _) = fx.arrive(T0, message("app-session-1", 0.0));
    let kept = fx.key(left);
    let (_, _) = fx.arrive(T0 + 1_000, message("someone-else", 0.0));
    let _ = fx.run(|r| {
        r.abandon(
            T0 + 2_000,
            Channel::Web,
            "app-session-1",
            "customer-app-session-1",
        )
    });
    // Same customer, new app session, within the window: the old place.
    let back = InboundMessage {
        customer_id: "customer-app-session-1".to_owned(),
        ..message("app-session-2", 0.0)
    };
    let (resumed, out) = fx.arrive(T0 + 2_000 + window - 1, back);
    assert_eq!(fx.key(resumed), kept);
    assert_eq!(out.queued(resumed)[0].0, QueueReason::Resumed);
    assert_eq!(first_response_status(&out, resumed).position, 1);
    // Leaving again and coming back after the window: the back of the queue.
    let _ = fx.run(|r| {
        r.abandon(
            T0 + 3_000 + window,
            Channel::Web,
            "app-session-2",
            "customer-app-session-1",
        )
    });
    fx.tick(T0 + 3_000 + 2 * window);
    let late = InboundMessage {
        customer_id: "customer-app-session-1".to_owned(),
        ..message("app-session-3", 0.0)
    };
    let (fresh, out) = fx.arrive(T0 + 3_001 + 2 * window, late);
    assert_eq!(out.queued(fresh)[0].0, QueueReason::New);
    assert_eq!(first_response_status(&out, fresh).position, 2);
}

// ----- explanations -----

#[test]
fn explanations_say_why_here_and_why_still_waiting() {
    let mut fx = Fixture::new();
    fx.sign_in(T0, agent("novice", &[("billing", 1)], 1));
    fx.sign_in(T0 + 1, agent("expert", &[("billing", 4)], 1));
    let (served, _) = fx.arrive(T0 + 2, needing("served", &[("billing", 3)]));
    let (waiting, _) = fx.arrive(T0 + 3, needing("waiting", &[("billing", 3)]));

    let why_here = fx.router.explain(T0 + 4, served, 10).unwrap();
    assert_eq!(why_here.state, ConversationState::Offered);
    assert_eq!(why_here.rule, Some(Rule::LongestIdleEligible));
    assert!(
        why_here.verdict.contains("offered to expert"),
        "{}",
        why_here.verdict
    );
    assert!(why_here.candidates[0].chosen);
    let novice = why_here
        .candidates
        .iter()
        .find(|c| &*c.agent == "novice")
        .unwrap();
    assert!(!novice.eligible);
    assert_eq!(novice.missing, vec![(Arc::from("billing"), 3)]);

    let why_waiting = fx.router.explain(T0 + 4, waiting, 10).unwrap();
    assert_eq!(why_waiting.state, ConversationState::Queued);
    assert_eq!(why_waiting.position, Some(1));
    assert_eq!(why_waiting.rule, None);
    assert!(
        why_waiting
            .verdict
            .contains("all 1 eligible agents are taken (1 at capacity"),
        "{}",
        why_waiting.verdict
    );
    assert!(why_waiting.candidates.iter().all(|c| c.score == 0.0));
    assert!(fx.router.explain(T0 + 4, ConversationId(999), 10).is_none());

    // When capacity frees, the rule that decides is the freed agent's pull.
    fx.accept(T0 + 5, "expert", served);
    fx.close(T0 + 6, "expert", served);
    let pulled = fx.router.explain(T0 + 7, waiting, 1).unwrap();
    assert_eq!(pulled.rule, Some(Rule::BestWaitingForFreedAgent));
    assert_eq!(pulled.candidates.len(), 1);
    assert_eq!(pulled.candidates_total, 2);
}

// ----- escalation -----

#[test]
fn bullseye_relaxes_preferred_skills_then_overflows_keeping_the_place() {
    let policy = RoutingPolicy {
        queues: vec![QueueSpec {
            name: "billing".to_owned(),
            required_skills: vec!["billing:3".to_owned()],
            preferred_skills: vec!["mandarin:4".to_owned()],
            relax_preferred_after_secs: 30,
            overflow_after_secs: 120,
            overflow_skills: vec!["billing:1".to_owned()],
            ..QueueSpec::default()
        }],
        ..policy()
    };
    let mut fx = Fixture::with_policy(policy);
    fx.sign_in(T0, agent("english-expert", &[("billing", 5)], 1));
    fx.sign_in(T0, agent("junior", &[("billing", 1)], 1));
    let (id, out) = fx.arrive(T0 + 1, message("bill-1", 0.0));
    assert!(out.offers().is_empty(), "step 0 wants a Mandarin speaker");
    let key = fx.key(id);
    // 30 s: preferred skills relax; the English-speaking expert gets it.
    assert!(fx.tick(T0 + 30_000).offers().is_empty());
    let out = fx.tick(T0 + 30_001);
    assert!(out.kinds(id).iter().any(|k| matches!(
        k,
        EventKind::Escalated {
            step: EscalationStep::Required,
            ..
        }
    )));
    assert_eq!(out.offers(), vec![("english-expert".to_owned(), id)]);
    assert_eq!(fx.key(id), key, "escalation keeps the place");
    fx.accept(T0 + 30_002, "english-expert", id);

    // A second one while the expert is busy: at 120 s it overflows to the junior.
    let (second, _) = fx.arrive(T0 + 40_000, message("bill-2", 0.0));
    assert!(
        fx.tick(T0 + 70_001).offers().is_empty(),
        "relaxed, but no free expert"
    );
    assert!(fx.tick(T0 + 159_999).offers().is_empty());
    let out = fx.tick(T0 + 160_000);
    assert_eq!(out.offers(), vec![("junior".to_owned(), second)]);
    let why = fx.router.explain(T0 + 160_002, second, 5).unwrap();
    assert_eq!(why.escalation, Some(EscalationStep::Overflow));
}

// ----- agent choice strategies -----

fn with_choice(choice: AgentChoice) -> Fixture {
    Fixture::with_policy(RoutingPolicy {
        agent_choice: choice,
        ..policy()
    })
}

#[test]
fn least_occupied_picks_the_agent_with_the_smallest_share_in_use() {
    let mut fx = with_choice(AgentChoice::LeastOccupied);
    fx.sign_in(T0, agent("busy", &[], 2));
    let (first, _) = fx.arrive(T0 + 1, message("lo-1", 0.0));
    fx.accept(T0 + 2, "busy", first);
    // "busy" (1 of 2 in use) is now more idle than "fresh", but "fresh" is emptier.
    fx.sign_in(T0 + 3, agent("fresh", &[], 4));
    fx.sign_in(T0 + 4, agent("half", &[], 2));
    let (second, out) = fx.arrive(T0 + 5, message("lo-2", 0.0));
    assert_eq!(out.offers(), vec![("fresh".to_owned(), second)]);
    let why = fx.router.explain(T0 + 6, second, 1).unwrap();
    assert_eq!(why.rule, Some(Rule::LeastOccupiedEligible));
}

#[test]
fn most_proficient_picks_the_highest_summed_proficiency_and_can_serve_the_top_tier() {
    let mut fx = with_choice(AgentChoice::MostProficient);
    fx.sign_in(T0, agent("ok", &[("billing", 2)], 1));
    fx.sign_in(T0 + 1, agent("star", &[("billing", 5)], 1));
    let (id, out) = fx.arrive(T0 + 2, needing("mp-1", &[("billing", 1)]));
    assert_eq!(out.offers(), vec![("star".to_owned(), id)]);

    // Longest idle by default, but the top tier goes to the most proficient.
    let mut fx = Fixture::with_policy(RoutingPolicy {
        top_tier_to_most_proficient: true,
        ..policy()
    });
    fx.sign_in(T0, agent("ok", &[("billing", 2)], 1));
    fx.sign_in(T0 + 1, agent("star", &[("billing", 5)], 1));
    fx.sign_in(T0 + 2, agent("spare", &[("billing", 2)], 1));
    let (vip, out) = fx.arrive(T0 + 3, needing("vip", &[("billing", 1)]));
    let vip_msg = message("vip-2", 500_000.0);
    assert_eq!(
        out.offers(),
        vec![("ok".to_owned(), vip)],
        "standard tier: longest idle"
    );
    let (platinum, out) = fx.arrive(
        T0 + 4,
        InboundMessage {
            required_skills: vec![("billing".to_owned(), 1)],
            ..vip_msg
        },
    );
    assert_eq!(out.offers(), vec![("star".to_owned(), platinum)]);
}

#[test]
fn round_robin_cycles_through_agents_in_sign_in_order() {
    let mut fx = with_choice(AgentChoice::RoundRobin);
    for (i, name) in ["a", "b", "c"].iter().enumerate() {
        fx.sign_in(T0 + i as u64, agent(name, &[], 10));
    }
    let mut chosen = Vec::new();
    for i in 0..5 {
        let (_, out) = fx.arrive(T0 + 10 + i, message(&format!("rr-{i}"), 0.0));
        chosen.push(out.offers()[0].0.clone());
    }
    assert_eq!(chosen, vec!["a", "b", "c", "a", "b"]);
}

// ----- last agent and maximum wait -----

#[test]
fn a_returning_customer_goes_back_to_their_last_agent_within_the_window() {
    let mut fx = Fixture::with_policy(RoutingPolicy {
        last_agent_window_ms: 3_600_000,
        ..policy()
    });
    fx.sign_in(T0, agent("ann", &[], 2));
    fx.sign_in(T0 + 1, agent("bob", &[], 2));
    let (first, out) = fx.arrive(T0 + 2, message("visit-1", 0.0));
    assert_eq!(out.offers(), vec![("ann".to_owned(), first)]);
    fx.accept(T0 + 3, "ann", first);
    fx.close(T0 + 4, "ann", first);
    // Longest idle would now be bob; the returning customer gets ann.
    let back = InboundMessage {
        customer_id: "customer-visit-1".to_owned(),
        ..message("visit-2", 0.0)
    };
    let (second, out) = fx.arrive(T0 + 5, back);
    assert_eq!(out.offers(), vec![("ann".to_owned(), second)]);
    assert_eq!(
        fx.router.explain(T0 + 6, second, 1).unwrap().rule,
        Some(Rule::LastAgent)
    );
    // After the window, ordinary routing.
    fx.accept(T0 + 7, "ann", second);
    fx.close(T0 + 8, "ann", second);
    fx.tick(T0 + 8 + 3_600_000);
    let later = InboundMessage {
        customer_id: "customer-visit-1".to_owned(),
        ..message("visit-3", 0.0)
    };
    let (third, out) = fx.arrive(T0 + 9 + 3_600_000, later);
    assert_eq!(out.offers(), vec![("bob".to_owned(), third)]);
}

#[test]
fn past_the_maximum_wait_the_customer_gets_the_fallback_never_silence() {
    let policy = RoutingPolicy {
        queues: vec![
            QueueSpec {
                name: "default".to_owned(),
                required_skills: vec!["specialist".to_owned()],
                max_wait_secs: 60,
                ..QueueSpec::default()
            },
            QueueSpec {
                name: "callbacks".to_owned(),
                max_wait_secs: 60,
                fallback_queue: "default".to_owned(),
                ..QueueSpec::default()
            },
        ],
        ..policy()
    };
    let mut fx = Fixture::with_policy(policy);
    let (id, _) = fx.arrive(T0, message("long-wait", 0.0));
    assert!(fx.tick(T0 + 59_999).to_customer(id).is_empty());
    let out = fx.tick(T0 + 60_000);
    let told = out.to_customer(id);
    assert_eq!(told.len(), 1);
    let CustomerNoticeBody::Message { buttons, .. } = told[0] else {
        panic!("a message")
    };
    let payloads: Vec<&str> = buttons.iter().map(|b| b.payload.as_str()).collect();
    assert_eq!(payloads, vec!["callback", "email"]);
    assert_eq!(fx.state(id), queued(), "still waiting, in its place");
}

#[test]
fn a_queue_with_a_fallback_queue_moves_its_long_waiters_there_in_their_place() {
    let policy = RoutingPolicy {
        queues: vec![
            QueueSpec {
                name: "general".to_owned(),
                ..QueueSpec::default()
            },
            QueueSpec {
                name: "vip-desk".to_owned(),
                required_skills: vec!["vip".to_owned()],
                max_wait_secs: 60,
                fallback_queue: "general".to_owned(),
                ..QueueSpec::default()
            },
        ],
        ..policy()
    };
    let mut fx = Fixture::with_policy(policy);
    fx.sign_in(T0, agent("gen", &[], 1));
    let (id, out) = fx.arrive(
        T0 + 1,
        InboundMessage {
            queue: Some("vip-desk".to_owned()),
            ..message("vip-wait", 0.0)
        },
    );
    assert!(out.offers().is_empty(), "no vip agent");
    let key = fx.key(id);
    let out = fx.tick(T0 + 60_001);
    assert_eq!(out.to_customer(id).len(), 1, "told, not silent");
    assert_eq!(out.offers(), vec![("gen".to_owned(), id)]);
    assert_eq!(fx.key(id), key);
}

// ----- parking quiet conversations -----

#[test]
fn a_quiet_conversation_frees_its_agent_and_comes_back_to_them_when_the_customer_writes() {
    let mut fx = Fixture::with_policy(RoutingPolicy {
        idle_release_ms: 60_000,
        parked_window_ms: 300_000,
        ..policy()
    });
    fx.sign_in(T0, agent("ann", &[], 1));
    let (quiet, _) = fx.arrive(T0 + 1, message("quiet", 0.0));
    fx.accept(T0 + 2, "ann", quiet);
    let (next, out) = fx.arrive(T0 + 3, message("next", 0.0));
    assert!(out.offers().is_empty(), "ann is full");
    // A customer message resets the quiet timer.
    let _ = fx.run(|r| r.customer_message(T0 + 30_000, said("quiet", "still there?", None)));
    assert!(fx.tick(T0 + 60_001).offers().is_empty());
    let out = fx.tick(T0 + 90_000);
    assert!(
        out.to_agent("ann")
            .iter()
            .any(|n| matches!(n, AgentNotice::Parked { .. }))
    );
    assert_eq!(
        out.offers(),
        vec![("ann".to_owned(), next)],
        "capacity freed"
    );
    assert_eq!(
        fx.state(quiet),
        (ConversationState::Parked, Some("ann".to_owned()))
    );
    // Ann finishes "next"; the quiet customer writes again: back to ann.
    fx.accept(T0 + 90_001, "ann", next);
    fx.close(T0 + 90_002, "ann", next);
    let (_, out) = fx.run(|r| r.customer_message(T0 + 100_000, said("quiet", "back!", None)));
    assert_eq!(out.offers(), vec![("ann".to_owned(), quiet)]);
    assert_eq!(out.queued(quiet)[0].0, QueueReason::Returned);
}

#[test]
fn a_parked_conversation_ends_when_the_window_passes() {
    let mut fx = Fixture::with_policy(RoutingPolicy {
        idle_release_ms: 60_000,
        parked_window_ms: 300_000,
        ..policy()
    });
    fx.sign_in(T0, agent("ann", &[], 1));
    let (quiet, _) = fx.arrive(T0 + 1, message("gone", 0.0));
    fx.accept(T0 + 2, "ann", quiet);
    let out = fx.tick(T0 + 60_002);
    assert!(
        out.kinds(quiet)
            .iter()
            .any(|k| matches!(k, EventKind::Parked { .. }))
    );
    assert!(fx.tick(T0 + 360_001).kinds(quiet).is_empty());
    let out = fx.tick(T0 + 360_002);
    assert!(
        out.kinds(quiet)
            .iter()
            .any(|k| matches!(k, EventKind::Abandoned { .. }))
    );
    assert!(fx.router.snapshot(quiet).is_none());
}

// ----- conversations a bot serves first -----

fn bot_policy() -> RoutingPolicy {
    RoutingPolicy {
        bot: BotRouting {
            channels: vec![Channel::Web],
            ..BotRouting::default()
        },
        ..policy()
    }
}

fn bot_turns(out: &Out) -> Vec<&BotTurn> {
    out.notices
        .iter()
        .filter_map(|n| match n {
            Notice::ToBot(turn) => Some(turn),
            _ => None,
        })
        .collect()
}

fn say(text: &str, understood: Understood) -> BotAction {
    BotAction::Say {
        text: text.to_owned(),
        buttons: Vec::new(),
        understood,
        intent: None,
        language: None,
    }
}

fn hand_off(reason: HandoffReason, skills: &[(&str, u8)]) -> BotAction {
    BotAction::HandOff(Handoff {
        reason,
        intent: Some("billing".to_owned()),
        skills: skills.iter().map(|&(s, l)| (s.to_owned(), l)).collect(),
        language: None,
        note: Some("asked twice".to_owned()),
    })
}

#[test]
fn a_bot_channel_conversation_goes_to_the_bot_not_the_queue() {
    let mut f = Fixture::with_policy(bot_policy());
    f.sign_in(T0, agent("a1", &[("en", 3)], 2));
    let (id, out) = f.arrive(T0, message("c1", 0.0));
    assert!(
        out.offers().is_empty(),
        "an agent is free, but the bot goes first"
    );
    let turns = bot_turns(&out);
    assert_eq!(turns.len(), 1);
    assert!(turns[0].first_turn);
    assert_eq!(&*turns[0].text, "hello from c1");
    assert_eq!(f.state(id), (ConversationState::WithBot, None));
    assert!(
        !out.kinds(id)
            .iter()
            .any(|k| matches!(k, EventKind::FirstResponse { .. })),
        "the bot's greeting is the first response, not a system note"
    );
    let (result, out) = f.run(|r| r.bot_action(T0 + 5, id, say("Hi!", Understood::SmallTalk)));
    result.unwrap();
    assert!(out.kinds(id).contains(&&EventKind::FirstResponse {
        responder: Responder::Bot,
        latency_ms: 5
    }));
    // A follow-up goes to the bot again, not to an agent.
    let (_, out) = f.run(|r| r.customer_message(T0 + 10, said("c1", "where is it", None)));
    let turns = bot_turns(&out);
    assert_eq!(turns.len(), 1);
    assert!(!turns[0].first_turn);
}

#[test]
fn a_handoff_keeps_the_transcript_adds_skills_and_waits_from_then() {
    let mut f = Fixture::with_policy(bot_policy());
    let (id, _) = f.arrive(T0, message("c1", 200_000.0));
    f.run(|r| r.bot_action(T0 + 1, id, say("Hi!", Understood::SmallTalk)))
        .0
        .unwrap();
    let (result, out) = f.run(|r| {
        r.bot_action(
            T0 + 1_000,
            id,
            hand_off(HandoffReason::CustomerRequest, &[("billing", 2)]),
        )
    });
    result.unwrap();
    assert!(matches!(
        out.kinds(id)[0],
        EventKind::HandedOff {
            reason: HandoffReason::CustomerRequest,
            ..
        }
    ));
    assert_eq!(out.queued(id)[0].0, QueueReason::Handoff);
    let snapshot = f.router.snapshot(id).unwrap();
    assert_eq!(snapshot.waiting_since, Some(T0 + 1_000));
    assert_eq!(snapshot.handoff, Some(HandoffReason::CustomerRequest));
    assert_eq!(snapshot.intent.as_deref(), Some("billing"));
    let required: Vec<(String, u8)> = snapshot
        .required
        .iter()
        .map(|(s, l)| (s.to_string(), *l))
        .collect();
    assert!(required.contains(&("billing".to_owned(), 2)));
    assert!(required.contains(&("en".to_owned(), 1)), "{required:?}");
    // The customer heard where they stand.
    assert!(out.to_customer(id).iter().any(|b| matches!(
        b,
        CustomerNoticeBody::Message {
            sender: Sender::System,
            queue_status: Some(_),
            ..
        }
    )));
    // Only an agent with both skills is offered it, with the whole transcript.
    f.sign_in(T0 + 2_000, agent("no-billing", &[("en", 5)], 2));
    let out = f.sign_in(T0 + 2_000, agent("biller", &[("en", 1), ("billing", 2)], 2));
    let offer = out
        .to_agent("biller")
        .into_iter()
        .find_map(|n| match n {
            AgentNotice::Offer(o) => Some(o.clone()),
            _ => None,
        })
        .expect("offered to the agent with the skills");
    let senders: Vec<Sender> = offer.transcript.iter().map(|e| e.sender).collect();
    assert_eq!(
        senders,
        [
            Sender::Customer,
            Sender::Bot,
            Sender::System,
            Sender::System
        ]
    );
    assert_eq!(offer.handoff, Some(HandoffReason::CustomerRequest));
    assert_eq!(&*offer.tier, "platinum", "the value tier is kept");
}

#[test]
fn unsure_answers_hand_off_at_the_limit_and_an_answer_resets_the_run() {
    let mut f = Fixture::with_policy(bot_policy());
    let (id, _) = f.arrive(T0, message("c1", 0.0));
    let act = |f: &mut Fixture, at: Millis, action: BotAction| {
        let (result, out) = f.run(|r| r.bot_action(at, id, action));
        result.unwrap();
        out
    };
    act(&mut f, T0 + 1, say("Sorry?", Understood::NotSure));
    act(&mut f, T0 + 2, say("Here you go", Understood::Answered));
    act(&mut f, T0 + 3, say("Sorry?", Understood::NotSure));
    assert_eq!(
        f.state(id).0,
        ConversationState::WithBot,
        "the run was reset"
    );
    let out = act(&mut f, T0 + 4, say("Sorry?", Understood::NotSure));
    assert!(out.kinds(id).iter().any(|k| matches!(
        k,
        EventKind::HandedOff {
            reason: HandoffReason::LowConfidence,
            ..
        }
    )));
    assert_eq!(f.state(id), queued());
    // A late bot answer after the handoff is refused and changes nothing.
    let (late, out) = f.run(|r| r.bot_action(T0 + 5, id, say("late", Understood::Answered)));
    failed_precondition(late);
    assert!(out.notices.is_empty() && out.events.is_empty());
}

#[test]
fn a_complaint_handoff_is_boosted_and_quiet_bot_conversations_end() {
    let mut f = Fixture::with_policy(bot_policy());
    let (angry, _) = f.arrive(T0, message("angry", 0.0));
    let (calm, _) = f.arrive(T0, message("calm", 0.0));
    f.run(|r| r.bot_action(T0 + 10, calm, hand_off(HandoffReason::CustomerRequest, &[])))
        .0
        .unwrap();
    f.run(|r| r.bot_action(T0 + 20, angry, hand_off(HandoffReason::Complaint, &[])))
        .0
        .unwrap();
    assert!(f.key(angry) < f.key(calm), "the complaint is served first");

    let (quiet, _) = f.arrive(T0, message("quiet", 0.0));
    let idle = f.router.policy().bot.idle_end_ms;
    let out = f.tick(T0 + idle - 1);
    assert!(out.kinds(quiet).is_empty());
    let out = f.tick(T0 + idle);
    assert_eq!(out.kinds(quiet), [&EventKind::BotFinished]);
    assert_eq!(
        out.to_customer(quiet),
        [&CustomerNoticeBody::Closed(EndReason::BotFinished)]
    );
    assert!(f.router.snapshot(quiet).is_none());
    assert_eq!(
        f.board.get(quiet).map(|c| c.state),
        Some(ConversationState::BotFinished)
    );
}

#[test]
fn a_handoff_is_offered_at_once_to_an_agent_already_signed_in() {
    let mut f = Fixture::with_policy(bot_policy());
    f.sign_in(T0, agent("a1", &[("orders", 4), ("en", 5)], 2));
    let (id, _) = f.arrive(T0, needing("c1", &[("orders", 2)]));
    let (result, out) =
        f.run(|r| r.bot_action(T0 + 10, id, hand_off(HandoffReason::CustomerRequest, &[])));
    result.unwrap();
    assert_eq!(out.offers(), [("a1".to_owned(), id)]);
}

// ----- the wait limit -----

#[test]
fn a_conversation_that_waits_past_the_limit_is_told_and_ends() {
    let mut fx = Fixture::with_policy(RoutingPolicy {
        max_queue_secs: 60,
        ..policy()
    });
    let (waiting, _) = fx.arrive(T0, message("waits-too-long", 0.0));
    let out = fx.tick(T0 + 59_999);
    assert!(out.to_customer(waiting).is_empty(), "not before the limit");
    assert!(fx.router.snapshot(waiting).is_some());
    let out = fx.tick(T0 + 60_000);
    let told = out.to_customer(waiting);
    assert!(
        matches!(
            told[0],
            CustomerNoticeBody::Message {
                sender: Sender::System,
                ..
            }
        ),
        "{told:?}"
    );
    assert_eq!(told[1], &CustomerNoticeBody::Closed(EndReason::WaitLimit));
    assert!(
        fx.router.snapshot(waiting).is_none(),
        "ended, not kept forever"
    );
}

#[test]
fn time_with_an_agent_does_not_count_towards_the_wait_limit() {
    let mut fx = Fixture::with_policy(RoutingPolicy {
        max_queue_secs: 60,
        ..policy()
    });
    let (id, _) = fx.arrive(T0, message("served", 0.0));
    fx.tick(T0 + 30_000);
    fx.sign_in(T0 + 30_000, agent("ann", &[], 1));
    fx.accept(T0 + 30_001, "ann", id);
    // Held for far longer than the limit: still open, still the agent's.
    let out = fx.tick(T0 + 600_000);
    assert!(out.to_customer(id).is_empty());
    assert_eq!(fx.state(id).0, ConversationState::Assigned);
}

// ----- skills no agent has named -----

#[test]
fn junk_skills_from_conversations_never_fill_the_catalogue() {
    // A bare router: the fixture's board comparison after every step would make this
    // quadratic.
    let mut router = Router::new(policy()).unwrap();
    // Far more distinct unknown skills than the catalogue could hold.
    for n in 0..(super::skills::MAX_SKILLS as u64 + 100) {
        let junk = format!("junk-{n}");
        router
            .customer_message(T0 + n, needing(&format!("j{n}"), &[(&junk, 1)]))
            .unwrap();
        let _ = router.drain();
    }
    // An agent can still sign in with new skills, and is offered what they can serve.
    let id = router
        .customer_message(T0 + 10_000, needing("real", &[("billing", 2)]))
        .unwrap()
        .conversation;
    let _ = router.drain();
    router
        .sign_in(T0 + 10_001, agent("ann", &[("billing", 3), ("en", 1)], 1))
        .unwrap();
    assert_eq!(
        Out::drained(&mut router).offers(),
        vec![("ann".to_owned(), id)]
    );
    router.check_invariants().unwrap();
}

#[test]
fn a_conversation_waiting_on_an_unknown_skill_is_served_when_an_agent_brings_it() {
    let mut fx = Fixture::new();
    let (first, _) = fx.arrive(T0, needing("first", &[("tagalog", 1)]));
    let (second, _) = fx.arrive(T0 + 1, needing("second", &[("tagalog", 1)]));
    let out = fx.sign_in(T0 + 2, agent("bob", &[], 1));
    assert!(out.offers().is_empty(), "nobody has the skill yet");
    // The first to arrive is offered first: both kept their places.
    let out = fx.sign_in(T0 + 3, agent("tala", &[("tagalog", 2)], 1));
    assert_eq!(out.offers(), vec![("tala".to_owned(), first)]);
    let explained = fx.router.explain(T0 + 4, second, 10).unwrap();
    let bob = explained
        .candidates
        .iter()
        .find(|c| &*c.agent == "bob")
        .unwrap();
    assert_eq!(&*bob.missing[0].0, "tagalog");
    fx.router.check_invariants().unwrap();
}

#[test]
fn skills_agents_no_longer_hold_are_reclaimed_when_the_catalogue_is_full() {
    let mut router = Router::new(policy()).unwrap();
    // A conversation needing a skill the first agents bring and take away again.
    let waits = router
        .customer_message(T0, needing("waits", &[("rare", 1)]))
        .unwrap()
        .conversation;
    let _ = router.drain();
    // Agents sign in and out with ever new names, far past the catalogue's size.
    let per_agent = 64;
    let rounds = super::skills::MAX_SKILLS / per_agent + 4;
    for round in 0..rounds {
        let owned: Vec<String> = (0..per_agent).map(|k| format!("s{round}-{k}")).collect();
        let skills: Vec<(&str, u8)> = std::iter::once(("rare", 1))
            .filter(|_| round == 0)
            .chain(owned.iter().map(|s| (s.as_str(), 1)))
            .collect();
        let id = format!("a{round}");
        router
            .sign_in(T0 + 1 + round as u64, agent(&id, &skills, 1))
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        if round == 0 {
            assert_eq!(
                Out::drained(&mut router).offers(),
                vec![(id.clone(), waits)]
            );
        }
        router.sign_out(T0 + 3 + round as u64, &id).unwrap();
        let _ = router.drain();
        router.check_invariants().unwrap();
    }
    // "rare" was forgotten with the others; the conversation still waits on it by name
    // and is offered to the next agent who brings it.
    router
        .sign_in(T0 + 10_000, agent("back", &[("rare", 2)], 1))
        .unwrap();
    assert_eq!(
        Out::drained(&mut router).offers(),
        vec![("back".to_owned(), waits)]
    );
    router.check_invariants().unwrap();
}

// ----- restarts -----

#[test]
fn after_a_restart_agents_keep_what_they_held_and_offers_go_back_to_their_places() {
    let mut fx = Fixture::new();
    fx.sign_in(T0, agent("ann", &[], 2));
    let (held, _) = fx.arrive(T0 + 1, message("held", 0.0));
    fx.accept(T0 + 2, "ann", held);
    let (offered_to_ann, out) = fx.arrive(T0 + 3, message("offered", 0.0));
    assert_eq!(out.offers(), vec![("ann".to_owned(), offered_to_ann)]);
    let key = fx.key(offered_to_ann);

    let (awaited, out) = fx.run(|r| r.restarted(T0 + 10, 30_000, 0));
    assert_eq!(awaited, 1);
    assert_eq!(fx.state(held), assigned("ann"), "kept through the restart");
    assert_eq!(fx.state(offered_to_ann), queued(), "the offer went back");
    assert_eq!(fx.key(offered_to_ann), key, "in its place");
    assert!(out.offers().is_empty(), "a returning agent takes no offers");

    // Another agent takes the waiting one; ann, back, gets hers as accepted.
    let out = fx.sign_in(T0 + 20, agent("bob", &[], 1));
    assert_eq!(out.offers(), vec![("bob".to_owned(), offered_to_ann)]);
    let out = fx.sign_in(T0 + 30, agent("ann", &[], 2));
    let resumed: Vec<ConversationId> = out
        .to_agent("ann")
        .into_iter()
        .filter_map(|n| match n {
            AgentNotice::Resumed(d) => Some(d.conversation),
            _ => None,
        })
        .collect();
    assert_eq!(resumed, vec![held]);
    let (reply, _) = fx.run(|r| r.reply(T0 + 31, "ann", &held.to_string(), "back"));
    reply.expect("ann holds it again, no accept needed");
    let (again, _) = fx.run(|r| r.sign_in(T0 + 32, agent("ann", &[], 2)));
    assert_eq!(
        again,
        Err(RoutingError::AlreadySignedIn("ann".to_owned())),
        "once back, a second sign-in is refused as before"
    );
}

#[test]
fn an_agent_that_does_not_come_back_is_signed_out_when_the_grace_window_ends() {
    let mut fx = Fixture::new();
    fx.sign_in(T0, agent("ann", &[], 1));
    let (held, _) = fx.arrive(T0 + 1, message("held", 0.0));
    fx.accept(T0 + 2, "ann", held);
    fx.run(|r| r.restarted(T0 + 10, 5_000, 0));
    fx.sign_in(T0 + 20, agent("bob", &[], 1));
    fx.tick(T0 + 5_009);
    assert_eq!(fx.state(held), assigned("ann"), "still within the window");
    let out = fx.tick(T0 + 5_010);
    assert_eq!(out.offers(), vec![("bob".to_owned(), held)]);
    assert_eq!(
        out.queued(held).first().map(|(reason, _)| *reason),
        Some(QueueReason::AgentLost)
    );
    assert!(fx.router.agents(T0 + 5_010).iter().all(|a| &*a.id != "ann"));
}

#[test]
fn an_agent_whose_connection_dropped_keeps_what_it_accepted_and_gets_it_back_resumed() {
    let mut fx = Fixture::new();
    fx.sign_in(T0, agent("ann", &[], 2));
    let (held, _) = fx.arrive(T0 + 1, message("held", 0.0));
    fx.accept(T0 + 2, "ann", held);
    let (offered_to_ann, out) = fx.arrive(T0 + 3, message("offered", 0.0));
    assert_eq!(out.offers(), vec![("ann".to_owned(), offered_to_ann)]);
    let key = fx.key(offered_to_ann);

    let (lost, out) = fx.run(|r| {
        r.apply(
            T0 + 10,
            Command::ConnectionLost {
                agent: "ann".to_owned(),
                grace_ms: 30_000,
            },
        )
    });
    assert_eq!(lost, Ok(Applied::Done));
    assert!(fx.router.is_returning_agent("ann"));
    assert_eq!(fx.state(held), assigned("ann"), "kept while she is away");
    assert_eq!(fx.state(offered_to_ann), queued(), "the offer went back");
    assert_eq!(fx.key(offered_to_ann), key, "in its place");
    assert!(out.offers().is_empty(), "a returning agent takes no offers");

    // Another agent takes only the waiting one; what the customer writes meanwhile
    // waits in the transcript.
    let out = fx.sign_in(T0 + 20, agent("bob", &[], 2));
    assert_eq!(out.offers(), vec![("bob".to_owned(), offered_to_ann)]);
    let mut meanwhile = message("held", 0.0);
    meanwhile.text = "are you still there?".to_owned();
    let (written, out) = fx.run(|r| r.customer_message(T0 + 25, meanwhile));
    assert_eq!(written.unwrap().conversation, held);
    assert!(out.offers().is_empty(), "not offered to bob");
    assert_eq!(fx.state(held), assigned("ann"));

    // Back within the window: hers again as resumed, with the message, no accept.
    let out = fx.sign_in(T0 + 30, agent("ann", &[], 2));
    let resumed: Vec<&OfferDetails> = out
        .to_agent("ann")
        .into_iter()
        .filter_map(|n| match n {
            AgentNotice::Resumed(d) => Some(&**d),
            _ => None,
        })
        .collect();
    assert_eq!(resumed.len(), 1);
    assert_eq!(resumed[0].conversation, held);
    assert!(
        resumed[0]
            .transcript
            .iter()
            .any(|t| &*t.text == "are you still there?"),
        "{:?}",
        resumed[0].transcript
    );
    assert!(!fx.router.is_returning_agent("ann"));
    let (reply, _) = fx.run(|r| r.reply(T0 + 31, "ann", &held.to_string(), "back"));
    reply.expect("ann holds it again");
    assert_eq!(
        fx.router.take_reconnects(),
        Reconnects {
            resumed: 1,
            expired: 0
        }
    );
    assert_eq!(fx.router.take_reconnects(), Reconnects::default(), "taken");
}

#[test]
fn a_dropped_connection_not_back_within_its_window_routes_its_conversations_again() {
    let mut fx = Fixture::new();
    fx.sign_in(T0, agent("ann", &[], 1));
    let (held, _) = fx.arrive(T0 + 1, message("held", 0.0));
    fx.accept(T0 + 2, "ann", held);
    fx.run(|r| r.connection_lost(T0 + 10, "ann", 5_000))
        .0
        .unwrap();
    fx.sign_in(T0 + 20, agent("bob", &[], 1));
    fx.tick(T0 + 5_009);
    assert_eq!(fx.state(held), assigned("ann"), "still within the window");
    let out = fx.tick(T0 + 5_010);
    assert_eq!(out.offers(), vec![("bob".to_owned(), held)]);
    assert_eq!(
        out.queued(held).first().map(|(reason, _)| *reason),
        Some(QueueReason::AgentLost)
    );
    assert!(fx.router.agents(T0 + 5_010).iter().all(|a| &*a.id != "ann"));
    assert_eq!(
        fx.router.take_reconnects(),
        Reconnects {
            resumed: 0,
            expired: 1
        }
    );
    // Signed out: coming back later is a fresh sign-in, with nothing to resume.
    let out = fx.sign_in(T0 + 6_000, agent("ann", &[], 1));
    assert!(
        out.to_agent("ann")
            .iter()
            .all(|n| !matches!(n, AgentNotice::Resumed(_)))
    );
}

#[test]
fn a_dropped_connection_without_a_window_or_anything_accepted_signs_out_at_once() {
    // No window: the old behaviour, the conversation goes to bob at once.
    let mut fx = Fixture::new();
    fx.sign_in(T0, agent("ann", &[], 1));
    fx.sign_in(T0, agent("bob", &[], 1));
    let (held, out) = fx.arrive(T0 + 1, message("held", 0.0));
    let (first, _) = out.offers()[0].clone();
    fx.accept(T0 + 2, &first, held);
    let (_, out) = fx.run(|r| r.connection_lost(T0 + 10, &first, 0));
    let other = if first == "ann" { "bob" } else { "ann" };
    assert_eq!(out.offers(), vec![(other.to_owned(), held)]);
    assert!(!fx.router.is_returning_agent(&first));
    assert!(fx.router.agents(T0 + 10).iter().all(|a| *a.id != *first));

    // Only an offer in flight: nothing to keep, so signed out, the offer back.
    let mut fx = Fixture::new();
    fx.sign_in(T0, agent("ann", &[], 1));
    let (offered, _) = fx.arrive(T0 + 1, message("offered", 0.0));
    fx.run(|r| r.connection_lost(T0 + 10, "ann", 30_000))
        .0
        .unwrap();
    assert_eq!(fx.state(offered), queued());
    assert!(fx.router.agents(T0 + 10).is_empty());
    assert_eq!(fx.router.take_reconnects(), Reconnects::default());
    let (unknown, _) = fx.run(|r| r.connection_lost(T0 + 11, "ann", 30_000));
    assert_eq!(unknown, Err(RoutingError::AgentNotFound("ann".to_owned())));
}

#[test]
fn ids_skipped_after_damage_are_never_given() {
    let mut fx = Fixture::new();
    let (first, _) = fx.arrive(T0, message("a", 0.0));
    fx.run(|r| r.restarted(T0 + 1, 1_000, 500));
    let (next, _) = fx.arrive(T0 + 2, message("b", 0.0));
    assert_eq!(next.0, first.0 + 501);
}

// ----- timers -----

/// Every timer kind on at once (wrap-ups, quiet checks and parking, queue escalation,
/// maximum waits and fallback, service-level boosts, bots going quiet, restarts),
/// driven by random operations with ticks between them: after every step the
/// invariants hold, among them that every scheduled timer still times something
/// under way, and the tick's debug assertion checks every timer that fires. A missed
/// cancellation fails here.
#[test]
fn random_operations_with_every_timer_leave_no_stale_timer() {
    let mut policy = RoutingPolicy {
        wrap_up_ms: 3_000,
        idle_release_ms: 5_000,
        parked_window_ms: 4_000,
        decline_cooldown_ms: 2_000,
        offer_timeout_ms: 2_500,
        max_queue_secs: 30,
        ..policy()
    };
    policy.priority.boosts.service_level_risk_after_secs = 4;
    policy.bot.channels = vec![Channel::App];
    policy.bot.idle_end_ms = 6_000;
    let queue = &mut policy.queues[0];
    queue.preferred_skills = vec!["vip".to_owned()];
    queue.relax_preferred_after_secs = 2;
    queue.overflow_after_secs = 5;
    queue.overflow_skills = vec!["general".to_owned()];
    queue.max_wait_secs = 8;
    let fallback = QueueSpec {
        name: "fallback".to_owned(),
        ..policy.queues[0].clone()
    };
    policy.queues[0].fallback_queue = "fallback".to_owned();
    policy.queues.push(fallback);
    let mut seed = 0x5eed_u64;
    let mut next = move |n: u64| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (seed >> 33) % n
    };
    for round in 0..40 {
        let mut r = Router::new(policy.clone()).unwrap();
        let mut now = T0;
        let skills = [("vip", 1), ("general", 1)];
        for step in 0..400 {
            now += next(1_500);
            let mut agent_id = format!("agent-{}", next(4));
            let ccid = format!("c-{}", next(12));
            let ids = r.open_ids();
            let mut conversation = match ids.len() as u64 {
                0 => String::new(),
                n => ids[next(n) as usize].to_string(),
            };
            // Mostly an agent and a conversation it holds, so desk operations succeed.
            let holding: Vec<AgentView> = r
                .agents(now)
                .into_iter()
                .filter(|a| !a.conversations.is_empty())
                .collect();
            if next(4) > 0 && !holding.is_empty() {
                let a = &holding[next(holding.len() as u64) as usize];
                agent_id = a.id.to_string();
                let held = a.conversations[next(a.conversations.len() as u64) as usize];
                conversation = held.to_string();
            }
            match next(15) {
                0 | 1 => {
                    let sign_in = agent(&agent_id, &skills[..1 + next(2) as usize], 2);
                    let _ = r.sign_in(now, sign_in);
                }
                2 => {
                    let _ = r.sign_out(now, &agent_id);
                }
                3 => {
                    let presence = [Presence::Available, Presence::Away][next(2) as usize];
                    let _ = r.set_presence(now, &agent_id, presence);
                }
                4 | 5 => {
                    let mut msg = message(&ccid, next(10_000) as f64);
                    if next(3) == 0 {
                        msg.channel = Channel::App;
                    }
                    let _ = r.customer_message(now, msg);
                }
                6 => {
                    let _ = r.accept(now, &agent_id, &conversation);
                }
                7 => {
                    let _ = r.decline(now, &agent_id, &conversation);
                }
                8 => {
                    let _ = r.close(now, &agent_id, &conversation);
                }
                9 => {
                    let target = TransferRequest::Queue("fallback".to_owned());
                    let _ = r.transfer(now, &agent_id, &conversation, target);
                }
                10 => {
                    let channel = [Channel::Web, Channel::App][next(2) as usize];
                    let _ = r.abandon(now, channel, &ccid, &format!("customer-{ccid}"));
                }
                11 => {
                    if let Some(id) = ids.first() {
                        let handoff = Handoff {
                            reason: HandoffReason::CustomerRequest,
                            intent: None,
                            skills: Vec::new(),
                            language: None,
                            note: None,
                        };
                        let _ = r.bot_action(now, *id, BotAction::HandOff(handoff));
                    }
                }
                12 if next(20) == 0 => {
                    r.restarted(now, 3_000, 0);
                }
                13 => {
                    let _ = r.connection_lost(now, &agent_id, 3_000);
                }
                _ => r.tick(now),
            }
            r.drain();
            if let Err(broken) = r.check_invariants() {
                panic!("round {round}, step {step}: {broken}");
            }
        }
        // Let every timer run out: what is left fires, and nothing stale does.
        for _ in 0..200 {
            now += 1_000;
            r.tick(now);
            r.drain();
            r.check_invariants().unwrap();
        }
    }
}
