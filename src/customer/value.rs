//! Lifetime value from facts, by one of two formulas, with the loss value of a customer
//! who leaves and an explanation term by term.
//!
//! - **Continuing value**: expected transactions over the relationship × average
//!   purchase − acquisition cost + the net value of the customers they referred.
//! - **Discounted value**: first purchase − acquisition cost + the expected yearly
//!   revenue of repeat purchases over the years retained, each year discounted, + the
//!   referrals' value.
//! - **Loss value**: what the customer would still have been worth from now on, times
//!   1 + the reputation factor (0.15 by default: a customer who leaves unhappy costs
//!   the business more than their own purchases).

use crate::routing::Millis;

/// A year in milliseconds (365 days), the unit of tenure and purchase rates.
pub const YEAR_MS: f64 = 365.0 * 24.0 * 3600.0 * 1000.0;

/// What a fact the tenant's systems pushed records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FactKind {
    /// A purchase of `amount`.
    Order,
    /// Money given back for an earlier purchase.
    Refund,
    /// What acquiring the customer cost (campaigns, vouchers); amounts add up.
    AcquisitionCost,
    /// A customer this customer referred; `amount` is that customer's net value when
    /// the tenant knows it, else 0 and the model's `referral_value` counts.
    Referral,
}

/// One fact about a customer, in the tenant's currency.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Fact {
    /// What it records.
    pub kind: FactKind,
    /// Its amount, ≥ 0.
    pub amount: f64,
    /// When it happened (routing time, milliseconds).
    pub at: Millis,
}

/// The totals the formulas need, folded from facts.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ValueFacts {
    /// Orders placed.
    pub orders: u32,
    /// Sum of their amounts.
    pub order_total: f64,
    /// Sum of refunds.
    pub refund_total: f64,
    /// The first order: when, and how much.
    pub first_order: Option<(Millis, f64)>,
    /// Sum of acquisition costs.
    pub acquisition_cost: f64,
    /// Customers referred.
    pub referrals: u32,
    /// Referred customers whose value the tenant knows.
    pub referrals_known: u32,
    /// Sum of those known values.
    pub referral_total: f64,
}

impl ValueFacts {
    /// Folds one fact in.
    pub fn add(&mut self, fact: &Fact) {
        let amount = fact.amount.max(0.0);
        match fact.kind {
            FactKind::Order => {
                self.orders += 1;
                self.order_total += amount;
                if self.first_order.is_none_or(|(at, _)| fact.at < at) {
                    self.first_order = Some((fact.at, amount));
                }
            }
            FactKind::Refund => self.refund_total += amount,
            FactKind::AcquisitionCost => self.acquisition_cost += amount,
            FactKind::Referral => {
                self.referrals += 1;
                if amount > 0.0 {
                    self.referrals_known += 1;
                    self.referral_total += amount;
                }
            }
        }
    }

    /// Adds another profile's totals (a merge).
    pub fn combine(&mut self, other: &ValueFacts) {
        self.orders += other.orders;
        self.order_total += other.order_total;
        self.refund_total += other.refund_total;
        if let Some((at, amount)) = other.first_order
            && self.first_order.is_none_or(|(mine, _)| at < mine)
        {
            self.first_order = Some((at, amount));
        }
        self.acquisition_cost += other.acquisition_cost;
        self.referrals += other.referrals;
        self.referrals_known += other.referrals_known;
        self.referral_total += other.referral_total;
    }

    /// The totals of many facts.
    pub fn of<'a>(facts: impl IntoIterator<Item = &'a Fact>) -> ValueFacts {
        let mut totals = ValueFacts::default();
        for fact in facts {
            totals.add(fact);
        }
        totals
    }
}

/// Which formula a tenant values its customers by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Formula {
    /// Expected transactions × average purchase − acquisition cost + referrals.
    Continuing,
    /// First purchase − acquisition cost + discounted yearly repeat revenue + referrals.
    Discounted,
}

