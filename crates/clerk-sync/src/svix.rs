//! Svix / Standard Webhooks v1 signature verification.
//!
//! Pure: no Rocket, no I/O, and the clock is a parameter. The signed content is
//! `{msg-id}.{timestamp}.{raw body}`, the MAC is HMAC-SHA256 keyed with the base64-decoded endpoint
//! secret (after an optional `whsec_` prefix), and the signature header is a space-separated list
//! of `version,base64(mac)` entries of which any `v1` entry may match.
//!
//! Verification is two steps, so a receiver can refuse a bad request before reading its body:
//! [`Verifier::check_headers`] needs only the headers, [`Verifier::verify_body`] then checks the
//! MACs. [`Verifier::verify`] does both.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use hmac::digest::{CtOutput, Output};
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// How far the `svix-timestamp` may be from our clock, either way, by default (Svix's own value).
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// Length of a base64-encoded (padded) HMAC-SHA256: anything else cannot match.
const ENCODED_MAC_LEN: usize = 44;

/// Secrets are decoded leniently about padding: dashboards and password managers drop `=`.
const SECRET_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// One endpoint signing secret (`whsec_...`), decoded and ready to MAC.
///
/// `Debug` prints `SigningKey([redacted])`: the key never reaches a log.
#[derive(Clone)]
pub struct SigningKey {
    // The keyed HMAC state: cloning it per message skips re-deriving the inner and outer pads.
    mac: HmacSha256,
}

impl SigningKey {
    /// Parses a secret as Clerk shows it (`whsec_` + base64); the prefix is optional.
    pub fn parse(secret: &str) -> Result<Self, KeyError> {
        let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
        if encoded.is_empty() {
            return Err(KeyError::Empty);
        }
        let key = SECRET_BASE64
            .decode(encoded)
            .map_err(|_| KeyError::NotBase64)?;
        if key.is_empty() {
            return Err(KeyError::Empty);
        }
        let mac = HmacSha256::new_from_slice(&key).expect("HMAC accepts keys of any length");
        Ok(Self { mac })
    }

    fn mac(&self, msg_id: &str, timestamp: &str, body: &[u8]) -> CtOutput<HmacSha256> {
        let mut mac = self.mac.clone();
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey([redacted])")
    }
}

/// Why a signing secret was refused. Raised at start-up, never per request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// No secret, or only the `whsec_` prefix.
    #[error("the signing secret is empty")]
    Empty,
    /// The part after `whsec_` is not base64.
    #[error("the signing secret is not base64 after its whsec_ prefix")]
    NotBase64,
}

/// The three header values that carry a signed message, as received.
#[derive(Debug, Clone, Copy)]
pub struct SignedHeaders<'a> {
    /// `svix-id` / `webhook-id`: the message id, stable across retries.
    pub id: &'a str,
    /// `svix-timestamp` / `webhook-timestamp`: Unix seconds, as decimal digits.
    pub timestamp: &'a str,
    /// `svix-signature` / `webhook-signature`: space-separated `v1,<base64>` entries.
    pub signature: &'a str,
}

/// Why a message failed verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The timestamp is not plain decimal digits (no sign, no leading zero, no fraction).
    #[error("the timestamp is not a plain Unix time in seconds")]
    MalformedTimestamp,
    /// The timestamp is further from our clock than the tolerance allows.
    #[error("the timestamp is outside the allowed tolerance")]
    TimestampOutOfTolerance,
    /// No `v1` signature matches any of our keys.
    #[error("no signature matches")]
    NoMatchingSignature,
    /// The body is not UTF-8; Standard Webhooks payloads always are, and the official libraries
    /// refuse such bodies even when the MAC over the raw bytes matches.
    #[error("the body is not UTF-8")]
    PayloadNotUtf8,
}

/// Verifies messages against one or more signing secrets (several during a rotation).
#[derive(Debug, Clone)]
pub struct Verifier {
    keys: Vec<SigningKey>,
    tolerance: Duration,
}

