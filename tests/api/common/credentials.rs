//! Credentials for the security tests: a temporary directory holding an HS256 secret,
//! an API key file, PEM public keys and a JWKS document, and tokens minted against them.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
};
use serde::Serialize;
use switchboard::auth::Role;
use switchboard::auth::api_keys::{self, KeyEntry};
use switchboard::auth::settings::PublicKeyFile;
use switchboard::config::Config;

/// Seconds since the Unix epoch.
pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A directory removed when dropped.
#[derive(Debug)]
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new() -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!(
            "switchboard-security-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Claims of a token as Switchboard reads them.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Claims {
    pub(crate) sub: String,
    pub(crate) tenant: String,
    pub(crate) roles: Vec<String>,
    pub(crate) exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) nbf: Option<u64>,
}

/// Claims valid for five minutes from now.
pub(crate) fn claims(tenant: &str, roles: &[Role], sub: &str) -> Claims {
    Claims {
        sub: sub.to_owned(),
        tenant: tenant.to_owned(),
        roles: roles.iter().map(|r| r.as_str().to_owned()).collect(),
        exp: now_secs() + 300,
        nbf: None,
    }
}

/// Random bytes as lower-case hex.
fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new().fill(&mut buf).unwrap();
    api_keys::hex(&buf)
}

/// Signs claims with a key under a header.
pub(crate) fn sign(header: &Header, claims: &Claims, key: &EncodingKey) -> String {
    jsonwebtoken::encode(header, claims, key).unwrap()
}

/// An HS256 token signed with `secret`.
pub(crate) fn hs256_token(secret: &[u8], claims: &Claims) -> String {
    sign(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
}

/// An unsigned token (`alg: none`), built by hand since the library refuses to.
pub(crate) fn unsigned_token(claims: &Claims) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap());
    format!("{header}.{payload}.")
}

/// Credential files in a temporary directory, and the `[auth]` settings naming them.
#[derive(Debug)]
pub(crate) struct Credentials {
    dir: TempDir,
    /// The HS256 secret, when one was written.
    secret: Option<Vec<u8>>,
    /// API key entries written so far.
    key_entries: Vec<KeyEntry>,
    /// The settings to put in a config's `auth`.
    pub(crate) auth: switchboard::auth::AuthSettings,
}

/// The shape of the API key file (written without naming every field of
/// [`api_keys::KeyFile`], which may grow).
#[derive(Serialize)]
struct KeyFileOut<'a> {
    keys: &'a [KeyEntry],
}

impl Credentials {
    /// No credential files yet.
    pub(crate) fn new() -> Credentials {
        Credentials {
            dir: TempDir::new(),
            secret: None,
            key_entries: Vec::new(),
            auth: switchboard::auth::AuthSettings::default(),
        }
    }

    /// With a fresh random HS256 secret (64 bytes of hex text) in a file.
    pub(crate) fn hs256() -> Credentials {
        let mut creds = Credentials::new();
        let secret = random_hex(32).into_bytes();
        let path = creds.write("hs256.secret", &secret);
        creds.auth.jwt_hs256_secret_file = Some(path);
        creds.secret = Some(secret);
        creds
    }

    /// Writes a file into the directory; returns its path.
    pub(crate) fn write(&self, name: &str, contents: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        // Write beside and rename, so a watcher never reads half a file.
        let partial = self.dir.path().join(format!("{name}.partial"));
        std::fs::write(&partial, contents).unwrap();
        std::fs::rename(&partial, &path).unwrap();
        path
    }

    /// `config` with these credentials as its `[auth]`.
    pub(crate) fn apply(&self, config: Config) -> Config {
        Config {
            auth: self.auth.clone(),
            ..config
        }
    }

    /// An HS256 token for these claims, signed with this secret.
    pub(crate) fn token(&self, claims: &Claims) -> String {
        hs256_token(self.secret.as_deref().expect("an HS256 secret"), claims)
    }

    /// A valid HS256 token for a tenant, roles and subject.
    pub(crate) fn token_for(&self, tenant: &str, roles: &[Role], sub: &str) -> String {
        self.token(&claims(tenant, roles, sub))
    }

    /// Makes an API key, adds it to the key file (written again), and returns it.
    pub(crate) fn add_api_key(&mut self, tenant: &str, roles: &[Role], subject: &str) -> String {
        let (key, entry) = api_keys::new_key(tenant, roles, subject).unwrap();
        self.add_key_entry(entry);
        key
    }

