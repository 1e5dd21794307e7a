//! What a simulation found, and its plain-text rendering.
//!
//! # Definitions
//!
//! Only customers arriving after the warm-up and before `duration_secs` count; each is
//! followed until first answered (an agent accepts) or abandoned, even past the end.
//!
//! - **wait**: from arrival to the first accept (the speed of answer); mean and p90
//!   (nearest rank) are over answered customers.
//! - **service level**: answered within the threshold ÷ (offered − abandoned within the
//!   threshold). Customers who give up within the threshold are left out, as is usual
//!   for contact centres; those who give up later, or are never answered, count as
//!   missed.
//! - **abandoned %**: share of offered customers who left before being answered.
//! - **slot-h staffed**, **slot-h busy**: capacity staffed and held (by an offer or a
//!   conversation, from offer to close) in slot-hours, agents × capacity, not
//!   agent-hours, integrated over time from the warm-up to `duration_secs`. Only
//!   capacity in channel classes some stream arrives in counts.
//! - **occupancy**: slot-h busy ÷ slot-h staffed.
//!
//! With `[customers]` (returning customers), also:
//!
//! - **recognised**: measured contacts the router filed under the profile the
//!   customer's facts are on (it linked the channel's customer id to it).
//! - **rating**: each served contact's rating 1-5 by [`super::satisfaction`]; **rated
//!   low** at or below `low_rating` (2).
//! - **at risk**: a customer with a measured contact who abandoned at least once or
//!   rated at least one contact low, counted once per customer per run however many
//!   contacts they made, in their tier at the start of the day.
//! - **loss value at risk**: the sum of the at-risk customers' loss values, by the
//!   scenario's `[routing.value]` model on their facts at the start of the day (what
//!   losing them would cost, reputation included), in the tenant's currency. Beside it,
//!   the loss value of every contacted customer, and the share at risk.

use std::fmt::{self, Write as _};

/// Outcomes of the customers of one tier, skill group, or all of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Tier or skill group name, or `all`.
    pub name: String,
    /// Customers who arrived in the measured window.
    pub offered: u64,
    /// Of them, answered by an agent.
    pub answered: u64,
    /// Of them, abandoned before being answered.
    pub abandoned: u64,
    /// Of them, neither answered nor abandoned when the simulation stopped.
    pub unanswered: u64,
    /// Answered within the service-level threshold.
    pub answered_within: u64,
    /// Abandoned within the service-level threshold.
    pub abandoned_within: u64,
    /// Answered after waiting at all (wait > 0).
    pub waited: u64,
    /// Mean wait of answered customers, in seconds.
    pub mean_wait_secs: Option<f64>,
    /// 90th percentile wait of answered customers, in seconds.
    pub p90_wait_secs: Option<f64>,
}

impl Row {
    /// Answered within the threshold ÷ (offered − abandoned within the threshold).
    pub fn service_level(&self) -> Option<f64> {
        let base = self.offered - self.abandoned_within;
        (base > 0).then(|| self.answered_within as f64 / base as f64)
    }

    /// Abandoned ÷ offered.
    pub fn abandoned_share(&self) -> Option<f64> {
        (self.offered > 0).then(|| self.abandoned as f64 / self.offered as f64)
    }

    /// Share of answered customers who waited at all: the simulated probability of
    /// waiting that Erlang C predicts (when nobody abandons).
    pub fn wait_probability(&self) -> Option<f64> {
        (self.answered > 0).then(|| self.waited as f64 / self.answered as f64)
    }
}

/// How busy one agent group was, or all agents.
#[derive(Debug, Clone, PartialEq)]
pub struct Occupancy {
    /// Group name, or `all`.
    pub name: String,
    /// Agents in the group.
    pub agents: u32,
    /// Slot-hours (agents × capacity, not agent-hours) staffed in the measured window:
    /// an agent with room for two chats staffed for an hour counts 2. The report's
    /// `slot-h staffed` column.
    pub staffed_hours: f64,
    /// Slot-hours held by offers and conversations (the `slot-h busy` column).
    pub busy_hours: f64,
}

impl Occupancy {
    /// Busy ÷ staffed.
    pub fn occupancy(&self) -> Option<f64> {
        (self.staffed_hours > 0.0).then(|| self.busy_hours / self.staffed_hours)
    }
}

/// Returning customers of one tier, or all of them: how many were put at risk, and
/// how much loss value.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskRow {
    /// Tier name, or `all`.
    pub name: String,
    /// Customers with at least one measured contact.
    pub customers: u64,
    /// Of them, abandoned at least once.
    pub abandoned: u64,
    /// Of them, rated at least one contact low.
    pub rated_low: u64,
    /// Of them, abandoned or rated low (each customer once).
    pub at_risk: u64,
    /// Loss value of every contacted customer, in the tenant's currency.
    pub contacted_loss_value: f64,
    /// Loss value of the customers at risk, in the tenant's currency.
    pub at_risk_loss_value: f64,
}

