//! Routing hot-path benchmarks: the real core against a naive baseline (one mutex
//! around vectors, scanning), measured in the same run so every figure is also a ratio.
//!
//! Run: `cargo bench --bench routing` (all), or e.g.
//! `cargo bench --bench routing -- 'arrival_waits/core/10000'` for one case.
//!
//! Cases, for 1k / 10k / 100k agents and 100 / 1,000 distinct skills (agents hold 5
//! skills at level 3; each conversation requires one):
//! - `arrival_matches`: a new conversation for which a free eligible agent exists
//!   (no one waits): the decision and the offer.
//! - `arrival_waits`: a new conversation while 100k wait and every eligible agent is
//!   full: the decision, the queue insert and the queue position.
//! - `release_pulls`: an agent closes a conversation while 100k wait: the release and
//!   the offer of the best waiting conversation it is eligible for.
//! - `contention`: two threads sharing one tenant lock, each doing arrival+abandon.
//! - `relay` (1k / 10k / 100k agents, each holding one accepted conversation):
//!   `customer` is a customer message in one of them through `Router::apply` plus the
//!   drain (the notice to its agent out); `agent` is an agent reply the same way (the
//!   notice to the customer out).
//! - `queue_refresh` (10k / 100k waiting, nobody due a note): re-evaluating every
//!   waiting customer's place. `longest_tick` is the longest a single timer tick holds
//!   the router during a pass (the pass is spread over ticks); `whole_pass` is the sum
//!   of a pass's ticks, what one tick held when a pass ran at once.
//!
//! Each case builds its pools only when the filter selects it, so one case runs in
//! seconds. The memory cost per waiting conversation is `benches/routing_memory.rs`.

mod common;

/// The allocator the server binary uses (`src/main.rs`), so the core is timed as it runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{message, skill_name};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use switchboard::routing::{
    AgentNotice, Channel, Command, ConversationId, InboundMessage, Notice, PerClass, Presence,
    Router, RoutingPolicy, SignIn,
};

const WAITING: usize = 100_000;
const SKILLS_PER_AGENT: usize = 5;

/// Deterministic pseudo-random numbers (splitmix64), so every run builds the same pools.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn agent_skills(rng: &mut Rng, skills: usize) -> Vec<usize> {
    let mut held: Vec<usize> = (0..SKILLS_PER_AGENT).map(|_| rng.below(skills)).collect();
    held.sort_unstable();
    held.dedup();
    held
}

/// The real core, as the tenant layer holds it: the router, whose events the tenant
/// layer folds into KPIs and metrics (not timed here).
struct Core {
    router: Router,
    next: u64,
    now: u64,
    /// The next message, built outside the timed region: the decision does not
    /// include the adapter building its request.
    prepared: Option<InboundMessage>,
}

impl Core {
    /// Applies one command and drains what it produced, as the tenant layer does
    /// under the tenant lock; returns how long that took.
    fn timed_apply(&mut self, command: Command) -> Duration {
        let start = Instant::now();
        black_box(self.router.apply(self.now, command).unwrap());
        black_box(self.router.drain());
        start.elapsed()
    }

    fn new() -> Core {
        let policy = RoutingPolicy {
            max_open_conversations: 10_000_000,
            ..RoutingPolicy::default()
        };
        Core {
            router: Router::new(policy).unwrap(),
            next: 0,
            now: 1_000_000,
            prepared: None,
        }
    }

    /// Drains like the tenant layer does; returns the conversations offered.
    fn drain(&mut self) -> Vec<(ConversationId, String)> {
        let (_, notices) = self.router.drain();
        notices
            .into_iter()
            .filter_map(|n| match n {
                Notice::ToAgent {
                    agent,
                    notice: AgentNotice::Offer(o),
                } => Some((o.conversation, agent.to_string())),
                _ => None,
            })
            .collect()
    }

    fn arrive(&mut self, skill: usize, clv: f64) -> ConversationId {
        self.next += 1;
        self.now += 1;
        let outcome = self
            .router
            .customer_message(self.now, message(self.next, skill, clv))
            .unwrap();
        outcome.conversation
    }

    fn prepare(&mut self, skill: usize, clv: f64) {
        self.next += 1;
        self.prepared = Some(message(self.next, skill, clv));
    }

    /// Submits the prepared message and drains: one routing decision.
    fn decide(&mut self) {
        self.now += 1;
        let msg = self.prepared.take().expect("prepared message");
        black_box(self.router.customer_message(self.now, msg).unwrap());
        black_box(self.drain());
    }

