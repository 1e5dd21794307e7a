//! Outbound messages (issue 14), plain Rust: what the service may send a customer
//! unasked, and in what words.
//!
//! - [`template`]: message templates per name and language, checked at load, filled
//!   per send (a missing variable is an error naming it).
//! - [`rules`]: the rules that hold a message back: deadline, consent, an open
//!   complaint, frequency caps, quiet hours in the customer's time zone.
//!
//! - [`campaign`]: campaigns over a segment of customers, paced, pausing while the
//!   queue that takes the replies misses its service level.
//! - [`notification`]: the notifications a tenant keeps, where each stands, and
//!   what the caps and replies need to know.
//!
//! - [`trigger`]: follow-ups that run themselves after a close, an order or a fall
//!   into churn risk, with a second step when the first got no reply.
//!
//! The router decides what happens to each notification (`routing::engine::outbound`);
//! the `Outbound` gRPC service takes them from the tenant's systems.

pub mod campaign;
pub mod notification;
pub mod policy;
pub mod rules;
pub mod template;
pub mod trigger;

pub use campaign::{
    Campaign, CampaignCounts, CampaignId, CampaignRequest, CampaignStatus, Campaigns, Pace,
    PauseReason, PersonFigures, Segment,
};
pub use notification::{
    Notification, NotificationId, NotificationRequest, NotificationStatus, Outbox, OutboxFull,
    Waiting,
};
pub use policy::OutboundPolicy;
pub use rules::{Cap, HeldBack, OutboundRules, QuietHours, Recipient, SendLog, Verdict};
pub use template::{ButtonSource, RenderError, Rendered, TemplateError, TemplateSource, Templates};
pub use trigger::{Due, FollowUpTrigger, FollowUps, NextStep, TriggerEvent};
