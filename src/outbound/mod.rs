//! Outbound messages (issue 14), plain Rust: what the service may send a customer
//! unasked, and in what words.
//!
//! - [`template`]: message templates per name and language, checked at load, filled
//!   per send (a missing variable is an error naming it).
//! - [`rules`]: the rules that hold a message back: deadline, consent, an open
//!   complaint, frequency caps, quiet hours in the customer's time zone.
//!
//! The outbound API, delivery through the adapters and campaigns build on these.

pub mod rules;
pub mod template;

pub use rules::{Cap, HeldBack, OutboundRules, QuietHours, Recipient, SendLog, Verdict};
pub use template::{ButtonSource, RenderError, Rendered, TemplateError, TemplateSource, Templates};