impl RiskRow {
    /// A row with nothing counted yet.
    pub fn named(name: &str) -> RiskRow {
        RiskRow {
            name: name.to_owned(),
            customers: 0,
            abandoned: 0,
            rated_low: 0,
            at_risk: 0,
            contacted_loss_value: 0.0,
            at_risk_loss_value: 0.0,
        }
    }

    /// Loss value at risk ÷ loss value contacted.
    pub fn at_risk_share(&self) -> Option<f64> {
        (self.contacted_loss_value > 0.0)
            .then(|| self.at_risk_loss_value / self.contacted_loss_value)
    }
}

/// What the run did to the returning customers of `[customers]`.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerReport {
    /// The tenant's currency, as loss values are labelled.
    pub currency: String,
    /// Customers in the population.
    pub population: u64,
    /// Measured contacts from the population.
    pub contacts: u64,
    /// Of them, filed by the router under the customer's own profile.
    pub recognised: u64,
    /// Distinct profiles the router filed them under (at most the population).
    pub profiles: u64,
    /// Measured contacts served and rated.
    pub rated: u64,
    /// Of them, rated at or below `low_rating`.
    pub rated_low: u64,
    /// Sum of the ratings, for the mean.
    pub rating_sum: u64,
    /// The rating at or below which a customer counts as at risk.
    pub low_rating: u8,
    /// Per tier, in the policy's tier order (start-of-day tiers).
    pub tiers: Vec<RiskRow>,
    /// Every contacted customer.
    pub total: RiskRow,
}

impl CustomerReport {
    /// Mean rating of served contacts.
    pub fn mean_rating(&self) -> Option<f64> {
        (self.rated > 0).then(|| self.rating_sum as f64 / self.rated as f64)
    }
}

/// The results of one simulation run. See the module doc for the definitions.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Scenario name.
    pub name: String,
    /// Seed of the run.
    pub seed: u64,
    /// Excluded leading seconds.
    pub warmup_secs: f64,
    /// Seconds measured (arrivals and occupancy), after the warm-up.
    pub measured_secs: f64,
    /// The service-level threshold in seconds.
    pub service_level_secs: f64,
    /// Every measured customer.
    pub total: Row,
    /// Per value tier, in the policy's tier order (tiers nobody arrived in included).
    pub tiers: Vec<Row>,
    /// Per skill group, in order of first appearance in the scenario.
    pub skill_groups: Vec<Row>,
    /// Per agent group, in scenario order.
    pub agent_groups: Vec<Occupancy>,
    /// All agents.
    pub agents: Occupancy,
    /// Measured arrivals the router refused (tenant limit of open conversations).
    pub refused: u64,
    /// Agent actions that found the conversation gone or moved (for example, an accept
    /// after the customer abandoned); expected to be 0 with the checks the run makes.
    pub stale_actions: u64,
    /// Returning customers and the loss value put at risk; `None` without
    /// `[customers]`, when the report is what it was before they existed.
    pub customers: Option<CustomerReport>,
    /// What `[campaign]` did; `None` without one.
    pub campaign: Option<super::campaign::CampaignReport>,
}

fn percent(share: Option<f64>) -> String {
    share.map_or_else(|| "-".to_owned(), |s| format!("{:.1}%", s * 100.0))
}

fn secs(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |s| format!("{s:.1} s"))
}

/// An amount of money, whole units with thousands separators: `12,345`.
fn money(amount: f64) -> String {
    let rounded = amount.round();
    let digits = format!("{:.0}", rounded.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if rounded < 0.0 {
        out.insert(0, '-');
    }
    out
}

fn duration(secs: f64) -> String {
    let total = secs.round() as u64;
    format!("{}:{:02}:{:02}", total / 3600, total / 60 % 60, total % 60)
}

/// Renders rows as a plain table: first column left-aligned, the rest right-aligned.
fn table(out: &mut String, header: &[String], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(header).chain(rows.iter().map(Vec::as_slice)) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
            let pad = w - cell.chars().count();
            if i == 0 {
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', pad));
            } else {
                line.push_str("  ");
                line.extend(std::iter::repeat_n(' ', pad));
                line.push_str(cell);
            }
        }
        let _ = writeln!(out, "  {}", line.trim_end());
    }
}

