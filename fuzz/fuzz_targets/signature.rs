//! The signature headers and body as an attacker sends them: never a panic, never a pass
//! without the key, and whatever `sign` produces verifies.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use clerk_sync::svix::{sign, SignedHeaders, SigningKey, Verifier};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NOW: u64 = 1_700_000_000;

fuzz_target!(|data: &[u8]| {
    // id \n timestamp \n signature header \n body
    let mut parts = data.splitn(4, |&b| b == b'\n');
    let (Some(id), Some(timestamp), Some(signature), Some(body)) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return;
    };
    let (Ok(id), Ok(timestamp), Ok(signature)) = (std::str::from_utf8(id), std::str::from_utf8(timestamp), std::str::from_utf8(signature)) else {
        return;
    };
    let verifier = Verifier::from_secrets(SECRET).unwrap();
    let now = UNIX_EPOCH + Duration::from_secs(NOW);
    let headers = SignedHeaders { id, timestamp, signature };
    let forged = verifier.verify(&headers, body, now);

    let key = SigningKey::parse(SECRET).unwrap();
    let genuine = sign(&key, id, timestamp, body);
    if forged.is_ok() {
        // Only a header carrying the real MAC can pass.
        assert!(signature.split(' ').any(|entry| entry == genuine), "forged signature accepted");
    }
    let headers = SignedHeaders { id, timestamp, signature: &genuine };
    let honest = verifier.verify(&headers, body, now);
    let canonical = timestamp.parse::<u64>().is_ok_and(|t| t.to_string() == timestamp && t.abs_diff(NOW) <= 300);
    if canonical && std::str::from_utf8(body).is_ok() {
        assert!(honest.is_ok(), "a genuine signature was refused: {honest:?}");
    }
});
