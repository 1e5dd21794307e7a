//! Authentication: every caller is a [`Principal`] (tenant, roles, subject) proven by a
//! credential, never named by a header.
//!
//! Credentials are bearer JWTs (`authorization: Bearer <jwt>`) checked against
//! configured keys, and static API keys (`authorization: Bearer sbk_...` or
//! `x-api-key`) found by hash in a key file. With no credential configured the
//! server is in protected mode: it serves loopback peers only (so `cargo run` on a
//! laptop works) and refuses the network, unless told otherwise.
//!
//! The credential files are re-read when they change ([`Auth::watch`]), so rotating a
//! key or adding an adapter needs no restart.

pub mod api_keys;
mod jwt;
pub mod principal;
pub mod settings;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

pub use principal::{Method, Principal, Role, Roles, TenantScope};
pub use settings::AuthSettings;

/// Why a call was not authenticated. Clients all get the same `UNAUTHENTICATED`
/// message; the reason goes to the audit log and the metric only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No credential was presented.
    Missing,
    /// The credential is not of a known form.
    Malformed,
    /// The signature does not verify.
    BadSignature,
    /// Past `exp` (beyond the allowed skew).
    Expired,
    /// Before `nbf` (beyond the allowed skew).
    NotYetValid,
    /// No configured key matches (unknown API key, unknown `kid` or algorithm).
    UnknownKey,
    /// Wrong `iss` or `aud`.
    WrongAudience,
    /// The claims do not name a usable tenant, role and subject.
    BadClaims,
    /// No credentials are configured and the peer is not on loopback.
    NotLoopback,
}

impl Refusal {
    /// Every reason, for metrics.
    pub const ALL: [Refusal; 9] = [
        Refusal::Missing,
        Refusal::Malformed,
        Refusal::BadSignature,
        Refusal::Expired,
        Refusal::NotYetValid,
        Refusal::UnknownKey,
        Refusal::WrongAudience,
        Refusal::BadClaims,
        Refusal::NotLoopback,
    ];

    /// The reason's name in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Missing => "missing",
            Refusal::Malformed => "malformed",
            Refusal::BadSignature => "bad_signature",
            Refusal::Expired => "expired",
            Refusal::NotYetValid => "not_yet_valid",
            Refusal::UnknownKey => "unknown_key",
            Refusal::WrongAudience => "wrong_audience",
            Refusal::BadClaims => "bad_claims",
            Refusal::NotLoopback => "not_loopback",
        }
    }

    /// What the client is told: enough to fix a setup, nothing about which part of a
    /// presented credential was wrong.
    pub fn client_message(self) -> &'static str {
        match self {
            Refusal::NotLoopback => {
                "no credentials are configured on this server, so it serves loopback peers \
                 only; configure [auth] (see the README's Security section)"
            }
            Refusal::Missing => "credentials required: authorization: Bearer <token or API key>",
            _ => "invalid credentials",
        }
    }
}

/// A credential file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct SetupError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub reason: String,
}

