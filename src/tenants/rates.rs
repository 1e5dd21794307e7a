//! Request rates per principal: each principal (tenant and subject) has a token bucket
//! per role, so one chatty adapter or a scripted admin client cannot take the CPU the
//! other principals need. A call or stream frame over the rate gets
//! `RESOURCE_EXHAUSTED` with the time to wait.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};

use crate::auth::{Principal, Role};

/// Requests (calls and stream frames) per second allowed to one principal in each role;
/// a burst of twice the rate is allowed. 0 means no limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateSettings {
    /// Per adapter principal: customer messages, acks, submits.
    pub adapter: u32,
    /// Per agent: desk actions.
    pub agent: u32,
    /// Per bot worker: answers and handoffs.
    pub bot: u32,
    /// Per supervisor: admin reads.
    pub supervisor: u32,
    /// Per operator: admin reads and writes.
    pub operator: u32,
}

impl Default for RateSettings {
    fn default() -> Self {
        RateSettings {
            adapter: 20_000,
            agent: 100,
            bot: 20_000,
            supervisor: 50,
            operator: 50,
        }
    }
}

impl RateSettings {
    fn per_second(&self, role: Role) -> u32 {
        match role {
            Role::Adapter => self.adapter,
            Role::Agent => self.agent,
            Role::Bot => self.bot,
            Role::Supervisor => self.supervisor,
            Role::Operator => self.operator,
        }
    }
}

/// A principal's bucket key: tenant and subject.
type Key = (Arc<str>, Arc<str>);

/// The buckets, one keyed limiter per role.
pub struct RateLimits {
    by_role: Vec<Option<DefaultKeyedRateLimiter<Key>>>,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits").finish_non_exhaustive()
    }
}

impl RateLimits {
    /// Buckets for these rates.
    pub fn new(settings: &RateSettings) -> RateLimits {
        let by_role = Role::ALL
            .into_iter()
            .map(|role| {
                let rate = NonZeroU32::new(settings.per_second(role))?;
                let burst = rate.saturating_mul(NonZeroU32::new(2).expect("2 is not zero"));
                Some(RateLimiter::keyed(
                    Quota::per_second(rate).allow_burst(burst),
                ))
            })
            .collect();
        RateLimits { by_role }
    }

    /// Takes one request from the principal's bucket for `role` in `tenant`; the time
    /// to wait when it is empty.
    pub fn admit(
        &self,
        role: Role,
        principal: &Principal,
        tenant: &Arc<str>,
    ) -> Result<(), Duration> {
        let Some(limiter) = &self.by_role[role as usize] else {
            return Ok(());
        };
        let key = (tenant.clone(), principal.subject.clone());
        limiter
            .check_key(&key)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Forgets buckets that are full again (their principal went quiet), so the maps
    /// hold only recently active principals.
    pub fn tidy(&self) {
        for limiter in self.by_role.iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Method, Roles, TenantScope};

    fn agent(subject: &str) -> Principal {
        Principal {
            tenant: TenantScope::One(Arc::from("acme")),
            roles: Roles::of([Role::Agent]),
            subject: Arc::from(subject),
            method: Method::Jwt,
        }
    }

    #[test]
    fn a_principal_gets_its_burst_then_waits_and_others_are_unaffected() {
        let limits = RateLimits::new(&RateSettings {
            agent: 5,
            ..RateSettings::default()
        });
        let tenant: Arc<str> = Arc::from("acme");
        let alice = agent("alice");
        for _ in 0..10 {
            assert!(limits.admit(Role::Agent, &alice, &tenant).is_ok());
        }
        let wait = limits.admit(Role::Agent, &alice, &tenant).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(200),
            "{wait:?}"
        );
        assert!(limits.admit(Role::Agent, &agent("bob"), &tenant).is_ok());
        limits.tidy();
    }

    #[test]
    fn zero_means_no_limit() {
        let limits = RateLimits::new(&RateSettings {
            operator: 0,
            ..RateSettings::default()
        });
        let tenant: Arc<str> = Arc::from("acme");
        let ops = agent("ops");
        for _ in 0..10_000 {
            assert!(limits.admit(Role::Operator, &ops, &tenant).is_ok());
        }
    }
}
