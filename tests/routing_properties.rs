//! Property tests of the routing core: random workloads of arrivals, sign-ins and
//! sign-outs, presence changes, accepts, declines, closes, transfers, abandons and
//! timer ticks, with every step checked against a small model kept by the test.
//!
//! After each step:
//! - the router's own invariants hold;
//! - no conversation is offered while an offer or assignment of it is outstanding;
//! - every offer goes to an agent that meets the conversation's requirement (as the
//!   test's own records of sign-ins, arrivals and transfers tell it), except an offer
//!   made by a transfer to a named agent, and never to an agent that declined it
//!   within the decline cooldown;
//! - the ordering rule: when a conversation is offered to an agent, no conversation of
//!   the same channel class with a better serving key waits that the agent could serve
//!   (except one it declined within the cooldown), so the starvation bound, which is a
//!   property of the keys, holds for what is actually served;
//! - work conservation: no queued conversation has an available, eligible agent with
//!   free capacity for its channel class who did not decline it within the cooldown;
//! - nothing is lost: every conversation created is open in the router or was seen to
//!   close or be abandoned;
//! - a board fed with every event agrees with the router on every open conversation.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use proptest::prelude::*;
use switchboard::routing::{
    AgentNotice, Board, Channel, ConversationId, ConversationState, EventKind, InboundMessage,
    Millis, Notice, PerClass, Presence, QueueSpec, Router, RoutingError, RoutingPolicy, SignIn,
    TransferRequest, TransferTarget, ValueFacts,
};

const SKILLS: [&str; 3] = ["billing", "tech", "sales"];
const AGENTS: [&str; 5] = ["a0", "a1", "a2", "a3", "a4"];
const CHANNELS: [Channel; 4] = [Channel::Web, Channel::App, Channel::Email, Channel::Voice];
const CLVS: [f64; 4] = [0.0, 2_000.0, 20_000.0, 500_000.0];
/// Queue names; the last one is not configured.
const QUEUES: [&str; 3] = ["default", "vip", "nowhere"];
const OFFER_TIMEOUT_MS: u64 = 5_000;
const DECLINE_COOLDOWN_MS: u64 = 8_000;
const START: Millis = 1_000_000;

fn policy() -> RoutingPolicy {
    RoutingPolicy {
        offer_timeout_ms: OFFER_TIMEOUT_MS,
        decline_cooldown_ms: DECLINE_COOLDOWN_MS,
        queues: vec![
            QueueSpec {
                name: QUEUES[0].to_owned(),
                required_skills: Vec::new(),
                ..QueueSpec::default()
            },
            QueueSpec {
                name: QUEUES[1].to_owned(),
                required_skills: vec!["sales:2".to_owned()],
                ..QueueSpec::default()
            },
        ],
        ..RoutingPolicy::default()
    }
}

/// Skills a configured queue requires, as the policy above states them.
fn queue_skills(queue: usize) -> Skills {
    match queue {
        1 => Skills::from([("sales".to_owned(), 2)]),
        _ => Skills::new(),
    }
}

/// Skill name to level.
type Skills = BTreeMap<String, u8>;

/// Skills as a map, keeping the highest level of a skill named twice.
fn merge(into: &mut Skills, skills: &[(usize, u8)]) {
    for &(skill, level) in skills {
        let entry = into.entry(SKILLS[skill].to_owned()).or_insert(level);
        *entry = (*entry).max(level);
    }
}

fn eligible(agent: &Skills, required: &Skills) -> bool {
    required
        .iter()
        .all(|(skill, level)| agent.get(skill).is_some_and(|has| has >= level))
}

#[derive(Debug, Clone)]
enum Target {
    Agent(usize),
    Skill(usize),
    Queue(usize),
}

