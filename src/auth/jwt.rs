//! Bearer JWTs: verified against configured keys, with `exp` and `nbf` checked within a
//! bounded clock skew. Claims carry the tenant, the roles and the subject.
//!
//! Each key has exactly one algorithm, and a token is only checked against keys of the
//! algorithm its header names, so an RSA public key can never be used as an HMAC
//! secret (the classic algorithm-confusion attack). A header `kid` picks the key with
//! that id.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use dashmap::DashMap;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use serde::Deserialize;

use super::principal::{Method, Principal, Role, Roles, TenantScope};
use super::settings::{AuthSettings, PublicKeyFile};
use super::{Refusal, SetupError, read_file};
use crate::config::is_valid_tenant;

/// Claims Switchboard reads from a token.
#[derive(Debug, Deserialize)]
struct Claims {
    /// The adapter, agent or bot id (or a person, for admin roles).
    sub: String,
    /// The tenant; `*` for an operator or supervisor of every declared tenant.
    tenant: String,
    /// Roles, by name.
    #[serde(default)]
    roles: Vec<String>,
    /// One role, for issuers that cannot emit a list.
    #[serde(default)]
    role: Option<String>,
    /// Expiry, seconds since the epoch (checked by the library; kept for the cache).
    exp: u64,
}

/// Tokens verified recently, so a client that sends the same token on every unary call
/// pays a map lookup instead of a signature check (an ES256 check takes about 60 µs).
/// Keyed by the whole token, so only the very same bytes hit; an entry is served only
/// until the token's `exp` (plus the skew), and the cache dies with the verifier when
/// the credential files are reloaded.
struct Verified {
    tokens: DashMap<Box<str>, (Principal, u64)>,
}

/// Most tokens remembered; past it the cache starts afresh.
const CACHED_TOKENS: usize = 10_000;
/// Longest token remembered.
const CACHED_TOKEN_BYTES: usize = 4096;

impl Verified {
    fn get(&self, token: &str, leeway: u64) -> Option<Principal> {
        let entry = self.tokens.get(token)?;
        let (principal, exp) = entry.value();
        (jsonwebtoken::get_current_timestamp() <= exp.saturating_add(leeway))
            .then(|| principal.clone())
    }

    fn put(&self, token: &str, principal: &Principal, exp: u64) {
        if token.len() > CACHED_TOKEN_BYTES {
            return;
        }
        if self.tokens.len() >= CACHED_TOKENS {
            self.tokens.clear();
        }
        self.tokens
            .insert(Box::from(token), (principal.clone(), exp));
    }
}

/// One verification key.
struct Key {
    id: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

/// Verifies bearer tokens.
pub(super) struct JwtVerifier {
    keys: Vec<Key>,
    verified: Verified,
    leeway_secs: u64,
    issuer: Option<String>,
    audience: Option<String>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// Reads every configured key; `None` when no JWT key is configured.
    pub(super) fn load(settings: &AuthSettings) -> Result<Option<JwtVerifier>, SetupError> {
        let mut keys = Vec::new();
        if let Some(path) = &settings.jwt_hs256_secret_file {
            let secret = read_file(path)?;
            let secret = trim_line_end(&secret);
            if secret.len() < 32 {
                return Err(SetupError::new(
                    path,
                    "an HS256 secret must be at least 32 bytes",
                ));
            }
            keys.push(Key {
                id: None,
                algorithm: Algorithm::HS256,
                key: DecodingKey::from_secret(secret),
            });
        }
        for file in &settings.jwt_public_keys {
            keys.push(public_key(file)?);
        }
        if let Some(path) = &settings.jwks_file {
            keys.extend(jwks(path)?);
        }
        if keys.is_empty() {
            return Ok(None);
        }
        Ok(Some(JwtVerifier {
            keys,
            verified: Verified {
                tokens: DashMap::new(),
            },
            leeway_secs: settings.clock_skew_secs,
            issuer: settings.jwt_issuer.clone().filter(|s| !s.is_empty()),
            audience: settings.jwt_audience.clone().filter(|s| !s.is_empty()),
        }))
    }

