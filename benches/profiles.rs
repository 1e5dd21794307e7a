//! What knowing the customer costs the routing core (issue 13): a new conversation
//! from a stranger (no identifiers, as before profiles), from a new person (two
//! verified identifiers: a profile is made), and from a returning person with a
//! history and facts (recognised, valued by the formula, health assessed); and a
//! relayed customer message on an assigned conversation, stranger against recognised
//! person. All in one run, so the ratios hold on a noisy machine. Then memory per
//! profile.
//!
//! Run: `cargo bench --bench profiles` (memory: `cargo bench --bench profiles -- memory`).

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::{message, rss_bytes};
use criterion::{BenchmarkId, Criterion, criterion_group};
use switchboard::customer::{ClaimedIdentity, Fact, FactKind, Identity, IdentityKind};
use switchboard::routing::{
    Channel, Command, InboundMessage, PerClass, Presence, ProfileRef, Router, RoutingPolicy, SignIn,
};

const DAY_MS: u64 = 24 * 3600 * 1000;

fn router() -> Router {
    let mut r = Router::new(RoutingPolicy {
        max_open_conversations: 10_000_000,
        ..RoutingPolicy::default()
    })
    .unwrap();
    // An agent without the skill the arrivals need: they wait, as most do at peak.
    r.sign_in(
        1_000,
        SignIn {
            agent_id: "agent-0".to_owned(),
            display_name: String::new(),
            skills: vec![("other".to_owned(), 3)],
            capacity: PerClass([1, 0, 0]),
            presence: Presence::Available,
        },
    )
    .unwrap();
    r
}

fn phone(n: u64) -> Identity {
    Identity::new(
        IdentityKind::Phone,
        &format!("+86138{:08}", n % 100_000_000),
    )
    .unwrap()
}

fn with_identities(mut msg: InboundMessage, n: u64) -> InboundMessage {
    msg.identities = vec![
        ClaimedIdentity {
            identity: phone(n),
            verified: true,
        },
        ClaimedIdentity {
            identity: Identity::new(IdentityKind::Email, &format!("c{n}@example.com")).unwrap(),
            verified: true,
        },
    ];
    msg
}

/// `people` profiles with 10 orders each and 5 past conversations, as a tenant that
/// pushes facts and has served them before.
fn with_people(r: &mut Router, people: u64, now: &mut u64) {
    for p in 0..people {
        let facts = (0..10)
            .map(|i| Fact {
                kind: FactKind::Order,
                amount: 100.0 + i as f64,
                at: *now - (i + 1) * 30 * DAY_MS,
            })
            .collect();
        r.apply(
            *now,
            Command::CustomerFacts {
                who: ProfileRef::Identity(phone(p)),
                facts,
            },
        )
        .unwrap();
        for visit in 0..5 {
            *now += 1;
            let key = format!("past-{p}-{visit}");
            let mut msg = with_identities(message(p, 1, 0.0), p);
            msg.channel_conversation_id = key.clone();
            r.customer_message(*now, msg).unwrap();
            r.abandon(*now, Channel::Web, &key, &format!("cust-{p}"))
                .unwrap();
        }
        r.drain();
    }
}

/// Times arrivals (each abandoned after, untimed, so the router stays the same size).
fn time_arrivals(
    iters: u64,
    r: &mut Router,
    now: &mut u64,
    make: impl Fn(u64) -> InboundMessage,
) -> Duration {
    let mut took = Duration::ZERO;
    for i in 0..iters {
        *now += 1;
        let msg = make(i);
        let key = msg.channel_conversation_id.clone();
        let customer = msg.customer_id.clone();
        let start = Instant::now();
        black_box(r.customer_message(*now, msg).unwrap());
        black_box(r.drain());
        took += start.elapsed();
        r.abandon(*now, Channel::Web, &key, &customer).unwrap();
        black_box(r.drain());
    }
    took
}

