//! Customer value and the order waiting conversations are served in.
//!
//! # The ordering rule
//!
//! A waiting conversation's priority at time `t` is
//!
//! ```text
//! priority(t) = weight(tier) + sum of its boosts + aging_per_sec * (t - queued_at) / 1000
//! ```
//!
//! and the highest priority is served first; equal priorities go first come, first
//! served. Boosts are complaint and churn risk (set by the adapter) and service-level
//! risk (added by the router once a conversation has waited
//! `service_level_risk_after_secs`). Every waiting conversation ages at the same rate,
//! so the order of two of them only changes when one gets a boost: comparing
//! priorities is the same as comparing `queued_at - (weight + boosts) / aging_per_sec *
//! 1000`, the *virtual arrival*. The queue is therefore a plain ordered index on
//! virtual arrival, re-keyed only for the one conversation that gets a boost.
//!
//! # The starvation bound
//!
//! A conversation that started waiting at `a` with weight (tier plus boosts) `w` can
//! only be overtaken by a later arrival at `b > a` whose weight `w'` can reach at most
//! `max tier weight + all boosts`, and only when `b - a < (w' - w) / aging_per_sec`
//! seconds. So once it has waited `(max tier weight + all boosts - w) / aging_per_sec`
//! seconds, no later arrival is ever put ahead of it. With the default tiers and boosts
//! that is at most 120 + 60 + 60 = 240 seconds for an unboosted standard customer
//! (270 s when the service-level boost is turned on).

use serde::{Deserialize, Serialize};

use super::model::Millis;

/// A CLV band with its priority weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueTier {
    /// Name shown to agents and used as a metric label.
    pub name: String,
    /// Lowest CLV in this tier.
    pub min_clv: f64,
    /// Priority points this tier starts with; with `aging_per_sec` = 1 it is the head
    /// start in seconds over the lowest tier.
    pub weight: f64,
}

/// How facts about a customer become a CLV figure, when the adapter sends no CLV.
///
/// `clv = average_order_value * purchases_per_year * (tenure_years + expected_future_years)
///        - acquisition_cost + referrals * referral_value`, floored at 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClvModel {
    /// Years a customer is expected to stay from now.
    pub expected_future_years: f64,
    /// Value of one referred customer.
    pub referral_value: f64,
}

impl Default for ClvModel {
    fn default() -> Self {
        ClvModel {
            expected_future_years: 2.0,
            referral_value: 100.0,
        }
    }
}

/// What the adapter knows of a customer's value.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct ValueFacts {
    /// A CLV computed elsewhere; wins over the other facts.
    pub clv: Option<f64>,
    /// Average order value.
    pub average_order_value: f64,
    /// Purchases per year.
    pub purchases_per_year: f64,
    /// Years as a customer.
    pub tenure_years: f64,
    /// Acquisition cost.
    pub acquisition_cost: f64,
    /// Customers referred.
    pub referrals: u32,
}

impl ClvModel {
    /// The customer's lifetime value.
    pub fn lifetime_value(&self, facts: &ValueFacts) -> f64 {
        if let Some(clv) = facts.clv {
            return clv.max(0.0);
        }
        let value = facts.average_order_value
            * facts.purchases_per_year
            * (facts.tenure_years + self.expected_future_years)
            - facts.acquisition_cost
            + f64::from(facts.referrals) * self.referral_value;
        if value.is_finite() {
            value.max(0.0)
        } else {
            0.0
        }
    }
}

/// Why a conversation is served sooner than its tier alone says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Boost {
    /// The customer is complaining (adapter or bot says so).
    Complaint = 0,
    /// The customer is at risk of leaving (adapter says so).
    ChurnRisk = 1,
    /// The conversation has waited long enough to miss the service level soon.
    ServiceLevelRisk = 2,
}

impl Boost {
    /// Every boost.
    pub const ALL: [Boost; 3] = [Boost::Complaint, Boost::ChurnRisk, Boost::ServiceLevelRisk];

    /// Stable name, used as a metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Boost::Complaint => "complaint",
            Boost::ChurnRisk => "churn_risk",
            Boost::ServiceLevelRisk => "service_level_risk",
        }
    }
}

/// A set of boosts.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Boosts(u8);

impl Boosts {
    /// Adds a boost; false when it was already there.
    pub fn insert(&mut self, boost: Boost) -> bool {
        let had = self.contains(boost);
        self.0 |= 1 << boost as u8;
        !had
    }

    /// Whether the set holds a boost.
    pub fn contains(self, boost: Boost) -> bool {
        self.0 & (1 << boost as u8) != 0
    }

