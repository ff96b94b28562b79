//! Settings, read once at start-up from Shuttle's `SecretStore` or from the environment.
//!
//! Every problem here is a start-up error that names the variable: a service with a missing or
//! broken signing secret must not start, rather than answer every delivery with an error.

use std::time::Duration;

use rocket::figment::providers::Serialized;
use rocket::figment::value::{Dict, Map, Value};
use rocket::figment::{self, Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};

use crate::guard::DEFAULT_BODY_TIMEOUT;
pub use crate::metrics::MetricsToken;
#[cfg(feature = "session")]
use crate::session::SessionVerifier;
use crate::svix::{KeyError, Verifier, DEFAULT_TOLERANCE};

/// The Postgres connection string of a server run outside Shuttle.
pub const DATABASE_URL_VAR: &str = "DATABASE_URL";
/// The signing secret(s) of the Clerk webhook endpoint, whitespace-separated during a rotation.
pub const SIGNING_SECRET_VAR: &str = "CLERK_WEBHOOK_SIGNING_SECRET";
/// Where the webhook route is mounted; [`DEFAULT_WEBHOOK_PATH`] by default.
pub const WEBHOOK_PATH_VAR: &str = "CLERK_WEBHOOK_PATH";
/// Where the webhook route is mounted unless [`WEBHOOK_PATH_VAR`] says otherwise.
pub const DEFAULT_WEBHOOK_PATH: &str = "/webhooks/clerk";
/// Allowed clock difference for `svix-timestamp`, in seconds; 300 by default.
pub const TOLERANCE_VAR: &str = "CLERK_WEBHOOK_TOLERANCE_SECS";
/// Longest the whole body of a delivery may take to arrive before it is answered 408; 10000 ms
/// by default, at least 1.
pub const BODY_TIMEOUT_VAR: &str = "CLERK_WEBHOOK_BODY_TIMEOUT_MS";
/// Size of the connection pool; 10 by default.
pub const MAX_CONNECTIONS_VAR: &str = "DATABASE_MAX_CONNECTIONS";
/// How long a request waits for a pooled connection before answering 503; 3000 ms by default.
pub const ACQUIRE_TIMEOUT_VAR: &str = "DATABASE_ACQUIRE_TIMEOUT_MS";
/// Postgres `statement_timeout` for every connection; 5000 ms by default.
pub const STATEMENT_TIMEOUT_VAR: &str = "DATABASE_STATEMENT_TIMEOUT_MS";
/// Most deliveries one transaction holds; 64 by default.
pub const BATCH_SIZE_VAR: &str = "CLERK_SYNC_BATCH_SIZE";
/// How long a batch waits for more deliveries after its first, in microseconds; 500 by default.
pub const BATCH_WAIT_VAR: &str = "CLERK_SYNC_BATCH_WAIT_US";
/// Concurrent batch transactions; 2 by default.
pub const WRITERS_VAR: &str = "CLERK_SYNC_WRITERS";
/// Longest a delivery waits for its commit before it is answered 503; 10000 ms by default.
pub const REQUEST_TIMEOUT_VAR: &str = "CLERK_SYNC_REQUEST_TIMEOUT_MS";
/// How long ledger rows are kept, in hours; [`DEFAULT_RETENTION`] by default, never below
/// [`MIN_RETENTION`].
pub const RETENTION_VAR: &str = "CLERK_SYNC_LEDGER_RETENTION_HOURS";

/// The bearer token that `GET /metrics` requires; without it the endpoint is off (404).
pub const METRICS_TOKEN_VAR: &str = "CLERK_SYNC_METRICS_TOKEN";

