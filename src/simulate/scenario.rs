//! The scenario file: what arrives, who answers, and under which routing policy.
//!
//! TOML, every table with `deny_unknown_fields`, so a misspelt key is an error rather
//! than a silently ignored setting. `[routing]` is the same [`RoutingPolicy`] the server
//! reads under `[routing]` in its config file, so tiers, weights, aging and queues are
//! copied over as they are; omitted, the server defaults apply. Times are in seconds
//! (fractions allowed) from the start of the simulated day.
//!
//! ```toml
//! name = "example"
//! duration_secs = 28800       # arrivals stop here; occupancy is measured up to here
//! warmup_secs = 1800          # arrivals before this are not reported
//! seed = 7
//! service_level_secs = 20     # the N of "answered within N seconds"
//!
//! [[arrivals]]
//! name = "billing-web"
//! channel = "web"             # web, app, wechat_official_account, ..., email, sms, voice
//! rate_per_hour = 240         # or rate_per_sec; Poisson arrivals
//! required_skills = ["billing:2"]
//! tiers = { standard = 0.7, silver = 0.2, gold = 0.08, platinum = 0.02 }  # or clv = 500.0
//! patience_secs = 180         # mean of an exponential patience; omit for none
//!
//! [[agents]]
//! name = "billing"
//! count = 12
//! skills = ["billing:3"]
//! capacity = { messaging = 1 }
//! shift_start_secs = 0
//! shift_end_secs = 28800      # omit to stay until the simulation ends
//! answer_delay_secs = 2
//! handle_secs = 240
//! handle_distribution = "exponential"   # or "fixed"
//!
//! [customers]                 # optional: returning customers instead of strangers
//! count = 2000                # each sends the verified phone +1555 and 8 digits
//! currency = "CNY"            # the label of loss values
//!
//! [[customers.segments]]      # order histories, pushed to the router as facts
//! name = "regular"
//! share = 0.3                 # of the population (weights, normalised)
//! tenure_years = [1.0, 4.0]   # since the first order, uniform
//! orders_per_year = 6.0       # more orders after the first, Poisson over the tenure
//! average_order = 150.0       # each within ± order_spread (0.5) of it
//! acquisition_cost = 60.0
//!
//! [customers.satisfaction]    # the rating model, see `super::satisfaction`
//! noise = 0.75
//! tolerance_secs = 300
//! low_rating = 2
//! ```
//!
//! With `[customers]`, streams that give neither `tiers` nor `clv` draw each arrival
//! uniformly from the population (so the same person comes back, on any stream's
//! channel); streams that give one still bring strangers. The router's clock then
//! starts [`MAX_HISTORY_YEARS`] after its zero, so the order histories have times;
//! without `[customers]` it starts at 0 as before.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::routing::engine::parse_skill;
use crate::routing::{Channel, ChannelClass, Millis, PerClass, Router, RoutingPolicy};

/// A whole what-if scenario. See the module doc for the file format.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A title for the report.
    #[serde(default)]
    pub name: String,
    /// Free text; not used.
    #[serde(default)]
    pub description: String,
    /// Simulated seconds during which customers arrive; occupancy is measured up to
    /// here, and customers still waiting at the end are followed until answered or
    /// abandoned.
    pub duration_secs: f64,
    /// Leading seconds excluded from every figure, so the queues start from a
    /// realistic state rather than empty.
    #[serde(default)]
    pub warmup_secs: f64,
    /// Seed of every random draw; the same seed gives the same report.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// The threshold of the service level: answered within this many seconds.
    #[serde(default = "default_service_level_secs")]
    pub service_level_secs: f64,
    /// Seconds between router timer runs (offer timeouts, decline retries).
    #[serde(default = "default_tick_secs")]
    pub tick_secs: f64,
    /// Also run the scenario first come, first served (every tier weight 0) on the same
    /// random draws, and report what value routing changes per tier and skill group.
    #[serde(default)]
    pub compare_fcfs: bool,
    /// The routing policy, exactly as under `[routing]` in the server configuration.
    #[serde(default)]
    pub routing: RoutingPolicy,
    /// Customer arrival streams.
    #[serde(default)]
    pub arrivals: Vec<ArrivalStream>,
    /// Agent groups.
    #[serde(default)]
    pub agents: Vec<AgentGroup>,
    /// Returning customers (`[customers]`): a population with value facts that the
    /// arrival streams without `tiers` or `clv` draw from. Omitted, every arrival is a
    /// stranger, as before.
    pub customers: Option<Customers>,
    /// An outbound campaign over `[customers]` (`[campaign]`, see
    /// [`super::campaign`]), and the replies it brings into the queues.
    #[serde(default)]
    pub campaign: Option<super::campaign::CampaignSpec>,
}

