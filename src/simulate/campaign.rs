//! `[campaign]` in a scenario: an outbound campaign run by the real router over the
//! scenario's `[customers]`, and the customers who answer it, so operations see what
//! a campaign costs their queues before they start it.
//!
//! ```toml
//! [campaign]
//! start_secs = 3600           # when it starts
//! kind = "follow_up"          # what it is for (marketing needs an opt-in nobody gave here)
//! per_minute = 120            # its pace
//! per_free_agent_per_minute = 0   # optional: at most so many a minute per agent free for the replies
//! tiers = ["gold", "platinum"]   # optional segment: value tiers, health, lapsed buyers
//! health_below = 60.0
//! no_purchase_days = 90
//! reply_share = 0.1           # of those reached, the share who write back
//! reply_delay_secs = 600      # mean of an exponential delay before they do
//! reply_stream = "billing-web"   # whose skills, patience and handling the replies take
//! ```
//!
//! The notices go to each customer's phone (SMS); replies open conversations on SMS
//! in the reply stream's queue. The campaign paces and pauses itself exactly as in the
//! server (`[routing.outbound]` under `[routing]` sets the service-level pause).

use serde::Deserialize;

use super::scenario::ScenarioError;
use crate::customer::ContactPurpose;
use crate::outbound::{CampaignRequest, Segment};
use crate::routing::{Channel, Millis, RoutingPolicy};

/// `[campaign]` as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignSpec {
    /// When it starts, seconds from the start of the day.
    pub start_secs: f64,
    /// What it is for.
    #[serde(default = "default_kind")]
    pub kind: ContactPurpose,
    /// Most notices per minute.
    pub per_minute: u32,
    /// Most notices per minute for each agent free to take the replies; 0 for no
    /// such bound.
    #[serde(default)]
    pub per_free_agent_per_minute: u32,
    /// Value tier names; empty for any.
    #[serde(default)]
    pub tiers: Vec<String>,
    /// Only customers whose health is below this.
    #[serde(default)]
    pub health_below: Option<f64>,
    /// Only customers with no order for this many days.
    #[serde(default)]
    pub no_purchase_days: Option<u32>,
    /// Of those reached, the share who write back (0-1).
    pub reply_share: f64,
    /// Mean seconds before they do (exponential).
    pub reply_delay_secs: f64,
    /// The arrival stream whose queue, skills, patience and handling replies take.
    pub reply_stream: String,
}

fn default_kind() -> ContactPurpose {
    ContactPurpose::FollowUp
}

/// `[campaign]`, validated.
#[derive(Debug, Clone)]
pub(crate) struct CampaignPlan {
    pub(crate) start_ms: Millis,
    pub(crate) reply_share: f64,
    pub(crate) reply_delay_ms: f64,
    pub(crate) reply_stream: usize,
    /// The campaign the router is asked to run, less its times (set at the start).
    pub(crate) request: CampaignRequest,
}

/// The channel the notices go out on: the customers' verified phones.
pub(crate) const CAMPAIGN_CHANNEL: Channel = Channel::Sms;

fn invalid(field: &str, reason: impl std::fmt::Display) -> ScenarioError {
    ScenarioError::Invalid {
        field: format!("campaign.{field}"),
        reason: reason.to_string(),
    }
}

impl CampaignSpec {
    /// Checks it against the scenario's streams, tiers and population.
    pub(crate) fn plan(
        &self,
        stream_names: &[&str],
        routing: &RoutingPolicy,
        has_customers: bool,
        duration_ms: Millis,
    ) -> Result<CampaignPlan, ScenarioError> {
        if !has_customers {
            return Err(invalid(
                "start_secs",
                "a campaign needs [customers] to reach",
            ));
        }
        if !self.start_secs.is_finite() || self.start_secs < 0.0 {
            return Err(invalid("start_secs", "0 or more"));
        }
        let start_ms = (self.start_secs * 1000.0).round() as Millis;
        if start_ms >= duration_ms {
            return Err(invalid("start_secs", "must be before duration_secs"));
        }
        if !(1..=60_000).contains(&self.per_minute) {
            return Err(invalid("per_minute", "1-60000"));
        }
        if self.per_free_agent_per_minute > 60_000 {
            return Err(invalid("per_free_agent_per_minute", "0-60000"));
        }
        if !(0.0..=1.0).contains(&self.reply_share) {
            return Err(invalid("reply_share", "a share, 0-1"));
        }
        if !self.reply_delay_secs.is_finite() || self.reply_delay_secs <= 0.0 {
            return Err(invalid("reply_delay_secs", "greater than 0"));
        }
        let reply_stream = stream_names
            .iter()
            .position(|n| *n == self.reply_stream)
            .ok_or_else(|| {
                invalid(
                    "reply_stream",
                    format_args!("no [[arrivals]] stream named {:?}", self.reply_stream),
                )
            })?;
        let tiers = self
            .tiers
            .iter()
            .map(|name| {
                routing
                    .priority
                    .tiers
                    .iter()
                    .position(|t| t.name == *name)
                    .ok_or_else(|| invalid("tiers", format_args!("unknown tier {name:?}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CampaignPlan {
            start_ms,
            reply_share: self.reply_share,
            reply_delay_ms: self.reply_delay_secs * 1000.0,
            reply_stream,
            request: CampaignRequest {
                name: "what-if".to_owned(),
                purpose: self.kind,
                template: "what-if".to_owned(),
                text: "A message from us".to_owned(),
                buttons: Vec::new(),
                preferred_channel: Some(CAMPAIGN_CHANNEL),
                segment: Segment {
                    tiers,
                    health_below: self.health_below,
                    no_purchase_days: self.no_purchase_days,
                    no_contact_days: None,
                    tags: Vec::new(),
                },
                start_at: 0,
                deadline: 0,
                per_minute: self.per_minute,
                per_free_agent_per_minute: self.per_free_agent_per_minute,
                queue: 0,
                client_id: None,
            },
        })
    }
}

/// What the campaign did, for the report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CampaignReport {
    /// Customers the walk looked at and of those in the segment.
    pub scanned: u64,
    /// In the segment.
    pub matched: u64,
    /// Notices that went out.
    pub sent: u64,
    /// Held back by a rule (consent, caps, quiet hours).
    pub skipped: u64,
    /// Customers who wrote back (each a conversation in the reply stream's queue).
    pub replies: u64,
    /// Times it paused (its queue missed the service level or had nobody to serve).
    pub pauses: u64,
    /// How it ended: `done`, `running`, `paused`, ...
    pub status: String,
}
