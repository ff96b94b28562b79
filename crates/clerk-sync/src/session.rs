//! Clerk session tokens, verified without a network call (feature `session`).
//!
//! Clerk signs a short-lived session token (a JWT) for every signed-in browser tab and sends it
//! as the `__session` cookie on same-origin requests, or as `Authorization: Bearer <token>` on
//! cross-origin ones. [`SessionVerifier`] checks it as Clerk's own SDKs do "networkless": RS256
//! only, against the instance's PEM public key (`CLERK_JWT_KEY`), `exp` and `nbf` with a small
//! leeway, and `azp` against the authorized parties (`CLERK_AUTHORIZED_PARTIES`). Both versions
//! of Clerk's claims are read into one [`SessionClaims`]. With feature `jwks`, the keys can come
//! from the instance's JWKS URL instead (`CLERK_JWKS_URL`, [`SessionVerifier::from_jwks`]):
//! fetched on first use, cached by `kid`, fetched again for an unknown `kid` at most once per
//! interval (see `session::jwks`); the checks are the same.
//!
//! [`ClerkSession`] is the Rocket request guard; a route that takes it without a managed
//! [`SessionVerifier`] aborts launch (a Sentinel). A refused token is answered 401 by
//! [`unauthorized`] (register it with [`catchers()`]) with the same message whatever the reason:
//! the reason is logged at debug level only, and the token never.
//!
//! [`SignedIn`] is the same guard plus what is synced about the signed-in user: their
//! [`User`] and, when the token names an active organization, their membership of it, read from
//! the managed [`Store`] (only rows of the verifier's instance when it names one:
//! [`SessionVerifier::with_instance`]). A user whose `user.created` has not arrived yet (or who
//! was deleted) is not an error: the handler gets the claims with `user: None` and can fall back.
//! A read that fails is answered by [`catchers()`] with the library's JSON error too: 503
//! `database_unavailable` or 500 `internal_error`, without detail; so is a JWKS that could not
//! be fetched while no key is cached: 503 `keys_unavailable`.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rocket::http::{ContentType, Status};
use rocket::request::{self, FromRequest, Request};
use rocket::response::{self, Responder};
use rocket::{catch, catchers, Catcher, Ignite, Rocket, Sentinel};
use serde::Deserialize;

use crate::clerk::{OrganizationMembership, User};
use crate::error::{json_body, WebhookError};
use crate::reads::{self, ReadError, Scope, Synced};
use crate::Store;

#[cfg(feature = "jwks")]
pub mod jwks;
#[cfg(feature = "jwks")]
pub use jwks::{JwksSource, JwksUrlError};

/// The cookie Clerk's frontend sets to the session token on your app's own domain.
pub const SESSION_COOKIE: &str = "__session";

/// Allowed clock difference for `exp` and `nbf` unless [`SessionVerifier::with_leeway`] says
/// otherwise. Clerk's tokens live 60 s, so a few seconds is all the skew worth forgiving.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(5);

/// Longest token looked at. Clerk's are under 2 KiB, custom claims included; a larger one is
/// refused before any base64 or JSON work.
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// The one message of every 401: nothing about which check failed.
const UNAUTHORIZED_MESSAGE: &str = "a valid Clerk session token is required";

/// Verifies Clerk session tokens: the public key, the authorized parties and the leeway; and
/// names the Clerk instance whose synced rows [`SignedIn`] reads, when it is scoped to one.
/// `Debug` prints no key material. Cheap to clone (shared).
#[derive(Clone)]
pub struct SessionVerifier(Arc<Inner>);

struct Inner {
    keys: Keys,
    validation: Validation,
    authorized_parties: Vec<String>,
    leeway: Duration,
    instance: Option<String>,
}

impl fmt::Debug for SessionVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut f = f.debug_struct("SessionVerifier");
        match &self.0.keys {
            Keys::Pem(_) => f.field("key", &"[redacted]"),
            #[cfg(feature = "jwks")]
            Keys::Jwks(jwks) => f.field("jwks", jwks),
        };
        f.field("authorized_parties", &self.0.authorized_parties)
            .field("leeway", &self.0.leeway)
            .field("instance", &self.0.instance)
            .finish()
    }
}

/// Where the verifier's keys come from.
#[derive(Clone)]
enum Keys {
    /// One PEM key, whatever the token's `kid`.
    Pem(DecodingKey),
    /// The instance's JWKS, by `kid`.
    #[cfg(feature = "jwks")]
    Jwks(Arc<jwks::JwksCache>),
}

/// Why a public key could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not base64 between the PEM lines.
    #[error("the key is not PEM (base64 between BEGIN/END PUBLIC KEY lines)")]
    NotPem,
    /// PEM, but not an RSA public key in SubjectPublicKeyInfo or PKCS#1 form.
    #[error("the key is not an RSA public key")]
    NotRsa,
}