fn default_seed() -> u64 {
    1
}

fn default_service_level_secs() -> f64 {
    20.0
}

fn default_tick_secs() -> f64 {
    1.0
}

/// Customers arriving as a Poisson process on one channel with one requirement.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArrivalStream {
    /// Name of the stream, unique in the scenario.
    pub name: String,
    /// Channel name as in metrics: `web`, `app`, `wechat_official_account`,
    /// `wechat_mini_program`, `weibo`, `douyin`, `email`, `sms`, `voice`, `other`.
    #[serde(default = "default_channel")]
    pub channel: String,
    /// Mean arrivals per hour (give this or `rate_per_sec`).
    pub rate_per_hour: Option<f64>,
    /// Mean arrivals per second (give this or `rate_per_hour`).
    pub rate_per_sec: Option<f64>,
    /// Queue of the routing policy to enter; the first queue when omitted.
    pub queue: Option<String>,
    /// Skills required on top of the queue's, as `name` or `name:level`.
    #[serde(default)]
    pub required_skills: Vec<String>,
    /// Skill group the stream is reported under; by default its required skills
    /// (queue's and its own), such as `billing:2+vip`, or `any`.
    pub group: Option<String>,
    /// Share of customers per value tier, by tier name (weights, normalised); each
    /// customer gets the tier's `min_clv` as CLV. Give this or `clv`; with neither,
    /// every customer has CLV 0, or, when the scenario has `[customers]`, is drawn
    /// from that population.
    pub tiers: Option<BTreeMap<String, f64>>,
    /// The CLV of every customer of the stream.
    pub clv: Option<f64>,
    /// Mean patience in seconds (exponential): a customer not answered by then
    /// abandons. Omit for customers who never abandon.
    pub patience_secs: Option<f64>,
}

fn default_channel() -> String {
    "web".to_owned()
}

/// A population of customers who come back (`[customers]`): each has an order
/// history drawn from their segment, pushed to the router as facts before the day
/// starts, so the router's own `[routing.value]` model values and tiers them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Customers {
    /// Customers in the population, each with a phone number the router recognises.
    pub count: u32,
    /// The tenant's currency, as loss values are printed (`CNY`, `EUR`, ...).
    #[serde(default = "default_currency")]
    pub currency: String,
    /// Kinds of customer and their shares of the population.
    pub segments: Vec<Segment>,
    /// How served customers rate their wait.
    #[serde(default)]
    pub satisfaction: Satisfaction,
}

fn default_order_spread() -> f64 {
    0.5
}

fn default_currency() -> String {
    "currency units".to_owned()
}

/// One kind of customer: how long they have bought and how much.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    /// Name, for error messages.
    pub name: String,
    /// Share of the population (weights, normalised).
    pub share: f64,
    /// Years since the first order, drawn uniformly from `[low, high]`.
    pub tenure_years: [f64; 2],
    /// Mean orders a year after the first (Poisson over the tenure).
    pub orders_per_year: f64,
    /// Mean order amount.
    pub average_order: f64,
    /// Each order's amount is uniform within ± this share of `average_order` (0-1;
    /// 0.5 by default, 0 for every order exactly the average).
    #[serde(default = "default_order_spread")]
    pub order_spread: f64,
    /// What acquiring one such customer cost.
    #[serde(default)]
    pub acquisition_cost: f64,
}

/// The satisfaction model's parameters (see [`super::satisfaction`]).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Satisfaction {
    /// Half-width of the uniform noise added to the score, in stars (0-4).
    pub noise: f64,
    /// Stands in for the patience of customers on streams without `patience_secs`.
    pub tolerance_secs: f64,
    /// Ratings at or below this put the customer at risk (1-4).
    pub low_rating: u8,
}

impl Default for Satisfaction {
    fn default() -> Satisfaction {
        Satisfaction {
            noise: 0.75,
            tolerance_secs: 300.0,
            low_rating: 2,
        }
    }
}