    fn abandon_last(&mut self) {
        self.router
            .abandon(
                self.now,
                Channel::Web,
                &format!("conv-{}", self.next),
                &format!("cust-{}", self.next),
            )
            .unwrap();
        self.drain();
    }

    fn sign_in(&mut self, id: usize, skills: &[usize], capacity: u32) {
        self.router
            .sign_in(
                self.now,
                SignIn {
                    agent_id: format!("agent-{id}"),
                    display_name: String::new(),
                    skills: skills.iter().map(|&s| (skill_name(s), 3)).collect(),
                    capacity: PerClass([capacity, 0, 0]),
                    presence: Presence::Available,
                },
            )
            .unwrap();
        self.drain();
    }
}

/// The baseline: one mutex around vectors, scanning, skills as strings.
#[derive(Default)]
struct Naive {
    state: Mutex<NaiveState>,
}

#[derive(Default)]
struct NaiveState {
    agents: Vec<NaiveAgent>,
    waiting: Vec<NaiveConversation>,
    next: u64,
}

struct NaiveAgent {
    skills: Vec<(String, u8)>,
    load: u32,
    capacity: u32,
    last_active: u64,
}

struct NaiveConversation {
    id: u64,
    required: Vec<(String, u8)>,
    /// Virtual arrival, as the real core orders by.
    key: i64,
}

impl NaiveAgent {
    fn eligible(&self, required: &[(String, u8)]) -> bool {
        required
            .iter()
            .all(|(s, l)| self.skills.iter().any(|(h, hl)| h == s && hl >= l))
    }
}

impl Naive {
    fn sign_in(&self, skills: &[usize], capacity: u32, now: u64) {
        self.state.lock().unwrap().agents.push(NaiveAgent {
            skills: skills.iter().map(|&s| (skill_name(s), 3)).collect(),
            load: 0,
            capacity,
            last_active: now,
        });
    }

    /// Returns the agent offered, or `None` when the conversation waits.
    fn arrive(&self, skill: usize, head_start: i64, now: u64) -> Option<usize> {
        let mut state = self.state.lock().unwrap();
        state.next += 1;
        let required = vec![(skill_name(skill), 2)];
        let best = state
            .agents
            .iter()
            .enumerate()
            .filter(|(_, a)| a.load < a.capacity && a.eligible(&required))
            .min_by_key(|(_, a)| a.last_active)
            .map(|(i, _)| i);
        match best {
            Some(i) => {
                let a = &mut state.agents[i];
                a.load += 1;
                a.last_active = now;
                Some(i)
            }
            None => {
                let id = state.next;
                state.waiting.push(NaiveConversation {
                    id,
                    required,
                    key: now as i64 - head_start,
                });
                None
            }
        }
    }

    fn abandon_last(&self) {
        let mut state = self.state.lock().unwrap();
        let last = state.next;
        if let Some(i) = state.waiting.iter().position(|c| c.id == last) {
            state.waiting.swap_remove(i);
        }
    }

    /// An agent frees one unit of capacity and is offered the best waiting
    /// conversation it is eligible for.
    fn release(&self, agent: usize, now: u64) -> Option<u64> {
        let mut state = self.state.lock().unwrap();
        let state = &mut *state;
        let a = &mut state.agents[agent];
        if a.load == 0 {
            return None;
        }
        a.load -= 1;
        a.last_active = now;
        let best = state
            .waiting
            .iter()
            .enumerate()
            .filter(|(_, c)| a.eligible(&c.required))
            .min_by_key(|(_, c)| c.key)
            .map(|(i, _)| i)?;
        a.load += 1;
        Some(state.waiting.swap_remove(best).id)
    }
}

fn configs() -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for agents in [1_000, 10_000, 100_000] {
        for skills in [100, 1_000] {
            out.push((agents, skills));
        }
    }
    out
}

fn label(agents: usize, skills: usize) -> String {
    format!("{agents}/{skills}")
}

/// Times only `timed`, running `untimed` after each call to restore the state.
fn timed_loop<S>(
    iters: u64,
    state: &mut S,
    mut timed: impl FnMut(&mut S),
    mut untimed: impl FnMut(&mut S),
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let start = Instant::now();
        timed(state);
        total += start.elapsed();
        untimed(state);
    }
    total
}