impl SessionVerifier {
    /// A verifier for the instance whose PEM public key is `pem`, as the Clerk Dashboard shows it
    /// (API keys → JWT public key). Line breaks may be real, written as `\n`, or missing.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let der = rsa_public_key_der(pem)?;
        Ok(Self::with_keys(Keys::Pem(DecodingKey::from_rsa_der(&der))))
    }

    /// A verifier whose keys come from the instance's JWKS (feature `jwks`): fetched on the
    /// first request that needs them (none at construction: no network call here), cached by
    /// `kid`, fetched again for an unknown `kid` at most once per
    /// [`JwksSource::refresh_interval`]. Tokens are checked exactly as with [`from_pem`]; the
    /// guards verify with [`SessionVerifier::verify_fetching`].
    ///
    /// [`from_pem`]: SessionVerifier::from_pem
    #[cfg(feature = "jwks")]
    pub fn from_jwks(source: JwksSource) -> Result<Self, JwksUrlError> {
        Ok(Self::with_keys(Keys::Jwks(Arc::new(source.into_cache()?))))
    }

    /// [`SessionVerifier::from_jwks`] with the default intervals: the key set at `url`
    /// (`https://`, or `http://` to this machine), such as
    /// `https://<your-frontend-api>/.well-known/jwks.json`.
    #[cfg(feature = "jwks")]
    pub fn from_jwks_url(url: &str) -> Result<Self, JwksUrlError> {
        Self::from_jwks(JwksSource::new(url)?)
    }

    fn with_keys(keys: Keys) -> Self {
        let mut validation = Validation::new(Algorithm::RS256);
        // Pinned to RS256: a token whose header names any other algorithm (`none`, HS256 keyed
        // with this public key, ...) is refused before its signature is looked at.
        validation.algorithms = vec![Algorithm::RS256];
        // Times are checked below against an injected clock; Clerk sets no `aud`.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        Self(Arc::new(Inner {
            keys,
            validation,
            authorized_parties: Vec::new(),
            leeway: DEFAULT_LEEWAY,
            instance: None,
        }))
    }

    /// Accepts only tokens whose `azp` is one of `origins` (such as `https://example.com`); a
    /// token without `azp` (Clerk omits it when the request had no `Origin`) still passes, as in
    /// Clerk's SDKs. No origins: any `azp`.
    pub fn with_authorized_parties<I, S>(self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut inner = self.into_inner();
        inner.authorized_parties = origins.into_iter().map(Into::into).collect();
        Self(Arc::new(inner))
    }

    /// The allowed clock difference for `exp` and `nbf`; [`DEFAULT_LEEWAY`] unless set.
    pub fn with_leeway(self, leeway: Duration) -> Self {
        let mut inner = self.into_inner();
        inner.leeway = leeway;
        Self(Arc::new(inner))
    }

    /// Scopes [`SignedIn`] to the Clerk instance `id` (`ins_...`, the `instance_id` of its
    /// webhooks): the synced user and membership are read only from rows that instance wrote
    /// ([`Scope::instance`]), so a development and a production instance can share a database.
    /// Unscoped (the default), rows of any instance are read. The token itself is checked the
    /// same way either way: its key is what ties it to an instance.
    pub fn with_instance(self, id: impl Into<String>) -> Self {
        let mut inner = self.into_inner();
        inner.instance = Some(id.into());
        Self(Arc::new(inner))
    }

    /// The authorized parties in force; empty means any.
    pub fn authorized_parties(&self) -> &[String] {
        &self.0.authorized_parties
    }

    /// The Clerk instance [`SignedIn`] reads from, when scoped to one
    /// ([`SessionVerifier::with_instance`]).
    pub fn instance(&self) -> Option<&str> {
        self.0.instance.as_deref()
    }

    /// The read [`Scope`] of this verifier's instance: [`Scope::instance`] when it names one,
    /// otherwise [`Scope::default`] (any instance). Deleted objects are skipped. For a handler's
    /// own [`reads`] to see what [`SignedIn`] sees.
    pub fn scope(&self) -> Scope<'_> {
        self.instance().map_or_else(Scope::default, Scope::instance)
    }

    fn into_inner(self) -> Inner {
        match Arc::try_unwrap(self.0) {
            Ok(inner) => inner,
            Err(shared) => Inner {
                keys: shared.keys.clone(),
                validation: shared.validation.clone(),
                authorized_parties: shared.authorized_parties.clone(),
                leeway: shared.leeway,
                instance: shared.instance.clone(),
            },
        }
    }

    /// Verifies `token` at time `now`: signature (RS256 with our key), `exp`, `nbf`, `azp`, and
    /// the claims Clerk always sets (`sub`, `sid`). A pending session passes: see
    /// [`SessionClaims::is_pending`].
    ///
    /// Never a network call: a JWKS verifier (feature `jwks`) uses the keys cached so far, and
    /// refuses a token whose `kid` is not among them ([`SessionError::UnknownKey`]), or any token
    /// while none is cached ([`SessionError::KeysUnavailable`]).
    /// [`SessionVerifier::verify_fetching`] fetches them.
    pub fn verify(&self, token: &str, now: SystemTime) -> Result<SessionClaims, SessionError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(SessionError::Malformed);
        }
        match &self.0.keys {
            Keys::Pem(key) => self.check(token, key, now),
            #[cfg(feature = "jwks")]
            Keys::Jwks(jwks) => {
                let kid = jwks::token_kid(token)?;
                self.check(token, &*jwks.cached(kid.as_deref())?, now)
            }
        }
    }

    /// [`SessionVerifier::verify`], except that a JWKS verifier (feature `jwks`) first fetches
    /// its key set when none is cached or the token names a `kid` it does not know (at most once
    /// per interval, one fetch at a time: see `session::jwks`). The guards verify with this. A
    /// PEM verifier does exactly what `verify` does.
    pub async fn verify_fetching(
        &self,
        token: &str,
        now: SystemTime,
    ) -> Result<SessionClaims, SessionError> {
        match &self.0.keys {
            Keys::Pem(_) => self.verify(token, now),
            #[cfg(feature = "jwks")]
            Keys::Jwks(jwks) => {
                if token.len() > MAX_TOKEN_LEN {
                    return Err(SessionError::Malformed);
                }
                let kid = jwks::token_kid(token)?;
                self.check(token, &*jwks.key(kid.as_deref()).await?, now)
            }
        }
    }

    /// Every check of a token but the choice of its key.
    fn check(
        &self,
        token: &str,
        key: &DecodingKey,
        now: SystemTime,
    ) -> Result<SessionClaims, SessionError> {
        let decoded =
            jsonwebtoken::decode::<RawClaims>(token, key, &self.0.validation).map_err(|err| {
                use jsonwebtoken::errors::ErrorKind;
                match err.kind() {
                    ErrorKind::InvalidSignature => SessionError::BadSignature,
                    ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                        SessionError::WrongAlgorithm
                    }
                    // Everything else, including a header whose alg the crate does not know
                    // (`none`), which fails to parse as a header.
                    _ => SessionError::Malformed,
                }
            })?;
        // As Clerk's SDKs: a `typ`, when present, says JWT.
        if decoded
            .header
            .typ
            .as_deref()
            .is_some_and(|typ| typ != "JWT")
        {
            return Err(SessionError::Malformed);
        }
        let raw = decoded.claims;
        let now = seconds(now);
        let leeway = i64::try_from(self.0.leeway.as_secs()).unwrap_or(i64::MAX);
        if raw.exp.saturating_add(leeway) <= now {
            return Err(SessionError::Expired);
        }
        // A token issued in the future is as suspect as one not valid yet (Clerk's SDKs check
        // `iat` too).
        let ahead = |at: Option<i64>| at.is_some_and(|at| at.saturating_sub(leeway) > now);
        if ahead(raw.nbf) || ahead(raw.iat) {
            return Err(SessionError::NotYetValid);
        }
        let parties = &self.0.authorized_parties;
        if let Some(azp) = &raw.azp {
            if !parties.is_empty() && !parties.iter().any(|party| party == azp) {
                return Err(SessionError::UnauthorizedParty);
            }
        }
        SessionClaims::from_raw(raw)
    }
}