/// Identical agents: skills, capacity, shift and working speed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentGroup {
    /// Group name, unique; agents are named `<name>-1`, `<name>-2`, ...
    pub name: String,
    /// Agents in the group.
    pub count: u32,
    /// Skills as `name` or `name:level` (proficiency 1-5, default 1).
    #[serde(default)]
    pub skills: Vec<String>,
    /// Concurrent conversations per channel class; `{ messaging = 1 }` when omitted.
    #[serde(default = "default_capacity")]
    pub capacity: Capacity,
    /// When the agents sign in.
    #[serde(default)]
    pub shift_start_secs: f64,
    /// When they sign out (what they hold is routed again); omitted, they stay until
    /// the simulation ends.
    pub shift_end_secs: Option<f64>,
    /// Seconds from an offer to the agent's accept.
    #[serde(default)]
    pub answer_delay_secs: f64,
    /// Mean handle time, accept to close, in seconds.
    pub handle_secs: f64,
    /// Distribution of handle times around the mean.
    #[serde(default)]
    pub handle_distribution: HandleDistribution,
}

/// Concurrent conversations an agent takes per channel class; classes not named are 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Capacity {
    /// Chat-like channels.
    pub messaging: u32,
    /// E-mail.
    pub email: u32,
    /// Voice.
    pub voice: u32,
}

fn default_capacity() -> Capacity {
    Capacity {
        messaging: 1,
        email: 0,
        voice: 0,
    }
}

impl Capacity {
    /// As the router counts it.
    pub fn per_class(self) -> PerClass {
        PerClass([self.messaging, self.email, self.voice])
    }
}

/// How handle times vary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HandleDistribution {
    /// Exponential with the mean (memoryless; what Erlang C assumes).
    #[default]
    Exponential,
    /// Always the mean.
    Fixed,
}