    /// The principal a token proves.
    pub(super) fn verify(&self, token: &str) -> Result<Principal, Refusal> {
        if let Some(principal) = self.verified.get(token, self.leeway_secs) {
            return Ok(principal);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| Refusal::Malformed)?;
        let mut candidates = self
            .keys
            .iter()
            .filter(|k| k.algorithm == header.alg)
            .filter(|k| match (&header.kid, &k.id) {
                (Some(wanted), Some(id)) => wanted == id,
                _ => true,
            })
            .peekable();
        if candidates.peek().is_none() {
            return Err(Refusal::UnknownKey);
        }
        let mut validation = Validation::new(header.alg);
        validation.leeway = self.leeway_secs;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        if let Some(iss) = &self.issuer {
            validation.set_issuer(&[iss]);
        }
        match &self.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        let mut refusal = Refusal::BadSignature;
        for key in candidates {
            match jsonwebtoken::decode::<Claims>(token, &key.key, &validation) {
                Ok(data) => {
                    let exp = data.claims.exp;
                    let principal = principal(data.claims)?;
                    self.verified.put(token, &principal, exp);
                    return Ok(principal);
                }
                Err(e) => {
                    refusal = match e.kind() {
                        ErrorKind::InvalidSignature => Refusal::BadSignature,
                        ErrorKind::ExpiredSignature => return Err(Refusal::Expired),
                        ErrorKind::ImmatureSignature => return Err(Refusal::NotYetValid),
                        ErrorKind::InvalidIssuer | ErrorKind::InvalidAudience => {
                            return Err(Refusal::WrongAudience);
                        }
                        ErrorKind::MissingRequiredClaim(_) | ErrorKind::Json(_) => {
                            return Err(Refusal::BadClaims);
                        }
                        _ => Refusal::Malformed,
                    }
                }
            }
        }
        Err(refusal)
    }
}

/// The principal named by verified claims.
fn principal(claims: Claims) -> Result<Principal, Refusal> {
    let mut roles = Vec::new();
    for name in claims.roles.iter().chain(claims.role.as_ref()) {
        roles.push(Role::from_name(name).ok_or(Refusal::BadClaims)?);
    }
    let roles = Roles::of(roles);
    principal_from_parts(&claims.tenant, roles, &claims.sub, Method::Jwt)
}

/// A principal from a credential's tenant, roles and subject, checked: a known tenant
/// form, at least one role, a subject, and `*` only for admin roles.
pub(super) fn principal_from_parts(
    tenant: &str,
    roles: Roles,
    subject: &str,
    method: Method,
) -> Result<Principal, Refusal> {
    if roles.is_empty() || subject.is_empty() || subject.len() > 128 || subject == "*" {
        return Err(Refusal::BadClaims);
    }
    let tenant = if tenant == "*" {
        let admin_only = Role::ALL
            .into_iter()
            .filter(|&r| roles.allow(r))
            .all(|r| matches!(r, Role::Supervisor | Role::Operator));
        if !admin_only {
            return Err(Refusal::BadClaims);
        }
        TenantScope::Declared
    } else if is_valid_tenant(tenant) {
        TenantScope::One(Arc::from(tenant))
    } else {
        return Err(Refusal::BadClaims);
    };
    Ok(Principal {
        tenant,
        roles,
        subject: Arc::from(subject),
        method,
    })
}

fn trim_line_end(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|b| !matches!(b, b'\n' | b'\r'))
        .map_or(0, |i| i + 1);
    &bytes[..end]
}

/// A PEM public key with its algorithm.
fn public_key(file: &PublicKeyFile) -> Result<Key, SetupError> {
    let pem = read_file(&file.path)?;
    let algorithm = Algorithm::from_str(&file.algorithm).map_err(|_| {
        SetupError::new(
            &file.path,
            format!("unknown algorithm {:?}", file.algorithm),
        )
    })?;
    let key = match algorithm {
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => DecodingKey::from_rsa_pem(&pem),
        Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(&pem),
        Algorithm::EdDSA => DecodingKey::from_ed_pem(&pem),
        _ => {
            return Err(SetupError::new(
                &file.path,
                "public keys are for RS*, PS*, ES256, ES384 or EdDSA; put an HS256 secret in \
                 auth.jwt_hs256_secret_file",
            ));
        }
    }
    .map_err(|e| SetupError::new(&file.path, format!("not a {algorithm:?} public key: {e}")))?;
    Ok(Key {
        id: file.kid.clone(),
        algorithm,
        key,
    })
}

/// Every signing key of a JWKS document. Symmetric (`oct`) keys are refused: a JWKS
/// is for public keys.
fn jwks(path: &Path) -> Result<Vec<Key>, SetupError> {
    let text = read_file(path)?;
    let set: JwkSet = serde_json::from_slice(&text)
        .map_err(|e| SetupError::new(path, format!("not a JWKS document: {e}")))?;
    let mut keys = Vec::new();
    for (i, jwk) in set.keys.iter().enumerate() {
        let inferred = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Some(Algorithm::RS256),
            AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
                EllipticCurve::P256 => Some(Algorithm::ES256),
                EllipticCurve::P384 => Some(Algorithm::ES384),
                _ => None,
            },
            AlgorithmParameters::OctetKeyPair(_) => Some(Algorithm::EdDSA),
            AlgorithmParameters::OctetKey(_) => {
                return Err(SetupError::new(
                    path,
                    format!("key {i}: symmetric keys do not belong in a JWKS"),
                ));
            }
        };
        let algorithm = match &jwk.common.key_algorithm {
            Some(alg) => Algorithm::from_str(&alg.to_string()).ok(),
            None => inferred,
        }
        .ok_or_else(|| SetupError::new(path, format!("key {i}: unsupported algorithm")))?;
        let key = DecodingKey::from_jwk(jwk)
            .map_err(|e| SetupError::new(path, format!("key {i}: {e}")))?;
        keys.push(Key {
            id: jwk.common.key_id.clone(),
            algorithm,
            key,
        });
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal() -> Principal {
        principal_from_parts("acme", Roles::of([Role::Agent]), "alice", Method::Jwt).unwrap()
    }

    #[test]
    fn a_cached_token_is_served_only_until_it_expires() {
        let cache = Verified {
            tokens: DashMap::new(),
        };
        let now = jsonwebtoken::get_current_timestamp();
        cache.put("fresh", &principal(), now + 60);
        cache.put("stale", &principal(), now - 60);
        assert_eq!(cache.get("fresh", 0), Some(principal()));
        assert_eq!(cache.get("stale", 0), None, "past exp");
        assert!(cache.get("stale", 120).is_some(), "within the skew");
        assert_eq!(cache.get("other", 0), None);
        cache.put(&"x".repeat(CACHED_TOKEN_BYTES + 1), &principal(), now + 60);
        assert_eq!(cache.tokens.len(), 2, "oversized tokens are not kept");
    }
}
