//! A customer's health, 0-100, from use, engagement and satisfaction, less what
//! signals trouble: open complaints, abandoned waits and contacts repeated about the
//! same thing. Below the threshold the customer is at risk of churning, and routing
//! gives them the churn-risk boost.

use crate::routing::Millis;

/// A day in milliseconds.
const DAY_MS: f64 = 24.0 * 3600.0 * 1000.0;

/// What the score is computed from, as the profile knows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HealthInputs {
    /// The last order.
    pub last_purchase_at: Option<Millis>,
    /// The last conversation (any channel).
    pub last_contact_at: Option<Millis>,
    /// Satisfaction answers, oldest first: when, and the score 1-5.
    pub satisfaction: Vec<(Millis, u8)>,
    /// Complaints not resolved yet.
    pub open_complaints: u32,
    /// Waits the customer gave up on within the model's window.
    pub abandoned_waits: u32,
    /// Contacts about an intent already raised within the model's repeat window.
    pub repeat_contacts: u32,
}

/// A tenant's health model (config `[health]`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthModel {
    /// Weight of use: how recently the customer bought.
    pub use_weight: f64,
    /// Weight of engagement: how recently the customer was in touch.
    pub engagement_weight: f64,
    /// Weight of satisfaction.
    pub satisfaction_weight: f64,
    /// Days after which a purchase counts half.
    pub purchase_half_life_days: f64,
    /// Days after which a contact counts half.
    pub contact_half_life_days: f64,
    /// Satisfaction answers averaged (the newest ones).
    pub satisfaction_window: usize,
    /// Satisfaction assumed when the customer never answered, 0-1.
    pub satisfaction_unknown: f64,
    /// Points off per open complaint.
    pub complaint_penalty: f64,
    /// Points off per abandoned wait.
    pub abandon_penalty: f64,
    /// Points off per repeated contact.
    pub repeat_penalty: f64,
    /// Below this score the customer is at risk of churning.
    pub churn_threshold: f64,
}

impl Default for HealthModel {
    fn default() -> HealthModel {
        HealthModel {
            use_weight: 0.4,
            engagement_weight: 0.2,
            satisfaction_weight: 0.4,
            purchase_half_life_days: 90.0,
            contact_half_life_days: 60.0,
            satisfaction_window: 5,
            satisfaction_unknown: 0.7,
            complaint_penalty: 15.0,
            abandon_penalty: 5.0,
            repeat_penalty: 5.0,
            churn_threshold: 40.0,
        }
    }
}