/// A scenario that cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not TOML of the scenario's shape (unknown or missing key, wrong type).
    #[error("{0}")]
    Parse(Box<toml::de::Error>),
    /// A value out of range or inconsistent with the rest.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field, as a path such as `arrivals[1].rate_per_hour`.
        field: String,
        /// What is wrong.
        reason: String,
    },
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ScenarioError {
    ScenarioError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

impl Scenario {
    /// Reads and validates a scenario file.
    pub fn from_file(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Scenario::from_toml(&text)
    }

    /// Parses and validates scenario TOML.
    pub fn from_toml(text: &str) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario =
            toml::from_str(text).map_err(|e| ScenarioError::Parse(Box::new(e)))?;
        scenario.validate()?;
        Ok(scenario)
    }

    /// Checks every value; the error names the first bad field.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        self.plan().map(|_| ())
    }

    /// The same scenario first come, first served: every tier weight 0, tiers and
    /// everything else kept, so reports line up tier by tier.
    pub fn fcfs_baseline(&self) -> Scenario {
        let mut fcfs = self.clone();
        for tier in &mut fcfs.routing.priority.tiers {
            tier.weight = 0.0;
        }
        fcfs.compare_fcfs = false;
        fcfs
    }

    /// The validated scenario in the units the run loop uses.
    pub(crate) fn plan(&self) -> Result<Plan, ScenarioError> {
        let duration_ms = positive_ms("duration_secs", self.duration_secs)?;
        let warmup_ms = non_negative_ms("warmup_secs", self.warmup_secs)?;
        if warmup_ms >= duration_ms {
            return Err(invalid("warmup_secs", "must be less than duration_secs"));
        }
        let service_level_ms = non_negative_ms("service_level_secs", self.service_level_secs)?;
        let tick_ms = positive_ms("tick_secs", self.tick_secs)?;
        Router::new(self.routing.clone()).map_err(|e| invalid("routing", e.to_string()))?;

        let agent_groups = self
            .agents
            .iter()
            .enumerate()
            .map(|(g, group)| self.plan_agents(g, group, duration_ms))
            .collect::<Result<Vec<_>, _>>()?;
        if agent_groups.is_empty() {
            return Err(invalid("agents", "at least one [[agents]] group is needed"));
        }
        let mut skill_groups: Vec<String> = Vec::new();
        let mut streams = Vec::new();
        for (i, stream) in self.arrivals.iter().enumerate() {
            streams.push(self.plan_stream(i, stream, &agent_groups, &mut skill_groups)?);
        }
        if streams.is_empty() {
            return Err(invalid(
                "arrivals",
                "at least one [[arrivals]] stream is needed",
            ));
        }
        let population = self.customers.as_ref().map(plan_customers).transpose()?;
        let names: Vec<&str> = self.arrivals.iter().map(|a| a.name.as_str()).collect();
        let campaign = self
            .campaign
            .as_ref()
            .map(|c| c.plan(&names, &self.routing, population.is_some(), duration_ms))
            .transpose()?;
        let mut classes_used = [false; 3];
        for s in &streams {
            classes_used[s.channel.class().index()] = true;
        }
        Ok(Plan {
            duration_ms,
            warmup_ms,
            service_level_ms,
            tick_ms,
            streams,
            skill_groups,
            agent_groups,
            classes_used,
            population,
            campaign,
        })
    }

    fn plan_agents(
        &self,
        g: usize,
        group: &AgentGroup,
        duration_ms: Millis,
    ) -> Result<AgentPlan, ScenarioError> {
        let field = |name: &str| format!("agents[{g}].{name}");
        if group.name.is_empty() {
            return Err(invalid(field("name"), "must not be empty"));
        }
        if self.agents[..g]
            .iter()
            .any(|other| other.name == group.name)
        {
            return Err(invalid(
                field("name"),
                format!("duplicate group name {:?}", group.name),
            ));
        }
        if group.count == 0 {
            return Err(invalid(field("count"), "must be at least 1"));
        }
        let skills = parse_skills(&group.skills, &field("skills"))?;
        let capacity = group.capacity.per_class();
        if capacity.total() == 0 {
            return Err(invalid(
                field("capacity"),
                "at least one channel class needs capacity above 0",
            ));
        }
        let start_ms = non_negative_ms(&field("shift_start_secs"), group.shift_start_secs)?;
        if start_ms >= duration_ms {
            return Err(invalid(
                field("shift_start_secs"),
                "must be before duration_secs",
            ));
        }
        let end_ms = match group.shift_end_secs {
            None => None,
            Some(secs) => {
                let end = non_negative_ms(&field("shift_end_secs"), secs)?;
                if end <= start_ms {
                    return Err(invalid(
                        field("shift_end_secs"),
                        "must be after shift_start_secs",
                    ));
                }
                Some(end)
            }
        };
        let answer_delay_ms =
            non_negative_ms(&field("answer_delay_secs"), group.answer_delay_secs)?;
        if answer_delay_ms >= self.routing.offer_timeout_ms {
            return Err(invalid(
                field("answer_delay_secs"),
                format!(
                    "must be shorter than routing.offer_timeout_ms ({} ms), or every offer times out",
                    self.routing.offer_timeout_ms
                ),
            ));
        }
        if !(group.handle_secs.is_finite() && group.handle_secs > 0.0) {
            return Err(invalid(field("handle_secs"), "must be a number > 0"));
        }
        Ok(AgentPlan {
            name: group.name.clone(),
            count: group.count,
            skills,
            capacity,
            start_ms,
            end_ms,
            answer_delay_ms,
            handle_mean_ms: group.handle_secs * 1000.0,
            handle: group.handle_distribution,
        })
    }

    fn plan_stream(
        &self,
        i: usize,
        stream: &ArrivalStream,
        agent_groups: &[AgentPlan],
        skill_groups: &mut Vec<String>,
    ) -> Result<StreamPlan, ScenarioError> {
        let field = |name: &str| format!("arrivals[{i}].{name}");
        if stream.name.is_empty() {
            return Err(invalid(field("name"), "must not be empty"));
        }
        if self.arrivals[..i].iter().any(|o| o.name == stream.name) {
            return Err(invalid(
                field("name"),
                format!("duplicate stream name {:?}", stream.name),
            ));
        }
        let channel = Channel::ALL
            .into_iter()
            .find(|c| c.as_str() == stream.channel)
            .ok_or_else(|| {
                let names: Vec<&str> = Channel::ALL.iter().map(|c| c.as_str()).collect();
                invalid(
                    field("channel"),
                    format!(
                        "unknown channel {:?}; one of {}",
                        stream.channel,
                        names.join(", ")
                    ),
                )
            })?;
        let rate_per_sec = match (stream.rate_per_hour, stream.rate_per_sec) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    field("rate_per_sec"),
                    "give rate_per_hour or rate_per_sec, not both",
                ));
            }
            (None, None) => {
                return Err(invalid(
                    field("rate_per_hour"),
                    "missing: give rate_per_hour or rate_per_sec",
                ));
            }
            (Some(per_hour), None) => positive(&field("rate_per_hour"), per_hour)? / 3600.0,
            (None, Some(per_sec)) => positive(&field("rate_per_sec"), per_sec)?,
        };
        let queue_skills = match &stream.queue {
            None => self.routing.queues.first().map(|q| &q.required_skills),
            Some(name) => Some(
                &self
                    .routing
                    .queues
                    .iter()
                    .find(|q| &q.name == name)
                    .ok_or_else(|| {
                        invalid(
                            field("queue"),
                            format!("no queue {name:?} in routing.queues"),
                        )
                    })?
                    .required_skills,
            ),
        };
        // Router::new has checked the queue skills parse.
        let mut effective: BTreeMap<String, u8> = BTreeMap::new();
        for skill in queue_skills.into_iter().flatten() {
            if let Some((name, level)) = parse_skill(skill) {
                let entry = effective.entry(name).or_insert(level);
                *entry = (*entry).max(level);
            }
        }
        let required = parse_skills(&stream.required_skills, &field("required_skills"))?;
        for (name, level) in &required {
            let entry = effective.entry(name.clone()).or_insert(*level);
            *entry = (*entry).max(*level);
        }

        let tiers = &self.routing.priority.tiers;
        let value = match (&stream.tiers, stream.clv) {
            (Some(_), Some(_)) => {
                return Err(invalid(field("clv"), "give tiers or clv, not both"));
            }
            (None, None) if self.customers.is_some() => ValueMix::Population,
            (None, None) => ValueMix::Fixed(0.0),
            (None, Some(clv)) => {
                if !(clv.is_finite() && clv >= 0.0) {
                    return Err(invalid(field("clv"), "must be a number >= 0"));
                }
                ValueMix::Fixed(clv)
            }
            (Some(mix), None) => {
                let mut weights = vec![0.0; tiers.len()];
                for (name, &weight) in mix {
                    let tier = tiers.iter().position(|t| &t.name == name).ok_or_else(|| {
                        let names: Vec<&str> = tiers.iter().map(|t| t.name.as_str()).collect();
                        invalid(
                            field(&format!("tiers.{name}")),
                            format!(
                                "no such tier in routing.priority.tiers ({})",
                                names.join(", ")
                            ),
                        )
                    })?;
                    if !(weight.is_finite() && weight >= 0.0) {
                        return Err(invalid(
                            field(&format!("tiers.{name}")),
                            "must be a number >= 0",
                        ));
                    }
                    weights[tier] = weight;
                }
                if weights.iter().sum::<f64>() <= 0.0 {
                    return Err(invalid(
                        field("tiers"),
                        "weights must add up to more than 0",
                    ));
                }
                ValueMix::Tiers {
                    weights,
                    clvs: tiers.iter().map(|t| t.min_clv).collect(),
                }
            }
        };
        let patience_mean_ms = match stream.patience_secs {
            None => None,
            Some(secs) => Some(positive(&field("patience_secs"), secs)? * 1000.0),
        };

        let class = channel.class();
        let servable = agent_groups.iter().any(|a| {
            a.capacity.get(class) > 0
                && effective.iter().all(|(name, level)| {
                    a.skills
                        .iter()
                        .any(|(has, has_level)| has == name && has_level >= level)
                })
        });
        let skill_text = skill_set_text(&effective);
        if !servable {
            return Err(invalid(
                format!("arrivals[{i}]"),
                format!(
                    "no agent group can serve stream {:?}: it needs skills {skill_text} and {} capacity",
                    stream.name,
                    class_name(class)
                ),
            ));
        }
        let group_name = match &stream.group {
            Some(g) if g.is_empty() => return Err(invalid(field("group"), "must not be empty")),
            Some(g) => g.clone(),
            None => skill_text,
        };
        let group = match skill_groups.iter().position(|g| *g == group_name) {
            Some(g) => g,
            None => {
                skill_groups.push(group_name);
                skill_groups.len() - 1
            }
        };
        Ok(StreamPlan {
            channel,
            mean_gap_ms: 1000.0 / rate_per_sec,
            queue: stream.queue.clone(),
            required_skills: required,
            group,
            value,
            patience_mean_ms,
        })
    }
}