/// A tenant's value model: the formula and its parameters (config `[value]`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ValueModel {
    /// The formula.
    pub formula: Formula,
    /// Years a customer relationship lasts in all (continuing) or years retained
    /// (discounted).
    pub relationship_years: f64,
    /// Yearly discount rate of the discounted formula (0.1 = 10 %).
    pub discount_rate: f64,
    /// Net value of one referred customer whose own value is not known.
    pub referral_value: f64,
    /// Shortest period a purchase rate is taken over, in years, so that two orders on
    /// a customer's first day do not read as hundreds a year.
    pub min_observed_years: f64,
    /// Added share of the remaining value lost when a customer leaves (reputation).
    pub reputation_factor: f64,
}

impl Default for ValueModel {
    fn default() -> ValueModel {
        ValueModel {
            formula: Formula::Continuing,
            relationship_years: 5.0,
            discount_rate: 0.1,
            referral_value: 0.0,
            min_observed_years: 0.25,
            reputation_factor: 0.15,
        }
    }
}

/// One term of a value, for explanations.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Term {
    /// What it is.
    pub name: &'static str,
    /// Its amount (or count, for rates and counts).
    pub amount: f64,
    /// How it was reached, with the figures.
    pub how: String,
}

/// Where the terms of a value go: nowhere when only the figures are wanted, so the
/// explanation's texts are only written for someone who reads them.
struct Terms(Option<Vec<Term>>);

impl Terms {
    fn push(&mut self, name: &'static str, amount: f64, how: impl FnOnce() -> String) {
        if let Some(terms) = &mut self.0 {
            terms.push(Term {
                name,
                amount,
                how: how(),
            });
        }
    }
}

/// A customer's value and loss value, with the terms they were computed from.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ValueExplanation {
    /// The formula used.
    pub formula: Formula,
    /// Lifetime value; negative when acquiring the customer cost more than they bring.
    pub value: f64,
    /// What losing the customer now would cost, reputation included.
    pub loss_value: f64,
    /// The terms, in the order the formula adds them.
    pub terms: Vec<Term>,
}

impl ValueExplanation {
    /// The value as routing uses it (tiers are thresholds on a value ≥ 0).
    pub fn routing_value(&self) -> f64 {
        self.value.max(0.0)
    }
}

