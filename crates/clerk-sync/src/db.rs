//! The connection pool and the migrations.

use std::net::IpAddr;
use std::str::FromStr;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sqlx::{Connection, PgConnection, PgPool};

use crate::config::DatabaseSettings;
use crate::store::{session, Tx};

/// The migrations in `migrations/`, embedded in the binary.
///
/// Missing migrations are ignored: an application that embeds this crate keeps its own
/// migrations in the same `_sqlx_migrations` table, and ours must not refuse to run beside them.
pub fn migrator() -> Migrator {
    let mut migrator = sqlx::migrate!();
    migrator.set_ignore_missing(true);
    migrator
}

/// Runs the migrations over a connection of its own, so that a database that cannot be reached
/// says why (refused, authentication, no such database) rather than that the pool timed out.
/// Concurrent runs (two instances starting) wait on sqlx's advisory lock.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    let mut conn = PgConnection::connect_with(&pool.connect_options()).await?;
    migrator().run_direct(&mut conn).await?;
    conn.close().await?;
    Ok(())
}

/// Creates the database `url` names when it does not exist yet, as `createdb` would (through
/// the `postgres` maintenance database). Returns whether it created it. For local development
/// only (`shuttle run` on a fresh machine): in production the database is provisioned, and the
/// service's role usually may not create databases.
pub async fn create_database_if_missing(url: &str) -> Result<bool, sqlx::Error> {
    use sqlx::migrate::MigrateDatabase;
    if sqlx::Postgres::database_exists(url).await? {
        return Ok(false);
    }
    match sqlx::Postgres::create_database(url).await {
        Ok(()) => Ok(true),
        // Another process created it in between (42P04: duplicate_database).
        Err(sqlx::Error::Database(err)) if err.code().as_deref() == Some("42P04") => Ok(false),
        Err(err) => Err(err),
    }
}

/// A pool that connects on first use, sized and timed by `settings`.
pub fn connect_lazy(url: &str, settings: &DatabaseSettings) -> Result<PgPool, sqlx::Error> {
    Ok(pool_options(settings).connect_lazy_with(connect_options(url)?))
}

/// The connection options `url` says. Where neither it nor `PGSSLMODE` names an `sslmode`,
/// sqlx, like libpq, uses TLS whenever the server offers it; to a loopback address that guards a
/// path no one else is on and costs Postgres about a tenth of its CPU per event, so there the
/// connection is plain, as with `sslmode=disable` (a proxy on localhost, such as Cloud SQL's,
/// encrypts beyond it). Naming an `sslmode` decides it.
pub fn connect_options(url: &str) -> Result<PgConnectOptions, sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?.application_name("clerk-sync");
    let named = std::env::var_os("PGSSLMODE").is_some() || names_ssl_mode(url);
    Ok(if !named && is_loopback(options.get_host()) {
        options.ssl_mode(PgSslMode::Disable)
    } else {
        options
    })
}

fn names_ssl_mode(url: &str) -> bool {
    url.split_once('?').is_some_and(|(_, query)| {
        query
            .split('&')
            .any(|pair| matches!(pair.split('=').next(), Some("sslmode" | "ssl-mode")))
    })
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Pool options for `settings`. The statement timeout is set per connection (`set_config`)
/// rather than as a startup parameter, which poolers such as PgBouncer (Neon, Supabase) refuse.
pub fn pool_options(settings: &DatabaseSettings) -> PgPoolOptions {
    let statement_timeout = settings.statement_timeout;
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
        .after_connect(move |conn, _meta| {
            Box::pin(async move { session::set_statement_timeout(conn, statement_timeout).await })
        })
}

/// A database error for the logs: the SQLSTATE and message, never the `detail`, which can quote
/// row values (emails).
pub fn describe(err: &sqlx::Error) -> String {
    match err {
        sqlx::Error::Database(db) => format!(
            "database error {}: {}",
            db.code().as_deref().unwrap_or("?"),
            db.message()
        ),
        other => other.to_string(),
    }
}

/// Begins a transaction that writes Clerk data, at READ COMMITTED whatever the database's
/// default (managed databases are sometimes set to repeatable read or serializable).
///
/// The cascades need it: after a parent's advisory lock is granted, each statement must see the
/// children that other transactions committed meanwhile, which only a fresh snapshot per
/// statement gives. Set per transaction rather than per connection, so it holds behind poolers.
pub async fn begin_write(pool: &PgPool) -> Result<Tx<'static>, sqlx::Error> {
    session::begin_read_committed(pool).await
}

/// [`begin_write`] on a connection the caller holds.
pub async fn begin_write_on(conn: &mut PgConnection) -> Result<Tx<'_>, sqlx::Error> {
    session::begin_read_committed_on(conn).await
}

/// What a database error means for the delivery that met it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Two transactions met (a deadlock, a serialization failure): the same work, run again at
    /// once, succeeds.
    Conflict,
    /// The database is unreachable, slow, out of resources, read-only, shutting down, or lacks
    /// our schema: a retry later can succeed (503).
    Transient,
    /// Postgres refuses the values themselves (a data exception, a violated constraint, a
    /// program limit): every retry fails alike, so the delivery is kept as `failed`.
    Permanent,
}

impl Failure {
    /// Classifies `err` by its SQLSTATE; anything that is not a database's answer (a lost
    /// connection, a pool timeout) is transient.
    pub fn of(err: &sqlx::Error) -> Self {
        let code = match err {
            sqlx::Error::Database(db) => db.code(),
            _ => return Self::Transient,
        };
        let code = code.as_deref().unwrap_or("");
        match code {
            "40001" | "40P01" => Self::Conflict,
            // 22: data exception; 23: integrity constraint violation; 54: program limit exceeded.
            _ if ["22", "23", "54"]
                .iter()
                .any(|class| code.starts_with(class)) =>
            {
                Self::Permanent
            }
            _ => Self::Transient,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ssl_mode(url: &str) -> PgSslMode {
        connect_options(url).unwrap().get_ssl_mode()
    }

    #[test]
    fn a_loopback_address_without_an_sslmode_connects_plain_and_any_other_as_sqlx_would() {
        if std::env::var_os("PGSSLMODE").is_some() {
            return;
        }
        for url in [
            "postgres://postgres@127.0.0.1:5432/db",
            "postgres://postgres@localhost/db",
            "postgres://postgres@[::1]:5432/db?application_name=x",
        ] {
            assert!(matches!(ssl_mode(url), PgSslMode::Disable), "{url}");
        }
        for url in [
            "postgres://postgres@db.example.com/db",
            "postgres://postgres@10.0.0.5/db",
            "postgres://postgres@postgres:5432/db",
        ] {
            assert!(matches!(ssl_mode(url), PgSslMode::Prefer), "{url}");
        }
        assert!(matches!(
            ssl_mode("postgres://postgres@127.0.0.1/db?sslmode=require"),
            PgSslMode::Require
        ));
        assert!(matches!(
            ssl_mode("postgres://postgres@localhost/db?ssl-mode=prefer"),
            PgSslMode::Prefer
        ));
    }
}