#[derive(Debug, Clone)]
enum Op {
    Arrive {
        channel: usize,
        clv: usize,
        queue: usize,
        skills: Vec<(usize, u8)>,
    },
    FollowUp {
        pick: usize,
        client_id: Option<u8>,
    },
    SignIn {
        agent: usize,
        skills: Vec<(usize, u8)>,
        capacity: (u32, u32, u32),
        available: bool,
    },
    SignOut {
        agent: usize,
    },
    Presence {
        agent: usize,
        available: bool,
    },
    Accept {
        pick: usize,
    },
    Decline {
        pick: usize,
    },
    Close {
        pick: usize,
    },
    Transfer {
        pick: usize,
        target: Target,
    },
    Abandon {
        pick: usize,
    },
    /// Time passes and timers run.
    Tick {
        advance: u64,
    },
    /// Time passes without the timers running (they run late).
    Advance {
        advance: u64,
    },
}

fn skills(max_level: u8) -> impl Strategy<Value = Vec<(usize, u8)>> {
    prop::collection::vec((0..SKILLS.len(), 1..=max_level), 0..3)
}

fn op() -> impl Strategy<Value = Op> {
    let target = prop_oneof![
        (0..AGENTS.len()).prop_map(Target::Agent),
        (0..SKILLS.len()).prop_map(Target::Skill),
        (0..QUEUES.len()).prop_map(Target::Queue),
    ];
    prop_oneof![
        5 => (
            0..CHANNELS.len(),
            0..CLVS.len(),
            prop_oneof![8 => 0..2usize, 1 => Just(2usize)],
            skills(3),
        )
            .prop_map(|(channel, clv, queue, skills)| Op::Arrive {
                channel,
                clv,
                queue,
                skills,
            }),
        1 => (any::<usize>(), prop::option::of(0..4u8))
            .prop_map(|(pick, client_id)| Op::FollowUp { pick, client_id }),
        3 => (
            0..AGENTS.len(),
            skills(5),
            (0..3u32, 0..2u32, 0..2u32),
            prop::bool::weighted(0.8),
        )
            .prop_map(|(agent, skills, capacity, available)| Op::SignIn {
                agent,
                skills,
                capacity,
                available,
            }),
        1 => (0..AGENTS.len()).prop_map(|agent| Op::SignOut { agent }),
        2 => (0..AGENTS.len(), prop::bool::weighted(0.7))
            .prop_map(|(agent, available)| Op::Presence { agent, available }),
        4 => any::<usize>().prop_map(|pick| Op::Accept { pick }),
        2 => any::<usize>().prop_map(|pick| Op::Decline { pick }),
        3 => any::<usize>().prop_map(|pick| Op::Close { pick }),
        2 => (any::<usize>(), target).prop_map(|(pick, target)| Op::Transfer { pick, target }),
        1 => any::<usize>().prop_map(|pick| Op::Abandon { pick }),
        3 => (0..12_000u64).prop_map(|advance| Op::Tick { advance }),
        1 => (0..4_000u64).prop_map(|advance| Op::Advance { advance }),
    ]
}

/// The router under test, the board its events build, and what the test knows.
struct Model {
    router: Router,
    board: Board,
    now: Millis,
    /// When timers last ran.
    last_tick: Millis,
    last_seq: u64,
    next_customer: u64,
    /// Every conversation created: channel and channel conversation id.
    created: BTreeMap<ConversationId, (Channel, String)>,
    /// Conversations seen to close or be abandoned.
    ended: BTreeSet<ConversationId>,
    /// Requirement of each open conversation, from arrivals and transfers.
    required: HashMap<ConversationId, Skills>,
    /// Adapter message ids sent in each open conversation.
    client_ids: HashMap<ConversationId, HashSet<String>>,
    /// Skills of each signed-in agent, from sign-ins.
    agents: BTreeMap<String, Skills>,
    /// Until when an agent is skipped for a conversation it declined.
    declined: HashMap<(ConversationId, String), Millis>,
    /// The agent an open conversation is offered or assigned to, from the events.
    holder: HashMap<ConversationId, String>,
}

impl Model {
    fn new() -> Model {
        Model {
            router: Router::new(policy()).expect("valid policy"),
            board: Board::new(100_000),
            now: START,
            last_tick: START,
            last_seq: 0,
            next_customer: 0,
            created: BTreeMap::new(),
            ended: BTreeSet::new(),
            required: HashMap::new(),
            client_ids: HashMap::new(),
            agents: BTreeMap::new(),
            declined: HashMap::new(),
            holder: HashMap::new(),
        }
    }

