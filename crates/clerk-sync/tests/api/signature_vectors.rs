//! Every vector in `tests/fixtures/svix/vectors.json` (published Svix / Standard Webhooks test
//! cases and generated edge cases), with the clock frozen at the vector's `verify_at`.

use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use clerk_sync::svix::{SignedHeaders, Verifier};
use serde_json::Value;

fn payload(vector: &Value) -> Vec<u8> {
    if let Some(text) = vector["payload"].as_str() {
        return text.as_bytes().to_vec();
    }
    if let Some(encoded) = vector["payload_b64"].as_str() {
        return base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap();
    }
    let repeat = &vector["payload_repeat"];
    let unit = repeat["unit"].as_str().unwrap();
    let count = repeat["count"].as_u64().unwrap() as usize;
    format!(
        "{}{}{}",
        repeat["prefix"].as_str().unwrap(),
        unit.repeat(count),
        repeat["suffix"].as_str().unwrap()
    )
    .into_bytes()
}

#[test]
fn every_published_and_generated_vector_verifies_as_expected() {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/svix/vectors.json"
    );
    let vectors: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let vectors = vectors["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 48);
    let mut failures = Vec::new();
    for vector in vectors {
        let name = vector["name"].as_str().unwrap();
        let verifier = Verifier::from_secrets(vector["secret"].as_str().unwrap()).unwrap();
        let headers = SignedHeaders {
            id: vector["msg_id"].as_str().unwrap(),
            timestamp: vector["timestamp"].as_str().unwrap(),
            signature: vector["signature_header"].as_str().unwrap(),
        };
        let now = UNIX_EPOCH + Duration::from_secs(vector["verify_at"].as_u64().unwrap());
        let verdict = verifier.verify(&headers, &payload(vector), now);
        // Where the official libraries disagree, we take the strict side: reject.
        let expected_valid = vector["expected"] == "valid";
        if verdict.is_ok() != expected_valid {
            failures.push(format!(
                "{name}: expected {}, got {verdict:?}",
                vector["expected"]
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