impl SetupError {
    fn new(path: &Path, reason: impl Into<String>) -> SetupError {
        SetupError {
            path: path.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Reads a credential file, naming it on error.
fn read_file(path: &Path) -> Result<Vec<u8>, SetupError> {
    std::fs::read(path).map_err(|e| SetupError::new(path, e.to_string()))
}

/// Where a call comes from: the peer's address, and the names (DNS and URI subject
/// alternative names) of the client certificate it presented over mTLS, if any.
#[derive(Debug, Clone, Default)]
pub struct Peer {
    /// The remote address.
    pub addr: Option<SocketAddr>,
    /// Names of a client certificate verified against `tls.client_ca_file`.
    pub certificate_names: Arc<[String]>,
}

/// A presented credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential<'a> {
    /// A bearer JWT.
    Jwt(&'a str),
    /// A static API key.
    ApiKey(&'a str),
}

impl<'a> Credential<'a> {
    /// The credential in request metadata: `authorization: Bearer <jwt or sbk_ key>` or
    /// `x-api-key: <key>`. `Err` for an `authorization` value of another form.
    pub fn from_metadata(
        metadata: &'a tonic::metadata::MetadataMap,
    ) -> Result<Option<Credential<'a>>, Refusal> {
        if let Some(value) = metadata.get("authorization") {
            let value = value.to_str().map_err(|_| Refusal::Malformed)?;
            let token = value
                .split_once(' ')
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, token)| token.trim())
                .filter(|t| !t.is_empty())
                .ok_or(Refusal::Malformed)?;
            return Ok(Some(if token.starts_with(api_keys::KEY_PREFIX) {
                Credential::ApiKey(token)
            } else {
                Credential::Jwt(token)
            }));
        }
        match metadata.get("x-api-key") {
            Some(value) => Ok(Some(Credential::ApiKey(
                value.to_str().map_err(|_| Refusal::Malformed)?.trim(),
            ))),
            None => Ok(None),
        }
    }
}

/// The credential sources as loaded at one moment.
#[derive(Debug)]
pub struct Authenticator {
    jwt: Option<jwt::JwtVerifier>,
    keys: Option<api_keys::ApiKeys>,
    /// No credential configured: serve without one (loopback only, unless allowed).
    open: Option<OpenMode>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpenMode {
    LoopbackOnly,
    Network,
}

impl Authenticator {
    /// Reads every configured credential file.
    pub fn load(settings: &AuthSettings) -> Result<Authenticator, SetupError> {
        let jwt = jwt::JwtVerifier::load(settings)?;
        let keys = match &settings.api_keys_file {
            Some(path) => Some(api_keys::ApiKeys::load(path)?),
            None => None,
        };
        let open =
            (!settings.has_credentials()).then_some(if settings.allow_unauthenticated_network {
                OpenMode::Network
            } else {
                OpenMode::LoopbackOnly
            });
        Ok(Authenticator { jwt, keys, open })
    }

    /// The principal behind a call from `peer` presenting `credential`. A bearer
    /// credential wins over a client certificate; a certificate counts when the key
    /// file maps one of its names.
    pub fn authenticate(
        &self,
        credential: Option<Credential<'_>>,
        peer: &Peer,
    ) -> Result<Principal, Refusal> {
        if let Some(open) = self.open {
            let loopback = peer.addr.is_some_and(|p| is_loopback(p.ip()));
            return match (open, loopback) {
                (_, true) => Ok(Principal::unauthenticated(Method::Loopback)),
                (OpenMode::Network, false) => {
                    Ok(Principal::unauthenticated(Method::Unauthenticated))
                }
                (OpenMode::LoopbackOnly, false) => Err(Refusal::NotLoopback),
            };
        }
        match credential {
            None => match &self.keys {
                Some(keys) if !peer.certificate_names.is_empty() => {
                    keys.certificate(&peer.certificate_names)
                }
                _ => Err(Refusal::Missing),
            },
            Some(Credential::Jwt(token)) => match &self.jwt {
                Some(verifier) => verifier.verify(token),
                None => Err(Refusal::UnknownKey),
            },
            Some(Credential::ApiKey(key)) => match &self.keys {
                Some(keys) => keys.verify(key),
                None => Err(Refusal::UnknownKey),
            },
        }
    }

    /// Whether calls need a credential.
    pub fn requires_credentials(&self) -> bool {
        self.open.is_none()
    }
}

/// Whether an address is on this host: 127.0.0.0/8, ::1, or ::ffff:127.x.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// The live credential sources, swapped whole when a file changes.
#[derive(Debug, Clone)]
pub struct Auth {
    current: Arc<ArcSwap<Authenticator>>,
    settings: Arc<AuthSettings>,
}

impl Auth {
    /// Loads the configured credentials and logs the mode the server runs in.
    pub fn new(settings: &AuthSettings) -> Result<Auth, SetupError> {
        let authenticator = Authenticator::load(settings)?;
        match authenticator.open {
            Some(OpenMode::LoopbackOnly) => tracing::info!(
                "no credentials configured: protected mode, serving loopback peers only \
                 (configure [auth] to serve the network)"
            ),
            Some(OpenMode::Network) => tracing::warn!(
                "no credentials configured and auth.allow_unauthenticated_network is set: \
                 ANY peer that reaches the port may act as any tenant"
            ),
            None => tracing::info!(
                jwt = authenticator.jwt.is_some(),
                api_keys = authenticator.keys.is_some(),
                "credentials required for every call"
            ),
        }
        Ok(Auth {
            current: Arc::new(ArcSwap::from_pointee(authenticator)),
            settings: Arc::new(settings.clone()),
        })
    }