    /// Open conversations in one state with their agent, in id order.
    fn in_state(&self, state: ConversationState) -> Vec<(ConversationId, Option<String>)> {
        let mut found: Vec<_> = self
            .board
            .open()
            .filter(|c| c.state == state)
            .map(|c| (c.id, c.agent.as_ref().map(|a| a.to_string())))
            .collect();
        found.sort();
        found
    }

    fn open(&self) -> Vec<ConversationId> {
        self.created
            .keys()
            .filter(|id| !self.ended.contains(id))
            .copied()
            .collect()
    }

    fn step(&mut self, op: &Op) {
        let now = self.now;
        let ok = match op {
            Op::Arrive {
                channel,
                clv,
                queue,
                skills,
            } => {
                let ccid = format!("cc{}", self.next_customer);
                self.next_customer += 1;
                let msg = InboundMessage {
                    adapter: Arc::from("adapter"),
                    channel: CHANNELS[*channel],
                    channel_conversation_id: ccid.clone(),
                    customer_id: format!("customer-{ccid}"),
                    display_name: String::new(),
                    value: ValueFacts {
                        clv: Some(CLVS[*clv]),
                        ..ValueFacts::default()
                    },
                    text: "hello".to_owned(),
                    language: String::new(),
                    client_message_id: None,
                    queue: (*queue != 0).then(|| QUEUES[*queue].to_owned()),
                    required_skills: skills
                        .iter()
                        .map(|&(s, l)| (SKILLS[s].to_owned(), l))
                        .collect(),
                    boosts: switchboard::routing::Boosts::default(),
                };
                match self.router.customer_message(now, msg) {
                    Ok(outcome) => {
                        assert!(*queue < 2, "unknown queue accepted");
                        assert!(outcome.created && !outcome.duplicate);
                        let id = outcome.conversation;
                        assert!(!self.created.contains_key(&id), "{id} reused");
                        self.created.insert(id, (CHANNELS[*channel], ccid));
                        let mut required = queue_skills(*queue);
                        merge(&mut required, skills);
                        self.required.insert(id, required);
                        self.client_ids.insert(id, HashSet::new());
                        true
                    }
                    Err(e) => {
                        assert!(
                            matches!(e, RoutingError::InvalidArgument { field: "queue", .. }),
                            "arrival refused: {e:?}"
                        );
                        assert_eq!(*queue, 2);
                        false
                    }
                }
            }
            Op::FollowUp { pick, client_id } => {
                let open = self.open();
                if open.is_empty() {
                    return self.settle(true);
                }
                let id = open[pick % open.len()];
                let (channel, ccid) = self.created[&id].clone();
                let client_id = client_id.map(|k| format!("m{k}"));
                let seen = self.client_ids.get_mut(&id).expect("open conversation");
                let duplicate = client_id.as_ref().is_some_and(|k| !seen.insert(k.clone()));
                let msg = InboundMessage {
                    adapter: Arc::from("adapter"),
                    channel,
                    channel_conversation_id: ccid,
                    customer_id: String::new(),
                    display_name: String::new(),
                    value: ValueFacts::default(),
                    text: "more".to_owned(),
                    language: String::new(),
                    client_message_id: client_id,
                    queue: None,
                    required_skills: Vec::new(),
                    boosts: switchboard::routing::Boosts::default(),
                };
                let outcome = self.router.customer_message(now, msg).expect("follow-up");
                assert_eq!(outcome.conversation, id);
                assert!(!outcome.created);
                assert_eq!(outcome.duplicate, duplicate);
                let (events, notices) = self.router.drain();
                assert!(events.is_empty(), "a follow-up changes no routing state");
                let relayed: Vec<_> = notices
                    .iter()
                    .map(|n| match n {
                        Notice::ToAgent {
                            agent,
                            notice: AgentNotice::CustomerMessage { conversation, .. },
                        } => {
                            assert_eq!(*conversation, id);
                            agent.to_string()
                        }
                        other => panic!("unexpected notice for a follow-up: {other:?}"),
                    })
                    .collect();
                let expected: Vec<String> = match self.holder.get(&id) {
                    Some(agent) if !duplicate => vec![agent.clone()],
                    _ => Vec::new(),
                };
                assert_eq!(relayed, expected, "relay of a follow-up in {id}");
                true
            }
            Op::SignIn {
                agent,
                skills,
                capacity,
                available,
            } => {
                let id = AGENTS[*agent];
                let capacity = PerClass([capacity.0, capacity.1, capacity.2]);
                let result = self.router.sign_in(
                    now,
                    SignIn {
                        agent_id: id.to_owned(),
                        display_name: String::new(),
                        skills: skills
                            .iter()
                            .map(|&(s, l)| (SKILLS[s].to_owned(), l))
                            .collect(),
                        capacity,
                        presence: if *available {
                            Presence::Available
                        } else {
                            Presence::Away
                        },
                    },
                );
                if self.agents.contains_key(id) {
                    assert_eq!(result, Err(RoutingError::AlreadySignedIn(id.to_owned())));
                    false
                } else if capacity.total() == 0 {
                    assert!(
                        matches!(
                            result,
                            Err(RoutingError::InvalidArgument {
                                field: "capacity",
                                ..
                            })
                        ),
                        "{result:?}"
                    );
                    false
                } else {
                    result.expect("sign-in");
                    let mut has = Skills::new();
                    merge(&mut has, skills);
                    self.agents.insert(id.to_owned(), has);
                    true
                }
            }
            Op::SignOut { agent } => {
                let id = AGENTS[*agent];
                let result = self.router.sign_out(now, id);
                if self.agents.remove(id).is_some() {
                    result.expect("sign-out");
                    true
                } else {
                    assert_eq!(result, Err(RoutingError::AgentNotFound(id.to_owned())));
                    false
                }
            }
            Op::Presence { agent, available } => {
                let id = AGENTS[*agent];
                let presence = if *available {
                    Presence::Available
                } else {
                    Presence::Away
                };
                let result = self.router.set_presence(now, id, presence);
                if self.agents.contains_key(id) {
                    result.expect("presence");
                    true
                } else {
                    assert_eq!(result, Err(RoutingError::AgentNotFound(id.to_owned())));
                    false
                }
            }
            Op::Accept { pick } | Op::Decline { pick } => {
                let offered = self.in_state(ConversationState::Offered);
                let Some((id, Some(agent))) = pick_from(&offered, *pick) else {
                    return self.settle(true);
                };
                if let Op::Accept { .. } = op {
                    self.router
                        .accept(now, &agent, &id.to_string())
                        .expect("accept of an outstanding offer");
                    // Once assigned, nobody may accept it again.
                    for other in AGENTS.iter().filter(|a| self.agents.contains_key(**a)) {
                        let r = self.router.accept(now, other, &id.to_string());
                        assert!(
                            matches!(r, Err(RoutingError::FailedPrecondition(_))),
                            "second accept of {id} by {other}: {r:?}"
                        );
                    }
                } else {
                    self.router
                        .decline(now, &agent, &id.to_string())
                        .expect("decline of an outstanding offer");
                    self.declined.insert((id, agent), now + DECLINE_COOLDOWN_MS);
                }
                true
            }
            Op::Close { pick } => {
                let assigned = self.in_state(ConversationState::Assigned);
                let Some((id, Some(agent))) = pick_from(&assigned, *pick) else {
                    return self.settle(true);
                };
                self.router
                    .reply(now, &agent, &id.to_string(), "bye")
                    .expect("reply by the assigned agent");
                self.router
                    .close(now, &agent, &id.to_string())
                    .expect("close by the assigned agent");
                true
            }
            Op::Transfer { pick, target } => {
                let assigned = self.in_state(ConversationState::Assigned);
                let Some((id, Some(agent))) = pick_from(&assigned, *pick) else {
                    return self.settle(true);
                };
                let conv = id.to_string();
                match target {
                    Target::Agent(i) => {
                        let to = AGENTS[*i];
                        let class = self.created[&id].0.class();
                        let view = self.router.agents(now).into_iter().find(|v| &*v.id == to);
                        let result = self.router.transfer(
                            now,
                            &agent,
                            &conv,
                            TransferRequest::Agent(to.to_owned()),
                        );
                        match view {
                            None => {
                                assert_eq!(result, Err(RoutingError::AgentNotFound(to.to_owned())));
                                false
                            }
                            Some(_) if to == agent => {
                                assert!(
                                    matches!(result, Err(RoutingError::InvalidArgument { .. })),
                                    "{result:?}"
                                );
                                false
                            }
                            Some(v)
                                if v.presence != Presence::Available
                                    || v.load.get(class) >= v.capacity.get(class) =>
                            {
                                assert!(
                                    matches!(result, Err(RoutingError::FailedPrecondition(_))),
                                    "{result:?}"
                                );
                                false
                            }
                            Some(_) => {
                                result.expect("transfer to an available agent with room");
                                true
                            }
                        }
                    }
                    Target::Skill(s) => {
                        self.router
                            .transfer(
                                now,
                                &agent,
                                &conv,
                                TransferRequest::Skill(SKILLS[*s].into()),
                            )
                            .expect("transfer to a skill");
                        self.required
                            .insert(id, Skills::from([(SKILLS[*s].to_owned(), 1)]));
                        true
                    }
                    Target::Queue(q) => {
                        let result = self.router.transfer(
                            now,
                            &agent,
                            &conv,
                            TransferRequest::Queue(QUEUES[*q].into()),
                        );
                        if *q < 2 {
                            result.expect("transfer to a queue");
                            self.required.insert(id, queue_skills(*q));
                            true
                        } else {
                            assert!(
                                matches!(
                                    result,
                                    Err(RoutingError::InvalidArgument {
                                        field: "transfer.queue",
                                        ..
                                    })
                                ),
                                "{result:?}"
                            );
                            false
                        }
                    }
                }
            }
            Op::Abandon { pick } => {
                let open = self.open();
                if open.is_empty() {
                    let r = self.router.abandon(now, Channel::Web, "never-seen");
                    assert!(matches!(r, Err(RoutingError::ConversationNotFound(_))));
                    return self.settle(false);
                }
                let id = open[pick % open.len()];
                let (channel, ccid) = self.created[&id].clone();
                assert_eq!(self.router.abandon(now, channel, &ccid), Ok(id));
                true
            }
            Op::Tick { advance } => {
                self.now += advance;
                self.last_tick = self.now;
                self.router.tick(self.now);
                true
            }
            Op::Advance { advance } => {
                self.now += advance;
                true
            }
        };
        self.settle(ok);
    }