impl Report {
    fn outcome_table(&self, out: &mut String, title: &str, rows: &[&Row]) {
        let header = [
            title.to_owned(),
            "offered".to_owned(),
            "answered".to_owned(),
            "abandoned %".to_owned(),
            format!("SL {}s", self.service_level_secs),
            "mean wait".to_owned(),
            "p90 wait".to_owned(),
        ];
        let rows: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                vec![
                    r.name.clone(),
                    r.offered.to_string(),
                    r.answered.to_string(),
                    percent(r.abandoned_share()),
                    percent(r.service_level()),
                    secs(r.mean_wait_secs),
                    secs(r.p90_wait_secs),
                ]
            })
            .collect();
        table(out, &header, &rows);
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        let title = if self.name.is_empty() {
            "scenario"
        } else {
            &self.name
        };
        let _ = writeln!(
            out,
            "{title} (seed {}): {} measured after {} warm-up; {} customers",
            self.seed,
            duration(self.measured_secs),
            duration(self.warmup_secs),
            self.total.offered
        );
        let _ = writeln!(
            out,
            "service level = answered within {t} s / (offered - abandoned within {t} s); waits are to the first answer",
            t = self.service_level_secs
        );
        out.push('\n');
        let mut tiers: Vec<&Row> = self.tiers.iter().filter(|r| r.offered > 0).collect();
        tiers.push(&self.total);
        self.outcome_table(&mut out, "tier", &tiers);
        out.push('\n');
        let mut groups: Vec<&Row> = self.skill_groups.iter().collect();
        groups.push(&self.total);
        self.outcome_table(&mut out, "skill group", &groups);
        out.push('\n');
        let header = [
            "agent group",
            "agents",
            "slot-h staffed",
            "slot-h busy",
            "occupancy",
        ]
        .map(String::from);
        let rows: Vec<Vec<String>> = self
            .agent_groups
            .iter()
            .chain(std::iter::once(&self.agents))
            .map(|o| {
                vec![
                    o.name.clone(),
                    o.agents.to_string(),
                    format!("{:.1}", o.staffed_hours),
                    format!("{:.1}", o.busy_hours),
                    percent(o.occupancy()),
                ]
            })
            .collect();
        table(&mut out, &header, &rows);
        if let Some(customers) = &self.customers {
            out.push('\n');
            customers.render(&mut out);
        }
        if let Some(c) = &self.campaign {
            let _ = writeln!(
                out,
                "\nCampaign ({}): {} customers looked at, {} in the segment; {} notices sent, \
                 {} held back by a rule; {} replies, each a conversation in the queues above; \
                 paused {} times",
                c.status, c.scanned, c.matched, c.sent, c.skipped, c.replies, c.pauses
            );
        }
        if self.total.unanswered > 0 {
            let _ = writeln!(
                out,
                "\n{} customers were still waiting when the simulation stopped (counted as missed)",
                self.total.unanswered
            );
        }
        if self.stale_actions > 0 {
            let _ = writeln!(
                out,
                "\n{} agent actions found their conversation gone or moved",
                self.stale_actions
            );
        }
        if self.refused > 0 {
            let _ = writeln!(
                out,
                "\n{} arrivals were refused at the open-conversation limit (not counted above)",
                self.refused
            );
        }
        f.write_str(&out)
    }
}

impl CustomerReport {
    fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "returning customers: {} in the population; {} measured contacts from {} of them, {} recognised by the router ({} profiles)",
            self.population, self.contacts, self.total.customers, self.recognised, self.profiles
        );
        let _ = writeln!(
            out,
            "satisfaction: {} served contacts rated, mean {}, {} rated {} or lower",
            self.rated,
            self.mean_rating()
                .map_or_else(|| "-".to_owned(), |m| format!("{m:.2}")),
            self.rated_low,
            self.low_rating
        );
        let _ = writeln!(
            out,
            "at risk = abandoned or rated {} or lower, once per customer; loss value by [routing.value] at the start of the day, in {}\n",
            self.low_rating, self.currency
        );
        let header = [
            "tier".to_owned(),
            "customers".to_owned(),
            "abandoned".to_owned(),
            format!("rated <={}", self.low_rating),
            "at risk".to_owned(),
            format!("loss value ({})", self.currency),
            format!("at risk ({})", self.currency),
            "share".to_owned(),
        ];
        let rows: Vec<Vec<String>> = self
            .tiers
            .iter()
            .filter(|r| r.customers > 0)
            .chain(std::iter::once(&self.total))
            .map(|r| {
                vec![
                    r.name.clone(),
                    r.customers.to_string(),
                    r.abandoned.to_string(),
                    r.rated_low.to_string(),
                    r.at_risk.to_string(),
                    money(r.contacted_loss_value),
                    money(r.at_risk_loss_value),
                    percent(r.at_risk_share()),
                ]
            })
            .collect();
        table(out, &header, &rows);
    }
}