/// Longest order history a segment may give, in years; the simulated day starts this
/// long after the router's clock zero, so that every fact has a time.
pub(crate) const MAX_HISTORY_YEARS: f64 = 50.0;

fn plan_customers(customers: &Customers) -> Result<PopulationPlan, ScenarioError> {
    let field = |name: &str| format!("customers.{name}");
    if !(1..=1_000_000).contains(&customers.count) {
        return Err(invalid(field("count"), "must be from 1 to 1000000"));
    }
    if customers.currency.trim().is_empty() {
        return Err(invalid(field("currency"), "must not be empty"));
    }
    if customers.segments.is_empty() {
        return Err(invalid(
            field("segments"),
            "at least one [[customers.segments]] is needed",
        ));
    }
    let in_range = |name: String, v: f64, lo: f64, hi: f64| {
        if v.is_finite() && (lo..=hi).contains(&v) {
            Ok(v)
        } else {
            Err(invalid(name, format!("must be a number from {lo} to {hi}")))
        }
    };
    let mut segments = Vec::new();
    for (i, segment) in customers.segments.iter().enumerate() {
        let field = |name: &str| format!("customers.segments[{i}].{name}");
        if segment.name.is_empty() {
            return Err(invalid(field("name"), "must not be empty"));
        }
        if customers.segments[..i]
            .iter()
            .any(|o| o.name == segment.name)
        {
            return Err(invalid(
                field("name"),
                format!("duplicate segment name {:?}", segment.name),
            ));
        }
        in_range(field("share"), segment.share, 0.0, 1e9)?;
        let [low, high] = segment.tenure_years;
        in_range(field("tenure_years"), low, 0.0, MAX_HISTORY_YEARS)?;
        in_range(field("tenure_years"), high, low, MAX_HISTORY_YEARS)?;
        in_range(
            field("orders_per_year"),
            segment.orders_per_year,
            0.0,
            1000.0,
        )?;
        if segment.orders_per_year * high > 10_000.0 {
            return Err(invalid(
                field("orders_per_year"),
                "at most 10000 orders over the longest tenure",
            ));
        }
        in_range(field("average_order"), segment.average_order, 0.0, 1e9)?;
        in_range(field("order_spread"), segment.order_spread, 0.0, 1.0)?;
        in_range(
            field("acquisition_cost"),
            segment.acquisition_cost,
            0.0,
            1e9,
        )?;
        segments.push(segment.clone());
    }
    if segments.iter().map(|s| s.share).sum::<f64>() <= 0.0 {
        return Err(invalid(
            "customers.segments",
            "shares must add up to more than 0",
        ));
    }
    let satisfaction = customers.satisfaction;
    in_range(
        "customers.satisfaction.noise".to_owned(),
        satisfaction.noise,
        0.0,
        4.0,
    )?;
    let tolerance_ms = positive_ms(
        "customers.satisfaction.tolerance_secs",
        satisfaction.tolerance_secs,
    )?;
    if !(1..=4).contains(&satisfaction.low_rating) {
        return Err(invalid(
            "customers.satisfaction.low_rating",
            "must be from 1 to 4",
        ));
    }
    Ok(PopulationPlan {
        count: customers.count as usize,
        currency: customers.currency.trim().to_owned(),
        segments,
        noise: satisfaction.noise,
        tolerance_ms: tolerance_ms as f64,
        low_rating: satisfaction.low_rating,
    })
}