    /// Adds an entry made by [`api_keys::new_key`] to the key file (written again).
    pub(crate) fn add_key_entry(&mut self, entry: KeyEntry) {
        self.key_entries.push(entry);
        self.write_key_file();
    }

    /// Removes the API key `key` from the key file (written again).
    pub(crate) fn revoke_api_key(&mut self, key: &str) {
        let hash = api_keys::hex(&api_keys::hash_key(key));
        self.key_entries.retain(|e| e.sha256 != hash);
        self.write_key_file();
    }

    fn write_key_file(&mut self) {
        let text = toml::to_string(&KeyFileOut {
            keys: &self.key_entries,
        })
        .unwrap();
        let path = self.write("api_keys.toml", text.as_bytes());
        self.auth.api_keys_file = Some(path);
    }

    /// Publishes public keys as a JWKS document.
    pub(crate) fn publish_jwks(&mut self, jwks: &[serde_json::Value]) {
        let doc = serde_json::json!({ "keys": jwks });
        let path = self.write("jwks.json", &serde_json::to_vec_pretty(&doc).unwrap());
        self.auth.jwks_file = Some(path);
    }

    /// Publishes one PEM public key for `algorithm`.
    pub(crate) fn publish_pem(&mut self, name: &str, pem: &str, algorithm: &str) {
        let path = self.write(name, pem.as_bytes());
        self.auth.jwt_public_keys.push(PublicKeyFile {
            path,
            algorithm: algorithm.to_owned(),
            kid: None,
        });
    }
}

/// A PEM `PUBLIC KEY` block around SPKI DER.
fn spki_pem(der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap());
        pem.push('\n');
    }
    pem.push_str("-----END PUBLIC KEY-----\n");
    pem
}

/// An ES256 (P-256) signing key.
pub(crate) struct EcKey {
    pkcs8: Vec<u8>,
    /// The 65-byte uncompressed public point.
    public: Vec<u8>,
    kid: Option<String>,
}

impl EcKey {
    pub(crate) fn generate(kid: Option<&str>) -> EcKey {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let public = pair.public_key().as_ref().to_vec();
        assert_eq!(public.len(), 65);
        EcKey {
            pkcs8: pkcs8.as_ref().to_vec(),
            public,
            kid: kid.map(str::to_owned),
        }
    }

    /// A token for these claims signed with this key (its `kid` in the header).
    pub(crate) fn token(&self, claims: &Claims) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = self.kid.clone();
        sign(&header, claims, &EncodingKey::from_ec_der(&self.pkcs8))
    }

    /// The public key as a JWK.
    pub(crate) fn jwk(&self) -> serde_json::Value {
        let mut jwk = serde_json::json!({
            "kty": "EC",
            "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(&self.public[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&self.public[33..65]),
            "use": "sig",
            "alg": "ES256",
        });
        if let Some(kid) = &self.kid {
            jwk["kid"] = kid.clone().into();
        }
        jwk
    }

    /// The public key as a PEM SPKI document.
    pub(crate) fn pem(&self) -> String {
        // SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING point }
        let mut der = vec![
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
        ];
        der.extend_from_slice(&self.public);
        spki_pem(&der)
    }
}

/// An EdDSA (Ed25519) signing key.
pub(crate) struct EdKey {
    pkcs8: Vec<u8>,
    /// The 32-byte public key.
    public: Vec<u8>,
    kid: Option<String>,
}

impl EdKey {
    pub(crate) fn generate(kid: Option<&str>) -> EdKey {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        EdKey {
            pkcs8: pkcs8.as_ref().to_vec(),
            public: pair.public_key().as_ref().to_vec(),
            kid: kid.map(str::to_owned),
        }
    }

    /// A token for these claims signed with this key (its `kid` in the header).
    pub(crate) fn token(&self, claims: &Claims) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = self.kid.clone();
        sign(&header, claims, &EncodingKey::from_ed_der(&self.pkcs8))
    }

    /// The public key as a JWK.
    pub(crate) fn jwk(&self) -> serde_json::Value {
        let mut jwk = serde_json::json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(&self.public),
            "use": "sig",
            "alg": "EdDSA",
        });
        if let Some(kid) = &self.kid {
            jwk["kid"] = kid.clone().into();
        }
        jwk
    }

    /// The public key as a PEM SPKI document.
    pub(crate) fn pem(&self) -> String {
        // SEQUENCE { SEQUENCE { id-Ed25519 }, BIT STRING key }
        let mut der = vec![
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        der.extend_from_slice(&self.public);
        spki_pem(&der)
    }
}