fn new_conversation(c: &mut Criterion) {
    let mut group = c.benchmark_group("profiles/new_conversation");
    const PEOPLE: u64 = 10_000;
    group.bench_function(BenchmarkId::new("stranger", PEOPLE), |b| {
        let mut r = router();
        let mut now = 400 * DAY_MS;
        b.iter_custom(|iters| time_arrivals(iters, &mut r, &mut now, |i| message(i, 1, 5_000.0)));
    });
    group.bench_function(BenchmarkId::new("new_person", PEOPLE), |b| {
        let mut r = router();
        let mut now = 400 * DAY_MS;
        let mut next = 0;
        b.iter_custom(|iters| {
            let start = next;
            next += iters;
            // Fresh people each time: every arrival makes a profile.
            time_arrivals(iters, &mut r, &mut now, |i| {
                with_identities(message(start + i, 1, 5_000.0), 1_000_000 + start + i)
            })
        });
    });
    group.bench_function(BenchmarkId::new("returning", PEOPLE), |b| {
        let mut r = router();
        let mut now = 400 * DAY_MS;
        with_people(&mut r, PEOPLE, &mut now);
        b.iter_custom(|iters| {
            time_arrivals(iters, &mut r, &mut now, |i| {
                let p = i % PEOPLE;
                let mut msg = with_identities(message(i, 1, 0.0), p);
                msg.channel_conversation_id = format!("again-{i}");
                msg.customer_id = format!("cust-{p}");
                msg
            })
        });
    });
    group.finish();
}

/// A router with `n` assigned conversations: an agent with room for all of them.
fn assigned(n: u64, recognised: bool) -> (Router, u64) {
    let mut r = router();
    let mut now = 400 * DAY_MS;
    if recognised {
        with_people(&mut r, n, &mut now);
    }
    r.sign_in(
        now,
        SignIn {
            agent_id: "relay-agent".to_owned(),
            display_name: String::new(),
            skills: vec![(common::skill_name(1), 3)],
            capacity: PerClass([n as u32, 0, 0]),
            presence: Presence::Available,
        },
    )
    .unwrap();
    for i in 0..n {
        now += 1;
        let mut msg = message(i, 1, 0.0);
        msg.channel_conversation_id = format!("relay-{i}");
        if recognised {
            msg = with_identities(msg, i);
            msg.channel_conversation_id = format!("relay-{i}");
        }
        let id = r.customer_message(now, msg).unwrap().conversation;
        r.drain();
        r.accept(now, "relay-agent", &id.to_string()).unwrap();
        r.drain();
    }
    (r, now)
}

fn relay(c: &mut Criterion) {
    let mut group = c.benchmark_group("profiles/relay");
    const OPEN: u64 = 1_000;
    for recognised in [false, true] {
        let name = if recognised { "recognised" } else { "stranger" };
        group.bench_function(BenchmarkId::new(name, OPEN), |b| {
            let (mut r, mut now) = assigned(OPEN, recognised);
            b.iter_custom(|iters| {
                let mut took = Duration::ZERO;
                for i in 0..iters {
                    now += 1;
                    let n = i % OPEN;
                    let mut msg = message(n, 1, 0.0);
                    msg.channel_conversation_id = format!("relay-{n}");
                    if recognised {
                        msg = with_identities(msg, n);
                        msg.channel_conversation_id = format!("relay-{n}");
                    }
                    let start = Instant::now();
                    black_box(r.customer_message(now, msg).unwrap());
                    black_box(r.drain());
                    took += start.elapsed();
                }
                took
            });
        });
    }
    group.finish();
}

/// Memory per profile with two identifiers, the channel id, 10 facts and 5 past
/// conversations: the growth of the resident set while they are made.
fn memory() {
    const PEOPLE: u64 = 50_000;
    let mut r = router();
    let mut now = 400 * DAY_MS;
    let before = rss_bytes();
    with_people(&mut r, PEOPLE, &mut now);
    let grown = rss_bytes().saturating_sub(before);
    println!(
        "profiles/memory: {PEOPLE} profiles (3 identifiers, 10 facts, 5 past conversations each): {:.1} MiB resident, {:.0} bytes each",
        grown as f64 / (1024.0 * 1024.0),
        grown as f64 / PEOPLE as f64
    );
    black_box(&r);
}

criterion_group!(benches, new_conversation, relay);

fn main() {
    let filter = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_default();
    if "profiles/memory".contains(&filter) || filter == "memory" {
        memory();
        if filter == "memory" {
            return;
        }
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