fn class_name(class: ChannelClass) -> &'static str {
    match class {
        ChannelClass::Messaging => "messaging",
        ChannelClass::Email => "email",
        ChannelClass::Voice => "voice",
    }
}

/// `billing:2+vip`, or `any` for no requirement.
fn skill_set_text(skills: &BTreeMap<String, u8>) -> String {
    if skills.is_empty() {
        return "any".to_owned();
    }
    skills
        .iter()
        .map(|(name, level)| {
            if *level > 1 {
                format!("{name}:{level}")
            } else {
                name.clone()
            }
        })
        .collect::<Vec<_>>()
        .join("+")
}

fn parse_skills(skills: &[String], field: &str) -> Result<Vec<(String, u8)>, ScenarioError> {
    skills
        .iter()
        .enumerate()
        .map(|(j, s)| {
            parse_skill(s).ok_or_else(|| {
                invalid(
                    format!("{field}[{j}]"),
                    format!("bad skill {s:?}: expected `name` or `name:level` with level 1-5"),
                )
            })
        })
        .collect()
}

fn positive(field: &str, value: f64) -> Result<f64, ScenarioError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(invalid(field, "must be a number > 0"))
    }
}

/// Seconds to whole milliseconds, at most about 30 years.
const MAX_SECS: f64 = 1e9;