fn matching_core(agents: usize, skills: usize) -> Core {
    let mut rng = Rng(7);
    let mut core = Core::new();
    for id in 0..agents {
        core.sign_in(id, &agent_skills(&mut rng, skills), 1_000);
    }
    core
}

fn matching_naive(agents: usize, skills: usize) -> Naive {
    let mut rng = Rng(7);
    let naive = Naive::default();
    for _ in 0..agents {
        naive.sign_in(&agent_skills(&mut rng, skills), 1_000, 0);
    }
    naive
}

fn arrival_matches(c: &mut Criterion) {
    let mut group = c.benchmark_group("arrival_matches");
    for (agents, skills) in configs() {
        // Built on first use: a case the filter leaves out costs nothing.
        let mut core = None;
        let mut pick = Rng(11);
        group.bench_function(BenchmarkId::new("core", label(agents, skills)), |b| {
            let core = core.get_or_insert_with(|| matching_core(agents, skills));
            b.iter_custom(|iters| {
                core.prepare(pick.below(skills), 0.0);
                timed_loop(iters, core, Core::decide, |core| {
                    core.abandon_last();
                    core.prepare(pick.below(skills), 0.0);
                })
            })
        });
        let mut naive = None;
        let mut pick = Rng(11);
        let mut now = 1;
        group.bench_function(BenchmarkId::new("naive", label(agents, skills)), |b| {
            let naive = naive.get_or_insert_with(|| matching_naive(agents, skills));
            b.iter(|| {
                now += 1;
                let agent = naive.arrive(pick.below(skills), 0, now);
                if let Some(a) = agent {
                    naive.state.lock().unwrap().agents[a].load -= 1;
                }
                black_box(agent)
            })
        });
    }
    group.finish();
}

/// A core with every agent full (one accepted conversation each) and `WAITING`
/// conversations queued; also the (agent, conversation) pairs assigned.
fn saturated_core(agents: usize, skills: usize) -> (Core, Vec<(String, ConversationId)>) {
    let mut rng = Rng(7);
    let mut core = Core::new();
    let mut held_by_agent = Vec::new();
    for id in 0..agents {
        let held = agent_skills(&mut rng, skills);
        core.sign_in(id, &held, 1);
        held_by_agent.push(held);
    }
    // Fill every agent with one conversation it is eligible for, and accept it.
    let mut assigned = Vec::new();
    for held in &held_by_agent {
        core.arrive(held[0], 0.0);
        for (conversation, agent) in core.drain() {
            core.router
                .accept(core.now, &agent, &conversation.to_string())
                .unwrap();
            core.drain();
            assigned.push((agent, conversation));
        }
    }
    let mut pick = Rng(13);
    for i in 0..WAITING {
        let clv = [0.0, 5_000.0, 50_000.0, 500_000.0][i % 4];
        core.arrive(pick.below(skills), clv);
        // The skill the baseline draws (kept so both see the same stream).
        pick.below(skills);
    }
    core.drain();
    (core, assigned)
}

/// The baseline with the same picture as [`saturated_core`], built directly: scanning
/// to build it would take hours at 100k agents.
fn saturated_naive(agents: usize, skills: usize) -> Naive {
    let mut rng = Rng(7);
    let naive = Naive::default();
    for _ in 0..agents {
        naive.sign_in(&agent_skills(&mut rng, skills), 1, 0);
    }
    let mut state = naive.state.lock().unwrap();
    for a in &mut state.agents {
        a.load = a.capacity;
    }
    let mut pick = Rng(13);
    for i in 0..WAITING {
        pick.below(skills);
        state.next += 1;
        let id = state.next;
        state.waiting.push(NaiveConversation {
            id,
            required: vec![(skill_name(pick.below(skills)), 2)],
            key: 2 + i as i64 - (i % 4) as i64 * 30_000,
        });
    }
    drop(state);
    naive
}

fn arrival_waits(c: &mut Criterion) {
    let mut group = c.benchmark_group("arrival_waits");
    group.sample_size(20);
    for (agents, skills) in configs() {
        let mut core = None;
        let mut pick = Rng(17);
        group.bench_function(BenchmarkId::new("core", label(agents, skills)), |b| {
            let (core, _) = core.get_or_insert_with(|| saturated_core(agents, skills));
            b.iter_custom(|iters| {
                core.prepare(pick.below(skills), 5_000.0);
                timed_loop(iters, core, Core::decide, |core| {
                    core.abandon_last();
                    core.prepare(pick.below(skills), 5_000.0);
                })
            })
        });
        let mut naive = None;
        let mut pick = Rng(17);
        group.bench_function(BenchmarkId::new("naive", label(agents, skills)), |b| {
            let naive = naive.get_or_insert_with(|| saturated_naive(agents, skills));
            b.iter_custom(|iters| {
                timed_loop(
                    iters,
                    &mut (),
                    |_| {
                        black_box(naive.arrive(pick.below(skills), 30_000, 10_000_000));
                    },
                    |_| naive.abandon_last(),
                )
            })
        });
    }
    group.finish();
}

