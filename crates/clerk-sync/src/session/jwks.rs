//! Session keys from the instance's JWKS URL (feature `jwks`), for
//! [`SessionVerifier::from_jwks`](super::SessionVerifier::from_jwks).
//!
//! The key set (RFC 7517) is fetched on first use, not at start: building the verifier makes no
//! network call, so a service whose Clerk is briefly unreachable still starts and syncs webhooks,
//! and only requests that need a session wait for the keys. The keys are then cached by `kid`.
//! A token naming a `kid` not in the cache makes the verifier fetch the set again, but never
//! concurrently (one fetch in flight; the requests that wait for it use its result) and at most
//! once per [`JwksSource::refresh_interval`] after a successful fetch (once per
//! [`JwksSource::retry_interval`] after a failed one): a flood of tokens with made-up kids costs
//! Clerk one request per interval. A kid still unknown after that is refused like any bad token;
//! while no key could ever be fetched, requests are answered 503 and a later one tries again.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey};
use reqwest::Url;
use rocket::tokio::sync::Mutex;
use serde::Deserialize;
use serde_json::Value;

use super::SessionError;

/// Least time between two fetches of the key set made for an unknown `kid`, after a successful
/// fetch, unless [`JwksSource::refresh_interval`] says otherwise.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// Least time between two fetches after a failed one (unreachable, not 200, not a key set, no
/// usable key), unless [`JwksSource::retry_interval`] says otherwise.
pub const DEFAULT_RETRY_INTERVAL: Duration = Duration::from_secs(10);
/// Longest one fetch may take, connection included; the requests waiting for it wait as long.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest key set read. Clerk's holds one or two keys, under 2 KiB.
const MAX_JWKS_LEN: usize = 64 * 1024;

/// Where the keys come from and how often they may be fetched again.
#[derive(Debug, Clone)]
pub struct JwksSource {
    url: Url,
    refresh_interval: Duration,
    retry_interval: Duration,
}

/// Why a JWKS URL cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksUrlError {
    /// Not an absolute URL.
    #[error("the JWKS URL is not an absolute URL")]
    NotUrl,
    /// Neither `https://` nor `http://` to this machine (`localhost`, `127.0.0.1`, `[::1]`): the
    /// keys must not be readable or replaceable on the way.
    #[error("the JWKS URL must be https:// (http:// only for localhost or 127.0.0.1)")]
    NotHttps,
    /// The HTTP client could not be built (its TLS roots).
    #[error("the HTTP client for the JWKS URL could not be built")]
    Client,
}

impl JwksSource {
    /// The key set at `url`, such as `https://<your-frontend-api>/.well-known/jwks.json` (the
    /// Clerk Dashboard, API keys, shows it). Only `https://`, or `http://` to this machine for
    /// tests and local development.
    pub fn new(url: &str) -> Result<Self, JwksUrlError> {
        let url = Url::parse(url.trim()).map_err(|_| JwksUrlError::NotUrl)?;
        let local = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
        match url.scheme() {
            "https" => {}
            "http" if local => {}
            _ => return Err(JwksUrlError::NotHttps),
        }
        Ok(Self {
            url,
            refresh_interval: DEFAULT_REFRESH_INTERVAL,
            retry_interval: DEFAULT_RETRY_INTERVAL,
        })
    }

    /// Least time between two fetches for an unknown `kid` after a successful fetch;
    /// [`DEFAULT_REFRESH_INTERVAL`] unless set.
    pub fn refresh_interval(mut self, interval: Duration) -> Self {
        self.refresh_interval = interval;
        self
    }

    /// Least time between two fetches after a failed one; [`DEFAULT_RETRY_INTERVAL`] unless set.
    pub fn retry_interval(mut self, interval: Duration) -> Self {
        self.retry_interval = interval;
        self
    }

    /// The key set's URL.
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    pub(super) fn into_cache(self) -> Result<JwksCache, JwksUrlError> {
        let https_only = self.url.scheme() == "https";
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(FETCH_TIMEOUT)
            // A redirect could leave https or this host: the URL is the one configured.
            .redirect(reqwest::redirect::Policy::none())
            .https_only(https_only)
            .build()
            .map_err(|_| JwksUrlError::Client)?;
        Ok(JwksCache {
            source: self,
            client,
            keys: RwLock::new(Arc::new(KeySet::default())),
            attempts: AtomicU64::new(0),
            fetch: Mutex::new(None),
        })
    }
}

