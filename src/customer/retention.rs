//! How long what Switchboard learns about people is kept (`[routing.retention]`):
//! the limits that privacy law (PIPL, GDPR) asks a tenant to set and keep.

use serde::{Deserialize, Serialize};

use crate::routing::Millis;

const DAY_MS: Millis = 24 * 3600 * 1000;

/// Longest retention accepted for any kind of data, in days (ten years).
const MAX_DAYS: u64 = 3_650;

/// Retention periods per kind of personal data; a profile's past conversations and
/// unanswered bot questions always expire, whole profiles only when configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionPolicy {
    /// Days a past conversation stays on the person's profile (and low-score
    /// follow-up items stay listed), 1-3650.
    pub history_days: u64,
    /// Days without a conversation, a fact or a newly linked identifier after which a
    /// whole profile is erased; 0 keeps profiles while they have anything on them.
    pub idle_profile_days: u64,
    /// Days an unanswered bot question (customer text, no customer id) is kept for
    /// operators to teach from, 1-3650.
    pub question_days: u64,
}

impl Default for RetentionPolicy {
    fn default() -> RetentionPolicy {
        RetentionPolicy {
            history_days: 365,
            idle_profile_days: 0,
            question_days: 90,
        }
    }
}

impl RetentionPolicy {
    /// Checks the settings; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        for (field, days, zero_allowed) in [
            ("history_days", self.history_days, false),
            ("idle_profile_days", self.idle_profile_days, true),
            ("question_days", self.question_days, false),
        ] {
            if days > MAX_DAYS || (days == 0 && !zero_allowed) {
                let low = if zero_allowed { 0 } else { 1 };
                return Err(format!("retention.{field}: must be {low}-{MAX_DAYS}"));
            }
        }
        Ok(())
    }

    /// Past conversations that ended before this are forgotten at `now`.
    pub fn history_cutoff(&self, now: Millis) -> Millis {
        now.saturating_sub(self.history_days.saturating_mul(DAY_MS))
    }

    /// Unanswered questions asked before this are forgotten at `now`.
    pub fn question_cutoff(&self, now: Millis) -> Millis {
        now.saturating_sub(self.question_days.saturating_mul(DAY_MS))
    }

    /// Profiles last active before this are erased at `now`, when configured.
    pub fn idle_profile_cutoff(&self, now: Millis) -> Option<Millis> {
        (self.idle_profile_days > 0)
            .then(|| now.saturating_sub(self.idle_profile_days.saturating_mul(DAY_MS)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_keep_histories_a_year_and_profiles_while_they_hold_anything() {
        let p = RetentionPolicy::default();
        assert_eq!(p.validate(), Ok(()));
        let now = 1_000 * DAY_MS;
        assert_eq!(p.history_cutoff(now), 635 * DAY_MS);
        assert_eq!(p.question_cutoff(now), 910 * DAY_MS);
        assert_eq!(p.idle_profile_cutoff(now), None);
        assert_eq!(p.history_cutoff(10), 0, "early clocks do not underflow");
    }

    #[test]
    fn out_of_range_settings_name_the_field() {
        let bad = RetentionPolicy {
            history_days: 0,
            ..RetentionPolicy::default()
        };
        assert_eq!(
            bad.validate(),
            Err("retention.history_days: must be 1-3650".to_owned())
        );
        let bad = RetentionPolicy {
            idle_profile_days: 4_000,
            ..RetentionPolicy::default()
        };
        assert_eq!(
            bad.validate(),
            Err("retention.idle_profile_days: must be 0-3650".to_owned())
        );
        let err = crate::routing::Router::new(crate::routing::RoutingPolicy {
            retention: RetentionPolicy {
                question_days: 0,
                ..RetentionPolicy::default()
            },
            ..crate::routing::RoutingPolicy::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("retention.question_days"), "{err}");
    }
}