    /// The boosts in the set.
    pub fn iter(self) -> impl Iterator<Item = Boost> {
        Boost::ALL.into_iter().filter(move |&b| self.contains(b))
    }
}

/// Priority points each boost adds, and when the service-level boost applies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BoostWeights {
    /// Points for a complaint.
    pub complaint: f64,
    /// Points for a churn risk.
    pub churn_risk: f64,
    /// Points once a conversation has waited `service_level_risk_after_secs`.
    pub service_level_risk: f64,
    /// Seconds of waiting after which the service-level boost applies; 0 turns it off.
    pub service_level_risk_after_secs: u64,
}

impl Default for BoostWeights {
    fn default() -> Self {
        BoostWeights {
            complaint: 60.0,
            churn_risk: 60.0,
            service_level_risk: 30.0,
            service_level_risk_after_secs: 0,
        }
    }
}

impl BoostWeights {
    /// Priority points of a boost (0 for the service-level boost while it is off).
    pub fn weight(&self, boost: Boost) -> f64 {
        match boost {
            Boost::Complaint => self.complaint,
            Boost::ChurnRisk => self.churn_risk,
            Boost::ServiceLevelRisk if self.service_level_risk_after_secs > 0 => {
                self.service_level_risk
            }
            Boost::ServiceLevelRisk => 0.0,
        }
    }
}

/// Value tiers and aging: everything that decides the serving order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PriorityPolicy {
    /// Tiers in ascending `min_clv`; the first must start at 0.
    pub tiers: Vec<ValueTier>,
    /// Priority points gained per second of waiting; > 0.
    pub aging_per_sec: f64,
    /// How CLV is computed from facts.
    pub clv: ClvModel,
    /// Boost weights.
    pub boosts: BoostWeights,
}

impl Default for PriorityPolicy {
    fn default() -> Self {
        let tier = |name: &str, min_clv: f64, weight: f64| ValueTier {
            name: name.to_owned(),
            min_clv,
            weight,
        };
        PriorityPolicy {
            tiers: vec![
                tier("standard", 0.0, 0.0),
                tier("silver", 1_000.0, 30.0),
                tier("gold", 10_000.0, 60.0),
                tier("platinum", 100_000.0, 120.0),
            ],
            aging_per_sec: 1.0,
            clv: ClvModel::default(),
            boosts: BoostWeights::default(),
        }
    }
}

/// A priority policy that cannot order anything.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// No tiers.
    #[error("value tiers: at least one tier is needed")]
    NoTiers,
    /// Tiers out of order or not starting at 0.
    #[error("value tiers: the first must have min_clv 0 and min_clv must increase")]
    TierOrder,
    /// A weight that is negative or not finite.
    #[error("value tiers: weight of tier {0:?} must be a finite number >= 0")]
    BadWeight(String),
    /// Aging rate not positive.
    #[error("aging_per_sec must be a finite number > 0")]
    BadAging,
}

impl PriorityPolicy {
    /// Checks the policy can order conversations.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let first = self.tiers.first().ok_or(PolicyError::NoTiers)?;
        if first.min_clv != 0.0 || self.tiers.windows(2).any(|w| w[1].min_clv <= w[0].min_clv) {
            return Err(PolicyError::TierOrder);
        }
        if let Some(t) = self
            .tiers
            .iter()
            .find(|t| !t.weight.is_finite() || t.weight < 0.0)
        {
            return Err(PolicyError::BadWeight(t.name.clone()));
        }
        if !self.aging_per_sec.is_finite() || self.aging_per_sec <= 0.0 {
            return Err(PolicyError::BadAging);
        }
        if Boost::ALL
            .iter()
            .any(|&b| !self.boosts.weight(b).is_finite() || self.boosts.weight(b) < 0.0)
        {
            return Err(PolicyError::BadWeight("boosts".to_owned()));
        }
        Ok(())
    }

    /// Index of the tier a CLV falls in.
    pub fn tier_of(&self, clv: f64) -> usize {
        self.tiers
            .iter()
            .rposition(|t| clv >= t.min_clv)
            .unwrap_or(0)
    }

    /// Head start of a tier over a weight of 0, in milliseconds of waiting.
    fn head_start_ms(&self, tier: usize) -> i64 {
        let weight = self.tiers.get(tier).map_or(0.0, |t| t.weight);
        (weight / self.aging_per_sec * 1000.0).round() as i64
    }

    /// Head start of a set of boosts, in milliseconds of waiting.
    fn boost_ms(&self, boosts: Boosts) -> i64 {
        let points: f64 = boosts.iter().map(|b| self.boosts.weight(b)).sum();
        (points / self.aging_per_sec * 1000.0).round() as i64
    }

    /// The serving-order key for a conversation that starts waiting at `queued_at`.
    pub fn key(
        &self,
        tier: usize,
        boosts: Boosts,
        queued_at: Millis,
        arrival_seq: u64,
    ) -> PriorityKey {
        PriorityKey {
            virtual_arrival: queued_at as i64 - self.head_start_ms(tier) - self.boost_ms(boosts),
            arrival_seq,
        }
    }

    /// A conversation's key after its boosts change from `before` to `after`: the same
    /// place it would have had with `after` from the start.
    pub fn rekey(&self, key: PriorityKey, before: Boosts, after: Boosts) -> PriorityKey {
        PriorityKey {
            virtual_arrival: key.virtual_arrival + self.boost_ms(before) - self.boost_ms(after),
            ..key
        }
    }

    /// Longest an unboosted conversation of `tier` can be overtaken by later arrivals,
    /// in milliseconds of its own waiting (see the module doc).
    pub fn starvation_bound_ms(&self, tier: usize) -> u64 {
        let max = (0..self.tiers.len())
            .map(|t| self.head_start_ms(t))
            .max()
            .unwrap_or(0);
        let all_boosts = Boosts(0b111);
        (max + self.boost_ms(all_boosts) - self.head_start_ms(tier)).max(0) as u64
    }
}