/// The cached keys and the one fetch in flight.
pub(super) struct JwksCache {
    source: JwksSource,
    client: reqwest::Client,
    /// The keys of the last successful fetch; swapped whole.
    keys: RwLock<Arc<KeySet>>,
    /// Fetches attempted so far, to tell a waiting request that one happened while it waited.
    attempts: AtomicU64,
    /// When the last fetch was attempted and whether it succeeded; held across a fetch, so at
    /// most one is in flight.
    fetch: Mutex<Option<(Instant, bool)>>,
}

impl fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwks")
            .field("url", &self.source.url.as_str())
            .field("refresh_interval", &self.source.refresh_interval)
            .field("retry_interval", &self.source.retry_interval)
            .finish()
    }
}

impl JwksCache {
    fn snapshot(&self) -> Arc<KeySet> {
        Arc::clone(
            &self
                .keys
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    /// The cached key for `kid`, without fetching.
    pub(super) fn cached(&self, kid: Option<&str>) -> Result<Arc<DecodingKey>, SessionError> {
        self.snapshot().find(kid)
    }

    /// The key for `kid`, fetching the key set first when nothing is cached or `kid` is unknown,
    /// as the module documentation says.
    pub(super) async fn key(&self, kid: Option<&str>) -> Result<Arc<DecodingKey>, SessionError> {
        let attempts = self.attempts.load(Ordering::Acquire);
        match self.snapshot().find(kid) {
            // A kid-less token with several keys: no fetch can tell which.
            Ok(key) => return Ok(key),
            Err(SessionError::UnknownKey) if kid.is_none() => return Err(SessionError::UnknownKey),
            Err(_) => {}
        }
        let mut last = self.fetch.lock().await;
        // A fetch that happened while this request waited is the one it would have made.
        let fetched_meanwhile = self.attempts.load(Ordering::Acquire) != attempts;
        let due = last.is_none_or(|(at, ok)| {
            let wait = if ok {
                self.source.refresh_interval
            } else {
                self.source.retry_interval
            };
            at.elapsed() >= wait
        });
        if !fetched_meanwhile && due {
            let ok = self.refresh().await;
            *last = Some((Instant::now(), ok));
            self.attempts.fetch_add(1, Ordering::Release);
        }
        drop(last);
        self.cached(kid)
    }

    /// Fetches the key set and caches it; whether that worked. A failure is logged (the URL and
    /// why) and keeps the keys cached before it.
    async fn refresh(&self) -> bool {
        match self.fetch_keys().await {
            Ok(set) => {
                let count = set.keys.len();
                *self
                    .keys
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(set);
                tracing::info!(url = %self.source.url, keys = count, "session keys fetched");
                true
            }
            Err(err) => {
                tracing::warn!(url = %self.source.url, error = %err, "the session keys could not be fetched");
                false
            }
        }
    }

    async fn fetch_keys(&self) -> Result<KeySet, FetchError> {
        let mut response = self
            .client
            .get(self.source.url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(FetchError::Http)?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(FetchError::Status(response.status().as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(FetchError::Http)? {
            if body.len() + chunk.len() > MAX_JWKS_LEN {
                return Err(FetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        let document: JwkSet = serde_json::from_slice(&body).map_err(|_| FetchError::NotJwks)?;
        let set = KeySet::from_document(document);
        if set.keys.is_empty() {
            return Err(FetchError::NoUsableKey);
        }
        Ok(set)
    }
}

/// Why a fetch failed: for the log.
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("{0}")]
    Http(#[source] reqwest::Error),
    #[error("answered HTTP {0}")]
    Status(u16),
    #[error("the key set is larger than {MAX_JWKS_LEN} bytes")]
    TooLarge,
    #[error("the body is not a JSON Web Key Set")]
    NotJwks,
    #[error("the key set holds no RSA signing key for RS256")]
    NoUsableKey,
}

#[derive(Deserialize)]
struct JwkSet {
    keys: Vec<Value>,
}

/// One key of the set; other members (`x5c`, `key_ops`, ...) are ignored.
#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    n: Option<String>,
    e: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
}

/// The usable keys of one fetch, by `kid` (a set holds one or two: a list is the fastest map).
#[derive(Default)]
struct KeySet {
    keys: Vec<(Option<String>, Arc<DecodingKey>)>,
}

impl KeySet {
    /// The RSA keys for RS256 signatures; the others (EC, `use: enc`, another `alg`, broken) are
    /// skipped, each with a debug line.
    fn from_document(document: JwkSet) -> Self {
        let keys = document
            .keys
            .into_iter()
            .filter_map(|value| {
                let jwk: Jwk = serde_json::from_value(value).ok()?;
                let usable = jwk.kty == "RSA"
                    && jwk.alg.as_deref().is_none_or(|alg| alg == "RS256")
                    && jwk.use_.as_deref().is_none_or(|use_| use_ == "sig");
                let key = match (usable, &jwk.n, &jwk.e) {
                    (true, Some(n), Some(e)) => DecodingKey::from_rsa_components(n, e).ok(),
                    _ => None,
                };
                if key.is_none() {
                    tracing::debug!(kid = ?jwk.kid, kty = %jwk.kty, "a key of the JWKS is skipped");
                }
                Some((jwk.kid, Arc::new(key?)))
            })
            .collect();
        Self { keys }
    }

    /// The key a token names. A token without `kid` gets the only key, when there is one (Clerk
    /// always sets `kid`; a single-key set leaves no doubt).
    fn find(&self, kid: Option<&str>) -> Result<Arc<DecodingKey>, SessionError> {
        if self.keys.is_empty() {
            return Err(SessionError::KeysUnavailable);
        }
        let found = match kid {
            Some(kid) => self.keys.iter().find(|(id, _)| id.as_deref() == Some(kid)),
            None if self.keys.len() == 1 => self.keys.first(),
            None => None,
        };
        found
            .map(|(_, key)| Arc::clone(key))
            .ok_or(SessionError::UnknownKey)
    }
}

/// The `kid` of a token's header, which must name RS256: a token for another algorithm is
/// refused before any key is looked up or fetched.
pub(super) fn token_kid(token: &str) -> Result<Option<String>, SessionError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| SessionError::Malformed)?;
    if header.alg != Algorithm::RS256 {
        return Err(SessionError::WrongAlgorithm);
    }
    Ok(header.kid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_this_machine_is_accepted() {
        for url in [
            "https://clerk.example.com/.well-known/jwks.json",
            "http://localhost:4000/jwks",
            "http://127.0.0.1:4000/jwks",
            "http://[::1]/jwks",
        ] {
            assert!(JwksSource::new(url).is_ok(), "{url}");
        }
        for url in [
            "http://clerk.example.com/.well-known/jwks.json",
            "ftp://127.0.0.1/jwks",
            "http://127.0.0.1.example.com/jwks",
        ] {
            assert_eq!(
                JwksSource::new(url).unwrap_err(),
                JwksUrlError::NotHttps,
                "{url}"
            );
        }
        assert_eq!(JwksSource::new("/jwks").unwrap_err(), JwksUrlError::NotUrl);
    }

    #[test]
    fn keys_that_are_not_rsa_signing_keys_are_skipped() {
        let document: JwkSet = serde_json::from_value(serde_json::json!({ "keys": [
            { "kty": "RSA", "kid": "a", "n": "AQAB", "e": "AQAB", "alg": "RS256", "use": "sig" },
            { "kty": "RSA", "kid": "b", "n": "AQAB", "e": "AQAB", "use": "enc" },
            { "kty": "RSA", "kid": "c", "n": "AQAB", "e": "AQAB", "alg": "RS512" },
            { "kty": "EC", "kid": "d", "crv": "P-256", "x": "AQAB", "y": "AQAB" },
            { "kty": "RSA", "kid": "e", "n": "not base64!", "e": "AQAB" },
            { "kty": "RSA", "kid": "f" },
            "not an object",
        ]}))
        .unwrap();
        let set = KeySet::from_document(document);
        let kids: Vec<_> = set.keys.iter().map(|(kid, _)| kid.as_deref()).collect();
        assert_eq!(kids, [Some("a")]);
        assert!(set.find(Some("a")).is_ok());
        assert!(set.find(None).is_ok());
        assert_eq!(set.find(Some("b")).err(), Some(SessionError::UnknownKey));
        assert_eq!(
            KeySet::default().find(Some("a")).err(),
            Some(SessionError::KeysUnavailable)
        );
    }
}