    /// Drains and checks one step's output, then checks the whole state.
    fn settle(&mut self, ok: bool) {
        let (events, notices) = self.router.drain();
        if !ok {
            assert!(
                events.is_empty() && notices.is_empty(),
                "a refused operation changed something: {events:?} {notices:?}"
            );
        }
        let mut direct_transfer = HashSet::new();
        let mut offered = Vec::new();
        for e in &events {
            assert_eq!(e.seq, self.last_seq + 1, "event numbers must be gap-free");
            self.last_seq = e.seq;
            let id = e.conversation;
            assert!(self.created.contains_key(&id), "event for unknown {id}");
            assert!(!self.ended.contains(&id), "event for ended {id}: {e:?}");
            match &e.kind {
                EventKind::Created { .. }
                | EventKind::FirstResponse { .. }
                | EventKind::Boosted { .. } => {}
                EventKind::Parked { .. } => {
                    self.holder.remove(&id);
                }
                EventKind::Escalated { required, .. } => {
                    let named: Skills = required.iter().map(|(s, l)| (s.to_string(), *l)).collect();
                    self.required.insert(id, named);
                }
                EventKind::Queued { required, .. } => {
                    self.holder.remove(&id);
                    let named: Skills = required.iter().map(|(s, l)| (s.to_string(), *l)).collect();
                    assert_eq!(Some(&named), self.required.get(&id), "requirement of {id}");
                }
                EventKind::Offered { agent, .. } => {
                    let agent = agent.to_string();
                    if let Some(previous) = self.holder.get(&id) {
                        panic!("{id} offered to {agent} while still held by {previous}");
                    }
                    let skills = self
                        .agents
                        .get(&agent)
                        .unwrap_or_else(|| panic!("{id} offered to signed-out {agent}"));
                    if !direct_transfer.remove(&id) {
                        // The ordering rule: no conversation of the same channel class
                        // that this agent could serve waited with a better key.
                        let offered_conv = self.board.get(id).expect("offered is on the board");
                        let class = offered_conv.channel.class();
                        for w in self.board.waiting(usize::MAX) {
                            if w.id == id || w.key >= offered_conv.key || w.channel.class() != class
                            {
                                continue;
                            }
                            // A cooldown counts until the timers next run, as in
                            // the work-conservation check.
                            let declined = self
                                .declined
                                .get(&(w.id, agent.clone()))
                                .is_some_and(|&until| until > self.last_tick);
                            assert!(
                                declined || !eligible(skills, &self.required[&w.id]),
                                "{id} offered to {agent} while {} waited ahead of it ({:?} < {:?}) \
                                 and {agent} could serve it",
                                w.id,
                                w.key,
                                offered_conv.key
                            );
                        }
                        assert!(
                            eligible(skills, &self.required[&id]),
                            "{id} requiring {:?} offered to {agent} with {skills:?}",
                            self.required[&id]
                        );
                        if let Some(&until) = self.declined.get(&(id, agent.clone())) {
                            assert!(
                                until <= self.now,
                                "{id} offered at {} to {agent}, who declined it until {until}",
                                self.now
                            );
                        }
                    }
                    offered.push((agent.clone(), id));
                    self.holder.insert(id, agent);
                }
                EventKind::Accepted { agent, .. } => {
                    assert_eq!(self.holder.get(&id).map(String::as_str), Some(&**agent));
                }
                EventKind::Transferred { from, target } => {
                    assert_eq!(self.holder.remove(&id).as_deref(), Some(&**from));
                    match target {
                        TransferTarget::Agent(_) => {
                            direct_transfer.insert(id);
                        }
                        // A new requirement starts with no declines, except the
                        // transferring agent's, who is skipped for the cooldown.
                        TransferTarget::Skill(_) | TransferTarget::Queue(_) => {
                            self.declined.retain(|(c, _), _| *c != id);
                            self.declined
                                .insert((id, from.to_string()), self.now + DECLINE_COOLDOWN_MS);
                        }
                    }
                }
                // No bot channel in this policy yet: a bot event is a bug.
                EventKind::HandedOff { .. } | EventKind::BotFinished => {
                    panic!("bot event without a bot channel: {e:?}")
                }
                EventKind::Closed { .. } | EventKind::Abandoned { .. } => {
                    self.holder.remove(&id);
                    self.required.remove(&id);
                    self.client_ids.remove(&id);
                    self.declined.retain(|(c, _), _| *c != id);
                    self.ended.insert(id);
                }
            }
            self.board.apply(e);
        }
        assert!(
            direct_transfer.is_empty(),
            "transfer to an agent without an offer"
        );
        // Every offer event comes with an offer notice to the same agent, in order.
        let offer_notices: Vec<_> = notices
            .iter()
            .filter_map(|n| match n {
                Notice::ToAgent {
                    agent,
                    notice: AgentNotice::Offer(d),
                } => Some((agent.to_string(), d.conversation)),
                _ => None,
            })
            .collect();
        assert_eq!(offer_notices, offered);
        self.check_state();
    }

