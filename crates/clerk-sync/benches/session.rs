//! Verifying one Clerk session token (RS256, 2048-bit key, version 2 claims with an active
//! organization): the session guard's cost per request, less the cookie lookup.

use std::hint::black_box;
use std::time::SystemTime;

use clerk_sync::session::SessionVerifier;
use clerk_sync_test_support::RsaKeys;
use criterion::{criterion_group, criterion_main, Criterion};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};

fn verify(c: &mut Criterion) {
    let keys = RsaKeys::generate();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "azp": "https://example.com", "exp": now + 3600, "iat": now, "nbf": now - 5,
        "iss": "https://clerk.example.com", "sid": "sess_2abc", "sub": "user_2abc", "v": 2,
        "fva": [3, -1], "sts": "active", "fea": "o:dashboard,o:teams",
        "o": { "id": "org_2abc", "rol": "admin", "slg": "acme", "per": "manage,read", "fpm": "3,2" },
    });
    let token = encode(
        &Header::new(Algorithm::RS256),
        &claims,
        &EncodingKey::from_rsa_der(&keys.private_der),
    )
    .unwrap();
    let verifier = SessionVerifier::from_pem(&keys.public_pem)
        .unwrap()
        .with_authorized_parties(["https://example.com"]);
    let at = SystemTime::now();
    assert!(verifier.verify(&token, at).is_ok());
    c.bench_function("session/verify_rs256_v2", |b| {
        b.iter(|| verifier.verify(black_box(&token), at).unwrap())
    });
}

criterion_group!(benches, verify);
criterion_main!(benches);
