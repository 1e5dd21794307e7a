//! The what-if simulator on the real routing core.
//!
//! - A first-come-first-served single-skill scenario is an M/M/c queue, so its
//!   probability of waiting and mean wait must match Erlang C.
//! - The same seed gives the same report.
//! - Value routing serves high tiers faster than low ones, and faster than first come,
//!   first served would, at some cost to the lowest tier.
//! - A bad scenario is refused with an error naming the field, by the library and by
//!   `switchboard simulate`.
//! - Returning customers (`[customers]`) are recognised by the router on every visit
//!   and channel; the loss value at risk matches a hand computation on a one-customer
//!   day; and a scenario without `[customers]` reports exactly what it did before.
//! - A `[campaign]` reaches every customer of its segment at its pace, three in ten
//!   of them write back as configured, their conversations load the queues, and a
//!   campaign whose queue falls behind pauses itself.

use std::path::{Path, PathBuf};
use std::process::Command;

use switchboard::simulate::{
    CustomerReport, Report, Scenario, erlang_c, erlang_c_mean_wait, report_text, run,
};

fn scenario(file: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(file);
    Scenario::from_file(&path).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// Erlang C's P(wait) and mean wait (seconds) for the FCFS scenario's parameters.
fn erlang_figures(s: &Scenario) -> (f64, f64) {
    let servers = s.agents[0].count;
    let arrival_rate = s.arrivals[0].rate_per_hour.expect("rate per hour") / 3600.0;
    let service_rate = 1.0 / s.agents[0].handle_secs;
    (
        erlang_c(servers, arrival_rate / service_rate),
        erlang_c_mean_wait(servers, arrival_rate, service_rate),
    )
}

/// Simulated P(wait) and mean wait, pooled over two independent replications (seeds
/// `seed` and `seed + 1`) run on two threads.
fn simulated_figures(s: &Scenario, seed: u64) -> (f64, f64) {
    let reports: Vec<Report> = std::thread::scope(|scope| {
        let handles: Vec<_> = [seed, seed + 1]
            .into_iter()
            .map(|seed| {
                let mut s = s.clone();
                s.seed = seed;
                scope.spawn(move || run(&s).expect("runs"))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let answered: u64 = reports.iter().map(|r| r.total.answered).sum();
    let waited: u64 = reports.iter().map(|r| r.total.waited).sum();
    let wait_sum: f64 = reports
        .iter()
        .map(|r| r.total.mean_wait_secs.unwrap() * r.total.answered as f64)
        .sum();
    for r in &reports {
        assert_eq!(r.total.abandoned, 0, "nobody abandons in this scenario");
        assert_eq!(r.total.answered, r.total.offered, "everyone is answered");
        assert_eq!(r.stale_actions, 0);
    }
    (waited as f64 / answered as f64, wait_sum / answered as f64)
}

/// `scenarios/fcfs-erlang.toml`: 10 agents, exponential handle times of mean 120 s,
/// Poisson arrivals at 255 an hour (8.5 Erlangs, 85% occupancy), no abandonment, agents
/// answer at once, one tier. Erlang C: P(wait) = 0.530, mean wait 42.4 s.
///
/// Two replications of 1,000 simulated hours (about 255,000 customers each), pooled.
/// The tolerance study below (release build: `cargo test --release --test simulate --
/// --ignored --nocapture`), over 20 other seed pairs, found the pooled mean wait off
/// Erlang C by +0.04% on average (no bias) with a standard deviation of 2.75% (largest
/// 5.3%), and the pooled P(wait) off by -0.0001 on average with a standard deviation
/// of 0.0049 (largest 0.0094). The tolerances, 10% relative on the mean wait and 0.03
/// absolute on P(wait), are therefore about 3.6 and 6 standard deviations: a correct
/// router passes with practically any seed, while one that broke first come, first
/// served or left an eligible agent idle while a customer waits would be far outside
/// them. The seed is fixed anyway (11 and 12, from the scenario file).
#[test]
fn fcfs_single_skill_matches_erlang_c() {
    let s = scenario("fcfs-erlang.toml");
    let (p_formula, wait_formula) = erlang_figures(&s);
    assert!((p_formula - 0.530).abs() < 0.001, "{p_formula}");
    assert!((wait_formula - 42.39).abs() < 0.01, "{wait_formula}");
    let (p_sim, wait_sim) = simulated_figures(&s, s.seed);
    println!(
        "P(wait): simulated {p_sim:.4}, Erlang C {p_formula:.4}; mean wait: simulated {wait_sim:.2} s, Erlang C {wait_formula:.2} s ({:+.1}%)",
        (wait_sim / wait_formula - 1.0) * 100.0
    );
    assert!(
        (p_sim - p_formula).abs() < 0.03,
        "P(wait) {p_sim:.4} vs Erlang C {p_formula:.4}"
    );
    assert!(
        (wait_sim / wait_formula - 1.0).abs() < 0.10,
        "mean wait {wait_sim:.2} s vs Erlang C {wait_formula:.2} s"
    );
}

/// The tolerance study behind the test above; slow in a debug build.
#[test]
#[ignore = "tolerance study: run with --release --ignored --nocapture"]
fn fcfs_erlang_error_across_seeds() {
    let s = scenario("fcfs-erlang.toml");
    let (p_formula, wait_formula) = erlang_figures(&s);
    let mut relative = Vec::new();
    let mut absolute = Vec::new();
    for pair in 0..20 {
        let (p, w) = simulated_figures(&s, 1000 + 2 * pair);
        relative.push(w / wait_formula - 1.0);
        absolute.push(p - p_formula);
        println!(
            "seeds {}-{}: mean wait {w:.2} s ({:+.1}%), P(wait) {p:.4} ({:+.4})",
            1000 + 2 * pair,
            1001 + 2 * pair,
            (w / wait_formula - 1.0) * 100.0,
            p - p_formula
        );
    }
    let stats = |v: &[f64]| {
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        let max = v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        (mean, sd, max)
    };
    let (m, sd, max) = stats(&relative);
    println!(
        "pooled mean wait vs Erlang C: mean {:+.2}%, sd {:.2}%, largest {:.2}%",
        m * 100.0,
        sd * 100.0,
        max * 100.0
    );
    let (m, sd, max) = stats(&absolute);
    println!("pooled P(wait) vs Erlang C: mean {m:+.4}, sd {sd:.4}, largest {max:.4}");
}

#[test]
fn same_seed_same_report() {
    let s = scenario("value-routing.toml");
    let first = run(&s).unwrap();
    let second = run(&s).unwrap();
    assert_eq!(first, second);
    assert_eq!(first.to_string(), second.to_string());
    let mut other = s.clone();
    other.seed += 1;
    assert_ne!(run(&other).unwrap(), first, "the seed matters");
}

#[test]
fn value_routing_serves_high_tiers_first_at_a_cost_to_the_lowest() {
    let s = scenario("value-routing.toml");
    let routed = run(&s).unwrap();
    let fcfs = run(&s.fcfs_baseline()).unwrap();
    let wait = |r: &Report, tier: &str| {
        r.tiers
            .iter()
            .find(|t| t.name == tier)
            .and_then(|t| t.mean_wait_secs)
            .unwrap_or_else(|| panic!("no waits for tier {tier}"))
    };
    for r in [&routed, &fcfs] {
        assert!(r.tiers.iter().all(|t| t.offered > 0), "every tier arrives");
        assert_eq!(r.stale_actions, 0);
        assert_eq!(r.total.unanswered, 0);
        assert_eq!(r.total.offered, routed.total.offered, "same arrivals");
    }
    println!(
        "{}",
        switchboard::simulate::render_comparison(&routed, &fcfs)
    );
    assert!(wait(&routed, "platinum") < wait(&routed, "gold"));
    assert!(wait(&routed, "gold") < wait(&routed, "standard"));
    assert!(wait(&routed, "platinum") < 0.6 * wait(&fcfs, "platinum"));
    assert!(wait(&routed, "gold") < wait(&fcfs, "gold"));
    assert!(wait(&routed, "standard") > wait(&fcfs, "standard"));
    let sl = |r: &Report, tier: &str| {
        r.tiers
            .iter()
            .find(|t| t.name == tier)
            .and_then(|t| t.service_level())
            .unwrap()
    };
    assert!(sl(&routed, "platinum") > sl(&routed, "standard"));
    assert!(routed.agents.occupancy().unwrap() > 0.5);
}

fn temp_scenario(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "switchboard-simulate-{}-{name}.toml",
        std::process::id()
    ));
    std::fs::write(&path, text).unwrap();
    path
}

const SMALL: &str = r#"
duration_secs = 3600
[[arrivals]]
name = "chat"
rate_per_hour = 60
[[agents]]
name = "team"
count = 2
handle_secs = 60
"#;

#[test]
fn bad_scenarios_are_refused_naming_the_field() {
    let cases = [
        (
            "negative-rate",
            SMALL.replace("rate_per_hour = 60", "rate_per_hour = -5"),
            "arrivals[0].rate_per_hour",
        ),
        (
            "unknown-key",
            SMALL.replace("handle_secs = 60", "handle_secs = 60\nhandle_mins = 1"),
            "handle_mins",
        ),
        (
            "unknown-tier",
            SMALL.replace("name = \"chat\"", "name = \"chat\"\ntiers = { vip = 1.0 }"),
            "arrivals[0].tiers.vip",
        ),
        (
            "bad-queue",
            SMALL.replace("name = \"chat\"", "name = \"chat\"\nqueue = \"nope\""),
            "arrivals[0].queue",
        ),
        (
            "bad-routing",
            format!("{SMALL}\n[routing]\noffer_timeout_ms = 0\n"),
            "routing: offer_timeout_ms",
        ),
    ];
    for (name, text, field) in cases {
        let path = temp_scenario(name, &text);
        let error = Scenario::from_file(&path).unwrap_err().to_string();
        assert!(error.contains(field), "{name}: {field:?} not in {error:?}");
        std::fs::remove_file(path).unwrap();
    }
    let missing = Scenario::from_file(Path::new("/nonexistent/scenario.toml")).unwrap_err();
    assert!(missing.to_string().contains("/nonexistent/scenario.toml"));
}

#[test]
fn the_subcommand_prints_the_report_or_names_the_bad_field() {
    let binary = env!("CARGO_BIN_EXE_switchboard");
    let good = temp_scenario("good", SMALL);
    let out = Command::new(binary)
        .args(["simulate", "--config"])
        .arg(&good)
        .args(["--seed", "3"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("(seed 3)"), "{stdout}");
    assert!(stdout.contains("occupancy"), "{stdout}");

    let bad = temp_scenario("bad", &SMALL.replace("count = 2", "count = 0"));
    let out = Command::new(binary)
        .args(["simulate", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("agents[0].count"), "{stderr}");
    for path in [good, bad] {
        std::fs::remove_file(path).unwrap();
    }
}

fn customers_of(report: &Report) -> &CustomerReport {
    report.customers.as_ref().expect("a [customers] scenario")
}

/// `scenarios/returning-customers.toml`: 2,000 customers, four streams on three
/// channels drawing from them. Every contact is filed under the customer's own profile
/// (the one their facts were pushed to), so the router holds one profile per person
/// who came, at most the population, and people who came back were recognised.
#[test]
fn returning_customers_are_recognised_on_every_visit_and_channel() {
    let s = scenario("returning-customers.toml");
    let routed = run(&s).unwrap();
    let fcfs = run(&s.fcfs_baseline()).unwrap();
    for r in [&routed, &fcfs] {
        let c = customers_of(r);
        assert_eq!(r.stale_actions, 0);
        assert_eq!(c.population, 2000);
        assert_eq!(c.contacts, r.total.offered, "every arrival is a customer");
        assert_eq!(c.recognised, c.contacts, "every contact recognised");
        assert_eq!(c.profiles, c.total.customers, "one profile per person");
        assert!(c.profiles <= c.population);
        assert!(
            c.contacts > c.total.customers + 1000,
            "customers come back: {} contacts from {} customers",
            c.contacts,
            c.total.customers
        );
        assert_eq!(c.rated, r.total.answered, "every served contact is rated");
        assert!(c.total.at_risk <= c.total.customers);
        assert!(c.total.at_risk_loss_value <= c.total.contacted_loss_value);
        // The router tiered them by value: every tier has customers.
        assert!(c.tiers.iter().all(|t| t.customers > 0), "{:?}", c.tiers);
    }
    // Same customers on the same draws: only what happened to them differs.
    let (r, f) = (customers_of(&routed), customers_of(&fcfs));
    assert_eq!(r.total.customers, f.total.customers);
    assert_eq!(r.total.contacted_loss_value, f.total.contacted_loss_value);
    let text = report_text(&s).unwrap();
    assert!(text.contains("loss value at risk than FCFS"), "{text}");
}

/// One customer, valued by hand: one order of 1,000 two years ago, nothing else.
/// Continuing formula over 6 years: 0.5 orders a year × 6 × 1,000 = 3,000 (silver,
/// from 1,000); still to come 0.5 × (6 − 2) × 1,000 = 2,000, × 1.15 = 2,300 loss value.
const ONE_CUSTOMER: &str = r#"
name = "one-customer"
duration_secs = 3600
seed = 3

[routing.value]
formula = "continuing"
relationship_years = 6.0
reputation_factor = 0.15

[customers]
count = 1
currency = "EUR"

[[customers.segments]]
name = "only"
share = 1.0
tenure_years = [2.0, 2.0]
orders_per_year = 0.0
average_order = 1000.0
order_spread = 0.0

[customers.satisfaction]
noise = 0.0
tolerance_secs = 100

[[arrivals]]
name = "web"
channel = "web"
rate_per_hour = 10
patience_secs = 60

[[arrivals]]
name = "app"
channel = "app"
rate_per_hour = 10
patience_secs = 60

[[agents]]
name = "one"
count = 1
handle_secs = 100000
handle_distribution = "fixed"
"#;

/// The first contact is answered at once (rating 5); the agent then stays on it all
/// day, so every later contact abandons. The customer is at risk once, with their
/// 2,300 EUR, however many times they gave up.
#[test]
fn loss_value_at_risk_matches_the_hand_computation_once_per_customer() {
    let report = run(&Scenario::from_toml(ONE_CUSTOMER).unwrap()).unwrap();
    let c = customers_of(&report);
    assert!(report.total.offered >= 5, "{:?}", report.total);
    assert_eq!(report.total.answered, 1);
    assert_eq!(report.total.abandoned, report.total.offered - 1);
    let silver = &report.tiers[1];
    assert_eq!(silver.name, "silver");
    assert_eq!(
        silver.offered, report.total.offered,
        "the router tiered by value"
    );
    assert_eq!(
        (c.contacts, c.recognised, c.profiles),
        (report.total.offered, report.total.offered, 1)
    );
    assert_eq!((c.rated, c.rated_low, c.mean_rating()), (1, 0, Some(5.0)));
    for row in [&c.total, &c.tiers[1]] {
        assert_eq!(
            (row.customers, row.abandoned, row.rated_low, row.at_risk),
            (1, 1, 0, 1)
        );
        assert!((row.at_risk_loss_value - 2300.0).abs() < 1e-6, "{row:?}");
        assert!((row.contacted_loss_value - 2300.0).abs() < 1e-6, "{row:?}");
    }
    assert_eq!(
        c.tiers[0].customers + c.tiers[2].customers + c.tiers[3].customers,
        0
    );
    let text = report.to_string();
    assert!(text.contains("at risk (EUR)"), "{text}");
    assert!(text.contains("2,300"), "{text}");

    // Nobody abandons now and the agent works 600 s a contact: contacts that waited
    // more than 62.5 s (5/8 of the 100 s tolerance) rate 2 or lower. The customer is
    // still at risk once, for 2,300, however many low ratings they gave.
    let patient = ONE_CUSTOMER
        .replace("patience_secs = 60\n", "")
        .replace("handle_secs = 100000", "handle_secs = 600");
    let report = run(&Scenario::from_toml(&patient).unwrap()).unwrap();
    let c = customers_of(&report);
    assert_eq!(report.total.answered, report.total.offered);
    assert_eq!(c.rated, report.total.offered);
    assert!(c.rated_low >= 2, "{c:?}");
    assert_eq!(
        (c.total.abandoned, c.total.rated_low, c.total.at_risk),
        (0, 1, 1)
    );
    assert!((c.total.at_risk_loss_value - 2300.0).abs() < 1e-6);
}

/// A scenario without `[customers]`: no customer section, and the text the
/// simulator printed before returning customers existed (captured from commit
/// 118bdcb's binary with `switchboard simulate --config`), to the character, but
/// for the column names made explicit since (`abandoned %`, and `slot-h staffed` and
/// `slot-h busy` for what were `staffed h` and `busy h`).
#[test]
fn without_customers_the_report_is_what_it_was() {
    const SCENARIO: &str = r#"
duration_secs = 7200
warmup_secs = 600
seed = 5
compare_fcfs = true
[[arrivals]]
name = "chat"
rate_per_hour = 100
tiers = { standard = 0.8, gold = 0.2 }
patience_secs = 90
[[agents]]
name = "team"
count = 2
handle_secs = 70
"#;
    const BEFORE: &str = r#"scenario (seed 5): 1:50:00 measured after 0:10:00 warm-up; 188 customers
service level = answered within 20 s / (offered - abandoned within 20 s); waits are to the first answer

  tier      offered  answered  abandoned %  SL 20s  mean wait  p90 wait
  standard      156       121        22.4%   60.3%     17.2 s    58.3 s
  gold           32        25        21.9%   58.6%     19.5 s    54.8 s
  all           188       146        22.3%   60.0%     17.6 s    58.3 s

  skill group  offered  answered  abandoned %  SL 20s  mean wait  p90 wait
  any              188       146        22.3%   60.0%     17.6 s    58.3 s
  all              188       146        22.3%   60.0%     17.6 s    58.3 s

  agent group  agents  slot-h staffed  slot-h busy  occupancy
  team              2             3.7          2.9      79.2%
  all               2             3.7          2.9      79.2%

What value routing buys and costs: first come, first served (every tier weight 0) -> value routing,
on the same arrivals, handle times and patience (seed 5):

  tier             mean wait          p90 wait          SL 20s     abandoned %
  standard  16.8 s -> 17.2 s  55.6 s -> 58.3 s  61.7% -> 60.3%  22.4% -> 22.4%
  gold      20.8 s -> 19.5 s  54.8 s -> 54.8 s  51.7% -> 58.6%  21.9% -> 21.9%
  all       17.5 s -> 17.6 s  55.6 s -> 58.3 s  60.0% -> 60.0%  22.3% -> 22.3%

  skill group         mean wait          p90 wait          SL 20s     abandoned %
  any          17.5 s -> 17.6 s  55.6 s -> 58.3 s  60.0% -> 60.0%  22.3% -> 22.3%
  all          17.5 s -> 17.6 s  55.6 s -> 58.3 s  60.0% -> 60.0%  22.3% -> 22.3%

  occupancy 79.2% -> 79.2%"#;
    let s = Scenario::from_toml(SCENARIO).unwrap();
    assert!(run(&s).unwrap().customers.is_none());
    assert_eq!(report_text(&s).unwrap().trim_end(), BEFORE);
    let text = report_text(&scenario("value-routing.toml")).unwrap();
    assert!(!text.contains("loss value"), "{text}");
}

/// The returning customers' day with a campaign an hour in, quiet hours off (the
/// simulated clock starts at 12:00 UTC, 20:00 in the default time zone).
fn with_campaign(per_minute: u32, agents_scale: f64) -> Scenario {
    let mut s = scenario("returning-customers.toml");
    for group in &mut s.agents {
        group.count = ((f64::from(group.count) * agents_scale).round() as u32).max(1);
    }
    s.routing.outbound.rules.quiet_hours = Some(switchboard::outbound::QuietHours {
        start_minute: 0,
        end_minute: 0,
    });
    s.campaign = Some(switchboard::simulate::campaign::CampaignSpec {
        start_secs: 3600.0,
        kind: switchboard::customer::ContactPurpose::FollowUp,
        per_minute,
        per_free_agent_per_minute: 0,
        tiers: Vec::new(),
        health_below: None,
        no_purchase_days: None,
        reply_share: 0.3,
        reply_delay_secs: 300.0,
        reply_stream: "billing-web".to_owned(),
    });
    s
}

#[test]
fn a_campaign_brings_its_replies_into_the_queues_and_the_report_shows_the_cost() {
    let quiet = {
        let mut s = with_campaign(60, 1.0);
        s.campaign = None;
        run(&s).unwrap()
    };
    let busy = run(&with_campaign(60, 1.0)).unwrap();
    let c = busy.campaign.as_ref().expect("a campaign report");
    assert_eq!(c.status, "done", "{c:?}");
    assert_eq!(c.scanned, 2000, "every customer looked at");
    assert_eq!(c.matched, 2000, "an empty segment is everyone");
    assert_eq!(c.sent + c.skipped, c.matched);
    assert!(c.sent > 1900, "follow-ups need no opt-in: {c:?}");
    // Three in ten write back, within binomial noise.
    let share = c.replies as f64 / c.sent as f64;
    assert!((0.25..0.35).contains(&share), "reply share {share}");
    // Their conversations are real load: more offered than the same day without it.
    assert!(
        busy.total.offered >= quiet.total.offered + c.replies * 9 / 10,
        "{} offered with the campaign, {} without, {} replies",
        busy.total.offered,
        quiet.total.offered,
        c.replies
    );
    assert!(quiet.campaign.is_none());
    let text = report_text(&with_campaign(60, 1.0)).unwrap();
    assert!(text.contains("Campaign (done)"), "{text}");
}

#[test]
fn a_campaign_pauses_while_its_queue_misses_the_service_level() {
    // A third of the agents and a fast campaign: the billing queue falls behind.
    let r = run(&with_campaign(600, 0.35)).unwrap();
    let c = r.campaign.as_ref().expect("a campaign report");
    assert!(c.pauses > 0, "{c:?}");
}

#[test]
fn a_campaign_paced_by_free_agents_sends_slower_and_costs_the_queue_less() {
    // A fast campaign on a staffed day, and the same bound to 2 a minute per free
    // agent: it sends only while someone can take the replies.
    let fixed = run(&with_campaign(600, 1.0)).unwrap();
    let mut s = with_campaign(600, 1.0);
    s.campaign.as_mut().unwrap().per_free_agent_per_minute = 2;
    let paced = run(&s).unwrap();
    let (f, p) = (
        fixed.campaign.as_ref().unwrap(),
        paced.campaign.as_ref().unwrap(),
    );
    eprintln!(
        "fixed: {f:?}, service level {:.3}; paced: {p:?}, service level {:.3}",
        fixed.total.service_level().unwrap_or(0.0),
        paced.total.service_level().unwrap_or(0.0)
    );
    // It reaches fewer people by the deadline: the pace followed who was free.
    assert!(p.sent < f.sent, "paced {p:?} against fixed {f:?}");
    assert!(
        paced.total.service_level() > fixed.total.service_level(),
        "paced {:.3} against fixed {:.3}",
        paced.total.service_level().unwrap_or(0.0),
        fixed.total.service_level().unwrap_or(0.0)
    );
}