/// Seconds since the Unix epoch; a clock before 1970 counts as 0.
fn seconds(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn time(seconds: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(seconds).unwrap_or(0))
}

/// Why a token was refused. Every reason is answered with the same 401; this is for debug logs
/// and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// Neither the `__session` cookie nor an `Authorization: Bearer` header.
    #[error("no session token")]
    Missing,
    /// Not a JWT, not JSON, too long, or missing a claim Clerk always sets.
    #[error("the token is malformed")]
    Malformed,
    /// The header names an algorithm other than RS256.
    #[error("the token is not signed with RS256")]
    WrongAlgorithm,
    /// The signature does not match our key (another instance's token, or a tampered one).
    #[error("the signature does not match the key")]
    BadSignature,
    /// `exp` has passed (beyond the leeway).
    #[error("the token has expired")]
    Expired,
    /// `nbf` or `iat` is still ahead (beyond the leeway).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `azp` is not one of the authorized parties.
    #[error("the token's authorized party is not allowed")]
    UnauthorizedParty,
    /// The session still has a task to complete (`sts: pending`); [`ClerkSession`] treats it as
    /// signed out, as Clerk's SDKs do by default.
    #[error("the session is pending")]
    Pending,
    /// No [`SessionVerifier`] is managed (a Sentinel prevents this at launch).
    #[error("no session verifier is configured")]
    NotConfigured,
    /// The token names a `kid` that is not in the JWKS, even after fetching it again (or it
    /// names none and the JWKS holds several keys). Only with a JWKS verifier (feature `jwks`).
    #[error("the token's key is not in the key set")]
    UnknownKey,
    /// No key could be fetched from the JWKS URL yet (unreachable, not 200, not a key set): the
    /// guards answer 503, and a later request tries again. Only with a JWKS verifier (feature
    /// `jwks`).
    #[error("the session keys could not be fetched")]
    KeysUnavailable,
}