    fn check_state(&self) {
        if let Err(broken) = self.router.check_invariants() {
            panic!("invariant broken: {broken}");
        }

        // Nothing lost.
        let open: BTreeSet<ConversationId> = self.router.open_ids().into_iter().collect();
        let expected: BTreeSet<ConversationId> = self.open().into_iter().collect();
        assert_eq!(open, expected, "open conversations");

        // The board agrees with the router.
        for &id in &open {
            assert_eq!(
                self.board.get(id),
                self.router.snapshot(id).as_ref(),
                "board and router disagree on {id}"
            );
        }
        assert_eq!(self.board.waiting_len(), self.router.waiting_len());
        assert_eq!(self.board.open().count(), open.len());

        // Signed-in agents are the ones the test signed in.
        let views = self.router.agents(self.now);
        let names: Vec<&str> = views.iter().map(|v| &*v.id).collect();
        let expected: Vec<&str> = self.agents.keys().map(String::as_str).collect();
        assert_eq!(names, expected, "signed-in agents");

        // Work conservation.
        for &id in &open {
            let snapshot = self.router.snapshot(id).expect("open");
            let held = self.holder.get(&id);
            match snapshot.state {
                ConversationState::Queued => assert_eq!(held, None),
                _ => assert_eq!(held.map(String::as_str), snapshot.agent.as_deref()),
            }
            if snapshot.state != ConversationState::Queued {
                continue;
            }
            let class = snapshot.channel.class();
            let required = &self.required[&id];
            for v in &views {
                let cooling = self
                    .declined
                    .get(&(id, v.id.to_string()))
                    .is_some_and(|&until| until > self.last_tick);
                if v.presence == Presence::Available
                    && v.load.get(class) < v.capacity.get(class)
                    && eligible(&self.agents[&*v.id], required)
                    && !cooling
                {
                    panic!(
                        "{id} (needs {required:?}, {class:?}) waits while {} is available with \
                         room: {v:?}",
                        v.id
                    );
                }
            }
        }
    }
}