/// The PEM public key of the Clerk instance, which verifies session tokens (feature `session`).
/// Without it the session guard is off: a route that takes it aborts launch.
pub const JWT_KEY_VAR: &str = "CLERK_JWT_KEY";
/// The instance's JWKS URL (`https://<frontend-api>/.well-known/jwks.json`), whose keys verify
/// session tokens when [`JWT_KEY_VAR`] is not set (feature `jwks`; set without it, start fails).
/// `https://` only, or `http://` to `localhost`/`127.0.0.1`.
pub const JWKS_URL_VAR: &str = "CLERK_JWKS_URL";
/// The origins a session token may be minted for (its `azp`), comma-separated, such as
/// `https://example.com,http://localhost:3000`; unset, any (feature `session`).
pub const AUTHORIZED_PARTIES_VAR: &str = "CLERK_AUTHORIZED_PARTIES";
/// The Clerk instance (`ins_...`, the `instance_id` of its webhooks) this deployment serves: the
/// session guard reads only that instance's synced rows (feature `session`), and
/// `clerk-sync backfill` records it on the rows it writes. Unset: any instance.
pub const INSTANCE_ID_VAR: &str = "CLERK_INSTANCE_ID";

/// Svix retries a message for up to 28 hours; a svix-id pruned sooner could be applied twice.
pub const MIN_RETENTION: Duration = Duration::from_secs(28 * 3600);
/// How long ledger rows are kept unless [`RETENTION_VAR`] says otherwise: 30 days.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(720 * 3600);

/// Everything the sync needs besides the database URL.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Verifies deliveries; holds the signing keys.
    pub verifier: Verifier,
    /// Mount point of the webhook route.
    pub webhook_path: String,
    /// Longest the whole body of a delivery may take to arrive, once its headers passed.
    pub body_timeout: Duration,
    /// Pool sizing and timeouts.
    pub database: DatabaseSettings,
    /// Group commit.
    pub batch: BatchSettings,
    /// How long ledger rows are kept before the background pruner deletes them.
    pub ledger_retention: Duration,
    /// The token `GET /metrics` requires; `None` turns the endpoint off.
    pub metrics_token: Option<MetricsToken>,
    /// Verifies Clerk session tokens, from [`JWT_KEY_VAR`] (else [`JWKS_URL_VAR`], feature
    /// `jwks`) and [`AUTHORIZED_PARTIES_VAR`], scoped to the instance of [`INSTANCE_ID_VAR`] when
    /// it is set; `None` when neither key variable is set. The stage manages it for the
    /// [`ClerkSession`](crate::session::ClerkSession) guard.
    #[cfg(feature = "session")]
    pub session: Option<SessionVerifier>,
}

/// Group commit: how deliveries share transactions (the stage's writer tasks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchSettings {
    /// Most deliveries in one transaction.
    pub max_events: usize,
    /// How long a batch waits for more deliveries after its first. Zero takes only what is
    /// already queued: under load the queue fills while the previous batch commits.
    pub max_wait: Duration,
    /// Batch transactions in flight at once.
    pub writers: usize,
    /// Longest a delivery waits for its commit before it is answered 503 (Svix gives up at 15 s).
    pub request_timeout: Duration,
}

impl Default for BatchSettings {
    fn default() -> Self {
        Vars::default().batch()
    }
}

/// Pool sizing and timeouts. The defaults keep a failing request well inside Svix's 15 s budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseSettings {
    /// Connections in the pool.
    pub max_connections: u32,
    /// Wait for a free connection before giving up with 503.
    pub acquire_timeout: Duration,
    /// Server-side limit on any one statement.
    pub statement_timeout: Duration,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Vars::default().database()
    }
}

/// A setting that is missing or unusable; the message names the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is not set (or is empty).
    #[error("{0} is not set")]
    Missing(&'static str),
    /// The signing secret could not be decoded.
    #[error("{SIGNING_SECRET_VAR} is invalid: {0}")]
    SigningSecret(#[source] KeyError),
    /// A variable is set to something we cannot use.
    #[error("{name} is invalid: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// What was expected.
        reason: &'static str,
    },
}

/// `DATABASE_URL` from the process environment, for a server run outside Shuttle.
pub fn database_url_from_env() -> Result<String, ConfigError> {
    std::env::var(DATABASE_URL_VAR)
        .ok()
        .filter(|url| !url.trim().is_empty())
        .ok_or(ConfigError::Missing(DATABASE_URL_VAR))
}