/// The version of Clerk's session token claims a token was issued with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimsVersion {
    /// Version 1: `org_id`, `org_role`, `org_slug`, `org_permissions` (deprecated April 2025).
    V1,
    /// Version 2 (`v: 2`): the active organization as the `o` object.
    V2,
}

/// The organization a session has active, read from either claims version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveOrganization {
    /// The organization's id (`org_...`): `org_id`, or `o.id`.
    pub id: String,
    /// Its slug: `org_slug`, or `o.slg`.
    pub slug: Option<String>,
    /// The member's role, always with its `org:` prefix (`org:admin`): `org_role`, or `o.rol`
    /// prefixed as Clerk's SDKs do.
    pub role: Option<String>,
    /// The member's permissions, in Clerk's full form (`org:feature:permission`):
    /// `org_permissions`, or rebuilt from `fea`, `o.per` and the `o.fpm` bitmasks.
    pub permissions: Vec<String>,
}

impl ActiveOrganization {
    /// Whether the member holds `permission` (full form, `org:feature:permission`).
    pub fn has_permission(&self, permission: &str) -> bool {
        self.permissions.iter().any(|held| held == permission)
    }
}

/// The verified claims of a Clerk session token: who is signed in, in which session, from which
/// origin, and with which organization active, whatever the claims version.
///
/// Everything needed to look the user up in the synced tables: [`SessionClaims::user_id`] is a
/// `clerk.users` id and [`SessionClaims::org`] names a `clerk.organizations` id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionClaims {
    user_id: String,
    session_id: String,
    authorized_party: Option<String>,
    issuer: Option<String>,
    issued_at: Option<SystemTime>,
    expires_at: SystemTime,
    not_before: Option<SystemTime>,
    version: ClaimsVersion,
    org: Option<ActiveOrganization>,
    factor_verification_age: Option<(i64, i64)>,
    pending: bool,
}

impl SessionClaims {
    /// The signed-in user's id (`sub`, `user_...`).
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// The session's id (`sid`, `sess_...`).
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// The origin the token was minted for (`azp`), when Clerk set one.
    pub fn authorized_party(&self) -> Option<&str> {
        self.authorized_party.as_deref()
    }

    /// The instance's Frontend API URL (`iss`).
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// When the token was issued (`iat`).
    pub fn issued_at(&self) -> Option<SystemTime> {
        self.issued_at
    }

    /// When the token expires (`exp`).
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }

    /// Before when the token is not valid (`nbf`).
    pub fn not_before(&self) -> Option<SystemTime> {
        self.not_before
    }

    /// The claims version the token was issued with.
    pub fn version(&self) -> ClaimsVersion {
        self.version
    }

    /// The active organization, if the session has one.
    pub fn org(&self) -> Option<&ActiveOrganization> {
        self.org.as_ref()
    }

    /// Minutes since the first and the second factor were verified (`fva`); -1 for a factor
    /// never verified (or absent).
    pub fn factor_verification_age(&self) -> Option<(i64, i64)> {
        self.factor_verification_age
    }

    /// Whether the session is pending (`sts: pending`): signed in, with a task still to do (such
    /// as choosing an organization).
    pub fn is_pending(&self) -> bool {
        self.pending
    }

    fn from_raw(raw: RawClaims) -> Result<Self, SessionError> {
        if raw.sub.is_empty() || raw.sid.is_empty() {
            return Err(SessionError::Malformed);
        }
        let (version, org) = match raw.v {
            Some(2) => (
                ClaimsVersion::V2,
                raw.o.map(|o| o.into_org(raw.fea.as_deref())),
            ),
            _ => (
                ClaimsVersion::V1,
                raw.org_id.map(|id| ActiveOrganization {
                    id,
                    slug: raw.org_slug,
                    role: raw.org_role,
                    permissions: raw.org_permissions.unwrap_or_default(),
                }),
            ),
        };
        Ok(Self {
            user_id: raw.sub,
            session_id: raw.sid,
            authorized_party: raw.azp,
            issuer: raw.iss,
            issued_at: raw.iat.map(time),
            expires_at: time(raw.exp),
            not_before: raw.nbf.map(time),
            version,
            org: org.filter(|org| !org.id.is_empty()),
            factor_verification_age: raw.fva,
            pending: raw.sts.as_deref() == Some("pending"),
        })
    }
}

