//! Settings, read once at start-up from Shuttle's `SecretStore` or from the environment.
//!
//! Every problem here is a start-up error that names the variable: a service with a missing or
//! broken signing secret must not start, rather than answer every delivery with an error.

use std::time::Duration;

use crate::guard::DEFAULT_BODY_TIMEOUT;
use crate::metrics::MetricsToken;
use crate::svix::{KeyError, Verifier};

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
/// How long ledger rows are kept, in hours; 720 (30 days) by default, never below 28.
pub const RETENTION_VAR: &str = "CLERK_SYNC_LEDGER_RETENTION_HOURS";

/// The bearer token that `GET /metrics` requires; without it the endpoint is off (404).
pub const METRICS_TOKEN_VAR: &str = "CLERK_SYNC_METRICS_TOKEN";

/// Svix retries a message for up to 28 hours; a svix-id pruned sooner could be applied twice.
pub const MIN_RETENTION: Duration = Duration::from_secs(28 * 3600);

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
}

/// Group commit: how deliveries share transactions (see [`crate::writer`]).
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
        Self {
            max_events: 64,
            // Measured on 2 cores with 16 and 64 connections: 0.5 ms of waiting fills batches a
            // little better than none and costs nothing next to a commit's fsync.
            max_wait: Duration::from_micros(500),
            writers: 2,
            request_timeout: Duration::from_millis(10_000),
        }
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
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_millis(3000),
            statement_timeout: Duration::from_millis(5000),
        }
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

impl Settings {
    /// A development default for everything but the signing secret.
    pub fn new(verifier: Verifier) -> Self {
        Self {
            verifier,
            webhook_path: DEFAULT_WEBHOOK_PATH.to_owned(),
            body_timeout: DEFAULT_BODY_TIMEOUT,
            database: DatabaseSettings::default(),
            batch: BatchSettings::default(),
            ledger_retention: Duration::from_secs(30 * 24 * 3600),
            metrics_token: None,
        }
    }

    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`: `std::env::var`, Shuttle's `SecretStore::get`, a map.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let secrets = get(SIGNING_SECRET_VAR).ok_or(ConfigError::Missing(SIGNING_SECRET_VAR))?;
        let mut verifier = Verifier::from_secrets(&secrets).map_err(ConfigError::SigningSecret)?;
        if let Some(seconds) = number(&get, TOLERANCE_VAR)? {
            verifier = verifier.with_tolerance(Duration::from_secs(seconds));
        }
        let mut settings = Self::new(verifier);
        if let Some(path) = get(WEBHOOK_PATH_VAR) {
            if !path.starts_with('/') || path.contains(char::is_whitespace) {
                return Err(ConfigError::Invalid {
                    name: WEBHOOK_PATH_VAR,
                    reason: "expected an absolute path such as /webhooks/clerk",
                });
            }
            settings.webhook_path = path;
        }
        if let Some(ms) = number(&get, BODY_TIMEOUT_VAR)? {
            // Zero would answer every delivery 408.
            positive(ms, BODY_TIMEOUT_VAR)?;
            settings.body_timeout = Duration::from_millis(ms);
        }
        let db = &mut settings.database;
        if let Some(n) = number(&get, MAX_CONNECTIONS_VAR)? {
            db.max_connections =
                u32::try_from(n)
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(ConfigError::Invalid {
                        name: MAX_CONNECTIONS_VAR,
                        reason: "expected a whole number from 1 to 4294967295",
                    })?;
        }
        if let Some(ms) = number(&get, ACQUIRE_TIMEOUT_VAR)? {
            db.acquire_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = number(&get, STATEMENT_TIMEOUT_VAR)? {
            db.statement_timeout = Duration::from_millis(ms);
        }
        let batch = &mut settings.batch;
        if let Some(n) = number(&get, BATCH_SIZE_VAR)? {
            batch.max_events = positive(n, BATCH_SIZE_VAR)?;
        }
        if let Some(us) = number(&get, BATCH_WAIT_VAR)? {
            batch.max_wait = Duration::from_micros(us);
        }
        if let Some(n) = number(&get, WRITERS_VAR)? {
            batch.writers = positive(n, WRITERS_VAR)?;
        }
        if let Some(ms) = number(&get, REQUEST_TIMEOUT_VAR)? {
            batch.request_timeout = Duration::from_millis(ms);
        }
        if let Some(hours) = number(&get, RETENTION_VAR)? {
            let retention = Duration::from_secs(hours.saturating_mul(3600));
            if retention < MIN_RETENTION {
                return Err(ConfigError::Invalid {
                    name: RETENTION_VAR,
                    reason: "must be at least 28 (Svix retries a message for up to 28 hours)",
                });
            }
            settings.ledger_retention = retention;
        }
        settings.metrics_token = get(METRICS_TOKEN_VAR).and_then(|t| MetricsToken::new(&t));
        Ok(settings)
    }
}

fn positive(n: u64, name: &'static str) -> Result<usize, ConfigError> {
    usize::try_from(n)
        .ok()
        .filter(|n| *n > 0)
        .ok_or(ConfigError::Invalid {
            name,
            reason: "expected a whole number of at least 1",
        })
}

fn number(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<Option<u64>, ConfigError> {
    get(name)
        .map(|value| {
            value.trim().parse().map_err(|_| ConfigError::Invalid {
                name,
                reason: "expected a whole number",
            })
        })
        .transpose()
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
        assert_eq!(settings.database, DatabaseSettings::default());
        assert_eq!(settings.verifier.tolerance(), Duration::from_secs(300));
        assert_eq!(settings.body_timeout, Duration::from_millis(10_000));
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
    }

    #[test]
    fn the_ledger_is_never_kept_for_less_than_svixs_retry_horizon() {
        let err = from(&[(SIGNING_SECRET_VAR, SECRET), (RETENTION_VAR, "27")]).unwrap_err();
        assert!(err.to_string().contains("at least 28"), "{err}");
        let settings = from(&[(SIGNING_SECRET_VAR, SECRET), (RETENTION_VAR, "28")]).unwrap();
        assert_eq!(settings.ledger_retention, MIN_RETENTION);
    }

    #[test]
    fn unusable_numbers_name_the_variable() {
        let err = from(&[(SIGNING_SECRET_VAR, SECRET), (MAX_CONNECTIONS_VAR, "0")]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("DATABASE_MAX_CONNECTIONS is invalid"),
            "{err}"
        );
        let err = from(&[(SIGNING_SECRET_VAR, SECRET), (ACQUIRE_TIMEOUT_VAR, "3s")]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("DATABASE_ACQUIRE_TIMEOUT_MS is invalid"),
            "{err}"
        );
        let err = from(&[(SIGNING_SECRET_VAR, SECRET), (BODY_TIMEOUT_VAR, "0")]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("CLERK_WEBHOOK_BODY_TIMEOUT_MS is invalid"),
            "{err}"
        );
    }
}
