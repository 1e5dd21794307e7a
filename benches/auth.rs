//! What authenticating one call costs: `Authenticator::authenticate` for an HS256 JWT,
//! an ES256 JWT (JWKS key), an API key, and the protected-mode loopback check as the
//! baseline, in the same run. JWTs are measured at first sight (a signature check:
//! 20,000 distinct tokens in turn, more than the verified-token cache holds) and
//! repeated (the same token again, as a unary client sends it: a cache hit).
//!
//! Run: `cargo bench --bench auth`.
//!
//! A stream pays this once, when it opens; a unary call (`Submit`) pays it per call.

use std::hint::black_box;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use switchboard::auth::api_keys::{KeyFile, new_key};
use switchboard::auth::{AuthSettings, Authenticator, Credential, Peer, Role};

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sb-auth-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn claims() -> serde_json::Value {
    claims_with(0)
}

fn claims_with(jti: u64) -> serde_json::Value {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    serde_json::json!({
        "sub": "web-1", "tenant": "acme", "roles": ["adapter"], "exp": exp, "jti": jti,
    })
}

fn peer(addr: &str) -> Peer {
    Peer {
        addr: Some(addr.parse::<SocketAddr>().unwrap()),
        certificate_names: Arc::from([]),
    }
}

fn bench(c: &mut Criterion) {
    let dir = scratch();
    // HS256 and ES256 verifiers, and an API key file, loaded as the server would.
    let secret = b"0123456789abcdef0123456789abcdef0123456789abcdef";
    let secret_file = dir.join("hs256.secret");
    std::fs::write(&secret_file, secret).unwrap();
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let point = pair.public_key().as_ref();
    let jwks = serde_json::json!({"keys": [{
        "kty": "EC", "crv": "P-256", "alg": "ES256", "kid": "k1",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
    }]});
    let jwks_file = dir.join("jwks.json");
    std::fs::write(&jwks_file, jwks.to_string()).unwrap();
    let (key, entry) = new_key("acme", &[Role::Adapter], "web-1").unwrap();
    let keys_file = dir.join("keys.toml");
    let file = KeyFile {
        keys: vec![entry],
        certificates: Vec::new(),
    };
    std::fs::write(&keys_file, toml::to_string(&file).unwrap()).unwrap();
    let auth = Authenticator::load(&AuthSettings {
        jwt_hs256_secret_file: Some(secret_file),
        jwks_file: Some(jwks_file),
        api_keys_file: Some(keys_file),
        ..AuthSettings::default()
    })
    .unwrap();
    let open = Authenticator::load(&AuthSettings::default()).unwrap();

    let hs256 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(secret),
    )
    .unwrap();
    let mut es_header = Header::new(Algorithm::ES256);
    es_header.kid = Some("k1".into());
    let es256 = jsonwebtoken::encode(
        &es_header,
        &claims(),
        &EncodingKey::from_ec_der(pkcs8.as_ref()),
    )
    .unwrap();
    let remote = peer("10.0.0.7:40000");
    let local = peer("127.0.0.1:40000");
    assert!(
        auth.authenticate(Some(Credential::Jwt(&hs256)), &remote)
            .is_ok()
    );
    assert!(
        auth.authenticate(Some(Credential::Jwt(&es256)), &remote)
            .is_ok()
    );
    assert!(
        auth.authenticate(Some(Credential::ApiKey(&key)), &remote)
            .is_ok()
    );

    // Distinct tokens, more than the cache keeps, so each check verifies a signature.
    let fresh = |alg: Algorithm, key: &EncodingKey| -> Vec<String> {
        let mut header = Header::new(alg);
        header.kid = (alg == Algorithm::ES256).then(|| "k1".to_owned());
        (1..=20_000)
            .map(|n| jsonwebtoken::encode(&header, &claims_with(n), key).unwrap())
            .collect()
    };
    let hs_fresh = fresh(Algorithm::HS256, &EncodingKey::from_secret(secret));
    let es_fresh = fresh(Algorithm::ES256, &EncodingKey::from_ec_der(pkcs8.as_ref()));

    for token in [&hs_fresh[0], &es_fresh[0], &es_fresh[19_999]] {
        let r = auth.authenticate(Some(Credential::Jwt(token)), &remote);
        assert!(r.is_ok(), "{r:?}");
    }

    let mut group = c.benchmark_group("authenticate");
    group.bench_function("loopback_no_credentials", |b| {
        b.iter(|| black_box(open.authenticate(None, black_box(&local))))
    });
    group.bench_function("api_key", |b| {
        b.iter(|| black_box(auth.authenticate(Some(Credential::ApiKey(black_box(&key))), &remote)))
    });
    for (name, tokens) in [
        ("jwt_hs256_first_sight", &hs_fresh),
        ("jwt_es256_first_sight", &es_fresh),
    ] {
        // The position survives criterion's repeated calls of the routine, so no token
        // comes round again before the cache has forgotten it.
        let at = std::cell::Cell::new(0usize);
        group.bench_function(name, |b| {
            b.iter(|| {
                let token = &tokens[at.get() % tokens.len()];
                at.set(at.get() + 1);
                black_box(auth.authenticate(Some(Credential::Jwt(token)), &remote))
            })
        });
    }
    group.bench_function("jwt_hs256_repeated", |b| {
        b.iter(|| black_box(auth.authenticate(Some(Credential::Jwt(black_box(&hs256))), &remote)))
    });
    group.bench_function("jwt_es256_repeated", |b| {
        b.iter(|| black_box(auth.authenticate(Some(Credential::Jwt(black_box(&es256))), &remote)))
    });
    group.finish();
    std::fs::remove_dir_all(&dir).ok();
}

criterion_group!(benches, bench);
criterion_main!(benches);