/// The claims as Clerk writes them, both versions; unknown claims (custom ones) are ignored.
#[derive(Deserialize)]
struct RawClaims {
    sub: String,
    sid: String,
    exp: i64,
    nbf: Option<i64>,
    iat: Option<i64>,
    azp: Option<String>,
    iss: Option<String>,
    v: Option<u8>,
    fva: Option<(i64, i64)>,
    sts: Option<String>,
    fea: Option<String>,
    o: Option<RawOrg>,
    org_id: Option<String>,
    org_role: Option<String>,
    org_slug: Option<String>,
    org_permissions: Option<Vec<String>>,
}

/// Version 2's `o` claim.
#[derive(Deserialize)]
struct RawOrg {
    id: String,
    rol: Option<String>,
    slg: Option<String>,
    per: Option<String>,
    fpm: Option<String>,
}

impl RawOrg {
    /// Rebuilds the full permissions as Clerk's SDKs do: the n-th integer of `fpm` is a bitmask
    /// over `per` (least significant bit = first permission) for the n-th organization feature
    /// of `fea`.
    fn into_org(self, fea: Option<&str>) -> ActiveOrganization {
        let features: Vec<&str> = fea
            .unwrap_or("")
            .split(',')
            .filter_map(|entry| {
                let (scope, feature) = entry.trim().split_once(':')?;
                scope.contains('o').then_some(feature)
            })
            .collect();
        let per: Vec<&str> = list(self.per.as_deref());
        let masks = list(self.fpm.as_deref());
        let mut permissions = Vec::new();
        for (feature, mask) in features.iter().zip(masks) {
            let Ok(mask) = mask.parse::<u64>() else {
                continue;
            };
            for (bit, permission) in per.iter().enumerate().take(64) {
                if mask & (1 << bit) != 0 {
                    permissions.push(format!("org:{feature}:{permission}"));
                }
            }
        }
        ActiveOrganization {
            id: self.id,
            slug: self.slg,
            role: self.rol.map(|role| format!("org:{role}")),
            permissions,
        }
    }
}

/// A comma-separated claim as its non-empty entries.
fn list(value: Option<&str>) -> Vec<&str> {
    value
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .collect()
}

/// The DER of an RSA public key (PKCS#1 `RSAPublicKey`, as `ring` takes it) from PEM text in
/// SubjectPublicKeyInfo (`BEGIN PUBLIC KEY`, what Clerk shows) or PKCS#1 (`BEGIN RSA PUBLIC
/// KEY`) form. Parsed by hand: the `pem` feature of `jsonwebtoken` would add two crates for this.
fn rsa_public_key_der(pem: &str) -> Result<Vec<u8>, KeyError> {
    let pkcs1 = pem.contains("BEGIN RSA PUBLIC KEY");
    let body: String = pem
        .replace("\\n", "\n")
        .lines()
        .filter(|line| !line.trim_start().starts_with("-----"))
        .flat_map(|line| line.chars().filter(|c| !c.is_whitespace()))
        .collect();
    // A single-line key has its BEGIN/END markers on the same line as the base64.
    let body = body
        .trim_start_matches("-----BEGINPUBLICKEY-----")
        .trim_end_matches("-----ENDPUBLICKEY-----");
    let der = BASE64.decode(body).map_err(|_| KeyError::NotPem)?;
    let rsa = if pkcs1 { der } else { spki_rsa_key(&der)? };
    // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
    let (tag, fields, rest) = der_item(&rsa).ok_or(KeyError::NotRsa)?;
    let (n_tag, _, fields) = der_item(fields).ok_or(KeyError::NotRsa)?;
    let (e_tag, _, fields) = der_item(fields).ok_or(KeyError::NotRsa)?;
    if tag != 0x30 || n_tag != 0x02 || e_tag != 0x02 || !fields.is_empty() || !rest.is_empty() {
        return Err(KeyError::NotRsa);
    }
    Ok(rsa)
}

/// The RSAPublicKey inside a SubjectPublicKeyInfo whose algorithm is rsaEncryption.
fn spki_rsa_key(der: &[u8]) -> Result<Vec<u8>, KeyError> {
    // 1.2.840.113549.1.1.1
    const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    let (tag, spki, _) = der_item(der).ok_or(KeyError::NotRsa)?;
    let (alg_tag, algorithm, rest) = der_item(spki).ok_or(KeyError::NotRsa)?;
    let (oid_tag, oid, _) = der_item(algorithm).ok_or(KeyError::NotRsa)?;
    let (bits_tag, bits, _) = der_item(rest).ok_or(KeyError::NotRsa)?;
    if tag != 0x30
        || alg_tag != 0x30
        || oid_tag != 0x06
        || oid != RSA_ENCRYPTION
        || bits_tag != 0x03
    {
        return Err(KeyError::NotRsa);
    }
    // A BIT STRING's first byte counts unused bits: 0 for a key.
    match bits.split_first() {
        Some((0, key)) => Ok(key.to_vec()),
        _ => Err(KeyError::NotRsa),
    }
}

