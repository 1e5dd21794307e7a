//! What-if simulator: the real routing core driven in virtual time.
//!
//! A scenario ([`scenario`]) describes Poisson customer arrivals per channel, value tier
//! and skill requirement, agent groups with skills, capacity, shifts and handle times,
//! and the routing policy in the server's own configuration schema. The run loop
//! ([`run`]) is a discrete-event simulation: a heap of timed actions (arrivals,
//! accepts, closes, abandonments, shift starts and ends, timer ticks) calls the same
//! [`crate::routing::Router`] the server runs, with the simulated time as its clock,
//! and follows the notices it leaves. The [`report`] gives service level, mean and
//! p90 wait and abandonment per tier and per skill group, and agent occupancy.
//!
//! With `[customers]`, arrivals are a population of returning customers rather than
//! strangers: each has an order history pushed to the router as facts before the day
//! starts (so the router's `[routing.value]` model values and tiers them) and sends a
//! verified phone number, so the router recognises them on every visit and channel.
//! Served contacts are rated by [`satisfaction`], and the report adds the loss value
//! the policy put at risk: customers who abandoned or rated low, weighted by loss
//! value, per tier; the FCFS comparison gives its difference in money.
//!
//! With `[campaign]` ([`campaign`]), the router also runs an outbound campaign over
//! the population, and the customers who answer it arrive in the queues: the report
//! shows what the campaign costs the service level before it starts.
//!
//! `switchboard simulate --config scenario.toml [--seed N]` prints the report; with
//! `compare_fcfs = true` in the scenario it also runs it first come, first served on
//! the same random draws and shows what value routing buys and costs per tier.
//!
//! [`erlang_c`] and [`erlang_c_mean_wait`] give the M/M/c figures a first-come,
//! first-served single-skill scenario must reproduce; the tests check it does.

pub mod campaign;
pub mod report;
pub mod rng;
mod run;
pub mod satisfaction;
pub mod scenario;

pub use report::{CustomerReport, Occupancy, Report, RiskRow, Row, render_comparison};
pub use run::run;
pub use scenario::{Scenario, ScenarioError};

/// The report for a scenario as the `simulate` subcommand prints it: the run, and
/// with `compare_fcfs` its comparison with the first-come-first-served baseline.
pub fn report_text(scenario: &Scenario) -> Result<String, ScenarioError> {
    let report = run(scenario)?;
    let mut text = report.to_string();
    if scenario.compare_fcfs {
        let baseline = run(&scenario.fcfs_baseline())?;
        text.push('\n');
        text.push_str(&render_comparison(&report, &baseline));
    }
    Ok(text)
}

/// Erlang C: the probability that an arrival waits in an M/M/c queue with `servers`
/// agents and `offered_load` = λ/μ Erlangs (< `servers`); 1 when the load is at or
/// above the number of servers.
pub fn erlang_c(servers: u32, offered_load: f64) -> f64 {
    let c = f64::from(servers);
    let a = offered_load;
    if a >= c {
        return 1.0;
    }
    if a <= 0.0 {
        return 0.0;
    }
    // Erlang B by its stable recurrence, then C from B.
    let mut b = 1.0;
    for k in 1..=servers {
        b = a * b / (f64::from(k) + a * b);
    }
    c * b / (c - a * (1.0 - b))
}

/// Mean wait in queue, in the units of 1/rate, of an M/M/c queue: `C(c, a) / (cμ − λ)`
/// with `a = λ/μ`; infinite when `λ ≥ cμ`.
pub fn erlang_c_mean_wait(servers: u32, arrival_rate: f64, service_rate: f64) -> f64 {
    let capacity = f64::from(servers) * service_rate;
    if arrival_rate >= capacity {
        return f64::INFINITY;
    }
    erlang_c(servers, arrival_rate / service_rate) / (capacity - arrival_rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erlang_c_matches_known_values() {
        // M/M/1: P(wait) = ρ, Wq = ρ / (μ − λ).
        assert!((erlang_c(1, 0.8) - 0.8).abs() < 1e-12);
        assert!((erlang_c_mean_wait(1, 0.8, 1.0) - 4.0).abs() < 1e-9);
        // Textbook: 10 agents, 8 Erlangs: C ≈ 0.4092.
        assert!((erlang_c(10, 8.0) - 0.4092).abs() < 1e-3);
        assert_eq!(erlang_c(3, 3.0), 1.0);
        assert_eq!(erlang_c_mean_wait(3, 3.0, 1.0), f64::INFINITY);
    }
}
