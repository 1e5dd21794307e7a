//! A tenant's outbound settings (`[routing.outbound]`): the rules, the customers' time
//! zone, how long a reply still answers a notification, how many notifications are
//! kept, and the templates.

use super::rules::OutboundRules;
use super::template::{TemplateError, TemplateSource, Templates};
use super::trigger::FollowUpTrigger;
use crate::routing::Channel;

/// Longest reply window, in hours (30 days).
const MAX_REPLY_WINDOW_HOURS: u32 = 30 * 24;
/// Most notifications a tenant may keep.
const MAX_NOTIFICATIONS: usize = 10_000_000;

/// A tenant's outbound settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboundPolicy {
    /// Caps per purpose and quiet hours.
    pub rules: OutboundRules,
    /// The customers' time zone for quiet hours, as minutes east of UTC (China: 480).
    pub utc_offset_minutes: i32,
    /// Hours after a send in which a new conversation from the same customer on the
    /// same channel is a reply to it.
    pub reply_window_hours: u32,
    /// Most notifications kept per tenant; settled ones are forgotten oldest first,
    /// and when all are pending a new one is refused.
    pub max_notifications: usize,
    /// A campaign pauses while its queue answers fewer than this share of
    /// conversations (0-1, over the last 15 minutes) within `service_level_secs`.
    pub pause_below_service_level: f64,
    /// The service-level time, in seconds.
    pub service_level_secs: u32,
    /// The templates notifications are filled from.
    pub templates: Vec<TemplateSource>,
    /// Follow-ups that run themselves.
    pub triggers: Vec<FollowUpTrigger>,
    /// Most notifications per second per channel, by channel name (`sms = 50`); a
    /// channel not named has no limit here. Past it notifications wait for their
    /// slot, spread over the coming seconds.
    pub channel_rates: std::collections::BTreeMap<String, u32>,
}

impl Default for OutboundPolicy {
    fn default() -> Self {
        OutboundPolicy {
            rules: OutboundRules::default(),
            utc_offset_minutes: 8 * 60,
            reply_window_hours: 72,
            max_notifications: 100_000,
            pause_below_service_level: 0.8,
            service_level_secs: 60,
            templates: Vec::new(),
            triggers: Vec::new(),
            channel_rates: Default::default(),
        }
    }
}

impl OutboundPolicy {
    /// The send rate of `channel`, if limited.
    pub fn rate_of(&self, channel: Channel) -> Option<u32> {
        if self.channel_rates.is_empty() {
            return None;
        }
        self.channel_rates.get(channel.as_str()).copied()
    }

    /// Checks `sources` as the tenant's whole template set: they load, and every
    /// trigger's templates are among them without variables.
    pub fn check_templates(&self, sources: &[TemplateSource]) -> Result<Templates, String> {
        let templates =
            Templates::load(sources).map_err(|e: TemplateError| format!("templates: {e}"))?;
        for (i, trigger) in self.triggers.iter().enumerate() {
            trigger.validate(i, &templates)?;
        }
        Ok(templates)
    }

    /// Checks the settings and loads the templates; the error names the field.
    pub fn validate(&self) -> Result<Templates, String> {
        if !(-12 * 60..=14 * 60).contains(&self.utc_offset_minutes) {
            return Err(format!(
                "outbound.utc_offset_minutes: {} is outside -720..=840",
                self.utc_offset_minutes
            ));
        }
        if self.reply_window_hours > MAX_REPLY_WINDOW_HOURS {
            return Err(format!(
                "outbound.reply_window_hours: at most {MAX_REPLY_WINDOW_HOURS}"
            ));
        }
        if !(1..=MAX_NOTIFICATIONS).contains(&self.max_notifications) {
            return Err(format!(
                "outbound.max_notifications: must be 1..={MAX_NOTIFICATIONS}"
            ));
        }
        if !(0.0..=1.0).contains(&self.pause_below_service_level) {
            return Err("outbound.pause_below_service_level: a share, 0-1".into());
        }
        if self.service_level_secs == 0 {
            return Err("outbound.service_level_secs: must be greater than 0".into());
        }
        if let Some(q) = self.rules.quiet_hours
            && (q.start_minute >= 24 * 60 || q.end_minute >= 24 * 60)
        {
            return Err("outbound.rules.quiet_hours: minutes of the day are 0..1440".into());
        }
        for purpose in crate::customer::ContactPurpose::ALL {
            let cap = self.rules.caps.of(purpose);
            if cap.per_week < cap.per_day {
                return Err(format!(
                    "outbound.rules.caps.{}: per_week is below per_day",
                    purpose.name()
                ));
            }
        }
        for (name, rate) in &self.channel_rates {
            if Channel::from_name(name).is_none() {
                return Err(format!("outbound.channel_rates: unknown channel {name:?}"));
            }
            if !(1..=1_000_000).contains(rate) {
                return Err(format!(
                    "outbound.channel_rates.{name}: 1-1000000 per second"
                ));
            }
        }
        self.check_templates(&self.templates)
            .map_err(|e| format!("outbound.{e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_and_templates_are_refused_naming_the_field() {
        assert!(OutboundPolicy::default().validate().is_ok());
        let refused = |policy: OutboundPolicy| policy.validate().unwrap_err();
        let far_east = OutboundPolicy {
            utc_offset_minutes: 15 * 60,
            ..OutboundPolicy::default()
        };
        assert!(refused(far_east).starts_with("outbound.utc_offset_minutes"));
        let mut caps = OutboundPolicy::default();
        caps.rules.caps.marketing.per_week = 0;
        assert!(refused(caps).starts_with("outbound.rules.caps.marketing"));
        let broken = OutboundPolicy {
            templates: vec![TemplateSource {
                name: "shipped".into(),
                language: "en".into(),
                text: "Order {order".into(),
                buttons: Vec::new(),
            }],
            ..OutboundPolicy::default()
        };
        let why = refused(broken);
        assert!(
            why.starts_with("outbound.templates: template \"shipped\""),
            "{why}"
        );
    }
}