/// One DER item: its tag, its contents and what follows it.
fn der_item(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        let len = bytes
            .iter()
            .fold(0usize, |len, &b| (len << 8) | usize::from(b));
        (len, rest)
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// A request from a signed-in user, as a Rocket request guard: the session token (the
/// `Authorization: Bearer` header, else the `__session` cookie) was verified by the managed
/// [`SessionVerifier`] and the session is not pending. Read the claims through `Deref`.
///
/// ```no_run
/// use clerk_sync::session::ClerkSession;
///
/// #[rocket::get("/whoami")]
/// fn whoami(session: ClerkSession) -> String {
///     match session.org() {
///         Some(org) => format!("{} in {}", session.user_id(), org.id),
///         None => session.user_id().to_owned(),
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct ClerkSession(SessionClaims);

impl ClerkSession {
    /// The verified claims.
    pub fn claims(&self) -> &SessionClaims {
        &self.0
    }

    /// The verified claims, owned.
    pub fn into_claims(self) -> SessionClaims {
        self.0
    }
}

impl Deref for ClerkSession {
    type Target = SessionClaims;

    fn deref(&self) -> &SessionClaims {
        &self.0
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for ClerkSession {
    type Error = SessionError;

    async fn from_request(req: &'r Request<'_>) -> request::Outcome<Self, Self::Error> {
        match authenticate(req).await {
            Ok(claims) => request::Outcome::Success(ClerkSession(claims)),
            Err(SessionError::NotConfigured) => {
                record(req, Failure::Internal);
                request::Outcome::Error((Status::InternalServerError, SessionError::NotConfigured))
            }
            Err(SessionError::KeysUnavailable) => {
                // Why is logged where the fetch failed; the token never.
                record(req, Failure::Keys);
                request::Outcome::Error((Status::ServiceUnavailable, SessionError::KeysUnavailable))
            }
            Err(err) => {
                // The reason only, at debug level: never the token, and nothing a client sees.
                tracing::debug!(reason = %err, "session token refused");
                request::Outcome::Error((Status::Unauthorized, err))
            }
        }
    }
}

async fn authenticate(req: &Request<'_>) -> Result<SessionClaims, SessionError> {
    let verifier = req
        .rocket()
        .state::<SessionVerifier>()
        .ok_or(SessionError::NotConfigured)?;
    let token = bearer(req)
        .or_else(|| req.cookies().get(SESSION_COOKIE).map(|c| c.value()))
        .filter(|token| !token.is_empty())
        .ok_or(SessionError::Missing)?;
    let claims = verifier.verify_fetching(token, SystemTime::now()).await?;
    if claims.is_pending() {
        return Err(SessionError::Pending);
    }
    Ok(claims)
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
fn bearer<'r>(req: &'r Request<'_>) -> Option<&'r str> {
    let value = req.headers().get_one("Authorization")?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// A route that takes a `ClerkSession` cannot work without a [`SessionVerifier`] in managed
/// state, so launch is aborted instead of every request failing.
impl Sentinel for ClerkSession {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        let missing = rocket.state::<SessionVerifier>().is_none();
        if missing {
            tracing::error!(
                "a route takes a ClerkSession but no session::SessionVerifier is managed: \
                 set CLERK_JWT_KEY (or CLERK_JWKS_URL) and attach clerk_sync::stage(..), or .manage(verifier)"
            );
        }
        missing
    }
}

/// A signed-in user with what is synced about them, as a Rocket request guard: the verified
/// claims (exactly as [`ClerkSession`] checks them, and refused with the same 401), the user from
/// `clerk.users`, and their membership of the token's active organization. Read the claims
/// through `Deref`.
///
/// Two reads of the managed [`Store`]'s pool, in the managed verifier's [`Scope`]
/// ([`SessionVerifier::scope`]: its instance when [`SessionVerifier::with_instance`] names one,
/// otherwise any instance; deleted rows skipped): [`reads::user`], and
/// [`reads::memberships_of_user`] only when the token names an organization. The user is `None`
/// while their `user.created` has not arrived (the webhook can be seconds behind the sign-in),
/// after their `user.deleted`, and when only another instance synced them; the membership is
/// `None` when none is synced for that organization. A failing database is a 503 with no detail
/// (the error is logged, the token never); a stored payload that no longer fits its type is a
/// 500. [`catchers()`] answers both with the library's JSON error body.
///
/// ```no_run
/// use clerk_sync::session::SignedIn;
///
/// #[rocket::get("/hello")]
/// fn hello(signed_in: SignedIn) -> String {
///     match &signed_in.user {
///         Some(user) => format!("hello {}", user.first_name.as_deref().unwrap_or("there")),
///         // Signed in seconds ago: the webhook has not delivered the user yet.
///         None => format!("hello {}", signed_in.user_id()),
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The verified claims.
    pub claims: SessionClaims,
    /// The synced user, when their `user.created` has arrived (from the verifier's instance, when
    /// it is scoped to one) and they are not deleted.
    pub user: Option<Synced<User>>,
    /// The user's synced membership of the active organization ([`SessionClaims::org`]), when
    /// the token names one and the membership is synced.
    pub membership: Option<Synced<OrganizationMembership>>,
}

impl Deref for SignedIn {
    type Target = SessionClaims;

    fn deref(&self) -> &SessionClaims {
        &self.claims
    }
}

/// Why a [`SignedIn`] guard failed.
#[derive(Debug, thiserror::Error)]
pub enum SignedInError {
    /// The token was refused (401), or no verifier is managed (500).
    #[error(transparent)]
    Session(#[from] SessionError),
    /// No [`Store`] is managed: the sync stage is not attached (a Sentinel prevents this at
    /// launch).
    #[error("no clerk_sync::Store is managed")]
    NoStore,
    /// Reading the synced user or membership failed (503 for the database, 500 for a payload).
    #[error("reading the synced user failed: {0}")]
    Read(#[source] ReadError),
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for SignedIn {
    type Error = SignedInError;

    async fn from_request(req: &'r Request<'_>) -> request::Outcome<Self, Self::Error> {
        let claims = match ClerkSession::from_request(req).await {
            request::Outcome::Success(session) => session.into_claims(),
            request::Outcome::Error((status, err)) => {
                return request::Outcome::Error((status, err.into()))
            }
            request::Outcome::Forward(status) => return request::Outcome::Forward(status),
        };
        let (Some(store), Some(verifier)) = (
            req.rocket().state::<Store>(),
            req.rocket().state::<SessionVerifier>(),
        ) else {
            record(req, Failure::Internal);
            return request::Outcome::Error((Status::InternalServerError, SignedInError::NoStore));
        };
        match load(&store.pool, claims, verifier.scope()).await {
            Ok(signed_in) => request::Outcome::Success(signed_in),
            Err(err) => {
                let (status, failure) = match err {
                    ReadError::Database(_) => (Status::ServiceUnavailable, Failure::Database),
                    ReadError::Payload(_) => (Status::InternalServerError, Failure::Internal),
                };
                record(req, failure);
                tracing::error!(error = %err, "the signed-in user could not be read");
                request::Outcome::Error((status, SignedInError::Read(err)))
            }
        }
    }
}

async fn load(
    pool: &sqlx::PgPool,
    claims: SessionClaims,
    scope: Scope<'_>,
) -> Result<SignedIn, ReadError> {
    let user = reads::user(pool, claims.user_id(), scope);
    let membership = async {
        let Some(org) = claims.org() else {
            return Ok(None);
        };
        let memberships = reads::memberships_of_user(pool, claims.user_id(), scope).await?;
        Ok::<_, ReadError>(
            memberships
                .into_iter()
                .find(|membership| membership.organization_id() == Some(org.id.as_str())),
        )
    };
    let (user, membership) = rocket::tokio::try_join!(user, membership)?;
    Ok(SignedIn {
        claims,
        user,
        membership,
    })
}

/// A route that takes a `SignedIn` needs a [`SessionVerifier`] and the sync's [`Store`] in
/// managed state; without either, launch is aborted.
impl Sentinel for SignedIn {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        if ClerkSession::abort(rocket) {
            return true;
        }
        let missing = rocket.state::<Store>().is_none();
        if missing {
            tracing::error!(
                "a route takes a SignedIn but no clerk_sync::Store is managed: attach \
                 clerk_sync::stage(..) (or .manage(Store {{ pool }}))"
            );
        }
        missing
    }
}

/// The 401 answer: `{"error": "unauthorized", "message": ...}` with `WWW-Authenticate: Bearer`,
/// the same whatever was wrong with the token. Also a handler's own answer when the signed-in
/// user may not do something.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unauthorized;

impl<'r> Responder<'r, 'static> for Unauthorized {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        let mut response = json_body(Status::Unauthorized, "unauthorized", UNAUTHORIZED_MESSAGE)
            .respond_to(req)?;
        response.set_raw_header("WWW-Authenticate", "Bearer");
        Ok(response)
    }
}

/// The catcher for 401, answering [`Unauthorized`].
#[catch(401)]
pub fn unauthorized() -> Unauthorized {
    Unauthorized
}

/// Why a guard of this module failed with a 5xx, kept for the catchers (Rocket 0.5 does not pass
/// a request guard's error to catchers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// The database failed: 503.
    Database,
    /// A stored payload does not fit its type, or the guard's state is missing: 500.
    Internal,
    /// No session key could be fetched from the JWKS URL: 503.
    Keys,
}

#[derive(Debug, Default)]
struct Failed(Option<Failure>);

fn record(req: &Request<'_>, failure: Failure) {
    req.local_cache(|| Failed(Some(failure)));
}

/// The JSON answer of a 5xx: the library's error body (`{"error": code, "message": ...}`, as the
/// webhook endpoint answers), with nothing from the error itself. A 5xx the guards did not cause
/// (a handler's own) gets the status's reason with the code `http_error`.
fn server_error(status: Status, req: &Request<'_>) -> (Status, (ContentType, String)) {
    let err = match req.local_cache(Failed::default).0 {
        Some(Failure::Database) => WebhookError::DatabaseUnavailable,
        Some(Failure::Internal) => WebhookError::Internal,
        Some(Failure::Keys) => {
            return json_body(
                Status::ServiceUnavailable,
                "keys_unavailable",
                "the session keys could not be fetched; retry later",
            )
        }
        None => return json_body(status, "http_error", status.reason_lossy()),
    };
    json_body(err.status(), err.code(), &err.to_string())
}

/// The catcher for 503: `{"error": "database_unavailable", "message": "the database is
/// unavailable; retry later"}` when [`SignedIn`] could not read the database, and
/// `{"error": "keys_unavailable", "message": "the session keys could not be fetched; retry
/// later"}` when a JWKS verifier has no key yet and could not fetch one.
#[catch(503)]
pub fn unavailable(status: Status, req: &Request<'_>) -> (Status, (ContentType, String)) {
    server_error(status, req)
}

/// The catcher for 500: `{"error": "internal_error", "message": "internal error"}` when
/// [`SignedIn`] read a payload that no longer fits its type (or its state is missing).
#[catch(500)]
pub fn internal_error(status: Status, req: &Request<'_>) -> (Status, (ContentType, String)) {
    server_error(status, req)
}

/// The catchers that answer the session guards' failures with JSON: a refused token (401,
/// [`unauthorized`]) and a [`SignedIn`] whose read failed (503 [`unavailable`], 500
/// [`internal_error`]). Register them where the routes that take the guards are mounted,
/// `.register("/", clerk_sync::session::catchers())`; other 500 and 503 answers under that base
/// become JSON too (`{"error": "http_error", "message": "Service Unavailable"}`).
pub fn catchers() -> Vec<Catcher> {
    catchers![unauthorized, unavailable, internal_error]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths_in_long_form_are_read() {
        let mut item = vec![0x04, 0x81, 200];
        item.extend([7u8; 200]);
        item.push(0xff);
        let (tag, contents, rest) = der_item(&item).unwrap();
        assert_eq!((tag, contents.len(), rest), (0x04, 200, &[0xff][..]));
        assert_eq!(der_item(&[0x04, 0x05, 1, 2]), None);
    }

    #[test]
    fn text_that_is_not_a_key_is_refused() {
        assert_eq!(
            SessionVerifier::from_pem("not a key !").unwrap_err(),
            KeyError::NotPem
        );
        let not_rsa = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----",
            BASE64.encode([0x30, 0x03, 0x02, 0x01, 0x01])
        );
        assert_eq!(
            SessionVerifier::from_pem(&not_rsa).unwrap_err(),
            KeyError::NotRsa
        );
    }

    #[test]
    fn version_2_permissions_are_rebuilt_from_the_feature_bitmasks() {
        // Clerk's documented example: role admin with dashboard:read, dashboard:manage, teams:read.
        let org = RawOrg {
            id: "org_1".into(),
            rol: Some("admin".into()),
            slg: Some("acme".into()),
            per: Some("manage,read".into()),
            fpm: Some("3,2".into()),
        }
        .into_org(Some("o:dashboard,o:teams"));
        assert_eq!(org.role.as_deref(), Some("org:admin"));
        assert_eq!(
            org.permissions,
            [
                "org:dashboard:manage",
                "org:dashboard:read",
                "org:teams:read"
            ]
        );
        assert!(!org.has_permission("org:teams:manage"));
    }

    #[test]
    fn user_features_do_not_count_for_the_organization() {
        let org = RawOrg {
            id: "org_1".into(),
            rol: None,
            slg: None,
            per: Some("read".into()),
            fpm: Some("1,1".into()),
        }
        .into_org(Some("u:billing,uo:reports"));
        assert_eq!(org.permissions, ["org:reports:read"]);
    }
}