impl Verifier {
    /// A verifier that accepts a signature made with any of `keys`.
    pub fn new(keys: Vec<SigningKey>) -> Result<Self, KeyError> {
        if keys.is_empty() {
            return Err(KeyError::Empty);
        }
        Ok(Self {
            keys,
            tolerance: DEFAULT_TOLERANCE,
        })
    }

    /// Parses whitespace-separated secrets, as `CLERK_WEBHOOK_SIGNING_SECRET` may hold during a
    /// rotation (`"whsec_new whsec_old"`).
    pub fn from_secrets(secrets: &str) -> Result<Self, KeyError> {
        let keys = secrets
            .split_whitespace()
            .map(SigningKey::parse)
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(keys)
    }

    /// Replaces the default ±300 s timestamp tolerance.
    pub fn with_tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// The timestamp tolerance in force.
    pub fn tolerance(&self) -> Duration {
        self.tolerance
    }

    /// Checks the timestamp against `now`, then the signatures against the body: what
    /// [`Verifier::check_headers`] and [`Verifier::verify_body`] do in turn.
    pub fn verify(
        &self,
        headers: &SignedHeaders<'_>,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), VerifyError> {
        let checked = self.check_headers(headers, now)?;
        self.verify_body(&checked, body)
    }

    /// Everything that can be checked before the body is read: the timestamp's form and its
    /// distance from `now`, and that the signature header holds at least one `v1` entry that
    /// could match. A receiver refuses what fails here without waiting for the body.
    pub fn check_headers<'a>(
        &self,
        headers: &SignedHeaders<'a>,
        now: SystemTime,
    ) -> Result<CheckedHeaders<'a>, VerifyError> {
        let timestamp = parse_timestamp(headers.timestamp)?;
        if timestamp.abs_diff(unix_seconds(now)) > self.tolerance.as_secs() {
            return Err(VerifyError::TimestampOutOfTolerance);
        }
        let candidates = v1_signatures(headers.signature);
        if candidates.is_empty() {
            return Err(VerifyError::NoMatchingSignature);
        }
        Ok(CheckedHeaders {
            id: headers.id,
            timestamp: headers.timestamp,
            candidates,
        })
    }

    /// Checks the MACs of the body against the candidates decoded by
    /// [`Verifier::check_headers`], then that the body is UTF-8.
    pub fn verify_body(
        &self,
        checked: &CheckedHeaders<'_>,
        body: &[u8],
    ) -> Result<(), VerifyError> {
        self.check_macs(checked, body)?;
        std::str::from_utf8(body).map_err(|_| VerifyError::PayloadNotUtf8)?;
        Ok(())
    }

    /// What [`Verifier::verify_body`] checks, keeping the body: the [`VerifiedBody`] it returns
    /// is the proof a [`Delivery`](crate::delivery::Delivery) from a webhook is built from, and
    /// nothing else makes one.
    pub fn accept(
        &self,
        checked: &CheckedHeaders<'_>,
        body: Vec<u8>,
    ) -> Result<VerifiedBody, VerifyError> {
        self.check_macs(checked, &body)?;
        // Checks the UTF-8 and keeps the buffer: no copy of the body.
        let body = String::from_utf8(body).map_err(|_| VerifyError::PayloadNotUtf8)?;
        Ok(VerifiedBody {
            id: checked.id.to_owned(),
            body,
        })
    }

    fn check_macs(&self, checked: &CheckedHeaders<'_>, body: &[u8]) -> Result<(), VerifyError> {
        let matched = self.keys.iter().any(|key| {
            let expected = key.mac(checked.id, checked.timestamp, body);
            // `CtOutput`'s equality is constant-time; the length was checked when decoding.
            checked.candidates.contains(&expected)
        });
        if matched {
            Ok(())
        } else {
            Err(VerifyError::NoMatchingSignature)
        }
    }
}

