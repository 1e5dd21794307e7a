//! Memory per waiting conversation in the routing core: a router with one agent and
//! 100k conversations waiting for skills no agent has. The `router` case is what the
//! server keeps; `router+board` adds the event-built board an event consumer (and the
//! property tests) would keep beside it, which the server no longer does.
//!
//! Run: `cargo bench --bench routing_memory`.
//!
//! Each case runs in a fresh child process (this binary again), so what earlier cases
//! allocated and freed does not blur it; the figure is the growth of the process's
//! resident set (`VmRSS`) while the conversations are filed, divided by their number.
//! It counts what the allocator really holds: hash-table slack, tree nodes, freed
//! chunks not given back. (A counting global allocator would be more exact, but the
//! crate forbids `unsafe_code`, and `GlobalAlloc` cannot be implemented without it.)

mod common;

use std::hint::black_box;
use std::process::Command;

use common::{message, rss_bytes};
use switchboard::routing::{Board, PerClass, Presence, Router, RoutingPolicy, SignIn};

const WAITING: usize = 100_000;
const CASE_VAR: &str = "SWITCHBOARD_ROUTING_MEMORY_CASE";
const CASES: [&str; 2] = ["router", "router+board"];

/// Fills one case and prints its line.
fn run_case(case: &str) {
    let with_board = case == "router+board";
    let mut router = Router::new(RoutingPolicy {
        max_open_conversations: 10_000_000,
        ..RoutingPolicy::default()
    })
    .unwrap();
    let mut board = Board::new(1_000);
    router
        .sign_in(
            0,
            SignIn {
                agent_id: "agent-0".to_owned(),
                display_name: String::new(),
                skills: vec![("skill-0".to_owned(), 3)],
                capacity: PerClass([1, 0, 0]),
                presence: Presence::Available,
            },
        )
        .unwrap();
    let mut events = Vec::new();
    let mut notices = Vec::new();
    let before = rss_bytes();
    for i in 0..WAITING {
        // Built in the loop: what the message holds and the core does not keep is
        // freed before the next one, so only what the core keeps makes the set grow.
        let msg = message(
            i as u64,
            1 + (i * 7919) % 99,
            [0.0, 5_000.0, 50_000.0][i % 3],
        );
        router.customer_message(1_000_000 + i as u64, msg).unwrap();
        let (e, n) = router.drain();
        if with_board {
            for event in &e {
                board.apply(event);
            }
        }
        // Dropped at once, as the tenant layer does after delivering them.
        events = e;
        notices = n;
    }
    let after = rss_bytes();
    assert_eq!(router.waiting_len(), WAITING);
    let grown = after.saturating_sub(before);
    println!(
        "routing_memory/{case}: {WAITING} waiting conversations: {:.1} MiB resident, {:.0} bytes each",
        grown as f64 / (1024.0 * 1024.0),
        grown as f64 / WAITING as f64
    );
    black_box((&router, &board, &events, &notices));
}

fn main() {
    if let Ok(case) = std::env::var(CASE_VAR) {
        run_case(&case);
        return;
    }
    // `cargo bench -- <filter>` passes the filter on: run only when it names us.
    let filter = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_default();
    let exe = std::env::current_exe().expect("own path");
    for case in CASES {
        let name = format!("routing_memory/{case}");
        if !name.contains(&filter) {
            continue;
        }
        let status = Command::new(&exe)
            .env(CASE_VAR, case)
            .status()
            .expect("child process");
        assert!(status.success(), "{name} failed");
    }
}