fn positive_ms(field: &str, secs: f64) -> Result<Millis, ScenarioError> {
    let ms = non_negative_ms(field, secs)?;
    if ms == 0 {
        return Err(invalid(field, "must be at least 0.001 seconds"));
    }
    Ok(ms)
}

fn non_negative_ms(field: &str, secs: f64) -> Result<Millis, ScenarioError> {
    if secs.is_finite() && (0.0..=MAX_SECS).contains(&secs) {
        Ok((secs * 1000.0).round() as Millis)
    } else {
        Err(invalid(
            field,
            format!("must be a number of seconds from 0 to {MAX_SECS}"),
        ))
    }
}

/// A validated scenario in milliseconds and router types.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) duration_ms: Millis,
    pub(crate) warmup_ms: Millis,
    pub(crate) service_level_ms: Millis,
    pub(crate) tick_ms: Millis,
    pub(crate) streams: Vec<StreamPlan>,
    /// Skill group names, in order of first appearance.
    pub(crate) skill_groups: Vec<String>,
    pub(crate) agent_groups: Vec<AgentPlan>,
    /// Channel classes some stream arrives in; only their capacity counts as staffed.
    pub(crate) classes_used: [bool; 3],
    /// The returning customers, when the scenario has `[customers]`.
    pub(crate) population: Option<PopulationPlan>,
    /// `[campaign]`, validated.
    pub(crate) campaign: Option<super::campaign::CampaignPlan>,
}

/// `[customers]`, validated.
#[derive(Debug, Clone)]
pub(crate) struct PopulationPlan {
    pub(crate) count: usize,
    pub(crate) currency: String,
    pub(crate) segments: Vec<Segment>,
    /// Noise half-width of the rating, in stars.
    pub(crate) noise: f64,
    /// Patience for rating on streams without one.
    pub(crate) tolerance_ms: f64,
    pub(crate) low_rating: u8,
}

/// One arrival stream, validated.
#[derive(Debug, Clone)]
pub(crate) struct StreamPlan {
    pub(crate) channel: Channel,
    pub(crate) mean_gap_ms: f64,
    pub(crate) queue: Option<String>,
    pub(crate) required_skills: Vec<(String, u8)>,
    /// Index into [`Plan::skill_groups`].
    pub(crate) group: usize,
    pub(crate) value: ValueMix,
    pub(crate) patience_mean_ms: Option<f64>,
}

/// Where a stream's customers' CLV comes from.
#[derive(Debug, Clone)]
pub(crate) enum ValueMix {
    /// Everyone the same.
    Fixed(f64),
    /// A tier drawn by weight; the CLV is the tier's lower bound.
    Tiers { weights: Vec<f64>, clvs: Vec<f64> },
    /// A customer of `[customers]`, valued by the router from their facts.
    Population,
}

/// One agent group, validated.
#[derive(Debug, Clone)]
pub(crate) struct AgentPlan {
    pub(crate) name: String,
    pub(crate) count: u32,
    pub(crate) skills: Vec<(String, u8)>,
    pub(crate) capacity: PerClass,
    pub(crate) start_ms: Millis,
    pub(crate) end_ms: Option<Millis>,
    pub(crate) answer_delay_ms: Millis,
    pub(crate) handle_mean_ms: f64,
    pub(crate) handle: HandleDistribution,
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
duration_secs = 3600
[[arrivals]]
name = "chat"
rate_per_hour = 60
[[agents]]
name = "team"
count = 2
handle_secs = 60
"#;

    const CUSTOMERS: &str = r#"
[customers]
count = 50
[[customers.segments]]
name = "all"
share = 1.0
tenure_years = [0.5, 2.0]
orders_per_year = 2.0
average_order = 100.0
"#;

    #[test]
    fn customers_are_optional_and_feed_the_streams_without_a_value() {
        let plain = Scenario::from_toml(MINIMAL).unwrap().plan().unwrap();
        assert!(plain.population.is_none());
        assert!(matches!(plain.streams[0].value, ValueMix::Fixed(v) if v == 0.0));
        let with = Scenario::from_toml(&format!("{MINIMAL}{CUSTOMERS}")).unwrap();
        let plan = with.plan().unwrap();
        let population = plan.population.unwrap();
        assert_eq!(population.count, 50);
        assert_eq!(population.currency, "currency units");
        assert_eq!(population.low_rating, 2);
        assert_eq!(with.customers.unwrap().segments[0].order_spread, 0.5);
        assert!(matches!(plan.streams[0].value, ValueMix::Population));
        // A stream with its own tiers still brings strangers.
        let strangers = format!("{MINIMAL}{CUSTOMERS}")
            .replace("name = \"chat\"", "name = \"chat\"\nclv = 5.0");
        let plan = Scenario::from_toml(&strangers).unwrap().plan().unwrap();
        assert!(matches!(plan.streams[0].value, ValueMix::Fixed(v) if v == 5.0));
    }