/// A message id and a body whose signature matched, made only by [`Verifier::accept`]: the
/// proof that [`Delivery::from_verified`](crate::delivery::Delivery::from_verified) asks for.
/// Its fields are private, so no other code can claim a body was verified.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifiedBody {
    id: String,
    body: String,
}

impl VerifiedBody {
    /// The message id the signature covered.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The body the signature covered.
    pub fn body(&self) -> &str {
        &self.body
    }

    /// The id and the body, giving up the proof.
    pub fn into_parts(self) -> (String, String) {
        (self.id, self.body)
    }
}

impl fmt::Debug for VerifiedBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The body may hold personal data: its length is enough for a log.
        f.debug_struct("VerifiedBody")
            .field("id", &self.id)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// Signed headers that passed [`Verifier::check_headers`]: a timestamp within tolerance and the
/// decoded `v1` signatures, at least one, waiting for the body.
#[derive(Clone)]
pub struct CheckedHeaders<'a> {
    id: &'a str,
    timestamp: &'a str,
    candidates: Vec<CtOutput<HmacSha256>>,
}

impl CheckedHeaders<'_> {
    /// How many `v1` entries could match (the others were skipped).
    pub fn candidates(&self) -> usize {
        self.candidates.len()
    }
}

impl fmt::Debug for CheckedHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `CtOutput` has no `Debug`, and the MACs tell a reader nothing.
        f.debug_struct("CheckedHeaders")
            .field("id", &self.id)
            .field("timestamp", &self.timestamp)
            .field("candidates", &self.candidates.len())
            .finish()
    }
}

/// Signs a message the way Svix does and returns the `v1,<base64>` signature entry.
///
/// For tests and tools (the `send` command, load generators): production code only verifies.
pub fn sign(key: &SigningKey, msg_id: &str, timestamp: &str, body: &[u8]) -> String {
    let mac = key.mac(msg_id, timestamp, body).into_bytes();
    format!("v1,{}", STANDARD.encode(mac))
}

/// Seconds since the Unix epoch, the unit of `svix-timestamp`.
pub fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Accepts only the canonical form: the MAC covers the header text, so `+17…`, `017…` or
/// `17….0` would be a different message that happens to name the same second.
fn parse_timestamp(value: &str) -> Result<u64, VerifyError> {
    let canonical = !value.is_empty()
        && value.bytes().all(|b| b.is_ascii_digit())
        && !(value.len() > 1 && value.starts_with('0'));
    if !canonical {
        return Err(VerifyError::MalformedTimestamp);
    }
    value.parse().map_err(|_| VerifyError::MalformedTimestamp)
}