impl ValueModel {
    /// Checks the parameters; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        let check = |name: &str, v: f64, lo: f64, hi: f64| {
            super::check_range(&format!("value.{name}"), v, lo, hi)
        };
        check("relationship_years", self.relationship_years, 0.0, 100.0)?;
        check("discount_rate", self.discount_rate, 0.0, 1.0)?;
        check("referral_value", self.referral_value, 0.0, 1e12)?;
        check("min_observed_years", self.min_observed_years, 0.01, 100.0)?;
        check("reputation_factor", self.reputation_factor, 0.0, 10.0)
    }

    /// The value of a customer with these facts at `now`, term by term.
    pub fn explain(&self, facts: &ValueFacts, now: Millis) -> ValueExplanation {
        let mut terms = Terms(Some(Vec::new()));
        let (value, loss_value) = self.evaluate(facts, now, &mut terms);
        ValueExplanation {
            formula: self.formula,
            value,
            loss_value,
            terms: terms.0.unwrap_or_default(),
        }
    }

    /// The value and the loss value alone, without writing out the terms: what
    /// routing needs on every arrival of a recognised customer.
    pub fn value_and_loss(&self, facts: &ValueFacts, now: Millis) -> (f64, f64) {
        self.evaluate(facts, now, &mut Terms(None))
    }

    fn evaluate(&self, facts: &ValueFacts, now: Millis, terms: &mut Terms) -> (f64, f64) {
        let net = facts.order_total - facts.refund_total;
        let average = if facts.orders == 0 {
            0.0
        } else {
            net / f64::from(facts.orders)
        };
        terms.push("average_purchase", average, || {
            format!(
                "(orders {:.2} − refunds {:.2}) / {} orders",
                facts.order_total, facts.refund_total, facts.orders
            )
        });
        let tenure = facts
            .first_order
            .map_or(0.0, |(at, _)| now.saturating_sub(at) as f64 / YEAR_MS);
        let observed = tenure.max(self.min_observed_years);
        let unknown = facts.referrals - facts.referrals_known;
        let referrals = facts.referral_total + f64::from(unknown) * self.referral_value;
        let (value, future) = match self.formula {
            Formula::Continuing => {
                let per_year = f64::from(facts.orders) / observed;
                let expected = per_year * self.relationship_years;
                terms.push("expected_transactions", expected, || {
                    format!(
                        "{} orders / {observed:.2} years observed × {:.2} years of relationship",
                        facts.orders, self.relationship_years
                    )
                });
                terms.push("purchase_value", expected * average, || {
                    format!("{expected:.2} transactions × {average:.2}")
                });
                let remaining = (self.relationship_years - tenure).max(0.0);
                let future = per_year * remaining * average;
                (expected * average, future)
            }
            Formula::Discounted => {
                let first = facts.first_order.map_or(0.0, |(_, amount)| amount);
                terms.push("first_purchase", first, || {
                    "the first order's amount".to_owned()
                });
                let repeats = f64::from(facts.orders.saturating_sub(1)) / observed;
                let yearly = repeats * average;
                terms.push("expected_yearly_revenue", yearly, || {
                    format!(
                        "{} repeat orders / {observed:.2} years observed × {average:.2}",
                        facts.orders.saturating_sub(1)
                    )
                });
                let years = self.relationship_years.floor() as u32;
                let discounted = self.discounted(yearly, years);
                terms.push("discounted_repeat_revenue", discounted, || {
                    format!(
                        "Σ over {years} years of {yearly:.2} / (1 + {})^year",
                        self.discount_rate
                    )
                });
                let remaining = years.saturating_sub(tenure.floor() as u32);
                (first + discounted, self.discounted(yearly, remaining))
            }
        };
        terms.push("acquisition_cost", -facts.acquisition_cost, || {
            "what acquiring the customer cost, subtracted".to_owned()
        });
        terms.push("referrals", referrals, || {
            format!(
                "{} referred: {:.2} known + {unknown} × {:.2}",
                facts.referrals, facts.referral_total, self.referral_value
            )
        });
        let value = value - facts.acquisition_cost + referrals;
        let loss_value = future * (1.0 + self.reputation_factor);
        terms.push("loss_value", loss_value, || {
            format!(
                "remaining value {future:.2} × (1 + {} reputation)",
                self.reputation_factor
            )
        });
        (value, loss_value)
    }

    /// `yearly` in each of the next `years` years, discounted to today.
    fn discounted(&self, yearly: f64, years: u32) -> f64 {
        (1..=years)
            .map(|t| yearly / (1.0 + self.discount_rate).powi(t as i32))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Millis = 10 * YEAR_MS as Millis;

    fn years_ago(years: f64) -> Millis {
        NOW - (years * YEAR_MS) as Millis
    }

    /// Four orders over the last two years (250, 300, 200, 250), one refund of 100,
    /// 150 to acquire, two referrals of unknown value.
    fn facts() -> ValueFacts {
        let fact = |kind, amount, at| Fact { kind, amount, at };
        ValueFacts::of(&[
            fact(FactKind::Order, 250.0, years_ago(2.0)),
            fact(FactKind::Order, 300.0, years_ago(1.5)),
            fact(FactKind::Order, 200.0, years_ago(1.0)),
            fact(FactKind::Order, 250.0, years_ago(0.5)),
            fact(FactKind::Refund, 100.0, years_ago(0.4)),
            fact(FactKind::AcquisitionCost, 150.0, years_ago(2.0)),
            fact(FactKind::Referral, 0.0, years_ago(1.0)),
            fact(FactKind::Referral, 0.0, years_ago(0.2)),
        ])
    }

    fn term(e: &ValueExplanation, name: &str) -> f64 {
        e.terms.iter().find(|t| t.name == name).unwrap().amount
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 0.01
    }

    #[test]
    fn continuing_value_worked_by_hand() {
        let model = ValueModel {
            formula: Formula::Continuing,
            relationship_years: 5.0,
            referral_value: 100.0,
            ..ValueModel::default()
        };
        let e = model.explain(&facts(), NOW);
        // Average purchase: (1,000 − 100) / 4 = 225.
        assert!(close(term(&e, "average_purchase"), 225.0));
        // 4 orders in 2 years = 2 a year; × 5 years = 10 transactions; × 225 = 2,250.
        assert!(close(term(&e, "expected_transactions"), 10.0));
        assert!(close(term(&e, "purchase_value"), 2_250.0));
        // 2,250 − 150 + 2 × 100 = 2,300.
        assert!(close(e.value, 2_300.0), "{e:?}");
        // Still to come: 2 a year × (5 − 2) years × 225 = 1,350; × 1.15 = 1,552.50.
        assert!(close(e.loss_value, 1_552.5), "{e:?}");
    }

    #[test]
    fn discounted_value_worked_by_hand() {
        let model = ValueModel {
            formula: Formula::Discounted,
            relationship_years: 3.0,
            discount_rate: 0.1,
            referral_value: 100.0,
            ..ValueModel::default()
        };
        let e = model.explain(&facts(), NOW);
        // Repeat orders: 3 in 2 years = 1.5 a year; × 225 = 337.50 a year.
        assert!(close(term(&e, "expected_yearly_revenue"), 337.5));
        // 337.5/1.1 + 337.5/1.21 + 337.5/1.331 = 306.82 + 278.93 + 253.57 = 839.31.
        assert!(close(term(&e, "discounted_repeat_revenue"), 839.31));
        // 250 first purchase − 150 + 839.31 + 200 referrals = 1,139.31.
        assert!(close(e.value, 1_139.31), "{e:?}");
        // Retained 3 years, 2 gone: one year left, 306.82; × 1.15 = 352.84.
        assert!(close(e.loss_value, 352.84), "{e:?}");
    }

    #[test]
    fn a_new_customer_is_worth_what_they_cost_and_loses_nothing_yet_unbought() {
        let model = ValueModel::default();
        let facts = ValueFacts::of(&[Fact {
            kind: FactKind::AcquisitionCost,
            amount: 40.0,
            at: NOW,
        }]);
        let e = model.explain(&facts, NOW);
        assert!(close(e.value, -40.0));
        assert_eq!(e.routing_value(), 0.0);
        assert!(close(e.loss_value, 0.0));
    }

    #[test]
    fn two_orders_on_the_first_day_are_not_read_as_hundreds_a_year() {
        let model = ValueModel {
            relationship_years: 5.0,
            min_observed_years: 0.25,
            ..ValueModel::default()
        };
        let order = |at| Fact {
            kind: FactKind::Order,
            amount: 100.0,
            at,
        };
        let e = model.explain(&ValueFacts::of(&[order(NOW), order(NOW)]), NOW);
        // 2 orders over the quarter-year floor = 8 a year, × 5 = 40 transactions.
        assert!(close(term(&e, "expected_transactions"), 40.0), "{e:?}");
    }

    #[test]
    fn known_referral_values_count_instead_of_the_flat_one() {
        let model = ValueModel {
            referral_value: 100.0,
            ..ValueModel::default()
        };
        let facts = ValueFacts::of(&[Fact {
            kind: FactKind::Referral,
            amount: 480.0,
            at: NOW,
        }]);
        assert!(close(term(&model.explain(&facts, NOW), "referrals"), 480.0));
    }

    #[test]
    fn parameters_out_of_range_are_refused_naming_the_field() {
        let bad = ValueModel {
            discount_rate: 1.5,
            ..ValueModel::default()
        };
        assert!(bad.validate().unwrap_err().contains("value.discount_rate"));
        let nan = ValueModel {
            relationship_years: f64::NAN,
            ..ValueModel::default()
        };
        assert!(nan.validate().unwrap_err().contains("relationship_years"));
        assert!(ValueModel::default().validate().is_ok());
    }
}
