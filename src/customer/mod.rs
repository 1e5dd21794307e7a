//! Who a customer is across channels, and what they are worth: plain Rust, no
//! transport types, so it can be tested and snapshotted on its own (issue 13).
//!
//! - [`identity`]: the identifiers a person is known by (phone, e-mail, WeChat union and
//!   open ids, app user id, a channel's own customer id), normalised so that the same
//!   phone number typed two ways is one identifier.
//! - [`profiles`]: one tenant's profiles: recognising a returning customer from the
//!   identifiers an adapter sends, and the operator's link, unlink, merge and unmerge,
//!   each recorded.
//! - [`consent`]: what a customer agreed to be contacted about, per purpose (opt-in
//!   for marketing and greetings, opt-out for service messages).
//! - [`health`]: a health score 0-100 from use, engagement and satisfaction, less
//!   complaints, abandoned waits and repeated contacts; below a threshold, churn risk.
//! - [`history`]: a person's newest past conversations, how they ended and how they
//!   were rated, and what the health score reads from them.
//! - [`retention`]: how long past conversations, unanswered questions and idle
//!   profiles are kept.
//! - [`survey`]: reading a satisfaction answer as customers type it (digits, numerals,
//!   stars, faces, words in either language).
//! - [`value`]: lifetime value from facts (orders, refunds, acquisition cost,
//!   referrals) by the continuing or the discounted formula, the loss value of a
//!   customer who leaves, and the explanation term by term.

pub mod consent;
pub mod health;
pub mod history;
pub mod identity;
pub mod profiles;
pub mod retention;
pub mod survey;
pub mod tags;
pub mod value;

pub use consent::{
    ConsentRecord, Consents, ContactPurpose, MAX_CONSENT_SOURCE_BYTES, is_unsubscribe,
};
pub use health::{Health, HealthInputs, HealthModel};
pub use history::{Contact, ContactOutcome, History};
pub use identity::{ClaimedIdentity, Identity, IdentityError, IdentityKind};
pub use profiles::{
    Erased, MergeId, MergeRecord, Profile, ProfileError, ProfileId, ProfileLimits, Profiles,
    Resolution,
};
pub use retention::RetentionPolicy;
pub use survey::{Scale, read_answer};
pub use tags::{Tag, TagError, Tags};
pub use value::{Fact, FactKind, Term, ValueExplanation, ValueFacts, ValueModel};

/// Checks a model parameter from the config; the error names the field.
fn check_range(field: &str, v: f64, lo: f64, hi: f64) -> Result<(), String> {
    if v.is_finite() && (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(format!("{field}: must be between {lo} and {hi}, got {v}"))
    }
}