    fn error_of(text: &str) -> String {
        Scenario::from_toml(text).unwrap_err().to_string()
    }

    #[test]
    fn minimal_scenario_gets_defaults() {
        let s = Scenario::from_toml(MINIMAL).unwrap();
        assert_eq!(s.seed, 1);
        assert_eq!(s.service_level_secs, 20.0);
        assert_eq!(s.routing, RoutingPolicy::default());
        assert_eq!(s.agents[0].capacity, default_capacity());
        let plan = s.plan().unwrap();
        assert_eq!(plan.skill_groups, vec!["any".to_owned()]);
        assert_eq!(plan.streams[0].mean_gap_ms, 60_000.0);
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                MINIMAL.replace("rate_per_hour = 60", "rate_per_hour = -1"),
                "arrivals[0].rate_per_hour",
            ),
            (
                MINIMAL.replace("rate_per_hour = 60", "rate_per_minute = 1"),
                "rate_per_minute",
            ),
            (
                MINIMAL.replace("rate_per_hour = 60", ""),
                "arrivals[0].rate_per_hour",
            ),
            (
                MINIMAL.replace("name = \"chat\"", "name = \"chat\"\nchannel = \"fax\""),
                "arrivals[0].channel",
            ),
            (
                MINIMAL.replace(
                    "name = \"chat\"",
                    "name = \"chat\"\ntiers = { diamond = 1 }",
                ),
                "arrivals[0].tiers.diamond",
            ),
            (
                MINIMAL.replace(
                    "name = \"chat\"",
                    "name = \"chat\"\nrequired_skills = [\"x:9\"]",
                ),
                "arrivals[0].required_skills[0]",
            ),
            (
                MINIMAL.replace(
                    "name = \"chat\"",
                    "name = \"chat\"\nrequired_skills = [\"tax\"]",
                ),
                "arrivals[0]: no agent group",
            ),
            (MINIMAL.replace("count = 2", "count = 0"), "agents[0].count"),
            (
                MINIMAL.replace("count = 2", "count = 2\nanswer_delay_secs = 31"),
                "agents[0].answer_delay_secs",
            ),
            (
                MINIMAL.replace("count = 2", "count = 2\nshift_end_secs = 0"),
                "agents[0].shift_end_secs",
            ),
            (format!("warmup_secs = 4000\n{MINIMAL}"), "warmup_secs"),
            (
                format!("{MINIMAL}{CUSTOMERS}").replace("count = 50", "count = 0"),
                "customers.count",
            ),
            (
                format!("{MINIMAL}{CUSTOMERS}").replace("[0.5, 2.0]", "[3.0, 2.0]"),
                "customers.segments[0].tenure_years",
            ),
            (
                format!("{MINIMAL}{CUSTOMERS}").replace("share = 1.0", "share = 0.0"),
                "customers.segments: shares",
            ),
            (
                format!("{MINIMAL}{CUSTOMERS}\n[customers.satisfaction]\nlow_rating = 5\n"),
                "customers.satisfaction.low_rating",
            ),
            (
                format!("{MINIMAL}{CUSTOMERS}").replace("share = 1.0", "share = 1.0\nvalue = 3"),
                "unknown field `value`",
            ),
            (
                format!("{MINIMAL}\n[routing.priority]\naging_per_sec = 0.0\n"),
                "routing: aging_per_sec",
            ),
        ];
        for (text, field) in cases {
            let e = error_of(&text);
            assert!(e.contains(field), "expected {field:?} in {e:?}");
        }
    }

    #[test]
    fn fcfs_baseline_zeroes_every_weight_only() {
        let s = Scenario::from_toml(MINIMAL).unwrap();
        let f = s.fcfs_baseline();
        assert!(f.routing.priority.tiers.iter().all(|t| t.weight == 0.0));
        assert_eq!(
            f.routing.priority.tiers.len(),
            s.routing.priority.tiers.len()
        );
        assert_eq!(f.arrivals, s.arrivals);
    }
}
