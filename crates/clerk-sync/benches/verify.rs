//! Verifying a 2.5 KB Clerk `user.updated` delivery against a bare HMAC-SHA256 of the same bytes,
//! measured in the same run. Target: verification ≤ 1.15× the bare HMAC.

use std::hint::black_box;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use clerk_sync::svix::{sign, SignedHeaders, SigningKey, Verifier};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The published `user.updated` example, grown to 2.5 KB with two more addresses and metadata,
/// as a user with a few identities looks.
fn body() -> String {
    let mut event: serde_json::Value =
        serde_json::from_str(include_str!("../fixtures/clerk/user.updated.json")).unwrap();
    let emails: Vec<serde_json::Value> = (0..3)
        .map(|i| serde_json::json!({ "id": format!("idn_{i}"), "object": "email_address", "email_address": format!("john.doe+{i}@example.com"), "verification": { "status": "verified", "strategy": "email_code" }, "linked_to": [] }))
        .collect();
    event["data"]["email_addresses"] = serde_json::Value::Array(emails);
    let mut body = event.to_string();
    let padding = 2560usize.saturating_sub(body.len());
    event["data"]["unsafe_metadata"] =
        serde_json::json!({ "notes": "x".repeat(padding.saturating_sub(12)) });
    body = event.to_string();
    body
}

fn verification(c: &mut Criterion) {
    let body = body();
    let id = "msg_2Vn3yGmXtQk0JYxQd1fWc8PZs9A";
    let now = 1_700_000_000u64;
    let timestamp = now.to_string();
    let key = SigningKey::parse(SECRET).unwrap();
    let signature = sign(&key, id, &timestamp, body.as_bytes());
    let verifier = Verifier::from_secrets(SECRET).unwrap();
    let at = UNIX_EPOCH + Duration::from_secs(now);
    let raw_key = base64::engine::general_purpose::STANDARD
        .decode(&SECRET[6..])
        .unwrap();
    let content = format!("{id}.{timestamp}.{body}");

    let mut group = c.benchmark_group(format!("verify {} B user.updated", body.len()));
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("bare HMAC-SHA256 (baseline)", |b| {
        b.iter(|| {
            let mut mac = Hmac::<Sha256>::new_from_slice(black_box(&raw_key)).unwrap();
            mac.update(black_box(content.as_bytes()));
            black_box(mac.finalize().into_bytes())
        })
    });
    group.bench_function("Verifier::verify", |b| {
        b.iter(|| {
            let headers = SignedHeaders {
                id,
                timestamp: &timestamp,
                signature: &signature,
            };
            verifier
                .verify(black_box(&headers), black_box(body.as_bytes()), at)
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, verification);
criterion_main!(benches);
