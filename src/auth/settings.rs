//! The `[auth]` section of the configuration: where credentials come from.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where credentials come from. With none configured, the server serves only loopback
/// peers (unless `allow_unauthenticated_network` says otherwise).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// Serve peers that are not on loopback although no credential is configured.
    /// Only for a network where every peer is trusted; logged as a warning.
    pub allow_unauthenticated_network: bool,
    /// File holding the shared HS256 secret (at least 32 bytes) for bearer JWTs.
    pub jwt_hs256_secret_file: Option<PathBuf>,
    /// PEM public keys for RS256/ES256/EdDSA bearer JWTs.
    pub jwt_public_keys: Vec<PublicKeyFile>,
    /// A JWKS document on disk with public keys for bearer JWTs.
    pub jwks_file: Option<PathBuf>,
    /// When set, tokens must carry this `iss`.
    pub jwt_issuer: Option<String>,
    /// When set, tokens must carry this `aud`.
    pub jwt_audience: Option<String>,
    /// Seconds of clock skew tolerated on `exp` and `nbf` (at most 300).
    pub clock_skew_secs: u64,
    /// TOML file of hashed API keys (and client-certificate mappings), each bound to a
    /// tenant, roles and a subject; `switchboard api-key` makes entries.
    pub api_keys_file: Option<PathBuf>,
    /// Seconds between checks of the credential files; a changed file is read again
    /// without a restart (a broken one is logged and the last good one kept).
    pub reload_secs: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            allow_unauthenticated_network: false,
            jwt_hs256_secret_file: None,
            jwt_public_keys: Vec::new(),
            jwks_file: None,
            jwt_issuer: None,
            jwt_audience: None,
            clock_skew_secs: 30,
            api_keys_file: None,
            reload_secs: 10,
        }
    }
}

/// Largest `auth.clock_skew_secs`.
pub const MAX_CLOCK_SKEW_SECS: u64 = 300;

/// One PEM public key for bearer JWTs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicKeyFile {
    /// The PEM file.
    pub path: PathBuf,
    /// `RS256`, `RS384`, `RS512`, `PS256`, `PS384`, `PS512`, `ES256`, `ES384` or `EdDSA`.
    pub algorithm: String,
    /// Key id matched against a token's `kid` header, if the issuer sets one.
    #[serde(default)]
    pub kid: Option<String>,
}

impl AuthSettings {
    /// Whether any credential source is configured.
    pub fn has_credentials(&self) -> bool {
        self.jwt_hs256_secret_file.is_some()
            || !self.jwt_public_keys.is_empty()
            || self.jwks_file.is_some()
            || self.api_keys_file.is_some()
    }

    /// Every file the credentials are read from.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = self.jwt_hs256_secret_file.iter().cloned().collect();
        files.extend(self.jwt_public_keys.iter().map(|k| k.path.clone()));
        files.extend(self.jwks_file.iter().cloned());
        files.extend(self.api_keys_file.iter().cloned());
        files
    }
}