/// A score with the parts it came from.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Health {
    /// 0-100.
    pub score: f64,
    /// Whether it is below the churn threshold.
    pub at_risk: bool,
    /// Use, engagement and satisfaction, each 0-1.
    pub parts: [(&'static str, f64); 3],
    /// Points taken off, by reason.
    pub penalties: [(&'static str, f64); 3],
}

impl HealthModel {
    /// Checks the parameters; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        let check = |name: &str, v: f64, lo: f64, hi: f64| {
            super::check_range(&format!("health.{name}"), v, lo, hi)
        };
        check("use_weight", self.use_weight, 0.0, 1.0)?;
        check("engagement_weight", self.engagement_weight, 0.0, 1.0)?;
        check("satisfaction_weight", self.satisfaction_weight, 0.0, 1.0)?;
        if self.use_weight + self.engagement_weight + self.satisfaction_weight <= 0.0 {
            return Err("health: at least one weight must be above 0".to_owned());
        }
        check(
            "purchase_half_life_days",
            self.purchase_half_life_days,
            1.0,
            3650.0,
        )?;
        check(
            "contact_half_life_days",
            self.contact_half_life_days,
            1.0,
            3650.0,
        )?;
        check(
            "satisfaction_window",
            self.satisfaction_window as f64,
            1.0,
            100.0,
        )?;
        check("satisfaction_unknown", self.satisfaction_unknown, 0.0, 1.0)?;
        check("complaint_penalty", self.complaint_penalty, 0.0, 100.0)?;
        check("abandon_penalty", self.abandon_penalty, 0.0, 100.0)?;
        check("repeat_penalty", self.repeat_penalty, 0.0, 100.0)?;
        check("churn_threshold", self.churn_threshold, 0.0, 100.0)
    }

    /// The customer's health at `now`.
    pub fn score(&self, inputs: &HealthInputs, now: Millis) -> Health {
        let recency = |at: Option<Millis>, half_life: f64| {
            at.map_or(0.0, |at| {
                let days = now.saturating_sub(at) as f64 / DAY_MS;
                0.5f64.powf(days / half_life)
            })
        };
        let used = recency(inputs.last_purchase_at, self.purchase_half_life_days);
        let engaged = recency(inputs.last_contact_at, self.contact_half_life_days);
        let recent: Vec<f64> = inputs
            .satisfaction
            .iter()
            .rev()
            .take(self.satisfaction_window)
            .map(|(_, score)| (f64::from((*score).clamp(1, 5)) - 1.0) / 4.0)
            .collect();
        let satisfied = if recent.is_empty() {
            self.satisfaction_unknown
        } else {
            recent.iter().sum::<f64>() / recent.len() as f64
        };
        let weights = self.use_weight + self.engagement_weight + self.satisfaction_weight;
        let base = 100.0
            * (self.use_weight * used
                + self.engagement_weight * engaged
                + self.satisfaction_weight * satisfied)
            / weights;
        let penalties = [
            (
                "open_complaints",
                f64::from(inputs.open_complaints) * self.complaint_penalty,
            ),
            (
                "abandoned_waits",
                f64::from(inputs.abandoned_waits) * self.abandon_penalty,
            ),
            (
                "repeat_contacts",
                f64::from(inputs.repeat_contacts) * self.repeat_penalty,
            ),
        ];
        let score = (base - penalties.iter().map(|(_, p)| p).sum::<f64>()).clamp(0.0, 100.0);
        Health {
            score,
            at_risk: score < self.churn_threshold,
            parts: [
                ("use", used),
                ("engagement", engaged),
                ("satisfaction", satisfied),
            ],
            penalties,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Millis = 1_000 * DAY_MS as Millis;

    fn days_ago(days: f64) -> Millis {
        NOW - (days * DAY_MS) as Millis
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 0.01
    }

    #[test]
    fn a_recent_happy_buyer_is_healthy_worked_by_hand() {
        let inputs = HealthInputs {
            last_purchase_at: Some(days_ago(90.0)), // one half-life: 0.5
            last_contact_at: Some(days_ago(0.0)),   // 1.0
            satisfaction: vec![(days_ago(30.0), 5), (days_ago(5.0), 4)], // (1 + 0.75) / 2
            ..HealthInputs::default()
        };
        let health = HealthModel::default().score(&inputs, NOW);
        // 100 × (0.4 × 0.5 + 0.2 × 1 + 0.4 × 0.875) / 1 = 75.
        assert!(close(health.score, 75.0), "{health:?}");
        assert!(!health.at_risk);
    }

    #[test]
    fn complaints_abandons_and_repeats_push_a_customer_into_risk() {
        let inputs = HealthInputs {
            last_purchase_at: Some(days_ago(90.0)),
            last_contact_at: Some(days_ago(0.0)),
            satisfaction: vec![(days_ago(2.0), 2)], // 0.25
            open_complaints: 1,
            abandoned_waits: 1,
            repeat_contacts: 2,
        };
        let health = HealthModel::default().score(&inputs, NOW);
        // 100 × (0.2 + 0.2 + 0.1) = 50, − 15 − 5 − 10 = 20.
        assert!(close(health.score, 20.0), "{health:?}");
        assert!(health.at_risk);
    }

    #[test]
    fn only_the_newest_answers_count_and_scores_stay_in_range() {
        let model = HealthModel {
            satisfaction_window: 2,
            ..HealthModel::default()
        };
        let mut inputs = HealthInputs {
            satisfaction: vec![(1, 1), (2, 1), (3, 5), (4, 5)],
            ..HealthInputs::default()
        };
        let health = model.score(&inputs, NOW);
        assert!(close(health.parts[2].1, 1.0), "{health:?}");
        inputs.open_complaints = 50;
        assert_eq!(model.score(&inputs, NOW).score, 0.0);
    }

    #[test]
    fn a_customer_never_heard_from_gets_the_neutral_satisfaction() {
        let health = HealthModel::default().score(&HealthInputs::default(), NOW);
        // Neither bought nor contacted: 100 × 0.4 × 0.7 = 28, at risk.
        assert!(close(health.score, 28.0), "{health:?}");
        assert!(health.at_risk);
    }

    #[test]
    fn bad_parameters_are_refused_naming_the_field() {
        let zero = HealthModel {
            use_weight: 0.0,
            engagement_weight: 0.0,
            satisfaction_weight: 0.0,
            ..HealthModel::default()
        };
        assert!(zero.validate().unwrap_err().contains("weight"));
        let bad = HealthModel {
            churn_threshold: 120.0,
            ..HealthModel::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .contains("health.churn_threshold")
        );
        assert!(HealthModel::default().validate().is_ok());
    }
}
