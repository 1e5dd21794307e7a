//! The discrete-event run loop: a heap of timed actions driving the real [`Router`].
//!
//! Customers arrive by Poisson streams and are opened with
//! [`Router::customer_message`]; the conversation id it returns identifies them from
//! then on. Every router call is followed by [`Router::drain`], and the agent notices
//! decide what happens next: an offer is accepted after the group's answer delay (if it
//! is still offered to that agent then), an accepted conversation is closed after a
//! handle time, a withdrawn offer frees the agent, an agent the router set away (offer
//! timeout) comes back at once. A customer not answered within their patience abandons.
//! Agents sign in at shift start and out at shift end, when the router routes what
//! they held again. The router's timers run every `tick_secs`.
//!
//! Every random draw comes from a generator per arrival stream or per agent group, and
//! a customer's tier, patience and first handle time are drawn on arrival, so two runs
//! that differ only in routing policy see identical customers.

use std::cmp::Ordering;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::sync::Arc;

use super::campaign::{CAMPAIGN_CHANNEL, CampaignReport};
use super::report::{CustomerReport, Occupancy, Report, RiskRow, Row};
use super::rng::Rng;
use super::satisfaction;
use super::scenario::{
    HandleDistribution, MAX_HISTORY_YEARS, Plan, PopulationPlan, Scenario, ScenarioError, ValueMix,
};
use crate::customer::value::YEAR_MS;
use crate::customer::{ClaimedIdentity, Fact, FactKind, Identity, IdentityKind, ProfileId};
use crate::outbound::{CampaignId, CampaignRequest, NotificationId};
use crate::routing::{
    AdapterId, AgentNotice, Applied, Channel, Command, ConversationId, CustomerNotice,
    CustomerNoticeBody, InboundMessage, MAX_FACTS_PER_CALL, Millis, Notice, Presence, ProfileRef,
    Router, SignIn, ValueFacts,
};

/// How long past `duration_secs` the run follows customers still waiting.
const DRAIN_LIMIT_MS: Millis = 24 * 3600 * 1000;

/// The generator stream of the customer population (arrival streams use 0.., agent
/// groups 2^32..).
const POPULATION_STREAM: u64 = 2 << 32;
/// The generator stream of campaign replies.
const CAMPAIGN_STREAM: u64 = 3 << 32;

/// Runs a scenario and reports on it. Deterministic: the same scenario (seed included)
/// gives the same report.
pub fn run(scenario: &Scenario) -> Result<Report, ScenarioError> {
    let plan = scenario.plan()?;
    let router = Router::new(scenario.routing.clone()).map_err(|e| ScenarioError::Invalid {
        field: "routing".to_owned(),
        reason: e.to_string(),
    })?;
    let mut sim = Sim::new(scenario, &plan, router);
    sim.run(scenario.seed)?;
    Ok(sim.report(scenario))
}

/// The phone number customer `k` of the population sends: `+1555` and eight digits.
fn population_phone(k: usize) -> Identity {
    Identity::new(IdentityKind::Phone, &format!("+1555{k:08}")).expect("a valid phone number")
}

/// Something that happens at a time.
#[derive(Debug)]
enum Action {
    /// The next customer of a stream.
    Arrival { stream: usize },
    /// An agent accepts an offer it got (the `offer`-th of the conversation).
    Accept {
        conversation: ConversationId,
        agent: usize,
        offer: u64,
    },
    /// An agent closes a conversation accepted from that offer.
    Close {
        conversation: ConversationId,
        agent: usize,
        offer: u64,
    },
    /// The customer's patience runs out.
    Patience { conversation: ConversationId },
    /// Shift start.
    SignIn { agent: usize },
    /// Shift end.
    SignOut { agent: usize },
    /// An agent the router set away comes back.
    Available { agent: usize },
    /// Router timers.
    Tick,
    /// `[campaign]` starts.
    StartCampaign,
    /// Population customer `customer` writes back to a campaign notice.
    Reply { customer: usize },
}

#[derive(Debug)]
struct Timed {
    at: Millis,
    seq: u64,
    action: Action,
}