    /// The credential sources in force now.
    pub fn current(&self) -> arc_swap::Guard<Arc<Authenticator>> {
        self.current.load()
    }

    /// Re-reads the credential files whenever one changes, until `stopped` resolves.
    /// A file that no longer loads is logged and the last good credentials stay.
    pub async fn watch(self, stopped: impl std::future::Future<Output = ()>) {
        if !self.settings.has_credentials() {
            return;
        }
        let every = Duration::from_secs(self.settings.reload_secs);
        crate::file_watch::on_change(self.settings.files(), every, stopped, || {
            match Authenticator::load(&self.settings) {
                Ok(fresh) => {
                    self.current.store(Arc::new(fresh));
                    tracing::info!(target: "audit", action = "credentials_reloaded", "credential files read again");
                }
                Err(e) => tracing::warn!(
                    target: "audit",
                    action = "credentials_reload_failed",
                    error = %e,
                    "credential file changed but does not load; the previous credentials stay"
                ),
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> Peer {
        Peer {
            addr: Some(text.parse().unwrap()),
            certificate_names: Arc::from([]),
        }
    }

    #[test]
    fn without_credentials_only_loopback_is_served() {
        let auth = Authenticator::load(&AuthSettings::default()).unwrap();
        assert!(!auth.requires_credentials());
        let p = auth.authenticate(None, &addr("127.0.0.1:5000")).unwrap();
        assert_eq!(p.method, Method::Loopback);
        assert!(auth.authenticate(None, &addr("[::1]:5000")).is_ok());
        assert!(
            auth.authenticate(None, &addr("[::ffff:127.0.0.9]:5000"))
                .is_ok()
        );
        assert_eq!(
            auth.authenticate(None, &addr("10.1.2.3:5000")),
            Err(Refusal::NotLoopback)
        );
        assert_eq!(
            auth.authenticate(None, &Peer::default()),
            Err(Refusal::NotLoopback)
        );
        let open = Authenticator::load(&AuthSettings {
            allow_unauthenticated_network: true,
            ..AuthSettings::default()
        })
        .unwrap();
        assert_eq!(
            open.authenticate(None, &addr("10.1.2.3:5000"))
                .unwrap()
                .method,
            Method::Unauthenticated
        );
    }

    #[test]
    fn bearer_values_are_told_apart() {
        let mut md = tonic::metadata::MetadataMap::new();
        assert_eq!(Credential::from_metadata(&md), Ok(None));
        md.insert("authorization", "Bearer a.b.c".parse().unwrap());
        assert_eq!(
            Credential::from_metadata(&md),
            Ok(Some(Credential::Jwt("a.b.c")))
        );
        md.insert("authorization", "bearer sbk_123".parse().unwrap());
        assert_eq!(
            Credential::from_metadata(&md),
            Ok(Some(Credential::ApiKey("sbk_123")))
        );
        md.insert("authorization", "Basic dXNlcg==".parse().unwrap());
        assert_eq!(Credential::from_metadata(&md), Err(Refusal::Malformed));
        let mut md = tonic::metadata::MetadataMap::new();
        md.insert("x-api-key", "sbk_9".parse().unwrap());
        assert_eq!(
            Credential::from_metadata(&md),
            Ok(Some(Credential::ApiKey("sbk_9")))
        );
    }
}
