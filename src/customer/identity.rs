//! The identifiers a person is known by, normalised so that one identifier has one
//! spelling.

use crate::routing::Channel;

/// Longest identifier value, in bytes.
pub const MAX_IDENTITY_BYTES: usize = 256;

/// What kind of identifier a value is; identifiers of different kinds never match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum IdentityKind {
    /// A phone number (digits, with the country code when the adapter knows it).
    Phone,
    /// An e-mail address.
    Email,
    /// A WeChat union id: one person across the tenant's WeChat apps.
    WechatUnion,
    /// A WeChat open id: one person within one WeChat app.
    WechatOpen,
    /// The tenant's own app or account user id.
    AppUser,
    /// A channel's own customer id, as its adapter sends it on every message.
    Channel(Channel),
}

impl IdentityKind {
    /// The kind's name in the contract and in explanations.
    pub fn name(self) -> &'static str {
        match self {
            IdentityKind::Phone => "phone",
            IdentityKind::Email => "email",
            IdentityKind::WechatUnion => "wechat_union_id",
            IdentityKind::WechatOpen => "wechat_open_id",
            IdentityKind::AppUser => "app_user_id",
            IdentityKind::Channel(_) => "channel_customer_id",
        }
    }
}

/// One identifier, normalised. Its `Debug` form names the kind only: phone numbers
/// and e-mail addresses are personal data and must not reach logs or error texts.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Identity {
    kind: IdentityKind,
    value: Box<str>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identity({}, redacted)", self.kind.name())
    }
}

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {reason}")]
pub struct IdentityError {
    /// The identifier's kind name.
    pub kind: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl Identity {
    /// Normalises and checks an identifier: phone numbers keep their digits (and a
    /// leading `+`), e-mail addresses are trimmed and lower-cased, other ids are
    /// trimmed and otherwise kept as they are (they are opaque and case-sensitive).
    pub fn new(kind: IdentityKind, raw: &str) -> Result<Identity, IdentityError> {
        let refuse = |reason: &str| IdentityError {
            kind: kind.name(),
            reason: reason.to_owned(),
        };
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(refuse("must not be empty"));
        }
        if trimmed.len() > MAX_IDENTITY_BYTES {
            return Err(refuse(&format!("at most {MAX_IDENTITY_BYTES} bytes")));
        }
        let value = match kind {
            IdentityKind::Phone => {
                let plus = trimmed.starts_with('+');
                let allowed = |c: char| c.is_ascii_digit() || " -().+".contains(c);
                if !trimmed.chars().all(allowed) {
                    return Err(refuse(
                        "digits only, with spaces, dashes, brackets or a leading +",
                    ));
                }
                let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
                if !(5..=20).contains(&digits.len()) {
                    return Err(refuse("5 to 20 digits"));
                }
                if plus { format!("+{digits}") } else { digits }
            }
            IdentityKind::Email => {
                let lower = trimmed.to_lowercase();
                match lower.split_once('@') {
                    Some((local, domain))
                        if !local.is_empty() && domain.contains('.') && !domain.contains('@') =>
                    {
                        lower
                    }
                    _ => return Err(refuse("an address of the form name@domain.tld")),
                }
            }
            _ => trimmed.to_owned(),
        };
        Ok(Identity {
            kind,
            value: value.into_boxed_str(),
        })
    }

    /// Its kind.
    pub fn kind(&self) -> IdentityKind {
        self.kind
    }

    /// Its normalised value.
    pub fn value(&self) -> &str {
        &self.value
    }
}

/// An identifier as an adapter sends it, with whether the tenant's systems verified
/// that the customer owns it (a logged-in account, a confirmed phone number).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClaimedIdentity {
    /// The identifier.
    pub identity: Identity,
    /// Whether its owner is proven. Only verified identifiers recognise a returning
    /// customer: anyone can type someone else's phone number into a chat form.
    pub verified: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_phone_number_typed_two_ways_is_one_identifier() {
        let a = Identity::new(IdentityKind::Phone, "+86 138-0013-8000").unwrap();
        let b = Identity::new(IdentityKind::Phone, "+8613800138000").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.value(), "+8613800138000");
        // Without the country code it is another spelling the adapter must settle.
        let c = Identity::new(IdentityKind::Phone, "138 0013 8000").unwrap();
        assert_ne!(a, c);
    }

    #[test]
    fn email_addresses_ignore_case_and_other_ids_do_not() {
        let a = Identity::new(IdentityKind::Email, " Li.Wei@Example.COM ").unwrap();
        assert_eq!(a.value(), "li.wei@example.com");
        let x = Identity::new(IdentityKind::WechatUnion, "oAbC").unwrap();
        let y = Identity::new(IdentityKind::WechatUnion, "oabc").unwrap();
        assert_ne!(x, y);
    }

    #[test]
    fn kinds_never_match_each_other() {
        let app = Identity::new(IdentityKind::AppUser, "12345678").unwrap();
        let phone = Identity::new(IdentityKind::Phone, "12345678").unwrap();
        let web = Identity::new(IdentityKind::Channel(Channel::Web), "12345678").unwrap();
        assert_ne!(app, phone);
        assert_ne!(app, web);
    }

    #[test]
    fn bad_identifiers_are_refused_naming_the_kind() {
        for (kind, raw) in [
            (IdentityKind::Phone, "call me"),
            (IdentityKind::Phone, "123"),
            (IdentityKind::Email, "no-at-sign"),
            (IdentityKind::Email, "a@localhost"),
            (IdentityKind::AppUser, "   "),
        ] {
            let err = Identity::new(kind, raw).unwrap_err();
            assert_eq!(err.kind, kind.name(), "{raw:?}");
        }
        let long = "x".repeat(MAX_IDENTITY_BYTES + 1);
        assert!(Identity::new(IdentityKind::AppUser, &long).is_err());
    }
}