impl PartialEq for Timed {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Timed {}

impl PartialOrd for Timed {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Timed {
    /// Reversed, so the max-heap pops the earliest; ties in scheduling order.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

#[derive(Debug)]
struct SimAgent {
    id: String,
    group: usize,
    signed_in: bool,
    /// Conversations offered or assigned to the agent.
    held: Vec<ConversationId>,
    /// Capacity in the channel classes the scenario uses.
    slots: u64,
}

#[derive(Debug)]
struct SimConversation {
    stream: usize,
    tier: usize,
    arrived: Millis,
    measured: bool,
    channel: Channel,
    channel_conversation_id: String,
    /// The channel's id of the customer (the conversation key for strangers).
    customer_id: String,
    /// Exponential(1) draw for the first handle time.
    handle_draw: Option<f64>,
    holder: Option<usize>,
    /// Offers made so far; identifies the current one.
    offers: u64,
    assigned: bool,
    answered: bool,
    /// The population customer behind it, with the patience they rate the wait by
    /// and the uniform draw of their rating's noise.
    customer: Option<(usize, f64, f64)>,
}

/// A customer of `[customers]`, and what happened to them in the measured window.
#[derive(Debug)]
struct SimCustomer {
    /// The verified phone number they send on every channel.
    phone: Identity,
    /// The profile the router filed their facts under.
    profile: ProfileId,
    /// Their tier at the start of the day, by the router's value model.
    tier: usize,
    /// Their loss value at the start of the day, by the router's value model.
    loss_value: f64,
    /// Arrived at least once after the warm-up.
    contacted: bool,
    /// Abandoned at least once after the warm-up.
    abandoned: bool,
    /// Rated at least one contact after the warm-up at or below the low rating.
    rated_low: bool,
}

/// Counts over the population's measured contacts.
#[derive(Debug, Default)]
struct ContactTally {
    contacts: u64,
    recognised: u64,
    profiles: BTreeSet<ProfileId>,
    rated: u64,
    rated_low: u64,
    rating_sum: u64,
}

/// Counts and waits of one report row while the run goes.
#[derive(Debug, Default)]
struct Tally {
    offered: u64,
    answered: u64,
    abandoned: u64,
    answered_within: u64,
    abandoned_within: u64,
    waited: u64,
    waits_ms: Vec<u64>,
}

impl Tally {
    fn row(&self, name: &str) -> Row {
        let mut waits = self.waits_ms.clone();
        waits.sort_unstable();
        let n = waits.len();
        let mean = (n > 0).then(|| waits.iter().sum::<u64>() as f64 / n as f64 / 1000.0);
        // Nearest rank: the smallest wait at least 90% of answered customers had.
        let p90 = (n > 0).then(|| waits[(n * 9).div_ceil(10) - 1] as f64 / 1000.0);
        Row {
            name: name.to_owned(),
            offered: self.offered,
            answered: self.answered,
            abandoned: self.abandoned,
            unanswered: self.offered - self.answered - self.abandoned,
            answered_within: self.answered_within,
            abandoned_within: self.abandoned_within,
            waited: self.waited,
            mean_wait_secs: mean,
            p90_wait_secs: p90,
        }
    }
}

struct Sim<'a> {
    plan: &'a Plan,
    router: Router,
    adapter: AdapterId,
    heap: BinaryHeap<Timed>,
    seq: u64,
    stream_rngs: Vec<Rng>,
    group_rngs: Vec<Rng>,
    agents: Vec<SimAgent>,
    agent_index: HashMap<String, usize>,
    conversations: HashMap<ConversationId, SimConversation>,
    arrivals: u64,
    tiers: Vec<Tally>,
    groups: Vec<Tally>,
    total: Tally,
    /// Measured customers not yet answered or abandoned.
    unresolved: u64,
    /// Per agent group: capacity held now, capacity staffed now, and their integrals
    /// over the measured window (slot-milliseconds).
    held: Vec<u64>,
    staffed: Vec<u64>,
    busy_ms: Vec<u128>,
    staffed_ms: Vec<u128>,
    integrated_to: Millis,
    refused: u64,
    stale: u64,
    /// What the router's clock reads at simulated time 0: 0 without `[customers]`,
    /// else [`MAX_HISTORY_YEARS`], so the customers' order histories have times.
    epoch: Millis,
    customers: Vec<SimCustomer>,
    contacts: ContactTally,
    /// The campaign the router runs, once started, and the generator of replies.
    campaign: Option<CampaignId>,
    reply_rng: Rng,
    replies: u64,
    /// Population customers by profile, to tell who got a notice.
    by_profile: HashMap<ProfileId, usize>,
}

impl<'a> Sim<'a> {
    fn new(scenario: &Scenario, plan: &'a Plan, router: Router) -> Sim<'a> {
        let seed = scenario.seed;
        let stream_rngs = (0..plan.streams.len())
            .map(|s| Rng::for_stream(seed, s as u64))
            .collect();
        let group_rngs = (0..plan.agent_groups.len())
            .map(|g| Rng::for_stream(seed, (1 << 32) + g as u64))
            .collect();
        let mut agents = Vec::new();
        for (g, group) in plan.agent_groups.iter().enumerate() {
            let slots = (0..3)
                .filter(|&c| plan.classes_used[c])
                .map(|c| u64::from(group.capacity.0[c]))
                .sum();
            for k in 1..=group.count {
                agents.push(SimAgent {
                    id: format!("{}-{k}", group.name),
                    group: g,
                    signed_in: false,
                    held: Vec::new(),
                    slots,
                });
            }
        }
        let agent_index = agents
            .iter()
            .enumerate()
            .map(|(i, a)| (a.id.clone(), i))
            .collect();
        let groups = plan.agent_groups.len();
        Sim {
            plan,
            router,
            adapter: Arc::from("simulator"),
            heap: BinaryHeap::new(),
            seq: 0,
            stream_rngs,
            group_rngs,
            agents,
            agent_index,
            conversations: HashMap::new(),
            arrivals: 0,
            tiers: (0..scenario.routing.priority.tiers.len())
                .map(|_| Tally::default())
                .collect(),
            groups: (0..plan.skill_groups.len())
                .map(|_| Tally::default())
                .collect(),
            total: Tally::default(),
            unresolved: 0,
            held: vec![0; groups],
            staffed: vec![0; groups],
            busy_ms: vec![0; groups],
            staffed_ms: vec![0; groups],
            integrated_to: 0,
            refused: 0,
            stale: 0,
            epoch: if plan.population.is_some() {
                (MAX_HISTORY_YEARS * YEAR_MS) as Millis
            } else {
                0
            },
            customers: Vec::new(),
            contacts: ContactTally::default(),
            campaign: None,
            reply_rng: Rng::for_stream(seed, CAMPAIGN_STREAM),
            replies: 0,
            by_profile: HashMap::new(),
        }
    }

    /// Creates the population: each customer's order history drawn from their
    /// segment and pushed to the router as facts, so its value model tiers them.
    fn populate(&mut self, seed: u64) -> Result<(), ScenarioError> {
        let Some(population) = &self.plan.population else {
            return Ok(());
        };
        let mut rng = Rng::for_stream(seed, POPULATION_STREAM);
        let shares: Vec<f64> = population.segments.iter().map(|s| s.share).collect();
        let start = self.epoch;
        let refused = |k: usize, e: String| ScenarioError::Invalid {
            field: "customers".to_owned(),
            reason: format!("the router refused the facts of customer {k}: {e}"),
        };
        for k in 0..population.count {
            let segment = &population.segments[rng.weighted_index(&shares)];
            let [low, high] = segment.tenure_years;
            let tenure = low + (high - low) * rng.uniform();
            let first = start - (tenure * YEAR_MS) as Millis;
            let order = |rng: &mut Rng, at| Fact {
                kind: FactKind::Order,
                amount: segment.average_order
                    * (1.0 + segment.order_spread * (2.0 * rng.uniform() - 1.0)),
                at,
            };
            let mut facts = vec![order(&mut rng, first)];
            for _ in 0..rng.poisson(segment.orders_per_year * tenure) {
                let at = first + ((start - first) as f64 * rng.uniform()) as Millis;
                facts.push(order(&mut rng, at));
            }
            if segment.acquisition_cost > 0.0 {
                facts.push(Fact {
                    kind: FactKind::AcquisitionCost,
                    amount: segment.acquisition_cost,
                    at: first,
                });
            }
            let phone = population_phone(k);
            let mut profile = None;
            for chunk in facts.chunks(MAX_FACTS_PER_CALL) {
                let command = Command::CustomerFacts {
                    who: ProfileRef::Identity(phone.clone()),
                    facts: chunk.to_vec(),
                };
                match self.router.apply(start, command) {
                    Ok(Applied::Profile(id)) => profile = Some(id),
                    Ok(other) => return Err(refused(k, format!("unexpected {other:?}"))),
                    Err(e) => return Err(refused(k, e.to_string())),
                }
            }
            let profile = profile.expect("at least one fact");
            let value = self
                .router
                .customer_value(profile, start)
                .expect("facts were recorded");
            self.by_profile.insert(profile, self.customers.len());
            self.customers.push(SimCustomer {
                phone,
                profile,
                tier: self.router.policy().priority.tier_of(value.routing_value()),
                loss_value: value.loss_value,
                contacted: false,
                abandoned: false,
                rated_low: false,
            });
        }
        let _ = self.router.drain();
        Ok(())
    }

    fn schedule(&mut self, at: Millis, action: Action) {
        self.seq += 1;
        self.heap.push(Timed {
            at,
            seq: self.seq,
            action,
        });
    }

    fn run(&mut self, seed: u64) -> Result<(), ScenarioError> {
        let plan = self.plan;
        self.populate(seed)?;
        for agent in 0..self.agents.len() {
            let group = &plan.agent_groups[self.agents[agent].group];
            self.schedule(group.start_ms, Action::SignIn { agent });
            if let Some(end) = group.end_ms {
                self.schedule(end, Action::SignOut { agent });
            }
        }
        for stream in 0..plan.streams.len() {
            self.schedule_arrival(0, stream);
        }
        if let Some(campaign) = &plan.campaign {
            self.schedule(campaign.start_ms, Action::StartCampaign);
        }
        self.schedule(plan.tick_ms, Action::Tick);

        let horizon = plan.duration_ms + DRAIN_LIMIT_MS;
        while let Some(next) = self.heap.peek() {
            if next.at > horizon || (next.at >= plan.duration_ms && self.unresolved == 0) {
                break;
            }
            let Timed { at, action, .. } = self.heap.pop().expect("peeked");
            self.integrate(at);
            self.act(at, action)?;
        }
        self.integrate(plan.duration_ms);
        Ok(())
    }

    /// Adds held and staffed capacity up to `now`, within the measured window.
    fn integrate(&mut self, now: Millis) {
        let from = self.integrated_to.max(self.plan.warmup_ms);
        let to = now.min(self.plan.duration_ms);
        if to > from {
            let dt = u128::from(to - from);
            for g in 0..self.held.len() {
                self.busy_ms[g] += u128::from(self.held[g]) * dt;
                self.staffed_ms[g] += u128::from(self.staffed[g]) * dt;
            }
        }
        self.integrated_to = self.integrated_to.max(now);
    }

    fn schedule_arrival(&mut self, after: Millis, stream: usize) {
        let gap = self.stream_rngs[stream].exponential(self.plan.streams[stream].mean_gap_ms);
        let at = after + gap.round() as Millis;
        if at < self.plan.duration_ms {
            self.schedule(at, Action::Arrival { stream });
        }
    }

    fn act(&mut self, now: Millis, action: Action) -> Result<(), ScenarioError> {
        match action {
            Action::Arrival { stream } => self.arrive(now, stream),
            Action::Accept {
                conversation,
                agent,
                offer,
            } => self.accept(now, conversation, agent, offer),
            Action::Close {
                conversation,
                agent,
                offer,
            } => self.close(now, conversation, agent, offer),
            Action::Patience { conversation } => self.abandon(now, conversation),
            Action::SignIn { agent } => self.sign_in(now, agent)?,
            Action::SignOut { agent } => self.sign_out(now, agent),
            Action::Available { agent } => {
                if self.agents[agent].signed_in
                    && self
                        .router
                        .set_presence(
                            self.epoch + now,
                            &self.agents[agent].id,
                            Presence::Available,
                        )
                        .is_err()
                {
                    self.stale += 1;
                }
            }
            Action::Tick => {
                self.router.tick(self.epoch + now);
                self.schedule(now + self.plan.tick_ms, Action::Tick);
            }
            Action::StartCampaign => self.start_campaign(now)?,
            Action::Reply { customer } => {
                self.replies += 1;
                let stream = self.plan.campaign.as_ref().map_or(0, |c| c.reply_stream);
                self.open(now, stream, Some(customer));
            }
        }
        self.absorb(now);
        Ok(())
    }

    fn arrive(&mut self, now: Millis, stream: usize) {
        self.schedule_arrival(now, stream);
        self.open(now, stream, None);
    }

    /// Starts `[campaign]` in the router: the SMS adapter is announced (the notices go
    /// to the customers' phones) and the campaign runs until the day ends.
    fn start_campaign(&mut self, now: Millis) -> Result<(), ScenarioError> {
        let Some(plan) = &self.plan.campaign else {
            return Ok(());
        };
        let at = self.epoch + now;
        self.router
            .announce_adapter(at, CAMPAIGN_CHANNEL, &self.adapter);
        let queue = self.plan.streams[plan.reply_stream]
            .queue
            .as_deref()
            .and_then(|q| self.router.queue_index(q))
            .unwrap_or(0);
        let request = CampaignRequest {
            start_at: at,
            deadline: self.epoch + self.plan.duration_ms,
            queue,
            ..plan.request.clone()
        };
        let id = self
            .router
            .start_campaign(at, request)
            .map_err(|e| ScenarioError::Invalid {
                field: "campaign".to_owned(),
                reason: format!("the router refused the campaign: {e}"),
            })?;
        self.campaign = Some(id);
        Ok(())
    }

    /// A notice went out: the adapter acknowledges it, and the customer writes back
    /// with the campaign's reply share, after its delay.
    fn notice_sent(&mut self, now: Millis, notification: NotificationId) {
        let Some(plan) = &self.plan.campaign else {
            return;
        };
        let at = self.epoch + now;
        self.router.notifications_reported(at, &[notification], &[]);
        let Some(&customer) = self
            .router
            .notification(notification)
            .and_then(|n| self.by_profile.get(&n.profile))
        else {
            return;
        };
        if self.reply_rng.uniform() < plan.reply_share {
            let delay = self.reply_rng.exponential(plan.reply_delay_ms).round() as Millis;
            self.schedule(now + delay, Action::Reply { customer });
        }
    }

    /// Opens a conversation of `stream`: a new customer of it, or population customer
    /// `reply` writing back to a campaign notice on its channel.
    fn open(&mut self, now: Millis, stream: usize, reply: Option<usize>) {
        let spec = &self.plan.streams[stream];
        let channel = if reply.is_some() {
            CAMPAIGN_CHANNEL
        } else {
            spec.channel
        };
        let rng = &mut self.stream_rngs[stream];
        let (clv, customer) = match (&spec.value, reply) {
            (_, Some(k)) => (None, Some(k)),
            (ValueMix::Fixed(clv), None) => (Some(*clv), None),
            (ValueMix::Tiers { weights, clvs }, None) => {
                (Some(clvs[rng.weighted_index(weights)]), None)
            }
            (ValueMix::Population, None) => {
                let count = self.customers.len();
                let k = ((rng.uniform() * count as f64) as usize).min(count - 1);
                (None, Some(k))
            }
        };
        let patience = spec.patience_mean_ms.map(|mean| rng.exponential(mean));
        let handle_draw = rng.unit_exponential();
        let rating_draw = customer.map(|_| rng.uniform());
        self.arrivals += 1;
        let key = format!("sim-{}", self.arrivals);
        let (customer_id, identities) = match customer {
            None => (key.clone(), Vec::new()),
            Some(k) => (
                // A reply comes from the phone the notice went to.
                if reply.is_some() {
                    self.customers[k].phone.value().to_owned()
                } else {
                    format!("c{k}")
                },
                vec![ClaimedIdentity {
                    identity: self.customers[k].phone.clone(),
                    verified: true,
                }],
            ),
        };
        let msg = InboundMessage {
            adapter: self.adapter.clone(),
            channel,
            channel_conversation_id: key.clone(),
            customer_id: customer_id.clone(),
            display_name: String::new(),
            value: ValueFacts {
                clv,
                ..ValueFacts::default()
            },
            text: "hello".to_owned(),
            language: "en".to_owned(),
            client_message_id: None,
            queue: spec.queue.clone(),
            required_skills: spec.required_skills.clone(),
            boosts: crate::routing::Boosts::default(),
            identities,
        };
        let measured = now >= self.plan.warmup_ms;
        let at = self.epoch + now;
        let outcome = match self.router.customer_message(at, msg) {
            Ok(outcome) => outcome,
            Err(_) => {
                if measured {
                    self.refused += 1;
                }
                return;
            }
        };
        let policy = &self.router.policy().priority;
        let tier = match customer {
            None => policy.tier_of(clv.unwrap_or(0.0)),
            // As the router values a recognised person: by its model, now.
            Some(k) => self
                .router
                .customer_value(self.customers[k].profile, at)
                .map_or(0, |v| policy.tier_of(v.routing_value())),
        };
        if let Some(k) = customer
            && measured
        {
            self.recognise(k, channel, &customer_id);
        }
        let group = spec.group;
        if measured {
            self.unresolved += 1;
            for t in [
                &mut self.tiers[tier],
                &mut self.groups[group],
                &mut self.total,
            ] {
                t.offered += 1;
            }
        }
        self.conversations.insert(
            outcome.conversation,
            SimConversation {
                stream,
                tier,
                arrived: now,
                measured,
                channel,
                channel_conversation_id: key,
                customer_id: customer_id.clone(),
                handle_draw: Some(handle_draw),
                holder: None,
                offers: 0,
                assigned: false,
                answered: false,
                customer: customer.zip(rating_draw).map(|(k, u)| {
                    let tolerance = self
                        .plan
                        .population
                        .as_ref()
                        .map_or(0.0, |p| p.tolerance_ms);
                    (k, patience.unwrap_or(tolerance), u)
                }),
            },
        );
        if let Some(patience) = patience {
            self.schedule(
                now + patience.round() as Millis,
                Action::Patience {
                    conversation: outcome.conversation,
                },
            );
        }
    }

    /// Counts a population customer's measured contact, and whether the router filed
    /// it under their profile: the channel's customer id it linked on recognising
    /// them leads to the profile their facts are on.
    fn recognise(&mut self, k: usize, channel: Channel, customer_id: &str) {
        let customer = &mut self.customers[k];
        customer.contacted = true;
        self.contacts.contacts += 1;
        let found = Identity::new(IdentityKind::Channel(channel), customer_id)
            .ok()
            .and_then(|id| self.router.customer_profile(&ProfileRef::Identity(id)))
            .map(|p| p.id());
        if let Some(found) = found {
            self.contacts.profiles.insert(found);
            self.contacts.recognised += u64::from(found == customer.profile);
        }
    }

    /// Takes the router's notices and reacts to those meant for agents.
    fn absorb(&mut self, now: Millis) {
        let (_events, notices) = self.router.drain();
        for notice in notices {
            let (agent, notice) = match notice {
                Notice::ToAgent { agent, notice } => (agent, notice),
                Notice::ToCustomer(CustomerNotice {
                    body: CustomerNoticeBody::Notification(n),
                    ..
                }) => {
                    self.notice_sent(now, n.id);
                    continue;
                }
                _ => continue,
            };
            let Some(&agent) = self.agent_index.get(&*agent) else {
                continue;
            };
            match notice {
                AgentNotice::Offer(details) => self.offered(now, details.conversation, agent),
                AgentNotice::OfferWithdrawn { conversation, .. }
                | AgentNotice::Parked { conversation, .. }
                | AgentNotice::Ended { conversation, .. } => self.release(conversation, agent),
                AgentNotice::PresenceChanged {
                    presence: Presence::Away,
                    ..
                } => self.schedule(now, Action::Available { agent }),
                AgentNotice::PresenceChanged { .. }
                | AgentNotice::CustomerMessage { .. }
                | AgentNotice::Resumed(_)
                | AgentNotice::Suggestions(_) => {}
            }
        }
    }

    fn offered(&mut self, now: Millis, id: ConversationId, agent: usize) {
        let Some(c) = self.conversations.get(&id) else {
            return;
        };
        if let Some(previous) = c.holder {
            self.release(id, previous);
        }
        let c = self.conversations.get_mut(&id).expect("checked");
        c.holder = Some(agent);
        c.offers += 1;
        let offer = c.offers;
        let a = &mut self.agents[agent];
        a.held.push(id);
        self.held[a.group] += 1;
        let delay = self.plan.agent_groups[a.group].answer_delay_ms;
        self.schedule(
            now + delay,
            Action::Accept {
                conversation: id,
                agent,
                offer,
            },
        );
    }

    /// The conversation no longer holds the agent's capacity.
    fn release(&mut self, id: ConversationId, agent: usize) {
        let a = &mut self.agents[agent];
        if let Some(i) = a.held.iter().position(|&held| held == id) {
            a.held.swap_remove(i);
            self.held[a.group] -= 1;
        }
        if let Some(c) = self.conversations.get_mut(&id)
            && c.holder == Some(agent)
        {
            c.holder = None;
            c.assigned = false;
        }
    }

    /// Whether the conversation is still where the action expects it.
    fn current(&self, id: ConversationId, agent: usize, offer: u64, assigned: bool) -> bool {
        self.conversations
            .get(&id)
            .is_some_and(|c| c.holder == Some(agent) && c.offers == offer && c.assigned == assigned)
    }

    fn accept(&mut self, now: Millis, id: ConversationId, agent: usize, offer: u64) {
        if !self.current(id, agent, offer, false) {
            // Withdrawn (abandoned, timed out) or the agent signed out meanwhile.
            return;
        }
        if self
            .router
            .accept(self.epoch + now, &self.agents[agent].id, &id.to_string())
            .is_err()
        {
            self.stale += 1;
            return;
        }
        let group = &self.plan.agent_groups[self.agents[agent].group];
        let (mean, distribution) = (group.handle_mean_ms, group.handle);
        let c = self.conversations.get_mut(&id).expect("current");
        c.assigned = true;
        let draw = c
            .handle_draw
            .take()
            .unwrap_or_else(|| self.group_rngs[self.agents[agent].group].unit_exponential());
        let handle = match distribution {
            HandleDistribution::Exponential => mean * draw,
            HandleDistribution::Fixed => mean,
        };
        if !c.answered {
            c.answered = true;
            if c.measured {
                let wait = now - c.arrived;
                let within = wait <= self.plan.service_level_ms;
                let (tier, group) = (c.tier, self.plan.streams[c.stream].group);
                self.unresolved -= 1;
                for t in [
                    &mut self.tiers[tier],
                    &mut self.groups[group],
                    &mut self.total,
                ] {
                    t.answered += 1;
                    t.answered_within += u64::from(within);
                    t.waited += u64::from(wait > 0);
                    t.waits_ms.push(wait);
                }
                if let (Some((k, patience, u)), Some(population)) =
                    (c.customer, &self.plan.population)
                {
                    let rating = satisfaction::rating(wait, patience, population.noise, u);
                    let low = rating <= population.low_rating;
                    self.contacts.rated += 1;
                    self.contacts.rating_sum += u64::from(rating);
                    self.contacts.rated_low += u64::from(low);
                    self.customers[k].rated_low |= low;
                }
            }
        }
        self.schedule(
            now + handle.round() as Millis,
            Action::Close {
                conversation: id,
                agent,
                offer,
            },
        );
    }

    fn close(&mut self, now: Millis, id: ConversationId, agent: usize, offer: u64) {
        if !self.current(id, agent, offer, true) {
            return;
        }
        if self
            .router
            .close(self.epoch + now, &self.agents[agent].id, &id.to_string())
            .is_err()
        {
            self.stale += 1;
            return;
        }
        self.release(id, agent);
        self.conversations.remove(&id);
    }

    fn abandon(&mut self, now: Millis, id: ConversationId) {
        let Some(c) = self.conversations.get(&id) else {
            return;
        };
        if c.answered {
            return;
        }
        if self
            .router
            .abandon(
                self.epoch + now,
                c.channel,
                &c.channel_conversation_id,
                &c.customer_id,
            )
            .is_err()
        {
            self.stale += 1;
            return;
        }
        if let Some(holder) = c.holder {
            self.release(id, holder);
        }
        let c = self.conversations.remove(&id).expect("checked");
        if c.measured {
            let wait = now - c.arrived;
            let within = wait <= self.plan.service_level_ms;
            self.unresolved -= 1;
            let group = self.plan.streams[c.stream].group;
            for t in [
                &mut self.tiers[c.tier],
                &mut self.groups[group],
                &mut self.total,
            ] {
                t.abandoned += 1;
                t.abandoned_within += u64::from(within);
            }
            if let Some((k, ..)) = c.customer {
                self.customers[k].abandoned = true;
            }
        }
    }

    fn sign_in(&mut self, now: Millis, agent: usize) -> Result<(), ScenarioError> {
        let a = &self.agents[agent];
        let group = &self.plan.agent_groups[a.group];
        let request = SignIn {
            agent_id: a.id.clone(),
            display_name: a.id.clone(),
            skills: group.skills.clone(),
            capacity: group.capacity,
            presence: Presence::Available,
        };
        self.router
            .sign_in(self.epoch + now, request)
            .map_err(|e| ScenarioError::Invalid {
                field: format!("agents[{}]", a.group),
                reason: format!("the router refused agent {}: {e}", a.id),
            })?;
        let a = &mut self.agents[agent];
        a.signed_in = true;
        self.staffed[a.group] += a.slots;
        Ok(())
    }

    fn sign_out(&mut self, now: Millis, agent: usize) {
        if !self.agents[agent].signed_in {
            return;
        }
        if self
            .router
            .sign_out(self.epoch + now, &self.agents[agent].id)
            .is_err()
        {
            self.stale += 1;
            return;
        }
        // The router puts what the agent held back in the queue, in place; offers to
        // other agents follow in the notices drained next.
        for id in self.agents[agent].held.clone() {
            self.release(id, agent);
        }
        let a = &mut self.agents[agent];
        a.signed_in = false;
        self.staffed[a.group] -= a.slots;
    }

    fn report(&self, scenario: &Scenario) -> Report {
        let plan = self.plan;
        let policy = self.router.policy();
        let hours = |slot_ms: u128| slot_ms as f64 / 3_600_000.0;
        let agent_groups: Vec<Occupancy> = plan
            .agent_groups
            .iter()
            .enumerate()
            .map(|(g, group)| Occupancy {
                name: group.name.clone(),
                agents: group.count,
                staffed_hours: hours(self.staffed_ms[g]),
                busy_hours: hours(self.busy_ms[g]),
            })
            .collect();
        let agents = Occupancy {
            name: "all".to_owned(),
            agents: plan.agent_groups.iter().map(|g| g.count).sum(),
            staffed_hours: hours(self.staffed_ms.iter().sum()),
            busy_hours: hours(self.busy_ms.iter().sum()),
        };
        Report {
            name: scenario.name.clone(),
            seed: scenario.seed,
            warmup_secs: plan.warmup_ms as f64 / 1000.0,
            measured_secs: (plan.duration_ms - plan.warmup_ms) as f64 / 1000.0,
            service_level_secs: plan.service_level_ms as f64 / 1000.0,
            total: self.total.row("all"),
            tiers: self
                .tiers
                .iter()
                .zip(&policy.priority.tiers)
                .map(|(t, tier)| t.row(&tier.name))
                .collect(),
            skill_groups: self
                .groups
                .iter()
                .zip(&plan.skill_groups)
                .map(|(t, name)| t.row(name))
                .collect(),
            agent_groups,
            agents,
            refused: self.refused,
            stale_actions: self.stale,
            customers: plan
                .population
                .as_ref()
                .map(|population| self.customer_report(population)),
            campaign: self.campaign.and_then(|id| {
                let c = self.router.campaign(id)?;
                Some(CampaignReport {
                    scanned: c.counts.scanned,
                    matched: c.counts.matched,
                    sent: c.counts.sent,
                    skipped: c.counts.skipped,
                    replies: self.replies,
                    pauses: c.counts.pauses,
                    status: c.status.name().to_owned(),
                })
            }),
        }
    }

    /// Loss value at risk: each customer of the population counted once, in their
    /// start-of-day tier, if any measured contact of theirs abandoned or rated low.
    fn customer_report(&self, population: &PopulationPlan) -> CustomerReport {
        let tiers = &self.router.policy().priority.tiers;
        let mut rows: Vec<RiskRow> = tiers.iter().map(|t| RiskRow::named(&t.name)).collect();
        let mut total = RiskRow::named("all");
        for c in self.customers.iter().filter(|c| c.contacted) {
            for row in [&mut rows[c.tier], &mut total] {
                row.customers += 1;
                row.contacted_loss_value += c.loss_value;
                row.abandoned += u64::from(c.abandoned);
                row.rated_low += u64::from(c.rated_low);
                if c.abandoned || c.rated_low {
                    row.at_risk += 1;
                    row.at_risk_loss_value += c.loss_value;
                }
            }
        }
        CustomerReport {
            currency: population.currency.clone(),
            population: self.customers.len() as u64,
            contacts: self.contacts.contacts,
            recognised: self.contacts.recognised,
            profiles: self.contacts.profiles.len() as u64,
            rated: self.contacts.rated,
            rated_low: self.contacts.rated_low,
            rating_sum: self.contacts.rating_sum,
            low_rating: population.low_rating,
            tiers: rows,
            total,
        }
    }
}