fn release_pulls(c: &mut Criterion) {
    let mut group = c.benchmark_group("release_pulls");
    group.sample_size(20);
    for (agents, skills) in configs() {
        let mut core = None;
        let mut turn = 0usize;
        let mut refill = Rng(19);
        group.bench_function(BenchmarkId::new("core", label(agents, skills)), |b| {
            let (core, assigned) = core.get_or_insert_with(|| saturated_core(agents, skills));
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    turn = (turn + 1) % assigned.len();
                    let (agent, conversation) = assigned[turn].clone();
                    core.now += 1;
                    let start = Instant::now();
                    core.router
                        .close(core.now, &agent, &conversation.to_string())
                        .unwrap();
                    let offered = black_box(core.drain());
                    total += start.elapsed();
                    // Keep the pool saturated: accept what was offered (or take a new
                    // one if nothing was), and keep the queue at its size.
                    let Some(&(next, _)) = offered.first() else {
                        // Nothing this agent can serve waits: it leaves the rotation.
                        assigned.swap_remove(turn);
                        continue;
                    };
                    core.router
                        .accept(core.now, &agent, &next.to_string())
                        .unwrap();
                    core.drain();
                    assigned[turn] = (agent, next);
                    core.arrive(refill.below(skills), 0.0);
                    core.drain();
                }
                total
            })
        });
        let mut naive = None;
        let mut refill = Rng(19);
        let mut turn = 0usize;
        let mut now = 20_000_000;
        group.bench_function(BenchmarkId::new("naive", label(agents, skills)), |b| {
            let naive = naive.get_or_insert_with(|| saturated_naive(agents, skills));
            b.iter_custom(|iters| {
                timed_loop(
                    iters,
                    &mut (&mut turn, &mut now),
                    |(turn, now)| {
                        **turn = (**turn + 1) % agents;
                        **now += 1;
                        black_box(naive.release(**turn, **now));
                    },
                    |(_, now)| {
                        naive.arrive(refill.below(skills), 0, **now);
                    },
                )
            })
        });
    }
    group.finish();
}

fn contention(c: &mut Criterion) {
    let mut group = c.benchmark_group("contention");
    group.sample_size(20);
    let (agents, skills) = (10_000, 100);
    let mut core = None;
    // Two threads, each `iters / 2` arrival+abandon pairs against one tenant lock.
    group.bench_function(BenchmarkId::new("core", "2-threads"), |b| {
        let core: &Arc<Mutex<Core>> =
            core.get_or_insert_with(|| Arc::new(Mutex::new(matching_core(agents, skills))));
        b.iter_custom(|iters| {
            let start = Instant::now();
            std::thread::scope(|s| {
                for t in 0..2u64 {
                    let core = core.clone();
                    s.spawn(move || {
                        let mut pick = Rng(23 + t);
                        for _ in 0..iters.div_ceil(2) {
                            let mut core = core.lock().unwrap();
                            core.arrive(pick.below(skills), 0.0);
                            core.drain();
                            core.abandon_last();
                        }
                    });
                }
            });
            start.elapsed()
        })
    });
    let mut naive = None;
    group.bench_function(BenchmarkId::new("naive", "2-threads"), |b| {
        let naive: &Arc<Naive> =
            naive.get_or_insert_with(|| Arc::new(matching_naive(agents, skills)));
        b.iter_custom(|iters| {
            let start = Instant::now();
            std::thread::scope(|s| {
                for t in 0..2u64 {
                    let naive = naive.clone();
                    s.spawn(move || {
                        let mut pick = Rng(23 + t);
                        for i in 0..iters.div_ceil(2) {
                            if let Some(a) = naive.arrive(pick.below(skills), 0, i) {
                                naive.state.lock().unwrap().agents[a].load -= 1;
                            }
                        }
                    });
                }
            });
            start.elapsed()
        })
    });
    group.finish();
}