/// The decodable `v1` entries of a signature header. Other versions, bare `v1,`, truncated or
/// badly padded MACs are skipped: they can never match, and skipping them costs no timing signal.
fn v1_signatures(header: &str) -> Vec<CtOutput<HmacSha256>> {
    header
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter(|encoded| encoded.len() == ENCODED_MAC_LEN)
        .filter_map(|encoded| {
            // Room for the decoder's conservative size estimate; the exact length is checked.
            let mut buf = [0u8; 48];
            match STANDARD.decode_slice(encoded, &mut buf) {
                Ok(32) => Some(CtOutput::new(Output::<HmacSha256>::clone_from_slice(
                    &buf[..32],
                ))),
                _ => None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: &str = "1614265330";
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    fn verify(
        verifier: &Verifier,
        timestamp: &str,
        signature: &str,
        now: u64,
    ) -> Result<(), VerifyError> {
        let headers = SignedHeaders {
            id: ID,
            timestamp,
            signature,
        };
        verifier.verify(&headers, BODY, at(now))
    }

    #[test]
    fn sign_matches_the_published_standard_webhooks_vector() {
        let key = SigningKey::parse(SECRET).unwrap();
        assert_eq!(sign(&key, ID, TS, BODY), SIGNATURE);
    }

    #[test]
    fn a_bare_v1_entry_never_matches() {
        let verifier = Verifier::from_secrets(SECRET).unwrap();
        for header in ["v1,", "v1", "v1, ", " v1,", "v1,="] {
            assert_eq!(
                verify(&verifier, TS, header, 1614265330),
                Err(VerifyError::NoMatchingSignature),
                "{header:?}"
            );
        }
    }

    #[test]
    fn timestamps_must_be_canonical_decimal_seconds() {
        let verifier = Verifier::from_secrets(SECRET).unwrap();
        for ts in [
            "",
            "+1614265330",
            "-1614265330",
            "01614265330",
            "1614265330.0",
            " 1614265330",
            "1e9",
            "99999999999999999999999",
        ] {
            assert_eq!(
                verify(&verifier, ts, SIGNATURE, 1614265330),
                Err(VerifyError::MalformedTimestamp),
                "{ts:?}"
            );
        }
    }

    #[test]
    fn tolerance_is_inclusive_and_configurable() {
        let verifier = Verifier::from_secrets(SECRET).unwrap();
        assert_eq!(verify(&verifier, TS, SIGNATURE, 1614265330 + 300), Ok(()));
        assert_eq!(verify(&verifier, TS, SIGNATURE, 1614265330 - 300), Ok(()));
        assert_eq!(
            verify(&verifier, TS, SIGNATURE, 1614265330 + 301),
            Err(VerifyError::TimestampOutOfTolerance)
        );
        let strict = verifier.with_tolerance(Duration::from_secs(10));
        assert_eq!(
            verify(&strict, TS, SIGNATURE, 1614265330 + 11),
            Err(VerifyError::TimestampOutOfTolerance)
        );
    }

    #[test]
    fn any_of_several_secrets_verifies_during_rotation() {
        let other = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
        let both = Verifier::from_secrets(&format!("{other}\n  {SECRET}")).unwrap();
        assert_eq!(verify(&both, TS, SIGNATURE, 1614265330), Ok(()));
        let only_other = Verifier::from_secrets(other).unwrap();
        assert_eq!(
            verify(&only_other, TS, SIGNATURE, 1614265330),
            Err(VerifyError::NoMatchingSignature)
        );
    }

    fn headers<'a>(timestamp: &'a str, signature: &'a str) -> SignedHeaders<'a> {
        SignedHeaders {
            id: ID,
            timestamp,
            signature,
        }
    }

    #[test]
    fn header_checks_refuse_a_bad_timestamp_without_the_body() {
        let verifier = Verifier::from_secrets(SECRET).unwrap();
        assert_eq!(
            verifier
                .check_headers(&headers("01614265330", SIGNATURE), at(1614265330))
                .unwrap_err(),
            VerifyError::MalformedTimestamp
        );
        assert_eq!(
            verifier
                .check_headers(&headers(TS, SIGNATURE), at(1614265330 + 301))
                .unwrap_err(),
            VerifyError::TimestampOutOfTolerance
        );
    }

    #[test]
    fn header_checks_refuse_a_signature_header_without_a_usable_v1_entry() {
        let verifier = Verifier::from_secrets(SECRET).unwrap();
        let unpadded = SIGNATURE.trim_end_matches('=');
        for header in [
            "v1,".to_owned(),
            SIGNATURE.replacen("v1,", "v2,", 1),
            SIGNATURE.replacen("v1,", "V1,", 1),
            unpadded.to_owned(),
            // 44 characters, but 33 bytes: no HMAC-SHA256 is that long.
            format!("{unpadded}A"),
            format!("v1,{}", "!".repeat(44)),
            format!("{SIGNATURE}A"),
        ] {
            assert_eq!(
                verifier
                    .check_headers(&headers(TS, &header), at(1614265330))
                    .unwrap_err(),
                VerifyError::NoMatchingSignature,
                "{header:?}"
            );
        }
    }

    #[test]
    fn header_checks_keep_only_the_entries_that_could_match() {
        let verifier = Verifier::from_secrets(SECRET).unwrap();
        let wrong = format!("v1,{}=", "A".repeat(43));
        let header = format!("v2,AAAA v1, {wrong} v1,short {SIGNATURE}");
        let checked = verifier
            .check_headers(&headers(TS, &header), at(1614265330))
            .unwrap();
        assert_eq!(checked.candidates(), 2);
        assert_eq!(verifier.verify_body(&checked, BODY), Ok(()));
    }

    #[test]
    fn the_body_step_checks_the_macs_and_utf8_after_the_header_step() {
        let verifier = Verifier::from_secrets(SECRET).unwrap();
        let checked = verifier
            .check_headers(&headers(TS, SIGNATURE), at(1614265330))
            .unwrap();
        assert_eq!(verifier.verify_body(&checked, BODY), Ok(()));
        assert_eq!(
            verifier.verify_body(&checked, br#"{"test": 2432232315}"#),
            Err(VerifyError::NoMatchingSignature)
        );
        let key = SigningKey::parse(SECRET).unwrap();
        let not_utf8 = b"{\"a\": \"\xff\"}";
        let signature = sign(&key, ID, TS, not_utf8);
        let checked = verifier
            .check_headers(&headers(TS, &signature), at(1614265330))
            .unwrap();
        assert_eq!(
            verifier.verify_body(&checked, not_utf8),
            Err(VerifyError::PayloadNotUtf8)
        );
    }

    #[test]
    fn accept_refuses_what_verify_body_refuses_and_keeps_the_body_it_verified() {
        let verifier = Verifier::from_secrets(SECRET).unwrap();
        let checked = verifier
            .check_headers(&headers(TS, SIGNATURE), at(1614265330))
            .unwrap();
        let verified = verifier.accept(&checked, BODY.to_vec()).unwrap();
        assert_eq!((verified.id(), verified.body().as_bytes()), (ID, BODY));
        assert!(!format!("{verified:?}").contains("2432232314"));
        assert_eq!(
            verifier.accept(&checked, br#"{"test": 2432232315}"#.to_vec()),
            Err(VerifyError::NoMatchingSignature)
        );
        let key = SigningKey::parse(SECRET).unwrap();
        let not_utf8 = b"{\"a\": \"\xff\"}";
        let signature = sign(&key, ID, TS, not_utf8);
        let checked = verifier
            .check_headers(&headers(TS, &signature), at(1614265330))
            .unwrap();
        assert_eq!(
            verifier.accept(&checked, not_utf8.to_vec()),
            Err(VerifyError::PayloadNotUtf8)
        );
    }

    #[test]
    fn debug_of_checked_headers_prints_no_mac() {
        let verifier = Verifier::from_secrets(SECRET).unwrap();
        let checked = verifier
            .check_headers(&headers(TS, SIGNATURE), at(1614265330))
            .unwrap();
        let printed = format!("{checked:?}");
        assert!(printed.contains("candidates: 1"), "{printed}");
        assert!(!printed.contains("g0hM9SsE"), "{printed}");
    }

    #[test]
    fn bad_secrets_are_refused() {
        assert_eq!(SigningKey::parse("").unwrap_err(), KeyError::Empty);
        assert_eq!(SigningKey::parse("whsec_").unwrap_err(), KeyError::Empty);
        assert_eq!(
            SigningKey::parse("whsec_not base64!").unwrap_err(),
            KeyError::NotBase64
        );
        assert_eq!(
            Verifier::from_secrets("  \n ").unwrap_err(),
            KeyError::Empty
        );
        assert!(SigningKey::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok());
    }

    #[test]
    fn debug_never_prints_the_key() {
        let verifier = Verifier::from_secrets(SECRET).unwrap();
        let printed = format!("{verifier:?}");
        assert!(printed.contains("[redacted]"), "{printed}");
        assert!(!printed.contains("MfKQ9r8G"), "{printed}");
    }
}