/// `hours` as a ledger retention, refused below [`MIN_RETENTION`]: the rule for the service's
/// [`RETENTION_VAR`] and for the command-line `prune`.
pub fn ledger_retention(hours: u64) -> Result<Duration, ConfigError> {
    let retention = Duration::from_secs(hours.saturating_mul(3600));
    if retention < MIN_RETENTION {
        return Err(ConfigError::Invalid {
            name: RETENTION_VAR,
            reason: "must be at least 28 (Svix retries a message for up to 28 hours)",
        });
    }
    Ok(retention)
}

impl Settings {
    /// A development default for everything but the signing secret.
    pub fn new(verifier: Verifier) -> Self {
        Vars::default().settings(verifier)
    }

    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`: `std::env::var`, Shuttle's `SecretStore::get`, a map.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars: Vars = Figment::from(Serialized::defaults(Vars::default()))
            .merge(Lookup(lookup))
            .extract()
            .map_err(|err| unreadable(&err))?;
        let verifier = vars.validate()?;
        // Ignoring it would leave the guard off (or on another key) without a word.
        #[cfg(not(feature = "jwks"))]
        if vars.clerk_jwks_url.is_some() {
            return Err(JWKS_WITHOUT_FEATURE);
        }
        #[cfg_attr(not(feature = "session"), allow(unused_mut))]
        let mut settings = vars.settings(verifier);
        #[cfg(feature = "session")]
        {
            settings.session = vars.session()?;
        }
        Ok(settings)
    }
}

/// The variables as the deployment sets them, one field per variable and named after it, so a
/// figment error's path is the variable. Units are the variables' own (ms, µs, hours).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
struct Vars {
    clerk_webhook_signing_secret: Option<String>,
    clerk_webhook_path: String,
    clerk_webhook_tolerance_secs: u64,
    clerk_webhook_body_timeout_ms: u64,
    database_max_connections: u64,
    database_acquire_timeout_ms: u64,
    database_statement_timeout_ms: u64,
    clerk_sync_batch_size: u64,
    clerk_sync_batch_wait_us: u64,
    clerk_sync_writers: u64,
    clerk_sync_request_timeout_ms: u64,
    clerk_sync_ledger_retention_hours: u64,
    clerk_sync_metrics_token: Option<String>,
    // Read whatever the features: only `session` uses them, and an unused one is harmless.
    clerk_jwt_key: Option<String>,
    // Refused at start without feature `jwks`.
    clerk_jwks_url: Option<String>,
    clerk_authorized_parties: Option<String>,
    clerk_instance_id: Option<String>,
}

/// The variables taken as written; the figment parses the others (see [`Lookup`]).
const TEXT_VARS: [&str; 7] = [
    SIGNING_SECRET_VAR,
    WEBHOOK_PATH_VAR,
    METRICS_TOKEN_VAR,
    JWT_KEY_VAR,
    JWKS_URL_VAR,
    AUTHORIZED_PARTIES_VAR,
    INSTANCE_ID_VAR,
];
/// The variables that hold whole numbers.
const NUMBER_VARS: [&str; 10] = [
    TOLERANCE_VAR,
    BODY_TIMEOUT_VAR,
    MAX_CONNECTIONS_VAR,
    ACQUIRE_TIMEOUT_VAR,
    STATEMENT_TIMEOUT_VAR,
    BATCH_SIZE_VAR,
    BATCH_WAIT_VAR,
    WRITERS_VAR,
    REQUEST_TIMEOUT_VAR,
    RETENTION_VAR,
];

/// Every default, in one place.
impl Default for Vars {
    fn default() -> Self {
        Self {
            clerk_webhook_signing_secret: None,
            clerk_webhook_path: DEFAULT_WEBHOOK_PATH.to_owned(),
            clerk_webhook_tolerance_secs: DEFAULT_TOLERANCE.as_secs(),
            clerk_webhook_body_timeout_ms: DEFAULT_BODY_TIMEOUT.as_millis() as u64,
            database_max_connections: 10,
            database_acquire_timeout_ms: 3000,
            database_statement_timeout_ms: 5000,
            clerk_sync_batch_size: 64,
            // Measured on 2 cores with 16 and 64 connections: 0.5 ms of waiting fills batches a
            // little better than none and costs nothing next to a commit's fsync.
            clerk_sync_batch_wait_us: 500,
            // One batch gathers while the other commits: bigger batches, less Postgres CPU per
            // event than 3 (measured on 2 cores: README "Performance", writers).
            clerk_sync_writers: 2,
            clerk_sync_request_timeout_ms: 10_000,
            clerk_sync_ledger_retention_hours: DEFAULT_RETENTION.as_secs() / 3600,
            clerk_sync_metrics_token: None,
            clerk_jwt_key: None,
            clerk_jwks_url: None,
            clerk_authorized_parties: None,
            clerk_instance_id: None,
        }
    }
}

impl Vars {
    /// Every rule, in one place; the signing secret becomes the verifier here.
    fn validate(&self) -> Result<Verifier, ConfigError> {
        let secrets = self
            .clerk_webhook_signing_secret
            .as_deref()
            .ok_or(ConfigError::Missing(SIGNING_SECRET_VAR))?;
        let verifier = Verifier::from_secrets(secrets).map_err(ConfigError::SigningSecret)?;
        let path = &self.clerk_webhook_path;
        if !path.starts_with('/') || path.contains(char::is_whitespace) {
            return Err(ConfigError::Invalid {
                name: WEBHOOK_PATH_VAR,
                reason: "expected an absolute path such as /webhooks/clerk",
            });
        }
        if u32::try_from(self.database_max_connections).is_err() {
            return Err(ConfigError::Invalid {
                name: MAX_CONNECTIONS_VAR,
                reason: "expected a whole number from 1 to 4294967295",
            });
        }
        // Zero would answer every delivery 408, leave the pool empty or start no writer.
        for (name, n) in [
            (BODY_TIMEOUT_VAR, self.clerk_webhook_body_timeout_ms),
            (MAX_CONNECTIONS_VAR, self.database_max_connections),
            (BATCH_SIZE_VAR, self.clerk_sync_batch_size),
            (WRITERS_VAR, self.clerk_sync_writers),
        ] {
            if n == 0 || usize::try_from(n).is_err() {
                return Err(ConfigError::Invalid {
                    name,
                    reason: "expected a whole number of at least 1",
                });
            }
        }
        ledger_retention(self.clerk_sync_ledger_retention_hours)?;
        Ok(verifier.with_tolerance(Duration::from_secs(self.clerk_webhook_tolerance_secs)))
    }

    /// The settings in their own units; the numbers fit, as [`Vars::validate`] or the defaults
    /// say.
    fn settings(&self, verifier: Verifier) -> Settings {
        Settings {
            verifier,
            webhook_path: self.clerk_webhook_path.clone(),
            body_timeout: Duration::from_millis(self.clerk_webhook_body_timeout_ms),
            database: self.database(),
            batch: self.batch(),
            ledger_retention: Duration::from_secs(
                self.clerk_sync_ledger_retention_hours.saturating_mul(3600),
            ),
            metrics_token: self
                .clerk_sync_metrics_token
                .as_deref()
                .and_then(MetricsToken::new),
            #[cfg(feature = "session")]
            session: None,
        }
    }

    /// The session verifier, when a key or a JWKS URL is set. The PEM key wins: no network.
    #[cfg(feature = "session")]
    fn session(&self) -> Result<Option<SessionVerifier>, ConfigError> {
        let verifier = match (&self.clerk_jwt_key, &self.clerk_jwks_url) {
            (Some(pem), _) => SessionVerifier::from_pem(pem).map_err(|_| ConfigError::Invalid {
                name: JWT_KEY_VAR,
                reason: "expected the instance's PEM public key (Clerk Dashboard, API keys)",
            })?,
            #[cfg(feature = "jwks")]
            (None, Some(url)) => {
                SessionVerifier::from_jwks_url(url).map_err(|_| ConfigError::Invalid {
                    name: JWKS_URL_VAR,
                    reason: "expected the instance's JWKS URL: https://, or http:// to localhost \
                             or 127.0.0.1 (such as https://<frontend-api>/.well-known/jwks.json)",
                })?
            }
            #[cfg(not(feature = "jwks"))]
            (None, Some(_)) => return Err(JWKS_WITHOUT_FEATURE),
            (None, None) => return Ok(None),
        };
        let parties = self
            .clerk_authorized_parties
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(|origin| origin.trim().trim_end_matches('/'))
            .filter(|origin| !origin.is_empty())
            .map(str::to_owned)
            .collect::<Vec<_>>();
        let verifier = verifier.with_authorized_parties(parties);
        let Some(id) = self.clerk_instance_id.as_deref().map(str::trim) else {
            return Ok(Some(verifier));
        };
        // A typo here would hide every synced user from the guard, silently: refuse it at start.
        if !id.starts_with("ins_") || id.contains(char::is_whitespace) {
            return Err(ConfigError::Invalid {
                name: INSTANCE_ID_VAR,
                reason: "expected a Clerk instance id (ins_..., the instance_id of its webhooks)",
            });
        }
        Ok(Some(verifier.with_instance(id)))
    }

    fn database(&self) -> DatabaseSettings {
        DatabaseSettings {
            max_connections: u32::try_from(self.database_max_connections).unwrap_or(u32::MAX),
            acquire_timeout: Duration::from_millis(self.database_acquire_timeout_ms),
            statement_timeout: Duration::from_millis(self.database_statement_timeout_ms),
        }
    }

    fn batch(&self) -> BatchSettings {
        BatchSettings {
            max_events: usize::try_from(self.clerk_sync_batch_size).unwrap_or(usize::MAX),
            max_wait: Duration::from_micros(self.clerk_sync_batch_wait_us),
            writers: usize::try_from(self.clerk_sync_writers).unwrap_or(usize::MAX),
            request_timeout: Duration::from_millis(self.clerk_sync_request_timeout_ms),
        }
    }
}

/// [`JWKS_URL_VAR`] set in a build without feature `jwks`.
#[cfg(not(feature = "jwks"))]
const JWKS_WITHOUT_FEATURE: ConfigError = ConfigError::Invalid {
    name: JWKS_URL_VAR,
    reason: "needs clerk-sync's feature `jwks` (or set CLERK_JWT_KEY, the PEM public key, instead)",
};

/// A figment provider over a lookup function (Shuttle's `SecretStore` has no iterator). A blank
/// value counts as unset, as in a `.env` file with `NAME=`; text variables are kept as written
/// (a metrics token may be all digits), numbers are parsed as figment parses `Env` values.
struct Lookup<F>(F);

impl<F: Fn(&str) -> Option<String>> Provider for Lookup<F> {
    fn metadata(&self) -> Metadata {
        Metadata::named("environment or secrets")
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let get = |name: &str| (self.0)(name).filter(|value| !value.trim().is_empty());
        let text = TEXT_VARS
            .into_iter()
            .filter_map(|name| Some((name.to_owned(), Value::from(get(name)?))));
        let numbers = NUMBER_VARS.into_iter().filter_map(|name| {
            let value: Value = get(name)?.trim().parse().expect("infallible");
            Some((name.to_owned(), value))
        });
        Ok(Profile::Default.collect(text.chain(numbers).collect()))
    }
}

/// A figment error as a [`ConfigError`]. Text variables always deserialize, so only a number can
/// be unreadable: negative, fractional, or not a number at all.
fn unreadable(err: &figment::Error) -> ConfigError {
    let path = err.path.first().map(String::as_str);
    match NUMBER_VARS.into_iter().find(|name| Some(*name) == path) {
        Some(name) => ConfigError::Invalid {
            name,
            reason: "expected a whole number",
        },
        // Not reachable with the providers above; named rather than hidden if it ever is.
        None => ConfigError::Invalid {
            name: "settings",
            reason: "unreadable",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn from(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::from_lookup(|name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        })
    }

    #[test]
    fn a_missing_secret_names_the_variable() {
        let err = from(&[]).unwrap_err();
        assert_eq!(err.to_string(), "CLERK_WEBHOOK_SIGNING_SECRET is not set");
        assert_eq!(from(&[(SIGNING_SECRET_VAR, "  ")]).unwrap_err(), err);
    }

    #[test]
    fn a_broken_secret_is_a_startup_error() {
        let err = from(&[(SIGNING_SECRET_VAR, "whsec_!!!")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "CLERK_WEBHOOK_SIGNING_SECRET is invalid: the signing secret is not base64 after its whsec_ prefix"
        );
    }

    #[test]
    fn defaults_apply_when_only_the_secret_is_set() {
        let settings = from(&[(SIGNING_SECRET_VAR, SECRET)]).unwrap();
        assert_eq!(settings.webhook_path, "/webhooks/clerk");
        assert_eq!(settings.verifier.tolerance(), Duration::from_secs(300));
        assert_eq!(settings.body_timeout, Duration::from_millis(10_000));
        assert_eq!(
            settings.database,
            DatabaseSettings {
                max_connections: 10,
                acquire_timeout: Duration::from_millis(3000),
                statement_timeout: Duration::from_millis(5000),
            }
        );
        assert_eq!(
            settings.batch,
            BatchSettings {
                max_events: 64,
                max_wait: Duration::from_micros(500),
                writers: 2,
                request_timeout: Duration::from_millis(10_000),
            }
        );
        assert_eq!(settings.ledger_retention, Duration::from_secs(720 * 3600));
        assert!(settings.metrics_token.is_none());
    }

    #[test]
    fn new_has_the_same_defaults_as_an_environment_with_only_the_secret() {
        let read = from(&[(SIGNING_SECRET_VAR, SECRET)]).unwrap();
        let new = Settings::new(read.verifier.clone());
        assert_eq!(format!("{new:?}"), format!("{read:?}"));
    }

    #[test]
    fn every_setting_can_be_overridden() {
        let settings = from(&[
            (SIGNING_SECRET_VAR, SECRET),
            (WEBHOOK_PATH_VAR, "/hooks/clerk"),
            (TOLERANCE_VAR, "60"),
            (BODY_TIMEOUT_VAR, "2500"),
            (MAX_CONNECTIONS_VAR, "32"),
            (ACQUIRE_TIMEOUT_VAR, "250"),
            (STATEMENT_TIMEOUT_VAR, "1500"),
            (BATCH_SIZE_VAR, "16"),
            (BATCH_WAIT_VAR, "0"),
            (WRITERS_VAR, "4"),
            (REQUEST_TIMEOUT_VAR, " 8000 "),
            (RETENTION_VAR, "48"),
            (METRICS_TOKEN_VAR, "s3cret"),
        ])
        .unwrap();
        assert_eq!(settings.webhook_path, "/hooks/clerk");
        assert_eq!(settings.verifier.tolerance(), Duration::from_secs(60));
        assert_eq!(settings.body_timeout, Duration::from_millis(2500));
        assert_eq!(
            settings.database,
            DatabaseSettings {
                max_connections: 32,
                acquire_timeout: Duration::from_millis(250),
                statement_timeout: Duration::from_millis(1500),
            }
        );
        assert_eq!(
            settings.batch,
            BatchSettings {
                max_events: 16,
                max_wait: Duration::ZERO,
                writers: 4,
                request_timeout: Duration::from_millis(8000),
            }
        );
        assert_eq!(settings.ledger_retention, Duration::from_secs(48 * 3600));
        assert!(settings.metrics_token.unwrap().matches("s3cret"));
    }

    #[test]
    fn a_blank_variable_counts_as_unset() {
        let settings = from(&[
            (SIGNING_SECRET_VAR, SECRET),
            (MAX_CONNECTIONS_VAR, ""),
            (WEBHOOK_PATH_VAR, " "),
            (METRICS_TOKEN_VAR, ""),
        ])
        .unwrap();
        assert_eq!(settings.database.max_connections, 10);
        assert_eq!(settings.webhook_path, DEFAULT_WEBHOOK_PATH);
        assert!(settings.metrics_token.is_none());
    }

    #[test]
    fn text_is_taken_as_written_even_when_it_looks_like_a_number() {
        let settings = from(&[(SIGNING_SECRET_VAR, SECRET), (METRICS_TOKEN_VAR, "12345")]).unwrap();
        assert!(settings.metrics_token.unwrap().matches("12345"));
    }

    #[test]
    fn a_webhook_path_must_be_absolute() {
        for path in ["webhooks/clerk", "/web hooks"] {
            let err = from(&[(SIGNING_SECRET_VAR, SECRET), (WEBHOOK_PATH_VAR, path)]).unwrap_err();
            assert_eq!(
                err.to_string(),
                "CLERK_WEBHOOK_PATH is invalid: expected an absolute path such as /webhooks/clerk"
            );
        }
    }

    #[test]
    fn the_ledger_is_never_kept_for_less_than_svixs_retry_horizon() {
        let err = from(&[(SIGNING_SECRET_VAR, SECRET), (RETENTION_VAR, "27")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "CLERK_SYNC_LEDGER_RETENTION_HOURS is invalid: must be at least 28 (Svix retries a message for up to 28 hours)"
        );
        let settings = from(&[(SIGNING_SECRET_VAR, SECRET), (RETENTION_VAR, "28")]).unwrap();
        assert_eq!(settings.ledger_retention, MIN_RETENTION);
        assert_eq!(ledger_retention(27), Err(err));
        assert_eq!(ledger_retention(28), Ok(MIN_RETENTION));
    }

    #[test]
    fn every_number_that_is_not_a_whole_number_names_its_variable() {
        for name in NUMBER_VARS {
            for value in ["3s", "-1", "1.5", "true", "[1]"] {
                let err = from(&[(SIGNING_SECRET_VAR, SECRET), (name, value)]).unwrap_err();
                assert_eq!(
                    err.to_string(),
                    format!("{name} is invalid: expected a whole number"),
                    "{value}"
                );
            }
        }
    }

    #[test]
    fn zero_is_refused_where_it_would_stop_the_service() {
        for name in [
            BODY_TIMEOUT_VAR,
            MAX_CONNECTIONS_VAR,
            BATCH_SIZE_VAR,
            WRITERS_VAR,
        ] {
            let err = from(&[(SIGNING_SECRET_VAR, SECRET), (name, "0")]).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("{name} is invalid: expected a whole number of at least 1")
            );
        }
        // Zero is a meaning of its own elsewhere: no batch wait, no statement timeout.
        let settings = from(&[
            (SIGNING_SECRET_VAR, SECRET),
            (BATCH_WAIT_VAR, "0"),
            (STATEMENT_TIMEOUT_VAR, "0"),
        ]);
        assert!(settings.is_ok());
    }

    #[test]
    fn a_pool_larger_than_u32_is_refused() {
        let err = from(&[
            (SIGNING_SECRET_VAR, SECRET),
            (MAX_CONNECTIONS_VAR, "4294967296"),
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "DATABASE_MAX_CONNECTIONS is invalid: expected a whole number from 1 to 4294967295"
        );
    }

    #[cfg(not(feature = "jwks"))]
    #[test]
    fn a_jwks_url_without_feature_jwks_is_a_startup_error() {
        let err = from(&[
            (SIGNING_SECRET_VAR, SECRET),
            (
                JWKS_URL_VAR,
                "https://clerk.example.com/.well-known/jwks.json",
            ),
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "CLERK_JWKS_URL is invalid: needs clerk-sync's feature `jwks` (or set CLERK_JWT_KEY, \
             the PEM public key, instead)"
        );
    }

    #[test]
    fn the_variable_lists_are_the_fields_of_vars() {
        let data = Serialized::defaults(Vars::default()).data().unwrap();
        let mut fields: Vec<&str> = data[&Profile::Default].keys().map(String::as_str).collect();
        let mut listed: Vec<&str> = TEXT_VARS.into_iter().chain(NUMBER_VARS).collect();
        fields.sort_unstable();
        listed.sort_unstable();
        assert_eq!(fields, listed);
    }
}