/// Agents each holding one accepted conversation, for the relay cases; also the
/// (agent, channel conversation id, conversation) of each.
fn relaying_core(agents: usize) -> (Core, Vec<(String, String, ConversationId)>) {
    let mut core = Core::new();
    for id in 0..agents {
        core.sign_in(id, &[id % 100], 1);
    }
    let mut held = Vec::new();
    for id in 0..agents {
        core.arrive(id % 100, 0.0);
        let n = core.next;
        for (conversation, agent) in core.drain() {
            core.router
                .accept(core.now, &agent, &conversation.to_string())
                .unwrap();
            core.drain();
            held.push((agent, format!("conv-{n}"), conversation));
        }
        assert_eq!(held.len(), id + 1, "every agent takes its own conversation");
    }
    (core, held)
}

/// A follow-up customer message in an open conversation, as the adapter sends it.
fn follow_up(n: u64, channel_conversation_id: &str) -> InboundMessage {
    InboundMessage {
        channel_conversation_id: channel_conversation_id.to_owned(),
        customer_id: channel_conversation_id.replacen("conv", "cust", 1),
        client_message_id: Some(format!("m-{n}")),
        text: "it has not arrived yet".to_owned(),
        required_skills: Vec::new(),
        ..message(0, 0, 0.0)
    }
}

fn relay(c: &mut Criterion) {
    let mut group = c.benchmark_group("relay");
    for agents in [1_000, 10_000, 100_000] {
        let mut core = None;
        let mut turn = 0usize;
        group.bench_function(BenchmarkId::new("customer", agents), |b| {
            let (core, held) = core.get_or_insert_with(|| relaying_core(agents));
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    turn = (turn + 1) % held.len();
                    core.next += 1;
                    core.now += 1;
                    let command = Command::CustomerMessage(follow_up(core.next, &held[turn].1));
                    total += core.timed_apply(command);
                }
                total
            })
        });
        let mut core = None;
        let mut turn = 0usize;
        group.bench_function(BenchmarkId::new("agent", agents), |b| {
            let (core, held) = core.get_or_insert_with(|| relaying_core(agents));
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    turn = (turn + 1) % held.len();
                    core.now += 1;
                    let (agent, _, conversation) = &held[turn];
                    let command = Command::Reply {
                        agent: agent.clone(),
                        conversation: conversation.to_string(),
                        text: "it ships tomorrow".to_owned(),
                    };
                    total += core.timed_apply(command);
                }
                total
            })
        });
    }
    group.finish();
}

/// A router with `waiting` conversations queued and no agent.
fn waiting_core(waiting: usize) -> Core {
    let mut core = Core::new();
    for _ in 0..waiting {
        core.arrive(0, 100.0);
    }
    core.drain();
    // The first pass tells everyone; the benches time the passes after it.
    core.refresh_pass();
    core
}

impl Core {
    /// Runs ticks 100 ms apart from the next queue-update time until the pass over
    /// the waiting customers is over, timing each; returns the longest tick and the sum.
    fn refresh_pass(&mut self) -> (Duration, Duration) {
        self.now += 15_000;
        let (mut longest, mut total) = (Duration::ZERO, Duration::ZERO);
        for _ in 0..1_000 {
            let start = Instant::now();
            self.router.apply(self.now, Command::Tick).unwrap();
            let (events, notices) = self.router.drain();
            let took = start.elapsed();
            longest = longest.max(took);
            total += took;
            black_box(events);
            self.now += 100;
            black_box(notices);
            if !self.router.refreshing_queue_positions() {
                break;
            }
        }
        (longest, total)
    }
}

fn queue_refresh(c: &mut Criterion) {
    let mut group = c.benchmark_group("queue_refresh");
    group.sample_size(10);
    for waiting in [10_000, 100_000] {
        let mut core = None;
        for (name, pick) in [("longest_tick", 0), ("whole_pass", 1)] {
            group.bench_function(BenchmarkId::new(name, waiting), |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| {
                            let core = core.get_or_insert_with(|| waiting_core(waiting));
                            let (longest, total) = core.refresh_pass();
                            // Hours of router time on, the waits time out: start over.
                            if core.router.waiting_len() < waiting {
                                *core = waiting_core(waiting);
                            }
                            if pick == 0 { longest } else { total }
                        })
                        .sum()
                })
            });
        }
    }
    group.finish();
}

fn settings() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = settings();
    targets = arrival_matches, arrival_waits, release_pulls, contention, relay, queue_refresh
}
criterion_main!(benches);