/// Serving order of waiting conversations: smaller is served first. Kept for the whole
/// life of a conversation, so one that goes back to the queue (declined, timed out,
/// agent lost, transferred) returns to its place, not to the back.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct PriorityKey {
    /// `queued_at - head start`, in milliseconds.
    pub virtual_arrival: i64,
    /// Arrival order, breaking ties first come, first served.
    pub arrival_seq: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_is_valid_and_tiers_by_clv() {
        let p = PriorityPolicy::default();
        p.validate().unwrap();
        assert_eq!(p.tier_of(0.0), 0);
        assert_eq!(p.tier_of(999.99), 0);
        assert_eq!(p.tier_of(1_000.0), 1);
        assert_eq!(p.tier_of(20_000.0), 2);
        assert_eq!(p.tier_of(1e12), 3);
        assert_eq!(
            p.starvation_bound_ms(0),
            240_000,
            "120 s of tiers, 120 s of boosts"
        );
        assert_eq!(p.starvation_bound_ms(3), 120_000);
    }

    #[test]
    fn higher_tier_overtakes_only_within_the_bound() {
        let p = PriorityPolicy::default();
        let low = p.key(0, Boosts::default(), 1_000_000, 1);
        let gold_soon = p.key(2, Boosts::default(), 1_000_000 + 59_999, 2);
        let gold_late = p.key(2, Boosts::default(), 1_000_000 + 60_001, 3);
        assert!(gold_soon < low, "gold arriving within 60 s goes first");
        assert!(low < gold_late, "gold arriving after 60 s does not");
        let same_tier_later = p.key(0, Boosts::default(), 1_000_000, 4);
        assert!(low < same_tier_later, "ties are first come, first served");
    }

    #[test]
    fn clv_from_facts_and_direct_figure() {
        let m = ClvModel::default();
        let facts = ValueFacts {
            average_order_value: 100.0,
            purchases_per_year: 4.0,
            tenure_years: 1.0,
            acquisition_cost: 50.0,
            referrals: 2,
            ..ValueFacts::default()
        };
        assert_eq!(m.lifetime_value(&facts), 100.0 * 4.0 * 3.0 - 50.0 + 200.0);
        let direct = ValueFacts {
            clv: Some(7.5),
            ..facts
        };
        assert_eq!(m.lifetime_value(&direct), 7.5);
        let loss = ValueFacts {
            acquisition_cost: 1e9,
            ..facts
        };
        assert_eq!(m.lifetime_value(&loss), 0.0);
    }

    #[test]
    fn bad_policies_are_refused() {
        let p = PriorityPolicy {
            aging_per_sec: 0.0,
            ..PriorityPolicy::default()
        };
        assert_eq!(p.validate(), Err(PolicyError::BadAging));
        let mut p = PriorityPolicy::default();
        p.tiers.swap(1, 2);
        assert_eq!(p.validate(), Err(PolicyError::TierOrder));
        let mut p = PriorityPolicy::default();
        p.tiers[1].weight = -1.0;
        assert!(matches!(p.validate(), Err(PolicyError::BadWeight(_))));
    }
}
