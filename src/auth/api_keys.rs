//! Static API keys for simple setups: a TOML file of SHA-256 hashes, each bound to a
//! tenant, roles and a subject. The file never holds a usable key, so reading it (a
//! backup, a mounted Secret, a config dump) does not give anyone access.
//!
//! The same file maps client certificates (mTLS) to principals, by a DNS or URI
//! subject alternative name of the certificate.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use super::jwt::principal_from_parts;
use super::principal::{Method, Principal, Role, Roles};
use super::{Refusal, SetupError, read_file};

/// Prefix of keys made by `switchboard api-key`, so a key is recognisable in a bearer
/// header and in secret scanners.
pub const KEY_PREFIX: &str = "sbk_";

/// The key file's shape.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    /// API keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<KeyEntry>,
    /// Client certificates, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<CertificateEntry>,
}

/// A client certificate's principal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateEntry {
    /// A DNS or URI subject alternative name of the certificate (for example
    /// `web-1.adapters.acme.svc` or `spiffe://acme/adapter/web-1`).
    pub name: String,
    /// The tenant it acts in.
    pub tenant: String,
    /// Its roles.
    pub roles: Vec<String>,
    /// The adapter, agent or bot id it holds.
    pub subject: String,
}

/// One API key, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    /// Lower-case hex SHA-256 of the key.
    pub sha256: String,
    /// The tenant it acts in (`*` for operators or supervisors of every tenant).
    pub tenant: String,
    /// Its roles.
    pub roles: Vec<String>,
    /// The adapter, agent or bot id it holds, or a person's name for admin roles.
    pub subject: String,
}

/// API keys by hash, and client certificates by name.
#[derive(Debug)]
pub(super) struct ApiKeys {
    by_hash: HashMap<[u8; 32], Principal>,
    by_certificate: HashMap<String, Principal>,
}

impl ApiKeys {
    /// Reads and checks the key file.
    pub(super) fn load(path: &Path) -> Result<ApiKeys, SetupError> {
        let text = read_file(path)?;
        let text = String::from_utf8(text).map_err(|_| SetupError::new(path, "not UTF-8"))?;
        let file: KeyFile =
            toml::from_str(&text).map_err(|e| SetupError::new(path, e.to_string()))?;
        let mut by_hash = HashMap::new();
        for (i, entry) in file.keys.iter().enumerate() {
            let bad = |what: &str| SetupError::new(path, format!("keys[{i}]: {what}"));
            let hash = parse_hash(&entry.sha256).ok_or_else(|| bad("sha256: 64 hex digits"))?;
            let principal =
                entry_principal(&entry.tenant, &entry.roles, &entry.subject, Method::ApiKey)
                    .map_err(|why| bad(&why))?;
            if by_hash.insert(hash, principal).is_some() {
                return Err(bad("the same key is listed twice"));
            }
        }
        let mut by_certificate = HashMap::new();
        for (i, entry) in file.certificates.iter().enumerate() {
            let bad = |what: &str| SetupError::new(path, format!("certificates[{i}]: {what}"));
            if entry.name.is_empty() {
                return Err(bad("name: a DNS or URI name of the certificate"));
            }
            let principal = entry_principal(
                &entry.tenant,
                &entry.roles,
                &entry.subject,
                Method::ClientCertificate,
            )
            .map_err(|why| bad(&why))?;
            if by_certificate
                .insert(entry.name.clone(), principal)
                .is_some()
            {
                return Err(bad("the same name is listed twice"));
            }
        }
        Ok(ApiKeys {
            by_hash,
            by_certificate,
        })
    }

    /// The principal of a verified client certificate with these names.
    pub(super) fn certificate(&self, names: &[String]) -> Result<Principal, Refusal> {
        names
            .iter()
            .find_map(|n| self.by_certificate.get(n))
            .cloned()
            .ok_or(Refusal::UnknownKey)
    }

    /// The principal a presented key proves.
    pub(super) fn verify(&self, key: &str) -> Result<Principal, Refusal> {
        self.by_hash
            .get(&hash_key(key))
            .cloned()
            .ok_or(Refusal::UnknownKey)
    }
}

/// The principal of a file entry, or what is wrong with it.
fn entry_principal(
    tenant: &str,
    roles: &[String],
    subject: &str,
    method: Method,
) -> Result<Principal, String> {
    let roles = roles
        .iter()
        .map(|r| Role::from_name(r).ok_or_else(|| format!("roles: unknown {r:?}")))
        .collect::<Result<Vec<_>, _>>()?;
    principal_from_parts(tenant, Roles::of(roles), subject, method).map_err(|_| {
        "needs a valid tenant, a role, and a subject; tenant \"*\" only for supervisor or \
         operator entries"
            .to_owned()
    })
}

/// SHA-256 of a key.
pub fn hash_key(key: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, key.as_bytes()).as_ref());
    out
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn parse_hash(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[i * 2..i * 2 + 2], 16).ok()?;
    }
    Some(out)
}

/// A new random key (256 bits from the operating system) and its file entry.
pub fn new_key(
    tenant: &str,
    roles: &[Role],
    subject: &str,
) -> Result<(String, KeyEntry), &'static str> {
    principal_from_parts(
        tenant,
        Roles::of(roles.iter().copied()),
        subject,
        Method::ApiKey,
    )
    .map_err(|_| "needs a valid tenant, a role and a subject; tenant \"*\" only for admin roles")?;
    let mut secret = [0u8; 32];
    SystemRandom::new()
        .fill(&mut secret)
        .map_err(|_| "the operating system gave no random bytes")?;
    let key = format!("{KEY_PREFIX}{}", hex(&secret));
    let entry = KeyEntry {
        sha256: hex(&hash_key(&key)),
        tenant: tenant.to_owned(),
        roles: roles.iter().map(|r| r.as_str().to_owned()).collect(),
        subject: subject.to_owned(),
    };
    Ok((key, entry))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_made_key_verifies_and_a_near_miss_does_not() {
        let (key, entry) = new_key("acme", &[Role::Adapter], "web-1").unwrap();
        assert!(key.starts_with(KEY_PREFIX));
        let dir = std::env::temp_dir().join(format!("sb-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("keys.toml");
        let file = KeyFile {
            keys: vec![entry],
            certificates: Vec::new(),
        };
        std::fs::write(&path, toml::to_string(&file).unwrap()).unwrap();
        let keys = ApiKeys::load(&path).unwrap();
        let principal = keys.verify(&key).unwrap();
        assert_eq!(&*principal.subject, "web-1");
        assert!(principal.roles.allow(Role::Adapter));
        let mut wrong = key.clone();
        wrong.pop();
        wrong.push('x');
        assert_eq!(keys.verify(&wrong), Err(Refusal::UnknownKey));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn wildcard_tenants_are_only_for_admin_roles() {
        assert!(new_key("*", &[Role::Operator], "ops").is_ok());
        assert!(new_key("*", &[Role::Agent], "alice").is_err());
        assert!(new_key("acme", &[], "x").is_err());
        assert!(new_key("bad tenant", &[Role::Bot], "x").is_err());
    }

    #[test]
    fn hashes_parse_only_as_64_hex_digits() {
        let h = hash_key("k");
        assert_eq!(parse_hash(&hex(&h)), Some(h));
        assert_eq!(parse_hash("abc"), None);
        assert_eq!(parse_hash(&"zz".repeat(32)), None);
    }
}