/// The loss value at risk per tier, `FCFS -> value routing` with the difference, and
/// the sentence operations read: how much less (or more) value routing puts at risk.
fn risk_comparison(out: &mut String, routed: &CustomerReport, fcfs: &CustomerReport) {
    let currency = &routed.currency;
    let _ = writeln!(
        out,
        "Loss value at risk ({currency}; customers who abandoned or rated {} or lower, once each), FCFS -> value routing:\n",
        routed.low_rating
    );
    let header = [
        "tier".to_owned(),
        "at risk".to_owned(),
        format!("loss value at risk ({currency})"),
        "difference".to_owned(),
    ];
    let rows: Vec<Vec<String>> = routed
        .tiers
        .iter()
        .zip(&fcfs.tiers)
        .filter(|(r, f)| r.customers > 0 || f.customers > 0)
        .chain(std::iter::once((&routed.total, &fcfs.total)))
        .map(|(r, f)| {
            let diff = r.at_risk_loss_value - f.at_risk_loss_value;
            vec![
                r.name.clone(),
                format!("{} -> {}", f.at_risk, r.at_risk),
                format!(
                    "{} -> {}",
                    money(f.at_risk_loss_value),
                    money(r.at_risk_loss_value)
                ),
                format!("{}{}", if diff > 0.0 { "+" } else { "" }, money(diff)),
            ]
        })
        .collect();
    table(out, &header, &rows);
    let (before, after) = (
        fcfs.total.at_risk_loss_value,
        routed.total.at_risk_loss_value,
    );
    let diff = after - before;
    let change = if before > 0.0 {
        format!(", {:+.1}%", diff / before * 100.0)
    } else {
        String::new()
    };
    let verdict = if diff.round() == 0.0 {
        "value routing puts as much loss value at risk as FCFS".to_owned()
    } else {
        format!(
            "value routing puts {} {currency} {} loss value at risk than FCFS",
            money(diff.abs()),
            if diff < 0.0 { "less" } else { "more" }
        )
    };
    let _ = writeln!(
        out,
        "\n  {verdict} ({} -> {}{change})",
        money(before),
        money(after)
    );
}

/// What value routing changes against first come, first served on the same arrivals,
/// handle times and patience: per tier and per skill group, each figure as
/// `FCFS -> value routing`.
pub fn render_comparison(routed: &Report, fcfs: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "What value routing buys and costs: first come, first served (every tier weight 0) -> value routing,"
    );
    let _ = writeln!(
        out,
        "on the same arrivals, handle times and patience (seed {}):\n",
        routed.seed
    );
    let pair = |a: String, b: String| format!("{a} -> {b}");
    let section = |out: &mut String, title: &str, routed_rows: &[Row], fcfs_rows: &[Row]| {
        let header = [
            title.to_owned(),
            "mean wait".to_owned(),
            "p90 wait".to_owned(),
            format!("SL {}s", routed.service_level_secs),
            "abandoned %".to_owned(),
        ];
        let rows: Vec<Vec<String>> = routed_rows
            .iter()
            .zip(fcfs_rows)
            .filter(|(r, _)| r.offered > 0)
            .map(|(r, f)| {
                vec![
                    r.name.clone(),
                    pair(secs(f.mean_wait_secs), secs(r.mean_wait_secs)),
                    pair(secs(f.p90_wait_secs), secs(r.p90_wait_secs)),
                    pair(percent(f.service_level()), percent(r.service_level())),
                    pair(percent(f.abandoned_share()), percent(r.abandoned_share())),
                ]
            })
            .collect();
        table(out, &header, &rows);
    };
    let with_total = |rows: &[Row], total: &Row| {
        let mut all = rows.to_vec();
        all.push(total.clone());
        all
    };
    section(
        &mut out,
        "tier",
        &with_total(&routed.tiers, &routed.total),
        &with_total(&fcfs.tiers, &fcfs.total),
    );
    out.push('\n');
    section(
        &mut out,
        "skill group",
        &with_total(&routed.skill_groups, &routed.total),
        &with_total(&fcfs.skill_groups, &fcfs.total),
    );
    out.push('\n');
    let _ = writeln!(
        out,
        "  occupancy {} -> {}",
        percent(fcfs.agents.occupancy()),
        percent(routed.agents.occupancy())
    );
    if let (Some(r), Some(f)) = (&routed.customers, &fcfs.customers) {
        out.push('\n');
        risk_comparison(&mut out, r, f);
    }
    out
}