fn pick_from<T: Clone>(items: &[T], pick: usize) -> Option<T> {
    (!items.is_empty()).then(|| items[pick % items.len()].clone())
}

fn run(ops: &[Op]) {
    let mut model = Model::new();
    model.check_state();
    for op in ops {
        model.step(op);
    }
    // Let every timer run out and check once more.
    model.step(&Op::Tick {
        advance: OFFER_TIMEOUT_MS + DECLINE_COOLDOWN_MS,
    });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_workloads_keep_routing_correct(ops in prop::collection::vec(op(), 1..160)) {
        run(&ops);
    }
}

#[test]
fn a_busy_fixed_workload_passes_the_same_checks() {
    // A deterministic run that exercises every operation, so a regression shows even
    // if the random cases happen to miss it.
    let mut ops = Vec::new();
    for i in 0..40 {
        ops.push(Op::SignIn {
            agent: i % AGENTS.len(),
            skills: vec![(i % 3, 1 + (i % 5) as u8), ((i + 1) % 3, 2)],
            capacity: ((i % 3) as u32, (i % 2) as u32, 1),
            available: i % 4 != 0,
        });
        ops.push(Op::Arrive {
            channel: i % CHANNELS.len(),
            clv: i % CLVS.len(),
            queue: i % 3,
            skills: vec![(i % 3, 1 + (i % 3) as u8)],
        });
        ops.push(Op::Accept { pick: i });
        ops.push(Op::FollowUp {
            pick: i,
            client_id: Some((i % 2) as u8),
        });
        ops.push(Op::Transfer {
            pick: i,
            target: match i % 3 {
                0 => Target::Agent(i % AGENTS.len()),
                1 => Target::Skill(i % SKILLS.len()),
                _ => Target::Queue(i % QUEUES.len()),
            },
        });
        ops.push(Op::Decline { pick: i });
        ops.push(Op::Presence {
            agent: (i + 2) % AGENTS.len(),
            available: i % 3 != 0,
        });
        ops.push(Op::Tick {
            advance: 1_000 * (i as u64 % 7),
        });
        ops.push(Op::Advance { advance: 700 });
        ops.push(Op::Close { pick: i });
        if i % 5 == 0 {
            ops.push(Op::Abandon { pick: i });
        }
        if i % 7 == 0 {
            ops.push(Op::SignOut {
                agent: (i + 1) % AGENTS.len(),
            });
        }
    }
    run(&ops);
}
